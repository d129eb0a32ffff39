/* ResNet-18 (CIFAR variant): layout, initialisation, forward, backward and
 * checkpoints. Talks to the backend table only. */
#include "daoe/net.h"
#include "daoe/rng.h"
#include "daoe/safetensors.h"
#include "daoe/util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN_ELEMS 64

static daoe_tensor_info *add_tensor(daoe_net *net, const char *name, int kind, int ndim, int64_t s0,
                                    int64_t s1, int64_t s2, int64_t s3, int init, int fan) {
    net->tensors = realloc(net->tensors, sizeof(daoe_tensor_info) * (size_t)(net->ntensors + 1));
    if (!net->tensors) daoe_fatal("out of memory");
    daoe_tensor_info *t = &net->tensors[net->ntensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->ndim = ndim;
    int64_t s[4] = {s0, s1, s2, s3};
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = s[i];
        t->numel *= (size_t)s[i];
    }
    t->init = init;
    t->fan = fan;
    if (kind == DAOE_T_PARAM) {
        net->nparams = (net->nparams + ALIGN_ELEMS - 1) / ALIGN_ELEMS * ALIGN_ELEMS;
        t->off = net->nparams;
        net->nparams += t->numel;
        net->nparams_real += t->numel;
    } else if (kind == DAOE_T_BUFFER) {
        t->off = net->nbufs;
        net->nbufs += t->numel;
    }
    return t;
}

static daoe_conv add_conv(daoe_net *net, const char *name, int cin, int cout, int k, int stride, int h) {
    daoe_conv cv;
    memset(&cv, 0, sizeof cv);
    cv.cin = cin;
    cv.cout = cout;
    cv.k = k;
    cv.stride = stride;
    cv.pad = k / 2;
    cv.h = cv.w = h;
    cv.ho = cv.wo = (h + 2 * cv.pad - k) / stride + 1;
    cv.w_off = add_tensor(net, name, DAOE_T_PARAM, 4, cout, cin, k, k, 2, cout * k * k)->off;
    if (net->nconv == DAOE_NET_CONVS) daoe_fatal("net: more than DAOE_NET_CONVS convolutions");
    net->convs[net->nconv++] = cv;
    return cv;
}

static daoe_bnl add_bn(daoe_net *net, const char *prefix, int c) {
    daoe_bnl b;
    memset(&b, 0, sizeof b);
    char n[48];
    b.c = c;
    snprintf(n, sizeof n, "%s.weight", prefix);
    b.gamma = add_tensor(net, n, DAOE_T_PARAM, 1, c, 0, 0, 0, 1, 0)->off;
    snprintf(n, sizeof n, "%s.bias", prefix);
    b.beta = add_tensor(net, n, DAOE_T_PARAM, 1, c, 0, 0, 0, 0, 0)->off;
    snprintf(n, sizeof n, "%s.running_mean", prefix);
    b.rmean = add_tensor(net, n, DAOE_T_BUFFER, 1, c, 0, 0, 0, 0, 0)->off;
    snprintf(n, sizeof n, "%s.running_var", prefix);
    b.rvar = add_tensor(net, n, DAOE_T_BUFFER, 1, c, 0, 0, 0, 1, 0)->off;
    snprintf(n, sizeof n, "%s.num_batches_tracked", prefix);
    add_tensor(net, n, DAOE_T_COUNTER, 0, 0, 0, 0, 0, 0, 0);
    return b;
}

