"""The OpenCL operator layer: every kernel against its NumPy twin, and dot-product (adjointness) tests."""

import numpy as np
import pytest

from spectomo.opencl import twins as ref
from spectomo.opencl.layout import BatchGeometry, from_batch, sinograms_from_batch, sinograms_to_batch, to_batch
from spectomo.opencl.operators import Operators, auto_chunk, radon_norm

pytestmark = pytest.mark.opencl

# (tilts, ny, nz, n_slices, n_channels): odd and even sizes, full, limited and non-uniform angles
GEOMETRIES = {
    "odd-full": (np.arange(-90.0, 90.0, 5.0), 17, 17, 3, 2),
    "even-limited": (np.arange(-60.0, 61.0, 4.0), 16, 16, 5, 1),
    "nonuniform-rect": (np.array([-71.0, -52.5, -30.0, -2.0, 0.0, 3.3, 44.0, 45.0, 88.0]), 14, 19, 2, 3),
    "shuffled-odd": (np.array([30.0, -10.0, 70.0, -70.0, 0.0, 50.0, -45.0]), 21, 13, 1, 1),
}


def _random(rng, shape, geom, dtype=np.float32):
    x = rng.standard_normal(shape).astype(dtype)
    x[..., geom.nx * geom.nc:] = 0  # padding entries are zero by construction
    return x


def _dot(a, b, weights=None):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).reshape(-1, *([1] * (a.ndim - 1)))
        return float((w * a * b).sum()), float(np.sqrt((w * a * a).sum()))
    return float((a * b).sum()), float(np.linalg.norm(a))


