/* The CPU backend: the reference implementation of every op in the backend
 * table. fp32 throughout; activations are stored CNHW (channel-major over the
 * whole batch) so that a convolution is one im2col + sgemm per chunk of images
 * with the weights in PyTorch's OIHW order as the left operand, and each batch
 * norm channel is one contiguous run. OpenMP parallelises the loops; OpenBLAS
 * (OpenMP build) does the matrix products. Reductions use double accumulators
 * over fixed blocks so results do not depend on the thread count. */
#include "daoe/backend.h"
#include "daoe/cpu_blas.h"
#include <cjson/cJSON.h>
#include "daoe/data.h"
#include "daoe/rng.h"
#include "daoe/util.h"
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's own extensions */
void openblas_set_num_threads(int);

typedef struct {
    int threads;
    float *cols;       /* im2col scratch, one slice of cols_cap floats per thread */
    size_t cols_cap;
    float *dw;         /* per-thread filter-gradient partials */
    size_t dw_cap;
    float *wt;         /* flipped, transposed weights for the data gradient */
    size_t wt_cap;
} cpu_impl;

static cpu_impl *impl_of(daoe_backend *be) { return (cpu_impl *)be->impl; }

/* ------------------------------------------------------------------ memory */
static void *cpu_alloc(daoe_backend *be, size_t bytes) {
    (void)be;
    size_t n = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p) daoe_fatal("out of memory allocating %zu bytes", bytes);
    memset(p, 0, n ? n : 64);
    return p;
}
static void cpu_free(daoe_backend *be, void *p) { (void)be; free(p); }
static void cpu_memcpy(daoe_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}
static void cpu_fill_zero(daoe_backend *be, void *p, size_t bytes) { (void)be; memset(p, 0, bytes); }
static void cpu_sync(daoe_backend *be) { (void)be; }
static size_t cpu_act_bytes(daoe_backend *be, size_t count) { (void)be; return count * sizeof(float); }

/* CNHW <-> NCHW */
static void cpu_act_to_host(daoe_backend *be, const void *act, int n, int c, int h, int w, float *out) {
    (void)be;
    const float *a = act;
    size_t hw = (size_t)h * w;
    for (int ci = 0; ci < c; ci++)
        for (int ni = 0; ni < n; ni++)
            memcpy(out + ((size_t)ni * c + ci) * hw, a + ((size_t)ci * n + ni) * hw, hw * sizeof(float));
}
static void cpu_act_from_host(daoe_backend *be, void *act, int n, int c, int h, int w, const float *in) {
    (void)be;
    float *a = act;
    size_t hw = (size_t)h * w;
    for (int ci = 0; ci < c; ci++)
        for (int ni = 0; ni < n; ni++)
            memcpy(a + ((size_t)ci * n + ni) * hw, in + ((size_t)ni * c + ci) * hw, hw * sizeof(float));
}

static void cpu_bind_params(daoe_backend *be, float *p, float *g, size_t n, const daoe_conv *cv, int nc) {
    (void)be; (void)p; (void)g; (void)n; (void)cv; (void)nc;
}
static void cpu_refresh_weights(daoe_backend *be) { (void)be; }