void daoe_net_layout(daoe_net *net, int width) {
    memset(net, 0, sizeof *net);
    net->width = width;
    net->nclass = DAOE_NET_CLASSES;
    net->stem = add_conv(net, "conv1.weight", DAOE_NET_IN_C, width, 3, 1, DAOE_NET_IN_HW);
    net->bn1 = add_bn(net, "bn1", width);
    int cin = width, h = DAOE_NET_IN_HW, bi = 0;
    for (int L = 0; L < DAOE_NET_STAGES; L++) {
        int cout = DAOE_NET_STAGE_WIDTH(width, L);
        for (int j = 0; j < DAOE_NET_STAGE_BLOCKS; j++, bi++) {
            daoe_block *b = &net->blocks[bi];
            int stride = (L > 0 && j == 0) ? 2 : 1;
            char p[32], n[64];
            snprintf(p, sizeof p, "layer%d.%d", L + 1, j);
            b->cin = cin;
            b->cout = cout;
            b->hin = h;
            b->hout = h / stride;
            snprintf(n, sizeof n, "%s.conv1.weight", p);
            b->c1 = add_conv(net, n, cin, cout, 3, stride, h);
            snprintf(n, sizeof n, "%s.bn1", p);
            b->b1 = add_bn(net, n, cout);
            snprintf(n, sizeof n, "%s.conv2.weight", p);
            b->c2 = add_conv(net, n, cout, cout, 3, 1, h / stride);
            snprintf(n, sizeof n, "%s.bn2", p);
            b->b2 = add_bn(net, n, cout);
            b->has_sc = stride != 1 || cin != cout;
            if (b->has_sc) {
                snprintf(n, sizeof n, "%s.shortcut.0.weight", p);
                b->sc = add_conv(net, n, cin, cout, 1, stride, h);
                snprintf(n, sizeof n, "%s.shortcut.1", p);
                b->bsc = add_bn(net, n, cout);
            }
            cin = cout;
            h /= stride;
        }
    }
    const int C = DAOE_NET_FEATURES(width), K = net->nclass;
    net->fc_w = add_tensor(net, "linear.weight", DAOE_T_PARAM, 2, K, C, 0, 0, 3, C)->off;
    net->fc_b = add_tensor(net, "linear.bias", DAOE_T_PARAM, 1, K, 0, 0, 0, 3, C)->off;
    net->nparams = (net->nparams + ALIGN_ELEMS - 1) / ALIGN_ELEMS * ALIGN_ELEMS;
}

double daoe_net_train_flops(const daoe_net *net) {
    double f = 0;
    for (int i = 0; i < net->nconv; i++) {
        const daoe_conv *c = &net->convs[i];
        double fwd = 2.0 * c->cout * c->cin * c->k * c->k * c->ho * c->wo;
        f += fwd * (i == 0 ? 2.0 : 3.0);
    }
    return f + 3.0 * 2.0 * net->nclass * DAOE_NET_FEATURES(net->width);
}

static void alloc_bn(daoe_net *net, daoe_bnl *b) {
    b->save_mean = net->be->alloc(net->be, sizeof(float) * b->c);
    b->save_invstd = net->be->alloc(net->be, sizeof(float) * b->c);
}

void daoe_net_alloc(daoe_net *net, daoe_backend *be, int batch_cap) {
    net->be = be;
    net->batch_cap = batch_cap;
    const size_t N = (size_t)batch_cap;
#define ACT(c, h) be->alloc(be, be->act_bytes(be, N * (size_t)(c) * (size_t)(h) * (size_t)(h)))
    net->params = be->alloc(be, sizeof(float) * net->nparams);
    net->grads = be->alloc(be, sizeof(float) * net->nparams);
    net->bufs = be->alloc(be, sizeof(float) * (net->nbufs ? net->nbufs : 1));
    net->x = ACT(DAOE_NET_IN_C, DAOE_NET_IN_HW);
    net->y = be->alloc(be, sizeof(int32_t) * N);
    net->h0 = ACT(net->width, DAOE_NET_IN_HW);
    net->a0 = ACT(net->width, DAOE_NET_IN_HW);
    alloc_bn(net, &net->bn1);
    for (int i = 0; i < DAOE_NET_BLOCKS; i++) {
        daoe_block *b = &net->blocks[i];
        b->h1 = ACT(b->cout, b->hout);
        b->a1 = ACT(b->cout, b->hout);
        b->h2 = ACT(b->cout, b->hout);
        b->y = ACT(b->cout, b->hout);
        alloc_bn(net, &b->b1);
        alloc_bn(net, &b->b2);
        if (b->has_sc) {
            b->hs = ACT(b->cout, b->hout);
            b->s = ACT(b->cout, b->hout);
            alloc_bn(net, &b->bsc);
        }
    }
    const int C = DAOE_NET_FEATURES(net->width);
    net->pool = be->alloc(be, sizeof(float) * N * C);
    net->dpool = be->alloc(be, sizeof(float) * N * C);
    net->logits = be->alloc(be, sizeof(float) * N * net->nclass);
    net->dlogits = be->alloc(be, sizeof(float) * N * net->nclass);
    for (int i = 0; i < 5; i++) net->gbuf[i] = ACT(net->width, DAOE_NET_IN_HW);
#undef ACT
    be->bind_params(be, net->params, net->grads, net->nparams, net->convs, net->nconv, batch_cap);
}

