/* The controller's update rule (daoe_ctrl_update in ensemble.h) on synthetic
 * reductions and batch statistics, without a network:
 *   (a) the meta-gradient it accumulates equals central finite differences of
 *       the surrogate L(theta) = sum_i softmax(z(theta; f)/tau)_i h_i, for the
 *       linear controller and for the hidden layer (every W1, b1, V, b entry),
 *       one pass (f one step behind) and two passes (f of the step it judges);
 *   (b) --meta-every k takes one step along the MEAN of the k meta-gradients;
 *   (c) a hypergradient that is Inf or NaN leaves the controller untouched;
 *   (d) loss_delta is defined (0) at step 1 and counted by the running statistics;
 *   (e) --alpha-ema e scales the meta-gradient by (1 - e);
 *   (f) with a hidden layer alpha still starts at alpha0 (zero output layer);
 *   (g) one pass with a hidden layer and a meta step every step: the step taken
 *       is the gradient of the lagged surrogate at the weights that PRODUCED
 *       the alpha being judged (W1, b1 and the output layer V of two steps
 *       earlier), although V has taken a meta step since;
 *   (h) a member whose step is zero (|d_i| = 0: a rate of 0) has h_i = 0, the
 *       step counts in the mean, nothing becomes NaN. */
#include "daoe/ensemble.h"
#include "testutil.h"
#include <float.h>

#define NSTEP 6

static daoe_ctrl_cfg make_cfg(int hidden, int meta_every, float ema) {
    daoe_ctrl_cfg c;
    memset(&c, 0, sizeof c);
    c.rule = DAOE_CTRL_HYPERGRAD;
    c.members = 0xF;
    c.features = (1u << DAOE_NFEAT) - 1;
    c.meta_every = meta_every;
    c.total_steps = 100;
    c.nparams = 1000.0;
    c.tau = 0.7f;
    c.meta_step = 0.05f;
    c.alpha_ema = ema;
    c.hidden = hidden;
    for (int i = 0; i < DAOE_K; i++) c.alpha0[i] = 0.25f;
    return c;
}

/* reductions and statistics of synthetic step t (1-based): smooth, all features defined */
static void synth(int t, double *red, float *st) {
    memset(red, 0, sizeof(double) * DAOE_NRED);
    memset(st, 0, sizeof(float) * DAOE_NSTAT);
    red[DAOE_RED_GG] = 4.0 + sin(0.7 * t);
    red[DAOE_RED_GV] = 2.0 + cos(1.3 * t);
    for (int i = 0; i < DAOE_K; i++) {
        red[DAOE_RED_DOT + i] = sin(0.9 * t + i) * (1.0 + 0.3 * i);
        red[DAOE_RED_DN + i] = 1.0 + 0.5 * i + 0.2 * cos(t + i);
    }
    st[DAOE_ST_LOSS] = (float)(2.3 - 0.1 * t + 0.05 * sin(3.0 * t));
    st[DAOE_ST_CORRECT] = (float)(10 + t);
    st[DAOE_ST_ENTROPY] = (float)(0.9 - 0.02 * t);
    st[DAOE_ST_XMEAN] = (float)(0.01 * sin(2.0 * t));
    st[DAOE_ST_XVAR] = (float)(1.0 + 0.1 * cos(2.5 * t));
    st[DAOE_ST_N] = 128.0f;
}

