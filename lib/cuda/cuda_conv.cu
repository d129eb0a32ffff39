/* cuDNN convolutions for the CUDA backend (its own translation unit).
 * Activations are NHWC; weights come from the backend's KRSC mirror of the
 * flat OIHW fp32 parameters (fp32 or bf16). One plan per (shape, batch,
 * type): descriptors and the algorithm of each direction, chosen on first
 * use by cudnnFind (timed) or, in deterministic mode, by the v7 heuristics
 * restricted to deterministic algorithms, so the choice is stable. */
#include "cuda_common.cuh"

static cudnnDataType_t act_type(const cuda_impl *im) { return im->bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT; }
static size_t act_size(const cuda_impl *im) { return im->bf16 ? 2 : 4; }

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
    p->fwd = (cudnnConvolutionFwdAlgo_t)-1;
    p->bwd_data = (cudnnConvolutionBwdDataAlgo_t)-1;
    p->bwd_filter = (cudnnConvolutionBwdFilterAlgo_t)-1;
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

void cuda_conv_fwd(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const float *w, void *y) {
    cuda_impl *im = (cuda_impl *)be->impl;
    conv_plan *p = get_plan(im, cv, N);
    const void *wk = mirror_of(im, w);
    if ((int)p->fwd < 0) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int n = 0;
        size_t wsb = 0;
        void *ws = NULL;
        if (im->timed_search && !im->deterministic) {
            CUDA_CHECK(cudaStreamSynchronize(im->stream));
            ws = search_ws(&wsb);
            CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(im->cudnn, p->x, x, p->f, wk, p->conv, p->y, y,
                                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf, ws, wsb));
            CUDA_CHECK(cudaFree(ws));
        } else {
            wsb = SEARCH_WS;
            CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(im->cudnn, p->x, p->f, p->conv, p->y,
                                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
        }
        /* each candidate is tried once on the real buffers: a reported algorithm
         * can still refuse these descriptors (seen: CUDNN_STATUS_BAD_PARAM with
         * bf16 NHWC on an H100), then the next one is taken */
        const float one_ = 1.0f, zero_ = 0.0f;
        for (int i = 0; i < n && (int)p->fwd < 0; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= wsb &&
                (!im->deterministic || perf[i].determinism == CUDNN_DETERMINISTIC)) {
                cuda_ensure_workspace(im, perf[i].memory);
                if (cudnnConvolutionForward(im->cudnn, &one_, p->x, x, p->f, wk, p->conv, perf[i].algo, im->ws,
                                            perf[i].memory, &zero_, p->y, y) != CUDNN_STATUS_SUCCESS ||
                    cudaStreamSynchronize(im->stream) != cudaSuccess) {
                    cudaGetLastError();
                    continue;
                }
                p->fwd = perf[i].algo;
                p->ws_fwd = perf[i].memory;
            }
        if ((int)p->fwd < 0) {
            fprintf(stderr, "daoe: no usable cuDNN forward algorithm for conv %d->%d k%d s%d %dx%d N%d\n", cv->cin,
                    cv->cout, cv->k, cv->stride, cv->h, cv->w, N);
            exit(1);
        }
        cuda_ensure_workspace(im, p->ws_fwd);
    }
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(im->cudnn, &one, p->x, x, p->f, wk, p->conv, p->fwd, im->ws, p->ws_fwd, &zero,
                                        p->y, y));
    LAUNCH_CHECK(im, "cudnnConvolutionForward");
}

