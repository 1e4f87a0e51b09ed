"""More of ETSpy 1.3's test suite, ported (test_base.py, test_align.py and test_recon.py cases that
test_etspy_ported.py does not hold). Each test names the ETSpy cases it stands for; where spectomo
deliberately behaves differently the test checks spectomo's documented behaviour and says so.
The ledger of every ETSpy case is tests/etspy_ledger.py."""

from pathlib import Path

import hyperspy.api as hs
import matplotlib
import numpy as np
import pytest

import spectomo
from helpers import needle
from helpers import quiet as _quiet
from spectomo import RecStack, TomoStack
from spectomo.geometry.astra import reconstruct_sinograms

matplotlib.use("Agg")
DATA = Path(__file__).parent / "data"




@pytest.fixture(scope="module")
def short():
    return needle(step=8)


@pytest.fixture(scope="module")
def aligned(short):
    return short.stack_register("PC", progress=False)


# --- RecStack -------------------------------------------------------------------------------------

def test_rec_stack_init_and_bad_dims():  # test_rec_stack_init, test_rec_stack_init_bad_dims
    rec = RecStack(np.random.default_rng(0).random((10, 11, 12)))
    assert isinstance(rec, RecStack) and rec.axes_manager.shape == (10, 12, 11)
    assert rec.metadata.Signal.signal_type == "spectomo_RecStack"  # own name: no clash with ETSpy's
    with pytest.raises(ValueError, match=r"RecStack holds a volume.*\(10, 8, 11, 12\)"):
        RecStack(np.zeros((10, 8, 11, 12)))


def test_plot_slices_returns_a_figure():  # test_plot_slices
    import matplotlib.pyplot as plt

    fig = RecStack(np.zeros((10, 10, 10))).plot_slices()
    assert isinstance(fig, plt.Figure)
    plt.close(fig)


@pytest.mark.parametrize("shape", [(10, 24, 24), (24, 24)])
def test_rec_stack_forward_project(shape):  # test_rec_stack_forward_project_3d, test_rec_stack_forward_project_2d
    rec = RecStack(np.random.default_rng(1).random(shape).astype(np.float32))
    tilts = np.linspace(0, 180, 30)
    sino = rec.forward_project(tilts, cuda=False)
    assert isinstance(sino, TomoStack) and sino.data.shape == (30, 24, shape[0] if len(shape) == 3 else 1)
    np.testing.assert_allclose(sino.tilts, tilts)


# --- TomoStack construction, plotting, slicing ----------------------------------------------------

def test_tomostack_create_by_array_too_many_dims():  # test_tomostack_create_by_array_too_many_dims
    with pytest.raises(ValueError, match=r"TomoStack holds projections.*\(2, 3, 10, 10\)"):
        TomoStack(np.zeros((2, 3, 10, 10)))


def test_tomostack_create_by_signal():
    # test_tomostack_create_by_signal, test_tomostack_create_by_signal_original_metadata,
    # test_tomostack_create_by_signal_axes, test_tomostack_create_by_signal_without_tomometa_dict
    sig = hs.signals.Signal2D(np.random.default_rng(2).random((5, 16, 12)).astype(np.float32))
    sig.metadata.General.title = "needle"
    sig.original_metadata.set_item("Acquisition.camera", "HAADF")
    sig.axes_manager.signal_axes[0].scale, sig.axes_manager.signal_axes[0].units = 2.5, "nm"
    st = TomoStack(sig, tilts=np.linspace(-40, 40, 5))
    assert isinstance(st, TomoStack) and st.data.shape == (5, 16, 12)
    assert st.metadata.General.title == "needle"
    assert st.original_metadata.Acquisition.camera == "HAADF"
    assert (st.axes_manager.signal_axes[0].scale, st.axes_manager.signal_axes[0].units) == (2.5, "nm")
    assert st.axes_manager.navigation_axes[0].name == "Projections"
    np.testing.assert_allclose(st.tilts, np.linspace(-40, 40, 5))
    # deliberately different from ETSpy (which sets 0° everywhere): unknown tilts stay unknown
    with pytest.raises(AttributeError, match="no tilt angles"):
        TomoStack(sig).tilts


