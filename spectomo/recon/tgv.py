"""Coupled multi-channel TGV–KL reconstruction (Huber et al., Nanoscale 2019, Algorithm 1).

All channels (HAADF and elemental maps) are reconstructed together by minimising

    Σ_c μ_c KL(T u_c, f_c) + TGV²_α(u),   u_c ≥ 0,

where TGV² = min_w α1‖∇u − w‖ + α0‖Ew‖ with pointwise Frobenius norms taken over all channels
(``coupling="frobenius"``) or per channel (``"none"``). The Chambolle–Pock primal–dual iteration runs
on the shared OpenCL operator layer (:mod:`spectomo.recon.operators`), fused into three kernels per
iteration (``kernels/tgv.cl``).

Units. As in the paper, the projector is divided by its norm ‖T‖ and each channel's data by its
maximum ξ_c; μ_c refer to that normalised problem and the result is scaled back (× ξ_c / ‖T‖) to
counts per voxel path length, like the ASTRA path, so quantification can use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..signals import TomoStack
from .inputs import check_channels
from .operators import BatchGeometry, Operators, auto_chunk, from_batch, radon_norm, sinograms_to_batch
from .output import rec_signal

__all__ = ["reconstruct_tgv", "TGVSolver", "DEFAULT_NU", "DEFAULT_NU_HAADF", "default_mu"]

#: ν of the heuristic μ_c = ν·max(f_c) for EDS maps (chosen on the simulator, see docs/tgv.md)
DEFAULT_NU = 0.3
#: ν for the HAADF channel (far less noisy, so weighted more)
DEFAULT_NU_HAADF = 0.2
COUPLINGS = ("frobenius", "none")
_STATE = ("u", "ubar", "w", "wbar", "p", "q", "r")


def is_haadf(name: str, stack: TomoStack) -> bool:
    """A channel is HAADF when its name says so or its metadata hold a HAADF detector."""
    return "haadf" in name.lower() or stack.metadata.has_item("Acquisition_instrument.TEM.Detector.HAADF")


def default_mu(xi: dict, haadf: dict, nu=None) -> dict:
    """The paper's heuristic μ_c = ν·ξ_c (ξ_c = max f_c), with ν_HAADF for HAADF channels.

    ``nu`` may be None (defaults), a float (ν for the EDS channels) or a dict of explicit μ_c
    (channels missing from it get the heuristic).
    """
    explicit = nu if isinstance(nu, dict) else {}
    nu_eds = DEFAULT_NU if nu is None or isinstance(nu, dict) else float(nu)
    out = {}
    for name, x in xi.items():
        if name in explicit:
            out[name] = float(explicit[name])
        else:
            out[name] = (DEFAULT_NU_HAADF if haadf[name] else nu_eds) * float(x)
    return out


@dataclass
class TGVSolver:
    """State and kernels of one TGV–KL problem on an OpenCL device.

    Parameters
    ----------
    data : ndarray (n_tilts, n_det, bp)
        Normalised sinograms in the batched layout (``operators.sinograms_to_batch``).
    geom : BatchGeometry
    mu : sequence of float (n_channels,)
        Data weights of the normalised problem.
    alpha : (float, float)
        (α0, α1): weights of ‖Ew‖ and ‖∇u − w‖.
    """

    data: np.ndarray
    geom: BatchGeometry
    mu: tuple
    alpha: tuple = (4.0, 1.0)
    coupled: bool = True
    dims: int = 3
    device: object = None
    iteration: int = 0
    history: dict = field(default_factory=lambda: {"iteration": [], "objective": [], "change": [],
                                                   "seconds": []})

    def __post_init__(self):
        g = self.geom
        self.ops = Operators(g, device=self.device, dims=self.dims, coupled=self.coupled)
        self.tnorm = radon_norm(g, device=self.device)
        self.scale = 1.0 / self.tnorm
        # ‖K‖² ≤ ‖T/‖T‖‖² + ‖∇‖² + ‖E‖² + … ≤ 17 in 3D (the paper's bound)
        self.sigma = self.tau = 1.0 / np.sqrt(17.0)
        o = self.ops
        n, ns = o.n_vox, o.n_sino
        self.f = o.buffer(self.data)
        self.mu_buf = o.buffer(np.asarray(self.mu, dtype=np.float32))
        self.buf = {"u": o.buffer(size=n), "ubar": o.buffer(size=n), "w": o.buffer(size=3 * n),
                    "wbar": o.buffer(size=3 * n), "p": o.buffer(size=3 * n), "q": o.buffer(size=6 * n),
                    "r": o.buffer(size=ns)}
        self._norms = o.buffer(size=g.ny * g.nz * g.nx)
        self._tu = None
        self.k_dual = o.kernel("tgv.cl", "tgv_dual")
        self.k_data = o.kernel("tgv.cl", "tgv_data")
        self.k_primal = o.kernel("tgv.cl", "tgv_primal")
        self.k_norms = o.kernel("tgv.cl", "tgv_norms")
        self._prev_u = None

    # -- state -----------------------------------------------------------------------------
    def shapes(self) -> dict:
        v, s = self.geom.vol_shape, self.geom.sino_shape
        return {"u": v, "ubar": v, "w": (3, *v), "wbar": (3, *v), "p": (3, *v), "q": (6, *v), "r": s}

    def initialise(self) -> None:
        """Line 3 of Algorithm 1: u = ū = T*f, everything else 0."""
        self.ops.radon_adj(self.buf["u"], self.f, self.scale)
        self.ops.radon_adj(self.buf["ubar"], self.f, self.scale)
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

    # -- iteration ---------------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        """Run ``n`` iterations of Algorithm 1 (lines 6–12), enqueued without waiting."""
        o, g, b = self.ops, self.geom, self.buf
        real, sizes = o.real, g.sizes
        s, t = real(self.sigma), real(self.tau)
        a0, a1 = real(self.alpha[0]), real(self.alpha[1])
        scale = real(self.scale)
        ndet, nang = np.int32(g.ndet), np.int32(g.n_angles)
        self.k_dual.set_args(b["p"], b["q"], b["ubar"], b["wbar"], s, a0, a1, *sizes)
        self.k_data.set_args(b["r"], self.f, b["ubar"], o.ang, self.mu_buf, s, scale, *sizes, ndet)
        self.k_primal.set_args(b["u"], b["ubar"], b["w"], b["wbar"], b["p"], b["q"], b["r"], o.ang, nang,
                               t, scale, *sizes, ndet)
        cl, queue = o.cl, o.rt.queue
        gd, gs, gv = (g.nx, g.nz, g.ny), o.sino_chunks, o.vol_chunks
        for _ in range(int(n)):
            cl.enqueue_nd_range_kernel(queue, self.k_dual, gd, None)
            cl.enqueue_nd_range_kernel(queue, self.k_data, gs, None)
            cl.enqueue_nd_range_kernel(queue, self.k_primal, gv, None)
        self.iteration += int(n)

    def objective(self) -> float:
        """Σ μ_c KL(T'u_c, f'_c) + TGV(u, w) of the normalised problem at the current iterate."""
        o, g = self.ops, self.geom
        if self._tu is None:
            self._tu = o.buffer(size=o.n_sino)
        o.radon(self._tu, self.buf["u"], self.scale)
        o.launch(self.k_norms, (g.nx, g.nz, g.ny), self._norms, self.buf["u"], self.buf["w"],
                 o.real(self.alpha[0]), o.real(self.alpha[1]), *g.sizes)
        tu = o.read(self._tu, g.sino_shape)[..., : g.nx * g.nc].astype(np.float64)
        reg = float(o.read(self._norms, (g.ny * g.nz * g.nx,)).sum(dtype=np.float64))
        f = self.data[..., : g.nx * g.nc].astype(np.float64)
        mu = np.tile(np.asarray(self.mu, dtype=float), g.nx)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = tu - f + np.where(f > 0, f * np.log(f / np.maximum(tu, 1e-30)), 0.0)
        return float((kl.reshape(-1, kl.shape[-1]).sum(axis=0) * mu).sum()) + reg

    def check(self, seconds: float) -> dict:
        """Objective and relative change of u since the last check, appended to the history."""
        u = self.get("u")
        change = (float(np.linalg.norm(u - self._prev_u) / max(np.linalg.norm(u), 1e-30))
                  if self._prev_u is not None else float("nan"))
        self._prev_u = u
        rec = {"iteration": self.iteration, "objective": self.objective(), "change": change,
               "seconds": float(seconds)}
        for k, v in rec.items():
            self.history[k].append(v)
        return rec

    def volumes(self) -> list[np.ndarray]:
        """Current u per channel in normalised units, ``(nx, ny, nz)`` each."""
        return from_batch(self.get("u"), self.geom)


# -- checkpoints -------------------------------------------------------------------------------

def _fingerprint(data: np.ndarray, params: dict) -> str:
    h = hashlib.sha256(np.ascontiguousarray(data).tobytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _save_checkpoint(path: Path, solver: TGVSolver, fingerprint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, fingerprint=fingerprint, iteration=solver.iteration,
                     history=json.dumps(solver.history), **solver.state())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load_checkpoint(path: Path, solver: TGVSolver, fingerprint: str) -> bool:
    if not path.exists():
        return False
    with np.load(path) as z:
        if str(z["fingerprint"]) != fingerprint:
            raise ValueError(f"checkpoint: {path} was written for other data or parameters; "
                             "delete it or choose another path")
        solver.set_state({k: z[k] for k in _STATE}, int(z["iteration"]))
        solver.history = json.loads(str(z["history"]))
    return True


# -- public entry point ---------------------------------------------------------------------------

def _nonnegative(name: str, data: np.ndarray) -> tuple[np.ndarray, float]:
    neg = data < 0
    frac = float(neg.mean())
    if frac:
        warnings.warn(f"stacks[{name!r}]: {100 * frac:.2f} % of the pixels are negative (background "
                      "subtraction noise); the KL data term needs counts ≥ 0, so they are set to 0 "
                      "(recorded in metadata.Reconstruction.negative_fraction)", stacklevel=3)
        data = np.where(neg, 0, data)
    return data, frac


def reconstruct_tgv(stacks: dict, *, mu=None, alpha=(4.0, 1.0), iterations: int = 2000,
                    coupling: str = "frobenius", dims: int = 3, tol: float | None = None, device=None,
                    progress: bool = True, checkpoint=None, callback=None, check_every: int = 50,
                    checkpoint_every: int = 200) -> dict:
    """Jointly reconstruct HAADF and elemental maps with coupled TGV–KL (Huber et al. 2019).

    Parameters
    ----------
    stacks : dict[str, TomoStack (n_tilts, ny, nx)]
        Aligned channels on one grid with equal tilts, e.g. ``{"HAADF": haadf, **maps}``. Values
        are counts (KL data term); negative pixels are set to 0 with a warning.
    mu : None, float or dict[str, float]
        Data weights. None: the paper's heuristic μ_c = ν·max(f_c) with ν = ``DEFAULT_NU`` for maps
        and ``DEFAULT_NU_HAADF`` for HAADF channels (named "HAADF" or with HAADF metadata). A float
        sets ν for the maps; a dict gives μ_c of the normalised problem per channel.
    alpha : (float, float)
        (α0, α1), weights of the second- and first-order TGV terms; only α0/α1 matters with μ.
    iterations : int
        Maximum number of primal–dual iterations (the paper uses 2000 on phantoms).
    coupling : {'frobenius', 'none'}
        Frobenius coupling of all channels, or independent per-channel TGV.
    dims : {3, 2}
        Volumetric regularisation, or slice-wise (no differences along the tilt axis).
    tol : float, optional
        Stop when the objective changes by less than ``tol`` (relative) between two checks.
    device : optional
        OpenCL device (see :func:`spectomo.recon.opencl.get_runtime`).
    progress : bool
        Progress bar over iterations.
    checkpoint : path, optional
        State file (``.npz``), written atomically every ``checkpoint_every`` iterations and at the
        end; if it exists and matches data and parameters the run resumes from it.
    callback : callable, optional
        ``callback(info)`` every ``check_every`` iterations with ``info`` holding ``iteration``,
        ``objective``, ``change`` (relative change of u since the last check), ``seconds`` and
        ``volumes`` (a function returning the current volumes); returning True stops the run.
    check_every : int
        Iterations between objective evaluations (history, ``tol``, ``callback``).
    checkpoint_every : int
        Iterations between checkpoint writes.

    Returns
    -------
    dict[str, RecStack (nx, ny, nz)]
        One volume per channel in counts per voxel path length; ``metadata.Reconstruction`` holds
        the parameters, μ, normalisation and the objective history.
    """
    stacks = check_channels(stacks)
    if coupling not in COUPLINGS:
        raise ValueError(f"coupling: expected one of {list(COUPLINGS)}, got {coupling!r}")
    if dims not in (2, 3):
        raise ValueError(f"dims: expected 2 or 3, got {dims!r}")
    if int(iterations) < 1:
        raise ValueError(f"iterations: must be ≥ 1, got {iterations}")
    a0, a1 = (float(a) for a in alpha)
    if not (a0 > 0 and a1 > 0):
        raise ValueError(f"alpha: expected two positive weights (α0, α1), got {alpha!r}")
    if isinstance(mu, dict):
        unknown = sorted(set(mu) - set(stacks))
        if unknown:
            raise KeyError(f"mu: no channel named {unknown}; channels are {list(stacks)}")
    elif mu is not None and not float(mu) > 0:
        raise ValueError(f"mu: expected a positive ν, got {mu!r}")
    names = list(stacks)
    first = stacks[names[0]]
    n_t, ny, nx = first.data.shape
    raw, negative = [], {}
    for name in names:
        d, negative[name] = _nonnegative(name, np.asarray(stacks[name].data, dtype=np.float32))
        raw.append(d)
    xi = {n: float(d.max()) for n, d in zip(names, raw)}
    empty = [n for n, x in xi.items() if not x > 0]
    if empty:
        raise ValueError(f"stacks: channel(s) {empty} hold no positive counts")
    haadf = {n: is_haadf(n, stacks[n]) for n in names}
    mus = default_mu(xi, haadf, mu)
    geom = BatchGeometry(first.tilts, ny, ny, nx, len(names),
                         chunk=auto_chunk(nx * len(names), device=device))
    data = sinograms_to_batch([d / xi[n] for n, d in zip(names, raw)], geom)
    solver = TGVSolver(data, geom, tuple(mus[n] for n in names), (a0, a1), coupling == "frobenius", dims, device)
    params = {"mu": [mus[n] for n in names], "alpha": [a0, a1], "coupling": coupling, "dims": dims,
              "names": names, "tilts": geom.tilts.tolist(), "shape": [n_t, ny, nx]}
    fp = _fingerprint(data, params)
    ck = Path(checkpoint) if checkpoint is not None else None
    if ck is None or not _load_checkpoint(ck, solver, fp):
        solver.initialise()
    total, check_every = int(iterations), max(1, int(check_every))
    t0 = time.perf_counter()
    stopped = "iterations"
    bar = tqdm(total=total, initial=min(solver.iteration, total), desc="TGV-KL", unit="it",
               disable=not progress, leave=False)
    try:
        while solver.iteration < total:
            n = min(check_every - solver.iteration % check_every, total - solver.iteration)
            if ck is not None:
                n = min(n, checkpoint_every - solver.iteration % checkpoint_every)
            solver.step(n)
            solver.ops.finish()
            bar.update(n)
            if ck is not None and solver.iteration % checkpoint_every == 0:
                _save_checkpoint(ck, solver, fp)
            if solver.iteration % check_every == 0 or solver.iteration == total:
                info = solver.check(time.perf_counter() - t0)
                bar.set_postfix(objective=f"{info['objective']:.4g}")
                obj = solver.history["objective"]
                if tol is not None and len(obj) > 1 and abs(obj[-1] - obj[-2]) <= tol * abs(obj[-1]):
                    stopped = "tol"
                    break
                if callback is not None and callback(
                        dict(info, volumes=lambda: _physical(solver, names, xi))):
                    stopped = "callback"
                    break
    finally:
        bar.close()
    if ck is not None:
        _save_checkpoint(ck, solver, fp)
    elapsed = time.perf_counter() - t0
    vols = _physical(solver, names, xi)
    hist = {k: np.asarray(v, dtype=float) for k, v in solver.history.items()}
    out = {}
    for name in names:
        out[name] = rec_signal(vols[name], stacks[name], "TGV-KL", {
            "software": "spectomo", "method": "TGV-KL", "iterations": int(solver.iteration),
            "stopped_by": stopped, "coupling": coupling, "dims": int(dims), "alpha": [a0, a1],
            "mu": float(mus[name]), "mu_all": {n: float(m) for n, m in mus.items()},
            "channels": names, "data_max": xi[name], "projector_norm": float(solver.tnorm),
            "sigma": float(solver.sigma), "tau": float(solver.tau), "tol": -1.0 if tol is None else float(tol),
            "negative_fraction": negative[name], "device": solver.ops.rt.device.name.strip(),
            "projector": "linear (Huber 2019 eq. 8)", "seconds": float(elapsed),
            "history": hist})
    return out


def _physical(solver: TGVSolver, names, xi) -> dict:
    """Volumes in counts per voxel path length: u' · ξ_c / ‖T‖."""
    return {n: v * np.float32(xi[n] / solver.tnorm) for n, v in zip(names, solver.volumes())}

