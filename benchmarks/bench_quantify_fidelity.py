"""Quantification accuracy on the core–shell phantom: SIRT, TGV–KL and HEBT, ζ and z_A methods.

Data: the simulator's net-count projections of Ag Lα and Au Lα, noise-free and with Poisson noise
at the simulated (realistic) dose, plus the noisy HAADF. Scores: mean wt% of each element over the
Au-rich (core) and Ag-rich (shell) regions (eroded by one voxel) inside the particle mask, against
the phantom's means over the same voxels; mean density over both regions against the phantom's.

    python benchmarks/bench_quantify_fidelity.py [--size 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import spectomo
from spectomo.datasets import simulate
from spectomo.evaluation import composition_table, poisson_maps, worst_composition_error


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sim = simulate("core_shell", size=args.size, seed=args.seed, progress=False)
    clean = {ln: sim.net_counts[ln] for ln in sim.lines}
    noisy = poisson_maps(clean, seed=[args.seed, 7])
    smoothed = poisson_maps(clean, seed=[args.seed, 7], smooth=0.8)  # the same noise, then σ = 0.8 px
    regions = sim.phantom.majority_regions()
    both = np.any(list(regions.values()), axis=0)
    truth = {el: 100 * c for el, c in sim.phantom.weight_fractions.items()}
    rho_true = float(sim.phantom.density[both].mean())
    print(f"core_shell {args.size}³, {len(sim.tilts)} tilts; max net counts per pixel: "
          + ", ".join(f"{k} {float(m.data.max()):.0f}" for k, m in noisy.items())
          + f"; true mean density {rho_true:.2f} g/cm³")

    def row(label, q, seconds):
        table = composition_table(q, sim.phantom)
        worst = worst_composition_error(table)
        cells = [f"{el}-rich " + " ".join(f"{e} {v['measured']:5.1f}" for e, v in r.items()) for el, r in table.items()]
        rho = q.mean_density(both)
        print(f"{label:34s} worst {worst:4.1f} wt% | " + " | ".join(cells)
              + ("" if rho is None else f" | ρ {rho:5.2f} ({100 * (rho / rho_true - 1):+.1f} %)") + f" | {seconds:.1f} s")

    print("truth (per region):", " | ".join(f"{el}-rich " + " ".join(f"{e} {truth[e][r].mean():5.1f}" for e in truth)
                                            for el, r in regions.items()))
    for label, maps, its in (("noise-free SIRT", sim.net_counts, (20, 100)), ("noisy SIRT", noisy, (10, 20, 50, 100)),
                             ("smoothed SIRT", smoothed, (20, 50))):
        for it in its:
            t = time.perf_counter()
            vols = {ln: maps[ln].reconstruct("SIRT", iterations=it, progress=False) for ln in sim.lines}
            row(f"{label} {it}, ζ", spectomo.quantify(vols, progress=False), time.perf_counter() - t)
    for it in (300, 500, 1000):
        t = time.perf_counter()
        tgv = spectomo.reconstruct_tgv(sim.haadf, noisy, iterations=it, progress=False)
        row(f"noisy TGV–KL {it}, ζ", spectomo.quantify(tgv, progress=False), time.perf_counter() - t)
    for label, maps in (("noisy", noisy), ("smoothed", smoothed)):
        for alpha, it in ((0.8, 100), (0.8, 200), (0.8, 300), (0.9, 500)):
            t = time.perf_counter()
            res = spectomo.reconstruct_hebt(sim.haadf, maps, alpha=alpha, iterations=it, progress=False)
            row(f"{label} HEBT α {alpha} {it}, z_A", spectomo.quantify(res, progress=False), time.perf_counter() - t)
            row(f"{label} HEBT α {alpha} {it}, ζ", spectomo.quantify(res, method="zeta", progress=False), 0.0)
        print(f"  fitted ratios ({label}): " + ", ".join(f"{k} {v:.1f}" for k, v in res.ratios.items()))


if __name__ == "__main__":
    main()
