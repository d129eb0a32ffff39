/* CPU backend, batch norm with the fused residual add and ReLU: forward
 * (training and eval) and backward. The arithmetic of a channel (its
 * statistics, running averages, scale and shift; the backward coefficients)
 * is written once, below; it is walked two ways: CNHW (one channel per
 * OpenMP iteration, a contiguous run) and NHWC (rows of C channels, per-chunk
 * partial sums per channel). */
#include "cpu.h"
#include "daoe/util.h"
#include <math.h>
#include <stdlib.h>
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

/* ---- one channel's arithmetic, shared by both layouts */

/* training statistics from mu0 = mean of x, then s1 = sum (x - muf) and
 * s2 = sum (x - muf)^2 around the float mean muf = (float)mu0 (corrected for
 * its rounding); writes the saved and running statistics, returns mean and invstd */
static void bn_train_stats(double s1, double s2, float muf, size_t M, float momentum, float eps, float *smean,
                           float *sinv, float *rmean, float *rvar, float *mean, float *invstd) {
    double dm = s1 / (double)M;
    double v = s2 - (double)M * dm * dm;
    if (v < 0) v = 0;
    double mu = (double)muf + dm;
    double var = v / (double)M;
    *mean = (float)mu;
    *invstd = (float)(1.0 / sqrt(var + (double)eps));
    *smean = *mean;
    *sinv = *invstd;
    double unb = M > 1 ? v / (double)(M - 1) : var;
    *rmean = (1.0f - momentum) * *rmean + momentum * (float)mu;
    *rvar = (1.0f - momentum) * *rvar + momentum * (float)unb;
}

static void bn_eval_stats(float rmean, float rvar, float eps, float *mean, float *invstd) {
    *mean = rmean;
    *invstd = (float)(1.0 / sqrt((double)rvar + (double)eps));
}

/* y = act(x * scale + shift (+ r when has_r)) */
static inline float bn_out(float x, float scale, float shift, float r, int has_r, int relu) {
    float v = x * scale + shift;
    if (has_r) v += r;
    return relu ? (v > 0.0f ? v : (v != v ? v : 0.0f)) : v;
}

/* from sdz = sum dz and sdzx = sum dz (x - mean): dgamma, dbeta and dx = kf dz + c2 x + c3 */
static void bn_bwd_coefs(double sdz, double sdzx, size_t M, float gamma, float mean, float inv, float *dgamma,
                         float *dbeta, float *kf, float *c2, float *c3) {
    sdzx *= inv; /* sum dz * xhat */
    *dgamma = (float)sdzx;
    *dbeta = (float)sdz;
    /* dx = k (dz - A - xhat B) = k dz + c2 x + c3 */
    const double k = (double)gamma * inv, A = sdz / (double)M, Bm = sdzx / (double)M;
    *kf = (float)k;
    *c2 = (float)(-k * inv * Bm);
    *c3 = (float)(-k * A + k * mean * inv * Bm);
}

/* ---- CNHW: a channel is one run of M = N*HW floats */
static void bn_fwd_cnhw(int N, int C, int HW, const float *xv, const float *resv, float *yv, const float *gamma,
                        const float *beta, float *rmean, float *rvar, float *smean, float *sinv, int training,
                        int relu, float momentum, float eps) {
    const size_t M = (size_t)N * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *x = xv + c * M;
        const float *r = resv ? resv + c * M : NULL;
        float *y = yv + c * M;
        float mean, invstd;
        if (training) {
            /* second pass around the float mean, corrected for its rounding */
            float muf = (float)(chunk_sum(x, M, 0.0f, 0) / (double)M);
            bn_train_stats(chunk_sum(x, M, muf, 0), chunk_sum(x, M, muf, 1), muf, M, momentum, eps, &smean[c],
                           &sinv[c], &rmean[c], &rvar[c], &mean, &invstd);
        } else {
            bn_eval_stats(rmean[c], rvar[c], eps, &mean, &invstd);
        }
        const float scale = gamma[c] * invstd, shift = beta[c] - mean * scale;
        if (r && relu) {
#pragma omp simd
            for (size_t i = 0; i < M; i++) y[i] = bn_out(x[i], scale, shift, r[i], 1, 1);
        } else if (relu) {
#pragma omp simd
            for (size_t i = 0; i < M; i++) y[i] = bn_out(x[i], scale, shift, 0.0f, 0, 1);
        } else if (r) {
#pragma omp simd
            for (size_t i = 0; i < M; i++) y[i] = bn_out(x[i], scale, shift, r[i], 1, 0);
        } else {
#pragma omp simd
            for (size_t i = 0; i < M; i++) y[i] = bn_out(x[i], scale, shift, 0.0f, 0, 0);
        }
    }
}

