r"""Physics of generated configurations against Monte Carlo at the same temperature.

For configurations drawn from a model (``isingvae sample``) and Monte Carlo
configurations of the same lattice, :func:`compare_samples` reports, per temperature:

- the means of the energy per spin :math:`e` and of :math:`|m|`, with standard errors
  (generated rows are independent; Monte Carlo errors resample whole chains);
- the Wasserstein-1 distance between the two distributions of :math:`e` and of
  :math:`|m|`, :math:`W_1 = \int |F_\mathrm{gen}(x) - F_\mathrm{MC}(x)|\,dx`, in the
  variable's units (J per spin, per spin), next to its noise floor: the distance
  between two halves of the Monte Carlo chains;
- the spin-spin correlation :math:`G(r) = \langle s_x s_{x+r} \rangle` for
  :math:`r = 0 .. L/2` (:func:`correlation_function`);
- at one temperature (a model conditioned on it), the specific heat
  :math:`C/N = N\,\mathrm{Var}(e)/T^2` and the susceptibility
  :math:`\chi/N = N\,\mathrm{Var}(|m|)/T` of both, with jackknife errors.

A model that does not condition on temperature generates from the mixture it was
trained on: its rows have temperature NaN and are compared with the Monte Carlo
configurations pooled over the file's temperatures, each weighted by its number of
rows in the file, as the training saw them.

>>> a = np.array([0.0, 0.0, 1.0, 1.0])
>>> wasserstein1(a, a + 0.5)
0.5
"""

from __future__ import annotations

import math

import numpy as np

from isingvae.errors import InputError
from isingvae.stats.resampling import chain_mean, jackknife

__all__ = ["compare_samples", "correlation_function", "mean_correlation", "wasserstein1"]


