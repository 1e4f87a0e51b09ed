/* Shared definitions for spectomo kernels.
 * Build with -DSPECTOMO_DOUBLE for float64; default float32. */
#ifndef SPECTOMO_COMMON_CL
#define SPECTOMO_COMMON_CL

#ifdef SPECTOMO_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
#define REAL_NAME double
#else
typedef float real;
#define REAL_NAME float
#endif

#endif
