r"""The work of a generation: pilots and tasks, pure functions of the plan that write shards.

**Starting states.**  Below :math:`T_c` chains start ordered, each with a random sign (a
disordered start below :math:`T_c` can freeze into long-lived stripes on the torus); at
and above :math:`T_c` they start from independent random spins
(:func:`make_task_sampler`).

**Pilot, per temperature** (:func:`pilot`).  64 chains from the start state, seeded
``plan.seed_for(1, t, algorithm)``, measure the integrated
autocorrelation times of the energy and of :math:`|m|` by the package's one rule,
:func:`isingvae.mc.equilibration.measure_tau` (window of at least 50 :math:`\tau`,
Sokal), which also gives the burn-in :math:`\lceil 20\tau \rceil` and the thinning
:math:`\max(1, \lceil 2\tau \rceil)`.  With ``algorithm="auto"`` the choice between
Metropolis and Wolff is :func:`isingvae.mc.choice.choose`, by fixed costs per spin, so
that neither the choice nor the bits depend on the load of the machine.  From the
result follow the temperature's chains and blocks
(:func:`isingvae.generation.plan.balance`).  It is cached as ``pilot-tTTTT.json`` in the
run's parts directory.

**Task** ``(t, b)`` (:func:`run_task`).  The chains of block ``b`` at temperature index
``t`` (:func:`layout`), seeded ``plan.seed_for(2, t, b)``, run through the chain driver
(:func:`isingvae.mc.chains.run_chains`): burn-in, then one record of every chain every
``thin`` sweeps, chain ``c`` of the temperature's ``C_t`` contributing
``plan.samples_of_chain(c, C_t)`` records.  The run
is cut into segments; after each, its records and the sampler's full state go to a
shard ``task-tTTTT-bBBBB-sKKKKKK.npz``, written atomically (:mod:`isingvae._atomic`), so
a killed task resumes after its last shard with exactly the random numbers it would
have used.  Pilots and tasks only read the plan and write files, so they can run in
any process that sees the parts directory.

**Damaged resume state.**  Nothing read back from the parts directory is trusted
unchecked: a pilot result must be a JSON object with the fields :func:`pilot` writes
(and the plan's algorithm, and the chains and blocks :func:`~isingvae.generation.plan.balance`
gives for it), a shard must open, every array in it must pass its
checksum and have the shape of its task and steps, and the shards of a task must
follow each other step by step.  What fails is discarded together with everything of
its task after it (a damaged pilot takes its temperature's shards with it) and
recomputed, so a resumed run still ends with the bits of an uninterrupted one
(:func:`check_parts`, :func:`valid_shards`).
"""

from __future__ import annotations

import itertools
import json
import numbers
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from isingvae import exact
from isingvae._atomic import atomic_file, write_json
from isingvae.errors import InputError
from isingvae.generation.cancel import Checker, checked, sweep
from isingvae.generation.plan import BLOCK, GenerationPlan, balance, task_cost_ns
from isingvae.mc.chains import run_chains
from isingvae.mc.choice import choose, sweep_work
from isingvae.mc.equilibration import Pilot, burn_in_sweeps, measure_tau, thinning_sweeps
from isingvae.mc.rules import Metropolis, Wolff

#: configurations per shard are bounded by this many spins (about 16 MB of int8)
SEGMENT_SPINS = 16 * 2**20
#: the block index in a shard's name
_BLOCK_OF = re.compile(r"task-t\d+-b(\d+)-s")
#: third element of a pilot's seed key
_PILOT_TAG = {"metropolis": 0, "wolff": 1}

__all__ = ["SEGMENT_SPINS", "blocks", "check_parts", "count_rows", "estimated_cost", "layout",
           "make_task_sampler", "pilot", "pilot_task", "run_task", "task_rows", "valid_shards"]


def make_task_sampler(plan: GenerationPlan, algorithm: str, T: float, chains: int, seed: int):
    """A sampler of ``chains`` chains at temperature ``T`` in the start state (module
    docstring)."""
    cls = {"metropolis": Metropolis, "wolff": Wolff}[algorithm]
    sim = cls(L=plan.L, temperatures=[T], chains=chains, seed=seed, J=plan.J, h=plan.h)
    if T < exact.critical_temperature(plan.J):
        # ordered start with an independent random sign per chain
        signs = np.where(np.random.default_rng(seed).random(chains) < 0.5, -1, 1)
        sim.set_spins(np.broadcast_to(signs.astype(np.int8)[None, :, None, None],
                                      (1, chains, plan.L, plan.L)))
    return sim


