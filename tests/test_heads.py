"""Supervised heads: labelled batches, the VIB head and the VIB alone, M2's bounds and
conditional sampling, the supervised Tc crossing with its FSS extrapolation, the
information plane, saving, and bad input."""

from __future__ import annotations

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

from isingvae import cli, evaluation, exact, lattice, training  # noqa: E402
from isingvae.analysis.estimates import merge_estimates  # noqa: E402
from isingvae.analysis.supervised import crossing_estimate  # noqa: E402
from isingvae.data import IsingDataset  # noqa: E402
from isingvae.models import (  # noqa: E402
    M2,
    VIB,
    HeadVAE,
    options,
)
from isingvae.training import RunDir, TrainConfig  # noqa: E402
from tests._vae_helpers import exact_iid_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "ising_L16.h5"
SMALL = ["--filters", "4,8", "--units", "16", "--latent-dim", "2", "--batch-size", "64"]
SMALL_CONFIG = dict(filters=(4, 8), units=(16,), latent_dim=2, batch_size=64)
TC = exact.critical_temperature()


@pytest.fixture(scope="module")
def l4_file(tmp_path_factory):
    return exact_iid_file(tmp_path_factory.mktemp("data") / "l4.h5", 4, [1.5, 2.0, 3.0, 3.5],
                          512, 3)


def main(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err):
    return err.count("\n") == 1 and "Traceback" not in err


# ------------------------------------------------------------------ labelled batches


def test_labelled_batches_keep_the_bits_of_x_and_follow_their_rows(l4_file):
    ds = IsingDataset(l4_file)
    kw = dict(batch_size=100, epochs=2, seed=3, augment=True)
    plain, steps = ds.epoch_batches(**kw)
    # the energy is invariant under every augmentation: a label that must follow its row
    labelled, steps2 = ds.epoch_batches(**kw, labels=np.stack([ds.energy, ds.temperature], 1))
    assert steps == steps2
    for x, (x2, y) in zip(plain, labelled, strict=True):
        assert np.array_equal(x.numpy(), x2.numpy())
        spins = (2 * x2.numpy()[..., 0] - 1).astype(np.int8)
        np.testing.assert_allclose(y.numpy()[:, 0], lattice.energy(spins), atol=1e-6)
    with pytest.raises(ValueError, match="one row per configuration"):
        ds.epoch_batches(**kw, labels=np.zeros(3))


# ------------------------------------------------------------------ the VIB head


def test_vib_phase_head_is_accurate_far_from_tc(tmp_path):
    run = tmp_path / "vib"
    cfg = TrainConfig(epochs=3, head="vib-phase", temperatures=(1.5, 1.75, 3.25, 3.5),
                      **SMALL_CONFIG)
    training.train(EXAMPLE, run, cfg, verbose=0)
    model, _ = RunDir(run).load()
    assert isinstance(model, HeadVAE) and model.predicts == ("phase",)
    ev = evaluation.evaluate(run, iw_samples=5, progress=False)
    head = ev["head"]
    assert head["accuracy_away_from_tc"] > 0.95, head
    for r in ev["per_temperature"]:         # the NLL keys are still there, the head's added
        assert {"nll_per_spin", "elbo_per_spin", "p_ordered_mean", "phase_accuracy"} <= set(r)
        assert (r["p_ordered_mean"] > 0.5) == (r["temperature"] < TC)
    # the head block alone, without the likelihood, gives the same figures
    alone = evaluation.head_metrics(run)
    for key in ("accuracy", "accuracy_away_from_tc", "n"):
        assert alone[key] == pytest.approx(head[key], rel=1e-6), key
    assert [r["temperature"] for r in alone["per_temperature"]] == \
        [r["temperature"] for r in ev["per_temperature"]]
    for a, b in zip(alone["per_temperature"], ev["per_temperature"], strict=True):
        assert a["p_ordered_mean"] == pytest.approx(b["p_ordered_mean"], rel=1e-6)
    assert evaluation.head_metrics(run, model) == alone      # an already loaded model


def test_temperature_head_and_flow_through_the_cli(tmp_path, l4_file, capsys):
    run = tmp_path / "vt"
    code, out, err = main(["train", l4_file, "--out", run, "--epochs", 3, "--quiet",
                           "--head", "vib-temperature", "--flow", "iaf", "--flow-depth", 2,
                           *SMALL], capsys)
    assert code == 0, err
    model, cfg = RunDir(run).load()
    assert model.flow is not None and model.head_kind == "temperature"
    assert cfg["labelled_rows"] == cfg["split_rows"]["train"]
    assert model.t_mean == pytest.approx(2.5, abs=0.05)
    code, out, err = main(["evaluate", run, "--iw-samples", 5, "--quiet"], capsys)
    assert code == 0 and "R^2" in out, err
    head = json.loads((run / "evaluation.json").read_text())["head"]
    assert 0 < head["r2"] <= 1 and head["temperature_rmse"] > 0


