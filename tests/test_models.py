"""The VAE's pieces against closed forms, and its estimators against exact properties."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from isingvae import exact  # noqa: E402
from isingvae.errors import InputError  # noqa: E402
from isingvae.evaluation import iw_statistics  # noqa: E402
from isingvae.models import (  # noqa: E402
    VAE,
    CircularPad2D,
    bernoulli_log_prob,
    gaussian_kl,
    gaussian_log_prob,
    standard_normal_log_prob,
)
from tests._vae_helpers import all_states, boltzmann_probabilities  # noqa: E402


def tiny(L=4, **kw):
    keras.utils.set_random_seed(kw.pop("seed", 0))
    base = dict(L=L, latent_dim=2, family="conv", filters=(4,), units=(16,),
                decoder="factorized")
    base.update(kw)
    return VAE(**base)


def fit_briefly(model, x, epochs=3, lr=3e-3):
    model.compile(optimizer=keras.optimizers.Adam(lr))
    model.fit(x, batch_size=64, epochs=epochs, verbose=0, shuffle=False)
    return model


# ------------------------------------------------------------------ layers and densities


def test_circular_padding_is_numpy_wrap():
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype("float32")
    for p in (0, 1, 2):
        got = CircularPad2D(p)(x).numpy()
        want = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="wrap")
        np.testing.assert_array_equal(got, want)


def test_periodic_conv_decoder_commutes_with_translations():
    """Shifting the latent feature map's input is not possible, but a conv encoder on
    a translated lattice sees the same neighbourhoods: the first conv layer's output
    translates with the input (no wall at the boundary)."""
    model = tiny(L=8, filters=(3,))
    x = (np.random.default_rng(1).random((2, 8, 8, 1)) < 0.5).astype("float32")
    first = keras.Model(model.encoder.input, model.encoder.get_layer("conv0").output)
    a = first(np.roll(x, (2, 4), axis=(1, 2))).numpy()
    b = first(x).numpy()
    # stride 2: a shift by (2, 4) sites is a shift by (1, 2) coarse sites
    np.testing.assert_allclose(a, np.roll(b, (1, 2), axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_gaussian_densities_match_scipy():
    rng = np.random.default_rng(2)
    z, m, lv = (rng.normal(size=(5, 3)) for _ in range(3))
    want = stats.norm.logpdf(z, m, np.exp(0.5 * lv)).sum(-1)
    np.testing.assert_allclose(gaussian_log_prob(z, m, lv).numpy(), want, rtol=1e-10)
    np.testing.assert_allclose(standard_normal_log_prob(z).numpy(),
                               stats.norm.logpdf(z).sum(-1), rtol=1e-10)


def test_analytic_kl_equals_monte_carlo_kl():
    rng = np.random.default_rng(3)
    m, lv = rng.normal(size=3), rng.normal(size=3) * 0.5
    z = m + np.exp(0.5 * lv) * rng.normal(size=(200_000, 3))
    mc = (stats.norm.logpdf(z, m, np.exp(0.5 * lv)) - stats.norm.logpdf(z)).sum(-1)
    kl = gaussian_kl(m, lv).numpy().sum()
    assert abs(mc.mean() - kl) < 4 * mc.std() / math.sqrt(len(mc))
    assert np.all(gaussian_kl(np.zeros(3), np.zeros(3)).numpy() == 0)


def test_bernoulli_log_prob_is_finite_and_exact():
    logits = np.array([-50.0, -2.0, 0.0, 3.0, 60.0]).reshape(1, 1, 5, 1)
    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0]).reshape(1, 1, 5, 1)
    got = bernoulli_log_prob(x, logits).numpy()
    p = 1 / (1 + np.exp(-logits.ravel().astype(np.float64)))
    terms = np.where(x.ravel() == 1, -np.logaddexp(0, -logits.ravel()),
                     -np.logaddexp(0, logits.ravel()))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, terms.sum(), rtol=1e-12)
    assert np.all((0 <= p) & (p <= 1))


# ------------------------------------------------------------------ objective


def test_free_bits_stop_the_gradient_of_dimensions_below_the_floor():
    model = tiny(free_bits=0.5)
    kl_dims = tf.Variable([[0.1, 2.0], [0.3, 1.0]])
    with tf.GradientTape() as tape:
        obj = model._objective(tf.zeros(2), tf.reduce_sum(kl_dims, -1), kl_dims, 1.0)
    g = tape.gradient(obj, kl_dims).numpy()
    # dimension 0 averages 0.2 < 0.5 nats: no push; dimension 1 averages 1.5: pushed
    np.testing.assert_allclose(g[:, 0], 0.0)
    np.testing.assert_allclose(g[:, 1], 0.5)
    assert float(obj) == pytest.approx(0.5 + 1.5)


def test_kl_schedules():
    lin = tiny(kl_schedule="linear", warmup_steps=10, beta=2.0)
    got = [float(lin.beta_at(s)) for s in (0, 4, 9, 50)]
    np.testing.assert_allclose(got, [0.2, 1.0, 2.0, 2.0], rtol=1e-6)
    cyc = tiny(kl_schedule="cyclical", cycle_steps=10)
    one = [float(cyc.beta_at(s)) for s in range(10)]
    assert one == sorted(one) and one[-1] == 1.0 and one[0] < 0.2
    np.testing.assert_allclose([float(cyc.beta_at(s + 10)) for s in range(10)], one)
    assert float(tiny().beta_at(0)) == 1.0


@pytest.mark.parametrize("kw", [{"latent_dim": 0}, {"latent_dim": -3}, {"family": "rnn"},
                                {"beta": -1.0}, {"free_bits": float("nan")},
                                {"kl_schedule": "cyclical", "cycle_steps": 0}])
def test_bad_model_settings_raise_input_error(kw):
    with pytest.raises(InputError):
        tiny(**kw)


def test_training_lowers_the_negative_elbo():
    states, p = boltzmann_probabilities(4, 2.0)
    rng = np.random.default_rng(4)
    x = ((states[rng.choice(len(states), 2048, p=p)] + 1) / 2)[..., None].astype("float32")
    model = tiny()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    h = model.fit(x, batch_size=64, epochs=4, verbose=0).history["neg_elbo"]
    assert h[-1] < 0.8 * h[0]


# ------------------------------------------------------------------ importance weighting


@pytest.fixture(scope="module")
def trained_l4():
    """A small VAE fitted to exact samples of the 4 x 4 torus at T = 2.5."""
    states, p = boltzmann_probabilities(4, 2.5)
    rng = np.random.default_rng(5)
    x = ((states[rng.choice(len(states), 4096, p=p)] + 1) / 2)[..., None].astype("float32")
    model = fit_briefly(tiny(seed=1), x, epochs=6)
    return model, states, p


def _iw(model, x, k, seed):
    parts = [a.numpy().astype(np.float64)
             for a in model.log_weight_parts(tf.constant(x), k, tf.constant([seed, 0]))]
    return iw_statistics(*parts)


def test_iw_estimate_is_normalised_over_every_configuration(trained_l4):
    """exp of the K-sample estimate is unbiased for p(x); summed over all 2^16 states
    of the 4 x 4 lattice it must give 1 (a wrong log q, prior or decoder term fails)."""
    model, states, _ = trained_l4
    x = ((states + 1) / 2)[..., None].astype("float32")
    est = []
    for b in range(0, len(x), 8192):
        parts = [a.numpy().astype(np.float64) for a in model.log_weight_parts(
            tf.constant(x[b:b + 8192]), 8, tf.constant([6, b]))]
        logw = parts[0] + parts[1] - parts[2]
        est.append(np.exp(logsumexp(logw, axis=0) - math.log(8)))
    est = np.concatenate(est)
    # error of the sum from the spread of the per-state estimates: rough, so 6 sigma
    err = math.sqrt(np.sum(est**2) / 8)
    assert abs(est.sum() - 1.0) < max(6 * err, 0.02), (est.sum(), err)


def test_iw_bound_rises_with_k_and_stays_above_the_elbo(trained_l4):
    model, states, p = trained_l4
    rng = np.random.default_rng(7)
    x = ((states[rng.choice(len(states), 512, p=p)] + 1) / 2)[..., None].astype("float32")
    means = {}
    for k in (1, 10, 100):
        st = _iw(model, x, k, seed=k)
        means[k] = st["log_p"].mean()
        assert np.all(st["log_p"] >= st["elbo"] - 1e-9)      # log-mean-exp >= mean
    assert means[1] < means[10] < means[100]


def test_held_out_nll_never_beats_the_exact_entropy(trained_l4):
    """E_p[-log q(x)] >= H(p) for any model q: the IW NLL on exact samples at T = 2.5
    must not fall below the exact entropy of the 4 x 4 torus (to its error)."""
    model, states, p = trained_l4
    rng = np.random.default_rng(8)
    x = ((states[rng.choice(len(states), 2048, p=p)] + 1) / 2)[..., None].astype("float32")
    nll = -_iw(model, x, 200, seed=9)["log_p"] / 16
    s = exact.enumerate_lattice(4, 2.5).entropy
    assert s == pytest.approx(exact.finite_lattice(4, 2.5).entropy, rel=1e-9)
    err = nll.std() / math.sqrt(len(nll))
    assert nll.mean() > s - 4 * err
    assert nll.mean() < math.log(2)      # and it learned something


# ------------------------------------------------------------------ saving


def test_model_keras_reloads_after_import_isingvae(tmp_path):
    model = tiny(L=8, latent_dim=3, filters=(4, 8), units=(12,), free_bits=0.1,
                 kl_schedule="linear", warmup_steps=5)
    x = (np.random.default_rng(10).random((4, 8, 8, 1)) < 0.5).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model(x).numpy())
    code = textwrap.dedent(f"""
        import numpy as np
        import isingvae
        import keras
        m = keras.saving.load_model({str(path)!r})
        x = np.load({str(tmp_path / 'x.npy')!r})
        assert type(m).__name__ == "VAE" and m.free_bits == 0.1 and m.warmup_steps == 5
        assert np.array_equal(m(x).numpy(), np.load({str(tmp_path / 'y.npy')!r}))
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]


