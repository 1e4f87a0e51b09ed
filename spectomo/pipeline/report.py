"""The HTML report of ``spectomo run`` (and ``spectomo demo``): one self-contained file.

Figures are embedded as PNG data URIs, with scale bars and colour bars in physical units; tables
are plain HTML; no script or style sheet is fetched, so the file can be mailed or archived as it
is. A short inline script only records, on the ``<body>``, how many figures the browser decoded
(``data-images-loaded="n/m"``), which the tests read back from headless Chromium.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path

import numpy as np

__all__ = ["write_report", "html_page", "figure_html", "image_html", "table_html", "versions_table"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}img{max-width:100%}figcaption{font-size:.85em;color:#555}
pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.8em}.status-reused{color:#777}
"""

_CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
});
</script>"""


def _png_html(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode()
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption or "figure")}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def figure_html(fig, caption: str = "", *, dpi: int = 100) -> str:
    """A matplotlib figure as an embedded PNG with a caption (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return _png_html(buf.getvalue(), caption)


def image_html(path, caption: str = "") -> str:
    """A PNG file embedded as a data URI, with a caption."""
    return _png_html(Path(path).read_bytes(), caption or Path(path).name)


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return "–"
    return html.escape(str(v))


def table_html(rows, columns=None) -> str:
    """A list of dicts (one per row) or a dict (one row per key: value) as an HTML table."""
    if isinstance(rows, dict):
        rows = [{"": k, "value": v} for k, v in rows.items()]
    if not rows:
        return "<p>(none)</p>"
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_page(title: str, sections: list) -> str:
    """A whole page: ``sections`` is a list of (heading, html body)."""
    parts = [f"<h2>{html.escape(h)}</h2>\n{body}" for h, body in sections]
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n" + "\n".join(parts)
            + f"\n{_CHECK}</body></html>\n")


def _pixel(sig) -> tuple[float, str]:
    ax = sig.axes_manager.signal_axes[0]
    return float(ax.scale), str(ax.units)


def _maps_section(records, results) -> str:
    import matplotlib.pyplot as plt

    from ..evaluation.figures import add_scale_bars

    s = records["maps"].summary
    align = results["align"]
    stacks = {"reference: " + records["align"].summary["reference"]: align["reference"], **align["maps"]}
    tilts = np.asarray(next(iter(align["maps"].values())).tilts)
    i0 = int(np.argmin(np.abs(tilts)))
    fig, axes = plt.subplots(1, len(stacks), figsize=(3.1 * len(stacks), 3.0), squeeze=False, constrained_layout=True)
    for ax, (name, st) in zip(axes[0], stacks.items()):
        im = ax.imshow(np.asarray(st.data[i0]), cmap="inferno" if "reference" not in name else "gray", origin="lower")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.75, label="counts" if "reference" not in name else "detector units")
    add_scale_bars(fig, *_pixel(next(iter(align["maps"].values()))))
    counts = [{"line": k, "net counts (all tilts)": v} for k, v in s["total_counts"].items()]
    return (f"<p>{len(s['eds_files'])} EDS file(s), data {tuple(s['eds_shape'])}; {len(tilts)} tilts from "
            f"{tilts.min():g}° to {tilts.max():g}° ({html.escape(s['tilts_source'] or 'given')}); maps by "
            f"<b>{html.escape(s['method'])}</b>.</p>" + table_html(counts)
            + figure_html(fig, f"Aligned maps and alignment reference at {tilts[i0]:g}°"))


