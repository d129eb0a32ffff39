/* daoe_train_run: one training run from a configuration to a run folder.
 *   setup   the data (checked before anything is written), the session, the
 *           folder (run_folder.h: locked, config.json), --resume by the
 *           folder's state: an ended run stays, a checkpoint goes on;
 *   epochs  train (steps, trace rows into alpha.csv, divergence check),
 *           evaluate, log (epochs.csv, alpha.csv), checkpoint;
 *   finish  summary.json and final.safetensors.
 * NaN/Inf stops the run as "diverged". SIGTERM/SIGINT/SIGUSR1 stop it at the
 * next step with a checkpoint (exit 4). A checkpoint holds everything the
 * rest of the run depends on, the epoch log and alpha.csv's text included, so
 * a run killed at any moment and resumed ends with the same bytes: rows
 * written after the checkpoint are rewritten from it. What the files hold and
 * how they are written (atomically; a write error: exit 5, the old file kept)
 * is the run folder's (run_files.c). */
#define _GNU_SOURCE
#include "daoe/train.h"
#include "daoe/cifar10.h"
#include "daoe/rng.h"
#include "daoe/run_folder.h"
#include "daoe/util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRACE_CAP 64
#define READ_EVERY 10

typedef struct {
    const daoe_config *cfg;
    daoe_cifar data;
    daoe_session *s;
    daoe_run_folder rf;   /* --out, locked while the run writes there; the settings */
    daoe_run_log lg;      /* what the run has recorded (restored by --resume) */
    int spe, nsplit, ntrain, start_epoch;
    int stop_sig, stop_step; /* a stop signal seen before step stop_step of the epoch */
    int already_done;     /* --resume of an ended run */
    long T, W;
    int32_t *perm;        /* [ntrain] this epoch's order */
    daoe_trace *ring;     /* [TRACE_CAP] host copy of the device trace */
    int diverged;
    long div_step;
    int tty;
    double t_run0, last_ckpt, eval_secs_est;
    double wall_before; /* a resumed run's seconds before this session (its epochs' and the epoch under way's) */
    char err[2048];
} trainer;

