"""Bad inputs give an error (or a warning) that names the argument and the problem, never a silently
wrong result; documented inputs work. One parametrized case per class of problem, by input kind.

Checkpoint cases (unwritable path, truncated, foreign, ahead of the requested iterations, every
`*_every` option) are in tests/test_driver.py; TGV–KL option cases in tests/test_tgv.py.
"""

import warnings

import dask.array as da
import numpy as np
import pytest

import spectomo
from spectomo import InputWarning, TomoStack
from spectomo.evaluation import poisson_maps
from spectomo.recon import ResponseFitError
from spectomo.spectral import SpectralInputError

RADIANS = np.linspace(-1.2, 1.2, 13)
DEGREES = np.linspace(-60, 60, 13)


def _stack(tilts=DEGREES, data=None, seed=0):
    data = np.random.default_rng(seed).random((len(tilts), 16, 16)).astype(np.float32) if data is None else data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        return TomoStack(data, tilts=tilts)


def _lazy_with_nan():
    data = np.random.default_rng(1).random((13, 16, 16)).astype(np.float32)
    data[4, 2, 3] = np.nan
    return spectomo.LazyTomoStack(da.from_array(data, chunks=(4, 16, 16)), tilts=DEGREES)


@pytest.fixture(scope="module")
def sim():
    return spectomo.datasets.simulate("core_shell", size=16, tilt_step=10.0, energy_channels=256,
                                      energy_scale=0.08, seed=0, progress=False)


@pytest.fixture(scope="module")
def maps(sim):
    return {ln: sim.net_counts[ln] for ln in sim.lines}


@pytest.fixture(scope="module")
def volumes(maps):
    return {ln: m.reconstruct("SIRT", iterations=10, progress=False) for ln, m in maps.items()}


