/* The CUDA backend against the CPU backend. Part one is driven by a table of
 * ops (ops[] below: each op and shape listed once, with its run function and
 * its tolerance per precision); part two, kept apart at the end, compares
 * whole training steps: the first 20 steps of width 16 (GPU fp32
 * deterministic vs CPU), graph replay vs direct launches, and bit-identical
 * repeats with --deterministic. Skips (77) without a GPU.
 * Errors are ||gpu - cpu|| / ||cpu|| over the whole tensor. Tolerances:
 * fp32 1e-5 (reductions in another order), tf32 5e-3, bf16 2e-2 (inputs,
 * weights and outputs rounded to bf16).
 * Usage: test_cuda            every check
 *        test_cuda --quick    the small shapes and 3 captured training steps (memcheck)
 *        test_cuda --perf [N] no checks: each op of the PERF rows (ResNet-18
 *                             shapes, batch 128) timed over N calls (default
 *                             20), in us and TFLOP/s or GB/s */
#include "daoe/bf16.h"
#include "daoe/backend.h"
#include "daoe/net.h"
#include "daoe/train.h"
#include "daoe/util.h"
#include "testutil.h"

#ifndef DAOE_HAVE_CUDA
int main(void) {
    printf("test_cuda: built without CUDA: skipped\n");
    return SKIP_CODE;
}
#else
static daoe_backend *cpu, *gpu;
static daoe_precision prec; /* the GPU backend's */
static int perf_iters;      /* 0: check against the CPU; > 0: time the GPU only */
static const char *pname[] = {"fp32", "tf32", "bf16"};

static double relerr(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double x = (double)a[i] - b[i];
        d += x * x;
        r += (double)b[i] * b[i];
        if (a[i] != a[i]) return INFINITY;
    }
    return sqrt(d / (r + 1e-300));
}

static void report(const char *what, double err, double tol) {
    printf("  %-48s rel err %.2e (tol %.0e)%s\n", what, err, tol, err <= tol ? "" : "  FAIL");
    CHECK(err <= tol, "%s: rel err %.3e > %.0e", what, err, tol);
}

static void perf_line(const char *what, double sec, double flop, double bytes) {
    if (flop > 0) printf("  %-52s %10.1f us %8.2f TFLOP/s\n", what, sec * 1e6, flop / sec * 1e-12);
    else printf("  %-52s %10.1f us %8.1f GB/s\n", what, sec * 1e6, bytes / sec * 1e-9);
}

/* One GPU call. Checking: it runs once. Timing: once more to warm up, then
 * perf_iters times between synchronisations; the rate is flop as TFLOP/s
 * when flop > 0, else bytes (every tensor the op reads or writes, each
 * counted once) as GB/s. */
#define GPU_OP(what, flop, bytes, call)                                                            \
    do {                                                                                           \
        call;                                                                                      \
        if (perf_iters) {                                                                          \
            gpu->sync(gpu);                                                                        \
            double t0_ = daoe_now();                                                               \
            for (int i_ = 0; i_ < perf_iters; i_++) call;                                          \
            gpu->sync(gpu);                                                                        \
            perf_line((what), (daoe_now() - t0_) / perf_iters, (double)(flop), (double)(bytes));   \
        }                                                                                          \
    } while (0)

/* activation buffers on both backends from the same NCHW host data */
typedef struct { void *c, *g; int n, ch, h, w; } act2;
static act2 act_new(int n, int ch, int h, int w, const float *host) {
    act2 a = {NULL, NULL, n, ch, h, w};
    size_t cnt = (size_t)n * ch * h * w;
    a.c = cpu->alloc(cpu, cpu->act_bytes(cpu, cnt));
    a.g = gpu->alloc(gpu, gpu->act_bytes(gpu, cnt));
    if (host) {
        cpu->act_from_host(cpu, a.c, n, ch, h, w, host);
        gpu->act_from_host(gpu, a.g, n, ch, h, w, host);
    }
    return a;
}
static double act_cmp(act2 a) {
    size_t cnt = (size_t)a.n * a.ch * a.h * a.w;
    float *x = daoe_xmalloc(sizeof(float) * cnt), *y = daoe_xmalloc(sizeof(float) * cnt);
    cpu->act_to_host(cpu, a.c, a.n, a.ch, a.h, a.w, x);
    gpu->act_to_host(gpu, a.g, a.n, a.ch, a.h, a.w, y);
    double e = relerr(y, x, cnt);
    free(x); free(y);
    return e;
}
static void act_free(act2 a) { cpu->free(cpu, a.c); gpu->free(gpu, a.g); }
static size_t act_es(void) { return gpu->act_bytes(gpu, 1); } /* bytes of one GPU activation element */
/* round to bf16 on the host so both backends see the same inputs */
static void round_bf16(float *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = daoe_bf16_to_f32(daoe_f32_to_bf16(x[i])); }
/* a fresh host tensor of uniform inputs, bf16-exact in bf16 runs */
static float *host_uniform(size_t n, uint64_t seed, float scale) {
    float *x = daoe_xmalloc(sizeof(float) * n);
    fill_uniform(x, n, seed, scale);
    if (prec == DAOE_BF16) round_bf16(x, n);
    return x;
}

static float *dev_copy(daoe_backend *be, const void *h, size_t bytes) {
    float *d = be->alloc(be, bytes);
    be->to_device(be, d, h, bytes);
    return d;
}
static double dev_cmp(const float *gdev, const float *chost, size_t n) {
    float *t = daoe_xmalloc(sizeof(float) * n);
    gpu->to_host(gpu, t, gdev, sizeof(float) * n);
    double e = relerr(t, chost, n);
    free(t);
    return e;
}

