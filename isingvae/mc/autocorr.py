r"""Autocorrelation times and error bars of Markov-chain averages.

All functions take time along axis 0; a second axis, when present, holds
independent chains of the same process (their autocorrelation functions are
averaged, as in emcee).

The integrated autocorrelation time is

.. math:: \tau_\mathrm{int} = 1 + 2 \sum_{t=1}^{\infty} \rho(t),

so that the variance of a mean of :math:`n` correlated samples is
:math:`\sigma^2 \tau_\mathrm{int} / n` (the convention where independent samples
have :math:`\tau_\mathrm{int} = 1`).  The sum is cut at the smallest window
:math:`M \ge c\,\hat\tau(M)` (automatic windowing, A. D. Sokal, "Monte Carlo
methods in statistical mechanics: foundations and new algorithms", in
*Functional Integration*, Springer 1997, pp. 131-192), with :math:`c = 5` by
default.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(20000, 4))
>>> bool(abs(integrated_time(x) - 1.0) < 0.1)
True
"""

from __future__ import annotations

import numpy as np

from isingvae import _validate as _v
from isingvae.errors import InputError
from isingvae.stats import resampling

__all__ = [
    "autocorrelation",
    "binned_error",
    "integrated_time",
    "jackknife",
    "mean_and_error",
]


def _as_series(x) -> np.ndarray:
    return _v.columns(x, "need a series of shape (n >= 2,) or (n >= 2, chains)")


def autocorrelation(x) -> np.ndarray:
    """Normalized autocorrelation function :math:`\\rho(t)`, ``t = 0 .. n-1`` (FFT, O(n log n)).

    For ``x`` of shape ``(n, chains)`` the autocovariances of the chains (each about
    its own mean) are averaged before normalizing.  A series with zero variance has
    :math:`\\rho = (1, 0, 0, ...)`.
    """
    x = _as_series(x)
    n = x.shape[0]
    y = x - x.mean(axis=0)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(y, n=size, axis=0)
    acov = np.fft.irfft(f * np.conj(f), n=size, axis=0)[:n].mean(axis=1)
    rho = np.zeros(n)
    if acov[0] > 0:
        rho = acov / acov[0]
    else:
        rho[0] = 1.0
    return rho


def integrated_time(x, c: float = 5.0) -> float:
    r"""Integrated autocorrelation time :math:`\tau_\mathrm{int}` with Sokal's windowing.

    Args:
        x: samples, shape ``(n,)`` or ``(n, chains)``, time along axis 0.
        c: window factor: the window is the smallest :math:`M` with
            :math:`M \ge c\,\hat\tau(M)`.

    Returns:
        :math:`\hat\tau_\mathrm{int} \ge` a small positive number, in units of the
        spacing of the samples.  When no window satisfies the rule (a series shorter
        than about :math:`c\,\tau`) the estimate at the largest window is returned;
        it is then a lower bound, and the caller should run longer.
    """
    rho = autocorrelation(x)
    taus = 2.0 * np.cumsum(rho) - 1.0
    windows = np.arange(len(taus))
    ok = windows >= c * taus
    m = int(np.argmax(ok)) if ok.any() else len(taus) - 1
    return float(max(taus[m], 1e-12))


def mean_and_error(x, tau: float | None = None) -> tuple[float, float]:
    """Mean over all samples and its standard error, :math:`\\sqrt{\\sigma^2 \\tau / n}`.

    ``x`` is ``(n,)`` or ``(n, chains)``; ``tau`` defaults to :func:`integrated_time`.
    """
    x = _as_series(x)
    if tau is None:
        tau = integrated_time(x)
    var = x.var(axis=0, ddof=1).mean()
    return float(x.mean()), float(np.sqrt(var * max(tau, 1.0) / x.size))


def binned_error(x, n_bins: int = 32) -> tuple[float, float]:
    """Mean and standard error from ``n_bins`` consecutive bins along time.

    Bins must be much longer than the autocorrelation time for the error to be
    reliable (with many chains, bins hold every chain's samples of that time span).
    """
    return jackknife(np.mean, x, n_blocks=n_bins)


def jackknife(func, *arrays, n_blocks: int = 32) -> tuple[float, float]:
    r"""Jackknife estimate and standard error of ``func(*arrays)``.

    The time axis (axis 0) of every array is cut into ``n_blocks`` consecutive
    blocks; ``func`` is evaluated on all data with one block left out,
    :math:`\hat f_{(b)}`, and

    .. math:: \sigma_f^2 = \frac{B - 1}{B} \sum_b (\hat f_{(b)} - \bar f)^2 ,

    which is valid for nonlinear ``func`` (specific heat, susceptibility, Binder
    cumulant) when blocks are longer than the autocorrelation time.  Returns
    ``(func(*arrays), stderr)``.  The blocks are the groups of the package's one
    jackknife, :func:`isingvae.stats.resampling.jackknife`.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise InputError("jackknife: all arrays need the same length along axis 0")
    if not 2 <= n_blocks <= n:
        raise InputError(f"jackknife: n_blocks must be in [2, {n}], got {n_blocks}")
    edges = np.linspace(0, n, n_blocks + 1).astype(int)
    blocks = np.repeat(np.arange(n_blocks), np.diff(edges))
    return resampling.jackknife(func, *arrays, groups=blocks)
