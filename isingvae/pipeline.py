"""The main job, ``isingvae run``: data to a report in one command.

For each lattice size of a :class:`RunPlan` it generates Monte Carlo data on a
temperature grid through T_c and trains the package's default VAE (the autoregressive
decoder, conditioned on temperature) as an ensemble of ``RunPlan.ensemble`` models with
different training seeds: the first (``work/runs/L16``) gives the held-out likelihood,
the configurations generated at every temperature and the thermodynamics; the latents of
all of them give the T_c estimates that use no labels, their spread entering every error
bar.  Separately it trains a VAE with a VIB phase head (the supervised T_c, where its
classifier crosses 1/2), evaluates the first VAE's held-out likelihood and the head's
held-out accuracy, and then analyses all sizes together.  The VAE and the head are
trained apart because a head trained jointly pulls the latents toward the label and
spoils the unsupervised estimates.  The output folder holds

- ``README.md``: the headline numbers (held-out NLL against the exact entropy, every
  T_c estimate against Onsager's, the latent-magnetization correlation, the classifier's
  accuracy, the physics of generated configurations) with the figures embedded;
- ``report.json`` and the PNG figures of ``isingvae analyze``;
- ``thermo.json`` and ``thermo.png``: free energy, energy, specific heat and entropy of
  the smallest size by neural importance sampling with its VAE, against Kaufman
  (``isingvae thermo``);
- ``run.json``: the plan, written first (a folder that holds anything else, or another
  plan, is refused unless ``--force``);
- ``timings.json``: the machine (CPU model, cores, AVX-512) and the wall time of every
  step (``seconds`` in this call; ``seconds_to_make`` when the step did its work, kept
  from an earlier call for a reused step);
- ``work/``: the data files (``work/data/L16.h5``) and run directories
  (``work/runs/L16`` for the VAE, ``work/runs/L16-member2`` ... for the rest of its
  ensemble, ``work/runs/L16-vib`` for the head), usable with the
  other commands.

Every step is reused when its output is already complete (generation and training
resume after an interruption), so re-running the command finishes an interrupted job
and redoes only the analysis.  Same plan, same bits.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from isingvae._atomic import write_text
from isingvae._locks import exclusive
from isingvae.errors import InputError

__all__ = ["DEFAULT", "QUICK", "RunPlan", "run"]

#: the job's plan, written first, so that a folder says whose it is
RUN_RECORD = "run.json"
#: models per size at most (``--ensemble``)
MAX_ENSEMBLE = 16


@dataclass(frozen=True)
class RunPlan:
    """What ``isingvae run`` does: sizes, temperature grid, samples, training and analysis."""

    sizes: tuple[int, ...] = (16, 24, 32)
    temperatures: tuple[float, ...] = tuple(np.round(np.linspace(1.8, 2.8, 21), 6))
    #: configurations per temperature and epochs: 200 and 3 (800 and 10 before the
    #: autoregressive decoder, 6 before the ensemble of two), for the 10-minute budget of
    #: the main job on a 2-core machine without AVX-512; one model conditioned on T
    #: shares them across the grid
    samples: int = 200
    chains: int = 32
    seed: int = 1
    epochs: int = 3
    #: TrainConfig settings of the VAE (beyond epochs and seed): the package's default,
    #: the autoregressive decoder conditioned on temperature, with batches of 64 (twice
    #: the updates of the default 128 for 13 % more time: with so few epochs, generated
    #: energies at L = 32 came 4 % from Kaufman's instead of 7 %)
    train: dict = field(default_factory=lambda: {"batch_size": 64})
    #: settings of the supervised run, on top of ``train``; None: no supervised run.  Few
    #: epochs: the crossing moved by less than its seed-to-seed scatter from 5 to 10; the
    #: factorised decoder: the head needs the encoder only, and it costs a third
    head: dict | None = field(default_factory=lambda: {"head": "vib-phase", "epochs": 3,
                                                       "decoder": "factorized"})
    iw_samples: int = 50
    #: generated configurations per size: 50 at each of the 21 temperatures
    analysis_samples: int = 1050
    bootstrap: int = 100
    #: draws per temperature of the neural importance sampling on the smallest size
    #: (``isingvae thermo``; 0: none)
    thermo_samples: int = 500
    #: VAEs trained per size on the same data (training seeds ``seed`` and then streams
    #: of :mod:`isingvae.random`): their spread enters every T_c error bar
    ensemble: int = 2

    def __post_init__(self):
        if isinstance(self.ensemble, bool) or not isinstance(self.ensemble, int) \
                or not 1 <= self.ensemble <= MAX_ENSEMBLE:
            raise InputError(f"--ensemble must be an integer from 1 to {MAX_ENSEMBLE}, got "
                             f"{self.ensemble!r}")

    def member_seed(self, k: int) -> int:
        """Training seed of ensemble member ``k`` (0: the plan's seed)."""
        from isingvae import random

        return self.seed if k == 0 else random.int_seed(self.seed, "ensemble", k)

    def to_json(self) -> dict:
        d = asdict(self)
        d["temperatures"] = [float(t) for t in self.temperatures]
        d["sizes"] = list(self.sizes)
        return d


#: the built-in default: L = 16, 24 and 32, 21 temperatures from 1.8 to 2.8 (step 0.05)
DEFAULT = RunPlan()
#: a smoke-test plan that runs in well under a minute (``isingvae run --quick``)
QUICK = RunPlan(sizes=(8, 12), temperatures=(1.6, 2.0, 2.2, 2.35, 2.6, 3.0), samples=128,
                chains=8, epochs=3,
                train={"filters": (4, 8), "units": (16,), "latent_dim": 4, "batch_size": 64},
                head={"head": "vib-phase", "decoder": "factorized", "epochs": 8},
                iw_samples=10, analysis_samples=120, bootstrap=20, thermo_samples=200,
                ensemble=2)


def _say(text: str, quiet: bool) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def _earlier_seconds(path: Path) -> dict[str, float]:
    """Step name -> seconds it took to make, from an earlier call's ``timings.json``."""
    try:
        steps = json.loads(path.read_text())["steps"]
        return {t["step"]: float(t.get("seconds_to_make", t["seconds"])) for t in steps}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _evaluation_done(run_dir: Path, iw_samples: int) -> bool:
    from isingvae.training import RunDir

    ev = RunDir(run_dir).evaluation()
    return ev is not None and ev.get("iw_samples") == iw_samples


def _head_estimator(head_models: dict[int, object]):
    """An ``analyze`` estimator that scores the supervised model of the pair's size (not
    the VAE it is handed) with the phase-crossing estimator."""
    from dataclasses import replace

    from isingvae.analysis import supervised

    def estimator(ctx):
        model = head_models.get(ctx.pair.L)
        if model is None or ctx.pair.member > 0:     # one head per size, not per member
            return []
        return supervised.phase_crossing(replace(ctx, model=model))

    return estimator


def _thermo(run_dir: Path, out: Path, plan: RunPlan, progress) -> dict | None:
    """Neural importance sampling at the training temperatures of the smallest size's
    model, into ``thermo.json`` and ``thermo.png``; None for a model it cannot use."""
    from isingvae.analysis.thermo_figure import thermo_figure
    from isingvae.evaluation import thermo

    try:
        result = thermo.thermo(run_dir, plan.temperatures, plan.thermo_samples,
                               out / "thermo.json", seed=plan.seed, progress=progress)
    except InputError as exc:          # e.g. a posterior flow: say so, keep the report
        print(f"[isingvae run] no thermodynamics section: {exc}", file=sys.stderr)
        return None
    thermo_figure(result, out / "thermo.png")
    return result


def machine() -> dict:
    """The CPU the step times were measured on (model name, logical cores, and whether it
    has AVX-512, which TensorFlow's kernels use when present)."""
    import platform

    name, flags = platform.processor() or platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name in ("", platform.machine()):
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = value
    except OSError:
        pass
    return {"cpu": name, "cores": os.cpu_count(), "avx512": "avx512f" in flags.split()}


def _claim(out: Path, plan: RunPlan, force: bool) -> None:
    """Refuse a folder that holds anything but this job (its plan recorded in
    ``run.json``, or, for folders made before that file existed, in ``timings.json``),
    unless ``force``; then record the plan."""
    if out.is_dir() and any(out.iterdir()) and not force:
        prior = None
        for name in (RUN_RECORD, "timings.json"):
            try:
                prior = json.loads((out / name).read_text())["plan"]
                break
            except (OSError, ValueError, KeyError, TypeError):
                continue
        if prior is None:
            raise InputError(f"{out} holds files that 'isingvae run' did not write; choose "
                             f"another --out, or pass --force to write there anyway")
        if prior != json.loads(json.dumps(plan.to_json())):     # as it reads back
            raise InputError(f"{out} holds a job with another plan; choose another --out, or "
                             f"pass --force to replace its steps")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / RUN_RECORD, json.dumps({"plan": plan.to_json()}, indent=2) + "\n")


