r"""Physics of what a trained model learned: latents, critical temperature, samples, likelihood.

Estimators (numpy and scipy only; importing them loads neither TensorFlow nor
matplotlib):

- :mod:`~isingvae.analysis.latent`: latent coordinates against ``m``, ``|m|``, energy
  and ``T`` (Pearson ``r``, mutual information), active dimensions, the latent order
  parameter;
- :mod:`~isingvae.analysis.tc`: unsupervised :math:`T_c(L)` estimators from the latent
  order parameter;
- :mod:`~isingvae.analysis.supervised`: :math:`T_c(L)` where a phase classifier's mean
  output crosses 1/2 (VIB phase head, M2 with phase classes);
- :mod:`~isingvae.analysis.samples`: energy, ``|m|`` and ``G(r)`` of generated
  configurations against Monte Carlo (Wasserstein-1 distances);
- :mod:`~isingvae.analysis.estimates`: the ``tc_estimates`` entries, checked, merged and
  extrapolated (error bars and fits live in :mod:`isingvae.stats`).

The steps of ``isingvae analyze``, one module each, and what assembles them:

- :mod:`~isingvae.analysis.pairs`: (run, data) pairs, checked without TensorFlow;
- :mod:`~isingvae.analysis.encode`: the only part that runs the model (TensorFlow);
- :mod:`~isingvae.analysis.physics`, :mod:`~isingvae.analysis.critical`,
  :mod:`~isingvae.analysis.generated`, :mod:`~isingvae.analysis.nll`: latents against
  physics, critical temperatures, generated samples, held-out likelihood;
- :mod:`~isingvae.analysis.figures` and :mod:`~isingvae.analysis.sample_figures`: the PNG
  figures;
- :mod:`~isingvae.analysis.report`: :func:`~isingvae.analysis.report.analyze`, which
  runs the steps and writes ``report.json``;
- :mod:`~isingvae.analysis.infoplane`: the VIB information plane over a beta sweep.

>>> from isingvae.stats import fss
>>> fit = fss.fit_fss([16, 32], [2.369185, 2.319185], [0.01, 0.01])
>>> round(fit.tc, 4)
2.2692
"""

import importlib

__all__ = ["critical", "encode", "estimates", "figures", "generated", "infoplane", "latent",
           "nll", "pairs", "physics", "report", "sample_figures", "samples", "supervised",
           "tc"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
