"""Two-level VAE with top-down inference.

Generative model, top to bottom (``z = (z1, z2)``, ``d = d1 + d2``)::

    z2 ~ N(0, I_d2),   z1 | z2 ~ N(mu_p(z2), diag sigma_p^2(z2)),   x | z1, z2 ~ Bernoulli

Inference follows the same order (the top-down factorisation of the lecture notes)::

    q(z1, z2 | x) = q(z2 | x) q(z1 | x, z2)

``q(z2|x)`` comes from the usual encoder, which also emits a feature vector ``c(x)``;
``q(z1|x, z2)`` is a small network on ``(c(x), z2)``.  The prior of the lower level is
learned, so the model can put correlated, non-Gaussian mass on ``z1`` (the marginal
``p(z1) = int p(z1|z2) p(z2) dz2`` is a continuous Gaussian mixture), and the
posterior ``q(z1, z2|x)`` is no longer a product of independent Gaussians.

The KL term, ``E_q[log q(z1,z2|x) - log p(z1,z2)]``, is estimated as
``KL(q(z2|x) || p(z2)) + KL(q(z1|x,z2) || p(z1|z2))`` at the sampled ``z2``, both in
closed form (``kl_estimator="analytic"``: unbiased, lower variance, and per dimension
for free bits), or as the one-sample ``log q - log p`` (``"mc"``).  Everything else
(objective, warm-up, importance-weighted likelihood, sampling) is inherited from
:class:`~isingvae.models.vae.VAE` through ``posterior_sample``, ``prior_log_prob``
and ``prior_sample``.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.models.densities import (
    gaussian_kl,
    gaussian_kl_between,
    gaussian_log_prob,
    standard_normal_log_prob,
)
from isingvae.models.networks import apply_flat, build_encoder, mlp
from isingvae.models.options import MODEL_DEFAULTS as _D
from isingvae.models.vae import VAE

__all__ = ["HierarchicalVAE", "default_top_dim"]


def default_top_dim(latent_dim: int) -> int:
    """Size of the top level when none is given: a quarter of the latent dimension."""
    return max(1, int(latent_dim) // 4)


@keras.saving.register_keras_serializable(package="isingvae")
class HierarchicalVAE(VAE):
    """Two latent levels, ``z1`` (``latent_dim - top_dim``) below ``z2`` (``top_dim``).

    Latent vectors everywhere in the API are ``z = concat(z1, z2)`` of size
    ``latent_dim``; ``encode`` gives the posterior means and log-variances of both
    levels (``z1``'s at the mean of ``z2``).  Flows and learned priors do not apply.
    """

    def __init__(self, L: int, latent_dim: int = _D["latent_dim"], top_dim: int | None = None,
                 **kwargs):
        latent_dim = _v.count("latent dimension", latent_dim, 2)
        top = default_top_dim(latent_dim) if top_dim is None else top_dim
        self.top_dim = _v.count("top latent dimension", top, 1)
        if self.top_dim >= latent_dim:
            raise InputError(f"top latent dimension {top_dim} must be smaller than the "
                             f"latent dimension {latent_dim}")
        self.bottom_dim = latent_dim - self.top_dim
        for key in ("flow", "prior"):
            if kwargs.get(key, "none" if key == "flow" else "normal") not in ("none", "normal"):
                raise InputError(f"a hierarchical VAE takes no {key} option "
                                 f"(got {kwargs[key]!r})")
        super().__init__(L, latent_dim, **kwargs)

    def _build_networks(self):
        d1, d2 = self.bottom_dim, self.top_dim
        width = self.units[-1] if self.units else 128
        self.context_dim = width
        self.encoder = build_encoder(self.L, d2, self.family, self.filters, self.units,
                                     self.activation, extra=width)
        self.bottom_posterior = mlp(width + d2, width, 2 * d1, self.activation,
                                     "bottom_posterior")
        self.bottom_prior = mlp(d2, width, 2 * d1, self.activation, "bottom_prior")
        self.decoder = self._make_decoder(self.latent_dim)

    def _analytic_kl_exists(self) -> bool:
        return True

    def get_config(self):
        return {**super().get_config(), "top_dim": self.top_dim}

    # ------------------------------------------------------------ pieces
    def _top(self, x, training):
        h = self.encoder(x, training=training)
        d2 = self.top_dim
        return h[..., :d2], h[..., d2:2 * d2], h[..., 2 * d2:]

    def _bottom(self, context, z2, training=False):
        """q(z1|x, z2): (mean, log_var), with ``context`` (B, c) broadcast over the
        leading sample axes of ``z2``."""
        ctx = tf.broadcast_to(context, tf.concat([tf.shape(z2)[:-1], [self.context_dim]], 0))
        out = apply_flat(self.bottom_posterior, tf.concat([ctx, z2], axis=-1))
        return out[..., :self.bottom_dim], out[..., self.bottom_dim:]

    def _bottom_prior(self, z2):
        out = apply_flat(self.bottom_prior, z2)
        return out[..., :self.bottom_dim], out[..., self.bottom_dim:]

    def encode(self, x, training=False):
        mean2, log_var2, context = self._top(x, training)
        mean1, log_var1 = self._bottom(context, mean2, training)
        return tf.concat([mean1, mean2], -1), tf.concat([log_var1, log_var2], -1)

    def encode_with_context(self, x, training=False):
        mean, log_var = self.encode(x, training)
        return mean, log_var, mean[..., :0]

    def posterior(self, x, training=False):
        raise InputError("the two-level posterior is sampled level by level; use "
                         "posterior_sample")

    def posterior_sample(self, x, n: int, seed, training=False):
        """``z = (z1, z2)`` drawn top-down; ``log_q = log q(z2|x) + log q(z1|x,z2)``.
        The third element holds ``(mean1, log_var1, mean2, log_var2)``."""
        mean2, log_var2, context = self._top(x, training)
        seed = tf.convert_to_tensor(seed)
        s_top = tf.random.experimental.stateless_fold_in(seed, 0)
        s_bottom = tf.random.experimental.stateless_fold_in(seed, 1)
        eps2 = tf.random.stateless_normal(tf.concat([[n], tf.shape(mean2)], 0), seed=s_top)
        z2 = mean2 + tf.exp(0.5 * log_var2) * eps2
        mean1, log_var1 = self._bottom(context, z2, training)
        eps1 = tf.random.stateless_normal(tf.shape(mean1), seed=s_bottom)
        z1 = mean1 + tf.exp(0.5 * log_var1) * eps1
        log_q = (gaussian_log_prob(z2, mean2, log_var2)
                 + gaussian_log_prob(z1, mean1, log_var1))
        return tf.concat([z1, z2], -1), log_q, (mean1, log_var1, mean2, log_var2)

    def prior_log_prob(self, z, x=None):
        z1, z2 = z[..., :self.bottom_dim], z[..., self.bottom_dim:]
        mean1, log_var1 = self._bottom_prior(z2)
        return standard_normal_log_prob(z2) + gaussian_log_prob(z1, mean1, log_var1)

    def prior_sample(self, n: int, seed, temperature=None):
        seed = tf.convert_to_tensor(seed)
        z2 = tf.random.stateless_normal(
            [n, self.top_dim], seed=tf.random.experimental.stateless_fold_in(seed, 0))
        mean1, log_var1 = self._bottom_prior(z2)
        eps1 = tf.random.stateless_normal(
            tf.shape(mean1), seed=tf.random.experimental.stateless_fold_in(seed, 1))
        return tf.concat([mean1 + tf.exp(0.5 * log_var1) * eps1, z2], -1)

    def terms(self, x, seed, training=False):
        z, log_q, (mean1, log_var1, mean2, log_var2) = self.posterior_sample(
            x, 1, seed, training=training)
        recon = -self.log_px(x, z[0], training=training)
        if self.kl_estimator == "mc":
            return recon, log_q[0] - self.prior_log_prob(z[0], x), None
        prior_mean1, prior_log_var1 = self._bottom_prior(z[0, :, self.bottom_dim:])
        kl_dims = tf.concat([
            gaussian_kl_between(mean1[0], log_var1[0], prior_mean1, prior_log_var1),
            gaussian_kl(mean2, log_var2)], axis=-1)
        return recon, tf.reduce_sum(kl_dims, axis=-1), kl_dims
