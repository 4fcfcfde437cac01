r"""Observables of spin configurations on the periodic L x L square lattice (numpy only).

:math:`H = -J \sum_{\langle ij \rangle} s_i s_j - h \sum_i s_i`, each nearest-neighbour bond
counted once; both functions work on any array of shape ``(..., L, L)`` of +-1 values and
return one value per configuration, per spin.

>>> import numpy as np
>>> s = np.ones((2, 4, 4), dtype=np.int8)
>>> energy(s).tolist(), magnetization(s).tolist()
([-2.0, -2.0], [1.0, 1.0])
"""

from __future__ import annotations

import numpy as np

from isingvae.errors import InputError

__all__ = ["energy", "magnetization"]


def _spins(s) -> np.ndarray:
    s = np.asarray(s)
    if s.ndim < 2 or s.shape[-1] != s.shape[-2]:
        raise InputError(f"spins must have shape (..., L, L), got {s.shape}")
    return s


def energy(spins, J: float = 1.0, h: float = 0.0) -> np.ndarray:
    r"""Energy per spin of each configuration, shape ``spins.shape[:-2]``.

    .. math:: e = -\frac{J}{N} \sum_i s_i (s_{i+\hat x} + s_{i+\hat y}) - h\, m
    """
    s = _spins(spins).astype(np.int32)
    bonds = s * (np.roll(s, -1, axis=-1) + np.roll(s, -1, axis=-2))
    N = s.shape[-1] * s.shape[-2]
    return (-J * bonds.sum(axis=(-2, -1)) - h * s.sum(axis=(-2, -1))) / N


def magnetization(spins) -> np.ndarray:
    r"""Signed magnetization per spin :math:`m = \frac1N \sum_i s_i` of each configuration."""
    s = _spins(spins)
    return s.sum(axis=(-2, -1), dtype=np.int64) / (s.shape[-1] * s.shape[-2])
