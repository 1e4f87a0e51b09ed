"""ETSpy 1.3's test suite, ported: each test here checks, in our words and on our data, the behaviour
one or more ETSpy test cases check (their names are in the comments). docs/etspy.md lists what is not
ported and why. The comparisons against ETSpy's own outputs are in test_etspy_compat.py."""

import shutil
from pathlib import Path

import hyperspy.api as hs
import numpy as np
import pytest

import spectomo
from helpers import needle
from helpers import quiet as _quiet
from spectomo import TiltMismatchError, TomoStack
from spectomo.io import TiltsNotFoundError

DATA = Path(__file__).parent / "data"
ETS = DATA / "etspy"




@pytest.fixture(scope="module")
def full():
    return needle()


@pytest.fixture(scope="module")
def short(full):
    return TomoStack(full.data[::4].copy(), tilts=full.tilts[::4])


@pytest.fixture(scope="module")
def aligned(full):
    return _quiet(full.stack_register("PC", progress=False).tilt_align, "CoM")


# --- io (ETSpy test_io.py) --------------------------------------------------------------------------

def test_load_mrc_and_ali(tmp_path):  # test_load_mrc, test_load_ali
    for suffix in (".mrc", ".ali"):
        shutil.copy(ETS / "needle_fei.mrc", tmp_path / f"needle{suffix}")
        s = _quiet(spectomo.load, tmp_path / f"needle{suffix}")
        assert isinstance(s, TomoStack) and s.data.shape == (77, 64, 64)
        assert s.axes_manager.navigation_axes[0].units == "degrees" and s.tilts[0] == -76.0
        assert [a.units for a in s.axes_manager.signal_axes] == ["nm", "nm"]


def _plain_mrc(path, n=5):
    import mrcfile

    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.arange(n * 8 * 8, dtype=np.float32).reshape(n, 8, 8) % 17)


def test_load_mrc_with_rawtlt(tmp_path):  # test_load_mrc_with_rawtlt, test_load_mrc_with_rawtlt_str_filename
    _plain_mrc(tmp_path / "s.mrc")
    (tmp_path / "s.rawtlt").write_text("\n".join(str(t) for t in (-20, -10, 0, 10, 20)))
    for p in (tmp_path / "s.mrc", str(tmp_path / "s.mrc")):
        s = _quiet(spectomo.load, p)
        np.testing.assert_array_equal(s.tilts, [-20, -10, 0, 10, 20])
        assert s.metadata.Tomography.tilts_source == "s.rawtlt"


def test_load_mrc_with_bad_rawtlt(tmp_path):  # test_load_mrc_with_bad_rawtlt
    _plain_mrc(tmp_path / "s.mrc")
    (tmp_path / "s.rawtlt").write_text("0\n10\n20\n")
    with pytest.raises(TiltMismatchError, match="s.rawtlt"):
        _quiet(spectomo.load, tmp_path / "s.mrc")


def test_load_mrc_without_tilts(tmp_path):
    _plain_mrc(tmp_path / "s.mrc")
    with pytest.raises(TiltsNotFoundError, match="s.rawtlt"):
        _quiet(spectomo.load, tmp_path / "s.mrc")


def test_convert_signal2d(full):  # test_convert_signal2d, test_signal_to_stack
    sig = hs.signals.Signal2D(np.asarray(full.data))
    sig.axes_manager[1].scale, sig.axes_manager[1].units = 13.44, "nm"
    s = TomoStack(sig, tilts=full.tilts)
    assert s.axes_manager[1].scale == 13.44 and s.axes_manager[1].units == "nm"
    np.testing.assert_array_equal(s.tilts, full.tilts)


def test_signal_to_stack_bad_tilts(full):  # test_signal_to_stack_bad_tilts, test_numpy_to_stack_with_bad_tilts
    with pytest.raises(TiltMismatchError):
        TomoStack(hs.signals.Signal2D(np.asarray(full.data)), tilts=full.tilts[:-1])
    with pytest.raises(TiltMismatchError):
        TomoStack(np.asarray(full.data), tilts=np.zeros(3))


