"""Many tilt series over one dask cluster: one reconstruction per series, each in a worker (issue 21).

:func:`reconstruct_many` sends each job to the cluster as a task of :func:`spectomo.reconstruct_tgv`,
:func:`spectomo.reconstruct_hebt` or :func:`spectomo.reconstruct` (ASTRA). Each worker opens its own
OpenCL device, so a cluster of GPU nodes reconstructs one series per GPU. HyperSpy signals do not
pickle, so a job travels as arrays and metadata dictionaries, and each worker writes its volumes
as ``.hspy`` files (atomically) into ``out/<job>/``. This is what a batch run keeps anyway, and it
needs a file system the workers share. A failed job raises when its result is collected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

__all__ = ["reconstruct_many", "SOLVERS"]

SOLVERS = ("tgv", "hebt", "FBP", "SIRT", "SART")


def _pack(stack) -> dict | None:
    """A TomoStack as plain data (HyperSpy signals do not pickle)."""
    if stack is None:
        return None
    md = stack.metadata.as_dictionary()
    md.pop("_HyperSpy", None)
    axes = [(a.scale, a.offset, a.units, a.name) for a in stack.axes_manager.signal_axes]
    return {"data": np.asarray(stack.data), "tilts": stack.tilts, "metadata": md, "axes": axes}


def _unpack(packed: dict | None):
    from ..signals import TomoStack

    if packed is None:
        return None
    s = TomoStack(packed["data"], tilts=packed["tilts"])
    s.metadata.add_dictionary(packed["metadata"])
    for ax, (scale, offset, units, name) in zip(s.axes_manager.signal_axes, packed["axes"]):
        ax.scale, ax.offset, ax.units, ax.name = scale, offset, units, name
    return s


def _one(solver: str, job: dict, options: dict, folder: str) -> dict:
    """One reconstruction in a worker; returns name → path of the volumes written."""
    from ..io import save
    from . import reconstruct, reconstruct_hebt, reconstruct_tgv

    maps = {n: _unpack(p) for n, p in job["maps"].items()}
    haadf = _unpack(job.get("haadf"))
    if solver == "tgv":
        res = reconstruct_tgv(haadf, maps, progress=False, **options)
    elif solver == "hebt":
        res = reconstruct_hebt(haadf, maps, progress=False, **options)
    else:
        res = {n: reconstruct(s, solver, progress=False, **options) for n, s in maps.items()}
    out = {n: str(save(v, Path(folder) / f"{n}.hspy")) for n, v in res.items()}
    if getattr(res, "haadf", None) is not None:
        out["HAADF"] = str(save(res.haadf, Path(folder) / "HAADF.hspy"))
    return out


def reconstruct_many(jobs: list, *, client, out, solver: str = "tgv", options: dict | None = None,
                     names=None, progress: bool = True) -> list:
    """Reconstruct many tilt series on a dask cluster, one task per series.

    Parameters
    ----------
    jobs : list of dict
        Each ``{"maps": {name: TomoStack}, "haadf": TomoStack or None}`` (aligned), one per tilt series.
    client : distributed.Client
        The cluster (e.g. ``Client(LocalCluster())`` or a dask-jobqueue cluster).
    out : path
        Folder on a file system the workers share; job ``i`` writes ``out/<names[i]>/<map>.hspy``.
    solver : {'tgv', 'hebt', 'FBP', 'SIRT', 'SART'}
        TGV–KL, HEBT, or ASTRA per map.
    options : dict, optional
        Keyword options of that solver, the same for every job.
    names : list of str, optional
        A folder name per job (default ``job_000``, ``job_001``, …).
    progress : bool
        A progress bar over finished jobs.

    Returns
    -------
    list of dict
        Per job, volume name → path of its ``.hspy`` (load with :func:`spectomo.load`).
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver: expected one of {list(SOLVERS)}, got {solver!r}")
    if not isinstance(jobs, (list, tuple)) or not jobs:
        raise ValueError("jobs: a non-empty list of {'maps': {...}, 'haadf': ...} dicts expected")
    names = [f"job_{i:03d}" for i in range(len(jobs))] if names is None else [str(n) for n in names]
    if len(names) != len(jobs) or len(set(names)) != len(names):
        raise ValueError(f"names: {len(jobs)} distinct folder names expected, got {names!r}")
    packed = []
    for i, job in enumerate(jobs):
        if not isinstance(job, dict) or not isinstance(job.get("maps"), dict) or not job["maps"]:
            raise ValueError(f"jobs[{i}]: a dict with 'maps' (name → aligned TomoStack) expected")
        if solver == "hebt" and job.get("haadf") is None:
            raise ValueError(f"jobs[{i}]: solver='hebt' needs 'haadf'")
        packed.append({"maps": {n: _pack(s) for n, s in job["maps"].items()}, "haadf": _pack(job.get("haadf"))})
    from distributed import as_completed

    out = Path(out)
    futures = [client.submit(_one, solver, job, dict(options or {}), str(out / name), pure=False)
               for job, name in zip(packed, names)]
    with tqdm(total=len(futures), desc=f"{solver} jobs", disable=not progress, leave=False) as bar:
        for _ in as_completed(futures):
            bar.update(1)
    return [f.result() for f in futures]
