/* daoe-sweep --engine slurm: the runs as one Slurm job array, followed to the end.
 *
 * Submission: every selected run that is not finished gets its folder and
 * sweep_run.json as with the local engine, and one task of ONE array job;
 * the task index is the run's place in the expansion. The batch script
 * (RESULTS/slurm/<profile>.sbatch) holds each task's trainer command line;
 * the resources come from the profile (a GPU with the cuda backend, --threads
 * CPUs, memory and time estimated from the profile's size), the site's
 * options (partition, account, QOS, extra) from the flags and
 * $DAOE_SBATCH_ARGS. RESULTS/slurm/tasks/<index> links to the run's folder,
 * so each task's Slurm log (slurm-<job>_<index>.log) lands in it.
 *
 * Following: once per poll one batched sacct call (where accounting exists)
 * or scontrol call gives every task's state; a task Slurm no longer knows is
 * judged by its run folder alone (its exit status unknown), never taken for
 * finished without a sound end there. An ended task settles its run as the
 * local engine settles a child (sweep_settle: the exit status and the run
 * folder's rule, daoe_run_probe). Ctrl-C stops following
 * only: the array goes on, and the same command follows it again.
 *
 * The task (daoe-sweep --slurm-task, run by the batch script): refuses to run
 * when the build's git commit is not the submitted one, exits at once when
 * its run is finished, else runs the trainer with --resume, forwards the
 * time-limit warning (SIGUSR1) and SIGTERM/SIGINT to it and, when warned,
 * requeues itself (scontrol requeue, at most --requeue-max times by
 * SLURM_RESTART_COUNT); an interrupted run resumes on the next submission. */
#define _GNU_SOURCE
#include "daoe/run_folder.h"
#include "daoe/train.h"
#include "daoe/util.h"
#include "daoe_git.h"
#include "sweep.h"
#include "tool.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */
/* s as one shell word */
static void shq(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    fputc('\'', f);
}

/* argv run with stdout (and stderr) into out; the exit status, -1 when it could not run */
static int run_capture(char *const *argv, char *out, size_t n, int with_stderr) {
    int fd[2];
    if (pipe(fd) < 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fd[1], 1);
        int null = open("/dev/null", O_RDWR);
        if (with_stderr) dup2(fd[1], 2);
        else if (null >= 0) dup2(null, 2);
        if (null >= 0) dup2(null, 0);
        close(fd[0]);
        close(fd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t k;
    char junk[4096];
    while ((k = read(fd[0], len + 1 < n ? out + len : junk, len + 1 < n ? n - 1 - len : sizeof junk)) > 0 ||
           (k < 0 && errno == EINTR))
        if (k > 0 && len + 1 < n) len += (size_t)k;
    out[len] = 0;
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The commit of the code a task runs: what the trainer's --version names
 * (a hex word of 7+ characters, maybe "+dirty") where it has one, else the
 * build's (daoe_git.h: daoe-sweep and daoe-train are built together). */
static void build_commit(const char *train, char *out, size_t n) {
    char buf[4096];
    char *argv[] = {(char *)train, "--version", NULL};
    snprintf(out, n, "%s", DAOE_GIT_COMMIT);
    if (run_capture(argv, buf, sizeof buf, 0) != 0) return;
    for (char *t = strtok(buf, " \t\n()[],;:"); t; t = strtok(NULL, " \t\n()[],;:")) {
        if (!strncmp(t, "git", 3) && t[3] == '=') t += 4;
        size_t h = strspn(t, "0123456789abcdef");
        if (h >= 7 && (!t[h] || !strcmp(t + h, "+dirty"))) {
            snprintf(out, n, "%s", t);
            return;
        }
    }
}

/* p made absolute (it need not exist yet) */
static const char *abs_path(const char *p, char *out, size_t n) {
    char buf[PATH_MAX], cwd[PATH_MAX];
    if (!p || !p[0]) snprintf(out, n, "%s", p ? p : "");
    else if (realpath(p, buf)) snprintf(out, n, "%s", buf);
    else if (p[0] != '/' && getcwd(cwd, sizeof cwd)) snprintf(out, n, "%.2048s/%.2000s", cwd, p);
    else snprintf(out, n, "%s", p);
    return out;
}

/* The results folder, the data and the trainer as absolute paths: a task
 * may run on another host, in another folder (before the runs are expanded). */
void sweep_slurm_paths(sweep_opts_t *o) {
    static char results[PATH_MAX], data[PATH_MAX], train[PATH_MAX];
    o->results = abs_path(o->results, results, sizeof results);
    o->data = abs_path(o->data, data, sizeof data);
    o->train = abs_path(o->train, train, sizeof train);
}

/* the last lines (at most k) of a file, each indented, into out */
static void tail_lines(const char *path, int k, char *out, size_t n) {
    char err[256];
    size_t len;
    char *t = daoe_read_file(path, &len, err, sizeof err);
    out[0] = 0;
    if (!t) return;
    while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == ' ')) t[--len] = 0;
    char *s = t + len;
    for (int lines = 0; s > t; s--)
        if (s[-1] == '\n' && ++lines == k) break;
    size_t o = 0;
    for (char *line = strtok(s, "\n"); line && o + 8 < n; line = strtok(NULL, "\n"))
        o += (size_t)snprintf(out + o, n - o, "    | %.300s\n", line);
    free(t);
}

