"""Dataset generation: schema, physics of the stored columns, determinism, resume, executors
(a thread pool, Dask), CLI."""

import hashlib
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest

from isingvae import cli, exact, storage
from isingvae.errors import InputError
from isingvae.generation import GenerationPlan, generate, open_executor, parse_temperatures

TEMPS = (1.5, 2.269, 3.0)


def small_plan(**over):
    kw = dict(L=8, temperatures=TEMPS, samples=40, chains=10, seed=3, algorithm="metropolis")
    kw.update(over)
    return GenerationPlan(**kw)


def read_all(path):
    with h5py.File(path) as f:
        return {k: f[k][...] for k in f}, dict(f.attrs)


def energy_per_spin(spins, J=1.0, h=0.0):
    s = spins.astype(np.int64)
    bonds = s * (np.roll(s, 1, axis=-1) + np.roll(s, 1, axis=-2))
    return (-J * bonds.sum(axis=(-1, -2)) - h * s.sum(axis=(-1, -2))) / s[0].size


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "small.h5"
    res = generate(small_plan(), path, progress=False)
    assert not res.already_complete
    return path


def test_schema_and_attributes(small_file):
    header = storage.read_header(small_file)
    assert header.L == 8 and header.seed == 3 and header.algorithm == "metropolis"
    assert header.n == 40 * len(TEMPS)
    a = header.attrs
    assert a["complete"]
    np.testing.assert_array_equal(a["temperatures"], TEMPS)
    for key in ("tau_int_energy", "tau_int_abs_magnetization", "burn_in_sweeps",
                "thinning_sweeps"):
        assert np.shape(a[key]) == (len(TEMPS),) and np.all(np.asarray(a[key]) > 0), key
    # burn-in and thinning follow the measured times (20 and 2 tau)
    tau = np.maximum(a["tau_int_energy"], a["tau_int_abs_magnetization"])
    np.testing.assert_array_equal(a["thinning_sweeps"], np.maximum(1, np.ceil(2 * tau)))
    assert not (small_file.parent / "small.h5.parts").exists()


def test_columns_are_the_physics_of_the_spins(small_file):
    d, _ = read_all(small_file)
    assert set(np.unique(d["spins"])) == {-1, 1}
    np.testing.assert_allclose(d["energy"], energy_per_spin(d["spins"]), atol=1e-12)
    np.testing.assert_allclose(d["magnetization"], d["spins"].mean(axis=(1, 2)), atol=1e-12)
    for t in TEMPS:
        rows = d["temperature"] == t
        assert rows.sum() == 40
        chains, counts = np.unique(d["chain"][rows], return_counts=True)
        assert len(chains) == 10 and set(counts) == {4}
    # chain ids never repeat across temperatures
    ids = {t: set(d["chain"][d["temperature"] == t]) for t in TEMPS}
    assert not (ids[1.5] & ids[3.0])


def test_below_tc_both_signs_present(small_file):
    d, _ = read_all(small_file)
    m = d["magnetization"][d["temperature"] == 1.5]
    assert (m > 0).any() and (m < 0).any()


def test_same_seed_same_bits_other_seed_other_bits(small_file, tmp_path):
    again = tmp_path / "again.h5"
    generate(small_plan(), again, progress=False)
    a, _ = read_all(small_file)
    b, _ = read_all(again)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    other = tmp_path / "other.h5"
    generate(small_plan(seed=4), other, progress=False)
    c, _ = read_all(other)
    assert not np.array_equal(a["spins"], c["spins"])


def test_rerun_on_complete_file_is_a_no_op(small_file):
    before = hashlib.sha256(small_file.read_bytes()).hexdigest()
    res = generate(small_plan(), small_file, progress=False)
    assert res.already_complete
    assert hashlib.sha256(small_file.read_bytes()).hexdigest() == before


def test_other_settings_refused_unless_forced(small_file, tmp_path):
    copy = tmp_path / "copy.h5"
    copy.write_bytes(small_file.read_bytes())
    before = copy.read_bytes()
    with pytest.raises(InputError, match="seed: 3 -> 9"):
        generate(small_plan(seed=9), copy, progress=False)
    assert copy.read_bytes() == before
    generate(small_plan(seed=9, samples=20), copy, force=True, progress=False)
    assert storage.read_header(copy).seed == 9


