"""Plans of ``isingvae run`` from files and presets: the presets, the file format, every
refusal (one line naming the file and the key or value, exit status 2, nothing written),
``--show-plan``, the time estimate, and that a plan equal to a folder's is its job.

No job runs here: the steps are replaced by a stub once the folder is claimed, and
TensorFlow is never imported."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from isingvae import _validate, cli
from isingvae.errors import InputError
from isingvae.run import DEFAULT, QUICK, RunPlan, preset, presets, read_plan
from isingvae.run import plan as plans
from isingvae.run.plan import RUN_RECORD, RUN_VERSION, from_json, reference_timings


@pytest.fixture
def no_job(monkeypatch):
    """The job up to its first step (plan checked, folder claimed, estimate printed),
    then a stub instead of the steps; the plans the stub was handed."""
    from isingvae.run import steps

    handed = []

    def stub(out, plan, quiet, force):
        handed.append(plan)
        return {"report": {"tc_estimates": [], "tc_headline": {"note": "stub"}},
                "timings": {"total_seconds": 0.0}}

    monkeypatch.setattr(steps, "_run", stub)
    monkeypatch.setattr("isingvae.cli._tensorflow.import_quietly", lambda: None)
    return handed


def _write(path, text):
    path.write_text(text if isinstance(text, str) else json.dumps(text))
    return path


# the presets ----------------------------------------------------------------------------

def test_presets_are_the_built_in_plans_and_a_study():
    assert presets() == ("demo", "quick", "study")
    assert preset("demo") == DEFAULT and preset("quick") == QUICK
    # QUICK as it was written in Python before it moved to quick.json
    assert QUICK == RunPlan(
        sizes=(8, 12), temperatures=(1.6, 2.0, 2.2, 2.35, 2.6, 3.0), samples=128, chains=8,
        epochs=3, train={"filters": (4, 8), "units": (16,), "latent_dim": 4, "batch_size": 64},
        head={"head": "vib-phase", "decoder": "factorized", "epochs": 8}, iw_samples=10,
        analysis_samples=120, bootstrap=20, thermo_samples=200, ensemble=2)
    study = preset("study")
    from isingvae.run.report import STUDY_EPOCHS, STUDY_SAMPLES

    assert len(study.sizes) == 4 and study.sizes[0] == 16 and study.ensemble == 1
    assert study.epochs >= STUDY_EPOCHS and study.samples >= STUDY_SAMPLES  # "a study's size"
    assert study.thermo_samples == 20000 and study.temperatures == DEFAULT.temperatures
    for name in presets():
        preset(name).check()                    # fits this machine
        assert plans.preset_description(name)


def test_the_study_description_states_its_estimate():
    study = preset("study")
    text = plans.preset_description("study")
    assert "estimate" in text and "configurations x epochs" in text and "L^2" in text
    minutes = [int(m) for m in re.findall(r"(?i)about (\d+) minutes", text)]
    assert minutes == [round(study.estimated_seconds() / 60),
                       round(replace(study, sizes=(*study.sizes, 48)).estimated_seconds() / 60)]
    assert 30 * 60 < study.estimated_seconds() < 70 * 60    # most of an hour


def test_unknown_preset_is_refused_naming_the_presets(tmp_path, capsys):
    assert cli.main(["run", "--preset", "huge", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'huge'" in err and "demo, quick, study" in err
    assert not (tmp_path / "o").exists()


# the file format ------------------------------------------------------------------------

def test_a_plan_file_is_run_json_or_its_plan_and_keys_left_out_are_the_default(tmp_path):
    for p in (DEFAULT, QUICK, preset("study")):
        record = {"run_version": RUN_VERSION, "plan": json.loads(json.dumps(p.to_json()))}
        assert from_json(record, "x") == p == from_json(record["plan"], "x")
        assert read_plan(_write(tmp_path / "p.json", record)) == p
    assert from_json({}, "x") == DEFAULT and from_json({"plan": {}}, "x") == DEFAULT
    small = from_json({"sizes": [8, 12], "epochs": 5}, "x")
    assert small == replace(DEFAULT, sizes=(8, 12), epochs=5)
    # train and head replace the default's dict whole; head null: no supervised run
    assert from_json({"train": {"latent_dim": 4}}, "x").train == {"latent_dim": 4}
    assert from_json({"head": None}, "x").head is None
    assert from_json({"run_version": 1, "description": "old", "plan": {}}, "x") == DEFAULT


def test_a_plan_equal_to_the_default_is_the_same_job(tmp_path, no_job, capsys):
    """`isingvae run`, `--preset demo`, `--plan` of the demo's file or of the folder's own
    run.json: one job, one run.json; another plan in that folder is refused."""
    out = tmp_path / "job"
    assert cli.main(["run", "--quiet", "--out", str(out)]) == 0
    record = (out / RUN_RECORD).read_text()
    assert json.loads(record) == {"run_version": RUN_VERSION,
                                  "plan": json.loads(json.dumps(DEFAULT.to_json()))}
    bare = _write(tmp_path / "bare.json", DEFAULT.to_json())
    for argv in (["--preset", "demo"], ["--plan", str(out / RUN_RECORD)],
                 ["--plan", str(bare)], ["--plan", str(plans.PRESET_DIR / "demo.json")],
                 ["--plan", str(_write(tmp_path / "empty.json", "{}"))]):
        assert cli.main(["run", "--quiet", "--out", str(out), *argv]) == 0, argv
        assert (out / RUN_RECORD).read_text() == record
    assert all(p == DEFAULT for p in no_job) and len(no_job) == 6
    other = _write(tmp_path / "other.json", {"epochs": 5})
    assert cli.main(["run", "--quiet", "--out", str(out), "--plan", str(other)]) == 2
    assert "another plan" in capsys.readouterr().err
    assert (out / RUN_RECORD).read_text() == record


def test_quick_is_the_quick_preset(tmp_path, no_job):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["run", "--quiet", "--quick", "--out", str(a)]) == 0
    assert cli.main(["run", "--quiet", "--preset", "quick", "--out", str(b)]) == 0
    assert (a / RUN_RECORD).read_text() == (b / RUN_RECORD).read_text()
    assert no_job == [QUICK, QUICK]


# refusals ---------------------------------------------------------------------------------

BAD = [
    # (file content, what the message must name)
    ('{"sizes": [16, 24],', "is not JSON"),
    ("[16, 24, 32]", "JSON object"),
    ('"demo"', "JSON object"),
    ('{"plan": [16]}', "'plan' must be a JSON object"),
    ('{"plan": {}, "machine": {}}', "'machine'"),
    ('{"sizes": [16], "epoch": 3, "colour": "red"}', "'epoch', 'colour'"),
    ('{"samples": 100, "samples": 200}', "'samples' is given twice"),
    ('{"sizes": 16}', "sizes"),
    ('{"sizes": []}', "sizes"),
    ('{"sizes": [16, 25]}', "25"),
    ('{"sizes": [2]}', "got 2"),
    ('{"sizes": [16, 16.0]}', "16.0"),
    ('{"sizes": [32, 16]}', "[32, 16]"),
    ('{"sizes": [true]}', "True"),
    ('{"temperatures": [2.0, -1.5]}', "-1.5"),
    ('{"temperatures": [2.0, NaN]}', "nan"),
    ('{"temperatures": [2.0, Infinity]}', "inf"),
    ('{"temperatures": ["2.0"]}', "'2.0'"),
    ('{"temperatures": []}', "temperatures"),
    ('{"temperatures": [2.0, 2.5, 2.0]}', "2.0 is given twice"),
    ('{"samples": 0}', "samples"),
    ('{"samples": 1.5}', "1.5"),
    ('{"samples": "200"}', "'200'"),
    ('{"samples": 10, "chains": 32}', "chains (32) exceeds samples"),
    ('{"epochs": 0}', "epochs"),
    ('{"ensemble": 17}', "ensemble"),
    ('{"bootstrap": 1}', "bootstrap"),
    ('{"iw_samples": 0}', "iw_samples"),
    ('{"analysis_samples": -1}', "analysis_samples"),
    ('{"thermo_samples": 1}', "thermo_samples"),
    ('{"thermo_samples": 100000000}', "thermo_samples"),
    ('{"seed": -1}', "seed"),
    ('{"seed": 9223372036854775808}', "9223372036854775808"),
    ('{"train": [64]}', "train must be an object"),
    ('{"train": {"batch": 64}}', "train: unknown setting(s) 'batch'"),
    ('{"train": {"latent_dim": 0}}', "latent dim"),
    ('{"train": {"filters": 5}}', "filters must be a list, got 5"),
    ('{"train": {"flow": "glow"}}', "'glow'"),
    ('{"train": {"epochs": 20}}', "'epochs' at the top"),
    ('{"head": {"decoder": "factorized"}}', "'head' setting"),
    ('{"head": {"head": "vib-colour"}}', "vib-colour"),
]


@pytest.mark.parametrize(("text", "named"), BAD, ids=[t for t, _ in BAD])
def test_a_bad_plan_file_is_one_line_naming_file_and_value(tmp_path, capsys, no_job, text,
                                                           named):
    path = _write(tmp_path / "myplan.json", text)
    out = tmp_path / "o"
    assert cli.main(["run", "--plan", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(path) in err and named in err, err
    assert not out.exists() and no_job == []
    with pytest.raises(InputError):                  # the Python API refuses it too
        read_plan(path).check()


def test_a_missing_or_undecodable_plan_file_is_one_line(tmp_path, capsys, no_job):
    out = tmp_path / "o"
    binary = tmp_path / "plan.bin"
    binary.write_bytes(b"\xff\xfe\x00")
    for path in (tmp_path / "nowhere.json", tmp_path, binary):
        assert cli.main(["run", "--plan", str(path), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err, err
    assert not out.exists()


@pytest.mark.parametrize(("plan", "named"), [
    ({"samples": 10**11}, "100000000000 samples"),
    ({"sizes": [16, 1024]}, "L = 1024"),
    ({"train": {"batch_size": 2**20}}, "batch_size 1048576"),
    ({"analysis_samples": 10**9}, "analysis_samples 1000000000"),
    ({"thermo_samples": 2**26}, "thermo_samples 67108864"),
])
def test_a_plan_beyond_the_machines_memory_is_refused_up_front(tmp_path, capsys, monkeypatch,
                                                               no_job, plan, named):
    monkeypatch.setattr(_validate, "physical_memory", lambda: 4 * 2**30)
    path = _write(tmp_path / "big.json", plan)
    out = tmp_path / "o"
    assert cli.main(["run", "--plan", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and named in err, err
    assert "memory" in err and not out.exists() and no_job == []
    with pytest.raises(InputError, match="memory"):     # run() checks it before writing
        from isingvae.run import run

        run(out, read_plan(path))
    assert not out.exists()


@pytest.mark.parametrize("argv", [
    ["--show-plan", "study", "--preset", "demo"],
    ["--show-plan", "quick", "--plan", "x.json"],
    ["--ensemble", "0"],
    ["--timings", "nowhere.json"],
])
def test_bad_flags_are_one_line(tmp_path, capsys, no_job, argv):
    out = tmp_path / "o"
    assert cli.main(["run", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists() and no_job == []


def test_plan_preset_and_quick_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--preset", "demo", "--plan", "x.json"])
    assert info.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def test_limits_are_those_of_the_steps():
    from isingvae.analysis.report import MAX_BOOTSTRAP
    from isingvae.evaluation import thermo
    from isingvae.evaluation.likelihood import MAX_IW_SAMPLES

    assert (plans.MAX_BOOTSTRAP, plans.MAX_IW_SAMPLES) == (MAX_BOOTSTRAP, MAX_IW_SAMPLES)
    with pytest.raises(InputError, match=str(plans.MAX_THERMO_SAMPLES)):
        thermo.thermo("no-such-run", [2.0], plans.MAX_THERMO_SAMPLES + 1)


# --show-plan ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["demo", "quick", "study"])
def test_show_plan_prints_a_preset_as_a_file_that_reads_back(tmp_path, capsys, name):
    assert cli.main(["run", "--show-plan", name, "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    shown = json.loads(text)
    assert shown["description"] == plans.preset_description(name)
    assert read_plan(_write(tmp_path / "copy.json", text)) == preset(name)
    assert not (tmp_path / "o").exists()


def test_show_plan_prints_the_plan_the_other_flags_choose(tmp_path, capsys):
    path = _write(tmp_path / "mine.json", {"sizes": [8, 12], "epochs": 7})
    assert cli.main(["run", "--show-plan", "--plan", str(path), "--ensemble", "3"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert "description" not in shown
    assert from_json(shown, "x") == replace(DEFAULT, sizes=(8, 12), epochs=7, ensemble=3)
    assert cli.main(["run", "--show-plan"]) == 0
    assert from_json(json.loads(capsys.readouterr().out), "x") == DEFAULT


# the estimate -----------------------------------------------------------------------------

def test_the_demo_estimate_is_its_measured_time_and_others_scale():
    ref = reference_timings()
    assert [s["step"] for s in ref["steps"]] == DEFAULT.step_names()
    assert DEFAULT.estimated_seconds() == pytest.approx(ref["job_seconds"], rel=1e-9)
    slower = {**ref, "steps": [{**s, "seconds_to_make": 3 * s["seconds_to_make"]}
                               for s in ref["steps"]]}
    assert DEFAULT.estimated_seconds(slower) == pytest.approx(3 * ref["job_seconds"])
    # "about a minute": the reference was measured on a busy machine, where the quick
    # job itself took 64 s (the previous version's, 62 s)
    assert QUICK.estimated_seconds() < 75
    # more configurations, epochs or sizes cost more; no thermodynamics or head, less
    for bigger in (replace(DEFAULT, samples=2 * DEFAULT.samples), replace(DEFAULT, epochs=6),
                   replace(DEFAULT, sizes=(16, 24, 32, 48)), replace(DEFAULT, ensemble=3)):
        assert bigger.estimated_seconds() > DEFAULT.estimated_seconds()
    for smaller in (replace(DEFAULT, thermo_samples=0), replace(DEFAULT, head=None)):
        assert smaller.estimated_seconds() < DEFAULT.estimated_seconds()
    with pytest.raises(InputError, match=r"timings\.json"):
        DEFAULT.estimated_seconds({"plan": {}, "steps": [{"step": "dance", "seconds": 1}]})


def test_the_estimate_is_printed_before_the_job_starts(tmp_path, capsys, no_job):
    out = tmp_path / "o"
    assert cli.main(["run", "--preset", "study", "--out", str(out)]) == 0
    minutes = round(preset("study").estimated_seconds() / 60)
    err = capsys.readouterr().err
    assert f"[isingvae run] plan 'study': about {minutes} minutes on " in err
    assert "estimated from the demo's step times on the development machine" in err
    # from the folder's own timings.json where there is one, or --timings FILE
    ref = reference_timings()
    slower = {**ref, "steps": [{**s, "seconds_to_make": 2 * s["seconds_to_make"]}
                               for s in ref["steps"]]}
    (out / "timings.json").write_text(json.dumps(slower))
    assert cli.main(["run", "--preset", "study", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"about {preset('study').estimated_seconds(slower) / 60:.0f} minutes" in err, err
    assert f"estimated from the step times in {out / 'timings.json'}" in err
    mine = _write(tmp_path / "t.json", ref)
    assert cli.main(["run", "--preset", "study", "--out", str(out), "--timings",
                     str(mine)]) == 0
    assert f"about {minutes} minutes" in capsys.readouterr().err
    assert cli.main(["run", "--preset", "study", "--quiet", "--out", str(out)]) == 0
    assert capsys.readouterr().err == ""
