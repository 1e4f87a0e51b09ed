/* Fused iteration kernels of the coupled multi-channel TGV-KL primal-dual solver
 * (Huber et al. 2019, Algorithm 1). One iteration = tgv_dual, tgv_data, tgv_primal.
 * Built on the shared operators of projector.cl and gradient.cl; NumPy twins in
 * spectomo/recon/reference.py (tgv_dual, tgv_data, tgv_primal).
 * -D COUPLED=1 couples the pointwise Frobenius norms over the NC channels of a voxel;
 * COUPLED=0 takes them per channel (independent TGV per channel). */
#include "projector.cl"
#include "gradient.cl"

#ifndef COUPLED
#define COUPLED 1
#endif

/* p <- proj_{alpha1}(p + sigma (grad ubar - wbar)), q <- proj_{alpha0}(q + sigma E wbar).
 * One work item per chunk of CH batch entries of one pixel (CH a multiple of NC, so a chunk holds
 * whole voxels), VW entries at a time; global size (bp / CH, nz, ny). Pass 1 writes the
 * unprojected p, q and keeps their squared norms; pass 2 scales them back onto the balls (the
 * chunk is still in cache). Padding entries stay 0. */
#if (CH % NC) != 0
#error "tgv.cl: CH must be a multiple of NC"
#endif

__kernel void tgv_dual(__global real *restrict p, __global real *restrict q,
                       __global const real *restrict ubar, __global const real *restrict wbar,
                       const real sigma, const real alpha0, const real alpha1, GEOM_ARGS)
{
    const int b0 = get_global_id(0) * CH, z = get_global_id(1), y = get_global_id(2);
    const size_t n = (size_t)ny * nz * bp;
    const pix_t e = pixel(y, z, b0, GEOM_PASS);
    real hx[CH], lx[CH], valid[CH], np2[CH], nq2[CH];
    x_flags(hx, lx, valid, b0, nx);
    __global const real *w0 = wbar, *w1 = wbar + n, *w2 = wbar + 2 * n;
    for (int m = 0; m < NV; ++m) {
        const size_t i = e.i0 + m * VW;
        const realv h = VLOAD(m, hx), l = VLOAD(m, lx);
        const realv u0 = VLOAD(0, ubar + i);
        realv g[3], ee[6];
        g[0] = VLOAD(0, ubar + i + e.fy) - u0;
        g[1] = VLOAD(0, ubar + i + e.fz) - u0;
        g[2] = h * (vload_off(ubar, i, NC, n) - u0);
        const realv a = VLOAD(0, w0 + i), bb = VLOAD(0, w1 + i), c = VLOAD(0, w2 + i);
        const realv w0y = a - VLOAD(0, w0 + i - e.by), w0z = a - VLOAD(0, w0 + i - e.bz);
        const realv w1y = bb - VLOAD(0, w1 + i - e.by), w1z = bb - VLOAD(0, w1 + i - e.bz);
        const realv w2y = c - VLOAD(0, w2 + i - e.by), w2z = c - VLOAD(0, w2 + i - e.bz);
        const realv w0x = l * (a - vload_off(w0, i, -NC, n)), w1x = l * (bb - vload_off(w1, i, -NC, n));
        const realv w2x = l * (c - vload_off(w2, i, -NC, n));
        ee[0] = w0y; ee[1] = w1z; ee[2] = w2x;
        ee[3] = (real)0.5 * (w0z + w1y);
        ee[4] = (real)0.5 * (w0x + w2y);
        ee[5] = (real)0.5 * (w1x + w2z);
        realv sp = (realv)(0), sq = (realv)(0);
        for (int d = 0; d < 3; ++d) {
            const realv v = VLOAD(0, p + i + d * n) + sigma * (g[d] - VLOAD(0, wbar + i + d * n));
            VSTORE(v, 0, p + i + d * n);
            sp += v * v;
        }
        for (int k = 0; k < 6; ++k) {
            const realv v = VLOAD(0, q + i + k * n) + sigma * ee[k];
            VSTORE(v, 0, q + i + k * n);
            sq += (k < 3 ? (real)1 : (real)2) * v * v;
        }
        VSTORE(sp, m, np2);
        VSTORE(sq, m, nq2);
    }
#if COUPLED
    for (int v = 0; v < CH / NC; ++v) {
        real sp = 0, sq = 0;
        for (int c = 0; c < NC; ++c) { sp += np2[v * NC + c]; sq += nq2[v * NC + c]; }
        for (int c = 0; c < NC; ++c) { np2[v * NC + c] = sp; nq2[v * NC + c] = sq; }
    }
#endif
    for (int m = 0; m < NV; ++m) {
        const size_t i = e.i0 + m * VW;
        const realv ok = VLOAD(m, valid);
        const realv fp = ok / fmax((realv)(1), sqrt(VLOAD(m, np2)) / alpha1);
        const realv fq = ok / fmax((realv)(1), sqrt(VLOAD(m, nq2)) / alpha0);
        for (int d = 0; d < 3; ++d) VSTORE(fp * VLOAD(0, p + i + d * n), 0, p + i + d * n);
        for (int k = 0; k < 6; ++k) VSTORE(fq * VLOAD(0, q + i + k * n), 0, q + i + k * n);
    }
}

