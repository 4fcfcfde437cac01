"""``isingvae thermo``: free energy, energy, specific heat and entropy of the Boltzmann
distribution estimated from a trained run (neural importance sampling, with a neural
MCMC summary), against Kaufman's exact values."""

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


def execute(args: argparse.Namespace) -> int:
    from pathlib import Path

    from isingvae.cli._tensorflow import import_quietly
    from isingvae.evaluation.importance import ESS_WARNING
    from isingvae.evaluation.thermo import thermo

    import_quietly()
    res = thermo(args.run_dir, args.temperatures, args.n, args.out, seed=args.seed,
                 progress=False if args.quiet else None)
    from isingvae.analysis.thermo_figure import thermo_figure

    figure = thermo_figure(res, Path(args.out).with_suffix(".png"))
    print(f"{'T':>7} {'ESS':>6} {'F/spin':>10} {'+-':>8} {'exact':>10} {'u/spin':>9} "
          f"{'+-':>7} {'exact':>9} {'C/N':>7} {'exact':>7} {'S/spin':>7} {'exact':>7} "
          f"{'accept':>6}")
    for r in res["per_temperature"]:
        ex = r["exact"] or {}
        print(f"{r['temperature']:7.4f} {r['ess_fraction']:6.3f} "
              f"{r['free_energy_per_spin']:10.5f} {r['free_energy_per_spin_stderr']:8.5f} "
              f"{ex.get('free_energy_per_spin', float('nan')):10.5f} "
              f"{r['energy_per_spin']:9.5f} {r['energy_per_spin_stderr']:7.5f} "
              f"{ex.get('energy_per_spin', float('nan')):9.5f} {r['specific_heat_per_spin']:7.4f} "
              f"{ex.get('specific_heat_per_spin', float('nan')):7.4f} {r['entropy_per_spin']:7.4f} "
              f"{ex.get('entropy_per_spin', float('nan')):7.4f} "
              f"{r['mcmc']['acceptance_rate']:6.3f}")
    for r in res["per_temperature"]:
        if r["ess_warning"]:
            print(f"warning: at T = {r['temperature']:g} the effective sample size is "
                  f"{r['ess_fraction']:.2%} of the draws (under {ESS_WARNING:.0%}): the "
                  f"estimates there rest on a few draws")
    print(f"wrote {args.out} and {Path(args.out).parent / figure}")
    return 0
