/* CPU backend, convolution: forward, data gradient and filter gradient as
 * im2col (or a gather, for the data gradient of a same-size convolution) +
 * OpenBLAS sgemm over units of output columns. Batch norm, pooling and the
 * linear layer are elsewhere (bn.c, head.c). */
#include "cpu.h"
#include "daoe/util.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Work is split into units of output columns (a block of rows of one image,
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

/* Runs fn on every unit of u in one OpenMP parallel region: each thread
 * takes a static share of the units (so which thread does which unit depends
 * only on the thread count) and passes its own im2col slice and thread
 * number; with src, the slice first holds the unit's im2col of src. fn gets
 * the unit's images n0..n0+nb-1 and output rows r0..r0+nr-1. Returns the
 * number of threads that ran. */
typedef void (*unit_fn)(void *ctx, float *cols, int tid, int n0, int nb, int r0, int nr);

static int run_units(cpu_impl *im, const conv_units *u, const daoe_conv *cv, int N, const float *src, unit_fn fn,
                     void *ctx) {
    int nthr = 1;
#pragma omp parallel
    {
        int tid = omp_get_thread_num();
#pragma omp single
        nthr = omp_get_num_threads();
        float *cols = thread_scratch(im, tid);
#pragma omp for schedule(static)
        for (int i = 0; i < u->nunits; i++) {
            int n0, nb, r0, nr;
            unit_range(u, cv, N, i, &n0, &nb, &r0, &nr);
            if (src) im2col_unit(cv, N, n0, nb, r0, nr, src, cols);
            fn(ctx, cols, tid, n0, nb, r0, nr);
        }
    }
    return nthr;
}

/* what a unit of each direction reads and writes */
typedef struct {
    const daoe_conv *cv; /* the convolution as the unit's im2col sees it */
    int N, K;            /* batch, rows of the im2col matrix */
    const float *x, *w;  /* the operands besides the im2col slice */
    float *y;            /* output (fwd, bwd_data) or per-thread partials (bwd_filter) */
    int accumulate, cout;
    size_t wsz;          /* bwd_filter: floats per thread's partial */
    unsigned char *started; /* bwd_filter: [thread] a unit has written its partial */
} unit_args;

/* y[cout][n][oh][ow] = w[cout][K] cols[K][unit's pixels] */
static void fwd_unit(void *ctx, float *cols, int tid, int n0, int nb, int r0, int nr) {
    const unit_args *a = ctx;
    const size_t howo = (size_t)a->cv->ho * a->cv->wo;
    int P = nb * nr * a->cv->wo;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a->cout, P, a->K, 1.0f, a->w, a->K, cols, P,
                a->accumulate ? 1.0f : 0.0f, a->y + (size_t)n0 * howo + (size_t)r0 * a->cv->wo, (int)(a->N * howo));
}

/* dx of whole images n0..n0+nb-1: dcols = w^T dy, then col2im */
static void bwd_data_col2im_unit(void *ctx, float *cols, int tid, int n0, int nb, int r0, int nr) {
    const unit_args *a = ctx;
    const daoe_conv *cv = a->cv;
    const size_t howo = (size_t)cv->ho * cv->wo, hw = (size_t)cv->h * cv->w;
    int P = nb * (int)howo;
    if (!a->accumulate)
        for (int ci = 0; ci < cv->cin; ci++) memset(a->y + ((size_t)ci * a->N + n0) * hw, 0, sizeof(float) * nb * hw);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a->K, P, cv->cout, 1.0f, a->w, a->K,
                a->x + (size_t)n0 * howo, (int)(a->N * howo), 0.0f, cols, P);
    col2im_unit(cv, a->N, n0, nb, cols, a->y);
}

