"""isingvae: Monte Carlo data, variational autoencoders and exact references for the 2D Ising model.

The package is cut by concept:

- :mod:`isingvae.exact`: exact results (Onsager, Kaufman's finite torus, enumeration);
- :mod:`isingvae.mc`: Monte Carlo sampling (checkerboard Metropolis, Wolff clusters);
- :mod:`isingvae.storage`: the HDF5 layout, validated reading and atomic writing;
- :mod:`isingvae.generate`: resumable, reproducible dataset generation;
- :mod:`isingvae.data`: datasets for learning (splits by chain, augmentation, tf.data);
- :mod:`isingvae.models`: Keras 3 models (the VAE, periodic convolutions);
- :mod:`isingvae.runs`: run directories: train, evaluate, sample;
- :mod:`isingvae.cli`: the ``isingvae`` command.

Importing the package is cheap: no TensorFlow, no numba compilation.  Submodules
load on first attribute access (``isingvae.exact``) or on explicit import.

>>> import isingvae
>>> round(isingvae.exact.critical_temperature(), 5)
2.26919
"""

import importlib

from isingvae import _keras_hook
from isingvae._version import __version__

__all__ = ["__version__", "data", "exact", "generate", "mc", "storage"]

_LAZY_SUBMODULES = {"cli", "data", "errors", "exact", "generate", "mc", "models", "progress",
                    "runs", "storage"}

# Keras objects of isingvae.models get registered once Keras is imported (not before)
_keras_hook.install()


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
