"""Every choice and default of a trained model, once, without TensorFlow.

:data:`OPTIONS` is the table that the rest of the package reads:

- :class:`isingvae.training.TrainConfig` is built from it (one field per option, same
  name, same default), so ``config.json`` holds exactly these keys;
- ``isingvae train`` generates its flags from it (flag, type, choices and help text);
- the Keras models take their keyword defaults from :data:`MODEL_DEFAULTS`.

Importing this module costs nothing (standard library only), so settings can be checked
and the command line built before TensorFlow is imported.

>>> DEFAULTS["latent_dim"], DEFAULTS["filters"], FLOWS
(8, (16, 32), ('none', 'planar', 'radial', 'iaf', 'realnvp'))
>>> option("family").flag
'--model'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONDITIONS",
    "DECODERS",
    "DEFAULTS",
    "DEFAULT_FLOW_DEPTH",
    "DEFAULT_UNITS",
    "FAMILIES",
    "FLOWS",
    "HEADS",
    "KL_ESTIMATORS",
    "KL_SCHEDULES",
    "LR_SCHEDULES",
    "MODEL_DEFAULTS",
    "OPTIONS",
    "PRIORS",
    "PRIOR_FIT_PASSES",
    "STRATEGIES",
    "Option",
    "option",
]

#: encoder/decoder families: periodic 3 x 3 convolutions, or a plain MLP
FAMILIES = ("conv", "dense")
#: normalizing flows on the posterior (``none``: the diagonal Gaussian)
FLOWS = ("none", "planar", "radial", "iaf", "realnvp")
#: the prior p(z): standard normal, or learned masked autoregressive flows
PRIORS = ("normal", "maf")
#: supervision from the temperature column
HEADS = ("none", "vib-temperature", "vib-phase", "m2-phase", "m2-temperature")
KL_ESTIMATORS = ("analytic", "mc")
KL_SCHEDULES = ("none", "linear", "cyclical")
#: the decoder p(x|z): independent spins, or the multiscale autoregressive decoder
DECODERS = ("factorized", "autoregressive")
#: what the model conditions on besides z (auto: the temperature whenever the model and
#: the training data allow it, see isingvae.training.build.conditions_on_temperature)
CONDITIONS = ("auto", "none", "temperature")
#: tf.distribute strategies
STRATEGIES = ("default", "mirrored")
LR_SCHEDULES = ("constant", "cosine")
#: flow layers when a flow is chosen without a depth
DEFAULT_FLOW_DEPTH = 4
#: dense widths when none are given: after the convolutions (conv), or the whole MLP
DEFAULT_UNITS = {"conv": (128,), "dense": (512, 256)}
#: the fit of the prior after training stops after this many passes over the codes if
#: ``prior_fit`` steps are more (minibatches of 1024; the main job's 3000 steps are 57
#: passes at 400 configurations per temperature, where 10000 steps gained 0.02 nats more)
PRIOR_FIT_PASSES = 60
#: upper bounds, far beyond any sensible value but within what TensorFlow's shapes and
#: step counters (int32 dimensions, int64 steps) hold; memory is checked separately,
#: against the machine, once the lattice size is known
_WIDTH, _DEPTH, _EPOCHS = 2**16, 2**10, 10**6


@dataclass(frozen=True)
class Option:
    """One setting: its name (a :class:`~isingvae.training.TrainConfig` field), default,
    command-line form and help.

    ``kind`` says how the command line reads it: ``int``, ``seed``, ``float``, ``str``, ``ints`` /
    ``floats`` (comma-separated lists), ``off`` (a store-false switch, for booleans
    that default to true) or ``none`` (no flag: Python only).  ``flag`` is the flag when
    it is not ``--name-with-dashes``; ``aliases`` are further spellings.  ``low`` is the
    smallest value a number may take (excluded when ``low_open``), ``high`` the largest;
    for ``ints`` they bound every entry.
    """

    name: str
    default: Any
    kind: str
    help: str
    choices: tuple | None = None
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    low: float | None = None
    low_open: bool = False
    high: float | None = None

    @property
    def cli_flag(self) -> str | None:
        if self.kind == "none":
            return None
        return self.flag or "--" + self.name.replace("_", "-")

    def label(self) -> str:
        """``latent dim (--latent-dim)``: how error messages name the setting."""
        flag = self.cli_flag
        return self.name.replace("_", " ") + (f" ({flag})" if flag else "")


OPTIONS: tuple[Option, ...] = (
    # the networks
    Option("family", "conv", "str", "encoder/decoder family: conv (periodic convolutions) "
           "or dense (MLP)", FAMILIES, flag="--model"),
    Option("latent_dim", 8, "int", "latent dimension", low=1, high=_WIDTH),
    Option("filters", (16, 32), "ints", "conv widths per level", low=1, high=_WIDTH),
    Option("units", None, "ints", "dense widths (128 after the convolutions; 512,256 for "
           "--model dense)", low=1, high=_WIDTH),
    Option("activation", "elu", "none", "activation of every hidden layer"),
    Option("decoder", "autoregressive", "str", "decoder p(x|z): factorized (independent spins "
           "given z) or autoregressive (multiscale order, nearest-neighbour correlations)",
           DECODERS),
    Option("decoder_width", 8, "int", "channels of the autoregressive decoder's "
           "convolutions", low=1, high=_WIDTH),
    Option("decoder_depth", 3, "int", "convolutions of the autoregressive decoder", low=1,
           high=_DEPTH),
    Option("local_terms", True, "off", "the autoregressive decoder without its built-in "
           "nearest-neighbour physics (the last stage in the exact form of the Boltzmann "
           "conditional, a neighbour-sum term in the other stages, coarse-grid logits that "
           "learn at the same pace): the network alone", flag="--no-local-terms"),
    Option("condition", "auto", "str", "condition encoder, decoder and prior on the "
           "temperature, one model for every temperature of a file (auto: whenever the "
           "training data hold two or more temperatures and there is no --head, --levels 2 "
           "or --prior maf)", CONDITIONS),
    # posterior, prior and levels
    Option("flow", "none", "str", "normalizing flow on the posterior", FLOWS),
    Option("flow_depth", None, "int", f"number of stacked flow layers ({DEFAULT_FLOW_DEPTH} "
           "with a flow)", low=0, high=_DEPTH),
    Option("flow_amortized", True, "off", "one set of flow parameters for all "
           "configurations (default: amortized, from the encoder)", flag="--flow-global"),
    Option("prior", "normal", "str", "prior p(z): standard normal or learned masked "
           "autoregressive flow", PRIORS),
    Option("prior_depth", 2, "int", "MAF layers of --prior maf", low=1, high=_DEPTH),
    Option("levels", 1, "int", "latent levels: 2 for the two-level top-down model", (1, 2),
           low=1),
    Option("top_dim", None, "int", "top-level latent size with --levels 2 (latent dim / 4)",
           low=1),
    # supervision
    Option("head", "none", "str", "supervision from the temperature column: an "
           "information-bottleneck head predicting the temperature or the phase (T < Tc) "
           "from z, or the semi-supervised M2 model with the phase or the file's "
           "temperatures as classes", HEADS),
    Option("head_weight", 1.0, "float", "weight per spin of the head's log-likelihood "
           "(vib-*) or of M2's classifier (alpha)", aliases=("--alpha",), low=0),
    Option("head_units", 64, "int", "width of the head network", low=1, high=_WIDTH),
    Option("label_fraction", 1.0, "float", "fraction of the (eligible) training "
           "configurations that keep their label", low=0, low_open=True, high=1),
    Option("label_window", 0.0, "float", "hide the labels of configurations with "
           "|T - Tc| below this", low=0),
    # the objective
    Option("beta", 1.0, "float", "weight of the KL term", low=0),
    Option("kl_schedule", "linear", "str", "warm-up shape: linear once, or cyclical "
           "(--kl-cycles cycles)", KL_SCHEDULES),
    Option("kl_warmup", 2, "int", "epochs of KL warm-up (0 for none)", low=0,
           high=_EPOCHS),
    Option("kl_cycles", 4, "int", "cycles of the cyclical schedule", low=1, high=_EPOCHS),
    Option("free_bits", 0.0, "float", "free nats per latent dimension", low=0),
    Option("kl_estimator", "analytic", "str", "closed-form KL (with a flow: closed form "
           "for the Gaussian base plus a sampled flow correction; not with --prior maf) or "
           "the one-sample Monte Carlo estimate", KL_ESTIMATORS),
    Option("prior_mirror", True, "off", "a conditioned model's prior with two free "
           "components instead of two mirror images of each other (a centre, plus and "
           "minus a half-separation, one variance, equal weights)", flag="--prior-free"),
    Option("prior_fit", 3000, "int", "after training, fit the prior p(z|T) of a model "
           "conditioned on temperature to the codes of the training rows for this many "
           f"steps, at most {PRIOR_FIT_PASSES} passes over them (0: keep the prior "
           "training left)", low=0, high=10**6),
    # optimisation and data
    Option("epochs", 20, "int", "passes over the training split", low=1, high=_EPOCHS),
    Option("batch_size", 128, "int", "configurations per step", low=1, high=2**20),
    Option("learning_rate", 1e-3, "float", "Adam step size (the first, with a schedule)",
           low=0, low_open=True),
    Option("lr_schedule", "constant", "str", "step size over training: constant, or cosine "
           "decay from --learning-rate to 0 over all the epochs", LR_SCHEDULES),
    Option("augment", True, "off", "do not apply random lattice symmetries to training "
           "batches", flag="--no-augment"),
    Option("seed", 0, "seed", "seed of weights, batches and noise; same seed, same weights"),
    Option("temperatures", None, "floats", "train on these temperatures of the file only"),
    Option("split_seed", 0, "seed", "seed of the split by chain"),
    Option("fractions", (0.8, 0.1, 0.1), "none", "train, validation and test fractions of "
           "the chains at each temperature"),
    Option("strategy", "default", "str", "tf.distribute strategy: mirrored uses every "
           "visible device", STRATEGIES),
)

_BY_NAME = {o.name: o for o in OPTIONS}
#: name -> default of every option
DEFAULTS: dict[str, Any] = {o.name: o.default for o in OPTIONS}
#: defaults of the network keywords shared by every Keras model of the package
MODEL_DEFAULTS: dict[str, Any] = {
    "latent_dim": DEFAULTS["latent_dim"], "family": DEFAULTS["family"],
    "filters": DEFAULTS["filters"], "units": DEFAULT_UNITS[DEFAULTS["family"]],
    "activation": DEFAULTS["activation"], "beta": DEFAULTS["beta"],
    "free_bits": DEFAULTS["free_bits"], "kl_estimator": DEFAULTS["kl_estimator"],
    "flow": DEFAULTS["flow"], "prior": DEFAULTS["prior"],
    "prior_depth": DEFAULTS["prior_depth"], "head_units": DEFAULTS["head_units"],
    "decoder": DEFAULTS["decoder"], "decoder_width": DEFAULTS["decoder_width"],
    "decoder_depth": DEFAULTS["decoder_depth"],
    "local_terms": DEFAULTS["local_terms"],
}


def option(name: str) -> Option:
    """The :class:`Option` called ``name``."""
    return _BY_NAME[name]
