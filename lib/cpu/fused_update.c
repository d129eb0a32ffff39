/* CPU backend, optimizer: the fused pass over the flat buffers
 * (daoe_fused_elem_k from lib/core/rules.h, specialised for the common member sets)
 * with its reductions, and the controller step (daoe_ctrl_update). The update
 * rules themselves are in baselines/ (via lib/core/rules.h), not here. */
#include "cpu.h"
#include "rules.h"
#include "daoe/util.h"
#include <stdlib.h>
#include <string.h>

#define OPT_BLOCK 65536
#define OPT_CHUNK 512

/* The fused pass in chunks of OPT_CHUNK elements: float sums within a chunk
 * (vectorised), double across chunks. Specialisations pass the member set and
 * flags as constants, so the per-element branches fold away and the loop
 * vectorises; a generic instantiation covers the rest. */
/* one chunk, float sums into a[] (the caller adds chunks in double); local
 * copies of the configuration and pointers let the compiler see they do not
 * change inside the loop. One float accumulator per reduction (gg, gv, and a
 * dot and a dn per member), named so that omp simd reduces each. Always
 * inlined into the specialisations below, where reduce, m, sd, ema and sms
 * are constants. */
#define ACC_DECL_(ID, N, d) float dot_##ID = 0, dn_##ID = 0;
#define ACC_NAMES_(ID, N, d) , dot_##ID, dn_##ID
#define ACC_ADD_(ID, N, d) dot_##ID += r.dot[DAOE_##ID], dn_##ID += r.dn[DAOE_##ID];
#define ACC_OUT_(ID, N, d) a[DAOE_RED_DOT + DAOE_##ID] = dot_##ID, a[DAOE_RED_DN + DAOE_##ID] = dn_##ID;
static DAOE_INLINE void opt_chunk(const daoe_opt_cfg *cfg, const daoe_step_consts *sc, const float *alpha,
                                  const daoe_opt_bufs *b, size_t lo, size_t hi, float *a, const int reduce,
                                  const unsigned m, const int sd, const int ema, const uint64_t sms) {
    const daoe_opt_bufs bl = *b;
    const daoe_step_consts scl = *sc;
    const daoe_opt_cfg cl = *cfg;
    float al[DAOE_K];
    for (int i = 0; i < DAOE_K; i++) al[i] = alpha[i];
    float gg = 0, gv = 0;
    DAOE_MEMBERS(ACC_DECL_)
    _Pragma(DAOE_STR(omp simd reduction(+ : gg, gv DAOE_MEMBERS(ACC_NAMES_)))) for (size_t j = lo; j < hi; j++) {
        daoe_contrib r = reduce ? daoe_reduce_elem(&cl, &scl, &bl, j)
                                : daoe_fused_elem_k(&cl, m, sd, ema, sms, &scl, al, &bl, j);
        gg += r.gg, gv += r.gv;
        DAOE_MEMBERS(ACC_ADD_)
    }
    a[DAOE_RED_GG] = gg, a[DAOE_RED_GV] = gv;
    DAOE_MEMBERS(ACC_OUT_)
}

typedef void (*opt_block_fn)(const daoe_opt_cfg *, const daoe_step_consts *, const float *, const daoe_opt_bufs *,
                             size_t, size_t, float *);

/* specialisations for the default configurations: the default mixture and each member alone, with
 * their buffers at the default settings (SGD with momentum, plain RMSProp) */
#define OPT_SPEC(NAME, MEMBERS, STORE_D, EMA, SMASKS)                                                            \
    static void NAME(const daoe_opt_cfg *cfg, const daoe_step_consts *sc, const float *alpha,                    \
                     const daoe_opt_bufs *b, size_t lo, size_t hi, float *a) {                                   \
        opt_chunk(cfg, sc, alpha, b, lo, hi, a, 0, (MEMBERS), (STORE_D), (EMA), (SMASKS));                       \
    }
