"""``spectomo demo``: the whole pipeline on a simulated dataset, with figures and scores.

Simulate (with drift and a tilt-axis offset) → save with ground truth → element maps (windows and
NMF) → align the HAADF (phase correlation + centre-of-mass tilt axis) → ``align_other`` on the
window maps → SIRT of every map and of the HAADF → coupled TGV–KL of HAADF + maps (OpenCL) → HEBT
of HAADF + principal-line maps (OpenCL) → quantification of each into weight-fraction and density
volumes → orthoslice figures, scores and a true-vs-measured composition table. A last stage
simulates a second specimen with X-ray absorption (an Al–Cu–Mg particle towards a Super-X) and
corrects it (:func:`spectomo.correct_absorption`), printing thin-film against corrected wt%.

:func:`run_demo` does the work and returns the summary (also written to ``demo_summary.json``);
:func:`format_summary` turns it into the lines ``spectomo demo`` prints. Figures and scores come
from :mod:`spectomo.evaluation`.
"""

from __future__ import annotations

import html
import json
import time
import warnings
from pathlib import Path

import numpy as np

from . import evaluation as ev
from .io import atomic_path, save

__all__ = ["run_demo", "format_summary"]


def _maps(sim, out: Path, *, progress: bool) -> tuple[dict, dict, dict]:
    """Window, fit and NMF maps: saved, scored against the truth and shown with the spectrum."""
    from .spectral import extract_maps

    maps, seconds = {}, {}
    for method in ("windows", "fit", "nmf"):
        t = time.perf_counter()
        maps[method] = extract_maps(sim.eds, sim.lines, method=method, progress=progress)
        seconds[method] = time.perf_counter() - t
    paths = {f"{method}_{k}": save(m, out / "maps" / f"{method}_{k}.hspy")
             for method, stacks in maps.items() for k, m in stacks.items()}
    nmf = maps["nmf"]
    paths["nmf_factors"] = save(nmf.factors, out / "maps" / "nmf_factors.hspy")
    paths["fit_quality"] = save(maps["fit"].quality, out / "maps" / "fit_quality.hspy")
    paths["figure"] = ev.save_figure(ev.spectral_figure(sim, maps["windows"], nmf), out / "demo_projections.png",
                                     dpi=110)
    summary = {"windows": list(maps["windows"]), "nmf": list(nmf), "nmf_components": nmf.parameters["n_components"],
               "total_relative_error": {m: ev.net_count_errors(maps[m], sim.net_counts) for m in maps},
               "nmf_correlation": ev.map_correlations(nmf, sim.areal_density), "seconds": seconds}
    return maps, paths, summary


def _align_and_sirt(sim, windows, out: Path, *, iterations: int, progress: bool) -> tuple[dict, dict, dict]:
    """HAADF alignment → align_other on the window maps → SIRT, aligned and not; saved and scored."""
    ali = sim.haadf.stack_register("PC", progress=progress).tilt_align("CoM")
    maps = ali.align_other(windows)
    err = ali.shifts + sim.shifts
    err -= err.mean(axis=0)
    stacks = {"HAADF": (ali, sim.haadf), **{k: (maps[k], windows[k]) for k in maps}}
    sirt = {n: a.reconstruct("SIRT", iterations=iterations, progress=progress) for n, (a, _) in stacks.items()}
    raw = {n: r.reconstruct("SIRT", iterations=iterations, progress=progress) for n, (_, r) in stacks.items()}
    paths = {f"sirt_{n}": save(v, out / "recon" / f"sirt_{n}.hspy") for n, v in sirt.items()}
    fig = ev.orthoslices_figure(sirt, compare=raw, compare_label="not aligned")
    ev.add_scale_bars(fig, sim.phantom.voxel_size, "nm")
    paths["volumes_figure"] = ev.save_figure(fig, out / "demo_volumes.png", title=(
        f"SIRT-{iterations} after HAADF alignment ({sim.phantom.description})"))
    # the iteration count chosen from the data (data splitting), beside the fixed count
    auto = {n: maps[n].reconstruct("SIRT", iterations="auto", progress=progress) for n in maps}
    paths.update({f"sirt_auto_{n}": save(v, out / "recon" / f"sirt_auto_{n}.hspy") for n, v in auto.items()})
    md = ali.metadata.Tomography
    summary = {"alignment": {"shift_rms_error_px": float(np.sqrt((err**2).sum(axis=1).mean())),
                             "tilt_axis_offset_px": float(md.tilt_axis_offset),
                             "tilt_axis_rotation_deg": float(md.tilt_axis_rotation)},
               "reconstruction": {n: {"psnr_aligned_db": ev.psnr(sirt[n].data, sim.count_volume(n)),
                                      "psnr_unaligned_db": ev.psnr(raw[n].data, sim.count_volume(n))}
                                  for n in sirt if n in sim.net_counts},
               "sirt_auto": {n: {"iterations": int(v.metadata.Reconstruction.auto.chosen),
                                 "psnr_db": ev.psnr(v.data, sim.count_volume(n))} for n, v in auto.items()}}
    return {"haadf": ali, "maps": maps, "sirt": sirt}, paths, summary


