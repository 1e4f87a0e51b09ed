"""Loading tilt series and saving results (atomically).

:func:`load` reads anything HyperSpy/RosettaSciIO reads. Image stacks become :class:`TomoStack`
with tilt angles taken, in order of precedence, from ``tilts=``, from ``metadata.Tomography``
(``.hspy``/``.h5`` written by spectomo or ETSpy), from the file itself (MRC extended headers, DM
tomography tags) or from a sidecar file next to the data (``.rawtlt``, ``.tlt``, ``.mdoc``); see
:mod:`spectomo.io.tilts`. Lists of files are assembled by :mod:`spectomo.io.series`. Files holding
several signals (Bruker ``.bcf``, Velox ``.emd``, JEOL ``.pts``) give the one named by ``signal=``.

:func:`save` writes through HyperSpy's ``save`` into a temporary file in the target folder and
renames it into place, so a crash never leaves a half-written result under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..geometry.detector import record_vendor_geometry
from .vendor import eds_as_tem
from ..signals import NODE, LazyRecStack, LazyTomoStack, RecStack, TiltMismatchError, TomoStack, warn_vacuum_offset
from ..validation import InputWarning, existing_file
from .etspy import etspy_metadata_to_spectomo, from_etspy, is_etspy
from .tilts import (TiltsNotFoundError, find_tilt_file, find_tilts, internal_tilts, read_mdoc_tilts,
                    read_tilt_file, stage_tilt)

__all__ = ["load", "save", "atomic_path", "pick_signal"]


def load(path, tilts=None, mdocs=None, *, signal: str | None = None, lazy: bool = False, frames: str = "sum",
         **kwargs):
    """Load a tilt series (or any signal HyperSpy reads).

    Parameters
    ----------
    path : str, Path or list of them
        A file (``.hspy``, ``.h5``, ``.mrc``, ``.ali``, ``.dm3``/``.dm4``, ``.emd``, ``.bcf``, ``.pts``…),
        or a list of files, one per tilt (single images, or SerialEM multi-frame MRC files whose
        frames are added), stacked in order of tilt (:func:`spectomo.io.series.load_series`).
    tilts : array_like, shape (n_tilts,), optional
        Tilt angles in degrees. Overrides any found in or beside the file(s); for a list of files,
        one per file in the list's order.
    mdocs : list of paths, optional
        For a list of SerialEM files: their ``.mdoc`` files, when not beside them with the same
        stem (ETSpy's argument).
    signal : str, optional
        For files holding several signals: ``'EDS'`` (the spectrum image), ``'image'`` (a 2D
        image), or part of the wanted signal's title or type (e.g. ``'HAADF'``); of several
        matches, the one with the most probe positions (Velox files list each detector's summed
        spectrum before the spectrum image). Without it such a file raises an error listing what
        it holds.
    lazy : bool
        Load with dask (for stacks larger than memory).
    frames : {'sum', 'mean', 'register'}
        Lists of multi-frame files: how the frames of one tilt are combined (``'sum'`` keeps counts;
        ``'register'``: drift-corrected mean, :func:`spectomo.io.frames.multiaverage`).
    **kwargs
        Passed to :func:`hyperspy.api.load` (e.g. ``reader=``).

    Returns
    -------
    TomoStack, RecStack or another HyperSpy signal
        Image stacks become :class:`TomoStack`; volumes saved by spectomo come back as
        :class:`RecStack`; other signals (e.g. EDS spectrum images) are returned as HyperSpy loads
        them, with ``metadata.Tomography.tilts`` set when tilts are given or found. ETSpy's
        tomography metadata is converted (:mod:`spectomo.io.etspy`).

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If the file does not exist, or is a folder.
    OSError
        If HyperSpy cannot read it (truncated, not in a known format); the message names the file.
    ValueError
        A list of images of different shapes (each file's shape is named); a multi-signal file
        without ``signal=`` or with a ``signal`` it does not hold.
    TiltsNotFoundError
        If an image stack has no tilt angles from any source.
    TiltMismatchError
        If the number of tilt angles differs from the number of projections.
    """
    many = isinstance(path, (list, tuple))
    if many and not path:
        raise ValueError("path: an empty list; expected files to load")
    if frames not in ("sum", "mean", "register"):
        raise ValueError(f"frames: expected 'sum', 'mean' or 'register', got {frames!r}")
    paths = [existing_file(p, f"path[{i}]" if many else "path") for i, p in enumerate(path if many else [path])]
    if many:
        from .series import load_series

        return load_series(paths, tilts, lazy=lazy, frames=frames, signal=signal, mdocs=mdocs, **kwargs)
    if mdocs is not None:
        raise ValueError("mdocs: only for a list of SerialEM files; a single file's .mdoc is found beside it")
    sig = eds_as_tem(_adopt(pick_signal(_read(paths[0], lazy=lazy, **kwargs), signal, paths[0])))
    record_vendor_geometry(sig)  # Velox's detector set, into metadata where maps and volumes keep it
    if isinstance(sig, (RecStack, LazyRecStack)):
        return sig
    etspy_metadata_to_spectomo(sig)
    source = "given" if tilts is not None else None
    if tilts is None and sig.metadata.has_item(f"{NODE}.tilts"):
        source = "metadata"
        if not isinstance(sig, (TomoStack, LazyTomoStack)):
            tilts = np.asarray(sig.metadata.get_item(f"{NODE}.tilts"), dtype=float)
    elif tilts is None:
        tilts, source = internal_tilts(sig, paths[0])
        sidecar = find_tilt_file(paths[0])
        if tilts is None and sidecar is not None:
            tilts, source = find_tilts(paths[0]), f"{sidecar.name}"
        if tilts is None and sig.data.ndim == 2 and stage_tilt(sig) is not None:  # one image, e.g. a .dm3
            tilts, source = [stage_tilt(sig)], "stage tilt"
        elif tilts is not None and sidecar is not None:
            _compare_sidecar(tilts, source, sidecar)
    if source not in (None, "given", "metadata"):
        sig.metadata.set_item(f"{NODE}.tilts_source", source)

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
        try:
            stack = cls(sig, tilts=tilts)
        except TiltMismatchError as err:
            raise TiltMismatchError(f"{paths[0].name}: tilts from {source}: {err}") from err
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


def _adopt(sig):
    """spectomo's class for a signal another package's class or an older type name holds: ETSpy's
    ``TomoStack``/``RecStack`` (its volumes are transposed: :func:`spectomo.io.etspy.from_etspy`),
    and volumes spectomo saved under the type ``'RecStack'`` before it had its own type names."""
    kind = str(sig.metadata.get_item("Signal.signal_type", ""))
    foreign = type(sig).__module__.split(".")[0] not in ("spectomo", "hyperspy", "exspy")
    if isinstance(sig, (TomoStack, LazyTomoStack, RecStack, LazyRecStack)):
        return sig
    if kind == "RecStack" or (foreign and type(sig).__name__ == "RecStack"):
        if sig.metadata.has_item("Reconstruction.units"):  # written by spectomo: (nx, ny, nz) already
            cls = LazyRecStack if sig._lazy else RecStack
            out = cls(sig)
            out.metadata.set_item("Signal.signal_type", cls._signal_type)
            return out
        return from_etspy(sig)
    if foreign or kind == "TomoStack":
        if is_etspy(sig):
            return from_etspy(sig)
        sig.metadata.set_item("Signal.signal_type", "")  # an untyped image stack: tilts are looked for below
    return sig


def _compare_sidecar(tilts, source: str, sidecar: Path) -> None:
    """Warn when a sidecar tilt file beside the data disagrees with the angles inside it."""
    try:
        other = read_mdoc_tilts(sidecar) if sidecar.suffix == ".mdoc" else read_tilt_file(sidecar)
    except (ValueError, OSError):
        return
    if len(other) != len(tilts) or np.max(np.abs(other - np.asarray(tilts))) > 0.1:
        warnings.warn(f"{sidecar.name} beside the data holds {len(other)} angles that differ from the "
                      f"{len(tilts)} in the file's {source}; the file's own angles were used (pass tilts= "
                      "to choose)", InputWarning, stacklevel=3)


#: What ``signal=`` matches for each short name
_KINDS = {"eds": lambda s: str(s.metadata.Signal.signal_type).upper().startswith("EDS"),
          "image": lambda s: s.axes_manager.signal_dimension == 2}


def pick_signal(sig, signal: str | None, path):
    """The signal named by ``signal`` from what a reader returned (one signal or a list)."""
    if not isinstance(sig, list):
        if signal is not None and not _matches(sig, signal):
            raise ValueError(f"signal: {Path(path).name} holds one signal ({_describe(sig)}), not {signal!r}")
        return sig
    held = "; ".join(f"[{i}] {_describe(s)}" for i, s in enumerate(sig))
    if signal is None:
        raise ValueError(f"path: {Path(path).name} holds {len(sig)} signals ({held}); pass signal='EDS', "
                         "'image' or part of a title")
    found = [s for s in sig if _matches(s, signal)]
    if not found:
        raise ValueError(f"signal: none of the {len(sig)} signals in {Path(path).name} is {signal!r} ({held})")
    # Velox files hold each detector's summed spectrum before the spectrum image: take the largest
    return max(found, key=lambda s: int(np.prod(s.axes_manager.navigation_shape or (1,))))


def _matches(sig, signal: str) -> bool:
    key = str(signal).lower()
    if key in _KINDS:
        return _KINDS[key](sig)
    return key in str(sig.metadata.General.title).lower() or key in str(sig.metadata.Signal.signal_type).lower()


def _describe(sig) -> str:
    return (f"{type(sig).__name__} '{sig.metadata.General.title}' {tuple(sig.data.shape)}")


_HDF5 = (".h5", ".hdf5")


def _read(path: Path, **kwargs):
    """``hyperspy.load`` of one file, with errors that name the file."""
    import hyperspy.api as hs

    if path.suffix.lower() in _HDF5 and "reader" not in kwargs:
        try:  # .h5/.hdf5 match several readers (USID, HSPY, …): spectomo and ETSpy write HSPY
            return hs.load(str(path), reader="HSPY", **kwargs)
        except Exception:  # noqa: BLE001 - not an HSPY file: let HyperSpy choose below
            pass
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
        if path.suffix.lower() in _HDF5 and "file_format" not in kwargs:
            kwargs["file_format"] = "HSPY"  # .h5/.hdf5: HyperSpy's own format, not USID
        signal.save(str(tmp), overwrite=True, **kwargs)
    return path