/* ------------------------------------------------------------------ resources */
/* Memory and time per task, rough and on the safe side: the images as floats
 * twice over plus the activations (batch x width), and an epoch's images at
 * a rate that falls with width^2 (CPU: per thread), twice over plus 10 minutes.
 * A time limit too short costs a requeue, not the run (it checkpoints). */
static void estimate(const sweep_t *S, int threads, char *mem, size_t nm, char *tl, size_t nt) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(S->profile, "train");
    double width = jnum(t, "width"), batch = jnum(t, "batch"), sub = jnum(t, "train_subset");
    double test = jnum(t, "test_subset"), val = jnum(t, "val"), epochs = jnum(t, "epochs");
    if (isnan(width)) width = 64;
    if (isnan(batch)) batch = 128;
    if (isnan(val)) val = 5000;
    if (isnan(sub) || sub <= 0) sub = 50000 - val; /* 0: all */
    if (isnan(test) || test <= 0) test = 10000;
    if (isnan(epochs)) epochs = 100;
    int cuda = !strcmp(S->backend, "cuda");
    double mb = 1024 + 2 * (sub + test + val) * 3072 * 4 / 1048576.0 + batch * width / 64 * 16;
    snprintf(mem, nm, "%dM", (int)(ceil(mb / 256) * 256));
    double scale = (64 / width) * (64 / width);
    /* GPU: a third of the trainer's bf16 rate on an H100 (fp32: ~5,800 img/s); CPU: below the 2-core smoke rate */
    double rate = cuda ? fmin(10000 * scale, 40000) : fmin(5 * threads * scale, 5000);
    double sec = epochs * (sub + (val + test) / 3) / rate * 2 + 600;
    int min = (int)ceil(sec / 60 / 5) * 5;
    if (min < 15) min = 15;
    snprintf(tl, nt, "%d:%02d:00", min / 60, min % 60);
}

/* ------------------------------------------------------------------ the batch script */
typedef struct {
    char self[PATH_MAX];
    char commit[128], mem[64], time[64], array[8192], script[PATH_MAX + 64];
    int threads;
    int *idx; /* the tasks: run indices */
    int ntask;
} submit_t;

/* "0-3,7,9-10" from sorted indices, then "%K" */
static void array_spec(submit_t *b, int throttle) {
    size_t o = 0;
    for (int i = 0; i < b->ntask;) {
        int j = i;
        while (j + 1 < b->ntask && b->idx[j + 1] == b->idx[j] + 1) j++;
        if (o + 32 >= sizeof b->array) tool_die("too many runs for one array");
        if (j > i) o += (size_t)snprintf(b->array + o, sizeof b->array - o, "%s%d-%d", o ? "," : "", b->idx[i], b->idx[j]);
        else o += (size_t)snprintf(b->array + o, sizeof b->array - o, "%s%d", o ? "," : "", b->idx[i]);
        i = j + 1;
    }
    if (throttle > 0) snprintf(b->array + o, sizeof b->array - o, "%%%d", throttle);
}

