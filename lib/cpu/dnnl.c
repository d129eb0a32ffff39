/* CPU backend, convolution with oneDNN (--cpu-conv dnnl): forward, data
 * gradient and filter gradient as oneDNN's direct convolutions on NHWC
 * activations (the layout cpu_strides() gives this engine), fp32. The
 * weights stay OIHW in the flat parameter buffer; each call reorders them
 * into the format oneDNN chose (a few percent of a step), and the filter
 * gradient back to OIHW. One cache entry per convolution shape and batch
 * size holds the primitives (oneDNN JIT-compiles them once).
 * bf16 (--precision bf16): the convolutions' operands (input, weights,
 * output gradient) are rounded to bf16 by a reorder before each call, the
 * products accumulate in fp32 and the results (output, data and filter
 * gradients) are fp32, as are the activations, batch norm, the head and the
 * optimizer; oneDNN then runs AMX or AVX-512 BF16 kernels.
 * conv.c is the reference these are tested against (tests/test_conv_engines.c). */
#include "cpu.h"
#include "daoe/util.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef DAOE_HAVE_DNNL
#include <dnnl.h>

static void dn_check(dnnl_status_t s, const char *what) {
    if (s != dnnl_success) daoe_fatal("oneDNN: %s failed (status %d)", what, (int)s);
}
#define DN(call) dn_check((call), #call)

typedef struct {
    int cin, cout, k, stride, pad, h, w, ho, wo, N; /* the key */
    dnnl_primitive_desc_t fpd;                      /* forward (the hint of the backward ones) */
    dnnl_primitive_t fwd, bwd_data, bwd_w;          /* the backward ones: at prepare or first use */
    dnnl_memory_desc_t x_md, y_md, w_oihw;          /* NHWC activations, the parameter buffer's weights */
    dnnl_memory_desc_t xc_md, yc_md;                /* the convolution's input and output gradient: x_md, y_md or bf16 */
    dnnl_primitive_t to_xc, to_yc;                  /* bf16: the fp32 -> bf16 reorders of those */
    dnnl_memory_desc_t wf, wb, dwf;                 /* weights for fwd, for bwd_data; filter gradient */
    dnnl_primitive_t to_wf, to_wb, from_dwf;        /* reorders (NULL: the format is OIHW already) */
    void *wf_buf, *wb_buf, *dw_buf;                 /* the reorders' oneDNN-format copies */
} dn_entry;

struct cpu_dnnl {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    dn_entry **e;
    int n, cap;
    void *acc;          /* bwd_data with accumulate: the result before it is added */
    size_t acc_cap;     /* bytes, as cx_cap and cy_cap */
    dnnl_data_type_t dt; /* of the convolutions' operands: f32, or bf16 */
    void *cx, *cy;       /* bf16: the rounded input and output gradient */
    size_t cx_cap, cy_cap;
    char impls[512];    /* the implementations oneDNN chose, distinct, comma-separated */
    char summary[160];
};

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

int cpu_dnnl_init(cpu_impl *im, daoe_precision prec, char *err, size_t errlen) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (prec == DAOE_BF16 && isa != dnnl_cpu_isa_avx512_core_bf16 && isa != dnnl_cpu_isa_avx512_core_amx) {
        daoe_errf(err, errlen,
                  "--precision bf16 on the CPU needs bf16 in hardware (AVX-512 BF16 or AMX); oneDNN's ISA here is %s",
                  isa_name(isa));
        return -1;
    }
    struct cpu_dnnl *d = daoe_xcalloc(1, sizeof *d);
    d->dt = prec == DAOE_BF16 ? dnnl_bf16 : dnnl_f32;
    if (dnnl_engine_create(&d->eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&d->st, d->eng, dnnl_stream_default_flags) != dnnl_success) {
        daoe_errf(err, errlen, "oneDNN: no CPU engine");
        free(d);
        return -1;
    }
    const dnnl_version_t *v = dnnl_version();
    snprintf(d->summary, sizeof d->summary, "oneDNN %d.%d.%d, ISA %s, %s", v->major, v->minor, v->patch,
             isa_name(isa), d->dt == dnnl_bf16 ? "bf16 operands, fp32 accumulation" : "fp32");
    im->dn = d;
    return 0;
}