/* ------------------------------------------------------------------ the ops */
typedef struct op_case op_case;
struct op_case {
    const char *name;
    int d[6];            /* the shape; each run function names its dimensions */
    const char *arg[2];  /* opt only: the optimizer and one more flag (or NULL) */
    void (*run)(const op_case *c, double tol, uint64_t seed);
    double tol[3];       /* fp32, tf32, bf16; < 0: not run at that precision */
    int when;            /* CHK: always checked; BIG: checked, not with --quick; PERF: timed by --perf */
};
enum { CHK = 1, BIG = 2, PERF = 4 };

/* load_batch, d = {N, images in the set}: x with and without augmentation,
 * labels, input statistics */
static void run_load_batch(const op_case *c, double tol, uint64_t seed) {
    const int N = c->d[0], NI = c->d[1];
    uint8_t *img = daoe_xmalloc((size_t)NI * 3072);
    int32_t *lab = daoe_xmalloc(sizeof(int32_t) * NI), *idx = daoe_xmalloc(sizeof(int32_t) * N);
    int32_t *cy = daoe_xmalloc(sizeof(int32_t) * N), *hy = daoe_xmalloc(sizeof(int32_t) * N);
    for (size_t i = 0; i < (size_t)NI * 3072; i++) img[i] = (uint8_t)(daoe_philox(5, (uint32_t)i, 0, 0, 1).v[0] & 255);
    for (int i = 0; i < NI; i++) lab[i] = i % 10;
    for (int i = 0; i < N; i++) idx[i] = (i * 37 + 11) % NI;
    uint8_t *gi = (uint8_t *)dev_copy(gpu, img, (size_t)NI * 3072);
    int32_t *gl = (int32_t *)dev_copy(gpu, lab, sizeof(int32_t) * NI);
    int32_t *gx = (int32_t *)dev_copy(gpu, idx, sizeof(int32_t) * N), *gy = gpu->alloc(gpu, sizeof(int32_t) * N);
    float *gs = gpu->alloc(gpu, sizeof(float) * DAOE_NSTAT), cs[DAOE_NSTAT] = {0}, hs[DAOE_NSTAT];
    act2 x = act_new(N, 3, 32, 32, NULL);
    for (int aug = 0; aug < 2; aug++) {
        char w[96];
        snprintf(w, sizeof w, "load_batch N%d %s augment=%d x", N, pname[prec], aug);
        GPU_OP(w, 0, (size_t)N * 3072 * (1 + act_es()), gpu->load_batch(gpu, gi, gl, gx, N, aug, 42, 3, x.g, gy, gs));
        if (perf_iters) continue;
        cpu->load_batch(cpu, img, lab, idx, N, aug, 42, 3, x.c, cy, cs);
        gpu->to_host(gpu, hy, gy, sizeof(int32_t) * N);
        gpu->to_host(gpu, hs, gs, sizeof hs);
        report(w, act_cmp(x), tol);
        CHECK(!memcmp(hy, cy, sizeof(int32_t) * N), "load_batch labels differ");
        CHECK(fabs(hs[DAOE_ST_XMEAN] - cs[DAOE_ST_XMEAN]) < 1e-5 && fabs(hs[DAOE_ST_XVAR] - cs[DAOE_ST_XVAR]) < 1e-5 &&
                  hs[DAOE_ST_N] == N,
              "load_batch stats: gpu %g %g vs cpu %g %g", hs[DAOE_ST_XMEAN], hs[DAOE_ST_XVAR], cs[DAOE_ST_XMEAN],
              cs[DAOE_ST_XVAR]);
    }
    act_free(x);
    gpu->free(gpu, gi); gpu->free(gpu, gl); gpu->free(gpu, gx); gpu->free(gpu, gy); gpu->free(gpu, gs);
    free(img); free(lab); free(idx); free(cy); free(hy);
}

/* conv, d = {N, cin, cout, k, stride, h = w}, pad k/2: forward, data gradient
 * (overwritten, then accumulated), filter gradient */
static void run_conv(const op_case *c, double tol, uint64_t seed) {
    const int N = c->d[0], cin = c->d[1], cout = c->d[2], k = c->d[3], s = c->d[4], h = c->d[5];
    daoe_conv cv = {.cin = cin, .cout = cout, .k = k, .stride = s, .pad = k / 2, .h = h, .w = h, .w_off = 0};
    cv.ho = cv.wo = (h + 2 * cv.pad - k) / s + 1;
    size_t nx = (size_t)N * cin * h * h, ny = (size_t)N * cout * cv.ho * cv.wo, nw = (size_t)cout * cin * k * k;
    float *xh = host_uniform(nx, seed, 1.0f), *dyh = host_uniform(ny, seed + 1, 1.0f), *w = host_uniform(nw, seed + 2, 0.5f);
    float *gw = gpu->alloc(gpu, sizeof(float) * nw), *gdw = gpu->alloc(gpu, sizeof(float) * nw);
    gpu->to_device(gpu, gw, w, sizeof(float) * nw);
    gpu->bind_params(gpu, gw, gdw, nw, &cv, 1, N);
    gpu->refresh_weights(gpu);
    act2 x = act_new(N, cin, h, h, xh), y = act_new(N, cout, cv.ho, cv.wo, NULL), dy = act_new(N, cout, cv.ho, cv.wo, dyh);
    act2 dx = act_new(N, cin, h, h, xh); /* starts as x: tests accumulate */
    float *cdw = daoe_xmalloc(sizeof(float) * nw);
    const double flop = 2.0 * N * cout * cv.ho * cv.wo * cin * k * k;
    char shape[80], what[128];
    snprintf(shape, sizeof shape, "conv %dx%d s%d %d->%d %dx%d N%d %s", k, k, s, cin, cout, h, h, N, pname[prec]);
    snprintf(what, sizeof what, "%s fwd", shape);
    GPU_OP(what, flop, 0, gpu->conv_fwd(gpu, &cv, N, x.g, gw, y.g));
    if (!perf_iters) {
        cpu->conv_fwd(cpu, &cv, N, x.c, w, y.c);
        report(what, act_cmp(y), tol);
    }
    for (int acc = 0; acc < 2; acc++) {
        snprintf(what, sizeof what, "%s bwd data%s", shape, acc ? " +=" : "");
        GPU_OP(what, flop, 0, gpu->conv_bwd_data(gpu, &cv, N, dy.g, gw, dx.g, acc));
        if (perf_iters) continue;
        cpu->conv_bwd_data(cpu, &cv, N, dy.c, w, dx.c, acc);
        report(what, act_cmp(dx), tol);
    }
    snprintf(what, sizeof what, "%s bwd filter", shape);
    GPU_OP(what, flop, 0, gpu->conv_bwd_filter(gpu, &cv, N, x.g, dy.g, gdw));
    if (!perf_iters) {
        cpu->conv_bwd_filter(cpu, &cv, N, x.c, dy.c, cdw);
        report(what, dev_cmp(gdw, cdw, nw), tol);
    }
    act_free(x); act_free(y); act_free(dy); act_free(dx);
    gpu->free(gpu, gw); gpu->free(gpu, gdw);
    free(xh); free(dyh); free(w); free(cdw);
}