static void bn_bwd_cnhw(int N, int C, int HW, const float *dyv, const float *yv, const float *xv, const float *gamma,
                        const float *smean, const float *sinv, float *dxv, float *dresv, float *dgamma, float *dbeta,
                        int relu) {
    const size_t M = (size_t)N * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *dy = dyv + c * M, *y = yv + c * M;
        const float *x = xv + c * M;
        float *dx = dxv + c * M;
        float *dres = dresv ? dresv + c * M : NULL;
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
        float kf, c2, c3;
        bn_bwd_coefs(sdz, sdzx, M, gamma[c], mean, inv, &dgamma[c], &dbeta[c], &kf, &c2, &c3);
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

/* ---- NHWC: M = N*HW rows of C channels. A chunk is BN_CHUNK rows; each
 * chunk's float partial sums per channel go to part[chunk][C], summed over
 * the chunks in double in chunk order: the same structure as CNHW. Within a
 * chunk the channels go in blocks of BN_CB, whose sums stay in registers
 * while the rows go by (one AVX-512 register of floats). */
#define BN_CB 16
static float *bn_partials(size_t nchunks, int C, int nsums) {
    return daoe_xmalloc(sizeof(float) * nchunks * (size_t)C * (size_t)nsums);
}

static double bn_chunks_total(const float *part, size_t nchunks, int C, int c) {
    double s = 0.0;
    for (size_t k = 0; k < nchunks; k++) s += part[k * (size_t)C + c];
    return s;
}

/* The per-chunk sums of every NHWC pass, into pa[chunk][C] (and pb):
 *   BN_SUM_X:     pa = sum x
 *   BN_SUM_SHIFT: pa = sum (x - mu), pb = sum (x - mu)^2
 *   BN_SUM_GRAD:  dz = relu ? dy * (y > 0) : dy; pa = sum dz, pb = sum dz (x - mu); dres = dz when given */
enum { BN_SUM_X, BN_SUM_SHIFT, BN_SUM_GRAD };
/* One chunk's rows [m0, m1) for the channels c0 .. c0+nb-1, all present (nb a constant
 * where it is inlined: 16 or 8), sums in local arrays the compiler keeps in registers.
 * The operations and their order per channel are those of the general loop below
 * as it was before (masked to a partial block; its masked stores made every row a round
 * trip through memory): the same bits, about 3x faster. A partial block of another width
 * goes through it with nb not constant. */
static inline __attribute__((always_inline)) void bn_block_sums(int mode, const int nb, size_t m0, size_t m1, int C,
                                                                int c0, const float *x, const float *mu_c,
                                                                const float *dy, const float *y, float *dres, int relu,
                                                                float *pa, float *pb) {
    float a[BN_CB] = {0}, b[BN_CB] = {0}, mu[BN_CB] = {0};
    if (mu_c)
        for (int j = 0; j < nb; j++) mu[j] = mu_c[c0 + j];
    if (mode == BN_SUM_X) {
        for (size_t m = m0; m < m1; m++) {
            const float *xm = x + m * C + c0;
#pragma omp simd
            for (int j = 0; j < nb; j++) a[j] += xm[j];
        }
    } else if (mode == BN_SUM_SHIFT) {
        for (size_t m = m0; m < m1; m++) {
            const float *xm = x + m * C + c0;
#pragma omp simd
            for (int j = 0; j < nb; j++) {
                float d = xm[j] - mu[j];
                a[j] += d;
                b[j] += d * d;
            }
        }
    } else if (dres) {
        for (size_t m = m0; m < m1; m++) {
            const float *xm = x + m * C + c0, *dym = dy + m * C + c0, *ym = y + m * C + c0;
            float *dr = dres + m * C + c0;
#pragma omp simd
            for (int j = 0; j < nb; j++) {
                float dz = relu ? (ym[j] > 0.0f ? dym[j] : 0.0f) : dym[j];
                dr[j] = dz;
                a[j] += dz;
                b[j] += dz * (xm[j] - mu[j]);
            }
        }
    } else {
        for (size_t m = m0; m < m1; m++) {
            const float *xm = x + m * C + c0, *dym = dy + m * C + c0, *ym = y + m * C + c0;
#pragma omp simd
            for (int j = 0; j < nb; j++) {
                float dz = relu ? (ym[j] > 0.0f ? dym[j] : 0.0f) : dym[j];
                a[j] += dz;
                b[j] += dz * (xm[j] - mu[j]);
            }
        }
    }
    for (int j = 0; j < nb; j++) pa[j] = a[j];
    if (pb)
        for (int j = 0; j < nb; j++) pb[j] = b[j];
}

static void bn_nhwc_sums(int mode, size_t M, int C, const float *x, const float *mu_c, const float *dy,
                         const float *y, float *dres, int relu, float *pa, float *pb) {
    const size_t nch = (M + BN_CHUNK - 1) / BN_CHUNK;
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < nch; k++) {
        const size_t m1 = M < (k + 1) * BN_CHUNK ? M : (k + 1) * BN_CHUNK;
        for (int c0 = 0; c0 < C; c0 += BN_CB) {
            const int nc = C - c0 < BN_CB ? C - c0 : BN_CB;
            float *qa = pa + k * C + c0, *qb = pb ? pb + k * C + c0 : NULL;
            if (nc == BN_CB) {
                bn_block_sums(mode, BN_CB, k * BN_CHUNK, m1, C, c0, x, mu_c, dy, y, dres, relu, qa, qb);
                continue;
            }
            if (nc == 8) { /* width 8's first stage */
                bn_block_sums(mode, 8, k * BN_CHUNK, m1, C, c0, x, mu_c, dy, y, dres, relu, qa, qb);
                continue;
            }
            /* any other partial block: the same function with a run-time width */
            bn_block_sums(mode, nc, k * BN_CHUNK, m1, C, c0, x, mu_c, dy, y, dres, relu, qa, qb);
        }
    }
}

