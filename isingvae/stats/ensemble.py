r"""Estimates of an ensemble of models: the data's error and the models' spread, together.

A pseudo-critical temperature measured through a trained model carries two kinds of
error.  The Monte Carlo data are a finite sample (the chain bootstrap of each estimate
measures that), and the model is one draw of a training procedure: another training
seed, on the same data, gives another :math:`T_c(L)`.  Several models trained on the
same file (an *ensemble*, members :math:`k = 1 \dots K`) measure the second.

For one method and one ensemble, with member estimates :math:`t_k` and chain-bootstrap
errors :math:`b_k`, :func:`ensemble_estimates` reports

.. math::
    \bar t = \frac1K \sum_k t_k, \qquad
    \sigma^2 = \underbrace{\frac1K \sum_k b_k^2}_{\text{chains}}
             + \underbrace{s^2 / K}_{\text{models}} .

The chain part does not shrink with :math:`K`: the members share the data, so their
chain errors are (nearly) fully correlated.  :math:`s^2` is the variance of one model's
estimate about the ensemble mean, pooled over every ensemble of the method (the
lattice sizes), :math:`s^2 = \sum_{g} \sum_k (t_{gk} - \bar t_g)^2 / \sum_g (K_g - 1)`,
so that two members per size still give it several degrees of freedom.  Members on the
same data differ only by their training, so the spread of :math:`t_k` measures the
models alone.  Without any ensemble of two or more members the model part is unknown
and left out, and the entry says so.

>>> rows = [{"method": "m", "L": L, "tc": t, "stderr": 0.01, "ensemble": L}
...         for L, t in [(16, 2.30), (16, 2.32), (32, 2.28), (32, 2.28)]]
>>> [(e["L"], round(e["tc"], 3), round(e["stderr"], 4)) for e in ensemble_estimates(rows)]
[(16, 2.31, 0.0122), (32, 2.28, 0.0122)]

References:

- B. Lakshminarayanan, A. Pritzel and C. Blundell, "Simple and scalable predictive
  uncertainty estimation using deep ensembles", Advances in Neural Information
  Processing Systems (2017): the spread of networks trained from different random
  seeds as a measure of the uncertainty a single network hides.
- B. Efron, "Bootstrap methods: another look at the jackknife", Ann. Statist. 7, 1-26
  (1979): the bootstrap behind each member's chain error :math:`b_k`, here with whole
  Markov chains as the resampled units (:mod:`isingvae.stats.resampling`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from isingvae.errors import InputError
from isingvae.stats.resampling import combined_replicate_counts

__all__ = ["ensemble_estimates", "model_spread"]


def _groups(rows: Iterable[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if "ensemble" not in r:
            raise InputError(f"an ensemble estimate needs its 'ensemble' key, got {r!r}")
        groups.setdefault((str(r["method"]), r["ensemble"]), []).append(r)
    return groups


def model_spread(rows: Iterable[dict]) -> dict[str, tuple[float, int]]:
    """Method -> (pooled standard deviation of one model's estimate, its degrees of
    freedom), from every ensemble with two or more members (module docstring)."""
    ss: dict[str, float] = {}
    dof: dict[str, int] = {}
    for (method, _), members in _groups(rows).items():
        if len(members) < 2:
            continue
        t = np.array([float(m["tc"]) for m in members])
        ss[method] = ss.get(method, 0.0) + float(np.sum((t - t.mean()) ** 2))
        dof[method] = dof.get(method, 0) + t.size - 1
    return {m: (math.sqrt(ss[m] / dof[m]), dof[m]) for m in ss}


def ensemble_estimates(rows: Iterable[dict]) -> list[dict]:
    """One estimate per (method, ensemble) from the members' estimates.

    ``rows``: ``tc_estimates``-shaped dicts, each with an ``ensemble`` key (what the
    members share: the data file) and optionally ``member`` (its index).  Each result
    keeps the first member's other keys and gains ``ensemble`` (the number of members
    that gave an estimate), ``member_tc``, ``stderr_chains``, ``stderr_model`` (``None``
    when unknown), ``model_spread`` and ``model_spread_dof``; bootstrap members' replicate
    counts are summed (:func:`isingvae.stats.resampling.combined_replicate_counts`).
    Order: first appearance.
    """
    rows = list(rows)
    spread = model_spread(rows)
    out = []
    for (method, _), members in _groups(rows).items():
        t = np.array([float(m["tc"]) for m in members])
        b = np.array([float(m["stderr"]) for m in members])
        chains = float(math.sqrt(np.mean(b**2)))
        s, dof = spread.get(method, (None, 0))
        model = None if s is None else s / math.sqrt(t.size)
        entry = {k: v for k, v in members[0].items() if k not in ("member", "ensemble")}
        entry.update(tc=float(t.mean()),
                     stderr=chains if model is None else math.hypot(chains, model),
                     ensemble=int(t.size), member_tc=t.tolist(), stderr_chains=chains,
                     stderr_model=model, model_spread=s, model_spread_dof=dof)
        entry.update(combined_replicate_counts(members))
        if model is None:
            entry["note_model"] = ("one model per size: the spread over training seeds is "
                                   "not in the error bar")
        out.append(entry)
    return out
