"""Physical factors for EDS and HAADF signal formation (thin-film approximation).

Every number the simulator and the quantification stage use comes from here:

* :mod:`~spectomo.physics.atomic` — atomic numbers, weights, densities and edge energies (xraydb),
  X-ray line energies and names (exspy's table), electron dose.
* :mod:`~spectomo.physics.ionization` — Bote–Salvat (2009) subshell ionization cross sections for
  K, L1–L3, M1–M5 and Coster–Kronig cascades (xraylib).
* :mod:`~spectomo.physics.emission` — fluorescence yields and radiative rates (xraylib), the EDS
  factor ``f_A = σ_ion ω p ε / M`` (Yuan 2020 eq. 7), partial cross sections and ζ-factors, the
  detector model.
* :mod:`~spectomo.physics.attenuation` — X-ray mass attenuation coefficients (xraydb, Elam
  tables) and the linear attenuation of a composition, for absorption correction.
* :mod:`~spectomo.physics.scattering` — the elastic cross section into the HAADF annulus
  (screened Rutherford with Lenz screening and relativistic correction) and the HAADF factor
  ``z_A = σ_el / M``; thin-target bremsstrahlung.

Units: energies in keV, cross sections in barn (1 b = 1e-24 cm²), atomic weights in g/mol,
densities in g/cm³, angles in mrad, solid angles in sr, beam current in nA, times in s, ζ-factors
in kg/m² (exspy's convention).
"""

from .atomic import (AVOGADRO, BARN_CM2, FAMILY_SHELL, atomic_number, atomic_weight, edge_energy,
                     electron_dose, element_density, element_lines, family_lines, line_energy,
                     line_family, line_weight, mixture_density, split_line)
from .attenuation import (attenuation_length, attenuation_matrix, attenuation_volumes, linear_attenuation,
                          mass_attenuation)
from .emission import (SIEGBAHN_IUPAC, detector_efficiency, eds_factor, emission_cross_section,
                       fluorescence_yield, line_components, line_fraction, partial_cross_section,
                       peak_fwhm, radiative_rate, shell_for_line, zeta_factor)
from .ionization import (SUBSHELLS, bote_salvat_coefficients, bote_salvat_table, coster_kronig_yield,
                         ionization_cross_section, vacancy_cross_section)
from .scattering import bremsstrahlung_cross_section, elastic_cross_section, haadf_factor

__all__ = [
    "AVOGADRO", "BARN_CM2", "FAMILY_SHELL", "SUBSHELLS", "SIEGBAHN_IUPAC",
    "atomic_number", "atomic_weight", "element_density", "mixture_density", "edge_energy",
    "line_energy", "line_family", "line_weight", "element_lines", "family_lines", "split_line",
    "electron_dose",
    "ionization_cross_section", "vacancy_cross_section", "coster_kronig_yield",
    "bote_salvat_coefficients", "bote_salvat_table",
    "fluorescence_yield", "radiative_rate", "line_components", "line_fraction", "shell_for_line",
    "emission_cross_section", "eds_factor", "partial_cross_section", "zeta_factor",
    "detector_efficiency", "peak_fwhm",
    "elastic_cross_section", "haadf_factor", "bremsstrahlung_cross_section",
    "mass_attenuation", "attenuation_matrix", "linear_attenuation", "attenuation_volumes", "attenuation_length",
]
