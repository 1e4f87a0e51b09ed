"""spectomo: quantitative multimodal (EDS + HAADF) electron tomography.

The pipeline runs one way: spectrum images → element maps → alignment → reconstruction →
quantification. This package currently provides the data model (:class:`TomoStack`,
:class:`RecStack`), I/O (:func:`load`, :func:`save`) and the multimodal simulator
(:mod:`spectomo.datasets`).
"""

from importlib.metadata import PackageNotFoundError, version

from .signals import LazyRecStack, LazyTomoStack, RecStack, TiltMismatchError, TomoStack
from .io import load, save

try:
    __version__ = version("spectomo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "TomoStack",
    "LazyTomoStack",
    "RecStack",
    "LazyRecStack",
    "TiltMismatchError",
    "load",
    "save",
    "__version__",
]
