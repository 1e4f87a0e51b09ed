"""Turning a reconstructed volume into a RecStack that carries its provenance."""

from __future__ import annotations

import numpy as np

from ..signals import NODE, RecStack, TomoStack


def rec_signal(vol: np.ndarray, stack: TomoStack, method_label: str, reconstruction: dict) -> RecStack:
    """A :class:`RecStack` ``(nx, ny, nz)`` from ``vol`` with ``stack``'s calibration and metadata.

    ``reconstruction`` goes to ``metadata.Reconstruction``, completed with the input's alignment
    (shifts, tilt-axis rotation and offset) and title; the title becomes ``"<title> (<label>)"``.
    """
    tilts = stack.tilts
    rec = RecStack(np.asarray(vol, dtype=np.float32), tilts=tilts)
    ax_x, ax_y = stack.axes_manager.signal_axes
    for ax, src in zip((rec.axes_manager.navigation_axes[0], *rec.axes_manager.signal_axes),
                       (ax_x, ax_x, ax_y)):  # x ← x; z gets the x pixel size; y ← y
        ax.scale, ax.units = src.scale, src.units
    title = stack.metadata.General.title or "stack"
    rec.metadata.General.title = f"{title} ({method_label})"
    src = stack.metadata.as_dictionary()
    rec.metadata.add_dictionary({k: src[k] for k in ("Acquisition_instrument", "Sample", "Spectral") if k in src})
    if stack.metadata.has_item("Signal.quantity"):
        rec.metadata.set_item("Signal.quantity", f"{stack.metadata.Signal.quantity} per voxel path length")
    md = stack.metadata.get_item(NODE)
    info = dict(reconstruction)
    info.update({"thickness": int(vol.shape[2]), "source": title, "shifts": np.asarray(stack.shifts),
                 "tilt_axis_rotation": float(md.get_item("tilt_axis_rotation", 0.0)),
                 "tilt_axis_offset": float(md.get_item("tilt_axis_offset", 0.0)),
                 "units": "counts per voxel path length"})
    rec.metadata.set_item("Reconstruction", info)
    return rec