# (kind, case, call(sim, maps, volumes, tmp_path), exception, message pattern)
ERRORS = [
    ("tilts", "radians, SIRT", lambda *a: _stack(RADIANS).reconstruct("SIRT", iterations=2, progress=False),
     ValueError, r"stack\.tilts: .*look like radians"),
    ("tilts", "radians, tilt_align", lambda *a: _stack(RADIANS).tilt_align(), ValueError, r"stack\.tilts: .*radians"),
    ("tilts", "radians, TGV-KL", lambda *a: spectomo.reconstruct_tgv(None, {"A": _stack(RADIANS)}, iterations=1),
     ValueError, r"maps\['A'\]\.tilts: .*radians"),
    ("tilts", "all equal, SIRT", lambda *a: _stack(np.zeros(13)).reconstruct("SIRT", progress=False),
     ValueError, r"stack\.tilts: all 13 tilt angles are 0°"),
    ("tilts", "all equal, stack_register", lambda *a: _stack(np.full(13, 5.0)).stack_register(),
     ValueError, r"stack\.tilts: all 13 .* 5°"),
    ("tilts", "NaN", lambda *a: TomoStack(np.zeros((3, 4, 4)), tilts=[0, np.nan, 10]), ValueError, r"tilts: .*NaN"),
    ("tilts", "two-dimensional", lambda *a: TomoStack(np.zeros((4, 4, 4)), tilts=np.zeros((2, 2))),
     ValueError, r"tilts: .*one-dimensional"),
    ("tilts", "not numbers", lambda *a: TomoStack(np.zeros((3, 4, 4)), tilts=["a", "b", "c"]), TypeError, r"tilts"),
    ("tilts", "wrong count", lambda *a: TomoStack(np.zeros((3, 4, 4)), tilts=[0, 10]), spectomo.TiltMismatchError,
     r"tilts: 2 entries for a stack of 3"),
    ("image stack", "no projections", lambda *a: TomoStack(np.zeros((0, 8, 8)), tilts=[]), ValueError,
     r"data: a TomoStack cannot be empty"),
    ("image stack", "1-D data", lambda *a: TomoStack(np.zeros(10)), ValueError, r"data: a TomoStack holds"),
    ("image stack", "lazy NaN, SIRT", lambda *a: _lazy_with_nan().reconstruct("SIRT", progress=False),
     ValueError, r"stack: NaN or inf at projection 4, pixel \(y=2, x=3\)"),
    ("image stack", "lazy NaN, TGV-KL", lambda *a: spectomo.reconstruct_tgv(None, {"A": _lazy_with_nan()}),
     ValueError, r"maps\['A'\]: NaN or inf at projection 4"),
    ("image stack", "constant projections, registration",
     lambda *a: _stack(data=np.zeros((13, 16, 16), np.float32)).stack_register(), ValueError,
     r"stack: projection\(s\) \[0, 1, .*constant"),
    ("image stack", "a 2-D array for align_other", lambda *a: _stack().align_other(np.zeros((13, 16, 16))),
     TypeError, r"other: expected a TomoStack"),
    ("image stack", "empty dict for align_other", lambda *a: _stack().align_other({}), ValueError, r"other: an empty"),
    ("reconstruction option", "FBP filter name", lambda *a: _stack().reconstruct("FBP", filter_type="hanning2"),
     ValueError, r"filter_type: expected one of .*'hanning2'"),
    ("reconstruction option", "iterations=None", lambda *a: _stack().reconstruct("SIRT", iterations=None),
     TypeError, r"iterations: expected a whole number"),
    ("reconstruction option", "thickness=0", lambda *a: _stack().reconstruct("FBP", thickness=0),
     ValueError, r"thickness: must be ≥ 1"),
    ("reconstruction option", "tol for FBP", lambda *a: _stack().reconstruct("FBP", tol=1e-3),
     ValueError, r"tol: only for the iterative methods"),
    ("reconstruction option", "HEBT alpha out of range", lambda s, m, *a: spectomo.reconstruct_hebt(s.haadf, m, alpha=4),
     ValueError, r"alpha: expected 0 ≤ α < 1"),
    ("reconstruction option", "HEBT maps first", lambda s, m, *a: spectomo.reconstruct_hebt(m, s.haadf),
     TypeError, r"haadf: expected a TomoStack .* got a dict"),
    ("spectra", "lines=[] (windows)", lambda s, *a: spectomo.extract_maps(s.eds, [], progress=False),
     SpectralInputError, r"lines: an empty list"),
    ("spectra", "lines=[] (NMF)", lambda s, *a: spectomo.extract_maps(s.eds, [], method="nmf", progress=False),
     SpectralInputError, r"lines: an empty list"),
    ("spectra", "line above the beam energy", lambda s, *a: spectomo.extract_maps(_beam(s.eds, 8.0), ["Au_La"],
                                                                                  progress=False),
     SpectralInputError, r"lines: Au_La cannot be excited: its ionisation edge \(11\.9\d keV\) is above the beam "
                         r"energy \(8 keV"),
    ("spectra", "beam energy in eV in the metadata", lambda s, *a: spectomo.extract_maps(_beam(s.eds, 2e5),
                                                                                         progress=False),
     ValueError, r"beam_energy: 200000 keV .* looks like eV"),
    ("spectra", "counts beyond float32", lambda s, *a: spectomo.extract_maps(_huge(s.eds), ["Ag_La"], progress=False),
     SpectralInputError, r"spectra: values up to 1e\+40 overflow float32"),
    ("volumes", "projections given as volumes", lambda s, m, v, t: spectomo.quantify(m, progress=False),
     TypeError, r"volumes\['Ag_La'\]: a TomoStack of projections .* reconstruct it first"),
    ("volumes", "mask that selects nothing", lambda s, m, v, t: spectomo.quantify(
        v, mask=np.zeros(v["Ag_La"].data.shape, bool), progress=False), ValueError, r"mask: selects no voxel"),
    ("physical parameter", "beam energy in eV", lambda s, m, v, t: spectomo.quantify(v, beam_energy=200_000,
                                                                                     progress=False),
     ValueError, r"beam_energy: 200000 keV .* looks like eV \(200 keV\?\)"),
    ("physical parameter", "beam energy in MeV", lambda s, m, v, t: spectomo.quantify(v, beam_energy=0.2,
                                                                                      progress=False),
     ValueError, r"beam_energy: 0\.2 keV is below 1 keV — is it in MeV"),
    ("physical parameter", "simulator beam energy in eV",
     lambda *a: spectomo.datasets.simulate("core_shell", size=8, beam_energy=2e5, progress=False),
     ValueError, r"beam_energy: .*eV"),
    ("physical parameter", "two lines of one element in HEBT", lambda s, m, *a: spectomo.reconstruct_hebt(
        s.haadf, {"Ag_La": m["Ag_La"], "Ag_Lb1": m["Ag_La"]}), ValueError, r"maps: 'Ag_La' and 'Ag_Lb1' are both Ag"),
    ("path", "missing file", lambda *a: spectomo.load("no_such_file.hspy"), FileNotFoundError,
     r"path: no such file 'no_such_file\.hspy'"),
    ("path", "a folder", lambda s, m, v, t: spectomo.load(t), IsADirectoryError, r"path: .* is a folder"),
    ("path", "not HDF5", lambda s, m, v, t: spectomo.load(_write(t / "notes.hspy", b"hello")), OSError,
     r"path: '.*notes\.hspy' could not be read"),
    ("path", "truncated .hspy", lambda s, m, v, t: spectomo.load(_truncated(t)), OSError,
     r"path: '.*cut\.hspy' could not be read"),
    ("path", "images of different shapes", lambda s, m, v, t: spectomo.load(_two_images(t), tilts=[0, 10]),
     ValueError, r"path: the images differ in shape .*'a\.tif': \(8, 8\), 'b\.tif': \(8, 9\)"),
    ("path", "empty list", lambda *a: spectomo.load([]), ValueError, r"path: an empty list"),
]


