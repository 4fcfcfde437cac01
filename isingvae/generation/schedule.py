"""The order in which a generation's jobs run (:func:`run`), and a simulation of it on any
number of cores.

A generation is a set of jobs: one pilot per temperature, then that temperature's tasks,
which wait for its result (:mod:`isingvae.generation.tasks`).  The driver hands them out
longest first (:func:`priority`):

1. pilots before tasks, the temperature nearest :math:`T_c` first: the autocorrelation
   time, and with it the pilot's length, peaks there, and every task of that
   temperature waits for it;
2. then, as pilot results arrive, the task of highest estimated cost
   (:func:`isingvae.generation.tasks.estimated_cost`, fixed costs per sweep, so the order
   is the same on every machine).

:func:`simulate` plays that policy on ``cores`` identical cores from measured job times
(what ``benchmarks/generate_scaling.py`` reports for 16 and 64 cores), and
:func:`critical_path` gives the bound no schedule can beat: the longest pilot plus the
longest task behind it.

>>> jobs = [{"kind": "pilot", "t": 0, "seconds": 2.0, "distance": 0.0},
...         {"kind": "pilot", "t": 1, "seconds": 1.0, "distance": 0.5},
...         {"kind": "task", "t": 0, "seconds": 1.0, "cost_ns": 9.0},
...         {"kind": "task", "t": 0, "seconds": 1.0, "cost_ns": 9.0},
...         {"kind": "task", "t": 1, "seconds": 3.0, "cost_ns": 30.0}]
>>> simulate(jobs, cores=1), simulate(jobs, cores=2), critical_path(jobs)
(8.0, 4.0, 4.0)
"""

from __future__ import annotations

import concurrent.futures
import heapq
import queue
import threading
import time

from isingvae import exact
from isingvae.generation.cancel import cancellable
from isingvae.generation.plan import GenerationPlan
from isingvae.generation.tasks import blocks, estimated_cost, pilot_task, run_task

__all__ = ["Inline", "critical_path", "priority", "run", "simulate"]


def priority(kind: str, *, distance: float = 0.0, cost_ns: float = 0.0) -> tuple:
    """Sort key of a job (smallest first): pilots (by ``distance`` = :math:`|T - T_c|`)
    before tasks (by estimated cost, highest first)."""
    return (0, distance) if kind == "pilot" else (1, -cost_ns)


def simulate(jobs: list[dict], cores: int) -> float:
    """Seconds the driver's policy takes on ``cores`` cores for jobs of these durations.

    ``jobs``: dicts with ``kind`` (``"pilot"`` or ``"task"``), ``t`` and ``seconds``;
    pilots carry ``distance``, tasks ``cost_ns``.  A task becomes ready when the pilot of
    its ``t`` ends (a ``t`` without a pilot among the jobs: at once); a free core always
    takes the ready job of smallest :func:`priority`.
    """
    pilots = {j["t"] for j in jobs if j["kind"] == "pilot"}
    waiting: dict[int, list] = {}
    ready: list = []
    for k, j in enumerate(jobs):
        key = priority(j["kind"], distance=j.get("distance", 0.0),
                       cost_ns=j.get("cost_ns", 0.0))
        entry = (key, k, j)
        if j["kind"] == "task" and j["t"] in pilots:
            waiting.setdefault(j["t"], []).append(entry)
        else:
            heapq.heappush(ready, entry)
    running: list = []  # heap of (end time, sequence, job)
    clock, free = 0.0, cores
    while ready or running:
        while ready and free:
            _, k, j = heapq.heappop(ready)
            heapq.heappush(running, (clock + j["seconds"], k, j))
            free -= 1
        clock, _, j = heapq.heappop(running)
        free += 1
        if j["kind"] == "pilot":
            for entry in waiting.pop(j["t"], []):
                heapq.heappush(ready, entry)
    return clock


def critical_path(jobs: list[dict]) -> float:
    """The longest chain of dependent jobs: a pilot and the longest of its tasks."""
    longest: dict[int, float] = {}
    for j in jobs:
        if j["kind"] == "task":
            longest[j["t"]] = max(longest.get(j["t"], 0.0), j["seconds"])
    pilots = {j["t"]: j["seconds"] for j in jobs if j["kind"] == "pilot"}
    keys = set(pilots) | set(longest)
    return max((pilots.get(t, 0.0) + longest.get(t, 0.0) for t in keys), default=0.0)


