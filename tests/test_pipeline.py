"""`spectomo init` / `spectomo run` (spectomo.pipeline): the whole pipeline on files in vendor
formats, stage caching and resume, the configuration's errors, and the HTML report in a browser."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from edax_files import write_spd
from helpers import quiet

from spectomo import datasets
from spectomo.cli import main
from spectomo.pipeline import ConfigError, Pipeline, StageError, check_config, read_config
from spectomo.pipeline.stages import STAGES


@pytest.fixture(scope="module")
def vendor_files(tmp_path_factory):
    """A core–shell series in three formats: per-tilt EDAX spectrum images (.spd + .spc + .ipr,
    shuffled names), an MRC HAADF stack and an IMOD .rawtlt — with drift and a tilt-axis offset."""
    mrcfile = pytest.importorskip("mrcfile")
    folder = tmp_path_factory.mktemp("vendor")
    sim = datasets.simulate("core_shell", size=20, tilt_step=10.0, seed=1, drift=1.0, tilt_axis_offset=1.5,
                            progress=False)
    tem = sim.eds.metadata.Acquisition_instrument.TEM
    ax = sim.eds.axes_manager.signal_axes[0]
    pixel = sim.haadf.axes_manager.signal_axes[0].scale
    for k, i in enumerate(np.random.default_rng(0).permutation(len(sim.tilts))):
        write_spd(folder / f"map{k:02d}.spd", np.asarray(sim.eds.data[i]), ev_per_channel=1000 * ax.scale,
                  start_kev=ax.offset, beam_kv=tem.beam_energy, live_time=tem.Detector.EDS.live_time,
                  tilt=float(sim.tilts[i]), elements=["Ag", "Au"], pixel_nm=pixel)
    with mrcfile.new(folder / "haadf.mrc") as m:
        m.set_data(np.asarray(sim.haadf.data, dtype=np.float32))
        m.voxel_size = pixel * 10  # Å
    (folder / "haadf.rawtlt").write_text("".join(f"{t:g}\n" for t in sim.tilts))
    return folder, sim


def _init(files_in: Path, cfg: Path, **edits) -> Path:
    files = sorted(str(p) for p in files_in.glob("*.spd")) + [str(files_in / "haadf.mrc"), str(files_in / "haadf.rawtlt")]
    assert quiet(main, ["init", *files, "-o", str(cfg), "--force"]) == 0
    text = cfg.read_text()
    for key, value in edits.items():  # uncomment or replace `key = ...` in the template
        text, n = re.subn(rf"^#? ?{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        assert n == 1, key
    cfg.write_text(text)
    return cfg


def _statuses(out: dict) -> dict:
    return {k: r.status for k, r in out.items() if k != "report"}


def test_run_vendor_files_then_rerun_only_quantification(vendor_files, tmp_path, capsys):
    folder, sim = vendor_files
    cfg = _init(folder, tmp_path / "run.toml", solid_angle="0.7", folder='"out"', progress="false")
    config = read_config(cfg)
    assert len(config["inputs"]["eds"]) == len(sim.tilts) and config["inputs"]["elements"] == ["Ag", "Au"]
    assert main(["run", str(cfg), "--no-progress"]) == 0
    out = tmp_path / "out"
    for rel in ("maps/Ag_La.hspy", "maps/Au_La.hspy", "align/reference.hspy", "align/Au_La.hspy",
                "reconstruct/Ag_La.hspy", "reconstruct/HAADF.hspy", "quantify/quantification.hspy",
                "phases/phases.hspy", "report.html"):
        assert (out / rel).is_file(), rel
    manifests = {s.name: json.loads((out / s.name / "stage.json").read_text()) for s in STAGES}
    # the EDAX files were sorted by their stage tilt and the HAADF's drift and tilt axis were found
    assert manifests["maps"]["summary"]["tilts_deg"] == sorted(sim.tilts.tolist())
    align = manifests["align"]["summary"]
    err = np.asarray(align["shifts_px"]) + sim.shifts
    assert np.sqrt(((err - err.mean(axis=0)) ** 2).sum(axis=1).mean()) < 0.5
    assert abs(align["tilt_axis_offset_px"] + 1.5) < 0.5
    # quantification and phases against the phantom: Au core, Ag shell
    q = manifests["quantify"]["summary"]
    assert q["parameters"]["method"] == "zeta" and q["parameters"]["voxel_size_nm"] == pytest.approx(
        sim.haadf.axes_manager.signal_axes[0].scale, rel=1e-5)
    # at 20³ and 15 tilts the blurred core leaves a continuum of compositions, which the mixture
    # may cut into an intermediate class as well; the shell is the largest phase and the most
    # Au-rich class is the core
    phases = manifests["phases"]["summary"]["table"]
    shell, core = phases[0], max(phases, key=lambda p: p["wt%"]["Au"])
    assert shell["name"].startswith("Ag-rich") and core["name"].startswith("Au-rich") and 2 <= len(phases) <= 3
    assert len({p["name"] for p in phases}) == len(phases)
    regions = sim.phantom.majority_regions()
    true_core = regions["Au"].sum() / (regions["Au"].sum() + regions["Ag"].sum())
    assert abs(core["volume_fraction"] - true_core) < 0.05
    assert core["wt%"]["Au"] > shell["wt%"]["Au"] + 20
    assert shell["volume_nm3"] > 0
    capsys.readouterr()

    recon_mtime = (out / "reconstruct" / "Ag_La.hspy").stat().st_mtime_ns
    cfg.write_text(cfg.read_text().replace('method = "auto"', 'method = "cross_section"'))
    result = quiet(Pipeline(cfg).run, log=None)
    assert _statuses(result) == {"maps": "reused", "align": "reused", "reconstruct": "reused",
                                 "quantify": "computed", "phases": "computed"}
    assert (out / "reconstruct" / "Ag_La.hspy").stat().st_mtime_ns == recon_mtime
    assert result["quantify"].summary["parameters"]["method"] == "cross_section"
    assert Pipeline(cfg).status() == {s.name: "cached" for s in STAGES}


def test_changed_input_file_recomputes_from_its_stage(vendor_files, tmp_path):
    folder, _ = vendor_files
    local = tmp_path / "files"
    shutil.copytree(folder, local)
    cfg = _init(local, tmp_path / "run.toml", solid_angle="0.7", folder='"out"', progress="false",
                iterations="20", enabled="false")
    quiet(Pipeline(cfg).run, log=None)
    os.utime(local / "haadf.mrc", ns=(1, 1))  # the HAADF "changed": alignment and all after it rerun
    assert Pipeline(cfg).status() == {"maps": "cached", "align": "stale", "reconstruct": "stale",
                                      "quantify": "stale", "phases": "stale"}
    result = quiet(Pipeline(cfg).run, log=None, force=())
    assert _statuses(result) == {"maps": "reused", "align": "computed", "reconstruct": "computed",
                                 "quantify": "computed", "phases": "computed"}
    assert result["phases"].summary["skipped"]


def test_crash_resumes_at_the_failed_stage(small_sim, tmp_path, monkeypatch):
    """A run that fails in quantification keeps maps, alignment and volumes; the next run reuses
    them. One EDS .hspy stack with no HAADF (the sum image is the reference) and HEBT volumes,
    whose response ratios come back from the files for the quantification."""
    small_sim.save(tmp_path / "data", truth=False)
    config = {"inputs": {"eds": "data/eds.hspy", "haadf": "data/haadf.hspy"},
              "align": {"shifts": "none", "tilt_axis": "none"},
              "reconstruct": {"solver": "hebt", "iterations": 30, "alpha": 0.5},
              "phases": {"enabled": False}, "output": {"folder": "out", "progress": False, "report": False}}
    stage = next(s for s in STAGES if s.name == "quantify")

    def broken(*args, **kwargs):
        raise ValueError("simulated crash")

    monkeypatch.setattr(type(stage), "compute", broken)
    with pytest.raises(StageError, match="quantify stage failed: ValueError: simulated crash"):
        quiet(Pipeline(config, base=tmp_path).run, log=None)
    monkeypatch.undo()
    result = quiet(Pipeline(config, base=tmp_path).run, log=None)
    assert _statuses(result) == {"maps": "reused", "align": "reused", "reconstruct": "reused",
                                 "quantify": "computed", "phases": "computed"}
    q = result["quantify"].summary
    assert q["parameters"]["method"] == "hebt" and set(q["mean_wt_percent"]) == {"Ag", "Au"}
    assert result["reconstruct"].summary["ratios"] and result["report"] is None


def test_without_haadf_the_sum_image_aligns(small_sim, tmp_path):
    small_sim.save(tmp_path / "data", truth=False)
    config = {"inputs": {"eds": "data/eds.hspy"}, "reconstruct": {"solver": "fbp"},
              "quantify": {"method": "cross_section"}, "phases": {"n_phases": 2, "smooth": 0},
              "output": {"folder": "out", "progress": False, "report": False}}
    result = quiet(Pipeline(config, base=tmp_path).run, log=None)
    assert result["align"].summary["reference"] == "EDS sum image"
    assert (tmp_path / "out" / "maps" / "sum_image.hspy").is_file()
    assert (tmp_path / "out" / "reconstruct" / "sum_image.hspy").is_file()
    assert len(result["phases"].summary["table"]) == 2


@pytest.mark.parametrize("config, message", [
    ({}, r"\[inputs\] eds: required"),
    ({"inputs": {"eds": "missing_*.spd"}}, r"\[inputs\] eds: no file matches"),
    ({"inputs": {"eds": "x.hspy"}, "maps": {"methd": "fit"}}, r"\[maps\] methd: unknown option"),
    ({"inputs": {"eds": "x.hspy"}, "maps": {"method": "pca"}}, r"\[maps\] method: expected one of"),
    ({"inputs": {"eds": "x.hspy"}, "reconstruct": {"iterations": "many"}}, r"\[reconstruct\] iterations"),
    ({"inputs": {"eds": "x.hspy"}, "reconstruct": {"solver": "tgv"}}, r"tgv takes a number"),
    ({"inputs": {"eds": "x.hspy"}, "reconstruct": {"alpha": 1.5}}, r"\[reconstruct\] alpha"),
    ({"inputs": {"eds": "x.hspy"}, "quantify": {"dose": -1}}, r"\[quantify\] dose: expected a positive"),
    ({"inputs": {"eds": "x.hspy"}, "output": {"report": "yes"}}, r"\[output\] report: expected true or false"),
    ({"inputs": {"eds": "x.hspy"}, "segmentation": {}}, r"\[segmentation\]: unknown section"),
    ({"inputs": {"eds": "x.hspy", "tilts": [0, "a"]}}, r"\[inputs\] tilts: expected a list of angles"),
])
def test_config_errors_name_the_option(tmp_path, config, message):
    (tmp_path / "x.hspy").write_bytes(b"")
    with pytest.raises(ConfigError, match=message):
        check_config(config, base=tmp_path)


def test_run_cli_reports_errors(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[inputs]\neds = 'nothing.bcf'\n")
    assert main(["run", str(cfg)]) == 2
    assert "[inputs] eds: no file 'nothing.bcf'" in capsys.readouterr().err
    cfg.write_text("[inputs\n")
    assert main(["run", str(cfg)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_opens_in_a_headless_browser(vendor_files, tmp_path):
    """The report renders in headless Chromium with every embedded figure decoded (CI installs
    Debian's chromium; without a browser this test is skipped)."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on this machine (CI installs it)")
    folder, _ = vendor_files
    cfg = _init(folder, tmp_path / "run.toml", solid_angle="0.7", folder='"out"', progress="false",
                iterations="10")
    report = quiet(Pipeline(cfg).run, log=None)["report"]
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([browser, *flags, "--dump-dom", report.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert loaded, dom[:500]
    assert int(loaded.group(1)) == int(loaded.group(2)) >= 6
    for heading in ("Element maps", "Alignment", "Reconstruction", "Quantification", "Phases", "Configuration",
                    "Versions"):
        assert f"<h2>{heading}</h2>" in dom
    assert "Au-rich" in dom and "tilt-axis offset (px)" in dom


def test_docs_list_every_option():
    """docs/pipeline.md ends with the option table that the schema renders (regenerate it with
    ``spectomo.pipeline.config.options_markdown()`` when an option changes)."""
    from spectomo.pipeline.config import options_markdown

    doc = (Path(__file__).resolve().parents[1] / "docs" / "pipeline.md").read_text()
    assert options_markdown() in doc


def test_given_tilts_must_agree_with_the_files_stage_tilts(vendor_files, tmp_path):
    folder, sim = vendor_files
    config = {"inputs": {"eds": str(folder / "map*.spd"), "tilts": [float(t) + 5 for t in sim.tilts]},
              "output": {"folder": str(tmp_path / "out"), "progress": False, "report": False}}
    with pytest.raises(StageError, match=r"maps stage failed: ConfigError: \[inputs\] tilts: .* disagree with the "
                                         r"stage tilts"):
        quiet(Pipeline(config).run, log=None)


def test_absorption_option_runs_the_3d_correction(tmp_path):
    """``[quantify] absorption = true``: correct_absorption on the aligned line-fit maps, with the
    detector geometry from the files; the soft lines lose more than Cu Kα and gain weight."""
    sim = datasets.simulate("alcu_particle", size=16, tilt_step=15.0, seed=0, absorption=True, progress=False)
    sim.save(tmp_path / "data", truth=False)
    config = {"inputs": {"eds": "data/eds.hspy", "haadf": "data/haadf.hspy"}, "maps": {"method": "fit"},
              "align": {"shifts": "none", "tilt_axis": "none"}, "reconstruct": {"iterations": 20},
              "quantify": {"absorption": True}, "phases": {"enabled": False},
              "output": {"folder": "out", "progress": False, "report": False}}
    q = quiet(Pipeline(config, base=tmp_path).run, log=None)["quantify"].summary
    t = q["mean_transmission"]
    assert t["Mg_Ka"] < t["Al_Ka"] < t["Cu_Ka"] <= 1.0
    assert q["mean_wt_percent"]["Mg"] > q["thin_film_wt%"]["Mg"]
    assert q["mean_wt_percent"]["Cu"] < q["thin_film_wt%"]["Cu"]


_RSCIIO = os.environ.get("SPECTOMO_RSCIIO_DATA")


@pytest.mark.skipif(not _RSCIIO, reason="set SPECTOMO_RSCIIO_DATA to RosettaSciIO's rsciio/tests/data "
                                        "(with the Velox zips unpacked in emd/)")
@pytest.mark.parametrize("name", ["bruker/test_TEM.bcf", "emd/Test SI 16x16 215 kx.emd"])
def test_init_on_real_multi_signal_files(name, tmp_path):
    """Bruker and Velox files hold the HAADF beside the spectrum image: init takes both from the
    file; run refuses a single spectrum image as a tilt series, naming the option."""
    path = Path(_RSCIIO) / name
    if not path.exists():
        pytest.skip(f"{name} not present")
    local = tmp_path / path.name
    shutil.copy(path, local)
    cfg = tmp_path / "run.toml"
    quiet(main, ["init", str(local), "-o", str(cfg)])
    config = read_config(cfg)
    assert config["inputs"]["eds"] == [local] and config["inputs"]["haadf"] == [local]
    assert config["inputs"]["haadf_signal"] == "HAADF" and len(config["inputs"]["elements"]) >= 2
    with pytest.raises(StageError, match=r"\[inputs\] eds: expected spectrum images with navigation \(tilt, y, x\)"):
        quiet(Pipeline(cfg).run, log=None)
