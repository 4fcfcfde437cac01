"""The figure of ``isingvae thermo``: free energy, energy, specific heat and entropy per
spin from neural importance sampling, against Kaufman's exact curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from isingvae.analysis.figures import _STYLE, T_LABEL, _save, _tc_line

__all__ = ["thermo_figure"]

_PANELS = (("free_energy_per_spin", "free energy per spin F"),
           ("energy_per_spin", "energy per spin u"),
           ("specific_heat", "specific heat C / N"),
           ("entropy_per_spin", "entropy per spin S"))


def thermo_figure(result: dict, path) -> str:
    """Four panels against T; the exact curve (zero field) over the range, the estimates
    with their standard errors, and the ESS fraction printed by each point of F."""
    from isingvae import exact

    rows = result["per_temperature"]
    T = np.array([r["temperature"] for r in rows])
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(13, 3.6), layout="constrained")
        axes = fig.subplots(1, 4)
        lo, hi = T.min(), T.max()
        pad = 0.05 * max(hi - lo, 0.2)
        grid = np.linspace(lo - pad, hi + pad, 200)
        curves = None
        r = exact.reference(result["L"], grid, result.get("J", 1.0), result.get("h", 0.0))
        if r is not None:
            curves = {"free_energy_per_spin": -grid * r.log_z, "energy_per_spin": r.energy,
                      "specific_heat": r.specific_heat, "entropy_per_spin": r.entropy}
        for ax, (key, label) in zip(axes, _PANELS, strict=True):
            if curves is not None:
                ax.plot(grid, curves[key], "k-", lw=1, label=f"Kaufman, L = {result['L']}")
            y = np.array([r[key] for r in rows])
            err = np.array([r[f"{key}_stderr"] for r in rows])
            ax.errorbar(T, y, err, fmt="o", ms=4, capsize=2, label="importance sampling")
            if key == "free_energy_per_spin":
                for t, v, row in zip(T, y, rows, strict=True):
                    ax.annotate(f"ESS {row['ess_fraction']:.2f}", (t, v), fontsize=7,
                                textcoords="offset points", xytext=(3, 5))
            if lo < exact.critical_temperature() < hi:
                _tc_line(ax, label=False)
            ax.set_xlabel(T_LABEL)
            ax.set_ylabel(label)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"L = {result['L']}: thermodynamics from the model's weighted draws "
                     f"(n = {result['n']} per T)")
        return _save(fig, Path(path))
