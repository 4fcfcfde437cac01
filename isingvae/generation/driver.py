"""Making (or completing) a dataset file from a plan: resume, run the work, assemble.

:func:`generate` (which ``isingvae generate`` calls):

1. **Check what is there.**  A complete file of the same plan (same fingerprint) is
   left as it is; a file or unfinished run of another plan is refused unless ``force``.
   Nothing is trusted from a flag: the fingerprint in the file and in
   ``FILE.h5.parts/plan.json`` is compared with the plan's on every call.
2. **Run the work** (:mod:`isingvae.generation.tasks`): per temperature a pilot, then
   its tasks, each resuming after its last shard.  Without an executor they run in this
   process, temperature by temperature.  With one (any object with
   ``submit(fn, *args)`` returning a future with ``.result()``: a
   :mod:`concurrent.futures` executor or a Dask ``distributed.Client``, see
   :func:`isingvae.generation.open_executor`) every pilot is submitted, and as each
   pilot's result arrives its tasks are submitted with that result as a plain argument,
   so no executor has to resolve futures passed as arguments.  Pilots and tasks are
   pure functions of the plan, so the file is bit-identical either way.
3. **Assemble.**  Shards are gathered, in a fixed order (temperature, block, step,
   chain), into the output file, written atomically (:mod:`isingvae.storage.writer`).
   This happens when a run starts without an output file, from time to time while it
   goes on (attribute ``complete = False``: the file holds the rows finished so far),
   and once at the end, after which the shards are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isingvae import storage
from isingvae._atomic import check_writable, write_json
from isingvae.errors import InputError
from isingvae.generation.plan import GenerationPlan, describe_difference
from isingvae.generation.tasks import (
    SEGMENT_SPINS,
    count_rows,
    pilot_task,
    run_task,
    task_rows,
)

__all__ = ["GenerationResult", "generate", "parts_dir"]


@dataclass
class GenerationResult:
    """What :func:`generate` did: the file, its rows, whether it was already complete,
    the pilot result per temperature index, and wall-clock seconds (all, and Monte Carlo)."""

    path: Path
    rows: int
    already_complete: bool
    pilots: dict
    seconds: float
    seconds_monte_carlo: float


def parts_dir(out: str | os.PathLike) -> Path:
    """Where the shards of an unfinished ``out`` live: ``out`` + ``.parts``."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def _check_existing(plan: GenerationPlan, out: Path, parts: Path, force: bool) -> bool:
    """True when ``out`` is already the complete result of this plan."""
    fp = plan.fingerprint()
    if out.exists():
        try:
            header = storage.read_header(out)
        except InputError as exc:
            if not force:
                raise InputError(f"{out} exists and is not a readable isingvae file ({exc}); "
                                 "use --force to overwrite it") from None
            header = None
        if header is not None:
            same = header.attrs.get("generation") == fp
            if same and header.attrs.get("complete"):
                return True
            if not same and not force:
                raise InputError(f"{out} was made with other settings "
                                 f"({describe_difference(header.attrs.get('generation'), fp)}); "
                                 "use --force to overwrite it, or choose another --out")
    plan_file = parts / "plan.json"
    if parts.exists():
        try:
            old = json.loads(plan_file.read_text())["fingerprint"]
        except (OSError, ValueError, KeyError):
            old = None
        if old != fp:
            if not force and old is not None:
                raise InputError(f"{parts} holds an unfinished run with other settings "
                                 f"({describe_difference(old, fp)}); use --force to discard it")
            shutil.rmtree(parts)
    return False


def _assemble(plan: GenerationPlan, out: Path, parts: Path, pilots: dict, complete: bool):
    cols: dict[str, list] = {k: [] for k in
                             ("spins", "energy", "magnetization", "sweep", "chain", "temperature")}
    for t, b in plan.tasks():
        for rows in task_rows(plan, t, b, parts):
            for key, v in rows.items():
                cols[key].append(v)
    L = plan.L
    arrays = {k: (np.concatenate(v) if v else np.empty((0, L, L) if k == "spins" else (0,)))
              for k, v in cols.items()}
    nT = len(plan.temperatures)
    info = [pilots.get(t) for t in range(nT)]

    def per_t(key, default=np.nan):
        return [float(i[key]) if i else default for i in info]

    attrs = {
        "complete": bool(complete),
        "generation": plan.fingerprint(),
        "temperatures": list(plan.temperatures),
        "samples_per_temperature": plan.samples,
        "chains_per_temperature": plan.chains,
        "algorithm_per_temperature": [i["algorithm"] if i else "" for i in info],
        "tau_int_energy": per_t("tau_energy"),
        "tau_int_abs_magnetization": per_t("tau_abs_m"),
        "burn_in_sweeps": per_t("burn_in"),
        "thinning_sweeps": per_t("thin"),
        "pilot_sweeps": per_t("pilot_sweeps"),
        "units": "energy and magnetization per spin; tau, burn-in and thinning in sweeps",
    }
    storage.write_ising_file(
        out, L=L, J=plan.J, h=plan.h, seed=plan.seed, algorithm=plan.algorithm,
        spins=arrays["spins"].astype(np.int8), temperature=arrays["temperature"],
        energy=arrays["energy"], magnetization=arrays["magnetization"],
        chain=arrays["chain"].astype(np.int64), attrs=attrs,
        extra={"sweep": arrays["sweep"].astype(np.int64)},
    )


