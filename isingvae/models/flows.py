"""Normalizing flows for the posterior and the prior, with parameters owned by Keras 3 layers.

A flow pushes a sample of a simple density through invertible maps and tracks the
density by the change of variables.  Four posterior flows are offered
(:data:`FLOW_KINDS`), each ``depth`` layers deep:

- ``planar`` and ``radial`` (Rezende & Mohamed 2015): one-line maps whose
  log-determinant is a scalar formula (:mod:`isingvae.models.bijectors`);
- ``iaf``, inverse autoregressive flow (Kingma et al. 2016): the inverse of
  ``tfb.MaskedAutoregressiveFlow``, so sampling and scoring one's own samples take a
  single pass of the masked network :class:`MADE`, with a reversal of the coordinates
  between layers;
- ``realnvp`` (Dinh et al. 2017): ``tfb.RealNVP`` affine couplings driven by
  :class:`CouplingNet`, again with reversals between layers.

``amortized=True`` makes the flow depend on the configuration: planar and radial
take their parameters directly from the encoder (a ``context`` vector of
:attr:`PosteriorFlow.context_size` numbers per configuration), IAF and RealNVP feed a
context vector from the encoder into their networks as an extra input (as in the IAF
paper).  ``amortized=False`` gives global flows, one set of parameters shared by all
configurations.

:class:`MAFPrior` is a learned prior ``p(z)``: a standard normal pushed through
masked autoregressive flows, scored in one pass (the MAF inverse) and sampled
sequentially.

The Keras layers here own every trainable parameter (so they train, checkpoint and
save with the model); the TensorFlow Probability bijectors are rebuilt around them at
each call and hold no state.  Nothing from ``tfp.layers`` or TFP's Keras 2 networks is
used.  TensorFlow Probability itself is imported on first use, so that importing
:mod:`isingvae.models` stays cheap.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import tensorflow as tf

from isingvae import _validate as _v
from isingvae.errors import InputError

__all__ = ["FLOW_KINDS", "MADE", "CouplingNet", "MAFPrior", "PosteriorFlow", "made_masks"]

FLOW_KINDS = ("planar", "radial", "iaf", "realnvp")
#: log-scales of the affine flows are squashed into (-LOG_SCALE_BOUND, +LOG_SCALE_BOUND)
LOG_SCALE_BOUND = 3.0


def _tfb():
    from isingvae.models._tfp import tfb

    return tfb


def _bounded(raw):
    return LOG_SCALE_BOUND * tf.tanh(raw / LOG_SCALE_BOUND)


def made_masks(dim: int, hidden: tuple[int, ...]) -> list[np.ndarray]:
    """0/1 masks of a MADE network over ``dim`` ordered inputs (Germain et al. 2015).

    Input ``i`` has degree ``i + 1``; hidden unit ``k`` of each layer degree
    ``1 + k mod max(1, dim - 1)``; a unit sees the units of the previous layer whose
    degree is not larger than its own, and output ``i`` sees hidden units of degree
    ``<= i``.  So output ``i`` depends on inputs ``0 .. i-1`` only: the Jacobian of
    the outputs with respect to the inputs is strictly lower triangular.
    """
    degrees = [np.arange(1, dim + 1)]
    for h in hidden:
        degrees.append(1 + np.arange(h) % max(1, dim - 1))
    masks = [(d_out[None, :] >= d_in[:, None]).astype("float32")
             for d_in, d_out in itertools.pairwise(degrees)]
    out = np.arange(1, dim + 1)
    masks.append((out[None, :] > degrees[-1][:, None]).astype("float32"))
    return masks


@keras.saving.register_keras_serializable(package="isingvae")
class MADE(keras.layers.Layer):
    """Masked autoregressive network: ``z (..., d) -> (shift, log_scale)``, each ``(..., d)``.

    Output ``i`` depends on ``z_0 .. z_{i-1}`` only (and on the optional ``context``,
    which enters every first-layer unit unmasked).  The output weights start at zero, so
    a fresh flow is the identity.  Log-scales are bounded by :data:`LOG_SCALE_BOUND`.
    """

    def __init__(self, dim: int, hidden: tuple[int, ...] = (64,), context_dim: int = 0,
                 activation: str = "elu", **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.hidden = tuple(int(h) for h in hidden)
        self.context_dim = int(context_dim)
        self.activation = keras.activations.get(activation)
        self._activation_name = activation
        self._masks = [tf.constant(m) for m in made_masks(self.dim, self.hidden)]

    def build(self, input_shape=None):
        sizes = [self.dim, *self.hidden]
        self.kernels, self.biases = [], []
        for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            self.kernels.append(self.add_weight((n_in, n_out), initializer="glorot_uniform",
                                                name=f"kernel{k}"))
            self.biases.append(self.add_weight((n_out,), initializer="zeros", name=f"bias{k}"))
        self.context_kernel = None
        if self.context_dim:
            self.context_kernel = self.add_weight((self.context_dim, sizes[1]),
                                                  initializer="glorot_uniform",
                                                  name="context_kernel")
        self.out_kernel = self.add_weight((sizes[-1], 2 * self.dim), initializer="zeros",
                                          name="out_kernel")
        self.out_bias = self.add_weight((2 * self.dim,), initializer="zeros", name="out_bias")
        self.built = True

    def call(self, z, context=None):
        # a context of shape (B, c) broadcasts over leading sample axes of z (n, B, d)
        h = z
        for k, (w, b) in enumerate(zip(self.kernels, self.biases, strict=True)):
            h = tf.linalg.matmul(h, w * self._masks[k]) + b
            if k == 0 and self.context_kernel is not None and context is not None:
                h = h + tf.linalg.matmul(context, self.context_kernel)
            h = self.activation(h)
        out_mask = tf.tile(self._masks[-1], [1, 2])
        out = tf.linalg.matmul(h, self.out_kernel * out_mask) + self.out_bias
        shift, raw = tf.split(out, 2, axis=-1)
        return shift, _bounded(raw)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "hidden": list(self.hidden),
                "context_dim": self.context_dim, "activation": self._activation_name}


@keras.saving.register_keras_serializable(package="isingvae")
class CouplingNet(keras.layers.Layer):
    """RealNVP coupling network: the fixed half ``x0 (..., k)`` -> ``(shift, log_scale)``
    for the other half (``(..., out_dim)`` each); optional ``context`` as an extra input.
    Output weights start at zero (identity coupling)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: tuple[int, ...] = (64,),
                 context_dim: int = 0, activation: str = "elu", **kwargs):
        super().__init__(**kwargs)
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.hidden = tuple(int(h) for h in hidden)
        self.context_dim = int(context_dim)
        self._activation_name = activation
        self.layers_ = [keras.layers.Dense(h, activation=activation, name=f"dense{k}")
                        for k, h in enumerate(self.hidden)]
        self.context_layer = (keras.layers.Dense(self.hidden[0], use_bias=False,
                                                 name="context") if self.context_dim else None)
        self.out = keras.layers.Dense(2 * self.out_dim, kernel_initializer="zeros", name="out")

    def build(self, input_shape=None):
        size = self.in_dim
        for layer in self.layers_:
            layer.build((None, size))
            size = layer.units
        if self.context_layer is not None:
            self.context_layer.build((None, self.context_dim))
        self.out.build((None, size))
        self.built = True

    def call(self, x0, context=None):
        h = x0
        for k, layer in enumerate(self.layers_):
            if k == 0 and self.context_layer is not None and context is not None:
                h = layer.activation(tf.linalg.matmul(h, layer.kernel) + layer.bias
                                     + self.context_layer(context))
            else:
                h = layer(h)
        shift, raw = tf.split(self.out(h), 2, axis=-1)
        return shift, _bounded(raw)

    def get_config(self):
        return {**super().get_config(), "in_dim": self.in_dim, "out_dim": self.out_dim,
                "hidden": list(self.hidden), "context_dim": self.context_dim,
                "activation": self._activation_name}


