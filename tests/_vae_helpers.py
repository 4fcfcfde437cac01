"""Small exact datasets for the model tests: i.i.d. Boltzmann samples of tiny lattices."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from isingvae import lattice
from isingvae.storage import write_ising_file


def all_states(L: int) -> np.ndarray:
    """Every configuration of an L x L lattice, int8 of shape (2**(L*L), L, L)."""
    n = L * L
    bits = (np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n)) & 1
    return (2 * bits - 1).astype(np.int8).reshape(-1, L, L)


def boltzmann_probabilities(L: int, T: float) -> tuple[np.ndarray, np.ndarray]:
    """(states, exact Boltzmann probabilities) of the L x L torus at temperature T, J = 1."""
    states = all_states(L)
    log_w = -lattice.energy(states) * L * L / T
    p = np.exp(log_w - log_w.max())
    return states, p / p.sum()


def exact_iid_file(path: Path, L: int, temperatures, n_per_t: int, seed: int) -> Path:
    """An isingvae file of independent exact Boltzmann samples (every row its own chain)."""
    rng = np.random.default_rng(seed)
    spins, temps = [], []
    for T in temperatures:
        states, p = boltzmann_probabilities(L, T)
        spins.append(states[rng.choice(len(states), size=n_per_t, p=p)])
        temps.append(np.full(n_per_t, float(T)))
    s = np.concatenate(spins)
    return write_ising_file(path, L=L, J=1.0, h=0.0, seed=seed, algorithm="exact",
                            spins=s, temperature=np.concatenate(temps),
                            energy=lattice.energy(s), magnetization=lattice.magnetization(s),
                            chain=np.arange(len(s)))
