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
 * whole voxels); global size (bp / CH, nz, ny). Pass 1 writes the unprojected p, q and keeps their
 * squared norms; pass 2 scales them back onto the balls (the chunk is still in cache). */
#if (CH % NC) != 0
#error "tgv.cl: CH must be a multiple of NC"
#endif

inline void dual_step(__global real *restrict p, __global real *restrict q, __global const real *restrict ubar,
                      __global const real *restrict wbar, const real sigma, const pix_t e, const int inside,
                      real *np2, real *nq2, const int b0, GEOM_ARGS)
{
    const size_t n = (size_t)ny * nz * bp;
    __global const real *w0 = wbar, *w1 = wbar + n, *w2 = wbar + 2 * n;
    for (int j = 0; j < CH; ++j) {
        const size_t i = e.i0 + j;
        X_NEIGHBOURS(inside, i, b0 + j, n);
        const real u0 = ubar[i];
        real g[3], ee[6];
        g[0] = ubar[i + e.fy] - u0;
        g[1] = ubar[i + e.fz] - u0;
        g[2] = hx * (ubar[ixf] - u0);
        const real a = w0[i], bb = w1[i], c = w2[i];
        const real w0y = a - w0[i - e.by], w0z = a - w0[i - e.bz], w0x = lx * (a - w0[ixb]);
        const real w1y = bb - w1[i - e.by], w1z = bb - w1[i - e.bz], w1x = lx * (bb - w1[ixb]);
        const real w2y = c - w2[i - e.by], w2z = c - w2[i - e.bz], w2x = lx * (c - w2[ixb]);
        ee[0] = w0y; ee[1] = w1z; ee[2] = w2x;
        ee[3] = (real)0.5 * (w0z + w1y);
        ee[4] = (real)0.5 * (w0x + w2y);
        ee[5] = (real)0.5 * (w1x + w2z);
        real sp = 0, sq = 0;
        for (int d = 0; d < 3; ++d) {
            const real v = p[i + d * n] + sigma * (g[d] - wbar[i + d * n]);
            p[i + d * n] = v;
            sp += v * v;
        }
        for (int k = 0; k < 6; ++k) {
            const real v = q[i + k * n] + sigma * ee[k];
            q[i + k * n] = v;
            sq += (k < 3 ? (real)1 : (real)2) * v * v;
        }
        np2[j] = sp;
        nq2[j] = sq;
    }
}

__kernel void tgv_dual(__global real *p, __global real *q, __global const real *ubar,
                       __global const real *wbar, const real sigma, const real alpha0,
                       const real alpha1, GEOM_ARGS)
{
    const int b0 = get_global_id(0) * CH, z = get_global_id(1), y = get_global_id(2);
    const size_t n = (size_t)ny * nz * bp;
    const pix_t e = pixel(y, z, b0, GEOM_PASS);
    real np2[CH], nq2[CH];
    if (e.inside)
        dual_step(p, q, ubar, wbar, sigma, e, 1, np2, nq2, b0, GEOM_PASS);
    else
        dual_step(p, q, ubar, wbar, sigma, e, 0, np2, nq2, b0, GEOM_PASS);
#if COUPLED
    for (int v = 0; v < CH / NC; ++v) {
        real sp = 0, sq = 0;
        for (int c = 0; c < NC; ++c) { sp += np2[v * NC + c]; sq += nq2[v * NC + c]; }
        for (int c = 0; c < NC; ++c) { np2[v * NC + c] = sp; nq2[v * NC + c] = sq; }
    }
#endif
    for (int j = 0; j < CH; ++j) {
        const size_t i = e.i0 + j;
        const real valid = b0 + j < nx * NC;   /* padding entries stay 0 */
        const real fp = valid / fmax((real)1, sqrt(np2[j]) / alpha1);
        const real fq = valid / fmax((real)1, sqrt(nq2[j]) / alpha0);
        for (int d = 0; d < 3; ++d) p[i + d * n] *= fp;
        for (int k = 0; k < 6; ++k) q[i + k * n] *= fq;
    }
}

/* r <- prox_{sigma (mu KL)^*}(r + sigma * scale * T ubar) with data f and weight mu[c];
 * global size (bp / CH, ndet, nang). Padding entries (mu = 0, f = 0) stay zero. */