def _reverse(dim: int):
    return _tfb().Permute(permutation=list(range(dim - 1, -1, -1)))


@keras.saving.register_keras_serializable(package="isingvae")
class PosteriorFlow(keras.layers.Layer):
    """``depth`` flow layers of one ``kind`` (:data:`FLOW_KINDS`) on ``dim``-vectors.

    :meth:`bijector` returns the TFP bijector ``z_0 -> z_K`` for a batch of contexts
    (``None`` for a global flow).  :attr:`context_size` is how many numbers per
    configuration the encoder must supply (0 for global flows).
    """

    def __init__(self, kind: str, depth: int, dim: int, amortized: bool = True,
                 hidden: tuple[int, ...] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.kind = _v.choice("flow", kind, FLOW_KINDS)
        self.depth = _v.count("flow depth", depth, 1)
        self.dim = _v.count("latent dimension", dim, 1)
        if self.kind == "realnvp" and self.dim < 2:
            raise InputError("a RealNVP flow needs a latent dimension of at least 2")
        self.amortized = bool(amortized)
        self.hidden = tuple(hidden) if hidden else (max(64, 4 * self.dim),)
        d = self.dim
        # networks of the autoregressive/coupling flows see a context vector of d numbers
        per_layer = {"planar": 2 * d + 1, "radial": d + 2}
        if not self.amortized:
            self.context_size = 0
        elif self.kind in per_layer:
            self.context_size = self.depth * per_layer[self.kind]
        else:
            self.context_size = d
        ctx = d if (self.amortized and self.kind in ("iaf", "realnvp")) else 0
        if self.kind == "iaf":
            self.nets = [MADE(d, self.hidden, ctx, name=f"made{k}") for k in range(self.depth)]
        elif self.kind == "realnvp":
            k0 = d // 2
            self.nets = [CouplingNet(k0, d - k0, self.hidden, ctx, name=f"coupling{k}")
                         for k in range(self.depth)]
        else:
            self.nets = []

    def build(self, input_shape=None):
        d, k = self.dim, self.depth
        if not self.amortized and self.kind == "planar":
            small = keras.initializers.RandomNormal(stddev=0.1)
            self.w = self.add_weight((k, d), initializer=small, name="w")
            self.u = self.add_weight((k, d), initializer=small, name="u")
            self.b = self.add_weight((k,), initializer="zeros", name="b")
        elif not self.amortized and self.kind == "radial":
            self.z0 = self.add_weight((k, d), initializer=keras.initializers.RandomNormal(
                stddev=0.1), name="z0")
            self.alpha_raw = self.add_weight((k,), initializer="zeros", name="alpha_raw")
            self.beta_raw = self.add_weight((k,), initializer="zeros", name="beta_raw")
        for net in self.nets:
            net.build()
        self.built = True

    def _params(self, context, k):
        """Raw parameters of layer ``k``: from the weights, or sliced from the context."""
        d = self.dim
        if self.kind == "planar":
            if not self.amortized:
                return self.w[k], self.u[k], self.b[k]
            p = context[..., k * (2 * d + 1):(k + 1) * (2 * d + 1)]
            return p[..., :d], p[..., d:2 * d], p[..., 2 * d]
        if not self.amortized:
            return self.z0[k], self.alpha_raw[k], self.beta_raw[k]
        p = context[..., k * (d + 2):(k + 1) * (d + 2)]
        return p[..., :d], p[..., d], p[..., d + 1]

    def layer_bijectors(self, context=None):
        """The bijectors of the ``depth`` layers, in the order they are applied."""
        from isingvae.models import bijectors as own

        tfb = _tfb()
        if self.amortized and context is None:
            raise ValueError("an amortized flow needs the encoder's context")
        steps = []
        for k in range(self.depth):
            if self.kind == "planar":
                steps.append(own.Planar(*self._params(context, k), name=f"planar{k}"))
            elif self.kind == "radial":
                steps.append(own.Radial(*self._params(context, k), name=f"radial{k}"))
            else:
                if k > 0:
                    steps.append(_reverse(self.dim))
                net, ctx = self.nets[k], (context if self.amortized else None)
                if self.kind == "iaf":
                    maf = tfb.MaskedAutoregressiveFlow(
                        shift_and_log_scale_fn=lambda y, net=net, ctx=ctx: net(y, ctx),
                        name=f"maf{k}")
                    steps.append(tfb.Invert(maf, name=f"iaf{k}"))
                else:
                    steps.append(tfb.RealNVP(
                        num_masked=self.dim // 2,
                        shift_and_log_scale_fn=lambda x0, _units, net=net, ctx=ctx: net(x0, ctx),
                        name=f"realnvp{k}"))
        return steps

    def bijector(self, context=None):
        """The whole flow ``z_0 -> z_K`` as one TFP bijector."""
        return _tfb().Chain(self.layer_bijectors(context)[::-1])

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "depth": self.depth,
                "dim": self.dim, "amortized": self.amortized, "hidden": list(self.hidden)}


