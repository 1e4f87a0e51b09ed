"""Scores of a reconstruction against a known volume."""

from __future__ import annotations

import numpy as np

__all__ = ["psnr"]


def psnr(estimate, truth) -> float:
    """Peak signal-to-noise ratio in dB: ``20 log10(max(truth) / RMSE)``, arrays of equal shape."""
    estimate, truth = np.asarray(estimate, dtype=float), np.asarray(truth, dtype=float)
    if estimate.shape != truth.shape:
        raise ValueError(f"estimate: shape {estimate.shape} differs from truth {truth.shape}")
    return float(20 * np.log10(truth.max() / np.sqrt(np.mean((estimate - truth) ** 2))))
