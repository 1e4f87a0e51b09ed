"""OpenCL runtime shared by spectomo's solvers: device choice, program and kernel caches.

* Device: ``device=`` argument (a ``pyopencl.Device``, an index string ``"platform:device"`` as in
  ``PYOPENCL_CTX``, or a substring of the device name), else ``PYOPENCL_CTX``, else the first GPU,
  else the first CPU device (PoCL from ``pocl-binary-distribution``).
* One context and queue per device (:func:`get_runtime`), shared by every solver.
* Programs are built once per (context, source hash, options) with ``-I <kernels>`` so ``#include``
  works, and with ``-cl-kernel-arg-info`` so that kernel arguments can be bound by name
  (:class:`spectomo.opencl.operators.Kernel`); kernel objects are fetched once and reused.
* :func:`memory_limits` says how much a device can hold; allocations are checked against it
  before they are made (:class:`DeviceMemoryError`).
* Importing this module never fails without OpenCL; :func:`get_runtime` then raises
  :class:`OpenCLUnavailableError` naming what is missing. ``SPECTOMO_NO_OPENCL=1`` switches OpenCL
  off. A failed build raises :class:`OpenCLBuildError` carrying the compiler log.
"""

from __future__ import annotations

import functools
import hashlib
import os
from importlib.resources import files
from pathlib import Path

import numpy as np

__all__ = ["OpenCLUnavailableError", "OpenCLBuildError", "DeviceMemoryError", "kernel_dir", "get_runtime",
           "Runtime", "opencl_available", "memory_limits", "profile_report"]


class OpenCLUnavailableError(RuntimeError):
    """No usable OpenCL platform/device (or OpenCL switched off)."""


class OpenCLBuildError(RuntimeError):
    """An OpenCL program failed to build; ``.log`` holds the compiler output."""

    def __init__(self, message: str, log: str = ""):
        super().__init__(f"{message}\n--- compiler log ---\n{log}" if log else message)
        self.log = log


class DeviceMemoryError(MemoryError):
    """A problem does not fit in the OpenCL device's memory; the message gives the estimate."""


def kernel_dir() -> Path:
    """Folder holding the ``.cl`` sources: ``spectomo/kernels`` in a wheel, ``kernels/`` in a checkout."""
    packaged = Path(str(files("spectomo"))) / "kernels"
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parents[2] / "kernels"
    if source.is_dir():
        return source
    raise FileNotFoundError(f"OpenCL kernel sources not found in {packaged} or {source}")


def _cl():
    if os.environ.get("SPECTOMO_NO_OPENCL", "") not in ("", "0"):
        raise OpenCLUnavailableError("OpenCL is switched off (SPECTOMO_NO_OPENCL is set)")
    try:
        import pyopencl as cl
    except ImportError as err:  # pragma: no cover - pyopencl is a dependency
        raise OpenCLUnavailableError(f"pyopencl cannot be imported: {err}") from err
    return cl


def _all_devices(cl):
    try:
        platforms = cl.get_platforms()
    except Exception as err:  # pyopencl raises LogicError/RuntimeError without an ICD
        raise OpenCLUnavailableError(
            f"no OpenCL platform found ({err}); install 'pocl-binary-distribution' for CPU OpenCL"
        ) from err
    devices = [(p, d) for p in platforms for d in p.get_devices()]
    if not devices:
        raise OpenCLUnavailableError("OpenCL platforms exist but expose no devices")
    return platforms, devices


def _select_device(device=None):
    cl = _cl()
    if isinstance(device, cl.Device):
        return device
    platforms, devices = _all_devices(cl)
    spec = device if device is not None else os.environ.get("PYOPENCL_CTX") or None
    if spec is not None:
        spec = str(spec)
        if ":" in spec or spec.isdigit():
            pi, _, di = spec.partition(":")
            try:
                return platforms[int(pi or 0)].get_devices()[int(di or 0)]
            except (IndexError, ValueError) as err:
                raise OpenCLUnavailableError(
                    f"device: {spec!r} does not name a platform:device; available: "
                    + ", ".join(f"{platforms.index(p)}:{p.get_devices().index(d)} {d.name}" for p, d in devices)
                ) from err
        matches = [d for _, d in devices if spec.lower() in d.name.lower()]
        if not matches:
            raise OpenCLUnavailableError(
                f"device: no OpenCL device name contains {spec!r}; available: {[d.name for _, d in devices]}")
        return matches[0]
    gpus = [d for _, d in devices if d.type & cl.device_type.GPU]
    candidates = gpus + [d for _, d in devices if d not in gpus]
    failures = []
    for dev in candidates:
        problem = _probe(cl, dev)
        if problem is None:
            return dev
        failures.append(f"  {dev.platform.version.strip()} / {dev.name}: {problem}")
    raise OpenCLUnavailableError(
        "no OpenCL device can compile kernels:\n" + "\n".join(failures) + "\n"
        "PoCL builds whose LLVM predates the CPU (e.g. the pip PoCL 3.0 with LLVM 14 on AMD Zen 5) "
        "report \"unknown target CPU 'generic'\"; install a newer PoCL, e.g. "
        "`apt-get install pocl-opencl-icd` on Debian/Ubuntu, or select a device with PYOPENCL_CTX."
    )