def test_plot_and_plot_sinos(short):  # test_plot, test_plot_sinos
    import matplotlib.pyplot as plt

    short.plot()
    plt.close("all")
    short.plot_sinos()
    fig = plt.gcf()
    assert fig.axes  # a sinogram per slice, navigable
    plt.close("all")


def test_slicers(aligned):
    # test_tomostack_nav_slicer, test_shift_sig_slicer, test_two_d_tomo_stack_slicing,
    # test_single_pixel_sig_slicer_float
    part = aligned.inav[2:5]
    assert part.data.shape == (3, 64, 64)
    np.testing.assert_allclose(part.tilts, aligned.tilts[2:5])
    np.testing.assert_allclose(part.shifts, aligned.shifts[2:5])
    sig = aligned.isig[5:25, 10:40]  # signal slicing keeps every tilt and shift
    assert sig.data.shape == (aligned.n_projections, 30, 20)
    np.testing.assert_allclose(sig.shifts, aligned.shifts)
    one = aligned.inav[3]  # one projection: a 2D stack that still knows its tilt
    assert one.data.shape == (64, 64) and one.tilts == pytest.approx([aligned.tilts[3]])
    flt = aligned.isig[10.0:20.0, :]  # float indices are axis values (pixels here), as in HyperSpy
    assert flt.data.shape == (aligned.n_projections, 64, 10)


def test_set_tilts_no_metadata(short):  # test_set_tilts_no_metadata
    s = short.deepcopy()
    if s.metadata.has_item("Tomography"):
        del s.metadata.Tomography
    s.set_tilts(-50, 5)
    ax = s.axes_manager.navigation_axes[0]
    assert (ax.name, ax.units, ax.offset, ax.scale) == ("Projections", "degrees", -50, 5)
    np.testing.assert_allclose(s.tilts, -50 + 5 * np.arange(s.n_projections))


# --- alignment ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, {"tilt_rotation": 3.0}, {"tilt_shift": 3.0}, {"thickness": 40},
                                    {"thickness": 40, "cuda": False}])
def test_test_align(aligned, kwargs):
    # test_test_align_no_slices, test_test_align_with_angle, test_test_align_with_xshift,
    # test_test_align_with_thickness, test_test_align_no_cuda, test_test_align_cuda_none_mock_false
    # (cuda=None resolves to the CPU on a machine without CUDA, as the mock does)
    import matplotlib.pyplot as plt

    fig = aligned.test_align(**kwargs)
    assert len([a for a in fig.axes if a.get_title().startswith("Slice")]) == 3
    plt.close(fig)


@pytest.mark.parametrize("method", ["linear", "nearest", "cubic"])
def test_trans_stack_methods(aligned, method):
    # test_test_trans_stack_linear, test_test_trans_stack_nearest, test_test_trans_stack_cubic
    out = aligned.trans_stack(1, 1, 1, interpolation=method)
    assert isinstance(out, TomoStack) and out.data.shape == aligned.data.shape
    assert np.isfinite(out.data).all() and not np.array_equal(out.data, aligned.data)


def test_trans_stack_unknown(aligned):  # test_test_trans_stack_unknown
    with pytest.raises(ValueError, match="interpolation"):
        aligned.trans_stack(1, 1, 1, interpolation="UNKNOWN")


def test_tilt_align_unknown_method(aligned):  # test_tilt_align_unknown_method (test_align.py, test_base.py)
    with pytest.raises(ValueError, match=r"method: expected one of \['CoM', 'MaxImage'\], got 'UNKNOWN'"):
        aligned.tilt_align("UNKNOWN")


def test_tilt_align_com_with_given_slices_and_too_narrow_stacks(aligned):
    # test_tilt_align_com_axis_zero, test_tilt_com_nx_threshold_error
    ali = _quiet(aligned.tilt_align, "CoM", slices=[20, 32, 44], progress=False)
    assert isinstance(ali, TomoStack)
    assert list(ali.metadata.Tomography.Alignment_log.step_1.columns) == [20.0, 32.0, 44.0]
    with pytest.raises(ValueError, match="no column holds a constant projected mass"):
        _quiet(aligned.isig[:2, :].tilt_align, "CoM", nslices=100, progress=False)


