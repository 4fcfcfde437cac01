"""isingvae.analysis: Tc estimators on synthetic latents, FSS, sample physics, `analyze`.

The estimators are checked on synthetic latent data with a transition placed at a known
temperature, organised in Markov chains (AR(1) noise within a chain, and a phase or
sign that a chain keeps), so that an error bar that ignored the chains would show.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from isingvae.analysis import latent, samples, tc
from isingvae.errors import InputError
from isingvae.stats import fss
from isingvae.stats.resampling import ChainBootstrap, chain_mean
from isingvae.training import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
L16 = ROOT / "data" / "ising_L16.h5"
L32 = ROOT / "data" / "ising_L32.h5"
TC = 2.269185314213022
GRID = np.round(np.arange(1.8, 2.801, 0.05), 4)
T_STAR = 2.27                  # between grid points, as a real Tc would be
SARLE_RATIO = 1.8537           # mu / sigma where a two-Gaussian mixture has U4 = 0.4
# the unconditional factorised model: its samples are compared with the pooled Monte
# Carlo mixture; the default, conditioned model has its own test below
TINY = TrainConfig(epochs=1, filters=(4, 8), units=(16,), latent_dim=2, batch_size=64,
                   decoder="factorized", condition="none")


# ------------------------------------------------------------------ synthetic latents


def ar1(rng, chains: int, length: int, rho: float) -> np.ndarray:
    """Unit-variance AR(1) series, one row per chain."""
    eps = rng.normal(size=(chains, length))
    out = np.empty_like(eps)
    out[:, 0] = eps[:, 0]
    for k in range(1, length):
        out[:, k] = rho * out[:, k - 1] + math.sqrt(1 - rho**2) * eps[:, k]
    return out


def _stack(blocks):
    z = np.concatenate([b[0].ravel() for b in blocks])
    t = np.concatenate([np.full(b[0].size, b[1]) for b in blocks])
    chain = np.concatenate([np.repeat(np.arange(b[0].shape[0]) + 10_000 * i, b[0].shape[1])
                            for i, b in enumerate(blocks)])
    return z, t, chain


# A: every chain is in the ordered phase (|zeta| ~ A0) with probability p(T), a logistic
# step centred on T_STAR, or else disordered (|zeta| ~ B0); the chain keeps its phase
# and its sign.  Half of the chains are ordered at T_STAR exactly.
W, A0, B0, SIGMA = 0.08, 4.0, 1.0, 0.4


def ordered_probability(T):
    return 1.0 / (1.0 + np.exp((np.asarray(T) - T_STAR) / W))


def phase_mixture(rng, chains=64, length=20, rho=0.8):
    blocks = []
    for T in GRID:
        ordered = rng.random(chains) < ordered_probability(T)
        sign = rng.choice([-1.0, 1.0], chains)
        level = np.where(ordered, A0, B0)[:, None]
        blocks.append((sign[:, None] * (level + SIGMA * ar1(rng, chains, length, rho)), T))
    return _stack(blocks)


def phase_mixture_susceptibility_peak() -> float:
    """Exact maximum of (<zeta^2> - <|zeta|>^2) / T of the phase mixture."""
    t = np.linspace(2.0, 2.5, 50001)
    p = ordered_probability(t)

    def folded_mean(mu):
        return SIGMA * math.sqrt(2 / math.pi) * math.exp(-mu**2 / (2 * SIGMA**2)) + \
            mu * (1 - 2 * norm.cdf(-mu / SIGMA))

    second = p * (A0**2 + SIGMA**2) + (1 - p) * (B0**2 + SIGMA**2)
    first = p * folded_mean(A0) + (1 - p) * folded_mean(B0)
    return float(t[np.argmax((second - first**2) / t)])


# B: a symmetric two-Gaussian mixture +-mu(T) + sigma * noise whose separation grows as T
# falls; at T_STAR it passes Sarle's bimodality border (mu / sigma = 1.8537, U4 = 0.4).
def separating_mixture(rng, chains=128, length=20, rho=0.8, width=0.15):
    blocks = []
    for T in GRID:
        mu = SARLE_RATIO * math.exp(-(T - T_STAR) / width)
        sign = rng.choice([-1.0, 1.0], chains)[:, None]
        blocks.append((sign * mu + ar1(rng, chains, length, rho), T))
    return _stack(blocks)


def estimates(analysis):
    return {e["method"]: e for e in analysis.estimates}


# ------------------------------------------------------------------ Tc estimators


def test_two_gaussian_moments_put_sarle_border_at_u4_of_0_4():
    x = SARLE_RATIO**2
    assert 2 * x * x / (3 * (x + 1) ** 2) == pytest.approx(tc.BINDER_LEVEL, abs=1e-4)


def test_susceptibility_peak_and_clustering_find_the_transition():
    z, t, chain = phase_mixture(np.random.default_rng(3), chains=256)
    a = tc.estimate_tc(z, t, chain, L=16, replicates=200, seed=0)
    est = estimates(a)
    peak = phase_mixture_susceptibility_peak()
    assert abs(peak - T_STAR) < 0.01                       # the design puts the peak there
    chi, clu = est["latent-susceptibility"], est["latent-clustering"]
    assert chi["L"] == 16 and chi["failed_replicates"] == 0
    assert abs(chi["tc"] - peak) < 3 * chi["stderr"] and chi["stderr"] < 0.02
    assert abs(clu["tc"] - T_STAR) < 3 * clu["stderr"] and clu["stderr"] < 0.015
    assert 0.4 * B0 < a.threshold < A0                     # the clusters are the phases


def test_binder_crossing_finds_where_the_mixture_turns_bimodal():
    z, t, chain = separating_mixture(np.random.default_rng(4))
    a = tc.estimate_tc(z, t, chain, replicates=200, seed=1, methods=("latent-binder",))
    e = estimates(a)["latent-binder"]
    assert e["stderr"] < 0.01
    assert abs(e["tc"] - T_STAR) < 3 * e["stderr"]
    # a level of 1/6 (where the mixture's humps first appear) would be 0.09 higher: the
    # test tells the levels apart
    assert abs(e["tc"] - (T_STAR + 0.15 * math.log(SARLE_RATIO))) > 10 * e["stderr"]


def test_chain_bootstrap_errors_are_calibrated_and_row_resampling_is_not():
    """Over independent repetitions the spread of the estimates matches the mean
    bootstrap error; resampling single rows of the autocorrelated chains instead would
    claim far too small an error."""
    methods = ("latent-susceptibility", "latent-clustering", "latent-binder")
    tcs, errs, row_errs = [], [], []
    for k in range(12):
        z, t, chain = phase_mixture(np.random.default_rng(100 + k), chains=48, length=12)
        est = estimates(tc.estimate_tc(z, t, chain, replicates=100, seed=k))
        rows = tc.estimate_tc(z, t, np.arange(z.size), replicates=100, seed=k,
                              methods=("latent-binder",))
        tcs.append([est[m]["tc"] for m in methods])
        errs.append([est[m]["stderr"] for m in methods])
        row_errs.append(estimates(rows)["latent-binder"]["stderr"])
    tcs, errs = np.array(tcs), np.array(errs)
    spread = tcs.std(axis=0, ddof=1)
    ratio = spread / errs.mean(axis=0)
    assert np.all((0.6 < ratio) & (ratio < 1.6)), ratio
    assert np.mean(row_errs) < 0.5 * spread[2], (np.mean(row_errs), spread[2])
    # and no bias beyond the noise of the repetitions
    bias = tcs[:, :2].mean(axis=0) - [phase_mixture_susceptibility_peak(), T_STAR]
    assert np.all(np.abs(bias) < 3.5 * spread[:2] / math.sqrt(len(tcs))), bias


def test_no_transition_in_range_gives_no_estimate():
    rng = np.random.default_rng(0)
    z = rng.normal(size=GRID.size * 400)                       # disordered everywhere
    t = np.repeat(GRID, 400)
    chain = np.arange(z.size) // 20
    a = tc.estimate_tc(z, t, chain, replicates=50)
    failed = {f["method"] for f in a.failures}
    assert {"latent-binder", "latent-clustering"} <= failed
    assert {e["method"] for e in a.estimates}.isdisjoint(failed)


def test_estimate_tc_refuses_bad_input():
    z, t = np.zeros(10), np.repeat([2.0, 2.5], 5)
    with pytest.raises(InputError, match="3 temperatures"):
        tc.estimate_tc(z, t, np.arange(10))
    with pytest.raises(InputError, match="method"):
        tc.estimate_tc(z, np.repeat([2.0, 2.2, 2.5, 3.0, 3.5], 2), np.arange(10),
                       methods=("vib-phase",))
    with pytest.raises(InputError, match="finite"):
        tc.estimate_tc(z, np.full(10, np.nan), np.arange(10))


def test_curve_helpers():
    t = np.array([2.0, 2.1, 2.2, 2.3])
    assert tc.peak_location(t, [0.0, 1.0, 1.0, 0.0]) == pytest.approx(2.15)
    assert math.isnan(tc.peak_location(t, [3.0, 2.0, 1.0, 0.0]))       # not bracketed
    assert tc.crossing(t, [1.0, 0.5, 0.45, 0.0], 0.5) == pytest.approx(2.2 - 0.1 * 0.05 / 0.05)
    assert math.isnan(tc.crossing(t, [0.3, 0.2, 0.1, 0.0], 0.5))
    # 2-means of two point masses splits between them
    w = np.zeros(10)
    w[[1, 8]] = [3.0, 1.0]
    assert int(tc.two_means_split(w, np.arange(10.0))) in range(1, 8)


# ------------------------------------------------------------------ bootstrap


def test_chain_bootstrap_resamples_whole_chains_per_temperature():
    t = np.concatenate([np.full(6, 2.0), np.full(4, np.nan)])
    chain = np.array([0, 0, 0, 1, 1, 1, 2, 2, 3, 3])
    boot = ChainBootstrap(t, chain, replicates=50, seed=1)
    assert boot.temperatures[0] == 2.0 and np.isnan(boot.temperatures[1])
    full, reps = boot.totals(np.ones(10))
    assert full[:, 0].tolist() == [6.0, 4.0]
    # every replicate draws 2 chains of 3 rows at T = 2, 2 chains of 2 rows at NaN
    assert np.all(reps[:, 0, 0] == 6.0) and np.all(reps[:, 1, 0] == 4.0)
    v = np.array([1, 1, 1, 5, 5, 5, 0, 0, 0, 0], float)
    _, reps = boot.totals(v)
    assert set(reps[:, 0, 0].tolist()) <= {6.0, 18.0, 30.0}       # whole chains only


def test_chain_mean_error_matches_the_spread_of_chain_means():
    rng = np.random.default_rng(2)
    chain_means = rng.normal(size=40)
    v = np.repeat(chain_means, 25) + 0.01 * rng.normal(size=1000)
    mean, err = chain_mean(v, np.full(1000, 2.0), np.repeat(np.arange(40), 25), 2000)
    assert mean == pytest.approx(v.mean())
    assert err == pytest.approx(chain_means.std() / math.sqrt(40), rel=0.1)


# ------------------------------------------------------------------ finite-size scaling


def test_fss_recovers_exact_tc_and_amplitude():
    L = np.array([12, 16, 24, 32, 48, 64])
    fit = fss.fit_fss(L, TC + 1.3 / L, np.full(L.size, 0.005))
    assert fit.tc == pytest.approx(TC, abs=1e-12) and fit.a == pytest.approx(1.3)
    assert fit.chi2 == pytest.approx(0.0, abs=1e-12) and fit.dof == 4
    free = fss.fit_fss(L, TC + 1.3 / L, np.full(L.size, 0.005), nu=None)
    assert free.tc == pytest.approx(TC, abs=1e-6) and free.nu == pytest.approx(1.0, abs=1e-4)


def test_fss_error_bars_are_calibrated():
    """Tc(L) = 2.269 + a/L with Gaussian noise of the stated size: the pulls
    (fit - truth) / stderr have mean ~0 and a spread a little under 1 (the
    sqrt(chi2/dof) rule only ever widens the errors)."""
    rng = np.random.default_rng(5)
    L = np.array([16, 24, 32, 48])
    sigma = 0.004 * (32 / L)
    pulls, plain = [], []
    for _ in range(2000):
        y = 2.269 + 1.1 / L + sigma * rng.normal(size=L.size)
        fit = fss.fit_fss(L, y, sigma)
        pulls.append((fit.tc - 2.269) / fit.tc_stderr)
        raw = fss.fit_fss(L, y, sigma, scale_errors=False)
        plain.append((raw.tc - 2.269) / raw.tc_stderr)
    pulls, plain = np.array(pulls), np.array(plain)
    assert abs(plain.mean()) < 0.08 and 0.93 < plain.std() < 1.07
    assert abs(pulls.mean()) < 0.08 and 0.75 < pulls.std() < 1.0
    assert 0.66 < np.mean(np.abs(pulls) < 1) < 0.8
    assert np.mean(np.abs(pulls) < 2) > 0.95


def test_fss_extrapolate_names_and_refusals():
    per_size = [{"method": "latent-binder", "L": L, "tc": TC + 2.0 / L, "stderr": 0.01}
                for L in (16, 24, 32)]
    per_size.append({"method": "vib-phase", "L": 16, "tc": 2.3, "stderr": 0.01})   # one size
    entries, fits = fss.extrapolate(per_size)
    assert [e["method"] for e in entries] == ["latent-binder-fss"]
    assert entries[0]["L"] is None and entries[0]["tc"] == pytest.approx(TC)
    assert fits["latent-binder-fss"]["sizes"] == [16, 24, 32]
    with pytest.raises(InputError, match="two lattice sizes"):
        fss.fit_fss([16, 16], [2.3, 2.31], [0.01, 0.01])
    with pytest.raises(InputError, match="four"):
        fss.fit_fss([16, 24, 32], [2.3, 2.29, 2.28], [0.01] * 3, nu=None)
    with pytest.raises(InputError, match="error bars"):
        fss.fit_fss([16, 32], [2.3, 2.28], [0.01, 0.0])


def test_supervised_estimates_plug_in_and_are_extrapolated():
    from isingvae.analysis.estimates import check_estimate, merge_estimates

    own = [{"method": "latent-binder", "L": L, "tc": TC + 1 / L, "stderr": 0.01}
           for L in (16, 32)]
    vib = [{"method": "vib-phase", "L": L, "tc": TC + 0.5 / L, "stderr": 0.005}
           for L in (16, 32)]
    rows, fits = merge_estimates(own, vib)
    methods = [(e["method"], e["L"]) for e in rows]
    assert ("vib-phase-fss", None) in methods and ("latent-binder-fss", None) in methods
    assert fits["vib-phase-fss"]["tc"] == pytest.approx(TC)
    for bad in ({"method": "x", "L": 16, "tc": math.nan, "stderr": 0.1},
                {"method": "x-fss", "L": 16, "tc": 2.3, "stderr": 0.1},
                {"method": "x", "L": None, "tc": 2.3, "stderr": 0.1},
                {"method": "x", "tc": 2.3}):
        with pytest.raises(InputError):
            check_estimate(bad)


# ------------------------------------------------------------------ sample physics


def test_wasserstein1_hand_computed():
    assert samples.wasserstein1([0.0], [1.0]) == pytest.approx(1.0)
    assert samples.wasserstein1([0.0, 1.0], [0.0, 2.0]) == pytest.approx(0.5)
    assert samples.wasserstein1([1.0, 2.0, 3.0], [3.0, 1.0, 2.0]) == 0.0
    # a shift moves every quantile by the same amount
    x = np.random.default_rng(0).normal(size=500)
    assert samples.wasserstein1(x, x + 0.3) == pytest.approx(0.3)
    # weights: 1/4 of the mass at 0 and 3/4 at 1, against all of it at 1
    assert samples.wasserstein1([0.0, 1.0], [1.0], u_weights=[1, 3]) == pytest.approx(0.25)
    assert samples.wasserstein1([0.0, 1.0], [1.0], [1, 3]) == \
        samples.wasserstein1([1.0], [0.0, 1.0], v_weights=[1, 3])
    with pytest.raises(InputError):
        samples.wasserstein1([], [1.0])


def test_correlation_function_hand_computed():
    L = 8
    up = np.ones((L, L), np.int8)
    board = (np.indices((L, L)).sum(axis=0) % 2 * 2 - 1).astype(np.int8)
    stripes = np.tile(np.where(np.arange(L) % 2, 1, -1).astype(np.int8), (L, 1))
    r = np.arange(L // 2 + 1)
    np.testing.assert_allclose(samples.correlation_function(up), np.ones(r.size))
    np.testing.assert_allclose(samples.correlation_function(board), (-1.0) ** r)
    # columns alternate, rows are constant: the average of the two directions
    np.testing.assert_allclose(samples.correlation_function(stripes), (1 + (-1.0) ** r) / 2)
    np.testing.assert_allclose(samples.mean_correlation(np.stack([up, board])),
                               (1 + (-1.0) ** r) / 2)


def _columns(spins, temperature, chain=None):
    from isingvae import lattice

    spins = np.asarray(spins, np.int8)
    n = len(spins)
    return {"spins": spins, "temperature": np.broadcast_to(np.asarray(temperature, float), (n,)),
            "energy": lattice.energy(spins), "magnetization": lattice.magnetization(spins),
            "chain": np.arange(n) if chain is None else chain}


def test_compare_samples_pools_the_mixture_as_weighted_in_the_file():
    L = 4
    up = np.ones((L, L), np.int8)
    board = (np.indices((L, L)).sum(axis=0) % 2 * 2 - 1).astype(np.int8)
    # reference: 100 ordered rows (e = -2) at T = 2, 300 checkerboards (e = +2) at T = 3
    ref = _columns(np.stack([up] * 100 + [board] * 300), np.repeat([2.0, 3.0], [100, 300]),
                   np.repeat(np.arange(40), 10))
    gen = _columns(np.stack([board] * 50), np.nan)              # unconditional: T = NaN
    (row,) = samples.compare_samples(gen, ref, replicates=50)
    assert row["temperature"] is None and row["n_monte_carlo"] == 400
    e = row["energy"]
    assert e["monte_carlo_mean"] == pytest.approx(0.25 * -2 + 0.75 * 2)
    assert e["generated_mean"] == pytest.approx(2.0)
    assert e["w1"] == pytest.approx(0.25 * 4.0)                 # a quarter moved by 4
    assert row["abs_m"]["w1"] == pytest.approx(0.25)            # |m|: 1 against 0
    r = np.arange(3)
    np.testing.assert_allclose(row["correlation"]["monte_carlo"], 0.25 + 0.75 * (-1.0) ** r)
    np.testing.assert_allclose(row["correlation"]["generated"], (-1.0) ** r)
    # a conditional model's rows meet the reference at their own temperature
    (row,) = samples.compare_samples(_columns(np.stack([up] * 5), 2.0), ref, replicates=20)
    assert row["temperature"] == 2.0 and row["energy"]["w1"] == 0.0
    assert row["energy"]["monte_carlo_stderr"] == 0.0
    with pytest.raises(InputError, match=r"T = 2\.5"):
        samples.compare_samples(_columns(np.stack([up]), 2.5), ref)


# ------------------------------------------------------------------ latent statistics


def test_mutual_information_hand_cases():
    rng = np.random.default_rng(0)
    t = np.repeat([1.5, 2.0, 2.5, 3.0], 2500)
    assert latent.mutual_information(t, t) == pytest.approx(math.log(4), rel=1e-3)
    x, y = rng.normal(size=(2, 20000))
    assert latent.mutual_information(x, y) < 0.005
    rho = 0.8
    y = rho * x + math.sqrt(1 - rho**2) * y
    exact = -0.5 * math.log(1 - rho**2)                         # 0.51 nats
    mi = latent.mutual_information(x, y)
    assert 0.8 * exact < mi < 1.02 * exact                      # binning loses a little
    assert latent.mutual_information(np.exp(x), y**3) == pytest.approx(mi)   # ranks only


def test_order_parameter_finds_the_magnetization_direction():
    rng = np.random.default_rng(1)
    m = np.concatenate([rng.choice([-0.9, 0.9], 600), rng.normal(0, 0.1, 600)])
    m = m + 0.02 * rng.normal(size=m.size)
    other = rng.normal(0, 0.3, m.size)                          # e.g. an energy direction
    rot = np.array([[0.6, -0.8], [0.8, 0.6]])
    mu = np.stack([2 * m, other], 1) @ rot.T
    mu = np.concatenate([mu, 1e-3 * rng.normal(size=(m.size, 3))], 1)   # collapsed dims
    assert latent.active_dimensions(mu).tolist() == [0, 1]
    op = latent.order_parameter(mu)
    assert abs(latent.pearson(op.zeta, m)) > 0.99
    assert op.zeta.std() == pytest.approx(1.0)
    np.testing.assert_allclose(op.project(mu), op.zeta)
    table = latent.correlation_table(mu, {"m": m, "abs_m": np.abs(m)})
    assert set(table) == {"z0", "z1", "z2", "z3", "z4", "norm"}
    assert abs(table["z0"]["m"]) > 0.5 and abs(table["norm"]["abs_m"]) > 0.9


def test_order_parameter_weighs_coordinates_by_the_encoders_resolution():
    """A well-resolved magnetization coordinate beats a wider but poorly resolved one."""
    rng = np.random.default_rng(3)
    m = rng.choice([-1.0, 1.0], 2000) * rng.uniform(0.2, 1.0, 2000)
    mu = np.stack([m, 1.5 * rng.normal(size=m.size) + 0.3 * m], 1)
    log_var = np.log(np.broadcast_to([0.1**2, 0.8**2], mu.shape))
    raw = latent.order_parameter(mu)
    scaled = latent.order_parameter(mu, log_var=log_var)
    assert abs(latent.pearson(raw.zeta, m)) < 0.6
    assert abs(latent.pearson(scaled.zeta, m)) > 0.95
    np.testing.assert_allclose(scaled.unit, [0.1, 0.8])
    np.testing.assert_allclose(scaled.project(mu), scaled.zeta)


def test_estimators_import_neither_tensorflow_nor_matplotlib():
    code = ("import sys\n"
            "import isingvae.analysis.tc, isingvae.stats.fss, isingvae.analysis.samples\n"
            "import isingvae.analysis.latent, isingvae.stats.resampling\n"
            "import isingvae.cli.analyze\n"
            "loaded = {m.split('.')[0] for m in sys.modules}\n"
            "assert not loaded & {'tensorflow', 'keras', 'matplotlib'}, loaded\n"
            "import isingvae.analysis.report\n"
            "assert not {m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=ROOT)


# ------------------------------------------------------------------ the command


def _parse(argv):
    from isingvae.cli import analyze

    p = argparse.ArgumentParser()
    analyze.add_arguments(p)
    return p.parse_args([str(a) for a in argv])


def _run(argv):
    from isingvae.cli import analyze

    return analyze.execute(_parse(argv))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for one epoch on the bundled L = 16 file, evaluated."""
    pytest.importorskip("tensorflow")
    from isingvae.evaluation import evaluate, sample
    from isingvae.training import train

    root = tmp_path_factory.mktemp("analysis")
    train(L16, root / "run16", TINY, verbose=0)
    evaluate(root / "run16", iw_samples=4, progress=False)
    sample(root / "run16", 20, root / "generated16.h5")
    return root