static void bn_fwd_nhwc(int N, int C, int HW, const float *x, const float *r, float *y, const float *gamma,
                        const float *beta, float *rmean, float *rvar, float *smean, float *sinv, int training,
                        int relu, float momentum, float eps) {
    const size_t M = (size_t)N * HW, nch = (M + BN_CHUNK - 1) / BN_CHUNK;
    float *scale = daoe_xmalloc(sizeof(float) * 3 * (size_t)C), *shift = scale + C, *muf = shift + C;
    float *p0 = NULL, *p1 = NULL, *p2 = NULL;
    if (training) { /* the float means, then the sums around them */
        p0 = bn_partials(nch, C, 3), p1 = p0 + nch * C, p2 = p1 + nch * C;
        bn_nhwc_sums(BN_SUM_X, M, C, x, NULL, NULL, NULL, NULL, 0, p0, NULL);
        for (int c = 0; c < C; c++) muf[c] = (float)(bn_chunks_total(p0, nch, C, c) / (double)M);
        bn_nhwc_sums(BN_SUM_SHIFT, M, C, x, muf, NULL, NULL, NULL, 0, p1, p2);
    }
    for (int c = 0; c < C; c++) {
        float mean, invstd;
        if (training)
            bn_train_stats(bn_chunks_total(p1, nch, C, c), bn_chunks_total(p2, nch, C, c), muf[c], M, momentum, eps,
                           &smean[c], &sinv[c], &rmean[c], &rvar[c], &mean, &invstd);
        else
            bn_eval_stats(rmean[c], rvar[c], eps, &mean, &invstd);
        scale[c] = gamma[c] * invstd;
        shift[c] = beta[c] - mean * scale[c];
    }
    free(p0);
    const int has_r = r != NULL;
#pragma omp parallel for schedule(static)
    for (size_t m = 0; m < M; m++) {
        const float *xm = x + m * C, *rm = has_r ? r + m * C : x;
        float *ym = y + m * C;
#pragma omp simd
        for (int c = 0; c < C; c++) ym[c] = bn_out(xm[c], scale[c], shift[c], rm[c], has_r, relu);
    }
    free(scale);
}