void cpu_dnnl_free(cpu_impl *im) {
    struct cpu_dnnl *d = im->dn;
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        dn_entry *e = d->e[i];
        dnnl_primitive_t ps[] = {e->fwd, e->bwd_data, e->bwd_w, e->to_wf, e->to_wb, e->from_dwf, e->to_xc, e->to_yc};
        for (size_t j = 0; j < sizeof ps / sizeof ps[0]; j++)
            if (ps[j]) dnnl_primitive_destroy(ps[j]);
        dnnl_primitive_desc_destroy(e->fpd);
        free(e->wf_buf);
        free(e->wb_buf);
        free(e->dw_buf);
        free(e);
    }
    free(d->e);
    free(d->acc);
    free(d->cx);
    free(d->cy);
    dnnl_stream_destroy(d->st);
    dnnl_engine_destroy(d->eng);
    free(d);
    im->dn = NULL;
}

const char *cpu_dnnl_summary(cpu_impl *im) { return im->dn ? im->dn->summary : "oneDNN not in use"; }

/* records the implementation oneDNN chose; a reference (unoptimised) one is
 * said on stderr once: it is correct but tens of times slower */
static void note_impl(struct cpu_dnnl *d, const_dnnl_primitive_desc_t pd, const char *what, const dn_entry *e) {
    const char *s = NULL;
    DN(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s));
    if (!s) return;
    size_t n = strlen(s), l = strlen(d->impls);
    for (const char *p = d->impls; (p = strstr(p, s)); p += n)
        if ((p == d->impls || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return;
    snprintf(d->impls + l, sizeof d->impls - l, "%s%s", l ? "," : "", s);
    if (!strncmp(s, "ref", 3))
        fprintf(stderr, "daoe: warning: oneDNN runs its reference (slow) %s convolution for %dx%d, %d->%d channels, "
                        "stride %d (%s); --cpu-conv im2col may be faster\n",
                what, e->h, e->w, e->cin, e->cout, e->stride, d->summary);
}

static dnnl_memory_t mem(struct cpu_dnnl *d, const dnnl_memory_desc_t *md, const void *p) {
    dnnl_memory_t m;
    DN(dnnl_memory_create(&m, md, d->eng, (void *)p));
    return m;
}

/* runs p on n buffers: args[i] is the i-th one's role (DNNL_ARG_*), described by mds[i], at ptrs[i] */
enum { MAX_ARGS = 3 };
static void run(struct cpu_dnnl *d, dnnl_primitive_t p, int n, const int *roles, const dnnl_memory_desc_t *const *mds,
                const void *const *ptrs) {
    dnnl_exec_arg_t args[MAX_ARGS];
    for (int i = 0; i < n; i++) args[i] = (dnnl_exec_arg_t){roles[i], mem(d, mds[i], ptrs[i])};
    DN(dnnl_primitive_execute(p, d->st, n, args));
    DN(dnnl_stream_wait(d->st));
    for (int i = 0; i < n; i++) dnnl_memory_destroy(args[i].memory);
}

/* *buf with room for at least bytes (grown, contents dropped) */
static void *grow(void **buf, size_t *cap, size_t bytes) {
    if (bytes > *cap) {
        free(*buf);
        *cap = bytes;
        *buf = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        if (!*buf) daoe_fatal("out of memory (oneDNN buffers, %zu bytes)", bytes);
    }
    return *buf;
}

/* a reorder from -> to, or NULL when the two are the same format; *buf then
 * gets room for the tensor in format `room` (whichever of the two is oneDNN's) */
static dnnl_primitive_t make_reorder(struct cpu_dnnl *d, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                                     const dnnl_memory_desc_t *room, void **buf) {
    if (dnnl_memory_desc_equal(from, to)) return NULL;
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t r;
    DN(dnnl_reorder_primitive_desc_create(&rpd, from, d->eng, to, d->eng, NULL));
    DN(dnnl_primitive_create(&r, rpd));
    DN(dnnl_primitive_desc_destroy(rpd));
    size_t cap = 0;
    if (buf) grow(buf, &cap, dnnl_memory_desc_get_size(room));
    return r;
}

/* src (format from) in format to: src itself when r is NULL, else reordered by r into buf */
static const void *as_format(struct cpu_dnnl *d, dnnl_primitive_t r, const dnnl_memory_desc_t *from, const void *src,
                             const dnnl_memory_desc_t *to, void *buf) {
    if (!r) return src;
    run(d, r, 2, (const int[]){DNNL_ARG_FROM, DNNL_ARG_TO}, (const dnnl_memory_desc_t *const[]){from, to},
        (const void *const[]){src, buf});
    return buf;
}

/* the weights of e in the format oneDNN will choose, of type dt */
static dnnl_memory_desc_t weights_any(const dn_entry *e, dnnl_data_type_t dt) {
    dnnl_memory_desc_t md;
    dnnl_dims_t wd = {e->cout, e->cin, e->k, e->k};
    DN(dnnl_memory_desc_init_by_tag(&md, 4, wd, dt, dnnl_format_tag_any));
    return md;
}

static dn_entry *entry(struct cpu_dnnl *d, const daoe_conv *cv, int N) {
    for (int i = 0; i < d->n; i++) {
        dn_entry *e = d->e[i];
        if (e->N == N && e->cin == cv->cin && e->cout == cv->cout && e->k == cv->k && e->stride == cv->stride &&
            e->pad == cv->pad && e->h == cv->h && e->w == cv->w && e->ho == cv->ho && e->wo == cv->wo)
            return e;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 32;
        dn_entry **ne = realloc(d->e, sizeof *d->e * (size_t)d->cap);
        if (!ne) daoe_fatal("out of memory (oneDNN primitive cache)");
        d->e = ne;
    }
    dn_entry *e = daoe_xcalloc(1, sizeof *e);
    *e = (dn_entry){.cin = cv->cin, .cout = cv->cout, .k = cv->k, .stride = cv->stride, .pad = cv->pad,
                    .h = cv->h, .w = cv->w, .ho = cv->ho, .wo = cv->wo, .N = N};
    dnnl_dims_t xd = {N, cv->cin, cv->h, cv->w}, yd = {N, cv->cout, cv->ho, cv->wo},
                wd = {cv->cout, cv->cin, cv->k, cv->k};
    DN(dnnl_memory_desc_init_by_tag(&e->x_md, 4, xd, dnnl_f32, dnnl_nhwc));
    DN(dnnl_memory_desc_init_by_tag(&e->y_md, 4, yd, dnnl_f32, dnnl_nhwc));
    DN(dnnl_memory_desc_init_by_tag(&e->w_oihw, 4, wd, dnnl_f32, dnnl_oihw));
    e->xc_md = e->x_md;
    e->yc_md = e->y_md;
    if (d->dt != dnnl_f32) {
        DN(dnnl_memory_desc_init_by_tag(&e->xc_md, 4, xd, d->dt, dnnl_nhwc));
        DN(dnnl_memory_desc_init_by_tag(&e->yc_md, 4, yd, d->dt, dnnl_nhwc));
        e->to_xc = make_reorder(d, &e->x_md, &e->xc_md, NULL, NULL);
        e->to_yc = make_reorder(d, &e->y_md, &e->yc_md, NULL, NULL);
    }
    dnnl_memory_desc_t wany = weights_any(e, d->dt);
    dnnl_convolution_desc_t cd;
    /* symmetric padding: oneDNN's output size (floor division) then equals PyTorch's */
    dnnl_dims_t st = {cv->stride, cv->stride}, pad = {cv->pad, cv->pad};
    DN(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &e->xc_md, &wany, NULL,
                                          &e->y_md, st, pad, pad));
    DN(dnnl_primitive_desc_create(&e->fpd, &cd, NULL, d->eng, NULL));
    DN(dnnl_primitive_create(&e->fwd, e->fpd));
    note_impl(d, e->fpd, "forward", e);
    e->wf = *dnnl_primitive_desc_query_md(e->fpd, dnnl_query_weights_md, 0);
    e->to_wf = make_reorder(d, &e->w_oihw, &e->wf, &e->wf, &e->wf_buf);
    d->e[d->n++] = e;
    return e;
}

