"""The ``spectomo`` command line.

``spectomo demo [--out DIR] [--size N] [--phantom NAME]`` simulates the default multimodal dataset,
saves it (HyperSpy ``.hspy``) with its ground truth, extracts element map stacks from the spectra
(windows and NMF), scores them against the truth and writes a PNG overview. ``spectomo info`` reports versions and compute devices.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _demo_figure(sim, windows, nmf, path: Path) -> Path:
    """HAADF, window maps and NMF maps at the tilt nearest 0°, and the sum spectrum with the windows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import physics
    from .io import atomic_path

    i0 = int(np.argmin(np.abs(sim.tilts)))
    eds0 = sim.eds.inav[:, :, i0]
    if eds0._lazy:
        eds0.compute(show_progressbar=False)
    rows = [[("HAADF (electrons)", sim.haadf.data[i0], "gray")]
            + [(f"{k} windows (counts)", m.data[i0], "viridis") for k, m in windows.items()],
            [("spectral sum image (counts)", eds0.data.sum(axis=-1), "gray")]
            + [(f"{k} NMF (counts)", m.data[i0], "magma") for k, m in nmf.items()]]
    n = max(len(r) for r in rows)
    fig = plt.figure(figsize=(3.0 * n, 9.2), constrained_layout=True)
    grid = fig.add_gridspec(3, n, height_ratios=[1.1, 1.1, 1])
    for r, row in enumerate(rows):
        for k, (title, img, cmap) in enumerate(row):
            ax = fig.add_subplot(grid[r, k])
            im = ax.imshow(img, cmap=cmap)
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, shrink=0.75)
    ax = fig.add_subplot(grid[2, :])
    spec = eds0.data.sum(axis=(0, 1)).astype(float)
    energy = eds0.axes_manager.signal_axes[0].axis
    ax.semilogy(energy, np.maximum(spec, 0.5), lw=0.8, color="k", label="sum spectrum")
    for k, (key, m) in enumerate(windows.items()):
        md = m.metadata.Spectral
        colour = f"C{k}"
        ax.axvspan(*md.integration_window, color=colour, alpha=0.3, label=f"{key} window")
        bw = md.background_windows
        for lo, hi in (bw[:2], bw[2:]):
            if np.isfinite(lo):
                ax.axvspan(lo, hi, color=colour, alpha=0.12, hatch="//")
    if nmf.factors is not None:
        scale = spec.max() / nmf.factors.data.max()
        for k, name in enumerate(nmf):
            ax.plot(energy, np.maximum(nmf.factors.data[k] * scale, 0.5), lw=0.7, ls="--",
                    label=f"NMF factor {name} (scaled)")
    for line in sim.factors["lines"]:
        if line.split("_")[1] in ("Ka", "La", "Ma"):
            e = physics.line_energy(line)
            ax.text(e, spec.max() * 3, line, rotation=90, va="bottom", ha="center", fontsize=7)
    ax.set_ylim(0.5, spec.max() * 3000)
    ax.set(xlabel="Energy (keV)", ylabel="Counts (sum over the image)",
           title=f"Sum spectrum at {sim.tilts[i0]:.0f}°: integration windows (solid), background windows "
                 "(hatched), NMF factors (dashed)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, ncol=6, loc="upper center", frameon=False)
    fig.suptitle(f"spectomo demo: {sim.phantom.description}", fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def _map_scores(sim, windows, nmf) -> dict:
    """Window maps vs the simulator's net counts; NMF maps vs the true projected element maps."""
    scores = {"windows_total_relative_error": {}, "nmf_correlation": {}}
    for line, m in windows.items():
        truth = sim.net_counts[line].data
        mask = truth > min(100.0, 0.5 * float(truth.max()))
        scores["windows_total_relative_error"][line] = float(m.data[mask].sum() / truth[mask].sum() - 1)
    for key, m in nmf.items():
        el = key.split("_")[0]
        if el in sim.areal_density:
            r = np.corrcoef(m.data.ravel(), sim.areal_density[el].ravel())[0, 1]
            scores["nmf_correlation"][key] = float(r)
    return scores


def cmd_demo(args) -> int:
    from . import datasets
    from .io import atomic_path, save
    from .spectral import extract_maps

    out = Path(args.out)
    t0 = time.perf_counter()
    progress = not args.no_progress
    print(f"simulating '{args.phantom}' at {args.size}^3 voxels ...", flush=True)
    sim = datasets.simulate(args.phantom, size=args.size, seed=args.seed, drift=args.drift,
                            tilt_axis_rotation=args.rotation, progress=progress)
    t_sim = time.perf_counter() - t0
    paths = sim.save(out)
    print("extracting element maps: windows and NMF ...", flush=True)
    t1 = time.perf_counter()
    windows = extract_maps(sim.eds, method="windows", progress=progress)
    t_win = time.perf_counter() - t1
    nmf = extract_maps(sim.eds, sim.lines, method="nmf", progress=progress)
    t_nmf = time.perf_counter() - t1 - t_win
    for method, maps in (("windows", windows), ("nmf", nmf)):
        for key, m in maps.items():
            paths[f"{method}_{key}"] = save(m, out / "maps" / f"{method}_{key}.hspy")
    paths["nmf_factors"] = save(nmf.factors, out / "maps" / "nmf_factors.hspy")
    fig = _demo_figure(sim, windows, nmf, out / "demo_projections.png")
    scores = _map_scores(sim, windows, nmf)
    summary = {
        "phantom": sim.phantom.name, "description": sim.phantom.description,
        "size": list(sim.phantom.shape), "voxel_size_nm": sim.phantom.voxel_size,
        "tilts_deg": [float(sim.tilts[0]), float(sim.tilts[-1]), len(sim.tilts)],
        "principal_lines": sim.lines, "acquisition": sim.acquisition,
        "mean_haadf_counts": float(sim.haadf.data.mean()),
        "mean_net_counts_per_pixel": {ln: float(sim.net_counts[ln].data.mean()) for ln in sim.lines},
        "maps": {"windows": list(windows), "nmf": list(nmf), "nmf_components": nmf.parameters["n_components"],
                 **scores},
        "seconds": {"simulation": round(t_sim, 2), "windows": round(t_win, 2), "nmf": round(t_nmf, 2)},
        "files": {k: str(v) for k, v in paths.items()} | {"figure": str(fig)},
    }
    with atomic_path(out / "demo_summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float))
    print(f"wrote {len(paths)} signals to {out}/ (HAADF, EDS {sim.eds.data.shape}, ground truth, maps)")
    print(f"figure: {fig}")
    print(f"mean counts per pixel: HAADF {summary['mean_haadf_counts']:.0f}, "
          + ", ".join(f"{k} {v:.1f}" for k, v in summary["mean_net_counts_per_pixel"].items()))
    print("windows net counts vs truth: "
          + ", ".join(f"{k} {100 * v:+.1f} %" for k, v in scores["windows_total_relative_error"].items()))
    print(f"NMF ({nmf.parameters['n_components']} components) correlation with true element maps: "
          + ", ".join(f"{k} {v:.3f}" for k, v in scores["nmf_correlation"].items()))
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
