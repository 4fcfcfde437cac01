"""Generation of Monte Carlo datasets: plan, pilot runs, tasks, shards, assembly, resume.

How a dataset is made (``isingvae generate`` drives :func:`generate`):

1. **Plan.**  A :class:`GenerationPlan` fixes everything that determines the bits:
   lattice, temperatures, samples and chains per temperature, seed, algorithm.
2. **Pilot, per temperature.**  64 chains run from the start state and the
   integrated autocorrelation times of the energy and of :math:`|m|` are measured
   (Sokal windowing, averaged over chains) on the second half of a run that is
   lengthened until it spans at least :data:`PILOT_MIN_TAUS` autocorrelation times.
   Burn-in is ``BURN_IN_TAUS * tau`` sweeps and thinning ``ceil(THIN_TAUS * tau)``
   sweeps, with ``tau`` the larger of the two times; both are stored in the file.
   With ``algorithm="auto"`` the pilot measures Metropolis and Wolff and keeps the one
   with more independent samples per unit of cost, costs being fixed per-spin constants
   (measured once, see :data:`COST_NS_PER_SPIN`) so the choice, and the bits, never
   depend on the load of the machine.
3. **Tasks.**  Each ``(temperature, block of up to 64 chains)`` is a task with its
   own seed.  A task runs in segments; after each segment its configurations and the
   sampler's full state go to a shard file written atomically, so a killed run
   resumes from the last shard with exactly the random numbers it would have used.
4. **Assembly.**  Shards are gathered, in a fixed order, into the output file, written
   to a temporary name and renamed over the target; done from time to time while the
   run goes on (so the output is readable with the rows finished so far, attribute
   ``complete = False``) and once at the end, after which the shards are removed.

Tasks are independent, so they can run anywhere: in this process, or on Dask
workers (``scheduler=``), which write their shards into the same directory.  The
file is bit-identical either way.

Starting states: below :math:`T_c` chains start ordered, each with a random sign (a
disordered start below :math:`T_c` can freeze into long-lived stripes on the torus);
at and above :math:`T_c` they start from independent random spins.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from isingvae import exact, storage
from isingvae.errors import InputError

#: chains per task (one machine word of the multi-spin-coded kernel)
BLOCK = 64
#: burn-in and thinning in units of the larger integrated autocorrelation time
BURN_IN_TAUS = 20.0
THIN_TAUS = 2.0
#: the pilot's measuring window must span this many autocorrelation times
PILOT_MIN_TAUS = 50.0
PILOT_MIN_SWEEPS = 256
PILOT_MAX_SWEEPS = 1 << 17
PILOT_POINTS = 1024
#: configurations per shard are bounded by this many spins (about 16 MB of int8)
SEGMENT_SPINS = 16 * 2**20
#: cost per spin and per sweep of each algorithm, in ns, used only to choose between
#: them for ``algorithm="auto"``, for one task's worth of chains (64) at L = 32 near Tc
#: on the reference 2-core machine.  Wolff 8.3 ns (benchmarks/mc_throughput.py).
#: Metropolis (vectorised kernel): 0.087 ns, best of 20 timings in thread CPU time of
#: 61-sweep calls (serial at this size); benchmarks/mc_throughput.py on the idle machine
#: gives 0.096 ns (6.3 us per sweep), and about 0.05 ns on 2 threads at L >= 64.
COST_NS_PER_SPIN = {"metropolis": 0.09, "wolff": 8.3}
#: bumped whenever a change here or in the samplers changes the bits of a generated file
GENERATOR_VERSION = 2

__all__ = ["GenerationPlan", "GenerationResult", "generate", "parse_temperatures"]


# --------------------------------------------------------------------------------------
# the plan


@dataclass(frozen=True)
class GenerationPlan:
    """Everything that determines the bits of a generated file.

    Raises :class:`InputError` for values out of range (odd or small L, non-positive
    or non-finite temperatures, duplicate temperatures, counts below 1, bad seed).
    """

    L: int
    temperatures: tuple[float, ...]
    samples: int
    chains: int
    seed: int
    algorithm: str = "auto"
    J: float = 1.0
    h: float = 0.0

    def __post_init__(self):
        from isingvae import _validate as check

        object.__setattr__(self, "L", check.lattice_size(self.L))
        temps = tuple(float(t) for t in check.temperatures(self.temperatures))
        if len(set(temps)) != len(temps):
            dup = next(t for t in temps if temps.count(t) > 1)
            raise InputError(f"temperature {dup!r} is given twice")
        object.__setattr__(self, "temperatures", temps)
        for name in ("samples", "chains"):
            object.__setattr__(self, name, check.count(name, getattr(self, name)))
        if self.chains > self.samples:
            raise InputError(f"chains ({self.chains}) exceeds samples per temperature "
                             f"({self.samples}): every chain must give at least one sample")
        object.__setattr__(self, "seed", check.seed(self.seed))
        check.choice("algorithm", self.algorithm, ("metropolis", "wolff", "auto"))
        object.__setattr__(self, "J", check.real("J", self.J, positive=True))
        object.__setattr__(self, "h", check.real("h", self.h))
        if self.algorithm == "wolff" and self.h != 0:
            raise InputError(f"the Wolff algorithm needs h = 0, got h = {self.h!r}; "
                             "use --algorithm metropolis")

    # derived quantities -------------------------------------------------------------

    @property
    def blocks(self) -> int:
        """Tasks (blocks of up to 64 chains) per temperature."""
        return -(-self.chains // BLOCK)

    def block_chains(self, block: int) -> range:
        """Chain indices (within a temperature) of a block."""
        return range(block * BLOCK, min(self.chains, (block + 1) * BLOCK))

    def block_samples(self, block: int) -> np.ndarray:
        """Samples each chain of a block contributes, in chain order."""
        chains = self.block_chains(block)
        return self.samples_of_chain(np.arange(chains.start, chains.stop))

    def samples_of_chain(self, c: np.ndarray | int):
        """Samples chain ``c`` contributes: the first ``samples % chains`` give one more."""
        q, r = divmod(self.samples, self.chains)
        return q + (np.asarray(c) < r)

    def chain_id(self, t: int, c) -> np.ndarray:
        """File-wide chain id of chain ``c`` at temperature index ``t``."""
        return t * self.chains + np.asarray(c, dtype=np.int64)

    def seed_for(self, *key: int) -> int:
        """A 63-bit seed for a sub-stream, derived from the plan's seed and ``key``."""
        ss = np.random.SeedSequence(self.seed, spawn_key=(GENERATOR_VERSION, *key))
        return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))

    def fingerprint(self) -> str:
        """Canonical JSON of the plan: equal fingerprints, equal bits."""
        d = asdict(self)
        d["temperatures"] = [repr(t) for t in self.temperatures]
        d["generator_version"] = GENERATOR_VERSION
        return json.dumps(d, sort_keys=True)

    def tasks(self) -> list[tuple[int, int]]:
        return [(t, b) for t in range(len(self.temperatures)) for b in range(self.blocks)]