static void write_script(FILE *f, const sweep_t *S, const submit_t *b) {
    const sweep_opts_t *o = S->o;
    fprintf(f, "#!/bin/bash\n# daoe-sweep %s --engine slurm: one array task per run (written by daoe-sweep at each\n"
               "# submission; the task index is the run's place in the profile's expansion)\n", o->profile_path);
    fprintf(f, "#SBATCH --job-name=daoe-%s\n#SBATCH --array=%s\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=%d\n",
            S->name, b->array, b->threads);
    fprintf(f, "#SBATCH --mem=%s\n#SBATCH --time=%s\n", b->mem, b->time);
    if (!strcmp(S->backend, "cuda")) fprintf(f, "#SBATCH --gres=gpu:1\n");
    fprintf(f, "#SBATCH --signal=B:USR1@120\n#SBATCH --requeue\n#SBATCH --open-mode=append\n");
    fprintf(f, "#SBATCH --chdir=%s\n#SBATCH --output=%s/slurm/tasks/%%a/slurm-%%A_%%a.log\n", o->results, o->results);
    fprintf(f, "set -u\ncase \"${SLURM_ARRAY_TASK_ID:-}\" in\n");
    char threads[16];
    snprintf(threads, sizeof threads, "%d", b->threads);
    for (int k = 0; k < b->ntask; k++) {
        sweep_run_t *r = &S->runs[b->idx[k]];
        char *argv[MAXARGS + 16];
        sweep_train_argv(S, r, threads, argv);
        fprintf(f, "%d) run=", b->idx[k]);
        shq(f, r->dir);
        fprintf(f, "; set --");
        for (int a = 0; argv[a]; a++) {
            fputc(' ', f);
            shq(f, argv[a]);
        }
        fprintf(f, " ;;\n");
    }
    fprintf(f, "*) echo \"daoe-sweep task: no run for array index ${SLURM_ARRAY_TASK_ID:-?}\" >&2; exit 1 ;;\nesac\n");
    fprintf(f, "exec ");
    shq(f, b->self);
    fprintf(f, " --slurm-task \"$run\" --commit ");
    shq(f, b->commit);
    fprintf(f, " --requeue-max %d%s -- \"$@\"\n", o->requeue_max, o->retry_diverged ? " --retry-diverged" : "");
}

/* sbatch's command line: the site's options ($DAOE_SBATCH_ARGS, then the flags), the script */
static int sbatch_argv(const sweep_opts_t *o, const char *script, char **argv, char *store, size_t ns) {
    int n = 0;
    argv[n++] = "sbatch";
    argv[n++] = "--parsable";
    const char *env = getenv("DAOE_SBATCH_ARGS");
    snprintf(store, ns, "%s", env ? env : "");
    for (char *t = strtok(store, " \t\n"); t && n < 48; t = strtok(NULL, " \t\n")) argv[n++] = t;
    static char part[512], acct[512], qos[512];
    if (o->partition) snprintf(part, sizeof part, "--partition=%s", o->partition), argv[n++] = part;
    if (o->account) snprintf(acct, sizeof acct, "--account=%s", o->account), argv[n++] = acct;
    if (o->qos) snprintf(qos, sizeof qos, "--qos=%s", o->qos), argv[n++] = qos;
    for (int i = 0; i < o->sbatch.n; i++) argv[n++] = (char *)o->sbatch.v[i];
    argv[n++] = (char *)script;
    argv[n] = NULL;
    return n;
}

static void plan_submit(sweep_t *S, submit_t *b) {
    const sweep_opts_t *o = S->o;
    ssize_t k = readlink("/proc/self/exe", b->self, sizeof b->self - 1);
    b->self[k > 0 ? k : 0] = 0;
    build_commit(o->train, b->commit, sizeof b->commit);
    b->threads = o->threads ? o->threads : 4;
    estimate(S, b->threads, b->mem, sizeof b->mem, b->time, sizeof b->time);
    if (o->mem) snprintf(b->mem, sizeof b->mem, "%s", o->mem);
    if (o->time) snprintf(b->time, sizeof b->time, "%s", o->time);
    b->idx = daoe_xcalloc((size_t)S->nruns + 1, sizeof(int));
    for (int i = 0; i < S->nruns; i++)
        if (sweep_to_run(&S->runs[i])) b->idx[b->ntask++] = i;
    array_spec(b, o->jobs);
    snprintf(b->script, sizeof b->script, "%s/slurm/%s.sbatch", o->results, S->name);
}

