"""The dataset reader: columns, selection, splits by chain, symmetry augmentation, tf.data."""

import subprocess
import sys

import h5py
import numpy as np
import pytest
from scipy import stats

from isingvae import data, lattice
from isingvae.data import IsingDataset, apply_symmetry, augment, to_bernoulli, to_spins
from isingvae.errors import InputError
from isingvae.storage import write_ising_file

L = 8
TEMPS = (1.5, 2.269, 3.0)
CHAINS = 6          # per temperature
PER_CHAIN = 10      # configurations per chain
P_MIN = 1e-4        # smallest acceptable p-value of the goodness-of-fit tests


def ref_energy(s, J=1.0, h=0.0):
    """Energy per spin, each bond once: -(J/N) sum_i s_i (s_right + s_down) - h m."""
    s = np.asarray(s, dtype=np.float64)
    right = np.roll(s, -1, axis=-1)
    down = np.roll(s, -1, axis=-2)
    n = s.shape[-1] * s.shape[-2]
    return -J * (s * (right + down)).sum(axis=(-2, -1)) / n - h * s.sum(axis=(-2, -1)) / n


def ref_m(s):
    return np.asarray(s, dtype=np.float64).mean(axis=(-2, -1))


def random_spins(rng, n, L=L):
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, L, L))


def write(path, spins, temperature, chain, h=0.0):
    return write_ising_file(path, L=spins.shape[-1], J=1.0, h=h, seed=7,
                            algorithm="metropolis", spins=spins, temperature=temperature,
                            energy=ref_energy(spins, h=h), magnetization=ref_m(spins),
                            chain=chain)


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    """A file of 3 temperatures x 6 chains x 10 configurations, rows in scrambled order.

    Chain ids are arbitrary distinct numbers, not temperature_index * chains + c.
    """
    rng = np.random.default_rng(12345)
    n = len(TEMPS) * CHAINS * PER_CHAIN
    spins = random_spins(rng, n)
    temperature = np.repeat(TEMPS, CHAINS * PER_CHAIN)
    chain = np.repeat(rng.permutation(1000)[: len(TEMPS) * CHAINS] * 7 + 3, PER_CHAIN)
    order = rng.permutation(n)
    cols = {"spins": spins[order], "temperature": temperature[order],
            "chain": chain[order].astype(np.int64)}
    path = write(tmp_path_factory.mktemp("data") / "ising.h5", **cols)
    cols["energy"] = ref_energy(cols["spins"])
    cols["magnetization"] = ref_m(cols["spins"])
    return path, cols


@pytest.fixture
def ds(truth):
    return IsingDataset(truth[0])


# ---------------------------------------------------------------------------- columns


def test_columns_round_trip(ds, truth):
    path, cols = truth
    assert ds._store._spins is None and ds._store._meta is None   # nothing read yet
    assert ds.L == L and ds.n == len(ds) == len(cols["spins"]) == ds.header.n
    assert ds.header.path == path and ds.J == 1.0 and ds.h == 0.0
    assert ds.temperatures.tolist() == list(TEMPS)
    for name, dtype in [("spins", np.int8), ("temperature", np.float64),
                        ("energy", np.float64), ("magnetization", np.float64),
                        ("chain", np.int64)]:
        got = getattr(ds, name)
        assert got.dtype == dtype, name
        np.testing.assert_array_equal(got, cols[name], err_msg=name)
        assert not got.flags.writeable, name
    assert ds.spins.shape == (ds.n, L, L)
    np.testing.assert_array_equal(ds.index, np.arange(ds.n))
    assert ds.chains.size == len(TEMPS) * CHAINS
    arrays = ds.arrays(("spins", "abs_magnetization"))
    np.testing.assert_array_equal(arrays["abs_magnetization"], np.abs(cols["magnetization"]))
    assert "IsingDataset" in repr(ds) and f"n={ds.n}" in repr(ds)


def test_bernoulli_view_and_observables(ds):
    x = ds.x
    assert x.dtype == np.float32 and x.shape == (ds.n, L, L, 1)
    assert set(np.unique(x)) == {0.0, 1.0}
    np.testing.assert_array_equal(x[..., 0], (ds.spins + 1) / 2)
    np.testing.assert_array_equal(to_spins(x), ds.spins)
    np.testing.assert_array_equal(to_spins(to_bernoulli(ds.spins[0])), ds.spins[0])
    np.testing.assert_allclose(lattice.energy(ds.spins), ref_energy(ds.spins))
    np.testing.assert_allclose(lattice.energy(ds.spins, J=0.5, h=0.3),
                               ref_energy(ds.spins, J=0.5, h=0.3))
    np.testing.assert_allclose(lattice.magnetization(ds.spins), ref_m(ds.spins))


# ---------------------------------------------------------------------------- selection


