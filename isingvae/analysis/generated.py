"""Step of ``isingvae analyze``: configurations drawn from the model against Monte Carlo.

Draws ``samples`` configurations from the run (``isingvae sample``, kept as
``samples_<tag>.h5`` in the report folder) and compares them with the Monte Carlo rows
at the temperatures the run trained on (:func:`isingvae.analysis.samples.compare_samples`):

- a model conditioned on temperature generates at each of those temperatures (an equal
  share of ``samples`` each), and each temperature is compared on its own: energy,
  ``|m|``, specific heat, susceptibility and ``G(r)``, with Kaufman's exact energy and
  specific heat of the finite torus beside them, and each quantity judged against its
  tolerance (:func:`isingvae.analysis.checks.generated_checks`, under the row's
  ``checks``);
- an unconditional model generates the mixture it was trained on, compared with the
  pooled Monte Carlo rows and the exact energy of the same mixture.

It draws a grid of samples and their physics.
"""

from __future__ import annotations

import numpy as np

from isingvae import exact
from isingvae.analysis import sample_figures as figures
from isingvae.analysis.checks import generated_checks
from isingvae.analysis.pairs import reference_rows
from isingvae.analysis.samples import compare_samples

__all__ = ["generated_physics"]


def generated_physics(pair, settings: dict, out) -> tuple[dict, list[str], list[str]]:
    """``(record, figures, files)`` of the comparison (module docstring)."""
    from isingvae.data import IsingDataset
    from isingvae.evaluation import sample

    seed, boot, n = settings["seed"], settings["bootstrap"], settings["samples"]
    ds = pair.dataset
    ref, note = reference_rows(pair)
    conditional = pair.config.get("conditioning") is not None
    temps = np.unique(ref.temperature) if conditional else None
    per_t = max(2, n // temps.size) if conditional else n
    # the report folder is analyze's own (checked before): its sample files may go
    path = sample(pair.run_dir, per_t, out / f"samples_{pair.tag}.h5", seed=seed,
                  temperature=None if temps is None else temps.tolist(), force=True)
    gen = IsingDataset(path)
    cols = ("spins", "temperature", "energy", "magnetization", "chain")
    comparison = compare_samples(gen.arrays(cols), ref.arrays(cols), replicates=boot,
                                 seed=seed)
    exact_e = None
    if conditional:
        for row in comparison:
            ex = exact.reference(pair.L, row["temperature"], ds.J, ds.h)
            if ex is not None:
                row["energy"]["exact_mean"] = float(ex.energy)
                row["specific_heat"]["exact"] = float(ex.specific_heat)
            row["checks"] = generated_checks(row, pair.L)
    else:
        t, counts = np.unique(ref.temperature, return_counts=True)
        ex = exact.reference(pair.L, t, ds.J, ds.h)
        if ex is not None:
            exact_e = float(np.sum(np.atleast_1d(ex.energy) * counts) / counts.sum())
            comparison[0]["energy"]["exact_mean"] = exact_e
    record = {"file": path.name, "n": int(gen.n), "seed": seed, "comparisons": comparison,
              "per_temperature": conditional}
    if note:
        record["note"] = note
    figs = [figures.sample_grid(out / f"samples_{pair.tag}.png", gen.spins, pair.L)]
    if conditional:
        figs.append(figures.generated_vs_temperature(
            out / f"sample_physics_{pair.tag}.png", comparison, pair.L))
    else:
        figs.append(figures.sample_physics(
            out / f"sample_physics_{pair.tag}.png",
            {"energy": gen.energy, "magnetization": gen.magnetization},
            {"energy": ref.energy, "magnetization": ref.magnetization},
            comparison[0], pair.L, exact_energy=exact_e))
    return record, figs, [path.name]
