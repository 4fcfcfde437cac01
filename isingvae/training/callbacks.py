"""Keras callbacks of a training run: divergence guard, history, crash-safe backup.

- :class:`NaNGuard` stops at the first non-finite loss with a
  :class:`TrainingDiverged` error that says what to change;
- :class:`History` rewrites ``history.csv`` atomically after every epoch (before the
  backup is saved, so the history never lags the weights);
- :class:`AtomicBackup` is Keras's ``BackupAndRestore`` with its two files (weights,
  then the epoch counter) each replaced atomically.  Plain ``BackupAndRestore`` writes
  the weights file in place: a kill during that write leaves a torn file that the
  resumed run cannot read, which the resume guarantee (same weights as an
  uninterrupted run, tested by killing a run) does not allow.  The override touches
  one private method, ``_save_model``; ``tests/test_training.py`` pins the file names
  it relies on.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import keras

from isingvae import _atomic
from isingvae.errors import InputError

__all__ = ["AtomicBackup", "History", "NaNGuard", "TrainingDiverged", "callbacks"]


class TrainingDiverged(InputError):
    """The loss became NaN or infinite: the settings, not the code, need changing."""


class NaNGuard(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"training diverged: the loss became {loss} at epoch {self.epoch + 1}, "
                f"batch {batch + 1}; lower --learning-rate or --beta, or raise "
                f"--batch-size (the run resumes from its last finished epoch)")


class History(keras.callbacks.Callback):
    """One row per finished epoch (seconds and every logged metric), kept by ``run``."""

    def __init__(self, run, start: int):
        super().__init__()
        self.run = run
        self.rows = run.history(before_epoch=start)
        self.t0 = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, "seconds": round(time.perf_counter() - self.t0, 3)}
        row.update({k: float(v) for k, v in sorted((logs or {}).items())})
        self.rows.append(row)
        self.run.write_history(self.rows)


class AtomicBackup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` whose files are replaced atomically (module docstring)."""

    def _save_model(self):
        Path(self.backup_dir).mkdir(parents=True, exist_ok=True)
        # HDF5 writes the weights itself, and a full disk in the middle of that ends in a
        # crash, not an error: refuse first when they cannot fit (their size is known)
        variables = [*self.model.variables, *getattr(self.model.optimizer, "variables", [])]
        _atomic.require_space(self._weights_path,
                              2 * sum(int(v.numpy().nbytes) for v in variables))
        with _atomic.atomic_file(self._weights_path) as tmp:
            named = tmp.with_name(tmp.name + ".weights.h5")   # Keras wants the suffix
            try:
                self.model.save_weights(named, overwrite=True)
                os.replace(named, tmp)
            finally:
                named.unlink(missing_ok=True)
        _atomic.write_text(self._training_metadata_path,
                           json.dumps({"epoch": self._current_epoch,
                                       "batch": self._last_batch_seen}))


def callbacks(run, start: int) -> list:
    """The callbacks of a run (a :class:`~isingvae.training.RunDir`) resumed at epoch
    ``start``."""
    return [NaNGuard(), History(run, start), AtomicBackup(str(run.backup_dir))]
