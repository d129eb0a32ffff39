/* CUDA backend, convolution: forward, data gradient and filter gradient by
 * cuDNN (its own translation unit; nothing else here). Activations are NHWC;
 * weights come from the backend's KRSC mirror of the flat OIHW fp32
 * parameters (fp32 or bf16, kept by mem.cu). One plan per (shape, batch,
 * type): descriptors and the algorithm of each direction, chosen by cudnnFind
 * (timed) or, in deterministic mode, by the v7 heuristics restricted to
 * deterministic algorithms, so the choice is stable. The training batch's
 * plans are chosen when the parameters are bound (cuda_conv_prepare, so
 * config.json can name them: cuda_conv_describe); others (the evaluation's
 * partial batches) on first use. */
#include "cuda_common.cuh"
#include <cjson/cJSON.h>

static cudnnDataType_t act_type(const cuda_impl *im) { return im->bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT; }
static size_t act_size(const cuda_impl *im) { return im->bf16 ? 2 : 4; }

/* The cuDNN workspace grows to the largest chosen algorithm's need. A
 * captured graph holds the old workspace's address, so a move drops the
 * graphs (recaptured on their next use), as every free does (mem.cu): a new
 * plan between replays (an evaluation's partial batch) must not leave a graph
 * running on freed memory. DAOE_TEST_WS_MOVE=1 (tests only) moves the
 * workspace for every new algorithm, needed or not, so that path always runs. */
static void ensure_workspace(cuda_impl *im, size_t bytes) {
    if (bytes <= im->ws_size && !(im->test_ws_move && im->ws)) return;
    if (im->capturing) {
        fprintf(stderr, "daoe: cuDNN workspace growth during CUDA graph capture\n");
        exit(1);
    }
    cuda_drop_graphs(im); /* synchronises the stream */
    if (im->ws) CUDA_CHECK(cudaFree(im->ws));
    if (bytes < im->ws_size) bytes = im->ws_size;
    CUDA_CHECK(cudaMalloc(&im->ws, bytes ? bytes : 256));
    im->ws_size = bytes;
    im->ws_moves++;
}

#define SEARCH_WS ((size_t)1 << 30) /* workspace offered to the algorithm search */

static conv_plan *get_plan(cuda_impl *im, const daoe_conv *cv, int N) {
    for (int i = 0; i < im->nplans; i++) {
        conv_plan *p = &im->plans[i];
        if (p->cin == cv->cin && p->cout == cv->cout && p->k == cv->k && p->stride == cv->stride &&
            p->pad == cv->pad && p->h == cv->h && p->w == cv->w && p->N == N && p->bf16 == im->bf16)
            return p;
    }
    if (im->capturing) {
        fprintf(stderr, "daoe: new convolution shape during CUDA graph capture\n");
        exit(1);
    }
    if (im->nplans == MAX_PLANS) {
        fprintf(stderr, "daoe: too many convolution shapes (%d)\n", MAX_PLANS);
        exit(1);
    }
    conv_plan *p = &im->plans[im->nplans++];
    memset(p, 0, sizeof *p);
    p->cin = cv->cin; p->cout = cv->cout; p->k = cv->k; p->stride = cv->stride; p->pad = cv->pad;
    p->h = cv->h; p->w = cv->w; p->N = N; p->bf16 = im->bf16;
    for (int d = 0; d < CONV_NDIR; d++) p->algo[d] = -1;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->f));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, act_type(im), N, cv->cin, cv->h, cv->w));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, act_type(im), N, cv->cout, cv->ho, cv->wo));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->f, act_type(im), CUDNN_TENSOR_NHWC, cv->cout, cv->cin, cv->k, cv->k));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, cv->pad, cv->pad, cv->stride, cv->stride, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    /* fp32: plain FMA (no TF32); tf32 and bf16: tensor cores */
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, im->prec == DAOE_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
    return p;
}

static const void *mirror_of(cuda_impl *im, const float *w) {
    return (const char *)im->wmirror + (size_t)(w - im->params) * act_size(im);
}

static void *search_ws(size_t *bytes) {
    void *p = NULL;
    size_t sz = SEARCH_WS;
    while (sz >= ((size_t)1 << 24) && cudaMalloc(&p, sz) != cudaSuccess) {
        cudaGetLastError();
        sz /= 2;
    }
    *bytes = p ? sz : 0;
    return p;
}

