"""Physical factors for EDS and HAADF signal formation (thin-film approximation).

Every number the simulator (and, later, quantification) uses comes from here. Tabulated atomic data
come from maintained packages: atomic weights, densities, edge energies and fluorescence yields from
``xraydb``; X-ray line energies and relative line weights from exspy's element database, so the
simulator and the spectral stage share one line table.

Models (approximate; the quantification stage will refine them):

* **Ionization cross section** (K, L3, M5 shells): relativistic Bethe asymptotic form
  ``σ = π e⁴ n_s b / (T E_c) · [ln(c T / E_c) − ln(1 − β²) − β²]`` with ``T = m₀v²/2``,
  ``b = 0.9``, ``c = 0.65`` and ``n_s`` the subshell occupancy (K: 2, L3: 4, M5: 6).
  Gives ~310 b for Co K and ~226 b for Zn K at 200 keV (Bote–Salvat: 287 b, 213 b).
* **Elastic (HAADF) cross section**: screened Rutherford with Lenz screening angle
  ``θ₀ = Z^{1/3} / (k₀ a₀)`` and relativistic electron mass and wavelength, integrated over the
  annular detector ``[β₁, β₂]`` in the small-angle approximation.
* **Bremsstrahlung**: thin-target Kramers form ``dσ/dE = (16/3) α r_e² Z² (m₀c² / T) / E``,
  emitted isotropically.
* **Detector efficiency**: empirical ``ε(E) = exp(−(E_w/E)³) · (1 − exp(−(E_t/E)³))`` for
  window/dead-layer absorption at low energy (``E_w = 0.5 keV``) and incomplete absorption in the
  sensor at high energy (``E_t = 25 keV``).

Units: energies in keV, cross sections in barn (1 b = 1e-24 cm²), atomic weights in g/mol,
densities in g/cm³, angles in mrad, beam current in nA, times in s.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import xraydb
from exspy.material import elements as _exspy_elements
from scipy import constants as C

__all__ = [
    "AVOGADRO",
    "BARN_CM2",
    "atomic_number",
    "atomic_weight",
    "element_density",
    "mixture_density",
    "line_energy",
    "line_family",
    "family_lines",
    "line_fraction",
    "shell_for_line",
    "edge_energy",
    "fluorescence_yield",
    "ionization_cross_section",
    "elastic_cross_section",
    "bremsstrahlung_cross_section",
    "detector_efficiency",
    "eds_factor",
    "haadf_factor",
    "peak_fwhm",
    "electron_dose",
]

AVOGADRO = C.Avogadro  # 1/mol
BARN_CM2 = 1e-24  # cm² per barn
_MC2_KEV = C.m_e * C.c**2 / C.e / 1e3  # electron rest energy, keV (510.999)
_PI_E4_CM2_KEV2 = 6.5141e-20  # π e⁴ in cm²·keV²
_ALPHA_RE2_CM2 = C.alpha * (C.physical_constants["classical electron radius"][0] * 100) ** 2

#: X-ray family → (ionized subshell, occupancy) used for the family's ionization cross section
FAMILY_SHELL = {"K": ("K", 2), "L": ("L3", 4), "M": ("M5", 6)}


def _split(line: str) -> tuple[str, str]:
    if not isinstance(line, str) or "_" not in line:
        raise ValueError(f"line: expected an X-ray line like 'Ni_Ka', got {line!r}")
    el, name = line.split("_", 1)
    lines = _element(el)["Atomic_properties"]["Xray_lines"]
    if name not in lines:
        raise ValueError(f"line: {line!r} is not in exspy's table; {el} has {sorted(lines.keys())}")
    return el, name


def _element(el: str):
    if el not in _exspy_elements:
        raise ValueError(f"element: unknown element symbol {el!r}")
    return _exspy_elements[el]


@lru_cache(maxsize=None)
def atomic_number(el: str) -> int:
    """Atomic number Z."""
    return int(_element(el)["General_properties"]["Z"])


@lru_cache(maxsize=None)
def atomic_weight(el: str) -> float:
    """Atomic weight M in g/mol (xraydb)."""
    _element(el)
    return float(xraydb.atomic_mass(el))


@lru_cache(maxsize=None)
def element_density(el: str) -> float:
    """Density of the pure element in g/cm³ (xraydb)."""
    _element(el)
    return float(xraydb.atomic_density(el))


def mixture_density(weight_fractions: dict) -> np.ndarray:
    """Density (g/cm³) of a mixture from weight fractions, assuming additive specific volumes.

    ``1/ρ = Σ_A C_A / ρ_A``. Values broadcast, so arrays of fractions give an array of densities.
    """
    inv = sum(np.asarray(c, dtype=float) / element_density(el) for el, c in weight_fractions.items())
    total = sum(np.asarray(c, dtype=float) for c in weight_fractions.values())
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inv > 0, total / np.where(inv > 0, inv, 1.0), 0.0)


def line_energy(line: str) -> float:
    """Energy of an X-ray line (``'Ni_Ka'``) in keV, from exspy's table."""
    el, name = _split(line)
    return float(_element(el)["Atomic_properties"]["Xray_lines"][name]["energy (keV)"])


