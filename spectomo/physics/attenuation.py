"""X-ray mass attenuation: how strongly each element absorbs each emitted line.

``μ/ρ`` (cm²/g) is the total attenuation coefficient of Elam, Ravel & Sieber (2002) as tabulated
by ``xraydb`` (photo-absorption, coherent and incoherent scattering). The linear attenuation
coefficient of a voxel for line ``l`` is ``μ_l(r) = Σ_A (μ/ρ)_A(E_l) ρ_A(r)`` (1/cm) with the
partial densities ``ρ_A = C_A ρ`` (g/cm³); see :func:`linear_attenuation`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import xraydb

from .atomic import atomic_number, line_energy

__all__ = ["mass_attenuation", "attenuation_matrix", "linear_attenuation", "attenuation_volumes",
           "attenuation_length"]


@lru_cache(maxsize=4096)
def _mu_rho(el: str, energy_ev: float) -> float:
    return float(xraydb.mu_elam(el, energy_ev))


def mass_attenuation(el: str, energy) -> np.ndarray | float:
    """Mass attenuation coefficient ``μ/ρ`` of element ``el`` in cm²/g at ``energy`` (keV).

    Parameters
    ----------
    el : str
        Element symbol.
    energy : float or array_like
        Photon energy in keV, 0.1–100 keV (the tables' range used here).
    """
    atomic_number(el)  # validates the symbol with a clear error
    e = np.asarray(energy, dtype=float)
    if not np.all(np.isfinite(e)) or np.any(e < 0.1) or np.any(e > 100):
        raise ValueError(f"energy: photon energies in keV within 0.1–100 expected, got {energy!r}"
                         + (" (eV? divide by 1000)" if np.any(e > 100) else ""))
    out = np.array([_mu_rho(el, round(float(v) * 1000.0, 3)) for v in e.ravel()]).reshape(e.shape)
    return float(out) if out.ndim == 0 else out


def attenuation_matrix(lines, elements) -> np.ndarray:
    """``(μ/ρ)_A(E_l)`` in cm²/g, shape ``(n_lines, n_elements)``: line ``l`` absorbed by element ``A``."""
    return np.array([[mass_attenuation(el, line_energy(line)) for el in elements] for line in lines])


def linear_attenuation(line: str, partial_densities: dict) -> np.ndarray:
    """``μ_l(r)`` in 1/cm for line ``line`` from partial densities ``{element: ρ_A (g/cm³)}``."""
    return attenuation_volumes([line_energy(line)], partial_densities)[0]


def attenuation_volumes(energies, partial_densities: dict, length_cm: float = 1.0) -> np.ndarray:
    """``μ(r)`` at each photon energy (keV) times ``length_cm``, shape ``(n_energies, *volume)``:
    in 1/cm with the default, in 1/voxel with ``length_cm`` = the voxel length (float32 then, as the
    attenuation kernel takes it)."""
    mu = np.stack([sum(mass_attenuation(el, float(e)) * np.asarray(p, dtype=np.float64)
                       for el, p in partial_densities.items()) for e in energies])
    return mu if length_cm == 1.0 else (mu * length_cm).astype(np.float32)


def attenuation_length(line: str, weight_fractions: dict, density: float) -> float:
    """``1/μ`` in nm of line ``line`` in a material of weight fractions ``{el: C}`` (sum 1) and
    density in g/cm³: the depth over which the line falls to 1/e."""
    mu = sum(mass_attenuation(el, line_energy(line)) * c * density for el, c in weight_fractions.items())
    return 1e7 / mu
