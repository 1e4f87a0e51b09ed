"""Bregman iteration around a regularised solver ("adding back the residual"; Osher et al., Multiscale
Model. Simul. 4, 460, 2005).

Step 0 solves with the data ``f_0 = f``; step ``k + 1`` solves again with

    f_{k+1} = f_k + (f − T u_k),

where ``T u_k`` are the projections of step ``k``'s volumes. Each step gives back part of what the
regulariser took away (the contrast of objects a few voxels across) and also part of the noise, so
the number of steps is itself a regularisation parameter. spectomo chooses it per channel by data
splitting (:func:`spectomo.recon.tgv.choose_mu`); measured in docs/parameters.md.

Written here because none of the dependencies offers it for an arbitrary solver; the loop is a few
lines and every solver that can project its volumes can use it.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

__all__ = ["bregman_steps"]


def bregman_steps(solve: Callable, data: dict, steps: int) -> Iterator[tuple[int, dict, object]]:
    """Run ``steps + 1`` solves of Bregman iteration.

    Parameters
    ----------
    solve : callable
        ``solve(f_k, k) -> (projections, result)``: solves with the data ``f_k`` (a dict of arrays
        ``(n_tilts, ny, nx)`` by channel, in the data's units; they may be negative) and returns the
        projections ``T u_k`` of its volumes in the same units and layout (None is allowed at the
        last step, where nothing uses them) and anything else as ``result``.
    data : dict of ndarray (n_tilts, ny, nx)
        The measured data ``f`` by channel.
    steps : int
        Refinement steps after the first solve (0: one plain solve).

    Yields
    ------
    (k, projections, result)
        After each solve, ``k = 0 … steps``. The caller may stop early.
    """
    f = {n: np.asarray(v, dtype=np.float32) for n, v in data.items()}
    for k in range(int(steps) + 1):
        projections, result = solve(f, k)
        yield k, projections, result
        if k < steps:
            f = {n: f[n] + (np.asarray(data[n], dtype=np.float32) - np.asarray(projections[n], dtype=np.float32))
                 for n in f}