def test_numpy_to_stack(full):  # test_numpy_to_stack_no_tilts, test_numpy_to_stack_with_tilts
    s = TomoStack(np.asarray(full.data))
    with pytest.raises(AttributeError, match="no tilt angles"):
        _ = s.tilts
    s = TomoStack(np.asarray(full.data), tilts=full.tilts)
    assert s.axes_manager.navigation_axes[0].scale == 2.0 and s.axes_manager.navigation_axes[0].offset == -76


def test_load_hspy_and_hdf5(tmp_path, aligned):  # test_load_hspy_hdf5
    for suffix in (".hspy", ".hdf5", ".h5"):
        spectomo.save(aligned, tmp_path / f"a{suffix}")
        back = spectomo.load(tmp_path / f"a{suffix}")
        np.testing.assert_array_equal(back.tilts, aligned.tilts)
        np.testing.assert_allclose(back.shifts, aligned.shifts)
        assert back.metadata.Tomography.tilt_axis_rotation == aligned.metadata.Tomography.tilt_axis_rotation


def test_load_single_dm_image():  # test_load_single_dm (one image: its stage tilt)
    s = _quiet(spectomo.load, ETS / "BF_001.dm3")
    assert s.n_projections == 1 and s.tilts[0] == pytest.approx(-72.003, abs=1e-3)


def test_load_dm_series_any_order():  # test_load_dm_series
    files = sorted(ETS.glob("BF_00?.dm3"))
    s = _quiet(spectomo.load, [str(f) for f in files[::-1]])
    assert s.data.shape == (3, 128, 128) and np.all(np.diff(s.tilts) > 0)


@pytest.mark.parametrize("as_str", [False, True])
def test_load_serialem_multiframe(as_str):  # test_load_serialem_multiframe_series,
    # test_load_serialem_multiframe_str_fnames
    files = sorted(ETS.glob("serialem_test_00?.mrc"))
    s = _quiet(spectomo.load, [str(f) if as_str else f for f in files])
    assert s.data.shape == (3, 16, 16)
    np.testing.assert_allclose(s.tilts, [-5.0, 0.0, 5.0], atol=0.01)


def test_load_serialem_with_mdocs(tmp_path):  # test_load_serialem_multiframe_str_fnames_with_mdocs,
    # test_load_serialem_multiframe_str_fnames_with_mdocs_str, test_load_serialem_multiframe_add_mrc_to_mdoc_names
    mrcs, mdocs = [], []
    for i, f in enumerate(sorted(ETS.glob("serialem_test_00?.mrc"))):
        shutil.copy(f, tmp_path / f"frame{i}.mrc")
        shutil.copy(f.with_suffix(".mdoc"), tmp_path / f"meta{i}.txt")
        mrcs.append(tmp_path / f"frame{i}.mrc")
        mdocs.append(str(tmp_path / f"meta{i}.txt"))
    # SerialEM's own header carries the angles; mdocs= is used where the header has none
    s = _quiet(spectomo.load, mrcs, mdocs=mdocs)
    np.testing.assert_allclose(s.tilts, [-5.0, 0.0, 5.0], atol=0.01)
    with pytest.raises(ValueError, match="mdocs"):
        _quiet(spectomo.load, mrcs, mdocs=mdocs[:2])
    # the <name>.mrc.mdoc form is found beside the data too
    shutil.copy(ETS / "serialem_test_000.mdoc", tmp_path / "frame0.mrc.mdoc")
    assert spectomo.io.find_tilts(tmp_path / "frame0.mrc") is not None


def test_load_serialem_single_file_is_frames_at_one_tilt():  # test_load_serialem_multi_tilt_single_file
    s = _quiet(spectomo.load, ETS / "serialem_test_001.mrc")
    assert s.data.shape == (2, 16, 16) and np.all(s.tilts == 5.0)
    with pytest.raises(ValueError, match="equal|at least 3"):  # frames at one tilt are not a tilt series
        _quiet(s.reconstruct, "FBP")