/* a controller with non-zero weights everywhere, so every gradient path is exercised */
static void randomise(const daoe_ctrl_cfg *c, daoe_ctrl_state *s, uint64_t seed) {
    float r[DAOE_K * (DAOE_NFEAT + DAOE_CTRL_MAXH + 1) + DAOE_CTRL_MAXH * (DAOE_NFEAT + 1)];
    fill_uniform(r, sizeof r / sizeof r[0], seed, 0.6f);
    int k = 0;
    for (int i = 0; i < DAOE_K; i++) {
        s->b[i] = r[k++];
        for (int f = 0; f < DAOE_NFEAT; f++) s->W[i][f] = c->hidden ? 0.0 : r[k++];
        for (int j = 0; j < c->hidden; j++) s->V[i][j] = r[k++];
    }
    for (int j = 0; j < c->hidden; j++) {
        s->b1[j] = r[k++];
        for (int f = 0; f < DAOE_NFEAT; f++) s->W1[j][f] = r[k++];
    }
    /* alpha consistent with the weights and zero features, as after daoe_opt_setup */
    double z[DAOE_K];
    float f0[DAOE_NFEAT] = {0};
    daoe_ctrl_logits(c, s, f0, z, s->a_cur);
    daoe_softmax(c, z, s->soft_cur);
    for (int i = 0; i < DAOE_K; i++) s->alpha[i] = s->soft_cur[i];
}

/* steps t = s->t + 1 .. : one pass, or (c->two_pass) the halves around an update pass */
static void step(const daoe_ctrl_cfg *c, daoe_ctrl_state *s, daoe_trace *rows) {
    double red[DAOE_NRED];
    float st[DAOE_NSTAT];
    int t = s->t + 1;
    synth(t, red, st);
    if (c->two_pass) {
        daoe_ctrl_pre(c, s, red, st, 0, &rows[t - 1]);
        daoe_ctrl_post(c, s, red, &rows[t - 1]);
    } else {
        daoe_ctrl_update(c, s, red, st, 0, &rows[t - 1]);
    }
}

static void run(const daoe_ctrl_cfg *c, daoe_ctrl_state *s, int steps, daoe_trace *rows) {
    for (int k = 0; k < steps; k++) step(c, s, rows);
}

/* the surrogate of (a) at the weights in s, with features f and signal h */
static double surrogate(const daoe_ctrl_cfg *c, const daoe_ctrl_state *s, const float *f, const float *h) {
    /* in double throughout (daoe_softmax rounds to float: too coarse for differences) */
    double z[DAOE_K], L = 0.0, mx = -1e300, sum = 0.0;
    daoe_ctrl_logits(c, s, f, z, NULL);
    for (int i = 0; i < DAOE_K; i++)
        if ((c->members >> i) & 1u) mx = fmax(mx, z[i]);
    for (int i = 0; i < DAOE_K; i++)
        if ((c->members >> i) & 1u) sum += exp((z[i] - mx) / c->tau);
    for (int i = 0; i < DAOE_K; i++)
        if ((c->members >> i) & 1u) L += exp((z[i] - mx) / c->tau) / sum * (double)h[i];
    return L;
}

/* the k-th weight of the controller (b, then W or V, b1, W1) and its
 * accumulated meta-gradient; NULL past the last */
static double *weight(daoe_ctrl_state *s, int hidden, int k, double **acc) {
    if (k < DAOE_K) { *acc = &s->gb[k]; return &s->b[k]; }
    k -= DAOE_K;
    if (!hidden) {
        if (k >= DAOE_K * DAOE_NFEAT) return NULL;
        *acc = &s->gW[k / DAOE_NFEAT][k % DAOE_NFEAT];
        return &s->W[k / DAOE_NFEAT][k % DAOE_NFEAT];
    }
    if (k < DAOE_K * hidden) { *acc = &s->gV[k / hidden][k % hidden]; return &s->V[k / hidden][k % hidden]; }
    k -= DAOE_K * hidden;
    if (k < hidden) { *acc = &s->gb1[k]; return &s->b1[k]; }
    k -= hidden;
    if (k >= hidden * DAOE_NFEAT) return NULL;
    *acc = &s->gW1[k / DAOE_NFEAT][k % DAOE_NFEAT];
    return &s->W1[k / DAOE_NFEAT][k % DAOE_NFEAT];
}

/* (a): accumulate (meta_every large, so the weights stay put) and compare the
 * increment of step t with finite differences of the surrogate */
