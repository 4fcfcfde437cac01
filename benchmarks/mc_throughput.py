"""Monte Carlo throughput: spin-flip attempts per ns and decorrelated configurations per second.

Run ``python benchmarks/mc_throughput.py`` (``--quick`` for a short run).  Prints a
table, then one JSON line per measurement.  Compilation and warm-up are excluded.

1. Metropolis at L = 16, 64, 256 near Tc, at least 1e6 spins per call, against a
   numpy roll-based checkerboard measured in the same run (and ``mcising`` when
   importable); ``--repeats`` measurements of each, alternating, reported as
   median and best (the machine may be shared).
2. Decorrelated configurations per second at Tc, L = 32, for Metropolis and Wolff:
   chains / (2 tau * seconds per sweep), tau = max(tau_e, tau_|m|) measured by
   :func:`isingvae.mc.thermalize`.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numba
import numpy as np

from isingvae import exact
from isingvae.mc import Metropolis, Wolff, thermalize

TC = exact.critical_temperature()


def timed(fn, min_seconds, cpu=None):
    """Call ``fn`` until ``min_seconds`` have passed; return (calls, seconds).

    ``cpu``, a list, receives the process CPU time used per wall-clock second.
    """
    calls, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            if cpu is not None:
                cpu.append((time.process_time() - cpu_start) / elapsed)
            return calls, elapsed


def numpy_checkerboard(L, chains, T, seed, sweeps_per_call):
    """A plain numpy roll-based checkerboard Metropolis (the baseline)."""
    rng = np.random.default_rng(seed)
    s = rng.choice(np.array([-1, 1], np.int8), size=(chains, L, L))
    i, j = np.indices((L, L))
    colours = [((i + j) % 2 == c) for c in (0, 1)]
    beta = 1.0 / T

    def run():
        nonlocal s
        for _ in range(sweeps_per_call):
            for mask in colours:
                nb = (
                    np.roll(s, 1, 1) + np.roll(s, -1, 1) + np.roll(s, 1, 2) + np.roll(s, -1, 2)
                ).astype(np.int16)
                dE = 2 * s * nb
                accept = rng.random(s.shape) < np.exp(-beta * dE)
                s = np.where(accept & mask, -s, s)

    return run


def mcising_status():
    """Whether the ``mcising`` package can be imported (its timing is not wired in yet)."""
    try:
        import mcising  # noqa: F401
    except ImportError:
        return "not importable: skipped"
    return "importable, but not benchmarked by this script yet"


def record(rows, **kw):
    rows.append(kw)
    print(json.dumps(kw))


def flips_per_ns(args, rows):
    for L in (16, 64, 256):
        chains = max(64, math.ceil(1e6 / (L * L) / 64) * 64)
        spins = chains * L * L
        sim = Metropolis(L=L, temperatures=[TC], chains=chains, seed=0)
        n = max(1, int(2e7 // spins))
        sim.sweep(n)  # compile (the kernel depends on the job size) and warm up
        base_chains = max(1, int(1e6 // (L * L)))
        base = numpy_checkerboard(L, base_chains, TC, 0, 1)
        base()
        ours, baseline, cpu, base_cpu = [], [], [], []
        # alternate the two, so that a busy spell on a shared machine hits both
        for _ in range(args.repeats):
            calls, sec = timed(lambda sim=sim, n=n: sim.sweep(n), args.seconds, cpu)
            ours.append(calls * n * spins / sec / 1e9)
            bcalls, bsec = timed(base, args.seconds, base_cpu)
            baseline.append(bcalls * base_chains * L * L / bsec / 1e9)
        med, best = statistics.median(ours), max(ours)
        base_med = statistics.median(baseline)
        threads = numba.get_num_threads()
        # repeats during which this process had every core it asked for
        free = [f for f, c in zip(ours, cpu, strict=True) if c >= 0.95 * threads]
        free_med = statistics.median(free) if free else None
        record(
            rows,
            benchmark="metropolis_flips_per_ns",
            L=L,
            T=round(TC, 6),
            chains=chains,
            threads=threads,
            spins_per_call=spins * n,
            repeats=args.repeats,
            flips_per_ns=round(med, 3),
            flips_per_ns_best=round(best, 3),
            numpy_baseline_flips_per_ns=round(base_med, 4),
            ratio=round(med / base_med, 1),
            ratio_best=round(best / max(baseline), 1),
            # CPU seconds the process got per second (up to the thread count): below it,
            # something else was running.  ``each``, ``numpy_each``: per repeat,
            # [flips/ns, CPU seconds per second]
            cpu_per_second=round(statistics.median(cpu), 2),
            uncontended_repeats=len(free),
            flips_per_ns_uncontended=None if free_med is None else round(free_med, 3),
            each=[[round(f, 3), round(c, 2)] for f, c in zip(ours, cpu, strict=True)],
            numpy_each=[
                [round(f, 4), round(c, 2)] for f, c in zip(baseline, base_cpu, strict=True)
            ],
            mcising_flips_per_ns=None,
        )


def decorrelated(args, rows):
    L, chains = 32, 64
    for cls in (Metropolis, Wolff):
        sim = cls(L=L, temperatures=[TC], chains=chains, seed=1, start="cold")
        info = thermalize(sim, max_sweeps=args.max_thermalize)
        tau = max(info["tau"])
        n = 50
        sim.sweep(n)  # the timed call's kernel, compiled
        calls, sec = timed(lambda sim=sim, n=n: sim.sweep(n), args.seconds)
        per_sweep = sec / (calls * n)
        record(
            rows,
            benchmark="decorrelated_configs_per_s",
            algorithm=sim.algorithm,
            L=L,
            T=round(TC, 6),
            chains=chains,
            threads=numba.get_num_threads(),
            tau_sweeps=round(tau, 2),
            tau_energy=round(info["tau_energy"][0], 2),
            tau_abs_magnetization=round(info["tau_abs_magnetization"][0], 2),
            thermalized=info["converged"],
            seconds_per_sweep=per_sweep,
            configs_per_s=round(chains / (2 * tau * per_sweep), 1),
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--max-thermalize", type=int, default=200_000)
    parser.add_argument(
        "--repeats", type=int, default=3, help="flips/ns measurements per size (median, best)"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 0.3
        args.max_thermalize = 20_000
    rows = []
    print("# JSON lines, one per measurement")
    flips_per_ns(args, rows)
    decorrelated(args, rows)
    print()
    print(
        f"{'L':>5} {'chains':>7} {'flips/ns':>9} {'best':>6} {'numpy flips/ns':>15} {'ratio':>7}"
        f" {'uncontended':>12}"
    )
    for r in rows:
        if r["benchmark"] == "metropolis_flips_per_ns":
            free = r["flips_per_ns_uncontended"]
            free = "-" if free is None else f"{free:.2f} ({r['uncontended_repeats']})"
            print(
                f"{r['L']:>5} {r['chains']:>7} {r['flips_per_ns']:>9.2f} "
                f"{r['flips_per_ns_best']:>6.2f} "
                f"{r['numpy_baseline_flips_per_ns']:>15.4f} {r['ratio']:>7.1f} {free:>12}"
            )
    print(
        f"(median of {args.repeats} measurements; ratio = median / numpy median; "
        "uncontended: median of the repeats with every core free, and their number)"
    )
    print(f"mcising: {mcising_status()}")
    print()
    print(f"{'algorithm':>11} {'L':>4} {'tau (sweeps)':>13} {'s/sweep':>10} {'configs/s':>10}")
    for r in rows:
        if r["benchmark"] == "decorrelated_configs_per_s":
            print(
                f"{r['algorithm']:>11} {r['L']:>4} {r['tau_sweeps']:>13.2f} "
                f"{r['seconds_per_sweep']:>10.2e} {r['configs_per_s']:>10.1f}"
            )


if __name__ == "__main__":
    main()
