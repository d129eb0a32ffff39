/* The backend table: every op the network and the training loop need, one
 * function pointer each. The network code never asks which backend it runs
 * on; a backend is chosen once (daoe_backend_create) and everything after
 * goes through this table.
 *
 * Memory: pointers passed to ops are backend memory (host memory for "cpu",
 * device memory for "cuda"). Parameters, gradients and running statistics are
 * flat fp32 buffers; convolution weights are stored OIHW (PyTorch order).
 * Activation tensors are opaque: logical shape (N, C, H, W), but the layout
 * and element type are the backend's choice (cpu: fp32, CNHW with the
 * im2col convolutions, NHWC with the oneDNN ones; cuda: NHWC, fp32 or bf16
 * with --precision). act_bytes() sizes them; act_to_host() /
 * act_from_host() convert to and from fp32 NCHW, for tests and debugging.
 *
 * Per-batch statistics (DAOE_ST_* in ensemble.h) are written to a float[8]
 * buffer in backend memory by load_batch and xent, where the controller
 * reads them without a host round trip. */
#ifndef DAOE_BACKEND_H
#define DAOE_BACKEND_H
#include <stddef.h>
#include <stdint.h>
#include "ensemble.h"

typedef enum { DAOE_FP32 = 0, DAOE_TF32 = 1, DAOE_BF16 = 2 } daoe_precision;

/* The CPU backend's convolutions (--cpu-conv): the reference im2col + OpenBLAS
 * sgemm on CNHW activations, or oneDNN's direct convolutions on NHWC ones
 * (builds with libdnnl-dev). DEFAULT: dnnl where the build has it, else im2col. */
typedef enum { DAOE_CPU_CONV_IM2COL = 0, DAOE_CPU_CONV_DNNL = 1 } daoe_cpu_conv;
#ifdef DAOE_HAVE_DNNL
#define DAOE_CPU_CONV_DEFAULT DAOE_CPU_CONV_DNNL
#else
#define DAOE_CPU_CONV_DEFAULT DAOE_CPU_CONV_IM2COL
#endif

/* One convolution: no bias, square kernel. */
typedef struct {
    int cin, cout, k, stride, pad;
    int h, w, ho, wo;  /* input and output spatial size */
    size_t w_off;      /* offset of the weight [cout][cin][k][k] in the flat buffer */
} daoe_conv;

/* The optimizer's buffers and the controller, all in backend memory. */
typedef struct {
    daoe_opt_cfg cfg;
    daoe_ctrl_cfg ctrl;
    daoe_opt_bufs bufs;      /* p, g and state, length n */
    size_t n;                /* elements in the flat buffers (padding included) */
    daoe_step_consts *consts;/* backend memory, set by the host each step */
    daoe_ctrl_state *state;  /* backend memory */
    double *red;             /* backend memory, double[DAOE_NRED]: reductions of the last pass */
    float *stats;            /* backend memory, float[DAOE_NSTAT]: this batch's statistics */
    daoe_trace *trace;       /* backend memory ring of trace rows */
    int trace_cap;
} daoe_opt;

struct cJSON;
typedef struct daoe_backend daoe_backend;
struct daoe_backend {
    char desc[512];          /* device description for config.json / benchmarks */
    void *impl;

    /* ---- memory */
    void *(*alloc)(daoe_backend *be, size_t bytes); /* zero-filled; exits on failure */
    void (*free)(daoe_backend *be, void *p);
    void (*to_device)(daoe_backend *be, void *dst, const void *src, size_t bytes);
    void (*to_host)(daoe_backend *be, void *dst, const void *src, size_t bytes);
    void (*sync)(daoe_backend *be);
    size_t (*act_bytes)(daoe_backend *be, size_t count);
    void (*act_to_host)(daoe_backend *be, const void *act, int n, int c, int h, int w, float *nchw);
    void (*act_from_host)(daoe_backend *be, void *act, int n, int c, int h, int w, const float *nchw);

    /* ---- parameters: tell the backend where the flat buffers are and which
     * ranges are convolution weights, so it can keep its own copies (GPU:
     * NHWC-ordered, possibly bf16), and the batch the activations hold (the
     * CPU's oneDNN engine prepares its primitives for it; convs[0] is the
     * stem, whose data gradient is never asked for). refresh_weights()
     * re-derives those copies after params changed outside opt_step (init, load). */
    void (*bind_params)(daoe_backend *be, float *params, float *grads, size_t n,
                        const daoe_conv *convs, int nconv, int batch);
    void (*refresh_weights)(daoe_backend *be);

