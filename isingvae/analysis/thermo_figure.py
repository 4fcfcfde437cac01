"""The figure of ``isingvae thermo``: free energy, energy, specific heat and entropy per
spin from neural importance sampling, against Kaufman's exact curves, and the two
diagnostics that say whether their error bars can be trusted (effective sample size and
the Pareto k-hat of the largest weights, :mod:`isingvae.evaluation.importance`).

The free energy is shown as its deviation from the exact value, F - F_exact, where the
exact value applies (a deviation of a few 1e-4 is invisible on the scale of F itself);
otherwise as F.  Rows that the reliability rule rejects are drawn with open markers.
"""

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


def _points(ax, T, y, err, reliable, color="C0", label=True) -> None:
    """Estimates with error bars: filled markers where reliable, open where not."""
    for keep, face, name in ((reliable, color, "importance sampling"),
                             (~reliable, "none", "unreliable (open)")):
        if np.any(keep):
            ax.errorbar(T[keep], y[keep], None if err is None else err[keep], fmt="o",
                        ms=5, capsize=2, color=color, mfc=face,
                        label=name if label else None)


def thermo_figure(result: dict, path) -> str:
    """Six panels against T: F - F_exact (or F without an exact value), u, C/N and S with
    their reported standard errors and the exact curves (zero field); the effective sample
    size (draws, and the fraction of the draws on the right axis) and the Pareto k-hat,
    each with the thresholds of the reliability rule.  Unreliable rows: open markers."""
    from isingvae import exact
    from isingvae.evaluation.importance import ESS_MIN, ESS_WARNING, PARETO_K_MAX, PARETO_K_SLOW

    rows = result["per_temperature"]
    T = np.array([r["temperature"] for r in rows])
    n = float(result["n"])
    reliable = np.array([bool(r.get("reliable", True)) for r in rows])
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(13, 7.2), layout="constrained")
        grid_axes = fig.subplots(2, 3)
        axes = [grid_axes[0, 0], grid_axes[0, 1], grid_axes[0, 2], grid_axes[1, 0]]
        lo, hi = T.min(), T.max()
        pad = 0.05 * max(hi - lo, 0.2)
        grid = np.linspace(lo - pad, hi + pad, 200)
        curves = None
        r = exact.reference(result["L"], grid, result.get("J", 1.0), result.get("h", 0.0))
        if r is not None:
            curves = {"free_energy_per_spin": -grid * r.log_z, "energy_per_spin": r.energy,
                      "specific_heat": r.specific_heat, "entropy_per_spin": r.entropy}
        deviation = all(row.get("exact") and "free_energy_per_spin" in row["exact"]
                        for row in rows)
        for ax, (key, label) in zip(axes, _PANELS, strict=True):
            y = np.array([row[key] for row in rows])
            err = np.array([row[f"{key}_stderr"] for row in rows])
            if key == "free_energy_per_spin" and deviation:
                y = y - np.array([row["exact"][key] for row in rows])
                ax.axhline(0.0, color="k", lw=1, label=f"Kaufman, L = {result['L']}")
                label = r"$F - F_{\rm exact}$ per spin"
            elif curves is not None:
                ax.plot(grid, curves[key], "k-", lw=1, label=f"Kaufman, L = {result['L']}")
            _points(ax, T, y, err, reliable)
            ax.set_ylabel(label)
        axes[0].legend(fontsize=8)
        # the diagnostics
        ess_ax, k_ax = grid_axes[1, 1], grid_axes[1, 2]
        ess = np.array([row.get("ess", row["ess_fraction"] * row["n"]) for row in rows])
        _points(ess_ax, T, ess, None, reliable, color="C2", label=False)
        ess_ax.set_yscale("log")
        ess_ax.axhline(ESS_MIN, color="C3", ls="--", lw=1, label=f"ESS = {ESS_MIN} (rule)")
        ess_ax.axhline(ESS_WARNING * n, color="C1", ls=":", lw=1,
                       label=f"ESS / n = {ESS_WARNING:.0%} (warning)")
        ess_ax.set_ylabel("effective sample size (draws)")
        ess_ax.secondary_yaxis("right", functions=(lambda v: v / n, lambda f: f * n)) \
            .set_ylabel("fraction of the draws")
        ess_ax.legend(fontsize=8)
        k = np.array([np.nan if row.get("pareto_k") is None else row["pareto_k"]
                      for row in rows])
        _points(k_ax, T, k, None, reliable, color="C4", label=False)
        k_ax.axhline(PARETO_K_MAX, color="C3", ls="--", lw=1,
                     label=rf"$\hat k$ = {PARETO_K_MAX:g}: unreliable above")
        k_ax.axhline(PARETO_K_SLOW, color="C1", ls=":", lw=1,
                     label=rf"$\hat k$ = {PARETO_K_SLOW:g}: slow above")
        k_ax.set_ylabel(r"Pareto $\hat k$ of the largest weights")
        k_ax.legend(fontsize=8)
        for ax in grid_axes.ravel():
            ax.set_xlim(lo - pad, hi + pad)
            if lo < exact.critical_temperature() < hi:
                _tc_line(ax, label=False)
            ax.set_xlabel(T_LABEL)
        fig.suptitle(f"L = {result['L']}: thermodynamics from the model's weighted draws "
                     f"(n = {result['n']} per T; open markers: error bars not backed)")
        return _save(fig, Path(path))
