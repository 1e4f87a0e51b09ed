"""HAADF–EDS bimodal tomography (HEBT) as an OpenCL stacked SIRT.

Method: Zhong et al. (Ultramicroscopy 2017) as used by Yuan et al. (Ultramicroscopy 2020, sec. 2.2,
eq. 15–17). The HAADF is modelled as a weighted sum of the elemental signals, ``I_H = Σ_A r_A I_A``,
and all element volumes are reconstructed together by SIRT (non-negative) on the stacked system

    [(1−α) r_A I_A]   [(1−α) W              0   ]
    [      ⋮      ] = [           ⋱             ] [Y_1 … Y_k]ᵀ,   Y_A = r_A X_A,
    [    α I_H    ]   [  α W      …       α W   ]

so the low-noise HAADF sharpens every elemental map. ``α`` is the weight of the HAADF term.

Scaling (``normalise=True``, the default). The system above is eq. 17 exactly as printed: the
unknowns are in HAADF units (``Y_A = r_A X_A``). It is the naive map-unit system
``[(1−α) W; α r_A W] X = [(1−α) I_A; α I_H]`` with each element's column block rescaled by its
ratio. With it the column sums of the block matrix equal the projector's (independent of α and r)
and the SIRT update of element A weighs its own EDS residual by ``1 − α`` and the HAADF residual by
``α / k``, which is what α is meant to balance. In the naive system (``normalise=False``, kept for
comparison) the column sums grow like ``α r_A`` with ``r_A ~ 10²–10³``, so for any α > 0 the EDS
step shrinks by ~1/(α r_A) and the HAADF block swamps the maps. At ``α = 0`` both are per-element
SIRT. The results are returned in the maps' units (``X_A = Y_A / r_A``).

Every iteration is two fused kernels on the shared projector (``kernels/hebt.cl``): a forward
projection that also forms the weighted block residual, and a back-projection that also applies the
SIRT update and the bound. The row and column sums of W are computed once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .inputs import check_channels
from .operators import BatchGeometry, Operators, auto_chunk, from_batch, sinograms_to_batch, slice_operators
from .output import rec_signal
from .ratios import ResponseFitError, fit_response_ratios

__all__ = ["reconstruct_hebt", "HEBTResult", "HEBTSolver", "block_coefficients"]

_EPS = 1e-6  # row / column sums below this get zero weight (ASTRA's convention)


def block_coefficients(ratios, alpha: float, normalise: bool = True) -> dict:
    """Per-channel coefficients of the stacked SIRT update (see the module docstring).

    With ``P_c = W X_c`` the update is ``X_c += s_c/γ · Wᵀ[(a_c (d_c − P_c) + h_c (I_H − Σ q_e P_e))/ρ]``
    (ρ, γ: row and column sums of W) where the solver's data are ``d_c = data_scale_c · I_c`` and its
    unknowns ``X_c / out_scale_c``.

    Returns
    -------
    dict of ndarray (k,)
        ``a, h, q, s, data_scale, out_scale``.
    """
    r = np.asarray(ratios, dtype=float)
    k, al = len(r), float(alpha)
    ones = np.ones(k)
    if normalise:  # unknowns Y = r X: row sums (1−α)ρ and αkρ, column sums γ
        return {"a": (1 - al) * ones, "h": al / k * ones, "q": ones, "s": ones,
                "data_scale": r, "out_scale": 1 / r}
    # unknowns X: row sums (1−α)ρ and α Σr ρ, column sums ((1−α) + α r) γ
    return {"a": (1 - al) * ones, "h": al * r / r.sum(), "q": r, "s": 1 / ((1 - al) + al * r),
            "data_scale": ones, "out_scale": ones}


def _inverse(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    ok = np.abs(x) > _EPS
    out[ok] = 1 / x[ok]
    return out


@dataclass
class HEBTSolver:
    """State and kernels of one HEBT problem on an OpenCL device.

    Parameters
    ----------
    maps : list of ndarray (n_tilts, ny, nx)
        Elemental projections in map units.
    haadf : ndarray (n_tilts, ny, nx)
    tilts : array_like (n_tilts,)
    ratios : sequence of float (k,)
    alpha : float
    normalise, nonnegative : bool
    """

    maps: list
    haadf: np.ndarray
    tilts: np.ndarray
    ratios: tuple
    alpha: float
    normalise: bool = True
    nonnegative: bool = True
    device: object = None
    capacity: int = 1
    iteration: int = 0
    coef: dict = field(init=False)

    def __post_init__(self):
        n_t, ny, nx = self.haadf.shape
        nc = len(self.maps)
        chunk = auto_chunk(nx * nc, device=self.device, multiple=nc)  # whole voxels per work item
        self.geom = g = BatchGeometry(self.tilts, ny, ny, nx, nc, chunk=chunk)
        self.ops = o = Operators(g, device=self.device)
        self.coef = block_coefficients(self.ratios, self.alpha, self.normalise)
        c = self.coef
        d = sinograms_to_batch([m * s for m, s in zip(self.maps, c["data_scale"])], g)
        ih = np.zeros((n_t, ny, g.bp // nc), dtype=np.float32)
        ih[:, :, :nx] = self.haadf
        rho, gamma = self._sums()
        self.buf = {"x": o.buffer(size=o.n_vox), "g": o.buffer(size=o.n_sino), "d": o.buffer(d),
                    "ih": o.buffer(ih), "inv_row": o.buffer(_inverse(rho)), "inv_col": o.buffer(_inverse(gamma)),
                    "coef": o.buffer(np.concatenate([c["a"], c["h"], c["q"]])), "s": o.buffer(c["s"])}
        self.n_items = (g.bp // g.chunk) * g.ndet * g.n_angles
        self.buf["part"] = o.buffer(size=self.n_items * (nc + 1))
        self.buf["hist"] = o.buffer(size=(self.capacity + 1) * (nc + 1))
        self.k_res = o.kernel("hebt.cl", "hebt_residual")
        self.k_red = o.kernel("hebt.cl", "hebt_reduce")
        self.k_upd = o.kernel("hebt.cl", "hebt_update")
        ls = 1
        while ls * 2 <= min(64, o.rt.device.max_work_group_size):
            ls *= 2
        self._ls = ls
        self._local = o.cl.LocalMemory(ls * (nc + 1) * o.dtype.itemsize)
        # norms of the data, for relative residuals (in map / HAADF units)
        self.data_norms = np.array([np.linalg.norm(m) for m in self.maps] + [np.linalg.norm(self.haadf)])

    def _sums(self) -> tuple[np.ndarray, np.ndarray]:
        """Row sums ρ ``(n_angles, n_det)`` and column sums γ ``(ny, nz)`` of the projector W."""
        ops = slice_operators(self.geom, device=self.ops.rt.device)
        rho = ops.apply("radon", np.ones(ops.geom.vol_shape, dtype=np.float32))[..., 0]
        gamma = ops.apply("radon_adj", np.ones(ops.geom.sino_shape, dtype=np.float32))[..., 0]
        return rho, gamma

    def _residual(self, slot: int) -> None:
        o = self.ops
        cl, q = o.cl, o.rt.queue
        cl.enqueue_nd_range_kernel(q, self.k_res, o.sino_chunks, None)
        self.k_red.set_arg(3, np.int32(slot))
        cl.enqueue_nd_range_kernel(q, self.k_red, (self._ls,), (self._ls,))

    def _set_args(self) -> None:
        o, g, b = self.ops, self.geom, self.buf
        ndet = np.int32(g.ndet)
        self.k_res.set_args(b["g"], b["part"], b["x"], b["d"], b["ih"], o.ang, b["inv_row"], b["coef"],
                            *g.sizes, ndet)
        self.k_red.set_args(b["hist"], b["part"], np.int32(self.n_items), np.int32(0), self._local)
        lo = o.real(0 if self.nonnegative else -np.inf)
        self.k_upd.set_args(b["x"], b["g"], o.ang, np.int32(g.n_angles), b["inv_col"], b["s"], lo,
                            *g.sizes, ndet)

    def step(self, n: int = 1) -> None:
        """Enqueue ``n`` SIRT iterations (residual of the current iterate, then the update)."""
        if self.iteration + n > self.capacity:
            raise ValueError(f"iterations: the solver was sized for {self.capacity}")
        self._set_args()
        o = self.ops
        for _ in range(int(n)):
            self._residual(self.iteration)
            o.cl.enqueue_nd_range_kernel(o.rt.queue, self.k_upd, o.vol_chunks, None)
            self.iteration += 1

    def finalise(self) -> None:
        """Residual of the final iterate (slot ``iteration`` of the history)."""
        self._set_args()
        self._residual(self.iteration)
        self.ops.finish()

    def residuals(self, upto: int | None = None) -> np.ndarray:
        """Relative residual norms ``(n, k + 1)``: rows are iterates 0…n−1, columns the EDS blocks
        ``‖I_c − W X_c‖/‖I_c‖`` then the HAADF ``‖I_H − Σ r_c W X_c‖/‖I_H‖``."""
        nc = len(self.maps)
        n = self.iteration + 1 if upto is None else int(upto)
        h = self.ops.read(self.buf["hist"], ((self.capacity + 1) * (nc + 1),))
        sq = h[: n * (nc + 1)].reshape(n, nc + 1).astype(np.float64)
        scale = np.append(self.coef["out_scale"], 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(np.maximum(sq, 0)) * scale / self.data_norms

    def volumes(self) -> list[np.ndarray]:
        """Current element volumes in map units, ``(nx, ny, nz)`` each."""
        vols = from_batch(self.ops.read(self.buf["x"], self.geom.vol_shape), self.geom)
        return [v * np.float32(s) for v, s in zip(vols, self.coef["out_scale"])]


@dataclass
class HEBTResult:
    """Output of :func:`reconstruct_hebt`.

    Attributes
    ----------
    volumes : dict[str, RecStack (nx, ny, nz)]
        One volume per element in the maps' units per voxel path length.
    haadf : RecStack (nx, ny, nz)
        The HAADF model ``Σ_A r_A X_A`` in HAADF units per voxel path length.
    ratios : dict[str, float]
        Response ratios used (fitted or given).
    r2 : float or None
        R² of the ratio fit (None when ratios were given).
    alpha : float
    residuals : dict[str, ndarray (n_iterations + 1,)]
        Relative residual norm of each EDS block and of ``"HAADF"`` for iterates 0…n.
    """

    volumes: dict
    haadf: object
    ratios: dict
    r2: float | None
    alpha: float
    residuals: dict

    def __getitem__(self, name: str):
        return self.volumes[name]

    def quantify(self, **kwargs):
        """Weight fractions from these volumes with the HAADF factors (Yuan eq. 18):
        :func:`spectomo.quantify` with ``method='hebt'`` (keyword options passed on)."""
        from ..quantify import quantify

        return quantify(self, method=kwargs.pop("method", "hebt"), **kwargs)

    def plot_residuals(self, ax=None):
        """Residual histories on a log scale; returns the matplotlib axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        for name, r in self.residuals.items():
            ax.semilogy(np.arange(len(r)), r, label=name)
        ax.set_xlabel("iteration")
        ax.set_ylabel("relative residual")
        ax.set_title(f"HEBT, α = {self.alpha:g}")
        ax.legend()
        return ax