/* The operands of a direction, as the functions below take them: fwd
 * y = conv(x, w): a = x, b = w, out = y; bwd_data dx = conv^T(dy, w): a = dy,
 * b = w, out = dx; bwd_filter dw = x (*) dy: a = x, b = dy, out = dw (KRSC).
 * One candidate algorithm of a direction, from cuDNN's ranking: */
typedef struct {
    int algo;
    size_t memory;
    int usable; /* succeeded in the search and deterministic where that is asked */
} conv_cand;

#define MAX_CANDS 16 /* at least each direction's ALGO_COUNT */
static_assert((int)CUDNN_CONVOLUTION_FWD_ALGO_COUNT <= MAX_CANDS &&
                  (int)CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT <= MAX_CANDS &&
                  (int)CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT <= MAX_CANDS,
              "MAX_CANDS too small");

/* the three directions' perf structs have the same fields */
template <typename Perf>
static void take_cands(const cuda_impl *im, const Perf *perf, int n, conv_cand *c) {
    for (int i = 0; i < n; i++) {
        c[i].algo = (int)perf[i].algo;
        c[i].memory = perf[i].memory;
        c[i].usable = perf[i].status == CUDNN_STATUS_SUCCESS &&
                      (!im->deterministic || perf[i].determinism == CUDNN_DETERMINISTIC);
    }
}

/* cuDNN's ranked candidates for direction d: timed by cudnnFind on the real
 * buffers (out is written), or the v7 heuristics; *wsb is the workspace the
 * ranking assumed */
static int conv_cands(cuda_impl *im, conv_plan *p, conv_dir d, const void *a, const void *b, void *out, conv_cand *c,
                      size_t *wsb) {
    int n = 0;
    void *ws = NULL;
    const int timed = im->timed_search && !im->deterministic;
    if (timed) {
        CUDA_CHECK(cudaStreamSynchronize(im->stream));
        ws = search_ws(wsb);
    } else {
        *wsb = SEARCH_WS;
    }
    switch (d) {
    case CONV_FWD: {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        if (timed)
            CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(im->cudnn, p->x, a, p->f, b, p->conv, p->y, out,
                                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf, ws, *wsb));
        else
            CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(im->cudnn, p->x, p->f, p->conv, p->y,
                                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
        take_cands(im, perf, n, c);
        break;
    }
    case CONV_BWD_DATA: {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        if (timed)
            CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(im->cudnn, p->f, b, p->y, a, p->conv, p->x, out,
                                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf,
                                                                    ws, *wsb));
        else
            CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(im->cudnn, p->f, p->y, p->conv, p->x,
                                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
        take_cands(im, perf, n, c);
        break;
    }
    default: {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        if (timed)
            CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(im->cudnn, p->x, a, p->y, b, p->conv, p->f, out,
                                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n,
                                                                      perf, ws, *wsb));
        else
            CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(im->cudnn, p->x, p->y, p->conv, p->f,
                                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n,
                                                                      perf));
        take_cands(im, perf, n, c);
        break;
    }
    }
    if (timed) CUDA_CHECK(cudaFree(ws));
    return n;
}

/* one call of direction d with algorithm algo: out = beta * out + op(a, b) */
static cudnnStatus_t conv_run(cuda_impl *im, const conv_plan *p, conv_dir d, int algo, size_t ws_bytes,
                              const void *a, const void *b, float beta, void *out) {
    const float one = 1.0f;
    switch (d) {
    case CONV_FWD:
        return cudnnConvolutionForward(im->cudnn, &one, p->x, a, p->f, b, p->conv, (cudnnConvolutionFwdAlgo_t)algo,
                                       im->ws, ws_bytes, &beta, p->y, out);
    case CONV_BWD_DATA:
        return cudnnConvolutionBackwardData(im->cudnn, &one, p->f, b, p->y, a, p->conv,
                                            (cudnnConvolutionBwdDataAlgo_t)algo, im->ws, ws_bytes, &beta, p->x, out);
    default:
        return cudnnConvolutionBackwardFilter(im->cudnn, &one, p->x, a, p->y, b, p->conv,
                                              (cudnnConvolutionBwdFilterAlgo_t)algo, im->ws, ws_bytes, &beta, p->f,
                                              out);
    }
}

static const char *dir_name[CONV_NDIR] = {"forward", "backward-data", "backward-filter"};

