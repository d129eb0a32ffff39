/* daoe-bench-cpu --parts: one training step taken apart.
 *
 * Every op of the backend table is timed where the step calls it (the CPU's
 * ops are synchronous: an op's OpenMP region has ended when it returns), by
 * swapping the table's pointers for timing shims that call the original.
 * Nothing about the computation changes. Per part, the time per step and
 * how far it is from what the hardware allows, both measured here:
 *   - convolutions (forward, data gradient, filter gradient): GFLOP/s
 *     (counted from the shapes) against the sgemm 2048^3 peak, and the same
 *     calls timed alone, hot, with the same engine ("alone"): the step's time
 *     over that is what the step's surroundings cost (caches, reorders);
 *   - memory-bound parts (batch norm, the optimizer pass, load_batch):
 *     bytes moved (the least each op must read and write once, counted from
 *     its arguments) against the measured copy bandwidth of an OpenMP copy
 *     of the call's working set with the step's threads (sizes 256 KiB to
 *     256 MiB: a small call runs from the caches, and is held to them);
 * "of limit" is that least time (FLOPs at the peak, bytes at the bandwidth)
 * over the time taken: 100 % is the hardware's limit.
 *   - the head (pooling, linear, cross-entropy) and the controller: time only.
 * Evaluation (forward in eval mode, batch 128) is timed apart, per image. */
#include "bench_parts.h"
#include "daoe/session.h"
#include "daoe/train.h"
#include "daoe/util.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_LOAD, P_CFWD, P_CBWD_DATA, P_CBWD_FILTER, P_BN_FWD, P_BN_BWD, P_HEAD, P_OPT, P_CTRL, NPART };
static const char *const part_name[NPART] = {"load_batch",  "conv forward",        "conv data grad",
                                             "conv filter grad", "batch norm fwd", "batch norm bwd",
                                             "head (pool, linear, xent)", "optimizer pass", "controller"};
static struct {
    double t, flops, bytes, tmin; /* tmin: what the hardware allows (the sgemm peak, the copy bandwidth) */
    long calls;
} part[NPART];
static double peak_flops; /* FLOP/s */
static double bw_time(double bytes);
static daoe_backend orig;
static int counting;

#define TIMED(P, FLOPS, BYTES, CALL)                                                                               \
    do {                                                                                                           \
        double t0_ = daoe_now();                                                                                   \
        CALL;                                                                                                      \
        if (counting) {                                                                                            \
            part[P].t += daoe_now() - t0_;                                                                         \
            part[P].flops += (FLOPS);                                                                              \
            part[P].bytes += (BYTES);                                                                              \
            part[P].tmin += (FLOPS) / peak_flops + ((BYTES) > 0 ? bw_time(BYTES) : 0.0);                           \
            part[P].calls++;                                                                                       \
        }                                                                                                          \
    } while (0)

static double conv_flops(const daoe_conv *cv, int N) {
    return 2.0 * N * cv->cout * cv->cin * cv->k * cv->k * cv->ho * cv->wo;
}

