"""How ``isingvae generate`` scales with threads, measured here and simulated for 16 and 64 cores.

Run ``python benchmarks/generate_scaling.py`` (by default the job
``isingvae generate --L 32 --t-min 1.8 --t-max 2.8 --t-count 16 --samples 4096 --seed 2``:
L = 32, 16 temperatures from 1.8 to 2.8, 4096 samples, seed 2).  Prints two tables and
one JSON line.

1. **Measured.**  The job from scratch with 1, 2, 4, ... threads, up to numba's thread
   count (``NUMBA_NUM_THREADS``, else this machine's cores; ``--threads 1,2`` to
   choose), in this process, after one small warm-up generation (compilation is not
   counted); with ``--dask N`` also on a local Dask cluster of N single-threaded
   workers.  Figures: the seconds of ``generate`` and of its Monte Carlo, and their
   ratios to 1 thread, measured in the same run.  Every file must hold the same data
   as the 1-thread one: the benchmark fails otherwise.
2. **Simulated.**  From the 1-thread run's job times (pilots and tasks, each timed
   alone on one core), :func:`isingvae.generation.schedule.simulate` plays the
   driver's policy on 1, 2, 16 and 64 cores; beside it, the total work over the cores
   and the critical path (a pilot and the longest of its tasks), which no schedule
   beats.  A schedule is near its best when the critical path is a small share of
   the total work over the cores.

Nothing else should run while it measures: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import h5py
import numba
import numpy as np

from isingvae.generation import GenerationPlan, generate, parse_temperatures
from isingvae.generation.schedule import critical_path, simulate

_COLUMNS = ("spins", "temperature", "energy", "magnetization", "chain", "sweep")


def _data(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in _COLUMNS}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--L", type=int, default=32)
    p.add_argument("--t-min", type=float, default=1.8)
    p.add_argument("--t-max", type=float, default=2.8)
    p.add_argument("--t-count", type=int, default=16)
    p.add_argument("--samples", type=int, default=4096)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--algorithm", default="auto")
    p.add_argument("--threads", help="comma-separated thread counts (default 1, 2, 4, ... "
                   "up to numba's thread count)")
    p.add_argument("--cores", default="1,2,16,64", help="core counts to simulate")
    p.add_argument("--dask", type=int, default=0, help="also time the job on a local Dask "
                   "cluster of this many single-threaded workers (started, and warmed up "
                   "on a small job, before the clock starts)")
    args = p.parse_args(argv)

    top = numba.config.NUMBA_NUM_THREADS
    if args.threads:
        counts = [int(x) for x in args.threads.split(",")]
    else:
        counts, k = [], 1
        while k < top:
            counts.append(k)
            k *= 2
        counts.append(top)
    plan = GenerationPlan(L=args.L, temperatures=parse_temperatures(
        t_min=args.t_min, t_max=args.t_max, t_count=args.t_count), samples=args.samples,
        chains=min(64, args.samples), seed=args.seed, algorithm=args.algorithm)
    work = Path(tempfile.mkdtemp(prefix="generate-scaling-"))
    # compile and load every kernel first
    generate(GenerationPlan(L=8, temperatures=(2.0, 2.3), samples=8, chains=4, seed=1),
             work / "warm.h5", progress=False, threads=1)

    measured, reference, jobs = [], None, None
    for n in counts:
        out = work / f"threads{n}.h5"
        start = time.perf_counter()
        res = generate(plan, out, progress=False, threads=n)
        wall = time.perf_counter() - start
        data = _data(out)
        if reference is None:
            reference, jobs = data, res.jobs
        same = all(np.array_equal(data[k], reference[k]) for k in _COLUMNS)
        if not same:
            raise SystemExit(f"{n} threads gave other data than 1 thread")
        measured.append({"threads": n, "seconds": wall, "monte_carlo_seconds":
                         res.seconds_monte_carlo})
        out.unlink()
    if args.dask:
        from isingvae.generation import open_executor

        with open_executor(f"local:{args.dask}") as client:
            generate(GenerationPlan(L=8, temperatures=(2.0, 2.3), samples=8, chains=4,
                                    seed=1), work / "warm-dask.h5", executor=client,
                     progress=False)
            out = work / "dask.h5"
            start = time.perf_counter()
            res_dask = generate(plan, out, executor=client, progress=False)
            wall = time.perf_counter() - start
        if not all(np.array_equal(_data(out)[k], reference[k]) for k in _COLUMNS):
            raise SystemExit(f"Dask with {args.dask} workers gave other data than 1 thread")
        measured.append({"threads": f"dask:{args.dask}", "seconds": wall,
                         "monte_carlo_seconds": res_dask.seconds_monte_carlo})
    base = measured[0]
    print(f"job: L={plan.L}, {len(plan.temperatures)} temperatures "
          f"{args.t_min}..{args.t_max}, {plan.samples} samples, seed {plan.seed}; "
          f"chains per temperature {[res.pilots[t]['chains'] for t in sorted(res.pilots)]}")
    print(f"{'threads':>7} {'generate s':>11} {'speed-up':>9} {'MC s':>8} {'MC speed-up':>12}")
    for m in measured:
        m["speedup"] = base["seconds"] / m["seconds"]
        m["speedup_monte_carlo"] = base["monte_carlo_seconds"] / m["monte_carlo_seconds"]
        print(f"{m['threads']!s:>7} {m['seconds']:>11.2f} {m['speedup']:>8.2f}x "
              f"{m['monte_carlo_seconds']:>8.2f} {m['speedup_monte_carlo']:>11.2f}x")

    total = sum(j["seconds"] for j in jobs)
    path = critical_path(jobs)
    pilots = [j for j in jobs if j["kind"] == "pilot"]
    tasks = [j for j in jobs if j["kind"] == "task"]
    pilot_s = sum(j["seconds"] for j in pilots)
    print(f"\njobs of the 1-thread run: {len(pilots)} pilots ({pilot_s:.2f} s), "
          f"{len(tasks)} tasks ({sum(j['seconds'] for j in tasks):.2f} s, longest "
          f"{max(j['seconds'] for j in tasks):.3f} s); critical path {path:.3f} s")
    print(f"{'cores':>5} {'simulated s':>12} {'total/cores':>12} {'crit. path':>11} "
          f"{'speed-up':>9} {'total/(cores x path)':>21}")
    simulated = []
    for cores in (int(x) for x in args.cores.split(",")):
        span = simulate(jobs, cores)
        row = {"cores": cores, "simulated_seconds": span, "total_over_cores": total / cores,
               "critical_path": path, "speedup": total / span,
               "path_fraction_of_total": path / total}
        simulated.append(row)
        print(f"{cores:>5} {span:>12.3f} {total / cores:>12.3f} {path:>11.3f} "
              f"{total / span:>8.2f}x {total / (cores * path):>21.2f}")
    print(f"critical path = total work / {total / path:.1f}")
    result = {"benchmark": "generate_scaling", "L": plan.L,
              "temperatures": len(plan.temperatures), "samples": plan.samples,
              "seed": plan.seed, "max_threads": top, "measured": measured,
              "total_job_seconds": total, "critical_path_seconds": path,
              "total_over_critical_path": total / path, "simulated": simulated}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