/* bn, d = {N, C, HW, relu, residual}: forward in training (with the running
 * and saved statistics) and eval, backward dx, dres, dgamma and dbeta */
static void run_bn(const op_case *c, double tol, uint64_t seed) {
    const int N = c->d[0], C = c->d[1], HW = c->d[2], relu = c->d[3], use_res = c->d[4];
    size_t n = (size_t)N * C * HW;
    float *xh = daoe_xmalloc(sizeof(float) * n), *rh = daoe_xmalloc(sizeof(float) * n);
    fill_normal(xh, n, seed, 2.0f);
    for (size_t i = 0; i < n; i++) xh[i] += 0.7f;
    fill_normal(rh, n, seed + 1, 1.0f);
    if (prec == DAOE_BF16) { round_bf16(xh, n); round_bf16(rh, n); }
    float *dyh = host_uniform(n, seed + 2, 1.0f), *g = host_uniform(C, seed + 3, 1.0f), *b = host_uniform(C, seed + 4, 1.0f);
    float *st = daoe_xmalloc(sizeof(float) * 6 * C), *rm = st, *rv = st + C, *sm = st + 2 * C, *si = st + 3 * C,
          *dg = st + 4 * C, *db = st + 5 * C;
    for (int ch = 0; ch < C; ch++) rm[ch] = 0.1f * ch, rv[ch] = 1.0f + 0.01f * ch;
    float *G = dev_copy(gpu, g, 4 * C), *B = dev_copy(gpu, b, 4 * C), *RM = dev_copy(gpu, rm, 4 * C),
          *RV = dev_copy(gpu, rv, 4 * C);
    float *SM = gpu->alloc(gpu, 4 * C), *SI = gpu->alloc(gpu, 4 * C), *DG = gpu->alloc(gpu, 4 * C), *DB = gpu->alloc(gpu, 4 * C);
    act2 x = act_new(N, C, HW, 1, xh), r = act_new(N, C, HW, 1, rh), y = act_new(N, C, HW, 1, NULL);
    act2 dy = act_new(N, C, HW, 1, dyh), dx = act_new(N, C, HW, 1, NULL), dr = act_new(N, C, HW, 1, NULL);
    const size_t tb = n * act_es(); /* bytes of one activation tensor */
    char shape[80], what[128];
    snprintf(shape, sizeof shape, "%s N%d C%d HW%d %s", c->name, N, C, HW, pname[prec]);
    for (int training = 1; training >= 0; training--) {
        snprintf(what, sizeof what, "%s %s fwd", shape, training ? "train" : "eval");
        GPU_OP(what, 0, tb * (2 + use_res),
               gpu->bn_fwd(gpu, N, C, HW, x.g, use_res ? r.g : NULL, y.g, G, B, RM, RV, SM, SI, training, relu, 0.1f,
                           1e-5f));
        if (!perf_iters) {
            cpu->bn_fwd(cpu, N, C, HW, x.c, use_res ? r.c : NULL, y.c, g, b, rm, rv, sm, si, training, relu, 0.1f,
                        1e-5f);
            report(what, act_cmp(y), tol);
        }
        if (!training) continue;
        if (!perf_iters) {
            snprintf(what, sizeof what, "%s running/saved statistics", shape);
            double e = fmax(fmax(dev_cmp(RM, rm, C), dev_cmp(RV, rv, C)), fmax(dev_cmp(SM, sm, C), dev_cmp(SI, si, C)));
            report(what, e, 1e-5);
        }
        snprintf(what, sizeof what, "%s bwd", shape);
        GPU_OP(what, 0, tb * (4 + use_res),
               gpu->bn_bwd(gpu, N, C, HW, dy.g, y.g, x.g, G, SM, SI, dx.g, use_res ? dr.g : NULL, DG, DB, relu));
        if (perf_iters) continue;
        cpu->bn_bwd(cpu, N, C, HW, dy.c, y.c, x.c, g, sm, si, dx.c, use_res ? dr.c : NULL, dg, db, relu);
        snprintf(what, sizeof what, "%s bwd dx", shape);
        report(what, act_cmp(dx), tol);
        if (use_res) {
            snprintf(what, sizeof what, "%s bwd dres", shape);
            report(what, act_cmp(dr), tol);
        }
        snprintf(what, sizeof what, "%s bwd dgamma, dbeta", shape);
        report(what, fmax(dev_cmp(DG, dg, C), dev_cmp(DB, db, C)), tol);
    }
    act_free(x); act_free(r); act_free(y); act_free(dy); act_free(dx); act_free(dr);
    float *fr[] = {G, B, RM, RV, SM, SI, DG, DB};
    for (int i = 0; i < 8; i++) gpu->free(gpu, fr[i]);
    free(xh); free(rh); free(dyh); free(g); free(b); free(st);
}

