"""The multimodal simulator: dose model, projection geometry, misalignment, spectra."""

import numpy as np
import pytest

from spectomo import datasets, physics
from spectomo.datasets import misalign
from spectomo.phantoms import make_phantom

N_AV_B = physics.AVOGADRO * physics.BARN_CM2


def _element_mass_per_area(ph, el):
    """Σ over pixels of ∫ρ_A dt (g/cm²), straight from the phantom: Σ_voxels ρ_A · voxel length."""
    return float(ph.partial_densities[el].sum(dtype=np.float64)) * ph.voxel_size * 1e-7


def test_haadf_counts_match_dose_model(small_sim):
    sim, acq = small_sim, small_sim.acquisition
    zsum = sum(physics.haadf_factor(el, acq["beam_energy_keV"]) * _element_mass_per_area(sim.phantom, el)
               for el in sim.phantom.elements)
    expected = acq["haadf_dose_electrons"] * N_AV_B * zsum  # per projection: mass is conserved
    noisy = sim.haadf.data.sum(axis=(1, 2), dtype=np.float64)
    noise_free = sim.haadf_expected.data.sum(axis=(1, 2), dtype=np.float64)
    np.testing.assert_allclose(noise_free, expected, rtol=2e-3)
    assert np.all(np.abs(noisy - noise_free) < 5 * np.sqrt(noise_free))


def test_eds_line_counts_match_dose_model(small_sim):
    sim, acq = small_sim, small_sim.acquisition
    geom = acq["solid_angle_sr"] / (4 * np.pi)
    for line in ("Ag_La", "Au_Ma", "Au_La"):
        el = line.split("_")[0]
        expected = (acq["eds_dose_electrons"] * geom * N_AV_B * physics.eds_factor(line, acq["beam_energy_keV"])
                    * _element_mass_per_area(sim.phantom, el))
        totals = sim.net_counts[line].data.sum(axis=(1, 2), dtype=np.float64)
        np.testing.assert_allclose(totals, expected, rtol=2e-3, err_msg=line)


def test_noisy_spectra_are_poisson_around_the_expected_spectra():
    kw = dict(size=16, tilt_step=20.0, energy_channels=256, energy_scale=0.08, seed=5, progress=False)
    noisy = datasets.simulate("needle", **kw)
    clean = datasets.simulate("needle", noise=False, **kw)
    assert noisy.eds.data.dtype.kind == "u" and clean.eds.data.dtype == np.float32
    obs = noisy.eds.data.sum(axis=(1, 2, 3), dtype=np.float64)
    exp = clean.eds.data.sum(axis=(1, 2, 3), dtype=np.float64)
    assert np.all(np.abs(obs - exp) < 5 * np.sqrt(exp))
    per_channel = noisy.eds.data.sum(axis=(0, 1, 2), dtype=np.float64)
    exp_channel = clean.eds.data.sum(axis=(0, 1, 2), dtype=np.float64)
    z = (per_channel - exp_channel) / np.sqrt(np.maximum(exp_channel, 1))
    assert abs(z.mean()) < 0.5 and 0.7 < z.std() < 1.3  # unit-variance Poisson residuals


def test_zero_degree_projection_is_the_sum_along_z():
    sim = datasets.simulate("alloy_gradient", size=20, tilts=[-45.0, 0.0, 30.0], noise=False,
                            energy_channels=64, progress=False)
    vox_cm = sim.phantom.voxel_size * 1e-7
    for el in sim.phantom.elements:
        ref = sim.phantom.partial_densities[el].sum(axis=2).T * vox_cm
        np.testing.assert_allclose(sim.areal_density[el][1], ref, rtol=1e-5, atol=1e-12 * ref.max())
    z = {el: physics.haadf_factor(el, 200.0) for el in sim.phantom.elements}
    haadf0 = sum(sim.acquisition["haadf_dose_electrons"] * N_AV_B * z[el]
                 * sim.phantom.partial_densities[el].sum(axis=2).T * vox_cm for el in z)
    np.testing.assert_allclose(sim.haadf.data[1], haadf0, rtol=1e-4)


def _centroid(img):
    yy, xx = np.indices(img.shape)
    return np.array([(img * yy).sum(), (img * xx).sum()]) / img.sum()


def test_reported_shifts_are_the_applied_ones():
    kw = dict(size=40, tilt_step=20.0, noise=False, energy_channels=64, energy_scale=0.2, progress=False)
    ref = datasets.simulate("core_shell", **kw)  # the particle stays inside the field of view
    moved = datasets.simulate("core_shell", drift=1.0, seed=11, **kw)
    assert np.abs(moved.shifts).max() > 1.0
    i0 = int(np.argmin(np.abs(moved.tilts)))
    np.testing.assert_array_equal(moved.shifts[i0], [0, 0])  # drift is zero at 0°
    for i in range(len(ref.tilts)):
        for a, b in [(ref.haadf.data[i], moved.haadf.data[i])] + [
                (ref.net_counts[ln].data[i], moved.net_counts[ln].data[i]) for ln in ("Au_La", "Ag_La")]:
            # linear interpolation moves the centroid by exactly the shift
            np.testing.assert_allclose(_centroid(b) - _centroid(a), moved.shifts[i], atol=0.01)