_PROBE_SRC = "__kernel void probe(__global float *x) { x[get_global_id(0)] += 1.0f; }"
_PROBED: dict = {}


def _probe(cl, dev):
    """Build a one-line kernel on ``dev``; return None if it works, else a short reason."""
    key = (dev.platform.name, dev.platform.version, dev.name)
    if key not in _PROBED:
        try:
            ctx = cl.Context([dev])
            cl.Program(ctx, _PROBE_SRC).build()
            _PROBED[key] = None
        except Exception as err:  # any failure means the device is unusable for us
            lines = [ln.strip() for ln in str(err).splitlines() if "error" in ln.lower()]
            _PROBED[key] = (lines[-1] if lines else str(err).splitlines()[0])[:200]
    return _PROBED[key]


class Runtime:
    """Context, queue and build caches for one OpenCL device."""

    def __init__(self, device):
        cl = _cl()
        self.cl = cl
        self.device = device
        self.context = cl.Context([device])
        self.profiling = os.environ.get("SPECTOMO_PROFILE", "") not in ("", "0")
        props = cl.command_queue_properties.PROFILING_ENABLE if self.profiling else 0
        self.queue = cl.CommandQueue(self.context, properties=props)
        self.events: list = []  # (kernel name, event) while profiling
        self._programs: dict = {}
        self._kernels: dict = {}

    @property
    def has_double(self) -> bool:
        return bool(self.device.double_fp_config)

    def build_options(self, dtype=np.float32, extra=()) -> tuple[str, ...]:
        """Standard options: include path and the ``real`` type."""
        opts = ["-I", str(kernel_dir()), "-cl-kernel-arg-info"]
        if np.dtype(dtype) == np.float64:
            if not self.has_double:
                raise OpenCLUnavailableError(f"device {self.device.name!r} has no float64 support")
            opts.append("-DSPECTOMO_DOUBLE")
        return tuple(opts) + tuple(extra)

    def program(self, filename: str, options=()):
        """Build (once) and return the program for ``kernels/<filename>``."""
        source = (kernel_dir() / filename).read_text()
        key = (_sources_hash(), filename, tuple(options))
        prog = self._programs.get(key)
        if prog is None:
            try:
                prog = self.cl.Program(self.context, source).build(options=list(options))
            except self.cl.Error as err:  # pyopencl puts the compiler log in the message
                raise OpenCLBuildError(f"building kernels/{filename} with {list(options)} failed on "
                                       f"{self.device.name!r}", str(err)) from err
            self._programs[key] = prog
        return prog

    def kernel(self, filename: str, name: str, options=()):
        """A kernel object from ``kernels/<filename>``, fetched once per (program, name)."""
        prog = self.program(filename, options)
        key = (id(prog), name)
        k = self._kernels.get(key)
        if k is None:
            k = getattr(prog, name)
            self._kernels[key] = k
        return k


_RUNTIMES: dict = {}


@functools.lru_cache(maxsize=1)
def _sources_hash() -> str:
    """Hash of every ``.cl`` file (once per process), so included files are part of the build key."""
    h = hashlib.sha256()
    for path in sorted(kernel_dir().glob("*.cl")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def get_runtime(device=None) -> Runtime:
    """The shared :class:`Runtime` for a device (see module docstring for how it is chosen)."""
    dev = _select_device(device)
    key = (dev.platform.name, dev.name, dev.int_ptr)
    rt = _RUNTIMES.get(key)
    if rt is None:
        rt = _RUNTIMES[key] = Runtime(dev)
    return rt


def memory_limits(device) -> tuple[int, int | None]:
    """``(total, per_buffer)`` bytes a device can hold: its global memory and largest allocation.

    CPU devices (PoCL) share the host's memory and do not enforce the global memory size they
    report, so the limit there is the host's physical memory and the per-buffer size is left to
    the allocation itself (None).
    """
    import pyopencl as cl

    if device.type & cl.device_type.CPU:
        try:
            host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # not POSIX: trust the device
            host = 0
        return max(int(device.global_mem_size), int(host)), None
    return int(device.global_mem_size), int(device.max_mem_alloc_size)


def profile_report(device=None, *, reset: bool = True) -> dict:
    """Per-kernel device time since the last report, from OpenCL events: name → (calls, seconds).

    Only with ``SPECTOMO_PROFILE=1`` in the environment when the device was first opened (the queue
    must be created with profiling enabled); otherwise an empty dict. Benchmarks print it with
    ``--profile``.
    """
    rt = get_runtime(device)
    if not rt.profiling:
        return {}
    rt.queue.finish()
    out: dict = {}
    for name, ev in rt.events:
        calls, secs = out.get(name, (0, 0.0))
        out[name] = (calls + 1, secs + (ev.profile.end - ev.profile.start) * 1e-9)
    if reset:
        rt.events.clear()
    return dict(sorted(out.items(), key=lambda kv: -kv[1][1]))


def opencl_available() -> bool:
    """True if an OpenCL device can be opened."""
    try:
        get_runtime()
        return True
    except OpenCLUnavailableError:
        return False