/* ------------------------------------------------------------------ data */
static void cpu_load_batch(daoe_backend *be, const uint8_t *images, const int32_t *labels,
                           const int32_t *idx, int N, int augment, uint64_t seed, int epoch, void *xv,
                           int32_t *y, float *stats) {
    (void)be;
    float *x = xv;
    double *psum = daoe_xcalloc((size_t)N * 2, sizeof(double));
    const size_t plane = (size_t)N * 1024;
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
            float *dst = x + c * plane + (size_t)i * 1024;
            for (int yy = 0; yy < 32; yy++) {
                int sy = yy + a.oy - 4;
                for (int xx = 0; xx < 32; xx++) {
                    int cx = a.flip ? 31 - xx : xx;
                    int sx = cx + a.ox - 4;
                    float v = (sy >= 0 && sy < 32 && sx >= 0 && sx < 32)
                                  ? ((float)img[c * 1024 + sy * 32 + sx] * (1.0f / 255.0f) - m) * is
                                  : zero;
                    dst[yy * 32 + xx] = v;
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

/* ------------------------------------------------------------------ conv
 * Work is split into units of output columns (a block of rows of one image,
 * or a group of whole images) whose im2col matrix stays in cache; each
 * OpenMP thread runs its units with single-threaded sgemm (OpenBLAS's OpenMP
 * build runs serially inside a parallel region). Static scheduling: the
 * result depends on the thread count only through the order of the filter
 * gradient's partial sums. */
#define UNIT_FLOATS ((size_t)1 << 20) /* 4 MB of im2col per unit (fits the L3 beside the other thread's) */
#define UNIT_MIN_COLS 256

typedef struct {
    int imgs;     /* whole images per unit (>= 1) */
    int rows;     /* output rows per unit when imgs == 1 (<= ho) */
    int nunits;
} conv_units;

static conv_units plan_units(const daoe_conv *cv, int N, int whole_images) {
    conv_units u;
    const size_t K = (size_t)cv->cin * cv->k * cv->k, howo = (size_t)cv->ho * cv->wo;
    size_t per_img = K * howo;
    if (per_img >= UNIT_FLOATS || howo >= UNIT_MIN_COLS) {
        u.imgs = 1;
        size_t rows = whole_images ? (size_t)cv->ho : UNIT_FLOATS / (K * cv->wo);
        if (rows * cv->wo < UNIT_MIN_COLS) rows = (UNIT_MIN_COLS + cv->wo - 1) / cv->wo;
        if (rows < 1) rows = 1;
        if (rows > (size_t)cv->ho) rows = (size_t)cv->ho;
        u.rows = (int)rows;
        u.nunits = N * ((cv->ho + u.rows - 1) / u.rows);
    } else {
        size_t g = (UNIT_MIN_COLS + howo - 1) / howo;
        size_t gmax = UNIT_FLOATS / per_img;
        if (g > gmax) g = gmax;
        if (g < 1) g = 1;
        if (g > (size_t)N) g = (size_t)N;
        u.imgs = (int)g;
        u.rows = cv->ho;
        u.nunits = (N + u.imgs - 1) / u.imgs;
    }
    return u;
}

/* unit -> first image, image count, first output row, row count */
static void unit_range(const conv_units *u, const daoe_conv *cv, int N, int i, int *n0, int *nb, int *r0, int *nr) {
    if (u->imgs > 1 || u->rows == cv->ho) {
        *n0 = i * u->imgs;
        *nb = N - *n0 < u->imgs ? N - *n0 : u->imgs;
        *r0 = 0;
        *nr = cv->ho;
    } else {
        int per = (cv->ho + u->rows - 1) / u->rows;
        *n0 = i / per;
        *nb = 1;
        *r0 = (i % per) * u->rows;
        *nr = cv->ho - *r0 < u->rows ? cv->ho - *r0 : u->rows;
    }
}

static float *thread_scratch(cpu_impl *im, int tid) { return im->cols + (size_t)tid * im->cols_cap; }

static void ensure_scratch(cpu_impl *im, size_t floats) {
    if (floats > im->cols_cap) {
        free(im->cols);
        im->cols_cap = floats;
        im->cols = aligned_alloc(64, ((floats * sizeof(float) * (size_t)im->threads) + 63) & ~(size_t)63);
        if (!im->cols) daoe_fatal("out of memory (im2col scratch)");
    }
}

/* cols[(ci,kh,kw)][j], j over the unit's output pixels (images n0.., rows r0..r0+nr) */
static void im2col_unit(const daoe_conv *cv, int N, int n0, int nb, int r0, int nr, const float *x, float *cols) {
    const int k = cv->k, s = cv->stride, p = cv->pad, H = cv->h, W = cv->w, Wo = cv->wo;
    const size_t ncol = (size_t)nb * nr * Wo;
    const int rows = cv->cin * k * k;
    const int same = s == 1 && W == Wo && H == cv->ho;
    for (int r = 0; r < rows; r++) {
        int ci = r / (k * k), kh = (r / k) % k, kw = r % k;
        float *dst = cols + (size_t)r * ncol;
        for (int n = 0; n < nb; n++) {
            const float *src = x + ((size_t)ci * N + n0 + n) * H * W;
            float *d0 = dst + (size_t)n * nr * Wo;
            if (same) {
                /* a shifted copy of the valid rows, then the edge columns zeroed */
                int dh = kh - p, dw = kw - p;
                int lo = r0, hi = r0 + nr; /* output rows */
                if (lo + dh < 0) lo = -dh;
                if (hi + dh > H) hi = H - dh;
                if (lo > r0) memset(d0, 0, sizeof(float) * (size_t)(lo - r0) * Wo);
                if (hi < r0 + nr) memset(d0 + (size_t)((hi > lo ? hi : lo) - r0) * Wo, 0,
                                         sizeof(float) * (size_t)(r0 + nr - (hi > lo ? hi : lo)) * Wo);
                if (hi > lo) {
                    float *d = d0 + (size_t)(lo - r0) * Wo;
                    const float *sp = src + (size_t)(lo + dh) * W + dw;
                    size_t len = (size_t)(hi - lo) * W;
                    if (dw < 0) {  /* first element would read before the plane */
                        d[0] = 0.0f;
                        memcpy(d + 1, sp + 1, sizeof(float) * (len - 1));
                    } else if (dw > 0) {
                        memcpy(d, sp, sizeof(float) * (len - 1));
                        d[len - 1] = 0.0f;
                    } else {
                        memcpy(d, sp, sizeof(float) * len);
                    }
                    if (dw < 0)
                        for (int q = 0; q < hi - lo; q++) d[(size_t)q * W] = 0.0f;
                    else if (dw > 0)
                        for (int q = 0; q < hi - lo; q++) d[(size_t)q * W + W - 1] = 0.0f;
                }
                continue;
            }
            for (int oh = r0; oh < r0 + nr; oh++) {
                int ih = oh * s + kh - p;
                float *d = d0 + (size_t)(oh - r0) * Wo;
                if (ih < 0 || ih >= H) {
                    memset(d, 0, sizeof(float) * Wo);
                    continue;
                }
                const float *srow = src + (size_t)ih * W;
                for (int ow = 0; ow < Wo; ow++) {
                    int iw = ow * s + kw - p;
                    d[ow] = (iw >= 0 && iw < W) ? srow[iw] : 0.0f;
                }
            }
        }
    }
}

/* dx[ci][n][ih][iw] += dcols[(ci,kh,kw)][j] over whole images n0..n0+nb */
static void col2im_unit(const daoe_conv *cv, int N, int n0, int nb, const float *cols, float *dx) {
    const int k = cv->k, s = cv->stride, p = cv->pad, H = cv->h, W = cv->w, Ho = cv->ho, Wo = cv->wo;
    const size_t howo = (size_t)Ho * Wo, ncol = (size_t)nb * howo;
    for (int ci = 0; ci < cv->cin; ci++)
        for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++) {
                const float *src = cols + ((size_t)(ci * k + kh) * k + kw) * ncol;
                for (int n = 0; n < nb; n++) {
                    float *dst = dx + ((size_t)ci * N + n0 + n) * H * W;
                    for (int oh = 0; oh < Ho; oh++) {
                        int ih = oh * s + kh - p;
                        if (ih < 0 || ih >= H) continue;
                        const float *c = src + (size_t)n * howo + (size_t)oh * Wo;
                        float *drow = dst + (size_t)ih * W;
                        if (s == 1) {
                            int lo = p - kw > 0 ? p - kw : 0;
                            int hi = W + p - kw < Wo ? W + p - kw : Wo;
                            float *dd = drow + kw - p;
                            for (int ow = lo; ow < hi; ow++) dd[ow] += c[ow];
                        } else {
                            for (int ow = 0; ow < Wo; ow++) {
                                int iw = ow * s + kw - p;
                                if (iw >= 0 && iw < W) drow[iw] += c[ow];
                            }
                        }
                    }
                }
            }
}

static void cpu_conv_fwd(daoe_backend *be, const daoe_conv *cv, int N, const void *xv, const float *w,
                         void *yv) {
    cpu_impl *im = impl_of(be);
    const int K = cv->cin * cv->k * cv->k;
    const size_t howo = (size_t)cv->ho * cv->wo;
    conv_units u = plan_units(cv, N, 0);
    ensure_scratch(im, (size_t)K * u.imgs * u.rows * cv->wo);
    float *y = yv;
#pragma omp parallel
    {
        float *cols = thread_scratch(im, omp_get_thread_num());
#pragma omp for schedule(static)
        for (int i = 0; i < u.nunits; i++) {
            int n0, nb, r0, nr;
            unit_range(&u, cv, N, i, &n0, &nb, &r0, &nr);
            int P = nb * nr * cv->wo;
            im2col_unit(cv, N, n0, nb, r0, nr, xv, cols);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cv->cout, P, K, 1.0f, w, K, cols, P, 0.0f,
                        y + (size_t)n0 * howo + (size_t)r0 * cv->wo, (int)(N * howo));
        }
    }
}

static void cpu_conv_bwd_data(daoe_backend *be, const daoe_conv *cv, int N, const void *dyv,
                              const float *w, void *dxv, int accumulate) {
    cpu_impl *im = impl_of(be);
    const int K = cv->cin * cv->k * cv->k;
    const size_t howo = (size_t)cv->ho * cv->wo, hw = (size_t)cv->h * cv->w;
    float *dx = dxv;
    const float *dy = dyv;
    if (cv->stride == 1 && cv->h == cv->ho && cv->w == cv->wo && cv->pad * 2 + 1 == cv->k) {
        /* dx = conv(dy, w'), w'[ci][co][kh][kw] = w[co][ci][k-1-kh][k-1-kw]: a gather, no col2im */
        const int k = cv->k, kk = k * k, K2 = cv->cout * kk;
        size_t wsz = (size_t)cv->cin * K2;
        if (wsz > im->wt_cap) {
            free(im->wt);
            im->wt_cap = wsz;
            im->wt = daoe_xmalloc(sizeof(float) * wsz);
        }
        float *wt = im->wt;
        daoe_conv t = *cv;
        t.cin = cv->cout;
        t.cout = cv->cin;
        conv_units u = plan_units(&t, N, 0);
        ensure_scratch(im, (size_t)K2 * u.imgs * u.rows * cv->wo);
#pragma omp parallel
        {
#pragma omp for schedule(static)
            for (int ci = 0; ci < cv->cin; ci++)
                for (int co = 0; co < cv->cout; co++)
                    for (int q = 0; q < kk; q++)
                        wt[((size_t)ci * cv->cout + co) * kk + q] = w[((size_t)co * cv->cin + ci) * kk + (kk - 1 - q)];
            float *cols = thread_scratch(im, omp_get_thread_num());
#pragma omp for schedule(static)
            for (int i = 0; i < u.nunits; i++) {
                int n0, nb, r0, nr;
                unit_range(&u, &t, N, i, &n0, &nb, &r0, &nr);
                int P = nb * nr * cv->wo;
                im2col_unit(&t, N, n0, nb, r0, nr, dy, cols);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cv->cin, P, K2, 1.0f, wt, K2, cols, P,
                            accumulate ? 1.0f : 0.0f, dx + (size_t)n0 * hw + (size_t)r0 * cv->w, (int)(N * hw));
            }
        }
        return;
    }
    conv_units u = plan_units(cv, N, 1); /* whole images: col2im of a unit touches only its images */
    ensure_scratch(im, (size_t)K * u.imgs * howo);
#pragma omp parallel
    {
        float *cols = thread_scratch(im, omp_get_thread_num());
#pragma omp for schedule(static)
        for (int i = 0; i < u.nunits; i++) {
            int n0, nb, r0, nr;
            unit_range(&u, cv, N, i, &n0, &nb, &r0, &nr);
            int P = nb * (int)howo;
            if (!accumulate)
                for (int ci = 0; ci < cv->cin; ci++) memset(dx + ((size_t)ci * N + n0) * hw, 0, sizeof(float) * nb * hw);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, cv->cout, 1.0f, w, K, dy + (size_t)n0 * howo,
                        (int)(N * howo), 0.0f, cols, P);
            col2im_unit(cv, N, n0, nb, cols, dx);
        }
    }
}

