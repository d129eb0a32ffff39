/* RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and
 * Beyond"): the ONE definition of the per-element rule. Semantics of
 * torch.optim.RAdam (1.13):
 *   u   = g + wd*p (coupled, torch's weight_decay) or g (decoupled)
 *   m   = beta1*m + (1-beta1)*u
 *   v   = beta2*v + (1-beta2)*u*u
 *   rho_inf = 2/(1-beta2) - 1,  rho_t = rho_inf - 2t beta2^t/(1-beta2^t)
 *   rho_t > 5:  d = -(m/bc1) * lr * sqrt(bc2)/(sqrt(v) + eps) * r_t,
 *               r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))
 *   otherwise:  d = -(m/bc1) * lr   (the variance is not yet tractable: momentum SGD)
 *   decoupled: d -= lr*wd*p
 * bc_k = 1 - beta_k^t. bc1, sqrt(bc2) and r_t (0 on the first branch's steps) are
 * the per-step constants, the same for every element.
 * (NAdam was the first choice; torch 1.13's NAdam multiplies mu_t into its
 * mu_product twice, a bug fixed in torch 2.0, so 1.13 cannot be its reference.)
 * What a rule file defines: lib/core/rule.h. */
#ifndef DAOE_RULE_RADAM_H
#define DAOE_RULE_RADAM_H
#include "rule.h"

/* Reference cases (tests/optim_ref_torch.py; the format: lib/core/rule.h); beta2 0.999
 * switches branch at step 6, 0.9 at step 2
 * torch-case radam_plain | --optimizer radam --lr 0.01 --wd 0 | torch.optim.RAdam([p], lr=f32(0.01), betas=(f32(0.9), f32(0.999)), eps=f32(1e-8))
 * torch-case radam_l2 | --optimizer radam --lr 0.01 --wd 0.05 | torch.optim.RAdam([p], lr=f32(0.01), betas=(f32(0.9), f32(0.999)), eps=f32(1e-8), weight_decay=f32(0.05))
 * torch-case radam_betas_eps | --optimizer radam --lr 0.02 --beta1 0.8 --beta2 0.9 --eps 0.001 --wd 0.01 | torch.optim.RAdam([p], lr=f32(0.02), betas=(f32(0.8), f32(0.9)), eps=f32(1e-3), weight_decay=f32(0.01))
 * torch-case radam_decoupled | --optimizer radam --lr 0.01 --wd 0.1 --wd-mode decoupled | DecoupledWrap(torch.optim.RAdam([p], lr=f32(0.01), betas=(f32(0.9), f32(0.999)), eps=f32(1e-8)), p, f32(0.01), f32(0.1))
 */
#define DAOE_RULE_radam_DISPLAY "RAdam"
/* torch.optim.RAdam defaults (lr 1e-3, betas, eps), with the same L2 5e-4 as Adam */
#define DAOE_RULE_radam_HPARAMS(HP)                                      \
    DAOE_HP_LR(HP, radam, 1e-3f)                                         \
    DAOE_HP_BETAS(HP, radam, 0.9f, 0.999f)                               \
    DAOE_HP_EPS(HP, radam, 1e-8f)                                        \
    DAOE_HP_WD(HP, radam, 5e-4f)                                         \
    DAOE_HP_WD_MODE(HP, radam, 0)
#define DAOE_RULE_radam_STATE(S) S(radam, 0, exp_avg, 1, 1) S(radam, 1, exp_avg_sq, 1, 1)
#define DAOE_RULE_radam_VARIANTS(V)
#define DAOE_RULE_radam_NCONST 3
DAOE_RULE_HP_STRUCT(radam);

DAOE_RULE_NO_CHECK(radam)

/* c[0] = 1 - beta1^t, c[1] = sqrt(1 - beta2^t), c[2] = r_t when rho_t > 5, else 0 */
static inline void daoe_radam_consts(const daoe_radam_hp *hp, long t, float *c) {
    double b2 = hp->beta2, b2t = pow(b2, (double)t), bc2 = 1.0 - b2t;
    double rho_inf = 2.0 / (1.0 - b2) - 1.0, rho_t = rho_inf - 2.0 * (double)t * b2t / bc2;
    c[0] = (float)(1.0 - pow((double)hp->beta1, (double)t));
    c[1] = (float)sqrt(bc2);
    c[2] = rho_t > 5.0
               ? (float)sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
               : 0.0f;
}

DAOE_HD static DAOE_INLINE float daoe_radam_delta(const daoe_radam_hp *hp, float lr, const float *c, int t, unsigned sm,
                                                  float g, float p, float *s) {
    float u = daoe_wd_grad(hp->wd_mode, hp->wd, g, p);
    float mm = hp->beta1 * s[0] + (1.0f - hp->beta1) * u;
    float vv = hp->beta2 * s[1] + (1.0f - hp->beta2) * (u * u);
    s[0] = mm;
    s[1] = vv;
    float mhat = mm / c[0];
    float step = c[2] > 0.0f ? -(mhat * lr * (c[1] / (sqrtf(vv) + hp->eps)) * c[2]) : -(mhat * lr);
    float d = daoe_wd_step(hp->wd_mode, hp->wd, lr, p, step);
    (void)t, (void)sm;
    return d;
}
#endif