static void timed_load_batch(daoe_backend *be, const uint8_t *im, const int32_t *lab, const int32_t *idx, int N,
                             int aug, uint64_t seed, int epoch, void *x, int32_t *y, float *st) {
    TIMED(P_LOAD, 0, (double)N * 3072 * (1 + 4) + 8.0 * N, orig.load_batch(be, im, lab, idx, N, aug, seed, epoch, x, y, st));
}
static void timed_conv_fwd(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const float *w, void *y) {
    TIMED(P_CFWD, conv_flops(cv, N), 0, orig.conv_fwd(be, cv, N, x, w, y));
}
static void timed_conv_bwd_data(daoe_backend *be, const daoe_conv *cv, int N, const void *dy, const float *w,
                                void *dx, int acc) {
    TIMED(P_CBWD_DATA, conv_flops(cv, N), 0, orig.conv_bwd_data(be, cv, N, dy, w, dx, acc));
}
static void timed_conv_bwd_filter(daoe_backend *be, const daoe_conv *cv, int N, const void *x, const void *dy,
                                  float *dw) {
    TIMED(P_CBWD_FILTER, conv_flops(cv, N), 0, orig.conv_bwd_filter(be, cv, N, x, dy, dw));
}
static void timed_bn_fwd(daoe_backend *be, int N, int C, int HW, const void *x, const void *res, void *y,
                         const float *g, const float *b, float *rm, float *rv, float *sm, float *si, int tr, int relu,
                         float mom, float eps) {
    double e = 4.0 * N * C * HW; /* x read, res read, y written (fp32) */
    TIMED(P_BN_FWD, 0, e * (2 + (res != NULL)), orig.bn_fwd(be, N, C, HW, x, res, y, g, b, rm, rv, sm, si, tr, relu, mom, eps));
}
static void timed_bn_bwd(daoe_backend *be, int N, int C, int HW, const void *dy, const void *y, const void *x,
                         const float *g, const float *sm, const float *si, void *dx, void *dres, float *dg, float *db,
                         int relu) {
    double e = 4.0 * N * C * HW; /* dy, y, x read; dx (and dres) written */
    TIMED(P_BN_BWD, 0, e * (4 + (dres != NULL)), orig.bn_bwd(be, N, C, HW, dy, y, x, g, sm, si, dx, dres, dg, db, relu));
}
static void timed_avgpool_fwd(daoe_backend *be, int N, int C, int HW, const void *x, float *y) {
    TIMED(P_HEAD, 0, 0, orig.avgpool_fwd(be, N, C, HW, x, y));
}
static void timed_avgpool_bwd(daoe_backend *be, int N, int C, int HW, const float *dy, void *dx) {
    TIMED(P_HEAD, 0, 0, orig.avgpool_bwd(be, N, C, HW, dy, dx));
}
static void timed_linear_fwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W, const float *b,
                             float *y) {
    TIMED(P_HEAD, 0, 0, orig.linear_fwd(be, N, in, out, x, W, b, y));
}
static void timed_linear_bwd(daoe_backend *be, int N, int in, int out, const float *x, const float *W,
                             const float *dy, float *dx, float *dW, float *db) {
    TIMED(P_HEAD, 0, 0, orig.linear_bwd(be, N, in, out, x, W, dy, dx, dW, db));
}
static void timed_xent(daoe_backend *be, int N, int K, const float *l, const int32_t *y, float *dl, float *st) {
    TIMED(P_HEAD, 0, 0, orig.xent(be, N, K, l, y, dl, st));
}
static void timed_opt_step(daoe_backend *be, daoe_opt *o, int pass) {
    TIMED(P_OPT, 0, daoe_opt_bytes_per_elem(o) * (double)o->n, orig.opt_step(be, o, pass));
}
static void timed_ctrl_step(daoe_backend *be, daoe_opt *o, int phase) { TIMED(P_CTRL, 0, 0, orig.ctrl_step(be, o,
                            phase)); }

/* the ops timed: each replaced by its timed_<op>, which calls the original */
static void wrap(daoe_backend *be) {
#define WRAP_(op) be->op = timed_##op;
    orig = *be;
    WRAP_(load_batch) WRAP_(conv_fwd) WRAP_(conv_bwd_data) WRAP_(conv_bwd_filter) WRAP_(bn_fwd) WRAP_(bn_bwd)
    WRAP_(avgpool_fwd) WRAP_(avgpool_bwd) WRAP_(linear_fwd) WRAP_(linear_bwd) WRAP_(xent) WRAP_(opt_step)
    WRAP_(ctrl_step)
#undef WRAP_
}

/* copy bandwidth by working set: sizes 256 KiB .. 256 MiB (each way) in powers of 4,
 * measured once; a part's limit uses the size nearest above its call's bytes */
enum { NBW = 6 };
static double bw_size[NBW], bw_gbs[NBW];
static double copy_gbs(size_t bytes, int threads) {
    size_t n = bytes / sizeof(float);
    float *a = daoe_xmalloc(n * sizeof(float)), *b = daoe_xmalloc(n * sizeof(float));
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 1023), b[i] = 0.0f;
    int reps = (int)(((size_t)1 << 30) / bytes) + 3; /* about 1 GiB copied in all */
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = daoe_now();
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) b[i] = a[i];
        t = daoe_now() - t;
        if (r && t < best) best = t;
    }
    volatile float sink = b[n / 3];
    (void)sink;
    free(a);
    free(b);
    return 2.0 * (double)bytes / best / 1e9;
}

