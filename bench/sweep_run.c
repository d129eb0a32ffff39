/* daoe-sweep: running the runs.
 *
 * A run's state comes from its folder: sweep_run.json, then the run folder's
 * one rule (daoe_run_probe, run_folder.h). Runs go N at a time: each is a
 * daoe-train child in its own process group, its output appended to
 * train.log, one GPU per slot with the cuda backend. The loop starts runs in
 * free slots, reaps finished ones and redraws a progress line (on a terminal)
 * every second; SIGINT/SIGTERM/SIGHUP stop the children, which resume on the
 * next invocation. The slurm engine (sweep_slurm.c) shares the state on
 * disk, a run's preparation, command line and log, and how an ended run settles. */
#define _GNU_SOURCE
#include "daoe/run_folder.h"
#include "daoe/train.h"
#include "daoe/util.h"
#include "sweep.h"
#include "tool.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t g_stop = 0;
static void on_signal(int s) { (void)s; g_stop = 1; }

void sweep_catch_signals(void (*handler)(int), int usr1) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler ? handler : on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (usr1) sigaction(SIGUSR1, &sa, NULL);
}

/* ------------------------------------------------------------------ state on disk */
static int args_equal(const sweep_run_t *r, const cJSON *rec) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(rec, "args");
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != r->nargs) return 0;
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++)
        if (!cJSON_IsString(e) || strcmp(e->valuestring, r->args[i])) return 0;
    return 1;
}

/* A run's state from its folder: sweep_run.json's arguments against the
 * profile's (else "stale"), then the run folder's one rule (daoe_run_probe),
 * which trusts nothing that does not check out: a damaged end is resumed from
 * a sound checkpoint or redone, a damaged checkpoint is redone. r->message
 * says what was found. */
void sweep_probe_run(sweep_run_t *r, const sweep_opts_t *o) {
    char p[2300];
    r->message[0] = 0;
    cJSON *rec = tool_read_json(daoe_run_path(p, sizeof p, r->dir, DAOE_RUN_SWEEP_RECORD), TOOL_JSON_QUIET);
    int stale = rec && !args_equal(r, rec);
    cJSON_Delete(rec);
    if (stale) {
        r->state = o->rerun_stale ? ST_TODO : ST_STALE;
        r->done_epochs = o->rerun_stale ? 0 : daoe_run_epochs_done(r->dir);
        if (!o->rerun_stale) snprintf(r->message, sizeof r->message, "ran with other settings than the profile's");
        return;
    }
    daoe_run_query q = {.planned_epochs = r->epochs};
    daoe_run_info info;
    switch (daoe_run_probe(r->dir, &q, &info)) {
    case DAOE_RUN_FINISHED: r->state = ST_FINISHED; break;
    case DAOE_RUN_DIVERGED: r->state = o->retry_diverged ? ST_TODO : ST_DIVERGED; break;
    case DAOE_RUN_RESUMABLE: r->state = ST_RESUME; break;
    default: r->state = ST_TODO; break; /* empty, damaged */
    }
    r->done_epochs = r->state == ST_TODO ? 0 : info.epochs_done;
    if (info.problem[0])
        snprintf(r->message, sizeof r->message, "damaged: %s; %s", info.problem,
                 r->state == ST_RESUME ? "resuming from the checkpoint" : "running it again");
}

int sweep_to_run(const sweep_run_t *r) { return r->selected && (r->state == ST_TODO || r->state == ST_RESUME); }

/* every run's state, and the selected runs counted by state; damaged folders reported */
void sweep_probe(sweep_t *S) {
    for (int i = 0; i < S->nruns; i++) {
        sweep_run_t *r = &S->runs[i];
        sweep_probe_run(r, S->o);
        if (!r->selected) {
            S->unsel++;
            continue;
        }
        if (!strncmp(r->message, "damaged", 7)) fprintf(stderr, "daoe-sweep: %s: %s\n", r->dir, r->message);
        switch (r->state) {
        case ST_TODO: case ST_RESUME: S->ntodo++; break;
        case ST_FINISHED: S->nfin++; break;
        case ST_DIVERGED: S->ndiv++; break;
        case ST_STALE: S->nstale++; break;
        default: break;
        }
    }
}

/* ------------------------------------------------------------------ jobs, threads, GPUs */
static int list_gpus(char gpus[16][32]) {
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    int n = 0;
    if (cvd && cvd[0]) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", cvd);
        for (char *t = strtok(buf, ","); t && n < 16; t = strtok(NULL, ",")) snprintf(gpus[n++], 32, "%s", t);
        return n;
    }
    FILE *p = popen("nvidia-smi -L 2>/dev/null", "r");
    if (!p) return 0;
    char line[512];
    while (fgets(line, sizeof line, p) && n < 16)
        if (!strncmp(line, "GPU ", 4)) {
            snprintf(gpus[n], 32, "%d", n);
            n++;
        }
    pclose(p);
    return n;
}

