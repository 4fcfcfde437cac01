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
  :math:`T_c`).  The KL to a mixture has no closed form; such a model uses the one-sample
  Monte Carlo KL.

An unconditional model has the standard normal prior or a learned MAF prior
(:class:`~isingvae.models.flows.MAFPrior`); both are served here too.

References: K. Sohn, H. Lee and X. Yan, "Learning structured output representation using
deep conditional generative models", NeurIPS (2015), for a VAE whose encoder, decoder and
prior all see the conditioning variable; N. Dilokthanakul et al., "Deep unsupervised
clustering with Gaussian mixture variational autoencoders", arXiv:1611.02648 (2016), for
a mixture-of-Gaussians prior.
"""

from __future__ import annotations

import tensorflow as tf

from isingvae.errors import InputError
from isingvae.models.densities import gaussian_log_prob, standard_normal_log_prob

__all__ = ["PRIOR_COMPONENTS", "Conditioning"]

#: Gaussians in the prior p(z|T) of a model conditioned on temperature
PRIOR_COMPONENTS = 2


class Conditioning:
    """Mixed into :class:`~isingvae.models.VAE` (module docstring).  Expects
    ``condition``, ``t_center``, ``t_scale``, ``latent_dim``, ``prior_flow``,
    ``prior_net`` and ``prior_components`` on the model, and a decoder
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

    def _prior_mixture(self, t):
        """``(log weights (B, K), means (B, K, d), log-variances (B, K, d))`` of the
        prior p(z|T) at standardised temperatures ``t`` ``(B, 1)``."""
        k, d = self.prior_components, self.latent_dim
        out = self.prior_net(t)
        logits = tf.nn.log_softmax(out[..., :k], axis=-1)
        params = tf.reshape(out[..., k:], tf.concat([tf.shape(out)[:-1], [k, 2 * d]], 0))
        return logits, params[..., :d], params[..., d:]

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
            logits, means, log_vars = self._prior_mixture(self._t(x))
            per = gaussian_log_prob(z[..., None, :], means, log_vars)      # (..., B, K)
            return tf.reduce_logsumexp(logits + per, axis=-1)
        return standard_normal_log_prob(z)

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

