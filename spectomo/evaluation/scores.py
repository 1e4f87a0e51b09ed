"""Scores of pipeline stages against the truth: maps, best-iteration SIRT, region-wise compositions."""

from __future__ import annotations

import numpy as np

from .metrics import psnr, scaled_mse, ssim_structure

__all__ = ["METRICS", "sirt_path_scores", "best_sirt", "composition_table", "worst_composition_error",
           "net_count_errors", "map_correlations"]

#: name → (score function(estimate, truth), which is best: max or min)
METRICS = {"psnr": (psnr, max), "ssim_s": (ssim_structure, max), "mse": (scaled_mse, min)}

SIRT_CHECKPOINTS = (5, 10, 20, 40, 80, 150, 300)


def sirt_path_scores(stack, truth, *, checkpoints=SIRT_CHECKPOINTS, metrics=("psnr",), extra=None) -> dict:
    """Scores of one SIRT run (ASTRA, non-negative) after each iteration count.

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
    truth : ndarray (nx, ny, nz)
    checkpoints : sequence of int
        Iteration counts scored.
    metrics : sequence of str
        Names in :data:`METRICS`.
    extra : dict[str, callable], optional
        More scores ``f(volume) → float`` (e.g. a contrast between regions).

    Returns
    -------
    dict[int, dict[str, float]]
        Iteration count → metric → value.
    """
    from ..recon.astra import reconstruct_path

    path = reconstruct_path(stack, checkpoints, method="SIRT", progress=False)
    return {it: {**{m: METRICS[m][0](vol, truth) for m in metrics},
                 **{k: float(f(vol)) for k, f in (extra or {}).items()}} for it, vol in path.items()}


def best_sirt(stack, truth, *, checkpoints=SIRT_CHECKPOINTS, metrics=("psnr",)) -> dict:
    """The best SIRT iteration count for each metric: metric → ``(value, iterations)``."""
    scores = sirt_path_scores(stack, truth, checkpoints=checkpoints, metrics=metrics)
    out = {}
    for m in metrics:
        pick = METRICS[m][1]
        it = pick(scores, key=lambda i: scores[i][m])
        out[m] = (scores[it][m], it)
    return out


def composition_table(q, phantom) -> dict:
    """Mean wt% per majority region of the phantom, true against measured, inside ``q``'s mask.

    Returns ``{region element: {element: {"true": wt%, "measured": wt%}}}`` (regions from
    :meth:`spectomo.phantoms.Phantom.majority_regions`: for core_shell, Au → core, Ag → shell).
    """
    truth = {el: 100 * c for el, c in phantom.weight_fractions.items()}
    inside = np.asarray(q.mask.data, dtype=bool)
    return {region_el: {el: {"true": float(truth[el][region & inside].mean()), "measured": float(v)}
                        for el, v in q.mean_composition(region).items()}
            for region_el, region in phantom.majority_regions().items()}


def worst_composition_error(table: dict) -> float:
    """Largest |measured − true| (wt%) over every region and element of a :func:`composition_table`."""
    return max(abs(v["measured"] - v["true"]) for row in table.values() for v in row.values())


def net_count_errors(maps: dict, net_counts: dict, *, threshold: float = 100.0) -> dict:
    """Relative error of each map's total counts against the true net counts, over the pixels whose
    true counts exceed ``min(threshold, half the maximum)``: line → (measured / true − 1)."""
    out = {}
    for line, m in maps.items():
        truth = np.asarray(net_counts[line].data)
        mask = truth > min(threshold, 0.5 * float(truth.max()))
        out[line] = float(np.asarray(m.data)[mask].sum() / truth[mask].sum() - 1)
    return out


def map_correlations(maps: dict, areal_density: dict) -> dict:
    """Pearson correlation of each map with the true projected areal density of its element
    (maps named ``'<El>_<line>'``; maps of elements absent from the truth are left out)."""
    out = {}
    for key, m in maps.items():
        el = key.split("_")[0]
        if el in areal_density:
            out[key] = float(np.corrcoef(np.asarray(m.data).ravel(), np.asarray(areal_density[el]).ravel())[0, 1])
    return out
