"""Quick looks with ETSpy's names: ``test_align`` (a few slices reconstructed under a trial tilt-axis
shift and rotation) and ``RecStack.forward_project`` (projections of a volume)."""

from __future__ import annotations

import numpy as np

from ..geometry.astra import forward_project
from ..signals import RecStack, TomoStack, check_stack
from .astra import reconstruct

__all__ = ["test_align", "project_volume"]


def test_align(stack: TomoStack, tilt_shift: float = 0.0, tilt_rotation: float = 0.0, *, slices=None,
               thickness: int | None = None, method: str = "FBP", iterations: int = 50, constrain: bool = True,
               cuda=None, thresh: float = 0.0, vmin_std: float = 0.1, vmax_std: float = 10.0):
    """Reconstruct three slices after a trial correction, for a visual check of the alignment.

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
        An aligned (or registered) series.
    tilt_shift, tilt_rotation : float
        Trial correction: ``trans_stack(yshift=tilt_shift, angle=tilt_rotation)`` (ETSpy's signs).
    slices : sequence of 3 int, optional
        Columns ``x`` to reconstruct; default at 1/4, 1/2 and 3/4 of the width.
    thickness, method, iterations, constrain, cuda, thresh
        As for :func:`spectomo.reconstruct`.
    vmin_std, vmax_std : float
        Display range per slice: mean − ``vmin_std`` std (at least 0) to mean + ``vmax_std`` std.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels, one per slice, with a colour bar in the volume's units.
    """
    import matplotlib.pyplot as plt

    check_stack(stack, "stack")
    nx = stack.data.shape[2]
    cols = np.asarray([nx // 4, nx // 2, 3 * nx // 4] if slices is None else slices, dtype=int).reshape(-1)
    if cols.size != 3 or cols.min() < 0 or cols.max() >= nx:
        raise ValueError(f"slices: three column indices in [0, {nx - 1}] expected, got {slices!r}")
    trial = stack.trans_stack(yshift=tilt_shift, angle=tilt_rotation) if (tilt_shift or tilt_rotation) else stack
    part = TomoStack(np.ascontiguousarray(np.asarray(trial.data)[:, :, cols]), tilts=stack.tilts)
    rec = reconstruct(part, method, iterations=iterations, constrain=constrain, thickness=thickness, cuda=cuda,
                      thresh=thresh, progress=False).data
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, vol, col in zip(axes, rec, cols):
        lo = max(float(vol.mean() - vmin_std * vol.std()), 0.0)
        hi = float(vol.mean() + vmax_std * vol.std())
        im = ax.imshow(vol.T, cmap="afmhot", vmin=lo, vmax=hi if hi > lo else lo + 1, origin="lower")
        ax.set_title(f"Slice {col} (shift {tilt_shift:g} px, rotation {tilt_rotation:g}°)", fontsize=9)
        ax.set_xlabel("y (px)")
        ax.set_ylabel("z (px)")
        fig.colorbar(im, ax=ax, shrink=0.8, label="counts per voxel path length")
    fig.tight_layout()
    return fig


def project_volume(rec: RecStack, tilts) -> TomoStack:
    """Projections of a volume at ``tilts`` (degrees): a :class:`TomoStack` ``(n_tilts, ny, nx)`` with the
    volume's calibration, in spectomo's geometry (ETSpy's ``RecStack.forward_project``)."""
    from ..validation import tilt_angles

    t = tilt_angles(tilts, "tilts")
    vol = np.asarray(rec.data, dtype=np.float32)
    if vol.ndim == 2:
        vol = vol[None]
    if vol.ndim != 3:
        raise ValueError(f"rec: a volume (nx, ny, nz) expected, got shape {vol.shape}")
    proj = forward_project(vol, t, projector="linear")
    out = TomoStack(proj, tilts=t)
    am = rec.axes_manager
    if am.navigation_dimension == 1 and am.signal_dimension == 2:
        # image x ← the volume's x (navigation), image y ← its y (array axis 1 = signal_axes[1])
        for ax, src in zip(out.axes_manager.signal_axes, (am.navigation_axes[0], am.signal_axes[1])):
            ax.scale, ax.units = src.scale, src.units
    out.metadata.General.title = f"{rec.metadata.General.title or 'volume'} (projected)"
    return out
