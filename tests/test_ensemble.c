/* DAO-E ensemble and controller on the CPU backend, on a width-4 ResNet-18
 * trained for a few steps on synthetic CIFAR-shaped data (random bytes and
 * labels through load_batch, with augmentation):
 *   (a) alpha one-hot on member i (--controller fixed) and a single-member
 *       ensemble (hypergrad controller) reproduce --optimizer i bit for bit;
 *   (b) alpha starts uniform over the members, sums to 1, never moves with
 *       --controller fixed or --meta-lr 0, moves otherwise; the controller's
 *       algebra: db = -step*dz, dW = db (x) f(t-1), dz = alpha(h - alpha.h)/tau,
 *       next alpha = softmax((W f + b)/tau);
 *   (c) feature switches remove exactly those inputs: disabled features feed
 *       0 and their W columns stay 0; a run with feature F switched off
 *       follows the same alpha trajectory, bit for bit, as a run with every
 *       feature on whose raw F is held constant (standardised: exactly 0),
 *       and a different one from a run where F varies;
 *   (d) the hypergradient: h_i in the trace row of step t+1 (raw: g_{t+1}.d_i(t),
 *       cos: that over |g_{t+1}||d_i(t)|) matches central finite differences
 *       in alpha_i of the loss of step t+1, L(p_t + sum_k alpha_k d_k(t)), on
 *       batch t+1 in training mode (16 symmetric pairs, least-squares slope);
 *       d_i(t) is recomputed in float32 with the baseline rules and the
 *       stored bfloat16 copy checked against it. Tolerance 1e-2 relative
 *       (bf16 d_i: < 2^-8 per element), or 1e-2 of 0.05|g||d_i| where g and
 *       d_i are nearly orthogonal; measured <= 2.2e-3.
 * Tolerances and measured errors are printed with each check.
 * usage: test_ensemble [rules|hypergrad]: (a)-(c) and (d) with the raw signal, or (d) with
 * the cos signal (its three controllers); no argument: all. CTest runs the two halves as two
 * tests, side by side (one core each; under ASan the whole took 134 s, 2026-12-07). */
#include "daoe/bf16.h"
#include "daoe/config.h"
#include "daoe/net.h"
#include "daoe/session.h"
#include "daoe/train.h"
#include "daoe/util.h"
#include "rules.h"
#include "testutil.h"
#include "session_util.h"

#define WIDTH 4
#define BATCH 16     /* (a)-(c) */
#define HG_BATCH 128  /* (d): more samples average out ReLU kinks along the FD line */
#define NIMG 512

static daoe_backend *be;
static uint8_t *images;  /* backend memory [NIMG][3072] */
static int32_t *labels;  /* backend memory [NIMG] */

typedef struct run run;
/* phase 0: after backward (g_t ready, nothing updated); phase 1: after
 * opt_step, before ctrl_step */
typedef void (*hook_fn)(run *r, int t, int phase, void *ctx);

struct run {
    daoe_session *s;
    int B;
    daoe_trace *rows; /* host copies, rows[t-1] is step t */
    hook_fn hook;
    void *hctx;
};

static int run_init_b(run *r, const char *args, int T, int batch) {
    memset(r, 0, sizeof *r);
    r->B = batch;
    r->s = ts_session(be, args, WIDTH, batch, 11, T, T + 1);
    if (!r->s) return -1;
    r->rows = daoe_xcalloc((size_t)T + 1, sizeof(daoe_trace));
    return 0;
}

static int run_init(run *r, const char *args, int T) { return run_init_b(r, args, T, BATCH); }

static void run_free(run *r) {
    daoe_session_free(r->s);
    free(r->rows);
}

/* batch of step t (1-based) into net.x, net.y and opt.stats (augmentation seed 5) */
static void run_load(run *r, int t) {
    int32_t idx[HG_BATCH];
    ts_batch_idx(t, r->B, NIMG, idx);
    be->to_device(be, r->s->idx, idx, sizeof(int32_t) * (size_t)r->B);
    be->load_batch(be, images, labels, r->s->idx, r->B, 1, 5, 0, r->s->net.x, r->s->net.y, r->s->opt.stats);
}