def _run_on(executor, plan: GenerationPlan, parts: str, segment_spins: int, pilots: dict,
            bar) -> None:
    """Pilots, then each temperature's tasks as its pilot result arrives, on ``executor``."""
    pilot_futures = [executor.submit(pilot_task, plan, t, parts)
                     for t in range(len(plan.temperatures))]
    task_futures = []
    try:
        for t, future in enumerate(pilot_futures):
            pilots[t] = future.result()
            task_futures += [executor.submit(run_task, plan, t, b, pilots[t], parts,
                                             segment_spins) for b in range(plan.blocks)]
        for future in task_futures:
            bar.update(future.result())
    except BaseException:
        for future in pilot_futures + task_futures:
            future.cancel()
        raise


def generate(
    plan: GenerationPlan,
    out: str | os.PathLike,
    *,
    executor=None,
    force: bool = False,
    progress: bool | None = None,
    assemble_every: float = 30.0,
    segment_spins: int = SEGMENT_SPINS,
) -> GenerationResult:
    """Make (or complete) the file ``out`` for ``plan``.

    Re-running with the same plan on an interrupted file resumes it; on a complete
    file it returns at once (``already_complete``).  Another plan onto an existing
    file raises :class:`InputError` unless ``force``.

    Args:
        executor: where pilots and tasks run: ``None`` (this process) or any object
            with ``submit(fn, *args) -> future``, ``future.result()`` (and
            ``future.cancel()``, used on failure), e.g. a
            :class:`concurrent.futures.ThreadPoolExecutor` or a Dask
            ``distributed.Client`` (:func:`~isingvae.generation.open_executor` makes one
            from ``--scheduler``).  Its workers must see ``out``'s directory.
        force: overwrite a file, or discard an unfinished run, of another plan.
        progress: ``False`` for none, otherwise a progress report on stderr.
        assemble_every: seconds between rewrites of the partial output (in-process
            runs, between temperatures).
        segment_spins: bound on the spins of one shard.

    Neither ``executor``, ``assemble_every`` nor ``segment_spins`` changes the result.
    """
    from isingvae.progress import Progress

    t0 = time.perf_counter()
    out = Path(out)
    parts = parts_dir(out)
    check_writable(out)  # fails early, clearly, on an unwritable place
    if _check_existing(plan, out, parts, force):
        header = storage.read_header(out)
        return GenerationResult(out, header.n, True, {}, time.perf_counter() - t0, 0.0)
    parts.mkdir(exist_ok=True)
    write_json(parts / "plan.json", {"fingerprint": plan.fingerprint()}, sort_keys=True,
               indent=1)
    nT = len(plan.temperatures)
    pilots: dict[int, dict] = {}
    total = plan.samples * nT
    mc_seconds = 0.0
    with Progress(total=total, desc=f"generate L={plan.L}", unit="configs",
                  enabled=progress is not False) as bar:
        bar.update(sum(count_rows(plan, t, b, parts) for t, b in plan.tasks()))
        if not out.exists():
            _assemble(plan, out, parts, pilots, complete=False)
        if executor is None:
            last_assembly = time.perf_counter()
            for t in range(nT):
                s = time.perf_counter()
                pilots[t] = pilot_task(plan, t, parts)
                for b in range(plan.blocks):
                    run_task(plan, t, b, pilots[t], parts, segment_spins, on_segment=bar.update)
                mc_seconds += time.perf_counter() - s
                if time.perf_counter() - last_assembly > assemble_every and t < nT - 1:
                    _assemble(plan, out, parts, pilots, complete=False)
                    last_assembly = time.perf_counter()
        else:
            s = time.perf_counter()
            _run_on(executor, plan, str(parts), segment_spins, pilots, bar)
            mc_seconds += time.perf_counter() - s
    _assemble(plan, out, parts, pilots, complete=True)
    shutil.rmtree(parts, ignore_errors=True)
    return GenerationResult(out, total, False, pilots, time.perf_counter() - t0, mc_seconds)