static void free_bn(daoe_net *net, daoe_bnl *b) {
    net->be->free(net->be, b->save_mean);
    net->be->free(net->be, b->save_invstd);
}

void daoe_net_free(daoe_net *net) {
    daoe_backend *be = net->be;
    if (be) {
        void *ptrs[] = {net->params, net->grads, net->bufs, net->x, net->y, net->h0, net->a0,
                        net->pool, net->dpool, net->logits, net->dlogits};
        for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) be->free(be, ptrs[i]);
        for (int i = 0; i < 5; i++) be->free(be, net->gbuf[i]);
        free_bn(net, &net->bn1);
        for (int i = 0; i < DAOE_NET_BLOCKS; i++) {
            daoe_block *b = &net->blocks[i];
            be->free(be, b->h1);
            be->free(be, b->a1);
            be->free(be, b->h2);
            be->free(be, b->y);
            free_bn(net, &b->b1);
            free_bn(net, &b->b2);
            if (b->has_sc) {
                be->free(be, b->hs);
                be->free(be, b->s);
                free_bn(net, &b->bsc);
            }
        }
    }
    free(net->tensors);
    memset(net, 0, sizeof *net);
}

void daoe_net_init_host(const daoe_net *net, uint64_t seed, float *params, float *bufs) {
    memset(params, 0, sizeof(float) * net->nparams);
    if (bufs) memset(bufs, 0, sizeof(float) * net->nbufs);
    for (int ti = 0; ti < net->ntensors; ti++) {
        const daoe_tensor_info *t = &net->tensors[ti];
        if (t->kind == DAOE_T_COUNTER) continue;
        float *dst = (t->kind == DAOE_T_PARAM ? params : bufs);
        if (!dst) continue;
        dst += t->off;
        for (size_t e = 0; e < t->numel; e++) {
            float v = 0.0f;
            if (t->init == 1) v = 1.0f;
            else if (t->init >= 2) {
                philox4x32_ctr_t r = daoe_philox(seed, (uint32_t)(e / 2), (uint32_t)ti, 0, DAOE_STREAM_INIT);
                if (t->init == 2) {
                    /* Box-Muller: two normals per draw, element parity picks one */
                    double u1 = ((double)r.v[0] + 1.0) / 4294967296.0; /* (0, 1] */
                    double u2 = (double)r.v[1] / 4294967296.0;
                    double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
                    double z = (e & 1) ? rad * sin(th) : rad * cos(th);
                    v = (float)(z * sqrt(2.0 / (double)t->fan));
                } else {
                    double u = (double)r.v[2 + (e & 1)] / 4294967296.0; /* [0, 1) */
                    v = (float)((2.0 * u - 1.0) / sqrt((double)t->fan));
                }
            }
            dst[e] = v;
        }
    }
}

