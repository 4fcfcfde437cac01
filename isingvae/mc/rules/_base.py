"""What every sampler shares: checked arguments, per-spin observables, ``sweep`` with progress."""

from __future__ import annotations

import numpy as np

from isingvae import _validate as _v


class Sampler:
    """Base of :class:`~isingvae.mc.Metropolis` and :class:`~isingvae.mc.Wolff`.

    Subclasses implement ``_run(n)`` (``n`` sweeps), ``_observables()`` (energy and
    magnetization per spin, each ``(n_T, chains)``), ``spins``, ``get_state`` and
    ``set_state``.
    """

    algorithm = "base"

    def __init__(self, *, L, temperatures, chains, seed, J, h):
        self._L = _v.lattice_size(L)
        self._temperatures = _v.temperatures(temperatures)
        self._chains = _v.count("chains", chains)
        self._seed = _v.seed(seed)
        self._J = _v.real("J", J)
        self._h = _v.real("h", h)
        self._sweeps_done = 0

    @property
    def L(self) -> int:
        """Linear lattice size."""
        return self._L

    @property
    def N(self) -> int:
        """Number of spins, ``L * L``."""
        return self._L * self._L

    @property
    def temperatures(self) -> np.ndarray:
        """Temperatures, shape ``(n_T,)`` (a copy)."""
        return self._temperatures.copy()

    @property
    def chains(self) -> int:
        """Independent chains per temperature."""
        return self._chains

    @property
    def J(self) -> float:
        """Nearest-neighbour coupling."""
        return self._J

    @property
    def h(self) -> float:
        """External field."""
        return self._h

    @property
    def seed(self) -> int:
        """The seed every random stream derives from."""
        return self._seed

    @property
    def sweeps_done(self) -> int:
        """Sweeps performed since construction (restored by ``set_state``)."""
        return self._sweeps_done

    @property
    def energy(self) -> np.ndarray:
        """Energy per spin of every chain, ``(n_T, chains)`` float64."""
        return self._observables()[0]

    @property
    def magnetization(self) -> np.ndarray:
        """Signed magnetization per spin of every chain, ``(n_T, chains)`` float64."""
        return self._observables()[1]

    def observables(self) -> tuple[np.ndarray, np.ndarray]:
        """``(energy, magnetization)`` per spin, each ``(n_T, chains)``, in one pass."""
        return self._observables()

    def sweep(self, n: int = 1, *, progress: bool = False) -> None:
        """Perform ``n`` sweeps of every chain (see the class docstring for what a sweep is).

        Args:
            n: number of sweeps, ``>= 0``.
            progress: report progress on stderr (see :mod:`isingvae.progress`).

        The result does not depend on ``progress`` or on how ``n`` is split
        between calls.
        """
        n = _v.count("n", n, lo=0)
        if n == 0:
            return
        if not progress:
            self._run(n)
            self._sweeps_done += n
            return
        from isingvae.progress import Progress

        chunk = max(1, n // 100)
        with Progress(n, desc=f"{self.algorithm} L={self._L}", unit="sweeps") as bar:
            done = 0
            while done < n:
                m = min(chunk, n - done)
                self._run(m)
                self._sweeps_done += m
                done += m
                bar.update(m)

    def series(self, points: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``points`` times, ``stride`` sweeps and then :meth:`observables`: energies and
        magnetizations per spin, two arrays ``(points, n_T, chains)``.

        The same numbers as that loop in Python; a sampler may run it as one call of
        its kernels (Metropolis does, where its sweeps run in one thread), which also
        leaves other Python threads free while it runs.
        """
        points = _v.count("points", points, lo=0)
        stride = _v.count("stride", stride)
        fused = self._series(points, stride) if points else None
        if fused is None:  # the chain driver's loop, without copying configurations
            from isingvae.mc.chains import run_chains

            nT = len(self._temperatures)
            e = np.empty((points, nT, self._chains))
            m = np.empty((points, nT, self._chains))
            for k, rec in enumerate(run_chains(self, points, stride, spins=False)):
                e[k], m[k] = rec.energy, rec.magnetization
            return e, m
        self._sweeps_done += points * stride
        return fused

    def _series(self, points: int, stride: int):
        """A fused :meth:`series`, or ``None`` to use the loop."""
        return None

    def _run(self, n: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _observables(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(L={self._L}, temperatures={self._temperatures.tolist()}, "
            f"chains={self._chains}, seed={self._seed}, J={self._J}, h={self._h})"
        )
