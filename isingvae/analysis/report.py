r"""``isingvae analyze``: latents, critical temperatures, generated samples and likelihoods.

:func:`analyze` takes trained runs paired with Monte Carlo files (one lattice size
each, :mod:`~isingvae.analysis.pairs`) and writes PNG figures and ``report.json`` into
one directory (``docs/interfaces.md`` §5).  It only assembles steps that each
live in their own module.  For each (run, data) pair it

1. :mod:`~isingvae.analysis.encode`: encodes every configuration of the file, and its
   spin-flipped copy when the field is zero (the Boltzmann weight is symmetric, so the
   copies are equally valid data and keep the latent order parameter from leaning
   toward whichever phase the chains happened to visit more), into posterior means;
2. :mod:`~isingvae.analysis.physics`: relates the latent coordinates to the physics:
   Pearson ``r`` of each coordinate and of the latent norm with ``m``, ``|m|``, the
   energy and ``T``, and binned mutual information (:mod:`isingvae.analysis.latent`);
3. :mod:`~isingvae.analysis.critical`: estimates :math:`T_c(L)` from the latent order
   parameter alone, with errors from a bootstrap over Markov chains
   (:mod:`isingvae.analysis.tc`);
4. :mod:`~isingvae.analysis.generated`: draws configurations from the model (``isingvae
   sample``, kept as ``samples_<tag>.h5``) and compares their energy, ``|m|`` and
   ``G(r)`` with Monte Carlo (:mod:`isingvae.analysis.samples`);
5. :mod:`~isingvae.analysis.nll`: reads the held-out NLL per spin from
   ``RUN_DIR/evaluation.json`` (when ``isingvae evaluate`` has run) and sets it against
   the exact entropy per spin.

Runs paired with the same data file form an ensemble: their estimates are combined per
method, the spread over the runs joining the chain bootstrap in the error bar
(:mod:`isingvae.stats.ensemble`), and only the first run of each ensemble generates
samples.  Across pairs it extrapolates every method seen at two or more lattice sizes
with finite-size scaling, each fit with its chi-square and p-value, and combines the
unsupervised extrapolations into one headline T_c when they agree
(:mod:`~isingvae.analysis.estimates`, :mod:`isingvae.stats.fss`).  Kaufman's exact
specific-heat maximum T_c(L) of every size is the reference line of the fits.

Supervised estimates plug in through ``estimators``: callables that receive a
:class:`PairContext` (run, model, data, latents) and return estimate dicts whose method
names start with ``vib`` or ``classifier``; they are checked, listed in
``tc_estimates`` and extrapolated like the others.  Ready-made dicts can be passed as
``extra_estimates``.  One estimator always runs: for a run with a phase classifier (an
information-bottleneck phase head, or M2) it adds where the classifier's mean output
crosses 1/2 (:mod:`isingvae.analysis.supervised`: ``vib-phase-crossing``,
``classifier-m2-crossing``), and so its ``-fss`` extrapolation across sizes.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from isingvae import _atomic, exact
from isingvae import _validate as _v
from isingvae._locks import exclusive
from isingvae._version import __version__
from isingvae.analysis import figures, physics, supervised
from isingvae.analysis.critical import critical_temperatures
from isingvae.analysis.encode import encode_pair
from isingvae.analysis.estimates import (
    check_estimate,
    extrapolate_estimates,
    headline,
    merge_estimates,
)
from isingvae.analysis.generated import generated_physics
from isingvae.analysis.nll import nll_table
from isingvae.analysis.pairs import Pair, PairContext, check_inputs
from isingvae.errors import InputError
from isingvae.stats.resampling import MAX_BOOTSTRAP

__all__ = ["REPORT", "analyze"]

REPORT = "report.json"
#: what the folder's analysis is of (runs, data, settings), written before anything else
MARKER = "analyze.json"


def _finite(x):
    """NaN and infinities become None, recursively (report.json is strict JSON)."""
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, np.ndarray):
        return _finite(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _progress(enabled: bool | None, total: int, desc: str, unit: str):
    from isingvae.progress import Progress

    on = sys.stderr.isatty() if enabled is None else bool(enabled)
    return Progress(total=total, desc=desc, unit=unit, enabled=on)


def _analyze_pair(pair: Pair, out: Path, settings: dict, encode_bar, step_bar,
                  estimators: Sequence[Callable]) -> dict:
    """Every step on one pair; returns its report entry and what the whole needs."""
    from isingvae.training import RunDir

    model, _ = RunDir(pair.run_dir).load()
    if int(model.L) != pair.L:
        raise InputError(f"the model in {pair.run_dir} is for L = {model.L}, the data "
                         f"{pair.data} for L = {pair.L}")
    ds = pair.dataset
    codes = encode_pair(model, ds, on_batch=encode_bar.update)
    lp = physics.latent_physics(codes, ds, settings["bootstrap"], settings["seed"])
    step_bar.update()
    crit = critical_temperatures(pair, model, codes, lp, settings, out, estimators)
    step_bar.update()
    sample_record, sample_figs, files = None, [], []
    if settings["samples"] > 0 and pair.member == 0:     # one ensemble member samples
        sample_record, sample_figs, files = generated_physics(pair, settings, out)
    step_bar.update()
    figs = []
    if pair.member == 0:          # further members of an ensemble: their T_c figure only
        figs = physics.latent_figures(pair, model, codes, lp, out, settings["seed"])
    if crit.figure is not None:
        figs.insert(3, crit.figure)
    figs += sample_figs
    step_bar.update()
    nll, nll_note = nll_table(pair)
    record = {"tag": pair.tag, "run_dir": str(pair.run_dir), "data": str(pair.data),
              "L": pair.L, "J": ds.J, "h": ds.h, "configurations": ds.n,
              "ensemble_member": pair.member,
              "temperatures": np.unique(ds.temperature).tolist(),
              **physics.record(lp, codes.symmetric),
              "per_temperature": lp.per_temperature, "tc": crit.record,
              "samples": sample_record, "nll": nll}
    if nll_note:
        record["nll_note"] = nll_note
    return {"record": record, "estimates": crit.estimates, "failures": crit.failures,
            "figures": figs, "reference_estimates": crit.reference_estimates,
            "files": files, "nll": (f"{pair.tag} ({pair.run_dir.name})", pair.L, nll)}


# ------------------------------------------------------------------ the whole analysis


def analyze(
    runs: Sequence[str | os.PathLike],
    data: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    samples: int = 2000,
    bootstrap: int = 200,
    seed: int = 0,
    progress: bool | None = None,
    estimators: Sequence[Callable[[PairContext], Iterable[dict]]] = (),
    extra_estimates: Iterable[dict] = (),
    force: bool = False,
) -> dict:
    """Analyze runs paired in order with Monte Carlo files; write figures and report.json.

    ``samples``: configurations generated per run for the sample physics (0: skip);
    ``bootstrap``: chain-bootstrap replicates per error bar (at most
    :data:`~isingvae.stats.resampling.MAX_BOOTSTRAP`); ``seed``: seed of the bootstrap
    and the sampling;
    ``progress``: progress lines on stderr (``None``: only on a terminal).
    ``estimators`` and ``extra_estimates`` add Tc estimates (module docstring).
    ``out`` must be new, empty, or hold the report of the same runs, data and settings;
    anything else is refused unless ``force``.  Returns the report (as written to
    ``OUT/report.json``).
    """
    samples = _v.count("--samples", samples, 0)
    bootstrap = _v.count("--bootstrap", bootstrap, 2, MAX_BOOTSTRAP)
    seed = _v.seed(seed)
    pairs = check_inputs(runs, data)
    for p in pairs:
        _v.fits_in_memory(f"--samples {samples} at L = {p.L}", samples * (p.L * p.L + 40))
    extra = [check_estimate(e) for e in extra_estimates]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory; choose another --out")
    settings = {"samples": samples, "bootstrap": bootstrap, "seed": seed}
    made_by = {"settings": settings,
               "pairs": [[str(p.run_dir.resolve()), str(p.data.resolve())] for p in pairs]}
    with exclusive(out):
        _claim(out, made_by, force)
        out.mkdir(parents=True, exist_ok=True)
        _atomic.write_json(out / MARKER, made_by)     # first: the folder says whose it is
        return _analyze(pairs, out, settings, made_by, progress,
                        [supervised.phase_crossing, *estimators], extra)


def _claim(out: Path, made_by: dict, force: bool) -> None:
    """Refuse a report folder that holds anything but this very analysis (as its
    :data:`MARKER` says), unless ``force``: a report of other runs or settings, or files
    analyze did not write."""
    if force or not out.is_dir() or not any(out.iterdir()):
        return
    try:
        prior = json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        raise InputError(f"{out} holds files that 'isingvae analyze' did not write; choose "
                         f"another --out, or pass --force to write there anyway") from None
    if prior != made_by:
        raise InputError(f"{out} holds the report of other runs or settings; choose another "
                         f"--out, or pass --force to replace it")


def _ensembles(pairs) -> list[dict]:
    """The runs that share each data file (an ensemble, combined in the estimates)."""
    groups: dict[str, dict] = {}
    for p in pairs:
        g = groups.setdefault(p.ensemble, {"data": str(p.data), "L": p.L, "runs": []})
        g["runs"].append(str(p.run_dir))
    return list(groups.values())


def _exact_peaks(pairs) -> list[dict]:
    """Kaufman's specific-heat maximum T_c(L) of every size analysed at zero field."""
    sizes = sorted({(p.L, p.dataset.J) for p in pairs if p.dataset.h == 0})
    return [{"L": L, "J": J, "tc": exact.specific_heat_peak(L, J)} for L, J in sizes]


