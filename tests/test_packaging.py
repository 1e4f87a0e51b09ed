"""The wheel ships the OpenCL sources and the HyperSpy extension file."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_kernels_and_extension(tmp_path):
    pytest.importorskip("hatchling")
    cmd = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
           "-q", "-w", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("spectomo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    kernels = {Path(n).name for n in names if n.startswith("spectomo/kernels/") and n.endswith(".cl")}
    assert kernels == {p.name for p in (ROOT / "kernels").glob("*.cl")}
    assert "spectomo/hyperspy_extension.yaml" in names
    assert "spectomo/data/bote_salvat_2009.txt" in names  # the ionization cross-section table
    (ep,) = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(ep).decode()
    assert "[hyperspy.extensions]" in text and "spectomo = spectomo.cli:main" in text
