"""Step of ``isingvae analyze``: the held-out NLL of a run against the exact entropy.

Reads the run's ``evaluation.json`` (written by ``isingvae evaluate``) and fills in the
exact entropy per spin of the finite torus (Kaufman) where it is missing, with the gap
``NLL - S`` and the ratio ``NLL / S`` (1 for a perfect model).
"""

from __future__ import annotations

from isingvae import exact

__all__ = ["nll_table"]


def nll_table(pair) -> tuple[list[dict] | None, str | None]:
    """Rows of the run's evaluation with the exact entropy per spin, or ``(None, why)``."""
    from isingvae.training import RunDir

    run = RunDir(pair.run_dir)
    ev = run.evaluation()
    if ev is None:
        return None, (f"no current evaluation.json in {pair.run_dir}; run 'isingvae "
                      f"evaluate {pair.run_dir}' for the held-out NLL")
    try:
        rows = list(ev["per_temperature"])
        parsed = [(float(r["temperature"]), r) for r in rows]
    except (KeyError, TypeError, ValueError):
        return None, f"{run.path / 'evaluation.json'} is unreadable"
    ds = pair.dataset
    out = []
    for t, r in parsed:
        row = {"temperature": t, "n": r.get("n"), "nll_per_spin": float(r["nll_per_spin"]),
               "nll_stderr": r.get("nll_stderr")}
        s = r.get("exact_entropy_per_spin")
        if s is None and (ex := exact.reference(pair.L, t, ds.J, ds.h)) is not None:
            s = float(ex.entropy)
        row["exact_entropy_per_spin"] = s
        if s is not None:
            row["gap_per_spin"] = row["nll_per_spin"] - s
            row["nll_over_entropy"] = row["nll_per_spin"] / s if s > 0 else None
        out.append(row)
    return out, None
