/* One sample of the softmax cross-entropy head: the ONE definition, for the CPU
 * loop (lib/cpu/head.c) and the GPU kernel (lib/cuda/head.cu). From the K logits
 * l of a sample and its label y: the loss (log-sum-exp minus the label's logit)
 * into *loss, whether the arg-max (first of equals) is the label into *hit, the
 * softmax's entropy in nats into *ent (a zero probability adds nothing), and, when
 * dl is given, the gradient of the batch's mean loss, (softmax - onehot) / N.
 * In double, the logits' max subtracted first. */
#ifndef DAOE_XENT_ROW_H
#define DAOE_XENT_ROW_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "daoe/hd.h"

DAOE_HD static inline void daoe_xent_row(const float *l, int K, int y, int N, float *dl, double *loss, int *hit,
                                         double *ent) {
    int am = 0;
    float mx = l[0];
    for (int k = 1; k < K; k++)
        if (l[k] > mx) mx = l[k], am = k;
    double se = 0.0;
    for (int k = 0; k < K; k++) se += exp((double)l[k] - mx);
    double lse = mx + log(se);
    double h = 0.0;
    for (int k = 0; k < K; k++) {
        double p = exp((double)l[k] - lse);
        if (p > 0.0) h -= p * ((double)l[k] - lse);
        if (dl) dl[k] = (float)((p - (k == y)) / N);
    }
    *loss = lse - l[y];
    *hit = am == y;
    *ent = h;
}

/* The samples n0, n0 + stride, ... below N of a batch (the CPU takes them all, a GPU
 * thread its share): their losses, hits and entropies added to sums[0..2], the
 * gradient rows written when dlogits is given. */
DAOE_HD static inline void daoe_xent_rows(const float *logits, const int32_t *y, int N, int K, float *dlogits, int n0,
                                          int stride, double sums[3]) {
    for (int n = n0; n < N; n += stride) {
        double loss, ent;
        int hit;
        daoe_xent_row(logits + (size_t)n * K, K, y[n], N, dlogits ? dlogits + (size_t)n * K : NULL, &loss, &hit, &ent);
        sums[0] += loss;
        sums[1] += hit;
        sums[2] += ent;
    }
}
#endif
