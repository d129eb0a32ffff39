/* Optimizer-step benchmark (CPU backend).
 * 1. One fused optimizer step (opt_step + ctrl_step) on the width-64
 *    ResNet-18 parameter buffer (11.17 M parameters) for each optimizer alone
 *    and for DAO-E (K = 4, hypergradient controller): median time of timed
 *    repeats after warm-up, and GB/s from the bytes the step must move. Bytes
 *    per element are counted from the buffers the configuration touches:
 *    g and p read, p written, every state buffer read and written (float32),
 *    each kept d_i read and written (bfloat16). Write-allocate traffic is not
 *    counted, as in a STREAM copy. A memcpy over the same threads, timed in
 *    the same rounds, gives the machine's bandwidth under the same load.
 * 2. End-to-end training throughput (forward, cross-entropy, backward,
 *    opt_step, ctrl_step: daoe_step_run) of DAO-E against SGD
 *    at width 16 and 64, batch 128, random data; SGD and DAO-E steps
 *    (two sessions from the same initial weights) alternate, so both see
 *    the same machine state.
 * usage: daoe-bench-optim [--threads N] [--repeats N] [--steps16 N] [--steps64 N]
 *                         [--no-train] */
#include "daoe/config.h"
#include "daoe/net.h"
#include "daoe/rng.h"
#include "daoe/train.h"
#include "daoe/util.h"
#include "tool.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof(double), cmpd);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void parse_cfg(daoe_config *c, const char *flags) {
    char err[512];
    daoe_config_defaults(c);
    if (daoe_config_from_flags(c, flags, err, sizeof err) != 0) daoe_fatal("bench config '%s': %s", flags, err);
}

static void set_consts(daoe_backend *be, const daoe_config *cfg, daoe_opt *o, long t) {
    daoe_step_consts sc;
    daoe_step_consts_fill(cfg, t, 0, 100000, 0, &sc);
    be->to_device(be, o->consts, &sc, sizeof sc);
}

/* ------------------------------------------------------------------ memcpy */
/* one parallel copy of `bytes` over the same OpenMP threads; seconds */
static double memcpy_once(char *dst, const char *src, size_t bytes) {
    const size_t blk = 1 << 20, nblk = (bytes + blk - 1) / blk;
    double t0 = daoe_now();
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < nblk; k++) {
        size_t lo = k * blk, n = lo + blk < bytes ? blk : bytes - lo;
        memcpy(dst + lo, src + lo, n);
    }
    return daoe_now() - t0;
}

/* ------------------------------------------------------------------ training */

/* a session of width w on be with random normalised input and labels (the
 * same batch every step) */
static daoe_session *bench_session(daoe_backend *be, const char *flags, int width, int batch, int key) {
    daoe_config c;
    char err[512];
    daoe_config_defaults(&c);
    c.width = width;
    c.batch = batch;
    c.seed = 1;
    if (daoe_config_from_flags(&c, flags, err, sizeof err) != 0) daoe_fatal("bench config '%s': %s", flags, err);
    daoe_session_opts so = {.be = be, .total_steps = 100000, .graph_key = key};
    daoe_session *s = daoe_session_create(&c, &so, err, sizeof err);
    if (!s) daoe_fatal("%s", err);
    float *x = daoe_xmalloc(sizeof(float) * (size_t)batch * 3072);
    for (size_t i = 0; i < (size_t)batch * 3072; i++) {
        philox4x32_ctr_t r = daoe_philox(7, (uint32_t)i, 0, 0, 9);
        x[i] = (float)((double)r.v[0] / 4294967296.0 * 2.0 - 1.0);
    }
    be->act_from_host(be, s->net.x, batch, 3, 32, 32, x);
    free(x);
    int32_t *y = daoe_xmalloc(sizeof(int32_t) * (size_t)batch);
    for (int i = 0; i < batch; i++) y[i] = i % DAOE_NET_CLASSES;
    be->to_device(be, s->net.y, y, sizeof(int32_t) * (size_t)batch);
    free(y);
    return s;
}

