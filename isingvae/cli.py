"""The ``isingvae`` command: a group of subcommands (CONTRACTS section 2).

Start-up is kept cheap: this module imports only the standard library, and each
subcommand imports its own machinery (numba, h5py, TensorFlow) when it runs, so
``isingvae --version`` and ``isingvae --help`` never load TensorFlow.

Errors in the input (a bad flag value, an unreadable file) are reported as one
line on stderr with exit status 2; nothing is printed as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from isingvae._version import __version__
from isingvae.errors import InputError

PROG = "isingvae"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are a single line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up messages (oneDNN, CUDA probing) and its
    Python warnings muted.

    Those lines go straight to file descriptor 2 before any logging is configured, so
    the descriptor itself is pointed at /dev/null for the duration of the import and of
    the device discovery; Python exceptions still propagate.  Only the command line
    does this: library users see TensorFlow as it is.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_logical_devices()
        # tracing hints ("N out of the last N calls ... triggered retracing", one trace
        # per loaded model) are for developers, not for someone reading a run's progress
        tf.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# --- argument sets of the subcommands (CONTRACTS section 2) -----------------------------


def _args_generate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--L", type=int, default=16, help="linear lattice size, even and >= 4 "
                   "(default 16)")
    p.add_argument("--temperatures", help="comma-separated temperatures, e.g. 1.5,2.269,3.0")
    p.add_argument("--t-min", type=float, help="lowest temperature of a uniform grid")
    p.add_argument("--t-max", type=float, help="highest temperature of a uniform grid")
    p.add_argument("--t-count", type=int, help="number of grid temperatures")
    p.add_argument("--samples", type=int, default=1000,
                   help="decorrelated configurations per temperature (default 1000)")
    p.add_argument("--chains", type=int,
                   help="independent Markov chains per temperature (default min(64, samples))")
    p.add_argument(
        "--algorithm", choices=["metropolis", "wolff", "auto"], default="auto",
        help="update rule (auto: whichever yields more independent samples per unit cost, "
        "chosen per temperature)",
    )
    p.add_argument("--seed", type=int, default=0, help="master seed (default 0); same seed, "
                   "same bits")
    p.add_argument("--J", type=float, default=1.0, help="coupling (default 1)")
    p.add_argument("--h", type=float, default=0.0, help="external field (default 0)")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--force", action="store_true",
                   help="overwrite a file (or unfinished run) made with other settings")
    p.add_argument("--scheduler", help="Dask scheduler address, or local:N for a local "
                   "cluster of N workers (needs the 'distributed' extra)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _cmd_generate(args: argparse.Namespace) -> int:
    from isingvae.generation import GenerationPlan, generate, open_executor, parse_temperatures

    temps = parse_temperatures(args.temperatures, args.t_min, args.t_max, args.t_count)
    samples = args.samples
    chains = args.chains if args.chains is not None else max(1, min(64, samples))
    plan = GenerationPlan(L=args.L, temperatures=temps, samples=samples, chains=chains,
                          seed=args.seed, algorithm=args.algorithm, J=args.J, h=args.h)
    with open_executor(args.scheduler) as executor:
        res = generate(plan, args.out, force=args.force, executor=executor,
                       progress=False if args.quiet else None)
    if res.already_complete:
        print(f"{res.path} is already complete ({res.rows} configurations); nothing to do")
    else:
        print(f"wrote {res.path}: {res.rows} configurations of L={plan.L} at "
              f"{len(temps)} temperature(s) in {res.seconds:.1f} s "
              f"({res.seconds_monte_carlo:.1f} s Monte Carlo)")
    return 0


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    return values


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}") from None


def _args_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="HDF5 configuration file")
    p.add_argument("--out", required=True, help="run directory to create (or resume)")
    p.add_argument("--model", choices=["conv", "dense"], help="encoder/decoder family: conv "
                   "(periodic convolutions, default) or dense (MLP)")
    p.add_argument("--latent-dim", type=int, help="latent dimension (default 32)")
    p.add_argument("--filters", type=_int_list, help="conv widths per level (default 16,32)")
    p.add_argument("--units", type=_int_list, help="dense widths (default 128 after the "
                   "convolutions; 512,256 for --model dense)")
    p.add_argument("--flow", choices=["none", "planar", "radial", "iaf", "realnvp"],
                   help="normalizing flow on the posterior (default none)")
    p.add_argument("--flow-depth", type=int, help="number of stacked flow layers (default 4 "
                   "with a flow)")
    p.add_argument("--flow-global", dest="flow_amortized", action="store_false", default=None,
                   help="one set of flow parameters for all configurations (default: "
                   "amortized, from the encoder)")
    p.add_argument("--prior", choices=["normal", "maf"],
                   help="prior p(z): standard normal (default) or learned masked "
                   "autoregressive flow")
    p.add_argument("--prior-depth", type=int, help="MAF layers of --prior maf (default 2)")
    p.add_argument("--levels", type=int, choices=[1, 2],
                   help="latent levels: 2 for the two-level top-down model (default 1)")
    p.add_argument("--top-dim", type=int, help="top-level latent size with --levels 2 "
                   "(default latent dim / 4)")
    p.add_argument("--head", choices=["none", "vib-temperature", "vib-phase", "m2-phase",
                                       "m2-temperature"],
                   help="supervision from the temperature column: an information-bottleneck "
                   "head predicting the temperature or the phase (T < Tc) from z, or the "
                   "semi-supervised M2 model with the phase or the file's temperatures as "
                   "classes (default none)")
    p.add_argument("--head-weight", "--alpha", dest="head_weight", type=float,
                   help="weight per spin of the head's log-likelihood (vib-*) or of M2's "
                   "classifier (alpha) (default 1)")
    p.add_argument("--head-units", type=int, help="width of the head network (default 64)")
    p.add_argument("--label-fraction", type=float, help="fraction of the (eligible) "
                   "training configurations that keep their label (default 1)")
    p.add_argument("--label-window", type=float, help="hide the labels of configurations "
                   "with |T - Tc| below this (default 0)")
    p.add_argument("--epochs", type=int, help="passes over the training split (default 20)")
    p.add_argument("--batch-size", type=int, help="configurations per step (default 128)")
    p.add_argument("--learning-rate", type=float, help="Adam step size (default 1e-3)")
    p.add_argument("--seed", type=int, help="seed of weights, batches and noise (default 0)")
    p.add_argument("--beta", type=float, help="weight of the KL term (default 1)")
    p.add_argument("--kl-warmup", type=int, help="epochs of linear KL warm-up (default 2; 0 "
                   "for none)")
    p.add_argument("--kl-schedule", choices=["linear", "cyclical"],
                   help="warm-up shape: linear once, or cyclical (--kl-cycles cycles)")
    p.add_argument("--kl-cycles", type=int, help="cycles of the cyclical schedule (default 4)")
    p.add_argument("--kl-estimator", choices=["analytic", "mc"],
                   help="closed-form KL (default; with a flow, closed form for the "
                   "Gaussian base plus a sampled flow correction; not with --prior maf) or "
                   "the one-sample Monte Carlo estimate")
    p.add_argument("--free-bits", type=float, help="free nats per latent dimension (default 0)")
    p.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                   help="do not apply random lattice symmetries to training batches")
    p.add_argument("--temperatures", type=_float_list,
                   help="train on these temperatures of the file only")
    p.add_argument("--split-seed", type=int, help="seed of the split by chain (default 0)")
    p.add_argument("--strategy", choices=["default", "mirrored"],
                   help="tf.distribute strategy: mirrored uses every visible device")
    p.add_argument("--force", action="store_true",
                   help="replace a run directory that holds other settings")
    p.add_argument("--quiet", action="store_true", help="no progress output")


_TRAIN_FLAGS = {"model": "family", "latent_dim": "latent_dim", "filters": "filters",
                "units": "units", "flow": "flow", "flow_depth": "flow_depth", "head": "head",
                "flow_amortized": "flow_amortized", "prior": "prior",
                "prior_depth": "prior_depth", "levels": "levels", "top_dim": "top_dim",
                "epochs": "epochs", "batch_size": "batch_size",
                "learning_rate": "learning_rate", "seed": "seed", "beta": "beta",
                "kl_warmup": "kl_warmup", "kl_schedule": "kl_schedule",
                "kl_cycles": "kl_cycles", "kl_estimator": "kl_estimator",
                "free_bits": "free_bits", "augment": "augment",
                "temperatures": "temperatures", "split_seed": "split_seed",
                "strategy": "strategy", "head_weight": "head_weight",
                "head_units": "head_units", "label_fraction": "label_fraction",
                "label_window": "label_window"}


def _cmd_train(args: argparse.Namespace) -> int:
    from isingvae.runs import TrainConfig, train

    given = {field: getattr(args, flag) for flag, field in _TRAIN_FLAGS.items()
             if getattr(args, flag) is not None}
    config = TrainConfig(**given).check()
    _import_tensorflow_quietly()
    res = train(args.data, args.out, config, force=args.force,
                verbose=0 if args.quiet else None)
    if res.already_complete:
        print(f"{res.run_dir} is already trained with these settings; nothing to do")
    else:
        resumed = f" (resumed at epoch {res.resumed_from + 1})" if res.resumed_from else ""
        val = res.final.get("val_neg_elbo")
        val_text = f", validation -ELBO {val:.4f} nats/spin" if val is not None else ""
        acc = res.final.get("val_accuracy")
        val_text += f", validation accuracy {acc:.3f}" if acc is not None else ""
        print(f"trained {res.run_dir}: {res.epochs_run} epoch(s){resumed} in "
              f"{res.seconds:.1f} s ({res.configs_per_second:.0f} configurations/s){val_text}")
    return 0


def _args_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory made by 'isingvae train'")
    p.add_argument("--data", help="HDF5 configuration file (default: the training file's "
                   "held-out chains)")
    p.add_argument("--iw-samples", type=int, default=1000,
                   help="importance samples K per configuration (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the importance samples")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from isingvae.runs import evaluate

    _import_tensorflow_quietly()

    res = evaluate(args.run_dir, args.data, iw_samples=args.iw_samples, seed=args.seed,
                   progress=False if args.quiet else None)
    print(f"{'T':>8} {'n':>6} {'NLL/spin':>10} {'+-':>8} {'-ELBO/spin':>11} {'entropy':>9} "
          f"{'ratio':>6}")
    for r in res["per_temperature"]:
        s = r.get("exact_entropy_per_spin", float("nan"))
        q = r.get("nll_over_entropy", float("nan"))
        print(f"{r['temperature']:8.4f} {r['n']:6d} {r['nll_per_spin']:10.5f} "
              f"{r['nll_stderr']:8.5f} {r['elbo_per_spin']:11.5f} {s:9.5f} {q:6.3f}")
    head = res.get("head")
    if head is not None:
        parts = []
        if head.get("accuracy") is not None:
            parts.append(f"phase accuracy {head['accuracy']:.3f}")
        if head.get("accuracy_away_from_tc") is not None:
            parts.append(f"{head['accuracy_away_from_tc']:.3f} at |T - Tc| > "
                         f"{head['away_from_tc']:g}")
        if head.get("r2") is not None:
            parts.append(f"temperature R^2 {head['r2']:.3f} (RMSE "
                         f"{head['temperature_rmse']:.3f})")
        print("head (held out): " + ", ".join(parts))
    print(f"wrote {args.run_dir.rstrip('/')}/evaluation.json (K = {res['iw_samples']}, "
          f"{res['held_out']})")
    return 0


def _args_sample(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory made by 'isingvae train'")
    p.add_argument("--n", type=int, default=1000, help="number of configurations (default 1000)")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--temperature", type=float, help="generate at this temperature (models "
                   "trained with --head m2-temperature; one of their training temperatures)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0); same seed, same bits")


def _cmd_sample(args: argparse.Namespace) -> int:
    from isingvae.runs import sample

    _import_tensorflow_quietly()

    path = sample(args.run_dir, args.n, args.out, seed=args.seed, temperature=args.temperature)
    at = f" at T = {args.temperature:g}" if args.temperature is not None else ""
    print(f"wrote {path}: {args.n} configurations sampled from {args.run_dir}{at}")
    return 0


def _args_analyze(p: argparse.ArgumentParser) -> None:
    from isingvae.analysis import command

    command.add_arguments(p)


def _cmd_analyze(args: argparse.Namespace) -> int:
    from isingvae.analysis import command

    return command.run(args)


def _args_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="isingvae-run",
                   help="report directory (default ./isingvae-run); re-running reuses its "
                   "finished steps")
    p.add_argument("--quick", action="store_true",
                   help="a tiny plan (L = 8 and 12, 2 epochs) to check the set-up in a minute")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _cmd_run(args: argparse.Namespace) -> int:
    from isingvae import pipeline

    _import_tensorflow_quietly()
    res = pipeline.run(args.out, pipeline.QUICK if args.quick else pipeline.DEFAULT,
                       quiet=args.quiet)
    fss = [e for e in res["report"]["tc_estimates"] if e["L"] is None]
    for e in fss:
        print(f"{e['method']:<34} Tc = {e['tc']:.4f} +- {e['stderr']:.4f}")
    print(f"wrote {Path(args.out) / 'README.md'} in {res['timings']['total_seconds']:.0f} s")
    return 0


# name -> (one-line help, argument set, handler)
COMMANDS: dict[str, tuple[str, Callable, Callable[[argparse.Namespace], int]]] = {
    "generate": ("Monte Carlo configurations to HDF5", _args_generate, _cmd_generate),
    "train": ("train a VAE on an HDF5 file", _args_train, _cmd_train),
    "evaluate": ("held-out log-likelihood of a trained run", _args_evaluate, _cmd_evaluate),
    "sample": ("configurations generated by a trained run", _args_sample, _cmd_sample),
    "analyze": ("figures, Tc estimates and report.json", _args_analyze, _cmd_analyze),
    "run": ("the main job end to end on the built-in default", _args_run, _cmd_run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Monte Carlo data, variational autoencoders and exact references "
        "for the 2D Ising model.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_text, add_args, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(_handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    prefix = f"{PROG} {args.command}"
    try:
        return int(args._handler(args) or 0)
    except InputError as exc:
        print(f"{prefix}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # unreadable input, unwritable output, missing directory
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{prefix}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted; what was written is kept", file=sys.stderr)
        return EXIT_INTERRUPTED


__all__ = ["COMMANDS", "build_parser", "main"]
