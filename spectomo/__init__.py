"""spectomo: quantitative multimodal (EDS + HAADF) electron tomography.

The pipeline runs one way: spectrum images → element maps (:func:`extract_maps`) → alignment
(:func:`stack_register`, :func:`tilt_align`, :func:`align_other`) → reconstruction (ASTRA
:func:`reconstruct`; the joint OpenCL solvers :func:`reconstruct_tgv` and :func:`reconstruct_hebt`)
→ quantification (:func:`quantify`) and its absorption correction (:func:`correct_absorption`), over a bottom layer of data model (:class:`TomoStack`,
:class:`RecStack`), I/O, physics (:mod:`spectomo.physics`) and geometry (:mod:`spectomo.geometry`).
:mod:`spectomo.datasets` simulates tilt series with ground truth; :mod:`spectomo.evaluation` scores
results against it.

Public API: the names in ``__all__`` here and in the ``__all__`` of the subpackages
``datasets``, ``physics``, ``geometry``, ``opencl`` and ``evaluation``. Everything else (the
modules inside ``spectral``, ``align``, ``recon``, ``quantify`` …) is implementation and may change;
see docs/architecture.md.
"""

from ._version import __version__


def _import_exspy_quietly() -> None:
    """Import exspy once with its HyperSpy import-path deprecation warnings silenced.

    exspy 0.3 imports names HyperSpy 2.x has moved; each import prints a VisibleDeprecationWarning
    that users cannot act on. The filter covers only this import and only those messages, so the
    user's own warnings (and any other warning from either package) still show.
    """
    import warnings

    from hyperspy.exceptions import VisibleDeprecationWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=VisibleDeprecationWarning, message=r"Importing `\w+` from `hyperspy\._signals")
        import exspy  # noqa: F401


_import_exspy_quietly()
from .validation import InputWarning  # noqa: E402
from .signals import LazyRecStack, LazyTomoStack, RecStack, TiltMismatchError, TomoStack  # noqa: E402
from .io import from_etspy, from_etspy_volume, load, save, to_etspy_volume  # noqa: E402
from .spectral import MapStacks, OverlapWarning, SpectralInputError, extract_maps, sum_image  # noqa: E402
from .align import (AlignmentWarning, TiltAxisWarning, align_other, alignment_residual,  # noqa: E402
                    projection_match, stack_register, tilt_align, trans_stack)
from .opencl import DeviceMemoryError, OpenCLUnavailableError  # noqa: E402
from .recon import (CheckpointError, IterationInfo, RecStacks, ResponseFitError, fit_response_ratios,  # noqa: E402
                    plot_heldout, recon_error, reconstruct, reconstruct_hebt, reconstruct_many, reconstruct_path,
                    reconstruct_tgv)
from .quantify import Quantification, QuantificationWarning, esf_threshold, quantify  # noqa: E402
from .absorption import AbsorptionCorrection, correct_absorption  # noqa: E402
from . import datasets, evaluation, geometry, opencl, physics  # noqa: E402

__all__ = [
    # data model, I/O, input checks
    "InputWarning", "TomoStack", "LazyTomoStack", "RecStack", "LazyRecStack", "TiltMismatchError", "load", "save",
    "from_etspy", "from_etspy_volume", "to_etspy_volume",
    # spectral stage
    "extract_maps", "sum_image", "MapStacks", "SpectralInputError", "OverlapWarning",
    # alignment
    "stack_register", "projection_match", "tilt_align", "trans_stack", "align_other", "alignment_residual",
    "TiltAxisWarning", "AlignmentWarning",
    # reconstruction
    "reconstruct", "recon_error", "reconstruct_path", "reconstruct_tgv", "reconstruct_hebt", "reconstruct_many",
    "RecStacks",
    "IterationInfo", "CheckpointError", "fit_response_ratios", "ResponseFitError", "plot_heldout",
    "OpenCLUnavailableError",
    "DeviceMemoryError",
    # quantification
    "quantify", "Quantification", "QuantificationWarning", "esf_threshold",
    # absorption and shadowing
    "correct_absorption", "AbsorptionCorrection",
    # subpackages
    "datasets", "physics", "geometry", "opencl", "evaluation",
    "__version__",
]
