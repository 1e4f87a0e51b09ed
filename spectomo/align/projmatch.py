"""Projection matching: align every projection to the re-projection of a tomogram of the series.

Iterated coarse to fine over a binning pyramid (all transforms are kept in full-resolution pixels
and every level starts from the raw data, so interpolation errors do not accumulate):

1. warp the raw projections with the current alignment and bin them;
2. reconstruct every slice with non-negative SIRT (ASTRA; warm-started from the previous volume
   after the first pass) and re-project it;
3. register each projection to its re-projection (sub-pixel phase correlation) → a correction
   ``(y, x)`` per tilt;
4. split the ``y`` corrections into a constant (the tilt-axis offset, moved to ``tilt_axis_offset``),
   a part ``a cos θ + b sin θ`` (a translation of the object inside the volume, which no data can
   see: dropped) and the rest (per-tilt shifts); the mean ``x`` correction (a translation along the
   axis) is dropped likewise; repeat from 1 until the corrections are below ``tol`` binned pixels;
5. the tilt-axis rotation: the rotation about the image centre that minimises the re-projection
   residual of a few slices spread along the axis (:mod:`.quality`), a grid over
   ``±max_rotation`` at the coarsest level then a bounded Brent search, after which the shifts are
   refined again until the rotation no longer moves.

A hand-written loop, because none of the dependencies offers projection matching (ETSpy has only
the pairwise methods; scikit-image registers image pairs, ASTRA reconstructs).
"""

from __future__ import annotations

import time

import numpy as np
from tqdm.auto import tqdm

from ..signals import TomoStack, check_stack
from ..validation import positive, whole_number
from .quality import binned, informative_columns, pyramid, reproject, reprojection_residual, vacuum_free
from .transform import Alignment, AlignmentWarning, aligned_copy, alignment_of, vacuum_fill, warp

__all__ = ["match_projections", "projection_match"]

#: SIRT iterations per pass (from zero each time: a warm start remembers the previous alignment,
#: and the corrections then overshoot into a two-cycle)
COLD_ITERATIONS = 20
#: a stage's result replaces the start only if its held-out residual is lower by more than this
CHECK_TOLERANCE = 0.002
#: SIRT iterations and (at least) columns when the candidates are scored
SCORE_ITERATIONS, SCORE_COLUMNS = 30, 64


def _pc(ref: np.ndarray, mov: np.ndarray, upsample_factor: int) -> np.ndarray:
    """Sub-pixel shift that moves ``mov`` onto ``ref`` (zeros when either is flat)."""
    from skimage.registration import phase_cross_correlation

    if np.ptp(ref) > 0 and np.ptp(mov) > 0:
        return np.asarray(phase_cross_correlation(ref, mov, upsample_factor=upsample_factor,
                                                  normalization=None)[0], dtype=float)
    return np.zeros(ref.ndim)


def tilt_corrections(data: np.ndarray, reproj: np.ndarray, columns, upsample_factor: int) -> np.ndarray:
    """Per-tilt corrections ``(n, 2)``: ``y`` from registering the sinogram columns to their
    re-projection, ``x`` from registering each projection's profile along the axis (its sum over
    ``y``) to the mean profile over the tilts, which is what every re-projection has along ``x``
    when the specimen stays in the field of view (so no slice outside ``columns`` is needed)."""
    n = len(data)
    out = np.zeros((n, 2))
    profiles = data.sum(axis=1)
    mean = profiles.mean(axis=0)
    for i in range(n):
        out[i, 0] = _pc(reproj[i], data[i][:, columns], upsample_factor)[0]
        out[i, 1] = _pc(mean, profiles[i], upsample_factor)[0]
    return out


def split_gauge(update: np.ndarray, tilts) -> tuple[np.ndarray, float]:
    """Per-tilt corrections without what the data cannot see, and the axis-offset part.

    ``y``: least squares ``u_y ≈ c + a cos θ + b sin θ``; ``c`` is returned as the offset, the
    fitted sinusoid is dropped (it moves the object inside the volume). ``x``: the mean is dropped
    (a translation along the axis). Returns (per-tilt corrections (n, 2), c).
    """
    theta = np.deg2rad(np.asarray(tilts, dtype=float))
    design = np.stack([np.ones_like(theta), np.cos(theta), np.sin(theta)], axis=1)
    coef, *_ = np.linalg.lstsq(design, update[:, 0], rcond=None)
    rest = update.copy()
    rest[:, 0] -= design @ coef
    rest[:, 1] -= rest[:, 1].mean()
    return rest, float(coef[0])