def test_vib_alone_trains_without_a_decoder(l4_file):
    ds = IsingDataset(l4_file)
    keras.utils.set_random_seed(0)
    model = VIB(4, 2, head="phase", filters=(4,), units=(16,), beta=1e-3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    batches, steps = ds.epoch_batches(batch_size=64, epochs=6, labels=ds.temperature)
    hist = model.fit(batches, epochs=6, steps_per_epoch=steps, verbose=0,
                     shuffle=False).history
    # |m| > 0.5 alone classifies 73% of these 4 x 4 configurations right
    assert hist["accuracy"][-1] > 0.77 and hist["head_nll"][-1] < hist["head_nll"][0] - 0.2
    assert model.decoder is None
    with pytest.raises(ValueError, match="no decoder"):
        model.decode(tf.zeros([1, 2]))


# ------------------------------------------------------------------ M2


def _m2(classes="phase", **kw):
    keras.utils.set_random_seed(1)
    temps = (1.5, 2.0, 3.0, 3.5) if classes == "temperature" else ()
    kw.setdefault("decoder", "factorized")
    return M2(4, 2, classes=classes, class_temperatures=temps, filters=(4,), units=(8,), **kw)


@pytest.mark.parametrize("classes", ["phase", "temperature"])
def test_m2_unlabelled_bound_is_the_sum_over_classes(classes):
    model = _m2(classes)
    x = tf.constant((np.random.default_rng(2).random((6, 4, 4, 1)) < 0.5).astype("float32"))
    seed = tf.constant([4, 5])
    q = np.exp(model.class_log_probs(x).numpy())
    by_class = np.stack([model.labelled_bound(x, tf.fill([6], k), seed).numpy()
                         for k in range(model.n_classes)], axis=1)
    by_hand = np.sum(q * by_class, axis=1) - np.sum(q * np.log(q), axis=1)
    np.testing.assert_allclose(model.unlabelled_bound(x, seed).numpy(), by_hand, rtol=1e-5)
    # the labelled bound of a class is the ELBO of log p(x, y): below log p(x, y) <= 0
    assert np.all(by_class < 0)


def test_m2_likelihood_estimate_sums_to_one_over_every_state():
    """The inherited importance-weighted estimate, with the class drawn from q(y|x), is a
    consistent estimate of p(x) = sum_y p(y) int p(x|y,z) p(z) dz: over all 16 states of
    a 2 x 2 lattice it sums to one."""
    from scipy.special import logsumexp

    from tests._vae_helpers import all_states

    keras.utils.set_random_seed(5)
    model = M2(2, 1, family="dense", units=(8,), decoder="factorized")
    x = tf.constant(((all_states(2) + 1) // 2)[..., None].astype("float32"))
    logw = model.log_weights(x, 4000, tf.constant([3, 4])).numpy().astype(np.float64)
    log_p = logsumexp(logw, axis=0) - math.log(logw.shape[0])
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=0.02)


def test_m2_loss_uses_labels_only_where_the_mask_allows():
    model = _m2()
    x = tf.constant((np.random.default_rng(3).random((4, 4, 4, 1)) < 0.5).astype("float32"))
    seed = tf.constant([1, 1])
    T = tf.constant([1.5, 1.5, 3.0, 3.0])
    recon_l, kl_l, _, _ = model._rows(x, T, tf.ones(4), seed, False)
    recon_u, kl_u, _, _ = model._rows(x, T, tf.zeros(4), seed, False)
    np.testing.assert_allclose(-(recon_l + kl_l).numpy(),
                               model.labelled_bound(x, model.class_of(T), seed).numpy(),
                               rtol=1e-5)
    np.testing.assert_allclose(-(recon_u + kl_u).numpy(),
                               model.unlabelled_bound(x, seed).numpy(), rtol=1e-5)
    flipped = tf.constant([3.0, 3.0, 1.5, 1.5])       # masked-out labels change nothing
    recon_f, kl_f, _, _ = model._rows(x, flipped, tf.zeros(4), seed, False)
    np.testing.assert_allclose((recon_f + kl_f).numpy(), (recon_u + kl_u).numpy())


def test_label_mask_honours_window_and_fraction():
    T = np.repeat([1.5, 2.2, 2.3, 3.0], 1000)
    mask = training.label_mask(T, 0.1, 0.2, seed=0)
    assert mask[(T == 2.2) | (T == 2.3)].sum() == 0
    assert mask.sum() == 200
    assert np.array_equal(mask, training.label_mask(T, 0.1, 0.2, seed=0))
    assert not np.array_equal(mask, training.label_mask(T, 0.1, 0.2, seed=1))


def test_m2_semi_supervised_run_and_sample_at_a_temperature(tmp_path, l4_file, capsys):
    run = tmp_path / "m2"
    code, out, err = main(["train", l4_file, "--out", run, "--epochs", 2, "--quiet",
                           "--head", "m2-temperature", "--label-fraction", 0.1,
                           "--alpha", 0.5, *SMALL], capsys)
    assert code == 0, err
    model, cfg = RunDir(run).load()
    assert isinstance(model, M2) and model.class_temperatures == (1.5, 2.0, 3.0, 3.5)
    assert model.alpha == 0.5
    assert cfg["labelled_rows"] == round(0.1 * cfg["split_rows"]["train"])
    code, out, err = main(["sample", run, "--n", 64, "--temperature", 2.0, "--out",
                           tmp_path / "s.h5", "--seed", 3], capsys)
    assert code == 0, err
    s = IsingDataset(tmp_path / "s.h5")
    assert s.n == 64 and np.all(s.temperature == 2.0)
    np.testing.assert_allclose(s.energy, lattice.energy(s.spins))
    for T in (2.7, -1):
        code, _, err = main(["sample", run, "--n", 8, "--temperature", T, "--out",
                             tmp_path / "bad.h5"], capsys)
        assert code == 2 and _one_line(err) and "temperature" in err, err
    assert not (tmp_path / "bad.h5").exists()
    code, out, err = main(["evaluate", run, "--iw-samples", 5, "--quiet"], capsys)
    assert code == 0 and "phase accuracy" in out, err


# ------------------------------------------------------------------ supervised Tc


def _synthetic_classifier(tc_L, temps, chains=8, per_chain=20, width=0.08, seed=0):
    """P(ordered) = logistic((tc_L - T) / width) plus chain-level noise."""
    rng = np.random.default_rng(seed)
    T, chain, p = [], [], []
    for i, t in enumerate(temps):
        for c in range(chains):
            shift = rng.normal(0, 0.01)
            p.append(1 / (1 + np.exp(-(tc_L - t + shift) / width)) + rng.normal(0, 0.02,
                                                                               per_chain))
            T.append(np.full(per_chain, t))
            chain.append(np.full(per_chain, i * chains + c))
    return np.concatenate(p), np.concatenate(T), np.concatenate(chain)


def test_crossing_estimator_finds_a_known_crossing_and_extrapolates_it():
    temps = np.linspace(2.0, 2.6, 13)
    estimates = []
    for L in (8, 16, 32):
        tc_L = 2.269 + 0.8 / L
        p, T, chain = _synthetic_classifier(tc_L, temps, seed=L)
        est = crossing_estimate(p, T, chain, L=L, method="classifier-test", replicates=100)
        assert 0 < est["stderr"] < 0.02
        assert abs(est["tc"] - tc_L) < 4 * est["stderr"] + 0.005, est
        assert len(est["curve"]) == temps.size
        estimates.append(est)
    rows, _ = merge_estimates(estimates)
    fss = [e for e in rows if e["method"] == "classifier-test-fss"]
    assert len(fss) == 1 and fss[0]["L"] is None
    assert abs(fss[0]["tc"] - 2.269) < 4 * fss[0]["stderr"] + 0.01
    # a curve that never falls through 1/2 has no crossing
    flat = crossing_estimate(np.full(40, 0.9), np.repeat([2.0, 2.5], 20), np.arange(40),
                             L=8, method="classifier-flat", replicates=10)
    assert math.isnan(flat["tc"])


def test_analyze_reports_the_supervised_crossing(tmp_path, l4_file):
    from isingvae.analysis.report import analyze

    run = tmp_path / "vib"
    # four epochs: at two the head of this tiny model is still near 1/2 everywhere for
    # some seeds (the batch order is a function of the seed), and its curve never crosses
    training.train(l4_file, run, TrainConfig(epochs=4, head="vib-phase", **SMALL_CONFIG),
                   verbose=0)
    report = analyze([run], [l4_file], tmp_path / "report", samples=0, bootstrap=10,
                     progress=False)
    sup = [e for e in report["tc_estimates"] if e["method"] == "vib-phase-crossing"]
    assert len(sup) == 1 and sup[0]["L"] == 4
    assert 1.5 < sup[0]["tc"] < 3.5 and sup[0]["stderr"] >= 0
    assert [c["temperature"] for c in sup[0]["curve"]] == [1.5, 2.0, 3.0, 3.5]


# ------------------------------------------------------------------ information plane


def test_information_plane_on_a_tiny_case(tmp_path, l4_file):
    from isingvae.analysis.infoplane import information_plane

    rec = information_plane(l4_file, tmp_path / "plane", betas=[1e-3, 30.0], epochs=6,
                            learning_rate=1e-2, filters=(4,), units=(16,), samples=2)
    assert (tmp_path / "plane" / "infoplane.png").stat().st_size > 0
    assert json.loads((tmp_path / "plane" / "infoplane.json").read_text())["points"]
    low, high = rec["points"]
    assert rec["h_y_nats"] == pytest.approx(math.log(2), abs=0.05)
    assert low["i_zx_upper_nats"] > high["i_zx_upper_nats"] >= 0
    assert high["i_zx_upper_nats"] < 0.1                  # a strong bottleneck shuts z
    assert low["i_zy_lower_nats"] > high["i_zy_lower_nats"]
    assert low["i_zy_lower_nats"] <= rec["h_y_nats"] + 1e-6
    assert low["accuracy"] > 0.7 and low["i_zy_lower_nats"] > 0.1


# ------------------------------------------------------------------ saving and input


def test_head_models_reload_after_import_isingvae(tmp_path):
    x = (np.random.default_rng(18).random((4, 4, 4, 1)) < 0.5).astype("float32")
    np.save(tmp_path / "x.npy", x)
    models = {
        "vib_head": HeadVAE(4, 2, head="temperature", filters=(4,), units=(8,), flow="planar",
                            flow_depth=2, t_mean=2.5, t_std=0.7, decoder="factorized"),
        "vib_alone": VIB(4, 2, head="phase", filters=(4,), units=(8,)),
        "m2": _m2("temperature"),
    }
    for name, model in models.items():
        model.save(tmp_path / f"{name}.keras")
        out = model.predict_temperature(tf.constant(x)) if "temperature" in model.predicts \
            else model.predict_phase(tf.constant(x))
        np.save(tmp_path / f"{name}.npy", out.numpy())
    code = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        import isingvae
        import keras
        x = tf.constant(np.load({str(tmp_path / 'x.npy')!r}))
        for name in {list(models)!r}:
            m = keras.saving.load_model({str(tmp_path)!r} + f"/{{name}}.keras")
            out = m.predict_temperature(x) if "temperature" in m.predicts \\
                else m.predict_phase(x)
            assert np.array_equal(out.numpy(), np.load({str(tmp_path)!r} + f"/{{name}}.npy")), name
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]


def test_head_settings_are_checked_without_tensorflow():
    from isingvae.models import HEAD_KINDS, M2_CLASSES

    assert {h.split("-", 1)[1] for h in options.HEADS if h.startswith("vib")} == set(HEAD_KINDS)
    assert {h.split("-", 1)[1] for h in options.HEADS if h.startswith("m2")} == set(M2_CLASSES)
    code = ("import sys\nfrom isingvae.training import TrainConfig\n"
            "TrainConfig(head='m2-phase', label_fraction=0.1, label_window=0.3)\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_bad_head_input_gives_one_line_and_exit_2(tmp_path, l4_file, capsys):
    hot = exact_iid_file(tmp_path / "hot.h5", 4, [3.0, 3.5], 256, 0)
    run = tmp_path / "run"
    cases = [
        (["--head", "vib-phase", "--label-fraction", 0], "label fraction"),
        (["--head", "vib-phase", "--label-fraction", 1.5], "label fraction"),
        (["--head", "m2-phase", "--label-window", -1], "label window"),
        (["--label-fraction", 0.5], "need a --head"),
        (["--head", "vib-phase", "--head-weight", -1], "head weight"),
        (["--head", "vib-phase", "--head-units", 0], "head units"),
        (["--head", "m2-phase", "--flow", "iaf"], "M2"),
        (["--head", "vib-phase", "--levels", 2], "--levels 2"),
        (["--head", "vib-phase", "--label-window", 5], "no training configuration"),
    ]
    for flags, needle in cases:
        code, _, err = main(["train", l4_file, "--out", run, *flags], capsys)
        assert code == 2, (flags, err)
        assert _one_line(err) and needle in err, (flags, err)
    code, _, err = main(["train", hot, "--out", run, "--head", "m2-phase"], capsys)
    assert code == 2 and _one_line(err) and "both phases" in err, err
    assert not run.exists()
