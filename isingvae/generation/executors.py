"""An executor from ``--scheduler``: the one place that creates Dask clients.

:func:`isingvae.generation.generate` takes any executor (``submit(fn, *args)`` returning
futures with ``.result()``), as emcee takes any pool; building one from the command
line's ``--scheduler`` string is all this module does:

- ``None``: no executor, the work runs in the calling process;
- ``"local:N"``: a Dask ``LocalCluster`` of N single-threaded worker processes;
- anything else: the address of a running Dask scheduler (its workers must see the
  output file's directory).

Dask's ``distributed`` package is an optional extra; asking for a scheduler without it,
a bad worker count, or an unreachable scheduler raises a one-line
:class:`~isingvae.errors.InputError`, before anything is written.  A TCP address that
refuses connections is reported at once (Dask itself would retry for its whole 20 s
timeout).

>>> with open_executor(None) as executor:
...     print(executor)
None
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from isingvae.errors import InputError

__all__ = ["open_executor"]


def _target(scheduler: str) -> int | str:
    """Worker count of ``local:N``, or the address; checks the value first (a bad one is
    named whether or not Dask is installed), then that Dask is installed."""
    target: int | str = scheduler
    if scheduler.startswith("local:"):
        try:
            target = int(scheduler.split(":", 1)[1])
        except ValueError:
            target = 0
        if target < 1:
            raise InputError(f"--scheduler local:N needs a positive worker count, got "
                             f"{scheduler!r}")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise InputError("--scheduler needs Dask's 'distributed' package: "
                         "pip install 'isingvae[distributed]'") from None
    return target


def _probe(address: str) -> None:
    """Refuse, in one line, a ``tcp://host:port`` (or ``host:port``) address where
    nothing accepts connections; other transports are left to Dask."""
    scheme, _, rest = address.rpartition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("", "tcp") or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)),
                                      timeout=5):
            pass
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address!r}: "
                         f"{exc.strerror or exc}") from None


@contextmanager
def open_executor(scheduler: str | None) -> Iterator[object | None]:
    """Yield the executor ``scheduler`` names (module docstring); close it on exit.

    For ``local:N`` the cluster is closed too.  Raises :class:`InputError` for a bad
    ``scheduler`` (nothing is started then).
    """
    if scheduler is None:
        yield None
        return
    target = _target(scheduler)
    from distributed import Client, LocalCluster

    cluster = None
    if isinstance(target, int):
        cluster = LocalCluster(n_workers=target, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        _probe(target)
        try:
            client = Client(target, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {target!r}: "
                             f"{str(exc).splitlines()[0]}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
