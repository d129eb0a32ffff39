/* CPU backend, the network's head: global average pooling, the linear layer
 * (OpenBLAS sgemm) and softmax cross-entropy with the batch's loss, accuracy
 * and entropy statistics. Convolutions and batch norm are elsewhere. */
#include "cpu.h"
#include "xent_row.h"
#include <cblas.h>
#include <math.h>
#include <string.h>

void cpu_avgpool_fwd(daoe_backend *be, int N, int C, int HW, const void *xv, float *y) {
    const float *x = xv;
    const cpu_strides_t s = cpu_strides(be, N, C, HW);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++) {
            const float *p = x + n * s.sn + c * s.sc;
            float sum = 0.0f;
            for (int i = 0; i < HW; i++) sum += p[i * s.sp];
            y[(size_t)n * C + c] = sum / (float)HW;
        }
}

void cpu_avgpool_bwd(daoe_backend *be, int N, int C, int HW, const float *dy, void *dxv) {
    float *dx = dxv;
    const cpu_strides_t s = cpu_strides(be, N, C, HW);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++) {
            float v = dy[(size_t)n * C + c] / (float)HW;
            float *p = dx + n * s.sn + c * s.sc;
            for (int i = 0; i < HW; i++) p[i * s.sp] = v;
        }
}

void cpu_linear_fwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W,
                    const float *b, float *y) {
    (void)be;
    for (int n = 0; n < N; n++) memcpy(y + (size_t)n * out, b, sizeof(float) * out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, x, in, W, in, 1.0f, y, out);
}

void cpu_linear_bwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W,
                    const float *dy, float *dx, float *dW, float *db) {
    (void)be;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, N, 1.0f, dy, out, x, in, 0.0f, dW, in);
    for (int o = 0; o < out; o++) {
        double s = 0.0;
        for (int n = 0; n < N; n++) s += dy[(size_t)n * out + o];
        db[o] = (float)s;
    }
}

void cpu_xent(daoe_backend *be, int N, int K, const float *logits, const int32_t *y,
              float *dlogits, float *stats) {
    (void)be;
    double sums[3] = {0.0, 0.0, 0.0}; /* loss, correct, entropy */
    daoe_xent_rows(logits, y, N, K, dlogits, 0, 1, sums);
    stats[DAOE_ST_LOSS] = (float)(sums[0] / N);
    stats[DAOE_ST_CORRECT] = (float)sums[1];
    stats[DAOE_ST_ENTROPY] = (float)(sums[2] / N / log((double)K));
}

