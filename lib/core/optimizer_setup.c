/* Optimizer setup on a backend: state buffers for the chosen members, the
 * controller, the learning-rate schedule and the per-step constants. The
 * update rules themselves are in baselines/ (via lib/core/rules.h). */
#include "daoe/train.h"
#include "daoe/util.h"
#include "daoe/rng.h"
#include "rules.h"
#include "daoe/safetensors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *zalloc(daoe_backend *be, size_t n) { return be->alloc(be, n * sizeof(float)); }

void daoe_opt_setup(daoe_opt *o, daoe_backend *be, const daoe_config *cfg, float *params, float *grads,
                    size_t n, size_t nreal, int total_steps, int trace_cap) {
    memset(o, 0, sizeof *o);
    o->n = n;
    memcpy(o->cfg.hp, cfg->hp, sizeof o->cfg.hp);
    o->cfg.members = cfg->members;
    o->cfg.store_d = cfg->controller == DAOE_CTRL_HYPERGRAD;
    o->cfg.grad_ema = (cfg->features >> DAOE_F_GVAR) & 1u;
    unsigned m = cfg->members;
    o->bufs.p = params;
    o->bufs.g = grads;
    for (int i = 0; i < DAOE_K; i++) {
        if (!((m >> i) & 1u)) continue;
        unsigned sm = daoe_rule_state_mask(i, cfg->hp[i]);
        o->cfg.smasks |= (uint64_t)sm << (8 * i);
        for (int k = 0; k < DAOE_MEMBER_MAXSTATE; k++)
            if ((sm >> k) & 1u) o->bufs.st[i][k] = zalloc(be, n);
    }
    if (o->cfg.grad_ema) {
        o->bufs.fe_m = zalloc(be, n);
        o->bufs.fe_v = zalloc(be, n);
    }
    if (o->cfg.store_d)
        for (int i = 0; i < DAOE_K; i++)
            if ((m >> i) & 1u) o->bufs.d[i] = be->alloc(be, n * sizeof(uint16_t));
    daoe_ctrl_cfg *cc = &o->ctrl;
    cc->rule = cfg->controller;
    cc->raw = cfg->hyper_raw;
    cc->members = m;
    cc->features = cfg->features;
    cc->meta_every = cfg->meta_every > 0 ? cfg->meta_every : 1;
    cc->total_steps = total_steps;
    cc->nparams = (double)nreal;
    cc->tau = (float)cfg->tau;
    cc->meta_step = total_steps > 0 ? (float)(cfg->meta_lr / total_steps) : 0.0f;
    cc->alpha_ema = (float)cfg->alpha_ema;
    cc->hidden = cfg->controller == DAOE_CTRL_HYPERGRAD ? cfg->ctrl_hidden : 0;
    cc->two_pass = cfg->controller == DAOE_CTRL_HYPERGRAD && cfg->ctrl_two_pass;
    memcpy(cc->alpha0, cfg->alpha_init, sizeof cc->alpha0);
    /* hypergrad from a non-uniform start: b = log(alpha0)*tau reproduces it */
    daoe_ctrl_state st;
    daoe_ctrl_init(cc, &st);
    if (cc->rule == DAOE_CTRL_HYPERGRAD)
        for (int i = 0; i < DAOE_K; i++)
            if ((m >> i) & 1u) st.b[i] = log((double)cc->alpha0[i]) * cc->tau;
    /* hidden layer: small random W1 (uniform +-0.5/sqrt(features), Philox keyed by the seed), b1 = 0,
     * and a zero output layer, so alpha still starts at alpha0 */
    for (int j = 0; j < cc->hidden; j++)
        for (int f = 0; f < DAOE_NFEAT; f++) {
            philox4x32_ctr_t r = daoe_philox(cfg->seed, (uint32_t)j, (uint32_t)f, 0, DAOE_STREAM_CTRL);
            st.W1[j][f] = (2.0 * ((double)r.v[0] / 4294967296.0) - 1.0) * 0.5 / sqrt((double)DAOE_NFEAT);
        }
    o->state = be->alloc(be, sizeof(daoe_ctrl_state));
    be->to_device(be, o->state, &st, sizeof st);
    o->consts = be->alloc(be, sizeof(daoe_step_consts));
    o->red = be->alloc(be, sizeof(double) * DAOE_NRED);
    o->stats = be->alloc(be, sizeof(float) * DAOE_NSTAT);
    o->trace_cap = trace_cap > 0 ? trace_cap : 1;
    o->trace = be->alloc(be, sizeof(daoe_trace) * (size_t)o->trace_cap);
}

