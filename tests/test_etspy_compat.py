"""spectomo against ETSpy 1.3 itself: same names, same meanings (docs/etspy.md).

The references were computed by ETSpy 1.3.0 (benchmarks/etspy_reference.py) on the binned NIST
needle of tests/data and on small synthetic stacks; the small MRC/DM files in tests/data/etspy
keep ETSpy's test files' real headers (benchmarks/make_etspy_test_files.py).
"""

import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import spectomo
from helpers import quiet as _quiet
from spectomo.validation import InputWarning

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def needle():
    z = np.load(DATA / "nist_needle_bin4.npz")
    proj = z["projections"].astype(np.float32)
    proj -= proj.min()  # as etspy.load does with the detector offset
    return spectomo.TomoStack(proj, tilts=z["tilts"].astype(float))


@pytest.fixture(scope="module")
def ref():
    return np.load(DATA / "etspy_needle_reference.npz")


@pytest.fixture(scope="module")
def small():
    return np.load(DATA / "etspy_small_reference.npz")




# --- trans_stack ----------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["x", "y", "angle", "all"])
def test_trans_stack_moves_as_etspy(small, case):
    img = small["trans_input"]
    xshift, yshift, angle = small[f"trans_{case}_args"]
    got = spectomo.TomoStack(img, tilts=[-30.0, 0.0, 30.0]).trans_stack(xshift=xshift, yshift=yshift, angle=angle).data
    want = small[f"trans_{case}"]
    inner = (slice(None), slice(5, -5), slice(5, -5))
    scale = float(np.abs(img).max())
    # shifts agree exactly; rotations differ only by the centre (ETSpy: n/2, spectomo: (n−1)/2)
    tol = 1e-5 if angle == 0 else 0.12
    assert np.abs(got[inner] - want[inner]).max() <= tol * scale


def test_trans_stack_interpolation_names(small):  # test_test_trans_stack_nearest, test_test_trans_stack_unknown
    s = spectomo.TomoStack(small["trans_input"], tilts=[-30.0, 0.0, 30.0])
    near = s.trans_stack(xshift=1.0, interpolation="nearest").data
    np.testing.assert_array_equal(near[:, :, 1:], s.data[:, :, :-1])
    with pytest.raises(ValueError, match="interpolation"):
        s.trans_stack(xshift=1.0, interpolation="spline")


# --- registration and tilt axis on the real needle ------------------------------------------------

def test_stack_register_with_etspys_settings_is_etspys(needle, ref):
    # ETSpy's PC: skimage phase correlation with its default phase normalisation, 1/3 px, chained
    # from the middle projection. The same options give ETSpy's shifts to the last digit.
    reg = needle.stack_register("PC", upsample_factor=3, normalization="phase", progress=False)
    np.testing.assert_allclose(reg.shifts, ref["register_shifts"], atol=1e-6)


def test_default_registration_is_more_accurate_than_etspys(needle, ref):
    # spectomo's default (no whitening, 1/10 px) differs from ETSpy's by up to ~1.3 px over the
    # chain; the re-projection residual says which is right.
    ours = needle.stack_register("PC", progress=False)
    theirs = needle.stack_register("PC", upsample_factor=3, normalization="phase", progress=False)
    r_ours = _quiet(ours.tilt_align, "CoM").alignment_residual()
    r_theirs = _quiet(theirs.tilt_align, "CoM").alignment_residual()
    assert r_ours < r_theirs


def test_tilt_align_agrees_with_etspy(needle, ref):
    reg = needle.stack_register("PC", upsample_factor=3, normalization="phase", progress=False)
    ali = _quiet(reg.tilt_align, "CoM")
    tomo = ali.metadata.Tomography
    assert tomo.tilt_axis_rotation == pytest.approx(float(ref["tiltaxis"]), abs=0.3)
    assert tomo.tilt_axis_offset == pytest.approx(-float(ref["yshift"]), abs=0.5)  # ETSpy's +y is up


