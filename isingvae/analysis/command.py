"""Arguments and handler of ``isingvae analyze`` (CONTRACTS sections 2 and 5).

``isingvae.cli`` registers the subcommand with :func:`add_arguments` and calls
:func:`run`; bad input raises :class:`~isingvae.errors.InputError`, which the command
line turns into one line on stderr and exit status 2.  Nothing heavy is imported until
the inputs have been checked.
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``isingvae analyze``."""
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories made by 'isingvae train'")
    p.add_argument("--data", nargs="+", metavar="FILE",
                   help="Monte Carlo HDF5 files, one per run directory, in the same order "
                   "(each with the run's lattice size)")
    p.add_argument("--out", required=True, help="report directory (figures and report.json)")
    p.add_argument("--samples", type=int, default=2000,
                   help="configurations generated per run for the sample physics (default "
                   "2000; 0 skips it)")
    p.add_argument("--bootstrap", type=int, default=200,
                   help="bootstrap replicates over Markov chains per error bar (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the samples "
                   "(default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _quiet_tensorflow_import() -> None:
    """Import TensorFlow with its start-up chatter muted, as the other commands do."""
    try:
        from isingvae.cli import _import_tensorflow_quietly
    except ImportError:        # the command line's helper moved: import as it comes
        import tensorflow  # noqa: F401
        return
    _import_tensorflow_quietly()


def run(args: argparse.Namespace) -> int:
    """Check the inputs, run :func:`isingvae.analysis.report.analyze`, print a summary."""
    from isingvae.analysis.report import REPORT, analyze, check_inputs
    from isingvae.errors import InputError

    if not args.data:
        raise InputError("--data is required: one HDF5 file per run directory, in the same "
                         "order")
    check_inputs(args.run_dirs, args.data)          # refuse bad input before TensorFlow
    _quiet_tensorflow_import()
    report = analyze(args.run_dirs, args.data, args.out, samples=args.samples,
                     bootstrap=args.bootstrap, seed=args.seed,
                     progress=False if args.quiet else None)
    tc = report["exact"]["tc"]
    print(f"{'method':<34} {'L':>5} {'Tc':>9} {'+-':>8} {'Tc - exact':>11}")
    for e in report["tc_estimates"]:
        size = "inf" if e["L"] is None else str(e["L"])
        print(f"{e['method']:<34} {size:>5} {e['tc']:9.4f} {e['stderr']:8.4f} "
              f"{e['tc'] - tc:+11.4f}")
    for f in report["tc_failures"]:
        print(f"note: {f['method']} (L = {f['L']}) gave no estimate: {f['reason']}")
    r = report["latent_magnetization_correlation"]
    print(f"latent-magnetization correlation: |r| = {r['m']:.3f} with m, {r['abs_m']:.3f} "
          f"with |m|")
    out = str(args.out).rstrip("/")
    print(f"wrote {out}/{REPORT} and {len(report['figures'])} figure(s) to {out}/")
    return 0
