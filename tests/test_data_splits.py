"""Splits by Markov chain: partitions, the frozen assignment, recorded chain ids."""

import json

import numpy as np
import pytest
from _data_helpers import PER_CHAIN, TEMPS, random_spins, write

from isingvae.data import IsingDataset
from isingvae.data.splits import allocate
from isingvae.errors import InputError

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


# the chains of each split of the truth file, computed by the implementation that trained
# runs recorded only the split seed of: evaluation of those runs recomputes the split, so
# the assignment must never change
FROZEN = {
    ((0.8, 0.1, 0.1), 0): [[577, 640, 1018, 2096, 2635, 3069, 3307, 3811, 5624, 6142, 6492,
                            6737], [269, 479, 5113], [367, 2187, 6310]],
    ((0.8, 0.1, 0.1), 3): [[577, 640, 1018, 2096, 2187, 2635, 3307, 3811, 5624, 6142, 6492,
                            6737], [269, 479, 5113], [367, 3069, 6310]],
    ((0.5, 0.0, 0.5), 1): [[269, 367, 479, 640, 2635, 3069, 3811, 6310, 6492], [],
                           [577, 1018, 2096, 2187, 3307, 5113, 5624, 6142, 6737]],
}


@pytest.mark.parametrize(("fractions", "seed"), list(FROZEN))
def test_split_assignment_is_frozen(ds, fractions, seed):
    ids = ds.split(fractions, seed=seed).chain_ids()
    assert [ids[k].tolist() for k in ("train", "validation", "test")] == FROZEN[fractions,
                                                                                seed]


def test_chain_ids_round_trip(ds):
    parts = ds.split(seed=3)
    ids = parts.chain_ids()
    assert list(ids) == ["train", "validation", "test"]
    for k, part in zip(ids, parts, strict=True):
        assert ids[k].dtype == np.int64
        np.testing.assert_array_equal(ids[k], np.unique(part.chain))     # sorted, distinct
    np.testing.assert_array_equal(np.sort(np.concatenate(list(ids.values()))), ds.chains)
    # through config.json and back, on the same file and on the view the run trained on
    recorded = json.loads(json.dumps({k: v.tolist() for k, v in ids.items()}))
    for again in (ds.split_by_chains(**recorded), ds.split_by_chains(*ids.values())):
        for a, b in zip(parts, again, strict=True):
            np.testing.assert_array_equal(a.index, b.index)
            np.testing.assert_array_equal(a.spins, b.spins)
    assert again.chain_counts() == parts.chain_counts()
    # a run trained on one temperature: its chain ids pick the same rows in the whole file
    hot = ds.select(3.0).split(seed=3)
    for a, b in zip(hot, ds.split_by_chains(**hot.chain_ids()), strict=True):
        np.testing.assert_array_equal(a.index, b.index)
    empty = ds.split((0.5, 0.0, 0.5), seed=1)
    assert empty.chain_ids()["validation"].size == 0
    assert ds.split_by_chains(**empty.chain_ids()).validation.n == 0


def test_split_by_chains_refuses_inconsistent_ids(ds):
    ids = ds.split(seed=3).chain_ids()
    with pytest.raises(InputError, match=f"chain {ids['test'][0]} is in both the train and"):
        ds.split_by_chains(np.append(ids["train"], ids["test"][0]), ids["validation"],
                           ids["test"])
    with pytest.raises(InputError, match="are not in"):                 # another file
        ds.split_by_chains(ids["train"], ids["validation"], [*ids["test"].tolist(), 4])


def test_allocate_whole_chains():
    for count in range(0, 30):
        for fr in ([0.8, 0.1, 0.1], [0.5, 0.0, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.0, 1.0]):
            fr = np.array(fr)
            out = allocate(count, fr)
            assert out.sum() == count and np.all(out >= 0), (count, fr, out)
            assert np.all(out[fr == 0] == 0)
            active = int((fr > 0).sum())
            if count >= active:
                assert np.all(out[fr > 0] >= 1)
            # rounding moves at most one chain, the minimum of one at most one more
            assert np.all(np.abs(out - fr * count) < 2), (count, fr, out)
    assert allocate(10, np.array([0.8, 0.1, 0.1])).tolist() == [8, 1, 1]
    assert allocate(1, np.array([0.8, 0.1, 0.1])).tolist() == [1, 0, 0]
    assert allocate(2, np.array([0.8, 0.1, 0.1])).tolist() == [1, 0, 1]
