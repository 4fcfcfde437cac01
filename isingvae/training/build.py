"""The one place where settings become a model: :func:`build_model`.

``isingvae train``, the benchmarks and the notebooks all go through it, so a
:class:`~isingvae.training.TrainConfig` always means the same network.  The model's
posterior noise is seeded from the run's ``posterior-noise`` stream
(:mod:`isingvae.random`), never from the seed itself.
"""

from __future__ import annotations

import numpy as np

from isingvae import random

__all__ = ["build_model"]


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
