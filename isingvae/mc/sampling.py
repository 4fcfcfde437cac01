r"""Thermalization, thinning and collection of decorrelated configurations.

Rules (all in sweeps, decided from **measured** integrated autocorrelation times
:math:`\tau` of the energy and of :math:`|m|`, see :mod:`isingvae.mc.autocorr`):

- **Burn-in** (:func:`thermalize`): sweep in doubling rounds (``min_sweeps``,
  then as many again, ...), measuring :math:`e` and :math:`|m|` of every chain after
  every sweep; :math:`\tau` is estimated on the second half of everything swept so
  far.  Stop when that half is at least ``burn_in_factor`` (20) times the largest
  :math:`\tau` over observables and temperatures; everything swept is burn-in,
  so burn-in :math:`\ge 2 \times 20\,\tau`.  A run that reaches ``max_sweeps``
  first stops there and reports ``converged = False``.
- **Thinning**: one configuration per chain every
  :math:`\lceil \text{thin\_factor} \cdot \tau_{\max} \rceil` sweeps
  (``thin_factor = 2``, so consecutive samples of a chain are at least
  :math:`2\tau` apart).  All temperatures are swept together, so they share the
  thinning of the slowest one: faster temperatures get better decorrelated
  samples at no extra cost.

:func:`collect` streams batches, so a caller can write them to disk as they
come and resume from the sampler's saved state.

>>> from isingvae.mc import Metropolis
>>> sim = Metropolis(L=4, temperatures=[3.0], chains=8, seed=0)
>>> run = collect(sim, samples=16, batch_records=1)
>>> batches = list(run)
>>> sum(len(b.temperature) for b in batches), run.report["thin"] >= 1
(16, True)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.mc.autocorr import integrated_time

__all__ = [
    "Batch",
    "Collection",
    "Mixture",
    "choose_algorithm",
    "collect",
    "make_sampler",
    "measure_series",
    "thermalize",
]


def measure_series(sampler, n: int, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Sweep ``n`` times, recording energy and magnetization per spin after each sweep.

    Returns two arrays ``(n, n_T, chains)``.
    """
    nT = len(sampler.temperatures)
    e = np.empty((n, nT, sampler.chains))
    m = np.empty((n, nT, sampler.chains))
    for k in range(n):
        sampler.sweep(1)
        e[k], m[k] = sampler.observables()
        if progress is not None:
            progress.update(1)
    return e, m


