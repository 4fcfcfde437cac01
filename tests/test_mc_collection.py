"""Collecting configurations: layout, report, counts, resume, physics, and progress output."""


import numpy as np
import pytest

from isingvae import exact
from isingvae.errors import InputError
from isingvae.mc import Metropolis, Wolff, collect
from isingvae.mc.autocorr import mean_and_error


def test_collect_layout_report_and_counts():
    temps = [1.8, 3.0]
    sim = Metropolis(L=8, temperatures=temps, chains=10, seed=0)
    run = collect(sim, samples=25, batch_records=2)
    batches = list(run)
    b = type(batches[0]).concatenate(batches)
    assert b.spins.shape == (50, 8, 8) and b.spins.dtype == np.int8
    for t, T in enumerate(temps):
        rows = b.temperature == T
        assert rows.sum() == 25
        assert set(b.chain[rows].tolist()) <= set(range(10 * t, 10 * t + 10))
    np.testing.assert_allclose(b.energy, Metropolis_energy(b.spins))
    r = run.report
    assert r["burn_in"] >= 2 * 20 * max(r["tau"]) or not r["converged"]
    assert r["thin"] >= 2 * max(r["tau"])
    assert len(r["tau_energy"]) == len(r["tau_abs_magnetization"]) == 2
    assert r["sweeps"] == r["burn_in"] + r["records"] * r["thin"]
    # records of one chain are thin sweeps apart
    first_chain = b.sweep[b.chain == 0]
    assert (np.diff(first_chain) == r["thin"]).all()


def Metropolis_energy(spins):
    from isingvae.mc.observables import energy

    return energy(spins)


def test_collect_resumes_with_given_burn_in_and_thin():
    sim = Metropolis(L=4, temperatures=[2.5], chains=4, seed=1)
    run = collect(sim, samples=8, burn_in=0, thin=3)
    b = run.all()
    assert len(b.energy) == 8 and run.report["sweeps"] == 6
    with pytest.raises(InputError):
        collect(sim, samples=8, burn_in=5)
    with pytest.raises(InputError):
        collect(sim, samples=0)
    with pytest.raises(TypeError, match="burn_in_factor"):
        collect(sim, samples=8, burn_in_factor=10)


def test_collected_samples_match_exact_energy():
    temps = [2.0, 2.8]
    sim = Wolff(L=4, temperatures=temps, chains=32, seed=2)
    b = collect(sim, samples=3200).all()
    for T in temps:
        e = b.energy[b.temperature == T]
        val, err = mean_and_error(e, tau=1.0)  # thinned at >= 2 tau: nearly independent
        assert abs(val - exact.enumerate_lattice(4, T).energy) < 4 * err


def test_progress_does_not_change_collected_configurations(capsys):
    runs = []
    for progress in (False, True):
        sim = Metropolis(L=8, temperatures=[2.4], chains=8, seed=4)
        runs.append(collect(sim, samples=16, progress=progress).all())
    np.testing.assert_array_equal(runs[0].spins, runs[1].spins)
    assert "collect" in capsys.readouterr().err
