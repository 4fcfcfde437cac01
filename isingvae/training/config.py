"""The settings of a training run: :class:`TrainConfig`, one field per option.

The fields, their defaults, bounds and help texts are those of
:data:`isingvae.models.options.OPTIONS` (the one table); this module adds the rules
that tie options together.  A :class:`TrainConfig` checks itself when it is made: an
out-of-range or inconsistent setting raises :class:`~isingvae.errors.InputError` naming
the setting by its flag, and settings that depend on others are filled in
(``units`` from the family, ``flow_depth`` from the flow, ``top_dim`` from the latent
dimension, the Monte Carlo KL for a learned prior).  No TensorFlow is imported.

>>> cfg = TrainConfig(latent_dim=8, flow="iaf")
>>> cfg.flow_depth, cfg.units
(4, (128,))
>>> TrainConfig(epochs=0)
Traceback (most recent call last):
    ...
isingvae.errors.InputError: epochs (--epochs) must be an integer >= 1, got 0
"""

from __future__ import annotations

import dataclasses
from typing import Any

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.models.options import (
    DEFAULT_FLOW_DEPTH,
    DEFAULT_UNITS,
    OPTIONS,
    Option,
)

__all__ = ["TrainConfig"]

_TUPLES = {"ints", "floats"}


def _check_option(o: Option, value: Any) -> Any:
    """``value`` of option ``o``, checked against its kind, bounds and choices."""
    label = o.label()
    if value is None and o.default is None:
        return None
    if o.choices is not None and o.kind != "int":
        return _v.choice(label, value, o.choices)
    if o.kind == "seed":
        return _v.seed(value, label)
    if o.kind == "int":
        value = _v.count(label, value, int(o.low if o.low is not None else 0), o.high)
        if o.choices is not None and value not in o.choices:
            raise InputError(f"{label} must be one of {', '.join(map(str, o.choices))}, "
                             f"got {value}")
        return value
    if o.kind == "float":
        x = _v.real(label, value, positive=o.low == 0 and o.low_open,
                    nonnegative=o.low == 0 and not o.low_open)
        if o.high is not None and x > o.high:
            raise InputError(f"{label} must lie in ({o.low:g}, {o.high:g}], got {value}")
        return x
    if o.kind == "ints":
        return tuple(_v.count(f"every entry of {label}", v, int(o.low or 0), o.high)
                     for v in value)
    if o.kind == "floats":
        return tuple(float(t) for t in _v.temperatures(value))
    if o.kind == "off":
        return bool(value)
    return value


class _Rules:
    """The checks and derived defaults that tie options together (mixed into
    :class:`TrainConfig`)."""

    def __post_init__(self):
        for o in OPTIONS:
            value = getattr(self, o.name)
            if o.kind in _TUPLES and value is not None and not isinstance(value, str):
                value = tuple(value)
            if o.name == "fractions":
                value = tuple(float(v) for v in value)
            object.__setattr__(self, o.name, value)
        derived = {}
        if self.units is None and self.family in DEFAULT_UNITS:
            derived["units"] = DEFAULT_UNITS[self.family]
        if self.flow_depth is None:
            derived["flow_depth"] = 0 if self.flow == "none" else DEFAULT_FLOW_DEPTH
        if self.levels == 2 and self.top_dim is None and isinstance(self.latent_dim, int):
            derived["top_dim"] = max(1, self.latent_dim // 4)
        if self.kl_estimator == "analytic" and self.prior != "normal":
            derived["kl_estimator"] = "mc"
        for name, value in derived.items():
            object.__setattr__(self, name, value)
        for o in OPTIONS:
            if o.name != "fractions":
                object.__setattr__(self, o.name, _check_option(o, getattr(self, o.name)))
        self._check_combinations()

    def _check_combinations(self) -> None:
        if self.family == "conv" and not self.filters:
            raise InputError("a conv model needs at least one entry in filters")
        if self.flow != "none" and self.flow_depth < 1:
            raise InputError(f"--flow {self.flow} needs --flow-depth >= 1, got {self.flow_depth}")
        if self.flow == "none" and self.flow_depth:
            raise InputError(f"--flow-depth {self.flow_depth} needs a --flow")
        if self.flow == "realnvp" and self.latent_dim < 2:
            raise InputError("--flow realnvp needs --latent-dim >= 2")
        if self.levels == 2:
            if self.flow != "none" or self.prior != "normal":
                raise InputError("the two-level model (--levels 2) takes no --flow or --prior")
            if self.top_dim >= self.latent_dim:
                raise InputError(f"top dim (--top-dim) {self.top_dim} must be smaller than "
                                 f"the latent dim (--latent-dim) {self.latent_dim}")
        elif self.top_dim is not None:
            raise InputError(f"--top-dim {self.top_dim} needs --levels 2")
        if self.head == "none" and (self.label_fraction != 1 or self.label_window != 0):
            raise InputError("--label-fraction and --label-window need a --head")
        if self.head != "none" and self.levels == 2:
            raise InputError(f"--head {self.head} does not combine with --levels 2")
        if self.condition == "temperature" and (self.head != "none" or self.levels == 2
                                                or self.prior != "normal"):
            raise InputError("--condition temperature takes no --head, --levels 2 or --prior "
                             "maf (the model learns its own prior p(z|T))")
        if self.head.startswith("m2") and (self.flow != "none" or self.prior != "normal"
                                           or self.kl_estimator != "analytic"):
            raise InputError(f"--head {self.head} (M2) takes no --flow, --prior or "
                             f"--kl-estimator mc")
        # the split's own rule (three fractions >= 0 summing to 1) lives with the split
        from isingvae.data.splits import check_fractions

        check_fractions(self.fractions)

    def to_json(self) -> dict:
        """The settings as ``config.json`` stores them (tuples as lists)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_json(cls, d: dict):
        """Settings from ``config.json``: keys this version does not know are ignored, and
        settings added since the run was made take their defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v)
                      for k, v in d.items() if k in names})

    def replace(self, **changes):
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)


def _doc() -> str:
    rows = "\n".join(f"    ``{o.name}`` (default ``{o.default!r}``): {o.help}." for o in OPTIONS)
    return ("Every setting of a training run; ``config.json`` holds these and the data's "
            "identity.\n\n    Fields (:data:`isingvae.models.options.OPTIONS`):\n\n" + rows +
            "\n\n    Made frozen and checked on construction (module docstring).\n")


TrainConfig = dataclasses.make_dataclass(
    "TrainConfig",
    [(o.name, Any, dataclasses.field(default=o.default)) for o in OPTIONS],
    bases=(_Rules,),
    frozen=True,
    namespace={"__doc__": _doc(), "__module__": __name__},
)
