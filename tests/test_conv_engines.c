/* The CPU backend's two convolution engines against each other: oneDNN's
 * direct convolutions on NHWC (--cpu-conv dnnl) must compute what the
 * reference im2col + OpenBLAS engine on CNHW computes, to fp32 rounding.
 *  1. every convolution shape of the CIFAR ResNet-18 (width 8, and odd
 *     shapes), forward, data gradient (overwrite and accumulate) and filter
 *     gradient: max |dnnl - im2col| <= 1e-5 * max |im2col| (fp32 sums of up
 *     to 4,608 products in another order: measured up to 2.5e-6 on a Xeon
 *     with AVX-512, 2026-12-02; a wrong tap, pad or layout gives O(1));
 *  2. whole training steps (load_batch with augmentation, every op, SGD with
 *     momentum and DAO-E), width 8, batch 32, lr 0.1, the same images. The
 *     first step is compared tightly: its loss within 1e-5 relative, its
 *     update within 1e-3 of the update's size (measured 3.5e-6 SGD, 1.7e-4
 *     DAO-E: Lion's sign flips where a gradient is near 0). After that the
 *     two trajectories drift apart by rounding, amplified through batch norm
 *     at lr 0.1 (measured after 8 steps: parameters 7e-3 SGD, 1.9e-2 DAO-E;
 *     eval loss 5e-3, 6e-3), so 8 steps are held to drift bounds: loss
 *     within 1e-2 relative each step, parameters and running statistics
 *     within 5e-2 relative, eval loss within 2e-2;
 *  3. dnnl is deterministic: the same 8 steps twice give the same bits.
 * The same for dnnl-bf16 (--precision bf16) where the CPU has bf16 in
 * hardware, with the tolerances below. Skips (77) when the build has no oneDNN. */
#include "daoe/backend.h"
#include "daoe/config.h"
#include "daoe/session.h"
#include "daoe/util.h"
#include "testutil.h"

/* dnnl-bf16 (--precision bf16: bf16 operands, fp32 accumulation) against
 * im2col fp32, measured on the Xeon (AMX), 2026-12-02: ops 1.8e-3 to 3.7e-3
 * of max (8-bit mantissas); step 1 loss 2.6e-5; step 1 update 0.22 (SGD) and
 * 0.46 (DAO-E) of its size: batch norm's backward subtracts means that
 * nearly cancel, so the operands' rounding grows there, and Lion's sign
 * flips it further (a wrong tap or layout gives 1 or more); after 8 steps
 * loss 1.3e-2, parameters 4.4e-2, running statistics 4.3e-2, eval loss
 * 4.5e-2. The ops are the sharp check; the rest bounds the drift. */
#define BF16_OP_TOL 1e-2
#define BF16_LOSS1_TOL 1e-3
#define BF16_UPD1_TOL 0.7
#define BF16_LOSS_TOL 5e-2
#define BF16_P_TOL 0.15
#define BF16_EVAL_TOL 0.15

static daoe_backend *ref;

/* an engine under test and what it must hold to against im2col fp32 */
typedef struct {
    const char *name;
    daoe_backend *be;
    double op_tol;            /* ops: max |diff| / max |im2col| */
    double loss1_tol, upd1_tol; /* step 1: loss (relative), update (relative to its size) */
    double loss_tol, p_tol, eval_tol; /* the 8-step drift bounds */
} engine;

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}
static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* an activation of each backend from the same NCHW host tensor */
static void *act_both(daoe_backend *be, const float *h, int N, int C, int H) {
    void *a = be->alloc(be, be->act_bytes(be, (size_t)N * C * H * H));
    be->act_from_host(be, a, N, C, H, H, h);
    return a;
}

