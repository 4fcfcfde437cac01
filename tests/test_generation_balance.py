"""Balanced generation: chains and blocks per temperature from the pilot, the
order the driver hands jobs out in, threads and Dask with the same bits, the schedule
simulation, and runs of the previous generator version refused as other settings."""

import json
from concurrent.futures import Future

import h5py
import numpy as np
import pytest
from _safety_helpers import killed_before_final_assembly

from isingvae import exact
from isingvae.errors import InputError
from isingvae.generation import (
    GenerationPlan,
    cancel,
    generate,
    open_executor,
    schedule,
    tasks,
)
from isingvae.generation import plan as plan_module
from isingvae.generation.plan import BLOCK, MIN_RECORDS, TASK_NS, balance, task_cost_ns


def read_all(path):
    with h5py.File(path) as f:
        return {k: f[k][...] for k in f}, dict(f.attrs)


def assert_same_data(a, b):
    da, attrs_a = read_all(a)
    db, attrs_b = read_all(b)
    assert set(da) == set(db)
    for key in da:
        np.testing.assert_array_equal(da[key], db[key], err_msg=key)
    for key in ("chains_per_temperature", "chains_per_task", "thinning_sweeps",
                "burn_in_sweeps", "tau_int_energy", "generation"):
        np.testing.assert_array_equal(attrs_a[key], attrs_b[key], err_msg=key)


