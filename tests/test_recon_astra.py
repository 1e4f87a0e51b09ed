"""ASTRA reconstruction: orientation, methods, threads, recon_error, and the end-to-end alignment."""

import numpy as np
import pytest

import spectomo
from spectomo import RecStack, TomoStack, datasets
from spectomo.phantoms import Phantom, make_phantom
from spectomo.evaluation import psnr
from spectomo.geometry import forward_project

TILTS = datasets.default_tilts((-70, 70), 5)


@pytest.fixture(scope="module")
def projected():
    """Noise-free projections of an asymmetric volume (Au of the core–shell phantom), 24³."""
    vol = make_phantom("core_shell", 24).partial_densities["Au"]
    vol = vol / vol.max()
    return vol, TomoStack(forward_project(vol, TILTS), tilts=TILTS)


def test_orientation_reprojects_onto_the_data(projected):
    vol, stack = projected
    rec = stack.reconstruct("SIRT", iterations=150, progress=False)
    assert isinstance(rec, RecStack) and rec.data.shape == vol.shape  # (nx, ny, nz)
    again = forward_project(rec.data, TILTS)
    assert np.linalg.norm(again - stack.data) / np.linalg.norm(stack.data) < 0.02
    # 0° projection is the sum over z, and the volume matches the truth voxel by voxel
    i0 = int(np.argmin(np.abs(TILTS)))
    np.testing.assert_allclose(rec.data.sum(axis=2).T, stack.data[i0], atol=0.05 * stack.data[i0].max())
    assert np.linalg.norm(rec.data - vol) / np.linalg.norm(vol) < 0.2
    # a mirrored orientation would be far off
    assert np.linalg.norm(rec.data[:, ::-1] - vol) > 2 * np.linalg.norm(rec.data - vol)


@pytest.mark.parametrize("method", ["BP", "FBP", "SIRT", "SART"])
def test_methods_and_metadata(projected, method):
    vol, stack = projected
    stack.metadata.General.title = "Au"
    rec = stack.reconstruct(method, iterations=20, progress=False)
    md = rec.metadata.Reconstruction
    assert md.method == method and md.software == "ASTRA" and md.device == "cpu"
    assert md.iterations == (20 if method in ("SIRT", "SART") else 0)
    np.testing.assert_allclose(rec.metadata.Tomography.tilts, TILTS)
    assert np.all(np.isfinite(rec.data))
    if method != "BP":  # BP is the unnormalised adjoint
        corr = np.corrcoef(rec.data.ravel(), vol.ravel())[0, 1]
        assert corr > 0.9
    if method in ("SIRT", "SART"):
        assert rec.data.min() >= 0


def test_threads_give_identical_slices_and_non_uniform_tilts_work(projected):
    vol, _ = projected
    tilts = np.array([-62.0, -45.0, -31.0, -12.0, 0.0, 7.0, 25.0, 48.0, 71.0])
    stack = TomoStack(forward_project(vol, tilts), tilts=tilts)
    one = spectomo.reconstruct(stack, "SIRT", iterations=30, n_jobs=1, progress=False)
    two = spectomo.reconstruct(stack, "SIRT", iterations=30, n_jobs=2, progress=False)
    np.testing.assert_array_equal(one.data, two.data)
    order = np.random.default_rng(1).permutation(len(tilts))
    shuffled = TomoStack(stack.data[order], tilts=tilts[order])
    three = spectomo.reconstruct(shuffled, "SIRT", iterations=30, progress=False)
    np.testing.assert_allclose(three.data, one.data, atol=1e-4 * one.data.max())


def test_thickness_and_saved_provenance(projected, tmp_path):
    _, stack = projected
    rec = stack.reconstruct("FBP", thickness=12, progress=False)
    assert rec.data.shape == (24, 24, 12)
    path = spectomo.save(rec, tmp_path / "rec.hspy")
    back = spectomo.load(path)
    assert back.metadata.Reconstruction.method == "FBP"
    assert back.metadata.Reconstruction.filter == "ram-lak"


def test_recon_error_decreases(projected):
    _, stack = projected
    recs, err = stack.recon_error(12, iterations=15)
    assert recs.data.shape == (15, 24, 24) and err.data.shape == (15,)
    assert np.all(np.diff(err.data) < 0)
    assert err.data[-1] < 0.5 * err.data[0]
    single = stack.reconstruct("SIRT", iterations=15, progress=False).data[12]
    np.testing.assert_allclose(recs.data[-1], single, atol=1e-5 * single.max())


