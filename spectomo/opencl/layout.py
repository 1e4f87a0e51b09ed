"""The batched array layout of spectomo's OpenCL solvers (``kernels/geometry.cl``).

A batch of volumes — every slice ``x`` along the tilt axis of every channel ``c`` — is one array
``[y][z][b]`` with ``b = x·n_channels + c`` innermost, padded with zeros to a multiple of the
work-item chunk; sinograms are ``[angle][detector][b]``; vector fields stack their components in
front, ``[k][y][z][b]``. The projection weights depend only on (pixel, angle), so one work item
serves a contiguous run of the batch. The projection geometry itself is
:mod:`spectomo.geometry.convention`'s.
"""

from __future__ import annotations

import numpy as np

from ..geometry.convention import angle_coefficients

__all__ = ["BatchGeometry", "to_batch", "from_batch", "sinograms_to_batch", "sinograms_from_batch"]


class BatchGeometry:
    """Sizes of a batched problem: ``n_slices`` × ``n_channels`` volumes ``(ny, nz)`` and
    ``len(tilts)`` projections of ``n_det`` detector pixels.

    Parameters
    ----------
    tilts : array_like (n_tilts,)
        Degrees, any order and spacing.
    ny, nz : int
        Slice size: detector direction at 0° (``y``) and beam direction at 0° (``z``).
    n_slices : int
        Slices along the tilt axis ``x``.
    n_channels : int
        Channels reconstructed together.
    n_det : int, optional
        Detector pixels (default ``ny``).
    chunk : int
        Batch entries per work item (the batch is padded to a multiple of it).
    """

    def __init__(self, tilts, ny: int, nz: int, n_slices: int, n_channels: int = 1, *,
                 n_det: int | None = None, chunk: int = 8):
        self.tilts = np.asarray(tilts, dtype=float).reshape(-1)
        self.ny, self.nz, self.nx, self.nc = int(ny), int(nz), int(n_slices), int(n_channels)
        self.ndet = int(n_det or ny)
        self.chunk = int(chunk)
        b = self.nx * self.nc
        self.bp = -(-b // self.chunk) * self.chunk
        self.angles = angle_coefficients(self.tilts).ravel()

    @property
    def n_angles(self) -> int:
        return len(self.tilts)

    @property
    def vol_shape(self) -> tuple[int, int, int]:
        return (self.ny, self.nz, self.bp)

    @property
    def sino_shape(self) -> tuple[int, int, int]:
        return (self.n_angles, self.ndet, self.bp)

    @property
    def n_vox(self) -> int:
        """Entries of one batched volume (padding included)."""
        return self.ny * self.nz * self.bp

    @property
    def n_sino(self) -> int:
        """Entries of one batched sinogram stack (padding included)."""
        return self.n_angles * self.ndet * self.bp

    def kernel_args(self) -> dict:
        """The geometry's scalar kernel arguments by name (``GEOM_ARGS``, ``ndet``, ``nang``), int32."""
        return {k: np.int32(v) for k, v in (("ny", self.ny), ("nz", self.nz), ("nx", self.nx), ("bp", self.bp),
                                            ("ndet", self.ndet), ("nang", self.n_angles))}


def to_batch(volumes, geom: BatchGeometry, dtype=np.float32) -> np.ndarray:
    """Volumes ``(nx, ny, nz)`` per channel (a list) → batched ``(ny, nz, bp)``."""
    out = np.zeros(geom.vol_shape, dtype=dtype)
    stacked = np.stack([np.asarray(v, dtype=dtype) for v in volumes], axis=-1)  # (nx, ny, nz, nc)
    out[:, :, : geom.nx * geom.nc] = stacked.transpose(1, 2, 0, 3).reshape(geom.ny, geom.nz, -1)
    return out


def from_batch(batched: np.ndarray, geom: BatchGeometry) -> list[np.ndarray]:
    """Batched ``(ny, nz, bp)`` → list of ``(nx, ny, nz)`` volumes, one per channel."""
    b = np.asarray(batched)[:, :, : geom.nx * geom.nc].reshape(geom.ny, geom.nz, geom.nx, geom.nc)
    return [np.ascontiguousarray(b[..., c].transpose(2, 0, 1)) for c in range(geom.nc)]


def sinograms_to_batch(projections, geom: BatchGeometry, dtype=np.float32) -> np.ndarray:
    """Projection stacks ``(n_tilts, ny, nx)`` per channel (a list) → ``(n_tilts, n_det, bp)``."""
    out = np.zeros(geom.sino_shape, dtype=dtype)
    stacked = np.stack([np.asarray(p, dtype=dtype) for p in projections], axis=-1)  # (t, ny, nx, nc)
    out[:, :, : geom.nx * geom.nc] = stacked.reshape(geom.n_angles, geom.ndet, -1)
    return out


def sinograms_from_batch(batched: np.ndarray, geom: BatchGeometry) -> list[np.ndarray]:
    """Inverse of :func:`sinograms_to_batch`: list of ``(n_tilts, ny, nx)`` stacks."""
    b = np.asarray(batched)[:, :, : geom.nx * geom.nc].reshape(geom.n_angles, geom.ndet, geom.nx, geom.nc)
    return [np.ascontiguousarray(b[..., c]) for c in range(geom.nc)]
