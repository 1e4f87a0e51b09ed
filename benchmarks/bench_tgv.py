"""Seconds per TGV–KL iteration on the chosen OpenCL device, beside ASTRA-CPU SIRT on the same data.

Cases (issue 5):
  (a) 433 detector pixels × 10 slices × 4 channels × 36 angles (the paper's public example size)
  (b) 128³ × 4 channels × 37 angles

For each case: TGV–KL seconds per iteration (all channels), the share of the two projector kernels
(measured by timing them alone), ASTRA SIRT seconds per iteration for the same sinograms (all
slices × channels, spread over the CPU cores), and their ratio. Also the bytes and flops per
iteration behind the roofline estimate in docs/tgv.md.

    python benchmarks/bench_tgv.py [--case a|b|both] [--iterations N] [--chunk N (default: auto_chunk)]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from spectomo.geometry.astra import reconstruct_sinograms
from spectomo.opencl import BatchGeometry, auto_chunk, profile_report
from spectomo.recon.tgv import TGVSolver

#: Graptor's seconds per iteration for case (a) on a 2-core EPYC, quoted from issue 24 (not run here).
GRAPTOR_A = 14.7

CASES = {"a": dict(ndet=433, slices=10, channels=4, angles=np.linspace(-90, 85, 36)),
         "b": dict(ndet=128, slices=128, channels=4, angles=np.linspace(-72, 72, 37))}


def _time(fn, repeats: int) -> float:
    fn()  # warm-up (builds, first touch)
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats


def run_case(name, iterations: int, chunk: int, sirt_iterations: int) -> dict:
    """Time one case (a name in CASES, or a dict like its entries); ``sirt_iterations=0`` skips ASTRA."""
    c = CASES[name] if isinstance(name, str) else name
    n, nx, nc, tilts = c["ndet"], c["slices"], c["channels"], c["angles"]
    g = BatchGeometry(tilts, n, n, nx, nc, chunk=chunk or auto_chunk(nx * nc, multiple=nc))
    rng = np.random.default_rng(0)
    data = rng.random(g.sino_shape).astype(np.float32)
    data[..., nx * nc:] = 0
    solver = TGVSolver(data, g, (0.1,) * nc)
    solver.initialise()
    o = solver.ops
    o.finish()

    def iterate():
        solver.step(iterations)
        o.finish()

    t_it = _time(iterate, 1) / iterations
    vol, sino = o.buffer(size=o.n_vox), o.buffer(size=o.n_sino)

    def project():
        o.radon(sino, vol)
        o.radon_adj(vol, sino)
        o.finish()

    t_proj = _time(project, 3)
    t_sirt = t_sirt1 = float("nan")
    if sirt_iterations:  # ASTRA SIRT on the same sinograms: nx·nc slices of (angles, n)
        sinos = rng.random((nx * nc, len(tilts), n)).astype(np.float32)
        for jobs in (None, 1):  # all cores (spectomo's ASTRA path), then one thread
            t0 = time.perf_counter()
            reconstruct_sinograms(sinos, tilts, method="SIRT", iterations=sirt_iterations, cuda=False,
                                  progress=False, n_jobs=jobs)
            t = (time.perf_counter() - t0) / sirt_iterations
            t_sirt, t_sirt1 = (t, t_sirt1) if jobs is None else (t_sirt, t)
    n_copy = max(o.n_vox, 1 << 26)  # ≥ 256 MB, beyond every cache: the DRAM bandwidth the fused kernels see
    t_copy = _copy_seconds(o, o.buffer(size=n_copy), o.buffer(size=n_copy), n_copy)
    # roofline inputs: bytes moved by the fused kernels and projector work per iteration
    vox = n * n * nx * nc
    arrays_rw = {"dual": (1 + 3 + 3 + 6) + (3 + 6), "primal": (1 + 1 + 3 + 3 + 3 + 6) + (2 + 6),
                 "data": 3}  # image-size reads + writes per voxel; data: r, f read, r written (sino)
    bytes_img = 4 * vox * (arrays_rw["dual"] + arrays_rw["primal"])
    bytes_sino = 4 * len(tilts) * n * nx * nc * arrays_rw["data"]
    mac = 2 * 2 * vox * len(tilts)  # ≈2 weights per pixel and angle, forward and back
    return {"case": name if isinstance(name, str) else f"{n}² × {nx} × {nc}", "device": o.rt.device.name.strip(),
            "tgv_s_per_it": t_it, "projector_s": t_proj, "projection_share": t_proj / t_it,
            "astra_sirt_s_per_it": t_sirt, "ratio": t_sirt / t_it, "astra_1thread_s_per_it": t_sirt1,
            "GB_per_it": (bytes_img + bytes_sino) / 1e9, "Gmac_per_it": mac / 1e9, "cores": os.cpu_count(),
            "chunk": g.chunk, "group": getattr(o, "_sino_group", None),
            "bytes_per_call": {"tgv_dual": 4 * vox * arrays_rw["dual"], "tgv_primal": 4 * vox * arrays_rw["primal"]},
            "copy_GBps": 8 * n_copy / t_copy / 1e9}


def _copy_seconds(o, dst, src, n: int, repeats: int = 5) -> float:
    """Fastest of ``repeats`` plain device copies of ``n`` entries (the bandwidth reference)."""
    k = o.kernel("utils.cl", "copy").bind(y=dst, x=src)
    k((n,))
    o.finish()
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        k((n,))
        o.finish()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", default="both", choices=["a", "b", "both"])
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--sirt-iterations", type=int, default=10)
    ap.add_argument("--chunk", type=int, default=None)
    ap.add_argument("--profile", action="store_true", help="per-kernel device time from OpenCL events")
    args = ap.parse_args(argv)
    if args.profile:
        os.environ["SPECTOMO_PROFILE"] = "1"  # before the device is opened
    for name in ("a", "b") if args.case == "both" else (args.case,):
        r = run_case(name, args.iterations, args.chunk, args.sirt_iterations)
        print(f"case ({r['case']}) on {r['device']} ({r['cores']} cores), chunk {r['chunk']}, "
              f"angles per work group {r['group'] or 'driver default'}")
        print(f"  TGV-KL            {r['tgv_s_per_it']:.3f} s/iteration (all channels)")
        print(f"  projector share   {100 * r['projection_share']:.0f} % (forward + back {r['projector_s']:.3f} s)")
        print(f"  ASTRA SIRT (CPU)  {r['astra_sirt_s_per_it']:.3f} s/iteration on {r['cores']} threads, "
              f"{r['astra_1thread_s_per_it']:.3f} s on one thread, same sinograms")
        print(f"  SIRT / TGV time   {r['ratio']:.2f} (all threads); TGV / one-thread SIRT "
              f"{r['tgv_s_per_it'] / r['astra_1thread_s_per_it']:.3f} (issue 24's goal for (a): ≤ 0.09)")
        if name == "a":
            print(f"  vs Graptor        {GRAPTOR_A / r['tgv_s_per_it']:.0f}× (Graptor {GRAPTOR_A} s/iteration: issue 24's "
                  f"measurement on a 2-core EPYC of this kind, not re-run here)")
        if args.profile:
            rep = profile_report()  # this case's kernels (and resets)
            print_profile(rep)
            print(f"  plain copy        {r['copy_GBps']:.1f} GB/s (read + write, 256 MB buffers)")
            for kname, nbytes in r["bytes_per_call"].items():
                calls, secs = rep.get(kname, (0, 0.0))
                if calls:
                    print(f"  {kname:16s}  {nbytes / 1e6:.0f} MB per call, {nbytes * calls / secs / 1e9:.1f} GB/s "
                          f"({100 * nbytes * calls / secs / 1e9 / r['copy_GBps']:.0f} % of the copy)")
        print(f"  per iteration     {r['GB_per_it']:.2f} GB image/sinogram traffic, "
              f"{r['Gmac_per_it']:.2f} G multiply-adds in the projectors")


def print_profile(rep: dict) -> None:
    print("  per-kernel device time:")
    for name, (calls, secs) in rep.items():
        print(f"    {name:22s} {calls:6d} calls  {secs:8.3f} s  {1e3 * secs / calls:8.3f} ms/call")


if __name__ == "__main__":
    main()
