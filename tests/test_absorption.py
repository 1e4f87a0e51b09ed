"""Absorption and holder shadowing: attenuation kernel vs its twin, the slab, the detector geometry
(exspy's take-off angle), the simulator, and the correction on a particle with soft lines."""

import os
import warnings

import numpy as np
import pytest

import spectomo
from spectomo.datasets import simulate
from spectomo.evaluation import composition_table, worst_composition_error
from spectomo.geometry import Detector, HolderShadow
from spectomo.opencl import opencl_available
from spectomo.opencl.attenuation import attenuation_factors, shear_plan
from spectomo.physics import attenuation_length, mass_attenuation

needs_opencl = pytest.mark.skipif(not opencl_available(), reason="no OpenCL device")


# --- physics and geometry ------------------------------------------------------------------------

def test_mass_attenuation_matches_published_values():
    # NIST XCOM / Elam: Cu at Cu Kα (8.04 keV) ≈ 52 cm²/g; Al Kα in Cu ≈ 4.5e3 cm²/g
    assert mass_attenuation("Cu", 8.04) == pytest.approx(51.8, rel=0.03)
    assert mass_attenuation("Cu", 1.4865) == pytest.approx(4.5e3, rel=0.05)
    assert attenuation_length("Al_Ka", {"Cu": 1.0}, 8.96) == pytest.approx(247, rel=0.05)
    with pytest.raises(ValueError, match="eV"):
        mass_attenuation("Cu", 8040.0)


def test_take_off_angles_are_exspys():
    from exspy._misc.eds.utils import take_off_angle

    det = Detector([22.0, 18.0, 30.0], [45.0, 0.0, -120.0], 0.1)
    tilts = np.array([-60.0, -15.0, 0.0, 10.0, 40.0])
    toa = det.take_off_angles(tilts)
    for i, t in enumerate(tilts):
        for j in range(3):
            assert toa[i, j] == pytest.approx(take_off_angle(t, det.azimuth[j], det.elevation[j]), abs=1e-9)
    d = det.directions(tilts)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-12)


def test_velox_detectors_follow_the_maps():
    # Velox keeps each detector in original_metadata.Detectors (angles in radians); RosettaSciIO's
    # metadata has a single placeholder. The set must reach the maps, which keep metadata only.
    from spectomo.geometry import record_vendor_geometry

    sim = simulate("core_shell", size=8, tilts=[-20.0, 20.0], energy_channels=256, energy_scale=0.08,
                   progress=False)
    sis = []
    for i in range(2):
        si = sim.eds.inav[:, :, i]
        si.metadata.Tomography.__delattr__("tilts")
        si.original_metadata.set_item("Detectors", {
            f"Detector-{k}": {"DetectorName": f"SuperXG2{k}", "DetectorType": "AnalyticalDetector",
                              "ElevationAngle": str(np.deg2rad(18.0)), "AzimuthAngle": str(np.deg2rad(az)),
                              "CollectionAngle": "0.7", "Enabled": "true"}
            for k, az in enumerate((45.0, 135.0, 225.0, 315.0))})
        si.original_metadata.set_item("Detectors.Detector-9", {"DetectorName": "HAADF", "DetectorType": "ScanningDetector"})
        sis.append(si)
    maps = spectomo.extract_maps(sis, tilts=[-20.0, 20.0], method="windows", progress=False)
    det = Detector.from_metadata(next(iter(maps.values())))
    assert det.n_detectors == 4 and det.name.startswith("Velox")
    np.testing.assert_allclose(det.elevation, 18.0)
    np.testing.assert_allclose(det.azimuth, [45.0, 135.0, 225.0, 315.0])
    assert not record_vendor_geometry(sis[0])  # recorded once; not overwritten


