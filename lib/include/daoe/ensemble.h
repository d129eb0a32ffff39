/* The optimizer ensemble: configuration, per-step constants, the buffers,
 * the reductions and the DAO-E controller. The controller is shared by the
 * CPU loop and the CUDA kernels (DAOE_HD); the members' update rules and the
 * fused per-element pass are private to the library (lib/core/rules.h, from
 * baselines/<name>.h and the list in members.h).
 *
 * A single optimizer is an ensemble of one member with alpha = 1 and no
 * controller.
 *
 * One pass per step (the controller is one step behind, SPEC 3.3): the pass at
 * step t applies alpha computed after pass t-1 and, on the way, produces the
 * reductions of step t:
 *   RED_GG      |g_t|^2
 *   RED_GV      sum(vhat - mhat^2) of the feature extractor's EMAs of raw g
 *   RED_DOT+i   g_t . d_i(t-1)        (d_i(t-1) kept in bfloat16)
 *   RED_DN+i    |d_i(t)|^2            (full precision, before rounding)
 * The controller then turns these into the hypergradient of alpha(t-1) and
 * the features of step t, and computes alpha(t+1). */
#ifndef DAOE_ENSEMBLE_H
#define DAOE_ENSEMBLE_H
#include <math.h>
#include <stdint.h>
#include <stddef.h>
#include "hd.h"
#include "members.h"

enum {
    DAOE_RED_GG = 0,
    DAOE_RED_GV = 1,
    DAOE_RED_DOT = 2,                   /* DAOE_K slots */
    DAOE_RED_DN = DAOE_RED_DOT + DAOE_K, /* DAOE_K slots */
    DAOE_NRED = DAOE_RED_DN + DAOE_K
};

/* Per-step batch statistics written by the ops (load_batch, xent). */
enum {
    DAOE_ST_LOSS = 0,    /* mean cross-entropy of the batch */
    DAOE_ST_CORRECT = 1, /* number of correct predictions */
    DAOE_ST_ENTROPY = 2, /* mean softmax entropy / ln 10 */
    DAOE_ST_XMEAN = 3,   /* mean of the normalised, augmented input batch */
    DAOE_ST_XVAR = 4,    /* its (population) variance */
    DAOE_ST_N = 5,       /* batch size */
    DAOE_NSTAT = 8
};

/* Features, SPEC 3.2 */
enum {
    DAOE_F_XMEAN = 0, DAOE_F_XVAR, DAOE_F_ENTROPY, DAOE_F_GNORM, DAOE_F_GVAR, DAOE_F_LDELTA,
    DAOE_F_PROGRESS, DAOE_NFEAT
};

typedef struct {
    unsigned members;   /* bit i set: member i present */
    int store_d;        /* keep d_i for the hypergradient (hypergrad controller) */
    int grad_ema;       /* keep the feature extractor's EMAs (grad_var feature) */
    uint64_t smasks;    /* bits 8i..8i+7: the state buffers member i keeps (set by daoe_opt_setup) */
    float hp[DAOE_K][DAOE_MEMBER_MAXHP]; /* each member's hyper-parameters, rows of its rule (config.hp) */
} daoe_opt_cfg;
#define DAOE_SMASK(smasks, i) ((unsigned)((smasks) >> (8 * (i))) & 0xFFu)

/* Written by the host before each step (kept in device memory on the GPU). */
typedef struct {
    int32_t t;          /* 1-based step number */
    int32_t epoch;      /* 0-based epoch, for the trace */
    float lr[DAOE_K];   /* member rate x schedule factor */
    float mc[DAOE_K][DAOE_MEMBER_MAXCONST]; /* each member's constants of the step (its rule's consts) */
    float fe_bc1, fe_bc2;      /* 1 - 0.9^t, 1 - 0.999^t (feature EMAs) */
} daoe_step_consts;

typedef struct {
    float *p;
    const float *g;
    float *st[DAOE_K][DAOE_MEMBER_MAXSTATE]; /* member i's state k (NULL: not kept) */
    float *fe_m, *fe_v;
    uint16_t *d[DAOE_K];
} daoe_opt_bufs;

/* ---------------------------------------------------------------- controller */
enum { DAOE_CTRL_NONE = 0, DAOE_CTRL_FIXED = 1, DAOE_CTRL_HYPERGRAD = 2 };

