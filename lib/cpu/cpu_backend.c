/* The CPU backend's table: daoe_cpu_backend_create fills every entry with
 * the cpu_* op of the same name (declared in cpu.h, one family per file:
 * mem.c, load_batch.c, conv.c, bn.c, head.c, fused_update.c; the convolutions from dnnl.c
 * instead with --cpu-conv dnnl) and sets the thread counts of OpenMP and
 * OpenBLAS; describe records the BLAS kernels (blas.c) and the convolution
 * engine; destroy frees the scratch. No op is computed here.
 * The CPU backend is the reference implementation of every op; the layout
 * it uses is described in cpu.h. */
#include "cpu.h"
#include "daoe/cpu_blas.h"
#include <cjson/cJSON.h>
#include "daoe/util.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's own extensions */
void openblas_set_num_threads(int);
/* no graphs on the CPU: a step runs as written */
void cpu_run_step(daoe_backend *be, int key, void (*fn)(void *), void *ctx) {
    (void)be; (void)key;
    fn(ctx);
}

void cpu_destroy(daoe_backend *be) {
    cpu_impl *im = cpu_impl_of(be);
    free(im->cols);
    free(im->dw);
    free(im->wt);
    cpu_dnnl_free(im);
    free(im);
    free(be);
}

/* config.json: the BLAS library, the kernels it runs and who chose them (blas.c) */
void cpu_describe(daoe_backend *be, cJSON *o) {
    cpu_impl *im = cpu_impl_of(be);
    cJSON_AddStringToObject(o, "cpu_conv_engine", im->conv == DAOE_CPU_CONV_DNNL ? "dnnl" : "im2col");
    if (im->conv == DAOE_CPU_CONV_DNNL) cpu_dnnl_describe(im, o);
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

daoe_backend *daoe_cpu_backend_create(const daoe_backend_options *o, char *err, size_t errlen) {
    const daoe_cpu_conv conv = o->cpu_conv;
    const daoe_precision prec = o->prec;
    int threads = o->threads;
    if (prec != DAOE_FP32 && (conv != DAOE_CPU_CONV_DNNL || prec != DAOE_BF16)) {
        daoe_errf(err, errlen, "the CPU computes in fp32, or in bf16 with --cpu-conv dnnl (asked: %s with %s)",
                  prec == DAOE_BF16 ? "bf16" : "tf32", conv == DAOE_CPU_CONV_DNNL ? "dnnl" : "im2col");
        return NULL;
    }
    cpu_impl *im = daoe_xcalloc(1, sizeof *im);
    im->conv = conv;
    im->opt_generic = o->opt_generic;
    if (conv == DAOE_CPU_CONV_DNNL && cpu_dnnl_init(im, prec, err, errlen)) {
        free(im);
        return NULL;
    }
    daoe_backend *be = daoe_xcalloc(1, sizeof *be);
    /* OpenMP's thread count is process-wide: every backend sets its own */
    if (threads <= 0) threads = omp_get_num_procs();
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    im->threads = threads;
    daoe_cpu_info ci;
    daoe_cpu_describe(&ci);
    if (conv == DAOE_CPU_CONV_DNNL)
        snprintf(be->desc, sizeof be->desc, "cpu: %s, %d threads, convolutions %s, OpenBLAS %s", ci.label, threads,
                 cpu_dnnl_summary(im), daoe_blas_get_info()->config);
    else
        snprintf(be->desc, sizeof be->desc, "cpu: %s, %d threads, convolutions im2col + OpenBLAS %s", ci.label, threads,
                 daoe_blas_get_info()->config);
    be->impl = im;
    DAOE_BACKEND_SET_OPS(be, cpu);
    if (conv == DAOE_CPU_CONV_DNNL) {
        be->conv_fwd = cpu_dnnl_conv_fwd;
        be->conv_bwd_data = cpu_dnnl_conv_bwd_data;
        be->conv_bwd_filter = cpu_dnnl_conv_bwd_filter;
    }
    return be;
}
