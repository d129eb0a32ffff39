/* bfloat16 <-> float conversions, identical on host and device
 * (round to nearest even; NaN stays NaN). */
#ifndef DAOE_BF16_H
#define DAOE_BF16_H
#include <stdint.h>
#include "hd.h"

DAOE_HD static inline uint16_t daoe_f32_to_bf16(float f) {
    union { float f; uint32_t u; } x;
    x.f = f;
    uint32_t rounded = (x.u + 0x7fffu + ((x.u >> 16) & 1u)) >> 16;
    uint32_t quiet = (x.u >> 16) | 0x40u;
    /* a select, not a branch: the CPU loop that calls this vectorises */
    return (uint16_t)(((x.u & 0x7fffffffu) > 0x7f800000u) ? quiet : rounded);
}

DAOE_HD static inline float daoe_bf16_to_f32(uint16_t h) {
    union { float f; uint32_t u; } x;
    x.u = (uint32_t)h << 16;
    return x.f;
}
#endif