    /* ---- data
     * images: uint8 [count][3][32][32] (CIFAR planes), labels: int32 [count].
     * idx: int32 [N] image indices, in backend memory.
     * x <- normalise(augment(images[idx])) with crop (pad 4) and flip from
     * daoe_aug_params(seed, epoch, idx[i]) when augment; y <- labels[idx].
     * stats[DAOE_ST_XMEAN], [DAOE_ST_XVAR], [DAOE_ST_N] are written. */
    void (*load_batch)(daoe_backend *be, const uint8_t *images, const int32_t *labels,
                       const int32_t *idx, int N, int augment, uint64_t seed, int epoch,
                       void *x, int32_t *y, float *stats);

    /* ---- convolution, y[N,cout,ho,wo] = x[N,cin,h,w] * w */
    void (*conv_fwd)(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const float *w,
                     void *y);
    /* dx = conv_transpose(dy, w); accumulate != 0 adds to dx instead of overwriting */
    void (*conv_bwd_data)(daoe_backend *be, const daoe_conv *cv, int N, const void *dy,
                          const float *w, void *dx, int accumulate);
    /* dw (fp32, flat grad buffer) = sum over the batch, overwritten */
    void (*conv_bwd_filter)(daoe_backend *be, const daoe_conv *cv, int N, const void *x,
                            const void *dy, float *dw);

    /* ---- batch norm with fused residual add and ReLU
     * training: mean/var over (N,H,W) (biased var for normalising), save_mean and
     *   save_invstd = 1/sqrt(var+eps) written, running stats updated:
     *   r = (1-momentum) r + momentum * batch (unbiased var for running_var)
     * eval: running statistics used, save_* untouched.
     * y = act(gamma * (x-mean) * invstd + beta + res), res may be NULL, act = relu if relu. */
    void (*bn_fwd)(daoe_backend *be, int N, int C, int HW, const void *x, const void *res, void *y,
                   const float *gamma, const float *beta, float *running_mean, float *running_var,
                   float *save_mean, float *save_invstd, int training, int relu, float momentum,
                   float eps);
    /* dz = relu ? dy * (y > 0) : dy;  dres = dz if dres != NULL (overwritten);
     * dgamma = sum dz*xhat, dbeta = sum dz (overwritten, fp32);
     * dx = gamma*invstd * (dz - mean(dz) - xhat*mean(dz*xhat))  (overwritten). */
    void (*bn_bwd)(daoe_backend *be, int N, int C, int HW, const void *dy, const void *y,
                   const void *x, const float *gamma, const float *save_mean,
                   const float *save_invstd, void *dx, void *dres, float *dgamma, float *dbeta,
                   int relu);

    /* ---- head: global average pool, linear, softmax cross-entropy (fp32) */
    void (*avgpool_fwd)(daoe_backend *be, int N, int C, int HW, const void *x, float *y);
    void (*avgpool_bwd)(daoe_backend *be, int N, int C, int HW, const float *dy, void *dx);
    /* y[N,out] = x[N,in] W[out,in]^T + b */
    void (*linear_fwd)(daoe_backend *be, int N, int in, int out, const float *x, const float *W,
                       const float *b, float *y);
    /* dx = dy W, dW = dy^T x, db = sum dy (dW, db overwritten) */
    void (*linear_bwd)(daoe_backend *be, int N, int in, int out, const float *x, const float *W,
                       const float *dy, float *dx, float *dW, float *db);
    /* mean cross-entropy of logits[N,K] against y; dlogits = (softmax - onehot)/N when
     * dlogits != NULL; stats[LOSS], [CORRECT], [ENTROPY] written. */
    void (*xent)(daoe_backend *be, int N, int K, const float *logits, const int32_t *y,
                 float *dlogits, float *stats);

    /* ---- optimizer: one fused pass (daoe_fused_elem on every element, reductions
     * into opt->red), then the controller (daoe_ctrl_update, trace row into
     * opt->trace[(t-1) % trace_cap]). Both read their inputs from backend memory.
     * Two-pass controller: opt_step(REDUCE) (daoe_reduce_elem: reductions only),
     * ctrl_step(PRE), opt_step(UPDATE), ctrl_step(POST) (daoe_ctrl_pre/_post). */
    void (*opt_step)(daoe_backend *be, daoe_opt *opt, int pass);  /* DAOE_PASS_UPDATE or _REDUCE */
    void (*ctrl_step)(daoe_backend *be, daoe_opt *opt, int phase); /* DAOE_CTRL_STEP, _PRE or _POST */

