/* Shared layout of spectomo's batched tomography arrays.
 *
 * Volumes: [y][z][b], b = x * NC + c is the batch index (slice x along the tilt axis, channel c),
 *          padded to bp (a multiple of CH) with zeros; vector fields stack components [k][y][z][b].
 * Sinograms: [angle][detector][b], the same batch index.
 * NC (channels) and CH (batch entries per work item) are compile-time constants (-D). */
#ifndef SPECTOMO_GEOMETRY_CL
#define SPECTOMO_GEOMETRY_CL
#include "common.cl"

#ifndef NC
#define NC 1
#endif
#ifndef CH
#define CH 8
#endif
#ifndef DIMS
#define DIMS 3
#endif

/* VW: batch entries handled as one OpenCL vector (a divisor of CH; 1 = scalar code). The CPU
 * compilers (PoCL) do not vectorise the loops over a chunk by themselves, so the kernels load,
 * multiply and store realv vectors explicitly; NV vectors make up a chunk. */
#ifndef VW
#define VW 1
#endif
#if (CH % VW) != 0
#error "geometry.cl: VW must divide CH"
#endif
#define NV (CH / VW)
#if VW == 1
typedef real realv;
#define VLOAD(k, p) ((p)[k])
#define VSTORE(x, k, p) ((p)[k] = (x))
#else
#define SPECTOMO_CAT_(a, b) a##b
#define SPECTOMO_CAT(a, b) SPECTOMO_CAT_(a, b)
typedef SPECTOMO_CAT(REAL_NAME, VW) realv;
#define VLOAD(k, p) SPECTOMO_CAT(vload, VW)(k, p)
#define VSTORE(x, k, p) SPECTOMO_CAT(vstore, VW)(x, k, p)
#endif

/* sizes passed to every kernel, in this order */
#define GEOM_ARGS const int ny, const int nz, const int nx, const int bp
#define GEOM_PASS ny, nz, nx, bp

#endif
