"""The README of ``isingvae run``'s report folder: the headline numbers, in words and
tables, with the figures (:func:`summary`).  Everything it shows is in ``report.json``,
``timings.json`` and the runs' ``evaluation.json``; this module only writes it out."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["summary"]


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
                  "(errors: standard errors, over Markov chains for Monte Carlo) and with the "
                  "exact finite torus (Kaufman).", "",
                  "| L | T | energy gen | MC | exact | abs(m) gen | MC | C/N gen | MC | exact "
                  "| chi/N gen | MC |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for run in conditional:
            for c in run["samples"]["comparisons"]:
                e, m = c["energy"], c["abs_m"]
                ch, xi = c.get("specific_heat", {}), c.get("susceptibility", {})
                lines.append(
                    f"| {run['L']} | {c['temperature']:.3f} | {_fmt(e['generated_mean'])} | "
                    f"{_fmt(e['monte_carlo_mean'])} | {_fmt(e.get('exact_mean'))} | "
                    f"{_fmt(m['generated_mean'], 3)} | {_fmt(m['monte_carlo_mean'], 3)} | "
                    f"{_fmt(ch.get('generated'), 3)} | {_fmt(ch.get('monte_carlo'), 3)} | "
                    f"{_fmt(ch.get('exact'), 3)} | {_fmt(xi.get('generated'), 2)} | "
                    f"{_fmt(xi.get('monte_carlo'), 2)} |")
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
             "weights (`isingvae thermo`, `isingvae sample --mcmc`).", "",
             "| T | F | error | exact | u | error | exact | C/N | exact | S | exact | ESS "
             "| acceptance |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ex = r.get("exact") or {}
        lines.append(
            f"| {r['temperature']:.3f} | {_fmt(r['free_energy_per_spin'], 5)} | "
            f"{_fmt(r['free_energy_per_spin_stderr'], 5)} | "
            f"{_fmt(ex.get('free_energy_per_spin'), 5)} | {_fmt(r['energy_per_spin'])} | "
            f"{_fmt(r['energy_per_spin_stderr'])} | {_fmt(ex.get('energy_per_spin'))} | "
            f"{_fmt(r['specific_heat'], 3)} | {_fmt(ex.get('specific_heat'), 3)} | "
            f"{_fmt(r['entropy_per_spin'])} | {_fmt(ex.get('entropy_per_spin'))} | "
            f"{r['ess_fraction']:.2f} | {r['mcmc']['acceptance']:.2f} |")
    pulls = [(r["free_energy_per_spin"] - r["exact"]["free_energy_per_spin"])
             / r["free_energy_per_spin_stderr"] for r in rows if r.get("exact")]
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
            heads: dict | None = None, thermo: dict | None = None) -> str:
    """The report folder's README.md: headline numbers and the figures."""
    tc_exact = report.get("exact", {}).get("tc", 2.0 / math.log(1.0 + math.sqrt(2.0)))
    lines = ["# isingvae run: report", "",
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
    lines += ["", "## Figures", ""]
    lines += [f"![{name}]({name})" for name in report.get("figures", [])]
    lines += ["", "## Steps", "", "| step | seconds | reused in this call |",
              "|---|---|---|"]
    lines += [f"| {t['step']} | {t['seconds_to_make']:.1f} | "
              f"{'yes' if t['reused'] else ''} |" for t in timings["steps"]]
    lines += ["", "Data files and run directories are in `work/`; `report.json` holds every "
              "number above and more.", ""]
    return "\n".join(lines)