def _analyze(pairs, out, settings, made_by, progress, estimators, extra) -> dict:
    total = sum(p.dataset.n * ((2 if p.dataset.h == 0 else 1)     # conditioned: one more
                               + (1 if p.config.get("conditioning") else 0)) for p in pairs)
    encode_bar = _progress(progress, total, "analyze: encode", "configs")
    step_bar = _progress(progress, 4 * len(pairs) + 1, "analyze", "steps")
    results = []
    for pair in pairs:
        results.append(_analyze_pair(pair, out, settings, encode_bar, step_bar, estimators))
    encode_bar.close()

    per_size = [e for r in results for e in r["estimates"]]
    tc_estimates, fits = merge_estimates(per_size, extra)
    ensembles = _ensembles(pairs)
    exact_peaks = _exact_peaks(pairs)
    figs = [f for r in results for f in r["figures"]]
    tables = [r["nll"] for r in results if r["nll"][2]]
    if tables:
        figs.append(figures.nll_entropy(out / "nll_entropy.png", tables))
    sized = [e for e in tc_estimates if e["L"] is not None]
    ref_sized = [e for r in results for e in r["reference_estimates"]]
    ref_fss, ref_fits = extrapolate_estimates(ref_sized, free_nu=False)
    curves = [e for e in sized if e.get("curve")]
    if curves:
        figs.append(figures.classifier_curves(out / "classifier.png", curves))
    if fits:
        figs.append(figures.fss_plot(out / "fss.png", sized, fits, (ref_sized, ref_fits),
                                     exact_peaks))
    records = [r["record"] for r in results]
    report = {
        "package_version": __version__,
        "exact": {"tc": exact.critical_temperature(), "nu": 1.0},
        "settings": settings,
        "made_by": made_by,
        "pairs": [{"run_dir": str(p.run_dir), "data": str(p.data), "L": p.L, "tag": p.tag}
                  for p in pairs],
        "tc_estimates": tc_estimates,
        "tc_headline": headline(tc_estimates),
        "tc_failures": [f for r in results for f in r["failures"]],
        "fss": fits,
        "ensembles": ensembles,
        "tc_reference": {
            "note": "the same estimators applied to the Monte Carlo magnetization m instead "
                    "of the latent order parameter: how far each estimator's own finite-size "
                    "behaviour, not the model, puts Tc(L) from the exact value",
            "estimates": [*ref_sized, *ref_fss], "fss": ref_fits,
            "exact_specific_heat_peak": exact_peaks,
            "exact_note": "temperature of the maximum of the exact specific heat of the L x L "
                          "torus (Kaufman): an exact pseudo-critical Tc(L), whose offset "
                          "from Tc is the size of a finite-size shift at that L"},
        "latent_magnetization_correlation": {
            "m": max(r["latent_magnetization_correlation"]["m"] for r in records),
            "abs_m": max(r["latent_magnetization_correlation"]["abs_m"] for r in records)},
        "runs": records,
        "figures": figs,
        "files": [f for r in results for f in r["files"]],
        "notes": {
            "latent_magnetization_correlation": "largest |Pearson r| between a latent "
            "coordinate (posterior mean) or the latent norm and m, |m|; over all runs "
            "(each run's own value is under runs[i])",
            "tc_estimates": "per size, stderr combines stderr_chains (the standard "
            "deviation over bootstrap replicates that resample whole Markov chains per "
            "temperature, root mean square over the ensemble's members, which share the "
            "data) and stderr_model (model_spread / sqrt(ensemble): the standard deviation "
            "of one model's estimate, from runs trained on the same data, pooled over the "
            "sizes) in quadrature; with one run per size the model part is unknown and left "
            "out. replicates and failed_replicates: the chain-bootstrap replicates behind "
            "an estimate and those that found no peak or crossing (left out of its spread; "
            "summed over an ensemble's members and over the sizes of an -fss fit), "
            "replicates_flag when more than 5 % of them failed (in any estimate "
            "combined). -fss: weighted fit of Tc(L) = Tc + a/L (nu = 1) with chi2, dof and "
            "p_value; errors scaled by sqrt(chi2/dof) when above 1 (PDG), poor_fit when "
            "p < 0.05; stderr adds to the fit's error (stderr_fit) the systematic of the "
            "smallest size (stderr_systematic: the shift of Tc when the fit drops it, beyond "
            "what the fits' statistics explain); with four or more sizes also "
            "-free-nu-fss and -corrections-fss (+ b/L^2)",
            "tc_headline": "inverse-variance weighted mean of the -fss estimates of "
            "latent-susceptibility, latent-binder and latent-clustering when their chi2 of "
            "consistency has p >= 0.05, with the weighted mean of their errors (they share "
            "data and models); otherwise tc is null and the note says by how much they "
            "disagree",
        },
    }
    _atomic.write_json(out / REPORT, _finite(report), allow_nan=False)
    step_bar.update()
    step_bar.close()
    return _finite(report)
