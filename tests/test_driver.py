"""The solver driver: the same stopping, callback, history and checkpoint semantics for every solver.

A small NumPy solver checks the driver alone (no OpenCL); TGV–KL and HEBT are then run through
the same kill-and-resume, refusal and error cases.
"""

import numpy as np
import pytest

import spectomo
from spectomo.evaluation import toy_dataset
from spectomo.recon import CheckpointError, IterationInfo
from spectomo.recon.driver import Solver, run
from spectomo.signals import TomoStack


class Descent(Solver):
    """Gradient descent on ½‖x − b‖² (x ← x − η(x − b)), with b a fixed random vector."""

    label = "descent"

    def __init__(self, b, eta=0.2):
        self.b, self.eta = np.asarray(b, dtype=float), eta

    def initialise(self):
        self.x = np.zeros_like(self.b)

    def step(self, n):
        for _ in range(n):
            self.x = self.x - self.eta * (self.x - self.b)
        self.iteration += n

    def check(self):
        return {"objective": 0.5 * float(((self.x - self.b) ** 2).sum()), "distance": float(np.abs(self.x - self.b).max())}

    def monitor(self):
        return self.x.copy()

    def state(self):
        return {"x": self.x}

    def set_state(self, state, iteration):
        self.x = np.array(state["x"])
        self.iteration = iteration

    def volumes(self):
        return {"x": self.x.reshape(1, 1, -1)}

    def signature(self):
        return [self.b], {"eta": self.eta}


def test_checks_history_tol_and_callback_info(rng):
    b = rng.random(10)
    seen = []
    rec = run(Descent(b), 23, check_every=5, callback=seen.append, progress=False)
    assert rec.iterations == 23 and rec.stopped_by == "iterations" and rec.requested == 23
    assert list(rec.history["iteration"]) == [5, 10, 15, 20, 23]  # and at the last iteration
    assert set(rec.history) == {"iteration", "objective", "change", "seconds", "distance"}
    assert np.isnan(rec.history["change"][0]) and np.all(rec.history["change"][1:] > 0)
    assert all(isinstance(i, IterationInfo) for i in seen) and seen[-1].metrics == {"distance": pytest.approx(
        rec.history["distance"][-1])}
    assert seen[-1].volumes()["x"].shape == (1, 1, 10)
    rec = run(Descent(b), 1000, tol=1e-3, check_every=5, progress=False)
    assert rec.stopped_by == "tol" and rec.iterations < 1000
    obj = rec.history["objective"]
    assert abs(obj[-1] - obj[-2]) <= 1e-3 * abs(obj[-1])
    rec = run(Descent(b), 100, check_every=10, callback=lambda info: info.iteration >= 30, progress=False)
    assert rec.stopped_by == "callback" and rec.iterations == 30


@pytest.mark.parametrize("kwargs, error, match", [
    ({"iterations": None}, TypeError, "iterations"), ({"iterations": 0}, ValueError, "iterations"),
    ({"iterations": 2.5}, TypeError, "iterations"), ({"iterations": True}, TypeError, "iterations"),
    ({"check_every": 0}, ValueError, "check_every"), ({"checkpoint_every": 0}, ValueError, "checkpoint_every"),
    ({"tol": -1.0}, ValueError, "tol"), ({"tol": float("nan")}, ValueError, "tol"),
    ({"callback": 3}, TypeError, "callback"), ({"checkpoint": 3}, TypeError, "checkpoint"),
])
def test_bad_options_are_named(rng, kwargs, error, match):
    args = {"iterations": 10, **kwargs}
    with pytest.raises(error, match=match):
        run(Descent(rng.random(4)), args.pop("iterations"), progress=False, **args)


def test_descent_kill_and_resume_is_exact(rng, tmp_path):
    b = rng.random(50)
    full = run(s_full := Descent(b), 40, check_every=5, progress=False)
    ck = tmp_path / "d.npz"

    def kill(info):
        if info.iteration == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(Descent(b), 40, check_every=5, checkpoint=ck, checkpoint_every=10, callback=kill, progress=False)
    resumed = run(s := Descent(b), 40, check_every=5, checkpoint=ck, checkpoint_every=10, progress=False)
    assert resumed.resumed_from == 20 and resumed.iterations == 40
    assert np.array_equal(s.x, s_full.x)
    for key in ("iteration", "objective", "change", "distance"):
        assert np.array_equal(resumed.history[key], full.history[key], equal_nan=True), key


def _toy(rng):
    d = toy_dataset(10, 9, counts=(300.0, 10.0, 10.0), seed=rng)
    return d.haadf, {"Ag_La": d.maps["A"], "Au_La": d.maps["B"]}


def _solve(kind, haadf, maps, **kw):
    if kind == "tgv":
        return spectomo.reconstruct_tgv(haadf, maps, progress=False, **kw)
    return spectomo.reconstruct_hebt(haadf, maps, ratios={"Ag": 40.0, "Au": 90.0}, alpha=0.8, progress=False, **kw)


