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

/* Named state buffers of the optimizer, for checkpoints. */
typedef struct {
    const char *name;
    void *ptr;          /* backend memory */
    size_t bytes;
    const char *dtype;  /* F32, BF16 */
} daoe_state_buf;
int daoe_opt_state_list(const daoe_opt *o, daoe_state_buf *out, int max);

/* Runs a whole training run as configured; returns the exit status
 * (0 finished, 1 error, 3 diverged). Errors go to stderr as one line. */
int daoe_train_run(const daoe_config *cfg);
#endif
