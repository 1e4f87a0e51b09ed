"""Response ratios linking the HAADF signal to the elemental maps (Yuan et al. 2020, eq. 15).

HEBT assumes ``I_H = Σ_A r_A I_A`` pixel by pixel. The ratios are fitted by non-negative least
squares of the HAADF projections on the map projections, without an intercept, over all tilts (or
a mask), corrected for the maps' own noise (errors in variables). The normal equations are
accumulated one projection at a time in float64, so lazy stacks stream and the fit costs one pass
over the data; per-projection sums give jackknife standard errors.
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


def _noise_models(maps: dict, noise) -> dict:
    """Per map: ``(a, b)`` of ``var = a · max(value, 0) + b``, an array of per-pixel variances, or
    None (no correction), from ``noise`` ('auto', None or a dict)."""
    if noise is None:
        return {n: None for n in maps}
    if isinstance(noise, dict):
        unknown = set(noise) - set(maps)
        if unknown:
            raise KeyError(f"noise: {sorted(unknown)} are not map names; expected some of {list(maps)}")
        out = {}
        for n in maps:
            v = noise.get(n)
            if v is not None and not isinstance(v, np.ndarray):
                v = tuple(float(x) for x in v)
                if len(v) != 2 or min(v) < 0:
                    raise ValueError(f"noise[{n!r}]: expected (a, b) ≥ 0 of var = a·value + b, or an array of "
                                     f"variances shaped like the map, got {noise.get(n)!r}")
            elif v is not None and v.shape != np.shape(maps[n].data):
                raise ValueError(f"noise[{n!r}]: variances of shape {v.shape}, expected {np.shape(maps[n].data)}")
            out[n] = v
        return out
    if noise != "auto":
        raise ValueError(f"noise: expected 'auto', None or a dict of map name → (a, b) or variances, got {noise!r}")
    from .thinning import _is_counts

    out = {}
    for n, m in maps.items():
        model = m.metadata.get_item("Spectral.noise_model") if hasattr(m, "metadata") else None
        if model is not None:
            out[n] = (float(model["a"]), float(model["b"]))
        elif _is_counts(np.asarray(m.data)):
            out[n] = (1.0, 0.0)  # Poisson counts
        else:
            # Not estimated from the images: a 3 × 3 residual variance counts fine structure as
            # noise, and on noise-free or smoothed maps that over-corrects badly.
            out[n] = None
    return out


def _solve(gram, rhs, noise_sum) -> np.ndarray:
    return _nnls_normal(gram - np.diag(noise_sum), rhs)


def fit_response_ratios(haadf, maps: dict, *, mask=None, errors: bool = False, noise="auto"):
    """Fit ``I_H ≈ Σ_A r_A I_A`` (r_A ≥ 0, no intercept) over every pixel of every projection.

    Noisy maps are regressors with errors: plain least squares then shrinks the ratios (by the
    share of each map's variance that is noise: 8–10 % for Au and 18–22 % for a 1 % Pt at a few
    counts per pixel on the simulator). With the maps' noise variances known (``noise``), their sum
    is removed from the normal equations (corrected least squares, the method of moments for
    errors in variables), which removes that bias; the HAADF's own noise does not bias the fit.

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
    noise : 'auto', None or dict
        The maps' noise variances. ``'auto'`` (default): ``metadata.Spectral.noise_model`` (maps from
        :func:`spectomo.extract_maps`), else Poisson for integer counts, else none (other float maps
        are not corrected: pass their variances if they are noisy). A dict maps names to ``(a, b)``
        of ``var = a · max(value, 0) + b`` or to an array of per-pixel variances shaped like the map
        (names left out: no correction). ``None``: plain (uncorrected) least squares. Smoothed maps
        (e.g. a Gaussian of σ = 0.8 px) have a smaller variance than their model says; pass
        ``noise=None`` or the reduced variance for them.

    Returns
    -------
    ratios : dict[str, float]
        r_A per map name, in HAADF units per map unit.
    r2 : float
        Coefficient of determination ``1 − SS_res / SS_tot`` with the HAADF's mean removed in
        SS_tot (the paper's 0.982 for its phantom). Values near 1 mean the linear model holds; noisy
        maps lower it.
    std_errors : dict[str, float]
        Only with ``errors=True``: each ratio's delete-one-projection jackknife standard error. It
        includes the scatter from the HAADF's noise, the maps' noise and any tilt-to-tilt misfit
        (needs ≥ 3 projections; 0 for a ratio at the bound 0).

    Raises
    ------
    ResponseFitError
        If R² < 0 (the maps explain the HAADF worse than its mean does: wrong lines, misaligned
        HAADF, or a detector signal that is not a sum over elements) or the HAADF is constant.
    """
    maps = check_channels(maps, arg="maps", reference=("haadf", haadf))
    names = list(maps)
    models = _noise_models(maps, noise)
    shape = haadf.data.shape
    m = _mask(mask, shape)
    k, n_t = len(names), shape[0]
    # per projection: normal equations, summed noise variances, HAADF sums (for the jackknife)
    grams, rhss, noises = np.zeros((n_t, k, k)), np.zeros((n_t, k)), np.zeros((n_t, k))
    sb = sbb = 0.0
    n = 0
    for i in range(n_t):
        sel = slice(None) if m is None else m[i]
        b = np.asarray(haadf.data[i], dtype=np.float64)[sel].ravel()
        a = np.stack([np.asarray(maps[nm].data[i], dtype=np.float64)[sel].ravel() for nm in names], axis=1)
        grams[i] = a.T @ a
        rhss[i] = a.T @ b
        for j, nm in enumerate(names):
            model = models[nm]
            if isinstance(model, np.ndarray):
                noises[i, j] = float(np.sum(np.asarray(model[i], dtype=np.float64)[sel]))
            elif model is not None:
                noises[i, j] = model[0] * float(np.maximum(a[:, j], 0).sum()) + model[1] * a.shape[0]
        sb += b.sum()
        sbb += b @ b
        n += b.size
    gram, rhs, noise_sum = grams.sum(0), rhss.sum(0), noises.sum(0)
    ss_tot = sbb - sb * sb / n
    if not ss_tot > 0:
        raise ResponseFitError("haadf: constant over the fitted pixels; the response ratios are undefined")
    if not np.diag(gram).any():
        raise ResponseFitError("maps: all maps are zero over the fitted pixels")
    if noise_sum.any() and np.linalg.eigvalsh(gram - np.diag(noise_sum)).min() <= 1e-9 * np.trace(gram):
        warnings.warn(f"maps: their noise is about as large as their signal ({', '.join(names)}); the response "
                      "ratios are fitted without the noise correction and are biased low (bin or smooth the maps, "
                      "or pass ratios=)", InputWarning, stacklevel=2)
        noise_sum, noises = np.zeros(k), np.zeros_like(noises)
    r = _solve(gram, rhs, noise_sum)
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
    se = np.zeros(k)
    if n_t >= 3:
        loo = np.array([_solve(gram - grams[i], rhs - rhss[i], noise_sum - noises[i]) for i in range(n_t)])
        se = np.sqrt((n_t - 1) / n_t * np.sum((loo - loo.mean(0)) ** 2, axis=0))
        se[r <= 0] = 0.0
    return ratios, r2, {nm: float(v) for nm, v in zip(names, se)}
