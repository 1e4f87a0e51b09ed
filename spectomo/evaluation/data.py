"""Test data with known truth: Poisson-noised net-count maps, fidelity datasets from the simulator, a toy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["poisson_maps", "FidelityData", "fidelity_data", "toy_dataset"]


def poisson_maps(stacks: dict, *, seed, smooth: float = 0.0) -> dict:
    """Poisson-noised copies of noise-free count stacks (e.g. the simulator's ``net_counts``).

    Parameters
    ----------
    stacks : dict[str, TomoStack (n_tilts, ny, nx)]
        Expected counts per pixel.
    seed : int, sequence of int or numpy.random.Generator
        The noise source (a Generator is used as it is, so draws continue from its state).
    smooth : float
        σ (pixels) of a Gaussian applied in ``(y, x)`` after the noise (Yuan et al. 2020 smooth the
        EDS maps with σ = 0.8 px before HEBT and SIRT); 0 for none.

    Returns
    -------
    dict[str, TomoStack]
        float32 counts, in the order of ``stacks``, with the inputs' metadata.
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    out = {}
    for name, stack in stacks.items():
        noisy = stack.deepcopy()
        noisy.data = rng.poisson(np.asarray(stack.data)).astype(np.float32)
        if smooth:
            noisy.data = gaussian_filter(noisy.data, (0, smooth, smooth)).astype(np.float32)
        out[name] = noisy
    return out


@dataclass
class FidelityData:
    """A simulated tilt series, its noisy maps and the true volumes they should reconstruct to.

    Attributes
    ----------
    sim : spectomo.datasets.SimulatedTiltSeries or None
    haadf : TomoStack
        The simulated (noisy) HAADF.
    maps : dict[str, TomoStack]
        Poisson-noised net counts of every principal line (the maps a perfect spectral fit gives).
    truth : dict[str, ndarray (nx, ny, nz)]
        True count volumes per line and ``'HAADF'`` (counts per voxel path length).
    """

    sim: object
    haadf: object
    maps: dict
    truth: dict


def fidelity_data(phantom: str = "core_shell", size: int = 32, *, seed: int = 0, smooth: float = 0.0,
                  **sim_kwargs) -> FidelityData:
    """Simulate ``phantom`` and Poisson-noise its principal lines' net counts (see :class:`FidelityData`).

    ``seed`` seeds the simulation; the map noise uses ``[seed, 7]``. Keyword arguments go to
    :func:`spectomo.datasets.simulate`.
    """
    from ..datasets import simulate

    sim = simulate(phantom, size=size, seed=seed, progress=False, **sim_kwargs)
    maps = poisson_maps({ln: sim.net_counts[ln] for ln in sim.lines}, seed=[seed, 7], smooth=smooth)
    truth = {"HAADF": sim.haadf_volume(), **{ln: sim.count_volume(ln) for ln in sim.lines}}
    return FidelityData(sim=sim, haadf=sim.haadf, maps=maps, truth=truth)


def toy_dataset(size: int = 16, n_tilts: int = 19, *, counts=(400.0, 20.0, 5.0), seed=0) -> FidelityData:
    """A small two-element toy with known volumes: a ball (map ``'A'``), a block (map ``'B'``) and a
    HAADF of ball + 2·block, projected over ±70° and Poisson-noised; for solver tests.

    ``counts``: peak counts per pixel (HAADF, A, B), roughly; ``seed``: as in :func:`poisson_maps`.
    ``sim`` is None.
    """
    from ..geometry.astra import forward_project
    from ..signals import TomoStack

    rng = np.random.default_rng(seed)
    tilts = np.linspace(-70, 70, n_tilts)
    x, y, z = np.meshgrid(*(np.arange(size) - size / 2 + 0.5,) * 3, indexing="ij")
    ball = (x**2 + (y - 2) ** 2 + (z + 1) ** 2 <= (0.3 * size) ** 2).astype(np.float32)
    block = ((np.abs(y + 2) < 0.25 * size) & (np.abs(z - 1) < 0.2 * size) & (np.abs(x) < 0.4 * size))
    stacks, truth = {}, {}
    for (name, vol), peak in zip({"HAADF": ball + 2 * block, "A": ball, "B": block}.items(), counts):
        vol = vol.astype(np.float32) * np.float32(peak / (0.6 * size))
        stacks[name] = TomoStack(rng.poisson(forward_project(vol, tilts)).astype(np.float32), tilts=tilts)
        stacks[name].metadata.General.title = name
        truth[name] = vol
    haadf = stacks.pop("HAADF")
    return FidelityData(sim=None, haadf=haadf, maps=stacks, truth=truth)
