r"""Variational autoencoder for Ising configurations: Gaussian posterior, Bernoulli decoder.

Notation (per configuration ``x`` of ``N = L^2`` spins, ``x_i = (s_i + 1)/2``):

- prior ``p(z) = N(0, I_d)`` (or a learned MAF prior; or, for a model conditioned on
  temperature, ``p(z|T) = N(mu(T), diag sigma^2(T))`` from a small network of ``T``);
- posterior ``q(z|x) = N(mu(x), diag sigma^2(x))`` (``q(z|x, T)`` when conditioned),
  sampled by reparameterization ``z = mu + sigma * eps``, optionally pushed through a
  normalizing flow (:mod:`isingvae.models.flows`);
- decoder ``p(x|z)`` (``p(x|z, T)``): ``decoder="factorized"`` makes every spin an
  independent Bernoulli of logit ``f_i(z)``; ``decoder="autoregressive"`` is the
  multiscale decoder of :mod:`isingvae.models.multiscale`, ``prod_k p(x_k|x_<k, z)``,
  which can produce the nearest-neighbour correlations a factorised decoder cannot.
  Either way ``log p(x|z)`` is exact.

The evidence lower bound, in nats per configuration,

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x),

is estimated with one posterior sample for the reconstruction term; the KL term is
either analytic (``kl_estimator="analytic"``: the closed form for two Gaussians,
dimension by dimension; with a flow, that closed form for the base plus a one-sample
correction for the flow, see :meth:`VAE.terms`) or the single-sample Monte Carlo
estimate ``log q(z|x) - log p(z)`` (``"mc"``, the only choice with a learned prior).
The objective around it (KL warm-up, free bits, the noise of each step) is
:mod:`isingvae.models.objective`.

A model conditioned on temperature (``condition="temperature"``) takes inputs of two
channels: the spins, and the standardised temperature ``(T - t_center) / t_scale`` at
every site (:meth:`VAE.with_temperature` builds them), so that every method that sees
``x`` also sees ``T``; it is trained on a multi-temperature file, one model for the whole
range ``[t_min, t_max]``, and generates at any temperature in it.

The importance-weighted estimate (Burda et al. 2016)

    log p(x) ~ log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x),

is a lower bound in expectation that rises towards ``log p(x)`` as ``K`` grows (K = 1
is the ELBO); :meth:`VAE.log_weight_parts` gives its terms and
:func:`isingvae.evaluation.evaluate` turns them into the held-out NLL (``-log p(x|T)``
for a conditional model).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import keras
import tensorflow as tf

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.models.conditioning import Conditioning
from isingvae.models.decoding import Decoding
from isingvae.models.densities import (
    LOG_2PI,
    gaussian_kl,
)
from isingvae.models.flows import FLOW_KINDS, MAFPrior, PosteriorFlow
from isingvae.models.networks import build_encoder
from isingvae.models.objective import TRAIN_NOISE, VALIDATION_NOISE, Objective
from isingvae.models.options import (
    CONDITIONS,
    DECODERS,
    FAMILIES,
    KL_ESTIMATORS,
    KL_SCHEDULES,
    MODEL_DEFAULTS,
    PRIORS,
)

__all__ = ["TRAIN_NOISE", "VAE", "VALIDATION_NOISE", "compiled"]

_D = MODEL_DEFAULTS
#: settings a model saved before the key existed was built with (0.1.0 wrote no decoder:
#: its models are factorised; before the local last stage, every stage used the network;
#: before the mirrored prior, the prior's two components were free)
SAVED_BEFORE_KEY = {"decoder": "factorized", "local_terms": False, "prior_mirror": False}


def compiled(model, method: str):
    """``tf.function`` of ``model.<method>``, traced once per model and method (a new
    ``tf.function`` per call would retrace every time)."""
    fns = _COMPILED.setdefault(model, {})
    if method not in fns:
        fns[method] = tf.function(getattr(model, method), reduce_retracing=True)
    return fns[method]


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------ the model


@keras.saving.register_keras_serializable(package="isingvae")
class VAE(Conditioning, Decoding, Objective, keras.Model):
    """VAE with a Bernoulli decoder on the ``L x L`` torus (see the module docstring).

    ``family="conv"`` uses 3 x 3 convolutions with periodic padding (stride 2 while
    the map halves evenly) followed by dense layers of widths ``units``;
    ``family="dense"`` flattens the lattice into an MLP of widths ``units`` (the
    classic Ising-VAE notebooks).  ``decoder`` is ``factorized`` (the mirror of the
    encoder) or ``autoregressive`` (:class:`~isingvae.models.multiscale.MultiscaleDecoder`
    with ``decoder_width`` channels and ``decoder_depth`` convolutions).
    ``condition="temperature"`` conditions encoder, decoder and prior on the temperature,
    standardised with ``t_center`` and ``t_scale`` and trained on ``[t_min, t_max]``.
    """

    def __init__(
        self,
        L: int,
        latent_dim: int = _D["latent_dim"],
        family: str = _D["family"],
        filters: Sequence[int] = _D["filters"],
        units: Sequence[int] = _D["units"],
        activation: str = _D["activation"],
        beta: float = _D["beta"],
        free_bits: float = _D["free_bits"],
        kl_estimator: str = _D["kl_estimator"],
        kl_schedule: str = "none",
        warmup_steps: int = 0,
        cycle_steps: int = 0,
        noise_seed: int = 0,
        flow: str = _D["flow"],
        flow_depth: int = 0,
        flow_amortized: bool = True,
        prior: str = _D["prior"],
        prior_depth: int = _D["prior_depth"],
        decoder: str = _D["decoder"],
        decoder_width: int = _D["decoder_width"],
        decoder_depth: int = _D["decoder_depth"],
        local_terms: bool = _D["local_terms"],
        condition: str = "none",
        t_center: float = 0.0,
        t_scale: float = 1.0,
        t_min: float | None = None,
        t_max: float | None = None,
        prior_mirror: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.L = _v.count("L", L, 2)
        self.latent_dim = _v.count("latent dimension", latent_dim, 1)
        self.family = _v.choice("model family", family, FAMILIES)
        self.filters = tuple(_v.count("filters", f, 1) for f in filters)
        self.units = tuple(_v.count("units", u, 1) for u in units)
        if family == "conv" and not self.filters:
            raise InputError("a conv model needs at least one filter count")
        self.activation = str(activation)
        self.beta_target = _v.real("beta", beta, nonnegative=True)
        self.free_bits = _v.real("free bits", free_bits, nonnegative=True)
        self.kl_estimator = _v.choice("KL estimator", kl_estimator, KL_ESTIMATORS)
        self.kl_schedule = _v.choice("KL schedule", kl_schedule, KL_SCHEDULES)
        self.warmup_steps = _v.count("warm-up steps", warmup_steps, 0)
        self.cycle_steps = _v.count("cycle steps", cycle_steps, 0)
        if kl_schedule == "cyclical" and self.cycle_steps < 2:
            raise InputError(f"a cyclical KL schedule needs cycle_steps >= 2, got {cycle_steps}")
        self.noise_seed = _v.count("seed", noise_seed, 0) % (2**31 - 1)
        self.n_spins = self.L * self.L
        self.flow_kind = _v.choice("flow", flow, ("none", *FLOW_KINDS))
        self.flow_depth = _v.count("flow depth", flow_depth, 0)
        self.flow_amortized = bool(flow_amortized)
        self.prior_kind = _v.choice("prior", prior, PRIORS)
        self.prior_depth = _v.count("prior depth", prior_depth, 1)
        self.decoder_kind = _v.choice("decoder", decoder, DECODERS)
        self.decoder_width = _v.count("decoder width", decoder_width, 1)
        self.decoder_depth = _v.count("decoder depth", decoder_depth, 1)
        self.local_terms = bool(local_terms)
        self.condition = _v.choice("condition", condition, CONDITIONS)
        self.t_center = _v.real("t_center", t_center)
        self.t_scale = _v.real("t_scale", t_scale, positive=True)
        self.t_range = None if t_min is None else (float(t_min), float(t_max))
        if (self.flow_kind == "none") != (self.flow_depth == 0):
            raise InputError(f"flow {flow!r} with flow depth {flow_depth}: a flow needs a "
                             f"depth >= 1, and depth needs a flow")
        if self.kl_estimator == "analytic" and not self._analytic_kl_exists():
            raise InputError("the KL divergence to a learned prior has no closed form: use "
                             "kl_estimator='mc'")
        if self.conditioned and self.prior_kind != "normal":
            raise InputError("a model conditioned on temperature learns its own prior "
                             "p(z|T): it takes no --prior maf")

        self.flow = None
        if self.flow_kind != "none":
            self.flow = PosteriorFlow(self.flow_kind, self.flow_depth, self.latent_dim,
                                      amortized=self.flow_amortized, name="posterior_flow")
            self.flow.build()
        self.prior_flow = None
        if self.prior_kind == "maf":
            self.prior_flow = MAFPrior(self.latent_dim, self.prior_depth, name="prior_flow")
            self.prior_flow.build()
        self.prior_mirror = bool(prior_mirror)
        self.prior_net = self._build_prior_net() if self.conditioned else None
        self._build_networks()
        self._init_trackers()
        self.built = True       # encoder and decoder are functional models, built above

    def _build_networks(self):
        arch = (self.L, self.latent_dim, self.family, self.filters, self.units, self.activation)
        extra = self.flow.context_size if self.flow is not None else 0
        self.encoder = build_encoder(*arch, extra=extra, channels=2 if self.conditioned else 1)
        self.decoder = self._make_decoder(self.latent_dim + (1 if self.conditioned else 0))

    def _analytic_kl_exists(self) -> bool:
        return self.prior_kind == "normal" and not self.conditioned

    # ------------------------------------------------------------ config
    @classmethod
    def from_config(cls, config):
        """The model of a saved config; a key the saving version did not write yet takes
        the value that version used (:data:`SAVED_BEFORE_KEY`), not today's default."""
        return cls(**{**SAVED_BEFORE_KEY, **config})

    def get_config(self):
        base = super().get_config()
        t_min, t_max = self.t_range or (None, None)
        return {
            "name": base.get("name"), "trainable": base.get("trainable", True),
            "L": self.L, "latent_dim": self.latent_dim, "family": self.family,
            "filters": list(self.filters), "units": list(self.units),
            "activation": self.activation, "beta": self.beta_target,
            "free_bits": self.free_bits, "kl_estimator": self.kl_estimator,
            "kl_schedule": self.kl_schedule, "warmup_steps": self.warmup_steps,
            "cycle_steps": self.cycle_steps, "noise_seed": self.noise_seed,
            "flow": self.flow_kind, "flow_depth": self.flow_depth,
            "flow_amortized": self.flow_amortized, "prior": self.prior_kind,
            "prior_depth": self.prior_depth, "decoder": self.decoder_kind,
            "decoder_width": self.decoder_width, "decoder_depth": self.decoder_depth,
            "local_terms": self.local_terms,
            "condition": self.condition, "t_center": self.t_center, "t_scale": self.t_scale,
            "t_min": t_min, "t_max": t_max, "prior_mirror": self.prior_mirror,
        }

    # ------------------------------------------------------------ the posterior
    def encode(self, x, training=False):
        """Parameters ``(mean, log_var)``, each ``(B, d)``, of the Gaussian posterior (of
        the flow's base distribution when the posterior has a flow)."""
        mean, log_var, _ = self.encode_with_context(x, training=training)
        return mean, log_var

    def encode_with_context(self, x, training=False):
        """``(mean, log_var, context)``: the context (B, c) drives an amortized flow
        (``c = 0`` without one)."""
        h = self.encoder(x, training=training)
        d = self.latent_dim
        return h[..., :d], h[..., d:2 * d], h[..., 2 * d:]

    def posterior(self, x, training=False):
        """q(z|x) as a TensorFlow Probability distribution with batch shape (B,): a
        diagonal normal, or for a flow posterior the ``TransformedDistribution`` of that
        normal through the flow (planar and radial flows can sample it and score their
        own samples, ``experimental_sample_and_log_prob``, but not score other points)."""
        from isingvae.models._tfp import tfd

        mean, log_var, context = self.encode_with_context(x, training=training)
        base = tfd.MultivariateNormalDiag(loc=mean, scale_diag=tf.exp(0.5 * log_var))
        if self.flow is None:
            return base
        return tfd.TransformedDistribution(base, self.flow.bijector(self._context(context)))

    def _context(self, context):
        return context if self.flow is not None and self.flow.amortized else None

    def posterior_point(self, x, training=False):
        """A deterministic representative of q(z|x): the mean of the Gaussian (base),
        pushed through the flow when there is one.  ``(B, d)``."""
        return self.posterior_summary(x, training=training)[0]

    def posterior_summary(self, x, training=False):
        """``(posterior_point, log_var)`` from one pass of the encoder; ``log_var`` is that
        of the Gaussian (the flow's base)."""
        mean, log_var, context = self.encode_with_context(x, training=training)
        if self.flow is None:
            return mean, log_var
        return self.flow.bijector(self._context(context)).forward(mean), log_var

    def posterior_sample(self, x, n: int, seed, training=False):
        """``n`` posterior samples per configuration.

        Returns ``(z, log_q, (mean, log_var))`` with ``z`` of shape ``(n, B, d)`` and
        ``log_q = log q(z|x)`` of shape ``(n, B)``.  ``seed`` is a stateless seed (two
        integers).  With a flow, ``z = z_K`` and ``log_q = log q_0(z_0) - sum_k log|det J_k|``.
        """
        _, z, log_q0, log_det, mean, log_var = self._sample_with_flow(x, n, seed, training)
        return z, log_q0 - log_det, (mean, log_var)

    def _sample_with_flow(self, x, n, seed, training=False):
        """``(z_0, z_K, log q_0(z_0), sum_k log|det J_k|, mean, log_var)``; without a
        flow ``z_K = z_0`` and the log-determinant is 0."""
        mean, log_var, context = self.encode_with_context(x, training=training)
        eps = tf.random.stateless_normal(
            tf.concat([[n], tf.shape(mean)], axis=0), seed=seed, dtype=mean.dtype)
        z0 = mean + tf.exp(0.5 * log_var) * eps
        log_q0 = -0.5 * tf.reduce_sum(LOG_2PI + log_var + tf.square(eps), axis=-1)
        if self.flow is None:
            return z0, z0, log_q0, tf.zeros_like(log_q0), mean, log_var
        flow = self.flow.bijector(self._context(context))
        return (z0, flow.forward(z0), log_q0, flow.forward_log_det_jacobian(z0, event_ndims=1),
                mean, log_var)

    def call(self, x, training=False):
        """The decoder's logits at the posterior point of ``x``.  A conditional model given
        spins alone (Keras may call it so to build it) reads them at its mean training
        temperature."""
        if self.conditioned and x.shape[-1] == 1:
            x = self.with_temperature(x, self.t_center)
        return self.conditional_logits(x, self._cond(self.posterior_point(x, training), x))

    # ------------------------------------------------------------ bounds
    def log_weight_parts(self, x, n: int, seed):
        """``(log p(x|z_k), log p(z_k), log q(z_k|x))`` for ``n`` posterior samples per
        configuration, each of shape ``(n, B)``."""
        z, log_q, _ = self.posterior_sample(x, n, seed)
        return self.log_px(x, self._cond(z, x)), self.prior_log_prob(z, x), log_q

    def log_weights(self, x, n: int, seed):
        """Importance log-weights log p(x|z_k) + log p(z_k) - log q(z_k|x): ``(n, B)``."""
        log_px, log_pz, log_q = self.log_weight_parts(x, n, seed)
        return log_px + log_pz - log_q

    def terms(self, x, seed, training=False):
        """One-sample ELBO terms per configuration: ``recon``, ``kl`` (B,) and the KL per
        dimension (B, d) (``None`` for the Monte Carlo estimator and for flows).

        With a flow, the ``analytic`` estimator is the closed-form KL of the Gaussian
        base plus a one-sample estimate of what the flow changes,
        ``KL(q_K || p) = KL(q_0 || p) + E[log p(z_0) - sum log|det J| - log p(z_K)]``:
        unbiased like the plain Monte Carlo estimate, but the noisy part vanishes when the
        flow is the identity (as a fresh IAF or RealNVP is), so a flow model starts
        training exactly as the diagonal model does.
        """
        z0, z, log_q0, log_det, mean, log_var = self._sample_with_flow(x, 1, seed, training)
        recon = -self.log_px(x, self._cond(z[0], x), training=training)
        if self.kl_estimator == "analytic":
            kl_dims = gaussian_kl(mean, log_var)
            kl = tf.reduce_sum(kl_dims, axis=-1)
            if self.flow is None:
                return recon, kl, kl_dims
            change = (self.prior_log_prob(z0[0], x) - log_det[0]
                      - self.prior_log_prob(z[0], x))
            return recon, kl + change, None
        return recon, log_q0[0] - log_det[0] - self.prior_log_prob(z[0], x), None

    # ------------------------------------------------------------ Keras steps
    def _inputs(self, data):
        """The model's inputs from a batch: ``x``, or ``(x, temperature)`` for a
        conditional model (the temperature then becomes the second channel)."""
        x, labels = (data[0], data[1]) if isinstance(data, tuple) else (data, None)
        if not self.conditioned:
            return x
        t = labels if labels.shape.rank == 1 else labels[:, 0]
        return self.with_temperature(x, t)

    def train_step(self, data):
        x = self._inputs(data)
        beta = self.beta_at(self.optimizer.iterations)
        with tf.GradientTape() as tape:
            recon, kl, kl_dims = self.terms(x, self._step_seed(TRAIN_NOISE), training=True)
            loss = self._objective(recon, kl, kl_dims, beta)
            # the optimizer sums gradients over replicas: scale so the sum is the mean
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = loss / float(replicas)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._update_metrics(loss, recon, kl, beta)

    def test_step(self, data):
        x = self._inputs(data)
        recon, kl, _ = self.terms(x, self._step_seed(VALIDATION_NOISE))
        loss = tf.reduce_mean(recon + kl)
        return self._update_metrics(loss, recon, kl, tf.constant(1.0))