/* -j, else the profile's "jobs" (CPU only), else "runs_per_gpu" (default 1) per GPU, or 1;
 * the threads split between the jobs. One run at width 64, batch 128 leaves most of a
 * large GPU idle, so several concurrent runs may train more images per second in all;
 * the profile says how many paid off where it was measured. */
void sweep_plan_jobs(sweep_t *S) {
    const sweep_opts_t *o = S->o;
    int cuda = !strcmp(S->backend, "cuda");
    if (cuda) S->ngpu = list_gpus(S->gpus);
    int jobs = o->jobs;
    const cJSON *pj = cJSON_GetObjectItemCaseSensitive(S->profile, "jobs");
    if (!jobs && cJSON_IsNumber(pj) && pj->valueint > 0 && !S->ngpu) jobs = pj->valueint;
    const cJSON *rpg = cJSON_GetObjectItemCaseSensitive(S->profile, "runs_per_gpu");
    int runs_per_gpu = cJSON_IsNumber(rpg) ? rpg->valueint : 1; /* checked with the profile */
    if (!jobs) jobs = S->ngpu > 0 ? S->ngpu * runs_per_gpu : 1;
    int threads = o->threads ? o->threads : daoe_cpus_usable(); /* a cpuset's CPUs, not the node's */
    S->jobs = jobs;
    S->threads_per_job = threads / jobs > 0 ? threads / jobs : 1;
    if (cuda && S->ngpu == 0 && !o->dry_run)
        fprintf(stderr, "daoe-sweep: warning: backend cuda but no GPU found (nvidia-smi -L); the runs will fail\n");
    if (S->ngpu > 0 && jobs > S->ngpu)
        fprintf(stderr, "daoe-sweep: note: %d jobs on %d GPUs: GPUs are shared\n", jobs, S->ngpu);
}

/* ------------------------------------------------------------------ one run */
/* the trainer's command line: paths and threads from the sweep, then the run's arguments */
void sweep_train_argv(const sweep_t *S, sweep_run_t *r, char *threads, char **argv) {
    int n = 0;
    argv[n++] = (char *)S->o->train;
    argv[n++] = "--data";
    argv[n++] = (char *)S->o->data;
    argv[n++] = "--out";
    argv[n++] = r->dir;
    argv[n++] = "--threads";
    argv[n++] = threads;
    argv[n++] = "--resume";
    for (int i = 0; i < r->nargs; i++) argv[n++] = r->args[i];
    argv[n] = NULL;
}

/* train.log opened for appending, with a line naming the command; -1 (message set) on failure */
int sweep_open_log(sweep_run_t *r, char *const *argv) {
    char p[2300];
    int fd = open(daoe_run_path(p, sizeof p, r->dir, DAOE_RUN_TRAIN_LOG), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) {
        snprintf(r->message, sizeof r->message, "%s: %s", p, strerror(errno));
        return -1;
    }
    char stamp[64];
    iso_now(stamp, sizeof stamp);
    dprintf(fd, "---- daoe-sweep %s:", stamp);
    for (int i = 0; argv[i]; i++) dprintf(fd, " %s", argv[i]);
    dprintf(fd, "\n");
    return fd;
}