@pytest.mark.parametrize("phi, offset", [(0.0, 3.0), (10.0, 0.0), (-4.0, 2.0)])
def test_misalign_geometry(phi, offset):
    img = np.zeros((1, 41, 41))
    img[0, 20, 28] = 1.0  # on the tilt axis, 8 px right of the centre
    out = misalign(img, np.array([[1.5, -2.0]]), tilt_axis_offset=offset, tilt_axis_rotation=phi)[0]
    yy, xx = np.indices(out.shape)
    cy, cx = (out * yy).sum() / out.sum(), (out * xx).sum() / out.sum()
    p = np.deg2rad(phi)
    want_y = 20 + 8 * np.sin(p) + 1.5 + offset * np.cos(p)
    want_x = 20 + 8 * np.cos(p) - 2.0 - offset * np.sin(p)
    np.testing.assert_allclose([cy, cx], [want_y, want_x], atol=0.05)
    if phi == 0:  # a pure shift keeps the mass (float32 output); a rotated delta need not
        np.testing.assert_allclose(out.sum(dtype=np.float64), 1.0, rtol=1e-5)


def test_spectra_peak_at_the_line_energies(small_sim):
    spec = small_sim.eds.data.sum(axis=(0, 1, 2), dtype=np.float64)
    ax = small_sim.eds.axes_manager.signal_axes[0]
    for line in ("Au_Ma", "Ag_La", "Au_La"):
        e = physics.line_energy(line)
        k = int(round((e - ax.offset) / ax.scale))
        window = spec[k - 3:k + 4]
        assert abs(int(np.argmax(window)) - 3) <= 1, line
        assert spec[k] > 3 * np.median(spec[k + 20:k + 40]), line


def test_noise_free_peak_area_equals_truth_net_counts():
    sim = datasets.simulate("core_shell", size=16, tilts=[0.0, 40.0], noise=False, energy_scale=0.01,
                            energy_channels=2048, progress=False)
    e = sim.eds.axes_manager.signal_axes[0].axis
    spec = sim.eds.data.sum(axis=(0, 1, 2), dtype=np.float64)
    e0 = physics.line_energy("Au_La")
    sigma = physics.peak_fwhm(e0) / 2.3548
    peak = np.abs(e - e0) <= 4 * sigma
    side = (np.abs(e - e0) > 4 * sigma) & (np.abs(e - e0) <= 6 * sigma)
    fit = np.polyfit(e[side], spec[side], 1)  # bremsstrahlung under the isolated Au La peak
    area = (spec[peak] - np.polyval(fit, e[peak])).sum()
    truth = sum(sim.net_counts[ln].data.sum(dtype=np.float64) for ln in ("Au_La",))
    assert area == pytest.approx(truth, rel=0.02)


def test_lazy_and_eager_give_identical_data():
    kw = dict(size=12, tilt_step=35.0, energy_channels=128, energy_scale=0.15, seed=9, progress=False)
    eager = datasets.simulate("core_shell", lazy=False, **kw)
    lazy = datasets.simulate("core_shell", lazy=True, **kw)
    assert lazy.eds._lazy and not eager.eds._lazy
    np.testing.assert_array_equal(np.asarray(lazy.eds.data.compute()), eager.eds.data)
    np.testing.assert_array_equal(lazy.haadf.data, eager.haadf.data)


def test_tilt_schemes_and_metadata():
    tilts = np.array([-50, -30, -10, 0, 15, 45.0])  # limited angle, non-uniform
    sim = datasets.simulate("needle", size=16, tilts=tilts, energy_channels=64, progress=False)
    assert sim.haadf.data.shape == (6, 16, 16) and sim.eds.data.shape == (6, 16, 16, 64)
    np.testing.assert_array_equal(sim.haadf.tilts, tilts)
    np.testing.assert_array_equal(sim.eds.metadata.Tomography.tilts, tilts)
    tem = sim.eds.metadata.Acquisition_instrument.TEM
    assert tem.beam_energy == 200.0 and tem.beam_current == 0.5
    assert tem.Detector.EDS.live_time == 0.02
    assert sorted(sim.eds.metadata.Sample.elements) == ["Cr", "Ni", "Pt", "Si"]
    assert set(sim.lines) <= set(sim.factors["lines"])
    # exspy computes the same per-pixel dose from the metadata we wrote
    assert sim.eds._get_dose("zeta") == pytest.approx(sim.acquisition["eds_dose_electrons"])
    assert sim.eds.axes_manager.signal_axes[0].units == "keV"
    limited = datasets.simulate("core_shell", size=12, tilt_range=(-40, 40), tilt_step=20,
                                energy_channels=32, progress=False)
    np.testing.assert_array_equal(limited.tilts, [-40, -20, 0, 20, 40])