void daoe_opt_free(daoe_opt *o, daoe_backend *be) {
    for (int i = 0; i < DAOE_K; i++) {
        for (int k = 0; k < DAOE_MEMBER_MAXSTATE; k++) be->free(be, o->bufs.st[i][k]);
        be->free(be, o->bufs.d[i]);
    }
    be->free(be, o->bufs.fe_m);
    be->free(be, o->bufs.fe_v);
    be->free(be, o->state);
    be->free(be, o->consts);
    be->free(be, o->red);
    be->free(be, o->stats);
    be->free(be, o->trace);
    memset(o, 0, sizeof *o);
}

double daoe_opt_bytes_per_elem(const daoe_opt *o) {
    double by = 4.0 + 4.0 + 4.0; /* read g and p, write p */
    for (int i = 0; i < DAOE_K; i++) {
        for (int k = 0; k < DAOE_MEMBER_MAXSTATE; k++)
            if (o->bufs.st[i][k]) by += 8.0; /* float state: read and written */
        if (o->bufs.d[i]) by += 4.0;         /* bf16 d_i: read and written */
    }
    if (o->bufs.fe_m) by += 8.0;
    if (o->bufs.fe_v) by += 8.0;
    return by;
}

/* ------------------------------------------------------------------ named state */
/* The controller state field by field, so that a checkpoint is read by name:
 * the fields with one row per member are stored per member present
 * (controller.<member>.<field>), so a build with more members reads an older
 * checkpoint; the rest as controller.<field>. F(field, dtype, C type). */
#define CTRL_MEMBER_FIELDS(F) CTRL_V1_MEMBER_FIELDS(F) F(V_cur, "F64", double) F(V_prev, "F64", double)
/* those of them the raw struct of checkpoints of 4be4209 and before had */
#define CTRL_V1_MEMBER_FIELDS(F)                                                                                   \
    F(W, "F64", double) F(b, "F64", double) F(gW, "F64", double) F(gb, "F64", double) F(V, "F64", double)          \
    F(gV, "F64", double) F(dn_prev, "F64", double) F(alpha, "F32", float) F(soft_cur, "F32", float)                \
    F(soft_prev, "F32", float)
#define CTRL_FIELDS(F)                                                                                             \
    F(W1, "F64", double) F(b1, "F64", double) F(gW1, "F64", double) F(gb1, "F64", double)                          \
    F(a_cur, "F64", double) F(a_prev, "F64", double) F(wn, "F64", double) F(wmean, "F64", double)                  \
    F(wm2, "F64", double) F(loss_ema, "F64", double) F(f_cur, "F32", float) F(f_prev, "F32", float)                \
    F(t, "I32", int32_t) F(nacc, "I32", int32_t) F(nmeta, "I32", int32_t)

static const char *state_name(const char *fmt, const char *a, const char *b) {
    /* names live as long as the program: one copy each, kept in a small table */
    static char names[256][64];
    static int n;
    char buf[64];
    snprintf(buf, sizeof buf, fmt, a, b);
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], buf)) return names[i];
    if (n == 256) daoe_fatal("state_name: too many names");
    snprintf(names[n], sizeof names[n], "%s", buf);
    return names[n++];
}

