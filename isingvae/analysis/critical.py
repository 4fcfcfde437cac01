"""Step of ``isingvae analyze``: critical temperatures of one (run, data) pair.

The unsupervised estimators of :mod:`isingvae.analysis.tc` run on the latent order
parameter :math:`\\zeta` (every row and, at zero field, its spin-flipped copy) with chain
bootstrap errors, and the same estimators on the Monte Carlo magnetization give each
estimator's own finite-size offset (``magnetization-*``, the report's reference column).
Estimators plugged in by the caller (a supervised head's crossing) receive a
:class:`~isingvae.analysis.pairs.PairContext` and return their own estimates, or
failures ``{"method", "L", "reason"}`` (no ``tc``), which join the latent estimators'
failures.  Every estimate is tagged with the pair's ensemble and member, and the
magnetization reference is computed once per data file (for the first member of its
ensemble).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from isingvae.analysis import figures
from isingvae.analysis.estimates import check_estimate
from isingvae.analysis.pairs import PairContext
from isingvae.analysis.tc import BINDER_LEVEL, ORDERED_LEVEL, estimate_tc
from isingvae.errors import InputError

__all__ = ["Critical", "critical_temperatures"]


@dataclass
class Critical:
    """Estimates of one pair: ``estimates`` and ``failures`` (report entries), the
    latent curves (``record``, for ``report.json``), the magnetization reference and the
    file name of the figure (``figure``, or ``None``)."""

    estimates: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    record: dict | None = None
    reference_estimates: list = field(default_factory=list)
    figure: str | None = None


def critical_temperatures(pair, model, codes, lp, settings: dict, out,
                          estimators: Sequence[Callable]) -> Critical:
    """Every T_c estimate of the pair (module docstring); fills the curves of the latent
    estimators into ``lp.per_temperature`` and draws ``tc_<tag>.png``."""
    ds = pair.dataset
    boot, seed = settings["bootstrap"], settings["seed"]
    copies = codes.copies
    T2, chain2 = np.tile(ds.temperature, copies), np.tile(ds.chain, copies)
    result = Critical()
    analysis = None
    try:
        analysis = estimate_tc(lp.zeta_all, T2, chain2, L=pair.L, replicates=boot, seed=seed)
    except InputError as exc:
        result.failures.append({"method": "latent-*", "L": pair.L, "reason": str(exc)})
    if analysis is not None:
        m = ds.magnetization
        m_all = np.concatenate([m, -m]) if codes.symmetric else m
        reference = estimate_tc(m_all, T2, chain2, L=pair.L, replicates=boot, seed=seed)
        if pair.member == 0:                  # the data's own estimates: once per file
            result.reference_estimates = [
                {**est, "method": est["method"].replace("latent-", "magnetization-", 1)}
                for est in reference.estimates]
        result.estimates += analysis.estimates
        result.failures += analysis.failures
        result.record = analysis.to_json()
        curves = result.record.pop("per_temperature")
        for row, curve_row in zip(lp.per_temperature, curves, strict=True):
            row.update({k: v for k, v in curve_row.items() if k not in row})
        result.figure = figures.tc_curves(
            out / f"tc_{pair.tag}.png", analysis, pair.L,
            {"binder": BINDER_LEVEL, "ordered_fraction": ORDERED_LEVEL}, reference)
    ctx = PairContext(pair, model, ds, codes.latent, codes.log_var, lp.zeta, settings)
    for fn in estimators:
        for est in fn(ctx):
            if "tc" not in est and "reason" in est:
                result.failures.append(est)
            else:
                result.estimates.append(check_estimate(est))
    for est in result.estimates:        # members of one ensemble are combined later
        est.update(ensemble=pair.ensemble, member=pair.member)
    return result
