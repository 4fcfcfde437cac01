"""``isingvae thermo``: free energy, energy, specific heat and entropy of the Boltzmann
distribution estimated from a trained run (neural importance sampling, with a neural
MCMC summary), against Kaufman's exact values.  The table says of each temperature whether
its error bars can be trusted (effective sample size, Pareto k-hat, the rule of
:func:`isingvae.evaluation.importance.reliability`); a line below it explains each row
that fails, and how many draws would do."""

from __future__ import annotations

import argparse

from isingvae.cli._types import float_list

HELP = "thermodynamics from a trained model by importance sampling, against the exact solution"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory made by 'isingvae train'")
    p.add_argument("--temperatures", type=float_list, required=True,
                   help="comma-separated temperatures, e.g. 2.0,2.269,2.5 (a model "
                   "conditioned on temperature: inside its trained range)")
    p.add_argument("--n", type=int, default=100000,
                   help="draws of the model per temperature (default 100000)")
    p.add_argument("--out", required=True, help="output JSON file; the figure goes beside "
                   "it with the suffix .png")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0); same seed, same "
                   "numbers")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _mark(row: dict) -> str:
    """The table's verdict on a row: ``yes``, ``slow`` (reliable, but the weights' Pareto
    k-hat says infinite variance: slow convergence) or ``NO``."""
    from isingvae.evaluation.importance import PARETO_K_SLOW

    if not row.get("reliable", True):
        return "NO"
    k = row.get("pareto_k")
    return "slow" if k is not None and k > PARETO_K_SLOW else "yes"


def _verdict_line(row: dict) -> str:
    """One line on an unreliable row: why, and how many draws would do."""
    needed = row.get("draws_needed")
    if needed is not None:
        more = f"about {needed} draws would be needed (this run: {row['n']})"
    else:
        more = ("draws needed: unknown (more draws alone will not fix it: a better model "
                "will)")
    inflated = ("; error bars shown are max(delta, batch) + |batch shift|, not the "
                "delta method" if row.get("stderr_inflated") else "")
    return (f"unreliable at T = {row['temperature']:g}: {row['unreliable_because']}; "
            f"{more}{inflated}")


def execute(args: argparse.Namespace) -> int:
    from pathlib import Path

    from isingvae.cli._tensorflow import import_quietly
    from isingvae.evaluation.importance import ESS_WARNING, PARETO_K_MAX, PARETO_K_SLOW
    from isingvae.evaluation.thermo import thermo

    import_quietly()
    res = thermo(args.run_dir, args.temperatures, args.n, args.out, seed=args.seed,
                 progress=False if args.quiet else None)
    from isingvae.analysis.thermo_figure import thermo_figure

    figure = thermo_figure(res, Path(args.out).with_suffix(".png"))
    nan = float("nan")
    print(f"{'T':>7} {'ESS/n':>6} {'ESS':>8} {'k-hat':>6} {'ok':>4} {'F/spin':>10} "
          f"{'+-':>8} {'exact':>10} {'u/spin':>9} {'+-':>7} {'exact':>9} {'C/N':>7} "
          f"{'exact':>7} {'S/spin':>7} {'exact':>7} {'accept':>6}")
    for r in res["per_temperature"]:
        ex = r["exact"] or {}
        k = r.get("pareto_k")
        print(f"{r['temperature']:7.4f} {r['ess_fraction']:6.3f} {r['ess']:8.1f} "
              f"{'-' if k is None else f'{k:.2f}':>6} {_mark(r):>4} "
              f"{r['free_energy_per_spin']:10.5f} {r['free_energy_per_spin_stderr']:8.5f} "
              f"{ex.get('free_energy_per_spin', nan):10.5f} "
              f"{r['energy_per_spin']:9.5f} {r['energy_per_spin_stderr']:7.5f} "
              f"{ex.get('energy_per_spin', nan):9.5f} {r['specific_heat_per_spin']:7.4f} "
              f"{ex.get('specific_heat_per_spin', nan):7.4f} {r['entropy_per_spin']:7.4f} "
              f"{ex.get('entropy_per_spin', nan):7.4f} "
              f"{r['mcmc']['acceptance_rate']:6.3f}")
    marks = {_mark(r) for r in res["per_temperature"]}
    if marks - {"yes"}:
        print(f"ok: yes = error bars backed; slow = Pareto k-hat in ({PARETO_K_SLOW:g}, "
              f"{PARETO_K_MAX:g}]: infinite-variance weights, slow convergence; NO = "
              f"unreliable (below)")
    for r in res["per_temperature"]:
        if not r["reliable"]:
            print(_verdict_line(r))
        if r["ess_warning"]:
            print(f"warning: at T = {r['temperature']:g} the effective sample size is "
                  f"{r['ess_fraction']:.2%} of the draws (under {ESS_WARNING:.0%}): the "
                  f"estimates there rest on a few draws")
    print(f"wrote {args.out} and {Path(args.out).parent / figure}")
    return 0
