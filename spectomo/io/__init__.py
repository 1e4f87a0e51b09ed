"""Reading tilt series (any format HyperSpy/RosettaSciIO reads, lists of per-tilt files, ETSpy
files) and writing results atomically: :func:`load`, :func:`save`. Tilt sources are in
:mod:`~spectomo.io.tilts`, file lists in :mod:`~spectomo.io.series`, ETSpy conversion in
:mod:`~spectomo.io.etspy`."""

from .etspy import from_etspy, from_etspy_volume, is_etspy, to_etspy_volume
from .files import atomic_path, load, pick_signal, save
from .frames import multiaverage, register_serialem_stack
from .tilts import TiltsNotFoundError, find_tilts, read_mdoc_tilts, read_tilt_file

__all__ = ["load", "save", "multiaverage", "register_serialem_stack", "atomic_path", "pick_signal", "read_tilt_file", "read_mdoc_tilts", "find_tilts",
           "TiltsNotFoundError", "from_etspy", "from_etspy_volume", "is_etspy", "to_etspy_volume"]
