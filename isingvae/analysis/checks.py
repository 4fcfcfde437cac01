r"""Physics checks: does what a report shows agree with Monte Carlo and the exact torus?

Two kinds of rows are judged, each quantity of each row one *check* (a flat dict, the
records of ``checks.json`` and of ``report.json``; ``docs/interfaces.md`` §5):

- **generated physics** (:func:`generated_checks`): a row of
  :func:`isingvae.analysis.samples.compare_samples` at one temperature (a model
  conditioned on it), whose energy per spin, ``|m|``, ``C/N`` and ``chi/N`` of the
  generated configurations, with standard errors, are set against the Monte Carlo value
  (error: resampled Markov chains) and, for the energy and ``C/N``, against Kaufman's
  exact value of the finite torus where :func:`isingvae.exact.reference` gives one;
- **thermodynamics** from neural importance sampling (:func:`thermo_checks`): a row of
  ``thermo.json``, whose ``F``, ``u``, ``C/N`` and ``S`` per spin are set against
  Kaufman's.

The rule for generated physics: a check **passes when the generated value lies within
the tolerance** of its reference (the table below); otherwise it **warns**.  Statistical
consistency alone does not pass a check: a model judged on a handful of configurations
would pass anything.  Every check carries its deviation in combined standard errors,
:math:`(g - r)/\sqrt{\sigma_g^2 + \sigma_r^2}` (an exact value has no error), so that a
reader sees whether a warning could be noise (within :data:`NOISE_SIGMA`: more samples
would tell) or is a real miss.  The reference of the verdict is Kaufman's value where
one exists (energy, ``C/N``), else the Monte Carlo value (``|m|``, ``chi/N``, and every
quantity in a field, where Kaufman's solution does not apply).  Near :math:`T_c` some
quantities get no verdict (``passed`` is None): their finite-size values there change
faster with T and L than any fixed tolerance could follow.

=====================  ===========  ===================================================
quantity               reference    passes when
=====================  ===========  ===================================================
energy per spin        Kaufman      within 2 % (3 % where abs(T - T_c) <= 0.05)
abs(m)                 Monte Carlo  within 5 % for T < T_c - 0.1; within 0.03 (absolute)
                                    for T > T_c + 0.1; no verdict in between
C/N                    Kaufman      within 25 % where abs(T - T_c) > 0.1, else no verdict
chi/N (of abs(m))      Monte Carlo  within 50 % where abs(T - T_c) > 0.1, else no verdict
=====================  ===========  ===================================================

The rule for thermodynamics: a check passes when the estimate lies within
:data:`THERMO_SIGMA` standard errors of Kaufman's value *and* its row is ``reliable``
with an effective sample size of at least
:data:`~isingvae.evaluation.importance.ESS_WARNING` of the draws (the diagnostics of
:mod:`isingvae.evaluation.importance`: an error bar that cannot be trusted cannot back a
pass); ``why`` names every reason for a warning.

>>> row = {"temperature": 1.6, "energy": {"generated_mean": -1.90, "generated_stderr": 0.01,
...        "monte_carlo_mean": -1.95, "monte_carlo_stderr": 0.01, "exact_mean": -1.9526}}
>>> c = generated_checks(row, 16)["energy"]
>>> c["passed"], round(c["relative"], 3), round(c["sigma_vs_monte_carlo"], 1)
(False, 0.027, 3.5)
"""

from __future__ import annotations

import math

from isingvae import exact
from isingvae.evaluation.importance import ESS_WARNING

__all__ = ["ABS_M_ABSOLUTE", "ABS_M_RELATIVE", "ABS_M_WINDOW", "CHI_RELATIVE",
           "ENERGY_NEAR_TC", "ENERGY_RELATIVE", "ENERGY_RELATIVE_NEAR_TC",
           "FLUCTUATION_WINDOW", "LABELS", "NOISE_SIGMA", "SPECIFIC_HEAT_RELATIVE",
           "THERMO_SIGMA", "cell", "deviation_text", "generated_checks", "tally",
           "thermo_cell", "thermo_checks", "tolerance_rows", "tolerance_text", "tolerances"]

#: T_c of the infinite lattice, the centre of every window below
TC = exact.critical_temperature()