OPT_SPEC(opt_all_hyper, DAOE_DEFAULT_MEMBERS, 1, 1, DAOE_DEFAULT_MIXTURE_SMASKS)
OPT_SPEC(opt_all_hyper_noema, DAOE_DEFAULT_MEMBERS, 1, 0, DAOE_DEFAULT_MIXTURE_SMASKS)
OPT_SPEC(opt_all_fixed, DAOE_DEFAULT_MEMBERS, 0, 1, DAOE_DEFAULT_MIXTURE_SMASKS)
OPT_SPEC(opt_all_fixed_noema, DAOE_DEFAULT_MEMBERS, 0, 0, DAOE_DEFAULT_MIXTURE_SMASKS)
#define ALONE_SMASKS_(ID, N) ((uint64_t)DAOE_RULE_DEFAULT_SMASK(N) << (8 * DAOE_##ID))
#define ALONE_SPEC_(ID, N, d)                                                                                    \
    OPT_SPEC(opt_##N, 1u << DAOE_##ID, 0, 1, ALONE_SMASKS_(ID, N))                                              \
    OPT_SPEC(opt_##N##_noema, 1u << DAOE_##ID, 0, 0, ALONE_SMASKS_(ID, N))
DAOE_MEMBERS(ALONE_SPEC_)

static void opt_generic(const daoe_opt_cfg *cfg, const daoe_step_consts *sc, const float *alpha,
                        const daoe_opt_bufs *b, size_t lo, size_t hi, float *a) {
    opt_chunk(cfg, sc, alpha, b, lo, hi, a, 0, cfg->members, cfg->store_d, cfg->grad_ema, cfg->smasks);
}

/* the reduction pass of the two-pass controller: nothing stored */
static void opt_reduce(const daoe_opt_cfg *cfg, const daoe_step_consts *sc, const float *alpha,
                       const daoe_opt_bufs *b, size_t lo, size_t hi, float *a) {
    opt_chunk(cfg, sc, alpha, b, lo, hi, a, 1, 0, 0, 0, 0);
}

static opt_block_fn pick_opt(const daoe_opt_cfg *c) {
#define ALONE_ROW_(ID, N, d) {1u << DAOE_##ID, 0, 1, opt_##N}, {1u << DAOE_##ID, 0, 0, opt_##N##_noema},
    static const struct { unsigned m; int sd, ema; opt_block_fn f; } tab[] = {
        {DAOE_DEFAULT_MEMBERS, 1, 1, opt_all_hyper}, {DAOE_DEFAULT_MEMBERS, 1, 0, opt_all_hyper_noema},
        {DAOE_DEFAULT_MEMBERS, 0, 1, opt_all_fixed}, {DAOE_DEFAULT_MEMBERS, 0, 0, opt_all_fixed_noema},
        DAOE_MEMBERS(ALONE_ROW_)};
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
        if (tab[i].m == c->members && tab[i].sd == !!c->store_d && tab[i].ema == !!c->grad_ema &&
            c->smasks == daoe_smasks_of(tab[i].m))
            return tab[i].f;
    return opt_generic;
}

void cpu_opt_step(daoe_backend *be, daoe_opt *o, int pass) {
    const cpu_impl *im = be->impl;
    const size_t n = o->n, nblk = (n + OPT_BLOCK - 1) / OPT_BLOCK;
    double *part = daoe_xcalloc(nblk * DAOE_NRED, sizeof(double));
    const daoe_opt_cfg cfg = o->cfg;
    const daoe_step_consts sc = *o->consts;
    float alpha[DAOE_K];
    memcpy(alpha, o->state->alpha, sizeof alpha);
    const daoe_opt_bufs b = o->bufs;
    opt_block_fn f = pass == DAOE_PASS_REDUCE     ? opt_reduce
                     : im->opt_generic            ? opt_generic
                                                  : pick_opt(&cfg);
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nblk; blk++) {
        double acc[DAOE_NRED] = {0};
        size_t lo = blk * OPT_BLOCK, hi = lo + OPT_BLOCK < n ? lo + OPT_BLOCK : n;
        for (size_t c0 = lo; c0 < hi; c0 += OPT_CHUNK) {
            float a[DAOE_NRED] = {0};
            f(&cfg, &sc, alpha, &b, c0, c0 + OPT_CHUNK < hi ? c0 + OPT_CHUNK : hi, a);
            for (int r = 0; r < DAOE_NRED; r++) acc[r] += a[r];
        }
        memcpy(part + blk * DAOE_NRED, acc, sizeof acc);
    }
    for (int r = 0; r < DAOE_NRED; r++) {
        double s = 0.0;
        for (size_t blk = 0; blk < nblk; blk++) s += part[blk * DAOE_NRED + r];
        o->red[r] = s;
    }
    free(part);
}

void cpu_ctrl_step(daoe_backend *be, daoe_opt *o, int phase) {
    (void)be;
    daoe_ctrl_state *s = o->state;
    /* the row of the step that begins (STEP, PRE) or ends (POST) */
    daoe_trace *tr = &o->trace[(phase == DAOE_CTRL_POST ? s->t - 1 : s->t) % o->trace_cap];
    if (phase == DAOE_CTRL_PRE) daoe_ctrl_pre(&o->ctrl, s, o->red, o->stats, o->consts->epoch, tr);
    else if (phase == DAOE_CTRL_POST) daoe_ctrl_post(&o->ctrl, s, o->red, tr);
    else daoe_ctrl_update(&o->ctrl, s, o->red, o->stats, o->consts->epoch, tr);
}
