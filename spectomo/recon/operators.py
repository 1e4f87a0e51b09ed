"""OpenCL operator layer shared by spectomo's iterative solvers.

Layout (``kernels/geometry.cl``): a batch of volumes — every slice ``x`` along the tilt axis of
every channel ``c`` — is one array ``[y][z][b]`` with ``b = x·n_channels + c`` innermost (padded
with zeros to a multiple of the work-item chunk); sinograms are ``[angle][detector][b]``. The
projection weights depend only on (pixel, angle), so one work item serves a contiguous run of the
batch. Vector fields stack their components in front: ``[k][y][z][b]``.

Operators (each with its adjoint, a NumPy twin in :mod:`spectomo.recon.reference`):

* ``radon`` / ``radon_adj`` — parallel-beam projector of Huber et al. (2019), eq. (8);
* ``grad`` / ``grad_adj`` — forward differences, Neumann boundary (adjoint = −divergence);
* ``symgrad`` / ``symgrad_adj`` — symmetrised gradient (6 components, off-diagonals weighted twice).

:func:`radon_norm` estimates ‖T‖ by power iteration, once per geometry.
"""

from __future__ import annotations

import numpy as np

from .opencl import get_runtime

__all__ = ["BatchGeometry", "Operators", "radon_norm", "auto_chunk", "to_batch", "from_batch",
           "sinograms_to_batch"]

#: Most batch entries per work item on CPU devices. A work item keeps its chunk's accumulators in
#: private memory; PoCL overflowed its work-item stack (segmentation fault) at 512.
CPU_MAX_CHUNK = 128


def _angles(tilts) -> np.ndarray:
    """(cos θ, −sin θ) per tilt: the projector's detector-position coefficients."""
    th = np.deg2rad(np.asarray(tilts, dtype=float).reshape(-1))
    return np.stack([np.cos(th), -np.sin(th)], axis=1).ravel()