@pytest.mark.parametrize("method", ["COM", "StackReg", "COM-CL"])
def test_stack_register_other_methods(short, method):  # test_stack_register_com, test_stack_register_stackreg
    reg = short.stack_register(method, progress=False)
    mid = short.n_projections // 2
    assert reg.shifts[mid] == pytest.approx([0.0, 0.0], abs=1e-6)  # ETSpy's reference: the middle
    assert np.abs(reg.shifts).max() < 20 and reg.metadata.Tomography.Alignment_log.step_0.method == method


def test_com_cl_options_are_checked(short):  # test_calc_shifts_com_cl_res_error
    with pytest.raises(TypeError, match="cl_resolution"):
        short.stack_register("COM-CL", cl_resolution=0.9, progress=False)


# --- reconstruction functions ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def sinogram(aligned):
    return np.ascontiguousarray(aligned.data[:, :, 32])  # (n_tilts, ny)


def test_recon_single_slice(aligned, sinogram):  # test_recon_single_slice, test_run_fbp_no_cuda_2d_array
    rec = reconstruct_sinograms(sinogram, aligned.tilts, method="FBP", cuda=False, progress=False)
    assert isinstance(rec, np.ndarray) and rec.shape == (1, 64, 64)
    batch = reconstruct_sinograms(sinogram[None], aligned.tilts, method="FBP", cuda=False, progress=False)
    np.testing.assert_array_equal(rec, batch)


@pytest.mark.parametrize("method", ["FBP", "SIRT", "SART"])
def test_run_no_cuda(aligned, method):  # test_run_fbp_no_cuda, test_run_sirt_no_cuda, test_run_sart_no_cuda
    sinos = np.ascontiguousarray(aligned.data[:, :, 30:33].transpose(2, 0, 1))
    rec = reconstruct_sinograms(sinos, aligned.tilts, method=method, iterations=5, cuda=False, progress=False)
    assert rec.shape == (3, 64, 64) and np.isfinite(rec).all() and rec.max() > 0


@pytest.mark.parametrize("method", ["SIRT", "SART"])
def test_astra_error_cpu(aligned, method):
    # test_astra_sirt_error_cpu, test_astra_sart_error_cpu, test_sirt_error_no_cuda, test_sart_error_no_cuda
    recs, err = aligned.recon_error(32, method=method, iterations=3, cuda=False)
    assert recs.data.shape == (3, 64, 64) and err.data.shape == (3,)
    assert err.data[-1] < err.data[0]


def test_astra_error_bad_dims_and_angle_mismatch(aligned, sinogram):
    # test_astra_error_cpu_bad_dims, test_astra_error_cpu_nangles_mismatch, test_sart_error_no_slice
    with pytest.raises(ValueError, match=r"sinograms: expected .*\(3, 5, 10, 2\)"):
        reconstruct_sinograms(np.zeros((3, 5, 10, 2)), np.zeros(5), method="SART", progress=False)
    with pytest.raises(ValueError, match=rf"tilts: {aligned.n_projections} angles for sinograms with 3 projections"):
        reconstruct_sinograms(np.zeros((3, 10)), aligned.tilts, method="SART", progress=False)
    with pytest.raises(TypeError, match="slice_index: expected an integer"):
        aligned.recon_error(None, method="SART", iterations=2)


# --- etspy.utils equivalents (ETSpy test_utils.py) ------------------------------------------------

def test_est_angles():  # test_est_angles, test_est_angles_error
    from spectomo.geometry import est_angles

    a = est_angles(10)
    assert isinstance(a, np.ndarray) and a.shape == (20,) and len(np.unique(a)) == 20
    inner = a[np.abs(a) <= 45]  # slopes 2k/n, equally spaced
    np.testing.assert_allclose(np.tan(np.radians(inner)) * 5, np.arange(-5, 6), atol=1e-9)
    outer = a[np.abs(a) > 45]
    np.testing.assert_allclose(np.sort(5 / np.tan(np.radians(outer))), np.arange(-4, 5), atol=1e-9)
    with pytest.raises(ValueError, match="N must be an even number"):
        est_angles(11)


def test_golden_ratio_angles():  # test_golden_ratio_angles
    from spectomo.geometry import golden_ratio_angles

    g = golden_ratio_angles(10, 5)
    assert g.shape == (5,) and np.all((g >= -5) & (g < 5))
    many = np.sort(golden_ratio_angles(140, 89))  # any run of them covers the range nearly evenly
    assert np.diff(many).max() < 3 * 140 / 89 and many[0] < -65 and many[-1] > 65


