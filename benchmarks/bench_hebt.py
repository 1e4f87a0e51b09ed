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


def run(n: int, nx: int, n_tilts: int, iterations: int, repeats: int, sirt_iterations: int) -> dict:
    """HEBT seconds per iteration on ``nx`` slices of ``n``², 2 elements + HAADF; ``sirt_iterations=0``
    skips the ASTRA comparison."""
    tilts = np.linspace(-72, 72, n_tilts)
    rng = np.random.default_rng(0)
    maps = [rng.poisson(5.0, (len(tilts), n, nx)).astype(np.float32) for _ in range(2)]
    haadf = (80 * maps[0] + 200 * maps[1]).astype(np.float32)
    solver = HEBTSolver(maps, haadf, tilts, (80.0, 200.0), 0.8, capacity=1 + iterations * (repeats + 1))
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
        solver.step(iterations)
        o.finish()

    t_it = timed(iterate, repeats) / iterations
    vol, sino = solver.buf["x"], solver.buf["g"]

    def project():
        o.radon(sino, vol)
        o.radon_adj(vol, sino)
        o.finish()

    project()
    t_proj = timed(project, repeats)
    t_astra = float("nan")
    if sirt_iterations:
        sinos = np.concatenate([m.transpose(2, 0, 1) for m in maps])  # (2·nx, tilts, n)
        reconstruct_sinograms(sinos[:2], tilts, method="SIRT", iterations=2, cuda=False, progress=False)

        def astra():
            reconstruct_sinograms(sinos, tilts, method="SIRT", iterations=sirt_iterations, cuda=False,
                                  progress=False)

        t_astra = timed(astra, max(1, repeats - 1)) / sirt_iterations / 2
    return {"device": o.rt.device.name.strip(), "group": getattr(o, "_sino_group", None), "hebt_s_per_it": t_it, "per_channel": t_it / 2,
            "projector_s": t_proj, "astra_s_per_channel": t_astra}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slices", type=int, default=128)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--tilts", type=int, default=37)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--sirt-iterations", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="repeats of each timing (the median is shown)")
    ap.add_argument("--profile", action="store_true", help="per-kernel device time from OpenCL events")
    args = ap.parse_args(argv)
    if args.profile:
        os.environ["SPECTOMO_PROFILE"] = "1"  # before the device is opened
    r = run(args.size, args.slices, args.tilts, args.iterations, args.repeats, args.sirt_iterations)
    print(f"{args.slices} slices × {args.size}² × {args.tilts} tilts, 2 elements + HAADF; device {r['device']}, "
          f"{os.cpu_count()} cores; angles per work group {r['group'] or 'driver default'}")
    print(f"  HEBT                 {r['hebt_s_per_it']:.4f} s/iteration  ({r['per_channel']:.4f} s per element channel)")
    print(f"  projector pair alone {r['projector_s']:.4f} s  ({100 * r['projector_s'] / r['hebt_s_per_it']:.0f} % of an iteration)")
    print(f"  ASTRA SIRT (CPU)     {r['astra_s_per_channel']:.4f} s/iteration per channel")
    print(f"  throughput ratio     {r['astra_s_per_channel'] / r['per_channel']:.1f}× ASTRA per element channel (issue 24's goal: ≥ 20×)")

    if args.profile:
        from spectomo.opencl import profile_report

        print("  per-kernel device time (all runs above):")
        for name, (calls, secs) in profile_report().items():
            print(f"    {name:22s} {calls:6d} calls  {secs:8.3f} s  {1e3 * secs / calls:8.3f} ms/call")


if __name__ == "__main__":
    main()
