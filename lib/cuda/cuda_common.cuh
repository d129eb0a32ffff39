/* Shared by the CUDA backend's translation units: error-check macros that
 * name the call, file and line; the backend's private state; bf16 helpers.
 * The cuDNN convolution code lives in cuda_conv.cu, everything else in
 * cuda_backend.cu. */
#ifndef DAOE_CUDA_COMMON_CUH
#define DAOE_CUDA_COMMON_CUH
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daoe/rng.h" /* Random123 is C++-aware: outside the extern "C" block */

extern "C" {
#include "daoe/backend.h"
}

#define CUDA_CHECK(call)                                                                       \
    do {                                                                                       \
        cudaError_t e_ = (call);                                                               \
        if (e_ != cudaSuccess) {                                                               \
            fprintf(stderr, "daoe: CUDA error %s (%s) in %s at %s:%d\n", cudaGetErrorName(e_), \
                    cudaGetErrorString(e_), #call, __FILE__, __LINE__);                        \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

#define CUDNN_CHECK(call)                                                                          \
    do {                                                                                           \
        cudnnStatus_t s_ = (call);                                                                 \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                                          \
            fprintf(stderr, "daoe: cuDNN error %s in %s at %s:%d\n", cudnnGetErrorString(s_), #call, \
                    __FILE__, __LINE__);                                                           \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CUBLAS_CHECK(call)                                                                        \
    do {                                                                                          \
        cublasStatus_t s_ = (call);                                                               \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                        \
            fprintf(stderr, "daoe: cuBLAS error %d in %s at %s:%d\n", (int)s_, #call, __FILE__, __LINE__); \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

/* after every kernel launch: the launch error, and with DAOE_DEBUG_SYNC=1 a
 * synchronisation that surfaces asynchronous faults at the launch that caused them */
#define LAUNCH_CHECK(im, what) cuda_after_launch((im), (what), __FILE__, __LINE__)

typedef struct {
    int cin, cout, k, stride, pad, h, w, N, bf16;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t f;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    size_t ws_fwd, ws_data, ws_filter;
} conv_plan;

#define MAX_PLANS 128
#define MAX_GRAPHS 8

typedef struct {
    int device;
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    daoe_precision prec;
    int bf16;             /* activations in bf16 */
    int deterministic;
    int debug_sync;
    int timed_search;     /* cudnnFind (timed) vs heuristics */
    int sm_count;
    /* parameters */
    float *params, *grads;
    size_t nparams;
    daoe_conv convs[64];
    int nconv;
    void *wmirror;        /* conv weights KRSC in the activation type, at the params' offsets */
    void *dwscratch;      /* KRSC filter gradient before it goes OIHW fp32 into grads */
    size_t dwscratch_elems;
    /* scratch */
    void *ws;
    size_t ws_size;
    void *cublas_ws;
    float *part;          /* reduction partials */
    size_t part_floats;
    float *chan;          /* per-channel coefficients (BN) */
    size_t chan_floats;
    conv_plan plans[MAX_PLANS];
    int nplans;
    struct {
        int key, calls;
        void *ctx;
        cudaGraph_t graph;
        cudaGraphExec_t exec;
    } graphs[MAX_GRAPHS];
    int ngraphs;
    int capturing;
} cuda_impl;

void cuda_after_launch(cuda_impl *im, const char *what, const char *file, int line);
void cuda_ensure_workspace(cuda_impl *im, size_t bytes);

/* conv entry points (cuda_conv.cu) */
void cuda_conv_fwd(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const float *w, void *y);
void cuda_conv_bwd_data(daoe_backend *be, const daoe_conv *cv, int N, const void *dy, const float *w, void *dx,
                        int accumulate);
void cuda_conv_bwd_filter(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const void *dy, float *dw);
void cuda_conv_destroy_plans(cuda_impl *im);

/* kernels shared across files */
void cuda_krsc_to_oihw(cuda_impl *im, const daoe_conv *cv, const void *src, float *dst);
#endif
