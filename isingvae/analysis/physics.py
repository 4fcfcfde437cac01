"""Step of ``isingvae analyze``: what the latent space learned about the physics.

For one (run, data) pair and its posterior codes (:class:`~isingvae.analysis.encode.Codes`)
:func:`latent_physics` finds the active dimensions and the latent order parameter
:math:`\\zeta` (:mod:`isingvae.analysis.latent`), relates every coordinate, the latent
norm and :math:`\\zeta` to ``m``, ``|m|``, the energy and ``T`` (Pearson ``r`` and binned
mutual information), and tabulates per temperature the latent statistics next to the
Monte Carlo ``|m|`` (chain-bootstrap errors) and Onsager's magnetization.
:func:`latent_figures` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isingvae import exact, random
from isingvae.analysis import figures, latent
from isingvae.stats.resampling import chain_mean

__all__ = ["LatentPhysics", "latent_figures", "latent_physics"]


@dataclass
class LatentPhysics:
    """The numbers of :func:`latent_physics` (arrays over the file's rows unless said)."""

    dims: np.ndarray
    op: latent.OrderParameter
    zeta_all: np.ndarray        # every row and (h = 0) its flipped copy
    zeta: np.ndarray
    corr: dict
    mi: dict
    best: dict                  # {"m": (r, name), "abs_m": (r, name)}
    variance: np.ndarray        # (d,) of the posterior means
    resolution: np.ndarray      # (d,) RMS posterior standard deviation
    kl_dim: np.ndarray          # (d,) KL to N(0, 1) per coordinate
    norm: np.ndarray
    per_temperature: list[dict]


def _best(table: dict, key: str, names) -> tuple[float, str]:
    best, which = 0.0, ""
    for name in names:
        r = abs(table[name][key])
        if r >= best:
            best, which = r, name
    return best, which


def latent_physics(codes, ds, replicates: int, seed: int) -> LatentPhysics:
    """Latents of ``ds`` (its :class:`~isingvae.analysis.encode.Codes`) against its
    physics (module docstring); ``replicates`` and ``seed`` of the chain bootstrap."""
    mean = codes.latent
    n, copies = ds.n, codes.copies
    T, chain = ds.temperature, ds.chain
    m, e = ds.magnetization, ds.energy
    dims = latent.active_dimensions(codes.order)
    op = latent.order_parameter(codes.order, dims, log_var=codes.order_lv)
    zeta_all = op.zeta
    zeta = zeta_all[:n]

    physics = {"m": m, "abs_m": np.abs(m), "energy": e, "temperature": T}
    corr = latent.correlation_table(mean, physics)
    names = [*[f"z{j}" for j in range(mean.shape[1])], "norm"]
    best = {"m": _best(corr, "m", names), "abs_m": _best(corr, "abs_m", names)}
    order_vars = {"zeta": zeta, "abs_zeta": np.abs(zeta)}
    for name, v in order_vars.items():
        corr[name] = {k: latent.pearson(v, col) for k, col in physics.items()}
    mi = latent.mutual_information_table(mean, physics, dims=dims)
    for name, v in order_vars.items():
        mi[name] = {k: latent.mutual_information(v, col) for k, col in physics.items()}
    variance = mean.var(axis=0)
    resolution = np.sqrt(np.exp(codes.both_lv).mean(axis=0))
    kl_dim = codes.kl_per_dimension()

    norm = np.linalg.norm(mean, axis=1)
    per_t = []
    for temp in np.unique(T):
        rows = T == temp
        rows2 = np.tile(rows, copies)
        mc_abs, mc_abs_err = chain_mean(np.abs(m[rows]), T[rows], chain[rows], replicates,
                                        seed)
        per_t.append({"temperature": float(temp), "n": int(rows.sum()),
                      "chains": int(np.unique(chain[rows]).size),
                      "abs_zeta_mean": float(np.abs(zeta_all[rows2]).mean()),
                      "abs_zeta_std": float(np.abs(zeta_all[rows2]).std()),
                      "norm_mean": float(norm[rows].mean()), "norm_std": float(norm[rows].std()),
                      "mc_abs_m": mc_abs, "mc_abs_m_stderr": mc_abs_err,
                      "mc_energy": float(e[rows].mean()),
                      "onsager_m": float(exact.onsager_magnetization(float(temp)))})
    return LatentPhysics(dims, op, zeta_all, zeta, corr, mi, best, variance, resolution,
                         kl_dim, norm, per_t)


def record(lp: LatentPhysics, symmetric: bool) -> dict:
    """The latent part of a run's entry in ``report.json``."""
    op = lp.op
    return {
        "latent_dim": int(lp.variance.size),
        "active_dims": lp.dims.tolist(),
        "latent_variance": lp.variance.tolist(),
        "posterior_sd_rms": lp.resolution.tolist(),
        "kl_per_dim_nats": lp.kl_dim.tolist(),
        "kl_per_dim_note": "KL of the diagonal Gaussian posterior (the flow's base, for a "
                           "flow posterior) to the prior (N(0, 1), or p(z|T) for a model "
                           "conditioned on temperature), per coordinate, averaged over the "
                           "file; indicative only for flow, learned or hierarchical priors",
        "order_parameter": {
            "definition": "posterior means (of each configuration and, at h = 0, its "
                          "spin-flipped copy; centred on the mean of the prior p(z|T) at "
                          "the row's temperature for a model conditioned on T), each "
                          "coordinate divided by its RMS posterior standard deviation, "
                          "projected on the first principal axis of the active "
                          "coordinates; centred, unit variance",
            "dims": op.dims.tolist(), "axis": op.axis.tolist(), "unit": op.unit.tolist(),
            "explained_variance": op.explained, "symmetrized": bool(symmetric)},
        "latent_magnetization_correlation": {
            "m": lp.best["m"][0], "abs_m": lp.best["abs_m"][0],
            "m_best": lp.best["m"][1], "abs_m_best": lp.best["abs_m"][1]},
        "correlations": lp.corr,
        "mutual_information_nats": lp.mi,
    }


def latent_figures(pair, model, codes, lp: LatentPhysics, out, seed: int) -> list[str]:
    """Latent scatter, latents against ``m``, the order parameter against ``T`` and
    reconstructions at the lowest, critical and highest temperatures."""
    from isingvae.analysis.encode import model_inputs, reconstruct

    ds = pair.dataset
    T, m = ds.temperature, ds.magnetization
    mean = codes.latent
    dims, var, resolution = lp.dims, lp.variance, lp.resolution
    figs = []
    pcs = latent.principal_components(mean / resolution, dims if dims.size >= 2 else
                                      np.argsort(var)[::-1][:2])
    figs.append(figures.latent_scatter(out / f"latent_scatter_{pair.tag}.png", pcs, T, m,
                                       pair.L, seed=seed))
    shown = dims[np.argsort((var / resolution**2)[dims])[::-1]][:11]   # best resolved first
    panels = {f"z{j}": (mean[:, j], lp.corr[f"z{j}"]["m"]) for j in shown}
    panels["|z| (norm)"] = (lp.norm, lp.corr["norm"]["m"])
    panels[r"$\zeta$ (order parameter)"] = (lp.zeta, lp.corr["zeta"]["m"])
    figs.append(figures.latent_vs_magnetization(out / f"latent_vs_m_{pair.tag}.png", panels,
                                                m, pair.L, seed=seed))
    keys = ("abs_zeta_mean", "abs_zeta_std", "norm_mean", "norm_std", "mc_abs_m",
            "mc_abs_m_stderr", "temperature")
    figs.append(figures.order_parameter_vs_temperature(
        out / f"order_parameter_{pair.tag}.png",
        [{k: r[k] for k in keys} for r in lp.per_temperature], pair.L))
    temps = np.unique(T)
    pick = sorted({0, int(np.argmin(np.abs(temps - figures.TC))), temps.size - 1})
    rng = random.generator(seed, "analysis", 0)
    rows = [int(rng.choice(np.flatnonzero(T == temps[i]))) for i in pick]
    probs, recon = reconstruct(model, codes.mean[rows],
                               model_inputs(model, ds.x[rows], ds.temperature[rows]), seed=seed)
    figs.append(figures.reconstructions(out / f"reconstructions_{pair.tag}.png",
                                        ds.spins[rows], probs, recon, temps[pick], pair.L))
    return figs
