"""The README of ``isingvae run``'s report folder: the headline numbers, in words and
tables, with the figures (:func:`summary`), and the record of its physics checks
(:func:`checks`, written as :data:`CHECKS` by :func:`write_checks`).  Everything it shows
is in ``report.json``, ``thermo.json``, ``timings.json`` and the runs'
``evaluation.json``; the verdicts follow the one rule of :mod:`isingvae.analysis.checks`.
The README opens with the count of checks that pass, the warnings, and the scale of the
job (a demonstration unless the plan is of a study's size)."""

from __future__ import annotations

import math

import numpy as np

from isingvae.analysis import checks as rules

__all__ = ["CHECKS", "checks", "summary", "write_checks"]

#: the file of every physics check in the report folder (``docs/interfaces.md`` §5)
CHECKS = "checks.json"
#: the README lists at most this many warnings (all are in :data:`CHECKS`)
MAX_LISTED = 30
#: a plan below either of these is of demonstration scale: the package's measured claims
#: (docs/measurements.md) are for 20 epochs on 5,120 configurations per temperature
STUDY_EPOCHS = 20
STUDY_SAMPLES = 1000
_SOURCES = {"kaufman": "Kaufman", "monte_carlo": "Monte Carlo"}


def _fmt(x, digits=4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) \
        else f"{x:.{digits}f}"


def _describe(plan) -> str:
    """The VAE of the plan in words: its decoder, and whether it conditions on T."""
    from isingvae.training import TrainConfig
    from isingvae.training.build import conditions_on_temperature

    config = TrainConfig(**{"epochs": plan.epochs, "seed": plan.seed, **plan.train})
    conditioned = conditions_on_temperature(config, plan.temperatures)
    return f"{config.decoder} decoder" + (", conditioned on temperature" if conditioned
                                          else "")


def _pm(q: dict, key: str, digits: int = 4) -> str:
    """``q[key] +- its standard error`` (the key's ``_mean`` replaced by ``_stderr``)."""
    err = q.get(key.removesuffix("_mean") + "_stderr")
    return _fmt(q.get(key), digits) + ("" if err is None else f" +- {_fmt(err, digits)}")


def _generated_rows(report: dict):
    """(L, comparison row) of every per-temperature row of generated physics."""
    for run in report.get("runs", []):
        samples = run.get("samples") or {}
        if samples.get("per_temperature"):
            for c in samples.get("comparisons", []):
                yield run["L"], c


def checks(report: dict, thermo: dict | None = None) -> dict:
    """Every physics check of a report (:mod:`isingvae.analysis.checks`): the generated
    physics of ``report`` (``report.json``) and the thermodynamics of ``thermo``
    (``thermo.json``), with their tally and the tolerances; what :data:`CHECKS` holds."""
    found = []
    for L, c in _generated_rows(report):
        found += (c.get("checks") or rules.generated_checks(c, L)).values()
    for r in (thermo or {}).get("per_temperature", []):
        found += rules.thermo_checks(r, thermo["L"])
    return {"summary": rules.tally(found), "tolerances": rules.tolerances(),
            "checks": found}


def write_checks(out, report: dict, thermo: dict | None = None) -> dict:
    """Write :func:`checks` as ``out/checks.json`` (strict JSON); return the record."""
    from pathlib import Path

    from isingvae._atomic import write_json

    record = checks(report, thermo)
    write_json(Path(out) / CHECKS, record, allow_nan=False)
    return record


