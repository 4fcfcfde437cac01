"""When the error bars of neural importance sampling can be trusted.

The Pareto k-hat (Zhang and Stephens' fit of a generalized Pareto tail) must recover the
shape of known generalized Pareto samples; the reliability rule must pass well-behaved
log-weights and reject heavy-tailed, too few or correlated ones with the right reason;
``draws_needed`` must follow its documented formula; and the figure must draw rows with
and without the diagnostics.  None of this needs TensorFlow.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from isingvae.evaluation import importance
from isingvae.evaluation.importance import (
    BATCH_RATIO_MAX,
    ESS_MIN,
    PARETO_K_MAX,
    fit_generalized_pareto,
    pareto_k,
    reliability,
)


def _gpd(k: float, sigma: float, n: int, seed: int) -> np.ndarray:
    """Draws of a generalized Pareto distribution by inversion: x = sigma (U^-k - 1) / k."""
    u = np.random.default_rng(seed).random(n)
    return sigma * np.expm1(-k * np.log(u)) / k


def _row(log_w: np.ndarray) -> dict:
    """Estimates of draws whose log-weights are ``log_w`` (zero energy, N = 1, T = 1)."""
    rng = np.random.default_rng(99)
    return importance.importance_estimates(np.zeros(log_w.size),
                                           rng.uniform(-1, 1, log_w.size), log_w, 1.0, 1)


# the generalized Pareto fit ------------------------------------------------------------

@pytest.mark.parametrize("k", [0.2, 0.5, 0.9])
def test_the_fit_recovers_the_shape_of_known_generalized_pareto_samples(k):
    """2000 draws: the estimator's spread is about 0.03-0.05 here, so each of five seeds
    must land within 0.12 of k and their mean within 0.05; the scale within 15 %."""
    fits = [fit_generalized_pareto(_gpd(k, 1.7, 2000, seed)) for seed in range(5)]
    shapes = np.array([f[0] for f in fits])
    assert np.all(np.abs(shapes - k) < 0.12), shapes
    assert abs(shapes.mean() - k) < 0.05, shapes
    for _, sigma in fits:
        assert sigma == pytest.approx(1.7, rel=0.15)
    # the prior of PSIS moves k towards 1/2 by 10 (1/2 - k) / (M + 10), no more
    raw = fit_generalized_pareto(_gpd(k, 1.7, 2000, 0), prior=False)[0]
    assert shapes[0] == pytest.approx((2000 * raw + 5) / 2010, abs=1e-12)


def test_the_fit_does_not_depend_on_the_scale_and_refuses_nonsense():
    x = _gpd(0.4, 1.0, 500, 1)
    assert fit_generalized_pareto(1e-6 * x)[0] == pytest.approx(fit_generalized_pareto(x)[0],
                                                                abs=1e-9)
    for bad in ([1.0], [1.0, -2.0, 3.0], [0.0, 1.0, 2.0], [1.0, np.inf, 2.0]):
        with pytest.raises(Exception, match="exceedances"):
            fit_generalized_pareto(bad)


@pytest.mark.parametrize("k", [0.3, 0.8])
def test_pareto_k_of_weights_is_the_shape_of_their_tail(k):
    """Weights drawn from a generalized Pareto law have a tail of the same shape; with
    20000 draws the 425 largest are fitted."""
    for seed in range(3):
        log_w = np.log(_gpd(k, 1.0, 20000, seed) + 0.01)
        assert abs(pareto_k(log_w) - k) < 0.15
        assert pareto_k(log_w + 700.0) == pytest.approx(pareto_k(log_w), abs=1e-9)


def test_pareto_k_is_none_where_no_tail_can_be_fitted_and_large_for_huge_spreads():
    assert pareto_k(np.zeros(1000)) is None                 # an exact model: tied weights
    assert pareto_k(np.random.default_rng(0).normal(size=20)) is None   # M = 4 < 5
    assert pareto_k(np.random.default_rng(0).normal(size=25)) is not None
    # log-weights over hundreds of nats: the smallest exceedances underflow, k stays huge
    assert pareto_k(np.random.default_rng(0).normal(0, 300, 4000)) > 5


# the rule ------------------------------------------------------------------------------

def test_narrow_gaussian_log_weights_are_reliable_and_keep_the_delta_method():
    row = _row(np.random.default_rng(1).normal(0, 0.3, 4000))
    assert row["reliable"] and row["unreliable_because"] is None
    assert row["draws_needed"] is None and not row["stderr_inflated"]
    assert row["ess"] > 3000 and row["ess"] == pytest.approx(row["ess_fraction"] * 4000)
    assert row["pareto_k"] < 0.3
    assert row["batches"] == importance.BATCHES
    for key in importance.QUANTITIES:
        assert row[f"{key}_stderr"] == row["stderr_delta"][key]
        assert row["stderr_batch"][key] == pytest.approx(row["stderr_delta"][key], rel=0.6)
    lz = row["stderr_delta"]["log_z_per_spin"]
    assert row["stderr_batch"]["log_z_per_spin"] < BATCH_RATIO_MAX * lz


def test_heavy_tailed_log_weights_are_unreliable_for_the_right_reasons():
    """Log-normal weights of log-spread 4: Kish ESS of a few draws out of 4000."""
    rng = np.random.default_rng(2)
    row = _row(rng.normal(-8.0, 4.0, 4000))
    assert not row["reliable"]
    assert row["ess"] < 20 and row["pareto_k"] > PARETO_K_MAX
    assert "Pareto k-hat" in row["unreliable_because"] and "ESS" in row["unreliable_because"]
    assert row["draws_needed"] is None                    # k > 0.7: more draws will not do
    assert row["stderr_inflated"]
    for key in importance.QUANTITIES:
        assert row[f"{key}_stderr"] >= row["stderr_delta"][key]
        assert row[f"{key}_stderr"] == pytest.approx(
            max(row["stderr_delta"][key], row["stderr_batch"][key])
            + abs(row["batch_shift"][key]))
    # the inflated error bar of ln Z covers the truth (ln E[w] = 0) where the delta one
    # does not, for this seed
    assert abs(row["log_z_per_spin"]) > 2 * row["stderr_delta"]["log_z_per_spin"]
    assert abs(row["log_z_per_spin"]) < 2 * row["log_z_per_spin_stderr"]
    assert row["free_energy_per_spin_stderr"] == pytest.approx(row["log_z_per_spin_stderr"])


def test_too_few_effective_draws_is_unreliable_and_says_how_many_would_do():
    row = _row(np.random.default_rng(0).normal(0, 1, 150))
    assert not row["reliable"] and row["pareto_k"] <= PARETO_K_MAX
    assert row["unreliable_because"] == f"ESS {row['ess']:.1f} < {ESS_MIN} draws"
    assert row["draws_needed"] == math.ceil(150 * ESS_MIN / row["ess"])


def test_correlated_draws_fail_the_batch_check():
    """Each draw repeated 50 times: the delta method counts 10000 independent draws where
    there are 200; the batches see it."""
    row = _row(np.repeat(np.random.default_rng(3).normal(0, 0.5, 200), 50))
    assert row["ess"] > ESS_MIN
    assert not row["reliable"] and "batch error" in row["unreliable_because"]
    assert row["draws_needed"] is None


def test_draws_needed_follows_its_documented_formula():
    ok = dict(stderr_delta=0.1, stderr_batch=0.1)
    assert reliability(1000, 500.0, 0.2, **ok) == {
        "reliable": True, "unreliable_because": None, "draws_needed": None}
    # finite variance: the ESS grows as n
    assert reliability(1000, 50.0, 0.3, **ok)["draws_needed"] == 2000
    assert reliability(1000, 50.0, None, **ok)["draws_needed"] == 2000
    # 1/2 < k <= 0.7: as n^(2(1-k))
    assert reliability(1000, 50.0, 0.6, **ok)["draws_needed"] == math.ceil(
        1000 * 2 ** (1 / 0.8))
    # ... and never under 10^(1/(1-k)), Vehtari et al.'s sample size for that k
    assert reliability(1000, 99.0, 0.69, **ok)["draws_needed"] == math.ceil(10 ** (1 / 0.31))
    # unknown where more draws alone do not help
    assert reliability(1000, 50.0, 0.71, **ok)["draws_needed"] is None
    assert reliability(1000, 500.0, 0.2, 0.1, 0.25)["draws_needed"] is None
    # fewer effective draws, more draws needed
    needed = [reliability(1000, ess, 0.4, **ok)["draws_needed"] for ess in (5, 20, 80)]
    assert needed == sorted(needed, reverse=True) and needed[-1] > 1000
    # each clause on its own, and all three together
    assert reliability(1000, 500.0, 0.75, **ok)["unreliable_because"] == "Pareto k-hat 0.75 > 0.7"
    assert reliability(1000, 500.0, 0.2, 0.1, 0.21)["unreliable_because"].startswith(
        "batch error of ln Z 2.1x")
    assert reliability(1000, 500.0, 0.2, 0.1, 0.2)["reliable"]          # 2x exactly: fine
    three = reliability(1000, 10.0, 0.9, 0.1, 0.5)["unreliable_because"].split("; ")
    assert len(three) == 3


def test_rows_are_plain_json_and_keep_every_old_key():
    rng = np.random.default_rng(4)
    for log_w in (rng.normal(0, 0.3, 500), rng.normal(0, 4, 500), np.zeros(500),
                  rng.normal(size=12)):
        row = _row(log_w)
        text = json.dumps(row, allow_nan=False)              # no NaN, no infinity
        assert json.loads(text) == row
        for key in ("temperature", "n", "ess_fraction", "ess_warning", "specific_heat",
                    "specific_heat_stderr", "susceptibility", "susceptibility_stderr"):
            assert key in row
        for key in importance.QUANTITIES:
            assert row[f"{key}_stderr"] >= 0
    tiny = _row(rng.normal(size=12))                          # too few draws for batches
    assert tiny["batches"] == 0 and tiny["stderr_batch"] is None and not tiny["reliable"]
    assert not tiny["stderr_inflated"]
    assert importance.thresholds()["ess_min"] == ESS_MIN


# the figure ----------------------------------------------------------------------------

def test_the_figure_is_written_with_and_without_diagnostics_and_exact_values(tmp_path):
    pytest.importorskip("matplotlib")
    from isingvae import exact
    from isingvae.analysis.thermo_figure import thermo_figure

    rng = np.random.default_rng(5)
    rows = []
    for T, spread in ((2.0, 0.3), (2.3, 4.0), (2.6, 1.0)):
        e = rng.uniform(-2, -1, 3000)
        row = importance.importance_estimates(e, rng.uniform(-1, 1, 3000),
                                              rng.normal(0, spread, 3000) + 16 * e / T, T, 16)
        ex = exact.reference(4, T, 1.0, 0.0)
        row["exact"] = {"free_energy_per_spin": float(ex.free_energy),
                        "energy_per_spin": float(ex.energy)}
        rows.append(row)
    assert [r["reliable"] for r in rows] == [True, False, True]
    result = {"L": 4, "J": 1.0, "h": 0.0, "n": 3000, "per_temperature": rows}
    assert thermo_figure(result, tmp_path / "a.png") == "a.png"
    assert (tmp_path / "a.png").stat().st_size > 1000
    # no exact value (F itself is drawn), and a row written before the diagnostics
    old = {k: v for k, v in rows[0].items() if k in (
        "temperature", "n", "ess_fraction", "free_energy_per_spin",
        "free_energy_per_spin_stderr", "energy_per_spin", "energy_per_spin_stderr",
        "specific_heat", "specific_heat_stderr", "entropy_per_spin",
        "entropy_per_spin_stderr")}
    old["exact"] = None
    for r in rows:
        r["exact"] = None
    thermo_figure({"L": 4, "n": 3000, "per_temperature": [old, *rows[1:]]}, tmp_path / "b.png")
    assert (tmp_path / "b.png").stat().st_size > 1000
