r"""``isingvae analyze``: latents, critical temperatures, generated samples and likelihoods.

:func:`analyze` takes trained runs paired with Monte Carlo files (one lattice size
each) and writes PNG figures and ``report.json`` into one directory (CONTRACTS
section 5).  For each (run, data) pair it

1. encodes every configuration of the file, and its spin-flipped copy when the field
   is zero (the Boltzmann weight is symmetric, so the copies are equally valid data
   and keep the latent order parameter from leaning toward whichever phase the chains
   happened to visit more), into posterior means;
2. relates the latent coordinates to the physics: Pearson ``r`` of each coordinate and
   of the latent norm with ``m``, ``|m|``, the energy and ``T``, and binned mutual
   information (:mod:`isingvae.analysis.latent`);
3. estimates :math:`T_c(L)` from the latent order parameter alone, with errors from a
   bootstrap over Markov chains (:mod:`isingvae.analysis.tc`);
4. draws configurations from the model (``isingvae sample``, kept as
   ``samples_<tag>.h5``) and compares their energy, ``|m|`` and ``G(r)`` with Monte
   Carlo (:mod:`isingvae.analysis.samples`);
5. reads the held-out NLL per spin from ``RUN_DIR/evaluation.json`` (when
   ``isingvae evaluate`` has run) and sets it against the exact entropy per spin.

Across pairs it extrapolates every method seen at two or more lattice sizes with
finite-size scaling (:mod:`isingvae.analysis.fss`).

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isingvae import _validate as _v
from isingvae import exact
from isingvae._version import __version__
from isingvae.analysis import figures, latent, supervised
from isingvae.analysis.bootstrap import chain_mean
from isingvae.analysis.fss import extrapolate
from isingvae.analysis.samples import compare_samples
from isingvae.analysis.tc import BINDER_LEVEL, ORDERED_LEVEL, estimate_tc
from isingvae.errors import InputError
from isingvae._atomic import write_text

__all__ = ["REPORT", "Pair", "PairContext", "analyze", "check_estimate", "check_inputs",
           "merge_estimates"]

REPORT = "report.json"
_SUPERVISED_PREFIXES = ("vib", "classifier")


@dataclass
class Pair:
    """One (run, data) pair, checked: ``config`` is the run's ``config.json``."""

    index: int
    run_dir: Path
    data: Path
    config: dict
    dataset: object
    L: int
    tag: str


@dataclass
class PairContext:
    """What an extra estimator sees of one pair (arrays over the file's rows, in order).

    ``mean``/``log_var``: posterior parameters ``(n, d)``; ``zeta``: the latent order
    parameter of each row; ``model``: the loaded Keras model.
    """

    pair: Pair
    model: object
    dataset: object
    mean: np.ndarray
    log_var: np.ndarray
    zeta: np.ndarray
    settings: dict = field(default_factory=dict)


# ------------------------------------------------------------------ input checks


def check_inputs(runs: Sequence, data: Sequence | None) -> list[Pair]:
    """Pair runs with data files in order and check them, without TensorFlow.

    Raises :class:`InputError` (one line) for unequal counts, a missing run or file, a
    file that is not Monte Carlo data, or a file whose L differs from the run's.
    """
    from isingvae.analysis.encode import run_settings
    from isingvae.data import IsingDataset

    runs = [Path(r) for r in runs]
    if not runs:
        raise InputError("give at least one run directory")
    if not data:
        raise InputError("--data is required: one HDF5 file per run directory, in the same "
                         "order")
    data = [Path(d) for d in data]
    if len(runs) != len(data):
        raise InputError(f"{len(runs)} run director{'y' if len(runs) == 1 else 'ies'} but "
                         f"{len(data)} data file(s); they pair up in order, so give as many "
                         f"of each")
    pairs = []
    for i, (run, path) in enumerate(zip(runs, data, strict=True)):
        config = run_settings(run)
        ds = IsingDataset(path)
        L_run = int(config["data"]["L"])
        if ds.L != L_run:
            raise InputError(f"{path} holds L = {ds.L} lattices, but {run} was trained on "
                             f"L = {L_run}; pair each run with data of its own size")
        if ds.n == 0:
            raise InputError(f"{path} holds no configurations")
        if np.isnan(ds.temperature).any():
            raise InputError(f"{path} has configurations of unknown temperature (a file "
                             f"written by 'isingvae sample'?); analyze needs Monte Carlo data")
        pairs.append(Pair(i, run, path, config, ds, ds.L, ""))
    sizes = [p.L for p in pairs]
    for p in pairs:
        p.tag = f"L{p.L}" if sizes.count(p.L) == 1 else f"run{p.index}_L{p.L}"
    return pairs


