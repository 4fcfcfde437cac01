"""Hostile input (class 2 of the safety checks): a full disk is a one-line error, never a crash.

On a full file system every command exits 2 with one line naming the file and the free
space, leaves the files a user already had byte-identical, leaves nothing that blocks
the same command once space is freed, and that command then ends with the bits of an
uninterrupted run.  The cases run on a small tmpfs (:func:`small_disk`, skipped where
mounting is not allowed) and, everywhere, with a monkeypatched free-space query or
byte writer that raises ``ENOSPC``.

``generate``'s cases are the functions named ``test_generate_*``.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import h5py
import numpy as np
import pytest
from _safety_helpers import assert_refused, cli, fill, small_disk, snapshot, unchanged

from isingvae import storage
from isingvae.errors import InputError
from isingvae.generation import GenerationPlan, generate
from isingvae.generation.tasks import SEGMENT_SPINS

ROOT = Path(__file__).resolve().parent.parent

#: L = 16 at two temperatures: about 0.47 MB of shards and a 0.1 MB file
GEN = ["--L", "16", "--temperatures", "3.0,3.5", "--samples", "800", "--seed", "1",
       "--algorithm", "metropolis", "--quiet"]


def _plan():
    return GenerationPlan(L=16, temperatures=(3.0, 3.5), samples=800, chains=64, seed=1,
                          algorithm="metropolis")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("full-disk-ref") / "ref.h5"
    generate(_plan(), path, progress=False)
    return path


def _same_bits(a, b):
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert set(fa) == set(fb)
        for key in fa:
            np.testing.assert_array_equal(fa[key][...], fb[key][...], err_msg=key)
        for key in ("complete", "tau_int_energy", "thinning_sweeps", "burn_in_sweeps"):
            np.testing.assert_array_equal(fa.attrs[key], fb.attrs[key], err_msg=key)


def _temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*.tmp"))


def _subprocess(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "isingvae", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300, **kw)


# --- on a real small file system -----------------------------------------------------


def test_generate_on_a_512k_disk_is_refused_up_front(tmp_path):
    with small_disk(tmp_path, "512k") as disk:
        notes = disk / "notes.txt"
        notes.write_text("mine\n")
        before = snapshot(disk)
        out = disk / "x.h5"
        res = _subprocess(["generate", *GEN, "--out", out])
        # one line, exit 2 (this was a segmentation fault, exit 139, in HDF5's assembly)
        assert_refused((res.returncode, res.stdout, res.stderr), "x.h5.parts", "free")
        assert unchanged(before)
        assert sorted(p.name for p in disk.iterdir()) == ["notes.txt"]


def test_generate_disk_full_at_assembly_then_resumes_to_the_same_bits(tmp_path, reference):
    with small_disk(tmp_path, "4m") as disk:
        out = disk / "x.h5"
        # room for the shards (and the 1 MB margin), not for the file made from them
        fill(disk, _plan().shard_bytes(SEGMENT_SPINS) + 2**20 + 8192)
        res = _subprocess(["generate", *GEN, "--out", out])
        assert_refused((res.returncode, res.stdout, res.stderr), str(out), "free")
        assert not _temporaries(disk)
        assert list((disk / "x.h5.parts").glob("task-*.npz"))  # the work is kept
        assert not storage.read_header(out).attrs["complete"]
        (disk / "ballast").unlink()
        res = _subprocess(["generate", *GEN, "--out", out])
        assert res.returncode == 0, res.stderr
        _same_bits(reference, out)
        assert sorted(p.name for p in disk.iterdir()) == ["x.h5"]


# --- the same, without root: a monkeypatched disk ------------------------------------

_Usage = namedtuple("_Usage", "total used free")


def test_generate_refused_when_shards_cannot_fit_monkeypatched(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: _Usage(2**30, 2**30 - 2**19, 2**19))
    keep = tmp_path / "keep.h5"
    keep.write_bytes(b"user data")
    before = snapshot(tmp_path)
    res = cli(["generate", *GEN, "--out", tmp_path / "x.h5"], capsys)
    assert_refused(res, "x.h5.parts", "0.5 MB are free")
    assert unchanged(before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.h5"]


def _enospc_when(monkeypatch, predicate):
    """Make atomic writes of temporaries that satisfy ``predicate`` fail for lack of
    space, the way a full disk makes ``write`` fail."""
    real_write_bytes = Path.write_bytes

    def write_bytes(self, data):
        if predicate(self):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_generate_disk_full_at_final_assembly_monkeypatched(tmp_path, monkeypatch, capsys,
                                                            reference):
    out = tmp_path / "x.h5"
    parts = tmp_path / "x.h5.parts"
    # the output's temporary file fails once shards exist: the final assembly
    _enospc_when(monkeypatch, lambda p: p.name.startswith(".x.h5.")
                 and any(parts.glob("task-*.npz")))
    res = cli(["generate", *GEN, "--out", out], capsys)
    assert_refused(res, str(out), "disk is full")
    assert not _temporaries(tmp_path)
    assert not storage.read_header(out).attrs["complete"]
    monkeypatch.undo()
    assert cli(["generate", *GEN, "--out", out], capsys)[0] == 0
    _same_bits(reference, out)


def test_generate_disk_full_while_writing_a_shard_monkeypatched(tmp_path, monkeypatch, capsys,
                                                                reference):
    out = tmp_path / "x.h5"
    real_savez = np.savez
    calls = []

    def savez(file, *args, **kw):  # the second shard meets a full disk
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_savez(file, *args, **kw)

    monkeypatch.setattr(np, "savez", savez)
    res = cli(["generate", *GEN, "--out", out], capsys)
    # the second shard written, whichever task it belongs to
    assert_refused(res, "x.h5.parts/task-t000", "-s000000.npz", "disk is full")
    assert not _temporaries(tmp_path)
    monkeypatch.undo()
    assert cli(["generate", *GEN, "--out", out], capsys)[0] == 0
    _same_bits(reference, out)


def test_write_ising_file_never_lets_hdf5_meet_the_disk(tmp_path, monkeypatch):
    # the file is built in memory; a disk without room for it refuses before writing
    path = tmp_path / "d.h5"
    storage.write_ising_file(path, L=4, J=1.0, h=0.0, seed=0, algorithm="metropolis",
                             spins=np.ones((2, 4, 4), np.int8), temperature=[1.0, 2.0],
                             energy=[-2.0, -2.0], magnetization=[1.0, 1.0], chain=[0, 1])
    before = snapshot(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: _Usage(2**30, 2**30, 0))
    with pytest.raises(InputError, match=r"d\.h5: it needs about"):
        storage.write_ising_file(path, L=4, J=1.0, h=0.0, seed=1, algorithm="metropolis",
                                 spins=-np.ones((2, 4, 4), np.int8), temperature=[1.0, 2.0],
                                 energy=[-2.0, -2.0], magnetization=[-1.0, -1.0],
                                 chain=[0, 1])
    assert unchanged(before) and sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


def test_write_ising_file_on_a_512k_disk_is_one_error(tmp_path):
    # a file larger than the disk (as `isingvae sample` writes): refused before HDF5 or
    # the disk is touched, in process, with nothing left behind
    with small_disk(tmp_path, "512k") as disk:
        rng = np.random.default_rng(1)
        n, L = 4000, 32
        spins = np.where(rng.random((n, L, L)) < 0.5, 1, -1).astype(np.int8)
        with pytest.raises(InputError, match=r"big\.h5") as info:
            storage.write_ising_file(disk / "big.h5", L=L, J=1.0, h=0.0, seed=0,
                                     algorithm="vae", spins=spins,
                                     temperature=np.full(n, np.nan), energy=np.zeros(n),
                                     magnetization=spins.mean(axis=(1, 2)),
                                     chain=np.arange(n))
        assert "\n" not in str(info.value)
        assert list(disk.iterdir()) == []


# ------------------------------------------------------------------ the learning side

def _isingvae(*argv, cwd=None):
    """The command in a child process: a crash there cannot take the test with it."""
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "isingvae", *map(str, argv)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=cwd)


def _one_line_exit_2(res, needle):
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = [x for x in res.stderr.splitlines() if x.startswith("isingvae ")]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr, \
        res.stderr[-2000:]


def test_train_sample_and_analyze_on_a_full_disk_fail_in_one_line(tmp_path, tiny_run):
    data, run = tiny_run
    with small_disk(tmp_path, "700k") as disk:
        res = _isingvae("train", data, "--out", disk / "run", "--epochs", 1, "--quiet",
                        "--filters", "16,32", "--units", "128")
        _one_line_exit_2(res, "free")
        fill(disk, 50_000)
        res = _isingvae("sample", run, "--n", 20000, "--out", disk / "s.h5")
        _one_line_exit_2(res, "s.h5")
        assert not (disk / "s.h5").exists()
        assert [p.name for p in disk.iterdir() if p.name != "ballast"] == ["run"]


def test_a_full_disk_is_one_line_without_root_too(tmp_path, tiny_run, capsys, monkeypatch):
    """The same refusals where no tmpfs can be mounted: the free space is made to look
    short, and a write is made to fail as a full disk does."""
    import errno

    from isingvae import _atomic

    _, run = tiny_run
    monkeypatch.setattr(_atomic, "free_bytes", lambda path: 1000)
    assert_refused(cli(["sample", run, "--n", 50, "--out", tmp_path / "s.h5"], capsys),
                   "s.h5", "free")
    assert not (tmp_path / "s.h5").exists()
    monkeypatch.undo()

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    copy = shutil.copytree(run, tmp_path / "run")
    monkeypatch.setattr(Path, "write_text", full)
    assert_refused(cli(["evaluate", copy, "--iw-samples", 2, "--quiet"], capsys),
                   "evaluation.json", "disk is full")
    assert not (copy / "evaluation.json").exists()
    assert not [p for p in copy.iterdir() if p.name.endswith(".tmp")]