def line_family(line: str) -> str:
    """Family letter of a line: ``'K'``, ``'L'`` or ``'M'``."""
    _, name = _split(line)
    return name[0]


def element_lines(el: str) -> list[str]:
    """Every exspy line of ``el``, e.g. ``['Ni_Ka', 'Ni_Kb', 'Ni_La', ...]``."""
    return [f"{el}_{n}" for n in _element(el)["Atomic_properties"]["Xray_lines"].keys()]


def family_lines(el: str, family: str) -> list[str]:
    """All exspy lines of ``el`` in a family, e.g. ``family_lines('Au', 'M')``."""
    return [ln for ln in element_lines(el) if ln.split("_", 1)[1][0] == family]


def line_weight(line: str) -> float:
    """exspy's weight of a line, relative to its family's α line (1.0)."""
    el, name = _split(line)
    return float(_element(el)["Atomic_properties"]["Xray_lines"][name]["weight"])


def line_fraction(line: str) -> float:
    """Relative intensity p of a line within its family (exspy weights normalised to sum 1)."""
    el, name = _split(line)
    total = sum(line_weight(ln) for ln in family_lines(el, name[0]))
    return line_weight(line) / total


def shell_for_line(line: str) -> str:
    """Subshell whose ionization produces the line's family (K, L3 or M5)."""
    return FAMILY_SHELL[line_family(line)][0]


@lru_cache(maxsize=None)
def edge_energy(el: str, shell: str) -> float:
    """Absorption-edge (critical ionization) energy in keV (xraydb)."""
    edge = xraydb.xray_edge(el, shell)
    if edge is None:
        raise ValueError(f"shell: {el} has no {shell} edge in xraydb")
    return float(edge.energy) / 1e3


@lru_cache(maxsize=None)
def fluorescence_yield(el: str, shell: str) -> float:
    """Fluorescence yield ω of a subshell (xraydb)."""
    edge = xraydb.xray_edge(el, shell)
    if edge is None:
        raise ValueError(f"shell: {el} has no {shell} edge in xraydb")
    return float(edge.fyield)


def _beta2(beam_energy: float) -> float:
    gamma = 1.0 + beam_energy / _MC2_KEV
    return 1.0 - 1.0 / gamma**2


def ionization_cross_section(el: str, shell: str, beam_energy: float) -> float:
    """Electron-impact ionization cross section of a subshell, in barn (approximate, see module).

    Parameters
    ----------
    el : str
        Element symbol.
    shell : {'K', 'L3', 'M5'}
        Subshell.
    beam_energy : float
        Incident electron energy in keV.
    """
    occupancy = {s: n for s, n in FAMILY_SHELL.values()}
    if shell not in occupancy:
        raise ValueError(f"shell: expected one of {sorted(occupancy)}, got {shell!r}")
    ec = edge_energy(el, shell)
    if beam_energy <= ec:
        return 0.0
    b2 = _beta2(beam_energy)
    t = 0.5 * _MC2_KEV * b2  # m0 v^2 / 2, keV
    b, c = 0.9, 0.65
    bracket = np.log(max(c * t / ec, 1.0)) - np.log(1.0 - b2) - b2
    sigma_cm2 = _PI_E4_CM2_KEV2 * occupancy[shell] * b / (t * ec) * bracket
    return float(sigma_cm2 / BARN_CM2)


