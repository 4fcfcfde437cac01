"""The steps of ``isingvae run`` (:func:`run`): generate, train, evaluate, score, analyse
and the thermodynamics, each reused when its output is complete, timed into
``timings.json`` on the :func:`machine` it ran on; what they write is described in
:mod:`isingvae.run`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from isingvae._atomic import write_text
from isingvae._locks import exclusive
from isingvae.errors import InputError
from isingvae.run.plan import DEFAULT, RUN_CHANGES, RUN_RECORD, RUN_VERSION, RunPlan

__all__ = ["machine", "run"]


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


def _prior(out: Path) -> dict | None:
    """The record of the job in ``out``: ``run.json``, or, for folders made before that
    file existed, ``timings.json``; a record without ``run_version`` is of version 1."""
    for name in (RUN_RECORD, "timings.json"):
        try:
            record = json.loads((out / name).read_text())
            return {"run_version": record.get("run_version", 1), "plan": record["plan"]}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return None


def _claim(out: Path, plan: RunPlan, force: bool) -> None:
    """Refuse a folder that holds anything but this job (the same plan, of this
    :data:`RUN_VERSION`), unless ``force``; then record the plan and the version."""
    record = {"run_version": RUN_VERSION, "plan": plan.to_json()}
    if out.is_dir() and any(out.iterdir()) and not force:
        prior = _prior(out)
        if prior is None:
            raise InputError(f"{out} holds files that 'isingvae run' did not write; choose "
                             f"another --out, or pass --force to write there anyway")
        if prior["run_version"] != RUN_VERSION:
            old = prior["run_version"]
            change = "; ".join(RUN_CHANGES[v] for v in range(old + 1, RUN_VERSION + 1)
                               if v in RUN_CHANGES) if isinstance(old, int) \
                and old < RUN_VERSION else "written by another version of isingvae"
            raise InputError(f"{out} holds a job of another run version (run_version: "
                             f"{old!r} -> {RUN_VERSION}: {change}); choose another --out, "
                             f"or pass --force to replace its steps")
        if prior["plan"] != json.loads(json.dumps(record["plan"])):     # as it reads back
            raise InputError(f"{out} holds a job with another plan; choose another --out, or "
                             f"pass --force to replace its steps")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / RUN_RECORD, json.dumps(record, indent=2) + "\n")


def run(out: str | os.PathLike = "isingvae-run", plan: RunPlan = DEFAULT, *,
        quiet: bool = False, force: bool = False, note: str | None = None) -> dict:
    """Run the whole job into ``out`` (:mod:`isingvae.run`); return the timings and report.

    ``out`` must be new, empty or hold this same job (whose finished steps are reused);
    anything else is refused unless ``force``, which also lets the steps replace data
    files and run directories made with other settings.  The plan's memory is checked
    first (:meth:`RunPlan.check`), before anything is written; ``note`` (the time
    estimate of ``isingvae run``) is printed, unless ``quiet``, once the folder is the
    job's.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory; choose another --out")
    plan.check()
    with exclusive(out):
        _claim(out, plan, force)
        if note:
            _say(note, quiet)
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
                             samples=plan.samples, chains=plan.chains,
                             seed=plan.data_seed(L))
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
    record = {"run_version": RUN_VERSION, "plan": plan.to_json(), "machine": machine(),
              "steps": timings,
              "total_seconds": round(total, 2),
              "job_seconds": round(sum(t["seconds_to_make"] for t in timings), 2)}
    write_text(out / "timings.json", json.dumps(record, indent=2) + "\n")
    from isingvae.run.report import summary, write_checks

    checked = write_checks(out, report, thermo_result)
    write_text(out / "README.md", summary(report, evaluations, plan, record, heads,
                                          thermo_result, checked))
    _say(f"[isingvae run] done in {total:.0f} s: {out / 'README.md'}", quiet)
    return {"report": report, "timings": record, "heads": heads, "out": out}