def wasserstein1(u, v, u_weights=None, v_weights=None) -> float:
    r"""Wasserstein-1 (earth mover's) distance between two 1-d empirical distributions.

    :math:`W_1 = \int_{-\infty}^{\infty} |F_u(x) - F_v(x)|\, dx`, with optional
    non-negative weights per value, in the units of the values: SciPy's
    :func:`scipy.stats.wasserstein_distance`, with bad input reported as
    :class:`~isingvae.errors.InputError`.

    >>> wasserstein1([0.0], [1.0]), wasserstein1([0.0, 1.0], [0.0, 2.0])
    (1.0, 0.5)
    """
    from scipy.stats import wasserstein_distance

    u = np.asarray(u, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    if u.size == 0 or v.size == 0:
        raise InputError("Wasserstein distance of an empty sample")
    for x, w in ((u, u_weights), (v, v_weights)):
        if w is not None:
            w = np.asarray(w, np.float64).ravel()
            if w.shape != x.shape or (w < 0).any() or w.sum() <= 0:
                raise InputError("weights must be non-negative, one per value, and not all "
                                 "zero")
    return float(wasserstein_distance(u, v, u_weights, v_weights))


def correlation_function(spins) -> np.ndarray:
    r"""Spin-spin correlation :math:`G(r)`, ``r = 0 .. L // 2``, of each configuration.

    Averaged over sites and the two lattice directions on the torus
    (:func:`isingvae.mc.observables.correlation_function`).  ``G`` of an all-up lattice is
    1 at every distance; of a checkerboard it is :math:`(-1)^r`.

    >>> board = np.indices((4, 4)).sum(axis=0) % 2 * 2 - 1
    >>> correlation_function(board).tolist()
    [1.0, -1.0, 1.0]
    """
    from isingvae.mc.observables import correlation_function as g

    return g(spins)


def mean_correlation(spins, batch: int = 4096) -> np.ndarray:
    """``G(r)`` averaged over configurations ``(n, L, L)``, in batches (memory stays small)."""
    s = np.asarray(spins)
    if s.ndim != 3 or s.shape[0] == 0:
        raise InputError(f"spins must have shape (n >= 1, L, L), got {s.shape}")
    total = np.zeros(s.shape[-1] // 2 + 1)
    for b in range(0, s.shape[0], batch):
        total += correlation_function(s[b:b + batch]).sum(axis=0)
    return total / s.shape[0]


def _mean_err_iid(x) -> tuple[float, float]:
    x = np.asarray(x, dtype=np.float64)
    err = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return float(x.mean()), err


def _halves(chain) -> np.ndarray:
    """Rows of the even-numbered and odd-numbered chains (by rank of the chain id)."""
    _, inv = np.unique(chain, return_inverse=True)
    return inv % 2 == 0


def _fluctuation(values, T: float, N: int, power: int, groups) -> tuple[float, float]:
    """``N Var(values) / T^power`` and its jackknife error over ``groups``."""
    def f(v):
        return N * np.var(v, ddof=1) / T**power

    v = np.asarray(values, dtype=np.float64)
    if np.unique(groups).size < 2 or v.size < 3:
        return float(f(v)) if v.size > 1 else math.nan, math.nan
    return jackknife(f, v, groups=groups)


def _fluctuations(gen: dict, ref: dict, T: float) -> dict:
    """Specific heat ``C/N = N Var(e) / T^2`` and susceptibility ``chi/N = N Var(|m|) / T``
    of generated and Monte Carlo rows at one temperature, with jackknife errors (over 20
    blocks of the independent generated rows; over Markov chains for Monte Carlo)."""
    N = int(np.asarray(gen["spins"]).shape[-1]) ** 2
    blocks = np.arange(len(gen["energy"])) % 20
    out = {}
    for name, key, power in (("specific_heat", "energy", 2),
                             ("susceptibility", "magnetization", 1)):
        g = np.asarray(gen[key], dtype=np.float64)
        r = np.asarray(ref[key], dtype=np.float64)
        if key == "magnetization":
            g, r = np.abs(g), np.abs(r)
        gv, ge = _fluctuation(g, T, N, power, blocks)
        rv, re_ = _fluctuation(r, T, N, power, np.asarray(ref["chain"]))
        out[name] = {"generated": gv, "generated_stderr": ge, "monte_carlo": rv,
                     "monte_carlo_stderr": re_}
    return out


def compare_samples(generated: dict, reference: dict, *, replicates: int = 200, seed: int = 0
                    ) -> list[dict]:
    """Energy, ``|m|`` and ``G(r)`` of generated configurations against Monte Carlo.

    ``generated`` and ``reference`` are dicts of arrays with keys ``spins``,
    ``temperature``, ``energy``, ``magnetization`` and ``chain`` (the columns of
    :class:`isingvae.data.IsingDataset`).  Generated rows with a finite temperature are
    compared with the reference rows at that temperature; rows with temperature NaN with
    the pooled reference (module docstring).  Returns one dict per generated temperature
    (``temperature`` is ``None`` for the mixture).
    """
    g_t = np.asarray(generated["temperature"], dtype=np.float64)
    r_t = np.asarray(reference["temperature"], dtype=np.float64)
    out = []
    groups = [np.nan] if np.isnan(g_t).any() else []
    groups += sorted(set(g_t[np.isfinite(g_t)].tolist()))
    for temp in groups:
        if math.isnan(temp):
            gsel, rsel = np.isnan(g_t), np.isfinite(r_t)
            label = None
        else:
            gsel = g_t == temp
            rsel = np.isclose(r_t, temp, rtol=1e-9, atol=0.0)
            label = float(temp)
        if not rsel.any():
            raise InputError(f"no Monte Carlo configurations at T = {temp:g} to compare with")
        gs = {k: np.asarray(v)[gsel] for k, v in generated.items()}
        rs = {k: np.asarray(v)[rsel] for k, v in reference.items()}
        row = {"temperature": label, "n_generated": int(gsel.sum()),
               "n_monte_carlo": int(rsel.sum()),
               "monte_carlo": "pooled over the file's temperatures, weighted by rows"
               if label is None else f"T = {label:g}"}
        half = _halves(rs["chain"])
        for name, key in (("energy", "energy"), ("abs_m", "magnetization")):
            gv = np.asarray(gs[key], dtype=np.float64)
            rv = np.asarray(rs[key], dtype=np.float64)
            if key == "magnetization":
                gv, rv = np.abs(gv), np.abs(rv)
            gm, ge = _mean_err_iid(gv)
            rm, re_ = chain_mean(rv, rs["temperature"], rs["chain"], replicates, seed)
            row[name] = {"generated_mean": gm, "generated_stderr": ge,
                         "monte_carlo_mean": rm, "monte_carlo_stderr": re_,
                         "w1": wasserstein1(gv, rv),
                         "w1_monte_carlo_halves": wasserstein1(rv[half], rv[~half])
                         if half.any() and (~half).any() else None}
        if label is not None:               # fluctuations need one temperature
            row.update(_fluctuations(gs, rs, label))
        g_gen = mean_correlation(gs["spins"])
        g_mc = mean_correlation(rs["spins"])
        row["correlation"] = {"r": list(range(g_gen.size)), "generated": g_gen.tolist(),
                              "monte_carlo": g_mc.tolist(),
                              "max_abs_difference": float(np.max(np.abs(g_gen - g_mc)))}
        out.append(row)
    return out