static void test_fd(int hidden, int two_pass) {
    daoe_ctrl_cfg c = make_cfg(hidden, 1000000, 0.0f);
    c.two_pass = two_pass;
    daoe_ctrl_state s, before;
    daoe_trace rows[NSTEP];
    daoe_ctrl_init(&c, &s);
    randomise(&c, &s, 11 + hidden);
    run(&c, &s, NSTEP - 1, rows);
    before = s;
    step(&c, &s, rows);
    /* the alpha judged at step NSTEP was produced from the features of step NSTEP-2
     * (one pass: one step behind) or NSTEP-1 (two passes: no lag) */
    const float *f = rows[NSTEP - (two_pass ? 2 : 3)].fstd, *h = rows[NSTEP - 1].h;
    double worst = 0.0;
    int n = 0;
    double *acc, *acc0;
    for (int k = 0; weight(&s, hidden, k, &acc); k++, n++) {
        daoe_ctrl_state p = before, m = before;
        const double eps = 1e-5;
        *weight(&p, hidden, k, &acc0) += eps;
        *weight(&m, hidden, k, &acc0) -= eps;
        weight(&before, hidden, k, &acc0);
        double got = *acc - *acc0;
        double fd = (surrogate(&c, &p, f, h) - surrogate(&c, &m, f, h)) / (2 * eps);
        double e = fabs(got - fd) / (fabs(fd) + 1e-4);
        if (e > worst) worst = e;
        CHECK(e <= 1e-5, "%s: weight %d: accumulated %.9g, finite difference %.9g", hidden ? "hidden" : "linear", k,
              got, fd);
    }
    printf("  (a) %s controller (H = %d, %s): %d weights, meta-gradient vs finite differences: worst rel err %.2e (tol 1e-5)\n",
           hidden ? "hidden-layer" : "linear", hidden, two_pass ? "two passes" : "one pass", n, worst);
    CHECK(n > 0, "no weight compared");
}

/* (b): meta-every 3 moves b by -meta_step * mean of the three increments */
static void test_meta_every(int hidden) {
    daoe_ctrl_cfg acc = make_cfg(hidden, 1000000, 0.0f), k3 = make_cfg(hidden, 3, 0.0f);
    daoe_ctrl_state a, b;
    daoe_trace rows[NSTEP];
    daoe_ctrl_init(&acc, &a);
    randomise(&acc, &a, 5);
    b = a;
    /* steps 1 (no hypergradient), 2, 3, 4: the meta step falls after the third
     * hypergradient (steps 2..4) */
    run(&acc, &a, 4, rows);
    run(&k3, &b, 4, rows);
    double worst = 0.0;
    for (int i = 0; i < DAOE_K; i++) {
        double want = a.b[i] - k3.meta_step * a.gb[i] / 3.0;
        double e = fabs(b.b[i] - want);
        if (e > worst) worst = e;
        CHECK(e <= 1e-12, "meta-every 3: b_%d = %.12g, mean step gives %.12g", i, b.b[i], want);
        CHECK(b.gb[i] == 0.0, "meta-every 3: accumulator cleared after the step");
    }
    printf("  (b) meta-every 3 (%s): one step along the mean of 3 meta-gradients, max err %.1e\n",
           hidden ? "hidden" : "linear", worst);
}

/* (c): an Inf or NaN dot product gives no meta-gradient */
static void test_nonfinite(double bad) {
    daoe_ctrl_cfg c = make_cfg(4, 1, 0.0f);
    daoe_ctrl_state s;
    daoe_trace rows[NSTEP];
    daoe_ctrl_init(&c, &s);
    randomise(&c, &s, 9);
    run(&c, &s, 3, rows);
    daoe_ctrl_state before = s;
    double red[DAOE_NRED];
    float st[DAOE_NSTAT];
    synth(4, red, st);
    red[DAOE_RED_DOT + 1] = bad;
    daoe_ctrl_update(&c, &s, red, st, 0, &rows[3]);
    int same = 1;
    for (int i = 0; i < DAOE_K; i++) {
        same &= s.b[i] == before.b[i];
        for (int j = 0; j < c.hidden; j++) same &= s.V[i][j] == before.V[i][j];
    }
    for (int j = 0; j < c.hidden; j++) same &= s.b1[j] == before.b1[j] && s.W1[j][0] == before.W1[j][0];
    int finite = 1;
    for (int i = 0; i < DAOE_K; i++) finite &= isfinite(s.alpha[i]);
    CHECK(same && finite, "hypergradient %g: controller weights moved (%d) or alpha not finite (%d)", bad, !same, !finite);
    printf("  (c) a hypergradient of %g leaves the weights alone and alpha finite\n", bad);
}

