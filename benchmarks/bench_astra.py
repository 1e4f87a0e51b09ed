"""ASTRA reconstruction throughput: FBP and SIRT-100 on a 128-slice stack (128 × 128, 37 tilts),
with one worker thread and with all cores, measured side by side in one run.

    python benchmarks/bench_astra.py [--slices 128] [--size 128] [--tilts 37] [--iterations 100]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from spectomo import TomoStack
from spectomo.geometry import forward_project
from spectomo.phantoms import make_phantom


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--slices", type=int, default=128)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--tilts", type=int, default=37)
    ap.add_argument("--iterations", type=int, default=100)
    args = ap.parse_args()

    tilts = np.linspace(-72, 72, args.tilts)
    vol = make_phantom("core_shell", args.size, oversample=1).partial_densities["Au"][: args.slices]
    stack = TomoStack(forward_project(vol, tilts), tilts=tilts)
    cores = os.cpu_count() or 1
    print(f"stack {stack.data.shape} (tilts, y, x), {args.slices} slices, {cores} cores")
    print(f"{'method':<10}{'1 thread (s)':>14}{f'{cores} threads (s)':>16}{'speed-up':>10}{'ms/slice':>10}")
    for method, its in (("FBP", 1), ("SIRT", args.iterations)):
        times = {}
        for jobs in (1, cores):
            t0 = time.perf_counter()
            rec = stack.reconstruct(method, iterations=its, n_jobs=jobs, cuda=False, progress=False)
            times[jobs] = time.perf_counter() - t0
        label = method if method == "FBP" else f"SIRT-{its}"
        print(f"{label:<10}{times[1]:>14.2f}{times[cores]:>16.2f}{times[1] / times[cores]:>10.2f}"
              f"{1e3 * times[cores] / args.slices:>10.1f}")
    assert rec.data.shape == (args.slices, args.size, args.size)


if __name__ == "__main__":
    main()
