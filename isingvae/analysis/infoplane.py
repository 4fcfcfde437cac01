r"""The information plane of the variational information bottleneck, over a beta grid.

For each ``beta`` a :class:`isingvae.models.VIB` (encoder and phase head, no decoder) is
trained on the training chains of a file, and on held-out chains two bounds are
measured (Alemi et al. 2017, section 2):

.. math::

    I(Z;X) \le R = E_{p(x)} KL(q(z|x) \,\|\, p(z)),
    \qquad
    I(Z;Y) \ge H(Y) - E_{p(x,y)} E_{q(z|x)}[-\log q(y|z)],

with ``H(Y)`` the entropy of the held-out phase labels (ordered: ``T < T_c``), all in
nats.  Small ``beta`` keeps much of ``x`` in ``z`` (large rate ``R``); large ``beta``
squeezes ``z`` until it carries nothing about the phase either.  The points, with the
held-out accuracy, go to ``infoplane.json``; ``infoplane.png`` draws them.

>>> # information_plane("data/ising_L16.h5", "plane", betas=[1e-3, 1e-2, 0.1, 1.0])
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from isingvae import _validate as _v
from isingvae import random
from isingvae._atomic import write_text
from isingvae.errors import InputError

__all__ = ["binary_entropy", "information_plane", "plot_information_plane"]


def binary_entropy(p: float) -> float:
    """Entropy in nats of a Bernoulli(p) label.

    >>> round(binary_entropy(0.5), 6) == round(math.log(2), 6)
    True
    """
    p = float(p)
    if p <= 0 or p >= 1:
        return 0.0
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def _held_out_bounds(model, x: np.ndarray, temperature: np.ndarray, samples: int, seed: int,
                     batch_size: int = 1024) -> dict:
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def terms(xb, tb, s):
        log_lik, kl, _, z = model.vib_terms(xb, tb, s)
        right = tf.cast((model._head_point(z) > 0.5) == (tb < model.tc), tf.float32)
        return log_lik, kl, right

    fold = tf.random.experimental.stateless_fold_in
    root = tf.constant(random.tf_key(seed, "importance"), tf.int64)
    nll, kl, right = [], [], []
    for k in range(samples):
        for b in range(0, len(x), batch_size):
            s = fold(fold(root, k), b)
            ll, r, ok = terms(tf.constant(x[b:b + batch_size], tf.float32),
                              tf.constant(temperature[b:b + batch_size], tf.float32), s)
            nll.append(-ll.numpy())
            kl.append(r.numpy())
            right.append(ok.numpy())
    return {"head_nll": float(np.concatenate(nll).mean()),
            "rate": float(np.concatenate(kl).mean()),
            "accuracy": float(np.concatenate(right).mean())}


def information_plane(
    data: str | os.PathLike,
    out: str | os.PathLike,
    betas: Sequence[float],
    *,
    latent_dim: int = 2,
    epochs: int = 3,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    filters: Sequence[int] = (8, 16),
    units: Sequence[int] = (64,),
    flow: str = "none",
    flow_depth: int = 0,
    temperatures: Sequence[float] | None = None,
    samples: int = 4,
    seed: int = 0,
    verbose: int = 0,
) -> dict:
    """Train one phase VIB per ``beta`` and write ``OUT/infoplane.json`` and
    ``OUT/infoplane.png`` (module docstring).  Returns the JSON record: ``points`` with
    ``beta``, ``i_zx_upper_nats`` (the rate), ``i_zy_lower_nats``, ``head_nll_nats`` and
    held-out ``accuracy``; ``h_y_nats``; the settings.  ``samples`` posterior draws per
    held-out configuration estimate the expectations."""
    import keras

    from isingvae.data import IsingDataset
    from isingvae.exact import critical_temperature
    from isingvae.models import VIB
    from isingvae.training import fit

    betas = [_v.real("beta", b, nonnegative=True) for b in betas]
    if not betas:
        raise InputError("give at least one beta")
    epochs = _v.count("epochs", epochs)
    samples = _v.count("samples", samples)
    ds = IsingDataset(data)
    if temperatures is not None:
        ds = ds.select(temperature=list(temperatures))
    parts = ds.split(seed=seed)
    train, held = parts.train, parts.test if parts.test.n else parts.validation
    tc = critical_temperature()
    ordered = held.temperature < tc
    if ordered.all() or not ordered.any():
        raise InputError(f"{ds.path}: the held-out chains must include both phases")
    h_y = binary_entropy(float(ordered.mean()))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    points = []
    for beta in betas:
        keras.utils.set_random_seed(random.int_seed(seed, "weights"))
        model = VIB(ds.L, latent_dim, head="phase", beta=beta, filters=tuple(filters),
                    units=tuple(units), noise_seed=random.int_seed(seed, "posterior-noise"),
                    flow=flow, flow_depth=flow_depth)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate))
        fit(model, train, epochs=epochs, batch_size=batch_size, seed=seed,
            labels=train.temperature, verbose=verbose)
        b = _held_out_bounds(model, held.x, held.temperature, samples, seed)
        points.append({"beta": beta, "i_zx_upper_nats": b["rate"],
                       "i_zy_lower_nats": h_y - b["head_nll"], "head_nll_nats": b["head_nll"],
                       "accuracy": b["accuracy"]})
    record = {"data": str(Path(data).resolve()), "L": ds.L, "h_y_nats": h_y,
              "held_out_configurations": int(held.n), "points": points,
              "settings": {"latent_dim": latent_dim, "epochs": epochs,
                           "batch_size": batch_size, "learning_rate": learning_rate,
                           "filters": list(filters), "units": list(units), "flow": flow,
                           "flow_depth": flow_depth, "samples": samples, "seed": seed},
              "note": "i_zx_upper_nats: E KL(q(z|x) || N(0, I)) >= I(Z;X); i_zy_lower_nats: "
                      "H(Y) - E[-log q(y|z)] <= I(Z;Y); on held-out chains, in nats"}
    write_text(out / "infoplane.json", json.dumps(record, indent=2) + "\n")
    record["figure"] = plot_information_plane(out / "infoplane.png", record)
    return record


def plot_information_plane(path: str | os.PathLike, record: dict) -> str:
    """The points of :func:`information_plane`, labelled by beta; returns the file name."""
    from matplotlib.figure import Figure

    from isingvae.analysis.figures import _save

    pts = record["points"]
    rate = np.array([p["i_zx_upper_nats"] for p in pts])
    info = np.array([p["i_zy_lower_nats"] for p in pts])
    fig = Figure(figsize=(5.5, 4.2))
    ax = fig.add_subplot()
    ax.plot(rate, info, "o-", color="C0")
    for p, r, i in zip(pts, rate, info, strict=True):
        ax.annotate(f"β={p['beta']:g}", (r, i), textcoords="offset points", xytext=(4, 4),
                    fontsize=8)
    ax.axhline(record["h_y_nats"], color="0.4", ls="--", lw=1, label="H(Y)")
    if np.all(rate > 0):
        ax.set_xscale("log")
    ax.set_xlabel("I(Z;X) upper bound: E KL(q(z|x) || p(z)) (nats)")
    ax.set_ylabel("I(Z;Y) lower bound: H(Y) − E[−log q(y|z)] (nats)")
    ax.set_title(f"information plane, phase VIB, L = {record['L']}")
    ax.legend(loc="lower right")
    return _save(fig, Path(path))
