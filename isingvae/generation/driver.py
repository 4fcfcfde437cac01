"""Making (or completing) a dataset file from a plan: resume, run the work, assemble.

:func:`generate` (which ``isingvae generate`` calls):

0. **One writer.**  The whole call holds the output's exclusive lock
   (:func:`isingvae._locks.exclusive`): a second ``generate`` on the same file is
   refused at once, in one line naming the holder's process id.
1. **Check what is there.**  A complete file of the same plan (same fingerprint, and
   as many rows as the plan asks for: a ``complete`` flag is never trusted alone) is
   left as it is; a file of another plan, or an unfinished run of another plan that
   holds work (a shard or a pilot result), is refused unless ``force``.  Nothing is
   trusted from a flag: the fingerprint in the file and in ``FILE.h5.parts/plan.json``
   is compared with the plan's on every call; a damaged ``plan.json`` (whose work can
   be told from no other plan's) is discarded with the whole parts directory, and
   damaged pilot results and shards with the rest of their task
   (:func:`isingvae.generation.tasks.check_parts`); all are recomputed to the same
   bits.  A ``.parts`` directory without work, or an empty unfinished file of ours,
   is never in the way of another plan.
2. **Check the disk**: refused in one line, before any work, when the shards of the
   plan cannot fit (:meth:`GenerationPlan.shard_bytes`).
3. **Run the work** (:mod:`isingvae.generation.tasks`): per temperature a pilot, then
   its tasks, each resuming after its last shard.  Without an executor they run in this
   process, on a pool of ``threads`` threads, each running its kernels serially (the
   kernels let go of the GIL), or one after another in the calling thread when
   ``threads`` is 1.  With an executor (any object with ``submit(fn, *args)``
   returning a future with ``.result()`` and ``.add_done_callback``: a
   :mod:`concurrent.futures` executor or a Dask ``distributed.Client``, see
   :func:`isingvae.generation.open_executor`) they run there.  Either way the driver
   hands jobs out as the executor has room for them, longest first
   (:mod:`isingvae.generation.schedule`), and a temperature's tasks go out with its
   pilot's result as a plain argument, so no executor has to resolve futures passed as
   arguments.  Pilots and tasks are pure functions of the plan, so the file is
   bit-identical whatever runs them.  When a job fails or the run is interrupted, jobs
   running in this process are ended at their next look at the run's cancel event
   (:mod:`isingvae.generation.cancel`), keeping the shards they wrote.
4. **Assemble.**  Shards are gathered, in a fixed order (temperature, block, step,
   chain), into the output file, built in memory and written atomically
   (:mod:`isingvae.storage.writer`; a full disk is a one-line error and the shards
   stay for the next run).  This happens when a run starts without an output file,
   from time to time while it goes on (attribute ``complete = False``: the file holds
   the rows finished so far), and once at the end, after which the shards are removed.
   The file is flagged complete only when it holds every row of the plan.  The final
   assembly compresses the chunks of ``/spins`` on as many threads as the run had
   (:func:`isingvae.storage.write_ising_file`).

A run that fails before any work is done leaves nothing behind (no ``.parts``, no
empty output file); one that fails later leaves what it did, which the same command
resumes.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isingvae import _validate as check
from isingvae import storage
from isingvae._atomic import check_writable, require_space, write_json
from isingvae._locks import exclusive
from isingvae.errors import InputError
from isingvae.generation import schedule
from isingvae.generation.plan import GenerationPlan, describe_difference
from isingvae.generation.tasks import SEGMENT_SPINS, blocks, check_parts, task_rows

__all__ = ["GenerationResult", "generate", "parts_dir"]


@dataclass
class GenerationResult:
    """What :func:`generate` did: the file, its rows, whether it was already complete,
    the pilot result per temperature index, wall-clock seconds (all, and Monte Carlo),
    and per job (pilot or task) of this call its ``kind``, ``t``, ``b``, ``seconds``
    where it ran and, for tasks, the ``cost_ns`` it was scheduled by."""

    path: Path
    rows: int
    already_complete: bool
    pilots: dict
    seconds: float
    seconds_monte_carlo: float
    jobs: list


def parts_dir(out: str | os.PathLike) -> Path:
    """Where the shards of an unfinished ``out`` live: ``out`` + ``.parts``."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def _has_work(parts: Path) -> bool:
    """Whether ``parts`` holds anything computed: a shard or a pilot result."""
    return parts.is_dir() and any(
        p.name.startswith(("task-", "pilot-")) for p in parts.iterdir())


