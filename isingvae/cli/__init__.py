"""The ``isingvae`` command: a group of subcommands (``docs/interfaces.md`` §2).

One module per command (:mod:`~isingvae.cli.generate`, :mod:`~isingvae.cli.train`,
:mod:`~isingvae.cli.evaluate`, :mod:`~isingvae.cli.sample`,
:mod:`~isingvae.cli.analyze`, :mod:`~isingvae.cli.run`), each with ``HELP``,
``add_arguments(parser)`` and ``execute(args) -> exit status``.

Start-up is kept cheap: these modules import only the standard library (and the
TensorFlow-free option table), and each command imports its machinery (numba, h5py,
TensorFlow) when it runs, so ``isingvae --version`` and ``--help`` load no TensorFlow.
The parser is :mod:`argparse`, not a third-party CLI library: it is in the standard
library, starts in milliseconds, and its one-line errors already have the shape the
interface asks for.

Errors in the input (a bad flag value, an unreadable file) are one line on stderr with
exit status 2, never a traceback; an interrupt keeps what was written and exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from isingvae._version import __version__
from isingvae.errors import InputError

__all__ = ["COMMANDS", "build_parser", "main"]

PROG = "isingvae"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: command name -> module of isingvae.cli
COMMANDS = {name: name for name in ("generate", "train", "evaluate", "sample", "thermo",
                                    "analyze", "run")}


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are a single line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Monte Carlo data, variational autoencoders and exact references "
        "for the 2D Ising model.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in COMMANDS.items():
        command = importlib.import_module(f"{__name__}.{module}")
        p = sub.add_parser(name, help=command.HELP, description=command.HELP)
        command.add_arguments(p)
        p.set_defaults(_handler=command.execute)
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