static void cpu_conv_bwd_filter(daoe_backend *be, const daoe_conv *cv, int N, const void *xv,
                                const void *dyv, float *dw) {
    cpu_impl *im = impl_of(be);
    const int K = cv->cin * cv->k * cv->k;
    const size_t howo = (size_t)cv->ho * cv->wo, wsz = (size_t)cv->cout * K;
    conv_units u = plan_units(cv, N, 0);
    ensure_scratch(im, (size_t)K * u.imgs * u.rows * cv->wo);
    if (wsz * (size_t)im->threads > im->dw_cap) {
        free(im->dw);
        im->dw_cap = wsz * (size_t)im->threads;
        im->dw = aligned_alloc(64, (im->dw_cap * sizeof(float) + 63) & ~(size_t)63);
        if (!im->dw) daoe_fatal("out of memory (filter gradient scratch)");
    }
    const float *dy = dyv;
    int nthr = 1;
#pragma omp parallel
    {
        int tid = omp_get_thread_num();
#pragma omp single
        nthr = omp_get_num_threads();
        float *cols = thread_scratch(im, tid);
        float *part = im->dw + (size_t)tid * wsz;
        int first = 1;
#pragma omp for schedule(static)
        for (int i = 0; i < u.nunits; i++) {
            int n0, nb, r0, nr;
            unit_range(&u, cv, N, i, &n0, &nb, &r0, &nr);
            int P = nb * nr * cv->wo;
            im2col_unit(cv, N, n0, nb, r0, nr, xv, cols);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cv->cout, K, P, 1.0f,
                        dy + (size_t)n0 * howo + (size_t)r0 * cv->wo, (int)(N * howo), cols, P,
                        first ? 0.0f : 1.0f, part, K);
            first = 0;
        }
        if (first) memset(part, 0, sizeof(float) * wsz);
#pragma omp barrier
#pragma omp for schedule(static)
        for (size_t j = 0; j < wsz; j++) {
            float acc = im->dw[j];
            for (int t = 1; t < nthr; t++) acc += im->dw[(size_t)t * wsz + j];
            dw[j] = acc;
        }
    }
}