#: energy per spin of generated configurations: largest relative difference from Kaufman
ENERGY_RELATIVE = 0.02
#: ... and within ENERGY_NEAR_TC of T_c, where the energy changes fastest with T
ENERGY_RELATIVE_NEAR_TC = 0.03
ENERGY_NEAR_TC = 0.05
#: |m| below T_c - ABS_M_WINDOW: largest relative difference from Monte Carlo
ABS_M_RELATIVE = 0.05
#: |m| above T_c + ABS_M_WINDOW: largest absolute difference from Monte Carlo (|m| is a
#: finite-size remainder there, small, so a relative tolerance would be too tight)
ABS_M_ABSOLUTE = 0.03
ABS_M_WINDOW = 0.1
#: C/N: largest relative difference from Kaufman, outside FLUCTUATION_WINDOW of T_c
SPECIFIC_HEAT_RELATIVE = 0.25
#: chi/N of |m|: largest relative difference from Monte Carlo, outside the window (no
#: exact value exists; the Monte Carlo one has errors of its own, hence twice C's)
CHI_RELATIVE = 0.5
FLUCTUATION_WINDOW = 0.1
#: a warning within this many combined standard errors may be noise
NOISE_SIGMA = 3.0
#: thermodynamics: largest deviation from Kaufman in standard errors
THERMO_SIGMA = 3.0

#: the words of each check's quantity, as the report's tables name them
LABELS = {("generated", "energy"): "generated energy", ("generated", "abs_m"): "generated abs(m)",
          ("generated", "specific_heat"): "generated C/N",
          ("generated", "susceptibility"): "generated chi/N",
          ("thermo", "free_energy_per_spin"): "thermo F", ("thermo", "energy_per_spin"): "thermo u",
          ("thermo", "specific_heat_per_spin"): "thermo C/N",
          ("thermo", "entropy_per_spin"): "thermo S"}

# generated quantity -> (value, its error, Monte Carlo, its error, exact) keys of a row
_GENERATED = {
    "energy": ("generated_mean", "generated_stderr", "monte_carlo_mean",
               "monte_carlo_stderr", "exact_mean"),
    "abs_m": ("generated_mean", "generated_stderr", "monte_carlo_mean",
              "monte_carlo_stderr", None),
    "specific_heat": ("generated", "generated_stderr", "monte_carlo", "monte_carlo_stderr",
                      "exact"),
    "susceptibility": ("generated", "generated_stderr", "monte_carlo",
                       "monte_carlo_stderr", None),
}
# thermo quantity -> its 0.1 name (older thermo.json rows)
_THERMO = {"free_energy_per_spin": None, "energy_per_spin": None,
           "specific_heat_per_spin": "specific_heat", "entropy_per_spin": None}


def tolerances() -> dict:
    """The constants of the rules, as ``checks.json`` records them."""
    return {"tc": TC, "energy_relative": ENERGY_RELATIVE,
            "energy_relative_near_tc": ENERGY_RELATIVE_NEAR_TC,
            "energy_near_tc": ENERGY_NEAR_TC, "abs_m_relative": ABS_M_RELATIVE,
            "abs_m_absolute": ABS_M_ABSOLUTE, "abs_m_window": ABS_M_WINDOW,
            "specific_heat_relative": SPECIFIC_HEAT_RELATIVE, "chi_relative": CHI_RELATIVE,
            "fluctuation_window": FLUCTUATION_WINDOW, "noise_sigma": NOISE_SIGMA,
            "thermo_sigma": THERMO_SIGMA, "ess_warning": ESS_WARNING}


def tolerance_rows() -> list[tuple[str, str, str]]:
    """(check, reference, passes when) of every rule, in words, from the constants."""
    w = f"{FLUCTUATION_WINDOW:g}"
    return [
        ("generated energy", "Kaufman (else Monte Carlo)",
         f"within {ENERGY_RELATIVE:.0%} ({ENERGY_RELATIVE_NEAR_TC:.0%} where abs(T - T_c) "
         f"<= {ENERGY_NEAR_TC:g})"),
        ("generated abs(m)", "Monte Carlo",
         f"within {ABS_M_RELATIVE:.0%} below T_c - {ABS_M_WINDOW:g}; within "
         f"{ABS_M_ABSOLUTE:g} (absolute) above T_c + {ABS_M_WINDOW:g}; no verdict between"),
        ("generated C/N", "Kaufman (else Monte Carlo)",
         f"within {SPECIFIC_HEAT_RELATIVE:.0%} where abs(T - T_c) > {w}; no verdict nearer"),
        ("generated chi/N", "Monte Carlo",
         f"within {CHI_RELATIVE:.0%} where abs(T - T_c) > {w}; no verdict nearer"),
        ("thermo F, u, C/N, S", "Kaufman",
         f"within {THERMO_SIGMA:g} standard errors, on a reliable row with an ESS of at "
         f"least {ESS_WARNING:.0%} of the draws"),
    ]