# --- the rule --------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.5, 3.0, 40.0, 200.0, 900.0])
@pytest.mark.parametrize("samples", [100, 4096, 50_000])
def test_metropolis_blocks_meet_the_target_or_the_least_records(tau, samples):
    plan = GenerationPlan(L=32, temperatures=(2.3,), samples=samples,
                          chains=min(64, samples), seed=0, algorithm="metropolis")
    B, D = int(np.ceil(20 * tau)), max(1, int(np.ceil(2 * tau)))
    chains, block = balance(plan, "metropolis", B, D)
    assert block == BLOCK and plan.chains <= chains <= plan.max_chains() <= samples
    records = -(-samples // chains)
    cost = task_cost_ns(plan, "metropolis", B, D, 1.0, records, min(chains, BLOCK))
    if chains > plan.chains:  # chains were added: in whole words, each chain long enough
        assert chains % BLOCK == 0 and records >= MIN_RECORDS
    # either the block fits the target, or one more word would thin chains too far
    more = chains + BLOCK
    assert cost <= TASK_NS or chains >= plan.max_chains() or -(-samples // more) < MIN_RECORDS
    # the plan's chains are kept where a block already fits
    if task_cost_ns(plan, "metropolis", B, D, 1.0, -(-samples // plan.chains),
                    BLOCK) <= TASK_NS:
        assert chains == plan.chains


@pytest.mark.parametrize("work", [1.0, 2.3, 7.0])
@pytest.mark.parametrize("samples", [64, 4096, 40_000])
def test_wolff_keeps_its_chains_and_cuts_them_into_blocks_that_fit(work, samples):
    plan = GenerationPlan(L=32, temperatures=(2.3,), samples=samples, chains=64, seed=0,
                          algorithm="wolff")
    chains, block = balance(plan, "wolff", 32, 4, work)
    assert chains == 64 and 1 <= block <= BLOCK
    records = -(-samples // chains)
    cost = task_cost_ns(plan, "wolff", 32, 4, work, records, block)
    assert cost <= TASK_NS or block == 1
    if block < BLOCK:  # one chain more per block would not fit
        assert task_cost_ns(plan, "wolff", 32, 4, work, records, block + 1) > TASK_NS


def test_task_cost_is_the_fixed_costs_times_the_sweeps():
    plan = GenerationPlan(L=16, temperatures=(2.3,), samples=640, chains=64, seed=0)
    # a Metropolis word costs the same for 1 chain as for 64
    one = task_cost_ns(plan, "metropolis", 100, 10, 1.0, 10, 1)
    assert one == task_cost_ns(plan, "metropolis", 100, 10, 1.0, 10, 64)
    assert one == pytest.approx((100 + 10 * 10) * 256 * 64 * 0.09)
    # Wolff: per chain and per flipped spin
    assert task_cost_ns(plan, "wolff", 10, 2, 2.0, 10, 8) == pytest.approx(
        8 * (10 + 2 * 10) * 256 * 2.0 * 18.0)


# --- what a file records, and its physics -----------------------------------------------


@pytest.fixture(scope="module")
def balanced(tmp_path_factory):
    """A small plan whose pilots add chains: the task target is lowered to 1 us, so every
    temperature goes from 16 chains to the most that keep 16 records each (128)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(plan_module, "TASK_NS", 1e3)
    try:
        plan = GenerationPlan(L=8, temperatures=(2.0, 3.0), samples=2048, chains=16,
                              seed=4, algorithm="metropolis")
        path = tmp_path_factory.mktemp("balanced") / "b.h5"
        res = generate(plan, path, progress=False, threads=1)
        others = {}
        for n in (2, 3):
            others[n] = tmp_path_factory.mktemp("balanced") / f"t{n}.h5"
            generate(plan, others[n], progress=False, threads=n)
    finally:
        mp.undo()
    return plan, path, res, others


def test_the_file_records_the_chains_of_every_temperature(balanced):
    plan, path, res, _ = balanced
    d, attrs = read_all(path)
    assert attrs["chains_per_temperature"].tolist() == [128, 128]
    assert attrs["chains_per_task"].tolist() == [64, 64] and attrs["chains_minimum"] == 16
    assert json.loads(attrs["generation"])["generator_version"] == 3
    for t, T in enumerate(plan.temperatures):
        rows = d["temperature"] == T
        ids, counts = np.unique(d["chain"][rows], return_counts=True)
        # 128 chains of 16 records, ids t * samples + c
        np.testing.assert_array_equal(ids, t * plan.samples + np.arange(128))
        assert (counts == 16).all()
        # each chain: burn-in, then one record every thin sweeps
        B, D = int(attrs["burn_in_sweeps"][t]), int(attrs["thinning_sweeps"][t])
        for c in ids[:3]:
            sweeps = d["sweep"][rows][d["chain"][rows] == c]
            np.testing.assert_array_equal(sweeps, B + D * np.arange(1, 17))
    assert len(res.jobs) == 2 + 4 and all(j["seconds"] >= 0 for j in res.jobs)


def test_added_chains_are_equilibrated(balanced):
    # every chain, old or added, is burnt in: the mean energy agrees with Kaufman's torus
    # within 4 errors from chain means (robust to correlation inside a chain)
    plan, path, _, _ = balanced
    d, _ = read_all(path)
    for T in plan.temperatures:
        rows = d["temperature"] == T
        e, chain = d["energy"][rows], d["chain"][rows]
        means = np.array([e[chain == c].mean() for c in np.unique(chain)])
        err = means.std(ddof=1) / np.sqrt(len(means))
        assert abs(e.mean() - exact.finite_lattice(8, T).energy) < 4 * err


def test_same_bits_at_every_thread_count(balanced):
    _, path, _, others = balanced
    for other in others.values():
        assert_same_data(path, other)


def test_dask_split_gives_the_same_bits(tmp_path):
    # a Wolff plan whose chains are cut into blocks (each chain is a long run), on one
    # thread here and on a Dask cluster of two single-threaded workers
    pytest.importorskip("distributed")
    plan = GenerationPlan(L=16, temperatures=(2.269, 2.6), samples=6000, chains=16, seed=8,
                          algorithm="wolff")
    local = tmp_path / "local.h5"
    res = generate(plan, local, progress=False, threads=1)
    assert any(tasks.blocks(i) > 1 for i in res.pilots.values())
    with open_executor("local:2") as executor:
        generate(plan, tmp_path / "dask.h5", executor=executor, progress=False)
    assert_same_data(local, tmp_path / "dask.h5")


# --- the order of the jobs ----------------------------------------------------------


class _OneAtATime:
    """An executor with room for one job that records what it ran."""

    _max_workers = 1

    def __init__(self):
        self.jobs = []

    def submit(self, fn, *args):
        self.jobs.append((args[0].__name__, args[2:4]))
        future = Future()
        future.set_result(fn(*args))
        return future


def test_pilots_nearest_tc_first_then_the_costliest_tasks(tmp_path):
    mp = pytest.MonkeyPatch()
    mp.setattr(plan_module, "TASK_NS", 1e3)  # two blocks per temperature
    try:
        temps = (3.0, 2.3, 1.5, 2.2)
        plan = GenerationPlan(L=8, temperatures=temps, samples=2048, chains=16, seed=2,
                              algorithm="metropolis")
        executor = _OneAtATime()
        res = generate(plan, tmp_path / "o.h5", executor=executor, progress=False)
    finally:
        mp.undo()
    kinds = [name for name, _ in executor.jobs]
    n = len(temps)
    assert kinds[:n] == ["pilot_task"] * n and set(kinds[n:]) == {"run_task"}
    tc = exact.critical_temperature()
    order = [temps[t] for _, (t, *_) in executor.jobs[:n]]
    assert order == sorted(temps, key=lambda T: abs(T - tc))
    costs = [tasks.estimated_cost(plan, res.pilots[t], b)
             for _, (t, b) in executor.jobs[n:]]
    assert costs == sorted(costs, reverse=True) and len(costs) == 2 * n


# --- the simulation ---------------------------------------------------------------------


def _jobs(seed=0):
    rng = np.random.default_rng(seed)
    jobs = []
    for t in range(6):
        jobs.append({"kind": "pilot", "t": t, "seconds": float(rng.uniform(0.1, 2.0)),
                     "distance": float(rng.uniform(0, 1))})
        for _ in range(int(rng.integers(1, 5))):
            s = float(rng.uniform(0.05, 1.0))
            jobs.append({"kind": "task", "t": t, "seconds": s, "cost_ns": s * 1e9})
    return jobs


@pytest.mark.parametrize("seed", range(5))
def test_simulation_is_bounded_by_work_and_critical_path(seed):
    jobs = _jobs(seed)
    total = sum(j["seconds"] for j in jobs)
    path = schedule.critical_path(jobs)
    assert schedule.simulate(jobs, 1) == pytest.approx(total)
    for cores in (2, 3, 16):
        span = schedule.simulate(jobs, cores)
        # no schedule beats the work per core or the critical path; a list schedule is
        # within both added together (Graham)
        assert max(total / cores, path) - 1e-9 <= span <= total / cores + path + 1e-9
    # with a core per job, every pilot and its tasks start at once
    assert schedule.simulate(jobs, len(jobs)) == pytest.approx(path)


# --- files and runs of the previous generator ---------------------------------------


def _unfinished(tmp_path, monkeypatch, plan):
    """A run killed just before its final assembly, with rows in its partial file."""
    out = tmp_path / "x.h5"
    with killed_before_final_assembly(monkeypatch), pytest.raises(KeyboardInterrupt):
        generate(plan, out, progress=False, assemble_every=0.0, threads=1)
    return out, tmp_path / "x.h5.parts"


def _as_version_2(fingerprint: str) -> str:
    d = json.loads(fingerprint)
    d["generator_version"] = 2
    return json.dumps(d, sort_keys=True)


def test_an_unfinished_run_of_version_2_is_other_settings(tmp_path, monkeypatch):
    plan = GenerationPlan(L=8, temperatures=(2.0, 3.0), samples=40, chains=8, seed=1)
    out, parts = _unfinished(tmp_path, monkeypatch, plan)
    plan_json = parts / "plan.json"
    plan_json.write_text(json.dumps({"fingerprint": _as_version_2(plan.fingerprint())}))
    with pytest.raises(InputError, match="unfinished run with other settings "
                                         r"\(generator_version: 2 -> 3\)"):
        generate(plan, out, progress=False)
    assert plan_json.exists()  # nothing of it was touched


def test_an_unfinished_file_of_version_2_is_other_settings(tmp_path, monkeypatch):
    plan = GenerationPlan(L=8, temperatures=(2.0, 3.0), samples=40, chains=8, seed=1)
    out, parts = _unfinished(tmp_path, monkeypatch, plan)
    for p in parts.iterdir():
        p.unlink()
    parts.rmdir()
    with h5py.File(out, "r+") as f:
        assert not f.attrs["complete"] and len(f["spins"]) > 0
        f.attrs["generation"] = _as_version_2(f.attrs["generation"])
    before = out.read_bytes()
    with pytest.raises(InputError, match=r"made with other settings \(generator_version: "
                                         r"2 -> 3\)"):
        generate(plan, out, progress=False)
    assert out.read_bytes() == before
    generate(plan, out, progress=False, force=True)  # --force replaces it
    with h5py.File(out) as f:
        assert f.attrs["complete"] and json.loads(f.attrs["generation"])[
            "generator_version"] == 3


# --- a failure does not wait for long jobs -------------------------------------------


def test_a_failed_job_ends_the_jobs_running_beside_it(tmp_path, monkeypatch):
    # two threads: the pilot near T_c at L = 64 takes seconds; the other temperature's
    # pilot is quick, and its task fails at once.  The long pilot is ended early (no
    # result written) instead of being waited for; the quick pilot's result stays.
    from isingvae.generation import schedule as sched

    def failing_task(*args, **kwargs):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(sched, "run_task", failing_task)
    plan = GenerationPlan(L=64, temperatures=(3.5, 2.269), samples=64, chains=64, seed=1,
                          algorithm="metropolis")
    out = tmp_path / "x.h5"
    with pytest.raises(RuntimeError, match="worker lost"):
        generate(plan, out, progress=False, threads=2)
    parts = tmp_path / "x.h5.parts"
    assert (parts / "pilot-t0000.json").exists()
    assert not (parts / "pilot-t0001.json").exists()


def test_cancelled_jobs_stop_at_their_next_look(tmp_path):
    # outside a cancellable block nothing stops; inside, a set event stops a pilot and a
    # task before they finish, and a task keeps the shards it wrote
    import threading

    plan = GenerationPlan(L=8, temperatures=(2.4,), samples=4000, chains=64, seed=3,
                          algorithm="metropolis")
    info = tasks.pilot(plan, 0)
    event = threading.Event()
    event.set()
    with cancel.cancellable(event), pytest.raises(cancel.Cancelled):
        tasks.pilot(plan, 0)
    calls = []

    def stop_after_one(rows):
        calls.append(rows)
        event.set()

    event.clear()
    with cancel.cancellable(event), pytest.raises(cancel.Cancelled):
        tasks.run_task(plan, 0, 0, info, tmp_path, segment_spins=8 * 8 * 64 * 4,
                       on_segment=stop_after_one)
    assert len(calls) == 1 and len(list(tmp_path.glob("task-*.npz"))) == 1
    # resumed outside the block, it ends with every row
    assert tasks.run_task(plan, 0, 0, info, tmp_path, segment_spins=8 * 8 * 64 * 4) > 0
    assert tasks.count_rows(plan, 0, 0, info, tmp_path) == plan.samples
