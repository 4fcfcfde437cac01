"""``isingvae run`` end to end on the quick plan: report folder, reuse of finished steps;
the seeds of its plan and the refusal of a work folder of another run version."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from isingvae import cli, random
from isingvae.errors import InputError
from isingvae.run import QUICK, RunPlan
from isingvae.run.plan import RUN_RECORD, RUN_VERSION


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_quick_writes_a_report_and_reuses_finished_steps(tmp_path, capsys):
    out = tmp_path / "job"
    assert cli.main(["run", "--quick", "--quiet", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "README.md" in stdout and "fss" in stdout

    report = json.loads((out / "report.json").read_text())
    methods = {(e["method"], e["L"]) for e in report["tc_estimates"]}
    assert ("vib-phase-crossing", 8) in methods and ("vib-phase-crossing-fss", None) in methods
    assert any(m.startswith("latent-") and m.endswith("-fss") for m, _ in methods)
    assert set(report["latent_magnetization_correlation"]) >= {"m", "abs_m"}
    readme = (out / "README.md").read_text()
    for heading in ("Critical temperature", "latent space", "Phase classifier",
                    "exact entropy", "Generated configurations", "Thermodynamics from"):
        assert heading in readme
    thermo = json.loads((out / "thermo.json").read_text())
    assert thermo["L"] == 8 and thermo["n"] == 200 and (out / "thermo.png").is_file()
    assert len(thermo["per_temperature"]) == 6 and "](thermo.png)" in readme
    for r in thermo["per_temperature"]:      # 3 epochs: a poor proposal, flagged as such
        assert np.isfinite(r["free_energy_per_spin"]) and r["exact"] is not None
        assert 0 < r["ess_fraction"] <= 1 and r["ess_warning"] == (r["ess_fraction"] < 0.01)
    for name in report["figures"]:
        assert (out / name).is_file() and f"]({name})" in readme
    checks = json.loads((out / "checks.json").read_text())     # the report checks itself
    tally = checks["summary"]
    assert tally["total"] + tally["no_verdict"] == len(checks["checks"]) > 0
    assert tally["passed"] + tally["warnings"] == tally["total"]
    assert f"of {checks['summary']['total']} physics checks pass" in readme.split("\n\n")[1]
    first = json.loads((out / "timings.json").read_text())
    assert [s["step"] for s in first["steps"]] == [
        "generate L=8", "generate L=12", "train VAE L=8", "train VAE L=12",
        "train VAE L=8 member 2", "train VAE L=12 member 2", "train VIB head L=8",
        "train VIB head L=12", "evaluate L=8", "evaluate L=12",
        "score VIB head L=8", "score VIB head L=12", "analyze", "thermo L=8"]
    assert not any(s["reused"] for s in first["steps"])
    data = {p.name: _digest(p) for p in (out / "work" / "data").glob("*.h5")}
    weights = _digest(out / "work" / "runs" / "L8" / "model.keras")
    head_weights = _digest(out / "work" / "runs" / "L8-vib" / "model.keras")
    # the VAE is trained without the head (its latents give the unsupervised estimates)
    assert json.loads((out / "work" / "runs" / "L8" / "config.json").read_text()
                      )["settings"]["head"] == "none"
    assert "classifier.png" in report["figures"]
    # an ensemble of two VAEs per size: the second with its own seed stream
    second_seed = json.loads((out / "work" / "runs" / "L8-member2" / "config.json"
                              ).read_text())["settings"]["seed"]
    assert second_seed == random.int_seed(1, "ensemble", 1) != 1
    assert [len(g["runs"]) for g in report["ensembles"]] == [2, 2]
    latent8 = [e for e in report["tc_estimates"]
               if e["L"] == 8 and e["method"].startswith("latent-")]
    assert latent8 and all(e["ensemble"] == 2 for e in latent8)
    assert "Headline" in readme or "No headline" in readme
    assert "exact specific-heat peak (Kaufman) | 12 |" in readme
    # each size's data from the plan's run-data stream; the folder says its run version
    from isingvae import storage

    for L in QUICK.sizes:
        attrs = storage.read_header(out / "work" / "data" / f"L{L}.h5").attrs
        assert json.loads(attrs["generation"])["seed"] == QUICK.data_seed(L)
    assert json.loads((out / RUN_RECORD).read_text()) == {
        "run_version": RUN_VERSION, "plan": json.loads(json.dumps(QUICK.to_json()))}
    # the steps are those the plan's cost model counts; the folder's run.json, as a plan
    # file, and the quick preset are this same job
    assert [s["step"] for s in first["steps"]] == QUICK.step_names()
    from isingvae.run import preset, read_plan
    from isingvae.run.steps import _claim

    record = (out / RUN_RECORD).read_text()
    for plan in (read_plan(out / RUN_RECORD), preset("quick")):
        assert plan == QUICK
        _claim(out, plan, force=False)
        assert (out / RUN_RECORD).read_text() == record

    assert cli.main(["run", "--quick", "--quiet", "--out", str(out)]) == 0
    second = json.loads((out / "timings.json").read_text())
    assert second["plan"] == first["plan"] and (out / RUN_RECORD).read_text() == record
    made = {t["step"]: t["seconds_to_make"] for t in first["steps"]}
    for t in second["steps"]:          # a reused step keeps the time it took to make
        if t["reused"]:
            assert t["seconds_to_make"] == made[t["step"]], t
    assert second["job_seconds"] > second["total_seconds"]
    assert f"wall time {second['job_seconds']:.0f} s" in (out / "README.md").read_text()
    assert all(s["reused"] for s in second["steps"]
               if s["step"] not in ("analyze", "thermo L=8") and not s["step"].startswith("score"))
    assert {p.name: _digest(p) for p in (out / "work" / "data").glob("*.h5")} == data
    assert _digest(out / "work" / "runs" / "L8" / "model.keras") == weights
    assert _digest(out / "work" / "runs" / "L8-vib" / "model.keras") == head_weights


@pytest.mark.parametrize("value", ["0", "17", "-1"])
def test_run_refuses_a_bad_ensemble_in_one_line(tmp_path, capsys, value):
    assert cli.main(["run", "--quick", "--ensemble", value, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--ensemble" in err and value in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_run_refuses_an_out_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("x")
    assert cli.main(["run", "--quick", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "taken" in err and "Traceback" not in err


def test_data_seeds_are_the_run_data_stream_and_never_shared_between_plans():
    sizes = (8, 12, 16, 24, 32, 48, 64)
    seeds = {(s, L): RunPlan(seed=s).data_seed(L) for s in range(64) for L in sizes}
    assert len(set(seeds.values())) == len(seeds)        # seed + L gave 1 + 24 = 9 + 16
    assert seeds[1, 24] != seeds[9, 16] and seeds[1, 24] != 1 + 24
    assert seeds[1, 24] == random.int_seed(1, "run-data", 24, bits=63)
    assert all(0 <= s < 2**63 for s in seeds.values())   # a GenerationPlan seed
    assert RunPlan(seed=1).data_seed(24) == RunPlan(seed=1, samples=7).data_seed(24)


@pytest.mark.parametrize("record", [RUN_RECORD, "timings.json"])
def test_run_refuses_a_folder_of_an_older_run_version_unless_forced(tmp_path, capsys,
                                                                    record):
    """A work folder of the previous code (seed + L data; a record with only its plan,
    in run.json or, older still, in timings.json) is another job: refused in one line
    naming the version, replaced with --force."""
    from isingvae.run.steps import _claim

    out = tmp_path / "old"
    out.mkdir()
    (out / record).write_text(json.dumps({"plan": QUICK.to_json()}))
    assert cli.main(["run", "--quick", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"run_version: 1 -> {RUN_VERSION}" in err and "run-data" in err
    assert "--force" in err and not (out / "work").exists()
    with pytest.raises(InputError, match="run version"):
        _claim(out, QUICK, force=False)
    _claim(out, QUICK, force=True)
    assert json.loads((out / RUN_RECORD).read_text())["run_version"] == RUN_VERSION
    _claim(out, QUICK, force=False)                      # now this job's folder
    with pytest.raises(InputError, match="another plan"):
        _claim(out, RunPlan(sizes=(8,), temperatures=QUICK.temperatures), force=False)
