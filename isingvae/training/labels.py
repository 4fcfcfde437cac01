"""Labels for the supervised heads, from the temperature column.

A configuration's phase label is ordered when its temperature lies below Onsager's
``T_c``; its temperature label is the temperature itself.  Semi-supervised training
keeps only some labels: those with ``|T - T_c| >= window`` are eligible, and of them a
fraction ``fraction`` (rounded, at least one) chosen from the run's ``labels`` random
stream (:mod:`isingvae.random`).
"""

from __future__ import annotations

import numpy as np

from isingvae import random
from isingvae.errors import InputError
from isingvae.exact import critical_temperature

__all__ = ["check_labels", "label_mask"]


def label_mask(temperature, fraction: float, window: float, seed: int) -> np.ndarray:
    """Which rows keep their label (float 0/1), as the module docstring says."""
    t = np.asarray(temperature, dtype=np.float64)
    eligible = np.flatnonzero(np.abs(t - critical_temperature()) >= window)
    keep = eligible
    if fraction < 1 and eligible.size:
        rng = random.generator(seed, "labels")
        count = max(1, round(fraction * eligible.size))
        keep = np.sort(rng.permutation(eligible)[:count])
    mask = np.zeros(t.size, np.float32)
    mask[keep] = 1.0
    return mask


def check_labels(config, temperature: np.ndarray, mask: np.ndarray) -> None:
    """Refuse label sets a head cannot learn from (none at all, one phase, one
    temperature), naming the flags that made them so."""
    labelled = temperature[mask > 0]
    if labelled.size == 0:
        raise InputError(f"no training configuration keeps a label with --label-window "
                         f"{config.label_window} and --label-fraction {config.label_fraction}")
    if config.head.endswith("phase"):
        ordered = labelled < critical_temperature()
        if ordered.all() or not ordered.any():
            raise InputError(f"--head {config.head} needs labelled configurations of both "
                             f"phases (T below and above Tc = 2.26919)")
    if config.head.endswith("temperature") and np.unique(labelled).size < 2:
        raise InputError(f"--head {config.head} needs labelled configurations at two or "
                         f"more temperatures")
