"""Windowed net line intensities: integration windows, background windows, background models.

For each line the net count is ``Σ_int − B`` where ``Σ_int`` is the sum of the counts in the integration
window and ``B`` the background under it, estimated from two side windows. A window ``[lo, hi)``
takes every channel it covers, a channel cut by an edge in proportion to the covered part of its
width, so results do not depend on where the windows fall on the channel grid. Then:

* ``background="flat"`` (exspy's ``get_lines_intensity``): the mean count per channel of both side
  windows times the number of integration channels.
* ``background="linear"`` (default): the straight line through the two side-window means (each at
  its window's mean channel energy), summed over the integration channels. For a linear
  background this is exact whatever the window placement; the flat estimate is exact only for side
  windows placed symmetrically about the integration window.

Both are linear in the window sums, so ``B = w_L Σ_L + w_R Σ_R`` and the whole map stack is
computed in one pass over the data, block by block.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .inputs import SpectralInput, SpectralInputError, iter_blocks
from .lines import Line, contamination, interferers

__all__ = ["WindowPlan", "plan_windows", "auto_background_windows", "net_counts", "OverlapWarning"]

#: Background side windows are slid outward until other lines put less than this (relative to
#: the mapped line's peak area) into them.
BACKGROUND_TOLERANCE = 0.005
#: Warn when other lines put more than this into an integration or background window.
WARN_FRACTION = 0.02


class OverlapWarning(UserWarning):
    """A window of one X-ray line also collects counts of another line."""


@dataclass
class WindowPlan:
    """Channel ranges and background weights for one line (energies in axis units)."""

    line: Line
    integration: tuple[float, float]
    background_windows: tuple | None  # (l0, l1, r0, r1); a side is None when unused
    background: str  # 'linear', 'flat' or 'none'
    int_window: "Window"
    left: "Window | None"
    right: "Window | None"
    w_left: float
    w_right: float

    def net(self, data: np.ndarray, offset: int = 0) -> np.ndarray:
        """Net counts of this line in ``data[..., c]`` (channel ``c + offset``), float64."""
        val = self.int_window.apply(data, offset)
        if self.w_left:
            val = val - self.w_left * self.left.apply(data, offset)
        if self.w_right:
            val = val - self.w_right * self.right.apply(data, offset)
        return val

    def variance(self, data: np.ndarray, offset: int = 0) -> np.ndarray:
        """Poisson variance of :meth:`net` from the same window sums: ``Σ_int + w_L² Σ_L + w_R² Σ_R``."""
        val = self.int_window.apply(data, offset)
        if self.w_left:
            val = val + self.w_left**2 * self.left.apply(data, offset)
        if self.w_right:
            val = val + self.w_right**2 * self.right.apply(data, offset)
        return val

    def as_metadata(self, units: str) -> dict:
        bw = self.background_windows
        return {"line": self.line.name, "line_energy": float(self.line.energy), "fwhm": float(self.line.fwhm),
                "energy_units": units, "integration_window": list(self.integration),
                "background_windows": None if bw is None else [np.nan if v is None else float(v) for v in bw],
                "background": self.background,
                "channels": {"integration": [self.int_window.start, self.int_window.stop],
                             "left": None if self.left is None else [self.left.start, self.left.stop],
                             "right": None if self.right is None else [self.right.start, self.right.stop]},
                "background_weights": [self.w_left, self.w_right]}


@dataclass(frozen=True)
class Window:
    """Channels ``start:stop`` covered by an energy window, with the covered fraction of each."""

    start: int
    stop: int
    weights: np.ndarray

    @property
    def size(self) -> float:
        """Width in channels (fractional)."""
        return float(self.weights.sum())

    def mean_energy(self, energy: np.ndarray) -> float:
        return float(np.dot(self.weights, energy[self.start:self.stop]) / self.size)

    def apply(self, data: np.ndarray, offset: int = 0) -> np.ndarray:
        """Counts in the window; ``data[..., c]`` holds channel ``c + offset``."""
        part = data[..., self.start - offset:self.stop - offset].astype(np.float64, copy=False)
        return np.tensordot(part, self.weights, axes=([-1], [0]))


def channel_edges(energy: np.ndarray) -> np.ndarray:
    """Channel boundaries (n_channels + 1): midpoints between centres, extrapolated at the ends."""
    mid = (energy[1:] + energy[:-1]) / 2
    return np.concatenate([[2 * energy[0] - mid[0]], mid, [2 * energy[-1] - mid[-1]]])


def make_window(energy: np.ndarray, lo: float, hi: float, what: str) -> Window:
    """The :class:`Window` covering ``[lo, hi)``; raises when it lies outside the axis or is empty."""
    edges = channel_edges(energy)
    if lo < edges[0] - 1e-9 or hi > edges[-1] + 1e-9:
        raise SpectralInputError(
            f"{what}: window {lo:g}–{hi:g} extends beyond the energy axis ({edges[0]:g}–{edges[-1]:g})")
    cover = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None) / np.diff(edges)
    idx = np.flatnonzero(cover > 1e-12)
    if idx.size == 0 or cover.sum() < 0.5:
        raise SpectralInputError(
            f"{what}: window {lo:g}–{hi:g} covers less than half a channel of the energy axis "
            f"(step {energy[1] - energy[0]:g})")
    return Window(int(idx[0]), int(idx[-1]) + 1, cover[idx[0]:idx[-1] + 1].copy())


def _slide(line: Line, others: list[Line], side: int, width: float, start: float, stop: float,
           lo: float, hi: float):
    """First side window (moving outward from ``start`` FWHM) clean of other lines, else the cleanest."""
    best = None
    for d in np.arange(start, stop + 1e-9, 0.25):
        near = line.energy + side * d * line.fwhm
        far = near + side * width * line.fwhm
        win = (min(near, far), max(near, far))
        if win[0] < lo or win[1] > hi:
            break
        c = sum(contamination(line, win, others).values())
        if best is None or c < best[1]:
            best = (win, c)
        if c < BACKGROUND_TOLERANCE:
            return win, c
    return best if best is not None else (None, np.inf)


def auto_background_windows(line: Line, others: list[Line], energy_range, *, start: float = 2.0,
                            width: float = 1.0, stop: float = 10.0):
    """Side windows for ``line`` that avoid the other lines.

    Starts from exspy's default placement (windows of ``width`` FWHM beginning ``start`` FWHM either
    side of the line) and slides each window outward in steps of ¼ FWHM, up to ``stop`` FWHM, until
    the other lines put less than :data:`BACKGROUND_TOLERANCE` of the line's peak area into it.
    Returns ``((l0, l1), (r0, r1))``; a side is None when no window fits inside the energy range.
    """
    lo, hi = energy_range
    left, _ = _slide(line, others, -1, width, start, stop, lo, hi)
    right, _ = _slide(line, others, +1, width, start, stop, lo, hi)
    return left, right


def _weights(energy, ints: Window, left: Window | None, right: Window | None, background: str):
    """Background weights ``(w_L, w_R)`` such that ``B = w_L Σ_L + w_R Σ_R``."""
    if background == "none" or (left is None and right is None):
        return 0.0, 0.0
    if left is None or right is None or background == "flat":
        n_l = 0.0 if left is None else left.size
        n_r = 0.0 if right is None else right.size
        w = ints.size / (n_l + n_r)
        return (w if left is not None else 0.0), (w if right is not None else 0.0)
    e_l, e_r, e_i = left.mean_energy(energy), right.mean_energy(energy), ints.mean_energy(energy)
    t = (e_i - e_l) / (e_r - e_l)
    return ints.size * (1 - t) / left.size, ints.size * t / right.size


def _warn_overlaps(plan: WindowPlan, others: list[Line], units: str) -> None:
    windows = [("integration", plan.integration)]
    bw = plan.background_windows
    if bw is not None:
        windows += [("left background", bw[:2]), ("right background", bw[2:])]
    for kind, win in windows:
        if win is None or win[0] is None:
            continue
        c = contamination(plan.line, tuple(win), others)
        if sum(c.values()) > WARN_FRACTION:
            names = ", ".join(f"{k} (~{100 * v:.1f} %)" for k, v in sorted(c.items(), key=lambda kv: -kv[1])
                              if v > WARN_FRACTION / 4)
            warnings.warn(
                f"{plan.line.name}: its {kind} window {win[0]:.3f}–{win[1]:.3f} {units} overlaps {names} "
                f"(expected area relative to {plan.line.name}, assuming equal α-line intensities across "
                "elements); choose other windows or use method='nmf'", OverlapWarning, stacklevel=4)


def plan_windows(inp: SpectralInput, lines: list[Line], *, integration_windows=2.0,
                 background_windows="auto", background: str = "linear") -> list[WindowPlan]:
    """Integration and background windows for each line, as channel ranges and weights.

    Parameters
    ----------
    integration_windows : float or array_like (n_lines, 2)
        Width in FWHM of each line (exspy's convention; 2.0 is ±1 FWHM), or explicit windows in
        axis units.
    background_windows : 'auto', None or array_like (n_lines, 4)
        ``'auto'`` (:func:`auto_background_windows`), None (no background subtraction), or explicit
        ``[l0, l1, r0, r1]`` per line in axis units, as returned by exspy's
        ``estimate_background_windows``.
    background : {'linear', 'flat'}
    """
    if background not in ("linear", "flat"):
        raise SpectralInputError(f"background: expected 'linear' or 'flat', got {background!r}")
    n = len(lines)
    e = inp.energy
    if np.ndim(integration_windows) == 0:
        w = float(integration_windows)
        if not np.isfinite(w) or w <= 0:
            raise SpectralInputError(f"integration_windows: width in FWHM must be > 0, got {integration_windows!r}")
        iw = [(ln.energy - w * ln.fwhm / 2, ln.energy + w * ln.fwhm / 2) for ln in lines]
    else:
        iw = np.asarray(integration_windows, dtype=float)
        if iw.shape != (n, 2):
            raise SpectralInputError(f"integration_windows: expected shape ({n}, 2) for {n} lines, got {iw.shape}")
        iw = [tuple(r) for r in iw]
    others = interferers(inp, lines)
    if isinstance(background_windows, str):
        if background_windows != "auto":
            raise SpectralInputError(f"background_windows: expected 'auto', None or an array, got {background_windows!r}")
        bws = []
        for ln in lines:
            left, right = auto_background_windows(ln, others, (e[0], e[-1]))
            bws.append((*(left or (None, None)), *(right or (None, None))))
    elif background_windows is None:
        bws = [None] * n
    else:
        arr = np.asarray(background_windows, dtype=float)
        if arr.shape != (n, 4):
            raise SpectralInputError(f"background_windows: expected shape ({n}, 4) for {n} lines, got {arr.shape}")
        bws = [tuple(r) for r in arr]

    plans = []
    for ln, (a, b), bw in zip(lines, iw, bws):
        ints = make_window(e, a, b, f"integration_windows ({ln.name})")
        left = right = None
        if bw is not None:
            if bw[0] is not None:
                left = make_window(e, bw[0], bw[1], f"background_windows ({ln.name}, left)")
            if bw[2] is not None:
                right = make_window(e, bw[2], bw[3], f"background_windows ({ln.name}, right)")
            if left is None and right is None:
                raise SpectralInputError(f"background_windows: no background window fits for {ln.name} "
                                         "inside the energy range; pass explicit windows")
            for side in (left, right):
                if side is not None and max(side.start, ints.start) < min(side.stop, ints.stop):
                    raise SpectralInputError(f"background_windows: a window of {ln.name} overlaps its "
                                             "integration window")
        mode = "none" if bw is None else background
        if mode == "linear" and (left is None or right is None):
            warnings.warn(f"{ln.name}: only one background window fits in the energy range; using a flat "
                          "background from that side", OverlapWarning, stacklevel=3)
            mode = "flat"
        wl, wr = _weights(e, ints, left, right, mode)
        plan = WindowPlan(ln, (float(a), float(b)), bw, mode, ints, left, right, wl, wr)
        _warn_overlaps(plan, others, inp.energy_units)
        plans.append(plan)
    return plans


def net_counts(inp: SpectralInput, plans: list[WindowPlan], *, progress: bool = True,
               variance: bool = False):
    """Net counts of every planned line, shape ``(n_lines, n_tilts, ny, nx)``, float64.

    One pass over the channels spanned by all windows, block by block (see
    :func:`~spectomo.spectral.inputs.iter_blocks`); sums are accumulated in float64. With
    ``variance=True`` also their Poisson variances (same shape), from the same window sums.
    """
    spans = [w for p in plans for w in (p.int_window, p.left, p.right) if w is not None]
    c0, c1 = min(w.start for w in spans), max(w.stop for w in spans)
    n, ny, nx, _ = inp.shape
    out = np.zeros((len(plans), n, ny, nx))
    var = np.zeros_like(out) if variance else None
    for (ts, ys), block in iter_blocks(inp, channels=slice(c0, c1), progress=progress, desc="window maps"):
        for k, p in enumerate(plans):
            out[k, ts, ys] = p.net(block, c0)
            if variance:
                var[k, ts, ys] = p.variance(block, c0)
    return (out, var) if variance else out