__kernel void tgv_data(__global real *r, __global const real *f, __global const real *ubar,
                       __global const real *ang, __global const real *mu, const real sigma,
                       const real scale, GEOM_ARGS, const int ndet)
{
    const int b0 = get_global_id(0) * CH, s = get_global_id(1), k = get_global_id(2);
    real acc[CH];
    radon_gather(acc, ubar, s, ang[2 * k], ang[2 * k + 1], b0, GEOM_PASS, ndet);
    const size_t i = ((size_t)k * ndet + s) * bp + b0;
    for (int j = 0; j < CH; ++j) {
        const int b = b0 + j;
        const real m = b < nx * NC ? mu[b % NC] : (real)0;
        const real rr = r[i + j] + sigma * scale * acc[j];
        const real d = rr - m;
        r[i + j] = rr - (real)0.5 * (d + sqrt(d * d + (real)4 * sigma * m * f[i + j]));
    }
}

/* u+ = max(0, u - tau (grad^T p + scale T^T r)), w+ = w - tau (-p + E^T q),
 * then ubar = 2 u+ - u, wbar = 2 w+ - w, (u, w) = (u+, w+); global size (bp / CH, nz, ny). */
inline void primal_step(__global real *restrict u, __global real *restrict ubar, __global real *restrict w,
                        __global real *restrict wbar, __global const real *restrict p,
                        __global const real *restrict q, const real *restrict acc,
                        const real tau, const real scale, const pix_t e, const int inside,
                        const int b0, GEOM_ARGS)
{
    const size_t n = (size_t)ny * nz * bp;
    __global const real *p0 = p, *p1 = p + n, *p2 = p + 2 * n;
    __global const real *q0 = q, *q1 = q + n, *q2 = q + 2 * n, *q3 = q + 3 * n, *q4 = q + 4 * n,
                        *q5 = q + 5 * n;
    for (int j = 0; j < CH; ++j) {
        const size_t i = e.i0 + j;
        X_NEIGHBOURS(inside, i, b0 + j, n);
        const real valid = b0 + j < nx * NC;   /* padding entries stay 0 */
        /* grad^T p = sum_d (delta_{d+})^T p_d */
        const real div = (e.ly * p0[i - e.by] - e.hy * p0[i]) + (e.lz * p1[i - e.bz] - e.hz * p1[i])
                         + (lx * p2[ixb] - hx * p2[i]);
        const real uo = u[i];
        const real un = valid * fmax((real)0, uo - tau * (div + scale * acc[j]));
        u[i] = un;
        ubar[i] = (real)2 * un - uo;
        /* E^T q, (delta_{d-})^T q = l q[i] - h q[i + forward] */
        real a[3];
        a[0] = (e.ly * q0[i] - e.hy * q0[i + e.fy]) + (e.lz * q3[i] - e.hz * q3[i + e.fz])
               + (lx * q4[i] - hx * q4[ixf]);
        a[1] = (e.lz * q1[i] - e.hz * q1[i + e.fz]) + (e.ly * q3[i] - e.hy * q3[i + e.fy])
               + (lx * q5[i] - hx * q5[ixf]);
        a[2] = (lx * q2[i] - hx * q2[ixf]) + (e.ly * q4[i] - e.hy * q4[i + e.fy])
               + (e.lz * q5[i] - e.hz * q5[i + e.fz]);
        for (int d = 0; d < 3; ++d) {
            const size_t id = i + d * n;
            const real wo = w[id];
            const real wn = valid * (wo - tau * (a[d] - p[id]));
            w[id] = wn;
            wbar[id] = (real)2 * wn - wo;
        }
    }
}

__kernel void tgv_primal(__global real *u, __global real *ubar, __global real *w, __global real *wbar,
                         __global const real *p, __global const real *q, __global const real *r,
                         __global const real *ang, const int nang, const real tau, const real scale,
                         GEOM_ARGS, const int ndet)
{
    const int b0 = get_global_id(0) * CH, z = get_global_id(1), y = get_global_id(2);
    real acc[CH];
    radon_adjoint_gather(acc, r, ang, nang, y, z, b0, GEOM_PASS, ndet);
    const pix_t e = pixel(y, z, b0, GEOM_PASS);
    if (e.inside)
        primal_step(u, ubar, w, wbar, p, q, acc, tau, scale, e, 1, b0, GEOM_PASS);
    else
        primal_step(u, ubar, w, wbar, p, q, acc, tau, scale, e, 0, b0, GEOM_PASS);
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
