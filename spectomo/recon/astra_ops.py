"""ASTRA helpers: id bookkeeping and the slice-wise parallel-beam forward projector.

Geometry (shared by every ASTRA call in spectomo): a volume ``vol[x, y, z]`` is projected slice by
slice along the tilt axis ``x``. Each slice ``vol[i]`` (``(ny, nz)``) is handed to ASTRA as an image
with rows ``z`` and columns ``y``, so that at 0° the beam runs along ``z`` and the detector along
``y``: the 0° projection is ``vol.sum(axis=2).T``. Tilt angles are ASTRA's parallel-beam angles in
degrees (converted to radians here).
"""

from __future__ import annotations

import contextlib

import numpy as np
from tqdm.auto import tqdm

__all__ = ["astra_ids", "forward_project"]


@contextlib.contextmanager
def astra_ids():
    """Collect ASTRA object ids and free every one on exit, even on error (never ``astra.clear``).

    Yields a ``track(kind, id)`` function; ``kind`` is ``'projector'``, ``'data2d'`` or
    ``'algorithm'``. Returns the id so it can wrap a create call.
    """
    import astra

    owned: list[tuple[str, int]] = []

    def track(kind: str, ident: int) -> int:
        owned.append((kind, ident))
        return ident

    try:
        yield track
    finally:
        for kind, ident in reversed(owned):
            getattr(astra, kind).delete(ident)


def forward_project(volumes, tilts, *, projector: str = "strip", progress: bool = False):
    """Parallel-beam projections of one or several volumes, slice by slice with ASTRA (CPU).

    Parameters
    ----------
    volumes : ndarray (nx, ny, nz) or sequence of them
        Volumes on the same grid. Values are integrated along the beam in voxel units (multiply by
        the voxel length to get physical line integrals).
    tilts : array_like, shape (n_tilts,)
        Tilt angles in degrees.
    projector : {'strip', 'linear', 'line'}
        ASTRA CPU projector model. ``'strip'`` (area-weighted) is the default.
    progress : bool
        Show a progress bar over slices.

    Returns
    -------
    ndarray (n_tilts, ny, nx) or list of them
        One projection stack per input volume, float32.
    """
    import astra

    single = isinstance(volumes, np.ndarray)
    vols = [volumes] if single else list(volumes)
    shape = vols[0].shape
    if any(v.shape != shape for v in vols) or len(shape) != 3:
        raise ValueError(f"volumes: expected equal (nx, ny, nz) shapes, got {[v.shape for v in vols]}")
    nx, ny, nz = shape
    angles = np.deg2rad(np.asarray(tilts, dtype=float))
    out = [np.empty((len(angles), ny, nx), dtype=np.float32) for _ in vols]
    with astra_ids() as track:
        vg = astra.create_vol_geom(nz, ny)
        pg = astra.create_proj_geom("parallel", 1.0, ny, angles)
        pid = track("projector", astra.create_projector(projector, pg, vg))
        op = astra.OpTomo(pid)
        for i in tqdm(range(nx), desc="projecting", disable=not progress, leave=False):
            for v, o in zip(vols, out):
                o[:, :, i] = op.FP(np.ascontiguousarray(v[i].T, dtype=np.float32))
    return out[0] if single else out
