"""Hostile input (class 3 of the safety checks): values beyond what the machine or the libraries can
hold are refused up front, in one line that names the value and the limit.

Sizes are checked against a memory estimate of the work (half of the machine's physical
memory is the limit), seeds against 0 .. 2^63 - 1, HDF5 chunks stay far below HDF5's
4 GiB chunk limit, and nothing at all is written when a value is refused.

``generate``'s cases are the functions named ``test_generate_*``; the storage layer's
are ``test_storage_*``.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from _safety_helpers import assert_refused, cli, snapshot, unchanged

from isingvae import _validate, storage
from isingvae.errors import InputError
from isingvae.generation import GenerationPlan
from isingvae.generation.plan import MAX_TEMPERATURES
from isingvae.storage.writer import CHUNK_BYTES, CHUNK_CONFIGS, spins_chunk

MANY_TEMPERATURES = ",".join(f"{1 + 1e-4 * i:.4f}" for i in range(MAX_TEMPERATURES + 1))


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--L", "1000000"], ["L = 1000000", "half its memory"]),
        (["--L", "100000", "--samples", "1"], ["L = 100000", "half its memory"]),
        (["--samples", str(10**30)], [str(10**30), "half its memory"]),
        (["--samples", str(10**30), "--chains", str(10**30)], [str(10**30), "half its memory"]),
        (["--seed", str(2**63)], ["--seed", "2^63 - 1", str(2**63)]),
        (["--seed", str(2**64 + 5)], ["--seed", "2^63 - 1"]),
        (["--seed", "-1"], ["--seed", "-1"]),
    ],
    ids=["L-1e6", "L-1e5-one-sample", "samples-1e30", "chains-1e30", "seed-2^63",
         "seed-2^64", "seed-negative"],
)
def test_generate_refuses_values_beyond_the_limits(args, needles, tmp_path, capsys):
    argv = ["generate", "--temperatures", "2.0", "--out", tmp_path / "x.h5", "--quiet", *args]
    assert_refused(cli(argv, capsys), *needles)
    assert list(tmp_path.iterdir()) == []  # no file, no .parts/plan.json, no lock


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--t-min", "1", "--t-max", "3", "--t-count", str(10**12)],
         ["--t-count", str(MAX_TEMPERATURES), str(10**12)]),
        (["--t-min", "1", "--t-max", "3", "--t-count", str(MAX_TEMPERATURES + 1)],
         ["--t-count", str(MAX_TEMPERATURES)]),
        (["--temperatures", MANY_TEMPERATURES], [f"at most {MAX_TEMPERATURES}", "64 kB"]),
    ],
    ids=["t-count-1e12", "t-count-just-over", "listed-temperatures"],
)
def test_generate_refuses_too_many_temperatures(args, needles, tmp_path, capsys):
    # --t-count is checked before numpy allocates the grid (a 10^12 grid was an
    # ArrayMemoryError); HDF5 keeps each per-temperature attribute in at most 64 kB
    argv = ["generate", "--out", tmp_path / "x.h5", "--quiet", *args]
    assert_refused(cli(argv, capsys), *needles)
    assert list(tmp_path.iterdir()) == []


def test_generate_memory_estimate_against_a_small_machine(tmp_path, capsys, monkeypatch):
    # the same check on a machine of 64 MB: L = 64, 2 x 10^4 rows need ~83 MB at assembly
    monkeypatch.setattr(_validate, "physical_memory", lambda: 64 * 2**20)
    argv = ["generate", "--L", "64", "--temperatures", "2,3", "--samples", "10000",
            "--out", tmp_path / "x.h5", "--quiet"]
    assert_refused(cli(argv, capsys), "L = 64 with 10000 samples at 2 temperature(s)",
                   "0.0312 GiB (half its memory)")
    assert list(tmp_path.iterdir()) == []


def test_generate_plan_memory_estimate_counts_rows_and_a_task():
    plan = GenerationPlan(L=16, temperatures=(2.0, 3.0), samples=1000, chains=64, seed=0)
    assert plan.memory_bytes() == max(2000 * (256 + 40), 4 * 64 * 256 + 32 * 2**20)
    big = GenerationPlan(L=64, temperatures=(2.0, 3.0), samples=10**5, chains=64,
                         seed=0)
    assert big.memory_bytes() == 2 * 10**5 * (64 * 64 + 40)


def test_generate_largest_seed_is_accepted_and_stored():
    plan = GenerationPlan(L=8, temperatures=(2.0,), samples=4, chains=4, seed=2**63 - 1)
    assert 0 <= plan.seed_for(2, 0, 0) < 2**63
    with pytest.raises(InputError, match="2\\^63 - 1"):
        GenerationPlan(L=8, temperatures=(2.0,), samples=4, chains=4, seed=2**63)


def test_storage_largest_seed_round_trips(tmp_path):
    path = storage.write_ising_file(
        tmp_path / "d.h5", L=4, J=1.0, h=0.0, seed=2**63 - 1, algorithm="metropolis",
        spins=np.ones((1, 4, 4), np.int8), temperature=[1.0], energy=[-2.0],
        magnetization=[1.0], chain=[0])
    assert storage.read_header(path).seed == 2**63 - 1


@pytest.mark.parametrize("L", [4, 16, 40, 128, 256, 1024, 2048, 4096, 2**16])
def test_storage_spins_chunks_stay_below_the_hdf5_limit(L):
    chunk = spins_chunk(10**6, L)
    assert np.prod(chunk, dtype=np.int64) <= CHUNK_BYTES < 4 * 2**30
    if L <= 128:  # unchanged where files are made today: the example data keep their bits
        assert chunk == (CHUNK_CONFIGS, L, L)


def test_storage_large_configurations_round_trip_in_bands(tmp_path):
    # one configuration larger than a chunk is stored as bands of rows, values unchanged
    L = 4096
    spins = np.where(np.random.default_rng(0).random((1, L, L)) < 0.5, 1, -1).astype(np.int8)
    path = storage.write_ising_file(tmp_path / "big.h5", L=L, J=1.0, h=0.0, seed=0,
                                    algorithm="metropolis", spins=spins, temperature=[3.0],
                                    energy=[0.0], magnetization=[float(spins.mean())],
                                    chain=[0])
    with h5py.File(path) as f:
        assert f["spins"].chunks == (1, 1024, L)
        np.testing.assert_array_equal(f["spins"][...], spins)


def test_storage_example_data_chunks_are_what_the_writer_makes():
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "data" / "ising_L16.h5"
    with h5py.File(example) as f:
        assert f["spins"].chunks == spins_chunk(f["spins"].shape[0], 16)


# ------------------------------------------------------------------ the learning side

HUGE = 10**30


@pytest.mark.parametrize("argv, needle", [
    (["sample", "{run}", "--n", 10**13, "--out", "{tmp}/s.h5"], "--n 10000000000000"),
    (["sample", "{run}", "--n", 5, "--seed", 2**64, "--out", "{tmp}/s.h5"], "seed"),
    (["evaluate", "{run}", "--iw-samples", 2**21], "--iw-samples"),
    (["evaluate", "{run}", "--seed", 2**63], "seed"),
    (["analyze", "{run}", "--data", "{data}", "--samples", 10**13, "--out", "{tmp}/r"],
     "--samples"),
    (["analyze", "{run}", "--data", "{data}", "--bootstrap", HUGE, "--out", "{tmp}/r"],
     "--bootstrap"),
    (["train", "{data}", "--out", "{tmp}/t", "--latent-dim", 10**9], "--latent-dim"),
    (["train", "{data}", "--out", "{tmp}/t", "--epochs", 10**12], "--epochs"),
    (["train", "{data}", "--out", "{tmp}/t", "--kl-warmup", 10**12], "--kl-warmup"),
    (["train", "{data}", "--out", "{tmp}/t", "--seed", 2**64], "--seed"),
    (["train", "{data}", "--out", "{tmp}/t", "--batch-size", HUGE], "--batch-size"),
    (["train", "{data}", "--out", "{tmp}/t", "--filters", "60000,60000"], "memory"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_values_beyond_what_the_machine_holds_are_refused_up_front(tmp_path, tiny_run, capsys,
                                                                   argv, needle):
    data, run = tiny_run
    names = {"{run}": str(run), "{data}": str(data), "{tmp}": str(tmp_path)}
    for key, value in names.items():
        argv = [a.replace(key, value) if isinstance(a, str) else a for a in argv]
    before = snapshot(run, data)
    assert_refused(cli(argv, capsys), needle)
    assert unchanged(before)
    assert not [p for p in tmp_path.iterdir()]          # nothing written
