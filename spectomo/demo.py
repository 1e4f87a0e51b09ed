"""``spectomo demo``: the whole pipeline on a simulated dataset, with figures and scores.

Simulate (with drift and a tilt-axis offset) → save with ground truth → element maps (windows and
NMF) → align the HAADF (phase correlation + centre-of-mass tilt axis) → ``align_other`` on the
window maps → SIRT of every map and of the HAADF → coupled TGV–KL of HAADF + maps (OpenCL) → HEBT
of HAADF + principal-line maps (OpenCL) → quantification of each into weight-fraction and density
volumes → orthoslice figures, scores and a true-vs-measured composition table.
"""

from __future__ import annotations

import json
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


def _save_figure(fig, title: str, path: Path) -> Path:
    """Title, write atomically as PNG, close."""
    import matplotlib.pyplot as plt

    from .io import atomic_path

    fig.suptitle(title, fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path


def _volumes_figure(volumes: dict, unaligned: dict, title: str, path: Path) -> Path:
    """Three central orthoslices of each aligned volume, and the y–z slice without alignment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(volumes), 4, figsize=(12, 3.0 * len(volumes)), squeeze=False,
                             constrained_layout=True)
    for row, (name, rec) in zip(axes, volumes.items()):
        vol = rec.data
        ix, iy, iz = (n // 2 for n in vol.shape)
        cuts = [(vol[ix], f"{name}: y–z slice x={ix}"), (vol[:, iy], f"x–z slice y={iy}"),
                (vol[:, :, iz], f"x–y slice z={iz}"), (unaligned[name].data[ix], "y–z slice, not aligned")]
        vmax = float(np.percentile(vol, 99.9)) or 1.0
        for ax, (img, label) in zip(row, cuts):
            im = ax.imshow(img, cmap="inferno", vmin=0, vmax=vmax, origin="lower")
            ax.set_title(label, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=row[-1], shrink=0.8, label="counts / voxel")
    return _save_figure(fig, title, path)


def _align_and_reconstruct(sim, windows, out: Path, *, iterations: int, progress: bool) -> dict:
    """HAADF alignment → align_other on the window maps → SIRT; volumes saved, scored and plotted."""
    from .io import save
    from .metrics import psnr

    ali = sim.haadf.stack_register("PC", progress=progress).tilt_align("CoM")
    maps = ali.align_other(windows)
    err = ali.shifts + sim.shifts
    err -= err.mean(axis=0)
    stacks = {"HAADF": (ali, sim.haadf), **{k: (maps[k], windows[k]) for k in maps}}
    volumes, unaligned, paths, scores = {}, {}, {}, {}
    for name, (aligned, raw) in stacks.items():
        volumes[name] = aligned.reconstruct("SIRT", iterations=iterations, progress=progress)
        unaligned[name] = raw.reconstruct("SIRT", iterations=iterations, progress=progress)
        paths[f"sirt_{name}"] = save(volumes[name], out / "recon" / f"sirt_{name}.hspy")
        if name in sim.net_counts:
            truth = sim.count_volume(name)
            scores[name] = {"psnr_aligned_db": psnr(volumes[name].data, truth),
                            "psnr_unaligned_db": psnr(unaligned[name].data, truth)}
    md = ali.metadata.Tomography
    figure = _volumes_figure(volumes, unaligned, f"SIRT-{iterations} after HAADF alignment "
                             f"({sim.phantom.description})", out / "demo_volumes.png")
    return {"paths": paths, "figure": figure, "reconstruction": scores, "sirt": volumes,
            "aligned": {name: pair[0] for name, pair in stacks.items()},
            "alignment": {"shift_rms_error_px": float(np.sqrt((err**2).sum(axis=1).mean())),
                          "tilt_axis_offset_px": float(md.tilt_axis_offset),
                          "tilt_axis_rotation_deg": float(md.tilt_axis_rotation)}}


def _methods_figure(columns: dict, truth: dict, path: Path, title: str) -> Path:
    """Central y–z slice per channel (rows): the truth, then one column per method.

    ``columns``: label → {channel: RecStack}; a channel missing from a method is left blank.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(n for vols in columns.values() for n in vols))
    ncol = 1 + len(columns)
    fig, axes = plt.subplots(len(names), ncol, figsize=(2.9 * ncol, 3.0 * len(names)), squeeze=False,
                             constrained_layout=True)
    for row, name in zip(axes, names):
        ref = truth.get(name)
        vols = [(ref, f"{name}: truth")] + [(None if name not in v else np.asarray(v[name].data), label)
                                            for label, v in columns.items()]
        shown = next(v for v, _ in vols if v is not None)
        ix = shown.shape[0] // 2
        vmax = float(np.percentile(shown, 99.9)) or 1.0
        im = None
        for ax, (vol, label) in zip(row, vols):
            ax.set_xticks([])
            ax.set_yticks([])
            if vol is None:
                ax.set_title(f"{label} (n/a)", fontsize=9)
                continue
            im = ax.imshow(vol[ix], cmap="inferno", vmin=0, vmax=vmax, origin="lower")
            ax.set_title(label, fontsize=9)
        fig.colorbar(im, ax=row[-1], shrink=0.8, label="counts / voxel")
    return _save_figure(fig, title, path)


