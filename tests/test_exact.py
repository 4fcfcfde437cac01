"""Exact references checked against each other, against brute force and against limits."""

import math

import numpy as np
import pytest
from scipy import optimize

from isingvae import exact
from isingvae.errors import InputError

TC = exact.critical_temperature()
TEMPS = np.array([0.5, 1.0, 1.5, 2.0, TC, 2.5, 3.0, 5.0, 20.0])


def brute_force_states(L):
    """Bond energy -sum s_i s_j and magnetization sum s_i of every state, by direct loops."""
    n = L * L
    idx = np.arange(2**n)
    spins = (((idx[:, None] >> np.arange(n)) & 1) * 2 - 1).reshape(-1, L, L)
    bonds = -(spins * np.roll(spins, 1, axis=1)).sum((1, 2)) - (
        spins * np.roll(spins, 1, axis=2)
    ).sum((1, 2))
    return bonds, spins.sum((1, 2))


# --- critical point -------------------------------------------------------------------


def test_critical_temperature_is_self_dual_point():
    # Kramers-Wannier: sinh(2J/Tc) = 1
    assert math.sinh(2 / TC) == pytest.approx(1.0, abs=1e-15)
    assert TC == pytest.approx(2.269185314213022, rel=1e-14)
    assert exact.critical_temperature(J=0.5) == pytest.approx(TC / 2, rel=1e-15)


# --- enumeration ------------------------------------------------------------------------


@pytest.mark.parametrize("L", [2, 3, 4])
def test_density_of_states_matches_brute_force(L):
    bonds, mags = brute_force_states(L)
    g = exact.density_of_states(L)
    for i, e in enumerate(g.bond_energy):
        for j, m in enumerate(g.magnetization):
            assert g.counts[i, j] == np.sum((bonds == e) & (mags == m))
    assert g.counts.sum() == 2 ** (L * L)


def test_density_of_states_L5_known_facts():
    g = exact.density_of_states(5)
    assert g.counts.sum() == 2**25
    # two ground states with all 50 bonds satisfied, one per sign of M
    i0 = np.argmin(g.bond_energy)
    assert g.bond_energy[i0] == -50
    assert g.counts[i0].sum() == 2
    # spin-flip symmetry: counts(E, M) = counts(E, -M)
    np.testing.assert_array_equal(g.counts, g.counts[:, ::-1])


@pytest.mark.parametrize("h", [0.0, 0.3, -0.7])
def test_enumeration_averages_match_brute_force(h):
    L, T, J = 3, 1.7, 1.3
    bonds, mags = brute_force_states(L)
    n = L * L
    energy = (J * bonds - h * mags) / n
    m = mags / n
    w = np.exp(-(energy - energy.min()) * n / T)
    p = w / w.sum()
    r = exact.enumerate_lattice(L, T, J=J, h=h)
    assert r.energy == pytest.approx(np.sum(p * energy), rel=1e-12)
    assert r.magnetization == pytest.approx(np.sum(p * m), abs=1e-12)
    assert r.abs_magnetization == pytest.approx(np.sum(p * abs(m)), rel=1e-12)
    assert r.m4 == pytest.approx(np.sum(p * m**4), rel=1e-12)
    var_e = np.sum(p * energy**2) - np.sum(p * energy) ** 2
    assert r.specific_heat == pytest.approx(n * var_e / T**2, rel=1e-9)
    var_m = np.sum(p * m**2) - np.sum(p * m) ** 2
    assert r.susceptibility == pytest.approx(n * var_m / T, rel=1e-9)
    log_z = (np.log(w.sum()) - energy.min() * n / T) / n
    assert r.log_z == pytest.approx(log_z, rel=1e-12)


def test_enumeration_infinite_temperature_limits():
    L = 4
    n = L * L
    r = exact.enumerate_lattice(L, 1e9)
    assert r.entropy == pytest.approx(math.log(2), abs=1e-8)
    # independent spins: <M^2> = N, <M^4> = 3N^2 - 2N, so U4 = 2 / (3N) and chi T = 1
    assert r.binder == pytest.approx(2 / (3 * n), rel=1e-6)
    assert r.susceptibility * 1e9 == pytest.approx(1.0, rel=1e-6)
    r0 = exact.enumerate_lattice(L, 0.05)
    assert r0.binder == pytest.approx(2 / 3, abs=1e-12)
    assert r0.abs_magnetization == pytest.approx(1.0, abs=1e-12)


# --- Kaufman's finite torus -----------------------------------------------------------


