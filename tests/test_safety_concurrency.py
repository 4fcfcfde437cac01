"""Hostile input (class 7 of the safety checks): concurrent writers never corrupt an output.

A writer holds an exclusive lock on its output (:mod:`isingvae._locks`) for its whole
run; a second one is refused in one line naming the holder's process id.  A ``complete``
flag is never trusted alone: a file's row count must match its recorded plan before it
is called complete, before ``generate`` says there is nothing to do, and whenever a
reader opens it.

``generate``'s cases are the functions named ``test_generate_*``; the reader's are
``test_storage_*``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
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
from isingvae.errors import InputError
from isingvae.generation import GenerationPlan, driver, generate

ROOT = Path(__file__).resolve().parent.parent

SMALL = dict(L=8, temperatures=(2.0, 3.0), samples=60, chains=10, seed=4,
             algorithm="metropolis")
SMALL_ARGS = ["generate", "--L", "8", "--temperatures", "2.0,3.0", "--samples", "60",
              "--chains", "10", "--seed", "4", "--algorithm", "metropolis", "--quiet"]


def _same_bits(a, b):
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert set(fa) == set(fb)
        for key in fa:
            np.testing.assert_array_equal(fa[key][...], fb[key][...], err_msg=key)


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("concurrency-ref") / "ref.h5"
    generate(GenerationPlan(**SMALL), path, progress=False)
    return path


HOLD = """
import sys, time
from isingvae._locks import exclusive
with exclusive(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@contextlib.contextmanager
def _held_by_another_process(out: Path):
    """The write lock of ``out`` held by another process, as a running generate (or
    sample) holds it; yields that process's id."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_generate_refuses_a_second_writer_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "x.h5"
    with _held_by_another_process(out) as pid:
        res = cli([*SMALL_ARGS, "--out", out], capsys)
    assert_refused(res, str(out), "another isingvae process", f"pid {pid}")
    assert not out.exists() and not (tmp_path / "x.h5.parts").exists()


def test_generate_second_writer_leaves_an_unfinished_run_alone(tmp_path, capsys,
                                                               monkeypatch):
    out = tmp_path / "x.h5"
    with killed_before_final_assembly(monkeypatch), pytest.raises(KeyboardInterrupt):
        generate(GenerationPlan(**SMALL), out, progress=False)
    before = snapshot(tmp_path)
    with _held_by_another_process(out):
        res = cli([*SMALL_ARGS, "--out", out], capsys)
        assert_refused(res, "another isingvae process")
        assert unchanged(before)
    # the killed holder's lock is gone with it: the same command now resumes
    assert cli([*SMALL_ARGS, "--out", out], capsys)[0] == 0
    assert storage.read_header(out).attrs["complete"]


def _short_complete_file(src: Path, dst: Path, keep: int) -> None:
    """``src`` rewritten with only its first ``keep`` rows but still flagged complete:
    what the race of two writers used to leave."""
    with h5py.File(src) as f:
        cols = {k: f[k][:keep] for k in f}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    root = {k: attrs.pop(k) for k in ("L", "J", "h", "seed", "algorithm")}
    for k in ("format", "format_version", "package_version"):
        attrs.pop(k)
    storage.write_ising_file(dst, **root, spins=cols.pop("spins"),
                             temperature=cols.pop("temperature"), energy=cols.pop("energy"),
                             magnetization=cols.pop("magnetization"), chain=cols.pop("chain"),
                             attrs=attrs, extra=cols)


def test_storage_reader_refuses_a_complete_flag_with_missing_rows(tmp_path, small_reference):
    short = tmp_path / "short.h5"
    _short_complete_file(small_reference, short, keep=40)
    with pytest.raises(InputError) as info:
        storage.read_header(short)
    message = str(info.value)
    assert "\n" not in message and "40" in message and "120" in message and str(short) in message
    with pytest.raises(InputError, match="40 rows where its plan has 120"):
        storage.open_ising_file(short)
    # what generate needs to decide that the file is to be redone
    assert storage.read_header(short, check_rows=False).n == 40


def test_generate_redoes_a_complete_flagged_file_with_missing_rows(tmp_path, capsys,
                                                                   small_reference):
    out = tmp_path / "x.h5"
    _short_complete_file(small_reference, out, keep=40)
    code, stdout, err = cli([*SMALL_ARGS, "--out", out], capsys)
    assert code == 0, err
    assert "already complete" not in stdout and "wrote" in stdout
    _same_bits(small_reference, out)
    code, stdout, _ = cli([*SMALL_ARGS, "--out", out], capsys)
    assert code == 0 and "already complete" in stdout


def test_generate_never_flags_complete_with_missing_rows(tmp_path, monkeypatch):
    # shards that vanish during the run (as when another writer removed them) end the
    # run with a one-line error; the file on disk is never flagged complete
    out = tmp_path / "x.h5"
    real = driver.task_rows

    def task_rows(plan, t, b, info, parts):
        return iter(()) if t == 1 else real(plan, t, b, info, parts)

    monkeypatch.setattr(driver, "task_rows", task_rows)
    with pytest.raises(InputError, match="holds 60 of the 120 rows"):
        generate(GenerationPlan(**SMALL), out, progress=False, assemble_every=0.0)
    with h5py.File(out) as f:
        assert not f.attrs["complete"]


# --- the reported race: two identical commands, the second 0.1 to 2 s later ----------

RACE = ["generate", "--L", "16", "--t-min", "1.5", "--t-max", "3.5", "--t-count", "5",
        "--samples", "8192", "--seed", "7", "--quiet"]


@pytest.fixture(scope="module")
def race_reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("race-ref") / "ref.h5"
    plan = GenerationPlan(L=16, temperatures=tuple(np.linspace(1.5, 3.5, 5)), samples=8192,
                          chains=64, seed=7)
    generate(plan, path, progress=False)
    return path


def _start(out):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "isingvae", *RACE, "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _race(tmp_path, delay, race_reference):
    out = tmp_path / f"race-{delay}.h5"
    first = _start(out)
    time.sleep(delay)
    second = _start(out)
    results = [(p.wait(timeout=300), *p.communicate()) for p in (first, second)]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for code, _, err in results:
        if code == 2:  # refused by the lock, in one line naming the holder
            assert_refused((code, "", err), "another isingvae process", "pid")
    # never a file flagged complete with missing rows: the reader checks the count
    header = storage.read_header(out)
    assert header.attrs["complete"] and header.n == 5 * 8192
    _same_bits(race_reference, out)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(out.name)
                  or p.name.startswith("." + out.name)) == [out.name]


@pytest.mark.parametrize("delay", [0.1, 0.8])
def test_generate_two_identical_commands_race(tmp_path, delay, race_reference):
    _race(tmp_path, delay, race_reference)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.3, 1.6, 2.0])
def test_generate_two_identical_commands_race_many_delays(tmp_path, delay, race_reference):
    for _ in range(3):
        _race(tmp_path, delay, race_reference)
        for p in tmp_path.iterdir():
            p.unlink()


# ------------------------------------------------------------------ the learning side

_HOLD = """
import sys, time
from isingvae._locks import exclusive
with exclusive(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder():
    """Start a process that holds the write lock of a path; kill it at the end."""
    import subprocess
    import sys

    procs = []

    def hold(path):
        p = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE,
                             text=True)
        assert p.stdout.readline().strip() == "held"
        procs.append(p)
        return p

    yield hold
    for p in procs:
        release(p)


def release(p):
    p.kill()
    p.wait()
    p.stdout.close()


def test_a_second_writer_is_refused_naming_the_first(tmp_path, tiny_run, capsys, holder):
    data, run = tiny_run
    copy = shutil.copytree(run, tmp_path / "run")
    cases = [
        (copy, ["evaluate", copy, "--iw-samples", 2, "--quiet"]),
        (tmp_path / "new", ["train", data, "--out", tmp_path / "new", "--epochs", 1,
                            "--quiet"]),
        (tmp_path / "s.h5", ["sample", copy, "--n", 5, "--out", tmp_path / "s.h5"]),
        (tmp_path / "report", ["analyze", copy, "--data", data, "--out", tmp_path / "report",
                               "--samples", 0]),
        (tmp_path / "job", ["run", "--quick", "--quiet", "--out", tmp_path / "job"]),
    ]
    before = snapshot(copy)
    for target, argv in cases:
        p = holder(target)
        assert_refused(cli(argv, capsys), str(target), f"pid {p.pid}")
        release(p)
    assert unchanged(before)
    assert not (tmp_path / "new").exists() and not (tmp_path / "s.h5").exists()
    # a killed holder leaves no lock behind that blocks the next writer
    assert cli(["sample", copy, "--n", 5, "--out", tmp_path / "s.h5"], capsys)[0] == 0