def test_energy_matches_exact_at_high_temperature(tmp_path):
    # decorrelated samples at T = 3 on L = 8: the mean energy agrees with Kaufman's
    # torus within 4 standard errors (samples are independent after 2-tau thinning)
    path = tmp_path / "t3.h5"
    generate(GenerationPlan(L=8, temperatures=(3.0,), samples=2000, chains=64, seed=1,
                            algorithm="metropolis"), path, progress=False)
    d, _ = read_all(path)
    e = d["energy"]
    # error bar from chain means: robust to any residual correlation inside a chain
    chain_means = np.array([e[d["chain"] == c].mean() for c in np.unique(d["chain"])])
    err = chain_means.std(ddof=1) / np.sqrt(len(chain_means))
    assert abs(e.mean() - exact.finite_lattice(8, 3.0).energy) < 4 * err


KILL_SCRIPT = textwrap.dedent("""
    import sys
    from isingvae.generation import GenerationPlan, generate
    plan = GenerationPlan(L=16, temperatures=(2.0, 2.6), samples=600, chains=70, seed=5,
                          algorithm="metropolis")
    generate(plan, sys.argv[1], progress=False, segment_spins=int(sys.argv[2]),
             assemble_every=0.0)
""")


def _resume_plan():
    return GenerationPlan(L=16, temperatures=(2.0, 2.6), samples=600, chains=70, seed=5,
                          algorithm="metropolis")


@pytest.fixture(scope="module")
def reference_resume_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ref.h5"
    generate(_resume_plan(), path, progress=False)
    return path


@pytest.mark.parametrize("kill_after_shards", [0, 1, 5])
def test_sigkill_then_resume_is_bit_identical(tmp_path, reference_resume_file,
                                              kill_after_shards):
    out = tmp_path / "killed.h5"
    parts = tmp_path / "killed.h5.parts"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out), str(16 * 16 * 64)])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        shards = list(parts.glob("task-*.npz")) if parts.exists() else []
        if out.exists() and len(shards) >= kill_after_shards:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # what was left is readable and says it is incomplete
    header = storage.read_header(out)
    assert not header.attrs["complete"]
    # resume through the command line, with the default (larger) segments
    rc = cli.main(["generate", "--L", "16", "--temperatures", "2.0,2.6", "--samples", "600",
                   "--chains", "70", "--seed", "5", "--algorithm", "metropolis",
                   "--out", str(out), "--quiet"])
    assert rc == 0
    a, attrs_a = read_all(reference_resume_file)
    b, attrs_b = read_all(out)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    for key in ("tau_int_energy", "thinning_sweeps", "burn_in_sweeps"):
        np.testing.assert_array_equal(attrs_a[key], attrs_b[key])


def test_dask_local_cluster_equals_local_run(tmp_path, reference_resume_file):
    pytest.importorskip("distributed")
    out = tmp_path / "dask.h5"
    with open_executor("local:2") as executor:
        generate(_resume_plan(), out, executor=executor, progress=False)
    a, _ = read_all(reference_resume_file)
    b, _ = read_all(out)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_thread_pool_equals_local_run(tmp_path, reference_resume_file):
    # any concurrent.futures executor can be passed in; the bits do not change
    out = tmp_path / "threads.h5"
    with ThreadPoolExecutor(max_workers=2) as executor:
        generate(_resume_plan(), out, executor=executor, progress=False)
    a, attrs_a = read_all(reference_resume_file)
    b, attrs_b = read_all(out)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    for key in ("tau_int_energy", "thinning_sweeps", "burn_in_sweeps", "pilot_sweeps"):
        np.testing.assert_array_equal(attrs_a[key], attrs_b[key])


class _Inline:
    """The least an executor must be: submit(fn, *args) -> future with result()."""

    def __init__(self):
        self.calls = []

    def submit(self, fn, *args):
        self.calls.append((fn.__name__, args))
        future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # handed to the caller, as executors do
            future.set_exception(exc)
        return future


