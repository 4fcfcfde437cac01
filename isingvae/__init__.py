"""isingvae: Monte Carlo data, variational autoencoders and exact references for the 2D Ising model.

The package is cut by concept, dependencies flowing one way (``docs/architecture.md``):

- physics: :mod:`isingvae.exact` (Onsager, Kaufman's finite torus, enumeration),
  :mod:`isingvae.lattice` (observables), :mod:`isingvae.mc` (Metropolis and Wolff,
  equilibration, autocorrelation);
- storage and data: :mod:`isingvae.storage` (the HDF5 layout),
  :mod:`isingvae.generation` (resumable, reproducible Monte Carlo datasets),
  :mod:`isingvae.data` (splits by chain, lattice symmetries, tf.data);
- statistics: :mod:`isingvae.stats` (resampling over chains, finite-size scaling);
- learning: :mod:`isingvae.models` (Keras 3 models, flows, heads),
  :mod:`isingvae.training` (settings, run directories, the training loop),
  :mod:`isingvae.evaluation` (held-out likelihood, head scores, sampling);
- results: :mod:`isingvae.analysis` (latents, T_c, samples, ``report.json``),
  :mod:`isingvae.run` (``isingvae run``), :mod:`isingvae.cli` (the command).

Shared rules have one home each: :mod:`isingvae._validate` (argument checks),
:mod:`isingvae._atomic` (every file write), :mod:`isingvae.random` (every learning-side
random stream), :mod:`isingvae.progress` (progress bars).

Importing the package is cheap: no TensorFlow, no numba compilation.  Submodules
load on first attribute access (``isingvae.exact``) or on explicit import.

>>> import isingvae
>>> round(isingvae.exact.critical_temperature(), 5)
2.26919
"""

import importlib

from isingvae import _keras_hook
from isingvae._version import __version__

_LAZY_SUBMODULES = {"analysis", "cli", "data", "errors", "evaluation", "exact", "generation",
                    "lattice", "mc", "models", "progress", "random", "run", "stats", "storage",
                    "training"}

__all__ = ["__version__", *sorted(_LAZY_SUBMODULES)]

# Keras objects of isingvae.models get registered once Keras is imported (not before)
_keras_hook.install()


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
