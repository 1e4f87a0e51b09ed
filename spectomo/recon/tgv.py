"""Coupled multi-channel TGV–KL reconstruction (Huber et al., Nanoscale 2019, Algorithm 1).

All channels (HAADF and elemental maps) are reconstructed together by minimising

    Σ_c μ_c KL(T u_c, f_c) + TGV²_α(u),   u_c ≥ 0,

where TGV² = min_w α1‖∇u − w‖ + α0‖Ew‖ with pointwise Frobenius norms taken over all channels
(``coupling="frobenius"``) or per channel (``"none"``). The Chambolle–Pock primal–dual iteration runs
on the shared OpenCL operator layer (:mod:`spectomo.opencl.operators`), fused into three kernels per
iteration (``kernels/tgv.cl``), and is driven by :func:`spectomo.recon.driver.run` (stopping,
callbacks, checkpoints, history).

Units. As in the paper, the projector is divided by its norm ‖T‖ and each channel's data by its
maximum ξ_c; μ_c refer to that normalised problem and the result is scaled back (× ξ_c / ‖T‖) to
counts per voxel path length, like the ASTRA path, so quantification can use it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..opencl.layout import BatchGeometry, from_batch, sinograms_from_batch, sinograms_to_batch
from ..opencl.operators import Operators, auto_chunk, radon_norm
from ..validation import whole_number
from . import thinning
from .bregman import bregman_steps
from .channels import check_haadf_and_maps
from .driver import Solver, run
from .memory import plan_slab_count
from .result import RecStacks, make_result

__all__ = ["reconstruct_tgv", "TGVSolver", "DEFAULT_NU", "DEFAULT_NU_HAADF", "default_mu"]

#: ν of the heuristic μ_c = ν·max(f_c) for EDS maps (chosen on the simulator, see docs/tgv.md)
DEFAULT_NU = 0.3
#: ν for the HAADF channel (far less noisy, so weighted more)
DEFAULT_NU_HAADF = 0.2
COUPLINGS = ("frobenius", "none")
_STATE = ("u", "ubar", "w", "wbar", "p", "q", "r")


def default_mu(xi: dict, haadf: str | None, nu=None) -> dict:
    """The paper's heuristic μ_c = ν·ξ_c (ξ_c = max f_c), with ν_HAADF for the channel ``haadf``.

    ``nu`` may be None (defaults), a float (ν for the maps) or a dict of explicit μ_c (channels
    missing from it get the heuristic).
    """
    explicit = nu if isinstance(nu, dict) else {}
    nu_eds = DEFAULT_NU if nu is None or isinstance(nu, dict) else float(nu)
    return {name: float(explicit[name]) if name in explicit else
            (DEFAULT_NU_HAADF if name == haadf else nu_eds) * float(x) for name, x in xi.items()}


class TGVSolver(Solver):
    """State and kernels of one TGV–KL problem on an OpenCL device.

    Parameters
    ----------
    data : ndarray (n_tilts, n_det, bp)
        Normalised sinograms in the batched layout (:func:`spectomo.opencl.layout.sinograms_to_batch`).
    geom : BatchGeometry
        Its ``chunk`` must be a multiple of the channel count (whole voxels per work item).
    mu : sequence of float (n_channels,)
        Data weights of the normalised problem.
    alpha : (float, float)
        (α0, α1): weights of ‖Ew‖ and ‖∇u − w‖.
    coupled, dims, device
        Frobenius coupling across channels; 3D or slice-wise (2) regularisation; OpenCL device.
    names, scales : sequence (n_channels,), optional
        Channel names and the data scale ξ_c of each, for :meth:`volumes` in physical units.
    tnorm : float, optional
        ‖T‖ to normalise by (default: :func:`~spectomo.opencl.operators.radon_norm` of ``geom``); slabs
        of one problem pass the whole problem's.
    shift : sequence of float (n_channels,), optional
        Shifts s_c ≥ 0 of the normalised data term KL(T'u + s_c, f + s_c): ``data`` may then go down
        to −s_c (background-subtracted maps) and stays unbiased (default 0: plain KL, data ≥ 0).
    backing : path, optional
        Folder for file-backed state arrays (CPU devices; :meth:`Operators.allocate`).
    """

    label = "TGV-KL"

    def __init__(self, data, geom: BatchGeometry, mu, alpha=(4.0, 1.0), coupled: bool = True, dims: int = 3,
                 device=None, *, names=None, scales=None, tnorm: float | None = None, backing=None, shift=None):
        self.data, self.geom, self.mu = data, geom, tuple(float(m) for m in mu)
        self.shift = tuple(float(x) for x in shift) if shift is not None else (0.0,) * geom.nc
        self.alpha, self.coupled, self.dims, self.iteration = tuple(alpha), bool(coupled), int(dims), 0
        self.names = list(names) if names is not None else [f"channel {c}" for c in range(geom.nc)]
        self.scales = list(scales) if scales is not None else [1.0] * geom.nc
        g = geom
        if g.chunk % g.nc:
            raise ValueError(f"geom: chunk ({g.chunk}) must be a multiple of the channel count ({g.nc}); "
                             f"use auto_chunk(..., multiple={g.nc})")
        self.ops = o = Operators(g, device=device, dims=dims, coupled=coupled)
        n, ns = g.n_vox, g.n_sino
        mu_b = np.zeros(g.bp, dtype=np.float32)  # per batch entry, 0 on padding (kernels/tgv.cl: tgv_data)
        mu_b[: g.nx * g.nc] = np.tile(np.asarray(self.mu, dtype=np.float32), g.nx)
        shift_b = np.zeros(g.bp, dtype=np.float32)  # likewise; the data buffer holds data + s
        shift_b[: g.nx * g.nc] = np.tile(np.asarray(self.shift, dtype=np.float32), g.nx)
        if min(self.shift) < 0 or float(np.min(data)) < -max(self.shift) * (1 + 1e-6) - 1e-12:
            raise ValueError(f"data: values down to {float(np.min(data)):g} need shifts ≥ that (got {self.shift})")
        self.buf = b = o.allocate({"f": data + shift_b if any(self.shift) else data, "mu": mu_b, "shift": shift_b,
                                   "u": n, "ubar": n,
                                   "w": 3 * n, "wbar": 3 * n, "p": 3 * n, "q": 6 * n, "r": ns, "tu": ns,
                                   "norms": g.ny * g.nz * g.nx},
                                  what=f"TGV-KL of {g.nc} channel(s) × {g.nx} slices of {g.ny}×{g.nz}",
                                  backing=backing)
        self.tnorm = radon_norm(g, device=device) if tnorm is None else float(tnorm)
        self.scale = 1.0 / self.tnorm
        # ‖K‖² ≤ ‖T/‖T‖‖² + ‖∇‖² + ‖E‖² + … ≤ 17 in 3D (the paper's bound)
        self.sigma = self.tau = 1.0 / np.sqrt(17.0)
        a0, a1 = self.alpha
        self.k_dual = o.kernel("tgv.cl", "tgv_dual").bind(p=b["p"], q=b["q"], ubar=b["ubar"], wbar=b["wbar"],
                                                          sigma=self.sigma, alpha0=a0, alpha1=a1)
        self.k_data = o.kernel("tgv.cl", "tgv_data").bind(r=b["r"], f=b["f"], ubar=b["ubar"], mu=b["mu"],
                                                          shift=b["shift"], sigma=self.sigma, scale=self.scale)
        self.k_primal = o.kernel("tgv.cl", "tgv_primal").bind(u=b["u"], ubar=b["ubar"], w=b["w"], wbar=b["wbar"],
                                                              p=b["p"], q=b["q"], r=b["r"], tau=self.tau,
                                                              scale=self.scale)
        self.k_norms = o.kernel("tgv.cl", "tgv_norms").bind(out=b["norms"], u=b["u"], w=b["w"], alpha0=a0,
                                                            alpha1=a1)

    @classmethod
    def from_counts(cls, counts: dict, tilts, *, nu=None, haadf: str | None = None, alpha=(4.0, 1.0),
                    coupled: bool = True, dims: int = 3, device=None, shift: dict | None = None) -> "TGVSolver":
        """The solver for count stacks ``(n_tilts, ny, nx)`` by channel name, each normalised by its
        maximum ξ_c (the paper's scaling), with μ from :func:`default_mu` (``nu``; ``haadf`` names
        the HAADF channel) and the data term's shifts ``shift`` (counts, by channel; default 0)."""
        xi = {n: float(d.max()) for n, d in counts.items()}
        empty = [n for n, x in xi.items() if not x > 0]
        if empty:
            raise ValueError(f"maps: channel(s) {empty} hold no positive counts")
        mu, names = default_mu(xi, haadf, nu), list(counts)
        n_t, ny, nx = counts[names[0]].shape
        geom = BatchGeometry(tilts, ny, ny, nx, len(names), chunk=auto_chunk(nx * len(names), device=device,
                                                                                   multiple=len(names)))
        data = sinograms_to_batch([counts[n] / xi[n] for n in names], geom)
        return cls(data, geom, [mu[n] for n in names], alpha, coupled, dims, device, names=names,
                   scales=[xi[n] for n in names], shift=[(shift or {}).get(n, 0.0) / xi[n] for n in names])

    # -- state -----------------------------------------------------------------------------
    def shapes(self) -> dict:
        v, s = self.geom.vol_shape, self.geom.sino_shape
        return {"u": v, "ubar": v, "w": (3, *v), "wbar": (3, *v), "p": (3, *v), "q": (6, *v), "r": s}

    def initialise(self) -> None:
        """Line 3 of Algorithm 1: u = ū = T*f, everything else 0 (also when the solver ran before)."""
        for k in _STATE[2:]:
            self.ops.zero(self.buf[k])
        self.ops.radon_adj(self.buf["u"], self.buf["f"], self.scale)
        self.ops.radon_adj(self.buf["ubar"], self.buf["f"], self.scale)
        self.iteration = 0

    def get(self, name: str) -> np.ndarray:
        return self.ops.read(self.buf[name], self.shapes()[name])

    def state(self) -> dict:
        return {k: self.get(k) for k in _STATE}

    def set_state(self, state: dict, iteration: int) -> None:
        for k in _STATE:
            arr = np.asarray(state[k])
            if arr.shape != self.shapes()[k]:
                raise ValueError(f"checkpoint: array {k!r} has shape {arr.shape}, expected {self.shapes()[k]}")
            self.ops.write(self.buf[k], arr)
        self.iteration = int(iteration)

    def signature(self) -> tuple[list, dict]:
        g = self.geom
        return [self.data], {"mu": list(self.mu), "shift": list(self.shift), "alpha": list(self.alpha),
                             "coupled": self.coupled,
                             "dims": self.dims, "names": self.names, "tilts": g.tilts.tolist(),
                             "shape": [g.ny, g.nz, g.nx, g.nc]}

    # -- iteration ---------------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        """Run ``n`` iterations of Algorithm 1 (lines 6–12), enqueued without waiting."""
        g, o = self.geom, self.ops
        for _ in range(int(n)):
            o.launch_voxels(self.k_dual)
            o.launch_bins(self.k_data)
            o.launch_voxels(self.k_primal)
        self.iteration += int(n)

    def sync(self) -> None:
        self.ops.finish()

    def objective(self) -> float:
        """Σ μ_c KL(T'u_c, f'_c) + TGV(u, w) of the normalised problem at the current iterate."""
        return self.objective_over(slice(0, self.geom.nx))

    def objective_over(self, xs: slice) -> float:
        """The objective's terms of slices ``xs`` only (a slab's owned slices)."""
        o, g, b = self.ops, self.geom, self.buf
        o.radon(b["tu"], b["u"], self.scale)
        self.k_norms((g.nx, g.nz, g.ny))
        cols = slice(xs.start * g.nc, xs.stop * g.nc)
        tu = o.read(b["tu"], g.sino_shape)[..., cols].astype(np.float64)
        norms = o.read(b["norms"], (g.ny, g.nz, g.nx))
        reg = float(norms[..., xs].sum(dtype=np.float64))
        s = np.tile(np.asarray(self.shift, dtype=float), xs.stop - xs.start)
        f = self.data[..., cols].astype(np.float64) + s
        tu = tu + s
        mu = np.tile(np.asarray(self.mu, dtype=float), xs.stop - xs.start)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = tu - f + np.where(f > 0, f * np.log(f / np.maximum(tu, 1e-30)), 0.0)
        return float((kl.reshape(-1, kl.shape[-1]).sum(axis=0) * mu).sum()) + reg

    def check(self) -> dict:
        return {"objective": self.objective()}

    def projections(self) -> list[np.ndarray]:
        """Projections ``(n_tilts, ny, nx)`` of the current volumes in the data's units, one per channel."""
        o, g, b = self.ops, self.geom, self.buf
        o.radon(b["tu"], b["u"], self.scale)
        stacks = sinograms_from_batch(o.read(b["tu"], g.sino_shape), g)
        return [st * np.float32(x) for st, x in zip(stacks, self.scales)]

    def monitor(self) -> np.ndarray:
        return self.get("u")

    def volumes(self) -> dict:
        """Current u per channel in counts per voxel path length (u' · ξ_c / ‖T‖), ``(nx, ny, nz)``."""
        vols = from_batch(self.get("u"), self.geom)
        return {n: v * np.float32(s / self.tnorm) for n, v, s in zip(self.names, vols, self.scales)}


# -- public entry point ---------------------------------------------------------------------------

#: Quantile of a channel's pixels that sets its data-term shift: s_c = max(0, −q(f_c)); the pixels
#: below −s_c (this fraction at most) are clipped to −s_c (docs/tgv.md, "Negative pixels").
SHIFT_QUANTILE = 1e-3


def _shifted(data: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """(data clipped at −s, shift s ≥ 0, negative fraction, clipped fraction) of one channel: the
    shifted KL term KL(Tu + s, f + s) takes background-subtracted maps, negative pixels included,
    without the bias that setting them to 0 adds (+30 % of a 3 % minor element's counts)."""
    neg = float((data < 0).mean())
    if not neg:
        return data, 0.0, 0.0, 0.0
    shift = max(0.0, -float(np.quantile(data, SHIFT_QUANTILE)))
    low = data < -shift
    return (np.where(low, np.float32(-shift), data) if low.any() else data), shift, neg, float(low.mean())


def _check_options(coupling, dims, alpha, mu, names) -> tuple[float, float]:
    if coupling not in COUPLINGS:
        raise ValueError(f"coupling: expected one of {list(COUPLINGS)}, got {coupling!r}")
    if dims not in (2, 3):
        raise ValueError(f"dims: expected 2 or 3, got {dims!r}")
    try:
        a0, a1 = (float(a) for a in alpha)
    except (TypeError, ValueError):
        raise TypeError(f"alpha: expected two positive weights (α0, α1), got {alpha!r}") from None
    if not (a0 > 0 and a1 > 0 and math.isfinite(a0 + a1)):
        raise ValueError(f"alpha: expected two positive weights (α0, α1), got {alpha!r}")
    values = mu if isinstance(mu, dict) else {} if mu is None else {"mu": mu}
    if isinstance(mu, dict) and sorted(set(mu) - set(names)):
        raise KeyError(f"mu: no channel named {sorted(set(mu) - set(names))}; channels are {names}")
    for key, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not (math.isfinite(v) and v > 0):
            raise ValueError(f"mu{'' if key == 'mu' else f'[{key!r}]'}: expected a positive finite number, got {v!r}")
    return a0, a1


#: Multipliers of the heuristic ν tried by ``mu='auto'`` (``auto_options={'multipliers': …}``).
NU_MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Multipliers (of ``NU_MULTIPLIERS``) from which ``mu='auto'`` also tries Bregman steps
#: (``auto_options={'bregman_multipliers': …}``): Bregman iteration starts from a solution smoothed
#: more than the noise needs and gives detail back step by step (:mod:`spectomo.recon.bregman`).
BREGMAN_MULTIPLIERS = (0.5, 1.0)
#: Most Bregman steps ``mu='auto'`` tries after the first solve (``auto_options={'bregman_steps': …}``; 0: none).
BREGMAN_STEPS = 2
#: μ on a training part of share p → full data: ``μ = μ_train · p^(−MU_TRANSFER_EXPONENT)`` (docs/parameters.md).
MU_TRANSFER_EXPONENT = 0.5


def _log_parabola_minimum(grid, scores) -> float:
    """Minimum of a parabola in log(grid) through the best grid point and its neighbours (clamped)."""
    g = np.log(np.asarray(grid, dtype=float))
    y = np.asarray(scores, dtype=float)
    j = int(np.argmin(y))
    if j == 0 or j == len(y) - 1:
        return float(np.exp(g[j]))
    a, b, _ = np.polyfit(g[j - 1:j + 2], y[j - 1:j + 2], 2)
    x = -b / (2 * a) if a > 0 else g[j]
    return float(np.exp(np.clip(x, g[j - 1], g[j + 1])))


def _auto_grid(options) -> tuple[dict, tuple, tuple, int]:
    """Validated ``auto_options`` of :func:`choose_mu`: (options, multipliers, Bregman multipliers, steps)."""
    opts = thinning.auto_options(options, {"multipliers": NU_MULTIPLIERS, "bregman_multipliers": BREGMAN_MULTIPLIERS,
                                           "bregman_steps": BREGMAN_STEPS})
    mult = tuple(sorted(float(m) for m in opts["multipliers"]))
    if not mult or min(mult) <= 0:
        raise ValueError(f"auto_options['multipliers']: expected positive numbers, got {opts['multipliers']!r}")
    steps = whole_number(opts["bregman_steps"], "auto_options['bregman_steps']", minimum=0)
    breg = tuple(sorted(float(m) for m in opts["bregman_multipliers"])) if steps else ()
    if set(breg) - set(mult):
        raise ValueError(f"auto_options['bregman_multipliers']: expected some of the multipliers {list(mult)}, "
                         f"got {opts['bregman_multipliers']!r}")
    return opts, mult, breg, steps if breg else 0


def _solve_counts(f: dict, weight: dict, tilts, *, iterations: int, progress: bool, **options):
    """One TGV–KL solve of count stacks ``f`` (negative pixels allowed) with μ_c = weight_c · max f_c:
    (projections in counts by channel, None); the training runs need only the projections."""
    shifted = {n: _shifted(np.asarray(v, dtype=np.float32)) for n, v in f.items()}
    xi = {n: float(np.maximum(c[0], 0).max()) for n, c in shifted.items()}
    solver = TGVSolver.from_counts({n: c[0] for n, c in shifted.items()}, tilts,
                                   nu={n: weight[n] * xi[n] for n in f}, shift={n: c[1] for n, c in shifted.items()},
                                   **options)
    run(solver, iterations, check_every=iterations, progress=progress)
    return dict(zip(f, solver.projections())), None


def choose_mu(stacks: dict, names: list, *, haadf: str | None, alpha, coupled: bool, dims: int, iterations: int,
              device, options=None, progress: bool = True) -> tuple[dict, dict]:
    """μ per channel, and Bregman steps per channel, chosen by data splitting (:mod:`spectomo.recon.thinning`).

    Every channel is split into a training and a test part. TGV–KL runs on the training parts with
    the heuristic ``μ_c = ν_c ξ_c`` times each multiplier of the grid (all channels together, since
    they are coupled); after ``iterations`` each channel's projection is scored against its test
    part in the volume domain. From the ``bregman_multipliers`` the training runs go on for
    ``bregman_steps`` Bregman steps (:func:`~spectomo.recon.bregman.bregman_steps`; each step a
    fresh solve with the heuristic re-applied to the refined data, ``μ_c = m ν_c max f_k``), each
    scored the same way. Each channel keeps the (multiplier, steps) that scored best. With
    ``μ_c ∝ ξ_c`` the data term keeps its Poisson (maximum-likelihood) weight relative to TGV
    whatever the dose, so a multiplier chosen on a binomial half transfers unchanged; a fission
    half has the full signal but ``1/p`` times the variance, so its heuristic is scaled by ``p``
    during training for the same reason.

    Returns
    -------
    multipliers : dict
        The chosen multiple of the heuristic per channel.
    auto : dict
        What ``metadata.Reconstruction.auto`` records (also ``chosen_steps`` per channel and
        ``chosen_mu``, the first solve's μ_c of the normalised problem).
    """
    opts, mult, breg, n_steps = _auto_grid(options)
    p = float(opts["fraction"])
    splits = [thinning.split(np.asarray(stacks[n].data), fraction=p, seed=opts["seed"] + i,
                             noise=None if n == haadf else thinning.stack_noise(stacks[n], f"maps[{n!r}]"))
              for i, n in enumerate(names)]
    folds = [splits, [sp.swapped() for sp in splits]][:opts["folds"]]
    tilts = stacks[names[0]].tilts
    nu = default_mu(dict.fromkeys(names, 1.0), haadf, None)  # ν_c
    xi_full = {n: float(np.maximum(np.asarray(stacks[n].data), 0).max()) for n in names}
    scores = {(m, k): np.zeros(len(names)) for m in mult for k in range(n_steps + 1 if m in breg else 1)}
    solver_options = dict(haadf=haadf, alpha=alpha, coupled=coupled, dims=dims, device=device)
    for parts in folds:
        train = {n: sp.train for n, sp in zip(names, parts)}
        # the training weight per unit of max f: ν · (ξ_full / ξ_train) · p^½, so that the first
        # solve's μ is the heuristic of the full data times p^½ (MU_TRANSFER_EXPONENT)
        unit = {n: nu[n] * xi_full[n] / float(np.maximum(train[n], 0).max()) * p ** MU_TRANSFER_EXPONENT
                for n in names}
        for m in mult:
            weight = {n: m * unit[n] for n in names}
            steps = n_steps if m in breg else 0
            for k, proj, _ in bregman_steps(
                    lambda f, k: _solve_counts(f, weight, tilts, iterations=iterations, progress=progress,
                                               **solver_options), train, steps):
                scores[m, k] += [sp.score(proj[n])["heldout"] for n, sp in zip(names, parts)]
    table = np.array([scores[m, 0] for m in mult])  # (multipliers, channels)
    chosen, chosen_steps = {}, {}
    for c, n in enumerate(names):
        _, k_best = min(scores, key=lambda key: scores[key][c])
        row = [m for m in mult if (m, k_best) in scores]
        chosen[n] = _log_parabola_minimum(row, [scores[m, k_best][c] for m in row])
        chosen_steps[n] = int(k_best)
    mu = {n: nu[n] * xi_full[n] * chosen[n] for n in names}
    auto = {"parameter": "mu", "chosen_multiplier": chosen, "chosen_steps": chosen_steps, "chosen_mu": mu,
            "heuristic_mu": {n: nu[n] * xi_full[n] for n in names},
            "rule": "mu_c = multiplier_c * nu_c * max f_c at every solve; channel c's result is that of Bregman step "
                    "steps_c; (multiplier_c, steps_c) minimise channel c's held-out score after the same iterations "
                    "on the training parts",
            "split": [sp.kind for sp in splits], **opts, "multipliers": list(mult),
            "bregman_multipliers": list(breg), "bregman_steps": n_steps,
            "scores": {n: table[:, c] for c, n in enumerate(names)},
            "bregman_scores": {n: {f"step {k}": np.array([scores[m, k][c] for m in breg]) for k in range(1, n_steps + 1)}
                               for c, n in enumerate(names)}}
    return chosen, auto


def tgv_bytes(ny: int, nz: int, nx: int, nc: int, n_tilts: int, n_det: int | None = None) -> int:
    """Device bytes of one TGV–KL problem: 17 volume-sized arrays (u, ū, w, w̄, p, q) and three
    sinogram-sized ones (f, r, Tu), float32."""
    n, ns = ny * nz * nx * nc, n_tilts * (n_det or ny) * nx * nc
    return 4 * (17 * n + 3 * ns + ny * nz * nx)


def tgv_slab_count(ny: int, nx: int, n_channels: int, n_tilts: int, *, slabs=None, max_memory=None, device=None,
                   offload: bool = False) -> int:
    """Slabs for a TGV–KL problem of ``nx`` slices of ``ny``² (:func:`~spectomo.recon.memory.plan_slab_count`
    with :func:`tgv_bytes`, each slab holding its slices plus one halo slice per neighbour)."""
    return plan_slab_count(nx, lambda n, k: tgv_bytes(ny, ny, n + 2 * (k > 1), n_channels, n_tilts), slabs=slabs,
                           max_memory=max_memory, device=device, offload=offload)


def reconstruct_tgv(haadf, maps: dict, *, mu=None, alpha=(4.0, 1.0), iterations: int = 2000,
                    coupling: str = "frobenius", dims: int = 3, tol: float | None = None, device=None,
                    progress: bool = True, checkpoint=None, callback=None, check_every: int = 50,
                    checkpoint_every: int = 200, auto_options: dict | None = None, slabs: int | None = None,
                    max_memory: float | None = None, client=None, offload=None) -> RecStacks:
    """Jointly reconstruct HAADF and elemental maps with coupled TGV–KL (Huber et al. 2019).

    Parameters
    ----------
    haadf : TomoStack (n_tilts, ny, nx) or None
        The aligned HAADF, reconstructed as one more channel (with ν_HAADF); None for maps only.
    maps : dict[str, TomoStack (n_tilts, ny, nx)]
        Aligned element maps on the HAADF's grid and tilts, e.g. ``{"Ag_La": …, "Au_La": …}``.
        Values are counts (KL data term); negative pixels are set to 0 with a warning.
    mu : None, 'auto', float or dict[str, float]
        Data weights. None: the paper's heuristic μ_c = ν·max(f_c) with ν = ``DEFAULT_NU`` for the
        maps and ``DEFAULT_NU_HAADF`` for the HAADF. A float sets ν for the maps; a dict gives μ_c
        of the normalised problem per channel (map names and ``"HAADF"``). ``'auto'``: each
        channel's multiple of the heuristic and its number of Bregman steps chosen by data
        splitting (:func:`choose_mu`, :mod:`spectomo.recon.bregman`). Costs one TGV run of
        ``iterations`` on half the data per multiplier, Bregman step and fold (18 by default), then
        one full-data run per Bregman step that some channel keeps (1–3).
    auto_options : dict, optional
        With ``mu='auto'``: ``fraction``, ``folds``, ``seed``, ``multipliers``,
        ``bregman_multipliers`` (those of ``multipliers`` that Bregman steps start from) and
        ``bregman_steps`` (most steps; 0: none, the fast path of 10 runs)
        (:mod:`spectomo.recon.thinning`).
    alpha : (float, float)
        (α0, α1), weights of the second- and first-order TGV terms; only α0/α1 matters with μ.
    iterations : int
        Most primal–dual iterations (the paper uses 2000 on phantoms).
    coupling : {'frobenius', 'none'}
        Frobenius coupling of all channels, or independent per-channel TGV.
    dims : {3, 2}
        Volumetric regularisation, or slice-wise (no differences along the tilt axis).
    tol, callback, check_every, checkpoint, checkpoint_every, progress
        The driver's (:func:`spectomo.recon.driver.run`): stop when the objective changes by at most
        ``tol`` (relative) between checks every ``check_every`` iterations; ``callback(info)``
        (an :class:`~spectomo.recon.driver.IterationInfo`) at each check, True stops; resume from and
        write ``checkpoint`` (``.npz``) every ``checkpoint_every`` iterations; progress bar.
    device : optional
        OpenCL device (see :func:`spectomo.opencl.get_runtime`).
    slabs : int, optional
        Solve as this many slabs along the tilt axis with exact halo exchange
        (:class:`spectomo.recon.slabs.SlabTGV`; equal to the whole solve). Default: as few as fit in
        ``max_memory``.
    max_memory : float, optional
        Device bytes one slab may use (default 80 % of the device's memory; the estimate is
        :func:`tgv_bytes`).
    client : distributed.Client, optional
        Run the slabs in dask workers (one actor each; default one slab per worker). When a worker
        is lost, the call waits for the cluster to have as many workers again (a nanny restarts
        them; at most :data:`~spectomo.recon.slabs.RECOVERY_WAIT` s), rebuilds the slabs and goes
        on from the last ``checkpoint`` (from the start without one), at most
        :data:`~spectomo.recon.slabs.RECOVERY_ATTEMPTS` times, with a warning each time.
    offload : path, optional
        CPU devices: keep the slabs' arrays in memory-mapped files in this folder (removed at the
        end), so that a problem larger than the machine's memory runs; the slabs then fit in
        ``max_memory`` (default :data:`~spectomo.recon.memory.OFFLOAD_SHARE` of the memory) each. Costs disk traffic of
        about twice the state per iteration (docs/cluster.md).

    Returns
    -------
    RecStacks
        One RecStack ``(nx, ny, nz)`` per map in counts per voxel path length, the HAADF volume in
        ``.haadf``; ``metadata.Reconstruction`` and ``.parameters`` hold μ, α, the normalisation and
        the run (iterations, stopping, objective history); with Bregman steps, each channel's μ,
        normalisation and ``bregman_step`` are those of the step it keeps, and the run record is the
        last solve's (``solves`` in all; ``callback`` and ``checkpoint`` apply to each solve, step k's
        checkpoint is ``<stem>.bregman<k><suffix>``).
    """
    maps = check_haadf_and_maps(haadf, maps, required=False)
    stacks = maps if haadf is None else {"HAADF": haadf, **maps}
    names = list(stacks)
    auto = isinstance(mu, str) and mu == "auto"
    if auto_options is not None and not auto:
        raise ValueError("auto_options: only with mu='auto'")
    a0, a1 = _check_options(coupling, dims, alpha, None if auto else mu, names)
    auto_md, haadf_name = None, None if haadf is None else "HAADF"
    steps = dict.fromkeys(names, 0)
    if auto:
        iterations = whole_number(iterations, "iterations")
        chosen, auto_md = choose_mu(stacks, names, haadf=haadf_name, alpha=(a0, a1), coupled=coupling == "frobenius",
                                    dims=dims, iterations=iterations, device=device, options=auto_options,
                                    progress=progress)
        steps = dict(auto_md["chosen_steps"])
        nu = default_mu(dict.fromkeys(names, 1.0), haadf_name, None)
    n_steps = max(steps.values())
    raw = {n: np.asarray(stacks[n].data, dtype=np.float32) for n in names}
    n_t, ny, nx = raw[names[0]].shape
    if client is not None and slabs is None:
        slabs = max(1, min(nx, len(client.scheduler_info().get("workers", {})) or 1))
    n_slabs = tgv_slab_count(ny, nx, len(names), n_t, slabs=slabs, max_memory=max_memory, device=device,
                             offload=offload is not None)

    def solve(f: dict, k: int):
        """Bregman step k (k = 0: the plain solve) on the data f: (projections or None, step's outcome)."""
        counts = {n: _shifted(f[n]) for n in names}
        mu_k = {n: chosen[n] * nu[n] * float(np.maximum(counts[n][0], 0).max()) for n in names} if auto else mu
        options = dict(nu=mu_k, haadf=haadf_name, alpha=(a0, a1), coupled=coupling == "frobenius", dims=dims,
                       device=device, shift={n: c[1] for n, c in counts.items()})
        data = {n: c[0] for n, c in counts.items()}

        def make():
            if n_slabs > 1 or client is not None or offload is not None:
                from .slabs import SlabTGV

                return SlabTGV(data, stacks[names[0]].tilts, n_slabs=n_slabs, client=client, offload=offload,
                               **options)
            return TGVSolver.from_counts(data, stacks[names[0]].tilts, **options)

        def go(solver):
            try:
                record = run(solver, iterations, tol=tol, check_every=check_every, callback=callback,
                             checkpoint=_step_checkpoint(checkpoint, k), checkpoint_every=checkpoint_every,
                             progress=progress)
                return record, solver.volumes(), dict(zip(names, solver.projections())) if k < n_steps else None
            finally:
                if hasattr(solver, "close"):
                    solver.close()

        if client is not None:
            from .slabs import recovering

            solver, (record, vols, proj), recovered = recovering(make, go, client, resumable=checkpoint is not None)
        else:
            solver, recovered = make(), 0
            record, vols, proj = go(solver)
        constants = {"projector_norm": float(solver.tnorm), "sigma": float(solver.sigma), "tau": float(solver.tau),
                     "device": getattr(solver, "device_name", None) or solver.ops.rt.device.name.strip()}
        per = {n: {"mu": float(m), "data_max": float(x), "data_shift": counts[n][1], "negative_fraction": counts[n][2],
                   "clipped_fraction": counts[n][3], "bregman_step": k} for n, m, x in zip(names, solver.mu, solver.scales)}
        return proj, {"record": record, "volumes": vols, "recovered": recovered, "per": per, "constants": constants}

    kept, recovered = {}, 0  # channel → its volume and parameters, from the step it keeps
    for k, _, outcome in bregman_steps(solve, raw, n_steps):
        recovered += outcome["recovered"]
        kept.update({n: (outcome["volumes"][n], outcome["per"][n]) for n in names if steps[n] == k})
    record = outcome["record"]  # the last solve's
    vols, per = {n: v for n, (v, _) in kept.items()}, {n: p for n, (_, p) in kept.items()}
    common = {"coupling": coupling, "dims": int(dims), "alpha": [a0, a1], "mu_all": {n: per[n]["mu"] for n in names},
              "channels": names, **outcome["constants"], "projector": "linear (Huber 2019 eq. 8)",
              "slabs": int(n_slabs), "distributed": client is not None, "offload": offload is not None,
              "lost_workers_recovered": int(recovered), "bregman_steps": steps, "solves": n_steps + 1}
    if auto_md is not None:
        common["auto"] = auto_md
    return make_result(maps, {n: vols[n] for n in maps}, record, method="TGV-KL", label="TGV-KL", common=common,
                       per_channel=per, haadf=None if haadf is None else (haadf, vols["HAADF"], per["HAADF"]))


def _step_checkpoint(checkpoint, k: int):
    """The checkpoint file of Bregman step ``k``: ``checkpoint`` itself for the first solve, then
    ``<stem>.bregman<k><suffix>`` beside it (each step is a run of its own)."""
    if checkpoint is None or k == 0:
        return checkpoint
    from pathlib import Path

    p = Path(checkpoint)
    return p.with_name(f"{p.stem}.bregman{k}{p.suffix}")
