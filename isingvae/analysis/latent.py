r"""What the latent space knows about the physics: correlations, information, order parameter.

Everything here works on plain numpy arrays of posterior means ``mu`` (shape
``(n, d)``, one row per configuration, :meth:`isingvae.models.VAE.encode`) and the
configurations' physical columns; no TensorFlow.

- :func:`active_dimensions`: the latent coordinates the encoder uses.  A coordinate is
  *active* when its posterior mean varies across the data,
  :math:`\mathrm{Var}_x\,\mathbb E_q[z_j] > 0.01` (Burda, Grosse and Salakhutdinov 2016);
  a collapsed coordinate sits at the prior whatever the input.
- :func:`order_parameter`: the latent order parameter :math:`\zeta`, the projection of
  the active posterior means (in units of the encoder's posterior standard deviation)
  on their first principal axis, centred and scaled to unit variance.  On Ising data
  the direction of largest spread is the one that separates the two ordered phases (up
  and down), so :math:`\zeta` plays the part of ``m``.
- :func:`pearson` and :func:`correlation_table`: Pearson's ``r`` of every coordinate (and
  of the latent norm) with ``m``, ``|m|``, the energy and the temperature.
- :func:`mutual_information`: a binned estimate of the mutual information in nats, with
  the Miller-Madow bias correction.

>>> rng = np.random.default_rng(0)
>>> m = rng.uniform(-1, 1, 500)
>>> mu = np.stack([3 * m + 0.01 * rng.normal(size=500), rng.normal(size=500) * 0.01], 1)
>>> active_dimensions(mu).tolist()
[0]
>>> round(abs(pearson(order_parameter(mu).zeta, m)), 3)
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from isingvae import _validate as _v
from isingvae.errors import InputError

__all__ = [
    "ACTIVE_VARIANCE",
    "OrderParameter",
    "active_dimensions",
    "correlation_table",
    "mutual_information",
    "mutual_information_table",
    "order_parameter",
    "pearson",
    "principal_components",
]

#: variance of a posterior-mean coordinate across the data above which it counts as active
ACTIVE_VARIANCE = 0.01


def _matrix(mu) -> np.ndarray:
    return _v.columns(mu, "latent means must have shape (n >= 2, d)")


def active_dimensions(mu, threshold: float = ACTIVE_VARIANCE) -> np.ndarray:
    """Indices of the coordinates whose posterior mean varies by more than ``threshold``.

    When none does (an untrained or collapsed encoder), the single coordinate of largest
    variance is returned, so that downstream statistics always have something to use.
    """
    a = _matrix(mu)
    var = a.var(axis=0)
    idx = np.flatnonzero(var > threshold)
    return idx if idx.size else np.array([int(np.argmax(var))])


@dataclass(frozen=True)
class OrderParameter:
    """The latent order parameter ``zeta`` and how it was made from the posterior means.

    ``zeta = ((mu[:, dims] / unit) - center) @ axis / scale``: ``unit`` is the encoder's
    resolution of each coordinate (its RMS posterior standard deviation, or 1);
    ``explained`` is the fraction of the scaled coordinates' variance along ``axis``.
    """

    zeta: np.ndarray
    dims: np.ndarray
    unit: np.ndarray
    center: np.ndarray
    axis: np.ndarray
    scale: float
    explained: float

    def project(self, mu) -> np.ndarray:
        """``zeta`` of other posterior means, with the same units, centre, axis and scale."""
        a = _matrix(mu)[:, self.dims] / self.unit
        return (a - self.center) @ self.axis / self.scale


def order_parameter(mu, dims=None, log_var=None) -> OrderParameter:
    r"""Leading principal component of the active posterior means, centred, unit variance.

    Each coordinate is first measured in units of the encoder's own resolution, the
    RMS posterior standard deviation :math:`\bar s_j = \langle e^{\log\sigma_j^2}
    \rangle^{1/2}` over the data (when ``log_var`` is given): a coordinate the encoder
    pins down to :math:`\pm 0.1` while it varies by :math:`\pm 1` across the data
    carries more information than one it leaves uncertain to :math:`\pm 0.5`.  Then

    .. math:: \zeta_i = \frac{(u_i - \bar u) \cdot v_1}{\mathrm{std}((u - \bar u) \cdot
        v_1)}, \qquad u_{ij} = \mu_{ij} / \bar s_j,

    with :math:`v_1` the leading eigenvector of the covariance of :math:`u` over the
    active coordinates.  Without the scaling, the many coordinates with which a VAE
    describes the details of disordered configurations (each of variance near 1, but
    poorly resolved) leak into :math:`v_1` and blur :math:`\zeta`.

    The sign is fixed so that the coordinate with the largest loading enters
    positively (the physics is symmetric under ``zeta -> -zeta``; only ``|zeta|`` and
    even moments are used for :math:`T_c`).  For data at zero field, pass the
    posterior means of the configurations *and* of their spin-flipped copies, so that
    the centre is not pulled toward whichever ordered phase the chains happened to
    visit more.
    """
    a = _matrix(mu)
    dims = active_dimensions(a) if dims is None else np.asarray(dims, dtype=np.int64)
    if log_var is None:
        unit = np.ones(dims.size)
    else:
        lv = _matrix(log_var)
        if lv.shape != a.shape:
            raise InputError(f"log_var must have the shape of mu {a.shape}, got {lv.shape}")
        unit = np.sqrt(np.exp(lv[:, dims]).mean(axis=0))
    sub = a[:, dims] / unit
    center = sub.mean(axis=0)
    centered = sub - center
    cov = np.atleast_2d(np.cov(centered, rowvar=False))
    evals, evecs = np.linalg.eigh(cov)
    axis = evecs[:, -1]
    if axis[np.argmax(np.abs(axis))] < 0:
        axis = -axis
    proj = centered @ axis
    scale = float(proj.std())
    if not scale > 0:
        scale = 1.0
    total = float(evals.sum())
    explained = float(evals[-1] / total) if total > 0 else 1.0
    return OrderParameter(proj / scale, dims, unit, center, axis, scale, explained)


def principal_components(mu, dims, k: int = 2) -> np.ndarray:
    """Projections ``(n, k)`` of the centred coordinates ``dims`` on their ``k`` leading
    principal axes (columns of zeros where there are fewer than ``k`` coordinates)."""
    a = _matrix(mu)[:, np.asarray(dims, dtype=np.int64)]
    centered = a - a.mean(axis=0)
    _, evecs = np.linalg.eigh(np.atleast_2d(np.cov(centered, rowvar=False)))
    out = np.zeros((a.shape[0], k))
    take = min(k, evecs.shape[1])
    out[:, :take] = centered @ evecs[:, ::-1][:, :take]
    return out


def pearson(x, y) -> float:
    """Pearson's correlation coefficient; 0 when either variable is constant.

    >>> pearson([1, 2, 3], [2, 4, 7]) > 0.99
    True
    >>> pearson([1, 1, 1], [1, 2, 3])
    0.0
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InputError(f"pearson needs equal lengths, got {x.size} and {y.size}")
    dx, dy = x - x.mean(), y - y.mean()
    sx, sy = math.sqrt(float(dx @ dx)), math.sqrt(float(dy @ dy))
    if sx == 0 or sy == 0:
        return 0.0
    return float(np.clip(dx @ dy / (sx * sy), -1.0, 1.0))


