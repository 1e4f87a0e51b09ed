"""TGV–KL slabs against the whole solve on one device: seconds per iteration side by side.

A problem of ``--size``² × ``--size`` slices × 4 channels × 37 tilts is solved whole and as 2 and 4
slabs (in this process, one after another; :class:`spectomo.recon.slabs.SlabTGV`). Printed: seconds
per iteration, the overhead of the halo exchange, and the largest difference from the whole solve.
Target (issue 21): overhead ≤ 15 %.

    python benchmarks/bench_slabs.py [--size 64] [--iterations 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spectomo.recon.slabs import SlabTGV
from spectomo.recon.tgv import TGVSolver


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=20)
    args = ap.parse_args(argv)
    n, it = args.size, args.iterations
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
