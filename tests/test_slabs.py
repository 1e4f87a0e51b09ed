"""Slab decomposition of TGV–KL along the tilt axis: exact halo exchange gives the whole solve."""

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

import spectomo
from spectomo.opencl import opencl_available
from spectomo.recon.slabs import SlabTGV, plan_slabs
from spectomo.recon.tgv import TGVSolver, tgv_bytes

pytestmark = pytest.mark.skipif(not opencl_available(), reason="no OpenCL device")


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    tilts = np.linspace(-60, 60, 13)
    counts = {n: rng.poisson(ndimage.gaussian_filter(rng.random((13, 16, 12)) * 20, 1.5) + 1).astype(np.float32)
              for n in ("A", "B")}
    mono = TGVSolver.from_counts(counts, tilts)
    mono.initialise()
    mono.step(50)
    return counts, tilts, mono


@pytest.mark.parametrize("n_slabs", [2, 3, 4])
def test_slabs_equal_the_whole_solve(problem, n_slabs):
    counts, tilts, mono = problem
    sl = SlabTGV(counts, tilts, n_slabs=n_slabs)
    sl.initialise()
    sl.step(50)
    ref, got = mono.volumes(), sl.volumes()
    for n in ref:
        assert got[n].shape == ref[n].shape
        np.testing.assert_allclose(got[n], ref[n], rtol=0, atol=1e-5 * float(np.abs(ref[n]).max()))
    assert sl.check()["objective"] == pytest.approx(mono.objective(), rel=1e-6)
    for got, ref in zip(sl.projections(), mono.projections()):  # what Bregman steps add back
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * float(np.abs(ref).max()))


def test_without_the_exchange_slabs_leave_seams(problem):
    counts, tilts, mono = problem
    sl = SlabTGV(counts, tilts, n_slabs=3)
    sl._exchange = lambda *a, **k: None  # independent overlapped solves
    sl.initialise()
    sl.step(50)
    ref, got = mono.volumes(), sl.volumes()
    assert max(float(np.abs(got[n] - ref[n]).max() / np.abs(ref[n]).max()) for n in ref) > 0.01


def test_reconstruct_tgv_plans_slabs_from_max_memory(problem):
    counts, tilts, _ = problem
    maps = {n: spectomo.TomoStack(c, tilts=tilts) for n, c in counts.items()}
    whole = spectomo.reconstruct_tgv(None, maps, iterations=20, progress=False)
    limit = tgv_bytes(16, 16, 6 + 2, 2, 13)  # half the slices (plus halos) fit
    split = spectomo.reconstruct_tgv(None, maps, iterations=20, max_memory=limit, progress=False)
    assert split.parameters["slabs"] == 2 and whole.parameters["slabs"] == 1
    for n in maps:
        np.testing.assert_allclose(split[n].data, whole[n].data, rtol=0, atol=1e-5 * float(whole[n].data.max()))
    assert spectomo.reconstruct_tgv(None, maps, iterations=5, slabs=3, progress=False).parameters["slabs"] == 3
    # mu='auto' with Bregman steps: the full-data steps run as slabs too
    opts = {"folds": 1, "multipliers": (0.5, 1.0, 2.0)}
    whole, split = (spectomo.reconstruct_tgv(None, maps, mu="auto", iterations=20, slabs=k, auto_options=opts,
                                             progress=False) for k in (1, 2))
    assert whole.parameters["solves"] == split.parameters["solves"] > 1
    for n in maps:
        np.testing.assert_allclose(split[n].data, whole[n].data, rtol=0, atol=1e-5 * float(whole[n].data.max()))
    with pytest.raises(ValueError, match="max_memory"):
        spectomo.reconstruct_tgv(None, maps, iterations=5, max_memory=1000, progress=False)


def test_offloaded_slabs_live_in_files_and_equal_the_whole_solve(problem, tmp_path):
    counts, tilts, _ = problem
    maps = {n: spectomo.TomoStack(c, tilts=tilts) for n, c in counts.items()}
    whole = spectomo.reconstruct_tgv(None, maps, iterations=20, progress=False)
    seen = []

    def look(info):  # during the run the state lives in .npy files, one folder per slab
        seen.append(sorted(p.relative_to(tmp_path).parts[1:] for p in tmp_path.rglob("*.npy")))

    out = spectomo.reconstruct_tgv(None, maps, iterations=20, slabs=2, offload=tmp_path, check_every=10,
                                   callback=look, progress=False)
    assert ("slab0", "q.npy") in seen[0] and ("slab1", "u.npy") in seen[0]
    assert not list(tmp_path.rglob("*.npy"))  # removed at the end
    assert out.parameters["offload"] and out.parameters["slabs"] == 2
    for n in maps:
        np.testing.assert_allclose(out[n].data, whole[n].data, rtol=0, atol=1e-5 * float(whole[n].data.max()))
    # one slab with offload is the whole problem in files
    one = spectomo.reconstruct_tgv(None, maps, iterations=20, slabs=1, offload=tmp_path, progress=False)
    np.testing.assert_allclose(one["A"].data, whole["A"].data, rtol=0, atol=1e-5 * float(whole["A"].data.max()))


def test_plan_slabs():
    assert plan_slabs(10, 3) == [(0, 3), (3, 7), (7, 10)]
    with pytest.raises(ValueError, match="n_slabs"):
        plan_slabs(4, 5)


