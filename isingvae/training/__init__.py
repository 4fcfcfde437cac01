"""Training runs: settings, the run directory, the training loop.

- :mod:`~isingvae.training.config`: :class:`TrainConfig`, every setting, checked on
  construction (no TensorFlow);
- :mod:`~isingvae.training.rundir`: :class:`RunDir`, the only reader and writer of a
  run directory (what it trained on, which chains it never saw);
- :mod:`~isingvae.training.labels`: label masks of the supervised heads;
- :mod:`~isingvae.training.build`: :func:`build_model`, settings to a Keras model;
- :mod:`~isingvae.training.callbacks`: divergence guard, history, crash-safe backup;
- :mod:`~isingvae.training.trainer`: :func:`train` and :func:`fit`, the one training loop.

Names load on first use; ``from isingvae.training import TrainConfig`` imports no
TensorFlow.
"""

import importlib

_NAMES = {
    "TrainConfig": "config",
    "RunDir": "rundir", "HeldOut": "rundir", "data_identity": "rundir",
    "label_mask": "labels", "check_labels": "labels",
    "build_model": "build",
    "TrainingDiverged": "callbacks",
    "TrainResult": "trainer", "fit": "trainer", "train": "trainer", "training_data": "trainer",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