static void check_conv(const engine *en, int N, int cin, int cout, int k, int s, int H, uint64_t seed) {
    daoe_conv cv = {.cin = cin, .cout = cout, .k = k, .stride = s, .pad = k / 2, .h = H, .w = H};
    cv.ho = cv.wo = (H + 2 * cv.pad - k) / s + 1;
    const int Ho = cv.ho;
    size_t nx = (size_t)N * cin * H * H, ny = (size_t)N * cout * Ho * Ho, nw = (size_t)cout * cin * k * k;
    float *x = daoe_xmalloc(sizeof(float) * nx), *dy = daoe_xmalloc(sizeof(float) * ny),
          *w = daoe_xmalloc(sizeof(float) * nw), *base = daoe_xmalloc(sizeof(float) * nx);
    fill_normal(x, nx, seed, 1.0f);
    fill_normal(dy, ny, seed + 1, 1.0f);
    fill_normal(w, nw, seed + 2, 0.1f);
    fill_normal(base, nx, seed + 3, 1.0f);
    float *out[2][4]; /* [engine][y, dx, dx accumulated, dw] on the host */
    daoe_backend *bes[2] = {ref, en->be};
    for (int e = 0; e < 2; e++) {
        daoe_backend *be = bes[e];
        void *ax = act_both(be, x, N, cin, H), *ady = act_both(be, dy, N, cout, Ho);
        void *ay = be->alloc(be, be->act_bytes(be, ny)), *adx = be->alloc(be, be->act_bytes(be, nx));
        float *dw = be->alloc(be, sizeof(float) * nw);
        for (int q = 0; q < 4; q++) out[e][q] = daoe_xmalloc(sizeof(float) * (q == 0 ? ny : q == 3 ? nw : nx));
        be->conv_fwd(be, &cv, N, ax, w, ay);
        be->act_to_host(be, ay, N, cout, Ho, Ho, out[e][0]);
        be->conv_bwd_data(be, &cv, N, ady, w, adx, 0);
        be->act_to_host(be, adx, N, cin, H, H, out[e][1]);
        be->act_from_host(be, adx, N, cin, H, H, base);
        be->conv_bwd_data(be, &cv, N, ady, w, adx, 1);
        be->act_to_host(be, adx, N, cin, H, H, out[e][2]);
        be->conv_bwd_filter(be, &cv, N, ax, ady, dw);
        memcpy(out[e][3], dw, sizeof(float) * nw);
        be->free(be, ax); be->free(be, ady); be->free(be, ay); be->free(be, adx); be->free(be, dw);
    }
    const char *what[4] = {"forward", "data gradient", "data gradient, accumulated", "filter gradient"};
    size_t sz[4] = {ny, nx, nx, nw};
    for (int q = 0; q < 4; q++) {
        double rel = max_diff(out[1][q], out[0][q], sz[q]) / (max_abs(out[0][q], sz[q]) + 1e-30);
        CHECK(rel <= en->op_tol, "%s: conv %dx%d s%d %d->%d %dx%d N%d %s: max |diff| / max |im2col| = %.2e > %.0e",
              en->name, k, k, s, cin, cout, H, H, N, what[q], rel, en->op_tol);
        if (q == 0 || q == 3)
            printf("  %-9s conv %dx%d s%d %4d->%-4d %2dx%-2d N%-3d %-16s rel diff %.2e (tol %.0e)\n", en->name, k, k, s,
                   cin, cout, H, H, N, what[q], rel, en->op_tol);
    }
    for (int e = 0; e < 2; e++)
        for (int q = 0; q < 4; q++) free(out[e][q]);
    free(x); free(dy); free(w); free(base);
}

/* ------------------------------------------------------------------ training steps */
#define NIMG 256
#define STEPS 8
typedef struct {
    float loss[STEPS];
    float *p1, *p, *bufs; /* after step 1; after STEPS; running statistics */
    double eval_loss, eval_acc;
    size_t np, nb;
} run_out;

