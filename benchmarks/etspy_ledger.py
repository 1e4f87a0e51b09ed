"""Regenerate tests/etspy_ledger.py: every ETSpy 1.3 test function, mapped to the spectomo test whose
comments name it, or to the reason it is not ported (RULES below, by hand).

    pip download --no-deps etspy==1.3.0 && unzip etspy-1.3.0-*.whl -d /tmp/etwheel
    python benchmarks/etspy_ledger.py /tmp/etwheel/etspy/tests
"""
import ast
import re
import sys
from pathlib import Path

root = Path(sys.argv[1])
TESTS = Path(__file__).resolve().parents[1] / "tests"
ours = [TESTS / f for f in ("test_etspy_ported.py", "test_etspy_compat.py", "test_etspy_base.py")]
cases = []
for f in sorted(root.glob("test_*.py")):
    for node in ast.walk(ast.parse(f.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            cases.append(f"{f.name}::{node.name}")
cases = sorted(set(cases), key=cases.index)
# our test functions and the ETSpy names in their comments (def line to the next def)
where = {}
for p in ours:
    lines = p.read_text().splitlines()
    current = None
    for ln in lines:
        m = re.match(r"def (test_\w+)\(", ln)
        if m:
            current = f"tests/{p.name}::{m.group(1)}"
        if current and "#" in ln:
            for name in re.findall(r"\btest_\w+", ln.split("#", 1)[1]):
                where.setdefault(name, current)
RULES = [
    (r"^test_cuda\.py::", "CUDA only; no GPU in CI (spectomo's ASTRA calls take cuda=None: the GPU when ASTRA has one)"),
    (r"cuda|cupy", "CUDA code path; no GPU in CI (spectomo's ASTRA calls take cuda=None: the GPU when ASTRA has one)"),
    (r"manual_align", "manual_align is not offered: trans_stack(xshift, yshift) moves projections with ETSpy's signs"),
    (r"save_raw", "save_raw is not offered: stack.save() writes .hspy (and HyperSpy's other formats)"),
    (r"multiframe|create_by_array_multiframe", "ETSpy's multi-frame TomoStack (frames on a second navigation axis) is not supported: spectomo combines the frames at load time (frames='sum', 'mean' or 'register'; test_multiaverage_and_register_serialem_stack)"),
    (r"tomotilt|tomoshift|property_deleters", "no TomoTilts/TomoShifts signal classes: tilts and shifts are arrays in metadata.Tomography; ETSpy files holding them are read (test_etspy_metadata_is_converted)"),
    (r"mock_mpl_backend|_backend$", "ETSpy sizes figures per Jupyter backend; spectomo's figures do not depend on the backend (the figure itself is tested)"),
    (r"dart", "DART is not implemented"),
    (r"weight_stack", "weight_stack (the iteratively optimised edge-weighting window of Sanders 2015) is not offered"),
    (r"^test_simulation\.py::", "etspy.simulation is not in spectomo: spectomo.datasets.simulate and spectomo.phantoms model EDS + HAADF series instead"),
    (r"^test_datasets\.py::", "etspy.datasets (downloads) is not in spectomo: the binned NIST needle ships as tests/data/nist_needle_bin4.npz; simulated series come from spectomo.datasets.simulate"),
    (r"^test_projmatch\.py::", "internals of ETSpy's projection matching; spectomo's own 'PM' registration is tested in tests/test_projmatch.py on its terms"),
    (r"pad_line", "CommonLineAligner.pad_line is an internal helper of ETSpy's COM-CL, not API"),
    (r"test_commonstack", "no CommonStack base class in spectomo"),
    (r"maximage_plot_results|maximage_also_shift", "MaxImage options plot_results / also_shift are not offered: spectomo's MaxImage fits offset and rotation together and logs the scores"),
    (r"nslices_too_big", "deliberately different: nslices larger than the columns available is clipped, not an error"),
    (r"correlation_check", "test_correlation is not offered"),
    (r"create_by_signal_with_existing_tomometa|create_by_signal_with_tomometa_dict|original_metadata_arg|axes_list_arg|undefined_axes",
     "ETSpy's tomo_metadata= / original_metadata= / axes= constructor variants: spectomo takes tilts= and shifts= and passes the rest to HyperSpy"),
    (r"load_mrc_broken_hyperspy_mrc|load_serial_em_explicit", "ETSpy-internal loader paths (a patched HyperSpy MRC reader, an explicit SerialEM flag); spectomo.load detects SerialEM files itself (test_load_serialem_multiframe)"),
]
out, missing = {}, []
for c in cases:
    name = c.split("::")[1]
    if name in where:
        out[c] = where[name]
        continue
    for pat, reason in RULES:
        if re.search(pat, c) and reason:
            out[c] = "not ported: " + reason
            break
    else:
        missing.append(c)
print(len(cases), "cases;", sum(not v.startswith("not") for v in out.values()), "ported;", len(missing), "unclassified")
for m in missing:
    print("   unclassified:", m)
lines = ['"""Every test case of ETSpy 1.3\'s suite (etspy/tests, 265 test functions) and its spectomo',
         'equivalent (file::test) or why it has none. Checked by tests/test_etspy_ledger.py; generated from',
         'ETSpy\'s test files and the ETSpy names in the comments of tests/test_etspy_*.py, reasons by hand."""',
         "", "LEDGER = {"]
for k, v in out.items():
    lines.append(f"    {k!r}: {v!r},")
lines.append("}")
(TESTS / "etspy_ledger.py").write_text("\n".join(lines) + "\n")
