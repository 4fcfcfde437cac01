"""Run directories through the command line: train, evaluate, sample; resume; bad input."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from isingvae import cli, lattice, runs  # noqa: E402
from isingvae.data import IsingDataset  # noqa: E402
from isingvae.runs import TrainConfig  # noqa: E402
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
    model, _ = runs.load_run(run_dir)
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
    assert np.isnan(s.temperature).all() and len(np.unique(s.chain)) == 300
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
    runs.train(l4_file, tmp_path / "a", cfg, verbose=0)
    runs.train(l4_file, tmp_path / "b", cfg, verbose=0)
    runs.train(l4_file, tmp_path / "c", TrainConfig(epochs=2, seed=6, **SMALL_CONFIG),
               verbose=0)
    a, b, c = (weights(tmp_path / k) for k in "abc")
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c, strict=True))


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, l4_file, monkeypatch):
    cfg = TrainConfig(epochs=3, seed=2, **SMALL_CONFIG)
    runs.train(l4_file, tmp_path / "whole", cfg, verbose=0)

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    original = runs._callbacks
    monkeypatch.setattr(runs, "_callbacks", lambda d, s: [*original(d, s), Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        runs.train(l4_file, tmp_path / "cut", cfg, verbose=0)
    cut = tmp_path / "cut"
    assert (cut / "backup").is_dir() and not (cut / "model.keras").exists()
    monkeypatch.setattr(runs, "_callbacks", original)
    res = runs.train(l4_file, tmp_path / "cut", cfg, verbose=0)
    assert res.resumed_from == 2 and res.epochs_run == 1
    w1, w2 = weights(tmp_path / "whole"), weights(tmp_path / "cut")
    assert all(np.array_equal(u, v) for u, v in zip(w1, w2, strict=True))
    with open(tmp_path / "cut" / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2]


def test_held_out_nll_on_exact_samples_is_above_the_entropy(tmp_path, l4_file, capsys):
    """Evaluation on an independent file of exact i.i.d. samples uses all of it."""
    run = tmp_path / "run"
    runs.train(l4_file, run, TrainConfig(epochs=4, seed=1, **SMALL_CONFIG), verbose=0)
    other = exact_iid_file(tmp_path / "other.h5", 4, [2.0, 3.0], 512, 99)
    ev = runs.evaluate(run, other, iw_samples=100, progress=False)
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
    runs.train(l4_file, run, TrainConfig(epochs=1, **SMALL_CONFIG), verbose=0)
    for argv, needle in [
        (["evaluate", run, "--data", EXAMPLE], "L = 16"),
        (["evaluate", run, "--iw-samples", 0], "iw-samples"),
        (["sample", run, "--n", 0, "--out", tmp_path / "s.h5"], "--n"),
        (["sample", run, "--temperature", 2.0, "--out", tmp_path / "s.h5"], "temperature"),
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
                m = VAE(L=4, latent_dim=2, filters=(4,), units=(16,))
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
    from isingvae.models import vae

    assert (runs.FAMILIES, runs.KL_ESTIMATORS, runs.KL_SCHEDULES, runs.PRIORS) == \
        (vae.FAMILIES, vae.KL_ESTIMATORS, vae.KL_SCHEDULES, vae.PRIORS)
    assert runs.FLOWS == ("none", *vae.FLOW_KINDS)
    code = ("import sys\nfrom isingvae.runs import TrainConfig\n"
            "TrainConfig(family='dense').check()\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert TrainConfig().check().units == runs.DEFAULT_UNITS["conv"]
    assert TrainConfig(family="dense").check().units == runs.DEFAULT_UNITS["dense"]


def test_flow_and_level_settings_are_completed():
    flow = TrainConfig(flow="iaf").check()
    assert flow.flow_depth == runs.DEFAULT_FLOW_DEPTH and flow.kl_estimator == "analytic"
    assert TrainConfig(prior="maf").check().kl_estimator == "mc"
    plain = TrainConfig().check()
    assert plain.flow_depth == 0 and plain.kl_estimator == "analytic"
    two = TrainConfig(levels=2).check()
    assert two.top_dim == 8 and two.kl_estimator == "analytic"


def test_runs_made_before_the_flow_settings_still_resume(tmp_path, l4_file):
    """A config.json without the settings added for flows counts as their defaults."""
    cfg = TrainConfig(epochs=1, **SMALL_CONFIG)
    runs.train(l4_file, tmp_path / "r", cfg, verbose=0)
    path = tmp_path / "r" / "config.json"
    record = json.loads(path.read_text())
    for key in ("flow_amortized", "prior", "prior_depth", "levels", "top_dim"):
        del record["settings"][key]
    path.write_text(json.dumps(record))
    assert runs.train(l4_file, tmp_path / "r", cfg, verbose=0).already_complete


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
    model, cfg = runs.load_run(run)
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
