/* Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms",
 * Algorithm 2): the ONE definition of the per-element rule.
 *   u = g (decoupled decay, the paper's form) or g + wd*p (coupled)
 *   c = beta1*m + (1-beta1)*u;  d = -lr*sign(c)  (sign(0) = 0)
 *   m = beta2*m + (1-beta2)*u;  decoupled: d -= lr*wd*p
 * What a rule file defines: lib/core/rule.h. */
#ifndef DAOE_RULE_LION_H
#define DAOE_RULE_LION_H
#include "rule.h"

/* Reference cases: tests/optim_ref_torch.py runs every "torch-case" line of every rule
 * (name | daoe-train flags | Python building the reference optimizer on parameter p;
 * f32() rounds a setting to float32 as our configuration stores it). Every flag the
 * rule reads appears with a non-default value somewhere.
 * torch-case lion_plain | --optimizer lion --lr 0.01 --wd 0 | LionRef(p, f32(0.01), f32(0.9), f32(0.99))
 * torch-case lion_wd | --optimizer lion --lr 0.01 --wd 0.5 | LionRef(p, f32(0.01), f32(0.9), f32(0.99), wd=f32(0.5))
 * torch-case lion_betas | --optimizer lion --lr 0.003 --beta1 0.95 --beta2 0.98 --wd 1 | LionRef(p, f32(0.003), f32(0.95), f32(0.98), wd=f32(1.0))
 * torch-case lion_coupled | --optimizer lion --lr 0.01 --wd 0.1 --wd-mode coupled | LionRef(p, f32(0.01), f32(0.9), f32(0.99), wd=f32(0.1), coupled=True)
 */
#define DAOE_RULE_lion_DISPLAY "Lion"
/* Chen et al. 2023 (beta1 0.9, beta2 0.99, lr ~10x below AdamW's); decoupled wd 0.5 so that
 * lr*wd = 5e-5, the per-step shrink of SGD's lr 0.1 x wd 5e-4 */
#define DAOE_RULE_lion_HPARAMS(HP)                                       \
    HP(lion, lr, FLOAT, 1e-4f, 0, 1e3, "learning rate")                  \
    HP(lion, beta1, FLOAT, 0.9f, 0, 0.999999, "beta1")                   \
    HP(lion, beta2, FLOAT, 0.99f, 0, 0.999999999, "beta2")               \
    HP(lion, wd, FLOAT, 0.5f, 0, 1e3, "weight decay")                    \
    HP(lion, wd_mode, WDMODE, 1, 0, 0, "weight decay mode")
#define DAOE_RULE_lion_STATE(S) S(lion, 0, exp_avg, 1, 1)
#define DAOE_RULE_lion_VARIANTS(V)
#define DAOE_RULE_lion_NCONST 0
DAOE_RULE_HP_STRUCT(lion);

static inline int daoe_lion_check(const daoe_lion_hp *hp, char *err, size_t n) { (void)hp, (void)err, (void)n; return 0; }
static inline void daoe_lion_consts(const daoe_lion_hp *hp, long t, float *c) { (void)hp, (void)t, (void)c; }

DAOE_HD static DAOE_INLINE float daoe_lion_delta(const daoe_lion_hp *hp, float lr, const float *c, int t, unsigned sm,
                                                 float g, float p, float *s) {
    float u = hp->wd_mode != 0.0f ? g : g + hp->wd * p;
    float cc = hp->beta1 * s[0] + (1.0f - hp->beta1) * u;
    float sg = (cc > 0.0f) ? 1.0f : ((cc < 0.0f) ? -1.0f : cc); /* keeps NaN */
    s[0] = hp->beta2 * s[0] + (1.0f - hp->beta2) * u;
    float d = -lr * sg;
    if (hp->wd_mode != 0.0f) d -= lr * hp->wd * p;
    (void)c, (void)t, (void)sm;
    return d;
}
#endif