def _taus(e: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nT = e.shape[1]
    tau_e = np.array([integrated_time(e[:, t]) for t in range(nT)])
    tau_m = np.array([integrated_time(np.abs(m[:, t])) for t in range(nT)])
    return tau_e, tau_m


def thermalize(
    sampler,
    *,
    min_sweeps: int = 100,
    max_sweeps: int = 1_000_000,
    burn_in_factor: float = 20.0,
    progress: bool = False,
) -> dict:
    """Bring ``sampler`` to equilibrium and measure its autocorrelation times.

    See the module docstring for the rule.  Returns a dict with ``burn_in``
    (sweeps done), ``tau_energy`` and ``tau_abs_magnetization`` (lists, per
    temperature, in sweeps), ``tau`` (the larger of the two, per temperature) and
    ``converged``.
    """
    min_sweeps = _v.count("min_sweeps", min_sweeps, lo=4)
    max_sweeps = _v.count("max_sweeps", max_sweeps, lo=min_sweeps)
    from isingvae.progress import Progress

    es, ms = [], []
    done = 0
    n = min_sweeps
    with Progress(max_sweeps, desc="thermalize", unit="sweeps", enabled=progress) as bar:
        while True:
            n = min(n, max_sweeps - done)
            e, m = measure_series(sampler, n, progress=bar)
            es.append(e)
            ms.append(m)
            done += n
            half = done // 2
            e_all = np.concatenate(es)[half:]
            m_all = np.concatenate(ms)[half:]
            tau_e, tau_m = _taus(e_all, m_all)
            tau = np.maximum(tau_e, tau_m)
            converged = bool(done - half >= burn_in_factor * tau.max())
            if converged or done >= max_sweeps:
                break
            n = done
    return {
        "burn_in": done,
        "tau_energy": tau_e.tolist(),
        "tau_abs_magnetization": tau_m.tolist(),
        "tau": tau.tolist(),
        "converged": converged,
    }


@dataclass
class Batch:
    """Configurations in the layout of the HDF5 file (one row per configuration).

    Attributes:
        spins: ``(n, L, L)`` int8 of +-1.
        temperature: ``(n,)`` float64.
        energy: ``(n,)`` float64, per spin.
        magnetization: ``(n,)`` float64, per spin.
        chain: ``(n,)`` int64, ``t * chains + c``: unique id of the Markov chain.
        sweep: ``(n,)`` int64, the sampler's sweep count when recorded.
    """

    spins: np.ndarray
    temperature: np.ndarray
    energy: np.ndarray
    magnetization: np.ndarray
    chain: np.ndarray
    sweep: np.ndarray

    @staticmethod
    def concatenate(batches) -> Batch:
        """One batch holding the rows of all ``batches`` in order."""
        batches = list(batches)
        if not batches:
            raise InputError("no batches to concatenate")
        return Batch(
            *(np.concatenate([getattr(b, f) for b in batches]) for f in Batch.__dataclass_fields__)
        )


class Collection:
    """Iterator over :class:`Batch` objects from :func:`collect`; ``report`` describes the run."""

    def __init__(self, sampler, samples, burn_in, thin, batch_records, progress, thermalize_kw):
        self.sampler = sampler
        self.samples = samples
        self._burn_in = burn_in
        self._thin = thin
        self._batch_records = batch_records
        self._progress = progress
        self._thermalize_kw = thermalize_kw
        self.report = {
            "algorithm": sampler.algorithm,
            "samples_per_temperature": samples,
            "temperatures": sampler.temperatures.tolist(),
        }

    def __iter__(self):
        from isingvae.progress import Progress

        s = self.sampler
        start = time.perf_counter()
        sweeps_at_start = s.sweeps_done
        if self._burn_in is None:
            info = thermalize(s, progress=self._progress, **self._thermalize_kw)
            self.report.update(info)
        else:
            s.sweep(self._burn_in)
            self.report.update(burn_in=self._burn_in, converged=None)
        if self._thin is None:
            tau = np.asarray(self.report["tau"])
            thin = max(1, math.ceil(self._thin_factor() * tau.max()))
        else:
            thin = self._thin
        self.report["thin"] = thin
        nT, C = len(s.temperatures), s.chains
        records = -(-self.samples // C)
        self.report["records"] = records
        last = self.samples - (records - 1) * C  # chains used in the last record
        temps = s.temperatures
        pending = []
        with Progress(records, desc="collect", unit="records", enabled=self._progress) as bar:
            for r in range(records):
                s.sweep(thin)
                use = C if r < records - 1 else last
                spins = s.spins[:, :use]
                e, m = s.observables()
                pending.append(
                    Batch(
                        spins=spins.reshape(nT * use, s.L, s.L),
                        temperature=np.repeat(temps, use),
                        energy=e[:, :use].reshape(-1),
                        magnetization=m[:, :use].reshape(-1),
                        chain=(np.arange(nT)[:, None] * C + np.arange(use)[None, :]).reshape(-1),
                        sweep=np.full(nT * use, s.sweeps_done, np.int64),
                    )
                )
                bar.update(1)
                if len(pending) == self._batch_records or r == records - 1:
                    self.report["sweeps"] = s.sweeps_done - sweeps_at_start
                    self.report["seconds"] = time.perf_counter() - start
                    yield Batch.concatenate(pending)
                    pending = []

    def _thin_factor(self) -> float:
        return self.thin_factor

    thin_factor = 2.0

    def all(self) -> Batch:
        """Run to the end and return every configuration in one :class:`Batch`."""
        return Batch.concatenate(list(self))


def collect(
    sampler,
    samples: int,
    *,
    burn_in: int | None = None,
    thin: int | None = None,
    thin_factor: float = 2.0,
    batch_records: int = 16,
    progress: bool = False,
    **thermalize_kw,
) -> Collection:
    """Thermalize ``sampler``, then record ``samples`` configurations per temperature.

    Args:
        sampler: a :class:`~isingvae.mc.Metropolis`, :class:`~isingvae.mc.Wolff` or
            mixture from :func:`make_sampler`.
        samples: configurations per temperature (taken from all chains in turn:
            each record takes one configuration of every chain).
        burn_in: sweeps to discard first; ``None`` measures it with :func:`thermalize`
            (pass ``0`` when resuming an equilibrated sampler).
        thin: sweeps between records; ``None`` uses ``ceil(thin_factor * tau)``.
            With ``burn_in`` given and ``thin=None``, ``thin`` is required.
        thin_factor: see ``thin``.
        batch_records: records per yielded :class:`Batch`.
        progress: report progress on stderr.
        **thermalize_kw: passed to :func:`thermalize` (``min_sweeps``, ``max_sweeps``,
            ``burn_in_factor``).

    Returns:
        A :class:`Collection`: iterate it for batches (the work happens then);
        ``.report`` holds the burn-in, the autocorrelation times per temperature,
        the thinning and the number of sweeps done.
    """
    samples = _v.count("samples", samples)
    batch_records = _v.count("batch_records", batch_records)
    if burn_in is not None:
        burn_in = _v.count("burn_in", burn_in, lo=0)
        if thin is None:
            raise InputError("collect: with burn_in given, give thin too (sweeps between records)")
    if thin is not None:
        thin = _v.count("thin", thin)
    run = Collection(sampler, samples, burn_in, thin, batch_records, progress, thermalize_kw)
    run.thin_factor = _v.real("thin_factor", thin_factor, positive=True)
    return run


# ---------------------------------------------------------------------- algorithm choice


def choose_algorithm(
    *,
    L: int,
    temperatures,
    J: float = 1.0,
    h: float = 0.0,
    seed: int = 0,
    chains: int = 64,
    seconds: float = 0.5,
) -> list[str]:
    r"""Pick, per temperature, the algorithm that yields more independent samples per second.

    A short pilot of each algorithm (cold start, about ``seconds`` of sweeping
    each) measures :math:`\tau = \max(\tau_e, \tau_{|m|})` in sweeps and the time
    per sweep; the cost of an independent sample is :math:`2\tau` times the time per
    sweep.  Returns ``"metropolis"`` or ``"wolff"`` for each temperature
    (always ``"metropolis"`` when ``h != 0``).  Pilots this short underestimate
    long autocorrelation times; the choice is a heuristic about speed, never about
    correctness.
    """
    from isingvae.mc.metropolis import Metropolis
    from isingvae.mc.wolff import Wolff

    temps = _v.temperatures(temperatures)
    if _v.real("h", h) != 0:
        return ["metropolis"] * len(temps)
    costs = {}
    for name, cls in (("metropolis", Metropolis), ("wolff", Wolff)):
        sim = cls(L=L, temperatures=temps, chains=chains, seed=seed, J=J, start="cold")
        sim.sweep(1)  # compilation and Wolff calibration, not timed
        t0 = time.perf_counter()
        sim.sweep(2)
        per_sweep = max((time.perf_counter() - t0) / 2, 1e-9)
        n = int(min(max(seconds / per_sweep, 40), 4000))
        e, m = measure_series(sim, n)
        tau_e, tau_m = _taus(e[n // 4 :], m[n // 4 :])
        costs[name] = 2 * np.maximum(tau_e, tau_m) * per_sweep
    pairs = zip(costs["wolff"], costs["metropolis"], strict=True)
    return ["wolff" if w < mt else "metropolis" for w, mt in pairs]


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
    :func:`choose_algorithm` and returns a single sampler when every temperature
    picks the same algorithm, otherwise a :class:`Mixture` (each part keeps its
    temperatures' original indices, so its random streams differ from those of a
    sampler over all temperatures).
    """
    from isingvae.mc.metropolis import Metropolis
    from isingvae.mc.wolff import Wolff

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
