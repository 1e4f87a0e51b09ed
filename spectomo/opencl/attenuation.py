"""Attenuation factors: the mean fraction of a voxel's X-rays that reach the detectors at one tilt.

For linear attenuation ``μ_l(r)`` (1/voxel, i.e. μ in 1/cm times the voxel length in cm) and
detector directions ``d_j`` with weights ``w_j`` (solid-angle share × visible fraction),

    A_l(r) = Σ_j w_j exp(−τ_{l,j}(r)) sinh(q)/q,   τ_{l,j}(r) = ∫_0^∞ μ_l(r + s d_j) ds,  q = h μ_l(r)/2,

where ``τ`` is taken from the voxel centre and ``sinh(q)/q`` averages the transmission over the
voxel's own path segment ``h = 1/max|d|`` (exact for a slab). ``τ`` is computed by shear-warp
(``kernels/attenuation.cl``): one sheared column per ray, trapezoid sums over the planes of the
direction's main axis, bilinear sampling in each plane, then bilinear sampling of the sheared
integrals at each voxel. Cost: O(voxels) per direction and channel. Written here because neither
ASTRA (no cumulative, voxel-resolved line integrals) nor scikit-image/scipy (no oblique 3D
cumulative sums) provides it.

:func:`attenuation_factors` runs the OpenCL kernels, or their NumPy twins
(:func:`spectomo.opencl.twins.attenuation_factors`) when OpenCL is unavailable or ``engine='numpy'``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .runtime import OpenCLUnavailableError, get_runtime

__all__ = ["ShearPlan", "shear_plan", "attenuation_factors"]


@dataclass(frozen=True)
class ShearPlan:
    """How one direction is swept over a volume of shape ``(n0, n1, n2)`` (see ``kernels/attenuation.cl``)."""

    a: int          # main axis
    b: int          # first lateral axis
    c: int          # second lateral axis
    sig: int        # +1: the detector lies towards larger k along a
    sb: float       # d_b / d_a
    sc: float       # d_c / d_a
    h: float        # path length per plane, voxels
    u0: int         # first sheared column along b
    v0: int         # first sheared column along c
    nu: int
    nv: int


def shear_plan(shape, direction) -> ShearPlan:
    """The :class:`ShearPlan` of unit vector ``direction`` (volume axes) over a volume ``shape``."""
    d = np.asarray(direction, dtype=float).reshape(3)
    norm = float(np.linalg.norm(d))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError(f"direction: a non-zero finite 3-vector expected, got {direction!r}")
    d = d / norm
    a = int(np.argmax(np.abs(d)))
    b, c = [i for i in range(3) if i != a]
    sb, sc = d[b] / d[a], d[c] / d[a]
    na, nb, nc = shape[a], shape[b], shape[c]

    def span(s, n):
        lo = min(0.0, -s * (na - 1))
        hi = (n - 1) + max(0.0, -s * (na - 1))
        first = int(np.floor(lo))
        return first, int(np.ceil(hi)) - first + 2

    u0, nu = span(sb, nb)
    v0, nv = span(sc, nc)
    return ShearPlan(a=a, b=b, c=c, sig=1 if d[a] > 0 else -1, sb=float(sb), sc=float(sc), h=float(1.0 / abs(d[a])),
                     u0=u0, v0=v0, nu=nu, nv=nv)


def _check(mu, directions, weights):
    mu = np.asarray(mu)
    if mu.ndim != 4 or min(mu.shape) < 1:
        raise ValueError(f"mu: expected (n_channels, nx, ny, nz), got shape {mu.shape}")
    if not np.all(np.isfinite(mu)) or mu.min() < 0:
        raise ValueError("mu: finite, non-negative attenuation (1/voxel) expected")
    dirs = np.asarray(directions, dtype=float).reshape(-1, 3)
    w = np.asarray(weights, dtype=float).reshape(-1)
    if w.size != dirs.shape[0] or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights: one non-negative weight per direction ({dirs.shape[0]}) expected, got {weights!r}")
    return mu, dirs, w


def attenuation_factors(mu, directions, weights, *, engine: str = "auto", device=None) -> np.ndarray:
    """``A_l(r)`` of the module docstring for one tilt.

    Parameters
    ----------
    mu : ndarray (n_channels, nx, ny, nz)
        Linear attenuation per channel (line) in 1/voxel, ≥ 0.
    directions : array_like (n_det, 3)
        Unit vectors towards each detector in volume axes (:meth:`spectomo.geometry.Detector.directions`).
    weights : array_like (n_det,)
        Weight of each detector (e.g. solid-angle share × visible fraction).
    engine : {'auto', 'opencl', 'numpy'}
        ``'auto'``: OpenCL when a device is available, else the NumPy twin.
    device : optional
        OpenCL device (see :func:`spectomo.opencl.get_runtime`).

    Returns
    -------
    ndarray (n_channels, nx, ny, nz), float32
        Weighted mean transmission; ``Σ w`` where ``μ = 0`` everywhere.
    """
    mu, dirs, w = _check(mu, directions, weights)
    if engine not in ("auto", "opencl", "numpy"):
        raise ValueError(f"engine: expected 'auto', 'opencl' or 'numpy', got {engine!r}")
    if engine != "numpy":
        try:
            return _opencl(np.ascontiguousarray(mu, dtype=np.float32), dirs, w, device)
        except OpenCLUnavailableError:
            if engine == "opencl":
                raise
    from .twins import attenuation_factors as twin

    return twin(mu, dirs, w).astype(np.float32)


def _opencl(mu: np.ndarray, dirs: np.ndarray, w: np.ndarray, device) -> np.ndarray:
    rt = get_runtime(device)
    cl = rt.cl
    opts = rt.build_options(np.float32)
    k_path = rt.kernel("attenuation.cl", "path_sheared", opts)
    k_add = rt.kernel("attenuation.cl", "attenuation_add", opts)
    nch, shape = mu.shape[0], mu.shape[1:]
    nvox = int(np.prod(shape))
    strides = (shape[1] * shape[2], shape[2], 1)
    mf = cl.mem_flags
    mu_buf = cl.Buffer(rt.context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=mu)
    out = np.zeros_like(mu)
    a_buf = cl.Buffer(rt.context, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=out)
    plans = [shear_plan(shape, d) for d in dirs]
    g_size = max(nch * shape[p.a] * p.nu * p.nv for p in plans)
    g_buf = cl.Buffer(rt.context, mf.READ_WRITE, size=4 * g_size)
    i32, i64, f32 = np.int32, np.int64, np.float32
    for p, wj in zip(plans, w):
        if wj == 0:
            continue
        na, nb, nc = shape[p.a], shape[p.b], shape[p.c]
        common = (i32(nch), i32(na), i32(nb), i32(nc), i64(strides[p.a]), i64(strides[p.b]), i64(strides[p.c]),
                  i64(nvox))
        k_path(rt.queue, (p.nu, p.nv), None, g_buf, mu_buf, *common, i32(p.sig), f32(p.sb), f32(p.sc), f32(p.h),
               i32(p.u0), i32(p.v0), i32(p.nu), i32(p.nv))
        k_add(rt.queue, (nc, nb, na), None, a_buf, g_buf, mu_buf, *common, f32(p.sb), f32(p.sc), f32(p.h),
              i32(p.u0), i32(p.v0), i32(p.nu), i32(p.nv), f32(wj))
    cl.enqueue_copy(rt.queue, out, a_buf)
    return out