def test_align_other_replays_an_etspy_file(needle, ref):
    ali = spectomo.load(DATA / "etspy_needle_aligned.hspy")  # written by ETSpy 1.3 (9 projections)
    assert ali.n_projections == 9 and ali.tilts[0] == -76.0
    assert ali.metadata.Tomography.tilt_axis_rotation == pytest.approx(float(ref["tiltaxis"]))
    out = ali.align_other(spectomo.TomoStack(needle.data[:9], tilts=needle.tilts[:9]))
    from skimage.registration import phase_cross_correlation

    for k, i in enumerate(ref["replayed_index"][:2]):  # projections 0 and 8, replayed by ETSpy
        want, got = ref["replayed"][k], np.asarray(out.data[i])
        shift = phase_cross_correlation(want - want.mean(), got - got.mean(), upsample_factor=20,
                                        normalization=None)[0]
        assert np.abs(shift).max() <= 0.25, shift


def test_etspy_metadata_is_converted():
    import hyperspy.api as hs

    plain = _quiet(hs.load, DATA / "etspy_needle_aligned.hspy")
    assert spectomo.io.is_etspy(plain)
    stack = spectomo.from_etspy(plain)
    tomo = stack.metadata.Tomography
    assert isinstance(stack, spectomo.TomoStack) and stack.tilts.shape == (9,)
    assert tomo.etspy.tiltaxis == pytest.approx(tomo.tilt_axis_rotation)
    assert tomo.tilt_axis_offset == pytest.approx(-tomo.etspy.yshift)


# --- volumes ----------------------------------------------------------------------------------------

def test_volume_layout_is_etspys_transposed(small):
    vol, tilts = small["volume"], small["volume_tilts"]
    proj = spectomo.geometry.forward_project(vol, tilts)
    ours = spectomo.TomoStack(proj, tilts=tilts).reconstruct("SIRT", iterations=100, progress=False)
    theirs = small["etspy_recon"]
    from scipy import ndimage

    c_ours = np.array(ndimage.center_of_mass(np.clip(ours.data, 0, None)))
    np.testing.assert_allclose(c_ours, ndimage.center_of_mass(vol), atol=0.05)  # spectomo: (nx, ny, nz)
    # ETSpy's volume is (nx, nz, ny); its centre convention (n/2) moves it by under one voxel
    c_etspy = np.array(ndimage.center_of_mass(np.clip(theirs, 0, None)))
    np.testing.assert_allclose(c_etspy[[0, 2, 1]], ndimage.center_of_mass(vol), atol=1.0)
    np.testing.assert_allclose(ndimage.center_of_mass(np.clip(spectomo.from_etspy_volume(theirs), 0, None)),
                               ndimage.center_of_mass(vol), atol=1.0)
    conv = spectomo.to_etspy_volume(ours)
    assert conv.shape == (vol.shape[0], vol.shape[2], vol.shape[1])
    np.testing.assert_array_equal(conv[1].T, ours.data[1])


def test_foreign_stacks_are_named():
    cls = type("TomoStack", (), {"__module__": "etspy.base"})
    with pytest.raises(TypeError, match="from_etspy"):
        spectomo.stack_register(cls())
    with pytest.raises(TypeError, match="spectomo TomoStack"):
        spectomo.stack_register(types.SimpleNamespace(data=np.zeros((3, 4, 4))))


# --- loaders on real headers -----------------------------------------------------------------------

def test_mrc_tilts_from_the_fei_extended_header(tmp_path):
    s = spectomo.load(DATA / "etspy" / "needle_fei.mrc")
    assert s.data.shape == (77, 64, 64) and s.metadata.Tomography.tilts_source == "MRC extended header"
    np.testing.assert_allclose(s.tilts, np.arange(-76.0, 77.0, 2.0))
    assert s.axes_manager[1].scale == pytest.approx(3.36 * 4, rel=1e-4) and s.axes_manager[1].units == "nm"
    # a sidecar that disagrees is not used, and says so
    import shutil

    shutil.copy(DATA / "etspy" / "needle_fei.mrc", tmp_path / "needle.mrc")
    (tmp_path / "needle.rawtlt").write_text("\n".join(str(v) for v in range(91)))
    with pytest.warns(InputWarning, match="needle.rawtlt"):
        s2 = spectomo.load(tmp_path / "needle.mrc")
    np.testing.assert_allclose(s2.tilts, s.tilts)
    assert spectomo.load(tmp_path / "needle.mrc", tilts=np.linspace(-70, 70, 77)).tilts[0] == -70.0