/* r <- prox_{sigma (mu KL_s)^*}(r + sigma * scale * T ubar) with KL_s(z) = KL(z + s, f), data f
 * (already shifted: counts + s) and weights mu[b] and shifts s = shift[b] per batch entry
 * (mu[x NC + c] = mu_c, 0 on padding entries, which then stay zero with f = 0). The shifted data
 * term keeps background-subtracted maps unbiased without clipping their negative pixels:
 * prox_{sigma KL_s^*}(v) = prox_{sigma KL^*}(v + sigma s).
 * Global size (bp / CH, ndet, nang rounded up to the work-group size). */
__kernel void tgv_data(__global real *r, __global const real *f, __global const real *ubar,
                       __global const real *ang, __global const real *mu, __global const real *shift,
                       const real sigma, const real scale, GEOM_ARGS, const int ndet, const int nang)
{
    const int b0 = get_global_id(0) * CH, s = get_global_id(1), k = get_global_id(2);
    if (k >= nang) return;
    real acc[CH];
    radon_gather(acc, ubar, s, ang[2 * k], ang[2 * k + 1], b0, GEOM_PASS, ndet);
    const size_t i = ((size_t)k * ndet + s) * bp + b0;
    for (int v = 0; v < NV; ++v) {
        const realv m = VLOAD(v, mu + b0);
        const realv rr = VLOAD(v, r + i) + sigma * (scale * VLOAD(v, acc) + VLOAD(v, shift + b0));
        const realv d = rr - m;
        VSTORE(rr - (real)0.5 * (d + sqrt(d * d + (real)4 * sigma * m * VLOAD(v, f + i))), v, r + i);
    }
}

/* u+ = max(0, u - tau (grad^T p + scale T^T r)), w+ = w - tau (-p + E^T q),
 * then ubar = 2 u+ - u, wbar = 2 w+ - w, (u, w) = (u+, w+); global size (bp / CH, nz, ny),
 * VW entries at a time; padding entries stay 0. */
