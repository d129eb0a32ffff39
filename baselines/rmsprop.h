/* RMSProp: the ONE definition of the per-element rule.
 * Semantics of torch.optim.RMSprop (eps outside the sqrt, no bias correction):
 *   u = g + wd*p (coupled) or g (decoupled)
 *   v = alpha*v + (1-alpha)*u*u
 *   centred: ga = ga + (1-alpha)*(u - ga); den = sqrt(v - ga*ga) + eps
 *   else:    den = sqrt(v) + eps
 *   momentum > 0: buf = momentum*buf + u/den; s = buf   else s = u/den
 *   d = -lr*s  (decoupled: d -= lr*wd*p)
 * What a rule file defines: lib/core/rule.h. */
#ifndef DAOE_RULE_RMSPROP_H
#define DAOE_RULE_RMSPROP_H
#include "rule.h"

/* Reference cases (tests/optim_ref_torch.py; the format: lib/core/rule.h)
 * torch-case rmsprop_plain | --optimizer rmsprop --lr 0.001 --wd 0 | rmsprop(p, f32(0.001), alpha=f32(0.99), eps=f32(1e-8))
 * torch-case rmsprop_alpha_eps_wd | --optimizer rmsprop --lr 0.002 --alpha 0.9 --eps 0.01 --wd 0.05 | rmsprop(p, f32(0.002), alpha=f32(0.9), eps=f32(0.01), wd=f32(0.05))
 * torch-case rmsprop_centered | --optimizer rmsprop --lr 0.001 --centered --wd 0 | rmsprop(p, f32(0.001), centered=True)
 * torch-case rmsprop_momentum | --optimizer rmsprop --lr 0.001 --momentum 0.9 --wd 0 | rmsprop(p, f32(0.001), momentum=f32(0.9))
 * torch-case rmsprop_centered_momentum_wd | --optimizer rmsprop --lr 0.001 --alpha 0.95 --momentum 0.5 --centered --wd 0.01 | rmsprop(p, f32(0.001), alpha=f32(0.95), momentum=f32(0.5), centered=True, wd=f32(0.01))
 * torch-case rmsprop_decoupled | --optimizer rmsprop --lr 0.001 --momentum 0.9 --wd 0.1 --wd-mode decoupled | rmsprop(p, f32(0.001), momentum=f32(0.9), wd=f32(0.1), decoupled=True)
 */
#define DAOE_RULE_rmsprop_DISPLAY "RMSProp"
/* torch.optim.RMSprop defaults (alpha 0.99, eps 1e-8) at lr 1e-3 (SPEC 3.4), L2 5e-4 */
#define DAOE_RULE_rmsprop_HPARAMS(HP)                                    \
    DAOE_HP_LR(HP, rmsprop, 1e-3f)                                       \
    HP(rmsprop, alpha, FLOAT, 0.99f, 0, 0.999999999, "smoothing constant") \
    DAOE_HP_EPS(HP, rmsprop, 1e-8f)                                      \
    DAOE_HP_WD(HP, rmsprop, 5e-4f)                                       \
    HP(rmsprop, momentum, FLOAT, 0.0f, 0, 0.999999, "momentum")          \
    HP(rmsprop, centered, FLAG, 0, 0, 0, "centred variant")              \
    DAOE_HP_WD_MODE(HP, rmsprop, 0)
#define DAOE_RULE_rmsprop_STATE(S)                                       \
    S(rmsprop, 0, square_avg, 1, 1)                                      \
    S(rmsprop, 1, grad_avg, hp->centered != 0.0f, 0)                     \
    S(rmsprop, 2, momentum_buffer, hp->momentum > 0.0f, 0)
#define DAOE_RULE_rmsprop_VARIANTS(V)
#define DAOE_RULE_rmsprop_NCONST 0
DAOE_RULE_HP_STRUCT(rmsprop);

DAOE_RULE_NO_CHECK(rmsprop)
DAOE_RULE_NO_CONSTS(rmsprop)

DAOE_HD static DAOE_INLINE float daoe_rmsprop_delta(const daoe_rmsprop_hp *hp, float lr, const float *c, int t,
                                                    unsigned sm, float g, float p, float *s) {
    float u = daoe_wd_grad(hp->wd_mode, hp->wd, g, p);
    float vv = hp->alpha * s[0] + (1.0f - hp->alpha) * (u * u);
    s[0] = vv;
    float den;
    if (hp->centered != 0.0f) {
        float a = s[1] + (1.0f - hp->alpha) * (u - s[1]);
        s[1] = a;
        den = sqrtf(vv - a * a) + hp->eps;
    } else {
        den = sqrtf(vv) + hp->eps;
    }
    float sv;
    if (hp->momentum > 0.0f) {
        float b = hp->momentum * s[2] + u / den;
        s[2] = b;
        sv = b;
    } else {
        sv = u / den;
    }
    float d = daoe_wd_step(hp->wd_mode, hp->wd, lr, p, -lr * sv);
    (void)c, (void)t, (void)sm;
    return d;
}
#endif
