/* Private to the CPU backend (lib/cpu/): its state and every op of the
 * backend table, one function per entry, named cpu_<entry> (the CUDA backend
 * names the same ops cuda_<entry>). The table itself is filled in
 * cpu_backend.c; the ops live one family per file (mem.c, load_batch.c, conv.c,
 * bn.c, head.c, fused_update.c). Not a public header: the rest of the library sees
 * only daoe/backend.h.
 *
 * Layout: fp32 throughout. Two convolution engines (daoe_cpu_conv), each
 * with the activation layout it computes fastest in:
 * - im2col (the reference, conv.c): activations CNHW (channel-major over the
 *   whole batch) so that a convolution is one im2col + sgemm per chunk of
 *   images with the weights in PyTorch's OIHW order as the left operand, and
 *   each batch norm channel is one contiguous run;
 * - dnnl (dnnl.c): activations NHWC (channels last), oneDNN's direct
 *   convolutions; OIHW weights reordered to oneDNN's blocked format per call.
 * Every other op is written once for both layouts, through cpu_strides(),
 * except batch norm's loops (bn.c: one traversal per layout around the same
 * arithmetic). OpenMP parallelises the loops; OpenBLAS (OpenMP build) does
 * the matrix products. Reductions use double accumulators over fixed blocks
 * so results do not depend on the thread count (oneDNN's filter gradient
 * may: it is deterministic for a given thread count). */
#ifndef DAOE_CPU_H
#define DAOE_CPU_H
#include "daoe/backend.h"

struct cpu_dnnl;
typedef struct {
    int threads;
    daoe_cpu_conv conv;  /* the engine; DNNL: activations NHWC, else CNHW */
    int opt_generic;     /* the generic fused optimizer loop, not the specialised ones (--opt-generic) */
    struct cpu_dnnl *dn; /* dnnl.c's engine, stream and primitive cache */
    float *cols;       /* im2col scratch, one slice of cols_cap floats per thread */
    size_t cols_cap;
    float *dw;         /* per-thread filter-gradient partials */
    size_t dw_cap;
    float *wt;         /* flipped, transposed weights for the data gradient */
    size_t wt_cap;
} cpu_impl;

static inline cpu_impl *cpu_impl_of(daoe_backend *be) { return (cpu_impl *)be->impl; }

/* element (n, c, p) of an activation of N images, C channels, HW pixels is at
 * n*sn + c*sc + p*sp in the backend's layout */
typedef struct { size_t sn, sc, sp; } cpu_strides_t;
static inline cpu_strides_t cpu_strides(daoe_backend *be, int N, int C, int HW) {
    cpu_strides_t s;
    if (cpu_impl_of(be)->conv == DAOE_CPU_CONV_DNNL) { /* NHWC */
        s.sn = (size_t)HW * C; s.sc = 1; s.sp = (size_t)C;
    } else { /* CNHW */
        s.sn = (size_t)HW; s.sc = (size_t)N * HW; s.sp = 1;
    }
    return s;
}

/* mem.c: memory, transfers, activation layout, parameters */
void *cpu_alloc(daoe_backend *be, size_t bytes);
void cpu_free(daoe_backend *be, void *p);
void cpu_to_device(daoe_backend *be, void *dst, const void *src, size_t bytes);
void cpu_to_host(daoe_backend *be, void *dst, const void *src, size_t bytes);
void cpu_sync(daoe_backend *be);
size_t cpu_act_bytes(daoe_backend *be, size_t count);
void cpu_act_to_host(daoe_backend *be, const void *act, int n, int c, int h, int w, float *nchw);
void cpu_act_from_host(daoe_backend *be, void *act, int n, int c, int h, int w, const float *nchw);
void cpu_bind_params(daoe_backend *be, float *params, float *grads, size_t n, const daoe_conv *convs, int nconv,
                     int batch);
void cpu_refresh_weights(daoe_backend *be);

/* load_batch.c */
void cpu_load_batch(daoe_backend *be, const uint8_t *images, const int32_t *labels, const int32_t *idx, int N,
                    int augment, uint64_t seed, int epoch, void *x, int32_t *y, float *stats);

/* conv.c */
void cpu_conv_fwd(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const float *w, void *y);
void cpu_conv_bwd_data(daoe_backend *be, const daoe_conv *cv, int N, const void *dy, const float *w, void *dx,
                       int accumulate);
void cpu_conv_bwd_filter(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const void *dy, float *dw);

/* dnnl.c: the same three entries with oneDNN on NHWC (the build has oneDNN) */
int cpu_dnnl_init(cpu_impl *im, daoe_precision prec, char *err, size_t errlen);
void cpu_dnnl_free(cpu_impl *im);
void cpu_dnnl_describe(cpu_impl *im, struct cJSON *o);
/* JIT-compiles the primitives of the network's convolutions at this batch (config.json then names them) */
void cpu_dnnl_prepare(cpu_impl *im, const daoe_conv *convs, int nconv, int batch);
const char *cpu_dnnl_summary(cpu_impl *im); /* "oneDNN 2.6.3, ISA avx512_core" */
void cpu_dnnl_conv_fwd(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const float *w, void *y);
void cpu_dnnl_conv_bwd_data(daoe_backend *be, const daoe_conv *cv, int N, const void *dy, const float *w, void *dx,
                            int accumulate);
void cpu_dnnl_conv_bwd_filter(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const void *dy,
                              float *dw);

/* bn.c */
void cpu_bn_fwd(daoe_backend *be, int N, int C, int HW, const void *x, const void *res, void *y, const float *gamma,
                const float *beta, float *running_mean, float *running_var, float *save_mean, float *save_invstd,
                int training, int relu, float momentum, float eps);
void cpu_bn_bwd(daoe_backend *be, int N, int C, int HW, const void *dy, const void *y, const void *x,
                const float *gamma, const float *save_mean, const float *save_invstd, void *dx, void *dres,
                float *dgamma, float *dbeta, int relu);

/* head.c */
void cpu_avgpool_fwd(daoe_backend *be, int N, int C, int HW, const void *x, float *y);
void cpu_avgpool_bwd(daoe_backend *be, int N, int C, int HW, const float *dy, void *dx);
void cpu_linear_fwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W, const float *b,
                    float *y);
void cpu_linear_bwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W, const float *dy,
                    float *dx, float *dW, float *db);
void cpu_xent(daoe_backend *be, int N, int K, const float *logits, const int32_t *y, float *dlogits, float *stats);

/* fused_update.c */
void cpu_opt_step(daoe_backend *be, daoe_opt *opt, int pass);
void cpu_ctrl_step(daoe_backend *be, daoe_opt *opt, int phase);
#endif
