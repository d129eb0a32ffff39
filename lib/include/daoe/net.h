/* ResNet-18, CIFAR variant (kuangliu/pytorch-cifar): 3x3 stem, four stages of
 * two BasicBlocks with widths w, 2w, 4w, 8w (w = 64 in the paper), batch norm,
 * ReLU, global average pool, linear to 10 classes.
 *
 * Parameters live in ONE flat fp32 buffer (gradients in another of the same
 * layout), running statistics in a second flat buffer. Tensor names and
 * order are the PyTorch reference's state_dict, so checkpoints load there. */
#ifndef DAOE_NET_H
#define DAOE_NET_H
#include <stddef.h>
#include <stdint.h>
#include "backend.h"

enum { DAOE_T_PARAM = 0, DAOE_T_BUFFER = 1, DAOE_T_COUNTER = 2 };

typedef struct {
    char name[48];
    int kind;         /* DAOE_T_* */
    int ndim;
    int64_t shape[4];
    size_t off;       /* element offset in params (PARAM) or bufs (BUFFER) */
    size_t numel;
    int init;         /* 0 zeros, 1 ones, 2 kaiming-normal (fan_out), 3 uniform +-1/sqrt(fan_in) */
    int fan;
} daoe_tensor_info;

typedef struct {
    int c;
    size_t gamma, beta;     /* offsets in params */
    size_t rmean, rvar;     /* offsets in bufs */
    float *save_mean, *save_invstd; /* backend memory [c] */
} daoe_bnl;

typedef struct {
    daoe_conv c1, c2, sc;
    daoe_bnl b1, b2, bsc;
    int has_sc;
    int cin, cout, hin, hout;
    void *h1, *a1, *h2, *hs, *s, *y; /* activations, backend memory */
} daoe_block;

typedef struct {
    int width, nclass, batch_cap;
    /* layout */
    daoe_tensor_info *tensors;
    int ntensors;
    size_t nparams;      /* flat buffer length (tensors start at 64-element boundaries) */
    size_t nparams_real; /* parameters proper */
    size_t nbufs;
    daoe_conv stem;
    daoe_bnl bn1;
    daoe_block blocks[8];
    size_t fc_w, fc_b;
    daoe_conv convs[21];
    int nconv;
    int64_t num_batches_tracked;
    /* backend memory (after daoe_net_alloc) */
    daoe_backend *be;
    float *params, *grads, *bufs;
    void *x;                /* input batch [N,3,32,32] */
    int32_t *y;             /* labels [N] */
    void *h0, *a0;          /* stem conv output, stem bn-relu output */
    float *pool, *logits, *dlogits, *dpool;
    void *gbuf[5];          /* gradient scratch, each the largest activation */
} daoe_net;

/* Layout only (no memory): tensor list, offsets, conv descriptors. */
void daoe_net_layout(daoe_net *net, int width);
/* Allocate parameters and activations for batches up to batch_cap on be. */
void daoe_net_alloc(daoe_net *net, daoe_backend *be, int batch_cap);
void daoe_net_free(daoe_net *net);

/* Kaiming-normal (fan_out, ReLU gain) conv weights, PyTorch's default
 * uniform(+-1/sqrt(fan_in)) for the linear layer, BN gamma 1 beta 0,
 * running var 1; a pure function of the seed (Philox stream INIT). Host memory. */
void daoe_net_init_host(const daoe_net *net, uint64_t seed, float *params, float *bufs);

/* Forward on net->x (N images) to net->logits; training selects batch
 * statistics (and updates running ones) vs running statistics. */
void daoe_net_forward(daoe_net *net, int N, int training);
/* Backward from net->dlogits; writes every gradient in net->grads. */
void daoe_net_backward(daoe_net *net, int N);

/* Checkpoints with the reference names. Host buffers. */
int daoe_net_save(const daoe_net *net, const char *path, const float *params, const float *bufs,
                  int64_t nbt, const char *const *meta, char *err, size_t errlen);
int daoe_net_load(const daoe_net *net, const char *path, float *params, float *bufs, int64_t *nbt,
                  char *err, size_t errlen);

/* Copy the layout's tensors to a safetensors tensor list (host pointers). */
int daoe_net_st_tensors(const daoe_net *net, const float *params, const float *bufs,
                        const int64_t *nbt, void *list /* daoe_st_tensor[ntensors] */);
#endif
