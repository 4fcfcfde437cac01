"""Failed bootstrap replicates: one rule (stats.resampling.replicate_error), the same
counts, flag and error bar from the unsupervised and the supervised T_c estimators, and
the counts carried through ensembles and finite-size-scaling extrapolations."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from isingvae.analysis import supervised, tc
from isingvae.analysis.estimates import merge_estimates
from isingvae.stats import ensemble, resampling
from isingvae.stats.resampling import (
    FAILED_REPLICATES_FLAG,
    combined_replicate_counts,
    replicate_error,
)

# ------------------------------------------------------------------ the rule


def test_no_failures_is_the_plain_spread():
    v = np.random.default_rng(0).normal(2.3, 0.01, 200)
    r = replicate_error(v)
    assert r.stderr == float(np.std(v, ddof=1))
    assert (r.replicates, r.failed, r.succeeded) == (200, 0, 200)
    assert not r.flagged and r.usable and r.note("why") is None
    assert r.report_keys() == {"replicates": 200, "failed_replicates": 0,
                               "replicates_flag": False}


@pytest.mark.parametrize(("failed", "flag"), [(3, False), (5, False), (6, True), (40, True)])
def test_failures_are_counted_left_out_and_flagged_above_five_percent(failed, flag):
    assert FAILED_REPLICATES_FLAG == 0.05
    v = np.random.default_rng(1).normal(2.3, 0.01, 100)
    bad = v.copy()
    bad[:failed] = np.nan
    bad[1] = np.inf if failed > 1 else bad[1]          # any non-finite value fails
    r = replicate_error(bad)
    assert r.stderr == float(np.std(v[failed:], ddof=1))
    assert (r.replicates, r.failed, r.succeeded) == (100, failed, 100 - failed)
    assert r.flagged is flag and r.usable
    assert r.report_keys() == {"replicates": 100, "failed_replicates": failed,
                               "replicates_flag": flag}
    note = r.note("no crossing")
    assert (note is not None) is flag
    if flag:
        assert f"{failed} of 100" in note and "no crossing" in note


@pytest.mark.parametrize("good", [0, 1])
def test_all_or_all_but_one_failed_leaves_no_error_bar(good):
    v = np.full(20, np.nan)
    v[:good] = 2.3
    r = replicate_error(v)
    assert math.isnan(r.stderr) and not r.usable and r.flagged
    assert r.failed == 20 - good and r.replicates == 20
    assert f"({good} of 20" in r.reason()
    empty = replicate_error([])
    assert math.isnan(empty.stderr) and empty.replicates == 0 and not empty.flagged


def test_combined_counts_sum_and_flag_when_any_part_is_flagged():
    ok = {"replicates": 100, "failed_replicates": 2, "replicates_flag": False}
    bad = {"replicates": 100, "failed_replicates": 20, "replicates_flag": True}
    assert combined_replicate_counts([ok, ok]) == {
        "replicates": 200, "failed_replicates": 4, "replicates_flag": False}
    # 30 of 1000 in all is 3 %, but one part's error bar is unreliable
    assert combined_replicate_counts([ok] * 9 + [bad])["replicates_flag"] is True
    # a flag is recomputed from the counts when an entry lacks it
    assert combined_replicate_counts([{"replicates": 10, "failed_replicates": 1}]) == {
        "replicates": 10, "failed_replicates": 1, "replicates_flag": True}
    assert combined_replicate_counts([{"tc": 2.3}]) == {}


# ------------------------------------------------------------------ both estimators


def _two_phase_chains(ordered_at_top: int, chains_at_top: int, per_chain: int = 4):
    """Chains wholly ordered (1) or disordered (0) at three temperatures: every chain
    ordered at 2.0 and 2.2, ``ordered_at_top`` of ``chains_at_top`` at 2.4.  The ordered
    fraction of the latent clustering and a classifier's mean output p = 1 / 0 are then
    the same curve on every bootstrap replicate, so both fail on the same replicates."""
    order, T, chain = [], [], []
    cid = 0
    for t, n, k in [(2.0, 3, 3), (2.2, 3, 3), (2.4, chains_at_top, ordered_at_top)]:
        for c in range(n):
            T.append(np.full(per_chain, t))
            chain.append(np.full(per_chain, cid))
            order.append(np.full(per_chain, 1.0 if c < k else 0.0))
            cid += 1
    order, T, chain = np.concatenate(order), np.concatenate(T), np.concatenate(chain)
    zeta = order * np.where(np.arange(order.size) % 2, 1.0, -1.0)
    return zeta, order, T, chain


def _both(ordered_at_top, chains_at_top, replicates, seed):
    zeta, p, T, chain = _two_phase_chains(ordered_at_top, chains_at_top)
    latent = tc.estimate_tc(zeta, T, chain, L=8, methods=("latent-clustering",),
                            replicates=replicates, seed=seed)
    sup = supervised.crossing_estimate(p, T, chain, L=8, method="classifier-test",
                                       replicates=replicates, seed=seed)
    return latent, sup


KEYS = ("replicates", "failed_replicates", "replicates_flag")


@pytest.mark.parametrize(("ordered", "chains", "flag"), [(0, 3, False), (2, 10, False),
                                                         (1, 3, True)])
def test_latent_and_supervised_estimates_count_the_same_failures(ordered, chains, flag):
    latent, sup = _both(ordered, chains, replicates=200, seed=3)
    (lat,) = latent.estimates
    assert not latent.failures
    assert {k: lat[k] for k in KEYS} == {k: sup[k] for k in KEYS}
    assert lat["replicates"] == sup["bootstrap"] == lat["bootstrap"] == 200
    assert lat["replicates_flag"] is flag
    assert (lat["failed_replicates"] > 0) is (ordered > 0)
    if ordered == 2:                                        # a few, under 5 %
        assert 0 < lat["failed_replicates"] <= 10
    assert lat["tc"] == pytest.approx(sup["tc"])
    assert lat["stderr"] == pytest.approx(sup["stderr"], rel=1e-12)
    assert ("note" in lat) is flag and ("note" in sup) is flag


def test_a_flagged_estimate_reaches_the_report_unchanged(monkeypatch):
    """phase_crossing (the analyze plug-in) passes the counts through, and gives a
    failure where the latent estimator gives one, with the same reason and counts."""
    import isingvae.evaluation.heads as heads

    def ctx(p, T, chain, replicates, seed):
        ds = SimpleNamespace(x=p, h=0.5, temperature=T, chain=chain, L=8)
        model = SimpleNamespace(predicts=("phase",))
        return SimpleNamespace(model=model, dataset=ds,
                               settings={"bootstrap": replicates, "seed": seed})

    monkeypatch.setattr(heads, "predictions", lambda model, x, what: x)
    _, p, T, chain = _two_phase_chains(1, 3)
    (est,) = supervised.phase_crossing(ctx(p, T, chain, 200, 3))
    latent, _ = _both(1, 3, 200, 3)
    assert {k: est[k] for k in KEYS} == {k: latent.estimates[0][k] for k in KEYS}

    # all but one, or all, replicates fail: no error bar, a failure from both
    for seed in range(200):
        latent, sup = _both(1, 3, replicates=3, seed=seed)
        if latent.failures:
            break
    else:
        pytest.fail("no seed with two of three replicates failing")
    assert math.isnan(sup["stderr"]) and math.isfinite(sup["tc"])
    (lat_fail,) = latent.failures
    (sup_fail,) = supervised.phase_crossing(ctx(p, T, chain, 3, seed))
    assert "tc" not in sup_fail and sup_fail["method"] == "vib-phase-crossing"
    assert sup_fail["reason"] == lat_fail["reason"]
    assert "too few bootstrap replicates" in sup_fail["reason"]
    assert {k: sup_fail[k] for k in KEYS} == {k: lat_fail[k] for k in KEYS}
    assert sup_fail["failed_replicates"] >= 2 and sup_fail["replicates_flag"]
    # no crossing on the full data: a failure with its reason, as the latent estimator
    flat = np.full(p.size, 0.9)
    (no_cross,) = supervised.phase_crossing(ctx(flat, T, chain, 20, 0))
    assert "tc" not in no_cross and "never falls through" in no_cross["reason"]


# ------------------------------------------------------------------ carried through


def test_ensembles_and_extrapolations_sum_the_counts():
    def row(L, tc_, failed, member=0):
        err = replicate_error(np.r_[np.full(failed, np.nan),
                                    np.linspace(-0.01, 0.01, 100 - failed) + tc_])
        return {"method": "m", "L": L, "tc": tc_, "stderr": err.stderr, "bootstrap": 100,
                **err.report_keys(), "ensemble": f"d{L}", "member": member}

    rows = [row(16, 2.33, 0), row(16, 2.34, 2, member=1), row(32, 2.30, 8), row(48, 2.29, 1)]
    merged = ensemble.ensemble_estimates(rows)
    assert [(e["L"], e["replicates"], e["failed_replicates"], e["replicates_flag"])
            for e in merged] == [(16, 200, 2, False), (32, 100, 8, True), (48, 100, 1, False)]
    out, _ = merge_estimates(rows)
    fss = {e["method"]: e for e in out if e["L"] is None}
    assert fss["m-fss"]["replicates"] == 400 and fss["m-fss"]["failed_replicates"] == 11
    assert fss["m-fss"]["replicates_flag"] is True              # L = 32 is flagged
    # estimates not made by the bootstrap gain no keys
    plain = [{"method": "x", "L": L, "tc": 2.3 + 1 / L, "stderr": 0.01} for L in (16, 32)]
    out, _ = merge_estimates(plain)
    assert all("replicates" not in e and "failed_replicates" not in e for e in out)


def test_the_rule_is_exported_from_resampling():
    assert {"replicate_error", "combined_replicate_counts", "ReplicateError",
            "FAILED_REPLICATES_FLAG"} <= set(resampling.__all__)