__kernel void tgv_primal(__global real *restrict u, __global real *restrict ubar, __global real *restrict w,
                         __global real *restrict wbar, __global const real *restrict p,
                         __global const real *restrict q, __global const real *restrict r,
                         __global const real *ang, const int nang, const real tau, const real scale,
                         GEOM_ARGS, const int ndet)
{
    const int b0 = get_global_id(0) * CH, z = get_global_id(1), y = get_global_id(2);
    const size_t n = (size_t)ny * nz * bp;
    real acc[CH], hx[CH], lx[CH], valid[CH];
    radon_adjoint_gather(acc, r, ang, nang, y, z, b0, GEOM_PASS, ndet);
    const pix_t e = pixel(y, z, b0, GEOM_PASS);
    x_flags(hx, lx, valid, b0, nx);
    __global const real *p0 = p, *p1 = p + n, *p2 = p + 2 * n;
    __global const real *q0 = q, *q1 = q + n, *q2 = q + 2 * n, *q3 = q + 3 * n, *q4 = q + 4 * n,
                        *q5 = q + 5 * n;
    for (int m = 0; m < NV; ++m) {
        const size_t i = e.i0 + m * VW;
        const realv h = VLOAD(m, hx), l = VLOAD(m, lx), ok = VLOAD(m, valid);
        /* grad^T p = sum_d (delta_{d+})^T p_d, (delta_{d+})^T p = l p[i - backward] - h p[i] */
        const realv div = (e.ly * VLOAD(0, p0 + i - e.by) - e.hy * VLOAD(0, p0 + i))
                          + (e.lz * VLOAD(0, p1 + i - e.bz) - e.hz * VLOAD(0, p1 + i))
                          + (l * vload_off(p2, i, -NC, n) - h * VLOAD(0, p2 + i));
        const realv uo = VLOAD(0, u + i);
        const realv un = ok * fmax((realv)(0), uo - tau * (div + scale * VLOAD(m, acc)));
        VSTORE(un, 0, u + i);
        VSTORE((real)2 * un - uo, 0, ubar + i);
        /* E^T q, (delta_{d-})^T q = l q[i] - h q[i + forward] */
        realv a[3];
        a[0] = (e.ly * VLOAD(0, q0 + i) - e.hy * VLOAD(0, q0 + i + e.fy))
               + (e.lz * VLOAD(0, q3 + i) - e.hz * VLOAD(0, q3 + i + e.fz))
               + (l * VLOAD(0, q4 + i) - h * vload_off(q4, i, NC, n));
        a[1] = (e.lz * VLOAD(0, q1 + i) - e.hz * VLOAD(0, q1 + i + e.fz))
               + (e.ly * VLOAD(0, q3 + i) - e.hy * VLOAD(0, q3 + i + e.fy))
               + (l * VLOAD(0, q5 + i) - h * vload_off(q5, i, NC, n));
        a[2] = (l * VLOAD(0, q2 + i) - h * vload_off(q2, i, NC, n))
               + (e.ly * VLOAD(0, q4 + i) - e.hy * VLOAD(0, q4 + i + e.fy))
               + (e.lz * VLOAD(0, q5 + i) - e.hz * VLOAD(0, q5 + i + e.fz));
        for (int d = 0; d < 3; ++d) {
            const size_t id = i + d * n;
            const realv wo = VLOAD(0, w + id);
            const realv wn = ok * (wo - tau * (a[d] - VLOAD(0, p + id)));
            VSTORE(wn, 0, w + id);
            VSTORE((real)2 * wn - wo, 0, wbar + id);
        }
    }
}

/* Regulariser density per voxel: alpha1 |grad u - w|_F + alpha0 |E w|_F (Frobenius over the
 * channels when COUPLED, else the sum of per-channel norms); out[(y * nz + z) * nx + x];
 * global size (nx, nz, ny). Used for the objective history. */
__kernel void tgv_norms(__global real *out, __global const real *u, __global const real *w,
                        const real alpha0, const real alpha1, GEOM_ARGS)
{
    const int x = get_global_id(0), z = get_global_id(1), y = get_global_id(2);
    const size_t n = (size_t)ny * nz * bp;
    real sp = 0, sq = 0, total = 0;
    for (int c = 0; c < NC; ++c) {
        const vox_t v = voxel(y, z, x * NC + c, GEOM_PASS);
        real g[3], e[6];
        grad_at(g, u, v);
        symgrad_at(e, w, n, v);
        real a = 0, b = 0;
        for (int d = 0; d < 3; ++d) { const real t = g[d] - w[v.i + d * n]; a += t * t; }
        for (int k = 0; k < 6; ++k) b += (k < 3 ? (real)1 : (real)2) * e[k] * e[k];
#if COUPLED
        sp += a; sq += b;
#else
        total += alpha1 * sqrt(a) + alpha0 * sqrt(b);
#endif
    }
#if COUPLED
    total = alpha1 * sqrt(sp) + alpha0 * sqrt(sq);
#endif
    out[((size_t)y * nz + z) * nx + x] = total;
}
