/* Host/device qualifier for code shared by the C library and the CUDA kernels.
 * Every per-element rule (optimizers, augmentation, RNG draws) is written once
 * as a DAOE_HD static inline function and compiled by both gcc and nvcc. */
#ifndef DAOE_HD_H
#define DAOE_HD_H
#ifdef __CUDACC__
#define DAOE_HD __host__ __device__
#define DAOE_INLINE __forceinline__
#else
#define DAOE_HD
/* the fused optimizer element must inline into the CPU loops to vectorise */
#define DAOE_INLINE inline __attribute__((always_inline))
#endif
#endif
