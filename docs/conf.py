"""Sphinx configuration: the Markdown pages (MyST), the API reference from the numpydoc
docstrings, and the examples. Build with ``sphinx-build -W -b html docs build/docs``
(``tests/test_docs.py`` runs it when Sphinx is installed)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("SPECTOMO_AUTOTUNE", "0")

from spectomo import __version__  # noqa: E402

project = "spectomo"
author = "spectomo developers"
copyright = "2026, spectomo developers"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "numpydoc", "sphinx.ext.mathjax"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "images/*.md"]
myst_heading_anchors = 3
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
autodoc_typehints = "none"
html_theme = "alabaster"
html_static_path = []
