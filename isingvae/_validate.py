"""Argument checks shared across the package (samplers, generation, data, models, runs).

Each raises :class:`InputError` naming the value; this module imports only numpy.
"""

import math
import numbers
import os

import numpy as np

from isingvae.errors import InputError


def lattice_size(L, name: str = "L"):
    """An even integer ``L >= 4`` (the checkerboard needs an even torus); ``name`` says
    whose size it is in the message."""
    if isinstance(L, bool) or not isinstance(L, numbers.Integral):
        raise InputError(f"{name} must be an even integer >= 4, got {L!r}")
    L = int(L)
    if L < 4 or L % 2:
        raise InputError(f"{name} must be an even integer >= 4 (odd L breaks the "
                         f"checkerboard), got {L}")
    return L


def temperatures(T):
    """A non-empty 1-d float64 array of positive, finite temperatures."""
    try:
        t = np.atleast_1d(np.asarray(T, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputError(f"temperatures must be positive finite numbers, got {T!r}") from None
    if t.ndim != 1 or t.size == 0:
        raise InputError(f"temperatures must be a non-empty 1-d list, got shape {t.shape}")
    bad = ~np.isfinite(t) | (t <= 0)
    if bad.any():
        raise InputError(f"temperatures must be positive and finite, got {float(t[bad][0])!r}")
    return t


def count(name, value, lo=1, hi=None):
    """An integer ``>= lo`` (and ``<= hi`` when given)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise InputError(f"{name} must be an integer >= {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise InputError(f"{name} must be an integer from {lo} to {hi}, got {value!r}")
    return int(value)


#: seeds must fit the int64 that HDF5 attributes and TensorFlow's stateless ops hold
MAX_SEED = 2**63 - 1


def seed(value, name: str = "seed"):
    """A seed: an integer from 0 to :data:`MAX_SEED` (2^63 - 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or \
            not 0 <= value <= MAX_SEED:
        raise InputError(f"{name} must be an integer from 0 to 2^63 - 1, got {value!r}")
    return int(value)


def real(name, value, positive=False, nonnegative=False):
    """A finite float (strictly positive, or >= 0, when asked)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(x) or (positive and x <= 0) or (nonnegative and x < 0):
        kind = "positive and finite" if positive else \
            "finite and >= 0" if nonnegative else "finite"
        raise InputError(f"{name} must be {kind}, got {value!r}")
    return x


def choice(name, value, options):
    """One of a fixed set of strings."""
    if value not in options:
        raise InputError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value


def columns(value, expected: str) -> np.ndarray:
    """``value`` as a float64 array ``(n >= 2, k)``, a vector becoming one column;
    anything else raises InputError ``"<expected>, got <shape>"``."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 2:
        raise InputError(f"{expected}, got {np.shape(value)}")
    return a


def physical_memory() -> int:
    """Bytes of physical memory of this machine (0 when the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def fits_in_memory(what: str, nbytes: float) -> None:
    """Refuse work that would hold ``nbytes`` in memory at once when that exceeds half of
    the machine's physical memory; ``what`` names the values responsible
    (``"--n 10000000 at L = 64"``)."""
    limit = physical_memory() // 2
    if limit and nbytes > limit:
        raise InputError(f"{what} needs about {nbytes / 2**30:.3g} GiB of memory at once; "
                         f"this machine allows {limit / 2**30:.3g} GiB (half its memory)")
