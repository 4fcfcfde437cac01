"""The one rule for writers that must not run twice at once: an exclusive lock per output.

``with exclusive(path):`` holds an advisory lock (``fcntl.flock``) on a small file beside
``path`` (``.NAME.lock`` in the same directory) for as long as a command writes to
``path``, a file or a run directory.  A second command that wants to write the same
output is refused at once with one line naming the holder's process id; readers take
no lock.  The lock disappears with the process that holds it, however it ends (the
kernel releases it), so a killed command never blocks the next one; the lock file is
removed on a clean exit, and a stale one is simply reused.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "data.h5"
>>> with exclusive(out):
...     with exclusive(out):                 # the same process may nest
...         print(lock_path(out).read_text().strip() == str(os.getpid()))
True
>>> lock_path(out).exists()
False
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from isingvae._atomic import check_writable
from isingvae.errors import InputError

__all__ = ["exclusive", "lock_path"]


def lock_path(path: str | os.PathLike) -> Path:
    """Where the lock of ``path`` lives: ``.NAME.lock`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode().strip() or "unknown"
    except (OSError, UnicodeDecodeError):
        return "unknown"


#: locks this process holds, with how many nested holders each
_HELD: dict[Path, int] = {}


@contextmanager
def exclusive(path: str | os.PathLike) -> Iterator[None]:
    """Hold the write lock of ``path`` (module docstring); :class:`InputError` if another
    process holds it.  Nested calls for the same path in one process share the lock
    (``isingvae run`` writes its report folder, and ``analyze`` inside it does too)."""
    path = Path(path)
    lock = lock_path(check_writable(path)).resolve()
    if lock in _HELD:
        _HELD[lock] += 1
        try:
            yield
        finally:
            _HELD[lock] -= 1
        return
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder(fd)
            os.close(fd)
            raise InputError(f"{path} is being written by another isingvae process (pid "
                             f"{pid}); wait for it to finish, or stop it") from None
        try:        # a releasing holder may have removed the file between open and lock
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    _HELD[lock] = 1
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        del _HELD[lock]
        lock.unlink(missing_ok=True)
        os.close(fd)
