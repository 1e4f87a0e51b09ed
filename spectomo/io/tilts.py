"""Where a tilt series' angles come from: the file itself, or a sidecar file beside it.

Inside the file (:func:`internal_tilts`), in this order:

* ``metadata.Tomography.tilts`` — written by spectomo (an array) or by ETSpy (a ``TomoTilts``
  signal, converted by :mod:`spectomo.io.etspy`);
* MRC: the FEI/Thermo Fisher extended header (``a_tilt`` per image, as RosettaSciIO reads it), or
  a SerialEM extended header (``NINT`` bytes per image, flag 1 of ``NREAL``: tilt × 100 as int16);
* Digital Micrograph: the Tomography plug-in's per-projection ``stage angle (degree)`` (tracking
  data), else its minimum / step / maximum.

Beside the file (:func:`find_tilts`): IMOD ``.rawtlt`` / ``.tlt`` (one angle per line) or a SerialEM
``.mdoc`` (``TiltAngle`` per ``[ZValue = k]``). A sidecar is used only when the file has no
angles of its own, so a ``.dm3`` never picks up the ``.rawtlt`` of an ``.mrc`` with the same stem.
For a list of single images, each image's stage tilt (``Acquisition_instrument.TEM.Stage.tilt_alpha``)
is its angle (:func:`stage_tilt`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

__all__ = ["TiltsNotFoundError", "read_tilt_file", "read_mdoc_tilts", "find_tilts", "find_tilt_file",
           "internal_tilts", "mrc_tilts", "serialem_tilts", "dm_tilts", "stage_tilt"]

_DM_TOMO = "ImageList.TagGroup0.ImageTags.Tomography"


class TiltsNotFoundError(FileNotFoundError):
    """No tilt angles were given and none could be found in or next to the data file."""


def read_tilt_file(path) -> np.ndarray:
    """Read an IMOD ``.rawtlt``/``.tlt`` file: one tilt angle (degrees) per non-empty line."""
    values = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            values.append(float(line.split()[0]))
        except ValueError as err:
            raise ValueError(f"{path}:{lineno}: expected a tilt angle in degrees, got {line!r}") from err
    return np.asarray(values, dtype=float)


def read_mdoc_tilts(path) -> np.ndarray:
    """Read tilt angles (degrees) from a SerialEM ``.mdoc``, ordered by ``ZValue``."""
    zvalue, tilts = None, {}
    for line in Path(path).read_text(errors="replace").splitlines():
        m = re.match(r"\s*\[ZValue\s*=\s*(\d+)\s*\]", line)
        if m:
            zvalue = int(m.group(1))
            continue
        m = re.match(r"\s*TiltAngle\s*=\s*([-+0-9.eE]+)", line)
        if m and zvalue is not None:
            tilts[zvalue] = float(m.group(1))
    if not tilts:
        raise ValueError(f"{path}: no 'TiltAngle' entries under '[ZValue = k]' sections")
    return np.asarray([tilts[k] for k in sorted(tilts)], dtype=float)


def _sidecars(path) -> list[Path]:
    p = Path(path)
    return [p.with_suffix(".rawtlt"), p.with_suffix(".tlt"), Path(str(p) + ".mdoc"), p.with_suffix(".mdoc")]


def find_tilts(path) -> np.ndarray | None:
    """Look for a tilt file next to ``path``; return the angles or None if there is none."""
    found = find_tilt_file(path)
    if found is None:
        return None
    return read_mdoc_tilts(found) if found.suffix == ".mdoc" else read_tilt_file(found)


def find_tilt_file(path) -> Path | None:
    """The first sidecar tilt file beside ``path`` (``.rawtlt``, ``.tlt``, ``<name>.mdoc``, ``.mdoc``)."""
    return next((c for c in _sidecars(path) if c.exists()), None)


def serialem_tilts(path) -> np.ndarray | None:
    """Tilt angles from a SerialEM MRC extended header (``EXTTYP`` ``'SERI'``; ``NINT`` bytes per
    image; bit 1 of ``NREAL``: the tilt × 100 as int16 first), or None."""
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if len(head) < 1024 or head[104:108] != b"SERI":
        return None
    nz, next_ = (int(v) for v in np.frombuffer(head[8:12] + head[92:96], dtype="<i4"))
    nint, nreal = (int(v) for v in np.frombuffer(head[128:132], dtype="<i2"))
    if nz < 1 or nint < 2 or not nreal & 1 or next_ < nz * nint:
        return None
    raw = np.fromfile(path, dtype=np.uint8, count=nz * nint, offset=1024)
    if raw.size < nz * nint:
        return None
    return np.frombuffer(raw.reshape(nz, nint)[:, :2].tobytes(), dtype="<i2").astype(float) / 100.0


def mrc_tilts(sig, path) -> np.ndarray | None:
    """Tilts from an MRC file's extended header (FEI ``a_tilt``, or SerialEM), or None."""
    om = sig.original_metadata
    n = sig.data.shape[0] if sig.data.ndim == 3 else 1
    if om.has_item("fei_header.a_tilt"):
        a = np.asarray(om.get_item("fei_header.a_tilt"), dtype=float).reshape(-1)[:n]
        if a.size == n and np.any(a != 0):
            return a
    t = serialem_tilts(path)
    return t[:n] if t is not None and t.size >= n else None


def dm_tilts(sig) -> np.ndarray | None:
    """Tilts from the Digital Micrograph Tomography plug-in's tags, or None."""
    om = sig.original_metadata
    if not om.has_item(_DM_TOMO):
        return None
    n = sig.data.shape[0] if sig.data.ndim == 3 else 1
    track = om.get_item(f"{_DM_TOMO}.Tracking data.Online tracking data")
    if track is not None:
        per = {}
        for group in track.as_dictionary().values():
            if isinstance(group, dict) and "stage angle (degree)" in group:
                per[int(group.get("Index in series", len(per)))] = float(group["stage angle (degree)"])
        if len(per) == n and sorted(per) == list(range(n)):
            return np.asarray([per[i] for i in range(n)])
    ta = om.get_item(f"{_DM_TOMO}.Tomography setup.Tilt angles")
    if ta is not None:
        d = ta.as_dictionary()
        try:
            lo, hi, step = (float(d[k]) for k in ("Minimum tilt angle (deg)", "Maximum tilt angle (deg)",
                                                 "Tilt angle step (deg)"))
        except (KeyError, TypeError, ValueError):
            return None
        t = lo + step * np.arange(n)
        if step > 0 and np.isclose(t[-1], hi):
            return t
    return None


def stage_tilt(sig) -> float | None:
    """The stage alpha tilt (degrees) recorded with a single image, or None."""
    v = sig.metadata.get_item("Acquisition_instrument.TEM.Stage.tilt_alpha")
    return None if v is None else float(v)


def internal_tilts(sig, path) -> tuple[np.ndarray | None, str | None]:
    """``(tilts, source)`` found inside the loaded file ``path`` (module docstring), or ``(None, None)``."""
    suffix = Path(path).suffix.lower()
    if suffix in (".mrc", ".ali", ".st", ".mrcs", ".rec"):
        t = mrc_tilts(sig, path)
        if t is not None:
            return t, "MRC extended header"
    if suffix in (".dm3", ".dm4"):
        t = dm_tilts(sig)
        if t is not None:
            return t, "Digital Micrograph tomography tags"
    return None, None
