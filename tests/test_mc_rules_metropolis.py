"""Checkerboard multi-spin-coded Metropolis: exactness, reproducibility, input checks."""

import os
import platform
import subprocess
import sys

import numba
import numpy as np
import pytest
from _mc_helpers import check_against_enumeration, chi_square_em, run_series

from isingvae import exact
from isingvae.errors import InputError
from isingvae.mc import Metropolis
from isingvae.mc import observables as obs
from isingvae.mc.autocorr import jackknife, mean_and_error
from isingvae.mc.rules import _metropolis_kernels as _k
from isingvae.mc.rules import _rng, metropolis
from isingvae.mc.rules._rng import next_u64_pp

TC = exact.critical_temperature()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"L": 5}, "5"),
        ({"L": 2}, "2"),
        ({"L": 7}, "7"),
        ({"L": 4.5}, "4.5"),
        ({"temperatures": [2.0, 0.0]}, "0.0"),
        ({"temperatures": [-1.0]}, "-1.0"),
        ({"temperatures": [float("nan")]}, "nan"),
        ({"temperatures": [float("inf")]}, "inf"),
        ({"chains": 0}, "0"),
        ({"chains": 2.5}, "2.5"),
        ({"seed": -3}, "-3"),
        ({"h": float("nan")}, "nan"),
        ({"start": "warm"}, "warm"),
        ({"parallel": "gpu"}, "gpu"),
    ],
)
def test_bad_input_names_the_value(kwargs, fragment):
    args = {"L": 4, "temperatures": [2.0], "chains": 3, "seed": 0, **kwargs}
    with pytest.raises(InputError, match=r"^[^\n]*$") as info:
        Metropolis(**args)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_keyword_only():
    with pytest.raises(TypeError):
        Metropolis(4, [2.0], 3, 0)


@pytest.mark.parametrize("chains", [1, 63, 64, 70, 130])
def test_shapes_and_padding(chains):
    sim = Metropolis(L=6, temperatures=[1.0, 2.5, 6.0], chains=chains, seed=3)
    sim.sweep(7)
    s = sim.spins
    assert s.shape == (3, chains, 6, 6) and s.dtype == np.int8
    assert set(np.unique(s).tolist()) <= {-1, 1}
    e, m = sim.observables()
    assert e.shape == m.shape == (3, chains)
    np.testing.assert_allclose(e, obs.energy(s))
    np.testing.assert_allclose(m, obs.magnetization(s))
    # padding bits of the last word are never flipped (they start up)
    state = sim.get_state()
    pad = ~sim._valid[-1]
    assert np.all(state["words"][:, -1] & pad == pad)


def test_cold_start_and_set_spins():
    sim = Metropolis(L=4, temperatures=[2.0], chains=70, seed=0, start="cold")
    assert (sim.spins == 1).all()
    np.testing.assert_allclose(sim.energy, -2.0)
    rng = np.random.default_rng(0)
    new = rng.choice(np.array([-1, 1], np.int8), size=(1, 70, 4, 4))
    sim.set_spins(new)
    np.testing.assert_array_equal(sim.spins, new)
    with pytest.raises(InputError):
        sim.set_spins(new[:, :3])


@pytest.mark.parametrize("parallel", ["pairs", "rows"])
def test_identical_for_any_thread_count_and_strategy(parallel, monkeypatch):
    monkeypatch.setattr(metropolis, "_SERIAL_WORDS", 0)  # small job, threads anyway
    threads = numba.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            numba.set_num_threads(n)
            sim = Metropolis(L=8, temperatures=[1.8, 2.4, 3.1], chains=130, seed=11)
            sim.parallel = parallel
            sim.sweep(9)
            results.append(sim.spins)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(results[0], results[1])
    other = Metropolis(L=8, temperatures=[1.8, 2.4, 3.1], chains=130, seed=11)
    other.parallel = "rows" if parallel == "pairs" else "pairs"
    other.sweep(9)
    np.testing.assert_array_equal(results[0], other.spins)


def test_auto_strategy_avoids_row_barriers_on_small_lattices():
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(2)
        # one block of a small lattice: rows would pay two barriers per sweep for nothing
        assert Metropolis(L=16, temperatures=[2.3], chains=64, seed=0)._strategy() == "serial"
        # a single large block is worth splitting by rows
        assert Metropolis(L=256, temperatures=[2.3], chains=64, seed=0)._strategy() == "rows"
        # pairs that share out evenly, or unevenly but several
        assert Metropolis(L=16, temperatures=[2.0, 2.3], chains=64, seed=0)._strategy() \
            == "pairs"
        assert Metropolis(L=16, temperatures=[2.0, 2.3, 2.6], chains=64, seed=0
                          )._strategy() == "pairs"
    finally:
        numba.set_num_threads(threads)
    # and the serial choice gives the same bits as the threaded strategies
    a = Metropolis(L=16, temperatures=[2.3], chains=64, seed=5)
    b = Metropolis(L=16, temperatures=[2.3], chains=64, seed=5, parallel="rows")
    a.sweep(300)
    b.sweep(300)
    np.testing.assert_array_equal(a.spins, b.spins)