def _beam(eds, kev):
    out = eds.deepcopy()
    out.metadata.Acquisition_instrument.TEM.beam_energy = kev
    return out


def _huge(eds):
    out = eds.deepcopy()
    out.data = out.data.astype(np.float64)
    out.data[0, 0, 0, int(out.axes_manager.signal_axes[0].value2index(2.98))] = 1e40  # in the Ag Lα window
    return out


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


def _truncated(tmp):
    whole = spectomo.save(_stack(), tmp / "whole.hspy")
    return _write(tmp / "cut.hspy", whole.read_bytes()[:2000])


def _two_images(tmp):
    import imageio.v3 as iio

    iio.imwrite(tmp / "a.tif", np.zeros((8, 8), np.float32))
    iio.imwrite(tmp / "b.tif", np.zeros((8, 9), np.float32))
    return [tmp / "a.tif", tmp / "b.tif"]


@pytest.mark.parametrize("kind, case, call, error, match", ERRORS, ids=[f"{k}: {c}" for k, c, *_ in ERRORS])
def test_bad_input_raises_a_named_error(kind, case, call, error, match, sim, maps, volumes, tmp_path):
    needs_opencl = "TGV-KL" in case
    if needs_opencl:
        pytest.importorskip("pyopencl")
    with pytest.raises(error, match=match), warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        call(sim, maps, volumes, tmp_path)


