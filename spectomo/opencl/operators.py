"""OpenCL operator layer shared by spectomo's iterative solvers.

:class:`Operators` owns the device buffers and kernels of one :class:`~spectomo.opencl.layout.BatchGeometry`
on one device. Kernels are :class:`Kernel` objects whose arguments are bound by name; the geometry's
own arguments (``ny, nz, nx, bp, ndet, nang, ang``) are bound automatically. Buffers are planned
and checked against the device's memory before they are allocated (:meth:`Operators.allocate`).

Operators (each with its adjoint and a NumPy twin in :mod:`spectomo.opencl.twins`):

* ``radon`` / ``radon_adj`` — parallel-beam projector of Huber et al. (2019), eq. (8), in the
  geometry of :mod:`spectomo.geometry.convention`;
* ``grad`` / ``grad_adj`` — forward differences, Neumann boundary (adjoint = −divergence);
* ``symgrad`` / ``symgrad_adj`` — symmetrised gradient (6 components, off-diagonals weighted twice).

:func:`radon_norm` estimates ‖T‖ by power iteration, once per geometry.
"""

from __future__ import annotations

import numpy as np

from .layout import BatchGeometry
from .runtime import DeviceMemoryError, OpenCLBuildError, get_runtime, memory_limits

__all__ = ["Operators", "Kernel", "radon_norm", "auto_chunk", "slice_operators", "format_bytes"]

#: Most batch entries per work item on CPU devices. A work item keeps its chunk's accumulators in
#: private memory; PoCL overflowed its work-item stack (segmentation fault) at 512.
CPU_MAX_CHUNK = 128
#: Most work items per work group along z for the per-pixel kernels on CPU devices.
CPU_VOXEL_GROUP = 16

# OpenCL C scalar type names → NumPy types ("real" is the build's float type)
_SCALARS = {"int": np.int32, "uint": np.uint32, "unsigned int": np.uint32, "long": np.int64,
            "ulong": np.uint64, "unsigned long": np.uint64, "float": np.float32, "double": np.float64}


