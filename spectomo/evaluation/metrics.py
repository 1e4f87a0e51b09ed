"""Scores of a reconstruction against a known volume (PSNR, the SSIM structure term, scaled MSE)."""

from __future__ import annotations

import numpy as np

__all__ = ["psnr", "ssim_structure", "scaled_mse"]


def psnr(estimate, truth) -> float:
    """Peak signal-to-noise ratio in dB: ``20 log10(max(truth) / RMSE)``, arrays of equal shape."""
    estimate, truth = np.asarray(estimate, dtype=float), np.asarray(truth, dtype=float)
    if estimate.shape != truth.shape:
        raise ValueError(f"estimate: shape {estimate.shape} differs from truth {truth.shape}")
    return float(20 * np.log10(truth.max() / np.sqrt(np.mean((estimate - truth) ** 2))))


def _pair(estimate, truth, mask=None) -> tuple[np.ndarray, np.ndarray]:
    estimate, truth = np.asarray(estimate, dtype=float), np.asarray(truth, dtype=float)
    if estimate.shape != truth.shape:
        raise ValueError(f"estimate: shape {estimate.shape} differs from truth {truth.shape}")
    if mask is not None:
        m = np.broadcast_to(np.asarray(mask, dtype=bool), truth.shape)
        return estimate[m], truth[m]
    return estimate.ravel(), truth.ravel()


def ssim_structure(estimate, truth, *, mask=None, c: float = 0.0) -> float:
    """Structure term of SSIM, ``(σ_xy + C) / (σ_x σ_y + C)`` over all voxels (or ``mask``).

    Yuan et al. (2020), eq. 19–22, with C = 0 as in the paper: insensitive to the intensity
    scale, so reconstructions in any units can be compared with a phantom. 1 is a perfect match.
    """
    x, y = _pair(estimate, truth, mask)
    x, y = x - x.mean(), y - y.mean()
    return float((np.dot(x, y) / (len(x) - 1) + c) / (np.sqrt(np.dot(x, x) * np.dot(y, y)) / (len(x) - 1) + c))


def scaled_mse(estimate, truth, *, mask=None, relative: bool = True) -> float:
    """MSE after scaling ``estimate`` by the factor that minimises it (Yuan et al. 2020, sec. 3.1.2).

    ``relative=True`` divides by ``mean(truth²)`` so the number does not depend on the truth's units.
    """
    x, y = _pair(estimate, truth, mask)
    xx = np.dot(x, x)
    a = np.dot(x, y) / xx if xx > 0 else 0.0
    mse = float(np.mean((a * x - y) ** 2))
    return mse / float(np.mean(y * y)) if relative else mse