/* avgpool, d = {N, C, HW}: forward into fp32 [N][C], backward into activations */
static void run_avgpool(const op_case *c, double tol, uint64_t seed) {
    const int N = c->d[0], C = c->d[1], HW = c->d[2];
    const size_t nx = (size_t)N * C * HW, ny = (size_t)N * C;
    float *xh = host_uniform(nx, seed, 2.0f), *dyh = host_uniform(ny, seed + 1, 1.0f), *py = daoe_xmalloc(sizeof(float) * ny);
    act2 x = act_new(N, C, HW, 1, xh), dx = act_new(N, C, HW, 1, NULL);
    float *gy = gpu->alloc(gpu, sizeof(float) * ny), *gdy = dev_copy(gpu, dyh, sizeof(float) * ny);
    char what[128];
    snprintf(what, sizeof what, "avgpool N%d C%d HW%d %s fwd", N, C, HW, pname[prec]);
    GPU_OP(what, 0, nx * act_es() + ny * 4, gpu->avgpool_fwd(gpu, N, C, HW, x.g, gy));
    if (!perf_iters) {
        cpu->avgpool_fwd(cpu, N, C, HW, x.c, py);
        report(what, dev_cmp(gy, py, ny), tol);
    }
    snprintf(what, sizeof what, "avgpool N%d C%d HW%d %s bwd", N, C, HW, pname[prec]);
    GPU_OP(what, 0, nx * act_es() + ny * 4, gpu->avgpool_bwd(gpu, N, C, HW, gdy, dx.g));
    if (!perf_iters) {
        cpu->avgpool_bwd(cpu, N, C, HW, dyh, dx.c);
        report(what, act_cmp(dx), tol);
    }
    act_free(x); act_free(dx);
    gpu->free(gpu, gy); gpu->free(gpu, gdy);
    free(xh); free(dyh); free(py);
}

/* linear, d = {N, in, out}: y = x W^T + b, then dx, dW, db (all fp32) */
static void run_linear(const op_case *c, double tol, uint64_t seed) {
    const int N = c->d[0], in = c->d[1], out = c->d[2];
    const size_t nx = (size_t)N * in, nw = (size_t)out * in, ny = (size_t)N * out;
    float *x = host_uniform(nx, seed, 1.0f), *W = host_uniform(nw, seed + 1, 0.5f), *b = host_uniform(out, seed + 2, 0.5f);
    float *dy = host_uniform(ny, seed + 3, 1.0f);
    float *y = daoe_xmalloc(sizeof(float) * ny), *dx = daoe_xmalloc(sizeof(float) * nx), *dW = daoe_xmalloc(sizeof(float) * nw),
          *db = daoe_xmalloc(sizeof(float) * out);
    float *gx = dev_copy(gpu, x, sizeof(float) * nx), *gW = dev_copy(gpu, W, sizeof(float) * nw),
          *gb = dev_copy(gpu, b, sizeof(float) * out), *gdy = dev_copy(gpu, dy, sizeof(float) * ny);
    float *gy = gpu->alloc(gpu, sizeof(float) * ny), *gdx = gpu->alloc(gpu, sizeof(float) * nx),
          *gdW = gpu->alloc(gpu, sizeof(float) * nw), *gdb = gpu->alloc(gpu, sizeof(float) * out);
    char what[128];
    snprintf(what, sizeof what, "linear N%d %d->%d %s fwd", N, in, out, pname[prec]);
    GPU_OP(what, 2.0 * N * in * out, 0, gpu->linear_fwd(gpu, N, in, out, gx, gW, gb, gy));
    if (!perf_iters) {
        cpu->linear_fwd(cpu, N, in, out, x, W, b, y);
        report(what, dev_cmp(gy, y, ny), tol);
    }
    snprintf(what, sizeof what, "linear N%d %d->%d %s bwd dx, dW, db", N, in, out, pname[prec]);
    GPU_OP(what, 4.0 * N * in * out, 0, gpu->linear_bwd(gpu, N, in, out, gx, gW, gdy, gdx, gdW, gdb));
    if (!perf_iters) {
        cpu->linear_bwd(cpu, N, in, out, x, W, dy, dx, dW, db);
        report(what, fmax(fmax(dev_cmp(gdx, dx, nx), dev_cmp(gdW, dW, nw)), dev_cmp(gdb, db, out)), tol);
    }
    float *fr[] = {gx, gW, gb, gdy, gy, gdx, gdW, gdb};
    for (int i = 0; i < 8; i++) gpu->free(gpu, fr[i]);
    free(x); free(W); free(b); free(dy); free(y); free(dx); free(dW); free(db);
}

