"""VAE training throughput: configurations per second of the default model, against a
reference network and against the package at another commit, measured in one run.

Run ``python benchmarks/train_throughput.py`` (``--quick`` for a short run).  Each model
trains through the same loop as ``isingvae train`` (:func:`isingvae.training.fit`:
symmetry augmentation, the VAE's own ``train_step``) on random configurations at 21
temperatures from 1.8 to 2.8, so that the default model conditions on temperature as
it does on real data; one warm-up epoch (tracing) is excluded, then ``--epochs`` epochs
are timed.  Models, at every size of ``--sizes`` (default 16, 32, 64):

- ``default``: the model ``isingvae train`` builds with no flags (the multiscale
  autoregressive decoder, conditioned on temperature);
- ``reference``: a plain periodic-conv VAE with the factorised decoder, 8 latent
  dimensions, conv widths 32/64 and a dense layer of 256 (a common choice);
- with ``--flows``: the default network with 4 planar, radial, IAF or RealNVP flow
  layers on the posterior, and the two-level model.

With ``--baseline REV`` (default ``HEAD``; ``--baseline none`` to skip) the default
model is also measured with the package as it is at commit ``REV``, checked out into a
temporary git worktree and imported from there, in alternation with the working tree
(``--repeats`` rounds, the best of each side kept): the ratio of the two is the speed-up
of the change, measured on the same machine in the same minutes.  Every measurement
runs in a fresh process, so that neither side inherits the other's TensorFlow state.

Prints a table, then one JSON line per measurement.  Nothing else should run while it
measures: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent

MODELS = {
    "default": {},
    "reference": dict(family="conv", filters=(32, 64), units=(256,), latent_dim=8,
                      decoder="factorized"),
}
#: richer posteriors and the two-level model (``--flows``), all on the default network
FLOW_MODELS = {
    "planar4": dict(flow="planar", flow_depth=4),
    "radial4": dict(flow="radial", flow_depth=4),
    "iaf4": dict(flow="iaf", flow_depth=4),
    "realnvp4": dict(flow="realnvp", flow_depth=4),
    "two-level": dict(levels=2),
}
#: the temperatures of the random training rows (those of the main job's grid)
TEMPERATURES = [round(1.8 + 0.05 * k, 6) for k in range(21)]


def random_file(path: Path, L: int, n: int) -> Path:
    import numpy as np

    from isingvae import lattice
    from isingvae.storage import write_ising_file

    rng = np.random.default_rng(0)
    s = rng.choice(np.array([-1, 1], np.int8), size=(n, L, L))
    return write_ising_file(path, L=L, J=1.0, h=0.0, seed=0, algorithm="random", spins=s,
                            temperature=rng.choice(TEMPERATURES, n),
                            energy=lattice.energy(s), magnetization=lattice.magnetization(s),
                            chain=np.arange(n))


def measure(path: Path, settings: dict, epochs: int) -> dict:
    """Configurations per second of one model (run in a worker process)."""
    import keras
    import tensorflow as tf

    from isingvae import random
    from isingvae.data import IsingDataset
    from isingvae.training import TrainConfig, build_model, fit

    cfg = TrainConfig(**settings)
    ds = IsingDataset(path)
    keras.utils.set_random_seed(random.int_seed(0, "weights"))
    steps = ds.n // cfg.batch_size
    model = build_model(cfg, ds.L, steps, ds.temperature)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate))
    labels = ds.temperature.astype("float32") if getattr(model, "conditioned", False) \
        else None

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.start = time.perf_counter()

    clock = Clock()
    fit(model, ds, epochs=epochs + 1, batch_size=cfg.batch_size, seed=0, augment=cfg.augment,
        labels=labels, callbacks=[clock])
    seconds = time.perf_counter() - clock.start
    configs = epochs * steps * cfg.batch_size
    return {"configs_per_second": configs / seconds, "seconds": seconds, "configs": configs,
            "parameters": int(model.count_params()), "batch_size": cfg.batch_size,
            "threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()}


def _worker(args) -> None:
    """``--worker``: measure one model in this process and print one JSON line."""
    settings = json.loads(args.settings)
    with tempfile.TemporaryDirectory() as tmp:
        path = random_file(Path(tmp) / "random.h5", args.L, args.n)
        result = measure(path, settings, args.epochs)
    import isingvae

    result["package_file"] = isingvae.__file__
    print("RESULT " + json.dumps(result), flush=True)


def _run_worker(src: Path, L: int, n: int, epochs: int, settings: dict) -> dict:
    """One measurement in a fresh process importing the package from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--L", str(L),
           "--n", str(n), "--epochs", str(epochs), "--settings", json.dumps(settings)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=src)
    lines = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
    if res.returncode != 0 or not lines:
        raise SystemExit(f"the measurement with the package in {src} failed:\n"
                         f"{res.stderr[-2000:]}")
    out = json.loads(lines[-1][len("RESULT "):])
    expected = (src / "isingvae" / "__init__.py").resolve()
    if Path(out["package_file"]).resolve() != expected:
        raise SystemExit(f"the worker imported {out['package_file']}, not {expected}")
    return out