/* (d) and (f) */
static void test_start(void) {
    daoe_ctrl_cfg c = make_cfg(8, 1, 0.0f);
    daoe_ctrl_state s;
    daoe_trace rows[2];
    daoe_ctrl_init(&c, &s);
    for (int j = 0; j < c.hidden; j++)
        for (int f = 0; f < DAOE_NFEAT; f++) s.W1[j][f] = 0.1 * (j - f); /* V = 0, b = 0 */
    run(&c, &s, 2, rows);
    CHECK(rows[0].feat[DAOE_F_LDELTA] == 0.0f, "loss_delta at step 1 is %g, not 0", rows[0].feat[DAOE_F_LDELTA]);
    CHECK(s.wn[DAOE_F_LDELTA] == 2.0, "loss_delta counted %g times in 2 steps", s.wn[DAOE_F_LDELTA]);
    printf("  (d) loss_delta at step 1: %g, counted %g times in 2 steps\n", rows[0].feat[DAOE_F_LDELTA],
           s.wn[DAOE_F_LDELTA]);
    daoe_ctrl_state s0;
    daoe_ctrl_init(&c, &s0);
    for (int j = 0; j < c.hidden; j++)
        for (int f = 0; f < DAOE_NFEAT; f++) s0.W1[j][f] = 0.1 * (j - f);
    daoe_trace r1;
    double red[DAOE_NRED];
    float st[DAOE_NSTAT];
    synth(1, red, st);
    daoe_ctrl_update(&c, &s0, red, st, 0, &r1);
    double dev = 0.0;
    for (int i = 0; i < DAOE_K; i++)
        if ((c.members >> i) & 1u) dev = fmax(dev, fabs(s0.alpha[i] - 0.25));
    CHECK(dev == 0.0, "hidden layer, zero output layer: alpha after step 1 deviates from uniform by %g", dev);
    printf("  (f) hidden layer with a zero output layer: alpha after step 1 uniform (max deviation %g)\n", dev);
}

/* (e) */
static void test_ema(void) {
    daoe_ctrl_cfg c0 = make_cfg(0, 1000000, 0.0f), ce = make_cfg(0, 1000000, 0.8f);
    daoe_ctrl_state a, b;
    daoe_trace rows[3];
    daoe_ctrl_init(&c0, &a);
    randomise(&c0, &a, 3);
    b = a;
    run(&c0, &a, 2, rows); /* step 2: the first meta-gradient, same alpha history on both */
    run(&ce, &b, 2, rows);
    double worst = 0.0;
    for (int i = 0; i < DAOE_K; i++) worst = fmax(worst, fabs(b.gb[i] - 0.2 * a.gb[i]) / (fabs(a.gb[i]) + 1e-12));
    CHECK(worst <= 1e-6, "alpha-ema 0.8: meta-gradient is not 0.2 x the plain one (rel err %.2e)", worst);
    printf("  (e) alpha-ema 0.8 scales the meta-gradient by 0.2 (rel err %.1e)\n", worst);
}

