"""Scores of a supervised head on held-out configurations.

For a model with a phase classifier (``predict_phase``, P(ordered | x)): the accuracy
of ``P > 1/2`` against the label ``T < T_c``, overall and away from the transition
(``|T - T_c| >`` :data:`AWAY_FROM_TC`, where the label belongs to the configuration
rather than to the temperature), and the mean P(ordered) per temperature.  For a
temperature head (``predict_temperature``): the RMSE of the predicted temperature and
its :math:`R^2` over the held-out rows.
"""

from __future__ import annotations

import os

import numpy as np

from isingvae.errors import InputError

__all__ = ["AWAY_FROM_TC", "head_block", "head_metrics", "predictions"]

#: |T - Tc| beyond which the phase accuracy is also reported as "away from Tc"
AWAY_FROM_TC = 0.2


def predictions(model, x: np.ndarray, what: str, batch_size: int = 1024) -> np.ndarray:
    """``model.predict_phase`` (P(ordered)) or ``model.predict_temperature`` of Bernoulli
    configurations ``x`` ``(n, L, L, 1)``, in batches: ``(n,)`` float64."""
    import tensorflow as tf

    from isingvae.models import compiled

    fn = compiled(model, f"predict_{what}")
    out = [fn(tf.constant(x[b:b + batch_size], tf.float32)).numpy()
           for b in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float64) if out else np.empty(0)


def head_metrics(run_dir: str | os.PathLike, model=None) -> dict:
    """The ``head`` block of :func:`~isingvae.evaluation.evaluate` without the likelihood.

    Scores the run's head on the held-out chains of its training file (as recorded in
    the run directory), with ``per_temperature`` rows of the mean P(ordered) or
    predicted temperature.  Writes nothing.  ``model``: the run's model when already
    loaded.
    """
    from isingvae.data import IsingDataset
    from isingvae.training import RunDir

    run = RunDir(run_dir)
    record = run.trained()
    if model is None:
        model, _ = run.load()
    if not getattr(model, "predicts", ()):
        raise InputError(f"{run.path} has no supervised head (it was trained with --head "
                         f"none)")
    held = run.held_out(IsingDataset(record["data"]["path"]), record).rows
    rows = [{"temperature": float(t), "n": int((held.temperature == t).sum())}
            for t in np.unique(held.temperature)]
    result = head_block(model, held, rows)
    result["per_temperature"] = rows
    return result


def head_block(model, held, rows: list[dict]) -> dict:
    """Supervised figures on the held-out view ``held`` (module docstring), added to the
    per-temperature ``rows`` and returned overall."""
    from isingvae.exact import critical_temperature

    tc = critical_temperature()
    T = held.temperature
    x = held.x
    out = {"predicts": list(model.predicts), "tc": tc, "n": int(held.n)}
    by_t = {round(r["temperature"], 9): r for r in rows}

    def per_temperature(values: dict) -> None:
        for temp in np.unique(T):
            r = by_t.get(round(float(temp), 9))
            if r is not None:
                sel = T == temp
                r.update({k: float(f(sel)) for k, f in values.items()})

    if "phase" in model.predicts:
        p = predictions(model, x, "phase")
        right = (p > 0.5) == (T < tc)
        away = np.abs(T - tc) > AWAY_FROM_TC
        out.update(accuracy=float(right.mean()),
                   accuracy_away_from_tc=float(right[away].mean()) if away.any() else None,
                   away_from_tc=AWAY_FROM_TC)
        per_temperature({"p_ordered_mean": lambda s: p[s].mean(),
                         "phase_accuracy": lambda s: right[s].mean()})
    if "temperature" in model.predicts:
        t_hat = predictions(model, x, "temperature")
        resid = t_hat - T
        total = float(np.sum((T - T.mean()) ** 2))
        out.update(r2=1.0 - float(np.sum(resid**2)) / total if total > 0 else None,
                   temperature_rmse=float(np.sqrt(np.mean(resid**2))))
        per_temperature({"temperature_pred_mean": lambda s: t_hat[s].mean(),
                         "temperature_pred_rmse": lambda s: np.sqrt(np.mean(resid[s] ** 2))})
    return out
