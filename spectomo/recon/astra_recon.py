"""Single-channel reconstruction with ASTRA: BP, FBP, SIRT, SART, slice by slice.

Geometry as in :mod:`spectomo.recon.astra_ops`: the sinogram of slice ``i`` is
``stack.data[:, :, i]`` ``(n_tilts, ny)``; the reconstructed slice ``rec.data[i]`` is ``(ny, nz)``
and its 0° projection is ``rec.data[i].sum(axis=1)``. Values are counts per voxel path length
(projections divided by the voxel length), so a volume re-projects onto the data it came from.

On the CPU the slices are spread over worker threads (ASTRA runs its algorithms without holding
Python's GIL), each with its own ASTRA objects; with CUDA they run one after another on the GPU.
Every ASTRA object is freed on exit, on error too (:func:`~spectomo.recon.astra_ops.astra_ids`).
"""

from __future__ import annotations

import os
import queue
import threading

import numpy as np
from tqdm.auto import tqdm

from ..signals import RecStack, TomoStack, check_stack
from .astra_ops import astra_ids
from .output import rec_signal

__all__ = ["RECON_METHODS", "reconstruct", "recon_error", "reconstruct_path", "reconstruct_sinograms",
           "SliceSolver"]

RECON_METHODS = ("BP", "FBP", "SIRT", "SART")
_ITERATIVE = ("SIRT", "SART")


def cuda_available() -> bool:
    """True when the installed ASTRA was built with CUDA and sees a GPU."""
    import astra

    try:
        return bool(astra.use_cuda())
    except Exception:  # noqa: BLE001 - any ASTRA/CUDA failure means "no CUDA"
        return False