/* xent, d = {N, K}: dlogits and the loss, accuracy and entropy statistics */
static void run_xent(const op_case *c, double tol, uint64_t seed) {
    const int N = c->d[0], K = c->d[1];
    const size_t nl = (size_t)N * K;
    float *l = host_uniform(nl, seed, 3.0f), *dl = daoe_xmalloc(sizeof(float) * nl), st[DAOE_NSTAT] = {0}, hst[DAOE_NSTAT];
    int32_t *y = daoe_xmalloc(sizeof(int32_t) * N);
    for (int i = 0; i < N; i++) y[i] = (i * 7) % K;
    float *gl = dev_copy(gpu, l, sizeof(float) * nl), *gdl = gpu->alloc(gpu, sizeof(float) * nl),
          *gs = gpu->alloc(gpu, sizeof(float) * DAOE_NSTAT);
    int32_t *gy = (int32_t *)dev_copy(gpu, y, sizeof(int32_t) * N);
    char what[128];
    snprintf(what, sizeof what, "xent N%d K%d dlogits", N, K);
    GPU_OP(what, 0, nl * 8 + (size_t)N * 4, gpu->xent(gpu, N, K, gl, gy, gdl, gs));
    if (!perf_iters) {
        cpu->xent(cpu, N, K, l, y, dl, st);
        gpu->to_host(gpu, hst, gs, sizeof hst);
        report(what, dev_cmp(gdl, dl, nl), tol);
        CHECK(fabs(hst[0] - st[0]) < 1e-4 * fabs(st[0]) + 1e-6 && hst[1] == st[1] && fabs(hst[2] - st[2]) < 1e-4,
              "xent stats gpu (%g %g %g) vs cpu (%g %g %g)", hst[0], hst[1], hst[2], st[0], st[1], st[2]);
    }
    gpu->free(gpu, gl); gpu->free(gpu, gdl); gpu->free(gpu, gs); gpu->free(gpu, gy);
    free(l); free(dl); free(y);
}

/* opt, d = {elements, steps}, arg = {optimizer, flag}: the fused step and the
 * controller for some steps: parameters, reductions, alpha, every state
 * buffer. tol is the parameters'; the reductions get 10x (sums of a third
 * of a million products in another order). */
static void run_opt(const op_case *c, double tol, uint64_t seed) {
    const char *optimizer = c->arg[0], *extra = c->arg[1];
    daoe_config cfg;
    daoe_config_defaults(&cfg);
    char err[256], flags[160];
    snprintf(flags, sizeof flags, "--optimizer=%s %s", optimizer, extra ? extra : "");
    if (daoe_config_from_flags(&cfg, flags, err, sizeof err)) {
        printf("config: %s\n", err);
        CHECK(0, "config %s", flags);
        return;
    }
    const size_t n = (size_t)c->d[0];
    const int steps = c->d[1];
    float *p0 = daoe_xmalloc(sizeof(float) * n), *g = daoe_xmalloc(sizeof(float) * n);
    fill_normal(p0, n, 3, 0.1f);
    float *cp = daoe_xmalloc(sizeof(float) * n), *cg = daoe_xmalloc(sizeof(float) * n);
    memcpy(cp, p0, sizeof(float) * n);
    float *gp = dev_copy(gpu, p0, sizeof(float) * n), *gg = gpu->alloc(gpu, sizeof(float) * n);
    daoe_opt oc, og;
    daoe_opt_setup(&oc, cpu, &cfg, cp, cg, n, n, 100, 16);
    daoe_opt_setup(&og, gpu, &cfg, gp, gg, n, n, 100, 16);
    char what[128];
    snprintf(what, sizeof what, "opt %s %s: fused step + controller, %zu elements", optimizer, extra ? extra : "", n);
    if (perf_iters) {
        daoe_state_buf lg[DAOE_MAX_STATE_BUFS];
        size_t bytes = n * 4 * 3; /* g read, p read and written */
        for (int i = 0, k = daoe_opt_state_list(&og, lg, DAOE_MAX_STATE_BUFS); i < k; i++) bytes += 2 * lg[i].bytes;
        daoe_step_consts sc;
        daoe_step_consts_fill(&cfg, 1, 0, 100, 0, &sc);
        gpu->to_device(gpu, og.consts, &sc, sizeof sc);
        GPU_OP(what, 0, bytes, (gpu->opt_step(gpu, &og, DAOE_PASS_UPDATE), gpu->ctrl_step(gpu, &og, DAOE_CTRL_STEP)));
    }
    double worst_p = 0, worst_red = 0, worst_alpha = 0;
    for (int t = 1; t <= steps && !perf_iters; t++) {
        fill_normal(g, n, 100 + t, 1.0f);
        memcpy(cg, g, sizeof(float) * n);
        gpu->to_device(gpu, gg, g, sizeof(float) * n);
        daoe_step_consts sc;
        daoe_step_consts_fill(&cfg, t, 0, 100, 0, &sc);
        *oc.consts = sc;
        gpu->to_device(gpu, og.consts, &sc, sizeof sc);
        float st[DAOE_NSTAT] = {2.3f - 0.1f * t, 10, 0.9f, 0.01f * t, 1.0f, 128};
        memcpy(oc.stats, st, sizeof st);
        gpu->to_device(gpu, og.stats, st, sizeof st);
        cpu->opt_step(cpu, &oc, DAOE_PASS_UPDATE);
        cpu->ctrl_step(cpu, &oc, DAOE_CTRL_STEP);
        gpu->opt_step(gpu, &og, DAOE_PASS_UPDATE);
        gpu->ctrl_step(gpu, &og, DAOE_CTRL_STEP);
        worst_p = fmax(worst_p, dev_cmp(gp, cp, n));
        double rg[DAOE_NRED];
        gpu->to_host(gpu, rg, og.red, sizeof rg);
        for (int r = 0; r < DAOE_NRED; r++) {
            /* a dot product g.d can cancel to near 0: measure it against |g||d| */
            /* grad_var = sum(vhat - mhat^2) cancels (exactly 0 in value at step 1): against sum(g^2) */
            double scale = r >= DAOE_RED_DOT && r < DAOE_RED_DN
                               ? sqrt(oc.red[DAOE_RED_GG] * oc.red[DAOE_RED_DN + r - DAOE_RED_DOT])
                               : (r == DAOE_RED_GV ? oc.red[DAOE_RED_GG] : fabs(oc.red[r]));
            if (oc.red[r] != 0.0 || rg[r] != 0.0) worst_red = fmax(worst_red, fabs(rg[r] - oc.red[r]) / (scale + 1e-30));
        }
        daoe_ctrl_state sg;
        gpu->to_host(gpu, &sg, og.state, sizeof sg);
        for (int i = 0; i < DAOE_K; i++) worst_alpha = fmax(worst_alpha, fabs(sg.alpha[i] - oc.state->alpha[i]));
    }
    if (!perf_iters) {
        snprintf(what, sizeof what, "fused step %s %s: params after %d steps", optimizer, extra ? extra : "", steps);
        report(what, worst_p, tol);
        snprintf(what, sizeof what, "fused step %s %s: reductions", optimizer, extra ? extra : "");
        report(what, worst_red, 10 * tol);
        snprintf(what, sizeof what, "controller %s %s: alpha (abs)", optimizer, extra ? extra : "");
        report(what, worst_alpha, tol);
        /* every state buffer */
        daoe_state_buf lc[DAOE_MAX_STATE_BUFS], lg[DAOE_MAX_STATE_BUFS];
        int nc = daoe_opt_state_list(&oc, lc, DAOE_MAX_STATE_BUFS), ng = daoe_opt_state_list(&og, lg, DAOE_MAX_STATE_BUFS);
        CHECK(nc == ng, "state buffer lists differ");
        for (int i = 0; i < nc && i < ng; i++) {
            if (strcmp(lc[i].dtype, "F32")) continue;
            snprintf(what, sizeof what, "  state %s", lc[i].name);
            report(what, dev_cmp(lg[i].ptr, lc[i].ptr, lc[i].bytes / 4), tol);
        }
    }
    daoe_opt_free(&oc, cpu);
    daoe_opt_free(&og, gpu);
    gpu->free(gpu, gp); gpu->free(gpu, gg);
    free(p0); free(g); free(cp); free(cg);
}

