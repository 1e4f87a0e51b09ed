"""The ``spectomo`` command line.

``spectomo demo [--out DIR] [--size N] [--phantom NAME]`` simulates the default multimodal dataset,
saves it (HyperSpy ``.hspy``) with its ground truth and writes a PNG overview of the HAADF and
per-element projections. ``spectomo info`` reports versions and compute devices.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _demo_figure(sim, path: Path) -> Path:
    """HAADF and per-line window maps at the tilt nearest 0°, and the sum spectrum there."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import physics
    from .io import atomic_path

    i0 = int(np.argmin(np.abs(sim.tilts)))
    eds0 = sim.eds.inav[:, :, i0]
    if eds0._lazy:
        eds0.compute(show_progressbar=False)
    maps = eds0.get_lines_intensity(xray_lines=sim.lines, integration_windows=2.0)
    n = 1 + len(maps)
    fig = plt.figure(figsize=(3.1 * n, 6.4), constrained_layout=True)
    grid = fig.add_gridspec(2, n, height_ratios=[1.15, 1])
    panels = [("HAADF (electrons)", sim.haadf.data[i0])]
    panels += [(f"{m.metadata.Sample.xray_lines[0]} window (counts)", m.data) for m in maps]
    for k, (title, img) in enumerate(panels):
        ax = fig.add_subplot(grid[0, k])
        im = ax.imshow(img, cmap="gray" if k == 0 else "viridis")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.75)
    ax = fig.add_subplot(grid[1, :])
    spec = eds0.sum(axis=(0, 1))
    energy = spec.axes_manager.signal_axes[0].axis
    ax.semilogy(energy, np.maximum(spec.data, 0.5), lw=0.8, color="k")
    for line in sim.factors["lines"]:
        if line.split("_")[1] in ("Ka", "La", "Ma"):
            e = physics.line_energy(line)
            ax.axvline(e, color="tab:red", lw=0.6, alpha=0.6)
            ax.text(e, ax.get_ylim()[1], line, rotation=90, va="top", ha="right", fontsize=7)
    ax.set(xlabel="Energy (keV)", ylabel="Counts (sum image)",
           title=f"Sum spectrum at {sim.tilts[i0]:.0f}° tilt")
    fig.suptitle(f"spectomo demo: {sim.phantom.description}", fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def cmd_demo(args) -> int:
    from . import datasets
    from .io import atomic_path

    out = Path(args.out)
    t0 = time.perf_counter()
    print(f"simulating '{args.phantom}' at {args.size}^3 voxels ...", flush=True)
    sim = datasets.simulate(args.phantom, size=args.size, seed=args.seed, drift=args.drift,
                            tilt_axis_rotation=args.rotation, progress=not args.no_progress)
    t_sim = time.perf_counter() - t0
    paths = sim.save(out)
    fig = _demo_figure(sim, out / "demo_projections.png")
    summary = {
        "phantom": sim.phantom.name, "description": sim.phantom.description,
        "size": list(sim.phantom.shape), "voxel_size_nm": sim.phantom.voxel_size,
        "tilts_deg": [float(sim.tilts[0]), float(sim.tilts[-1]), len(sim.tilts)],
        "principal_lines": sim.lines, "acquisition": sim.acquisition,
        "mean_haadf_counts": float(sim.haadf.data.mean()),
        "mean_net_counts_per_pixel": {ln: float(sim.net_counts[ln].data.mean()) for ln in sim.lines},
        "simulation_seconds": round(t_sim, 2),
        "files": {k: str(v) for k, v in paths.items()} | {"figure": str(fig)},
    }
    with atomic_path(out / "demo_summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float))
    print(f"wrote {len(paths)} signals to {out}/ (HAADF, EDS {sim.eds.data.shape}, ground truth)")
    print(f"figure: {fig}")
    print(f"mean counts per pixel: HAADF {summary['mean_haadf_counts']:.0f}, "
          + ", ".join(f"{k} {v:.1f}" for k, v in summary["mean_net_counts_per_pixel"].items()))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_info(args) -> int:
    import astra
    import exspy
    import hyperspy

    from . import __version__
    from .recon.opencl import OpenCLUnavailableError, get_runtime, kernel_dir

    print(f"spectomo {__version__}  hyperspy {hyperspy.__version__}  exspy {exspy.__version__}  "
          f"astra {astra.__version__} (CUDA: {astra.use_cuda()})")
    print(f"kernels: {kernel_dir()}")
    try:
        rt = get_runtime()
        print(f"OpenCL device: {rt.device.name} [{rt.device.platform.version.strip()}]")
    except OpenCLUnavailableError as err:
        print(f"OpenCL: unavailable\n{err}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .phantoms import PHANTOMS

    p = argparse.ArgumentParser(prog="spectomo", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"spectomo {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="simulate a multimodal tilt series and write it with a figure")
    d.add_argument("--out", default="spectomo_demo", help="output folder (default: %(default)s)")
    d.add_argument("--size", type=int, default=64, help="voxels per side (default: %(default)s)")
    d.add_argument("--phantom", default="core_shell", choices=sorted(PHANTOMS))
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--drift", type=float, default=1.0, help="random-walk drift step, px")
    d.add_argument("--rotation", type=float, default=0.0, help="tilt-axis rotation, degrees")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")
    d.set_defaults(func=cmd_demo)
    i = sub.add_parser("info", help="versions, kernel folder and the OpenCL device in use")
    i.set_defaults(func=cmd_info)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "size", 64) < 8:
        print("spectomo: error: --size must be at least 8", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
