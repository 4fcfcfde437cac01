"""The one place where settings become a model: :func:`build_model`.

``isingvae train``, the benchmarks and the notebooks all go through it, so a
:class:`~isingvae.training.TrainConfig` always means the same network.  The model's
posterior noise is seeded from the run's ``posterior-noise`` stream
(:mod:`isingvae.random`), never from the seed itself.
"""

from __future__ import annotations

import itertools

import numpy as np

from isingvae import random

__all__ = ["build_model", "memory_estimate"]


def build_model(config, L: int, steps_per_epoch: int, temperatures=None):
    """The (uncompiled) Keras model that ``config`` describes for ``L x L`` lattices.

    ``steps_per_epoch`` sets the length of the KL warm-up; ``temperatures`` (the training
    rows' temperatures) standardise a temperature head and give M2's temperature
    classes.  Imports TensorFlow.
    """
    from isingvae.models import M2, VAE, HeadVAE, HierarchicalVAE

    total = steps_per_epoch * config.epochs
    common = dict(
        L=L, latent_dim=config.latent_dim, family=config.family,
        filters=config.filters, units=config.units, activation=config.activation,
        beta=config.beta, free_bits=config.free_bits, kl_estimator=config.kl_estimator,
        kl_schedule="none" if config.kl_warmup == 0 else config.kl_schedule,
        warmup_steps=steps_per_epoch * config.kl_warmup,
        cycle_steps=max(2, total // config.kl_cycles),
        noise_seed=random.int_seed(config.seed, "posterior-noise"))
    if config.levels == 2:
        return HierarchicalVAE(top_dim=config.top_dim, **common)
    temps = np.asarray([] if temperatures is None else temperatures, dtype=np.float64)
    if config.head.startswith("m2"):
        return M2(classes=config.head.split("-", 1)[1],
                  class_temperatures=np.unique(temps).tolist(), alpha=config.head_weight,
                  **common)
    flows = dict(flow=config.flow, flow_depth=config.flow_depth,
                 flow_amortized=config.flow_amortized, prior=config.prior,
                 prior_depth=config.prior_depth)
    if config.head.startswith("vib"):
        t_mean = float(temps.mean()) if temps.size else 0.0
        t_std = float(temps.std()) if temps.size and temps.std() > 0 else 1.0
        return HeadVAE(head=config.head.split("-", 1)[1], head_units=config.head_units,
                       head_weight=config.head_weight, t_mean=t_mean, t_std=t_std,
                       **flows, **common)
    return VAE(**flows, **common)


def _dense_chain(widths) -> int:
    return sum(a * b for a, b in itertools.pairwise(widths))


def memory_estimate(config, L: int) -> int:
    """Bytes a training run of ``config`` on ``L x L`` lattices holds at once, roughly:
    every weight four times (itself, its gradient, Adam's two moments) and the
    activations of a batch through the widest layer, forwards and backwards.  Flows,
    priors and heads are small beside the networks and are left out."""
    d, units = config.latent_dim, list(config.units)
    if config.family == "conv":
        size, channels, conv = L, 1, 0
        for f in config.filters:
            conv += 9 * channels * f
            channels, size = f, size // 2 if size % 2 == 0 and size >= 4 else size
        flat = size * size * channels
        widest = L * L * max(config.filters)
    else:
        conv, flat, widest = 0, L * L, max(L * L, *units)
    encoder = conv + _dense_chain([flat, *units, 2 * d])
    decoder = _dense_chain([d, *units[::-1], flat]) + conv
    weights = 4 * (encoder + decoder)
    activations = 6 * config.batch_size * widest
    return 4 * (weights + activations)