def _worktree(rev: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(where),
                    rev], check=True)
    return where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16,32,64", help="lattice sizes (default 16,32,64)")
    ap.add_argument("--n", type=int, default=4096, help="training configurations")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs")
    ap.add_argument("--quick", action="store_true", help="1024 configurations, 1 epoch")
    ap.add_argument("--flows", action="store_true",
                    help="also the flow posteriors and the two-level model")
    ap.add_argument("--baseline", default="HEAD",
                    help="git revision whose default model is measured beside the working "
                    "tree's (default HEAD; 'none' to skip)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="alternating rounds of working tree and baseline (best kept)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--L", type=int, default=16, help=argparse.SUPPRESS)
    ap.add_argument("--settings", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return _worker(args)
    n, epochs = (1024, 1) if args.quick else (args.n, args.epochs)
    sizes = [int(s) for s in args.sizes.split(",")]
    models = {**MODELS, **(FLOW_MODELS if args.flows else {})}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base_src = None if args.baseline == "none" else _worktree(args.baseline,
                                                                  Path(tmp) / "baseline")
        try:
            for L in sizes:
                best: dict[str, dict] = {}
                for _ in range(max(1, args.repeats)):
                    sides = [("this tree", ROOT)] + ([("baseline", base_src)] if base_src
                                                     else [])
                    for side, src in sides:
                        for name, settings in models.items():
                            if side == "baseline" and name != "default":
                                continue
                            r = _run_worker(src, L, n, epochs, settings)
                            key = f"{name}@{side}"
                            if key not in best or r["configs_per_second"] > \
                                    best[key]["configs_per_second"]:
                                best[key] = r
                for key, r in best.items():
                    rows.append({"L": L, "key": key, **r})
        finally:
            if base_src is not None:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(base_src)], check=False)
    print(f"VAE training throughput, {n} configurations, {epochs} timed epoch(s), best of "
          f"{args.repeats}, {os.cpu_count()} CPU(s); baseline: {args.baseline}")
    print(f"{'L':>4} {'model':>22} {'params':>9} {'configs/s':>10} {'ratio':>8}")
    for r in rows:
        ref = next((x for x in rows if x["L"] == r["L"] and x["key"] == "default@baseline"),
                   None)
        ratio = "" if ref is None or r["key"] == "default@baseline" or \
            not r["key"].startswith("default") else \
            f"{r['configs_per_second'] / ref['configs_per_second']:7.2f}x"
        print(f"{r['L']:4d} {r['key']:>22} {r['parameters']:9d} "
              f"{r['configs_per_second']:10.0f} {ratio:>8}")
    for r in rows:
        ref = next((x for x in rows if x["L"] == r["L"] and x["key"] == "default@baseline"),
                   None)
        print(json.dumps({"benchmark": "train_throughput", "L": r["L"], "model": r["key"],
                          "baseline": args.baseline,
                          **{k: round(v, 3) if isinstance(v, float) else v
                             for k, v in r.items() if k not in ("L", "key", "package_file")},
                          "ratio_to_baseline": None if ref is None else
                          round(r["configs_per_second"] / ref["configs_per_second"], 3)}))


if __name__ == "__main__":
    main()
