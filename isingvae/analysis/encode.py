"""The part of the analysis that runs the trained model (TensorFlow, imported when called).

- :func:`run_settings`: a run directory's ``config.json``, read and checked without
  TensorFlow (so bad input is refused before anything heavy starts);
- :func:`encode`: latent points (posterior means) and log-variances of many
  configurations, in batches;
- :func:`reconstruct`: decoder probabilities at given latent points, and a sample.

Everything returned is numpy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from isingvae.errors import InputError

__all__ = ["encode", "reconstruct", "run_settings"]

_CONFIG, _MODEL = "config.json", "model.keras"


def run_settings(run_dir: str | os.PathLike) -> dict:
    """``config.json`` of a finished run, checked: it exists, parses and names ``L``."""
    run_dir = Path(run_dir)
    cfg = run_dir / _CONFIG
    if not run_dir.is_dir() or not cfg.is_file():
        raise InputError(f"{run_dir} is not a run directory (no {_CONFIG}); make one with "
                         f"'isingvae train FILE.h5 --out {run_dir}'")
    try:
        config = json.loads(cfg.read_text())
        int(config["data"]["L"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{cfg} is unreadable or lacks data.L; is {run_dir} a run "
                         f"directory made by 'isingvae train'?") from None
    if not (run_dir / _MODEL).is_file():
        raise InputError(f"{run_dir} has no {_MODEL}: its training has not finished; run the "
                         f"same 'isingvae train' command again to resume it")
    return config


def encode(model, x: np.ndarray, batch_size: int = 1024, on_batch=None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Latent point and posterior ``log_var``, each ``(n, d)`` float64, of Bernoulli inputs
    ``x`` ``(n, L, L, 1)``.

    The point is the posterior mean; for a posterior with a normalizing flow it is that
    mean pushed through the flow, and ``log_var`` is that of the flow's Gaussian base
    (``model.posterior_summary``: one pass of the encoder).
    """
    import tensorflow as tf

    from isingvae.models import compiled

    fn = compiled(model, "posterior_summary")
    means, log_vars = [], []
    for b in range(0, len(x), batch_size):
        mean, log_var = fn(tf.constant(x[b:b + batch_size], tf.float32))
        means.append(mean.numpy().astype(np.float64))
        log_vars.append(log_var.numpy().astype(np.float64))
        if on_batch is not None:
            on_batch(min(batch_size, len(x) - b))
    d = int(model.latent_dim)
    if not means:
        return np.empty((0, d)), np.empty((0, d))
    return np.concatenate(means), np.concatenate(log_vars)


def reconstruct(model, mean: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``P(s = +1)`` of every spin decoded from latents ``mean`` ``(n, d)`` (the posterior
    means of the configurations to reconstruct), ``(n, L, L)``, and one Bernoulli sample
    of spins of +-1 from it."""
    import tensorflow as tf

    logits = model.decode(tf.constant(mean, tf.float32)).numpy()[..., 0].astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-logits))
    rng = np.random.default_rng(seed)
    spins = np.where(rng.random(p.shape) < p, 1, -1).astype(np.int8)
    return p, spins