def run(out: str | os.PathLike = "isingvae-run", plan: RunPlan = DEFAULT, *,
        quiet: bool = False, force: bool = False) -> dict:
    """Run the whole job into ``out`` (module docstring); return the timings and report.

    ``out`` must be new, empty or hold this same job (whose finished steps are reused);
    anything else is refused unless ``force``, which also lets the steps replace data
    files and run directories made with other settings.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory; choose another --out")
    with exclusive(out):
        _claim(out, plan, force)
        return _run(out, plan, quiet, force)


def _run(out: Path, plan: RunPlan, quiet: bool, force: bool) -> dict:
    from isingvae.evaluation import evaluate, head_metrics
    from isingvae.generation import GenerationPlan, generate
    from isingvae.training import RunDir, TrainConfig, train

    base = {"epochs": plan.epochs, "seed": plan.seed, **plan.train}
    config = TrainConfig(**base)
    head_config = None if plan.head is None else TrainConfig(**{**base, **plan.head})
    (out / "work" / "data").mkdir(parents=True, exist_ok=True)
    (out / "work" / "runs").mkdir(parents=True, exist_ok=True)
    timings: list[dict] = []
    earlier = _earlier_seconds(out / "timings.json")

    def step(name: str, fn, reused: bool = False):
        t0 = time.perf_counter()
        _say(f"[isingvae run] {name}" + (" (reused)" if reused else ""), quiet)
        result = None if reused else fn()
        seconds = time.perf_counter() - t0
        timings.append({"step": name, "seconds": round(seconds, 2), "reused": reused})
        return result

    def train_step(name: str, path: Path, run_dir: Path, cfg) -> None:
        res = step(name, lambda: train(path, run_dir, cfg, force=force,
                                       verbose=0 if quiet else 2))
        if res is not None and res.already_complete:
            timings[-1]["reused"] = True

    data_files, run_dirs, head_runs = [], [], {}
    for L in plan.sizes:
        path = out / "work" / "data" / f"L{L}.h5"
        gen = GenerationPlan(L=L, temperatures=tuple(plan.temperatures),
                             samples=plan.samples, chains=plan.chains, seed=plan.seed + L)
        res = step(f"generate L={L}", lambda g=gen, p=path: generate(
            g, p, force=force, progress=False if quiet else None))
        if res is not None and res.already_complete:
            timings[-1]["reused"] = True
        data_files.append(path)
    members: list[tuple[Path, Path]] = []          # (run, data) of every ensemble member
    for k in range(plan.ensemble):
        cfg = config if k == 0 else TrainConfig(**{**base, "seed": plan.member_seed(k)})
        for L, path in zip(plan.sizes, data_files, strict=True):
            run_dir = out / "work" / "runs" / (f"L{L}" if k == 0 else f"L{L}-member{k + 1}")
            if k == 0:
                run_dirs.append(run_dir)
            members.append((run_dir, path))
            train_step(f"train VAE L={L}" + ("" if k == 0 else f" member {k + 1}"), path,
                       run_dir, cfg)
    if head_config is not None:
        for L, path in zip(plan.sizes, data_files, strict=True):
            head_runs[L] = out / "work" / "runs" / f"L{L}-vib"
            train_step(f"train VIB head L={L}", path, head_runs[L], head_config)
    for L, run_dir in zip(plan.sizes, run_dirs, strict=True):
        step(f"evaluate L={L}", lambda r=run_dir: evaluate(
            r, iw_samples=plan.iw_samples, progress=False if quiet else None),
            reused=_evaluation_done(run_dir, plan.iw_samples))
    head_models = {}

    def score(L: int, run_dir: Path) -> dict:
        head_models[L] = RunDir(run_dir).load()[0]   # kept for the crossing in analyze
        return head_metrics(run_dir, head_models[L])

    heads = {L: step(f"score VIB head L={L}", lambda L=L, r=r: score(L, r))
             for L, r in head_runs.items()}
    from isingvae.analysis.report import analyze

    report = step("analyze", lambda: analyze(
        [r for r, _ in members], [d for _, d in members], out,
        samples=plan.analysis_samples, bootstrap=plan.bootstrap,
        seed=plan.seed, progress=False if quiet else None, force=True,   # the folder is ours
        estimators=[_head_estimator(head_models)] if head_models else ()))
    thermo_result = None
    if plan.thermo_samples:
        thermo_result = step(f"thermo L={plan.sizes[0]}", lambda: _thermo(
            run_dirs[0], out, plan, progress=False if quiet else None))
    evaluations = [RunDir(r).evaluation() for r in run_dirs]
    for t in timings:
        t["seconds_to_make"] = earlier.get(t["step"], t["seconds"]) if t["reused"] \
            else t["seconds"]
    total = sum(t["seconds"] for t in timings)
    record = {"plan": plan.to_json(), "machine": machine(), "steps": timings,
              "total_seconds": round(total, 2),
              "job_seconds": round(sum(t["seconds_to_make"] for t in timings), 2)}
    write_text(out / "timings.json", json.dumps(record, indent=2) + "\n")
    from isingvae.run_report import summary

    write_text(out / "README.md", summary(report, evaluations, plan, record, heads,
                                          thermo_result))
    _say(f"[isingvae run] done in {total:.0f} s: {out / 'README.md'}", quiet)
    return {"report": report, "timings": record, "heads": heads, "out": out}