static int dry_run(sweep_t *S) {
    submit_t b = {0};
    plan_submit(S, &b);
    printf("# profile %s: %d runs, %d to submit, %d finished, %d diverged (kept), %d stale\n", S->name, S->nruns,
           b.ntask, S->nfin, S->ndiv, S->nstale);
    if (b.ntask == 0) {
        printf("# nothing to submit\n");
        return S->nstale ? 1 : 0;
    }
    printf("# the batch script, %s:\n", b.script);
    write_script(stdout, S, &b);
    char *argv[64], store[4096];
    sbatch_argv(S->o, b.script, argv, store, sizeof store);
    printf("# the submission:\n");
    for (int i = 0; argv[i]; i++) {
        if (i) putchar(' ');
        if (strpbrk(argv[i], " '\"$*?;&|<>()")) shq(stdout, argv[i]);
        else fputs(argv[i], stdout);
    }
    printf("\n");
    free(b.idx);
    return S->nstale ? 1 : 0;
}

/* folders, task links, the script, sbatch; the job id into S->slurm_job */
static int submit(sweep_t *S, submit_t *b) {
    char d[PATH_MAX + 32], err[1024];
    snprintf(d, sizeof d, "%s/slurm/tasks", S->o->results);
    if (daoe_mkdir_p(d, err, sizeof err) != 0) tool_die("%s", err);
    for (int i = 0; i < b->ntask; i++) {
        sweep_run_t *r = &S->runs[b->idx[i]];
        if (sweep_prepare_run(S, r) < 0) tool_die("%s: %s", r->id, r->message);
        char link[PATH_MAX + 64], to[400];
        snprintf(link, sizeof link, "%s/%d", d, b->idx[i]);
        snprintf(to, sizeof to, "../../%s", r->id);
        unlink(link);
        if (symlink(to, link) != 0) tool_die("%s: %s", link, strerror(errno));
    }
    FILE *f = fopen(b->script, "w");
    if (!f) tool_die("%s: %s", b->script, strerror(errno));
    write_script(f, S, b);
    if (fclose(f) != 0) tool_die("%s: %s", b->script, strerror(errno));
    chmod(b->script, 0755);
    char *argv[64], store[4096], out[4096];
    sbatch_argv(S->o, b->script, argv, store, sizeof store);
    int rc = run_capture(argv, out, sizeof out, 1);
    out[strcspn(out, ";\n")] = 0;
    if (rc != 0 || !out[0] || strspn(out, "0123456789") != strlen(out)) {
        if (rc == 127) fprintf(stderr, "daoe-sweep: sbatch not found: --engine slurm runs on a Slurm login node\n");
        else fprintf(stderr, "daoe-sweep: sbatch failed (exit %d): %s\n", rc, out);
        return -1;
    }
    snprintf(S->slurm_job, sizeof S->slurm_job, "%.30s", out);
    /* what was submitted, to follow it again */
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "job", S->slurm_job);
    char now[64];
    iso_now(now, sizeof now);
    cJSON_AddStringToObject(j, "submitted", now);
    cJSON_AddStringToObject(j, "commit", b->commit);
    cJSON_AddStringToObject(j, "script", b->script);
    cJSON *tasks = cJSON_AddObjectToObject(j, "tasks");
    for (int i = 0; i < b->ntask; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", b->idx[i]);
        cJSON_AddStringToObject(tasks, k, S->runs[b->idx[i]].id);
    }
    snprintf(d, sizeof d, "%s/slurm", S->o->results);
    tool_write_json(d, "submitted.json", j);
    cJSON_Delete(j);
    if (strstr(b->commit, "+dirty"))
        fprintf(stderr, "daoe-sweep: note: the build has uncommitted changes (%s): the tasks' commit check cannot tell "
                        "two such builds apart\n", b->commit);
    fprintf(stderr, "daoe-sweep: submitted job %s: %d task(s), array %s, %d CPU(s)%s, %s, %s each; script %s\n",
            S->slurm_job, b->ntask, b->array, b->threads, strcmp(S->backend, "cuda") ? "" : ", 1 GPU", b->mem, b->time,
            b->script);
    return 0;
}

/* ------------------------------------------------------------------ Slurm's view */
typedef enum { T_UNKNOWN, T_PENDING, T_RUNNING, T_ENDED } task_phase;

typedef struct {
    int run;            /* index into S->runs */
    task_phase phase;
    char state[32];     /* Slurm's word: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ... */
    char exit[32];      /* Slurm's "code:signal" */
    int rc;             /* the task's exit code when ended (-1 unknown) */
    int named;          /* this poll named it */
    int unknown_polls;  /* polls in a row that did not name the task */
    int ended_polls;    /* polls in a row that saw it ended (a requeue passes through an ended state) */
    int ended;          /* settled */
} task_t;

