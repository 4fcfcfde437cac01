r"""Supervised heads on the latent code: the variational information bottleneck.

A head is a small network ``z -> prediction`` of a label ``y`` that the Monte Carlo data
carry for free: the **temperature** ``T`` of each configuration (a Gaussian likelihood
on the standardised temperature, ``(T - t_mean) / t_std``, with a predicted mean and
log-variance), or the **phase** (a Bernoulli likelihood of ``y = 1`` for ordered,
``T < T_c`` with Onsager's ``T_c = 2 / ln(1 + sqrt 2)``).

The variational information bottleneck (Alemi et al. 2017, "Deep variational
information bottleneck") trains an encoder ``q(z|x)`` and the head ``q(y|z)`` to
maximise

.. math::

    \mathcal{J}_{VIB} = E_{p(x, y)} E_{q(z|x)} [\log q(y|z)]
                        - \beta\, E_{p(x)} KL(q(z|x) \,\|\, p(z)),

a lower bound on ``I(Z;Y) - beta I(Z;X)``: ``E KL(q(z|x) || p(z))`` bounds ``I(Z;X)``
from above (for any ``p(z)``), and ``H(Y) - E[-log q(y|z)]`` bounds ``I(Z;Y)`` from
below (for any decoder ``q(y|z)``), the two axes of the information plane
(:mod:`isingvae.analysis.infoplane`).

Two models:

- :class:`VIB`: encoder and head alone, no decoder (the bottleneck of the paper);
- :class:`HeadVAE`: the VAE with a head sharing its posterior sample ``z``, trained on
  ``ELBO(x) + w log q(y|z)`` per configuration, with ``w = head_weight * L^2`` (the
  head weight is given per spin so that one value suits every lattice size).

Both inherit the posterior from :class:`~isingvae.models.vae.VAE` (``posterior_sample``),
so a normalizing-flow posterior (``flow=...``) works with either.  Rows whose label is
masked out (a label fraction, or a window around ``T_c``) contribute the unsupervised
terms only.  Training data are ``(x, labels)`` with ``labels`` of shape ``(B,)`` (the
temperature; every row labelled) or ``(B, 2)`` (temperature, mask in {0, 1}).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.models.densities import (
    LOG_2PI,
    gaussian_kl,
    standard_normal_log_prob,
)
from isingvae.models.networks import build_encoder
from isingvae.models.options import MODEL_DEFAULTS as _D
from isingvae.models.vae import TRAIN_NOISE, VAE, VALIDATION_NOISE

__all__ = ["HEAD_KINDS", "VIB", "HeadVAE", "phase_label", "sample_and_kl"]

HEAD_KINDS = ("phase", "temperature")


def _critical_temperature() -> float:
    from isingvae.exact import critical_temperature

    return float(critical_temperature())


def phase_label(temperature, tc: float):
    """1.0 for the ordered phase (``T < tc``), 0.0 for the disordered one."""
    return tf.cast(temperature < tc, tf.float32)


def _mlp(n_in: int, width: int, n_out: int, activation: str, name: str) -> keras.Model:
    inp = keras.Input((n_in,), name="z")
    h = keras.layers.Dense(width, activation=activation, name="hidden0")(inp)
    h = keras.layers.Dense(width, activation=activation, name="hidden1")(h)
    out = keras.layers.Dense(n_out, name="out")(h)
    return keras.Model(inp, out, name=name)


def sample_and_kl(model: VAE, x, seed, training=False):
    """One posterior sample ``z`` (B, d), its KL term (B,) and the KL per dimension (or
    ``None``), with the estimators of :meth:`VAE.terms` (closed form for the Gaussian
    base plus the flow's one-sample correction, or the Monte Carlo estimate)."""
    z0, z, log_q0, log_det, mean, log_var = model._sample_with_flow(x, 1, seed, training)
    if model.kl_estimator == "analytic":
        kl_dims = gaussian_kl(mean, log_var)
        kl = tf.reduce_sum(kl_dims, axis=-1)
        if model.flow is None:
            return z[0], kl, kl_dims
        change = standard_normal_log_prob(z0[0]) - log_det[0] - standard_normal_log_prob(z[0])
        return z[0], kl + change, None
    return z[0], log_q0[0] - log_det[0] - model.prior_log_prob(z[0], x), None


class _Head:
    """What :class:`VIB` and :class:`HeadVAE` share: the head network, its likelihood,
    the unpacking of labelled batches and the head's metrics."""

    def _init_head(self, head, head_units, head_weight, t_mean, t_std, tc):
        self.head_kind = _v.choice("head", head, HEAD_KINDS)
        self.head_units = _v.count("head units", head_units, 1)
        self.head_weight = _v.real("head weight", head_weight, nonnegative=True)
        self.t_mean = _v.real("temperature mean", t_mean)
        self.t_std = _v.real("temperature scale", t_std, positive=True)
        self.tc = _critical_temperature() if tc is None else _v.real("Tc", tc, positive=True)
        self.predicts = (self.head_kind,)

    def _build_head(self):
        n_out = 1 if self.head_kind == "phase" else 2
        self.head = _mlp(self.latent_dim, self.head_units, n_out, self.activation, "head")

    def _add_head_trackers(self):
        names = ["head_nll", "accuracy" if self.head_kind == "phase" else "t_abs_error"]
        for name in names:
            self._trackers[name] = keras.metrics.Mean(name=name)

    def _head_config(self) -> dict:
        return {"head": self.head_kind, "head_units": self.head_units,
                "head_weight": self.head_weight, "t_mean": self.t_mean, "t_std": self.t_std,
                "tc": self.tc}

    # ------------------------------------------------------------ the head
    def head_outputs(self, z):
        """Raw head outputs for latents ``(..., d)``: the phase logit ``(..., 1)``, or the
        standardised temperature's mean and log-variance ``(..., 2)``."""
        shape = tf.shape(z)
        out = self.head(tf.reshape(z, [-1, self.latent_dim]))
        return tf.reshape(out, tf.concat([shape[:-1], [out.shape[-1]]], axis=0))

    def head_log_likelihood(self, z, temperature):
        """log q(y|z) in nats, for latents ``(..., d)`` and the rows' temperatures ``(...)``
        (the label is derived from the temperature)."""
        out = self.head_outputs(z)
        temperature = tf.cast(temperature, out.dtype)
        if self.head_kind == "phase":
            s = 2.0 * phase_label(temperature, self.tc) - 1.0
            return -tf.nn.softplus(-s * out[..., 0])
        y = (temperature - self.t_mean) / self.t_std
        mean, log_var = out[..., 0], out[..., 1]
        return -0.5 * (LOG_2PI + log_var + tf.square(y - mean) * tf.exp(-log_var))

    def _head_point(self, z):
        """The head's point prediction: P(ordered), or the temperature itself."""
        out = self.head_outputs(z)
        if self.head_kind == "phase":
            return tf.sigmoid(out[..., 0])
        return out[..., 0] * self.t_std + self.t_mean

    def predict_phase(self, x):
        """P(ordered | x) at the posterior's representative point, ``(B,)``."""
        if self.head_kind != "phase":
            raise InputError("this model's head predicts the temperature, not the phase")
        return self._head_point(self.posterior_point(x))

    def predict_temperature(self, x):
        """The predicted temperature at the posterior's representative point, ``(B,)``."""
        if self.head_kind != "temperature":
            raise InputError("this model's head predicts the phase, not the temperature")
        return self._head_point(self.posterior_point(x))

    # ------------------------------------------------------------ batches and metrics
    @staticmethod
    def _unpack(data):
        """``(x, temperature, mask)`` from ``x``, ``(x,)``, ``(x, T)`` or ``(x, [T, mask])``;
        a batch without labels has every row masked out."""
        if isinstance(data, tuple | list):
            x = data[0]
            y = data[1] if len(data) > 1 else None
        else:
            x, y = data, None
        batch = tf.shape(x)[0]
        if y is None:
            return x, tf.zeros([batch]), tf.zeros([batch])
        y = tf.cast(y, tf.float32)
        if y.shape.rank == 2:
            return x, y[:, 0], y[:, 1]
        return x, y, tf.ones_like(y)

    @staticmethod
    def _labelled_mean(values, mask):
        return tf.reduce_sum(values * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)

    def _update_head_metrics(self, z, temperature, mask, log_lik):
        self._trackers["head_nll"].update_state(-log_lik, sample_weight=mask)
        point = self._head_point(z)
        if self.head_kind == "phase":
            right = tf.cast((point > 0.5) == (temperature < self.tc), tf.float32)
            self._trackers["accuracy"].update_state(right, sample_weight=mask)
        else:
            self._trackers["t_abs_error"].update_state(tf.abs(point - temperature),
                                                       sample_weight=mask)
        return {name: t.result() for name, t in self._trackers.items()}


@keras.saving.register_keras_serializable(package="isingvae")
class HeadVAE(_Head, VAE):
    """The VAE with a supervised head on its posterior sample (module docstring).

    Objective per configuration, maximised:
    ``E_q[log p(x|z)] - beta KL + head_weight * L^2 * E_q[log q(y|z)]`` (the last term on
    labelled rows only); the metrics add ``head_nll`` (nats per labelled configuration)
    and ``accuracy`` (phase) or ``t_abs_error`` (temperature units).  ``t_mean`` and
    ``t_std`` standardise the temperature (set them from the training data); ``tc``
    (default Onsager's) separates the phases.
    """

    def __init__(self, L: int, latent_dim: int = _D["latent_dim"], head: str = "phase",
                 head_units: int = _D["head_units"],
                 head_weight: float = 1.0, t_mean: float = 0.0, t_std: float = 1.0,
                 tc: float | None = None, **kwargs):
        self._init_head(head, head_units, head_weight, t_mean, t_std, tc)
        super().__init__(L, latent_dim, **kwargs)
        self._add_head_trackers()

    def _build_networks(self):
        super()._build_networks()
        self._build_head()

    def get_config(self):
        return {**super().get_config(), **self._head_config()}

    def joint_terms(self, x, temperature, seed, training=False):
        """``(recon, kl, kl_dims, log q(y|z), z)`` with one shared posterior sample."""
        z, kl, kl_dims = sample_and_kl(self, x, seed, training)
        recon = -self.log_px(x, z, training=training)
        return recon, kl, kl_dims, self.head_log_likelihood(z, temperature), z

    def train_step(self, data):
        x, temperature, mask = self._unpack(data)
        beta = self.beta_at(self.optimizer.iterations)
        with tf.GradientTape() as tape:
            recon, kl, kl_dims, log_lik, z = self.joint_terms(
                x, temperature, self._step_seed(TRAIN_NOISE), training=True)
            supervised = self._labelled_mean(log_lik, mask)
            loss = self._objective(recon, kl, kl_dims, beta) \
                - self.head_weight * self.n_spins * supervised
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = loss / float(replicas)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self._update_metrics(loss, recon, kl, beta)
        return self._update_head_metrics(z, temperature, mask, log_lik)

    def test_step(self, data):
        x, temperature, mask = self._unpack(data)
        recon, kl, _, log_lik, z = self.joint_terms(x, temperature,
                                                    self._step_seed(VALIDATION_NOISE))
        loss = tf.reduce_mean(recon + kl) \
            - self.head_weight * self.n_spins * self._labelled_mean(log_lik, mask)
        self._update_metrics(loss, recon, kl, tf.constant(1.0))
        return self._update_head_metrics(z, temperature, mask, log_lik)


@keras.saving.register_keras_serializable(package="isingvae")
class VIB(_Head, VAE):
    """The variational information bottleneck alone: encoder ``q(z|x)`` (optionally with a
    flow) and head ``q(y|z)``, no decoder.

    Minimises ``-E_q[log q(y|z)] + beta KL(q(z|x) || p(z))`` per configuration (the KL
    with free bits and warm-up as in the VAE).  Metrics: ``loss``, ``head_nll`` and
    ``kl_nats`` (nats per configuration: the two axes of the information plane),
    ``accuracy`` or ``t_abs_error``, ``beta``.  ``head_weight`` is not used.
    """

    def __init__(self, L: int, latent_dim: int = 2, head: str = "phase",
                 head_units: int = _D["head_units"],
                 t_mean: float = 0.0, t_std: float = 1.0, tc: float | None = None,
                 head_weight: float = 1.0, **kwargs):
        self._init_head(head, head_units, head_weight, t_mean, t_std, tc)
        super().__init__(L, latent_dim, **kwargs)
        self._trackers = {name: keras.metrics.Mean(name=name)
                          for name in ("loss", "kl_nats", "beta")}
        self._add_head_trackers()

    def _build_networks(self):
        extra = self.flow.context_size if self.flow is not None else 0
        self.encoder = build_encoder(self.L, self.latent_dim, self.family, self.filters,
                                     self.units, self.activation, extra=extra)
        self.decoder = None
        self._build_head()

    def get_config(self):
        return {**super().get_config(), **self._head_config()}

    def decode(self, z, training=False):
        raise InputError("a VIB has no decoder: it predicts labels, it does not generate "
                         "configurations")

    def call(self, x, training=False):
        return self.head_outputs(self.posterior_point(x, training=training))

    def vib_terms(self, x, temperature, seed, training=False):
        """``(log q(y|z), kl, kl_dims, z)`` with one posterior sample per configuration."""
        z, kl, kl_dims = sample_and_kl(self, x, seed, training)
        return self.head_log_likelihood(z, temperature), kl, kl_dims, z

    def _step(self, x, temperature, mask, seed, beta, training):
        log_lik, kl, kl_dims, z = self.vib_terms(x, temperature, seed, training)
        loss = -self._labelled_mean(log_lik, mask) \
            + self._objective(tf.zeros_like(kl), kl, kl_dims, beta)
        return loss, log_lik, kl, z

    def _record(self, loss, kl, beta, z, temperature, mask, log_lik):
        for name, v in (("loss", loss), ("kl_nats", kl), ("beta", beta)):
            self._trackers[name].update_state(v)
        return self._update_head_metrics(z, temperature, mask, log_lik)

    def train_step(self, data):
        x, temperature, mask = self._unpack(data)
        beta = self.beta_at(self.optimizer.iterations)
        with tf.GradientTape() as tape:
            loss, log_lik, kl, z = self._step(x, temperature, mask, self._step_seed(TRAIN_NOISE),
                                              beta, True)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = loss / float(replicas)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._record(loss, kl, beta, z, temperature, mask, log_lik)

    def test_step(self, data):
        x, temperature, mask = self._unpack(data)
        beta = tf.constant(self.beta_target)
        loss, log_lik, kl, z = self._step(x, temperature, mask, self._step_seed(VALIDATION_NOISE),
                                          beta, False)
        return self._record(loss, kl, beta, z, temperature, mask, log_lik)
