"""Configurations drawn from a trained model, written in the HDF5 layout of the data.

Each configuration is independent: ``z`` from the prior (or, for a model that
conditions on temperature, the prior at that temperature), then the spins from the
decoder (every spin from its Bernoulli probability for a factorised decoder, stage by
stage for the autoregressive one), drawn by :func:`isingvae.evaluation.draws.configurations`
from the ``generate`` random stream, so the same seed gives the same bits whatever else
runs.  With ``mcmc`` the rows are exact Boltzmann samples instead, from neural MCMC
chains (:mod:`isingvae.evaluation.neural_mcmc`) fed by the model's proposals.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.evaluation import draws, importance, neural_mcmc
from isingvae.evaluation.draws import BATCH
from isingvae.evaluation.neural_mcmc import DEFAULT_CHAINS

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


def sample(
    run_dir: str | os.PathLike,
    n: int,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    temperature: float | Sequence[float] | None = None,
    force: bool = False,
    batch_size: int = BATCH,
    mcmc: bool = False,
    chains: int = DEFAULT_CHAINS,
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
    MCMC chains (:mod:`isingvae.evaluation.neural_mcmc`: independence Metropolis-Hastings
    with the model as proposal, any single-level VAE without a posterior flow; an
    unconditional model proposes from its one distribution at every T).  Each chain
    keeps ``ceil(n / chains)`` steps after its burn-in
    (:func:`~isingvae.evaluation.neural_mcmc.burn_in`), rows of one chain share its
    ``chain`` id, and the file has ``algorithm = "vae-mcmc"`` with the attributes
    ``acceptance_rate`` (also as ``acceptance``, its 0.1 name), ``tau_int_energy``
    (steps), ``burn_in`` and ``chains``.
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
        if temps is None or len(temps) != 1:
            raise InputError("--mcmc samples the Boltzmann distribution at one temperature: "
                             "give one --temperature")
        chains = _v.count("--chains", chains, hi=n)
        run.check_proposal(record, temps)
    else:
        run.check_generates_at(record, temps)
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
        spins = np.concatenate([draws.configurations(model, c, seed, t, k, batch_size)
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


def _write_mcmc(out: Path, model, n: int, T: float, seed: int, chains: int, data: dict,
                batch_size: int, attrs: dict) -> Path:
    """``n`` rows from ``chains`` neural MCMC chains at ``T`` (:func:`sample`)."""
    from isingvae import lattice
    from isingvae.storage import write_ising_file

    kept = -(-n // chains)                        # rows per chain, rounded up
    N, J, h = model.L * model.L, data["J"], data["h"]
    spins, log_ratio = draws.proposals(model, T, chains * (kept + neural_mcmc.burn_in(kept)),
                                       seed, 0, batch_size)
    e = lattice.energy(spins, J, h)
    chain_run = neural_mcmc.run_chains(e, importance.log_weights(e, log_ratio, T, N), chains,
                                       kept, seed, 0)
    rows, chain = (a[:n] for a in chain_run.rows())
    picked = spins[rows]
    summary = chain_run.summary
    return write_ising_file(
        out, L=model.L, J=J, h=h, seed=seed, algorithm="vae-mcmc", spins=picked,
        temperature=np.full(n, T), energy=e[rows],
        magnetization=lattice.magnetization(picked), chain=chain,
        attrs={**attrs, "acceptance_rate": summary["acceptance_rate"],
               "acceptance": summary["acceptance_rate"],
               "tau_int_energy": summary["tau_int_energy"], "burn_in": chain_run.burn,
               "chains": chains})