static task_phase phase_of(const char *st) {
    static const char *pend[] = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT", NULL};
    static const char *run[] = {"RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING", "SIGNALING",
                                "STAGE_OUT", "STOPPED", NULL};
    for (int i = 0; pend[i]; i++)
        if (!strcmp(st, pend[i])) return T_PENDING;
    for (int i = 0; run[i]; i++)
        if (!strcmp(st, run[i])) return T_RUNNING;
    return st[0] ? T_ENDED : T_UNKNOWN;
}

static task_t *task_of(task_t *t, int n, int idx) {
    for (int i = 0; i < n; i++)
        if (t[i].run == idx) return &t[i];
    return NULL;
}

/* one record: the tasks named by spec ("3", "4-7%2", "1,3,5-9") get state and exit code */
static void record(task_t *t, int n, const char *spec, const char *state, const char *exitc) {
    char buf[8192], st[32];
    snprintf(buf, sizeof buf, "%s", spec);
    buf[strcspn(buf, "%]")] = 0;
    snprintf(st, sizeof st, "%.*s", (int)strcspn(state, " "), state); /* "CANCELLED by 0" */
    char *save = NULL;
    for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(p, '-');
        char *e1, *e2 = NULL;
        long a = strtol(p, &e1, 10), b = dash ? strtol(dash + 1, &e2, 10) : a;
        if (e1 == p || (dash && e2 == dash + 1)) continue;
        for (long i = a; i <= b && i - a < 100000; i++) {
            task_t *k = task_of(t, n, (int)i);
            if (!k) continue;
            snprintf(k->state, sizeof k->state, "%s", st);
            snprintf(k->exit, sizeof k->exit, "%s", exitc ? exitc : "?");
            k->rc = exitc && *exitc ? atoi(exitc) : -1;
            k->named = 1;
        }
    }
}

/* sacct, one call for the whole array; 0 when it answered (accounting exists) */
static int query_sacct(task_t *t, int n, const sweep_t *S) {
    static int disabled = 0;
    if (disabled) return -1;
    char out[1 << 16];
    char *argv[] = {"sacct", "-n", "-P", "-X", "-j", (char *)S->slurm_job, "-o", "JobID,State,ExitCode", NULL};
    int rc = run_capture(argv, out, sizeof out, 1);
    if (rc != 0 || strstr(out, "disabled")) {
        disabled = 1;
        return -1;
    }
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f1 = strchr(line, '|'), *f2 = f1 ? strchr(f1 + 1, '|') : NULL;
        char *us = strchr(line, '_');
        if (!f2 || !us || us > f1) continue;
        *f1 = *f2 = 0;
        char spec[8192];
        snprintf(spec, sizeof spec, "%s", us + 1 + (us[1] == '['));
        record(t, n, spec, f1 + 1, f2 + 1);
    }
    return 0;
}

/* scontrol: every task the controller still holds (ended ones for MinJobAge) */
static void query_scontrol(task_t *t, int n, const sweep_t *S) {
    static char out[1 << 20];
    char *argv[] = {"scontrol", "-o", "show", "job", (char *)S->slurm_job, NULL};
    if (run_capture(argv, out, sizeof out, 0) != 0) return;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *a = strstr(line, " ArrayTaskId="), *s = strstr(line, " JobState="), *e = strstr(line, " ExitCode=");
        if (!a || !s) continue;
        a += 13;
        s += 10;
        a[strcspn(a, " ")] = 0;
        s[strcspn(s, " ")] = 0;
        if (e) e += 10, e[strcspn(e, " ")] = 0;
        record(t, n, a, s, e);
    }
}

static void poll_tasks(task_t *t, int n, const sweep_t *S) {
    for (int i = 0; i < n; i++) t[i].state[0] = 0, t[i].named = 0;
    if (query_sacct(t, n, S) != 0) query_scontrol(t, n, S);
    else {
        int missing = 0;
        for (int i = 0; i < n; i++) missing |= !t[i].ended && !t[i].named;
        if (missing) query_scontrol(t, n, S); /* the database may lag behind the controller */
    }
    for (int i = 0; i < n; i++) {
        if (t[i].ended) continue;
        t[i].unknown_polls = t[i].named ? 0 : t[i].unknown_polls + 1;
        t[i].phase = phase_of(t[i].state);
        t[i].ended_polls = t[i].phase == T_ENDED ? t[i].ended_polls + 1 : 0;
    }
}

