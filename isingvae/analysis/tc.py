r"""Unsupervised critical temperatures from a latent order parameter, with bootstrap errors.

The input is the latent order parameter :math:`\zeta` of each configuration
(:func:`isingvae.analysis.latent.order_parameter`), its temperature and its Markov
chain.  No phase labels and no knowledge of :math:`T_c` enter; the temperatures only
group the configurations.  Three estimators, each a property of the finite lattice
that moves to the infinite-lattice :math:`T_c` as :math:`T_c(L) = T_c + a L^{-1/\nu}`
(so that :mod:`isingvae.stats.fss` can extrapolate them), provided :math:`\zeta`
is, near :math:`T_c`, a monotone odd function of the magnetization:

``latent-susceptibility``
    The peak of the latent susceptibility
    :math:`\chi_\zeta(T) = (\langle\zeta^2\rangle - \langle|\zeta|\rangle^2) / T`, the
    analogue of :math:`\chi' = N\beta(\langle m^2\rangle - \langle|m|\rangle^2)`, whose
    maximum marks the pseudo-critical point of a finite lattice.  The peak is located
    between grid temperatures by the parabola through the largest value and its two
    neighbours (vertex kept within them); a maximum at either end of the grid gives
    no estimate.

``latent-binder``
    Where the distribution of :math:`\zeta` turns bimodal by Sarle's criterion: the
    bimodality coefficient of a symmetric distribution,
    :math:`b = \langle\zeta^2\rangle^2 / \langle\zeta^4\rangle`, exceeds 5/9, the value
    of the uniform distribution (anything flatter counts as two-humped).  In terms of
    the Binder cumulant :math:`U_4 = 1 - \langle\zeta^4\rangle / (3\langle\zeta^2\rangle^2)`
    that is :math:`U_4 > 0.4` (a two-Gaussian mixture :math:`\pm\mu + N(0, \sigma^2)`
    passes it at :math:`\mu/\sigma = 1.854`).  The estimate is the temperature where
    :math:`U_4(T)` falls through 0.4 (linear interpolation between the bracketing grid
    points).  :math:`U_4` is a scaling function of :math:`(T - T_c) L^{1/\nu}` (its
    fixed point is :math:`U_4^* \approx 0.61` for the Ising torus), so any fixed level
    crosses at :math:`T_c + a L^{-1/\nu}`; 0.4 lies where the curves are steep and the
    finite-size shift is moderate.

``latent-clustering``
    :math:`|\zeta|` of all configurations, pooled over temperatures, split into two
    clusters by exact one-dimensional 2-means (the threshold minimising the
    within-cluster sum of squares); the estimate is the temperature where half the
    configurations lie in the ordered (large :math:`|\zeta|`) cluster.  For the Ising
    magnetization a threshold near :math:`m = 0.5` crosses within :math:`10^{-2}` of
    :math:`T_c` as :math:`L \to \infty` (the spontaneous magnetization rises as
    :math:`(T_c - T)^{1/8}`).

Each estimate carries the standard deviation of ``B`` bootstrap replicates that
resample whole Markov chains at each temperature (:mod:`isingvae.stats.resampling`);
for clustering the threshold is refitted on every replicate.  A replicate whose curve
has no peak or crossing fails; :func:`isingvae.stats.resampling.replicate_error` counts
it, leaves it out of the spread and flags the estimate when more than 5 % failed.
The projection that made :math:`\zeta` is held fixed: it belongs to the trained
encoder, whose own spread (other training seeds) is measured by an ensemble of runs on
the same data and added by :mod:`isingvae.stats.ensemble`.

Every estimate is a plain dict ``{"method", "L", "tc", "stderr"}`` plus extra keys, the
shape of ``report.json``'s ``tc_estimates`` (``docs/interfaces.md`` §5): ``bootstrap``
(``B``), ``replicates``, ``failed_replicates``, ``replicates_flag`` and, when flagged,
``note``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.stats.resampling import ChainBootstrap, replicate_error

__all__ = [
    "BINDER_LEVEL",
    "METHODS",
    "ORDERED_LEVEL",
    "TcAnalysis",
    "binder_cumulant",
    "crossing",
    "estimate_tc",
    "latent_susceptibility",
    "ordered_fraction",
    "peak_location",
    "two_means_split",
]

METHODS = ("latent-susceptibility", "latent-binder", "latent-clustering")
#: level of U4 above which a symmetric distribution is bimodal by Sarle's coefficient (5/9)
BINDER_LEVEL = 0.4
#: fraction of configurations in the ordered cluster that defines the clustering estimate
ORDERED_LEVEL = 0.5
#: bins of |zeta| for the clustering (the threshold's resolution is max|zeta| / HIST_BINS)
HIST_BINS = 1024


# ------------------------------------------------------------------ curves


def _moments(totals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """<|zeta|>, <zeta^2>, <zeta^4> from totals (..., 4) of (1, |zeta|, zeta^2, zeta^4)."""
    n = totals[..., 0]
    return totals[..., 1] / n, totals[..., 2] / n, totals[..., 3] / n


def latent_susceptibility(totals, temperatures) -> np.ndarray:
    r""":math:`(\langle\zeta^2\rangle - \langle|\zeta|\rangle^2) / T` from totals
    ``(..., S, 4)`` of :math:`(1, |\zeta|, \zeta^2, \zeta^4)` per temperature."""
    a1, a2, _ = _moments(np.asarray(totals, dtype=np.float64))
    return (a2 - a1**2) / np.asarray(temperatures, dtype=np.float64)


def binder_cumulant(totals) -> np.ndarray:
    r""":math:`1 - \langle\zeta^4\rangle / (3 \langle\zeta^2\rangle^2)` per temperature."""
    _, a2, a4 = _moments(np.asarray(totals, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - a4 / (3.0 * a2**2)


def two_means_split(weights, centers) -> np.ndarray:
    """Exact 2-means on a weighted 1-d histogram: index ``k`` of the last bin of the low
    cluster (bins ``0..k`` low, the rest high), for each row of ``weights`` ``(..., bins)``.

    >>> int(two_means_split(np.array([5.0, 5.0, 0.0, 0.0, 1.0, 1.0]), np.arange(6.0)))
    1
    """
    w = np.asarray(weights, dtype=np.float64)
    c = np.asarray(centers, dtype=np.float64)
    cw, cwc, cwc2 = (np.cumsum(w * c**p, axis=-1) for p in (0, 1, 2))
    tw, twc, twc2 = cw[..., -1:], cwc[..., -1:], cwc2[..., -1:]
    rw, rwc, rwc2 = tw - cw, twc - cwc, twc2 - cwc2
    with np.errstate(divide="ignore", invalid="ignore"):
        sse = (cwc2 - cwc**2 / cw) + (rwc2 - rwc**2 / rw)
    sse = np.where((cw > 0) & (rw > 0), sse, np.inf)[..., :-1]
    return np.argmin(sse, axis=-1)


def ordered_fraction(hist, centers) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of each temperature's configurations in the high-``|zeta|`` cluster.

    ``hist`` ``(..., S, bins)``: counts of ``|zeta|`` per temperature.  The clusters are
    fitted on the histogram pooled over temperatures.  Returns ``(fraction (..., S),
    threshold (...))``, the threshold being the upper edge of the low cluster's last
    bin centre (half a bin above it).
    """
    h = np.asarray(hist, dtype=np.float64)
    c = np.asarray(centers, dtype=np.float64)
    k = two_means_split(h.sum(axis=-2), c)
    high = np.arange(c.size) > np.asarray(k)[..., None]                # (..., bins)
    frac = (h * high[..., None, :]).sum(axis=-1) / h.sum(axis=-1)
    width = c[1] - c[0] if c.size > 1 else 1.0
    return frac, c[k] + 0.5 * width


