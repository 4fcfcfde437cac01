r"""Wolff single-cluster updates (U. Wolff, Phys. Rev. Lett. 62, 361 (1989)).

A cluster grows from a uniformly chosen seed spin: each bond from a cluster
spin to a parallel neighbour is activated with probability
:math:`p = 1 - e^{-2J/T}`, and the whole cluster is flipped (always accepted at
:math:`h = 0`).  Fields :math:`h \ne 0` are refused: the single-cluster move
would need a ghost spin, and :class:`~isingvae.mc.Metropolis` handles fields.

**What a sweep is.**  One Wolff *sweep* at temperature :math:`T` is a fixed
number :math:`K_T` of cluster flips in every chain, with
:math:`K_T = \max(1, \mathrm{round}(N / \langle |C| \rangle_T))`, so that a sweep flips
about :math:`N = L^2` spins on average and costs about as much as a Metropolis
sweep.  The mean cluster size :math:`\langle |C| \rangle_T` is measured once, the
first time the sampler sweeps: every chain flips clusters until :math:`2N` spins
have flipped (warm-up), then until :math:`N` more have, and the clusters of that
second stage are averaged over all chains of the temperature.  These calibration
flips are valid Wolff updates but are not counted as sweeps.  :math:`K_T` is then
fixed (it is part of the state), so a sweep is a fixed power of the Wolff
transition kernel and leaves the Boltzmann distribution invariant.  (Stopping
each sweep when the flipped-spin count crosses :math:`N` would not: it
over-samples states that produce large clusters.)  ``clusters_per_sweep`` sets
:math:`K_T` explicitly instead.

Example:

>>> from isingvae.mc import Wolff
>>> sim = Wolff(L=8, temperatures=[2.0], chains=3, seed=1)
>>> sim.sweep(5)
>>> sim.spins.shape
(1, 3, 8, 8)
"""

from __future__ import annotations

import math
import numbers

import numba
import numpy as np

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.mc.rules import _rng
from isingvae.mc.rules import _wolff_kernels as _k
from isingvae.mc.rules._base import Sampler

__all__ = ["Wolff"]

#: jobs of fewer spins (times sweeps) than this run in the calling thread
_SERIAL_SPINS = 1 << 16


