"""ETSpy interoperability: ETSpy's metadata and objects in spectomo's terms.

ETSpy (1.x) keeps ``metadata.Tomography.tilts`` and ``.shifts`` as ``TomoTilts``/``TomoShifts``
signals, and the manual/tilt-axis transform as ``xshift``, ``yshift`` (ETSpy's signs: +y is up) and
``tiltaxis`` (degrees), applied after the shifts by ``trans_stack``. spectomo keeps arrays and the
same transform as ``shifts`` (corrections applied, ``(y, x)``, the same sign as ETSpy's),
``tilt_axis_rotation`` and ``tilt_axis_offset`` (along +y rows, after the rotation). The conversion
is exact: ``tiltaxis`` → ``tilt_axis_rotation``; ``yshift`` → ``tilt_axis_offset = −yshift``; the
translation ``xshift`` along ``x`` after the rotation → ``Rᵀ (0, xshift)`` added to every shift.

Volumes: ETSpy's ``RecStack`` is ``(nx, nz, ny)`` (each slice transposed); spectomo's is
``(nx, ny, nz)`` (docs/conventions.md). :func:`from_etspy` and :func:`to_etspy_volume` convert.
"""

from __future__ import annotations

import numpy as np

from ..geometry.convention import rotation_matrix
from ..signals import NODE, RecStack, TomoStack

__all__ = ["is_etspy", "etspy_metadata_to_spectomo", "from_etspy", "to_etspy_volume", "from_etspy_volume"]

_ETSPY_KEYS = ("xshift", "yshift", "tiltaxis", "cropped")


def _values(v) -> np.ndarray | None:
    """An array from an ETSpy TomoTilts/TomoShifts signal, an array, or None."""
    if v is None:
        return None
    return np.asarray(v if isinstance(v, np.ndarray) else getattr(v, "data", v), dtype=float)


def is_etspy(obj) -> bool:
    """True for an ETSpy signal (its class lives in ``etspy``) or one carrying ETSpy's tomography
    metadata (tilts held as a signal, or ``tiltaxis``/``xshift``/``yshift``)."""
    if type(obj).__module__.split(".")[0] == "etspy":
        return True
    md = getattr(obj, "metadata", None)
    if md is None or not md.has_item(NODE):
        return False
    from hyperspy.signal import BaseSignal

    tomo = md.get_item(NODE)
    return isinstance(tomo.get_item("tilts"), BaseSignal) or any(tomo.has_item(k) for k in ("tiltaxis", "xshift", "yshift"))


def etspy_metadata_to_spectomo(sig) -> bool:
    """Rewrite ETSpy's ``metadata.Tomography`` of ``sig`` in spectomo's terms, in place (module
    docstring); ETSpy's values are kept under ``Tomography.etspy``. Returns True if it changed anything."""
    md = sig.metadata
    if not md.has_item(NODE) or not is_etspy(sig):
        return False
    tomo = md.get_item(NODE)
    tilts = _values(tomo.get_item("tilts"))
    n = sig.data.shape[0] if sig.data.ndim == 3 else None
    shifts = _values(tomo.get_item("shifts"))
    kept = {k: float(tomo.get_item(k)) for k in _ETSPY_KEYS if tomo.get_item(k) is not None}
    rotation = kept.get("tiltaxis", 0.0)
    xshift, yshift = kept.get("xshift", 0.0), kept.get("yshift", 0.0)
    out = {}
    if tilts is not None:
        out["tilts"] = tilts.reshape(-1)
    if n is not None:
        s = np.zeros((n, 2)) if shifts is None or shifts.size != 2 * n else shifts.reshape(n, 2).copy()
        s += rotation_matrix(rotation).T @ np.array([0.0, xshift])  # x after the rotation → before it
        out.update(shifts=s, tilt_axis_rotation=rotation, tilt_axis_offset=-yshift)
    for key in ("tilts", "shifts", *_ETSPY_KEYS):
        if tomo.has_item(key):
            tomo.__delattr__(key)
    tomo.add_dictionary(out)
    tomo.set_item("etspy", {**kept, "converted_from": "ETSpy metadata.Tomography"})
    return True


def from_etspy(obj):
    """An ETSpy ``TomoStack`` or ``RecStack`` (or a signal with ETSpy's metadata) as spectomo's.

    Projections keep their layout ``(n_tilts, ny, nx)``; tilts, shifts and the tilt-axis transform
    are converted (module docstring). Volumes are transposed slice by slice from ETSpy's
    ``(nx, nz, ny)`` to ``(nx, ny, nz)``.
    """
    import hyperspy.api as hs

    kind = str(obj.metadata.get_item("Signal.signal_type", ""))
    data = np.asarray(obj.data)
    plain = hs.signals.Signal2D(data)
    plain.metadata.add_dictionary(obj.metadata.as_dictionary())
    # ETSpy's live objects hold tilts and shifts as attributes (TomoTilts/TomoShifts), files in metadata
    for key in ("tilts", "shifts"):
        held = getattr(obj, key, None) if type(obj).__module__.split(".")[0] == "etspy" else None
        if held is not None and not plain.metadata.has_item(f"{NODE}.{key}"):
            plain.metadata.set_item(f"{NODE}.{key}", _values(held))
    for ax, src in zip(plain.axes_manager._axes, obj.axes_manager._axes):
        ax.scale, ax.offset, ax.units, ax.name = src.scale, src.offset, src.units, src.name
    if kind == "RecStack" or type(obj).__name__ == "RecStack":
        rec = RecStack(from_etspy_volume(data))
        axes = obj.axes_manager.navigation_axes + obj.axes_manager.signal_axes
        for ax, src in zip(rec.axes_manager.navigation_axes + rec.axes_manager.signal_axes,
                           (axes[0], axes[1], axes[2]) if len(axes) == 3 else ()):
            ax.scale, ax.units = src.scale, src.units
        md = obj.metadata.as_dictionary()
        md.pop("Signal", None)
        md.pop("Tomography", None)
        md.pop("_HyperSpy", None)
        rec.metadata.add_dictionary(md)
        rec.metadata.set_item("Reconstruction.converted_from", "ETSpy RecStack (nx, nz, ny)")
        return rec
    etspy_metadata_to_spectomo(plain)
    tilts = plain.metadata.get_item(f"{NODE}.tilts")
    if tilts is None:
        raise ValueError("obj: an ETSpy stack without tilts; set them in ETSpy (stack.set_tilts) first")
    return TomoStack(plain, tilts=tilts)


def from_etspy_volume(data) -> np.ndarray:
    """An ETSpy volume ``(nx, nz, ny)`` (array or RecStack) in spectomo's layout ``(nx, ny, nz)``."""
    return np.ascontiguousarray(np.asarray(getattr(data, "data", data)).transpose(0, 2, 1))


def to_etspy_volume(rec) -> np.ndarray:
    """A spectomo volume ``(nx, ny, nz)`` in ETSpy's layout ``(nx, nz, ny)`` (a transposed copy)."""
    return np.ascontiguousarray(np.asarray(getattr(rec, "data", rec)).transpose(0, 2, 1))
