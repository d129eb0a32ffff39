/* Counter-based random numbers (Random123 Philox4x32-10) shared by CPU and GPU.
 *
 * Every draw is a pure function of (seed, stream, counters): the same numbers
 * come out on every backend and thread count. Streams:
 *   INIT    ctr = {element/2, tensor index, 0, INIT}     -> Kaiming normals
 *   SHUFFLE ctr = {image index, epoch, 0, SHUFFLE}       -> 64-bit sort keys
 *   AUG     ctr = {image index, epoch, 0, AUG}           -> crop offsets, flip
 * The key is the 64-bit seed split into two 32-bit words. */
#ifndef DAOE_RNG_H
#define DAOE_RNG_H
#include <stdint.h>
#ifdef __CUDACC__
/* the same draws in host and device code of a .cu file */
#define R123_CUDA_DEVICE __host__ __device__
#define R123_ASSERT(x)
#endif
#include <Random123/philox.h>
#include "hd.h"

enum { DAOE_STREAM_INIT = 1, DAOE_STREAM_SHUFFLE = 2, DAOE_STREAM_AUG = 3, DAOE_STREAM_CTRL = 4 };

DAOE_HD static inline philox4x32_ctr_t daoe_philox(uint64_t seed, uint32_t c0, uint32_t c1,
                                                   uint32_t c2, uint32_t stream) {
    philox4x32_key_t k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    philox4x32_ctr_t c = {{c0, c1, c2, stream}};
    return philox4x32(c, k);
}

/* Augmentation of image `index` in `epoch`: crop offsets oy, ox in [0, 8]
 * (into the 40x40 zero-padded image) and a horizontal flip bit. */
typedef struct { int oy, ox, flip; } daoe_aug;

DAOE_HD static inline daoe_aug daoe_aug_params(uint64_t seed, int epoch, int index) {
    philox4x32_ctr_t r = daoe_philox(seed, (uint32_t)index, (uint32_t)epoch, 0, DAOE_STREAM_AUG);
    daoe_aug a;
    a.oy = (int)(r.v[0] % 9u);
    a.ox = (int)(r.v[1] % 9u);
    a.flip = (int)(r.v[2] & 1u);
    return a;
}
#endif
