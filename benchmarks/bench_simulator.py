"""Wall time and peak memory of the simulator (eager vs lazy spectra).

Run: python benchmarks/bench_simulator.py [size ...]   (default 64 128)
"""

import resource
import sys
import time

import numpy as np

from spectomo import datasets


def main(sizes):
    for size in sizes:
        for lazy in (False, True):
            t0 = time.perf_counter()
            sim = datasets.simulate("core_shell", size=size, lazy=lazy, progress=False)
            t_sim = time.perf_counter() - t0
            total = sim.eds.data.sum(dtype=np.uint64)
            if lazy:
                total = total.compute()
            t_all = time.perf_counter() - t0
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"size {size:4d} lazy={lazy!s:5}: simulate {t_sim:6.2f} s, + full pass over "
                  f"{sim.eds.data.shape} spectra {t_all:6.2f} s, {int(total):.3e} counts, "
                  f"peak RSS so far {rss:.0f} MiB")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [64, 128])
