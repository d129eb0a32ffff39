/* Adam / AdamW: the ONE definition of the per-element rule.
 * Semantics of torch.optim.Adam / AdamW (amsgrad off):
 *   u = g + wd*p (coupled, Adam's L2) or u = g (decoupled, AdamW)
 *   m = m + (1-beta1)*(u - m)            (torch's lerp)
 *   v = beta2*v + (1-beta2)*u*u
 *   d = -(lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps),  bc_k = 1 - beta_k^t
 *   decoupled: d -= lr*wd*p
 * bc1 and sqrt(bc2) come from the step constants (computed once per step). */
#ifndef DAOE_ADAM_H
#define DAOE_ADAM_H
#include <math.h>
#include "daoe/hd.h"

typedef struct {
    float lr, beta1, beta2, eps, wd;
    int decoupled;
} daoe_adam_hp;

DAOE_HD static inline float daoe_adam_delta(const daoe_adam_hp *hp, float lr, float bc1, float bc2s,
                                            float g, float p, float *m, float *v) {
    float u = hp->decoupled ? g : g + hp->wd * p;
    float mm = *m + (1.0f - hp->beta1) * (u - *m);
    float vv = hp->beta2 * *v + (1.0f - hp->beta2) * (u * u);
    *m = mm;
    *v = vv;
    float denom = sqrtf(vv) / bc2s + hp->eps;
    float d = -(lr / bc1) * (mm / denom);
    if (hp->decoupled) d -= lr * hp->wd * p;
    return d;
}
#endif
