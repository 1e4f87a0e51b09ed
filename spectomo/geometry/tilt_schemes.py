"""Tilt schemes (ETSpy's ``calc_est_angles`` and ``calc_golden_ratio_angles``, under shorter names).

* Equally sloped tomography (Miao, Förster & Levi, Phys. Rev. B 72, 052103, 2005): for ``n`` (even)
  the ``2n`` directions of the pseudo-polar grid, whose slopes are equally spaced: ``tan θ = 2k/n``
  for ``k = −n/2 … n/2 − 1`` (θ in [−45°, 45°)) and ``cot θ = 2k/n`` for ``k = −n/2 + 1 … n/2``
  (θ in [45°, 135°), the line at 135° being the one at −45°), folded into (−90°, 90°].
* Golden-ratio ordering (Kaestner, Münch & Trtik, Opt. Eng. 50, 123201, 2011): the ``i``-th angle
  is ``(i φ Δ) mod Δ − Δ/2`` for a range ``Δ`` and the golden ratio ``φ``, so any run of
  consecutive angles covers the range nearly evenly.
"""

from __future__ import annotations

import numpy as np

__all__ = ["est_angles", "golden_ratio_angles"]


def est_angles(n: int) -> np.ndarray:
    """The ``2n`` equally sloped angles (degrees, ascending, in (−90°, 90°]) of an ``n``-point grid.

    Raises ``ValueError`` unless ``n`` is a positive even number (ETSpy: "N must be an even number").
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2 or n % 2:
        raise ValueError(f"n: N must be an even number of grid points ≥ 2, got {n!r}")
    k = np.arange(-n // 2, n // 2)
    near = np.degrees(np.arctan(2 * k / n))                  # tan θ = 2k/n: −45° … < 45°
    far = 90 - np.degrees(np.arctan(2 * (k + 1) / n))        # cot θ = 2k/n: > 45° … 135° excluded
    far = np.where(far > 90, far - 180, far)                 # folded into (−90°, 90°]
    return np.sort(np.concatenate([near, far]))


def golden_ratio_angles(tilt_range: float, n: int) -> np.ndarray:
    """``n`` angles (degrees, in acquisition order) over ``[−tilt_range/2, tilt_range/2)``."""
    if not 0 < float(tilt_range) <= 180:
        raise ValueError(f"tilt_range: expected a range in degrees, 0 < range ≤ 180, got {tilt_range!r}")
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n: expected a positive number of angles, got {n!r}")
    span = float(tilt_range)
    i = np.arange(1, int(n) + 1)
    return np.mod(i * span * (1 + np.sqrt(5)) / 2, span) - span / 2