typedef struct {
    int rule;           /* DAOE_CTRL_* */
    int raw;            /* hypergradient signal: 0 cosine (default), 1 raw dot product */
    unsigned members;
    unsigned features;  /* bit f set: feature f enabled */
    int meta_every;     /* apply the accumulated meta-gradient every k steps */
    int total_steps;    /* T, for progress and the per-step meta rate */
    double nparams;     /* elements in the flat buffer (grad_var is a mean) */
    float tau;
    float meta_step;    /* meta_lr / total_steps */
    float alpha_ema;    /* 0: off */
    float alpha0[DAOE_K]; /* starting (and, for fixed, permanent) alpha */
    int hidden;         /* units of the hidden layer (--controller-hidden), 0: linear controller */
    int two_pass;       /* 1: reductions, then the update with this step's alpha (--ctrl-pass two) */
} daoe_ctrl_cfg;

/* what opt_step computes: the fused update (with reductions), or the reductions alone */
enum { DAOE_PASS_UPDATE = 0, DAOE_PASS_REDUCE = 1 };
/* what ctrl_step does: a one-pass controller step, or the halves around the update pass */
enum { DAOE_CTRL_STEP = 0, DAOE_CTRL_PRE = 1, DAOE_CTRL_POST = 2 };

#define DAOE_CTRL_MAXH 32 /* most hidden units */

typedef struct {
    /* linear: z = W f + b; with a hidden layer: z = V tanh(W1 f + b1) + b */
    double W[DAOE_K][DAOE_NFEAT], b[DAOE_K];
    double gW[DAOE_K][DAOE_NFEAT], gb[DAOE_K];  /* accumulated meta-gradients */
    double W1[DAOE_CTRL_MAXH][DAOE_NFEAT], b1[DAOE_CTRL_MAXH], V[DAOE_K][DAOE_CTRL_MAXH];
    double gW1[DAOE_CTRL_MAXH][DAOE_NFEAT], gb1[DAOE_CTRL_MAXH], gV[DAOE_K][DAOE_CTRL_MAXH];
    double a_cur[DAOE_CTRL_MAXH], a_prev[DAOE_CTRL_MAXH]; /* hidden activations that produced soft_cur/prev */
    double V_cur[DAOE_K][DAOE_CTRL_MAXH], V_prev[DAOE_K][DAOE_CTRL_MAXH]; /* the output layer that produced them */
    double wn[DAOE_NFEAT], wmean[DAOE_NFEAT], wm2[DAOE_NFEAT]; /* Welford */
    double loss_ema;
    double dn_prev[DAOE_K];          /* |d_i(t-1)|^2 */
    float alpha[DAOE_K];             /* applied by the next pass */
    float soft_cur[DAOE_K];          /* softmax that produced alpha */
    float f_cur[DAOE_NFEAT];         /* standardised features that produced alpha */
    float soft_prev[DAOE_K];         /* the same one step earlier */
    float f_prev[DAOE_NFEAT];
    int32_t t;                       /* passes done */
    int32_t nacc;                    /* meta-gradients accumulated (finite ones) */
    int32_t nmeta;                   /* steps since the last meta step */
} daoe_ctrl_state;

/* One row of the per-step trace (alpha.csv). */
typedef struct {
    int32_t t, epoch;
    float loss, correct, n;
    float feat[DAOE_NFEAT];     /* raw values, NaN where undefined */
    float fstd[DAOE_NFEAT];     /* standardised inputs of the controller */
    float alpha[DAOE_K];        /* alpha applied at this step */
    float dnorm[DAOE_K];        /* |d_i(t)| */
    float share[DAOE_K];        /* alpha_i|d_i| / sum_j alpha_j|d_j| */
    float h[DAOE_K];            /* hypergradient signal for alpha(t-1) */
} daoe_trace;

DAOE_HD static inline void daoe_ctrl_init(const daoe_ctrl_cfg *cfg, daoe_ctrl_state *s) {
    unsigned char *raw = (unsigned char *)s;
    for (size_t i = 0; i < sizeof(*s); i++) raw[i] = 0;
    for (int i = 0; i < DAOE_K; i++) {
        s->alpha[i] = cfg->alpha0[i];
        s->soft_cur[i] = s->soft_prev[i] = cfg->alpha0[i];
    }
}

DAOE_HD static inline void daoe_softmax(const daoe_ctrl_cfg *cfg, const double *z, float *out) {
    double mx = -1e300, sum = 0.0, e[DAOE_K];
    for (int i = 0; i < DAOE_K; i++)
        if ((cfg->members >> i) & 1u) mx = z[i] > mx ? z[i] : mx;
    for (int i = 0; i < DAOE_K; i++) {
        e[i] = ((cfg->members >> i) & 1u) ? exp((z[i] - mx) / cfg->tau) : 0.0;
        sum += e[i];
    }
    for (int i = 0; i < DAOE_K; i++) out[i] = (float)(e[i] / sum);
}

