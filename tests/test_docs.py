"""The documentation site builds with warnings as errors (Sphinx: the Markdown pages, the API
reference from the numpydoc docstrings, the examples)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_parser")
pytest.importorskip("numpydoc")

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_sphinx_builds_with_warnings_as_errors(tmp_path):
    out = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS),
                          str(tmp_path / "html")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    api = (tmp_path / "html" / "api.html").read_text()
    assert "spectomo.extract_maps" in api and "Parameters" in api  # autodoc + numpydoc ran
    index = (tmp_path / "html" / "index.html").read_text()
    for page in ("tgv.html", "hebt.html", "etspy.html", "examples.html"):
        assert page in index, page
