"""xoshiro256** and xoshiro256++ inside numba, and the seeding of independent streams.

Every Markov chain (or block of 64 multi-spin-coded chains, row by row and
vector lane by lane) owns a private xoshiro256 stream (Blackman & Vigna,
"Scrambled linear pseudorandom number generators", ACM TOMS 47, 36 (2021)):
the ``**`` output scrambler for the Wolff sampler, the ``++`` one (same state
transition, cheaper in vector code: one rotation and two additions instead of
two multiplications and a rotation) for Metropolis.  A stream's 256-bit state
is four ``uint64`` words taken from :class:`numpy.random.SeedSequence`; the
stream for key ``(tag, *index)`` is the one numpy calls
``SeedSequence(seed, spawn_key=(tag, *index))``, the same child that nested
``SeedSequence(seed).spawn(...)`` calls would produce.  Because each stream is
tied to a fixed piece of the lattice, the numbers drawn do not depend on how
the work is split between threads.

The generators are written as pure functions of the four state words so that
numba keeps them in registers inside the hot loops.  (The vectorised
Metropolis kernel has its own copy of the ``++`` step in LLVM IR; a test checks
that both agree.)
"""

import numba
import numpy as np

_U5 = np.uint64(5)
_U7 = np.uint64(7)
_U57 = np.uint64(57)
_U9 = np.uint64(9)
_U17 = np.uint64(17)
_U45 = np.uint64(45)
_U19 = np.uint64(19)
_U23 = np.uint64(23)
_U41 = np.uint64(41)

# Stream tags: the first element of the spawn key, so that samplers built with
# the same seed draw from unrelated streams.
TAG_METROPOLIS = 1
TAG_METROPOLIS_INIT = 2
TAG_WOLFF = 3
TAG_WOLFF_INIT = 4


@numba.njit(inline="always")
def _advance(s0, s1, s2, s3):
    """The xoshiro256 state transition shared by the ``**`` and ``++`` generators."""
    t = s1 << _U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << _U45) | (s3 >> _U19)
    return s0, s1, s2, s3


@numba.njit(inline="always")
def next_u64(s0, s1, s2, s3):
    """One xoshiro256** step: returns ``(output, s0, s1, s2, s3)``."""
    x = s1 * _U5
    s0n, s1n, s2n, s3n = _advance(s0, s1, s2, s3)
    return ((x << _U7) | (x >> _U57)) * _U9, s0n, s1n, s2n, s3n


@numba.njit(inline="always")
def next_u64_pp(s0, s1, s2, s3):
    """One xoshiro256++ step (same state transition, ``++`` output scrambler).

    Returns ``(output, s0, s1, s2, s3)``; the Metropolis kernels use this variant.
    """
    x = s0 + s3
    s0n, s1n, s2n, s3n = _advance(s0, s1, s2, s3)
    return ((x << _U23) | (x >> _U41)) + s0, s0n, s1n, s2n, s3n


def stream_states(seed, key, n):
    """State words of ``n`` consecutive streams under one spawn key.

    Returns a ``(n, 4)`` ``uint64`` array: row ``r`` seeds the stream of
    sub-index ``r`` below ``key``.  A state of four zero words (impossible in
    practice) is replaced, as xoshiro forbids it.
    """
    words = np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key))
    state = words.generate_state(4 * n, np.uint64).reshape(n, 4)
    zero = ~state.any(axis=1)
    state[zero, 0] = np.uint64(0x9E3779B97F4A7C15)
    return state


def random_words(seed, key, shape):
    """Uniform random ``uint64`` words of the given shape (for initial states)."""
    gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))
    return gen.integers(0, np.iinfo(np.uint64).max, size=shape, dtype=np.uint64, endpoint=True)
