"""Approximate physical factors: magnitudes and consistency."""

import numpy as np
import pytest

from spectomo import physics


@pytest.mark.parametrize("el, bote", [("Co", 287.0), ("Zn", 213.0)])
def test_k_shell_ionization_near_bote_salvat(el, bote):
    assert physics.ionization_cross_section(el, "K", 200.0) == pytest.approx(bote, rel=0.10)


def test_ionization_below_edge_is_zero_and_grows_above():
    assert physics.ionization_cross_section("Au", "K", 60.0) == 0.0
    s = [physics.ionization_cross_section("Ni", "K", e) for e in (10.0, 20.0, 40.0)]
    assert s[0] < s[1] < s[2]
    with pytest.raises(ValueError, match="shell"):
        physics.ionization_cross_section("Ni", "L1", 200.0)


def test_elastic_cross_section_is_additive_and_grows_with_z():
    a = physics.elastic_cross_section("Au", 200.0, inner_angle=60, outer_angle=100)
    b = physics.elastic_cross_section("Au", 200.0, inner_angle=100, outer_angle=200)
    assert a + b == pytest.approx(physics.elastic_cross_section("Au", 200.0, inner_angle=60, outer_angle=200))
    z = [physics.elastic_cross_section(el, 200.0) for el in ("Si", "Ni", "Ag", "Au")]
    assert np.all(np.diff(z) > 0)
    with pytest.raises(ValueError, match="inner_angle"):
        physics.elastic_cross_section("Au", 200.0, inner_angle=200, outer_angle=60)


def test_factor_definitions():
    line = "Ni_Ka"
    f = physics.eds_factor(line, 200.0, efficiency=False)
    want = (physics.ionization_cross_section("Ni", "K", 200.0) * physics.fluorescence_yield("Ni", "K")
            * physics.line_fraction(line) / physics.atomic_weight("Ni"))
    assert f == pytest.approx(want)
    eff = float(physics.detector_efficiency(physics.line_energy(line)))
    assert physics.eds_factor(line, 200.0) == pytest.approx(want * eff)
    assert physics.haadf_factor("Pt", 200.0) == pytest.approx(
        physics.elastic_cross_section("Pt", 200.0) / physics.atomic_weight("Pt"))
    assert sum(physics.line_fraction(ln) for ln in physics.family_lines("Au", "M")) == pytest.approx(1.0)


def test_tables_and_helpers():
    assert physics.line_energy("Ni_Ka") == pytest.approx(7.478, abs=0.01)
    assert physics.atomic_weight("Au") == pytest.approx(196.97, abs=0.01)
    assert float(physics.mixture_density({"Au": 1.0})) == pytest.approx(physics.element_density("Au"))
    rho = physics.mixture_density({"Au": 0.5, "Ag": 0.5})
    assert physics.element_density("Ag") < rho < physics.element_density("Au")
    eff = physics.detector_efficiency(np.array([0.3, 1.0, 5.0, 30.0]))
    assert np.all((eff >= 0) & (eff <= 1)) and eff[2] > eff[0] and eff[2] > eff[3]
    assert physics.peak_fwhm(5.8987, 130.0) == pytest.approx(0.130, abs=1e-3)
    assert physics.electron_dose(1.0, 1.0) == pytest.approx(6.2415e9, rel=1e-4)
    with pytest.raises(ValueError, match="line"):
        physics.line_energy("Ni_Kz")
    with pytest.raises(ValueError, match="element"):
        physics.atomic_weight("Xx")