def test_radial_mask():  # test_radial_mask_no_center, test_radial_mask_with_center, test_radial_mask_non_square
    from spectomo.geometry import radial_mask

    m = radial_mask((100, 100))
    assert m.shape == (100, 100) and m.dtype == bool and m[50, 50] and not m[0, 0]
    assert np.array_equal(m, radial_mask((100, 100), (50, 50)))
    r = radial_mask((100, 40))  # centre (x, y) = (20, 50): radius 20 fits the narrow side
    assert r.shape == (100, 40) and r[50, 20] and not r[10, 20] and r.sum() == pytest.approx(np.pi * 400, rel=0.05)
    with pytest.raises(ValueError, match="center"):
        radial_mask((10, 10), (0, 5))


@pytest.mark.parametrize("name", ["shepp-logan", "ram-lak", "cosine", "hanning"])
def test_weighting_filter(aligned, name):
    # test_weighting_filter_shepp_logan, test_weighting_filter_ram_lak, test_weighting_filter_cosine,
    # test_weighting_filter_shepp_hanning
    from spectomo.align import weighting_filter

    out = weighting_filter(aligned, filter_name=name, cutoff=0.5)
    assert isinstance(out, TomoStack) and out.data.shape == aligned.data.shape
    np.testing.assert_allclose(out.tilts, aligned.tilts)
    # a ramp filter removes the mean along the detector and keeps the ramp's sign convention
    assert abs(out.data.mean(axis=1)).max() < 1e-3 * abs(aligned.data).max()
    assert out.metadata.Tomography.Preprocessing_log[-1]["filter"] == name


def test_weighting_filter_shapes_and_names(aligned):
    # test_weighting_filter_two_dimensional_data, test_weighting_filter_bad_filter,
    # test_weighting_filter_bad_stack_shape
    from spectomo.align import weighting_filter

    one = weighting_filter(aligned.inav[3], filter_name="hann")  # one projection, filtered along y
    np.testing.assert_allclose(one.data, weighting_filter(aligned, filter_name="hann").data[3], atol=1e-5)
    with pytest.raises(ValueError, match='Invalid filter type "wrong"'):
        weighting_filter(aligned, filter_name="wrong")
    with pytest.raises(ValueError, match="2 or 3-dimensional"):
        weighting_filter(hs.signals.Signal2D(np.zeros((2, 3, 8, 8))))


def test_multiaverage_and_register_serialem_stack():
    # test_multiaverage, test_register_serialem_stack, test_register_serialem_stack_multicpu
    from scipy import ndimage

    from spectomo.io import multiaverage, register_serialem_stack

    rng = np.random.default_rng(3)
    base = ndimage.gaussian_filter(rng.random((48, 48)), 2)
    drift = [(0, 0), (1.5, -2.0), (3.0, -4.0)]
    frames = np.stack([ndimage.shift(base, d, order=3, mode="nearest") for d in drift])
    avg = multiaverage(frames)
    inner = (slice(8, -8), slice(8, -8))
    assert avg.shape == (48, 48)
    assert np.abs(avg - base)[inner].max() < 0.1 * np.abs(frames.mean(0) - base)[inner].max() + 1e-3
    data = np.stack([frames, frames[:, ::-1]])  # 2 tilts × 3 frames
    for ncpus in (1, 2):
        st = register_serialem_stack(data, [-10.0, 10.0], ncpus=ncpus)
        assert isinstance(st, TomoStack) and st.data.shape == (2, 48, 48)
        np.testing.assert_allclose(st.tilts, [-10, 10])
    files = sorted((DATA / "etspy").glob("serialem_test_00?.mrc"))  # real SerialEM multi-frame files
    st = _quiet(register_serialem_stack, files)
    assert st.data.shape == (3, 16, 16)
    np.testing.assert_allclose(st.tilts, [-5.0, 0.0, 5.0], atol=0.01)
    loaded = _quiet(spectomo.load, files, frames="register")
    np.testing.assert_allclose(loaded.data, st.data, rtol=1e-5)
    with pytest.raises(ValueError, match="n_frames"):
        register_serialem_stack(np.zeros((2, 8, 8)))
