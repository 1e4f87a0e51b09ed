"""The result of :func:`~spectomo.quantify`: volumes, mask, factors and provenance, in one file."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .mask import ThresholdCurve


@dataclass
class Quantification:
    """Weight-fraction, density and atom-density volumes of one quantification run.

    Attributes
    ----------
    weight_percent : dict[str, RecStack]
        Element → wt% volume ``(nx, ny, nz)``; the elements sum to 100 inside the mask, 0 outside.
    density : RecStack or None
        Mass density in g/cm³ (None without a dose or voxel size).
    atom_density : dict[str, RecStack] or None
        Element → atoms/nm³.
    mask : RecStack
        The particle mask (uint8).
    factors : dict
        X-ray line (or volume name) → the factor used, in ``parameters['factor_units']``.
    lines : dict
        Element → the volume name (line) it came from.
    threshold_curve : ThresholdCurve or None
        Particle volume against threshold, for ``mask='auto'``.
    parameters : dict
        Method, beam energy, dose, voxel size, solid angle/HAADF angles, ratios, factor source,
        threshold: everything needed to say how the volumes were made (also in each volume's
        ``metadata.Quantification``).
    """

    weight_percent: dict
    density: object
    atom_density: dict | None
    mask: object
    factors: dict
    lines: dict
    threshold_curve: ThresholdCurve | None = None
    parameters: dict = field(default_factory=dict)

    @property
    def elements(self) -> list[str]:
        return list(self.weight_percent)

    def _inside(self, region) -> np.ndarray:
        inside = np.asarray(self.mask.data, dtype=bool)
        if region is not None:
            region = np.asarray(getattr(region, "data", region), dtype=bool)
            if region.shape != inside.shape:
                raise ValueError(f"region: shape {region.shape} differs from the volumes' {inside.shape}")
            inside = inside & region
        if not inside.any():
            raise ValueError("region: selects no voxel inside the particle mask")
        return inside

    def mean_composition(self, region=None) -> dict:
        """Mean wt% of each element over the voxels of ``region`` (bool array) inside the mask."""
        inside = self._inside(region)
        return {el: float(np.asarray(v.data)[inside].mean()) for el, v in self.weight_percent.items()}

    def mean_density(self, region=None) -> float | None:
        """Mean density (g/cm³) over the voxels of ``region`` inside the mask; None without densities."""
        if self.density is None:
            return None
        return float(np.asarray(self.density.data)[self._inside(region)].mean())

    # -- output -----------------------------------------------------------------------------------

    def to_signal(self):
        """One RecStack (the mask) carrying every other volume and the parameters in its metadata."""
        sig = self.mask.deepcopy()
        sig.metadata.General.title = f"Quantification ({self.parameters.get('method')}): particle mask"
        q = {"parameters": {k: v for k, v in self.parameters.items() if v is not None},
             "factors": dict(self.factors), "lines": dict(self.lines),
             "weight_percent": dict(self.weight_percent)}
        if self.density is not None:
            q["density"] = self.density
            q["atom_density"] = dict(self.atom_density)
        if self.threshold_curve is not None:
            c = self.threshold_curve
            q["threshold_curve"] = {"thresholds": c.thresholds, "volumes": c.volumes, "gradient": c.gradient,
                                    "threshold": c.threshold}
        sig.metadata.set_item("Quantification", q)
        return sig

    def save(self, path, *, overwrite: bool = True):
        """Write everything to one ``.hspy`` file atomically; returns the path.

        The file's signal is the particle mask; ``metadata.Quantification`` holds the wt%,
        density and atom-density volumes (as signals), the factors and the parameters. Read it back
        with :meth:`Quantification.load` (or ``hyperspy.api.load``).
        """
        from ..io import save

        return save(self.to_signal(), path, overwrite=overwrite)

    @classmethod
    def load(cls, path) -> "Quantification":
        """Read a file written by :meth:`save`."""
        import hyperspy.api as hs

        sig = hs.load(str(path))
        if not sig.metadata.has_item("Quantification.weight_percent"):
            raise ValueError(f"path: {path} is not a spectomo quantification file (no metadata.Quantification)")
        q = sig.metadata.Quantification
        curve = None
        if q.has_item("threshold_curve"):
            c = q.threshold_curve
            curve = ThresholdCurve(np.asarray(c.thresholds), np.asarray(c.volumes), np.asarray(c.gradient),
                                   float(c.threshold))
        mask = sig.deepcopy()
        del mask.metadata.Quantification
        mask.metadata.set_item("Quantification", q.parameters.as_dictionary())
        return cls(weight_percent={k: q.weight_percent.get_item(k) for k in q.weight_percent.keys()},
                   density=q.get_item("density"),
                   atom_density=({k: q.atom_density.get_item(k) for k in q.atom_density.keys()}
                                 if q.has_item("atom_density") else None),
                   mask=mask, factors=q.factors.as_dictionary(), lines=q.lines.as_dictionary(),
                   threshold_curve=curve, parameters=q.parameters.as_dictionary())

    # -- plots ------------------------------------------------------------------------------------

    def plot_slices(self, *, index=None, figsize=None):
        """Orthoslices (y–z, x–z, x–y through ``index``, default the centre) of every element's wt%
        and of the density; returns the matplotlib figure."""
        import matplotlib.pyplot as plt

        rows = [(f"{el} (wt%)", np.asarray(v.data), (0, 100), "viridis") for el, v in self.weight_percent.items()]
        if self.density is not None:
            d = np.asarray(self.density.data)
            rows.append(("density (g/cm³)", d, (0, float(np.percentile(d[d > 0], 99.5)) if d.any() else 1), "magma"))
        shape = rows[0][1].shape
        ix, iy, iz = index if index is not None else tuple(n // 2 for n in shape)
        fig, axes = plt.subplots(len(rows), 3, figsize=figsize or (9, 2.6 * len(rows)), constrained_layout=True,
                                 squeeze=False)
        for r, (label, vol, (lo, hi), cmap) in enumerate(rows):
            for c, (img, cut) in enumerate(((vol[ix], f"x = {ix}"), (vol[:, iy, :], f"y = {iy}"),
                                            (vol[:, :, iz], f"z = {iz}"))):
                im = axes[r, c].imshow(img, vmin=lo, vmax=hi, cmap=cmap, origin="lower")
                axes[r, c].set_title(f"{label}, {cut}", fontsize=9)
                axes[r, c].set_xticks([])
                axes[r, c].set_yticks([])
            fig.colorbar(im, ax=axes[r], shrink=0.8)
        fig.suptitle(f"Quantification ({self.parameters.get('method')})")
        return fig
