"""Drift-corrected averages of multi-frame exposures (ETSpy's ``utils.multiaverage`` and
``utils.register_serialem_stack``).

SerialEM can record each tilt as several short frames; the specimen drifts between them, so a plain
sum blurs. Each frame is registered to the first by phase correlation (to 1/10 px) and shifted back
(linear interpolation, edges repeated), and the registered frames are averaged.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["multiaverage", "register_serialem_stack"]


def multiaverage(frames) -> np.ndarray:
    """The drift-corrected mean of one tilt's frames ``(n_frames, ny, nx)`` → ``(ny, nx)`` float32."""
    from scipy import ndimage
    from skimage.registration import phase_cross_correlation

    f = np.asarray(frames, dtype=np.float64)
    if f.ndim != 3 or f.shape[0] < 1:
        raise ValueError(f"frames: expected (n_frames, ny, nx), got shape {f.shape}")
    out = f[0].copy()
    for frame in f[1:]:
        shift, _, _ = phase_cross_correlation(f[0], frame, upsample_factor=10, normalization=None)
        out += ndimage.shift(frame, shift, order=1, mode="nearest")
    return (out / f.shape[0]).astype(np.float32)


def register_serialem_stack(stack, tilts=None, *, ncpus: int = 1):
    """A tilt series from multi-frame data ``(n_tilts, n_frames, ny, nx)``: each tilt's frames
    registered and averaged (:func:`multiaverage`).

    Parameters
    ----------
    stack : ndarray or HyperSpy signal (n_tilts, n_frames, ny, nx), or a list of multi-frame files
        Files are read as ``spectomo.load(files, tilts, frames='register')`` reads them: tilts from
        the SerialEM header or ``.mdoc``, sorted by tilt.
    tilts : array_like (n_tilts,), optional
        Degrees; default the files' tilts, or a signal's ``metadata.Tomography.tilts``.
    ncpus : int
        Tilts registered in parallel (threads).

    Returns
    -------
    TomoStack (n_tilts, ny, nx)
    """
    from ..signals import TomoStack

    if isinstance(ncpus, bool) or int(ncpus) < 1:
        raise ValueError(f"ncpus: expected a positive number of threads, got {ncpus!r}")
    if isinstance(stack, (list, tuple)):
        from .files import load

        return load(list(stack), tilts, frames="register")
    data = np.asarray(stack.data if hasattr(stack, "data") else stack)
    if tilts is None and hasattr(stack, "metadata"):
        tilts = stack.metadata.get_item("Tomography.tilts")
    axes = stack.axes_manager.signal_axes if hasattr(stack, "axes_manager") else None
    if data.ndim != 4:
        raise ValueError(f"stack: expected multi-frame data (n_tilts, n_frames, ny, nx), got shape {data.shape}")
    with ThreadPoolExecutor(max_workers=int(ncpus)) as pool:
        images = np.stack(list(pool.map(multiaverage, data)))
    out = TomoStack(images, tilts=tilts)
    if axes is not None:
        for ax, src in zip(out.axes_manager.signal_axes, axes):
            ax.scale, ax.offset, ax.units = src.scale, src.offset, src.units
    out.metadata.set_item("Tomography.Preprocessing_log", [{"step": "register_serialem_stack",
                                                             "frames": int(data.shape[1]), "upsample_factor": 10}])
    return out
