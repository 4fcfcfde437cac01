"""Writing ``isingvae/ising2d`` files (layout in :mod:`isingvae.storage.format`).

Files are never modified in place: :func:`write_ising_file` checks the columns, builds
the whole file in memory (HDF5 on an :class:`io.BytesIO`) and hands the bytes to
:func:`isingvae._atomic.write_bytes`, the package's one atomic-write rule: a temporary
name beside the target, renamed over it only once complete and on disk.  A reader, or
a process killed at any moment, sees either the old file or the new one, never a torn
one.  HDF5 itself never touches the disk, so a full disk is refused before a byte is
written (one line, :class:`~isingvae.errors.InputError`) instead of an HDF5 error
cascade that can end the interpreter.

``/spins`` is stored in chunks of :data:`CHUNK_CONFIGS` configurations, gzip level 4
with byte shuffle by default: measured in ``data/README.md``, it writes 4.6 times slower
than no compression, still far faster than the Monte Carlo that feeds it, for files 10
times smaller (2.5 times smaller than lzf), and every HDF5 reader can open it.  Where a
configuration is large, a chunk holds fewer of them, so that no chunk of ``/spins``
exceeds :data:`CHUNK_BYTES` (HDF5 refuses chunks of 4 GiB or more); beyond that size a
chunk is a band of rows of one configuration.  Chunking changes how the bytes are laid
out, never the values read back.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from isingvae._atomic import check_writable, write_bytes
from isingvae._version import __version__
from isingvae.storage.format import DATASETS, FORMAT, FORMAT_VERSION

#: configurations per HDF5 chunk of /spins (about 0.4 MB at L = 40)
CHUNK_CONFIGS = 256
#: most bytes in one chunk of /spins (CHUNK_CONFIGS configurations up to L = 128)
CHUNK_BYTES = 4 * 2**20
#: gzip level of every compressed dataset
_GZIP_LEVEL = 4

__all__ = ["CHUNK_BYTES", "CHUNK_CONFIGS", "spins_chunk", "write_ising_file"]


def spins_chunk(n: int, L: int) -> tuple[int, int, int]:
    """Chunk shape of ``/spins`` for ``n`` configurations of ``L x L``: up to
    :data:`CHUNK_CONFIGS` whole configurations and at most :data:`CHUNK_BYTES`.

    >>> spins_chunk(10_000, 40), spins_chunk(10_000, 256), spins_chunk(3, 4096)
    ((256, 40, 40), (64, 256, 256), (1, 1024, 4096))
    """
    per_config = L * L
    if per_config <= CHUNK_BYTES:
        return (max(1, min(n, CHUNK_CONFIGS, CHUNK_BYTES // per_config)), L, L)
    return (1, max(1, min(L, CHUNK_BYTES // L)), L)


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


def _plus_minus_one(block: np.ndarray) -> bool:
    """Whether every int8 value of ``block`` is +1 or -1: bytes 0x01 and 0xFF, the two
    whose successor has no bit but 0x02 (two passes over the bytes, no boolean copies)."""
    b = block.view(np.uint8)
    return not np.any((b + np.uint8(1)) & np.uint8(0xFD))


def _write_spins(dset, spins: np.ndarray, per_chunk: int, threads: int) -> None:
    """Fill the gzip-compressed dataset ``dset`` with ``spins``, chunk by chunk, the
    chunks compressed by ``threads`` threads (``zlib`` lets go of the GIL) and written
    as they are (``write_direct_chunk``).

    What HDF5's own filters would store: byte shuffle does nothing to 1-byte values, and
    its deflate filter writes a zlib stream at the level asked for (4).  A partial last
    chunk is stored whole, as HDF5 stores one, its tail zero.
    """
    n = len(spins)
    starts = range(0, n, per_chunk)

    def compress(start):
        block = spins[start:start + per_chunk]
        if not _plus_minus_one(block):
            raise ValueError("spins must all be +1 or -1")
        if len(block) < per_chunk:
            block = np.concatenate([block, np.zeros((per_chunk - len(block),
                                                     *spins.shape[1:]), np.int8)])
        return zlib.compress(np.ascontiguousarray(block).tobytes(), _GZIP_LEVEL)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for start, data in zip(starts, pool.map(compress, starts), strict=True):
            dset.id.write_direct_chunk((start, 0, 0), data)


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
    threads: int = 1,
) -> Path:
    """Write a whole configuration file atomically (module docstring).

    ``attrs`` adds root attributes (lists of numbers become arrays, other containers
    JSON strings); ``extra`` adds datasets of N rows (or any shape, under their name).
    ``compression`` is ``"gzip"`` (level 4, with byte shuffle), ``"lzf"`` or ``None``.
    With ``threads > 1`` the gzip chunks of ``/spins`` are compressed by that many
    threads (:func:`_write_spins`); the values, the layout and the filters are the same.
    The target is replaced only once the new file is complete and on disk; a disk
    without room for it raises :class:`~isingvae.errors.InputError` and leaves the
    target as it was.
    """
    check_writable(path)  # a missing or read-only directory fails before any work
    spins = np.asarray(spins)
    n = spins.shape[0]
    if spins.dtype != np.int8 or spins.shape[1:] != (L, L):
        raise ValueError(f"spins must be int8 of shape (N, {L}, {L}), got {spins.dtype} "
                         f"{spins.shape}")
    chunks = spins_chunk(n, L)
    threaded = compression == "gzip" and threads > 1 and n > chunks[0] and chunks[1] == L
    if not threaded:  # (the threads check their chunks as they compress them)
        step = max(1, 2**24 // max(1, L * L))  # checked in blocks: no copy of every spin
        if not all(_plus_minus_one(spins[i:i + step]) for i in range(0, n, step)):
            raise ValueError("spins must all be +1 or -1")
    columns = {"temperature": temperature, "energy": energy, "magnetization": magnetization,
               "chain": chain}
    for name, values in columns.items():
        if np.shape(values) != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {np.shape(values)}")
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "L": int(L),
                        "J": float(J), "h": float(h), "seed": int(seed),
                        "algorithm": str(algorithm), "package_version": __version__})
        for key, value in (attrs or {}).items():
            f.attrs[key] = _encode_attr(value)
        comp = {"gzip": {"compression": "gzip", "compression_opts": _GZIP_LEVEL,
                         "shuffle": True},
                "lzf": {"compression": "lzf", "shuffle": True}, None: {}}[compression]
        if threaded:
            _write_spins(f.create_dataset("spins", shape=spins.shape, dtype=np.int8,
                                          chunks=chunks, maxshape=(None, L, L), **comp),
                         spins, chunks[0], threads)
        else:
            f.create_dataset("spins", data=spins, chunks=chunks, maxshape=(None, L, L),
                             **comp)
        for name, values in columns.items():
            dtype = DATASETS[name][0]
            f.create_dataset(name, data=np.asarray(values, dtype=dtype),
                             chunks=(max(1, min(n, 16 * CHUNK_CONFIGS)),),
                             maxshape=(None,), **comp)
        for name, values in (extra or {}).items():
            f.create_dataset(name, data=np.asarray(values))
    data = image.getbuffer()
    try:
        return write_bytes(path, data)
    finally:
        data.release()
