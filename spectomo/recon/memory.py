"""How many slabs a problem needs: one rule for TGV–KL and HEBT (:mod:`spectomo.recon.slabs`)."""

from __future__ import annotations

from ..validation import whole_number

__all__ = ["plan_slab_count", "DEVICE_SHARE", "OFFLOAD_SHARE"]

#: Share of the device's memory a slab may use when no ``max_memory`` is given
DEVICE_SHARE = 0.8
#: The same with file-backed slabs (``offload=``): the rest of the memory holds the pages of the
#: slabs being written back and read in
OFFLOAD_SHARE = 0.25


def plan_slab_count(nx: int, bytes_for, *, slabs=None, max_memory=None, device=None, offload: bool = False) -> int:
    """``slabs`` if given, else the fewest slabs whose largest one fits in ``max_memory`` bytes
    (default :data:`DEVICE_SHARE` of the device's memory, :data:`OFFLOAD_SHARE` with ``offload``).

    Parameters
    ----------
    nx : int
        Slices along the tilt axis.
    bytes_for : callable
        ``bytes_for(n_slices, n_slabs)``: device bytes of one slab of ``n_slices`` slices of a problem
        cut into ``n_slabs`` (for the halo slices it may add).
    """
    if slabs is not None:
        return whole_number(slabs, "slabs")
    if max_memory is None:
        from ..opencl.runtime import get_runtime, memory_limits

        share = OFFLOAD_SHARE if offload else DEVICE_SHARE
        max_memory = share * memory_limits(get_runtime(device).device)[0]
    if not max_memory > 0:
        raise ValueError(f"max_memory: a positive number of bytes expected, got {max_memory!r}")
    for k in range(1, nx + 1):
        if bytes_for(-(-nx // k), k) <= max_memory:
            return k
    raise ValueError(f"max_memory: {max_memory:.3g} bytes do not hold even one slice of this problem "
                     f"({bytes_for(1, nx):.3g} bytes)")
