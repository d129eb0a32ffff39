/* Helpers shared by the C tests: a checker that counts failures, random
 * fills from Philox, and the CTest skip code. */
#ifndef DAOE_TESTUTIL_H
#define DAOE_TESTUTIL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daoe/rng.h"

#define SKIP_CODE 77
static int t_failures = 0;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            t_failures++;                                             \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);               \
            printf(__VA_ARGS__);                                      \
            printf("\n");                                             \
        }                                                             \
    } while (0)

/* uniform in [-1, 1) or standard normal, reproducible */
static inline void fill_uniform(float *x, size_t n, uint64_t seed, float scale) {
    for (size_t i = 0; i < n; i++) {
        philox4x32_ctr_t r = daoe_philox(seed, (uint32_t)i, (uint32_t)(i >> 32), 77, 99);
        x[i] = scale * (float)((double)r.v[0] / 2147483648.0 - 1.0);
    }
}
static inline void fill_normal(float *x, size_t n, uint64_t seed, float scale) {
    for (size_t i = 0; i < n; i++) {
        philox4x32_ctr_t r = daoe_philox(seed, (uint32_t)i, (uint32_t)(i >> 32), 78, 99);
        double u1 = ((double)r.v[0] + 1.0) / 4294967296.0, u2 = (double)r.v[1] / 4294967296.0;
        x[i] = scale * (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
    }
}
static inline int test_result(const char *name) {
    if (t_failures) printf("%s: %d check(s) FAILED\n", name, t_failures);
    else printf("%s: all checks passed\n", name);
    return t_failures ? 1 : 0;
}
#endif
