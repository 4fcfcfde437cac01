"""What a trained run is worth: held-out likelihood, head scores, generated samples.

- :mod:`~isingvae.evaluation.likelihood`: :func:`evaluate`, the importance-weighted
  held-out NLL per spin against the exact entropy (``evaluation.json``);
- :mod:`~isingvae.evaluation.heads`: :func:`head_metrics` and :func:`predictions` of a
  supervised head;
- :mod:`~isingvae.evaluation.sampling`: :func:`sample`, configurations drawn from the
  model (or, with ``mcmc=True``, Boltzmann samples from neural MCMC chains), in the
  data's HDF5 layout;
- :mod:`~isingvae.evaluation.thermo` (a module; the function is ``thermo.thermo``):
  free energy, energy, specific heat, susceptibility and entropy by neural importance
  sampling, with a neural MCMC summary, against Kaufman's exact values.

Names load on first use (TensorFlow only when a model runs).
"""

import importlib

_NAMES = {
    "evaluate": "likelihood", "iw_statistics": "likelihood", "log_weight_parts": "likelihood",
    "AWAY_FROM_TC": "heads", "head_block": "heads", "head_metrics": "heads",
    "predictions": "heads",
    "sample": "sampling",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