#define ALL {1e-5, 5e-3, 2e-2}    /* the precisions' usual tolerances */
#define EXACTISH {1e-6, 1e-6, 4e-3} /* same-order sums; bf16 rounds the output */
#define FP32_OPS {1e-5, 5e-3, 1e-5} /* fp32 data at every precision; cuBLAS uses TF32 under tf32 */
#define FP32_ONLY {1e-5, -1, -1}  /* precision-independent: run once, on the fp32 backend */
#define RESNET_N 128              /* batch of the perf rows */
#define RESNET_P 11173962         /* parameters of ResNet-18 at width 64 */

static const op_case ops[] = {
    /* name         shape                                 arg               run             tolerance  when */
    {"load_batch",  {40, 64},                             {0},              run_load_batch, EXACTISH,  CHK},
    {"conv",        {4, 3, 16, 3, 1, 32},                 {0},              run_conv,       ALL,       CHK},
    {"conv",        {4, 16, 32, 3, 2, 16},                {0},              run_conv,       ALL,       CHK},
    {"conv",        {4, 16, 32, 1, 2, 16},                {0},              run_conv,       ALL,       CHK},
    {"conv",        {3, 32, 32, 3, 1, 8},                 {0},              run_conv,       ALL,       CHK},
    {"conv",        {8, 64, 64, 3, 1, 32},                {0},              run_conv,       ALL,       BIG},
    {"bn+res+relu", {6, 40, 64, 1, 1},                    {0},              run_bn,         ALL,       CHK},
    {"bn+relu",     {6, 40, 64, 1, 0},                    {0},              run_bn,         ALL,       CHK},
    {"bn",          {6, 40, 64, 0, 0},                    {0},              run_bn,         ALL,       CHK},
    {"bn+res+relu", {32, 128, 256, 1, 1},                 {0},              run_bn,         ALL,       BIG},
    {"avgpool",     {37, 64, 16},                         {0},              run_avgpool,    EXACTISH,  CHK},
    {"linear",      {37, 64, 10},                         {0},              run_linear,     FP32_OPS,  CHK},
    {"xent",        {37, 10},                             {0},              run_xent,       FP32_ONLY, CHK},
    {"opt",         {300017, 6},                          {"sgd", NULL},    run_opt,        FP32_ONLY, CHK},
    {"opt",         {300017, 6},                          {"sgd", "--nesterov"}, run_opt,   FP32_ONLY, CHK},
    {"opt",         {300017, 6},                          {"adam", NULL},   run_opt,        FP32_ONLY, CHK},
    {"opt",         {300017, 6},                          {"adamw", NULL},  run_opt,        FP32_ONLY, CHK},
    {"opt",         {300017, 6},                          {"rmsprop", "--centered"}, run_opt, FP32_ONLY, CHK},
    {"opt",         {300017, 6},                          {"lion", NULL},   run_opt,        FP32_ONLY, CHK},
    {"opt",         {300017, 6},                          {"daoe", NULL},   run_opt,        FP32_ONLY, CHK},
    {"opt",         {300017, 6},                          {"daoe", "--hypergrad=raw"}, run_opt, FP32_ONLY, CHK},
    {"opt",         {300017, 6},                          {"daoe", "--alpha-ema=0.9"}, run_opt, FP32_ONLY, CHK},
    /* timed by --perf: ResNet-18 at width 64, batch 128 */
    {"load_batch",  {RESNET_N, 1024},                     {0},              run_load_batch, EXACTISH,  PERF},
    {"conv",        {RESNET_N, 3, 64, 3, 1, 32},          {0},              run_conv,       ALL,       PERF},
    {"conv",        {RESNET_N, 64, 64, 3, 1, 32},         {0},              run_conv,       ALL,       PERF},
    {"conv",        {RESNET_N, 64, 128, 3, 2, 32},        {0},              run_conv,       ALL,       PERF},
    {"conv",        {RESNET_N, 64, 128, 1, 2, 32},        {0},              run_conv,       ALL,       PERF},
    {"conv",        {RESNET_N, 128, 128, 3, 1, 16},       {0},              run_conv,       ALL,       PERF},
    {"conv",        {RESNET_N, 256, 256, 3, 1, 8},        {0},              run_conv,       ALL,       PERF},
    {"conv",        {RESNET_N, 512, 512, 3, 1, 4},        {0},              run_conv,       ALL,       PERF},
    {"bn+res+relu", {RESNET_N, 64, 1024, 1, 1},           {0},              run_bn,         ALL,       PERF},
    {"bn+relu",     {RESNET_N, 512, 16, 1, 0},            {0},              run_bn,         ALL,       PERF},
    {"avgpool",     {RESNET_N, 512, 16},                  {0},              run_avgpool,    EXACTISH,  PERF},
    {"linear",      {RESNET_N, 512, 10},                  {0},              run_linear,     FP32_OPS,  PERF},
    {"xent",        {RESNET_N, 10},                       {0},              run_xent,       FP32_ONLY, PERF},
    {"opt",         {RESNET_P, 1},                        {"sgd", NULL},    run_opt,        FP32_ONLY, PERF},
    {"opt",         {RESNET_P, 1},                        {"adamw", NULL},  run_opt,        FP32_ONLY, PERF},
    {"opt",         {RESNET_P, 1},                        {"daoe", NULL},   run_opt,        FP32_ONLY, PERF},
};

