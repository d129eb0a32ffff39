/* The optimizer on a backend (state buffers, schedule, per-step constants)
 * and the whole run behind daoe-train (data, epochs, evaluation, files,
 * resume). The session (session.h) bundles the pieces for one run. */
#ifndef DAOE_TRAIN_H
#define DAOE_TRAIN_H
#include "config.h"
#include "net.h"
#include "session.h"

/* Allocates the optimizer's state (zeroed) and controller on be for flat
 * buffers params/grads of n elements (nreal real parameters). */
void daoe_opt_setup(daoe_opt *o, daoe_backend *be, const daoe_config *cfg, float *params, float *grads,
                    size_t n, size_t nreal, int total_steps, int trace_cap);
void daoe_opt_free(daoe_opt *o, daoe_backend *be);
/* Schedule factor s for 0-based step k of T (warm-up W steps). */
double daoe_schedule_factor(const daoe_config *c, long k, long T, long W);
/* Per-step constants for 1-based step t (host struct). */
void daoe_step_consts_fill(const daoe_config *c, long t, int epoch, long T, long W, daoe_step_consts *sc);

/* Bytes one fused optimizer pass moves per element (each state buffer read
 * and written, g read, p read and written): the benchmarks' GB/s. */
double daoe_opt_bytes_per_elem(const daoe_opt *o);

/* Named state buffers of the optimizer and controller, for checkpoints
 * (at most DAOE_MAX_STATE_BUFS). */
#define DAOE_MAX_STATE_BUFS (DAOE_K * (DAOE_MEMBER_MAXSTATE + 11) + 20)
typedef struct {
    const char *name;
    void *ptr;          /* backend memory */
    size_t bytes;
    const char *dtype;  /* F32, BF16 */
} daoe_state_buf;
int daoe_opt_state_list(const daoe_opt *o, daoe_state_buf *out, int max);
/* Checkpoints written before the controller state was stored by name hold it
 * as one raw struct ("controller.state"): read it into o's state. */
int daoe_opt_load_legacy_ctrl(daoe_opt *o, daoe_backend *be, const daoe_st_file *f, char *err, size_t errlen);

/* daoe-train's exit statuses (README, --help); daoe-sweep and the batch
 * engines act on them (4: resume later). */
enum {
    DAOE_EXIT_OK = 0,          /* finished, or --resume of a finished run */
    DAOE_EXIT_ERROR = 1,       /* bad data, bad checkpoint, no backend ... */
    DAOE_EXIT_USAGE = 2,       /* bad command line */
    DAOE_EXIT_DIVERGED = 3,    /* NaN/Inf; summary.json "diverged" */
    DAOE_EXIT_INTERRUPTED = 4, /* SIGTERM/SIGINT/SIGUSR1: checkpoint written, summary.json "interrupted" */
    DAOE_EXIT_WRITE = 5        /* an output file could not be written (full disk, read-only, quota) */
};

/* Runs a whole training run as configured; returns the exit status
 * (DAOE_EXIT_*). Errors go to stderr as one line. */
int daoe_train_run(const daoe_config *cfg);
#endif
