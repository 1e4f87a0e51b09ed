"""The bottom layer shared by simulation, alignment and reconstruction: spectomo's projection
geometry (:mod:`~spectomo.geometry.convention`, the one statement of the tilt and detector
convention) and the ASTRA wrappers that follow it (:mod:`~spectomo.geometry.astra`)."""

from .astra import forward_project
from .convention import angle_coefficients, detector_positions, radon_matrix, sinograms

__all__ = ["angle_coefficients", "detector_positions", "radon_matrix", "sinograms", "forward_project"]
