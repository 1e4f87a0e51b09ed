"""TomoStack / RecStack: HyperSpy registration and tilt/shift bookkeeping."""

import copy

import hyperspy.api as hs
import numpy as np
import pytest

import spectomo
from spectomo import LazyRecStack, LazyTomoStack, RecStack, TiltMismatchError, TomoStack


@pytest.fixture
def stack(rng):
    s = TomoStack(rng.random((7, 10, 12)).astype(np.float32), np.linspace(-60, 60, 7))
    s.shifts = np.arange(14, dtype=float).reshape(7, 2)
    return s


@pytest.mark.parametrize("signal_type, cls, lazy_cls", [("spectomo_TomoStack", TomoStack, LazyTomoStack),
                                                        ("spectomo_RecStack", RecStack, LazyRecStack)])
def test_set_signal_type_returns_extension_classes(signal_type, cls, lazy_cls):
    s = hs.signals.Signal2D(np.zeros((3, 4, 5)))
    s.set_signal_type(signal_type)
    assert type(s) is cls
    lazy = hs.signals.Signal2D(np.zeros((3, 4, 5))).as_lazy()
    lazy.set_signal_type(signal_type)
    assert type(lazy) is lazy_cls


def test_hyperspy_knows_the_extension():
    from hyperspy.extensions import ALL_EXTENSIONS

    signals = ALL_EXTENSIONS["signals"]
    for name in ("SpectomoTomoStack", "SpectomoLazyTomoStack", "SpectomoRecStack", "SpectomoLazyRecStack"):
        assert signals[name]["module"] == "spectomo.signals"
        assert signals[name]["signal_type"].startswith("spectomo_")  # never ETSpy's "TomoStack"/"RecStack"


def test_constructor_like_etspy(rng):
    data = rng.random((5, 6, 7))
    a = TomoStack(data, [0, 10, 20, 30, 40])
    b = TomoStack(hs.signals.Signal2D(data), tilts=[0, 10, 20, 30, 40])
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.tilts, b.tilts)
    assert a.shifts.shape == (5, 2) and not a.shifts.any()
    assert a.axes_manager.navigation_axes[0].scale == 10  # display axis calibrated from tilts


def test_tilt_count_mismatch_is_named():
    with pytest.raises(TiltMismatchError, match="tilts: 3 entries for a stack of 4"):
        TomoStack(np.zeros((4, 5, 5)), [1, 2, 3])
    s = TomoStack(np.zeros((4, 5, 5)), [1, 2, 3, 4])
    with pytest.raises(TiltMismatchError):
        s.shifts = np.zeros((3, 2))
    with pytest.raises(ValueError, match="NaN"):
        s.tilts = [1, 2, np.nan, 4]


def test_missing_tilts_explain_how_to_set_them():
    s = hs.signals.Signal2D(np.zeros((3, 4, 4)))
    s.set_signal_type("spectomo_TomoStack")
    with pytest.raises(AttributeError, match="stack.tilts ="):
        _ = s.tilts


def test_inav_slicing_keeps_tilts_and_shifts(stack):
    sub = stack.inav[2:6]
    np.testing.assert_allclose(sub.tilts, stack.tilts[2:6])
    np.testing.assert_allclose(sub.shifts, stack.shifts[2:6])
    step = stack.inav[::3]
    np.testing.assert_allclose(step.tilts, stack.tilts[::3])
    one = stack.inav[4]
    assert one.n_projections == 1
    np.testing.assert_allclose(one.tilts, stack.tilts[4:5])
    np.testing.assert_allclose(one.shifts, stack.shifts[4:5])


def test_isig_slicing_keeps_all_tilts(stack):
    crop = stack.isig[2:8, 1:9]
    assert crop.data.shape == (7, 8, 6)
    np.testing.assert_allclose(crop.tilts, stack.tilts)
    np.testing.assert_allclose(crop.shifts, stack.shifts)


def test_deepcopy_keeps_tilts_and_is_independent(stack):
    for dup in (copy.deepcopy(stack), stack.deepcopy(), stack._deepcopy_with_new_data(stack.data * 2)):
        np.testing.assert_allclose(dup.tilts, stack.tilts)
        np.testing.assert_allclose(dup.shifts, stack.shifts)
    dup = stack.deepcopy()
    dup.tilts = np.linspace(-30, 30, 7)
    assert stack.tilts[0] == -60


def test_remove_projections(stack):
    new = stack.remove_projections([1, -1])
    assert new.data.shape == (5, 10, 12)
    np.testing.assert_allclose(new.tilts, stack.tilts[[0, 2, 3, 4, 5]])
    np.testing.assert_allclose(new.shifts, stack.shifts[[0, 2, 3, 4, 5]])
    np.testing.assert_array_equal(new.data, stack.data[[0, 2, 3, 4, 5]])
    assert stack.data.shape == (7, 10, 12)  # input untouched
    with pytest.raises(IndexError, match="projections"):
        stack.remove_projections([7])
    with pytest.raises(ValueError, match="every projection"):
        stack.remove_projections(range(7))


def test_save_load_roundtrip(stack, tmp_path):
    stack.metadata.set_item("Tomography.tilt_axis_rotation", 1.5)
    path = spectomo.save(stack, tmp_path / "stack.hspy")
    for loaded in (hs.load(path), spectomo.load(path)):
        assert type(loaded) is TomoStack
        np.testing.assert_allclose(loaded.tilts, stack.tilts)
        np.testing.assert_allclose(loaded.shifts, stack.shifts)
        np.testing.assert_array_equal(loaded.data, stack.data)
        assert loaded.metadata.Tomography.tilt_axis_rotation == 1.5
    lazy = spectomo.load(path, lazy=True)
    assert type(lazy) is LazyTomoStack
    np.testing.assert_allclose(lazy.inav[1:3].tilts, stack.tilts[1:3])


def test_lazy_class_requires_lazy_signal(rng):
    sig = hs.signals.Signal2D(rng.random((3, 4, 4)))
    with pytest.raises(TypeError, match="signal"):
        LazyTomoStack(sig, [0, 1, 2])
    lazy = LazyTomoStack(sig.as_lazy(), [0, 1, 2])
    np.testing.assert_allclose(lazy.tilts, [0, 1, 2])


def test_recstack_layout_and_save(rng, tmp_path):
    vol = rng.random((6, 7, 8)).astype(np.float32)
    rec = RecStack(vol, tilts=[-10, 0, 10])
    am = rec.axes_manager
    assert [ax.name for ax in am.navigation_axes] == ["x"]
    assert [ax.name for ax in am.signal_axes] == ["z", "y"]
    np.testing.assert_array_equal(rec.data[2], vol[2])  # rec.data[i] is the (y, z) slice i
    loaded = spectomo.load(spectomo.save(rec, tmp_path / "rec.hspy"))
    assert type(loaded) is RecStack
    np.testing.assert_allclose(loaded.metadata.Tomography.tilts, [-10, 0, 10])
    fig = loaded.plot_slices()
    assert len(fig.axes) == 4  # three slices + colour bar
