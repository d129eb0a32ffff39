/* A run folder: what daoe-train writes in --out, and what daoe-sweep (both
 * engines) and daoe-stats read back. This unit owns the folder: its file
 * names, the status words of summary.json, the settings fingerprint a
 * checkpoint and a summary carry, the columns and text of epochs.csv and
 * alpha.csv, summary.json, config.json's records, the checkpoint's log part,
 * and ONE rule for "has this run ended, and how?" (daoe_run_probe) that the
 * trainer, the sweep engines and the statistics all call.
 * It does not train: the trainer (train.h) fills a daoe_run_log and asks
 * this unit to write it. */
#ifndef DAOE_RUN_FOLDER_H
#define DAOE_RUN_FOLDER_H
#include "config.h"
#include "session.h"
#include "util.h"

/* ------------------------------------------------------------------ names */
#define DAOE_RUN_CONFIG "config.json"
#define DAOE_RUN_EPOCHS "epochs.csv"
#define DAOE_RUN_ALPHA "alpha.csv"
#define DAOE_RUN_SUMMARY "summary.json"
#define DAOE_RUN_CHECKPOINT "checkpoint.safetensors"
#define DAOE_RUN_FINAL "final.safetensors"
#define DAOE_RUN_INIT "init.safetensors"           /* --save-init */
#define DAOE_RUN_SWEEP_RECORD "sweep_run.json"     /* daoe-sweep's: the arguments that define the result */
#define DAOE_RUN_TRAIN_LOG "train.log"             /* daoe-sweep's: the trainer's output */
#define DAOE_RUN_REJECTED "summary.rejected.json"  /* daoe-sweep's: a claimed end that did not check out */

/* summary.json's "status" */
#define DAOE_STATUS_FINISHED "finished"
#define DAOE_STATUS_DIVERGED "diverged"
#define DAOE_STATUS_INTERRUPTED "interrupted"

/* dir/name into buf (returned) */
char *daoe_run_path(char *buf, size_t n, const char *dir, const char *name);

/* ------------------------------------------------------------------ the state of a folder */
typedef enum {
    DAOE_RUN_EMPTY,          /* nothing to go on (no folder, a run killed before its first checkpoint, a damaged
                                end without a checkpoint): the run starts from the beginning */
    DAOE_RUN_RESUMABLE,      /* a checkpoint that checks out (interrupted or killed): --resume goes on from it;
                                with an exit status: the trainer was interrupted (exit 4) */
    DAOE_RUN_FINISHED,       /* summary.json "finished", epochs.csv rows = its epochs_completed = the planned
                                epochs, final.safetensors opens or is absent (not kept: committed results; info->no_weights) */
    DAOE_RUN_DIVERGED,       /* summary.json "diverged", epochs.csv rows = its epochs_completed */
    DAOE_RUN_DAMAGED,        /* a checkpoint that does not check out, and no sound end: daoe-train refuses it,
                                daoe-sweep starts the run over */
    DAOE_RUN_OTHER_SETTINGS, /* ended (or checkpointed) with other settings than the query's */
    DAOE_RUN_FAILED,         /* with an exit status: no interruption and no sound end that agrees with it */
    DAOE_RUN_NSTATES
} daoe_run_state;
extern const char *const daoe_run_state_names[DAOE_RUN_NSTATES];

typedef struct {
    int planned_epochs;          /* a finished run has this many epochs.csv rows; 0: not known */
    const char *settings_sha256; /* NULL: not checked; else an end or checkpoint with another is OTHER_SETTINGS */
    int exited;                  /* the trainer just ended: exit_status is its exit status (-1: not known) */
    int exit_status;
    int results_only;            /* a reader of results (daoe-stats): final.safetensors is not required
                                    (committed results keep none) and a checkpoint is not read */
} daoe_run_query;

typedef struct {
    int epochs_done;             /* epochs.csv rows */
    char problem[1600];          /* what did not check out, each part naming its file ("" when nothing) */
    int no_weights;              /* FINISHED without final.safetensors (not kept, as in committed results) */
} daoe_run_info;

/* The one rule for a run folder's state; q NULL: nothing known beyond the folder. In order:
 *  - summary.json "finished"/"diverged" with other settings (q->settings_sha256): OTHER_SETTINGS;
 *  - a sound end (see the states) is FINISHED or DIVERGED; a damaged one (summary.json not JSON or
 *    without a status, epochs.csv rows off, final.safetensors there but broken, or absent although the
 *    trainer has just exited 0) goes in info->problem;
 *  - q->exited: exit 4 is RESUMABLE; a sound end with its exit status (0, 3; -1 unknown) is that end;
 *    anything else FAILED;
 *  - else checkpoint.safetensors: none EMPTY; bytes that differ from their digest DAMAGED; other
 *    settings OTHER_SETTINGS; else RESUMABLE (q->results_only: RESUMABLE when it exists, unread). */
daoe_run_state daoe_run_probe(const char *dir, const daoe_run_query *q, daoe_run_info *info);
/* data rows of dir/epochs.csv (0 when missing) */
int daoe_run_epochs_done(const char *dir);
/* A run that starts over leaves no earlier result: summary.json, epochs.csv, alpha.csv,
 * final.safetensors, checkpoint.safetensors and a rejected summary go. */