/* ------------------------------------------------------------------ batch norm
 * Sums run in float over fixed chunks of BN_CHUNK elements (vectorised) and
 * in double across chunks: fixed order, no dependence on threads. */
#define BN_CHUNK 512

static double chunk_sum(const float *x, size_t M, float shift) {
    double s = 0.0;
    for (size_t i0 = 0; i0 < M; i0 += BN_CHUNK) {
        size_t n = M - i0 < BN_CHUNK ? M - i0 : BN_CHUNK;
        float cs = 0.0f;
#pragma omp simd reduction(+ : cs)
        for (size_t i = 0; i < n; i++) cs += x[i0 + i] - shift;
        s += cs;
    }
    return s;
}

static double chunk_sumsq(const float *x, size_t M, float mu) {
    double s = 0.0;
    for (size_t i0 = 0; i0 < M; i0 += BN_CHUNK) {
        size_t n = M - i0 < BN_CHUNK ? M - i0 : BN_CHUNK;
        float cs = 0.0f;
#pragma omp simd reduction(+ : cs)
        for (size_t i = 0; i < n; i++) {
            float d = x[i0 + i] - mu;
            cs += d * d;
        }
        s += cs;
    }
    return s;
}

static void cpu_bn_fwd(daoe_backend *be, int N, int C, int HW, const void *xv, const void *resv,
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
            double mu = chunk_sum(x, M, 0.0f) / (double)M;
            /* second pass around the float mean, corrected for its rounding */
            float muf = (float)mu;
            double dm = chunk_sum(x, M, muf) / (double)M;
            double v = chunk_sumsq(x, M, muf) - (double)M * dm * dm;
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

static void cpu_bn_bwd(daoe_backend *be, int N, int C, int HW, const void *dyv, const void *yv,
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

/* ------------------------------------------------------------------ head */
static void cpu_avgpool_fwd(daoe_backend *be, int N, int C, int HW, const void *xv, float *y) {
    (void)be;
    const float *x = xv;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++) {
            const float *p = x + ((size_t)c * N + n) * HW;
            float s = 0.0f;
            for (int i = 0; i < HW; i++) s += p[i];
            y[(size_t)n * C + c] = s / (float)HW;
        }
}

static void cpu_avgpool_bwd(daoe_backend *be, int N, int C, int HW, const float *dy, void *dxv) {
    (void)be;
    float *dx = dxv;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++) {
            float v = dy[(size_t)n * C + c] / (float)HW;
            float *p = dx + ((size_t)c * N + n) * HW;
            for (int i = 0; i < HW; i++) p[i] = v;
        }
}

