"""The ``isingvae/ising2d`` HDF5 layout: schema, validation and crash-safe writing.

The layout (documented for users in ``data/README.md``) is one file per lattice size::

    /              attrs: format, format_version, L, J, h, seed, algorithm, package_version
    /spins         (N, L, L) int8 of +-1, chunked and compressed
    /temperature   (N,) float64
    /energy        (N,) float64   per spin
    /magnetization (N,) float64   per spin, signed
    /chain         (N,) int64     independent Markov chain id

Files are never modified in place: :func:`write_ising_file` writes a temporary file
beside the target and renames it over the target only when it is complete and
flushed, so a reader, or a process killed at any moment, sees either the old file or
the new one, never a torn one.

This module knows HDF5 and numpy only: no Monte Carlo, no Keras.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from isingvae._version import __version__
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
ROOT_ATTRS = ("format", "format_version", "L", "J", "h", "seed", "algorithm", "package_version")

#: configurations per HDF5 chunk of /spins (about 0.4 MB at L = 40)
CHUNK_CONFIGS = 256

__all__ = [
    "DATASETS",
    "FORMAT",
    "FORMAT_VERSION",
    "Header",
    "atomic_path",
    "open_ising_file",
    "read_header",
    "write_ising_file",
    "write_text_atomic",
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


def atomic_path(target: str | os.PathLike) -> tuple[Path, Path]:
    """A fresh temporary path in the target's directory, for write-then-rename.

    Raises :class:`InputError` when the directory does not exist or is not writable.
    """
    target = Path(target)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"cannot write {target}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise InputError(f"cannot write {target}: directory {directory} is not writable")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the permissions of a plain open()
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return target, Path(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Replace ``path`` by ``text`` through a temporary file and a rename, so that a
    reader (or a crash) never sees half a file."""
    target, tmp = atomic_path(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _encode_attr(value):
    """Numeric lists as arrays, other containers as JSON, anything else as it is."""
    if isinstance(value, Mapping | list | tuple):
        return np.asarray(value) if _is_numeric_sequence(value) else json.dumps(value)
    return value


def _is_numeric_sequence(value) -> bool:
    return isinstance(value, list | tuple) and all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        for v in value
    ) and len(value) > 0


def write_ising_file(
    path: str | os.PathLike,
    *,
    L: int,
    J: float,
    h: float,
    seed: int,
    algorithm: str,
    spins: np.ndarray,
    temperature: np.ndarray,
    energy: np.ndarray,
    magnetization: np.ndarray,
    chain: np.ndarray,
    attrs: Mapping | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    compression: str | None = "gzip",
) -> Path:
    """Write a whole configuration file atomically (temporary file, then rename).

    ``attrs`` adds root attributes (lists of numbers become arrays, other containers
    JSON strings); ``extra`` adds datasets of N rows (or any shape, under their name).
    ``compression`` is ``"gzip"`` (level 4, with byte shuffle), ``"lzf"`` or ``None``.
    The target is replaced only once the new file is complete and on disk.
    """
    spins = np.asarray(spins)
    n = spins.shape[0]
    if spins.dtype != np.int8 or spins.shape[1:] != (L, L):
        raise ValueError(f"spins must be int8 of shape (N, {L}, {L}), got {spins.dtype} "
                         f"{spins.shape}")
    if n and np.any(np.abs(spins) != 1):
        raise ValueError("spins must all be +1 or -1")
    columns = {"temperature": temperature, "energy": energy, "magnetization": magnetization,
               "chain": chain}
    for name, values in columns.items():
        if np.shape(values) != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {np.shape(values)}")
    target, tmp = atomic_path(path)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "L": int(L),
                            "J": float(J), "h": float(h), "seed": int(seed),
                            "algorithm": str(algorithm), "package_version": __version__})
            for key, value in (attrs or {}).items():
                f.attrs[key] = _encode_attr(value)
            comp = {"gzip": {"compression": "gzip", "compression_opts": 4, "shuffle": True},
                    "lzf": {"compression": "lzf", "shuffle": True}, None: {}}[compression]
            chunk = (max(1, min(n, CHUNK_CONFIGS)), L, L)
            f.create_dataset("spins", data=spins, chunks=chunk, maxshape=(None, L, L), **comp)
            for name, values in columns.items():
                dtype = DATASETS[name][0]
                f.create_dataset(name, data=np.asarray(values, dtype=dtype),
                                 chunks=(max(1, min(n, 16 * CHUNK_CONFIGS)),),
                                 maxshape=(None,), **comp)
            for name, values in (extra or {}).items():
                f.create_dataset(name, data=np.asarray(values))
            f.flush()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
