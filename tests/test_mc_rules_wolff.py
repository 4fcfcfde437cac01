"""Wolff cluster sampler: exactness, agreement with Metropolis, reproducibility."""

import numba
import numpy as np
import pytest
from _mc_helpers import check_against_enumeration, chi_square_em, run_series

from isingvae import exact
from isingvae.errors import InputError
from isingvae.mc import Metropolis, Wolff
from isingvae.mc import observables as obs
from isingvae.mc.autocorr import jackknife, mean_and_error
from isingvae.mc.rules import wolff

TC = exact.critical_temperature()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"L": 5}, "5"),
        ({"L": 2}, "2"),
        ({"temperatures": [0.0]}, "0.0"),
        ({"temperatures": [float("nan")]}, "nan"),
        ({"chains": 0}, "0"),
        ({"h": 0.1}, "0.1"),
        ({"J": -1.0}, "-1.0"),
        ({"clusters_per_sweep": 0}, "0"),
    ],
)
def test_bad_input_names_the_value(kwargs, fragment):
    args = {"L": 4, "temperatures": [2.0], "chains": 3, "seed": 0, **kwargs}
    with pytest.raises(InputError) as info:
        Wolff(**args)
    assert fragment in str(info.value)


def test_shapes_energy_and_calibration():
    sim = Wolff(L=6, temperatures=[1.5, 2.3, 5.0], chains=5, seed=1)
    assert (sim.clusters_per_sweep == 0).all()
    sim.sweep(3)
    k = sim.clusters_per_sweep
    assert (k >= 1).all() and k[0] <= k[1] <= k[2]  # clusters shrink as T grows
    s = sim.spins
    assert s.shape == (3, 5, 6, 6) and s.dtype == np.int8
    assert set(np.unique(s).tolist()) <= {-1, 1}
    e, m = sim.observables()
    np.testing.assert_allclose(e, obs.energy(s))
    np.testing.assert_allclose(m, obs.magnetization(s))


def test_identical_for_any_thread_count(monkeypatch):
    monkeypatch.setattr(wolff, "_SERIAL_SPINS", 0)  # small job, threads anyway
    threads = numba.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            numba.set_num_threads(n)
            sim = Wolff(L=8, temperatures=[2.0, 2.5], chains=7, seed=3)
            sim.sweep(6)
            results.append(sim.spins)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(results[0], results[1])
    other = Wolff(L=8, temperatures=[2.0, 2.5], chains=7, seed=4)
    other.sweep(6)
    assert (other.spins != results[0]).any()


def test_serial_and_threaded_observables_agree():
    from isingvae.mc.rules import _wolff_kernels as k

    spins = np.random.default_rng(0).choice(np.array([-1, 1], np.int8), size=(37, 100))
    for a, b in zip(k.energy_magnetization(spins, 10), k.energy_magnetization_serial(spins, 10),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    # and against the lattice module's definition (each bond once, periodic)
    from isingvae.lattice import energy, magnetization

    e, m = Wolff(L=6, temperatures=[2.2], chains=5, seed=1).observables()
    sim = Wolff(L=6, temperatures=[2.2], chains=5, seed=1)
    np.testing.assert_allclose(e[0], energy(sim.spins[0]))
    np.testing.assert_allclose(m[0], magnetization(sim.spins[0]))


def test_state_resumes_bit_identically():
    full = Wolff(L=8, temperatures=[2.2, 3.0], chains=4, seed=5)
    full.sweep(8)
    part = Wolff(L=8, temperatures=[2.2, 3.0], chains=4, seed=5)
    part.sweep(3)
    resumed = Wolff(L=8, temperatures=[2.2, 3.0], chains=4, seed=5)
    resumed.set_state(part.get_state())
    resumed.sweep(5)
    np.testing.assert_array_equal(full.spins, resumed.spins)
    assert (resumed.clusters_per_sweep == full.clusters_per_sweep).all()


def test_against_enumeration_L4():
    temps = [1.5, TC, 3.0]
    sim = Wolff(L=4, temperatures=temps, chains=64, seed=6)
    e, m = run_series(sim, 50, 1500)
    check_against_enumeration(e, m, 4, temps)


@pytest.mark.parametrize("T", [1.9, 2.6])
def test_stationary_distribution_chi_square(T):
    sim = Wolff(L=4, temperatures=[T], chains=1024, seed=7)
    sim.sweep(20)
    es, ms = [], []
    for _ in range(20):
        sim.sweep(4)
        e, m = sim.observables()
        es.append(e)
        ms.append(m)
    p = chi_square_em(np.array(es), np.array(ms), 4, T, fold=True)
    assert p > 1e-4, p


def test_against_kaufman_and_metropolis_L16():
    temps = [2.0, TC, 2.6]
    wolff = Wolff(L=16, temperatures=temps, chains=32, seed=8)
    ew, mw = run_series(wolff, 100, 1500)
    metro = Metropolis(L=16, temperatures=temps, chains=128, seed=8)
    _, mm = run_series(metro, 1000, 4000)
    for t, T in enumerate(temps):
        ref = exact.finite_lattice(16, T)
        val, err = mean_and_error(ew[:, t])
        assert abs(val - ref.energy) < 4 * err, (T, val, err, ref.energy)
        c, cerr = jackknife(lambda x, T=T: obs.specific_heat(x, T, 256), ew[:, t])
        assert abs(c - ref.specific_heat) < 4 * cerr, (T, c, cerr, ref.specific_heat)
        # |m| has no exact value at L = 16: compare the two algorithms
        a, da = mean_and_error(np.abs(mw[:, t]))
        b, db = mean_and_error(np.abs(mm[:, t]))
        assert abs(a - b) < 4 * np.hypot(da, db), (T, a, da, b, db)
