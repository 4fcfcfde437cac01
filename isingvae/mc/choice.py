r"""Choosing the update rule: by name, or per temperature by fixed costs (``"auto"``).

The cost, in ns per spin, of one independent sample with algorithm :math:`a` is the
thinning times the cost of a sweep,

.. math:: c_a = \mathrm{THIN\_TAUS} \cdot \max(\tau_a, \tfrac12) \cdot \kappa_a f_a,

with :math:`\tau_a` measured by the pilot rule of :mod:`isingvae.mc.equilibration`,
:math:`\kappa_a` = :data:`COST_NS_PER_SPIN` (fixed, measured once) and :math:`f_a` the
work of a sweep per spin: 1 for Metropolis (every spin of every chain is tried), and
for Wolff the spins a sweep flips per spin, as the Wolff pilot counted them
(:attr:`isingvae.mc.Wolff.flips_per_sweep`; a Wolff sweep flips about :math:`N` spins
by design, but its clusters per sweep are calibrated from the start state, so near
:math:`T_c` a sweep flips 2 to 7 :math:`N` in equilibrium).  ``"auto"`` takes, per
temperature, the algorithm of lower cost (Metropolis on a tie).  The Wolff pilot is
skipped where Metropolis already costs no more than Wolff could at best
(:math:`\tau_W f_W` = :data:`WOLFF_BEST_TAU_WORK`), and never run where Wolff does not
apply (:math:`h \ne 0` or :math:`J \le 0`).

Why fixed costs: the choice decides the bits of the result, so it must not depend on how
busy the machine is.  Timing the pilots on the wall clock (as an earlier version did)
made ``make_sampler("auto")`` and generated files change with the load; the constants
below, and flip counts that are a function of the seed, make both a pure function of
their arguments and seed.  Dataset generation (:mod:`isingvae.generation`) and
:func:`make_sampler` use the same :func:`choose`.

>>> choose_algorithm(L=8, temperatures=[2.0, 3.0], h=0.5)
['metropolis', 'metropolis']
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from isingvae import _validate as _v
from isingvae.mc.equilibration import TAU_FLOOR, THIN_TAUS, Pilot, measure_tau
from isingvae.mc.rules import Metropolis, Wolff

__all__ = ["COST_NS_PER_SPIN", "WOLFF_BEST_TAU_WORK", "Mixture", "choose", "choose_algorithm",
           "cost", "make_sampler", "sweep_work"]

#: fixed costs, in ns of one core, used only to choose between the algorithms for
#: ``algorithm="auto"`` and to plan generation tasks.  How they were measured (generator
#: version 3, the 2-core AMD EPYC development machine, idle, numba on 1 thread): a sampler
#: of 64 chains at L = 16, 32 and 64 and T = 2.0, 2.269 and 2.6 swept in the calling
#: thread, best of 5 timings in thread CPU time.
#:
#: - ``metropolis``: per spin, chain and sweep: 0.084-0.091 ns at every L and T (64
#:   chains share one machine word, so a block of 1 to 64 chains costs the same);
#: - ``wolff``: per *flipped* spin: 14-21 ns (16.6-18.7 ns at T = 2.269).  Per spin and
#:   sweep the same runs cost 14 to 109 ns, because the spins a sweep flips vary with
#:   the calibration of its clusters (module docstring); per flipped spin the cost
#:   hardly moves, so the pilot's flip count makes the difference.
COST_NS_PER_SPIN = {"metropolis": 0.09, "wolff": 18.0}
#: the least :math:`\tau_W f_W` (autocorrelation time in units of N flipped spins) that
#: the test for running a Wolff pilot assumes: 1, the value of independent samples in
#: this package's convention, reached when a configuration decorrelates as soon as about
#: every spin has been flipped once.  Measured values are 2.5 to 3.4 near T_c
#: (generator version 3, L = 32, T = 2.2 to 2.4), so the test errs on the side of
#: piloting Wolff; with the bound at tau = 1/2, f = 1 it piloted Wolff at four
#: temperatures of the benchmark job (``benchmarks/generate_scaling.py``), 2.5 s of 6.2 s
#: of work, and lost every time
WOLFF_BEST_TAU_WORK = 1.0


def sweep_work(sampler) -> np.ndarray:
    """The work of one sweep per spin and chain, per temperature: 1 for Metropolis,
    the flipped spins per spin that the sampler counted for Wolff (1 before any sweep)."""
    nT = len(sampler.temperatures)
    if sampler.algorithm != "wolff":
        return np.ones(nT)
    f = sampler.flips_per_sweep / sampler.N
    return np.where(np.isfinite(f), f, 1.0)


def cost(algorithm: str, tau: float, work: float = 1.0) -> float:
    """ns per spin to obtain one independent sample: ``THIN_TAUS * tau`` sweeps (``tau``
    in sweeps, floored at 1/2) of ``work`` (:func:`sweep_work`) at the fixed cost of
    ``algorithm``."""
    return THIN_TAUS * max(tau, TAU_FLOOR) * COST_NS_PER_SPIN[algorithm] * work


def choose(measure: Callable[[str], tuple[Pilot, np.ndarray]], *,
           wolff_allowed: bool = True) -> tuple[list[str], dict[str, Pilot], dict]:
    """Per-temperature choice between Metropolis and Wolff, by :func:`cost`.

    ``measure(algorithm)`` runs a pilot (:func:`~isingvae.mc.equilibration.measure_tau`)
    and returns its :class:`~isingvae.mc.equilibration.Pilot` with the
    :func:`sweep_work` of its sampler.  Returns the algorithm of each temperature, the
    pilots that were run (Metropolis always, Wolff when it could win) and the cost
    (:func:`cost`, a list per temperature) of each algorithm piloted.
    """
    pilots, costs = {}, {}
    for name in ("metropolis", "wolff"):
        if name == "wolff" and (not wolff_allowed or max(costs["metropolis"])
                                <= cost("wolff", WOLFF_BEST_TAU_WORK)):
            break
        pilot, work = measure(name)
        pilots[name] = pilot
        costs[name] = [cost(name, t, w) for t, w in zip(pilot.tau.tolist(), work.tolist(),
                                                        strict=True)]
    if "wolff" not in costs:
        return ["metropolis"] * len(costs["metropolis"]), pilots, costs
    picks = ["wolff" if w < m else "metropolis"
             for w, m in zip(costs["wolff"], costs["metropolis"], strict=True)]
    return picks, pilots, costs


def choose_algorithm(
    *,
    L: int,
    temperatures,
    J: float = 1.0,
    h: float = 0.0,
    seed: int = 0,
    chains: int = 64,
) -> list[str]:
    """Pick, per temperature, the algorithm with the cheaper independent sample.

    Pilots of ``chains`` chains from a cold start, seeded with ``seed``, measure
    :math:`\\tau` (:mod:`isingvae.mc.equilibration`); costs are fixed per algorithm
    (module docstring), so the choice is deterministic and ignores the machine's load.
    Returns ``"metropolis"`` or ``"wolff"`` for each temperature (always
    ``"metropolis"`` when ``h != 0`` or ``J <= 0``).
    """
    temps = _v.temperatures(temperatures)
    J, h = _v.real("J", J), _v.real("h", h)
    if h != 0 or J <= 0:
        return ["metropolis"] * len(temps)
    classes = {"metropolis": Metropolis, "wolff": Wolff}

    def measure(name: str) -> tuple[Pilot, np.ndarray]:
        sim = classes[name](L=L, temperatures=temps, chains=chains, seed=seed, J=J,
                            start="cold")
        return measure_tau(sim), sweep_work(sim)

    return choose(measure)[0]


class Mixture:
    """Several samplers over disjoint subsets of the temperatures, seen as one.

    ``spins``, ``energy``, ``magnetization`` and ``observables()`` follow the
    original temperature order; ``sweep(n)`` sweeps every part; ``algorithm``
    lists the algorithm of each temperature.
    """

    def __init__(self, parts, index):
        self._parts = parts  # list of (sampler, temperature indices)
        self._index = index
        self._order = np.argsort(np.concatenate([idx for _, idx in parts]))
        first = parts[0][0]
        self.L, self.chains, self.seed, self.J, self.h = (
            first.L, first.chains, first.seed, first.J, first.h
        )
        self._temperatures = np.concatenate([p.temperatures for p, _ in parts])[self._order]
        algs = np.concatenate([[p.algorithm] * len(idx) for p, idx in parts])[self._order]
        self.algorithm = "auto:" + ",".join(algs)

    @property
    def temperatures(self):
        return self._temperatures.copy()

    @property
    def sweeps_done(self):
        return self._parts[0][0].sweeps_done

    def sweep(self, n=1, *, progress=False):
        for p, _ in self._parts:
            p.sweep(n, progress=progress)

    @property
    def spins(self):
        return np.concatenate([p.spins for p, _ in self._parts])[self._order]

    def observables(self):
        obs = [p.observables() for p, _ in self._parts]
        e = np.concatenate([o[0] for o in obs])[self._order]
        m = np.concatenate([o[1] for o in obs])[self._order]
        return e, m

    @property
    def energy(self):
        return self.observables()[0]

    @property
    def magnetization(self):
        return self.observables()[1]

    def get_state(self):
        return {"parts": [p.get_state() for p, _ in self._parts]}

    def set_state(self, state):
        for (p, _), st in zip(self._parts, state["parts"], strict=True):
            p.set_state(st)


def make_sampler(algorithm: str = "metropolis", **kwargs):
    """Build a sampler by name: ``"metropolis"``, ``"wolff"`` or ``"auto"``.

    ``kwargs`` are those of :class:`~isingvae.mc.Metropolis` (``L``, ``temperatures``,
    ``chains``, ``seed``, ``J``, ``h``, ``start``).  ``"auto"`` runs
    :func:`choose_algorithm` (deterministic: pilots and fixed costs, no timing) and
    returns a single sampler when every temperature picks the same algorithm, otherwise
    a :class:`Mixture` (each part keeps its temperatures' original indices, so its
    random streams differ from those of a sampler over all temperatures).
    """
    _v.choice("algorithm", algorithm, ("metropolis", "wolff", "auto"))
    if algorithm == "metropolis":
        return Metropolis(**kwargs)
    if algorithm == "wolff":
        return Wolff(**kwargs)
    temps = _v.temperatures(kwargs["temperatures"])
    picks = choose_algorithm(
        L=kwargs["L"],
        temperatures=temps,
        J=kwargs.get("J", 1.0),
        h=kwargs.get("h", 0.0),
        seed=kwargs.get("seed", 0),
    )
    classes = {"metropolis": Metropolis, "wolff": Wolff}
    names = sorted(set(picks))
    if len(names) == 1:
        return classes[names[0]](**kwargs)
    parts = []
    for name in names:
        idx = np.flatnonzero(np.array(picks) == name)
        kw = dict(kwargs, temperatures=temps[idx])
        parts.append((classes[name](**kw), idx))
    return Mixture(parts, picks)
