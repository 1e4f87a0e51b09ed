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
SIRT update and the bound. The row and column sums of W are computed once. The iterations are run
by :func:`spectomo.recon.driver.run` (stopping, callbacks, checkpoints, history); the objective it
reports is the squared residual of the stacked system, ``Σ_c a_c² ‖d_c − P_c‖² + α² ‖I_H − Σ q P‖²``
in the solver's units.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..opencl.layout import BatchGeometry, from_batch, sinograms_from_batch, sinograms_to_batch
from ..opencl.operators import Operators, auto_chunk, slice_operators
from ..validation import InputWarning, whole_number
from .channels import check_haadf_and_maps
from .driver import Solver, run
from .memory import plan_slab_count
from . import thinning
from .ratios import ResponseFitError, fit_response_ratios
from .result import RecStacks, make_result

__all__ = ["reconstruct_hebt", "HEBTSolver", "block_coefficients"]

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


class HEBTSolver(Solver):
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
    device : optional
        OpenCL device.
    capacity : int
        Most iterations this solver will run (the per-iteration residuals are kept on the device).
    names : sequence of str (k,), optional
        Map names, for :meth:`volumes` and the metrics.
    heldout : list of spectomo.recon.thinning.Split (k,), optional
        When the maps are training parts: their splits. Every check then projects the current
        volumes and scores each against its test part (metrics ``heldout_<name>``, and ``heldout``:
        their mean, each relative to its score at iteration 0).
    """

    label = "HEBT"

    def __init__(self, maps, haadf, tilts, ratios, alpha: float, normalise: bool = True, nonnegative: bool = True,
                 device=None, capacity: int = 1, *, names=None, heldout=None, share: bool = True):
        self.maps, self.haadf, self.ratios, self.alpha = list(maps), np.asarray(haadf), tuple(ratios), float(alpha)
        self.normalise, self.nonnegative, self.capacity, self.iteration = bool(normalise), bool(nonnegative), int(capacity), 0
        self.share = bool(share)
        nc = len(self.maps)
        self.names = list(names) if names is not None else [f"map {c}" for c in range(nc)]
        n_t, ny, nx = self.haadf.shape
        chunk = auto_chunk(nx * nc, device=device, multiple=nc)  # whole voxels per work item
        self.geom = g = BatchGeometry(tilts, ny, ny, nx, nc, chunk=chunk)
        self.ops = o = Operators(g, device=device)
        self.coef = c = block_coefficients(self.ratios, self.alpha, self.normalise)
        d = sinograms_to_batch([m * s for m, s in zip(self.maps, c["data_scale"])], g)
        ih = np.zeros((n_t, ny, g.bp // nc), dtype=np.float32)
        ih[:, :, :nx] = self.haadf
        rho, gamma = self._sums()
        self.n_items = (g.bp // g.chunk) * g.ndet * g.n_angles
        self.buf = b = o.allocate(
            {"x": g.n_vox, "g": g.n_sino, "d": d, "ih": ih, "inv_row": _inverse(rho), "inv_col": _inverse(gamma),
             "coef": np.concatenate([c["a"], c["h"], c["q"]]), "s": np.tile(np.asarray(c["s"]), g.chunk // nc),
             "part": self.n_items * (nc + 1), "hist": (self.capacity + 1) * (nc + 1)},
            what=f"HEBT of {nc} map(s) × {nx} slices of {ny}×{ny}")
        ls = 1
        while ls * 2 <= min(64, o.rt.device.max_work_group_size):
            ls *= 2
        self._ls = ls
        self.k_res = o.kernel("hebt.cl", "hebt_residual").bind(g=b["g"], part=b["part"], x=b["x"], d=b["d"],
                                                               ih=b["ih"], inv_row=b["inv_row"], coef=b["coef"],
                                                               share=np.int32(self.share))
        self.k_red = o.kernel("hebt.cl", "hebt_reduce").bind(
            hist=b["hist"], part=b["part"], n_items=self.n_items,
            scratch=o.cl.LocalMemory(ls * (nc + 1) * o.dtype.itemsize))
        self.k_upd = o.kernel("hebt.cl", "hebt_update").bind(x=b["x"], g=b["g"], inv_col=b["inv_col"],
                                                             colscale=b["s"], lo=0 if self.nonnegative else -np.inf)
        # norms of the data, for relative residuals (in map / HAADF units)
        self.data_norms = np.array([np.linalg.norm(m) for m in self.maps] + [np.linalg.norm(self.haadf)])
        self.heldout, self._sino = heldout, None
        if heldout is not None:
            self._heldout_zero = [h.score(np.zeros_like(h.test))["heldout"] for h in heldout]

    def projections(self) -> list[np.ndarray]:
        """Projections ``(n_tilts, ny, nx)`` of the current volumes in map units, one per map."""
        g = self.geom
        if self._sino is None:  # one buffer, allocated at the first call and reused
            self._sino = self.ops.buffer(size=int(np.prod(g.sino_shape)))
        sino = self._sino
        self.ops.radon(sino, self.buf["x"])
        stacks = sinograms_from_batch(self.ops.read(sino, g.sino_shape), g)
        return [st * np.float32(s) for st, s in zip(stacks, self.coef["out_scale"])]

    def _sums(self) -> tuple[np.ndarray, np.ndarray]:
        """Row sums ρ ``(n_angles, n_det)`` and column sums γ ``(ny, nz)`` of the projector W."""
        ops = slice_operators(self.geom, device=self.ops.rt.device)
        rho = ops.apply("radon", np.ones(ops.geom.vol_shape, dtype=np.float32))[..., 0]
        gamma = ops.apply("radon_adj", np.ones(ops.geom.sino_shape, dtype=np.float32))[..., 0]
        return rho, gamma

    def _residual(self, slot: int) -> None:
        """Residual of the current iterate into ``g`` and its squared norms into history slot ``slot``."""
        self.ops.launch_bins(self.k_res)
        self.k_red((self._ls,), (self._ls,), slot=slot)

    def initialise(self) -> None:
        self.ops.zero(self.buf["x"])
        self.iteration = 0

    def step(self, n: int = 1) -> None:
        """Enqueue ``n`` SIRT iterations (residual of the current iterate, then the update)."""
        if self.iteration + n > self.capacity:
            raise ValueError(f"iterations: the solver was sized for {self.capacity}")
        for _ in range(int(n)):
            self._residual(self.iteration)
            self.ops.launch_voxels(self.k_upd)
            self.iteration += 1

    def sync(self) -> None:
        self.ops.finish()

    def finalise(self) -> None:
        """Residual of the current iterate (slot ``iteration`` of the history)."""
        self._residual(self.iteration)
        self.ops.finish()

    def _squares(self, upto: int) -> np.ndarray:
        nc = len(self.maps)
        h = self.ops.read(self.buf["hist"], ((self.capacity + 1) * (nc + 1),))
        return h[: upto * (nc + 1)].reshape(upto, nc + 1).astype(np.float64)

    def residuals(self, upto: int | None = None) -> np.ndarray:
        """Relative residual norms ``(n, k + 1)``: rows are iterates 0…n−1, columns the EDS blocks
        ``‖I_c − W X_c‖/‖I_c‖`` then the HAADF ``‖I_H − Σ r_c W X_c‖/‖I_H‖``."""
        return self._relative(self._squares(self.iteration + 1 if upto is None else int(upto)))

    def _relative(self, sq: np.ndarray) -> np.ndarray:
        return relative_residuals(sq, self.coef, self.data_norms)

    def check(self) -> dict:
        """Objective (squared residual of the stacked system) and the relative residual of each block."""
        self.finalise()
        out = block_check(self._squares(self.iteration + 1)[-1], self.coef, self.alpha, self.data_norms, self.names)
        if self.heldout is not None:
            scores = [h.score(p)["heldout"] for h, p in zip(self.heldout, self.projections())]
            out.update({f"heldout_{n}": v for n, v in zip(self.names, scores)})
            out["heldout"] = float(np.mean([v / z for v, z in zip(scores, self._heldout_zero)]))
        return out

    def monitor(self) -> np.ndarray:
        return self.ops.read(self.buf["x"], self.geom.vol_shape)

    def state(self) -> dict:
        self.finalise()
        return {"x": self.monitor(), "hist": self._squares(self.iteration + 1).astype(np.float32)}

    def set_state(self, state: dict, iteration: int) -> None:
        x, hist = np.asarray(state["x"]), np.asarray(state["hist"], dtype=np.float32)
        if x.shape != self.geom.vol_shape or hist.shape != (int(iteration) + 1, len(self.maps) + 1):
            raise ValueError(f"checkpoint: arrays of shape {x.shape}, {hist.shape} do not fit this problem")
        if iteration > self.capacity:
            raise ValueError(f"iterations: the solver was sized for {self.capacity}")
        full = np.zeros(((self.capacity + 1) * (len(self.maps) + 1),), dtype=np.float32)
        full[: hist.size] = hist.ravel()
        self.ops.write(self.buf["x"], x)
        self.ops.write(self.buf["hist"], full)
        self.iteration = int(iteration)

    def signature(self) -> tuple[list, dict]:
        return [*self.maps, self.haadf], {"ratios": list(self.ratios), "alpha": self.alpha, "names": self.names,
                                          "normalise": self.normalise, "nonnegative": self.nonnegative,
                                          "tilts": self.geom.tilts.tolist()}

    def volumes(self) -> dict:
        """Current element volumes in map units, ``(nx, ny, nz)`` each."""
        vols = from_batch(self.ops.read(self.buf["x"], self.geom.vol_shape), self.geom)
        return {n: v * np.float32(s) for n, v, s in zip(self.names, vols, self.coef["out_scale"])}


def relative_residuals(sq: np.ndarray, coef: dict, data_norms: np.ndarray) -> np.ndarray:
    """Squared block residuals (solver units) → relative residual norms (map / HAADF units)."""
    scale = np.append(coef["out_scale"], 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.maximum(sq, 0)) * scale / data_norms


def block_check(sq: np.ndarray, coef: dict, alpha: float, data_norms: np.ndarray, names: list) -> dict:
    """The driver's check from the squared block residuals of the current iterate: the objective of
    the stacked system and each block's relative residual (for :class:`HEBTSolver` and its slabs)."""
    objective = float((coef["a"] ** 2 * sq[:-1]).sum() + alpha ** 2 * sq[-1])
    rel = relative_residuals(sq, coef, data_norms)
    return {"objective": objective, **{f"residual_{n}": float(r) for n, r in zip([*names, "HAADF"], rel)}}


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