/* ------------------------------------------------------------------ forward */
static void bn_fwd(daoe_net *net, const daoe_bnl *b, int N, int HW, const void *x, const void *res,
                   void *y, int training, int relu) {
    daoe_backend *be = net->be;
    be->bn_fwd(be, N, b->c, HW, x, res, y, net->params + b->gamma, net->params + b->beta,
               net->bufs + b->rmean, net->bufs + b->rvar, b->save_mean, b->save_invstd, training, relu,
               0.1f, 1e-5f);
}

void daoe_net_forward(daoe_net *net, int N, int training) {
    daoe_backend *be = net->be;
    float *P = net->params;
    be->conv_fwd(be, &net->stem, N, net->x, P + net->stem.w_off, net->h0);
    bn_fwd(net, &net->bn1, N, DAOE_NET_IN_HW * DAOE_NET_IN_HW, net->h0, NULL, net->a0, training, 1);
    const void *in = net->a0;
    for (int i = 0; i < DAOE_NET_BLOCKS; i++) {
        daoe_block *b = &net->blocks[i];
        const int HW = b->hout * b->hout;
        be->conv_fwd(be, &b->c1, N, in, P + b->c1.w_off, b->h1);
        bn_fwd(net, &b->b1, N, HW, b->h1, NULL, b->a1, training, 1);
        be->conv_fwd(be, &b->c2, N, b->a1, P + b->c2.w_off, b->h2);
        const void *res = in;
        if (b->has_sc) {
            be->conv_fwd(be, &b->sc, N, in, P + b->sc.w_off, b->hs);
            bn_fwd(net, &b->bsc, N, HW, b->hs, NULL, b->s, training, 0);
            res = b->s;
        }
        bn_fwd(net, &b->b2, N, HW, b->h2, res, b->y, training, 1);
        in = b->y;
    }
    const daoe_block *last = &net->blocks[DAOE_NET_BLOCKS - 1];
    const int C = DAOE_NET_FEATURES(net->width), HW = last->hout * last->hout;
    be->avgpool_fwd(be, N, C, HW, in, net->pool);
    be->linear_fwd(be, N, C, net->nclass, net->pool, P + net->fc_w, P + net->fc_b, net->logits);
}

/* ------------------------------------------------------------------ backward */
static void bn_bwd(daoe_net *net, const daoe_bnl *b, int N, int HW, const void *dy, const void *y,
                   const void *x, void *dx, void *dres, int relu) {
    daoe_backend *be = net->be;
    be->bn_bwd(be, N, b->c, HW, dy, y, x, net->params + b->gamma, b->save_mean, b->save_invstd, dx, dres,
               net->grads + b->gamma, net->grads + b->beta, relu);
}

void daoe_net_backward(daoe_net *net, int N) {
    daoe_backend *be = net->be;
    float *P = net->params, *G = net->grads;
    void **gb = net->gbuf;
    const daoe_block *last = &net->blocks[DAOE_NET_BLOCKS - 1];
    const int C = DAOE_NET_FEATURES(net->width), HW_last = last->hout * last->hout;
    be->linear_bwd(be, N, C, net->nclass, net->pool, P + net->fc_w, net->dlogits, net->dpool, G + net->fc_w,
                   G + net->fc_b);
    void *dy = gb[0];
    be->avgpool_bwd(be, N, C, HW_last, net->dpool, dy);
    for (int i = DAOE_NET_BLOCKS - 1; i >= 0; i--) {
        daoe_block *b = &net->blocks[i];
        const void *in = i ? net->blocks[i - 1].y : net->a0;
        const int HW = b->hout * b->hout;
        void *dx = dy == gb[0] ? gb[1] : gb[0];
        void *dres = b->has_sc ? gb[4] : dx;
        bn_bwd(net, &b->b2, N, HW, dy, b->y, b->h2, gb[2], dres, 1);          /* gb2 = dh2 */
        be->conv_bwd_filter(be, &b->c2, N, b->a1, gb[2], G + b->c2.w_off);
        be->conv_bwd_data(be, &b->c2, N, gb[2], P + b->c2.w_off, gb[3], 0);    /* gb3 = da1 */
        bn_bwd(net, &b->b1, N, HW, gb[3], b->a1, b->h1, gb[2], NULL, 1);      /* gb2 = dh1 */
        be->conv_bwd_filter(be, &b->c1, N, in, gb[2], G + b->c1.w_off);
        if (b->has_sc) {
            bn_bwd(net, &b->bsc, N, HW, gb[4], b->s, b->hs, gb[3], NULL, 0);  /* gb3 = dhs */
            be->conv_bwd_filter(be, &b->sc, N, in, gb[3], G + b->sc.w_off);
            be->conv_bwd_data(be, &b->sc, N, gb[3], P + b->sc.w_off, dx, 0);
        }
        be->conv_bwd_data(be, &b->c1, N, gb[2], P + b->c1.w_off, dx, 1);
        dy = dx;
    }
    bn_bwd(net, &net->bn1, N, DAOE_NET_IN_HW * DAOE_NET_IN_HW, dy, net->a0, net->h0, gb[2], NULL, 1);
    be->conv_bwd_filter(be, &net->stem, N, net->x, gb[2], G + net->stem.w_off);
}