@keras.saving.register_keras_serializable(package="isingvae")
class MAFPrior(keras.layers.Layer):
    """Learned prior: ``N(0, I_d)`` pushed through ``depth`` masked autoregressive flows.

    ``log_prob`` runs each MADE once (the MAF inverse); ``sample`` is sequential in
    the ``d`` coordinates (``d`` passes per layer), fine for generating configurations.
    """

    def __init__(self, dim: int, depth: int = 2, hidden: tuple[int, ...] | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.dim = _v.count("latent dimension", dim, 1)
        self.depth = _v.count("prior depth", depth, 1)
        self.hidden = tuple(hidden) if hidden else (max(64, 4 * self.dim),)
        self.nets = [MADE(self.dim, self.hidden, name=f"made{k}") for k in range(self.depth)]

    def build(self, input_shape=None):
        for net in self.nets:
            net.build()
        self.built = True

    def distribution(self):
        from isingvae.models._tfp import tfb, tfd

        steps = []
        for k, net in enumerate(self.nets):
            if k > 0:
                steps.append(_reverse(self.dim))
            steps.append(tfb.MaskedAutoregressiveFlow(
                shift_and_log_scale_fn=lambda y, net=net: net(y), name=f"maf{k}"))
        base = tfd.MultivariateNormalDiag(loc=tf.zeros([self.dim]))
        return tfd.TransformedDistribution(base, tfb.Chain(steps[::-1]))

    def log_prob(self, z):
        return self.distribution().log_prob(z)

    def sample(self, n, seed):
        """``n`` draws ``(n, d)`` from a stateless ``seed`` (two integers)."""
        eps = tf.random.stateless_normal([n, self.dim], seed=seed)
        return self.distribution().bijector.forward(eps)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "depth": self.depth,
                "hidden": list(self.hidden)}
