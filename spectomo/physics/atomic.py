"""Atomic data: numbers, weights, densities, edges, and exspy's X-ray line table.

Atomic weights, element densities and edge energies come from ``xraydb`` (current IUPAC weights);
line energies and names from exspy's element database, so the physics and the spectral stage share
one line table.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import xraydb
from .. import _exspy  # noqa: F401  (exspy imported quietly first)
from exspy.material import elements as _exspy_elements
from scipy import constants as C

AVOGADRO = C.Avogadro  # 1/mol
BARN_CM2 = 1e-24  # cm² per barn

#: X-ray family → (subshell ionized for the family's α line, its occupancy)
FAMILY_SHELL = {"K": ("K", 2), "L": ("L3", 4), "M": ("M5", 6)}


def split_line(line: str) -> tuple[str, str]:
    """``'Ni_Ka'`` → ``('Ni', 'Ka')``, checked against exspy's table."""
    if not isinstance(line, str) or "_" not in line:
        raise ValueError(f"line: expected an X-ray line like 'Ni_Ka', got {line!r}")
    el, name = line.split("_", 1)
    lines = element_data(el)["Atomic_properties"]["Xray_lines"]
    if name not in lines:
        raise ValueError(f"line: {line!r} is not in exspy's table; {el} has {sorted(lines.keys())}")
    return el, name


def element_data(el: str):
    """exspy's database entry of an element (raises ``ValueError`` naming an unknown symbol)."""
    if not isinstance(el, str) or el not in _exspy_elements:
        raise ValueError(f"element: unknown element symbol {el!r}")
    return _exspy_elements[el]


@lru_cache(maxsize=None)
def atomic_number(el: str) -> int:
    """Atomic number Z."""
    return int(element_data(el)["General_properties"]["Z"])


@lru_cache(maxsize=None)
def atomic_weight(el: str) -> float:
    """Atomic weight M in g/mol (xraydb)."""
    element_data(el)
    return float(xraydb.atomic_mass(el))


@lru_cache(maxsize=None)
def element_density(el: str) -> float:
    """Density of the pure element in g/cm³ (xraydb)."""
    element_data(el)
    return float(xraydb.atomic_density(el))


def mixture_density(weight_fractions: dict) -> np.ndarray:
    """Density (g/cm³) of a mixture from weight fractions, assuming additive specific volumes.

    ``1/ρ = Σ_A C_A / ρ_A``. Values broadcast, so arrays of fractions give an array of densities.
    """
    inv = sum(np.asarray(c, dtype=float) / element_density(el) for el, c in weight_fractions.items())
    total = sum(np.asarray(c, dtype=float) for c in weight_fractions.values())
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inv > 0, total / np.where(inv > 0, inv, 1.0), 0.0)


@lru_cache(maxsize=None)
def edge_energy(el: str, shell: str) -> float:
    """Absorption-edge (critical ionization) energy in keV (xraydb)."""
    element_data(el)
    edge = xraydb.xray_edge(el, shell)
    if edge is None:
        raise ValueError(f"shell: {el} has no {shell} edge in xraydb")
    return float(edge.energy) / 1e3


def line_energy(line: str) -> float:
    """Energy of an X-ray line (``'Ni_Ka'``) in keV, from exspy's table."""
    el, name = split_line(line)
    return float(element_data(el)["Atomic_properties"]["Xray_lines"][name]["energy (keV)"])


def line_family(line: str) -> str:
    """Family letter of a line: ``'K'``, ``'L'`` or ``'M'``."""
    return split_line(line)[1][0]


def element_lines(el: str) -> list[str]:
    """Every exspy line of ``el``, e.g. ``['Ni_Ka', 'Ni_Kb', 'Ni_La', ...]``."""
    return [f"{el}_{n}" for n in element_data(el)["Atomic_properties"]["Xray_lines"].keys()]


def family_lines(el: str, family: str) -> list[str]:
    """All exspy lines of ``el`` in a family, e.g. ``family_lines('Au', 'M')``."""
    return [ln for ln in element_lines(el) if ln.split("_", 1)[1][0] == family]


def line_weight(line: str) -> float:
    """exspy's weight of a line, relative to its family's α line (1.0)."""
    el, name = split_line(line)
    return float(element_data(el)["Atomic_properties"]["Xray_lines"][name]["weight"])


def electron_dose(beam_current: float, time: float) -> float:
    """Number of electrons for a beam current in nA over ``time`` seconds."""
    if not (np.isfinite(beam_current) and np.isfinite(time)) or beam_current <= 0 or time <= 0:
        raise ValueError(f"beam_current and time must be positive, got {beam_current} nA, {time} s")
    return beam_current * 1e-9 * time / C.e