def _num(x) -> float | None:
    """A finite float, or None (missing, NaN, infinite)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _deviation(value, stderr, reference, reference_stderr) -> tuple[float | None, ...]:
    """(sigma, relative) of ``value`` against ``reference``: the difference over the
    combined standard error, and over abs(reference); None where undefined."""
    if value is None or reference is None:
        return None, None
    errors = [e for e in (stderr, reference_stderr) if e is not None]
    combined = math.sqrt(sum(e * e for e in errors)) if stderr is not None else None
    sigma = (value - reference) / combined if combined else None
    relative = (value - reference) / abs(reference) if reference != 0 else None
    return sigma, relative


def _generated_tolerance(quantity: str, T: float) -> tuple[float | None, str | None, str]:
    """(tolerance, "relative" or "absolute", why there is none) at temperature T."""
    d = abs(T - TC)
    if quantity == "energy":
        return (ENERGY_RELATIVE_NEAR_TC if d <= ENERGY_NEAR_TC else ENERGY_RELATIVE,
                "relative", "")
    if quantity == "abs_m":
        if T < TC - ABS_M_WINDOW:
            return ABS_M_RELATIVE, "relative", ""
        if T > TC + ABS_M_WINDOW:
            return ABS_M_ABSOLUTE, "absolute", ""
        return None, None, f"no verdict within {ABS_M_WINDOW:g} of T_c"
    if d <= FLUCTUATION_WINDOW:
        return None, None, f"no verdict within {FLUCTUATION_WINDOW:g} of T_c"
    return (SPECIFIC_HEAT_RELATIVE if quantity == "specific_heat" else CHI_RELATIVE,
            "relative", "")


def _one_generated(quantity: str, q: dict, L: int, T: float) -> dict:
    v_key, e_key, mc_key, mce_key, ex_key = _GENERATED[quantity]
    value, stderr = _num(q.get(v_key)), _num(q.get(e_key))
    mc, mc_err = _num(q.get(mc_key)), _num(q.get(mce_key))
    ex = _num(q.get(ex_key)) if ex_key else None
    sig_mc, rel_mc = _deviation(value, stderr, mc, mc_err)
    sig_ex, rel_ex = _deviation(value, stderr, ex, None)
    if ex is not None:
        reference, ref_err, source, sigma, relative = ex, 0.0, "kaufman", sig_ex, rel_ex
    else:
        reference, ref_err, source, sigma, relative = mc, mc_err, "monte_carlo", sig_mc, \
            rel_mc
    tolerance, kind, why = _generated_tolerance(quantity, T)
    passed = None
    if value is None or reference is None:
        why = "no generated value" if value is None else "no reference value"
    elif tolerance is not None:
        off = abs(value - reference) if kind == "absolute" else \
            (abs(relative) if relative is not None else math.inf)
        passed = off <= tolerance
        if passed:
            why = None
        elif sigma is None:
            why = "outside the tolerance (no error bar)"
        elif abs(sigma) <= NOISE_SIGMA:
            why = (f"outside the tolerance, but within {NOISE_SIGMA:g} standard errors: "
                   "more configurations would tell whether it is noise")
        else:
            why = f"outside the tolerance, by more than {NOISE_SIGMA:g} standard errors"
    return {"source": "generated", "quantity": quantity, "label": LABELS["generated",
                                                                         quantity],
            "L": int(L), "T": float(T), "value": value, "stderr": stderr,
            "reference": reference, "reference_stderr": ref_err, "reference_source": source,
            "difference": None if value is None or reference is None else value - reference,
            "deviation_sigma": sigma, "relative": relative, "tolerance": tolerance,
            "tolerance_kind": kind, "passed": passed, "why": why or None,
            "monte_carlo": mc, "monte_carlo_stderr": mc_err, "exact": ex,
            "sigma_vs_monte_carlo": sig_mc, "relative_vs_monte_carlo": rel_mc,
            "sigma_vs_exact": sig_ex, "relative_vs_exact": rel_ex}


def generated_checks(row: dict, L: int) -> dict[str, dict]:
    """Quantity -> check of one row of :func:`~isingvae.analysis.samples.compare_samples`
    at one temperature (Kaufman's values, where present, under ``energy.exact_mean`` and
    ``specific_heat.exact``, as :mod:`isingvae.analysis.generated` puts them); {} for a
    row of the pooled mixture (no temperature)."""
    T = _num(row.get("temperature"))
    if T is None:
        return {}
    return {name: _one_generated(name, row[name], L, T) for name in _GENERATED
            if isinstance(row.get(name), dict)}


def thermo_checks(row: dict, L: int) -> list[dict]:
    """The checks of one ``thermo.json`` row: F, u, C/N and S per spin against Kaufman
    (module docstring); none is judged without Kaufman's value (``passed`` None)."""
    T = float(row["temperature"])
    exact_row = row.get("exact") or {}
    reliable = row.get("reliable", True) is not False
    ess_fraction = _num(row.get("ess_fraction"))
    low_ess = bool(row.get("ess_warning")) or (ess_fraction is not None
                                               and ess_fraction < ESS_WARNING)
    out = []
    for q, old in _THERMO.items():
        value = _num(row.get(q, row.get(old) if old else None))
        stderr = _num(row.get(f"{q}_stderr", row.get(f"{old}_stderr") if old else None))
        ex = _num(exact_row.get(q, exact_row.get(old) if old else None))
        sigma, relative = _deviation(value, stderr, ex, None)
        reasons = []
        if value is None or ex is None:
            passed = None
            reasons.append("no estimate" if value is None else "no exact value")
        else:
            if sigma is None:
                reasons.append("no error bar")
            elif abs(sigma) > THERMO_SIGMA:
                reasons.append(f"{sigma:+.1f} standard errors from Kaufman")
            if not reliable:
                because = row.get("unreliable_because") or "see thermo.json"
                reasons.append(f"unreliable row: {because}")
            if low_ess:
                share = "under" if ess_fraction is None else f"{ess_fraction:.2g} <"
                reasons.append(f"ESS {share} {ESS_WARNING:g} of the draws")
            passed = not reasons
        out.append({"source": "thermo", "quantity": q, "label": LABELS["thermo", q],
                    "L": int(L), "T": T, "value": value, "stderr": stderr, "reference": ex,
                    "reference_stderr": 0.0 if ex is not None else None,
                    "reference_source": "kaufman",
                    "difference": None if value is None or ex is None else value - ex,
                    "deviation_sigma": sigma, "relative": relative,
                    "tolerance": THERMO_SIGMA, "tolerance_kind": "sigma", "passed": passed,
                    "why": "; ".join(reasons) or None, "reliable": reliable,
                    "ess_fraction": ess_fraction,
                    "unreliable_because": row.get("unreliable_because")})
    return out


