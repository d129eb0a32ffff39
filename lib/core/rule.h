/* What an update rule's file (baselines/<name>.h) is written with, and what
 * it must define. For a rule called N (its line in daoe/members.h):
 *
 *   DAOE_RULE_N_DISPLAY      its name in tables and figures ("SGD")
 *   DAOE_RULE_N_HPARAMS(HP)  its hyper-parameters, one row each:
 *                              HP(N, field, type, default, lo, hi, help)
 *                            type FLOAT, FLAG (a switch) or WDMODE (coupled|decoupled);
 *                            the flag is --N-<field> ('_' written '-'), the config.json key
 *                            member_settings.N.<field>; write the source of each default
 *                            beside it. Every rule has lr and wd_mode.
 *   DAOE_RULE_N_STATE(S)     its state buffers per parameter, one row each:
 *                              S(N, index, torch_name, kept_when, kept_by_default)
 *                            index: the slot in s[] of daoe_N_delta; torch_name: the key of
 *                            torch.optim's state_dict (checkpoints store optim.N.<torch_name>);
 *                            kept_when: an expression of hp (the buffer exists only then);
 *                            kept_by_default: 0/1, the same at the default settings
 *   DAOE_RULE_N_VARIANTS(V)  optimizers that run this rule alone with decoupled weight decay:
 *                              V(N, name, display, default_wd)   (may be empty)
 *   DAOE_RULE_N_NCONST       how many per-step constants daoe_N_consts writes
 *   DAOE_RULE_HP_STRUCT(N);  the struct daoe_N_hp of its hyper-parameters (all float)
 *   daoe_N_check(hp, err, n)   0, or -1 with a message for a combination it refuses
 *   daoe_N_consts(hp, t, c)    the per-step constants of 1-based step t (host)
 *   daoe_N_delta(hp, lr, c, t, sm, g, p, s)   DAOE_HD: the element update. lr: the rate
 *                            times the schedule factor; c: the step's constants; sm: bit k set
 *                            when state k is kept; s: the state values (read and written);
 *                            g, p: gradient and parameter. Returns the proposed displacement
 *                            d (p is not written).
 *
 * Reference cases: tests/optim_ref_torch.py runs every "torch-case" line of every rule file,
 *   torch-case NAME | daoe-train flags | Python building the reference optimizer on parameter p
 * (f32() rounds a setting to float32 as our configuration stores it). Every flag the rule reads
 * appears with a non-default value somewhere.
 *
 * The rows and pieces the rules share are written once below: the rows of lr, the betas, eps, wd
 * and wd_mode (their ranges and help), the weight decay's two forms, and the check and constants
 * of a rule that needs none.
 *
 * Hyper-parameters are stored as floats (a switch as 0/1, wd_mode 0 coupled /
 * 1 decoupled), so the table of every member fits one flat array of the run's
 * configuration. */
#ifndef DAOE_RULE_H
#define DAOE_RULE_H
#include <math.h>
#include <stddef.h>
#include "daoe/hd.h"
#include "daoe/members.h"
#include <stdio.h>

#define DAOE_HP_FIELD_(N, field, type, def, lo, hi, help) float field;
#define DAOE_RULE_HP_STRUCT(N) typedef struct { DAOE_RULE_##N##_HPARAMS(DAOE_HP_FIELD_) } daoe_##N##_hp

/* the shared rows (HP: the row macro DAOE_RULE_N_HPARAMS was given) */
#define DAOE_HP_LR(HP, N, def) HP(N, lr, FLOAT, def, 0, 1e3, "learning rate")
#define DAOE_HP_BETAS(HP, N, b1, b2) \
    HP(N, beta1, FLOAT, b1, 0, 0.999999, "beta1") HP(N, beta2, FLOAT, b2, 0, 0.999999999, "beta2")
#define DAOE_HP_EPS(HP, N, def) HP(N, eps, FLOAT, def, 1e-30, 1, "epsilon")
#define DAOE_HP_WD(HP, N, def) HP(N, wd, FLOAT, def, 0, 1e3, "weight decay")
#define DAOE_HP_WD_MODE(HP, N, def) HP(N, wd_mode, WDMODE, def, 0, 0, "weight decay mode")

/* a rule that refuses no combination / has no per-step constants */
#define DAOE_RULE_NO_CHECK(N)                                                                   \
    static inline int daoe_##N##_check(const daoe_##N##_hp *hp, char *err, size_t n) {        \
        (void)hp, (void)err, (void)n;                                                           \
        return 0;                                                                               \
    }
#define DAOE_RULE_NO_CONSTS(N) \
    static inline void daoe_##N##_consts(const daoe_##N##_hp *hp, long t, float *c) { (void)hp, (void)t, (void)c; }

/* Weight decay, both forms: coupled (wd_mode 0, torch's weight_decay) adds wd*p to the
 * gradient the rule sees; decoupled (wd_mode 1, AdamW's) leaves the gradient and adds
 * -lr*wd*p to the rule's displacement d. */
DAOE_HD static DAOE_INLINE float daoe_wd_grad(float wd_mode, float wd, float g, float p) {
    return wd_mode != 0.0f ? g : g + wd * p;
}
DAOE_HD static DAOE_INLINE float daoe_wd_step(float wd_mode, float wd, float lr, float p, float d) {
    return wd_mode != 0.0f ? d - lr * wd * p : d;
}
#endif
