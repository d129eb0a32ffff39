/* A training session: the backend, the network, the optimizer and controller
 * state, the batch buffers and the image sets of one configuration, built
 * in one call. The trainer, the benchmarks and the tests start here:
 *
 *   daoe_session *s = daoe_session_create(&cfg, NULL, err, sizeof err);
 *   daoe_session_set_images(s, DAOE_SET_TRAIN, images, labels, n);
 *   daoe_session_train_step(s, idx, epoch);       (idx: cfg.batch image indices)
 *   daoe_session_evaluate(s, DAOE_SET_TEST, 0, n, &loss, &acc);
 *   daoe_session_free(s);
 *
 * The pieces stay public (s->net, s->opt, s->be) for tests that step through
 * a training step op by op. */
#ifndef DAOE_SESSION_H
#define DAOE_SESSION_H
#include "config.h"
#include "net.h"
#include "safetensors.h"

/* One training step's device work on a batch already in net->x and net->y:
 * forward, cross-entropy, backward, the fused optimizer pass, the controller
 * and the weight refresh. Meant for be->run_step (ctx: a daoe_step that
 * outlives the call: graphs are keyed by it). */
typedef struct {
    daoe_backend *be;
    daoe_net *net;
    daoe_opt *opt;
    int batch;
} daoe_step;
void daoe_step_run(void *ctx);

typedef struct {
    daoe_backend *be;   /* NULL: create the configured one (the session then owns it) */
    long total_steps;   /* T of the schedule and the controller; 0: the configured run's */
    int trace_cap;      /* rows of the device trace ring; 0: 64 */
    int graph_key;      /* be->run_step key: sessions stepping on one backend need their own */
} daoe_session_opts;

enum { DAOE_SET_TRAIN = 0, DAOE_SET_TEST = 1, DAOE_NSETS = 2 };

typedef struct {
    daoe_config cfg;       /* validated (daoe_config_validate) */
    daoe_backend *be;
    int own_be;
    daoe_net net;
    daoe_opt opt;
    int batch;             /* cfg.batch: the training batch and the evaluation chunk */
    int steps_per_epoch;
    long total_steps, warmup_steps;
    long t;                /* training steps done (the next step is t + 1) */
    int graph_key;
    daoe_step step;        /* run_step's context */
    int32_t *idx;          /* backend memory [batch]: image indices of the batch */
    float *eval_stats;     /* backend memory [DAOE_NSTAT] */
    struct {
        uint8_t *images;   /* backend memory [n][3][32][32] */
        int32_t *labels;   /* backend memory [n] */
        int n;
    } set[DAOE_NSETS];
} daoe_session;

/* Network at cfg->width initialised from cfg->seed (or cfg->init_from),
 * optimizer state zeroed, controller at alpha_init. NULL with a one-line
 * message on error (bad --init-from file, backend unavailable). */
daoe_session *daoe_session_create(const daoe_config *cfg, const daoe_session_opts *opts, char *err,
                                  size_t errlen);
void daoe_session_free(daoe_session *s);

/* Copies n host images (uint8 [n][3][32][32]) and labels to the backend. */
void daoe_session_set_images(daoe_session *s, int set, const uint8_t *images, const int32_t *labels, int n);
/* net.x, net.y <- images idx[0..n) of set (host indices). training: augmented
 * (cfg.augment, cfg.seed, epoch), statistics for the controller (opt.stats);
 * else plain, statistics into eval_stats. */
void daoe_session_load_batch(daoe_session *s, int set, const int32_t *idx, int n, int epoch, int training);
/* Starts step t = ++s->t: its constants (schedule, bias corrections) to the backend. */
void daoe_session_begin_step(daoe_session *s, int epoch);
/* One training step on the batch in net.x, net.y: begin_step, daoe_step_run
 * through be->run_step, and the BN batch counter. */
void daoe_session_step(daoe_session *s, int epoch);
/* load_batch(DAOE_SET_TRAIN, idx, batch, epoch, training) + step */
void daoe_session_train_step(daoe_session *s, const int32_t *idx, int epoch);
/* Mean loss and accuracy on images [start, start + count) of set (eval mode). */
void daoe_session_evaluate(daoe_session *s, int set, int start, int count, double *loss, double *acc);

/* The device trace ring to the host (opt.trace_cap rows; step t is row (t-1) % cap). */
void daoe_session_read_trace(daoe_session *s, daoe_trace *ring);
/* The alpha the next step applies. */
void daoe_session_alpha(daoe_session *s, float alpha[DAOE_K]);
/* Parameters and running statistics to host buffers (nparams, nbufs floats). */
void daoe_session_get_weights(daoe_session *s, float *params, float *bufs);
/* The weights under the reference PyTorch names (final.safetensors). */
int daoe_session_save_weights(daoe_session *s, const char *path, char *err, size_t errlen);

/* The full state (weights, running statistics, optimizer and controller
 * state) with the caller's extra tensors and metadata, for --resume. */
int daoe_session_save_state(daoe_session *s, const char *path, const daoe_st_tensor *extra, int nextra,
                            const char *const *meta, char *err, size_t errlen);
/* 0 when the data bytes of a file save_state wrote match the digest they
 * were written with (metadata data_sha256); -1 with a message. */
int daoe_session_check_state(const daoe_st_file *f, char *err, size_t errlen);
/* Restores what save_state wrote from an open file (checked as above);
 * the caller reads its own tensors and metadata, and sets s->t. */
int daoe_session_load_state(daoe_session *s, const daoe_st_file *f, char *err, size_t errlen);
#endif