/* Direction d's algorithm, chosen on first use. Each candidate is tried once
 * on the real buffers (out is overwritten): a reported algorithm can still
 * refuse these descriptors (seen: CUDNN_STATUS_BAD_PARAM with bf16 NHWC on an
 * H100), then the next one is taken. */
static void conv_choose(cuda_impl *im, conv_plan *p, conv_dir d, const daoe_conv *cv, int N, const void *a,
                        const void *b, void *out) {
    if (p->algo[d] >= 0) return;
    conv_cand c[MAX_CANDS];
    size_t wsb = 0;
    int n = conv_cands(im, p, d, a, b, out, c, &wsb);
    for (int i = 0; i < n && p->algo[d] < 0; i++)
        if (c[i].usable && c[i].memory <= wsb) {
            ensure_workspace(im, c[i].memory);
            if (conv_run(im, p, d, c[i].algo, c[i].memory, a, b, 0.0f, out) != CUDNN_STATUS_SUCCESS ||
                cudaStreamSynchronize(im->stream) != cudaSuccess) {
                cudaGetLastError();
                continue;
            }
            p->algo[d] = c[i].algo;
            p->ws[d] = c[i].memory;
        }
    if (p->algo[d] < 0) {
        fprintf(stderr, "daoe: no usable cuDNN %s algorithm for conv %d->%d k%d s%d %dx%d N%d\n", dir_name[d],
                cv->cin, cv->cout, cv->k, cv->stride, cv->h, cv->w, N);
        exit(1);
    }
    ensure_workspace(im, p->ws[d]);
}

static void conv_exec(cuda_impl *im, const conv_plan *p, conv_dir d, const void *a, const void *b, float beta,
                      void *out) {
    static const char *call[CONV_NDIR] = {"cudnnConvolutionForward", "cudnnConvolutionBackwardData",
                                          "cudnnConvolutionBackwardFilter"};
    cudnnStatus_t s = conv_run(im, p, d, p->algo[d], p->ws[d], a, b, beta, out);
    if (s != CUDNN_STATUS_SUCCESS) { /* as CUDNN_CHECK, naming the cuDNN call rather than conv_run */
        fprintf(stderr, "daoe: cuDNN error %s in %s at %s:%d\n", cudnnGetErrorString(s), call[d], __FILE__, __LINE__);
        exit(1);
    }
    LAUNCH_CHECK(im, call[d]);
}

void cuda_conv_fwd(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const float *w, void *y) {
    cuda_impl *im = cuda_impl_of(be);
    conv_plan *p = get_plan(im, cv, N);
    const void *wk = mirror_of(im, w);
    conv_choose(im, p, CONV_FWD, cv, N, x, wk, y);
    conv_exec(im, p, CONV_FWD, x, wk, 0.0f, y);
}

void cuda_conv_bwd_data(daoe_backend *be, const daoe_conv *cv, int N, const void *dy, const float *w, void *dx,
                        int accumulate) {
    cuda_impl *im = cuda_impl_of(be);
    conv_plan *p = get_plan(im, cv, N);
    const void *wk = mirror_of(im, w);
    if (p->algo[CONV_BWD_DATA] < 0) {
        /* the search and the trials write their output: not into dx, which may be accumulated */
        CUDA_CHECK(cudaStreamSynchronize(im->stream));
        void *scratch = NULL;
        CUDA_CHECK(cudaMalloc(&scratch, (size_t)N * cv->cin * cv->h * cv->w * act_size(im)));
        conv_choose(im, p, CONV_BWD_DATA, cv, N, dy, wk, scratch);
        CUDA_CHECK(cudaFree(scratch));
    }
    conv_exec(im, p, CONV_BWD_DATA, dy, wk, accumulate ? 1.0f : 0.0f, dx);
}

void cuda_conv_bwd_filter(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const void *dy, float *dw) {
    cuda_impl *im = cuda_impl_of(be);
    conv_plan *p = get_plan(im, cv, N);
    conv_choose(im, p, CONV_BWD_FILTER, cv, N, x, dy, im->dwscratch);
    conv_exec(im, p, CONV_BWD_FILTER, x, dy, 0.0f, im->dwscratch);
    cuda_krsc_to_oihw(im, cv, im->dwscratch, dw);
}

/* The training batch's plans, all three directions (not the stem's data
 * gradient, never asked for), chosen now on scratch buffers of the largest
 * shapes: the workspace is sized before the first graph capture, and
 * config.json names the algorithms. */
