"""Reconstruction outputs: a volume as a RecStack with its provenance, and the multi-channel container."""

from __future__ import annotations

import numpy as np

from ..signals import NODE, RecStack, TomoStack


def rec_signal(vol: np.ndarray, stack: TomoStack, method_label: str, reconstruction: dict) -> RecStack:
    """A :class:`RecStack` ``(nx, ny, nz)`` from ``vol`` with ``stack``'s calibration and metadata.

    ``reconstruction`` goes to ``metadata.Reconstruction``, completed with the input's alignment
    (shifts, tilt-axis rotation and offset) and title; the title becomes ``"<title> (<label>)"``.
    """
    tilts = stack.tilts
    rec = RecStack(np.asarray(vol, dtype=np.float32), tilts=tilts)
    ax_x, ax_y = stack.axes_manager.signal_axes
    for ax, src in zip((rec.axes_manager.navigation_axes[0], *rec.axes_manager.signal_axes),
                       (ax_x, ax_x, ax_y)):  # x ← x; z gets the x pixel size; y ← y
        ax.scale, ax.units = src.scale, src.units
    title = stack.metadata.General.title or "stack"
    rec.metadata.General.title = f"{title} ({method_label})"
    src = stack.metadata.as_dictionary()
    rec.metadata.add_dictionary({k: src[k] for k in ("Acquisition_instrument", "Sample", "Spectral") if k in src})
    if stack.metadata.has_item("Signal.quantity"):
        rec.metadata.set_item("Signal.quantity", f"{stack.metadata.Signal.quantity} per voxel path length")
    md = stack.metadata.get_item(NODE)
    info = dict(reconstruction)
    info.update({"thickness": int(vol.shape[2]), "source": title, "shifts": np.asarray(stack.shifts),
                 "tilt_axis_rotation": float(md.get_item("tilt_axis_rotation", 0.0)),
                 "tilt_axis_offset": float(md.get_item("tilt_axis_offset", 0.0)),
                 "units": "counts per voxel path length"})
    rec.metadata.set_item("Reconstruction", info)
    return rec


class RecStacks(dict):
    """The volumes of one multi-channel reconstruction and how they were made.

    A dict ``name → RecStack (nx, ny, nz)`` of the elemental volumes (the maps' names), so
    :func:`spectomo.quantify` takes it as it is, with attributes:

    Attributes
    ----------
    method : str
        ``'TGV-KL'`` or ``'HEBT'``.
    haadf : RecStack or None
        The HAADF volume: the reconstructed HAADF channel (TGV–KL), or the HAADF model
        ``Σ_A r_A X_A`` in HAADF units (HEBT).
    history : dict[str, ndarray]
        Per check: ``iteration``, ``objective``, ``change``, ``seconds`` and the solver's metrics.
    parameters : dict
        Everything in ``metadata.Reconstruction`` common to the channels.
    ratios : dict[str, float] or None
        HEBT response ratios r_A (HAADF units per map unit).
    r2 : float or None
        R² of the ratio fit (None when ratios were given or not used).
    residuals : dict[str, ndarray] or None
        HEBT: relative residual of each EDS block and of ``'HAADF'`` for iterates 0…n.
    """

    def __init__(self, volumes: dict, *, method: str, history: dict, parameters: dict, haadf=None,
                 ratios: dict | None = None, r2: float | None = None, residuals: dict | None = None):
        super().__init__(volumes)
        self.method, self.haadf, self.history, self.parameters = method, haadf, history, parameters
        self.ratios, self.r2, self.residuals = ratios, r2, residuals

    def __repr__(self) -> str:
        its = self.parameters.get("iterations", "?")
        return f"<RecStacks {self.method}, {its} iterations: {list(self)}{' + HAADF' if self.haadf is not None else ''}>"

    def plot_history(self, ax=None):
        """Convergence on a log scale: HEBT's relative residuals per block, else the objective.
        Returns the matplotlib axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        if self.residuals:
            for name, r in self.residuals.items():
                ax.semilogy(np.arange(len(r)), r, label=name)
            ax.set_ylabel("relative residual")
            ax.legend()
        else:
            ax.semilogy(self.history["iteration"], np.abs(self.history["objective"]), marker="o")
            ax.set_ylabel("objective")
        ax.set_xlabel("iteration")
        ax.set_title(self.method)
        return ax


def make_result(stacks: dict, volumes: dict, run, *, method: str, label: str, common: dict, per_channel: dict,
                haadf=None, **extra) -> RecStacks:
    """Wrap a solver's volumes with provenance.

    ``stacks``/``volumes``: name → input TomoStack / output array for every map; ``run``: the
    driver's :class:`~spectomo.recon.driver.RunRecord`; ``common``: parameters shared by every
    channel; ``per_channel``: name → extra parameters; ``haadf``: ``(stack, volume, extra)`` or None.
    Every RecStack gets ``metadata.Reconstruction = {software, method, common, run record, its
    extra}`` and keeps the input's alignment (:func:`rec_signal`).
    """
    params = {"software": "spectomo", "method": method, **common, **run.provenance()}
    out = {n: rec_signal(volumes[n], stacks[n], label, dict(params, **per_channel.get(n, {}))) for n in volumes}
    hrec = None if haadf is None else rec_signal(haadf[1], haadf[0], label, dict(params, **haadf[2]))
    return RecStacks(out, method=method, history=run.history, parameters=params, haadf=hrec, **extra)