/* in the child: its own process group (stopped as one), the log as stdout and stderr, one GPU */
static void exec_train(const sweep_t *S, int slot, int fd, char *const *argv, pid_t parent) {
    setpgid(0, 0);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    /* a sweep killed outright (SIGKILL) still stops its runs, which checkpoint */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    if (S->ngpu > 0) setenv("CUDA_VISIBLE_DEVICES", S->gpus[slot % S->ngpu], 1);
    execv(argv[0], argv);
    fprintf(stderr, "daoe-sweep: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* the run's folder, without an old result when it starts over, and its
 * sweep_run.json (what defines the result); -1 (message set) on failure */
int sweep_prepare_run(const sweep_t *S, sweep_run_t *r) {
    char err[1024];
    if (daoe_mkdir_p(r->dir, err, sizeof err) != 0) {
        snprintf(r->message, sizeof r->message, "%s", err);
        return -1;
    }
    if (r->state == ST_TODO) daoe_run_clear(r->dir);
    cJSON *rec = run_json(r);
    cJSON_AddStringToObject(rec, "profile", S->name);
    cJSON_AddStringToObject(rec, "train", S->o->train);
    /* the profile names tuned rates and this run has the defaults (--untuned) */
    if (S->untuned) cJSON_AddTrueToObject(rec, "untuned");
    tool_write_json(r->dir, DAOE_RUN_SWEEP_RECORD, rec);
    cJSON_Delete(rec);
    return 0;
}

/* the prepared folder, then daoe-train in the background; -1 (message set) when it could not start */
static pid_t launch(sweep_t *S, sweep_run_t *r, int slot) {
    if (sweep_prepare_run(S, r) < 0) return -1;

    char *argv[MAXARGS + 16], threads[16];
    snprintf(threads, sizeof threads, "%d", S->threads_per_job);
    sweep_train_argv(S, r, threads, argv);
    int fd = sweep_open_log(r, argv);
    if (fd < 0) return -1;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        snprintf(r->message, sizeof r->message, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) exec_train(S, slot, fd, argv, parent);
    close(fd);
    setpgid(pid, pid);
    r->pid = pid;
    r->slot = slot;
    r->t0 = daoe_now();
    r->ran = 1;
    r->state = ST_RUNNING;
    return pid;
}

void sweep_last_log_line(const sweep_run_t *r, char *out, size_t n) {
    char p[2300], err[256];
    size_t len;
    char *t = daoe_read_file(daoe_run_path(p, sizeof p, r->dir, DAOE_RUN_TRAIN_LOG), &len, err, sizeof err);
    out[0] = 0;
    if (!t) return;
    while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' ')) t[--len] = 0;
    char *s = t + len;
    while (s > t && s[-1] != '\n' && s[-1] != '\r') s--;
    snprintf(out, n, "%s", s);
    free(t);
}

/* A run that ended with exit status rc (-1: not known) settles by the run
 * folder's rule: finished or diverged only when the folder's end checks out
 * and agrees with rc, interrupted (4: resumes next time), else failed
 * (message: why, and what was damaged or the log's last line). */
void sweep_settle(sweep_run_t *r, int rc, const char *why) {
    daoe_run_query q = {.planned_epochs = r->epochs, .exited = 1, .exit_status = rc};
    daoe_run_info info;
    daoe_run_state st = daoe_run_probe(r->dir, &q, &info);
    r->exit_code = rc;
    if (st == DAOE_RUN_FINISHED) r->state = ST_FINISHED;
    else if (st == DAOE_RUN_DIVERGED) r->state = ST_DIVERGED;
    else if (st == DAOE_RUN_RESUMABLE) {
        r->state = ST_RESUME; /* stopped by a signal: checkpointed, the next invocation resumes it */
        snprintf(r->message, sizeof r->message, "%.200s: interrupted (checkpoint written; resumes next time)", why);
    } else {
        r->state = ST_FAILED;
        char line[400];
        sweep_last_log_line(r, line, sizeof line);
        if (info.problem[0]) snprintf(r->message, sizeof r->message, "%.100s: damaged: %.1600s", why, info.problem);
        else snprintf(r->message, sizeof r->message, "%.100s: %.400s", why, line);
        /* an end it claimed that did not check out must not pass for a finished run next time
         * (committed results keep no weights, so a later probe would take it as one) */
        if ((rc == DAOE_EXIT_OK || rc == DAOE_EXIT_DIVERGED) && daoe_run_reject_end(r->dir) == 1) {
            size_t len = strlen(r->message);
            snprintf(r->message + len, sizeof r->message - len,
                     " (its " DAOE_RUN_SUMMARY " is now " DAOE_RUN_REJECTED ": the next sweep runs it again)");
        }
    }
}

static void finish(sweep_run_t *r, int wstatus) {
    r->seconds = daoe_now() - r->t0;
    r->pid = 0;
    int rc = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    char why[32];
    snprintf(why, sizeof why, "exit %d", rc);
    sweep_settle(r, rc, why);
}

/* ------------------------------------------------------------------ the schedule */
/* Does sweep.json list other runs than this plan? (A point beyond the grid that was planned
 * but whose folder is gone: daoe-stats counts the runs sweep.json lists, so a stale list would
 * keep that point "not ended" and never due again.) */
static int plan_differs(const sweep_t *S, const char *sj) {
    cJSON *old = tool_read_json(sj, TOOL_JSON_QUIET);
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(old, "runs");
    int differs = !cJSON_IsArray(runs) || cJSON_GetArraySize(runs) != S->nruns;
    for (int i = 0; !differs && i < S->nruns; i++)
        differs = strcmp(jstr(cJSON_GetArrayItem(runs, i), "id", ""), S->runs[i].id) != 0;
    cJSON_Delete(old);
    return differs;
}

