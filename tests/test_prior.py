"""The prior p(z|T) of a model conditioned on temperature: mirrored components, and the
fit of the prior to the codes of the training rows after training."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from isingvae import training  # noqa: E402
from isingvae.models import VAE  # noqa: E402
from isingvae.training import RunDir, TrainConfig  # noqa: E402
from tests._vae_helpers import exact_iid_file  # noqa: E402

SMALL = dict(L=4, latent_dim=2, filters=(4,), units=(16,), decoder="autoregressive",
             decoder_width=4, decoder_depth=1, condition="temperature", t_center=2.5,
             t_scale=0.5, t_min=2.0, t_max=3.0, kl_estimator="mc")


def _scrambled(model, seed, scale=0.7):
    rng = np.random.default_rng(seed)
    for w in model.prior_net.weights:
        w.assign(rng.normal(0, scale, w.shape).astype("float32"))
    return model


def test_mirrored_components_are_images_of_each_other():
    model = _scrambled(VAE(**SMALL), 1)
    t = tf.constant([[-1.0], [0.3], [2.0]])
    logits, means, log_vars = (a.numpy() for a in model._prior_mixture(t))
    assert np.allclose(np.exp(logits), 0.5)
    assert np.allclose(log_vars[:, 0], log_vars[:, 1])
    centre = means.mean(axis=1)
    assert not np.allclose(means[:, 0], centre)          # they are apart
    # the density is symmetric about the centre, at any displacement
    v = np.random.default_rng(2).normal(0, 2, (3, 2)).astype("float32")
    x = model._with_t(np.zeros((3, 4, 4, 1), "float32"), t)
    a = model.prior_log_prob(tf.constant(centre + v), x).numpy()
    b = model.prior_log_prob(tf.constant(centre - v), x).numpy()
    assert np.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("mirror", [True, False], ids=["mirrored", "free"])
def test_prior_density_integrates_to_one(mirror):
    model = _scrambled(VAE(**SMALL, prior_mirror=mirror), 3, scale=0.3)
    grid = np.linspace(-12, 12, 481, dtype="float32")
    z = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    for t in (2.0, 2.7):
        x = model.with_temperature(np.zeros((len(z), 4, 4, 1), "float32"), t)
        p = np.exp(model.prior_log_prob(tf.constant(z), x).numpy())
        assert p[:481].max() < 1e-6 and p[-481:].max() < 1e-6       # all mass inside
        assert abs(p.sum() * (grid[1] - grid[0]) ** 2 - 1.0) < 2e-3, t


def test_a_model_saved_before_the_mirror_keeps_free_components():
    config = VAE(**SMALL).get_config()
    del config["prior_mirror"]
    old = VAE.from_config(config)
    assert not old.prior_mirror
    assert old.prior_net.output_shape[-1] == 2 * (1 + 2 * 2)     # weights + 2 (mean, var)
    assert VAE(**SMALL).prior_net.output_shape[-1] == 3 * 2       # half, var, centre


def _two_humps(rng, t, half, centre, sd, n):
    sign = rng.choice([-1.0, 1.0], n)[:, None]
    z = centre + sign * half + sd * rng.normal(size=(n, 2))
    return z.astype("float32"), np.full((n, 1), t, "float32")


def test_fit_prior_finds_the_two_humps_and_their_merging():
    """Codes drawn from known mirrored mixtures at two temperatures: the fit must find the
    humps (apart at one temperature, merged at the other) from the default start, and
    reach the codes' own mean -log density."""
    rng = np.random.default_rng(4)
    cold = _two_humps(rng, -1.0, np.array([3.0, 0.5]), np.array([0.5, -1.0]), 0.8, 4000)
    hot = _two_humps(rng, 1.0, np.zeros(2), np.array([0.0, 0.5]), 1.5, 4000)
    z, t = (np.concatenate(a) for a in zip(cold, hot, strict=True))
    model = VAE(**SMALL)
    before, after = model.fit_prior(z, t, 1500, tf.constant([5, 6], tf.int64))
    assert after < before - 1.0
    # the mean -log density of the codes under the distribution that made them
    true_nll = []
    for (zk, _), half, centre, sd in [(cold, [3.0, 0.5], [0.5, -1.0], 0.8),
                                      (hot, [0.0, 0.0], [0.0, 0.5], 1.5)]:
        d = [np.exp(-0.5 * np.sum((zk - np.add(centre, s * np.array(half))) ** 2, 1) / sd**2)
             / (2 * np.pi * sd**2) for s in (-1, 1)]
        true_nll.append(-np.log(0.5 * d[0] + 0.5 * d[1]))
    assert after < np.concatenate(true_nll).mean() + 0.05
    _, means, log_vars = (a.numpy() for a in model._prior_mixture(tf.constant([[-1.0],
                                                                               [1.0]])))
    apart = np.sort(means[0, :, 0])
    assert np.allclose(apart, [-2.5, 3.5], atol=0.2), means[0]
    assert np.allclose(np.exp(0.5 * log_vars[0, 0]), 0.8, rtol=0.1)
    # merged: one hump (two components a little apart inside it describe it as well)
    mean, log_var = (a.numpy() for a in model.prior_moments(tf.constant([[1.0]])))
    assert np.allclose(mean, [0.0, 0.5], atol=0.1), mean
    assert np.allclose(np.exp(0.5 * log_var), 1.5, rtol=0.08), log_var


def test_training_fits_the_prior_and_nothing_else(tmp_path):
    data = exact_iid_file(tmp_path / "l4.h5", 4, [2.0, 3.0], 512, 7)
    small = dict(filters=(4,), units=(16,), latent_dim=2, batch_size=64, epochs=1,
                 decoder_width=4, decoder_depth=1, seed=3)
    kept = training.train(data, tmp_path / "kept", TrainConfig(prior_fit=0, **small),
                          verbose=0)
    fitted = training.train(data, tmp_path / "fit", TrainConfig(prior_fit=300, **small),
                            verbose=0)
    assert "prior_nll_before" not in kept.final
    assert fitted.final["prior_nll_after"] < fitted.final["prior_nll_before"]
    a, _ = RunDir(kept.run_dir).load()
    b, _ = RunDir(fitted.run_dir).load()
    assert a.conditioned and b.prior_mirror
    for part in (a.encoder, a.decoder):
        other = b.encoder if part is a.encoder else b.decoder
        for u, v in zip(part.get_weights(), other.get_weights(), strict=True):
            assert np.array_equal(u, v)
    assert not all(np.array_equal(u, v) for u, v in
                   zip(a.prior_net.get_weights(), b.prior_net.get_weights(), strict=True))
    # same seed, same bits
    again = training.train(data, tmp_path / "again", TrainConfig(prior_fit=300, **small),
                           verbose=0)
    c, _ = RunDir(again.run_dir).load()
    for u, v in zip(b.get_weights(), c.get_weights(), strict=True):
        assert np.array_equal(u, v)