/* daoe_step_run op by op, with the hooks between */
static void run_step(run *r) {
    daoe_session_begin_step(r->s, 0);
    int t = (int)r->s->t;
    run_load(r, t);
    daoe_net *net = &r->s->net;
    daoe_opt *opt = &r->s->opt;
    daoe_net_forward(net, r->B, 1);
    be->xent(be, r->B, net->nclass, net->logits, net->y, net->dlogits, opt->stats);
    daoe_net_backward(net, r->B);
    if (r->hook) r->hook(r, t, 0, r->hctx);
    if (opt->ctrl.two_pass) { /* as daoe_step_run: hook 1 before the controller moves */
        be->opt_step(be, opt, DAOE_PASS_REDUCE);
        if (r->hook) r->hook(r, t, 1, r->hctx);
        be->ctrl_step(be, opt, DAOE_CTRL_PRE);
        be->opt_step(be, opt, DAOE_PASS_UPDATE);
        be->ctrl_step(be, opt, DAOE_CTRL_POST);
    } else {
        be->opt_step(be, opt, DAOE_PASS_UPDATE);
        if (r->hook) r->hook(r, t, 1, r->hctx);
        be->ctrl_step(be, opt, DAOE_CTRL_STEP);
    }
    be->refresh_weights(be);
    net->num_batches_tracked++;
    be->to_host(be, &r->rows[t - 1], &opt->trace[(t - 1) % opt->trace_cap], sizeof(daoe_trace));
}

static void get_state(run *r, daoe_ctrl_state *s) { be->to_host(be, s, r->s->opt.state, sizeof *s); }

static float *get_params(run *r) {
    float *p = daoe_xmalloc(sizeof(float) * r->s->net.nparams);
    be->to_host(be, p, r->s->net.params, sizeof(float) * r->s->net.nparams);
    return p;
}

/* memcmp of parameters and running statistics; 0 when identical */
static int same_weights(run *a, run *b) {
    size_t np = sizeof(float) * a->s->net.nparams, nb = sizeof(float) * a->s->net.nbufs;
    float *pa = daoe_xmalloc(np), *pb = daoe_xmalloc(np), *ba = daoe_xmalloc(nb), *bb = daoe_xmalloc(nb);
    be->to_host(be, pa, a->s->net.params, np);
    be->to_host(be, pb, b->s->net.params, np);
    be->to_host(be, ba, a->s->net.bufs, nb);
    be->to_host(be, bb, b->s->net.bufs, nb);
    int same = memcmp(pa, pb, np) == 0 && memcmp(ba, bb, nb) == 0;
    free(pa); free(pb); free(ba); free(bb);
    return same;
}

/* ------------------------------------------------------------------ (a) */
#define EQ_STEPS 4

/* Steps both runs EQ_STEPS times; every step the weights must match bit for
 * bit. Returns 1 when they matched throughout. */
static int check_equal(const char *alone, const char *ens) {
    run a, b;
    if (run_init(&a, alone, EQ_STEPS) || run_init(&b, ens, EQ_STEPS)) return 0;
    float *p0 = get_params(&a);
    int first_diff = 0;
    for (int s = 1; s <= EQ_STEPS; s++) {
        run_step(&a);
        run_step(&b);
        if (!first_diff && !same_weights(&a, &b)) first_diff = s;
    }
    float *p1 = get_params(&a);
    int moved = memcmp(p0, p1, sizeof(float) * a.s->net.nparams) != 0;
    CHECK(moved, "'%s': parameters did not change in %d steps", alone, EQ_STEPS);
    CHECK(first_diff == 0, "'%s' vs '%s': weights differ from step %d on", ens, alone, first_diff);
    printf("  %-28s == %-66s %s\n", alone, ens, first_diff ? "DIFFERENT" : "bit for bit");
    free(p0);
    free(p1);
    run_free(&a);
    run_free(&b);
    return first_diff == 0;
}

