/* SGD with momentum, dampening, Nesterov and weight decay: the ONE definition
 * of its per-element rule, used alone, inside the DAO-E ensemble and by the
 * CUDA kernels. Semantics of torch.optim.SGD (foreach=False):
 *   u   = g + wd*p                       (coupled decay; decoupled: u = g)
 *   buf = first ? u : mu*buf + (1-dampening)*u
 *                                        (torch creates the buffer as a copy of u:
 *                                         the first step is never dampened)
 *   s   = nesterov ? u + mu*buf : buf    (mu = 0: s = u, no buffer)
 *   d   = -lr*s                          (decoupled: d -= lr*wd*p)
 * What a rule file defines: lib/core/rule.h. */
#ifndef DAOE_RULE_SGD_H
#define DAOE_RULE_SGD_H
#include "rule.h"

/* Reference cases (tests/optim_ref_torch.py; the format: lib/core/rule.h)
 * torch-case sgd_plain | --optimizer sgd --lr 0.1 --momentum 0 --wd 0 | sgd(p, f32(0.1))
 * torch-case sgd_wd_nomomentum | --optimizer sgd --lr 0.1 --momentum 0 --wd 0.01 | sgd(p, f32(0.1), wd=f32(0.01))
 * torch-case sgd_momentum | --optimizer sgd --lr 0.05 --momentum 0.9 --wd 0 | sgd(p, f32(0.05), momentum=f32(0.9))
 * torch-case sgd_momentum_wd | --optimizer sgd --lr 0.1 --momentum 0.9 --wd 0.01 | sgd(p, f32(0.1), momentum=f32(0.9), wd=f32(0.01))
 * torch-case sgd_nesterov | --optimizer sgd --lr 0.1 --momentum 0.8 --nesterov --wd 0 | sgd(p, f32(0.1), momentum=f32(0.8), nesterov=True)
 * torch-case sgd_nesterov_wd | --optimizer sgd --lr 0.1 --momentum 0.9 --nesterov --wd 0.02 | sgd(p, f32(0.1), momentum=f32(0.9), nesterov=True, wd=f32(0.02))
 * torch-case sgd_dampening | --optimizer sgd --lr 0.1 --momentum 0.9 --dampening 0.5 --wd 0 | sgd(p, f32(0.1), momentum=f32(0.9), dampening=f32(0.5))
 * torch-case sgd_dampening_wd | --optimizer sgd --lr 0.1 --momentum 0.7 --dampening 0.3 --wd 0.01 | sgd(p, f32(0.1), momentum=f32(0.7), dampening=f32(0.3), wd=f32(0.01))
 * torch-case sgdw_decoupled | --optimizer sgd --lr 0.1 --momentum 0.9 --wd 0.05 --wd-mode decoupled | sgd(p, f32(0.1), momentum=f32(0.9), wd=f32(0.05), decoupled=True)
 */
#define DAOE_RULE_sgd_DISPLAY "SGD"
/* kuangliu/pytorch-cifar main.py (lr 0.1, momentum 0.9, wd 5e-4); dampening, nesterov: torch.optim.SGD */
#define DAOE_RULE_sgd_HPARAMS(HP)                                        \
    DAOE_HP_LR(HP, sgd, 0.1f)                                            \
    HP(sgd, momentum, FLOAT, 0.9f, 0, 0.999999, "momentum")              \
    HP(sgd, dampening, FLOAT, 0.0f, 0, 1, "dampening")                   \
    DAOE_HP_WD(HP, sgd, 5e-4f)                                           \
    HP(sgd, nesterov, FLAG, 0, 0, 0, "Nesterov momentum")                \
    DAOE_HP_WD_MODE(HP, sgd, 0)
#define DAOE_RULE_sgd_STATE(S) S(sgd, 0, momentum_buffer, hp->momentum != 0.0f, 1)
#define DAOE_RULE_sgd_VARIANTS(V)
#define DAOE_RULE_sgd_NCONST 0
DAOE_RULE_HP_STRUCT(sgd);

static inline int daoe_sgd_check(const daoe_sgd_hp *hp, char *err, size_t n) {
    if (hp->nesterov != 0.0f && (hp->momentum <= 0.0f || hp->dampening != 0.0f)) {
        snprintf(err, n, "--nesterov needs momentum > 0 and zero dampening");
        return -1;
    }
    return 0;
}

DAOE_RULE_NO_CONSTS(sgd)

DAOE_HD static DAOE_INLINE float daoe_sgd_delta(const daoe_sgd_hp *hp, float lr, const float *c, int t, unsigned sm,
                                                float g, float p, float *s) {
    float u = daoe_wd_grad(hp->wd_mode, hp->wd, g, p);
    /* sm bit 0: momentum != 0 (the buffer is kept exactly then; passed so that a caller can make
     * it a constant). Selects, not branches. */
    const int has_buf = sm & 1u;
    float b = t == 1 ? u : hp->momentum * s[0] + (1.0f - hp->dampening) * u;
    s[0] = has_buf ? b : s[0];
    float sv = has_buf ? (hp->nesterov != 0.0f ? u + hp->momentum * b : b) : u;
    float d = daoe_wd_step(hp->wd_mode, hp->wd, lr, p, -lr * sv);
    (void)c;
    return d;
}
#endif
