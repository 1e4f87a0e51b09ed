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

/* sizes passed to every kernel, in this order */
#define GEOM_ARGS const int ny, const int nz, const int nx, const int bp
#define GEOM_PASS ny, nz, nx, bp

#endif
