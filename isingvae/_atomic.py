"""The one way this package writes a file: a temporary file beside the target, flushed to
disk, then renamed over it.

A reader, or a process killed at any moment, therefore sees either the old file or the
new one, never a torn one.  Every writer in the package (HDF5 configuration files,
generation shards and plans, run directories, reports, figures) goes through
:func:`atomic_file`; there is no second rule.

A full disk is an input problem, not a crash: a write that fails for lack of space
(``ENOSPC``, ``EDQUOT``) raises :class:`~isingvae.errors.InputError` naming the target and
the free space, the temporary file is removed and the target is left as it was.  Where
the size is known in advance, :func:`require_space` refuses before anything is written,
and :func:`write_bytes` (the way HDF5 files are written: built in memory, then written
with plain file I/O, so that HDF5 itself never meets a full disk) does so on its own.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_text(folder / "note.txt", "hello\\n").read_text()
'hello\\n'
>>> with atomic_file(folder / "data.bin") as tmp:
...     _ = tmp.write_bytes(b"\\x00\\x01")
>>> (folder / "data.bin").read_bytes(), sorted(p.name for p in folder.iterdir())
(b'\\x00\\x01', ['data.bin', 'note.txt'])
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from isingvae.errors import InputError

__all__ = ["atomic_file", "atomic_path", "check_writable", "free_bytes", "require_space",
           "write_bytes", "write_json", "write_text"]


def check_writable(target: str | os.PathLike) -> Path:
    """``target`` as a Path, after checking that its directory exists and is writable
    (:class:`InputError` naming the directory otherwise)."""
    target = Path(target)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"cannot write {target}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise InputError(f"cannot write {target}: directory {directory} is not writable")
    return target


def atomic_path(target: str | os.PathLike) -> tuple[Path, Path]:
    """``(target, tmp)``: a fresh, empty temporary file in the target's directory with the
    permissions a plain ``open()`` would give.  The caller renames or removes it;
    :func:`atomic_file` does both."""
    target = check_writable(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the permissions of a plain open()
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return target, Path(tmp)


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def free_bytes(path: str | os.PathLike) -> int:
    """Bytes free for this user on the file system that holds ``path`` (a directory, or
    the directory of a file)."""
    path = Path(path)
    directory = path if path.is_dir() else (path.parent if str(path.parent) else Path("."))
    return shutil.disk_usage(directory).free


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def require_space(target: str | os.PathLike, nbytes: int) -> None:
    """Refuse (:class:`InputError`) to write ``nbytes`` next to ``target`` when its file
    system has less than that free, plus a margin of 1 MB."""
    free = free_bytes(target)
    if nbytes + 2**20 > free:
        raise InputError(f"cannot write {target}: it needs about {_mb(nbytes)} (and 1 MB to "
                         f"spare) and only {_mb(free)} are free there; free some space or "
                         f"choose another place")


@contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on a clean exit it is flushed to disk and renamed
    over ``target``, on an exception it is removed and ``target`` is left as it was (a
    full disk becomes an :class:`InputError`, module docstring)."""
    target, tmp = atomic_path(target)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        if exc.errno not in _NO_SPACE:
            raise
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {target}: the disk is full ({_mb(free_bytes(target))} "
                         f"free there); free some space and run the command again") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Replace ``path`` by ``data`` atomically, after checking that they fit."""
    require_space(check_writable(path), len(data))
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Replace ``path`` by ``text`` atomically; returns the path."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj, **dumps) -> Path:
    """Replace ``path`` by ``obj`` as JSON (``indent=2`` unless given) and a newline."""
    dumps.setdefault("indent", 2)
    return write_text(path, json.dumps(obj, **dumps) + "\n")
