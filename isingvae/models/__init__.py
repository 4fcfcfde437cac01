"""Keras 3 models (TensorFlow backend): the VAE, its flows, heads and variants.

Modules, one concept each:

- :mod:`~isingvae.models.options`: every choice and default (no TensorFlow);
- :mod:`~isingvae.models.densities`: Gaussian and Bernoulli log-densities, the KL;
- :mod:`~isingvae.models.networks`: periodic-conv and dense encoders and decoders;
- :mod:`~isingvae.models.layers`: :class:`CircularPad2D`, padding on the torus;
- :mod:`~isingvae.models.vae`: :class:`VAE` (ELBO, IW weights), with its objective
  (:mod:`~isingvae.models.objective`: KL warm-up, free bits, noise streams), its
  decoders (:mod:`~isingvae.models.decoding`; the autoregressive one in
  :mod:`~isingvae.models.multiscale`) and conditioning on temperature
  (:mod:`~isingvae.models.conditioning`);
- :mod:`~isingvae.models.bijectors` and :mod:`~isingvae.models.flows`: planar and
  radial bijectors, flow posteriors (planar, radial, IAF, RealNVP), the MAF prior;
- :mod:`~isingvae.models.hierarchical`: the two-level top-down VAE;
- :mod:`~isingvae.models.heads`: the information bottleneck (:class:`VIB`,
  :class:`HeadVAE`); :mod:`~isingvae.models.m2`: the semi-supervised :class:`M2`.

Names load on first use, so ``from isingvae.models import options`` (or reading
:data:`~isingvae.models.options.FLOWS`) never imports TensorFlow.  :func:`register`
imports every module that defines a saved Keras class, which
``keras.saving.load_model("RUN_DIR/model.keras")`` needs; ``import isingvae`` arranges
that it runs as soon as Keras and TensorFlow are loaded (:mod:`isingvae._keras_hook`).
"""

import importlib

#: modules that define Keras classes saved in ``model.keras`` (registered on import)
KERAS_MODULES = ("layers", "flows", "multiscale", "vae", "hierarchical", "heads", "m2")

_NAMES = {
    "CircularPad2D": "layers",
    "MADE": "flows", "CouplingNet": "flows", "MAFPrior": "flows", "PosteriorFlow": "flows",
    "FLOW_KINDS": "flows",
    "VAE": "vae", "compiled": "vae",
    "bernoulli_log_prob": "densities", "gaussian_kl": "densities",
    "gaussian_log_prob": "densities", "standard_normal_log_prob": "densities",
    "build_decoder": "networks", "build_encoder": "networks",
    "HierarchicalVAE": "hierarchical",
    "MultiscaleDecoder": "multiscale",
    "HEAD_KINDS": "heads", "VIB": "heads", "HeadVAE": "heads",
    "M2": "m2", "M2_CLASSES": "m2",
}
_MODULES = {"bijectors", "conditioning", "decoding", "densities", "flows", "heads",
            "hierarchical", "layers", "m2", "multiscale", "networks", "objective", "options",
            "vae"}

__all__ = ["KERAS_MODULES", "register", *sorted(_NAMES), *sorted(_MODULES)]


def register() -> None:
    """Import (and so register with Keras) every class a saved model may contain."""
    for name in KERAS_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