static void cpu_linear_fwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W,
                           const float *b, float *y) {
    (void)be;
    for (int n = 0; n < N; n++) memcpy(y + (size_t)n * out, b, sizeof(float) * out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, x, in, W, in, 1.0f, y, out);
}

static void cpu_linear_bwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W,
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

static void cpu_xent(daoe_backend *be, int N, int K, const float *logits, const int32_t *y,
                     float *dlogits, float *stats) {
    (void)be;
    double loss = 0.0, ent = 0.0;
    int correct = 0;
    for (int n = 0; n < N; n++) {
        const float *l = logits + (size_t)n * K;
        int am = 0;
        float mx = l[0];
        for (int k = 1; k < K; k++)
            if (l[k] > mx) { mx = l[k]; am = k; }
        double se = 0.0;
        for (int k = 0; k < K; k++) se += exp((double)l[k] - mx);
        double lse = mx + log(se);
        loss += lse - l[y[n]];
        correct += am == y[n];
        double h = 0.0;
        for (int k = 0; k < K; k++) {
            double p = exp((double)l[k] - lse);
            if (p > 0.0) h -= p * ((double)l[k] - lse);
            if (dlogits) dlogits[(size_t)n * K + k] = (float)((p - (k == y[n])) / N);
        }
        ent += h;
    }
    stats[DAOE_ST_LOSS] = (float)(loss / N);
    stats[DAOE_ST_CORRECT] = (float)correct;
    stats[DAOE_ST_ENTROPY] = (float)(ent / N / log((double)K));
}