def test_select_by_temperature(ds, truth):
    cols = truth[1]
    sub = ds.select(2.269)
    assert sub.n == CHAINS * PER_CHAIN
    assert np.all(sub.temperature == 2.269)
    np.testing.assert_array_equal(sub.index, np.flatnonzero(cols["temperature"] == 2.269))
    np.testing.assert_array_equal(sub.spins, cols["spins"][cols["temperature"] == 2.269])
    assert ds.select(2.269 * (1 + 1e-12)).n == sub.n          # tolerance
    both = ds.select([1.5, 3.0])
    assert both.temperatures.tolist() == [1.5, 3.0] and both.n == 2 * sub.n
    assert ds.select(t_min=2.0).temperatures.tolist() == [2.269, 3.0]
    assert ds.select(t_min=2.0, t_max=2.5).temperatures.tolist() == [2.269]
    assert ds.select().n == ds.n
    with pytest.raises(InputError, match=r"temperature 2\.27 is not in .*1\.5, 2\.269, 3"):
        ds.select(2.27)
    seen = [(t, part.n) for t, part in ds.by_temperature()]
    assert seen == [(t, CHAINS * PER_CHAIN) for t in TEMPS]


# ---------------------------------------------------------------------------- splits


def test_split_partitions_rows_by_chain_per_temperature(ds):
    parts = ds.split(seed=3)
    assert [p.n for p in parts] == [4 * len(TEMPS) * PER_CHAIN, len(TEMPS) * PER_CHAIN,
                                    len(TEMPS) * PER_CHAIN]
    rows = np.concatenate([p.index for p in parts])
    np.testing.assert_array_equal(np.sort(rows), np.arange(ds.n))      # a partition
    chain_sets = [set(p.chain.tolist()) for p in parts]
    for a in range(3):
        for b in range(a + 1, 3):
            assert not chain_sets[a] & chain_sets[b]                 # no chain straddles
    for p in parts:
        assert p.temperatures.tolist() == list(TEMPS)                # stratified
        for c in set(p.chain.tolist()):                              # whole chains
            assert (p.chain == c).sum() == PER_CHAIN
    assert parts.chain_counts() == {t: (4, 1, 1) for t in TEMPS}


def test_split_is_deterministic_and_consistent_with_selection(ds, truth):
    a, b = ds.split(seed=3), IsingDataset(truth[0]).split(seed=3)
    for pa, pb in zip(a, b, strict=True):
        np.testing.assert_array_equal(pa.index, pb.index)
    others = [ds.split(seed=s).test.index for s in range(4, 12)]
    assert any(not np.array_equal(o, a.test.index) for o in others)
    np.testing.assert_array_equal(ds.select(split="test", split_seed=3).index, a.test.index)
    # selecting a temperature before or after splitting gives the same rows
    np.testing.assert_array_equal(ds.select(3.0).split(seed=3).validation.index,
                                  a.validation.select(3.0).index)
    np.testing.assert_array_equal(ds.select(3.0, split="train", split_seed=3).index,
                                  a.train.select(3.0).index)
    custom = ds.split((0.5, 0.0, 0.5), seed=1)
    assert custom.validation.n == 0 and custom.train.n == custom.test.n == ds.n // 2


def test_split_with_too_few_chains(tmp_path):
    rng = np.random.default_rng(0)
    one = write(tmp_path / "one.h5", random_spins(rng, 6), np.repeat(TEMPS, 2),
                np.repeat([5, 9, 2], 2))
    ds = IsingDataset(one)
    with pytest.raises(InputError, match=r"validation split of .*one\.h5 would be empty"):
        ds.split()
    with pytest.raises(InputError, match=r"test split .* would be empty"):
        ds.split((0.9, 0.0, 0.1))
    assert ds.split((1.0, 0.0, 0.0)).train.n == 6
    with pytest.raises(InputError, match="'test' is empty"):
        ds.select(split="test", fractions=(1.0, 0.0, 0.0))
    # two chains per temperature: one to train, one to test, validation stays empty
    two = write(tmp_path / "two.h5", random_spins(rng, 12), np.repeat(TEMPS, 4),
                np.repeat(np.arange(6), 2))
    parts = IsingDataset(two).split((0.8, 0.0, 0.2))
    assert parts.chain_counts() == {t: (1, 0, 1) for t in TEMPS}
    with pytest.raises(InputError, match="validation split"):
        IsingDataset(two).split()
    for bad in [(0.8, 0.2), (0.5, 0.5, 0.5), (1.2, -0.1, -0.1), (np.nan, 0.5, 0.5)]:
        with pytest.raises(InputError, match="fractions"):
            ds.split(bad)
    with pytest.raises(InputError, match="seed"):
        ds.split(seed=-1)


# ---------------------------------------------------------------------------- augmentation


