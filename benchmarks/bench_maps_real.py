"""Counts conservation and line totals of the three map methods on real Bruker spectrum images.

RosettaSciIO's test data (GPL-3, not copied into spectomo) hold real Bruker ``.bcf`` spectrum images
from ~6 to ~20 000 counts per pixel. For each file this prints, side by side: the counts in the data,
the share the NMF components hold (Σ components / Σ data), the share the fitted models hold in the
fitted channels, and each line's series total by windows, fit and NMF.

Run::

    python benchmarks/bench_maps_real.py <rosettasciio>/rsciio/tests/data/bruker [--elements Fe,Cr,Ni,Si]

Files without elements in their metadata use ``--elements`` (default: skip them).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def run_file(path: Path, elements: list[str] | None) -> None:
    import hyperspy.api as hs

    from spectomo.spectral import OverlapWarning, extract_maps

    s = hs.load(path, select_type="spectrum_image")
    if isinstance(s, list):
        s = s[-1]
    if not s.metadata.get_item("Sample.elements"):
        if not elements:
            print(f"{path.name}: no elements in the metadata; pass --elements to include it")
            return
        s.add_elements(elements)
    data = np.asarray(s.data, dtype=np.float64)
    per_px = data.sum() / np.prod(data.shape[:-1])
    print(f"{path.name}: {data.shape}, {data.sum():.0f} counts ({per_px:.1f} per pixel, "
          f"{100 * (data > 0).mean():.2f} % of entries non-zero), elements {s.metadata.Sample.elements}")
    results, seconds = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        for method in ("windows", "fit", "nmf"):
            t = time.perf_counter()
            results[method] = extract_maps([s], tilts=[0.0], method=method, progress=False)
            seconds[method] = time.perf_counter() - t
    fit, nmf = results["fit"], results["nmf"]
    comp = sum(c.data.astype(np.float64).sum() for c in nmf.components.values())
    m = fit.model
    fitted = float((m.coefficients(data) @ m.basis.T).sum())
    print(f"  NMF ({nmf.parameters['n_components']} components): components hold {100 * comp / data.sum():.3f} % "
          f"of the counts; fit: models hold {100 * fitted / data[..., m.channels].sum():.3f} % of the fitted "
          f"channels' counts; median reduced χ² {np.median(fit.quality.data):.2f}")
    print("  seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
    for line in fit:
        md = fit[line].metadata.Spectral
        print(f"  {line:7s} windows {results['windows'][line].data.sum():10.0f}  fit {fit[line].data.sum():10.0f} "
              f"(±{100 * md.sample_relative_error:.1f} %, variance inflation {md.variance_inflation:.1f})  "
              f"NMF {nmf[line].data.sum():10.0f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="folder with .bcf files (RosettaSciIO's rsciio/tests/data/bruker)")
    p.add_argument("--elements", default=None, help="comma-separated elements for files without any")
    args = p.parse_args(argv)
    files = sorted(Path(args.folder).glob("*.bcf"))
    if not files:
        print(f"no .bcf files in {args.folder}")
        return 1
    elements = args.elements.split(",") if args.elements else None
    for path in files:
        try:
            run_file(path, elements)
        except Exception as err:  # a file this reader cannot open (e.g. a deliberately broken test file)
            print(f"{path.name}: skipped ({type(err).__name__}: {err})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
