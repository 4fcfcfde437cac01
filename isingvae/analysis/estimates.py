"""The ``tc_estimates`` list of ``report.json``: entries checked, merged, extrapolated.

Every T_c estimate is a dict ``{"method", "L", "tc", "stderr", ...}``
(``docs/interfaces.md`` §5): per lattice size, or ``L = null`` for a finite-size
scaling extrapolation, whose method name ends in ``-fss``.  Supervised estimates (method
names starting with ``vib`` or ``classifier``) enter through the same door as the
unsupervised ones, so each gets the same checks and its own ``-fss`` extrapolation.

An estimate made by the chain bootstrap says how many replicates it rests on and how
many failed (``replicates``, ``failed_replicates``, ``replicates_flag``:
:func:`isingvae.stats.resampling.replicate_error`); an ensemble's entry and an ``-fss``
extrapolation carry the sums over the estimates they combine
(:func:`isingvae.stats.resampling.combined_replicate_counts`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.stats.ensemble import ensemble_estimates
from isingvae.stats.fss import MODELS, combine, extrapolate, fss_method_name
from isingvae.stats.resampling import combined_replicate_counts

__all__ = ["HEADLINE_METHODS", "check_estimate", "extrapolate_estimates", "headline",
           "merge_estimates"]

#: the estimators whose ``-fss`` extrapolations make the headline T_c: the unsupervised
#: ones (neither labels nor the exact T_c enter them), measured by
#: ``benchmarks/tc_coverage.py``
HEADLINE_METHODS = ("latent-susceptibility", "latent-binder", "latent-clustering")


def check_estimate(e: dict) -> dict:
    """A ``tc_estimates`` entry, checked: ``method`` (str), ``L`` (int, or ``None`` for a
    ``-fss`` extrapolation), finite ``tc`` and ``stderr``; returned as plain types."""
    try:
        method = str(e["method"])
        tc, stderr = float(e["tc"]), float(e["stderr"])
        L = e["L"]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"a Tc estimate needs method, L, tc and stderr, got {e!r}") from None
    if not (math.isfinite(tc) and math.isfinite(stderr) and stderr >= 0):
        raise InputError(f"Tc estimate {method}: tc and stderr must be finite, got {tc}, "
                         f"{stderr}")
    if method.endswith("-fss"):
        if L is not None:
            raise InputError(f"Tc estimate {method}: an -fss extrapolation has L = null")
    else:
        L = _v.count(f"L of Tc estimate {method}", L, 1)
    out = dict(e)
    out.update(method=method, L=L, tc=tc, stderr=stderr)
    return out


def merge_estimates(per_size: Iterable[dict], extra: Iterable[dict] = ()
                    ) -> tuple[list[dict], dict]:
    """Per-size estimates (unsupervised and extra), then their finite-size-scaling
    extrapolations: ``(tc_estimates, fits)``.  This is the extension point for
    supervised estimates: pass their per-size dicts as ``extra``.

    Estimates of the members of an ensemble (the same ``ensemble`` key: runs on one
    data file) are first combined into one per method and ensemble, with the models'
    spread in the error bar (:mod:`isingvae.stats.ensemble`); an estimate without the
    key is an ensemble of its own.
    """
    rows = [check_estimate(e) for e in [*per_size, *extra]]
    sized = ensemble_estimates({"ensemble": f"estimate {i}", **e}
                               for i, e in enumerate(rows) if e["L"] is not None)
    fss_rows, fits = extrapolate_estimates(sized)
    have = {e["method"] for e in fss_rows}
    given_fss = [e for e in rows if e["L"] is None and e["method"] not in have]
    return [*sized, *fss_rows, *given_fss], fits


def extrapolate_estimates(sized: Iterable[dict], **kwargs) -> tuple[list[dict], dict]:
    """:func:`isingvae.stats.fss.extrapolate` of per-size estimates (``kwargs`` passed
    on), each ``-fss`` entry with the replicate counts summed over the per-size
    estimates it was fitted to (when they carry them)."""
    sized = [e for e in sized if e.get("L") is not None]
    entries, fits = extrapolate(sized, **kwargs)
    base = {fss_method_name(str(e["method"]), model): str(e["method"])
            for e in sized for model in MODELS}
    for entry in entries:
        method = base.get(entry["method"])
        entry.update(combined_replicate_counts(e for e in sized if e["method"] == method))
    return entries, fits


def headline(tc_estimates: Iterable[dict], methods=HEADLINE_METHODS) -> dict:
    """The report's one T_c: :func:`isingvae.stats.fss.combine` of the ``-fss``
    extrapolations (nu fixed) of ``methods``, when they agree."""
    wanted = {f"{m}-fss" for m in methods}
    return combine(e for e in tc_estimates if e["method"] in wanted)