@pytest.mark.parametrize("L", [3, 4])
def test_kaufman_matches_enumeration(L):
    k = exact.finite_lattice(L, TEMPS)
    e = exact.enumerate_lattice(L, TEMPS)
    np.testing.assert_allclose(k.log_z, e.log_z, rtol=1e-10)
    np.testing.assert_allclose(k.energy, e.energy, rtol=1e-10)
    np.testing.assert_allclose(k.specific_heat, e.specific_heat, rtol=1e-10)
    np.testing.assert_allclose(k.entropy, e.entropy, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("L", [2, 5])
def test_kaufman_matches_enumeration_other_sizes(L):
    k = exact.finite_lattice(L, TEMPS, J=0.8)
    e = exact.enumerate_lattice(L, TEMPS, J=0.8)
    np.testing.assert_allclose(k.log_z, e.log_z, rtol=1e-10)
    np.testing.assert_allclose(k.energy, e.energy, rtol=1e-10)
    np.testing.assert_allclose(k.specific_heat, e.specific_heat, rtol=1e-9)


@pytest.mark.parametrize("L", [2, 7, 16, 100, 512])
def test_kaufman_finite_and_consistent_over_whole_range(L):
    T = np.geomspace(0.5, 20, 41)
    r = exact.finite_lattice(L, T)
    for a in (r.log_z, r.energy, r.specific_heat, r.entropy):
        assert np.all(np.isfinite(a))
    assert np.all(r.specific_heat > 0)
    assert np.all(np.diff(r.energy) > 0)  # energy rises with temperature
    np.testing.assert_allclose(r.free_energy, -T * r.log_z)
    # u = -d ln Z / d beta per spin, by Richardson-extrapolated central differences
    beta = 1 / T
    h = 1e-3

    def d(hh):
        up = exact.finite_lattice(L, 1 / (beta + hh)).log_z
        dn = exact.finite_lattice(L, 1 / (beta - hh)).log_z
        return (up - dn) / (2 * hh)

    numeric = (4 * d(h / 2) - d(h)) / 3
    np.testing.assert_allclose(r.energy, -numeric, rtol=1e-8, atol=1e-10)


def test_kaufman_derivatives_accurate_at_large_L():
    # Far from Tc the L = 512 torus equals the infinite lattice to machine precision,
    # so Onsager's closed forms test the analytic derivatives at the hardest size.
    T = np.array([0.5, 0.8, 1.2, 3.0, 5.0, 20.0])
    L = 512
    k = exact.finite_lattice(L, T)
    o = exact.infinite_lattice(T)
    # below Tc the torus keeps both ordered states: ln Z and S gain exactly ln 2 / N
    twofold = np.where(T < TC, math.log(2) / L**2, 0.0)
    np.testing.assert_allclose(k.log_z - twofold, o.log_z, rtol=1e-12)
    np.testing.assert_allclose(k.energy, o.energy, rtol=1e-10)
    np.testing.assert_allclose(k.specific_heat, o.specific_heat, rtol=1e-8)
    np.testing.assert_allclose(k.entropy - twofold, o.entropy, rtol=1e-8, atol=1e-12)


def test_energy_at_tc_tends_to_minus_sqrt2():
    sizes = [16, 32, 64, 128, 256, 512]
    # the torus at Tc is more ordered than the infinite lattice: E(L) < -sqrt 2
    gap = np.array([-math.sqrt(2) - exact.finite_lattice(L, TC).energy for L in sizes])
    assert np.all(gap > 0)
    # leading finite-size correction is proportional to 1/L: the gap halves per doubling
    np.testing.assert_allclose(gap[:-1] / gap[1:], 2.0, rtol=0.01)
    assert gap[-1] < 2e-3


def test_specific_heat_peak_approaches_tc():
    peaks, heights = [], []
    for L in (8, 16, 32, 64, 128):
        res = optimize.minimize_scalar(
            lambda t, L=L: -exact.finite_lattice(L, t).specific_heat,
            bounds=(2.0, 2.8), method="bounded", options={"xatol": 1e-7},
        )
        peaks.append(res.x)
        heights.append(-res.fun)
    dist = np.abs(np.array(peaks) - TC)
    assert np.all(np.diff(dist) < 0)
    assert dist[-1] < 0.01
    # the peak grows without bound (logarithmically) with L
    assert np.all(np.diff(heights) > 0)
    # the package's own search finds the same maxima
    for L, t in zip((8, 16, 32, 64, 128), peaks, strict=True):
        assert exact.specific_heat_peak(L) == pytest.approx(t, abs=1e-6)


@pytest.mark.parametrize("L", [3, 4])
def test_specific_heat_peak_matches_enumeration(L):
    """The exact pseudo-critical temperature of a tiny torus: the maximum of C(T) from
    the enumerated density of states, on a grid of step 1e-4."""
    t = np.arange(1.5, 4.0, 1e-4)
    c = exact.enumerate_lattice(L, t).specific_heat
    assert exact.specific_heat_peak(L) == pytest.approx(t[np.argmax(c)], abs=1.5e-4)
    assert exact.specific_heat_peak(L, J=2.0) == pytest.approx(2 * exact.specific_heat_peak(L))


def test_specific_heat_peak_shift_has_the_ferdinand_fisher_amplitude():
    """T_max(L) = T_c (1 + 0.3603/L + O(L^-2)) on the torus (Ferdinand and Fisher 1969):
    Richardson's extrapolation of L (T_max/T_c - 1) from L = 256 and 512."""
    amp = {L: L * (exact.specific_heat_peak(L) / TC - 1) for L in (256, 512)}
    assert 2 * amp[512] - amp[256] == pytest.approx(0.3603, abs=5e-4)
    with pytest.raises(InputError):
        exact.specific_heat_peak(1)


# --- entropy limits --------------------------------------------------------------------


def test_entropy_high_temperature_limit():
    for r in (exact.finite_lattice(16, 1e4), exact.infinite_lattice(1e4)):
        assert r.entropy == pytest.approx(math.log(2), abs=1e-7)
        assert r.entropy < math.log(2)


def test_entropy_low_temperature_limit():
    L = 16
    r = exact.finite_lattice(L, 0.2)  # excitations cost 8J: weight ~ N exp(-40)
    assert r.entropy == pytest.approx(math.log(2) / L**2, rel=1e-9)
    assert exact.infinite_lattice(0.3).entropy == pytest.approx(0.0, abs=1e-9)


# --- Onsager --------------------------------------------------------------------------


def test_onsager_internal_consistency():
    T = np.array([0.8, 1.5, 2.0, 2.2, 2.35, 2.6, 3.5, 8.0])
    u = exact.onsager_energy(T)
    h = 1e-5
    du_dt = (exact.onsager_energy(T + h) - exact.onsager_energy(T - h)) / (2 * h)
    np.testing.assert_allclose(exact.onsager_specific_heat(T), du_dt, rtol=1e-6)
    b = 1 / T
    dlogz = (exact.onsager_log_z(1 / (b + h)) - exact.onsager_log_z(1 / (b - h))) / (2 * h)
    np.testing.assert_allclose(u, -dlogz, rtol=1e-7)
    np.testing.assert_allclose(exact.onsager_entropy(T), exact.onsager_log_z(T) + u / T)
    np.testing.assert_allclose(exact.onsager_free_energy(T), -T * exact.onsager_log_z(T))


def test_onsager_at_tc():
    assert exact.onsager_energy(TC) == pytest.approx(-math.sqrt(2), rel=1e-12)
    assert exact.onsager_specific_heat(TC) == math.inf
    # ln Z / N at Tc is known in closed form: ln(sqrt 2) + 2G/pi, G = Catalan's constant
    catalan = 0.915965594177219015
    assert exact.onsager_log_z(TC) == pytest.approx(0.5 * math.log(2) + 2 * catalan / math.pi,
                                                    rel=1e-12)


def test_onsager_magnetization():
    assert exact.onsager_magnetization(TC) == 0.0
    assert exact.onsager_magnetization(3.0) == 0.0
    assert exact.onsager_magnetization(0.5) == pytest.approx(1.0, abs=1e-6)
    T = np.linspace(0.5, TC - 1e-3, 50)
    m = exact.onsager_magnetization(T)
    assert np.all(np.diff(m) < 0)
    # critical exponent beta = 1/8
    eps = np.array([1e-7, 1e-6])
    m_eps = exact.onsager_magnetization(TC * (1 - eps))
    slope = np.diff(np.log(m_eps)) / np.diff(np.log(eps))
    assert slope[0] == pytest.approx(0.125, abs=1e-4)


# --- input checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: exact.finite_lattice(16, 0.0), "0.0"),
        (lambda: exact.finite_lattice(16, [2.0, -1.0]), "-1.0"),
        (lambda: exact.finite_lattice(16, float("nan")), "nan"),
        (lambda: exact.finite_lattice(1, 2.0), "got 1"),
        (lambda: exact.finite_lattice(2.5, 2.0), "2.5"),
        (lambda: exact.enumerate_lattice(6, 2.0), "got 6"),
        (lambda: exact.enumerate_lattice(4, 2.0, J=-1.0), "-1.0"),
        (lambda: exact.enumerate_lattice(4, 2.0, h=math.inf), "inf"),
        (lambda: exact.onsager_energy(math.inf), "inf"),
        (lambda: exact.critical_temperature(J=0), "0"),
    ],
)
def test_bad_input_names_the_value(call, needle):
    with pytest.raises(InputError) as info:
        call()
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_scalar_in_scalar_out_and_shapes():
    r = exact.finite_lattice(8, 2.0)
    assert isinstance(r.energy, float)
    r2 = exact.finite_lattice(8, np.full((2, 3), 2.0))
    assert r2.energy.shape == (2, 3)
    e = exact.enumerate_lattice(3, [1.0, 2.0])
    assert e.binder.shape == (2,)
    assert isinstance(exact.onsager_magnetization(1.0), float)

