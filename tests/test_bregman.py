"""Bregman iteration around a solver (spectomo.recon.bregman); its use by TGV–KL's mu='auto' is
tested in tests/test_thinning.py."""

import numpy as np
import pytest

from spectomo.recon.bregman import bregman_steps


def test_each_step_adds_back_the_residual(rng):
    # a linear "solver" that keeps a share λ of its data: T u_k = λ f_k. Bregman iteration then leaves
    # the residual f − T u_k = (1 − λ)^(k+1) f, so each step gives back a share λ of what is missing
    f = {"a": rng.poisson(5.0, (4, 6, 7)).astype(np.float32), "b": rng.random((4, 6, 7)).astype(np.float32) - 0.5}
    lam = 0.6
    seen = []
    for k, proj, result in bregman_steps(lambda fk, k: ({n: lam * v for n, v in fk.items()}, k), f, 3):
        seen.append((k, result))
        for n in f:
            np.testing.assert_allclose(f[n] - proj[n], (1 - lam) ** (k + 1) * f[n], rtol=1e-5, atol=1e-6)
    assert seen == [(0, 0), (1, 1), (2, 2), (3, 3)]


def test_no_steps_is_one_plain_solve_and_the_caller_may_stop_early(rng):
    f = {"a": rng.random((2, 3, 4)).astype(np.float32)}
    calls = []

    def solve(fk, k):
        calls.append(k)
        if k == 0:  # the first solve sees the data itself
            np.testing.assert_array_equal(fk["a"], f["a"])
        return {"a": 0.5 * fk["a"]}, None

    assert [k for k, *_ in bregman_steps(solve, f, 0)] == [0]
    for k, *_ in bregman_steps(solve, f, 5):
        if k == 1:
            break
    assert calls == [0, 0, 1]
    with pytest.raises(KeyError):  # projections must name every channel of the data
        list(bregman_steps(lambda fk, k: ({}, None), f, 1))
