"""Alignment: registration accuracy, tilt-axis recovery, transform composition, align_other."""

import warnings

import numpy as np
import pytest

import spectomo
from spectomo import TiltMismatchError, TomoStack, datasets
from spectomo.align import Alignment, TiltAxisWarning, alignment_of, estimate_shifts, warp
from spectomo.phantoms import Phantom, make_phantom

TILTS = datasets.default_tilts((-70, 70), 5)


def padded(name, size, pad):
    """A phantom with an empty margin, so that shifted content stays in the field of view."""
    ph = make_phantom(name, size)
    return Phantom(ph.name, {k: np.pad(v, pad) for k, v in ph.partial_densities.items()}, ph.voxel_size)


def simulate(phantom, **kwargs):
    kwargs.setdefault("tilts", TILTS)
    return datasets.simulate(phantom, energy_channels=64, energy_scale=0.2, progress=False, **kwargs)


def rms_after_offset(estimate, truth):
    err = estimate - truth
    err -= err.mean(axis=0)
    return float(np.sqrt((err**2).sum(axis=1).mean()))


@pytest.fixture(scope="module")
def drifted():
    """Core–shell particle, 64² px, 29 tilts, independent random shifts up to ±15 px."""
    rng = np.random.default_rng(7)
    shifts = rng.uniform(-15, 15, size=(len(TILTS), 2))
    return simulate(padded("core_shell", 32, 16), shifts=shifts, seed=4)


@pytest.mark.parametrize("method", ["PC", "COM", "COM-CL", "StackReg"])
def test_registration_recovers_random_shifts(drifted, method):
    if method == "StackReg":
        pytest.importorskip("pystackreg")
    reg = drifted.haadf.stack_register(method, progress=False)
    rms = rms_after_offset(reg.shifts, -drifted.shifts)
    assert rms <= 0.5, f"{method}: RMS error {rms:.3f} px"
    # the registered images agree with the drift-free projections up to one global shift
    assert reg.shifts[np.argmin(np.abs(TILTS))] == pytest.approx([0, 0])


def test_pc_chains_in_tilt_order_for_shuffled_stacks(drifted):
    order = np.random.default_rng(0).permutation(len(TILTS))
    images = drifted.haadf.data[order]
    est = estimate_shifts(images, TILTS[order], method="PC", progress=False)
    assert rms_after_offset(est, -drifted.shifts[order]) <= 0.5


def test_registration_leaves_the_input_untouched(drifted):
    before = drifted.haadf.data.copy()
    reg = drifted.haadf.stack_register("COM", progress=False)
    np.testing.assert_array_equal(drifted.haadf.data, before)
    assert not np.any(drifted.haadf.shifts)
    assert reg.metadata.Tomography.Alignment_log.step_0.method == "COM"


@pytest.mark.parametrize("name,phi,delta", [("needle", 3.0, -1.7), ("needle", -4.0, 0.8),
                                            ("nanoparticles", 5.0, 3.3), ("nanoparticles", 3.0, -1.7)])
@pytest.mark.parametrize("method", ["CoM", "MaxImage"])
def test_tilt_align_recovers_offset_and_rotation(name, phi, delta, method):
    sim = simulate(padded(name, 48, 8), tilt_axis_offset=delta, tilt_axis_rotation=phi, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TiltAxisWarning)
        ali = sim.haadf.tilt_align(method)
    # corrections undo the simulated geometry: rotation −φ, offset −δ
    assert ali.metadata.Tomography.tilt_axis_rotation == pytest.approx(-phi, abs=0.5)
    assert ali.metadata.Tomography.tilt_axis_offset == pytest.approx(-delta, abs=0.5)


def test_tilt_align_refuses_rotation_beyond_limit_and_warns():
    sim = simulate(padded("needle", 48, 8), tilt_axis_offset=1.5, tilt_axis_rotation=4.0, seed=2)
    with pytest.warns(TiltAxisWarning, match="max_rotation"):
        ali = sim.haadf.tilt_align("CoM", max_rotation=1.0)
    assert ali.metadata.Tomography.tilt_axis_rotation == 0.0
    assert ali.metadata.Tomography.tilt_axis_offset == pytest.approx(-1.5, abs=0.5)


def test_tilt_align_never_worse_than_no_correction_with_extraneous_material():
    """Material entering the field of view (a neighbouring needle's substrate at high tilt) breaks
    the centre-of-mass model; the result must still re-project no worse than doing nothing."""
    from spectomo.align.tiltaxis import estimate_tilt_axis

    sim = simulate(padded("needle", 48, 8), tilt_axis_offset=1.0, seed=5)
    data = sim.haadf.data.copy()
    bright = data.max()
    for i, t in enumerate(TILTS):
        if t > 30:  # a slab slides in from the bottom edge, wider at higher tilt
            rows = int(3 + (t - 30) / 4)
            data[i, -rows:, 36:] += bright * np.linspace(0.3, 1.0, data.shape[2] - 36)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TiltAxisWarning)
        est = estimate_tilt_axis(data, TILTS, method="CoM")
    assert abs(est["rotation"]) <= 10.0
    assert est["scores"][est["chosen"]] <= est["scores"]["none"] * 1.01
    assert est["offset"] == pytest.approx(-1.0, abs=0.5)


def blobs(n, size, rng):
    """Smooth test images: a few Gaussian blobs near the centre (interpolation is then accurate)."""
    y, x = np.mgrid[0:size, 0:size]
    out = np.zeros((n, size, size), np.float32)
    for i in range(n):
        for cy, cx, s in rng.uniform([0.3 * size, 0.3 * size, 2.0], [0.7 * size, 0.7 * size, 4.0], (4, 3)):
            out[i] += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s**2))
    return out


