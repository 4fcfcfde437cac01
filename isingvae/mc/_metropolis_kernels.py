"""Numba kernels of the multi-spin-coded checkerboard Metropolis sampler.

Layout: ``words[t, b, i, j]`` is a ``uint64`` whose bit ``c`` is the spin at
site ``(i, j)`` of chain ``64 b + c`` at temperature index ``t`` (bit 1 = spin
up).  One site update treats 64 chains at once:

1. agreement with each neighbour, ``x_k = ~(s ^ n_k)``, is summed by bitwise
   half adders into class masks (``a`` = number of agreeing neighbours, and the
   spin itself when ``h != 0``);
2. chains whose class has :math:`\\Delta E < 0` flip; those with :math:`\\Delta E = 0`
   flip with probability 1/2 (see :mod:`isingvae.mc.metropolis` for why);
3. chains whose class needs a Bernoulli(:math:`p`) bit compare a private
   uniform 64-bit integer :math:`u` with the fixed-point threshold
   :math:`P = \\lfloor p\\, 2^{64} \\rfloor`, most significant digit first: the
   ``k``-th digit of every chain's :math:`u` is bit ``c`` of the ``k``-th fresh
   random word, so no random number is shared between chains.  A chain is
   decided at the first digit where :math:`u` and :math:`P` differ (accept
   when :math:`u < P`); the loop stops once every chain is decided (on average
   about 7 words for 64 undecided chains) or after 64 digits (bias
   :math:`< 2^{-64}`).

Randomness comes from one xoshiro256** stream per ``(t, b, row)``, so that the
two parallel strategies below, and any number of threads, give the same bits.
"""

import numba
import numpy as np
from numba import prange

from isingvae.mc._rng import next_u64

_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_EAGER = 6


@numba.njit(inline="always")
def _agreement(row, up, down, j, jl, jr):
    """Spin word at ``(i, j)`` and its pair sums ``(p, q, r, t)``.

    ``p = x1 ^ x2`` and ``q = x1 & x2`` encode the count of agreeing vertical
    neighbours as ``p + 2 q``; ``r``, ``t`` the same for the horizontal pair.
    """
    s = row[j]
    x1 = ~(s ^ up[j])
    x2 = ~(s ^ down[j])
    x3 = ~(s ^ row[jl])
    x4 = ~(s ^ row[jr])
    return s, x1 ^ x2, x1 & x2, x3 ^ x4, x3 & x4


@numba.njit(inline="always")
def _row_fast(W, i, colour, valid, d3, d4, r3, r4, s0, s1, s2, s3):
    """Update the sites of one colour in row ``i``: ``h = 0`` and ``J > 0``.

    ``a <= 1`` flips, ``a = 2`` (:math:`\\Delta E = 0`) flips with probability 1/2,
    ``a = 3`` (:math:`\\Delta E = 4J`) and ``a = 4`` (:math:`8J`) need Bernoulli bits;
    ``d3[k]``/``d4[k]`` are the threshold digits as all-ones or zero words,
    ``r3``/``r4`` all-ones when that class can be accepted at all.
    """
    L = W.shape[0]
    row = W[i]
    up = W[i - 1] if i > 0 else W[L - 1]
    down = W[i + 1] if i < L - 1 else W[0]
    for j in range((i + colour) & 1, L, 2):
        jl = j - 1 if j > 0 else L - 1
        jr = j + 1 if j < L - 1 else 0
        s, p, q, r, t = _agreement(row, up, down, j, jl, jr)
        m4 = q & t
        m3 = (q & r) | (t & p)
        at_least_2 = q | t | (p & r)
        at_least_3 = m3 | m4
        flip = ~at_least_2 & valid
        half = at_least_2 & ~at_least_3 & valid
        undecided = ((m3 & r3) | (m4 & r4)) & valid
        k = 0
        if (undecided | half) != _ZERO:
            # digit 0; the same word's bits at the positions of a = 2 chains (which no
            # other chain uses) accept those with probability 1/2
            w, s0, s1, s2, s3 = next_u64(s0, s1, s2, s3)
            flip |= half & ~w
            d = (m3 & d3[0]) | (m4 & d4[0])
            flip |= undecided & d & ~w
            undecided &= ~(d ^ w)
            k = 1
            if undecided != _ZERO:
                # a fixed number of digits first: a counted loop LLVM can unroll,
                # without the data-dependent exit the branch predictor cannot guess
                for k in range(1, _EAGER):
                    w, s0, s1, s2, s3 = next_u64(s0, s1, s2, s3)
                    d = (m3 & d3[k]) | (m4 & d4[k])
                    flip |= undecided & d & ~w
                    undecided &= ~(d ^ w)
                k = _EAGER
        while undecided != _ZERO and k < 64:
            w, s0, s1, s2, s3 = next_u64(s0, s1, s2, s3)
            d = (m3 & d3[k]) | (m4 & d4[k])
            flip |= undecided & d & ~w
            undecided &= ~(d ^ w)
            k += 1
        row[j] = s ^ flip
    return s0, s1, s2, s3


