"""One-command check of spectomo on an OpenCL GPU: correctness first, then timings (issue 21).

1. Kernel-vs-twin and adjointness tests (tests/test_opencl.py, tests/test_operators.py and the
   attenuation kernel of tests/test_absorption.py) with ``PYOPENCL_CTX`` set to the GPU.
2. Timings at ``--size``³ (default 256) × 4 channels, 37 tilts: TGV–KL seconds per iteration
   (benchmarks/bench_tgv.py), HEBT seconds per iteration with 2 elements + HAADF
   (benchmarks/bench_hebt.py), the attenuation factors of one tilt (3 lines × 4 detectors).
3. A table of the numbers, for the issue's note.

Meant to finish in under 6 minutes on a data-centre GPU. Without a GPU it says so and stops (exit 2);
``--allow-cpu --size 32`` rehearses the whole script on a CPU device.

    bash benchmarks/gpu_check.sh [--size 256] [--iterations 10] [--allow-cpu]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def pick_device(allow_cpu: bool) -> tuple[str, str] | None:
    """``("platform:device", name)`` of the first GPU (else, with ``allow_cpu``, the first CPU)."""
    import pyopencl as cl

    found = []
    for pi, p in enumerate(cl.get_platforms()):
        for di, d in enumerate(p.get_devices()):
            found.append((d.type & cl.device_type.GPU != 0, f"{pi}:{di}", d.name.strip()))
    gpus = [f for f in found if f[0]]
    if gpus:
        return gpus[0][1], gpus[0][2]
    if allow_cpu and found:
        return found[0][1], found[0][2]
    return None


def run_tests(ctx: str) -> tuple[int, float]:
    env = dict(os.environ, PYOPENCL_CTX=ctx, SPECTOMO_REQUIRE_OPENCL="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_opencl.py",
           "tests/test_operators.py", "tests/test_absorption.py::test_attenuation_kernel_matches_twin"]
    t = time.perf_counter()
    rc = subprocess.call(cmd, cwd=HERE.parent, env=env)
    return rc, time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--allow-cpu", action="store_true")
    args = ap.parse_args(argv)
    dev = pick_device(args.allow_cpu)
    if dev is None:
        print("gpu_check: no OpenCL GPU found (pass --allow-cpu to rehearse on a CPU device)")
        return 2
    ctx, name = dev
    os.environ["PYOPENCL_CTX"] = ctx
    print(f"gpu_check: device {ctx} {name}")
    rc, t_tests = run_tests(ctx)
    rows = [("kernel-vs-twin + adjointness tests", "passed" if rc == 0 else f"FAILED (rc {rc})", f"{t_tests:.0f} s")]

    sys.path.insert(0, str(HERE))
    import bench_hebt
    import bench_tgv

    n = args.size
    tilts = np.linspace(-72, 72, 37)
    tgv = bench_tgv.run_case(dict(ndet=n, slices=n, channels=4, angles=tilts), args.iterations, None, 0)
    rows.append((f"TGV–KL {n}³ × 4 ch × 37 tilts", f"{tgv['tgv_s_per_it']:.3f} s/it",
                 f"projector pair {tgv['projector_s']:.3f} s ({100 * tgv['projection_share']:.0f} %)"))
    hebt = bench_hebt.run(n, n, 37, args.iterations, 3, 0)
    rows.append((f"HEBT {n}³ × 2 el + HAADF × 37 tilts", f"{hebt['hebt_s_per_it']:.4f} s/it",
                 f"{hebt['per_channel']:.4f} s per element channel"))

    from spectomo.geometry import Detector
    from spectomo.opencl.attenuation import attenuation_factors

    mu = (np.random.default_rng(0).random((3, n, n, n)) * 0.01).astype(np.float32)
    det = Detector.super_x()
    attenuation_factors(mu, det.directions([0.0])[0], det.weights, engine="opencl")  # build
    t = time.perf_counter()
    for th in (-60.0, 0.0, 60.0):
        attenuation_factors(mu, det.directions([th])[0], det.weights, engine="opencl")
    rows.append((f"attenuation {n}³ × 3 lines × 4 det", f"{(time.perf_counter() - t) / 3:.3f} s/tilt",
                 "incl. host↔device copies"))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'check':<{width}}  result          detail")
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:<15} {c}")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
