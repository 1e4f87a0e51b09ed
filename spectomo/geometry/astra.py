"""ASTRA wrappers on spectomo's geometry (:mod:`spectomo.geometry.convention`).

* :func:`astra_ids` owns ASTRA object ids and frees every one on exit, on error too (never
  ``astra.clear``, which would wipe other users' objects).
* :func:`astra_geometry` is the one place where spectomo's slice geometry becomes ASTRA's: a slice
  ``(ny, nz)`` is handed to ASTRA transposed (rows ``z``, columns ``y``), angles in radians.
* :class:`SliceSolver` runs BP/FBP/SIRT/SART on one slice at a time, reusing its objects;
  :class:`SlicePool` spreads many slices over CPU threads (ASTRA releases the GIL), one solver per
  thread, or runs them one after another on CUDA; :func:`reconstruct_sinograms` reconstructs a
  batch of sinograms with it; :func:`forward_project` projects volumes slice by slice.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading

import numpy as np
from tqdm.auto import tqdm

__all__ = ["astra_ids", "astra_geometry", "cuda_available", "resolve_cuda", "SliceSolver", "SlicePool", "ITERATIVE", "FBP_FILTERS",
           "reconstruct_sinograms", "forward_project"]

#: ASTRA algorithms that iterate (the others are one-shot)
ITERATIVE = ("SIRT", "SART")
#: ASTRA's FBP filters that need no parameter
FBP_FILTERS = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann", "lanczos", "triangular", "barlett-hann",
               "nuttall", "blackman-harris", "blackman-nuttall", "flat-top", "parzen", "none")


@contextlib.contextmanager
def astra_ids():
    """Collect ASTRA object ids and free every one on exit, even on error.

    Yields a ``track(kind, id)`` function; ``kind`` is ``'projector'``, ``'data2d'`` or
    ``'algorithm'``. It returns the id, so it can wrap a create call.
    """
    import astra

    owned: list[tuple[str, int]] = []

    def track(kind: str, ident: int) -> int:
        owned.append((kind, ident))
        return ident

    try:
        yield track
    finally:
        for kind, ident in reversed(owned):
            getattr(astra, kind).delete(ident)


def astra_geometry(tilts, ny: int, nz: int):
    """``(vol_geom, proj_geom)`` of one slice ``(ny, nz)`` seen at ``tilts`` (degrees), ``ny`` bins."""
    import astra

    angles = np.deg2rad(np.asarray(tilts, dtype=float).reshape(-1))
    return astra.create_vol_geom(nz, ny), astra.create_proj_geom("parallel", 1.0, ny, angles)


def cuda_available() -> bool:
    """True when the installed ASTRA was built with CUDA and sees a GPU."""
    import astra

    try:
        return bool(astra.use_cuda())
    except Exception:  # noqa: BLE001 - any ASTRA/CUDA failure means "no CUDA"
        return False


def resolve_cuda(cuda) -> bool:
    """ETSpy's ``cuda=`` argument: None → use CUDA when ASTRA has it; True → require it; False → CPU."""
    if cuda is None:
        return cuda_available()
    if not isinstance(cuda, (bool, np.bool_)):
        raise TypeError(f"cuda: expected None (automatic), True or False, got {cuda!r}")
    if cuda and not cuda_available():
        raise RuntimeError("cuda=True: this ASTRA build has no CUDA support or sees no GPU; use cuda=False")
    return bool(cuda)


def _sart_order(n: int) -> list[int]:
    """A fixed, well-spread projection order for SART (golden-ratio sampling of the indices)."""
    keys = np.mod(np.arange(n) * 0.6180339887498949, 1.0)
    return [int(i) for i in np.argsort(keys)]


