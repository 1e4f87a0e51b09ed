"""Solver checkpoints: one ``.npz`` file with the solver state, the iteration, the history so far
and a fingerprint of the data and parameters, written atomically (temporary file, then rename).

A checkpoint is only ever resumed by the run it belongs to: a file written for other data or
parameters, a file that is not a spectomo checkpoint, a truncated file, or one that is ahead of
the requested iterations is refused with an error naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CheckpointError", "Checkpoint", "checkpoint_path", "fingerprint", "save_checkpoint", "load_checkpoint"]

FORMAT = "spectomo-checkpoint-1"
_STATE = "state_"  # prefix of the solver's arrays inside the file


class CheckpointError(ValueError):
    """A checkpoint file cannot be written, read, or used for this run."""


@dataclass
class Checkpoint:
    """What a checkpoint file holds."""

    iteration: int
    seconds: float
    history: dict
    state: dict
    monitor: np.ndarray | None


def checkpoint_path(path) -> Path:
    """The checkpoint path as a :class:`~pathlib.Path`, checked writable now (before iteration 1).

    The folder is created if needed; a file that already exists is kept (it may be resumed).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"checkpoint: expected a file path, got {type(path).__name__}")
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"checkpoint: {p} is a folder; give a file name such as {p / 'state.npz'}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=p.name + ".", suffix=".probe", dir=p.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise CheckpointError(f"checkpoint: cannot write in {p.parent} ({err.strerror or err}); "
                              "choose a writable path") from None
    return p


def fingerprint(arrays, params: dict) -> str:
    """SHA-256 of the data arrays and the parameters that define a run."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()


def save_checkpoint(path: Path, *, fingerprint: str, label: str, checkpoint: Checkpoint) -> None:
    """Write atomically; a failure leaves the previous file (if any) untouched."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    extra = {} if checkpoint.monitor is None else {"monitor": checkpoint.monitor}
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, format=FORMAT, solver=label, fingerprint=fingerprint, iteration=checkpoint.iteration,
                     seconds=checkpoint.seconds, history=json.dumps(checkpoint.history),
                     **{_STATE + k: v for k, v in checkpoint.state.items()}, **extra)
        os.replace(tmp, path)
    except OSError as err:
        raise CheckpointError(f"checkpoint: writing {path} failed ({err.strerror or err})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_checkpoint(path: Path, *, fingerprint: str, label: str, iterations: int) -> Checkpoint | None:
    """The checkpoint at ``path`` for this run, or None if there is no file.

    Raises :class:`CheckpointError` (naming the file) when it is unreadable, not a spectomo
    checkpoint, written by another solver or for other data or parameters, or ahead of
    ``iterations``.
    """
    if not path.exists():
        return None
    bad = f"checkpoint: {path} is not a usable spectomo checkpoint"
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            missing = {"format", "solver", "fingerprint", "iteration", "seconds", "history"} - keys
            if missing or str(z["format"]) != FORMAT:
                raise CheckpointError(f"{bad} (missing {sorted(missing)} or an unknown format); delete it or "
                                      "choose another path")
            if str(z["solver"]) != label:
                raise CheckpointError(f"checkpoint: {path} was written by the {z['solver']} solver, not {label}; "
                                      "choose another path")
            if str(z["fingerprint"]) != fingerprint:
                raise CheckpointError(f"checkpoint: {path} was written for other data or parameters; "
                                      "delete it or choose another path")
            done = int(z["iteration"])
            if done > iterations:
                raise CheckpointError(
                    f"checkpoint: {path} holds a run at iteration {done}, beyond iterations={iterations}; "
                    f"ask for at least {done} iterations to use it, or delete it to start again")
            state = {k[len(_STATE):]: z[k] for k in keys if k.startswith(_STATE)}
            return Checkpoint(iteration=done, seconds=float(z["seconds"]), history=json.loads(str(z["history"])),
                              state=state, monitor=z["monitor"] if "monitor" in keys else None)
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{bad}: {type(err).__name__}: {err}; delete it or choose another path") from None
