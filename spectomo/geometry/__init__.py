"""The bottom layer shared by simulation, alignment and reconstruction: spectomo's projection
geometry (:mod:`~spectomo.geometry.convention`, the one statement of the tilt and detector
convention), the ASTRA wrappers that follow it (:mod:`~spectomo.geometry.astra`) and the EDS
detector and holder-shadow geometry for absorption (:mod:`~spectomo.geometry.detector`)."""

from .astra import forward_project
from .convention import angle_coefficients, detector_positions, radon_matrix, sinograms
from .detector import Detector, HolderShadow, detector_directions, record_vendor_geometry
from .masks import radial_mask
from .tilt_schemes import est_angles, golden_ratio_angles

__all__ = ["angle_coefficients", "detector_positions", "radon_matrix", "sinograms", "forward_project",
           "Detector", "HolderShadow", "detector_directions", "record_vendor_geometry", "radial_mask", "est_angles",
           "golden_ratio_angles"]
