"""Exact counts of the states of small tori (``L <= 5``), by energy and magnetization.

All :math:`2^{L^2}` configurations are counted exactly by a row-by-row transfer over
the :math:`2^L` states of a row, giving the joint density of states in energy and
magnetization; any average at any temperature and field follows: the energy, ``|m|``,
the susceptibility, the Binder cumulant.  The tests of every sampler and model use it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from isingvae.errors import InputError
from isingvae.exact._common import _coupling, _lattice_size, _out, _temperatures

__all__ = ["MAX_ENUMERATION_L", "DensityOfStates", "EnumerationResult", "density_of_states",
           "enumerate_lattice"]

#: largest L handled by :func:`enumerate_lattice` (2^25 states)
MAX_ENUMERATION_L = 5


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

    from scipy import special  # here, not at import: generation needs only T_c

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