def _strict_json(path):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(Path(path).read_text(), parse_constant=refuse)


def _check_report(out, sizes, min_r_m=0.3):
    rep = _strict_json(out / "report.json")
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]   # no leftovers
    est = rep["tc_estimates"]
    assert est, rep["tc_failures"]
    for e in est:
        assert set(e) >= {"method", "L", "tc", "stderr"}
        assert not e["method"].startswith(("vib", "classifier"))
        assert (e["L"] is None) == e["method"].endswith("-fss")
        assert e["L"] is None or e["L"] in sizes
        assert math.isfinite(e["tc"]) and e["stderr"] >= 0
    assert {e["method"] for e in est} <= {*tc.METHODS, *(f"{m}-fss" for m in tc.METHODS)}
    corr = rep["latent_magnetization_correlation"]
    assert set(corr) >= {"m", "abs_m"} and 0 <= corr["abs_m"] <= 1
    assert min_r_m < corr["m"] <= 1
    for name in rep["figures"]:
        assert "/" not in name
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for L in sizes:
        for kind in ("latent_scatter", "latent_vs_m", "order_parameter", "reconstructions",
                     "samples", "sample_physics"):
            assert f"{kind}_L{L}.png" in rep["figures"], rep["figures"]
    return rep


def test_analyze_end_to_end(trained, tmp_path, capsys):
    out = tmp_path / "report"
    code = _run([trained / "run16", "--data", L16, "--out", out, "--samples", 200,
                 "--bootstrap", 30, "--quiet"])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "wrote" in stdout and "report.json" in stdout
    rep = _check_report(out, [16])
    assert "nll_entropy.png" in rep["figures"] and "tc_L16.png" in rep["figures"]
    (run,) = rep["runs"]
    assert run["L"] == 16 and run["latent_dim"] == 2
    nll = run["nll"]
    assert nll and all(r["nll_per_spin"] > r["exact_entropy_per_spin"] for r in nll)
    (mix,) = run["samples"]["comparisons"]
    assert mix["temperature"] is None and mix["n_generated"] == 200
    assert mix["energy"]["exact_mean"] == pytest.approx(mix["energy"]["monte_carlo_mean"],
                                                        abs=0.02)
    assert set(run["mutual_information_nats"]["norm"]) == {"m", "abs_m", "energy",
                                                           "temperature"}
    assert {e["method"][len("magnetization-"):] for e in rep["tc_reference"]["estimates"]} \
        <= {m[len("latent-"):] for m in tc.METHODS}


