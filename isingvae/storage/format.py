"""The ``isingvae/ising2d`` HDF5 layout: schema constants, the header, validated reading.

The layout (documented for users in ``data/README.md``) is one file per lattice size::

    /              attrs: format, format_version, L, J, h, seed, algorithm, package_version
    /spins         (N, L, L) int8 of +-1, chunked and compressed
    /temperature   (N,) float64
    /energy        (N,) float64   per spin
    /magnetization (N,) float64   per spin, signed
    /chain         (N,) int64     independent Markov chain id

Every file is checked on opening (:func:`open_ising_file`): format name and version,
the root attributes, the dtype and rank of every dataset, equal row counts,
``/spins`` of shape ``(N, L, L)``, and, for a file from ``isingvae generate``, its row
count against its recorded plan (:func:`planned_rows`): a file flagged ``complete``
must hold exactly that many rows, an unfinished one at most that many, so a ``complete``
flag is never trusted alone.  A file that fails names the problem in one line
(:class:`~isingvae.errors.InputError`); nothing trusts a file unchecked.  Writing is in
:mod:`isingvae.storage.writer`.

This module knows HDF5 and numpy only: no Monte Carlo, no Keras.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from isingvae.errors import InputError

FORMAT = "isingvae/ising2d"
FORMAT_VERSION = 1

#: name -> (dtype, number of dimensions) of the datasets every file has
DATASETS: dict[str, tuple[np.dtype, int]] = {
    "spins": (np.dtype(np.int8), 3),
    "temperature": (np.dtype(np.float64), 1),
    "energy": (np.dtype(np.float64), 1),
    "magnetization": (np.dtype(np.float64), 1),
    "chain": (np.dtype(np.int64), 1),
}
#: root attributes every file has
ROOT_ATTRS = ("format", "format_version", "L", "J", "h", "seed", "algorithm", "package_version")

__all__ = [
    "DATASETS",
    "FORMAT",
    "FORMAT_VERSION",
    "ROOT_ATTRS",
    "Header",
    "open_ising_file",
    "planned_rows",
    "read_header",
]


@dataclass(frozen=True)
class Header:
    """What a file's root attributes and dataset shapes say about it."""

    path: Path
    L: int
    J: float
    h: float
    seed: int
    algorithm: str
    package_version: str
    n: int
    attrs: dict = field(repr=False, default_factory=dict)


def _attr(value):
    """HDF5 attributes as plain Python values (bytes -> str, numpy scalars -> Python)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def planned_rows(attrs) -> int | None:
    """Rows the recorded plan of a generated file calls for (``samples_per_temperature``
    times the number of ``temperatures``), or ``None`` for a file that records no plan
    (no ``complete`` flag, as from ``isingvae sample``)."""
    if not all(k in attrs for k in ("complete", "samples_per_temperature", "temperatures")):
        return None
    try:
        return int(_attr(attrs["samples_per_temperature"])) * int(np.size(attrs["temperatures"]))
    except (TypeError, ValueError):
        return -1  # a plan that cannot be read matches no row count


def _check_rows(attrs, n: int, path: Path) -> None:
    expected = planned_rows(attrs)
    if expected is None:
        return
    if bool(_attr(attrs["complete"])):
        if n != expected:
            raise InputError(f"{path} is marked complete but holds {n} rows where its plan "
                             f"has {expected}; run the command that made it again")
    elif n > expected:
        raise InputError(f"{path} holds {n} rows, more than the {expected} of its plan")


def open_ising_file(path: str | os.PathLike, *, check_rows: bool = True) -> h5py.File:
    """Open a configuration file read-only after checking it is one of ours and whole.

    Raises :class:`~isingvae.errors.InputError` (one line, naming the file) for a
    missing path, a file that is not HDF5, a truncated or corrupt file, a foreign
    HDF5 file, one whose datasets do not match the layout, or (unless ``check_rows`` is
    false, as when ``isingvae generate`` decides whether to redo a file) one whose row
    count does not match its recorded plan (:func:`planned_rows`).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not an HDF5 file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        hint = "truncated or corrupt" if h5py.is_hdf5(path) else "not an HDF5 file"
        raise InputError(f"cannot read {path}: {hint} ({_short(exc)})") from None
    try:
        _check_layout(f, path)
        if check_rows:
            _check_rows(f.attrs, int(f["spins"].shape[0]), path)
    except InputError:
        f.close()
        raise
    except (OSError, KeyError, RuntimeError) as exc:
        f.close()
        raise InputError(f"cannot read {path}: truncated or corrupt ({_short(exc)})") from None
    return f


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def _check_layout(f: h5py.File, path: Path) -> None:
    fmt = _attr(f.attrs.get("format"))
    if fmt != FORMAT:
        raise InputError(
            f"{path} is not an isingvae configuration file (format attribute {fmt!r}, "
            f"expected {FORMAT!r})"
        )
    version = _attr(f.attrs.get("format_version"))
    if version != FORMAT_VERSION:
        raise InputError(f"{path} has format_version {version!r}; this isingvae reads "
                         f"version {FORMAT_VERSION}")
    missing = [a for a in ROOT_ATTRS if a not in f.attrs]
    if missing:
        raise InputError(f"{path} lacks root attribute(s) {', '.join(missing)}")
    L = int(_attr(f.attrs["L"]))
    n = None
    for name, (dtype, ndim) in DATASETS.items():
        if name not in f:
            raise InputError(f"{path} lacks the dataset /{name}")
        d = f[name]
        if not isinstance(d, h5py.Dataset) or d.ndim != ndim or d.dtype != dtype:
            raise InputError(f"{path}: /{name} should be {ndim}-d {dtype}, found "
                             f"{getattr(d, 'ndim', '?')}-d {getattr(d, 'dtype', '?')}")
        if n is None:
            n = d.shape[0]
        elif d.shape[0] != n:
            raise InputError(f"{path}: /{name} has {d.shape[0]} rows, /spins has {n}")
    if f["spins"].shape[1:] != (L, L):
        raise InputError(f"{path}: /spins has shape {f['spins'].shape}, expected (N, {L}, {L})")


def read_header(path: str | os.PathLike, *, check_rows: bool = True) -> Header:
    """Validate a file (:func:`open_ising_file`) and return its :class:`Header`."""
    with open_ising_file(path, check_rows=check_rows) as f:
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        return Header(
            path=Path(path), L=int(attrs["L"]), J=float(attrs["J"]), h=float(attrs["h"]),
            seed=int(attrs["seed"]), algorithm=str(attrs["algorithm"]),
            package_version=str(attrs["package_version"]), n=int(f["spins"].shape[0]),
            attrs=attrs,
        )
