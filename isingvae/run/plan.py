"""What ``isingvae run`` does (:class:`RunPlan`, with the built-in :data:`DEFAULT` and
:data:`QUICK`), where plans come from (the presets shipped in ``isingvae/run/presets/``
and plan files, :func:`preset` and :func:`read_plan`), what a plan costs
(:meth:`RunPlan.estimated_seconds`, :meth:`RunPlan.check`) and the seeds it derives
from the plan's: each lattice size's Monte Carlo data (:meth:`RunPlan.data_seed`) and
each ensemble member's training (:meth:`RunPlan.member_seed`), both streams of
:mod:`isingvae.random`.

A plan file is JSON in the format of the job's ``run.json``: the whole record
(``{"run_version": ..., "plan": {...}}``, whose ``run_version`` is ignored: a plan runs
under this version's rules) or the bare ``plan`` object; a preset file is the same with
a ``"description"`` beside ``"plan"``.  Keys a plan leaves out take :data:`DEFAULT`'s
values; ``train`` and ``head``, when given, replace the default's dict whole.  Every
value is checked when the plan is made (an :class:`InputError` naming the key), the
memory it needs by :meth:`RunPlan.check`.

>>> DEFAULT.data_seed(24) != RunPlan(seed=9).data_seed(16)    # no seed + L arithmetic
True
>>> from_json({"plan": {"sizes": [8, 12]}}, "x.json").sizes     # the rest: DEFAULT's
(8, 12)
"""

from __future__ import annotations

import json
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from isingvae import _validate as check
from isingvae import random
from isingvae.errors import InputError
from isingvae.evaluation.importance import MAX_DRAWS
from isingvae.evaluation.likelihood import MAX_IW_SAMPLES
from isingvae.stats.resampling import MAX_BOOTSTRAP

__all__ = ["DEFAULT", "MAX_ENSEMBLE", "PRESET_DIR", "QUICK", "REFERENCE_TIMINGS",
           "RUN_CHANGES", "RUN_RECORD", "RUN_VERSION", "RunPlan", "from_json", "preset",
           "preset_description", "presets", "read_plan", "reference_timings"]

#: the job's record, written first, so that a folder says whose it is: the plan and
#: :data:`RUN_VERSION`
RUN_RECORD = "run.json"
#: what makes the same plan give other bits; a work folder of another version is refused
#: unless ``--force`` (as ``generate`` refuses files of another generator version)
RUN_VERSION = 4
RUN_CHANGES = {     # version -> what changed (the refusal says)
    2: "each size's Monte Carlo data is seeded from the 'run-data' random stream, no "
       "longer from seed + L",
    3: "the autoregressive decoder has local terms (the last stage in the form of the "
       "Boltzmann conditional, neighbour-sum terms, a coarse grid that learns faster)",
    4: "the prior p(z|T) has mirrored components and is fitted to the codes after training",
}
#: models per size at most (``--ensemble``)
MAX_ENSEMBLE = 16
#: ``thermo``'s limit of draws per temperature (the plan's other limits are imported too)
MAX_THERMO_SAMPLES = MAX_DRAWS
#: the presets (``--preset NAME``): ``NAME.json``, a plan file with its description
PRESET_DIR = Path(__file__).with_name("presets")
#: the ``timings.json`` of the ``demo`` preset on the development machine (2-core AMD
#: EPYC with AVX-512): the reference of :meth:`RunPlan.estimated_seconds`
REFERENCE_TIMINGS = PRESET_DIR / "demo.timings.json"
#: keys of a plan file beside ``plan``
_RECORD_KEYS = ("run_version", "description", "plan")


