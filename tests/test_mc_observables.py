"""Observables of configurations against direct sums."""

import numpy as np
import pytest

from isingvae.errors import InputError
from isingvae.mc import observables as obs


def brute_energy(s, J, h):
    L = s.shape[0]
    e = 0.0
    for i in range(L):
        for j in range(L):
            e -= J * s[i, j] * (s[(i + 1) % L, j] + s[i, (j + 1) % L]) + h * s[i, j]
    return e / L**2


def test_energy_and_magnetization_match_direct_sums():
    rng = np.random.default_rng(0)
    s = rng.choice(np.array([-1, 1], np.int8), size=(3, 2, 6, 6))
    e = obs.energy(s, J=0.7, h=0.3)
    assert e.shape == (3, 2)
    for idx in np.ndindex(3, 2):
        assert e[idx] == pytest.approx(brute_energy(s[idx].astype(int), 0.7, 0.3))
    np.testing.assert_allclose(obs.magnetization(s), s.mean(axis=(-2, -1)))
    checker = np.where(np.indices((4, 4)).sum(0) % 2, 1, -1).astype(np.int8)
    assert obs.energy(checker) == 2.0
    assert obs.abs_magnetization(checker) == 0.0


def test_thermal_estimators():
    m = np.array([1.0, -1.0, 0.5, -0.5])
    assert obs.susceptibility(m, 2.0, 16) == pytest.approx(16 * np.mean(m**2) / 2)
    assert obs.susceptibility(m, 2.0, 16, absolute=True) == pytest.approx(
        16 * (np.mean(m**2) - 0.75**2) / 2
    )
    assert obs.binder_cumulant(np.ones(5)) == pytest.approx(2 / 3)
    e = np.array([-2.0, -1.0])
    assert obs.specific_heat(e, 0.5, 4) == pytest.approx(4 * 0.25 / 0.25)


def test_correlation_function_matches_direct_average():
    rng = np.random.default_rng(1)
    s = rng.choice(np.array([-1, 1], np.int8), size=(2, 8, 8))
    g = obs.correlation_function(s)
    assert g.shape == (2, 5)
    for c in range(2):
        x = s[c].astype(float)
        for r in range(5):
            direct = 0.5 * (np.mean(x * np.roll(x, -r, 0)) + np.mean(x * np.roll(x, -r, 1)))
            assert g[c, r] == pytest.approx(direct)
    np.testing.assert_allclose(g[:, 0], 1.0)
    gc = obs.correlation_function(s, connected=True)
    np.testing.assert_allclose(gc, g - obs.magnetization(s)[:, None] ** 2)


def test_bad_shape():
    with pytest.raises(InputError):
        obs.energy(np.ones((4, 5)))
