"""Hostile input (class 5 of the safety checks): damaged resume state is detected, discarded and
recomputed, and the resumed command ends with the bits of an uninterrupted run.

``generate``'s cases are the functions named ``test_generate_*``: a shard
(``FILE.h5.parts/task-*.npz``), a pilot result (``pilot-*.json``) or ``plan.json``
truncated, emptied, overwritten with garbage, bit-flipped or replaced by a well-formed
file of the wrong content, then the same command run again.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from _safety_helpers import cli, killed_before_final_assembly

from isingvae.generation import GenerationPlan, generate, tasks

PLAN = dict(L=8, temperatures=(2.0, 3.0), samples=60, chains=10, seed=11,
            algorithm="metropolis")
ARGS = ["generate", "--L", "8", "--temperatures", "2.0,3.0", "--samples", "60", "--chains",
        "10", "--seed", "11", "--algorithm", "metropolis", "--quiet"]
#: two sampling steps of 10 chains of 8 x 8 per shard: three shards per task
SEGMENT = 2 * 10 * 64


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume-ref") / "ref.h5"
    generate(GenerationPlan(**PLAN), path, progress=False)
    return path


def _interrupted(tmp_path, monkeypatch):
    """An unfinished run with all its work in shards: killed before the final assembly."""
    out = tmp_path / "x.h5"
    with killed_before_final_assembly(monkeypatch), pytest.raises(KeyboardInterrupt):
        generate(GenerationPlan(**PLAN), out, progress=False, segment_spins=SEGMENT)
    parts = tmp_path / "x.h5.parts"
    assert len(list(parts.glob("task-t0000-b0000-s*.npz"))) == 3
    return out, parts


def _same_bits(a, b):
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert set(fa) == set(fb)
        for key in fa:
            np.testing.assert_array_equal(fa[key][...], fb[key][...], err_msg=key)
        for key in ("complete", "tau_int_energy", "tau_int_abs_magnetization",
                    "thinning_sweeps", "burn_in_sweeps", "pilot_sweeps"):
            np.testing.assert_array_equal(fa.attrs[key], fb.attrs[key], err_msg=key)


def _truncate(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _empty(p):
    p.write_bytes(b"")


def _garbage(p):
    p.write_bytes(np.random.default_rng(0).bytes(p.stat().st_size))


def _flip(p):
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def _foreign_npz(p):
    with open(p, "wb") as fh:
        np.savez(fh, spins=np.zeros((2, 3), np.int8))


def _other_shard(p):
    # a whole, well-formed shard of the same task, but not the one that belongs here
    p.write_bytes(p.with_name(p.name.replace("-s000001", "-s000000")).read_bytes())


DAMAGE = {"truncated": _truncate, "empty": _empty, "garbage": _garbage,
          "bit-flip": _flip, "foreign-npz": _foreign_npz, "out-of-place": _other_shard}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_generate_resumes_over_a_damaged_shard(damage, tmp_path, monkeypatch, capsys,
                                               reference):
    out, parts = _interrupted(tmp_path, monkeypatch)
    DAMAGE[damage](parts / "task-t0001-b0000-s000001.npz")
    code, _, err = cli([*ARGS, "--out", out], capsys)  # was: BadZipFile
    assert code == 0, err
    _same_bits(reference, out)
    assert not parts.exists()


def test_generate_discards_a_damaged_shard_and_the_rest_of_its_task(tmp_path, monkeypatch):
    _, parts = _interrupted(tmp_path, monkeypatch)
    _truncate(parts / "task-t0000-b0000-s000001.npz")
    plan = GenerationPlan(**PLAN)
    info = json.loads((parts / "pilot-t0000.json").read_text())
    kept, step = tasks.valid_shards(plan, 0, 0, info, parts)
    assert [p.name for p in kept] == ["task-t0000-b0000-s000000.npz"] and step == 2
    assert sorted(p.name for p in parts.glob("task-t0000-*")) == ["task-t0000-b0000-s000000.npz"]
    assert len(list(parts.glob("task-t0001-*"))) == 3  # other tasks are left alone


PILOT_DAMAGE = {
    "truncated": lambda p: _truncate(p),
    "not-json": lambda p: p.write_text("{'algorithm': metropolis"),
    "a-list": lambda p: p.write_text("[1, 2, 3]\n"),
    "missing-key": lambda p: p.write_text(json.dumps(
        {k: v for k, v in json.loads(p.read_text()).items() if k != "thin"})),
    "bad-value": lambda p: p.write_text(json.dumps(
        {**json.loads(p.read_text()), "thin": -3})),
    "other-algorithm": lambda p: p.write_text(json.dumps(
        {**json.loads(p.read_text()), "algorithm": "wolff"})),
    # chains the rule would not give for this result: the shards cannot be placed
    "other-chains": lambda p: p.write_text(json.dumps(
        {**json.loads(p.read_text()), "chains": 64})),
    "bad-work": lambda p: p.write_text(json.dumps(
        {**json.loads(p.read_text()), "work": 0})),
}


@pytest.mark.parametrize("damage", list(PILOT_DAMAGE))
def test_generate_resumes_over_a_damaged_pilot_result(damage, tmp_path, monkeypatch, capsys,
                                                      reference):
    out, parts = _interrupted(tmp_path, monkeypatch)
    PILOT_DAMAGE[damage](parts / "pilot-t0000.json")
    plan = GenerationPlan(**PLAN)
    assert tasks.check_parts(plan, parts) == 60  # temperature 0 is discarded whole
    assert not list(parts.glob("task-t0000-*")) and not (parts / "pilot-t0000.json").exists()
    code, _, err = cli([*ARGS, "--out", out], capsys)
    assert code == 0, err
    _same_bits(reference, out)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "not-an-object",
                                    "missing"])
def test_generate_resumes_over_a_damaged_plan_json(damage, tmp_path, monkeypatch, capsys,
                                                   reference):
    out, parts = _interrupted(tmp_path, monkeypatch)
    plan_json = parts / "plan.json"
    if damage == "truncated":
        _truncate(plan_json)
    elif damage == "garbage":
        _garbage(plan_json)
    elif damage == "empty":
        _empty(plan_json)
    elif damage == "not-an-object":
        plan_json.write_text('"fingerprint"\n')
    else:
        plan_json.unlink()
    code, _, err = cli([*ARGS, "--out", out], capsys)
    assert code == 0, err
    _same_bits(reference, out)


def test_generate_resumes_over_leftover_temporaries(tmp_path, monkeypatch, capsys, reference):
    # a writer killed mid-write leaves a temporary beside its target; it is removed
    out, parts = _interrupted(tmp_path, monkeypatch)
    (parts / ".task-t0000-b0000-s000003.npz.k1ll3d00.tmp").write_bytes(b"PK\x03\x04torn")
    (tmp_path / ".x.h5.abcd1234.tmp").write_bytes(b"\x89HDF torn")
    code, _, err = cli([*ARGS, "--out", out], capsys)
    assert code == 0, err
    _same_bits(reference, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5"]