def test_detector_presets_metadata_and_bad_inputs():
    sx = Detector.super_x()
    assert sx.n_detectors == 4 and sx.weights.sum() == pytest.approx(1.0) and sx.solid_angle.sum() == pytest.approx(0.7)
    s = spectomo.TomoStack(np.zeros((3, 4, 4), np.float32), tilts=[-10.0, 0.0, 10.0])
    s.metadata.set_item("Acquisition_instrument.TEM.Detector.EDS.geometry", sx.as_dict())
    assert Detector.from_metadata(s) == sx
    s2 = spectomo.TomoStack(np.zeros((3, 4, 4), np.float32), tilts=[-10.0, 0.0, 10.0])
    with pytest.raises(ValueError, match="elevation_angle"):
        Detector.from_metadata(s2)
    for key in ("elevation_angle", "azimuth_angle", "solid_angle"):
        s2.metadata.set_item(f"Acquisition_instrument.TEM.Detector.EDS.{key}", {"elevation_angle": 35.0,
                                                                                 "azimuth_angle": 90.0,
                                                                                 "solid_angle": 0.2}[key])
    one = Detector.from_metadata(s2)
    assert one.n_detectors == 1 and one.elevation[0] == 35.0
    # what a Bruker/Velox file gives: type, elevation, one quadrant's azimuth, no solid angle
    s3 = spectomo.TomoStack(np.zeros((3, 4, 4), np.float32), tilts=[-10.0, 0.0, 10.0])
    s3.metadata.set_item("Acquisition_instrument.TEM.Detector.EDS", {"azimuth_angle": 45.0, "elevation_angle": 18.0,
                                                                       "detector_type": "SuperX"})
    assert Detector.from_metadata(s3) == Detector.super_x()
    s3.metadata.Acquisition_instrument.TEM.Detector.EDS.detector_type = "XFlash 6|10"
    single = Detector.from_metadata(s3)
    assert single.solid_angle is None and single.weights == pytest.approx([1.0])
    with pytest.raises(ValueError, match="elevation"):
        Detector(90.0, 0.0, 0.1)
    below = Detector(-30.0, 0.0, 0.1)  # under the specimen: looks at it from +z
    assert below.directions([0.0])[0, 0, 2] > 0
    assert HolderShadow(angle=0.0).visible(below, [0.0])[0, 0] == 1.0
    with pytest.raises(ValueError, match="solid_angle"):
        Detector(20.0, 0.0, -0.1)
    with pytest.raises(ValueError, match="one value per detector"):
        Detector([20.0, 30.0], [0.0, 1.0, 2.0], 0.1)
    with pytest.raises(ValueError, match="angle"):
        HolderShadow(angle=80.0)
    vis = HolderShadow(angle=0.0, width=4.0).visible(sx, [0.0, 70.0])
    np.testing.assert_allclose(vis[0], 1.0)
    assert sorted(vis[1]) == pytest.approx([0.0, 0.0, 1.0, 1.0])


# --- the attenuation kernel ----------------------------------------------------------------------

@needs_opencl
@pytest.mark.parametrize("direction", [(0.2, 0.3, -0.93), (0.1, -0.9, 0.42), (-0.8, 0.5, 0.33), (0.0, 0.0, 1.0)])
def test_attenuation_kernel_matches_twin(direction):
    rng = np.random.default_rng(1)
    mu = (rng.random((2, 7, 9, 11)) * 0.2).astype(np.float32)
    d = np.asarray(direction) / np.linalg.norm(direction)
    a = attenuation_factors(mu, d[None], [0.7], engine="opencl")
    b = attenuation_factors(mu, d[None], [0.7], engine="numpy")
    np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-7)
    assert a.max() <= 0.7 and a.min() > 0.7 * np.exp(-0.2 * 20)


@pytest.mark.parametrize("engine", ["numpy", pytest.param("opencl", marks=needs_opencl)])
def test_uniform_slab_matches_the_analytic_attenuation(engine):
    m, thick = 0.05, 20  # 1/voxel, planes
    mu = np.zeros((1, 24, 64, 40), np.float32)
    mu[0, :, :, 10:10 + thick] = m
    # steep direction (main axis z): the trapezoid sums with the voxel mean are exact for a slab
    d = Detector(70.0, 30.0, 1.0).directions([10.0])[0]
    a = attenuation_factors(mu, d, [1.0], engine=engine)[0]
    path = thick / -d[0, 2]
    exact = (1 - np.exp(-m * path)) / (m * path)
    assert a[8:16, 24:40, 10:10 + thick].mean() == pytest.approx(exact, rel=1e-5)
    # shallow direction (main axis y): bilinear resampling, still within 0.3 %
    d = Detector(30.0, 0.0, 1.0).directions([0.0])[0]
    a = attenuation_factors(mu, d, [1.0], engine=engine)[0]
    path = thick / -d[0, 2]
    exact = (1 - np.exp(-m * path)) / (m * path)
    assert a[8:16, 2:28, 10:10 + thick].mean() == pytest.approx(exact, rel=3e-3)
    # above the slab nothing is in the way (the plane next to it shares a column with the slab: 1 voxel of blur)
    np.testing.assert_allclose(a[:, :, :9], 1.0, atol=1e-6)