/* ------------------------------------------------------------------ optimizer */
#define OPT_BLOCK 65536
#define OPT_CHUNK 512

/* The fused pass in chunks of OPT_CHUNK elements: float sums within a chunk
 * (vectorised), double across chunks. Specialisations pass the member set and
 * flags as constants, so the per-element branches fold away and the loop
 * vectorises; a generic instantiation covers the rest. */
/* one chunk, float sums into a[] (the caller adds chunks in double); local
 * copies of the configuration and pointers let the compiler see they do not
 * change inside the loop */
#define OPT_CHUNK_BODY(CALL)                                                                                    \
    const daoe_opt_bufs bl = *b;                                                                                \
    const daoe_step_consts scl = *sc;                                                                           \
    const daoe_opt_cfg cl = *cfg;                                                                               \
    const float al[DAOE_K] = {alpha[0], alpha[1], alpha[2], alpha[3]};                                          \
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, s8 = 0, s9 = 0;                      \
    _Pragma("omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7, s8, s9)") for (size_t j = lo; j < hi; j++) { \
        daoe_contrib r = CALL;                                                                                  \
        s0 += r.gg, s1 += r.gv;                                                                                 \
        s2 += r.dot[0], s3 += r.dot[1], s4 += r.dot[2], s5 += r.dot[3];                                         \
        s6 += r.dn[0], s7 += r.dn[1], s8 += r.dn[2], s9 += r.dn[3];                                             \
    }                                                                                                           \
    a[0] = s0, a[1] = s1, a[2] = s2, a[3] = s3, a[4] = s4, a[5] = s5, a[6] = s6, a[7] = s7, a[8] = s8, a[9] = s9;

typedef void (*opt_block_fn)(const daoe_opt_cfg *, const daoe_step_consts *, const float *, const daoe_opt_bufs *,
                             size_t, size_t, float *);

/* specialisations for the default configurations (SGD with momentum, plain RMSProp) */
#define OPT_SPEC(NAME, MEMBERS, STORE_D, EMA)                                                                    \
    static void NAME(const daoe_opt_cfg *cfg, const daoe_step_consts *sc, const float *alpha,                    \
                     const daoe_opt_bufs *b, size_t lo, size_t hi, float *a) {                                   \
        OPT_CHUNK_BODY(daoe_fused_elem_k(&cl, (MEMBERS), (STORE_D), (EMA), 1, 0, 0, &scl, al, &bl, j))          \
    }
