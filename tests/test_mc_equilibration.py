"""The one thermalization rule: its measurement, and that generation and the API share it."""

import math

import numpy as np
import pytest

from isingvae.generation import GenerationPlan, tasks
from isingvae.mc import Metropolis, Wolff, collect, equilibration, thermalize
from isingvae.mc.autocorr import integrated_time
from isingvae.mc.chains import measure_series
from isingvae.mc.equilibration import (
    PILOT_MIN_TAUS,
    burn_in_sweeps,
    measure_tau,
    thinning_sweeps,
)


class AR1:
    """A fake sampler: every chain's 'energy' and 'magnetization' is one AR(1) process,
    x' = phi x + noise per sweep, whose integrated time is (1 + phi) / (1 - phi)."""

    def __init__(self, phi, chains=64, seed=0):
        self.phi, self.chains = phi, chains
        self.temperatures = np.array([1.0])
        self._rng = np.random.default_rng(seed)
        self._x = self._rng.normal(size=chains) / math.sqrt(1 - phi**2)
        self.sweeps_done = 0

    def sweep(self, n=1):
        for _ in range(n):
            self._x = self.phi * self._x + self._rng.normal(size=self.chains)
        self.sweeps_done += n

    def observables(self):
        return self._x[None].copy(), self._x[None].copy()


def test_pilot_doubles_until_the_window_spans_50_tau():
    phi = 0.95
    truth = (1 + phi) / (1 - phi)  # 39 sweeps
    sim = AR1(phi, seed=1)
    pilot = measure_tau(sim)
    # one run, extended: the pilot costs the sweeps of its accepted run, no more
    assert sim.sweeps_done == pilot.sweeps
    # the first length n = 256 * 2^k whose half spans 50 tau: 4096 (a window of 2048)
    assert pilot.converged and pilot.sweeps == 4096
    assert pilot.sweeps // 2 >= PILOT_MIN_TAUS * pilot.tau[0]
    # 64 chains x 2048 sweeps: relative error about 8 % (Sokal), so 25 % is > 3 sigma
    assert abs(pilot.tau_energy[0] / truth - 1) < 0.25
    assert pilot.burn_in == [math.ceil(20 * pilot.tau[0])]
    assert pilot.thin == [math.ceil(2 * pilot.tau[0])]
    short = measure_tau(AR1(phi, seed=1), max_sweeps=512)
    assert not short.converged and short.sweeps == 512


def test_extended_run_measures_the_second_half_of_one_run():
    # the accepted round's window is the second half of a single run from the start:
    # the same numbers as sweeping the first half and measuring the rest directly
    phi = 0.9
    pilot = measure_tau(AR1(phi, seed=3))
    n = pilot.sweeps
    stride = max(1, n // equilibration.PILOT_POINTS)
    points = n // stride
    ref = AR1(phi, seed=3)
    ref.sweep(points // 2 * stride)
    e, _ = measure_series(ref, points - points // 2, stride=stride)
    assert pilot.tau_energy[0] == stride * integrated_time(np.ascontiguousarray(e[:, 0]))


def test_independent_samples_hit_the_floor_and_first_length():
    pilot = measure_tau(AR1(0.0, seed=1))
    assert pilot.converged and pilot.sweeps == 256
    assert pilot.thin == [thinning_sweeps(pilot.tau[0])] and pilot.thin[0] <= 3


def test_generation_pilot_is_the_rule():
    # generation's pilot is measure_tau on one 64-chain sampler of the pilot's seed
    plan = GenerationPlan(L=8, temperatures=(2.4,), samples=64, chains=64, seed=5,
                          algorithm="metropolis")
    info = tasks.pilot(plan, 0)
    ref = measure_tau(tasks.make_task_sampler(plan, "metropolis", 2.4, 64,
                                              plan.seed_for(1, 0, 0)))
    assert info["tau_energy"] == ref.tau_energy[0]
    assert info["tau_abs_m"] == ref.tau_abs_magnetization[0]
    assert info["pilot_sweeps"] == ref.sweeps and info["converged"] == ref.converged
    assert info["burn_in"] == burn_in_sweeps(ref.tau[0])
    assert info["thin"] == thinning_sweeps(ref.tau[0])


@pytest.mark.parametrize("cls", [Metropolis, Wolff])
def test_thermalize_is_the_same_rule_on_the_sampler_itself(cls):
    # thermalize runs the pilot on the sampler itself, so it measures exactly what a
    # pilot on a new sampler built like this one measures
    def make():
        return cls(L=8, temperatures=[2.2, 3.0], chains=16, seed=6)

    ref = measure_tau(make())
    sim = make()
    info = thermalize(sim)
    assert info["tau_energy"] == ref.tau_energy.tolist()
    assert info["tau_abs_magnetization"] == ref.tau_abs_magnetization.tolist()
    assert info["tau"] == ref.tau.tolist()
    assert info["converged"] == ref.converged and info["pilot_sweeps"] == ref.sweeps
    # the chains went on from the end of the accepted run: past the burn-in
    assert info["burn_in"] == sim.sweeps_done >= max(ref.burn_in)
    assert info["burn_in"] >= 2 * PILOT_MIN_TAUS * max(info["tau"])


def test_generation_and_collect_read_the_same_constants(monkeypatch):
    monkeypatch.setattr(equilibration, "BURN_IN_TAUS", 7.0)
    monkeypatch.setattr(equilibration, "THIN_TAUS", 5.0)
    plan = GenerationPlan(L=8, temperatures=(2.6,), samples=64, chains=64, seed=1,
                          algorithm="metropolis")
    info = tasks.pilot(plan, 0)
    tau = max(info["tau_energy"], info["tau_abs_m"], 0.5)
    assert info["burn_in"] == math.ceil(7.0 * tau)
    assert info["thin"] == max(1, math.ceil(5.0 * tau))
    run = collect(Metropolis(L=8, temperatures=[2.6], chains=8, seed=1), samples=8)
    run.all()
    assert run.report["thin"] == max(1, math.ceil(5.0 * max(run.report["tau"])))


def test_no_second_copy_of_the_rule_in_generation():
    import isingvae.generation as gen
    from isingvae.generation import driver, plan

    names = {"BURN_IN_TAUS", "THIN_TAUS", "PILOT_MIN_TAUS", "PILOT_MIN_SWEEPS",
             "PILOT_MAX_SWEEPS", "PILOT_POINTS", "COST_NS_PER_SPIN"}
    for module in (gen, driver, plan, tasks):
        assert not names & set(vars(module)), module.__name__