def _checks_summary(record: dict) -> list[str]:
    """The lines right under the title: how many checks pass, and the warnings."""
    tally = record["summary"]
    if not tally["total"]:
        return ["**Physics checks: none to judge** (no generated physics per temperature and "
                "no thermodynamics with an exact value).", ""]
    ok = tally["passed"] == tally["total"]
    parts = [f"{label} {p}/{n}" for label, (p, n) in tally["by_label"].items()]
    lines = [f"**{tally['passed']} of {tally['total']} physics checks pass**"
             + ("." if ok else f"; {tally['warnings']} WARN.") + " By check: "
             + ", ".join(parts) + "."
             + (f" {tally['no_verdict']} more are shown without a verdict (near T_c, or no "
                "reference)." if tally["no_verdict"] else "")
             + f" Tolerances: the section 'How the physics checks are judged'; every "
             f"check is in `{CHECKS}`.", ""]
    warns = [c for c in record["checks"] if c["passed"] is False]
    if warns:
        lines += ["| WARN | L | T | value | reference | deviation | tolerance | why |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in warns[:MAX_LISTED]:
            ref = f"{_fmt(c['reference'])} ({_SOURCES.get(c['reference_source'], '')})"
            lines.append(
                f"| {c['label']} | {c['L']} | {c['T']:.3f} | {_fmt(c['value'])} +- "
                f"{_fmt(c['stderr'])} | {ref} | {rules.deviation_text(c)} | "
                f"{rules.tolerance_text(c)} | {c['why'] or ''} |")
        if len(warns) > MAX_LISTED:
            lines.append(f"\n... and {len(warns) - MAX_LISTED} more warnings, in the tables "
                         f"below and in `{CHECKS}`.")
        lines.append("")
    return lines


def _preset_name(plan) -> str | None:
    """The name of the preset the plan is, if any (None also where presets are missing)."""
    try:
        from isingvae.run import plan as plans

        return next((n for n in plans.presets() if plans.preset(n) == plan), None)
    except (AttributeError, OSError, ValueError):    # InputError is a ValueError
        return None


def _scale(plan) -> list[str]:
    """What scale the job is, read from the plan, and what a study would change."""
    from isingvae.run.plan import QUICK

    name = _preset_name(plan)
    n_sizes = len(plan.sizes)
    vaes = getattr(plan, "ensemble", 1) * n_sizes
    heads = n_sizes if plan.head is not None else 0
    per_t = max(2, plan.analysis_samples // max(len(plan.temperatures), 1))
    noise = math.sqrt(2.0 / max(per_t - 1, 1))
    demo = plan.epochs < STUDY_EPOCHS or plan.samples < STUDY_SAMPLES
    what = ("the `--quick` smoke test, which checks that the set-up works"
            if plan == QUICK else "a demonstration" if demo else "of a study's size") \
        + (f" (the `{name}` preset)" if name else "")
    text = (f"**Scale: {what}.** L = {', '.join(map(str, plan.sizes))}; "
            f"{plan.samples} Monte Carlo configurations per temperature at "
            f"{len(plan.temperatures)} temperatures; {vaes + heads} models ({vaes} VAEs, "
            f"{getattr(plan, 'ensemble', 1)} per size"
            + (f", and {heads} with a {(plan.head or {}).get('head', 'supervised')} head"
               if heads else "")
            + f") trained for {plan.epochs} epochs"
            + (f" ({(plan.head or {}).get('epochs', plan.epochs)} for the heads)" if heads
               else "")
            + f"; {per_t} generated configurations per temperature and size for the "
            f"checks (C/N and chi/N from {per_t} configurations carry about "
            f"{noise:.0%} sampling error on their own)"
            + (f"; {plan.thermo_samples} importance-sampling draws per temperature at "
               f"L = {plan.sizes[0]}" if plan.thermo_samples else "") + ".")
    if not demo:
        return [text, ""]
    return [text + " Models trained this briefly on this little data are expected to miss "
            "some tolerances, and the checks say where. For a real study train for "
            f"{STUDY_EPOCHS} epochs or more on thousands of configurations per temperature "
            "(the package's measured figures in docs/measurements.md: 20 epochs, 5,120), "
            "generate thousands of configurations per temperature for the comparison and "
            "draw 10^4 or more for the thermodynamics: write those numbers into a plan file "
            "and run `isingvae run --plan FILE`, starting from the study preset.", ""]


def _generated_section(report: dict) -> list[str]:
    """Generated against Monte Carlo: per temperature for models conditioned on it (with
    Kaufman's exact energy and specific heat), pooled for unconditional ones."""
    lines = ["", "## Generated configurations against Monte Carlo", ""]
    runs = [r for r in report.get("runs", []) if r.get("samples")]
    conditional = [r for r in runs if r["samples"].get("per_temperature")]
    pooled = [r for r in runs if not r["samples"].get("per_temperature")]
    if conditional:
        lines += ["Each model, conditioned on temperature, generated configurations at every "
                  "training temperature; they are compared there with the Monte Carlo data "
                  "and with the exact finite torus (Kaufman). Errors are standard errors "
                  "(over Markov chains for Monte Carlo). Each 'check' column gives the "
                  "verdict against the tolerance, the relative difference (absolute for "
                  "abs(m) above T_c) and the deviation in combined standard errors, from "
                  "Kaufman's value where there is one, else from Monte Carlo.", "",
                  "| L | T | energy gen | MC | exact | check | abs(m) gen | MC | check "
                  "| C/N gen | MC | exact | check | chi/N gen | MC | check |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for run in conditional:
            for c in run["samples"]["comparisons"]:
                e, m = c["energy"], c["abs_m"]
                ch, xi = c.get("specific_heat", {}), c.get("susceptibility", {})
                flags = c.get("checks") or rules.generated_checks(c, run["L"])
                lines.append(
                    f"| {run['L']} | {c['temperature']:.3f} | {_pm(e, 'generated_mean')} | "
                    f"{_pm(e, 'monte_carlo_mean')} | {_fmt(e.get('exact_mean'))} | "
                    f"{rules.cell(flags.get('energy'))} | {_pm(m, 'generated_mean', 3)} | "
                    f"{_pm(m, 'monte_carlo_mean', 3)} | {rules.cell(flags.get('abs_m'))} | "
                    f"{_pm(ch, 'generated', 3)} | {_pm(ch, 'monte_carlo', 3)} | "
                    f"{_fmt(ch.get('exact'), 3)} | {rules.cell(flags.get('specific_heat'))} | "
                    f"{_pm(xi, 'generated', 2)} | {_pm(xi, 'monte_carlo', 2)} | "
                    f"{rules.cell(flags.get('susceptibility'))} |")
    if pooled:
        lines += ["", "Configurations drawn from each unconditional model's prior, compared "
                  "with the Monte Carlo data pooled over temperatures (such a model generates "
                  "the mixture).", "",
                  "| L | quantity | generated mean | Monte Carlo mean | Wasserstein-1 |",
                  "|---|---|---|---|---|"]
        for run in pooled:
            for c in run["samples"]["comparisons"]:
                for key, label in (("energy", "energy / spin"), ("abs_m", "abs(m)")):
                    q = c.get(key) or {}
                    lines.append(f"| {run.get('L')} | {label} | "
                                 f"{_fmt(q.get('generated_mean'))} | "
                                 f"{_fmt(q.get('monte_carlo_mean'))} | {_fmt(q.get('w1'))} |")
    return lines


def _thermo_section(result: dict) -> list[str]:
    """Neural importance sampling against Kaufman, per temperature (``isingvae thermo``)."""
    rows = result["per_temperature"]
    lines = ["", "## Thermodynamics from the model", "",
             f"Importance sampling with the L = {result['L']} model as proposal: "
             f"{result['n']} draws (z, x) per temperature, each weighted by "
             "exp(-H/T) q(z|x,T) / (p(z|T) p(x|z,T)), whose mean is Z(T) for any model; "
             "F, u, C and S per spin against the exact finite torus (Kaufman), with "
             "delta-method standard errors, the effective sample size as a fraction of the "
             "draws, and the acceptance rate of the neural MCMC chain built on the same "
             "weights (`isingvae thermo`, `isingvae sample --mcmc`). 'check': PASS when F, "
             "u, C/N and S all lie within "
             f"{rules.THERMO_SIGMA:g} standard errors of Kaufman's on a reliable row, "
             "with their deviations in standard errors in that order.", "",
             "| T | F | error | exact | u | error | exact | C/N | exact | S | exact | ESS "
             "| acceptance | check |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ex = r.get("exact") or {}
        lines.append(
            f"| {r['temperature']:.3f} | {_fmt(r['free_energy_per_spin'], 5)} | "
            f"{_fmt(r['free_energy_per_spin_stderr'], 5)} | "
            f"{_fmt(ex.get('free_energy_per_spin'), 5)} | {_fmt(r['energy_per_spin'])} | "
            f"{_fmt(r['energy_per_spin_stderr'])} | {_fmt(ex.get('energy_per_spin'))} | "
            f"{_fmt(r['specific_heat'], 3)} | {_fmt(ex.get('specific_heat'), 3)} | "
            f"{_fmt(r['entropy_per_spin'])} | {_fmt(ex.get('entropy_per_spin'))} | "
            f"{r['ess_fraction']:.2f} | {r['mcmc']['acceptance']:.2f} | "
            f"{rules.thermo_cell(r, result['L'])} |")
    pulls = [(r["free_energy_per_spin"] - r["exact"]["free_energy_per_spin"])
             / r["free_energy_per_spin_stderr"] for r in rows
             if r.get("exact") and r.get("free_energy_per_spin_stderr")]
    if pulls:
        lines += ["", f"Largest |F - exact| / error: {max(abs(p) for p in pulls):.1f}; "
                  f"smallest ESS fraction {min(r['ess_fraction'] for r in rows):.2f}."]
    return [*lines, "", "![thermo.png](thermo.png)"]


def _headline(report: dict, tc_exact: float, plan) -> list[str]:
    """The one-line headline T_c, or why there is none."""
    head = report.get("tc_headline") or {}
    if head.get("tc") is not None:
        test = ("" if head.get("p_value") is None else
                f" (chi2 = {head['chi2']:.1f} for {head['dof']} degrees of freedom, "
                f"p = {head['p_value']:.2g}: consistent)")
        return [f"**Headline: T_c = {head['tc']:.4f} +- {head['stderr']:.4f}** "
                f"({head['tc'] - tc_exact:+.4f} from Onsager's), the weighted mean of "
                f"{', '.join(head['methods'])}{test}."]
    return [f"**No headline T_c**: {head.get('note', 'no estimate to combine')}."]


def summary(report: dict, evaluations: list[dict], plan, timings: dict,
            heads: dict | None = None, thermo: dict | None = None,
            checked: dict | None = None) -> str:
    """The report folder's README.md: headline numbers and the figures.  ``checked``: the
    record of :func:`checks` when already made (as :func:`write_checks` returns it), so
    that the README and ``checks.json`` show one set of verdicts."""
    tc_exact = report.get("exact", {}).get("tc", 2.0 / math.log(1.0 + math.sqrt(2.0)))
    record = checks(report, thermo) if checked is None else checked
    lines = ["# isingvae run: report", "", *_checks_summary(record), *_scale(plan),
             f"Lattices L = {', '.join(map(str, plan.sizes))}; {len(plan.temperatures)} "
             f"temperatures from {min(plan.temperatures):g} to {max(plan.temperatures):g} "
             f"(J = k_B = 1); {plan.samples} Monte Carlo configurations per temperature in "
             f"{plan.chains} chains; the VAE ({plan.epochs} epochs; {_describe(plan)})"
             + (f" and, trained separately, a VAE with a VIB phase head "
                f"({(plan.head or {}).get('epochs', plan.epochs)} epochs)" if heads else "")
             + f"; wall time {timings['job_seconds']:.0f} s on this machine ("
             + f"{timings.get('machine', {}).get('cpu', 'unknown CPU')}, "
             + f"{timings.get('machine', {}).get('cores', '?')} cores)"
             + (f" (this call {timings['total_seconds']:.0f} s, reusing finished steps)"
                if any(t["reused"] for t in timings["steps"]) else "") + ".", "",
             "## Critical temperature", "", *_headline(report, tc_exact, plan), "",
             f"Onsager: T_c = {tc_exact:.5f}. Per lattice size and extrapolated by "
             f"finite-size scaling (L = inf). Per size, the error combines the resampling "
             f"of whole Markov chains with the spread of T_c(L) over the "
             f"{getattr(plan, 'ensemble', 1)} VAEs trained per size on the same data "
             f"(different training seeds); each fit gives its chi2/dof and p-value, a fit "
             f"with p < 0.05 is marked poor (its error is already scaled up by "
             f"sqrt(chi2/dof)), and an extrapolation's error includes the systematic of its "
             f"smallest size (how far T_c moves without it). The column 'on Monte Carlo m' "
             f"applies the same estimator to "
             f"the Monte Carlo magnetization instead of the latent order parameter: it shows "
             f"the estimator's own finite-size offset from T_c, which the latent estimate "
             f"shares only as far as the latent coordinate behaves like m. The exact "
             f"specific-heat maximum of each L x L torus (Kaufman) is an exact T_c(L): its "
             f"offset is the size of a finite-size shift at that L.", "",
             "| method | L | T_c | error | T_c - exact | fit chi2/dof (p) | "
             "same estimator on Monte Carlo m |",
             "|---|---|---|---|---|---|---|"]
    reference = {(e["method"], e["L"]): e
                 for e in report.get("tc_reference", {}).get("estimates", [])}
    for e in report.get("tc_estimates", []):
        size = "inf" if e["L"] is None else str(e["L"])
        ref = reference.get((e["method"].replace("latent-", "magnetization-", 1), e["L"]))
        ref_text = "" if ref is None or not e["method"].startswith("latent-") else \
            f"{_fmt(ref['tc'])} +- {_fmt(ref['stderr'])}"
        fit = ""
        if e["L"] is None and e.get("dof"):
            fit = (f"{e['chi2']:.1f}/{e['dof']} ({e['p_value']:.2g})"
                   + (" **poor**" if e.get("poor_fit") else ""))
        lines.append(f"| {e['method']} | {size} | {_fmt(e['tc'])} | {_fmt(e['stderr'])} | "
                     f"{e['tc'] - tc_exact:+.4f} | {fit} | {ref_text} |")
    for e in report.get("tc_reference", {}).get("exact_specific_heat_peak", []):
        lines.append(f"| exact specific-heat peak (Kaufman) | {e['L']} | {_fmt(e['tc'])} | "
                     f"exact | {e['tc'] - tc_exact:+.4f} | | |")
    corr = report.get("latent_magnetization_correlation", {})
    lines += ["", "## What the latent space learned", "",
              f"Largest |Pearson r| between a latent coordinate (or the latent norm) and the "
              f"magnetization m: **{_fmt(corr.get('m'), 3)}**; with |m|: "
              f"**{_fmt(corr.get('abs_m'), 3)}**."]
    if heads:
        away = next(iter(heads.values())).get("away_from_tc")
        lines += ["", "## Phase classifier (VIB head)", "",
                  "The VIB head predicts P(ordered | x), labels T < T_c taken from the "
                  "temperature column; scored on Markov chains not used in training.  Near "
                  "T_c the label belongs to the temperature, not to the configuration, so "
                  "the accuracy there stays well below 1.", "",
                  f"| L | accuracy | accuracy at abs(T - T_c) > {_fmt(away, 1)} | "
                  "held-out configurations |", "|---|---|---|---|"]
        lines += [f"| {L} | {_fmt(h.get('accuracy'), 3)} | "
                  f"{_fmt(h.get('accuracy_away_from_tc'), 3)} | {h.get('n')} |"
                  for L, h in heads.items()]
    lines += ["", "## Held-out likelihood against the exact entropy", "",
              "Negative log-likelihood per spin (importance-weighted, "
              f"K = {plan.iw_samples}) on Markov chains not used in training, against the "
              "exact entropy per spin of the finite torus (Kaufman), the floor no model "
              "can beat.", ""]
    for L, ev in zip(plan.sizes, evaluations, strict=True):
        ratios = [r["nll_over_entropy"] for r in ev["per_temperature"]
                  if r.get("nll_over_entropy") is not None]
        if ratios:
            lines.append(f"- L = {L}: NLL / exact entropy {np.mean(ratios):.3f} on average "
                         f"over the temperatures (from {min(ratios):.3f} to "
                         f"{max(ratios):.3f}; 1 would be a perfect model).")
    lines += ["", "| L | T | NLL / spin | error | exact entropy | ratio |",
              "|---|---|---|---|---|---|"]
    for L, ev in zip(plan.sizes, evaluations, strict=True):
        for r in ev["per_temperature"]:
            lines.append(f"| {L} | {r['temperature']:.3f} | {_fmt(r['nll_per_spin'])} | "
                         f"{_fmt(r['nll_stderr'])} | {_fmt(r.get('exact_entropy_per_spin'))} | "
                         f"{_fmt(r.get('nll_over_entropy'), 3)} |")
    lines += _generated_section(report)
    if thermo is not None:
        lines += _thermo_section(thermo)
    lines += ["", "## How the physics checks are judged", "",
              "Generated physics passes a check when it lies within the tolerance of its "
              "reference; statistical consistency alone does not pass it, since a small "
              "sample is consistent with almost anything. A warning shows its deviation "
              f"in combined standard errors: within {rules.NOISE_SIGMA:g} it may be noise "
              "that more configurations would resolve, beyond that it is a real miss. "
              f"T_c = {rules.TC:.5f} (Onsager) centres the windows.", "",
              "| check | reference | passes when |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rules.tolerance_rows()]
    lines += ["", "## Figures", ""]
    lines += [f"![{name}]({name})" for name in report.get("figures", [])]
    lines += ["", "## Steps", "", "| step | seconds | reused in this call |",
              "|---|---|---|"]
    lines += [f"| {t['step']} | {t['seconds_to_make']:.1f} | "
              f"{'yes' if t['reused'] else ''} |" for t in timings["steps"]]
    lines += ["", "Data files and run directories are in `work/`; `report.json` holds every "
              "number above and more.", ""]
    return "\n".join(lines)
