"""What ``isingvae analyze`` works on: (run, data) pairs, checked before anything heavy.

A :class:`Pair` is one trained run with the Monte Carlo file it is analysed on (one
lattice size each); :func:`check_inputs` pairs them in order and refuses bad input in
one line without importing TensorFlow.  A :class:`PairContext` is what a T_c estimator
plugged into :func:`isingvae.analysis.report.analyze` sees of one pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isingvae.errors import InputError

__all__ = ["Pair", "PairContext", "check_inputs", "reference_rows"]


@dataclass
class Pair:
    """One (run, data) pair, checked: ``config`` is the run's ``config.json``.

    Runs paired with the same data file form an *ensemble* (``ensemble``: the file's
    resolved path; ``member``: the run's place in it, 0 for the first): their estimates
    are combined, with the spread over the members in the error bar
    (:mod:`isingvae.stats.ensemble`).
    """

    index: int
    run_dir: Path
    data: Path
    config: dict
    dataset: object
    L: int
    tag: str
    ensemble: str = ""
    member: int = 0


@dataclass
class PairContext:
    """What an extra estimator sees of one pair (arrays over the file's rows, in order).

    ``mean``/``log_var``: posterior parameters ``(n, d)``; ``zeta``: the latent order
    parameter of each row; ``model``: the loaded Keras model.
    """

    pair: Pair
    model: object
    dataset: object
    mean: np.ndarray
    log_var: np.ndarray
    zeta: np.ndarray
    settings: dict = field(default_factory=dict)


def check_inputs(runs: Sequence, data: Sequence | None) -> list[Pair]:
    """Pair runs with data files in order and check them, without TensorFlow.

    Raises :class:`InputError` (one line) for unequal counts, a missing or unfinished
    run, a file that is not Monte Carlo data, or a file whose L differs from the run's.
    """
    from isingvae.data import IsingDataset
    from isingvae.training import RunDir

    runs = [Path(r) for r in runs]
    if not runs:
        raise InputError("give at least one run directory")
    if not data:
        raise InputError("--data is required: one HDF5 file per run directory, in the same "
                         "order")
    data = [Path(d) for d in data]
    if len(runs) != len(data):
        raise InputError(f"{len(runs)} run director{'y' if len(runs) == 1 else 'ies'} but "
                         f"{len(data)} data file(s); they pair up in order, so give as many "
                         f"of each")
    pairs, seen = [], set()
    for i, (run, path) in enumerate(zip(runs, data, strict=True)):
        config = RunDir(run).trained()
        ds = IsingDataset(path)
        L_run = int(config["data"]["L"])
        if ds.L != L_run:
            raise InputError(f"{path} holds L = {ds.L} lattices, but {run} was trained on "
                             f"L = {L_run}; pair each run with data of its own size")
        if ds.n == 0:
            raise InputError(f"{path} holds no configurations")
        ds.require_temperatures("analyze Monte Carlo data")
        key = str(path.resolve())
        if (run.resolve(), key) in seen:
            raise InputError(f"{run} is paired with {path} twice; an ensemble needs "
                             f"distinct runs")
        seen.add((run.resolve(), key))
        member = sum(p.ensemble == key for p in pairs)
        pairs.append(Pair(i, run, path, config, ds, ds.L, "", key, member))
    files_of_size = {}
    for p in pairs:
        files_of_size.setdefault(p.L, set()).add(p.ensemble)
    first = {}
    for p in pairs:
        first.setdefault(p.ensemble, p.index)
        base = (f"L{p.L}" if len(files_of_size[p.L]) == 1
                else f"run{first[p.ensemble]}_L{p.L}")
        p.tag = base if p.member == 0 else f"{base}_member{p.member + 1}"
    return pairs


def reference_rows(pair: Pair):
    """The Monte Carlo rows a model's samples are compared with: the temperatures it was
    trained on (all of the file's when it trained on all or on another file); returns
    ``(view, note or None)``."""
    temps = (pair.config.get("settings") or {}).get("temperatures")
    ds = pair.dataset
    if temps:
        try:
            return ds.select(temperature=list(temps)), None
        except InputError:
            return ds, ("the run trained on temperatures not all in this file; its samples "
                        "are compared with every temperature of the file")
    return ds, None
