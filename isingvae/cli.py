"""The ``isingvae`` command: a group of subcommands (CONTRACTS section 2).

Start-up is kept cheap: this module imports only the standard library, and each
subcommand imports its own machinery (numba, h5py, TensorFlow) when it runs, so
``isingvae --version`` and ``isingvae --help`` never load TensorFlow.

Errors in the input (a bad flag value, an unreadable file) are reported as one
line on stderr with exit status 2; nothing is printed as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from isingvae._version import __version__
from isingvae.errors import InputError, NotBuiltError

PROG = "isingvae"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are a single line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _not_built(command: str, issue: int) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        raise NotBuiltError(
            f"'{command}' is not built yet in isingvae {__version__} (planned in issue #{issue})"
        )

    return run


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
    from isingvae.generate import GenerationPlan, generate, parse_temperatures

    temps = parse_temperatures(args.temperatures, args.t_min, args.t_max, args.t_count)
    samples = args.samples
    chains = args.chains if args.chains is not None else max(1, min(64, samples))
    plan = GenerationPlan(L=args.L, temperatures=temps, samples=samples, chains=chains,
                          seed=args.seed, algorithm=args.algorithm, J=args.J, h=args.h)
    res = generate(plan, args.out, force=args.force, scheduler=args.scheduler,
                   progress=False if args.quiet else None)
    if res.already_complete:
        print(f"{res.path} is already complete ({res.rows} configurations); nothing to do")
    else:
        print(f"wrote {res.path}: {res.rows} configurations of L={plan.L} at "
              f"{len(temps)} temperature(s) in {res.seconds:.1f} s "
              f"({res.seconds_monte_carlo:.1f} s Monte Carlo)")
    return 0


def _args_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="HDF5 configuration file")
    p.add_argument("--out", help="run directory to create")
    p.add_argument("--latent-dim", type=int, help="latent dimension")
    p.add_argument("--flow", choices=["none", "planar", "radial", "iaf", "realnvp"], default="none")
    p.add_argument("--flow-depth", type=int, help="number of stacked flow layers")
    p.add_argument("--head", choices=["none", "vib-temperature", "vib-phase"], default="none")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--beta", type=float, help="weight of the KL term")
    p.add_argument("--kl-warmup", type=int, help="epochs of linear KL warm-up")
    p.add_argument("--free-bits", type=float, help="free nats per latent dimension")


def _args_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory made by 'isingvae train'")
    p.add_argument("--data", help="HDF5 configuration file")
    p.add_argument("--iw-samples", type=int, help="importance samples K per configuration")


def _args_sample(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory made by 'isingvae train'")
    p.add_argument("--n", type=int, help="number of configurations")
    p.add_argument("--out", help="output HDF5 file")
    p.add_argument("--temperature", type=float, help="temperature, for conditional models")


def _args_analyze(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories")
    p.add_argument("--data", nargs="+", metavar="FILE", help="HDF5 files, paired with the runs")
    p.add_argument("--out", help="report directory")


def _args_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="report directory")


# name -> (one-line help, argument set, handler)
COMMANDS: dict[str, tuple[str, Callable, Callable[[argparse.Namespace], int]]] = {
    "generate": ("Monte Carlo configurations to HDF5", _args_generate, _cmd_generate),
    "train": ("train a VAE on an HDF5 file", _args_train, _not_built("train", 5)),
    "evaluate": ("held-out log-likelihood of a trained run", _args_evaluate,
                 _not_built("evaluate", 5)),
    "sample": ("configurations generated by a trained run", _args_sample,
               _not_built("sample", 5)),
    "analyze": ("figures, Tc estimates and report.json", _args_analyze,
                _not_built("analyze", 8)),
    "run": ("the main job end to end on the built-in default", _args_run, _not_built("run", 9)),
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
