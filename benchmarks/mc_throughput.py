"""Monte Carlo throughput: spin-flip attempts per ns and decorrelated configurations per second.

Run ``python benchmarks/mc_throughput.py`` (``--quick`` for a short run).  Prints a
table, then one JSON line per measurement.  Compilation and warm-up are excluded.

1. Metropolis at L = 16, 64, 256 near Tc, at least 1e6 spins per call, against a
   numpy roll-based checkerboard measured in the same run (and ``mcising`` when
   importable).
2. Decorrelated configurations per second at Tc, L = 32, for Metropolis and Wolff:
   chains / (2 tau * seconds per sweep), tau = max(tau_e, tau_|m|) measured by
   :func:`isingvae.mc.thermalize`.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numba
import numpy as np

from isingvae import exact
from isingvae.mc import Metropolis, Wolff, thermalize

TC = exact.critical_temperature()


def timed(fn, min_seconds):
    """Call ``fn`` until ``min_seconds`` have passed; return (calls, seconds)."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
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
        calls, sec = timed(lambda sim=sim, n=n: sim.sweep(n), args.seconds)
        ours = calls * n * spins / sec / 1e9
        base_chains = max(1, int(1e6 // (L * L)))
        base = numpy_checkerboard(L, base_chains, TC, 0, 1)
        base()
        bcalls, bsec = timed(base, args.seconds)
        baseline = bcalls * base_chains * L * L / bsec / 1e9
        record(
            rows,
            benchmark="metropolis_flips_per_ns",
            L=L,
            T=round(TC, 6),
            chains=chains,
            threads=numba.get_num_threads(),
            spins_per_call=spins * n,
            flips_per_ns=round(ours, 3),
            numpy_baseline_flips_per_ns=round(baseline, 4),
            ratio=round(ours / baseline, 1),
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
    print(f"{'L':>5} {'chains':>7} {'flips/ns':>9} {'numpy flips/ns':>15} {'ratio':>7}")
    for r in rows:
        if r["benchmark"] == "metropolis_flips_per_ns":
            print(
                f"{r['L']:>5} {r['chains']:>7} {r['flips_per_ns']:>9.2f} "
                f"{r['numpy_baseline_flips_per_ns']:>15.4f} {r['ratio']:>7.1f}"
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
