"""Electron scattering: elastic (HAADF) cross sections and thin-target bremsstrahlung.

**Elastic scattering into an annular detector** (the HAADF factor of Yuan 2020 eq. 13–14):
screened Rutherford scattering with Lenz (Wentzel) screening and the relativistic correction, in
the small-angle approximation,

    ``dσ/dΩ = 4 γ² Z² / (a₀² k₀⁴ (θ² + θ₀²)²)``,   ``θ₀ = Z^{1/3} / (k₀ a₀)``,

with ``γ`` the Lorentz factor, ``k₀ = 2π/λ`` the relativistic wave number and ``a₀`` the Bohr
radius, integrated over ``β₁ ≤ θ ≤ β₂``:
``σ = 4π γ² Z² / (a₀² k₀⁴) · [1/(β₁² + θ₀²) − 1/(β₂² + θ₀²)]``. The model ignores thermal diffuse
scattering and channelling, so absolute HAADF counts are approximate; the relative weights of the
elements (what HEBT quantification uses) follow its ~Z² dependence.

**Bremsstrahlung**: thin-target Kramers form ``dσ/dE = (16/3) α r_e² Z² (m₀c²/T) / E``, isotropic.
"""

from __future__ import annotations

import numpy as np
from scipy import constants as C

from .atomic import BARN_CM2, atomic_number, atomic_weight

_MC2_KEV = C.m_e * C.c**2 / C.e / 1e3  # electron rest energy, keV (510.999)
_ALPHA_RE2_CM2 = C.alpha * (C.physical_constants["classical electron radius"][0] * 100) ** 2


def _beta2(beam_energy: float) -> float:
    gamma = 1.0 + beam_energy / _MC2_KEV
    return 1.0 - 1.0 / gamma**2


def elastic_cross_section(el: str, beam_energy: float, *, inner_angle: float = 60.0,
                          outer_angle: float = 200.0) -> float:
    """Elastic cross section into an annular detector, in barn (screened Rutherford, see module).

    Parameters
    ----------
    el : str
        Element symbol.
    beam_energy : float
        Incident electron energy in keV.
    inner_angle, outer_angle : float
        Detector collection semi-angles in mrad (``outer_angle=np.inf`` integrates to all angles).
    """
    if not 0 <= inner_angle < outer_angle:
        raise ValueError(f"inner_angle/outer_angle: need 0 <= inner < outer, got {inner_angle}, {outer_angle}")
    if not np.isfinite(beam_energy) or beam_energy <= 0:
        raise ValueError(f"beam_energy: expected a positive energy in keV, got {beam_energy!r}")
    z = atomic_number(el)
    gamma = 1.0 + beam_energy / _MC2_KEV
    e_j = beam_energy * 1e3 * C.e
    lam = C.h / np.sqrt(2 * C.m_e * e_j * (1 + e_j / (2 * C.m_e * C.c**2)))  # m
    k0 = 2 * np.pi / lam
    a0 = C.physical_constants["Bohr radius"][0]
    theta0 = z ** (1 / 3) / (k0 * a0)
    b1, b2 = inner_angle * 1e-3, outer_angle * 1e-3
    sigma_m2 = (4 * np.pi * gamma**2 * z**2 / (a0**2 * k0**4)) * (
        1 / (b1**2 + theta0**2) - 1 / (b2**2 + theta0**2))
    return float(sigma_m2 * 1e4 / BARN_CM2)


def haadf_factor(el: str, beam_energy: float, *, inner_angle: float = 60.0,
                 outer_angle: float = 200.0) -> float:
    """HAADF factor ``z_A = σ_elastic / M`` (Yuan 2020 eq. 14) in barn·mol/g."""
    return elastic_cross_section(el, beam_energy, inner_angle=inner_angle,
                                 outer_angle=outer_angle) / atomic_weight(el)


def bremsstrahlung_cross_section(z: int, energy, beam_energy: float) -> np.ndarray:
    """Thin-target Kramers bremsstrahlung cross section dσ/dE in barn/keV per atom.

    Zero for photon energies outside ``(0, beam_energy)``.
    """
    energy = np.asarray(energy, dtype=float)
    t = 0.5 * _MC2_KEV * _beta2(beam_energy)
    with np.errstate(divide="ignore"):
        val = (16 / 3) * _ALPHA_RE2_CM2 * z**2 * (_MC2_KEV / t) / energy / BARN_CM2
    return np.where((energy > 0) & (energy < beam_energy), val, 0.0)
