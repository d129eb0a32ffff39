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

/* Reference cases: tests/optim_ref_torch.py runs every "torch-case" line of every rule
 * (name | daoe-train flags | Python building the reference optimizer on parameter p;
 * f32() rounds a setting to float32 as our configuration stores it). Every flag the
 * rule reads appears with a non-default value somewhere.
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
    HP(rmsprop, lr, FLOAT, 1e-3f, 0, 1e3, "learning rate")               \
    HP(rmsprop, alpha, FLOAT, 0.99f, 0, 0.999999999, "smoothing constant") \
    HP(rmsprop, eps, FLOAT, 1e-8f, 1e-30, 1, "epsilon")                  \
    HP(rmsprop, wd, FLOAT, 5e-4f, 0, 1e3, "weight decay")                \
    HP(rmsprop, momentum, FLOAT, 0.0f, 0, 0.999999, "momentum")          \
    HP(rmsprop, centered, FLAG, 0, 0, 0, "centred variant")              \
    HP(rmsprop, wd_mode, WDMODE, 0, 0, 0, "weight decay mode")
#define DAOE_RULE_rmsprop_STATE(S)                                       \
    S(rmsprop, 0, square_avg, 1, 1)                                      \
    S(rmsprop, 1, grad_avg, hp->centered != 0.0f, 0)                     \
    S(rmsprop, 2, momentum_buffer, hp->momentum > 0.0f, 0)
#define DAOE_RULE_rmsprop_VARIANTS(V)
#define DAOE_RULE_rmsprop_NCONST 0
DAOE_RULE_HP_STRUCT(rmsprop);

static inline int daoe_rmsprop_check(const daoe_rmsprop_hp *hp, char *err, size_t n) { (void)hp, (void)err, (void)n; return 0; }
static inline void daoe_rmsprop_consts(const daoe_rmsprop_hp *hp, long t, float *c) { (void)hp, (void)t, (void)c; }

DAOE_HD static DAOE_INLINE float daoe_rmsprop_delta(const daoe_rmsprop_hp *hp, float lr, const float *c, int t,
                                                    unsigned sm, float g, float p, float *s) {
    float u = hp->wd_mode != 0.0f ? g : g + hp->wd * p;
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
    float d = -lr * sv;
    if (hp->wd_mode != 0.0f) d -= lr * hp->wd * p;
    (void)c, (void)t, (void)sm;
    return d;
}
#endif