/* ------------------------------------------------------------------ following */
/* a task has ended: its run settles by its exit code (Slurm's; -1 when Slurm forgot it) and its folder */
static void task_ended(sweep_t *S, progress_t *p, task_t *t) {
    sweep_run_t *r = &S->runs[t->run];
    char why[160], log[PATH_MAX + 64];
    int rc = t->rc;
    if (t->phase == T_UNKNOWN) {
        /* Slurm forgot it: only the folder can tell (settled with the exit status unknown) */
        rc = -1;
        snprintf(why, sizeof why, "ended (Slurm no longer knows task %s_%d)", S->slurm_job, t->run);
    } else snprintf(why, sizeof why, "Slurm state %s, exit %s", t->state, t->exit); /* exit 4: settle says interrupted */
    t->ended = 1;
    r->ran = 1;
    snprintf(r->log_name, sizeof r->log_name, "slurm-%s_%d.log", S->slurm_job, t->run);
    sweep_settle(r, rc, why);
    sweep_run_ended(S, p, r);
    if (r->state == ST_FAILED) {
        char tail[2400];
        snprintf(log, sizeof log, "%s/%s", r->dir, r->log_name);
        tail_lines(log, 5, tail, sizeof tail);
        if (tail[0]) fprintf(stderr, "  %s, last lines:\n%s", log, tail);
    }
}

static void follow(sweep_t *S, task_t *t, int n) {
    sweep_catch_signals(NULL, 0);
    progress_t p;
    sweep_progress_start(S, &p);
    p.lines = 1;
    write_sweep_json(S, 0);
    int left = n;
    while (left > 0 && !g_stop) {
        poll_tasks(t, n, S);
        p.running = p.pending = 0;
        for (int i = 0; i < n && !g_stop; i++) {
            if (t[i].ended) continue;
            sweep_run_t *r = &S->runs[t[i].run];
            if (t[i].ended_polls >= 2 || (t[i].phase == T_UNKNOWN && t[i].unknown_polls >= 3)) {
                r->state = ST_TODO;
                task_ended(S, &p, &t[i]);
                left--;
                continue;
            }
            if (t[i].phase == T_RUNNING || t[i].phase == T_ENDED) { /* ended once: not yet for sure */
                if (r->state != ST_RUNNING) r->t0 = daoe_now();
                r->state = ST_RUNNING;
                p.running++;
            } else p.pending++;
        }
        sweep_draw_progress(S, &p);
        for (double slept = 0; left > 0 && slept < S->o->poll && !g_stop; slept += 0.1) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (g_stop)
        fprintf(stderr, "%sdaoe-sweep: stopped following job %s; its %d task(s) go on in Slurm.\n"
                        "  follow it again: the same daoe-sweep command (it submits nothing while the job is queued)\n"
                        "  cancel it:       scancel %s   (then the same command re-submits, resuming the runs)\n",
                sweep_clear_line(S), S->slurm_job, left, S->slurm_job);
}

/* An earlier submission still in the queue is followed, not submitted again:
 * two tasks must never train the same run. 1: following it. */
static int adopt(sweep_t *S, task_t **tp, int *np) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/slurm/submitted.json", S->o->results);
    cJSON *j = tool_read_json(path, TOOL_JSON_QUIET);
    const char *job = jstr(j, "job", NULL);
    if (!job) {
        cJSON_Delete(j);
        return 0;
    }
    char out[1 << 14];
    char *argv[] = {"squeue", "-h", "-j", (char *)job, "-o", "%i", NULL};
    int rc = run_capture(argv, out, sizeof out, 0);
    if (rc != 0 || !out[0]) {
        cJSON_Delete(j);
        return 0;
    }
    snprintf(S->slurm_job, sizeof S->slurm_job, "%s", job);
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(j, "tasks");
    task_t *t = daoe_xcalloc((size_t)cJSON_GetArraySize(tasks) + 1, sizeof *t);
    int n = 0;
    for (const cJSON *e = tasks ? tasks->child : NULL; e; e = e->next) {
        int i = atoi(e->string);
        if (i < 0 || i >= S->nruns || !cJSON_IsString(e) || strcmp(S->runs[i].id, e->valuestring))
            tool_die("job %s (still queued) was submitted for other runs than this profile's: cancel it (scancel %s) "
                     "or wait for it", job, job);
        if (!sweep_to_run(&S->runs[i])) continue;
        t[n].run = i;
        t[n].rc = -1;
        n++;
    }
    fprintf(stderr, "daoe-sweep: job %s (submitted %s) is still queued: following its %d unfinished task(s); "
                    "cancel it with: scancel %s\n", job, jstr(j, "submitted", "?"), n, job);
    int others = 0;
    for (int i = 0; i < S->nruns; i++) others += sweep_to_run(&S->runs[i]) && !task_of(t, n, i);
    if (others)
        fprintf(stderr, "daoe-sweep: note: %d unfinished run(s) are not in job %s: run the same command again after it "
                        "ends to submit them\n", others, job);
    cJSON_Delete(j);
    *tp = t;
    *np = n;
    return 1;
}

