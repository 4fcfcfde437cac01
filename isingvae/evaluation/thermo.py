"""``isingvae thermo``: Boltzmann thermodynamics of a trained run against Kaufman's.

At each temperature the run's model proposes ``n`` pairs ``(z, x)``
(:func:`isingvae.evaluation.draws.proposals`, the ``thermo`` random stream refined by the
temperature's index); their importance weights give the free energy, energy, specific
heat, susceptibility, entropy and ``<|m|>`` per spin with error bars and a verdict on
whether those error bars can be trusted (:mod:`isingvae.evaluation.importance`:
effective sample size, Pareto k-hat of the largest weights, batch errors), and the same
proposals feed a neural MCMC run whose acceptance rate and autocorrelation time say how
good a proposal the model is (:mod:`isingvae.evaluation.neural_mcmc`).  Each row stands
next to the exact values of the run's ``L x L`` torus where Kaufman's solution applies
(:func:`isingvae.exact.reference`).  Same seed, same numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from isingvae import _validate as _v
from isingvae.evaluation import draws, importance, neural_mcmc

__all__ = ["thermo"]


def exact_values(L: int, T: float, J: float, h: float) -> dict | None:
    """Kaufman's values per spin for a row of ``thermo.json`` (None where they do not
    apply: :func:`isingvae.exact.reference`)."""
    from isingvae import exact

    r = exact.reference(L, T, J, h)
    if r is None:
        return None
    return {"free_energy_per_spin": float(r.free_energy), "log_z_per_spin": float(r.log_z),
            "energy_per_spin": float(r.energy), "specific_heat": float(r.specific_heat),
            "specific_heat_per_spin": float(r.specific_heat),
            "entropy_per_spin": float(r.entropy)}


def thermo(run_dir: str | os.PathLike, temperatures: Sequence[float], n: int,
           out: str | os.PathLike | None = None, *, seed: int = 0, progress=None,
           model=None) -> dict:
    """Importance-sampling estimates and a neural-MCMC summary at each temperature of a
    trained run, next to Kaufman's exact values for the run's ``L`` (zero field).

    Writes ``out`` (JSON: ``run_dir``, ``L``, ``n``, ``seed``, ``reliability_thresholds``,
    ``per_temperature``; ``docs/interfaces.md``) when it is given, and returns the record.
    A row whose ESS is under :data:`~isingvae.evaluation.importance.ESS_WARNING` of its
    draws carries ``ess_warning: true``.  Every row carries the reliability diagnostics of
    :mod:`isingvae.evaluation.importance` (``ess``, ``pareto_k``, the batch errors,
    ``reliable``, ``unreliable_because``, ``draws_needed``); the error bars of an
    unreliable row are inflated (``stderr_inflated``), and ``reliability_thresholds``
    records the rule's constants.  ``model``: the run's model, already loaded (else it is
    loaded here).  The figure is :func:`isingvae.analysis.thermo_figure.thermo_figure`."""
    from isingvae import lattice
    from isingvae._atomic import check_writable, write_text
    from isingvae.progress import Progress
    from isingvae.training import RunDir

    temps = [float(t) for t in _v.temperatures(temperatures)]
    n = _v.count("--n", n, lo=2, hi=importance.MAX_DRAWS)
    seed = _v.seed(seed)
    run = RunDir(run_dir)
    record = run.trained()
    run.check_proposal(record, temps)
    data = record["data"]
    L, J, h = int(data["L"]), float(data["J"]), float(data["h"])
    N = L * L
    _v.fits_in_memory(f"--n {n} at L = {L}", n * (N + 40))
    if out is not None:
        check_writable(out)
    if model is None:
        model, _ = run.load()
    chains = min(neural_mcmc.DEFAULT_CHAINS, n // 2)
    kept = neural_mcmc.kept_steps(n // chains)
    rows = []
    with Progress(total=len(temps), desc="thermo", unit="T", enabled=progress) as bar:
        for k, T in enumerate(temps):
            spins, log_ratio = draws.proposals(model, T, n, seed, k)
            e = lattice.energy(spins, J, h)
            row = importance.importance_estimates(e, lattice.magnetization(spins),
                                                  log_ratio, T, N)
            row["mcmc"] = neural_mcmc.run_chains(
                e, importance.log_weights(e, log_ratio, T, N), chains, kept, seed,
                k).summary
            row["exact"] = exact_values(L, T, J, h)
            rows.append(row)
            bar.update(1)
    result = {"run_dir": str(run.path.resolve()), "L": L, "J": J, "h": h, "n": n,
              "seed": seed, "conditioned": record.get("conditioning") is not None,
              "decoder": record["settings"].get("decoder", "factorized"),
              "reliability_thresholds": importance.thresholds(),
              "per_temperature": rows}
    if out is not None:
        write_text(Path(out), json.dumps(result, indent=2) + "\n")
    return result