def test_slabs_on_a_local_dask_cluster_and_resume(problem, tmp_path):
    distributed = pytest.importorskip("distributed")
    counts, tilts, mono = problem
    maps = {n: spectomo.TomoStack(c, tilts=tilts) for n, c in counts.items()}
    whole = spectomo.reconstruct_tgv(None, maps, iterations=50, check_every=10, progress=False)
    ckpt = tmp_path / "tgv.npz"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        part = spectomo.reconstruct_tgv(None, maps, iterations=20, check_every=10, checkpoint=ckpt,
                                        checkpoint_every=10, client=client, progress=False)
        assert part.parameters["slabs"] == 2 and part.parameters["distributed"]
    # the cluster is gone (as after a lost worker): a new one resumes from the checkpoint
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        done = spectomo.reconstruct_tgv(None, maps, iterations=50, check_every=10, checkpoint=ckpt,
                                        checkpoint_every=10, client=client, progress=False)
    assert done.parameters["resumed_from"] == 20
    for n in maps:
        np.testing.assert_allclose(done[n].data, whole[n].data, rtol=0, atol=1e-5 * float(whole[n].data.max()))


def test_a_killed_worker_is_replaced_and_the_run_goes_on(problem, tmp_path):
    distributed = pytest.importorskip("distributed")
    counts, tilts, _ = problem
    maps = {n: spectomo.TomoStack(c, tilts=tilts) for n, c in counts.items()}
    whole = spectomo.reconstruct_tgv(None, maps, iterations=40, check_every=10, progress=False)
    killed = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:

        def kill(info):  # the process of one worker dies mid-run (its nanny starts a new one)
            if info.iteration == 20 and not killed:
                killed.append(info.iteration)
                list(cl.workers.values())[1].process.process.kill()

        with pytest.warns(RuntimeWarning, match="worker holding a slab was lost"):
            out = spectomo.reconstruct_tgv(None, maps, iterations=40, check_every=10, checkpoint=tmp_path / "c.npz",
                                           checkpoint_every=10, client=client, callback=kill, progress=False)
    assert killed and out.parameters["lost_workers_recovered"] == 1 and out.parameters["resumed_from"] in (10, 20)
    for n in maps:
        np.testing.assert_allclose(out[n].data, whole[n].data, rtol=0, atol=1e-5 * float(whole[n].data.max()))


def test_hebt_slabs_equal_the_whole_solve():
    rng = np.random.default_rng(1)
    tilts = np.linspace(-60, 60, 13)
    a = ndimage.gaussian_filter(rng.random((13, 16, 10)) * 30, 1.5).astype(np.float32)
    b = ndimage.gaussian_filter(rng.random((13, 16, 10)) * 30, 1.5).astype(np.float32)
    maps = {"Ag_La": spectomo.TomoStack(a, tilts=tilts), "Au_La": spectomo.TomoStack(b, tilts=tilts)}
    haadf = spectomo.TomoStack(80 * a + 200 * b, tilts=tilts)
    opts = dict(alpha=0.5, iterations=30, ratios={"Ag_La": 80.0, "Au_La": 200.0}, progress=False)
    whole = spectomo.reconstruct_hebt(haadf, maps, **opts)
    split = spectomo.reconstruct_hebt(haadf, maps, slabs=3, **opts)
    assert split.parameters["slabs"] == 3 and whole.parameters["slabs"] == 1
    for n in maps:
        np.testing.assert_array_equal(split[n].data, whole[n].data)
    for n in [*maps, "HAADF"]:
        np.testing.assert_allclose(split.residuals[n], whole.residuals[n], rtol=1e-5)
    from spectomo.recon.hebt import hebt_bytes

    limit = hebt_bytes(13, 16, 5, 2)
    assert spectomo.reconstruct_hebt(haadf, maps, max_memory=limit, **opts).parameters["slabs"] == 2


def test_many_series_over_a_local_cluster(problem, tmp_path):
    distributed = pytest.importorskip("distributed")
    counts, tilts, _ = problem
    jobs = [{"maps": {n: spectomo.TomoStack(c * k, tilts=tilts) for n, c in counts.items()}, "haadf": None}
            for k in (1.0, 2.0, 3.0)]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        paths = spectomo.reconstruct_many(jobs, client=client, out=tmp_path / "tgv", solver="tgv",
                                          options={"iterations": 10}, progress=False)
        sirt = spectomo.reconstruct_many(jobs[:1], client=client, out=tmp_path / "sirt", solver="SIRT",
                                         options={"iterations": 5}, names=["needle"], progress=False)
    local = [spectomo.reconstruct_tgv(None, j["maps"], iterations=10, progress=False) for j in jobs]
    for p, b in zip(paths, local):
        for n in counts:
            a = spectomo.load(p[n])
            assert a.metadata.Reconstruction.method == "TGV-KL"
            np.testing.assert_allclose(a.data, b[n].data, rtol=1e-6, atol=1e-6 * float(b[n].data.max()))
    assert set(sirt[0]) == set(counts) and Path(sirt[0]["A"]).parent.name == "needle"
    with pytest.raises(ValueError, match="solver"):
        spectomo.reconstruct_many(jobs, client=None, out=tmp_path, solver="ART")