def parse_temperatures(text: str | None = None, t_min=None, t_max=None, t_count=None):
    """Temperatures from a comma-separated list or from a uniform grid.

    >>> parse_temperatures("1.5,2.269, 3")
    (1.5, 2.269, 3.0)
    >>> parse_temperatures(t_min=2.0, t_max=2.5, t_count=3)
    (2.0, 2.25, 2.5)
    """
    grid = (t_min, t_max, t_count)
    if text is not None and any(g is not None for g in grid):
        raise InputError("give either --temperatures or --t-min/--t-max/--t-count, not both")
    if text is not None:
        out = []
        for item in text.split(","):
            item = item.strip()
            try:
                out.append(float(item))
            except ValueError:
                raise InputError(f"cannot read temperature {item!r} in --temperatures "
                                 f"{text!r} (expected numbers separated by commas)") from None
        return tuple(out)
    if all(g is None for g in grid):
        raise InputError("no temperatures: give --temperatures T1,T2,... or "
                         "--t-min, --t-max and --t-count")
    if any(g is None for g in grid):
        raise InputError("a temperature grid needs all of --t-min, --t-max and --t-count")
    if t_count < 1:
        raise InputError(f"--t-count must be a positive integer, got {t_count}")
    if t_count > 1 and not t_max > t_min:
        raise InputError(f"--t-max ({t_max}) must exceed --t-min ({t_min})")
    return tuple(float(t) for t in np.linspace(t_min, t_max, t_count))