def _alpha(alpha) -> float:
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"alpha: expected a number in [0, 1), got {alpha!r}") from None
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha: expected 0 ≤ α < 1 (the weight of the HAADF term), got {alpha}")
    return alpha


#: Warn above these fractions of negative pixels (HAADF offsets; over-subtracted map backgrounds)
NEGATIVE_WARN = {"haadf": 0.01, "maps": 0.10}


def _check_signals(haadf, maps: dict) -> None:
    """One map per element; warn about negative signal, which the linear HAADF model cannot hold."""
    seen = {}
    for name in maps:
        el = name.split("_")[0]
        if el in seen:
            raise ValueError(f"maps: {seen[el]!r} and {name!r} are both {el}; HEBT needs one map per element "
                             "(their signals are collinear in the HAADF model): keep one line or sum them")
        seen[el] = name
    for label, stack, limit, cause in [("haadf", haadf, NEGATIVE_WARN["haadf"], "a detector offset: subtract the "
                                        "vacuum level")] + [(f"maps[{n!r}]", m, NEGATIVE_WARN["maps"], "an over-"
                                        "subtracted background") for n, m in maps.items()]:
        frac = float(np.mean(np.asarray(stack.data) < 0))
        if frac > limit:
            warnings.warn(f"{label}: {100 * frac:.0f} % of the pixels are negative; HEBT models the HAADF as a "
                          f"non-negative sum of the maps, so this is likely {cause}", InputWarning, stacklevel=3)


