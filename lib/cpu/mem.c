/* CPU backend, memory: allocation (64-byte aligned, zero-filled), transfers
 * (plain copies: backend memory is host memory), the conversion of
 * activations (CNHW or NHWC, cpu_strides) to and from NCHW, and the
 * parameter binding (the CPU reads the flat OIHW weights in place; the
 * oneDNN engine prepares its primitives there). No op that computes lives here. */
#include "cpu.h"
#include "daoe/util.h"
#include <stdlib.h>
#include <string.h>

void *cpu_alloc(daoe_backend *be, size_t bytes) {
    (void)be;
    size_t n = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p) daoe_fatal("out of memory allocating %zu bytes", bytes);
    memset(p, 0, n ? n : 64);
    return p;
}
void cpu_free(daoe_backend *be, void *p) { (void)be; free(p); }
void cpu_to_device(daoe_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}
void cpu_to_host(daoe_backend *be, void *dst, const void *src, size_t bytes) { cpu_to_device(be, dst, src, bytes); }
void cpu_sync(daoe_backend *be) { (void)be; }
size_t cpu_act_bytes(daoe_backend *be, size_t count) { (void)be; return count * sizeof(float); }

/* the backend's layout (cpu_strides) <-> NCHW */
void cpu_act_to_host(daoe_backend *be, const void *act, int n, int c, int h, int w, float *out) {
    const float *a = act;
    const size_t hw = (size_t)h * w;
    const cpu_strides_t s = cpu_strides(be, n, c, (int)hw);
    for (int ni = 0; ni < n; ni++)
        for (int ci = 0; ci < c; ci++)
            for (size_t p = 0; p < hw; p++) out[((size_t)ni * c + ci) * hw + p] = a[ni * s.sn + ci * s.sc + p * s.sp];
}
void cpu_act_from_host(daoe_backend *be, void *act, int n, int c, int h, int w, const float *in) {
    float *a = act;
    const size_t hw = (size_t)h * w;
    const cpu_strides_t s = cpu_strides(be, n, c, (int)hw);
    for (int ni = 0; ni < n; ni++)
        for (int ci = 0; ci < c; ci++)
            for (size_t p = 0; p < hw; p++) a[ni * s.sn + ci * s.sc + p * s.sp] = in[((size_t)ni * c + ci) * hw + p];
}

/* the weights are read in place (OIHW); the oneDNN engine prepares its primitives */
void cpu_bind_params(daoe_backend *be, float *p, float *g, size_t n, const daoe_conv *cv, int nc, int batch) {
    (void)p; (void)g; (void)n;
    cpu_impl *im = cpu_impl_of(be);
    if (im->conv == DAOE_CPU_CONV_DNNL) cpu_dnnl_prepare(im, cv, nc, batch);
}
void cpu_refresh_weights(daoe_backend *be) { (void)be; }