def check_estimate(e: dict) -> dict:
    """A ``tc_estimates`` entry, checked: ``method`` (str), ``L`` (int, or ``None`` for a
    ``-fss`` extrapolation), finite ``tc`` and ``stderr``; returned as plain types."""
    try:
        method = str(e["method"])
        tc, stderr = float(e["tc"]), float(e["stderr"])
        L = e["L"]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"a Tc estimate needs method, L, tc and stderr, got {e!r}") from None
    if not (math.isfinite(tc) and math.isfinite(stderr) and stderr >= 0):
        raise InputError(f"Tc estimate {method}: tc and stderr must be finite, got {tc}, "
                         f"{stderr}")
    if method.endswith("-fss"):
        if L is not None:
            raise InputError(f"Tc estimate {method}: an -fss extrapolation has L = null")
    else:
        L = _v.count(f"L of Tc estimate {method}", L, 1)
    out = dict(e)
    out.update(method=method, L=L, tc=tc, stderr=stderr)
    return out


def merge_estimates(per_size: Iterable[dict], extra: Iterable[dict] = ()
                    ) -> tuple[list[dict], dict]:
    """Per-size estimates (unsupervised and extra), then their finite-size-scaling
    extrapolations: ``(tc_estimates, fits)``.  This is the extension point for
    supervised estimates: pass their per-size dicts as ``extra``."""
    rows = [check_estimate(e) for e in [*per_size, *extra]]
    sized = [e for e in rows if e["L"] is not None]
    fss_rows, fits = extrapolate(sized)
    have = {e["method"] for e in fss_rows}
    given_fss = [e for e in rows if e["L"] is None and e["method"] not in have]
    return [*sized, *fss_rows, *given_fss], fits


# ------------------------------------------------------------------ helpers


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


def _write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(_finite(obj), indent=2, allow_nan=False) + "\n")


def _best(table: dict, key: str, names) -> tuple[float, str]:
    best, which = 0.0, ""
    for name in names:
        r = abs(table[name][key])
        if r >= best:
            best, which = r, name
    return best, which


