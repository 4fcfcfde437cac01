"""Physics checks of a report (isingvae.analysis.checks) and how the README of
``isingvae run`` states them (isingvae.run.report): verdicts on synthetic rows, the T_c
windows, rows without Kaufman's value, thermodynamics reliability, and the count line."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from isingvae import exact
from isingvae.analysis import checks
from isingvae.run import DEFAULT, QUICK, RunPlan
from isingvae.run import report as run_report

TC = exact.critical_temperature()
L = 8


def _row(T, *, e=0.0, m=None, m_mc=0.9, c=0.0, x=1.0, x_mc=1.0, err=0.005, exact_values=True):
    """A compare_samples row at T: generated energy and C/N off Kaufman's by the
    relative amounts ``e`` and ``c``; |m| and chi/N given directly."""
    ex = exact.reference(L, T)
    row = {"temperature": T,
           "energy": {"generated_mean": float(ex.energy) * (1 + e), "generated_stderr": err,
                      "monte_carlo_mean": float(ex.energy), "monte_carlo_stderr": err},
           "abs_m": {"generated_mean": m_mc if m is None else m, "generated_stderr": err,
                     "monte_carlo_mean": m_mc, "monte_carlo_stderr": err},
           "specific_heat": {"generated": float(ex.specific_heat) * (1 + c),
                             "generated_stderr": 0.01, "monte_carlo": float(ex.specific_heat),
                             "monte_carlo_stderr": 0.01},
           "susceptibility": {"generated": x, "generated_stderr": 0.01, "monte_carlo": x_mc,
                              "monte_carlo_stderr": 0.01}}
    if exact_values:
        row["energy"]["exact_mean"] = float(ex.energy)
        row["specific_heat"]["exact"] = float(ex.specific_heat)
    return row


def _passed(row):
    return {k: v["passed"] for k, v in checks.generated_checks(row, L).items()}


# ------------------------------------------------------------------ generated physics


def test_a_good_row_passes_and_a_bad_one_warns():
    assert _passed(_row(1.6, e=0.01, m=0.92, c=0.1, x=1.2)) == {
        "energy": True, "abs_m": True, "specific_heat": True, "susceptibility": True}
    assert _passed(_row(1.6, e=0.06, m=0.8, c=0.3, x=1.6)) == {
        "energy": False, "abs_m": False, "specific_heat": False, "susceptibility": False}
    # the brief's failures: energy 6-11 % off, |m| 3x Monte Carlo above T_c, C/N 12x
    bad = checks.generated_checks(_row(3.0, e=-0.11, m=0.3, m_mc=0.1, c=11.0), L)
    assert not any(bad[k]["passed"] for k in ("energy", "abs_m", "specific_heat"))


def test_energy_tolerance_widens_within_0_05_of_tc():
    assert _passed(_row(TC + 0.04, e=0.025))["energy"] is True       # 3 % there
    assert _passed(_row(TC - 0.04, e=-0.029))["energy"] is True
    assert _passed(_row(TC + 0.04, e=0.031))["energy"] is False
    assert _passed(_row(TC + 0.06, e=0.025))["energy"] is False      # 2 % outside
    c = checks.generated_checks(_row(TC + 0.06, e=0.025), L)["energy"]
    assert c["tolerance"] == checks.ENERGY_RELATIVE and c["tolerance_kind"] == "relative"


def test_abs_m_relative_below_absolute_above_and_no_verdict_near_tc():
    assert _passed(_row(TC - 0.15, m=0.86, m_mc=0.9))["abs_m"] is True     # -4.4 %
    assert _passed(_row(TC - 0.15, m=0.85, m_mc=0.9))["abs_m"] is False    # -5.6 %
    above = checks.generated_checks(_row(TC + 0.15, m=0.125, m_mc=0.1), L)["abs_m"]
    assert above["passed"] is True and above["tolerance_kind"] == "absolute"   # +25 %
    assert above["relative"] == pytest.approx(0.25)
    assert _passed(_row(TC + 0.15, m=0.14, m_mc=0.1))["abs_m"] is False
    for T in (TC - 0.09, TC, TC + 0.09):
        mid = checks.generated_checks(_row(T, m=0.9, m_mc=0.1), L)["abs_m"]
        assert mid["passed"] is None and mid["tolerance"] is None
        assert "no verdict" in mid["why"] and mid["deviation_sigma"] > 3   # still shown


def test_fluctuations_judged_only_away_from_tc():
    assert _passed(_row(2.5, c=0.24, x=1.45))["specific_heat"] is True
    near = _passed(_row(TC + 0.08, c=5.0, x=9.0))
    assert near["specific_heat"] is None and near["susceptibility"] is None
    assert _passed(_row(TC - 0.11, c=-0.26))["specific_heat"] is False


def test_deviation_uses_combined_errors_and_says_whether_a_warning_may_be_noise():
    row = _row(1.6, e=0.03, err=0.04)          # 3 % off Kaufman, but huge error bars
    c = checks.generated_checks(row, L)["energy"]
    ex = exact.reference(L, 1.6).energy
    assert c["reference_source"] == "kaufman" and c["reference_stderr"] == 0
    assert c["deviation_sigma"] == pytest.approx(0.03 * ex / 0.04)          # exact: no error
    assert c["sigma_vs_monte_carlo"] == pytest.approx(0.03 * ex / math.hypot(0.04, 0.04))
    assert c["relative"] == pytest.approx(-0.03)        # energies are negative
    assert c["passed"] is False and "noise" in c["why"]   # within tolerance decides, not sigma
    sharp = checks.generated_checks(_row(1.6, e=0.03, err=0.001), L)["energy"]
    assert sharp["passed"] is False and "more than 3" in sharp["why"]
    # and a pass is a pass however many standard errors away
    assert checks.generated_checks(_row(1.6, e=0.01, err=1e-4), L)["energy"]["passed"]


def test_without_kaufman_the_reference_is_monte_carlo():
    row = _row(1.6, e=0.01, c=0.1, exact_values=False)   # as in a field: no exact value
    found = checks.generated_checks(row, L)
    for name in ("energy", "specific_heat"):
        assert found[name]["reference_source"] == "monte_carlo"
        assert found[name]["exact"] is None and found[name]["sigma_vs_exact"] is None
        assert found[name]["passed"] is True
    assert found["abs_m"]["exact"] is None        # |m| and chi never have one
    assert found["susceptibility"]["reference_source"] == "monte_carlo"


def test_missing_numbers_give_no_verdict_and_the_mixture_no_checks():
    row = _row(1.6)
    row["specific_heat"]["generated"] = float("nan")
    row["susceptibility"]["generated_stderr"] = None
    found = checks.generated_checks(row, L)
    assert found["specific_heat"]["passed"] is None
    assert found["specific_heat"]["why"] == "no generated value"
    assert found["susceptibility"]["deviation_sigma"] is None
    assert found["susceptibility"]["passed"] is True
    assert checks.generated_checks({**row, "temperature": None}, L) == {}


# ------------------------------------------------------------------ thermodynamics


def _thermo_row(T, *, dF=0.0, err=1e-3, reliable=True, ess=0.5, exact_values=True):
    ex = exact.reference(L, T)
    row = {"temperature": T, "n": 200, "ess_fraction": ess, "ess_warning": ess < 0.01,
           "reliable": reliable,
           "unreliable_because": None if reliable else "ESS 0.6 < 100 draws",
           "mcmc": {"acceptance": 0.5},
           "free_energy_per_spin": float(ex.free_energy) + dF,
           "energy_per_spin": float(ex.energy), "specific_heat_per_spin": float(ex.specific_heat),
           "specific_heat": float(ex.specific_heat), "entropy_per_spin": float(ex.entropy),
           "exact": {"free_energy_per_spin": float(ex.free_energy),
                     "energy_per_spin": float(ex.energy),
                     "specific_heat_per_spin": float(ex.specific_heat),
                     "specific_heat": float(ex.specific_heat),
                     "entropy_per_spin": float(ex.entropy)} if exact_values else None}
    for q in ("free_energy_per_spin", "energy_per_spin", "specific_heat_per_spin",
              "entropy_per_spin"):
        row[f"{q}_stderr"] = err
    return row


def test_thermo_rows_pass_within_3_standard_errors_on_a_reliable_row():
    found = checks.thermo_checks(_thermo_row(2.0, dF=2.9e-3), L)
    assert [c["quantity"] for c in found] == ["free_energy_per_spin", "energy_per_spin",
                                              "specific_heat_per_spin", "entropy_per_spin"]
    assert all(c["passed"] for c in found)
    assert found[0]["deviation_sigma"] == pytest.approx(2.9)
    off = checks.thermo_checks(_thermo_row(2.0, dF=4e-3), L)
    assert off[0]["passed"] is False and "+4.0 standard errors" in off[0]["why"]
    assert all(c["passed"] for c in off[1:])


def test_unreliable_or_low_ess_rows_warn_with_the_reason():
    bad = checks.thermo_checks(_thermo_row(2.0, reliable=False), L)
    assert not any(c["passed"] for c in bad)
    assert all("unreliable row: ESS 0.6 < 100 draws" in c["why"] for c in bad)
    low = checks.thermo_checks(_thermo_row(2.0, ess=0.002), L)
    assert not any(c["passed"] for c in low) and low[0]["why"] == \
        "ESS 0.002 < 0.01 of the draws"
    none = checks.thermo_checks(_thermo_row(2.0, exact_values=False), L)
    assert all(c["passed"] is None and c["why"] == "no exact value" for c in none)
    zero = checks.thermo_checks(_thermo_row(2.0, err=0.0, dF=1e-3), L)
    assert zero[0]["passed"] is False and zero[0]["why"] == "no error bar"


def test_tally_counts_verdicts_and_leaves_out_rows_without_one():
    found = [*checks.generated_checks(_row(1.6, e=0.05), L).values(),      # 3 pass, 1 warn
             *checks.generated_checks(_row(TC, e=0.0), L).values(),         # 1 pass, 3 none
             *checks.thermo_checks(_thermo_row(2.0, reliable=False), L)]     # 4 warn
    t = checks.tally(found)
    assert (t["passed"], t["total"], t["warnings"], t["no_verdict"]) == (4, 9, 5, 3)
    assert t["by_label"]["generated energy"] == [1, 2]
    assert t["by_label"]["thermo F"] == [0, 1]


# ------------------------------------------------------------------ the README


def _report(rows):
    return {"exact": {"tc": TC},
            "runs": [{"L": L, "samples": {"per_temperature": True, "comparisons": rows}},
                     {"L": L, "samples": None}]}       # a further ensemble member


def _timings():
    return {"job_seconds": 12.0, "total_seconds": 12.0, "machine": {"cpu": "test", "cores": 2},
            "steps": [{"step": "analyze", "seconds_to_make": 1.0, "reused": False}]}


def _summary(report, thermo, plan=QUICK):
    evaluations = [{"per_temperature": []} for _ in plan.sizes]
    return run_report.summary(report, evaluations, plan, _timings(), None, thermo)


def test_readme_opens_with_the_count_and_lists_every_warning(tmp_path):
    rows = [_row(1.6, e=0.01), _row(TC, e=0.0), _row(3.0, e=0.08, m=0.3, m_mc=0.1)]
    thermo = {"L": L, "n": 200, "per_temperature": [_thermo_row(2.0),
                                                    _thermo_row(2.5, dF=5e-3)]}
    text = _summary(_report(rows), thermo)
    lines = text.splitlines()
    record = run_report.checks(_report(rows), thermo)
    t = record["summary"]
    # 4 at 1.6, 1 at T_c (energy), 4 at 3.0, 8 thermo; warnings: energy and |m| at 3.0, F
    assert (t["passed"], t["total"], t["no_verdict"]) == (14, 17, 3)
    assert lines[0] == "# isingvae run: report" and lines[1] == ""
    assert lines[2].startswith("**14 of 17 physics checks pass**; 3 WARN.")
    warn_rows = [x for x in lines if x.startswith(("| generated ", "| thermo "))
                 and "| 8 |" in x]
    assert len(warn_rows) == 3
    assert warn_rows[0].startswith("| generated energy | 8 | 3.000 |")
    assert warn_rows[1].startswith("| generated abs(m) | 8 | 3.000 |") and "+0.200" in \
        warn_rows[1]
    assert warn_rows[2].startswith("| thermo F | 8 | 2.500 |") and "+5.0σ" in warn_rows[2]
    # the tables carry each verdict with its deviation
    table = [x for x in lines if x.startswith("| 8 | 3.000 |")]
    assert len(table) == 1 and table[0].count("**WARN**") == 2 and "PASS" in table[0]
    assert any(x.startswith("| 8 | 2.269 |") and "no verdict" in x for x in lines)
    thermo_lines = [x for x in lines if x.startswith(("| 2.000 |", "| 2.500 |"))]
    assert "PASS (" in thermo_lines[0] and "**WARN** (+5.0" in thermo_lines[1]
    assert "How the physics checks are judged" in text and "within 25%" in text
    # checks.json holds the same, as strict JSON
    written = run_report.write_checks(tmp_path, _report(rows), thermo)
    on_disk = json.loads((tmp_path / run_report.CHECKS).read_text(),
                         parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert on_disk["summary"] == json.loads(json.dumps(written["summary"]))
    assert len(on_disk["checks"]) == 20 and on_disk["tolerances"]["energy_relative"] == 0.02
    keys = {"quantity", "L", "T", "value", "stderr", "reference", "deviation_sigma",
            "relative", "tolerance", "passed"}
    assert all(keys <= set(c) for c in on_disk["checks"])


def test_readme_says_all_pass_and_handles_no_checks():
    text = _summary(_report([_row(1.6)]), None)
    assert text.splitlines()[2].startswith("**4 of 4 physics checks pass**.")
    assert "| WARN |" not in text
    empty = _summary({"exact": {"tc": TC}, "runs": []}, None)
    assert empty.splitlines()[2].startswith("**Physics checks: none to judge**")


def test_readme_states_the_scale_of_the_job():
    text = _summary(_report([_row(1.6)]), None, DEFAULT)
    scale = next(x for x in text.splitlines() if x.startswith("**Scale"))
    assert scale.startswith("**Scale: a demonstration") and "** L = 16, 24, 32;" in scale
    assert "400 Monte Carlo configurations per temperature at 21 temperatures" in scale
    assert "6 models (3 VAEs, 1 per size, and 3 with a vib-phase head)" in scale
    assert "trained for 4 epochs" in scale and "100 generated configurations" in scale
    two = _summary(_report([_row(1.6)]), None, replace(DEFAULT, ensemble=2))
    assert "9 models (6 VAEs, 2 per size, and 3 with a vib-phase head)" in two
    assert "--plan FILE" in scale and "study preset" in scale
    quick = _summary(_report([_row(1.6)]), None, QUICK)
    assert "**Scale: the `--quick` smoke test" in quick
    study = RunPlan(epochs=30, samples=4000)
    big = _summary(_report([_row(1.6)]), None, study)
    line = next(x for x in big.splitlines() if x.startswith("**Scale"))
    assert "of a study's size" in line and "--plan" not in line


def test_the_figure_marks_warnings(tmp_path):
    pytest.importorskip("matplotlib")
    from isingvae.analysis import sample_figures

    rows = [_row(T, e=0.05 if T > 2.5 else 0.0) for T in (1.6, 2.0, 3.0)]
    for r in rows:
        r["checks"] = checks.generated_checks(r, L)
    name = sample_figures.generated_vs_temperature(tmp_path / "g.png", rows, L)
    assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_quick_job_readme_checks_itself(tmp_path):
    pytest.importorskip("tensorflow")
    from isingvae.run import run

    out = tmp_path / "job"
    result = run(out, QUICK, quiet=True)
    readme = (out / "README.md").read_text().splitlines()
    record = run_report.checks(result["report"], json.loads((out / "thermo.json").read_text()))
    t = record["summary"]
    assert readme[2].startswith(f"**{t['passed']} of {t['total']} physics checks pass**")
    assert t["total"] >= 2 * 6 + 6 * 4         # energy at every T, thermo at every T
    assert any(x.startswith("**Scale: the `--quick` smoke test") for x in readme)
    report = json.loads((out / "report.json").read_text())
    rows = report["runs"][0]["samples"]["comparisons"]
    assert all(set(r["checks"]) == {"energy", "abs_m", "specific_heat", "susceptibility"}
               for r in rows)