def test_executor_gets_plain_arguments_pilots_first(tmp_path, small_file):
    executor = _Inline()
    out = tmp_path / "inline.h5"
    generate(small_plan(), out, executor=executor, progress=False)
    # every pilot, then each temperature's tasks with its pilot's result as a plain dict
    # (each job wrapped in the driver's timer)
    assert {name for name, _ in executor.calls} == {"_timed"}
    names = [args[0].__name__ for _, args in executor.calls]
    assert names == ["pilot_task"] * len(TEMPS) + ["run_task"] * len(TEMPS)
    for _, args in executor.calls:
        assert not any(isinstance(a, Future) for a in args)
        if args[0].__name__ == "run_task":
            assert isinstance(args[4], dict) and args[4]["thin"] >= 1
    a, _ = read_all(small_file)
    b, _ = read_all(out)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_failing_task_cancels_the_rest_and_the_run_resumes(tmp_path, small_file):
    out = tmp_path / "fail.h5"
    submitted = []

    class Failing(_Inline):
        def submit(self, fn, *args):
            if args[0].__name__ != "run_task":
                return super().submit(fn, *args)
            future = Future()  # pending, as on a busy cluster
            if not submitted:
                future.set_exception(RuntimeError("worker lost"))
            submitted.append(future)
            return future

    with pytest.raises(RuntimeError, match="worker lost"):
        generate(small_plan(), out, executor=Failing(), progress=False)
    assert len(submitted) == len(TEMPS) and all(f.cancelled() for f in submitted[1:])
    header = storage.read_header(out)  # what is left is readable and says so
    assert header.n == 0 and not header.attrs["complete"]
    generate(small_plan(), out, progress=False)  # same plan: resumes (pilots cached)
    a, _ = read_all(small_file)
    b, _ = read_all(out)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_parse_temperatures_errors():
    with pytest.raises(InputError, match="'abc'"):
        parse_temperatures("1.5,abc")
    with pytest.raises(InputError, match="not both"):
        parse_temperatures("1.5", 1.0, 2.0, 3)
    with pytest.raises(InputError, match="all of"):
        parse_temperatures(t_min=1.0, t_max=2.0)
    with pytest.raises(InputError, match="no temperatures"):
        parse_temperatures()


# --- the command line: bad input gives one line, exit 2, and damages nothing -------


def _run(argv, capsys):
    rc = cli.main(argv)
    err = capsys.readouterr().err
    return rc, err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--temperatures", "0,1.5"], "0.0"),
        (["--temperatures", "-2"], "-2.0"),
        (["--temperatures", "nan"], "nan"),
        (["--temperatures", "inf"], "inf"),
        (["--temperatures", "1.5,,2"], "''"),
        (["--temperatures", "1.5;2"], "1.5;2"),
        (["--temperatures", "2,2"], "given twice"),
        (["--temperatures", "2", "--L", "15"], "15"),
        (["--temperatures", "2", "--L", "2"], "got 2"),
        (["--temperatures", "2", "--samples", "0"], "got 0"),
        (["--temperatures", "2", "--samples", "-5"], "-5"),
        (["--temperatures", "2", "--chains", "0"], "got 0"),
        (["--t-min", "1", "--t-max", "2"], "all of"),
        (["--t-min", "2", "--t-max", "1", "--t-count", "3"], "--t-max"),
        (["--temperatures", "2", "--algorithm", "wolff", "--h", "0.1"], "h = 0.1"),
        (["--temperatures", "2", "--scheduler", "local:0"], "local:0"),
        (["--temperatures", "2", "--threads", "0"], "--threads"),
        (["--temperatures", "2", "--threads", "-3"], "-3"),
    ],
)
def test_cli_bad_input(args, needle, tmp_path, capsys):
    out = tmp_path / "x.h5"
    rc, err = _run(["generate", "--out", str(out), "--quiet", *args], capsys)
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert needle in err
    assert list(tmp_path.iterdir()) == []


def test_cli_unwritable_path(tmp_path, capsys):
    rc, err = _run(["generate", "--temperatures", "2", "--out",
                    str(tmp_path / "no" / "x.h5")], capsys)
    assert rc == 2 and "does not exist" in err and err.count("\n") == 1


