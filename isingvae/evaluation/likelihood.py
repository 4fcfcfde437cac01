r"""Held-out log-likelihood of a trained model: the importance-weighted estimate.

For a configuration ``x`` and ``K`` posterior samples ``z_k ~ q(z|x)`` (Burda et al.
2016),

.. math::

    \log p(x) \approx \log \frac1K \sum_{k=1}^K w_k, \qquad
    w_k = \frac{p(x \mid z_k)\, p(z_k)}{q(z_k \mid x)},

a lower bound in expectation that rises to :math:`\log p(x)` as ``K`` grows (``K = 1``
is the ELBO).  Its Monte Carlo variance is estimated by the delta method from the
normalised weights :math:`\bar w_k`,
:math:`\mathrm{Var} \approx (K \sum_k \bar w_k^2 - 1) / (K - 1)`.  :func:`evaluate`
averages :math:`-\log p(x) / L^2` over the held-out configurations at each temperature
(the chains a run never saw, from :meth:`isingvae.training.RunDir.held_out`), with the
jackknife over Markov chains for the error bar, and sets it against the exact entropy
per spin of the torus (Kaufman), the floor no model can beat.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from isingvae import _validate as _v
from isingvae import random
from isingvae._locks import exclusive
from isingvae._version import __version__
from isingvae.errors import InputError
from isingvae.stats.resampling import chain_stderr

__all__ = ["MAX_IW_SAMPLES", "evaluate", "iw_statistics", "log_weight_parts"]

#: importance samples per configuration at most (2^20: beyond it the estimate's bias is
#: far below its noise, and the time grows linearly)
MAX_IW_SAMPLES = 2**20


def log_weight_parts(model, parts, x: np.ndarray, k: int, key, budget: int = 1 << 25,
                     on_batch=None):
    """log p(x|z), log p(z), log q(z|x) for ``k`` posterior samples: arrays ``(k, n)``.

    ``parts`` is ``model.log_weight_parts`` (compiled once by the caller); ``key`` a
    stateless seed (two int64), refined by the batch and chunk.  Configurations go
    through in batches and samples in chunks, sized so that the decoder's largest
    activation stays within ``budget`` floats.
    """
    import tensorflow as tf

    fold = tf.random.experimental.stateless_fold_in
    widest = max(model.filters or (1,))
    if getattr(model, "decoder_kind", "factorized") == "autoregressive":
        widest = max(widest, 2 * model.decoder_width)
    per_sample = model.L * model.L * (1 + widest)
    chunk = max(1, min(k, budget // (per_sample * 64)))
    batch = max(1, min(len(x), budget // (per_sample * chunk)))
    out = [np.empty((k, len(x))) for _ in range(3)]
    root = tf.constant(key, tf.int64)
    for b0 in range(0, len(x), batch):
        xb = tf.constant(x[b0:b0 + batch], tf.float32)
        for c0 in range(0, k, chunk):
            n = min(chunk, k - c0)
            res = parts(xb, n, fold(fold(root, b0), c0))
            for arr, r in zip(out, res, strict=True):
                arr[c0:c0 + n, b0:b0 + len(xb)] = r.numpy()
        if on_batch is not None:
            on_batch(len(xb))
    return out


def iw_statistics(log_px: np.ndarray, log_pz: np.ndarray, log_q: np.ndarray) -> dict:
    """Per-configuration estimates from ``(K, n)`` log-weight parts (nats per configuration).

    ``log_p``: the importance-weighted estimate log (1/K) sum_k w_k; ``elbo``: the mean
    of log w_k; ``kl``: the mean of log q - log p(z); ``recon``: -mean log p(x|z);
    ``mc_var``: the delta-method variance of ``log_p`` from the spread of the weights.
    """
    from scipy.special import logsumexp

    logw = log_px + log_pz - log_q
    k = logw.shape[0]
    lse = logsumexp(logw, axis=0)
    w = np.exp(logw - lse)                     # normalised weights, sum 1 per column
    mc_var = np.maximum(k * np.sum(w * w, axis=0) - 1.0, 0.0) / max(k - 1, 1)
    return {"log_p": lse - math.log(k), "elbo": logw.mean(axis=0),
            "kl": (log_q - log_pz).mean(axis=0), "recon": -log_px.mean(axis=0),
            "mc_var": mc_var}


def evaluate(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    iw_samples: int = 1000,
    seed: int = 0,
    temperatures: Sequence[float] | None = None,
    progress: bool | None = None,
) -> dict:
    """Held-out NLL per spin of a trained run, per temperature; writes ``evaluation.json``.

    ``nll_per_spin`` is ``-log p(x) / L^2`` estimated with ``iw_samples`` importance
    samples per configuration, averaged over the held-out configurations at that
    temperature; ``nll_stderr`` its standard error (jackknife over Markov chains);
    ``elbo_per_spin`` and ``kl_per_spin`` are the negative ELBO and its KL term, per
    spin.  ``data`` defaults to the training file; on it (or any file with the same
    data) the held-out rows are the chains the run never saw, at the temperatures it
    trained on; any other file is foreign to the training and used whole (``held_out``
    and ``data_relation`` say which).  For a model conditioned on temperature the
    estimate is of ``-log p(x | T) / L^2`` at each row's temperature.  ``temperatures``
    restricts the evaluation.  Extra keys: the exact entropy per spin of the Boltzmann
    distribution (Kaufman; no model's NLL can lie below it) and the ratio to it.
    """
    from isingvae.data import IsingDataset
    from isingvae.training import RunDir

    iw_samples = _v.count("--iw-samples", iw_samples, 1, MAX_IW_SAMPLES)
    seed = _v.seed(seed)
    run = RunDir(run_dir)
    record = run.trained()
    data = Path(data) if data is not None else Path(record["data"]["path"])
    ds = IsingDataset(data)
    if ds.n == 0:
        raise InputError(f"{data} holds no configurations to evaluate on")
    if ds.L != int(record["data"]["L"]):
        raise InputError(f"{data} holds L = {ds.L} lattices; the model in {run.path} was "
                         f"trained on L = {record['data']['L']}")
    ds.require_temperatures("evaluate on Monte Carlo data")
    held = run.held_out(ds, record)
    rows = held.rows
    if temperatures is not None:
        rows = rows.select(temperature=list(temperatures))
    if rows.n == 0:
        raise InputError(f"no held-out configurations in {data}")
    with exclusive(run.path):
        return _evaluate(run, rows, held, ds, data, iw_samples, seed, progress)


def _evaluate(run, rows, held, ds, data, iw_samples, seed, progress) -> dict:
    import tensorflow as tf

    from isingvae import exact
    from isingvae.evaluation.heads import head_block
    from isingvae.progress import Progress

    model, _ = run.load()
    parts = tf.function(model.log_weight_parts)
    n_spins = model.L * model.L
    bar = Progress(total=rows.n, desc="evaluate", unit="config", enabled=progress)
    out = []
    for temp, part in rows.by_temperature():
        key = random.tf_key(seed, "importance", *random.float_words(temp))
        x = model.with_temperature(part.x, temp) if getattr(model, "conditioned", False) \
            else part.x
        st = iw_statistics(*log_weight_parts(model, parts, x, iw_samples, key,
                                             on_batch=bar.update))
        nll = -st["log_p"] / n_spins
        row = {"temperature": temp, "n": int(part.n),
               "nll_per_spin": float(nll.mean()),
               "nll_stderr": chain_stderr(nll, part.chain),
               "elbo_per_spin": float(-st["elbo"].mean() / n_spins),
               "kl_per_spin": float(st["kl"].mean() / n_spins),
               "recon_per_spin": float(st["recon"].mean() / n_spins),
               "nll_mc_stderr": float(math.sqrt(st["mc_var"].sum()) / part.n / n_spins),
               "chains": int(np.unique(part.chain).size)}
        if (ex := exact.reference(ds.L, temp, ds.J, ds.h)) is not None:
            s = float(ex.entropy)
            row["exact_entropy_per_spin"] = s
            row["nll_over_entropy"] = row["nll_per_spin"] / s
        out.append(row)
    bar.close()
    result = {"iw_samples": iw_samples, "per_temperature": out,
              "data": str(data.resolve()), "held_out": held.label,
              "data_relation": held.relation, "seed": seed, "package_version": __version__}
    if getattr(model, "predicts", ()):
        result["head"] = head_block(model, rows, out)
    run.write_evaluation(result)
    return result