/* an activation as the convolution takes it: itself (fp32), or rounded to bf16 into *buf */
static const void *operand(struct cpu_dnnl *d, dnnl_primitive_t r, const dnnl_memory_desc_t *from, const void *src,
                           const dnnl_memory_desc_t *to, void **buf, size_t *cap) {
    return as_format(d, r, from, src, to, r ? grow(buf, cap, dnnl_memory_desc_get_size(to)) : NULL);
}

void cpu_dnnl_conv_fwd(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const float *w, void *y) {
    struct cpu_dnnl *d = cpu_impl_of(be)->dn;
    dn_entry *e = entry(d, cv, N);
    const void *wp = as_format(d, e->to_wf, &e->w_oihw, w, &e->wf, e->wf_buf);
    const void *xc = operand(d, e->to_xc, &e->x_md, x, &e->xc_md, &d->cx, &d->cx_cap);
    run(d, e->fwd, 3, (const int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
        (const dnnl_memory_desc_t *const[]){&e->xc_md, &e->wf, &e->y_md}, (const void *const[]){xc, wp, y});
}

/* a backward primitive of e from its descriptor (the forward one as the hint);
 * returns the weights' (or filter gradient's) format it chose (query) */
/* oneDNN 2.6's AVX2 1x1 filter gradient on NHWC with a stride and fewer input
 * channels than its block of 8 writes past its workspace (oneDNN issue 6035:
 * a hang with 2 threads, a crash with 1, wrong gradients on other machines;
 * ResNet-18's strided shortcuts below width 8 on an AVX2 CPU): that
 * implementation is passed over for the next one oneDNN offers. */
static int known_broken(const dnnl_primitive_desc_t pd, const dn_entry *e, dnnl_query_t query) {
    const char *s = NULL;
    DN(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s));
    return s && query == dnnl_query_diff_weights_md && !strncmp(s, "jit_1x1:avx2", 12) && e->k == 1 &&
           e->stride > 1 && e->cin % 8 != 0;
}