/* 8 steps of optimizer on be; *p0 (when p0) gets a copy of the initial weights */
static void train(daoe_backend *be, const char *optimizer, const uint8_t *img, const int32_t *lab, float **p0,
                  run_out *r) {
    char err[512];
    daoe_config cfg;
    daoe_config_defaults(&cfg);
    cfg.width = 8;
    cfg.batch = 32;
    cfg.seed = 3;
    if (daoe_config_set(&cfg, "optimizer", optimizer, err, sizeof err) ||
        daoe_config_validate(&cfg, 0, err, sizeof err))
        daoe_fatal("%s", err);
    daoe_session_opts so = {.be = be, .total_steps = 100};
    daoe_session *s = daoe_session_create(&cfg, &so, err, sizeof err);
    if (!s) daoe_fatal("%s", err);
    daoe_session_set_images(s, DAOE_SET_TRAIN, img, lab, NIMG);
    daoe_session_set_images(s, DAOE_SET_TEST, img, lab, NIMG);
    r->np = s->net.nparams;
    r->nb = s->net.nbufs;
    r->p1 = daoe_xmalloc(sizeof(float) * r->np);
    r->p = daoe_xmalloc(sizeof(float) * r->np);
    r->bufs = daoe_xmalloc(sizeof(float) * (r->nb ? r->nb : 1));
    if (p0) {
        *p0 = daoe_xmalloc(sizeof(float) * r->np);
        daoe_session_get_weights(s, *p0, r->bufs);
    }
    int32_t idx[32];
    for (int t = 0; t < STEPS; t++) {
        for (int i = 0; i < 32; i++) idx[i] = (t * 37 + i * 7) % NIMG;
        daoe_session_train_step(s, idx, t / 4);
        r->loss[t] = s->opt.stats[DAOE_ST_LOSS];
        if (t == 0) daoe_session_get_weights(s, r->p1, r->bufs);
    }
    daoe_session_get_weights(s, r->p, r->bufs);
    daoe_session_evaluate(s, DAOE_SET_TEST, 0, 128, &r->eval_loss, &r->eval_acc);
    daoe_session_free(s);
}

static void free_run(run_out *r) { free(r->p1); free(r->p); free(r->bufs); }

static double rel_norm_diff(const float *a, const float *b, const float *origin, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        double o = origin ? (double)b[i] - origin[i] : b[i];
        m += o * o;
    }
    return sqrt(d / (m + 1e-300));
}

/* the images, and the im2col reference runs (with their initial weights), made once for every engine */
static const char *const optimizers[] = {"sgd", "daoe"};
enum { NOPT = 2 };
static uint8_t img[NIMG * 3072];
static int32_t lab[NIMG];
static run_out refs[NOPT];
static float *ref_p0[NOPT];

static void make_images(void) {
    for (size_t i = 0; i < (size_t)NIMG * 3072; i++) img[i] = (uint8_t)(daoe_philox(11, (uint32_t)i, 0, 0, 1).v[0] >> 24);
    for (int i = 0; i < NIMG; i++) lab[i] = (int32_t)(daoe_philox(12, (uint32_t)i, 0, 0, 1).v[0] % 10);
}

static void check_training(const engine *en, int oi) {
    const char *optimizer = optimizers[oi];
    if (!ref_p0[oi]) train(ref, optimizer, img, lab, &ref_p0[oi], &refs[oi]); /* the init: the seed's, any engine */
    const run_out a = refs[oi];
    const float *p0 = ref_p0[oi];
    run_out b, c;
    train(en->be, optimizer, img, lab, NULL, &b);
    train(en->be, optimizer, img, lab, NULL, &c);
    double wl = 0, l1 = fabs((double)b.loss[0] - a.loss[0]) / fabs((double)a.loss[0]);
    CHECK(l1 <= en->loss1_tol, "%s %s step 1: loss %.8g vs im2col %.8g (rel %.2e > %.0e)", en->name, optimizer,
          b.loss[0], a.loss[0], l1, en->loss1_tol);
    for (int t = 0; t < STEPS; t++) {
        double rl = fabs((double)b.loss[t] - a.loss[t]) / fabs((double)a.loss[t]);
        wl = fmax(wl, rl);
        CHECK(rl <= en->loss_tol, "%s %s step %d: loss %.7g vs im2col %.7g (rel %.2e > %.0e)", en->name, optimizer,
              t + 1, b.loss[t], a.loss[t], rl, en->loss_tol);
    }
    double d1 = rel_norm_diff(b.p1, a.p1, p0, a.np), dp = rel_norm_diff(b.p, a.p, NULL, a.np),
           db = rel_norm_diff(b.bufs, a.bufs, NULL, a.nb),
           de = fabs(b.eval_loss - a.eval_loss) / fabs(a.eval_loss);
    printf("  %-9s %-5s step 1: loss rel diff %.2e (tol %.2g), update %.2e (tol %.2g); %d steps: loss %.2e (tol %.2g), "
           "params %.2e, running stats %.2e (tol %.2g), eval loss %.2e (tol %.2g)\n",
           en->name, optimizer, l1, en->loss1_tol, d1, en->upd1_tol, STEPS, wl, en->loss_tol, dp, db, en->p_tol, de,
           en->eval_tol);
    CHECK(d1 <= en->upd1_tol, "%s %s: first step's update differs by %.2e of its size (> %.0e)", en->name, optimizer,
          d1, en->upd1_tol);
    CHECK(dp <= en->p_tol, "%s %s: parameters after %d steps differ by %.2e relative (> %.0e)", en->name, optimizer,
          STEPS, dp, en->p_tol);
    CHECK(db <= en->p_tol, "%s %s: running statistics after %d steps differ by %.2e relative (> %.0e)", en->name,
          optimizer, STEPS, db, en->p_tol);
    CHECK(de <= en->eval_tol, "%s %s: eval loss %.7g vs im2col %.7g (rel %.2e > %.0e)", en->name, optimizer,
          b.eval_loss, a.eval_loss, de, en->eval_tol);
    CHECK(!memcmp(b.p, c.p, sizeof(float) * b.np) && !memcmp(b.bufs, c.bufs, sizeof(float) * b.nb) &&
              !memcmp(b.loss, c.loss, sizeof b.loss),
          "%s %s: different bits on the same steps twice", en->name, optimizer);
    free_run(&b); free_run(&c);
}

