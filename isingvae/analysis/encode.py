"""The part of the analysis that runs the trained model (TensorFlow, imported when called).

- :func:`encode`: latent points (posterior means) and log-variances of many
  configurations, in batches;
- :func:`encode_pair`: the codes of a whole file and, at zero field, of its
  spin-flipped copy (:class:`Codes`);
- :func:`reconstruct`: decoder probabilities at given latent points, and a sample.

Everything returned is numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isingvae import random

__all__ = ["Codes", "encode", "encode_pair", "reconstruct"]


@dataclass
class Codes:
    """Posterior means and log-variances ``(n, d)`` of a file's rows (``mean``,
    ``log_var``) and, with the spin-flipped copies appended when the field is zero
    (``both``, ``both_lv``: ``copies * n`` rows)."""

    mean: np.ndarray
    log_var: np.ndarray
    both: np.ndarray
    both_lv: np.ndarray
    symmetric: bool

    @property
    def copies(self) -> int:
        return 2 if self.symmetric else 1


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
    rng = random.generator(seed, "analysis", 1)
    spins = np.where(rng.random(p.shape) < p, 1, -1).astype(np.int8)
    return p, spins


def encode_pair(model, ds, on_batch=None) -> Codes:
    """Encode every configuration of ``ds`` and, at zero field, its spin-flipped copy
    (the Boltzmann weight is symmetric, so the copies are equally valid data and keep
    the latent order parameter from leaning toward whichever phase the chains happened
    to visit more)."""
    x = ds.x
    mean, log_var = encode(model, x, on_batch=on_batch)
    symmetric = ds.h == 0
    if not symmetric:
        return Codes(mean, log_var, mean, log_var, False)
    mean_flip, log_var_flip = encode(model, 1.0 - x, on_batch=on_batch)
    return Codes(mean, log_var, np.concatenate([mean, mean_flip]),
                 np.concatenate([log_var, log_var_flip]), True)