def _nll_table(pair: Pair) -> tuple[list[dict] | None, str | None]:
    """Rows of ``RUN_DIR/evaluation.json`` with the exact entropy per spin filled in."""
    path = pair.run_dir / "evaluation.json"
    if not path.is_file():
        return None, (f"no {path.name} in {pair.run_dir}; run 'isingvae evaluate "
                      f"{pair.run_dir}' for the held-out NLL")
    try:
        ev = json.loads(path.read_text())
        rows = list(ev["per_temperature"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, f"{path} is unreadable"
    ds = pair.dataset
    out = []
    for r in rows:
        t = float(r["temperature"])
        row = {"temperature": t, "n": r.get("n"), "nll_per_spin": float(r["nll_per_spin"]),
               "nll_stderr": r.get("nll_stderr")}
        s = r.get("exact_entropy_per_spin")
        if s is None and ds.J > 0 and ds.h == 0:
            s = float(exact.finite_lattice(pair.L, t, J=ds.J).entropy)
        row["exact_entropy_per_spin"] = s
        if s is not None:
            row["gap_per_spin"] = row["nll_per_spin"] - s
            row["nll_over_entropy"] = row["nll_per_spin"] / s if s > 0 else None
        out.append(row)
    return out, None


def _reference_rows(pair: Pair):
    """The Monte Carlo rows a model's samples are compared with: the temperatures it was
    trained on (all of the file's when it trained on all or on another file)."""
    temps = (pair.config.get("settings") or {}).get("temperatures")
    ds = pair.dataset
    if temps:
        try:
            return ds.select(temperature=list(temps)), None
        except InputError:
            return ds, ("the run trained on temperatures not all in this file; its samples "
                        "are compared with every temperature of the file")
    return ds, None


def _progress(enabled: bool | None, total: int, desc: str, unit: str):
    from isingvae.progress import Progress

    on = sys.stderr.isatty() if enabled is None else bool(enabled)
    return Progress(total=total, desc=desc, unit=unit, enabled=on)


# ------------------------------------------------------------------ one pair


def _analyze_pair(pair: Pair, out: Path, settings: dict, encode_bar, step_bar,
                  estimators: Sequence[Callable]) -> dict:
    from isingvae.analysis.encode import encode, reconstruct
    from isingvae.runs import load_run

    seed, boot = settings["seed"], settings["bootstrap"]
    model, _ = load_run(pair.run_dir)
    if int(model.L) != pair.L:
        raise InputError(f"the model in {pair.run_dir} is for L = {model.L}, the data "
                         f"{pair.data} for L = {pair.L}")
    ds = pair.dataset
    n = ds.n
    x = ds.x
    mean, log_var = encode(model, x, on_batch=encode_bar.update)
    symmetric = ds.h == 0
    if symmetric:
        mean_flip, log_var_flip = encode(model, 1.0 - x, on_batch=encode_bar.update)
        both = np.concatenate([mean, mean_flip])
        both_lv = np.concatenate([log_var, log_var_flip])
    else:
        both, both_lv = mean, log_var
    del x
    copies = 2 if symmetric else 1
    T, chain = ds.temperature, ds.chain
    m, e = ds.magnetization, ds.energy
    dims = latent.active_dimensions(both)
    op = latent.order_parameter(both, dims, log_var=both_lv)
    zeta_all = op.zeta
    zeta = zeta_all[:n]
    T2, chain2 = np.tile(T, copies), np.tile(chain, copies)
    step_bar.update()

    # latent against physics
    physics = {"m": m, "abs_m": np.abs(m), "energy": e, "temperature": T}
    corr = latent.correlation_table(mean, physics)
    names = [*[f"z{j}" for j in range(mean.shape[1])], "norm"]
    r_m, best_m = _best(corr, "m", names)
    r_abs, best_abs = _best(corr, "abs_m", names)
    order_vars = {"zeta": zeta, "abs_zeta": np.abs(zeta)}
    for name, v in order_vars.items():
        corr[name] = {k: latent.pearson(v, col) for k, col in physics.items()}
    mi = latent.mutual_information_table(mean, physics, dims=dims)
    for name, v in order_vars.items():
        mi[name] = {k: latent.mutual_information(v, col) for k, col in physics.items()}
    var = mean.var(axis=0)
    resolution = np.sqrt(np.exp(both_lv).mean(axis=0))          # RMS posterior s.d.
    kl_dim = 0.5 * (np.exp(log_var) + mean**2 - 1.0 - log_var).mean(axis=0)

    # per-temperature statistics of the latents and of the data
    norm = np.linalg.norm(mean, axis=1)
    per_t = []
    for temp in np.unique(T):
        rows = T == temp
        rows2 = np.tile(rows, copies)
        am = np.abs(m[rows])
        mc_abs, mc_abs_err = chain_mean(am, T[rows], chain[rows], boot, seed)
        per_t.append({"temperature": float(temp), "n": int(rows.sum()),
                      "chains": int(np.unique(chain[rows]).size),
                      "abs_zeta_mean": float(np.abs(zeta_all[rows2]).mean()),
                      "abs_zeta_std": float(np.abs(zeta_all[rows2]).std()),
                      "norm_mean": float(norm[rows].mean()), "norm_std": float(norm[rows].std()),
                      "mc_abs_m": mc_abs, "mc_abs_m_stderr": mc_abs_err,
                      "mc_energy": float(e[rows].mean()),
                      "onsager_m": float(exact.onsager_magnetization(float(temp)))})

    # critical temperature from the latents alone
    record_tc, estimates, failures = None, [], []
    analysis = None
    try:
        analysis = estimate_tc(zeta_all, T2, chain2, L=pair.L, replicates=boot, seed=seed)
    except InputError as exc:
        failures.append({"method": "latent-*", "L": pair.L, "reason": str(exc)})
    reference = None
    reference_estimates = []
    if analysis is not None:
        m_all = np.concatenate([m, -m]) if symmetric else m
        reference = estimate_tc(m_all, T2, chain2, L=pair.L, replicates=boot, seed=seed)
        for est in reference.estimates:
            reference_estimates.append(
                {**est, "method": est["method"].replace("latent-", "magnetization-", 1)})
        estimates += analysis.estimates
        failures += analysis.failures
        record_tc = analysis.to_json()
        for row, curve_row in zip(per_t, record_tc.pop("per_temperature"), strict=True):
            row.update({k: v for k, v in curve_row.items() if k not in row})
    ctx = PairContext(pair, model, ds, mean, log_var, zeta, settings)
    for fn in estimators:
        estimates += [check_estimate(est) for est in fn(ctx)]
    step_bar.update()

    # generated samples against Monte Carlo
    sample_record, sample_figs, files = None, [], []
    if settings["samples"] > 0:
        from isingvae.data import IsingDataset
        from isingvae.runs import sample

        path = sample(pair.run_dir, settings["samples"], out / f"samples_{pair.tag}.h5",
                      seed=seed)
        files.append(path.name)
        gen = IsingDataset(path)
        ref, note = _reference_rows(pair)
        cols = ("spins", "temperature", "energy", "magnetization", "chain")
        comparison = compare_samples(gen.arrays(cols), ref.arrays(cols), replicates=boot,
                                     seed=seed)
        exact_e = None
        if ds.h == 0 and ds.J > 0:
            temps, counts = np.unique(ref.temperature, return_counts=True)
            energies = np.atleast_1d(exact.finite_lattice(pair.L, temps, J=ds.J).energy)
            exact_e = float(np.sum(energies * counts) / counts.sum())
            comparison[0]["energy"]["exact_mean"] = exact_e
        sample_record = {"file": path.name, "n": settings["samples"], "seed": seed,
                         "comparisons": comparison}
        if note:
            sample_record["note"] = note
        sample_figs = [
            figures.sample_grid(out / f"samples_{pair.tag}.png", gen.spins, pair.L),
            figures.sample_physics(out / f"sample_physics_{pair.tag}.png",
                                   {"energy": gen.energy, "magnetization": gen.magnetization},
                                   {"energy": ref.energy, "magnetization": ref.magnetization},
                                   comparison[0], pair.L, exact_energy=exact_e)]
    step_bar.update()

    # figures of the latents
    figs = []
    pcs = latent.principal_components(mean / resolution, dims if dims.size >= 2 else
                                      np.argsort(var)[::-1][:2])
    figs.append(figures.latent_scatter(out / f"latent_scatter_{pair.tag}.png", pcs, T, m,
                                       pair.L, seed=seed))
    shown = dims[np.argsort((var / resolution**2)[dims])[::-1]][:11]   # best resolved first
    panels = {f"z{j}": (mean[:, j], corr[f"z{j}"]["m"]) for j in shown}
    panels["|z| (norm)"] = (norm, corr["norm"]["m"])
    panels[r"$\zeta$ (order parameter)"] = (zeta, corr["zeta"]["m"])
    figs.append(figures.latent_vs_magnetization(out / f"latent_vs_m_{pair.tag}.png", panels,
                                                m, pair.L, seed=seed))
    figs.append(figures.order_parameter_vs_temperature(
        out / f"order_parameter_{pair.tag}.png",
        [{"abs_zeta_mean": r["abs_zeta_mean"], "abs_zeta_std": r["abs_zeta_std"],
          "norm_mean": r["norm_mean"], "norm_std": r["norm_std"], "mc_abs_m": r["mc_abs_m"],
          "mc_abs_m_stderr": r["mc_abs_m_stderr"], "temperature": r["temperature"]}
         for r in per_t], pair.L))
    if analysis is not None:
        figs.append(figures.tc_curves(out / f"tc_{pair.tag}.png", analysis, pair.L,
                                      {"binder": BINDER_LEVEL,
                                       "ordered_fraction": ORDERED_LEVEL}, reference))
    temps = np.unique(T)
    pick = sorted({0, int(np.argmin(np.abs(temps - figures.TC))), temps.size - 1})
    rng = np.random.default_rng(seed)
    rows = [int(rng.choice(np.flatnonzero(T == temps[i]))) for i in pick]
    probs, recon = reconstruct(model, mean[rows], seed=seed)
    figs.append(figures.reconstructions(out / f"reconstructions_{pair.tag}.png",
                                        ds.spins[rows], probs, recon, temps[pick], pair.L))
    figs += sample_figs
    step_bar.update()

    nll, nll_note = _nll_table(pair)
    record = {
        "tag": pair.tag, "run_dir": str(pair.run_dir), "data": str(pair.data), "L": pair.L,
        "J": ds.J, "h": ds.h, "configurations": n, "temperatures": temps.tolist(),
        "latent_dim": int(mean.shape[1]),
        "active_dims": dims.tolist(),
        "latent_variance": var.tolist(),
        "posterior_sd_rms": resolution.tolist(),
        "kl_per_dim_nats": kl_dim.tolist(),
        "kl_per_dim_note": "KL of the diagonal Gaussian posterior (the flow's base, for a "
                           "flow posterior) to N(0, 1), per coordinate, averaged over the "
                           "file; indicative only for flow, learned or hierarchical priors",
        "order_parameter": {
            "definition": "posterior means (of each configuration and, at h = 0, its "
                          "spin-flipped copy), each coordinate divided by its RMS posterior "
                          "standard deviation, projected on the first principal axis of the "
                          "active coordinates; centred, unit variance",
            "dims": op.dims.tolist(), "axis": op.axis.tolist(), "unit": op.unit.tolist(),
            "explained_variance": op.explained, "symmetrized": bool(symmetric)},
        "latent_magnetization_correlation": {"m": r_m, "abs_m": r_abs, "m_best": best_m,
                                             "abs_m_best": best_abs},
        "correlations": corr,
        "mutual_information_nats": mi,
        "per_temperature": per_t,
        "tc": record_tc,
        "samples": sample_record,
        "nll": nll,
    }
    if nll_note:
        record["nll_note"] = nll_note
    return {"record": record, "estimates": estimates, "failures": failures, "figures": figs,
            "reference_estimates": reference_estimates,
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
) -> dict:
    """Analyze runs paired in order with Monte Carlo files; write figures and report.json.

    ``samples``: configurations generated per run for the sample physics (0: skip);
    ``bootstrap``: chain-bootstrap replicates per error bar; ``seed``: seed of the
    bootstrap and the sampling; ``progress``: progress lines on stderr (``None``: only
    on a terminal).  ``estimators`` and ``extra_estimates`` add Tc estimates (module
    docstring).  Returns the report (as written to ``OUT/report.json``).
    """
    samples = _v.count("--samples", samples, 0)
    bootstrap = _v.count("--bootstrap", bootstrap, 2)
    seed = _v.seed(seed)
    pairs = check_inputs(runs, data)
    extra = [check_estimate(e) for e in extra_estimates]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    settings = {"samples": samples, "bootstrap": bootstrap, "seed": seed}
    estimators = [supervised.phase_crossing, *estimators]

    total = sum(p.dataset.n * (2 if p.dataset.h == 0 else 1) for p in pairs)
    encode_bar = _progress(progress, total, "analyze: encode", "configs")
    step_bar = _progress(progress, 4 * len(pairs) + 1, "analyze", "steps")
    results = []
    for pair in pairs:
        results.append(_analyze_pair(pair, out, settings, encode_bar, step_bar, estimators))
    encode_bar.close()

    per_size = [e for r in results for e in r["estimates"]]
    tc_estimates, fits = merge_estimates(per_size, extra)
    figs = [f for r in results for f in r["figures"]]
    tables = [r["nll"] for r in results if r["nll"][2]]
    if tables:
        figs.append(figures.nll_entropy(out / "nll_entropy.png", tables))
    sized = [e for e in tc_estimates if e["L"] is not None]
    ref_sized = [e for r in results for e in r["reference_estimates"]]
    ref_fss, ref_fits = extrapolate(ref_sized, free_nu=False)
    curves = [e for e in sized if e.get("curve")]
    if curves:
        figs.append(figures.classifier_curves(out / "classifier.png", curves))
    if fits:
        figs.append(figures.fss_plot(out / "fss.png", sized, fits, (ref_sized, ref_fits)))
    records = [r["record"] for r in results]
    report = {
        "package_version": __version__,
        "exact": {"tc": exact.critical_temperature(), "nu": 1.0},
        "settings": settings,
        "pairs": [{"run_dir": str(p.run_dir), "data": str(p.data), "L": p.L, "tag": p.tag}
                  for p in pairs],
        "tc_estimates": tc_estimates,
        "tc_failures": [f for r in results for f in r["failures"]],
        "fss": fits,
        "tc_reference": {
            "note": "the same estimators applied to the Monte Carlo magnetization m instead "
                    "of the latent order parameter: how far each estimator's own finite-size "
                    "behaviour, not the model, puts Tc(L) from the exact value",
            "estimates": [*ref_sized, *ref_fss], "fss": ref_fits},
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
            "tc_estimates": "stderr: standard deviation over bootstrap replicates that "
            "resample whole Markov chains per temperature; -fss: weighted fit of "
            "Tc(L) = Tc + a/L (nu = 1), errors scaled by sqrt(chi2/dof) when above 1",
        },
    }
    _write_json(out / REPORT, report)
    step_bar.update()
    step_bar.close()
    return _finite(report)
