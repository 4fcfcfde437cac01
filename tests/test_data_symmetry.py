"""The lattice symmetry group Z2 x (T x D4): numpy and TensorFlow, one site map."""

import numpy as np
import pytest
from _data_helpers import P_MIN, L, ref_energy, ref_m
from scipy import stats

from isingvae.data import apply_symmetry, augment
from isingvae.data.symmetry import d4_table, source_sites


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


def every_element(n_copies=1):
    """(d4, shift, flip) of all 2 * 8 * L^2 group elements, each repeated n_copies times."""
    d4, dy, dx, flip = np.meshgrid(np.arange(8), np.arange(L), np.arange(L), [False, True],
                                   indexing="ij")
    d4, dy, dx, flip = (np.repeat(a.reshape(-1), n_copies) for a in (d4, dy, dx, flip))
    return d4, np.stack([dy, dx], axis=1), flip


def test_site_map_is_the_d4_table_then_a_roll():
    sites = np.arange(L * L).reshape(L, L)
    for e in range(8):
        expected = np.rot90(sites.T if e >= 4 else sites, e % 4)
        np.testing.assert_array_equal(d4_table(L)[e], expected.reshape(-1))
        src = source_sites(L, np.array([e]), np.array([[3, 5]]))[0]
        np.testing.assert_array_equal(src, np.roll(expected, (3, 5), axis=(0, 1)).reshape(-1))
        assert sorted(src.tolist()) == list(range(L * L))               # a permutation


def test_numpy_and_tf_symmetries_agree_element_by_element(tf, generic):
    from isingvae.data.symmetry import tf_apply_symmetry

    s, images = generic
    d4, shift, flip = every_element()
    batch = np.repeat(s[None], d4.size, axis=0)
    expected = apply_symmetry(batch, d4=d4, shift=shift, flip=flip)
    assert [images[o.tobytes()] for o in expected] == list(zip(flip, d4, *shift.T,
                                                               strict=True))
    args = (tf.constant(d4, tf.int32), tf.constant(shift, tf.int32), tf.constant(flip))
    eager = tf_apply_symmetry(tf.constant(batch), *args).numpy()
    graph = tf.function(tf_apply_symmetry)(tf.constant(batch), *args).numpy()  # as in tf.data
    assert eager.dtype == np.int8
    np.testing.assert_array_equal(eager, expected)
    np.testing.assert_array_equal(graph, expected)
    # different configurations, negative and large shifts
    rng = np.random.default_rng(4)
    many = rng.choice(np.array([-1, 1], dtype=np.int8), size=(300, L, L))
    d4, shift = rng.integers(0, 8, 300), rng.integers(-2 * L, 2 * L, (300, 2))
    flip = rng.integers(0, 2, 300).astype(bool)
    got = tf_apply_symmetry(tf.constant(many), tf.constant(d4, tf.int32),
                            tf.constant(shift, tf.int32), tf.constant(flip)).numpy()
    np.testing.assert_array_equal(got, apply_symmetry(many, d4=d4, shift=shift, flip=flip))


def test_tf_transform_draws_from_the_same_group(tf, generic):
    from isingvae.data.symmetry import tf_transform

    s, images = generic
    batch = tf.constant(np.repeat(s[None], 512, axis=0))
    for flip, symmetries in [(True, True), (True, False), (False, True)]:
        out, sign = tf_transform(L, flip=flip, symmetries=symmetries)(
            batch, tf.constant([5, 6], tf.int64))
        found = np.array([images[o.tobytes()] for o in out.numpy()])   # KeyError: not one
        np.testing.assert_array_equal(found[:, 0], sign.numpy() == -1)
        assert found[:, 0].any() == flip
        assert (found[:, 1:] != 0).any() == symmetries
