r"""Onsager's infinite square lattice (1944), with Yang's spontaneous magnetization (1952).

Per spin, :math:`K = J/T`, through the complete elliptic integrals of the modulus
:math:`\kappa = 2\sinh 2K / \cosh^2 2K`: :math:`\ln Z/N`, the energy, the specific
heat, the free energy and the entropy; below :math:`T_c`,
:math:`m = (1 - \sinh^{-4} 2K)^{1/8}`.
"""

from __future__ import annotations

import math

import numpy as np

from isingvae.exact._common import ThermoResult, _coupling, _out, _temperatures

__all__ = ["infinite_lattice", "onsager_energy", "onsager_entropy", "onsager_free_energy",
           "onsager_log_z", "onsager_magnetization", "onsager_specific_heat"]


def _elliptic_modulus(K: np.ndarray) -> np.ndarray:
    r""":math:`\kappa^2` with :math:`\kappa = 2\sinh 2K / \cosh^2 2K \in [0, 1]`."""
    kappa = 2.0 * np.sinh(2 * K) / np.cosh(2 * K) ** 2
    return np.minimum(kappa**2, 1.0)


def onsager_log_z(T, J: float = 1.0):
    r"""Onsager's :math:`\ln Z / N` of the infinite lattice.

    .. math::
        \frac{\ln Z}{N} = \ln(2\cosh 2K) + \frac{1}{\pi}\int_0^{\pi/2}
        \ln\frac{1 + \sqrt{1 - \kappa^2 \sin^2\theta}}{2}\, d\theta,
        \qquad \kappa = \frac{2\sinh 2K}{\cosh^2 2K}.

    The integral is done by adaptive quadrature (absolute error below 1e-13).
    """
    t = _temperatures(T)
    K = _coupling(J) / t
    m = _elliptic_modulus(K)

    from scipy import integrate  # here, not at import: generation needs only T_c

    def one(k2: float) -> float:
        val, _ = integrate.quad(
            lambda th: math.log(0.5 * (1.0 + math.sqrt(max(0.0, 1.0 - k2 * math.sin(th) ** 2)))),
            0.0, 0.5 * math.pi, epsabs=1e-14, epsrel=1e-13, limit=200,
        )
        return val

    integral = np.vectorize(one, otypes=[float])(m)
    out = np.log(2 * np.cosh(2 * K)) + integral / math.pi
    return _out(out, t.ndim == 0)


def onsager_energy(T, J: float = 1.0):
    r"""Internal energy per spin of the infinite lattice.

    .. math::
        u = -J \coth 2K \left[1 + \frac{2}{\pi}\,(2\tanh^2 2K - 1)\, \mathbf{K}(\kappa)\right]

    with :math:`\mathbf{K}` the complete elliptic integral of the first kind.  At
    :math:`T_c` the bracket's second term vanishes and :math:`u = -\sqrt 2\, J`.
    """
    t = _temperatures(T)
    J = _coupling(J)
    K = J / t
    m = _elliptic_modulus(K)
    a = 2 * np.tanh(2 * K) ** 2 - 1
    from scipy import special

    with np.errstate(invalid="ignore"):
        term = np.where(m < 1.0, a * special.ellipk(np.minimum(m, 1 - 1e-300)), 0.0)
    out = -J / np.tanh(2 * K) * (1 + 2 / math.pi * term)
    return _out(out, t.ndim == 0)


def onsager_specific_heat(T, J: float = 1.0):
    r"""Specific heat per spin of the infinite lattice (``inf`` at :math:`T_c`).

    Differentiating :func:`onsager_energy` with :math:`t = \tanh 2K`, using
    :math:`d\mathbf{K}/d\kappa = \mathbf{E}/(\kappa\kappa'^2) - \mathbf{K}/\kappa` and
    :math:`\kappa'^2 = (2t^2 - 1)^2`:

    .. math::
        c = \frac{4}{\pi}\frac{K^2}{t^2}\left[(2 - 3t^2 + 2t^4)\,\mathbf{K}(\kappa)
        - \mathbf{E}(\kappa) - \frac{\pi}{2}(1 - t^2)\right]

    with :math:`\mathbf{E}` the complete elliptic integral of the second kind.
    """
    t = _temperatures(T)
    K = _coupling(J) / t
    m = _elliptic_modulus(K)
    th2 = np.tanh(2 * K) ** 2
    from scipy import special

    with np.errstate(divide="ignore", invalid="ignore"):
        bracket = (2 - 3 * th2 + 2 * th2**2) * special.ellipk(m) - special.ellipe(m) \
            - 0.5 * math.pi * (1 - th2)
        out = np.where(m < 1.0, 4 / math.pi * K**2 / th2 * bracket, np.inf)
    return _out(out, t.ndim == 0)


def onsager_free_energy(T, J: float = 1.0):
    r"""Free energy per spin :math:`f = -T \ln Z / N` of the infinite lattice."""
    t = _temperatures(T)
    return _out(-t * np.asarray(onsager_log_z(t, J)), t.ndim == 0)


def onsager_entropy(T, J: float = 1.0):
    r"""Entropy per spin :math:`s = \ln Z / N + u / T` (nats) of the infinite lattice."""
    t = _temperatures(T)
    out = np.asarray(onsager_log_z(t, J)) + np.asarray(onsager_energy(t, J)) / t
    return _out(out, t.ndim == 0)


def onsager_magnetization(T, J: float = 1.0):
    r"""Spontaneous magnetization per spin of the infinite lattice (Onsager, Yang 1952).

    .. math::
        m_0 = \left[1 - \sinh^{-4}(2K)\right]^{1/8} \quad (T < T_c), \qquad m_0 = 0
        \quad (T \ge T_c).
    """
    t = _temperatures(T)
    K = _coupling(J) / t
    x = 1.0 - np.sinh(2 * K) ** -4.0
    out = np.where(x > 0, np.abs(x) ** 0.125, 0.0)
    return _out(out, t.ndim == 0)


def infinite_lattice(T, J: float = 1.0) -> ThermoResult:
    """Onsager's thermodynamics per spin, gathered in a :class:`ThermoResult` (``L=None``)."""
    t = _temperatures(T)
    log_z = np.asarray(onsager_log_z(t, J))
    energy = np.asarray(onsager_energy(t, J))
    s = t.ndim == 0
    return ThermoResult(
        T=_out(t, s), log_z=_out(log_z, s), free_energy=_out(-t * log_z, s),
        energy=_out(energy, s), specific_heat=onsager_specific_heat(t, J),
        entropy=_out(log_z + energy / t, s), L=None,
    )
