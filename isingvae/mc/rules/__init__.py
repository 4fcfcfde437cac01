r"""Update rules: Markov kernels that leave the Boltzmann distribution invariant.

Each rule is a sampler class holding many chains at many temperatures, with the same
interface (:class:`~isingvae.mc.rules._base.Sampler`): ``sweep(n)``, ``spins``,
``observables()``, ``get_state``/``set_state``.  Anything with that interface can be
driven by :func:`isingvae.mc.chains.run_chains` and thermalized by
:mod:`isingvae.mc.equilibration`, so the rules are interchangeable:

- :class:`Metropolis`: multi-spin-coded checkerboard single-spin flips, any ``J`` and
  ``h`` (:mod:`~isingvae.mc.rules.metropolis`, kernels in ``_metropolis_kernels``);
- :class:`Wolff`: single-cluster flips at ``h = 0``, for decorrelation near
  :math:`T_c` (:mod:`~isingvae.mc.rules.wolff`, kernels in ``_wolff_kernels``).

Both draw from private xoshiro256 streams per chain (or per lattice row), seeded from
one integer through :class:`numpy.random.SeedSequence` (:mod:`~isingvae.mc.rules._rng`),
so results never depend on the number of threads.
"""

from isingvae.mc.rules._base import Sampler
from isingvae.mc.rules.metropolis import Metropolis
from isingvae.mc.rules.wolff import Wolff

__all__ = ["Metropolis", "Sampler", "Wolff"]
