"""Alignment: per-projection registration, tilt-axis correction and transfer to other stacks.

Data flow: ``stack_register`` (per-tilt shifts; with ``'PM'``, projection matching, also the tilt axis)
→ ``tilt_align`` (axis offset and rotation) → ``align_other`` (the same transform on the element
maps), all recorded in ``metadata.Tomography``. ``alignment_residual`` scores any alignment from the
data alone.
"""

from .preprocess import weighting_filter
from .projmatch import projection_match
from .quality import alignment_residual
from .register import REGISTER_METHODS, estimate_shifts, stack_register
from .tiltaxis import TILT_AXIS_METHODS, TiltAxisWarning, estimate_tilt_axis, tilt_align
from .transform import Alignment, AlignmentWarning, align_other, alignment_of, trans_stack, warp

__all__ = ["stack_register", "estimate_shifts", "REGISTER_METHODS", "projection_match", "alignment_residual",
           "tilt_align", "estimate_tilt_axis", "TILT_AXIS_METHODS", "TiltAxisWarning", "AlignmentWarning",
           "trans_stack", "align_other", "Alignment", "alignment_of", "warp", "weighting_filter"]