void cuda_conv_bwd_data(daoe_backend *be, const daoe_conv *cv, int N, const void *dy, const float *w, void *dx,
                        int accumulate) {
    cuda_impl *im = (cuda_impl *)be->impl;
    conv_plan *p = get_plan(im, cv, N);
    const void *wk = mirror_of(im, w);
    if ((int)p->bwd_data < 0) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        int n = 0;
        size_t wsb = 0;
        /* the search and the trials write their output: not into dx, which may be accumulated */
        CUDA_CHECK(cudaStreamSynchronize(im->stream));
        void *scratch = NULL;
        CUDA_CHECK(cudaMalloc(&scratch, (size_t)N * cv->cin * cv->h * cv->w * act_size(im)));
        if (im->timed_search && !im->deterministic) {
            void *ws = search_ws(&wsb);
            CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(im->cudnn, p->f, wk, p->y, dy, p->conv, p->x,
                                                                    scratch, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n,
                                                                    perf, ws, wsb));
            CUDA_CHECK(cudaFree(ws));
        } else {
            wsb = SEARCH_WS;
            CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(im->cudnn, p->f, p->y, p->conv, p->x,
                                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
        }
        const float one_ = 1.0f, zero_ = 0.0f;
        for (int i = 0; i < n && (int)p->bwd_data < 0; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= wsb &&
                (!im->deterministic || perf[i].determinism == CUDNN_DETERMINISTIC)) {
                cuda_ensure_workspace(im, perf[i].memory);
                if (cudnnConvolutionBackwardData(im->cudnn, &one_, p->f, wk, p->y, dy, p->conv, perf[i].algo, im->ws,
                                                 perf[i].memory, &zero_, p->x, scratch) != CUDNN_STATUS_SUCCESS ||
                    cudaStreamSynchronize(im->stream) != cudaSuccess) {
                    cudaGetLastError();
                    continue;
                }
                p->bwd_data = perf[i].algo;
                p->ws_data = perf[i].memory;
            }
        CUDA_CHECK(cudaFree(scratch));
        if ((int)p->bwd_data < 0) {
            fprintf(stderr, "daoe: no usable cuDNN backward-data algorithm for conv %d->%d k%d s%d %dx%d N%d\n",
                    cv->cin, cv->cout, cv->k, cv->stride, cv->h, cv->w, N);
            exit(1);
        }
        cuda_ensure_workspace(im, p->ws_data);
    }
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardData(im->cudnn, &one, p->f, wk, p->y, dy, p->conv, p->bwd_data, im->ws,
                                             p->ws_data, &beta, p->x, dx));
    LAUNCH_CHECK(im, "cudnnConvolutionBackwardData");
}

void cuda_conv_bwd_filter(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const void *dy, float *dw) {
    cuda_impl *im = (cuda_impl *)be->impl;
    conv_plan *p = get_plan(im, cv, N);
    if ((int)p->bwd_filter < 0) {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        int n = 0;
        size_t wsb = 0;
        if (im->timed_search && !im->deterministic) {
            CUDA_CHECK(cudaStreamSynchronize(im->stream));
            void *ws = search_ws(&wsb);
            CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(im->cudnn, p->x, x, p->y, dy, p->conv, p->f,
                                                                      im->dwscratch,
                                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n,
                                                                      perf, ws, wsb));
            CUDA_CHECK(cudaFree(ws));
        } else {
            wsb = SEARCH_WS;
            CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(im->cudnn, p->x, p->y, p->conv, p->f,
                                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n,
                                                                      perf));
        }
        const float one_ = 1.0f, zero_ = 0.0f;
        for (int i = 0; i < n && (int)p->bwd_filter < 0; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= wsb &&
                (!im->deterministic || perf[i].determinism == CUDNN_DETERMINISTIC)) {
                cuda_ensure_workspace(im, perf[i].memory);
                if (cudnnConvolutionBackwardFilter(im->cudnn, &one_, p->x, x, p->y, dy, p->conv, perf[i].algo, im->ws,
                                                   perf[i].memory, &zero_, p->f, im->dwscratch) != CUDNN_STATUS_SUCCESS ||
                    cudaStreamSynchronize(im->stream) != cudaSuccess) {
                    cudaGetLastError();
                    continue;
                }
                p->bwd_filter = perf[i].algo;
                p->ws_filter = perf[i].memory;
            }
        if ((int)p->bwd_filter < 0) {
            fprintf(stderr, "daoe: no usable cuDNN backward-filter algorithm for conv %d->%d k%d s%d %dx%d N%d\n",
                    cv->cin, cv->cout, cv->k, cv->stride, cv->h, cv->w, N);
            exit(1);
        }
        cuda_ensure_workspace(im, p->ws_filter);
    }
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(im->cudnn, &one, p->x, x, p->y, dy, p->conv, p->bwd_filter, im->ws,
                                               p->ws_filter, &zero, p->f, im->dwscratch));
    LAUNCH_CHECK(im, "cudnnConvolutionBackwardFilter");
    cuda_krsc_to_oihw(im, cv, im->dwscratch, dw);
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
