"""Drawing from a trained model in batches: configurations, and proposals with weights.

Two kinds of draw, each from its own random stream (:mod:`isingvae.random`):

- :func:`configurations`: ``x`` from the model, ``z`` from the prior (the prior at ``T``
  for a model conditioned on temperature) then the spins from the decoder; the
  ``generate`` stream (``isingvae sample``);
- :func:`proposals`: pairs ``(z, x)`` from the model's joint with the log-ratio
  ``log q(z|x,T) - log p(z|T) - log p(x|z,T)`` that turns them into importance weights
  (:func:`isingvae.evaluation.importance.log_weights`); the ``thermo`` stream (neural
  importance sampling and neural MCMC).

Batch ``b`` (starting at row ``b0``) of the draw with index ``k`` uses the stream's key
refined by ``k`` and then by ``b0``, so the same seed gives the same bits whatever the
batch size of an earlier call, and draws at several temperatures never share a key.
Spins come back as int8 ``+-1`` (:func:`isingvae.data.symmetry.to_spins`).
"""

from __future__ import annotations

import numpy as np

from isingvae import random
from isingvae.data.symmetry import to_spins

__all__ = ["BATCH", "configurations", "proposals"]

#: configurations per model call
BATCH = 4096


def configurations(model, n: int, seed: int, temperature: float | None = None,
                   index: int = 0, batch_size: int = BATCH) -> np.ndarray:
    """``n`` configurations ``(n, L, L)`` int8 of ``model`` at ``temperature`` (a model
    conditioned on temperature: any ``T`` in its trained range; M2 with temperature
    classes: one of its classes; other models: None)."""
    import tensorflow as tf

    from isingvae.models import compiled

    if temperature is not None and not model.conditioned:
        cls = model.class_index_of_temperature(temperature)
        fn, at = compiled(model, "sample_x_for_class"), cls
    else:
        fn = compiled(model, "sample_x")
        # a tensor, not a number: no retracing per temperature
        at = None if temperature is None else tf.constant(temperature, tf.float32)
    spins, _ = _in_batches(fn, at, n, model.L, _root(seed, "generate", index), batch_size,
                           with_ratio=False)
    return spins


def proposals(model, temperature: float, n: int, seed: int, index: int = 0,
              batch_size: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws of the model's joint at ``temperature``: spins ``(n, L, L)`` int8 and
    ``log q(z|x,T) - log p(z|T) - log p(x|z,T)`` ``(n,)`` float64 (``VAE.joint_draw``).
    An unconditional model proposes from ``p(z) p(x|z)`` at every temperature."""
    import tensorflow as tf

    from isingvae.models import compiled

    at = tf.constant(temperature, tf.float32) if model.conditioned else None
    return _in_batches(compiled(model, "joint_draw"), at, n, model.L,
                       _root(seed, "thermo", index), batch_size, with_ratio=True)


def _root(seed: int, purpose: str, index: int):
    import tensorflow as tf

    return tf.random.experimental.stateless_fold_in(
        tf.constant(random.tf_key(seed, purpose), tf.int64), index)


def _in_batches(fn, at, n: int, L: int, root, batch_size: int, with_ratio: bool):
    """Call ``fn(rows, key, at)`` on batches of at most ``batch_size`` rows, the key of a
    batch ``fold_in(root, first row)``; ``(spins, log_ratio or None)``."""
    import tensorflow as tf

    fold = tf.random.experimental.stateless_fold_in
    spins = np.empty((n, L, L), np.int8)
    log_ratio = np.empty(n, np.float64) if with_ratio else None
    for b0 in range(0, n, batch_size):
        m = min(batch_size, n - b0)
        out = fn(m, fold(root, b0), at)
        x = out[0] if with_ratio else out
        spins[b0:b0 + m] = to_spins(x.numpy())
        if with_ratio:
            log_ratio[b0:b0 + m] = out[1].numpy()
    return spins, log_ratio
