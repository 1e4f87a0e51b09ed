"""Reconstruction: the ASTRA single-channel path, the OpenCL operator layer and the TGV–KL solver."""

from .astra_recon import RECON_METHODS, recon_error, reconstruct
from .tgv import reconstruct_tgv

__all__ = ["reconstruct", "recon_error", "RECON_METHODS", "reconstruct_tgv"]
