r"""Exact results for the ferromagnetic 2D Ising model on the square lattice.

Hamiltonian :math:`H = -J \sum_{\langle ij \rangle} s_i s_j - h \sum_i s_i` with
:math:`s_i = \pm 1`, :math:`k_B = 1`, :math:`K = \beta J = J / T`.  Every quantity is
**per spin**; logarithms are natural.

Three references, from the infinite lattice down to the smallest tori, one module each:

- :mod:`~isingvae.exact.onsager`, :func:`infinite_lattice` (and the ``onsager_*``
  functions): Onsager's solution
  (1944) with Yang's spontaneous magnetization (1952), through complete elliptic
  integrals.
- :mod:`~isingvae.exact.kaufman`, :func:`finite_lattice`: Kaufman's (1949) exact
  partition function of the :math:`L \times L` torus at :math:`h = 0`, evaluated in
  log space with analytic first and second derivatives; :func:`specific_heat_peak`,
  the exact pseudo-critical temperature of its specific-heat maximum.
- :mod:`~isingvae.exact.enumeration`, :func:`enumerate_lattice` and
  :func:`density_of_states`: exact counts of states
  by magnetization and energy for :math:`L \le 5`, any field :math:`h`.

:func:`reference` says where Kaufman's solution applies (``J > 0``, ``h = 0``) and gives
it there: every comparison with an exact value in the package goes through it.

>>> from isingvae import exact
>>> round(exact.critical_temperature(), 6)
2.269185
>>> round(float(exact.onsager_magnetization(2.0)), 6)
0.911319
>>> r = exact.finite_lattice(4, 2.0)
>>> bool(abs(r.energy - exact.enumerate_lattice(4, 2.0).energy) < 1e-12)
True
"""

from isingvae.exact._common import ThermoResult, critical_temperature
from isingvae.exact.enumeration import (
    MAX_ENUMERATION_L,
    DensityOfStates,
    EnumerationResult,
    density_of_states,
    enumerate_lattice,
)
from isingvae.exact.kaufman import finite_lattice, specific_heat_peak
from isingvae.exact.onsager import (
    infinite_lattice,
    onsager_energy,
    onsager_entropy,
    onsager_free_energy,
    onsager_log_z,
    onsager_magnetization,
    onsager_specific_heat,
)
from isingvae.exact.reference import reference

__all__ = [
    "MAX_ENUMERATION_L",
    "DensityOfStates",
    "EnumerationResult",
    "ThermoResult",
    "critical_temperature",
    "density_of_states",
    "enumerate_lattice",
    "finite_lattice",
    "infinite_lattice",
    "onsager_energy",
    "onsager_entropy",
    "onsager_free_energy",
    "onsager_log_z",
    "onsager_magnetization",
    "onsager_specific_heat",
    "reference",
    "specific_heat_peak",
]