def _align_section(records) -> str:
    import matplotlib.pyplot as plt

    s = records["align"].summary
    shifts, tilts = np.asarray(s["shifts_px"]), np.asarray(s["tilts_deg"])
    fig, ax = plt.subplots(figsize=(5.5, 3.2), constrained_layout=True)
    if shifts.size:
        ax.plot(tilts, shifts[:, 0], "o-", ms=3, label="y (along the tilt axis)")
        ax.plot(tilts, shifts[:, 1], "s-", ms=3, label="x")
    ax.set(xlabel="tilt (degrees)", ylabel="shift applied (px)", title="Per-tilt shifts")
    ax.legend(fontsize=8)
    rows = {"reference": s["reference"], "shifts": s["shifts_method"], "tilt axis": s["tilt_axis_method"],
            "tilt-axis offset (px)": s["tilt_axis_offset_px"], "tilt-axis rotation (°)": s["tilt_axis_rotation_deg"]}
    if s.get("resampled"):
        rows["HAADF resampled from (px)"] = " × ".join(map(str, s["resampled"]))
    return table_html(rows) + figure_html(fig, "Shifts applied to every stack (align_other)")


def _recon_section(records, results) -> str:
    import matplotlib.pyplot as plt

    from ..evaluation.figures import add_scale_bars, orthoslices_figure
    from ..recon.thinning import plot_heldout

    s = records["reconstruct"].summary
    vols = results["reconstruct"]["all"]
    fig = orthoslices_figure(vols, units="counts / voxel (HAADF: detector units)")
    add_scale_bars(fig, *_pixel(next(iter(vols.values()))))
    out = [table_html({"solver": s["solver"], "iterations": json.dumps(s.get("iterations")),
                       "seconds": s.get("seconds"), **({"HEBT ratios": json.dumps(s["ratios"]), "ratio fit R²": s["r2"]}
                                                      if s.get("ratios") else {})}),
           figure_html(fig, "Central orthoslices of every volume")]
    auto = [(k, v) for k, v in vols.items() if v.metadata.has_item("Reconstruction.auto")]
    if auto:
        fig, axes = plt.subplots(1, len(auto), figsize=(4.6 * len(auto), 3.4), squeeze=False, constrained_layout=True)
        for ax, (k, v) in zip(axes[0], auto):
            plot_heldout(v, ax=ax)
            ax.set_title(f"{k}: {ax.get_title()}", fontsize=8)
        out.append(figure_html(fig, "Held-out (data-splitting) curves behind the automatic parameters"))
    elements = results["reconstruct"]["elements"]
    if hasattr(elements, "plot_history") and (elements.history or elements.residuals):
        fig, ax = plt.subplots(figsize=(5.5, 3.4), constrained_layout=True)
        elements.plot_history(ax)
        out.append(figure_html(fig, "Convergence"))
    return "".join(out)


def _quant_section(records, results) -> str:
    import matplotlib.pyplot as plt

    from ..evaluation.figures import add_scale_bars

    s = records["quantify"].summary
    q = results["quantify"]
    fig = q.plot_slices()
    add_scale_bars(fig, *_pixel(q.mask))
    p = s["parameters"]
    rows = [{"element": el, "mean wt% (particle)": v, "line": q.lines.get(el),
             f"factor ({p.get('factor_units', '')})": s["factors"].get(q.lines.get(el), s["factors"].get(el))}
            for el, v in s["mean_wt_percent"].items()]
    out = [table_html(rows), table_html({"method": p.get("method"), "factor source": p.get("factor_source"),
                                         "beam energy (keV)": p.get("beam_energy_keV"),
                                         "dose (electrons per probe position)": p.get("dose_electrons"),
                                         "voxel size (nm)": p.get("voxel_size_nm"),
                                         "mean density (g/cm³)": s["mean_density_g_cm3"],
                                         "particle voxels": s["mask_voxels"],
                                         "absorption corrected": s["absorption"]}),
           figure_html(fig, "Weight fractions and density, central orthoslices")]
    if q.threshold_curve is not None:
        fig, ax = plt.subplots(figsize=(5.0, 3.2), constrained_layout=True)
        q.threshold_curve.plot(ax)
        out.append(figure_html(fig, "Particle mask: volume against threshold (edge-spread function)"))
    return "".join(out)


