r"""Conditioning on temperature, and the prior: what a model conditioned on T adds.

A model with ``condition="temperature"`` reads the temperature from its inputs: channel
0 holds the spins, channel 1 the standardised temperature :math:`t = (T -
\bar T)/s_T` at every site (:meth:`Conditioning.standardize`,
:meth:`Conditioning.with_temperature`), so that every method
that sees ``x`` also sees ``T``.  It conditions

- the encoder, ``q(z | x, T)``, through that second channel;
- the decoder, ``p(x | z, T)``, by appending :math:`t` to the latent
  (:meth:`Conditioning._cond`);
- the prior, a mixture of :data:`PRIOR_COMPONENTS` Gaussians,
  :math:`p(z \mid T) = \sum_k \pi_k(t)\, \mathcal N(\mu_k(t), \mathrm{diag}\,
  \sigma_k^2(t))`, its weights, means and log-variances from a small network of
  :math:`t`.  Two components, because below :math:`T_c` the codes of real
  configurations form two humps, one per sign of the magnetization: a single Gaussian
  spread over both puts prior mass between them, where the decoder makes disordered,
  domain-walled configurations (measured: energies 6 to 10 % too high below
  :math:`T_c`).  With ``prior_mirror`` (the default) the two are mirror images about a
  learned centre, :math:`\mu_{1,2} = c(t) \pm a(t)` with one variance and equal weights,
  as the global spin flip :math:`x \to -x` asks of a code that is odd in it up to a
  shift.  Free components can settle with one of them dead and
  the other stretched over both humps, the same hole in the middle (measured at L = 32
  after 3 to 8 epochs: weights 1.00 and 0.00, a standard deviation of 5.1 over humps at
  :math:`\pm 3.8`; energies of samples below :math:`T_c` 4 to 6 % above Kaufman's
  although the decoder, given the codes of real configurations, makes them within
  1 %); mirrored components cannot, since each sits where the other's image is.  The
  KL to a mixture has no closed form; such a model uses the one-sample Monte Carlo KL.

An unconditional model has the standard normal prior or a learned MAF prior
(:class:`~isingvae.models.flows.MAFPrior`); both are served here too.

References: K. Sohn, H. Lee and X. Yan, "Learning structured output representation using
deep conditional generative models", NeurIPS (2015), for a VAE whose encoder, decoder and
prior all see the conditioning variable; N. Dilokthanakul et al., "Deep unsupervised
clustering with Gaussian mixture variational autoencoders", arXiv:1611.02648 (2016), for
a mixture-of-Gaussians prior.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from isingvae.errors import InputError
from isingvae.models.densities import gaussian_log_prob, standard_normal_log_prob

__all__ = ["PRIOR_COMPONENTS", "Conditioning"]

#: Gaussians in the prior p(z|T) of a model conditioned on temperature
PRIOR_COMPONENTS = 2
#: the mirrored components' half-separation starts at this times a draw of N(0, 0.5^2)
#: per dimension: apart (exactly on top of each other they would stay so), but nearly one
#: Gaussian, whose posterior a Gaussian q(z|x) can match while the codes carry little
MIRROR_START = 0.2


class Conditioning:
    """Mixed into :class:`~isingvae.models.VAE` (module docstring).  Expects
    ``condition``, ``t_center``, ``t_scale``, ``latent_dim``, ``prior_flow``,
    ``prior_net``, ``prior_mirror``, ``activation`` and ``noise_seed`` on the model, and a decoder
    (:meth:`sample_from`)."""

    @property
    def conditioned(self) -> bool:
        return self.condition == "temperature"

    def standardize(self, temperature):
        """The standardised temperature :math:`t = (T - \\bar T)/s_T` the model reads
        (``t_center`` and ``t_scale`` from its training rows), as a float32 tensor of
        ``temperature``'s shape: the one place a temperature becomes a model input."""
        return (tf.cast(temperature, tf.float32) - self.t_center) / self.t_scale

    def with_temperature(self, x, temperature):
        """Inputs of a conditional model: ``x`` ``(B, L, L, 1)`` with the standardised
        ``temperature`` (a number or ``(B,)``) as a second channel; ``x`` itself for an
        unconditional model."""
        if not self.conditioned:
            return x
        return self._with_t(x, self.standardize(temperature))

    def _with_t(self, x, t):
        """``x`` with the standardised temperature ``t`` (a number, ``(B,)`` or ``(B, 1)``)
        as a second channel."""
        x = tf.convert_to_tensor(x, tf.float32)
        t = tf.broadcast_to(tf.reshape(t, [-1, 1, 1, 1]), tf.shape(x))
        return tf.concat([x, t], -1)

    def _t(self, x):
        """The standardised temperature ``(B, 1)`` of conditional inputs."""
        return x[:, 0, 0, 1:2]

    def _cond(self, z, x=None, t=None):
        """The decoder's conditioning: ``z`` ``(..., d)``, with the temperature appended
        for a conditional model (taken from the inputs ``x`` or given as ``t`` ``(B, 1)``)."""
        if not self.conditioned:
            return z
        t = self._t(x) if t is None else t
        return tf.concat([z, tf.broadcast_to(t, tf.concat([tf.shape(z)[:-1], [1]], 0))], -1)

    def _build_prior_net(self):
        """The network of ``t`` that gives the prior's weights, means and log-variances
        (mirrored: a centre, a half-separation and a log-variance), from equal weights and
        unit variances at every T, with the means apart (identical components would stay
        identical)."""
        from isingvae.models.networks import mlp

        k, d = PRIOR_COMPONENTS, self.latent_dim
        apart = np.random.default_rng(self.noise_seed).normal(0.0, 0.5, (k, d))
        if self.prior_mirror:       # half-separation, log-variance, centre
            # nearly one Gaussian: the images part where the codes do (and the fit after
            # training, :meth:`fit_prior`, finds the humps however far apart)
            bias = np.concatenate([MIRROR_START * apart[0], np.zeros(2 * d)])
        else:                       # weights, then (mean, log-variance) per component
            bias = np.concatenate([np.zeros(k), np.concatenate(
                [apart, np.zeros((k, d))], 1).ravel()])
        net = mlp(1, 32, bias.size, self.activation, "prior_net")
        last = net.get_layer("out")
        last.kernel.assign(tf.zeros_like(last.kernel))
        last.bias.assign(bias.astype(np.float32))
        return net

    def _prior_mixture(self, t, net=None):
        """``(log weights (B, K), means (B, K, d), log-variances (B, K, d))`` of the
        prior p(z|T) at standardised temperatures ``t`` ``(B, 1)`` (from ``net``, a copy
        of the prior's network, when given)."""
        k, d = PRIOR_COMPONENTS, self.latent_dim
        out = (net or self.prior_net)(t)
        if self.prior_mirror:
            half, log_var, centre = out[..., :d], out[..., d:2 * d], out[..., 2 * d:]
            logits = tf.fill(tf.concat([tf.shape(out)[:-1], [k]], 0), -math.log(k))
            return (logits, tf.stack([centre + half, centre - half], -2),
                    tf.stack([log_var, log_var], -2))
        logits = tf.nn.log_softmax(out[..., :k], axis=-1)
        params = tf.reshape(out[..., k:], tf.concat([tf.shape(out)[:-1], [k, 2 * d]], 0))
        return logits, params[..., :d], params[..., d:]

    def fit_prior(self, z, t, steps: int, seed, passes: int | None = None,
                  batch_size: int = 1024,
                  learning_rate: float = 3e-2) -> tuple[float, float]:
        """Fit the prior p(z|T) alone, by maximum likelihood, to codes ``z`` ``(n, d)`` at
        standardised temperatures ``t`` ``(n, 1)``: ``steps`` Adam steps (at most
        ``passes`` passes over the codes) on minibatches drawn with the stateless
        ``seed``, the step size decaying from ``learning_rate``
        to 0 (cosine).  Returns the mean ``-log p(z|T)`` of all codes before and after, in
        nats; a fit that does not lower it is not kept.

        With the encoder and decoder fixed, the ELBO's only term that depends on the
        prior is :math:`E_x E_{q(z|x,T)} \\log p(z|T)`: fitted to draws of the aggregate
        posterior the prior goes where training, which moves it one noisy step at a time
        behind a moving target, may not have taken it (two humps below :math:`T_c`).
        """
        import keras

        z, t = tf.convert_to_tensor(z, tf.float32), tf.convert_to_tensor(t, tf.float32)
        if passes is not None:
            steps = min(steps, passes * -(-int(z.shape[0]) // batch_size))
        # fitted on a copy, whose variables belong to no distribution strategy, and
        # copied back
        net = keras.models.clone_model(self.prior_net)
        net.set_weights(self.prior_net.get_weights())
        weights = net.trainable_variables
        optimizer = keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps)))
        optimizer.build(weights)
        n = tf.shape(z)[0]

        def nll(zb, tb):
            return -tf.reduce_mean(self._mixture_log_prob(zb, tb, net))

        @tf.function
        def step(i):
            rows = tf.random.stateless_uniform(
                [batch_size], seed=tf.random.experimental.stateless_fold_in(seed, i),
                maxval=n, dtype=tf.int32)
            with tf.GradientTape() as tape:
                loss = nll(tf.gather(z, rows), tf.gather(t, rows))
            optimizer.apply(tape.gradient(loss, weights), weights)

        before = float(nll(z, t))
        for i in range(steps):
            step(tf.constant(i, tf.int64))
        after = float(nll(z, t))
        if after < before:
            self.prior_net.set_weights(net.get_weights())
        return before, min(before, after)

    def prior_moments(self, t):
        """Mean and log-variance ``(B, d)`` of the Gaussian with the prior's first two
        moments at standardised temperatures ``t`` (the analysis centres on the mean)."""
        logits, means, log_vars = self._prior_mixture(t)
        w = tf.exp(logits)[..., None]
        mean = tf.reduce_sum(w * means, axis=-2)
        second = tf.reduce_sum(w * (tf.exp(log_vars) + tf.square(means)), axis=-2)
        return mean, tf.math.log(second - tf.square(mean))

    def prior_log_prob(self, z, x=None):
        """log p(z) (log p(z|T) for a conditional model, T from the inputs ``x``) for
        latents ``(..., B, d)``."""
        if self.prior_flow is not None:
            return self.prior_flow.log_prob(z)
        if self.conditioned:
            return self._mixture_log_prob(z, self._t(x))
        return standard_normal_log_prob(z)

    def _mixture_log_prob(self, z, t, net=None):
        """log p(z|T) of latents ``(..., B, d)`` at standardised temperatures ``t``
        ``(B, 1)``, from the prior's network or from ``net``, a copy of it."""
        logits, means, log_vars = self._prior_mixture(t, net)
        per = gaussian_log_prob(z[..., None, :], means, log_vars)      # (..., B, K)
        return tf.reduce_logsumexp(logits + per, axis=-1)

    def prior_sample(self, n: int, seed, temperature=None):
        """``n`` latents from the prior p(z) (p(z|T) at ``temperature``): ``(n, d)``."""
        return self._prior_sample(n, seed, self._t_column(n, temperature))

    def _prior_sample(self, n: int, seed, t):
        """``n`` latents from the prior at standardised temperatures ``t`` ``(n, 1)``
        (None for an unconditional model)."""
        if self.prior_flow is not None:
            return self.prior_flow.sample(n, seed)
        fold = tf.random.experimental.stateless_fold_in
        eps = tf.random.stateless_normal([n, self.latent_dim], seed=fold(seed, 0))
        if not self.conditioned:
            return eps
        logits, means, log_vars = self._prior_mixture(t)
        pick = tf.random.stateless_categorical(logits, 1, seed=fold(seed, 1))[:, 0]
        mean = tf.gather(means, pick, batch_dims=1)
        log_var = tf.gather(log_vars, pick, batch_dims=1)
        return mean + tf.exp(0.5 * log_var) * eps

    def _t_column(self, n: int, temperature):
        """The standardised ``temperature`` as a column ``(n, 1)`` for a conditional
        model (refusing none), None for an unconditional one."""
        if not self.conditioned:
            return None
        if temperature is None:
            raise InputError("this model is conditioned on temperature: give one")
        return tf.broadcast_to(tf.reshape(self.standardize(temperature), [-1, 1]), [n, 1])

    def joint_draw(self, n: int, seed, temperature=None):
        """``n`` pairs ``(z, x)`` from the model's joint ``p(z|T) p(x|z,T)`` and, for each,
        ``log q(z|x,T) - log p(z|T) - log p(x|z,T)``: the configurations ``(n, L, L, 1)``
        in {0, 1} and that log-ratio ``(n,)``.  Adding ``-H(x)/T`` to the ratio gives the
        log-weight of neural importance sampling
        (:func:`isingvae.evaluation.importance.log_weights`), whose mean is the partition
        function.  Needs a posterior whose density can be evaluated at any ``z``: the
        diagonal Gaussian (no flow)."""
        if getattr(self, "flow", None) is not None:
            raise InputError("joint_draw needs q(z|x) at any z: a model without a "
                             "posterior flow")
        fold = tf.random.experimental.stateless_fold_in
        t = self._t_column(n, temperature)
        z = self._prior_sample(n, fold(seed, 0), t)
        c = self._cond(z, t=t)
        x = self.sample_from(c, fold(seed, 1))
        inputs = x if t is None else self._with_t(x, t)
        mean, log_var = self.encode(inputs)
        log_ratio = (gaussian_log_prob(z, mean, log_var) - self.prior_log_prob(z, inputs)
                     - self.log_px(inputs, c))
        return x, log_ratio

    def sample_x(self, n: int, seed, temperature=None):
        """``n`` configurations ``(n, L, L, 1)`` in {0, 1} from the model (at
        ``temperature`` for a conditional model): ``z`` from the prior, ``x`` from the
        decoder; the two draws use the stateless keys ``fold_in(seed, 0)`` and ``1``."""
        fold = tf.random.experimental.stateless_fold_in
        t = self._t_column(n, temperature)
        return self.sample_from(self._cond(self._prior_sample(n, fold(seed, 0), t), t=t),
                                fold(seed, 1))

