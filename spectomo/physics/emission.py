"""X-ray emission per electron: fluorescence yields, line fractions, EDS factors and partial cross sections.

An exspy line (``'Ag_La'``) is a group of IUPAC transitions (``L3-M5``, ``L3-M4``). Each transition
starts from one subshell ``S``; its share of the radiative decays of ``S`` is xraylib's radiative
rate ``p``, and a vacancy in ``S`` decays radiatively with the fluorescence yield ``ω_S`` (xraylib).
The line is emitted, per electron and per atom, with

    ``σ_line = Σ_S n_S ω_S p_{line,S}``

where ``n_S`` is the vacancy cross section (:func:`~spectomo.physics.ionization.vacancy_cross_section`,
Bote–Salvat with Coster–Kronig cascades by default). Yuan et al. 2020 (eq. 7) define the EDS factor
``f_A = σ_ion ω p ε / M`` and the detected partial cross section ``σ_par = f_A M Ω/4π``; exspy's
zeta factor is ``ζ = M / (σ_par N_A)``.

Lines whose name has no IUPAC mapping here fall back to exspy's line weights, normalised within
the family, and the family's α subshell; :func:`line_components` reports which source was used.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .atomic import (AVOGADRO, BARN_CM2, FAMILY_SHELL, atomic_number, atomic_weight, family_lines,
                     line_energy, line_weight, split_line)
from .ionization import vacancy_cross_section

#: exspy (Siegbahn) line name → IUPAC transitions it contains (initial + final level)
SIEGBAHN_IUPAC = {
    "Ka": ("KL3", "KL2", "KL1"),
    "Kb": ("KM3", "KM2", "KM4", "KM5", "KN2", "KN3", "KN4", "KN5"),
    "La": ("L3M5", "L3M4"),
    "Lb1": ("L2M4",),
    "Lb2": ("L3N5", "L3N4"),
    "Lb3": ("L1M3",),
    "Lb4": ("L1M2",),
    "Lg1": ("L2N4",),
    "Lg3": ("L1N3",),
    "Ll": ("L3M1",),
    "Ln": ("L2M1",),
    "Ma": ("M5N7", "M5N6"),
    "Mb": ("M4N6",),
    "Mg": ("M3N5",),
    "Mz": ("M5N3", "M4N2"),
    "M2N4": ("M2N4",),
    "M3O4": ("M3O4",),
    "M3O5": ("M3O5",),
}


def _initial_level(transition: str) -> str:
    return transition[0] if transition[0] == "K" else transition[:2]


@lru_cache(maxsize=None)
def fluorescence_yield(el: str, shell: str) -> float:
    """Fluorescence yield ω of a subshell (xraylib); ``ValueError`` where xraylib has none."""
    import xraylib

    macro = f"{shell}_SHELL"
    if not hasattr(xraylib, macro):
        raise ValueError(f"shell: unknown subshell {shell!r}")
    try:
        return float(xraylib.FluorYield(atomic_number(el), getattr(xraylib, macro)))
    except ValueError:
        raise ValueError(f"shell: xraylib has no fluorescence yield for the {shell} subshell of {el}") from None


@lru_cache(maxsize=None)
def radiative_rate(el: str, transition: str) -> float:
    """Fraction of the radiative decays of the transition's initial subshell that emit it (xraylib);
    0 where xraylib has no rate."""
    import xraylib

    macro = f"{transition}_LINE"
    if not hasattr(xraylib, macro):
        return 0.0
    try:
        return float(xraylib.RadRate(atomic_number(el), getattr(xraylib, macro)))
    except ValueError:
        return 0.0


@lru_cache(maxsize=None)
def line_components(line: str) -> tuple:
    """``((subshell, p), ...)`` emitting ``line``, and the data source.

    Returns
    -------
    tuple
        ``(components, source)`` with ``components`` a tuple of ``(subshell, p)`` pairs, ``p`` the
        line's share of the subshell's radiative decays, and ``source`` ``'xraylib'`` or
        ``'exspy weights'`` (fallback: weight within the family, α subshell of the family).
    """
    el, name = split_line(line)
    parts: dict[str, float] = {}
    for t in SIEGBAHN_IUPAC.get(name, ()):
        rate = radiative_rate(el, t)
        if rate > 0:
            shell = _initial_level(t)
            parts[shell] = parts.get(shell, 0.0) + rate
    if parts:
        return tuple(sorted(parts.items(), key=lambda kv: -kv[1])), "xraylib"
    fam = name[0]
    total = sum(line_weight(ln) for ln in family_lines(el, fam))
    return ((FAMILY_SHELL[fam][0], line_weight(line) / total),), "exspy weights"


def shell_for_line(line: str) -> str:
    """The subshell whose vacancies emit most of ``line`` (e.g. L3 for Lα, M5 for Mα)."""
    return line_components(line)[0][0][0]


def line_fraction(line: str) -> float:
    """``p``: the line's share of the radiative decays of :func:`shell_for_line` (xraylib)."""
    return line_components(line)[0][0][1]