def _joint(sim, aligned: dict, sirt: dict, out: Path, *, solver: str, iterations: int, alpha: float,
           progress: bool):
    """TGV–KL or HEBT of the aligned HAADF and principal-line maps; saved and scored beside SIRT.
    Returns (RecStacks or None, paths, summary)."""
    from .opencl import OpenCLUnavailableError
    from .recon import ResponseFitError, reconstruct_hebt, reconstruct_tgv

    maps = {k: aligned["maps"][k] for k in sim.lines if k in aligned["maps"]}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if solver == "tgv":
                res = reconstruct_tgv(aligned["haadf"], dict(aligned["maps"]), iterations=iterations, progress=progress)
            else:
                res = reconstruct_hebt(aligned["haadf"], maps, alpha=alpha, iterations=iterations, progress=progress)
    except (OpenCLUnavailableError, ResponseFitError) as err:
        return None, {}, {"skipped": str(err).splitlines()[0]}
    name = "HAADF" if solver == "tgv" else "HAADF_model"
    paths = {f"{solver}_{k}": save(v, out / "recon" / f"{solver}_{k}.hspy") for k, v in {**res, name: res.haadf}.items()}
    truth = {**({"HAADF": sim.haadf_volume()} if solver == "tgv" else {}), **{k: sim.count_volume(k) for k in res}}
    vols = {**res, "HAADF": res.haadf}
    metrics = ("psnr",) if solver == "tgv" else ("psnr", "ssim_s", "mse")
    scores = {k: {f"{m}_{label}": ev.METRICS[m][0](np.asarray(v[k].data), t) for m in metrics
                  for label, v in (("sirt", sirt), (solver, vols))} for k, t in truth.items()}
    p = res.parameters
    summary = {"scores": scores, "iterations": int(p["iterations"]), "seconds": float(p["seconds"]),
               "device": p["device"], "warnings": [str(w.message).split(";")[0] for w in caught]}
    if solver == "hebt":
        summary.update(ratios=res.ratios, r2=res.r2, alpha=alpha,
                       final_residuals={k: float(v[-1]) for k, v in res.residuals.items()})
    return res, paths, summary


def _quantify(sim, columns: dict, out: Path) -> tuple[dict, dict]:
    """Weight fractions from every reconstruction (ζ method; HEBT with its z_A method), saved,
    scored per majority region (core/shell) against the phantom and shown as slices."""
    from .quantify import quantify

    regions = sim.phantom.majority_regions()
    both = np.any(list(regions.values()), axis=0)
    table, quants, paths = {}, {}, {}
    for label, vols in columns.items():
        # HEBT volumes bring their response ratios (z_A method); the others use the ζ method
        q = quantify(vols if getattr(vols, "ratios", None) else {k: vols[k] for k in sim.lines}, progress=False)
        slug = label.split(" ")[0].split("-")[0].lower().replace("–", "_")
        paths[f"quant_{slug}"] = q.save(out / "quant" / f"{slug}.hspy")
        quants[label] = q
        table[label] = {"method": q.parameters["method"], "threshold": q.parameters["threshold"],
                        "regions": {f"{el}-rich": row for el, row in ev.composition_table(q, sim.phantom).items()},
                        "mean_density_g_cm3": q.mean_density(both), "mask_voxels": int(np.sum(q.mask.data))}
    fig = ev.quantification_figure(sim.phantom, quants)
    ev.add_scale_bars(fig, sim.phantom.voxel_size, "nm")
    paths["quantification_figure"] = ev.save_figure(fig,
                                                    out / "demo_quantification.png", dpi=110)
    return paths, {"table": table, "true_mean_density_g_cm3": float(sim.phantom.density[both].mean())}


