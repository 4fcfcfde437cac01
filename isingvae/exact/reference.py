"""The exact reference a measurement is compared with, where one exists.

Kaufman's finite-torus solution (:func:`~isingvae.exact.finite_lattice`) holds for the
ferromagnet (``J > 0``) at zero field only.  Every comparison in the package (the held-out
NLL against the exact entropy, generated physics and neural importance sampling against
the exact energy, specific heat and free energy) asks this one function, so the rule of
when an exact value exists is written once.

>>> round(reference(16, 2.0).energy, 4)
-1.7455
>>> reference(16, 2.0, h=0.1) is None, reference(16, 2.0, J=-1.0) is None
(True, True)
"""

from __future__ import annotations

from isingvae.exact._common import ThermoResult
from isingvae.exact.kaufman import finite_lattice

__all__ = ["reference"]


def reference(L: int, T, J: float = 1.0, h: float = 0.0) -> ThermoResult | None:
    """Kaufman's exact thermodynamics per spin of the ``L x L`` torus at ``T`` (a number
    or an array), or ``None`` where it does not apply: a field ``h != 0`` or a coupling
    ``J <= 0``."""
    if float(h) != 0.0 or not float(J) > 0.0:
        return None
    return finite_lattice(L, T, J=J)
