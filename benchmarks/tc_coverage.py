"""Calibration of the critical-temperature error bars: how often they cover Onsager's T_c.

Run ``python benchmarks/tc_coverage.py --reps 20 --out tc-coverage``.  Each repetition
is the main job (:func:`isingvae.run.run`) on a small plan with its own seed: new
Monte Carlo data, an ensemble of VAEs per size, and the analysis.  Nothing is timed for
a verdict; the point is the statistics of the reported estimates over independent
repetitions.  Per estimator it prints

- ``cover1`` and ``cover2``: the fraction of repetitions whose interval
  ``tc +- stderr`` (``+- 2 stderr``) contains T_c = 2/ln(1+sqrt 2); a calibrated
  Gaussian error gives 68 % and 95 %;
- ``bias``: the mean of ``tc - T_c`` (with its standard error);
- ``scatter``: the standard deviation of ``tc`` over repetitions, against ``mean err``,
  the mean reported error (equal when the error bars are honest and the bias is small);

for the latent estimators (from the models) and the magnetization ones (the same
estimators on the Monte Carlo m), extrapolated by the package's present rules;

as a table and then one JSON line.  Every repetition's report stays in ``OUT/rep<k>``
and its estimates in ``OUT/results.jsonl`` (one line per repetition, appended when it
ends), so an interrupted study resumes where it stopped and ``--table`` reprints the
table from what is there.  One repetition of the default plan here takes about a minute
and a half on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from isingvae import exact

TC = exact.critical_temperature()


def plan_for(args, seed: int):
    from isingvae.run import RunPlan

    temps = tuple(np.round(np.linspace(args.t_min, args.t_max, args.t_count), 6))
    base = RunPlan(sizes=tuple(args.sizes), temperatures=temps, samples=args.samples,
                   chains=args.chains, seed=seed, epochs=args.epochs, head=None,
                   iw_samples=5, analysis_samples=0, bootstrap=args.bootstrap,
                   thermo_samples=0, ensemble=args.ensemble)
    return replace(base, train={**base.train, **json.loads(args.train)})


def record(report: dict, seconds: float, seed: int) -> dict:
    """What the study keeps of one repetition's report."""
    rows = [{k: e.get(k) for k in ("method", "L", "tc", "stderr", "poor_fit", "p_value")}
            for e in report["tc_estimates"]]
    rows += [{"method": e["method"], "L": e["L"], "tc": e["tc"], "stderr": e["stderr"]}
             for e in report["tc_reference"]["estimates"]]
    head = report["tc_headline"]
    if head.get("tc") is not None:
        rows.append({"method": "headline", "L": None, "tc": head["tc"],
                     "stderr": head["stderr"]})
    return {"seed": seed, "seconds": round(seconds, 1), "estimates": rows,
            "headline_consistent": head.get("consistent")}


def table(results: list[dict]) -> list[dict]:
    """Coverage, bias and scatter of every extrapolated estimator and of the headline.

    The extrapolations and the headline are made anew from each repetition's recorded
    per-size estimates with the package's present rules (:func:`isingvae.stats.fss.
    extrapolate`, :func:`isingvae.analysis.estimates.headline`), so that the table
    always measures the rules the package applies now.
    """
    from isingvae.analysis.estimates import headline
    from isingvae.stats.fss import extrapolate

    by_method: dict[str, list[tuple[float, float]]] = {}
    for res in results:
        sized = [e for e in res["estimates"] if e["L"] is not None]
        entries, _ = extrapolate(sized)
        for e in entries:
            by_method.setdefault(e["method"], []).append((e["tc"], e["stderr"]))
        head = headline(entries)
        res["headline_consistent"] = head["consistent"]
        if head.get("tc") is not None:
            by_method.setdefault("headline", []).append((head["tc"], head["stderr"]))
    rows = []
    for method, pairs in sorted(by_method.items()):
        t, s = np.array(pairs).T
        pull = (t - TC) / s
        n = t.size
        rows.append({"method": method, "n": int(n),
                     "cover1": float(np.mean(np.abs(pull) <= 1)),
                     "cover2": float(np.mean(np.abs(pull) <= 2)),
                     "bias": float(np.mean(t - TC)),
                     "bias_stderr": float(np.std(t, ddof=1) / math.sqrt(n)) if n > 1 else None,
                     "scatter": float(np.std(t, ddof=1)) if n > 1 else None,
                     "mean_stderr": float(np.mean(s)),
                     "pull_rms": float(np.sqrt(np.mean(pull**2)))})
    return rows


