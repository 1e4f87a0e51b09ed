"""Image masks (ETSpy's ``get_radial_mask``)."""

from __future__ import annotations

import numpy as np

__all__ = ["radial_mask"]


def radial_mask(shape, center=None) -> np.ndarray:
    """A disc: True within the largest circle around ``center`` that stays inside the image.

    Parameters
    ----------
    shape : (rows, cols)
    center : (x, y), optional
        Column and row of the centre (ETSpy's order); default the middle, ``(cols // 2, rows // 2)``.

    Returns
    -------
    ndarray of bool, shape ``(rows, cols)``
    """
    rows, cols = (int(v) for v in shape)
    if rows < 1 or cols < 1:
        raise ValueError(f"shape: expected (rows, cols) ≥ 1, got {shape!r}")
    cx, cy = (cols // 2, rows // 2) if center is None else (float(center[0]), float(center[1]))
    radius = min(cx, cy, cols - cx, rows - cy)
    if radius <= 0:
        raise ValueError(f"center: {center!r} lies on or outside the border of a {rows} × {cols} image")
    yy, xx = np.ogrid[:rows, :cols]
    return np.hypot(xx - cx, yy - cy) < radius
