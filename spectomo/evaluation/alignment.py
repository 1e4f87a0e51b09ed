"""Alignment errors against a known truth, up to what no tilt series can determine."""

from __future__ import annotations

import numpy as np

from ..align.transform import Alignment, rotation_matrix

__all__ = ["alignment_errors"]


def alignment_errors(estimate: Alignment, truth: Alignment, tilts) -> dict:
    """Errors of an estimated alignment, ignoring the translations of the object it cannot see.

    A translation of the object inside the volume moves every projection by ``a cos θ + b sin θ``
    perpendicular to the axis and by a constant along it; no data constrain those, so they are
    removed from the shift errors (in the aligned frame, after the estimated rotation). The constant
    perpendicular part is the axis offset, so it is added to the offset error.

    Parameters
    ----------
    estimate, truth : Alignment
        E.g. ``alignment_of(stack)`` and, for :func:`spectomo.datasets.simulate` with drift ``d``,
        offset ``δ`` and rotation ``φ``, ``Alignment(−d, −φ, −δ)``.
    tilts : array_like (n_tilts,)
        Degrees.

    Returns
    -------
    dict
        ``shift_rms`` (px, per-tilt 2D RMS), ``shift_rms_y``, ``shift_rms_x``, ``rotation`` (degrees,
        signed) and ``offset`` (px, signed).
    """
    err = (np.asarray(estimate.shifts) - np.asarray(truth.shifts)) @ rotation_matrix(estimate.rotation).T
    theta = np.deg2rad(np.asarray(tilts, dtype=float))
    design = np.stack([np.ones_like(theta), np.cos(theta), np.sin(theta)], axis=1)
    coef, *_ = np.linalg.lstsq(design, err[:, 0], rcond=None)
    ey = err[:, 0] - design @ coef
    ex = err[:, 1] - err[:, 1].mean()
    return {"shift_rms": float(np.sqrt(np.mean(ey**2 + ex**2))), "shift_rms_y": float(np.sqrt(np.mean(ey**2))),
            "shift_rms_x": float(np.sqrt(np.mean(ex**2))),
            "rotation": float(estimate.rotation - truth.rotation),
            "offset": float(estimate.offset - truth.offset + coef[0])}
