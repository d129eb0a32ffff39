/* SGD with momentum, dampening, Nesterov and weight decay: the ONE definition
 * of its per-element rule, used alone, inside the DAO-E ensemble and by the
 * CUDA kernels. Semantics of torch.optim.SGD (foreach=False):
 *   u   = g + wd*p                       (coupled decay; decoupled: u = g)
 *   buf = first ? u : mu*buf + (1-dampening)*u
 *                                        (torch creates the buffer as a copy of u:
 *                                         the first step is never dampened)
 *   s   = nesterov ? u + mu*buf : buf    (mu = 0: s = u, no buffer)
 *   d   = -lr*s                          (decoupled: d -= lr*wd*p)
 * `lr` is the member's rate times the schedule factor; `first` is 1 at step 1
 * of a run (state just zeroed); `has_buf` is momentum != 0. Returns d; p is
 * not written. */
#ifndef DAOE_SGD_H
#define DAOE_SGD_H
#include "daoe/hd.h"

typedef struct {
    float lr, momentum, dampening, wd;
    int nesterov, decoupled;
} daoe_sgd_hp;

DAOE_HD static inline float daoe_sgd_delta(const daoe_sgd_hp *hp, float lr, int first, int has_buf, float g,
                                           float p, float *buf) {
    float u = hp->decoupled ? g : g + hp->wd * p;
    /* has_buf: momentum != 0 (the caller keeps a buffer exactly then; passing
     * it lets a caller make it a constant). Selects, not branches. */
    float b = first ? u : hp->momentum * *buf + (1.0f - hp->dampening) * u;
    *buf = has_buf ? b : *buf;
    float s = has_buf ? (hp->nesterov ? u + hp->momentum * b : b) : u;
    float d = -lr * s;
    if (hp->decoupled) d -= lr * hp->wd * p;
    return d;
}
#endif