/* The controller's logits z for standardised features f; a (hidden
 * activations, hidden > 0 only) is written when not NULL. */
DAOE_HD static inline void daoe_ctrl_logits(const daoe_ctrl_cfg *cfg, const daoe_ctrl_state *s, const float *f,
                                            double *z, double *a) {
    double act[DAOE_CTRL_MAXH];
    for (int j = 0; j < cfg->hidden; j++) {
        double u = s->b1[j];
        for (int k = 0; k < DAOE_NFEAT; k++) u += s->W1[j][k] * f[k];
        act[j] = tanh(u);
        if (a) a[j] = act[j];
    }
    for (int i = 0; i < DAOE_K; i++) {
        z[i] = s->b[i];
        if (cfg->hidden > 0)
            for (int j = 0; j < cfg->hidden; j++) z[i] += s->V[i][j] * act[j];
        else
            for (int k = 0; k < DAOE_NFEAT; k++) z[i] += s->W[i][k] * f[k];
    }
}

/* The pieces of a controller step (one pass or two, SPEC 3.3). */

/* the trace row's header of step s->t + 1; returns that step number */
DAOE_HD static inline int daoe_ctrl_begin(daoe_ctrl_state *s, const float *st, int32_t epoch, daoe_trace *tr) {
    int t = ++s->t; /* this pass's step number, 1-based */
    tr->t = t;
    tr->epoch = epoch;
    tr->loss = st[DAOE_ST_LOSS];
    tr->correct = st[DAOE_ST_CORRECT];
    tr->n = st[DAOE_ST_N];
    for (int i = 0; i < DAOE_K; i++) {
        tr->alpha[i] = s->alpha[i];
        tr->h[i] = (float)NAN;
    }
    return t;
}

/* the meta-gradient of the alpha that d_i(t-1) was applied with: dL_t/dalpha_i =
 * g_t . d_i(t-1), through the softmax soft that produced it (from standardised
 * features fin, hidden activations a and output layer Vp: everything as it was
 * when that alpha was produced) to the weights; a meta step every meta_every */
DAOE_HD static inline void daoe_ctrl_meta(const daoe_ctrl_cfg *cfg, daoe_ctrl_state *s, const double *red,
                                          const float *soft, const float *fin, const double *a,
                                          const double (*Vp)[DAOE_CTRL_MAXH], daoe_trace *tr) {
    double gnorm = sqrt(red[DAOE_RED_GG]);
    if (cfg->rule == DAOE_CTRL_HYPERGRAD && s->t >= 2) {
        double h[DAOE_K], hbar = 0.0;
        for (int i = 0; i < DAOE_K; i++) {
            h[i] = 0.0;
            if (!((cfg->members >> i) & 1u)) continue;
            double dot = red[DAOE_RED_DOT + i];
            if (cfg->raw) h[i] = dot;
            else {
                double den = gnorm * sqrt(s->dn_prev[i]);
                h[i] = den > 0.0 ? dot / den : 0.0;
            }
            tr->h[i] = (float)h[i];
            hbar += soft[i] * h[i];
        }
        /* back through the softmax; alpha-ema scales alpha's dependence on z by (1 - ema) */
        double dz[DAOE_K], ok = 1.0;
        for (int i = 0; i < DAOE_K; i++) {
            dz[i] = ((cfg->members >> i) & 1u) ? soft[i] * (h[i] - hbar) / cfg->tau : 0.0;
            if (cfg->alpha_ema > 0.0f) dz[i] *= 1.0 - (double)cfg->alpha_ema;
            if (!(dz[i] - dz[i] == 0.0)) ok = 0.0; /* NaN or Inf: this step gives no meta-gradient */
        }
        if (ok != 0.0) {
            for (int i = 0; i < DAOE_K; i++) s->gb[i] += dz[i];
            if (cfg->hidden > 0) {
                /* z = V a + b, a = tanh(W1 f + b1): dV = dz a^T, da = V^T dz, du = da (1 - a^2) */
                for (int j = 0; j < cfg->hidden; j++) {
                    double da = 0.0, aj = a[j];
                    for (int i = 0; i < DAOE_K; i++) {
                        s->gV[i][j] += dz[i] * aj;
                        da += Vp[i][j] * dz[i];
                    }
                    double du = da * (1.0 - aj * aj);
                    s->gb1[j] += du;
                    for (int f = 0; f < DAOE_NFEAT; f++) s->gW1[j][f] += du * fin[f];
                }
            } else {
                for (int i = 0; i < DAOE_K; i++)
                    for (int f = 0; f < DAOE_NFEAT; f++) s->gW[i][f] += dz[i] * fin[f];
            }
            s->nacc++;
        }
        /* every meta_every steps: one step along the mean of the accumulated meta-gradients */
        if (++s->nmeta >= cfg->meta_every) {
            double step = s->nacc > 0 ? cfg->meta_step / (double)s->nacc : 0.0;
            for (int i = 0; i < DAOE_K; i++) {
                s->b[i] -= step * s->gb[i];
                s->gb[i] = 0.0;
                for (int f = 0; f < DAOE_NFEAT; f++) {
                    s->W[i][f] -= step * s->gW[i][f];
                    s->gW[i][f] = 0.0;
                }
                for (int j = 0; j < cfg->hidden; j++) {
                    s->V[i][j] -= step * s->gV[i][j];
                    s->gV[i][j] = 0.0;
                }
            }
            for (int j = 0; j < cfg->hidden; j++) {
                s->b1[j] -= step * s->gb1[j];
                s->gb1[j] = 0.0;
                for (int f = 0; f < DAOE_NFEAT; f++) {
                    s->W1[j][f] -= step * s->gW1[j][f];
                    s->gW1[j][f] = 0.0;
                }
            }
            s->nacc = 0;
            s->nmeta = 0;
        }
    }
}

