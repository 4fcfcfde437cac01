r"""Figures of the analysis, as PNG files for a talk: labelled axes with units, exact curves.

Each function draws one figure from plain arrays and writes it atomically (temporary
file, then rename) to the path given; it returns the file's name.  Matplotlib is used
through its object interface with the Agg canvas, so nothing here touches pyplot's
global state or the user's backend.

Units: temperature in :math:`J/k_B`, energy in :math:`J` per spin, magnetization per
spin, log-likelihoods and entropies in nats per spin; latent coordinates are
dimensionless.  Where exact results exist they are drawn: Onsager's :math:`T_c` and
spontaneous magnetization, Kaufman's finite-lattice energy and entropy.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from isingvae import exact, random
from isingvae._atomic import atomic_file

__all__ = [
    "classifier_curves",
    "fss_plot",
    "latent_scatter",
    "latent_vs_magnetization",
    "nll_entropy",
    "order_parameter_vs_temperature",
    "reconstructions",
    "tc_curves",
]

_STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 12, "legend.fontsize": 9,
          "figure.dpi": 110, "savefig.dpi": 130, "axes.grid": True, "grid.alpha": 0.3}
T_LABEL = r"temperature $T$ ($J/k_B$)"
TC = exact.critical_temperature()
_METHOD_STYLE = {"latent-susceptibility": ("C0", "o"), "latent-binder": ("C1", "s"),
                 "latent-clustering": ("C2", "^")}


def _style(method: str, k: int):
    base = method[:-4] if method.endswith("-fss") else method
    return _METHOD_STYLE.get(base, (f"C{3 + k % 7}", "D"))


def _save(fig: Figure, path: Path) -> str:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return Path(path).name


def _tc_line(ax, label: bool = True) -> None:
    ax.axvline(TC, color="k", ls="--", lw=1,
               label=r"exact $T_c = 2/\ln(1+\sqrt{2})$" if label else None)


def _onsager(ax, t_lo: float, t_hi: float, **kw) -> None:
    t = np.linspace(t_lo, t_hi, 400)
    ax.plot(t, exact.onsager_magnetization(t), color="k", lw=1.2,
            label=kw.pop("label", r"Onsager $m_0(T)$, $L=\infty$"), **kw)


def latent_scatter(path, coords, temperature, magnetization, L: int, names=("PC 1", "PC 2"),
                   max_points: int = 6000, seed: int = 0) -> str:
    """Two panels of the latent plane (posterior means), coloured by T and by m."""
    xy = np.asarray(coords, dtype=np.float64)
    rng = random.generator(seed, "analysis", 2)
    keep = rng.permutation(xy.shape[0])[:max_points]
    xy, t, m = xy[keep], np.asarray(temperature)[keep], np.asarray(magnetization)[keep]
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(11.5, 4.8), layout="constrained")
        axes = fig.subplots(1, 2, sharex=True, sharey=True)
        for ax, c, cmap, label, lims in (
                (axes[0], t, "coolwarm", T_LABEL, (None, None)),
                (axes[1], m, "PuOr", r"magnetization $m$ (per spin)", (-1, 1))):
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=c, cmap=cmap, s=5, alpha=0.7,
                            vmin=lims[0], vmax=lims[1], rasterized=True, linewidths=0)
            fig.colorbar(sc, ax=ax, label=label)
            ax.set_xlabel(f"latent {names[0]} (posterior mean / posterior s.d.)")
        axes[0].set_ylabel(f"latent {names[1]} (posterior mean / posterior s.d.)")
        axes[0].set_title(f"L = {L}: latent space coloured by temperature")
        axes[1].set_title(f"L = {L}: coloured by magnetization")
        return _save(fig, Path(path))


def latent_vs_magnetization(path, latents: dict, magnetization, L: int,
                            max_points: int = 4000, seed: int = 0) -> str:
    """One small panel per latent variable (name -> (values, r with m)) against m."""
    names = list(latents)
    n = len(names)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    rng = random.generator(seed, "analysis", 3)
    m = np.asarray(magnetization)
    keep = rng.permutation(m.size)[:max_points]
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(3.4 * cols, 2.9 * rows + 0.4), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for ax, name in zip(axes, names, strict=False):
            values, r = latents[name]
            ax.scatter(m[keep], np.asarray(values)[keep], s=3, alpha=0.4, color="C0",
                       rasterized=True, linewidths=0)
            ax.set_title(f"{name}   (Pearson r = {r:+.2f})")
            ax.set_xlabel(r"magnetization $m$ (per spin)")
            ax.set_ylabel(f"{name.split(' (')[0]} (dimensionless)")
        for ax in axes[n:]:
            ax.set_visible(False)
        fig.suptitle(f"L = {L}: latent coordinates (posterior means) against magnetization")
        return _save(fig, Path(path))


def order_parameter_vs_temperature(path, stats: list[dict], L: int) -> str:
    """Mean |zeta| and latent norm with their spread against T, next to <|m|> and Onsager."""
    t = np.array([s["temperature"] for s in stats])
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(11.5, 4.6), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        for key, label, color in (("abs_zeta", r"$\langle|\zeta|\rangle$, latent order "
                                   "parameter", "C0"),
                                  ("norm", r"$\langle\|z\|\rangle$, norm of the posterior mean",
                                   "C3")):
            mean = np.array([s[f"{key}_mean"] for s in stats])
            spread = np.array([s[f"{key}_std"] for s in stats])
            ax1.plot(t, mean, "o-", color=color, label=label + r" $\pm$ 1 s.d. (band)")
            ax1.fill_between(t, mean - spread, mean + spread, color=color, alpha=0.2)
        _tc_line(ax1)
        ax1.set_xlabel(T_LABEL)
        ax1.set_ylabel("latent magnitude (dimensionless)")
        ax1.set_title(f"L = {L}: size of the latent code")
        ax1.legend(loc="best")
        mc = np.array([s["mc_abs_m"] for s in stats])
        mc_err = np.array([s["mc_abs_m_stderr"] or 0.0 for s in stats])
        ax2.errorbar(t, mc, mc_err, fmt="o", color="C2", label=rf"Monte Carlo $\langle|m|\rangle$,"
                     rf" L = {L}")
        _onsager(ax2, float(t.min()), float(t.max()))
        _tc_line(ax2)
        ax2.set_xlabel(T_LABEL)
        ax2.set_ylabel(r"$|m|$ (per spin)")
        ax2.set_ylim(0, 1.05)
        ax2.set_title("the physical order parameter")
        ax2.legend(loc="best")
        return _save(fig, Path(path))


def _peak_scale(y) -> float:
    top = float(np.nanmax(y)) if np.size(y) else 1.0
    return top if math.isfinite(top) and top > 0 else 1.0


def tc_curves(path, analysis, L: int, levels: dict, reference=None) -> str:
    """The three estimator curves with their bootstrap errors and the estimates.

    ``reference``: the same analysis of the Monte Carlo magnetization, drawn in grey
    (susceptibilities are shown divided by their maxima, so both fit one axis).
    """
    t = np.asarray(analysis.temperatures)
    est = {e["method"]: e for e in analysis.estimates}
    panels = (("susceptibility", "latent-susceptibility",
               r"$\chi_\zeta / \max\chi_\zeta$,  "
               r"$\chi_\zeta = (\langle\zeta^2\rangle - \langle|\zeta|\rangle^2)/T$",
               "latent susceptibility: peak", None),
              ("binder", "latent-binder",
               r"$U_4 = 1 - \langle\zeta^4\rangle / 3\langle\zeta^2\rangle^2$",
               "latent Binder cumulant: bimodal above 0.4", levels.get("binder")),
              ("ordered_fraction", "latent-clustering", "fraction in ordered cluster",
               r"2-means on $|\zeta|$: half ordered", levels.get("ordered_fraction")))
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(15, 4.6), layout="constrained")
        axes = fig.subplots(1, 3)
        for ax, (key, method, ylabel, title, level) in zip(axes, panels, strict=True):
            if key not in analysis.curves:
                ax.set_visible(False)
                continue
            color, marker = _style(method, 0)
            y, e = analysis.curves[key]
            scale = _peak_scale(y) if key == "susceptibility" else 1.0
            ax.errorbar(t, y / scale, e / scale, fmt=marker + "-", color=color, ms=4,
                        capsize=2, label=r"latent $\zeta$ (bootstrap over chains)")
            if reference is not None and key in reference.curves:
                ry, re_ = reference.curves[key]
                rscale = _peak_scale(ry) if key == "susceptibility" else 1.0
                ax.errorbar(reference.temperatures, ry / rscale, re_ / rscale, fmt=".:",
                            color="grey", capsize=2, label=r"Monte Carlo $m$, same estimator")
            if level is not None:
                ax.axhline(level, color="grey", lw=1, ls="-.", label=f"level {level:.3g}")
            _tc_line(ax)
            if method in est:
                tc, err = est[method]["tc"], est[method]["stderr"]
                ax.axvspan(tc - err, tc + err, color=color, alpha=0.25,
                           label=rf"$T_c(L)$ = {tc:.3f} $\pm$ {err:.3f}")
            ax.set_xlabel(T_LABEL)
            ax.set_ylabel(ylabel)
            ax.set_title(title)
            ax.legend(loc="best")
        fig.suptitle(f"L = {L}: unsupervised critical temperature from the latent order "
                     r"parameter $\zeta$")
        return _save(fig, Path(path))


def _spin_image(ax, s, title: str, cmap="gray", vmin=-1, vmax=1):
    im = ax.imshow(s, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(title, fontsize=9)
    return im


def reconstructions(path, originals, probabilities, sampled, temperatures, L: int) -> str:
    """Rows of (Monte Carlo configuration, P(s = +1) at the posterior mean, a sample)."""
    n = len(originals)
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(7.2, 2.3 * n + 0.5), layout="constrained")
        axes = fig.subplots(n, 3, squeeze=False)
        for i in range(n):
            T = temperatures[i]
            _spin_image(axes[i, 0], originals[i], f"Monte Carlo, T = {T:.3g}")
            im = _spin_image(axes[i, 1], probabilities[i], "P(s = +1 | z = posterior mean)",
                             cmap="viridis", vmin=0, vmax=1)
            _spin_image(axes[i, 2], sampled[i], "decoder sample")
        fig.colorbar(im, ax=axes[:, 1], location="bottom", shrink=0.9,
                     label="decoder probability P(s = +1)")
        fig.suptitle(f"L = {L}: reconstructions (white = +1, black = -1)")
        return _save(fig, Path(path))


def nll_entropy(path, tables: list[tuple[str, int, list[dict]]]) -> str:
    """Held-out NLL per spin against T for each run, with the exact entropy per spin
    (top) and the gap between them (bottom)."""
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(7.5, 7.2), layout="constrained")
        ax, gap_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        t_all = [r["temperature"] for _, _, rows in tables for r in rows]
        lo, hi = min(t_all), max(t_all)
        grid = np.linspace(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), 200)
        for k, (label, L, rows) in enumerate(tables):
            t = np.array([r["temperature"] for r in rows])
            nll = np.array([r["nll_per_spin"] for r in rows])
            err = np.array([r.get("nll_stderr") or 0.0 for r in rows])
            color = f"C{k % 10}"
            ax.errorbar(t, nll, err, fmt="o", color=color, capsize=2, ms=4,
                        label=f"{label}: held-out NLL")
            s = np.array([np.nan if r.get("exact_entropy_per_spin") is None
                          else r["exact_entropy_per_spin"] for r in rows])
            if np.isfinite(s).any():         # the rows say Kaufman's solution applies
                ax.plot(grid, exact.finite_lattice(L, grid).entropy, "-", color=color,
                        lw=1.2, alpha=0.8, label=f"exact entropy, L = {L} (Kaufman)")
            gap_ax.errorbar(t, nll - s, err, fmt="o-", color=color, capsize=2, ms=4, lw=1,
                            label=label)
        for a in (ax, gap_ax):
            _tc_line(a, label=a is ax)
        gap_ax.axhline(0.0, color="k", lw=0.8)
        ax.set_ylabel("nats per spin")
        ax.set_title("held-out negative log-likelihood against its floor, the entropy")
        ax.legend(loc="best")
        gap_ax.set_xlabel(T_LABEL)
        gap_ax.set_ylabel("NLL - entropy (nats per spin)")
        gap_ax.legend(loc="best")
        return _save(fig, Path(path))


def fss_plot(path, per_size: list[dict], fits: dict, reference: tuple | None = None,
             exact_peaks: list[dict] | None = None) -> str:
    """Pseudo-critical temperatures against 1/L with the fits extrapolated to 1/L = 0.

    ``reference``: ``(per_size, fits)`` of the same estimators on the Monte Carlo
    magnetization, drawn in a second panel.  ``exact_peaks``: ``{"L", "tc"}`` of the
    exact specific-heat maximum, drawn in every panel as the exact finite-size line.
    """
    panels = [("latent order parameter", per_size, fits)]
    if reference is not None and reference[0]:
        panels.append(("Monte Carlo magnetization, same estimators", *reference))
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(7.5 * len(panels), 5.4), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, squeeze=False)).ravel()
        for ax, (title, rows_all, fit_map) in zip(axes, panels, strict=True):
            methods = list(dict.fromkeys(e["method"] for e in rows_all))
            xmax = 0.0
            for k, method in enumerate(methods):
                base = method.replace("magnetization-", "latent-", 1)
                color, marker = _style(base, k)
                rows = [e for e in rows_all if e["method"] == method]
                x = np.array([1.0 / e["L"] for e in rows])
                xmax = max(xmax, float(x.max()))
                ax.errorbar(x, [e["tc"] for e in rows], [e["stderr"] for e in rows],
                            fmt=marker, color=color, capsize=3, label=method)
                name = f"{method}-fss"
                if name in fit_map:
                    f = fit_map[name]
                    xs = np.linspace(0, x.max() * 1.05, 100)
                    ax.plot(xs, f["tc"] + f["a"] * xs ** (1.0 / f["nu"]), "-", color=color,
                            lw=1)
                    err = f.get("stderr_total", f["tc_stderr"])
                    ax.errorbar([0.0], [f["tc"]], [err], fmt=marker, mfc="white",
                                color=color, capsize=4, ms=8,
                                label=rf"{name}: {f['tc']:.4f} $\pm$ {err:.4f}"
                                      + (" (poor fit)" if f.get("poor_fit") else ""))
            if exact_peaks:       # exact points, joined, and on to T_c at 1/L = 0
                rows = sorted(exact_peaks, key=lambda e: -e["L"])
                tc_inf = exact.critical_temperature(rows[0].get("J", 1.0))
                ax.plot([0.0] + [1.0 / e["L"] for e in rows], [tc_inf] + [e["tc"] for e in rows],
                        "-.*", color="0.45", lw=1.2, ms=9,
                        label=r"exact specific-heat peak $T_c(L)$ (Kaufman)")
            ax.axhline(TC, color="k", ls="--", lw=1, label=rf"exact $T_c$ = {TC:.5f}")
            ax.set_xlim(-0.003, xmax * 1.1 + 1e-3)
            ax.set_xlabel(r"inverse lattice size $1/L$")
            ax.set_title(title)
            ax.legend(loc="best")
        axes[0].set_ylabel(r"pseudo-critical temperature $T_c(L)$ ($J/k_B$)")
        fig.suptitle(r"finite-size scaling $T_c(L) = T_c + a L^{-1/\nu}$ with $\nu = 1$; "
                     r"error bars: bootstrap over Markov chains and spread over models")
        return _save(fig, Path(path))


def classifier_curves(path, estimates: list[dict]) -> str:
    """A phase classifier's mean P(ordered) against temperature, one curve per method and
    lattice size, with the level 1/2 and where each curve crosses it (``estimates``:
    supervised ``tc_estimates`` entries that carry their ``curve``)."""
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(7.0, 5.0), layout="constrained")
        ax = fig.subplots()
        for k, e in enumerate(sorted(estimates, key=lambda e: (e["method"], e["L"]))):
            rows = e["curve"]
            t = [r["temperature"] for r in rows]
            color = f"C{k % 10}"
            ax.errorbar(t, [r["p_ordered"] for r in rows], [r["stderr"] for r in rows],
                        fmt="o-", ms=3.5, lw=1, capsize=2, color=color,
                        label=rf"{e['method']}, $L={e['L']}$: $T_c(L)$ = {e['tc']:.4f} "
                              rf"$\pm$ {e['stderr']:.4f}")
            ax.axvline(e["tc"], color=color, lw=0.8, ls=":")
        ax.axhline(0.5, color="grey", lw=0.8)
        _tc_line(ax)
        ax.set_xlabel(T_LABEL)
        ax.set_ylabel(r"mean classifier output $P(\mathrm{ordered} \mid x)$")
        ax.set_ylim(-0.03, 1.03)
        ax.set_title("phase classifier: where the mean output crosses 1/2")
        ax.legend(loc="best")
        return _save(fig, Path(path))