def _check_existing(plan: GenerationPlan, out: Path, parts: Path, force: bool
                    ) -> tuple[bool, bool]:
    """``(complete, replace)``: whether ``out`` is already the complete result of this
    plan, and whether it is a file of something else that this run may replace (module
    docstring, step 1)."""
    fp = plan.fingerprint()
    work = _has_work(parts)
    replace = False
    if out.exists():
        try:
            header = storage.read_header(out, check_rows=False)
        except InputError as exc:
            if not force:
                raise InputError(f"{out} exists and is not a readable isingvae file ({exc}); "
                                 "use --force to overwrite it") from None
            header = None
        if header is not None:
            attrs = header.attrs
            same = attrs.get("generation") == fp
            if same and attrs.get("complete") and \
                    header.n == storage.format.planned_rows(attrs):
                return True, False
            # an unfinished file of ours with no rows, and no work beside it, loses nothing
            empty = "generation" in attrs and not attrs.get("complete") and header.n == 0
            if not same and not force and not (empty and not work):
                if "generation" not in attrs:
                    raise InputError(f"{out} holds {header.n} configurations that isingvae "
                                     f"generate did not make (algorithm "
                                     f"{header.algorithm!r}); use --force to overwrite it, "
                                     "or choose another --out")
                raise InputError(f"{out} was made with other settings "
                                 f"({describe_difference(attrs.get('generation'), fp)}); "
                                 "use --force to overwrite it, or choose another --out")
        replace = header is None or not same
    if parts.exists():
        try:
            old = json.loads((parts / "plan.json").read_text())["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError):
            old = None  # missing or damaged: its work cannot be told from another plan's
        if old != fp:
            if not force and old is not None and work:
                raise InputError(f"{parts} holds an unfinished run with other settings "
                                 f"({describe_difference(old, fp)}); use --force to discard "
                                 "it, or choose another --out")
            shutil.rmtree(parts)
    return False, replace


def _remove_temporaries(out: Path, parts: Path) -> None:
    """Temporary files of killed writers (``_atomic``'s ``.NAME.XXXXXXXX.tmp``) of the
    output and in its parts directory; only ever called under the output's lock."""
    beside = re.compile(rf"\.{re.escape(out.name)}\.[A-Za-z0-9_]{{8}}\.tmp")
    for p in out.parent.iterdir():
        if beside.fullmatch(p.name):
            p.unlink(missing_ok=True)
    if parts.is_dir():
        for p in parts.iterdir():
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)