double bench_copy_bandwidth(int threads) {
    for (int i = 0; i < NBW; i++) {
        bw_size[i] = (double)((size_t)256 << 10 << (2 * i));
        bw_gbs[i] = copy_gbs((size_t)bw_size[i], threads);
    }
    printf("copy bandwidth (read + write), %d threads, by working set:", threads);
    for (int i = 0; i < NBW; i++) printf(" %.0f MiB %.1f GB/s%s", bw_size[i] / 1048576.0, bw_gbs[i], i + 1 < NBW ? "," : "\n");
    return bw_gbs[NBW - 1];
}

/* the least time moving `bytes` (read + written, half each) can take */
static double bw_time(double bytes) {
    int i = 0;
    while (i + 1 < NBW && bw_size[i] < bytes / 2) i++;
    return bytes / (bw_gbs[i] * 1e9);
}

/* The network's convolutions alone, hot, per direction, on random data at batch N: each
 * conv's forward, data gradient (not the stem's) and filter gradient through ops' table
 * (the backend's own, or the table a timing wrap saved), each the best of reps after a
 * first run that JIT-compiles and touches the memory; out[3]: seconds per step. */
void bench_convs_alone(daoe_backend *be, const daoe_backend *ops, const daoe_net *net, int N, int reps, double out[3]) {
    out[0] = out[1] = out[2] = 0;
    for (int i = 0; i < net->nconv; i++) {
        const daoe_conv *cv = &net->convs[i];
        size_t nx = (size_t)N * cv->cin * cv->h * cv->w, ny = (size_t)N * cv->cout * cv->ho * cv->wo,
               nw = (size_t)cv->cout * cv->cin * cv->k * cv->k;
        float *x = be->alloc(be, be->act_bytes(be, nx)), *y = be->alloc(be, be->act_bytes(be, ny)),
              *dx = be->alloc(be, be->act_bytes(be, nx)), *w = be->alloc(be, sizeof(float) * nw),
              *dw = be->alloc(be, sizeof(float) * nw);
        for (size_t j = 0; j < nx; j++) x[j] = (float)((j * 7919) % 1000) / 1000.0f - 0.5f;
        for (size_t j = 0; j < nw; j++) w[j] = (float)((j * 104729) % 1000) / 10000.0f - 0.05f;
        double best[3] = {1e30, 1e30, 1e30};
        for (int r = 0; r < reps + 1; r++) {
            double t = daoe_now();
            ops->conv_fwd(be, cv, N, x, w, y);
            double t1 = daoe_now();
            if (i > 0) ops->conv_bwd_data(be, cv, N, y, w, dx, 0);
            double t2 = daoe_now();
            ops->conv_bwd_filter(be, cv, N, x, y, dw);
            double t3 = daoe_now();
            if (r) { /* the first run JIT-compiles and touches the memory */
                if (t1 - t < best[0]) best[0] = t1 - t;
                if (t2 - t1 < best[1]) best[1] = t2 - t1;
                if (t3 - t2 < best[2]) best[2] = t3 - t2;
            }
        }
        out[0] += best[0], out[1] += i > 0 ? best[1] : 0, out[2] += best[2];
        be->free(be, x), be->free(be, y), be->free(be, dx), be->free(be, w), be->free(be, dw);
    }
}