int daoe_opt_state_list(const daoe_opt *o, daoe_state_buf *out, int max) {
    int k = 0;
    const size_t f = o->n * sizeof(float), h = o->n * sizeof(uint16_t);
#define ADD(nm, p, b, dt)                                                      \
    do {                                                                       \
        if ((p) && k < max) out[k++] = (daoe_state_buf){nm, (void *)(p), b, dt}; \
    } while (0)
    for (int i = 0; i < DAOE_K; i++)
        for (int s = 0; s < DAOE_MEMBER_MAXSTATE; s++)
            ADD(state_name("optim.%s.%s", daoe_member_names[i], daoe_rule_state_name(i, s)), o->bufs.st[i][s], f, "F32");
    ADD("optim.features.grad_ema_m", o->bufs.fe_m, f, "F32");
    ADD("optim.features.grad_ema_v", o->bufs.fe_v, f, "F32");
    for (int i = 0; i < DAOE_K; i++) ADD(state_name("optim.daoe.d_%s%s", daoe_member_names[i], ""), o->bufs.d[i], h, "BF16");
    char *st = (char *)o->state;
#define MEMBER_FIELD(fl, dt, ty)                                                                                   \
    ADD(state_name("controller.%s.%s", daoe_member_names[i], #fl), st + offsetof(daoe_ctrl_state, fl) +              \
            (size_t)i * (sizeof(((daoe_ctrl_state *)0)->fl) / DAOE_K), sizeof(((daoe_ctrl_state *)0)->fl) / DAOE_K, dt);
#define FIELD(fl, dt, ty)                                                                                          \
    ADD(state_name("controller.%s%s", #fl, ""), st + offsetof(daoe_ctrl_state, fl), sizeof(((daoe_ctrl_state *)0)->fl), dt);
    for (int i = 0; i < DAOE_K; i++)
        if ((o->ctrl.members >> i) & 1u) { CTRL_MEMBER_FIELDS(MEMBER_FIELD) }
    CTRL_FIELDS(FIELD)
#undef FIELD
#undef MEMBER_FIELD
#undef ADD
    return k;
}

/* The controller state as checkpoints of 4be4209 and before wrote it: one raw
 * struct ("controller.state", U8) with four member rows (sgd, adam, rmsprop, lion). */
#define V1_K 4
typedef struct {
    double W[V1_K][DAOE_NFEAT], b[V1_K];
    double gW[V1_K][DAOE_NFEAT], gb[V1_K];
    double W1[DAOE_CTRL_MAXH][DAOE_NFEAT], b1[DAOE_CTRL_MAXH], V[V1_K][DAOE_CTRL_MAXH];
    double gW1[DAOE_CTRL_MAXH][DAOE_NFEAT], gb1[DAOE_CTRL_MAXH], gV[V1_K][DAOE_CTRL_MAXH];
    double a_cur[DAOE_CTRL_MAXH], a_prev[DAOE_CTRL_MAXH];
    double wn[DAOE_NFEAT], wmean[DAOE_NFEAT], wm2[DAOE_NFEAT];
    double loss_ema;
    double dn_prev[V1_K];
    float alpha[V1_K], soft_cur[V1_K], f_cur[DAOE_NFEAT], soft_prev[V1_K], f_prev[DAOE_NFEAT];
    int32_t t, nacc, nmeta;
} ctrl_state_v1;

int daoe_opt_load_legacy_ctrl(daoe_opt *o, daoe_backend *be, const daoe_st_file *f, char *err, size_t errlen) {
    int64_t shp[1] = {(int64_t)sizeof(ctrl_state_v1)};
    const void *raw = daoe_st_get(f, "controller.state", "U8", 1, shp, err, errlen);
    if (!raw) return -1;
    /* a U8 tensor has no alignment in the file: copied into an aligned struct before reading its doubles */
    ctrl_state_v1 *v = malloc(sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory reading the controller state");
        return -1;
    }
    memcpy(v, raw, sizeof *v);
    /* its members are the first four of today's list, in the same order */
    static const char *const v1_names[V1_K] = {"sgd", "adam", "rmsprop", "lion"};
    daoe_ctrl_state s;
    memset(&s, 0, sizeof s);
    for (int j = 0; j < V1_K; j++) {
        int i = -1;
        for (int q = 0; q < DAOE_K; q++)
            if (!strcmp(daoe_member_names[q], v1_names[j])) i = q;
        if (i < 0) continue; /* a member this build no longer has: not one of this run's */
#define COPY_ROW(fl, dt, ty) memcpy(&s.fl[i], &v->fl[j], sizeof v->fl[j]);
        CTRL_V1_MEMBER_FIELDS(COPY_ROW)
#undef COPY_ROW
        /* not kept then: the output layer that produced alpha is taken as the current one
         * (the one-pass hidden controller of such a checkpoint resumes with that approximation) */
        memcpy(s.V_cur[i], v->V[j], sizeof v->V[j]);
        memcpy(s.V_prev[i], v->V[j], sizeof v->V[j]);
    }
#define COPY(fl, dt, ty) memcpy(&s.fl, &v->fl, sizeof v->fl);
    CTRL_FIELDS(COPY)
#undef COPY
    free(v);
    be->to_device(be, o->state, &s, sizeof s);
    return 0;
}

double daoe_schedule_factor(const daoe_config *c, long k, long T, long W) {
    if (W > 0 && k < W) return (double)(k + 1) / (double)W;
    if (c->schedule == DAOE_SCHED_CONSTANT) return 1.0;
    double span = (double)(T - W);
    if (span <= 0) return 1.0;
    return 0.5 * (1.0 + cos(M_PI * (double)(k - W) / span));
}

void daoe_step_consts_fill(const daoe_config *c, long t, int epoch, long T, long W, daoe_step_consts *sc) {
    memset(sc, 0, sizeof *sc);
    sc->t = (int32_t)t;
    sc->epoch = epoch;
    double s = daoe_schedule_factor(c, t - 1, T, W);
    for (int i = 0; i < DAOE_K; i++) sc->lr[i] = (float)(daoe_member_lr(c, i) * s);
    for (int i = 0; i < DAOE_K; i++)
        if ((c->members >> i) & 1u) daoe_rule_consts(i, c->hp[i], t, sc->mc[i]);
    sc->fe_bc1 = (float)(1.0 - pow(0.9, (double)t));
    sc->fe_bc2 = (float)(1.0 - pow(0.999, (double)t));
}
