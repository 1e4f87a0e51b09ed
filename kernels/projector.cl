/* Parallel-beam projector of Huber et al. (2019), eq. (8): pixel-driven, linear interpolation
 * (hat function of width one detector pixel). Detector position of pixel (y, z) at angle k:
 *     t = (y - (ny-1)/2) cos(theta) - (z - (nz-1)/2) sin(theta) + (ndet-1)/2
 * (ASTRA's parallel-beam orientation). Pixel (y, z) adds (1 - f) to bin floor(t) and f to the next.
 * The forward projection gathers per detector bin and the back-projection per pixel, both from
 * the same weights, so the pair is the exact adjoint (up to float rounding of the summation).
 * ang holds (cos, -sin) per angle. NumPy twin: spectomo/recon/reference.py (radon_matrix).
 * Include and call radon_gather / radon_scatter_gather from solver kernels. */
#ifndef SPECTOMO_PROJECTOR_CL
#define SPECTOMO_PROJECTOR_CL
#include "geometry.cl"

inline real det_pos(const int y, const int z, const real ca, const real sa, const int ny,
                    const int nz, const int ndet)
{
    return ((real)y - (real)0.5 * (real)(ny - 1)) * ca + ((real)z - (real)0.5 * (real)(nz - 1)) * sa
           + (real)0.5 * (real)(ndet - 1);
}

/* Candidate pixels: those within 1/|cos| (or 1/|sin|) of the bin's line along the walked axis,
 * widened by RANGE_SLACK pixels so that rounding in yy never drops a pixel whose weight
 * det_pos gives as > 0; every candidate's weight is still tested. */
#define RANGE_SLACK ((real)0.015625)

/* acc[0..CH) = sum over pixels of w * vol[pixel][b0 + j], for detector bin s at angle (ca, sa) */
inline void radon_gather(real *acc, __global const real *vol, const int s, const real ca, const real sa,
                         const int b0, GEOM_ARGS, const int ndet)
{
    realv a[NV];
    for (int m = 0; m < NV; ++m) a[m] = (realv)(0);
    const real yc = (real)0.5 * (real)(ny - 1), zc = (real)0.5 * (real)(nz - 1);
    const real c0 = (real)0.5 * (real)(ndet - 1);
    if (fabs(ca) >= fabs(sa)) {          /* steep in y: walk z, solve for the y range */
        const real reach = (real)1 / fabs(ca) + RANGE_SLACK;
        for (int z = 0; z < nz; ++z) {
            const real yy = ((real)s - c0 - ((real)z - zc) * sa) / ca + yc;
            const int ylo = max(0, (int)ceil(yy - reach)), yhi = min(ny - 1, (int)floor(yy + reach));
            for (int y = ylo; y <= yhi; ++y) {
                const real w = (real)1 - fabs(det_pos(y, z, ca, sa, ny, nz, ndet) - (real)s);
                if (w > 0) {
                    __global const real *v = vol + ((size_t)y * nz + z) * bp + b0;
                    for (int m = 0; m < NV; ++m) a[m] += w * VLOAD(m, v);
                }
            }
        }
    } else {                              /* steep in z: walk y, solve for the z range */
        const real reach = (real)1 / fabs(sa) + RANGE_SLACK;
        for (int y = 0; y < ny; ++y) {
            const real zz = ((real)s - c0 - ((real)y - yc) * ca) / sa + zc;
            const int zlo = max(0, (int)ceil(zz - reach)), zhi = min(nz - 1, (int)floor(zz + reach));
            for (int z = zlo; z <= zhi; ++z) {
                const real w = (real)1 - fabs(det_pos(y, z, ca, sa, ny, nz, ndet) - (real)s);
                if (w > 0) {
                    __global const real *v = vol + ((size_t)y * nz + z) * bp + b0;
                    for (int m = 0; m < NV; ++m) a[m] += w * VLOAD(m, v);
                }
            }
        }
    }
    for (int m = 0; m < NV; ++m) VSTORE(a[m], m, acc);
}

/* acc[0..CH) = back-projection of sino at pixel (y, z), batch entries b0..b0+CH */
inline void radon_adjoint_gather(real *acc, __global const real *sino, __global const real *ang,
                                 const int nang, const int y, const int z, const int b0, GEOM_ARGS,
                                 const int ndet)
{
    realv sum[NV];
    for (int m = 0; m < NV; ++m) sum[m] = (realv)(0);
    for (int k = 0; k < nang; ++k) {
        const real t = det_pos(y, z, ang[2 * k], ang[2 * k + 1], ny, nz, ndet);
        const real fl = floor(t);
        const int i0 = (int)fl;
        const real f = t - fl;
        __global const real *row = sino + ((size_t)k * ndet) * bp + b0;
        if (i0 >= 0 && i0 < ndet) {
            const real w = (real)1 - f;
            __global const real *a = row + (size_t)i0 * bp;
            for (int m = 0; m < NV; ++m) sum[m] += w * VLOAD(m, a);
        }
        if (i0 + 1 >= 0 && i0 + 1 < ndet && f > 0) {
            __global const real *a = row + (size_t)(i0 + 1) * bp;
            for (int m = 0; m < NV; ++m) sum[m] += f * VLOAD(m, a);
        }
    }
    for (int m = 0; m < NV; ++m) VSTORE(sum[m], m, acc);
}

/* sino = scale * T vol; global size (bp / CH, ndet, nang rounded up to the work-group size) */
__kernel void radon_fwd(__global real *sino, __global const real *vol, __global const real *ang,
                        const real scale, GEOM_ARGS, const int ndet, const int nang)
{
    const int b0 = get_global_id(0) * CH, s = get_global_id(1), k = get_global_id(2);
    if (k >= nang) return;
    real acc[CH];
    radon_gather(acc, vol, s, ang[2 * k], ang[2 * k + 1], b0, GEOM_PASS, ndet);
    __global real *out = sino + ((size_t)k * ndet + s) * bp + b0;
    for (int j = 0; j < CH; ++j) out[j] = scale * acc[j];
}

/* vol = scale * T^T sino; global size (bp / CH, nz, ny) */
__kernel void radon_adj(__global real *vol, __global const real *sino, __global const real *ang,
                        const int nang, const real scale, GEOM_ARGS, const int ndet)
{
    const int b0 = get_global_id(0) * CH, z = get_global_id(1), y = get_global_id(2);
    real acc[CH];
    radon_adjoint_gather(acc, sino, ang, nang, y, z, b0, GEOM_PASS, ndet);
    __global real *out = vol + ((size_t)y * nz + z) * bp + b0;
    for (int j = 0; j < CH; ++j) out[j] = scale * acc[j];
}

#endif
