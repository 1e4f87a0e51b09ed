"""Slab decomposition of TGV–KL along the tilt axis, with exact halo exchange (issue 21, step 1).

The projector acts on each slice ``x`` alone; only TGV's 3D differences couple neighbouring
slices. Each slab is an ordinary :class:`~spectomo.recon.tgv.TGVSolver` on its slices plus one halo
slice on each side that has a neighbour. After every iteration the halos of ``ū`` and ``w̄`` (the
extrapolated primal variables) are overwritten with the neighbours' values. That is all the
coupling needs:

- the dual step at an owned slice reads ``ū`` forward (``∇``) and ``w̄`` backward (``E``), one slice
  away at most;
- the halo duals it then needs are computed locally from correct halos: ``p`` at the left halo
  from ``ū`` at it and the first owned slice, ``q`` at the right halo from ``w̄`` at it and the last
  owned slice;
- the primal step at an owned slice reads those through the divergences.

The result equals the monolithic solve up to float rounding; it is not independent overlapped
solves, which would leave seams. The data normalisation ξ_c, the weights μ_c and ‖T‖ (the same for
any number of slices) are global.

Slabs run one after another on one device here; each holds only its slices, so a volume larger
than the device's memory is solved in pieces. The distributed engine (slabs on dask workers) is
not built yet.
"""

from __future__ import annotations

import numpy as np

from ..opencl.layout import BatchGeometry, sinograms_to_batch
from ..opencl.operators import auto_chunk, radon_norm
from .driver import Solver
from .tgv import TGVSolver, default_mu

__all__ = ["plan_slabs", "SlabTGV"]

#: State arrays whose halo slices are exchanged after every iteration (with their component count)
_HALO = {"ubar": 1, "wbar": 3}


