"""Slab decomposition of TGV–KL along the tilt axis, with exact halo exchange (issue 21).

The projector acts on each slice ``x`` alone; only TGV's 3D differences couple neighbouring
slices. Each slab (:class:`Slab`) is an ordinary :class:`~spectomo.recon.tgv.TGVSolver` on its slices
plus one halo slice on each side that has a neighbour. After every iteration the halos of ``ū`` and
``w̄`` (the extrapolated primal variables) are overwritten with the neighbours' values. That is all
the coupling needs:

- the dual step at an owned slice reads ``ū`` forward (``∇``) and ``w̄`` backward (``E``), one slice
  away at most;
- the halo duals it then needs are computed locally from correct halos: ``p`` at the left halo
  from ``ū`` at it and the first owned slice, ``q`` at the right halo from ``w̄`` at it and the last
  owned slice;
- the primal step at an owned slice reads those through the divergences.

The result equals the monolithic solve up to float rounding; it is not independent overlapped
solves, which would leave seams. The data normalisation ξ_c, the weights μ_c and ‖T‖ (the same for
any number of slices) are global.

:class:`SlabTGV` runs the slabs in this process, one after another, each holding only its slices on
the device. With ``client=`` (a ``dask.distributed`` client, e.g. on a ``LocalCluster``), each slab
lives in a worker as a dask actor, and only the boundary slices travel between iterations.
"""

from __future__ import annotations

import numpy as np

from ..opencl.layout import BatchGeometry, sinograms_to_batch
from ..opencl.operators import auto_chunk, radon_norm
from .driver import Solver
from .tgv import TGVSolver, default_mu

__all__ = ["plan_slabs", "Slab", "SlabTGV", "SlabHEBT", "recovering", "RECOVERY_ATTEMPTS", "RECOVERY_WAIT"]

#: Lost dask workers one ``reconstruct_tgv(client=)`` call recovers from
RECOVERY_ATTEMPTS = 2
#: Seconds to wait for the cluster to regain its workers before giving up
RECOVERY_WAIT = 120.0

#: State arrays whose halo slices are exchanged after every iteration
_HALO = ("ubar", "wbar")


