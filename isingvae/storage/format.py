"""The ``isingvae/ising2d`` HDF5 layout: schema constants, the header, validated reading.

The layout (documented for users in ``data/README.md``) is one file per lattice size::

    /              attrs: format, format_version, L, J, h, seed, algorithm, package_version
    /spins         (N, L, L) int8 of +-1, chunked and compressed
    /temperature   (N,) float64
    /energy        (N,) float64   per spin
    /magnetization (N,) float64   per spin, signed
    /chain         (N,) int64     independent Markov chain id

Every file is checked on opening (:func:`open_ising_file`): format name and version,
the root attributes, the dtype and rank of every dataset, equal row counts, and
``/spins`` of shape ``(N, L, L)``.  A file that fails names the problem in one line
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


def open_ising_file(path: str | os.PathLike) -> h5py.File:
    """Open a configuration file read-only after checking it is one of ours and whole.

    Raises :class:`~isingvae.errors.InputError` (one line, naming the file) for a
    missing path, a file that is not HDF5, a truncated or corrupt file, a foreign
    HDF5 file, or one whose datasets do not match the layout.
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


def read_header(path: str | os.PathLike) -> Header:
    """Validate a file and return its :class:`Header`."""
    with open_ising_file(path) as f:
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        return Header(
            path=Path(path), L=int(attrs["L"]), J=float(attrs["J"]), h=float(attrs["h"]),
            seed=int(attrs["seed"]), algorithm=str(attrs["algorithm"]),
            package_version=str(attrs["package_version"]), n=int(f["spins"].shape[0]),
            attrs=attrs,
        )