def test_mrc_header_parser():  # test_mrc_header_parser, test_mrc_header_parser_str_filename
    from spectomo.io.tilts import serialem_tilts

    np.testing.assert_allclose(serialem_tilts(ETS / "serialem_test_002.mrc"), [-5.0, -5.0])
    np.testing.assert_allclose(serialem_tilts(str(ETS / "serialem_test_000.mrc")), [0.0, 0.0])
    assert serialem_tilts(ETS / "needle_fei.mrc") is None  # an FEI file has no SerialEM header


def test_load_unknown_inputs(tmp_path):  # test_load_unknown_string, test_load_unknown_list, test_load_unknown_type
    (tmp_path / "x.unknown").write_text("not data")
    with pytest.raises(OSError, match="x.unknown"):
        spectomo.load(tmp_path / "x.unknown")
    with pytest.raises(OSError, match="x.unknown"):
        spectomo.load([tmp_path / "x.unknown", tmp_path / "x.unknown"])
    with pytest.raises(TypeError, match="path"):
        spectomo.load(123)
    with pytest.raises(FileNotFoundError):
        spectomo.load(tmp_path / "missing.mrc")


# --- the TomoStack and RecStack classes (ETSpy test_base.py) ------------------------------------

def test_slicing_keeps_tilts_and_shifts(aligned):  # test_slicing, test_tilt_nav_slicer, test_shift_nav_slicer
    sub = aligned.inav[10:20]
    np.testing.assert_array_equal(sub.tilts, aligned.tilts[10:20])
    np.testing.assert_array_equal(sub.shifts, aligned.shifts[10:20])


def test_signal_slicing_keeps_every_tilt(aligned):  # test_tomostack_sig_slicer, test_tilt_sig_slicer
    sub = aligned.isig[10:50, 5:60]
    assert sub.data.shape == (77, 55, 40)
    np.testing.assert_array_equal(sub.tilts, aligned.tilts)


def test_single_pixel_slices(short):  # test_single_pixel_nav_slicer,
    # test_single_pixel_sig_slicer_x, test_single_pixel_sig_slicer_y
    one = short.inav[3]
    assert one.data.shape == (64, 64)
    col = short.isig[30, :]
    assert col.data.shape == (short.n_projections, 64)


def test_deepcopy_and_copy(aligned):  # test_deepcopy, test_copy
    d = aligned.deepcopy()
    d.shifts = d.shifts + 1
    assert not np.allclose(d.shifts, aligned.shifts)
    np.testing.assert_array_equal(d.tilts, aligned.tilts)
    c = aligned.copy()
    np.testing.assert_array_equal(c.tilts, aligned.tilts)


def test_remove_projections(short):  # test_remove_projections, test_remove_projections_none
    out = short.remove_projections([0, 2])
    assert out.n_projections == short.n_projections - 2
    np.testing.assert_array_equal(out.tilts, np.delete(short.tilts, [0, 2]))
    np.testing.assert_array_equal(short.remove_projections([]).tilts, short.tilts)


def test_tilt_setter(short):  # test_tilt_setter, test_tilt_setter_1d_array, test_tilt_setter_bad_dims
    s = short.deepcopy()
    s.tilts = np.arange(s.n_projections, dtype=float)
    np.testing.assert_array_equal(s.tilts, np.arange(s.n_projections))
    with pytest.raises(TiltMismatchError):
        s.tilts = np.zeros(3)
    with pytest.raises(ValueError, match="one-dimensional"):
        s.tilts = np.zeros((s.n_projections, 2))


def test_shift_setter(short):  # test_shift_setter, test_shift_setter_bad_dims
    s = short.deepcopy()
    s.shifts = np.ones((s.n_projections, 2))
    np.testing.assert_array_equal(s.shifts, 1.0)
    with pytest.raises(TiltMismatchError):
        s.shifts = np.ones((3, 2))
    with pytest.raises(TiltMismatchError):
        s.shifts = np.ones((s.n_projections, 3))


def test_save_and_reload(tmp_path, short):  # test_save
    path = spectomo.save(short, tmp_path / "short.hspy")
    back = spectomo.load(path)
    np.testing.assert_array_equal(back.data, short.data)
    np.testing.assert_array_equal(back.tilts, short.tilts)


