"""Shared helpers for the tests of isingvae.data: reference physics and small files."""

import numpy as np

from isingvae.storage import write_ising_file

L = 8
TEMPS = (1.5, 2.269, 3.0)
CHAINS = 6          # per temperature
PER_CHAIN = 10      # configurations per chain
P_MIN = 1e-4        # smallest acceptable p-value of the goodness-of-fit tests


def ref_energy(s, J=1.0, h=0.0):
    """Energy per spin, each bond once: -(J/N) sum_i s_i (s_right + s_down) - h m."""
    s = np.asarray(s, dtype=np.float64)
    right = np.roll(s, -1, axis=-1)
    down = np.roll(s, -1, axis=-2)
    n = s.shape[-1] * s.shape[-2]
    return -J * (s * (right + down)).sum(axis=(-2, -1)) / n - h * s.sum(axis=(-2, -1)) / n


def ref_m(s):
    return np.asarray(s, dtype=np.float64).mean(axis=(-2, -1))


def random_spins(rng, n, L=L):
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, L, L))


def write(path, spins, temperature, chain, h=0.0):
    return write_ising_file(path, L=spins.shape[-1], J=1.0, h=h, seed=7,
                            algorithm="metropolis", spins=spins, temperature=temperature,
                            energy=ref_energy(spins, h=h), magnetization=ref_m(spins),
                            chain=chain)


def make_truth(folder):
    """A file of 3 temperatures x 6 chains x 10 configurations, rows in scrambled order,
    and its columns.  Chain ids are arbitrary distinct numbers, not
    temperature_index * chains + c."""
    rng = np.random.default_rng(12345)
    n = len(TEMPS) * CHAINS * PER_CHAIN
    spins = random_spins(rng, n)
    temperature = np.repeat(TEMPS, CHAINS * PER_CHAIN)
    chain = np.repeat(rng.permutation(1000)[: len(TEMPS) * CHAINS] * 7 + 3, PER_CHAIN)
    order = rng.permutation(n)
    cols = {"spins": spins[order], "temperature": temperature[order],
            "chain": chain[order].astype(np.int64)}
    path = write(folder / "ising.h5", **cols)
    cols["energy"] = ref_energy(cols["spins"])
    cols["magnetization"] = ref_m(cols["spins"])
    return path, cols


def group_images(s):
    """Every image of one configuration under Z2 x D4 x translations -> (flip, d4, dy, dx)."""
    images = {}
    for flip in (False, True):
        for e in range(8):
            y = s.T if e >= 4 else s
            y = np.rot90(y, e % 4)
            for dy in range(L):
                for dx in range(L):
                    z = np.roll(y, (dy, dx), axis=(0, 1))
                    images[(-z if flip else z).tobytes()] = (flip, e, dy, dx)
    return images


def generic_configuration():
    """A configuration with no symmetry of its own (all 2 * 8 * L^2 images differ), and
    its images."""
    s = random_spins(np.random.default_rng(99), 1)[0]
    images = group_images(s)
    assert len(images) == 2 * 8 * L * L
    return s, images
