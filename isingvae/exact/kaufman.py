r"""Kaufman's (1949) exact partition function of the :math:`L \times L` torus at zero field.

:math:`Z` is the sum of four products of :math:`2\cosh` and :math:`2\sinh` of the
eigenvalue parameters :math:`\gamma_k`; it is evaluated in log space, with analytic
first and second derivatives for the energy and the specific heat, so that it stays
accurate at every temperature and at large ``L``.

References:

- B. Kaufman, "Crystal statistics. II. Partition function evaluated by spinor
  analysis", Phys. Rev. 76, 1232-1243 (1949): the partition function of the finite
  torus.
- A. E. Ferdinand and M. E. Fisher, "Bounded and inhomogeneous Ising models. I.
  Specific-heat anomaly of a finite lattice", Phys. Rev. 185, 832-846 (1969): the
  specific heat of the finite torus from Kaufman's result, and the position of its
  maximum (:func:`specific_heat_peak`).
- P. D. Beale, "Exact distribution of energies in the two-dimensional Ising model",
  Phys. Rev. Lett. 76, 78-81 (1996): the form of Kaufman's result evaluated here.
"""

from __future__ import annotations

import math

import numpy as np

from isingvae.exact._common import ThermoResult, _coupling, _lattice_size, _out, _temperatures

__all__ = ["finite_lattice", "specific_heat_peak"]


def _log_cosh_sinh(x: np.ndarray):
    """Scaled factors of 2cosh(x) and 2sinh(x): both equal exp(|x|) times the returned values.

    Returns ``(c, s)`` with ``2 cosh x = e^{|x|} c`` and ``2 sinh x = e^{|x|} s``.
    """
    e = np.exp(-2.0 * np.abs(x))
    return 1.0 + e, np.sign(x) * -np.expm1(-2.0 * np.abs(x))


def _kaufman_one(L: int, K: float) -> tuple[float, float, float]:
    r"""``(ln Z, d ln Z/dK, d^2 ln Z/dK^2)`` of the L x L torus at coupling K, h = 0.

    Kaufman's result, in the form given by Beale (1996):

    .. math::
        Z = \tfrac12 (2\sinh 2K)^{L^2/2} \sum_{i=1}^{4} Z_i,\quad
        Z_{1,2} = \prod_{r=0}^{L-1} 2\{\cosh,\sinh\}(\tfrac{L}{2}\gamma_{2r+1}),\quad
        Z_{3,4} = \prod_{r=0}^{L-1} 2\{\cosh,\sinh\}(\tfrac{L}{2}\gamma_{2r}),

    with :math:`\cosh\gamma_l = \cosh 2K \coth 2K - \cos(\pi l / L)` for :math:`l \ge 1`
    and :math:`\gamma_0 = 2K + \ln\tanh K`, whose sign (negative above :math:`T_c`)
    matters in :math:`Z_4`.

    Each factor :math:`2\cosh x` or :math:`2\sinh x` is written as :math:`e^{|x|}` times
    an O(1) number, so nothing overflows for large L or low T.  Only the
    :math:`\gamma_0` factor of :math:`Z_4` can vanish (at :math:`T_c`), so each product
    is split into that first factor and the rest, and the derivatives of the rest are
    taken in log space:

    .. math::
        Z_i = g P,\quad Z_i' = g' P + g P (\ln P)'.

    The second derivative of :math:`\ln Z` is a small difference of numbers of order
    :math:`N^2`; to keep it accurate at low T and large L it is taken about the mean
    :math:`\mu = (\ln Z)'`, for which
    :math:`(\ln Z)'' = \sum_i \frac{P_i}{Z}\,[g_i'' + 2 g_i' (\ln P_i - \mu)'
    + g_i ((\ln P_i)'' + ((\ln P_i)' - \mu)^2)]` (exact for any :math:`\mu`, and free
    of cancellation when :math:`\mu` is the mean).
    """
    half = 0.5 * L
    s2, c2 = math.sinh(2 * K), math.cosh(2 * K)
    # c(K) = cosh 2K coth 2K = sinh 2K + 1/sinh 2K and its K-derivatives
    cK = s2 + 1.0 / s2
    dcK = 2 * c2 * (1 - 1 / s2**2)
    ddcK = 4 * s2 - 4 / s2 + 8 * c2**2 / s2**3

    l = np.arange(2 * L)
    gam = np.empty(2 * L)
    dgam = np.empty(2 * L)
    ddgam = np.empty(2 * L)
    ch = cK - np.cos(np.pi * l[1:] / L)  # cosh(gamma_l) >= 1, equality only at l = 0
    gam[1:] = np.arccosh(ch)
    sh = np.sqrt((ch - 1) * (ch + 1))
    dgam[1:] = dcK / sh
    ddgam[1:] = (ddcK - ch * dgam[1:] ** 2) / sh
    gam[0] = 2 * K + math.log(math.tanh(K))
    dgam[0] = 2 + 2 / s2
    ddgam[0] = -4 * c2 / s2**2

    x, dx, ddx = half * gam, half * dgam, half * ddgam
    cs, ss = _log_cosh_sinh(x)  # scaled 2cosh, 2sinh
    tanh_x = np.tanh(x)
    with np.errstate(divide="ignore"):
        coth_x = 1.0 / tanh_x

    terms = []  # (log scale E_i, A_i, B_i, C_i): Z_i = e^E A, Z_i' = e^E B, Z_i'' = e^E C
    for idx, use_sinh in ((slice(1, None, 2), False), (slice(1, None, 2), True),
                          (slice(0, None, 2), False), (slice(0, None, 2), True)):
        xi, dxi, ddxi = x[idx], dx[idx], ddx[idx]
        scaled = ss[idx] if use_sinh else cs[idx]
        # the scaled factor, first and second derivative of the first factor g = 2{cosh,sinh}(x0)
        g0 = scaled[0]
        g1 = dxi[0] * (cs[idx][0] if use_sinh else ss[idx][0])
        g2 = ddxi[0] * (cs[idx][0] if use_sinh else ss[idx][0]) + dxi[0] ** 2 * g0
        # log-derivatives of the rest: (ln 2cosh x)' = tanh(x) x', (ln 2sinh x)' = coth(x) x'
        rest = slice(1, None)
        f1 = (coth_x[idx] if use_sinh else tanh_x[idx])[rest]
        d1 = np.sum(f1 * dxi[rest])
        # (ln 2cosh x)'' = sech^2 x x'^2 + tanh x x''; (ln 2sinh x)'' = -csch^2 x x'^2 + coth x x''
        curv = (1 - f1**2) * dxi[rest] ** 2 + f1 * ddxi[rest]
        d2 = np.sum(curv)
        log_scale = np.sum(np.abs(xi)) + np.sum(np.log(np.abs(scaled[rest])))
        sign_rest = np.prod(np.sign(scaled[rest]))
        terms.append((log_scale, sign_rest, g0, g1, g2, d1, d2))

    E = np.array([t[0] for t in terms])
    top = E.max()
    w = np.exp(E - top) * np.array([t[1] for t in terms])  # e^{E_i - top} sign(P_i)
    g0, g1, g2, d1, d2 = (np.array([t[k] for t in terms]) for k in range(2, 7))
    zs = float(np.sum(w * g0))
    if not zs > 0:
        raise FloatingPointError(f"Kaufman sum lost precision at L={L}, K={K}")
    mu = float(np.sum(w * (g1 + g0 * d1))) / zs
    dev = d1 - mu
    curvature = float(np.sum(w * (g2 + 2 * g1 * dev + g0 * (d2 + dev**2)))) / zs
    N = L * L
    log_z = -math.log(2.0) + 0.5 * N * math.log(2 * s2) + top + math.log(zs)
    d_log_z = N * c2 / s2 + mu
    dd_log_z = -2 * N / s2**2 + curvature
    return log_z, d_log_z, dd_log_z


