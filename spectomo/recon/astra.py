"""Single-channel reconstruction with ASTRA: BP, FBP, SIRT, SART, slice by slice.

Geometry as in :mod:`spectomo.geometry.convention`: the sinogram of slice ``i`` is
``stack.data[:, :, i]`` ``(n_tilts, ny)``; the reconstructed slice ``rec.data[i]`` is ``(ny, nz)``
and its 0° projection is ``rec.data[i].sum(axis=1)``. Values are counts per voxel path length
(projections divided by the voxel length), so a volume re-projects onto the data it came from.
The ASTRA objects and the threading live in :mod:`spectomo.geometry.astra`. SIRT and SART run as a
:class:`SIRTSolver` on the shared driver (:func:`spectomo.recon.driver.run`), so they have the same
``tol``, ``callback`` and ``checkpoint`` semantics as the joint solvers.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..geometry.astra import FBP_FILTERS, ITERATIVE, SlicePool, SliceSolver, astra_ids, reconstruct_sinograms, resolve_cuda
from ..geometry.convention import sinograms
from ..signals import RecStack, TomoStack, check_stack, warn_vacuum_offset
from ..validation import whole_number
from . import thinning
from .driver import Solver, run
from .result import rec_signal

__all__ = ["RECON_METHODS", "reconstruct", "recon_error", "reconstruct_path", "SIRTSolver", "choose_iterations"]

RECON_METHODS = ("BP", "FBP", "SIRT", "SART")


def _check_method(method: str) -> str:
    if method not in RECON_METHODS:
        raise ValueError(f"method: expected one of {list(RECON_METHODS)}, got {method!r}")
    return method


class SIRTSolver(Solver):
    """ASTRA SIRT or SART (non-negative by default) of every slice of a tilt series, as a driver solver.

    The volume lives on the host; each :meth:`step` loads every slice into a worker's ASTRA solver,
    advances it ``n`` iterations (SART: sweeps) and reads it back, so stepping in parts gives the
    same volume as one run. The objective is ``‖W x − b‖²`` summed over slices. Use as a context
    manager (the ASTRA objects are freed on exit).

    Parameters
    ----------
    sinos : ndarray (nx, n_tilts, ny)
        Sinograms of every slice (:func:`spectomo.geometry.sinograms`).
    tilts : array_like (n_tilts,)
    method : {'SIRT', 'SART'}
    constrain, cuda, n_jobs, thickness
        Non-negativity; ASTRA on CUDA; CPU threads; volume size along the beam (default ny).
    progress : bool
        A progress bar over slices within each step.
    heldout : spectomo.recon.thinning.Split, optional
        When ``sinos`` are a training part, its split: every check also scores the projected volume
        against the test part (metric ``heldout``, lower is better), in the same projection pass.
    """

    def __init__(self, sinos, tilts, *, method: str = "SIRT", constrain: bool = True, cuda: bool = False,
                 n_jobs: int | None = None, thickness: int | None = None, progress: bool = False, heldout=None):
        self.sinos = np.asarray(sinos, dtype=np.float32)
        nx, _, ny = self.sinos.shape
        nz = ny if thickness is None else int(thickness)
        self.label, self.tilts, self.constrain, self.progress = method, np.asarray(tilts, dtype=float), constrain, progress
        self.x = np.zeros((nx, ny, nz), dtype=np.float32)
        self.norm = float(np.linalg.norm(self.sinos)) or 1.0
        self.heldout = heldout
        self.pool = SlicePool(self.tilts, ny, nz, method, n_slices=nx, constrain=constrain, cuda=cuda, n_jobs=n_jobs)

    def __enter__(self) -> "SIRTSolver":
        return self

    def __exit__(self, *exc) -> None:
        self.pool.close()

    def initialise(self) -> None:
        self.x[:] = 0
        self.iteration = 0

    def step(self, n: int) -> None:
        def one(solver, i):
            solver.load(self.sinos[i], self.x[i])
            solver.run(n)
            self.x[i] = solver.current()

        with tqdm(total=len(self.x), desc=f"{self.label} slices", disable=not self.progress, leave=False) as bar:
            self.pool.map(one, len(self.x), bar=bar)
        self.iteration += int(n)

    def check(self) -> dict:
        sq = np.zeros(len(self.x))
        pred = np.empty_like(self.sinos) if self.heldout is not None else None

        def one(solver, i):
            p = solver.forward(self.x[i])
            sq[i] = float(np.sum((p.astype(np.float64) - self.sinos[i]) ** 2))
            if pred is not None:
                pred[i] = p

        self.pool.map(one, len(self.x))
        out = {"objective": float(sq.sum()), "relative_residual": float(np.sqrt(sq.sum())) / self.norm}
        if pred is not None:
            out.update(self.heldout.score(pred.transpose(1, 2, 0)))
        return out

    def monitor(self) -> np.ndarray:
        return self.x.copy()

    def state(self) -> dict:
        return {"x": self.x.copy()}

    def set_state(self, state: dict, iteration: int) -> None:
        x = np.asarray(state["x"])
        if x.shape != self.x.shape:
            raise ValueError(f"checkpoint: volume of shape {x.shape}, expected {self.x.shape}")
        self.x[:] = x
        self.iteration = int(iteration)

    def volumes(self) -> dict:
        return {"volume": self.x.copy()}

    def signature(self) -> tuple[list, dict]:
        return [self.sinos], {"method": self.label, "constrain": self.constrain if isinstance(self.constrain, bool) else float(self.constrain), "tilts": self.tilts.tolist(),
                              "nz": self.x.shape[2]}


def _alias(etspy_value, etspy_name: str, value, name: str, default):
    """One value from an option given under ETSpy's name or spectomo's (both only if they agree)."""
    if etspy_value is None:
        return value
    if value != default and value != etspy_value:
        raise ValueError(f"{etspy_name}/{name}: the same option given twice with different values "
                         f"({etspy_value!r}, {value!r})")
    return etspy_value


def _check_iterations(iterations) -> int:
    return whole_number(iterations, "iterations")


def choose_iterations(stack: TomoStack, *, method: str = "SIRT", constrain: bool = True, cuda: bool = False,
                      n_jobs: int | None = None, thickness: int | None = None, options=None,
                      progress: bool = True, name: str = "stack") -> tuple[int, dict]:
    """Iterations for ``stack`` chosen by data splitting (:mod:`spectomo.recon.thinning`).

    The projections are split into a training part (share ``p``) and a test part; SIRT (or SART) runs
    on the training part and every ``check_every`` iterations its projection is scored against the
    test part in the volume domain, until the score is well past its minimum (:class:`HeldoutStop`)
    or ``max_iterations``. The best training iteration is transferred to the full data,
    ``k = k_train · p^(−0.75)`` (:func:`~spectomo.recon.thinning.transfer_iterations`).

    Returns
    -------
    iterations : int
    auto : dict
        What ``metadata.Reconstruction.auto`` records: the rule, the split, the curves.
    """
    opts = thinning.auto_options(options)
    noise = thinning.stack_noise(stack, name)
    part = thinning.split(stack.data, fraction=opts["fraction"], seed=opts["seed"], noise=noise)
    histories, stopped = [], []
    for fold in [part, part.swapped()][:opts["folds"]]:
        stop = thinning.HeldoutStop(check_every=opts["check_every"])
        with SIRTSolver(sinograms(fold.train), stack.tilts, method=method, constrain=constrain, cuda=cuda,
                        n_jobs=n_jobs, thickness=thickness, heldout=fold) as solver:
            record = run(solver, opts["max_iterations"], check_every=opts["check_every"], callback=stop,
                         progress=progress)
        histories.append(record.history)
        stopped.append(record.stopped_by)
    its, curve = thinning.mean_curve(histories)
    best = int(its[int(np.argmin(curve))])
    chosen = thinning.transfer_iterations(best, opts["fraction"])
    if best >= its[-1] and "callback" not in stopped:
        import warnings

        from ..validation import InputWarning

        warnings.warn(f"iterations='auto': the held-out score of {name} still fell at the last training iteration "
                      f"({best}); raise auto_options['max_iterations'] (now {opts['max_iterations']})",
                      InputWarning, stacklevel=3)
    auto = {"parameter": "iterations", "chosen": chosen, "train_best": best,
            "rule": f"k = k_train * p**-{thinning.TRANSFER_EXPONENT}", "split": part.kind, "noise_model": [] if noise is None else list(noise), **opts,
            "curves": {f"{name} (fold {i + 1})": {"iteration": h["iteration"], "heldout": h["heldout"],
                                                 "heldout_deviance": h["heldout_deviance"]}
                       for i, h in enumerate(histories)}}
    return chosen, auto


def reconstruct(stack: TomoStack, method: str = "FBP", *, iterations: int | str = 100, constrain: bool = True,
                thickness: int | None = None, cuda=None, n_jobs: int | None = None,
                filter_type: str = "ram-lak", tol: float | None = None, callback=None,
                check_every: int | None = None, checkpoint=None, checkpoint_every: int | None = None,
                auto_options: dict | None = None, thresh: float = 0.0, sino_filter: str | None = None,
                ncores: int | None = None, progress: bool = True) -> RecStack:
    """Reconstruct an aligned tilt series slice by slice with ASTRA.

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
        Aligned projections (tilt axis along ``x``), at least 3, finite. Angles from
        ``stack.tilts`` (any order and spacing).
    method : {'BP', 'FBP', 'SIRT', 'SART'}
        Back-projection, filtered back-projection, or the iterative SIRT / SART.
    iterations : int or 'auto'
        SIRT iterations, or SART sweeps over all projections. Ignored by BP and FBP. ``'auto'``
        chooses them from the data by Poisson thinning / data fission
        (:func:`choose_iterations`, docs/parameters.md): one extra SIRT run on half the data, up
        to ~2× the chosen count, then the full run; the choice and its held-out curve are in
        ``metadata.Reconstruction.auto`` (:func:`spectomo.plot_heldout`).
    constrain : bool
        Non-negativity for SIRT and SART.
    thickness : int, optional
        Size of the volume along the beam ``z`` (default ``ny``).
    cuda : bool, optional
        As in ETSpy: None uses CUDA when ASTRA has a GPU, else the CPU with the slices spread over
        ``n_jobs`` threads (default: all cores); True requires CUDA; False forces the CPU.
    filter_type : str
        FBP filter, one of ASTRA's parameter-free filters (:data:`~spectomo.geometry.astra.FBP_FILTERS`:
        ``'ram-lak'``, ``'shepp-logan'``, ``'hann'``, …).
    tol, callback, check_every, checkpoint, checkpoint_every
        SIRT and SART only, the driver's (:func:`spectomo.recon.driver.run`, as in
        :func:`spectomo.reconstruct_tgv`): the objective is ``‖W x − b‖²`` over all slices, computed
        every ``check_every`` iterations (default: only after the last); ``callback(info)`` then
        gets the current volume as ``info.volumes()["volume"]``.
    thresh : float
        SIRT/SART with ``constrain``: the lower bound of the voxels (ETSpy's ``thresh``; default 0,
        non-negativity).
    sino_filter, ncores
        ETSpy's names for ``filter_type`` and ``n_jobs`` (given both ways, they must agree).
    progress : bool
        Progress bars over iterations and slices.

    Returns
    -------
    RecStack (nx, ny, nz)
        Counts per voxel path length; ``metadata.Reconstruction`` records method, iterations,
        device (``'cuda'`` or ``'cpu'``), filter and the alignment of the input (and, for SIRT and
        SART, the run: stopping and history); ``metadata.Tomography.tilts`` the angles.
    """
    check_stack(stack, "stack")
    _check_method(method)
    filter_type = _alias(sino_filter, "sino_filter", filter_type, "filter_type", "ram-lak")
    n_jobs = _alias(ncores, "ncores", n_jobs, "n_jobs", None)
    if not np.isfinite(thresh):
        raise ValueError(f"thresh: a finite lower bound expected, got {thresh!r}")
    auto = iterations == "auto"
    if auto and method not in ITERATIVE:
        raise ValueError(f"iterations='auto': only for the iterative methods {list(ITERATIVE)}, not {method}")
    if auto_options is not None and not auto:
        raise ValueError("auto_options: only with iterations='auto'")
    iterations = 1 if auto else _check_iterations(iterations)
    if thickness is not None:
        whole_number(thickness, "thickness")
    if method == "FBP" and filter_type not in FBP_FILTERS:
        raise ValueError(f"filter_type: expected one of {list(FBP_FILTERS)}, got {filter_type!r}")
    if method in ITERATIVE and constrain:
        warn_vacuum_offset(stack.data, "stack", "A non-negative reconstruction of such data clips the volume "
                           "to 0 (negative offset) or fills it with haze (positive); or pass constrain=False.")
    use_cuda = resolve_cuda(cuda)
    info = {"software": "ASTRA", "method": method, "iterations": 0, "constrain": False,
            "filter": filter_type if method == "FBP" else "", "device": "cuda" if use_cuda else "cpu",
            "projector": "linear"}
    if method in ITERATIVE:
        if auto:
            iterations, auto_md = choose_iterations(stack, method=method, constrain=constrain, cuda=use_cuda,
                                                    n_jobs=n_jobs, thickness=thickness, options=auto_options,
                                                    progress=progress, name=stack.metadata.General.title or "stack")
        bound = (float(thresh) if thresh else True) if constrain else False
        with SIRTSolver(sinograms(stack.data), stack.tilts, method=method, constrain=bound, cuda=use_cuda,
                        n_jobs=n_jobs, thickness=thickness, progress=progress) as solver:
            record = run(solver, iterations, tol=tol, callback=callback, check_every=check_every or iterations,
                         checkpoint=checkpoint, checkpoint_every=checkpoint_every or iterations, progress=progress)
        vol = solver.x
        info.update(record.provenance(), constrain=bool(constrain), thresh=float(thresh) if constrain else 0.0)
        if auto:
            info["auto"] = auto_md
    else:
        given = [k for k, v in (("tol", tol), ("callback", callback), ("check_every", check_every),
                                ("checkpoint", checkpoint), ("checkpoint_every", checkpoint_every)) if v is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: only for the iterative methods {list(ITERATIVE)}, not {method}")
        vol = reconstruct_sinograms(sinograms(stack.data), stack.tilts, method=method, constrain=constrain,
                                    thickness=thickness, cuda=use_cuda, n_jobs=n_jobs, filter_type=filter_type,
                                    progress=progress)
    return rec_signal(vol, stack, method, info)


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
    if isinstance(slice_index, bool) or not isinstance(slice_index, (int, np.integer)):
        raise TypeError(f"slice_index: expected an integer column index (the slice along the tilt axis), "
                        f"got {slice_index!r}")
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
    out, done = {}, 0
    with SIRTSolver(sinograms(stack.data), stack.tilts, method=method, constrain=constrain, cuda=resolve_cuda(cuda),
                    progress=progress) as solver:
        solver.initialise()
        for i in its:
            solver.step(i - done)
            done = i
            out[i] = solver.x.copy()
    return out
