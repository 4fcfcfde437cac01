r"""Checkerboard Metropolis sampler with replica multi-spin coding.

Hamiltonian (per configuration) :math:`H = -J \sum_{\langle ij\rangle} s_i s_j - h \sum_i s_i`
on the periodic :math:`L \times L` square lattice.  Flipping spin :math:`s_i` costs

.. math:: \Delta E = 2 s_i \Big(J \sum_{j \in \partial i} s_j + h\Big),

accepted with probability :math:`\min(1, e^{-\Delta E / T})`, except that moves
with :math:`\Delta E = 0` are accepted with probability 1/2 (still detailed
balance, as the acceptance is symmetric).  With certain acceptance, the
synchronous update of a sublattice is trapped for ever in configurations where
every spin has exactly two aligned neighbours (e.g. diagonal stripes of width 2
when 4 divides L): each half-sweep flips a whole sublattice and the state only
alternates with its mirror image.  The two
sublattices of the (even) torus are updated in turn; a *sweep* is one update
of each sublattice, i.e. one attempted flip of every spin of every chain.

64 independent chains of one temperature share the bits of ``uint64`` words
(replica multi-spin coding), so one site update is a few dozen bitwise
operations for 64 chains.  Acceptance bits come from fixed-point thresholds
compared digit by digit with private random bits of each chain, and for
``J > 0``, ``h = 0`` eight sites of a row are updated at once in vector code
(see :mod:`isingvae.mc.rules._metropolis_kernels`); there is no ``exp`` in the loop.

Example:

>>> from isingvae.mc import Metropolis
>>> sim = Metropolis(L=8, temperatures=[2.0, 3.0], chains=5, seed=0)
>>> sim.sweep(10)
>>> sim.spins.shape, sim.spins.dtype
((2, 5, 8, 8), dtype('int8'))
>>> sim.energy.shape
(2, 5)
"""

from __future__ import annotations

import math

import numba
import numpy as np

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.mc.rules import _metropolis_kernels as _k
from isingvae.mc.rules import _rng
from isingvae.mc.rules._base import Sampler

__all__ = ["Metropolis"]

_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
#: jobs of fewer packed words (times sweeps) than this run in the calling thread
_SERIAL_WORDS = 1 << 16
#: splitting by rows pays two barriers per sweep, and a thread that the system
#: preempts holds up the others at each one.  Below this many packed words per sweep (a
#: single 256 x 256 block) that costs more than the split saves: on 2 cores with another
#: job running, one block took 2 us per sweep serially and 16 ms by rows at L = 16,
#: 89 us and 50 us to 3.8 ms at L = 128
_ROW_WORDS = 1 << 16


def _threshold_digits(p: float) -> np.ndarray:
    """Binary digits of :math:`\\lfloor p\\,2^{64}\\rfloor`, MSB first, as all-ones/zero words."""
    P = min(int(math.ldexp(p, 64)), 2**64 - 1)
    bits = [(P >> (63 - k)) & 1 for k in range(64)]
    return np.array([0xFFFFFFFFFFFFFFFF if bit else 0 for bit in bits], dtype=np.uint64)


def _acceptance_tables(temperatures: np.ndarray, J: float, h: float):
    """Per-temperature tables the kernels read (see ``_row_fast`` and ``_row_generic``)."""
    nT = len(temperatures)
    d3 = np.zeros((nT, 64), np.uint64)
    d4 = np.zeros((nT, 64), np.uint64)
    r3 = np.zeros(nT, np.uint64)
    r4 = np.zeros(nT, np.uint64)
    always = np.zeros((nT, 10), np.uint64)
    nrand = np.zeros(nT, np.int64)
    rcls = np.zeros((nT, 10), np.int64)
    rdig = np.zeros((nT, 10, 64), np.uint64)
    for t, T in enumerate(temperatures):
        beta = 1.0 / T
        if J > 0 and h == 0:
            p3, p4 = math.exp(-4.0 * beta * J), math.exp(-8.0 * beta * J)
            d3[t], d4[t] = _threshold_digits(p3), _threshold_digits(p4)
            r3[t] = _ONES if d3[t].any() else 0
            r4[t] = _ONES if d4[t].any() else 0
        for a in range(5):
            for up in (0, 1):
                spin = 1 if up else -1
                # a agreeing neighbours: s_i * sum_j s_j = 2a - 4
                dE = 2.0 * (J * (2 * a - 4) + h * spin)
                c = 2 * a + up
                if dE < 0:
                    always[t, c] = _ONES
                else:
                    digits = _threshold_digits(0.5 if dE == 0 else math.exp(-beta * dE))
                    if digits.any():
                        rcls[t, nrand[t]] = c
                        rdig[t, nrand[t]] = digits
                        nrand[t] += 1
    return (d3, d4, r3, r4, always, nrand, rcls, rdig)


