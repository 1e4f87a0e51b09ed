"""Automatic parameters (data splitting) against the truth-picked (oracle) ones, side by side.

For each phantom and element map (window net counts from the simulator, default dose): SIRT
``iterations='auto'`` vs the best iteration; HEBT with its defaults (α and iterations chosen from the
data) vs the oracle (α, iterations) on the same grid and vs the best-iteration SIRT; TGV–KL
``mu='auto'`` (multipliers and Bregman steps) vs the μ heuristic and the oracle multiplier. PSNR in dB against the true count
volume; SSIM_s and scaled MSE as in the HEBT docs.

Run::

    python benchmarks/bench_auto.py [--size 48] [--tgv-iterations 500] [--only tgv] [--no-tgv-grid] [phantom ...]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

PHANTOMS = ("satellite", "core_shell", "needle", "alloy_gradient")


def sirt_oracle(stack, truth, k_max: int):
    from spectomo.evaluation import psnr
    from spectomo.geometry.convention import sinograms
    from spectomo.recon.astra import SIRTSolver
    from spectomo.recon.driver import run

    curve = []
    with SIRTSolver(sinograms(stack.data), stack.tilts) as solver:
        run(solver, k_max, check_every=1, progress=False,
            callback=lambda info: curve.append(psnr(info.volumes()["volume"], truth)))
    return np.asarray(curve)


def main(argv=None) -> int:
    import spectomo
    from spectomo import datasets
    from spectomo.evaluation import psnr, scaled_mse, ssim_structure
    from spectomo.recon.hebt import ALPHA_GRID
    from spectomo.recon.tgv import NU_MULTIPLIERS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("phantoms", nargs="*", default=list(PHANTOMS))
    p.add_argument("--size", type=int, default=48)
    p.add_argument("--tgv-iterations", type=int, default=500)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--only", choices=("sirt", "hebt", "tgv"), action="append",
                   help="run only these solvers (repeatable; default: all three)")
    p.add_argument("--no-tgv-grid", action="store_true",
                   help="TGV–KL: skip the full-data runs at each multiplier (heuristic and oracle columns)")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    solvers = set(args.only or ("sirt", "hebt", "tgv"))
    for name in args.phantoms:
        sim = datasets.simulate(name, size=args.size, seed=args.seed, progress=False)
        maps = spectomo.extract_maps(sim.eds, sim.lines, progress=False)
        stacks = {k: maps[k] for k in sim.lines}
        truth = {k: sim.count_volume(k) for k in sim.lines}
        print(f"\n== {name} ({sim.phantom.description}), {args.size}³, {len(sim.tilts)} tilts")
        # SIRT
        if "sirt" in solvers:
            for line in sim.lines:
                t = time.perf_counter()
                rec = stacks[line].reconstruct("SIRT", iterations="auto", progress=False)
                sec = time.perf_counter() - t
                k = int(rec.metadata.Reconstruction.auto.chosen)
                curve = sirt_oracle(stacks[line], truth[line], max(3 * k, 150))
                share = float(sim.net_counts[line].data.mean())
                print(f"SIRT  {line:6s} ({share:5.1f} counts/px): auto k {k:4d} {psnr(rec.data, truth[line]):6.2f} dB "
                      f"({sec:4.1f} s) | oracle k {int(np.argmax(curve)) + 1:4d} {curve.max():6.2f} dB | "
                      f"loss {curve.max() - psnr(rec.data, truth[line]):.2f} dB")
        # HEBT: defaults vs the oracle (alpha, k) and the best SIRT (per metric, over a grid)
        if "hebt" in solvers:
            t = time.perf_counter()
            res = spectomo.reconstruct_hebt(sim.haadf, stacks, progress=False)
            sec = time.perf_counter() - t
            auto = res[sim.lines[0]].metadata.Reconstruction.auto
            oracle = {}
            for a in ALPHA_GRID:
                seen = []
                spectomo.reconstruct_hebt(sim.haadf, stacks, alpha=a, iterations=2 * int(auto.chosen), check_every=10,
                                          progress=False, callback=lambda info: seen.append(
                                              (info.iteration, np.mean([ssim_structure(v, truth[n])
                                                                        for n, v in info.volumes().items()]))))
                oracle[a] = max(seen, key=lambda s: s[1])
            a_or = max(oracle, key=lambda a: oracle[a][1])
            print(f"HEBT  auto α {auto.chosen_alpha:g}, k {auto.chosen} ({sec:.1f} s) | oracle (mean SSIM_s) α {a_or:g}, "
                  f"k {oracle[a_or][0]}")
            for line in sim.lines:
                sirts = [stacks[line].reconstruct("SIRT", iterations=k, progress=False) for k in (5, 10, 15, 20, 30, 45, 70, 100)]
                s_best = max(ssim_structure(r.data, truth[line]) for r in sirts)
                m_best = min(scaled_mse(r.data, truth[line]) for r in sirts)
                s, m = ssim_structure(res[line].data, truth[line]), scaled_mse(res[line].data, truth[line])
                print(f"HEBT  {line:6s}: SSIM_s {s:.3f} vs best SIRT {s_best:.3f}; MSE {m:.3f} vs {m_best:.3f} "
                      f"({'wins' if s > s_best and m < m_best else 'LOSES'})")
        # TGV–KL: heuristic, auto and the oracle multiplier per channel
        if "tgv" in solvers:
            its = args.tgv_iterations
            t = time.perf_counter()
            tgv_auto = spectomo.reconstruct_tgv(sim.haadf, stacks, mu="auto", iterations=its, progress=False)
            sec = time.perf_counter() - t
            auto_md = tgv_auto[sim.lines[0]].metadata.Reconstruction.auto
            chosen, steps = auto_md.chosen_multiplier, auto_md.chosen_steps
            per_m = {} if args.no_tgv_grid else {
                m: spectomo.reconstruct_tgv(sim.haadf, stacks, mu=m * spectomo.recon.tgv.DEFAULT_NU, iterations=its,
                                            progress=False) for m in NU_MULTIPLIERS}
            print(f"TGV   auto ({sec:.1f} s, {its} iterations; HAADF ×{chosen['HAADF']:.3g}, "
                  f"{steps['HAADF']} Bregman steps)")
            for line in sim.lines:
                sirt_best = sirt_oracle(stacks[line], truth[line], 150).max()
                by_m = {m: psnr(r[line].data, truth[line]) for m, r in per_m.items()}
                a = psnr(tgv_auto[line].data, truth[line])
                grid = ""
                if by_m:
                    m_or = max(by_m, key=by_m.get)
                    grid = f"heuristic {by_m[1.0]:6.2f} dB | oracle ×{m_or:g} {by_m[m_or]:6.2f} dB (maps' ν only) | "
                print(f"TGV   {line:6s}: auto ×{chosen[line]:.3g}, {steps[line]} Bregman steps {a:6.2f} dB | {grid}"
                      f"best SIRT {sirt_best:6.2f} dB | auto − best SIRT {a - sirt_best:+.1f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
