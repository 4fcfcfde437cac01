r"""Choosing the update rule: by name, or per temperature by fixed costs (``"auto"``).

The cost, in ns per spin, of one independent sample with algorithm :math:`a` is the
thinning times a fixed cost per sweep,

.. math:: c_a = \mathrm{THIN\_TAUS} \cdot \max(\tau_a, \tfrac12) \cdot \kappa_a,

with :math:`\tau_a` measured by the pilot rule of :mod:`isingvae.mc.equilibration` and
:math:`\kappa_a` = :data:`COST_NS_PER_SPIN` (ns per spin and sweep, measured once).
``"auto"`` takes, per temperature, the algorithm of lower cost (Metropolis on a tie).  The
Wolff pilot is skipped where Metropolis already costs no more than Wolff could at best
(:math:`\tau_W = 1/2`), and never run where Wolff does not apply (:math:`h \ne 0` or
:math:`J \le 0`).

Why fixed costs: the choice decides the bits of the result, so it must not depend on how
busy the machine is.  Timing the pilots on the wall clock (as an earlier version did)
made ``make_sampler("auto")`` and generated files change with the load; the constants
below make both a pure function of their arguments and seed.  Dataset generation
(:mod:`isingvae.generation`) and :func:`make_sampler` use the same :func:`choose`.

>>> choose_algorithm(L=8, temperatures=[2.0, 3.0], h=0.5)
['metropolis', 'metropolis']
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from isingvae import _validate as _v
from isingvae.mc.equilibration import TAU_FLOOR, THIN_TAUS, Pilot, measure_tau
from isingvae.mc.rules import Metropolis, Wolff

__all__ = ["COST_NS_PER_SPIN", "Mixture", "choose", "choose_algorithm", "cost", "make_sampler"]

#: cost per spin and per sweep of each algorithm, in ns, used only to choose between
#: them for ``algorithm="auto"``, for one task's worth of chains (64) at L = 32 near Tc
#: on the reference 2-core machine.  Wolff 8.3 ns (benchmarks/mc_throughput.py).
#: Metropolis (vectorised kernel): 0.087 ns, best of 20 timings in thread CPU time of
#: 61-sweep calls (serial at this size); benchmarks/mc_throughput.py on the idle machine
#: gives 0.096 ns (6.3 us per sweep), and about 0.05 ns on 2 threads at L >= 64.
COST_NS_PER_SPIN = {"metropolis": 0.09, "wolff": 8.3}


def cost(algorithm: str, tau: float) -> float:
    """ns per spin to obtain one independent sample: ``THIN_TAUS * tau`` sweeps at the
    fixed cost of ``algorithm`` (``tau`` in sweeps, floored at 1/2)."""
    return THIN_TAUS * max(tau, TAU_FLOOR) * COST_NS_PER_SPIN[algorithm]


def choose(measure: Callable[[str], Pilot], *,
           wolff_allowed: bool = True) -> tuple[list[str], dict[str, Pilot]]:
    """Per-temperature choice between Metropolis and Wolff, by :func:`cost`.

    ``measure(algorithm)`` runs a pilot (:func:`~isingvae.mc.equilibration.measure_tau`)
    and returns its :class:`~isingvae.mc.equilibration.Pilot`.  Returns the algorithm of
    each temperature and the pilots that were run (Metropolis always, Wolff when it
    could win).
    """
    pilots = {"metropolis": measure("metropolis")}
    metropolis = [cost("metropolis", t) for t in pilots["metropolis"].tau.tolist()]
    if not wolff_allowed or max(metropolis) <= cost("wolff", TAU_FLOOR):
        return ["metropolis"] * len(metropolis), pilots
    pilots["wolff"] = measure("wolff")
    wolff = [cost("wolff", t) for t in pilots["wolff"].tau.tolist()]
    picks = ["wolff" if w < m else "metropolis" for w, m in zip(wolff, metropolis, strict=True)]
    return picks, pilots


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

    def measure(name: str) -> Pilot:
        return measure_tau(lambda n: classes[name](L=L, temperatures=temps, chains=chains,
                                                   seed=seed, J=J, start="cold"))

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
