/* Adam / AdamW: the ONE definition of the per-element rule.
 * Semantics of torch.optim.Adam / AdamW (amsgrad off):
 *   u = g + wd*p (coupled, Adam's L2) or u = g (decoupled, AdamW)
 *   m = m + (1-beta1)*(u - m)            (torch's lerp)
 *   v = beta2*v + (1-beta2)*u*u
 *   d = -(lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps),  bc_k = 1 - beta_k^t
 *   decoupled: d -= lr*wd*p
 * bc1 and sqrt(bc2) are the per-step constants (computed once per step).
 * What a rule file defines: lib/core/rule.h. */
#ifndef DAOE_RULE_ADAM_H
#define DAOE_RULE_ADAM_H
#include "rule.h"

/* Reference cases (tests/optim_ref_torch.py; the format: lib/core/rule.h)
 * torch-case adam_plain | --optimizer adam --lr 0.01 --wd 0 | torch.optim.Adam([p], lr=f32(0.01), betas=(f32(0.9), f32(0.999)), eps=f32(1e-8))
 * torch-case adam_l2 | --optimizer adam --lr 0.01 --wd 0.05 | torch.optim.Adam([p], lr=f32(0.01), betas=(f32(0.9), f32(0.999)), eps=f32(1e-8), weight_decay=f32(0.05))
 * torch-case adam_betas_eps | --optimizer adam --lr 0.02 --beta1 0.8 --beta2 0.95 --eps 0.001 --wd 0.01 | torch.optim.Adam([p], lr=f32(0.02), betas=(f32(0.8), f32(0.95)), eps=f32(1e-3), weight_decay=f32(0.01))
 * torch-case adamw | --optimizer adamw --lr 0.01 --wd 0.1 | torch.optim.AdamW([p], lr=f32(0.01), betas=(f32(0.9), f32(0.999)), eps=f32(1e-8), weight_decay=f32(0.1))
 * torch-case adamw_default_wd | --optimizer adamw --lr 0.01 | torch.optim.AdamW([p], lr=f32(0.01), betas=(f32(0.9), f32(0.999)), eps=f32(1e-8), weight_decay=f32(0.05))
 * torch-case adamw_betas | --optimizer adamw --lr 0.01 --beta1 0.5 --beta2 0.9 --eps 1e-4 --wd 0.2 | torch.optim.AdamW([p], lr=f32(0.01), betas=(f32(0.5), f32(0.9)), eps=f32(1e-4), weight_decay=f32(0.2))
 */
#define DAOE_RULE_adam_DISPLAY "Adam"
/* torch.optim.Adam defaults (Kingma & Ba), with the same L2 5e-4 as SGD */
#define DAOE_RULE_adam_HPARAMS(HP)                                       \
    DAOE_HP_LR(HP, adam, 1e-3f)                                          \
    DAOE_HP_BETAS(HP, adam, 0.9f, 0.999f)                                \
    DAOE_HP_EPS(HP, adam, 1e-8f)                                         \
    DAOE_HP_WD(HP, adam, 5e-4f)                                          \
    DAOE_HP_WD_MODE(HP, adam, 0)
#define DAOE_RULE_adam_STATE(S) S(adam, 0, exp_avg, 1, 1) S(adam, 1, exp_avg_sq, 1, 1)
/* AdamW: lr*wd = 5e-5, as SGD's 0.1 x 5e-4 */
#define DAOE_RULE_adam_VARIANTS(V) V(adam, adamw, "AdamW", 0.05f)
#define DAOE_RULE_adam_NCONST 2
DAOE_RULE_HP_STRUCT(adam);

DAOE_RULE_NO_CHECK(adam)

/* c[0] = 1 - beta1^t, c[1] = sqrt(1 - beta2^t) */
static inline void daoe_adam_consts(const daoe_adam_hp *hp, long t, float *c) {
    c[0] = (float)(1.0 - pow((double)hp->beta1, (double)t));
    c[1] = (float)sqrt(1.0 - pow((double)hp->beta2, (double)t));
}

DAOE_HD static DAOE_INLINE float daoe_adam_delta(const daoe_adam_hp *hp, float lr, const float *c, int t, unsigned sm,
                                                 float g, float p, float *s) {
    float u = daoe_wd_grad(hp->wd_mode, hp->wd, g, p);
    float mm = s[0] + (1.0f - hp->beta1) * (u - s[0]);
    float vv = hp->beta2 * s[1] + (1.0f - hp->beta2) * (u * u);
    s[0] = mm;
    s[1] = vv;
    float denom = sqrtf(vv) / c[1] + hp->eps;
    float d = daoe_wd_step(hp->wd_mode, hp->wd, lr, p, -(lr / c[0]) * (mm / denom));
    (void)t, (void)sm;
    return d;
}
#endif
