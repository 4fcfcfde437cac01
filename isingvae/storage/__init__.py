"""The ``isingvae/ising2d`` HDF5 layout (``docs/interfaces.md`` §1, ``data/README.md``).

- :mod:`~isingvae.storage.format`: schema constants (:data:`FORMAT`,
  :data:`FORMAT_VERSION`, :data:`DATASETS`), :class:`Header`, validated opening
  (:func:`open_ising_file`, :func:`read_header`);
- :mod:`~isingvae.storage.writer`: :func:`write_ising_file`, whole files written
  atomically through :mod:`isingvae._atomic`.

>>> import tempfile, numpy as np
>>> path = tempfile.mkdtemp() + "/tiny.h5"
>>> spins = np.ones((2, 4, 4), np.int8)
>>> _ = write_ising_file(path, L=4, J=1.0, h=0.0, seed=0, algorithm="metropolis",
...                      spins=spins, temperature=[1.0, 2.0], energy=[-2.0, -2.0],
...                      magnetization=[1.0, 1.0], chain=[0, 1])
>>> header = read_header(path)
>>> header.L, header.n, header.algorithm
(4, 2, 'metropolis')
"""

from isingvae.storage.format import (
    DATASETS,
    FORMAT,
    FORMAT_VERSION,
    Header,
    open_ising_file,
    read_header,
)
from isingvae.storage.writer import write_ising_file

__all__ = [
    "DATASETS",
    "FORMAT",
    "FORMAT_VERSION",
    "Header",
    "open_ising_file",
    "read_header",
    "write_ising_file",
]
