"""Single-channel reconstruction with ASTRA: BP, FBP, SIRT, SART, slice by slice.

Geometry as in :mod:`spectomo.geometry.convention`: the sinogram of slice ``i`` is
``stack.data[:, :, i]`` ``(n_tilts, ny)``; the reconstructed slice ``rec.data[i]`` is ``(ny, nz)``
and its 0° projection is ``rec.data[i].sum(axis=1)``. Values are counts per voxel path length
(projections divided by the voxel length), so a volume re-projects onto the data it came from.
The ASTRA objects and the threading live in :mod:`spectomo.geometry.astra`.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..geometry.astra import ITERATIVE, SliceSolver, astra_ids, reconstruct_sinograms, resolve_cuda
from ..geometry.convention import sinograms
from ..signals import RecStack, TomoStack, check_stack
from .result import rec_signal

__all__ = ["RECON_METHODS", "reconstruct", "recon_error", "reconstruct_path"]

RECON_METHODS = ("BP", "FBP", "SIRT", "SART")


def _check_method(method: str) -> str:
    if method not in RECON_METHODS:
        raise ValueError(f"method: expected one of {list(RECON_METHODS)}, got {method!r}")
    return method


def _check_iterations(iterations) -> int:
    if int(iterations) < 1:
        raise ValueError(f"iterations: must be ≥ 1, got {iterations}")
    return int(iterations)


def reconstruct(stack: TomoStack, method: str = "FBP", *, iterations: int = 100, constrain: bool = True,
                thickness: int | None = None, cuda=None, n_jobs: int | None = None,
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
    cuda : bool, optional
        As in ETSpy: None uses CUDA when ASTRA has a GPU, else the CPU with the slices spread over
        ``n_jobs`` threads (default: all cores); True requires CUDA; False forces the CPU.
    filter_type : str
        FBP filter (ASTRA name, e.g. ``'ram-lak'``, ``'shepp-logan'``, ``'hann'``).
    progress : bool
        Progress bar over slices.

    Returns
    -------
    RecStack (nx, ny, nz)
        Counts per voxel path length; ``metadata.Reconstruction`` records method, iterations,
        device (``'cuda'`` or ``'cpu'``), filter and the alignment of the input;
        ``metadata.Tomography.tilts`` the angles.
    """
    check_stack(stack, "stack")
    _check_method(method)
    iterations = _check_iterations(iterations)
    if thickness is not None and int(thickness) < 1:
        raise ValueError(f"thickness: must be ≥ 1 voxel, got {thickness}")
    use_cuda = resolve_cuda(cuda)
    vol = reconstruct_sinograms(sinograms(stack.data), stack.tilts, method=method, iterations=iterations,
                                constrain=constrain, thickness=thickness, cuda=use_cuda, n_jobs=n_jobs,
                                filter_type=filter_type, progress=progress)
    return rec_signal(vol, stack, method, {
        "software": "ASTRA", "method": method,
        "iterations": iterations if method in ITERATIVE else 0,
        "constrain": bool(constrain) if method in ITERATIVE else False,
        "filter": filter_type if method == "FBP" else "", "device": "cuda" if use_cuda else "cpu",
        "projector": "linear"})


def recon_error(stack: TomoStack, slice_index: int, *, method: str = "SIRT", iterations: int = 100,
                constrain: bool = True, cuda=None):
    """Reconstruct one slice iteration by iteration, to choose an iteration count.

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
    slice_index : int
        Slice along the tilt axis (sinogram ``stack.data[:, :, slice_index]``).
    method : {'SIRT', 'SART'}
    iterations : int
        Number of iterations to record.
    cuda : bool, optional
        As in :func:`reconstruct`.

    Returns
    -------
    recs : hyperspy Signal2D (iterations | nz, ny)
        The slice after each iteration (navigation: iteration).
    error : hyperspy Signal1D (iterations,)
        Relative residual ``‖A x_k − b‖ / ‖b‖`` after each iteration.
    """
    import hyperspy.api as hs

    check_stack(stack, "stack")
    if method not in ITERATIVE:
        raise ValueError(f"method: recon_error needs an iterative method {list(ITERATIVE)}, got {method!r}")
    iterations = _check_iterations(iterations)
    nx = stack.data.shape[2]
    if not -nx <= int(slice_index) < nx:
        raise IndexError(f"slice_index: must lie in [0, {nx - 1}], got {slice_index}")
    sino = np.asarray(stack.data[:, :, int(slice_index)], dtype=np.float32)
    ny = sino.shape[1]
    use_cuda = resolve_cuda(cuda)
    recs = np.empty((iterations, ny, ny), dtype=np.float32)
    err = np.empty(iterations)
    norm = float(np.linalg.norm(sino)) or 1.0
    with astra_ids() as track:
        solver = SliceSolver(track, stack.tilts, ny, ny, method, constrain=constrain, cuda=use_cuda)
        solver.load(sino)
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
                                               "slice_index": int(slice_index),
                                               "device": "cuda" if use_cuda else "cpu",
                                               "constrain": bool(constrain)})
    return rec_sig, err_sig


def reconstruct_path(stack: TomoStack, checkpoints, *, method: str = "SIRT", constrain: bool = True,
                     cuda=None, progress: bool = True) -> dict:
    """Volumes after each of several iteration counts of one iterative run (to pick the best).

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
    checkpoints : sequence of int
        Iteration counts at which the volume is kept, e.g. ``(10, 20, 50, 100, 200)``.
    method : {'SIRT', 'SART'}
    cuda : bool, optional
        As in :func:`reconstruct`.

    Returns
    -------
    dict[int, ndarray (nx, ny, ny)]
        Volume after each iteration count (counts per voxel path length).
    """
    check_stack(stack, "stack")
    if method not in ITERATIVE:
        raise ValueError(f"method: expected one of {list(ITERATIVE)}, got {method!r}")
    its = sorted({_check_iterations(i) for i in checkpoints})
    if not its:
        raise ValueError("checkpoints: need at least one iteration count")
    sinos = sinograms(stack.data)
    nx, _, ny = sinos.shape
    use_cuda = resolve_cuda(cuda)
    out = {i: np.empty((nx, ny, ny), dtype=np.float32) for i in its}
    with astra_ids() as track:
        solver = SliceSolver(track, stack.tilts, ny, ny, method, constrain=constrain, cuda=use_cuda)
        for s in tqdm(range(nx), desc=f"{method} path", disable=not progress, leave=False):
            solver.load(sinos[s])
            done = 0
            for i in its:
                solver.run(i - done)
                done = i
                out[i][s] = solver.current()
    return out
