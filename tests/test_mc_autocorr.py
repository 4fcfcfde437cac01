"""Autocorrelation times and error bars on processes with known answers."""

import numpy as np
import pytest

from isingvae.errors import InputError
from isingvae.mc.autocorr import (
    autocorrelation,
    binned_error,
    integrated_time,
    jackknife,
    mean_and_error,
)


def ar1(phi, n, chains, seed):
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(n, chains))
    x = np.empty((n, chains))
    x[0] = noise[0] / np.sqrt(1 - phi**2)  # start in the stationary distribution
    for t in range(1, n):
        x[t] = phi * x[t - 1] + noise[t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.8, 0.95])
def test_ar1_integrated_time(phi):
    # tau_int = (1 + phi) / (1 - phi); the windowed estimator's relative error is
    # about sqrt(2 (2M + 1) / n) for window M ~ 5 tau
    tau = (1 + phi) / (1 - phi)
    n, chains = 20000, 8
    est = integrated_time(ar1(phi, n, chains, seed=1))
    rel = np.sqrt(2 * (2 * 5 * tau + 1) / (n * chains))
    assert abs(est - tau) < 4 * rel * tau + 0.02, (est, tau)


def test_autocorrelation_of_ar1_is_geometric():
    rho = autocorrelation(ar1(0.7, 50000, 4, seed=2))
    np.testing.assert_allclose(rho[:5], 0.7 ** np.arange(5), atol=0.02)


def test_constant_series():
    assert integrated_time(np.ones(100)) == pytest.approx(1.0)
    assert autocorrelation(np.ones(10))[0] == 1.0


def test_mean_error_covers_ar1_truth():
    # the mean of an AR(1) process is 0: error bars must cover it, and match the
    # exact standard error sqrt(tau / ((1 - phi^2) n))
    phi, n, chains = 0.8, 4000, 16
    x = ar1(phi, n, chains, seed=3)
    mean, err = mean_and_error(x)
    exact_err = np.sqrt((1 + phi) / (1 - phi) / (1 - phi**2) / (n * chains))
    assert err == pytest.approx(exact_err, rel=0.15)
    assert abs(mean) < 4 * err
    bmean, berr = binned_error(x, n_bins=20)
    assert bmean == pytest.approx(mean)
    assert berr == pytest.approx(exact_err, rel=0.5)


def test_jackknife_variance_of_independent_normals():
    rng = np.random.default_rng(4)
    n = 40000
    x = rng.normal(0.0, 2.0, size=n)
    var, err = jackknife(np.var, x, n_blocks=40)
    # Var of the sample variance of normals: 2 sigma^4 / n
    assert err == pytest.approx(np.sqrt(2 * 16 / n), rel=0.35)
    assert abs(var - 4.0) < 4 * err


def test_bad_input():
    with pytest.raises(InputError):
        integrated_time([1.0])
    with pytest.raises(InputError):
        jackknife(np.mean, np.ones(10), n_blocks=20)