def _assemble(plan: GenerationPlan, out: Path, parts: Path, pilots: dict, complete: bool,
              threads: int = 1):
    # one preallocated array per column: the rows are held once (plan.memory_bytes);
    # np.empty touches no memory that a partial assembly does not fill
    L, total = plan.L, plan.samples * len(plan.temperatures)
    cols = {"spins": np.empty((total, L, L), np.int8), "energy": np.empty(total),
            "magnetization": np.empty(total), "temperature": np.empty(total),
            "sweep": np.empty(total, np.int64), "chain": np.empty(total, np.int64)}
    n = 0
    nT = len(plan.temperatures)
    info = [pilots.get(t) for t in range(nT)]
    order = [(t, b) for t in range(nT) if info[t] for b in range(blocks(info[t]))]
    for t, b in order:
        for rows in task_rows(plan, t, b, info[t], parts):
            k = len(rows["spins"])
            if n + k > total:
                raise InputError(f"{parts} holds more rows than its plan ({total}); "
                                 "use --force to start again")
            for key, v in rows.items():
                cols[key][n:n + k] = v
            n += k
    if complete and n != total:
        raise InputError(f"{parts} holds {n} of the {total} rows of the plan (shards went "
                         "missing during the run); run the same command again")
    arrays = {k: v[:n] for k, v in cols.items()}

    def per_t(key, default=np.nan):
        return [float(i[key]) if i else default for i in info]

    attrs = {
        "complete": bool(complete),
        "generation": plan.fingerprint(),
        "temperatures": list(plan.temperatures),
        "samples_per_temperature": plan.samples,
        "chains_per_temperature": [int(i["chains"]) if i else 0 for i in info],
        "chains_per_task": [int(i["block"]) if i else 0 for i in info],
        "chains_minimum": plan.chains,
        "algorithm_per_temperature": [i["algorithm"] if i else "" for i in info],
        "tau_int_energy": per_t("tau_energy"),
        "tau_int_abs_magnetization": per_t("tau_abs_m"),
        "burn_in_sweeps": per_t("burn_in"),
        "thinning_sweeps": per_t("thin"),
        "pilot_sweeps": per_t("pilot_sweeps"),
        "wolff_flips_per_spin": [float(i["work"]) if i and i["algorithm"] == "wolff"
                                 else np.nan for i in info],
        "units": "energy and magnetization per spin; tau, burn-in and thinning in sweeps",
    }
    storage.write_ising_file(
        out, L=L, J=plan.J, h=plan.h, seed=plan.seed, algorithm=plan.algorithm,
        spins=arrays["spins"], temperature=arrays["temperature"],
        energy=arrays["energy"], magnetization=arrays["magnetization"],
        chain=arrays["chain"], attrs=attrs, extra={"sweep": arrays["sweep"]},
        threads=threads,
    )


def generate(
    plan: GenerationPlan,
    out: str | os.PathLike,
    *,
    executor=None,
    force: bool = False,
    progress: bool | None = None,
    assemble_every: float = 30.0,
    segment_spins: int = SEGMENT_SPINS,
    threads: int | None = None,
) -> GenerationResult:
    """Make (or complete) the file ``out`` for ``plan``.

    Re-running with the same plan on an interrupted file resumes it; on a complete
    file (flag and row count) it returns at once (``already_complete``).  Raises
    :class:`InputError`, in one line and before any work, when another process is
    writing ``out``, when ``out`` or an unfinished run with work is of another plan
    (unless ``force``), or when the disk cannot hold the plan's shards.

    Args:
        executor: where pilots and tasks run: ``None`` (this process) or any object
            with ``submit(fn, *args) -> future``, ``future.result()`` (and
            ``future.cancel()``, used on failure), e.g. a
            :class:`concurrent.futures.ThreadPoolExecutor` or a Dask
            ``distributed.Client`` (:func:`~isingvae.generation.open_executor` makes one
            from ``--scheduler``).  Its workers must see ``out``'s directory.
        force: overwrite a file, or discard an unfinished run, of another plan.
        threads: without an executor, how many pilots and tasks run at once in this
            process (a pool of threads, each running its kernels serially); default
            numba's thread count (``NUMBA_NUM_THREADS``, else the machine's cores).
            With 1 they run one after another in the calling thread, on one core.  No
            more run at once than half the machine's memory holds tasks of
            (:meth:`GenerationPlan.task_bytes`).  The final assembly compresses on as
            many threads.
        progress: ``False`` for none, otherwise a progress report on stderr.
        assemble_every: seconds between rewrites of the partial output (checked as
            jobs finish).
        segment_spins: bound on the spins of one shard.

    Neither ``executor``, ``threads``, ``assemble_every`` nor ``segment_spins`` changes
    the result.
    """
    t0 = time.perf_counter()
    if threads is not None:
        threads = check.count("threads", threads)
    out = Path(out)
    parts = parts_dir(out)
    check_writable(out)  # fails early, clearly, on an unwritable place
    if out.is_dir():
        raise InputError(f"{out} is a directory; give --out a file name")
    with exclusive(out):
        _remove_temporaries(out, parts)
        complete, replace = _check_existing(plan, out, parts, force)
        if complete:
            header = storage.read_header(out)
            return GenerationResult(out, header.n, True, {}, time.perf_counter() - t0, 0.0,
                                    [])
        done = check_parts(plan, parts) if parts.is_dir() else 0
        # the disk must hold every shard still to come: the plan's estimate (an upper
        # bound: rows x (L^2 + 16) bytes, the sampler state per shard, zip headers; see
        # GenerationPlan.shard_bytes) less what the parts directory already holds.  The
        # file made from the shards is checked when it is written (storage.writer).
        held = sum(p.stat().st_size for p in parts.iterdir()) if parts.is_dir() else 0
        require_space(parts, max(0, plan.shard_bytes(segment_spins) - held))
        new_file = replace or not out.exists()
        try:
            pilots, mc_seconds, timings = _work(plan, out, parts, executor, threads, done,
                                                new_file, progress, assemble_every,
                                                segment_spins)
        except BaseException:
            if not _has_work(parts):  # nothing to resume: leave nothing in the way
                shutil.rmtree(parts, ignore_errors=True)
                if new_file:
                    out.unlink(missing_ok=True)
            raise
        shutil.rmtree(parts, ignore_errors=True)
    return GenerationResult(out, plan.samples * len(plan.temperatures), False, pilots,
                            time.perf_counter() - t0, mc_seconds, timings)


