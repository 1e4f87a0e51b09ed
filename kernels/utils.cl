/* Small fused element-wise kernels used by the iterative solvers.
 * NumPy twins: spectomo/recon/reference.py. One work item per element. */
#include "common.cl"

/* z = a * x + b * y */
__kernel void axpby(__global real *z, __global const real *x, __global const real *y,
                    const real a, const real b, const unsigned long n)
{
    const size_t i = get_global_id(0);
    if (i < n) z[i] = a * x[i] + b * y[i];
}

/* x = max(x, lo), in place (non-negativity with lo = 0) */
__kernel void clip_min(__global real *x, const real lo, const unsigned long n)
{
    const size_t i = get_global_id(0);
    if (i < n) x[i] = fmax(x[i], lo);
}

/* y = x, global size n exactly (no bounds test, so that it vectorises): the plain copy that the
 * benchmarks measure memory bandwidth with (benchmarks/bench_tgv.py) */
__kernel void copy(__global real *y, __global const real *x)
{
    const size_t i = get_global_id(0);
    y[i] = x[i];
}
