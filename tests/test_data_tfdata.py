"""The one stateless tf.data pipeline behind to_tf and epoch_batches."""

import numpy as np
import pytest
from _data_helpers import (
    P_MIN,
    L,
    random_spins,
    ref_energy,
    ref_m,
    write,
)
from scipy import stats

from isingvae import data, random
from isingvae.data import IsingDataset, to_spins
from isingvae.errors import InputError

ALL = tuple(data.COLUMNS)


def collect(dataset):
    batches = list(dataset.as_numpy_iterator())
    return batches, {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def test_to_tf_batches_partition_the_split(tf, ds):
    train = ds.split().train
    dataset = ds.to_tf("train", batch_size=7, shuffle=False, columns=ALL)
    assert int(dataset.cardinality()) == -(-train.n // 7)
    batches, got = collect(dataset)
    assert [len(b["x"]) for b in batches] == [7] * (train.n // 7) + [train.n % 7]
    dtypes = {"x": np.float32, "spins": np.int8, "temperature": np.float32,
              "energy": np.float32, "magnetization": np.float32,
              "abs_magnetization": np.float32, "chain": np.int64, "index": np.int64}
    for name, dtype in dtypes.items():
        assert got[name].dtype == dtype, name
    assert got["x"].shape == (train.n, L, L, 1)
    np.testing.assert_array_equal(got["index"], train.index)
    np.testing.assert_array_equal(got["x"], train.x)
    np.testing.assert_array_equal(got["spins"], train.spins)
    np.testing.assert_array_equal(got["chain"], train.chain)
    for name in ("temperature", "energy", "magnetization"):
        np.testing.assert_allclose(got[name], getattr(train, name), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got["abs_magnetization"], np.abs(train.magnetization), atol=1e-7)
    # shuffled: the same rows in another order
    shuffled = collect(ds.to_tf("test", batch_size=5, seed=1, columns=("index",)))[1]["index"]
    test_rows = ds.split().test.index
    assert not np.array_equal(shuffled, test_rows)
    np.testing.assert_array_equal(np.sort(shuffled), test_rows)


def test_to_tf_is_deterministic(tf, ds):
    def passes(seed, n_passes=2):
        dataset = ds.to_tf("train", batch_size=16, seed=seed, augment=True,
                           columns=("x", "index"))
        return [collect(dataset)[1] for _ in range(n_passes)]

    a, b, c = passes(4), passes(4), passes(5)
    for pa, pb in zip(a, b, strict=True):
        for k in pa:
            np.testing.assert_array_equal(pa[k], pb[k])
    assert not np.array_equal(a[0]["index"], a[1]["index"])     # reshuffled each pass
    assert not np.array_equal(a[0]["x"][np.argsort(a[0]["index"])],
                              a[1]["x"][np.argsort(a[1]["index"])])   # augmented anew
    assert not np.array_equal(a[0]["index"], c[0]["index"])
    # repeat: endless, and the first pass equals the non-repeated one
    endless = ds.to_tf("train", batch_size=16, seed=4, augment=True, repeat=True,
                       columns=("x", "index"))
    assert int(endless.cardinality()) == tf.data.INFINITE_CARDINALITY
    first = [b for _, b in zip(range(7), endless.as_numpy_iterator(), strict=False)]
    np.testing.assert_array_equal(np.concatenate([b["index"] for b in first]),
                                  a[0]["index"][: 7 * 16])
    np.testing.assert_array_equal(np.concatenate([b["x"] for b in first]), a[0]["x"][: 7 * 16])


def test_to_tf_augmentation_keeps_observables_consistent(tf, ds):
    dataset = ds.to_tf(None, batch_size=64, seed=2, augment=True,
                       columns=("x", "spins", "magnetization", "energy", "index"))
    _, got = collect(dataset)
    s = 2 * got["x"][..., 0].astype(np.int64) - 1
    np.testing.assert_array_equal(s, got["spins"])
    np.testing.assert_allclose(ref_m(s), got["magnetization"], atol=1e-6)
    np.testing.assert_allclose(ref_energy(s), got["energy"], atol=1e-6)
    original = ds.spins[got["index"]]
    np.testing.assert_allclose(ref_energy(s), ref_energy(original), atol=1e-12)
    flipped = np.sign(got["magnetization"]) != np.sign(ds.magnetization[got["index"]])
    assert flipped.any() and not flipped.all()
    assert not np.array_equal(s, original)


def test_to_tf_augmentation_draws_the_whole_group(tf, tmp_path, generic):
    s, images = generic
    n = 256
    path = write(tmp_path / "same.h5", np.repeat(s[None], n, axis=0), np.full(n, 2.0),
                 np.arange(n))
    dataset = IsingDataset(path).to_tf(batch_size=n, seed=0, augment=True, repeat=True)
    out = np.concatenate(list(dataset.take(8).as_numpy_iterator()))
    found = np.array([images[to_spins(o).tobytes()] for o in out])
    assert np.all(np.bincount(found[:, 1], minlength=8) > 0)
    for counts in (np.bincount(found[:, 0], minlength=2), np.bincount(found[:, 1], minlength=8),
                   np.bincount(found[:, 2] * L + found[:, 3], minlength=L * L)):
        assert stats.chisquare(counts).pvalue > P_MIN, counts
    # flip only / symmetries only
    only_sym = IsingDataset(path).to_tf(batch_size=n, augment=True, flip=False)
    found = [images[to_spins(o).tobytes()] for o in next(iter(only_sym)).numpy()]
    assert not any(f[0] for f in found)


def test_to_tf_structures_and_keras_fit(tf, ds):
    keras = pytest.importorskip("keras")
    pair = next(iter(ds.to_tf("train", columns="x", targets="x", batch_size=8)))
    assert isinstance(pair, tuple) and pair[0].shape == (8, L, L, 1)
    np.testing.assert_array_equal(pair[0].numpy(), pair[1].numpy())
    feats, targ = next(iter(ds.to_tf("validation", columns=("x", "temperature"),
                                     targets="magnetization", batch_size=8)))
    assert set(feats) == {"x", "temperature"} and targ.shape == (8,)
    x = keras.Input((L, L, 1), name="x")
    y = keras.layers.Reshape((L, L, 1))(
        keras.layers.Dense(L * L, activation="sigmoid")(keras.layers.Flatten()(x)))
    model = keras.Model(x, y)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(ds.to_tf("train", columns="x", targets="x", augment=True),
                        validation_data=ds.to_tf("validation", columns="x", targets="x",
                                                 shuffle=False),
                        epochs=2, verbose=0, shuffle=False)   # the dataset shuffles
    assert np.all(np.isfinite(history.history["val_loss"]))


def test_to_tf_refuses_bad_requests(tf, ds, tmp_path):
    with pytest.raises(InputError, match="unknown column 'm'"):
        ds.to_tf(columns=("x", "m"))
    with pytest.raises(InputError, match="unknown split"):
        ds.to_tf("holdout")
    with pytest.raises(InputError, match="batch_size"):
        ds.to_tf(batch_size=0)
    with pytest.raises(InputError, match="'test' is empty"):
        ds.to_tf("test", fractions=(0.9, 0.1, 0.0))
    rng = np.random.default_rng(0)
    field = write(tmp_path / "field.h5", random_spins(rng, 6), np.full(6, 2.0), np.arange(6),
                  h=0.1)
    with pytest.raises(InputError, match=r"h = 0\.1.*flip=False"):
        IsingDataset(field).to_tf(augment=True)
    assert IsingDataset(field).to_tf(augment=True, flip=False, batch_size=6) is not None


def test_to_tf_counts_its_passes_across_iterations(tf, ds):
    """Without repeat, the k-th iteration over a dataset is pass k; with repeat, passes
    0, 1, ... follow each other in one iteration, each batched on its own."""
    kw = dict(batch_size=16, seed=4, augment=True, columns=("x", "index"))
    n = ds.split().train.n
    dataset = ds.to_tf("train", **kw)
    assert int(dataset.cardinality()) == -(-n // 16)
    passes = [list(dataset.as_numpy_iterator()) for _ in range(2)]
    twin = ds.to_tf("train", **kw)                     # made alike: its own count from 0
    twin_passes = [list(twin.as_numpy_iterator()) for _ in range(2)]
    endless = list(ds.to_tf("train", repeat=True, **kw).take(2 * len(passes[0]))
                   .as_numpy_iterator())
    sizes = [16] * (n // 16) + ([n % 16] if n % 16 else [])
    assert [len(b["x"]) for b in passes[0]] == sizes
    assert [len(b["x"]) for b in endless] == 2 * sizes   # a batch never mixes two passes
    for a, b, c in zip(passes[0] + passes[1], twin_passes[0] + twin_passes[1], endless,
                       strict=True):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
            np.testing.assert_array_equal(a[k], c[k])
    assert not np.array_equal(passes[0][0]["index"], passes[1][0]["index"])


def rule_order(tf, key, e, n):
    """The order of pass e by the rule of isingvae.data.tfdata, written out again."""
    fold_in = tf.random.experimental.stateless_fold_in
    u = tf.random.stateless_uniform([n], fold_in(tf.constant(key), tf.constant(e, tf.int64)),
                                    minval=None,
                                    maxval=None, dtype=tf.int64)
    return tf.argsort(u, direction="DESCENDING", stable=True).numpy()


def rule_augment(tf, key, e, i, spins):
    """The augmentation of batch i of pass e by the same rule."""
    from isingvae.data.symmetry import tf_transform

    fold_in = tf.random.experimental.stateless_fold_in
    out, _ = tf_transform(L, flip=True, symmetries=True)(
        tf.constant(spins), fold_in(fold_in(tf.constant(key), tf.constant(e, tf.int64)),
                                    tf.constant(i, tf.int64)))
    return out.numpy()


def test_one_rule_for_both_entry_points(tf, ds):
    train, seed, B = ds.split().train, 9, 32
    n, steps = train.n, train.n // 32
    tf.random.set_seed(1234)          # a global seed must not enter
    to_tf = list(train.to_tf(batch_size=B, seed=seed, augment=True, repeat=True,
                             drop_remainder=True, columns=("spins", "index"))
                 .take(2 * steps).as_numpy_iterator())
    epochs, _ = train.epoch_batches(batch_size=B, epochs=2, seed=seed,
                                    labels=np.arange(n, dtype=np.float32))
    epochs = list(epochs.as_numpy_iterator())
    assert len(to_tf) == len(epochs) == 2 * steps
    for e in range(2):
        order_t = rule_order(tf, random.tf_key(seed, "tfdata", 0), e, n)
        order_e = rule_order(tf, random.tf_key(seed, "batches"), e, n)
        for i in range(steps):
            rows_t, rows_e = order_t[i * B:(i + 1) * B], order_e[i * B:(i + 1) * B]
            got_t, (x, rows) = to_tf[e * steps + i], epochs[e * steps + i]
            np.testing.assert_array_equal(got_t["index"], train.index[rows_t])
            np.testing.assert_array_equal(rows, rows_e)
            np.testing.assert_array_equal(got_t["spins"], rule_augment(
                tf, random.tf_key(seed, "tfdata", 1), e, i, train.spins[rows_t]))
            np.testing.assert_array_equal(to_spins(x), rule_augment(
                tf, random.tf_key(seed, "augment"), e, i, train.spins[rows_e]))


def test_epoch_batches_resume_bit_for_bit(tf, ds):
    kw = dict(batch_size=16, epochs=3, seed=2, labels=np.arange(ds.n, dtype=np.float32))
    full, steps = ds.epoch_batches(**kw)
    assert steps == ds.n // 16 and int(full.cardinality()) == 3 * steps
    full = list(full.as_numpy_iterator())
    assert len(full) == 3 * steps
    for start in (1, 2):
        resumed, steps2 = ds.epoch_batches(start_epoch=start, **kw)
        resumed = list(resumed.as_numpy_iterator())
        assert steps2 == steps and len(resumed) == (3 - start) * steps
        for (x, y), (x2, y2) in zip(full[start * steps:], resumed, strict=True):
            np.testing.assert_array_equal(x, x2)
            np.testing.assert_array_equal(y, y2)
    rows = [np.concatenate([y for _, y in full[e * steps:(e + 1) * steps]]).astype(int)
            for e in range(3)]
    for r in rows:                                    # each epoch: distinct rows, all batches full
        assert r.size == steps * 16 and np.unique(r).size == r.size
    assert not np.array_equal(rows[0], rows[1])
    spins = np.concatenate([to_spins(x) for x, _ in full[:steps]])
    np.testing.assert_allclose(ref_energy(spins), ref_energy(ds.spins[rows[0]]), atol=1e-12)
    assert not np.array_equal(spins, ds.spins[rows[0]])                 # augmented
    plain, _ = ds.epoch_batches(augment=False, **kw)
    for x, y in plain.take(steps).as_numpy_iterator():
        np.testing.assert_array_equal(x, ds.x[y.astype(int)])
    other = next(iter(ds.epoch_batches(**{**kw, "seed": 3})[0]))[1].numpy()
    assert not np.array_equal(other, full[0][1])


def test_epoch_batches_refuses_bad_requests(tf, ds, tmp_path):
    with pytest.raises(InputError, match=r"start epoch 3 must lie in \[0, 3\)"):
        ds.epoch_batches(batch_size=16, epochs=3, start_epoch=3)
    with pytest.raises(InputError, match="fewer than one batch"):
        ds.epoch_batches(batch_size=ds.n + 1, epochs=1)
    with pytest.raises(InputError, match="one row per configuration"):
        ds.epoch_batches(batch_size=16, epochs=1, labels=np.zeros(3))
    rng = np.random.default_rng(0)
    field = write(tmp_path / "field.h5", random_spins(rng, 6), np.full(6, 2.0), np.arange(6),
                  h=0.1)
    with pytest.raises(InputError, match=r"h = 0\.1.*flip=False"):
        IsingDataset(field).epoch_batches(batch_size=2, epochs=1)
    assert IsingDataset(field).epoch_batches(batch_size=2, epochs=1, flip=False)[1] == 3
