"""VAE training throughput: configurations per second, default model against a reference.

Run ``python benchmarks/train_throughput.py`` (``--quick`` for a short run, ``--L`` for
another lattice).  Each model trains through the same loop as ``isingvae train``
(:func:`isingvae.training.fit`: symmetry augmentation, the VAE's own ``train_step``) on
random configurations; one warm-up epoch (tracing) is excluded, then ``--epochs``
epochs are timed.  Models, measured in the same run:

- ``reference``: a plain periodic-conv VAE, 8 latent dimensions, conv widths 32/64 and
  a dense layer of 256 (the common choice; the baseline the ratios are against);
- ``default``: the model ``isingvae train`` builds with no flags;
- ``dense``: the default dense family (an MLP, as in the classic Ising-VAE notebooks);
- with ``--flows``: the default network with 4 planar, radial, IAF or RealNVP flow
  layers on the posterior, and the two-level model.

Prints a table, then one JSON line per model.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from isingvae import lattice
from isingvae.storage import write_ising_file
from isingvae.training import TrainConfig

MODELS = {
    "reference": dict(family="conv", filters=(32, 64), units=(256,), latent_dim=8),
    "default": {},
    "dense": dict(family="dense", units=(512, 256)),
}
#: richer posteriors and the two-level model (``--flows``), all on the default network
FLOW_MODELS = {
    "planar4": dict(flow="planar", flow_depth=4),
    "radial4": dict(flow="radial", flow_depth=4),
    "iaf4": dict(flow="iaf", flow_depth=4),
    "realnvp4": dict(flow="realnvp", flow_depth=4),
    "two-level": dict(levels=2),
}


def random_file(path: Path, L: int, n: int) -> Path:
    rng = np.random.default_rng(0)
    s = rng.choice(np.array([-1, 1], np.int8), size=(n, L, L))
    return write_ising_file(path, L=L, J=1.0, h=0.0, seed=0, algorithm="random", spins=s,
                            temperature=np.full(n, 2.5), energy=lattice.energy(s),
                            magnetization=lattice.magnetization(s), chain=np.arange(n))


def measure(path: Path, settings: dict, epochs: int) -> dict:
    import keras
    import tensorflow as tf

    from isingvae import random
    from isingvae.data import IsingDataset
    from isingvae.training import build_model, fit

    cfg = TrainConfig(**settings)
    ds = IsingDataset(path)
    keras.utils.set_random_seed(random.int_seed(0, "weights"))
    model = build_model(cfg, ds.L, ds.n // cfg.batch_size)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate))

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.start = time.perf_counter()

    clock = Clock()
    fit(model, ds, epochs=epochs + 1, batch_size=cfg.batch_size, seed=0, augment=cfg.augment,
        callbacks=[clock])
    seconds = time.perf_counter() - clock.start
    configs = epochs * (ds.n // cfg.batch_size) * cfg.batch_size
    return {"configs_per_second": configs / seconds, "seconds": seconds, "configs": configs,
            "parameters": int(model.count_params()), "batch_size": cfg.batch_size,
            "threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=16)
    ap.add_argument("--n", type=int, default=8192, help="training configurations")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs")
    ap.add_argument("--quick", action="store_true", help="2048 configurations, 1 epoch")
    ap.add_argument("--flows", action="store_true",
                    help="also the flow posteriors and the two-level model")
    args = ap.parse_args()
    n, epochs = (2048, 1) if args.quick else (args.n, args.epochs)
    models = {**MODELS, **(FLOW_MODELS if args.flows else {})}
    with tempfile.TemporaryDirectory() as tmp:
        path = random_file(Path(tmp) / "random.h5", args.L, n)
        results = {name: measure(path, settings, epochs) for name, settings in models.items()}
    base = results["reference"]["configs_per_second"]
    print(f"VAE training throughput, L = {args.L}, {n} configurations, {epochs} timed "
          f"epoch(s), {os.cpu_count()} CPU(s)")
    print(f"{'model':>10} {'params':>9} {'configs/s':>10} {'vs reference':>13}")
    for name, r in results.items():
        print(f"{name:>10} {r['parameters']:9d} {r['configs_per_second']:10.0f} "
              f"{r['configs_per_second'] / base:12.2f}x")
    for name, r in results.items():
        print(json.dumps({"benchmark": "train_throughput", "model": name, "L": args.L,
                          "settings": {k: list(v) if isinstance(v, tuple) else v
                                       for k, v in models[name].items()},
                          **{k: round(v, 3) if isinstance(v, float) else v
                             for k, v in r.items()},
                          "ratio_to_reference": round(r["configs_per_second"] / base, 3)}))


if __name__ == "__main__":
    main()