def block_offsets(data: np.ndarray, reproj: np.ndarray, columns, tilts, n_blocks: int, upsample_factor: int):
    """Axis-offset corrections in blocks of columns along the tilt axis.

    In a slice whose axis is off by ``c``, each projection is displaced by ``c (1 − cos θ)`` on top
    of what an object translation explains; the ``y`` profile of each block of reconstructed columns
    is registered to its re-projection at every tilt and ``c`` is the constant of
    ``c + a cos θ + b sin θ`` fitted over the tilts (:func:`split_gauge`).

    Parameters
    ----------
    data : ndarray (n, ny, nx)
    reproj : ndarray (n, ny, k)
        Re-projections of the columns ``columns`` (k,) of ``data``, in increasing order.

    Returns
    -------
    x, c, w : ndarray (n_blocks,)
        Block centres (columns), offsets (px) and projected mass (weights).
    """
    n = len(data)
    columns = np.asarray(columns)
    xs, cs, ws = [], [], []
    for part in np.array_split(np.arange(len(columns)), n_blocks):
        if part.size == 0:
            continue
        prof_d = data[:, :, columns[part]].mean(axis=2)
        prof_r = reproj[:, :, part].mean(axis=2)
        u = np.zeros((n, 2))
        u[:, 0] = [_pc(prof_r[i], prof_d[i], upsample_factor)[0] for i in range(n)]
        xs.append(float(columns[part].mean())), cs.append(split_gauge(u, tilts)[1])
        ws.append(float(np.clip(prof_d, 0, None).sum()))
    return np.array(xs), np.array(cs), np.array(ws)


def axis_update(x, c, w, nx: int) -> tuple[float, float] | None:
    """Weighted line ``c = c0 + s (x − x_centre)`` through the block offsets → (rotation correction
    in degrees, offset correction c0 in px), or None with fewer than 3 blocks."""
    if len(x) < 3:
        return None
    xc = (nx - 1) / 2
    design = np.stack([np.ones_like(x), x - xc], axis=1)
    sw = np.sqrt(w / w.max())
    (c0, slope), *_ = np.linalg.lstsq(design * sw[:, None], c * sw, rcond=None)
    # a rotation by α moves content at column x by α (x − x_centre) along y (transform module)
    return float(np.degrees(np.arctan(slope))), float(c0)


