"""What the exact results share: argument checks and the per-spin result record."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from isingvae.errors import InputError

__all__ = ["ThermoResult", "critical_temperature"]


def _temperatures(T) -> np.ndarray:
    t = np.asarray(T, dtype=float)
    bad = ~np.isfinite(t) | (t <= 0)
    if np.any(bad):
        raise InputError(f"temperature must be positive and finite, got {t[bad].flat[0]!r}")
    return t


def _coupling(J) -> float:
    J = float(J)
    if not (math.isfinite(J) and J > 0):
        raise InputError(f"coupling J must be positive and finite (ferromagnet), got {J!r}")
    return J


def _lattice_size(L, lo: int, hi: int | None = None) -> int:
    if isinstance(L, bool) or int(L) != L:
        raise InputError(f"lattice size L must be an integer, got {L!r}")
    L = int(L)
    if L < lo or (hi is not None and L > hi):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise InputError(f"lattice size L must be {rng}, got {L}")
    return L


def _out(x: np.ndarray, scalar: bool):
    return float(x) if scalar else x


def critical_temperature(J: float = 1.0) -> float:
    r"""Onsager's critical temperature :math:`T_c = 2J / \ln(1 + \sqrt 2) \approx 2.269185\,J`."""
    return 2.0 * _coupling(J) / math.log1p(math.sqrt(2.0))


@dataclass(frozen=True)
class ThermoResult:
    """Thermodynamics per spin at temperature(s) ``T``.

    Attributes are floats for a scalar ``T`` and arrays of ``T``'s shape otherwise.
    ``log_z`` is :math:`\\ln Z / N`, ``free_energy`` is :math:`-T \\ln Z / N`,
    ``entropy`` is :math:`S / N` in nats, ``specific_heat`` is :math:`C / N`.
    """

    T: float | np.ndarray
    log_z: float | np.ndarray
    free_energy: float | np.ndarray
    energy: float | np.ndarray
    specific_heat: float | np.ndarray
    entropy: float | np.ndarray
    L: int | None = None