@numba.njit(inline="always")
def _row_generic(W, i, colour, valid, always, nrand, rcls, rdig, masks, s0, s1, s2, s3):
    """Update the sites of one colour in row ``i``: any ``J`` and ``h``.

    Ten classes ``2 a + (spin up)``; ``always[c]`` is all-ones for classes with
    :math:`\\Delta E \\le 0`; the ``nrand`` classes ``rcls[:nrand]`` draw
    Bernoulli bits against the digits ``rdig[slot, k]``.  ``masks`` is scratch.
    """
    L = W.shape[0]
    row = W[i]
    up = W[i - 1] if i > 0 else W[L - 1]
    down = W[i + 1] if i < L - 1 else W[0]
    for j in range((i + colour) & 1, L, 2):
        jl = j - 1 if j > 0 else L - 1
        jr = j + 1 if j < L - 1 else 0
        s, p, q, r, t = _agreement(row, up, down, j, jl, jr)
        z1 = ~(p | q)
        z2 = ~(r | t)
        a0 = z1 & z2
        a1 = (p & z2) | (r & z1)
        a2 = (q & z2) | (t & z1) | (p & r)
        a3 = (q & r) | (t & p)
        a4 = q & t
        masks[0] = a0 & ~s
        masks[1] = a0 & s
        masks[2] = a1 & ~s
        masks[3] = a1 & s
        masks[4] = a2 & ~s
        masks[5] = a2 & s
        masks[6] = a3 & ~s
        masks[7] = a3 & s
        masks[8] = a4 & ~s
        masks[9] = a4 & s
        flip = _ZERO
        for c in range(10):
            flip |= masks[c] & always[c]
        flip &= valid
        undecided = _ZERO
        for slot in range(nrand):
            undecided |= masks[rcls[slot]]
        undecided &= valid
        k = 0
        while undecided != _ZERO and k < 64:
            w, s0, s1, s2, s3 = next_u64(s0, s1, s2, s3)
            d = _ZERO
            for slot in range(nrand):
                d |= masks[rcls[slot]] & rdig[slot, k]
            flip |= undecided & d & ~w
            undecided &= ~(d ^ w)
            k += 1
        row[j] = s ^ flip
    return s0, s1, s2, s3


@numba.njit(inline="always")
def _update_row(words, rng, t, b, i, colour, valid, fast, tab, masks):
    """Load row ``(t, b, i)``'s stream, update its sites of one colour, store the stream."""
    d3, d4, r3, r4, always, nrand, rcls, rdig = tab
    st = rng[t, b, i]
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    W = words[t, b]
    if fast:
        s0, s1, s2, s3 = _row_fast(W, i, colour, valid, d3[t], d4[t], r3[t], r4[t], s0, s1, s2, s3)
    else:
        s0, s1, s2, s3 = _row_generic(
            W, i, colour, valid, always[t], nrand[t], rcls[t], rdig[t], masks, s0, s1, s2, s3
        )
    st[0] = s0
    st[1] = s1
    st[2] = s2
    st[3] = s3


@numba.njit(inline="always")
def _pair_sweeps(words, rng, valid, n, fast, tab, pair):
    nB, L = words.shape[1], words.shape[2]
    t = pair // nB
    b = pair - t * nB
    masks = np.empty(10, np.uint64)
    for _ in range(n):
        for colour in range(2):
            for i in range(L):
                _update_row(words, rng, t, b, i, colour, valid[b], fast, tab, masks)


@numba.njit(parallel=True, cache=True)
def sweeps_by_pair(words, rng, valid, n, fast, tab):
    """``n`` sweeps; threads share out the ``(t, b)`` pairs, each doing all ``n`` sweeps."""
    for pair in prange(words.shape[0] * words.shape[1]):
        _pair_sweeps(words, rng, valid, n, fast, tab, pair)


