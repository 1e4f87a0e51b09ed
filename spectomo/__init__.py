"""spectomo: quantitative multimodal (EDS + HAADF) electron tomography.

The pipeline runs one way: spectrum images → element maps (:func:`extract_maps`) → alignment
(:func:`stack_register`, :func:`tilt_align`, :func:`align_other`) → reconstruction (ASTRA
:func:`reconstruct`; the joint OpenCL solvers :func:`reconstruct_tgv` and :func:`reconstruct_hebt`)
→ quantification (:func:`quantify`) and its absorption correction (:func:`correct_absorption`), over a bottom layer of data model (:class:`TomoStack`,
:class:`RecStack`), I/O, physics (:mod:`spectomo.physics`) and geometry (:mod:`spectomo.geometry`).
:mod:`spectomo.datasets` simulates tilt series with ground truth; :mod:`spectomo.evaluation` scores
results against it. :class:`Pipeline` (``spectomo run``) runs every stage on the user's files from
one configuration, caching each stage, and writes an HTML report.

Public API: the names in ``__all__`` here and in the ``__all__`` of the subpackages
``datasets``, ``physics``, ``geometry``, ``opencl``, ``evaluation`` and ``pipeline``. Everything else (the
modules inside ``spectral``, ``align``, ``recon``, ``quantify`` …) is implementation and may change;
see docs/architecture.md.
"""

from ._version import __version__

# Names are imported on first use (PEP 562), so that ``import spectomo`` and the command line's
# ``--help`` stay fast; the first access imports the stage that holds the name.
_HOMES = {
    "validation": ("InputWarning",),
    "signals": ("LazyRecStack", "LazyTomoStack", "RecStack", "TiltMismatchError", "TomoStack"),
    "io": ("from_etspy", "from_etspy_volume", "load", "save", "to_etspy_volume"),
    "spectral": ("MapStacks", "OverlapWarning", "SpectralInputError", "extract_maps", "sum_image"),
    "align": ("AlignmentWarning", "TiltAxisWarning", "align_other", "alignment_residual", "projection_match",
              "stack_register", "tilt_align", "trans_stack"),
    "opencl": ("DeviceMemoryError", "OpenCLUnavailableError"),
    "recon": ("CheckpointError", "IterationInfo", "RecStacks", "ResponseFitError", "fit_response_ratios",
              "plot_heldout", "recon_error", "reconstruct", "reconstruct_hebt", "reconstruct_many",
              "reconstruct_path", "reconstruct_tgv"),
    "quantify": ("Phases", "Quantification", "QuantificationWarning", "esf_threshold", "quantify", "segment_phases"),
    "absorption": ("AbsorptionCorrection", "correct_absorption"),
    "pipeline": ("Pipeline",),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
_SUBPACKAGES = ("datasets", "evaluation", "geometry", "opencl", "physics", "pipeline")


def __getattr__(name: str):
    import importlib

    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _HOME:
        raise AttributeError(f"module 'spectomo' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(__import__("types").ModuleType):
    """``spectomo.quantify`` is the function, as it was with eager imports, although a subpackage
    has the same name: importing ``spectomo.quantify.…`` binds the subpackage on the package, and
    this setter keeps the function instead."""

    @property
    def quantify(self):
        from .quantify import quantify

        return quantify

    @quantify.setter
    def quantify(self, value):
        pass


__import__("sys").modules[__name__].__class__ = _Package


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
    "quantify", "Quantification", "QuantificationWarning", "esf_threshold", "segment_phases", "Phases",
    # absorption and shadowing
    "correct_absorption", "AbsorptionCorrection",
    # the whole pipeline from a configuration (spectomo run)
    "Pipeline",
    # subpackages
    "datasets", "physics", "geometry", "opencl", "evaluation", "pipeline",
    "__version__",
]