def test_analyze_compares_a_conditional_model_per_temperature(trained, tmp_path):
    """The default model (autoregressive, conditioned on T) generates at every training
    temperature; each is compared with Monte Carlo and Kaufman on its own."""
    from isingvae.training import train

    run = trained / "run16-conditional"
    train(L16, run, TrainConfig(epochs=1, filters=(4, 8), units=(16,), latent_dim=2,
                                batch_size=64, temperatures=(1.5, 2.25, 3.0, 3.5)),
          verbose=0)
    out = tmp_path / "report"
    assert _run([run, "--data", L16, "--out", out, "--samples", 120, "--bootstrap", 10,
                 "--quiet"]) == 0
    # one epoch of a latent of 2 under the default decoder, whose local terms model the
    # neighbours from the start: the latent has learnt |m| (|r| ~ 0.9) but not yet the
    # sign, which is not what this test is about
    rep = _check_report(out, [16], min_r_m=0.0)
    comparisons = rep["runs"][0]["samples"]["comparisons"]
    assert rep["runs"][0]["samples"]["per_temperature"]
    assert [c["temperature"] for c in comparisons] == [1.5, 2.25, 3.0, 3.5]
    for c in comparisons:
        assert c["n_generated"] == 30
        exact_c = c["specific_heat"]["exact"]
        assert exact_c > 0 and c["energy"]["exact_mean"] < 0
        mc = c["specific_heat"]["monte_carlo"]          # the data agree with Kaufman
        assert abs(mc - exact_c) < 5 * c["specific_heat"]["monte_carlo_stderr"] + 0.05
        assert math.isfinite(c["susceptibility"]["generated"])
    assert "sample_physics_L16.png" in rep["figures"]