def _tgv(sim, aligned: dict, sirt: dict, out: Path, *, iterations: int, progress: bool) -> dict:
    """Coupled TGV–KL of the aligned HAADF and maps; saved, scored against the truth and plotted."""
    import warnings

    from .io import save
    from .metrics import psnr
    from .recon.opencl import OpenCLUnavailableError
    from .recon.tgv import reconstruct_tgv

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vols = reconstruct_tgv(aligned, iterations=iterations, progress=progress)
    except OpenCLUnavailableError as err:
        return {"skipped": str(err).splitlines()[0]}
    truth = {"HAADF": sim.haadf_volume(), **{k: sim.count_volume(k) for k in vols if k in sim.net_counts}}
    paths = {f"tgv_{k}": save(v, out / "recon" / f"tgv_{k}.hspy") for k, v in vols.items()}
    scores = {k: {"psnr_sirt_db": psnr(sirt[k].data, t), "psnr_tgv_db": psnr(vols[k].data, t)}
              for k, t in truth.items()}
    md = next(iter(vols.values())).metadata.Reconstruction
    return {"paths": paths, "volumes": vols, "scores": scores, "seconds": float(md.seconds),
            "device": md.device, "iterations": int(md.iterations),
            "warnings": [str(w.message).split(";")[0] for w in caught]}


def _hebt(sim, aligned: dict, sirt: dict, out: Path, *, iterations: int, alpha: float, progress: bool) -> dict:
    """HEBT of the aligned HAADF with the principal-line maps; saved and scored against the truth."""
    from .io import save
    from .metrics import psnr, scaled_mse, ssim_structure
    from .recon.hebt import reconstruct_hebt
    from .recon.opencl import OpenCLUnavailableError
    from .recon.ratios import ResponseFitError

    maps = {k: aligned[k] for k in sim.lines if k in aligned}
    try:
        res = reconstruct_hebt(aligned["HAADF"], maps, alpha=alpha, iterations=iterations, progress=progress)
    except (OpenCLUnavailableError, ResponseFitError) as err:
        return {"skipped": str(err).splitlines()[0]}
    paths = {f"hebt_{k}": save(v, out / "recon" / f"hebt_{k}.hspy") for k, v in res.volumes.items()}
    paths["hebt_HAADF_model"] = save(res.haadf, out / "recon" / "hebt_HAADF_model.hspy")
    scores = {}
    for k, v in res.volumes.items():
        t = sim.count_volume(k)
        scores[k] = {f"{m}_{label}": fn(vol, t) for label, vol in (("sirt", sirt[k].data), ("hebt", v.data))
                     for m, fn in (("psnr_db", psnr), ("ssim_s", ssim_structure), ("mse_rel", scaled_mse))}
    md = next(iter(res.volumes.values())).metadata.Reconstruction
    return {"paths": paths, "volumes": dict(res.volumes, HAADF=res.haadf), "scores": scores, "result": res,
            "ratios": res.ratios, "r2": res.r2, "alpha": alpha, "iterations": int(md.iterations),
            "seconds": float(md.seconds), "device": md.device,
            "final_residuals": {k: float(v[-1]) for k, v in res.residuals.items()}}


