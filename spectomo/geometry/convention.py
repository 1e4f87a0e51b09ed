"""spectomo's projection geometry, stated once.

Every projector in spectomo follows this module: the OpenCL kernels (``kernels/projector.cl``),
their NumPy twins (:mod:`spectomo.opencl.twins`, built on :func:`radon_matrix`), the ASTRA wrappers
(:mod:`spectomo.geometry.astra`) and the simulator. The tests check that they agree.

Axes (as in ETSpy)
------------------
* A tilt series (``TomoStack``) is ``(n_tilts, ny, nx)``. The tilt axis runs along the image ``x``,
  so the sinogram of slice ``i`` is ``stack.data[:, :, i]``, shape ``(n_tilts, ny)``
  (:func:`sinograms`).
* A volume (``RecStack``) is ``(nx, ny, nz)``. ``vol[i]`` is the ``(ny, nz)`` slice reconstructed
  from sinogram ``i``. ``z`` is the beam direction at 0° tilt, so the 0° projection of ``vol`` is
  ``vol.sum(axis=2).T``.

Projection
----------
Tilt angles are in degrees. At tilt ``θ``, the centre of pixel ``(y, z)`` of a slice falls on
detector position

    t = (y − (ny−1)/2) cos θ − (z − (nz−1)/2) sin θ + (n_det−1)/2

(:func:`detector_positions`). The discrete projector (Huber et al. 2019, eq. 8) spreads the pixel
over the two nearest bins with the hat function of width one bin: ``1 − f`` to bin ``⌊t⌋`` and
``f = t − ⌊t⌋`` to the next (:func:`radon_matrix`). This is ASTRA's parallel-beam orientation when
a slice is handed to ASTRA as an image with rows ``z`` and columns ``y`` (the transpose of the
slice), angles in radians and detector spacing 1 (:func:`spectomo.geometry.astra.astra_geometry`).
Values are integrated in voxel units: a volume in counts per voxel path length projects onto counts.
"""

from __future__ import annotations

import numpy as np

__all__ = ["angle_coefficients", "detector_positions", "radon_matrix", "sinograms", "rotation_matrix"]


def _tilts(tilts) -> np.ndarray:
    return np.asarray(tilts, dtype=float).reshape(-1)


def angle_coefficients(tilts) -> np.ndarray:
    """``(cos θ, −sin θ)`` per tilt, shape ``(n_tilts, 2)``: ``t`` is ``y'·c0 + z'·c1`` plus the
    detector centre, with ``y'``, ``z'`` measured from the slice centre."""
    th = np.deg2rad(_tilts(tilts))
    return np.stack([np.cos(th), -np.sin(th)], axis=1)


def detector_positions(tilts, ny: int, nz: int, n_det: int | None = None) -> np.ndarray:
    """Detector position ``t`` of every pixel centre, shape ``(n_tilts, ny·nz)`` (pixel ``y·nz + z``)."""
    n_det = int(n_det or ny)
    yy, zz = np.meshgrid(np.arange(ny) - (ny - 1) / 2, np.arange(nz) - (nz - 1) / 2, indexing="ij")
    c = angle_coefficients(tilts)
    return c[:, :1] * yy.ravel() + c[:, 1:] * zz.ravel() + (n_det - 1) / 2


def radon_matrix(tilts, ny: int, nz: int, n_det: int | None = None):
    """Sparse matrix ``(n_tilts·n_det, ny·nz)`` of the discrete projector for one slice.

    Row ``k·n_det + s`` is detector bin ``s`` at tilt ``k``; column ``y·nz + z`` is pixel ``(y, z)``.
    Each pixel adds ``1 − f`` to bin ``⌊t⌋`` and ``f`` to bin ``⌊t⌋ + 1`` (see the module docstring).
    """
    import scipy.sparse as sp

    n_det = int(n_det or ny)
    pos = detector_positions(tilts, ny, nz, n_det)
    pix = np.arange(ny * nz)
    rows, cols, vals = [], [], []
    for k, t in enumerate(pos):
        i0 = np.floor(t).astype(int)
        f = t - i0
        for i, w in ((i0, 1 - f), (i0 + 1, f)):
            ok = (i >= 0) & (i < n_det) & (w > 0)
            rows.append(k * n_det + i[ok])
            cols.append(pix[ok])
            vals.append(w[ok])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(len(pos) * n_det, ny * nz))


def rotation_matrix(degrees: float) -> np.ndarray:
    """In-plane image rotation ``R = [[cos, sin], [−sin, cos]]`` acting on ``(y, x)`` vectors: the
    tilt-axis rotation of :mod:`spectomo.align.transform` (counter-clockwise with ``y`` up; the
    same sense as ETSpy's ``trans_stack(angle=…)``)."""
    a = np.deg2rad(degrees)
    return np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])


def sinograms(projections) -> np.ndarray:
    """Projections ``(n_tilts, ny, nx)`` → float32 sinograms ``(nx, n_tilts, ny)``, one per slice."""
    return np.ascontiguousarray(np.asarray(projections, dtype=np.float32).transpose(2, 0, 1))
