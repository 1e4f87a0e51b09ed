"""OpenCL infrastructure shared by the solvers: the runtime (device choice, build and kernel
caches, memory limits), the batched layout, the operator layer with kernels bound by name, and the
NumPy twin of every kernel. Importing it never needs an OpenCL device."""

from .layout import BatchGeometry
from .operators import Kernel, Operators, auto_chunk, radon_norm
from .runtime import (DeviceMemoryError, OpenCLBuildError, OpenCLUnavailableError, get_runtime, kernel_dir,
                      opencl_available, profile_report)

__all__ = ["OpenCLUnavailableError", "OpenCLBuildError", "DeviceMemoryError", "get_runtime", "kernel_dir",
           "opencl_available", "profile_report", "BatchGeometry", "Operators", "Kernel", "auto_chunk", "radon_norm"]