def test_analyze_an_ensemble_combines_runs_on_one_file(trained, tmp_path, capsys):
    """Two runs on the same file form an ensemble: one estimate per method, its error
    the chain part and the spread of the two runs in quadrature; the data's own
    (magnetization) estimates and the samples are made once."""
    from dataclasses import replace

    from isingvae import exact
    from isingvae.training import train

    train(L16, trained / "run16-seed7", replace(TINY, seed=7), verbose=0)
    out = tmp_path / "report"
    assert _run([trained / "run16", trained / "run16-seed7", "--data", L16, L16, "--out",
                 out, "--samples", 40, "--bootstrap", 20, "--quiet"]) == 0
    assert "exact specific-heat peak" in capsys.readouterr().out
    rep = _check_report(out, [16])
    assert rep["ensembles"] == [{"data": str(L16), "L": 16,
                                 "runs": [str(trained / "run16"),
                                          str(trained / "run16-seed7")]}]
    members = [{e["method"]: e["tc"] for e in r["tc"]["estimates"]} for r in rep["runs"]]
    assert [r["ensemble_member"] for r in rep["runs"]] == [0, 1]
    sized = [e for e in rep["tc_estimates"] if e["L"] == 16]
    assert len({e["method"] for e in sized}) == len(sized)          # one per method
    for e in sized:
        both = [m[e["method"]] for m in members if e["method"] in m]
        assert e["member_tc"] == pytest.approx(both) and e["ensemble"] == len(both)
        assert e["tc"] == pytest.approx(np.mean(both))
        if e["stderr_model"] is not None:
            assert e["stderr"] == pytest.approx(math.hypot(e["stderr_chains"],
                                                           e["stderr_model"]))
            assert e["stderr_model"] == pytest.approx(e["model_spread"] / math.sqrt(2))
    ref = [(e["method"], e["L"]) for e in rep["tc_reference"]["estimates"]]
    assert len(ref) == len(set(ref))
    (peak,) = rep["tc_reference"]["exact_specific_heat_peak"]
    assert peak["L"] == 16 and peak["tc"] == pytest.approx(exact.specific_heat_peak(16))
    assert "tc_L16_member2.png" in rep["figures"] and "latent_scatter_L16_member2.png" \
        not in rep["figures"]
    assert [f for f in rep["files"] if f.endswith(".h5")] == ["samples_L16.h5"]
    assert set(rep["tc_headline"]) >= {"methods", "tc", "stderr", "consistent", "note"}


