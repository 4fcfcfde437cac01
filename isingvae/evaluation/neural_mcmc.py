r"""Neural MCMC: exact Boltzmann samples from a trained model used as a proposal.

The chain is an independence Metropolis-Hastings chain on pairs :math:`(x, z)` whose
proposals are draws of the model's joint :math:`p(z|T)\,p(x|z,T)`
(:func:`isingvae.evaluation.draws.proposals`): a proposal with importance weight
:math:`w'` (:func:`isingvae.evaluation.importance.log_weights`) replaces the current
state, of weight :math:`w`, with probability :math:`\min(1, w'/w)`.  Its stationary
distribution is :math:`\pi_T(x)\, q(z|x,T)`, so the chain's configurations are exact
Boltzmann samples once it has forgotten its start, whatever the model; a better model
only makes it accept more often and decorrelate faster (Nicoli et al. 2020).

One rule for every use (``isingvae sample --mcmc`` and the summary of ``isingvae
thermo``): :data:`DEFAULT_CHAINS` chains, proposals dealt to them round-robin, each
chain burnt in for :func:`burn_in` steps, a tenth of the steps it keeps (at least one).
Accept/reject uniforms come from the ``mcmc`` stream of :mod:`isingvae.random`.

Reference: K. A. Nicoli et al., Phys. Rev. E 101, 023304 (2020).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isingvae import random
from isingvae.errors import InputError

__all__ = ["DEFAULT_CHAINS", "ChainRun", "burn_in", "kept_steps", "mcmc_chains",
           "mcmc_summary", "run_chains"]

#: chains of a neural MCMC run unless told otherwise
DEFAULT_CHAINS = 16


def burn_in(kept: int) -> int:
    """Steps a chain runs before the ``kept`` ones it reports: a tenth of them, at least
    one (the start, a raw draw of the model, is never kept)."""
    return max(kept // 10, 1)


def kept_steps(steps: int) -> int:
    """The most steps a chain can keep when it may run ``steps`` in all, burn-in
    (:func:`burn_in`) included (0 when ``steps < 2``)."""
    kept = max(min(steps - 1, 10 * steps // 11 + 1), 0)   # no larger kept fits
    while kept > 0 and kept + burn_in(kept) > steps:
        kept -= 1
    return kept


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
    """Acceptance rate (``acceptance_rate``, also under its 0.1 name ``acceptance``) and
    the integrated autocorrelation time (in steps) of the energy along the chains after
    ``burn`` steps (the mean over chains of :func:`isingvae.mc.autocorr.integrated_time`)."""
    from isingvae.mc.autocorr import integrated_time

    kept = state[burn:]
    taus = [integrated_time(energy[kept[:, c]]) if np.ptp(energy[kept[:, c]]) > 0
            else float(kept.shape[0]) for c in range(kept.shape[1])]
    rate = float(np.mean(accepted[max(burn - 1, 0):]))
    return {"acceptance_rate": rate, "acceptance": rate,
            "tau_int_energy": float(np.mean(taus)), "chains": int(state.shape[1]),
            "steps_per_chain": int(kept.shape[0]), "burn_in": int(burn)}


@dataclass(frozen=True)
class ChainRun:
    """A finished neural MCMC run: ``state`` and ``accepted`` of :func:`mcmc_chains`,
    the ``burn`` steps dropped from each chain and the :func:`mcmc_summary`."""

    state: np.ndarray
    accepted: np.ndarray
    burn: int
    summary: dict

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """``(proposal index, chain id)`` of every kept step, chain by chain."""
        kept = self.state[self.burn:]
        return kept.T.reshape(-1), np.repeat(np.arange(kept.shape[1]), kept.shape[0])


def run_chains(energy: np.ndarray, log_w: np.ndarray, chains: int, kept: int, seed: int,
               index: int = 0) -> ChainRun:
    """``chains`` chains that keep ``kept`` steps each after :func:`burn_in`, on the first
    ``chains * (kept + burn_in(kept))`` proposals of ``log_w`` (per-spin ``energy`` of
    every proposal, for the summary)."""
    burn = burn_in(kept)
    need = chains * (kept + burn)
    if kept < 1 or need > np.size(log_w):
        raise InputError(f"{np.size(log_w)} proposals are too few for {chains} chains that "
                         f"keep {kept} steps each after {burn} of burn-in")
    state, accepted = mcmc_chains(np.asarray(log_w)[:need], chains, seed, index)
    return ChainRun(state, accepted, burn, mcmc_summary(energy, state, accepted, burn))
