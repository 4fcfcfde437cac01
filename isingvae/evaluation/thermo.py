r"""Boltzmann physics from a trained model: neural importance sampling and neural MCMC.

A VAE defines two tractable densities on pairs :math:`(x, z)`: the model's joint
:math:`p(z|T)\,p(x|z,T)`, which it can sample, and the target
:math:`\pi_T(x)\,q(z|x,T)` with :math:`\pi_T(x) = e^{-H(x)/T}/Z(T)`.  The weight

.. math::  w(x, z) = \frac{e^{-H(x)/T}\, q(z|x,T)}{p(z|T)\, p(x|z,T)}

has mean :math:`Z(T)` under the model's joint, whatever the model, because
:math:`q(z|x,T)` integrates to one over :math:`z`.  So from :math:`n` draws

- :math:`\ln Z \approx \ln \bar w` (consistent; its bias is :math:`O(1/n)` and shrinks
  with the spread of the weights), hence the free energy per spin
  :math:`F = -T \ln Z / N`;
- Boltzmann averages are self-normalised averages :math:`\sum_i w_i A_i / \sum_i w_i`:
  energy :math:`u`, :math:`\langle |m| \rangle`, the specific heat
  :math:`C/N = N(\langle e^2\rangle - u^2)/T^2`, the susceptibility
  :math:`\chi/N = N(\langle m^2\rangle - \langle |m|\rangle^2)/T` and the entropy per spin
  :math:`S = (u - F)/T = \ln Z/N + u/T`;
- the effective sample size :math:`(\sum w)^2/\sum w^2` says how many exact draws the
  weighted ones are worth.

Error bars are the delta method on iid draws: each estimate is linearised about its
value, and its standard error is that of the mean of the per-draw influence,
:math:`\phi_i = (w_i/\bar w)(A_i - \hat A)` for a self-normalised average and
:math:`w_i/\bar w - 1` for :math:`\ln \bar w`.

The **neural MCMC** is an independence Metropolis-Hastings chain on :math:`(x, z)` with
the same proposal: a draw replaces the current state with probability
:math:`\min(1, w'/w)`.  Its stationary distribution is :math:`\pi_T(x)\, q(z|x,T)`, so
the chain's configurations are exact Boltzmann samples once it has forgotten its start.

All weights stay in log space.  Draws come from the ``thermo`` random stream of the seed
refined by the temperature's index and the batch, accept/reject uniforms from ``mcmc``:
the same seed gives the same numbers.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from isingvae import _validate as _v
from isingvae import random
from isingvae.errors import InputError
from isingvae.evaluation.sampling import check_trained_range

__all__ = ["ESS_WARNING", "check_run", "draw", "importance_estimates", "mcmc_chains",
           "mcmc_summary", "thermo"]

#: an effective sample size below this fraction of the draws is flagged (not refused)
ESS_WARNING = 0.01
#: chains of the neural MCMC in ``thermo``; each is burnt in for a tenth of its length
MCMC_CHAINS = 16


def check_run(run, record: dict, temperatures: Sequence[float] | None) -> None:
    """Refuse, before TensorFlow, a run these estimators cannot use, and temperatures
    outside a conditioned model's trained range."""
    settings = record["settings"]
    if settings.get("flow", "none") != "none":
        raise InputError(f"the model in {run.path} has a posterior flow ({settings['flow']}); "
                         f"importance weights need q(z|x) at the prior's draws, which only "
                         f"the Gaussian posterior gives: train with --flow none")
    if int(settings.get("levels", 1)) != 1 or str(settings.get("head", "none")).startswith("m2"):
        raise InputError(f"the model in {run.path} is hierarchical or M2; thermo works with "
                         f"the single-level VAE (with or without a VIB head)")
    check_trained_range(run, record, temperatures)


