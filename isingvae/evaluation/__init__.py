"""What a trained run is worth: held-out likelihood, head scores, generated samples.

- :mod:`~isingvae.evaluation.likelihood`: :func:`evaluate`, the importance-weighted
  held-out NLL per spin against the exact entropy (``evaluation.json``);
- :mod:`~isingvae.evaluation.heads`: :func:`head_metrics` and :func:`predictions` of a
  supervised head;
- :mod:`~isingvae.evaluation.sampling`: :func:`sample`, configurations drawn from the
  model (or, with ``mcmc=True``, Boltzmann samples from neural MCMC chains), in the
  data's HDF5 layout;
- :mod:`~isingvae.evaluation.draws`: configurations and weighted proposals drawn from a
  model in batches, each kind from its own random stream;
- :mod:`~isingvae.evaluation.importance`: the log-weights and estimators of neural
  importance sampling (ln Z, F, u, C, chi, S and their errors);
- :mod:`~isingvae.evaluation.neural_mcmc`: independence Metropolis-Hastings chains with
  the model as proposal, their one burn-in rule and summary;
- :mod:`~isingvae.evaluation.thermo` (a module; the function is ``thermo.thermo``):
  ``isingvae thermo``, the estimators and a neural MCMC summary at each temperature
  against Kaufman's exact values.

Names load on first use (TensorFlow only when a model runs).
"""

import importlib

_NAMES = {
    "evaluate": "likelihood", "iw_statistics": "likelihood", "log_weight_parts": "likelihood",
    "AWAY_FROM_TC": "heads", "head_block": "heads", "head_metrics": "heads",
    "predictions": "heads",
    "sample": "sampling",
    "importance_estimates": "importance", "log_weights": "importance",
    "run_chains": "neural_mcmc",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
