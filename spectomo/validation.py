"""Validation of inputs at the public boundary: one function per kind of input.

Every function names the argument it checks and what was expected, so a user never gets a
silently wrong result or an error from deep inside a dependency. Kinds: numbers (whole numbers,
positive quantities, fractions), tilt angles (shape, range, plausibility), physical parameters
(beam energy), count arrays (float32 range), paths. Stack, spectrum, volume and checkpoint checks
build on these in their own layers (:func:`spectomo.signals.check_stack`,
:mod:`spectomo.spectral.inputs`, :mod:`spectomo.quantify.inputs`, :mod:`spectomo.recon.checkpoint`).

Implausible but possible inputs give an :class:`InputWarning`; impossible ones an error.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from pathlib import Path

import numpy as np

__all__ = ["InputWarning", "whole_number", "positive", "tilt_angles", "check_tilt_series", "beam_energy",
           "fits_float32", "existing_file"]

#: Beam energies (keV) of electron microscopes spectomo expects (SEM to HVEM)
BEAM_ENERGY_RANGE = (1.0, 1000.0)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class InputWarning(UserWarning):
    """An input looks implausible (e.g. tilts that look like radians); it was used as given."""


def whole_number(value, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int ≥ ``minimum`` (a float with no fraction is accepted; bools are not)."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a whole number ≥ {minimum}, got {value!r}")
    if not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name}: expected a whole number ≥ {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: must be ≥ {minimum}, got {value}")
    return int(value)


def positive(value, name: str, what: str) -> float:
    """``value`` as a finite float > 0; ``what`` says what it is (and its unit) in the message."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected {what}, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected {what}, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: must be positive ({what}), got {value!r}")
    return v


def tilt_angles(values, name: str = "tilts") -> np.ndarray:
    """Tilt angles as a finite 1-D float array ``(n_tilts,)`` (a scalar becomes one angle)."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected tilt angles in degrees (numbers), got {values!r}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name}: tilt angles must be one-dimensional (n_tilts,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: tilt angles contain NaN or inf (at index {int(np.argmin(np.isfinite(arr)))})")
    return arr


def check_tilt_series(tilts: np.ndarray, name: str = "tilts", *, strict: bool = True) -> None:
    """Plausibility of the angles of a tilt series (degrees).

    * every angle equal (a missing stage tilt): error (``strict``) or warning;
    * every |θ| ≤ π/2 = 1.571 (they look like radians): error (``strict``) or warning;
    * repeated angles: warning naming them (a repeated 0° to check beam damage is legitimate).
    """
    t = np.asarray(tilts, dtype=float)
    if t.size < 3:
        return
    problem = None
    span = float(t.max() - t.min())
    if span == 0:
        problem = (f"{name}: all {t.size} tilt angles are {t[0]:g}°; a tilt series needs different angles "
                   "(was the stage tilt recorded?)")
    elif float(np.abs(t).max()) <= math.pi / 2 + 1e-9:
        problem = (f"{name}: the angles span only {t.min():.3g}…{t.max():.3g}; spectomo expects degrees and "
                   f"these look like radians ({np.degrees(t.min()):.1f}…{np.degrees(t.max()):.1f}° if they "
                   "are); convert with numpy.degrees")
    if problem:
        if strict:
            raise ValueError(problem)
        warnings.warn(problem, InputWarning, stacklevel=3)
        return
    values, counts = np.unique(np.round(t, 6), return_counts=True)
    if (counts > 1).any():
        warnings.warn(f"{name}: repeated tilt angles {values[counts > 1].tolist()}° (projections of the same "
                      "angle are used as they are; remove extra ones with remove_projections if unintended)",
                      InputWarning, stacklevel=3)


def beam_energy(value, name: str = "beam_energy") -> float:
    """A beam energy in keV within :data:`BEAM_ENERGY_RANGE`; eV or MeV values are named as such."""
    v = positive(value, name, "the beam energy in keV")
    lo, hi = BEAM_ENERGY_RANGE
    if v > hi:
        hint = f" — this looks like eV ({v / 1000:g} keV?)" if v >= 1000 * lo else ""
        raise ValueError(f"{name}: {v:g} keV is beyond any electron microscope ({lo:g}–{hi:g} keV){hint}; "
                         "give the beam energy in keV")
    if v < lo:
        raise ValueError(f"{name}: {v:g} keV is below {lo:g} keV — is it in MeV ({v * 1000:g} keV?)? "
                         "give the beam energy in keV")
    return v


def fits_float32(maximum: float, name: str) -> None:
    """Raise if counts as large as ``maximum`` would overflow float32 (spectomo's working type)."""
    if abs(float(maximum)) > _FLOAT32_MAX:
        raise ValueError(f"{name}: values up to {float(maximum):.3g} overflow float32 (max {_FLOAT32_MAX:.3g}), "
                         "spectomo's working precision; rescale or convert the data first")


def existing_file(path, name: str = "path") -> Path:
    """``path`` as a :class:`~pathlib.Path` to an existing file (not a folder)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a file path, got {type(path).__name__}")
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{name}: {str(p)!r} is a folder, not a file")
    if not p.exists():
        raise FileNotFoundError(f"{name}: no such file {str(p)!r}")
    return p
