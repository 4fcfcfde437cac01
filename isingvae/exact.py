r"""Exact results for the ferromagnetic 2D Ising model on the square lattice.

Hamiltonian :math:`H = -J \sum_{\langle ij \rangle} s_i s_j - h \sum_i s_i` with
:math:`s_i = \pm 1`, :math:`k_B = 1`, :math:`K = \beta J = J / T`.  Every quantity is
**per spin**; logarithms are natural.

Three references, from the infinite lattice down to the smallest tori:

- :func:`infinite_lattice` (and the ``onsager_*`` functions): Onsager's solution
  (1944) with Yang's spontaneous magnetization (1952), through complete elliptic
  integrals.
- :func:`finite_lattice`: Kaufman's (1949) exact partition function of the
  :math:`L \times L` torus at :math:`h = 0`, evaluated in log space with analytic
  first and second derivatives.
- :func:`enumerate_lattice` and :func:`density_of_states`: exact counts of states
  by magnetization and energy for :math:`L \le 5`, any field :math:`h`.

>>> from isingvae import exact
>>> round(exact.critical_temperature(), 6)
2.269185
>>> round(float(exact.onsager_magnetization(2.0)), 6)
0.911319
>>> r = exact.finite_lattice(4, 2.0)
>>> bool(abs(r.energy - exact.enumerate_lattice(4, 2.0).energy) < 1e-12)
True
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special

from isingvae.errors import InputError

__all__ = [
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
]

#: largest L handled by :func:`enumerate_lattice` (2^25 states)
MAX_ENUMERATION_L = 5


# --------------------------------------------------------------------------------------
# argument checks


def _temperatures(T) -> np.ndarray:
    t = np.asarray(T, dtype=float)
    bad = ~np.isfinite(t) | (t <= 0)
    if np.any(bad):
        raise InputError(f"temperature must be positive and finite, got {t[bad].flat[0]!r}")
    return t


def _coupling(J) -> float:
    J = float(J)
    if not (math.isfinite(J) and J > 0):
        raise InputError(f"coupling J must be positive and finite (ferromagnet), got {J!r}")
    return J


def _lattice_size(L, lo: int, hi: int | None = None) -> int:
    if isinstance(L, bool) or int(L) != L:
        raise InputError(f"lattice size L must be an integer, got {L!r}")
    L = int(L)
    if L < lo or (hi is not None and L > hi):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise InputError(f"lattice size L must be {rng}, got {L}")
    return L


def _out(x: np.ndarray, scalar: bool):
    return float(x) if scalar else x


def critical_temperature(J: float = 1.0) -> float:
    r"""Onsager's critical temperature :math:`T_c = 2J / \ln(1 + \sqrt 2) \approx 2.269185\,J`."""
    return 2.0 * _coupling(J) / math.log1p(math.sqrt(2.0))


# --------------------------------------------------------------------------------------
# infinite lattice (Onsager)


@dataclass(frozen=True)
class ThermoResult:
    """Thermodynamics per spin at temperature(s) ``T``.

    Attributes are floats for a scalar ``T`` and arrays of ``T``'s shape otherwise.
    ``log_z`` is :math:`\\ln Z / N`, ``free_energy`` is :math:`-T \\ln Z / N`,
    ``entropy`` is :math:`S / N` in nats, ``specific_heat`` is :math:`C / N`.
    """

    T: float | np.ndarray
    log_z: float | np.ndarray
    free_energy: float | np.ndarray
    energy: float | np.ndarray
    specific_heat: float | np.ndarray
    entropy: float | np.ndarray
    L: int | None = None


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


# --------------------------------------------------------------------------------------
# finite torus (Kaufman 1949)


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


# --------------------------------------------------------------------------------------
# enumeration of small tori


@dataclass(frozen=True)
class DensityOfStates:
    """Exact number of states of the L x L torus by bond energy and magnetization.

    ``counts[i, j]`` is the number of configurations with
    :math:`-\\sum_{\\langle ij\\rangle} s_i s_j = ` ``bond_energy[i]`` and
    :math:`\\sum_i s_i = ` ``magnetization[j]`` (both totals, not per spin); the
    energy of a state is ``J * bond_energy - h * magnetization``.
    """

    L: int
    bond_energy: np.ndarray
    magnetization: np.ndarray
    counts: np.ndarray