/* (g) */
static void test_lagged_hidden(void) {
    const int H = 5;
    daoe_ctrl_cfg c = make_cfg(H, 1, 0.0f); /* a meta step every step: V moves between producing and judging */
    daoe_ctrl_state s, prod, before;
    daoe_trace rows[NSTEP];
    daoe_ctrl_init(&c, &s);
    randomise(&c, &s, 17);
    run(&c, &s, NSTEP - 2, rows);
    prod = s; /* after pass NSTEP-2: it produced the alpha that pass NSTEP judges */
    step(&c, &s, rows);
    before = s;
    step(&c, &s, rows);
    const float *f = rows[NSTEP - 3].fstd, *h = rows[NSTEP - 1].h;
    double worst = 0.0, vmove = 0.0;
    int n = 0;
    double *acc;
    for (int i = 0; i < DAOE_K; i++)
        for (int j = 0; j < H; j++) vmove = fmax(vmove, fabs(before.V[i][j] - prod.V[i][j]));
    for (int k = 0; weight(&s, H, k, &acc); k++, n++) {
        daoe_ctrl_state p = prod, m = prod, b0 = before;
        const double eps = 1e-5;
        *weight(&p, H, k, &acc) += eps;
        *weight(&m, H, k, &acc) -= eps;
        double got = (*weight(&b0, H, k, &acc) - *weight(&s, H, k, &acc)) / c.meta_step; /* one finite h: mean = it */
        double fd = (surrogate(&c, &p, f, h) - surrogate(&c, &m, f, h)) / (2 * eps);
        double e = fabs(got - fd) / (fabs(fd) + 1e-4);
        if (e > worst) worst = e;
        CHECK(e <= 1e-5, "one pass, hidden, meta step every step: weight %d: step/meta_step %.9g, finite difference "
                         "at the producing weights %.9g", k, got, fd);
    }
    CHECK(vmove > 1e-6, "V did not move between producing and judging (%.2e): the test shows nothing", vmove);
    printf("  (g) one pass, hidden layer (H = %d), a meta step every step (V moved %.2e since producing): %d weights, "
           "step vs finite differences at the producing weights: worst rel err %.2e (tol 1e-5)\n", H, vmove, n, worst);
}

/* (h) */
static void test_zero_step(void) {
    daoe_ctrl_cfg c = make_cfg(0, 1000000, 0.0f);
    daoe_ctrl_state s;
    daoe_trace rows[NSTEP];
    daoe_ctrl_init(&c, &s);
    randomise(&c, &s, 23);
    double red[DAOE_NRED];
    float st[DAOE_NSTAT];
    for (int t = 1; t <= NSTEP; t++) {
        synth(t, red, st);
        red[DAOE_RED_DOT + DAOE_LION] = 0.0; /* Lion at rate 0: d = 0, so g . d = 0 and |d| = 0 */
        red[DAOE_RED_DN + DAOE_LION] = 0.0;
        daoe_ctrl_update(&c, &s, red, st, 0, &rows[t - 1]);
    }
    int finite = 1;
    for (int i = 0; i < DAOE_K; i++)
        if ((c.members >> i) & 1u) finite &= isfinite(s.alpha[i]) && isfinite(s.gb[i]) && isfinite(rows[NSTEP - 1].h[i]);
    CHECK(rows[NSTEP - 1].h[DAOE_LION] == 0.0f, "zero step: h_lion = %g, not 0", rows[NSTEP - 1].h[DAOE_LION]);
    CHECK(s.nacc == NSTEP - 1, "zero step: %d meta-gradients counted in %d steps with a hypergradient", s.nacc, NSTEP - 1);
    CHECK(finite, "zero step: a NaN or Inf in alpha, the accumulator or h");
    CHECK(rows[NSTEP - 1].share[DAOE_LION] == 0.0f, "zero step: Lion's share %g", rows[NSTEP - 1].share[DAOE_LION]);
    printf("  (h) a member with a zero step: h = %g, share %g, %d of %d meta-gradients counted, all finite\n",
           rows[NSTEP - 1].h[DAOE_LION], rows[NSTEP - 1].share[DAOE_LION], s.nacc, NSTEP - 1);
}

int main(void) {
    printf("controller update rule on synthetic inputs\n");
    test_fd(0, 0);
    test_fd(5, 0);
    test_fd(0, 1);
    test_fd(5, 1);
    test_meta_every(0);
    test_meta_every(3);
    test_nonfinite(INFINITY);
    test_nonfinite(-INFINITY);
    test_nonfinite(NAN);
    test_start();
    test_ema();
    test_lagged_hidden();
    test_zero_step();
    return test_result("test_controller");
}
