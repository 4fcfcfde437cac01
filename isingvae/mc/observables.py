r"""Observables of 2D Ising configurations, per spin, with the conventions of :mod:`isingvae.exact`.

Configurations are ``int8`` arrays of +-1 with shape ``(..., L, L)`` on a torus;
:math:`H = -J \sum_{\langle ij \rangle} s_i s_j - h \sum_i s_i` (each bond once),
:math:`e = H / N`, :math:`m = \sum_i s_i / N`, :math:`N = L^2`.

Thermal estimators take samples of ``e`` or ``m`` (any shape; all entries are
pooled) at one temperature:

- specific heat :math:`c = \beta^2 N (\langle e^2\rangle - \langle e\rangle^2)`;
- susceptibility :math:`\chi = \beta N (\langle m^2\rangle - \langle m\rangle^2)`, or with
  :math:`\langle |m| \rangle` in place of :math:`\langle m\rangle` (``absolute=True``);
- Binder cumulant :math:`U_4 = 1 - \langle m^4\rangle / (3 \langle m^2\rangle^2)`.

>>> import numpy as np
>>> s = np.ones((2, 4, 4), np.int8)
>>> energy(s).tolist(), magnetization(s).tolist()
([-2.0, -2.0], [1.0, 1.0])
"""

from __future__ import annotations

import numpy as np

from isingvae.lattice import _spins, energy, magnetization

__all__ = [
    "abs_magnetization",
    "binder_cumulant",
    "correlation_function",
    "energy",
    "magnetization",
    "specific_heat",
    "susceptibility",
]


def abs_magnetization(spins) -> np.ndarray:
    """:math:`|m|` of each configuration."""
    return np.abs(magnetization(spins))


def specific_heat(e, T: float, N: int) -> float:
    """:math:`\\beta^2 N \\,\\mathrm{Var}(e)` from energy-per-spin samples at temperature ``T``."""
    e = np.asarray(e, dtype=np.float64)
    return float(N * (np.mean(e**2) - np.mean(e) ** 2) / T**2)


def susceptibility(m, T: float, N: int, absolute: bool = False) -> float:
    """:math:`\\beta N (\\langle m^2\\rangle - \\langle m\\rangle^2)`.

    With ``absolute=True``, :math:`\\langle|m|\\rangle` replaces :math:`\\langle m\\rangle`.
    """
    m = np.asarray(m, dtype=np.float64)
    first = np.mean(np.abs(m)) if absolute else np.mean(m)
    return float(N * (np.mean(m**2) - first**2) / T)


def binder_cumulant(m) -> float:
    """:math:`1 - \\langle m^4 \\rangle / (3 \\langle m^2 \\rangle^2)`."""
    m = np.asarray(m, dtype=np.float64)
    return float(1.0 - np.mean(m**4) / (3.0 * np.mean(m**2) ** 2))


def correlation_function(spins, connected: bool = False) -> np.ndarray:
    r"""Spin-spin correlation :math:`G(r) = \langle s_x s_{x + r \hat e} \rangle`.

    Averaged over sites and the two lattice directions, for ``r = 0 .. L // 2``, by
    FFT (Wiener-Khinchin) on the torus.  Leading axes are kept: the result has shape
    ``spins.shape[:-2] + (L // 2 + 1,)``; average over configurations yourself.
    With ``connected=True`` the configuration's :math:`m^2` is subtracted.

    >>> s = np.ones((4, 4), np.int8)
    >>> correlation_function(s).tolist()
    [1.0, 1.0, 1.0]
    """
    s = _spins(spins).astype(np.float64)
    L = s.shape[-1]
    f = np.fft.rfft2(s, axes=(-2, -1))
    corr = np.fft.irfft2(f * np.conj(f), s=(L, L), axes=(-2, -1)) / (L * L)
    r = np.arange(L // 2 + 1)
    g = 0.5 * (corr[..., r, 0] + corr[..., 0, r])
    if connected:
        g = g - magnetization(spins)[..., None] ** 2
    return g