static dnnl_memory_desc_t backward_primitive(struct cpu_dnnl *d, dn_entry *e, const dnnl_convolution_desc_t *cd,
                                             const char *what, dnnl_query_t query, dnnl_primitive_t *prim) {
    dnnl_primitive_desc_iterator_t it;
    DN(dnnl_primitive_desc_iterator_create(&it, cd, NULL, d->eng, e->fpd));
    dnnl_primitive_desc_t pd = dnnl_primitive_desc_iterator_fetch(it);
    while (known_broken(pd, e, query)) {
        DN(dnnl_primitive_desc_destroy(pd));
        if (dnnl_primitive_desc_iterator_next(it) != dnnl_success) daoe_fatal("oneDNN: no usable %s implementation", what);
        pd = dnnl_primitive_desc_iterator_fetch(it);
    }
    DN(dnnl_primitive_desc_iterator_destroy(it));
    DN(dnnl_primitive_create(prim, pd));
    note_impl(d, pd, what, e);
    dnnl_memory_desc_t md = *dnnl_primitive_desc_query_md(pd, query, 0);
    DN(dnnl_primitive_desc_destroy(pd));
    return md;
}

static void prep_bwd_data(struct cpu_dnnl *d, dn_entry *e) {
    if (e->bwd_data) return;
    dnnl_memory_desc_t wany = weights_any(e, d->dt);
    dnnl_dims_t st = {e->stride, e->stride}, pad = {e->pad, e->pad};
    dnnl_convolution_desc_t cd;
    DN(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &e->x_md, &wany, &e->yc_md, st, pad,
                                                pad));
    e->wb = backward_primitive(d, e, &cd, "data-gradient", dnnl_query_weights_md, &e->bwd_data);
    e->to_wb = make_reorder(d, &e->w_oihw, &e->wb, &e->wb, &e->wb_buf);
}

static void prep_bwd_w(struct cpu_dnnl *d, dn_entry *e) {
    if (e->bwd_w) return;
    dnnl_memory_desc_t wany = weights_any(e, dnnl_f32); /* the filter gradient is fp32 */
    dnnl_dims_t st = {e->stride, e->stride}, pad = {e->pad, e->pad};
    dnnl_convolution_desc_t cd;
    DN(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &e->xc_md, &wany, NULL, &e->yc_md,
                                                   st, pad, pad));
    e->dwf = backward_primitive(d, e, &cd, "filter-gradient", dnnl_query_diff_weights_md, &e->bwd_w);
    e->from_dwf = make_reorder(d, &e->dwf, &e->w_oihw, &e->dwf, &e->dw_buf);
}

void cpu_dnnl_prepare(cpu_impl *im, const daoe_conv *convs, int nconv, int batch) {
    for (int i = 0; i < nconv; i++) {
        dn_entry *e = entry(im->dn, &convs[i], batch);
        if (i > 0) prep_bwd_data(im->dn, e); /* convs[0], the stem: no data gradient */
        prep_bwd_w(im->dn, e);
    }
}