@pytest.mark.opencl
@pytest.mark.parametrize("kind", ["tgv", "hebt"])
def test_kill_and_resume_equals_an_uninterrupted_run(cl_runtime, rng, tmp_path, kind):
    haadf, maps = _toy(rng)
    kw = dict(iterations=30, check_every=5, checkpoint_every=10)
    full = _solve(kind, haadf, maps, **kw)
    ck = tmp_path / "state.npz"

    def kill(info):
        if info.iteration == 25:
            raise KeyboardInterrupt  # the process dies between checkpoints

    with pytest.raises(KeyboardInterrupt):
        _solve(kind, haadf, maps, checkpoint=ck, callback=kill, **kw)
    assert ck.is_file() and not list(tmp_path.glob("*.tmp"))
    resumed = _solve(kind, haadf, maps, checkpoint=ck, **kw)
    md = resumed["Ag_La"].metadata.Reconstruction
    assert md.resumed_from == 20 and md.iterations == 30 and md.stopped_by == "iterations"
    for name in maps:
        assert np.array_equal(resumed[name].data, full[name].data), name
    for key, values in full.history.items():
        if key != "seconds":
            assert np.array_equal(resumed.history[key], values, equal_nan=True), key
    assert list(resumed.history["iteration"]) == [5, 10, 15, 20, 25, 30]
    if kind == "hebt":
        for name, r in full.residuals.items():
            assert np.array_equal(resumed.residuals[name], r), name
    # asked again for the same run: nothing to do, the same result and history
    again = _solve(kind, haadf, maps, checkpoint=ck, **kw)
    assert again["Au_La"].metadata.Reconstruction.resumed_from == 30
    assert np.array_equal(again["Au_La"].data, full["Au_La"].data)
    # a user stop (callback) resumes too
    ck2 = tmp_path / "stopped.npz"
    part = _solve(kind, haadf, maps, checkpoint=ck2, callback=lambda info: info.iteration >= 15, **kw)
    assert part["Ag_La"].metadata.Reconstruction.stopped_by == "callback"
    rest = _solve(kind, haadf, maps, checkpoint=ck2, **kw)
    assert np.array_equal(rest["Ag_La"].data, full["Ag_La"].data)


@pytest.mark.opencl
def test_checkpoints_that_do_not_belong_to_the_run_are_refused(cl_runtime, rng, tmp_path):
    haadf, maps = _toy(rng)
    ck = tmp_path / "state.npz"
    _solve("tgv", haadf, maps, iterations=20, check_every=10, checkpoint=ck)
    with pytest.raises(CheckpointError, match=r"iteration 20, beyond iterations=10"):
        _solve("tgv", haadf, maps, iterations=10, checkpoint=ck)
    other = dict(maps, Ag_La=TomoStack(maps["Ag_La"].data + 1, tilts=maps["Ag_La"].tilts))
    with pytest.raises(CheckpointError, match="other data or parameters"):
        _solve("tgv", haadf, other, iterations=20, checkpoint=ck)
    with pytest.raises(CheckpointError, match="other data or parameters"):
        _solve("tgv", haadf, maps, iterations=20, checkpoint=ck, mu=0.5)
    with pytest.raises(CheckpointError, match="TGV-KL solver, not HEBT"):
        _solve("hebt", haadf, maps, iterations=20, checkpoint=ck)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(ck.read_bytes()[:1000])
    not_zip = tmp_path / "notes.npz"
    not_zip.write_text("hello")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    for path in (truncated, not_zip, foreign):
        with pytest.raises(CheckpointError, match=str(path.name)):
            _solve("tgv", haadf, maps, iterations=20, checkpoint=path)


@pytest.mark.opencl
def test_unwritable_checkpoint_path_fails_before_the_first_iteration(cl_runtime, rng, tmp_path):
    haadf, maps = _toy(rng)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    calls = []
    with pytest.raises(CheckpointError, match="cannot write"):
        _solve("hebt", haadf, maps, iterations=20, checkpoint=blocker / "state.npz", callback=calls.append,
               check_every=1)
    assert calls == []
    with pytest.raises(CheckpointError, match="is a folder"):
        _solve("hebt", haadf, maps, iterations=20, checkpoint=tmp_path)


def test_astra_sirt_runs_on_the_driver_and_resumes_exactly(rng, tmp_path):
    _, maps = _toy(rng)
    stack = maps["Ag_La"]
    whole = stack.reconstruct("SIRT", iterations=30, progress=False)
    parts = stack.reconstruct("SIRT", iterations=30, check_every=7, progress=False)
    assert np.array_equal(parts.data, whole.data)  # stepping in parts changes nothing
    md = parts.metadata.Reconstruction
    assert list(md.history["iteration"]) == [7, 14, 21, 28, 30] and md.iterations == 30
    rel = md.history["relative_residual"]
    assert np.all(np.diff(rel) < 0)
    ck = tmp_path / "sirt.npz"

    def kill(info):
        if info.iteration == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stack.reconstruct("SIRT", iterations=30, check_every=5, checkpoint=ck, checkpoint_every=10, callback=kill,
                          progress=False)
    resumed = stack.reconstruct("SIRT", iterations=30, check_every=5, checkpoint=ck, checkpoint_every=10,
                                progress=False)
    assert resumed.metadata.Reconstruction.resumed_from == 20 and np.array_equal(resumed.data, whole.data)
    early = stack.reconstruct("SIRT", iterations=500, tol=1e-3, check_every=5, progress=False)
    assert early.metadata.Reconstruction.stopped_by == "tol" and early.metadata.Reconstruction.iterations < 500
    with pytest.raises(ValueError, match="tol, callback: only for the iterative methods"):
        stack.reconstruct("FBP", tol=1e-3, callback=print)
