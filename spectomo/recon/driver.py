"""One driver for every iterative solver: iterations, stopping, callbacks, checkpoints, history.

A solver is a small class (:class:`Solver`) that knows how to initialise, advance ``n`` iterations,
report its objective and give its state; :func:`run` does everything around it, with the same
semantics for every solver:

* **Checks** every ``check_every`` iterations and at the last one: the objective, the relative
  change of the iterate since the previous check, the elapsed seconds and the solver's own metrics
  are appended to the history.
* **Stopping**: after ``iterations``; when the objective changes by at most ``tol`` (relative)
  between two checks; or when ``callback(info)`` returns True (``info`` is an
  :class:`IterationInfo`).
* **Checkpoints**: the path is checked writable before iteration 1; the state is written atomically
  every ``checkpoint_every`` iterations and at the end. A matching checkpoint is resumed: the
  result and the history are those of an uninterrupted run. A checkpoint ahead of ``iterations``,
  or written for other data, parameters or another solver, is refused (:class:`CheckpointError`).
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from ..validation import whole_number
from .checkpoint import Checkpoint, checkpoint_path, fingerprint, load_checkpoint, save_checkpoint

__all__ = ["Solver", "IterationInfo", "RunRecord", "run"]


class Solver:
    """What :func:`run` needs from a solver. Subclasses set ``label`` and implement the methods.

    The driver sets ``iteration``; :meth:`step` must advance it by ``n``.
    """

    label = "solver"
    iteration = 0

    def initialise(self) -> None:
        """Set the starting iterate (iteration 0)."""
        raise NotImplementedError

    def step(self, n: int) -> None:
        """Advance ``n`` iterations (may be asynchronous until :meth:`sync`)."""
        raise NotImplementedError

    def sync(self) -> None:
        """Wait until queued work is done."""

    def check(self) -> dict:
        """``{'objective': float, **metrics}`` at the current iterate, without changing the state."""
        raise NotImplementedError

    def monitor(self) -> np.ndarray:
        """The array whose relative change between checks is reported (``change``)."""
        raise NotImplementedError

    def state(self) -> dict:
        """Every array needed to continue exactly from the current iteration."""
        raise NotImplementedError

    def set_state(self, state: dict, iteration: int) -> None:
        """Restore :meth:`state` saved at ``iteration``."""
        raise NotImplementedError

    def volumes(self) -> dict:
        """Current volumes, name → ``(nx, ny, nz)`` array in physical units."""
        raise NotImplementedError

    def signature(self) -> tuple[list, dict]:
        """``(arrays, params)`` that define the problem (for the checkpoint fingerprint)."""
        raise NotImplementedError


@dataclass(frozen=True)
class IterationInfo:
    """What a callback receives at each check."""

    iteration: int
    objective: float
    change: float  # relative change of the iterate since the previous check (NaN at the first)
    seconds: float  # elapsed, including earlier runs resumed from a checkpoint
    metrics: dict  # solver-specific numbers, e.g. HEBT's relative residual per block
    volumes: Callable[[], dict]  # current volumes, name → array in physical units


@dataclass
class RunRecord:
    """How a run went: stored in ``metadata.Reconstruction`` of every output volume."""

    requested: int
    iterations: int
    stopped_by: str  # 'iterations', 'tol' or 'callback'
    seconds: float
    history: dict = field(repr=False)
    resumed_from: int = 0
    tol: float | None = None
    check_every: int = 1
    checkpoint: str | None = None

    def provenance(self) -> dict:
        return {"iterations": self.iterations, "iterations_requested": self.requested, "stopped_by": self.stopped_by,
                "seconds": self.seconds, "tol": -1.0 if self.tol is None else self.tol,
                "check_every": self.check_every, "resumed_from": self.resumed_from,
                "checkpoint": self.checkpoint or "", "history": self.history}


def _tolerance(tol) -> float | None:
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tol: expected None or a finite relative change ≥ 0, got {tol!r}")
    return float(tol)


def _converged(objective: list, tol: float | None) -> bool:
    return tol is not None and len(objective) > 1 and abs(objective[-1] - objective[-2]) <= tol * abs(objective[-1])


def _check(solver: Solver, previous, seconds: float, history: dict) -> tuple[IterationInfo, np.ndarray]:
    values = dict(solver.check())
    objective = float(values.pop("objective"))
    current = solver.monitor()
    change = (float(np.linalg.norm(current - previous) / max(float(np.linalg.norm(current)), 1e-30))
              if previous is not None else float("nan"))
    row = {"iteration": solver.iteration, "objective": objective, "change": change, "seconds": float(seconds),
           **{k: float(v) for k, v in values.items()}}
    for k, v in row.items():
        history.setdefault(k, []).append(v)
    return IterationInfo(solver.iteration, objective, change, float(seconds), values, solver.volumes), current


def run(solver: Solver, iterations: int, *, tol: float | None = None, check_every: int = 50, callback=None,
        checkpoint=None, checkpoint_every: int = 200, progress: bool = True) -> RunRecord:
    """Run ``solver`` for up to ``iterations`` iterations (see the module docstring for the rules).

    Parameters
    ----------
    solver : Solver
    iterations : int
        Most iterations in total (a resumed run counts those already done).
    tol : float, optional
        Stop when the objective changes by at most ``tol`` (relative) between two checks.
    check_every : int
        Iterations between checks.
    callback : callable, optional
        ``callback(info: IterationInfo)`` at every check; returning True stops the run.
    checkpoint : path, optional
        State file (``.npz``); resumed when it matches this run.
    checkpoint_every : int
        Iterations between checkpoint writes.
    progress : bool
        Progress bar over iterations.

    Returns
    -------
    RunRecord
    """
    total = whole_number(iterations, "iterations")
    check_every = whole_number(check_every, "check_every")
    checkpoint_every = whole_number(checkpoint_every, "checkpoint_every")
    tol = _tolerance(tol)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback: expected a function of one argument, got {type(callback).__name__}")
    path = None if checkpoint is None else checkpoint_path(checkpoint)
    fp = None if path is None else fingerprint(*solver.signature())
    loaded = None if path is None else load_checkpoint(path, fingerprint=fp, label=solver.label, iterations=total)
    if loaded is None:
        solver.initialise()
        solver.iteration, history, previous, offset = 0, {}, None, 0.0
    else:
        solver.set_state(loaded.state, loaded.iteration)
        solver.iteration, history, previous, offset = loaded.iteration, loaded.history, loaded.monitor, loaded.seconds
    start, t0 = solver.iteration, time.perf_counter()

    def save():
        save_checkpoint(path, fingerprint=fp, label=solver.label, checkpoint=Checkpoint(
            solver.iteration, offset + time.perf_counter() - t0, history, solver.state(), previous))

    resumed_converged = solver.iteration < total and _converged(history.get("objective", []), tol)
    stopped = "tol" if resumed_converged else "iterations"
    bar = tqdm(total=total, initial=solver.iteration, desc=solver.label, unit="it", disable=not progress, leave=False)
    try:
        while solver.iteration < total and stopped == "iterations":
            k = solver.iteration
            n = min(check_every - k % check_every, total - k)
            if path is not None:
                n = min(n, checkpoint_every - k % checkpoint_every)
            solver.step(n)
            solver.sync()
            bar.update(n)
            k = solver.iteration
            if k % check_every == 0 or k == total:
                info, previous = _check(solver, previous, offset + time.perf_counter() - t0, history)
                bar.set_postfix(objective=f"{info.objective:.4g}")
                if _converged(history["objective"], tol):
                    stopped = "tol"
                elif callback is not None and callback(info):
                    stopped = "callback"
            if path is not None and k % checkpoint_every == 0 and stopped == "iterations" and k < total:
                save()
    finally:
        bar.close()
    if path is not None:
        save()
    return RunRecord(requested=total, iterations=solver.iteration, stopped_by=stopped,
                     seconds=offset + time.perf_counter() - t0,
                     history={k: np.asarray(v, dtype=float) for k, v in history.items()}, resumed_from=start,
                     tol=tol, check_every=check_every, checkpoint=None if path is None else str(path))