def draw(model, temperature: float, n: int, seed: int, index: int = 0,
         batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws of the model at ``temperature``: spins ``(n, L, L)`` int8 of +-1 and
    ``log q(z|x,T) - log p(z|T) - log p(x|z,T)`` ``(n,)`` float64.  An unconditional
    model proposes from ``p(z) p(x|z)`` at every temperature."""
    import tensorflow as tf

    from isingvae.models import compiled

    fn = compiled(model, "joint_draw")
    fold = tf.random.experimental.stateless_fold_in
    root = fold(tf.constant(random.tf_key(seed, "thermo"), tf.int64), index)
    at = tf.constant(temperature, tf.float32) if model.conditioned else None
    spins = np.empty((n, model.L, model.L), np.int8)
    log_ratio = np.empty(n, np.float64)
    for b0 in range(0, n, batch_size):
        m = min(batch_size, n - b0)
        x, r = fn(m, fold(root, b0), at)
        spins[b0:b0 + m] = np.where(x.numpy()[..., 0] > 0.5, 1, -1)
        log_ratio[b0:b0 + m] = r.numpy()
    return spins, log_ratio


def _stderr(phi: np.ndarray) -> float:
    n = phi.size
    return float(math.sqrt(np.sum(phi * phi) / (n * (n - 1))))


def importance_estimates(energy: np.ndarray, magnetization: np.ndarray,
                         log_ratio: np.ndarray, temperature: float, N: int) -> dict:
    """Estimates (module docstring) from per-spin ``energy`` and ``magnetization`` of the
    draws and their ``log_ratio`` (:func:`draw`), for ``N`` spins at ``temperature``.
    Every quantity comes with ``<name>_stderr``."""
    e = np.asarray(energy, np.float64)
    m = np.asarray(magnetization, np.float64)
    T = float(temperature)
    log_w = -N * e / T + np.asarray(log_ratio, np.float64)
    if not np.all(np.isfinite(log_w)):
        raise InputError(f"{int(np.sum(~np.isfinite(log_w)))} log-weights at T = {T:g} are "
                         f"not finite")
    n = log_w.size
    top = float(np.max(log_w))
    w = np.exp(log_w - top)
    w_bar = float(np.mean(w))
    r = w / w_bar                                   # w_i / mean(w)
    log_z = top + math.log(w_bar)
    p = r / n                                       # normalised weights
    u = float(p @ e)
    e2 = float(p @ (e * e))
    am = float(p @ np.abs(m))
    m2 = float(p @ (m * m))
    c = N * (e2 - u * u) / T**2
    chi = N * (m2 - am * am) / T
    phi_logz = r - 1.0
    out = {
        "temperature": T, "n": int(n), "ess_fraction": float(np.sum(w) ** 2 / np.sum(w * w) / n),
        "log_z_per_spin": log_z / N, "log_z_per_spin_stderr": _stderr(phi_logz) / N,
        "free_energy_per_spin": -T * log_z / N,
        "free_energy_per_spin_stderr": T * _stderr(phi_logz) / N,
        "energy_per_spin": u, "energy_per_spin_stderr": _stderr(r * (e - u)),
        "abs_magnetization": am,
        "abs_magnetization_stderr": _stderr(r * (np.abs(m) - am)),
        "specific_heat": c,
        "specific_heat_stderr": _stderr(r * N / T**2 * ((e * e - e2) - 2 * u * (e - u))),
        "susceptibility": chi,
        "susceptibility_stderr": _stderr(r * N / T * ((m * m - m2)
                                                      - 2 * am * (np.abs(m) - am))),
        "entropy_per_spin": log_z / N + u / T,
        "entropy_per_spin_stderr": _stderr(phi_logz / N + r * (e - u) / T),
    }
    out["ess_warning"] = out["ess_fraction"] < ESS_WARNING
    return out


def mcmc_chains(log_w: np.ndarray, chains: int, seed: int, index: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Independence Metropolis-Hastings on proposals with log-weights ``log_w`` ``(n,)``,
    dealt round-robin to ``chains`` chains (proposal ``j`` goes to chain ``j % chains``,
    as its step ``j // chains``; the first proposal of a chain is its start).

    Returns ``state`` ``(steps, chains)``: the index of the proposal each chain holds
    after each step, and ``accepted`` ``(steps - 1, chains)``: whether the step moved.
    """
    log_w = np.asarray(log_w, np.float64)
    steps = log_w.size // chains
    if steps < 2:
        raise InputError(f"{log_w.size} proposals are too few for {chains} chains")
    idx = np.arange(steps * chains).reshape(steps, chains)
    log_u = np.log(random.generator(seed, "mcmc", index).random((steps - 1, chains)))
    state = np.empty((steps, chains), np.int64)
    accepted = np.empty((steps - 1, chains), bool)
    state[0] = idx[0]
    current = log_w[idx[0]]
    for s in range(1, steps):
        proposal = log_w[idx[s]]
        move = log_u[s - 1] < proposal - current
        accepted[s - 1] = move
        state[s] = np.where(move, idx[s], state[s - 1])
        current = np.where(move, proposal, current)
    return state, accepted


def mcmc_summary(energy: np.ndarray, state: np.ndarray, accepted: np.ndarray,
                 burn: int) -> dict:
    """Acceptance rate and the integrated autocorrelation time (in steps) of the energy
    along the chains after ``burn`` steps (the mean over chains of
    :func:`isingvae.mc.autocorr.integrated_time`)."""
    from isingvae.mc.autocorr import integrated_time

    kept = state[burn:]
    taus = [integrated_time(energy[kept[:, c]]) if np.ptp(energy[kept[:, c]]) > 0
            else float(kept.shape[0]) for c in range(kept.shape[1])]
    return {"acceptance": float(np.mean(accepted[max(burn - 1, 0):])),
            "tau_int_energy": float(np.mean(taus)), "chains": int(state.shape[1]),
            "steps_per_chain": int(kept.shape[0]), "burn_in": int(burn)}


def _exact(L: int, T: float, J: float, h: float) -> dict | None:
    """Kaufman's values per spin (zero field, ferromagnet only)."""
    if h != 0.0 or J <= 0:
        return None
    from isingvae import exact

    r = exact.finite_lattice(L, T, J=J)
    return {"free_energy_per_spin": float(-T * r.log_z), "log_z_per_spin": float(r.log_z),
            "energy_per_spin": float(r.energy), "specific_heat": float(r.specific_heat),
            "entropy_per_spin": float(r.entropy)}


def thermo(run_dir: str | os.PathLike, temperatures: Sequence[float], n: int,
           out: str | os.PathLike | None = None, *, seed: int = 0, progress=None,
           model=None) -> dict:
    """Importance-sampling estimates and a neural-MCMC summary at each temperature of a
    trained run, next to Kaufman's exact values for the run's ``L`` (zero field).

    Writes ``out`` (JSON: ``run_dir``, ``L``, ``n``, ``seed``, ``per_temperature``) when
    it is given, and returns the record.  A row whose ESS is under :data:`ESS_WARNING` of
    its draws carries ``ess_warning: true``.  ``model``: the run's model, already loaded
    (else it is loaded here).  The figure is
    :func:`isingvae.analysis.thermo_figure.thermo_figure`."""
    from isingvae import lattice
    from isingvae._atomic import check_writable, write_text
    from isingvae.progress import Progress
    from isingvae.training import RunDir

    temps = [float(t) for t in _v.temperatures(temperatures)]
    n = _v.count("--n", n, lo=2, hi=1 << 26)
    seed = _v.seed(seed)
    run = RunDir(run_dir)
    record = run.trained()
    check_run(run, record, temps)
    data = record["data"]
    L, J, h = int(data["L"]), float(data["J"]), float(data["h"])
    N = L * L
    _v.fits_in_memory(f"--n {n} at L = {L}", n * (N + 40))
    if out is not None:
        check_writable(out)
    if model is None:
        model, _ = run.load()
    rows = []
    with Progress(total=len(temps), desc="thermo", unit="T", enabled=progress) as bar:
        for k, T in enumerate(temps):
            spins, log_ratio = draw(model, T, n, seed, k)
            e = lattice.energy(spins, J, h)
            m = lattice.magnetization(spins)
            row = importance_estimates(e, m, log_ratio, T, N)
            log_w = -N * e / T + log_ratio
            state, accepted = mcmc_chains(log_w, min(MCMC_CHAINS, n // 2), seed, k)
            row["mcmc"] = mcmc_summary(e, state, accepted, burn=state.shape[0] // 10)
            row["exact"] = _exact(L, T, J, h)
            rows.append(row)
            bar.update(1)
    result = {"run_dir": str(run.path.resolve()), "L": L, "J": J, "h": h, "n": n,
              "seed": seed, "conditioned": record.get("conditioning") is not None,
              "decoder": record["settings"].get("decoder", "factorized"),
              "per_temperature": rows}
    if out is not None:
        write_text(Path(out), json.dumps(result, indent=2) + "\n")
    return result
