"""Reading configuration files: numpy arrays, splits by chain, symmetry augmentation, tf.data.

A file in the ``isingvae/ising2d`` layout (``data/README.md``) holds ``N`` spin
configurations of one ``L x L`` torus with their temperature, energy and magnetization
per spin and the id of the Markov chain each came from.  :class:`IsingDataset` opens
one, checks it, and serves its columns as numpy arrays (read on first use, then kept in
memory) or as a :mod:`tf.data` pipeline for Keras.

Selections return views that share the loaded arrays:

- :meth:`IsingDataset.select` by temperature (exact value to a relative 1e-9, a list of
  values, or a range) and by split;
- :meth:`IsingDataset.split` assigns whole Markov chains to training, validation and
  test sets, separately at each temperature, so that correlated configurations of one
  chain never end up on both sides of a split.

The symmetry group of the periodic square lattice with zero field, ``Z2 x (T x D4)``
(global spin flip, the ``L^2`` translations and the 8 rotations and reflections of the
square), leaves the energy unchanged; :func:`augment` draws an independent random element
for every configuration.  Only the spin flip changes the magnetization (its sign).

Conventions: spins are ``int8`` of +-1 with shape ``(N, L, L)``; Keras models see the
Bernoulli view ``x = (s + 1) / 2`` of shape ``(N, L, L, 1)`` (:func:`to_bernoulli`).

Example, on a small file made on the spot:

>>> import tempfile, pathlib
>>> from isingvae.storage import write_ising_file
>>> from isingvae import lattice
>>> rng = np.random.default_rng(0)
>>> s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(12, 4, 4))
>>> folder = tempfile.TemporaryDirectory()
>>> path = write_ising_file(
...     pathlib.Path(folder.name) / "toy.h5", L=4, J=1.0, h=0.0, seed=0,
...     algorithm="metropolis", spins=s, temperature=np.repeat([2.0, 3.0], 6),
...     energy=lattice.energy(s), magnetization=lattice.magnetization(s),
...     chain=np.repeat(np.arange(6), 2))
>>> ds = IsingDataset(path)
>>> ds.L, ds.n, ds.temperatures.tolist()
(4, 12, [2.0, 3.0])
>>> ds.select(temperature=3.0).spins.shape
(6, 4, 4)
>>> parts = ds.split(seed=0)
>>> [p.n for p in parts]
[4, 4, 4]
>>> folder.cleanup()
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.storage import Header, open_ising_file, read_header

__all__ = [
    "COLUMNS",
    "D4_ELEMENTS",
    "SPLITS",
    "IsingDataset",
    "Splits",
    "apply_symmetry",
    "augment",
    "to_bernoulli",
    "to_spins",
]

#: names of the three splits, in the order :meth:`IsingDataset.split` returns them
SPLITS = ("train", "validation", "test")

#: the D4 elements in the numbering used by :func:`apply_symmetry`: element ``e`` first
#: transposes the lattice when ``e >= 4``, then rotates it counter-clockwise by
#: ``90 * (e % 4)`` degrees (the convention of :func:`numpy.rot90` on axes (-2, -1))
D4_ELEMENTS = (
    "identity", "rotate 90", "rotate 180", "rotate 270",
    "transpose", "transpose, rotate 90", "transpose, rotate 180", "transpose, rotate 270",
)

#: columns that :meth:`IsingDataset.to_tf` can yield, with their dtype and shape per row
COLUMNS = {
    "x": ("float32", "(L, L, 1), values 0 or 1"),
    "spins": ("int8", "(L, L), values -1 or +1"),
    "temperature": ("float32", "()"),
    "energy": ("float32", "(), per spin"),
    "magnetization": ("float32", "(), per spin, signed"),
    "abs_magnetization": ("float32", "(), per spin"),
    "chain": ("int64", "()"),
    "index": ("int64", "(), row in the file"),
}

_DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
_TEMPERATURE_RTOL = 1e-9
#: order in which a temperature with too few chains hands them out (train, test, validation)
_SCARCE_ORDER = (0, 2, 1)


# --------------------------------------------------------------------------------------
# spins <-> Bernoulli variables, observables


def to_bernoulli(spins) -> np.ndarray:
    """The Bernoulli view ``x = (s + 1) / 2`` as float32 with a trailing channel axis.

    ``(N, L, L)`` spins of +-1 become ``(N, L, L, 1)`` values in {0, 1}, the input a
    Keras model with a Bernoulli decoder expects.  A single ``(L, L)`` configuration
    becomes ``(L, L, 1)``.

    >>> to_bernoulli(np.array([[1, -1], [-1, 1]], dtype=np.int8))[..., 0]
    array([[1., 0.],
           [0., 1.]], dtype=float32)
    """
    s = np.asarray(spins)
    x = (s.astype(np.float32) + 1.0) * 0.5
    return x[..., np.newaxis]


def to_spins(x, threshold: float = 0.5) -> np.ndarray:
    """Back from Bernoulli variables (or probabilities) to int8 spins of +-1.

    A trailing channel axis of size 1 is dropped; values above ``threshold`` become +1,
    the others -1.  ``to_spins(to_bernoulli(s))`` returns ``s``.

    >>> to_spins(np.array([[[0.0], [1.0]], [[0.9], [0.2]]]))
    array([[-1,  1],
           [ 1, -1]], dtype=int8)
    """
    x = np.asarray(x)
    if x.ndim >= 3 and x.shape[-1] == 1:
        x = x[..., 0]
    return np.where(x > threshold, np.int8(1), np.int8(-1)).astype(np.int8)


# --------------------------------------------------------------------------------------
# lattice symmetries


def _d4(spins: np.ndarray, element: int) -> np.ndarray:
    """One D4 element (numbering of :data:`D4_ELEMENTS`) on the last two axes."""
    if element >= 4:
        spins = np.swapaxes(spins, -1, -2)
    return np.rot90(spins, element % 4, axes=(-2, -1))


def _d4_table(L: int) -> np.ndarray:
    """Row ``e`` holds, for each output site (row-major), the input site D4 element ``e`` reads."""
    sites = np.arange(L * L, dtype=np.int32).reshape(L, L)
    return np.stack([_d4(sites, e).reshape(-1) for e in range(8)])


def apply_symmetry(spins, d4=0, shift=(0, 0), flip=False) -> np.ndarray:
    """Apply lattice symmetries: a D4 element, then a periodic translation, then a spin flip.

    ``spins`` has shape ``(N, L, L)`` (or ``(L, L)``).  ``d4`` (element numbers of
    :data:`D4_ELEMENTS`), ``shift`` (``(dy, dx)``, rolling rows down by ``dy`` and columns
    right by ``dx``, as :func:`numpy.roll`) and ``flip`` (bool) are either one value for
    all configurations or one per configuration (shapes ``(N,)``, ``(N, 2)``, ``(N,)``).
    Returns a new array of the input dtype.

    >>> s = np.array([[1, 1], [-1, 1]], dtype=np.int8)
    >>> apply_symmetry(s, d4=1)                       # rotate by 90 degrees
    array([[ 1,  1],
           [ 1, -1]], dtype=int8)
    >>> apply_symmetry(s, shift=(1, 0), flip=True)    # roll one row down, flip
    array([[ 1, -1],
           [-1, -1]], dtype=int8)
    """
    s = np.asarray(spins)
    single = s.ndim == 2
    if single:
        s = s[np.newaxis]
    if s.ndim != 3 or s.shape[1] != s.shape[2]:
        raise ValueError(f"spins must have shape (N, L, L) or (L, L), got {np.shape(spins)}")
    n, L = s.shape[0], s.shape[1]
    d4 = np.broadcast_to(np.asarray(d4, dtype=np.int64), (n,))
    if d4.size and (d4.min() < 0 or d4.max() > 7):
        raise ValueError("d4 elements are numbered 0 to 7")
    shift = np.broadcast_to(np.asarray(shift, dtype=np.int64), (n, 2))
    flip = np.broadcast_to(np.asarray(flip, dtype=bool), (n,))

    out = np.empty_like(s)
    for e in np.unique(d4):
        rows = d4 == e
        out[rows] = _d4(s[rows], int(e))
    if np.any(shift % L):
        r = (np.arange(L) - shift[:, :1]) % L          # (n, L): source row of each row
        c = (np.arange(L) - shift[:, 1:]) % L          # (n, L): source column
        out = out[np.arange(n)[:, None, None], r[:, :, None], c[:, None, :]]
    if np.any(flip):
        out[flip] = -out[flip]
    return out[0] if single else out


def augment(spins, rng=None, flip: bool = True, symmetries: bool = True):
    """Transform every configuration by an independent random symmetry of the torus.

    For each configuration one element of ``Z2 x T x D4`` is drawn uniformly: a global
    spin flip with probability 1/2 (when ``flip``), and (when ``symmetries``) one of the
    ``L^2`` periodic translations and one of the 8 rotations and reflections of the
    square.  Energies (at ``h = 0``) and ``|m|`` are unchanged; the magnetization of
    configuration ``i`` becomes ``sign[i] * m[i]``.

    ``rng`` is a :class:`numpy.random.Generator`, or a seed for one; the same seed gives
    the same transformations.  Returns ``(new_spins, sign)`` with ``sign`` an int8 array
    of +-1, one per configuration (a scalar for a single ``(L, L)`` input).

    >>> from isingvae import lattice
    >>> rng = np.random.default_rng(0)
    >>> s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(5, 8, 8))
    >>> t, sign = augment(s, rng)
    >>> bool(np.allclose(lattice.energy(t), lattice.energy(s)))
    True
    >>> bool(np.allclose(lattice.magnetization(t), sign * lattice.magnetization(s)))
    True
    """
    rng = np.random.default_rng(rng)
    s = np.asarray(spins)
    single = s.ndim == 2
    if single:
        s = s[np.newaxis]
    if s.ndim != 3 or s.shape[1] != s.shape[2]:
        raise ValueError(f"spins must have shape (N, L, L) or (L, L), got {np.shape(spins)}")
    n, L = s.shape[0], s.shape[1]
    flips = rng.integers(0, 2, size=n).astype(bool) if flip else np.zeros(n, dtype=bool)
    if symmetries:
        d4 = rng.integers(0, 8, size=n)
        shift = rng.integers(0, L, size=(n, 2))
    else:
        d4, shift = 0, (0, 0)
    out = apply_symmetry(s, d4=d4, shift=shift, flip=flips)
    sign = np.where(flips, np.int8(-1), np.int8(1)).astype(np.int8)
    return (out[0], sign[0]) if single else (out, sign)


# --------------------------------------------------------------------------------------
# the dataset


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


class Splits(NamedTuple):
    """Training, validation and test views of a dataset, split by Markov chain."""

    train: IsingDataset
    validation: IsingDataset
    test: IsingDataset

    def chain_counts(self) -> dict[float, tuple[int, int, int]]:
        """Number of chains per temperature in (train, validation, test).

        A chain seen at several temperatures counts at each of them.
        """
        counts: dict[float, list[int]] = {}
        for k, part in enumerate(self):
            t, c = part.temperature, part.chain
            for temp in np.unique(t):
                counts.setdefault(float(temp), [0, 0, 0])[k] = np.unique(c[t == temp]).size
        return {t: tuple(v) for t, v in sorted(counts.items())}


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
        fractions: Sequence[float] = _DEFAULT_FRACTIONS,
        split_seed: int = 0,
    ) -> IsingDataset:
        """A view of the rows at the given temperature(s), in a range, and/or in one split.

        ``temperature`` is one value or a list; each must match temperatures in the file
        to a relative 1e-9 (an absent one raises :class:`InputError` listing those
        present).  ``t_min``/``t_max`` keep ``t_min <= T <= t_max``.  ``split`` is one of
        :data:`SPLITS`, made by :meth:`split` with ``fractions`` and ``split_seed``
        (the split is of this view's chains, then the temperature filter applies; as
        chains are split per temperature the order does not matter).
        """
        ds = self
        if split is not None:
            if split not in SPLITS:
                raise InputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
            k = SPLITS.index(split)
            fr = _check_fractions(fractions)
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

    def split(self, fractions: Sequence[float] = _DEFAULT_FRACTIONS, seed: int = 0) -> Splits:
        """Assign whole Markov chains to (train, validation, test) views.

        Chains are split separately at each temperature (a chain that appears at several
        temperatures is filed under its lowest), in proportions ``fractions`` (three
        numbers >= 0 summing to 1) rounded to whole chains, so that every temperature
        with at least as many chains as there are non-zero fractions (3 by default)
        appears in every split.  A temperature with fewer chains gives them out one
        each to train, then test, then validation, and is missing from the rest.
        Which chains go where depends only on ``seed``, the temperature and the chain
        ids of that temperature, so selecting temperatures first or last gives the same
        rows.  A split with a non-zero fraction that receives no chain at all raises
        :class:`InputError`; use :meth:`Splits.chain_counts` to see the allocation.
        """
        fr = _check_fractions(fractions)
        seed = _v.seed(seed)
        chain, temp = self.chain, self.temperature
        temp = np.where(np.isnan(temp), -1.0, temp)       # unknown temperatures: one stratum
        ids, inverse = np.unique(chain, return_inverse=True)
        chain_t = np.full(ids.size, np.inf)
        np.minimum.at(chain_t, inverse, temp)
        which = np.empty(ids.size, dtype=np.int8)         # split of each chain
        for stratum in np.unique(chain_t):
            members = np.flatnonzero(chain_t == stratum)  # sorted by chain id
            counts = _allocate(members.size, fr)
            rng = np.random.default_rng([seed, *_float_words(stratum)])
            order = members[rng.permutation(members.size)]
            which[order] = np.repeat(np.arange(3, dtype=np.int8), counts)
        row_split = which[inverse]
        for k, name in enumerate(SPLITS):
            if fr[k] > 0 and not np.any(which == k):
                per_t = np.unique(chain_t, return_counts=True)[1] if ids.size else np.array([0])
                raise InputError(
                    f"the {name} split of {self.path} would be empty: {ids.size} chain(s) at "
                    f"{per_t.size} temperature(s), {per_t.min()} to {per_t.max()} per "
                    f"temperature, are too few for fractions {tuple(fractions)}; make more "
                    f"chains per temperature or set the {name} fraction to 0")
        idx = self.index
        return Splits(*(self._view(idx[row_split == k], f"{SPLITS[k]} split (seed {seed})")
                        for k in range(3)))

    # ---------------------------------------------------------------- tf.data
    def _check_flip(self, flip: bool) -> None:
        """Refuse spin-flip augmentation of data made in a field (where it is no symmetry)."""
        if flip and self.h != 0:
            raise InputError(f"{self.path} was made at field h = {self.h:g}, where the spin "
                             f"flip is not a symmetry; augment with flip=False")

    def to_tf(
        self,
        split: str | None = None,
        *,
        batch_size: int = 128,
        shuffle: bool = True,
        seed: int = 0,
        augment: bool = False,
        flip: bool = True,
        symmetries: bool = True,
        repeat: bool = False,
        columns: str | Sequence[str] = "x",
        targets: str | Sequence[str] | None = None,
        drop_remainder: bool = False,
        fractions: Sequence[float] = _DEFAULT_FRACTIONS,
        split_seed: int = 0,
    ):
        """A :class:`tf.data.Dataset` of batches for Keras ``model.fit``.

        Each element is ``features`` or, when ``targets`` is given, ``(features,
        targets)``; each of these is a bare tensor when given as one name, or a dict
        ``{name: batch}`` when given as a sequence of names.  The default yields batches
        of ``x`` alone, what a VAE with its own ``train_step`` (or any single-input model
        trained by ``add_loss``) takes; ``columns="x", targets="x"`` yields ``(x, x)``
        for a plain autoencoder; ``columns=("x", "temperature")`` yields dicts for a
        model whose inputs are named so (a functional model built as
        ``keras.Model({"x": ..., "temperature": ...}, ...)``).  Column names, dtypes and
        shapes are in :data:`COLUMNS`.

        ``split`` picks one of :data:`SPLITS` (made by :meth:`split` with ``fractions``
        and ``split_seed``; ``None`` takes every row of this view).  ``shuffle`` shuffles
        the rows anew in each pass over the data; ``repeat`` makes the dataset endless
        (then give ``steps_per_epoch`` to ``fit``).  ``augment`` applies a random
        symmetry to each configuration, drawn afresh each pass: spin flip (``flip``)
        and translations with rotations and reflections (``symmetries``), as in
        :func:`augment`; a yielded ``magnetization`` follows the flip.  The spin flip is
        a symmetry only at zero field: on a file with ``h != 0`` pass ``flip=False``
        (else :class:`InputError`).  Shuffling and
        augmentation are deterministic for a given ``seed`` (and TensorFlow global seed,
        if one is set).  TensorFlow is imported here, not when this module is.
        """
        import tensorflow as tf

        ds = self.select(split=split, fractions=fractions, split_seed=split_seed) \
            if split is not None else self
        if ds.n == 0:
            raise InputError(f"no configurations to serve from {self.path}: the selection "
                             f"{ds._label or '(all rows)'} is empty")
        if int(batch_size) < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
        feature_names, feature_single = _column_list(columns, "columns")
        target_names, target_single = ((), False) if targets is None else \
            _column_list(targets, "targets")
        seed = _v.seed(seed)
        self._check_flip(augment and flip)
        L = ds.L
        names = set(feature_names) | set(target_names)

        consts = {}
        if names & {"x", "spins"}:
            consts["spins"] = tf.constant(ds.spins)
        for name in ("temperature", "energy", "magnetization", "chain", "index"):
            if name in names:
                consts[name] = tf.constant(ds._column(name))
        if "abs_magnetization" in names:
            consts["abs_magnetization"] = tf.constant(np.abs(ds.magnetization))
        do_sym = bool(augment and symmetries)
        do_flip = bool(augment and flip)
        transform = _symmetry_transform(L, flip=do_flip, symmetries=do_sym)

        def make(idx, key=None):
            cols = {}
            sign = None
            if "spins" in consts:
                s = tf.gather(consts["spins"], idx)
                if key is not None:
                    s, sign = transform(s, key)
                cols["spins"] = s
                cols["x"] = tf.expand_dims((tf.cast(s, tf.float32) + 1.0) * 0.5, -1)
            for name in ("temperature", "energy", "magnetization", "abs_magnetization"):
                if name in consts:
                    v = tf.cast(tf.gather(consts[name], idx), tf.float32)
                    if name == "magnetization" and sign is not None:
                        v = v * tf.cast(sign, tf.float32)
                    cols[name] = v
            for name in ("chain", "index"):
                if name in consts:
                    cols[name] = tf.gather(consts[name], idx)
            feats = cols[feature_names[0]] if feature_single else \
                {k: cols[k] for k in feature_names}
            if not target_names:
                return feats
            targs = cols[target_names[0]] if target_single else \
                {k: cols[k] for k in target_names}
            return feats, targs

        rows = tf.data.Dataset.range(ds.n)
        if shuffle:
            rows = rows.shuffle(ds.n, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            rows = rows.repeat()
        rows = rows.batch(int(batch_size), drop_remainder=drop_remainder)
        if augment and "spins" in consts and (do_flip or do_sym):
            keys = tf.data.Dataset.random(seed=seed + 1_000_003,
                                          rerandomize_each_iteration=True).batch(2)
            out = tf.data.Dataset.zip(rows, keys).map(make, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            out = rows.map(make, num_parallel_calls=tf.data.AUTOTUNE)
        return out.prefetch(tf.data.AUTOTUNE)


    def epoch_batches(
        self,
        *,
        batch_size: int,
        epochs: int,
        start_epoch: int = 0,
        seed: int = 0,
        augment: bool = True,
        flip: bool = True,
        symmetries: bool = True,
        labels: np.ndarray | None = None,
    ):
        """Training batches of ``x`` for epochs ``start_epoch .. epochs - 1``, reproducibly.

        Returns ``(dataset, steps_per_epoch)``.  Epoch ``e`` visits a fresh random
        permutation of the rows in ``steps_per_epoch = n // batch_size`` full batches
        (the last partial batch is dropped, so every batch splits evenly across
        replicas), each configuration transformed by an independent random symmetry
        when ``augment`` is set (as in :meth:`to_tf`).  Order and augmentation are pure
        functions of ``(seed, e, batch)``, so an interrupted run that starts again at
        ``start_epoch`` sees exactly the batches it would have seen; pass the dataset
        to ``model.fit`` with ``steps_per_epoch`` and ``initial_epoch=start_epoch``.

        ``labels``: an optional float array with one row per configuration (``(n,)`` or
        ``(n, k)``, for example the temperature and a label mask); the dataset then
        yields ``(x, labels)`` pairs, the labels gathered with the same permutation.
        Labels such as temperature and phase are invariant under the lattice symmetries
        and the spin flip, so augmentation leaves them alone; the batches of ``x`` are
        bit for bit those yielded without labels.
        """
        import tensorflow as tf

        seed = _v.seed(seed)
        if labels is not None:
            labels = np.asarray(labels, dtype=np.float32)
            if labels.ndim not in (1, 2) or labels.shape[0] != self.n:
                raise InputError(f"labels must have one row per configuration ({self.n}), "
                                 f"got shape {labels.shape}")
        batch_size = _v.count("batch size", batch_size)
        steps = self.n // batch_size
        if steps == 0:
            raise InputError(f"{self._label or 'the selection'} of {self.path} has {self.n} "
                             f"configuration(s), fewer than one batch of {batch_size}; "
                             f"lower the batch size or use more data")
        self._check_flip(augment and flip)
        if not 0 <= int(start_epoch) < int(epochs):
            raise InputError(f"start epoch {start_epoch} must lie in [0, {epochs})")
        spins = tf.constant(self.spins)
        n = self.n
        transform = _symmetry_transform(self.L, flip=bool(augment and flip),
                                        symmetries=bool(augment and symmetries))
        root = tf.constant([seed, 0x15196], tf.int64)

        def one_epoch(e):
            key = tf.random.experimental.stateless_fold_in(root, e)
            order = tf.argsort(tf.random.stateless_uniform([n], key))
            idx = tf.reshape(order[: steps * batch_size], [steps, batch_size])
            return tf.data.Dataset.from_tensor_slices(
                (tf.fill([steps], e), tf.range(steps, dtype=tf.int64), idx))

        label_table = None if labels is None else tf.constant(labels)

        def make(e, i, idx):
            s = tf.gather(spins, idx)
            if augment:
                key = tf.random.experimental.stateless_fold_in(
                    tf.random.experimental.stateless_fold_in(root + 1, e), i)
                s, _ = transform(s, key)
            x = tf.expand_dims((tf.cast(s, tf.float32) + 1.0) * 0.5, -1)
            if label_table is None:
                return x
            return x, tf.gather(label_table, idx)

        epochs_ds = tf.data.Dataset.range(int(start_epoch), int(epochs))
        out = epochs_ds.flat_map(one_epoch).map(make, num_parallel_calls=tf.data.AUTOTUNE,
                                                 deterministic=True)
        return out.prefetch(tf.data.AUTOTUNE), steps


# --------------------------------------------------------------------------------------
# helpers


def _symmetry_transform(L: int, *, flip: bool, symmetries: bool):
    """A TensorFlow function ``(s, key) -> (s', sign)`` applying to each row of an int8
    ``(B, L, L)`` batch an independent random element of ``Z2 x (T x D4)`` (spin flip if
    ``flip``, translation and rotation/reflection if ``symmetries``), drawn statelessly
    from the seed pair ``key``; ``sign`` is the spin flip applied to each row."""
    import tensorflow as tf

    table = tf.constant(_d4_table(L))
    site_i = tf.constant(np.repeat(np.arange(L, dtype=np.int32), L))
    site_j = tf.constant(np.tile(np.arange(L, dtype=np.int32), L))

    def transform(s, key):
        b = tf.shape(s)[0]
        keys = tf.random.experimental.stateless_split(key, 4)
        sign = tf.ones([b], tf.int8)
        if flip:
            coin = tf.random.stateless_uniform([b], keys[0], 0, 2, dtype=tf.int32)
            sign = tf.cast(1 - 2 * coin, tf.int8)
        if symmetries:
            g = tf.random.stateless_uniform([b], keys[1], 0, 8, dtype=tf.int32)
            dy = tf.random.stateless_uniform([b, 1], keys[2], 0, L, dtype=tf.int32)
            dx = tf.random.stateless_uniform([b, 1], keys[3], 0, L, dtype=tf.int32)
            q = tf.math.floormod(site_i - dy, L) * L + tf.math.floormod(site_j - dx, L)
            src = tf.gather(tf.gather(table, g), q, batch_dims=1)
            flat = tf.gather(tf.reshape(s, [b, L * L]), src, batch_dims=1)
            s = tf.reshape(flat, [b, L, L])
        return s * sign[:, None, None], sign

    return transform


def _check_fractions(fractions) -> np.ndarray:
    try:
        fr = np.asarray(fractions, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"fractions must be three numbers, got {fractions!r}") from None
    if fr.shape != (3,) or not np.all(np.isfinite(fr)) or np.any(fr < 0):
        raise InputError(f"fractions must be three numbers >= 0 (train, validation, test), "
                         f"got {fractions!r}")
    if abs(fr.sum() - 1.0) > 1e-6:
        raise InputError(f"fractions must sum to 1, got {fractions!r} (sum {fr.sum():g})")
    return fr


def _float_words(value: float) -> tuple[int, int]:
    """The 64 bits of a float64 as two 32-bit words (seed material)."""
    bits = int(np.float64(value).view(np.uint64))
    return bits >> 32, bits & 0xFFFFFFFF


def _allocate(count: int, fr: np.ndarray) -> np.ndarray:
    """Whole numbers of chains per split, summing to ``count``.

    Largest remainders of ``fr * count``; then every split with a non-zero fraction gets
    at least one chain, taken from the largest, while there are enough chains.  With
    fewer chains than such splits they go one each to train, test, validation.
    """
    active = [k for k in range(3) if fr[k] > 0]
    out = np.zeros(3, dtype=np.int64)
    if count < len(active):
        for k in [k for k in _SCARCE_ORDER if k in active][:count]:
            out[k] = 1
        return out
    target = fr * count
    out[:] = np.floor(target + 1e-9)
    rest = count - int(out.sum())
    for k in np.argsort(-(target - out), kind="stable")[:rest]:
        out[k] += 1
    for k in active:
        if out[k] == 0:
            out[int(np.argmax(out))] -= 1
            out[k] = 1
    return out


def _column_list(spec, what: str) -> tuple[tuple[str, ...], bool]:
    single = isinstance(spec, str)
    names = (spec,) if single else tuple(spec)
    if not names:
        raise InputError(f"{what} must name at least one column")
    for name in names:
        if name not in COLUMNS:
            raise InputError(f"unknown column {name!r} in {what}; choose from "
                             f"{', '.join(COLUMNS)}")
    return names, single