def test_every_state_enumerated():
    s = all_states(2)
    assert s.shape == (16, 2, 2) and len({t.tobytes() for t in s}) == 16


def test_model_defaults_come_from_the_option_table():
    """Every keyword default of the models and of the multiscale decoder is the option
    table's; a config saved before a key existed keeps what its version used."""
    import inspect

    from isingvae.models import HeadVAE, HierarchicalVAE
    from isingvae.models.multiscale import MultiscaleDecoder
    from isingvae.models.options import MODEL_DEFAULTS

    for cls in (VAE, HeadVAE, HierarchicalVAE):
        params = inspect.signature(cls.__init__).parameters
        for name, default in MODEL_DEFAULTS.items():
            if name in params and params[name].default is not inspect.Parameter.empty:
                assert params[name].default == default, (cls.__name__, name)
    assert VAE(L=4, latent_dim=2, filters=(4,), units=(8,)).decoder_kind == \
        MODEL_DEFAULTS["decoder"] == "autoregressive"
    params = inspect.signature(MultiscaleDecoder.__init__).parameters
    assert params["width"].default == MODEL_DEFAULTS["decoder_width"]
    assert params["depth"].default == MODEL_DEFAULTS["decoder_depth"]
    old = tiny().get_config()
    del old["decoder"]                       # as 0.1.0 saved it
    assert VAE.from_config(old).decoder_kind == "factorized"
