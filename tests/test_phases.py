"""segment_phases: phases, volumes, compositions and interface areas from weight-fraction volumes
with a known answer (spheres and slabs drawn here, not by the simulator)."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from spectomo import Phases, Quantification, RecStack, segment_phases

VOXEL = 0.5  # nm


def _quant(wt: dict, mask: np.ndarray) -> Quantification:
    def rec(a):
        r = RecStack(np.asarray(a, dtype=np.float32))
        for ax in r.axes_manager._axes:
            ax.scale, ax.units = VOXEL, "nm"
        return r

    return Quantification(weight_percent={el: rec(v * mask) for el, v in wt.items()}, density=None,
                          atom_density=None, mask=rec(mask.astype(np.uint8)), factors={}, lines={},
                          parameters={"voxel_size_nm": VOXEL})


def _shells(rng, layers, *, blur: float = 0.0, noise: float = 3.0, n: int = 40, r_shell: float = 14):
    """A sphere of radius ``r_shell`` voxels, 15 wt% Au, with inner spheres ``layers`` = [(radius,
    Au wt%), …] drawn outside in, optionally blurred; Ag is the rest."""
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    r = np.sqrt(x**2 + y**2 + z**2)
    au = np.full(r.shape, 15.0)
    for radius, value in layers:
        au[r <= radius] = value
    if blur:
        au = gaussian_filter(au, blur)
    au = np.clip(au + rng.normal(0, noise, au.shape), 0, 100)
    return _quant({"Ag": 100 - au, "Au": au}, r <= r_shell), r


def _core_shell(rng, **kwargs):
    q, r = _shells(rng, [(8, 90.0)], **kwargs)
    return q, r <= 8, r <= kwargs.get("r_shell", 14)


def _by_name(phases: Phases) -> dict:
    return {row["name"]: row for row in phases.table}


def test_two_phases_with_their_volumes_and_interface_areas(rng):
    q, core, particle = _core_shell(rng)
    ph = segment_phases(q)
    rows = _by_name(ph)
    assert ph.names == ["Ag-rich", "Au-rich"]
    assert rows["Au-rich"]["voxels"] == pytest.approx(core.sum(), rel=0.03)
    assert rows["Au-rich"]["volume_nm3"] == pytest.approx(core.sum() * VOXEL**3, rel=0.03)
    assert rows["Au-rich"]["wt%"]["Au"] == pytest.approx(90, abs=1.5)
    assert rows["Ag-rich"]["wt%"]["Au"] == pytest.approx(15, abs=1.5)
    areas = {tuple(i["between"]): i["area"] for i in ph.interfaces}
    # marching cubes on the smoothed indicator: within a few % of the spheres' areas
    assert areas[("Ag-rich", "Au-rich")] == pytest.approx(4 * np.pi * (8 * VOXEL) ** 2, rel=0.06)
    assert areas[("Ag-rich", "outside")] == pytest.approx(4 * np.pi * (14 * VOXEL) ** 2, rel=0.04)
    assert areas[("Au-rich", "outside")] == pytest.approx(0, abs=1.0)
    assert ph.parameters["area_units"] == "nm²"


@pytest.mark.parametrize("blur", [1.0, 1.5])
def test_interface_blur_is_not_a_phase(rng, blur):
    """Reconstruction blur leaves intermediate compositions at the core–shell interface; the
    mixture gives them a component of their own (spread 3–6× wider than core or shell along the
    line joining them), which is split between core and shell."""
    q, core, _ = _core_shell(rng, blur=blur, noise=2.0)
    ph = segment_phases(q)
    assert ph.names == ["Ag-rich", "Au-rich"] and ph.parameters["blur_layers_removed"] == 1
    # the half-maximum surface of the blur and segment_phases' own smoothing (σ 1 voxel) bounds
    # the core: inside the sphere, by the curvature
    half = (gaussian_filter(core.astype(float), np.hypot(blur, 1.0)) > 0.5).sum()
    assert _by_name(ph)["Au-rich"]["voxels"] == pytest.approx(half, rel=0.05)
    assert len(segment_phases(q, blur_ratio=0).table) == 3


def test_a_real_intermediate_layer_is_kept(rng):
    """A 50 wt% Au layer 4 voxels thick between the core and the shell, blurred alike, is a phase
    (its spread is about that of the core), not blur."""
    q, r = _shells(rng, [(10, 50.0), (6, 90.0)], blur=1.5, noise=2.0)
    ph = segment_phases(q)
    assert len(ph.table) == 3 and ph.parameters["blur_layers_removed"] == 0
    middle = min(ph.table, key=lambda row: abs(row["wt%"]["Au"] - 50))
    assert middle["voxels"] == pytest.approx(((r <= 10) & (r > 6)).sum(), rel=0.25)


def test_three_thick_layers_stay_three_phases(rng):
    n = 36
    mask = np.zeros((n, n, n), dtype=bool)
    mask[2:-2, 2:-2, 2:-2] = True
    layer = np.digitize(np.arange(n), [n // 3, 2 * n // 3])[None, None, :] * np.ones((n, n, 1), dtype=int)
    comps = np.array([[80, 10, 10], [10, 80, 10], [30, 30, 40]], dtype=float)
    wt = {el: gaussian_filter(comps[layer, k], 1.0) + rng.normal(0, 2, layer.shape)
          for k, el in enumerate(("Ni", "Cr", "Fe"))}
    total = sum(wt.values())
    wt = {el: 100 * v / total for el, v in wt.items()}
    ph = segment_phases(_quant(wt, mask))
    assert sorted(ph.names) == ["Cr-rich", "Fe-rich", "Ni-rich"]
    inside = layer[mask]
    truth = {"Ni-rich": np.mean(inside == 0), "Cr-rich": np.mean(inside == 1), "Fe-rich": np.mean(inside == 2)}
    for row in ph.table:  # each blurred boundary may move by one slab (1/32 of the particle)
        assert row["volume_fraction"] == pytest.approx(truth[row["name"]], abs=1.5 / 32), row["name"]
    assert segment_phases(_quant(wt, mask), n_phases=2, min_separation=0, blur_ratio=0).parameters[
        "components"] == 2


def test_uniform_particle_is_one_phase_and_round_trip(rng, tmp_path):
    mask = np.zeros((20, 20, 20), dtype=bool)
    mask[4:16, 4:16, 4:16] = True
    au = np.full(mask.shape, 60.0) + rng.normal(0, 2, mask.shape)
    ph = segment_phases(_quant({"Ag": 100 - au, "Au": au}, mask))
    assert ph.names == ["Au-rich"] and ph.table[0]["volume_fraction"] == 1.0
    back = Phases.load(ph.save(tmp_path / "phases.hspy"))
    assert back.table == ph.table and np.array_equal(back.labels.data, ph.labels.data)


def test_bad_arguments(rng):
    q, _, _ = _core_shell(rng, n=16, r_shell=6)
    with pytest.raises(TypeError, match="quantification: expected a spectomo Quantification"):
        segment_phases({"Au": q.weight_percent["Au"]})
    with pytest.raises(ValueError, match="n_phases"):
        segment_phases(q, n_phases=0)
    empty = _quant({"Ag": np.zeros((8, 8, 8)), "Au": np.zeros((8, 8, 8))}, np.zeros((8, 8, 8), dtype=bool))
    with pytest.raises(ValueError, match="mask is empty"):
        segment_phases(empty)