def emission_cross_section(line: str, beam_energy: float, *, coster_kronig: bool = True) -> float:
    """X-ray emission cross section of ``line`` per atom, ``Σ_S n_S ω_S p_S`` in barn (4π, no detector)."""
    el, _ = split_line(line)
    comps, _ = line_components(line)
    total = 0.0
    for shell, p in comps:
        n = vacancy_cross_section(el, shell, beam_energy, coster_kronig=coster_kronig)
        if n > 0:
            total += n * fluorescence_yield(el, shell) * p
    return total


def detector_efficiency(energy, *, window_energy: float = 0.5, sensor_energy: float = 25.0):
    """Empirical EDS detector efficiency ε(E) in [0, 1] (energy in keV).

    ``ε(E) = exp(−(E_w/E)³) · (1 − exp(−(E_t/E)³))``: window/dead-layer absorption at low energy
    (``E_w = 0.5 keV``) and incomplete absorption in the sensor at high energy (``E_t = 25 keV``).
    """
    e = np.maximum(np.asarray(energy, dtype=float), 1e-6)
    return np.exp(-((window_energy / e) ** 3)) * (1 - np.exp(-((sensor_energy / e) ** 3)))


def eds_factor(line: str, beam_energy: float, *, efficiency: bool = True, coster_kronig: bool = True) -> float:
    """EDS factor ``f_A = σ_ion ω p ε / M`` (Yuan 2020 eq. 7) in barn·mol/g.

    ``σ_ion ω p`` is :func:`emission_cross_section` (summed over the subshells that emit the line),
    ``ε`` the detector efficiency at the line energy (omitted with ``efficiency=False``) and ``M``
    the atomic weight.
    """
    el, _ = split_line(line)
    f = emission_cross_section(line, beam_energy, coster_kronig=coster_kronig) / atomic_weight(el)
    if efficiency:
        f *= float(detector_efficiency(line_energy(line)))
    return f


def partial_cross_section(line: str, beam_energy: float, *, solid_angle: float, efficiency: bool = True,
                          coster_kronig: bool = True) -> float:
    """Detected partial cross section ``σ_par = f_A M Ω/4π`` in barn (exspy's ``cross_section`` units).

    ``solid_angle`` is the EDS detector's collection solid angle Ω in sr.
    """
    _check_solid_angle(solid_angle)
    el, _ = split_line(line)
    return (eds_factor(line, beam_energy, efficiency=efficiency, coster_kronig=coster_kronig)
            * atomic_weight(el) * solid_angle / (4 * np.pi))


def zeta_factor(line: str, beam_energy: float, *, solid_angle: float, efficiency: bool = True,
                coster_kronig: bool = True) -> float:
    """Theoretical ζ-factor in kg/m² (exspy's units): ``ζ = M / (σ_par N_A)``.

    With it, exspy's ``ρt = ζ I / (C D_e)`` holds for counts ``I`` and dose ``D_e`` in electrons.
    """
    el, _ = split_line(line)
    sigma = partial_cross_section(line, beam_energy, solid_angle=solid_angle, efficiency=efficiency,
                                  coster_kronig=coster_kronig)
    if sigma <= 0:
        raise ValueError(f"line: {line} is not excited at {beam_energy} keV (partial cross section 0)")
    return atomic_weight(el) * 1e-3 / (sigma * BARN_CM2 * 1e-4 * AVOGADRO)


def _check_solid_angle(solid_angle):
    try:
        ok = np.isfinite(solid_angle) and 0 < solid_angle <= 4 * np.pi
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"solid_angle: expected the EDS collection solid angle in sr, in (0, 4π], got {solid_angle!r}")


def peak_fwhm(energy, energy_resolution_MnKa: float = 130.0):
    """Detector peak FWHM in keV at ``energy`` (keV), exspy's Fiori–Newbury model."""
    from exspy._misc.eds.utils import get_FWHM_at_Energy

    energy = np.asarray(energy, dtype=float)
    out = np.vectorize(lambda e: get_FWHM_at_Energy(energy_resolution_MnKa, float(e)))(energy)
    return float(out) if out.ndim == 0 else out
