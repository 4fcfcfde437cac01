"""``isingvae analyze``: figures, T_c estimates and ``report.json``
(``docs/interfaces.md`` §2 and §5).

The inputs are checked (:func:`isingvae.analysis.pairs.check_inputs`) before TensorFlow
is imported, so bad input is refused in a moment.
"""

from __future__ import annotations

import argparse

HELP = "figures, Tc estimates and report.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--force", action="store_true",
                   help="write into a folder that holds other files or another report")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def execute(args: argparse.Namespace) -> int:
    from isingvae.analysis.pairs import check_inputs
    from isingvae.analysis.report import REPORT, analyze
    from isingvae.cli._tensorflow import import_quietly

    check_inputs(args.run_dirs, args.data)          # refuse bad input before TensorFlow
    import_quietly()
    report = analyze(args.run_dirs, args.data, args.out, samples=args.samples,
                     bootstrap=args.bootstrap, seed=args.seed, force=args.force,
                     progress=False if args.quiet else None)
    tc = report["exact"]["tc"]
    print(f"{'method':<34} {'L':>5} {'Tc':>9} {'+-':>8} {'Tc - exact':>11}  fit")
    for e in report["tc_estimates"]:
        size = "inf" if e["L"] is None else str(e["L"])
        fit = ""
        if e["L"] is None and e.get("dof"):
            fit = (f"  chi2/dof {e['chi2']:.1f}/{e['dof']}, p = {e['p_value']:.2g}"
                   + (" POOR FIT" if e.get("poor_fit") else ""))
        print(f"{e['method']:<34} {size:>5} {e['tc']:9.4f} {e['stderr']:8.4f} "
              f"{e['tc'] - tc:+11.4f}{fit}")
    for e in report["tc_reference"].get("exact_specific_heat_peak", []):
        print(f"{'exact specific-heat peak':<34} {e['L']:>5} {e['tc']:9.4f} {'exact':>8} "
              f"{e['tc'] - tc:+11.4f}")
    head = report["tc_headline"]
    if head.get("tc") is not None:
        print(f"headline Tc = {head['tc']:.4f} +- {head['stderr']:.4f} "
              f"({head['tc'] - tc:+.4f} from exact; {', '.join(head['methods'])})")
    else:
        print(f"headline Tc: none; {head['note']}")
    for f in report["tc_failures"]:
        print(f"note: {f['method']} (L = {f['L']}) gave no estimate: {f['reason']}")
    r = report["latent_magnetization_correlation"]
    print(f"latent-magnetization correlation: |r| = {r['m']:.3f} with m, {r['abs_m']:.3f} "
          f"with |m|")
    out = str(args.out).rstrip("/")
    print(f"wrote {out}/{REPORT} and {len(report['figures'])} figure(s) to {out}/")
    return 0
