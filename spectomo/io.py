"""Loading tilt series and saving results (atomically).

:func:`load` reads anything HyperSpy/RosettaSciIO reads. Image stacks become :class:`TomoStack`
with tilt angles taken, in order of precedence, from ``tilts=``, from ``metadata.Tomography``
(``.hspy``/``.h5`` written by spectomo), or from a sidecar file next to the data: IMOD ``.rawtlt`` /
``.tlt`` (one angle per line) or a SerialEM ``.mdoc`` (``TiltAngle`` per ``[ZValue = k]`` section).

:func:`save` writes through HyperSpy's ``save`` into a temporary file in the target folder and
renames it into place, so a crash never leaves a half-written result under the final name.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .signals import NODE, LazyTomoStack, TiltMismatchError, TomoStack, warn_vacuum_offset
from .validation import existing_file

__all__ = ["load", "save", "atomic_path", "read_tilt_file", "read_mdoc_tilts", "find_tilts"]


class TiltsNotFoundError(FileNotFoundError):
    """No tilt angles were given and none could be found next to the data file."""


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
    for line in Path(path).read_text().splitlines():
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


def find_tilts(path) -> np.ndarray | None:
    """Look for a tilt file next to ``path``; return the angles or None if there is none."""
    p = Path(path)
    for cand in (p.with_suffix(".rawtlt"), p.with_suffix(".tlt")):
        if cand.exists():
            return read_tilt_file(cand)
    for cand in (Path(str(p) + ".mdoc"), p.with_suffix(".mdoc")):
        if cand.exists():
            return read_mdoc_tilts(cand)
    return None


def load(path, tilts=None, *, lazy: bool = False, **kwargs):
    """Load a tilt series (or any signal HyperSpy reads).

    Parameters
    ----------
    path : str, Path or list of them
        A file (``.hspy``, ``.h5``, ``.mrc``, ``.ali``, ``.dm4``, ``.emd``…). A list of 2D images is
        stacked along a new tilt axis.
    tilts : array_like, shape (n_tilts,), optional
        Tilt angles in degrees. Overrides any found in the file's metadata or beside it.
    lazy : bool
        Load with dask (for stacks larger than memory).
    **kwargs
        Passed to :func:`hyperspy.api.load` (e.g. ``reader=``).

    Returns
    -------
    TomoStack, RecStack or another HyperSpy signal
        Image stacks become :class:`TomoStack`; volumes saved by spectomo come back as
        :class:`RecStack`; other signals (e.g. EDS spectrum images) are returned as HyperSpy loads
        them, with ``metadata.Tomography.tilts`` set when tilts are given or found.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If the file does not exist, or is a folder.
    OSError
        If HyperSpy cannot read it (truncated, not in a known format); the message names the file.
    ValueError
        A list of images of different shapes (each file's shape is named).
    TiltsNotFoundError
        If an image stack has no tilt angles from any source.
    TiltMismatchError
        If the number of tilt angles differs from the number of projections.
    """
    import hyperspy.api as hs

    many = isinstance(path, (list, tuple))
    if many and not path:
        raise ValueError("path: an empty list; expected files to load")
    paths = [existing_file(p, f"path[{i}]" if many else "path") for i, p in enumerate(path if many else [path])]
    if len(paths) > 1:
        parts = [_read(p, lazy=True, **kwargs) for p in paths]
        shapes = {p.name: tuple(s.data.shape) for p, s in zip(paths, parts)}
        if len(set(shapes.values())) > 1:
            raise ValueError(f"path: the images differ in shape and cannot be stacked: {shapes}")
        sig = hs.load([str(p) for p in paths], stack=True, lazy=lazy, **kwargs)
    else:
        sig = _read(paths[0], lazy=lazy, **kwargs)
    if isinstance(sig, list):
        raise ValueError(f"path: {paths[0]} holds {len(sig)} signals; load it with hyperspy.load")
    if tilts is None and not sig.metadata.has_item(f"{NODE}.tilts"):
        tilts = find_tilts(paths[0])

    if sig.metadata.Signal.signal_type == "RecStack":
        return sig
    if isinstance(sig, (TomoStack, LazyTomoStack)):
        if tilts is not None:
            sig.tilts = tilts
        return sig
    if sig.axes_manager.signal_dimension == 2 and sig.axes_manager.navigation_dimension <= 1:
        if tilts is None:
            raise TiltsNotFoundError(
                f"no tilt angles for {paths[0].name}: pass tilts=[...] (degrees), or put a "
                f"'{paths[0].with_suffix('.rawtlt').name}', '.tlt' or '.mdoc' file beside it"
            )
        cls = LazyTomoStack if sig._lazy else TomoStack
        stack = cls(sig, tilts=tilts)
        warn_vacuum_offset(stack.data, paths[0].name, "The data are kept as stored; a non-negative "
                           "reconstruction (SIRT/SART) of them fails.")
        return stack
    if tilts is not None:
        t = np.asarray(tilts, dtype=float).reshape(-1)
        nav = sig.axes_manager.navigation_shape
        if not nav or nav[-1] != len(t):
            raise TiltMismatchError(
                f"tilts: {len(t)} angles, but the signal's first navigation axis (tilt) has "
                f"{nav[-1] if nav else 0} positions"
            )
        sig.metadata.set_item(f"{NODE}.tilts", t)
    return sig


def _read(path: Path, **kwargs):
    """``hyperspy.load`` of one file, with errors that name the file."""
    import hyperspy.api as hs

    try:
        return hs.load(str(path), **kwargs)
    except Exception as err:  # noqa: BLE001 - readers raise anything from OSError to KeyError
        raise OSError(f"path: {str(path)!r} could not be read ({type(err).__name__}: {err}); is it a complete "
                      "file in a format HyperSpy/RosettaSciIO reads?") from err


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` (same suffix); rename it onto ``path`` on success.

    The temporary file is removed if the block raises, so ``path`` is either the old file or the
    complete new one, never a partial write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as h5py want to create the file themselves
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(signal, path, *, overwrite: bool = True, **kwargs) -> Path:
    """Save a HyperSpy signal atomically (temporary file, then rename).

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        Any signal, e.g. a TomoStack, RecStack or EDS spectrum image.
    path : str or Path
        Target file; the extension selects the format (``.hspy`` recommended: it keeps all metadata).
    overwrite : bool
        If False and ``path`` exists, raise ``FileExistsError``.
    **kwargs
        Passed to :meth:`hyperspy.signal.BaseSignal.save` (e.g. ``compression=``).

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"path: {path} exists (pass overwrite=True to replace it)")
    with atomic_path(path) as tmp:
        signal.save(str(tmp), overwrite=True, **kwargs)
    return path