def _absorption(out: Path, *, size: int, seed: int, iterations: int, progress: bool) -> tuple[dict, dict]:
    """A second simulation with absorption (alcu_particle, Super-X, noise) → line-fit maps →
    correct_absorption (SIRT); thin-film and corrected compositions against the phantom."""
    from . import datasets
    from .absorption import correct_absorption
    from .spectral import extract_maps

    t = time.perf_counter()
    sim = datasets.simulate("alcu_particle", size=size, seed=seed, absorption=True, progress=progress)
    maps = extract_maps(sim.eds, sim.lines, method="fit", progress=progress)
    res = correct_absorption(maps, recon_options={"iterations": iterations}, progress=progress)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    res.plot(ax)
    ax.set_title(f"{sim.phantom.name}: modelled transmission (Super-X)")
    fig.tight_layout()
    paths = {"absorption_figure": ev.save_figure(fig, out / "demo_absorption.png", dpi=110),
             "absorption_quant": res.quantification.save(out / "quant" / "absorption_corrected.hspy")}
    tables = {label: {f"{el}-rich": row for el, row in ev.composition_table(q, sim.phantom).items()}
              for label, q in (("thin film", res.uncorrected), ("corrected", res.quantification))}
    return paths, {"phantom": sim.phantom.name, "size": size, "passes": res.parameters["iterations_run"],
                   "mean_transmission": {k: float(v.mean()) for k, v in res.transmission.items()},
                   "true_mean_transmission": {k: float(sim.absorption["transmission"][k].mean()) for k in sim.lines},
                   "tables": tables, "worst_error_wt%": {k: ev.worst_composition_error(
                       ev.composition_table(q, sim.phantom)) for k, q in (("thin film", res.uncorrected),
                                                                          ("corrected", res.quantification))},
                   "seconds": time.perf_counter() - t}


