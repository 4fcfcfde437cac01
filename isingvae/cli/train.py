"""``isingvae train``: a model trained on an HDF5 file, into a run directory.

Its flags are generated from :data:`isingvae.models.options.OPTIONS`, the table that
also defines :class:`~isingvae.training.TrainConfig`: a flag exists for every option
(help text and default included) and carries its value to the field of the same name;
nothing is listed twice.  Flags not given keep the option's default.
"""

from __future__ import annotations

import argparse

from isingvae.cli._types import float_list, int_list
from isingvae.models.options import OPTIONS, Option

HELP = "train a VAE on an HDF5 file"
_TYPES = {"int": int, "seed": int, "float": float, "str": str, "ints": int_list,
          "floats": float_list}


def _show(value) -> str:
    if isinstance(value, tuple):
        return ",".join(_show(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _help(o: Option) -> str:
    if o.kind == "off" or o.default is None:
        return o.help
    return f"{o.help} (default {_show(o.default)})"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="HDF5 configuration file")
    p.add_argument("--out", required=True, help="run directory to create (or resume)")
    for o in OPTIONS:
        if o.cli_flag is None:
            continue
        kw = {"dest": o.name, "help": _help(o)}
        if o.kind == "off":
            kw.update(action="store_false", default=None)
        else:
            kw["type"] = _TYPES[o.kind]
            if o.choices is not None:
                kw["choices"] = list(o.choices)
        p.add_argument(o.cli_flag, *o.aliases, **kw)
    p.add_argument("--force", action="store_true",
                   help="replace a run directory that holds other settings")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def execute(args: argparse.Namespace) -> int:
    from isingvae.cli._tensorflow import import_quietly
    from isingvae.training import TrainConfig, train

    given = {o.name: getattr(args, o.name) for o in OPTIONS
             if o.cli_flag is not None and getattr(args, o.name) is not None}
    config = TrainConfig(**given)
    import_quietly()
    res = train(args.data, args.out, config, force=args.force,
                verbose=0 if args.quiet else None)
    if res.already_complete:
        print(f"{res.run_dir} is already trained with these settings; nothing to do")
        return 0
    resumed = f" (resumed at epoch {res.resumed_from + 1})" if res.resumed_from else ""
    val = res.final.get("val_neg_elbo")
    val_text = f", validation -ELBO {val:.4f} nats/spin" if val is not None else ""
    acc = res.final.get("val_accuracy")
    val_text += f", validation accuracy {acc:.3f}" if acc is not None else ""
    print(f"trained {res.run_dir}: {res.epochs_run} epoch(s){resumed} in "
          f"{res.seconds:.1f} s ({res.configs_per_second:.0f} configurations/s){val_text}")
    return 0
