r"""The chain driver: burn in, then record every chain every ``thin`` sweeps.

One loop serves every consumer of Markov chains in the package: the pilot runs that
measure autocorrelation times (:mod:`isingvae.mc.equilibration`, observables only),
:func:`isingvae.mc.collect` (configurations in batches) and the generation tasks that
write shards (:mod:`isingvae.generation.tasks`).  For a sampler after ``s_0`` sweeps,
record ``k = 1, 2, ...`` is taken after

.. math:: s_k = s_0 + \text{burn\_in} + k \cdot \text{thin}

sweeps, and holds the configuration, energy and magnetization per spin of every chain
at every temperature.  Samplers promise that the result does not depend on how sweeps
are split between calls, so the driver may sweep the burn-in in one call and a caller
may stop after any record, save the sampler's state and go on later with
``burn_in=0``: the records are the same.

>>> from isingvae.mc import Metropolis
>>> sim = Metropolis(L=4, temperatures=[2.0, 3.0], chains=3, seed=0)
>>> [r.sweep for r in run_chains(sim, records=3, thin=2, burn_in=5)]
[7, 9, 11]
>>> e, m = measure_series(sim, 4)
>>> e.shape, sim.sweeps_done
((4, 2, 3), 15)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["Record", "measure_series", "run_chains"]

#: points measured per call of a sampler's ``series`` (progress is told after each)
_SERIES = 256


@dataclass(frozen=True)
class Record:
    """One record of every chain of a sampler.

    Attributes:
        spins: ``(n_T, chains, L, L)`` int8 of +-1, or ``None`` when not asked for.
        energy: ``(n_T, chains)`` float64, per spin.
        magnetization: ``(n_T, chains)`` float64, per spin, signed.
        sweep: the sampler's sweep count when recorded.
    """

    spins: np.ndarray | None
    energy: np.ndarray
    magnetization: np.ndarray
    sweep: int


def run_chains(sampler, records: int, thin: int, *, burn_in: int = 0,
               spins: bool = True) -> Iterator[Record]:
    """Sweep ``burn_in`` times, then yield ``records`` :class:`Record` objects ``thin`` apart.

    Lazy: nothing is swept until the first record is asked for, and the sampler is
    left after the last record taken.  ``spins=False`` skips copying configurations
    (pilot runs need only the observables).
    """
    if burn_in:
        sampler.sweep(burn_in)
    for _ in range(records):
        sampler.sweep(thin)
        e, m = sampler.observables()
        yield Record(sampler.spins if spins else None, e, m, sampler.sweeps_done)


def measure_series(sampler, n: int, *, stride: int = 1,
                   progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Energy and magnetization per spin after every ``stride`` sweeps, ``n`` times.

    Returns two float64 arrays ``(n, n_T, chains)``.  ``progress``, when given, is told
    of the sweeps done (``progress.update(k)``).  A sampler with a ``series`` method
    (the package's) measures in pieces of that method; others record by record, through
    :func:`run_chains`.
    """
    nT = len(sampler.temperatures)
    e = np.empty((n, nT, sampler.chains))
    m = np.empty((n, nT, sampler.chains))
    if hasattr(sampler, "series"):  # the package's samplers: in pieces of _SERIES points
        for k in range(0, n, _SERIES):
            j = min(n, k + _SERIES)
            e[k:j], m[k:j] = sampler.series(j - k, stride)
            if progress is not None:
                progress.update((j - k) * stride)
        return e, m
    for k, rec in enumerate(run_chains(sampler, n, stride, spins=False)):
        e[k], m[k] = rec.energy, rec.magnetization
        if progress is not None:
            progress.update(stride)
    return e, m
