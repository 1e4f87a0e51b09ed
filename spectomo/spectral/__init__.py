"""Spectral stage: EDS spectrum-image tilt series → per-line map stacks (counts).

* :func:`extract_maps` — windowed net counts (``method='windows'``, linear or flat background) or
  Poisson-normalised NMF of the whole series (``method='nmf'``), eager or lazy, block by block.
* :func:`sum_image` — the spectral sum-image series, for alignment without HAADF.

Modules: :mod:`.inputs` (validation, block reading), :mod:`.lines` (exspy line tables, overlaps),
:mod:`.windows` (window placement and net counts), :mod:`.nmf` (memory-bounded NMF),
:mod:`.extract` (the public functions and :class:`MapStacks`).
"""

from .extract import MapStacks, extract_maps, sum_image
from .inputs import SpectralInputError
from .windows import OverlapWarning

__all__ = ["extract_maps", "sum_image", "MapStacks", "SpectralInputError", "OverlapWarning"]