static void bn_bwd_nhwc(int N, int C, int HW, const float *dy, const float *y, const float *x, const float *gamma,
                        const float *smean, const float *sinv, float *dx, float *dres, float *dgamma, float *dbeta,
                        int relu) {
    const size_t M = (size_t)N * HW, nch = (M + BN_CHUNK - 1) / BN_CHUNK;
    float *pa = bn_partials(nch, C, 2), *pb = pa + nch * C;
    bn_nhwc_sums(BN_SUM_GRAD, M, C, x, smean, dy, y, dres, relu, pa, pb);
    float *kf = daoe_xmalloc(sizeof(float) * 3 * (size_t)C), *c2 = kf + C, *c3 = c2 + C;
    for (int c = 0; c < C; c++)
        bn_bwd_coefs(bn_chunks_total(pa, nch, C, c), bn_chunks_total(pb, nch, C, c), M, gamma[c], smean[c], sinv[c],
                     &dgamma[c], &dbeta[c], &kf[c], &c2[c], &c3[c]);
    free(pa);
#pragma omp parallel for schedule(static)
    for (size_t m = 0; m < M; m++) {
        const float *dym = dy + m * C, *ym = y + m * C, *xm = x + m * C;
        float *dxm = dx + m * C;
#pragma omp simd
        for (int c = 0; c < C; c++) {
            float dz = relu ? (ym[c] > 0.0f ? dym[c] : 0.0f) : dym[c];
            dxm[c] = kf[c] * dz + c2[c] * xm[c] + c3[c];
        }
    }
    free(kf);
}

/* ---- the backend's entries: the traversal of the backend's layout */
void cpu_bn_fwd(daoe_backend *be, int N, int C, int HW, const void *x, const void *res, void *y, const float *gamma,
                const float *beta, float *rmean, float *rvar, float *smean, float *sinv, int training, int relu,
                float momentum, float eps) {
    if (cpu_impl_of(be)->conv == DAOE_CPU_CONV_DNNL)
        bn_fwd_nhwc(N, C, HW, x, res, y, gamma, beta, rmean, rvar, smean, sinv, training, relu, momentum, eps);
    else
        bn_fwd_cnhw(N, C, HW, x, res, y, gamma, beta, rmean, rvar, smean, sinv, training, relu, momentum, eps);
}

void cpu_bn_bwd(daoe_backend *be, int N, int C, int HW, const void *dy, const void *y, const void *x,
                const float *gamma, const float *smean, const float *sinv, void *dx, void *dres, float *dgamma,
                float *dbeta, int relu) {
    if (cpu_impl_of(be)->conv == DAOE_CPU_CONV_DNNL)
        bn_bwd_nhwc(N, C, HW, dy, y, x, gamma, smean, sinv, dx, dres, dgamma, dbeta, relu);
    else
        bn_bwd_cnhw(N, C, HW, dy, y, x, gamma, smean, sinv, dx, dres, dgamma, dbeta, relu);
}