def test_serialem_multiframe_files_are_summed_and_sorted():
    files = sorted((DATA / "etspy").glob("serialem_test_00?.mrc"))
    s = _quiet(spectomo.load, files)  # bright-field images: no vacuum, so an offset warning
    np.testing.assert_allclose(s.tilts, [-5.0, 0.0, 5.0], atol=0.01)
    assert s.metadata.General.original_filenames == ["serialem_test_002.mrc", "serialem_test_000.mrc",
                                                     "serialem_test_001.mrc"]
    one = _quiet(spectomo.load, files[0])  # one file: its two frames at one tilt, from the extended header
    assert one.data.shape == (2, 16, 16) and one.metadata.Tomography.tilts_source == "MRC extended header"
    np.testing.assert_allclose(s.data[1], one.data.astype(np.float32).sum(axis=0))
    mean = _quiet(spectomo.load, files, frames="mean")
    np.testing.assert_allclose(mean.data, s.data / 2, rtol=1e-6)


def test_dm_images_are_stacked_by_stage_tilt():
    files = sorted((DATA / "etspy").glob("BF_00?.dm3"))
    s = _quiet(spectomo.load, files[::-1])  # any order in, tilt order out
    np.testing.assert_allclose(s.tilts, [-72.003, -69.004, -66.004], atol=1e-3)
    assert s.metadata.General.original_filenames == [f.name for f in files]
    given = _quiet(spectomo.load, files, tilts=[1.0, 2.0, 3.0])
    np.testing.assert_array_equal(given.tilts, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="tilts"):
        _quiet(spectomo.load, files, tilts=[1.0, 2.0])


def test_multi_signal_files_need_signal():
    import hyperspy.api as hs

    from spectomo.io import pick_signal

    img = hs.signals.Signal2D(np.zeros((4, 4)))
    img.metadata.General.title = "HAADF"
    eds = hs.signals.Signal1D(np.zeros((4, 4, 8)))
    eds.metadata.Signal.signal_type = "EDS_TEM"
    with pytest.raises(ValueError, match="holds 2 signals"):
        pick_signal([img, eds], None, "file.bcf")
    assert pick_signal([img, eds], "EDS", "file.bcf") is eds
    assert pick_signal([img, eds], "haadf", "file.bcf") is img
    assert pick_signal([img, eds], "image", "file.bcf") is img
    with pytest.raises(ValueError, match="none of the 2"):
        pick_signal([img, eds], "EELS", "file.bcf")


# --- vendor EDS files (RosettaSciIO's test data, GPL: not copied; set SPECTOMO_RSCIIO_DATA) ----------

_RSCIIO = __import__("os").environ.get("SPECTOMO_RSCIIO_DATA")
_VENDOR = {  # file → (lines to map, detector expected from the file, counts in the line windows)
    "bruker/test_TEM.bcf": (None, "Super-X", True),
    "emd/Test SI 16x16 215 kx.emd": (None, "Velox SuperXG21", True),  # from velox_emd_version11.zip
    # from velox_EELS_EDS.zip: 11 093 counts in all, every one below 0.1 keV (noise): empty maps
    "emd/example_velox_EELS_EDS.emd": (None, "Velox UltraX1", False),
    "jeol/Sample/00_View000/View000_0000006.pts": (["Fe_Ka", "O_Ka"], "EDS", True),
}


