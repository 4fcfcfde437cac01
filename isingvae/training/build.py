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

__all__ = ["build_model", "conditions_on_temperature", "memory_estimate",
           "temperature_scale"]


def temperature_scale(temperatures) -> dict:
    """How a model standardises temperatures: mean and spread of the training rows'
    temperatures, and their range (what a conditional model may generate at)."""
    t = np.asarray(temperatures, dtype=np.float64)
    scale = float(t.std()) if t.size and t.std() > 0 else 1.0
    return {"t_center": float(t.mean()) if t.size else 0.0, "t_scale": scale,
            "t_min": float(t.min()) if t.size else None,
            "t_max": float(t.max()) if t.size else None}


def conditions_on_temperature(config, temperatures) -> bool:
    """Whether a run of ``config`` on rows at ``temperatures`` conditions on temperature:
    always for ``condition="temperature"``, never for ``none``, and for ``auto`` when the
    model allows it (no head, one level, the normal prior) and the rows hold two or more
    temperatures."""
    if config.condition != "auto":
        return config.condition == "temperature"
    plain = config.head == "none" and config.levels == 1 and config.prior == "normal"
    return plain and np.unique(np.asarray(temperatures, dtype=np.float64)).size >= 2


def build_model(config, L: int, steps_per_epoch: int, temperatures=None):
    """The (uncompiled) Keras model that ``config`` describes for ``L x L`` lattices.

    ``steps_per_epoch`` sets the length of the KL warm-up; ``temperatures`` (the training
    rows' temperatures) standardise a temperature head or the conditioning on
    temperature, and give M2's temperature classes.  Imports TensorFlow.
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
        noise_seed=random.int_seed(config.seed, "posterior-noise"),
        decoder=config.decoder, decoder_width=config.decoder_width,
        decoder_depth=config.decoder_depth, local_terms=config.local_terms)
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
        scale = temperature_scale(temps)
        return HeadVAE(head=config.head.split("-", 1)[1], head_units=config.head_units,
                       head_weight=config.head_weight, t_mean=scale["t_center"],
                       t_std=scale["t_scale"], **flows, **common)
    if conditions_on_temperature(config, temps):      # a mixture prior: the Monte Carlo KL
        return VAE(condition="temperature", **temperature_scale(temps),
                   prior_mirror=config.prior_mirror,
                   **{**flows, **common, "kl_estimator": "mc"})
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
    if config.decoder == "autoregressive":      # two stages of a level in one pass
        widest = max(widest, 2 * L * L * config.decoder_width)
    encoder = conv + _dense_chain([flat, *units, 2 * d])
    decoder = _dense_chain([d, *units[::-1], flat]) + conv
    weights = 4 * (encoder + decoder)
    activations = 6 * config.batch_size * widest
    return 4 * (weights + activations)