/* The results folder, the start time, the stale runs and a summary line; the
 * number of runs to run (none: sweep.json is written if missing). */
int sweep_begin(sweep_t *S) {
    const sweep_opts_t *o = S->o;
    char err[1024];
    if (daoe_mkdir_p(o->results, err, sizeof err) != 0) tool_die("%s", err);
    iso_now(S->started, sizeof S->started);
    S->t_start = daoe_now();
    S->tty = isatty(2);
    for (int i = 0; i < S->nruns; i++)
        if (S->runs[i].state == ST_STALE && S->runs[i].selected)
            fprintf(stderr, "daoe-sweep: stale: %s %s; delete the folder or pass --rerun-stale\n", S->runs[i].dir,
                    S->runs[i].message);
    fprintf(stderr, "daoe-sweep: %s: %d runs, %d to run, %d finished, %d diverged (kept); -j %d, %d thread%s each\n",
            S->name, S->nruns, S->ntodo, S->nfin, S->ndiv, S->jobs, S->threads_per_job, S->threads_per_job == 1 ? "" : "s");
    if (S->ntodo == 0) {
        char sj[2300];
        snprintf(sj, sizeof sj, "%s/sweep.json", o->results);
        if (!daoe_file_exists(sj) || plan_differs(S, sj)) write_sweep_json(S, 1);
        fprintf(stderr, "daoe-sweep: nothing to run\n");
    }
    return S->ntodo;
}

typedef struct {
    int *slot_busy;
    int next;
    progress_t p;
} sched_t;

/* start runs in free slots */
static void start_runs(sweep_t *S, sched_t *q) {
    while (q->p.running < S->jobs && !g_stop) {
        while (q->next < S->nruns && !sweep_to_run(&S->runs[q->next])) q->next++;
        if (q->next >= S->nruns) return;
        int slot = 0;
        while (q->slot_busy[slot]) slot++;
        sweep_run_t *r = &S->runs[q->next++];
        if (launch(S, r, slot) < 0) {
            r->state = ST_FAILED;
            r->ran = 1;
            S->nfailed++;
            S->ndone++;
            fprintf(stderr, "%sdaoe-sweep: %s failed to start: %s\n", sweep_clear_line(S), r->id, r->message);
            continue;
        }
        q->slot_busy[slot] = 1;
        q->p.running++;
    }
}

static void reaped(sweep_t *S, sched_t *q, sweep_run_t *r, int wst) {
    q->slot_busy[r->slot] = 0;
    q->p.running--;
    finish(r, wst);
    sweep_run_ended(S, &q->p, r);
}

static void reap_runs(sweep_t *S, sched_t *q) {
    int wst;
    pid_t pid;
    while ((pid = waitpid(-1, &wst, WNOHANG)) > 0)
        for (int i = 0; i < S->nruns; i++)
            if (S->runs[i].pid == pid) reaped(S, q, &S->runs[i], wst);
}

/* interrupted: SIGTERM to the children, which checkpoint at their next step
 * and exit 4; their runs resume on the next invocation */
static void stop_runs(sweep_t *S, int running) {
    fprintf(stderr, "%sdaoe-sweep: interrupted: stopping %d run(s) (each checkpoints); re-run the same command to "
                    "resume\n", sweep_clear_line(S), running);
    for (int i = 0; i < S->nruns; i++)
        if (S->runs[i].state == ST_RUNNING) kill(-S->runs[i].pid, SIGTERM);
    for (int i = 0; i < S->nruns; i++) {
        sweep_run_t *r = &S->runs[i];
        if (r->state != ST_RUNNING) continue;
        int wst;
        while (waitpid(r->pid, &wst, 0) < 0 && errno == EINTR) {}
        r->seconds = daoe_now() - r->t0;
        r->exit_code = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
        r->pid = 0;
        r->state = ST_RESUME;
        snprintf(r->message, sizeof r->message, "interrupted (exit %d)", r->exit_code);
    }
}

/* Runs every selected pending run, S->jobs at a time, until all are done or a signal comes. */
void sweep_schedule(sweep_t *S) {
    sweep_catch_signals(NULL, 0);

    sched_t q = {0};
    q.slot_busy = daoe_xcalloc((size_t)S->jobs, sizeof(int));
    sweep_progress_start(S, &q.p);
    write_sweep_json(S, 0);
    while (!g_stop) {
        start_runs(S, &q);
        if (q.p.running == 0) break;
        reap_runs(S, &q);
        q.p.pending = S->ntodo - S->ndone - q.p.running;
        sweep_draw_progress(S, &q.p);
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (g_stop) stop_runs(S, q.p.running);
    free(q.slot_busy);
}