static void test_equivalence(void) {
    printf("(a) one-hot alpha and single-member ensembles vs the optimizer alone (%d steps, memcmp)\n", EQ_STEPS);
    static const char *pairs[][2] = {
        {"--optimizer sgd", "--optimizer daoe --controller fixed --alpha-init 1,0,0,0"},
        {"--optimizer adam", "--optimizer daoe --controller fixed --alpha-init 0,1,0,0"},
        {"--optimizer rmsprop", "--optimizer daoe --controller fixed --alpha-init 0,0,1,0"},
        {"--optimizer lion", "--optimizer daoe --controller fixed --alpha-init 0,0,0,1"},
        {"--optimizer adamw", "--optimizer daoe --controller fixed --alpha-init 0,1,0,0 --adam-wd-mode decoupled "
                              "--adam-wd 0.05"},
        {"--optimizer sgd --lr 0.05 --nesterov --wd 1e-3",
         "--optimizer daoe --controller fixed --alpha-init 1,0,0,0 --sgd-lr 0.05 --sgd-nesterov --sgd-wd 1e-3"},
        {"--optimizer sgd --dampening 0.5",
         "--optimizer daoe --controller fixed --alpha-init 1,0,0,0 --sgd-dampening 0.5"},
        {"--optimizer rmsprop --centered --momentum 0.5",
         "--optimizer daoe --controller fixed --alpha-init 0,0,1,0 --rmsprop-centered --rmsprop-momentum 0.5"},
        /* one-hot with the other members' order given differently */
        {"--optimizer lion", "--optimizer daoe --members lion,sgd --controller fixed --alpha-init 1,0"},
        {"--optimizer sgd", "--optimizer daoe --members sgd"},
        {"--optimizer adam", "--optimizer daoe --members adam"},
        {"--optimizer rmsprop", "--optimizer daoe --members rmsprop"},
        {"--optimizer lion", "--optimizer daoe --members lion"},
        {"--optimizer adam", "--optimizer daoe --members adam --hypergrad raw --meta-lr 1000 --tau 0.5"},
        {"--optimizer rmsprop",
         "--optimizer daoe --members rmsprop --controller-hidden 4 --meta-every 2 --alpha-ema 0.5 --meta-lr 1000"},
        {"--optimizer lion", "--optimizer daoe --members lion --ctrl-pass two --meta-lr 1000"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) check_equal(pairs[i][0], pairs[i][1]);
    /* the comparison can fail: one-hot on Adam is not SGD */
    run a, b;
    if (run_init(&a, "--optimizer sgd", 2) || run_init(&b, "--optimizer daoe --controller fixed --alpha-init 0,1,0,0", 2))
        return;
    run_step(&a);
    run_step(&b);
    CHECK(!same_weights(&a, &b), "control: one-hot Adam produced SGD's weights");
    run_free(&a);
    run_free(&b);
}

/* ------------------------------------------------------------------ (b) */
#define AL_STEPS 8

static double alpha_sum(const float *a) { return (double)a[0] + a[1] + a[2] + a[3]; }

/* alpha of every row: sums to 1, non-negative, zero for non-members.
 * Returns the largest |alpha_i(t) - alpha_i(1)| over the run. */
static double check_alpha_rows(const char *what, run *r) {
    double moved = 0.0;
    for (int t = 1; t <= r->s->t; t++) {
        const float *a = r->rows[t - 1].alpha;
        double s = alpha_sum(a);
        CHECK(fabs(s - 1.0) <= 1e-6, "%s step %d: alpha sums to %.9f", what, t, s);
        for (int i = 0; i < DAOE_K; i++) {
            CHECK(a[i] >= 0.0f && a[i] <= 1.0f, "%s step %d: alpha_%s = %g", what, t, daoe_member_names[i], a[i]);
            if (!((r->s->cfg.members >> i) & 1u))
                CHECK(a[i] == 0.0f, "%s step %d: non-member %s has alpha %g", what, t, daoe_member_names[i], a[i]);
            double d = fabs((double)a[i] - r->rows[0].alpha[i]);
            if (d > moved) moved = d;
        }
    }
    return moved;
}

typedef struct {
    daoe_ctrl_state before;
    double worst_db, worst_dw, worst_soft;
} algebra_ctx;

static void algebra_hook(run *r, int t, int phase, void *ctx) {
    if (phase == 1) get_state(r, &((algebra_ctx *)ctx)->before);
}

/* db, dW and the next alpha of the hypergradient rule, from the trace alone */
static void check_algebra(run *r, algebra_ctx *ac, int t) {
    daoe_ctrl_state after;
    get_state(r, &after);
    const daoe_ctrl_state *bf = &ac->before;
    const daoe_ctrl_cfg *cc = &r->s->opt.ctrl;
    const daoe_trace *row = &r->rows[t - 1], *prev = &r->rows[t - 2];
    float fzero[DAOE_NFEAT] = {0};
    const float *fprev = t >= 3 ? r->rows[t - 3].fstd : fzero; /* features that produced alpha(t-1) */
    double hbar = 0.0;
    for (int i = 0; i < DAOE_K; i++)
        if ((cc->members >> i) & 1u) hbar += prev->alpha[i] * (double)row->h[i];
    for (int i = 0; i < DAOE_K; i++) {
        double dz = ((cc->members >> i) & 1u) ? prev->alpha[i] * ((double)row->h[i] - hbar) / cc->tau : 0.0;
        double db = -(double)cc->meta_step * dz, got = after.b[i] - bf->b[i];
        double e = fabs(got - db) / (fabs(db) + 1e-12);
        if (e > ac->worst_db) ac->worst_db = e;
        CHECK(e <= 1e-5, "step %d: b_%s moved %.9g, expected %.9g", t, daoe_member_names[i], got, db);
        for (int f = 0; f < DAOE_NFEAT; f++) {
            double dw = db * fprev[f], gw = after.W[i][f] - bf->W[i][f];
            double ew = fabs(gw - dw) / (fabs(dw) + 1e-12);
            if (ew > ac->worst_dw) ac->worst_dw = ew;
            CHECK(ew <= 1e-5, "step %d: W[%s][%s] moved %.9g, expected %.9g", t, daoe_member_names[i],
                  daoe_feature_names[f], gw, dw);
        }
    }
    /* alpha for the next pass: softmax((W f(t) + b)/tau) over the members */
    double z[DAOE_K], mx = -1e300, sum = 0.0;
    for (int i = 0; i < DAOE_K; i++) {
        z[i] = after.b[i];
        for (int f = 0; f < DAOE_NFEAT; f++) z[i] += after.W[i][f] * row->fstd[f];
        if ((cc->members >> i) & 1u && z[i] > mx) mx = z[i];
    }
    for (int i = 0; i < DAOE_K; i++) sum += ((cc->members >> i) & 1u) ? exp((z[i] - mx) / cc->tau) : 0.0;
    for (int i = 0; i < DAOE_K; i++) {
        double a = ((cc->members >> i) & 1u) ? exp((z[i] - mx) / cc->tau) / sum : 0.0;
        double e = fabs(a - after.alpha[i]);
        if (e > ac->worst_soft) ac->worst_soft = e;
        CHECK(e <= 1e-6, "step %d: next alpha_%s %.9g, softmax gives %.9g", t, daoe_member_names[i],
              after.alpha[i], a);
    }
}

static void test_alpha(void) {
    printf("(b) alpha: uniform start, sum 1, fixed never moves, hypergrad moves; controller algebra\n");
    run r;
    daoe_ctrl_state st;
    /* default: K = 4, hypergrad (cosine), meta-lr 10 over AL_STEPS steps */
    if (run_init(&r, "--optimizer daoe --tau 0.5", AL_STEPS)) return;
    get_state(&r, &st);
    /* 0.25 for each of the default mixture's four, 0 for a rule of the list outside it */
#define AL_START(i) (((DAOE_DEFAULT_MEMBERS >> (i)) & 1u) ? 0.25f : 0.0f)
    for (int i = 0; i < DAOE_K; i++)
        CHECK(st.alpha[i] == AL_START(i), "start: alpha_%s = %.9g, not %g", daoe_member_names[i], st.alpha[i],
              AL_START(i));
    algebra_ctx ac;
    memset(&ac, 0, sizeof ac);
    r.hook = algebra_hook;
    r.hctx = &ac;
    for (int s = 1; s <= AL_STEPS; s++) {
        run_step(&r);
        if (s >= 2) check_algebra(&r, &ac, s);
    }
    for (int i = 0; i < DAOE_K; i++)
        CHECK(r.rows[0].alpha[i] == AL_START(i), "step 1: alpha_%s = %.9g, not %g", daoe_member_names[i],
              r.rows[0].alpha[i], AL_START(i));
#undef AL_START
    double mv = check_alpha_rows("K=4 hypergrad", &r);
    CHECK(mv > 1e-3, "hypergrad with meta-lr 10: alpha moved only %.2e in %d steps", mv, AL_STEPS);
    printf("  K=4 hypergrad (tau 0.5): start 0.25 x4, max |alpha - start| %.4f; final alpha %.4f %.4f %.4f %.4f\n", mv,
           r.rows[AL_STEPS - 1].alpha[0], r.rows[AL_STEPS - 1].alpha[1], r.rows[AL_STEPS - 1].alpha[2],
           r.rows[AL_STEPS - 1].alpha[3]);
    printf("  controller algebra: db rel err %.1e, dW rel err %.1e, softmax abs err %.1e (tol 1e-5, 1e-5, 1e-6)\n",
           ac.worst_db, ac.worst_dw, ac.worst_soft);
    run_free(&r);

    /* three members: 1/3 each, Lion's alpha stays exactly 0 */
    if (run_init(&r, "--optimizer daoe --members sgd,adam,rmsprop", AL_STEPS)) return;
    for (int s = 1; s <= AL_STEPS; s++) run_step(&r);
    for (int i = 0; i < 3; i++)
        CHECK(r.rows[0].alpha[i] == 1.0f / 3.0f, "K=3 step 1: alpha_%s = %.9g, not 1/3", daoe_member_names[i],
              r.rows[0].alpha[i]);
    mv = check_alpha_rows("K=3 hypergrad", &r);
    CHECK(mv > 1e-3, "K=3 hypergrad: alpha moved only %.2e", mv);
    printf("  K=3 hypergrad: start 1/3 x3, lion 0, max move %.4f\n", mv);
    run_free(&r);

    /* fixed, non-uniform: every row is exactly alpha-init, W and b stay 0 */
    if (run_init(&r, "--optimizer daoe --controller fixed --alpha-init 0.1,0.2,0.3,0.4", AL_STEPS)) return;
    for (int s = 1; s <= AL_STEPS; s++) run_step(&r);
    mv = check_alpha_rows("fixed", &r);
    const float want[DAOE_K] = {0.1f, 0.2f, 0.3f, 0.4f};
    for (int t = 1; t <= AL_STEPS; t++)
        CHECK(memcmp(r.rows[t - 1].alpha, want, sizeof want) == 0, "fixed: alpha changed at step %d", t);
    get_state(&r, &st);
    int wzero = 1;
    for (int i = 0; i < DAOE_K; i++) {
        wzero &= st.b[i] == 0.0;
        for (int f = 0; f < DAOE_NFEAT; f++) wzero &= st.W[i][f] == 0.0;
    }
    CHECK(wzero, "fixed: controller W/b changed");
    printf("  fixed 0.1,0.2,0.3,0.4: alpha identical at all %d steps (max move %.1e)\n", AL_STEPS, mv);
    run_free(&r);

    /* hypergrad with meta-lr 0 never moves either */
    if (run_init(&r, "--optimizer daoe --meta-lr 0", AL_STEPS)) return;
    for (int s = 1; s <= AL_STEPS; s++) run_step(&r);
    mv = check_alpha_rows("meta-lr 0", &r);
    CHECK(mv == 0.0, "hypergrad with --meta-lr 0: alpha moved %.2e", mv);
    printf("  hypergrad --meta-lr 0: max move %.1e\n", mv);
    run_free(&r);
}

/* ------------------------------------------------------------------ (c) */
#define FT_STEPS 7

typedef struct { int feature; } force_ctx;

/* Holds feature F's raw input at a constant: the batch statistic, the loss
 * (loss_delta), or the reduction (grad_norm needs --hypergrad raw, where |g|
 * feeds nothing else). */
static void force_hook(run *r, int t, int phase, void *ctx) {
    if (phase != 1) return;
    int f = ((force_ctx *)ctx)->feature;
    switch (f) {
    case DAOE_F_XMEAN: r->s->opt.stats[DAOE_ST_XMEAN] = 0.25f; break;
    case DAOE_F_XVAR: r->s->opt.stats[DAOE_ST_XVAR] = 1.0f; break;
    case DAOE_F_ENTROPY: r->s->opt.stats[DAOE_ST_ENTROPY] = 0.5f; break;
    case DAOE_F_LDELTA: r->s->opt.stats[DAOE_ST_LOSS] = 2.0f; break; /* loss EMA stays exactly 2 */
    case DAOE_F_GNORM: r->s->opt.red[DAOE_RED_GG] = 4.0; break;
    case DAOE_F_GVAR: r->s->opt.red[DAOE_RED_GV] = 1e-3 * r->s->opt.ctrl.nparams; break;
    }
}

static int same_alpha(const run *a, const run *b, int *first) {
    for (int t = 1; t <= a->s->t; t++)
        if (memcmp(a->rows[t - 1].alpha, b->rows[t - 1].alpha, sizeof a->rows[0].alpha)) {
            *first = t;
            return 0;
        }
    *first = 0;
    return 1;
}

/* a subset: disabled inputs are 0 at every step, their W columns stay 0;
 * enabled ones are fed and learned */
static void check_subset(const char *list, unsigned want) {
    run r;
    char args[256];
    snprintf(args, sizeof args, "--optimizer daoe --features %s", list);
    if (run_init(&r, args, FT_STEPS)) return;
    for (int s = 1; s <= FT_STEPS; s++) run_step(&r);
    unsigned on = r.s->cfg.features;
    CHECK(on == want, "--features %s parsed to mask 0x%x, expected 0x%x", list, on, want);
    int nonzero_on[DAOE_NFEAT] = {0}, noff = 0;
    for (int t = 1; t <= FT_STEPS; t++)
        for (int f = 0; f < DAOE_NFEAT; f++) {
            float v = r.rows[t - 1].fstd[f];
            if ((on >> f) & 1u) nonzero_on[f] |= v != 0.0f;
            else CHECK(v == 0.0f, "--features %s step %d: disabled feature %s fed %g", list, t, daoe_feature_names[f], v);
        }
    daoe_ctrl_state st;
    get_state(&r, &st);
    for (int f = 0; f < DAOE_NFEAT; f++) {
        int colzero = 1;
        for (int i = 0; i < DAOE_K; i++) colzero &= st.W[i][f] == 0.0;
        if ((on >> f) & 1u) {
            CHECK(nonzero_on[f], "--features %s: enabled feature %s was 0 at every step", list, daoe_feature_names[f]);
            CHECK(!colzero, "--features %s: enabled feature %s: W column still 0 after %d steps", list,
                  daoe_feature_names[f], FT_STEPS);
        } else {
            CHECK(colzero, "--features %s: disabled feature %s: W column moved", list, daoe_feature_names[f]);
            noff++;
        }
    }
    printf("  --features %-28s %d disabled inputs exactly 0 at all %d steps, their W columns exactly 0\n", list, noff,
           FT_STEPS);
    run_free(&r);
}

static void test_features(void) {
    printf("(c) feature switches\n");
    check_subset("grad_norm,loss_delta,progress",
                 (1u << DAOE_F_GNORM) | (1u << DAOE_F_LDELTA) | (1u << DAOE_F_PROGRESS));
    check_subset("x_mean,x_var,pred_entropy,grad_var", (1u << DAOE_F_XMEAN) | (1u << DAOE_F_XVAR) |
                                                           (1u << DAOE_F_ENTROPY) | (1u << DAOE_F_GVAR));
    /* none: the controller sees only its bias */
    check_subset("none", 0u);

    /* F off  ==  F on but held constant  !=  F on and varying */
    static const char *base = "--optimizer daoe --hypergrad raw --meta-lr 2000";
    static const int fs[] = {DAOE_F_XMEAN, DAOE_F_XVAR, DAOE_F_ENTROPY, DAOE_F_GNORM, DAOE_F_GVAR, DAOE_F_LDELTA};
    run ref;
    if (run_init(&ref, base, FT_STEPS)) return;
    for (int s = 1; s <= FT_STEPS; s++) run_step(&ref);
    for (size_t k = 0; k < sizeof fs / sizeof fs[0]; k++) {
        int f = fs[k];
        char args[512], list[256] = "";
        for (int g = 0; g < DAOE_NFEAT; g++)
            if (g != f) {
                if (list[0]) strcat(list, ",");
                strcat(list, daoe_feature_names[g]);
            }
        snprintf(args, sizeof args, "%s --features %s", base, list);
        run off, held;
        force_ctx fc = {f};
        if (run_init(&off, args, FT_STEPS) || run_init(&held, base, FT_STEPS)) return;
        held.hook = force_hook;
        held.hctx = &fc;
        for (int s = 1; s <= FT_STEPS; s++) {
            run_step(&off);
            run_step(&held);
        }
        int d1, d2;
        int eq = same_alpha(&off, &held, &d1), differs = !same_alpha(&off, &ref, &d2);
        CHECK(eq, "%s: switched off and held constant give different alpha from step %d", daoe_feature_names[f], d1);
        CHECK(same_weights(&off, &held), "%s: switched off and held constant give different weights",
              daoe_feature_names[f]);
        CHECK(differs, "%s: switching it off changed nothing (check not sensitive)", daoe_feature_names[f]);
        printf("  %-13s off == held constant (alpha, weights: %s); off != varying (from step %d)\n",
               daoe_feature_names[f], eq ? "bit for bit" : "DIFFERENT", d2);
        run_free(&off);
        run_free(&held);
    }
    run_free(&ref);
}

/* ------------------------------------------------------------------ (d) */
#define HG_STEPS 5
#define FD_K 16
/* RMS weight change at the outermost FD point: measured errors stay below
 * 4e-3 for reaches from 5e-7 to 3e-5; larger reaches meet ReLU kinks
 * (Adam, RMSProp and Lion steps are sign-like, so every pre-activation
 * moves coherently), smaller ones the float32 noise of the forward pass */
#define FD_REACH 2e-6

typedef struct {
    int check_step;      /* t: d_i(t) captured, h compared at row t+1 */
    float *d[DAOE_K];    /* d_i(t) in float32, recomputed from the rules */
} hg_ctx;

/* Phase 0 of step t: recompute every member's d_i(t) from copies of its
 * state with the baseline rules (the same functions the fused pass calls). */
static void hg_hook(run *r, int t, int phase, void *ctx) {
    hg_ctx *h = ctx;
    if (phase != 0 || t != h->check_step) return;
    const daoe_opt_cfg *c = &r->s->opt.cfg;
    const daoe_opt_bufs *b = &r->s->opt.bufs;
    daoe_step_consts sc;
    be->to_host(be, &sc, r->s->opt.consts, sizeof sc);
    size_t n = r->s->opt.n;
    for (int i = 0; i < DAOE_K; i++) {
        if (!((c->members >> i) & 1u)) continue;
        h->d[i] = daoe_xmalloc(sizeof(float) * n);
        for (size_t j = 0; j < n; j++) {
            float st[DAOE_MEMBER_MAXSTATE] = {0.0f};
            for (int k = 0; k < DAOE_MEMBER_MAXSTATE; k++)
                if (b->st[i][k]) st[k] = b->st[i][k][j];
            float d = daoe_rule_delta(c, &sc, i, b->g[j], b->p[j], st);
            h->d[i][j] = d;
        }
    }
}

/* mean cross-entropy of batch net.x in training mode, in double from the
 * float32 logits (xent's float result would add its own rounding) */
static double loss_at(run *r) {
    const int B = r->B;
    daoe_net_forward(&r->s->net, B, 1);
    float lg[HG_BATCH * DAOE_NET_CLASSES];
    int32_t y[HG_BATCH];
    be->to_host(be, lg, r->s->net.logits, sizeof(float) * DAOE_NET_CLASSES * (size_t)B);
    be->to_host(be, y, r->s->net.y, sizeof(int32_t) * (size_t)B);
    double s = 0.0;
    for (int n = 0; n < B; n++) {
        double mx = lg[n * DAOE_NET_CLASSES], se = 0.0;
        for (int k = 1; k < DAOE_NET_CLASSES; k++) mx = fmax(mx, lg[n * DAOE_NET_CLASSES + k]);
        for (int k = 0; k < DAOE_NET_CLASSES; k++) se += exp((double)lg[n * DAOE_NET_CLASSES + k] - mx);
        s += mx + log(se) - lg[n * DAOE_NET_CLASSES + y[n]];
    }
    return s / B;
}

static void test_hypergrad(int raw, int check_step, const char *extra) {
    run r;
    char args[256];
    snprintf(args, sizeof args, "--optimizer daoe --hypergrad %s --meta-lr 20 %s", raw ? "raw" : "cos", extra);
    if (run_init_b(&r, args, HG_STEPS, HG_BATCH)) return;
    hg_ctx hc;
    memset(&hc, 0, sizeof hc);
    hc.check_step = check_step;
    r.hook = hg_hook;
    r.hctx = &hc;
    for (int s = 1; s <= check_step; s++) run_step(&r);
    const size_t n = r.s->opt.n, np = sizeof(float) * n, nb = sizeof(float) * r.s->net.nbufs;
    /* the stored bf16 d_i(t) is the float32 d_i(t) rounded to nearest:
     * relative error < 2^-8 (7 stored fraction bits), and equal to our own
     * rounding of the recomputed d except where float32 contraction (FMA)
     * differences put d on the other side of a rounding midpoint */
    double worst_bf = 0.0;
    size_t exact = 0, total = 0;
    const unsigned members = r.s->opt.cfg.members; /* the default mixture: not every rule of the list */
    for (int i = 0; i < DAOE_K; i++) {
        if (!((members >> i) & 1u)) continue;
        uint16_t *dh = daoe_xmalloc(sizeof(uint16_t) * n);
        be->to_host(be, dh, r.s->opt.bufs.d[i], sizeof(uint16_t) * n);
        for (size_t j = 0; j < n; j++) {
            double e = fabs((double)daoe_bf16_to_f32(dh[j]) - hc.d[i][j]);
            double rel = hc.d[i][j] != 0.0f ? e / fabs(hc.d[i][j]) : (e > 0.0 ? 1.0 : 0.0);
            if (rel > worst_bf) worst_bf = rel;
            exact += dh[j] == daoe_f32_to_bf16(hc.d[i][j]);
            total++;
        }
        free(dh);
    }
    CHECK(worst_bf < 1.0 / 256, "stored d_i(%d) differs from the rules' d_i by %.2e relative (bf16: < 2^-8)",
          check_step, worst_bf);
    CHECK(exact >= total - total / 1000, "stored d_i(%d): only %zu of %zu equal bf16(d_i)", check_step, exact, total);
    /* finite differences on batch t+1 around p_{t+1} */
    float *P = get_params(&r), *Bf = daoe_xmalloc(nb), *pert = daoe_xmalloc(np);
    be->to_host(be, Bf, r.s->net.bufs, nb);
    run_load(&r, check_step + 1);
    double fd[DAOE_K], dn[DAOE_K], resid[DAOE_K];
    for (int i = 0; i < DAOE_K; i++) {
        if (!((members >> i) & 1u)) continue;
        double s2 = 0.0;
        for (size_t j = 0; j < n; j++) s2 += (double)hc.d[i][j] * hc.d[i][j];
        dn[i] = sqrt(s2);
        /* L along alpha_i at e = k*delta, k = -FD_K..FD_K; at the outermost
         * point the weights move by FD_REACH (RMS). Fit the odd part,
         * (L(e) - L(-e))/2 = b e + c e^3, by least squares: b is dL/dalpha_i
         * free of the O(e^2) term, and 2*FD_K evaluations average the float32
         * noise of the forward pass. e is the step actually taken (p + e*d
         * rounded to float32), projected on d. */
        double delta = FD_REACH / (FD_K * dn[i] / sqrt((double)r.s->net.nparams_real)), sxx = 0, sx4 = 0, sx6 = 0, sxy = 0, sx3y = 0;
        double xs[FD_K], ys[FD_K];
        for (int k = 1; k <= FD_K; k++) {
            double l[2], ee[2];
            for (int side = 0; side < 2; side++) {
                double e = (side ? -1.0 : 1.0) * k * delta, dot = 0.0;
                for (size_t j = 0; j < n; j++) {
                    pert[j] = P[j] + (float)(e * hc.d[i][j]);
                    dot += ((double)pert[j] - P[j]) * hc.d[i][j];
                }
                ee[side] = dot / (dn[i] * dn[i]);
                be->to_device(be, r.s->net.params, pert, np);
                be->refresh_weights(be);
                l[side] = loss_at(&r);
                be->to_device(be, r.s->net.bufs, Bf, nb);
            }
            double x = 0.5 * (ee[0] - ee[1]), y = 0.5 * (l[0] - l[1]);
            xs[k - 1] = x;
            ys[k - 1] = y;
            sxx += x * x;
            sx4 += x * x * x * x;
            sx6 += x * x * x * x * x * x;
            sxy += x * y;
            sx3y += x * x * x * y;
        }
        double det = sxx * sx6 - sx4 * sx4;
        double bb = (sxy * sx6 - sx3y * sx4) / det, cc = (sxx * sx3y - sx4 * sxy) / det;
        double rr = 0.0;
        for (int k = 0; k < FD_K; k++) {
            double res = ys[k] - bb * xs[k] - cc * xs[k] * xs[k] * xs[k];
            rr += res * res;
        }
        fd[i] = bb;
        resid[i] = sqrt(rr / FD_K) / fabs(bb * xs[FD_K - 1]);
    }
    be->to_device(be, r.s->net.params, P, np);
    be->refresh_weights(be);
    /* step t+1 proper: its trace row holds h for alpha(t) */
    hc.check_step = -1;
    run_step(&r);
    const daoe_trace *row = &r.rows[check_step];
    double gnorm = exp((double)row->feat[DAOE_F_GNORM]);
    printf("  %s%s%s, h at step %d (d_i of step %d): stored bf16 d: %zu/%zu = bf16(d), max rel err %.2e (< 2^-8)\n",
           raw ? "raw" : "cos", *extra ? " " : "", extra, check_step + 1, check_step, exact, total, worst_bf);
    for (int i = 0; i < DAOE_K; i++) {
        if (!((members >> i) & 1u)) continue;
        double want = raw ? fd[i] : fd[i] / (gnorm * dn[i]);
        double got = row->h[i];
        /* relative error; where g and d_i are nearly orthogonal (|cos| < 0.05)
         * relative to the scale |g||d_i| (cos: absolute error <= 5e-4) */
        double floor_ = 0.05 * (raw ? gnorm * dn[i] : 1.0);
        double e = fabs(got - want) / fmax(fabs(want), floor_);
        CHECK(e <= 1e-2, "%s step %d: h_%s = %.6g, finite difference %.6g (rel err %.2e > 1e-2)", raw ? "raw" : "cos",
              check_step + 1, daoe_member_names[i], got, want, e);
        printf("    h_%-8s rule %+.6e  finite difference %+.6e  rel err %.2e (tol 1e-2)  fit residual %.1e\n",
               daoe_member_names[i], got, want, e, resid[i]);
    }
    for (int i = 0; i < DAOE_K; i++) free(hc.d[i]);
    free(P);
    free(Bf);
    free(pert);
    run_free(&r);
}

int main(int argc, char **argv) {
    const char *part = argc > 1 ? argv[1] : "all";
    int rules = !strcmp(part, "rules") || !strcmp(part, "all"), cos = !strcmp(part, "hypergrad") || !strcmp(part, "all");
    if (argc > 2 || (!rules && !cos)) {
        fprintf(stderr, "usage: test_ensemble [rules|hypergrad]\n");
        return 2;
    }
    char err[256];
    be = daoe_cpu_backend_create(&(daoe_backend_options){.threads = 1, .cpu_conv = DAOE_CPU_CONV_DEFAULT},
                                 err, sizeof err);
    uint8_t *ih = daoe_xmalloc((size_t)NIMG * 3072);
    int32_t lh[NIMG];
    ts_synth_images(NIMG, 3, ih, lh);
    images = be->alloc(be, (size_t)NIMG * 3072);
    labels = be->alloc(be, sizeof lh);
    be->to_device(be, images, ih, (size_t)NIMG * 3072);
    be->to_device(be, labels, lh, sizeof lh);
    free(ih);

    if (rules) {
        test_equivalence();
        test_alpha();
        test_features();
    }
    printf("(d) hypergradient vs central finite differences of the next step's loss (width %d, batch %d)\n", WIDTH,
           HG_BATCH);
    if (rules) {
        test_hypergrad(1, 1, "");
        test_hypergrad(1, 3, "");
    }
    if (cos) {
        test_hypergrad(0, 3, "");
        /* alpha from a hidden-layer controller (its own back-propagation: test_controller) */
        test_hypergrad(0, 3, "--controller-hidden 4");
        /* the two-pass controller: the same signal, no lag in the step that uses it */
        test_hypergrad(0, 3, "--ctrl-pass two");
    }
    be->free(be, images);
    be->free(be, labels);
    be->destroy(be);
    return test_result("test_ensemble");
}
