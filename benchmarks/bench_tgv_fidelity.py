"""PSNR table like Table 1 of Huber et al. (2019): SIRT (best iteration) vs TGV–KL variants.

Data: the simulator's noise-free net-count projections of every principal line with Poisson noise
at the simulated EDS dose (the maps a perfect spectral fit would give), and the simulated noisy
HAADF. Truth: ``SimulatedTiltSeries.count_volume`` / ``haadf_volume``. SIRT (ASTRA, non-negative)
is scored at 5–300 iterations and the best count per channel is reported.

    python benchmarks/bench_tgv_fidelity.py [--phantom alloy_gradient] [--size 64] [--iterations 2000]
"""

from __future__ import annotations

import argparse
import time

import spectomo
from spectomo.evaluation import best_sirt, fidelity_data, psnr

VARIANTS = [("TGV uncoupled 2D", "none", 2), ("TGV coupled 2D", "frobenius", 2),
            ("TGV uncoupled 3D", "none", 3), ("TGV coupled 3D", "frobenius", 3)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phantom", default="alloy_gradient")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--nu", type=float, default=None, help="ν for the maps (default: DEFAULT_NU)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    d = fidelity_data(args.phantom, args.size, seed=args.seed)
    stacks = {"HAADF": d.haadf, **d.maps}
    print(f"{args.phantom} {args.size}³, {len(d.haadf.tilts)} tilts; max counts per pixel: "
          + ", ".join(f"{k} {float(s.data.max()):.0f}" for k, s in stacks.items()))
    table = {name: {} for name in stacks}
    t0 = time.perf_counter()
    for name, stack in stacks.items():
        p, it = best_sirt(stack, d.truth[name])["psnr"]
        table[name]["SIRT (best)"] = p
        table[name]["SIRT iterations"] = it
    print(f"SIRT sweeps: {time.perf_counter() - t0:.0f} s")
    for label, coupling, dims in VARIANTS:
        t0 = time.perf_counter()
        res = spectomo.reconstruct_tgv(d.haadf, d.maps, mu=args.nu, iterations=args.iterations, coupling=coupling,
                                       dims=dims, progress=False)
        for name, vol in {"HAADF": res.haadf, **res}.items():
            table[name][label] = psnr(vol.data, d.truth[name])
        print(f"{label}: {time.perf_counter() - t0:.0f} s")
    cols = ["SIRT (best)"] + [v[0] for v in VARIANTS]
    print("\nPSNR (dB) | " + " | ".join(cols) + " | coupled 3D − SIRT")
    print("|".join(["---"] * (len(cols) + 2)))
    for name, row in table.items():
        cells = [f"{row[c]:.2f}" for c in cols]
        cells[0] += f" ({row['SIRT iterations']} it)"
        print(f"{name} | " + " | ".join(cells) + f" | {row['TGV coupled 3D'] - row['SIRT (best)']:+.2f}")


if __name__ == "__main__":
    main()
