"""Decoding: the Bernoulli likelihood ``p(x | c)``, factorised or autoregressive.

``c`` is the conditioning vector of the decoder: the latent ``z``, with the
standardised temperature appended for a model conditioned on it, or with a class for
M2.  ``decoder="factorized"`` maps ``c`` to one logit per site
(:func:`isingvae.models.networks.build_decoder`); ``decoder="autoregressive"`` is
:class:`~isingvae.models.multiscale.MultiscaleDecoder`.  Either way
:meth:`Decoding.log_px` is exact and :meth:`Decoding.sample_from` draws from it, so the
importance-weighted likelihood, flows, heads and M2 work with both.
"""

from __future__ import annotations

import tensorflow as tf

from isingvae.models.densities import bernoulli_log_prob, bernoulli_sample
from isingvae.models.multiscale import MultiscaleDecoder
from isingvae.models.networks import build_decoder

__all__ = ["Decoding"]


class Decoding:
    """Mixed into :class:`~isingvae.models.VAE` (module docstring).  Expects ``L``,
    ``decoder_kind``, ``decoder_width``, ``decoder_depth`` and the network settings
    on the model, and ``decoder`` built by :meth:`_make_decoder`."""

    def _make_decoder(self, cond_dim: int):
        """The decoder of ``p(x | c)`` for conditioning vectors of ``cond_dim``."""
        if self.decoder_kind == "autoregressive":
            decoder = MultiscaleDecoder(self.L, cond_dim, width=self.decoder_width,
                                        depth=self.decoder_depth, activation=self.activation,
                                        local=self.local_terms, name="decoder")
            decoder.build()
            return decoder
        return build_decoder(self.L, cond_dim, self.family, self.filters, self.units,
                             self.activation)

    def decode(self, c, training=False):
        """Bernoulli logits ``(..., L, L, 1)`` of the factorised decoder for conditioning
        vectors ``c`` ``(..., k)`` (the latent, with the standardised temperature of a
        conditional model appended: :meth:`_cond`)."""
        shape = tf.shape(c)
        logits = self.decoder(tf.reshape(c, [-1, c.shape[-1]]), training=training)
        return tf.reshape(logits, tf.concat([shape[:-1], [self.L, self.L, 1]], axis=0))

    def log_px(self, x, c, training=False):
        """``log p(x | c)`` of every conditioning vector ``c`` ``(..., B, k)`` for the
        configurations ``x`` ``(B, L, L, channels)``: shape ``c.shape[:-1]``."""
        spins = x[..., :1]
        if self.decoder_kind == "factorized":
            return bernoulli_log_prob(spins, self.decode(c, training=training))
        shape = tf.shape(c)[:-1]
        flat = tf.reshape(c, [-1, c.shape[-1]])
        x_all = tf.broadcast_to(spins, tf.concat([shape, [self.L, self.L, 1]], 0))
        log_p = self.decoder.log_prob(tf.reshape(x_all, [-1, self.L, self.L, 1]), flat,
                                      training=training)
        return tf.reshape(log_p, shape)

    def sample_from(self, c, seed):
        """Configurations ``(B, L, L, 1)`` in {0, 1} drawn from ``p(x | c)``."""
        if self.decoder_kind == "autoregressive":
            return self.decoder.sample(c, seed)
        return bernoulli_sample(self.decode(c), seed)

    def conditional_logits(self, x, c):
        """Logits of ``p(x_i = 1 | ...)`` at every site ``(B, L, L, 1)``: the decoder's
        output for a factorised decoder, the per-site conditionals given ``x`` for the
        autoregressive one."""
        if self.decoder_kind == "factorized":
            return self.decode(c)
        return self.decoder.stage_conditionals(x[..., :1], c)[..., None]

