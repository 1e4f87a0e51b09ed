"""Small helpers shared by the test modules (one home for each)."""

import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def quiet(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with warnings silenced (for calls whose warnings a test does not check)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def needle(step: int = 1):
    """The binned NIST needle HAADF series (tests/data/nist_needle_bin4.npz) as a TomoStack, every
    ``step``-th projection, with its minimum subtracted."""
    from spectomo import TomoStack

    z = np.load(DATA / "nist_needle_bin4.npz")
    proj = z["projections"].astype(np.float32)
    return TomoStack(proj[::step] - proj.min(), tilts=z["tilts"].astype(float)[::step])
