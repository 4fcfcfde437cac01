"""``isingvae run``: the main job end to end on its built-in default
(:mod:`isingvae.run`)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "the main job end to end on the built-in default"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="isingvae-run",
                   help="report directory (default ./isingvae-run); re-running reuses its "
                   "finished steps")
    p.add_argument("--quick", action="store_true",
                   help="a tiny plan (L = 8 and 12, 3 epochs) to check the set-up in a minute")
    p.add_argument("--force", action="store_true",
                   help="write into a folder that holds other files or another job, and let "
                   "its steps replace data and runs made with other settings")
    p.add_argument("--ensemble", type=int, default=None, metavar="K",
                   help="VAEs trained per lattice size on the same data, whose spread enters "
                   "every T_c error bar (default: the plan's, 2)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def execute(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from isingvae import run as job
    from isingvae.cli._tensorflow import import_quietly

    plan = job.QUICK if args.quick else job.DEFAULT
    if args.ensemble is not None:
        plan = replace(plan, ensemble=args.ensemble)     # refused in one line if bad
    import_quietly()
    res = job.run(args.out, plan, quiet=args.quiet, force=args.force)
    for e in res["report"]["tc_estimates"]:
        if e["L"] is None:
            print(f"{e['method']:<34} Tc = {e['tc']:.4f} +- {e['stderr']:.4f}"
                  + (" (poor fit)" if e.get("poor_fit") else ""))
    head = res["report"]["tc_headline"]
    if head.get("tc") is not None:
        print(f"{'headline':<34} Tc = {head['tc']:.4f} +- {head['stderr']:.4f}")
    else:
        print(f"no headline Tc: {head['note']}")
    print(f"wrote {Path(args.out) / 'README.md'} in {res['timings']['total_seconds']:.0f} s")
    return 0