int sweep_slurm(sweep_t *S) {
    const sweep_opts_t *o = S->o;
    if (o->dry_run) return dry_run(S);
    S->jobs = o->jobs ? o->jobs : S->ntodo;
    S->threads_per_job = o->threads ? o->threads : 4;
    task_t *t = NULL;
    int n = 0;
    if (adopt(S, &t, &n)) {
        char err[1024];
        iso_now(S->started, sizeof S->started);
        S->t_start = daoe_now();
        S->tty = isatty(2);
        if (daoe_mkdir_p(o->results, err, sizeof err) != 0) tool_die("%s", err);
        S->ntodo = n;
    } else {
        if (sweep_begin(S) == 0) return S->nstale ? 1 : 0;
        submit_t b = {0};
        plan_submit(S, &b);
        if (submit(S, &b) < 0) return 1;
        t = daoe_xcalloc((size_t)b.ntask + 1, sizeof *t);
        for (int i = 0; i < b.ntask; i++) t[i].run = b.idx[i], t[i].rc = -1;
        n = b.ntask;
        free(b.idx);
    }
    follow(S, t, n);
    free(t);
    return sweep_report(S);
}

/* ------------------------------------------------------------------ the task */
static volatile sig_atomic_t g_signal = 0, g_warned = 0;
static void on_task_signal(int s) {
    g_signal = s;
    if (s == SIGUSR1) g_warned = 1;
}