def test_recstack_slicing_and_plot(aligned):  # test_recstack_nav_slicer, test_recstack_sig_slicer, plot_slices
    import matplotlib

    matplotlib.use("Agg")
    rec = aligned.isig[30:34, :].reconstruct("FBP", progress=False)
    assert isinstance(rec, spectomo.RecStack) and rec.data.shape == (4, 64, 64)
    assert rec.inav[1].data.shape == (64, 64)
    assert rec.plot_slices() is not None


# --- registration and tilt axis (ETSpy test_align.py, test_base.py) --------------------------------

@pytest.mark.parametrize("method", ["PC", "COM", "COM-CL", "StackReg"])
def test_register_methods(short, method):  # test_register_methods, test_stack_register_pc/com/stackreg
    pytest.importorskip("pystackreg") if method == "StackReg" else None
    reg = short.stack_register(method, progress=False)
    assert isinstance(reg, TomoStack) and reg.data.shape == short.data.shape
    assert reg.shifts[short.n_projections // 2] == pytest.approx([0.0, 0.0])  # ETSpy's middle reference


def test_register_unknown_method(short):  # test_register_unknown_method, test_stack_register_unknown_method
    with pytest.raises(ValueError, match="UNKNOWN"):
        short.stack_register("UNKNOWN")


def test_stack_register_start(short):  # test_calc_shifts_stackreg_no_start, test_calc_shifts_cl_no_index
    reg = short.stack_register("PC", start=2, progress=False)
    assert reg.shifts[2] == pytest.approx([0.0, 0.0])
    with pytest.raises(IndexError, match="start"):
        short.stack_register("PC", start=100, progress=False)


@pytest.mark.parametrize("method", ["CoM", "MaxImage"])
def test_tilt_align_methods(full, method):  # test_tilt_align_com, test_tilt_align_maximage
    reg = full.stack_register("PC", progress=False)
    ali = _quiet(reg.tilt_align, method)
    assert abs(ali.metadata.Tomography.tilt_axis_rotation) < 10


def test_tilt_align_with_slices(full):  # test_tilt_align_com_no_locs, test_tilt_com_no_slices_yes_nslices_30_perc
    reg = full.stack_register("PC", progress=False)
    ali = _quiet(reg.tilt_align, "CoM", slices=[20, 32, 44])
    assert list(ali.metadata.Tomography.Alignment_log.step_1.columns)  # the given columns (or fewer)
    with pytest.raises(IndexError, match="slices"):
        reg.tilt_align("CoM", slices=[200])


def test_tilt_align_needs_tilts_and_a_known_method(full):  # test_tilt_align_com_no_tilts
    s = TomoStack(np.asarray(full.data))
    with pytest.raises(AttributeError, match="tilt"):
        s.tilt_align("CoM")
    with pytest.raises(ValueError, match="method"):
        full.tilt_align("UNKNOWN")


def test_align_other_replays(short):  # test_align_to_other, test_align_other_with_shifts
    reg = short.stack_register("PC", progress=False)
    again = reg.align_other(short)
    np.testing.assert_allclose(again.data, reg.data, atol=1e-4 * float(np.abs(reg.data).max()))
    np.testing.assert_array_equal(again.shifts, reg.shifts)


def test_align_other_without_alignment(short):  # test_align_other_no_shifts, test_align_to_other_no_alignment
    with pytest.raises(ValueError, match="No transformations have been applied"):
        short.align_other(short.deepcopy())


def test_align_other_with_x_and_y_shift(short):  # test_align_to_other_with_xshift,
    # test_align_to_other_with_yshift_only, test_align_other_with_yshift_only
    reg = short.stack_register("PC", progress=False).trans_stack(xshift=3, yshift=2, angle=2)
    again = reg.align_other(short)
    inner = (slice(None), slice(8, -8), slice(8, -8))
    scale = float(np.abs(reg.data).max())
    np.testing.assert_allclose(again.data[inner], reg.data[inner], atol=0.15 * scale)  # one resampling vs two
    only_y = short.trans_stack(yshift=5)
    assert only_y.align_other(short).metadata.Tomography.tilt_axis_offset == pytest.approx(-5.0)


def test_apply_shifts_bad_shape(short):  # test_apply_shifts_bad_shape
    s = short.deepcopy()
    with pytest.raises(TiltMismatchError):
        s.shifts = np.zeros((s.n_projections + 1, 2))


# --- reconstruction (ETSpy test_recon.py, test_base.py) ---------------------------------------------

@pytest.mark.parametrize("method", ["FBP", "SIRT", "SART"])
def test_recon_cpu(aligned, method):  # test_recon_fbp_cpu, test_recon_sirt_cpu, test_recon_sart_cpu
    part = aligned.isig[30:33, :]
    rec = part.reconstruct(method, iterations=5, cuda=False, progress=False)
    assert rec.data.shape == (3, 64, 64) and np.all(np.isfinite(rec.data))


def test_recon_multicore_matches_single(aligned):  # test_recon_fbp_cpu_multicore
    part = aligned.isig[30:34, :]
    one = part.reconstruct("FBP", ncores=1, progress=False)
    two = part.reconstruct("FBP", ncores=2, progress=False)
    np.testing.assert_allclose(one.data, two.data, rtol=1e-6, atol=1e-6)


def test_recon_unknown_algorithm_and_no_tilts(aligned):  # test_recon_unknown_algorithm, test_recon_no_tilts
    with pytest.raises(ValueError, match="UNKNOWN"):
        aligned.reconstruct("UNKNOWN")
    with pytest.raises(AttributeError, match="tilt"):
        TomoStack(np.asarray(aligned.data)).reconstruct("FBP")


def test_recon_thickness(aligned):  # reconstruct(thickness=…)
    rec = aligned.isig[30:32, :].reconstruct("FBP", thickness=40, progress=False)
    assert rec.data.shape == (2, 64, 40)


@pytest.mark.parametrize("method", ["SIRT", "SART"])
def test_recon_error(aligned, method):  # test_sirt_error, test_sart_error, test_sirt_error_no_cuda,
    # test_sart_error_no_cuda
    recs, err = aligned.recon_error(32, method=method, iterations=4)
    assert err.data.size == 4 and np.all(np.isfinite(err.data)) and recs.data.shape[0] == 4


def test_recon_error_bad_slice(aligned):  # test_sirt_error_no_slice, test_recon_error_no_tilts
    with pytest.raises((IndexError, ValueError)):
        aligned.recon_error(1000, iterations=2)
    with pytest.raises(AttributeError, match="tilt"):
        TomoStack(np.asarray(aligned.data)).recon_error(32, iterations=2)


def test_per_tilt_eds_files_become_one_series(tmp_path):
    # one spectrum image per tilt, as Bruker/Velox write them (stage tilt in the metadata), any order
    from spectomo.datasets import simulate

    sim = _quiet(simulate, "core_shell", size=12, tilts=[-30.0, 0.0, 30.0], energy_channels=256,
                 energy_scale=0.08, progress=False)
    files = []
    for i, t in enumerate(sim.tilts):
        si = sim.eds.inav[:, :, i]
        si.metadata.set_item("Acquisition_instrument.TEM.Stage.tilt_alpha", float(t))
        si.metadata.Tomography.__delattr__("tilts")
        files.append(spectomo.save(si, tmp_path / f"tilt_{i}.hspy"))
    series = _quiet(spectomo.load, files[::-1], signal="EDS")
    assert series.axes_manager.navigation_shape == (12, 12, 3) and "EDS" in type(series).__name__
    np.testing.assert_array_equal(series.metadata.Tomography.tilts, sim.tilts)
    a = _quiet(spectomo.extract_maps, series, method="windows", progress=False)
    b = _quiet(spectomo.extract_maps, sim.eds, method="windows", progress=False)
    for line in b:
        np.testing.assert_allclose(a[line].data, b[line].data)
        np.testing.assert_array_equal(a[line].tilts, sim.tilts)