void cuda_conv_prepare(cuda_impl *im, const daoe_conv *convs, int nconv, int N) {
    if (N <= 0 || nconv <= 0) return;
    size_t in = 0, out = 0;
    for (int i = 0; i < nconv; i++) {
        const daoe_conv *cv = &convs[i];
        size_t a = (size_t)N * cv->cin * cv->h * cv->w, b = (size_t)N * cv->cout * cv->ho * cv->wo;
        if (a > in) in = a;
        if (b > out) out = b;
    }
    void *x = NULL, *y = NULL;
    CUDA_CHECK(cudaMalloc(&x, in * act_size(im)));
    CUDA_CHECK(cudaMalloc(&y, out * act_size(im)));
    CUDA_CHECK(cudaMemsetAsync(x, 0, in * act_size(im), im->stream));
    CUDA_CHECK(cudaMemsetAsync(y, 0, out * act_size(im), im->stream));
    for (int i = 0; i < nconv; i++) {
        const daoe_conv *cv = &convs[i];
        conv_plan *p = get_plan(im, cv, N);
        const void *wk = mirror_of(im, im->params + cv->w_off);
        conv_choose(im, p, CONV_FWD, cv, N, x, wk, y);
        if (i > 0) conv_choose(im, p, CONV_BWD_DATA, cv, N, y, wk, x);
        conv_choose(im, p, CONV_BWD_FILTER, cv, N, x, y, im->dwscratch);
    }
    CUDA_CHECK(cudaStreamSynchronize(im->stream));
    CUDA_CHECK(cudaFree(x));
    CUDA_CHECK(cudaFree(y));
}

/* cuDNN's algorithm enums by value (it has no name function for them) */
static const char *const FWD_NAMES[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT",
                                        "FFT",           "FFT_TILING",            "WINOGRAD", "WINOGRAD_NONFUSED"};
static const char *const BWD_DATA_NAMES[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
static const char *const BWD_FILTER_NAMES[] = {"ALGO_0",   "ALGO_1",            "FFT",       "ALGO_3",
                                               "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};
static_assert(sizeof FWD_NAMES / sizeof *FWD_NAMES == CUDNN_CONVOLUTION_FWD_ALGO_COUNT &&
                  sizeof BWD_DATA_NAMES / sizeof *BWD_DATA_NAMES == CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT &&
                  sizeof BWD_FILTER_NAMES / sizeof *BWD_FILTER_NAMES == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
              "a cuDNN algorithm without a name");
static const char *algo_name(conv_dir d, int a) {
    const char *const *t[CONV_NDIR] = {FWD_NAMES, BWD_DATA_NAMES, BWD_FILTER_NAMES};
    const int n[CONV_NDIR] = {CUDNN_CONVOLUTION_FWD_ALGO_COUNT, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT};
    if (a < 0) return "not chosen";
    return a < n[d] ? t[d][a] : "unknown";
}

/* every plan so far: shape, batch, each direction's algorithm and workspace */
void cuda_conv_describe(cuda_impl *im, cJSON *arr) {
    for (int i = 0; i < im->nplans; i++) {
        const conv_plan *p = &im->plans[i];
        cJSON *o = cJSON_CreateObject();
        char shape[96];
        snprintf(shape, sizeof shape, "%dx%d s%d %d->%d %dx%d", p->k, p->k, p->stride, p->cin, p->cout, p->h, p->w);
        cJSON_AddStringToObject(o, "shape", shape);
        cJSON_AddNumberToObject(o, "batch", p->N);
        static const char *key[CONV_NDIR] = {"forward", "backward_data", "backward_filter"};
        for (int d = 0; d < CONV_NDIR; d++) cJSON_AddStringToObject(o, key[d], algo_name((conv_dir)d, p->algo[d]));
        cJSON *ws = cJSON_AddArrayToObject(o, "workspace_bytes");
        for (int d = 0; d < CONV_NDIR; d++) cJSON_AddItemToArray(ws, cJSON_CreateNumber((double)p->ws[d]));
        cJSON_AddItemToArray(arr, o);
    }
}

void cuda_conv_destroy_plans(cuda_impl *im) {
    for (int i = 0; i < im->nplans; i++) {
        conv_plan *p = &im->plans[i];
        cudnnDestroyTensorDescriptor(p->x);
        cudnnDestroyTensorDescriptor(p->y);
        cudnnDestroyFilterDescriptor(p->f);
        cudnnDestroyConvolutionDescriptor(p->conv);
    }
    im->nplans = 0;
}
