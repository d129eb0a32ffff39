/* CPU backend, batch norm with the fused residual add and ReLU: forward
 * (training and eval) and backward, one channel per OpenMP iteration. */
#include "cpu.h"
#include <math.h>
#include <string.h>

/* Sums run in float over fixed chunks of BN_CHUNK elements (vectorised) and
 * in double across chunks: fixed order, no dependence on threads. */
#define BN_CHUNK 512

/* sum of (x - shift), or of (x - shift)^2 when square */
static double chunk_sum(const float *x, size_t M, float shift, int square) {
    double s = 0.0;
    for (size_t i0 = 0; i0 < M; i0 += BN_CHUNK) {
        size_t n = M - i0 < BN_CHUNK ? M - i0 : BN_CHUNK;
        float cs = 0.0f;
        if (square) {
#pragma omp simd reduction(+ : cs)
            for (size_t i = 0; i < n; i++) {
                float d = x[i0 + i] - shift;
                cs += d * d;
            }
        } else {
#pragma omp simd reduction(+ : cs)
            for (size_t i = 0; i < n; i++) cs += x[i0 + i] - shift;
        }
        s += cs;
    }
    return s;
}

void cpu_bn_fwd(daoe_backend *be, int N, int C, int HW, const void *xv, const void *resv,
                void *yv, const float *gamma, const float *beta, float *rmean, float *rvar,
                float *smean, float *sinv, int training, int relu, float momentum, float eps) {
    (void)be;
    const size_t M = (size_t)N * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *x = (const float *)xv + c * M;
        const float *r = resv ? (const float *)resv + c * M : NULL;
        float *y = (float *)yv + c * M;
        float mean, invstd;
        if (training) {
            double mu = chunk_sum(x, M, 0.0f, 0) / (double)M;
            /* second pass around the float mean, corrected for its rounding */
            float muf = (float)mu;
            double dm = chunk_sum(x, M, muf, 0) / (double)M;
            double v = chunk_sum(x, M, muf, 1) - (double)M * dm * dm;
            if (v < 0) v = 0;
            mu = (double)muf + dm;
            double var = v / (double)M;
            mean = (float)mu;
            invstd = (float)(1.0 / sqrt(var + (double)eps));
            smean[c] = mean;
            sinv[c] = invstd;
            double unb = M > 1 ? v / (double)(M - 1) : var;
            rmean[c] = (1.0f - momentum) * rmean[c] + momentum * (float)mu;
            rvar[c] = (1.0f - momentum) * rvar[c] + momentum * (float)unb;
        } else {
            mean = rmean[c];
            invstd = (float)(1.0 / sqrt((double)rvar[c] + (double)eps));
        }
        const float scale = gamma[c] * invstd, shift = beta[c] - mean * scale;
        if (r && relu) {
#pragma omp simd
            for (size_t i = 0; i < M; i++) {
                float v = x[i] * scale + shift + r[i];
                y[i] = v > 0.0f ? v : (v != v ? v : 0.0f);
            }
        } else if (relu) {
#pragma omp simd
            for (size_t i = 0; i < M; i++) {
                float v = x[i] * scale + shift;
                y[i] = v > 0.0f ? v : (v != v ? v : 0.0f);
            }
        } else if (r) {
#pragma omp simd
            for (size_t i = 0; i < M; i++) y[i] = x[i] * scale + shift + r[i];
        } else {
#pragma omp simd
            for (size_t i = 0; i < M; i++) y[i] = x[i] * scale + shift;
        }
    }
}

void cpu_bn_bwd(daoe_backend *be, int N, int C, int HW, const void *dyv, const void *yv,
                const void *xv, const float *gamma, const float *smean, const float *sinv,
                void *dxv, void *dresv, float *dgamma, float *dbeta, int relu) {
    (void)be;
    const size_t M = (size_t)N * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *dy = (const float *)dyv + c * M, *y = (const float *)yv + c * M;
        const float *x = (const float *)xv + c * M;
        float *dx = (float *)dxv + c * M;
        float *dres = dresv ? (float *)dresv + c * M : NULL;
        const float mean = smean[c], inv = sinv[c];
        double sdz = 0.0, sdzx = 0.0;
        for (size_t i0 = 0; i0 < M; i0 += BN_CHUNK) {
            size_t n = M - i0 < BN_CHUNK ? M - i0 : BN_CHUNK;
            float a = 0.0f, b = 0.0f;
            const float *dyc = dy + i0, *yc = y + i0, *xc = x + i0;
            if (relu) {
                float *dr = dres ? dres + i0 : NULL;
                if (dr) {
#pragma omp simd reduction(+ : a, b)
                    for (size_t i = 0; i < n; i++) {
                        float dz = yc[i] > 0.0f ? dyc[i] : 0.0f;
                        dr[i] = dz;
                        a += dz;
                        b += dz * (xc[i] - mean);
                    }
                } else {
#pragma omp simd reduction(+ : a, b)
                    for (size_t i = 0; i < n; i++) {
                        float dz = yc[i] > 0.0f ? dyc[i] : 0.0f;
                        a += dz;
                        b += dz * (xc[i] - mean);
                    }
                }
            } else {
                if (dres) memcpy(dres + i0, dyc, sizeof(float) * n);
#pragma omp simd reduction(+ : a, b)
                for (size_t i = 0; i < n; i++) {
                    a += dyc[i];
                    b += dyc[i] * (xc[i] - mean);
                }
            }
            sdz += a;
            sdzx += b;
        }
        sdzx *= inv; /* sum dz * xhat */
        dgamma[c] = (float)sdzx;
        dbeta[c] = (float)sdz;
        /* dx = k (dz - A - xhat B) = k dz + c2 x + c3 */
        const double k = (double)gamma[c] * inv, A = sdz / (double)M, Bm = sdzx / (double)M;
        const float kf = (float)k, c2 = (float)(-k * inv * Bm), c3 = (float)(-k * A + k * mean * inv * Bm);
        if (relu) {
#pragma omp simd
            for (size_t i = 0; i < M; i++) {
                float dz = y[i] > 0.0f ? dy[i] : 0.0f;
                dx[i] = kf * dz + c2 * x[i] + c3;
            }
        } else {
#pragma omp simd
            for (size_t i = 0; i < M; i++) dx[i] = kf * dy[i] + c2 * x[i] + c3;
        }
    }
}

