/* ResNet-18, CIFAR variant (kuangliu/pytorch-cifar): 3x3 stem, four stages of
 * two BasicBlocks with widths w, 2w, 4w, 8w (w = 64 in the paper), batch norm,
 * ReLU, global average pool, linear to 10 classes. The shape is the
 * DAOE_NET_* constants below: net.c builds from them, and the benchmarks and
 * tests read them (or the daoe_net built from them), never the numbers.
 *
 * Parameters live in ONE flat fp32 buffer (gradients in another of the same
 * layout), running statistics in a second flat buffer. Tensor names and
 * order are the PyTorch reference's state_dict, so checkpoints load there. */
#ifndef DAOE_NET_H
#define DAOE_NET_H
#include <stddef.h>
#include <stdint.h>
#include "backend.h"

/* The shape. Stage L (0-based) has DAOE_NET_STAGE_WIDTH(w, L) channels and
 * DAOE_NET_STAGE_BLOCKS BasicBlocks; the first block of every stage but the
 * first strides 2 and has a 1x1 shortcut convolution. */
#define DAOE_NET_STAGES 4
#define DAOE_NET_STAGE_BLOCKS 2
#define DAOE_NET_BLOCKS (DAOE_NET_STAGES * DAOE_NET_STAGE_BLOCKS)
#define DAOE_NET_STAGE_WIDTH(w, L) ((w) << (L))
/* channels of the last stage: the features the linear head reads */
#define DAOE_NET_FEATURES(w) DAOE_NET_STAGE_WIDTH(w, DAOE_NET_STAGES - 1)
#define DAOE_NET_CLASSES 10
#define DAOE_NET_IN_C 3   /* input channels */
#define DAOE_NET_IN_HW 32 /* input height and width */
/* convolutions: the stem, two a block, the shortcuts */
#define DAOE_NET_CONVS (1 + 2 * DAOE_NET_BLOCKS + DAOE_NET_STAGES - 1)

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
    daoe_block blocks[DAOE_NET_BLOCKS];
    size_t fc_w, fc_b;
    daoe_conv convs[DAOE_NET_CONVS];
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
/* FLOPs of one training image: forward 2*MACs of every convolution and the
 * linear layer; backward twice that (data + filter), except the stem (no
 * data gradient). The benchmarks' GFLOP/s. */
double daoe_net_train_flops(const daoe_net *net);
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
