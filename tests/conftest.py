"""Shared fixtures: a small simulated dataset and the OpenCL runtime (skip or fail without one)."""

import os

import numpy as np
import pytest

from spectomo import datasets


@pytest.fixture(scope="session")
def small_sim():
    """Noisy core–shell tilt series, 24³ voxels, ±70° in 10° steps, 512 channels."""
    return datasets.simulate("core_shell", size=24, tilt_step=10.0, energy_channels=512,
                             energy_scale=0.04, seed=3, progress=False)


@pytest.fixture(scope="session")
def cl_runtime():
    """The OpenCL runtime; skipped without a working device unless SPECTOMO_REQUIRE_OPENCL=1."""
    from spectomo.opencl.runtime import OpenCLUnavailableError, get_runtime

    try:
        return get_runtime()
    except OpenCLUnavailableError as err:
        if os.environ.get("SPECTOMO_REQUIRE_OPENCL", "") not in ("", "0"):
            pytest.fail(f"OpenCL required (SPECTOMO_REQUIRE_OPENCL is set) but unavailable:\n{err}")
        pytest.skip(f"no working OpenCL device: {err}")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