# --------------------------------------------------------------------------------------
# samplers and the pilot


def _make_sampler(plan: GenerationPlan, algorithm: str, T: float, chains: int, seed: int):
    from isingvae import mc

    cls = {"metropolis": mc.Metropolis, "wolff": mc.Wolff}[algorithm]
    sim = cls(L=plan.L, temperatures=[T], chains=chains, seed=seed, J=plan.J, h=plan.h)
    if T < exact.critical_temperature(plan.J):
        # ordered start with an independent random sign per chain
        signs = np.where(np.random.default_rng(seed).random(chains) < 0.5, -1, 1)
        sim.set_spins(np.broadcast_to(signs.astype(np.int8)[None, :, None, None],
                                      (1, chains, plan.L, plan.L)))
    return sim


def _measure_tau(plan: GenerationPlan, algorithm: str, t: int) -> dict:
    """Integrated autocorrelation times (in sweeps) of E and |m| from a pilot run.

    Observables are recorded every ``stride`` sweeps, with at most PILOT_POINTS
    points per chain, and the times are measured in strides; a time shorter than
    the stride comes out as about half a stride, an overestimate that only makes
    the thinning safer.
    """
    from isingvae.mc.autocorr import integrated_time

    T = plan.temperatures[t]
    n = PILOT_MIN_SWEEPS
    tag = {"metropolis": 0, "wolff": 1}[algorithm]
    while True:
        stride = max(1, n // PILOT_POINTS)
        points = n // stride
        sim = _make_sampler(plan, algorithm, T, BLOCK, plan.seed_for(1, t, tag, n))
        e = np.empty((points, BLOCK))
        m = np.empty((points, BLOCK))
        for k in range(points):
            sim.sweep(stride)
            ek, mk = sim.observables()
            e[k], m[k] = ek[0], np.abs(mk[0])
        half = points // 2
        tau_e = stride * integrated_time(e[half:])
        tau_m = stride * integrated_time(m[half:])
        tau = max(tau_e, tau_m, 0.5)
        measured = half * stride
        if measured >= PILOT_MIN_TAUS * tau or n >= PILOT_MAX_SWEEPS:
            return {"algorithm": algorithm, "tau_energy": tau_e, "tau_abs_m": tau_m,
                    "pilot_sweeps": n, "converged": bool(measured >= PILOT_MIN_TAUS * tau)}
        n *= 2


def _cost(run: dict) -> float:
    """ns per spin to obtain one independent sample (2 tau sweeps at a fixed cost)."""
    tau = max(run["tau_energy"], run["tau_abs_m"], 0.5)
    return 2 * tau * COST_NS_PER_SPIN[run["algorithm"]]


def pilot(plan: GenerationPlan, t: int) -> dict:
    """Measure autocorrelation times at temperature index ``t``; choose burn-in, thinning.

    Deterministic for a plan: the sampler seeds derive from the plan's seed, and the
    choice between algorithms uses fixed costs, not timings.  For ``auto`` the Wolff
    pilot is skipped where Metropolis already costs less than Wolff could at best
    (a Wolff time of half a sweep).
    """
    if plan.algorithm != "auto":
        runs = [_measure_tau(plan, plan.algorithm, t)]
    else:
        runs = [_measure_tau(plan, "metropolis", t)]
        wolff_floor = _cost({"algorithm": "wolff", "tau_energy": 0.5, "tau_abs_m": 0.5})
        if plan.h == 0 and _cost(runs[0]) > wolff_floor:
            runs.append(_measure_tau(plan, "wolff", t))
    best = min(runs, key=_cost)
    tau = max(best["tau_energy"], best["tau_abs_m"], 0.5)
    return {
        **best,
        "burn_in": math.ceil(BURN_IN_TAUS * tau),
        "thin": max(1, math.ceil(THIN_TAUS * tau)),
        "candidates": {r["algorithm"]: _cost(r) for r in runs},
    }


# --------------------------------------------------------------------------------------
# shards


def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _atomic_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, sort_keys=True, indent=1))
    os.replace(tmp, path)


