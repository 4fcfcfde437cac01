"""Configuration files for learning: numpy arrays, splits by chain, symmetries, tf.data.

One concept a module:

- :mod:`~isingvae.data.dataset`: :class:`IsingDataset`, the columns of one
  ``isingvae/ising2d`` file (``data/README.md``) as numpy arrays, read on first use,
  and views of them by temperature, split or chain;
- :mod:`~isingvae.data.splits`: the split into training, validation and test sets by
  whole Markov chains, per temperature (:class:`Splits`);
- :mod:`~isingvae.data.symmetry`: the symmetry group ``Z2 x (T x D4)`` of the periodic
  lattice at zero field (:func:`apply_symmetry`, :func:`augment`) and the Bernoulli
  view ``x = (s + 1) / 2`` that Keras models see (:func:`to_bernoulli`);
- :mod:`~isingvae.data.tfdata`: the one stateless tf.data pipeline behind
  :meth:`IsingDataset.to_tf` and :meth:`IsingDataset.epoch_batches`.

Conventions: spins are ``int8`` of +-1 with shape ``(N, L, L)``; Keras models see
``x`` of shape ``(N, L, L, 1)``.  Importing this package does not import TensorFlow.

Example, on a small file made on the spot:

>>> import tempfile, pathlib
>>> import numpy as np
>>> from isingvae.storage import write_ising_file
>>> from isingvae import lattice
>>> rng = np.random.default_rng(0)
>>> s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(12, 4, 4))
>>> folder = tempfile.TemporaryDirectory()
>>> path = write_ising_file(
...     pathlib.Path(folder.name) / "toy.h5", L=4, J=1.0, h=0.0, seed=0,
...     algorithm="metropolis", spins=s, temperature=np.repeat([2.0, 3.0], 6),
...     energy=lattice.energy(s), magnetization=lattice.magnetization(s),
...     chain=np.repeat(np.arange(6), 2))
>>> ds = IsingDataset(path)
>>> ds.L, ds.n, ds.temperatures.tolist()
(4, 12, [2.0, 3.0])
>>> ds.select(temperature=3.0).spins.shape
(6, 4, 4)
>>> parts = ds.split(seed=0)
>>> [p.n for p in parts]
[4, 4, 4]
>>> ids = parts.chain_ids()
>>> [ids[k].tolist() for k in ("train", "validation", "test")]
[[0, 5], [1, 4], [2, 3]]
>>> [p.n for p in ds.split_by_chains(**ids)]
[4, 4, 4]
>>> folder.cleanup()
"""

from isingvae.data.dataset import IsingDataset
from isingvae.data.splits import SPLITS, Splits
from isingvae.data.symmetry import D4_ELEMENTS, apply_symmetry, augment, to_bernoulli, to_spins
from isingvae.data.tfdata import COLUMNS

__all__ = [
    "COLUMNS",
    "D4_ELEMENTS",
    "SPLITS",
    "IsingDataset",
    "Splits",
    "apply_symmetry",
    "augment",
    "to_bernoulli",
    "to_spins",
]