@dataclass(frozen=True)
class RunPlan:
    """What ``isingvae run`` does: sizes, temperature grid, samples, training and analysis.

    Made, every value is checked (:class:`InputError` naming the field) and normalised
    (tuples of ints and floats; lists in ``train`` and ``head`` as tuples); ``train`` and
    ``head`` must make valid :class:`~isingvae.training.TrainConfig` settings.
    """

    sizes: tuple[int, ...] = (16, 24, 32)
    temperatures: tuple[float, ...] = tuple(np.round(np.linspace(1.8, 2.8, 21), 6))
    #: configurations per temperature and epochs, for the 10-minute budget on 2 cores
    #: without AVX-512 (more data beat more epochs at the same cost: at L = 16, 1000 for
    #: 3 epochs put samples within 1.6 % of Kaufman's energy, 200 for 10 within 2.8 %;
    #: 4 epochs instead of 3 passed 197 of 300 checks instead of 180, for 20 % more time)
    samples: int = 400
    chains: int = 32
    seed: int = 1
    epochs: int = 4
    #: TrainConfig settings of the VAE (beyond epochs and seed): the package's default,
    #: the autoregressive decoder conditioned on temperature, with batches of 64 (twice
    #: the updates of the default 128 for 13 % more time) and a step size decaying from
    #: 3e-3 (at L = 16, held-out NLL / entropy 1.000 and ESS 0.46-0.69 against 1.017 and
    #: 0.25-0.39 at a constant 1e-3)
    train: dict = field(default_factory=lambda: {"batch_size": 64, "learning_rate": 3e-3,
                                                 "lr_schedule": "cosine"})
    #: settings of the supervised run, on top of ``train``; None: no supervised run.  Few
    #: epochs: the crossing moved by less than its seed-to-seed scatter from 5 to 10; the
    #: factorised decoder: the head needs the encoder only, and it costs a third
    head: dict | None = field(default_factory=lambda: {"head": "vib-phase", "epochs": 3,
                                                       "decoder": "factorized"})
    iw_samples: int = 50
    #: generated configurations per size: 100 at each of the 21 temperatures
    analysis_samples: int = 2100
    bootstrap: int = 100
    #: draws per temperature of the neural importance sampling on the smallest size
    #: (``isingvae thermo``; 0: none)
    thermo_samples: int = 2000
    #: VAEs trained per size on the same data (training seeds ``seed`` and then streams
    #: of :mod:`isingvae.random`): their spread enters every T_c error bar.  One in the
    #: demo: the budget goes to one better model per size (``--ensemble 2`` for two)
    ensemble: int = 1

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("sizes", tuple(check.lattice_size(L, "each of sizes")
                           for L in _sequence("sizes", self.sizes, "lattice sizes")))
        if list(self.sizes) != sorted(set(self.sizes)):
            raise InputError(f"sizes must be distinct and increasing, got {list(self.sizes)}")
        temps = _sequence("temperatures", self.temperatures, "temperatures")
        bad = [t for t in temps if isinstance(t, bool) or not isinstance(t, numbers.Real)]
        if bad:
            raise InputError(f"temperatures must be positive finite numbers, got {bad[0]!r}")
        put("temperatures", tuple(float(t) for t in check.temperatures(temps)))
        if len(set(self.temperatures)) < len(self.temperatures):
            dup = next(t for i, t in enumerate(self.temperatures) if t in self.temperatures[:i])
            raise InputError(f"temperatures: {dup!r} is given twice")
        for name, lo, hi in (("samples", 1, None), ("chains", 1, None), ("epochs", 1, None),
                             ("iw_samples", 1, MAX_IW_SAMPLES), ("analysis_samples", 0, None),
                             ("bootstrap", 2, MAX_BOOTSTRAP), ("ensemble", 1, MAX_ENSEMBLE)):
            put(name, check.count(name, getattr(self, name), lo, hi))
        put("seed", check.seed(self.seed))
        put("thermo_samples", check.count("thermo_samples", self.thermo_samples, 0,
                                          MAX_THERMO_SAMPLES))
        if self.thermo_samples == 1:
            raise InputError("thermo_samples must be 0 (none) or at least 2, got 1")
        put("train", _settings("train", self.train))
        for key in ("epochs", "seed"):
            if key in self.train:
                raise InputError(f"train: give {key!r} at the top of the plan, not in train "
                                 f"(got train {key} {self.train[key]!r})")
        put("head", None if self.head is None else _settings("head", self.head))
        head = self.configs()[1]
        if head is not None and head.head == "none":
            raise InputError("head: the supervised run needs a 'head' setting such as "
                             "\"vib-phase\"; null for no supervised run")

    def configs(self):
        """The :class:`~isingvae.training.TrainConfig` of the VAE (its first ensemble
        member) and of the supervised run (None without one); :class:`InputError`, naming
        ``train`` or ``head``, for settings it refuses."""
        base = {"epochs": self.epochs, "seed": self.seed, **self.train}
        return (_config("train", base),
                None if self.head is None else _config("head", {**base, **self.head}))

    def check(self) -> None:
        """What ``generate``, ``train``, ``analyze`` and ``thermo`` would refuse, checked
        before the job writes anything: each size's ``GenerationPlan`` (at most 8000
        temperatures, chains <= samples; the memory of its data), and the memory of
        training at the largest size (:func:`isingvae.training.build.memory_estimate`)
        and of the generated and importance-sampling configurations
        (:func:`isingvae._validate.fits_in_memory`)."""
        from isingvae.generation.plan import GenerationPlan
        from isingvae.training.build import memory_estimate

        for L in self.sizes:
            GenerationPlan(L=L, temperatures=self.temperatures, samples=self.samples,
                           chains=self.chains, seed=self.data_seed(L))
        L = self.sizes[-1]
        for name, cfg in zip(("train", "head"), self.configs(), strict=True):
            if cfg is not None:
                check.fits_in_memory(f"training with the {name} settings (batch_size "
                                     f"{cfg.batch_size}, latent_dim {cfg.latent_dim}) at L = {L}",
                                     memory_estimate(cfg, L))
        check.fits_in_memory(f"analysis_samples {self.analysis_samples} at L = {L}",
                             self.analysis_samples * (L * L + 40))
        check.fits_in_memory(f"thermo_samples {self.thermo_samples} at L = {self.sizes[0]}",
                             self.thermo_samples * (self.sizes[0] ** 2 + 40))

    def member_seed(self, k: int) -> int:
        """Training seed of ensemble member ``k`` (0: the plan's seed)."""
        return self.seed if k == 0 else random.int_seed(self.seed, "ensemble", k)

    def data_seed(self, L: int) -> int:
        """Seed of the Monte Carlo data of lattice size ``L`` (a :class:`GenerationPlan`'s
        63-bit seed): the ``run-data`` stream of the plan's seed, refined by ``L``, so
        that no two plan seeds share a size's data (``seed + L`` did: 1 + 24 = 9 + 16)."""
        return random.int_seed(self.seed, "run-data", L, bits=63)

    def to_json(self) -> dict:
        d = asdict(self)
        d["temperatures"] = [float(t) for t in self.temperatures]
        d["sizes"] = list(self.sizes)
        return d

    # what it costs ------------------------------------------------------------------

    def step_names(self) -> list[str]:
        """The steps the job runs, in order, as ``timings.json`` names them."""
        names = [f"generate L={L}" for L in self.sizes]
        names += [f"train VAE L={L}" + ("" if k == 0 else f" member {k + 1}")
                  for k in range(self.ensemble) for L in self.sizes]
        if self.head is not None:
            names += [f"train VIB head L={L}" for L in self.sizes]
        names += [f"evaluate L={L}" for L in self.sizes]
        if self.head is not None:
            names += [f"score VIB head L={L}" for L in self.sizes]
        names.append("analyze")
        if self.thermo_samples:
            names.append(f"thermo L={self.sizes[0]}")
        return names

    def work(self, step: str) -> tuple[str, float]:
        """The kind of a step (its name without ``L=...``) and its work in the units of
        the cost model of :meth:`estimated_seconds`: with ``rows`` = samples ×
        temperatures and ``N`` = L², generation ``rows N``; training ``rows × epochs ×
        N`` (the head's epochs for the head); evaluation ``rows × iw_samples × N``;
        scoring the head ``rows N``; the analysis ``ensemble × (rows + analysis_samples)
        × N`` summed over the sizes; the thermodynamics ``thermo_samples × temperatures
        × N``."""
        m = _STEP.fullmatch(step)
        if m is None:
            raise InputError(f"no step {step!r} in isingvae run")
        kind, N = m["kind"], int(m["L"] or 0) ** 2
        rows = self.samples * len(self.temperatures)
        head_epochs = (self.head or {}).get("epochs", self.epochs)
        per_kind = {
            "generate": rows * N, "train VAE": rows * self.epochs * N,
            "train VIB head": rows * head_epochs * N, "evaluate": rows * self.iw_samples * N,
            "score VIB head": rows * N, "thermo": self.thermo_samples * len(self.temperatures) * N,
            "analyze": sum(self.ensemble * (rows + self.analysis_samples) * L * L
                           for L in self.sizes)}
        return kind, float(per_kind[kind])

    def estimated_seconds(self, reference: Mapping | None = None) -> float:
        """Seconds the whole job should take, from the step times of ``reference``: a
        ``timings.json`` record (its ``plan`` and ``steps``; default
        :func:`reference_timings`, the ``demo`` preset on the development machine).

        For each kind of step, seconds = a + b × work (:meth:`work`), fitted to the
        reference's steps of that kind by least squares (a for the fixed cost of building
        and compiling a model: about 7 s per training on the demo), or b × work alone
        where the reference has one size of it or the fit comes out negative; kinds the
        reference lacks take the demo's.  An estimate: it assumes the reference's model
        settings and machine, and costs that grow as L², where Monte Carlo near T_c grows
        faster.
        """
        fits = _fits(reference_timings())
        if reference is not None:
            fits.update(_fits(reference))
        total = 0.0
        for step in self.step_names():
            kind, work = self.work(step)
            a, b = fits[kind]
            total += a + b * work
        return total


