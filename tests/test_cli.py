"""`spectomo demo` writes the dataset, ground truth, a figure and a summary."""

import json

import spectomo
from spectomo.cli import main


def test_demo_writes_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--size", "16", "--no-progress"]) == 0
    for name in ("haadf.hspy", "eds.hspy", "demo_projections.png", "demo_summary.json",
                 "truth/wt_Au.hspy", "truth/density.hspy", "truth/net_counts_Ag_La.hspy",
                 "maps/windows_Au_La.hspy", "maps/windows_Ag_La.hspy", "maps/nmf_factors.hspy"):
        assert (out / name).is_file(), name
    png = (out / "demo_projections.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["size"] == [16, 16, 16] and summary["mean_haadf_counts"] > 0
    maps = summary["maps"]
    assert maps["windows"] == ["Ag_La", "Au_La"]
    assert "Ag_La" in maps["nmf"]  # at 16² only the Ag-rich component stands above the noise
    for line in ("Ag_La", "Au_La"):
        assert abs(maps["windows_total_relative_error"][line]) < 0.1
    for key in maps["nmf"]:
        assert (out / "maps" / f"nmf_{key}.hspy").is_file()
    au = spectomo.load(out / "maps" / "windows_Au_La.hspy")
    assert au.metadata.Spectral.method == "windows" and len(au.tilts) == 29
    haadf = spectomo.load(out / "haadf.hspy")
    assert haadf.data.shape[1:] == (16, 16) and len(haadf.tilts) == 29
    assert "done in" in capsys.readouterr().out


def test_info_runs(capsys):
    assert main(["info"]) == 0
    assert "kernels:" in capsys.readouterr().out


def test_bad_size_is_rejected(capsys):
    assert main(["demo", "--size", "2"]) == 2
