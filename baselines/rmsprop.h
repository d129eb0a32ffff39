/* RMSProp: the ONE definition of the per-element rule.
 * Semantics of torch.optim.RMSprop (eps outside the sqrt, no bias correction):
 *   u = g + wd*p (coupled) or g (decoupled)
 *   v = alpha*v + (1-alpha)*u*u
 *   centred: ga = ga + (1-alpha)*(u - ga); den = sqrt(v - ga*ga) + eps
 *   else:    den = sqrt(v) + eps
 *   momentum > 0: buf = momentum*buf + u/den; s = buf   else s = u/den
 *   d = -lr*s  (decoupled: d -= lr*wd*p) */
#ifndef DAOE_RMSPROP_H
#define DAOE_RMSPROP_H
#include <math.h>
#include "daoe/hd.h"

typedef struct {
    float lr, alpha, eps, wd, momentum;
    int centered, decoupled;
} daoe_rmsprop_hp;

DAOE_HD static inline float daoe_rmsprop_delta(const daoe_rmsprop_hp *hp, float lr, float g, float p,
                                               float *v, float *ga, float *buf) {
    float u = hp->decoupled ? g : g + hp->wd * p;
    float vv = hp->alpha * *v + (1.0f - hp->alpha) * (u * u);
    *v = vv;
    float den;
    if (hp->centered) {
        float a = *ga + (1.0f - hp->alpha) * (u - *ga);
        *ga = a;
        den = sqrtf(vv - a * a) + hp->eps;
    } else {
        den = sqrtf(vv) + hp->eps;
    }
    float s;
    if (hp->momentum > 0.0f) {
        float b = hp->momentum * *buf + u / den;
        *buf = b;
        s = b;
    } else {
        s = u / den;
    }
    float d = -lr * s;
    if (hp->decoupled) d -= lr * hp->wd * p;
    return d;
}
#endif
