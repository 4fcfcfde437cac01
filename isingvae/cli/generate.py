"""``isingvae generate``: Monte Carlo configurations to HDF5 (resumable, reproducible).

Every value is checked before anything is written, each by the one validator of its
kind (:mod:`isingvae._validate`), with the flag's name in the message; the plan is then
checked against the machine's memory and the output's disk (:mod:`isingvae.generation`).
"""

from __future__ import annotations

import argparse

HELP = "Monte Carlo configurations to HDF5"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--L", type=int, default=16, help="linear lattice size, even and >= 4 "
                   "(default 16)")
    p.add_argument("--temperatures", help="comma-separated temperatures, e.g. 1.5,2.269,3.0")
    p.add_argument("--t-min", type=float, help="lowest temperature of a uniform grid")
    p.add_argument("--t-max", type=float, help="highest temperature of a uniform grid")
    p.add_argument("--t-count", type=int, help="number of grid temperatures")
    p.add_argument("--samples", type=int, default=1000,
                   help="decorrelated configurations per temperature (default 1000)")
    p.add_argument("--chains", type=int,
                   help="independent Markov chains per temperature, at least (default "
                   "min(64, samples)); more where the autocorrelation time is long, so "
                   "that tasks are of similar cost (recorded in the file)")
    p.add_argument(
        "--algorithm", choices=["metropolis", "wolff", "auto"], default="auto",
        help="update rule (auto: whichever yields more independent samples per unit cost, "
        "chosen per temperature)",
    )
    p.add_argument("--seed", type=int, default=0, help="master seed (default 0); same seed, "
                   "same bits")
    p.add_argument("--J", type=float, default=1.0, help="coupling (default 1)")
    p.add_argument("--h", type=float, default=0.0, help="external field (default 0)")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--force", action="store_true",
                   help="overwrite a file (or unfinished run) made with other settings")
    p.add_argument("--scheduler", help="Dask scheduler address, or local:N for a local "
                   "cluster of N workers (needs the 'distributed' extra)")
    p.add_argument("--threads", type=int, help="pilots and tasks run at once in this "
                   "process (default: numba's thread count, NUMBA_NUM_THREADS or the "
                   "machine's cores); the bits do not depend on it")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def execute(args: argparse.Namespace) -> int:
    from isingvae import _validate as check
    from isingvae.generation import GenerationPlan, generate, open_executor, parse_temperatures

    L = check.lattice_size(args.L, "--L")
    samples = check.count("--samples", args.samples)
    chains = check.count("--chains", args.chains) if args.chains is not None else \
        min(64, samples)
    seed = check.seed(args.seed, "--seed")
    threads = check.count("--threads", args.threads) if args.threads is not None else None
    J = check.real("--J", args.J, positive=True)
    h = check.real("--h", args.h)
    temps = parse_temperatures(args.temperatures, args.t_min, args.t_max, args.t_count)
    plan = GenerationPlan(L=L, temperatures=temps, samples=samples, chains=chains,
                          seed=seed, algorithm=args.algorithm, J=J, h=h)
    with open_executor(args.scheduler) as executor:
        res = generate(plan, args.out, force=args.force, executor=executor,
                       progress=False if args.quiet else None, threads=threads)
    if res.already_complete:
        print(f"{res.path} is already complete ({res.rows} configurations); nothing to do")
    else:
        print(f"wrote {res.path}: {res.rows} configurations of L={plan.L} at "
              f"{len(temps)} temperature(s) in {res.seconds:.1f} s "
              f"({res.seconds_monte_carlo:.1f} s Monte Carlo)")
    return 0