def test_shear_plan_covers_every_ray():
    for d in [(0.3, 0.5, -0.81), (-0.7, 0.7, 0.14), (0.0, 1.0, 0.0)]:
        p = shear_plan((5, 8, 13), d)
        assert abs(p.sb) <= 1 and abs(p.sc) <= 1
        na = (5, 8, 13)[p.a]
        for k in (0, na - 1):
            for b in (0, (5, 8, 13)[p.b] - 1):
                u = b - p.sb * k - p.u0
                assert 0 <= u and int(np.floor(u)) + 1 < p.nu


def test_attenuation_inputs_are_checked():
    with pytest.raises(ValueError, match="mu"):
        attenuation_factors(np.ones((4, 4, 4)), [[0, 0, 1]], [1.0])
    with pytest.raises(ValueError, match="mu"):
        attenuation_factors(-np.ones((1, 4, 4, 4)), [[0, 0, 1]], [1.0])
    with pytest.raises(ValueError, match="weights"):
        attenuation_factors(np.ones((1, 4, 4, 4)), [[0, 0, 1]], [1.0, 2.0])
    with pytest.raises(ValueError, match="engine"):
        attenuation_factors(np.ones((1, 4, 4, 4)), [[0, 0, 1]], [1.0], engine="cuda")


# --- simulator and correction --------------------------------------------------------------------

_RSCIIO = os.environ.get("SPECTOMO_RSCIIO_DATA")


@pytest.mark.skipif(not _RSCIIO, reason="set SPECTOMO_RSCIIO_DATA to RosettaSciIO's rsciio/tests/data")
def test_detector_from_a_real_bruker_file():
    import hyperspy.api as hs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sigs = hs.load(os.path.join(_RSCIIO, "bruker", "test_TEM.bcf"))
    eds = next(s for s in sigs if "EDS" in type(s).__name__)
    assert Detector.from_metadata(eds) == Detector.super_x()  # SuperX, 18°, azimuth 45° in the file


@pytest.fixture(scope="module")
def absorbing():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate("alcu_particle", size=32, noise=False, absorption=True, progress=False)


def test_simulator_without_absorption_is_unchanged():
    a = simulate("alcu_particle", size=16, noise=False, progress=False, energy_channels=256, energy_scale=0.04)
    b = simulate("alcu_particle", size=16, noise=False, progress=False, energy_channels=256, energy_scale=0.04,
                 detector=Detector.super_x(solid_angle=0.7))
    np.testing.assert_array_equal(a.eds.data, b.eds.data)
    assert a.absorption == {} and Detector.from_metadata(b.eds) == Detector.super_x()


def test_simulator_attenuates_soft_lines(absorbing):
    tr = absorbing.absorption["transmission"]
    assert 0.7 < tr["Al_Ka"].mean() < 0.9 and 0.65 < tr["Mg_Ka"].mean() < tr["Al_Ka"].mean()
    assert tr["Cu_Ka"].mean() > 0.99
    np.testing.assert_allclose(absorbing.absorption["shadow_curve"], 1.0)
    # the continuum is attenuated too: less at low energy, not at all at high energy
    thin = simulate("alcu_particle", size=32, noise=False, progress=False)
    e = absorbing.eds.axes_manager[-1].axis
    spec, ref = absorbing.eds.data.sum(axis=(0, 1, 2)), thin.eds.data.sum(axis=(0, 1, 2))

    def ratio(lo, hi):
        band = (e > lo) & (e < hi)
        return spec[band].sum() / ref[band].sum()

    assert ratio(12, 18) > 0.99 and ratio(0.6, 1.2) < 0.97


def test_correction_recovers_the_composition(absorbing):
    maps = {ln: absorbing.net_counts[ln] for ln in absorbing.lines}
    res = spectomo.correct_absorption(maps, recon_options={"iterations": 100}, progress=False)
    before = worst_composition_error(composition_table(res.uncorrected, absorbing.phantom))
    after = worst_composition_error(composition_table(res.quantification, absorbing.phantom))
    assert before >= 5.0, before  # the thin-film quantification is off by ≥ 5 wt% (Cu in the Al-rich core)
    assert after <= 2.0, after
    assert res.parameters["converged"] and 1 <= res.parameters["iterations_run"] <= 6
    for line in absorbing.lines:  # the model's transmission is the simulator's, within 2 %
        np.testing.assert_allclose(res.transmission[line], absorbing.absorption["transmission"][line], rtol=0.02)
    assert res.volumes["Al_Ka"].metadata.Absorption.detector.name == "Super-X"


@pytest.fixture(scope="module")
def small_absorbing():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate("alcu_particle", size=24, noise=False, absorption=True, progress=False)