class _Matcher:
    """State of one projection-matching run on raw (vacuum-free) projections."""

    def __init__(self, raw, tilts, alignment: Alignment, *, sirt_iterations: int, upsample_factor: int,
                 max_rotation: float, n_columns: int, order: int, n_jobs, bar):
        self.raw, self.tilts = raw, np.asarray(tilts, dtype=float)
        self.ones = np.ones_like(raw)
        self.alignment = alignment
        self.sirt_iterations, self.upsample_factor, self.order, self.n_jobs = \
            sirt_iterations, upsample_factor, order, n_jobs
        self.max_rotation, self.n_columns = max_rotation, n_columns
        self.stage, self.fit_rotation = "shifts", False
        self.bar = bar
        self.history: list[dict] = []

    def images(self, b: int, alignment: Alignment | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The raw data warped by ``alignment`` (default: the current one) and binned, and where they
        exist (pixels brought in from outside the raw field of view are missing, not vacuum)."""
        a = self.alignment if alignment is None else alignment
        inside = warp(self.ones, a, order=1)
        return binned(warp(self.raw, a, order=self.order), b), binned(inside, b) > 0.999

    def refine(self, b: int, level: int, max_iterations: int, tol: float) -> bool:
        """Steps 1–5 at binning ``b`` until every correction is below ``tol`` binned px."""
        for _ in range(max_iterations):
            t0 = time.perf_counter()
            data, valid = self.images(b)
            nx = data.shape[2]
            cols = informative_columns(data, self.n_columns)
            reproj, _ = reproject(data, self.tilts, cols, iterations=self.sirt_iterations, holdout=True,
                                  n_jobs=self.n_jobs, valid=None if valid.all() else valid)
            sub, ok = data[:, :, cols], valid[:, :, cols]
            residual = float(np.linalg.norm((reproj - sub)[ok]) / max(np.linalg.norm(sub[ok]), 1e-30))
            # missing data take the re-projection's values, so they do not pull the registration
            data[:, :, cols] = np.where(ok, sub, reproj)
            per_tilt, offset = split_gauge(tilt_corrections(data, reproj, cols, self.upsample_factor),
                                           self.tilts)
            rotation = 0.0
            if self.fit_rotation:
                blocks = block_offsets(data, reproj, cols, self.tilts, min(8, max(3, len(cols) // 4)),
                                       self.upsample_factor)
                axis = axis_update(*blocks, nx)
                if axis is not None:
                    rotation, offset = axis
                    # never beyond max_rotation in total
                    rotation = float(np.clip(self.alignment.rotation + rotation, -self.max_rotation,
                                             self.max_rotation) - self.alignment.rotation)
            # each half of the tilts is registered to the other's prediction, so a relative error Δ
            # between the halves is measured as +Δ on one and −Δ on the other: half a step each
            # (full steps swap the halves into a two-cycle). Offset and rotation move both halves.
            shift_rms = float(np.sqrt(np.mean(np.sum(per_tilt**2, axis=1))))
            self.alignment = self.alignment.then(shifts=0.5 * per_tilt * b, rotation=rotation,
                                                 translation=(offset * b, 0.0))
            edge = np.radians(abs(rotation)) * nx / 2  # displacement of the end columns, binned px
            self.record(level, b, residual, shift_rms * b, offset * b, rotation, time.perf_counter() - t0)
            if max(shift_rms, abs(offset), edge) < tol:
                return True
        return False

    def score(self, b: int, alignment: Alignment, columns) -> float:
        """Held-out re-projection residual of ``alignment`` at binning ``b`` (SIRT-30, missing data
        ignored) over ``columns``."""
        data, valid = self.images(b, alignment)
        return reprojection_residual(data, self.tilts, columns=columns, iterations=SCORE_ITERATIONS,
                                     holdout=True, valid=valid, n_jobs=self.n_jobs)

    def record(self, level, b, residual, shift_rms, offset, rotation, seconds):
        entry = {"stage": self.stage, "level": int(level), "binning": int(b), "residual": float(residual),
                 "shift_change": float(shift_rms), "offset_change": float(offset),
                 "rotation_change": float(rotation), "rotation": float(self.alignment.rotation),
                 "offset": float(self.alignment.offset), "seconds": float(seconds)}
        self.history.append(entry)
        if self.bar is not None:
            self.bar.update()
            self.bar.set_postfix(bin=b, residual=f"{residual:.4f}", rotation=f"{self.alignment.rotation:.2f}°")


INITIAL = ("auto", "PC+CoM", "PC", "CoM", None)


def initial_alignment(raw, tilts, current: Alignment, initial, *, fit_rotation: bool, max_rotation: float):
    """The starting alignment of projection matching (see :func:`projection_match`, ``initial``)
    in pixels of ``raw``, and the steps taken (e.g. ``'PC+CoM'``, ``'none'``)."""
    import warnings

    from .register import estimate_shifts
    from .tiltaxis import TiltAxisWarning, estimate_tilt_axis

    n = len(raw)
    if initial == "auto":
        pc = not np.any(current.shifts)
        com = fit_rotation and not (current.rotation or current.offset)
        initial = "+".join(k for k, on in (("PC", pc), ("CoM", com)) if on) or None
    start, steps = Alignment(np.zeros((n, 2))), []
    if initial and "PC" in initial:
        start = Alignment(estimate_shifts(raw, tilts, method="PC", progress=False))
        steps.append("PC")
    if initial and "CoM" in initial:
        try:
            with warnings.catch_warnings():  # its refusals are safe starts; PM reports its own result
                warnings.simplefilter("ignore", TiltAxisWarning)
                est = estimate_tilt_axis(warp(raw, start), tilts, method="CoM", max_rotation=max_rotation)
            start = start.then(rotation=est["rotation"], translation=(est["offset"], 0.0))
            steps.append(f"CoM ({est['chosen']})")
        except ValueError:  # no column fits the centre-of-mass model: start from no correction
            steps.append("CoM (not applicable)")
    return start, "+".join(steps) or "none"


def match_projections(raw: np.ndarray, tilts, *, alignment: Alignment | None = None, binning=None,
                      max_iterations: int = 20, sirt_iterations: int = COLD_ITERATIONS, tol: float = 0.02,
                      fit_rotation: bool = True, axis_levels: str = "finest", max_rotation: float = 10.0,
                      n_columns: int = 32, upsample_factor: int = 20, order: int = 1, n_jobs=None,
                      progress: bool = True) -> dict:
    """Projection matching on an array stack (see the module docstring and
    :func:`projection_match`).

    Two stages: per-tilt shifts (and the offset) over the whole pyramid with the rotation fixed,
    then, with ``fit_rotation``, shifts, offset and rotation together at the finest level only
    (``axis_levels='finest'``, for a start that already carries an axis estimate) or over the
    whole pyramid (``'all'``). The start and each stage's result are scored by the held-out
    re-projection residual at the finest level, and the best is returned.

    Parameters
    ----------
    raw : ndarray (n_tilts, ny, nx)
        Projections with vacuum at 0.
    alignment : Alignment, optional
        Starting alignment in pixels of ``raw`` (default: none).

    Returns
    -------
    dict
        ``alignment`` (the best candidate, from ``raw``), ``chosen`` (its name: ``'start'``,
        ``'shifts'`` or ``'axis'``), ``scores`` (held-out residual of each candidate),
        ``candidates``, ``history`` (one entry per pass: stage, level, binning, residual, corrections
        in full-resolution pixels and degrees, rotation, offset, seconds), ``binning``,
        ``converged`` (every stage ended below ``tol``).
    """
    if axis_levels not in ("finest", "all"):
        raise ValueError(f"axis_levels: expected 'finest' or 'all', got {axis_levels!r}")
    raw = np.asarray(raw, dtype=np.float32)
    n = len(raw)
    levels = pyramid(raw.shape[1:], binning)
    start = alignment if alignment is not None else Alignment(np.zeros((n, 2)))
    stages = [("shifts", list(enumerate(levels)), False)]
    if fit_rotation:
        axis = list(enumerate(levels)) if axis_levels == "all" else [(len(levels) - 1, levels[-1])]
        stages.append(("axis", axis, True))
    candidates = {"start": start}
    total = sum(len(lv) for _, lv, _ in stages) * max_iterations
    converged = True
    with tqdm(total=total, desc="projection matching", disable=not progress, leave=False) as bar:
        m = _Matcher(raw, tilts, start, sirt_iterations=sirt_iterations, upsample_factor=upsample_factor,
                     max_rotation=max_rotation, n_columns=n_columns, order=order, n_jobs=n_jobs, bar=bar)
        for name, lv, fit in stages:
            m.stage, m.fit_rotation = name, fit
            for level, b in lv:
                ok = m.refine(b, level, max_iterations, tol)
            converged &= ok
            candidates[name] = m.alignment
        # the same columns for every candidate: those of the start
        cols = informative_columns(m.images(levels[-1], start)[0], max(n_columns, SCORE_COLUMNS))
        scores = {key: m.score(levels[-1], a, cols) for key, a in candidates.items()}
    # a later stage must beat the chosen earlier one by more than the scoring noise (on the NIST
    # needle, rotations 0.2° apart score within 0.03 %, and their order changes with the columns)
    chosen = "start"
    for key in list(candidates)[1:]:
        if scores[key] < scores[chosen] * (1 - CHECK_TOLERANCE):
            chosen = key
    return {"alignment": candidates[chosen], "chosen": chosen, "scores": scores, "candidates": candidates,
            "history": m.history, "binning": levels, "converged": bool(converged)}


def projection_match(stack: TomoStack, *, initial: str | None = "auto", binning=None, max_iterations: int = 20,
                     sirt_iterations: int = COLD_ITERATIONS, tol: float = 0.02, fit_rotation: bool = True,
                     max_rotation: float = 10.0, n_columns: int = 32, upsample_factor: int = 20,
                     order: int = 1, n_jobs: int | None = None, progress: bool = True) -> TomoStack:
    """Align a tilt series by projection matching: per-tilt shifts, tilt-axis offset and rotation.

    See the module docstring for the method; ``stack_register(stack, "PM", **options)`` calls this.

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
        HAADF or spectral sum-image series, tilt axis roughly along ``x``; raw or already aligned
        (e.g. by ``stack_register("PC")``), in which case PM refines that alignment. A clear detector
        offset is removed internally (vacuum → 0); the output keeps the data's units.
    initial : {'auto', 'PC+CoM', 'PC', 'CoM', None}
        Estimates to start from: ``'PC'`` chains phase correlation (brings large drifts within
        reach of the first pass), ``'CoM'`` the centre-of-mass tilt axis of
        :func:`~spectomo.align.estimate_tilt_axis` with its safeguards (a start for offset and
        rotation, which projection matching alone corrects only slowly: on the NIST needle it
        settled 0.6° apart from two different starts, the better one by the held-out residual
        being the CoM start). ``'auto'``: PC when the stack carries no shifts yet, CoM when it
        carries no tilt-axis correction yet (and ``fit_rotation``).
    binning : sequence of int, optional
        Pyramid levels, coarse to fine (default :func:`pyramid`: e.g. ``[8, 4, 2]`` for 256² px).
        The finest level sets the precision (about a tenth of its pixel).
    max_iterations : int
        Passes per level at most.
    sirt_iterations : int
        Non-negative SIRT iterations of each reconstruction.
    tol : float
        A level ends when the RMS per-tilt correction, the offset correction and the displacement
        of the end columns by the rotation correction are all below ``tol`` binned pixels.
    fit_rotation : bool
        Estimate the tilt-axis rotation (otherwise it is left as it is).
    max_rotation : float
        Largest total rotation (degrees) allowed.
    n_columns : int
        Slices reconstructed per pass (spread over the columns that hold specimen).
    upsample_factor : int
        Sub-pixel precision of the registrations, 1/upsample_factor binned pixel.
    order : int
        Interpolation order of the warps (see :func:`spectomo.align.warp`).
    n_jobs : int, optional
        Threads for ASTRA (default: all cores).
    progress : bool
        Progress bar over the passes.

    Returns
    -------
    TomoStack
        The aligned stack; ``shifts``, ``tilt_axis_rotation`` and ``tilt_axis_offset`` hold the
        total transform from the raw data (so :func:`align_other` applies it to maps), and
        ``metadata.Tomography.Alignment_log`` the options, the per-pass history (level, binning,
        held-out re-projection residual, corrections, rotation, offset, seconds), the held-out
        residual of the start and of the result at the finest level, and whether it converged.

    Warns
    -----
    AlignmentWarning
        When a level did not converge in ``max_iterations``, or when the result predicts the held-out
        projections worse than the start (then the start is returned).
    """
    import warnings

    check_stack(stack, "stack")
    if initial not in INITIAL:
        raise ValueError(f"initial: expected one of {list(INITIAL)}, got {initial!r}")
    for value, name in ((max_iterations, "max_iterations"), (sirt_iterations, "sirt_iterations"),
                        (n_columns, "n_columns"), (upsample_factor, "upsample_factor")):
        whole_number(value, name)
    positive(tol, "tol", "a tolerance in binned pixels")
    if not 0 < max_rotation < 45:
        raise ValueError(f"max_rotation: expected a positive angle below 45°, got {max_rotation}")
    raw = vacuum_free(stack.data)
    start, steps = initial_alignment(raw, stack.tilts, alignment_of(stack), initial,
                                     fit_rotation=fit_rotation, max_rotation=max_rotation)
    res = match_projections(raw, stack.tilts, alignment=start, binning=binning, max_iterations=max_iterations,
                            sirt_iterations=sirt_iterations, tol=tol, fit_rotation=fit_rotation,
                            axis_levels="finest" if start.rotation or alignment_of(stack).rotation else "all",
                            max_rotation=max_rotation, n_columns=n_columns, upsample_factor=upsample_factor,
                            order=order, n_jobs=n_jobs, progress=progress)
    if res["chosen"] == "start":
        warnings.warn(f"stack_register('PM'): no stage predicts held-out projections better than the start "
                      f"(residuals {res['scores']}); returning the start", AlignmentWarning, stacklevel=3)
    elif not res["converged"]:
        warnings.warn(f"stack_register('PM'): not converged in {max_iterations} passes at binning "
                      f"{res['binning'][-1]} (tol={tol}); raise max_iterations or check the data",
                      AlignmentWarning, stacklevel=3)
    a = res["alignment"]
    total = alignment_of(stack).then(shifts=a.shifts, rotation=a.rotation, translation=(a.offset, 0.0))
    data = warp(np.asarray(stack.data), a, order=order, fill=vacuum_fill(stack.data))
    history = {key: [h[key] for h in res["history"]] for key in res["history"][0]} if res["history"] else {}
    return aligned_copy(stack, data, total, "stack_register", method="PM",
                        initial=steps,
                        binning=list(res["binning"]), max_iterations=int(max_iterations),
                        sirt_iterations=int(sirt_iterations), tol=float(tol), fit_rotation=bool(fit_rotation),
                        max_rotation=float(max_rotation), n_columns=int(n_columns),
                        upsample_factor=int(upsample_factor), shifts=a.shifts, rotation=float(a.rotation),
                        offset=float(a.offset), converged=bool(res["converged"]), chosen=res["chosen"],
                        scores=res["scores"], history=history,
                        candidates={k: {"rotation": float(c.rotation), "offset": float(c.offset)}
                                    for k, c in res["candidates"].items()})
