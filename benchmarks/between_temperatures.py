"""How good are a model's samples between its training temperatures?

Run ``python benchmarks/between_temperatures.py RUN DATA`` with ``RUN`` a run directory of
a model conditioned on temperature (``isingvae run`` writes them under
``work/runs/L<size>``) and ``DATA`` the Monte Carlo file it was trained on.  At the
midpoints between consecutive training temperatures (``--every`` picks every k-th), the
model draws ``--n`` configurations exactly as ``isingvae sample RUN --temperature T``
does (same stream, same seed), and the script compares

- the energy per spin with Kaufman's exact energy of the finite torus,
- the specific heat per spin from the energy fluctuations with Kaufman's,
- abs(m) with the Monte Carlo data, interpolated linearly between the two neighbouring
  training temperatures (a reference good to about the data's own error there),

each with its standard error (the draws are independent).  Prints a table and a JSON line
with the largest deviations below T_c - 0.1, near T_c, and above T_c + 0.1.  It times
nothing; it needs no quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from isingvae import lattice
from isingvae.data import IsingDataset
from isingvae.evaluation import draws
from isingvae.exact import critical_temperature, finite_lattice
from isingvae.training import RunDir


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run directory of a model conditioned on temperature")
    parser.add_argument("data", help="the Monte Carlo file it was trained on")
    parser.add_argument("--n", type=int, default=2000, help="configurations per T")
    parser.add_argument("--every", type=int, default=1, help="every k-th midpoint")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws")
    args = parser.parse_args(argv)

    model, _ = RunDir(args.run).load()
    ds = IsingDataset(args.data)
    temps, t, m_rows = ds.temperatures, ds.temperature, np.abs(ds.magnetization)
    mc_m = np.array([m_rows[t == T].mean() for T in temps])
    mids = ((temps[1:] + temps[:-1]) / 2)[::args.every]
    tc, L, rows = critical_temperature(), model.L, []
    print(f"L = {L}, {args.n} configurations per temperature, run {args.run}")
    print(f"{'T':>6} {'energy':>9} {'Kaufman':>9} {'dev %':>7} {'sigma':>6} "
          f"{'abs(m)':>7} {'MC':>7} {'C/N':>6} {'Kaufman':>7}")
    for T in mids:
        s = draws.configurations(model, args.n, seed=args.seed, temperature=float(T))
        e, m = lattice.energy(s, ds.J, ds.h), np.abs(lattice.magnetization(s))
        exact = finite_lattice(L, float(T), ds.J)
        u_err = e.std(ddof=1) / np.sqrt(args.n)
        row = dict(T=float(T), energy=float(e.mean()), energy_error=float(u_err),
                   kaufman=float(exact.energy),
                   energy_dev=float(e.mean() / exact.energy - 1),
                   energy_sigma=float((e.mean() - exact.energy) / u_err),
                   abs_m=float(m.mean()), abs_m_error=float(m.std(ddof=1) / np.sqrt(args.n)),
                   mc_abs_m=float(np.interp(T, temps, mc_m)),
                   specific_heat=float(e.var(ddof=1) * L**2 / T**2),
                   kaufman_specific_heat=float(exact.specific_heat))
        rows.append(row)
        print(f"{T:6.3f} {row['energy']:9.4f} {row['kaufman']:9.4f} "
              f"{100 * row['energy_dev']:+7.2f} {row['energy_sigma']:+6.1f} "
              f"{row['abs_m']:7.3f} {row['mc_abs_m']:7.3f} {row['specific_heat']:6.2f} "
              f"{row['kaufman_specific_heat']:7.2f}")

    def worst(select, fn):
        vals = [fn(r) for r in rows if select(r["T"])]
        return max(vals, key=abs) if vals else None

    regions = {"below": lambda T: T < tc - 0.1, "near": lambda T: abs(T - tc) <= 0.1,
               "above": lambda T: T > tc + 0.1}
    summary = {"benchmark": "between_temperatures", "run": str(args.run), "L": L,
               "n": args.n, "temperatures": len(rows)}
    for name, sel in regions.items():
        summary[f"energy_dev_{name}"] = worst(sel, lambda r: r["energy_dev"])
    summary["abs_m_rel_dev_below"] = worst(regions["below"],
                                           lambda r: r["abs_m"] / r["mc_abs_m"] - 1)
    summary["abs_m_dev_above"] = worst(regions["above"], lambda r: r["abs_m"] - r["mc_abs_m"])
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