class Wolff(Sampler):
    r"""Wolff cluster sampler, many temperatures and independent chains at once.

    Args:
        L: linear lattice size, an even integer ``>= 4`` (same rule as Metropolis, so
            that the two samplers are interchangeable).
        temperatures: one or more positive, finite temperatures.
        chains: independent chains per temperature, ``>= 1``.
        seed: non-negative integer; chain ``c`` at temperature index ``t`` draws from
            the xoshiro256** stream of spawn key ``(3, t)``, sub-stream ``c``.
        J: coupling, ``> 0`` (ferromagnet).
        h: must be ``0``.
        start: ``"hot"`` (default) or ``"cold"``.
        clusters_per_sweep: ``None`` (calibrate, see the module docstring), an integer,
            or one integer per temperature.

    Raises:
        InputError: any argument out of range, ``h != 0`` or ``J <= 0``.

    Chains run in parallel (numba ``prange``) and own their streams, so the result
    does not depend on the number of threads.
    """

    algorithm = "wolff"

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
        clusters_per_sweep=None,
    ):
        super().__init__(L=L, temperatures=temperatures, chains=chains, seed=seed, J=J, h=h)
        if self._h != 0:
            raise InputError(
                f"Wolff cluster updates need h = 0, got h={self._h!r}; use Metropolis for fields"
            )
        if self._J <= 0:
            raise InputError(f"Wolff needs a ferromagnetic coupling J > 0, got J={self._J!r}")
        _v.choice("start", start, ("hot", "cold"))
        nT = len(self._temperatures)
        p = -np.expm1(-2.0 * self._J / self._temperatures)
        self._p_add = np.array(
            [min(int(math.ldexp(float(q), 64)), 2**64 - 1) for q in p], dtype=np.uint64
        )
        self._clusters = np.zeros(nT, np.int64)
        # spins flipped by sweeps (calibration excluded) per temperature, and the chain
        # sweeps they took: what a sweep costs, for the choice of algorithm (not state)
        self._flips = np.zeros(nT, np.int64)
        self._flip_sweeps = 0
        if clusters_per_sweep is not None:
            self._clusters[:] = self._check_clusters(clusters_per_sweep, nT)
        shape = (nT, self._chains, self.N)
        if start == "cold":
            self._spins = np.ones(shape, np.int8)
        else:
            words = _rng.random_words(self._seed, (_rng.TAG_WOLFF_INIT,), shape)
            self._spins = np.where(words >> np.uint64(63), 1, -1).astype(np.int8)
        self._rng = np.empty((nT, self._chains, 4), np.uint64)
        for t in range(nT):
            self._rng[t] = _rng.stream_states(self._seed, (_rng.TAG_WOLFF, t), self._chains)

    @staticmethod
    def _check_clusters(value, nT):
        k = np.atleast_1d(np.asarray(value))
        if k.shape not in ((1,), (nT,)) or not all(
            isinstance(x, numbers.Integral) and x >= 1 for x in k.tolist()
        ):
            raise InputError(
                f"clusters_per_sweep must be an integer >= 1 or one per temperature, got {value!r}"
            )
        return np.broadcast_to(k.astype(np.int64), (nT,))

    @property
    def clusters_per_sweep(self) -> np.ndarray:
        """Cluster flips per sweep and chain, per temperature (zeros until calibrated)."""
        return self._clusters.copy()

    @property
    def spins(self) -> np.ndarray:
        """``int8`` array ``(n_T, chains, L, L)`` of +-1 (a fresh copy)."""
        return self._spins.reshape(len(self._temperatures), self._chains, self._L, self._L).copy()

    @property
    def flips_per_sweep(self) -> np.ndarray:
        """Spins flipped per sweep and chain, per temperature, averaged over the sweeps
        this object has made (NaN before any).  A sweep's cost is proportional to it
        (:data:`isingvae.mc.choice.NS_PER_WOLFF_FLIP`); it is not part of the state."""
        if self._flip_sweeps == 0:
            return np.full(len(self._temperatures), np.nan)
        return self._flips / (self._flip_sweeps * self._chains)

    def calibrate(self) -> np.ndarray:
        """Measure the mean cluster size and fix :attr:`clusters_per_sweep` (once).

        Called by the first :meth:`sweep`; returns the clusters per sweep.
        """
        if self._clusters.all():
            return self.clusters_per_sweep
        N = self.N
        n_clusters, n_spins = _k.wolff_calibrate(
            self._spins, self._rng, self._p_add, 2 * N, N, self._L
        )
        mean_size = n_spins.sum(axis=1) / n_clusters.sum(axis=1)
        todo = self._clusters == 0
        self._clusters[todo] = np.maximum(1, np.rint(N / mean_size[todo])).astype(np.int64)
        return self.clusters_per_sweep

    def _small(self, n: int = 1) -> bool:
        # small jobs (under about a millisecond) run in the calling thread
        return self._spins.size * n < _SERIAL_SPINS or numba.get_num_threads() == 1

    def _run(self, n: int) -> None:
        self.calibrate()
        kernel = _k.wolff_sweeps_serial if self._small(n) else _k.wolff_sweeps
        flipped = kernel(self._spins, self._rng, self._p_add, self._clusters, n, self._L)
        self._flips += flipped.sum(axis=1)
        self._flip_sweeps += n

    def _observables(self):
        nT = len(self._temperatures)
        flat = self._spins.reshape(nT * self._chains, self.N)
        kernel = _k.energy_magnetization_serial if self._small() else _k.energy_magnetization
        bonds, total = kernel(flat, self._L)
        N = self.N
        m = (total / N).reshape(nT, self._chains)
        e = (-(self._J * bonds) / N).reshape(nT, self._chains) - self._h * m
        return e, m

    def get_state(self) -> dict:
        """Everything needed to continue bit-identically: plain numpy arrays and ints.

        Keys: ``spins`` (``int8``, ``(n_T, chains, L, L)``), ``rng`` (``uint64``,
        ``(n_T, chains, 4)``), ``clusters_per_sweep`` (``int64``, ``(n_T,)``, zeros
        before calibration), ``sweeps_done``.
        """
        return {
            "algorithm": self.algorithm,
            "spins": self.spins,
            "rng": self._rng.copy(),
            "clusters_per_sweep": self._clusters.copy(),
            "sweeps_done": self._sweeps_done,
        }

    def set_state(self, state: dict) -> None:
        """Restore a state from :meth:`get_state` of a sampler built with the same arguments.

        Raises:
            InputError: when shapes, dtypes or values do not match this sampler.
        """
        nT = len(self._temperatures)
        spins = np.asarray(state["spins"])
        rng = np.asarray(state["rng"])
        clusters = np.asarray(state["clusters_per_sweep"])
        shape = (nT, self._chains, self._L, self._L)
        if spins.shape != shape or not np.isin(spins, (-1, 1)).all():
            raise InputError(f"state spins must be +-1 of shape {shape}, got shape {spins.shape}")
        if rng.shape != self._rng.shape or rng.dtype != np.uint64:
            raise InputError(
                f"state rng must be uint64 of shape {self._rng.shape}, got {rng.dtype} {rng.shape}"
            )
        if clusters.shape != (nT,) or (clusters < 0).any():
            raise InputError(f"state clusters_per_sweep must be ({nT},) non-negative integers")
        self._spins = np.array(spins, dtype=np.int8).reshape(nT, self._chains, -1)
        self._rng = np.ascontiguousarray(rng).copy()
        self._clusters = clusters.astype(np.int64).copy()
        self._sweeps_done = int(state.get("sweeps_done", 0))

    def set_spins(self, spins) -> None:
        """Replace the configurations by ``spins``, ``(n_T, chains, L, L)`` of +-1."""
        s = np.asarray(spins)
        shape = (len(self._temperatures), self._chains, self._L, self._L)
        if s.shape != shape or not np.isin(s, (-1, 1)).all():
            raise InputError(f"spins must be +-1 values of shape {shape}, got shape {s.shape}")
        self._spins = np.ascontiguousarray(s, dtype=np.int8).reshape(shape[0], shape[1], -1).copy()