def test_alignment_composition_matches_sequential_warps(rng):
    img = blobs(3, 40, rng)
    first = Alignment(np.array([[1.5, -2.0], [0.0, 0.0], [-3.0, 2.5]]), 7.0, 1.25)
    second_shifts = np.array([[0.5, 1.0], [-1.0, 0.0], [2.0, -0.5]])
    once = warp(img, first.then(shifts=second_shifts, rotation=-3.0, translation=(0.75, -1.0)), order=3)
    twice = warp(warp(img, first, order=3),
                 Alignment(np.zeros((3, 2))).then(shifts=second_shifts, rotation=-3.0,
                                                  translation=(0.75, -1.0)), order=3)
    inner = (slice(None), slice(8, 32), slice(8, 32))
    np.testing.assert_allclose(once[inner], twice[inner], atol=0.01 * img.max())


def test_alignment_undoes_the_simulator_exactly(rng):
    img = blobs(2, 48, rng)
    d = np.array([[2.3, -1.4], [-0.6, 3.1]])
    observed = datasets.misalign(img, d, tilt_axis_offset=1.7, tilt_axis_rotation=4.0, order=3)
    restored = warp(observed, Alignment(-d, -4.0, -1.7), order=3)
    inner = (slice(None), slice(10, 38), slice(10, 38))
    np.testing.assert_allclose(restored[inner], img[inner], atol=0.01 * img.max())


def test_trans_stack_records_a_replayable_transform(drifted):
    reg = drifted.haadf.stack_register("COM", progress=False)
    moved = reg.trans_stack(xshift=2.0, yshift=-1.5, angle=3.0)
    assert moved.metadata.Tomography.tilt_axis_rotation == pytest.approx(3.0)
    again = moved.align_other(drifted.haadf)
    inner = (slice(None), slice(12, 52), slice(12, 52))
    err = np.abs(again.data[inner] - moved.data[inner]).max() / moved.data.max()
    assert err < 0.15  # one resampling vs two: only interpolation differences


def test_align_other_dict_and_half_resolution_maps(drifted):
    ali = drifted.haadf.stack_register("COM", progress=False).trans_stack(yshift=0.5, angle=1.0)
    full = drifted.net_counts["Au_La"]
    half = full.rebin(scale=(1, 2, 2))
    half.metadata.set_item("Tomography", full.metadata.Tomography.as_dictionary())
    maps = spectomo.MapStacks({"Au_La": half, "Ag_La": drifted.net_counts["Ag_La"].rebin(scale=(1, 2, 2))},
                              method="windows")
    maps["Ag_La"].metadata.set_item("Tomography", full.metadata.Tomography.as_dictionary())
    out = ali.align_other(maps)
    assert isinstance(out, spectomo.MapStacks) and out.method == "windows"
    got = out["Au_La"]
    assert got.shifts == pytest.approx(ali.shifts / 2)
    assert got.metadata.Tomography.tilt_axis_offset == pytest.approx(-0.25)  # yshift +0.5 (up, ETSpy) at half size
    # aligned half-resolution map ≈ aligned full-resolution map, binned
    ref = ali.align_other(full).rebin(scale=(1, 2, 2)).data
    inner = (slice(None), slice(6, 26), slice(6, 26))
    rel = np.abs(got.data[inner] - ref[inner]).sum() / ref[inner].sum()
    assert rel < 0.05
    assert not np.any(maps["Au_La"].shifts)  # inputs untouched


def test_align_other_errors(drifted):
    ali = drifted.haadf.stack_register("COM", progress=False)
    other = drifted.net_counts["Au_La"]
    with pytest.raises(TiltMismatchError, match="projections"):
        ali.align_other(other.remove_projections([0]))
    wrong = other.deepcopy()
    wrong.tilts = TILTS + 1.0
    with pytest.raises(TiltMismatchError, match="tilts differ"):
        ali.align_other(wrong)
    cropped = other.isig[:40, :]
    with pytest.raises(ValueError, match="field of view"):
        ali.align_other(cropped)
    with pytest.raises(ValueError, match="already carries an alignment"):
        ali.align_other(ali)
    with pytest.raises(TypeError, match="TomoStack"):
        ali.align_other(np.zeros((3, 4, 4)))


def test_input_errors():
    few = TomoStack(np.ones((2, 16, 16)), tilts=[0, 10])
    with pytest.raises(ValueError, match="at least 3 projections"):
        few.stack_register("PC")
    bad = TomoStack(np.ones((4, 16, 16)), tilts=[-10, 0, 10, 20])
    bad.data[2, 3, 5] = np.nan
    with pytest.raises(ValueError, match="projection 2, pixel"):
        bad.stack_register("PC")
    ok = TomoStack(np.random.default_rng(0).random((4, 16, 16)), tilts=[-10, 0, 10, 20])
    with pytest.raises(ValueError, match=r"\['PC', 'COM', 'COM-CL', 'StackReg'\]"):
        ok.stack_register("XCORR")
    with pytest.raises(ValueError, match=r"\['CoM', 'MaxImage'\]"):
        ok.tilt_align("Hough")
    far = ok.deepcopy()
    far.shifts = np.full((4, 2), 20.0)
    with pytest.raises(ValueError, match="more than the image"):
        far.trans_stack(xshift=1.0).align_other(ok)  # the far shifts are replayed on ok
    with pytest.raises(ValueError, match="more than the image"):
        warp(ok.data, Alignment(np.full((4, 2), 17.0)))
    assert alignment_of(ok).is_identity