@pytest.mark.skipif(not _RSCIIO, reason="set SPECTOMO_RSCIIO_DATA to RosettaSciIO's rsciio/tests/data "
                                        "(with the Velox zips unpacked in emd/)")
@pytest.mark.parametrize("name", list(_VENDOR))
def test_vendor_eds_file_to_maps(name):
    path = Path(_RSCIIO) / name
    if not path.exists():
        pytest.skip(f"{name} not present")
    si = _quiet(spectomo.load, path, signal="EDS")
    assert si.axes_manager.navigation_dimension == 2 and si.axes_manager.signal_dimension == 1
    lines, det, counts = _VENDOR[name]
    assert spectomo.geometry.Detector.from_metadata(si).name.startswith(det)
    f = max(1, si.axes_manager.navigation_shape[0] // 32)
    small = si.rebin(scale=(f, f, 1)) if f > 1 else si  # counts add; 32 × 32 probe positions at most
    shape = small.axes_manager.navigation_shape[::-1]
    # two "tilts" of one spectrum image: the per-tilt-file workflow
    maps = _quiet(spectomo.extract_maps, [small, small], lines, tilts=[-10.0, 10.0], method="windows",
                  progress=False)
    assert maps and all(m.data.shape == (2, *shape) for m in maps.values())
    totals = [float(np.asarray(m.data, dtype=np.float64).sum()) for m in maps.values()]
    assert all(np.isfinite(totals)) and (max(totals) > 0) == counts
    # the file's detector set follows the maps (and so the volumes and correct_absorption)
    assert spectomo.geometry.Detector.from_metadata(next(iter(maps.values()))).name.startswith(det)
    assert sum(totals) <= 2 * float(np.asarray(small.data, dtype=np.float64).sum())


def test_edax_spd_files_to_maps(tmp_path):
    """EDAX TEAM spectrum images (.spd + .spc, written by tests/edax_files.py in EDAX's layout), one
    per tilt and in shuffled order: loaded as a tilt series sorted by the .spc stage tilt, the
    SEM-labelled metadata read as the (S)TEM acquisition it is, and the maps equal to those of the
    spectra the files were written from."""
    from edax_files import write_spd

    from spectomo import datasets

    sim = datasets.simulate("core_shell", size=16, tilt_step=30.0, seed=1, progress=False)
    tem = sim.eds.metadata.Acquisition_instrument.TEM
    ax = sim.eds.axes_manager.signal_axes[0]
    files = []
    for i in np.random.default_rng(0).permutation(len(sim.tilts)):
        files.append(write_spd(tmp_path / f"map{len(files):02d}.spd", np.asarray(sim.eds.data[i]),
                               ev_per_channel=1000 * ax.scale, start_kev=ax.offset, beam_kv=tem.beam_energy,
                               elevation=22.0, azimuth=45.0, live_time=tem.Detector.EDS.live_time,
                               tilt=float(sim.tilts[i]), elements=["Ag", "Au"]))
    series = _quiet(spectomo.load, files, signal="EDS")
    np.testing.assert_allclose(series.metadata.Tomography.tilts, sim.tilts)
    md = series.metadata
    assert md.Signal.signal_type == "EDS_TEM" and md.Acquisition_instrument.TEM.beam_energy == tem.beam_energy
    det = spectomo.geometry.Detector.from_metadata(series)
    assert det.elevation.tolist() == [22.0] and det.azimuth.tolist() == [45.0]
    maps = _quiet(spectomo.extract_maps, series, sim.lines, method="windows", progress=False)
    ref = _quiet(spectomo.extract_maps, sim.eds, sim.lines, method="windows", progress=False)
    for line in sim.lines:
        np.testing.assert_array_equal(maps[line].data, ref[line].data)
        np.testing.assert_allclose(maps[line].tilts, sim.tilts)


# --- ETSpy's other TomoStack/RecStack methods -------------------------------------------------------

@pytest.fixture
def short(needle):
    return spectomo.TomoStack(needle.data[::8].copy(), tilts=needle.tilts[::8])


@pytest.mark.parametrize("method", ["median", "sobel", "both", "bpf"])
def test_filter_keeps_the_shape(short, method):
    # test_image_filter_median, test_image_filter_sobel, test_image_filter_both, test_image_filter_bpf
    out = short.filter(method=method)
    assert out.data.shape == short.data.shape and np.all(np.isfinite(out.data))
    np.testing.assert_array_equal(out.tilts, short.tilts)
    assert not np.array_equal(out.data, short.data)


def test_filter_rejects_unknown_names(short):  # test_image_filter_wrong_name
    with pytest.raises(ValueError, match='Invalid filter method "WRONG"'):
        short.filter(method="WRONG")


def test_normalize_and_invert(short):  # test_stack_normalize, test_stack_invert
    norm = short.normalize()
    assert norm.data.shape == short.data.shape and norm.data.min() == 0.0
    im = np.zeros((4, 50, 50), np.float32)
    im[:, 20:30, 20:30] = 10
    stack = spectomo.TomoStack(im, tilts=[-30.0, -10.0, 10.0, 30.0])
    inv = stack.invert()
    assert inv.data[0, 0, 0] == 10 and inv.data[0, 25, 25] == 0  # bright field ↔ dark field
    np.testing.assert_array_equal(inv.invert().data, im)


def test_stats_prints_like_etspy(short, capsys):  # test_stack_stats
    short.stats()
    out = capsys.readouterr().out.split("\n")
    d = np.asarray(short.data)
    assert out[:4] == [f"Mean: {d.mean():.1f}", f"Std: {d.std():.2f}", f"Max: {d.max():.1f}", f"Min: {d.min():.1f}"]


def test_set_tilts(short):  # test_set_tilts
    s = short.deepcopy()
    s.set_tilts(-50, 5)
    np.testing.assert_allclose(s.tilts, -50 + 5 * np.arange(s.n_projections))
    ax = s.axes_manager.navigation_axes[0]
    assert (ax.name, ax.units, ax.offset, ax.scale) == ("Projections", "degrees", -50, 5)
    with pytest.raises(ValueError, match="increment"):
        s.set_tilts(0, 0)


def test_extract_sinogram(short):
    # test_extract_sinogram, test_extract_sinogram_float, test_extract_sinogram_bad_argument_type,
    # test_extract_sinogram_exception_handling
    sino = short.extract_sinogram(32)
    assert sino.data.shape == (short.n_projections, 64)
    assert sino.axes_manager.signal_axes[0].name == "y" and sino.axes_manager.signal_axes[1].name == "Projections"
    assert sino.metadata.General.title == "Sinogram at column 32"
    np.testing.assert_array_equal(sino.data, short.data[:, :, 32])
    cal = spectomo.TomoStack(short.data, tilts=short.tilts)
    for ax in cal.axes_manager.signal_axes:
        ax.scale, ax.units = 13.44, "nm"
    assert cal.extract_sinogram(134.4).metadata.General.title == "Sinogram at x = 134.4 nm"
    np.testing.assert_array_equal(cal.extract_sinogram(134.4).data, short.data[:, :, 10])
    with pytest.raises(TypeError, match="float or an integer"):
        short.extract_sinogram("bad")
    with pytest.raises(IndexError):
        short.extract_sinogram(10000)


def test_test_align_returns_a_figure(short):
    import matplotlib

    matplotlib.use("Agg")
    fig = short.stack_register("PC", progress=False).test_align(tilt_shift=1.0, tilt_rotation=2.0)
    assert len([a for a in fig.axes if a.get_title().startswith("Slice")]) == 3


def test_recstack_forward_project_is_consistent(small):
    vol, tilts = small["volume"], small["volume_tilts"]
    rec = spectomo.RecStack(vol)
    proj = rec.forward_project(tilts[:5])
    assert isinstance(proj, spectomo.TomoStack) and proj.data.shape == (5, 16, 4)
    np.testing.assert_allclose(proj.data, spectomo.geometry.forward_project(vol, tilts[:5], projector="linear"))


def test_reconstruct_takes_etspys_option_names(short):
    a = short.reconstruct("SIRT", iterations=5, thresh=0.5, progress=False)
    assert a.data.min() >= 0.5 - 1e-6 and a.metadata.Reconstruction.thresh == 0.5
    b = short.reconstruct("FBP", sino_filter="shepp-logan", ncores=1, progress=False)
    assert b.metadata.Reconstruction.filter == "shepp-logan"
    with pytest.raises(ValueError, match="sino_filter/filter_type"):
        short.reconstruct("FBP", sino_filter="hann", filter_type="cosine", progress=False)


def test_stack_register_crop_and_xrange(needle):
    # test_stack_register_with_crop, test_align_to_other_with_crop, test_calc_shifts_com_with_xrange
    reg = needle.stack_register("PC", crop=True, progress=False)
    s = reg.shifts
    rows, cols = reg.metadata.Tomography.cropped.rows, reg.metadata.Tomography.cropped.columns
    assert reg.data.shape[1:] == (rows[1] - rows[0], cols[1] - cols[0]) and reg.data.shape[1] < 64
    assert rows[0] >= np.ceil(max(s[:, 0].max(), 0)) and rows[1] <= 64 + np.floor(min(s[:, 0].min(), 0))
    again = reg.align_other(needle)  # the other stack is cropped alike
    np.testing.assert_allclose(again.data, reg.data, atol=1e-3 * float(np.abs(reg.data).max()))
    with pytest.raises(ValueError, match="crop"):
        _quiet(reg.tilt_align, "CoM").align_other(needle)
    com = needle.stack_register("COM", xrange=(16, 48), progress=False)
    assert com.metadata.Tomography.Alignment_log.step_0.method == "COM"
    np.testing.assert_allclose(com.shifts[:, 0], needle.stack_register("COM", progress=False).shifts[:, 0], atol=1.0)
    with pytest.raises(ValueError, match="xrange"):
        needle.stack_register("PC", xrange=(16, 48), progress=False)


def test_tilt_align_nslices(needle):
    reg = needle.stack_register("PC", progress=False)
    ali = _quiet(reg.tilt_align, "CoM", nslices=6)
    assert len(ali.metadata.Tomography.Alignment_log.step_1.columns) <= 6
    with pytest.raises(ValueError, match="nslices"):
        reg.tilt_align("CoM", nslices=1)


def test_etspy_notebook_runs_with_only_the_import_changed(tmp_path):
    """ETSpy 1.3's notebook workflow, verbatim but for the import (docs/etspy.md)."""
    import matplotlib

    matplotlib.use("Agg")
    import spectomo as etspy  # was: import etspy.api as etspy

    ref = np.load(DATA / "etspy_notebook_reference.npz")
    path = DATA / "etspy" / "needle_fei.mrc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)  # the raw file's detector offset
        stack = etspy.load(path)
        reg = stack.stack_register("PC")
        ali = reg.tilt_align("CoM")
        rec = ali.align_other(etspy.load(path)).reconstruct("SIRT", iterations=20)
    assert tuple(rec.data.shape) == tuple(ref["recon_shape"][[0, 2, 1]])  # ETSpy (nx, nz, ny)
    tomo = ali.metadata.Tomography
    assert tomo.tilt_axis_rotation == pytest.approx(float(ref["tiltaxis"]), abs=0.3)
    assert tomo.tilt_axis_offset == pytest.approx(-float(ref["yshift"]), abs=0.5)
    # the default registration is spectomo's (see test_default_registration_is_more_accurate...);
    # with ETSpy's options the shifts are ETSpy's
    etspy_like = stack.stack_register("PC", upsample_factor=3, normalization="phase", progress=False)
    np.testing.assert_allclose(etspy_like.shifts, ref["register_shifts"], atol=1e-6)
    d = reg.shifts - ref["register_shifts"]
    assert np.abs(d - d.mean(axis=0)).max() < 2.0  # recorded in docs/etspy.md