def _resolve_ratios(ratios: dict, names: list) -> dict:
    """Map ratios keyed by map name or element symbol onto the map names; validate values."""
    if not isinstance(ratios, dict):
        raise TypeError(f"ratios: expected a dict map name → ratio, got {type(ratios).__name__}")
    element = {n: n.split("_")[0] for n in names}
    out = {}
    for key, val in ratios.items():
        if key in names:
            target = key
        else:
            hits = [n for n in names if element[n] == key]
            if len(hits) != 1:
                why = "matches several maps" if hits else "is not an element of the maps"
                raise KeyError(f"ratios: {key!r} {why}; the maps are {names}")
            target = hits[0]
        v = float(val)
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"ratios[{key!r}]: expected a positive finite number, got {val!r}")
        out[target] = v
    missing = [n for n in names if n not in out]
    if missing:
        raise ValueError(f"ratios: no ratio for {missing}; give one per map or ratios=None to fit them")
    return out


def reconstruct_hebt(haadf, maps: dict, *, alpha: float = 0.8, iterations: int = 200, ratios=None,
                     normalise: bool = True, nonnegative: bool = True, device=None, progress: bool = True,
                     callback=None, check_every: int = 10) -> HEBTResult:
    """Reconstruct all elemental volumes together with the HAADF (HEBT, Yuan et al. 2020 eq. 17).

    Parameters
    ----------
    haadf : TomoStack (n_tilts, ny, nx)
        HAADF projections, aligned with the maps.
    maps : dict[str, TomoStack (n_tilts, ny, nx)]
        One elemental map stack per element (e.g. ``{"Ag_La": …, "Au_La": …}``), same grid and
        tilts as ``haadf``.
    alpha : float
        Weight of the HAADF term, 0 ≤ α < 1. α = 0 is per-element SIRT; the paper finds 0.6–0.9
        best, with the best iteration count growing with α.
    iterations : int
        SIRT iterations (HEBT needs more than single-channel SIRT; the paper uses 100–500).
    ratios : dict[str, float], optional
        Response ratios r_A keyed by map name or element symbol; default: fitted with
        :func:`fit_response_ratios`.
    normalise : bool
        Solve eq. 17 in HAADF units (see the module docstring). False solves the unnormalised
        map-unit system, in which the HAADF block swamps the maps; for comparison only.
    nonnegative : bool
        Clip the volumes at 0 after every iteration.
    device : optional
        OpenCL device (see :func:`spectomo.recon.opencl.get_runtime`).
    progress : bool
        Progress bar over iterations.
    callback : callable, optional
        ``callback(info)`` every ``check_every`` iterations with ``iteration``, ``residuals``
        (dict of the current relative residuals), ``seconds`` and ``volumes`` (a function
        returning the current volumes as a dict of arrays); returning True stops the run.
    check_every : int
        Iterations between progress updates and callbacks.

    Returns
    -------
    HEBTResult
        ``.volumes`` (dict of RecStack in map units per voxel path length, with the parameters,
        ratios and residual history in ``metadata.Reconstruction``), ``.haadf``, ``.ratios``,
        ``.r2``, ``.residuals``.
    """
    maps = check_channels(maps, arg="maps", reference=("haadf", haadf))
    names = list(maps)
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"alpha: expected a number in [0, 1), got {alpha!r}") from None
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha: expected 0 ≤ α < 1 (the weight of the HAADF term), got {alpha}")
    if int(iterations) < 1:
        raise ValueError(f"iterations: must be ≥ 1, got {iterations}")
    if ratios is None:
        fitted, r2 = fit_response_ratios(haadf, maps)
        zero = [n for n, v in fitted.items() if not v > 0]
        if zero:
            raise ResponseFitError(f"maps: the fitted response ratio of {zero} is 0 (R² = {r2:.3f}): the HAADF "
                                   "carries no signal of these maps; leave them out or pass ratios=")
        ratios = fitted
    else:
        ratios, r2 = _resolve_ratios(ratios, names), None
    h = np.asarray(haadf.data, dtype=np.float32)
    data = [np.asarray(maps[n].data, dtype=np.float32) for n in names]
    total = int(iterations)
    solver = HEBTSolver(data, h, haadf.tilts, tuple(ratios[n] for n in names), alpha, bool(normalise),
                        bool(nonnegative), device, capacity=total)
    check_every = max(1, int(check_every))
    stopped = "iterations"
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc="HEBT", unit="it", disable=not progress, leave=False)
    try:
        while solver.iteration < total:
            n = min(check_every, total - solver.iteration)
            solver.step(n)
            solver.ops.finish()
            bar.update(n)
            if callback is not None:
                solver.finalise()  # residual of the current iterate (recomputed identically next step)
                last = solver.residuals()[-1]
                info = {"iteration": solver.iteration, "seconds": time.perf_counter() - t0,
                        "residuals": dict(zip([*names, "HAADF"], map(float, last))),
                        "volumes": lambda: dict(zip(names, solver.volumes()))}
                if callback(info):
                    stopped = "callback"
                    break
    finally:
        bar.close()
    solver.finalise()
    elapsed = time.perf_counter() - t0
    hist = solver.residuals()
    residuals = {n: hist[:, i] for i, n in enumerate([*names, "HAADF"])}
    vols = dict(zip(names, solver.volumes()))
    info = {"software": "spectomo", "method": "HEBT (stacked SIRT)", "iterations": int(solver.iteration),
            "stopped_by": stopped, "alpha": alpha, "ratios": dict(ratios), "r2": -1.0 if r2 is None else r2,
            "ratios_fitted": r2 is not None, "normalise": bool(normalise), "nonnegative": bool(nonnegative),
            "channels": names, "haadf_source": haadf.metadata.General.title or "haadf",
            "device": solver.ops.rt.device.name.strip(), "projector": "linear (Huber 2019 eq. 8)",
            "seconds": float(elapsed), "residual_history": {k: v.copy() for k, v in residuals.items()}}
    out = {n: rec_signal(vols[n], maps[n], "HEBT", dict(info, ratio=float(ratios[n]))) for n in names}
    model = sum(np.float32(ratios[n]) * vols[n] for n in names)
    hrec = rec_signal(model, haadf, "HEBT model", dict(info, units_note="Σ r_A X_A, HAADF units"))
    return HEBTResult(volumes=out, haadf=hrec, ratios=dict(ratios), r2=r2, alpha=alpha, residuals=residuals)