@numba.njit(cache=True)
def sweeps_serial(words, rng, valid, n, fast, tab):
    """``n`` sweeps in the calling thread (small jobs: no thread start-up to pay)."""
    for pair in range(words.shape[0] * words.shape[1]):
        _pair_sweeps(words, rng, valid, n, fast, tab, pair)


@numba.njit(parallel=True, cache=True)
def sweeps_by_row(words, rng, valid, n, fast, tab):
    """``n`` sweeps; each half-sweep shares out the rows of every ``(t, b)`` between threads."""
    nT, nB, L, _ = words.shape
    for _ in range(n):
        for colour in range(2):
            for task in prange(nT * nB * L):
                pair = task // L
                i = task - pair * L
                t = pair // nB
                b = pair - t * nB
                masks = np.empty(10, np.uint64)
                _update_row(words, rng, t, b, i, colour, valid[b], fast, tab, masks)


@numba.njit(inline="always")
def _count_add(planes, x):
    """Add the bits of ``x`` (one per chain) to a bit-sliced counter."""
    k = 0
    while x != _ZERO:
        carry = planes[k] & x
        planes[k] ^= x
        x = carry
        k += 1


@numba.njit(parallel=True, cache=True)
def count_up_and_agree(words):
    """Per chain: number of up spins and of agreeing nearest-neighbour bonds.

    Returns two ``int64`` arrays of shape ``(nT, nB, 64)``.
    """
    nT, nB = words.shape[0], words.shape[1]
    ups = np.zeros((nT, nB, 64), np.int64)
    agree = np.zeros((nT, nB, 64), np.int64)
    for pair in prange(nT * nB):
        _count_pair(words, pair, ups, agree)
    return ups, agree


@numba.njit(cache=True)
def count_up_and_agree_serial(words):
    """:func:`count_up_and_agree` in the calling thread."""
    nT, nB = words.shape[0], words.shape[1]
    ups = np.zeros((nT, nB, 64), np.int64)
    agree = np.zeros((nT, nB, 64), np.int64)
    for pair in range(nT * nB):
        _count_pair(words, pair, ups, agree)
    return ups, agree


@numba.njit(inline="always")
def _count_pair(words, pair, ups, agree):
    """Bit-sliced counts of up spins and agreeing bonds of the 64 chains of one pair."""
    nB, L = words.shape[1], words.shape[2]
    t = pair // nB
    b = pair - t * nB
    W = words[t, b]
    up_planes = np.zeros(40, np.uint64)
    ag_planes = np.zeros(40, np.uint64)
    for i in range(L):
        row = W[i]
        down = W[i + 1] if i < L - 1 else W[0]
        for j in range(L):
            s = row[j]
            right = row[j + 1] if j < L - 1 else row[0]
            _count_add(up_planes, s)
            _count_add(ag_planes, ~(s ^ right))
            _count_add(ag_planes, ~(s ^ down[j]))
    for c in range(64):
        u = 0
        a = 0
        for k in range(40):
            u += np.int64((up_planes[k] >> np.uint64(c)) & _ONE) << k
            a += np.int64((ag_planes[k] >> np.uint64(c)) & _ONE) << k
        ups[t, b, c] = u
        agree[t, b, c] = a


@numba.njit(parallel=True, cache=True)
def unpack(words, chains):
    """``int8`` spins ``(nT, chains, L, L)`` of +-1 from the packed words."""
    nT, _, L, _ = words.shape
    out = np.empty((nT, chains, L, L), np.int8)
    for task in prange(nT * chains):
        t = task // chains
        ch = task - t * chains
        b = ch // 64
        shift = np.uint64(ch - 64 * b)
        W = words[t, b]
        for i in range(L):
            for j in range(L):
                out[t, ch, i, j] = np.int8(2 * np.int64((W[i, j] >> shift) & _ONE) - 1)
    return out


@numba.njit(parallel=True, cache=True)
def pack(spins, n_blocks):
    """Packed words ``(nT, n_blocks, L, L)`` from ``int8`` spins; padding bits are up."""
    nT, chains, L, _ = spins.shape
    words = np.empty((nT, n_blocks, L, L), np.uint64)
    for pair in prange(nT * n_blocks):
        t = pair // n_blocks
        b = pair - t * n_blocks
        for i in range(L):
            for j in range(L):
                w = _ZERO
                for c in range(64):
                    ch = 64 * b + c
                    if ch >= chains or spins[t, ch, i, j] > 0:
                        w |= _ONE << np.uint64(c)
                words[t, b, i, j] = w
    return words
