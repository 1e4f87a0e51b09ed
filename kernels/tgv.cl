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
 * One work item per voxel (x, z, y) handling all NC channels; global size (nx, nz, ny). */
__kernel void tgv_dual(__global real *p, __global real *q, __global const real *ubar,
                       __global const real *wbar, const real sigma, const real alpha0,
                       const real alpha1, GEOM_ARGS)
{
    const int x = get_global_id(0), z = get_global_id(1), y = get_global_id(2);
    const size_t n = (size_t)ny * nz * bp;
    real pn[NC][3], qn[NC][6];
    real np2[NC], nq2[NC];
    for (int c = 0; c < NC; ++c) {
        const vox_t v = voxel(y, z, x * NC + c, GEOM_PASS);
        real g[3], e[6];
        grad_at(g, ubar, v);
        symgrad_at(e, wbar, n, v);
        np2[c] = 0; nq2[c] = 0;
        for (int d = 0; d < 3; ++d) {
            pn[c][d] = p[v.i + d * n] + sigma * (g[d] - wbar[v.i + d * n]);
            np2[c] += pn[c][d] * pn[c][d];
        }
        for (int k = 0; k < 6; ++k) {
            qn[c][k] = q[v.i + k * n] + sigma * e[k];
            nq2[c] += (k < 3 ? (real)1 : (real)2) * qn[c][k] * qn[c][k];
        }
    }
#if COUPLED
    real sp = 0, sq = 0;
    for (int c = 0; c < NC; ++c) { sp += np2[c]; sq += nq2[c]; }
    for (int c = 0; c < NC; ++c) { np2[c] = sp; nq2[c] = sq; }
#endif
    for (int c = 0; c < NC; ++c) {
        const size_t i = ((size_t)y * nz + z) * bp + x * NC + c;
        const real fp = (real)1 / fmax((real)1, sqrt(np2[c]) / alpha1);
        const real fq = (real)1 / fmax((real)1, sqrt(nq2[c]) / alpha0);
        for (int d = 0; d < 3; ++d) p[i + d * n] = fp * pn[c][d];
        for (int k = 0; k < 6; ++k) q[i + k * n] = fq * qn[c][k];
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
__kernel void tgv_primal(__global real *u, __global real *ubar, __global real *w, __global real *wbar,
                         __global const real *p, __global const real *q, __global const real *r,
                         __global const real *ang, const int nang, const real tau, const real scale,
                         GEOM_ARGS, const int ndet)
{
    const int b0 = get_global_id(0) * CH, z = get_global_id(1), y = get_global_id(2);
    const size_t n = (size_t)ny * nz * bp;
    real acc[CH];
    radon_adjoint_gather(acc, r, ang, nang, y, z, b0, GEOM_PASS, ndet);
    for (int j = 0; j < CH; ++j) {
        const vox_t v = voxel(y, z, b0 + j, GEOM_PASS);
        if (!v.valid) continue;
        const real uo = u[v.i];
        const real un = fmax((real)0, uo - tau * (grad_adj_at(p, n, v) + scale * acc[j]));
        u[v.i] = un;
        ubar[v.i] = (real)2 * un - uo;
        real a[3];
        symgrad_adj_at(a, q, n, v);
        for (int d = 0; d < 3; ++d) {
            const size_t id = v.i + d * n;
            const real wo = w[id];
            const real wn = wo - tau * (a[d] - p[id]);
            w[id] = wn;
            wbar[id] = (real)2 * wn - wo;
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
