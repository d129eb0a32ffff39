/* Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms",
 * Algorithm 2): the ONE definition of the per-element rule.
 *   u = g (decoupled decay, the paper's form) or g + wd*p (coupled)
 *   c = beta1*m + (1-beta1)*u;  d = -lr*sign(c)  (sign(0) = 0)
 *   m = beta2*m + (1-beta2)*u;  decoupled: d -= lr*wd*p */
#ifndef DAOE_LION_H
#define DAOE_LION_H
#include "daoe/hd.h"

typedef struct {
    float lr, beta1, beta2, wd;
    int decoupled;
} daoe_lion_hp;

DAOE_HD static inline float daoe_lion_delta(const daoe_lion_hp *hp, float lr, float g, float p,
                                            float *m) {
    float u = hp->decoupled ? g : g + hp->wd * p;
    float c = hp->beta1 * *m + (1.0f - hp->beta1) * u;
    float sg = (c > 0.0f) ? 1.0f : ((c < 0.0f) ? -1.0f : c); /* keeps NaN */
    *m = hp->beta2 * *m + (1.0f - hp->beta2) * u;
    float d = -lr * sg;
    if (hp->decoupled) d -= lr * hp->wd * p;
    return d;
}
#endif
