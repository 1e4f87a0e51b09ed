"""A tilt series from a list of files, one per tilt (Digital Micrograph images, SerialEM frames, EDS
spectrum images).

Each file gives one projection and one angle: a single image with its stage tilt
(``Acquisition_instrument.TEM.Stage.tilt_alpha``; DM files carry it), or a multi-frame file whose
frames share one tilt (SerialEM multi-frame MRC: angles from the extended header or the ``.mdoc``
beside it), whose frames are added (``frames='sum'``, counts kept) or averaged. The projections are
sorted by tilt, as ETSpy does, unless ``tilts=`` gives the angles in the list's order. EDS
spectrum images (one per tilt, e.g. per-tilt ``.bcf``/``.emd`` files with ``signal="EDS"``) are
stacked into one signal with navigation ``(tilt, y, x)`` for :func:`spectomo.extract_maps`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..geometry.detector import record_vendor_geometry
from .vendor import eds_as_tem
from ..signals import NODE, TomoStack, warn_vacuum_offset
from .tilts import TiltsNotFoundError, find_tilts, internal_tilts, read_mdoc_tilts, stage_tilt

__all__ = ["load_series"]


def _angle(sig, path: Path, mdoc=None) -> float | None:
    """One file's tilt: the stage tilt of a single image, or the common angle of its frames."""
    if sig.data.ndim == 2:
        t = stage_tilt(sig)
        if t is not None:
            return t
    inner, _ = internal_tilts(sig, path)
    if inner is None:
        inner = read_mdoc_tilts(mdoc) if mdoc is not None else find_tilts(path)
    if inner is None or not len(inner):
        return None
    if np.ptp(inner) > 0.1:
        raise ValueError(f"path: {path.name} holds frames at different tilts ({inner.min():g}° to {inner.max():g}°); "
                         "load it on its own as a tilt series")
    return float(np.mean(inner))


def _order(paths: list, tilts, angle) -> tuple[np.ndarray, np.ndarray, str]:
    """``(angles, order, source)``: the given tilts in list order, else each file's angle, sorted."""
    if tilts is not None:
        angles = np.asarray(tilts, dtype=float).reshape(-1)
        if angles.size != len(paths):
            raise ValueError(f"tilts: {angles.size} angles for {len(paths)} files")
        return angles, np.arange(len(paths)), "given"
    found = [angle(i) for i in range(len(paths))]
    missing = [p.name for p, a in zip(paths, found) if a is None]
    if missing:
        raise TiltsNotFoundError(f"no tilt angle for {', '.join(missing)} (no stage tilt in the metadata, no "
                                 "angle in the file or a .mdoc/.rawtlt beside it): pass tilts=[...] in degrees")
    angles = np.asarray(found)
    return angles, np.argsort(angles, kind="stable"), "each file's stage tilt or SerialEM angle"


def _spectrum_series(paths: list, sigs: list, tilts):
    """One EDS spectrum image per file → one signal with navigation ``(tilt, y, x)``, sorted by tilt
    (each file's stage tilt, as Bruker and Velox record it), lazy when the files were read lazily."""
    import hyperspy.api as hs

    shapes = {p.name: (tuple(s.axes_manager.navigation_shape), s.axes_manager.signal_axes[0].size)
              for p, s in zip(paths, sigs)}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"path: the spectrum images differ in size and cannot be stacked: {shapes}")
    e0 = sigs[0].axes_manager.signal_axes[0]
    for p, s in zip(paths, sigs):
        e = s.axes_manager.signal_axes[0]
        if not (np.isclose(e.scale, e0.scale, rtol=1e-6) and np.isclose(e.offset, e0.offset, atol=abs(e0.scale) / 10)):
            raise ValueError(f"path: {p.name} has another energy axis (offset {e.offset:g}, scale {e.scale:g}) than "
                             f"{paths[0].name} ({e0.offset:g}, {e0.scale:g}); calibrate them alike first")
    for sig in sigs:
        eds_as_tem(sig)
        record_vendor_geometry(sig)
    angles, order, source = _order(paths, tilts, lambda i: stage_tilt(sigs[i]))
    stacked = hs.stack([sigs[i] for i in order], new_axis_name="Projections", show_progressbar=False)
    stacked.metadata.set_item(f"{NODE}.tilts", angles[order])
    stacked.metadata.set_item(f"{NODE}.tilts_source", source)
    stacked.metadata.set_item("General.original_filenames", [paths[i].name for i in order])
    ax = stacked.axes_manager.navigation_axes[-1]
    ax.units = "degrees"
    return stacked


def load_series(paths: list, tilts=None, *, lazy: bool = False, frames: str = "sum", signal=None, mdocs=None,
                **kwargs):
    """A :class:`TomoStack` from one file per tilt (module docstring); see :func:`spectomo.load`."""
    from .files import _read, pick_signal

    sigs = [pick_signal(_read(p, lazy=lazy, **kwargs), signal, p) for p in paths]
    if all(s.axes_manager.signal_dimension == 1 and s.axes_manager.navigation_dimension == 2 for s in sigs):
        return _spectrum_series(paths, sigs, tilts)
    images, shapes = [], {}
    for p, s in zip(paths, sigs):
        data = np.asarray(s.data, dtype=np.float32)
        if data.ndim == 3:
            if frames == "register":
                from .frames import multiaverage

                data = multiaverage(data)
            else:
                data = data.sum(axis=0) if frames == "sum" else data.mean(axis=0)
        elif data.ndim != 2:
            raise ValueError(f"path: {p.name} holds data of shape {data.shape}; expected an image or frames")
        images.append(data)
        shapes[p.name] = data.shape
    if len(set(shapes.values())) > 1:
        raise ValueError(f"path: the images differ in shape and cannot be stacked: {shapes}")
    if mdocs is not None and len(mdocs) != len(paths):
        raise ValueError(f"mdocs: {len(mdocs)} files for {len(paths)} data files")
    angles, order, source = _order(paths, tilts,
                                   lambda i: _angle(sigs[i], paths[i], None if mdocs is None else mdocs[i]))
    first = sigs[order[0]]
    stack = TomoStack(np.stack([images[i] for i in order]), tilts=angles[order])
    for ax, src in zip(stack.axes_manager.signal_axes, first.axes_manager.signal_axes):
        ax.scale, ax.offset, ax.units = src.scale, src.offset, src.units
    md = first.metadata.as_dictionary()
    stack.metadata.add_dictionary({k: v for k, v in md.items() if k in ("Acquisition_instrument", "General")})
    stack.metadata.set_item(f"{NODE}.tilts_source", source)
    stack.metadata.set_item("General.original_filenames", [paths[i].name for i in order])
    stack.metadata.set_item("General.title", first.metadata.General.title or paths[order[0]].stem)
    warn_vacuum_offset(stack.data, paths[order[0]].name, "The data are kept as stored.")
    return stack
