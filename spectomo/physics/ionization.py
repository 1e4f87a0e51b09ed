"""Electron-impact inner-shell ionization: Bote–Salvat (2009) cross sections and Coster–Kronig cascades.

Cross sections follow the analytical formulas of Bote, Salvat, Jablonski & Powell, At. Data Nucl.
Data Tables 95 (2009) 871, fitted to distorted-wave (DWBA) and plane-wave Born calculations for
every K, L1–L3 and M1–M5 subshell of Z = 1–99, electrons of 50 eV–1 GeV. With the overvoltage
``U = E/E_i`` (``E_i`` the Bote–Salvat ionization energy):

* ``U ≤ 16``: ``σ = 4π a₀² (U − 1)/U² · [a₁ + a₂U + a₃/(1+U) + a₄/(1+U)³ + a₅/(1+U)⁵]²``
* ``U > 16``: ``σ = 4π a₀² · A/β² · U/(U + B) · [(ln X² − β²)(1 + g₁/X) + g₂ + g₃ √(m₀c²/(E + m₀c²)) + g₄/X]``

with ``X = √(E(E + 2m₀c²))/m₀c² = βγ``. The coefficients ship in ``spectomo/data/bote_salvat_2009.txt``.

Vacancies in a subshell also arrive from lower subshells of the same shell by Coster–Kronig
transitions (xraylib's probabilities ``f_ij``), which the default ``coster_kronig=True`` adds:
``n_j = σ_j + Σ_{i<j} f_ij n_i``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from scipy import constants as C

from .atomic import BARN_CM2, atomic_number, element_data

SUBSHELLS = ("K", "L1", "L2", "L3", "M1", "M2", "M3", "M4", "M5")
_REST_EV = C.m_e * C.c**2 / C.e  # 510 998.95 eV
_FOUR_PI_A0_CM2 = 4 * np.pi * (C.physical_constants["Bohr radius"][0] * 100) ** 2


@dataclass(frozen=True)
class BoteSalvatCoefficients:
    """One subshell's entry of the Bote–Salvat table (see the module docstring)."""

    z: int
    shell: str
    edge_ev: float
    b: float
    anlj: float
    g: tuple
    a: tuple


@lru_cache(maxsize=1)
def bote_salvat_table() -> dict:
    """The whole coefficient table: ``{(Z, subshell): BoteSalvatCoefficients}``."""
    text = resources.files("spectomo").joinpath("data/bote_salvat_2009.txt").read_text()
    blocks, z = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, rest = line.split(None, 1)
        if key == "Z":
            z = int(rest)
            blocks[z] = {}
            continue
        groups = [tuple(float(v) for v in g.split()) for g in rest.split(";")]
        blocks[z][key] = groups if key in ("g", "a") else groups[0]
    table = {}
    for z, blk in blocks.items():
        for i, edge in enumerate(blk["edge"]):
            table[(z, SUBSHELLS[i])] = BoteSalvatCoefficients(
                z=z, shell=SUBSHELLS[i], edge_ev=edge, b=blk["b"][i], anlj=blk["anlj"][i],
                g=blk["g"][i], a=blk["a"][i])
    return table


def bote_salvat_coefficients(el: str, shell: str) -> BoteSalvatCoefficients:
    """Coefficients of ``el``'s ``shell``; ``ValueError`` names what is missing."""
    if shell not in SUBSHELLS:
        raise ValueError(f"shell: expected one of {SUBSHELLS}, got {shell!r}")
    z = atomic_number(el)
    entry = bote_salvat_table().get((z, shell))
    if entry is None:
        have = [s for s in SUBSHELLS if (z, s) in bote_salvat_table()]
        raise ValueError(f"shell: the Bote–Salvat table has no {shell} subshell for {el} (Z={z}); it has {have}")
    return entry


def _bote_salvat_cm2(c: BoteSalvatCoefficients, energy_ev: float) -> float:
    u = energy_ev / c.edge_ev
    if u <= 1.0:
        return 0.0
    if u <= 16.0:
        a1, a2, a3, a4, a5 = c.a
        o = 1.0 / (1.0 + u)
        fit = a1 + a2 * u + a3 * o + a4 * o**3 + a5 * o**5
        return _FOUR_PI_A0_CM2 * (u - 1.0) * (fit / u) ** 2
    beta2 = energy_ev * (energy_ev + 2 * _REST_EV) / (energy_ev + _REST_EV) ** 2
    x = np.sqrt(energy_ev * (energy_ev + 2 * _REST_EV)) / _REST_EV
    g1, g2, g3, g4 = c.g
    fit = ((np.log(x * x) - beta2) * (1 + g1 / x) + g2 + g3 * np.sqrt(_REST_EV / (energy_ev + _REST_EV))
           + g4 / x)
    return _FOUR_PI_A0_CM2 * c.anlj / beta2 * u / (u + c.b) * fit


def ionization_cross_section(el: str, shell: str, beam_energy: float) -> float:
    """Electron-impact ionization cross section of one subshell (Bote–Salvat 2009), in barn.

    Parameters
    ----------
    el : str
        Element symbol.
    shell : {'K', 'L1', 'L2', 'L3', 'M1', 'M2', 'M3', 'M4', 'M5'}
        Subshell.
    beam_energy : float
        Incident electron kinetic energy in keV. Zero at or below the ionization energy.
    """
    element_data(el)
    c = bote_salvat_coefficients(el, shell)
    e = float(beam_energy)
    if not np.isfinite(e) or e <= 0:
        raise ValueError(f"beam_energy: expected a positive energy in keV, got {beam_energy!r}")
    return float(_bote_salvat_cm2(c, e * 1e3) / BARN_CM2)


def coster_kronig_yield(el: str, initial: str, final: str) -> float:
    """Coster–Kronig probability ``f_ij`` (xraylib) of moving a vacancy from ``initial`` to ``final``
    within one shell (L1→L2, L1→L3, L2→L3, M1→M2 … M4→M5); 0 where xraylib has no value."""
    import xraylib

    macro = f"F{initial[0]}{initial[1:]}{final[1:]}_TRANS"
    if initial[0] != final[0] or not hasattr(xraylib, macro):
        return 0.0
    try:
        return float(xraylib.CosKronTransProb(atomic_number(el), getattr(xraylib, macro)))
    except ValueError:
        return 0.0


def vacancy_cross_section(el: str, shell: str, beam_energy: float, *, coster_kronig: bool = True) -> float:
    """Vacancies created in ``shell`` per incident electron and per atom, as a cross section (barn).

    Direct ionization (:func:`ionization_cross_section`) plus, with ``coster_kronig=True``, the
    vacancies cascading in from lower subshells of the same shell: ``n_j = σ_j + Σ_{i<j} f_ij n_i``.
    Lower subshells absent from the Bote–Salvat table contribute nothing.
    """
    direct = ionization_cross_section(el, shell, beam_energy)
    if not coster_kronig or shell == "K":
        return direct
    family = [s for s in SUBSHELLS if s[0] == shell[0]]
    n = {}
    for s in family[: family.index(shell) + 1]:
        try:
            sigma = ionization_cross_section(el, s, beam_energy)
        except ValueError:
            sigma = 0.0
        n[s] = sigma + sum(coster_kronig_yield(el, i, s) * n[i] for i in n)
    return n[shell]
