"""Shared helpers for the Monte Carlo tests: statistics with honest error bars."""

import numpy as np
from scipy import stats

from isingvae import exact
from isingvae.mc import observables as obs
from isingvae.mc.autocorr import jackknife, mean_and_error
from isingvae.mc.chains import measure_series


def run_series(sampler, burn_in, n):
    """Burn in, then energy and magnetization per spin after each of ``n`` sweeps."""
    sampler.sweep(burn_in)
    return measure_series(sampler, n)


def assert_within(name, value, error, expected, nsigma=4.0):
    assert error > 0, f"{name}: zero error bar"
    z = (value - expected) / error
    assert abs(z) < nsigma, (
        f"{name}: {value:.6f} +- {error:.6f} vs exact {expected:.6f} ({z:+.1f} sigma)"
    )


def check_against_enumeration(e, m, L, temps, h=0.0, abs_m=True, heat=True):
    """Compare e, |m| (or m) and the specific heat with exact enumeration, per temperature."""
    N = L * L
    for t, T in enumerate(temps):
        ref = exact.enumerate_lattice(L, T, h=h)
        val, err = mean_and_error(e[:, t])
        assert_within(f"energy T={T}", val, err, ref.energy)
        if abs_m:
            val, err = mean_and_error(np.abs(m[:, t]))
            assert_within(f"|m| T={T}", val, err, ref.abs_magnetization)
        else:
            val, err = mean_and_error(m[:, t])
            assert_within(f"m T={T}", val, err, ref.magnetization)
        if heat:
            val, err = jackknife(lambda x, T=T: obs.specific_heat(x, T, N), e[:, t])
            assert_within(f"specific heat T={T}", val, err, ref.specific_heat)


def chi_square_em(e, m, L, T, J=1.0, h=0.0, min_expected=5.0, fold=False):
    """p-value of the (E, M) histogram of (nearly) independent samples vs Boltzmann weights.

    ``fold=True`` (only for h = 0) merges M and -M: the sign of M decorrelates slowly
    below Tc, which would make records of one chain far from independent.
    """
    dos = exact.density_of_states(L)
    N = L * L
    # bond_energy B = -sum s_i s_j, so H = J B - h M
    B = np.rint((e + h * m) * N / J).astype(np.int64).ravel()
    M = np.rint(m * N).astype(np.int64).ravel()
    logw = np.log(np.maximum(dos.counts, 1)) - (
        J * dos.bond_energy[:, None] - h * dos.magnetization[None, :]
    ) / T
    p = np.where(dos.counts > 0, np.exp(logw - logw.max()), 0.0)
    p /= p.sum()
    bi = np.searchsorted(dos.bond_energy, B)
    mi = np.searchsorted(dos.magnetization, M)
    assert (dos.bond_energy[bi] == B).all() and (dos.magnetization[mi] == M).all()
    observed = np.zeros_like(p)
    np.add.at(observed, (bi, mi), 1)
    if fold:
        assert h == 0
        assert (dos.magnetization == -dos.magnetization[::-1]).all()
        mirror = dos.magnetization > 0  # +M takes the counts and weight of -M as well
        observed = observed + np.where(mirror, observed[:, ::-1], 0)
        p = p + np.where(mirror, p[:, ::-1], 0)
        half = dos.magnetization >= 0
        observed, p = observed[:, half], p[:, half]
    expected = p * B.size
    order = np.argsort(expected.ravel())
    obs_flat, exp_flat = observed.ravel()[order], expected.ravel()[order]
    # pool the rare cells into one bin so that every bin expects >= min_expected
    cut = np.searchsorted(np.cumsum(exp_flat), min_expected)
    o = np.r_[obs_flat[: cut + 1].sum(), obs_flat[cut + 1 :]]
    x = np.r_[exp_flat[: cut + 1].sum(), exp_flat[cut + 1 :]]
    assert (observed[expected == 0] == 0).all(), "a state of zero weight was sampled"
    return stats.chisquare(o, x).pvalue
