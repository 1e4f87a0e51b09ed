/* Finite differences on the batched volume layout (geometry.cl), Neumann (replicate) boundary,
 * as in Huber et al. (2019): gradient with forward differences, symmetrised gradient with
 * backward differences. Directions: 0 = y, 1 = z, 2 = x (the tilt axis, along the batch with stride
 * NC; zero when DIMS == 2, i.e. slice-wise regularisation).
 * Symmetrised gradient components: (yy, zz, xx, yz, yx, zx); off-diagonals are stored once and
 * weighted twice in the Frobenius norm and in the inner product, so E^T below is the adjoint for
 * that inner product. NumPy twins: spectomo/recon/reference.py. */
#ifndef SPECTOMO_GRADIENT_CL
#define SPECTOMO_GRADIENT_CL
#include "geometry.cl"

/* position of one voxel entry, with neighbour strides and boundary flags */
typedef struct {
    size_t i;          /* flat index (y * nz + z) * bp + b */
    size_t st[3];      /* strides of y, z, x */
    int lo[3], hi[3];  /* 1 when a neighbour exists below / above in each direction */
    int valid;         /* 0 for padding entries (x >= nx) */
} vox_t;

inline vox_t voxel(const int y, const int z, const int b, GEOM_ARGS)
{
    vox_t v;
    const int x = b / NC;
    v.i = ((size_t)y * nz + z) * bp + b;
    v.st[0] = (size_t)nz * bp; v.st[1] = (size_t)bp; v.st[2] = (size_t)NC;
    v.lo[0] = y > 0; v.hi[0] = y + 1 < ny;
    v.lo[1] = z > 0; v.hi[1] = z + 1 < nz;
    v.lo[2] = DIMS == 3 && x > 0; v.hi[2] = DIMS == 3 && x + 1 < nx;
    v.valid = x < nx;
    return v;
}

/* forward difference delta_{d+} u at v */
inline real dfwd(__global const real *u, const vox_t v, const int d)
{
    return v.hi[d] ? u[v.i + v.st[d]] - u[v.i] : (real)0;
}

/* backward difference delta_{d-} u at v */
inline real dbwd(__global const real *u, const vox_t v, const int d)
{
    return v.lo[d] ? u[v.i] - u[v.i - v.st[d]] : (real)0;
}

/* (delta_{d+})^T p at v */
inline real dfwd_adj(__global const real *p, const vox_t v, const int d)
{
    return (v.lo[d] ? p[v.i - v.st[d]] : (real)0) - (v.hi[d] ? p[v.i] : (real)0);
}

/* (delta_{d-})^T q at v */
inline real dbwd_adj(__global const real *q, const vox_t v, const int d)
{
    return (v.lo[d] ? q[v.i] : (real)0) - (v.hi[d] ? q[v.i + v.st[d]] : (real)0);
}

/* gradient: g[d] = delta_{d+} u */
inline void grad_at(real *g, __global const real *u, const vox_t v)
{
    for (int d = 0; d < 3; ++d) g[d] = dfwd(u, v, d);
}

/* gradient adjoint (minus divergence): sum_d (delta_{d+})^T p_d; p has components at p + d * n */
inline real grad_adj_at(__global const real *p, const size_t n, const vox_t v)
{
    return dfwd_adj(p, v, 0) + dfwd_adj(p + n, v, 1) + dfwd_adj(p + 2 * n, v, 2);
}

/* symmetrised gradient of w (components at w + d * n) */
inline void symgrad_at(real *e, __global const real *w, const size_t n, const vox_t v)
{
    __global const real *w0 = w, *w1 = w + n, *w2 = w + 2 * n;
    e[0] = dbwd(w0, v, 0);
    e[1] = dbwd(w1, v, 1);
    e[2] = dbwd(w2, v, 2);
    e[3] = (real)0.5 * (dbwd(w0, v, 1) + dbwd(w1, v, 0));
    e[4] = (real)0.5 * (dbwd(w0, v, 2) + dbwd(w2, v, 0));
    e[5] = (real)0.5 * (dbwd(w1, v, 2) + dbwd(w2, v, 1));
}

/* adjoint of the symmetrised gradient (weighted inner product) */
inline void symgrad_adj_at(real *a, __global const real *q, const size_t n, const vox_t v)
{
    __global const real *q0 = q, *q1 = q + n, *q2 = q + 2 * n, *q3 = q + 3 * n, *q4 = q + 4 * n,
                        *q5 = q + 5 * n;
    a[0] = dbwd_adj(q0, v, 0) + dbwd_adj(q3, v, 1) + dbwd_adj(q4, v, 2);
    a[1] = dbwd_adj(q1, v, 1) + dbwd_adj(q3, v, 0) + dbwd_adj(q5, v, 2);
    a[2] = dbwd_adj(q2, v, 2) + dbwd_adj(q4, v, 0) + dbwd_adj(q5, v, 1);
}