def _timed(fn, *args, stop=None):
    """``fn(*args)`` on one thread, and the seconds it took where it ran (a worker's
    clock).  Every job has one thread of its executor (the executor's capacity counts
    threads), so its kernels run serially; numba's thread count is per calling thread,
    and is put back afterwards.  ``stop``, for jobs in this process: the event that
    ends them early (:func:`isingvae.generation.cancel.cancellable`)."""
    import numba

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with cancellable(stop):
            start = time.perf_counter()
            out = fn(*args)
            return out, time.perf_counter() - start
    finally:
        numba.set_num_threads(threads)


class Inline:
    """An executor that runs each job at once in the calling thread."""

    _max_workers = 1

    def submit(self, fn, *args, **kwargs):
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)
        return future


def _capacity(executor) -> int | None:
    """How many jobs ``executor`` runs at once: a pool's workers, a Dask cluster's
    threads; ``None`` (no bound: every ready job is submitted) when it does not say."""
    if hasattr(executor, "nthreads"):  # a Dask client
        try:
            return max(1, sum(executor.nthreads().values()))
        except Exception:  # a client that cannot tell: submit everything
            return None
    return getattr(executor, "_max_workers", None)


def run(executor, plan: GenerationPlan, parts: str, segment_spins: int, pilots: dict,
        bar, assemble=None, assemble_every: float = 30.0,
        stop: threading.Event | None = None) -> list[dict]:
    """Every pilot and task of ``plan`` on ``executor``, longest first; returns what each
    job was and how long it took.

    Jobs are handed out only as the executor has room for them (:func:`_capacity`), so
    that the order is decided here, by :func:`priority`:
    first the pilots, nearest T_c first (the longest: tau peaks there), then, as each
    pilot's result arrives, its temperature's tasks join the queue, which always hands
    out the task of highest estimated cost
    (:func:`isingvae.generation.tasks.estimated_cost`).  Where a job runs, or when, does
    not change the bits: every job is a pure function of the plan.

    When a job fails or the run is interrupted, the jobs not yet started are cancelled
    and, for an executor in this process (``stop`` given), ``stop`` is set, which ends
    the running ones at their next look at it; the first error is raised.
    """
    tc = exact.critical_temperature(plan.J)
    # heap of (priority, sequence, kind, t, b, what the job's timing records)
    ready = []
    for t, T in enumerate(plan.temperatures):
        d = abs(T - tc)
        heapq.heappush(ready, (priority("pilot", distance=d), t, "pilot", t, -1,
                               {"distance": d}))
    capacity = _capacity(executor) or 1 << 30
    extra = {} if stop is None else {"stop": stop}
    done_queue: queue.Queue = queue.Queue()
    running, timings, seq = {}, [], len(plan.temperatures)
    last_assembly = time.perf_counter()
    try:
        while ready or running:
            while ready and len(running) < capacity:
                _, _, kind, t, b, about = heapq.heappop(ready)
                args = (pilot_task, plan, t, parts) if kind == "pilot" else \
                    (run_task, plan, t, b, pilots[t], parts, segment_spins)
                future = executor.submit(_timed, *args, **extra)
                running[future] = (kind, t, b, about)
                future.add_done_callback(done_queue.put)
            try:
                future = done_queue.get(timeout=0.5)
            except queue.Empty:
                continue
            kind, t, b, about = running.pop(future)
            result, seconds = future.result()
            timings.append({"kind": kind, "t": t, "b": b, "seconds": seconds, **about})
            if kind == "pilot":
                pilots[t] = result
                for k in range(blocks(result)):
                    cost = estimated_cost(plan, result, k)
                    heapq.heappush(ready, (priority("task", cost_ns=cost), seq, "task", t, k,
                                           {"cost_ns": cost}))
                    seq += 1
            else:
                bar.update(result)
            if assemble is not None and ready and \
                    time.perf_counter() - last_assembly > assemble_every:
                assemble()
                last_assembly = time.perf_counter()
    except BaseException:
        if stop is not None:
            stop.set()
        for future in running:
            future.cancel()
        raise
    return timings