def show(rows: list[dict], results: list[dict]) -> None:
    consistent = [r["headline_consistent"] for r in results]
    print(f"{len(results)} repetitions; the headline estimators agreed in "
          f"{sum(bool(c) for c in consistent)} of them; T_c = {TC:.5f}")
    print(f"{'method':<40} {'n':>3} {'cover1':>7} {'cover2':>7} {'bias':>8} {'+-':>7} "
          f"{'scatter':>8} {'mean err':>9} {'rms pull':>9}")
    for r in rows:
        sc = "" if r["scatter"] is None else f"{r['scatter']:8.4f}"
        be = "" if r["bias_stderr"] is None else f"{r['bias_stderr']:7.4f}"
        print(f"{r['method']:<40} {r['n']:>3} {r['cover1']:7.2f} {r['cover2']:7.2f} "
              f"{r['bias']:+8.4f} {be:>7} {sc:>8} {r['mean_stderr']:9.4f} "
              f"{r['pull_rms']:9.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=20, help="repetitions (default 20)")
    ap.add_argument("--first-seed", type=int, default=100,
                    help="seed of the first repetition; repetition k uses first + k")
    ap.add_argument("--out", default="tc-coverage", help="folder of the study")
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 12, 16])
    ap.add_argument("--t-min", type=float, default=1.8)
    ap.add_argument("--t-max", type=float, default=3.0)
    ap.add_argument("--t-count", type=int, default=13)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--chains", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--ensemble", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--train", default="{}", help="JSON of further TrainConfig settings")
    ap.add_argument("--table", action="store_true",
                    help="only print the table of the repetitions already done")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"

    def done() -> list[dict]:
        if not results_path.exists():
            return []
        return [json.loads(line) for line in results_path.read_text().splitlines() if line]

    settings = {k: v for k, v in vars(args).items() if k not in ("table", "out")}
    settings_path = out / "settings.json"
    if args.table and settings_path.exists():      # the study's own settings, not these
        settings = json.loads(settings_path.read_text())
    elif not args.table:
        if settings_path.exists() and {**json.loads(settings_path.read_text()),
                                       "reps": args.reps} != settings:
            print(f"error: {out} holds a study with other settings ({settings_path}); "
                  f"choose another --out", file=sys.stderr)
            return 2
        settings_path.write_text(json.dumps(settings) + "\n")
    if not args.table:
        from isingvae import run as job
        from isingvae.cli._tensorflow import import_quietly

        import_quietly()
        for k in range(args.reps):
            seed = args.first_seed + k
            if any(r["seed"] == seed for r in done()):
                continue
            t0 = time.perf_counter()
            res = job.run(out / f"rep{k}", plan_for(args, seed), quiet=True)
            line = record(res["report"], time.perf_counter() - t0, seed)
            with results_path.open("a") as f:          # one whole line per repetition
                f.write(json.dumps(line) + "\n")
            head = [e for e in line["estimates"] if e["method"] == "headline"]
            print(f"rep {k} (seed {seed}): {line['seconds']:.0f} s; headline "
                  + (f"{head[0]['tc']:.4f} +- {head[0]['stderr']:.4f}" if head
                     else "none (disagree)"), file=sys.stderr, flush=True)
    results = done()
    rows = table(results)
    show(rows, results)
    print(json.dumps({"benchmark": "tc_coverage", "repetitions": len(results),
                      "settings": settings,
                      "estimators": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