OPT_SPEC(opt_all_hyper, 0xFu, 1, 1)
OPT_SPEC(opt_all_hyper_noema, 0xFu, 1, 0)
OPT_SPEC(opt_all_fixed, 0xFu, 0, 1)
OPT_SPEC(opt_all_fixed_noema, 0xFu, 0, 0)
OPT_SPEC(opt_sgd, 1u << DAOE_SGD, 0, 1)
OPT_SPEC(opt_sgd_noema, 1u << DAOE_SGD, 0, 0)
OPT_SPEC(opt_adam, 1u << DAOE_ADAM, 0, 1)
OPT_SPEC(opt_adam_noema, 1u << DAOE_ADAM, 0, 0)
OPT_SPEC(opt_rms, 1u << DAOE_RMSPROP, 0, 1)
OPT_SPEC(opt_rms_noema, 1u << DAOE_RMSPROP, 0, 0)
OPT_SPEC(opt_lion, 1u << DAOE_LION, 0, 1)
OPT_SPEC(opt_lion_noema, 1u << DAOE_LION, 0, 0)

static void opt_generic(const daoe_opt_cfg *cfg, const daoe_step_consts *sc, const float *alpha,
                        const daoe_opt_bufs *b, size_t lo, size_t hi, float *a) {
    OPT_CHUNK_BODY(daoe_fused_elem_k(&cl, cl.members, cl.store_d, cl.grad_ema, cl.sgd_buf, cl.rms_gavg, cl.rms_buf,
                                     &scl, al, &bl, j))
}

static opt_block_fn pick_opt(const daoe_opt_cfg *c) {
    static const struct { unsigned m; int sd, ema; opt_block_fn f; } tab[] = {
        {0xFu, 1, 1, opt_all_hyper}, {0xFu, 1, 0, opt_all_hyper_noema}, {0xFu, 0, 1, opt_all_fixed},
        {0xFu, 0, 0, opt_all_fixed_noema}, {1u << DAOE_SGD, 0, 1, opt_sgd}, {1u << DAOE_SGD, 0, 0, opt_sgd_noema},
        {1u << DAOE_ADAM, 0, 1, opt_adam}, {1u << DAOE_ADAM, 0, 0, opt_adam_noema},
        {1u << DAOE_RMSPROP, 0, 1, opt_rms}, {1u << DAOE_RMSPROP, 0, 0, opt_rms_noema},
        {1u << DAOE_LION, 0, 1, opt_lion}, {1u << DAOE_LION, 0, 0, opt_lion_noema}};
    int sgd_ok = !(c->members & (1u << DAOE_SGD)) || c->sgd_buf;
    if (!sgd_ok || c->rms_gavg || c->rms_buf) return opt_generic;
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
        if (tab[i].m == c->members && tab[i].sd == !!c->store_d && tab[i].ema == !!c->grad_ema) return tab[i].f;
    return opt_generic;
}

static void cpu_opt_step(daoe_backend *be, daoe_opt *o) {
    (void)be;
    const size_t n = o->n, nblk = (n + OPT_BLOCK - 1) / OPT_BLOCK;
    double *part = daoe_xcalloc(nblk * DAOE_NRED, sizeof(double));
    const daoe_opt_cfg cfg = o->cfg;
    const daoe_step_consts sc = *o->consts;
    float alpha[DAOE_K];
    memcpy(alpha, o->state->alpha, sizeof alpha);
    const daoe_opt_bufs b = o->bufs;
    opt_block_fn f = getenv("DAOE_OPT_GENERIC") ? opt_generic : pick_opt(&cfg);
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nblk; blk++) {
        double acc[DAOE_NRED] = {0};
        size_t lo = blk * OPT_BLOCK, hi = lo + OPT_BLOCK < n ? lo + OPT_BLOCK : n;
        for (size_t c0 = lo; c0 < hi; c0 += OPT_CHUNK) {
            float a[DAOE_NRED] = {0};
            f(&cfg, &sc, alpha, &b, c0, c0 + OPT_CHUNK < hi ? c0 + OPT_CHUNK : hi, a);
            for (int r = 0; r < DAOE_NRED; r++) acc[r] += a[r];
        }
        memcpy(part + blk * DAOE_NRED, acc, sizeof acc);
    }
    for (int r = 0; r < DAOE_NRED; r++) {
        double s = 0.0;
        for (size_t blk = 0; blk < nblk; blk++) s += part[blk * DAOE_NRED + r];
        o->red[r] = s;
    }
    free(part);
}