WARNINGS = [
    ("tilts", "radians, TomoStack", lambda *a: TomoStack(np.zeros((13, 4, 4)), tilts=RADIANS),
     r"tilts: the angles span only -1\.2…1\.2; .* look like radians \(-68\.8…68\.8°"),
    ("tilts", "radians, .rawtlt", lambda s, m, v, t: spectomo.load(_mrc_with_rawtlt(t, RADIANS)), r"radians"),
    ("tilts", "repeated angle", lambda *a: TomoStack(np.zeros((4, 4, 4)), tilts=[-20, 0, 20, 0]),
     r"tilts: repeated tilt angles \[0\.0\]°"),
    ("physical parameter", "HAADF mostly negative", lambda s, m, *a: spectomo.reconstruct_hebt(
        _offset(s.haadf, 0.3), m, ratios={"Ag": 40.0, "Au": 110.0}, alpha=0.8, iterations=2, progress=False),
     r"haadf: \d+ % of the pixels are negative; .* detector offset"),
    ("physical parameter", "maps mostly negative", lambda s, m, *a: spectomo.reconstruct_hebt(
        s.haadf, {k: _offset(x, 0.6) for k, x in m.items()}, ratios={"Ag": 40.0, "Au": 110.0}, alpha=0.8, iterations=2,
        progress=False), r"maps\['Ag_La'\]: \d+ % of the pixels are negative; .* over-subtracted background"),
    ("physical parameter", "HAADF and maps misaligned by 1 px", lambda s, m, *a: spectomo.fit_response_ratios(
        s.haadf, {k: TomoStack(np.roll(x.data, 1, axis=2), tilts=x.tilts) for k, x in poisson_maps(m, seed=1).items()}),
     r"haadf: the maps explain the HAADF with R² = 0\.\d+ only .* not aligned"),
]


def _offset(stack, fraction):
    out = stack.deepcopy()
    out.data = (out.data - fraction * out.data.max()).astype(np.float32)
    return out


def _mrc_with_rawtlt(tmp, tilts):
    import mrcfile

    path = tmp / "series.mrc"
    with mrcfile.new(path, overwrite=True) as f:
        f.set_data(np.zeros((len(tilts), 8, 8), np.float32))
    (tmp / "series.rawtlt").write_text("\n".join(f"{t:.4f}" for t in tilts))
    return path


@pytest.mark.parametrize("kind, case, call, match", WARNINGS, ids=[f"{k}: {c}" for k, c, *_ in WARNINGS])
def test_implausible_input_warns_with_the_value(kind, case, call, match, sim, maps, volumes, tmp_path):
    if "HEBT" in case or "mostly negative" in case:
        pytest.importorskip("pyopencl")
    with pytest.warns(InputWarning, match=match):
        try:
            call(sim, maps, volumes, tmp_path)
        except spectomo.OpenCLUnavailableError as err:
            pytest.skip(str(err))


def test_documented_inputs_work(sim, maps):
    stack = sim.haadf
    lazy = stack.as_lazy()
    reg = lazy.stack_register(progress=False)  # lazy stacks have every TomoStack method
    assert isinstance(reg, TomoStack) and not reg._lazy
    assert isinstance(lazy.tilt_align(), TomoStack) and isinstance(lazy.trans_stack(xshift=1.0), TomoStack)
    assert lazy.reconstruct("FBP", progress=False).data.shape == (16, 16, 16)
    assert len(lazy.recon_error(5, iterations=2)) == 2
    aligned = reg.align_other({"Ag_La": maps["Ag_La"].as_lazy()})  # a plain dict of (lazy) stacks
    assert type(aligned) is dict and isinstance(aligned["Ag_La"], TomoStack)
    sino = stack.isig[5]  # the sinogram of slice x = 5, tilts kept
    assert sino.data.shape == (stack.data.shape[0], stack.data.shape[1])
    np.testing.assert_array_equal(sino.data, stack.data[:, :, 5])
    assert stack.isig[5, :].data.shape == sino.data.shape
    np.testing.assert_allclose(np.asarray(sino.metadata.Tomography.tilts), stack.tilts)
    part = stack.isig[2:9, 3:12]
    assert isinstance(part, TomoStack) and part.data.shape == (len(stack.tilts), 9, 7)
    np.testing.assert_allclose(part.tilts, stack.tilts)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        rec = stack.reconstruct("SIRT", iterations=2, progress=False)  # a plausible series: no warning
    assert rec.data.shape == (16, 16, 16)
