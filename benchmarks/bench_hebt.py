"""HEBT (OpenCL stacked SIRT) beside ASTRA-CPU SIRT on the same geometry, measured in one run.

Geometry (issue 6): 128 slices of 128 × 128, 37 tilts (±72°), 2 elements + HAADF. Reported:
seconds per HEBT iteration (both elements and the HAADF row together), the same per element
channel, ASTRA SIRT seconds per iteration per channel (every slice of both element sinograms,
spread over the CPU cores by spectomo's ASTRA path), and the throughput ratio. The projector
kernels alone (forward + back on the 2-channel batch) are timed too, to show where the time goes.

    python benchmarks/bench_hebt.py [--slices 128] [--size 128] [--iterations 20] [--sirt-iterations 10]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from spectomo.geometry.astra import reconstruct_sinograms
from spectomo.recon.hebt import HEBTSolver


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slices", type=int, default=128)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--tilts", type=int, default=37)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--sirt-iterations", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="repeats of each timing (the median is shown)")
    args = ap.parse_args(argv)
    n, nx = args.size, args.slices
    tilts = np.linspace(-72, 72, args.tilts)
    rng = np.random.default_rng(0)
    maps = [rng.poisson(5.0, (len(tilts), n, nx)).astype(np.float32) for _ in range(2)]
    haadf = (80 * maps[0] + 200 * maps[1]).astype(np.float32)
    solver = HEBTSolver(maps, haadf, tilts, (80.0, 200.0), 0.8,
                        capacity=1 + args.iterations * (args.repeats + 1))
    o = solver.ops
    solver.step(1)
    o.finish()

    def timed(fn, reps):
        out = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return float(np.median(out))

    def iterate():
        solver.step(args.iterations)
        o.finish()

    t_it = timed(iterate, args.repeats) / args.iterations
    vol, sino = solver.buf["x"], solver.buf["g"]

    def project():
        o.radon(sino, vol)
        o.radon_adj(vol, sino)
        o.finish()

    project()
    t_proj = timed(project, args.repeats)
    sinos = np.concatenate([m.transpose(2, 0, 1) for m in maps])  # (2·nx, tilts, n)
    reconstruct_sinograms(sinos[:2], tilts, method="SIRT", iterations=2, cuda=False, progress=False)

    def astra():
        reconstruct_sinograms(sinos, tilts, method="SIRT", iterations=args.sirt_iterations, cuda=False,
                              progress=False)

    t_astra = timed(astra, max(1, args.repeats - 1)) / args.sirt_iterations / 2
    per_channel = t_it / 2
    print(f"{nx} slices × {n}² × {len(tilts)} tilts, 2 elements + HAADF; device {o.rt.device.name.strip()}, "
          f"{os.cpu_count()} cores")
    print(f"  HEBT                 {t_it:.4f} s/iteration  ({per_channel:.4f} s per element channel)")
    print(f"  projector pair alone {t_proj:.4f} s  ({100 * t_proj / t_it:.0f} % of an iteration)")
    print(f"  ASTRA SIRT (CPU)     {t_astra:.4f} s/iteration per channel")
    print(f"  throughput ratio     {t_astra / per_channel:.1f}× ASTRA per element channel (goal ≥ 10×)")


if __name__ == "__main__":
    main()