_STEP = re.compile(r"(?P<kind>generate|train VAE|train VIB head|evaluate|score VIB head|"
                   r"thermo|analyze)(?: L=(?P<L>\d+))?(?: member \d+)?")


def _sequence(name: str, value, what: str) -> list:
    if isinstance(value, str | bytes | Mapping) or \
            not isinstance(value, Sequence | np.ndarray) or len(value) == 0:
        raise InputError(f"{name} must be a non-empty list of {what}, got {value!r}")
    return list(value)


def _settings(name: str, value) -> dict:
    """``train`` or ``head``: a dict of TrainConfig fields, lists as tuples."""
    from isingvae.models.options import OPTIONS  # TrainConfig's fields

    if not isinstance(value, Mapping):
        raise InputError(f"{name} must be an object of TrainConfig settings"
                         + (" or null" if name == "head" else "") + f", got {value!r}")
    unknown = [k for k in value if k not in {o.name for o in OPTIONS}]
    if unknown:
        raise InputError(f"{name}: unknown setting(s) {', '.join(map(repr, unknown))} "
                         f"(the settings are TrainConfig's fields, as in a run's config.json)")
    for o in OPTIONS:                  # a list where TrainConfig takes a tuple
        v = value.get(o.name, ())
        if (isinstance(o.default, tuple) or o.kind in ("ints", "floats")) and not \
                (isinstance(v, list | tuple) or (v is None and o.default is None)):
            raise InputError(f"{name}: {o.name} must be a list, got {v!r}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}


def _config(name: str, settings: dict):
    from isingvae.training.config import TrainConfig

    try:
        return TrainConfig(**settings)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None
    except (TypeError, ValueError) as exc:       # e.g. a number where a list belongs
        raise InputError(f"{name}: settings TrainConfig cannot take ({exc})") from None


def _fits(record: Mapping) -> dict[str, tuple[float, float]]:
    """Kind of step -> (a, b) of seconds = a + b × work, from a ``timings.json`` record."""
    try:
        plan = from_json(record["plan"], "its plan")
        points: dict[str, list[tuple[float, float]]] = {}
        for s in record["steps"]:
            kind, work = plan.work(s["step"])
            points.setdefault(kind, []).append((work, float(s.get("seconds_to_make",
                                                                  s["seconds"]))))
    except (KeyError, TypeError, ValueError, InputError) as exc:
        raise InputError(f"not the timings.json of an isingvae run ({exc})") from None
    fits = {}
    for kind, pts in points.items():
        w, s = np.array(pts).T
        b, a = np.polyfit(w, s, 1) if np.unique(w).size >= 2 else (-1.0, -1.0)
        if not (a >= 0 and b >= 0):           # one size, or a line through zero fits best
            a, b = 0.0, s.sum() / max(w.sum(), 1.0)
        fits[kind] = (float(a), float(b))
    return fits


def reference_timings() -> dict:
    """The ``timings.json`` of the ``demo`` preset on the development machine
    (:data:`REFERENCE_TIMINGS`): the reference of :meth:`RunPlan.estimated_seconds`."""
    return json.loads(REFERENCE_TIMINGS.read_text())


# plan files and presets ---------------------------------------------------------------

_FIELDS = tuple(f.name for f in fields(RunPlan))


def from_json(data, source: str) -> RunPlan:
    """A plan from parsed JSON (module docstring): a plan object, or a record holding one
    under ``"plan"``; ``source`` (a file's path) starts every error's message."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: a plan must be a JSON object, got {_kind(data)}")
    if "plan" in data:
        extra = [k for k in data if k not in _RECORD_KEYS]
        if extra:
            raise InputError(f"{source}: unknown key(s) {', '.join(map(repr, extra))} beside "
                             f"'plan' (a plan file holds {', '.join(_RECORD_KEYS)})")
        if not isinstance(data.get("description", ""), str):
            raise InputError(f"{source}: description must be a string, got "
                             f"{data['description']!r}")
        data = data["plan"]
        if not isinstance(data, dict):
            raise InputError(f"{source}: 'plan' must be a JSON object, got {_kind(data)}")
    unknown = [k for k in data if k not in _FIELDS]
    if unknown:
        raise InputError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; a "
                         f"plan's keys are {', '.join(_FIELDS)}")
    try:
        return RunPlan(**data)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def _kind(value) -> str:
    return {list: "a list", str: "a string", type(None): "null"}.get(type(value), "a value")


def _load(path: Path, source: str):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read plan file {source}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{source} is not JSON (not UTF-8 text)") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} is not JSON ({exc.msg} at line {exc.lineno} column "
                         f"{exc.colno})") from None
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def _no_duplicates(pairs) -> dict:
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise InputError(f"key {k!r} is given twice")
        seen[k] = v
    return seen


def read_plan(path) -> RunPlan:
    """The plan in the JSON file ``path`` (module docstring); :class:`InputError` naming
    the file and the offending key or value for anything else."""
    return from_json(_load(Path(path), str(path)), str(path))


def presets() -> tuple[str, ...]:
    """Names of the presets (``PRESET_DIR/NAME.json``)."""
    return tuple(sorted(p.stem for p in PRESET_DIR.glob("*.json") if "." not in p.stem))


def _preset_record(name: str) -> dict:
    if name not in presets():
        raise InputError(f"no preset {name!r}; the presets are {', '.join(presets())}")
    return _load(PRESET_DIR / f"{name}.json", f"preset {name!r}")


def preset(name: str) -> RunPlan:
    """The plan of preset ``name`` (:func:`presets`)."""
    return from_json(_preset_record(name), f"preset {name!r}")


def preset_description(name: str) -> str:
    """What preset ``name`` is for, and what it costs."""
    return _preset_record(name).get("description", "")


#: the built-in default, the ``demo`` preset: L = 16, 24 and 32, 21 temperatures 1.8-2.8
DEFAULT = RunPlan()
#: a smoke-test plan that runs in well under a minute (``isingvae run --quick``): the
#: ``quick`` preset
QUICK = preset("quick")
