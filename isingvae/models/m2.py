r"""Semi-supervised generative model M2 (Kingma, Rezende, Mohamed and Welling 2014).

Generative model with a discrete class ``y`` (the phase, or one of the file's
temperatures) next to the continuous latent ``z``::

    y ~ p(y) = uniform over K classes,   z ~ N(0, I_d),   x | y, z ~ Bernoulli(f(y, z))

Inference: a classifier ``q(y|x)`` (a network of its own) and ``q(z|x, y)``, a Gaussian
whose parameters come from features of ``x`` joined with the one-hot ``y``.

For a labelled configuration the evidence lower bound is

.. math::

    \mathcal{L}(x, y) = E_{q(z|x,y)}[\log p(x|y,z)] + \log p(y)
                        - KL(q(z|x,y) \,\|\, p(z)) \le \log p(x, y),

and for an unlabelled one the class is summed over, not sampled:

.. math::

    \mathcal{U}(x) = \sum_y q(y|x)\, \mathcal{L}(x, y) + H(q(y|x)) \le \log p(x).

Training maximises ``sum_labelled L + sum_unlabelled U + alpha' sum_labelled log q(y|x)``
with ``alpha' = alpha * L^2`` (``alpha`` per spin, as the heads' weight), averaged over
the batch; the KL parts (of ``z``, and ``KL(q(y|x) || p(y))`` of the unlabelled rows) are
multiplied by the warm-up factor ``beta``.  The Gaussian KL is always the closed form.

Everywhere the :class:`~isingvae.models.vae.VAE` interface speaks of a latent vector,
M2's is ``(z, onehot(y))`` of size ``d + K``: :meth:`M2.posterior_sample` draws ``y``
from ``q(y|x)`` and ``z`` from ``q(z|x,y)`` (so the inherited importance-weighted
likelihood sums over classes by sampling them), :meth:`M2.prior_sample` draws both from
the prior, and :meth:`M2.encode` returns the posterior mean of ``z`` at the most probable
class joined with the class probabilities ``q(y|x)`` (decoding that point uses the soft
class vector; it serves the analysis' reconstructions).  :meth:`M2.sample_x_for_class`
generates at a chosen class: with temperature classes, at a chosen temperature.

Training batches are ``(x, labels)`` with ``labels`` ``(B,)`` (temperature: every row
labelled) or ``(B, 2)`` (temperature, mask in {0, 1}); the class is derived from the
temperature (phase: ordered when ``T < T_c``, class 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import tensorflow as tf

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.models.densities import (
    gaussian_kl,
    gaussian_log_prob,
    standard_normal_log_prob,
)
from isingvae.models.networks import apply_flat, build_encoder
from isingvae.models.options import MODEL_DEFAULTS as _D
from isingvae.models.vae import TRAIN_NOISE, VAE, VALIDATION_NOISE

__all__ = ["M2", "M2_CLASSES"]

M2_CLASSES = ("phase", "temperature")


def _renamed(model: keras.Model, name: str) -> keras.Model:
    return keras.Model(model.input, model.output, name=name)


@keras.saving.register_keras_serializable(package="isingvae")
class M2(VAE):
    """M2 with ``classes="phase"`` (K = 2: disordered 0, ordered 1) or
    ``classes="temperature"`` (K = len(class_temperatures), class k at the k-th
    temperature in increasing order).  See the module docstring."""

    def __init__(self, L: int, latent_dim: int = _D["latent_dim"], classes: str = "phase",
                 class_temperatures: Sequence[float] = (), alpha: float = 1.0,
                 tc: float | None = None, **kwargs):
        self.class_kind = _v.choice("M2 classes", classes, M2_CLASSES)
        temps = tuple(sorted(float(t) for t in class_temperatures))
        if self.class_kind == "temperature":
            if len(temps) < 2 or len(set(temps)) != len(temps):
                raise InputError(f"M2 with temperature classes needs two or more distinct "
                                 f"temperatures, got {list(class_temperatures)}")
            self.n_classes = len(temps)
        else:
            self.n_classes = 2
        self.class_temperatures = temps
        self.alpha = _v.real("alpha", alpha, nonnegative=True)
        if tc is None:
            from isingvae.exact import critical_temperature

            tc = critical_temperature()
        self.tc = _v.real("Tc", tc, positive=True)
        for key, plain in (("flow", "none"), ("prior", "normal"), ("kl_estimator", "analytic"),
                           ("condition", "none")):
            if kwargs.get(key, plain) != plain:
                raise InputError(f"M2 takes no {key} other than {plain!r} (got {kwargs[key]!r})")
        self.predicts = ("phase",) if self.class_kind == "phase" else ("phase", "temperature")
        super().__init__(L, latent_dim, **kwargs)
        for name in ("class_nll", "accuracy"):
            self._trackers[name] = keras.metrics.Mean(name=name)

    def _build_networks(self):
        k, d = self.n_classes, self.latent_dim
        width = self.units[-1] if self.units else 128
        self.feature_dim = width
        arch = (self.L, 0, self.family, self.filters, self.units, self.activation)
        self.encoder = build_encoder(*arch, extra=width)
        self.classifier = _renamed(build_encoder(*arch, extra=k), "classifier")
        inp = keras.Input((width + k,), name="features_and_class")
        h = keras.layers.Dense(width, activation=self.activation, name="hidden")(inp)
        out = keras.layers.Dense(2 * d, name="posterior")(h)
        self.z_posterior = keras.Model(inp, out, name="z_posterior")
        self.decoder = self._make_decoder(d + k)

    def get_config(self):
        return {**super().get_config(), "classes": self.class_kind,
                "class_temperatures": list(self.class_temperatures), "alpha": self.alpha,
                "tc": self.tc}

    # ------------------------------------------------------------ classes
    def class_of(self, temperature):
        """Class index (int32) of each temperature: phase (1 = ordered, ``T < T_c``) or the
        nearest class temperature."""
        t = tf.cast(temperature, tf.float32)
        if self.class_kind == "phase":
            return tf.cast(t < self.tc, tf.int32)
        grid = tf.constant(self.class_temperatures, tf.float32)
        return tf.cast(tf.argmin(tf.abs(t[..., None] - grid), axis=-1), tf.int32)

    def class_log_probs(self, x, training=False):
        """log q(y|x), ``(B, K)``."""
        return tf.nn.log_softmax(self.classifier(x, training=training), axis=-1)

    def predict_phase(self, x):
        """q(ordered | x): the class probability of the ordered phase, or with temperature
        classes the total probability of the classes below ``T_c``.  ``(B,)``."""
        q = tf.exp(self.class_log_probs(x))
        if self.class_kind == "phase":
            return q[:, 1]
        below = tf.constant([t < self.tc for t in self.class_temperatures], tf.float32)
        return tf.reduce_sum(q * below, axis=-1)

    def predict_temperature(self, x):
        """Posterior-mean temperature ``sum_k q(k|x) T_k`` (temperature classes only)."""
        if self.class_kind != "temperature":
            raise InputError("an M2 model with phase classes does not predict temperature")
        q = tf.exp(self.class_log_probs(x))
        return tf.reduce_sum(q * tf.constant(self.class_temperatures, tf.float32), axis=-1)

    def log_prior_class(self):
        return -math.log(self.n_classes)

    # ------------------------------------------------------------ posterior of z
    def _z_params(self, features, onehot, training=False):
        """Mean and log-variance of q(z|x, y) for features ``(..., F)`` and classes
        ``(..., K)`` with the same leading axes."""
        out = apply_flat(self.z_posterior, tf.concat([features, onehot], axis=-1))
        return out[..., :self.latent_dim], out[..., self.latent_dim:]

    def encode_with_context(self, x, training=False):
        features = self.encoder(x, training=training)
        log_qy = self.class_log_probs(x, training=training)
        best = tf.one_hot(tf.argmax(log_qy, axis=-1), self.n_classes)
        mean, log_var = self._z_params(features, best, training)
        q = tf.exp(log_qy)
        return (tf.concat([mean, q], -1), tf.concat([log_var, tf.zeros_like(q)], -1),
                mean[..., :0])

    def posterior(self, x, training=False):
        raise InputError("the M2 posterior mixes a class and a Gaussian; use posterior_sample")

    def posterior_sample(self, x, n: int, seed, training=False):
        """``(z, onehot(y))`` with ``y ~ q(y|x)``, ``z ~ q(z|x,y)``: ``(n, B, d + K)``;
        ``log_q = log q(y|x) + log q(z|x,y)``, ``(n, B)``."""
        seed = tf.convert_to_tensor(seed)
        features = self.encoder(x, training=training)
        log_qy = self.class_log_probs(x, training=training)
        # inverse-CDF draw of the class: the first k with u < sum_{j <= k} q(j|x)
        cdf = tf.cumsum(tf.exp(log_qy), axis=-1)                                  # (B, K)
        u = tf.random.stateless_uniform(tf.concat([[n], tf.shape(cdf)[:1], [1]], 0),
                                        seed=tf.random.experimental.stateless_fold_in(seed, 0))
        cls = tf.minimum(tf.reduce_sum(tf.cast(u >= cdf[None], tf.int32), -1),
                         self.n_classes - 1)                                      # (n, B)
        onehot = tf.one_hot(cls, self.n_classes)
        feats = tf.broadcast_to(features, tf.concat([[n], tf.shape(features)], 0))
        mean, log_var = self._z_params(feats, onehot, training)
        eps = tf.random.stateless_normal(tf.shape(mean),
                                         seed=tf.random.experimental.stateless_fold_in(seed, 1))
        z = mean + tf.exp(0.5 * log_var) * eps
        log_q = tf.reduce_sum(onehot * log_qy[None], -1) + gaussian_log_prob(z, mean, log_var)
        return tf.concat([z, onehot], -1), log_q, (mean, log_var)

    # ------------------------------------------------------------ generative side
    def prior_log_prob(self, z, x=None):
        return standard_normal_log_prob(z[..., :self.latent_dim]) + self.log_prior_class()

    def prior_sample(self, n: int, seed, temperature=None):
        seed = tf.convert_to_tensor(seed)
        cls = tf.random.stateless_uniform([n], tf.random.experimental.stateless_fold_in(seed, 0),
                                          0, self.n_classes, dtype=tf.int32)
        z = tf.random.stateless_normal([n, self.latent_dim],
                                       seed=tf.random.experimental.stateless_fold_in(seed, 1))
        return tf.concat([z, tf.one_hot(cls, self.n_classes)], -1)

    def sample_x_for_class(self, n: int, seed, k: int):
        """``n`` configurations ``(n, L, L, 1)`` in {0, 1} of class ``k``: ``z ~ p(z)``
        (stateless key ``fold_in(seed, 1)``), then ``x ~ p(x | z, k)`` (key ``2``)."""
        k = int(k)
        if not 0 <= k < self.n_classes:
            raise InputError(f"class {k} is not in 0 .. {self.n_classes - 1}")
        seed = tf.convert_to_tensor(seed)
        fold = tf.random.experimental.stateless_fold_in
        z = tf.random.stateless_normal([n, self.latent_dim], seed=fold(seed, 1))
        y = tf.one_hot(tf.fill([n], k), self.n_classes)
        return self.sample_from(tf.concat([z, y], -1), fold(seed, 2))

    def class_index_of_temperature(self, temperature: float) -> int:
        """Index of a class temperature (relative tolerance 1e-6); InputError otherwise."""
        if self.class_kind != "temperature":
            raise InputError("this M2 model's classes are the phases, not temperatures; it "
                             "cannot generate at a chosen temperature")
        for k, t in enumerate(self.class_temperatures):
            if math.isclose(float(temperature), t, rel_tol=1e-6):
                return k
        shown = ", ".join(f"{t:g}" for t in self.class_temperatures)
        raise InputError(f"temperature {temperature:g} is not one of the model's classes "
                         f"({shown})")

    # ------------------------------------------------------------ bounds
    def _class_terms(self, x, features, onehot, eps, training=False):
        """``recon`` and ``kl`` of z for the classes ``onehot`` (``(..., B, K)``)."""
        feats = tf.broadcast_to(features, tf.concat([tf.shape(onehot)[:-1],
                                                     [self.feature_dim]], 0))
        mean, log_var = self._z_params(feats, onehot, training)
        z = mean + tf.exp(0.5 * log_var) * eps
        recon = -self.log_px(x, tf.concat([z, onehot], -1), training)
        return recon, tf.reduce_sum(gaussian_kl(mean, log_var), axis=-1)

    def _eps(self, x, seed):
        return tf.random.stateless_normal([tf.shape(x)[0], self.latent_dim], seed=seed)

    def labelled_bound(self, x, classes, seed):
        """``L(x, y)`` in nats per configuration for class indices ``classes`` (B,)."""
        onehot = tf.one_hot(classes, self.n_classes)
        recon, kl = self._class_terms(x, self.encoder(x), onehot, self._eps(x, seed))
        return -recon - kl + self.log_prior_class()

    def all_class_terms(self, x, seed, training=False):
        """``(recon, kl, log q(y|x))``: recon and KL of z for every class, ``(K, B)``
        each (one noise draw shared by the classes), and ``(B, K)``."""
        features = self.encoder(x, training=training)
        onehot = tf.broadcast_to(tf.eye(self.n_classes)[:, None, :],
                                 tf.stack([self.n_classes, tf.shape(x)[0], self.n_classes]))
        recon, kl = self._class_terms(x[None], features, onehot, self._eps(x, seed), training)
        return recon, kl, self.class_log_probs(x, training=training)

    def unlabelled_bound(self, x, seed):
        """``U(x) = sum_y q(y|x) L(x, y) + H(q(y|x))`` in nats per configuration."""
        recon, kl, log_qy = self.all_class_terms(x, seed)
        q = tf.exp(log_qy)
        bound = tf.transpose(-recon - kl) + self.log_prior_class()
        return tf.reduce_sum(q * bound, -1) - tf.reduce_sum(q * log_qy, -1)

    def _rows(self, x, temperature, mask, seed, training):
        """Per-row ``recon``, ``kl`` (labelled: of the true class; unlabelled: expected
        under q(y|x), the class KL included) and ``log q(y_true|x)``."""
        recon_k, kl_k, log_qy = self.all_class_terms(x, seed, training)
        q = tf.exp(log_qy)
        true = tf.one_hot(self.class_of(temperature), self.n_classes)
        log_k = -self.log_prior_class()
        recon_l = tf.reduce_sum(true * tf.transpose(recon_k), -1)
        kl_l = tf.reduce_sum(true * tf.transpose(kl_k), -1) + log_k
        recon_u = tf.reduce_sum(q * tf.transpose(recon_k), -1)
        kl_u = tf.reduce_sum(q * tf.transpose(kl_k), -1) + tf.reduce_sum(q * log_qy, -1) + log_k
        recon = mask * recon_l + (1.0 - mask) * recon_u
        kl = mask * kl_l + (1.0 - mask) * kl_u
        return recon, kl, tf.reduce_sum(true * log_qy, -1), q

    def _loss(self, recon, kl, log_q_true, mask, beta):
        labelled = tf.reduce_sum(log_q_true * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
        return self._objective(recon, kl, None, beta) - self.alpha * self.n_spins * labelled

    def _m2_metrics(self, loss, recon, kl, beta, log_q_true, q, temperature, mask):
        self._update_metrics(loss, recon, kl, beta)
        self._trackers["class_nll"].update_state(-log_q_true, sample_weight=mask)
        right = tf.cast(tf.cast(tf.argmax(q, -1), tf.int32) == self.class_of(temperature),
                        tf.float32)
        self._trackers["accuracy"].update_state(right)
        return {name: t.result() for name, t in self._trackers.items()}

    @staticmethod
    def _unpack(data):
        from isingvae.models.heads import _Head

        return _Head._unpack(data)

    def train_step(self, data):
        x, temperature, mask = self._unpack(data)
        beta = self.beta_at(self.optimizer.iterations)
        with tf.GradientTape() as tape:
            recon, kl, log_q_true, q = self._rows(x, temperature, mask,
                                                  self._step_seed(TRAIN_NOISE), True)
            loss = self._loss(recon, kl, log_q_true, mask, beta)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = loss / float(replicas)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._m2_metrics(loss, recon, kl, beta, log_q_true, q, temperature, mask)

    def test_step(self, data):
        x, temperature, mask = self._unpack(data)
        one = tf.constant(1.0)
        recon, kl, log_q_true, q = self._rows(x, temperature, mask,
                                              self._step_seed(VALIDATION_NOISE), False)
        loss = self._loss(recon, kl, log_q_true, mask, one)
        return self._m2_metrics(loss, recon, kl, one, log_q_true, q, temperature, mask)
