"""Every random stream of the learning side, derived from one seed and a named purpose.

A run's seed ``s`` never feeds a random number generator directly.  Each use draws from
its own stream, ``numpy.random.SeedSequence(s, spawn_key=(purpose, *key))``, where
``purpose`` is a fixed number from :data:`STREAMS` and ``key`` further non-negative
integers (an epoch, a batch, a temperature's bits).  Streams of different purposes, or
of different seeds, are statistically independent; in particular run ``s + 1`` never
reuses any stream of run ``s`` (as ``seed + constant`` arithmetic would).

The streams (numbers are part of the bits of every result; never renumber them):

=====================  ==  =========================================================
purpose                #   used for
=====================  ==  =========================================================
``weights``            1   initial weights (``keras.utils.set_random_seed``)
``batches``            2   the order of training rows, per epoch
``augment``            3   the lattice symmetry applied to each training row
``posterior-noise``    4   the reparameterization noise of training and validation
``labels``             5   which rows keep their label (semi-supervised heads)
``importance``         6   the posterior samples of the importance-weighted NLL
``generate``           7   latents and spins of configurations drawn from a model
``bootstrap``          8   chain-bootstrap replicates of the analysis
``analysis``           9   which configurations a figure shows or reconstructs
``tfdata``             10  shuffling and augmentation of :meth:`IsingDataset.to_tf`
``thermo``             11  the model's draws of (z, x) for importance sampling and MCMC
``mcmc``               12  the accept/reject uniforms of the neural MCMC chains
``ensemble``           13  the training seed of each further member of an ensemble
``run-data``           14  the Monte Carlo seed of each lattice size of ``isingvae run``
``prior-fit``          15  the codes and minibatches of the final fit of a prior p(z|T)
=====================  ==  =========================================================

The Monte Carlo generator has its own derivation (``isingvae.generation``), versioned
with the generator, because its bits are recorded in data files; ``run-data`` only picks
the seed such a generation starts from.

>>> a = generator(0, "batches").integers(1 << 30)
>>> b = generator(0, "batches").integers(1 << 30)
>>> c = generator(1, "batches").integers(1 << 30)
>>> bool(a == b), bool(a == c)
(True, False)
>>> tf_key(0, "generate", 3).dtype, tf_key(0, "generate", 3).shape
(dtype('int64'), (2,))
"""

from __future__ import annotations

import numpy as np

from isingvae import _validate as _v
from isingvae.errors import InputError

__all__ = ["STREAMS", "float_words", "generator", "int_seed", "seed_sequence", "tf_key"]

STREAMS = {
    "weights": 1,
    "batches": 2,
    "augment": 3,
    "posterior-noise": 4,
    "labels": 5,
    "importance": 6,
    "generate": 7,
    "bootstrap": 8,
    "analysis": 9,
    "tfdata": 10,
    "thermo": 11,
    "mcmc": 12,
    "ensemble": 13,
    "run-data": 14,
    "prior-fit": 15,
}


def seed_sequence(seed: int, purpose: str, *key: int) -> np.random.SeedSequence:
    """The :class:`numpy.random.SeedSequence` of ``purpose`` (a name of :data:`STREAMS`)
    under ``seed``, refined by the non-negative integers ``key``."""
    if purpose not in STREAMS:
        raise InputError(f"unknown random stream {purpose!r}; one of {', '.join(STREAMS)}")
    words = [_v.seed(k) for k in key]
    return np.random.SeedSequence(_v.seed(seed), spawn_key=(STREAMS[purpose], *words))


def generator(seed: int, purpose: str, *key: int) -> np.random.Generator:
    """A numpy generator on the stream."""
    return np.random.default_rng(seed_sequence(seed, purpose, *key))


def int_seed(seed: int, purpose: str, *key: int, bits: int = 31) -> int:
    """One integer of ``bits`` bits from the stream, for APIs that take an integer seed
    (``keras.utils.set_random_seed``, a model's ``noise_seed``)."""
    word = int(seed_sequence(seed, purpose, *key).generate_state(1, np.uint64)[0])
    return word >> (64 - bits)


def tf_key(seed: int, purpose: str, *key: int) -> np.ndarray:
    """Two non-negative int64 words from the stream: a seed for TensorFlow's stateless
    random ops (``tf.random.stateless_*``), which refine it further with
    ``stateless_fold_in``."""
    words = seed_sequence(seed, purpose, *key).generate_state(2, np.uint64)
    return (words >> np.uint64(1)).astype(np.int64)


def float_words(value: float) -> tuple[int, int]:
    """The 64 bits of a float64 as two 32-bit words: a temperature as key material.

    >>> float_words(1.0)
    (1072693248, 0)
    """
    bits = int(np.float64(value).view(np.uint64))
    return bits >> 32, bits & 0xFFFFFFFF
