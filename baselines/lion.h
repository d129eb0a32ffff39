/* Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms",
 * Algorithm 2): the ONE definition of the per-element rule.
 *   u = g (decoupled decay, the paper's form) or g + wd*p (coupled)
 *   c = beta1*m + (1-beta1)*u;  d = -lr*sign(c)  (sign(0) = 0)
 *   m = beta2*m + (1-beta2)*u;  decoupled: d -= lr*wd*p
 * What a rule file defines: lib/core/rule.h. */
#ifndef DAOE_RULE_LION_H
#define DAOE_RULE_LION_H
#include "rule.h"

/* Reference cases (tests/optim_ref_torch.py; the format: lib/core/rule.h)
 * torch-case lion_plain | --optimizer lion --lr 0.01 --wd 0 | LionRef(p, f32(0.01), f32(0.9), f32(0.99))
 * torch-case lion_wd | --optimizer lion --lr 0.01 --wd 0.5 | LionRef(p, f32(0.01), f32(0.9), f32(0.99), wd=f32(0.5))
 * torch-case lion_betas | --optimizer lion --lr 0.003 --beta1 0.95 --beta2 0.98 --wd 1 | LionRef(p, f32(0.003), f32(0.95), f32(0.98), wd=f32(1.0))
 * torch-case lion_coupled | --optimizer lion --lr 0.01 --wd 0.1 --wd-mode coupled | LionRef(p, f32(0.01), f32(0.9), f32(0.99), wd=f32(0.1), coupled=True)
 */
#define DAOE_RULE_lion_DISPLAY "Lion"
/* Chen et al. 2023 (beta1 0.9, beta2 0.99, lr ~10x below AdamW's); decoupled wd 0.5 so that
 * lr*wd = 5e-5, the per-step shrink of SGD's lr 0.1 x wd 5e-4 */
#define DAOE_RULE_lion_HPARAMS(HP)                                       \
    DAOE_HP_LR(HP, lion, 1e-4f)                                          \
    DAOE_HP_BETAS(HP, lion, 0.9f, 0.99f)                                 \
    DAOE_HP_WD(HP, lion, 0.5f)                                           \
    DAOE_HP_WD_MODE(HP, lion, 1)
#define DAOE_RULE_lion_STATE(S) S(lion, 0, exp_avg, 1, 1)
#define DAOE_RULE_lion_VARIANTS(V)
#define DAOE_RULE_lion_NCONST 0
DAOE_RULE_HP_STRUCT(lion);

DAOE_RULE_NO_CHECK(lion)
DAOE_RULE_NO_CONSTS(lion)

DAOE_HD static DAOE_INLINE float daoe_lion_delta(const daoe_lion_hp *hp, float lr, const float *c, int t, unsigned sm,
                                                 float g, float p, float *s) {
    float u = daoe_wd_grad(hp->wd_mode, hp->wd, g, p);
    float cc = hp->beta1 * s[0] + (1.0f - hp->beta1) * u;
    float sg = (cc > 0.0f) ? 1.0f : ((cc < 0.0f) ? -1.0f : cc); /* keeps NaN */
    s[0] = hp->beta2 * s[0] + (1.0f - hp->beta2) * u;
    float d = daoe_wd_step(hp->wd_mode, hp->wd, lr, p, -lr * sg);
    (void)c, (void)t, (void)sm;
    return d;
}
#endif
