"""HDF5 write throughput and size per configuration, and end-to-end ``generate`` time.

Prints a table and one JSON line per measurement.

1. Writing: the same N x L x L int8 configurations written with gzip (level 4 with
   byte shuffle), lzf and no compression; MB/s of raw spin data written, bytes per
   stored configuration and per spin, and the ratio against uncompressed writing
   measured in the same run.  Data are real Monte Carlo configurations (compression
   depends on how ordered they are), taken from the end-to-end run below.
2. End to end: ``isingvae generate`` for L = 40, 16 temperatures through Tc x 1000
   configurations (the size of the classic Ising-VAE dataset), wall time and the
   share spent in Monte Carlo.

Usage: python benchmarks/storage_generate.py [--L 40] [--temperatures 16] [--samples 1000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from isingvae import storage
from isingvae.generation import GenerationPlan, generate


def emit(record: dict) -> None:
    print(json.dumps({"benchmark": "storage_generate", **record}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=40)
    ap.add_argument("--temperatures", type=int, default=16)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--algorithm", default="auto")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        temps = tuple(float(t) for t in np.linspace(1.0, 3.5, args.temperatures))
        plan = GenerationPlan(L=args.L, temperatures=temps, samples=args.samples,
                              chains=min(64, args.samples), seed=0, algorithm=args.algorithm)
        out = tmp / "bench.h5"
        res = generate(plan, out, progress=False)
        mc_share = res.seconds_monte_carlo / res.seconds
        print(f"generate L={args.L}, {len(temps)} T x {args.samples}: {res.seconds:.1f} s wall, "
              f"{res.seconds_monte_carlo:.1f} s Monte Carlo ({100 * mc_share:.0f} %)")
        with h5py.File(out) as f:
            algos = list(json.loads(f.attrs["algorithm_per_temperature"]))
            thin = f.attrs["thinning_sweeps"].tolist()
        print(f"  algorithm per T: {algos}")
        print(f"  thinning (sweeps) per T: {thin}")
        emit({"what": "generate", "L": args.L, "temperatures": len(temps),
              "samples": args.samples, "wall_s": res.seconds,
              "monte_carlo_s": res.seconds_monte_carlo, "monte_carlo_share": mc_share,
              "algorithms": algos, "thinning_sweeps": thin})

        with h5py.File(out) as f:
            cols = {k: f[k][...] for k in storage.DATASETS}
        n, L = cols["spins"].shape[0], args.L
        raw_mb = cols["spins"].nbytes / 1e6
        baseline = None
        print(f"\nwriting {n} configurations of {L}x{L} ({raw_mb:.1f} MB of int8 spins):")
        print(f"{'compression':>12} {'MB/s':>8} {'x none':>7} {'B/config':>9} {'B/spin':>7}")
        for comp in (None, "lzf", "gzip"):
            best = np.inf
            for rep in range(3):
                path = tmp / f"w{comp}{rep}.h5"
                t0 = time.perf_counter()
                storage.write_ising_file(path, L=L, J=1.0, h=0.0, seed=0, algorithm="bench",
                                         compression=comp, **cols)
                best = min(best, time.perf_counter() - t0)
                size = path.stat().st_size
            rate = raw_mb / best
            baseline = baseline or rate
            per_config = size / n
            print(f"{comp or 'none':>12} {rate:8.1f} {rate / baseline:7.2f} {per_config:9.1f} "
                  f"{per_config / L**2:7.3f}")
            emit({"what": "write", "compression": comp or "none", "configs": n, "L": L,
                  "mb_per_s": rate, "ratio_vs_none": rate / baseline,
                  "bytes_per_config": per_config, "bytes_per_spin": per_config / L**2})


if __name__ == "__main__":
    main()
