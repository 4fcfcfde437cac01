r"""Log-densities and divergences of the VAE family, in nats per configuration.

Bernoulli variables ``x_i = (s_i + 1) / 2`` in {0, 1} on the ``L x L`` lattice, Gaussian
latents ``z`` of dimension ``d``:

.. math::

    \log \mathcal N(z; \mu, \mathrm{diag}\,\sigma^2)
        = -\tfrac12 \sum_j \bigl[\log 2\pi + \log\sigma_j^2
          + (z_j - \mu_j)^2 / \sigma_j^2\bigr],

    \mathrm{KL}\bigl(\mathcal N(\mu, \sigma^2) \,\|\, \mathcal N(0, 1)\bigr)_j
        = \tfrac12 (\sigma_j^2 + \mu_j^2 - 1 - \log \sigma_j^2),

    \log p(x \mid \ell) = \sum_i \log \mathrm{Bernoulli}(x_i; \sigma(\ell_i))
        = -\sum_i \mathrm{softplus}\bigl(-(2x_i - 1)\,\ell_i\bigr),

the last written with softplus so that it stays finite for any logit ``l``.
"""

from __future__ import annotations

import math

import tensorflow as tf

__all__ = ["LOG_2PI", "bernoulli_log_prob", "bernoulli_sample", "gaussian_kl",
           "gaussian_kl_between", "gaussian_log_prob", "standard_normal_log_prob"]

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(z, mean, log_var):
    """log N(z; mean, diag exp(log_var)), summed over the last axis."""
    return -0.5 * tf.reduce_sum(
        LOG_2PI + log_var + tf.square(z - mean) * tf.exp(-log_var), axis=-1)


def standard_normal_log_prob(z):
    """log N(z; 0, I), summed over the last axis."""
    return -0.5 * tf.reduce_sum(LOG_2PI + tf.square(z), axis=-1)


def gaussian_kl(mean, log_var):
    """KL(N(mean, diag exp(log_var)) || N(0, I)) per dimension (same shape as ``mean``)."""
    return 0.5 * (tf.exp(log_var) + tf.square(mean) - 1.0 - log_var)


def bernoulli_log_prob(x, logits):
    """sum_i log Bernoulli(x_i; sigmoid(logits_i)) over the lattice axes.

    ``x`` in {0, 1} of shape ``(..., L, L, 1)``; written as ``-softplus(-s * logit)``
    with ``s = 2 x - 1`` so that it stays finite for any logit.
    """
    s = 2.0 * x - 1.0
    return -tf.reduce_sum(tf.nn.softplus(-s * logits), axis=[-3, -2, -1])


def bernoulli_sample(logits, seed):
    """One draw in {0, 1} per logit, ``x_i = 1`` with probability ``sigmoid(logit_i)``,
    from the stateless ``seed`` (two integers): ``log u < log sigmoid(logit)`` with ``u``
    uniform, which stays exact for logits of any size.  Same shape and dtype as
    ``logits``."""
    u = tf.random.stateless_uniform(tf.shape(logits), seed=seed, dtype=logits.dtype)
    return tf.cast(tf.math.log(u) < tf.math.log_sigmoid(logits), logits.dtype)


def gaussian_kl_between(mean_q, log_var_q, mean_p, log_var_p):
    """KL(N(mean_q, var_q) || N(mean_p, var_p)) per dimension (diagonal Gaussians)."""
    return 0.5 * (log_var_p - log_var_q
                  + (tf.exp(log_var_q) + tf.square(mean_q - mean_p)) * tf.exp(-log_var_p)
                  - 1.0)