def test_field_kernel_identical_across_strategies(monkeypatch):
    monkeypatch.setattr(metropolis, "_SERIAL_WORDS", 0)
    a = Metropolis(L=6, temperatures=[2.0, 3.0], chains=65, seed=2, h=0.4, parallel="pairs")
    b = Metropolis(L=6, temperatures=[2.0, 3.0], chains=65, seed=2, h=0.4, parallel="rows")
    a.sweep(5)
    b.sweep(5)
    np.testing.assert_array_equal(a.spins, b.spins)


def test_seeds_differ_and_repeat():
    def spins(seed):
        sim = Metropolis(L=8, temperatures=[2.5], chains=64, seed=seed)
        sim.sweep(3)
        return sim.spins

    np.testing.assert_array_equal(spins(5), spins(5))
    assert (spins(5) != spins(6)).any()


def test_state_resumes_bit_identically():
    full = Metropolis(L=8, temperatures=[2.0, 2.6], chains=70, seed=4)
    full.sweep(10)
    part = Metropolis(L=8, temperatures=[2.0, 2.6], chains=70, seed=4)
    part.sweep(4)
    state = part.get_state()
    resumed = Metropolis(L=8, temperatures=[2.0, 2.6], chains=70, seed=4)
    resumed.set_state(state)
    resumed.sweep(6)
    np.testing.assert_array_equal(full.spins, resumed.spins)
    assert resumed.sweeps_done == 10
    bad = dict(state, rng=state["rng"][:1])
    with pytest.raises(InputError):
        resumed.set_state(bad)


def test_progress_does_not_change_result(capsys):
    a = Metropolis(L=4, temperatures=[2.0], chains=8, seed=1)
    b = Metropolis(L=4, temperatures=[2.0], chains=8, seed=1)
    a.sweep(50)
    b.sweep(50, progress=True)
    np.testing.assert_array_equal(a.spins, b.spins)
    assert "sweeps" in capsys.readouterr().err


def test_against_enumeration_L4():
    temps = [1.5, TC, 3.0]
    sim = Metropolis(L=4, temperatures=temps, chains=256, seed=20)
    e, m = run_series(sim, 200, 2000)
    check_against_enumeration(e, m, 4, temps)


def test_against_enumeration_with_field():
    temps = [1.8, 2.5, 4.0]
    sim = Metropolis(L=4, temperatures=temps, chains=256, seed=21, h=0.3)
    e, m = run_series(sim, 200, 2000)
    check_against_enumeration(e, m, 4, temps, h=0.3, abs_m=False)


def test_antiferromagnet_at_zero_field_is_the_staggered_ferromagnet():
    # J < 0 goes through the generic kernel; on a bipartite torus its energies
    # match the ferromagnet's (gauge transformation)
    temps = [2.0, 3.0]
    sim = Metropolis(L=4, temperatures=temps, chains=256, seed=22, J=-1.0)
    e, _ = run_series(sim, 200, 1500)
    for t, T in enumerate(temps):
        val, err = mean_and_error(e[:, t])
        ref = exact.enumerate_lattice(4, T).energy
        assert abs(val - ref) < 4 * err


def test_against_kaufman_L16():
    temps = [2.0, TC, 2.6]
    sim = Metropolis(L=16, temperatures=temps, chains=128, seed=23)
    e, _ = run_series(sim, 500, 3000)
    for t, T in enumerate(temps):
        ref = exact.finite_lattice(16, T)
        val, err = mean_and_error(e[:, t])
        assert abs(val - ref.energy) < 4 * err, (T, val, err, ref.energy)
        c, cerr = jackknife(lambda x, T=T: obs.specific_heat(x, T, 256), e[:, t])
        assert abs(c - ref.specific_heat) < 4 * cerr, (T, c, cerr, ref.specific_heat)


