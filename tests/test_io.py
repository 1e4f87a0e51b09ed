"""spectomo.load for hspy / mrc with tilt files, and atomic saves."""

import os

import numpy as np
import pytest

import spectomo
from spectomo.io import TiltsNotFoundError, atomic_path, read_mdoc_tilts

mrcfile = pytest.importorskip("mrcfile")


def _write_mrc(path, data):
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(data.astype(np.float32))


@pytest.fixture
def mrc_stack(tmp_path, rng):
    data = rng.random((5, 8, 9)).astype(np.float32)
    path = tmp_path / "series.mrc"
    _write_mrc(path, data)
    return path, data


@pytest.mark.parametrize("suffix", [".rawtlt", ".tlt"])
def test_mrc_with_imod_tilt_file(mrc_stack, suffix):
    path, data = mrc_stack
    path.with_suffix(suffix).write_text("-40\n-20.0\n0\n20\n40.5\n\n")
    s = spectomo.load(path)
    assert isinstance(s, spectomo.TomoStack)
    np.testing.assert_allclose(s.tilts, [-40, -20, 0, 20, 40.5])
    np.testing.assert_allclose(s.data, data)


def test_mrc_with_mdoc(mrc_stack):
    path, _ = mrc_stack
    sections = "".join(f"[ZValue = {k}]\nTiltAngle = {t}\nExposureTime = 1\n\n"
                       for k, t in [(1, -30.01), (0, -60.0), (2, 0.0), (3, 30.0), (4, 60.02)])
    (path.parent / "series.mrc.mdoc").write_text("PixelSpacing = 1.0\n\n" + sections)
    np.testing.assert_allclose(read_mdoc_tilts(path.parent / "series.mrc.mdoc"), [-60, -30.01, 0, 30, 60.02])
    np.testing.assert_allclose(spectomo.load(path).tilts, [-60, -30.01, 0, 30, 60.02])


def test_mrc_with_tilts_argument_and_errors(mrc_stack):
    path, _ = mrc_stack
    s = spectomo.load(path, tilts=np.arange(5) * 10.0)
    np.testing.assert_allclose(s.tilts, np.arange(5) * 10.0)
    with pytest.raises(TiltsNotFoundError, match="rawtlt"):
        spectomo.load(path)
    with pytest.raises(spectomo.TiltMismatchError):
        spectomo.load(path, tilts=[0, 1, 2])
    with pytest.raises(FileNotFoundError, match="path"):
        spectomo.load(path.parent / "nope.mrc")


def test_tilts_argument_overrides_saved_tilts(tmp_path):
    s = spectomo.TomoStack(np.zeros((3, 4, 4)), [0, 1, 2])
    p = spectomo.save(s, tmp_path / "s.hspy")
    np.testing.assert_allclose(spectomo.load(p, tilts=[5, 6, 7]).tilts, [5, 6, 7])


def test_eds_tilt_series_keeps_tilts(small_sim, tmp_path):
    p = spectomo.save(small_sim.eds, tmp_path / "eds.hspy")
    eds = spectomo.load(p)
    np.testing.assert_allclose(eds.metadata.Tomography.tilts, small_sim.tilts)
    assert eds.metadata.Signal.signal_type == "EDS_TEM"


def test_save_is_atomic(tmp_path):
    target = tmp_path / "out.hspy"
    spectomo.save(spectomo.TomoStack(np.ones((2, 3, 3)), [0, 1]), target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("crash while writing")
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.hspy"]  # no temporary left behind
    with pytest.raises(FileExistsError):
        spectomo.save(spectomo.TomoStack(np.ones((2, 3, 3)), [0, 1]), target, overwrite=False)


def test_list_of_images_becomes_a_stack(tmp_path, rng):
    import hyperspy.api as hs

    images = rng.random((3, 6, 7)).astype(np.float32)
    paths = []
    for k, img in enumerate(images):
        paths.append(tmp_path / f"proj_{k}.hspy")
        hs.signals.Signal2D(img).save(paths[-1])
    s = spectomo.load(paths, tilts=[-20, 0, 20])
    assert isinstance(s, spectomo.TomoStack)
    np.testing.assert_array_equal(s.data, images)
    np.testing.assert_allclose(s.tilts, [-20, 0, 20])
