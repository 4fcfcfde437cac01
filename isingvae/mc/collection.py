r"""Collecting decorrelated configurations from a sampler, in batches.

:func:`collect` thermalizes a sampler by the package's one rule
(:func:`isingvae.mc.equilibration.thermalize`: burn-in :math:`\ge \lceil 20\tau \rceil`
sweeps), then records one configuration of every chain every
:math:`\Delta = \max(1, \lceil 2\tau_{\max} \rceil)` sweeps through the chain driver
(:func:`isingvae.mc.chains.run_chains`), :math:`\tau_{\max}` being the largest
autocorrelation time over observables and temperatures.  All temperatures are swept
together, so they share the thinning of the slowest one: faster temperatures get better
decorrelated samples at no extra cost.

Batches are streamed, so a caller can write them to disk as they come and resume from
the sampler's saved state (``burn_in=0`` and the same ``thin``).

>>> from isingvae.mc import Metropolis
>>> sim = Metropolis(L=4, temperatures=[3.0], chains=8, seed=0)
>>> run = collect(sim, samples=16, batch_records=1)
>>> batches = list(run)
>>> sum(len(b.temperature) for b in batches), run.report["thin"] >= 1
(16, True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.mc import equilibration
from isingvae.mc.chains import run_chains

__all__ = ["Batch", "Collection", "collect"]


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

    def __init__(self, sampler, samples, burn_in, thin, thin_factor, batch_records, progress,
                 thermalize_kw):
        self.sampler = sampler
        self.samples = samples
        self._burn_in = burn_in
        self._thin = thin
        self._thin_factor = thin_factor
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
            info = equilibration.thermalize(s, progress=self._progress, **self._thermalize_kw)
            self.report.update(info)
            burn_in = 0  # thermalize has swept it
        else:
            burn_in = self._burn_in
            self.report.update(burn_in=burn_in, converged=None)
        if self._thin is None:
            thin = equilibration.thinning_sweeps(max(self.report["tau"]), self._thin_factor)
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
            for r, rec in enumerate(run_chains(s, records, thin, burn_in=burn_in)):
                use = C if r < records - 1 else last
                pending.append(
                    Batch(
                        spins=rec.spins[:, :use].reshape(nT * use, s.L, s.L),
                        temperature=np.repeat(temps, use),
                        energy=rec.energy[:, :use].reshape(-1),
                        magnetization=rec.magnetization[:, :use].reshape(-1),
                        chain=(np.arange(nT)[:, None] * C + np.arange(use)[None, :]).reshape(-1),
                        sweep=np.full(nT * use, rec.sweep, np.int64),
                    )
                )
                bar.update(1)
                if len(pending) == self._batch_records or r == records - 1:
                    self.report["sweeps"] = s.sweeps_done - sweeps_at_start
                    self.report["seconds"] = time.perf_counter() - start
                    yield Batch.concatenate(pending)
                    pending = []

    def all(self) -> Batch:
        """Run to the end and return every configuration in one :class:`Batch`."""
        return Batch.concatenate(list(self))


def collect(
    sampler,
    samples: int,
    *,
    burn_in: int | None = None,
    thin: int | None = None,
    thin_factor: float | None = None,
    batch_records: int = 16,
    progress: bool = False,
    **thermalize_kw,
) -> Collection:
    """Thermalize ``sampler``, then record ``samples`` configurations per temperature.

    Args:
        sampler: a :class:`~isingvae.mc.Metropolis`, :class:`~isingvae.mc.Wolff` or
            mixture from :func:`~isingvae.mc.make_sampler`.
        samples: configurations per temperature (taken from all chains in turn:
            each record takes one configuration of every chain).
        burn_in: sweeps to discard first; ``None`` applies
            :func:`~isingvae.mc.equilibration.thermalize` (pass ``0`` when resuming an
            equilibrated sampler).
        thin: sweeps between records; ``None`` uses
            :func:`~isingvae.mc.equilibration.thinning_sweeps` of the largest
            :math:`\\tau`.  With ``burn_in`` given, ``thin`` is required.
        thin_factor: :math:`\\tau`'s between records when ``thin`` is ``None`` (default
            :data:`~isingvae.mc.equilibration.THIN_TAUS`, 2).
        batch_records: records per yielded :class:`Batch`.
        progress: report progress on stderr.
        **thermalize_kw: passed to :func:`~isingvae.mc.equilibration.thermalize`
            (``min_sweeps``, ``max_sweeps``).

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
    if thin_factor is not None:
        thin_factor = _v.real("thin_factor", thin_factor, positive=True)
    unknown = set(thermalize_kw) - {"min_sweeps", "max_sweeps"}
    if unknown:
        raise TypeError(f"collect() got unexpected keyword argument(s) "
                        f"{', '.join(sorted(unknown))}")
    return Collection(sampler, samples, burn_in, thin, thin_factor, batch_records, progress,
                      thermalize_kw)
