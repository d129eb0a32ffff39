/* CPU backend, optimizer: the fused pass over the flat buffers
 * (daoe_fused_elem_k from optim.h, specialised for the common member sets)
 * with its reductions, and the controller step (daoe_ctrl_update). The update
 * rules themselves are in baselines/ and lib/include/daoe/optim.h, not here. */
#include "cpu.h"
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
 * change inside the loop */
_Static_assert(DAOE_K == 4 && DAOE_NRED == 10, "OPT_CHUNK_BODY spells out the four members and ten reductions");
#define OPT_CHUNK_BODY(CALL)                                                                                    \
    const daoe_opt_bufs bl = *b;                                                                                \
    const daoe_step_consts scl = *sc;                                                                           \
    const daoe_opt_cfg cl = *cfg;                                                                               \
    const float al[DAOE_K] = {alpha[0], alpha[1], alpha[2], alpha[3]};                                          \
    (void)al; /* the reduction pass applies no alpha */                                                     \
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, s8 = 0, s9 = 0;                      \
    _Pragma("omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7, s8, s9)") for (size_t j = lo; j < hi; j++) { \
        daoe_contrib r = CALL;                                                                                  \
        s0 += r.gg, s1 += r.gv;                                                                                 \
        s2 += r.dot[0], s3 += r.dot[1], s4 += r.dot[2], s5 += r.dot[3];                                         \
        s6 += r.dn[0], s7 += r.dn[1], s8 += r.dn[2], s9 += r.dn[3];                                             \
    }                                                                                                           \
    a[0] = s0, a[1] = s1, a[2] = s2, a[3] = s3, a[4] = s4, a[5] = s5, a[6] = s6, a[7] = s7, a[8] = s8, a[9] = s9;

typedef void (*opt_block_fn)(const daoe_opt_cfg *, const daoe_step_consts *, const float *, const daoe_opt_bufs *,
                             size_t, size_t, float *);

/* specialisations for the default configurations (SGD with momentum, plain RMSProp) */
#define OPT_SPEC(NAME, MEMBERS, STORE_D, EMA)                                                                    \
    static void NAME(const daoe_opt_cfg *cfg, const daoe_step_consts *sc, const float *alpha,                    \
                     const daoe_opt_bufs *b, size_t lo, size_t hi, float *a) {                                   \
        OPT_CHUNK_BODY(daoe_fused_elem_k(&cl, (MEMBERS), (STORE_D), (EMA), 1, 0, 0, &scl, al, &bl, j))          \
    }
OPT_SPEC(opt_all_hyper, 0xFu, 1, 1)
OPT_SPEC(opt_all_hyper_noema, 0xFu, 1, 0)
OPT_SPEC(opt_all_fixed, 0xFu, 0, 1)
OPT_SPEC(opt_all_fixed_noema, 0xFu, 0, 0)
OPT_SPEC(opt_sgd, 1u << DAOE_SGD, 0, 1)
OPT_SPEC(opt_sgd_noema, 1u << DAOE_SGD, 0, 0)
OPT_SPEC(opt_adam, 1u << DAOE_ADAM, 0, 1)
OPT_SPEC(opt_adam_noema, 1u << DAOE_ADAM, 0, 0)
OPT_SPEC(opt_rms, 1u << DAOE_RMSPROP, 0, 1)
OPT_SPEC(opt_rms_noema, 1u << DAOE_RMSPROP, 0, 0)
OPT_SPEC(opt_lion, 1u << DAOE_LION, 0, 1)
OPT_SPEC(opt_lion_noema, 1u << DAOE_LION, 0, 0)

static void opt_generic(const daoe_opt_cfg *cfg, const daoe_step_consts *sc, const float *alpha,
                        const daoe_opt_bufs *b, size_t lo, size_t hi, float *a) {
    OPT_CHUNK_BODY(daoe_fused_elem_k(&cl, cl.members, cl.store_d, cl.grad_ema, cl.sgd_buf, cl.rms_gavg, cl.rms_buf,
                                     &scl, al, &bl, j))
}

/* the reduction pass of the two-pass controller: nothing stored */
static void opt_reduce(const daoe_opt_cfg *cfg, const daoe_step_consts *sc, const float *alpha,
                       const daoe_opt_bufs *b, size_t lo, size_t hi, float *a) {
    OPT_CHUNK_BODY(daoe_reduce_elem(&cl, &scl, &bl, j))
}

static opt_block_fn pick_opt(const daoe_opt_cfg *c) {
    static const struct { unsigned m; int sd, ema; opt_block_fn f; } tab[] = {
        {0xFu, 1, 1, opt_all_hyper}, {0xFu, 1, 0, opt_all_hyper_noema}, {0xFu, 0, 1, opt_all_fixed},
        {0xFu, 0, 0, opt_all_fixed_noema}, {1u << DAOE_SGD, 0, 1, opt_sgd}, {1u << DAOE_SGD, 0, 0, opt_sgd_noema},
        {1u << DAOE_ADAM, 0, 1, opt_adam}, {1u << DAOE_ADAM, 0, 0, opt_adam_noema},
        {1u << DAOE_RMSPROP, 0, 1, opt_rms}, {1u << DAOE_RMSPROP, 0, 0, opt_rms_noema},
        {1u << DAOE_LION, 0, 1, opt_lion}, {1u << DAOE_LION, 0, 0, opt_lion_noema}};
    int sgd_ok = !(c->members & (1u << DAOE_SGD)) || c->sgd_buf;
    if (!sgd_ok || c->rms_gavg || c->rms_buf) return opt_generic;
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
        if (tab[i].m == c->members && tab[i].sd == !!c->store_d && tab[i].ema == !!c->grad_ema) return tab[i].f;
    return opt_generic;
}

void cpu_opt_step(daoe_backend *be, daoe_opt *o, int pass) {
    (void)be;
    const size_t n = o->n, nblk = (n + OPT_BLOCK - 1) / OPT_BLOCK;
    double *part = daoe_xcalloc(nblk * DAOE_NRED, sizeof(double));
    const daoe_opt_cfg cfg = o->cfg;
    const daoe_step_consts sc = *o->consts;
    float alpha[DAOE_K];
    memcpy(alpha, o->state->alpha, sizeof alpha);
    const daoe_opt_bufs b = o->bufs;
    opt_block_fn f = pass == DAOE_PASS_REDUCE     ? opt_reduce
                     : getenv("DAOE_OPT_GENERIC") ? opt_generic
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