def peak_location(temperatures, values) -> float:
    """Temperature of the maximum of ``values``: vertex of the parabola through the
    largest point and its neighbours, kept between those neighbours.  NaN when the
    largest value is at either end of the grid (the peak is not bracketed).

    >>> t = np.array([2.0, 2.1, 2.2, 2.3, 2.4])
    >>> round(peak_location(t, -(t - 2.23) ** 2), 6)
    2.23
    """
    t = np.asarray(temperatures, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if t.size < 3 or not np.all(np.isfinite(y)):
        return math.nan
    i = int(np.argmax(y))
    if i == 0 or i == t.size - 1:
        return math.nan
    (x0, x1, x2), (y0, y1, y2) = t[i - 1:i + 2], y[i - 1:i + 2]
    den = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
    b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / den
    if not a < 0:
        return float(x1)
    return float(np.clip(-b / (2 * a), x0, x2))


def crossing(temperatures, values, level: float) -> float:
    """First temperature, going up, where ``values`` falls through ``level``: linear
    interpolation between the grid points ``T_i`` (value >= level) and ``T_{i+1}``
    (value < level).  NaN when it never does.

    >>> crossing([1.0, 2.0, 3.0], [1.0, 0.6, 0.2], 0.5)
    2.25
    """
    t = np.asarray(temperatures, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    hits = np.flatnonzero((y[:-1] >= level) & (y[1:] < level))
    if hits.size == 0:
        return math.nan
    i = int(hits[0])
    return float(t[i] + (y[i] - level) / (y[i] - y[i + 1]) * (t[i + 1] - t[i]))


# ------------------------------------------------------------------ estimation


@dataclass
class TcAnalysis:
    """Curves and estimates of one lattice size.

    ``curves`` maps a name (``susceptibility``, ``binder``, ``ordered_fraction``) to
    ``(values, stderr)`` per temperature (stderr: the spread over replicates);
    ``estimates`` is a list of dicts (``method``, ``L``, ``tc``, ``stderr``,
    ``bootstrap``, ``replicates``, ``failed_replicates``, ``replicates_flag``, ``note``
    when flagged); ``failures`` the methods that gave no estimate on the full data, or
    too few bootstrap replicates for an error bar, with the reason.
    """

    temperatures: np.ndarray
    curves: dict
    estimates: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    threshold: float = math.nan
    chains: np.ndarray | None = None

    def to_json(self) -> dict:
        per_t = []
        for s, temp in enumerate(self.temperatures):
            row = {"temperature": float(temp), "chains": int(self.chains[s])}
            for name, (v, e) in self.curves.items():
                row[name] = _num(v[s])
                row[f"{name}_stderr"] = _num(e[s])
            per_t.append(row)
        return {"per_temperature": per_t, "cluster_threshold_abs_zeta": _num(self.threshold),
                "estimates": self.estimates, "failures": self.failures}


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


_WHY = {
    "latent-susceptibility": "the latent susceptibility peaks at an end of the temperature "
                             "range (the peak is not bracketed)",
    "latent-binder": f"U4 of the latent order parameter never falls through "
                     f"{BINDER_LEVEL:.4g} within the temperature range",
    "latent-clustering": f"the ordered fraction never falls through {ORDERED_LEVEL} within "
                         f"the temperature range",
}


def estimate_tc(
    zeta,
    temperature,
    chain,
    *,
    L: int | None = None,
    methods=METHODS,
    replicates: int = 200,
    seed: int = 0,
) -> TcAnalysis:
    """Every estimator of :data:`METHODS` on one lattice size, with bootstrap errors.

    ``zeta``, ``temperature`` and ``chain`` are per configuration (finite temperatures,
    at least three of them).  ``replicates`` bootstrap replicates resample whole chains
    at each temperature.
    """
    z = np.asarray(zeta, dtype=np.float64).ravel()
    t = np.asarray(temperature, dtype=np.float64).ravel()
    if z.shape != t.shape:
        raise InputError(f"zeta and temperature must have equal lengths, got {z.size}, {t.size}")
    if not np.all(np.isfinite(t)) or not np.all(np.isfinite(z)):
        raise InputError("Tc estimation needs finite latents and known (finite) temperatures")
    for m in methods:
        _v.choice("method", m, METHODS)
    replicates = _v.count("bootstrap replicates", replicates, 2)
    boot = ChainBootstrap(t, chain, replicates, seed)
    temps = boot.temperatures
    if temps.size < 3:
        raise InputError(f"Tc estimation needs at least 3 temperatures, got {temps.size}")

    a = np.abs(z)
    full, reps = boot.totals(np.stack([np.ones_like(z), a, z**2, z**4], axis=1))
    chi_f, chi_r = latent_susceptibility(full, temps), latent_susceptibility(reps, temps)
    u4_f, u4_r = binder_cumulant(full), binder_cumulant(reps)
    curves = {"susceptibility": (chi_f, chi_r.std(axis=0, ddof=1)),
              "binder": (u4_f, u4_r.std(axis=0, ddof=1))}
    thr = frac_f = frac_r = math.nan
    if "latent-clustering" in methods:
        top = float(a.max())
        width = (top if top > 0 else 1.0) * (1 + 1e-9) / HIST_BINS
        labels = np.minimum((a / width).astype(np.int64), HIST_BINS - 1)
        centers = (np.arange(HIST_BINS) + 0.5) * width
        hfull, hreps = boot.histograms(labels, HIST_BINS)
        frac_f, thr = ordered_fraction(hfull, centers)
        frac_r, _ = ordered_fraction(hreps, centers)
        curves["ordered_fraction"] = (frac_f, frac_r.std(axis=0, ddof=1))
    locate = {
        "latent-susceptibility": (lambda y: peak_location(temps, y), chi_f, chi_r),
        "latent-binder": (lambda y: crossing(temps, y, BINDER_LEVEL), u4_f, u4_r),
        "latent-clustering": (lambda y: crossing(temps, y, ORDERED_LEVEL), frac_f, frac_r),
    }
    out = TcAnalysis(temps, curves, threshold=float(thr), chains=boot.chains_per_stratum)
    for method in methods:
        find, yf, yr = locate[method]
        tc = find(yf)
        if not math.isfinite(tc):
            out.failures.append({"method": method, "L": L, "reason": _WHY[method]})
            continue
        err = replicate_error([find(y) for y in yr])
        if not err.usable:
            out.failures.append({"method": method, "L": L, "reason": err.reason(),
                                 **err.report_keys()})
            continue
        est = {"method": method, "L": None if L is None else int(L), "tc": float(tc),
               "stderr": err.stderr, "bootstrap": int(replicates), **err.report_keys()}
        if err.flagged:
            est["note"] = err.note(_WHY[method])
        out.estimates.append(est)
    return out
