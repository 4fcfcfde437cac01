"""Step of ``isingvae analyze``: configurations drawn from the model against Monte Carlo.

Draws ``samples`` configurations from the run (``isingvae sample``, kept as
``samples_<tag>.h5`` in the report folder), compares their energy, ``|m|`` and ``G(r)``
with the Monte Carlo rows at the temperatures the run trained on
(:func:`isingvae.analysis.samples.compare_samples`), puts Kaufman's exact energy of the
same mixture beside them, and draws a grid of samples and their physics.
"""

from __future__ import annotations

import numpy as np

from isingvae import exact
from isingvae.analysis import figures
from isingvae.analysis.pairs import reference_rows
from isingvae.analysis.samples import compare_samples

__all__ = ["generated_physics"]


def generated_physics(pair, settings: dict, out) -> tuple[dict, list[str], list[str]]:
    """``(record, figures, files)`` of the comparison (module docstring)."""
    from isingvae.data import IsingDataset
    from isingvae.evaluation import sample

    seed, boot, n = settings["seed"], settings["bootstrap"], settings["samples"]
    ds = pair.dataset
    # the report folder is analyze's own (checked before): its sample files may go
    path = sample(pair.run_dir, n, out / f"samples_{pair.tag}.h5", seed=seed, force=True)
    gen = IsingDataset(path)
    ref, note = reference_rows(pair)
    cols = ("spins", "temperature", "energy", "magnetization", "chain")
    comparison = compare_samples(gen.arrays(cols), ref.arrays(cols), replicates=boot,
                                 seed=seed)
    exact_e = None
    if ds.h == 0 and ds.J > 0:
        temps, counts = np.unique(ref.temperature, return_counts=True)
        energies = np.atleast_1d(exact.finite_lattice(pair.L, temps, J=ds.J).energy)
        exact_e = float(np.sum(energies * counts) / counts.sum())
        comparison[0]["energy"]["exact_mean"] = exact_e
    record = {"file": path.name, "n": n, "seed": seed, "comparisons": comparison}
    if note:
        record["note"] = note
    figs = [
        figures.sample_grid(out / f"samples_{pair.tag}.png", gen.spins, pair.L),
        figures.sample_physics(out / f"sample_physics_{pair.tag}.png",
                               {"energy": gen.energy, "magnetization": gen.magnetization},
                               {"energy": ref.energy, "magnetization": ref.magnetization},
                               comparison[0], pair.L, exact_energy=exact_e)]
    return record, figs, [path.name]
