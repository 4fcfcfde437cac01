"""Training runs and their directories (through the command line and in Python): train,
evaluate, sample; resume; what a run records; settings; bad input."""

from __future__ import annotations

import csv
import importlib
import json
import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from isingvae import cli, evaluation, lattice, training  # noqa: E402
from isingvae.data import IsingDataset  # noqa: E402
from isingvae.errors import InputError  # noqa: E402
from isingvae.models import options  # noqa: E402
from isingvae.training import RunDir, TrainConfig  # noqa: E402
from tests._vae_helpers import exact_iid_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "ising_L16.h5"
SMALL = ["--filters", "4,8", "--units", "16", "--latent-dim", "2", "--batch-size", "64"]
SMALL_CONFIG = dict(filters=(4, 8), units=(16,), latent_dim=2, batch_size=64)


@pytest.fixture(scope="module")
def l4_file(tmp_path_factory):
    return exact_iid_file(tmp_path_factory.mktemp("data") / "l4.h5", 4, [2.0, 3.0], 1024, 3)


def main(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def weights(run_dir):
    model, _ = RunDir(run_dir).load()
    return [w.copy() for w in model.get_weights()]


def test_train_evaluate_sample_round_trip(tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = main(["train", EXAMPLE, "--out", run, "--epochs", 2, "--quiet",
                           "--temperatures", "1.5,2.25,3.5", *SMALL], capsys)
    assert code == 0, err
    assert "trained" in out
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["settings"]["seed"] == 0 and cfg["settings"]["epochs"] == 2
    assert cfg["data"]["path"] == str(EXAMPLE.resolve()) and cfg["data"]["seed"] == 2026
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert {"neg_elbo", "kl", "recon", "val_neg_elbo"} <= set(rows[0])
    assert not (run / "backup").exists()

    code, out, err = main(["evaluate", run, "--iw-samples", 20, "--quiet"], capsys)
    assert code == 0, err
    ev = json.loads((run / "evaluation.json").read_text())
    assert ev["iw_samples"] == 20
    temps = [r["temperature"] for r in ev["per_temperature"]]
    assert temps == pytest.approx([1.5, 2.25, 3.5])
    ds = IsingDataset(EXAMPLE)
    test_chains = ds.split(seed=0).test
    for r in ev["per_temperature"]:
        assert {"temperature", "n", "nll_per_spin", "nll_stderr", "elbo_per_spin",
                "kl_per_spin"} <= set(r)
        assert r["n"] == test_chains.select(temperature=r["temperature"]).n
        assert r["elbo_per_spin"] >= r["nll_per_spin"] > r["exact_entropy_per_spin"]
        assert 0 < r["nll_stderr"] < 0.05

    code, out, err = main(["sample", run, "--n", 300, "--out", tmp_path / "s.h5",
                           "--seed", 4], capsys)
    assert code == 0, err
    s = IsingDataset(tmp_path / "s.h5")
    assert s.n == 300 and s.header.algorithm == "vae" and s.L == 16
    # the default model is conditioned on temperature: without --temperature it draws
    # the mixture it trained on, each row at its own temperature
    assert set(np.unique(s.temperature)) == {1.5, 2.25, 3.5}
    assert len(np.unique(s.chain)) == 300
    np.testing.assert_allclose(s.energy, lattice.energy(s.spins))
    main(["sample", run, "--n", 300, "--out", tmp_path / "t.h5", "--seed", 4], capsys)
    assert np.array_equal(IsingDataset(tmp_path / "t.h5").spins, s.spins)   # same seed

    # a finished run is left alone; other settings are refused
    code, out, _ = main(["train", EXAMPLE, "--out", run, "--epochs", 2, "--quiet",
                         "--temperatures", "1.5,2.25,3.5", *SMALL], capsys)
    assert code == 0 and "already trained" in out
    code, _, err = main(["train", EXAMPLE, "--out", run, "--epochs", 3, "--quiet", *SMALL],
                        capsys)
    assert code == 2 and "epochs" in err and err.count("\n") == 1


def test_training_is_reproducible_from_its_seed(tmp_path, l4_file):
    cfg = TrainConfig(epochs=2, seed=5, **SMALL_CONFIG)
    training.train(l4_file, tmp_path / "a", cfg, verbose=0)
    training.train(l4_file, tmp_path / "b", cfg, verbose=0)
    training.train(l4_file, tmp_path / "c", TrainConfig(epochs=2, seed=6, **SMALL_CONFIG),
                   verbose=0)
    a, b, c = (weights(tmp_path / k) for k in "abc")
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c, strict=True))


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, l4_file, monkeypatch):
    cfg = TrainConfig(epochs=3, seed=2, **SMALL_CONFIG)
    training.train(l4_file, tmp_path / "whole", cfg, verbose=0)

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    module = importlib.import_module("isingvae.training.callbacks")
    original = module.callbacks
    monkeypatch.setattr(module, "callbacks", lambda r, s: [*original(r, s), Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        training.train(l4_file, tmp_path / "cut", cfg, verbose=0)
    cut = tmp_path / "cut"
    assert (cut / "backup").is_dir() and not (cut / "model.keras").exists()
    # the files AtomicBackup writes under Keras's names, which resume reads
    assert {p.name for p in (cut / "backup").iterdir()} >= {"latest.weights.h5",
                                                           "training_metadata.json"}
    monkeypatch.setattr(module, "callbacks", original)
    res = training.train(l4_file, tmp_path / "cut", cfg, verbose=0)
    assert res.resumed_from == 2 and res.epochs_run == 1
    w1, w2 = weights(tmp_path / "whole"), weights(tmp_path / "cut")
    assert all(np.array_equal(u, v) for u, v in zip(w1, w2, strict=True))
    with open(tmp_path / "cut" / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2]


def test_held_out_nll_on_exact_samples_is_above_the_entropy(tmp_path, l4_file, capsys):
    """Evaluation on an independent file of exact i.i.d. samples uses all of it."""
    run = tmp_path / "run"
    training.train(l4_file, run, TrainConfig(epochs=4, seed=1, **SMALL_CONFIG), verbose=0)
    other = exact_iid_file(tmp_path / "other.h5", 4, [2.0, 3.0], 512, 99)
    ev = evaluation.evaluate(run, other, iw_samples=100, progress=False)
    assert ev["held_out"].startswith("whole file")
    for r in ev["per_temperature"]:
        assert r["n"] == 512
        assert r["nll_per_spin"] > r["exact_entropy_per_spin"] - 4 * r["nll_stderr"]
        assert r["nll_per_spin"] < math.log(2)


def _one_line(err):
    return err.count("\n") == 1 and "Traceback" not in err


def test_bad_input_gives_one_line_and_exit_2(tmp_path, l4_file, capsys):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    run = tmp_path / "run"
    cases = [
        (["train", text, "--out", run], "notes.h5"),
        (["train", tmp_path / "missing.h5", "--out", run], "missing.h5"),
        (["train", l4_file, "--out", run, "--latent-dim", 0], "latent"),
        (["train", l4_file, "--out", run, "--epochs", 0], "epochs"),
        (["train", l4_file, "--out", run, "--learning-rate", -1], "learning"),
        (["train", l4_file, "--out", run, "--free-bits", -0.5], "free"),
        (["train", l4_file, "--out", run, "--batch-size", 100000], "batch"),
        (["train", l4_file, "--out", run, "--temperatures", "2.7"], "2.7"),
        (["train", l4_file, "--out", run, "--flow-depth", 3], "needs a --flow"),
        (["train", l4_file, "--out", run, "--flow", "iaf", "--flow-depth", 0], "flow-depth"),
        (["train", l4_file, "--out", run, "--flow", "realnvp", "--latent-dim", 1], "realnvp"),
        (["train", l4_file, "--out", run, "--top-dim", 2], "--levels 2"),
        (["train", l4_file, "--out", run, "--levels", 2, "--top-dim", 32], "top dim"),
        (["train", l4_file, "--out", run, "--levels", 2, "--flow", "planar"], "no --flow"),
        (["train", l4_file, "--out", run, "--prior", "maf", "--prior-depth", 0], "prior"),
        (["train", l4_file, "--out", run, "--label-window", 0.1], "need a --head"),
        (["evaluate", tmp_path / "nothing"], "not a run directory"),
        (["sample", tmp_path / "nothing", "--out", tmp_path / "s.h5"], "not a run directory"),
    ]
    for argv, needle in cases:
        code, _, err = main(argv, capsys)
        assert code == 2, (argv, err)
        assert _one_line(err) and needle in err, (argv, err)
    assert not run.exists()


def test_empty_split_is_refused(tmp_path, capsys):
    few = exact_iid_file(tmp_path / "few.h5", 4, [2.0], 2, 0)     # two chains: no test split
    code, _, err = main(["train", few, "--out", tmp_path / "r"], capsys)
    assert code == 2 and _one_line(err) and "empty" in err


def test_nan_loss_is_a_clear_error(tmp_path, l4_file, capsys):
    code, _, err = main(["train", l4_file, "--out", tmp_path / "r", "--learning-rate", "1e30",
                         "--quiet", *SMALL], capsys)
    assert code == 2 and _one_line(err) and "diverged" in err and "learning-rate" in err


def test_evaluate_and_sample_refuse_mismatched_requests(tmp_path, l4_file, capsys):
    run = tmp_path / "run"
    training.train(l4_file, run, TrainConfig(epochs=1, **SMALL_CONFIG), verbose=0)
    for argv, needle in [
        (["evaluate", run, "--data", EXAMPLE], "L = 16"),
        (["evaluate", run, "--iw-samples", 0], "iw-samples"),
        (["sample", run, "--n", 0, "--out", tmp_path / "s.h5"], "--n"),
        (["sample", run, "--temperature", 3.5, "--out", tmp_path / "s.h5"], "temperature"),
    ]:
        code, _, err = main(argv, capsys)
        assert code == 2 and _one_line(err) and needle in err, (argv, err)
    assert not (tmp_path / "s.h5").exists()


_TWO_CPUS = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
"""


def _run_two_cpus(code: str):
    # one MirroredStrategy per process: TensorFlow's collective instance keys of two
    # strategies in one process can collide
    res = subprocess.run([sys.executable, "-c", _TWO_CPUS + textwrap.dedent(code)],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_mirrored_step_moves_weights_as_far_as_one_device():
    """Two replicas split each batch; the per-replica loss is scaled so that the summed
    gradient is the batch mean: one SGD step moves the weights as far as on one device
    (not twice as far)."""
    out = _run_two_cpus("""
        from isingvae.models import VAE
        x = (np.random.default_rng(0).random((256, 4, 4, 1)) < 0.5).astype("float32")

        def step(strategy):
            keras.utils.set_random_seed(0)
            with strategy.scope():
                m = VAE(L=4, latent_dim=2, filters=(4,), units=(16,), decoder="factorized")
                m.compile(optimizer=keras.optimizers.SGD(0.01))
            w0 = [w.copy() for w in m.get_weights()]
            m.fit(x, batch_size=256, epochs=1, verbose=0, shuffle=False)
            return np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(m.get_weights(), w0)))

        mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert mirrored.num_replicas_in_sync == 2
        print(step(mirrored) / step(tf.distribute.get_strategy()))
    """)
    ratio = float(out.strip().splitlines()[-1])
    assert 0.8 < ratio < 1.25, ratio


def test_train_with_strategy_mirrored(tmp_path, l4_file):
    _run_two_cpus(f"""
        from isingvae import cli
        code = cli.main(["train", {str(l4_file)!r}, "--out", {str(tmp_path / 'm')!r},
                         "--strategy", "mirrored", "--epochs", "2", "--quiet",
                         "--filters", "4", "--units", "16", "--batch-size", "64"])
        assert code == 0
    """)
    assert (tmp_path / "m" / "model.keras").exists()
    with open(tmp_path / "m" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and float(rows[1]["neg_elbo"]) < float(rows[0]["neg_elbo"])


def test_settings_are_checked_without_tensorflow_and_match_the_model():
    from isingvae.models import flows

    assert options.FLOWS == ("none", *flows.FLOW_KINDS)
    code = ("import sys\nfrom isingvae.training import TrainConfig\n"
            "TrainConfig(family='dense')\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert TrainConfig().units == options.DEFAULT_UNITS["conv"]
    assert TrainConfig(family="dense").units == options.DEFAULT_UNITS["dense"]


def test_flow_and_level_settings_are_completed():
    flow = TrainConfig(flow="iaf")
    assert flow.flow_depth == options.DEFAULT_FLOW_DEPTH and flow.kl_estimator == "analytic"
    assert TrainConfig(prior="maf").kl_estimator == "mc"
    plain = TrainConfig()
    assert plain.flow_depth == 0 and plain.kl_estimator == "analytic"
    two = TrainConfig(levels=2)
    assert two.top_dim == two.latent_dim // 4 and two.kl_estimator == "analytic"


def test_runs_made_before_the_flow_settings_still_resume(tmp_path, l4_file):
    """A config.json without the settings added for flows counts as their defaults."""
    cfg = TrainConfig(epochs=1, **SMALL_CONFIG)
    training.train(l4_file, tmp_path / "r", cfg, verbose=0)
    path = tmp_path / "r" / "config.json"
    record = json.loads(path.read_text())
    for key in ("flow_amortized", "prior", "prior_depth", "levels", "top_dim"):
        del record["settings"][key]
    path.write_text(json.dumps(record))
    assert training.train(l4_file, tmp_path / "r", cfg, verbose=0).already_complete


@pytest.mark.parametrize("flags, cls", [
    (["--flow", "iaf", "--flow-depth", 2, "--prior", "maf"], "VAE"),
    (["--flow", "planar", "--flow-global"], "VAE"),
    (["--levels", 2, "--latent-dim", 4, "--top-dim", 1], "HierarchicalVAE"),
], ids=["iaf+maf", "planar-global", "two-level"])
def test_flow_and_two_level_runs_through_the_cli(tmp_path, l4_file, capsys, flags, cls):
    run = tmp_path / "run"
    argv = ["train", l4_file, "--out", run, "--epochs", 1, "--quiet", *SMALL, *flags]
    code, _, err = main(argv, capsys)
    assert code == 0, err
    model, cfg = RunDir(run).load()
    assert type(model).__name__ == cls
    settings = cfg["settings"]
    if "--flow" in flags:
        assert model.flow.kind == settings["flow"]
        assert settings["kl_estimator"] == ("mc" if "maf" in flags else "analytic")
        assert model.flow.amortized == ("--flow-global" not in flags)
        assert model.flow_depth == settings["flow_depth"] == (2 if "iaf" in flags else 4)
    code, _, err = main(["evaluate", run, "--iw-samples", 10, "--quiet"], capsys)
    assert code == 0, err
    for r in json.loads((run / "evaluation.json").read_text())["per_temperature"]:
        assert r["elbo_per_spin"] >= r["nll_per_spin"] > r["exact_entropy_per_spin"] - 0.05
    code, _, err = main(["sample", run, "--n", 50, "--out", tmp_path / "s.h5"], capsys)
    assert code == 0, err
    assert IsingDataset(tmp_path / "s.h5").n == 50


# ------------------------------------------------------------------ what a run records

FIXTURES = ROOT / "tests" / "fixtures"


def test_a_run_records_its_data_and_split_and_evaluate_reads_them(tmp_path, l4_file, capsys):
    run = tmp_path / "run"
    training.train(l4_file, run, TrainConfig(epochs=1, **SMALL_CONFIG), verbose=0)
    record = json.loads((run / "config.json").read_text())
    ds = IsingDataset(l4_file)
    parts = ds.split(seed=0)
    chains = record["split"]["chains"]
    for name, part in zip(("train", "validation", "test"), parts, strict=True):
        assert chains[name] == np.unique(part.chain).tolist()
    assert record["data"]["digest"] and record["data"]["rows"] == ds.n
    ev = evaluation.evaluate(run, iw_samples=5, progress=False)
    assert ev["data_relation"] == "training-file" and ev["held_out"].startswith("test split")
    assert sum(r["n"] for r in ev["per_temperature"]) == parts.test.n

    # same lattice, coupling, field and seed but other temperatures: not the training data
    other = exact_iid_file(tmp_path / "regenerated.h5", 4, [2.0, 2.5, 3.0], 256, 3)
    assert IsingDataset(other).header.seed == ds.header.seed
    ev = evaluation.evaluate(run, other, iw_samples=5, progress=False)
    assert ev["data_relation"] == "foreign" and ev["held_out"].startswith("whole file")
    assert sum(r["n"] for r in ev["per_temperature"]) == IsingDataset(other).n


def test_a_run_made_before_the_reshape_still_loads_evaluates_and_samples(tmp_path):
    """tests/fixtures/run_v010*: runs trained by isingvae 0.1.0 before the package was
    reshaped (no split chains or data digest in config.json), with the evaluation and
    head scores that version gave, on the example data of that time (generator version
    2, kept in tests/fixtures: data/ has since been regenerated by version 3)."""
    import shutil

    data = FIXTURES / "ising_L16_generator_v2.h5"
    run = shutil.copytree(FIXTURES / "run_v010", tmp_path / "run")
    # the same network: posterior parameters as 0.1.0 computed them, to float precision
    saved = np.load(FIXTURES / "posterior_v010.npz")
    x = IsingDataset(data).x[saved["rows"]]
    model, _ = RunDir(run).load()
    mean, log_var = model.encode(x)
    np.testing.assert_allclose(mean.numpy(), saved["run_v010_mean"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(log_var.numpy(), saved["run_v010_log_var"], rtol=1e-5,
                               atol=1e-6)

    old = json.loads((FIXTURES / "evaluation_v010_K50_seed0.json").read_text())
    ev = evaluation.evaluate(run, data, iw_samples=50, progress=False)
    assert ev["data_relation"] == "training-file" and "recomputed" in ev["held_out"]
    assert len(ev["per_temperature"]) == len(old["per_temperature"])
    for new, was in zip(ev["per_temperature"], old["per_temperature"], strict=True):
        # the same held-out configurations (the split recomputed as 0.1.0 made it) ...
        assert (new["temperature"], new["n"], new["chains"]) == \
            (was["temperature"], was["n"], was["chains"])
        # ... scored with other importance samples: within the estimate's error bar
        assert abs(new["nll_per_spin"] - was["nll_per_spin"]) < 2 * was["nll_stderr"]
    path = evaluation.sample(run, 20, tmp_path / "s.h5", seed=1)
    s = IsingDataset(path)
    assert s.n == 20 and s.L == 16 and s.header.algorithm == "vae"

    vib = shutil.copytree(FIXTURES / "run_v010_vib", tmp_path / "vib")
    was = json.loads((FIXTURES / "head_metrics_v010_vib.json").read_text())
    record = json.loads((vib / "config.json").read_text())
    record["data"]["path"] = str(data)          # where that example data lie here
    (vib / "config.json").write_text(json.dumps(record))
    model, _ = RunDir(vib).load()
    np.testing.assert_allclose(model.predict_phase(x).numpy(), saved["run_v010_vib_p_ordered"],
                               rtol=1e-5, atol=1e-6)
    now = evaluation.head_metrics(vib, model)
    assert now["n"] == was["n"] and now["accuracy"] == pytest.approx(was["accuracy"])


def test_train_flags_come_from_the_options_table(capsys):
    parser = cli.build_parser()
    train_parser = next(a for a in parser._subparsers._group_actions[0].choices.items()
                        if a[0] == "train")[1]
    flags = {s for a in train_parser._actions for s in a.option_strings}
    for o in options.OPTIONS:
        if o.cli_flag is None:
            continue
        assert o.cli_flag in flags and set(o.aliases) <= flags, o.name
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for o in options.OPTIONS:
        if o.cli_flag is not None:
            assert " ".join(o.help.split()) in help_text, o.name


def test_settings_check_themselves_when_made():
    for bad, needle in [(dict(epochs=0), "--epochs"), (dict(beta=-1), "--beta"),
                        (dict(family="cnn"), "--model"), (dict(levels=3), "--levels"),
                        (dict(label_fraction=1.5), "--label-fraction"),
                        (dict(fractions=(0.5, 0.2, 0.2)), "sum to 1")]:
        with pytest.raises(InputError, match=re.escape(needle)):
            TrainConfig(**bad)
    cfg = TrainConfig(filters=[8, 16], temperatures=[2.0, 3.0])
    assert cfg.filters == (8, 16) and cfg.temperatures == (2.0, 3.0)
    assert TrainConfig.from_json(cfg.to_json()) == cfg