def plan_slabs(nx: int, n_slabs: int) -> list[tuple[int, int]]:
    """``n_slabs`` contiguous ranges ``[x0, x1)`` of the ``nx`` slices, as equal as possible."""
    n_slabs = int(n_slabs)
    if not 1 <= n_slabs <= nx:
        raise ValueError(f"n_slabs: between 1 and the number of slices ({nx}) expected, got {n_slabs}")
    edges = np.linspace(0, nx, n_slabs + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


class SlabTGV(Solver):
    """TGV–KL of count stacks, solved as slabs along the tilt axis with exact halo exchange.

    Parameters
    ----------
    counts : dict[str, ndarray (n_tilts, ny, nx)]
        Count stacks by channel name (as :meth:`TGVSolver.from_counts`).
    tilts : array_like (n_tilts,)
        Degrees.
    n_slabs : int
        Number of slabs (≥ 1; each holds at least one slice).
    nu, haadf, alpha, coupled, dims, device
        As for :meth:`TGVSolver.from_counts`.
    """

    label = "TGV-KL (slabs)"

    def __init__(self, counts: dict, tilts, *, n_slabs: int = 2, nu=None, haadf: str | None = None,
                 alpha=(4.0, 1.0), coupled: bool = True, dims: int = 3, device=None):
        self.names = list(counts)
        first = np.asarray(counts[self.names[0]])
        n_t, ny, nx = first.shape
        xi = {n: float(np.asarray(d).max()) for n, d in counts.items()}
        empty = [n for n, x in xi.items() if not x > 0]
        if empty:
            raise ValueError(f"counts: channel(s) {empty} hold no positive counts")
        mu = default_mu(xi, haadf, nu)
        self.tilts, self.nx, self.nc = np.asarray(tilts, dtype=float), nx, len(self.names)
        tnorm = radon_norm(BatchGeometry(self.tilts, ny, ny, 1, 1), device=device)
        self.slabs = []  # (solver, owned x0, x1, halo_left, halo_right)
        for x0, x1 in plan_slabs(nx, n_slabs):
            lo, hi = max(x0 - 1, 0), min(x1 + 1, nx)
            g = BatchGeometry(self.tilts, ny, ny, hi - lo, self.nc, chunk=auto_chunk((hi - lo) * self.nc, device=device))
            data = sinograms_to_batch([np.asarray(counts[n])[:, :, lo:hi] / xi[n] for n in self.names], g)
            s = TGVSolver(data, g, [mu[n] for n in self.names], alpha, coupled, dims, device, names=self.names,
                          scales=[xi[n] for n in self.names], tnorm=tnorm)
            self.slabs.append((s, x0, x1, x0 - lo, hi - x1))
        self.iteration = 0

    # the whole problem's constants, for provenance (every slab has the same)
    @property
    def _first(self) -> TGVSolver:
        return self.slabs[0][0]

    mu = property(lambda self: self._first.mu)
    scales = property(lambda self: self._first.scales)
    tnorm = property(lambda self: self._first.tnorm)
    sigma = property(lambda self: self._first.sigma)
    tau = property(lambda self: self._first.tau)
    ops = property(lambda self: self._first.ops)

    def _exchange(self, which: dict = _HALO) -> None:
        """Copy each neighbour's boundary slices of the arrays ``which`` (default ``ū``, ``w̄``) into the halos."""
        nc = self.nc
        for name in which:
            arrays = [s.get(name) for s, *_ in self.slabs]
            for i in range(len(self.slabs) - 1):
                (a, _, _, hl_a, hr_a), (b, _, _, hl_b, _) = self.slabs[i], self.slabs[i + 1]
                if not (hr_a and hl_b):
                    continue
                na, left, right = a.geom.nx, arrays[i], arrays[i + 1]
                # a's right halo (local na − 1) ← b's first owned slice (local 1)
                left[..., (na - 1) * nc:na * nc] = right[..., hl_b * nc:(hl_b + 1) * nc]
                # b's left halo (local 0) ← a's last owned slice (local na − 2)
                right[..., 0:nc] = left[..., (na - 1 - hr_a) * nc:(na - hr_a) * nc]
            for (s, *_), arr in zip(self.slabs, arrays):
                s.ops.write(s.buf[name], arr)

    # -- Solver interface ------------------------------------------------------------------------
    def initialise(self) -> None:
        for s, *_ in self.slabs:
            s.initialise()
        self.iteration = 0

    def step(self, n: int = 1) -> None:
        for _ in range(int(n)):
            for s, *_ in self.slabs:
                s.step(1)
            self._exchange()
        self.iteration += int(n)

    def sync(self) -> None:
        for s, *_ in self.slabs:
            s.sync()

    def volumes(self) -> dict:
        """The owned slices of every slab, joined: name → ``(nx, ny, nz)``."""
        parts = [(s.volumes(), hl, hl + (x1 - x0)) for s, x0, x1, hl, _ in self.slabs]
        return {n: np.concatenate([v[n][a:b] for v, a, b in parts]) for n in self.names}

    def monitor(self) -> np.ndarray:
        return np.stack([self.volumes()[n] for n in self.names])

    def check(self) -> dict:
        """The objective of the whole problem: each slab's KL and TGV terms over its owned slices."""
        self._exchange({"u": 1, "w": 3})  # the TGV term at an owned edge slice reads u, w one slice on
        total = 0.0
        for s, x0, x1, hl, _ in self.slabs:
            total += s.objective_over(slice(hl, hl + (x1 - x0)))
        return {"objective": total}

    def state(self) -> dict:
        return {f"slab{i}_{k}": v for i, (s, *_) in enumerate(self.slabs) for k, v in s.state().items()}

    def set_state(self, state: dict, iteration: int) -> None:
        for i, (s, *_) in enumerate(self.slabs):
            s.set_state({k.split("_", 1)[1]: v for k, v in state.items() if k.startswith(f"slab{i}_")}, iteration)
        self.iteration = int(iteration)

    def signature(self) -> tuple[list, dict]:
        arrays, params = [], {}
        for i, (s, x0, x1, *_) in enumerate(self.slabs):
            a, p = s.signature()
            arrays += a
            params[f"slab{i}"] = dict(p, owned=[x0, x1])
        return arrays, params
