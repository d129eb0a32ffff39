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

/* every op of the backend table, cpu_<op> (mem.c: memory, transfers, activation layout,
 * parameters; load_batch.c; conv.c, the im2col convolutions; bn.c; head.c; fused_update.c;
 * cpu_backend.c: run_step, describe, destroy), declared from the table's fields (backend.h) */
DAOE_BACKEND_DECLARE_OPS(cpu)

/* dnnl.c: the same three entries with oneDNN on NHWC (the build has oneDNN) */
int cpu_dnnl_init(cpu_impl *im, daoe_precision prec, char *err, size_t errlen);
void cpu_dnnl_free(cpu_impl *im);
void cpu_dnnl_describe(cpu_impl *im, struct cJSON *o);
/* JIT-compiles the primitives of the network's convolutions at this batch (config.json then names them) */
void cpu_dnnl_prepare(cpu_impl *im, const daoe_conv *convs, int nconv, int batch);
const char *cpu_dnnl_summary(cpu_impl *im); /* "oneDNN 2.6.3, ISA avx512_core" */
DAOE_BACKEND_DECLARE_OP(cpu_dnnl, conv_fwd)
DAOE_BACKEND_DECLARE_OP(cpu_dnnl, conv_bwd_data)
DAOE_BACKEND_DECLARE_OP(cpu_dnnl, conv_bwd_filter)

#endif
