"""Quantification: reconstructed volumes → weight-fraction, density and atom-density volumes.

Step 4 of the pipeline. :func:`quantify` implements the ζ-factor, cross-section and HEBT
(``z_A``) methods voxel by voxel (Yuan et al. 2020, sec. 2.1–2.2) with factors from
:mod:`spectomo.physics` or given, and the edge-spread-function particle mask.
"""

from .core import quantify
from .inputs import QuantificationWarning
from .mask import ThresholdCurve, esf_threshold
from .phases import Phases, segment_phases
from .result import Quantification

__all__ = ["quantify", "Quantification", "QuantificationWarning", "esf_threshold", "ThresholdCurve", "Phases",
           "segment_phases"]
