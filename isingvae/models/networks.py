"""Encoders and decoders on the periodic lattice (Keras functional models).

``family="conv"``: 3 x 3 convolutions after periodic padding (:class:`CircularPad2D`),
stride 2 while the map halves evenly, then dense layers; the decoder mirrors it with
upsampling, so every layer commutes with the lattice translations it can represent.
``family="dense"``: the flattened lattice through an MLP (the classic Ising-VAE set-up).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import tensorflow as tf

from isingvae.models.layers import CircularPad2D

__all__ = ["apply_flat", "build_decoder", "build_encoder", "conv_levels", "mlp"]


def apply_flat(net, t):
    """A functional model on ``(..., n_in)``: flatten the leading axes and restore them."""
    shape = tf.shape(t)
    out = net(tf.reshape(t, [-1, t.shape[-1]]))
    return tf.reshape(out, tf.concat([shape[:-1], [out.shape[-1]]], axis=0))


def conv_levels(L: int, n: int) -> list[int]:
    """Stride of each of ``n`` conv levels: 2 while the map halves evenly (>= 2 left)."""
    strides, size = [], L
    for _ in range(n):
        s = 2 if size % 2 == 0 and size >= 4 else 1
        strides.append(s)
        size //= s
    return strides


def build_encoder(L: int, latent_dim: int, family: str, filters: Sequence[int],
                  units: Sequence[int], activation: str, extra: int = 0,
                  channels: int = 1) -> keras.Model:
    """x of shape (L, L, channels) -> concatenated (mean, log_var, context) of shape
    (2 d + extra,); channel 0 holds the spins in {0, 1}, a second channel the
    standardised temperature of a conditional model; the ``extra`` context numbers feed
    an amortized flow."""
    inp = keras.Input((L, L, channels), name="x")
    h = keras.layers.Rescaling(2.0, offset=-1.0, name="to_spins")(inp)
    if family == "conv":
        for k, (f, s) in enumerate(zip(filters, conv_levels(L, len(filters)), strict=True)):
            h = CircularPad2D(1, name=f"pad{k}")(h)
            h = keras.layers.Conv2D(f, 3, strides=s, activation=activation, name=f"conv{k}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    for k, u in enumerate(units):
        h = keras.layers.Dense(u, activation=activation, name=f"dense{k}")(h)
    out = keras.layers.Dense(2 * latent_dim + extra, name="posterior")(h)
    return keras.Model(inp, out, name="encoder")


def build_decoder(L: int, latent_dim: int, family: str, filters: Sequence[int],
                  units: Sequence[int], activation: str) -> keras.Model:
    """z of shape (d,) -> Bernoulli logits of shape (L, L, 1)."""
    inp = keras.Input((latent_dim,), name="z")
    h = inp
    for k, u in enumerate(reversed(units)):
        h = keras.layers.Dense(u, activation=activation, name=f"dense{k}")(h)
    if family == "dense":
        h = keras.layers.Dense(L * L, name="logits")(h)
        out = keras.layers.Reshape((L, L, 1), name="lattice")(h)
        return keras.Model(inp, out, name="decoder")
    strides = conv_levels(L, len(filters))
    size = L // math.prod(strides)
    h = keras.layers.Dense(size * size * filters[-1], activation=activation, name="expand")(h)
    h = keras.layers.Reshape((size, size, filters[-1]), name="coarse")(h)
    widths = [*list(filters[:-1])[::-1], filters[0]]
    for k, (f, s) in enumerate(zip(widths, strides[::-1], strict=True)):
        if s > 1:
            h = keras.layers.UpSampling2D(s, name=f"up{k}")(h)
        h = CircularPad2D(1, name=f"pad{k}")(h)
        h = keras.layers.Conv2D(f, 3, activation=activation, name=f"conv{k}")(h)
    h = CircularPad2D(1, name="pad_out")(h)
    out = keras.layers.Conv2D(1, 3, name="logits")(h)
    return keras.Model(inp, out, name="decoder")


def mlp(n_in: int, width: int, n_out: int, activation: str, name: str) -> keras.Model:
    """One hidden layer of ``width``: ``(n_in,) -> (n_out,)``."""
    inp = keras.Input((n_in,), name="in")
    h = keras.layers.Dense(width, activation=activation, name="hidden")(inp)
    out = keras.layers.Dense(n_out, name="out")(h)
    return keras.Model(inp, out, name=name)
