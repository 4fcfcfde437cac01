"""The ``tc_estimates`` list of ``report.json``: entries checked, merged, extrapolated.

Every T_c estimate is a dict ``{"method", "L", "tc", "stderr", ...}``
(``docs/interfaces.md`` §5): per lattice size, or ``L = null`` for a finite-size
scaling extrapolation, whose method name ends in ``-fss``.  Supervised estimates (method
names starting with ``vib`` or ``classifier``) enter through the same door as the
unsupervised ones, so each gets the same checks and its own ``-fss`` extrapolation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.stats.fss import extrapolate

__all__ = ["check_estimate", "merge_estimates"]


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
