"""`spectomo demo` writes the dataset, ground truth, a figure and a summary."""

import json

import numpy as np
import pytest

import spectomo
from spectomo.cli import main


def test_demo_writes_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--size", "24", "--no-progress"]) == 0
    for name in ("haadf.hspy", "eds.hspy", "demo_projections.png", "demo_summary.json",
                 "truth/wt_Au.hspy", "truth/density.hspy", "truth/net_counts_Ag_La.hspy",
                 "maps/windows_Au_La.hspy", "maps/windows_Ag_La.hspy", "maps/nmf_factors.hspy"):
        assert (out / name).is_file(), name
    png = (out / "demo_projections.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["size"] == [24, 24, 24] and summary["mean_haadf_counts"] > 0
    maps = summary["maps"]
    assert maps["windows"] == ["Ag_La", "Au_La"]
    assert maps["nmf"] == ["Ag_La", "Au_La"]  # line net counts from the NMF factors
    for method in ("windows", "fit", "nmf"):
        for line in ("Ag_La", "Au_La"):
            assert abs(maps["total_relative_error"][method][line]) < 0.1, (method, line)
    for key in maps["nmf"]:
        assert (out / "maps" / f"nmf_{key}.hspy").is_file()
    au = spectomo.load(out / "maps" / "windows_Au_La.hspy")
    assert au.metadata.Spectral.method == "windows" and len(au.tilts) == 29
    haadf = spectomo.load(out / "haadf.hspy")
    assert haadf.data.shape[1:] == (24, 24) and len(haadf.tilts) == 29
    # alignment and reconstruction stage
    assert (out / "demo_volumes.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("HAADF", "Ag_La", "Au_La"):
        rec = spectomo.load(out / "recon" / f"sirt_{name}.hspy")
        assert rec.data.shape == (24, 24, 24) and rec.metadata.Reconstruction.method == "SIRT"
    assert summary["alignment"]["shift_rms_error_px"] < 1.0
    for line in ("Ag_La", "Au_La"):
        scores = summary["reconstruction"][line]
        assert scores["psnr_aligned_db"] > scores["psnr_unaligned_db"]
        auto = summary["sirt_auto"][line]
        assert auto["iterations"] >= 1 and np.isfinite(auto["psnr_db"])
        assert spectomo.load(out / "recon" / f"sirt_auto_{line}.hspy").metadata.Reconstruction.auto.chosen == \
            auto["iterations"]
    # TGV-KL stage (needs OpenCL; the CI installs PoCL)
    assert (out / "demo_methods.png").read_bytes()[:4] == b"\x89PNG"
    if "skipped" not in summary["tgv"]:
        for name in ("HAADF", "Ag_La", "Au_La"):
            rec = spectomo.load(out / "recon" / f"tgv_{name}.hspy")
            assert rec.metadata.Reconstruction.method == "TGV-KL" and rec.data.shape == (24, 24, 24)
            scores = summary["tgv"]["scores"][name]
            assert scores["psnr_tgv"] > scores["psnr_sirt"], name
    # HEBT stage (OpenCL): volumes in map units with their provenance, scored beside SIRT
    if "skipped" not in summary["hebt"]:
        hebt = summary["hebt"]
        assert hebt["r2"] > 0.8 and set(hebt["ratios"]) == {"Ag_La", "Au_La"}
        for name in ("Ag_La", "Au_La"):
            rec = spectomo.load(out / "recon" / f"hebt_{name}.hspy")
            md = rec.metadata.Reconstruction
            assert md.method.startswith("HEBT") and md.alpha == 0.8 and rec.data.shape == (24, 24, 24)
            assert hebt["scores"][name]["ssim_s_hebt"] > 0.8
        assert (out / "recon" / "hebt_HAADF_model.hspy").is_file()
    # quantification stage: one .hspy per reconstruction, a figure and the true-vs-measured table
    assert (out / "demo_quantification.png").read_bytes()[:4] == b"\x89PNG"
    table = summary["quantification"]["table"]
    assert "SIRT-100" in table
    for label, row in table.items():
        for region in ("Ag-rich", "Au-rich"):
            vals = row["regions"][region]
            assert sum(v["measured"] for v in vals.values()) == pytest.approx(100, abs=0.01)
    q = spectomo.Quantification.load(out / "quant" / "sirt.hspy")
    assert q.elements == ["Ag", "Au"] and q.parameters["method"] == "zeta"
    # absorption stage: thin-film vs corrected composition of the Al–Cu–Mg particle, and its figure
    ab = summary["absorption"]
    assert (out / "demo_absorption.png").read_bytes()[:4] == b"\x89PNG"
    assert ab["worst_error_wt%"]["corrected"] < ab["worst_error_wt%"]["thin film"]
    assert ab["mean_transmission"]["Al_Ka"] == pytest.approx(ab["true_mean_transmission"]["Al_Ka"], abs=0.03)
    q = spectomo.Quantification.load(out / "quant" / "absorption_corrected.hspy")
    assert q.elements == ["Al", "Cu", "Mg"]
    text = capsys.readouterr().out
    assert "done in" in text and "methods figure" in text and "weight fractions" in text and "absorption (" in text


def test_info_runs(capsys):
    assert main(["info"]) == 0
    assert "kernels:" in capsys.readouterr().out


def test_bad_size_is_rejected(capsys):
    assert main(["demo", "--size", "2"]) == 2


def test_import_prints_no_third_party_deprecations():
    import subprocess
    import sys

    # names are imported on first use: touch every stage, and load an EDS spectrum image (HyperSpy
    # then imports exspy's signal classes)
    code = ("import spectomo\n"
            "for name in spectomo.__all__: getattr(spectomo, name)\n"
            "from spectomo import datasets\n"
            "sim = datasets.simulate('core_shell', size=8, tilt_step=60.0, seed=0, progress=False)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Deprecat" not in out.stderr and "Numba is not installed" not in out.stderr, out.stderr


def test_help_does_not_load_the_scientific_stack():
    """``spectomo --help`` answers without importing HyperSpy, exspy or OpenCL (issue 23: < 2 s;
    measured 0.08 s, was 2.2 s)."""
    import subprocess
    import sys

    code = ("import sys, contextlib, io\n"
            "from spectomo.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try: main(['--help'])\n"
            "    except SystemExit: pass\n"
            "print(sorted(m for m in ('hyperspy', 'exspy', 'pyopencl', 'astra') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
