"""A run directory, and the one class that reads and writes it: :class:`RunDir`.

Layout (``docs/interfaces.md`` §3)::

    RUN_DIR/config.json       every setting, the data's identity and the split's chains
    RUN_DIR/history.csv       one row per finished epoch (per spin), rewritten atomically
    RUN_DIR/model.keras       the trained model, written once training ends
    RUN_DIR/backup/           Keras BackupAndRestore state while training runs
    RUN_DIR/evaluation.json   written by ``isingvae evaluate`` (section 4)

``config.json`` is written first, so an interrupted run knows what it was doing.  It
holds ``settings`` (:class:`~isingvae.training.TrainConfig`), ``data`` (path, L, J, h,
seed, rows, algorithm, the file's ``generation`` fingerprint and a digest of its
temperature and chain columns) and ``split`` (seed, fractions and the Markov chain ids
of the training, validation and test sets).  Which configurations a run never saw is
therefore read, not recomputed: :meth:`RunDir.held_out` returns the test chains of a
file with the same data, and the whole file for any other file ("foreign" data,
independent of the training data).  Runs made before the split was recorded fall back
to recomputing it from the split seed, as they always did.

Every damaged or foreign directory gives one :class:`~isingvae.errors.InputError`
naming the file and the fix; no other module opens these files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isingvae import _atomic
from isingvae.errors import InputError
from isingvae.training.config import TrainConfig

__all__ = ["CONFIG", "EVALUATION", "HISTORY", "MODEL", "HeldOut", "RunDir", "data_identity"]

CONFIG, HISTORY, MODEL, EVALUATION, BACKUP = (
    "config.json", "history.csv", "model.keras", "evaluation.json", "backup")
_OWN_FILES = (CONFIG, HISTORY, MODEL, EVALUATION, BACKUP)
#: data keys every run has recorded since the first version
_IDENTITY = ("L", "J", "h", "seed")


def _digest(ds) -> str:
    """SHA-256 of the temperature and chain columns: equal for equal rows."""
    h = hashlib.sha256()
    for a in (ds.temperature, ds.chain):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def data_identity(ds) -> dict:
    """How a run records the data file it trained on (``config.json``'s ``data``)."""
    head = ds.header
    generation = head.attrs.get("generation")
    return {"path": str(Path(ds.path).resolve()), "L": int(head.L), "J": float(head.J),
            "h": float(head.h), "seed": int(head.seed), "rows": int(ds.n),
            "algorithm": str(head.algorithm),
            "generation": None if generation is None else str(generation),
            "digest": _digest(ds)}


@dataclass
class HeldOut:
    """Configurations a run did not train on: ``rows`` (a dataset view), ``label`` (what
    they are, in words) and ``relation`` (``"training-file"`` or ``"foreign"``)."""

    rows: object
    label: str
    relation: str


class RunDir:
    """Reader and writer of one run directory (module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir('{self.path}')"

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def backup_dir(self) -> Path:
        return self.path / BACKUP

    # ------------------------------------------------------------------ reading
    def read(self) -> dict:
        """``config.json``, checked: a JSON object with ``settings`` and ``data.L``."""
        cfg = self.file(CONFIG)
        if not self.path.is_dir() or not cfg.is_file():
            raise InputError(f"{self.path} is not a run directory (no {CONFIG}); make one "
                             f"with 'isingvae train FILE.h5 --out {self.path}'")
        try:
            record = json.loads(cfg.read_text())
            int(record["data"]["L"])
            if not isinstance(record["settings"], dict):
                raise TypeError
        except (OSError, ValueError, KeyError, TypeError):
            raise InputError(f"{cfg} is unreadable or lacks its settings and data.L; is "
                             f"{self.path} a run directory made by 'isingvae train'?") from None
        self.settings(record)
        return record

    def settings(self, record: dict | None = None) -> TrainConfig:
        """The run's :class:`TrainConfig` (settings added since it was made: defaults)."""
        record = self.read() if record is None else record
        try:
            return TrainConfig.from_json(record["settings"])
        except InputError as exc:
            raise InputError(f"{self.file(CONFIG)} holds bad settings: {exc}") from None

    def trained(self) -> dict:
        """``config.json`` of a run whose training has finished (checked without
        TensorFlow: the settings, and that ``model.keras`` is a whole zip archive)."""
        record = self.read()
        path = self.file(MODEL)
        if not path.is_file():
            raise InputError(f"{self.path} has no {MODEL}: its training has not finished; "
                             f"run the same 'isingvae train' command again to resume it")
        if not zipfile.is_zipfile(path):
            raise InputError(f"cannot load {path}: it is not a Keras model file (truncated or "
                             f"damaged); train again with 'isingvae train ... --force'")
        return record

    def load(self):
        """``(model, config.json)`` of a finished run (imports TensorFlow)."""
        record = self.trained()
        import keras

        import isingvae.models

        isingvae.models.register()
        path = self.file(MODEL)
        try:
            model = keras.saving.load_model(path)
        except (OSError, ValueError, TypeError, KeyError, EOFError,
                zipfile.BadZipFile) as exc:
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else \
                type(exc).__name__
            raise InputError(f"cannot load {path} (damaged?): {first}") from None
        return model, record

    def model_digest(self) -> str:
        """SHA-256 of ``model.keras``: which trained model made an output."""
        return hashlib.sha256(self.file(MODEL).read_bytes()).hexdigest()

    def evaluation(self) -> dict | None:
        """``evaluation.json`` when it exists, parses and is newer than the model."""
        path, model = self.file(EVALUATION), self.file(MODEL)
        if not path.is_file() or not model.is_file():
            return None
        try:
            ev = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(ev, dict) or path.stat().st_mtime < model.stat().st_mtime:
            return None
        return ev

    def backup_epoch(self) -> int:
        """Epochs finished according to the backup (0 without one)."""
        meta = self.backup_dir / "training_metadata.json"
        if not meta.exists():
            return 0
        try:
            return int(json.loads(meta.read_text())["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def history(self, before_epoch: int) -> list[dict]:
        """Rows of ``history.csv`` for epochs before ``before_epoch``."""
        path = self.file(HISTORY)
        if not path.exists():
            return []
        with open(path, newline="") as f:
            return [r for r in csv.DictReader(f) if int(r["epoch"]) < before_epoch]

    # ------------------------------------------------------------------ what it can do
    def check_trained_range(self, record: dict, temperatures,
                            name: str = "temperature") -> None:
        """Refuse a temperature outside the range a run conditioned on temperature was
        trained on (``name``: what the message calls it); nothing to check for other
        runs or no temperatures."""
        span = record.get("conditioning")
        if span is None or temperatures is None:
            return
        lo, hi = span["t_min"], span["t_max"]
        for t in temperatures:
            if not lo - 1e-9 <= t <= hi + 1e-9:
                raise InputError(f"{name} {t:g} lies outside the range the model in "
                                 f"{self.path} was trained on, [{lo:g}, {hi:g}]")

    def check_generates_at(self, record: dict, temperatures) -> None:
        """Refuse temperatures the run cannot generate configurations at: outside a
        conditioned run's trained range, or any for a model that does not condition on
        temperature (M2 with temperature classes checks its classes when it runs)."""
        if record.get("conditioning") is not None:
            self.check_trained_range(record, temperatures, "--temperature")
        elif temperatures is not None and record["settings"].get("head") != "m2-temperature":
            raise InputError(f"the model in {self.path} does not condition on temperature; "
                             f"drop --temperature, or train with --condition temperature")

    def check_proposal(self, record: dict, temperatures) -> None:
        """Refuse a run that cannot propose for neural importance sampling or neural MCMC
        (a posterior flow, two levels, M2), and temperatures outside a conditioned run's
        trained range (an unconditional model proposes the same at every temperature)."""
        settings = record["settings"]
        if settings.get("flow", "none") != "none":
            raise InputError(f"the model in {self.path} has a posterior flow "
                             f"({settings['flow']}); importance weights need q(z|x) at the "
                             f"prior's draws, which only the Gaussian posterior gives: train "
                             f"with --flow none")
        if int(settings.get("levels", 1)) != 1 or \
                str(settings.get("head", "none")).startswith("m2"):
            raise InputError(f"the model in {self.path} is hierarchical or M2; importance "
                             f"sampling works with the single-level VAE (with or without a "
                             f"VIB head)")
        self.check_trained_range(record, temperatures)

    # ------------------------------------------------------------------ the data it saw
    def held_out(self, ds, record: dict | None = None) -> HeldOut:
        """The rows of ``ds`` this run did not train on, restricted to the temperatures it
        trained on when ``ds`` holds its training data (module docstring)."""
        record = self.read() if record is None else record
        settings = self.settings(record)
        trained = record["data"]
        mine = data_identity(ds)
        split = record.get("split")
        if "digest" in trained and split is not None:
            same = (trained["generation"] == mine["generation"]
                    if trained.get("generation") and mine["generation"]
                    else trained["digest"] == mine["digest"])
            if same:
                rows = ds.select(chains=split["chains"]["test"])
                label = "test split: chains not used in training"
            else:
                return HeldOut(ds, "whole file: its data differ from the training file's "
                               "(generation fingerprint or rows), so none of it was "
                               "trained on", "foreign")
        elif all(mine[k] == trained.get(k) for k in _IDENTITY):
            rows = ds.split(settings.fractions, seed=settings.split_seed).test
            label = ("test split, recomputed from the split seed (a run made before "
                     "split chains were recorded)")
        else:
            return HeldOut(ds, "whole file: generated independently of the training data",
                           "foreign")
        if settings.temperatures is not None:
            rows = rows.select(temperature=list(settings.temperatures))
        return HeldOut(rows, label, "training-file")

    # ------------------------------------------------------------------ writing
    @staticmethod
    def new_record(settings: TrainConfig, ds, parts, version: str) -> dict:
        """The ``config.json`` of a run of ``settings`` on the view ``ds`` split as
        ``parts`` (train, validation, test views)."""
        names = ("train", "validation", "test")
        return {"package_version": version, "settings": settings.to_json(),
                "data": data_identity(ds),
                "split": {"seed": settings.split_seed, "fractions": list(settings.fractions),
                          "chains": {n: ids.tolist() for n, ids in parts.chain_ids().items()}},
                "split_rows": {n: int(p.n) for n, p in zip(names, parts, strict=True)}}

    def prepare(self, record: dict, force: bool) -> str:
        """Create or check the directory for ``record``; ``fresh``, ``resume`` or
        ``complete``.  Another run's directory raises :class:`InputError` unless
        ``force``, which deletes that run's files (and nothing else)."""
        cfg = self.file(CONFIG)
        if cfg.exists():
            try:
                old = json.loads(cfg.read_text())
            except (OSError, ValueError):
                old = None
            if not isinstance(old, dict):
                old = None
            if self._same_run(old, record):
                return "complete" if self.file(MODEL).exists() else "resume"
            if not force:
                raise InputError(f"{self.path} holds a run with other settings "
                                 f"({self._differences(old, record)}); choose another "
                                 f"--out, or pass --force to replace it")
            for name in _OWN_FILES:
                p = self.file(name)
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink(missing_ok=True)
        elif self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise InputError(f"{self.path} exists and is not a run directory; choose another "
                             f"--out")
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic.write_json(cfg, record)
        return "fresh"

    @staticmethod
    def _comparable(record: dict) -> dict:
        """What decides that two records describe the same run: the settings (with this
        version's defaults filled in) and the data's identity on the keys both know."""
        try:
            settings = TrainConfig.from_json(record["settings"]).to_json()
        except (InputError, KeyError, TypeError):
            settings = record.get("settings")
        return {"settings": settings, "data": dict(record.get("data") or {})}

    def _same_run(self, old: dict | None, new: dict) -> bool:
        if old is None:
            return False
        a, b = self._comparable(old), self._comparable(new)
        shared = set(a["data"]) & set(b["data"]) - {"path"}
        return a["settings"] == b["settings"] and \
            all(a["data"][k] == b["data"][k] for k in shared) and \
            all(k in shared for k in (*_IDENTITY, "rows"))

    def _differences(self, old: dict | None, new: dict) -> str:
        if old is None:
            return "unreadable config.json"
        a, b = self._comparable(old), self._comparable(new)
        diffs = []
        for part in ("settings", "data"):
            x, y = a[part] or {}, b[part] or {}
            diffs += [f"{part}.{k}: {x.get(k)!r} -> {y.get(k)!r}"
                      for k in sorted(set(x) & set(y)) if x.get(k) != y.get(k)]
        return "; ".join(diffs[:3]) or "other data"

    def write_history(self, rows: list[dict]) -> None:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        text = io.StringIO(newline="")
        w = csv.DictWriter(text, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
        _atomic.write_text(self.file(HISTORY), text.getvalue())

    def save_model(self, model) -> None:
        """Write ``model.keras`` atomically and drop the backup: the run is finished."""
        variables = [*model.variables, *getattr(model.optimizer, "variables", [])]
        _atomic.require_space(self.file(MODEL), 2 * sum(int(v.numpy().nbytes)
                                                        for v in variables))
        with _atomic.atomic_file(self.file(MODEL)) as tmp:
            named = tmp.with_name(tmp.name + ".keras")      # Keras wants the suffix
            try:
                model.save(named)
                os.replace(named, tmp)
            finally:
                named.unlink(missing_ok=True)
        shutil.rmtree(self.backup_dir, ignore_errors=True)

    def write_evaluation(self, result: dict) -> Path:
        return _atomic.write_json(self.file(EVALUATION), result)
