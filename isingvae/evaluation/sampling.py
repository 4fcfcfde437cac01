"""Configurations drawn from a trained model, written in the HDF5 layout of the data.

Each configuration is independent: ``z`` from the prior (or, for a model that
conditions on temperature, the prior at that temperature), then the spins from the
decoder (every spin from its Bernoulli probability for a factorised decoder, stage by
stage for the autoregressive one).  Latents and spins of batch ``b`` come from
the ``generate`` random stream of the seed refined by ``b`` (:mod:`isingvae.random`),
so the same seed gives the same bits whatever else runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from isingvae import _validate as _v
from isingvae import random
from isingvae.errors import InputError

__all__ = ["sample"]


def _made_by(path: Path) -> tuple[str | None, str]:
    """The ``made_by`` record of an existing file and a few words on what it is."""
    from isingvae.storage import read_header

    try:
        head = read_header(path)
    except InputError:
        return None, "not an isingvae configuration file"
    return head.attrs.get("made_by"), (f"an isingvae file of {head.n} configurations, "
                                        f"algorithm {head.algorithm!r}")


def check_trained_range(run, record: dict, temperatures, name: str = "temperature") -> None:
    """Refuse a temperature outside the range a conditioned run was trained on (``name``
    says what the message calls it); nothing to check for other runs or no temperatures."""
    span = record.get("conditioning")
    if span is None or temperatures is None:
        return
    lo, hi = span["t_min"], span["t_max"]
    for t in temperatures:
        if not lo - 1e-9 <= t <= hi + 1e-9:
            raise InputError(f"{name} {t:g} lies outside the range the model in {run.path} "
                             f"was trained on, [{lo:g}, {hi:g}]")


def _check_temperatures(run, record: dict, temperatures: list[float] | None) -> None:
    """Refuse, before TensorFlow, a temperature the run cannot generate at."""
    if record.get("conditioning") is not None:
        check_trained_range(run, record, temperatures, "--temperature")
    elif temperatures is not None and record["settings"].get("head") != "m2-temperature":
        raise InputError(f"the model in {run.path} does not condition on temperature; drop "
                         f"--temperature, or train with --condition temperature")


def sample(
    run_dir: str | os.PathLike,
    n: int,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    temperature: float | Sequence[float] | None = None,
    force: bool = False,
    batch_size: int = 4096,
    mcmc: bool = False,
    chains: int = 16,
) -> Path:
    """Draw ``n`` configurations from a trained run into an HDF5 file
    (``docs/interfaces.md`` §1).

    Rows carry ``chain = 0 .. n-1`` (no two share a chain), ``algorithm = "vae"`` and,
    for a model that does not condition on temperature, ``temperature = NaN``.  The file
    records what made it (attribute ``made_by``: the run, a digest of its model, ``n``,
    the seed and the temperatures).  An existing ``out`` is left alone when it is
    exactly this output already, and refused otherwise (:class:`InputError`) unless
    ``force``.

    ``temperature``: generate at that temperature (``n`` configurations at each of a list
    of them), for a model that conditions on it: a model trained conditioned on
    temperature at any ``T`` in its trained range, M2 with temperature classes
    (``--head m2-temperature``) at one of its classes; the file's temperature column is
    then ``T``.  Other models refuse it.  Without it, a model conditioned on temperature
    draws ``n`` configurations at its training temperatures, shared among them as its
    training rows were (the mixture it was trained on; each row records its ``T``).

    ``mcmc``: Boltzmann samples at one ``temperature`` instead, from ``chains`` neural
    MCMC chains (:mod:`isingvae.evaluation.thermo`: independence Metropolis-Hastings with
    the model as proposal, any single-level VAE without a posterior flow; an
    unconditional model proposes from its one distribution at every T).  Each chain is
    burnt in for a tenth of its length, rows of one chain share its ``chain`` id, and
    the file has ``algorithm = "vae-mcmc"`` with ``acceptance``, ``tau_int_energy``
    (steps) and ``burn_in`` attributes.
    """
    from isingvae import lattice
    from isingvae._locks import exclusive
    from isingvae.storage import write_ising_file
    from isingvae.training import RunDir

    n = _v.count("--n", n)
    seed = _v.seed(seed)
    temps = None if temperature is None else \
        [_v.real("--temperature", t, positive=True) for t in np.atleast_1d(temperature)]
    out = Path(out)
    run = RunDir(run_dir)
    record = run.trained()
    L = int(record["data"]["L"])
    if mcmc:
        from isingvae.evaluation.thermo import check_run

        if temps is None or len(temps) != 1:
            raise InputError("--mcmc samples the Boltzmann distribution at one temperature: "
                             "give one --temperature")
        chains = _v.count("--chains", chains, hi=n)
        check_run(run, record, temps)
    else:
        _check_temperatures(run, record, temps)
    plan = _rows_per_temperature(record, n, temps)
    rows = sum(c for _, c in plan)
    _v.fits_in_memory(f"--n {n} at L = {L}", rows * (L * L + 40))
    with exclusive(out):
        made_by = json.dumps({"command": "sample", "run_dir": str(run.path.resolve()),
                              "model_sha256": run.model_digest(), "n": n, "seed": seed,
                              "temperature": temps if temps is None or len(temps) > 1
                              else temps[0], **({"mcmc": True, "chains": chains} if mcmc
                                                else {})}, sort_keys=True)
        if out.exists():
            prior, what = _made_by(out)
            if prior == made_by:
                return out                      # exactly this output already: same bits
            if not force:
                raise InputError(f"{out} exists and is {what}, not made by this command; "
                                 f"choose another --out, or pass --force to replace it")
        model, _ = run.load()
        data = record["data"]
        if mcmc:
            return _write_mcmc(out, model, n, temps[0], seed, chains, data, batch_size,
                               {"run_dir": str(run.path.resolve()),
                                "model_settings": record["settings"], "made_by": made_by})
        spins = np.concatenate([_draw(model, c, seed, t, k, batch_size)
                                for k, (t, c) in enumerate(plan)])
        column = np.concatenate([np.full(c, np.nan if t is None else t) for t, c in plan])
        return write_ising_file(
            out, L=L, J=data["J"], h=data["h"], seed=seed, algorithm="vae", spins=spins,
            temperature=column, energy=lattice.energy(spins, data["J"], data["h"]),
            magnetization=lattice.magnetization(spins), chain=np.arange(rows),
            attrs={"run_dir": str(run.path.resolve()), "model_settings": record["settings"],
                   "made_by": made_by})


def _rows_per_temperature(record: dict, n: int, temps: list[float] | None
                          ) -> list[tuple[float | None, int]]:
    """``(temperature, rows)`` to draw: ``n`` at each temperature asked for; for a model
    conditioned on temperature asked for none, ``n`` in all at its training
    temperatures, shared as its training rows were (largest remainders); else ``n`` at
    no temperature (an unconditional model)."""
    if temps is not None:
        return [(t, n) for t in temps]
    span = record.get("conditioning")
    if span is None:
        return [(None, n)]
    weights = np.asarray(span["rows"], dtype=np.float64)
    share = n * weights / weights.sum()
    counts = np.floor(share).astype(int)
    for k in np.argsort(-(share - counts), kind="stable")[:n - counts.sum()]:
        counts[k] += 1
    return [(float(t), int(c)) for t, c in zip(span["temperatures"], counts, strict=True)]


def _draw(model, n: int, seed: int, temperature: float | None, index: int,
          batch_size: int) -> np.ndarray:
    """``n`` spin configurations (int8) of ``model`` at ``temperature``; the keys are the
    ``generate`` stream refined by the temperature's index and the batch."""
    import tensorflow as tf

    from isingvae.models import compiled

    cls = None if temperature is None or model.conditioned else \
        model.class_index_of_temperature(temperature)
    draw = compiled(model, "sample_x") if cls is None else \
        compiled(model, "sample_x_for_class")
    fold = tf.random.experimental.stateless_fold_in
    root = fold(tf.constant(random.tf_key(seed, "generate"), tf.int64), index)
    spins = np.empty((n, model.L, model.L), np.int8)
    for b0 in range(0, n, batch_size):
        m = min(batch_size, n - b0)
        at = cls if cls is not None else \
            None if temperature is None else tf.constant(temperature, tf.float32)
        x = draw(m, fold(root, b0), at)           # a tensor: no retracing per temperature
        spins[b0:b0 + m] = np.where(x.numpy()[..., 0] > 0.5, 1, -1)
    return spins


