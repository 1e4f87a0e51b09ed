/* HAADF-EDS bimodal tomography (Zhong et al. 2017; Yuan et al. 2020, eq. 17) as one stacked SIRT.
 *
 * The NC channels of the batch are the element volumes X_c. One iteration is
 *     P_c = W X_c                                       (shared projector, projector.cl)
 *     g_c = inv_row * ( a_c (d_c - P_c) + h_c (I_H - sum_e q_e P_e) )      -> hebt_residual
 *     (share != 0: h_c -> (sum_e h_e) * q_c max(P_c, 0) / sum_e q_e max(P_e, 0) on each ray, so
 *      the HAADF residual goes to the elements in proportion to their share of the HAADF model
 *      along that ray; equal h_c where that sum is 0)
 *     X_c = max(lo, X_c + inv_col * s_c * W^T g_c)                         -> hebt_update
 * where inv_row / inv_col are the inverse row and column sums of the projector W and the
 * coefficients a, h, q, s encode the block matrix (see spectomo/recon/hebt.py, which derives them
 * and holds the NumPy twin). CH must be a multiple of NC so that a work item owns whole voxels. */
#include "projector.cl"

#if (CH % NC) != 0
#error "hebt.cl: CH must be a multiple of NC"
#endif

/* Forward projection fused with the block residual; global size (bp / CH, ndet, nang rounded up
 * to the work-group size).
 * d: EDS data [angle][det][b]; ih: HAADF data [angle][det][bp / NC];
 * coef: a[NC], h[NC], q[NC]; part: per work item NC + 1 sums of squared residuals
 * (EDS blocks, then HAADF), reduced by hebt_reduce. */
__kernel void hebt_residual(__global real *g, __global real *part, __global const real *x,
                            __global const real *d, __global const real *ih,
                            __global const real *ang, __global const real *inv_row,
                            __global const real *coef, const int share, GEOM_ARGS, const int ndet,
                            const int nang)
{
    const int gi = get_global_id(0), s = get_global_id(1), k = get_global_id(2);
    if (k >= nang) return;
    const int b0 = gi * CH;
    real acc[CH];
    radon_gather(acc, x, s, ang[2 * k], ang[2 * k + 1], b0, GEOM_PASS, ndet);
    const size_t row = (size_t)k * ndet + s;
    const real w = inv_row[row];
    __global const real *dd = d + row * bp + b0;
    __global const real *hh = ih + row * (bp / NC) + b0 / NC;
    __global real *out = g + row * bp + b0;
    real sq[NC + 1];
    for (int c = 0; c <= NC; ++c) sq[c] = 0;
    for (int v = 0; v < CH / NC; ++v) {
        real model = 0, positive = 0, hsum = 0;
        for (int c = 0; c < NC; ++c) {
            model += coef[2 * NC + c] * acc[v * NC + c];
            positive += coef[2 * NC + c] * fmax(acc[v * NC + c], (real)0);
            hsum += coef[NC + c];
        }
        const real rh = hh[v] - model;
        sq[NC] += rh * rh;
        const int split = share && positive > 0;
        for (int c = 0; c < NC; ++c) {
            const real re = dd[v * NC + c] - acc[v * NC + c];
            sq[c] += re * re;
            const real hc = split ? hsum * coef[2 * NC + c] * fmax(acc[v * NC + c], (real)0) / positive
                                  : coef[NC + c];
            out[v * NC + c] = w * (coef[c] * re + hc * rh);
        }
    }
    __global real *p = part + (row * (bp / CH) + gi) * (NC + 1);
    for (int c = 0; c <= NC; ++c) p[c] = sq[c];
}

/* hist[slot * (NC + 1) + c] = sum over items of part[item * (NC + 1) + c].
 * One work group of LS work items (LS a power of two); scratch holds LS * (NC + 1) reals. */
__kernel void hebt_reduce(__global real *hist, __global const real *part, const int n_items,
                          const int slot, __local real *scratch)
{
    const int lid = get_local_id(0), ls = get_local_size(0);
    real acc[NC + 1];
    for (int c = 0; c <= NC; ++c) acc[c] = 0;
    for (int i = lid; i < n_items; i += ls)
        for (int c = 0; c <= NC; ++c) acc[c] += part[(size_t)i * (NC + 1) + c];
    for (int c = 0; c <= NC; ++c) scratch[lid * (NC + 1) + c] = acc[c];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int half_ = ls / 2; half_ > 0; half_ /= 2) {
        if (lid < half_)
            for (int c = 0; c <= NC; ++c) scratch[lid * (NC + 1) + c] += scratch[(lid + half_) * (NC + 1) + c];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        for (int c = 0; c <= NC; ++c) hist[(size_t)slot * (NC + 1) + c] = scratch[c];
}

/* Back-projection fused with the SIRT update and the lower bound; global size (bp / CH, nz, ny).
 * colscale: s_c for the CH entries of a chunk (s[j % NC], the same for every chunk since CH is a
 * multiple of NC). Padding entries have g = 0 and stay 0. */
__kernel void hebt_update(__global real *x, __global const real *g, __global const real *ang,
                          const int nang, __global const real *inv_col,
                          __global const real *colscale, const real lo, GEOM_ARGS, const int ndet)
{
    const int b0 = get_global_id(0) * CH, z = get_global_id(1), y = get_global_id(2);
    real acc[CH];
    radon_adjoint_gather(acc, g, ang, nang, y, z, b0, GEOM_PASS, ndet);
    const real w = inv_col[(size_t)y * nz + z];
    __global real *out = x + ((size_t)y * nz + z) * bp + b0;
    for (int v = 0; v < NV; ++v)
        VSTORE(fmax((realv)(lo), VLOAD(v, out) + w * VLOAD(v, colscale) * VLOAD(v, acc)), v, out);
}
