"""Quantification: weight fractions, densities, the ESF mask, errors, and fidelity on the simulator."""

import warnings

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

import spectomo
from spectomo import datasets, physics
from spectomo.datasets import default_tilts
from spectomo.evaluation import composition_table, poisson_maps, worst_composition_error
from spectomo.quantify import QuantificationWarning, esf_threshold


@pytest.fixture(scope="module")
def sim():
    return datasets.simulate("core_shell", size=32, seed=0, progress=False, tilts=default_tilts((-70, 70), 5.0),
                             energy_channels=64, energy_scale=0.2)


@pytest.fixture(scope="module")
def noise_free_sirt(sim):
    return {ln: sim.net_counts[ln].reconstruct("SIRT", iterations=100, progress=False) for ln in sim.lines}


@pytest.fixture(scope="module")
def noisy_maps(sim):
    return poisson_maps({ln: sim.net_counts[ln] for ln in sim.lines}, seed=7)


def _max_error(q, phantom):
    """Largest |measured − true| mean wt% over the majority regions (core, shell) inside the mask."""
    table = composition_table(q, phantom)
    return worst_composition_error(table), table


def test_noise_free_sirt_recovers_core_and_shell_within_2_wt_percent(sim, noise_free_sirt):
    q = spectomo.quantify(noise_free_sirt, method="zeta", progress=False)
    worst, errs = _max_error(q, sim.phantom)
    assert worst < 2.0, errs  # measured 0.5 wt%
    inside = np.asarray(q.mask.data, dtype=bool)
    total = sum(np.asarray(v.data) for v in q.weight_percent.values())
    assert np.allclose(total[inside], 100, atol=1e-3) and np.all(total[~inside] == 0)
    # ζ-method density in the particle interior within 5 % of the phantom's
    rho = sim.phantom.density
    interior = binary_erosion(rho > 0.5 * rho.max(), iterations=2)
    assert q.mean_density(interior) == pytest.approx(float(rho[interior].mean()), rel=0.05)
    # atom densities: n_A = C_A ρ N_A / M_A
    el = "Au"
    n = np.asarray(q.atom_density[el].data)[interior].mean()
    want = (np.asarray(q.weight_percent[el].data) / 100 * np.asarray(q.density.data))[interior].mean()
    assert n == pytest.approx(want * physics.AVOGADRO / physics.atomic_weight(el) * 1e-21, rel=1e-4)


def test_cross_section_and_zeta_methods_agree(noise_free_sirt):
    qz = spectomo.quantify(noise_free_sirt, method="zeta", progress=False)
    qc = spectomo.quantify(noise_free_sirt, method="cross_section", progress=False)
    for el in qz.elements:
        assert np.allclose(qz.weight_percent[el].data, qc.weight_percent[el].data, atol=1e-3)
    assert np.allclose(qz.density.data, qc.density.data, rtol=1e-4, atol=1e-4)
    assert qc.parameters["factor_units"].startswith("barn")


def test_tgv_and_hebt_at_realistic_dose_within_5_wt_percent(sim, noisy_maps):
    tgv = spectomo.reconstruct_tgv(sim.haadf, noisy_maps, iterations=400, progress=False)
    q = spectomo.quantify(tgv, progress=False)
    assert q.parameters["method"] == "zeta"  # TGV–KL volumes carry no response ratios
    worst, errs = _max_error(q, sim.phantom)
    assert worst < 5.0, errs  # measured 3.4 wt%
    # the same noise with the paper's σ = 0.8 px pre-filter, which also unbiases the ratios
    smoothed = poisson_maps({ln: sim.net_counts[ln] for ln in sim.lines}, seed=7, smooth=0.8)
    res = spectomo.reconstruct_hebt(sim.haadf, smoothed, alpha=0.8, iterations=300, progress=False)
    q = spectomo.quantify(res, progress=False)  # HEBT volumes: the z_A method by default
    assert q.parameters["method"] == "hebt" and set(q.parameters["ratios"]) == set(noisy_maps)
    worst, errs = _max_error(q, sim.phantom)
    assert worst < 5.0, errs  # measured 4.2 wt%
    assert q.mean_density(binary_erosion(sim.phantom.density > 10)) == pytest.approx(
        float(sim.phantom.density[binary_erosion(sim.phantom.density > 10)].mean()), rel=0.10)


def test_factors_given_by_line_or_element_and_hebt_formula(noise_free_sirt):
    zeta = {"Ag_La": 300.0, "Au": 600.0}
    q = spectomo.quantify(noise_free_sirt, factors=zeta, progress=False, mask=None)
    assert q.factors == {"Ag_La": 300.0, "Au_La": 600.0} and q.parameters["factor_source"] == "given"
    x = {ln: np.asarray(v.data, dtype=float).clip(0) for ln, v in noise_free_sirt.items()}
    voxel = (x["Ag_La"] + x["Au_La"]) > 1e-3
    x = {ln: np.where(voxel, v, 1.0) for ln, v in x.items()}
    w_ag, w_au = 300 * x["Ag_La"], 600 * x["Au_La"]
    assert np.allclose(np.asarray(q.weight_percent["Au"].data)[voxel], (100 * w_au / (w_ag + w_au))[voxel], atol=1e-3)
    # Yuan eq. 18: C ∝ r X / z, with ratios and z given
    qh = spectomo.quantify(noise_free_sirt, method="hebt", factors={"Ag": 2.0, "Au": 4.0},
                           ratios={"Ag": 1.0, "Au": 3.0}, mask=None, progress=False, dose=1e5)
    w_ag, w_au = x["Ag_La"] / 2.0, 3.0 * x["Au_La"] / 4.0
    assert np.allclose(np.asarray(qh.weight_percent["Ag"].data)[voxel], (100 * w_ag / (w_ag + w_au))[voxel], atol=1e-3)