/* every row of ops[] selected by `when`, on a GPU backend of each precision its tolerance allows */
static int run_ops(int when) {
    char err[512];
    for (int pi = 0; pi < 3; pi++) {
        prec = (daoe_precision)pi;
        /* checks: deterministic algorithms; --perf: the trainer's default (timed search) */
        gpu = daoe_cuda_backend_create(prec, !perf_iters, err, sizeof err);
        if (!gpu) {
            printf("%s\n", err);
            return 1;
        }
        printf("[%s] %s\n", pname[pi], gpu->desc);
        for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
            if ((ops[i].when & when) && ops[i].tol[pi] >= 0) ops[i].run(&ops[i], ops[i].tol[pi], 1 + 10 * i);
        gpu->destroy(gpu);
    }
    return 0;
}

/* ------------------------------------------------------------------ whole training steps
 * Kept apart from the op table: the backend, network and optimizer are put
 * together by hand here. */
/* steps of width-W training on synthetic images through a training session;
 * losses[] out, final params to host. use_graph 0: the step body launched
 * directly instead of through be->run_step (graph capture on the GPU). */
static void train_steps(daoe_backend *be, const char *optimizer, int width, int steps, int use_graph, float *losses,
                        float **params_out, size_t *n_out) {
    /* gentle rates: at lr 0.1 this synthetic run is chaotic (two CPU thread counts part by 1e-2 within 6 steps) */
    const char *lr_opt = strcmp(optimizer, "daoe") ? "--lr=0.01" : "--sgd-lr=0.01";
    enum { NI = 512, B = 32 };
    daoe_config cfg;
    daoe_config_defaults(&cfg);
    cfg.width = width;
    cfg.batch = B;
    cfg.seed = 77;
    char flags[128], err[512];
    snprintf(flags, sizeof flags, "--optimizer=%s %s", optimizer, lr_opt);
    if (daoe_config_from_flags(&cfg, flags, err, sizeof err)) daoe_fatal("train_steps: %s", err);
    daoe_session_opts so = {.be = be, .total_steps = steps, .trace_cap = 64, .graph_key = 1};
    daoe_session *s = daoe_session_create(&cfg, &so, err, sizeof err);
    if (!s) daoe_fatal("train_steps: %s", err);
    uint8_t *img = daoe_xmalloc((size_t)NI * 3072);
    int32_t lab[NI], idx[B];
    for (size_t i = 0; i < (size_t)NI * 3072; i++) img[i] = (uint8_t)(daoe_philox(9, (uint32_t)i, 0, 0, 1).v[0] & 255);
    for (int i = 0; i < NI; i++) lab[i] = (img[i * 3072] + img[i * 3072 + 1500]) % 10; /* learnable from pixels */
    daoe_session_set_images(s, DAOE_SET_TRAIN, img, lab, NI);
    daoe_trace tr[64];
    for (int t = 1; t <= steps; t++) {
        for (int i = 0; i < B; i++) idx[i] = (int)((daoe_philox(1, (uint32_t)(t * B + i), 0, 0, 2).v[0]) % NI);
        daoe_session_load_batch(s, DAOE_SET_TRAIN, idx, B, 0, 1);
        if (use_graph) daoe_session_step(s, 0);
        else {
            daoe_session_begin_step(s, 0);
            daoe_step_run(&s->step);
            s->net.num_batches_tracked++;
        }
        daoe_session_read_trace(s, tr);
        losses[t - 1] = tr[(t - 1) % 64].loss;
    }
    *n_out = s->net.nparams;
    *params_out = daoe_xmalloc(sizeof(float) * s->net.nparams);
    float *bufs = daoe_xmalloc(sizeof(float) * (s->net.nbufs + 1));
    daoe_session_get_weights(s, *params_out, bufs);
    free(bufs);
    free(img);
    daoe_session_free(s);
}

