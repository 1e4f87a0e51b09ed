"""The architecture as tests: imports follow the layers of docs/architecture.md (data flows one way),
and the documentation and examples use only the public API."""

import ast
import importlib
import re
from pathlib import Path

import pytest

import spectomo

ROOT = Path(spectomo.__file__).resolve().parent
REPO = ROOT.parent

#: Units of the package (top-level modules and subpackages) by layer: a unit imports only from
#: lower layers. Stages run spectral → align → recon → quantify over the bottom layers.
LAYERS = [
    ("_version", "_exspy"),
    ("physics", "validation"),
    ("signals", "geometry"),
    ("io", "opencl", "phantoms"),
    ("datasets",),
    ("spectral",),
    ("align",),
    ("recon",),
    ("quantify",),
    ("absorption",),
    ("evaluation",),
    ("pipeline",),
    ("demo",),
    ("cli", "__init__"),
]
RANK = {unit: i for i, units in enumerate(LAYERS) for unit in units}
#: The one exception: TomoStack's ETSpy-style methods are a thin facade over align and recon.
FACADE = {("signals", "align"), ("signals", "recon")}
PUBLIC_SUBPACKAGES = ("datasets", "physics", "geometry", "opencl", "evaluation", "pipeline")


def _unit(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.name != "__init__.py" else "__init__"


def _imports(path: Path):
    """(unit imported, line) for every spectomo import in ``path``, module level or inside functions."""
    package = ".".join(("spectomo", *path.relative_to(ROOT).with_suffix("").parts))
    if path.name == "__init__.py":
        package = package.removesuffix(".__init__")
    else:
        package = package.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                full = ".".join(base + ([node.module] if node.module else []))
            else:
                full = node.module or ""
            names = [full] if node.module else [f"{full}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for full in names:
            parts = full.split(".")
            if parts[0] == "spectomo" and len(parts) > 1:
                yield parts[1], node.lineno


def test_every_unit_has_a_layer():
    units = {_unit(p) for p in ROOT.rglob("*.py")}
    assert units <= set(RANK), f"modules without a layer in this test: {sorted(units - set(RANK))}"


def test_imports_follow_the_layers():
    wrong = []
    for path in ROOT.rglob("*.py"):
        src = _unit(path)
        for dst, line in _imports(path):
            if dst == src or (src, dst) in FACADE:
                continue
            if RANK.get(dst, len(LAYERS)) >= RANK[src]:
                wrong.append(f"{path.relative_to(REPO)}:{line} ({src}, layer {RANK[src]}) imports {dst} "
                             f"(layer {RANK.get(dst, 'none')})")
    assert not wrong, "imports against the data flow:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles_between_units():
    graph = {}
    for path in ROOT.rglob("*.py"):
        src = _unit(path)
        for dst, _ in _imports(path):
            if dst != src and (src, dst) not in FACADE:
                graph.setdefault(src, set()).add(dst)

    def reaches(a, b, seen=()):
        return any(n == b or (n not in seen and reaches(n, b, (*seen, n))) for n in graph.get(a, ()))

    cycles = sorted(u for u in graph if reaches(u, u))
    assert not cycles, f"units on an import cycle: {cycles}"


def _public_names(module: str) -> set:
    return set(getattr(importlib.import_module(module), "__all__"))


def test_every_public_name_resolves():
    for name in spectomo.__all__:
        assert hasattr(spectomo, name), name
    for sub in PUBLIC_SUBPACKAGES:
        assert sub in spectomo.__all__
        mod = importlib.import_module(f"spectomo.{sub}")
        for name in mod.__all__:
            assert hasattr(mod, name), f"spectomo.{sub}.{name}"


def _code_of_docs():
    """(file, code) of the README's and docs' Python blocks and of every example script."""
    for md in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for block in re.findall(r"```python\n(.*?)```", md.read_text(), flags=re.S):
            yield md.name, block
    for py in sorted((REPO / "examples").glob("*.py")):
        yield py.name, py.read_text()


@pytest.mark.skipif(not (REPO / "docs").is_dir(), reason="needs the source tree (docs/, examples/)")
def test_documentation_and_examples_use_only_the_public_api():
    public = {"": _public_names("spectomo")}
    for sub in PUBLIC_SUBPACKAGES:
        public[sub] = _public_names(f"spectomo.{sub}")
    bad = []
    for where, code in _code_of_docs():
        for mod, listed, line in re.findall(r"from spectomo(\.\w+)? import (?:\(([^)]*)\)|([^\n#]+))", code):
            key = mod.lstrip(".")
            for name in (n.split(" as ")[0].strip() for n in (listed or line).replace("\n", " ").split(",")):
                if name and (key not in public or name not in public[key]):
                    bad.append(f"{where}: from spectomo{mod} import {name}")
        for chain in re.findall(r"\bspectomo((?:\.\w+)+)", code):
            parts = chain.lstrip(".").split(".")
            if parts[0] in PUBLIC_SUBPACKAGES and len(parts) > 1:
                ok = parts[1] in public[parts[0]]
            else:
                ok = parts[0] in public[""]
            if not ok:
                bad.append(f"{where}: spectomo{chain}")
    assert not bad, "documentation or examples use names outside the public API:\n" + "\n".join(sorted(set(bad)))
