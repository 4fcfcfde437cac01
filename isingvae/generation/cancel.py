"""Ending a generation's jobs early, without losing what they wrote.

The driver's in-process pool gives every job the run's cancel event
(:func:`cancellable`); a job looks at it every few hundred sweeps or measured points of
a pilot and before every record of a task, and raises :class:`Cancelled` once it is set
(another job failed, or the run was interrupted).  Shards already written stay, so the
same command resumes with the same bits; a pilot ended early is recomputed.  Jobs on
other executors (Dask) run without an event and are cancelled by their executor.

>>> import threading
>>> event = threading.Event()
>>> with cancellable(event):
...     check()          # not set: nothing happens
...     event.set()
...     try:
...         check()
...     except Cancelled as exc:
...         print(exc)
the run has ended
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

__all__ = ["Cancelled", "Checker", "cancellable", "check", "checked", "sweep"]

#: the event that ends the jobs of this thread early (set by :func:`cancellable`)
_cancel = threading.local()
#: sweeps between two looks at that event while a job sweeps without recording
_CHECK_SWEEPS = 256


class Cancelled(Exception):
    """A job stopped early because its run has ended (another job failed, or the run
    was interrupted).  What it had written stays; a resumed run redoes the rest."""


@contextmanager
def cancellable(event: threading.Event | None):
    """Jobs run inside this block stop, raising :class:`Cancelled`, soon after
    ``event`` is set: pilots every few hundred measured points or sweeps, tasks every
    record or few hundred burn-in sweeps.  The in-process pool of
    :func:`isingvae.generation.generate` uses it so that a failure or an interrupt does
    not wait for long jobs to finish; shards already written stay."""
    _cancel.event = event
    try:
        yield
    finally:
        _cancel.event = None


def check() -> None:
    """Raise :class:`Cancelled` when this thread's cancel event is set."""
    event = getattr(_cancel, "event", None)
    if event is not None and event.is_set():
        raise Cancelled("the run has ended")


class Checker:
    """A progress hook for :func:`~isingvae.mc.equilibration.measure_tau` that only
    looks at the cancel event."""

    def update(self, _sweeps) -> None:
        check()


def sweep(sim, n: int) -> None:
    """``n`` sweeps in pieces, looking at the cancel event between them (a sampler's
    result does not depend on how its sweeps are split)."""
    while n > 0:
        check()
        k = min(n, _CHECK_SWEEPS)
        sim.sweep(k)
        n -= k


def checked(records):
    """The records, looking at the cancel event before each."""
    for record in records:
        check()
        yield record
