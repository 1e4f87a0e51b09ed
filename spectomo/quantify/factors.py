"""The per-line (or per-element) factors each quantification method needs.

* ``'zeta'``: ζ-factor per line in kg/m² (exspy's convention).
* ``'cross_section'``: detected partial cross section per line in barn (exspy's convention).
* ``'hebt'``: HAADF factor ``z_A = σ_el/M`` per element in barn·mol/g (Yuan 2020 eq. 14).

Given as a dict (keyed by line or by element), or computed from :mod:`spectomo.physics` for the
beam energy (and the EDS solid angle, or the HAADF annulus).
"""

from __future__ import annotations

from .. import physics, validation
from .inputs import element_of

UNITS = {"zeta": "kg/m² (ζ-factor)", "cross_section": "barn (detected partial cross section)",
         "hebt": "barn·mol/g (z_A = σ_elastic / M)"}


def _given(factors: dict, names, method: str) -> dict:
    if not isinstance(factors, dict):
        raise TypeError(f"factors: expected a dict of line (or element) → {UNITS[method]}, "
                        f"got {type(factors).__name__}")
    out = {}
    for name in names:
        key = name if name in factors else element_of(name)
        if key not in factors:
            raise ValueError(f"factors: no {method} factor for {name!r} (given for {sorted(factors)}); "
                             f"pass one per line, in {UNITS[method]}")
        out[name] = validation.positive(factors[key], f"factors[{key!r}]", UNITS[method])
    return out


def resolve_factors(method: str, factors, names, *, beam_energy, solid_angle, haadf_angles) -> tuple[dict, str]:
    """``({name: factor}, source)`` for ``method``; ``source`` says where they came from."""
    if factors is not None:
        return _given(factors, names, method), "given"
    if beam_energy is None:
        raise ValueError("beam_energy: needed to compute the factors from spectomo.physics (pass beam_energy= "
                         "in keV, or factors=, or set metadata.Acquisition_instrument.TEM.beam_energy)")
    out = {}
    if method == "hebt":
        if haadf_angles is None:
            raise ValueError("haadf_angles: the HAADF annulus is needed for z_A (pass haadf_angles=(inner, "
                             "outer) in mrad, factors=, or an HEBTResult whose HAADF has Detector.HAADF angles)")
        inner, outer = haadf_angles
        for name in names:
            out[name] = physics.haadf_factor(element_of(name), beam_energy, inner_angle=inner, outer_angle=outer)
        return out, f"spectomo.physics (screened Rutherford, {inner:g}–{outer:g} mrad, {beam_energy:g} keV)"
    if solid_angle is None:
        raise ValueError("solid_angle: the EDS collection solid angle (sr) is needed for theoretical factors; "
                         "pass solid_angle=, factors=, or set "
                         "metadata.Acquisition_instrument.TEM.Detector.EDS.solid_angle")
    fn = physics.zeta_factor if method == "zeta" else physics.partial_cross_section
    for name in names:
        if "_" not in name:
            raise ValueError(f"volumes: {name!r} names an element, not an X-ray line; the {method} method "
                             "needs the line (e.g. 'Ag_La') to compute its factor, or pass factors=")
        try:
            out[name] = fn(name, beam_energy, solid_angle=solid_angle)
        except ValueError as err:
            raise ValueError(f"factors: cannot compute the {method} factor of {name!r}: {err}") from None
    return out, f"spectomo.physics (Bote–Salvat + xraylib, {beam_energy:g} keV, Ω = {solid_angle:g} sr)"
