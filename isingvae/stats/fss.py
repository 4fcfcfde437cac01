r"""Finite-size scaling: extrapolate pseudo-critical temperatures to the infinite lattice.

A pseudo-critical temperature of an :math:`L \times L` lattice (a susceptibility peak,
a cumulant crossing) approaches :math:`T_c` as

.. math:: T_c(L) = T_c + a\, L^{-1/\nu}

to leading order (Fisher and Barber 1972); for the 2D Ising model :math:`\nu = 1`
exactly.  :func:`fit_fss` fits this by weighted least squares with weights
:math:`1/\sigma_L^2` from the per-size error bars: linear in :math:`(T_c, a)` when
:math:`\nu` is given, nonlinear in :math:`(T_c, a, \nu)` when it is fitted (at least
four sizes).  The parameter errors come from the covariance
:math:`(X^\top W X)^{-1}`; when the fit has degrees of freedom and
:math:`\chi^2/\mathrm{dof} > 1` they are scaled up by :math:`\sqrt{\chi^2/\mathrm{dof}}`
(the Particle Data Group's rule), which absorbs scatter the error bars do not explain
(corrections to scaling, the spread between independently trained models).  Every
fit reports its :math:`\chi^2`, degrees of freedom and p-value; one with
:math:`p <` :data:`POOR_FIT_P` is flagged ``poor_fit`` (its errors are already scaled
up).  With four or more sizes two more fits test the leading form: :math:`\nu` free,
and :math:`\nu = 1` with the leading correction to scaling :math:`b L^{-2/\nu}`.  The
error of a leading-order extrapolation from three or more sizes also carries the
systematic of its smallest size (:func:`smallest_size_systematic`).

:func:`extrapolate` turns a list of per-size estimates (the ``tc_estimates`` dicts)
into one ``<method>-fss`` entry per method seen at two or more sizes, whatever the
method: unsupervised, or the ``vib-*`` and ``classifier-*`` estimates of a supervised
head.  :func:`combine` makes one headline value of several estimators, only when they
agree.

>>> L = np.array([16, 24, 32, 48])
>>> fit = fit_fss(L, 2.269185 + 1.5 / L, np.full(4, 0.01))
>>> round(fit.tc, 6), round(fit.a, 6), fit.dof
(2.269185, 1.5, 2)

References:

- M. E. Fisher and M. N. Barber, "Scaling theory for finite-size effects in the
  critical region", Phys. Rev. Lett. 28, 1516-1519 (1972): the shift of a
  pseudo-critical temperature as :math:`L^{-1/\nu}`.
- A. E. Ferdinand and M. E. Fisher, "Bounded and inhomogeneous Ising models. I.
  Specific-heat anomaly of a finite lattice", Phys. Rev. 185, 832-846 (1969): the
  exact finite-size behaviour of the 2D Ising torus, whose specific-heat maximum
  approaches :math:`T_c` as :math:`1/L`.
- Particle Data Group, Review of Particle Physics, introduction, section on averaging
  measurements (2024 edition: S. Navas et al., Phys. Rev. D 110, 030001): errors
  scaled up by :math:`S = \sqrt{\chi^2/\mathrm{dof}}` when the measurements scatter
  more than their error bars allow.
- R. Barlow, "Systematic errors: facts and fictions", Advanced Statistical Techniques
  in Particle Physics, Durham (2002), arXiv:hep-ex/0207026: when a result changes
  under a variation of the analysis on overlapping data, only the part of the change
  beyond :math:`\sqrt{|\sigma_1^2 - \sigma_2^2|}` counts as a systematic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from isingvae.errors import InputError

__all__ = ["CONSISTENT_P", "MODELS", "POOR_FIT_P", "FSSFit", "combine", "extrapolate", "fit_fss",
           "fss_method_name", "smallest_size_systematic"]


#: a fit whose chi-square p-value falls below this is flagged as poor in the report
POOR_FIT_P = 0.05
#: the fit models: the leading term with nu fixed, with nu fitted, and with nu fixed plus
#: the leading correction to scaling
MODELS = ("leading", "free-nu", "corrections")


@dataclass(frozen=True)
class FSSFit:
    """Result of :func:`fit_fss`: ``tc``, ``a`` and ``nu`` with standard errors
    (``nu_stderr`` is ``None`` when ``nu`` was fixed; ``b`` and ``b_stderr`` the
    correction amplitude, ``None`` without it), ``chi2``, ``dof``, its ``p_value``
    (``None`` without degrees of freedom), ``poor_fit`` (p below :data:`POOR_FIT_P`) and
    the factor the errors were scaled by."""

    tc: float
    tc_stderr: float
    a: float
    a_stderr: float
    nu: float
    nu_stderr: float | None
    chi2: float
    dof: int
    error_scale: float
    sizes: tuple[int, ...]
    p_value: float | None = None
    poor_fit: bool = False
    model: str = "leading"
    b: float | None = None
    b_stderr: float | None = None

    def predict(self, L) -> np.ndarray:
        """``T_c(L)`` of the fitted curve."""
        x = np.asarray(L, dtype=np.float64) ** (-1.0 / self.nu)
        return self.tc + self.a * x + (0.0 if self.b is None else self.b * x**2)

    def to_json(self) -> dict:
        d = asdict(self)
        d["sizes"] = list(self.sizes)
        return d


def _inputs(L, tc, stderr):
    L = np.asarray(L, dtype=np.float64).ravel()
    tc = np.asarray(tc, dtype=np.float64).ravel()
    err = np.asarray(stderr, dtype=np.float64).ravel()
    if not (L.size == tc.size == err.size):
        raise InputError(f"L, tc and stderr must have equal lengths, got {L.size}, {tc.size}, "
                         f"{err.size}")
    if np.any(~np.isfinite(L)) or np.any(L <= 0):
        raise InputError(f"lattice sizes must be positive, got {L.tolist()}")
    if np.any(~np.isfinite(tc)):
        raise InputError(f"pseudo-critical temperatures must be finite, got {tc.tolist()}")
    if np.any(~np.isfinite(err)) or np.any(err <= 0):
        raise InputError(f"error bars must be positive and finite, got {err.tolist()}")
    if np.unique(L).size < 2:
        raise InputError(f"finite-size scaling needs at least two lattice sizes, got "
                         f"{sorted(set(L.astype(int).tolist()))}")
    return L, tc, err


def fit_fss(L, tc, stderr, nu: float | None = 1.0, scale_errors: bool = True,
            corrections: bool = False) -> FSSFit:
    r"""Fit :math:`T_c(L) = T_c + a L^{-1/\nu}` to pseudo-critical temperatures.

    ``nu=None`` fits :math:`\nu` as well (needs four or more distinct sizes).
    ``corrections`` adds the leading correction to scaling, :math:`+\, b L^{-2/\nu}`
    with :math:`\nu` fixed (four or more sizes): for the 2D Ising model the corrections
    to a pseudo-critical temperature are analytic, so the next term is
    :math:`L^{-2}`.  ``scale_errors`` applies the :math:`\sqrt{\chi^2/\mathrm{dof}}`
    rule (module docstring).
    """
    L, y, err = _inputs(L, tc, stderr)
    sizes = tuple(int(v) for v in L)
    w = 1.0 / err**2
    b = b_err = None
    if corrections and (nu is None or np.unique(L).size < 4):
        raise InputError("a fit with a correction to scaling needs nu fixed and at least "
                         "four lattice sizes")
    if nu is not None:
        nu = float(nu)
        if not (math.isfinite(nu) and nu > 0):
            raise InputError(f"nu must be positive, got {nu!r}")
        x = L ** (-1.0 / nu)
        X = np.stack([np.ones_like(x), x, x**2][:3 if corrections else 2], axis=1)
        cov = np.linalg.inv(X.T @ (w[:, None] * X))
        beta = cov @ (X.T @ (w * y))
        resid = y - X @ beta
        nu_err = None
    else:
        if np.unique(L).size < 4:
            raise InputError("fitting nu as well needs at least four lattice sizes")
        from scipy.optimize import least_squares

        start = fit_fss(L, y, err, nu=1.0, scale_errors=False)

        def residuals(p):
            return (y - p[0] - p[1] * L ** (-p[2])) / err

        res = least_squares(residuals, [start.tc, start.a, 1.0],
                            bounds=([-np.inf, -np.inf, 0.05], [np.inf, np.inf, 20.0]))
        J = res.jac
        try:
            cov3 = np.linalg.inv(J.T @ J)
        except np.linalg.LinAlgError:
            raise InputError("the finite-size-scaling fit with free nu is degenerate") from None
        inv_nu = float(res.x[2])
        beta = res.x[:2]
        cov = cov3[:2, :2]
        nu = 1.0 / inv_nu
        nu_err = float(math.sqrt(max(cov3[2, 2], 0.0)) / inv_nu**2)
        resid = y - beta[0] - beta[1] * L ** (-inv_nu)
    chi2 = float(np.sum(w * resid**2))
    dof = int(L.size - (2 if nu_err is None and not corrections else 3))
    scale = math.sqrt(chi2 / dof) if (scale_errors and dof > 0 and chi2 > dof) else 1.0
    if nu_err is not None:
        nu_err *= scale
    if corrections:
        b, b_err = float(beta[2]), float(math.sqrt(cov[2, 2]) * scale)
    p_value = _p_value(chi2, dof)
    model = "corrections" if corrections else ("leading" if nu_err is None else "free-nu")
    return FSSFit(tc=float(beta[0]), tc_stderr=float(math.sqrt(cov[0, 0]) * scale),
                  a=float(beta[1]), a_stderr=float(math.sqrt(cov[1, 1]) * scale),
                  nu=float(nu), nu_stderr=nu_err, chi2=chi2, dof=dof, error_scale=scale,
                  sizes=sizes, p_value=p_value,
                  poor_fit=p_value is not None and p_value < POOR_FIT_P, model=model,
                  b=b, b_stderr=b_err)


def _p_value(chi2: float, dof: int) -> float | None:
    """Probability of a chi-square at least this large with ``dof`` degrees of freedom."""
    if dof <= 0:
        return None
    from scipy.stats import chi2 as chi2_dist

    return float(chi2_dist.sf(chi2, dof))


def fss_method_name(method: str, model: str = "leading") -> str:
    """``latent-binder`` -> ``latent-binder-fss`` (``latent-binder-free-nu-fss`` with a
    fitted exponent, ``latent-binder-corrections-fss`` with a correction to scaling)."""
    if model not in MODELS:
        raise InputError(f"unknown finite-size-scaling model {model!r}; one of {MODELS}")
    return f"{method}-fss" if model == "leading" else f"{method}-{model}-fss"


def extrapolate(estimates: Iterable[dict], nu: float = 1.0, free_nu: bool = True
                ) -> tuple[list[dict], dict]:
    """One finite-size-scaling extrapolation per method seen at two or more sizes.

    ``estimates`` are per-size dicts with ``method``, integer ``L``, ``tc`` and
    ``stderr`` (entries with ``L`` of ``None`` are skipped: they are extrapolations
    already).  Returns ``(entries, fits)``: ``entries`` in the ``tc_estimates`` shape,
    method ``<method>-fss`` and ``"L": None``, plus, when ``free_nu`` and four or more
    sizes are there, ``<method>-free-nu-fss`` (``nu`` fitted) and
    ``<method>-corrections-fss`` (a correction to scaling); each carries its fit's
    ``chi2``, ``dof``, ``p_value``, ``poor_fit`` and ``error_scale``.  ``fits`` maps each
    entry's method name to its :meth:`FSSFit.to_json`.
    """
    by_method: dict[str, list[dict]] = {}
    for e in estimates:
        if e.get("L") is None:
            continue
        by_method.setdefault(str(e["method"]), []).append(e)
    entries, fits = [], {}
    for method, rows in by_method.items():
        L = [r["L"] for r in rows]
        if len(set(L)) < 2:
            continue
        tc = [r["tc"] for r in rows]
        err = [r["stderr"] for r in rows]
        variants = [("leading", {"nu": nu})]
        if free_nu and len(set(L)) >= 4:
            variants += [("free-nu", {"nu": None}), ("corrections", {"nu": nu,
                                                                      "corrections": True})]
        for model, kwargs in variants:
            try:
                fit = fit_fss(L, tc, err, **kwargs)
            except InputError:
                continue
            name = fss_method_name(method, model)
            sys_err = smallest_size_systematic(L, tc, err, fit) if model == "leading" else 0.0
            total = math.hypot(fit.tc_stderr, sys_err)
            entries.append({"method": name, "L": None, "tc": fit.tc, "stderr": total,
                            "stderr_fit": fit.tc_stderr, "stderr_systematic": sys_err,
                            "nu": fit.nu, "nu_fixed": model != "free-nu", "model": model,
                            "sizes": list(fit.sizes), "chi2": fit.chi2, "dof": fit.dof,
                            "p_value": fit.p_value, "poor_fit": fit.poor_fit,
                            "error_scale": fit.error_scale})
            fits[name] = {**fit.to_json(), "stderr_systematic": sys_err, "stderr_total": total}
    return entries, fits


def smallest_size_systematic(L, tc, stderr, fit: FSSFit) -> float:
    r"""Systematic error of a leading-order extrapolation from the sizes it rests on.

    Corrections to scaling weigh most at the smallest lattice.  The fit is repeated
    without it (when two or more sizes remain); the shift :math:`\Delta` of
    :math:`T_c` is partly statistical, since the two fits share data, with variance
    :math:`|\sigma_{\rm without}^2 - \sigma_{\rm all}^2|` for nested fits (Barlow
    2002), and only what exceeds that counts:
    :math:`\sigma_{\rm sys}^2 = \max(0, \Delta^2 - |\sigma_{\rm without}^2 -
    \sigma_{\rm all}^2|)`.  Zero with fewer than three sizes.

    >>> L = np.array([8, 16, 32])
    >>> exact = fit_fss(L, 2.269 + 1 / L, [0.01] * 3)
    >>> smallest_size_systematic(L, 2.269 + 1 / L, [0.01] * 3, exact)
    0.0
    >>> bent = 2.269 + 1 / L + 4 / L**2
    >>> round(smallest_size_systematic(L, bent, [0.001] * 3, fit_fss(L, bent, [0.001] * 3)), 3)
    0.009
    """
    L, y, err = (np.asarray(v, dtype=np.float64).ravel() for v in (L, tc, stderr))
    keep = L != L.min()
    if np.unique(L[keep]).size < 2:
        return 0.0
    sub = fit_fss(L[keep], y[keep], err[keep], nu=fit.nu)
    shift2 = (sub.tc - fit.tc) ** 2
    return float(math.sqrt(max(0.0, shift2 - abs(sub.tc_stderr**2 - fit.tc_stderr**2))))


#: estimates combine into one headline only when their chi-square of consistency has a
#: p-value at least this large
CONSISTENT_P = 0.05


def combine(entries: Iterable[dict]) -> dict:
    r"""One headline :math:`T_c` from several estimates, when they agree.

    The value is the inverse-variance weighted mean.  Its error is the weighted mean of
    the errors, :math:`\sum_i w_i \sigma_i / \sum_i w_i`: the estimates come from the same
    data and the same models, so they are correlated by an unknown amount, and this is
    the error of the mean when they are fully correlated (it never claims the
    :math:`1/\sqrt n` gain of independent estimates).  Agreement is tested by
    :math:`\chi^2 = \sum_i (t_i - \bar t)^2 / \sigma_i^2` on :math:`n - 1` degrees of
    freedom; below :data:`CONSISTENT_P` the estimates disagree, and the result has
    ``tc`` ``None`` and says by how much (the largest difference, in units of its
    combined error).

    >>> r = combine([{"method": "a", "tc": 2.27, "stderr": 0.01},
    ...              {"method": "b", "tc": 2.26, "stderr": 0.01}])
    >>> round(r["tc"], 4), round(r["stderr"], 4), r["consistent"]
    (2.265, 0.01, True)
    """
    rows = [e for e in entries]
    if not rows:
        return {"methods": [], "tc": None, "stderr": None, "consistent": None,
                "note": "no estimate to combine"}
    t = np.array([float(e["tc"]) for e in rows])
    s = np.array([float(e["stderr"]) for e in rows])
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise InputError(f"combining needs positive error bars, got {s.tolist()}")
    w = 1.0 / s**2
    mean = float(np.sum(w * t) / w.sum())
    err = float(np.sum(w * s) / w.sum())
    chi2 = float(np.sum(w * (t - mean) ** 2))
    dof = t.size - 1
    p = _p_value(chi2, dof)
    out = {"methods": [str(e["method"]) for e in rows], "chi2": chi2, "dof": dof,
           "p_value": p, "consistent": p is None or p >= CONSISTENT_P}
    i, j = int(np.argmin(t)), int(np.argmax(t))
    gap = float(t[j] - t[i])
    out["spread"] = gap
    out["largest_difference"] = {"between": [out["methods"][i], out["methods"][j]],
                                 "difference": gap,
                                 "in_stderr": gap / math.hypot(s[i], s[j])}
    if out["consistent"]:
        out.update(tc=mean, stderr=err)
        out["note"] = ("weighted mean of mutually consistent estimates; error: the weighted "
                       "mean of their errors (they share data and models)")
    else:
        out.update(tc=None, stderr=None)
        out["note"] = (f"the estimates disagree (chi2 = {chi2:.1f} for {dof} degrees of "
                       f"freedom, p = {p:.2g}): {out['methods'][j]} lies {gap:.4f} above "
                       f"{out['methods'][i]}, {gap / math.hypot(s[i], s[j]):.1f} combined "
                       f"standard errors; no headline value")
    return out