class SliceSolver:
    """One set of ASTRA objects (geometry, data, algorithm) reused for many slices.

    Use inside an :func:`astra_ids` context (``track``); not thread-safe: one per thread.
    """

    def __init__(self, track, tilts, ny: int, nz: int, method: str, *, constrain: bool, cuda: bool,
                 filter_type: str = "ram-lak", masked: bool = False):
        import astra

        self.method, self.n_tilts = method, len(tilts)
        vg, pg = astra_geometry(tilts, ny, nz)
        self.proj = track("projector", astra.create_projector("linear", pg, vg))
        self.sino = track("data2d", astra.data2d.create("-sino", pg, 0))
        self.rec = track("data2d", astra.data2d.create("-vol", vg, 0))
        cfg = astra.astra_dict(method + ("_CUDA" if cuda else ""))
        cfg["ProjectionDataId"], cfg["ReconstructionDataId"] = self.sino, self.rec
        if not cuda:
            cfg["ProjectorId"] = self.proj
        opts = {}
        self.mask = None
        if masked:  # SIRT/SART ignore sinogram pixels where the mask is 0 (data missing)
            if method not in ITERATIVE or cuda:
                raise ValueError("masked: a sinogram mask needs method SIRT or SART on the CPU")
            self.mask = track("data2d", astra.data2d.create("-sino", pg, 1.0))
            opts["SinogramMaskId"] = self.mask
        if method in ITERATIVE and constrain is not False and constrain is not None:
            # True: non-negativity; a number: that lower bound (ETSpy's ``thresh``)
            opts["MinConstraint"] = 0.0 if constrain is True else float(constrain)
        if method == "SART":
            opts["ProjectionOrder"] = "custom"
            opts["ProjectionOrderList"] = np.array(_sart_order(len(tilts)))
        if method == "FBP":
            opts["FilterType"] = filter_type
        cfg["option"] = opts
        self.alg = track("algorithm", astra.algorithm.create(cfg))
        self._op = None

    def load(self, sinogram: np.ndarray, start=0, mask=None) -> None:
        """Set the sinogram ``(n_tilts, ny)``, the starting slice (0, or an array ``(ny, nz)``) and,
        for a solver built with ``masked=True``, the sinogram mask (1: use, 0: missing; default all 1)."""
        import astra

        astra.data2d.store(self.sino, np.ascontiguousarray(sinogram, dtype=np.float32))
        if self.mask is not None:
            astra.data2d.store(self.mask, 1.0 if mask is None else np.ascontiguousarray(mask, dtype=np.float32))
        astra.data2d.store(self.rec, start if np.isscalar(start) else np.ascontiguousarray(np.asarray(start).T))

    def solve(self, sinogram: np.ndarray, iterations: int = 1) -> np.ndarray:
        """Reconstruct one sinogram ``(n_tilts, ny)`` from zero; returns the slice ``(ny, nz)``."""
        self.load(sinogram)
        self.run(iterations)
        return self.current()

    def run(self, iterations: int) -> None:
        """Continue the algorithm by ``iterations`` (sweeps over all projections for SART)."""
        import astra

        n = iterations * self.n_tilts if self.method == "SART" else iterations
        astra.algorithm.run(self.alg, n if self.method in ITERATIVE else 1)

    def current(self) -> np.ndarray:
        """The current slice ``(ny, nz)``."""
        import astra

        return astra.data2d.get(self.rec).T.copy()

    def forward(self, slice_yz: np.ndarray) -> np.ndarray:
        """Project a slice ``(ny, nz)`` to a sinogram ``(n_tilts, ny)`` with the same projector."""
        import astra

        if self._op is None:
            self._op = astra.OpTomo(self.proj)
        return self._op.FP(np.ascontiguousarray(slice_yz.T, dtype=np.float32))


