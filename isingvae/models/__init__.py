"""Keras 3 models (TensorFlow backend): the VAE and its building blocks.

Importing this module imports Keras and TensorFlow and registers the package's Keras
objects, so that ``keras.saving.load_model("RUN_DIR/model.keras")`` can rebuild them.
``import isingvae`` arranges that registration without importing TensorFlow itself
(see :mod:`isingvae._keras_hook`).
"""

from isingvae.models.flows import FLOW_KINDS, MADE, CouplingNet, MAFPrior, PosteriorFlow
from isingvae.models.heads import HEAD_KINDS, VIB, HeadVAE
from isingvae.models.hierarchical import HierarchicalVAE
from isingvae.models.layers import CircularPad2D
from isingvae.models.m2 import M2, M2_CLASSES
from isingvae.models.vae import (
    FAMILIES,
    KL_ESTIMATORS,
    KL_SCHEDULES,
    PRIORS,
    VAE,
    bernoulli_log_prob,
    build_decoder,
    build_encoder,
    compiled,
    gaussian_kl,
    gaussian_log_prob,
    standard_normal_log_prob,
)

__all__ = [
    "FAMILIES",
    "FLOW_KINDS",
    "HEAD_KINDS",
    "KL_ESTIMATORS",
    "KL_SCHEDULES",
    "M2",
    "M2_CLASSES",
    "MADE",
    "PRIORS",
    "VAE",
    "VIB",
    "CircularPad2D",
    "CouplingNet",
    "HeadVAE",
    "HierarchicalVAE",
    "MAFPrior",
    "PosteriorFlow",
    "bernoulli_log_prob",
    "build_decoder",
    "build_encoder",
    "compiled",
    "gaussian_kl",
    "gaussian_log_prob",
    "standard_normal_log_prob",
]
