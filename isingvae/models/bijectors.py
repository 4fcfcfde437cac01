"""Planar and radial flows (Rezende & Mohamed 2015) as TensorFlow Probability bijectors.

Both are used to enrich a posterior: a sample ``z_0`` of the Gaussian base is pushed
through ``z_k = f_k(z_{k-1})`` and its density follows from the change of variables,

    log q_K(z_K) = log q_0(z_0) - sum_k log |det df_k / dz_{k-1}|,

which needs only the forward map and its log-determinant, both cheap.  Neither map
has a closed-form inverse, so :meth:`inverse` is not implemented: such a posterior
can be sampled and scored at its own samples
(``TransformedDistribution.experimental_sample_and_log_prob``), but not scored at an
arbitrary point.

Invertibility holds for every value of the raw parameters:

- planar ``f(z) = z + u_hat tanh(w.z + b)`` is invertible when ``w.u_hat >= -1``;
  ``u_hat = u + (m(w.u) - w.u) w / |w|^2`` with ``m(a) = -1 + softplus(a) > -1``
  moves ``u`` along ``w`` so that ``w.u_hat = m(w.u)`` (plus a margin of 1e-3, so that
  the determinant stays positive after rounding: ``softplus`` of a very negative
  number rounds to 0);
- radial ``f(z) = z + beta h (z - z0)``, ``h = 1 / (alpha + |z - z0|)``, is
  invertible when ``alpha > 0`` and ``beta >= -alpha``; the raw parameters are
  mapped by ``alpha = softplus(a)`` and ``beta = -alpha + softplus(b)``.

Parameters may carry batch dimensions in front of the event dimension (amortized
flows: one set per configuration), broadcasting against ``z``.

This module imports TensorFlow Probability (:mod:`isingvae.models._tfp`);
:mod:`isingvae.models` imports it only when a flow is built.
"""

from __future__ import annotations

import tensorflow as tf

from isingvae.models._tfp import ParameterProperties, tfb

__all__ = ["Planar", "Radial", "planar_u_hat", "radial_alpha_beta"]

_TINY = 1e-12
#: w . u_hat >= -1 + PLANAR_MARGIN, so 1 + tanh' w . u_hat >= PLANAR_MARGIN > 0
PLANAR_MARGIN = 1e-3


def planar_u_hat(w, u):
    """The constrained direction ``u_hat`` with ``w . u_hat = -1 + PLANAR_MARGIN +
    softplus(w . u)`` (the margin keeps the determinant away from 0 in floating point)."""
    wu = tf.reduce_sum(w * u, axis=-1, keepdims=True)
    w_sq = tf.reduce_sum(tf.square(w), axis=-1, keepdims=True)
    m = -1.0 + PLANAR_MARGIN + tf.nn.softplus(wu)
    return u + (m - wu) * w / (w_sq + _TINY)


def radial_alpha_beta(alpha_raw, beta_raw):
    """``alpha = softplus(alpha_raw) > 0`` and ``beta = -alpha + softplus(beta_raw)``."""
    alpha = tf.nn.softplus(alpha_raw)
    return alpha, -alpha + tf.nn.softplus(beta_raw)


class Planar(tfb.Bijector):
    """``f(z) = z + u_hat tanh(w . z + b)`` on vectors (event rank 1); forward only.

    ``w``, ``u``: ``(..., d)``; ``b``: ``(...)``.  The log-determinant is
    ``log |1 + u_hat . w tanh'(w . z + b)|`` (matrix determinant lemma).  There is no
    analytic inverse (the map is invertible, but inverting it needs a root search), so
    this bijector serves posteriors, which only sample and score their own samples.
    """

    def __init__(self, w, u, b, validate_args=False, name="planar"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._w = tf.convert_to_tensor(w)
            self._u = tf.convert_to_tensor(u, dtype=self._w.dtype)
            self._b = tf.convert_to_tensor(b, dtype=self._w.dtype)
            super().__init__(forward_min_event_ndims=1, validate_args=validate_args,
                             parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype):
        return dict(w=ParameterProperties(event_ndims=1),
                    u=ParameterProperties(event_ndims=1),
                    b=ParameterProperties(event_ndims=0))

    @property
    def u_hat(self):
        return planar_u_hat(self._w, self._u)

    def _activation(self, z):
        return tf.reduce_sum(self._w * z, axis=-1, keepdims=True) + self._b[..., None]

    def _forward(self, z):
        return z + self.u_hat * tf.tanh(self._activation(z))

    def _forward_log_det_jacobian(self, z):
        slope = 1.0 - tf.square(tf.tanh(self._activation(z)))         # tanh'
        wu = tf.reduce_sum(self._w * self.u_hat, axis=-1, keepdims=True)
        return tf.math.log(tf.abs(1.0 + slope * wu))[..., 0]


class Radial(tfb.Bijector):
    """``f(z) = z + beta (z - z0) / (alpha + |z - z0|)`` on vectors; forward only.

    ``z0``: ``(..., d)``; ``alpha_raw``, ``beta_raw``: ``(...)``, mapped to ``alpha > 0``
    and ``beta >= -alpha`` (module docstring).  With ``r = |z - z0|`` and
    ``h = 1 / (alpha + r)`` the Jacobian has eigenvalue ``1 + beta h`` (d - 1 times,
    across the radius) and ``1 + beta alpha h^2`` (along it).  No analytic inverse (the
    radial equation is solvable, but posteriors never need it).
    """

    def __init__(self, z0, alpha_raw, beta_raw, validate_args=False, name="radial"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._z0 = tf.convert_to_tensor(z0)
            self._alpha_raw = tf.convert_to_tensor(alpha_raw, dtype=self._z0.dtype)
            self._beta_raw = tf.convert_to_tensor(beta_raw, dtype=self._z0.dtype)
            super().__init__(forward_min_event_ndims=1, validate_args=validate_args,
                             parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype):
        return dict(z0=ParameterProperties(event_ndims=1),
                    alpha_raw=ParameterProperties(event_ndims=0),
                    beta_raw=ParameterProperties(event_ndims=0))

    def _parts(self, z):
        alpha, beta = radial_alpha_beta(self._alpha_raw, self._beta_raw)
        diff = z - self._z0
        r = tf.sqrt(tf.maximum(tf.reduce_sum(tf.square(diff), axis=-1), _TINY))
        return diff, r, alpha, beta

    def _forward(self, z):
        diff, r, alpha, beta = self._parts(z)
        return z + (beta / (alpha + r))[..., None] * diff

    def _forward_log_det_jacobian(self, z):
        _, r, alpha, beta = self._parts(z)
        h = 1.0 / (alpha + r)
        d = tf.cast(tf.shape(z)[-1], z.dtype)
        # 1 + beta h = (alpha + beta + r) h, with alpha + beta = softplus(beta_raw) > 0
        across = tf.math.log(tf.nn.softplus(self._beta_raw) + r) + tf.math.log(h)
        return (d - 1.0) * across + tf.math.log1p(beta * alpha * tf.square(h))