/* 20 training steps, width 16: GPU fp32 deterministic vs CPU (--quick: one
 * short captured run, for memcheck) */
static void check_training(int quick) {
    char err[512];
    gpu = daoe_cuda_backend_create(DAOE_FP32, 1, err, sizeof err);
    if (!gpu) {
        printf("%s\n", err);
        CHECK(0, "CUDA backend");
        return;
    }
    const int S = quick ? 3 : 20;
    if (quick) { /* memcheck run: one short captured run covers the step kernels */
        float lq[20], *pq;
        size_t nq;
        train_steps(gpu, "daoe", 16, S, 1, lq, &pq, &nq);
        free(pq);
        gpu->destroy(gpu);
        return;
    }
    float lc[20], lg[20], lg2[20], lg3[20];
    float *pc, *pg, *pg2, *pg3;
    size_t n;
    /* The comparison is calibrated against the CPU itself: the same run with 1
     * thread and with all threads differs only in summation order. The GPU
     * must agree with the CPU at step 1 to 1e-5, and over the 20 steps stay
     * within 10x the CPU-vs-CPU spread (or 1e-3, whichever is larger). */
    float l1[20];
    float *p1;
    daoe_backend *cpu1 = daoe_cpu_backend_create(1, DAOE_CPU_CONV_IM2COL, DAOE_FP32, err, sizeof err);
    train_steps(cpu1, "sgd", 16, S, 0, l1, &p1, &n);
    cpu1->destroy(cpu1);
    cpu->destroy(cpu);
    cpu = daoe_cpu_backend_create(0, DAOE_CPU_CONV_IM2COL, DAOE_FP32, err, sizeof err); /* all threads again */
    train_steps(cpu, "sgd", 16, S, 0, lc, &pc, &n);
    train_steps(gpu, "sgd", 16, S, 1, lg, &pg, &n);
    double worst = 0, spread = 0;
    printf("  step  loss cpu(all threads)  cpu(1 thread)  gpu fp32\n");
    for (int t = 0; t < S; t++) {
        worst = fmax(worst, fabs(lg[t] - lc[t]) / fabs(lc[t]));
        spread = fmax(spread, fabs(l1[t] - lc[t]) / fabs(lc[t]));
        printf("  %4d  %.7f  %.7f  %.7f\n", t + 1, lc[t], l1[t], lg[t]);
    }
    report("training step 1 loss, fp32 GPU vs CPU", fabs(lg[0] - lc[0]) / fabs(lc[0]), 1e-5);
    printf("  CPU 1 thread vs all threads, worst over %d steps: %.2e\n", S, spread);
    report("20 training steps width 16 sgd: loss, fp32 GPU vs CPU", worst, fmax(1e-3, 10 * spread));
    free(p1);
    /* graph replay equals direct launches, and deterministic repeats are bit-identical */
    train_steps(gpu, "sgd", 16, S, 0, lg2, &pg2, &n);
    CHECK(!memcmp(pg, pg2, sizeof(float) * n), "graph replay differs from direct launches");
    printf("  graph replay vs direct launches: %s\n", memcmp(pg, pg2, sizeof(float) * n) ? "DIFFERENT" : "bit-identical");
    train_steps(gpu, "daoe", 16, S, 1, lg2, &pg2, &n);
    train_steps(gpu, "daoe", 16, S, 1, lg3, &pg3, &n);
    CHECK(!memcmp(pg2, pg3, sizeof(float) * n), "deterministic fp32 DAO-E repeat differs");
    printf("  deterministic fp32 daoe twice: %s\n", memcmp(pg2, pg3, sizeof(float) * n) ? "DIFFERENT" : "bit-identical");
    gpu->destroy(gpu);
    gpu = daoe_cuda_backend_create(DAOE_BF16, 1, err, sizeof err);
    train_steps(gpu, "sgd", 16, S, 1, lg2, &pg2, &n);
    train_steps(gpu, "sgd", 16, S, 1, lg3, &pg3, &n);
    CHECK(!memcmp(pg2, pg3, sizeof(float) * n), "deterministic bf16 repeat differs");
    printf("  deterministic bf16 sgd twice: %s; bf16 vs fp32 loss at step %d: %.5f vs %.5f\n",
           memcmp(pg2, pg3, sizeof(float) * n) ? "DIFFERENT" : "bit-identical", S, lg2[S - 1], lg[S - 1]);
    CHECK(fabs(lg2[S - 1] - lg[S - 1]) < 0.05 * fabs(lg[S - 1]), "bf16 training strays from fp32");
    gpu->destroy(gpu);
}

int main(int argc, char **argv) {
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (argc > 1 && !strcmp(argv[1], "--perf")) {
        perf_iters = argc > 2 ? atoi(argv[2]) : 20;
        if (perf_iters < 1) perf_iters = 20;
    }
    if (daoe_cuda_device_count() == 0) {
        printf("test_cuda: no CUDA GPU: skipped\n");
        return SKIP_CODE;
    }
    if (!perf_iters) setenv("DAOE_CUDNN_SEARCH", "heuristic", 0);
    char err[512];
    cpu = daoe_cpu_backend_create(0, DAOE_CPU_CONV_IM2COL, DAOE_FP32, err, sizeof err);
    if (run_ops(perf_iters ? PERF : quick ? CHK : CHK | BIG)) return 1;
    if (!perf_iters) check_training(quick);
    cpu->destroy(cpu);
    if (perf_iters) return 0;
    return test_result(quick ? "test_cuda --quick" : "test_cuda");
}
#endif