class BatchGeometry:
    """Sizes of a batched problem: ``n_slices`` × ``n_channels`` volumes ``(ny, nz)`` and
    ``len(tilts)`` projections of ``n_det`` detector pixels.

    Parameters
    ----------
    tilts : array_like (n_tilts,)
        Degrees, any order and spacing.
    ny, nz : int
        Slice size: detector direction at 0° (``y``) and beam direction at 0° (``z``).
    n_slices : int
        Slices along the tilt axis ``x``.
    n_channels : int
        Channels reconstructed together.
    n_det : int, optional
        Detector pixels (default ``ny``).
    chunk : int
        Batch entries per work item (the batch is padded to a multiple of it).
    """

    def __init__(self, tilts, ny: int, nz: int, n_slices: int, n_channels: int = 1, *,
                 n_det: int | None = None, chunk: int = 8):
        self.tilts = np.asarray(tilts, dtype=float).reshape(-1)
        self.ny, self.nz, self.nx, self.nc = int(ny), int(nz), int(n_slices), int(n_channels)
        self.ndet = int(n_det or ny)
        self.chunk = int(chunk)
        b = self.nx * self.nc
        self.bp = -(-b // self.chunk) * self.chunk
        self.angles = _angles(self.tilts)

    @property
    def n_angles(self) -> int:
        return len(self.tilts)

    @property
    def vol_shape(self) -> tuple[int, int, int]:
        return (self.ny, self.nz, self.bp)

    @property
    def sino_shape(self) -> tuple[int, int, int]:
        return (self.n_angles, self.ndet, self.bp)

    @property
    def sizes(self) -> tuple:
        """The ``GEOM_ARGS`` kernel arguments (ny, nz, nx, bp) as int32."""
        return tuple(np.int32(v) for v in (self.ny, self.nz, self.nx, self.bp))


def auto_chunk(n_batch: int, *, device=None, multiple: int = 1) -> int:
    """Batch entries per work item for ``n_batch`` entries on ``device``.

    CPU devices: as large as possible (≤ ``CPU_MAX_CHUNK``) with little padding. The projector's
    candidate pixels and weights are computed once per work item and shared by its whole chunk,
    so on CPUs this is the dominant cost: for 128³ × 2 channels × 37 tilts the forward +
    back-projection pair took 188 ms at chunk 8 and 35 ms at 128 (PoCL, 2 cores).
    Other devices (GPUs): ``multiple`` — neighbouring work items then read neighbouring entries
    (coalesced) and there are enough of them to fill the device.
    The result is always a multiple of ``multiple`` (e.g. the channel count, for kernels that need
    whole voxels per work item).
    """
    import pyopencl as cl

    multiple = max(1, int(multiple))
    n_batch = max(1, int(n_batch))
    if not get_runtime(device).device.type & cl.device_type.CPU:
        return multiple
    cap = max(multiple, CPU_MAX_CHUNK // multiple * multiple)
    n_chunks = -(-n_batch // cap)
    per = -(-n_batch // n_chunks)
    return -(-per // multiple) * multiple


def to_batch(volumes, geom: BatchGeometry, dtype=np.float32) -> np.ndarray:
    """Volumes ``(nx, ny, nz)`` per channel (a list) → batched ``(ny, nz, bp)``."""
    out = np.zeros(geom.vol_shape, dtype=dtype)
    stacked = np.stack([np.asarray(v, dtype=dtype) for v in volumes], axis=-1)  # (nx, ny, nz, nc)
    out[:, :, : geom.nx * geom.nc] = stacked.transpose(1, 2, 0, 3).reshape(geom.ny, geom.nz, -1)
    return out


def from_batch(batched: np.ndarray, geom: BatchGeometry) -> list[np.ndarray]:
    """Batched ``(ny, nz, bp)`` → list of ``(nx, ny, nz)`` volumes, one per channel."""
    b = np.asarray(batched)[:, :, : geom.nx * geom.nc].reshape(geom.ny, geom.nz, geom.nx, geom.nc)
    return [np.ascontiguousarray(b[..., c].transpose(2, 0, 1)) for c in range(geom.nc)]


def sinograms_to_batch(projections, geom: BatchGeometry, dtype=np.float32) -> np.ndarray:
    """Projection stacks ``(n_tilts, ny, nx)`` per channel (a list) → ``(n_tilts, n_det, bp)``."""
    out = np.zeros(geom.sino_shape, dtype=dtype)
    stacked = np.stack([np.asarray(p, dtype=dtype) for p in projections], axis=-1)  # (t, ny, nx, nc)
    out[:, :, : geom.nx * geom.nc] = stacked.reshape(geom.n_angles, geom.ndet, -1)
    return out


def sinograms_from_batch(batched: np.ndarray, geom: BatchGeometry) -> list[np.ndarray]:
    """Inverse of :func:`sinograms_to_batch`: list of ``(n_tilts, ny, nx)`` stacks."""
    b = np.asarray(batched)[:, :, : geom.nx * geom.nc].reshape(geom.n_angles, geom.ndet, geom.nx, geom.nc)
    return [np.ascontiguousarray(b[..., c]) for c in range(geom.nc)]


class Operators:
    """Device buffers and kernels for one :class:`BatchGeometry` on one OpenCL device.

    ``dims=2`` drops the differences along the tilt axis (slice-wise regularisation); ``coupled``
    only matters for the TGV kernels built on top (``kernels/tgv.cl``).
    """

    def __init__(self, geom: BatchGeometry, *, device=None, dims: int = 3, coupled: bool = True,
                 dtype=np.float32):
        self.rt = get_runtime(device)
        self.cl = self.rt.cl
        self.geom, self.dtype = geom, np.dtype(dtype)
        self.real = self.dtype.type
        self.options = self.rt.build_options(self.dtype, (
            f"-DNC={geom.nc}", f"-DCH={geom.chunk}", f"-DDIMS={int(dims)}", f"-DCOUPLED={int(bool(coupled))}"))
        self.ang = self.buffer(geom.angles.astype(self.dtype))
        self.n_vox = int(np.prod(geom.vol_shape))
        self.n_sino = int(np.prod(geom.sino_shape))

    # -- buffers -------------------------------------------------------------------------------
    def buffer(self, host=None, *, size: int | None = None):
        """A device buffer holding ``host`` (copied), or ``size`` zeroed elements."""
        mf = self.cl.mem_flags
        if host is not None:
            host = np.ascontiguousarray(host, dtype=self.dtype)
            return self.cl.Buffer(self.rt.context, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=host)
        buf = self.cl.Buffer(self.rt.context, mf.READ_WRITE, size=max(1, int(size)) * self.dtype.itemsize)
        self.cl.enqueue_fill_buffer(self.rt.queue, buf, self.dtype.type(0), 0, max(1, int(size)) * self.dtype.itemsize)
        return buf

    def read(self, buf, shape) -> np.ndarray:
        out = np.empty(shape, dtype=self.dtype)
        self.cl.enqueue_copy(self.rt.queue, out, buf)
        return out

    def write(self, buf, host) -> None:
        self.cl.enqueue_copy(self.rt.queue, buf, np.ascontiguousarray(host, dtype=self.dtype))

    def kernel(self, filename: str, name: str):
        return self.rt.kernel(filename, name, self.options)

    def launch(self, kernel, gsize, *args) -> None:
        kernel.set_args(*args)
        self.cl.enqueue_nd_range_kernel(self.rt.queue, kernel, gsize, None)

    def finish(self) -> None:
        self.rt.queue.finish()

    # -- grid sizes ------------------------------------------------------------------------------
    @property
    def vol_chunks(self) -> tuple[int, int, int]:
        g = self.geom
        return (g.bp // g.chunk, g.nz, g.ny)

    @property
    def sino_chunks(self) -> tuple[int, int, int]:
        g = self.geom
        return (g.bp // g.chunk, g.ndet, g.n_angles)

    @property
    def vol_entries(self) -> tuple[int, int, int]:
        g = self.geom
        return (g.bp, g.nz, g.ny)

    # -- operators on device buffers -------------------------------------------------------------
    def radon(self, out, vol, scale: float = 1.0) -> None:
        """``out = scale · T vol`` (sinogram buffer ← volume buffer)."""
        self.launch(self.kernel("projector.cl", "radon_fwd"), self.sino_chunks, out, vol, self.ang,
                    self.real(scale), *self.geom.sizes, np.int32(self.geom.ndet))

    def radon_adj(self, out, sino, scale: float = 1.0) -> None:
        """``out = scale · Tᵀ sino`` (volume buffer ← sinogram buffer)."""
        self.launch(self.kernel("projector.cl", "radon_adj"), self.vol_chunks, out, sino, self.ang,
                    np.int32(self.geom.n_angles), self.real(scale), *self.geom.sizes,
                    np.int32(self.geom.ndet))

    def grad(self, out, u) -> None:
        """``out (3 components) = ∇u``."""
        self.launch(self.kernel("gradient.cl", "grad_fwd"), self.vol_entries, out, u, *self.geom.sizes)

    def grad_adj(self, out, p) -> None:
        """``out = ∇ᵀp = −div p``."""
        self.launch(self.kernel("gradient.cl", "grad_adj"), self.vol_entries, out, p, *self.geom.sizes)

    def symgrad(self, out, w) -> None:
        """``out (6 components) = E w``."""
        self.launch(self.kernel("gradient.cl", "symgrad_fwd"), self.vol_entries, out, w, *self.geom.sizes)

    def symgrad_adj(self, out, q) -> None:
        """``out (3 components) = Eᵀq`` (off-diagonals weighted twice)."""
        self.launch(self.kernel("gradient.cl", "symgrad_adj"), self.vol_entries, out, q, *self.geom.sizes)

    # -- host convenience (tests, power iteration) ----------------------------------------------
    _IN_OUT = {"radon": ("vol", "sino", 1), "radon_adj": ("sino", "vol", 1), "grad": ("vol", "vol", 3),
               "grad_adj": ("vol", "vol", 1), "symgrad": ("vol", "vol", 6), "symgrad_adj": ("vol", "vol", 3)}

    def apply(self, name: str, x: np.ndarray, **kwargs) -> np.ndarray:
        """Apply operator ``name`` to a host array in the batched layout; returns a host array."""
        src, dst, k = self._IN_OUT[name]
        shape = self.geom.vol_shape if dst == "vol" else self.geom.sino_shape
        shape = shape if k == 1 else (k, *shape)
        xin = self.buffer(x)
        out = self.buffer(size=int(np.prod(shape)))
        getattr(self, name)(out, xin, **kwargs)
        return self.read(out, shape)


def slice_operators(geom: BatchGeometry, *, device=None) -> Operators:
    """Operators for a single slice and channel of ``geom``'s projection geometry (chunk 1).

    The projector's weights do not depend on the batch, so geometry-wide quantities (its norm, its
    row and column sums) are computed on this one-slice problem.
    """
    one = BatchGeometry(geom.tilts, geom.ny, geom.nz, 1, 1, n_det=geom.ndet, chunk=1)
    return Operators(one, device=device)


_NORMS: dict = {}


def radon_norm(geom: BatchGeometry, *, device=None, iterations: int = 30, margin: float = 1.02,
               seed: int = 0) -> float:
    """‖T‖ of the projector for ``geom``'s angles and slice size, by power iteration on TᵀT.

    The norm does not depend on the batch, so it is computed on one slice and cached per
    (tilts, ny, nz, n_det, device). ``margin`` (> 1) guards against the iteration's underestimate.
    """
    rt = get_runtime(device)
    key = (tuple(np.round(geom.tilts, 9)), geom.ny, geom.nz, geom.ndet, rt.device.int_ptr)
    if key not in _NORMS:
        ops = slice_operators(geom, device=rt.device)
        one = ops.geom
        x = np.random.default_rng(seed).random(one.vol_shape).astype(np.float32)
        xb, sb = ops.buffer(x), ops.buffer(size=ops.n_sino)
        lam = 0.0
        for _ in range(int(iterations)):
            x /= np.linalg.norm(x)
            ops.write(xb, x)
            ops.radon(sb, xb)
            ops.radon_adj(xb, sb)
            x = ops.read(xb, one.vol_shape)
            lam = float(np.linalg.norm(x))
        _NORMS[key] = float(np.sqrt(lam)) * float(margin)
    return _NORMS[key]