static void check_engine(const engine *en) {
    const int w = 8, N = 16;
    check_conv(en, N, 3, w, 3, 1, 32, 1);          /* stem */
    check_conv(en, N, w, w, 3, 1, 32, 2);          /* layer1 */
    check_conv(en, N, w, 2 * w, 3, 2, 32, 3);      /* layer2 downsampling, and its 1x1 shortcut */
    check_conv(en, N, w, 2 * w, 1, 2, 32, 4);
    check_conv(en, N, 2 * w, 2 * w, 3, 1, 16, 5);
    check_conv(en, N, 2 * w, 4 * w, 3, 2, 16, 6);
    check_conv(en, N, 4 * w, 4 * w, 3, 1, 8, 7);
    check_conv(en, N, 4 * w, 8 * w, 1, 2, 8, 8);
    check_conv(en, N, 8 * w, 8 * w, 3, 1, 4, 9);
    check_conv(en, 4, 512, 512, 3, 1, 4, 10);      /* width 64's last layer: K = 4,608 */
    check_conv(en, 3, 5, 7, 3, 1, 6, 11);          /* odd channel counts and batch */
    check_conv(en, 2, 6, 10, 3, 2, 7, 12);         /* odd input size, stride 2 */
    for (int oi = 0; oi < NOPT; oi++) check_training(en, oi);
}

int main(void) {
    char err[256];
    engine dn = {"dnnl", NULL, 1e-5, 1e-5, 1e-3, 1e-2, 5e-2, 2e-2};
    engine bf = {"dnnl-bf16", NULL, BF16_OP_TOL, BF16_LOSS1_TOL, BF16_UPD1_TOL, BF16_LOSS_TOL, BF16_P_TOL, BF16_EVAL_TOL};
    dn.be = daoe_cpu_backend_create(&(daoe_backend_options){.threads = 2, .cpu_conv = DAOE_CPU_CONV_DNNL},
                                    err, sizeof err);
    if (!dn.be) {
        printf("test_conv_engines: skipped: %s\n", err);
        return SKIP_CODE;
    }
    ref = daoe_cpu_backend_create(&(daoe_backend_options){.threads = 2, .cpu_conv = DAOE_CPU_CONV_IM2COL},
                                  err, sizeof err);
    make_images();
    printf("convolution engines against im2col fp32: dnnl (%s)\n", dn.be->desc);
    check_engine(&dn);
    const daoe_backend_options bfo = {.prec = DAOE_BF16, .threads = 2, .cpu_conv = DAOE_CPU_CONV_DNNL};
    bf.be = daoe_cpu_backend_create(&bfo, err, sizeof err);
    if (bf.be) {
        printf("and dnnl-bf16 (%s)\n", bf.be->desc);
        check_engine(&bf);
        bf.be->destroy(bf.be);
    } else {
        printf("dnnl-bf16 not checked: %s\n", err);
    }
    for (int oi = 0; oi < NOPT; oi++) {
        if (ref_p0[oi]) free_run(&refs[oi]);
        free(ref_p0[oi]);
    }
    ref->destroy(ref);
    dn.be->destroy(dn.be);
    return test_result("test_conv_engines");
}
