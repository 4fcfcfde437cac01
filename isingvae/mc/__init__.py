"""Monte Carlo sampling of the 2D Ising model.

- :mod:`~isingvae.mc.rules`: the update rules, :class:`Metropolis` (multi-spin-coded
  checkerboard, any field) and :class:`Wolff` (single clusters, ``h = 0``);
- :mod:`~isingvae.mc.chains`: the one chain driver (burn in, then record every chain
  every ``thin`` sweeps);
- :mod:`~isingvae.mc.equilibration`: the one thermalization rule (pilot runs, burn-in
  and thinning from measured autocorrelation times), :func:`thermalize`;
- :mod:`~isingvae.mc.collection`: :func:`collect`, configurations in batches;
- :mod:`~isingvae.mc.choice`: :func:`make_sampler` / :func:`choose_algorithm`, by name
  or per temperature by fixed costs (``"auto"``, deterministic);
- :mod:`~isingvae.mc.observables` and :mod:`~isingvae.mc.autocorr`: estimators and
  error bars.
"""

from isingvae.mc import autocorr, chains, equilibration, observables, rules
from isingvae.mc.choice import Mixture, choose_algorithm, make_sampler
from isingvae.mc.collection import Batch, Collection, collect
from isingvae.mc.equilibration import thermalize
from isingvae.mc.rules import Metropolis, Wolff

__all__ = [
    "Batch",
    "Collection",
    "Metropolis",
    "Mixture",
    "Wolff",
    "autocorr",
    "chains",
    "choose_algorithm",
    "collect",
    "equilibration",
    "make_sampler",
    "observables",
    "rules",
    "thermalize",
]