class SlicePool:
    """ASTRA solvers for the slices of one geometry, spread over worker threads.

    One :class:`SliceSolver` per worker (one in all with CUDA); :meth:`map` calls ``fn(solver, i)``
    for every slice index, each worker using its own solver, so slices run in parallel (ASTRA
    releases the GIL). Use as a context manager: every ASTRA object is freed on exit, on error too.
    """

    def __init__(self, tilts, ny: int, nz: int, method: str, *, n_slices: int, constrain: bool = True,
                 cuda: bool = False, n_jobs: int | None = None, filter_type: str = "ram-lak",
                 masked: bool = False):
        self._exit = contextlib.ExitStack()
        track = self._exit.enter_context(astra_ids())
        workers = 1 if cuda else max(1, min(int(n_jobs or os.cpu_count() or 1), int(n_slices)))
        try:
            self.solvers = [SliceSolver(track, tilts, ny, nz, method, constrain=constrain, cuda=cuda,
                                        filter_type=filter_type, masked=masked) for _ in range(workers)]
        except BaseException:
            self._exit.close()
            raise

    def __enter__(self) -> "SlicePool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Free every ASTRA object of the pool."""
        self._exit.close()

    def map(self, fn, n: int, *, bar=None) -> None:
        """``fn(solver, i)`` for ``i`` in ``range(n)`` over the workers; the first error is re-raised."""
        todo: queue.SimpleQueue = queue.SimpleQueue()
        for i in range(n):
            todo.put(i)
        lock = threading.Lock()
        errors: list[BaseException] = []

        def work(solver):
            try:
                while not errors:
                    try:
                        i = todo.get_nowait()
                    except queue.Empty:
                        return
                    fn(solver, i)
                    if bar is not None:
                        with lock:
                            bar.update()
            except BaseException as err:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(err)

        if len(self.solvers) == 1:
            work(self.solvers[0])
        else:
            threads = [threading.Thread(target=work, args=(s,), daemon=True) for s in self.solvers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if errors:
            raise errors[0]


def reconstruct_sinograms(sinograms: np.ndarray, tilts, *, method: str = "FBP", iterations: int = 100,
                          constrain: bool = True, thickness: int | None = None, cuda: bool = False,
                          n_jobs: int | None = None, filter_type: str = "ram-lak",
                          progress: bool = True) -> np.ndarray:
    """Reconstruct a batch of sinograms ``(n_slices, n_tilts, ny)`` → volume ``(n_slices, ny, nz)``.

    One sinogram ``(n_tilts, ny)`` is taken as a batch of one. On the CPU the slices are spread over
    ``n_jobs`` threads (default: all cores), each with its own ASTRA objects; with ``cuda=True``
    they run one after another on the GPU.
    """
    sinograms = np.asarray(sinograms, dtype=np.float32)
    if sinograms.ndim == 2:
        sinograms = sinograms[None]
    if sinograms.ndim != 3:
        raise ValueError(f"sinograms: expected (n_slices, n_tilts, ny) or one sinogram (n_tilts, ny), got shape "
                         f"{sinograms.shape}")
    n_slices, n_tilts, ny = sinograms.shape
    if np.size(tilts) != n_tilts:
        raise ValueError(f"tilts: {np.size(tilts)} angles for sinograms with {n_tilts} projections "
                         f"(shape {sinograms.shape}); they must match")
    nz = ny if thickness is None else int(thickness)
    out = np.empty((n_slices, ny, nz), dtype=np.float32)

    def one(solver, i):
        out[i] = solver.solve(sinograms[i], iterations)

    with tqdm(total=n_slices, desc=f"{method} slices", disable=not progress, leave=False) as bar, \
            SlicePool(tilts, ny, nz, method, n_slices=n_slices, constrain=constrain, cuda=cuda, n_jobs=n_jobs,
                      filter_type=filter_type) as pool:
        pool.map(one, n_slices, bar=bar)
    return out


def forward_project(volumes, tilts, *, projector: str = "strip", progress: bool = False):
    """Parallel-beam projections of one or several volumes, slice by slice with ASTRA (CPU).

    Parameters
    ----------
    volumes : ndarray (nx, ny, nz) or sequence of them
        Volumes on the same grid. Values are integrated along the beam in voxel units (multiply by
        the voxel length to get physical line integrals).
    tilts : array_like, shape (n_tilts,)
        Tilt angles in degrees.
    projector : {'strip', 'linear', 'line'}
        ASTRA CPU projector model. ``'strip'`` (area-weighted) is the default.
    progress : bool
        Show a progress bar over slices.

    Returns
    -------
    ndarray (n_tilts, ny, nx) or list of them
        One projection stack per input volume, float32.
    """
    import astra

    single = isinstance(volumes, np.ndarray)
    vols = [volumes] if single else list(volumes)
    shape = vols[0].shape
    if any(v.shape != shape for v in vols) or len(shape) != 3:
        raise ValueError(f"volumes: expected equal (nx, ny, nz) shapes, got {[v.shape for v in vols]}")
    nx, ny, nz = shape
    out = [np.empty((len(np.atleast_1d(tilts)), ny, nx), dtype=np.float32) for _ in vols]
    with astra_ids() as track:
        vg, pg = astra_geometry(tilts, ny, nz)
        pid = track("projector", astra.create_projector(projector, pg, vg))
        op = astra.OpTomo(pid)
        for i in tqdm(range(nx), desc="projecting", disable=not progress, leave=False):
            for v, o in zip(vols, out):
                o[:, :, i] = op.FP(np.ascontiguousarray(v[i].T, dtype=np.float32))
    return out[0] if single else out