def _phases_section(records, results) -> str:
    from ..evaluation.figures import add_scale_bars

    s = records["phases"].summary
    if "skipped" in s:
        return f"<p>Skipped: {html.escape(s['skipped'])}.</p>"
    ph = results["phases"]
    units = s["parameters"]["area_units"]
    rows = [{"phase": r["name"], "voxels": r["voxels"], "volume (nm³)": r["volume_nm3"],
             "volume fraction": r["volume_fraction"], "density (g/cm³)": r["density_g_cm3"],
             **{f"{el} wt%": f"{r['wt%'][el]:.1f} ± {r['wt%_std'][el]:.1f}" for el in r["wt%"]}} for r in s["table"]]
    inter = [{"interface": " | ".join(r["between"]), f"area ({units})": r["area"]} for r in s["interfaces"]]
    fig = ph.plot_slices()
    add_scale_bars(fig, *_pixel(ph.labels))
    p = s["parameters"]
    return (table_html(rows) + table_html(inter)
            + f"<p>{p['phases']} phase(s): {p['components']} mixture component(s) chosen "
              f"({'by BIC' if p['n_phases'] == 'auto' else 'given'}), {len(p['merged_at_wt%'])} merged as closer "
              f"than {p['min_separation']:g} wt%, {p['blur_layers_removed']} removed as interface blur.</p>"
            + figure_html(fig, "Phase labels, central orthoslices"))


def versions_table(device: str | None = None) -> str:
    """Versions of spectomo and the libraries that made the results (and the OpenCL device)."""
    import importlib.metadata as md

    out = {}
    for dist in ("spectomo", "hyperspy", "exspy", "rosettasciio", "numpy", "scipy", "scikit-image", "scikit-learn",
                 "astra-toolbox", "pyopencl"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    if device:
        out["OpenCL device"] = device
    return table_html(out)


def write_report(pipeline, records: dict, results) -> Path:
    """Write ``<output.folder>/report.html`` for one run; returns its path."""
    from ..io import atomic_path

    stages = [{"stage": r.name, "status": r.status, "seconds": r.seconds, "key": r.key[:12],
               "files": len(r.files)} for r in records.values()]
    config = pipeline.path.read_text() if pipeline.path else json.dumps(pipeline.config, indent=1, default=str)
    notes = [f"<li><b>{html.escape(r.name)}</b>: {html.escape(w)}</li>" for r in records.values()
             for w in r.summary.get("warnings", [])]
    sections = [("Warnings", f"<ul>{''.join(notes)}</ul>" if notes else "<p>None.</p>"),
                ("Element maps", _maps_section(records, results)), ("Alignment", _align_section(records)),
                ("Reconstruction", _recon_section(records, results)),
                ("Quantification", _quant_section(records, results)),
                ("Phases", _phases_section(records, results)),
                ("Stages", table_html(stages) + "<p>Reused stages were computed by an earlier run with the same "
                                               "options and input files.</p>"),
                ("Configuration", f"<pre>{html.escape(config)}</pre>"),
                ("Stage parameters", "".join(f"<h3>{r.name}</h3><pre>{html.escape(json.dumps(_short(r.summary), indent=1, default=str))}</pre>"
                                             for r in records.values())),
                ("Versions", versions_table(records["reconstruct"].summary.get("parameters", {}).get("device")))]
    title = f"spectomo run: {pipeline.path.name if pipeline.path else 'pipeline'} ({time.strftime('%Y-%m-%d %H:%M')})"
    path = pipeline.folder / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(html_page(title, sections), encoding="utf-8")
    return path


def _short(value, limit: int = 12):
    """Long lists shortened for the parameter listing (the full values are in the stage files)."""
    if isinstance(value, dict):
        return {k: _short(v, limit) for k, v in value.items()}
    if isinstance(value, list) and len(value) > limit:
        return [_short(v, limit) for v in value[:limit]] + [f"… {len(value) - limit} more"]
    return value