void daoe_run_clear(const char *dir);
/* An end the trainer claimed (summary.json) that did not check out after it exited (FAILED: e.g.
 * exit 0 without final.safetensors): summary.json becomes DAOE_RUN_REJECTED, so that no later
 * probe, where a missing final.safetensors means "not kept", takes the folder as ended; it is
 * resumed or run again. 1 when there was a summary.json to move, 0 when none, -1 on error. */
int daoe_run_reject_end(const char *dir);

/* ------------------------------------------------------------------ the settings */
/* The settings that define the run's result (what a checkpoint must match to resume): config.json's
 * settings without paths, threads and switches that change no result. Caller frees. Its bytes are a
 * contract: runs started by earlier builds resume only while they stay the same. sha256 (may be NULL):
 * the text's digest, summary.json's settings_sha256. */
char *daoe_run_settings(const daoe_config *cfg, char sha256[65]);

/* ------------------------------------------------------------------ what a run records */
/* epochs.csv columns (and the rows of the checkpoint's log.epochs) */
enum {
    DAOE_COL_EPOCH, DAOE_COL_TRAIN_LOSS, DAOE_COL_TRAIN_ACC, DAOE_COL_VAL_LOSS, DAOE_COL_VAL_ACC, DAOE_COL_TEST_LOSS,
    DAOE_COL_TEST_ACC, DAOE_COL_LR, DAOE_COL_SECONDS, DAOE_COL_TRAIN_SECONDS, DAOE_COL_IPS, DAOE_COL_ALPHA,
    DAOE_COL_SHARE = DAOE_COL_ALPHA + DAOE_K, DAOE_NCOL = DAOE_COL_SHARE + DAOE_K
};

/* one epoch's sums over its trace rows */
typedef struct {
    double loss, correct, n, alpha[DAOE_K], share[DAOE_K];
    long nrec;
} daoe_epoch_sums;

/* What the run has recorded so far; a checkpoint holds all of it, so rows written after the
 * checkpoint are rewritten from it on --resume. */
typedef struct {
    double *rows;          /* [nrows][DAOE_NCOL]: epochs.csv (room for cfg->epochs + 1 rows) */
    int nrows;
    daoe_strbuf alpha;     /* alpha.csv's text */
    long t;                /* steps whose trace rows are in */
    double train_seconds, train_images;
    float alpha_first[DAOE_K], alpha_last[DAOE_K];
    /* the epoch under way at a checkpoint inside it: its steps done, their seconds and sums */
    int epoch_step;
    double epoch_seconds;
    daoe_epoch_sums sums;
} daoe_run_log;
void daoe_run_log_free(daoe_run_log *lg);

/* alpha.csv's header; a trace row (sched: the schedule factor at its step; a feature switched off,
 * features bit clear, is written empty) */
/* The members with columns in a run's files: DAO-E's default mixture and the
 * run's own (a member added to the list later changes no earlier run's files). */
unsigned daoe_run_columns(const daoe_config *cfg);
void daoe_alpha_csv_header(daoe_strbuf *sb, unsigned cols);
void daoe_alpha_csv_row(daoe_strbuf *sb, const daoe_trace *r, double sched, unsigned features, unsigned cols);

/* ------------------------------------------------------------------ the folder daoe-train writes */
typedef struct {
    const daoe_config *cfg;
    const char *dir;            /* cfg->out */
    char *settings;             /* daoe_run_settings */
    char settings_sha256[65];
    int lock_fd;
} daoe_run_folder;

/* --out created and locked (a second daoe-train there waits for the first), the settings computed,
 * temporary files of interrupted writes removed. 0 or DAOE_EXIT_* (err set, or a stop signal). */
int daoe_run_open(daoe_run_folder *rf, const daoe_config *cfg, char *err, size_t errlen);
void daoe_run_close(daoe_run_folder *rf);
/* text into rf's folder as name, atomically: 0 or DAOE_EXIT_WRITE (err set) */
int daoe_run_write(const daoe_run_folder *rf, const char *name, const char *text, char *err, size_t errlen);
/* config.json: every setting, versions, machine, environment, the backend's record, sizes */
int daoe_run_write_config(const daoe_run_folder *rf, daoe_session *s, char *err, size_t errlen);
/* epochs.csv and alpha.csv from the log */
int daoe_run_write_log(const daoe_run_folder *rf, const daoe_run_log *lg, char *err, size_t errlen);
/* summary.json with status (DAOE_STATUS_*); diverged_at: the step, 0 when not diverged */
int daoe_run_write_summary(const daoe_run_folder *rf, const daoe_run_log *lg, const char *status, long diverged_at,
                           double wall_seconds, const char *device, char *err, size_t errlen);
/* checkpoint.safetensors: the session's state and the log (after step lg->t) */
int daoe_run_save_checkpoint(const daoe_run_folder *rf, daoe_session *s, const daoe_run_log *lg, char *err,
                             size_t errlen);
/* The checkpoint into s and lg (lg->rows sized for cfg->epochs + 1); it must match rf's settings and
 * s's schedule. 0 or -1 (err names the file). */
int daoe_run_load_checkpoint(const daoe_run_folder *rf, daoe_session *s, daoe_run_log *lg, char *err, size_t errlen);
#endif
