/* CPU backend, data: load_batch, the batch of images gathered by index,
 * augmented (crop with pad 4 and flip, from the same Philox draws as the
 * GPU), normalised into CNHW, with the batch's input statistics. Reading
 * the CIFAR files is lib/core/cifar10.c, not here. */
#include "cpu.h"
#include "daoe/cifar10.h"
#include "daoe/rng.h"
#include "daoe/util.h"
#include <stdlib.h>

void cpu_load_batch(daoe_backend *be, const uint8_t *images, const int32_t *labels,
                    const int32_t *idx, int N, int augment, uint64_t seed, int epoch, void *xv,
                    int32_t *y, float *stats) {
    float *x = xv;
    double *psum = daoe_xcalloc((size_t)N * 2, sizeof(double));
    const cpu_strides_t st = cpu_strides(be, N, 3, 1024);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        int id = idx[i];
        const uint8_t *img = images + (size_t)id * DAOE_IMG_BYTES;
        daoe_aug a = {4, 4, 0};
        if (augment) a = daoe_aug_params(seed, epoch, id);
        double s = 0.0, s2 = 0.0;
        for (int c = 0; c < 3; c++) {
            float m = daoe_cifar_mean[c], is = 1.0f / daoe_cifar_std[c];
            float zero = (0.0f - m) * is;
            float *dst = x + c * st.sc + (size_t)i * st.sn;
            for (int yy = 0; yy < 32; yy++) {
                int sy = yy + a.oy - 4;
                for (int xx = 0; xx < 32; xx++) {
                    int cx = a.flip ? 31 - xx : xx;
                    int sx = cx + a.ox - 4;
                    float v = (sy >= 0 && sy < 32 && sx >= 0 && sx < 32)
                                  ? ((float)img[c * 1024 + sy * 32 + sx] * (1.0f / 255.0f) - m) * is
                                  : zero;
                    dst[(size_t)(yy * 32 + xx) * st.sp] = v;
                    s += v;
                    s2 += (double)v * v;
                }
            }
        }
        psum[2 * i] = s;
        psum[2 * i + 1] = s2;
        y[i] = labels[id];
    }
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        s += psum[2 * i];
        s2 += psum[2 * i + 1];
    }
    free(psum);
    double cnt = (double)N * 3072.0, mean = s / cnt;
    stats[DAOE_ST_XMEAN] = (float)mean;
    stats[DAOE_ST_XVAR] = (float)(s2 / cnt - mean * mean);
    stats[DAOE_ST_N] = (float)N;
}