    /* ---- a training step body: the CPU calls fn(ctx); the GPU may capture it
     * as a graph on first use (per key) and replay it after. fn must only
     * launch backend ops on memory whose addresses do not change. */
    void (*run_step)(daoe_backend *be, int key, void (*fn)(void *ctx), void *ctx);

    /* adds what config.json should record about the backend's libraries and
     * kernels to the run's JSON object o (a cJSON object; NULL: nothing to add) */
    void (*describe)(daoe_backend *be, struct cJSON *o);

    void (*destroy)(daoe_backend *be);
};

/* Every op of the table, once. A backend whose functions are named <prefix>_<op>
 * fills its table with DAOE_BACKEND_SET_OPS(be, prefix) (and may set an op again
 * after it, as the CPU backend does for its convolution engine). A new op: its field
 * above, its name here, and the function in each backend (a missing one fails to
 * compile). */
#define DAOE_BACKEND_OPS(X, be, P) \
    X(be, P, alloc) X(be, P, free) X(be, P, to_device) X(be, P, to_host) X(be, P, sync) \
    X(be, P, act_bytes) X(be, P, act_to_host) X(be, P, act_from_host) X(be, P, bind_params) \
    X(be, P, refresh_weights) X(be, P, load_batch) X(be, P, conv_fwd) X(be, P, conv_bwd_data) \
    X(be, P, conv_bwd_filter) X(be, P, bn_fwd) X(be, P, bn_bwd) X(be, P, avgpool_fwd) \
    X(be, P, avgpool_bwd) X(be, P, linear_fwd) X(be, P, linear_bwd) X(be, P, xent) \
    X(be, P, opt_step) X(be, P, ctrl_step) X(be, P, run_step) X(be, P, describe) X(be, P, destroy)
#define DAOE_BACKEND_SET_OP_(be, P, op) (be)->op = P##_##op;
#define DAOE_BACKEND_SET_OPS(be, P) DAOE_BACKEND_OPS(DAOE_BACKEND_SET_OP_, be, P)
/* the declaration of <prefix>_<op> with the type of its field (the signature is written once,
 * above): a backend's private header declares its functions with DAOE_BACKEND_DECLARE_OPS(prefix) */
#define DAOE_BACKEND_DECLARE_OP(P, op) __typeof__(*((daoe_backend *)0)->op) P##_##op;
#define DAOE_BACKEND_DECLARE_OP_(be, P, op) DAOE_BACKEND_DECLARE_OP(P, op)
#define DAOE_BACKEND_DECLARE_OPS(P) DAOE_BACKEND_OPS(DAOE_BACKEND_DECLARE_OP_, _, P)

/* How the cuDNN convolution algorithms are chosen (--cudnn-search). */
enum { DAOE_CUDNN_SEARCH_TIMED = 0, DAOE_CUDNN_SEARCH_HEURISTIC = 1 };

/* What a backend is made with: every backend's options in one struct, each
 * backend reading its own; all zero is the default of each. A run's come from
 * its configuration (daoe_config_backend_options in config.h), where each
 * has its row, its flag and its environment variable; tests and benchmarks
 * may fill it by hand. */
typedef struct {
    daoe_precision prec;
    int threads;            /* cpu: OpenMP and OpenBLAS threads (0: all) */
    daoe_cpu_conv cpu_conv; /* cpu: the convolution engine */
    int opt_generic;        /* cpu: the generic fused optimizer loop, not the specialised ones */
    int deterministic;      /* cuda: reproducible algorithms */
    int debug_sync;         /* cuda: synchronise after every launch */
    int no_graph;           /* cuda: launch the step's kernels one by one (no graph capture and replay) */
    int cudnn_search;       /* cuda: DAOE_CUDNN_SEARCH_* */
} daoe_backend_options;

/* name: "cpu" or "cuda". Returns NULL and writes a message to err when the
 * backend is unavailable (no GPU, built without CUDA, bad precision). */
daoe_backend *daoe_backend_create(const char *name, const daoe_backend_options *o, char *err, size_t errlen);
/* o->prec: FP32, or BF16 with o->cpu_conv DNNL (bf16 convolution operands,
 * fp32 accumulation; everything else fp32; needs a CPU where oneDNN runs bf16
 * in hardware: AVX-512 BF16 or AMX). NULL with a message in err when the
 * engine is DNNL and the build has no oneDNN, or the precision cannot be had
 * here. */
daoe_backend *daoe_cpu_backend_create(const daoe_backend_options *o, char *err, size_t errlen);
#ifdef DAOE_HAVE_CUDA
daoe_backend *daoe_cuda_backend_create(const daoe_backend_options *o, char *err, size_t errlen);
int daoe_cuda_device_count(void);
#endif
#endif
