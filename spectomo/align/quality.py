"""How well one tomogram explains every projection: the data-driven measure of an alignment.

A correctly aligned tilt series is consistent: a single volume re-projects onto every projection.
Drift, a wrong tilt-axis offset or rotation make the projections disagree, and the relative
re-projection residual ``‖W x − b‖ / ‖b‖`` of a non-negative SIRT ``x`` of the data ``b`` grows. It
needs no ground truth, so it can rank candidate alignments of the same data (it is not comparable
between different data sets). Slices perpendicular to the tilt axis are independent, so a subset of
columns and a binned copy give the same ranking at a fraction of the cost.
"""

from __future__ import annotations

import numpy as np

from ..geometry.astra import SlicePool
from ..signals import check_stack, offset_vacuum
from ..validation import whole_number
from .transform import Alignment, alignment_of, warp

__all__ = ["alignment_residual", "reprojection_residual", "reproject", "binned", "pyramid",
           "informative_columns", "vacuum_free"]


def vacuum_free(images) -> np.ndarray:
    """float32 images with a clear detector offset removed (vacuum → 0), otherwise as given."""
    images = np.asarray(images, dtype=np.float32)
    level = offset_vacuum(images)
    return images - np.float32(level) if level is not None else images


def binned(images: np.ndarray, factor: int) -> np.ndarray:
    """Block means of ``factor × factor`` pixels; the images are padded with vacuum (0) at the far
    edges to a multiple of ``factor``. (n, ny, nx) → (n, ⌈ny/f⌉, ⌈nx/f⌉)."""
    if factor == 1:
        return np.asarray(images, dtype=np.float32)
    n, ny, nx = images.shape
    py, px = -ny % factor, -nx % factor
    padded = np.pad(images, ((0, 0), (0, py), (0, px)))
    return padded.reshape(n, (ny + py) // factor, factor, (nx + px) // factor, factor).mean(axis=(2, 4),
                                                                                           dtype=np.float32)


def pyramid(shape, binning=None) -> list[int]:
    """Binning factors from coarse to fine.

    Default: powers of two from the coarsest that leaves ≥ 32 px across the smaller image side
    (at most 8) down to the finest that keeps the larger side ≤ 128 px (so a pass stays a few
    seconds on a laptop CPU; pass ``binning=[…, 1]`` to finish at full resolution).
    """
    if binning is not None:
        levels = [int(b) for b in np.atleast_1d(binning)]
        if not levels or min(levels) < 1 or levels != sorted(levels, reverse=True):
            raise ValueError(f"binning: expected whole factors ≥ 1 from coarse to fine, e.g. [4, 2], got {binning!r}")
        return levels
    small, large = min(shape), max(shape)
    finest = 1
    while large / finest > 128:
        finest *= 2
    coarsest = finest
    while coarsest < 8 and small / (coarsest * 2) >= 32:
        coarsest *= 2
    levels, b = [], coarsest
    while b >= finest:
        levels.append(b)
        b //= 2
    return levels


def informative_columns(images: np.ndarray, n_columns: int) -> np.ndarray:
    """Up to ``n_columns`` column indices spread evenly over the columns that hold specimen (mean
    projected mass above 10 % of the largest)."""
    mass = np.clip(images, 0, None).sum(axis=1).mean(axis=0)
    cand = np.nonzero(mass > 0.1 * mass.max())[0] if mass.max() > 0 else np.arange(images.shape[2])
    if cand.size > n_columns:
        cand = cand[np.linspace(0, cand.size - 1, n_columns).round().astype(int)]
    return cand


def _sirt_and_project(images, tilts, fit, predict, columns, iterations, start, valid, n_jobs, out, vol):
    """SIRT of the projections ``fit`` at ``columns``; their re-projection at the tilts ``predict``."""
    n, ny, _ = images.shape
    k = len(columns)
    t_fit, t_pred = np.asarray(tilts)[fit], np.asarray(tilts)[predict]

    def solve(solver, j):
        c = columns[j]
        solver.load(images[fit][:, :, c], 0 if start is None else start[j],
                    None if valid is None else valid[fit][:, :, c])
        solver.run(iterations)
        vol[j] = solver.current()

    def project(solver, j):
        out[predict, :, j] = solver.forward(vol[j])

    with SlicePool(t_fit, ny, ny, "SIRT", n_slices=k, constrain=True, n_jobs=n_jobs,
                   masked=valid is not None) as pool:
        pool.map(solve, k)
    with SlicePool(t_pred, ny, ny, "SIRT", n_slices=k, n_jobs=n_jobs) as pool:
        pool.map(project, k)