def run_demo(out="spectomo_demo", *, phantom: str = "core_shell", size: int = 64, seed: int = 0,
             drift: float = 1.0, offset: float = 1.5, rotation: float = 0.0, iterations: int = 100,
             tgv_iterations: int = 500, hebt_iterations: int = 100, hebt_alpha: float = 0.8,
             absorption_size: int = 24, progress: bool = True, log=print) -> dict:
    """Run the whole pipeline on a simulated tilt series and write everything into ``out``.

    Parameters
    ----------
    out : path
        Output folder (created).
    phantom, size, seed : str, int, int
        Simulated phantom (:data:`spectomo.datasets.PHANTOMS`), voxels per side, random seed.
    drift, offset, rotation : float
        Random-walk drift step (px), tilt-axis offset (px) and rotation (degrees) of the simulation.
    iterations : int
        SIRT iterations.
    tgv_iterations, hebt_iterations : int
        Coupled TGV–KL and HEBT iterations; 0 skips that solver.
    hebt_alpha : float
        HEBT weight of the HAADF.
    absorption_size : int
        Voxels per side of the absorption stage's particle; 0 skips the stage.
    progress : bool
        Progress bars.
    log : callable
        Receives one line per stage as it starts (``print`` by default; None for silence).

    Returns
    -------
    dict
        The summary written to ``out/demo_summary.json``: scores, timings and file paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    from . import datasets

    say = log or (lambda *_: None)
    out = Path(out)
    t0 = time.perf_counter()
    seconds = {}
    say(f"simulating '{phantom}' at {size}^3 voxels ...")
    sim = datasets.simulate(phantom, size=size, seed=seed, drift=drift, tilt_axis_offset=offset,
                            tilt_axis_rotation=rotation, progress=progress)
    paths = dict(sim.save(out))
    seconds["simulation"] = time.perf_counter() - t0
    say("extracting element maps: windows, line fit and NMF ...")
    maps, p, maps_summary = _maps(sim, out, progress=progress)
    windows = maps["windows"]
    paths.update(p)
    seconds.update(maps_summary.pop("seconds"))
    say("aligning the HAADF (PC + CoM tilt axis) and reconstructing every map (SIRT) ...")
    t = time.perf_counter()
    aligned, p, recon = _align_and_sirt(sim, windows, out, iterations=iterations, progress=progress)
    paths.update(p)
    seconds["align_and_reconstruct"] = time.perf_counter() - t
    columns = {f"SIRT-{iterations}": aligned["sirt"]}
    joint = {}
    for solver, its, label in (("tgv", tgv_iterations, "TGV-KL"), ("hebt", hebt_iterations, "HEBT")):
        t = time.perf_counter()
        if its > 0:
            say(f"{label} of HAADF + maps ({its} iterations, OpenCL) ...")
            res, p, joint[solver] = _joint(sim, aligned, aligned["sirt"], out, solver=solver, iterations=its,
                                           alpha=hebt_alpha, progress=progress)
            paths.update(p)
            if res is not None:
                name = (f"TGV–KL ({res.parameters['iterations']} it)" if solver == "tgv"
                        else f"HEBT (α {hebt_alpha:g}, {res.parameters['iterations']} it)")
                columns[name] = res
        else:
            joint[solver] = {"skipped": f"--{solver}-iterations 0"}
        seconds[solver] = time.perf_counter() - t
    truth = {"HAADF": sim.haadf_volume(), **{k: sim.count_volume(k) for k in sim.lines}}
    shown = {label: {**vols, **({"HAADF": vols.haadf} if getattr(vols, "haadf", None) is not None else {})}
             for label, vols in columns.items()}
    fig = ev.methods_figure(shown, truth)
    ev.add_scale_bars(fig, sim.phantom.voxel_size, "nm")
    paths["methods_figure"] = ev.save_figure(fig, out / "demo_methods.png", title=(
        f"{' vs '.join(columns)} ({sim.phantom.name}, central slice)"))
    say("quantifying every reconstruction into weight fractions ...")
    t = time.perf_counter()
    # the same pipeline from the NMF line maps, to compare with the window maps
    nmf_maps = aligned["haadf"].align_other({k: maps["nmf"][k] for k in sim.lines})
    columns[f"SIRT-{iterations} (NMF maps)"] = {
        k: m.reconstruct("SIRT", iterations=iterations, progress=progress) for k, m in nmf_maps.items()}
    p, quant = _quantify(sim, columns, out)
    paths.update(p)
    seconds["quantification"] = time.perf_counter() - t
    absorption = {"skipped": "absorption_size 0"}
    if absorption_size:
        say(f"absorption: an Al–Cu–Mg particle ({absorption_size}^3) towards a Super-X, corrected in 3D ...")
        p, absorption = _absorption(out, size=absorption_size, seed=seed, iterations=iterations, progress=progress)
        paths.update(p)
        seconds["absorption"] = absorption.pop("seconds")
    seconds["total"] = time.perf_counter() - t0
    summary = {
        "phantom": sim.phantom.name, "description": sim.phantom.description,
        "size": list(sim.phantom.shape), "voxel_size_nm": sim.phantom.voxel_size,
        "tilts_deg": [float(sim.tilts[0]), float(sim.tilts[-1]), len(sim.tilts)],
        "truth_offset_px": -offset, "truth_rotation_deg": -rotation, "sirt_iterations": iterations,
        "principal_lines": sim.lines, "acquisition": sim.acquisition,
        "mean_haadf_counts": float(sim.haadf.data.mean()),
        "mean_net_counts_per_pixel": {ln: float(sim.net_counts[ln].data.mean()) for ln in sim.lines},
        "eds_shape": list(sim.eds.data.shape), "maps": maps_summary, **recon, **joint, "quantification": quant,
        "absorption": absorption, "seconds": {k: round(v, 2) for k, v in seconds.items()}, "files": {k: str(v) for k, v in paths.items()},
    }
    for solver in ("tgv", "hebt"):
        summary.setdefault(solver, joint.get(solver, {"skipped": "not run"}))
    with atomic_path(out / "demo_summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float))
    summary["files"]["report"] = str(_report(summary, out))
    return summary


def _report(summary: dict, out: Path) -> Path:
    """``out/report.html``: the demo's figures (embedded), its printed summary and the truth-vs-
    measured composition tables, as one self-contained page."""
    from .pipeline.report import html_page, image_html, table_html, versions_table

    f = summary["files"]
    figures = [(key, caption) for key, caption in (
        ("figure", "HAADF, window and NMF maps at 0°, and the sum spectrum"),
        ("volumes_figure", "SIRT volumes after HAADF alignment, and the first without alignment"),
        ("methods_figure", "Truth, SIRT and the joint solvers on the central slice (counts / voxel)"),
        ("quantification_figure", "Weight fractions (wt%) and density (g/cm³): truth and each method"),
        ("absorption_figure", "Absorption stage: modelled transmission")) if key in f]
    rows = [{"method": label, "region": region, "element": el, "true wt%": v["true"], "measured wt%": v["measured"]}
            for label, row in summary["quantification"]["table"].items()
            for region, vals in row["regions"].items() for el, v in vals.items()]
    sections = [("Summary", f"<pre>{html.escape(format_summary(summary))}</pre>"),
                ("Figures", "".join(image_html(f[key], caption) for key, caption in figures)),
                ("Weight fractions inside each region", table_html(rows)),
                ("Versions", versions_table())]
    path = out / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(html_page(f"spectomo demo: {summary['description']}", sections), encoding="utf-8")
    return path


def format_summary(s: dict) -> str:
    """The lines ``spectomo demo`` prints for a :func:`run_demo` summary."""
    m, al, f = s["maps"], s["alignment"], s["files"]
    lines = [f"wrote {len(f)} files to {Path(f['figure']).parent}/ (HAADF, EDS {tuple(s['eds_shape'])}, "
             "ground truth, maps, volumes, quantification)",
             f"figure: {f['figure']}",
             f"mean counts per pixel: HAADF {s['mean_haadf_counts']:.0f}, "
             + ", ".join(f"{k} {v:.1f}" for k, v in s["mean_net_counts_per_pixel"].items()),
             "net counts vs truth (windows / fit / NMF): "
             + ", ".join(f"{k} " + " / ".join(f"{100 * m['total_relative_error'][meth][k]:+.1f}"
                                                for meth in ("windows", "fit", "nmf")) + " %"
                         for k in m["total_relative_error"]["windows"]),
             f"NMF ({m['nmf_components']} components) correlation with true element maps: "
             + ", ".join(f"{k} {v:.3f}" for k, v in m["nmf_correlation"].items()),
             f"alignment: shift error {al['shift_rms_error_px']:.2f} px RMS; tilt-axis offset "
             f"{al['tilt_axis_offset_px']:+.2f} px (true {s['truth_offset_px']:+.2f}), rotation "
             f"{al['tilt_axis_rotation_deg']:+.2f}° (true {s['truth_rotation_deg']:+.2f}°)",
             f"SIRT-{s['sirt_iterations']} PSNR vs truth (aligned / unaligned): "
             + ", ".join(f"{k} {v['psnr_aligned_db']:.1f} / {v['psnr_unaligned_db']:.1f} dB"
                         for k, v in s["reconstruction"].items()),
             "SIRT with iterations='auto' (data splitting): " + ", ".join(
                 f"{k} {v['iterations']} it, {v['psnr_db']:.1f} dB" for k, v in s["sirt_auto"].items()),
             f"volumes figure: {f['volumes_figure']}"]
    tgv, hebt = s["tgv"], s["hebt"]
    if "skipped" in tgv:
        lines.append(f"TGV-KL skipped: {tgv['skipped']}")
    else:
        lines.append(f"TGV-KL ({tgv['iterations']} iterations on {tgv['device']}, {tgv['seconds']:.1f} s) PSNR vs "
                     "truth (SIRT → TGV): " + ", ".join(f"{k} {v['psnr_sirt']:.1f} → {v['psnr_tgv']:.1f} dB"
                                                         for k, v in tgv["scores"].items()))
        if tgv["warnings"]:
            lines.append("  note: " + "; ".join(tgv["warnings"]))
    if "skipped" in hebt:
        lines.append(f"HEBT skipped: {hebt['skipped']}")
    else:
        lines.append(f"HEBT (α = {hebt['alpha']:g}, {hebt['iterations']} iterations, {hebt['seconds']:.1f} s; ratios "
                     + ", ".join(f"{k} {v:.0f}" for k, v in hebt["ratios"].items()) + f", R² {hebt['r2']:.3f})")
        for k, v in hebt["scores"].items():
            lines.append(f"  {k}: PSNR {v['psnr_sirt']:.1f} → {v['psnr_hebt']:.1f} dB, SSIM_s {v['ssim_s_sirt']:.3f} → "
                         f"{v['ssim_s_hebt']:.3f}, MSE {v['mse_sirt']:.3f} → {v['mse_hebt']:.3f} (SIRT → HEBT)")
    lines.append(f"methods figure: {f['methods_figure']}")
    lines.append("weight fractions, mean wt% inside each region (true → measured):")
    for label, row in s["quantification"]["table"].items():
        parts = [f"{region}: " + ", ".join(f"{e} {v['true']:.1f} → {v['measured']:.1f}" for e, v in vals.items())
                 for region, vals in row["regions"].items()]
        rho = row["mean_density_g_cm3"]
        lines.append(f"  {label} [{row['method']}]: " + "; ".join(parts) + ("" if rho is None else f"; ρ {rho:.2f} g/cm³"))
    table = s["quantification"]["table"]
    nmf_label = next((k for k in table if k.endswith("(NMF maps)")), None)
    win_label = f"SIRT-{s['sirt_iterations']}"
    if nmf_label and win_label in table:
        diff = max(abs(v["measured"] - table[win_label]["regions"][r][e]["measured"])
                   for r, vals in table[nmf_label]["regions"].items() for e, v in vals.items())
        lines.append(f"  NMF maps vs window maps (SIRT, ζ): largest wt% difference {diff:.1f} wt%")
    lines.append(f"  true mean density {s['quantification']['true_mean_density_g_cm3']:.2f} g/cm³; "
                 f"quantification figure: {f['quantification_figure']}")
    ab = s.get("absorption", {"skipped": "not run"})
    if "skipped" in ab:
        lines.append(f"absorption stage skipped: {ab['skipped']}")
    else:
        lines.append(f"absorption ({ab['phantom']}, {ab['size']}^3, Super-X): transmission modelled / true "
                     + ", ".join(f"{k} {v:.2f} / {ab['true_mean_transmission'][k]:.2f}"
                                 for k, v in ab["mean_transmission"].items())
                     + f"; worst region wt% error thin film {ab['worst_error_wt%']['thin film']:.1f} → corrected "
                     f"{ab['worst_error_wt%']['corrected']:.1f} ({ab['passes']} passes)")
        for label, regions in ab["tables"].items():
            lines.append(f"  {label}: " + "; ".join(
                f"{region}: " + ", ".join(f"{e} {v['true']:.1f} → {v['measured']:.1f}" for e, v in vals.items())
                for region, vals in regions.items()))
        lines.append(f"  absorption figure: {f['absorption_figure']}")
    lines.append(f"done in {s['seconds']['total']:.1f} s")
    return "\n".join(lines)