def _ratios(haadf, maps: dict, ratios, errors: dict | None = None, noise="auto") -> tuple[dict, float | None]:
    """Given ratios (validated, keyed onto the map names) or fitted ones with their R² (and their
    standard errors into ``errors`` when a dict is passed); ``noise`` as in :func:`fit_response_ratios`."""
    if ratios is not None:
        return _resolve_ratios(ratios, list(maps)), None
    fitted, r2, se = fit_response_ratios(haadf, maps, errors=True, noise=noise)
    if errors is not None:
        errors.update(se)
    zero = [n for n, v in fitted.items() if not v > 0]
    if zero:
        raise ResponseFitError(f"maps: the fitted response ratio of {zero} is 0 (R² = {r2:.3f}): the HAADF "
                               "carries no signal of these maps; leave them out or pass ratios=")
    return fitted, r2


#: α values tried by ``alpha='auto'`` (``auto_options={'alphas': …}`` changes them).
ALPHA_GRID = (0.0, 0.4, 0.6, 0.8, 0.9)


def _train_stack(stack, data):
    from ..signals import TomoStack

    return TomoStack(np.asarray(data, dtype=np.float32), tilts=stack.tilts)


def choose_hebt(haadf, maps: dict, *, alpha, iterations, ratios, normalise: bool, nonnegative: bool, device,
                options=None, progress: bool = True) -> tuple[float, int, dict]:
    """α and/or the iteration count of HEBT chosen by data splitting (:mod:`spectomo.recon.thinning`).

    Every map is split into a training and a test part (data fission with its noise model, or
    binomial thinning of counts) and so is the HAADF. HEBT runs on the training parts (response
    ratios refitted on them, or the given ones rescaled to the parts) for each α of the grid; every
    check projects each element volume and scores it against its test part in the volume domain.
    Each element's curve is normalised to its excess over its best (over all α and iterations),
    relative to the range of its scores; the (α, iteration) with the smallest mean excess over the
    elements wins, so a minor element weighs as much as a major one. The iteration count is
    transferred to the full data with :func:`~spectomo.recon.thinning.transfer_iterations`.

    Returns
    -------
    alpha, iterations, auto
        The choice and what ``metadata.Reconstruction.auto`` records (grid, curves, rule).
    """
    opts = thinning.auto_options(options, {"alphas": ALPHA_GRID})
    alphas = tuple(_alpha(a) for a in opts["alphas"]) if alpha == "auto" else (alpha,)
    p, names = float(opts["fraction"]), list(maps)
    splits = [thinning.split(maps[n].data, fraction=p, seed=opts["seed"] + i,
                             noise=thinning.stack_noise(maps[n], f"maps[{n!r}]")) for i, n in enumerate(names)]
    # the HAADF is split so that its training part carries the same share; it is not scored
    hsplit = thinning.split(haadf.data, fraction=p, seed=opts["seed"] + len(names))
    k_max = opts["max_iterations"] if iterations == "auto" else max(
        1, int(round(iterations * p ** thinning.TRANSFER_EXPONENT)))
    folds = [(splits, hsplit), ([s.swapped() for s in splits], hsplit.swapped())][:opts["folds"]]
    runs: dict = {}
    for parts, hpart in folds:
        train_maps = {n: _train_stack(maps[n], sp.train) for n, sp in zip(names, parts)}
        train_haadf = _train_stack(haadf, hpart.train)
        if ratios is None:
            r_train, _ = _ratios(train_haadf, train_maps, None,
                                 noise={n: sp.train_variance() for n, sp in zip(names, parts)})
        else:  # the parts keep (fission) or scale by p (binomial) the signal of each stack
            scale = {"binomial": p, "fission": 1.0}
            r_train = {n: ratios[n] * scale[hpart.kind] / scale[sp.kind] for n, sp in zip(names, parts)}
        for a in alphas:
            solver = HEBTSolver([train_maps[n].data for n in names], train_haadf.data, haadf.tilts,
                                [r_train[n] for n in names], a, normalise, nonnegative, device, capacity=k_max,
                                names=names, heldout=parts)
            stop = thinning.HeldoutStop(check_every=opts["check_every"]) if iterations == "auto" else None
            record = run(solver, k_max, check_every=opts["check_every"], callback=stop, progress=progress)
            runs.setdefault(a, []).append(record.history)
    # per element: mean over folds of the held-out score, on the iterations every fold reached
    curves = {}
    for a, hist in runs.items():
        n = min(len(h["iteration"]) for h in hist)
        rel = {e: np.mean([np.asarray(h[f"heldout_{e}"][:n]) for h in hist], axis=0) for e in names}
        curves[a] = (np.asarray(hist[0]["iteration"][:n]), rel)
    best = {e: min(float(c[1][e].min()) for c in curves.values()) for e in names}
    worst = {e: max(float(c[1][e].max()) for c in curves.values()) for e in names}
    choice, objective = None, {}
    for a, (its, rel) in curves.items():
        ex = np.mean([(rel[e] - best[e]) / max(worst[e] - best[e], 1e-300) for e in names], axis=0)
        objective[a] = ex
        allowed = np.ones_like(ex, dtype=bool) if iterations == "auto" else its == its[np.argmin(np.abs(its - k_max))]
        j = int(np.flatnonzero(allowed)[np.argmin(ex[allowed])])
        if choice is None or ex[j] < choice[2]:
            choice = (a, int(its[j]), float(ex[j]))
    a_best, k_train, _ = choice
    k_full = thinning.transfer_iterations(k_train, p) if iterations == "auto" else int(iterations)
    auto = {"parameter": " and ".join(x for x, v in (("alpha", alpha), ("iterations", iterations)) if v == "auto"),
            "chosen": k_full, "chosen_alpha": a_best, "train_best": k_train,
            "rule": f"k = k_train * p**-{thinning.TRANSFER_EXPONENT}; (alpha, k_train) minimise the mean over "
                    "elements of each element's normalised held-out excess",
            "split": [sp.kind for sp in splits], "haadf_split": hsplit.kind, **opts, "alphas": list(alphas),
            "curves": {f"alpha {a:g}": {"iteration": curves[a][0], "heldout": 1 + objective[a],
                                        **{f"heldout_{e}": curves[a][1][e] for e in names}} for a in alphas}}
    return a_best, k_full, auto