@pytest.mark.parametrize(("T", "h"), [(2.5, 0.0), (1.9, 0.0), (2.2, 0.25)])
def test_stationary_distribution_chi_square(T, h):
    # many chains, records 8 sweeps apart (several tau at L = 4): nearly independent
    sim = Metropolis(L=4, temperatures=[T], chains=2048, seed=24, h=h)
    sim.sweep(100)
    es, ms = [], []
    for _ in range(20):
        sim.sweep(8)
        e, m = sim.observables()
        es.append(e)
        ms.append(m)
    p = chi_square_em(np.array(es), np.array(ms), 4, T, h=h, fold=h == 0)
    assert p > 1e-4, p


@pytest.mark.parametrize("fast", [True, False])
def test_not_trapped_in_zero_cost_cycles(fast):
    # diagonal stripes of width 2: every spin has two aligned neighbours (Delta E = 0).
    # Always accepting such flips would alternate the state with its mirror for ever.
    L = 8
    i, j = np.indices((L, L))
    stripes = np.where((i + j) % 4 < 2, 1, -1).astype(np.int8)
    sim = Metropolis(L=L, temperatures=[1.0], chains=64, seed=9)
    sim._fast = fast  # white box: the generic (any J, h) kernel must behave the same
    sim.set_spins(np.broadcast_to(stripes, (1, 64, L, L)))
    np.testing.assert_allclose(sim.energy, 0.0)
    sim.sweep(200)
    assert (sim.energy < -1.0).mean() > 0.9


# ---------------------------------------------------------------------------------
# the vectorised fast kernel, white box: a plain scalar rendering of the same
# algorithm (same streams, same chunks of sites, same rounds) must give the same bits


