"""Figures shared by the demo, examples and benchmarks: orthoslices, method comparisons,
quantification maps and the spectral overview. Each function returns a matplotlib Figure;
:func:`save_figure` writes it atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["save_figure", "add_scale_bars", "orthoslices_figure", "methods_figure", "quantification_figure", "spectral_figure"]


def _plt():
    import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves

    return plt


def _array(v) -> np.ndarray:
    return np.asarray(getattr(v, "data", v))


def _bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def save_figure(fig, path, *, title: str | None = None, dpi: int = 100) -> Path:
    """Give ``fig`` a title (optional), write it atomically as PNG, close it; returns the path."""
    from ..io import atomic_path

    plt = _plt()
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path


def _bar_length(width: float) -> float:
    """A round length (1, 2 or 5 × 10^n) near a quarter of ``width``."""
    target = width / 4
    base = 10 ** np.floor(np.log10(target))
    return float(max(m * base for m in (1, 2, 5) if m * base <= target))


def add_scale_bars(fig, pixel_size: float, units: str) -> None:
    """A scale bar (round length, labelled in ``units``) in the lower left of every image in ``fig``
    whose pixels are ``pixel_size`` ``units`` wide (colour-bar axes are left alone)."""
    from matplotlib.image import AxesImage
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    if not pixel_size or pixel_size <= 0:
        return
    if not units or units == "<undefined>":  # uncalibrated: in pixels
        pixel_size, units = 1.0, "px"
    elif units in ("µm", "um", "Å", "A"):  # nanoparticles: nm reads better than 0.01 µm or 100 Å
        pixel_size, units = pixel_size * (1e3 if units in ("µm", "um") else 0.1), "nm"
    for ax in fig.axes:
        images = [im for im in ax.get_images() if isinstance(im, AxesImage)]
        if not images:
            continue
        width_px = images[0].get_array().shape[1]
        length = _bar_length(width_px * pixel_size)
        ax.add_artist(AnchoredSizeBar(ax.transData, length / pixel_size, f"{length:g} {units}", "lower left",
                                      pad=0.3, color="white", frameon=False, size_vertical=max(width_px / 80, 0.5),
                                      fontproperties={"size": 7}))


def orthoslices_figure(volumes: dict, *, compare: dict | None = None, compare_label: str = "compare",
                       units: str = "counts / voxel"):
    """Three central orthoslices (y–z, x–z, x–y) of each volume, one row per volume.

    ``compare``: volumes shown as a fourth column (their y–z slice, e.g. without alignment) on the
    same colour scale.
    """
    plt = _plt()
    ncol = 3 + (compare is not None)
    fig, axes = plt.subplots(len(volumes), ncol, figsize=(3 * ncol, 3.0 * len(volumes)), squeeze=False,
                             constrained_layout=True)
    for row, (name, rec) in zip(axes, volumes.items()):
        vol = _array(rec)
        ix, iy, iz = (n // 2 for n in vol.shape)
        cuts = [(vol[ix], f"{name}: y–z slice x={ix}"), (vol[:, iy], f"x–z slice y={iy}"),
                (vol[:, :, iz], f"x–y slice z={iz}")]
        if compare is not None:
            cuts.append((_array(compare[name])[ix], f"y–z slice, {compare_label}"))
        vmax = float(np.percentile(vol, 99.9)) or 1.0
        for ax, (img, label) in zip(row, cuts):
            im = ax.imshow(img, cmap="inferno", vmin=0, vmax=vmax, origin="lower")
            ax.set_title(label, fontsize=9)
            _bare(ax)
        fig.colorbar(im, ax=row[-1], shrink=0.8, label=units)
    return fig


def methods_figure(columns: dict, truth: dict | None = None, *, units: str = "counts / voxel"):
    """Central y–z slice per channel (rows): the truth (if given), then one column per method.

    ``columns``: method label → {channel: volume}; a channel missing from a method is left blank.
    Each row shares one colour scale (the 99.9th percentile of its first volume).
    """
    plt = _plt()
    truth = truth or {}
    names = list(dict.fromkeys(n for vols in columns.values() for n in vols))
    heads = ([("truth", truth)] if truth else []) + list(columns.items())
    fig, axes = plt.subplots(len(names), len(heads), figsize=(2.9 * len(heads), 3.0 * len(names)), squeeze=False,
                             constrained_layout=True)
    for row, name in zip(axes, names):
        vols = [(None if name not in v else _array(v[name]), f"{name}: {label}" if k == 0 else label)
                for k, (label, v) in enumerate(heads)]
        shown = next(v for v, _ in vols if v is not None)
        ix = shown.shape[0] // 2
        vmax = float(np.percentile(shown, 99.9)) or 1.0
        im = None
        for ax, (vol, label) in zip(row, vols):
            _bare(ax)
            if vol is None:
                ax.set_title(f"{label} (n/a)", fontsize=9)
                continue
            im = ax.imshow(vol[ix], cmap="inferno", vmin=0, vmax=vmax, origin="lower")
            ax.set_title(label, fontsize=9)
        fig.colorbar(im, ax=row[-1], shrink=0.8, label=units)
    return fig


def quantification_figure(phantom, quants: dict):
    """wt% per element and density (g/cm³) on the central y–z slice: the phantom, then each
    quantification (``quants``: label → :class:`~spectomo.Quantification`)."""
    plt = _plt()
    els = phantom.elements
    ix = phantom.shape[0] // 2
    rows = [("truth", {el: 100 * phantom.weight_fractions[el][ix] for el in els}, phantom.density[ix])]
    rows += [(label, {el: _array(q.weight_percent[el])[ix] for el in els},
              None if q.density is None else _array(q.density)[ix]) for label, q in quants.items()]
    vmax = float(phantom.density.max()) * 1.2
    fig, axes = plt.subplots(len(rows), len(els) + 1, figsize=(2.7 * (len(els) + 1), 2.5 * len(rows)),
                             constrained_layout=True, squeeze=False)
    im = im2 = None
    for r, (label, wt, rho) in enumerate(rows):
        for c, el in enumerate(els):
            im = axes[r, c].imshow(wt[el], vmin=0, vmax=100, cmap="viridis", origin="lower")
            axes[r, c].set_title(f"{label}: {el} wt%", fontsize=8)
        if rho is not None:
            im2 = axes[r, -1].imshow(rho, vmin=0, vmax=vmax, cmap="magma", origin="lower")
            axes[r, -1].set_title(f"{label}: ρ (g/cm³)", fontsize=8)
        for ax in axes[r]:
            _bare(ax)
    fig.colorbar(im, ax=axes[:, :-1], shrink=0.6, label="wt%")
    if im2 is not None:
        fig.colorbar(im2, ax=axes[:, -1], shrink=0.6, label="g/cm³")
    fig.suptitle(f"Weight fractions and density, slice x = {ix} ({phantom.name})")
    return fig


def spectral_figure(sim, windows, nmf):
    """HAADF, window maps and NMF maps at the tilt nearest 0°, and the sum spectrum with the
    integration and background windows and the (scaled) NMF factors."""
    from .. import physics

    plt = _plt()
    i0 = int(np.argmin(np.abs(sim.tilts)))
    eds0 = sim.eds.inav[:, :, i0]
    if eds0._lazy:
        eds0.compute(show_progressbar=False)
    rows = [[("HAADF (electrons)", sim.haadf.data[i0], "gray")]
            + [(f"{k} windows (counts)", m.data[i0], "viridis") for k, m in windows.items()],
            [("spectral sum image (counts)", eds0.data.sum(axis=-1), "gray")]
            + [(f"{k} NMF net counts", m.data[i0], "magma") for k, m in nmf.items()]]
    n = max(len(r) for r in rows)
    fig = plt.figure(figsize=(3.0 * n, 9.2), constrained_layout=True)
    grid = fig.add_gridspec(3, n, height_ratios=[1.1, 1.1, 1])
    for r, row in enumerate(rows):
        for k, (title, img, cmap) in enumerate(row):
            ax = fig.add_subplot(grid[r, k])
            im = ax.imshow(img, cmap=cmap)
            ax.set_title(title, fontsize=9)
            _bare(ax)
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
        for k, name in enumerate(nmf.components or nmf):
            ax.plot(energy, np.maximum(nmf.factors.data[k] * scale, 0.5), lw=0.7, ls="--",
                    label=f"NMF factor {name} (scaled)")
    for line in sim.factors["lines"]:
        if line.split("_")[1] in ("Ka", "La", "Ma"):
            ax.text(physics.line_energy(line), spec.max() * 3, line, rotation=90, va="bottom", ha="center",
                    fontsize=7)
    ax.set_ylim(0.5, spec.max() * 3000)
    ax.set(xlabel="Energy (keV)", ylabel="Counts (sum over the image)",
           title=f"Sum spectrum at {sim.tilts[i0]:.0f}°: integration windows (solid), background windows "
                 "(hatched), NMF factors (dashed)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, ncol=6, loc="upper center", frameon=False)
    fig.suptitle(f"spectomo demo: {sim.phantom.description}", fontsize=10)
    return fig