def _codes(mu, dims) -> dict[str, np.ndarray]:
    """The latent variables a table reports: the coordinates ``dims`` and the latent norm
    (always over every coordinate)."""
    a = _matrix(mu)
    dims = np.arange(a.shape[1]) if dims is None else np.asarray(dims)
    out = {f"z{j}": a[:, j] for j in dims}
    out["norm"] = np.linalg.norm(a, axis=1)
    return out


def correlation_table(mu, physics: dict, dims=None) -> dict[str, dict[str, float]]:
    """Pearson ``r`` of each latent coordinate ``z<j>`` and of the norm ``|z|`` with each
    physical column.

    ``physics`` maps names (``"m"``, ``"abs_m"``, ``"energy"``, ``"temperature"``) to
    arrays of length ``n``.  ``dims`` restricts the coordinates listed (default: all);
    the norm ``|z|`` of the posterior mean is always over every coordinate.  Returns
    ``{latent: {physical: r}}``.
    """
    return {name: {k: pearson(v, np.asarray(col)) for k, col in physics.items()}
            for name, v in _codes(mu, dims).items()}


def _discretize(x, bins: int) -> np.ndarray:
    """Integer labels: the distinct values when there are at most ``bins`` of them,
    otherwise equal-frequency bins (so the estimate ignores monotone rescalings)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    values, labels = np.unique(x, return_inverse=True)
    if values.size <= bins:
        return labels
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, x, side="right")


def mutual_information(x, y, bins: int = 16) -> float:
    r"""Binned mutual information :math:`I(x; y)` in nats, Miller-Madow corrected.

    Each variable is cut into ``bins`` equal-frequency bins (or kept as categories when
    it takes at most ``bins`` values, like the temperature of a grid).  With
    :math:`\hat p` the bin frequencies of ``N`` pairs and :math:`K` the numbers of
    occupied bins,

    .. math:: \hat I = \sum_{ab} \hat p_{ab} \ln\frac{\hat p_{ab}}{\hat p_a \hat p_b}
        - \frac{K_{xy} - K_x - K_y + 1}{2N},

    the plug-in estimate minus its leading bias (Miller 1955).  Binning loses
    information, so for continuous variables this estimates a lower bound on the true
    :math:`I`; it is exact for categorical ones up to the sampling noise.  Clipped at 0.

    >>> t = np.repeat([1.0, 2.0, 3.0, 4.0], 1000)
    >>> round(mutual_information(t, t) / math.log(4), 3)     # I(T; T) = H(T) = ln 4
    1.0
    """
    bins = int(bins)
    if bins < 2:
        raise InputError(f"bins must be >= 2, got {bins}")
    a, b = _discretize(x, bins), _discretize(y, bins)
    if a.size != b.size:
        raise InputError(f"mutual_information needs equal lengths, got {a.size} and {b.size}")
    n = a.size
    if n < 2:
        return 0.0
    nb = int(b.max()) + 1
    joint = np.bincount(a * nb + b).astype(np.float64)
    joint = joint[joint > 0]
    pa = np.bincount(a).astype(np.float64)
    pb = np.bincount(b).astype(np.float64)
    pa, pb = pa[pa > 0], pb[pb > 0]

    def h(counts):
        p = counts / n
        return -float(np.sum(p * np.log(p)))

    plug_in = h(pa) + h(pb) - h(joint)
    correction = (joint.size - pa.size - pb.size + 1) / (2.0 * n)
    return max(0.0, plug_in - correction)


def mutual_information_table(mu, physics: dict, dims=None, bins: int = 16) -> dict:
    """:func:`mutual_information` (nats) of each coordinate and of the norm with each
    physical column, in the layout of :func:`correlation_table`."""
    return {name: {k: mutual_information(v, np.asarray(col), bins) for k, col in physics.items()}
            for name, v in _codes(mu, dims).items()}