def hebt_bytes(n_tilts: int, ny: int, nx: int, nc: int) -> int:
    """Device bytes of one HEBT problem (float32): the volumes, two sinogram-sized arrays of the
    maps (data and residual) and the HAADF data."""
    return 4 * (ny * ny * nx * nc + 2 * n_tilts * ny * nx * nc + n_tilts * ny * nx + ny * ny + n_tilts * ny)


def reconstruct_hebt(haadf, maps: dict, *, alpha: float | str = "auto", iterations: int | str = "auto", ratios=None,
                     normalise: bool = True, nonnegative: bool = True, tol: float | None = None, device=None,
                     progress: bool = True, callback=None, check_every: int = 10, checkpoint=None,
                     checkpoint_every: int = 50, auto_options: dict | None = None, slabs: int | None = None,
                     max_memory: float | None = None) -> RecStacks:
    """Reconstruct all elemental volumes together with the HAADF (HEBT, Yuan et al. 2020 eq. 17).

    Parameters
    ----------
    haadf : TomoStack (n_tilts, ny, nx)
        HAADF projections, aligned with the maps.
    maps : dict[str, TomoStack (n_tilts, ny, nx)]
        One map stack per element (e.g. ``{"Ag_La": …, "Au_La": …}``) on the HAADF's grid and tilts.
    alpha : float or 'auto'
        Weight of the HAADF term, 0 ≤ α < 1. α = 0 is per-element SIRT; the paper finds 0.6–0.9
        best, with the best iteration count growing with α. ``'auto'``: chosen from
        :data:`ALPHA_GRID` by data splitting (:func:`choose_hebt`).
    iterations : int or 'auto'
        Most SIRT iterations (HEBT needs more than single-channel SIRT; the paper uses 100–500).
        ``'auto'``: chosen by data splitting (:func:`choose_hebt`). Automatic choices cost one HEBT
        run per α on each half of the data (up to ~2× the chosen count each), recorded with their
        held-out curves in ``metadata.Reconstruction.auto``.
    auto_options : dict, optional
        ``fraction``, ``folds``, ``seed``, ``max_iterations``, ``check_every``, ``alphas``
        (:mod:`spectomo.recon.thinning`).
    ratios : dict[str, float], optional
        Response ratios r_A keyed by map name or element symbol; default: fitted with
        :func:`fit_response_ratios`.
    normalise : bool
        Solve eq. 17 in HAADF units (module docstring). False solves the unnormalised map-unit
        system, in which the HAADF block swamps the maps; for comparison only.
    nonnegative : bool
        Clip the volumes at 0 after every iteration.
    tol, callback, check_every, checkpoint, checkpoint_every, progress
        The driver's (:func:`spectomo.recon.driver.run`), as in :func:`spectomo.reconstruct_tgv`; the
        callback's ``info.metrics`` holds the relative residual of each block.
    device : optional
        OpenCL device (see :func:`spectomo.opencl.get_runtime`).
    slabs, max_memory : int, float, optional
        Solve as slabs along the tilt axis (:class:`spectomo.recon.slabs.SlabHEBT`; HEBT's slices are
        independent, so the volumes equal the whole solve); default: as few as fit in
        ``max_memory`` bytes (80 % of the device's memory; estimate :func:`hebt_bytes`).

    Returns
    -------
    RecStacks
        One RecStack per map in map units per voxel path length; ``.haadf`` the HAADF model
        ``Σ r_A X_A``; ``.ratios``, ``.r2``, ``.residuals`` (per iteration) and the run in
        ``metadata.Reconstruction``.
    """
    maps = check_haadf_and_maps(haadf, maps, required=True)
    names = list(maps)
    auto = "auto" in (alpha, iterations)
    if auto_options is not None and not auto:
        raise ValueError("auto_options: only with alpha='auto' or iterations='auto'")
    alpha = alpha if alpha == "auto" else _alpha(alpha)
    if iterations != "auto":
        iterations = whole_number(iterations, "iterations")
    _check_signals(haadf, maps)
    given = None if ratios is None else _resolve_ratios(ratios, names)
    auto_md = None
    if auto:
        alpha, iterations, auto_md = choose_hebt(haadf, maps, alpha=alpha, iterations=iterations, ratios=given,
                                                 normalise=normalise, nonnegative=nonnegative, device=device,
                                                 options=auto_options, progress=progress)
    ratio_errors: dict = {}
    ratios, r2 = _ratios(haadf, maps, ratios, ratio_errors)
    args = ([np.asarray(maps[n].data, dtype=np.float32) for n in names], np.asarray(haadf.data, dtype=np.float32),
            haadf.tilts, [ratios[n] for n in names], alpha, normalise, nonnegative, device)
    n_t, ny, nx = haadf.data.shape
    n_slabs = plan_slab_count(nx, lambda n, _: hebt_bytes(n_t, ny, n, len(names)), slabs=slabs,
                              max_memory=max_memory, device=device)
    if n_slabs > 1:
        from .slabs import SlabHEBT

        solver = SlabHEBT(*args, capacity=whole_number(iterations, "iterations"), names=names, n_slabs=n_slabs)
    else:
        solver = HEBTSolver(*args, capacity=whole_number(iterations, "iterations"), names=names)
    record = run(solver, iterations, tol=tol, check_every=check_every, callback=callback, checkpoint=checkpoint,
                 checkpoint_every=checkpoint_every, progress=progress)
    hist = solver.residuals()
    residuals = {n: hist[:, i] for i, n in enumerate([*names, "HAADF"])}
    vols = solver.volumes()
    common = {"alpha": alpha, "ratios": dict(ratios), "r2": -1.0 if r2 is None else r2, "ratios_fitted": r2 is not None,
              "ratio_fit": ("given" if r2 is None else "NNLS corrected for the maps' noise (metadata.Spectral."
                            "noise_model, or Poisson for integer counts; other maps uncorrected); jackknife errors"),
              "normalise": bool(normalise), "nonnegative": bool(nonnegative), "channels": names,
              "haadf_source": haadf.metadata.General.title or "haadf", "device": solver.ops.rt.device.name.strip(),
              "projector": "linear (Huber 2019 eq. 8)", "residual_history": residuals, "slabs": int(n_slabs)}
    if auto_md is not None:
        common["auto"] = auto_md
    model = sum(np.float32(ratios[n]) * vols[n] for n in names)
    return make_result(maps, vols, record, method="HEBT", label="HEBT", common=common,
                       per_channel={n: {"ratio": float(ratios[n]), "ratio_std_error": ratio_errors.get(n, -1.0)}
                                    for n in names},
                       haadf=(haadf, model, {"units_note": "Σ r_A X_A, HAADF units"}), ratios=dict(ratios), r2=r2,
                       residuals=residuals)
