/* X-ray attenuation on the way to a detector: path integrals of mu along one direction d, by
 * shear-warp (each ray is a column of a sheared grid, so no work item waits for another).
 *
 * Volumes are (nch, n0, n1, n2) C-order; the caller names the main axis a (largest |d_a|) and the
 * lateral axes b, c through the strides st_a, st_b, st_c (in elements, within one channel).
 * Along a ray, moving one plane along a changes b by sb = d_b/d_a and c by sc = d_c/d_a (|sb|,
 * |sc| <= 1) and the path length by h = 1/|d_a| (voxel units). The ray through (k, b, c) is the
 * sheared column (u, v) = (b - sb k, c - sc k). sig = sign(d_a): the detector lies towards larger
 * sig * k.
 *
 * path_sheared: G[ch, k, u, v] = h (mu~(k) / 2 + sum of mu~(k') over the planes beyond k towards the
 *   detector), mu~ = mu sampled bilinearly at the column's position in each plane (0 outside).
 * attenuation_add: A[ch, voxel] += w exp(-tau) sinh(q) / q, q = h mu(voxel) / 2, tau = G sampled
 *   bilinearly at the voxel's column: the voxel's mean transmission along its own path segment.
 * NumPy twin: spectomo/opencl/twins.py (path_sheared, attenuation_add). */
#include "common.cl"

inline real plane_sample(__global const real *p, const real b, const real c, const int nb, const int nc,
                         const long sb_, const long sc_)
{
    const real fb0 = floor(b), fc0 = floor(c);
    const int b0 = (int)fb0, c0 = (int)fc0;
    const real fb = b - fb0, fc = c - fc0;
    real s = 0;
    for (int i = 0; i < 2; ++i) {
        const int bi = b0 + i;
        if (bi < 0 || bi >= nb) continue;
        const real wb = i ? fb : (real)1 - fb;
        for (int j = 0; j < 2; ++j) {
            const int cj = c0 + j;
            if (cj < 0 || cj >= nc) continue;
            const real wc = j ? fc : (real)1 - fc;
            s += wb * wc * p[(long)bi * sb_ + (long)cj * sc_];
        }
    }
    return s;
}

/* global size (nu, nv) */
__kernel void path_sheared(__global real *G, __global const real *mu, const int nch, const int na,
                           const int nb, const int nc, const long st_a, const long st_b, const long st_c,
                           const long nvox, const int sig, const real sb, const real sc, const real h,
                           const int u0, const int v0, const int nu, const int nv)
{
    const int iu = get_global_id(0), iv = get_global_id(1);
    if (iu >= nu || iv >= nv) return;
    const real u = (real)(u0 + iu), v = (real)(v0 + iv);
    for (int ch = 0; ch < nch; ++ch) {
        __global const real *m = mu + (long)ch * nvox;
        __global real *g = G + (long)ch * na * nu * nv;
        real acc = 0;
        for (int step = 0; step < na; ++step) {
            const int k = sig > 0 ? na - 1 - step : step;
            const real here = plane_sample(m + (long)k * st_a, u + sb * (real)k, v + sc * (real)k, nb, nc,
                                           st_b, st_c);
            g[((long)k * nu + iu) * nv + iv] = h * (acc + (real)0.5 * here);
            acc += here;
        }
    }
}

/* global size (nc, nb, na) */
__kernel void attenuation_add(__global real *A, __global const real *G, __global const real *mu,
                              const int nch, const int na, const int nb, const int nc, const long st_a,
                              const long st_b, const long st_c, const long nvox, const real sb, const real sc,
                              const real h, const int u0, const int v0, const int nu, const int nv, const real w)
{
    const int c = get_global_id(0), b = get_global_id(1), k = get_global_id(2);
    const long off = (long)k * st_a + (long)b * st_b + (long)c * st_c;
    const real u = (real)b - sb * (real)k - (real)u0, v = (real)c - sc * (real)k - (real)v0;
    for (int ch = 0; ch < nch; ++ch) {
        const real tau = plane_sample(G + ((long)ch * na + k) * nu * nv, u, v, nu, nv, (long)nv, 1L);
        const real q = (real)0.5 * h * mu[(long)ch * nvox + off];
        /* exp(-tau) sinh(q) / q, without cancellation at small q or overflow at large q */
        const real t = q < (real)1e-3 ? exp(-tau) * ((real)1 + q * q / (real)6)
                     : (q < (real)20 ? exp(-tau) * sinh(q) / q
                                     : exp(q - tau) * ((real)1 - exp((real)-2 * q)) / ((real)2 * q));
        A[(long)ch * nvox + off] += w * t;
    }
}
