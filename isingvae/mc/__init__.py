"""Monte Carlo sampling of the 2D Ising model.

- :class:`Metropolis`: multi-spin-coded checkerboard Metropolis (any field);
- :class:`Wolff`: single-cluster updates (``h = 0``), for decorrelation near :math:`T_c`;
- :func:`make_sampler` / :func:`choose_algorithm`: pick by name, or per temperature
  by measured speed (``"auto"``);
- :func:`collect` / :func:`thermalize`: burn-in and thinning from measured
  autocorrelation times, configurations streamed in batches;
- :mod:`~isingvae.mc.observables` and :mod:`~isingvae.mc.autocorr`: estimators and
  error bars.
"""

from isingvae.mc import autocorr, observables
from isingvae.mc.metropolis import Metropolis
from isingvae.mc.sampling import (
    Batch,
    Collection,
    Mixture,
    choose_algorithm,
    collect,
    make_sampler,
    thermalize,
)
from isingvae.mc.wolff import Wolff

__all__ = [
    "Batch",
    "Collection",
    "Metropolis",
    "Mixture",
    "Wolff",
    "autocorr",
    "choose_algorithm",
    "collect",
    "make_sampler",
    "observables",
    "thermalize",
]
