r"""T_c from supervision: where a phase classifier's mean output crosses one half.

Carrasquilla and Melko (2017, "Machine learning phases of matter") train a classifier on
configurations labelled ordered (``T < T_c``) or disordered and read the transition off
the temperature at which its mean output, averaged over the configurations at each
temperature, falls through 1/2.  On a finite lattice that crossing ``T_c(L)`` drifts with
``L``; :mod:`isingvae.stats.fss` extrapolates it.

Here the classifier is any model with ``predict_phase`` (P(ordered | x)): the
information-bottleneck phase head (method ``vib-phase-crossing``) or M2's classifier
(``classifier-m2-crossing``).  The crossing is linearly interpolated between the two
grid temperatures around it (:func:`isingvae.analysis.tc.crossing`) and its error is
the spread over bootstrap replicates that resample whole Markov chains per temperature
(:class:`isingvae.stats.resampling.ChainBootstrap`).  A replicate whose curve never
falls through 1/2 fails, by the same rule as the unsupervised estimators
(:func:`isingvae.stats.resampling.replicate_error`: counted, left out of the spread,
flagged above 5 %); with fewer than two replicates left there is no error bar, and
:func:`phase_crossing` reports a failure instead of an estimate, as
:func:`isingvae.analysis.tc.estimate_tc` does.

>>> T = np.repeat([2.0, 2.2, 2.4, 2.6], 4)
>>> p = np.repeat([0.9, 0.7, 0.3, 0.1], 4)
>>> est = crossing_estimate(p, T, np.arange(16), L=8, method="classifier-test",
...                         replicates=20)
>>> round(est["tc"], 6), est["L"]
(2.3, 8)
"""

from __future__ import annotations

import math

import numpy as np

from isingvae.analysis.tc import crossing
from isingvae.stats.resampling import ChainBootstrap, ReplicateError, replicate_error

__all__ = ["LEVEL", "crossing_estimate", "method_name", "phase_crossing"]

#: the classifier output at which the transition is read
LEVEL = 0.5
#: what a curve (or a failed replicate's curve) without an estimate lacks
_WHY = (f"the classifier's mean output never falls through {LEVEL} within the "
        f"temperature range")


def method_name(model) -> str | None:
    """``vib-phase-crossing`` for a VIB phase head, ``classifier-m2-crossing`` for M2,
    ``None`` for a model without a phase classifier."""
    if "phase" not in getattr(model, "predicts", ()):
        return None
    return "classifier-m2-crossing" if type(model).__name__ == "M2" else "vib-phase-crossing"


def crossing_estimate(p_ordered, temperature, chain, *, L: int, method: str,
                      replicates: int = 200, seed: int = 0) -> dict:
    """The crossing of the per-temperature mean of ``p_ordered`` through :data:`LEVEL`.

    Returns a ``tc_estimates`` entry (``method``, ``L``, ``tc``, ``stderr``) with the curve
    (``temperature``, ``p_ordered``, ``stderr`` per temperature), the number of
    bootstrap replicates (``bootstrap``, ``replicates``), how many of them had no
    crossing (``failed_replicates``) and ``replicates_flag`` (with a ``note``) when more
    than 5 % had none (:func:`isingvae.stats.resampling.replicate_error`).  ``tc`` is
    NaN when the mean never falls through 1/2, ``stderr`` NaN when fewer than two
    replicates cross.
    """
    boot = ChainBootstrap(temperature, chain, replicates, seed)
    p = np.asarray(p_ordered, dtype=np.float64).ravel()
    full, reps = boot.totals(np.stack([np.ones_like(p), p], axis=1))
    curve = full[:, 1] / full[:, 0]
    rep_curves = reps[:, :, 1] / np.maximum(reps[:, :, 0], 1e-300)
    temps = boot.temperatures
    tc = crossing(temps, curve, LEVEL)
    err = replicate_error([crossing(temps, c, LEVEL) for c in rep_curves])
    est = {"method": method, "L": int(L), "tc": float(tc), "stderr": err.stderr,
           "level": LEVEL, "bootstrap": int(boot.replicates), **err.report_keys(),
           "curve": [{"temperature": float(t), "p_ordered": float(v),
                      "stderr": float(s)}
                     for t, v, s in zip(temps, curve, rep_curves.std(axis=0, ddof=1),
                                        strict=True)]}
    if err.flagged:
        est["note"] = err.note(_WHY)
    return est


def phase_crossing(ctx) -> list[dict]:
    """Estimator for :func:`isingvae.analysis.report.analyze`: the supervised crossing of
    one (run, data) pair, or nothing when its model has no phase classifier.  When its
    curve never crosses 1/2, or fewer than two bootstrap replicates do, it returns a
    failure ``{"method", "L", "reason"}`` instead (for ``tc_failures``, as
    :func:`isingvae.analysis.tc.estimate_tc` records its own).  At zero field the output
    is averaged over each configuration and its spin-flipped copy (both are equally
    probable states)."""
    from isingvae.evaluation import predictions

    model = ctx.model
    method = method_name(model)
    if method is None:
        return []
    ds = ctx.dataset
    x = ds.x
    p = predictions(model, x, "phase")
    if ds.h == 0:
        p = 0.5 * (p + predictions(model, 1.0 - x, "phase"))
    est = crossing_estimate(p, ds.temperature, ds.chain, L=ds.L, method=method,
                            replicates=ctx.settings.get("bootstrap", 200),
                            seed=ctx.settings.get("seed", 0))
    return [_estimate_or_failure(est)]


def _estimate_or_failure(est: dict) -> dict:
    """``est`` when it has a T_c and an error bar, else the failure to report, with the
    reason (the same rule and words as :func:`isingvae.analysis.tc.estimate_tc`)."""
    if not math.isfinite(est["tc"]):
        return {"method": est["method"], "L": est["L"], "reason": _WHY}
    if not math.isfinite(est["stderr"]):
        err = ReplicateError(est["stderr"], est["replicates"], est["failed_replicates"])
        return {"method": est["method"], "L": est["L"], "reason": err.reason(),
                **err.report_keys()}
    return est
