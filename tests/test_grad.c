/* Finite-difference checks of every CPU backward op and of the whole
 * ResNet-18 at width 4. Each check samples coordinates (all of them for
 * small tensors), compares the central difference of a scalar loss
 * L = sum(y * r) (r fixed random) with the analytic gradient, and fails when
 *   |fd - an| > tol * (|an| + 0.1 * rms(an)).
 * Linear ops (conv, linear, pool) use a step of 1, where the central
 * difference is exact up to rounding; nonlinear ops use small steps and skip
 * coordinates within reach of a ReLU kink. */
#include "daoe/backend.h"
#include "daoe/net.h"
#include "daoe/util.h"
#include "testutil.h"

static daoe_backend *be;

typedef double (*loss_fn)(void *ctx);

static double dot_host(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Perturb p[j] (sampled), compare with an[j]. skip(j) may veto a coordinate. */
static double fd_check(const char *what, float *p, const float *an, size_t n, loss_fn f, void *ctx, double h,
                       double tol, size_t nsample, int (*skip)(void *, size_t), uint64_t seed) {
    double rms = 0.0;
    for (size_t j = 0; j < n; j++) rms += (double)an[j] * an[j];
    rms = sqrt(rms / (double)(n ? n : 1));
    double worst = 0.0;
    size_t count = nsample < n ? nsample : n, checked = 0;
    for (size_t q = 0; q < count; q++) {
        size_t j = count == n ? q : (size_t)(daoe_philox(seed, (uint32_t)q, 0, 0, 5).v[0] % n);
        if (skip && skip(ctx, j)) continue;
        float keep = p[j];
        p[j] = keep + (float)h;
        double lp = f(ctx);
        p[j] = keep - (float)h;
        double lm = f(ctx);
        p[j] = keep;
        double hp = (double)(keep + (float)h) - (double)keep, hm = (double)keep - (double)(keep - (float)h);
        double fd = (lp - lm) / (hp + hm);
        double err = fabs(fd - an[j]) / (fabs(an[j]) + 0.1 * rms + 1e-30);
        if (err > worst) worst = err;
        CHECK(err <= tol, "%s: coordinate %zu: finite difference %.6g vs analytic %.6g (err %.2e > %.0e)", what, j,
              fd, an[j], err, tol);
        checked++;
    }
    printf("  %-34s %5zu coords  max err %.2e  (tol %.0e)\n", what, checked, worst, tol);
    return worst;
}

/* ------------------------------------------------------------------ conv */
typedef struct {
    daoe_conv cv;
    int N;
    float *x, *w, *y, *r, *yh;
} conv_ctx;

static double conv_loss(void *p) {
    conv_ctx *c = p;
    be->conv_fwd(be, &c->cv, c->N, c->x, c->w, c->y);
    size_t ny = (size_t)c->N * c->cv.cout * c->cv.ho * c->cv.wo;
    be->act_to_host(be, c->y, c->N, c->cv.cout, c->cv.ho, c->cv.wo, c->yh);
    return dot_host(c->yh, c->r, ny);
}

static void check_conv(int N, int cin, int cout, int k, int s, int h, uint64_t seed) {
    conv_ctx c;
    memset(&c, 0, sizeof c);
    c.cv = (daoe_conv){.cin = cin, .cout = cout, .k = k, .stride = s, .pad = k / 2, .h = h, .w = h};
    c.cv.ho = c.cv.wo = (h + 2 * c.cv.pad - k) / s + 1;
    c.N = N;
    size_t nx = (size_t)N * cin * h * h, ny = (size_t)N * cout * c.cv.ho * c.cv.wo, nw = (size_t)cout * cin * k * k;
    float *xh = daoe_xmalloc(sizeof(float) * nx);
    c.x = be->alloc(be, sizeof(float) * nx);
    c.y = be->alloc(be, sizeof(float) * ny);
    c.w = daoe_xmalloc(sizeof(float) * nw);
    c.r = daoe_xmalloc(sizeof(float) * ny);
    c.yh = daoe_xmalloc(sizeof(float) * ny);
    fill_uniform(xh, nx, seed, 1.0f);
    be->act_from_host(be, c.x, N, cin, h, h, xh);
    fill_uniform(c.w, nw, seed + 1, 0.5f);
    fill_uniform(c.r, ny, seed + 2, 1.0f);
    float *dy = be->alloc(be, sizeof(float) * ny), *dx = be->alloc(be, sizeof(float) * nx);
    float *dw = daoe_xmalloc(sizeof(float) * nw);
    be->act_from_host(be, dy, N, cout, c.cv.ho, c.cv.wo, c.r);
    be->conv_bwd_data(be, &c.cv, N, dy, c.w, dx, 0);
    be->conv_bwd_filter(be, &c.cv, N, c.x, dy, dw);
    char name[96];
    snprintf(name, sizeof name, "conv %dx%d s%d %d->%d %dx%d dx", k, k, s, cin, cout, h, h);
    fd_check(name, c.x, dx, nx, conv_loss, &c, 1.0, 1e-3, 300, NULL, seed + 3);
    snprintf(name, sizeof name, "conv %dx%d s%d %d->%d %dx%d dw", k, k, s, cin, cout, h, h);
    fd_check(name, c.w, dw, nw, conv_loss, &c, 1.0, 1e-3, 300, NULL, seed + 4);
    /* accumulate flag adds to what is there */
    float *dx2 = be->alloc(be, sizeof(float) * nx);
    memcpy(dx2, dx, sizeof(float) * nx);
    be->conv_bwd_data(be, &c.cv, N, dy, c.w, dx2, 1);
    double e = 0.0;
    for (size_t i = 0; i < nx; i++) e = fmax(e, fabs(dx2[i] - 2.0f * dx[i]) / (fabs(dx[i]) + 1e-6));
    CHECK(e < 1e-5, "conv_bwd_data accumulate: max rel err %.2e", e);
    be->free(be, dx2);
    be->free(be, c.x); be->free(be, c.y); be->free(be, dy); be->free(be, dx);
    free(xh); free(c.w); free(c.r); free(c.yh); free(dw);
}

/* ------------------------------------------------------------------ batch norm */
typedef struct {
    int N, C, HW, relu, use_res;
    float *x, *res, *y, *gamma, *beta, *rm, *rv, *sm, *si, *r, *yh;
} bn_ctx;

static double bn_loss(void *p) {
    bn_ctx *c = p;
    be->bn_fwd(be, c->N, c->C, c->HW, c->x, c->use_res ? c->res : NULL, c->y, c->gamma, c->beta, c->rm, c->rv, c->sm,
               c->si, 1, c->relu, 0.1f, 1e-5f);
    size_t n = (size_t)c->N * c->C * c->HW;
    return dot_host(c->y, c->r, n);
}

static bn_ctx *g_bn;
static int bn_skip_x(void *p, size_t j) {
    bn_ctx *c = p;
    return c->relu && fabsf(c->y[j]) < 0.5f; /* y and x share the layout on the CPU */
}

static void check_bn(int N, int C, int HW, int relu, int use_res, uint64_t seed) {
    bn_ctx c;
    memset(&c, 0, sizeof c);
    c.N = N; c.C = C; c.HW = HW; c.relu = relu; c.use_res = use_res;
    size_t n = (size_t)N * C * HW;
    c.x = be->alloc(be, sizeof(float) * n);
    c.res = be->alloc(be, sizeof(float) * n);
    c.y = be->alloc(be, sizeof(float) * n);
    c.r = daoe_xmalloc(sizeof(float) * n);
    c.gamma = daoe_xmalloc(sizeof(float) * C); c.beta = daoe_xmalloc(sizeof(float) * C);
    c.rm = daoe_xcalloc(C, sizeof(float)); c.rv = daoe_xcalloc(C, sizeof(float));
    c.sm = daoe_xmalloc(sizeof(float) * C); c.si = daoe_xmalloc(sizeof(float) * C);
    fill_normal(c.x, n, seed, 2.0f);
    for (size_t i = 0; i < n; i++) c.x[i] += 0.5f; /* nonzero mean */
    fill_normal(c.res, n, seed + 1, 1.0f);
    fill_uniform(c.r, n, seed + 2, 1.0f);
    fill_uniform(c.gamma, C, seed + 3, 1.0f);
    fill_uniform(c.beta, C, seed + 4, 1.0f);
    bn_loss(&c);
    float *dy = be->alloc(be, sizeof(float) * n), *dx = be->alloc(be, sizeof(float) * n),
          *dres = be->alloc(be, sizeof(float) * n);
    float *dg = daoe_xmalloc(sizeof(float) * C), *db = daoe_xmalloc(sizeof(float) * C);
    memcpy(dy, c.r, sizeof(float) * n);
    be->bn_bwd(be, N, C, HW, dy, c.y, c.x, c.gamma, c.sm, c.si, dx, use_res ? dres : NULL, dg, db, relu);
    char name[96];
    const char *kind = relu ? (use_res ? "bn+res+relu" : "bn+relu") : (use_res ? "bn+res" : "bn");
    g_bn = &c;
    snprintf(name, sizeof name, "%s N%d C%d HW%d dx", kind, N, C, HW);
    fd_check(name, c.x, dx, n, bn_loss, &c, 1e-1, 5e-3, 300, bn_skip_x, seed + 5);
    if (use_res) {
        snprintf(name, sizeof name, "%s N%d C%d HW%d dres", kind, N, C, HW);
        fd_check(name, c.res, dres, n, bn_loss, &c, 1e-2, 5e-3, 300, bn_skip_x, seed + 6);
    }
    snprintf(name, sizeof name, "%s N%d C%d HW%d dgamma", kind, N, C, HW);
    fd_check(name, c.gamma, dg, C, bn_loss, &c, 1e-3, 5e-3, 300, NULL, seed + 7);
    snprintf(name, sizeof name, "%s N%d C%d HW%d dbeta", kind, N, C, HW);
    fd_check(name, c.beta, db, C, bn_loss, &c, 1e-3, 5e-3, 300, NULL, seed + 8);
    /* running statistics: momentum 0.1, unbiased variance */
    for (int ch = 0; ch < C; ch++) c.rm[ch] = 0.0f, c.rv[ch] = 1.0f;
    bn_loss(&c);
    double worst = 0.0;
    float *xh = daoe_xmalloc(sizeof(float) * n); /* x in NCHW, whatever the backend's layout */
    be->act_to_host(be, c.x, N, C, HW, 1, xh);
    for (int ch = 0; ch < C; ch++) {
        double m = 0, v = 0;
        size_t M = (size_t)N * HW;
        for (int i = 0; i < N; i++)
            for (int p = 0; p < HW; p++) m += xh[((size_t)i * C + ch) * HW + p];
        m /= M;
        for (int i = 0; i < N; i++)
            for (int p = 0; p < HW; p++) {
                double d = xh[((size_t)i * C + ch) * HW + p] - m;
                v += d * d;
            }
        double em = 0.1 * m, ev = 0.9 + 0.1 * v / (M - 1);
        worst = fmax(worst, fabs(c.rm[ch] - em) / (fabs(em) + 1e-3));
        worst = fmax(worst, fabs(c.rv[ch] - ev) / ev);
        worst = fmax(worst, fabs(c.sm[ch] - m) / (fabs(m) + 1e-3));
        worst = fmax(worst, fabs(c.si[ch] - 1.0 / sqrt(v / M + 1e-5)) * sqrt(v / M));
    }
    free(xh);
    CHECK(worst < 1e-5, "%s running/saved statistics: max rel err %.2e", kind, worst);
    be->free(be, c.x); be->free(be, c.res); be->free(be, c.y);
    be->free(be, dy); be->free(be, dx); be->free(be, dres);
    free(c.r); free(c.gamma); free(c.beta); free(c.rm); free(c.rv); free(c.sm); free(c.si); free(dg); free(db);
}

/* ------------------------------------------------------------------ head */
typedef struct {
    int N, C, HW, K;
    float *x, *pool, *W, *b, *logits, *dlogits, *stats;
    int32_t *y;
} head_ctx;

/* mean cross-entropy of float logits, in double (less rounding noise in the differences) */
static double xent_double(const float *logits, const int32_t *y, int N, int K) {
    double loss = 0.0;
    for (int n = 0; n < N; n++) {
        const float *l = logits + (size_t)n * K;
        double mx = l[0], s = 0.0;
        for (int k = 1; k < K; k++) mx = l[k] > mx ? l[k] : mx;
        for (int k = 0; k < K; k++) s += exp(l[k] - mx);
        loss += mx + log(s) - l[y[n]];
    }
    return loss / N;
}

static double head_loss(void *p) {
    head_ctx *c = p;
    be->avgpool_fwd(be, c->N, c->C, c->HW, c->x, c->pool);
    be->linear_fwd(be, c->N, c->C, c->K, c->pool, c->W, c->b, c->logits);
    return xent_double(c->logits, c->y, c->N, c->K);
}

static void check_head(uint64_t seed) {
    head_ctx c;
    c.N = 6; c.C = 12; c.HW = 16; c.K = 10;
    size_t nx = (size_t)c.N * c.C * c.HW;
    c.x = be->alloc(be, sizeof(float) * nx);
    c.pool = daoe_xmalloc(sizeof(float) * c.N * c.C);
    c.W = daoe_xmalloc(sizeof(float) * c.K * c.C);
    c.b = daoe_xmalloc(sizeof(float) * c.K);
    c.logits = daoe_xmalloc(sizeof(float) * c.N * c.K);
    c.dlogits = daoe_xmalloc(sizeof(float) * c.N * c.K);
    c.stats = daoe_xcalloc(DAOE_NSTAT, sizeof(float));
    c.y = daoe_xmalloc(sizeof(int32_t) * c.N);
    fill_uniform(c.x, nx, seed, 2.0f);
    fill_uniform(c.W, (size_t)c.K * c.C, seed + 1, 1.0f);
    fill_uniform(c.b, c.K, seed + 2, 1.0f);
    for (int i = 0; i < c.N; i++) c.y[i] = (i * 7) % c.K;
    head_loss(&c);
    be->xent(be, c.N, c.K, c.logits, c.y, c.dlogits, c.stats);
    float *dpool = daoe_xmalloc(sizeof(float) * c.N * c.C), *dW = daoe_xmalloc(sizeof(float) * c.K * c.C);
    float *db = daoe_xmalloc(sizeof(float) * c.K), *dx = be->alloc(be, sizeof(float) * nx);
    be->linear_bwd(be, c.N, c.C, c.K, c.pool, c.W, c.dlogits, dpool, dW, db);
    be->avgpool_bwd(be, c.N, c.C, c.HW, dpool, dx);
    fd_check("pool+linear+xent dx", c.x, dx, nx, head_loss, &c, 1e-1, 2e-3, 300, NULL, seed + 3);
    fd_check("linear dW", c.W, dW, (size_t)c.K * c.C, head_loss, &c, 1e-2, 2e-3, 300, NULL, seed + 4);
    fd_check("linear db", c.b, db, c.K, head_loss, &c, 1e-2, 2e-3, 300, NULL, seed + 5);
    /* xent statistics against a direct computation */
    head_loss(&c);
    be->xent(be, c.N, c.K, c.logits, c.y, NULL, c.stats);
    double loss = 0, ent = 0;
    int correct = 0;
    for (int n = 0; n < c.N; n++) {
        const float *l = c.logits + n * c.K;
        double mx = l[0], s = 0;
        int am = 0;
        for (int k = 1; k < c.K; k++) if (l[k] > mx) mx = l[k], am = k;
        for (int k = 0; k < c.K; k++) s += exp(l[k] - mx);
        loss += mx + log(s) - l[c.y[n]];
        for (int k = 0; k < c.K; k++) {
            double pk = exp(l[k] - mx) / s;
            ent -= pk * log(pk);
        }
        correct += am == c.y[n];
    }
    CHECK(fabs(c.stats[DAOE_ST_LOSS] - loss / c.N) < 1e-5, "xent loss %.7f vs %.7f", c.stats[DAOE_ST_LOSS], loss / c.N);
    CHECK(c.stats[DAOE_ST_CORRECT] == correct, "xent correct %g vs %d", c.stats[DAOE_ST_CORRECT], correct);
    CHECK(fabs(c.stats[DAOE_ST_ENTROPY] - ent / c.N / log(10.0)) < 1e-5, "xent entropy %.7f vs %.7f",
          c.stats[DAOE_ST_ENTROPY], ent / c.N / log(10.0));
    be->free(be, c.x); be->free(be, dx);
    free(c.pool); free(c.W); free(c.b); free(c.logits); free(c.dlogits); free(c.stats); free(c.y);
    free(dpool); free(dW); free(db);
}

/* ------------------------------------------------------------------ whole network */
typedef struct {
    daoe_net *net;
    int N;
    float *stats;
} net_ctx;

static double net_loss(void *p) {
    net_ctx *c = p;
    daoe_net_forward(c->net, c->N, 1);
    return xent_double(c->net->logits, c->net->y, c->N, 10);
}

static void check_net(uint64_t seed) {
    daoe_net net;
    daoe_net_layout(&net, 4);
    const int N = 6;
    daoe_net_alloc(&net, be, N);
    daoe_net_init_host(&net, seed, net.params, net.bufs);
    /* BN affine parameters away from 1/0 so their gradients are generic, and the BN
     * shifts positive (beta ~ 1) so that fewer ReLU inputs sit near the kink: a
     * finite difference across a kink measures the kink, not the gradient. About
     * 16 % of the ReLUs stay inactive, so the masked path is exercised. */
    for (int t = 0; t < net.ntensors; t++) {
        daoe_tensor_info *ti = &net.tensors[t];
        if (ti->kind == DAOE_T_PARAM && ti->ndim == 1 && (strstr(ti->name, "bn") || strstr(ti->name, "shortcut.1"))) {
            float tmp[512];
            fill_uniform(tmp, ti->numel, seed + 100 + t, 0.3f);
            int is_bias = strstr(ti->name, ".bias") != NULL;
            for (size_t e = 0; e < ti->numel; e++) net.params[ti->off + e] = 1.0f + tmp[e];
            (void)is_bias;
        }
    }
    float *xh = daoe_xmalloc(sizeof(float) * N * 3072);
    fill_normal(xh, (size_t)N * 3072, seed + 1, 1.0f);
    be->act_from_host(be, net.x, N, 3, 32, 32, xh);
    for (int i = 0; i < N; i++) net.y[i] = (i * 3) % DAOE_NET_CLASSES;
    net_ctx c = {&net, N, daoe_xcalloc(DAOE_NSTAT, sizeof(float))};
    net_loss(&c);
    be->xent(be, N, net.nclass, net.logits, net.y, net.dlogits, c.stats);
    daoe_net_backward(&net, N);
    /* Directional derivatives per tensor along v = g/|g| + u (u a random unit
     * vector): D_an = g.v against (L(p+hv) - L(p-hv))/2h, the step a small
     * fraction of the tensor's scale, the loss summed in double. The error is
     * measured relative to |g||v|; the g-part gives a large signal, the random
     * part catches errors orthogonal to g. */
    double worst = 0.0;
    int nchecked = 0;
    for (int t = 0; t < net.ntensors; t++) {
        daoe_tensor_info *ti = &net.tensors[t];
        if (ti->kind != DAOE_T_PARAM) continue;
        float *p = net.params + ti->off, *g = net.grads + ti->off;
        float *v = daoe_xmalloc(sizeof(float) * ti->numel), *keep = daoe_xmalloc(sizeof(float) * ti->numel);
        fill_normal(v, ti->numel, seed + 1000 + t, 1.0f);
        double gn = 0.0, un = 0.0, pn = 0.0;
        for (size_t e = 0; e < ti->numel; e++) gn += (double)g[e] * g[e], un += (double)v[e] * v[e], pn += (double)p[e] * p[e];
        gn = sqrt(gn);
        un = sqrt(un);
        double gv = 0.0, vn = 0.0;
        for (size_t e = 0; e < ti->numel; e++) {
            v[e] = (float)(g[e] / gn + v[e] / un);
            gv += (double)g[e] * v[e];
            vn += (double)v[e] * v[e];
        }
        vn = sqrt(vn);
        /* three step sizes: a kink crossing biases large steps, rounding small ones;
         * a wrong gradient is off at all three, so the best of them is tested */
        double h0 = 3e-3 * sqrt(pn / (double)ti->numel) / (vn / sqrt((double)ti->numel)), fd = 0.0, best = 1e300;
        memcpy(keep, p, sizeof(float) * ti->numel);
        for (int k = 0; k < 3; k++) {
            double h = h0 / pow(3.0, k);
            for (size_t e = 0; e < ti->numel; e++) p[e] = keep[e] + (float)(h * v[e]);
            double lp = net_loss(&c);
            for (size_t e = 0; e < ti->numel; e++) p[e] = keep[e] - (float)(h * v[e]);
            double lm = net_loss(&c);
            double f = (lp - lm) / (2 * h);
            if (fabs(f - gv) < best) best = fabs(f - gv), fd = f;
        }
        memcpy(p, keep, sizeof(float) * ti->numel);
        double err = fabs(fd - gv) / (gn * vn + 1e-12);
        worst = fmax(worst, err);
        CHECK(err < 2e-2, "net width 4: %s: directional FD %.6g vs g.v %.6g (err %.2e, |g||v| %.3g)", ti->name, fd, gv, err,
              gn * vn);
        nchecked++;
        free(v); free(keep);
    }
    printf("  %-34s %5d tensors max err %.2e  (tol 2e-02, relative to |g||v|)\n", "ResNet-18 width 4, N 6", nchecked, worst);
    free(xh); free(c.stats);
    daoe_net_free(&net);
}

int main(void) {
    char err[256];
    /* every convolution engine of this build, each with its activation layout */
    const daoe_cpu_conv engines[] = {DAOE_CPU_CONV_IM2COL, DAOE_CPU_CONV_DNNL};
    const char *names[] = {"im2col, CNHW", "dnnl, NHWC"};
    for (int e = 0; e < 2; e++) {
    be = daoe_cpu_backend_create(&(daoe_backend_options){.threads = 2, .cpu_conv = engines[e]}, err, sizeof err);
    if (!be) {
        printf("(%s: not in this build: %s)\n", names[e], err);
        continue;
    }
    printf("finite-difference checks (cpu backend, convolutions %s)\n", names[e]);
    check_conv(2, 3, 4, 3, 1, 8, 11);     /* stem-like */
    check_conv(2, 4, 6, 3, 2, 8, 21);     /* downsampling 3x3 */
    check_conv(2, 4, 6, 1, 2, 8, 31);     /* 1x1 shortcut */
    check_conv(3, 5, 7, 3, 1, 6, 41);
    check_conv(2, 64, 8, 3, 1, 32, 51);   /* rows split across work units */
    check_conv(40, 16, 8, 3, 1, 4, 61);   /* several images per work unit */
    check_bn(3, 4, 25, 0, 0, 71);
    check_bn(3, 4, 25, 1, 0, 81);
    check_bn(3, 4, 25, 0, 1, 91);
    check_bn(3, 4, 25, 1, 1, 101);
    check_bn(2, 3, 1500, 0, 1, 111);      /* several float chunks per channel */
    check_head(121);
    check_net(131);
    be->destroy(be);
    }
    return test_result("test_grad");
}
