"""IsingDataset: columns read on first use, selection by temperature and chain, bad files."""

import subprocess
import sys

import h5py
import numpy as np
import pytest
from _data_helpers import (
    CHAINS,
    PER_CHAIN,
    TEMPS,
    L,
    random_spins,
    ref_energy,
    ref_m,
    write,
)

from isingvae import lattice
from isingvae.data import IsingDataset, to_bernoulli, to_spins
from isingvae.errors import InputError

# ---------------------------------------------------------------------------- columns


def test_columns_round_trip(ds, truth):
    path, cols = truth
    assert ds._store._spins is None and ds._store._meta is None   # nothing read yet
    assert ds.L == L and ds.n == len(ds) == len(cols["spins"]) == ds.header.n
    assert ds.header.path == path and ds.J == 1.0 and ds.h == 0.0
    assert ds.temperatures.tolist() == list(TEMPS)
    for name, dtype in [("spins", np.int8), ("temperature", np.float64),
                        ("energy", np.float64), ("magnetization", np.float64),
                        ("chain", np.int64)]:
        got = getattr(ds, name)
        assert got.dtype == dtype, name
        np.testing.assert_array_equal(got, cols[name], err_msg=name)
        assert not got.flags.writeable, name
    assert ds.spins.shape == (ds.n, L, L)
    np.testing.assert_array_equal(ds.index, np.arange(ds.n))
    assert ds.chains.size == len(TEMPS) * CHAINS
    arrays = ds.arrays(("spins", "abs_magnetization"))
    np.testing.assert_array_equal(arrays["abs_magnetization"], np.abs(cols["magnetization"]))
    assert "IsingDataset" in repr(ds) and f"n={ds.n}" in repr(ds)


def test_bernoulli_view_and_observables(ds):
    x = ds.x
    assert x.dtype == np.float32 and x.shape == (ds.n, L, L, 1)
    assert set(np.unique(x)) == {0.0, 1.0}
    np.testing.assert_array_equal(x[..., 0], (ds.spins + 1) / 2)
    np.testing.assert_array_equal(to_spins(x), ds.spins)
    np.testing.assert_array_equal(to_spins(to_bernoulli(ds.spins[0])), ds.spins[0])
    np.testing.assert_allclose(lattice.energy(ds.spins), ref_energy(ds.spins))
    np.testing.assert_allclose(lattice.energy(ds.spins, J=0.5, h=0.3),
                               ref_energy(ds.spins, J=0.5, h=0.3))
    np.testing.assert_allclose(lattice.magnetization(ds.spins), ref_m(ds.spins))


# ---------------------------------------------------------------------------- selection


def test_select_by_temperature(ds, truth):
    cols = truth[1]
    sub = ds.select(2.269)
    assert sub.n == CHAINS * PER_CHAIN
    assert np.all(sub.temperature == 2.269)
    np.testing.assert_array_equal(sub.index, np.flatnonzero(cols["temperature"] == 2.269))
    np.testing.assert_array_equal(sub.spins, cols["spins"][cols["temperature"] == 2.269])
    assert ds.select(2.269 * (1 + 1e-12)).n == sub.n          # tolerance
    both = ds.select([1.5, 3.0])
    assert both.temperatures.tolist() == [1.5, 3.0] and both.n == 2 * sub.n
    assert ds.select(t_min=2.0).temperatures.tolist() == [2.269, 3.0]
    assert ds.select(t_min=2.0, t_max=2.5).temperatures.tolist() == [2.269]
    assert ds.select().n == ds.n
    with pytest.raises(InputError, match=r"temperature 2\.27 is not in .*1\.5, 2\.269, 3"):
        ds.select(2.27)
    seen = [(t, part.n) for t, part in ds.by_temperature()]
    assert seen == [(t, CHAINS * PER_CHAIN) for t in TEMPS]


def test_select_by_chains(ds, truth):
    cols = truth[1]
    some = np.unique(cols["chain"])[[0, 5, 11]]
    sub = ds.select(chains=some)
    np.testing.assert_array_equal(sub.index, np.flatnonzero(np.isin(cols["chain"], some)))
    assert sub.n == 3 * PER_CHAIN and sub.chains.tolist() == sorted(some.tolist())
    np.testing.assert_array_equal(ds.select(chains=some.tolist()).index, sub.index)
    at = cols["temperature"][cols["chain"] == some[0]][0]
    hot = np.unique(cols["chain"][cols["temperature"] == at])
    assert ds.select(at, chains=some).chains.tolist() == np.intersect1d(hot, some).tolist()
    assert ds.select(chains=[]).n == 0
    with pytest.raises(InputError, match=r"1 chain id\(s\), such as 4, are not in"):
        ds.select(chains=[some[0], 4])
    with pytest.raises(InputError, match="not in"):       # present in the file, not the view
        ds.select(at).select(chains=some)
    with pytest.raises(InputError, match="list of integers"):
        ds.select(chains=[1.5])


# ---------------------------------------------------------------------------- bad files


def test_import_does_not_load_tensorflow():
    code = "import sys, isingvae.data; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_foreign_truncated_and_text_files(tmp_path, truth):
    import h5py

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["spins"] = np.ones((2, L, L), dtype=np.int8)
    truncated = tmp_path / "truncated.h5"
    whole = truth[0].read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    text = tmp_path / "notes.txt"
    text.write_text("T = 2.269\n")
    for path in (foreign, truncated, text, tmp_path / "missing.h5", tmp_path):
        with pytest.raises(InputError) as info:
            IsingDataset(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, message


def test_bad_values_are_input_errors(tmp_path):
    rng = np.random.default_rng(0)
    path = write(tmp_path / "zero.h5", random_spins(rng, 4), np.full(4, 2.0), np.arange(4))
    with h5py.File(path, "a") as f:  # the writer refuses such values: damage the file
        f["spins"][2, 1, 1] = 0
    ds = IsingDataset(path)
    assert ds.temperatures.tolist() == [2.0]
    with pytest.raises(InputError, match=r"row 2 holds values other than"):
        _ = ds.spins
    cold = write(tmp_path / "cold.h5", random_spins(rng, 2), np.array([2.0, -1.0]),
                 np.arange(2))
    with pytest.raises(InputError, match="finite and positive"):
        _ = IsingDataset(cold).temperature
