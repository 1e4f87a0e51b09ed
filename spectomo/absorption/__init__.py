"""Absorption and holder-shadowing correction of EDS tomography (reconstruct → quantify →
attenuation → corrected projections → reconstruct, to convergence). See docs/absorption.md."""

from .correct import AbsorptionCorrection, correct_absorption, estimate_shadow_curve, mirrored

__all__ = ["correct_absorption", "AbsorptionCorrection", "estimate_shadow_curve", "mirrored"]