def test_reconstruct_errors(projected):
    _, stack = projected
    with pytest.raises(ValueError, match=r"\['BP', 'FBP', 'SIRT', 'SART'\]"):
        stack.reconstruct("ART")
    with pytest.raises(ValueError, match="iterations"):
        stack.reconstruct("SIRT", iterations=0)
    with pytest.raises(TypeError, match="cuda"):
        stack.reconstruct("FBP", cuda="gpu")
    with pytest.raises(ValueError, match="iterative"):
        stack.recon_error(3, method="FBP")
    with pytest.raises(IndexError, match="slice_index"):
        stack.recon_error(99)
    with pytest.raises(ValueError, match="at least 3 projections"):
        TomoStack(np.ones((2, 8, 8)), tilts=[0, 5]).reconstruct("FBP")


def test_astra_objects_are_freed_even_on_error(projected):
    from spectomo.geometry import astra as astra_wrappers

    _, stack = projected
    before = _n_astra_objects()
    stack.reconstruct("SIRT", iterations=2, progress=False)
    stack.recon_error(3, iterations=2)
    assert _n_astra_objects() == before

    class Boom(RuntimeError):
        pass

    original = astra_wrappers.SliceSolver.run

    def failing(self, *args, **kwargs):
        raise Boom("injected")
    astra_wrappers.SliceSolver.run = failing
    try:
        with pytest.raises(Boom):
            stack.reconstruct("SIRT", iterations=2, progress=False)
    finally:
        astra_wrappers.SliceSolver.run = original
    assert _n_astra_objects() == before


def _n_astra_objects():
    import io
    from contextlib import redirect_stdout

    import astra

    total = 0
    for mod in (astra.data2d, astra.projector, astra.algorithm):
        buf = io.StringIO()
        with redirect_stdout(buf):
            mod.info()
        total += sum(1 for line in buf.getvalue().splitlines() if line.strip()[:1].isdigit())
    return total


# -- end to end: HAADF alignment → element maps → SIRT ------------------------------------------

def _padded_core_shell():
    ph = make_phantom("core_shell", 32)
    return Phantom(ph.name, {k: np.pad(v, 8) for k, v in ph.partial_densities.items()}, ph.voxel_size)


@pytest.fixture(scope="module")
def drift_pair():
    ph = _padded_core_shell()
    # dwell time chosen for ~10–40 L-line counts per pixel (the count level this test was written for)
    common = dict(tilts=TILTS, energy_channels=256, energy_scale=0.05, progress=False, eds_dwell_time=0.11)
    clean = datasets.simulate(ph, seed=11, **common)
    drifted = datasets.simulate(ph, seed=11, drift=1.5, tilt_axis_offset=1.3, **common)
    return clean, drifted


@pytest.mark.parametrize("reference", ["haadf", "sum_image"])
def test_end_to_end_alignment_within_half_a_db_of_drift_free(drift_pair, reference):
    clean, drifted = drift_pair
    assert np.abs(drifted.shifts).max() > 3
    maps_clean = spectomo.extract_maps(clean.eds, method="windows", progress=False)
    maps_drift = spectomo.extract_maps(drifted.eds, method="windows", progress=False)
    ref = drifted.haadf if reference == "haadf" else spectomo.sum_image(drifted.eds, progress=False)
    ali = ref.stack_register("PC", progress=False).tilt_align("CoM")
    assert ali.metadata.Tomography.tilt_axis_offset == pytest.approx(-1.3, abs=0.5)
    aligned = ali.align_other(maps_drift)
    for line in maps_clean:
        truth = clean.count_volume(line)
        good = psnr(maps_clean[line].reconstruct("SIRT", iterations=50, progress=False).data, truth)
        ours = psnr(aligned[line].reconstruct("SIRT", iterations=50, progress=False).data, truth)
        raw = psnr(maps_drift[line].reconstruct("SIRT", iterations=50, progress=False).data, truth)
        assert ours >= good - 0.5, f"{line}: aligned {ours:.2f} dB vs drift-free {good:.2f} dB"
        assert ours > raw + 1.0, f"{line}: alignment gained only {ours - raw:.2f} dB"
