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
(corrections to scaling, the spread between independently trained models).

:func:`extrapolate` turns a list of per-size estimates (the ``tc_estimates`` dicts)
into one ``<method>-fss`` entry per method seen at two or more sizes, whatever the
method: unsupervised, or the ``vib-*`` and ``classifier-*`` estimates of a supervised
head.

>>> L = np.array([16, 24, 32, 48])
>>> fit = fit_fss(L, 2.269185 + 1.5 / L, np.full(4, 0.01))
>>> round(fit.tc, 6), round(fit.a, 6), fit.dof
(2.269185, 1.5, 2)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from isingvae.errors import InputError

__all__ = ["FSSFit", "extrapolate", "fit_fss", "fss_method_name"]


@dataclass(frozen=True)
class FSSFit:
    """Result of :func:`fit_fss`: ``tc``, ``a`` and ``nu`` with standard errors
    (``nu_stderr`` is ``None`` when ``nu`` was fixed), ``chi2``, ``dof`` and the
    factor the errors were scaled by."""

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

    def predict(self, L) -> np.ndarray:
        """``T_c(L)`` of the fitted curve."""
        return self.tc + self.a * np.asarray(L, dtype=np.float64) ** (-1.0 / self.nu)

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


def fit_fss(L, tc, stderr, nu: float | None = 1.0, scale_errors: bool = True) -> FSSFit:
    r"""Fit :math:`T_c(L) = T_c + a L^{-1/\nu}` to pseudo-critical temperatures.

    ``nu=None`` fits :math:`\nu` as well (needs four or more distinct sizes).
    ``scale_errors`` applies the :math:`\sqrt{\chi^2/\mathrm{dof}}` rule (module
    docstring).
    """
    L, y, err = _inputs(L, tc, stderr)
    sizes = tuple(int(v) for v in L)
    w = 1.0 / err**2
    if nu is not None:
        nu = float(nu)
        if not (math.isfinite(nu) and nu > 0):
            raise InputError(f"nu must be positive, got {nu!r}")
        x = L ** (-1.0 / nu)
        X = np.stack([np.ones_like(x), x], axis=1)
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
    dof = int(L.size - (2 if nu_err is None else 3))
    scale = math.sqrt(chi2 / dof) if (scale_errors and dof > 0 and chi2 > dof) else 1.0
    if nu_err is not None:
        nu_err *= scale
    return FSSFit(tc=float(beta[0]), tc_stderr=float(math.sqrt(cov[0, 0]) * scale),
                  a=float(beta[1]), a_stderr=float(math.sqrt(cov[1, 1]) * scale),
                  nu=float(nu), nu_stderr=nu_err, chi2=chi2, dof=dof, error_scale=scale,
                  sizes=sizes)


def fss_method_name(method: str, free_nu: bool = False) -> str:
    """``latent-binder`` -> ``latent-binder-fss`` (``latent-binder-free-nu-fss`` with a
    fitted exponent)."""
    return f"{method}-free-nu-fss" if free_nu else f"{method}-fss"


def extrapolate(estimates: Iterable[dict], nu: float = 1.0, free_nu: bool = True
                ) -> tuple[list[dict], dict]:
    """One finite-size-scaling extrapolation per method seen at two or more sizes.

    ``estimates`` are per-size dicts with ``method``, integer ``L``, ``tc`` and
    ``stderr`` (entries with ``L`` of ``None`` are skipped: they are extrapolations
    already).  Returns ``(entries, fits)``: ``entries`` in the ``tc_estimates`` shape,
    method ``<method>-fss`` and ``"L": None`` (plus ``<method>-free-nu-fss`` when
    ``free_nu`` and four or more sizes are there), and ``fits`` mapping each entry's
    method name to its :meth:`FSSFit.to_json`.
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
        variants = [(fss_method_name(method), nu)]
        if free_nu and len(set(L)) >= 4:
            variants.append((fss_method_name(method, True), None))
        for name, fixed in variants:
            try:
                fit = fit_fss(L, tc, err, nu=fixed)
            except InputError:
                continue
            entries.append({"method": name, "L": None, "tc": fit.tc, "stderr": fit.tc_stderr,
                            "nu": fit.nu, "nu_fixed": fixed is not None,
                            "sizes": list(fit.sizes)})
            fits[name] = fit.to_json()
    return entries, fits
