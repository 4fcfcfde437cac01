"""Hostile input (class 8 of the safety checks): a failed command leaves nothing that blocks the
next one, and every message names the real problem and a fix that exists.

``generate``'s cases are the functions named ``test_generate_*``.  Only an unfinished
run with work to lose (a shard or a pilot result) is protected from a run with other
settings, and then the message says ``--force``; a ``.parts/`` folder without work, an
empty unfinished output of ours, stale temporary files and lock files never are.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from _safety_helpers import (
    assert_refused,
    cli,
    killed_before_final_assembly,
    snapshot,
    unchanged,
)

from isingvae import storage
from isingvae.generation import GenerationPlan, generate

ARGS = ["generate", "--L", "8", "--temperatures", "2.5", "--samples", "16", "--seed", "1",
        "--algorithm", "metropolis", "--quiet"]
OTHER = dict(L=8, temperatures=(3.0,), samples=8, chains=8, seed=2, algorithm="metropolis")


def test_generate_unreachable_scheduler_leaves_nothing(tmp_path, capsys):
    # was: exit 2 after 20 s, with an empty output file and a .parts folder left behind
    res = cli([*ARGS, "--out", tmp_path / "x.h5", "--scheduler", "tcp://127.0.0.1:9"], capsys)
    assert_refused(res, "scheduler")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--L", "1000000"], ["--samples", str(10**30)],
                                  ["--seed", str(2**64)], ["--L", "7"],
                                  ["--temperatures", "-1"], ["--chains", "17"]])
def test_generate_refused_value_leaves_nothing(args, tmp_path, capsys):
    # was: --L 1000000 and --samples 10^30 left .parts/plan.json, which blocked the next
    # run with other settings
    assert_refused(cli([*ARGS, "--out", tmp_path / "x.h5", *args], capsys))
    assert list(tmp_path.iterdir()) == []
    assert cli([*ARGS, "--out", tmp_path / "x.h5"], capsys)[0] == 0


def _empty_output_of_other_settings(out: Path) -> None:
    """What a run of other settings killed before its first result leaves as output."""
    storage.write_ising_file(out, L=8, J=1.0, h=0.0, seed=2, algorithm="metropolis",
                             spins=np.empty((0, 8, 8), np.int8), temperature=[], energy=[],
                             magnetization=[], chain=[],
                             attrs={"complete": False, "samples_per_temperature": 8,
                                    "temperatures": [3.0],
                                    "generation": GenerationPlan(**OTHER).fingerprint()})


def _plan_json(parts: Path, plan: GenerationPlan) -> None:
    parts.mkdir()
    (parts / "plan.json").write_text(json.dumps({"fingerprint": plan.fingerprint()}))


@pytest.mark.parametrize("leftover", ["empty-parts", "plan-json-only", "plan-json-and-temporary",
                                      "empty-unfinished-output"])
def test_generate_parts_without_work_never_block_other_settings(leftover, tmp_path, capsys):
    out, parts = tmp_path / "x.h5", tmp_path / "x.h5.parts"
    if leftover == "empty-parts":
        parts.mkdir()
    else:
        _plan_json(parts, GenerationPlan(**OTHER))
    if leftover == "plan-json-and-temporary":
        (parts / ".task-t0000-b0000-s000000.npz.abcdefgh.tmp").write_bytes(b"torn")
    if leftover == "empty-unfinished-output":
        _empty_output_of_other_settings(out)
    code, _, err = cli([*ARGS, "--out", out], capsys)
    assert code == 0, err
    assert storage.read_header(out).attrs["complete"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5"]


def _unfinished_other_run(out: Path, monkeypatch) -> None:
    """An unfinished run of other settings with work in it (pilot and shards)."""
    with killed_before_final_assembly(monkeypatch), pytest.raises(KeyboardInterrupt):
        generate(GenerationPlan(**OTHER), out, progress=False)


def test_generate_unfinished_run_with_work_is_protected(tmp_path, capsys, monkeypatch):
    out = tmp_path / "x.h5"
    _unfinished_other_run(out, monkeypatch)
    before = snapshot(tmp_path)
    assert_refused(cli([*ARGS, "--out", out], capsys), "other settings", "--force")
    assert unchanged(before) and set(snapshot(tmp_path)) == set(before)
    assert cli([*ARGS, "--out", out, "--force"], capsys)[0] == 0
    assert storage.read_header(out).seed == 1


def test_generate_unfinished_parts_with_only_a_pilot_are_protected(tmp_path, capsys):
    out, parts = tmp_path / "x.h5", tmp_path / "x.h5.parts"
    _plan_json(parts, GenerationPlan(**OTHER))
    (parts / "pilot-t0000.json").write_text('{"algorithm": "metropolis"}\n')
    before = snapshot(tmp_path)
    assert_refused(cli([*ARGS, "--out", out], capsys), str(parts), "--force")
    assert unchanged(before)


def test_generate_failing_before_any_work_leaves_nothing(tmp_path, capsys, monkeypatch):
    # the disk fills up as the first result (a pilot) is written: exit 2, one line, and
    # neither an empty output file nor a .parts folder is left in the way
    real = Path.write_text

    def write_text(self, data, *a, **kw):
        if self.name.startswith(".pilot-"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, data, *a, **kw)

    monkeypatch.setattr(Path, "write_text", write_text)
    assert_refused(cli([*ARGS, "--out", tmp_path / "x.h5"], capsys), "pilot-t0000.json",
                   "disk is full")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    assert cli([*ARGS, "--temperatures", "3.0", "--out", tmp_path / "x.h5"], capsys)[0] == 0


def test_generate_interrupted_before_any_work_leaves_nothing(tmp_path, capsys, monkeypatch):
    from isingvae.generation import tasks

    def interrupted(*_a, **_kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(tasks, "pilot", interrupted)
    code, _, err = cli([*ARGS, "--out", tmp_path / "x.h5"], capsys)
    assert code == 130 and "interrupted" in err
    assert list(tmp_path.iterdir()) == []


def test_generate_lock_file_never_outlives_the_command(tmp_path, capsys):
    out = tmp_path / "x.h5"
    assert cli([*ARGS, "--out", out], capsys)[0] == 0
    assert_refused(cli([*ARGS, "--seed", "5", "--out", out], capsys), "--force")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5"]


@pytest.mark.parametrize("before", ["empty-unfinished-of-other-settings",
                                    "complete-of-other-settings-forced"])
def test_generate_a_replaced_output_resumes_without_force(before, tmp_path, capsys,
                                                          monkeypatch):
    # once a run has replaced an output (one that lost nothing, or under --force), the
    # output is this run's: stopped half-way, the same command resumes it, no --force

    out = tmp_path / "x.h5"
    force = []
    if before == "empty-unfinished-of-other-settings":
        _empty_output_of_other_settings(out)
    else:
        generate(GenerationPlan(**OTHER), out, progress=False)
        force = ["--force"]
    with killed_before_final_assembly(monkeypatch):
        assert cli([*ARGS, "--out", out, *force], capsys)[0] == 130
    assert storage.read_header(out).seed == 1  # already this run's, unfinished
    assert cli([*ARGS, "--out", out], capsys)[0] == 0
    header = storage.read_header(out)
    assert header.seed == 1 and header.attrs["complete"] and header.n == 16


# ------------------------------------------------------------------ the learning side


def test_messages_name_the_real_problem_and_a_fix_that_exists(tmp_path, tiny_run, capsys):
    _, run = tiny_run
    # a truncated model is not "File not found"
    copy = shutil.copytree(run, tmp_path / "run")
    (copy / "model.keras").write_bytes((run / "model.keras").read_bytes()[:3000])
    code, _, err = cli(["sample", copy, "--n", 5, "--out", tmp_path / "s.h5"], capsys)
    assert_refused((code, "", err), "truncated or damaged", "isingvae train")
    assert "not found" not in err.lower()
    # a file with no rows is said to have none (not "an empty train split")
    import numpy as np

    from isingvae.storage import write_ising_file

    empty = write_ising_file(tmp_path / "empty.h5", L=4, J=1.0, h=0.0, seed=0,
                             algorithm="metropolis", spins=np.zeros((0, 4, 4), np.int8),
                             temperature=np.zeros(0), energy=np.zeros(0),
                             magnetization=np.zeros(0), chain=np.zeros(0, np.int64))
    assert_refused(cli(["evaluate", run, "--data", empty], capsys), "holds no configurations")
    # run's messages suggest --force, and run has it
    job = tmp_path / "job"
    job.mkdir()
    (job / "x.txt").write_text("x")
    code, _, err = cli(["run", "--quick", "--out", job], capsys)
    assert_refused((code, "", err), "--force")
    with pytest.raises(SystemExit):
        cli(["run", "--help"], capsys)
    assert "--force" in capsys.readouterr().out


def test_a_failed_command_leaves_nothing_that_blocks_the_next(tmp_path, tiny_run, capsys):
    data, run = tiny_run
    # an analysis interrupted before its report was written leaves a folder that the same
    # analysis takes over without --force
    argv = ["analyze", run, "--data", data, "--out", tmp_path / "report", "--samples", 0,
            "--bootstrap", 5, "--quiet"]
    assert cli(argv, capsys)[0] == 0
    (tmp_path / "report" / "report.json").unlink()          # as if killed before the end
    assert cli(argv, capsys)[0] == 0
    assert (tmp_path / "report" / "report.json").exists()
    # a refused train leaves no run directory behind
    assert_refused(cli(["train", data, "--out", tmp_path / "t", "--epochs", 0], capsys),
                   "--epochs")
    assert not (tmp_path / "t").exists()
