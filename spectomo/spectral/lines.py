"""X-ray line bookkeeping on top of exspy's tables: which lines, where they sit, what overlaps.

All energies here are in the units of the spectrum's energy axis (keV or eV); peak widths follow
exspy's detector model (:func:`spectomo.physics.peak_fwhm`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from .. import physics
from .inputs import SpectralInput, SpectralInputError

__all__ = ["Line", "select_lines", "interferers", "peak_fraction", "contamination"]

#: Lines weaker than this (exspy weight, relative to the family's α line) are ignored as interferers.
MIN_WEIGHT = 0.01


@dataclass(frozen=True)
class Line:
    """One X-ray line as seen on a given energy axis."""

    name: str
    energy: float  # axis units
    fwhm: float  # axis units
    weight: float  # exspy weight, relative to the family's α line

    @property
    def element(self) -> str:
        return self.name.split("_")[0]

    @property
    def sigma(self) -> float:
        return self.fwhm / (2 * np.sqrt(2 * np.log(2)))


def make_line(name: str, inp: SpectralInput) -> Line:
    """Validate ``name`` against exspy's table and place it on ``inp``'s energy axis."""
    try:
        e_kev = physics.line_energy(name)
    except ValueError as err:
        raise SpectralInputError(f"lines: {err}") from None
    fwhm_kev = float(physics.peak_fwhm(e_kev, inp.energy_resolution))
    return Line(name, e_kev * inp.units_per_keV, fwhm_kev * inp.units_per_keV,
                physics.line_weight(name))


def select_lines(inp: SpectralInput, lines) -> list[Line]:
    """The lines to map: ``lines``, else the signal's ``Sample.xray_lines``, else exspy's choice.

    exspy's choice is one α line per element in ``metadata.Sample.elements`` (the highest-energy one
    with an overvoltage of at least 2), as ``EDSSpectrum.add_lines()`` does.
    """
    if isinstance(lines, str):
        lines = [lines]
    if lines is None:
        lines = list(inp.xray_lines)
        if not lines and inp.elements:
            lines = list(inp.signal._get_lines_from_elements(inp.elements, only_one=True, only_lines=("a",)))
        if not lines:
            raise SpectralInputError(
                "lines: none given and spectra.metadata.Sample has no xray_lines or elements; pass "
                "lines=['Ni_Ka', ...] or call spectra.add_elements(['Ni', ...]) first")
    lines = list(dict.fromkeys(lines))
    if not lines:
        raise SpectralInputError("lines: an empty list; give X-ray lines such as ['Ni_Ka'], or None for the "
                                 "lines in spectra.metadata.Sample")
    out = [make_line(name, inp) for name in lines]
    lo, hi = inp.energy[0], inp.energy[-1]
    for ln in out:
        if not lo + ln.fwhm <= ln.energy <= hi - ln.fwhm:
            raise SpectralInputError(
                f"lines: {ln.name} at {ln.energy:g} {inp.energy_units} is outside the usable energy "
                f"range {lo:g}–{hi:g} {inp.energy_units} (a peak needs one FWHM, {ln.fwhm:.3g}, inside)")
        edge = _edge(ln.name)
        if inp.beam_energy is not None and edge is not None and edge >= inp.beam_energy:
            raise SpectralInputError(
                f"lines: {ln.name} cannot be excited: its ionisation edge ({edge:.2f} keV) is above the beam "
                f"energy ({inp.beam_energy:g} keV, metadata.Acquisition_instrument.TEM.beam_energy); choose "
                "another line of the element or correct the beam energy")
    return out


def _edge(name: str) -> float | None:
    """Ionisation edge (keV) of the shell a line comes from, or None when unknown."""
    try:
        return float(physics.edge_energy(name.split("_")[0], physics.shell_for_line(name)))
    except ValueError:
        return None


def _physics_weight(name: str, beam_energy: float | None) -> float:
    """Detected intensity of ``name`` relative to its family's α line from spectomo's physics
    (ionisation with Coster–Kronig transfers, fluorescence yields, radiative rates, detector
    efficiency), or 0 when unknown. Used only to decide which weak lines exist: exspy's table puts
    some near zero (Cu Lβ3: 0.1 % of Lα; the physics: 2.5 %); the fit then measures their size."""
    if beam_energy is None:
        return 0.0
    el, fam = name.split("_")[0], physics.line_family(name)
    try:
        return float(physics.eds_factor(name, beam_energy) / physics.eds_factor(f"{el}_{fam}a", beam_energy))
    except (ValueError, KeyError, ZeroDivisionError):
        return 0.0


def interferers(inp: SpectralInput, lines: list[Line]) -> list[Line]:
    """Every line of every element in play (metadata elements and requested lines) on the axis.

    Lines above the beam energy's reach (ionisation edge ≥ beam energy) and lines weaker than
    :data:`MIN_WEIGHT` by both exspy's weight and spectomo's physics are left out.
    """
    elements = list(dict.fromkeys(list(inp.elements) + [ln.element for ln in lines]))
    beam = inp.beam_energy
    lo, hi = inp.energy[0], inp.energy[-1]
    out = []
    for el in elements:
        for name in physics.element_lines(el):
            if physics.line_weight(name) < MIN_WEIGHT and _physics_weight(name, beam) < MIN_WEIGHT:
                continue
            edge = _edge(name)
            if beam is not None and edge is not None and edge >= beam:
                continue
            ln = make_line(name, inp)
            if lo - 3 * ln.fwhm <= ln.energy <= hi + 3 * ln.fwhm:
                out.append(ln)
    return out


def peak_fraction(line: Line, lo: float, hi: float) -> float:
    """Fraction of ``line``'s Gaussian peak area between ``lo`` and ``hi``."""
    s = np.sqrt(2) * line.sigma
    return float(0.5 * (erf((hi - line.energy) / s) - erf((lo - line.energy) / s)))


def relative_strength(line: Line, other: Line) -> float:
    """Expected peak area of ``other`` relative to ``line``'s (worst case for another element).

    Within one family of one element, exspy's weights give the ratio; across families or elements
    the concentrations are unknown, so ``other``'s α line is assumed as strong as ``line``.
    """
    same_family = other.element == line.element and other.name.split("_")[1][0] == line.name.split("_")[1][0]
    return other.weight / line.weight if same_family else other.weight


def contamination(line: Line, window: tuple[float, float], others: list[Line]) -> dict[str, float]:
    """Area of each other line inside ``window``, relative to ``line``'s full peak area."""
    out = {}
    for o in others:
        if o.name == line.name:
            continue
        c = relative_strength(line, o) * peak_fraction(o, *window)
        if c > 0:
            out[o.name] = c
    return out