@pytest.mark.slow
def test_analyze_two_sizes_extrapolates(trained, tmp_path):
    from isingvae.training import train

    train(L32, trained / "run32", TINY, verbose=0)
    out = tmp_path / "report"
    assert _run([trained / "run16", trained / "run32", "--data", L16, L32, "--out", out,
                 "--samples", 200, "--bootstrap", 40, "--quiet"]) == 0
    rep = _check_report(out, [16, 32])
    fss_rows = [e for e in rep["tc_estimates"] if e["L"] is None]
    assert fss_rows and "fss.png" in rep["figures"]
    for e in fss_rows:
        assert rep["fss"][e["method"]]["sizes"] == [16, 32]
    assert rep["runs"][1]["nll"] is None and "evaluate" in rep["runs"][1]["nll_note"]


BAD_CASES = [
    (lambda r, t: [r / "run16", r / "run32", "--data", L16, "--out", t / "o"], "pair up"),
    (lambda r, t: [r / "run16", "--out", t / "o"], "--data"),
    (lambda r, t: [t / "nowhere", "--data", L16, "--out", t / "o"], "not a run directory"),
    (lambda r, t: [r / "run16", "--data", t / "missing.h5", "--out", t / "o"], "missing.h5"),
    (lambda r, t: [r / "run16", "--data", L32, "--out", t / "o"], "L = 32"),
    (lambda r, t: [r / "run16", "--data", r / "generated16.h5", "--out", t / "o"],
     "unknown temperature"),
    (lambda r, t: [r / "run16", "--data", L16, "--out", t / "o", "--bootstrap", 1],
     "--bootstrap"),
    (lambda r, t: [r / "run16", "--data", L16, "--out", t / "o", "--samples", -1], "--samples"),
    (lambda r, t: [r / "run16", "--data", L16, "--out", t / "o", "--seed", -3], "seed"),
    (lambda r, t: [r / "run16", "--data", L16, "--out", t / "file.txt"], "not a directory"),
    (lambda r, t: [r / "run16", r / "run16", "--data", L16, L16, "--out", t / "o"], "twice"),
]


