"""The chain driver: record spacing, and the same records however a run is cut."""

import itertools

import numpy as np

from isingvae.mc import Metropolis, Wolff
from isingvae.mc.chains import measure_series, run_chains


def test_records_are_thin_sweeps_apart_after_burn_in():
    sim = Metropolis(L=6, temperatures=[2.0, 3.0], chains=5, seed=1)
    recs = list(run_chains(sim, records=4, thin=3, burn_in=7))
    assert [r.sweep for r in recs] == [10, 13, 16, 19]
    assert recs[0].spins.shape == (2, 5, 6, 6) and recs[0].energy.shape == (2, 5)
    assert sim.sweeps_done == 19
    assert next(run_chains(sim, 1, 2, spins=False)).spins is None


def test_lazy_and_cut_anywhere_gives_the_same_records():
    # stopping after any record, saving the state and going on with burn_in=0 (what a
    # generation task does between shards) gives the records of an uncut run
    for cls in (Metropolis, Wolff):
        whole = cls(L=8, temperatures=[2.3], chains=3, seed=2)
        a = list(run_chains(whole, 6, 2, burn_in=5))
        cut = cls(L=8, temperatures=[2.3], chains=3, seed=2)
        gen = run_chains(cut, 6, 2, burn_in=5)
        first = list(itertools.islice(gen, 2))
        assert cut.sweeps_done == 9  # nothing swept beyond the last record taken
        state = cut.get_state()
        again = cls(L=8, temperatures=[2.3], chains=3, seed=2)
        again.set_state(state)
        b = first + list(run_chains(again, 4, 2))
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x.spins, y.spins)
            np.testing.assert_array_equal(x.energy, y.energy)
            assert x.sweep == y.sweep


def test_measure_series_is_the_driver_without_spins():
    a = Metropolis(L=6, temperatures=[2.5], chains=4, seed=3)
    e, m = measure_series(a, 5, stride=2)
    b = Metropolis(L=6, temperatures=[2.5], chains=4, seed=3)
    recs = list(run_chains(b, 5, 2))
    np.testing.assert_array_equal(e, np.stack([r.energy for r in recs]))
    np.testing.assert_array_equal(m, np.stack([r.magnetization for r in recs]))
    assert e.shape == (5, 1, 4) and a.sweeps_done == 10


def test_fused_series_equals_the_loop_record_by_record():
    # Metropolis measures a pilot's series in one kernel call where its sweeps run in
    # one thread; the numbers, the state after it and the sweep count are the loop's
    for cls, kw in ((Metropolis, {}), (Metropolis, {"h": 0.3}), (Metropolis, {"J": -1.0}),
                    (Wolff, {})):
        a = cls(L=8, temperatures=[2.2, 3.1], chains=70, seed=5, **kw)
        b = cls(L=8, temperatures=[2.2, 3.1], chains=70, seed=5, **kw)
        e, m = a.series(40, stride=3)
        recs = list(run_chains(b, 40, 3, spins=False))
        np.testing.assert_array_equal(e, np.stack([r.energy for r in recs]))
        np.testing.assert_array_equal(m, np.stack([r.magnetization for r in recs]))
        assert a.sweeps_done == b.sweeps_done == 120
        np.testing.assert_array_equal(a.spins, b.spins)
    # measure_series hands out pieces and reports the sweeps done
    done = []

    class Bar:
        def update(self, k):
            done.append(k)

    c = Metropolis(L=6, temperatures=[2.5], chains=4, seed=3)
    measure_series(c, 600, stride=2, progress=Bar())
    assert sum(done) == 1200 == c.sweeps_done and len(done) == 3