def group_images(s):
    """Every image of one configuration under Z2 x D4 x translations -> (flip, d4, dy, dx)."""
    images = {}
    for flip in (False, True):
        for e in range(8):
            y = s.T if e >= 4 else s
            y = np.rot90(y, e % 4)
            for dy in range(L):
                for dx in range(L):
                    z = np.roll(y, (dy, dx), axis=(0, 1))
                    images[(-z if flip else z).tobytes()] = (flip, e, dy, dx)
    return images


@pytest.fixture(scope="module")
def generic():
    """A configuration with no symmetry of its own: all 2 * 8 * L^2 images differ."""
    s = random_spins(np.random.default_rng(99), 1)[0]
    images = group_images(s)
    assert len(images) == 2 * 8 * L * L
    return s, images


def test_apply_symmetry_elements(generic):
    s, images = generic
    batch = np.repeat(s[None], 3, axis=0)
    for e in range(8):
        out = apply_symmetry(batch, d4=e, shift=[(0, 0), (1, 2), (7, 5)], flip=[0, 1, 0])
        assert out.dtype == np.int8
        assert [images[o.tobytes()] for o in out] == [(False, e, 0, 0), (True, e, 1, 2),
                                                      (False, e, 7, 5)]
    np.testing.assert_array_equal(apply_symmetry(s, d4=1), np.rot90(s))
    with pytest.raises(ValueError):
        apply_symmetry(s, d4=8)


def test_augment_preserves_energy_and_abs_m(ds):
    s = ds.spins
    out, sign = augment(s, np.random.default_rng(1))
    assert out.shape == s.shape and out.dtype == np.int8 and sign.dtype == np.int8
    assert set(np.unique(sign)) == {-1, 1}
    np.testing.assert_allclose(ref_energy(out), ref_energy(s), atol=1e-12)
    np.testing.assert_allclose(np.abs(ref_m(out)), np.abs(ref_m(s)), atol=1e-12)
    np.testing.assert_array_equal(ref_m(out), sign * ref_m(s))      # flips m exactly then
    assert not np.array_equal(out, s)
    again, sign2 = augment(s, np.random.default_rng(1))
    np.testing.assert_array_equal(again, out)
    np.testing.assert_array_equal(sign2, sign)
    other, _ = augment(s, 2)
    assert not np.array_equal(other, out)
    # the switches
    only_flip, sign = augment(s, 0, symmetries=False)
    np.testing.assert_array_equal(only_flip, sign[:, None, None] * s)
    no_flip, sign = augment(s, 0, flip=False)
    assert np.all(sign == 1)
    np.testing.assert_array_equal(ref_m(no_flip), ref_m(s))
    single, sign = augment(s[0], 0)
    assert single.shape == (L, L) and sign in (-1, 1)


def test_augment_draws_the_whole_group_uniformly(generic):
    s, images = generic
    draws = 4096
    out, sign = augment(np.repeat(s[None], draws, axis=0), np.random.default_rng(5))
    found = np.array([images[o.tobytes()] for o in out])           # KeyError: not an image
    np.testing.assert_array_equal(found[:, 0], sign == -1)
    flips = np.bincount(found[:, 0], minlength=2)
    d4 = np.bincount(found[:, 1], minlength=8)
    shifts = np.bincount(found[:, 2] * L + found[:, 3], minlength=L * L)
    assert np.all(d4 > 0) and np.all(shifts > 0)
    for counts in (flips, d4, shifts):
        assert stats.chisquare(counts).pvalue > P_MIN, counts


# ---------------------------------------------------------------------------- tf.data


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


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


# ---------------------------------------------------------------------------- bad files


def test_import_does_not_load_tensorflow():
    code = "import sys, isingvae.data; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_foreign_truncated_and_text_files(tmp_path, truth):
    import h5py

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["spins"] = np.ones((2, L, L), dtype=np.int8)
    truncated = tmp_path / "truncated.h5"
    whole = truth[0].read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    text = tmp_path / "notes.txt"
    text.write_text("T = 2.269\n")
    for path in (foreign, truncated, text, tmp_path / "missing.h5", tmp_path):
        with pytest.raises(InputError) as info:
            IsingDataset(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, message


def test_bad_values_are_input_errors(tmp_path):
    rng = np.random.default_rng(0)
    path = write(tmp_path / "zero.h5", random_spins(rng, 4), np.full(4, 2.0), np.arange(4))
    with h5py.File(path, "a") as f:  # the writer refuses such values: damage the file
        f["spins"][2, 1, 1] = 0
    ds = IsingDataset(path)
    assert ds.temperatures.tolist() == [2.0]
    with pytest.raises(InputError, match=r"row 2 holds values other than"):
        _ = ds.spins
    cold = write(tmp_path / "cold.h5", random_spins(rng, 2), np.array([2.0, -1.0]),
                 np.arange(2))
    with pytest.raises(InputError, match="finite and positive"):
        _ = IsingDataset(cold).temperature