/* scontrol requeue of this array task when warned and restarts are left; 0 when requeued */
static int requeue_self(int requeue_max) {
    const char *job = getenv("SLURM_ARRAY_JOB_ID"), *task = getenv("SLURM_ARRAY_TASK_ID");
    const char *rs = getenv("SLURM_RESTART_COUNT");
    int restarts = rs ? atoi(rs) : 0;
    if (!job || !task) return -1;
    if (restarts >= requeue_max) {
        printf("daoe-sweep task: not requeued: %d restart(s) already (--requeue-max %d); re-submit the sweep to resume\n",
               restarts, requeue_max);
        return -1;
    }
    char id[64], out[1024];
    snprintf(id, sizeof id, "%s_%s", job, task);
    char *argv[] = {"scontrol", "requeue", id, NULL};
    int rc = run_capture(argv, out, sizeof out, 1);
    printf("daoe-sweep task: scontrol requeue %s (restart %d of at most %d): %s%s\n", id, restarts + 1, requeue_max,
           rc == 0 ? "done" : "failed: ", rc == 0 ? "" : out);
    if (rc != 0) return -1;
    /* Slurm ends this task itself; ending first would race the requeue (the task would count as failed) */
    signal(SIGTERM, SIG_DFL);
    for (int i = 0; i < 600; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int sweep_slurm_task(int argc, char **argv) {
    sweep_opts_t o = {0};
    const char *dir = NULL, *commit = NULL;
    int requeue_max = 3;
    const tool_flag flags[] = {
        {"--slurm-task", TOOL_FLAG_SWITCH, &(int){0}, 0, 0, NULL, NULL},
        {"--commit", TOOL_FLAG_STR, &commit, 0, 0, "C", "the commit the sweep was submitted from"},
        {"--requeue-max", TOOL_FLAG_INT, &requeue_max, 0, 1000, "N", "restarts after a time-limit warning"},
        {"--retry-diverged", TOOL_FLAG_SWITCH, &o.retry_diverged, 0, 0, NULL, "run a diverged run again"},
    };
    const tool_cmdline c = {
        .head = "usage: daoe-sweep --slurm-task RUN_DIR --commit C [--requeue-max N] [--retry-diverged] -- TRAINER ARGS...\n"
                "(run by the batch script daoe-sweep --engine slurm writes)\n",
        .positional = &dir,
        .what = "run folder",
        .until_dashdash = 1};
    const int nflags = (int)(sizeof flags / sizeof flags[0]);
    int i = tool_parse(argc, argv, flags, nflags, &c) - 1;
    if (!dir || !commit || i + 1 >= argc) {
        tool_usage(stderr, flags, nflags, &c);
        return 2;
    }
    char **targv = argv + i + 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    char here[PATH_MAX] = "";
    gethostname(here, sizeof here - 1);
    char stamp[64];
    iso_now(stamp, sizeof stamp);
    printf("daoe-sweep task %s_%s on %s at %s: %s\n", getenv("SLURM_ARRAY_JOB_ID") ? getenv("SLURM_ARRAY_JOB_ID") : "-",
           getenv("SLURM_ARRAY_TASK_ID") ? getenv("SLURM_ARRAY_TASK_ID") : "-", here, stamp, dir);

    char have[128];
    build_commit(targv[0], have, sizeof have);
    if (strcmp(have, commit)) {
        printf("daoe-sweep task: refusing to run: %s is built from commit %s, the sweep was submitted with %s. "
               "Rebuild %s, or re-submit the sweep with this build.\n", targv[0], have, commit, commit);
        return 1;
    }
    sweep_run_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.dir, sizeof r.dir, "%s", dir);
    snprintf(r.id, sizeof r.id, "%s", strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir);
    char rec_path[2300];
    cJSON *rec = tool_read_json(daoe_run_path(rec_path, sizeof rec_path, dir, DAOE_RUN_SWEEP_RECORD), TOOL_JSON_QUIET);
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(rec, "args");
    for (const cJSON *e = ra ? ra->child : NULL; e && r.nargs < MAXARGS; e = e->next)
        if (cJSON_IsString(e)) r.args[r.nargs++] = e->valuestring;
    /* the planned epochs, which a finished run's epochs.csv must have */
    for (int i = 0; i + 1 < r.nargs; i++)
        if (!strcmp(r.args[i], "--epochs")) r.epochs = (int)strtol(r.args[i + 1], NULL, 10); /* ours: sweep_run.json */
    sweep_probe_run(&r, &o);
    cJSON_Delete(rec);
    if (r.state == ST_FINISHED || r.state == ST_DIVERGED) {
        printf("daoe-sweep task: %s is %s already: nothing to do\n", r.id, STATE_NAME[r.state]);
        return r.state == ST_FINISHED ? 0 : 3;
    }
    if (r.state == ST_TODO) daoe_run_clear(r.dir);
    else printf("daoe-sweep task: resuming %s after epoch %d\n", r.id, r.done_epochs);

    sweep_catch_signals(on_task_signal, 1);
    int fd = sweep_open_log(&r, targv);
    if (fd < 0) {
        printf("daoe-sweep task: %s\n", r.message);
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        printf("daoe-sweep task: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        signal(SIGUSR1, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        execv(targv[0], targv);
        fprintf(stderr, "daoe-sweep task: cannot run %s: %s\n", targv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    int st, forwarded = 0;
    for (;;) {
        if (g_signal) {
            int s = g_signal == SIGUSR1 ? SIGUSR1 : SIGTERM;
            g_signal = 0;
            printf("daoe-sweep task: got %s: passing %s to the trainer (it checkpoints and stops)\n",
                   g_warned && s == SIGUSR1 ? "the time-limit warning (SIGUSR1)" : "a stop signal", strsignal(s));
            kill(pid, s);
            forwarded = 1;
        }
        pid_t w = waitpid(pid, &st, 0);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) {
            printf("daoe-sweep task: waitpid: %s\n", strerror(errno));
            return 1;
        }
    }
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    /* a trainer without the checkpoint-on-signal contract dies of the signal: it resumes from its last checkpoint */
    int interrupted = rc == DAOE_EXIT_INTERRUPTED || (forwarded && WIFSIGNALED(st));
    printf("daoe-sweep task: the trainer ended: %s%d%s\n", WIFEXITED(st) ? "exit " : "signal ",
           WIFEXITED(st) ? rc : WTERMSIG(st), interrupted ? " (interrupted)" : "");
    if (!interrupted) return rc;
    if (g_warned && requeue_self(requeue_max) == 0) return DAOE_EXIT_INTERRUPTED;
    printf("daoe-sweep task: %s stopped; it resumes from its checkpoint when the sweep is submitted again\n", r.id);
    return DAOE_EXIT_INTERRUPTED;
}
