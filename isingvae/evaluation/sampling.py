"""Configurations drawn from a trained model, written in the HDF5 layout of the data.

Each configuration is independent: ``z`` from the prior (or, for a model that
conditions on temperature, the prior at that temperature), then every spin from its
Bernoulli probability ``sigmoid(logit)``.  Latents and spins of batch ``b`` come from
the ``generate`` random stream of the seed refined by ``b`` (:mod:`isingvae.random`),
so the same seed gives the same bits whatever else runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from isingvae import _validate as _v
from isingvae import random
from isingvae.errors import InputError

__all__ = ["sample"]


def _made_by(path: Path) -> tuple[str | None, str]:
    """The ``made_by`` record of an existing file and a few words on what it is."""
    from isingvae.storage import read_header

    try:
        head = read_header(path)
    except InputError:
        return None, "not an isingvae configuration file"
    return head.attrs.get("made_by"), (f"an isingvae file of {head.n} configurations, "
                                        f"algorithm {head.algorithm!r}")


def sample(
    run_dir: str | os.PathLike,
    n: int,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    temperature: float | None = None,
    force: bool = False,
    batch_size: int = 4096,
) -> Path:
    """Draw ``n`` configurations from a trained run into an HDF5 file
    (``docs/interfaces.md`` §1).

    Rows carry ``chain = 0 .. n-1`` (no two share a chain), ``algorithm = "vae"`` and,
    for a model that does not condition on temperature, ``temperature = NaN``.  The file
    records what made it (attribute ``made_by``: the run, a digest of its model, ``n``,
    the seed and the temperature).  An existing ``out`` is left alone when it is exactly
    this output already, and refused otherwise (:class:`InputError`) unless ``force``.

    ``temperature``: generate at that temperature, for a model that conditions on it
    (M2 with temperature classes, ``--head m2-temperature``; ``T`` must be one of its
    classes); the file's temperature column is then ``T``.  Other models refuse it.
    """
    from isingvae import lattice
    from isingvae._locks import exclusive
    from isingvae.storage import write_ising_file
    from isingvae.training import RunDir

    n = _v.count("--n", n)
    seed = _v.seed(seed)
    if temperature is not None:
        temperature = _v.real("--temperature", temperature, positive=True)
    out = Path(out)
    run = RunDir(run_dir)
    record = run.trained()
    L = int(record["data"]["L"])
    _v.fits_in_memory(f"--n {n} at L = {L}", n * (L * L + 40))
    with exclusive(out):
        made_by = json.dumps({"command": "sample", "run_dir": str(run.path.resolve()),
                              "model_sha256": run.model_digest(), "n": n, "seed": seed,
                              "temperature": temperature}, sort_keys=True)
        if out.exists():
            prior, what = _made_by(out)
            if prior == made_by:
                return out                      # exactly this output already: same bits
            if not force:
                raise InputError(f"{out} exists and is {what}, not made by this command; "
                                 f"choose another --out, or pass --force to replace it")
        import tensorflow as tf

        model, record = run.load()
        cls = None
        if temperature is not None:
            if not hasattr(model, "class_index_of_temperature"):
                raise InputError(f"the model in {run.path} does not condition on "
                                 f"temperature; drop --temperature, or train with --head "
                                 f"m2-temperature")
            cls = model.class_index_of_temperature(temperature)
        fold = tf.random.experimental.stateless_fold_in
        root = tf.constant(random.tf_key(seed, "generate"), tf.int64)
        spins = np.empty((n, L, L), np.int8)
        for b0 in range(0, n, batch_size):
            m = min(batch_size, n - b0)
            key = fold(root, b0)
            latent_key, spin_key = fold(key, 0), fold(key, 1)
            logits = model.sample_logits(m, latent_key) if cls is None else \
                model.sample_logits_for_class(m, latent_key, cls)
            u = tf.random.stateless_uniform(tf.shape(logits), seed=spin_key)
            up = tf.math.log(u) < tf.math.log_sigmoid(logits)     # P(up) = sigmoid(logit)
            spins[b0:b0 + m] = np.where(up.numpy()[..., 0], 1, -1)
        data = record["data"]
        return write_ising_file(
            out, L=L, J=data["J"], h=data["h"], seed=seed, algorithm="vae", spins=spins,
            temperature=np.full(n, np.nan if temperature is None else temperature),
            energy=lattice.energy(spins, data["J"], data["h"]),
            magnetization=lattice.magnetization(spins), chain=np.arange(n),
            attrs={"run_dir": str(run.path.resolve()), "model_settings": record["settings"],
                   "made_by": made_by})