def test_analyze_refuses_bad_input_in_one_line(trained, tmp_path):
    (tmp_path / "file.txt").write_text("keep me")
    for make, needle in BAD_CASES:
        with pytest.raises(InputError) as info:
            _run(make(trained, tmp_path))
        msg = str(info.value)
        assert needle in msg and "\n" not in msg, msg
    assert not (tmp_path / "o").exists()
    assert (tmp_path / "file.txt").read_text() == "keep me"


def test_bad_input_is_refused_before_tensorflow_is_imported(tmp_path):
    code = (
        "import argparse, sys\n"
        "from isingvae.cli import analyze\n"
        "from isingvae.errors import InputError\n"
        "p = argparse.ArgumentParser(); analyze.add_arguments(p)\n"
        f"args = p.parse_args([{str(tmp_path / 'nothing')!r}, '--data', {str(L16)!r},\n"
        f"                     '--out', {str(tmp_path / 'o')!r}])\n"
        "try:\n    analyze.execute(args)\nexcept InputError as exc:\n    print(exc)\n"
        "assert 'tensorflow' not in sys.modules\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "not a run directory" in res.stdout


def test_cli_analyze(trained, tmp_path, capsys):
    from isingvae import cli

    out = tmp_path / "r"
    code = cli.main(["analyze", str(trained / "run16"), "--data", str(L16), "--out", str(out),
                     "--samples", "50", "--bootstrap", "20", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert _strict_json(out / "report.json")["figures"]
    code = cli.main(["analyze", str(trained / "run16"), "--data", str(L32), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "L = 32" in err


def test_order_parameter_of_a_conditioned_model_is_a_function_of_the_configuration():
    """A model conditioned on T encodes each row at its own temperature (its latents) and,
    for the order parameter, every row at one reference temperature, the centre of its
    training range: the T_c estimators then compare one fixed map of configurations
    across temperatures, as they do with the magnetization."""
    pytest.importorskip("tensorflow")
    from isingvae.analysis.encode import encode, encode_pair, model_inputs
    from isingvae.data import IsingDataset
    from isingvae.training import build_model

    ds = IsingDataset(L16).select(temperature=[1.5, 3.5])
    cfg = TrainConfig(epochs=1, filters=(4, 8), units=(16,), latent_dim=2)
    model = build_model(cfg, 16, 10, temperatures=ds.temperature)
    assert model.conditioned
    codes = encode_pair(model, ds)
    at_t0 = np.full_like(ds.temperature, float(model.t_center))
    ref, ref_lv = encode(model, model_inputs(model, ds.x, at_t0))
    flip, _ = encode(model, model_inputs(model, 1.0 - ds.x, at_t0))
    np.testing.assert_allclose(codes.order, np.concatenate([ref, flip]), rtol=1e-6)
    np.testing.assert_allclose(codes.order_lv[:ds.n], ref_lv, rtol=1e-6)
    own, _ = encode(model, model_inputs(model, ds.x, ds.temperature))
    np.testing.assert_allclose(codes.mean, own, rtol=1e-6)
    assert np.abs(codes.order[:ds.n] - codes.mean).max() > 1e-4    # T reaches the encoder
    plain = build_model(TINY, 16, 10, temperatures=ds.temperature)
    plain_codes = encode_pair(plain, ds)
    assert plain_codes.order is plain_codes.both
