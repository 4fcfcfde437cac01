"""``isingvae run``: the main job end to end (:mod:`isingvae.run`), on the built-in
default (the ``demo`` preset), another preset (``--preset demo|quick|study``; ``--quick``
is ``--preset quick``) or a plan file (``--plan FILE``: JSON in the format of the job's
``run.json``, the whole record or its ``plan`` object; keys left out take the demo's
values).  ``--show-plan [NAME]`` prints a preset, or the plan the other flags choose, as
such a file and exits.

Before it starts, the job prints how long the plan should take
(:meth:`~isingvae.run.RunPlan.estimated_seconds`), estimated from the step times of a
``timings.json``: ``--timings FILE``, else the ``--out`` folder's from an earlier call,
else the demo's on the development machine.  A bad plan (a file that is not JSON or not
an object, unknown keys, values the validators refuse, more memory than the machine
allows) is one line naming the file and the key or value, exit status 2, nothing
written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "the main job end to end on the built-in default, a preset or a plan file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="isingvae-run",
                   help="report directory (default ./isingvae-run); re-running reuses its "
                   "finished steps")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--preset", metavar="NAME",
                       help="a plan shipped with the package: demo (the default: 4 minutes on "
                       "the 2-core machine it was timed on), quick (a smoke test in a "
                       "minute) or study (about 39 minutes there); --show-plan NAME prints one")
    which.add_argument("--plan", metavar="FILE",
                       help="the plan in a JSON file: a run.json, or its 'plan' object; keys "
                       "left out take the demo's values (--show-plan prints one to edit)")
    which.add_argument("--quick", action="store_true",
                       help="the same as --preset quick: L = 8 and 12, 3 epochs, to check the "
                       "set-up in a minute")
    p.add_argument("--show-plan", nargs="?", const="", metavar="NAME",
                   help="print preset NAME, or without NAME the plan that the other flags "
                   "choose, as a plan file (JSON) and exit")
    p.add_argument("--timings", metavar="FILE",
                   help="a timings.json to estimate the plan's time from (default: the --out "
                   "folder's, else the demo's on the development machine)")
    p.add_argument("--force", action="store_true",
                   help="write into a folder that holds other files or another job, and let "
                   "its steps replace data and runs made with other settings")
    p.add_argument("--ensemble", type=int, default=None, metavar="K",
                   help="VAEs trained per lattice size on the same data, whose spread enters "
                   "every T_c error bar (default: the plan's: 1 in demo and study, 2 in "
                   "quick)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _choose(args):
    """(plan, its name in messages, the preset's description or None)."""
    from dataclasses import replace

    from isingvae import _validate as check
    from isingvae.errors import InputError
    from isingvae.run import plan as plans

    if args.show_plan and (args.plan is not None or args.preset is not None or args.quick):
        raise InputError("give --show-plan NAME, or --show-plan with --preset, --plan or "
                         "--quick, not both")
    if args.plan is not None:
        plan, label, description = plans.read_plan(args.plan), args.plan, None
    else:
        name = args.show_plan or args.preset or ("quick" if args.quick else "demo")
        plan, label = plans.preset(name), f"'{name}'"
        description = plans.preset_description(name)
    if args.ensemble is not None:
        ensemble = check.count("--ensemble", args.ensemble, 1, plans.MAX_ENSEMBLE)
        if ensemble != plan.ensemble:
            plan, label, description = replace(plan, ensemble=ensemble), \
                f"{label} with --ensemble {ensemble}", None
    return plan, label, description


def _reference(args):
    """(the timings.json record the estimate scales, where it comes from)."""
    from isingvae.errors import InputError
    from isingvae.run import plan as plans

    if args.timings is not None:
        try:
            record = json.loads(Path(args.timings).read_text())
            plans.DEFAULT.estimated_seconds(record)          # usable?
        except (OSError, ValueError, InputError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise InputError(f"--timings {args.timings}: {why}") from None
        return record, f"the step times in {args.timings}"
    mine = Path(args.out) / "timings.json"
    try:
        record = json.loads(mine.read_text())
        plans.DEFAULT.estimated_seconds(record)
        return record, f"the step times in {mine}"
    except (OSError, ValueError, InputError):
        return plans.reference_timings(), "the demo's step times on the development machine"


def estimate_line(plan, label: str, record: dict, source: str) -> str:
    """``[isingvae run] plan NAME: about N minutes on ..., estimated from ...``."""
    from isingvae.run import machine

    seconds = plan.estimated_seconds(record)
    about = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"
    ref, here = record.get("machine") or {}, machine()
    where = "on this machine" if all(ref.get(k) == here[k] for k in here) else (
        f"on the machine they were measured on ({ref.get('cpu', 'unknown CPU')}, "
        f"{ref.get('cores', '?')} cores{', AVX-512' if ref.get('avx512') else ''}; this "
        f"one: {here['cpu']}, {here['cores']} cores"
        f"{', AVX-512' if here['avx512'] else ''})")
    return (f"[isingvae run] plan {label}: about {about} {where}, estimated from {source}, "
            f"scaled by configurations x epochs and L^2")


def execute(args: argparse.Namespace) -> int:
    from isingvae import run as job
    from isingvae.cli._tensorflow import import_quietly
    from isingvae.errors import InputError

    plan, label, description = _choose(args)
    if args.show_plan is not None:
        shown = {"description": description} if description else {}
        print(json.dumps({**shown, "plan": plan.to_json()}, indent=2))
        return 0
    try:
        plan.check()                  # the memory of data and models, before any writing
    except InputError as exc:
        raise InputError(f"{args.plan if args.plan is not None else 'plan ' + label}: "
                         f"{exc}") from None
    note = estimate_line(plan, label, *_reference(args))
    import_quietly()
    res = job.run(args.out, plan, quiet=args.quiet, force=args.force, note=note)
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
