/* Private to the CUDA backend (lib/cuda/): the error-check macros that name
 * the call, file and line; the backend's state; the element access (fp32 or
 * bf16) and warp reductions the kernels share; and every op of the backend
 * table, named cuda_<entry> (the CPU backend names the same ops cpu_<entry>).
 * The table is filled in cuda_backend.cu; the ops live one family per file
 * (mem.cu, load_batch.cu, conv.cu, bn.cu, head.cu, fused_update.cu, graph.cu). Not a public
 * header: the rest of the library sees only daoe/backend.h. */
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

/* a failed CUDA, cuDNN or cuBLAS call: its status, the call, file and line, then exit */
#define STATUS_CHECK(lib, call, ok, str)                                                              \
    do {                                                                                              \
        auto s_ = (call);                                                                             \
        if (s_ != (ok)) {                                                                             \
            fprintf(stderr, "daoe: %s error %s in %s at %s:%d\n", lib, str(s_), #call, __FILE__, __LINE__); \
            exit(1);                                                                                  \
        }                                                                                             \
    } while (0)
static inline const char *cuda_status_str(cudaError_t e) {
    static char b[256];
    snprintf(b, sizeof b, "%s (%s)", cudaGetErrorName(e), cudaGetErrorString(e));
    return b;
}
static inline const char *cublas_status_str(cublasStatus_t s) {
    static char b[16];
    snprintf(b, sizeof b, "%d", (int)s);
    return b;
}
#define CUDA_CHECK(call) STATUS_CHECK("CUDA", call, cudaSuccess, cuda_status_str)
#define CUDNN_CHECK(call) STATUS_CHECK("cuDNN", call, CUDNN_STATUS_SUCCESS, cudnnGetErrorString)
#define CUBLAS_CHECK(call) STATUS_CHECK("cuBLAS", call, CUBLAS_STATUS_SUCCESS, cublas_status_str)

/* after every kernel launch: the launch error, and with DAOE_DEBUG_SYNC=1 a
 * synchronisation that surfaces asynchronous faults at the launch that caused them */
#define LAUNCH_CHECK(im, what) cuda_after_launch((im), (what), __FILE__, __LINE__)

/* the three directions of a convolution, each with its own cuDNN algorithm */
typedef enum { CONV_FWD = 0, CONV_BWD_DATA = 1, CONV_BWD_FILTER = 2, CONV_NDIR = 3 } conv_dir;

typedef struct {
    int cin, cout, k, stride, pad, h, w, N, bf16;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t f;
    cudnnConvolutionDescriptor_t conv;
    int algo[CONV_NDIR];     /* cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t; -1 until chosen */
    size_t ws[CONV_NDIR];    /* workspace bytes of that algorithm */
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
    int debug_sync;       /* synchronise after every launch (--debug-sync) */
    int no_graph;         /* launch a step's kernels one by one (--no-graph) */
    int timed_search;     /* cudnnFind (timed) vs heuristics (--cudnn-search) */
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
    void *ws;             /* cuDNN workspace: a move drops the captured graphs (conv.cu) */
    size_t ws_size;
    int ws_moves;         /* times it was (re)allocated: describe reports it, tests read it */
    int test_ws_move;     /* DAOE_TEST_WS_MOVE=1: move it for every new algorithm (tests) */
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
    int graph_captures;   /* graphs captured so far (describe) */
} cuda_impl;

static inline cuda_impl *cuda_impl_of(daoe_backend *be) { return (cuda_impl *)be->impl; }

#define TPB 256 /* threads per block of the elementwise and reduction kernels */
static inline unsigned nblocks(size_t n, int tpb) { return (unsigned)((n + tpb - 1) / tpb); }

/* element access: activations are fp32 or bf16, arithmetic is fp32 */
static __device__ __forceinline__ float ld(const float *p, size_t i) { return p[i]; }
static __device__ __forceinline__ float ld(const __nv_bfloat16 *p, size_t i) { return __bfloat162float(p[i]); }
static __device__ __forceinline__ void st(float *p, size_t i, float v) { p[i] = v; }
static __device__ __forceinline__ void st(__nv_bfloat16 *p, size_t i, float v) { p[i] = __float2bfloat16_rn(v); }

/* block reductions (fixed order) */
static __device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}
static __device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

/* every op of the backend table, cuda_<op> (mem.cu, load_batch.cu, conv.cu, bn.cu, head.cu,
 * fused_update.cu, graph.cu: run_step; cuda_backend.cu: describe, destroy), declared from the
 * table's fields (backend.h) */
DAOE_BACKEND_DECLARE_OPS(cuda)

/* mem.cu */
void cuda_after_launch(cuda_impl *im, const char *what, const char *file, int line);
void cuda_krsc_to_oihw(cuda_impl *im, const daoe_conv *cv, const void *src, float *dst); /* for conv.cu */

/* load_batch.cu */
void cuda_data_init(void);

/* conv.cu */
void cuda_conv_prepare(cuda_impl *im, const daoe_conv *convs, int nconv, int N);
void cuda_conv_describe(cuda_impl *im, struct cJSON *arr);
void cuda_conv_destroy_plans(cuda_impl *im);

/* graph.cu */
void cuda_drop_graphs(cuda_impl *im);
#endif
