"""Thermalization, thinning, collection, algorithm choice and progress."""

import io

import numpy as np
import pytest

from isingvae import exact
from isingvae.errors import InputError
from isingvae.mc import Metropolis, Mixture, Wolff, choose_algorithm, collect, make_sampler
from isingvae.mc.autocorr import mean_and_error
from isingvae.progress import Progress


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


def test_collected_samples_match_exact_energy():
    temps = [2.0, 2.8]
    sim = Wolff(L=4, temperatures=temps, chains=32, seed=2)
    b = collect(sim, samples=3200).all()
    for T in temps:
        e = b.energy[b.temperature == T]
        val, err = mean_and_error(e, tau=1.0)  # thinned at >= 2 tau: nearly independent
        assert abs(val - exact.enumerate_lattice(4, T).energy) < 4 * err


def test_choose_algorithm_and_make_sampler():
    picks = choose_algorithm(L=16, temperatures=[1.0, 2.269], seconds=0.1)
    assert set(picks) <= {"metropolis", "wolff"} and len(picks) == 2
    assert choose_algorithm(L=8, temperatures=[2.0], h=0.5) == ["metropolis"]
    sim = make_sampler("auto", L=8, temperatures=[1.5, 2.269, 4.0], chains=3, seed=0)
    sim.sweep(2)
    assert sim.spins.shape == (3, 3, 8, 8)
    assert sim.energy.shape == (3, 3)
    np.testing.assert_allclose(sim.temperatures, [1.5, 2.269, 4.0])
    with pytest.raises(InputError):
        make_sampler("heatbath", L=8, temperatures=[1.0], chains=1, seed=0)


def test_mixture_keeps_temperature_order():
    a = Metropolis(L=4, temperatures=[3.0], chains=2, seed=0)
    b = Wolff(L=4, temperatures=[1.0, 2.0], chains=2, seed=0, start="cold")
    mix = Mixture([(a, np.array([2])), (b, np.array([0, 1]))], None)
    np.testing.assert_allclose(mix.temperatures, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(mix.spins[:2], b.spins)
    state = mix.get_state()
    mix.sweep(3)
    mix.set_state(state)
    np.testing.assert_array_equal(mix.spins[2], a.spins[0])


def test_progress_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    with Progress(100, desc="job", unit="sweeps", stream=out, interval=1e9) as bar:
        for _ in range(100):
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert 5 <= len(lines) <= 11 and lines[-1].startswith("job: 100/100 sweeps")
    quiet = io.StringIO()
    with Progress(10, stream=quiet, enabled=False) as bar:
        bar.update(10)
    assert quiet.getvalue() == ""


def test_progress_bar_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    with Progress(3, unit="sweeps", stream=out) as bar:
        bar.update(3)
    assert "\r" in out.getvalue() and "[" in out.getvalue()