def _measure(plan: GenerationPlan, algorithm: str, t: int) -> tuple[Pilot, np.ndarray]:
    sim = make_task_sampler(plan, algorithm, plan.temperatures[t], BLOCK,
                            plan.seed_for(1, t, _PILOT_TAG[algorithm]))
    return measure_tau(sim, progress=Checker()), sweep_work(sim)


def pilot(plan: GenerationPlan, t: int) -> dict:
    """Measure autocorrelation times at temperature index ``t``; choose burn-in, thinning
    (and, for ``auto``, the algorithm), then the chains and blocks.

    Deterministic for a plan.  Returns a JSON-ready dict: ``algorithm``, ``tau_energy``,
    ``tau_abs_m``, ``pilot_sweeps``, ``converged``, ``burn_in``, ``thin``, ``work`` (spins
    a sweep flips per spin, :func:`isingvae.mc.choice.sweep_work`), ``chains`` and
    ``block`` (:func:`isingvae.generation.plan.balance`) and ``candidates`` (cost per
    independent sample, ns per spin, of each algorithm piloted).
    """
    measured = {}

    def measure(algorithm):
        measured[algorithm] = _measure(plan, algorithm, t)
        return measured[algorithm]

    if plan.algorithm == "auto":
        picks, _, costs = choose(measure, wolff_allowed=plan.h == 0)
        algorithm = picks[0]
    else:
        algorithm = plan.algorithm
        measure(algorithm)
        costs = None
    best, work = measured[algorithm]
    tau = float(best.tau[0])
    burn_in, thin, work = burn_in_sweeps(tau), thinning_sweeps(tau), float(work[0])
    chains, block = balance(plan, algorithm, burn_in, thin, work)
    return {
        "algorithm": algorithm,
        "tau_energy": float(best.tau_energy[0]),
        "tau_abs_m": float(best.tau_abs_magnetization[0]),
        "pilot_sweeps": best.sweeps,
        "converged": best.converged,
        "burn_in": burn_in,
        "thin": thin,
        "work": work,
        "chains": chains,
        "block": block,
        "candidates": {a: c[0] for a, c in costs.items()} if costs else {},
    }


def layout(info: dict) -> tuple[int, int]:
    """``(chains, chains per block)`` of a temperature, from its pilot result."""
    return info["chains"], info["block"]