void cpu_dnnl_conv_bwd_data(daoe_backend *be, const daoe_conv *cv, int N, const void *dy, const float *w, void *dx,
                            int accumulate) {
    cpu_impl *im = cpu_impl_of(be);
    struct cpu_dnnl *d = im->dn;
    dn_entry *e = entry(d, cv, N);
    prep_bwd_data(d, e);
    const size_t count = (size_t)N * cv->cin * cv->h * cv->w;
    void *out = accumulate ? grow(&d->acc, &d->acc_cap, count * sizeof(float)) : dx;
    const void *wp = as_format(d, e->to_wb, &e->w_oihw, w, &e->wb, e->wb_buf);
    const void *dyc = operand(d, e->to_yc, &e->y_md, dy, &e->yc_md, &d->cy, &d->cy_cap);
    run(d, e->bwd_data, 3, (const int[]){DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC},
        (const dnnl_memory_desc_t *const[]){&e->yc_md, &e->wb, &e->x_md}, (const void *const[]){dyc, wp, out});
    if (accumulate) {
        float *o = dx;
        const float *a = d->acc;
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < count; i++) o[i] += a[i];
    }
}

void cpu_dnnl_conv_bwd_filter(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const void *dy,
                              float *dw) {
    struct cpu_dnnl *d = cpu_impl_of(be)->dn;
    dn_entry *e = entry(d, cv, N);
    prep_bwd_w(d, e);
    void *g = e->from_dwf ? (void *)e->dw_buf : (void *)dw;
    const void *xc = operand(d, e->to_xc, &e->x_md, x, &e->xc_md, &d->cx, &d->cx_cap);
    const void *dyc = operand(d, e->to_yc, &e->y_md, dy, &e->yc_md, &d->cy, &d->cy_cap);
    run(d, e->bwd_w, 3, (const int[]){DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS},
        (const dnnl_memory_desc_t *const[]){&e->xc_md, &e->yc_md, &e->dwf}, (const void *const[]){xc, dyc, g});
    if (e->from_dwf) as_format(d, e->from_dwf, &e->dwf, e->dw_buf, &e->w_oihw, dw);
}

void cpu_dnnl_describe(cpu_impl *im, cJSON *o) {
    struct cpu_dnnl *d = im->dn;
    const dnnl_version_t *v = dnnl_version();
    char ver[32];
    snprintf(ver, sizeof ver, "%d.%d.%d", v->major, v->minor, v->patch);
    cJSON *vs = cJSON_GetObjectItem(o, "versions");
    if (vs) cJSON_AddStringToObject(vs, "onednn", ver);
    cJSON *c = cJSON_AddObjectToObject(o, "onednn");
    cJSON_AddStringToObject(c, "isa", isa_name(dnnl_get_effective_cpu_isa()));
    cJSON_AddStringToObject(c, "operands", d->dt == dnnl_bf16 ? "bf16 (fp32 accumulation and results)" : "fp32");
    /* the implementations chosen for the network's convolutions (bind_params prepared them) and any since */
    cJSON_AddStringToObject(c, "implementations", d->impls);
}

#else /* no oneDNN in this build */

int cpu_dnnl_init(cpu_impl *im, daoe_precision prec, char *err, size_t errlen) {
    (void)im; (void)prec;
    daoe_errf(err, errlen, "--cpu-conv dnnl: this build has no oneDNN (apt-get install libdnnl-dev, then re-run cmake)");
    return -1;
}
void cpu_dnnl_free(cpu_impl *im) { (void)im; }
void cpu_dnnl_describe(cpu_impl *im, cJSON *o) { (void)im; (void)o; }
void cpu_dnnl_prepare(cpu_impl *im, const daoe_conv *convs, int nconv, int batch) {
    (void)im; (void)convs; (void)nconv; (void)batch;
}
const char *cpu_dnnl_summary(cpu_impl *im) { (void)im; return "oneDNN not in this build"; }
/* never in the table without oneDNN (cpu_dnnl_init fails first) */
void cpu_dnnl_conv_fwd(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const float *w, void *y) {
    (void)be; (void)cv; (void)N; (void)x; (void)w; (void)y;
    daoe_fatal("oneDNN not in this build");
}
void cpu_dnnl_conv_bwd_data(daoe_backend *be, const daoe_conv *cv, int N, const void *dy, const float *w, void *dx,
                            int accumulate) {
    (void)be; (void)cv; (void)N; (void)dy; (void)w; (void)dx; (void)accumulate;
    daoe_fatal("oneDNN not in this build");
}
void cpu_dnnl_conv_bwd_filter(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const void *dy,
                              float *dw) {
    (void)be; (void)cv; (void)N; (void)x; (void)dy; (void)dw;
    daoe_fatal("oneDNN not in this build");
}
#endif