def plan_slabs(nx: int, n_slabs: int) -> list[tuple[int, int]]:
    """``n_slabs`` contiguous ranges ``[x0, x1)`` of the ``nx`` slices, as equal as possible."""
    n_slabs = int(n_slabs)
    if not 1 <= n_slabs <= nx:
        raise ValueError(f"n_slabs: between 1 and the number of slices ({nx}) expected, got {n_slabs}")
    edges = np.linspace(0, nx, n_slabs + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


class Slab:
    """One slab: a TGV–KL solver on slices ``[x0 − left, x1 + right)`` of the normalised problem.

    ``parts`` are the normalised sinogram stacks ``(n_tilts, ny, n_local)`` per channel; ``left`` and
    ``right`` (0 or 1) say which halo slices exist. Every method is cheap to call remotely (a dask
    actor): arrays in and out are boundary slices or the owned volumes.
    """

    def __init__(self, parts: list, tilts, mu: list, names: list, scales: list, tnorm: float, owned: tuple,
                 left: int, right: int, alpha=(4.0, 1.0), coupled: bool = True, dims: int = 3, device=None,
                 backing=None, shift=None):
        n_local = parts[0].shape[2]
        nc = len(parts)
        g = BatchGeometry(tilts, parts[0].shape[1], parts[0].shape[1], n_local, nc,
                          chunk=auto_chunk(n_local * nc, device=device, multiple=nc))
        self.solver = TGVSolver(sinograms_to_batch(parts, g), g, mu, alpha, coupled, dims, device, names=names,
                                scales=scales, tnorm=tnorm, backing=backing, shift=shift)
        self.owned, self.left, self.right, self.nc = tuple(owned), int(left), int(right), nc

    @property
    def n_local(self) -> int:
        return self.solver.geom.nx

    def _cols(self, x: int) -> slice:
        return slice(x * self.nc, (x + 1) * self.nc)

    def initialise(self) -> None:
        self.solver.initialise()

    def step(self, n: int = 1) -> None:
        self.solver.step(n)

    def sync(self) -> None:
        self.solver.sync()

    def _lead(self, name: str) -> tuple:
        return self.solver.shapes()[name][:-1]

    def edges(self, names=_HALO) -> dict:
        """The owned boundary slices: ``{"first": {name: array}, "last": {...}}`` (rectangular copies
        of those slices only)."""
        o, out = self.solver.ops, {"first": {}, "last": {}}
        for name in names:
            buf, lead = self.solver.buf[name], self._lead(name)
            out["first"][name] = o.read_columns(buf, lead, self._cols(self.left))
            out["last"][name] = o.read_columns(buf, lead, self._cols(self.n_local - 1 - self.right))
        return out

    def set_halos(self, from_left: dict | None, from_right: dict | None) -> None:
        """Write the left neighbour's last owned slices and the right neighbour's first owned slices
        into this slab's halos."""
        o = self.solver.ops
        for name in set(from_left or {}) | set(from_right or {}):
            buf, lead = self.solver.buf[name], self._lead(name)
            if from_left is not None and self.left:
                o.write_columns(buf, lead, self._cols(0), from_left[name])
            if from_right is not None and self.right:
                o.write_columns(buf, lead, self._cols(self.n_local - 1), from_right[name])

    def owned_volumes(self) -> dict:
        a = self.left
        return {n: v[a:a + self.owned[1] - self.owned[0]] for n, v in self.solver.volumes().items()}

    def owned_projections(self) -> list:
        """Projections of the owned slices per channel, ``(n_tilts, ny, n_owned)`` in the data's units
        (the projector acts slice by slice, so they are exact)."""
        a = self.left
        return [pr[:, :, a:a + self.owned[1] - self.owned[0]] for pr in self.solver.projections()]

    def objective(self) -> float:
        return self.solver.objective_over(slice(self.left, self.left + self.owned[1] - self.owned[0]))

    def state(self) -> dict:
        return self.solver.state()

    def set_state(self, state: dict, iteration: int) -> None:
        self.solver.set_state(state, iteration)

    def signature(self) -> tuple:
        a, p = self.solver.signature()
        return a, dict(p, owned=list(self.owned))

    def constants(self) -> dict:
        s = self.solver
        return {"mu": s.mu, "scales": s.scales, "tnorm": s.tnorm, "sigma": s.sigma, "tau": s.tau,
                "device": s.ops.rt.device.name.strip()}


def _lost_worker(err: BaseException) -> bool:
    """Whether ``err`` says a dask worker (and the slab it held) is gone."""
    try:
        from distributed import KilledWorker
        from distributed.comm.core import CommClosedError
    except ImportError:  # pragma: no cover - distributed is a dependency
        return False
    text = str(err)
    return (isinstance(err, (KilledWorker, CommClosedError))
            or (isinstance(err, RuntimeError) and "was lost" in text)          # "Worker holding Actor was lost"
            or (isinstance(err, OSError) and "Actor's worker" in text))         # "Unable to contact Actor's worker"


def recovering(make, go, client, *, resumable: bool):
    """``solver = make(); go(solver)``, again on a rebuilt solver when a dask worker is lost.

    Returns ``(solver, go's result, number of recoveries)``. ``resumable``: ``go`` resumes from a
    checkpoint (else it starts over). Other errors, and a cluster that does not regain its
    workers within :data:`RECOVERY_WAIT` s, are raised.
    """
    import warnings

    n_workers = len(client.scheduler_info().get("workers", {}))
    for attempt in range(RECOVERY_ATTEMPTS + 1):
        solver = make()
        try:
            return solver, go(solver), attempt
        except Exception as err:
            if attempt == RECOVERY_ATTEMPTS or not _lost_worker(err):
                raise
            warnings.warn(f"a dask worker holding a slab was lost ({err}); waiting for {n_workers} workers and "
                          f"going on from {'the last checkpoint' if resumable else 'the start (no checkpoint=)'}",
                          RuntimeWarning, stacklevel=3)
            client.wait_for_workers(n_workers, timeout=RECOVERY_WAIT)
    raise AssertionError("unreachable")


def _result(x):
    """The value of a dask actor call (an ActorFuture) or a plain value."""
    return x.result() if hasattr(x, "result") else x


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
    nu, haadf, alpha, coupled, dims, device, shift
        As for :meth:`TGVSolver.from_counts`.
    client : distributed.Client, optional
        Put each slab in a dask worker (an actor); the slabs then step in parallel.
    offload : path, optional
        A folder (on a disk with room for the whole state, :func:`~spectomo.recon.tgv.tgv_bytes`)
        where each slab's arrays live as memory-mapped files that the CPU device uses in place.
        The slabs step one after another, so only the active slab's pages need to be in memory
        and problems larger than the machine's memory run (the operating system pages the rest).
        The files are removed by :meth:`close` (called by ``reconstruct_tgv``).
    """

    label = "TGV-KL (slabs)"

    def __init__(self, counts: dict, tilts, *, n_slabs: int = 2, nu=None, haadf: str | None = None,
                 alpha=(4.0, 1.0), coupled: bool = True, dims: int = 3, device=None, client=None, offload=None,
                 shift: dict | None = None):
        self.names = list(counts)
        first = np.asarray(counts[self.names[0]])
        n_t, ny, nx = first.shape
        xi = {n: float(np.asarray(d).max()) for n, d in counts.items()}
        empty = [n for n, x in xi.items() if not x > 0]
        if empty:
            raise ValueError(f"counts: channel(s) {empty} hold no positive counts")
        mu = default_mu(xi, haadf, nu)
        tilts = np.asarray(tilts, dtype=float)
        tnorm = radon_norm(BatchGeometry(tilts, ny, ny, 1, 1), device=device)
        self.plan = plan_slabs(nx, n_slabs)
        self.client = client
        self.offload = None
        if offload is not None:
            import tempfile
            from pathlib import Path

            Path(offload).mkdir(parents=True, exist_ok=True)
            self.offload = Path(tempfile.mkdtemp(prefix="spectomo-slabs-", dir=offload))
        self.slabs = []
        for i, (x0, x1) in enumerate(self.plan):
            lo, hi = max(x0 - 1, 0), min(x1 + 1, nx)
            parts = [np.ascontiguousarray(np.asarray(counts[n])[:, :, lo:hi] / xi[n], dtype=np.float32)
                     for n in self.names]
            args = (parts, tilts, [mu[n] for n in self.names], self.names, [xi[n] for n in self.names], tnorm,
                    (x0, x1), x0 - lo, hi - x1, alpha, coupled, dims, device,
                    None if self.offload is None else self.offload / f"slab{i}",
                    [(shift or {}).get(n, 0.0) / xi[n] for n in self.names])
            self.slabs.append(client.submit(Slab, *args, actor=True).result() if client is not None else Slab(*args))
        c = _result(self.slabs[0].constants())
        self.mu, self.scales, self.tnorm, self.sigma, self.tau = c["mu"], c["scales"], c["tnorm"], c["sigma"], c["tau"]
        self.device_name = c["device"]
        self.iteration = 0

    def close(self) -> None:
        """Release the slabs and remove the offload files (if any)."""
        import shutil

        self.slabs = []
        if self.offload is not None:
            import gc

            gc.collect()  # the buffers and memory maps of the slabs
            shutil.rmtree(self.offload, ignore_errors=True)
            self.offload = None

    def _all(self, method: str, *args) -> list:
        """Call ``method`` on every slab (in parallel for actors) and return the results in order."""
        return [_result(r) for r in [getattr(s, method)(*args) for s in self.slabs]]

    def _exchange(self, names=_HALO) -> None:
        edges = self._all("edges", names)
        calls = []
        for i, s in enumerate(self.slabs):
            left = edges[i - 1]["last"] if i > 0 else None
            right = edges[i + 1]["first"] if i + 1 < len(self.slabs) else None
            calls.append(s.set_halos(left, right))
        for c in calls:
            _result(c)

    # -- Solver interface ------------------------------------------------------------------------
    def initialise(self) -> None:
        self._all("initialise")
        self.iteration = 0

    def step(self, n: int = 1) -> None:
        for k in range(int(n)):
            # With offload, sweep the slabs back and forth: the slabs stepped last are still in
            # the page cache when the next iteration starts (the order does not change the result:
            # every slab steps on the halos of the previous exchange).
            order = self.slabs[::-1] if self.offload is not None and (self.iteration + k) % 2 else self.slabs
            for r in [s.step(1) for s in order]:
                _result(r)
            self._exchange()
        self.iteration += int(n)

    def sync(self) -> None:
        self._all("sync")

    def volumes(self) -> dict:
        """The owned slices of every slab, joined: name → ``(nx, ny, nz)``."""
        parts = self._all("owned_volumes")
        return {n: np.concatenate([p[n] for p in parts]) for n in self.names}

    def projections(self) -> list:
        """Projections ``(n_tilts, ny, nx)`` of the current volumes in the data's units, one per channel."""
        parts = self._all("owned_projections")
        return [np.concatenate([p[c] for p in parts], axis=2) for c in range(len(self.names))]

    def monitor(self) -> np.ndarray:
        v = self.volumes()
        return np.stack([v[n] for n in self.names])

    def check(self) -> dict:
        """The objective of the whole problem: each slab's KL and TGV terms over its owned slices."""
        self._exchange(("u", "w"))  # the TGV term at an owned edge slice reads u, w one slice on
        return {"objective": float(sum(self._all("objective")))}

    def state(self) -> dict:
        return {f"slab{i}_{k}": v for i, st in enumerate(self._all("state")) for k, v in st.items()}

    def set_state(self, state: dict, iteration: int) -> None:
        for i, s in enumerate(self.slabs):
            _result(s.set_state({k.split("_", 1)[1]: v for k, v in state.items() if k.startswith(f"slab{i}_")},
                                iteration))
        self.iteration = int(iteration)

    def signature(self) -> tuple[list, dict]:
        arrays, params = [], {}
        for i, (a, p) in enumerate(self._all("signature")):
            arrays += list(a)
            params[f"slab{i}"] = p
        return arrays, params


class SlabHEBT(Solver):
    """HEBT (stacked SIRT of HAADF + maps) as slabs along the tilt axis.

    HEBT's slices are independent: the projector, the row and column sums and the block
    coefficients (from the ratios and α, global) act slice by slice. So each slab is an ordinary
    :class:`~spectomo.recon.hebt.HEBTSolver` on its slices, with no halo, and the volumes equal the whole
    solve. The residual history adds the slabs' squared block residuals before taking the relative
    norms against the whole data.

    Parameters
    ----------
    maps : list of ndarray (n_tilts, ny, nx)
    haadf : ndarray (n_tilts, ny, nx)
    tilts, ratios, alpha, normalise, nonnegative, device, capacity, names
        As for :class:`~spectomo.recon.hebt.HEBTSolver`.
    n_slabs : int
    """

    label = "HEBT (slabs)"

    def __init__(self, maps, haadf, tilts, ratios, alpha: float, normalise: bool = True, nonnegative: bool = True,
                 device=None, capacity: int = 1, *, names=None, n_slabs: int = 2):
        from .hebt import HEBTSolver

        maps = [np.asarray(m, dtype=np.float32) for m in maps]
        haadf = np.asarray(haadf, dtype=np.float32)
        self.plan = plan_slabs(haadf.shape[2], n_slabs)
        self.slabs = [HEBTSolver([m[:, :, a:b] for m in maps], haadf[:, :, a:b], tilts, ratios, alpha, normalise,
                                 nonnegative, device, capacity, names=names) for a, b in self.plan]
        first = self.slabs[0]
        self.names, self.coef, self.alpha, self.ops = first.names, first.coef, first.alpha, first.ops
        self.data_norms = np.array([np.linalg.norm(m) for m in maps] + [np.linalg.norm(haadf)])
        self.iteration = 0

    def initialise(self) -> None:
        for s in self.slabs:
            s.initialise()
        self.iteration = 0

    def step(self, n: int = 1) -> None:
        for s in self.slabs:
            s.step(n)
        self.iteration += int(n)

    def sync(self) -> None:
        for s in self.slabs:
            s.sync()

    def finalise(self) -> None:
        for s in self.slabs:
            s.finalise()

    def _squares(self, upto: int) -> np.ndarray:
        return sum(s._squares(upto) for s in self.slabs)

    def residuals(self, upto: int | None = None) -> np.ndarray:
        """Relative residual norms of the whole problem, as :meth:`HEBTSolver.residuals`."""
        from .hebt import relative_residuals

        return relative_residuals(self._squares(self.iteration + 1 if upto is None else int(upto)), self.coef,
                                  self.data_norms)

    def check(self) -> dict:
        from .hebt import block_check

        self.finalise()
        return block_check(self._squares(self.iteration + 1)[-1], self.coef, self.alpha, self.data_norms, self.names)

    def volumes(self) -> dict:
        parts = [s.volumes() for s in self.slabs]
        return {n: np.concatenate([p[n] for p in parts]) for n in self.names}

    def projections(self) -> list:
        """Projections ``(n_tilts, ny, nx)`` of the current volumes in the data's units, one per channel."""
        parts = self._all("owned_projections")
        return [np.concatenate([p[c] for p in parts], axis=2) for c in range(len(self.names))]

    def monitor(self) -> np.ndarray:
        v = self.volumes()
        return np.stack([v[n] for n in self.names])

    def state(self) -> dict:
        return {f"slab{i}_{k}": v for i, s in enumerate(self.slabs) for k, v in s.state().items()}

    def set_state(self, state: dict, iteration: int) -> None:
        for i, s in enumerate(self.slabs):
            s.set_state({k.split("_", 1)[1]: v for k, v in state.items() if k.startswith(f"slab{i}_")}, iteration)
        self.iteration = int(iteration)

    def signature(self) -> tuple[list, dict]:
        arrays, params = [], {}
        for i, (s, (a, b)) in enumerate(zip(self.slabs, self.plan)):
            arr, p = s.signature()
            arrays += list(arr)
            params[f"slab{i}"] = dict(p, owned=[a, b])
        return arrays, params