@pytest.mark.parametrize("kind", ["foreign", "truncated", "text"])
def test_cli_refuses_to_overwrite_unknown_files(kind, tmp_path, small_file, capsys):
    out = tmp_path / "x.h5"
    if kind == "foreign":
        with h5py.File(out, "w") as f:
            f["data"] = np.arange(4)
    elif kind == "truncated":
        out.write_bytes(small_file.read_bytes()[:3000])
    else:
        out.write_text("my notes\n")
    before = out.read_bytes()
    rc, err = _run(["generate", "--temperatures", "2", "--L", "8", "--samples", "4",
                    "--out", str(out), "--quiet"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "--force" in err and str(out) in err
    assert out.read_bytes() == before


def test_cli_complete_file_reports_and_exits_0(small_file, capsys):
    rc = cli.main(["generate", "--L", "8", "--temperatures", "1.5,2.269,3.0", "--samples", "40",
                   "--chains", "10", "--seed", "3", "--algorithm", "metropolis",
                   "--out", str(small_file), "--quiet"])
    assert rc == 0
    assert "already complete" in capsys.readouterr().out


def test_cli_end_to_end_subprocess(tmp_path):
    out = tmp_path / "cli.h5"
    res = subprocess.run([sys.executable, "-m", "isingvae", "generate", "--L", "8",
                          "--t-min", "2.0", "--t-max", "2.5", "--t-count", "2", "--samples",
                          "8", "--seed", "1", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout
    assert storage.read_header(out).n == 16


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("algorithm", ["metropolis", "wolff"])
def test_task_resumes_from_saved_sampler_state(tmp_path, algorithm):
    # a task interrupted after two shards and run again writes exactly the rows of an
    # uninterrupted run: the sampler's full state (spins and RNG) travels in the shards
    from isingvae.generation import tasks as g

    plan = GenerationPlan(L=8, temperatures=(2.3,), samples=12, chains=3, seed=2,
                          algorithm=algorithm)
    info = {"algorithm": algorithm, "burn_in": 5, "thin": 2, "work": 1.0, "chains": 3,
            "block": 64}
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    whole.mkdir()
    cut.mkdir()
    g.run_task(plan, 0, 0, info, whole, segment_spins=3 * 64)
    calls = []

    def stop_after_two(_rows):
        calls.append(1)
        if len(calls) == 2:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        g.run_task(plan, 0, 0, info, cut, on_segment=stop_after_two, segment_spins=3 * 64)
    assert len(list(cut.glob("task-*.npz"))) == 2
    g.run_task(plan, 0, 0, info, cut, segment_spins=5 * 64)  # other segment length
    rows_a = list(g.task_rows(plan, 0, 0, info, whole))
    rows_b = list(g.task_rows(plan, 0, 0, info, cut))
    for key in ("spins", "energy", "magnetization", "sweep", "chain"):
        np.testing.assert_array_equal(np.concatenate([r[key] for r in rows_a]),
                                      np.concatenate([r[key] for r in rows_b]), err_msg=key)
    assert sum(len(r["spins"]) for r in rows_a) == 12


EXAMPLE = Path(__file__).resolve().parent.parent / "data" / "ising_L16.h5"
EXAMPLE_COMMAND = ["generate", "--L", "16", "--t-min", "1.5", "--t-max", "3.5", "--t-count",
                   "9", "--samples", "512", "--seed", "2026"]


def test_example_data_is_what_its_command_makes(tmp_path):
    # the command recorded in data/README.md reproduces the shipped file bit for bit
    assert " ".join(EXAMPLE_COMMAND) in (EXAMPLE.parent / "README.md").read_text()
    out = tmp_path / "again.h5"
    assert cli.main([*EXAMPLE_COMMAND, "--out", str(out), "--quiet"]) == 0
    a, _ = read_all(EXAMPLE)
    b, _ = read_all(out)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_example_data_energies_match_kaufman():
    d, attrs = read_all(EXAMPLE)
    for T in attrs["temperatures"]:
        rows = d["temperature"] == T
        e, chain = d["energy"][rows], d["chain"][rows]
        means = np.array([e[chain == c].mean() for c in np.unique(chain)])
        err = means.std(ddof=1) / np.sqrt(len(means))
        exact_e = exact.finite_lattice(16, T).energy
        assert abs(e.mean() - exact_e) < 4 * err, (T, e.mean(), exact_e, err)