def _write_mcmc(out: Path, model, n: int, T: float, seed: int, chains: int, data: dict,
                batch_size: int, attrs: dict) -> Path:
    """``n`` rows from ``chains`` neural MCMC chains at ``T`` (:func:`sample`)."""
    from isingvae import lattice
    from isingvae.evaluation import thermo
    from isingvae.storage import write_ising_file

    kept = -(-n // chains)                        # rows per chain, rounded up
    burn = max(kept // 10, 1)
    steps = kept + burn
    N, J, h = model.L * model.L, data["J"], data["h"]
    spins, log_ratio = thermo.draw(model, T, steps * chains, seed, 0, batch_size)
    e = lattice.energy(spins, J, h)
    state, accepted = thermo.mcmc_chains(-N * e / T + log_ratio, chains, seed, 0)
    summary = thermo.mcmc_summary(e, state, accepted, burn)
    rows = state[burn:].T.reshape(-1)[:n]          # chain by chain
    chain = np.repeat(np.arange(chains), kept)[:n]
    picked = spins[rows]
    return write_ising_file(
        out, L=model.L, J=J, h=h, seed=seed, algorithm="vae-mcmc", spins=picked,
        temperature=np.full(n, T), energy=e[rows],
        magnetization=lattice.magnetization(picked), chain=chain,
        attrs={**attrs, "acceptance": summary["acceptance"],
               "tau_int_energy": summary["tau_int_energy"], "burn_in": burn,
               "chains": chains})
