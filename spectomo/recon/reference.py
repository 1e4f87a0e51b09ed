"""NumPy twins of the OpenCL kernels in ``kernels/`` (the specification each kernel is tested against)."""

from __future__ import annotations

import numpy as np


def axpby(x: np.ndarray, y: np.ndarray, a: float, b: float) -> np.ndarray:
    """``a * x + b * y`` (kernel ``utils.cl:axpby``)."""
    return (a * x + b * y).astype(x.dtype, copy=False)


def clip_min(x: np.ndarray, lo: float) -> np.ndarray:
    """``max(x, lo)`` (kernel ``utils.cl:clip_min``)."""
    return np.maximum(x, np.asarray(lo, dtype=x.dtype))
