"""Alignment on the real NIST SRM-2135c needle: PC, PC + CoM tilt axis, and projection matching.

Prints, side by side from one run, the run time of each and the held-out re-projection residual of
its result (:func:`spectomo.alignment_residual`, binned 2×, 64 slices, lower is better), and writes
a figure of the same reconstructed slice (⟂ tilt axis, through the multilayers) for each.

The data are the raw ``HAADF.mrc`` + ``HAADF.rawtlt`` in ETSpy 1.3.0's test data::

    pip download --no-deps etspy==1.3.0 && unzip etspy-1.3.0-py3-none-any.whl 'etspy/tests/test_data/*'
    python benchmarks/bench_align_real.py etspy/tests/test_data/HAADF.mrc [--out bench_align_real.png]

Without a path it uses the 4×-binned copy in ``tests/data`` (64² px).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import spectomo
from spectomo.evaluation import save_figure

BINNED = Path(__file__).resolve().parents[1] / "tests" / "data" / "nist_needle_bin4.npz"


def load(path):
    if path is None:
        with np.load(BINNED) as f:
            return spectomo.TomoStack(f["projections"], tilts=f["tilts"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spectomo.InputWarning)  # the detector offset, handled below
        return spectomo.load(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mrc", nargs="?", help="HAADF.mrc of the NIST needle (default: the binned test copy)")
    ap.add_argument("--out", default="bench_align_real.png", help="figure of the reconstructed slices")
    ap.add_argument("--column", type=float, default=0.55, help="slice position along the axis (fraction)")
    args = ap.parse_args()

    raw = load(args.mrc)
    n, ny, nx = raw.data.shape
    binning = 2 if ny > 128 else 1
    results = {}
    t0 = time.perf_counter()
    pc = raw.stack_register("PC", progress=False)
    results["PC"] = (pc, time.perf_counter() - t0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spectomo.TiltAxisWarning)
        com = pc.tilt_align("CoM", progress=False)
    results["PC + CoM"] = (com, results["PC"][1] + time.perf_counter() - t0)
    t0 = time.perf_counter()
    pm = raw.stack_register("PM", progress=False)
    results["PM"] = (pm, time.perf_counter() - t0)

    print(f"NIST needle, {n} tilts, {ny} × {nx} px; residual: held-out, binned {binning}×, 64 slices")
    print(f"{'method':10s} {'time (s)':>9s} {'residual':>9s} {'rotation (°)':>13s} {'offset (px)':>12s}")
    base = raw.alignment_residual(binning=binning, n_columns=64)
    print(f"{'none':10s} {0.0:9.1f} {base:9.5f} {0.0:13.2f} {0.0:12.2f}")
    scores = {}
    for name, (stack, seconds) in results.items():
        md = stack.metadata.Tomography
        scores[name] = stack.alignment_residual(binning=binning, n_columns=64)
        print(f"{name:10s} {seconds:9.1f} {scores[name]:9.5f} {md.tilt_axis_rotation:13.2f} "
              f"{md.tilt_axis_offset:12.2f}")
    print(f"ratio PM / (PC + CoM) residual: {scores['PM'] / scores['PC + CoM']:.4f}")

    # one slice through the multilayers, SIRT-50 of a 3-column slab around it
    col = int(args.column * nx)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results) + 1, figsize=(3.4 * (len(results) + 1), 3.6), layout="constrained")
    lo, hi = ny // 4, ny - ny // 4  # the central half, around the needle
    for ax, (name, stack) in zip(axes, [("none", raw)] + [(k, v[0]) for k, v in results.items()]):
        slab = stack.subtract_vacuum().isig[col - 1: col + 2, :]
        rec = slab.reconstruct("SIRT", iterations=50, progress=False).data[1][lo:hi, lo:hi]
        im = ax.imshow(rec.T, cmap="inferno", origin="lower", extent=(lo, hi, lo, hi))
        ax.set_title(name if name == "none" else f"{name}\nresidual {scores[name]:.4f}", fontsize=9)
        ax.set_xlabel("y (px)")
        ax.set_ylabel("z (px)")
        fig.colorbar(im, ax=ax, shrink=0.8, label="a.u. per voxel")
    save_figure(fig, args.out, title=f"NIST needle, slice x = {col} px (SIRT-50)")
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