def _quantify(sim, columns: dict, hebt_result, out: Path) -> dict:
    """Weight fractions from every reconstruction (ζ method; HEBT with its z_A method), saved, scored
    per majority region (core/shell) against the phantom and shown as central orthoslices."""
    from .io import atomic_path
    from .quantify import quantify

    regions = sim.phantom.majority_regions()
    both = np.any(list(regions.values()), axis=0)
    truth_wt = {el: 100 * c for el, c in sim.phantom.weight_fractions.items()}
    table, quants, paths = {}, {}, {}
    for label, vols in columns.items():
        if label.startswith("HEBT") and hebt_result is not None:
            q = hebt_result.quantify(progress=False)
        else:
            q = quantify({k: vols[k] for k in sim.lines}, method="zeta", progress=False)
        slug = label.split(" ")[0].split("-")[0].lower().replace("–", "_")
        paths[f"quant_{slug}"] = q.save(out / "quant" / f"{slug}.hspy")
        quants[label] = q
        inside = np.asarray(q.mask.data, dtype=bool)
        rows = {}
        for el, region in regions.items():
            meas = q.mean_composition(region)
            rows[f"{el}-rich"] = {e: {"true": float(truth_wt[e][region & inside].mean()), "measured": v}
                                  for e, v in meas.items()}
        rho = q.mean_density(both)
        table[label] = {"method": q.parameters["method"], "regions": rows, "mean_density_g_cm3": rho,
                        "threshold": q.parameters["threshold"], "mask_voxels": int(inside.sum())}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    els = sim.phantom.elements
    ix = sim.phantom.shape[0] // 2
    rows = [("truth", {el: truth_wt[el][ix] for el in els}, sim.phantom.density[ix])]
    rows += [(label, {el: np.asarray(q.weight_percent[el].data[ix]) for el in els},
              None if q.density is None else np.asarray(q.density.data[ix])) for label, q in quants.items()]
    vmax = float(sim.phantom.density.max()) * 1.2
    fig, axes = plt.subplots(len(rows), len(els) + 1, figsize=(2.7 * (len(els) + 1), 2.5 * len(rows)),
                             constrained_layout=True, squeeze=False)
    for r, (label, wt, rho) in enumerate(rows):
        for c, el in enumerate(els):
            im = axes[r, c].imshow(wt[el], vmin=0, vmax=100, cmap="viridis", origin="lower")
            axes[r, c].set_title(f"{label}: {el} wt%", fontsize=8)
        if rho is not None:
            im2 = axes[r, -1].imshow(rho, vmin=0, vmax=vmax, cmap="magma", origin="lower")
            axes[r, -1].set_title(f"{label}: ρ (g/cm³)", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im, ax=axes[:, :-1], shrink=0.6, label="wt%")
    fig.colorbar(im2, ax=axes[:, -1], shrink=0.6, label="g/cm³")
    fig.suptitle(f"Weight fractions and density, slice x = {ix} ({sim.phantom.name})")
    path = out / "demo_quantification.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return {"table": table, "paths": paths, "figure": path,
            "true_mean_density": float(sim.phantom.density[both].mean())}


def _print_quantification(quant: dict) -> None:
    print("weight fractions, mean wt% inside each region (true → measured):")
    for label, row in quant["table"].items():
        parts = []
        for region, vals in row["regions"].items():
            parts.append(f"{region}: " + ", ".join(f"{e} {v['true']:.1f} → {v['measured']:.1f}"
                                                 for e, v in vals.items()))
        rho = row["mean_density_g_cm3"]
        print(f"  {label} [{row['method']}]: " + "; ".join(parts)
              + ("" if rho is None else f"; ρ {rho:.2f} g/cm³"))