static void cpu_ctrl_step(daoe_backend *be, daoe_opt *o) {
    (void)be;
    int slot = o->state->t % o->trace_cap;
    daoe_ctrl_update(&o->ctrl, o->state, o->red, o->stats, o->consts->epoch, &o->trace[slot]);
}

static void cpu_run_step(daoe_backend *be, int key, void (*fn)(void *), void *ctx) {
    (void)be; (void)key;
    fn(ctx);
}

/* config.json: the BLAS library, the kernels it runs and who chose them */
static void cpu_describe(daoe_backend *be, cJSON *o) {
    (void)be;
    const daoe_blas_info *bi = daoe_blas_get_info();
    cJSON *v = cJSON_GetObjectItem(o, "versions");
    if (v) cJSON_AddStringToObject(v, "openblas", bi->config);
    cJSON *b = cJSON_AddObjectToObject(o, "blas");
    cJSON_AddStringToObject(b, "kernels", bi->core);
    cJSON_AddStringToObject(b, "kernels_isa", daoe_blas_isa_name(bi->core_isa));
    cJSON_AddStringToObject(b, "cpu_isa", daoe_blas_isa_name(bi->cpu_isa));
    cJSON_AddStringToObject(b, "chosen_by", bi->chosen_by);
    cJSON_AddStringToObject(b, "note", bi->note);
    cJSON_AddBoolToObject(b, "selfcheck_ok", bi->selfcheck_ok);
}

static void cpu_destroy(daoe_backend *be) {
    cpu_impl *im = impl_of(be);
    free(im->cols);
    free(im->dw);
    free(im->wt);
    free(im);
    free(be);
}

daoe_backend *daoe_cpu_backend_create(int threads, char *err, size_t errlen) {
    (void)err; (void)errlen;
    daoe_backend *be = daoe_xcalloc(1, sizeof *be);
    cpu_impl *im = daoe_xcalloc(1, sizeof *im);
    /* OpenMP's thread count is process-wide: every backend sets its own */
    if (threads <= 0) threads = omp_get_num_procs();
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    im->threads = threads;
    char model[128] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
                snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
                model[strcspn(model, "\n")] = 0;
                break;
            }
        fclose(f);
    }
    snprintf(be->desc, sizeof be->desc, "cpu: %s, %d threads, OpenBLAS %s", model, threads, daoe_blas_get_info()->config);
    be->name = "cpu";
    be->precision = DAOE_FP32;
    be->deterministic = 1;
    be->impl = im;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->to_device = cpu_memcpy;
    be->to_host = cpu_memcpy;
    be->copy = cpu_memcpy;
    be->fill_zero = cpu_fill_zero;
    be->sync = cpu_sync;
    be->act_bytes = cpu_act_bytes;
    be->act_to_host = cpu_act_to_host;
    be->act_from_host = cpu_act_from_host;
    be->bind_params = cpu_bind_params;
    be->refresh_weights = cpu_refresh_weights;
    be->load_batch = cpu_load_batch;
    be->conv_fwd = cpu_conv_fwd;
    be->conv_bwd_data = cpu_conv_bwd_data;
    be->conv_bwd_filter = cpu_conv_bwd_filter;
    be->bn_fwd = cpu_bn_fwd;
    be->bn_bwd = cpu_bn_bwd;
    be->avgpool_fwd = cpu_avgpool_fwd;
    be->avgpool_bwd = cpu_avgpool_bwd;
    be->linear_fwd = cpu_linear_fwd;
    be->linear_bwd = cpu_linear_bwd;
    be->xent = cpu_xent;
    be->opt_step = cpu_opt_step;
    be->ctrl_step = cpu_ctrl_step;
    be->run_step = cpu_run_step;
    be->describe = cpu_describe;
    be->destroy = cpu_destroy;
    return be;
}
