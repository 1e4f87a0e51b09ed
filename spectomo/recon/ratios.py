"""Response ratios linking the HAADF signal to the elemental maps (Yuan et al. 2020, eq. 15).

HEBT assumes ``I_H = Σ_A r_A I_A`` pixel by pixel. The ratios are fitted by non-negative least
squares of the HAADF projections on the map projections, without an intercept, over all tilts (or
a mask). The normal equations are accumulated one projection at a time in float64, so lazy
stacks stream and the fit costs one pass over the data.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import nnls

from ..validation import InputWarning
from .channels import check_channels

__all__ = ["fit_response_ratios", "ResponseFitError"]


#: Warn when the linear HAADF model explains less than this (R²)
R2_WARN = 0.9


class ResponseFitError(ValueError):
    """The HAADF is not explained by a non-negative weighted sum of the maps."""


def _mask(mask, shape) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != bool:
        raise TypeError(f"mask: expected a boolean array, got dtype {m.dtype}")
    if m.shape not in (shape, shape[1:]):
        raise ValueError(f"mask: expected shape {shape} (per projection) or {shape[1:]} (every "
                         f"projection), got {m.shape}")
    m = np.broadcast_to(m, shape)
    if not m.any():
        raise ValueError("mask: selects no pixel")
    return m


def _nnls_normal(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """argmin_{x ≥ 0} xᵀGx − 2xᵀv via NNLS on a square root of G (singular G allowed)."""
    e, u = np.linalg.eigh(gram)
    keep = e > e.max() * 1e-12
    root = np.sqrt(e[keep])[:, None] * u[:, keep].T          # rootᵀ root = G on its range
    target = (u[:, keep].T @ rhs) / np.sqrt(e[keep])
    x, _ = nnls(root, target)
    return x


def fit_response_ratios(haadf, maps: dict, *, mask=None, errors: bool = False):
    """Fit ``I_H ≈ Σ_A r_A I_A`` (r_A ≥ 0, no intercept) over every pixel of every projection.

    Parameters
    ----------
    haadf : TomoStack (n_tilts, ny, nx)
        HAADF projections (counts or detector units), aligned like the maps.
    maps : dict[str, TomoStack (n_tilts, ny, nx)]
        One elemental map stack per element (one line per element: two lines of the same element
        are collinear and share the ratio arbitrarily).
    mask : bool ndarray (n_tilts, ny, nx) or (ny, nx), optional
        Pixels used in the fit (e.g. excluding a support film); default all.

    errors : bool
        Also return each ratio's standard error.

    Returns
    -------
    ratios : dict[str, float]
        r_A per map name, in HAADF units per map unit.
    r2 : float
        Coefficient of determination ``1 − SS_res / SS_tot`` with the HAADF's mean removed in
        SS_tot (the paper's 0.982 for its phantom). Values near 1 mean the linear model holds.
    std_errors : dict[str, float]
        Only with ``errors=True``: the least-squares standard error of each ratio,
        ``√(σ² (AᵀA)⁻¹)`` over the ratios not at the bound 0 (0 for those), with ``σ²`` the residual
        variance. It describes the scatter from the HAADF's misfit only: noise in the maps (the
        regressors) also biases the ratios low, which this error does not include (docs/hebt.md).

    Raises
    ------
    ResponseFitError
        If R² < 0 (the maps explain the HAADF worse than its mean does: wrong lines, misaligned
        HAADF, or a detector signal that is not a sum over elements) or the HAADF is constant.
    """
    maps = check_channels(maps, arg="maps", reference=("haadf", haadf))
    names = list(maps)
    shape = haadf.data.shape
    m = _mask(mask, shape)
    k = len(names)
    gram, rhs = np.zeros((k, k)), np.zeros(k)
    sb = sbb = 0.0
    n = 0
    for i in range(shape[0]):
        sel = slice(None) if m is None else m[i]
        b = np.asarray(haadf.data[i], dtype=np.float64)[sel].ravel()
        a = np.stack([np.asarray(maps[nm].data[i], dtype=np.float64)[sel].ravel() for nm in names], axis=1)
        gram += a.T @ a
        rhs += a.T @ b
        sb += b.sum()
        sbb += b @ b
        n += b.size
    ss_tot = sbb - sb * sb / n
    if not ss_tot > 0:
        raise ResponseFitError("haadf: constant over the fitted pixels; the response ratios are undefined")
    if not np.diag(gram).any():
        raise ResponseFitError("maps: all maps are zero over the fitted pixels")
    r = _nnls_normal(gram, rhs)
    ss_res = max(sbb - 2 * r @ rhs + r @ gram @ r, 0.0)
    r2 = float(1 - ss_res / ss_tot)
    if 0 <= r2 < R2_WARN:
        warnings.warn(f"haadf: the maps explain the HAADF with R² = {r2:.3f} only (below {R2_WARN}); likely causes: "
                      "HAADF and maps not aligned to each other (use haadf.align_other(maps) with the HAADF's "
                      "alignment), an element present in the HAADF but missing from the maps, a HAADF background "
                      "offset, or very noisy maps (smooth them, e.g. σ = 0.8 px)", InputWarning, stacklevel=2)
    if r2 < 0:
        raise ResponseFitError(
            f"haadf: R² = {r2:.3f} < 0 — the maps {names} explain the HAADF worse than a constant. "
            "Check that HAADF and maps are aligned to each other, that each element has one map, and "
            "that the HAADF is a (non-negative) weighted sum of them; or pass ratios= explicitly")
    ratios = {nm: float(v) for nm, v in zip(names, r)}
    if not errors:
        return ratios, r2
    free = r > 0
    se = np.zeros(k)
    if free.any():
        dof = max(n - int(free.sum()), 1)
        cov = ss_res / dof * np.linalg.pinv(gram[np.ix_(free, free)], hermitian=True)
        se[free] = np.sqrt(np.maximum(np.diag(cov), 0))
    return ratios, r2, {nm: float(v) for nm, v in zip(names, se)}