def tally(checks: list[dict]) -> dict:
    """Counts of a list of checks: ``total`` (those with a verdict), ``passed``,
    ``warnings``, ``no_verdict``, and ``by_label``: label -> [passed, total]."""
    by_label: dict[str, list[int]] = {}
    for c in checks:
        if c["passed"] is not None:
            counts = by_label.setdefault(c["label"], [0, 0])
            counts[0] += bool(c["passed"])
            counts[1] += 1
    judged = [c for c in checks if c["passed"] is not None]
    passed = sum(1 for c in judged if c["passed"])
    return {"total": len(judged), "passed": passed, "warnings": len(judged) - passed,
            "no_verdict": len(checks) - len(judged), "by_label": by_label}


# ------------------------------------------------------------------ in words


def deviation_text(c: dict) -> str:
    """The deviation of a check: relative (absolute for an absolute tolerance) and in
    standard errors."""
    sigma = "" if c["deviation_sigma"] is None else f"{c['deviation_sigma']:+.1f}σ"
    rel = "" if c["relative"] is None or c["tolerance_kind"] == "sigma" else \
        f"{c['relative']:+.1%}"
    if c["tolerance_kind"] == "absolute" and c["difference"] is not None:
        rel = f"{c['difference']:+.3f}"
    return ", ".join(x for x in (rel, sigma) if x)


def cell(c: dict | None) -> str:
    """A check in a Markdown table cell: PASS, **WARN** or no verdict, with its deviation."""
    if not c:
        return ""
    word = "no verdict" if c["passed"] is None else "PASS" if c["passed"] else "**WARN**"
    detail = deviation_text(c)
    return f"{word} ({detail})" if detail else word


def tolerance_text(c: dict) -> str:
    """A check's tolerance in a few characters."""
    kind, tol = c["tolerance_kind"], c["tolerance"]
    return {"relative": f"{tol:.0%}", "absolute": f"{tol:g} absolute",
            "sigma": f"{tol:g}σ"}.get(kind, "")


def thermo_cell(row: dict, L: int) -> str:
    """The checks of one ``thermo.json`` row in a Markdown table cell: the verdict, the
    deviations of F, u, C/N and S in standard errors, and the reasons for a warning."""
    found = thermo_checks(row, L)
    sig = ", ".join("n/a" if c["deviation_sigma"] is None else f"{c['deviation_sigma']:+.1f}"
                    for c in found)
    verdicts = [c["passed"] for c in found if c["passed"] is not None]
    if not verdicts:
        return f"no verdict ({sig})"
    if all(verdicts):
        return f"PASS ({sig})"
    why = "; ".join(dict.fromkeys(part for c in found if c["why"]
                                  for part in c["why"].split("; ")))
    return f"**WARN** ({sig}): {why}"
