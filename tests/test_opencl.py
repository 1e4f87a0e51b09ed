"""OpenCL runtime and the utility kernels, checked against their NumPy twins on a real device."""

import subprocess
import sys

import numpy as np
import pytest

from spectomo.opencl import twins as reference
from spectomo.opencl.runtime import OpenCLBuildError, OpenCLUnavailableError, get_runtime, kernel_dir

DTYPES = [np.float32, np.float64]


def _run(rt, name, dtype, *arrays, scalars=()):
    import pyopencl.array as cla

    k = rt.kernel("utils.cl", name, rt.build_options(dtype))
    bufs = [cla.to_device(rt.queue, a) for a in arrays]
    n = arrays[0].size
    k(rt.queue, (n,), None, *[b.data for b in bufs], *[dtype(s) for s in scalars], np.uint64(n))
    return bufs[0].get()


@pytest.mark.opencl
@pytest.mark.parametrize("dtype", DTYPES)
def test_axpby_matches_numpy(cl_runtime, rng, dtype):
    if dtype == np.float64 and not cl_runtime.has_double:
        pytest.skip("device has no float64")
    x, y = rng.standard_normal(1003).astype(dtype), rng.standard_normal(1003).astype(dtype)
    out = _run(cl_runtime, "axpby", dtype, np.zeros_like(x), x, y, scalars=(1.7, -0.3))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(out, reference.axpby(x, y, 1.7, -0.3), rtol=tol, atol=tol)


@pytest.mark.opencl
@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_min_matches_numpy(cl_runtime, rng, dtype):
    if dtype == np.float64 and not cl_runtime.has_double:
        pytest.skip("device has no float64")
    x = rng.standard_normal(777).astype(dtype)
    np.testing.assert_array_equal(_run(cl_runtime, "clip_min", dtype, x.copy(), scalars=(0.0,)),
                                  reference.clip_min(x, 0.0))


@pytest.mark.opencl
def test_programs_and_kernels_are_cached(cl_runtime):
    opts = cl_runtime.build_options(np.float32)
    assert cl_runtime.program("utils.cl", opts) is cl_runtime.program("utils.cl", opts)
    assert cl_runtime.kernel("utils.cl", "axpby", opts) is cl_runtime.kernel("utils.cl", "axpby", opts)
    assert get_runtime() is cl_runtime


@pytest.mark.opencl
def test_build_error_carries_the_compiler_log(cl_runtime, tmp_path):
    bad = tmp_path / "bad.cl"
    bad.write_text('#include "common.cl"\n__kernel void f(__global real *x) { x[0] = not_declared; }\n')
    with pytest.raises(OpenCLBuildError) as info:
        cl_runtime.program(bad, cl_runtime.build_options(np.float32))
    assert "not_declared" in info.value.log


def test_opencl_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("SPECTOMO_NO_OPENCL", "1")
    with pytest.raises(OpenCLUnavailableError, match="SPECTOMO_NO_OPENCL"):
        get_runtime()


@pytest.mark.opencl
def test_unknown_device_is_named(cl_runtime):
    with pytest.raises(OpenCLUnavailableError, match="no OpenCL device name contains"):
        get_runtime("no-such-accelerator")


def test_import_never_needs_opencl():
    code = "import spectomo, spectomo.datasets, spectomo.opencl.runtime; print('ok')"
    env = {"SPECTOMO_NO_OPENCL": "1", "OCL_ICD_VENDORS": "/nonexistent", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_kernel_sources_are_found():
    names = {p.name for p in kernel_dir().glob("*.cl")}
    assert {"common.cl", "utils.cl"} <= names


def test_profile_report_lists_kernels():
    import os
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from spectomo.opencl import BatchGeometry, Operators, profile_report\n"
            "g = BatchGeometry(np.linspace(-60, 60, 7), 8, 8, 2, 1)\n"
            "o = Operators(g)\n"
            "v, s = o.buffer(np.ones(g.vol_shape, np.float32)), o.buffer(size=o.n_sino)\n"
            "o.radon(s, v); o.radon_adj(v, s)\n"
            "r = profile_report()\n"
            "print(sorted(r), all(c == 1 and t >= 0 for c, t in r.values()))\n")
    env = dict(os.environ, SPECTOMO_PROFILE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "['radon_adj', 'radon_fwd'] True" in out.stdout
    from spectomo.opencl import profile_report

    if os.environ.get("SPECTOMO_PROFILE", "") in ("", "0"):
        assert profile_report() == {}