/* Branch-free neighbours for loops over the CH entries of one pixel (y, z) in realv vectors, used
 * by the fused TGV kernels. In y and z the neighbour offset is 0 where the neighbour is missing: a
 * difference then reads the entry itself and is exactly 0, as the Neumann boundary above demands.
 * In x (stride NC inside the batch) the existence flags vary along the chunk; they are kept per
 * entry as 0/1 factors. Same values as the vox_t functions above, bit for bit. */
typedef struct {
    size_t i0;               /* flat index of entry b0 */
    size_t fy, by, fz, bz;   /* offsets to the forward / backward neighbour in y, z (0: none) */
    real hy, ly, hz, lz;     /* 1 where that neighbour exists */
} pix_t;

inline pix_t pixel(const int y, const int z, const int b0, GEOM_ARGS)
{
    pix_t e;
    const size_t sy = (size_t)nz * bp;
    e.i0 = ((size_t)y * nz + z) * bp + b0;
    e.fy = y + 1 < ny ? sy : 0; e.by = y > 0 ? sy : 0;
    e.fz = z + 1 < nz ? (size_t)bp : 0; e.bz = z > 0 ? (size_t)bp : 0;
    e.hy = y + 1 < ny; e.ly = y > 0; e.hz = z + 1 < nz; e.lz = z > 0;
    return e;
}

/* per entry b0 + j of the chunk: forward / backward x-neighbour exists, entry is not padding */
inline void x_flags(real *hx, real *lx, real *valid, const int b0, const int nx)
{
    for (int j = 0; j < CH; ++j) {
        const int x = (b0 + j) / NC;
        hx[j] = DIMS == 3 && x + 1 < nx;
        lx[j] = DIMS == 3 && x > 0;
        valid[j] = x < nx;
    }
}

/* the VW entries a[i + off + l]; a lane whose index falls outside [0, n) reads a[i + l] instead
 * (only lanes whose x-neighbour flag is 0 can fall outside, so the value is never used) */
inline realv vload_off(__global const real *a, const size_t i, const int off, const size_t n)
{
    const long lo = (long)i + off;
    if (lo >= 0 && lo + VW <= (long)n) return VLOAD(0, a + lo);
    real t[VW];
    for (int l = 0; l < VW; ++l) {
        const long k = lo + l;
        t[l] = k >= 0 && k < (long)n ? a[k] : a[i + l];
    }
    return VLOAD(0, t);
}

/* Stand-alone operator kernels, global size (bp, nz, ny); n = ny * nz * bp */

__kernel void grad_fwd(__global real *g, __global const real *u, GEOM_ARGS)
{
    const vox_t v = voxel(get_global_id(2), get_global_id(1), get_global_id(0), GEOM_PASS);
    const size_t n = (size_t)ny * nz * bp;
    real t[3];
    grad_at(t, u, v);
    for (int d = 0; d < 3; ++d) g[v.i + d * n] = v.valid ? t[d] : (real)0;
}

__kernel void grad_adj(__global real *u, __global const real *p, GEOM_ARGS)
{
    const vox_t v = voxel(get_global_id(2), get_global_id(1), get_global_id(0), GEOM_PASS);
    const size_t n = (size_t)ny * nz * bp;
    u[v.i] = v.valid ? grad_adj_at(p, n, v) : (real)0;
}

__kernel void symgrad_fwd(__global real *e, __global const real *w, GEOM_ARGS)
{
    const vox_t v = voxel(get_global_id(2), get_global_id(1), get_global_id(0), GEOM_PASS);
    const size_t n = (size_t)ny * nz * bp;
    real t[6];
    symgrad_at(t, w, n, v);
    for (int k = 0; k < 6; ++k) e[v.i + k * n] = v.valid ? t[k] : (real)0;
}

__kernel void symgrad_adj(__global real *w, __global const real *q, GEOM_ARGS)
{
    const vox_t v = voxel(get_global_id(2), get_global_id(1), get_global_id(0), GEOM_PASS);
    const size_t n = (size_t)ny * nz * bp;
    real t[3];
    symgrad_adj_at(t, q, n, v);
    for (int d = 0; d < 3; ++d) w[v.i + d * n] = v.valid ? t[d] : (real)0;
}

#endif
