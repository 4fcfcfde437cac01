"""Training, validation and test sets made of whole Markov chains.

Configurations of one Markov chain are correlated, so a split by row would put near
copies of training configurations in the test set.  The split is by chain instead,
separately in each temperature stratum, by this rule:

1. A chain is filed under the lowest temperature it was seen at (unknown temperatures,
   NaN, form one stratum of their own).
2. A stratum with ``c`` chains and fractions ``f = (f_train, f_validation, f_test)``
   (three numbers ``>= 0`` summing to 1) gives ``n_k`` chains to split ``k``: the
   largest-remainder rounding of ``c * f_k`` (:func:`allocate`), after which every split
   with ``f_k > 0`` gets at least one chain, taken from the largest, while
   ``c >= #{k : f_k > 0}``.  With fewer chains they go one each to train, then test,
   then validation.
3. The stratum's chains, sorted by id, are permuted by
   ``numpy.random.default_rng([seed, *float_words(T)]).permutation(c)``; the first
   ``n_train`` of that order go to train, the next ``n_validation`` to validation, the
   rest to test.

Which chains go where thus depends only on ``seed``, the stratum's temperature ``T`` and
its chain ids, so selecting temperatures before or after splitting gives the same rows.
The rule is frozen: run directories that recorded only the split seed recompute it.

>>> chain = np.repeat(np.arange(10), 3)
>>> temperature = np.repeat([2.0, 3.0], 15)
>>> ids, which = assign_chains(chain, temperature, (0.6, 0.2, 0.2), seed=0)
>>> np.bincount(which, minlength=3).tolist()
[6, 2, 2]
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

import numpy as np

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.random import float_words

__all__ = ["DEFAULT_FRACTIONS", "SPLITS", "Splits", "allocate", "assign_chains",
           "check_fractions"]

#: names of the three splits, in the order :meth:`IsingDataset.split` returns them
SPLITS = ("train", "validation", "test")

#: (train, validation, test) fractions of chains when none are given
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)

#: order in which a temperature with too few chains hands them out (train, test, validation)
_SCARCE_ORDER = (0, 2, 1)


#: the type of the views a :class:`Splits` holds (:class:`~isingvae.data.IsingDataset`,
#: which this module, the rule of the split, does not need to know)
View = TypeVar("View")


class Splits(NamedTuple, Generic[View]):
    """Training, validation and test views of a dataset, split by Markov chain."""

    train: View
    validation: View
    test: View

    def chain_counts(self) -> dict[float, tuple[int, int, int]]:
        """Number of chains per temperature in (train, validation, test).

        A chain seen at several temperatures counts at each of them.
        """
        counts: dict[float, list[int]] = {}
        for k, part in enumerate(self):
            t, c = part.temperature, part.chain
            for temp in np.unique(t):
                counts.setdefault(float(temp), [0, 0, 0])[k] = np.unique(c[t == temp]).size
        return {t: tuple(v) for t, v in sorted(counts.items())}

    def chain_ids(self) -> dict[str, np.ndarray]:
        """The chain ids of each split, ``{"train": ids, "validation": ids, "test": ids}``,
        each a sorted int64 array (``ids.tolist()`` for JSON).  The three are disjoint;
        :meth:`IsingDataset.split_by_chains` builds the same views back from them."""
        return {name: part.chains.astype(np.int64) for name, part in zip(SPLITS, self,
                                                                         strict=True)}


def check_fractions(fractions) -> np.ndarray:
    """The fractions as float64 ``(3,)``, or :class:`InputError` unless they are three
    finite numbers ``>= 0`` summing to 1 (to 1e-6)."""
    try:
        fr = np.asarray(fractions, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"fractions must be three numbers, got {fractions!r}") from None
    if fr.shape != (3,) or not np.all(np.isfinite(fr)) or np.any(fr < 0):
        raise InputError(f"fractions must be three numbers >= 0 (train, validation, test), "
                         f"got {fractions!r}")
    if abs(fr.sum() - 1.0) > 1e-6:
        raise InputError(f"fractions must sum to 1, got {fractions!r} (sum {fr.sum():g})")
    return fr


def allocate(count: int, fr: np.ndarray) -> np.ndarray:
    """Whole numbers of chains per split, summing to ``count`` (step 2 of the rule).

    Largest remainders of ``fr * count``; then every split with a non-zero fraction gets
    at least one chain, taken from the largest, while there are enough chains.  With
    fewer chains than such splits they go one each to train, test, validation.

    >>> fr = np.array([0.8, 0.1, 0.1])
    >>> allocate(10, fr).tolist(), allocate(7, fr).tolist(), allocate(2, fr).tolist()
    ([8, 1, 1], [5, 1, 1], [1, 0, 1])
    """
    active = [k for k in range(3) if fr[k] > 0]
    out = np.zeros(3, dtype=np.int64)
    if count < len(active):
        for k in [k for k in _SCARCE_ORDER if k in active][:count]:
            out[k] = 1
        return out
    target = fr * count
    out[:] = np.floor(target + 1e-9)
    rest = count - int(out.sum())
    for k in np.argsort(-(target - out), kind="stable")[:rest]:
        out[k] += 1
    for k in active:
        if out[k] == 0:
            out[int(np.argmax(out))] -= 1
            out[k] = 1
    return out


def assign_chains(chain, temperature, fractions=DEFAULT_FRACTIONS, seed: int = 0, *,
                  source: str = "the data") -> tuple[np.ndarray, np.ndarray]:
    """The rule above on the rows' chain ids and temperatures.

    Returns ``(ids, which)``: the sorted distinct chain ids and, for each, its split
    (int8, index into :data:`SPLITS`).  A split with a non-zero fraction that receives
    no chain at all raises :class:`InputError` naming ``source``.
    """
    fr = check_fractions(fractions)
    seed = _v.seed(seed)
    temp = np.where(np.isnan(temperature), -1.0, temperature)   # unknown: one stratum
    ids, inverse = np.unique(chain, return_inverse=True)
    chain_t = np.full(ids.size, np.inf)
    np.minimum.at(chain_t, inverse, temp)
    which = np.empty(ids.size, dtype=np.int8)
    for stratum in np.unique(chain_t):
        members = np.flatnonzero(chain_t == stratum)             # sorted by chain id
        counts = allocate(members.size, fr)
        rng = np.random.default_rng([seed, *float_words(stratum)])
        order = members[rng.permutation(members.size)]
        which[order] = np.repeat(np.arange(3, dtype=np.int8), counts)
    for k, name in enumerate(SPLITS):
        if fr[k] > 0 and not np.any(which == k):
            per_t = np.unique(chain_t, return_counts=True)[1] if ids.size else np.array([0])
            raise InputError(
                f"the {name} split of {source} would be empty: {ids.size} chain(s) at "
                f"{per_t.size} temperature(s), {per_t.min()} to {per_t.max()} per "
                f"temperature, are too few for fractions {tuple(fractions)}; make more "
                f"chains per temperature or set the {name} fraction to 0")
    return ids, which