def reproject(images: np.ndarray, tilts, columns, *, iterations: int, holdout: bool = False, start=None,
              valid=None, n_jobs=None):
    """Non-negative SIRT of the sinograms at ``columns`` and the projections of the result.

    Parameters
    ----------
    images : ndarray (n_tilts, ny, nx)
        Aligned projections, vacuum at 0.
    columns : array of int (k,)
    iterations : int
        SIRT iterations (from ``start``).
    holdout : bool
        Predict each projection from a reconstruction that did not use it: the tilts (in angular
        order) are split into two interleaved halves, each reconstructed and projected at the
        angles of the other. A reconstruction partly fits whatever error a projection has, so its
        own re-projection follows it; a held-out prediction does not.
    start : ndarray (k, ny, ny), optional
        Slices to continue from (a previous call's volume), else zero (not with ``holdout``).
    valid : ndarray (n_tilts, ny, nx) of bool, optional
        Where the data exist (e.g. not brought in from outside the raw field of view by the
        alignment); SIRT ignores the rest.

    Returns
    -------
    reprojected : ndarray (n_tilts, ny, k)
    volume : ndarray (k, ny, ny)
        The (last) reconstruction.
    """
    n, ny, _ = images.shape
    columns = np.asarray(columns, dtype=int)
    k = len(columns)
    out = np.empty((n, ny, k), dtype=np.float32)
    vol = np.empty((k, ny, ny), dtype=np.float32)
    if not holdout:
        every = np.arange(n)
        _sirt_and_project(images, tilts, every, every, columns, iterations, start, valid, n_jobs, out, vol)
        return out, vol
    if start is not None:
        raise ValueError("start: a hold-out prediction starts from zero")
    order = np.argsort(tilts, kind="stable")
    halves = (np.sort(order[0::2]), np.sort(order[1::2]))
    for fit, predict in (halves, halves[::-1]):
        _sirt_and_project(images, tilts, fit, predict, columns, iterations, None, valid, n_jobs, out, vol)
    return out, vol


def reprojection_residual(images: np.ndarray, tilts, *, columns=None, n_columns: int = 16,
                          iterations: int = 30, holdout: bool = False, valid=None, n_jobs=None) -> float:
    """Relative re-projection residual ``‖W x − b‖ / ‖b‖`` of a non-negative SIRT of ``columns``
    of aligned, vacuum-free ``images`` (n_tilts, ny, nx); with ``holdout``, each projection is
    predicted by a reconstruction of the other half of the tilts (see :func:`reproject`). Pixels
    where ``valid`` (same shape, bool) is False are ignored by SIRT and by the residual."""
    images = np.asarray(images, dtype=np.float32)
    cols = informative_columns(images, n_columns) if columns is None else np.asarray(columns, dtype=int)
    if valid is not None and valid.all():
        valid = None
    reproj, _ = reproject(images, tilts, cols, iterations=iterations, holdout=holdout, valid=valid, n_jobs=n_jobs)
    data = images[:, :, cols]
    ok = np.ones(data.shape, dtype=bool) if valid is None else valid[:, :, cols]
    den = float(np.sum(data[ok].astype(np.float64) ** 2))
    return float(np.sqrt(np.sum((reproj - data)[ok].astype(np.float64) ** 2) / den)) if den else np.inf


def alignment_residual(stack, *, alignment: Alignment | None = None, columns=None, n_columns: int = 16,
                       iterations: int = 30, binning: int = 1, holdout: bool = True) -> float:
    """The re-projection residual of a tilt series: lower is better aligned.

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
        The series as it is (e.g. after ``stack_register``/``tilt_align``). A clear detector offset
        is removed first (vacuum → 0), as a non-negative reconstruction needs.
    alignment : Alignment, optional
        A further alignment to apply to ``stack.data`` before scoring (e.g. a candidate), in pixels
        of the stack. Pixels that the stack's recorded alignment (and this one) brought in from
        outside the raw image are missing data: SIRT and the residual ignore them.
    columns : sequence of int, optional
        Columns (slices ⟂ tilt axis) to reconstruct, in pixels of the binned stack. Default: up to
        ``n_columns`` spread over the columns that hold specimen.
    iterations : int
        Non-negative SIRT iterations per slice (ASTRA, CPU).
    binning : int
        Score a ``binning × binning`` block-averaged copy (faster; ranks alignments the same way as
        long as their differences exceed a binned pixel).
    holdout : bool
        Predict each projection from a reconstruction of the other half of the tilts (interleaved),
        instead of re-projecting a reconstruction that used it. A reconstruction partly fits the
        error of each projection it uses, which hides misalignment; a prediction cannot.

    Returns
    -------
    float
        ``‖W x − b‖ / ‖b‖`` over the chosen slices: 0 for perfectly consistent data; noise alone
        contributes about ``1/sqrt(counts per pixel)`` (more with ``holdout``, which also carries
        the error of interpolating between tilts twice as far apart).
    """
    check_stack(stack, "stack")
    whole_number(iterations, "iterations")
    whole_number(binning, "binning")
    whole_number(n_columns, "n_columns")
    images = vacuum_free(stack.data)
    # pixels the stack's own alignment brought in from outside the raw image are missing, not vacuum
    inside = warp(np.ones(images.shape, dtype=np.float32), alignment_of(stack))
    if alignment is not None:
        images, inside = warp(images, alignment), warp(inside, alignment)
    images = binned(images, int(binning))
    valid = binned(inside, int(binning)) > 0.999
    if columns is not None:
        columns = np.asarray(columns, dtype=int).reshape(-1)
        if columns.size == 0 or columns.min() < 0 or columns.max() >= images.shape[2]:
            raise IndexError(f"columns: expected indices in [0, {images.shape[2] - 1}], got {columns.tolist()}")
    return reprojection_residual(images, stack.tilts, columns=columns, n_columns=int(n_columns),
                                 iterations=int(iterations), holdout=bool(holdout), valid=valid)
