r"""Physics of what a trained model learned: latents, critical temperature, samples, likelihood.

Modules, cut by concept:

- :mod:`~isingvae.analysis.latent`: latent coordinates against ``m``, ``|m|``, energy
  and ``T`` (Pearson ``r``, mutual information), active dimensions, the latent order
  parameter;
- :mod:`~isingvae.analysis.bootstrap`: error bars from resampling whole Markov chains;
- :mod:`~isingvae.analysis.tc`: unsupervised :math:`T_c(L)` estimators from the latent
  order parameter;
- :mod:`~isingvae.analysis.fss`: finite-size-scaling extrapolation
  :math:`T_c(L) = T_c + a L^{-1/\nu}`;
- :mod:`~isingvae.analysis.samples`: energy, ``|m|`` and ``G(r)`` of generated
  configurations against Monte Carlo (Wasserstein-1 distances);
- :mod:`~isingvae.analysis.figures`: the PNG figures;
- :mod:`~isingvae.analysis.encode`: the only part that runs the model (TensorFlow);
- :mod:`~isingvae.analysis.report`: :func:`analyze`, which writes ``report.json``;
- :mod:`~isingvae.analysis.command`: the ``isingvae analyze`` subcommand;
- :mod:`~isingvae.analysis.supervised`: :math:`T_c(L)` where a phase classifier's mean
  output crosses 1/2 (VIB phase head, M2 with phase classes);
- :mod:`~isingvae.analysis.infoplane`: the VIB information plane over a beta sweep.

The estimators (latent, bootstrap, tc, fss, samples) are numpy and scipy only; importing
this package does not import TensorFlow or matplotlib.

>>> from isingvae.analysis import fss
>>> fit = fss.fit_fss([16, 32], [2.369185, 2.319185], [0.01, 0.01])
>>> round(fit.tc, 4)
2.2692
"""

import importlib

__all__ = ["bootstrap", "command", "encode", "figures", "fss", "infoplane", "latent", "report",
           "samples", "supervised", "tc"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
