"""spectomo: quantitative multimodal (EDS + HAADF) electron tomography.

The pipeline runs one way: spectrum images → element maps → alignment → reconstruction →
quantification. This package currently provides the data model (:class:`TomoStack`,
:class:`RecStack`), I/O (:func:`load`, :func:`save`), the multimodal simulator
(:mod:`spectomo.datasets`) and the spectral stage (:func:`extract_maps`, :func:`sum_image`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spectomo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from .signals import LazyRecStack, LazyTomoStack, RecStack, TiltMismatchError, TomoStack  # noqa: E402
from .io import load, save  # noqa: E402
from .spectral import MapStacks, OverlapWarning, SpectralInputError, extract_maps, sum_image  # noqa: E402

__all__ = [
    "TomoStack",
    "LazyTomoStack",
    "RecStack",
    "LazyRecStack",
    "TiltMismatchError",
    "load",
    "save",
    "extract_maps",
    "sum_image",
    "MapStacks",
    "SpectralInputError",
    "OverlapWarning",
    "__version__",
]