@numba.njit
def _scalar_reference_sweeps(words, rng, valid, d3, d4, r3, r4, n):
    lanes = _k.LANES
    nT, nB, L, _ = words.shape
    m3 = np.zeros(lanes, np.uint64)
    m4 = np.zeros(lanes, np.uint64)
    und = np.zeros(lanes, np.uint64)
    half = np.zeros(lanes, np.uint64)
    flip = np.zeros(lanes, np.uint64)
    spin = np.zeros(lanes, np.uint64)
    for t in range(nT):
        for b in range(nB):
            W = words[t, b]
            for _ in range(n):
                for colour in range(2):
                    for i in range(L):
                        st = rng[t, b, i]
                        odd = (i + colour) & 1
                        for c in range((L + 2 * lanes - 1) // (2 * lanes)):
                            used = min(lanes, (L - 2 * lanes * c) // 2)
                            for v in range(lanes):
                                m3[v] = m4[v] = und[v] = half[v] = flip[v] = spin[v] = 0
                                if v >= used:
                                    continue
                                j = 2 * lanes * c + 2 * v + odd
                                s = W[i, j]
                                x = (
                                    ~(s ^ W[(i - 1) % L, j]),
                                    ~(s ^ W[(i + 1) % L, j]),
                                    ~(s ^ W[i, (j - 1) % L]),
                                    ~(s ^ W[i, (j + 1) % L]),
                                )
                                # bit-sliced count of agreeing neighbours
                                a1 = x[0] ^ x[1]
                                a2 = x[0] & x[1]
                                b1 = x[2] ^ x[3]
                                b2 = x[2] & x[3]
                                four = a2 & b2
                                three = (a2 & b1) | (b2 & a1)
                                two_plus = a2 | b2 | (a1 & b1)
                                m3[v] = three
                                m4[v] = four
                                und[v] = ((three & r3[t]) | (four & r4[t])) & valid[b]
                                half[v] = two_plus & ~(three | four) & valid[b]
                                flip[v] = ~two_plus & valid[b]
                                spin[v] = s
                            need = np.uint64(0)
                            for v in range(lanes):
                                need |= und[v] | half[v]
                            k = 0
                            while need != 0 and k < 64:
                                left = np.uint64(0)
                                for v in range(lanes):
                                    w, s0, s1, s2, s3 = next_u64_pp(
                                        st[0, v], st[1, v], st[2, v], st[3, v]
                                    )
                                    st[0, v], st[1, v], st[2, v], st[3, v] = s0, s1, s2, s3
                                    if k == 0:
                                        flip[v] |= half[v] & ~w
                                    d = (m3[v] & d3[t, k]) | (m4[v] & d4[t, k])
                                    flip[v] |= und[v] & d & ~w
                                    und[v] &= ~(d ^ w)
                                    left |= und[v]
                                k += 1
                                need = np.uint64(1) if k < _k.EAGER_ROUNDS else left
                            for v in range(used):
                                j = 2 * lanes * c + 2 * v + odd
                                W[i, j] = spin[v] ^ flip[v]


@pytest.mark.parametrize("L", [4, 6, 10, 16, 18, 32, 34])
def test_vector_kernel_matches_scalar_reference(L):
    temps = [0.05, 1.5, TC, 3.5]  # 0.05: no Delta E > 0 move can be accepted (P = 0)
    sim = Metropolis(L=L, temperatures=temps, chains=70, seed=L, start="cold")
    sim.sweep(2)
    sim.set_spins(np.where(np.random.default_rng(L).random(sim.spins.shape) < 0.3, -1, 1))
    words, rng = sim._words.copy(), sim._rng.copy()
    d3, d4, r3, r4 = sim._tables[:4]
    _scalar_reference_sweeps(words, rng, sim._valid, d3, d4, r3, r4, 3)
    sim.sweep(3)
    np.testing.assert_array_equal(sim._rng, rng)
    np.testing.assert_array_equal(sim._words, words)


def test_vector_random_words_are_xoshiro256plusplus():
    # lane v of a row is stream 8 i + v of the block's spawn key, stepped in place
    sim = Metropolis(L=16, temperatures=[TC], chains=64, seed=3)
    ref = _rng.stream_states(3, (_rng.TAG_METROPOLIS, 0, 0), _k.LANES * 16)
    np.testing.assert_array_equal(sim._rng[0, 0, 5, :, 2], ref[5 * _k.LANES + 2])
    # xoshiro256++ output: rotl(s0 + s3, 23) + s0, here (1 + 4) << 23 + 1
    assert next_u64_pp(*np.array([1, 2, 3, 4], np.uint64))[0] == 41943041


@pytest.mark.parametrize("features", ["+sse2", "+avx2,+bmi2,+fma"])
def test_same_bits_whatever_the_vector_width(features, tmp_path):
    # the kernels are compiled for the CPU at hand (AVX-512 here); code generated
    # for SSE2 or AVX2 alone must reproduce the same spins
    script = (
        "import sys, numpy as np\n"
        "from isingvae.mc import Metropolis\n"
        "sim = Metropolis(L=18, temperatures=[1.9, 2.6], chains=70, seed=5)\n"
        "sim.sweep(4)\n"
        "np.save(sys.argv[1], sim.spins)\n"
    )
    out = tmp_path / "spins.npy"
    env = dict(
        os.environ,
        NUMBA_CPU_NAME="x86-64",
        NUMBA_CPU_FEATURES=features,
        NUMBA_CACHE_DIR=str(tmp_path / "cache"),
    )
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86 code generation only")
    subprocess.run([sys.executable, "-c", script, str(out)], env=env, check=True)
    here = Metropolis(L=18, temperatures=[1.9, 2.6], chains=70, seed=5)
    here.sweep(4)
    np.testing.assert_array_equal(np.load(out), here.spins)


@pytest.mark.parametrize("T", [1.8, TC, 3.2])
def test_acceptance_is_exact_and_independent_across_chains(T):
    # all 64 chains start from one configuration, so every site of the first colour
    # has the same class in every chain; after the first half-sweep the number of
    # chains that flipped a site must be Binomial(64, p): the right mean, and the
    # binomial variance (a random number shared by chains would inflate it ~64-fold)
    L = 128
    rng = np.random.default_rng(7)
    config = np.where(rng.random((L, L)) < 0.25, -1, 1).astype(np.int8)
    sim = Metropolis(L=L, temperatures=[T], chains=64, seed=8)
    sim.set_spins(np.broadcast_to(config, (1, 64, L, L)))
    sim.sweep(1)  # the first colour, (i + j) even, is final after the first half-sweep
    flipped = (sim.spins[0] != config).sum(axis=0)
    s = config.astype(np.int64)
    nb = np.roll(s, 1, 0) + np.roll(s, -1, 0) + np.roll(s, 1, 1) + np.roll(s, -1, 1)
    agree = (s * nb + 4) // 2
    first = (np.add.outer(np.arange(L), np.arange(L)) % 2) == 0
    for a, p in ((2, 0.5), (3, np.exp(-4 / T)), (4, np.exp(-8 / T))):
        counts = flipped[first & (agree == a)]
        n = counts.size
        assert n > 500
        mean, var = 64 * p, 64 * p * (1 - p)
        assert abs(counts.mean() - mean) < 5 * np.sqrt(var / n), (a, counts.mean(), mean)
        # sample variance of n draws: standard error about var * sqrt(2 / n) (plus kurtosis)
        tolerance = 6 * var * np.sqrt(2.0 / n) + 0.05
        assert abs(counts.var(ddof=1) - var) < tolerance, (a, counts.var(ddof=1), var)
    assert (flipped[first & (agree <= 1)] == 64).all()