class Metropolis(Sampler):
    r"""Single-spin-flip Metropolis on the checkerboard, many temperatures and chains at once.

    Args:
        L: linear lattice size, an even integer ``>= 4``.
        temperatures: one or more positive, finite temperatures (units of :math:`J/k_B`
            when ``J = 1``).
        chains: number of independent chains per temperature, ``>= 1``.
        seed: non-negative integer; every random stream derives from it.
        J: nearest-neighbour coupling (any finite value; ``J > 0`` is the ferromagnet
            and takes the fastest kernel when ``h = 0``).
        h: external field (finite).
        start: ``"hot"`` (independent random spins, default) or ``"cold"`` (all up).
        parallel: ``"auto"`` (default), ``"pairs"`` (threads take whole
            ``(temperature, block of 64 chains)`` pairs) or ``"rows"`` (threads take the
            rows of each half-sweep).  All give identical results.

    Raises:
        InputError: for any argument out of range (message names the value).

    Randomness: row ``i`` of block ``b`` at temperature index ``t`` owns the eight
    xoshiro256++ streams of spawn key ``(1, t, b)``, sub-streams ``8 i`` to ``8 i + 7``
    (see :mod:`isingvae.mc.rules._rng`), one per vector lane, so results do not depend on
    the number of threads or on the CPU's vector width.
    Padding bits of a partly filled last block are never flipped and never
    reported.
    """

    algorithm = "metropolis"

    def __init__(
        self,
        *,
        L: int,
        temperatures,
        chains: int,
        seed: int,
        J: float = 1.0,
        h: float = 0.0,
        start: str = "hot",
        parallel: str = "auto",
    ):
        super().__init__(L=L, temperatures=temperatures, chains=chains, seed=seed, J=J, h=h)
        _v.choice("start", start, ("hot", "cold"))
        self.parallel = parallel
        nT = len(self._temperatures)
        self._n_blocks = -(-self._chains // 64)
        self._valid = np.full(self._n_blocks, _ONES, dtype=np.uint64)
        tail = self._chains - 64 * (self._n_blocks - 1)
        if tail < 64:
            self._valid[-1] = np.uint64((1 << tail) - 1)
        self._fast = bool(self._J > 0 and self._h == 0)
        self._tables = _acceptance_tables(self._temperatures, self._J, self._h)
        shape = (nT, self._n_blocks, self._L, self._L)
        if start == "cold":
            self._words = np.full(shape, _ONES, dtype=np.uint64)
        else:
            self._words = _rng.random_words(self._seed, (_rng.TAG_METROPOLIS_INIT,), shape)
            self._words |= ~self._valid[None, :, None, None]  # padding starts up
        lanes = _k.LANES
        self._rng = np.empty((nT, self._n_blocks, self._L, 4, lanes), np.uint64)
        for t in range(nT):
            for b in range(self._n_blocks):
                states = _rng.stream_states(
                    self._seed, (_rng.TAG_METROPOLIS, t, b), lanes * self._L
                )
                # stream lanes * i + v drives lane v of row i; stored word-major per row
                self._rng[t, b] = states.reshape(self._L, lanes, 4).transpose(0, 2, 1)
        self._sweeps_done = 0

    # ------------------------------------------------------------------ properties

    @property
    def parallel(self) -> str:
        """Parallel strategy: ``"auto"``, ``"pairs"`` or ``"rows"``."""
        return self._parallel

    @parallel.setter
    def parallel(self, value: str):
        self._parallel = _v.choice("parallel", value, ("auto", "pairs", "rows"))

    @property
    def spins(self) -> np.ndarray:
        """``int8`` array ``(n_T, chains, L, L)`` of +-1 (a fresh copy)."""
        return _k.unpack(self._words, self._chains)

    def _observables(self):
        count = _k.count_up_and_agree_serial if self._small() else _k.count_up_and_agree
        return self._from_counts(*count(self._words))

    def _from_counts(self, ups, agree):
        """Energy and magnetization per spin from counts of up spins and agreeing bonds
        ``(..., nT, nB, 64)``: arrays ``(..., nT, chains)``."""
        nT = len(self._temperatures)
        N = self._L * self._L
        lead = ups.shape[:-3]
        ups = ups.reshape(*lead, nT, -1)[..., : self._chains]
        agree = agree.reshape(*lead, nT, -1)[..., : self._chains]
        m = (2.0 * ups - N) / N
        bond_sum = 2.0 * agree - 2 * N
        e = -(self._J * bond_sum) / N - self._h * m
        return e, m

    # ------------------------------------------------------------------ dynamics

    def _strategy(self) -> str:
        if self._parallel != "auto":
            return self._parallel
        # whole pairs per thread when they share out evenly (or nearly: many of them)
        pairs = len(self._temperatures) * self._n_blocks
        threads = numba.get_num_threads()
        if pairs % threads == 0 or pairs >= 4 * threads:
            return "pairs"
        if self._words.size >= _ROW_WORDS:
            return "rows"
        return "pairs" if pairs > 1 else "serial"

    def _small(self, n: int = 1) -> bool:
        # below about a millisecond of work, starting threads costs more than it saves
        return self._words.size * n < _SERIAL_WORDS or numba.get_num_threads() == 1

    def _run(self, n: int) -> None:
        args = (self._words, self._rng, self._valid, n, self._fast, self._tables)
        strategy = self._strategy()
        if self._small(n) or strategy == "serial":
            _k.sweeps_serial(*args)
        elif strategy == "pairs":
            _k.sweeps_by_pair(*args)
        else:
            _k.sweeps_by_row(*args, 4 * numba.get_num_threads())

    def _series(self, points: int, stride: int):
        if not (numba.get_num_threads() == 1 or self._words.size * stride < _SERIAL_WORDS):
            return None  # sweeps worth sharing out between threads: one call each
        ups, agree = _k.series_serial(self._words, self._rng, self._valid, points, stride,
                                      self._fast, self._tables)
        return self._from_counts(ups, agree)

    # ------------------------------------------------------------------ state

    def get_state(self) -> dict:
        """Everything needed to continue bit-identically: plain numpy arrays and ints.

        Keys: ``words`` (``uint64``, ``(n_T, n_blocks, L, L)``, the packed spins),
        ``rng`` (``uint64``, ``(n_T, n_blocks, L, 4, 8)``, the xoshiro256++ states of
        every row's eight streams, state word-major),
        ``sweeps_done`` (int).  Copies, safe to keep.
        """
        return {
            "algorithm": self.algorithm,
            "words": self._words.copy(),
            "rng": self._rng.copy(),
            "sweeps_done": self._sweeps_done,
        }

    def set_state(self, state: dict) -> None:
        """Restore a state from :meth:`get_state` of a sampler built with the same arguments.

        Raises:
            InputError: when shapes or dtypes do not match this sampler.
        """
        words = np.asarray(state["words"])
        rng = np.asarray(state["rng"])
        if words.shape != self._words.shape or words.dtype != np.uint64:
            raise InputError(
                f"state words must be uint64 of shape {self._words.shape}, "
                f"got {words.dtype} {words.shape}"
            )
        if rng.shape != self._rng.shape or rng.dtype != np.uint64:
            raise InputError(
                f"state rng must be uint64 of shape {self._rng.shape}, got {rng.dtype} {rng.shape}"
            )
        self._words = np.ascontiguousarray(words).copy()
        self._rng = np.ascontiguousarray(rng).copy()
        self._sweeps_done = int(state.get("sweeps_done", 0))

    def set_spins(self, spins) -> None:
        """Replace the configurations by ``spins``, ``(n_T, chains, L, L)`` of +-1."""
        s = np.asarray(spins)
        shape = (len(self._temperatures), self._chains, self._L, self._L)
        if s.shape != shape or not np.isin(s, (-1, 1)).all():
            raise InputError(f"spins must be +-1 values of shape {shape}, got shape {s.shape}")
        self._words = _k.pack(np.ascontiguousarray(s, dtype=np.int8), self._n_blocks)
