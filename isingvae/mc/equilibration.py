r"""The thermalization rule: how long to burn in and how far apart to record, from measured
autocorrelation times.  Used by :func:`isingvae.mc.thermalize`, :func:`isingvae.mc.collect`,
``make_sampler("auto")`` and dataset generation (:mod:`isingvae.generation`); there is no
other.

**Measurement** (:func:`measure_tau`).  A *pilot* is a run of :math:`n` sweeps from the
start state.  The energy :math:`e` and :math:`|m|` of every chain are recorded every
:math:`s = \max(1, \lfloor n / P \rfloor)` sweeps (:math:`P` = :data:`PILOT_POINTS`), so
the run gives :math:`p = \lfloor n / s \rfloor` points; the first :math:`\lfloor p/2
\rfloor` are discarded and on the rest the integrated autocorrelation times
:math:`\tau_e` and :math:`\tau_{|m|}` are estimated in sweeps, per temperature
(:func:`isingvae.mc.autocorr.integrated_time`: autocorrelations averaged over chains, the
sum cut at Sokal's automatic window :math:`M \ge 5\hat\tau(M)`).  With

.. math:: \tau = \max(\tau_e, \tau_{|m|}, \tfrac12),

maximized over temperatures too when a sampler holds several, the pilot is accepted when
its measuring window (the second half; also the burn-in it discarded) spans enough
autocorrelation times,

.. math:: \lfloor p/2 \rfloor\, s \;\ge\; 50\,\tau \qquad (\text{:data:`PILOT_MIN_TAUS`}),

otherwise :math:`n` doubles, from :data:`PILOT_MIN_SWEEPS` = 256 up to
:data:`PILOT_MAX_SWEEPS` = :math:`2^{17}` (a pilot stopped there reports
``converged = False``).  The run is not started again: it is extended to :math:`n`
sweeps, so the discarded half of the longer run is the whole shorter one, and its
measuring window is new data.  A pilot therefore costs the :math:`n` sweeps of its
accepted run (between :math:`100\tau` and :math:`200\tau`), not twice that as fresh
runs from the start state would.  Times shorter than the stride come out as about half
a stride, an overestimate that only makes the rule safer.

**Burn-in and thinning.**

.. math:: B = \lceil 20\,\tau \rceil, \qquad \Delta = \max(1, \lceil 2\,\tau \rceil)
   \qquad (\text{:data:`BURN_IN_TAUS`}, \text{:data:`THIN_TAUS`}).

For a mode with :math:`\rho(t) = e^{-t/\tau_\mathrm{exp}}`, :math:`\tau \approx
2\tau_\mathrm{exp}` in this convention (:math:`\tau = 1` for independent samples), so
records :math:`2\tau` apart are correlated by about :math:`e^{-4} \approx 2\%`, and a
burn-in of :math:`20\tau` leaves :math:`e^{-40}` of the initial bias in the modes that
:math:`e` and :math:`|m|` see; the generous factor covers slower modes they see weakly
(A. D. Sokal, "Monte Carlo methods in statistical mechanics: foundations and new
algorithms", in *Functional Integration*, Springer 1997, pp. 131-192, sections 2-3).
With 64 chains and a window of :math:`50\tau`, Sokal's variance
:math:`\mathrm{var}(\hat\tau)/\tau^2 \approx 2(2M+1)/n` puts the error of :math:`\hat\tau`
near 8 %.

**One rule.**  Dataset generation, the Python API's :func:`thermalize` and
``make_sampler("auto")`` all run it; it fixes the bits of every generated file
(``data/`` holds files a test regenerates).  Until generator version 3 each round was a
fresh run from the start state; extending one run gives the same window for half the
sweeps, and the pilot is the step a parallel generation waits for.  A generation task's
chains are not the pilot's chains, so they burn in :math:`B` sweeps from their own
start; :func:`thermalize` keeps the pilot's chains, already :math:`\ge 100\,\tau` from
the start when converged, so it only sweeps what is missing up to :math:`B`.

>>> from isingvae.mc import Metropolis
>>> pilot = measure_tau(Metropolis(L=8, temperatures=[3.0], chains=64, seed=0))
>>> pilot.converged, pilot.sweeps, bool(pilot.sweeps // 2 >= PILOT_MIN_TAUS * pilot.tau.max())
(True, 512, True)
>>> pilot.burn_in == [burn_in_sweeps(pilot.tau[0])], pilot.thin == [thinning_sweeps(pilot.tau[0])]
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from isingvae import _validate as _v
from isingvae.mc.autocorr import integrated_time
from isingvae.mc.chains import measure_series

#: burn-in, in units of the larger integrated autocorrelation time
BURN_IN_TAUS = 20.0
#: sweeps between records, in the same units
THIN_TAUS = 2.0
#: a pilot is accepted when its measuring window spans this many autocorrelation times
PILOT_MIN_TAUS = 50.0
#: length of the first pilot run, doubled until accepted, up to the maximum
PILOT_MIN_SWEEPS = 256
PILOT_MAX_SWEEPS = 1 << 17
#: at most this many recorded points per chain in a pilot run (the stride grows beyond)
PILOT_POINTS = 1024
#: floor of tau, in sweeps: below it, consecutive sweeps are as good as independent
TAU_FLOOR = 0.5
#: the unmeasured sweeps of a pilot round are made in pieces of at most this many
_SWEEP_PIECE = 4096

__all__ = [
    "BURN_IN_TAUS",
    "PILOT_MAX_SWEEPS",
    "PILOT_MIN_SWEEPS",
    "PILOT_MIN_TAUS",
    "PILOT_POINTS",
    "TAU_FLOOR",
    "THIN_TAUS",
    "Pilot",
    "burn_in_sweeps",
    "measure_tau",
    "thermalize",
    "thinning_sweeps",
]


def burn_in_sweeps(tau: float) -> int:
    """:math:`\\lceil` :data:`BURN_IN_TAUS` :math:`\\tau \\rceil` sweeps."""
    return math.ceil(BURN_IN_TAUS * tau)


def thinning_sweeps(tau: float, factor: float | None = None) -> int:
    """:math:`\\max(1, \\lceil` ``factor`` :math:`\\tau \\rceil)` sweeps, ``factor``
    defaulting to :data:`THIN_TAUS`."""
    return max(1, math.ceil((THIN_TAUS if factor is None else factor) * tau))


@dataclass(frozen=True)
class Pilot:
    """What a pilot measured, per temperature of the sampler (times in sweeps).

    Attributes:
        tau_energy, tau_abs_magnetization: float64 arrays ``(n_T,)``.
        sweeps: length :math:`n` of the accepted (or last) pilot run.
        converged: whether the window spanned :data:`PILOT_MIN_TAUS` times.
    """

    tau_energy: np.ndarray
    tau_abs_magnetization: np.ndarray
    sweeps: int
    converged: bool

    @property
    def tau(self) -> np.ndarray:
        """:math:`\\max(\\tau_e, \\tau_{|m|}, 1/2)` per temperature."""
        return np.maximum(np.maximum(self.tau_energy, self.tau_abs_magnetization), TAU_FLOOR)

    @property
    def burn_in(self) -> list[int]:
        """:func:`burn_in_sweeps` per temperature."""
        return [burn_in_sweeps(t) for t in self.tau.tolist()]

    @property
    def thin(self) -> list[int]:
        """:func:`thinning_sweeps` per temperature."""
        return [thinning_sweeps(t) for t in self.tau.tolist()]


def measure_tau(sampler, *, min_sweeps: int | None = None, max_sweeps: int | None = None,
                progress=None) -> Pilot:
    """Measure autocorrelation times by the rule of the module docstring.

    Args:
        sampler: a sampler in its start state.  The pilot runs on it, one run that is
            extended round by round; it is left where that run ended.
        min_sweeps, max_sweeps: first and longest run (defaults :data:`PILOT_MIN_SWEEPS`,
            :data:`PILOT_MAX_SWEEPS`).
        progress: told of the sweeps done (``progress.update(k)``), when given.
    """
    n = _v.count("min_sweeps", PILOT_MIN_SWEEPS if min_sweeps is None else min_sweeps, lo=4)
    top = _v.count("max_sweeps", PILOT_MAX_SWEEPS if max_sweeps is None else max_sweeps, lo=n)
    done = 0  # sweeps of the run so far
    while True:
        n = min(n, top)
        stride = max(1, n // PILOT_POINTS)
        points = n // stride
        half = points // 2
        # the run's first half (everything swept in earlier rounds, and more on the
        # first) is discarded; the second half is measured, all of it new data.  A
        # sampler's result does not depend on how its sweeps are split between calls
        while half * stride > done:  # in pieces, so that progress hears of them
            k = min(half * stride - done, _SWEEP_PIECE)
            sampler.sweep(k)
            done += k
            if progress is not None:
                progress.update(k)
        e, m = measure_series(sampler, points - half, stride=stride, progress=progress)
        done = max(done, half * stride) + (points - half) * stride
        nT = e.shape[1]
        tau_e = np.array([stride * integrated_time(np.ascontiguousarray(e[:, t]))
                          for t in range(nT)])
        tau_m = np.array([stride * integrated_time(np.ascontiguousarray(np.abs(m[:, t])))
                          for t in range(nT)])
        tau = float(np.maximum(np.maximum(tau_e, tau_m), TAU_FLOOR).max())
        converged = bool(half * stride >= PILOT_MIN_TAUS * tau)
        if converged or n >= top:
            return Pilot(tau_e, tau_m, done, converged)
        n *= 2


def thermalize(sampler, *, min_sweeps: int | None = None, max_sweeps: int | None = None,
               progress: bool = False) -> dict:
    """Bring ``sampler`` to equilibrium by the rule of the module docstring.

    The pilot runs on ``sampler`` itself (:func:`measure_tau`).  The chains then continue
    from the end of the accepted run, swept further only if that run was shorter than the burn-in
    :math:`\\lceil 20\\tau \\rceil` of the slowest temperature.

    Returns a dict with ``burn_in`` (sweeps from the start state to now),
    ``tau_energy`` and ``tau_abs_magnetization`` (lists per temperature, in sweeps),
    ``tau`` (:math:`\\max(\\tau_e, \\tau_{|m|}, 1/2)` per temperature), ``converged`` and
    ``pilot_sweeps`` (length of the accepted run).
    """
    from isingvae.progress import Progress

    first = sampler.sweeps_done
    top = PILOT_MAX_SWEEPS if max_sweeps is None else max_sweeps
    with Progress(top, desc="thermalize", unit="sweeps", enabled=progress) as bar:
        pilot = measure_tau(sampler, min_sweeps=min_sweeps, max_sweeps=max_sweeps,
                            progress=bar)
    missing = max(pilot.burn_in) - (sampler.sweeps_done - first)
    if missing > 0:
        sampler.sweep(missing)
    return {
        "burn_in": sampler.sweeps_done - first,
        "tau_energy": pilot.tau_energy.tolist(),
        "tau_abs_magnetization": pilot.tau_abs_magnetization.tolist(),
        "tau": pilot.tau.tolist(),
        "converged": pilot.converged,
        "pilot_sweeps": pilot.sweeps,
    }
