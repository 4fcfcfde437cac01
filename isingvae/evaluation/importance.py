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

When the delta method can be trusted
------------------------------------
The delta method assumes the weights have a finite variance and that the draws already
show it.  When a model misses regions that the Boltzmann distribution weighs, a few
draws carry almost all the weight, the sample has not seen the tail that decides
:math:`\bar w`, and the error bar is too small by a large factor (the estimate of
:math:`\ln Z` is biased low by more than its error bar).  Every row therefore carries
three diagnostics, all computed from the log-weights alone:

``ess``
    Kish's effective sample size in draws (``ess_fraction`` is it over ``n``).
``pareto_k``
    :math:`\hat k`, the shape of a generalized Pareto distribution fitted to the
    :math:`M = \lceil\min(n/5, 3\sqrt n)\rceil` largest weights, above the
    :math:`(M+1)`-th largest (the diagnostic of Pareto-smoothed importance sampling,
    Vehtari et al. 2024).  Moments of the weights of order below :math:`1/k` are finite:
    for :math:`k \le 1/2` a finite variance and the usual :math:`n^{-1/2}` convergence;
    for :math:`1/2 < k \le 0.7` an infinite variance and slow but practically usable
    convergence; above :data:`PARETO_K_MAX` = 0.7 the needed number of draws grows so fast
    that neither the estimate nor its error bar can be trusted.  The fit is Zhang and
    Stephens' (2009) empirical-Bayes estimator (:func:`fit_generalized_pareto`).
    ``None`` where it cannot be fitted: fewer than :data:`PARETO_MIN_TAIL` tail weights
    above the threshold (few draws, or the largest weights tied, as from an exact model).
``stderr_batch``
    The draws are cut into :data:`BATCHES` contiguous batches (fewer for small ``n``,
    at least :data:`BATCH_MIN_DRAWS` draws each); every quantity is estimated on each
    batch, and the spread of those estimates over :math:`\sqrt{B}` is a second error bar
    that assumes nothing of the weights' influence functions.  For independent draws it
    agrees with the delta method; a batch error of :math:`\ln Z` over
    :data:`BATCH_RATIO_MAX` times the delta error says the draws are not behaving as
    independent draws of one distribution (correlated or drifting draws).  ``batch_shift``
    is the full estimate minus the mean of the batch estimates: how much the estimate
    still moved when the sample grew :math:`B`-fold.  (For independent heavy-tailed weights
    the batch spread is *not* larger than the delta error -- each batch misses the tail
    as the whole sample does -- so the Pareto and ESS checks carry that case; the shift,
    by contrast, grows with the tail.)

The rule (:func:`reliability`): a row is ``reliable`` unless :math:`\hat k >`
:data:`PARETO_K_MAX`, or ``ess`` < :data:`ESS_MIN` draws, or the batch error of
:math:`\ln Z` exceeds :data:`BATCH_RATIO_MAX` times its delta error;
``unreliable_because`` names the clauses that fail.  ``draws_needed`` estimates how many
draws would make the row reliable (``None`` on a reliable row, and on an unreliable one
where more draws alone would not help; see :func:`reliability`).

On an unreliable row the reported ``<name>_stderr`` is not the delta-method one but
:math:`\max(\sigma_\delta, \sigma_{\rm batch}) + |\text{batch shift}|` (``stderr_inflated``
is true; the ingredients stay in ``stderr_delta``, ``stderr_batch`` and
``batch_shift``; a row with too few draws for two batches keeps the delta error and only
the verdict marks it).  Adding the shift covers part of the bias of a sample that has not
converged; where
:math:`\hat k > 0.7` even that bar cannot be backed, and the row says so.  Reliable rows
report the delta-method error unchanged.

