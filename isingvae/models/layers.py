"""Keras 3 layers that respect the torus on which the Ising configurations live."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="isingvae")
class CircularPad2D(keras.layers.Layer):
    """Pad the two lattice axes of ``(batch, L, L, channels)`` periodically.

    A ``3 x 3`` convolution after ``CircularPad2D(1)`` with ``padding="valid"`` sees
    the same neighbours at every site, boundary sites included, exactly as the
    Hamiltonian on the torus does; zero padding would treat the edge as a wall of
    zero-magnetization spins and break translation symmetry.
    """

    def __init__(self, pad: int = 1, **kwargs):
        super().__init__(**kwargs)
        if int(pad) < 0:
            raise ValueError(f"pad must be >= 0, got {pad!r}")
        self.pad = int(pad)

    def call(self, x):
        p = self.pad
        if p == 0:
            return x
        x = ops.concatenate([x[:, -p:], x, x[:, :p]], axis=1)
        return ops.concatenate([x[:, :, -p:], x, x[:, :, :p]], axis=2)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        grow = 2 * self.pad
        return (b, None if h is None else h + grow, None if w is None else w + grow, c)

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}
