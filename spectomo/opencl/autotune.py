"""Work-group sizes chosen by timing, once per device and geometry.

The kernels that gather one detector bin per work item (``radon_fwd``, ``tgv_data``,
``hebt_residual``; global size ``(bp / CH, ndet, angles)``) run up to ~30 % faster on PoCL when a
work group holds a few angles rather than the size PoCL picks (measured on a 2-core EPYC: the
433-pixel TGV case's ``tgv_data`` took 72–91 ms with PoCL's choice and 51–55 ms with 12 angles
per group). The best size depends on the CPU and the PoCL build, so it is measured: the forward
projector of the geometry's detector, angles and chunk (one chunk of slices, on scratch buffers) is
timed for PoCL's choice and a few group sizes, and the fastest is kept for the life of the
process. The angle range is padded to a multiple of the group size (the kernels skip the padding).
GPU drivers keep their own choice. Results do not depend on the group size: every work item
computes its bin on its own.

``SPECTOMO_AUTOTUNE=0`` turns the search off (PoCL's choice everywhere).
"""

from __future__ import annotations

import os
import time

import numpy as np

__all__ = ["sino_group", "clear_cache"]

_CACHE: dict = {}

#: Angles per work group tried besides the driver's choice.
CANDIDATES = (2, 4, 6, 9, 12, 18)
#: Timed calls per choice (the fastest counts).
ROUNDS = 3


def clear_cache() -> None:
    """Forget every measured group size (the next solver measures again)."""
    _CACHE.clear()


def _key(ops) -> tuple:
    g, dev = ops.geom, ops.rt.device
    return (dev.name.strip(), dev.platform.version, ops.dtype.str, g.ny, g.nz, g.ndet, g.n_angles, g.chunk)


def sino_group(ops) -> int | None:
    """Angles per work group for ``ops``' bin-gathering kernels, or ``None`` for the driver's choice."""
    if os.environ.get("SPECTOMO_AUTOTUNE", "1") == "0" or not ops.rt.device.type & ops.cl.device_type.CPU:
        return None
    key = _key(ops)
    if key not in _CACHE:
        _CACHE[key] = _measure(ops)
    return _CACHE[key]


def _measure(ops) -> int | None:
    from .layout import BatchGeometry
    from .operators import Operators

    g = ops.geom
    one = BatchGeometry(g.tilts, g.ny, g.nz, g.chunk, 1, n_det=g.ndet, chunk=g.chunk)  # one chunk of slices
    proxy = Operators(one, device=ops.rt.device, dtype=ops.dtype)
    rng = np.random.default_rng(0)
    vol = proxy.buffer(rng.random(one.n_vox).astype(ops.dtype))
    sino = proxy.buffer(size=one.n_sino)
    kernel = proxy.kernel("projector.cl", "radon_fwd").bind(sino=sino, vol=vol, scale=1.0)
    choices = [None, *[d for d in CANDIDATES if d < g.n_angles]]

    def once(group) -> float:
        t = time.perf_counter()
        kernel(proxy.sino_chunks_for(group), None if group is None else (1, 1, group))
        proxy.finish()
        return time.perf_counter() - t

    recorded = len(proxy.rt.events)
    for group in choices:
        once(group)  # PoCL compiles a work-group function per size on first use
    times = {group: np.inf for group in choices}
    for _ in range(ROUNDS):  # round robin, so that a slow moment of a shared CPU hits every choice alike
        for group in choices:
            times[group] = min(times[group], once(group))
    del proxy.rt.events[recorded:]  # the search is not part of a profile_report
    best = min(times, key=times.get)
    # the driver's choice unless another is clearly faster (timings on shared CPUs are noisy)
    return best if times[best] < 0.9 * times[None] else None
