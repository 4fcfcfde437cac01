"""Numba kernels of the Wolff cluster sampler (one xoshiro256** stream per chain).

Spins are ``int8`` arrays ``(n_T, chains, L * L)``, site ``x = i L + j``.
"""

import numba
import numpy as np
from numba import prange

from isingvae.mc.rules._rng import next_u64

_U32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)


@numba.njit(inline="always")
def _uniform_site(N, s0, s1, s2, s3):
    """A uniformly distributed site in ``[0, N)`` (Lemire's multiply-shift with rejection)."""
    n = np.uint64(N)
    threshold = (np.uint64(1 << 32) - n) % n
    while True:
        r, s0, s1, s2, s3 = next_u64(s0, s1, s2, s3)
        m = (r >> _U32) * n
        if (m & _LOW32) >= threshold:
            return np.int64(m >> _U32), s0, s1, s2, s3


@numba.njit(inline="always")
def _flip_cluster(S, L, stack, p_add, s0, s1, s2, s3):
    """Grow one Wolff cluster from a random seed site and flip it; return its size.

    A neighbour of a cluster site joins when it is parallel to the seed spin and a
    uniform 64-bit integer falls below ``p_add`` (:math:`(1 - e^{-2J/T})\\,2^{64}`).
    Spins are flipped as they join, which also marks them as visited.
    """
    N = L * L
    seed_site, s0, s1, s2, s3 = _uniform_site(N, s0, s1, s2, s3)
    old = S[seed_site]
    new = np.int8(-old)
    S[seed_site] = new
    stack[0] = seed_site
    top = 1
    size = 1
    while top > 0:
        top -= 1
        x = stack[top]
        i = x // L
        j = x - i * L
        for nb in range(4):
            if nb == 0:
                y = x - L if i > 0 else x + N - L
            elif nb == 1:
                y = x + L if i < L - 1 else x - N + L
            elif nb == 2:
                y = x - 1 if j > 0 else x + L - 1
            else:
                y = x + 1 if j < L - 1 else x - L + 1
            if S[y] == old:
                r, s0, s1, s2, s3 = next_u64(s0, s1, s2, s3)
                if r < p_add:
                    S[y] = new
                    stack[top] = y
                    top += 1
                    size += 1
    return size, s0, s1, s2, s3


@numba.njit(parallel=True, cache=True, nogil=True)
def wolff_sweeps(spins, rng, p_add, clusters, n, L):
    """``n`` sweeps of ``clusters[t]`` cluster flips in every chain; returns flipped counts."""
    nT, C = spins.shape[0], spins.shape[1]
    flipped = np.zeros((nT, C), np.int64)
    for task in prange(nT * C):
        _chain_sweeps(spins, rng, p_add, clusters, n, L, task, flipped)
    return flipped


@numba.njit(cache=True, nogil=True)
def wolff_sweeps_serial(spins, rng, p_add, clusters, n, L):
    """:func:`wolff_sweeps` in the calling thread (small jobs)."""
    nT, C = spins.shape[0], spins.shape[1]
    flipped = np.zeros((nT, C), np.int64)
    for task in range(nT * C):
        _chain_sweeps(spins, rng, p_add, clusters, n, L, task, flipped)
    return flipped


@numba.njit(inline="always")
def _chain_sweeps(spins, rng, p_add, clusters, n, L, task, flipped):
    """All ``n`` sweeps of one chain, ``task = t * chains + c``."""
    C, N = spins.shape[1], spins.shape[2]
    t = task // C
    ch = task - t * C
    S = spins[t, ch]
    stack = np.empty(N, np.int64)
    st = rng[t, ch]
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    total = 0
    for _ in range(n * clusters[t]):
        size, s0, s1, s2, s3 = _flip_cluster(S, L, stack, p_add[t], s0, s1, s2, s3)
        total += size
    st[0] = s0
    st[1] = s1
    st[2] = s2
    st[3] = s3
    flipped[t, ch] = total


@numba.njit(parallel=True, cache=True, nogil=True)
def wolff_calibrate(spins, rng, p_add, warm, measure, L):
    """Flip clusters until ``warm`` spins have flipped, then until ``measure`` more have.

    Returns per chain the number of clusters and of spins flipped in the second stage
    (their ratio estimates the mean cluster size).
    """
    nT, C, N = spins.shape
    n_clusters = np.zeros((nT, C), np.int64)
    n_spins = np.zeros((nT, C), np.int64)
    for task in prange(nT * C):
        t = task // C
        ch = task - t * C
        S = spins[t, ch]
        stack = np.empty(N, np.int64)
        st = rng[t, ch]
        s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
        total = 0
        while total < warm:
            size, s0, s1, s2, s3 = _flip_cluster(S, L, stack, p_add[t], s0, s1, s2, s3)
            total += size
        total = 0
        count = 0
        while total < measure:
            size, s0, s1, s2, s3 = _flip_cluster(S, L, stack, p_add[t], s0, s1, s2, s3)
            total += size
            count += 1
        st[0] = s0
        st[1] = s1
        st[2] = s2
        st[3] = s3
        n_clusters[t, ch] = count
        n_spins[t, ch] = total
    return n_clusters, n_spins


@numba.njit(cache=True, inline="always")
def _bonds_and_sum(S, L):
    b = 0
    m = 0
    for i in range(L):
        down = (i + 1) % L
        for j in range(L):
            s = np.int64(S[i * L + j])
            right = j + 1 if j < L - 1 else 0
            b += s * (S[i * L + right] + S[down * L + j])
            m += s
    return b, m


@numba.njit(parallel=True, cache=True, nogil=True)
def energy_magnetization(spins, L):
    """Sums over each configuration of ``s_i s_j`` (bonds, each once) and of ``s_i``.

    ``spins`` is ``(n_configs, L * L)`` int8; returns two int64 arrays ``(n_configs,)``.
    """
    n = spins.shape[0]
    bonds = np.zeros(n, np.int64)
    total = np.zeros(n, np.int64)
    for c in prange(n):
        bonds[c], total[c] = _bonds_and_sum(spins[c], L)
    return bonds, total


@numba.njit(cache=True, nogil=True)
def energy_magnetization_serial(spins, L):
    """:func:`energy_magnetization` in the calling thread, for small batches (starting
    worker threads costs more than the sums, and much more on a busy machine)."""
    n = spins.shape[0]
    bonds = np.zeros(n, np.int64)
    total = np.zeros(n, np.int64)
    for c in range(n):
        bonds[c], total[c] = _bonds_and_sum(spins[c], L)
    return bonds, total