def elastic_cross_section(el: str, beam_energy: float, *, inner_angle: float = 60.0,
                          outer_angle: float = 200.0) -> float:
    """Elastic cross section into an annular detector, in barn (screened Rutherford).

    Parameters
    ----------
    el : str
        Element symbol.
    beam_energy : float
        Incident electron energy in keV.
    inner_angle, outer_angle : float
        Detector collection semi-angles in mrad.
    """
    if not 0 <= inner_angle < outer_angle:
        raise ValueError(f"inner_angle/outer_angle: need 0 <= inner < outer, got {inner_angle}, {outer_angle}")
    z = atomic_number(el)
    gamma = 1.0 + beam_energy / _MC2_KEV
    e_j = beam_energy * 1e3 * C.e
    lam = C.h / np.sqrt(2 * C.m_e * e_j * (1 + e_j / (2 * C.m_e * C.c**2)))  # m
    k0 = 2 * np.pi / lam
    a0 = C.physical_constants["Bohr radius"][0]
    theta0 = z ** (1 / 3) / (k0 * a0)
    b1, b2 = inner_angle * 1e-3, outer_angle * 1e-3
    sigma_m2 = (4 * np.pi * gamma**2 * z**2 / (a0**2 * k0**4)) * (
        1 / (b1**2 + theta0**2) - 1 / (b2**2 + theta0**2)
    )
    return float(sigma_m2 * 1e4 / BARN_CM2)


def bremsstrahlung_cross_section(z: int, energy, beam_energy: float) -> np.ndarray:
    """Thin-target Kramers bremsstrahlung cross section dσ/dE in barn/keV per atom.

    Zero for photon energies outside ``(0, beam_energy)``.
    """
    energy = np.asarray(energy, dtype=float)
    t = 0.5 * _MC2_KEV * _beta2(beam_energy)
    with np.errstate(divide="ignore"):
        val = (16 / 3) * _ALPHA_RE2_CM2 * z**2 * (_MC2_KEV / t) / energy / BARN_CM2
    return np.where((energy > 0) & (energy < beam_energy), val, 0.0)


def detector_efficiency(energy, *, window_energy: float = 0.5, sensor_energy: float = 25.0):
    """Empirical EDS detector efficiency ε(E) in [0, 1] (energy in keV; see module docstring)."""
    e = np.maximum(np.asarray(energy, dtype=float), 1e-6)
    return np.exp(-((window_energy / e) ** 3)) * (1 - np.exp(-((sensor_energy / e) ** 3)))


def eds_factor(line: str, beam_energy: float, *, efficiency: bool = True) -> float:
    """EDS factor ``f_A = σ_ion ω p ε / M`` (Yuan 2020 eq. 7) in barn·mol/g.

    ``σ_ion`` is the ionization cross section of the line's subshell, ``ω`` its fluorescence yield,
    ``p`` the line's fraction of its family, ``ε`` the detector efficiency at the line energy
    (omitted with ``efficiency=False``) and ``M`` the atomic weight.
    """
    el, _ = _split(line)
    shell = shell_for_line(line)
    f = (ionization_cross_section(el, shell, beam_energy) * fluorescence_yield(el, shell)
         * line_fraction(line) / atomic_weight(el))
    if efficiency:
        f *= float(detector_efficiency(line_energy(line)))
    return f


def haadf_factor(el: str, beam_energy: float, *, inner_angle: float = 60.0,
                 outer_angle: float = 200.0) -> float:
    """HAADF factor ``z_A = σ_elastic / M`` (Yuan 2020 eq. 14) in barn·mol/g."""
    return elastic_cross_section(el, beam_energy, inner_angle=inner_angle,
                                 outer_angle=outer_angle) / atomic_weight(el)


def peak_fwhm(energy, energy_resolution_MnKa: float = 130.0):
    """Detector peak FWHM in keV at ``energy`` (keV), exspy's Fiori–Newbury model."""
    from exspy._misc.eds.utils import get_FWHM_at_Energy

    energy = np.asarray(energy, dtype=float)
    out = np.vectorize(lambda e: get_FWHM_at_Energy(energy_resolution_MnKa, float(e)))(energy)
    return float(out) if out.ndim == 0 else out


def electron_dose(beam_current: float, time: float) -> float:
    """Number of electrons for a beam current in nA over ``time`` seconds."""
    if beam_current <= 0 or time <= 0:
        raise ValueError(f"beam_current and time must be positive, got {beam_current} nA, {time} s")
    return beam_current * 1e-9 * time / C.e
