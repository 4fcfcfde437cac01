"""Sampling throughput: configurations per second, autoregressive decoder against factorized.

Run ``python benchmarks/sample_throughput.py`` (``--quick`` for a short run, ``--L`` for
other lattice sizes).  What ``isingvae sample`` spends its time on is the model's
``sample_x``: ``z`` from the prior, then the spins from the decoder (one pass of the
decoder for the factorized one, one pass per stage of the multiscale order for the
autoregressive one).  For each lattice size, measured in the same run:

- ``factorized``: ``TrainConfig(decoder="factorized", condition="none")``, the VAE with
  independent spins given ``z`` (the baseline the ratios are against, at the same L);
- ``autoregressive``: ``TrainConfig(decoder="autoregressive", condition="temperature")``,
  the multiscale decoder conditioned on temperature, with the package's default widths
  (``--decoder-width`` to change), sampling at T = 2.269.

Both are built untrained through :func:`isingvae.training.build_model` (the speed does not
depend on the weights) and sample through :func:`isingvae.models.compiled` exactly as
``isingvae sample`` does: batches of ``--batch`` configurations (4096, the command's
batch), each turned into int8 spins of +-1 on the host.  One warm-up batch (tracing) is
excluded, then ``--batches`` batches are timed.

Unless ``--no-end-to-end``, the whole ``isingvae.evaluation.sample`` path is timed once at
L = 32 for the autoregressive model: a one-epoch run on a small Monte Carlo file is
trained first (not timed), then ``sample`` draws ``--end-to-end-n`` configurations at one
temperature, loading the model, tracing, drawing and writing the HDF5 file.

Prints a table, then one JSON line per row, with the machine's CPU model and its load
average (other jobs on the machine slow every row; compare rows of one run only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from isingvae.training import TrainConfig

DECODERS = {
    "factorized": dict(decoder="factorized", condition="none"),
    "autoregressive": dict(decoder="autoregressive", condition="temperature"),
}
#: the temperature the conditioned model samples at, inside its (nominal) trained range
TEMPERATURE = 2.269
#: the range a conditioned model is built for (standardisation of T)
T_RANGE = (1.5, 3.5)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(L: int, settings: dict, batch: int, batches: int) -> dict:
    """Configurations per second of ``sample_x`` for an untrained model of ``settings``."""
    import keras
    import tensorflow as tf

    from isingvae import random
    from isingvae.models import compiled
    from isingvae.training import build_model

    cfg = TrainConfig(**settings)
    keras.utils.set_random_seed(random.int_seed(0, "weights"))
    model = build_model(cfg, L, 1, temperatures=np.array(T_RANGE))
    temperature = TEMPERATURE if model.conditioned else None
    draw = compiled(model, "sample_x")
    fold = tf.random.experimental.stateless_fold_in
    root = tf.constant(random.tf_key(0, "generate"), tf.int64)

    def one(b: int) -> np.ndarray:
        x = draw(batch, fold(root, b), temperature)
        return np.where(x.numpy()[..., 0] > 0.5, 1, -1).astype(np.int8)

    t0 = time.perf_counter()
    one(0)                                           # warm-up: tracing
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in range(1, batches + 1):
        spins = one(b)
    seconds = time.perf_counter() - t0
    assert spins.shape == (batch, L, L)
    return {"configs_per_second": batch * batches / seconds, "seconds": seconds,
            "configs": batch * batches, "warmup_seconds": warmup,
            "parameters": int(model.count_params()),
            "decoder_width": cfg.decoder_width if cfg.decoder == "autoregressive" else None}


def end_to_end(n: int, settings: dict, L: int = 32) -> dict:
    """One call of :func:`isingvae.evaluation.sample` (load, trace, draw, write) on a
    one-epoch run at ``L``."""
    from isingvae.evaluation import sample
    from isingvae.generation import GenerationPlan, generate
    from isingvae.training import train

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plan = GenerationPlan(L=L, temperatures=T_RANGE, samples=160, chains=16, seed=0)
        generate(plan, tmp / "mc.h5", progress=False)
        train(tmp / "mc.h5", tmp / "run", TrainConfig(epochs=1, **settings), verbose=0)
        t0 = time.perf_counter()
        sample(tmp / "run", n, tmp / "samples.h5", temperature=TEMPERATURE, seed=0)
        seconds = time.perf_counter() - t0
    return {"configs_per_second": n / seconds, "seconds": seconds, "configs": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=lambda s: tuple(int(v) for v in s.split(",")),
                    default=(16, 32, 64), help="lattice sizes, comma-separated")
    ap.add_argument("--batch", type=int, default=4096, help="configurations per batch")
    ap.add_argument("--batches", type=int, default=3, help="timed batches")
    ap.add_argument("--decoder-width", type=int, default=None,
                    help="channels of the autoregressive decoder (default: the package's)")
    ap.add_argument("--end-to-end-n", type=int, default=16384,
                    help="configurations drawn by the timed sample() call")
    ap.add_argument("--no-end-to-end", action="store_true",
                    help="skip timing sample() on a one-epoch run")
    ap.add_argument("--quick", action="store_true",
                    help="L = 16, 32; batches of 1024; one timed batch; 2048 end to end")
    args = ap.parse_args()
    sizes, batch, batches, n_e2e = ((16, 32), 1024, 1, 2048) if args.quick else \
        (args.L, args.batch, args.batches, args.end_to_end_n)
    decoders = {k: dict(v) for k, v in DECODERS.items()}
    if args.decoder_width is not None:
        decoders["autoregressive"]["decoder_width"] = args.decoder_width
    load_before = os.getloadavg()
    results = {(L, name): measure(L, settings, batch, batches)
               for L in sizes for name, settings in decoders.items()}
    e2e = None if args.no_end_to_end else end_to_end(n_e2e, decoders["autoregressive"])
    load_after = os.getloadavg()

    import tensorflow as tf

    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    print(f"Sampling throughput (sample_x, compiled), batches of {batch}, {batches} timed "
          f"batch(es) after one warm-up; {os.cpu_count()} CPU(s), {cpu_model()}; load "
          f"average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"{'L':>3} {'decoder':>15} {'width':>5} {'params':>9} {'configs/s':>10} "
          f"{'vs factorized':>14}")
    for (L, name), r in results.items():
        base = results[(L, "factorized")]["configs_per_second"]
        width = r["decoder_width"] or "-"
        print(f"{L:3d} {name:>15} {width:>5} {r['parameters']:9d} "
              f"{r['configs_per_second']:10.0f} {r['configs_per_second'] / base:13.2f}x")
    if e2e is not None:
        print(f" 32 sample() end to end, autoregressive (load, trace, draw {e2e['configs']}, "
              f"write): {e2e['configs_per_second']:.0f} configurations/s "
              f"({e2e['seconds']:.1f} s)")
    else:
        print("sample() end to end: skipped (--no-end-to-end)")
    common = {"benchmark": "sample_throughput", "batch": batch, "threads": threads,
              "cpus": os.cpu_count(), "cpu_model": cpu_model(),
              "load_average": [round(load_before[0], 2), round(load_after[0], 2)]}
    for (L, name), r in results.items():
        base = results[(L, "factorized")]["configs_per_second"]
        print(json.dumps({**common, "L": L, "decoder": name,
                          "settings": decoders[name], "temperature":
                          TEMPERATURE if name == "autoregressive" else None,
                          **{k: round(v, 3) if isinstance(v, float) else v
                             for k, v in r.items()},
                          "ratio_to_factorized": round(r["configs_per_second"] / base, 3)}))
    if e2e is not None:
        print(json.dumps({**common, "L": 32, "decoder": "autoregressive",
                          "path": "isingvae.evaluation.sample (end to end)",
                          "settings": decoders["autoregressive"], "temperature": TEMPERATURE,
                          **{k: round(v, 3) if isinstance(v, float) else v
                             for k, v in e2e.items()}}))


if __name__ == "__main__":
    main()