References: K. A. Nicoli, S. Nakajima, N. Strodthoff, W. Samek, K.-R. Müller and P. Kessel,
"Asymptotically unbiased estimation of physical observables with neural samplers",
Phys. Rev. E 101, 023304 (2020); D. Wu, L. Wang and P. Zhang, "Solving statistical
mechanics using variational autoregressive networks", Phys. Rev. Lett. 122, 080602
(2019); L. Kish, *Survey Sampling* (1965) for the effective sample size; A. Vehtari,
D. Simpson, A. Gelman, Y. Yao and J. Gabry, "Pareto smoothed importance sampling",
J. Mach. Learn. Res. 25 (2024) for :math:`\hat k`, its tail size and thresholds;
J. Zhang and M. A. Stephens, "A new and efficient estimation method for the generalized
Pareto distribution", Technometrics 51, 316-325 (2009) for the fit.
"""

from __future__ import annotations

import math

import numpy as np

from isingvae.errors import InputError

__all__ = ["BATCHES", "BATCH_MIN_DRAWS", "BATCH_RATIO_MAX", "ESS_MIN", "ESS_WARNING",
           "PARETO_K_MAX", "PARETO_K_SLOW", "PARETO_MIN_TAIL", "QUANTITIES",
           "fit_generalized_pareto", "importance_estimates", "log_weights", "pareto_k",
           "reliability", "thresholds"]

#: draws per temperature at most (``isingvae thermo --n``, the plan's ``thermo_samples``)
MAX_DRAWS = 1 << 26
#: an effective sample size below this fraction of the draws is flagged (not refused)
ESS_WARNING = 0.01
#: fewest effective draws (Kish) for which a row's error bars are trusted
ESS_MIN = 100
#: a Pareto k-hat above this: the weights' variance is effectively infinite (Vehtari et al.)
PARETO_K_MAX = 0.7
#: a Pareto k-hat above this (and up to PARETO_K_MAX): infinite variance, slow convergence
PARETO_K_SLOW = 0.5
#: fewest tail weights for which k-hat is fitted
PARETO_MIN_TAIL = 5
#: batches of contiguous draws for the batch error
BATCHES = 20
#: fewest draws in a batch (fewer batches for small n; under two batches: no batch error)
BATCH_MIN_DRAWS = 10
#: a batch error of ln Z above this multiple of its delta error makes a row unreliable
BATCH_RATIO_MAX = 2.0

#: the quantities of a row that carry an error bar (the 0.1 names ``specific_heat`` and
#: ``susceptibility`` copy ``specific_heat_per_spin`` and ``susceptibility_per_spin``)
QUANTITIES = ("log_z_per_spin", "free_energy_per_spin", "energy_per_spin",
              "abs_magnetization", "specific_heat_per_spin", "susceptibility_per_spin",
              "entropy_per_spin")

# Zhang and Stephens' grid: _GRID_BASE + floor(sqrt(M)) points (20 in their paper, 30 in
# the reference implementation of PSIS); the weakly informative prior of PSIS pulls k
# towards _PRIOR_K with the weight of _PRIOR_DRAWS observations.
_GRID_BASE = 30
_PRIOR_K = 0.5
_PRIOR_DRAWS = 10


def thresholds() -> dict:
    """The constants of the reliability rule, as ``thermo.json`` records them."""
    return {"ess_min": ESS_MIN, "pareto_k_max": PARETO_K_MAX,
            "pareto_k_slow": PARETO_K_SLOW, "batch_ratio_max": BATCH_RATIO_MAX,
            "batches": BATCHES, "batch_min_draws": BATCH_MIN_DRAWS,
            "ess_warning": ESS_WARNING}


def log_weights(energy, log_ratio, temperature: float, N: int) -> np.ndarray:
    """``log w = -N e / T + log_ratio`` ``(n,)`` float64 of draws with energy per spin
    ``energy`` and the model's ``log_ratio`` (:func:`~isingvae.evaluation.draws.proposals`),
    for ``N`` spins at ``temperature``: the importance weight of neural importance
    sampling and of the neural MCMC."""
    return (-N * np.asarray(energy, np.float64) / float(temperature)
            + np.asarray(log_ratio, np.float64))


# ---------------------------------------------------------------------------------------
# the generalized Pareto tail


def fit_generalized_pareto(x, prior: bool = True) -> tuple[float, float]:
    r"""Shape :math:`k` and scale :math:`\sigma` of a generalized Pareto distribution,
    :math:`F(x) = 1 - (1 + k x/\sigma)^{-1/k}`, fitted to exceedances ``x`` (> 0).

    Zhang and Stephens (2009): with :math:`\theta = k/\sigma`, the maximum-likelihood
    :math:`k` given :math:`\theta` is :math:`\hat k(\theta) = \overline{\ln(1+\theta x)}`
    and the profile log-likelihood :math:`\ell(\theta) = M[\ln(\theta/\hat k(\theta)) -
    \hat k(\theta) - 1]`.  :math:`\theta` is averaged over a grid
    :math:`\theta_j = -1/x_{(M)} + (\sqrt{m/(j-1/2)} - 1)/(3 x_{(\lfloor M/4 + 1/2
    \rfloor)})`, :math:`j = 1..m`, with weights proportional to :math:`e^{\ell(\theta_j)}`
    (their empirical-Bayes posterior mean), and :math:`k = \hat k(\bar\theta)`,
    :math:`\sigma = k/\bar\theta`.  ``prior``: pull :math:`k` towards 1/2 with the weight
    of ten observations, as Pareto-smoothed importance sampling does (Vehtari et al. 2024);
    the shift is :math:`10(1/2 - k)/(M + 10)`."""
    x = np.sort(np.asarray(x, np.float64))
    M = x.size
    if M < 2 or not np.all(x > 0) or not np.all(np.isfinite(x)):
        raise InputError("a generalized Pareto fit needs at least two finite positive "
                         "exceedances")
    m = _GRID_BASE + int(math.sqrt(M))
    quartile = x[max(int(M / 4 + 0.5), 1) - 1]
    j = np.arange(1, m + 1, dtype=np.float64)
    theta = -1.0 / x[-1] + (np.sqrt(m / (j - 0.5)) - 1.0) / (3.0 * quartile)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k_of = np.log1p(theta[:, None] * x[None, :]).mean(axis=1)
        profile = M * (np.log(theta / k_of) - k_of - 1.0)
    ok = np.isfinite(profile)            # theta = 0 exactly (k = 0/0) drops out
    theta, profile = theta[ok], profile[ok]
    weight = np.exp(profile - profile.max())
    theta_bar = float(np.sum(weight * theta) / np.sum(weight))
    k = float(np.mean(np.log1p(theta_bar * x)))
    sigma = k / theta_bar if theta_bar != 0 else float(np.mean(x))
    if prior:
        k = (M * k + _PRIOR_DRAWS * _PRIOR_K) / (M + _PRIOR_DRAWS)
    return k, float(sigma)


def pareto_k(log_w) -> float | None:
    r""":math:`\hat k` of the importance weights ``exp(log_w)``: the generalized Pareto shape
    of the :math:`M = \lceil\min(n/5, 3\sqrt n)\rceil` largest weights in excess of the
    :math:`(M+1)`-th largest (Vehtari et al. 2024, with all draws independent).  ``None``
    where fewer than :data:`PARETO_MIN_TAIL` weights lie above that threshold.  The
    weights are scaled by the largest one (k does not depend on the scale); a tail
    spanning more than the floating-point range keeps its smallest exceedances at the
    smallest normal number, which still makes :math:`\hat k` large, as it should be."""
    lw = np.sort(np.asarray(log_w, np.float64))
    n = lw.size
    M = math.ceil(min(0.2 * n, 3.0 * math.sqrt(n)))
    if M < PARETO_MIN_TAIL or M >= n:
        return None
    tail, cut = lw[n - M:], lw[n - M - 1]
    tail = tail[tail > cut]
    if tail.size < PARETO_MIN_TAIL:
        return None
    x = np.exp(tail - lw[-1]) * -np.expm1(cut - tail)
    x = np.maximum(x, np.finfo(np.float64).tiny)
    return fit_generalized_pareto(x)[0]


# ---------------------------------------------------------------------------------------
# the rule


def reliability(n: int, ess: float, k_hat: float | None, stderr_delta: float,
                stderr_batch: float | None) -> dict:
    r"""The one reliability rule of an importance-sampling row: ``{"reliable",
    "unreliable_because", "draws_needed"}`` from its ``n`` draws, Kish ``ess``, Pareto
    ``k_hat`` (None: not fitted) and the delta and batch errors of :math:`\ln Z`
    (``stderr_batch`` None: too few draws for batches).

    Unreliable when any of: ``k_hat`` > :data:`PARETO_K_MAX`; ``ess`` < :data:`ESS_MIN`;
    ``stderr_batch`` > :data:`BATCH_RATIO_MAX` x ``stderr_delta``.
    ``unreliable_because`` lists the failing clauses ("; "-separated), None when reliable.

    ``draws_needed`` (None on a reliable row):

    - None ("unknown") when :math:`\hat k` > 0.7: the draws needed grow faster than any
      run can afford, and a better model, not more draws, is the fix; also None when the
      batch clause fails, since more draws do not make correlated draws independent;
    - otherwise (only the ESS clause fails) the draws at which the ESS reaches
      :data:`ESS_MIN`.  The ESS grows as :math:`n^\gamma`, :math:`\gamma = 1` for
      :math:`\hat k \le 1/2` (or not fitted) and :math:`\gamma = 2(1 - \hat k)` for
      :math:`1/2 < \hat k \le 0.7` (a sum of squares of weights with infinite variance
      grows as the square of the largest, :math:`n^{2k}`), so
      :math:`n' = n\,(\mathrm{ESS_{min}}/\mathrm{ESS})^{1/\gamma}`, and at least
      :math:`10^{1/(1-\hat k)}` for :math:`\hat k > 0`, the sample size at which Vehtari
      et al.'s sample-size-dependent bound :math:`1 - 1/\log_{10} n` admits
      :math:`\hat k`.  Rounded up to an integer.

    More draws do not raise the ESS *fraction* (it measures the model, not the sample), so
    no fraction target enters ``draws_needed``; ``ess_warning`` still flags a fraction
    under :data:`ESS_WARNING`."""
    reasons = []
    if k_hat is not None and k_hat > PARETO_K_MAX:
        reasons.append(f"Pareto k-hat {k_hat:.2f} > {PARETO_K_MAX:g}")
    if ess < ESS_MIN:
        reasons.append(f"ESS {ess:.1f} < {ESS_MIN} draws")
    batch_fails = (stderr_batch is not None
                   and stderr_batch > BATCH_RATIO_MAX * stderr_delta)
    if batch_fails:
        ratio = stderr_batch / stderr_delta if stderr_delta > 0 else math.inf
        reasons.append(f"batch error of ln Z {ratio:.1f}x the delta error "
                       f"(> {BATCH_RATIO_MAX:g}x)")
    if not reasons:
        return {"reliable": True, "unreliable_because": None, "draws_needed": None}
    needed = None
    if not batch_fails and (k_hat is None or k_hat <= PARETO_K_MAX):
        gamma = 1.0 if k_hat is None or k_hat <= PARETO_K_SLOW else 2.0 * (1.0 - k_hat)
        target = n * (ESS_MIN / max(ess, 1.0)) ** (1.0 / gamma)      # Kish ESS >= 1
        if k_hat is not None and k_hat > 0:
            target = max(target, 10.0 ** (1.0 / (1.0 - k_hat)))
        needed = math.ceil(min(target, 1e18))
    return {"reliable": False, "unreliable_because": "; ".join(reasons),
            "draws_needed": needed}


# ---------------------------------------------------------------------------------------
# the estimates


def _stderr(phi: np.ndarray) -> float:
    n = phi.size
    return float(math.sqrt(np.sum(phi * phi) / (n * (n - 1))))


def _weighted(log_w: np.ndarray, e: np.ndarray, m: np.ndarray, T: float, N: int):
    """Point estimates of the draws ``log_w, e, m``: ``(values, r, moments)`` with
    ``values`` keyed by :data:`QUANTITIES`, ``r = w / mean(w)`` and the moments
    ``(u, <e^2>, <|m|>, <m^2>)`` the delta method needs."""
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
    values = {"log_z_per_spin": log_z / N, "free_energy_per_spin": -T * log_z / N,
              "energy_per_spin": u, "abs_magnetization": am,
              "specific_heat_per_spin": N * (e2 - u * u) / T**2,
              "susceptibility_per_spin": N * (m2 - am * am) / T,
              "entropy_per_spin": log_z / N + u / T}
    return values, r, (u, e2, am, m2)


def _batch_errors(log_w, e, m, T, N, full: dict) -> tuple[int, dict | None, dict | None]:
    """``(batches, stderr_batch, batch_shift)`` over contiguous batches (module
    docstring); ``(0, None, None)`` when fewer than two batches of
    :data:`BATCH_MIN_DRAWS` fit."""
    B = min(BATCHES, log_w.size // BATCH_MIN_DRAWS)
    if B < 2:
        return 0, None, None
    per = [_weighted(lw, eb, mb, T, N)[0] for lw, eb, mb in
           zip(np.array_split(log_w, B), np.array_split(e, B), np.array_split(m, B),
               strict=True)]
    spread, shift = {}, {}
    for key in QUANTITIES:
        v = np.array([b[key] for b in per])
        spread[key] = float(np.std(v, ddof=1) / math.sqrt(B))
        shift[key] = float(full[key] - np.mean(v))
    return B, spread, shift


def importance_estimates(energy: np.ndarray, magnetization: np.ndarray,
                         log_ratio: np.ndarray, temperature: float, N: int) -> dict:
    """Estimates (module docstring) from per-spin ``energy`` and ``magnetization`` of the
    draws and their ``log_ratio``, for ``N`` spins at ``temperature``.  Every quantity
    comes with ``<name>_stderr``; ``specific_heat_per_spin`` and
    ``susceptibility_per_spin`` (C/N and chi/N) are also under their 0.1 names
    ``specific_heat`` and ``susceptibility``.  The reliability diagnostics (module
    docstring) come as ``ess``, ``pareto_k``, ``batches``, ``stderr_delta``,
    ``stderr_batch``, ``batch_shift``, ``stderr_inflated``, ``reliable``,
    ``unreliable_because`` and ``draws_needed``; ``ess_warning`` flags an ESS under
    :data:`ESS_WARNING` of the draws."""
    e = np.asarray(energy, np.float64)
    m = np.asarray(magnetization, np.float64)
    T = float(temperature)
    log_w = log_weights(e, log_ratio, T, N)
    if not np.all(np.isfinite(log_w)):
        raise InputError(f"{int(np.sum(~np.isfinite(log_w)))} log-weights at T = {T:g} are "
                         f"not finite")
    n = log_w.size
    values, r, (u, e2, am, m2) = _weighted(log_w, e, m, T, N)
    phi_logz = r - 1.0
    delta = {"log_z_per_spin": _stderr(phi_logz) / N,
             "free_energy_per_spin": T * _stderr(phi_logz) / N,
             "energy_per_spin": _stderr(r * (e - u)),
             "abs_magnetization": _stderr(r * (np.abs(m) - am)),
             "specific_heat_per_spin": _stderr(r * N / T**2 * ((e * e - e2)
                                                               - 2 * u * (e - u))),
             "susceptibility_per_spin": _stderr(r * N / T * ((m * m - m2)
                                                             - 2 * am * (np.abs(m) - am))),
             "entropy_per_spin": _stderr(phi_logz / N + r * (e - u) / T)}
    ess = float(np.sum(r) ** 2 / np.sum(r * r))
    k_hat = pareto_k(log_w)
    batches, batch, shift = _batch_errors(log_w, e, m, T, N, values)
    verdict = reliability(n, ess, k_hat, delta["log_z_per_spin"],
                          None if batch is None else batch["log_z_per_spin"])
    inflate = not verdict["reliable"] and batch is not None
    stderr = {key: (max(delta[key], batch[key]) + abs(shift[key]) if inflate
                    else delta[key]) for key in QUANTITIES}
    out = {"temperature": T, "n": int(n), "ess_fraction": ess / n}
    for key in QUANTITIES:
        out[key] = values[key]
        out[f"{key}_stderr"] = stderr[key]
    for old, new in (("specific_heat", "specific_heat_per_spin"),
                     ("susceptibility", "susceptibility_per_spin")):
        out[old], out[f"{old}_stderr"] = out[new], out[f"{new}_stderr"]
    out["ess_warning"] = out["ess_fraction"] < ESS_WARNING
    out.update(ess=ess, pareto_k=k_hat, batches=batches, stderr_delta=delta,
               stderr_batch=batch, batch_shift=shift, stderr_inflated=inflate, **verdict)
    return out