/* ------------------------------------------------------------------ checkpoints */
int daoe_net_st_tensors(const daoe_net *net, const float *params, const float *bufs, const int64_t *nbt,
                        void *listv) {
    daoe_st_tensor *list = listv;
    for (int i = 0; i < net->ntensors; i++) {
        const daoe_tensor_info *t = &net->tensors[i];
        list[i].name = t->name;
        list[i].ndim = t->ndim;
        memcpy(list[i].shape, t->shape, sizeof t->shape);
        if (t->kind == DAOE_T_COUNTER) {
            list[i].dtype = "I64";
            list[i].data = nbt;
        } else {
            list[i].dtype = "F32";
            list[i].data = (t->kind == DAOE_T_PARAM ? params : bufs) + t->off;
        }
    }
    return net->ntensors;
}

int daoe_net_save(const daoe_net *net, const char *path, const float *params, const float *bufs,
                  int64_t nbt, const char *const *meta, char *err, size_t errlen) {
    daoe_st_tensor *list = daoe_xcalloc((size_t)net->ntensors, sizeof *list);
    int n = daoe_net_st_tensors(net, params, bufs, &nbt, list);
    int rc = daoe_st_write(path, list, n, meta, err, errlen);
    free(list);
    return rc;
}

int daoe_net_load(const daoe_net *net, const char *path, float *params, float *bufs, int64_t *nbt,
                  char *err, size_t errlen) {
    daoe_st_file *f = daoe_st_open(path, err, errlen);
    if (!f) return -1;
    int rc = -1;
    for (int i = 0; i < net->ntensors; i++) {
        const daoe_tensor_info *t = &net->tensors[i];
        const char *dt = t->kind == DAOE_T_COUNTER ? "I64" : "F32";
        const void *src = daoe_st_get(f, t->name, dt, t->ndim, t->shape, err, errlen);
        if (!src) goto done;
        if (t->kind == DAOE_T_COUNTER) {
            if (nbt) memcpy(nbt, src, sizeof(int64_t));
        } else {
            memcpy((t->kind == DAOE_T_PARAM ? params : bufs) + t->off, src, t->numel * sizeof(float));
        }
    }
    for (int i = 0; i < daoe_st_count(f); i++) {
        const char *nm = daoe_st_name(f, i);
        int known = 0;
        for (int j = 0; j < net->ntensors && !known; j++) known = !strcmp(net->tensors[j].name, nm);
        if (!known) {
            char shown[DAOE_ST_PRINTABLE];
            daoe_errf(err, errlen, "%s: unexpected tensor %s (not a width-%d ResNet-18 checkpoint?)", path,
                      daoe_st_printable(nm, shown), net->width);
            goto done;
        }
    }
    rc = 0;
done:
    daoe_st_close(f);
    return rc;
}