def finite_lattice(L: int, T, J: float = 1.0) -> ThermoResult:
    r"""Exact thermodynamics per spin of the :math:`L \times L` torus at zero field.

    Kaufman's (1949) partition function (see :func:`_kaufman_one` for the formula),
    evaluated in log space, so it neither overflows nor underflows for
    :math:`2 \le L \le 512` and :math:`0.5 \le T/J \le 20` (and well beyond).  Energy and
    specific heat come from analytic derivatives with respect to :math:`K = J/T`:

    .. math::
        u = -\frac{J}{N}\frac{\partial \ln Z}{\partial K},\qquad
        c = \frac{K^2}{N}\frac{\partial^2 \ln Z}{\partial K^2},\qquad
        s = \frac{\ln Z}{N} + \frac{u}{T}.

    Example:

    >>> r = finite_lattice(16, [2.0, 2.5])
    >>> r.energy.round(4).tolist()
    [-1.7455, -1.1313]
    """
    L = _lattice_size(L, 2)
    t = _temperatures(T)
    J = _coupling(J)
    N = L * L
    flat = np.atleast_1d(t).ravel()
    res = np.array([_kaufman_one(L, J / ti) for ti in flat]).reshape((*t.shape, 3))
    K = J / t
    log_z = res[..., 0] / N
    energy = -J * res[..., 1] / N
    c = K**2 * res[..., 2] / N
    s = t.ndim == 0
    return ThermoResult(
        T=_out(t, s), log_z=_out(log_z, s), free_energy=_out(-t * log_z, s),
        energy=_out(energy, s), specific_heat=_out(c, s),
        entropy=_out(log_z + energy / t, s), L=L,
    )


def specific_heat_peak(L: int, J: float = 1.0) -> float:
    r"""Temperature of the maximum of the specific heat of the :math:`L \times L` torus.

    An exact pseudo-critical temperature :math:`T_c(L)`: it approaches Onsager's
    :math:`T_c` as :math:`T_c + a/L` (Ferdinand and Fisher 1969), which makes it the exact
    reference line of finite-size scaling.  Found on :func:`finite_lattice` by a scan of
    :math:`T/J \in [1.2, 4]` (step 0.02) and Brent's bounded search between the
    neighbours of the largest grid value, to :math:`10^{-9} J`.

    >>> round(specific_heat_peak(32), 5)
    2.29393
    """
    from scipy.optimize import minimize_scalar

    L = _lattice_size(L, 2)
    J = _coupling(J)
    grid = np.arange(1.2, 4.0 + 1e-9, 0.02) * J
    c = finite_lattice(L, grid, J).specific_heat
    i = int(np.clip(np.argmax(c), 1, grid.size - 2))
    res = minimize_scalar(lambda t: -float(finite_lattice(L, t, J).specific_heat),
                          bounds=(grid[i - 1], grid[i + 1]), method="bounded",
                          options={"xatol": 1e-9 * J})
    return float(res.x)