def test_saved_dataset_reloads(small_sim, tmp_path):
    import spectomo

    paths = small_sim.save(tmp_path)
    haadf = spectomo.load(paths["haadf"])
    np.testing.assert_array_equal(haadf.tilts, small_sim.tilts)
    assert haadf.metadata.Simulation.phantom == "core_shell"
    wt = spectomo.load(paths["wt_Au"])
    assert isinstance(wt, spectomo.RecStack)
    assert wt.data.max() == pytest.approx(80, abs=1)
    assert "net_Ag_La" in paths


@pytest.mark.parametrize("kwargs, match", [
    (dict(phantom="cube"), "phantom"), (dict(size=4), "size"), (dict(beam_current=-1), "beam_current"),
    (dict(shifts=np.zeros((3, 2))), "shifts"), (dict(tilts=[0.0]), "tilts"),
    (dict(energy_channels=4), "energy_channels"), (dict(solid_angle=20), "solid_angle")])
def test_bad_arguments_are_named(kwargs, match):
    kwargs = {"phantom": "core_shell", "size": 12, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        datasets.simulate(kwargs.pop("phantom"), **kwargs)


@pytest.mark.parametrize("name", ["core_shell", "needle", "alloy_gradient"])
def test_phantom_composition(name):
    ph = make_phantom(name, 24)
    wf = ph.weight_fractions
    inside = ph.density > 0
    np.testing.assert_allclose(sum(wf.values())[inside], 1.0, atol=1e-5)
    assert np.all(sum(wf.values())[~inside] == 0)
    assert ph.density.max() < 22.0  # nothing denser than Pt


def test_core_shell_compositions_and_gradient():
    ph = make_phantom("core_shell", 48, oversample=1)
    wf, p = ph.weight_fractions, ph.parameters
    n, vs = 48, ph.voxel_size
    c = (np.arange(n) + 0.5 - n / 2) * vs
    x, y, z = np.meshgrid(c, c, c, indexing="ij")
    d_core = np.sqrt(sum((a - b) ** 2 for a, b in zip((x, y, z), p["core_centre_nm"])))
    r = np.sqrt(x**2 + y**2 + z**2)
    core = d_core < p["core_radius_nm"] - 3 * p["interface_width_nm"]
    shell = (d_core > p["core_radius_nm"] + 3 * p["interface_width_nm"]) & (r < p["particle_radius_nm"] - vs)
    assert wf["Au"][core].mean() == pytest.approx(0.8, abs=0.01)
    assert wf["Au"][shell].mean() == pytest.approx(0.2, abs=0.01)
    grad = make_phantom("alloy_gradient", 32)
    ni = grad.weight_fractions["Ni"][:, 16, 16]
    host = ni[(ni > 0.05) & (grad.weight_fractions["Pt"][:, 16, 16] == 0)]
    assert np.all(np.diff(host) > 0) and host[-1] - host[0] > 0.5


def test_count_volume_reprojects_onto_the_net_counts():
    from spectomo.geometry import forward_project

    sim = datasets.simulate("core_shell", size=16, tilts=[-30.0, 0.0, 40.0], noise=False,
                            energy_channels=64, energy_scale=0.2, progress=False)
    for line in sim.lines:
        proj = forward_project(sim.count_volume(line), sim.tilts)
        np.testing.assert_allclose(proj, sim.net_counts[line].data, rtol=1e-4,
                                   atol=1e-4 * sim.net_counts[line].data.max())
    with pytest.raises(KeyError, match="not simulated"):
        sim.count_volume("Fe_Ka")


def test_catalyst_phantom_and_its_pipeline():
    import warnings

    import spectomo
    from spectomo.datasets import make_phantom, simulate

    ph = make_phantom("catalyst", 24, n_particles=8, seed=1)
    assert ph.elements == ["Ce", "O", "Pt"]
    pt = ph.partial_densities["Pt"]
    assert pt.max() > 15 and 0 < (pt > 10).mean() < 0.05  # small, dense particles
    r = np.linalg.norm(np.array(ph.parameters["particle_centres_nm"]), axis=1)
    np.testing.assert_allclose(r, ph.parameters["support_radius_nm"], rtol=1e-9)  # on the surface
    assert make_phantom("catalyst", 24, n_particles=8, seed=1).parameters == ph.parameters  # seeded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = simulate(ph, size=24, progress=False)
        maps = spectomo.extract_maps(sim.eds, sim.lines, method="fit", progress=False)
        q = spectomo.quantify({k: m.reconstruct("SIRT", iterations=100, progress=False) for k, m in maps.items()},
                              progress=False)
    # particles of 1–2 voxels: Pt wt% where the truth is dense Pt (partial volume keeps it below 100)
    core = (pt > 15) & np.asarray(q.mask.data, dtype=bool)
    assert core.any() and float(np.asarray(q.weight_percent["Pt"].data)[core].mean()) > 60
    support = (ph.partial_densities["Ce"] > 5) & np.asarray(q.mask.data, dtype=bool)
    assert float(np.asarray(q.weight_percent["Ce"].data)[support].mean()) == pytest.approx(81.4, abs=4)