def format_bytes(n: float) -> str:
    """``1.5e9`` → ``'1.50 GB'``."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


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
    plain = -(-per // multiple) * multiple
    # a chunk of whole 16- or 8-entry vectors (vector_width) when that pads the batch by ≤ 1/8
    for width in (16, 8):
        step = int(np.lcm(multiple, width))
        aligned = -(-per // step) * step
        if aligned <= max(cap, step) and (aligned * n_chunks - n_batch) * 8 <= n_batch:
            return aligned
    return plain


def vector_width(chunk: int) -> int:
    """Entries of a chunk handled as one OpenCL vector by the kernels (``-DVW``, ``geometry.cl``):
    16 or 8 when it divides ``chunk``, else 1. Not 4 or 2: on PoCL those explicit short vectors
    ran 2× slower than scalar loops, which its compiler vectorises itself (HEBT projector pair at
    chunk 128: 21 ms with 16, 27 ms with 8 or 1, 46 ms with 4)."""
    return next(v for v in (16, 8, 1) if int(chunk) % v == 0)


class Kernel:
    """One OpenCL kernel whose arguments are bound by name.

    Each instance holds its own ``pyopencl.Kernel`` object, so arguments bound here stay bound
    however many solvers use the same program. Call it with the global size (and optionally more
    arguments by name) to enqueue it; every argument must be bound by then.
    """

    def __init__(self, ops: "Operators", program, name: str):
        cl = ops.cl
        self.name, self._ops = name, ops
        self._k = cl.Kernel(program, name)
        info = cl.kernel_arg_info
        try:
            self.args = [(self._k.get_arg_info(i, info.NAME), self._k.get_arg_info(i, info.TYPE_NAME).strip(),
                          self._k.get_arg_info(i, info.ADDRESS_QUALIFIER)) for i in range(self._k.num_args)]
        except cl.Error as err:  # only OpenCL < 1.2 lacks clGetKernelArgInfo
            raise OpenCLBuildError(f"kernel {name}: the device {ops.rt.device.name!r} does not report kernel "
                                   f"argument names (clGetKernelArgInfo: {err}); spectomo needs OpenCL ≥ 1.2") from err
        self._index = {a[0]: i for i, a in enumerate(self.args)}
        self._bound: set = set()
        own = ops.geometry_args()
        self.bind(**{k: v for k, v in own.items() if k in self._index})

    @property
    def arg_names(self) -> list[str]:
        return [a[0] for a in self.args]

    def bind(self, **values) -> "Kernel":
        """Set arguments by name: buffers for pointers, ``LocalMemory`` for local ones, numbers
        otherwise (converted to the argument's OpenCL type). Returns the kernel."""
        cl = self._ops.cl
        q = cl.kernel_arg_address_qualifier
        for key, value in values.items():
            i = self._index.get(key)
            if i is None:
                raise TypeError(f"kernel {self.name}: no argument named {key!r}; its arguments are {self.arg_names}")
            _, tname, addr = self.args[i]
            if addr in (q.GLOBAL, q.CONSTANT):
                if not isinstance(value, cl.MemoryObjectHolder):
                    raise TypeError(f"kernel {self.name}: argument {key!r} is a buffer ({tname}), got "
                                    f"{type(value).__name__}")
            elif addr == q.LOCAL:
                if not isinstance(value, cl.LocalMemory):
                    raise TypeError(f"kernel {self.name}: argument {key!r} is local memory, got {type(value).__name__}")
            else:
                kind = self._ops.real if tname == "real" else _SCALARS.get(tname)
                if kind is None:
                    raise TypeError(f"kernel {self.name}: argument {key!r} has unsupported type {tname!r}")
                value = kind(value)
            self._k.set_arg(i, value)
            self._bound.add(key)
        return self

    def __call__(self, global_size, local_size=None, **values) -> None:
        if values:
            self.bind(**values)
        if len(self._bound) != len(self.args):
            missing = [n for n in self.arg_names if n not in self._bound]
            raise TypeError(f"kernel {self.name}: arguments not bound: {missing}")
        ev = self._ops.cl.enqueue_nd_range_kernel(self._ops.rt.queue, self._k, global_size, local_size)
        if self._ops.rt.profiling:
            self._ops.rt.events.append((self.name, ev))


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
            f"-DNC={geom.nc}", f"-DCH={geom.chunk}", f"-DVW={vector_width(geom.chunk)}", f"-DDIMS={int(dims)}",
            f"-DCOUPLED={int(bool(coupled))}"))
        self.n_vox, self.n_sino = geom.n_vox, geom.n_sino
        self._kernels: dict = {}
        self.ang = self.buffer(geom.angles.astype(self.dtype))

    # -- buffers -------------------------------------------------------------------------------
    def buffer(self, host=None, *, size: int | None = None):
        """A device buffer holding ``host`` (copied), or ``size`` zeroed elements."""
        mf = self.cl.mem_flags
        if host is not None:
            host = np.ascontiguousarray(host, dtype=self.dtype)
            return self.cl.Buffer(self.rt.context, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=host)
        buf = self.cl.Buffer(self.rt.context, mf.READ_WRITE, size=max(1, int(size)) * self.dtype.itemsize)
        self.zero(buf)
        return buf

    def zero(self, buf) -> None:
        """Set every element of ``buf`` to 0 (enqueued)."""
        self.cl.enqueue_fill_buffer(self.rt.queue, buf, self.dtype.type(0), 0, buf.size)

    def check_memory(self, plan: dict, *, what: str) -> int:
        """Bytes that ``plan`` (name → element count or host array) needs; raise
        :class:`DeviceMemoryError` naming the estimate, the device's memory and what to do when it
        does not fit."""
        sizes = {k: int(np.size(v)) if isinstance(v, np.ndarray) else int(v) for k, v in plan.items()}
        item = self.dtype.itemsize
        total = (sum(sizes.values()) + self.geom.angles.size) * item
        limit, per_buffer = memory_limits(self.rt.device)
        big = max(sizes, key=sizes.get)
        advice = ("bin the projections (e.g. stack.rebin(scale=(1, 2, 2))), crop the reconstructed region, "
                  "reconstruct fewer channels at once, or choose a device with more memory (device=)")
        if total > limit:
            raise DeviceMemoryError(
                f"{what} needs about {format_bytes(total)} on the OpenCL device {self.rt.device.name.strip()!r}, "
                f"which has {format_bytes(limit)} ({len(sizes)} arrays; the largest, {big!r}, "
                f"{format_bytes(sizes[big] * item)}). To fit: {advice}")
        if per_buffer is not None and sizes[big] * item > per_buffer:
            raise DeviceMemoryError(
                f"{what}: array {big!r} needs {format_bytes(sizes[big] * item)}, more than the largest buffer "
                f"the OpenCL device {self.rt.device.name.strip()!r} allows ({format_bytes(per_buffer)}). "
                f"To fit: {advice}")
        return total

    def allocate(self, plan: dict, *, what: str, backing=None) -> dict:
        """Check ``plan`` with :meth:`check_memory`, then allocate: name → buffer (host arrays copied,
        counts zeroed).

        ``backing``: a folder; each array then lives in a file there (``<name>.npy``, a memory map
        the CPU device uses in place), so the operating system keeps in memory only the pages in
        use and the problem may exceed the machine's memory (``SlabTGV(offload=)``). CPU devices
        only; the folder's disk space is checked instead of the memory."""
        if backing is not None:
            return self._allocate_backed(plan, what=what, folder=backing)
        self.check_memory(plan, what=what)
        out = {}
        for name, v in plan.items():
            try:
                out[name] = self.buffer(v) if isinstance(v, np.ndarray) else self.buffer(size=v)
            except self.cl.Error as err:
                n = np.size(v) if isinstance(v, np.ndarray) else int(v)
                raise DeviceMemoryError(f"{what}: allocating array {name!r} ({format_bytes(n * self.dtype.itemsize)}) "
                                        f"on {self.rt.device.name.strip()!r} failed: {err}") from err
        return out

    def _allocate_backed(self, plan: dict, *, what: str, folder) -> dict:
        import shutil
        from pathlib import Path

        if not self.rt.device.type & self.cl.device_type.CPU:
            raise ValueError(f"offload: file-backed arrays need a CPU OpenCL device (PoCL), which works on "
                             f"host memory in place; {self.rt.device.name.strip()!r} is not one")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        sizes = {k: int(np.size(v)) if isinstance(v, np.ndarray) else int(v) for k, v in plan.items()}
        need = sum(sizes.values()) * self.dtype.itemsize
        free = shutil.disk_usage(folder).free
        if need > 0.95 * free:
            raise DeviceMemoryError(f"{what} needs about {format_bytes(need)} of files in {folder}, which has "
                                    f"{format_bytes(free)} free; choose a folder on a larger disk (offload=)")
        self._backing = getattr(self, "_backing", [])
        out = {}
        mf = self.cl.mem_flags
        for name, v in plan.items():
            mm = np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=self.dtype,
                                           shape=(max(1, sizes[name]),))
            if isinstance(v, np.ndarray):
                mm[:] = np.asarray(v, dtype=self.dtype).ravel()
            self._backing.append(mm)  # the buffer uses this memory: keep it alive
            out[name] = self.cl.Buffer(self.rt.context, mf.READ_WRITE | mf.USE_HOST_PTR, hostbuf=mm)
        return out

    def read(self, buf, shape) -> np.ndarray:
        out = np.empty(shape, dtype=self.dtype)
        self.cl.enqueue_copy(self.rt.queue, out, buf)
        return out

    def write(self, buf, host) -> None:
        self.cl.enqueue_copy(self.rt.queue, buf, np.ascontiguousarray(host, dtype=self.dtype))

    def _columns(self, rows: int, cols: slice) -> dict:
        """Rectangular-copy arguments for batch entries ``cols`` of every row of a ``(…, bp)`` buffer."""
        item, bp, w = self.dtype.itemsize, self.geom.bp, cols.stop - cols.start
        return dict(buffer_origin=(cols.start * item, 0, 0), host_origin=(0, 0, 0), region=(w * item, rows, 1),
                    buffer_pitches=(bp * item, rows * bp * item), host_pitches=(w * item, rows * w * item))

    def read_columns(self, buf, lead: tuple, cols: slice) -> np.ndarray:
        """Batch entries ``cols`` of a buffer shaped ``(*lead, bp)``, as ``(*lead, len(cols))``: one
        rectangular copy, not the whole buffer (a slab's boundary slices, :mod:`spectomo.recon.slabs`)."""
        rows = int(np.prod(lead))
        out = np.empty((rows, cols.stop - cols.start), dtype=self.dtype)
        self.cl.enqueue_copy(self.rt.queue, out, buf, **self._columns(rows, cols))
        return out.reshape(*lead, cols.stop - cols.start)

    def write_columns(self, buf, lead: tuple, cols: slice, host) -> None:
        """Write ``host`` ``(*lead, len(cols))`` into batch entries ``cols`` of a ``(*lead, bp)`` buffer."""
        rows = int(np.prod(lead))
        arr = np.ascontiguousarray(np.asarray(host, dtype=self.dtype).reshape(rows, cols.stop - cols.start))
        self.cl.enqueue_copy(self.rt.queue, buf, arr, **self._columns(rows, cols))

    # -- kernels --------------------------------------------------------------------------------
    def geometry_args(self) -> dict:
        """Arguments every kernel of this geometry may take, by name."""
        return dict(self.geom.kernel_args(), ang=self.ang)

    def kernel(self, filename: str, name: str) -> Kernel:
        """The :class:`Kernel` ``name`` of ``kernels/<filename>`` for this geometry (one per name)."""
        key = (filename, name)
        if key not in self._kernels:
            self._kernels[key] = Kernel(self, self.rt.program(filename, self.options), name)
        return self._kernels[key]

    def finish(self) -> None:
        self.rt.queue.finish()

    # -- grid sizes ------------------------------------------------------------------------------
    @property
    def vol_chunks(self) -> tuple[int, int, int]:
        g = self.geom
        return (g.bp // g.chunk, g.nz, g.ny)

    @property
    def sino_chunks(self) -> tuple[int, int, int]:
        return self.sino_chunks_for(None)

    def launch_voxels(self, kernel: "Kernel", **values) -> None:
        """Enqueue a kernel with one work item per chunk and pixel (global size :attr:`vol_chunks`).

        On CPU devices the work group is a short run of z (at most ``CPU_VOXEL_GROUP``): PoCL's own
        choice for 128³ × 4 channels put so many work items, each with its chunk-sized private
        arrays, in one group that the fused TGV kernels overflowed the thread stack (segmentation
        fault); short runs cost < 10 % on the 433² case."""
        if not hasattr(self, "_voxel_group"):
            cpu = self.rt.device.type & self.cl.device_type.CPU
            nz = self.geom.nz
            self._voxel_group = (1, max(d for d in range(1, CPU_VOXEL_GROUP + 1) if nz % d == 0), 1) if cpu else None
        kernel(self.vol_chunks, self._voxel_group, **values)

    def sino_chunks_for(self, group: int | None) -> tuple[int, int, int]:
        """:attr:`sino_chunks` with the angles rounded up to a multiple of ``group``."""
        g = self.geom
        return (g.bp // g.chunk, g.ndet, g.n_angles if group is None else -(-g.n_angles // group) * group)

    def launch_bins(self, kernel: "Kernel", **values) -> None:
        """Enqueue a bin-gathering kernel (one work item per chunk, detector bin and angle; it must
        skip angles ≥ ``nang``) with the work-group size measured for this geometry
        (:mod:`spectomo.opencl.autotune`)."""
        from .autotune import sino_group

        if not hasattr(self, "_sino_group"):
            self._sino_group = sino_group(self)
        group = self._sino_group
        kernel(self.sino_chunks_for(group), None if group is None else (1, 1, group), **values)

    @property
    def vol_entries(self) -> tuple[int, int, int]:
        g = self.geom
        return (g.bp, g.nz, g.ny)

    # -- operators on device buffers -------------------------------------------------------------
    def radon(self, out, vol, scale: float = 1.0) -> None:
        """``out = scale · T vol`` (sinogram buffer ← volume buffer)."""
        self.launch_bins(self.kernel("projector.cl", "radon_fwd"), sino=out, vol=vol, scale=scale)

    def radon_adj(self, out, sino, scale: float = 1.0) -> None:
        """``out = scale · Tᵀ sino`` (volume buffer ← sinogram buffer)."""
        self.launch_voxels(self.kernel("projector.cl", "radon_adj"), vol=out, sino=sino, scale=scale)

    def grad(self, out, u) -> None:
        """``out (3 components) = ∇u``."""
        self.kernel("gradient.cl", "grad_fwd")(self.vol_entries, g=out, u=u)

    def grad_adj(self, out, p) -> None:
        """``out = ∇ᵀp = −div p``."""
        self.kernel("gradient.cl", "grad_adj")(self.vol_entries, u=out, p=p)

    def symgrad(self, out, w) -> None:
        """``out (6 components) = E w``."""
        self.kernel("gradient.cl", "symgrad_fwd")(self.vol_entries, e=out, w=w)

    def symgrad_adj(self, out, q) -> None:
        """``out (3 components) = Eᵀq`` (off-diagonals weighted twice)."""
        self.kernel("gradient.cl", "symgrad_adj")(self.vol_entries, w=out, q=q)

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