def blocks(info: dict) -> int:
    """Tasks (blocks of chains) of a temperature, from its pilot result."""
    chains, block = layout(info)
    return -(-chains // block)


def estimated_cost(plan: GenerationPlan, info: dict, b: int) -> float:
    """The fixed-cost estimate (ns) of task ``(t, b)`` of a temperature whose pilot
    result is ``info``: what the scheduler orders tasks by (longest first)."""
    per_chain = plan.block_samples(b, *layout(info))
    return task_cost_ns(plan, info["algorithm"], info["burn_in"], info["thin"],
                        info["work"], int(per_chain.max()), len(per_chain))


def _pilot_path(parts, t: int) -> Path:
    return Path(parts) / f"pilot-t{t:04d}.json"


def _read_pilot(plan: GenerationPlan, t: int, parts) -> dict | None:
    """The cached pilot result of temperature ``t``; ``None`` when there is none.  A
    damaged one is removed with every shard of its temperature (module docstring)."""
    path = _pilot_path(parts, t)
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        info = None
    if _pilot_ok(plan, info):
        return info
    path.unlink(missing_ok=True)
    for shard in Path(parts).glob(f"task-t{t:04d}-b*-s*.npz"):
        shard.unlink(missing_ok=True)
    return None


def _pilot_ok(plan: GenerationPlan, info) -> bool:
    """Whether ``info`` has every field :func:`pilot` writes, with values that can be
    its: the plan's algorithm (or either, for ``auto``), integer burn-in >= 0 and
    thinning >= 1, numbers for the measured times and the work of a sweep, and the
    chains and blocks :func:`~isingvae.generation.plan.balance` gives for them."""
    def integer(key, lo):
        v = info.get(key)
        return isinstance(v, int) and not isinstance(v, bool) and v >= lo

    def number(key):
        v = info.get(key)
        return isinstance(v, numbers.Real) and not isinstance(v, bool)

    ok = (isinstance(info, dict) and info.get("algorithm") in _PILOT_TAG
          and plan.algorithm in ("auto", info["algorithm"])
          and (plan.h == 0 or info["algorithm"] == "metropolis")
          and integer("burn_in", 0) and integer("thin", 1) and integer("pilot_sweeps", 1)
          and number("tau_energy") and number("tau_abs_m") and number("work")
          and info["work"] > 0 and integer("chains", 1) and integer("block", 1))
    # the chains and blocks must be the ones the rule gives for this result
    return ok and (info["chains"], info["block"]) == balance(
        plan, info["algorithm"], info["burn_in"], info["thin"], info["work"])


def pilot_task(plan: GenerationPlan, t: int, parts: str | os.PathLike) -> dict:
    """:func:`pilot`, cached in ``parts/pilot-tTTTT.json`` (read back when present and
    whole; a damaged one is recomputed, module docstring)."""
    path = _pilot_path(parts, t)
    info = _read_pilot(plan, t, parts)
    if info is not None:
        return info
    info = pilot(plan, t)
    write_json(path, info, sort_keys=True, indent=1)
    return info


# --------------------------------------------------------------------------------------
# shards


def _shard_name(t: int, b: int, k: int) -> str:
    return f"task-t{t:04d}-b{b:04d}-s{k:06d}.npz"


def _write_shard(path: Path, arrays: dict) -> None:
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _segment_length(plan: GenerationPlan, n_chains: int, segment_spins: int) -> int:
    """Sampling steps per shard, so that a shard holds at most ``segment_spins`` spins."""
    return max(1, segment_spins // (n_chains * plan.L * plan.L))


#: what every shard holds besides the sampler state (``state_*``)
_SHARD_KEYS = frozenset({"spins", "energy", "magnetization", "sweep", "first_step",
                         "next_step"})


def _shard_steps(path: Path, plan: GenerationPlan, n_chains: int, first: int,
                 steps: int) -> int | None:
    """``next_step`` of a whole shard that starts at step ``first`` of a task of
    ``n_chains`` chains and ``steps`` steps; ``None`` for a damaged or foreign one."""
    try:  # our own handle: numpy leaves its own open when a zip fails to parse
        with open(path, "rb") as fh, np.load(fh) as s:
            if not _SHARD_KEYS <= set(s.files) or \
                    not any(k.startswith("state_") for k in s.files):
                return None
            a = {k: s[k] for k in s.files}  # reading every array checks its checksum
        lo, hi = int(a["first_step"]), int(a["next_step"])
    except Exception:  # whatever a damaged zip or .npy (or a non-scalar step) raises
        return None
    n, L = hi - lo, plan.L
    whole = (lo == first and first < hi <= steps and a["spins"].dtype == np.int8
             and a["spins"].shape == (n, n_chains, L, L)
             and a["energy"].shape == a["magnetization"].shape == (n, n_chains)
             and a["sweep"].shape == (n,))
    return hi if whole else None


def _load_shards(parts: Path, t: int, b: int) -> list[Path]:
    found = sorted(Path(parts).glob(f"task-t{t:04d}-b{b:04d}-s*.npz"))
    # shards are written atomically, so a gap can only come from a removed file:
    # keep the unbroken prefix
    keep = []
    for k, p in enumerate(found):
        if p.name != _shard_name(t, b, k):
            break
        keep.append(p)
    return keep


def valid_shards(plan: GenerationPlan, t: int, b: int, info: dict,
                 parts: str | os.PathLike) -> tuple[list[Path], int]:
    """The shards of task ``(t, b)`` (``info``: its temperature's pilot result) that can
    be resumed from, and the sampling steps they cover.  The first damaged or
    out-of-place shard is deleted with every shard of the task after it (module
    docstring)."""
    parts = Path(parts)
    per_chain = plan.block_samples(b, *layout(info))
    steps = int(per_chain.max())
    keep, step = [], 0
    for p in _load_shards(parts, t, b):
        nxt = _shard_steps(p, plan, len(per_chain), step, steps)
        if nxt is None:
            break
        keep.append(p)
        step = nxt
    for p in parts.glob(f"task-t{t:04d}-b{b:04d}-s*.npz"):
        if p not in keep:
            p.unlink(missing_ok=True)
    return keep, step


def check_parts(plan: GenerationPlan, parts: str | os.PathLike) -> int:
    """Discard every damaged pilot result and shard in ``parts`` (module docstring);
    returns the rows the remaining shards hold."""
    rows = 0
    for t in range(len(plan.temperatures)):
        info = _read_pilot(plan, t, parts)  # a damaged one takes its shards with it
        n = blocks(info) if info is not None else 0
        for b in range(n):
            rows += _rows_before(plan, b, info, valid_shards(plan, t, b, info, parts)[1])
        for shard in Path(parts).glob(f"task-t{t:04d}-b*-s*.npz"):
            # shards without a pilot result, or of blocks its layout does not have
            if int(_BLOCK_OF.match(shard.name).group(1)) >= n:
                shard.unlink(missing_ok=True)
    return rows


def _rows_before(plan: GenerationPlan, b: int, info: dict, step: int) -> int:
    """Rows block ``b`` has written once its chains have made ``step`` sampling steps."""
    return int(np.sum(np.minimum(plan.block_samples(b, *layout(info)), step)))


def run_task(plan: GenerationPlan, t: int, b: int, info: dict, parts: str | os.PathLike,
             segment_spins: int = SEGMENT_SPINS,
             on_segment: Callable[[int], None] | None = None) -> int:
    """Run task ``(t, b)`` to completion, resuming after its last shard; returns rows written.

    ``info`` is the temperature's :func:`pilot` result.  Pure in its inputs: the same
    plan, task and pilot give the same rows, wherever and however often this is
    interrupted and called again, whatever ``segment_spins`` (shards only cut the
    chain's run into pieces; the sampler state carries across).  ``on_segment`` is
    called with the rows of every shard written.
    """
    parts = Path(parts)
    per_chain = plan.block_samples(b, *layout(info))
    n_chains = len(per_chain)
    steps = int(per_chain.max())  # sampling steps of the block
    seg = _segment_length(plan, n_chains, segment_spins)
    done, _ = valid_shards(plan, t, b, info, parts)
    sim = make_task_sampler(plan, info["algorithm"], plan.temperatures[t], n_chains,
                            plan.seed_for(2, t, b))
    start, burn_in = 0, info["burn_in"]
    if done:
        with np.load(done[-1]) as last:
            sim.set_state({k[6:]: last[k] for k in last.files if k.startswith("state_")})
            start = int(last["next_step"])
        burn_in = 0
    sweep(sim, burn_in)
    records = checked(run_chains(sim, steps - start, info["thin"]))
    rows, k = 0, len(done)
    while start < steps:
        stop = min(steps, start + seg)
        segment = list(itertools.islice(records, stop - start))
        state = {f"state_{key}": v for key, v in sim.get_state().items()}
        _write_shard(parts / _shard_name(t, b, k), {
            "spins": np.stack([r.spins[0] for r in segment]),
            "energy": np.stack([r.energy[0] for r in segment]),
            "magnetization": np.stack([r.magnetization[0] for r in segment]),
            "sweep": np.asarray([r.sweep for r in segment]),
            "first_step": np.int64(start), "next_step": np.int64(stop), **state,
        })
        new_rows = int(np.sum(np.clip(per_chain - start, 0, stop - start)))
        rows += new_rows
        if on_segment is not None:
            on_segment(new_rows)
        start, k = stop, k + 1
    return rows


def task_rows(plan: GenerationPlan, t: int, b: int, info: dict, parts: str | os.PathLike):
    """Rows of task (t, b) from its shards, in canonical order (step, then chain);
    ``info`` is its temperature's pilot result.

    A shard that cannot be read (damaged since the run checked it) raises a one-line
    :class:`~isingvae.errors.InputError`; the next run discards and recomputes it.
    """
    span = plan.block_chains(b, *layout(info))
    chains = np.arange(span.start, span.stop)
    per_chain = plan.block_samples(b, *layout(info))
    for p in _load_shards(Path(parts), t, b):
        try:
            with open(p, "rb") as fh, np.load(fh) as s:
                steps = np.arange(int(s["first_step"]), int(s["next_step"]))
                keep = steps[:, None] < per_chain[None, :]  # (steps, chains)
                step_idx, chain_idx = np.nonzero(keep)
                rows = {
                    "spins": s["spins"][step_idx, chain_idx],
                    "energy": s["energy"][step_idx, chain_idx],
                    "magnetization": s["magnetization"][step_idx, chain_idx],
                    "sweep": s["sweep"][step_idx],
                }
        except Exception:  # whatever a damaged zip or .npy raises
            raise InputError(f"{p} is damaged; run the same command again to recompute "
                             "it") from None
        rows["chain"] = plan.chain_id(t, chains[chain_idx])
        rows["temperature"] = np.full(len(step_idx), plan.temperatures[t])
        yield rows


def count_rows(plan: GenerationPlan, t: int, b: int, info: dict,
               parts: str | os.PathLike) -> int:
    """Rows task (t, b) has already written to its (whole) shards."""
    return _rows_before(plan, b, info, valid_shards(plan, t, b, info, parts)[1])
