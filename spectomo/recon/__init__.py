"""Reconstruction: ASTRA single-channel path and the OpenCL runtime shared by spectomo's solvers."""