def resolve_device(device: str) -> str:
    """``'auto'`` → ``'cuda'`` when available else ``'cpu'``; validate explicit choices."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise RuntimeError("device='cuda': this ASTRA build has no CUDA support or sees no GPU; "
                           "use device='cpu'")
    return device


def _sart_order(n: int) -> list[int]:
    """A fixed, well-spread projection order for SART (golden-ratio sampling of the indices)."""
    keys = np.mod(np.arange(n) * 0.6180339887498949, 1.0)
    return [int(i) for i in np.argsort(keys)]


class SliceSolver:
    """One set of ASTRA objects (geometry, data, algorithm) reused for many slices.

    Use inside an :func:`astra_ids` context (``track``); not thread-safe: one per thread.
    """

    def __init__(self, track, tilts, ny: int, nz: int, method: str, *, constrain: bool, device: str,
                 filter_type: str = "ram-lak"):
        import astra

        self.method, self.n_tilts = method, len(tilts)
        vg = astra.create_vol_geom(nz, ny)
        pg = astra.create_proj_geom("parallel", 1.0, ny, np.deg2rad(np.asarray(tilts, dtype=float)))
        self.proj = track("projector", astra.create_projector("linear", pg, vg))
        self.sino = track("data2d", astra.data2d.create("-sino", pg, 0))
        self.rec = track("data2d", astra.data2d.create("-vol", vg, 0))
        cfg = astra.astra_dict(method + ("_CUDA" if device == "cuda" else ""))
        cfg["ProjectionDataId"], cfg["ReconstructionDataId"] = self.sino, self.rec
        if device == "cpu":
            cfg["ProjectorId"] = self.proj
        opts = {}
        if method in _ITERATIVE and constrain:
            opts["MinConstraint"] = 0.0
        if method == "SART":
            opts["ProjectionOrder"] = "custom"
            opts["ProjectionOrderList"] = np.array(_sart_order(len(tilts)))
        if method == "FBP":
            opts["FilterType"] = filter_type
        cfg["option"] = opts
        self.alg = track("algorithm", astra.algorithm.create(cfg))
        self._op = None

    def solve(self, sinogram: np.ndarray, iterations: int = 1) -> np.ndarray:
        """Reconstruct one sinogram ``(n_tilts, ny)``; returns the slice ``(ny, nz)``."""
        import astra

        astra.data2d.store(self.sino, np.ascontiguousarray(sinogram, dtype=np.float32))
        astra.data2d.store(self.rec, 0)
        self.run(iterations)
        return self.current()

    def run(self, iterations: int) -> None:
        """Continue the algorithm by ``iterations`` (sweeps over all projections for SART)."""
        import astra

        n = iterations * self.n_tilts if self.method == "SART" else iterations
        astra.algorithm.run(self.alg, n if self.method in _ITERATIVE else 1)

    def current(self) -> np.ndarray:
        import astra

        return astra.data2d.get(self.rec).T.copy()

    def forward(self, slice_yz: np.ndarray) -> np.ndarray:
        """Project a slice ``(ny, nz)`` to a sinogram ``(n_tilts, ny)`` with the same projector."""
        import astra

        if self._op is None:
            self._op = astra.OpTomo(self.proj)
        return self._op.FP(np.ascontiguousarray(slice_yz.T, dtype=np.float32))


def reconstruct_sinograms(sinograms: np.ndarray, tilts, *, method: str = "FBP", iterations: int = 100,
                          constrain: bool = True, thickness: int | None = None, device: str = "auto",
                          n_jobs: int | None = None, filter_type: str = "ram-lak",
                          progress: bool = True) -> np.ndarray:
    """Reconstruct a batch of sinograms ``(n_slices, n_tilts, ny)`` → volume ``(n_slices, ny, nz)``."""
    sinograms = np.asarray(sinograms, dtype=np.float32)
    n_slices, n_tilts, ny = sinograms.shape
    nz = ny if thickness is None else int(thickness)
    device = resolve_device(device)
    out = np.empty((n_slices, ny, nz), dtype=np.float32)
    workers = 1 if device == "cuda" else max(1, min(int(n_jobs or os.cpu_count() or 1), n_slices))
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for i in range(n_slices):
        todo.put(i)
    bar = tqdm(total=n_slices, desc=f"{method} slices", disable=not progress, leave=False)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work():
        try:
            with astra_ids() as track:
                solver = SliceSolver(track, tilts, ny, nz, method, constrain=constrain, device=device,
                                     filter_type=filter_type)
                while not errors:
                    try:
                        i = todo.get_nowait()
                    except queue.Empty:
                        return
                    out[i] = solver.solve(sinograms[i], iterations)
                    with lock:
                        bar.update()
        except BaseException as err:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(err)

    try:
        if workers == 1:
            work()
        else:
            threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        bar.close()
    if errors:
        raise errors[0]
    return out


def _check_method(method: str) -> str:
    if method not in RECON_METHODS:
        raise ValueError(f"method: expected one of {list(RECON_METHODS)}, got {method!r}")
    return method


def _check_iterations(iterations) -> int:
    if int(iterations) < 1:
        raise ValueError(f"iterations: must be ≥ 1, got {iterations}")
    return int(iterations)


def _sinograms(stack: TomoStack) -> np.ndarray:
    """``(nx, n_tilts, ny)`` sinograms of every slice along the tilt axis."""
    return np.ascontiguousarray(np.asarray(stack.data, dtype=np.float32).transpose(2, 0, 1))


def reconstruct(stack: TomoStack, method: str = "FBP", *, iterations: int = 100, constrain: bool = True,
                thickness: int | None = None, device: str = "auto", n_jobs: int | None = None,
                filter_type: str = "ram-lak", progress: bool = True) -> RecStack:
    """Reconstruct an aligned tilt series slice by slice with ASTRA.

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
        Aligned projections (tilt axis along ``x``), at least 3, finite. Angles from
        ``stack.tilts`` (any order and spacing).
    method : {'BP', 'FBP', 'SIRT', 'SART'}
        Back-projection, filtered back-projection, or the iterative SIRT / SART.
    iterations : int
        SIRT iterations, or SART sweeps over all projections. Ignored by BP and FBP.
    constrain : bool
        Non-negativity for SIRT and SART.
    thickness : int, optional
        Size of the volume along the beam ``z`` (default ``ny``).
    device : {'auto', 'cpu', 'cuda'}
        ``'auto'`` uses CUDA when ASTRA has a GPU, else the CPU with the slices spread over
        ``n_jobs`` threads (default: all cores).
    filter_type : str
        FBP filter (ASTRA name, e.g. ``'ram-lak'``, ``'shepp-logan'``, ``'hann'``).
    progress : bool
        Progress bar over slices.

    Returns
    -------
    RecStack (nx, ny, nz)
        Counts per voxel path length; ``metadata.Reconstruction`` records method, iterations,
        device, filter and the alignment of the input; ``metadata.Tomography.tilts`` the angles.
    """
    check_stack(stack, "stack")
    _check_method(method)
    iterations = _check_iterations(iterations)
    if thickness is not None and int(thickness) < 1:
        raise ValueError(f"thickness: must be ≥ 1 voxel, got {thickness}")
    tilts = stack.tilts
    dev = resolve_device(device)
    vol = reconstruct_sinograms(_sinograms(stack), tilts, method=method, iterations=iterations,
                                constrain=constrain, thickness=thickness, device=dev, n_jobs=n_jobs,
                                filter_type=filter_type, progress=progress)
    return rec_signal(vol, stack, method, {
        "software": "ASTRA", "method": method,
        "iterations": iterations if method in _ITERATIVE else 0,
        "constrain": bool(constrain) if method in _ITERATIVE else False,
        "filter": filter_type if method == "FBP" else "", "device": dev, "projector": "linear"})


def recon_error(stack: TomoStack, slice_index: int, *, method: str = "SIRT", iterations: int = 100,
                constrain: bool = True, device: str = "auto"):
    """Reconstruct one slice iteration by iteration, to choose an iteration count.

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
    slice_index : int
        Slice along the tilt axis (sinogram ``stack.data[:, :, slice_index]``).
    method : {'SIRT', 'SART'}
    iterations : int
        Number of iterations to record.

    Returns
    -------
    recs : hyperspy Signal2D (iterations | nz, ny)
        The slice after each iteration (navigation: iteration).
    error : hyperspy Signal1D (iterations,)
        Relative residual ``‖A x_k − b‖ / ‖b‖`` after each iteration.
    """
    import hyperspy.api as hs

    check_stack(stack, "stack")
    if method not in _ITERATIVE:
        raise ValueError(f"method: recon_error needs an iterative method {list(_ITERATIVE)}, got {method!r}")
    iterations = _check_iterations(iterations)
    nx = stack.data.shape[2]
    if not -nx <= int(slice_index) < nx:
        raise IndexError(f"slice_index: must lie in [0, {nx - 1}], got {slice_index}")
    sino = np.asarray(stack.data[:, :, int(slice_index)], dtype=np.float32)
    ny = sino.shape[1]
    dev = resolve_device(device)
    recs = np.empty((iterations, ny, ny), dtype=np.float32)
    err = np.empty(iterations)
    norm = float(np.linalg.norm(sino)) or 1.0
    with astra_ids() as track:
        solver = SliceSolver(track, stack.tilts, ny, ny, method, constrain=constrain, device=dev)
        import astra

        astra.data2d.store(solver.sino, sino)
        for k in range(iterations):
            solver.run(1)
            recs[k] = solver.current()
            err[k] = np.linalg.norm(solver.forward(recs[k]) - sino) / norm
    rec_sig = hs.signals.Signal2D(recs)
    rec_sig.axes_manager.navigation_axes[0].name = "Iteration"
    rec_sig.axes_manager.navigation_axes[0].offset = 1
    rec_sig.metadata.General.title = f"{method} slice {int(slice_index)} by iteration"
    err_sig = hs.signals.Signal1D(err)
    err_sig.axes_manager.signal_axes[0].name = "Iteration"
    err_sig.axes_manager.signal_axes[0].offset = 1
    err_sig.metadata.General.title = f"{method} relative residual, slice {int(slice_index)}"
    for s in (rec_sig, err_sig):
        s.metadata.set_item("Reconstruction", {"method": method, "iterations": iterations,
                                               "slice_index": int(slice_index), "device": dev,
                                               "constrain": bool(constrain)})
    return rec_sig, err_sig


def reconstruct_path(stack: TomoStack, checkpoints, *, method: str = "SIRT", constrain: bool = True,
                     device: str = "auto", progress: bool = True) -> dict:
    """Volumes after each of several iteration counts of one iterative run (to pick the best).

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
    checkpoints : sequence of int
        Iteration counts at which the volume is kept, e.g. ``(10, 20, 50, 100, 200)``.
    method : {'SIRT', 'SART'}

    Returns
    -------
    dict[int, ndarray (nx, ny, ny)]
        Volume after each iteration count (counts per voxel path length).
    """
    check_stack(stack, "stack")
    if method not in _ITERATIVE:
        raise ValueError(f"method: expected one of {list(_ITERATIVE)}, got {method!r}")
    its = sorted({_check_iterations(i) for i in checkpoints})
    if not its:
        raise ValueError("checkpoints: need at least one iteration count")
    sinos = _sinograms(stack)
    nx, _, ny = sinos.shape
    dev = resolve_device(device)
    out = {i: np.empty((nx, ny, ny), dtype=np.float32) for i in its}
    import astra

    with astra_ids() as track:
        solver = SliceSolver(track, stack.tilts, ny, ny, method, constrain=constrain, device=dev)
        for s in tqdm(range(nx), desc=f"{method} path", disable=not progress, leave=False):
            astra.data2d.store(solver.sino, sinos[s])
            astra.data2d.store(solver.rec, 0)
            done = 0
            for i in its:
                solver.run(i - done)
                done = i
                out[i][s] = solver.current()
    return out
