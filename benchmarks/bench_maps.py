"""Wall time and peak memory of ``extract_maps`` on a full-size lazy tilt series read from disk.

Writes a simulated 37 × 128 × 162 × 2048 spectrum-image tilt series (the needle phantom, default
dose, Poisson noise; float32, uncompressed on disk: 6.3 GB) to an ``.hspy`` file once, then runs each method in a
fresh Python process on the lazily loaded file and reports its wall time and peak resident memory
(``VmHWM`` of that process, imports included). Goals: windows < 2 min and < 4 GB (issue 3);
NMF < 4 GB; the line fit within 2× the windows time and < 4 GB (issue 18). It also prints each
method's series totals against the simulator's true net counts.

Run::

    python benchmarks/bench_maps.py [--folder DIR] [--dtype float32|uint16] [--keep]

The file is read back through the page cache when it fits in memory (no root, no cache drop), so
the times are for warm reads; a cold read adds the disk's time for 6.3 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPE = (37, 128, 162, 2048)


def write_dataset(path: Path, dtype: str) -> dict:
    import numpy as np

    from spectomo import datasets
    from spectomo.phantoms import Phantom, make_phantom

    n, ny, nx, ne = SHAPE
    base = make_phantom("needle", ny)
    pad = (nx - ny) // 2, nx - ny - (nx - ny) // 2
    wide = Phantom(base.name, {el: np.pad(v, (pad, (0, 0), (0, 0))) for el, v in base.partial_densities.items()},
                   base.voxel_size, base.description)
    tilts = np.linspace(-72, 72, n)
    t0 = time.perf_counter()
    sim = datasets.simulate(wide, tilts=tilts, energy_channels=ne, energy_scale=0.01, lazy=True, progress=True)
    eds = sim.eds
    if dtype != str(eds.data.dtype):
        eds.change_dtype(dtype)
    assert tuple(eds.data.shape) == SHAPE, eds.data.shape
    eds.save(path, chunks=(1, 32, nx, ne), compression=None, overwrite=True)  # uncompressed, as Velox writes
    path.with_suffix(".truth.json").write_text(json.dumps(
        {line: float(np.asarray(sim.net_counts[line].data, dtype=np.float64).sum()) for line in sim.lines}))
    return {"write_s": time.perf_counter() - t0, "bytes": path.stat().st_size, "lines": sim.lines}


def peak_rss_gib() -> float:
    """Peak resident memory of this process image (``VmHWM``; unlike ``ru_maxrss`` it restarts at exec)."""
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_child(path: str, method: str) -> dict:
    """Runs in a fresh process: load lazily, extract maps, report time and peak RSS."""
    import numpy as np

    import spectomo

    t0 = time.perf_counter()
    eds = spectomo.load(path, lazy=True)
    maps = spectomo.extract_maps(eds, method=method, progress=False)
    wall = time.perf_counter() - t0
    return {"method": method, "wall_s": wall, "lines": list(maps),
            "peak_rss_GiB": peak_rss_gib(),
            "maps": {k: [float(np.asarray(v.data).sum()), list(v.data.shape)] for k, v in maps.items()},
            "parameters": {k: v for k, v in maps.parameters.items() if not isinstance(v, (list, dict))}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", default=None, help="where to write the file (default: a temporary folder)")
    p.add_argument("--dtype", default="float32", choices=["float32", "uint16"])
    p.add_argument("--keep", action="store_true", help="keep the file afterwards")
    p.add_argument("--child", nargs=2, metavar=("PATH", "METHOD"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(run_child(*args.child)))
        return 0

    folder = Path(args.folder or tempfile.mkdtemp(prefix="spectomo_bench_"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench_eds_{args.dtype}.hspy"
    if path.exists():
        print(f"using existing {path} ({path.stat().st_size / 1e9:.2f} GB)")
    else:
        info = write_dataset(path, args.dtype)
        print(f"wrote {path}: {info['bytes'] / 1e9:.2f} GB in {info['write_s']:.0f} s, lines {info['lines']}")
    results = []
    for method in ("windows", "fit", "nmf"):
        out = subprocess.run([sys.executable, __file__, "--child", str(path), method], check=True,
                             capture_output=True, text=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(res)
        print(f"{method:8s}: wall {res['wall_s']:7.1f} s   peak RSS {res['peak_rss_GiB']:.2f} GiB   "
              f"maps {list(res['maps'])}   {res['parameters']}")
    w, f, n = results
    truth = path.with_suffix(".truth.json")
    if truth.exists():
        true = json.loads(truth.read_text())
        for res in results:
            print(f"{res['method']:8s} series totals vs truth: " + ", ".join(
                f"{k} {100 * (res['maps'][k][0] / true[k] - 1):+.2f} %" for k in res["maps"] if k in true))
    print(f"goals: windows < 120 s: {w['wall_s'] < 120} ({w['wall_s']:.1f} s); windows < 4 GiB: "
          f"{w['peak_rss_GiB'] < 4} ({w['peak_rss_GiB']:.2f}); fit ≤ 2× windows: {f['wall_s'] <= 2 * w['wall_s']} "
          f"(ratio {f['wall_s'] / w['wall_s']:.2f}); fit < 4 GiB: {f['peak_rss_GiB'] < 4} ({f['peak_rss_GiB']:.2f}); "
          f"NMF < 4 GiB: {n['peak_rss_GiB'] < 4} ({n['peak_rss_GiB']:.2f}); file {path.stat().st_size / 2**30:.2f} GiB")
    if not args.keep and not args.folder:
        path.unlink()
        path.with_suffix(".truth.json").unlink(missing_ok=True)
        folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
