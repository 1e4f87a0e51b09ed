"""TGV–KL slabs against the whole solve on one device: seconds per iteration side by side.

A problem of ``--size``² × ``--size`` slices × 4 channels × 37 tilts is solved whole and as 2 and 4
slabs (in this process, one after another; :class:`spectomo.recon.slabs.SlabTGV`). Printed: seconds
per iteration, the overhead of the halo exchange, and the largest difference from the whole solve.
Target (issue 21): overhead ≤ 15 %.

With ``--offload DIR`` it instead runs one problem larger than the machine's memory (issue 21:
512³ × 4 channels × 37 tilts, about 37 GB of state on a 24 GB machine) as slabs whose arrays live in
memory-mapped files in DIR, and prints the seconds per iteration, the peak resident memory (all of
it, and the anonymous part: file pages the kernel can write back are not), and the disk used.

    python benchmarks/bench_slabs.py [--size 64] [--iterations 20]
    python benchmarks/bench_slabs.py --offload /tmp --size 512 --iterations 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spectomo.recon.slabs import SlabTGV
from spectomo.recon.tgv import TGVSolver


def _status_kb(key: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def offloaded(n: int, it: int, folder: str) -> None:
    """One problem of n² × n slices × 4 channels × 37 tilts as file-backed slabs (module docstring)."""
    import shutil
    import threading

    from spectomo.opencl.runtime import get_runtime, memory_limits
    from spectomo.recon.tgv import tgv_bytes, tgv_slab_count

    rng = np.random.default_rng(0)
    tilts = np.linspace(-72, 72, 37)
    counts = {f"c{i}": (rng.poisson(5.0, (37, n, n)) + 1).astype(np.float32) for i in range(4)}
    ram = memory_limits(get_runtime().device)[0]
    k = tgv_slab_count(n, n, 4, 37, offload=True)
    peak_anon, done = [0], threading.Event()

    def sample():
        while not done.wait(0.5):
            peak_anon[0] = max(peak_anon[0], _status_kb("RssAnon"))

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    s = SlabTGV(counts, tilts, n_slabs=k, offload=folder)
    s.initialise()
    s.sync()
    t1 = time.perf_counter()
    used = sum(p.stat().st_size for p in s.offload.rglob("*.npy"))
    s.step(it)
    t2 = time.perf_counter()
    done.set()
    s.close()
    print(f"{n}² × {n} slices × 4 channels × 37 tilts: state {tgv_bytes(n, n, n, 4, 37) / 1e9:.1f} GB, "
          f"machine memory {ram / 1e9:.1f} GB; {k} slabs in files under {folder} ({used / 1e9:.1f} GB)")
    print(f"  set-up + initialise  {t1 - t0:.0f} s")
    print(f"  TGV-KL               {(t2 - t1) / it:.1f} s/iteration ({it} iterations)")
    print(f"  peak resident        {_status_kb('VmHWM') / 1e6:.1f} GB (file pages included), "
          f"anonymous {peak_anon[0] / 1e6:.1f} GB (sampled)")
    print(f"  disk free after      {shutil.disk_usage(folder).free / 1e9:.1f} GB")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--offload", default=None, help="folder for file-backed slabs (the large-problem mode)")
    args = ap.parse_args(argv)
    n, it = args.size, args.iterations
    if args.offload:
        return offloaded(n, it, args.offload)
    rng = np.random.default_rng(0)
    tilts = np.linspace(-72, 72, 37)
    counts = {f"c{i}": rng.poisson(5.0, (37, n, n)).astype(np.float32) + 1 for i in range(4)}
    results = {}
    for label, make in (("whole", lambda: TGVSolver.from_counts(counts, tilts)),
                        ("2 slabs", lambda: SlabTGV(counts, tilts, n_slabs=2)),
                        ("4 slabs", lambda: SlabTGV(counts, tilts, n_slabs=4))):
        s = make()
        s.initialise()
        s.step(1)
        s.sync() if hasattr(s, "sync") else None
        t = time.perf_counter()
        s.step(it)
        s.volumes()
        results[label] = ((time.perf_counter() - t) / it, s.volumes())
    base_t, base_v = results["whole"]
    print(f"{n}² × {n} slices × 4 channels × 37 tilts, {it} iterations")
    for label, (t, v) in results.items():
        diff = max(float(np.abs(v[k] - base_v[k]).max() / np.abs(base_v[k]).max()) for k in v)
        print(f"  {label:8s} {t:.3f} s/iteration  overhead {100 * (t / base_t - 1):+.1f} %  max rel diff {diff:.1e}")


if __name__ == "__main__":
    main()