def _work(plan: GenerationPlan, out: Path, parts: Path, executor, threads, done: int,
          new_file: bool, progress, assemble_every: float, segment_spins: int
          ) -> tuple[dict, float, list]:
    """Run what is left of the plan and assemble the complete file; returns the pilot
    results, the seconds of Monte Carlo and each job's timing.  A ``new_file`` (none
    yet, or one this run replaces) is first written as this plan's, unfinished and
    empty, so that the same command resumes it whenever it stops."""
    import numba

    from isingvae.progress import Progress

    parts.mkdir(exist_ok=True)
    write_json(parts / "plan.json", {"fingerprint": plan.fingerprint()}, sort_keys=True,
               indent=1)
    nT = len(plan.temperatures)
    pilots: dict[int, dict] = {}
    with Progress(total=plan.samples * nT, desc=f"generate L={plan.L}", unit="configs",
                  enabled=progress is not False) as bar:
        bar.update(done)
        if new_file:
            _assemble(plan, out, parts, pilots, complete=False)
        s = time.perf_counter()
        threads = threads or numba.get_num_threads()
        # jobs side by side each hold a task's memory: no more than half the machine's
        memory = check.physical_memory() // 2
        if memory:
            threads = max(1, min(threads, memory // plan.task_bytes()))
        pool = None
        if executor is None:
            pool = schedule.Inline() if threads == 1 else \
                concurrent.futures.ThreadPoolExecutor(
                    threads, thread_name_prefix="isingvae-generate")
        try:
            timings = schedule.run(executor or pool, plan, str(parts), segment_spins,
                                   pilots, bar,
                                   lambda: _assemble(plan, out, parts, pilots, False),
                                   assemble_every,
                                   stop=None if pool is None else threading.Event())
        finally:
            if isinstance(pool, concurrent.futures.Executor):
                pool.shutdown(wait=True, cancel_futures=True)
        mc_seconds = time.perf_counter() - s
    _assemble(plan, out, parts, pilots, complete=True, threads=threads)
    return pilots, mc_seconds, timings
