"""Tilt-axis offset and in-plane rotation of a registered tilt series.

``'CoM'`` (after Wolf et al. 2012, as in ETSpy): in the column ``x_k`` of every projection the
centre of mass along ``y`` of a rotating object follows ``c_k + A_k cos θ + B_k sin θ``, where
``c_k`` is where the tilt axis crosses that column. A robust (Huber) fit per column gives ``c_k``;
a robust (Theil–Sen) line through ``(x_k, c_k)`` gives the axis: slope ``tan φ`` (the rotation) and
the offset from the image centre. ``'MaxImage'``: in the maximum over tilts of a registered stack
each feature draws a straight trace perpendicular to the axis; the dominant orientation of these
traces (edges + Hough transform) gives a first rotation, which the CoM iteration below then refines
(on the simulator's 64-pixel phantoms the Hough angle alone was 1.5–2.5° off; the refined one is
within 0.2°), and the offset comes from the CoM fit.

Real needles and pillars break the CoM model where material enters or leaves the field of view, and
a naive fit can return an axis tilted by tens of degrees. Here:

* columns whose projected mass is not constant over the tilts are excluded;
* both fits are robust, and a rotation smaller than its own 99 % confidence half-width (Theil–Sen,
  in the de-rotated frame) counts as none;
* the estimate is repeated on the de-rotated stack until the rotation converges (one pass is biased
  towards 0 because a column of a rotated stack mixes neighbouring material); when it does not
  converge the data carry no usable rotation signal and only the offset is corrected (warning);
* a rotation beyond ``max_rotation`` is refused (warning; offset only);
* the answer is checked: the re-projection residual (:mod:`.quality`) of a short non-negative SIRT
  of a few slices (binned to ≤ 128 px) is computed with no correction, offset only, and the full
  estimate; if the full estimate is more
  than 1 % worse than no correction, the better of the other two is applied, with a warning.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from tqdm.auto import tqdm

from ..signals import TomoStack, check_stack
from .quality import binned, pyramid, reprojection_residual, vacuum_free
from .register import _background_free
from .transform import Alignment, AlignmentWarning, aligned_copy, alignment_of, vacuum_fill, warp

__all__ = ["TILT_AXIS_METHODS", "TiltAxisWarning", "estimate_tilt_axis", "tilt_align"]

TILT_AXIS_METHODS = ("CoM", "MaxImage")


CHECK_TOLERANCE = 0.01  # the estimate is refused when it re-projects 1 % worse than no correction


class TiltAxisWarning(AlignmentWarning):
    """The tilt-axis estimate was refused or replaced by a safer candidate."""


def _huber_sinusoid(theta: np.ndarray, m: np.ndarray, w: np.ndarray, n_iter: int = 20):
    """Fit ``m ≈ c + a cos θ + b sin θ`` with weights ``w`` and Huber reweighting; returns (c, rms)."""
    design = np.stack([np.ones_like(theta), np.cos(theta), np.sin(theta)], axis=1)
    weights = w.copy()
    coef = np.zeros(3)
    for _ in range(n_iter):
        sw = np.sqrt(weights)
        coef, *_ = np.linalg.lstsq(design * sw[:, None], m * sw, rcond=None)
        r = m - design @ coef
        scale = 1.4826 * np.median(np.abs(r - np.median(r))) + 1e-6
        k = 1.345 * scale
        weights = w * np.where(np.abs(r) <= k, 1.0, k / np.maximum(np.abs(r), 1e-12))
    r = m - design @ coef
    return float(coef[0]), float(np.sqrt(np.average(r**2, weights=w)))


def axis_crossings(images: np.ndarray, tilts: np.ndarray, *, slices=None, n_slices: int = 24,
                   min_mass: float = 0.1, max_mass_variation: float = 0.2):
    """Where the tilt axis crosses each usable column, from the centre-of-mass sinusoids.

    Returns
    -------
    x : ndarray (k,)
        Column indices used.
    c : ndarray (k,)
        Axis position along ``y`` in each column (pixels).
    rms : ndarray (k,)
        Residual of each column's sinusoid fit (pixels).
    """
    imgs = np.stack([_background_free(np.asarray(i, dtype=float)) for i in images])
    n, ny, nx = imgs.shape
    mass = imgs.sum(axis=1)  # (n_tilts, nx)
    mean_mass = mass.mean(axis=0)
    if slices is None:
        ok = mean_mass > min_mass * mean_mass.max()
        with np.errstate(invalid="ignore", divide="ignore"):
            cv = mass.std(axis=0) / mean_mass
        ok &= cv < max_mass_variation
        ok[:2] = ok[-2:] = False
        cand = np.nonzero(ok)[0]
        if cand.size > n_slices:
            cand = cand[np.linspace(0, cand.size - 1, n_slices).round().astype(int)]
    else:
        cand = np.asarray(slices, dtype=int).reshape(-1)
        if cand.size and (cand.min() < 0 or cand.max() >= nx):
            raise IndexError(f"slices: column indices must lie in [0, {nx - 1}], got {cand.tolist()}")
    theta = np.deg2rad(np.asarray(tilts, dtype=float))
    ys = np.arange(ny)
    xs, cs, rms = [], [], []
    for x in cand:
        col_mass = mass[:, x]
        keep = col_mass > 0.5 * np.median(col_mass)
        if keep.sum() < 4:
            continue
        com = (imgs[keep, :, x] @ ys) / col_mass[keep]
        c, r = _huber_sinusoid(theta[keep], com, col_mass[keep] / col_mass[keep].max())
        xs.append(x), cs.append(c), rms.append(r)
    return np.array(xs, dtype=float), np.array(cs), np.array(rms)


def _fit_axis(x, c, nx: int, ny: int, rotation=None):
    """Robust (Theil–Sen) line through the axis crossings → (rotation φ in °, offset δ in px)."""
    xc, yc = (nx - 1) / 2, (ny - 1) / 2
    if rotation is None:
        if len(x) < 3 or np.ptp(x) < 2:
            slope = 0.0
        else:
            slope = stats.theilslopes(c, x)[0]
        phi = float(np.degrees(np.arctan(slope)))
    else:
        phi = float(rotation)
        slope = np.tan(np.radians(phi))
    intercept = float(np.median(c - slope * (x - xc)))
    return phi, (intercept - yc) * np.cos(np.radians(phi))


def max_image_rotation(images: np.ndarray, *, max_rotation: float = 10.0, sigma: float = 2.0) -> float:
    """Rotation φ (degrees) of the tilt axis from the traces in the maximum-projection image.

    Straight traces (edges + Hough transform, normals within ``±max_rotation`` of the ``x`` axis)
    give the angle (Hough bins of 0.25°, peaks weighted by their votes).
    """
    from skimage.feature import canny
    from skimage.transform import hough_line, hough_line_peaks

    mx = np.max(np.asarray(images, dtype=float), axis=0)
    span = np.ptp(mx)
    if span <= 0:
        raise ValueError("MaxImage: the maximum image is flat; nothing to fit")
    norm = (mx - mx.min()) / span
    edges = canny(norm, sigma=sigma)
    angles = np.deg2rad(np.linspace(-max_rotation, max_rotation, int(4 * max_rotation) + 1))
    acc, th, dist = hough_line(edges, theta=angles)
    peaks, p_th, _ = hough_line_peaks(acc, th, dist, num_peaks=8, threshold=0.3 * acc.max())
    if len(p_th) == 0:
        raise ValueError("MaxImage: no straight traces found in the maximum image; use method='CoM'")
    # a trace perpendicular to an axis rotated by φ has its Hough normal at angle φ
    return float(np.degrees(np.average(p_th, weights=peaks)))


def _slope_uncertainty(x, c) -> float:
    """Half-width (degrees) of the 99 % confidence interval of the Theil–Sen slope of ``c`` on ``x``."""
    if len(x) < 3 or np.ptp(x) < 2:
        return np.inf
    _, _, low, high = stats.theilslopes(c, x, alpha=0.99)
    return float(np.degrees(np.arctan(0.5 * (high - low))))


def _iterate_axis(images, tilts, method: str, slices, max_rotation: float, raw_crossings,
                  max_iter: int = 8, tol: float = 0.02, n_slices: int = 24):
    """Estimate, de-rotate, re-estimate until the rotation increment is below ``tol`` degrees.

    ``'CoM'`` starts from no rotation, ``'MaxImage'`` from the Hough estimate of the maximum image.

    Columns mix neighbouring material when the axis is rotated, which biases one estimate towards 0;
    repeating on the de-rotated stack removes that bias. Returns (φ, δ, x, c, rms) where δ is the
    offset in the finally de-rotated frame, plus the half-width (degrees) of the 99 % confidence
    interval of the slope in that frame (the rotation's uncertainty), and whether the increments
    fell below ``max(tol, uncertainty / 4)``. When the data carry no rotation signal (e.g. a
    centred sphere) the increments stay at the noise level instead of shrinking: no convergence.
    """
    n, ny, nx = images.shape
    phi = max_image_rotation(images, max_rotation=max_rotation) if method == "MaxImage" else 0.0
    converged = False
    for _ in range(max_iter):
        if phi == 0:
            x, c, rms = raw_crossings
        else:
            x, c, rms = axis_crossings(warp(images, Alignment(np.zeros((n, 2)), -phi)), tilts, slices=slices,
                                       n_slices=n_slices)
        if len(x) == 0:
            raise ValueError("tilt_align: no column holds a constant projected mass over the tilts, so "
                             "the centre-of-mass model does not apply; align by hand with trans_stack")
        step, delta = _fit_axis(x, c, nx, ny)
        uncertainty = _slope_uncertainty(x, c)
        phi += step
        if abs(step) < max(tol, 0.25 * uncertainty):
            converged = True
            break
        if abs(phi) > max_rotation:
            break
    return phi, delta, x, c, rms, uncertainty, converged


def estimate_tilt_axis(images, tilts, *, method: str = "CoM", slices=None, max_rotation: float = 10.0,
                       check: bool = True, check_iterations: int = 30, progress: bool = False, n_slices: int = 24):
    """Estimate the tilt-axis rotation and offset of a registered projection stack.

    Returns
    -------
    dict
        ``rotation`` and ``offset`` (the corrections to apply: ``−φ`` and ``−δ``), the raw estimate
        ``phi``/``delta``, the axis crossings used, the candidate scores and which was chosen.
    """
    images = vacuum_free(images)
    n, ny, nx = images.shape
    if method not in TILT_AXIS_METHODS:
        raise ValueError(f"method: expected one of {list(TILT_AXIS_METHODS)}, got {method!r}")
    if not 0 < max_rotation < 45:
        raise ValueError(f"max_rotation: expected a positive angle below 45°, got {max_rotation}")
    notes = []
    raw = axis_crossings(images, tilts, slices=slices, n_slices=n_slices)
    x0, c0, _ = raw
    phi, delta, x, c, rms, uncertainty, converged = _iterate_axis(images, tilts, method, slices,
                                                                  max_rotation, raw, n_slices=n_slices)
    if abs(phi) > max_rotation or abs(phi) <= uncertainty or not converged:
        if abs(phi) > max_rotation:
            notes.append(f"estimated rotation {phi:.2f}° exceeds max_rotation={max_rotation}°; refused")
        elif not converged:
            notes.append(f"the rotation estimate did not converge (reached {phi:.2f}°): the data do not "
                         "constrain the axis direction; only the offset is corrected")
        phi, x, c, rms = 0.0, x0, c0, raw[2]
        delta = _fit_axis(x, c, nx, ny, rotation=0.0)[1]
    candidates = {"full": Alignment(np.zeros((n, 2)), -phi, -delta),
                  "offset only": Alignment(np.zeros((n, 2)), 0.0, -_fit_axis(x0, c0, nx, ny, rotation=0.0)[1]),
                  "none": Alignment(np.zeros((n, 2)))}
    scores = {}
    chosen = "full"
    if check:
        # scored on a binned copy (≤ 128 px across: the candidates differ by ≥ a pixel or so)
        b = pyramid((ny, nx))[-1]
        cols = np.unique(x[np.linspace(0, len(x) - 1, min(6, len(x))).round().astype(int)].astype(int) // b)
        for key in tqdm(candidates, desc="tilt_align check", disable=not progress, leave=False):
            scores[key] = reprojection_residual(binned(warp(images, candidates[key]), b), tilts, columns=cols,
                                                iterations=check_iterations)
        if scores["full"] > scores["none"] * (1 + CHECK_TOLERANCE):
            chosen = min(("offset only", "none"), key=scores.get)
            notes.append(f"the estimate (rotation {-phi:.2f}°, offset {-delta:.2f} px) re-projects worse "
                         f"than no correction (residual {scores['full']:.4g} vs {scores['none']:.4g}); "
                         f"applying '{chosen}'")
    for note in notes:
        warnings.warn(f"tilt_align: {note}", TiltAxisWarning, stacklevel=3)
    a = candidates[chosen]
    return {"rotation": float(a.rotation), "offset": float(a.offset), "phi": phi, "delta": delta,
            "rotation_uncertainty": uncertainty,
            "chosen": chosen, "scores": scores, "columns": x, "crossings": c, "fit_rms": rms,
            "notes": notes}


def tilt_align(stack: TomoStack, method: str = "CoM", *, slices=None, nslices: int | None = None,
               max_rotation: float = 10.0, check: bool = True, order: int = 1, progress: bool = True) -> TomoStack:
    """Find and correct the tilt-axis offset and in-plane rotation of a registered stack.

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
        Registered projections (e.g. from ``stack_register``), tilt axis roughly along ``x``.
    method : {'CoM', 'MaxImage'}
        Centre-of-mass sinusoids in several columns (pillars, needles, particles), or rotation from
        the traces in the maximum image (particles) with the offset from the centre of mass.
    slices : sequence of int, optional
        Columns ``x`` to track (default: up to ``nslices`` columns whose projected mass is constant).
    nslices : int, optional
        How many columns to choose when ``slices`` is not given (ETSpy's name; default 24).
    max_rotation : float
        Largest rotation (degrees) accepted; a larger estimate is refused with a warning.
    check : bool
        Compare the re-projection residual with and without the correction and refuse a
        correction that makes it worse (see module docstring).
    order : int
        Interpolation order of the correction.
    progress : bool
        Progress bar over the check's candidates.

    Returns
    -------
    TomoStack
        The corrected stack; ``tilt_axis_rotation`` and ``tilt_axis_offset`` (with the shifts) hold
        the whole transform from the raw data. ``metadata.Tomography.Alignment_log`` records the
        estimate, the candidate scores and the choice.
    """
    check_stack(stack, "stack")
    if nslices is not None and (isinstance(nslices, bool) or int(nslices) < 2):
        raise ValueError(f"nslices: at least 2 columns expected, got {nslices!r}")
    images = np.asarray(stack.data)
    est = estimate_tilt_axis(images, stack.tilts, method=method, slices=slices, max_rotation=max_rotation,
                             check=check, progress=progress, n_slices=24 if nslices is None else int(nslices))
    step = Alignment(np.zeros((stack.n_projections, 2)), est["rotation"], est["offset"])
    data = warp(images, step, order=order, fill=vacuum_fill(images))
    total = alignment_of(stack).then(rotation=est["rotation"], translation=(est["offset"], 0.0))
    return aligned_copy(stack, data, total, "tilt_align", method=method, rotation=est["rotation"],
                        offset=est["offset"], estimated_rotation=-est["phi"], estimated_offset=-est["delta"],
                        chosen=est["chosen"], scores={k: float(v) for k, v in est["scores"].items()},
                        columns=est["columns"], max_rotation=float(max_rotation))