static void train_pair(daoe_backend *be, int width, int batch, int warm, int steps, double *ms_sgd, double *ms_daoe) {
    /* SGD and DAO-E from the same initial weights; the steps alternate */
    daoe_session *ss = bench_session(be, "--optimizer sgd", width, batch, 0);
    daoe_session *sd = bench_session(be, "--optimizer daoe", width, batch, 1);
    double *ts = daoe_xmalloc(sizeof(double) * (size_t)steps), *td = daoe_xmalloc(sizeof(double) * (size_t)steps);
    for (int s = 0; s < warm + steps; s++) {
        for (int which = 0; which < 2; which++) {
            /* alternate the order too, so neither always runs first */
            int d = which ^ (s & 1);
            be->sync(be);
            double t0 = daoe_now();
            daoe_session_step(d ? sd : ss, 0);
            be->sync(be);
            double dt = daoe_now() - t0;
            if (s >= warm) (d ? td : ts)[s - warm] = dt;
        }
    }
    *ms_sgd = 1e3 * median(ts, steps);
    *ms_daoe = 1e3 * median(td, steps);
    free(ts);
    free(td);
    daoe_session_free(ss);
    daoe_session_free(sd);
}

int main(int argc, char **argv) {
    int threads = 2, repeats = 11, warm = 2, steps16 = 8, steps64 = 3, train = 1, batch = 128;
    int no_train = 0;
    const tool_flag flags[] = {
        {"--threads", TOOL_FLAG_INT, &threads, 1, 4096, "N", NULL},
        {"--repeats", TOOL_FLAG_INT, &repeats, 1, 1 << 20, "N", NULL},
        {"--steps16", TOOL_FLAG_INT, &steps16, 1, 1 << 20, "N", NULL},
        {"--steps64", TOOL_FLAG_INT, &steps64, 1, 1 << 20, "N", NULL},
        {"--no-train", TOOL_FLAG_SWITCH, &no_train, 0, 0, NULL, NULL},
    };
    tool_flags(argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), NULL);
    if (no_train) train = 0;
    if (repeats < 1 || steps16 < 1 || steps64 < 1 || threads < 1) {
        fprintf(stderr, "daoe-bench-optim: counts must be >= 1\n");
        return 2;
    }
    char err[512];
    const daoe_backend_options bo = tool_backend_options(DAOE_FP32, threads, DAOE_CPU_CONV_DEFAULT);
    daoe_backend *be = daoe_cpu_backend_create(&bo, err, sizeof err);
    if (!be) {
        fprintf(stderr, "daoe-bench-optim: %s\n", err);
        return 1;
    }
    daoe_net layout;
    daoe_net_layout(&layout, 64);
    const size_t n = layout.nparams;
    printf("DAO-E optimizer benchmark, CPU backend: %s\n", be->desc);
    printf("parameter buffer: width-64 ResNet-18, %zu parameters (%zu elements with alignment padding)\n",
           layout.nparams_real, n);
    const size_t cbytes = n * sizeof(float);
    char *csrc = daoe_xmalloc(cbytes), *cdst = daoe_xmalloc(cbytes);
    memset(csrc, 1, cbytes);
    memset(cdst, 2, cbytes);

    /* ---- 1. the optimizer step */
    static const struct { const char *name, *args; } C[] = {
        {"sgd", "--optimizer sgd"},
        {"adam", "--optimizer adam"},
        {"adamw", "--optimizer adamw"},
        {"rmsprop", "--optimizer rmsprop"},
        {"lion", "--optimizer lion"},
        {"daoe (K=4, hypergrad)", "--optimizer daoe"},
        {"daoe (K=4, fixed)", "--optimizer daoe --controller fixed"},
        {"sgd, --features none", "--optimizer sgd --features none"},
        {"daoe K=4, --features none", "--optimizer daoe --features none"},
    };
    const int NC = (int)(sizeof C / sizeof C[0]);
    float *p = be->alloc(be, n * sizeof(float)), *g = be->alloc(be, n * sizeof(float));
    float *h = daoe_xmalloc(n * sizeof(float));
    for (size_t j = 0; j < n; j++) h[j] = 0.05f * (float)((double)daoe_philox(1, (uint32_t)j, 0, 0, 3).v[0] / 4294967296.0 - 0.5);
    be->to_device(be, p, h, n * sizeof(float));
    for (size_t j = 0; j < n; j++) h[j] = 0.01f * (float)((double)daoe_philox(2, (uint32_t)j, 0, 0, 3).v[0] / 4294967296.0 - 0.5);
    be->to_device(be, g, h, n * sizeof(float));
    free(h);
    /* all configurations set up at once and timed round-robin, one step
     * each per round: on a shared machine every configuration then sees the
     * same background load (medians compare; the minimum is the quiet-machine
     * estimate) */
    daoe_config cfg[16];
    daoe_opt o[16];
    double *t[16], bpe[16], med[16], best[16];
    double *tc = daoe_xmalloc(sizeof(double) * (size_t)repeats);
    for (int c = 0; c < NC; c++) {
        parse_cfg(&cfg[c], C[c].args);
        daoe_opt_setup(&o[c], be, &cfg[c], p, g, n, layout.nparams_real, 100000, 64);
        t[c] = daoe_xmalloc(sizeof(double) * (size_t)repeats);
        bpe[c] = daoe_opt_bytes_per_elem(&o[c]);
    }
    for (int r = -warm; r < repeats; r++) {
        double tm = memcpy_once(cdst, csrc, cbytes);
        if (r >= 0) tc[r] = tm;
        for (int c = 0; c < NC; c++) {
            set_consts(be, &cfg[c], &o[c], r + warm + 1);
            be->sync(be);
            double t0 = daoe_now();
            be->opt_step(be, &o[c], DAOE_PASS_UPDATE);
            be->ctrl_step(be, &o[c], DAOE_CTRL_STEP);
            be->sync(be);
            if (r >= 0) t[c][r] = daoe_now() - t0;
        }
    }
    double cmed = median(tc, repeats), bw = 2.0 * (double)cbytes / cmed / 1e9;
    double cbest = tc[0], bwmax = 2.0 * (double)cbytes / cbest / 1e9;
    free(tc);
    free(csrc);
    free(cdst);
    printf("one optimizer step (opt_step + ctrl_step), %d rounds after %d warm-up, configurations interleaved\n",
           repeats, warm);
    printf("%-26s %10s %9s %9s %8s %9s %10s %10s\n", "configuration", "bytes/elem", "ms median", "ms min",
           "GB/s", "%memcpy", "time/sgd", "bytes/sgd");
    printf("%-26s %10d %9.2f %9.2f %8.2f %8.0f%% %10s %10s\n", "memcpy (same threads)", 8, 1e3 * cmed, 1e3 * cbest,
           bw, 100.0, "", "");
    for (int c = 0; c < NC; c++) {
        med[c] = 1e3 * median(t[c], repeats);
        best[c] = 1e3 * t[c][0]; /* sorted by median() */
        double gbs = bpe[c] * (double)n / (med[c] / 1e3) / 1e9;
        printf("%-26s %10.0f %9.2f %9.2f %8.2f %8.0f%% %9.2fx %9.2fx\n", C[c].name, bpe[c], med[c], best[c], gbs,
               100.0 * gbs / bw, med[c] / med[0], bpe[c] / bpe[0]);
        free(t[c]);
        daoe_opt_free(&o[c], be);
    }
    printf("(GB/s and %%memcpy from the medians; memcpy timed in the same rounds: median %.2f GB/s, best %.2f GB/s)\n",
           bw, bwmax);
    be->free(be, p);
    be->free(be, g);

    /* ---- 2. end-to-end training throughput */
    if (train) {
        printf("\ntraining step (forward, xent, backward, opt_step, ctrl_step), batch %d, SGD and DAO-E alternating\n",
               batch);
        printf("%-6s %12s %12s %12s %12s %14s\n", "width", "sgd ms/step", "sgd img/s", "daoe ms/step", "daoe img/s",
               "daoe/sgd img/s");
        const int widths[2] = {16, 64};
        for (int wi = 0; wi < 2; wi++) {
            int w = widths[wi], st = w >= 64 ? steps64 : steps16;
            double a, b;
            train_pair(be, w, batch, w >= 64 ? 1 : warm, st, &a, &b);
            printf("%-6d %12.1f %12.1f %12.1f %12.1f %13.3fx   (median of %d)\n", w, a, batch / (a / 1e3), b,
                   batch / (b / 1e3), a / b, st);
            fflush(stdout);
        }
    }
    free(layout.tensors);
    be->destroy(be);
    return 0;
}
