"""One stateless tf.data pipeline: the batches of :meth:`IsingDataset.to_tf` and
:meth:`IsingDataset.epoch_batches`.

Both entry points build their datasets with :func:`pipeline`, in which every random
choice is a pure function of a root key and the position of a batch.  With ``n`` rows,
batch size ``B``, an order key ``K`` and an augmentation key ``A`` (two int64 words
each, from :func:`isingvae.random.tf_key`):

- pass ``e`` visits the rows in the order ``pi_e = argsort(u_e)`` (descending), where
  ``u_e`` are ``n`` independent uniform 64-bit integers drawn by
  ``tf.random.stateless_uniform`` under the key ``fold_in(K, e)``: a uniformly random
  permutation (two equal keys, probability below ``n^2 / 2^65``, are ordered by row);
  without shuffling ``pi_e`` is the identity;
- batch ``i`` of pass ``e`` holds rows ``pi_e[i B : (i + 1) B]`` (the last one shorter,
  or dropped);
- each configuration of that batch is moved by an independent uniform element of the
  lattice symmetry group (:func:`isingvae.data.symmetry.tf_transform`), drawn under the
  key ``fold_in(fold_in(A, e), i)``.

No state is carried from batch to batch, so a pipeline that starts at pass ``e0``
yields exactly the batches an uninterrupted one yields from pass ``e0`` on, and the
bits do not depend on the number of threads or on any TensorFlow global seed.

The keys: ``epoch_batches`` orders rows with ``tf_key(seed, "batches")`` and augments
with ``tf_key(seed, "augment")``; ``to_tf`` uses ``tf_key(seed, "tfdata", 0)`` and
``tf_key(seed, "tfdata", 1)``.  TensorFlow is imported when a pipeline is built, not
when this module is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from isingvae import _validate as _v
from isingvae import random
from isingvae.data.splits import DEFAULT_FRACTIONS
from isingvae.data.symmetry import tf_transform
from isingvae.errors import InputError

__all__ = ["COLUMNS", "epoch_batches", "pipeline", "to_tf"]

#: columns that :meth:`IsingDataset.to_tf` can yield, with their dtype and shape per row
COLUMNS = {
    "x": ("float32", "(L, L, 1), values 0 or 1"),
    "spins": ("int8", "(L, L), values -1 or +1"),
    "temperature": ("float32", "()"),
    "energy": ("float32", "(), per spin"),
    "magnetization": ("float32", "(), per spin, signed"),
    "abs_magnetization": ("float32", "(), per spin"),
    "chain": ("int64", "()"),
    "index": ("int64", "(), row in the file"),
}

#: ``passes`` of :func:`pipeline` for a dataset of one pass per iteration, numbered by
#: the iterations begun so far
EACH_ITERATION = "each iteration"
#: ``passes`` of :func:`pipeline` for an endless dataset, passes 0, 1, 2, ...
ENDLESS = "endless"


def pipeline(
    tables: Mapping[str, np.ndarray],
    element: Callable,
    *,
    batch_size: int,
    passes: range | str,
    order_key: np.ndarray | None = None,
    augment_key: np.ndarray | None = None,
    transform: Callable | None = None,
    drop_remainder: bool = False,
):
    """The one batch pipeline (the rule is in the module docstring).

    ``tables``: numpy columns of ``n`` rows each, made TensorFlow constants; batch
    ``i`` of pass ``e`` gathers the rows ``pi_e[i B : (i + 1) B]`` of each into a dict
    ``cols``; when ``augment_key`` is given, ``cols["spins"], sign =
    transform(cols["spins"], fold_in(fold_in(augment_key, e), i))``, else ``sign`` is
    ``None``; the dataset yields ``element(cols, sign)``.

    ``passes``: a ``range`` of pass numbers; :data:`ENDLESS` (0, 1, 2, ... without end);
    or :data:`EACH_ITERATION`: one pass per iteration of the dataset, numbered by a
    counter the dataset keeps (a CPU ``tf.Variable``) that each iterator advances when
    it starts producing batches (at once, as the dataset prefetches), so that the
    ``k``-th iteration is pass ``k`` and iterating again, as ``model.fit`` does each
    epoch, draws a new order and augmentation.  ``order_key=None`` keeps the rows in
    order.
    """
    import tensorflow as tf

    fold_in = tf.random.experimental.stateless_fold_in
    n = len(next(iter(tables.values())))
    consts = {name: tf.constant(table) for name, table in tables.items()}
    per_pass = n // batch_size if drop_remainder else -(-n // batch_size)
    if isinstance(passes, range):
        numbers, total = tf.data.Dataset.range(passes.start, passes.stop), len(passes)
    elif passes == ENDLESS:
        numbers, total = tf.data.Dataset.counter(), None
    elif passes == EACH_ITERATION:
        with tf.init_scope(), tf.device("/CPU:0"):
            begun = tf.Variable(np.int64(0), trainable=False, name="passes_begun")
        numbers = tf.data.Dataset.from_tensors(np.int64(0)).map(
            lambda _: begun.assign_add(1) - 1)
        total = 1
    else:
        raise ValueError(f"passes must be a range, {ENDLESS!r} or {EACH_ITERATION!r}")

    def one_pass(e):
        if order_key is None:
            order = tf.range(n)
        else:
            u = tf.random.stateless_uniform([n], fold_in(order_key, e), minval=None,
                                            maxval=None, dtype=tf.int64)
            order = tf.argsort(u, direction="DESCENDING", stable=True)
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder)
        return batches.enumerate().map(lambda i, rows: (e, i, rows))

    def make(e, i, rows):
        cols = {name: tf.gather(c, rows) for name, c in consts.items()}
        sign = None
        if augment_key is not None:
            cols["spins"], sign = transform(cols["spins"], fold_in(fold_in(augment_key, e), i))
        return element(cols, sign)

    count = tf.data.INFINITE_CARDINALITY if total is None else total * per_pass
    out = numbers.flat_map(one_pass).apply(tf.data.experimental.assert_cardinality(count))
    out = out.map(make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return out.prefetch(tf.data.AUTOTUNE)


def _bernoulli(spins):
    import tensorflow as tf

    return tf.expand_dims((tf.cast(spins, tf.float32) + 1.0) * 0.5, -1)


def _check_flip(ds, flip: bool) -> None:
    """Refuse spin-flip augmentation of data made in a field (where it is no symmetry)."""
    if flip and ds.h != 0:
        raise InputError(f"{ds.path} was made at field h = {ds.h:g}, where the spin "
                         f"flip is not a symmetry; augment with flip=False")


def _column_list(spec, what: str) -> tuple[tuple[str, ...], bool]:
    single = isinstance(spec, str)
    names = (spec,) if single else tuple(spec)
    if not names:
        raise InputError(f"{what} must name at least one column")
    for name in names:
        if name not in COLUMNS:
            raise InputError(f"unknown column {name!r} in {what}; choose from "
                             f"{', '.join(COLUMNS)}")
    return names, single


# --------------------------------------------------------------------------------------
# the two entry points, methods of IsingDataset (``ds`` is the view they are called on)


def to_tf(
    ds,
    split: str | None = None,
    *,
    batch_size: int = 128,
    shuffle: bool = True,
    seed: int = 0,
    augment: bool = False,
    flip: bool = True,
    symmetries: bool = True,
    repeat: bool = False,
    columns: str | Sequence[str] = "x",
    targets: str | Sequence[str] | None = None,
    drop_remainder: bool = False,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    split_seed: int = 0,
):
    """A :class:`tf.data.Dataset` of batches for Keras ``model.fit``.

    Each element is ``features`` or, when ``targets`` is given, ``(features,
    targets)``; each of these is a bare tensor when given as one name, or a dict
    ``{name: batch}`` when given as a sequence of names.  The default yields batches
    of ``x`` alone, what a VAE with its own ``train_step`` (or any single-input model
    trained by ``add_loss``) takes; ``columns="x", targets="x"`` yields ``(x, x)``
    for a plain autoencoder; ``columns=("x", "temperature")`` yields dicts for a
    model whose inputs are named so (a functional model built as
    ``keras.Model({"x": ..., "temperature": ...}, ...)``).  Column names, dtypes and
    shapes are in :data:`COLUMNS`.

    ``split`` picks one of :data:`SPLITS` (made by :meth:`split` with ``fractions``
    and ``split_seed``; ``None`` takes every row of this view).  ``shuffle`` visits
    the rows in a new random order in each pass over the data; ``repeat`` makes the
    dataset endless, pass after pass (then give ``steps_per_epoch`` to ``fit``), each
    pass batched on its own (a batch never mixes two passes; with ``drop_remainder``
    the short last batch of every pass is dropped).  ``augment`` applies a random
    symmetry to each configuration, drawn afresh each pass: spin flip (``flip``) and
    translations with rotations and reflections (``symmetries``), as in
    :func:`augment`; a yielded ``magnetization`` follows the flip.  The spin flip is
    a symmetry only at zero field: on a file with ``h != 0`` pass ``flip=False``
    (else :class:`InputError`).

    Order and augmentation follow the rule of :mod:`isingvae.data.tfdata` with keys
    from ``seed`` alone (no TensorFlow global seed enters).  Without ``repeat``, the
    ``k``-th iteration over the dataset is pass ``k``: two datasets made alike yield
    the same sequence of passes, and iterating one again gives a new order.  With
    ``repeat``, every iteration starts again at pass 0.  TensorFlow is imported here,
    not when this module is.
    """
    import tensorflow as tf

    view = ds.select(split=split, fractions=fractions, split_seed=split_seed) \
        if split is not None else ds
    if view.n == 0:
        raise InputError(f"no configurations to serve from {ds.path}: the selection "
                         f"{view._label or '(all rows)'} is empty")
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    features, features_single = _column_list(columns, "columns")
    labels, labels_single = ((), False) if targets is None else _column_list(targets,
                                                                            "targets")
    seed = _v.seed(seed)
    _check_flip(ds, augment and flip)
    names = set(features) | set(labels)
    tables = {}
    if names & {"x", "spins"}:
        tables["spins"] = view.spins
    for name in sorted(names - {"x", "spins"}):
        tables[name] = view.arrays((name,))[name].astype(COLUMNS[name][0])
    augmenting = bool(augment and (flip or symmetries) and "spins" in tables)

    def element(cols, sign):
        if "spins" in cols:
            cols["x"] = _bernoulli(cols["spins"])
        if sign is not None and "magnetization" in cols:
            cols["magnetization"] = cols["magnetization"] * tf.cast(sign, tf.float32)
        out = cols[features[0]] if features_single else {k: cols[k] for k in features}
        if not labels:
            return out
        return out, cols[labels[0]] if labels_single else {k: cols[k] for k in labels}

    # an order or augmentation that changes from pass to pass needs the pass number
    passes = ENDLESS if repeat else EACH_ITERATION if shuffle or augmenting else range(1)
    return pipeline(
        tables, element, batch_size=int(batch_size), passes=passes,
        order_key=random.tf_key(seed, "tfdata", 0) if shuffle else None,
        augment_key=random.tf_key(seed, "tfdata", 1) if augmenting else None,
        transform=tf_transform(view.L, flip=bool(flip), symmetries=bool(symmetries)),
        drop_remainder=bool(drop_remainder))


def epoch_batches(
    ds,
    *,
    batch_size: int,
    epochs: int,
    start_epoch: int = 0,
    seed: int = 0,
    augment: bool = True,
    flip: bool = True,
    symmetries: bool = True,
    labels: np.ndarray | None = None,
):
    """Training batches of ``x`` for epochs ``start_epoch .. epochs - 1``, reproducibly.

    Returns ``(dataset, steps_per_epoch)``.  Epoch ``e`` visits a fresh random
    permutation of the rows in ``steps_per_epoch = n // batch_size`` full batches
    (the last partial batch is dropped, so every batch splits evenly across
    replicas), each configuration transformed by an independent random symmetry
    when ``augment`` is set (as in :meth:`to_tf`).  Order and augmentation are pure
    functions of ``(seed, e, batch)`` (the rule of :mod:`isingvae.data.tfdata`, keys
    ``tf_key(seed, "batches")`` and ``tf_key(seed, "augment")``), so an interrupted
    run that starts again at ``start_epoch`` sees exactly the batches it would have
    seen; pass the dataset to ``model.fit`` with ``steps_per_epoch`` and
    ``initial_epoch=start_epoch``.

    ``labels``: an optional float array with one row per configuration (``(n,)`` or
    ``(n, k)``, for example the temperature and a label mask); the dataset then
    yields ``(x, labels)`` pairs, the labels gathered with the same permutation.
    Labels such as temperature and phase are invariant under the lattice symmetries
    and the spin flip, so augmentation leaves them alone; the batches of ``x`` are
    bit for bit those yielded without labels.
    """
    seed = _v.seed(seed)
    if labels is not None:
        labels = np.asarray(labels, dtype=np.float32)
        if labels.ndim not in (1, 2) or labels.shape[0] != ds.n:
            raise InputError(f"labels must have one row per configuration ({ds.n}), "
                             f"got shape {labels.shape}")
    batch_size = _v.count("batch size", batch_size)
    steps = ds.n // batch_size
    if steps == 0:
        raise InputError(f"{ds._label or 'the selection'} of {ds.path} has {ds.n} "
                         f"configuration(s), fewer than one batch of {batch_size}; "
                         f"lower the batch size or use more data")
    _check_flip(ds, augment and flip)
    if not 0 <= int(start_epoch) < int(epochs):
        raise InputError(f"start epoch {start_epoch} must lie in [0, {epochs})")
    augmenting = bool(augment and (flip or symmetries))
    tables = {"spins": ds.spins} if labels is None else {"spins": ds.spins, "labels": labels}

    def element(cols, sign):
        x = _bernoulli(cols["spins"])
        return x if labels is None else (x, cols["labels"])

    dataset = pipeline(
        tables, element, batch_size=batch_size, passes=range(int(start_epoch), int(epochs)),
        order_key=random.tf_key(seed, "batches"),
        augment_key=random.tf_key(seed, "augment") if augmenting else None,
        transform=tf_transform(ds.L, flip=bool(flip), symmetries=bool(symmetries)),
        drop_remainder=True)
    return dataset, steps
