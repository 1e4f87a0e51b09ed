"""Particle mask by the edge-spread-function threshold of Yuan et al. 2020 (sec. 2.1).

The particle volume ``V(t)`` (voxels above a threshold ``t``) is computed for a series of
thresholds. Background voxels leave ``V`` quickly as ``t`` rises from 0, particle voxels only
once ``t`` reaches the particle's own level; between the two ``V(t)`` is flat. The threshold is
the flattest point, the smallest ``|dV/dt|`` (``dV/dt`` is minus the histogram of the values, so
this is the valley between background and particle), searched among thresholds up to
``search_max`` of the robust maximum (99.9th percentile) so that the steps between denser phases
inside the particle are not taken for its edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d


@dataclass
class ThresholdCurve:
    """The particle volume against the threshold, and the threshold chosen from it."""

    thresholds: np.ndarray
    volumes: np.ndarray
    gradient: np.ndarray
    threshold: float

    def plot(self, ax=None):
        """Plot ``V(t)`` and ``|dV/dt|`` with the chosen threshold; returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
        ax.plot(self.thresholds, self.volumes, label="particle volume V(t)")
        ax.set(xlabel="threshold (summed mass, a.u.)", ylabel="voxels above threshold")
        ax2 = ax.twinx()
        ax2.plot(self.thresholds, np.abs(self.gradient), color="tab:orange", label="|dV/dt| (smoothed)")
        ax2.set_ylabel("|dV/dt|")
        ax.axvline(self.threshold, color="k", ls="--", lw=1)
        ax.set_title(f"ESF threshold = {self.threshold:.4g}")
        return ax


def esf_threshold(values, *, levels: int = 200, search_max: float = 0.5, smooth: float = 2.0) -> ThresholdCurve:
    """Threshold at the smallest gradient of particle volume against threshold (see module).

    Parameters
    ----------
    values : array_like
        The summed, unnormalised quantity per voxel (e.g. ``Σ X_A / f_A``), any shape.
    levels : int
        Number of thresholds between 0 and the robust maximum.
    search_max : float
        Upper end of the search, as a fraction of the robust maximum (0 < search_max < 1).
    smooth : float
        Gaussian smoothing (in threshold steps) of ``dV/dt`` before taking its minimum.

    Returns
    -------
    ThresholdCurve
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if not 0 < search_max < 1:
        raise ValueError(f"search_max: expected a fraction in (0, 1), got {search_max}")
    if int(levels) < 10:
        raise ValueError(f"levels: need at least 10 thresholds, got {levels}")
    top = float(np.percentile(v, 99.9)) if v.size else 0.0
    if not top > 0:
        raise ValueError("volumes: the summed quantity has no positive voxels; nothing to threshold")
    thresholds = np.linspace(0.0, top, int(levels) + 1)[1:]
    counts, _ = np.histogram(np.clip(v, 0, None), bins=np.concatenate([[0.0], thresholds, [np.inf]]))
    volumes = counts[::-1].cumsum()[::-1][1:].astype(np.float64)  # voxels strictly above each threshold
    gradient = gaussian_filter1d(np.gradient(volumes, thresholds), smooth, mode="nearest")
    slope = np.abs(gradient[thresholds <= search_max * top])
    start = int(np.argmax(slope))  # the background's steep drop
    after = slope[start:]
    minima = np.flatnonzero((after[1:-1] <= after[:-2]) & (after[1:-1] < after[2:])) + 1
    idx = start + (int(minima[0]) if minima.size else int(np.argmin(after)))
    return ThresholdCurve(thresholds=thresholds, volumes=volumes, gradient=gradient,
                          threshold=float(thresholds[idx]))