def run_demo(args) -> int:
    from . import datasets
    from .io import atomic_path, save
    from .spectral import extract_maps

    out = Path(args.out)
    t0 = time.perf_counter()
    progress = not args.no_progress
    print(f"simulating '{args.phantom}' at {args.size}^3 voxels ...", flush=True)
    sim = datasets.simulate(args.phantom, size=args.size, seed=args.seed, drift=args.drift,
                            tilt_axis_offset=args.offset, tilt_axis_rotation=args.rotation,
                            progress=progress)
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
    print("aligning the HAADF (PC + CoM tilt axis) and reconstructing every map (SIRT) ...", flush=True)
    t2 = time.perf_counter()
    recon = _align_and_reconstruct(sim, windows, out, iterations=args.iterations, progress=progress)
    t_rec = time.perf_counter() - t2
    paths.update(recon.pop("paths"))
    aligned, sirt = recon.pop("aligned"), recon.pop("sirt")
    t3 = time.perf_counter()
    if args.tgv_iterations > 0:
        print(f"coupled TGV-KL of HAADF + maps ({args.tgv_iterations} iterations, OpenCL) ...", flush=True)
        tgv = _tgv(sim, aligned, sirt, out, iterations=args.tgv_iterations, progress=progress)
    else:
        tgv = {"skipped": "--tgv-iterations 0"}
    t_tgv = time.perf_counter() - t3
    paths.update(tgv.pop("paths", {}))
    t4 = time.perf_counter()
    if args.hebt_iterations > 0:
        print(f"HEBT of HAADF + maps (α = {args.hebt_alpha:g}, {args.hebt_iterations} iterations, OpenCL) ...",
              flush=True)
        hebt = _hebt(sim, aligned, sirt, out, iterations=args.hebt_iterations, alpha=args.hebt_alpha,
                     progress=progress)
    else:
        hebt = {"skipped": "--hebt-iterations 0"}
    t_hebt = time.perf_counter() - t4
    paths.update(hebt.pop("paths", {}))
    columns = {f"SIRT-{args.iterations}": sirt}
    if "volumes" in tgv:
        columns[f"TGV–KL ({tgv['iterations']} it)"] = tgv.pop("volumes")
    if "volumes" in hebt:
        columns[f"HEBT (α {args.hebt_alpha:g}, {hebt['iterations']} it)"] = hebt.pop("volumes")
    truth = {"HAADF": sim.haadf_volume(), **{k: sim.count_volume(k) for k in sim.lines}}
    methods_fig = _methods_figure(columns, truth, out / "demo_methods.png",
                                  f"{' vs '.join(columns)} ({sim.phantom.name}, central slice)")
    print("quantifying every reconstruction into weight fractions ...", flush=True)
    t5 = time.perf_counter()
    quant = _quantify(sim, columns, hebt.pop("result", None), out)
    t_quant = time.perf_counter() - t5
    paths.update(quant.pop("paths"))
    summary = {
        "phantom": sim.phantom.name, "description": sim.phantom.description,
        "size": list(sim.phantom.shape), "voxel_size_nm": sim.phantom.voxel_size,
        "tilts_deg": [float(sim.tilts[0]), float(sim.tilts[-1]), len(sim.tilts)],
        "principal_lines": sim.lines, "acquisition": sim.acquisition,
        "mean_haadf_counts": float(sim.haadf.data.mean()),
        "mean_net_counts_per_pixel": {ln: float(sim.net_counts[ln].data.mean()) for ln in sim.lines},
        "maps": {"windows": list(windows), "nmf": list(nmf), "nmf_components": nmf.parameters["n_components"],
                 **scores},
        "alignment": recon["alignment"], "reconstruction": recon["reconstruction"],
        "tgv": tgv, "hebt": hebt,
        "quantification": {"table": quant["table"], "true_mean_density_g_cm3": quant["true_mean_density"]},
        "seconds": {"simulation": round(t_sim, 2), "windows": round(t_win, 2), "nmf": round(t_nmf, 2),
                    "align_and_reconstruct": round(t_rec, 2), "tgv": round(t_tgv, 2),
                    "hebt": round(t_hebt, 2), "quantification": round(t_quant, 2)},
        "files": {k: str(v) for k, v in paths.items()} | {"figure": str(fig),
                                                           "volumes_figure": str(recon["figure"])}
        | {"methods_figure": str(methods_fig), "quantification_figure": str(quant["figure"])},
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
    al = recon["alignment"]
    print(f"alignment: shift error {al['shift_rms_error_px']:.2f} px RMS; tilt-axis offset "
          f"{al['tilt_axis_offset_px']:+.2f} px (true {-args.offset:+.2f}), rotation "
          f"{al['tilt_axis_rotation_deg']:+.2f}° (true {-args.rotation:+.2f}°)")
    print(f"SIRT-{args.iterations} PSNR vs truth (aligned / unaligned): "
          + ", ".join(f"{k} {v['psnr_aligned_db']:.1f} / {v['psnr_unaligned_db']:.1f} dB"
                      for k, v in recon["reconstruction"].items()))
    print(f"volumes figure: {recon['figure']}")
    if "skipped" in tgv:
        print(f"TGV-KL skipped: {tgv['skipped']}")
    else:
        print(f"TGV-KL ({tgv['iterations']} iterations on {tgv['device']}, {tgv['seconds']:.1f} s) PSNR vs "
              "truth (SIRT → TGV): " + ", ".join(f"{k} {v['psnr_sirt_db']:.1f} → {v['psnr_tgv_db']:.1f} dB"
                                                   for k, v in tgv["scores"].items()))
        if tgv["warnings"]:
            print("  note: " + "; ".join(tgv["warnings"]))
    if "skipped" in hebt:
        print(f"HEBT skipped: {hebt['skipped']}")
    else:
        print(f"HEBT (α = {hebt['alpha']:g}, {hebt['iterations']} iterations, {hebt['seconds']:.1f} s; ratios "
              + ", ".join(f"{k} {v:.0f}" for k, v in hebt["ratios"].items()) + f", R² {hebt['r2']:.3f})")
        for k, v in hebt["scores"].items():
            print(f"  {k}: PSNR {v['psnr_db_sirt']:.1f} → {v['psnr_db_hebt']:.1f} dB, SSIM_s {v['ssim_s_sirt']:.3f} → "
                  f"{v['ssim_s_hebt']:.3f}, MSE {v['mse_rel_sirt']:.3f} → {v['mse_rel_hebt']:.3f} (SIRT → HEBT)")
    print(f"methods figure: {methods_fig}")
    _print_quantification(quant)
    print(f"  true mean density {quant['true_mean_density']:.2f} g/cm³; quantification figure: {quant['figure']}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