def test_save_load_round_trip_with_provenance(noise_free_sirt, tmp_path):
    q = spectomo.quantify(noise_free_sirt, progress=False)
    path = q.save(tmp_path / "quant.hspy")
    back = spectomo.Quantification.load(path)
    assert back.elements == q.elements and back.factors == pytest.approx(q.factors)
    for el in q.elements:
        assert np.array_equal(back.weight_percent[el].data, q.weight_percent[el].data)
        assert back.weight_percent[el].metadata.Quantification.method == "zeta"
    assert np.array_equal(back.density.data, q.density.data)
    assert back.parameters["threshold"] == pytest.approx(q.parameters["threshold"])
    assert back.threshold_curve.threshold == pytest.approx(q.threshold_curve.threshold)
    md = back.density.metadata
    assert md.Quantification.beam_energy_keV == 200.0 and md.Reconstruction.method == "SIRT"
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temporary file
    fig = q.plot_slices()
    assert len(fig.axes) >= 9
    with pytest.raises(ValueError, match="path"):
        spectomo.Quantification.load(spectomo.save(noise_free_sirt["Ag_La"], tmp_path / "plain.hspy"))


def test_esf_threshold_finds_the_plateau_between_background_and_particle():
    rng = np.random.default_rng(0)
    vol = rng.normal(0.0, 0.05, (40, 40, 40))
    z, y, x = np.mgrid[:40, :40, :40]
    r = np.sqrt((z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2)
    vol[r < 12] += 0.6
    vol[r < 6] += 0.4  # a denser core: its step must not be taken for the edge
    curve = esf_threshold(vol)
    assert 0.2 < curve.threshold < 0.45
    assert abs(int((vol > curve.threshold).sum()) - int((r < 12).sum())) < 0.03 * (r < 12).sum()
    with pytest.raises(ValueError, match="search_max"):
        esf_threshold(vol, search_max=1.5)
    with pytest.raises(ValueError, match="positive"):
        esf_threshold(np.zeros((4, 4, 4)))


def test_missing_dose_gives_weight_fractions_only(noise_free_sirt):
    vols = {ln: v.deepcopy() for ln, v in noise_free_sirt.items()}
    for v in vols.values():
        v.metadata.Acquisition_instrument.TEM.Detector.EDS.live_time = None
        del v.metadata.Acquisition_instrument.TEM.Detector.EDS.live_time
    with pytest.warns(QuantificationWarning, match="dose"):
        q = spectomo.quantify(vols, progress=False)
    assert q.density is None and q.atom_density is None
    assert np.isclose(sum(q.mean_composition().values()), 100, atol=1e-3)


def test_input_errors(noise_free_sirt, sim):
    vols = noise_free_sirt
    with pytest.raises(ValueError, match="factors: no zeta factor for 'Au_La'"):
        spectomo.quantify(vols, factors={"Ag_La": 300.0}, progress=False)
    for bad in (0.0, -5.0):
        with pytest.raises(ValueError, match="dose"):
            spectomo.quantify(vols, dose=bad, progress=False)
    small = vols["Au_La"].deepcopy()
    small.data = small.data[:-1]
    with pytest.raises(ValueError, match=r"volumes\['Au_La'\]: shape"):
        spectomo.quantify({"Ag_La": vols["Ag_La"], "Au_La": small}, progress=False)
    with pytest.raises(ValueError, match="method"):
        spectomo.quantify(vols, method="cliff", progress=False)
    nan = vols["Au_La"].deepcopy()
    nan.data[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        spectomo.quantify({"Ag_La": vols["Ag_La"], "Au_La": nan}, progress=False)
    with pytest.raises(ValueError, match="mask: shape"):
        spectomo.quantify(vols, mask=np.ones((2, 2, 2), bool), progress=False)
    with pytest.raises(ValueError, match="ratios"):
        spectomo.quantify(vols, method="hebt", haadf_angles=(60, 200), progress=False)
    with pytest.raises(ValueError, match="haadf_angles"):
        spectomo.quantify(vols, method="hebt", progress=False)
    with pytest.raises(ValueError, match="both Au"):
        spectomo.quantify({"Au_La": vols["Au_La"], "Au_Ma": vols["Au_La"]}, progress=False)
    with pytest.raises(TypeError, match="volumes"):
        spectomo.quantify([vols["Au_La"]], progress=False)
    with pytest.raises(ValueError, match="solid_angle"):
        v = {ln: s.deepcopy() for ln, s in vols.items()}
        for s in v.values():
            del s.metadata.Acquisition_instrument.TEM.Detector.EDS.solid_angle
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spectomo.quantify(v, progress=False)
