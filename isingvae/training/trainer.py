"""Training: :func:`train` makes a run directory; :func:`fit` is the one training loop.

Training is reproducible from the seed: the weights are initialised from the seed's
``weights`` stream, every epoch's batch order and symmetry augmentation are functions
of ``(seed, epoch, batch)`` (:meth:`isingvae.data.IsingDataset.epoch_batches`), and the
posterior noise of a step is a function of ``(noise seed, step)``
(:class:`isingvae.models.VAE`).  So a run killed at any moment and started again with
the same command continues from its last finished epoch and ends with the same weights
as a run never interrupted.  :func:`fit` is shared by :func:`train`, the information
plane (:mod:`isingvae.analysis.infoplane`) and ``benchmarks/train_throughput.py``, so
all three train exactly the same way.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isingvae import _validate as _v
from isingvae import random
from isingvae._locks import exclusive
from isingvae._version import __version__
from isingvae.errors import InputError
from isingvae.training.build import (
    conditions_on_temperature,
    memory_estimate,
    temperature_scale,
)
from isingvae.training.config import TrainConfig
from isingvae.training.labels import check_labels, label_mask
from isingvae.training.rundir import RunDir

__all__ = ["TrainResult", "fit", "learning_rate", "train", "training_data"]


@dataclass
class TrainResult:
    run_dir: Path
    epochs_run: int
    resumed_from: int
    already_complete: bool
    seconds: float
    configs_per_second: float
    final: dict = field(default_factory=dict)


def training_data(data, temperatures=None):
    """The Monte Carlo rows a run may train on: the file's rows (at ``temperatures``
    when given), refused when their temperature is unknown."""
    from isingvae.data import IsingDataset

    ds = IsingDataset(data)
    _v.lattice_size(ds.L, f"the lattice size of {ds.path}")
    if temperatures is not None:
        ds = ds.select(temperature=list(temperatures))
    ds.require_temperatures("train on Monte Carlo data")
    return ds


def learning_rate(config, steps_per_epoch: int):
    """Adam's step size for ``config``: the number ``--learning-rate``, or for
    ``--lr-schedule cosine`` a cosine decay from it to 0 over every step of every epoch
    (a function of the optimizer's step count, which the backup restores, so a resumed
    run continues the same schedule)."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    import keras

    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=max(1, steps_per_epoch * config.epochs))


#: posterior draws per training configuration that the prior is fitted to
PRIOR_FIT_DRAWS = 4


def fit_prior(model, rows, config) -> tuple[float, float]:
    """Fit a conditional model's prior p(z|T) to :data:`PRIOR_FIT_DRAWS` posterior
    draws of every training configuration (and of its spin flip when the field is 0, as
    training augments), ``config.prior_fit`` steps or
    :data:`~isingvae.models.options.PRIOR_FIT_PASSES` passes over the codes, whichever is
    fewer (:meth:`VAE.fit_prior`); returns the codes' mean ``-log p(z|T)`` before and
    after."""
    import tensorflow as tf

    from isingvae.models.options import PRIOR_FIT_PASSES

    x, temps = rows.x, rows.temperature
    if rows.h == 0:
        x, temps = np.concatenate([x, 1.0 - x]), np.concatenate([temps, temps])
    fold = tf.random.experimental.stateless_fold_in
    key = tf.constant(random.tf_key(config.seed, "prior-fit"), tf.int64)
    codes, ts = [], []
    for start in range(0, len(x), 1024):
        inputs = model.with_temperature(x[start:start + 1024], temps[start:start + 1024])
        z, _, _ = model.posterior_sample(inputs, PRIOR_FIT_DRAWS, fold(key, start))
        codes.append(tf.reshape(z, [-1, model.latent_dim]))
        t = model.standardize(temps[start:start + 1024])
        ts.append(tf.reshape(tf.tile(t[None, :], [PRIOR_FIT_DRAWS, 1]), [-1, 1]))
    return model.fit_prior(tf.concat(codes, 0), tf.concat(ts, 0), config.prior_fit,
                           fold(key, -1), passes=PRIOR_FIT_PASSES)


