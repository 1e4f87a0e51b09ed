"""Reconstruction: the ASTRA single-channel path and the OpenCL runtime shared by spectomo's solvers."""

from .astra_recon import RECON_METHODS, recon_error, reconstruct

__all__ = ["reconstruct", "recon_error", "RECON_METHODS"]
