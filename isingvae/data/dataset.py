"""The dataset: one configuration file's columns as numpy arrays, and views of them.

A file in the ``isingvae/ising2d`` layout (``data/README.md``) holds ``N`` spin
configurations of one ``L x L`` torus with their temperature, energy and magnetization
per spin and the id of the Markov chain each came from.  :class:`IsingDataset` opens
one, checks it, and serves its columns as numpy arrays, read on first use and then kept
in memory by one store that every view of the file shares; it is the one reader of
configuration files on the learning side.

Views: :meth:`IsingDataset.select` (by temperature, range, split or chain ids),
:meth:`IsingDataset.by_temperature`, :meth:`IsingDataset.split` (the split by Markov
chain of :mod:`isingvae.data.splits`) and :meth:`IsingDataset.split_by_chains` (the same
three views rebuilt from recorded chain ids).  Batches for Keras come from
:meth:`IsingDataset.to_tf` and :meth:`IsingDataset.epoch_batches`
(:mod:`isingvae.data.tfdata`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from isingvae.data import tfdata
from isingvae.data.splits import DEFAULT_FRACTIONS, SPLITS, Splits, assign_chains, check_fractions
from isingvae.data.symmetry import to_bernoulli
from isingvae.data.tfdata import COLUMNS
from isingvae.errors import InputError
from isingvae.storage import Header, open_ising_file, read_header

__all__ = ["IsingDataset"]

_TEMPERATURE_RTOL = 1e-9


class _Store:
    """The columns of one file, read on first use and shared by every view of it."""

    def __init__(self, path: Path, header: Header):
        self.path = path
        self.header = header
        self._meta: dict[str, np.ndarray] | None = None
        self._spins: np.ndarray | None = None

    def _read(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        out = {}
        with open_ising_file(self.path) as f:
            for name in names:
                try:
                    out[name] = f[name][...]
                except (OSError, RuntimeError, ValueError) as exc:
                    msg = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                    raise InputError(f"cannot read /{name} of {self.path}: truncated or "
                                     f"corrupt ({msg})") from None
        for name, a in out.items():
            if a.shape[0] != self.header.n:
                raise InputError(f"{self.path} changed while open: /{name} has {a.shape[0]} "
                                 f"rows, {self.header.n} when first read")
            a.setflags(write=False)
        return out

    @property
    def meta(self) -> dict[str, np.ndarray]:
        if self._meta is None:
            meta = self._read(("temperature", "energy", "magnetization", "chain"))
            t = meta["temperature"]
            ok = np.isnan(t) | (np.isfinite(t) & (t > 0))   # NaN: temperature unknown
            if not np.all(ok):
                bad = t[~ok][0]
                raise InputError(f"{self.path}: /temperature holds {bad!r}; temperatures "
                                 f"must be finite and positive (or NaN for unknown)")
            self._meta = meta
        return self._meta

    @property
    def spins(self) -> np.ndarray:
        if self._spins is None:
            s = self._read(("spins",))["spins"]
            ok = (s == 1) | (s == -1)
            if not ok.all():
                row = int(np.argwhere(~ok)[0, 0])
                raise InputError(f"{self.path}: /spins row {row} holds values other than "
                                 f"+1 and -1")
            self._spins = s
        return self._spins


class IsingDataset:
    """Configurations of one ``isingvae/ising2d`` file (or a selection of its rows).

    ``IsingDataset(path)`` checks the file's layout at once (a missing, foreign,
    truncated or corrupt file raises :class:`~isingvae.errors.InputError` naming it)
    and reads the data on first access.  Columns are read-only numpy arrays of ``n``
    rows: ``spins`` (int8 ``(n, L, L)`` of +-1), ``temperature``, ``energy`` and
    ``magnetization`` (float64, per spin, m signed), ``chain`` (int64 Markov chain id)
    and ``index`` (int64 row in the file).

    ``x`` is the Bernoulli view ``(spins + 1) / 2`` as float32 ``(n, L, L, 1)``, made
    anew on each access.  :meth:`select` and :meth:`split` return views of the same
    kind; ``len(ds) == ds.n`` is the number of rows in the view.
    """

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        header = read_header(path)
        self._store = _Store(path, header)
        self._rows: np.ndarray | slice | None = None
        self._label = ""
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def open(cls, path: str | os.PathLike) -> IsingDataset:
        """Same as ``IsingDataset(path)``."""
        return cls(path)

    def _view(self, rows: np.ndarray, label: str) -> IsingDataset:
        """A view of the file rows ``rows`` (sorted absolute row numbers)."""
        view = object.__new__(type(self))
        view._store = self._store
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and rows[-1] - rows[0] + 1 == rows.size:
            view._rows = slice(int(rows[0]), int(rows[-1]) + 1)   # contiguous: numpy views
        else:
            view._rows = rows
        if isinstance(view._rows, slice) and view._rows == slice(0, self._store.header.n):
            view._rows = None
        view._label = f"{self._label}, {label}" if self._label else label
        view._cache = {}
        return view

    # ---------------------------------------------------------------- description
    @property
    def path(self) -> Path:
        """The file."""
        return self._store.path

    @property
    def header(self) -> Header:
        """The file's root attributes (:class:`isingvae.storage.Header`)."""
        return self._store.header

    @property
    def L(self) -> int:
        """Linear lattice size."""
        return self._store.header.L

    @property
    def J(self) -> float:
        """Coupling constant the data were made with."""
        return self._store.header.J

    @property
    def h(self) -> float:
        """External field the data were made with."""
        return self._store.header.h

    @property
    def n(self) -> int:
        """Number of configurations in this view."""
        if self._rows is None:
            return self._store.header.n
        if isinstance(self._rows, slice):
            return self._rows.stop - self._rows.start
        return int(self._rows.size)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        sel = f", {self._label}" if self._label else ""
        return (f"IsingDataset('{self.path}', L={self.L}, n={self.n}{sel})")

    # ---------------------------------------------------------------- columns
    def _column(self, name: str) -> np.ndarray:
        if name in self._cache:
            return self._cache[name]
        if name == "index":
            full = np.arange(self._store.header.n, dtype=np.int64)
            full.setflags(write=False)
        elif name == "spins":
            full = self._store.spins
        else:
            full = self._store.meta[name]
        if self._rows is None:
            out = full
        elif isinstance(self._rows, slice):
            out = full[self._rows]
        else:
            out = full[self._rows]
            out.setflags(write=False)
        self._cache[name] = out
        return out

    @property
    def spins(self) -> np.ndarray:
        """int8 ``(n, L, L)`` spins of +-1 (read-only)."""
        return self._column("spins")

    @property
    def temperature(self) -> np.ndarray:
        """float64 ``(n,)`` temperature of each configuration."""
        return self._column("temperature")

    @property
    def energy(self) -> np.ndarray:
        """float64 ``(n,)`` energy per spin."""
        return self._column("energy")

    @property
    def magnetization(self) -> np.ndarray:
        """float64 ``(n,)`` signed magnetization per spin."""
        return self._column("magnetization")

    @property
    def chain(self) -> np.ndarray:
        """int64 ``(n,)`` Markov chain id of each configuration."""
        return self._column("chain")

    @property
    def index(self) -> np.ndarray:
        """int64 ``(n,)`` row of each configuration in the file."""
        return self._column("index")

    @property
    def x(self) -> np.ndarray:
        """float32 ``(n, L, L, 1)`` Bernoulli view ``(spins + 1) / 2`` (a new array)."""
        return to_bernoulli(self.spins)

    @property
    def temperatures(self) -> np.ndarray:
        """Sorted distinct temperatures in this view."""
        return np.unique(self.temperature)

    @property
    def chains(self) -> np.ndarray:
        """Sorted distinct chain ids in this view."""
        return np.unique(self.chain)

    def require_temperatures(self, purpose: str) -> IsingDataset:
        """This view, after checking that every row has a known temperature; files
        written by ``isingvae sample`` from an unconditional model have NaN there.
        ``purpose`` ends the message: ``"train on Monte Carlo data"``."""
        if self.n and np.isnan(self.temperature).any():
            raise InputError(f"{self.path} has configurations of unknown temperature (a "
                             f"file written by 'isingvae sample'?); {purpose}")
        return self

    def arrays(self, columns: Sequence[str] = ("spins", "temperature", "energy",
                                               "magnetization", "chain")) -> dict:
        """The named columns (any of :data:`COLUMNS`) as a dict of numpy arrays."""
        out = {}
        for name in columns:
            if name == "x":
                out[name] = self.x
            elif name in ("spins", "temperature", "energy", "magnetization", "chain", "index"):
                out[name] = self._column(name)
            elif name == "abs_magnetization":
                out[name] = np.abs(self.magnetization)
            else:
                raise InputError(f"unknown column {name!r}; choose from {', '.join(COLUMNS)}")
        return out

    # ---------------------------------------------------------------- selection
    def _absolute(self, mask: np.ndarray) -> np.ndarray:
        return self.index[mask]

    def select(
        self,
        temperature=None,
        *,
        t_min: float | None = None,
        t_max: float | None = None,
        split: str | None = None,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        split_seed: int = 0,
        chains=None,
    ) -> IsingDataset:
        """A view of the rows at the given temperature(s), in a range, in one split, and/or
        of the given Markov chains.

        ``temperature`` is one value or a list; each must match temperatures in the file
        to a relative 1e-9 (an absent one raises :class:`InputError` listing those
        present).  ``t_min``/``t_max`` keep ``t_min <= T <= t_max``.  ``split`` is one of
        :data:`SPLITS`, made by :meth:`split` with ``fractions`` and ``split_seed``
        (the split is of this view's chains, then the temperature filter applies; as
        chains are split per temperature the order does not matter).  ``chains``: chain
        ids (integers) whose rows to keep; each must occur in this view (else
        :class:`InputError`: a recorded id missing from the file means another file).
        """
        ds = self
        if split is not None:
            if split not in SPLITS:
                raise InputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
            k = SPLITS.index(split)
            fr = check_fractions(fractions)
            if fr[k] == 0:
                raise InputError(f"split {split!r} is empty: its fraction is 0 in {fractions}")
            ds = ds.split(fractions, seed=split_seed)[k]
        mask = np.ones(ds.n, dtype=bool)
        labels = []
        if temperature is not None:
            wanted = np.atleast_1d(np.asarray(temperature, dtype=np.float64))
            t = ds.temperature
            present = ds.temperatures
            hit = np.zeros(ds.n, dtype=bool)
            for w in wanted:
                m = np.isclose(t, w, rtol=_TEMPERATURE_RTOL, atol=0.0)
                if not m.any():
                    shown = ", ".join(f"{v:g}" for v in present[:12])
                    more = f" and {present.size - 12} more" if present.size > 12 else ""
                    raise InputError(f"temperature {w:g} is not in {self.path} (selection has "
                                     f"{shown}{more})")
                hit |= m
            mask &= hit
            labels.append("T=" + ",".join(f"{w:g}" for w in wanted))
        if t_min is not None:
            mask &= ds.temperature >= t_min
            labels.append(f"T>={t_min:g}")
        if t_max is not None:
            mask &= ds.temperature <= t_max
            labels.append(f"T<={t_max:g}")
        if chains is not None:
            mask &= ds._chain_mask(chains)
            labels.append(f"{np.size(chains)} chain(s)")
        if not labels:
            return ds
        return ds._view(ds._absolute(mask), " ".join(labels))

    def by_temperature(self) -> Iterator[tuple[float, IsingDataset]]:
        """Iterate over ``(T, view at T)`` in increasing temperature.

        >>> # for T, part in ds.by_temperature(): print(T, abs(part.magnetization).mean())
        """
        t = self.temperature
        for temp in self.temperatures:
            mask = np.isnan(t) if np.isnan(temp) else t == temp
            yield float(temp), self._view(self._absolute(mask), f"T={temp:g}")

    def split(self, fractions: Sequence[float] = DEFAULT_FRACTIONS,
              seed: int = 0) -> Splits[IsingDataset]:
        """Assign whole Markov chains to (train, validation, test) views.

        Chains are split separately at each temperature (a chain that appears at several
        temperatures is filed under its lowest), in proportions ``fractions`` (three
        numbers >= 0 summing to 1) rounded to whole chains, so that every temperature
        with at least as many chains as there are non-zero fractions (3 by default)
        appears in every split.  A temperature with fewer chains gives them out one
        each to train, then test, then validation, and is missing from the rest.
        Which chains go where depends only on ``seed``, the temperature and the chain
        ids of that temperature, so selecting temperatures first or last gives the same
        rows (the rule: :mod:`isingvae.data.splits`).  A split with a non-zero fraction
        that receives no chain at all raises :class:`InputError`; use
        :meth:`Splits.chain_counts` to see the allocation and :meth:`Splits.chain_ids`
        to record it.
        """
        ids, which = assign_chains(self.chain, self.temperature, fractions, seed,
                                   source=str(self.path))
        row_split = which[np.searchsorted(ids, self.chain)]
        idx = self.index
        return Splits(*(self._view(idx[row_split == k], f"{SPLITS[k]} split (seed {seed})")
                        for k in range(3)))

    def split_by_chains(self, train, validation, test) -> Splits[IsingDataset]:
        """The (train, validation, test) views of the rows of the given chain ids.

        The inverse of :meth:`Splits.chain_ids`: ``ds.split_by_chains(**parts.chain_ids())``
        gives the views of ``parts`` back, also on a wider view of the same file (all
        temperatures, say).  The three id lists must be disjoint and every id must occur
        in this view, else :class:`InputError`.
        """
        masks = [self._chain_mask(ids) for ids in (train, validation, test)]
        for a in range(3):
            for b in range(a + 1, 3):
                shared = self.chain[masks[a] & masks[b]]
                if shared.size:
                    raise InputError(f"chain {shared[0]} is in both the {SPLITS[a]} and the "
                                     f"{SPLITS[b]} chain ids")
        idx = self.index
        return Splits(*(self._view(idx[mask], f"{name} split (given chains)")
                        for name, mask in zip(SPLITS, masks, strict=True)))

    def _chain_mask(self, chains) -> np.ndarray:
        """Rows of the chain ids ``chains``, each of which must occur in this view."""
        wanted = np.asarray(chains)
        if wanted.ndim > 1 or (wanted.size and not np.issubdtype(wanted.dtype, np.integer)):
            raise InputError(f"chain ids must be a list of integers, got {chains!r:.80}")
        present = self.chains
        missing = np.setdiff1d(wanted, present)
        if missing.size:
            raise InputError(f"{missing.size} chain id(s), such as {missing[0]}, are not in "
                             f"{self.path} ({self._label or 'all rows'}); is it the file the "
                             f"ids were recorded from?")
        return np.isin(self.chain, wanted)

    # ---------------------------------------------------------------- tf.data
    # the functions of isingvae.data.tfdata, as methods (``ds`` is the view)
    to_tf = tfdata.to_tf
    epoch_batches = tfdata.epoch_batches
