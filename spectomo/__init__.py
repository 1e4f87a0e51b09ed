"""spectomo: quantitative multimodal (EDS + HAADF) electron tomography.

The pipeline runs one way: spectrum images → element maps → alignment → reconstruction →
quantification. This package currently provides the data model (:class:`TomoStack`,
:class:`RecStack`), I/O (:func:`load`, :func:`save`), the multimodal simulator
(:mod:`spectomo.datasets`), the spectral stage (:func:`extract_maps`, :func:`sum_image`), alignment
(:func:`stack_register`, :func:`tilt_align`, :func:`trans_stack`, :func:`align_other`) and ASTRA
reconstruction (:func:`reconstruct`, :func:`recon_error`), also as :class:`TomoStack` methods, and
the coupled multi-channel TGV–KL solver and HEBT on OpenCL (:func:`reconstruct_tgv`,
:func:`reconstruct_hebt`), and quantification into weight-fraction and density volumes
(:func:`quantify`) with physical factors from :mod:`spectomo.physics`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spectomo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from .signals import LazyRecStack, LazyTomoStack, RecStack, TiltMismatchError, TomoStack  # noqa: E402
from .io import load, save  # noqa: E402
from .spectral import MapStacks, OverlapWarning, SpectralInputError, extract_maps, sum_image  # noqa: E402
from .align import TiltAxisWarning, align_other, stack_register, tilt_align, trans_stack  # noqa: E402
from .recon import (HEBTResult, ResponseFitError, fit_response_ratios, recon_error, reconstruct,  # noqa: E402
                    reconstruct_hebt, reconstruct_tgv)
from .quantify import Quantification, QuantificationWarning, esf_threshold, quantify  # noqa: E402

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
    "stack_register",
    "tilt_align",
    "trans_stack",
    "align_other",
    "TiltAxisWarning",
    "reconstruct",
    "recon_error",
    "reconstruct_hebt",
    "HEBTResult",
    "fit_response_ratios",
    "ResponseFitError",
    "reconstruct_tgv",
    "quantify",
    "Quantification",
    "QuantificationWarning",
    "esf_threshold",
    "__version__",
]