@functools.lru_cache(maxsize=8)
def _density_of_states(L: int) -> DensityOfStates:
    # Row-by-row transfer: track (first row, current row, partial energy, partial M).
    N = L * L
    S = 1 << L
    rows = ((np.arange(S)[:, None] >> np.arange(L)) & 1).astype(np.int64) * 2 - 1  # (S, L)
    row_m = rows.sum(1)
    row_e = -(rows * np.roll(rows, -1, axis=1)).sum(1)  # bonds inside a row (periodic)
    inter = -(rows @ rows.T)  # bonds between consecutive rows
    ne, nm = 4 * N + 1, 2 * N + 1  # indices E + 2N, M + N
    counts = np.zeros((S, S, ne, nm), dtype=np.int64)
    for r in range(S):
        counts[r, r, row_e[r] + 2 * N, row_m[r] + N] = 1

    def shifted(a: np.ndarray, de: int, dm: int) -> np.ndarray:
        # a[..., e, m] moved to [..., e + de, m + dm]; partial sums never leave the range
        out = np.zeros_like(a)
        e_src = slice(max(0, -de), ne - max(0, de))
        e_dst = slice(max(0, de), ne - max(0, -de))
        m_src = slice(max(0, -dm), nm - max(0, dm))
        m_dst = slice(max(0, dm), nm - max(0, -dm))
        out[..., e_dst, m_dst] = a[..., e_src, m_src]
        return out

    for _ in range(L - 1):
        new = np.zeros_like(counts)
        for prev in range(S):
            block = counts[:, prev]
            if not block.any():
                continue
            for nxt in range(S):
                new[:, nxt] += shifted(block, int(row_e[nxt] + inter[prev, nxt]), int(row_m[nxt]))
        counts = new
    total = np.zeros((ne, nm), dtype=np.int64)
    for first in range(S):
        for last in range(S):
            total += shifted(counts[first, last], int(inter[last, first]), 0)
    e_vals = np.arange(ne) - 2 * N
    m_vals = np.arange(nm) - N
    keep_e = total.any(axis=1)
    keep_m = total.any(axis=0)
    out = total[np.ix_(keep_e, keep_m)]
    assert out.sum() == 2**N
    for a in (e_vals, m_vals, out):
        a.setflags(write=False)
    return DensityOfStates(L, e_vals[keep_e], m_vals[keep_m], out)


def density_of_states(L: int) -> DensityOfStates:
    """Exact joint density of states of the L x L torus, ``2 <= L <= 5`` (cached).

    >>> g = density_of_states(2)
    >>> int(g.counts.sum()), g.bond_energy.tolist()
    (16, [-8, 0, 8])
    """
    return _density_of_states(_lattice_size(L, 2, MAX_ENUMERATION_L))


@dataclass(frozen=True)
class EnumerationResult:
    r"""Exact Boltzmann averages of the L x L torus (per spin; ``m = M / N``).

    ``specific_heat`` :math:`= \beta^2 N(\langle e^2\rangle - \langle e\rangle^2)`,
    ``susceptibility`` :math:`= \beta N(\langle m^2\rangle - \langle m\rangle^2)`,
    ``susceptibility_abs`` :math:`= \beta N(\langle m^2\rangle - \langle |m|\rangle^2)`
    (the finite-size estimator usual in Monte Carlo at :math:`h = 0`), ``binder``
    :math:`= 1 - \langle m^4\rangle / (3\langle m^2\rangle^2)`.
    """

    L: int
    T: float | np.ndarray
    J: float
    h: float
    log_z: float | np.ndarray
    energy: float | np.ndarray
    entropy: float | np.ndarray
    magnetization: float | np.ndarray
    abs_magnetization: float | np.ndarray
    m2: float | np.ndarray
    m4: float | np.ndarray
    specific_heat: float | np.ndarray
    susceptibility: float | np.ndarray
    susceptibility_abs: float | np.ndarray
    binder: float | np.ndarray


def enumerate_lattice(L: int, T, J: float = 1.0, h: float = 0.0) -> EnumerationResult:
    """Exact averages on the L x L torus by counting every state, ``2 <= L <= 5``.

    The counts come from :func:`density_of_states`; the Boltzmann sums are done in
    log space, so any temperature works.

    >>> r = enumerate_lattice(2, 1e6)
    >>> round(float(r.entropy), 6) == round(float(np.log(2)), 6)
    True
    """
    L = _lattice_size(L, 2, MAX_ENUMERATION_L)
    t = _temperatures(T)
    J = _coupling(J)
    h = float(h)
    if not math.isfinite(h):
        raise InputError(f"field h must be finite, got {h!r}")
    dos = _density_of_states(L)
    N = L * L
    e = (J * dos.bond_energy[:, None] - h * dos.magnetization[None, :]) / N  # per spin
    m = np.broadcast_to(dos.magnetization[None, :] / N, e.shape)
    log_g = np.log(dos.counts, where=dos.counts > 0, out=np.full(dos.counts.shape, -np.inf))
    beta = 1.0 / np.atleast_1d(t).ravel()

    rows = []
    for b in beta:
        logw = log_g - b * N * e
        lz = special.logsumexp(logw)
        p = np.exp(logw - lz)

        def avg(q, p=p):
            return float(np.sum(p * q))

        # variances as central moments: no cancellation where they are tiny (low T)
        mean_e, mean_m, mean_am = avg(e), avg(m), avg(np.abs(m))
        var_e, var_m, var_am = avg((e - mean_e) ** 2), avg((m - mean_m) ** 2), \
            avg((np.abs(m) - mean_am) ** 2)
        m2, m4 = avg(m * m), avg(m**4)
        rows.append((
            lz / N, mean_e, lz / N + b * mean_e, mean_m, mean_am, m2, m4,
            b * b * N * var_e, b * N * var_m, b * N * var_am, 1 - m4 / (3 * m2 * m2),
        ))
    arr = np.array(rows).reshape((*t.shape, 11))
    s = t.ndim == 0
    cols = [_out(arr[..., i], s) for i in range(11)]
    return EnumerationResult(L, _out(t, s), J, h, *cols)
