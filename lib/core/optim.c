/* Optimizer setup on a backend: state buffers for the chosen members, the
 * controller, the learning-rate schedule and the per-step constants. The
 * update rules themselves are in baselines/ and optim.h. */
#include "daoe/train.h"
#include "daoe/util.h"
#include "daoe/rng.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static float *zalloc(daoe_backend *be, size_t n) { return be->alloc(be, n * sizeof(float)); }

void daoe_opt_setup(daoe_opt *o, daoe_backend *be, const daoe_config *cfg, float *params, float *grads,
                    size_t n, size_t nreal, int total_steps, int trace_cap) {
    memset(o, 0, sizeof *o);
    o->n = n;
    o->cfg = cfg->opt;
    o->cfg.members = cfg->members;
    o->cfg.store_d = cfg->controller == DAOE_CTRL_HYPERGRAD;
    o->cfg.grad_ema = (cfg->features >> DAOE_F_GVAR) & 1u;
    unsigned m = cfg->members;
    o->bufs.p = params;
    o->bufs.g = grads;
    if ((m >> DAOE_SGD) & 1u && cfg->opt.sgd.momentum != 0.0f) o->bufs.sgd_buf = zalloc(be, n);
    if ((m >> DAOE_ADAM) & 1u) {
        o->bufs.adam_m = zalloc(be, n);
        o->bufs.adam_v = zalloc(be, n);
    }
    if ((m >> DAOE_RMSPROP) & 1u) {
        o->bufs.rms_v = zalloc(be, n);
        if (cfg->opt.rms.centered) o->bufs.rms_gavg = zalloc(be, n);
        if (cfg->opt.rms.momentum > 0.0f) o->bufs.rms_buf = zalloc(be, n);
    }
    if ((m >> DAOE_LION) & 1u) o->bufs.lion_m = zalloc(be, n);
    o->cfg.sgd_buf = o->bufs.sgd_buf != NULL;
    o->cfg.rms_gavg = o->bufs.rms_gavg != NULL;
    o->cfg.rms_buf = o->bufs.rms_buf != NULL;
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
    daoe_state_buf l[16];
    int n = daoe_opt_state_list(o, l, 16);
    for (int i = 0; i < n; i++)
        if (strcmp(l[i].name, "controller.state")) be->free(be, l[i].ptr);
    be->free(be, o->state);
    be->free(be, o->consts);
    be->free(be, o->red);
    be->free(be, o->stats);
    be->free(be, o->trace);
    memset(o, 0, sizeof *o);
}

int daoe_opt_state_list(const daoe_opt *o, daoe_state_buf *out, int max) {
    int k = 0;
    const size_t f = o->n * sizeof(float), h = o->n * sizeof(uint16_t);
#define ADD(nm, p, b, dt)                                                      \
    do {                                                                       \
        if ((p) && k < max) out[k++] = (daoe_state_buf){nm, (void *)(p), b, dt}; \
    } while (0)
    ADD("optim.sgd.momentum_buffer", o->bufs.sgd_buf, f, "F32");
    ADD("optim.adam.exp_avg", o->bufs.adam_m, f, "F32");
    ADD("optim.adam.exp_avg_sq", o->bufs.adam_v, f, "F32");
    ADD("optim.rmsprop.square_avg", o->bufs.rms_v, f, "F32");
    ADD("optim.rmsprop.grad_avg", o->bufs.rms_gavg, f, "F32");
    ADD("optim.rmsprop.momentum_buffer", o->bufs.rms_buf, f, "F32");
    ADD("optim.lion.exp_avg", o->bufs.lion_m, f, "F32");
    ADD("optim.features.grad_ema_m", o->bufs.fe_m, f, "F32");
    ADD("optim.features.grad_ema_v", o->bufs.fe_v, f, "F32");
    static char dn[DAOE_K][48];
    for (int i = 0; i < DAOE_K; i++) {
        if (!dn[i][0]) snprintf(dn[i], sizeof dn[i], "optim.daoe.d_%s", daoe_member_names[i]);
        ADD(dn[i], o->bufs.d[i], h, "BF16");
    }
    ADD("controller.state", o->state, sizeof(daoe_ctrl_state), "U8");
#undef ADD
    return k;
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
    sc->adam_bc1 = (float)(1.0 - pow((double)c->opt.adam.beta1, (double)t));
    sc->adam_bc2s = (float)sqrt(1.0 - pow((double)c->opt.adam.beta2, (double)t));
    sc->fe_bc1 = (float)(1.0 - pow(0.9, (double)t));
    sc->fe_bc2 = (float)(1.0 - pow(0.999, (double)t));
}