/* ------------------------------------------------------------------ small pieces */
static int cmp_key(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* Order of the n training images in epoch e: sort by Philox keys. */
static void epoch_perm(uint64_t seed, int epoch, int n, int shuffle, int32_t *perm) {
    if (!shuffle) {
        for (int i = 0; i < n; i++) perm[i] = i;
        return;
    }
    uint64_t *k = daoe_xmalloc(sizeof(uint64_t) * 2 * (size_t)n);
    for (int i = 0; i < n; i++) {
        philox4x32_ctr_t r = daoe_philox(seed, (uint32_t)i, (uint32_t)epoch, 0, DAOE_STREAM_SHUFFLE);
        k[2 * i] = ((uint64_t)r.v[0] << 32) | r.v[1];
        k[2 * i + 1] = (uint64_t)i;
    }
    qsort(k, (size_t)n, 2 * sizeof(uint64_t), cmp_key);
    for (int i = 0; i < n; i++) perm[i] = (int32_t)k[2 * i + 1];
    free(k);
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

/* ------------------------------------------------------------------ checkpoint, resume, setup */
/* The state after step lg.t: step is the number of steps done in the epoch
 * under way (0 at an epoch boundary), es and secs their sums and seconds. */
static int save_checkpoint(trainer *tr, int step, const daoe_epoch_sums *es, double secs) {
    daoe_run_log *lg = &tr->lg;
    lg->epoch_step = step;
    lg->epoch_seconds = secs;
    if (es) lg->sums = *es;
    else memset(&lg->sums, 0, sizeof lg->sums);
    return daoe_run_save_checkpoint(&tr->rf, tr->s, lg, tr->err, sizeof tr->err);
}

/* --resume: the folder's state (daoe_run_probe) decides. An ended run is left
 * as it is (exit 0 or 3, tr->already_done), a checkpoint is loaded, anything
 * else starts over; a damaged checkpoint or other settings are refused. 0 to
 * train (tr->start_epoch set), else the exit status. */
static int resume(trainer *tr, int *start_over) {
    const daoe_config *cfg = tr->cfg;
    daoe_run_query q = {.planned_epochs = cfg->epochs, .settings_sha256 = tr->rf.settings_sha256};
    daoe_run_info info;
    daoe_run_state st = daoe_run_probe(cfg->out, &q, &info);
    char ckpt[2300], e[2048];
    daoe_run_path(ckpt, sizeof ckpt, cfg->out, DAOE_RUN_CHECKPOINT);
    switch (st) {
    case DAOE_RUN_FINISHED:
    case DAOE_RUN_DIVERGED:
        fprintf(stderr, "daoe-train: %s already %s (%s); nothing to do\n", cfg->out,
                st == DAOE_RUN_FINISHED ? "finished" : "ended: diverged",
                st == DAOE_RUN_DIVERGED ? DAOE_RUN_SUMMARY
                : info.no_weights       ? DAOE_RUN_SUMMARY "; " DAOE_RUN_FINAL " not kept"
                                        : DAOE_RUN_SUMMARY ", " DAOE_RUN_FINAL);
        /* a kill after summary.json and before the checkpoint's removal leaves one behind */
        unlink(ckpt);
        tr->already_done = 1;
        return st == DAOE_RUN_FINISHED ? DAOE_EXIT_OK : DAOE_EXIT_DIVERGED;
    case DAOE_RUN_OTHER_SETTINGS:
        daoe_errf(tr->err, sizeof tr->err, "--resume: %s; use a new --out or delete the folder", info.problem);
        return DAOE_EXIT_ERROR;
    case DAOE_RUN_DAMAGED:
        daoe_errf(tr->err, sizeof tr->err, "--resume: %s (delete it to start over)", info.problem);
        return DAOE_EXIT_ERROR;
    default:
        break;
    }
    if (info.problem[0])
        fprintf(stderr, "daoe-train: %s: damaged: %s; %s\n", cfg->out, info.problem,
                st == DAOE_RUN_RESUMABLE ? "resuming from the checkpoint" : "training again");
    if (st != DAOE_RUN_RESUMABLE) {
        *start_over = 1;
        return 0;
    }
    if (daoe_run_load_checkpoint(&tr->rf, tr->s, &tr->lg, e, sizeof e) != 0) {
        daoe_errf(tr->err, sizeof tr->err, "--resume: %s (delete it to start over)", e);
        return DAOE_EXIT_ERROR;
    }
    tr->start_epoch = tr->lg.nrows;
    tr->wall_before = tr->lg.epoch_seconds;
    for (int e = 0; e < tr->lg.nrows; e++) tr->wall_before += tr->lg.rows[(size_t)e * DAOE_NCOL + DAOE_COL_SECONDS];
    if (!cfg->quiet)
        fprintf(stderr, "daoe-train: resuming %s at epoch %d step %d (step %ld of the run)\n", cfg->out,
                tr->start_epoch + 1, tr->lg.epoch_step, tr->lg.t);
    return 0;
}

/* 0, or the exit status (tr->already_done: --resume of an ended run) */
static int setup(trainer *tr) {
    const daoe_config *cfg = tr->cfg;
    if (daoe_cifar_load(cfg->data, cfg->verify, &tr->data, tr->err, sizeof tr->err) != 0) return DAOE_EXIT_ERROR;
    tr->nsplit = daoe_config_split(cfg);
    tr->ntrain = daoe_config_ntrain(cfg);
    daoe_session_opts so = {.trace_cap = TRACE_CAP};
    tr->s = daoe_session_create(cfg, &so, tr->err, sizeof tr->err);
    if (!tr->s) return DAOE_EXIT_ERROR;
    tr->spe = tr->s->steps_per_epoch;
    tr->T = tr->s->total_steps;
    tr->W = tr->s->warmup_steps;
    int rc = daoe_run_open(&tr->rf, cfg, tr->err, sizeof tr->err);
    if (rc) return rc;
    daoe_session_alpha(tr->s, tr->lg.alpha_first);
    memcpy(tr->lg.alpha_last, tr->lg.alpha_first, sizeof tr->lg.alpha_last);
    int start_over = !cfg->resume;
    if (cfg->resume && ((rc = resume(tr, &start_over)) != 0 || tr->already_done)) return rc;
    if (start_over) {
        daoe_run_clear(cfg->out);
        daoe_alpha_csv_header(&tr->lg.alpha, daoe_run_columns(cfg));
    }
    tr->lg.rows = realloc(tr->lg.rows, sizeof(double) * DAOE_NCOL * (size_t)(cfg->epochs + 1));
    if (daoe_run_write_config(&tr->rf, tr->s, tr->err, sizeof tr->err) != 0) return DAOE_EXIT_WRITE;
    if (cfg->save_init && tr->lg.t == 0) {
        char path[2300];
        daoe_run_path(path, sizeof path, cfg->out, DAOE_RUN_INIT);
        if (daoe_session_save_weights(tr->s, path, tr->err, sizeof tr->err) != 0) return DAOE_EXIT_WRITE;
    }
    daoe_session_set_images(tr->s, DAOE_SET_TRAIN, tr->data.train_images, tr->data.train_labels, tr->data.ntrain);
    daoe_session_set_images(tr->s, DAOE_SET_TEST, tr->data.test_images, tr->data.test_labels, tr->data.ntest);
    tr->perm = daoe_xmalloc(sizeof(int32_t) * (size_t)tr->ntrain);
    tr->ring = daoe_xmalloc(sizeof(daoe_trace) * TRACE_CAP);
    tr->tty = isatty(2) && !cfg->quiet;
    tr->t_run0 = tr->last_ckpt = daoe_now();
    return 0;
}

/* ------------------------------------------------------------------ one epoch */
/* Trace rows of steps (last_read, t]: epoch sums, alpha.csv, divergence. */
static void read_trace(trainer *tr, long last_read, long t, daoe_epoch_sums *es) {
    const daoe_config *cfg = tr->cfg;
    daoe_session_read_trace(tr->s, tr->ring);
    for (long u = last_read + 1; u <= t; u++) {
        const daoe_trace *r = &tr->ring[(u - 1) % TRACE_CAP];
        es->loss += r->loss;
        es->correct += r->correct;
        es->n += r->n;
        es->nrec++;
        for (int i = 0; i < DAOE_K; i++) {
            es->alpha[i] += r->alpha[i];
            es->share[i] += r->share[i];
        }
        memcpy(tr->lg.alpha_last, r->alpha, sizeof tr->lg.alpha_last);
        if (u % cfg->trace_every == 0 || u == 1)
            daoe_alpha_csv_row(&tr->lg.alpha, r, daoe_schedule_factor(cfg, u - 1, tr->T, tr->W), cfg->features,
                               daoe_run_columns(cfg));
        if (!tr->diverged && (!isfinite(r->loss) || !isfinite(r->feat[DAOE_F_GNORM]))) {
            tr->diverged = 1;
            tr->div_step = u;
        }
    }
}

/* whether epoch e (from 0) is evaluated: every eval_every-th, and the last */
static int evaluated_epoch(const daoe_config *cfg, int e) {
    return e + 1 == cfg->epochs || (cfg->eval_every > 0 && (e + 1) % cfg->eval_every == 0);
}

static void progress(trainer *tr, int e, int s, long t, double t_tr0, const daoe_epoch_sums *es) {
    const int B = tr->s->batch;
    double el = daoe_now() - t_tr0, rate = (s + 1) * (double)B / el;
    int evals = 0;
    for (int k = e; k < tr->cfg->epochs; k++) evals += evaluated_epoch(tr->cfg, k);
    double left = (double)(tr->T - t) * B / rate + evals * tr->eval_secs_est;
    char eta[32];
    fmt_eta(eta, sizeof eta, left);
    fprintf(stderr, "\r  epoch %d/%d  step %d/%d  loss %.4f  %.1f img/s  ETA %s   ", e + 1, tr->cfg->epochs, s + 1,
            tr->spe, es->nrec ? es->loss / es->nrec : NAN, rate, eta);
}

/* The training steps of epoch e from step s0 (es: the sums of the steps
 * before it); returns their seconds. A stop signal ends it early at a step
 * boundary (tr->stop_sig, tr->stop_step), every trace row read. */
static double train_epoch(trainer *tr, int e, int s0, daoe_epoch_sums *es) {
    const int B = tr->s->batch;
    epoch_perm(tr->cfg->seed, e, tr->ntrain, tr->cfg->shuffle, tr->perm);
    long last_read = tr->lg.t;
    double t_tr0 = daoe_now();
    for (int s = s0; s < tr->spe && !tr->diverged; s++) {
        int sig = daoe_stop_requested();
        if (sig) {
            if (tr->s->t > last_read) read_trace(tr, last_read, tr->s->t, es);
            tr->lg.t = tr->s->t;
            tr->stop_sig = sig;
            tr->stop_step = s;
            break;
        }
        daoe_session_train_step(tr->s, tr->perm + (size_t)s * B, e);
        daoe_test_kill("step", NULL);
        long t = tr->s->t;
        if (t % READ_EVERY == 0 || s == tr->spe - 1) {
            read_trace(tr, last_read, t, es);
            last_read = tr->lg.t = t;
            if (tr->tty) progress(tr, e, s, t, t_tr0, es);
        }
    }
    tr->s->be->sync(tr->s->be);
    double secs = daoe_now() - t_tr0;
    if (tr->tty) fprintf(stderr, "\r%100s\r", "");
    return secs;
}

/* Evaluates (evaluated_epoch), appends the row of epoch e, rewrites epochs.csv and alpha.csv. */
static int log_epoch(trainer *tr, int e, const daoe_epoch_sums *es, double t_ep0, double tr_secs) {
    const daoe_config *cfg = tr->cfg;
    daoe_run_log *lg = &tr->lg;
    const int B = tr->s->batch;
    lg->train_seconds += tr_secs;
    lg->train_images += (double)tr->spe * B;
    double t_ev0 = daoe_now();
    double vl = NAN, va = NAN, tl = NAN, ta = NAN;
    if (evaluated_epoch(cfg, e)) {
        if (cfg->val) daoe_session_evaluate(tr->s, DAOE_SET_TRAIN, tr->nsplit, cfg->val, &vl, &va);
        daoe_session_evaluate(tr->s, DAOE_SET_TEST, 0, cfg->test_subset ? cfg->test_subset : tr->data.ntest, &tl, &ta);
        tr->eval_secs_est = daoe_now() - t_ev0;
    }
    double *row = lg->rows + (size_t)lg->nrows * DAOE_NCOL;
    double nrec = es->nrec ? es->nrec : 1;
    row[DAOE_COL_EPOCH] = e + 1;
    row[DAOE_COL_TRAIN_LOSS] = es->loss / nrec;
    row[DAOE_COL_TRAIN_ACC] = es->correct / (es->n > 0 ? es->n : 1);
    row[DAOE_COL_VAL_LOSS] = vl;
    row[DAOE_COL_VAL_ACC] = va;
    row[DAOE_COL_TEST_LOSS] = tl;
    row[DAOE_COL_TEST_ACC] = ta;
    row[DAOE_COL_LR] = daoe_member_lr(cfg, __builtin_ctz(cfg->members)) *
                  daoe_schedule_factor(cfg, (long)(e + 1) * tr->spe - 1, tr->T, tr->W);
    row[DAOE_COL_SECONDS] = daoe_now() - t_ep0;
    row[DAOE_COL_TRAIN_SECONDS] = tr_secs;
    row[DAOE_COL_IPS] = (double)tr->spe * B / tr_secs;
    for (int i = 0; i < DAOE_K; i++) {
        row[DAOE_COL_ALPHA + i] = es->alpha[i] / nrec;
        row[DAOE_COL_SHARE + i] = es->share[i] / nrec;
    }
    lg->nrows++;
    int wr = daoe_run_write_log(&tr->rf, lg, tr->err, sizeof tr->err);
    if (wr != 0) return wr;
    if (!cfg->quiet) {
        char eta[32];
        double done_frac = (double)(e + 1 - tr->start_epoch) / (cfg->epochs - tr->start_epoch);
        fmt_eta(eta, sizeof eta, (daoe_now() - tr->t_run0) * (1.0 - done_frac) / done_frac);
        fprintf(stderr, "epoch %3d/%d  train loss %.4f acc %.4f  val %.4f  test loss %.4f acc %.4f  lr %.3g  "
                        "%.1fs  %.1f img/s  ETA %s\n",
                e + 1, cfg->epochs, row[DAOE_COL_TRAIN_LOSS], row[DAOE_COL_TRAIN_ACC], va, tl, ta, row[DAOE_COL_LR],
                row[DAOE_COL_SECONDS], row[DAOE_COL_IPS], eta);
    }
    return 0;
}

/* The run's wall seconds over all its sessions: this one's and, resumed, those before it (each
 * finished epoch's seconds and the trained part of the epoch under way at the checkpoint; what a
 * kill lost after the last checkpoint was trained again, so it is not counted twice). */
static double run_wall(const trainer *tr) {
    return tr->wall_before + daoe_now() - tr->t_run0;
}

/* A stop signal came: checkpoint, summary.json "interrupted", exit 4. */
static int interrupted(trainer *tr, const daoe_epoch_sums *es, double secs) {
    int rc = save_checkpoint(tr, tr->stop_step, es, secs);
    if (rc) return rc;
    rc = daoe_run_write_summary(&tr->rf, &tr->lg, DAOE_STATUS_INTERRUPTED, 0, run_wall(tr),
                                tr->s->be->desc, tr->err, sizeof tr->err);
    if (rc) return rc;
    fprintf(stderr, "daoe-train: interrupted by signal %d at step %ld: checkpoint written; the same command with "
                    "--resume goes on\n", tr->stop_sig, tr->lg.t);
    return DAOE_EXIT_INTERRUPTED;
}

/* Train, evaluate, log, checkpoint. Returns 0 or the exit status (a write
 * error, a stop signal); a diverged epoch ends without a row. */
static int run_epoch(trainer *tr, int e) {
    double t_ep0 = daoe_now();
    daoe_epoch_sums es;
    memset(&es, 0, sizeof es);
    int s0 = 0;
    double prev_secs = 0;
    if (e == tr->start_epoch && tr->lg.epoch_step > 0) {
        es = tr->lg.sums;
        s0 = tr->lg.epoch_step;
        prev_secs = tr->lg.epoch_seconds;
    }
    double tr_secs = prev_secs + train_epoch(tr, e, s0, &es);
    if (tr->diverged) return 0;
    if (tr->stop_sig) return interrupted(tr, &es, tr_secs);
    /* an epoch resumed inside counts the seconds trained before the stop too */
    int rc = log_epoch(tr, e, &es, t_ep0 - prev_secs, tr_secs);
    if (rc) return rc;
    int last = e + 1 == tr->cfg->epochs;
    if (!last && daoe_now() - tr->last_ckpt >= 60.0 * tr->cfg->checkpoint_minutes) {
        rc = save_checkpoint(tr, 0, NULL, 0);
        if (rc) return rc;
        tr->last_ckpt = daoe_now();
    }
    return 0;
}

/* ------------------------------------------------------------------ finish */
/* final.safetensors (diverged: alpha.csv instead), then summary.json, then
 * the checkpoint goes; returns the exit status. A kill between these steps
 * resumes from the checkpoint, or finds the run ended. */
static int finish(trainer *tr) {
    const daoe_config *cfg = tr->cfg;
    char path[2300];
    int wr;
    if (!tr->diverged) {
        daoe_run_path(path, sizeof path, cfg->out, DAOE_RUN_FINAL);
        wr = daoe_session_save_weights(tr->s, path, tr->err, sizeof tr->err) == 0 ? 0 : DAOE_EXIT_WRITE;
    } else {
        wr = daoe_run_write(&tr->rf, DAOE_RUN_ALPHA, tr->lg.alpha.s, tr->err, sizeof tr->err);
    }
    if (wr) return wr;
    wr = daoe_run_write_summary(&tr->rf, &tr->lg, tr->diverged ? DAOE_STATUS_DIVERGED : DAOE_STATUS_FINISHED,
                                tr->diverged ? tr->div_step : 0, run_wall(tr), tr->s->be->desc, tr->err,
                                sizeof tr->err);
    if (wr) return wr;
    unlink(daoe_run_path(path, sizeof path, cfg->out, DAOE_RUN_CHECKPOINT));
    if (tr->diverged) {
        fprintf(stderr, "daoe-train: diverged: non-finite loss or gradient at step %ld (epoch %ld); "
                        DAOE_RUN_SUMMARY " says status \"" DAOE_STATUS_DIVERGED "\"\n", tr->div_step,
                (tr->div_step - 1) / tr->spe + 1);
        return DAOE_EXIT_DIVERGED;
    }
    if (!cfg->quiet) {
        const daoe_run_log *lg = &tr->lg;
        double acc = lg->nrows ? lg->rows[(size_t)(lg->nrows - 1) * DAOE_NCOL + DAOE_COL_TEST_ACC] : NAN;
        fprintf(stderr, "daoe-train: finished: test acc %.4f, %s/" DAOE_RUN_SUMMARY "\n", acc, cfg->out);
    }
    return 0;
}

static void teardown(trainer *tr) {
    daoe_run_close(&tr->rf);
    free(tr->perm);
    free(tr->ring);
    daoe_run_log_free(&tr->lg);
    daoe_session_free(tr->s);
    daoe_cifar_free(&tr->data);
}

/* ------------------------------------------------------------------ the run */
int daoe_train_run(const daoe_config *cfg) {
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.cfg = cfg;
    daoe_stop_signals_install();
    int status = setup(&tr);
    if (!tr.already_done) {
        for (int e = tr.start_epoch; status == 0 && e < cfg->epochs && !tr.diverged; e++)
            status = run_epoch(&tr, e);
        if (status == 0) status = finish(&tr);
    }
    if (status == DAOE_EXIT_ERROR || status == DAOE_EXIT_WRITE) fprintf(stderr, "daoe-train: error: %s\n", tr.err);
    teardown(&tr);
    return status;
}
