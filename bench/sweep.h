/* daoe-sweep's pieces (see daoe_sweep.c for what the tool does):
 *   sweep_profile.c  the profile: bases merged, checked; expanded into runs
 *   sweep_run.c      a run's state on disk, starting and reaping daoe-train, the schedule
 *   sweep_report.c   sweep.json, the dry-run listing, progress and ETA, durations and times
 *   sweep_slurm.c    the slurm engine: a job array per sweep, followed; the task side */
#ifndef DAOE_SWEEP_H
#define DAOE_SWEEP_H
#include <cjson/cJSON.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include "tool.h"

#define MAXARGS 256

typedef enum { ST_TODO, ST_RESUME, ST_FINISHED, ST_DIVERGED, ST_FAILED, ST_STALE, ST_RUNNING } run_state;
extern const char *const STATE_NAME[];

typedef struct {
    char id[256], group[256], optimizer[32], setting[128];
    unsigned long long seed;
    char *args[MAXARGS];   /* the arguments that define the result (no paths, threads) */
    int nargs;
    int set_arg0;          /* args[set_arg0..] come from the setting (grid point, ablation) */
    char dir[2048];
    int epochs;            /* planned */
    run_state state;
    int done_epochs;       /* epochs.csv rows at start */
    int selected;          /* passes --only */
    int ran;               /* started by this invocation */
    int exit_code;
    double seconds;        /* this invocation */
    char message[3000];
    char log_name[64];     /* the log to look at when it failed (default train.log) */
    pid_t pid;
    int slot;
    double t0;
} sweep_run_t;

typedef struct {
    const char *profile_path, *results, *data, *train, *only, *base, *lr_from, *get;
    int jobs, threads, dry_run, retry_diverged, rerun_stale, no_lr_from, show;
    /* --engine slurm */
    const char *engine, *partition, *account, *qos, *mem, *time;
    tool_list sbatch;      /* --sbatch-arg */
    int requeue_max;
    double poll;
} sweep_opts_t;

typedef struct {
    const sweep_opts_t *o;
    cJSON *profile;        /* resolved: bases merged, name and kind filled in */
    const char *name, *backend;
    sweep_run_t *runs;
    int nruns, runs_cap;
    cJSON *tuned;          /* lr_from's file, NULL when none */
    cJSON *tuned_used;     /* optimizer -> the tuned arguments used (null: none) */
    const char *lr_from_path;
    int untuned;           /* --untuned: the profile names tuned rates and the user chose the defaults */
    cJSON *keep;           /* owns the settings made from a grid */
    int jobs, threads_per_job;
    char gpus[16][32];
    int ngpu;
    /* at the start: the selected runs by state */
    int ntodo, nfin, ndiv, nstale, unsel;
    /* this invocation */
    char started[64];
    double t_start;
    int tty;               /* stderr is a terminal: a progress line */
    int ndone, nfailed, ndiverged_now;
    char slurm_job[32];    /* the array job followed (slurm engine) */
} sweep_t;

/* this invocation's progress, for the progress line and the ETA */
typedef struct {
    int running, pending;
    double units_total, units_done; /* epochs to run, epochs of the runs ended */
    double last_draw;
    int lines;                      /* not on a terminal: a line whenever the counts change */
    int last_state[5];
} progress_t;

extern volatile sig_atomic_t g_stop;

/* sweep_profile.c */
void sweep_resolve_profile(sweep_t *S, const sweep_opts_t *o);
void sweep_expand(sweep_t *S);

/* sweep_run.c */
/* SIGINT, SIGTERM, SIGHUP (and SIGUSR1) to handler; NULL: they set g_stop */
void sweep_catch_signals(void (*handler)(int), int usr1);
void sweep_probe_run(sweep_run_t *r, const sweep_opts_t *o);
int sweep_to_run(const sweep_run_t *r);
int sweep_prepare_run(const sweep_t *S, sweep_run_t *r);
void sweep_train_argv(const sweep_t *S, sweep_run_t *r, char *threads, char **argv);
void sweep_last_log_line(const sweep_run_t *r, char *out, size_t n);
int sweep_open_log(sweep_run_t *r, char *const *argv);
void sweep_settle(sweep_run_t *r, int rc, const char *why);
void sweep_plan_jobs(sweep_t *S);
void sweep_probe(sweep_t *S);
int sweep_begin(sweep_t *S);
void sweep_schedule(sweep_t *S);

/* sweep_report.c */
void fmt_dur(char *buf, size_t n, double s);
void iso_now(char *buf, size_t n);
cJSON *run_json(const sweep_run_t *r);
void write_sweep_json(const sweep_t *S, int final);
int sweep_dry_run(const sweep_t *S);
int sweep_report(sweep_t *S);
const char *sweep_clear_line(const sweep_t *S);
void sweep_progress_start(const sweep_t *S, progress_t *p);
void sweep_run_ended(sweep_t *S, progress_t *p, sweep_run_t *r);
void sweep_draw_progress(const sweep_t *S, progress_t *p);

/* sweep_slurm.c */
void sweep_slurm_paths(sweep_opts_t *o);
int sweep_slurm(sweep_t *S);
int sweep_slurm_task(int argc, char **argv);
#endif