def _strategy(name: str):
    import tensorflow as tf

    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
            [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def fit(model, train_rows, *, epochs: int, batch_size: int, seed: int, augment: bool = True,
        labels: np.ndarray | None = None, validation=None, start_epoch: int = 0,
        callbacks=(), verbose: int = 0):
    """Fit a compiled model on reproducible batches of the view ``train_rows`` for epochs
    ``start_epoch .. epochs - 1``; returns Keras's ``History``.

    ``labels``: one row per configuration (temperature, mask), gathered with the same
    permutation as ``x``; ``validation``: a ``tf.data`` dataset scored after each epoch.
    """
    batches, steps = train_rows.epoch_batches(
        batch_size=batch_size, epochs=epochs, start_epoch=start_epoch, seed=seed,
        augment=augment, flip=train_rows.h == 0, labels=labels)
    return model.fit(batches, epochs=epochs, initial_epoch=start_epoch,
                     steps_per_epoch=steps, validation_data=validation, verbose=verbose,
                     shuffle=False, callbacks=list(callbacks))


def train(
    data: str | os.PathLike,
    out: str | os.PathLike,
    config: TrainConfig | None = None,
    *,
    force: bool = False,
    verbose: int | None = None,
) -> TrainResult:
    """Train the model ``config`` describes on ``data`` into the run directory ``out``.

    ``verbose``: 0 silent, 1 Keras progress bar, 2 one line per epoch; ``None`` picks 1
    on a terminal and 2 otherwise.  Re-running an interrupted run resumes it; a finished
    run is left as it is (``already_complete``); other settings in ``out`` raise
    :class:`InputError` unless ``force``.
    """
    config = config if config is not None else TrainConfig()
    run = RunDir(out)
    ds = training_data(data, config.temperatures)
    _v.fits_in_memory(
        f"a model of --latent-dim {config.latent_dim}, widths {config.filters} and "
        f"{config.units}, batch {config.batch_size} at L = {ds.L}",
        memory_estimate(config, ds.L))
    parts = ds.split(config.fractions, seed=config.split_seed)
    if parts.train.n < config.batch_size:
        raise InputError(f"the training split of {ds.path} has {parts.train.n} "
                         f"configuration(s), fewer than one batch of {config.batch_size}; "
                         f"lower --batch-size or use more data")
    record = RunDir.new_record(config, ds, parts, __version__)
    labels = None
    if config.head != "none":
        mask = label_mask(parts.train.temperature, config.label_fraction, config.label_window,
                          config.seed)
        check_labels(config, parts.train.temperature, mask)
        labels = np.stack([parts.train.temperature, mask], axis=1).astype(np.float32)
        record["labelled_rows"] = int(mask.sum())
    if config.condition == "temperature" and parts.train.temperatures.size < 2:
        raise InputError(f"--condition temperature needs training data at two or more "
                         f"temperatures; {ds.path} gives {parts.train.temperatures.size} "
                         f"({ds.temperatures.tolist()}); use --condition none")
    if conditions_on_temperature(config, parts.train.temperature):
        labels = parts.train.temperature.astype(np.float32)
        temps, counts = np.unique(parts.train.temperature, return_counts=True)
        record["conditioning"] = {**temperature_scale(parts.train.temperature),
                                  "temperatures": temps.tolist(), "rows": counts.tolist()}
    with exclusive(run.path):
        if run.prepare(record, force) == "complete":
            return TrainResult(run.path, 0, config.epochs, True, 0.0, 0.0)
        return _train(run, config, ds, parts, labels, verbose)


def _train(run, config, ds, parts, labels, verbose) -> TrainResult:
    from isingvae.training.build import build_model
    from isingvae.training.callbacks import callbacks

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    keras.utils.set_random_seed(random.int_seed(config.seed, "weights"))
    strategy = _strategy(config.strategy)
    steps = parts.train.n // config.batch_size
    with strategy.scope():
        model = build_model(config, ds.L, steps, parts.train.temperature)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate(config, steps)))
    start = min(run.backup_epoch(), config.epochs)
    t0 = time.perf_counter()
    final = {}
    if start < config.epochs:
        val = None
        if parts.validation.n:
            val = parts.validation.to_tf(batch_size=512, shuffle=False,
                                         targets=None if labels is None else "temperature")
        hist = fit(model, parts.train, epochs=config.epochs, batch_size=config.batch_size,
                   seed=config.seed, augment=config.augment, labels=labels, validation=val,
                   start_epoch=start, callbacks=callbacks(run, start), verbose=verbose)
        final = {k: float(v[-1]) for k, v in hist.history.items() if v}
    else:   # killed after the last backup but before model.keras was written
        model.optimizer.build(model.trainable_variables)
        model.load_weights(run.backup_dir / "latest.weights.h5")
    if config.prior_fit and getattr(model, "prior_net", None) is not None:
        before, after = fit_prior(model, parts.train, config)
        final.update(prior_nll_before=before, prior_nll_after=after)
        if verbose:
            print(f"prior p(z|T) fitted to the codes of the training rows: -log p(z|T) "
                  f"{before:.3f} -> {after:.3f} nats", flush=True)
    seconds = time.perf_counter() - t0
    run.save_model(model)
    epochs_run = config.epochs - start
    rate = epochs_run * steps * config.batch_size / seconds if seconds > 0 else 0.0
    return TrainResult(run.path, epochs_run, start, False, seconds, rate, final)