int bench_parts(daoe_backend *be, const char *engine, int width, int batch, const char *optimizer, int steps,
                double peak_gflops, double bw_gbs) {
    char err[512];
    daoe_config cfg;
    daoe_config_defaults(&cfg);
    cfg.width = width;
    cfg.batch = batch;
    cfg.seed = 1;
    if (daoe_config_set(&cfg, "optimizer", optimizer, err, sizeof err) || daoe_config_validate(&cfg, 0, err, sizeof err)) {
        fprintf(stderr, "daoe-bench-cpu: %s\n", err);
        return 2;
    }
    peak_flops = peak_gflops * 1e9;
    wrap(be);
    daoe_session_opts so = {.be = be, .total_steps = 1000};
    daoe_session *s = daoe_session_create(&cfg, &so, err, sizeof err);
    if (!s) {
        fprintf(stderr, "daoe-bench-cpu: %s\n", err);
        *be = orig;
        return 2;
    }
    /* synthetic images (the real data's sizes; the values do not change the work) */
    const int nimg = 2048;
    uint8_t *im = daoe_xmalloc((size_t)nimg * 3072);
    int32_t *lab = daoe_xmalloc(sizeof(int32_t) * nimg), *idx = daoe_xmalloc(sizeof(int32_t) * batch);
    for (size_t i = 0; i < (size_t)nimg * 3072; i++) im[i] = (uint8_t)((i * 2654435761u) >> 13);
    for (int i = 0; i < nimg; i++) lab[i] = i % DAOE_NET_CLASSES;
    daoe_session_set_images(s, DAOE_SET_TRAIN, im, lab, nimg);
    daoe_session_set_images(s, DAOE_SET_TEST, im, lab, nimg);
    memset(part, 0, sizeof part);
    double total = 0;
    for (int k = 0; k < 2 + steps; k++) { /* two warm-up steps */
        for (int i = 0; i < batch; i++) idx[i] = (int)(((long)k * batch + i) * 7 % nimg);
        counting = k >= 2;
        double t = daoe_now();
        daoe_session_train_step(s, idx, 0);
        if (counting) total += daoe_now() - t;
    }
    counting = 0;
    double ev_t = daoe_now(), loss, acc;
    daoe_session_evaluate(s, DAOE_SET_TEST, 0, 1280, &loss, &acc);
    ev_t = daoe_now() - ev_t;
    double alone[3];
    bench_convs_alone(be, &orig, &s->net, batch, 3, alone);
    const double per = 1.0 / steps;
    printf("parts of one training step: width %d, batch %d, %s, engine %s, %d steps (after 2 warm-up); "
           "of limit: the least time the hardware allows (FLOPs at the sgemm peak %.1f GFLOP/s; bytes at the copy "
           "bandwidth of the call's working set, %.1f GB/s beyond the caches) over the time taken\n",
           width, batch, optimizer, engine, steps, peak_gflops, bw_gbs);
    printf("%-26s %9s %7s %10s %10s %9s %12s\n", "part", "ms/step", "share", "GFLOP/s", "GB/s", "of limit",
           "alone ms");
    double sum = 0;
    for (int p = 0; p < NPART; p++) {
        double t = part[p].t * per;
        sum += t;
        char gf[16] = "", gb[16] = "", lim[16] = "", al[16] = "";
        if (part[p].flops > 0) {
            double g = part[p].flops / part[p].t / 1e9;
            snprintf(gf, sizeof gf, "%.1f", g);
            snprintf(al, sizeof al, "%.1f", alone[p - P_CFWD] * 1e3);
        } else if (part[p].bytes > 0)
            snprintf(gb, sizeof gb, "%.1f", part[p].bytes / part[p].t / 1e9);
        if (part[p].tmin > 0) snprintf(lim, sizeof lim, "%.0f%%", 100.0 * part[p].tmin / part[p].t);
        printf("%-26s %9.2f %6.1f%% %10s %10s %9s %12s\n", part_name[p], t * 1e3, 100.0 * t / (total * per), gf, gb,
               lim, al);
    }
    printf("%-26s %9.2f %6.1f%%\n", "outside the ops", (total * per - sum) * 1e3, 100.0 * (total * per - sum) / (total * per));
    printf("%-26s %9.2f %6.1f%%   (%.0f img/s)\n", "step", total * per * 1e3, 100.0, batch / (total * per));
    printf("%-26s %9.2f ms per 128 images   (%.0f img/s; 1280 images, eval mode)\n", "evaluation",
           ev_t / 10.0 * 1e3, 1280 / ev_t);
    fflush(stdout);
    daoe_session_free(s);
    *be = orig;
    free(im), free(lab), free(idx);
    return 0;
}
