"""The ledger of ETSpy's test cases (tests/etspy_ledger.py) stays true: each case names an existing
spectomo test whose comments name it, or says why it is not ported."""

import re
from pathlib import Path

from etspy_ledger import LEDGER

HERE = Path(__file__).parent


def _functions(path: Path) -> dict:
    """test name → its source text (def line to the next top-level def)."""
    text = path.read_text()
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"^def (test_\w+)\(", text, flags=re.M)]
    return {name: text[a:b] for (a, name), (b, _) in zip(starts, starts[1:] + [(len(text), "")])}


def test_every_etspy_case_is_ported_or_explained():
    functions: dict = {}
    ported = 0
    for case, where in LEDGER.items():
        file, name = case.split("::")
        assert file.startswith("test_") and name.startswith("test_"), case
        if where.startswith("not ported: "):
            assert len(where) > len("not ported: ") + 20, (case, "give the reason")
            continue
        path, test = where.split("::")
        if path not in functions:
            functions[path] = _functions(HERE.parent / path)
        assert test in functions[path], (case, where, "no such test")
        assert re.search(rf"#.*\b{name}\b", functions[path][test]), (case, where, "the test does not name the case")
        ported += 1
    assert len(LEDGER) == 265  # ETSpy 1.3's test functions
    assert ported >= 150, ported  # issue 22's target
