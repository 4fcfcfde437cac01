r"""Neural importance sampling: Boltzmann thermodynamics from any trained model.

A VAE defines two tractable densities on pairs :math:`(x, z)`: the model's joint
:math:`p(z|T)\,p(x|z,T)`, which it can sample (:func:`isingvae.evaluation.draws.proposals`),
and the target :math:`\pi_T(x)\,q(z|x,T)` with :math:`\pi_T(x) = e^{-H(x)/T}/Z(T)`.  The
weight

.. math::  w(x, z) = \frac{e^{-H(x)/T}\, q(z|x,T)}{p(z|T)\, p(x|z,T)}

has mean :math:`Z(T)` under the model's joint, whatever the model, because
:math:`q(z|x,T)` integrates to one over :math:`z` (Nicoli et al. 2020 for autoregressive
samplers of lattice models; here the latent is integrated out with the encoder as an
auxiliary density).  So from :math:`n` draws

- :math:`\ln Z \approx \ln \bar w` (consistent; its bias is :math:`O(1/n)` and shrinks
  with the spread of the weights), hence the free energy per spin
  :math:`F = -T \ln Z / N`;
- Boltzmann averages are self-normalised averages :math:`\sum_i w_i A_i / \sum_i w_i`:
  energy :math:`u`, :math:`\langle |m| \rangle`, the specific heat
  :math:`C/N = N(\langle e^2\rangle - u^2)/T^2`, the susceptibility
  :math:`\chi/N = N(\langle m^2\rangle - \langle |m|\rangle^2)/T` and the entropy per spin
  :math:`S = (u - F)/T = \ln Z/N + u/T`;
- the effective sample size :math:`(\sum w)^2/\sum w^2` (Kish) says how many exact
  draws the weighted ones are worth.

Error bars are the delta method on iid draws: each estimate is linearised about its
value, and its standard error is that of the mean of the per-draw influence,
:math:`\phi_i = (w_i/\bar w)(A_i - \hat A)` for a self-normalised average and
:math:`w_i/\bar w - 1` for :math:`\ln \bar w`.  All weights stay in log space.

References: K. A. Nicoli, S. Nakajima, N. Strodthoff, W. Samek, K.-R. Müller and P. Kessel,
"Asymptotically unbiased estimation of physical observables with neural samplers",
Phys. Rev. E 101, 023304 (2020); D. Wu, L. Wang and P. Zhang, "Solving statistical
mechanics using variational autoregressive networks", Phys. Rev. Lett. 122, 080602
(2019); L. Kish, *Survey Sampling* (1965) for the effective sample size.
"""

from __future__ import annotations

import math

import numpy as np

from isingvae.errors import InputError

__all__ = ["ESS_WARNING", "importance_estimates", "log_weights"]

#: an effective sample size below this fraction of the draws is flagged (not refused)
ESS_WARNING = 0.01


def log_weights(energy, log_ratio, temperature: float, N: int) -> np.ndarray:
    """``log w = -N e / T + log_ratio`` ``(n,)`` float64 of draws with energy per spin
    ``energy`` and the model's ``log_ratio`` (:func:`~isingvae.evaluation.draws.proposals`),
    for ``N`` spins at ``temperature``: the importance weight of neural importance
    sampling and of the neural MCMC."""
    return (-N * np.asarray(energy, np.float64) / float(temperature)
            + np.asarray(log_ratio, np.float64))


def _stderr(phi: np.ndarray) -> float:
    n = phi.size
    return float(math.sqrt(np.sum(phi * phi) / (n * (n - 1))))


def importance_estimates(energy: np.ndarray, magnetization: np.ndarray,
                         log_ratio: np.ndarray, temperature: float, N: int) -> dict:
    """Estimates (module docstring) from per-spin ``energy`` and ``magnetization`` of the
    draws and their ``log_ratio``, for ``N`` spins at ``temperature``.  Every quantity
    comes with ``<name>_stderr``; ``specific_heat_per_spin`` and
    ``susceptibility_per_spin`` (C/N and chi/N) are also under their 0.1 names
    ``specific_heat`` and ``susceptibility``."""
    e = np.asarray(energy, np.float64)
    m = np.asarray(magnetization, np.float64)
    T = float(temperature)
    log_w = log_weights(e, log_ratio, T, N)
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
    c_err = _stderr(r * N / T**2 * ((e * e - e2) - 2 * u * (e - u)))
    chi_err = _stderr(r * N / T * ((m * m - m2) - 2 * am * (np.abs(m) - am)))
    out = {
        "temperature": T, "n": int(n), "ess_fraction": float(np.sum(w) ** 2 / np.sum(w * w) / n),
        "log_z_per_spin": log_z / N, "log_z_per_spin_stderr": _stderr(phi_logz) / N,
        "free_energy_per_spin": -T * log_z / N,
        "free_energy_per_spin_stderr": T * _stderr(phi_logz) / N,
        "energy_per_spin": u, "energy_per_spin_stderr": _stderr(r * (e - u)),
        "abs_magnetization": am,
        "abs_magnetization_stderr": _stderr(r * (np.abs(m) - am)),
        "specific_heat": c, "specific_heat_stderr": c_err,
        "specific_heat_per_spin": c, "specific_heat_per_spin_stderr": c_err,
        "susceptibility": chi, "susceptibility_stderr": chi_err,
        "susceptibility_per_spin": chi, "susceptibility_per_spin_stderr": chi_err,
        "entropy_per_spin": log_z / N + u / T,
        "entropy_per_spin_stderr": _stderr(phi_logz / N + r * (e - u) / T),
    }
    out["ess_warning"] = out["ess_fraction"] < ESS_WARNING
    return out