@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_projector_matches_numpy_and_is_exact_adjoint(cl_runtime, rng, name, dtype):
    if dtype == np.float64 and not cl_runtime.has_double:
        pytest.skip("device has no float64")
    tilts, ny, nz, nx, nc = GEOMETRIES[name]
    g = BatchGeometry(tilts, ny, nz, nx, nc)
    ops = Operators(g, dtype=dtype)
    x, y = _random(rng, g.vol_shape, g, dtype), _random(rng, g.sino_shape, g, dtype)
    ax, aty = ops.apply("radon", x), ops.apply("radon_adj", y)
    tol = 2e-6 if dtype == np.float32 else 1e-12
    assert np.abs(ax - ref.radon(x, tilts)).max() <= tol * np.abs(ax).max()
    assert np.abs(aty - ref.radon_adj(y, tilts, ny, nz)).max() <= tol * np.abs(aty).max()
    lhs, n_ax = _dot(ax, y)
    rhs, _ = _dot(x, aty)
    assert abs(lhs - rhs) / (n_ax * np.linalg.norm(y)) <= (1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("chunk", [1, 3, 70, 128])
def test_projector_is_the_same_for_every_work_item_chunk(cl_runtime, rng, chunk):
    tilts, ny, nz, nx, nc = np.arange(-70.0, 71.0, 10.0), 12, 11, 70, 2  # batch 140
    g = BatchGeometry(tilts, ny, nz, nx, nc, chunk=chunk)
    assert g.bp % chunk == 0 and g.bp >= nx * nc
    ops = Operators(g)
    x, y = _random(rng, g.vol_shape, g), _random(rng, g.sino_shape, g)
    ax, aty = ops.apply("radon", x), ops.apply("radon_adj", y)
    assert np.abs(ax - ref.radon(x, tilts)).max() <= 2e-6 * np.abs(ax).max()
    assert np.abs(aty - ref.radon_adj(y, tilts, ny, nz)).max() <= 2e-6 * np.abs(aty).max()


def test_auto_chunk_is_large_on_cpus_and_a_multiple_of_the_channels(cl_runtime):
    import pyopencl as cl

    if not cl_runtime.device.type & cl.device_type.CPU:
        assert auto_chunk(256, multiple=3) == 3
        return
    assert auto_chunk(256) == 128 and auto_chunk(40) == 40 and auto_chunk(1) == 1
    assert auto_chunk(140, multiple=2) == 72  # whole 8-entry vectors for 4 more entries
    assert auto_chunk(136, multiple=4) == 72 and auto_chunk(260, multiple=4) == 96  # 8- and 16-entry vectors
    c = auto_chunk(300, multiple=3)
    assert c % 3 == 0 and c <= 128 and -(-300 // c) * c - 300 < c


@pytest.mark.parametrize("name", ["odd-full", "nonuniform-rect"])
@pytest.mark.parametrize("dims", [3, 2])
def test_gradients_match_numpy_and_are_exact_adjoints(cl_runtime, rng, name, dims):
    tilts, ny, nz, nx, nc = GEOMETRIES[name]
    g = BatchGeometry(tilts, ny, nz, nx, nc)
    ops = Operators(g, dims=dims)
    u = _random(rng, g.vol_shape, g)
    p = _random(rng, (3, *g.vol_shape), g)
    q = _random(rng, (6, *g.vol_shape), g)
    gu, gtp = ops.apply("grad", u), ops.apply("grad_adj", p)
    ew, etq = ops.apply("symgrad", p), ops.apply("symgrad_adj", q)
    for dev, host in ((gu, ref.grad(u, nx, nc, dims)), (gtp, ref.grad_adj(p, nx, nc, dims)),
                      (ew, ref.symgrad(p, nx, nc, dims)), (etq, ref.symgrad_adj(q, nx, nc, dims))):
        assert np.abs(dev - host).max() <= 1e-5 * max(1.0, np.abs(host).max())
    lhs, n_gu = _dot(gu, p)
    rhs, _ = _dot(u, gtp)
    assert abs(lhs - rhs) / (n_gu * np.linalg.norm(p)) <= 1e-5
    # symmetrised gradient: adjoint in the inner product with off-diagonals counted twice
    lhs, n_ew = _dot(ew, q, ref.SYM_WEIGHTS)
    rhs, _ = _dot(p, etq)
    _, n_q = _dot(q, q, ref.SYM_WEIGHTS)
    assert abs(lhs - rhs) / (n_ew * n_q) <= 1e-5
    if dims == 2:  # slice-wise: nothing along the tilt axis
        assert np.all(gu[2] == 0) and np.all(ew[2] == 0)


def test_gradient_of_a_ramp_and_neumann_boundary(cl_runtime):
    g = BatchGeometry([0.0, 90.0], 6, 5, 4, 2)
    ops = Operators(g)
    yy, zz, xx = np.meshgrid(np.arange(6.0), np.arange(5.0), np.arange(4.0), indexing="ij")
    vol = [np.transpose(2 * yy + 3 * zz - xx, (2, 0, 1)), np.transpose(yy, (2, 0, 1))]  # (nx, ny, nz)
    gu = ops.apply("grad", to_batch(vol, g))
    comps = [from_batch(c, g) for c in gu]
    assert np.allclose(comps[0][0][:, :-1], 2) and np.allclose(comps[0][0][:, -1], 0)  # y, last row 0
    assert np.allclose(comps[1][0][:, :, :-1], 3) and np.allclose(comps[1][0][:, :, -1], 0)  # z
    assert np.allclose(comps[2][0][:-1], -1) and np.allclose(comps[2][0][-1], 0)  # x along the batch
    assert np.allclose(comps[1][1], 0) and np.allclose(comps[2][1], 0)  # channel 1 varies in y only


def test_batch_layout_round_trips_and_matches_astra_orientation(cl_runtime, rng):
    from spectomo.geometry import forward_project

    tilts = np.arange(-60.0, 61.0, 15.0)
    nx, ny = 3, 20
    vols = [np.zeros((nx, ny, ny), np.float32) for _ in range(2)]
    vols[0][:, 4:8, 13:17] = 1.0  # off-centre blocks, to catch flips
    vols[1][:, 12:15, 3:6] = 2.0
    g = BatchGeometry(tilts, ny, ny, nx, 2)
    for a, b in zip(from_batch(to_batch(vols, g), g), vols):
        assert np.array_equal(a, b)
    sino = sinograms_from_batch(Operators(g).apply("radon", to_batch(vols, g)), g)
    astra = forward_project(vols, tilts, projector="linear")
    for mine, theirs in zip(sino, astra):
        assert mine.shape == theirs.shape == (len(tilts), ny, nx)
        # different interpolation models: equal mass, and close profiles
        assert np.allclose(mine.sum(axis=1), theirs.sum(axis=1), rtol=0.02)
        assert np.abs(mine - theirs).max() < 0.25 * theirs.max()
    stacks = [rng.random((len(tilts), ny, nx)).astype(np.float32) for _ in range(2)]
    back = sinograms_from_batch(sinograms_to_batch(stacks, g), g)
    assert all(np.array_equal(a, b) for a, b in zip(back, stacks))


def test_radon_norm_by_power_iteration_is_cached_and_bounds_the_svd(cl_runtime):
    import scipy.sparse.linalg as sla

    tilts, ny, nz, nx, nc = GEOMETRIES["nonuniform-rect"]
    g = BatchGeometry(tilts, ny, nz, nx, nc)
    est = radon_norm(g)
    exact = sla.svds(ref.radon_matrix(tilts, ny, nz), k=1, return_singular_vectors=False)[0]
    assert exact <= est <= 1.05 * exact
    assert radon_norm(BatchGeometry(tilts, ny, nz, 7, 1)) == est  # same angles and slice: cached


def test_full_operator_norm_is_below_the_papers_bound(cl_runtime, rng):
    """‖K‖² ≤ 17 for K(u, w) = (∇u − w, Ew, T u/‖T‖), the bound behind σ = τ = 1/√17."""
    tilts, ny, nz, nx, nc = GEOMETRIES["odd-full"]
    g = BatchGeometry(tilts, ny, nz, nx, nc)
    ops = Operators(g)
    s = 1.0 / radon_norm(g)
    u, w = _random(rng, g.vol_shape, g), _random(rng, (3, *g.vol_shape), g)
    lam = 0.0  # largest eigenvalue of K*K by power iteration
    for _ in range(40):
        nrm = np.sqrt((u.astype(float) ** 2).sum() + (w.astype(float) ** 2).sum())
        u, w = (u / nrm).astype(np.float32), (w / nrm).astype(np.float32)
        p = ops.apply("grad", u) - w
        r = ops.apply("radon", u, scale=s)
        u2 = ops.apply("grad_adj", p) + ops.apply("radon_adj", r, scale=s)
        w2 = -p + ops.apply("symgrad_adj", ops.apply("symgrad", w))
        lam = np.sqrt((u2.astype(float) ** 2).sum() + (w2.astype(float) ** 2).sum())
        u, w = u2, w2
    assert 1.0 < lam < 17.0


def test_copy_kernel_matches_numpy(cl_runtime, rng):
    ops = Operators(BatchGeometry([0.0], 4, 4, 1, 1))
    x = rng.random(37).astype(np.float32)
    src, dst = ops.buffer(x), ops.buffer(size=40)
    ops.kernel("utils.cl", "copy")((37,), y=dst, x=src)
    out = ops.read(dst, (40,))
    assert np.array_equal(out[:37], x) and not out[37:].any()


def test_kernel_arguments_are_bound_by_name(cl_runtime):
    g = BatchGeometry(np.linspace(-60, 60, 5), 8, 8, 2, 1)
    ops = Operators(g)
    k = ops.kernel("projector.cl", "radon_fwd")
    assert ops.kernel("projector.cl", "radon_fwd") is k  # one per (file, name) and geometry
    assert k.arg_names == ["sino", "vol", "ang", "scale", "ny", "nz", "nx", "bp", "ndet", "nang"]
    with pytest.raises(TypeError, match=r"arguments not bound: \['sino', 'vol', 'scale'\]"):
        k(ops.sino_chunks)  # the geometry's own arguments are bound already
    with pytest.raises(TypeError, match="no argument named 'volume'"):
        k.bind(volume=ops.buffer(size=1))
    with pytest.raises(TypeError, match="'vol' is a buffer"):
        k.bind(vol=3.0)
    x = np.random.default_rng(0).random(g.vol_shape).astype(np.float32)
    out = ops.buffer(size=ops.n_sino)
    k(ops.sino_chunks, sino=out, vol=ops.buffer(x), scale=2.0)
    assert np.allclose(ops.read(out, g.sino_shape), 2 * ref.radon(x, g.tilts), rtol=1e-5, atol=1e-5)


def test_device_memory_is_checked_before_allocation(cl_runtime, rng, monkeypatch):
    import spectomo
    from spectomo.opencl import DeviceMemoryError, operators
    from spectomo.opencl.runtime import memory_limits

    total, _ = memory_limits(cl_runtime.device)
    assert total >= cl_runtime.device.global_mem_size
    monkeypatch.setattr(operators, "memory_limits", lambda device: (10_000_000, 8_000_000))
    tilts = np.linspace(-60, 60, 7)
    maps = {"A": spectomo.TomoStack(rng.random((7, 64, 64)).astype(np.float32), tilts=tilts)}
    with pytest.raises(DeviceMemoryError, match=r"TGV-KL .* needs about \d+\.\d+ MB .* which has 10\.00 MB.*bin"):
        spectomo.reconstruct_tgv(None, maps, iterations=1, progress=False)
    monkeypatch.setattr(operators, "memory_limits", lambda device: (100_000_000, 8_000_000))
    ops = Operators(BatchGeometry(tilts, 64, 64, 64, 1, chunk=64))
    with pytest.raises(DeviceMemoryError, match=r"array 'big' needs 16\.78 MB, more than the largest buffer"):
        ops.allocate({"big": 4 * 2**20, "small": 10}, what="a test")
    assert set(ops.allocate({"x": 10, "y": np.ones(3)}, what="a test")) == {"x", "y"}


def test_bin_kernels_give_the_same_sinogram_for_every_work_group_size(cl_runtime, monkeypatch):
    """The autotuned work-group size pads the angles (37, prime, to a multiple of the group); the
    padding is skipped and the result is the same for every size, and the choice is cached."""
    from spectomo.opencl import autotune

    tilts = np.linspace(-72, 72, 37)
    g = BatchGeometry(tilts, 12, 12, 5, 2, chunk=10)
    ops = Operators(g)
    x = np.random.default_rng(1).random(g.vol_shape).astype(np.float32)
    expected = ref.radon(x, tilts)
    vol = ops.buffer(x)
    k = ops.kernel("projector.cl", "radon_fwd").bind(vol=vol, scale=1.0)
    for group in (None, *autotune.CANDIDATES):
        out = ops.buffer(np.full(g.sino_shape, -1.0, dtype=np.float32))  # padding rows must stay untouched
        k(ops.sino_chunks_for(group), None if group is None else (1, 1, group), sino=out)
        assert np.allclose(ops.read(out, g.sino_shape), expected, rtol=1e-5, atol=1e-5), group
    autotune.clear_cache()
    chosen = autotune.sino_group(ops)
    assert chosen is None or chosen in autotune.CANDIDATES
    assert autotune.sino_group(ops) == chosen and len(autotune._CACHE) == 1
    monkeypatch.setenv("SPECTOMO_AUTOTUNE", "0")
    assert autotune.sino_group(Operators(g)) is None