/* this thread's partial dw[cout][K] += dy[cout][unit's pixels] cols^T */
static void bwd_filter_unit(void *ctx, float *cols, int tid, int n0, int nb, int r0, int nr) {
    const unit_args *a = ctx;
    const size_t howo = (size_t)a->cv->ho * a->cv->wo;
    int P = nb * nr * a->cv->wo;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a->cout, a->K, P, 1.0f,
                a->w + (size_t)n0 * howo + (size_t)r0 * a->cv->wo, (int)(a->N * howo), cols, P,
                a->started[tid] ? 1.0f : 0.0f, a->y + (size_t)tid * a->wsz, a->K);
    a->started[tid] = 1;
}

void cpu_conv_fwd(daoe_backend *be, const daoe_conv *cv, int N, const void *xv, const float *w,
                  void *yv) {
    cpu_impl *im = cpu_impl_of(be);
    const int K = cv->cin * cv->k * cv->k;
    conv_units u = plan_units(cv, N, 0);
    ensure_scratch(im, (size_t)K * u.imgs * u.rows * cv->wo);
    unit_args a = {.cv = cv, .N = N, .K = K, .w = w, .y = yv, .accumulate = 0, .cout = cv->cout};
    run_units(im, &u, cv, N, xv, fwd_unit, &a);
}

void cpu_conv_bwd_data(daoe_backend *be, const daoe_conv *cv, int N, const void *dyv,
                       const float *w, void *dxv, int accumulate) {
    cpu_impl *im = cpu_impl_of(be);
    const int K = cv->cin * cv->k * cv->k;
    const size_t howo = (size_t)cv->ho * cv->wo;
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
#pragma omp parallel for schedule(static)
        for (int ci = 0; ci < cv->cin; ci++)
            for (int co = 0; co < cv->cout; co++)
                for (int q = 0; q < kk; q++)
                    wt[((size_t)ci * cv->cout + co) * kk + q] = w[((size_t)co * cv->cin + ci) * kk + (kk - 1 - q)];
        unit_args a = {.cv = &t, .N = N, .K = K2, .w = wt, .y = dxv, .accumulate = accumulate, .cout = cv->cin};
        run_units(im, &u, &t, N, dyv, fwd_unit, &a);
        return;
    }
    conv_units u = plan_units(cv, N, 1); /* whole images: col2im of a unit touches only its images */
    ensure_scratch(im, (size_t)K * u.imgs * howo);
    unit_args a = {.cv = cv, .N = N, .K = K, .x = dyv, .w = w, .y = dxv, .accumulate = accumulate};
    run_units(im, &u, cv, N, NULL, bwd_data_col2im_unit, &a);
}

void cpu_conv_bwd_filter(daoe_backend *be, const daoe_conv *cv, int N, const void *xv,
                         const void *dyv, float *dw) {
    cpu_impl *im = cpu_impl_of(be);
    const int K = cv->cin * cv->k * cv->k;
    const size_t wsz = (size_t)cv->cout * K;
    conv_units u = plan_units(cv, N, 0);
    ensure_scratch(im, (size_t)K * u.imgs * u.rows * cv->wo);
    if (wsz * (size_t)im->threads > im->dw_cap) {
        free(im->dw);
        im->dw_cap = wsz * (size_t)im->threads;
        im->dw = aligned_alloc(64, (im->dw_cap * sizeof(float) + 63) & ~(size_t)63);
        if (!im->dw) daoe_fatal("out of memory (filter gradient scratch)");
    }
    unsigned char *started = daoe_xcalloc((size_t)im->threads, 1);
    unit_args a = {.cv = cv, .N = N, .K = K, .w = dyv, .y = im->dw, .cout = cv->cout, .wsz = wsz, .started = started};
    const int nthr = run_units(im, &u, cv, N, xv, bwd_filter_unit, &a);
    /* the partials summed in thread order */
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int t = 0; t < nthr; t++)
            if (!started[t]) memset(im->dw + (size_t)t * wsz, 0, sizeof(float) * wsz);
#pragma omp for schedule(static)
        for (size_t j = 0; j < wsz; j++) {
            float acc = im->dw[j];
            for (int t = 1; t < nthr; t++) acc += im->dw[(size_t)t * wsz + j];
            dw[j] = acc;
        }
    }
    free(started);
}
