"""Choosing the update rule: by name, by fixed costs (auto), and the mixture it may build."""

import time

import numpy as np
import pytest

from isingvae.errors import InputError
from isingvae.mc import Metropolis, Mixture, Wolff, choice, choose_algorithm, make_sampler
from isingvae.mc.equilibration import Pilot


def test_choose_algorithm_and_make_sampler():
    picks = choose_algorithm(L=16, temperatures=[1.0, 2.269])
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


def _auto(**kw):
    sim = make_sampler("auto", L=8, temperatures=[1.5, 2.269, 4.0], chains=3, seed=0, **kw)
    sim.sweep(5)
    return sim.algorithm, sim.spins


def test_auto_is_deterministic_whatever_the_clock_says(monkeypatch):
    reference = _auto()
    real = time.perf_counter
    for seed in (0, 1, 2):
        jitter = np.random.default_rng(seed)
        clock = [real()]

        def busy_machine(jitter=jitter, clock=clock):
            # a wildly uneven clock: every reading jumps by up to a second
            clock[0] += float(jitter.exponential(0.3))
            return clock[0]

        monkeypatch.setattr(time, "perf_counter", busy_machine)
        algorithm, spins = _auto()
        assert algorithm == reference[0]
        np.testing.assert_array_equal(spins, reference[1])
    monkeypatch.undo()


def test_choice_follows_the_fixed_costs(monkeypatch):
    # with the costs flipped in Wolff's favour, the same pilots pick Wolff
    temps = [2.0, 3.0]
    assert choose_algorithm(L=8, temperatures=temps) == ["metropolis", "metropolis"]
    monkeypatch.setitem(choice.COST_NS_PER_SPIN, "wolff", 1e-6)
    assert choose_algorithm(L=8, temperatures=temps) == ["wolff", "wolff"]
    mix_or_one = make_sampler("auto", L=8, temperatures=temps, chains=2, seed=0)
    assert mix_or_one.algorithm == "wolff"
    # an antiferromagnet or a field never gets Wolff
    assert choose_algorithm(L=8, temperatures=temps, J=-1.0) == ["metropolis"] * 2
    assert choose_algorithm(L=8, temperatures=temps, h=0.1) == ["metropolis"] * 2


def test_choose_skips_wolff_where_metropolis_already_wins():
    calls = []

    def measure(name, tau=(1.0, 250.0), work=2.0):
        calls.append(name)
        t = np.array(tau if name == "metropolis" else (1.5, 1.5))
        return Pilot(t, t, 256, True), np.full(2, 1.0 if name == "metropolis" else work)

    picks, pilots, costs = choice.choose(measure)
    # Metropolis at 250 sweeps, 2 * 250 * 0.09 = 45 ns, exceeds the best Wolff could do
    # (tau f = 1: 2 * 1 * 18 = 36 ns), so Wolff is piloted; at 2 * 1.5 * 18 * 2 = 108 ns
    # (two N-spin flips per sweep) it loses
    assert picks == ["metropolis", "metropolis"] and calls == ["metropolis", "wolff"]
    np.testing.assert_allclose(costs["wolff"], [108.0, 108.0])
    np.testing.assert_allclose(costs["metropolis"], [0.18, 45.0])
    calls.clear()
    picks, pilots, _ = choice.choose(lambda n: measure(n, tau=(1.0, 150.0)))
    # 2 * 150 * 0.09 = 27 ns <= 36 ns, the best Wolff could do: no Wolff pilot
    assert picks == ["metropolis"] * 2 and calls == ["metropolis"] and list(pilots) == [
        "metropolis"]
    # where a Wolff sweep flips about N spins, it wins at the slow temperature
    picks, _, _ = choice.choose(lambda n: measure(n, tau=(1.0, 400.0), work=1.0))
    assert picks == ["metropolis", "wolff"]
    # ... and loses where its sweeps flip many times N (the flips are what it costs)
    picks, _, _ = choice.choose(lambda n: measure(n, tau=(1.0, 400.0), work=3.0))
    assert picks == ["metropolis", "metropolis"]
    assert choice.choose(lambda n: measure(n, tau=(1.0, 400.0)),
                         wolff_allowed=False)[0] == ["metropolis"] * 2


def test_wolff_counts_the_spins_its_sweeps_flip():
    sim = Wolff(L=16, temperatures=[1.5, 2.269, 3.5], chains=8, seed=2)
    assert np.isnan(sim.flips_per_sweep).all()
    assert choice.sweep_work(sim).tolist() == [1.0, 1.0, 1.0]
    sim.sweep(20)
    f = sim.flips_per_sweep
    # clusters per sweep are calibrated so that a sweep flips about N spins; from a hot
    # start the calibration sees small clusters, so near T_c a sweep flips more
    assert (f > 0.3 * sim.N).all() and (f < 10 * sim.N).all()
    np.testing.assert_allclose(choice.sweep_work(sim), f / sim.N)
    assert choice.sweep_work(Metropolis(L=8, temperatures=[2.0], chains=2, seed=0)
                             ).tolist() == [1.0]