/* the raw features of step t into the trace, standardised into fs */
DAOE_HD static inline void daoe_ctrl_features(const daoe_ctrl_cfg *cfg, daoe_ctrl_state *s, const double *red,
                                              const float *st, int t, float *fs, daoe_trace *tr) {
    const double nan_ = NAN;
    double gnorm = sqrt(red[DAOE_RED_GG]);
    double raw[DAOE_NFEAT];
    int def[DAOE_NFEAT];
    raw[DAOE_F_XMEAN] = st[DAOE_ST_XMEAN];
    raw[DAOE_F_XVAR] = st[DAOE_ST_XVAR];
    raw[DAOE_F_ENTROPY] = st[DAOE_ST_ENTROPY];
    raw[DAOE_F_GNORM] = log(gnorm);
    raw[DAOE_F_GVAR] = t >= 2 ? log(red[DAOE_RED_GV] / cfg->nparams) : nan_;
    {
        double loss = st[DAOE_ST_LOSS];
        if (t == 1) s->loss_ema = loss; /* the EMA starts at the first loss: step 1's delta is 0 */
        raw[DAOE_F_LDELTA] = (s->loss_ema - loss) / s->loss_ema;
        s->loss_ema = 0.9 * s->loss_ema + 0.1 * loss;
    }
    raw[DAOE_F_PROGRESS] = cfg->total_steps > 0 ? 2.0 * (t - 1) / cfg->total_steps - 1.0 : 0.0;
    for (int f = 0; f < DAOE_NFEAT; f++) {
        def[f] = ((cfg->features >> f) & 1u) && raw[f] == raw[f] && raw[f] > -1e300 && raw[f] < 1e300;
        tr->feat[f] = (float)raw[f];
    }
    /* 3. standardise (Welford, value first), clip; progress is fed raw */
    for (int f = 0; f < DAOE_NFEAT; f++) {
        fs[f] = 0.0f;
        if (!def[f]) continue;
        if (f == DAOE_F_PROGRESS) { fs[f] = (float)raw[f]; continue; }
        s->wn[f] += 1.0;
        double delta = raw[f] - s->wmean[f];
        s->wmean[f] += delta / s->wn[f];
        s->wm2[f] += delta * (raw[f] - s->wmean[f]);
        if (s->wn[f] >= 2.0) {
            double z = (raw[f] - s->wmean[f]) / sqrt(s->wm2[f] / s->wn[f] + 1e-12);
            fs[f] = (float)(z > 5.0 ? 5.0 : (z < -5.0 ? -5.0 : z));
        }
    }
    for (int f = 0; f < DAOE_NFEAT; f++) tr->fstd[f] = fs[f];
}

