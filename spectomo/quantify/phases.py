"""Phases from weight-fraction volumes: segmentation, per-phase volume, composition and interfaces.

What users compute after a quantitative reconstruction (ETSpy's paper binarises Ni and Cr layers
to get their volume ratio), done from the compositions rather than one threshold per element:

1. The wt% volumes are smoothed inside the particle mask (normalised convolution, so vacuum does
   not dilute the edge voxels).
2. Each particle voxel's composition (the first n−1 weight fractions; the last follows from the
   sum of 100) is assigned to a Gaussian mixture component (scikit-learn), the number of
   components chosen by the Bayesian information criterion up to ``max_phases`` unless given.
3. Components whose mean compositions differ by less than ``min_separation`` wt% in every element
   are merged: BIC splits one broad, non-Gaussian phase into several components. A component
   that is only the blur across an interface (touching two others, between them in composition,
   and spread along the line joining them more than ``blur_ratio`` times as widely as either:
   a continuum of mixtures, not a plateau with noise) is split between them.
4. Per phase: voxel count, volume (nm³), volume fraction, mean ± standard deviation of each wt%,
   mean density; and the area (nm²) of every interface, between two phases or with the outside.

Interface areas come from marching cubes (scikit-image) on each phase's indicator smoothed by a
Gaussian of one voxel, which measures a sphere's area within 1.5 % for radii of 10 voxels or more
(−5.5 % at 5 voxels; the raw indicator overestimates by 8–12 %). The interface between phases
*i* and *j* is ``(A_i + A_j − A_{i∪j}) / 2``; the rest of ``A_i`` is its surface to the outside.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Phases", "segment_phases"]


@dataclass
class Phases:
    """The phases of one quantification (:func:`segment_phases`).

    Attributes
    ----------
    labels : RecStack (nx, ny, nz), uint8
        0 outside the particle mask, 1…n the phases, largest first.
    table : list of dict
        One row per phase: ``label``, ``name`` (e.g. ``'Au-rich'``), ``voxels``, ``volume_nm3``
        (None without a voxel size), ``volume_fraction``, ``wt%`` (element → mean),
        ``wt%_std``, ``density_g_cm3`` (None without densities).
    interfaces : list of dict
        ``between`` (two phase names, or a phase and ``'outside'``) and ``area`` (nm², or voxel
        faces without a voxel size).
    parameters : dict
        Options, the number of phases chosen, the BIC per number of components, merges.
    """

    labels: object
    table: list
    interfaces: list
    parameters: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [row["name"] for row in self.table]

    def to_dict(self) -> dict:
        """Everything but the label volume, JSON-serialisable."""
        return {"table": self.table, "interfaces": self.interfaces, "parameters": self.parameters}

    def save(self, path, *, overwrite: bool = True):
        """The label volume as ``.hspy`` (atomically), with the table, interfaces and parameters in
        ``metadata.Phases``; returns the path."""
        from ..io import save

        sig = self.labels.deepcopy()
        sig.metadata.set_item("Phases", {"json": __import__("json").dumps(self.to_dict())})
        return save(sig, path, overwrite=overwrite)

    @classmethod
    def load(cls, path) -> "Phases":
        """Read a file written by :meth:`save`."""
        import json

        from ..io import load

        sig = load(path)
        if not sig.metadata.has_item("Phases.json"):
            raise ValueError(f"path: {path} is not a spectomo phase file (no metadata.Phases)")
        d = json.loads(sig.metadata.Phases.json)
        return cls(labels=sig, table=d["table"], interfaces=d["interfaces"], parameters=d["parameters"])

    def plot_slices(self, *, index=None, figsize=None):
        """Central orthoslices of the labels with a legend of the phase names; returns the figure."""
        import matplotlib.pyplot as plt
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch

        lab = np.asarray(self.labels.data)
        ix, iy, iz = index if index is not None else tuple(n // 2 for n in lab.shape)
        colours = ["#000000"] + [plt.cm.tab10(k % 10) for k in range(len(self.table))]
        cmap = ListedColormap(colours)
        fig, axes = plt.subplots(1, 3, figsize=figsize or (9, 3.2), constrained_layout=True)
        for ax, (img, title) in zip(axes, ((lab[ix], f"y–z slice x={ix}"), (lab[:, iy], f"x–z slice y={iy}"),
                                           (lab[:, :, iz], f"x–y slice z={iz}"))):
            ax.imshow(img, cmap=cmap, vmin=0, vmax=len(colours) - 1, origin="lower", interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.legend(handles=[Patch(color=colours[r["label"]], label=f"{r['label']}: {r['name']}") for r in self.table],
                   loc="outside lower center", ncol=min(4, len(self.table)), fontsize=8)
        return fig


def _smooth_inside(vol: np.ndarray, inside: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing restricted to the mask (normalised convolution)."""
    from scipy.ndimage import gaussian_filter

    if sigma <= 0:
        return vol
    w = gaussian_filter(inside.astype(np.float64), sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = gaussian_filter(np.where(inside, vol, 0.0), sigma) / w
    return np.where(inside, out, 0.0)


def _fit_mixture(features: np.ndarray, n_phases, max_phases: int, seed: int, max_samples: int):
    """(component of every row, {k: BIC}); one component when the compositions do not vary."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    sample = features if len(features) <= max_samples else features[rng.choice(len(features), max_samples,
                                                                                 replace=False)]
    if features.shape[1] == 0 or np.ptp(sample, axis=0).max() == 0:
        return np.zeros(len(features), dtype=int), {}
    candidates = [n_phases] if isinstance(n_phases, int) else range(1, max_phases + 1)
    bic, models = {}, {}
    for k in candidates:
        if k > len(sample):
            break
        # reg_covar in wt%²: compositions are quoted to ~0.1 wt%, so a variance floor of 0.01 wt%²
        gm = GaussianMixture(k, covariance_type="full", reg_covar=1e-2, n_init=2, random_state=seed).fit(sample)
        bic[k], models[k] = float(gm.bic(sample)), gm
    best = min(bic, key=bic.get)
    return models[best].predict(features), bic


def _merge_close(comp: np.ndarray, labels: np.ndarray, min_separation: float) -> tuple[np.ndarray, list]:
    """Merge components (rows of ``labels``' values) whose mean compositions ``comp`` (n_vox, n_el)
    differ by less than ``min_separation`` in every element, closest pair first."""
    merges = []
    while True:
        ids = np.unique(labels)
        if len(ids) < 2:
            return labels, merges
        means = {i: comp[labels == i].mean(axis=0) for i in ids}
        pairs = [(float(np.abs(means[a] - means[b]).max()), a, b) for n, a in enumerate(ids) for b in ids[n + 1:]]
        d, a, b = min(pairs)
        if d >= min_separation:
            return labels, merges
        labels = np.where(labels == b, a, labels)
        merges.append(round(d, 3))


def _blur_layers(comp: np.ndarray, labels: np.ndarray, inside: np.ndarray, ratio: float,
                 min_separation: float) -> tuple[np.ndarray, list]:
    """Split components that are only the blur between two others: touching both, compositionally
    between them (within ``min_separation`` / 2 wt% of the segment joining their means), and spread
    along that segment more than ``ratio`` times as widely as either of them (a continuum of
    mixtures, where a phase has a plateau and only noise). Each voxel goes to the nearer of the
    two in composition. Returns (labels, [(component, a, b, spread ratio)])."""
    from scipy.ndimage import binary_dilation

    removed = []
    while ratio > 0 and len(np.unique(labels)) > 2:
        ids = list(np.unique(labels))
        vol = np.zeros(inside.shape, dtype=int)
        vol[inside] = labels + 1
        means = {i: comp[labels == i].mean(axis=0) for i in ids}
        best = None
        for c in ids:
            region = vol == c + 1
            ring = binary_dilation(region, iterations=1) & ~region
            touching = [i for i in ids if i != c and (vol[ring] == i + 1).any()]
            for n, a in enumerate(touching):
                for b in touching[n + 1:]:
                    d = means[b] - means[a]
                    length = float(np.sqrt(np.dot(d, d)))
                    if length == 0:
                        continue
                    t = float(np.dot(means[c] - means[a], d)) / length**2
                    off = float(np.abs(means[a] + t * d - means[c]).max())
                    if not (0 < t < 1 and off < min_separation / 2):
                        continue
                    spread = {i: float(np.std(comp[labels == i] @ d / length)) for i in (a, b, c)}
                    r = spread[c] / max(spread[a], spread[b], 1e-9)
                    if r > ratio and (best is None or r > best[3]):
                        best = (c, a, b, r)
        if best is None:
            return labels, removed
        c, a, b, r = best
        sel = labels == c
        nearer_a = (np.abs(comp[sel] - means[a]).sum(axis=1) <= np.abs(comp[sel] - means[b]).sum(axis=1))
        labels = labels.copy()
        labels[sel] = np.where(nearer_a, a, b)
        removed.append((int(c), int(a), int(b), round(float(r), 2)))
    return labels, removed


def _distinguish(names: dict, table: list, elements: list) -> None:
    """Phases that share a dominant element are told apart by their second element's wt%:
    ``'Ag-rich (Au 36 wt%)'``."""
    for label, name in list(names.items()):
        if list(names.values()).count(name) > 1 or any(n.startswith(name + " (") for n in names.values()):
            row = table[label - 1]
            second = sorted(elements, key=lambda el: -row["wt%"][el])[1] if len(elements) > 1 else None
            if second is not None:
                names[label] = f"{name} ({second} {row['wt%'][second]:.0f} wt%)"
    for row in table:
        row["name"] = names[row["label"]]


def _surface(indicator: np.ndarray, spacing: float) -> float:
    """Area of the boundary of a (padded) indicator volume, smoothed by one voxel (module docstring)."""
    from scipy.ndimage import gaussian_filter
    from skimage.measure import marching_cubes, mesh_surface_area

    field_ = gaussian_filter(np.pad(indicator.astype(np.float32), 3), 1.0)
    if field_.max() <= 0.5:
        return 0.0
    verts, faces, _, _ = marching_cubes(field_, 0.5, spacing=(spacing,) * 3)
    return float(mesh_surface_area(verts, faces))


def _interfaces(labels: np.ndarray, names: dict, spacing: float) -> list:
    ids = sorted(names)
    area = {i: _surface(labels == i, spacing) for i in ids}
    rows, shared = [], {i: 0.0 for i in ids}
    for n, a in enumerate(ids):
        for b in ids[n + 1:]:
            both = _surface((labels == a) | (labels == b), spacing)
            s = max(0.0, (area[a] + area[b] - both) / 2)
            shared[a] += s
            shared[b] += s
            if s > 0:
                rows.append({"between": [names[a], names[b]], "area": s})
    rows += [{"between": [names[i], "outside"], "area": max(0.0, area[i] - shared[i])} for i in ids]
    return rows


def segment_phases(quantification, *, n_phases="auto", max_phases: int = 4, smooth: float = 1.0,
                   min_separation: float = 10.0, blur_ratio: float = 2.0, max_samples: int = 20000,
                   seed: int = 0) -> Phases:
    """Segment a quantified particle into phases by composition and measure them.

    Parameters
    ----------
    quantification : Quantification
        From :func:`spectomo.quantify` (its wt% volumes ``(nx, ny, nz)`` and particle mask).
    n_phases : int or 'auto'
        Number of mixture components; ``'auto'``: the lowest BIC for 1…``max_phases``. Merging
        (``min_separation``) can leave fewer phases.
    max_phases : int
        Largest number of components ``'auto'`` tries.
    smooth : float
        Gaussian σ (voxels) applied to the wt% volumes inside the mask before clustering; 0: none.
    min_separation : float
        wt%: components whose mean compositions differ by less than this in every element are
        merged; 0 keeps every component.
    blur_ratio : float
        A component that touches two others, lies between them in composition and is spread along
        the line joining them more than ``blur_ratio`` times as widely as either is the
        reconstruction's blur across their interface, not a phase: its voxels go to the nearer of
        the two. A real layer so thin that it has no plateau cannot be told from blur. 0 keeps
        every component.
    max_samples : int
        Voxels the mixture is fitted on (a random subset of larger particles); every voxel is then
        assigned.
    seed : int
        Seed of the subset and of the mixture's initialisation.

    Returns
    -------
    Phases
        Labels, per-phase table and interface areas (see :class:`Phases`).
    """
    from .result import Quantification

    if not isinstance(quantification, Quantification):
        raise TypeError(f"quantification: expected a spectomo Quantification, got {type(quantification).__name__}")
    if not (n_phases == "auto" or (isinstance(n_phases, (int, np.integer)) and n_phases >= 1)):
        raise ValueError(f"n_phases: expected a positive integer or 'auto', got {n_phases!r}")
    if int(max_phases) < 1 or smooth < 0 or min_separation < 0 or blur_ratio < 0 or max_samples < 10:
        raise ValueError("max_phases ≥ 1, smooth ≥ 0, min_separation ≥ 0, blur_ratio ≥ 0 and max_samples ≥ 10 "
                         "expected")
    q = quantification
    inside = np.asarray(q.mask.data, dtype=bool)
    if not inside.any():
        raise ValueError("quantification: its particle mask is empty; nothing to segment")
    elements = q.elements
    wt = np.stack([np.asarray(q.weight_percent[el].data, dtype=np.float64) for el in elements])
    smoothed = np.stack([_smooth_inside(v, inside, smooth) for v in wt])
    features = smoothed[:-1, inside].T
    component, bic = _fit_mixture(features, n_phases if n_phases == "auto" else int(n_phases), int(max_phases),
                                  seed, int(max_samples))
    comp = smoothed[:, inside].T
    component, merges = _merge_close(comp, component, min_separation)
    component, blurred = _blur_layers(comp, component, inside, float(blur_ratio), min_separation)
    ids, counts = np.unique(component, return_counts=True)
    order = ids[np.argsort(-counts, kind="stable")]
    labels = np.zeros(inside.shape, dtype=np.uint8)
    lab_inside = np.zeros(len(component), dtype=np.uint8)
    for new, old in enumerate(order, start=1):
        lab_inside[component == old] = new
    labels[inside] = lab_inside
    voxel = q.parameters.get("voxel_size_nm")
    density = None if q.density is None else np.asarray(q.density.data)
    table, names = [], {}
    raw = wt[:, inside]
    for new in range(1, len(order) + 1):
        sel = lab_inside == new
        mean = raw[:, sel].mean(axis=1)
        names[new] = f"{elements[int(np.argmax(mean))]}-rich"
        table.append({"label": new, "name": names[new], "voxels": int(sel.sum()),
                      "volume_nm3": None if not voxel else float(sel.sum() * voxel**3),
                      "volume_fraction": float(sel.mean()),
                      "wt%": {el: float(m) for el, m in zip(elements, mean)},
                      "wt%_std": {el: float(s) for el, s in zip(elements, raw[:, sel].std(axis=1))},
                      "density_g_cm3": None if density is None else float(density[inside][sel].mean())})
    _distinguish(names, table, elements)
    interfaces = _interfaces(labels, names, float(voxel) if voxel else 1.0)
    sig = q.mask.deepcopy()  # the particle's axes, and its quantification's provenance in the metadata
    sig.data = labels
    sig.metadata.General.title = "Phases (labels)"
    params = {"n_phases": n_phases, "max_phases": int(max_phases), "smooth": float(smooth),
              "min_separation": float(min_separation), "max_samples": int(max_samples), "seed": int(seed),
              "bic": {str(k): v for k, v in bic.items()}, "components": int(min(bic, key=bic.get)) if bic else 1,
              "merged_at_wt%": merges, "blur_ratio": float(blur_ratio),
              "blur_layers_removed": len(blurred), "blur_layer_spread_ratios": [b[3] for b in blurred], "phases": len(table), "area_units": "nm²" if voxel else "voxel faces",
              "elements": elements}
    return Phases(labels=sig, table=table, interfaces=interfaces, parameters=params)
