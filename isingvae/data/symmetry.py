r"""The symmetry group of the periodic square lattice, on numpy arrays and in tf.data.

At zero field the energy of an ``L x L`` torus,

.. math::

    E(s) = -J \sum_{\langle ij \rangle} s_i s_j,

is unchanged by the group ``G = Z2 x (T x D4)``: the global spin flip ``s -> -s``
(``Z2``), the ``L^2`` periodic translations (``T``) and the 8 rotations and reflections
of the square (``D4``), ``|G| = 2 * 8 * L^2``.  Only the flip changes the magnetization
(its sign).  An element is written ``(d4, (dy, dx), flip)`` and acts in that order:

.. math::

    (g s)_{i,j} = \sigma \, s_{\pi(i, j)}, \qquad
    \pi(i, j) = D_{d4}\big((i - dy) \bmod L, \; (j - dx) \bmod L\big),

with ``sigma = -1`` if ``flip`` else ``+1`` and ``D_e(i, j)`` the site whose spin D4
element ``e`` (numbering of :data:`D4_ELEMENTS`) moves to ``(i, j)``.
:func:`source_sites` is the one definition of ``pi``: :func:`apply_symmetry` (numpy)
and :func:`tf_apply_symmetry` (TensorFlow, under the random augmentation
:func:`tf_transform` of the tf.data pipelines) both gather spins with it.

The Bernoulli view ``x = (s + 1) / 2`` that Keras models see is here too
(:func:`to_bernoulli`, :func:`to_spins`).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "D4_ELEMENTS",
    "apply_symmetry",
    "augment",
    "d4_table",
    "source_sites",
    "tf_apply_symmetry",
    "tf_transform",
    "to_bernoulli",
    "to_spins",
]

#: the D4 elements in the numbering used by :func:`apply_symmetry`: element ``e`` first
#: transposes the lattice when ``e >= 4``, then rotates it counter-clockwise by
#: ``90 * (e % 4)`` degrees (the convention of :func:`numpy.rot90` on axes (-2, -1))
D4_ELEMENTS = (
    "identity", "rotate 90", "rotate 180", "rotate 270",
    "transpose", "transpose, rotate 90", "transpose, rotate 180", "transpose, rotate 270",
)

_CHUNK = 4096     # rows per block in apply_symmetry


# --------------------------------------------------------------------------------------
# spins <-> Bernoulli variables


def to_bernoulli(spins) -> np.ndarray:
    """The Bernoulli view ``x = (s + 1) / 2`` as float32 with a trailing channel axis.

    ``(N, L, L)`` spins of +-1 become ``(N, L, L, 1)`` values in {0, 1}, the input a
    Keras model with a Bernoulli decoder expects.  A single ``(L, L)`` configuration
    becomes ``(L, L, 1)``.

    >>> to_bernoulli(np.array([[1, -1], [-1, 1]], dtype=np.int8))[..., 0]
    array([[1., 0.],
           [0., 1.]], dtype=float32)
    """
    s = np.asarray(spins)
    x = (s.astype(np.float32) + 1.0) * 0.5
    return x[..., np.newaxis]


def to_spins(x, threshold: float = 0.5) -> np.ndarray:
    """Back from Bernoulli variables (or probabilities) to int8 spins of +-1.

    A trailing channel axis of size 1 is dropped; values above ``threshold`` become +1,
    the others -1.  ``to_spins(to_bernoulli(s))`` returns ``s``.

    >>> to_spins(np.array([[[0.0], [1.0]], [[0.9], [0.2]]]))
    array([[-1,  1],
           [ 1, -1]], dtype=int8)
    """
    x = np.asarray(x)
    if x.ndim >= 3 and x.shape[-1] == 1:
        x = x[..., 0]
    return np.where(x > threshold, np.int8(1), np.int8(-1)).astype(np.int8)


# --------------------------------------------------------------------------------------
# the site map


@functools.lru_cache(maxsize=32)
def d4_table(L: int) -> np.ndarray:
    """int32 ``(8, L * L)``: row ``e`` holds, for each output site (row-major), the
    input site that D4 element ``e`` (numbering of :data:`D4_ELEMENTS`) reads.

    >>> d4_table(2)[1]          # rotate 90: [[a, b], [c, d]] -> [[b, d], [a, c]]
    array([1, 3, 0, 2], dtype=int32)
    """
    sites = np.arange(L * L, dtype=np.int32).reshape(L, L)
    rows = []
    for e in range(8):
        image = sites.T if e >= 4 else sites
        rows.append(np.rot90(image, e % 4).reshape(-1))
    table = np.stack(rows)
    table.setflags(write=False)
    return table


def source_sites(L: int, d4, shift, *, xp=np):
    """The site map ``pi`` of the group elements ``(d4[r], shift[r])``, one per row.

    ``d4`` has shape ``(n,)`` and ``shift`` ``(n, 2)`` holding ``(dy, dx)``.  Returns
    int32 ``(n, L * L)``: entry ``[r, p]`` is the input site that output site
    ``p = i * L + j`` reads, ``D[d4[r], ((i - dy) mod L) * L + (j - dx) mod L]`` with
    ``D = d4_table(L)``, so that ``out[r, p] = s[r, src[r, p]]`` is the configuration
    moved by the D4 element and then rolled ``dy`` rows down and ``dx`` columns right.

    ``xp`` is the array namespace the formula runs in: :mod:`numpy` for
    :func:`apply_symmetry`, ``tensorflow.experimental.numpy`` (on tensors, inside
    tf.data) for :func:`tf_apply_symmetry`; the table and the formula are the same.

    >>> source_sites(2, np.array([0]), np.array([[1, 0]]))   # roll one row down
    array([[2, 3, 0, 1]], dtype=int32)
    """
    p = xp.arange(L * L, dtype=np.int32)
    dy, dx = shift[:, 0:1], shift[:, 1:2]
    q = ((p // L - dy) % L) * L + (p % L - dx) % L      # the D4 image's site at p
    return xp.take_along_axis(xp.take(d4_table(L), d4, axis=0), q, axis=1)


def _as_batch(spins) -> tuple[np.ndarray, bool]:
    s = np.asarray(spins)
    single = s.ndim == 2
    if single:
        s = s[np.newaxis]
    if s.ndim != 3 or s.shape[1] != s.shape[2]:
        raise ValueError(f"spins must have shape (N, L, L) or (L, L), got {np.shape(spins)}")
    return s, single


def apply_symmetry(spins, d4=0, shift=(0, 0), flip=False) -> np.ndarray:
    """Apply lattice symmetries: a D4 element, then a periodic translation, then a spin flip.

    ``spins`` has shape ``(N, L, L)`` (or ``(L, L)``).  ``d4`` (element numbers of
    :data:`D4_ELEMENTS`), ``shift`` (``(dy, dx)``, rolling rows down by ``dy`` and columns
    right by ``dx``, as :func:`numpy.roll`) and ``flip`` (bool) are either one value for
    all configurations or one per configuration (shapes ``(N,)``, ``(N, 2)``, ``(N,)``).
    Returns a new array of the input dtype; the sites move by :func:`source_sites`.

    >>> s = np.array([[1, 1], [-1, 1]], dtype=np.int8)
    >>> apply_symmetry(s, d4=1)                       # rotate by 90 degrees
    array([[ 1,  1],
           [ 1, -1]], dtype=int8)
    >>> apply_symmetry(s, shift=(1, 0), flip=True)    # roll one row down, flip
    array([[ 1, -1],
           [-1, -1]], dtype=int8)
    """
    s, single = _as_batch(spins)
    n, L = s.shape[0], s.shape[1]
    d4 = np.broadcast_to(np.asarray(d4, dtype=np.int64), (n,))
    if d4.size and (d4.min() < 0 or d4.max() > 7):
        raise ValueError("d4 elements are numbered 0 to 7")
    shift = np.broadcast_to(np.asarray(shift, dtype=np.int64), (n, 2))
    flip = np.broadcast_to(np.asarray(flip, dtype=bool), (n,))

    flat = s.reshape(n, L * L)
    out = np.empty_like(flat)
    for a in range(0, n, _CHUNK):          # bounded memory for the (rows, L^2) site map
        rows = slice(a, a + _CHUNK)
        out[rows] = np.take_along_axis(flat[rows], source_sites(L, d4[rows], shift[rows]), 1)
    out = out.reshape(s.shape)
    if np.any(flip):
        out[flip] = -out[flip]
    return out[0] if single else out


def augment(spins, rng=None, flip: bool = True, symmetries: bool = True):
    """Transform every configuration by an independent random symmetry of the torus.

    For each configuration one element of ``Z2 x T x D4`` is drawn uniformly: a global
    spin flip with probability 1/2 (when ``flip``), and (when ``symmetries``) one of the
    ``L^2`` periodic translations and one of the 8 rotations and reflections of the
    square.  Energies (at ``h = 0``) and ``|m|`` are unchanged; the magnetization of
    configuration ``i`` becomes ``sign[i] * m[i]``.

    ``rng`` is a :class:`numpy.random.Generator`, or a seed for one; the same seed gives
    the same transformations.  Returns ``(new_spins, sign)`` with ``sign`` an int8 array
    of +-1, one per configuration (a scalar for a single ``(L, L)`` input).

    >>> from isingvae import lattice
    >>> rng = np.random.default_rng(0)
    >>> s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(5, 8, 8))
    >>> t, sign = augment(s, rng)
    >>> bool(np.allclose(lattice.energy(t), lattice.energy(s)))
    True
    >>> bool(np.allclose(lattice.magnetization(t), sign * lattice.magnetization(s)))
    True
    """
    rng = np.random.default_rng(rng)
    s, single = _as_batch(spins)
    n, L = s.shape[0], s.shape[1]
    flips = rng.integers(0, 2, size=n).astype(bool) if flip else np.zeros(n, dtype=bool)
    if symmetries:
        d4 = rng.integers(0, 8, size=n)
        shift = rng.integers(0, L, size=(n, 2))
    else:
        d4, shift = 0, (0, 0)
    out = apply_symmetry(s, d4=d4, shift=shift, flip=flips)
    sign = np.where(flips, np.int8(-1), np.int8(1)).astype(np.int8)
    return (out[0], sign[0]) if single else (out, sign)


# --------------------------------------------------------------------------------------
# the same in TensorFlow


def tf_apply_symmetry(spins, d4=None, shift=None, flip=None):
    """:func:`apply_symmetry` on a TensorFlow batch, by the same site map.

    ``spins`` is an int8 ``(B, L, L)`` tensor with a static ``L``; ``d4`` (``(B,)``) and
    ``shift`` (``(B, 2)``) int32 tensors give each row's D4 element and translation
    (``None``: none), ``flip`` a bool ``(B,)`` tensor (``None``: no flip).  Runs eagerly
    or inside a graph (tf.data); gathers the spins with :func:`source_sites`.
    """
    import tensorflow as tf
    import tensorflow.experimental.numpy as tnp

    s = spins
    if d4 is not None:
        b, L = tf.shape(s)[0], int(s.shape[-1])
        src = source_sites(L, d4, shift, xp=tnp)
        s = tf.reshape(tf.gather(tf.reshape(s, [b, L * L]), src, batch_dims=1), [b, L, L])
    if flip is not None:
        s = tf.where(flip[:, None, None], -s, s)
    return s


def tf_transform(L: int, *, flip: bool, symmetries: bool):
    """A TensorFlow function ``(s, key) -> (s', sign)``: each row of an int8 ``(B, L, L)``
    batch moved by an independent uniform element of ``G``, drawn statelessly from the
    seed pair ``key`` (the flip only if ``flip``, the translation and D4 element only
    if ``symmetries``) and applied by :func:`tf_apply_symmetry`.  ``sign`` (int8
    ``(B,)``) is the flip of each row.  TensorFlow is imported here, not when this
    module is.
    """
    import tensorflow as tf

    def transform(s, key):
        b = tf.shape(s)[0]
        keys = tf.random.experimental.stateless_split(key, 3)
        flips, d4, shift = None, None, None
        sign = tf.ones([b], tf.int8)
        if flip:
            coin = tf.random.stateless_uniform([b], keys[0], 0, 2, dtype=tf.int32)
            flips, sign = coin == 1, tf.cast(1 - 2 * coin, tf.int8)
        if symmetries:
            d4 = tf.random.stateless_uniform([b], keys[1], 0, 8, dtype=tf.int32)
            shift = tf.random.stateless_uniform([b, 2], keys[2], 0, L, dtype=tf.int32)
        return tf_apply_symmetry(s, d4, shift, flips), sign

    return transform
