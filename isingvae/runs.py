"""Run directories: train a VAE on a configuration file, evaluate it, sample from it.

A run directory (CONTRACTS section 3) holds

- ``config.json``: every setting of the run, the data file (path, generation seed, L,
  J, h) and the seed; written first, so an interrupted run knows what it was doing;
- ``history.csv``: one row per finished epoch (training and validation metrics, per
  spin), rewritten atomically after each epoch;
- ``model.keras``: the trained model, written (atomically) when training ends;
- ``backup/``: Keras ``BackupAndRestore`` state while training runs (weights,
  optimizer state and epoch, saved after every epoch), removed at the end;
- ``evaluation.json``: written by :func:`evaluate` (CONTRACTS section 4).

Training is reproducible from the seed: the weights are initialised from it, every
epoch's batch order and symmetry augmentation are functions of ``(seed, epoch,
batch)`` (:meth:`isingvae.data.IsingDataset.epoch_batches`), and the posterior noise of
a step is a function of ``(seed, step)`` (:class:`isingvae.models.VAE`).  So a run
killed at any moment and started again with the same command continues from its last
finished epoch and ends with the same weights as a run never interrupted.

Evaluation uses held-out Markov chains only: on the training file (recognised by its
generation seed and lattice) it takes the test split of ``config.json``'s split seed,
chains the training never saw; any other file is independent of the training data
and is used whole.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isingvae import _validate as _v
from isingvae._version import __version__
from isingvae.errors import InputError
from isingvae._atomic import write_text

__all__ = [
    "FLOWS",
    "HEADS",
    "STRATEGIES",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "build_model",
    "evaluate",
    "head_metrics",
    "label_mask",
    "load_run",
    "predictions",
    "sample",
    "train",
]

FLOWS = ("none", "planar", "radial", "iaf", "realnvp")
HEADS = ("none", "vib-temperature", "vib-phase", "m2-phase", "m2-temperature")
STRATEGIES = ("default", "mirrored")
PRIORS = ("normal", "maf")
#: flow layers when --flow is given without --flow-depth
DEFAULT_FLOW_DEPTH = 4
# the model's options, repeated here so that checking settings needs no TensorFlow
# (tests/test_runs.py checks they match isingvae.models.vae)
FAMILIES = ("conv", "dense")
KL_ESTIMATORS = ("analytic", "mc")
KL_SCHEDULES = ("none", "linear", "cyclical")
#: dense widths when none are given: after the convolutions (conv), or the whole MLP (dense)
DEFAULT_UNITS = {"conv": (128,), "dense": (512, 256)}
CONFIG, HISTORY, MODEL, EVALUATION, BACKUP = (
    "config.json", "history.csv", "model.keras", "evaluation.json", "backup")
_OWN_FILES = (CONFIG, HISTORY, MODEL, EVALUATION, BACKUP)


class TrainingDiverged(InputError):
    """The loss became NaN or infinite: the settings, not the code, need changing."""


def _label(name: str) -> str:
    """A setting's name with its command-line flag: ``latent dim (--latent-dim)``."""
    flag = {"family": "model"}.get(name, name).replace("_", "-")
    return f"{name.replace('_', ' ')} (--{flag})"


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (``config.json`` holds these and the data's identity).

    Model: ``family`` (``conv``: periodic convolutions, ``dense``: MLP), ``latent_dim``,
    ``filters`` (conv widths, one per level), ``units`` (dense widths; default
    :data:`DEFAULT_UNITS` of the family), ``activation``.  The defaults were chosen by
    measured held-out NLL and speed (see ``benchmarks/train_throughput.py``).
    Objective: ``beta``, ``kl_warmup`` (epochs of linear warm-up, or cycles' length with
    ``kl_schedule="cyclical"``: ``kl_cycles`` cycles over the run), ``free_bits`` (nats
    per latent dimension), ``kl_estimator`` (``analytic`` or ``mc``).  Optimisation:
    ``epochs``, ``batch_size``, ``learning_rate``, ``augment`` (random lattice symmetry
    per configuration and epoch).  Data: ``temperatures`` (a subset, or all), the split
    ``fractions`` and ``split_seed``.  ``strategy``: ``default`` or ``mirrored`` (every
    visible device).

    Richer posteriors and priors (issue #6): ``flow`` (``planar``, ``radial``, ``iaf``,
    ``realnvp``) with ``flow_depth`` layers (default :data:`DEFAULT_FLOW_DEPTH`),
    amortized (parameters or context from the encoder) unless ``flow_amortized`` is
    false; ``prior="maf"`` learns the prior with ``prior_depth`` masked autoregressive
    flows; ``levels=2`` builds the two-level top-down model with a top level of
    ``top_dim`` dimensions (default a quarter of ``latent_dim``).  A learned prior has no
    closed-form KL: ``check`` then sets ``kl_estimator`` to ``mc``.
    Supervision (issue #7): ``head`` is ``vib-phase`` or ``vib-temperature`` (the VAE
    with an information-bottleneck head on its posterior sample, weight
    ``head_weight`` per spin; :class:`isingvae.models.HeadVAE`) or ``m2-phase`` /
    ``m2-temperature`` (the semi-supervised M2 model with the phase or the file's
    temperatures as classes, classifier weight ``alpha = head_weight`` per spin;
    :class:`isingvae.models.M2`); ``head_units`` is the width of the head.  Labels come
    from the temperature column; ``label_window`` hides the labels of rows with
    ``|T - T_c| < label_window`` and ``label_fraction`` keeps that fraction of the rest
    (chosen with the seed), the others training unsupervised.
    """

    family: str = "conv"
    latent_dim: int = 32
    filters: tuple[int, ...] = (16, 32)
    units: tuple[int, ...] | None = None
    activation: str = "elu"
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    beta: float = 1.0
    kl_schedule: str = "linear"
    kl_warmup: int = 2
    kl_cycles: int = 4
    free_bits: float = 0.0
    kl_estimator: str = "analytic"
    augment: bool = True
    seed: int = 0
    split_seed: int = 0
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    temperatures: tuple[float, ...] | None = None
    strategy: str = "default"
    flow: str = "none"
    flow_depth: int | None = None
    flow_amortized: bool = True
    prior: str = "normal"
    prior_depth: int = 2
    levels: int = 1
    top_dim: int | None = None
    head: str = "none"
    head_weight: float = 1.0
    head_units: int = 64
    label_fraction: float = 1.0
    label_window: float = 0.0

    def __post_init__(self):
        for name in ("filters", "units", "fractions"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.temperatures is not None:
            object.__setattr__(self, "temperatures",
                               tuple(float(t) for t in self.temperatures))

    def check(self) -> TrainConfig:
        """Raise :class:`InputError` naming the first bad setting; return the settings
        with family-dependent defaults filled in (``units``)."""
        if self.units is None and self.family in DEFAULT_UNITS:
            return dataclasses.replace(self, units=DEFAULT_UNITS[self.family]).check()
        if self.flow_depth is None:
            depth = 0 if self.flow == "none" else DEFAULT_FLOW_DEPTH
            return dataclasses.replace(self, flow_depth=depth).check()
        if self.levels == 2 and self.top_dim is None and isinstance(self.latent_dim, int):
            return dataclasses.replace(self, top_dim=max(1, self.latent_dim // 4)).check()
        if self.kl_estimator == "analytic" and self.prior != "normal":
            return dataclasses.replace(self, kl_estimator="mc").check()

        for name, options in (("family", FAMILIES), ("kl_schedule", KL_SCHEDULES),
                              ("kl_estimator", KL_ESTIMATORS), ("strategy", STRATEGIES),
                              ("flow", FLOWS), ("prior", PRIORS), ("head", HEADS)):
            _v.choice(_label(name), getattr(self, name), options)
        for name, minimum in (("latent_dim", 1), ("epochs", 1), ("batch_size", 1),
                              ("kl_warmup", 0), ("kl_cycles", 1), ("seed", 0),
                              ("split_seed", 0), ("flow_depth", 0), ("prior_depth", 1),
                              ("levels", 1)):
            _v.count(_label(name), getattr(self, name), minimum)
        _v.real(_label("learning_rate"), self.learning_rate, positive=True)
        for name in ("beta", "free_bits"):
            _v.real(_label(name), getattr(self, name), nonnegative=True)
        for name in ("filters", "units"):
            for v in getattr(self, name):
                _v.count(f"every entry of {_label(name)}", v)
        if self.family == "conv" and not self.filters:
            raise InputError("a conv model needs at least one entry in filters")
        if self.flow != "none" and self.flow_depth < 1:
            raise InputError(f"--flow {self.flow} needs --flow-depth >= 1, got {self.flow_depth}")
        if self.flow == "none" and self.flow_depth:
            raise InputError(f"--flow-depth {self.flow_depth} needs a --flow")
        if self.flow == "realnvp" and self.latent_dim < 2:
            raise InputError("--flow realnvp needs --latent-dim >= 2")
        if self.levels not in (1, 2):
            raise InputError(f"levels (--levels) must be 1 or 2, got {self.levels}")
        if self.levels == 2:
            if self.flow != "none" or self.prior != "normal":
                raise InputError("the two-level model (--levels 2) takes no --flow or --prior")
            _v.count(_label("top_dim"), self.top_dim)
            if self.top_dim >= self.latent_dim:
                raise InputError(f"top dim (--top-dim) {self.top_dim} must be smaller than "
                                 f"the latent dim (--latent-dim) {self.latent_dim}")
        elif self.top_dim is not None:
            raise InputError(f"--top-dim {self.top_dim} needs --levels 2")
        _v.real(_label("head_weight"), self.head_weight, nonnegative=True)
        _v.count(_label("head_units"), self.head_units, 1)
        _v.real(_label("label_window"), self.label_window, nonnegative=True)
        fraction = _v.real(_label("label_fraction"), self.label_fraction, positive=True)
        if fraction > 1:
            raise InputError(f"label fraction (--label-fraction) must lie in (0, 1], got "
                             f"{self.label_fraction}")
        if self.head == "none" and (self.label_fraction != 1 or self.label_window != 0):
            raise InputError("--label-fraction and --label-window need a --head")
        if self.head != "none" and self.levels == 2:
            raise InputError(f"--head {self.head} does not combine with --levels 2")
        if self.head.startswith("m2") and (self.flow != "none" or self.prior != "normal"
                                           or self.kl_estimator != "analytic"):
            raise InputError(f"--head {self.head} (M2) takes no --flow, --prior or "
                             f"--kl-estimator mc")
        return self

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v)
                      for k, v in d.items() if k in names})


@dataclass
class TrainResult:
    run_dir: Path
    epochs_run: int
    resumed_from: int
    already_complete: bool
    seconds: float
    configs_per_second: float
    final: dict = field(default_factory=dict)


# --------------------------------------------------------------------- helpers


def _quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter off the terminal (unless the user asked)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _data_identity(ds) -> dict:
    h = ds.header
    return {"path": str(Path(ds.path).resolve()), "L": int(h.L), "J": float(h.J),
            "h": float(h.h), "seed": int(h.seed), "rows": int(h.n),
            "algorithm": str(h.algorithm)}


def _select(ds, temperatures):
    """The rows at ``temperatures`` (all when ``None``); an absent one raises InputError."""
    return ds if temperatures is None else ds.select(temperature=list(temperatures))


def _check_finite_data(ds) -> None:
    if ds.n and np.isnan(ds.temperature).any():
        raise InputError(f"{ds.path} has configurations of unknown temperature (a file "
                         f"written by 'isingvae sample'?); train on Monte Carlo data")


def _strategy(name: str):
    import tensorflow as tf

    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
            [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def _backup_epoch(run_dir: Path) -> int:
    meta = run_dir / BACKUP / "training_metadata.json"
    if not meta.exists():
        return 0
    try:
        return int(json.loads(meta.read_text())["epoch"])
    except (ValueError, KeyError, TypeError):
        return 0


def load_run(run_dir: str | os.PathLike):
    """``(model, config_json)`` of a finished run directory."""
    import keras

    import isingvae.models  # noqa: F401  (registers the Keras classes)

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise InputError(f"{run_dir} is not a run directory (no {CONFIG}); make one with "
                         f"'isingvae train FILE.h5 --out {run_dir}'")
    if not (run_dir / MODEL).is_file():
        raise InputError(f"{run_dir} has no {MODEL}: its training has not finished; run the "
                         f"same 'isingvae train' command again to resume it")
    config = json.loads((run_dir / CONFIG).read_text())
    try:
        model = keras.saving.load_model(run_dir / MODEL)
    except (OSError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise InputError(f"cannot load {run_dir / MODEL}: {first}") from None
    return model, config


# --------------------------------------------------------------------- training


def _prepare_run_dir(run_dir: Path, record: dict, force: bool) -> str:
    """Create or check the run directory; return 'fresh', 'resume' or 'complete'."""
    cfg_path = run_dir / CONFIG
    if cfg_path.exists():
        try:
            old = json.loads(cfg_path.read_text())
        except ValueError:
            old = None
        if old is not None and isinstance(old.get("settings"), dict):
            # settings added since the run was made take their defaults
            old["settings"] = TrainConfig.from_json(old["settings"]).to_json()
        same = old is not None and {k: old.get(k) for k in ("settings", "data")} == \
            {k: record[k] for k in ("settings", "data")}
        if same:
            return "complete" if (run_dir / MODEL).exists() else "resume"
        if not force:
            diffs = []
            if old is not None:
                for part in ("settings", "data"):
                    a, b = old.get(part) or {}, record[part]
                    diffs += [f"{part}.{k}: {a.get(k)!r} -> {b.get(k)!r}"
                              for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            what = "; ".join(diffs[:3]) if diffs else "unreadable config.json"
            raise InputError(f"{run_dir} holds a run with other settings ({what}); choose "
                             f"another --out, or pass --force to replace it")
        for name in _OWN_FILES:
            p = run_dir / name
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
    elif run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise InputError(f"{run_dir} exists and is not a run directory; choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(cfg_path, json.dumps(record, indent=2) + "\n")
    return "fresh"


def _callbacks(run_dir: Path, start: int):
    import keras

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
        """Rows of finished epochs, rewritten atomically (before the backup is saved)."""

        def __init__(self):
            super().__init__()
            self.rows = []
            path = run_dir / HISTORY
            if path.exists():
                with open(path, newline="") as f:
                    self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < start]
            self.t0 = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch, "seconds": round(time.perf_counter() - self.t0, 3)}
            row.update({k: float(v) for k, v in sorted((logs or {}).items())})
            self.rows.append(row)
            keys = list(dict.fromkeys(k for r in self.rows for k in r))
            text = io.StringIO(newline="")
            w = csv.DictWriter(text, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
            write_text(run_dir / HISTORY, text.getvalue())

    class Backup(keras.callbacks.BackupAndRestore):
        """BackupAndRestore whose files are replaced atomically (a kill mid-save is safe)."""

        def _save_model(self):
            d = Path(self.backup_dir)
            d.mkdir(parents=True, exist_ok=True)
            tmp = d / "partial.weights.h5"
            self.model.save_weights(tmp, overwrite=True)
            os.replace(tmp, self._weights_path)
            write_text(Path(self._training_metadata_path),
                          json.dumps({"epoch": self._current_epoch,
                                      "batch": self._last_batch_seen}))

    return [NaNGuard(), History(), Backup(str(run_dir / BACKUP))]


def label_mask(temperature, fraction: float, window: float, seed: int) -> np.ndarray:
    """Which rows keep their label (float 0/1): those with ``|T - T_c| >= window``, of
    which a fraction ``fraction`` (rounded, at least one) chosen with ``seed``."""
    from isingvae.exact import critical_temperature

    t = np.asarray(temperature, dtype=np.float64)
    eligible = np.flatnonzero(np.abs(t - critical_temperature()) >= window)
    keep = eligible
    if fraction < 1 and eligible.size:
        rng = np.random.default_rng([int(seed), 0x1AB])
        count = max(1, round(fraction * eligible.size))
        keep = np.sort(rng.permutation(eligible)[:count])
    mask = np.zeros(t.size, np.float32)
    mask[keep] = 1.0
    return mask


def _check_labels(config: TrainConfig, temperature: np.ndarray, mask: np.ndarray) -> None:
    from isingvae.exact import critical_temperature

    labelled = temperature[mask > 0]
    if labelled.size == 0:
        raise InputError(f"no training configuration keeps a label with --label-window "
                         f"{config.label_window} and --label-fraction {config.label_fraction}")
    if config.head.endswith("phase"):
        ordered = labelled < critical_temperature()
        if ordered.all() or not ordered.any():
            raise InputError(f"--head {config.head} needs labelled configurations of both "
                             f"phases (T below and above Tc = 2.26919)")
    if config.head.endswith("temperature") and np.unique(labelled).size < 2:
        raise InputError(f"--head {config.head} needs labelled configurations at two or "
                         f"more temperatures")


def build_model(config: TrainConfig, L: int, steps_per_epoch: int, temperatures=None):
    """The (uncompiled) Keras model that ``config`` describes for ``L x L`` lattices;
    ``steps_per_epoch`` sets the length of the KL warm-up; ``temperatures`` (the
    training rows' temperatures) standardise a temperature head and give M2's
    temperature classes.  Imports TensorFlow."""
    from isingvae.models import M2, VAE, HeadVAE, HierarchicalVAE

    config = config.check()
    total = steps_per_epoch * config.epochs
    common = dict(
        L=L, latent_dim=config.latent_dim, family=config.family,
        filters=config.filters, units=config.units, activation=config.activation,
        beta=config.beta, free_bits=config.free_bits, kl_estimator=config.kl_estimator,
        kl_schedule="none" if config.kl_warmup == 0 else config.kl_schedule,
        warmup_steps=steps_per_epoch * config.kl_warmup,
        cycle_steps=max(2, total // config.kl_cycles), noise_seed=config.seed)
    if config.levels == 2:
        return HierarchicalVAE(top_dim=config.top_dim, **common)
    temps = np.asarray([] if temperatures is None else temperatures, dtype=np.float64)
    if config.head.startswith("m2"):
        return M2(classes=config.head.split("-", 1)[1],
                  class_temperatures=np.unique(temps).tolist(), alpha=config.head_weight,
                  **common)
    flows = dict(flow=config.flow, flow_depth=config.flow_depth,
                 flow_amortized=config.flow_amortized, prior=config.prior,
                 prior_depth=config.prior_depth)
    if config.head.startswith("vib"):
        t_mean = float(temps.mean()) if temps.size else 0.0
        t_std = float(temps.std()) if temps.size and temps.std() > 0 else 1.0
        return HeadVAE(head=config.head.split("-", 1)[1], head_units=config.head_units,
                       head_weight=config.head_weight, t_mean=t_mean, t_std=t_std,
                       **flows, **common)
    return VAE(flow=config.flow, flow_depth=config.flow_depth,
               flow_amortized=config.flow_amortized, prior=config.prior,
               prior_depth=config.prior_depth, **common)


def train(
    data: str | os.PathLike,
    out: str | os.PathLike,
    config: TrainConfig | None = None,
    *,
    force: bool = False,
    verbose: int | None = None,
) -> TrainResult:
    """Train a VAE on ``data`` into the run directory ``out`` (module docstring).

    ``verbose``: 0 silent, 1 Keras progress bar, 2 one line per epoch; ``None`` picks 1
    on a terminal and 2 otherwise.  Re-running an interrupted run resumes it; a
    finished run is left as it is (``already_complete``); other settings in ``out``
    raise :class:`InputError` unless ``force``.
    """
    from isingvae.data import IsingDataset

    config = (config or TrainConfig()).check()
    run_dir = Path(out)
    ds = _select(IsingDataset(data), config.temperatures)
    _check_finite_data(ds)
    parts = ds.split(config.fractions, seed=config.split_seed)
    if parts.train.n < config.batch_size:
        raise InputError(f"the training split of {ds.path} has {parts.train.n} "
                         f"configuration(s), fewer than one batch of {config.batch_size}; "
                         f"lower --batch-size or use more data")
    record = {"package_version": __version__, "settings": config.to_json(),
              "data": _data_identity(ds),
              "split_rows": {"train": parts.train.n, "validation": parts.validation.n,
                             "test": parts.test.n}}
    labels = None
    if config.head != "none":
        mask = label_mask(parts.train.temperature, config.label_fraction, config.label_window,
                          config.seed)
        _check_labels(config, parts.train.temperature, mask)
        labels = np.stack([parts.train.temperature, mask], axis=1).astype(np.float32)
        record["labelled_rows"] = int(mask.sum())
    state = _prepare_run_dir(run_dir, record, force)
    if state == "complete":
        return TrainResult(run_dir, 0, config.epochs, True, 0.0, 0.0)

    _quiet_tensorflow()
    import keras

    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    keras.utils.set_random_seed(config.seed)
    strategy = _strategy(config.strategy)
    steps = parts.train.n // config.batch_size
    with strategy.scope():
        model = build_model(config, ds.L, steps, parts.train.temperature)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    start = min(_backup_epoch(run_dir), config.epochs)
    t0 = time.perf_counter()
    final = {}
    if start < config.epochs:
        batches, steps = parts.train.epoch_batches(
            batch_size=config.batch_size, epochs=config.epochs, start_epoch=start,
            seed=config.seed, augment=config.augment, flip=ds.h == 0, labels=labels)
        val = None
        if parts.validation.n:
            val = parts.validation.to_tf(batch_size=512, shuffle=False,
                                         targets=None if labels is None else "temperature")
        hist = model.fit(batches, epochs=config.epochs, initial_epoch=start,
                         steps_per_epoch=steps, validation_data=val, verbose=verbose,
                         shuffle=False,
                         callbacks=_callbacks(run_dir, start))
        final = {k: float(v[-1]) for k, v in hist.history.items() if v}
    else:   # killed after the last backup but before model.keras was written
        model.optimizer.build(model.trainable_variables)
        model.load_weights(run_dir / BACKUP / "latest.weights.h5")
    seconds = time.perf_counter() - t0
    tmp = run_dir / "partial.keras"
    model.save(tmp)
    os.replace(tmp, run_dir / MODEL)
    shutil.rmtree(run_dir / BACKUP, ignore_errors=True)
    epochs_run = config.epochs - start
    rate = epochs_run * steps * config.batch_size / seconds if seconds > 0 else 0.0
    return TrainResult(run_dir, epochs_run, start, False, seconds, rate, final)


# --------------------------------------------------------------------- evaluation


def _chain_blocked_stderr(values: np.ndarray, chains: np.ndarray) -> float:
    """Standard error of ``values.mean()`` treating each Markov chain as one block.

    Configurations of one chain may be correlated; means over whole chains are
    independent, so the jackknife over chains gives an honest error bar.  With a single
    chain it falls back to the naive error of independent rows.
    """
    ids, inv = np.unique(chains, return_inverse=True)
    n = values.size
    if ids.size < 2:
        return float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    sums = np.bincount(inv, weights=values)
    counts = np.bincount(inv)
    loo = (sums.sum() - sums) / (n - counts)          # leave-one-chain-out means
    g = ids.size
    return float(math.sqrt((g - 1) / g * np.sum((loo - loo.mean()) ** 2)))


def _log_weight_parts(model, parts, x: np.ndarray, k: int, seed: int, budget: int = 1 << 25,
                      on_batch=None):
    """log p(x|z), log p(z), log q(z|x) for ``k`` posterior samples: arrays ``(k, n)``.

    ``parts`` is ``model.log_weight_parts`` (compiled once by the caller).
    Configurations go through in batches and samples in chunks, sized so that the
    decoder's largest activation stays within ``budget`` floats.
    """
    import tensorflow as tf

    per_sample = model.L * model.L * (1 + max(model.filters or (1,)))
    chunk = max(1, min(k, budget // (per_sample * 64)))
    batch = max(1, min(len(x), budget // (per_sample * chunk)))
    out = [np.empty((k, len(x))) for _ in range(3)]
    for b0 in range(0, len(x), batch):
        xb = tf.constant(x[b0:b0 + batch], tf.float32)
        for c0 in range(0, k, chunk):
            n = min(chunk, k - c0)
            s = tf.constant([seed, b0 * 1_000_003 + c0], tf.int64)
            res = parts(xb, n, s)
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
    spin.  ``temperatures`` restricts the evaluation (default: on the training file, the
    temperatures trained on; on another file, all).  Extra keys: the exact entropy per
    spin of the Boltzmann distribution (Kaufman; no model's NLL can lie below it) and
    the ratio to it.
    """
    from isingvae import exact
    from isingvae.data import IsingDataset
    from isingvae.progress import Progress

    _v.count("--iw-samples", iw_samples)
    run_dir = Path(run_dir)
    _quiet_tensorflow()
    model, config = load_run(run_dir)
    settings = TrainConfig.from_json(config["settings"])
    data = Path(data) if data is not None else Path(config["data"]["path"])
    ds = IsingDataset(data)
    if ds.L != model.L:
        raise InputError(f"{data} holds L = {ds.L} lattices; the model in {run_dir} was "
                         f"trained on L = {model.L}")
    _check_finite_data(ds)
    ident, trained_on = _data_identity(ds), config["data"]
    same_chains = all(ident[k] == trained_on[k] for k in ("L", "J", "h", "seed"))
    if same_chains:
        held = ds.split(settings.fractions, seed=settings.split_seed).test
        held_label = "test split: chains not used in training"
    else:
        held, held_label = ds, "whole file: generated independently of the training data"
    if held.n == 0:
        raise InputError(f"no held-out configurations in {data}")
    if temperatures is None and same_chains:
        temperatures = settings.temperatures
    if temperatures is not None:
        held = _select(held, temperatures)
    import tensorflow as tf

    parts = tf.function(model.log_weight_parts)
    n_spins = model.L * model.L
    bar = Progress(total=held.n, desc="evaluate", unit="config",
                   enabled=progress is not False)
    rows = []
    for temp, part in held.by_temperature():
        x = part.x
        st = iw_statistics(*_log_weight_parts(model, parts, x, int(iw_samples),
                                              seed + round(temp * 1e6), on_batch=bar.update))
        nll = -st["log_p"] / n_spins
        row = {"temperature": temp, "n": int(part.n),
               "nll_per_spin": float(nll.mean()),
               "nll_stderr": _chain_blocked_stderr(nll, part.chain),
               "elbo_per_spin": float(-st["elbo"].mean() / n_spins),
               "kl_per_spin": float(st["kl"].mean() / n_spins),
               "recon_per_spin": float(st["recon"].mean() / n_spins),
               "nll_mc_stderr": float(math.sqrt(st["mc_var"].sum()) / part.n / n_spins),
               "chains": int(np.unique(part.chain).size)}
        if ds.J > 0 and ds.h == 0:
            s = float(exact.finite_lattice(ds.L, temp, J=ds.J).entropy)
            row["exact_entropy_per_spin"] = s
            row["nll_over_entropy"] = row["nll_per_spin"] / s
        rows.append(row)
    bar.close()
    result = {"iw_samples": int(iw_samples), "per_temperature": rows,
              "data": str(data.resolve()), "held_out": held_label, "seed": int(seed),
              "package_version": __version__}
    if getattr(model, "predicts", ()):
        result["head"] = _head_metrics(model, held, rows)
    write_text(run_dir / EVALUATION, json.dumps(result, indent=2) + "\n")
    return result


def head_metrics(run_dir: str | os.PathLike, model=None) -> dict:
    """The ``head`` block of :func:`evaluate` alone, without the likelihood.

    For a run trained with a supervised head: phase accuracy (all, and away from T_c),
    temperature R^2 and RMSE on the test split of its training file (chains not used in
    training), plus ``per_temperature`` rows with the mean P(ordered) or predicted
    temperature.  Writes nothing.  ``model``: the run's model when already loaded.
    """
    from isingvae.data import IsingDataset

    run_dir = Path(run_dir)
    _quiet_tensorflow()
    if model is None:
        model, config = load_run(run_dir)
    else:
        config = json.loads((run_dir / CONFIG).read_text())
    if not getattr(model, "predicts", ()):
        raise InputError(f"{run_dir} has no supervised head (it was trained with --head none)")
    settings = TrainConfig.from_json(config["settings"])
    ds = IsingDataset(config["data"]["path"])
    held = _select(ds.split(settings.fractions, seed=settings.split_seed).test,
                   settings.temperatures)
    rows = [{"temperature": float(t), "n": int((held.temperature == t).sum())}
            for t in np.unique(held.temperature)]
    result = _head_metrics(model, held, rows)
    result["per_temperature"] = rows
    return result


#: |T - Tc| beyond which the phase accuracy is also reported as "away from Tc"
AWAY_FROM_TC = 0.2


def predictions(model, x: np.ndarray, what: str, batch_size: int = 1024) -> np.ndarray:
    """``model.predict_phase`` (P(ordered)) or ``model.predict_temperature`` of Bernoulli
    configurations ``x`` ``(n, L, L, 1)``, in batches: ``(n,)`` float64."""
    import tensorflow as tf

    from isingvae.models import compiled

    fn = compiled(model, f"predict_{what}")
    out = [fn(tf.constant(x[b:b + batch_size], tf.float32)).numpy()
           for b in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float64) if out else np.empty(0)


def _head_metrics(model, held, rows: list[dict]) -> dict:
    """Supervised figures on the held-out rows, added to ``rows`` per temperature and
    returned overall: phase accuracy (all, and ``|T - T_c| > AWAY_FROM_TC``), mean
    P(ordered); predicted temperature, its RMSE and R^2."""
    from isingvae.exact import critical_temperature

    tc = critical_temperature()
    T = held.temperature
    x = held.x
    out = {"predicts": list(model.predicts), "tc": tc, "n": int(held.n)}
    by_t = {round(r["temperature"], 9): r for r in rows}
    if "phase" in model.predicts:
        p = predictions(model, x, "phase")
        right = (p > 0.5) == (T < tc)
        away = np.abs(T - tc) > AWAY_FROM_TC
        out.update(accuracy=float(right.mean()),
                   accuracy_away_from_tc=float(right[away].mean()) if away.any() else None,
                   away_from_tc=AWAY_FROM_TC)
        for temp in np.unique(T):
            r = by_t.get(round(float(temp), 9))
            if r is not None:
                sel = T == temp
                r["p_ordered_mean"] = float(p[sel].mean())
                r["phase_accuracy"] = float(right[sel].mean())
    if "temperature" in model.predicts:
        t_hat = predictions(model, x, "temperature")
        resid = t_hat - T
        total = float(np.sum((T - T.mean()) ** 2))
        out.update(r2=1.0 - float(np.sum(resid**2)) / total if total > 0 else None,
                   temperature_rmse=float(np.sqrt(np.mean(resid**2))))
        for temp in np.unique(T):
            r = by_t.get(round(float(temp), 9))
            if r is not None:
                sel = T == temp
                r["temperature_pred_mean"] = float(t_hat[sel].mean())
                r["temperature_pred_rmse"] = float(np.sqrt(np.mean(resid[sel] ** 2)))
    return out


# --------------------------------------------------------------------- sampling


def sample(
    run_dir: str | os.PathLike,
    n: int,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    temperature: float | None = None,
    batch_size: int = 4096,
) -> Path:
    """Draw ``n`` configurations from a trained run into an HDF5 file (CONTRACTS section 1).

    Each is independent: ``z`` from the prior, then every spin from its Bernoulli
    probability.  Rows carry ``chain = 0 .. n-1`` (no two share a chain),
    ``algorithm = "vae"`` and, for a model that does not condition on temperature,
    ``temperature = NaN``.  Same seed, same bits.

    ``temperature``: generate at that temperature, for a model that conditions on it
    (M2 with temperature classes, ``--head m2-temperature``; ``T`` must be one of its
    classes); the file's temperature column is then ``T``.  Other models refuse it.
    """
    from isingvae import lattice
    from isingvae.storage import write_ising_file

    n = _v.count("--n", n)
    seed = _v.seed(seed)
    run_dir = Path(run_dir)
    _quiet_tensorflow()
    if temperature is not None:
        temperature = _v.real("--temperature", temperature, positive=True)
    model, config = load_run(run_dir)
    cls = None
    if temperature is not None:
        if not hasattr(model, "class_index_of_temperature"):
            raise InputError(f"the model in {run_dir} does not condition on temperature; "
                             f"drop --temperature, or train with --head m2-temperature")
        cls = model.class_index_of_temperature(temperature)
    import tensorflow as tf

    spins = np.empty((int(n), model.L, model.L), np.int8)
    for b0 in range(0, int(n), batch_size):
        m = min(batch_size, int(n) - b0)
        s = tf.constant([seed, b0], tf.int64)
        logits = model.sample_logits(m, s) if cls is None else \
            model.sample_logits_for_class(m, s, cls)
        u = tf.random.stateless_uniform(tf.shape(logits), seed=s + 1)
        up = tf.math.log(u) < tf.math.log_sigmoid(logits)       # P(up) = sigmoid(logit)
        spins[b0:b0 + m] = np.where(up.numpy()[..., 0], 1, -1)
    data = config["data"]
    return write_ising_file(
        out, L=model.L, J=data["J"], h=data["h"], seed=int(seed), algorithm="vae",
        spins=spins,
        temperature=np.full(int(n), np.nan if temperature is None else temperature),
        energy=lattice.energy(spins, data["J"], data["h"]),
        magnetization=lattice.magnetization(spins), chain=np.arange(int(n)),
        attrs={"run_dir": str(run_dir.resolve()), "model_settings": config["settings"]})
