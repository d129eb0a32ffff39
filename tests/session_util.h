/* Helpers shared by the C tests that train a network through a training
 * session (test_ensemble on the CPU, test_cuda on both backends): synthetic
 * CIFAR-shaped images and labels from Philox, a session on a given backend
 * from command-line flags, and the image indices of step t's batch. The
 * checks themselves stay in each test. Include after testutil.h. */
#ifndef DAOE_SESSION_UTIL_H
#define DAOE_SESSION_UTIL_H
#include "daoe/config.h"
#include "daoe/session.h"
#include "daoe/util.h"
#include "testutil.h"

/* n random images (uint8 [n][3072], 4 bytes per Philox draw, key seed) and
 * labels in 0..9 (key seed + 1): nothing to learn but the images themselves */
static inline void ts_synth_images(int n, uint64_t seed, uint8_t *img, int32_t *lab) {
    for (size_t k = 0; k < (size_t)n * 3072 / 4; k++) {
        philox4x32_ctr_t r = daoe_philox(seed, (uint32_t)k, 0, 0, 17);
        memcpy(img + 4 * k, &r.v[0], 4);
    }
    for (int i = 0; i < n; i++) lab[i] = (int32_t)(daoe_philox(seed + 1, (uint32_t)i, 0, 0, 17).v[0] % 10);
}

/* the images of step t's batch (t from 1): B indices striding through nimg */
static inline void ts_batch_idx(int t, int B, int nimg, int32_t *idx) {
    for (int i = 0; i < B; i++) idx[i] = ((t - 1) * B + i * 7) % nimg;
}

/* The configuration of the small CPU tools (golden_tool, roundtrip_tool): the
 * defaults at width and batch, seed, 2 threads, a constant rate. */
static inline void ts_tool_config(daoe_config *cfg, int width, int batch, uint64_t seed) {
    daoe_config_defaults(cfg);
    cfg->width = width;
    cfg->batch = batch;
    cfg->seed = seed;
    cfg->threads = 2;
    cfg->schedule = DAOE_SCHED_CONSTANT;
}

/* A session on be for flags (daoe-train's syntax) at width and batch,
 * initialised from seed, for T steps (schedule and controller), with a trace
 * ring of trace_cap rows. NULL, and a failed CHECK naming flags, on error. */
static inline daoe_session *ts_session(daoe_backend *be, const char *flags, int width, int batch, uint64_t seed, long T,
                                       int trace_cap) {
    char err[1024];
    daoe_config cfg;
    daoe_config_defaults(&cfg);
    cfg.width = width;
    cfg.batch = batch;
    cfg.seed = seed;
    if (daoe_config_from_flags(&cfg, flags, err, sizeof err) != 0) {
        CHECK(0, "flags '%s' rejected: %s", flags, err);
        return NULL;
    }
    daoe_session_opts so = {.be = be, .total_steps = T, .trace_cap = trace_cap};
    daoe_session *s = daoe_session_create(&cfg, &so, err, sizeof err);
    CHECK(s != NULL, "session '%s': %s", flags, err);
    return s;
}
#endif
