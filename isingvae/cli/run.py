"""``isingvae run``: the main job end to end on its built-in default
(:mod:`isingvae.pipeline`)."""

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
    p.add_argument("--quiet", action="store_true", help="no progress output")


def execute(args: argparse.Namespace) -> int:
    from isingvae import pipeline
    from isingvae.cli._tensorflow import import_quietly

    import_quietly()
    res = pipeline.run(args.out, pipeline.QUICK if args.quick else pipeline.DEFAULT,
                       quiet=args.quiet, force=args.force)
    for e in res["report"]["tc_estimates"]:
        if e["L"] is None:
            print(f"{e['method']:<34} Tc = {e['tc']:.4f} +- {e['stderr']:.4f}")
    print(f"wrote {Path(args.out) / 'README.md'} in {res['timings']['total_seconds']:.0f} s")
    return 0