/* the norms |d_i(t)| and the shares of the update applied with s->alpha */
DAOE_HD static inline void daoe_ctrl_norms(const daoe_ctrl_cfg *cfg, daoe_ctrl_state *s, const double *red,
                                           daoe_trace *tr) {
    double tot = 0.0;
    for (int i = 0; i < DAOE_K; i++) {
        double dn = sqrt(red[DAOE_RED_DN + i]);
        tr->dnorm[i] = ((cfg->members >> i) & 1u) ? (float)dn : 0.0f;
        tot += s->alpha[i] * dn;
    }
    for (int i = 0; i < DAOE_K; i++)
        tr->share[i] = ((cfg->members >> i) & 1u) && tot > 0.0 ? (float)(s->alpha[i] * tr->dnorm[i] / tot) : 0.0f;
    for (int i = 0; i < DAOE_K; i++) s->dn_prev[i] = red[DAOE_RED_DN + i];
}

/* alpha from standardised features fs (hypergrad; fixed keeps alpha0) */
DAOE_HD static inline void daoe_ctrl_next_alpha(const daoe_ctrl_cfg *cfg, daoe_ctrl_state *s, const float *fs) {
    for (int f = 0; f < DAOE_NFEAT; f++) s->f_cur[f] = fs[f];
    for (int i = 0; i < DAOE_K; i++)
        for (int j = 0; j < cfg->hidden; j++) s->V_cur[i][j] = s->V[i][j];
    if (cfg->rule == DAOE_CTRL_HYPERGRAD) {
        double z[DAOE_K];
        daoe_ctrl_logits(cfg, s, fs, z, s->a_cur);
        daoe_softmax(cfg, z, s->soft_cur);
        for (int i = 0; i < DAOE_K; i++)
            s->alpha[i] = cfg->alpha_ema > 0.0f
                              ? cfg->alpha_ema * s->alpha[i] + (1.0f - cfg->alpha_ema) * s->soft_cur[i]
                              : s->soft_cur[i];
    }
}

/* One pass (the default): after pass t, which applied alpha(t) computed from
 * batch t-1, consume its reductions and batch statistics: the meta-gradient of
 * alpha(t-1) (one step behind), the trace row of step t, alpha(t+1) from batch t. */
DAOE_HD static inline void daoe_ctrl_update(const daoe_ctrl_cfg *cfg, daoe_ctrl_state *s,
                                            const double *red, const float *st, int32_t epoch,
                                            daoe_trace *tr) {
    int t = daoe_ctrl_begin(s, st, epoch, tr);
    daoe_ctrl_meta(cfg, s, red, s->soft_prev, s->f_prev, s->a_prev, s->V_prev, tr);
    float fs[DAOE_NFEAT];
    daoe_ctrl_features(cfg, s, red, st, t, fs, tr);
    daoe_ctrl_norms(cfg, s, red, tr);
    for (int i = 0; i < DAOE_K; i++) s->soft_prev[i] = s->soft_cur[i];
    for (int f = 0; f < DAOE_NFEAT; f++) s->f_prev[f] = s->f_cur[f];
    for (int j = 0; j < cfg->hidden; j++) s->a_prev[j] = s->a_cur[j];
    for (int i = 0; i < DAOE_K; i++)
        for (int j = 0; j < cfg->hidden; j++) s->V_prev[i][j] = s->V_cur[i][j];
    daoe_ctrl_next_alpha(cfg, s, fs);
}

/* Two passes (--ctrl-pass two), no lag: after the reduction pass of step t
 * (g_t . d_i(t-1), |g_t|, grad_var; no update), the meta-gradient of alpha(t-1)
 * through the softmax that produced it (still soft_cur), then alpha(t) from
 * this batch's features, applied by the update pass that follows. */
DAOE_HD static inline void daoe_ctrl_pre(const daoe_ctrl_cfg *cfg, daoe_ctrl_state *s, const double *red,
                                         const float *st, int32_t epoch, daoe_trace *tr) {
    int t = daoe_ctrl_begin(s, st, epoch, tr);
    daoe_ctrl_meta(cfg, s, red, s->soft_cur, s->f_cur, s->a_cur, s->V_cur, tr);
    float fs[DAOE_NFEAT];
    daoe_ctrl_features(cfg, s, red, st, t, fs, tr);
    daoe_ctrl_next_alpha(cfg, s, fs);
    for (int i = 0; i < DAOE_K; i++) tr->alpha[i] = s->alpha[i];
}

/* ... and after the update pass of step t: the norms and shares of its proposals
 * into the same trace row, |d_i(t)| kept for the next step's cosine. */
DAOE_HD static inline void daoe_ctrl_post(const daoe_ctrl_cfg *cfg, daoe_ctrl_state *s, const double *red,
                                          daoe_trace *tr) {
    daoe_ctrl_norms(cfg, s, red, tr);
}
#endif