@pytest.mark.parametrize("method, options", [
    ("FBP", {}), ("SART", {"iterations": 10}),
    pytest.param("tgv", {"iterations": 300}, marks=needs_opencl),
    # Mg is nearly proportional to Al here, so HEBT's ratio fit cannot separate them: the true ratios
    pytest.param("hebt", {"iterations": 100, "alpha": 0.5, "ratios": "truth"}, marks=needs_opencl)])
def test_every_method_is_corrected(small_absorbing, method, options):
    sim = small_absorbing
    if options.get("ratios") == "truth":
        options = dict(options, ratios=sim.response_ratios())
    maps = {ln: sim.net_counts[ln] for ln in sim.lines}
    res = spectomo.correct_absorption(maps, haadf=sim.haadf, method=method, recon_options=options, progress=False)
    before = worst_composition_error(composition_table(res.uncorrected, sim.phantom))
    after = worst_composition_error(composition_table(res.quantification, sim.phantom))
    assert before > 4.0 and after < 1.0, (before, after)


def test_shadow_curve_is_recovered():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = simulate("alcu_particle", size=24, noise=False, absorption=True, shadowing=HolderShadow(angle=2.0),
                       progress=False)
    truth = sim.absorption["shadow_curve"]
    assert truth.min() < 0.6  # two of the four detectors are hidden at high tilt
    maps = {ln: sim.net_counts[ln] for ln in sim.lines}
    res = spectomo.correct_absorption(maps, recon_options={"iterations": 60}, progress=False)
    assert np.abs(res.shadow_curve / truth - 1).max() < 0.05


def test_correction_inputs_are_checked(absorbing):
    maps = {ln: absorbing.net_counts[ln] for ln in absorbing.lines}
    with pytest.raises(ValueError, match="method"):
        spectomo.correct_absorption(maps, method="ART", progress=False)
    with pytest.raises(ValueError, match="shadow_curve"):
        spectomo.correct_absorption(maps, shadow_curve=np.ones(3), progress=False)
    with pytest.raises(ValueError, match="haadf"):
        spectomo.correct_absorption(maps, method="hebt", progress=False)
    bad = dict(maps)
    bad["Al_Ka"] = maps["Al_Ka"].deepcopy()
    bad["Al_Ka"].metadata.set_item("Spectral.values", "summed counts")
    with pytest.raises(ValueError, match="net counts"):
        spectomo.correct_absorption(bad, progress=False)
    plain = {ln: s.deepcopy() for ln, s in maps.items()}
    for s in plain.values():
        s.metadata.Acquisition_instrument.TEM.Detector.EDS.__delattr__("geometry")
    with pytest.raises(ValueError, match="detector"):
        spectomo.correct_absorption(plain, progress=False)


def test_orientation_is_chosen_from_the_data(absorbing):
    # the same data with the tilts stored with the opposite sign reconstruct mirrored along the beam:
    # the detectors then look from the other side, and the first pass's model misfit says so
    maps = {ln: absorbing.net_counts[ln] for ln in absorbing.lines}
    flipped = {}
    for ln, s in maps.items():
        flipped[ln] = s.deepcopy()
        flipped[ln].tilts = -s.tilts
    for data, want in ((maps, "standard"), (flipped, "mirrored")):
        res = spectomo.correct_absorption(data, recon_options={"iterations": 100}, iterations=1, progress=False)
        fit = res.parameters["orientation_misfit"]
        assert res.parameters["orientation"] == want and fit[want] < fit[{"standard": "mirrored",
                                                                           "mirrored": "standard"}[want]]
    with pytest.raises(ValueError, match="orientation"):
        spectomo.correct_absorption(maps, orientation="up", progress=False)


def test_without_a_dose_the_mean_density_scales_the_mass(absorbing):
    maps = {}
    for ln in absorbing.lines:
        s = absorbing.net_counts[ln].deepcopy()
        s.metadata.Acquisition_instrument.TEM.__delattr__("beam_current")  # as in many real files
        maps[ln] = s
    with pytest.raises(ValueError, match="density="):
        spectomo.correct_absorption(maps, recon_options={"iterations": 100}, progress=False)
    ph = absorbing.phantom
    mean = float(ph.density[ph.density > 0.5 * ph.density.max()].mean())
    res = spectomo.correct_absorption(maps, recon_options={"iterations": 100}, density=mean, progress=False)
    assert res.quantification.density is None and res.parameters["density_from"].startswith("density=")
    assert worst_composition_error(composition_table(res.quantification, ph)) <= 2.0
    with pytest.raises(ValueError, match="density"):
        spectomo.correct_absorption(maps, density=8000.0, progress=False)  # kg/m³ by mistake
