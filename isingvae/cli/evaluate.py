"""``isingvae evaluate``: the held-out log-likelihood of a trained run."""

from __future__ import annotations

import argparse

HELP = "held-out log-likelihood of a trained run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory made by 'isingvae train'")
    p.add_argument("--data", help="HDF5 configuration file (default: the training file's "
                   "held-out chains)")
    p.add_argument("--iw-samples", type=int, default=1000,
                   help="importance samples K per configuration (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the importance samples")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _head_line(head: dict) -> str:
    parts = []
    if head.get("accuracy") is not None:
        parts.append(f"phase accuracy {head['accuracy']:.3f}")
    if head.get("accuracy_away_from_tc") is not None:
        parts.append(f"{head['accuracy_away_from_tc']:.3f} at |T - Tc| > "
                     f"{head['away_from_tc']:g}")
    if head.get("r2") is not None:
        parts.append(f"temperature R^2 {head['r2']:.3f} (RMSE {head['temperature_rmse']:.3f})")
    return "head (held out): " + ", ".join(parts)


def execute(args: argparse.Namespace) -> int:
    from isingvae.cli._tensorflow import import_quietly
    from isingvae.evaluation import evaluate

    import_quietly()
    res = evaluate(args.run_dir, args.data, iw_samples=args.iw_samples, seed=args.seed,
                   progress=False if args.quiet else None)
    print(f"{'T':>8} {'n':>6} {'NLL/spin':>10} {'+-':>8} {'-ELBO/spin':>11} {'entropy':>9} "
          f"{'ratio':>6}")
    for r in res["per_temperature"]:
        s = r.get("exact_entropy_per_spin", float("nan"))
        q = r.get("nll_over_entropy", float("nan"))
        print(f"{r['temperature']:8.4f} {r['n']:6d} {r['nll_per_spin']:10.5f} "
              f"{r['nll_stderr']:8.5f} {r['elbo_per_spin']:11.5f} {s:9.5f} {q:6.3f}")
    if res.get("head") is not None:
        print(_head_line(res["head"]))
    print(f"wrote {args.run_dir.rstrip('/')}/evaluation.json (K = {res['iw_samples']}, "
          f"{res['held_out']})")
    return 0
