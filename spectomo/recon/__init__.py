"""Reconstruction: the ASTRA single-channel path, the OpenCL operator layer, the TGV–KL and HEBT solvers."""

from .astra_recon import RECON_METHODS, recon_error, reconstruct
from .hebt import HEBTResult, reconstruct_hebt
from .ratios import ResponseFitError, fit_response_ratios
from .tgv import reconstruct_tgv

__all__ = ["reconstruct", "recon_error", "RECON_METHODS", "reconstruct_tgv", "reconstruct_hebt", "HEBTResult",
           "fit_response_ratios", "ResponseFitError"]