def _shard_name(t: int, b: int, k: int) -> str:
    return f"task-t{t:04d}-b{b:04d}-s{k:06d}.npz"


def _write_shard(path: Path, arrays: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _segment_length(plan: GenerationPlan, n_chains: int, segment_spins: int) -> int:
    """Sampling steps per shard, so that a shard holds at most ``segment_spins`` spins."""
    return max(1, segment_spins // (n_chains * plan.L * plan.L))


def _load_shards(parts: Path, t: int, b: int) -> list[Path]:
    found = sorted(parts.glob(f"task-t{t:04d}-b{b:04d}-s*.npz"))
    # shards are written atomically, so a gap can only come from a removed file:
    # keep the unbroken prefix
    keep = []
    for k, p in enumerate(found):
        if p.name != _shard_name(t, b, k):
            break
        keep.append(p)
    return keep


def run_task(plan: GenerationPlan, t: int, b: int, info: dict, parts: str | os.PathLike,
             on_segment: Callable[[int], None] | None = None,
             segment_spins: int = SEGMENT_SPINS) -> int:
    """Run task ``(t, b)`` to completion, resuming after its last shard; returns rows written.

    Pure in its inputs: the same plan, task and pilot give the same rows, wherever and
    however often this is interrupted and called again, whatever ``segment_spins``
    (shards only cut the chain's run into pieces; the sampler state carries across).
    """
    parts = Path(parts)
    per_chain = plan.block_samples(b)
    n_chains = len(per_chain)
    total_sweeps = int(per_chain.max())  # sampling steps of the block
    seg = _segment_length(plan, n_chains, segment_spins)
    done = _load_shards(parts, t, b)
    sim = _make_sampler(plan, info["algorithm"], plan.temperatures[t], n_chains,
                        plan.seed_for(2, t, b))
    start = 0
    if done:
        with np.load(done[-1]) as last:
            sim.set_state({k[6:]: last[k] for k in last.files if k.startswith("state_")})
            start = int(last["next_step"])
    else:
        sim.sweep(info["burn_in"])
    rows = 0
    k = len(done)
    while start < total_sweeps:
        stop = min(total_sweeps, start + seg)
        spins, energy, magnetization, sweep_idx = [], [], [], []
        for _ in range(start, stop):
            sim.sweep(info["thin"])
            spins.append(sim.spins[0])
            energy.append(sim.energy[0])
            magnetization.append(sim.magnetization[0])
            sweep_idx.append(sim.sweeps_done)
        state = {f"state_{key}": v for key, v in sim.get_state().items()}
        _write_shard(parts / _shard_name(t, b, k), {
            "spins": np.stack(spins), "energy": np.stack(energy),
            "magnetization": np.stack(magnetization), "sweep": np.asarray(sweep_idx),
            "first_step": np.int64(start), "next_step": np.int64(stop), **state,
        })
        new_rows = int(np.sum(np.clip(per_chain - start, 0, stop - start)))
        rows += new_rows
        if on_segment is not None:
            on_segment(new_rows)
        start, k = stop, k + 1
    return rows


def _task_rows(plan: GenerationPlan, t: int, b: int, parts: Path):
    """Rows of task (t, b) from its shards, in canonical order (step, then chain)."""
    chains = np.arange(plan.block_chains(b).start, plan.block_chains(b).stop)
    per_chain = plan.block_samples(b)
    for p in _load_shards(parts, t, b):
        with np.load(p) as s:
            steps = np.arange(int(s["first_step"]), int(s["next_step"]))
            keep = steps[:, None] < per_chain[None, :]  # (steps, chains)
            step_idx, chain_idx = np.nonzero(keep)
            yield {
                "spins": s["spins"][step_idx, chain_idx],
                "energy": s["energy"][step_idx, chain_idx],
                "magnetization": s["magnetization"][step_idx, chain_idx],
                "sweep": s["sweep"][step_idx],
                "chain": plan.chain_id(t, chains[chain_idx]),
                "temperature": np.full(len(step_idx), plan.temperatures[t]),
            }


# --------------------------------------------------------------------------------------
# assembly


def _assemble(plan: GenerationPlan, out: Path, parts: Path, pilots: dict, complete: bool):
    cols: dict[str, list] = {k: [] for k in
                             ("spins", "energy", "magnetization", "sweep", "chain", "temperature")}
    for t, b in plan.tasks():
        for rows in _task_rows(plan, t, b, parts):
            for key, v in rows.items():
                cols[key].append(v)
    L = plan.L
    arrays = {k: (np.concatenate(v) if v else np.empty((0, L, L) if k == "spins" else (0,)))
              for k, v in cols.items()}
    nT = len(plan.temperatures)
    info = [pilots.get(t) for t in range(nT)]

    def per_t(key, default=np.nan):
        return [float(i[key]) if i else default for i in info]

    attrs = {
        "complete": bool(complete),
        "generation": plan.fingerprint(),
        "temperatures": list(plan.temperatures),
        "samples_per_temperature": plan.samples,
        "chains_per_temperature": plan.chains,
        "algorithm_per_temperature": [i["algorithm"] if i else "" for i in info],
        "tau_int_energy": per_t("tau_energy"),
        "tau_int_abs_magnetization": per_t("tau_abs_m"),
        "burn_in_sweeps": per_t("burn_in"),
        "thinning_sweeps": per_t("thin"),
        "pilot_sweeps": per_t("pilot_sweeps"),
        "units": "energy and magnetization per spin; tau, burn-in and thinning in sweeps",
    }
    storage.write_ising_file(
        out, L=L, J=plan.J, h=plan.h, seed=plan.seed, algorithm=plan.algorithm,
        spins=arrays["spins"].astype(np.int8), temperature=arrays["temperature"],
        energy=arrays["energy"], magnetization=arrays["magnetization"],
        chain=arrays["chain"].astype(np.int64), attrs=attrs,
        extra={"sweep": arrays["sweep"].astype(np.int64)},
    )


# --------------------------------------------------------------------------------------
# the driver


@dataclass
class GenerationResult:
    path: Path
    rows: int
    already_complete: bool
    pilots: dict
    seconds: float
    seconds_monte_carlo: float


def _check_existing(plan: GenerationPlan, out: Path, parts: Path, force: bool) -> bool:
    """True when ``out`` is already the complete result of this plan."""
    fp = plan.fingerprint()
    if out.exists():
        try:
            header = storage.read_header(out)
        except InputError as exc:
            if not force:
                raise InputError(f"{out} exists and is not a readable isingvae file ({exc}); "
                                 "use --force to overwrite it") from None
            header = None
        if header is not None:
            same = header.attrs.get("generation") == fp
            if same and header.attrs.get("complete"):
                return True
            if not same and not force:
                raise InputError(f"{out} was made with other settings "
                                 f"({_difference(header.attrs.get('generation'), fp)}); "
                                 "use --force to overwrite it, or choose another --out")
    plan_file = parts / "plan.json"
    if parts.exists():
        try:
            old = json.loads(plan_file.read_text())["fingerprint"]
        except (OSError, ValueError, KeyError):
            old = None
        if old != fp:
            if not force and old is not None:
                raise InputError(f"{parts} holds an unfinished run with other settings "
                                 f"({_difference(old, fp)}); use --force to discard it")
            shutil.rmtree(parts)
    return False


def _difference(old: str | None, new: str) -> str:
    try:
        a, b = json.loads(old), json.loads(new)
    except (TypeError, ValueError):
        return "unknown settings"
    diffs = [f"{k}: {a.get(k)!r} -> {b[k]!r}" for k in b if a.get(k) != b[k]]
    return "; ".join(diffs[:3]) or "same settings"


def _check_scheduler(scheduler: str | None) -> int | str | None:
    """Validate ``--scheduler`` before anything is written: worker count or address."""
    if scheduler is None:
        return None
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise InputError("--scheduler needs Dask's 'distributed' package: "
                         "pip install 'isingvae[distributed]'") from None
    if scheduler.startswith("local:"):
        try:
            n = int(scheduler.split(":", 1)[1])
        except ValueError:
            n = 0
        if n < 1:
            raise InputError(f"--scheduler local:N needs a positive worker count, got "
                             f"{scheduler!r}")
        return n
    return scheduler


def _executor(target: int | str | None):
    if target is None:
        return None, None
    from distributed import Client, LocalCluster

    if isinstance(target, int):
        cluster = LocalCluster(n_workers=target, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(target, timeout="20s"), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {target!r}: "
                         f"{str(exc).splitlines()[0]}") from None


def _pilot_task(plan: GenerationPlan, t: int, parts: str) -> dict:
    path = Path(parts) / f"pilot-t{t:04d}.json"
    if path.exists():
        return json.loads(path.read_text())
    info = pilot(plan, t)
    _atomic_json(path, info)
    return info


def _dask_task(plan, t, b, info, parts, segment_spins):
    return run_task(plan, t, b, info, parts, segment_spins=segment_spins)


def generate(
    plan: GenerationPlan,
    out: str | os.PathLike,
    *,
    force: bool = False,
    scheduler: str | None = None,
    progress: bool | None = None,
    assemble_every: float = 30.0,
    segment_spins: int = SEGMENT_SPINS,
) -> GenerationResult:
    """Make (or complete) the file ``out`` for ``plan``.

    Re-running with the same plan on an interrupted file resumes it; on a complete
    file it returns at once (``already_complete``).  Another plan onto an existing
    file raises :class:`InputError` unless ``force``.  ``scheduler`` is a Dask
    scheduler address or ``"local:N"`` for a local cluster of N worker processes.
    The partial output is reassembled at most every ``assemble_every`` seconds;
    ``segment_spins`` bounds the size of a shard (neither changes the result).
    """
    from isingvae.progress import Progress

    t0 = time.perf_counter()
    out = Path(out)
    parts = _parts_dir(out)
    target = _check_scheduler(scheduler)
    storage.atomic_path(out)[1].unlink()  # fails early, clearly, on an unwritable place
    if _check_existing(plan, out, parts, force):
        header = storage.read_header(out)
        return GenerationResult(out, header.n, True, {}, time.perf_counter() - t0, 0.0)
    parts.mkdir(exist_ok=True)
    _atomic_json(parts / "plan.json", {"fingerprint": plan.fingerprint()})
    nT = len(plan.temperatures)
    pilots: dict[int, dict] = {}
    total = plan.samples * nT
    mc_seconds = 0.0
    with Progress(total=total, desc=f"generate L={plan.L}", unit="configs",
                  enabled=progress is not False) as bar:
        bar.update(sum(_count_rows(plan, t, b, parts) for t, b in plan.tasks()))
        if not out.exists():
            _assemble(plan, out, parts, pilots, complete=False)
        last_assembly = time.perf_counter()
        client, cluster = _executor(target)
        try:
            if client is None:
                for t in range(nT):
                    s = time.perf_counter()
                    pilots[t] = _pilot_task(plan, t, str(parts))
                    for b in range(plan.blocks):
                        run_task(plan, t, b, pilots[t], parts, on_segment=bar.update,
                                 segment_spins=segment_spins)
                    mc_seconds += time.perf_counter() - s
                    if time.perf_counter() - last_assembly > assemble_every and t < nT - 1:
                        _assemble(plan, out, parts, pilots, complete=False)
                        last_assembly = time.perf_counter()
            else:
                from distributed import as_completed

                s = time.perf_counter()
                pilot_futures = [client.submit(_pilot_task, plan, t, str(parts), pure=False)
                                 for t in range(nT)]
                futures = {}
                for t, pf in enumerate(pilot_futures):
                    for b in range(plan.blocks):
                        f = client.submit(_dask_task, plan, t, b, pf, str(parts), segment_spins,
                                          pure=False)
                        futures[f] = (t, b)
                for f in as_completed(list(futures)):
                    bar.update(f.result())
                for t, pf in enumerate(pilot_futures):
                    pilots[t] = pf.result()
                mc_seconds += time.perf_counter() - s
        finally:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
    _assemble(plan, out, parts, pilots, complete=True)
    shutil.rmtree(parts, ignore_errors=True)
    return GenerationResult(out, total, False, pilots, time.perf_counter() - t0, mc_seconds)


def _count_rows(plan: GenerationPlan, t: int, b: int, parts: Path) -> int:
    per_chain = plan.block_samples(b)
    done = _load_shards(parts, t, b)
    if not done:
        return 0
    with np.load(done[-1]) as last:
        steps = int(last["next_step"])
    return int(np.sum(np.minimum(per_chain, steps)))
