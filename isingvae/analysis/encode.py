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
from isingvae.data.symmetry import to_spins

__all__ = ["Codes", "encode", "encode_pair", "model_inputs", "reconstruct"]


@dataclass
class Codes:
    """Posterior means and log-variances ``(n, d)`` of a file's rows (``mean``,
    ``log_var``); the latent coordinates the analysis uses (``latent``: the means, centred
    on the prior's mean at each row's temperature for a model conditioned on it) and,
    with the spin-flipped copies appended when the field is zero, ``both`` and
    ``both_lv`` (``copies * n`` rows; for a model conditioned on temperature, the codes
    at the reference temperature, the same as ``order``).  ``prior_log_var`` is the
    log-variance of the conditional prior (moment-matched, for a mixture) at each row
    (``None`` for the standard normal prior).

    ``order`` and ``order_lv`` (``copies * n`` rows) are the codes the latent order
    parameter is made of: ``both`` and ``both_lv`` for an unconditioned model; for a
    model conditioned on temperature, every row encoded at one reference temperature
    (:func:`encode_pair`)."""

    mean: np.ndarray
    log_var: np.ndarray
    latent: np.ndarray
    both: np.ndarray
    both_lv: np.ndarray
    symmetric: bool
    prior_log_var: np.ndarray | None = None
    order: np.ndarray | None = None
    order_lv: np.ndarray | None = None

    def __post_init__(self):
        if self.order is None:
            self.order, self.order_lv = self.both, self.both_lv

    @property
    def copies(self) -> int:
        return 2 if self.symmetric else 1

    def kl_per_dimension(self) -> np.ndarray:
        """KL of the diagonal Gaussian posterior to the prior (N(0, 1), or p(z|T)) per
        coordinate, averaged over the rows, in nats."""
        lv_p = 0.0 if self.prior_log_var is None else self.prior_log_var
        kl = 0.5 * (lv_p - self.log_var + (np.exp(self.log_var) + self.latent**2)
                    * np.exp(-lv_p) - 1.0)
        return kl.mean(axis=0)


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


def reconstruct(model, mean: np.ndarray, x: np.ndarray | None = None, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Decode latent points ``mean`` ``(n, d)`` (posterior means of configurations, or
    draws from the prior): one sample of spins of +-1 from ``p(x | z)`` and ``P(s = +1)``
    of every spin, ``(n, L, L)`` each.  A model conditioned on temperature also needs the
    model inputs ``x`` ``(n, L, L, 2)`` the points belong to, whose second channel holds
    T; other models ignore ``x``.  For an autoregressive decoder the probabilities are the
    per-site conditionals along the sample."""
    import tensorflow as tf

    if getattr(model, "conditioned", False) and x is None:
        raise ValueError("reconstruct: this model is conditioned on temperature; pass the "
                         "model inputs x (see model_inputs) that carry T")
    x = None if x is None else tf.constant(x, tf.float32)
    c = model._cond(tf.constant(mean, tf.float32), x)
    key = tf.constant(random.tf_key(seed, "analysis", 1), tf.int64)
    sample = model.sample_from(c, key)
    logits = model.conditional_logits(sample, c).numpy()[..., 0].astype(np.float64)
    return 1.0 / (1.0 + np.exp(-logits)), to_spins(sample.numpy())


def model_inputs(model, x: np.ndarray, temperature: np.ndarray) -> np.ndarray:
    """What the model reads: ``x`` itself, or with the standardised temperature as a
    second channel for a model conditioned on it."""
    if not getattr(model, "conditioned", False):
        return x
    return np.asarray(model.with_temperature(x, temperature))


def encode_pair(model, ds, on_batch=None) -> Codes:
    """Encode every configuration of ``ds`` and, at zero field, its spin-flipped copy
    (the Boltzmann weight is symmetric, so the copies are equally valid data and keep
    the latent order parameter from leaning toward whichever phase the chains happened
    to visit more).

    For a model conditioned on temperature the latent coordinates are centred on the
    mean of the prior ``p(z|T)`` at each row's temperature (the mean of the mixture,
    between its components): that prior moves with ``T``, and so do the posteriors with
    it; relative to it, what is left is what tells configurations of one temperature
    apart (the magnetization, mostly).

    Such a code is a function of the configuration *and* its temperature, which an order
    parameter must not be: the estimators of T_c compare the distribution of the order
    parameter across temperatures, and a code that the encoder re-scales with T moves
    those curves (measured on the main job's models: the clustering estimate fell 0.09
    below T_c, 4.6 standard errors).  So the order parameter of a conditioned model is
    made of every row encoded at one reference temperature, the centre of its training
    range (``order``, ``order_lv``): one fixed map of configurations, as the
    magnetization is.  That costs a conditioned model one more encoder pass."""
    conditioned = getattr(model, "conditioned", False)
    mean, log_var = encode(model, model_inputs(model, ds.x, ds.temperature),
                           on_batch=on_batch)
    centre, prior_lv = 0.0, None
    if conditioned:
        t = model.standardize(ds.temperature)[:, None]
        centre, prior_lv = (a.numpy().astype(np.float64) for a in model.prior_moments(t))
    latent = mean - centre
    reference = np.full_like(ds.temperature, float(model.t_center)) if conditioned else None

    def at_reference(x):
        return encode(model, model_inputs(model, x, reference), on_batch=on_batch)

    if ds.h != 0:
        order = at_reference(ds.x) if conditioned else (None, None)
        return Codes(mean, log_var, latent, latent, log_var, False, prior_lv, *order)
    if conditioned:          # the flipped copies serve the order parameter only
        (a, a_lv), (b, b_lv) = at_reference(ds.x), at_reference(1.0 - ds.x)
        order, order_lv = np.concatenate([a, b]), np.concatenate([a_lv, b_lv])
        return Codes(mean, log_var, latent, order, order_lv, True, prior_lv, order, order_lv)
    flipped = model_inputs(model, 1.0 - ds.x, ds.temperature)
    mean_flip, log_var_flip = encode(model, flipped, on_batch=on_batch)
    return Codes(mean, log_var, latent, np.concatenate([latent, mean_flip - centre]),
                 np.concatenate([log_var, log_var_flip]), True, prior_lv)
