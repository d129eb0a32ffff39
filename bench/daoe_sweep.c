/* daoe-sweep: runs a benchmark profile (bench/profiles/NAME.json) as a set of
 * daoe-train runs, one folder per run under results/<profile>/.
 *
 * A profile expands to runs = settings x optimizers x seeds. Each run's
 * command line is: the profile's "train" block as --flags, --optimizer,
 * --seed, the tuned arguments (lr_from), the profile's optimizer_args and
 * the setting's args, in that order (daoe-train keeps the last value of a
 * repeated flag). A run is skipped when its summary.json says "finished" or
 * "diverged" (diverged runs are retried only with --retry-diverged); every
 * other run is (re)started with --resume, so a killed run continues from its
 * checkpoint. Runs go N at a time (-j); CPU threads are split between the
 * jobs; with the cuda backend each job gets one GPU (CUDA_VISIBLE_DEVICES).
 * Failures and divergences are recorded and the sweep goes on.
 *
 * Each run folder gets sweep_run.json (id, group, arguments) beside the
 * trainer's files; a finished run whose recorded arguments differ from the
 * profile's is reported as stale and not reused. results/<profile>/sweep.json
 * records every run's status and each invocation's times; it is rewritten
 * only when something ran (so make sees no change after a no-op).
 *
 * It does not compute statistics (daoe-stats) or draw figures (plots/). */
#define _GNU_SOURCE
#include "daoe/config.h"
#include "daoe/util.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXARGS 256

typedef enum { ST_TODO, ST_RESUME, ST_FINISHED, ST_DIVERGED, ST_FAILED, ST_STALE, ST_RUNNING } run_state;
static const char *STATE_NAME[] = {"pending", "pending", "finished", "diverged", "failed", "stale", "running"};

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
    pid_t pid;
    int slot;
    double t0;
} run_t;

typedef struct {
    const char *profile_path, *results, *data, *train, *only, *base, *lr_from, *get;
    int jobs, threads, dry_run, retry_diverged, rerun_stale, no_lr_from, show;
} opts_t;

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int s) { (void)s; g_stop = 1; }

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "daoe-sweep: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static cJSON *read_json(const char *path, int must) {
    char err[1024];
    size_t len;
    char *txt = daoe_read_file(path, &len, err, sizeof err);
    if (!txt) {
        if (must) die("%s", err);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(txt, len);
    if (!j && must) die("%s: not valid JSON (near byte %ld)", path, (long)(cJSON_GetErrorPtr() - txt));
    free(txt);
    return j;
}

static void write_json(const char *path, cJSON *j) {
    char err[1024];
    char *s = cJSON_Print(j);
    size_t n = strlen(s);
    s = realloc(s, n + 2);
    s[n] = '\n';
    s[n + 1] = 0;
    if (daoe_write_file_atomic(path, s, n + 1, err, sizeof err) != 0) die("%s", err);
    free(s);
}

static const char *jstr(const cJSON *o, const char *k, const char *def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : def;
}

/* ------------------------------------------------------------------ profile */
static void merge_into(cJSON *dst, const cJSON *src) {
    for (const cJSON *e = src ? src->child : NULL; e; e = e->next) {
        cJSON *d = cJSON_GetObjectItemCaseSensitive(dst, e->string);
        if (d && cJSON_IsObject(d) && cJSON_IsObject(e) && !strcmp(e->string, "train")) {
            merge_into(d, e);
            continue;
        }
        cJSON *copy = cJSON_Duplicate(e, 1);
        if (d) cJSON_ReplaceItemInObjectCaseSensitive(dst, e->string, copy);
        else cJSON_AddItemToObject(dst, e->string, copy);
    }
}

/* A base is a profile name (looked up beside the profile) or a path. */
static cJSON *load_profile(const char *path, const char *base_override, int depth) {
    if (depth > 4) die("%s: profile bases nest too deep", path);
    cJSON *p = read_json(path, 1);
    if (!cJSON_IsObject(p)) die("%s: a profile is a JSON object", path);
    const char *b0 = base_override ? base_override : jstr(p, "base", NULL);
    if (!b0) return p;
    char base[256];
    snprintf(base, sizeof base, "%s", b0);
    char bpath[PATH_MAX];
    if (strchr(base, '/') || strstr(base, ".json")) snprintf(bpath, sizeof bpath, "%s", base);
    else {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", path);
        snprintf(bpath, sizeof bpath, "%s/%s.json", dirname(tmp), base);
    }
    cJSON *b = load_profile(bpath, NULL, depth + 1);
    /* the base's own identity does not carry over */
    const char *drop[] = {"name", "description", "settings", "grid", "compare_to", "kind", NULL};
    for (int i = 0; drop[i]; i++) cJSON_DeleteItemFromObjectCaseSensitive(b, drop[i]);
    cJSON_DeleteItemFromObjectCaseSensitive(p, "base");
    merge_into(b, p);
    cJSON_Delete(p);
    cJSON_AddStringToObject(b, "base", base);
    return b;
}

static char *fmt_value(const cJSON *v, const char *where) {
    char buf[256];
    if (cJSON_IsString(v)) return daoe_xstrdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(long long)d && d > -1e15 && d < 1e15) snprintf(buf, sizeof buf, "%lld", (long long)d);
        else snprintf(buf, sizeof buf, "%.10g", d);
        return daoe_xstrdup(buf);
    }
    die("%s: values are numbers, strings or booleans", where);
}

static void push(run_t *r, const char *s) {
    if (r->nargs >= MAXARGS - 16) die("run %s: too many arguments", r->id);
    r->args[r->nargs++] = daoe_xstrdup(s);
}

static void push_list(run_t *r, const cJSON *list, const char *where) {
    if (!list) return;
    if (!cJSON_IsArray(list)) die("%s: expected a list of arguments", where);
    for (const cJSON *e = list->child; e; e = e->next) {
        char *s = fmt_value(e, where);
        push(r, s);
        free(s);
    }
}

static void sanitize(char *s) {
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-'))
            *s = '_';
}

static int known_optimizer(const char *o) {
    const char *ok[] = {"sgd", "adam", "adamw", "rmsprop", "lion", "daoe", NULL};
    for (int i = 0; ok[i]; i++)
        if (!strcmp(o, ok[i])) return 1;
    return 0;
}

/* "features_without": "x_mean" -> --features <all others> */
static void features_without(run_t *r, const cJSON *fw, const char *where) {
    if (!fw) return;
    char list[512] = "";
    int nfw = cJSON_IsArray(fw) ? cJSON_GetArraySize(fw) : 1;
    for (int i = 0; i < nfw; i++) {
        const cJSON *e = cJSON_IsArray(fw) ? cJSON_GetArrayItem(fw, i) : fw;
        if (!cJSON_IsString(e)) die("%s: features_without takes feature names", where);
        int found = 0;
        for (int f = 0; f < DAOE_NFEAT; f++) found |= !strcmp(e->valuestring, daoe_feature_names[f]);
        if (!found) die("%s: unknown feature '%s'", where, e->valuestring);
    }
    for (int f = 0; f < DAOE_NFEAT; f++) {
        int drop = 0;
        for (int i = 0; i < nfw; i++) {
            const cJSON *e = cJSON_IsArray(fw) ? cJSON_GetArrayItem(fw, i) : fw;
            drop |= !strcmp(e->valuestring, daoe_feature_names[f]);
        }
        if (drop) continue;
        if (list[0]) strcat(list, ",");
        strcat(list, daoe_feature_names[f]);
    }
    push(r, "--features");
    push(r, list[0] ? list : "none");
}

typedef struct {
    char id[128];
    const cJSON *optimizers; /* NULL: the profile's */
    const cJSON *args, *fw;
} setting_t;

/* The tune profile's grid becomes one setting per grid point and optimizer:
 *   "sgd": {"flag": "--lr", "values": [0.03, 0.1]}  -> ids lr0.03, lr0.1
 *   "daoe": [{"id": "x0.3", "args": [...]}, ...]      -> explicit */
static int grid_settings(const cJSON *grid, setting_t *out, int max, cJSON *keep) {
    int n = 0;
    for (const cJSON *g = grid->child; g; g = g->next) {
        if (!known_optimizer(g->string)) die("grid: unknown optimizer '%s'", g->string);
        cJSON *opt = cJSON_CreateArray();
        cJSON_AddItemToArray(opt, cJSON_CreateString(g->string));
        cJSON_AddItemToArray(keep, opt);
        if (cJSON_IsObject(g)) {
            const char *flag = jstr(g, "flag", NULL);
            const cJSON *vals = cJSON_GetObjectItemCaseSensitive(g, "values");
            if (!flag || !cJSON_IsArray(vals)) die("grid.%s: needs \"flag\" and \"values\"", g->string);
            for (const cJSON *v = vals->child; v; v = v->next) {
                if (n >= max) die("grid: too many points");
                char *s = fmt_value(v, "grid value");
                cJSON *a = cJSON_CreateArray();
                cJSON_AddItemToArray(a, cJSON_CreateString(flag));
                cJSON_AddItemToArray(a, cJSON_CreateString(s));
                cJSON_AddItemToArray(keep, a);
                const char *f = flag;
                while (*f == '-') f++;
                snprintf(out[n].id, sizeof out[n].id, "%s%s", f, s);
                out[n].optimizers = opt;
                out[n].args = a;
                out[n].fw = NULL;
                n++;
                free(s);
            }
        } else if (cJSON_IsArray(g)) {
            for (const cJSON *p = g->child; p; p = p->next) {
                if (n >= max) die("grid: too many points");
                const char *id = jstr(p, "id", NULL);
                if (!id) die("grid.%s: every point needs an \"id\"", g->string);
                snprintf(out[n].id, sizeof out[n].id, "%s", id);
                out[n].optimizers = opt;
                out[n].args = cJSON_GetObjectItemCaseSensitive(p, "args");
                out[n].fw = cJSON_GetObjectItemCaseSensitive(p, "features_without");
                n++;
            }
        } else die("grid.%s: an object {flag, values} or a list of {id, args}", g->string);
    }
    return n;
}

/* ------------------------------------------------------------------ run state */
static int count_rows(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') n++;
        last = c;
    }
    if (last != '\n') n++;
    fclose(f);
    return n > 0 ? n - 1 : 0;
}

static int args_equal(const run_t *r, const cJSON *rec) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(rec, "args");
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != r->nargs) return 0;
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++)
        if (!cJSON_IsString(e) || strcmp(e->valuestring, r->args[i])) return 0;
    return 1;
}

static void probe(run_t *r, const opts_t *o) {
    char p[2300];
    r->message[0] = 0;
    snprintf(p, sizeof p, "%s/epochs.csv", r->dir);
    r->done_epochs = count_rows(p);
    snprintf(p, sizeof p, "%s/sweep_run.json", r->dir);
    cJSON *rec = read_json(p, 0);
    int stale = rec && !args_equal(r, rec);
    cJSON_Delete(rec);
    snprintf(p, sizeof p, "%s/summary.json", r->dir);
    cJSON *s = read_json(p, 0);
    const char *st = s ? jstr(s, "status", "") : NULL;
    if (stale && !o->rerun_stale) {
        r->state = ST_STALE;
        snprintf(r->message, sizeof r->message, "ran with other settings than the profile's");
    } else if (st && !stale && !strcmp(st, "finished")) r->state = ST_FINISHED;
    else if (st && !stale && !strcmp(st, "diverged") && !o->retry_diverged) r->state = ST_DIVERGED;
    else {
        snprintf(p, sizeof p, "%s/checkpoint.safetensors", r->dir);
        r->state = (!s && !stale && daoe_file_exists(p)) ? ST_RESUME : ST_TODO;
        if (r->state != ST_RESUME) r->done_epochs = 0;
    }
    cJSON_Delete(s);
}

/* A run that restarts from scratch must not leave the old result behind. */
static void clear_outputs(const run_t *r) {
    const char *files[] = {"summary.json", "epochs.csv", "alpha.csv", "final.safetensors", "checkpoint.safetensors",
                           NULL};
    char p[2300];
    for (int i = 0; files[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", r->dir, files[i]);
        unlink(p);
    }
}

/* ------------------------------------------------------------------ output */
static void fmt_dur(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e8) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void iso_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%S%z", &tm);
}

static cJSON *run_json(const run_t *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "group", r->group);
    cJSON_AddStringToObject(o, "optimizer", r->optimizer);
    cJSON_AddStringToObject(o, "setting", r->setting);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", r->seed);
    cJSON_AddRawToObject(o, "seed", seed);
    cJSON *a = cJSON_AddArrayToObject(o, "args");
    for (int i = 0; i < r->nargs; i++) cJSON_AddItemToArray(a, cJSON_CreateString(r->args[i]));
    a = cJSON_AddArrayToObject(o, "setting_args");
    for (int i = r->set_arg0; i < r->nargs; i++) cJSON_AddItemToArray(a, cJSON_CreateString(r->args[i]));
    return o;
}

typedef struct {
    const opts_t *o;
    cJSON *profile;
    run_t *runs;
    int nruns;
    int jobs, threads_per_job;
    char gpus[16][32];
    int ngpu;
    char started[64];
    double t_start;
    cJSON *tuned_used;
    const char *lr_from_path;
} sweep_t;

static void write_sweep_json(sweep_t *S, int final) {
    char path[2300];
    snprintf(path, sizeof path, "%s/sweep.json", S->o->results);
    cJSON *old = read_json(path, 0);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "profile", jstr(S->profile, "name", ""));
    cJSON_AddStringToObject(j, "profile_file", S->o->profile_path);
    cJSON_AddStringToObject(j, "kind", jstr(S->profile, "kind", "compare"));
    const char *ct = jstr(S->profile, "compare_to", NULL);
    if (ct) cJSON_AddStringToObject(j, "compare_to", ct);
    const cJSON *ta = cJSON_GetObjectItemCaseSensitive(S->profile, "target_acc");
    if (cJSON_IsNumber(ta)) cJSON_AddNumberToObject(j, "target_acc", ta->valuedouble);
    const char *base = jstr(S->profile, "base", NULL);
    if (base) cJSON_AddStringToObject(j, "base", base);
    if (S->lr_from_path) {
        cJSON_AddStringToObject(j, "lr_from", S->lr_from_path);
        cJSON_AddItemToObject(j, "tuned_args", cJSON_Duplicate(S->tuned_used, 1));
    } else cJSON_AddNullToObject(j, "lr_from");
    cJSON_AddItemToObject(j, "resolved_profile", cJSON_Duplicate(S->profile, 1));
    int cnt[7] = {0};
    cJSON *runs = cJSON_AddArrayToObject(j, "runs");
    for (int i = 0; i < S->nruns; i++) {
        const run_t *r = &S->runs[i];
        cJSON *o = run_json(r);
        run_state st = r->state == ST_RESUME ? ST_TODO : r->state;
        cnt[st]++;
        cJSON_AddStringToObject(o, "status", STATE_NAME[st]);
        cJSON_AddStringToObject(o, "dir", r->dir);
        char p[2300];
        snprintf(p, sizeof p, "%s/summary.json", r->dir);
        cJSON *s = (st == ST_FINISHED || st == ST_DIVERGED) ? read_json(p, 0) : NULL;
        const cJSON *v;
        if (s && cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(s, "final_test_acc")))
            cJSON_AddNumberToObject(o, "final_test_acc", v->valuedouble);
        if (s && cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(s, "wall_seconds")))
            cJSON_AddNumberToObject(o, "wall_seconds", v->valuedouble);
        if (s && cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(s, "diverged_at_step")))
            cJSON_AddNumberToObject(o, "diverged_at_step", v->valuedouble);
        cJSON_Delete(s);
        if (r->ran) {
            cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
            cJSON_AddNumberToObject(o, "seconds_this_invocation", r->seconds);
        }
        if (r->message[0]) cJSON_AddStringToObject(o, "message", r->message);
        cJSON_AddItemToArray(runs, o);
    }
    cJSON *c = cJSON_AddObjectToObject(j, "counts");
    cJSON_AddNumberToObject(c, "runs", S->nruns);
    for (int k = ST_FINISHED; k <= ST_STALE; k++) cJSON_AddNumberToObject(c, STATE_NAME[k], cnt[k]);
    cJSON_AddNumberToObject(c, "pending", cnt[ST_TODO]);
    /* invocations: the old ones, and this one */
    cJSON *inv = cJSON_AddArrayToObject(j, "invocations");
    const cJSON *oi = old ? cJSON_GetObjectItemCaseSensitive(old, "invocations") : NULL;
    for (const cJSON *e = oi ? oi->child : NULL; e; e = e->next)
        if (strcmp(jstr(e, "started", ""), S->started)) cJSON_AddItemToArray(inv, cJSON_Duplicate(e, 1));
    cJSON *me = cJSON_CreateObject();
    cJSON_AddStringToObject(me, "started", S->started);
    if (final) {
        char now[64];
        iso_now(now, sizeof now);
        cJSON_AddStringToObject(me, "ended", now);
    }
    cJSON_AddNumberToObject(me, "wall_seconds", daoe_now() - S->t_start);
    int ran = 0;
    for (int i = 0; i < S->nruns; i++) ran += S->runs[i].ran;
    cJSON_AddNumberToObject(me, "runs_started", ran);
    cJSON_AddNumberToObject(me, "jobs", S->jobs);
    cJSON_AddNumberToObject(me, "threads_per_job", S->threads_per_job);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    cJSON_AddStringToObject(me, "host", host);
    cJSON_AddNumberToObject(me, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddNumberToObject(me, "gpus", S->ngpu);
    cJSON_AddItemToArray(inv, me);
    write_json(path, j);
    cJSON_Delete(j);
    cJSON_Delete(old);
}

/* ------------------------------------------------------------------ GPUs */
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

/* ------------------------------------------------------------------ launching */
static pid_t launch(sweep_t *S, run_t *r, int slot) {
    char err[1024];
    if (daoe_mkdir_p(r->dir, err, sizeof err) != 0) {
        snprintf(r->message, sizeof r->message, "%s", err);
        return -1;
    }
    if (r->state == ST_TODO) clear_outputs(r);
    char p[2300];
    snprintf(p, sizeof p, "%s/sweep_run.json", r->dir);
    cJSON *rec = run_json(r);
    cJSON_AddStringToObject(rec, "profile", jstr(S->profile, "name", ""));
    cJSON_AddStringToObject(rec, "train", S->o->train);
    write_json(p, rec);
    cJSON_Delete(rec);

    char *argv[MAXARGS + 16];
    int n = 0;
    char threads[16];
    snprintf(threads, sizeof threads, "%d", S->threads_per_job);
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

    snprintf(p, sizeof p, "%s/train.log", r->dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) {
        snprintf(r->message, sizeof r->message, "%s: %s", p, strerror(errno));
        return -1;
    }
    char stamp[64];
    iso_now(stamp, sizeof stamp);
    dprintf(fd, "---- daoe-sweep %s:", stamp);
    for (int i = 0; argv[i]; i++) dprintf(fd, " %s", argv[i]);
    dprintf(fd, "\n");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        snprintf(r->message, sizeof r->message, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
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
    close(fd);
    setpgid(pid, pid);
    r->pid = pid;
    r->slot = slot;
    r->t0 = daoe_now();
    r->ran = 1;
    r->state = ST_RUNNING;
    return pid;
}

static void last_log_line(const run_t *r, char *out, size_t n) {
    char p[2300], err[256];
    snprintf(p, sizeof p, "%s/train.log", r->dir);
    size_t len;
    char *t = daoe_read_file(p, &len, err, sizeof err);
    out[0] = 0;
    if (!t) return;
    while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' ')) t[--len] = 0;
    char *s = t + len;
    while (s > t && s[-1] != '\n' && s[-1] != '\r') s--;
    snprintf(out, n, "%s", s);
    free(t);
}

static void finish(run_t *r, int wstatus) {
    r->seconds = daoe_now() - r->t0;
    r->pid = 0;
    char p[2300];
    snprintf(p, sizeof p, "%s/summary.json", r->dir);
    cJSON *s = read_json(p, 0);
    const char *st = s ? jstr(s, "status", "") : "";
    if (WIFEXITED(wstatus)) r->exit_code = WEXITSTATUS(wstatus);
    else r->exit_code = 128 + WTERMSIG(wstatus);
    if (r->exit_code == 0 && !strcmp(st, "finished")) r->state = ST_FINISHED;
    else if (r->exit_code == 3 && !strcmp(st, "diverged")) r->state = ST_DIVERGED;
    else {
        r->state = ST_FAILED;
        char line[400];
        last_log_line(r, line, sizeof line);
        snprintf(r->message, sizeof r->message, "exit %d: %.400s", r->exit_code, line);
    }
    cJSON_Delete(s);
}

static double run_test_acc(const run_t *r) {
    char p[2300];
    snprintf(p, sizeof p, "%s/summary.json", r->dir);
    cJSON *s = read_json(p, 0);
    const cJSON *v = s ? cJSON_GetObjectItemCaseSensitive(s, "final_test_acc") : NULL;
    double a = cJSON_IsNumber(v) ? v->valuedouble : -1;
    cJSON_Delete(s);
    return a;
}

/* The profile's "runs_per_gpu" (cuda backend): how many runs share one GPU by
 * default. One run at width 64, batch 128 leaves most of a large GPU idle, so
 * several concurrent runs train more images per second in all; the profile
 * says how many paid off where it was measured. Absent: 1. */
static int profile_runs_per_gpu(const cJSON *P) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(P, "runs_per_gpu");
    if (!v) return 1;
    if (!cJSON_IsNumber(v) || v->valueint < 1 || v->valuedouble != (double)v->valueint)
        die("profile: \"runs_per_gpu\" must be a positive integer");
    return v->valueint;
}

/* ------------------------------------------------------------------ main */
static void usage(FILE *f) {
    fprintf(f,
            "usage: daoe-sweep [options] PROFILE.json\n"
            "Runs every run of a benchmark profile with daoe-train into RESULTS/<run-id>/,\n"
            "skipping finished (and diverged) runs and resuming killed ones.\n\n"
            "  -j, --jobs N        runs at a time (default: profile \"jobs\", else 1 on the CPU;\n"
            "                      with the cuda backend profile \"runs_per_gpu\" (default 1) per GPU)\n"
            "  --threads N         CPU threads in all, split between the jobs (default: all cores)\n"
            "  --results DIR       results folder (default results/<profile name>)\n"
            "  --data DIR          CIFAR-10 folder (default $CIFAR10_DIR)\n"
            "  --train PATH        daoe-train binary (default: beside daoe-sweep)\n"
            "  --base NAME         use another base profile (ablation, tune); results then go to\n"
            "                      results/<profile>-<base> unless --results is given\n"
            "  --lr-from FILE      tuned arguments to use instead of the profile's lr_from\n"
            "  --no-lr-from        ignore lr_from: the trainer's default rates\n"
            "  --only SUBSTR       only runs whose id contains SUBSTR\n"
            "  --retry-diverged    re-run runs recorded as diverged\n"
            "  --rerun-stale       re-run runs whose recorded arguments differ from the profile's\n"
            "  --dry-run           list the runs, their state and arguments; run nothing\n"
            "  --show              print the resolved profile (bases merged) and exit\n"
            "  --get KEY           print one key of the resolved profile (e.g. lr_from) and exit\n"
            "exit status: 0 every run finished or diverged, 1 some run failed or is stale,\n"
            "2 bad command line or profile, 130 interrupted (re-run to resume).\n");
}

int main(int argc, char **argv) {
    opts_t o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT() (i + 1 < argc ? argv[++i] : (die("%s needs a value", a), (char *)NULL))
        if (!strcmp(a, "-j") || !strcmp(a, "--jobs")) o.jobs = atoi(NEXT());
        else if (!strncmp(a, "-j", 2) && a[2]) o.jobs = atoi(a + 2);
        else if (!strcmp(a, "--threads")) o.threads = atoi(NEXT());
        else if (!strcmp(a, "--results")) o.results = NEXT();
        else if (!strcmp(a, "--data")) o.data = NEXT();
        else if (!strcmp(a, "--train")) o.train = NEXT();
        else if (!strcmp(a, "--base")) o.base = NEXT();
        else if (!strcmp(a, "--lr-from")) o.lr_from = NEXT();
        else if (!strcmp(a, "--no-lr-from")) o.no_lr_from = 1;
        else if (!strcmp(a, "--only")) o.only = NEXT();
        else if (!strcmp(a, "--retry-diverged")) o.retry_diverged = 1;
        else if (!strcmp(a, "--rerun-stale")) o.rerun_stale = 1;
        else if (!strcmp(a, "--dry-run") || !strcmp(a, "-n")) o.dry_run = 1;
        else if (!strcmp(a, "--show")) o.show = 1;
        else if (!strcmp(a, "--get")) o.get = NEXT();
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "daoe-sweep: error: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (!o.profile_path) o.profile_path = a;
        else die("more than one profile given (%s)", a);
#undef NEXT
    }
    if (!o.profile_path) {
        usage(stderr);
        return 2;
    }
    if (o.jobs < 0 || o.threads < 0) die("-j and --threads take positive numbers");

    cJSON *P = load_profile(o.profile_path, o.base, 0);
    if (!jstr(P, "name", NULL)) {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", o.profile_path);
        char *b = basename(tmp);
        char *dot = strrchr(b, '.');
        if (dot) *dot = 0;
        cJSON_AddStringToObject(P, "name", b);
    }
    const char *name = jstr(P, "name", "profile");
    static const char *known_keys[] = {"name", "description", "notes", "base", "kind", "train", "optimizers", "seeds",
                                       "optimizer_args", "settings", "grid", "lr_from", "compare_to", "target_acc",
                                       "jobs", "select_on", "runs_per_gpu", NULL};
    for (const cJSON *e = P->child; e; e = e->next) {
        int ok = e->string[0] == '_';
        for (int k = 0; known_keys[k] && !ok; k++) ok = !strcmp(e->string, known_keys[k]);
        if (!ok) die("%s: unknown profile key \"%s\" (known: name description notes base kind train optimizers seeds "
                     "optimizer_args settings grid lr_from compare_to target_acc jobs select_on runs_per_gpu)", o.profile_path, e->string);
    }
    const cJSON *grid = cJSON_GetObjectItemCaseSensitive(P, "grid");
    const cJSON *settings = cJSON_GetObjectItemCaseSensitive(P, "settings");
    if (!jstr(P, "kind", NULL))
        cJSON_AddStringToObject(P, "kind", grid ? "tune" : settings ? "ablation" : "compare");
    if (o.get) {
        /* one resolved key, for scripts (Makefile.artifact): strings raw, other values as JSON, absent: nothing */
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(P, o.get);
        if (cJSON_IsString(v)) printf("%s\n", v->valuestring);
        else if (v && !cJSON_IsNull(v)) {
            char *s = cJSON_PrintUnformatted(v);
            printf("%s\n", s);
            free(s);
        }
        return 0;
    }
    if (o.show) {
        char *s = cJSON_Print(P);
        printf("%s\n", s);
        free(s);
        return 0;
    }
    static char results_buf[PATH_MAX];
    if (!o.results) {
        /* another base is another experiment: keep it apart */
        if (o.base) snprintf(results_buf, sizeof results_buf, "results/%s-%s", name, o.base);
        else snprintf(results_buf, sizeof results_buf, "results/%s", name);
        o.results = results_buf;
    }
    if (!o.data) o.data = getenv("CIFAR10_DIR");
    if ((!o.data || !o.data[0]) && !o.dry_run) die("no data folder: pass --data DIR or set CIFAR10_DIR");
    static char train_buf[PATH_MAX];
    if (!o.train) {
        ssize_t n = readlink("/proc/self/exe", train_buf, sizeof train_buf - 32);
        if (n <= 0) die("cannot find daoe-train: pass --train PATH");
        train_buf[n] = 0;
        char *slash = strrchr(train_buf, '/');
        snprintf(slash + 1, 16, "daoe-train");
        o.train = train_buf;
    }
    if (access(o.train, X_OK) != 0 && !o.dry_run) die("%s: not an executable (build it, or pass --train PATH)", o.train);

    /* ---- the pieces of a command line */
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(P, "train");
    if (!cJSON_IsObject(train)) die("%s: the profile needs a \"train\" object of daoe-train settings", o.profile_path);
    const cJSON *optimizers = cJSON_GetObjectItemCaseSensitive(P, "optimizers");
    const cJSON *seeds = cJSON_GetObjectItemCaseSensitive(P, "seeds");
    if (!cJSON_IsArray(seeds) || !cJSON_GetArraySize(seeds)) die("%s: \"seeds\" must be a non-empty list", o.profile_path);
    for (const cJSON *s = seeds->child; s; s = s->next)
        if (!cJSON_IsNumber(s) || s->valuedouble < 0) die("%s: seeds are non-negative integers", o.profile_path);
    const cJSON *opt_args = cJSON_GetObjectItemCaseSensitive(P, "optimizer_args");
    const char *backend = jstr(train, "backend", "cpu");
    int epochs = 100;
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(train, "epochs");
    if (cJSON_IsNumber(ep)) epochs = ep->valueint;

    /* tuned arguments */
    cJSON *tuned = NULL;
    const char *lr_from = o.no_lr_from ? NULL : o.lr_from ? o.lr_from : jstr(P, "lr_from", NULL);
    if (lr_from) {
        tuned = read_json(lr_from, 0);
        if (!tuned && o.dry_run)
            printf("# note: %s (lr_from) does not exist yet: the runs below lack the tuned rates\n", lr_from);
        else if (!tuned)
            die("%s: the tuned rates (lr_from) are missing. Run the tune profile first:\n"
                "  make -f Makefile.artifact tune   (or: daoe-sweep bench/profiles/tune.json && daoe-stats results/tune)\n"
                "or pass --no-lr-from to use the trainer's default rates.",
                lr_from);
        if (tuned && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(tuned, "winners")))
            die("%s: no \"winners\" object (written by daoe-stats on a tune sweep)", lr_from);
    }
    cJSON *tuned_used = cJSON_CreateObject();

    /* settings */
    setting_t set[512];
    int nset = 0;
    cJSON *keep = cJSON_CreateArray();
    if (grid) nset = grid_settings(grid, set, 512, keep);
    else if (settings) {
        if (!cJSON_IsArray(settings)) die("\"settings\" must be a list");
        for (const cJSON *s = settings->child; s; s = s->next) {
            if (nset >= 512) die("too many settings");
            const char *id = jstr(s, "id", NULL);
            if (!id) die("every setting needs an \"id\"");
            snprintf(set[nset].id, sizeof set[nset].id, "%s", id);
            set[nset].optimizers = cJSON_GetObjectItemCaseSensitive(s, "optimizers");
            set[nset].args = cJSON_GetObjectItemCaseSensitive(s, "args");
            set[nset].fw = cJSON_GetObjectItemCaseSensitive(s, "features_without");
            nset++;
        }
    } else {
        set[0].id[0] = 0;
        set[0].optimizers = NULL;
        set[0].args = NULL;
        set[0].fw = NULL;
        nset = 1;
    }

    /* ---- expand: seed-major, so a sweep cut short has every optimizer for the first seeds */
    int cap = 64, nruns = 0;
    run_t *runs = daoe_xcalloc((size_t)cap, sizeof *runs);
    for (const cJSON *sd = seeds->child; sd; sd = sd->next) {
        for (int k = 0; k < nset; k++) {
            const cJSON *ol = set[k].optimizers ? set[k].optimizers : optimizers;
            if (!cJSON_IsArray(ol) || !cJSON_GetArraySize(ol)) die("no \"optimizers\" list for setting '%s'", set[k].id);
            for (const cJSON *op = ol->child; op; op = op->next) {
                if (!cJSON_IsString(op) || !known_optimizer(op->valuestring))
                    die("unknown optimizer %s", cJSON_IsString(op) ? op->valuestring : "(not a string)");
                if (nruns == cap) {
                    cap *= 2;
                    runs = realloc(runs, sizeof *runs * (size_t)cap);
                }
                run_t *r = &runs[nruns];
                memset(r, 0, sizeof *r);
                const char *opt = op->valuestring;
                snprintf(r->optimizer, sizeof r->optimizer, "%s", opt);
                snprintf(r->setting, sizeof r->setting, "%.127s", set[k].id);
                r->seed = (unsigned long long)sd->valuedouble;
                if (set[k].id[0]) snprintf(r->group, sizeof r->group, "%.30s-%.128s", opt, set[k].id);
                else snprintf(r->group, sizeof r->group, "%.30s", opt);
                sanitize(r->group);
                snprintf(r->id, sizeof r->id, "%.200s-s%llu", r->group, r->seed);
                for (int q = 0; q < nruns; q++)
                    if (!strcmp(runs[q].id, r->id)) die("two runs with the id %s (duplicate seed or setting)", r->id);
                snprintf(r->dir, sizeof r->dir, "%.1700s/%s", o.results, r->id);
                r->epochs = epochs;
                /* train block */
                for (const cJSON *t = train->child; t; t = t->next) {
                    char flag[128];
                    snprintf(flag, sizeof flag, "--%s", t->string);
                    for (char *c = flag + 2; *c; c++)
                        if (*c == '_') *c = '-';
                    if (!strcmp(flag, "--data") || !strcmp(flag, "--out") || !strcmp(flag, "--threads") ||
                        !strcmp(flag, "--resume") || !strcmp(flag, "--optimizer") || !strcmp(flag, "--seed"))
                        die("train.%s is set by the sweep, not the profile", t->string);
                    if (cJSON_IsBool(t)) {
                        if (cJSON_IsTrue(t)) push(r, flag);
                        continue;
                    }
                    if (cJSON_IsNull(t)) continue;
                    char *v = fmt_value(t, t->string);
                    push(r, flag);
                    push(r, v);
                    free(v);
                }
                push(r, "--optimizer");
                push(r, opt);
                char sbuf[32];
                snprintf(sbuf, sizeof sbuf, "%llu", r->seed);
                push(r, "--seed");
                push(r, sbuf);
                if (tuned) {
                    const cJSON *w = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tuned, "winners"), opt);
                    const cJSON *wa = w ? cJSON_GetObjectItemCaseSensitive(w, "args") : NULL;
                    if (wa) {
                        push_list(r, wa, lr_from);
                        if (!cJSON_GetObjectItemCaseSensitive(tuned_used, opt))
                            cJSON_AddItemToObject(tuned_used, opt, cJSON_Duplicate(wa, 1));
                    } else if (!cJSON_GetObjectItemCaseSensitive(tuned_used, opt))
                        cJSON_AddNullToObject(tuned_used, opt);
                }
                if (opt_args) push_list(r, cJSON_GetObjectItemCaseSensitive(opt_args, opt), "optimizer_args");
                r->set_arg0 = r->nargs;
                features_without(r, set[k].fw, set[k].id);
                push_list(r, set[k].args, set[k].id);
                r->selected = !o.only || strstr(r->id, o.only) != NULL;
                nruns++;
            }
        }
    }
    if (lr_from && tuned) {
        for (const cJSON *e = tuned_used->child; e; e = e->next)
            if (cJSON_IsNull(e))
                fprintf(stderr, "daoe-sweep: note: %s has no tuned rate for %s: the trainer's default is used\n", lr_from,
                        e->string);
    }

    /* ---- jobs, threads, GPUs */
    sweep_t S = {0};
    S.o = &o;
    S.profile = P;
    S.runs = runs;
    S.nruns = nruns;
    S.tuned_used = tuned_used;
    S.lr_from_path = tuned ? lr_from : NULL;
    if (!strcmp(backend, "cuda")) S.ngpu = list_gpus(S.gpus);
    int jobs = o.jobs;
    const cJSON *pj = cJSON_GetObjectItemCaseSensitive(P, "jobs");
    if (!jobs && cJSON_IsNumber(pj) && pj->valueint > 0 && !S.ngpu) jobs = pj->valueint;
    const int runs_per_gpu = profile_runs_per_gpu(P);
    if (!jobs) jobs = S.ngpu > 0 ? S.ngpu * runs_per_gpu : 1;
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int threads = o.threads ? o.threads : cores;
    S.jobs = jobs;
    S.threads_per_job = threads / jobs > 0 ? threads / jobs : 1;
    if (!strcmp(backend, "cuda") && S.ngpu == 0 && !o.dry_run)
        fprintf(stderr, "daoe-sweep: warning: backend cuda but no GPU found (nvidia-smi -L); the runs will fail\n");
    if (S.ngpu > 0 && jobs > S.ngpu)
        fprintf(stderr, "daoe-sweep: note: %d jobs on %d GPUs: GPUs are shared\n", jobs, S.ngpu);

    int ntodo = 0, nfin = 0, ndiv = 0, nstale = 0, unsel = 0;
    for (int i = 0; i < nruns; i++) {
        probe(&runs[i], &o);
        if (!runs[i].selected) {
            unsel++;
            continue;
        }
        switch (runs[i].state) {
        case ST_TODO: case ST_RESUME: ntodo++; break;
        case ST_FINISHED: nfin++; break;
        case ST_DIVERGED: ndiv++; break;
        case ST_STALE: nstale++; break;
        default: break;
        }
    }

    if (o.dry_run) {
        printf("# profile %s (%s): %d runs -> %s/ ; %d to run, %d finished, %d diverged (kept), %d stale%s\n", name,
               jstr(P, "kind", ""), nruns, o.results, ntodo, nfin, ndiv, nstale, unsel ? " (some not selected by --only)" : "");
        printf("# jobs %d, threads per job %d%s\n", jobs, S.threads_per_job, S.ngpu ? ", one GPU per job" : "");
        printf("# id\tstate\targuments\n");
        for (int i = 0; i < nruns; i++) {
            const run_t *r = &runs[i];
            char st[64];
            if (!r->selected) snprintf(st, sizeof st, "not-selected");
            else if (r->state == ST_RESUME) snprintf(st, sizeof st, "resume@%d/%d", r->done_epochs, r->epochs);
            else if (r->state == ST_TODO) snprintf(st, sizeof st, "run");
            else snprintf(st, sizeof st, "%s", STATE_NAME[r->state]);
            printf("%s\t%s\t", r->id, st);
            for (int a = 0; a < r->nargs; a++) printf("%s%s", a ? " " : "", r->args[a]);
            printf("\n");
        }
        return nstale ? 1 : 0;
    }

    char err[1024];
    if (daoe_mkdir_p(o.results, err, sizeof err) != 0) die("%s", err);
    iso_now(S.started, sizeof S.started);
    S.t_start = daoe_now();
    char sj[2300];
    snprintf(sj, sizeof sj, "%s/sweep.json", o.results);
    for (int i = 0; i < nruns; i++)
        if (runs[i].state == ST_STALE && runs[i].selected)
            fprintf(stderr, "daoe-sweep: stale: %s %s; delete the folder or pass --rerun-stale\n", runs[i].dir,
                    runs[i].message);
    fprintf(stderr, "daoe-sweep: %s: %d runs, %d to run, %d finished, %d diverged (kept)%s; -j %d, %d threads each\n",
            name, nruns, ntodo, nfin, ndiv, o.retry_diverged ? "" : "", jobs, S.threads_per_job);
    if (ntodo == 0) {
        if (!daoe_file_exists(sj)) write_sweep_json(&S, 1);
        fprintf(stderr, "daoe-sweep: nothing to run\n");
        return nstale ? 1 : 0;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    const int tty = isatty(2);
    int *slot_busy = daoe_xcalloc((size_t)jobs, sizeof(int));
    int running = 0, next = 0, ndone = 0, nfailed = 0, ndiverged_now = 0;
    double units_total = 0;
    for (int i = 0; i < nruns; i++)
        if (runs[i].selected && (runs[i].state == ST_TODO || runs[i].state == ST_RESUME))
            units_total += runs[i].epochs - runs[i].done_epochs;
    double units_done_finished = 0, last_draw = 0;
    write_sweep_json(&S, 0);

    while (!g_stop) {
        /* start runs in free slots */
        while (running < jobs && !g_stop) {
            while (next < nruns && !(runs[next].selected && (runs[next].state == ST_TODO || runs[next].state == ST_RESUME)))
                next++;
            if (next >= nruns) break;
            int slot = 0;
            while (slot_busy[slot]) slot++;
            run_t *r = &runs[next++];
            if (launch(&S, r, slot) < 0) {
                r->state = ST_FAILED;
                r->ran = 1;
                nfailed++;
                ndone++;
                fprintf(stderr, "%sdaoe-sweep: %s failed to start: %s\n", tty ? "\r\033[K" : "", r->id, r->message);
                continue;
            }
            slot_busy[slot] = 1;
            running++;
        }
        if (running == 0) break;
        /* reap */
        int wst;
        pid_t pid;
        while ((pid = waitpid(-1, &wst, WNOHANG)) > 0) {
            for (int i = 0; i < nruns; i++) {
                run_t *r = &runs[i];
                if (r->pid != pid) continue;
                slot_busy[r->slot] = 0;
                running--;
                int start_ep = r->done_epochs;
                finish(r, wst);
                ndone++;
                units_done_finished += r->epochs - start_ep;
                char line[700], dur[32];
                fmt_dur(dur, sizeof dur, r->seconds);
                if (r->state == ST_FINISHED)
                    snprintf(line, sizeof line, "finished  test acc %.4f  %s", run_test_acc(r), dur);
                else if (r->state == ST_DIVERGED) {
                    ndiverged_now++;
                    snprintf(line, sizeof line, "DIVERGED (recorded, sweep goes on)  %s", dur);
                } else {
                    nfailed++;
                    snprintf(line, sizeof line, "FAILED %.400s (log: %.250s/train.log)", r->message, r->dir);
                }
                fprintf(stderr, "%s[%d/%d] %s  %s\n", tty ? "\r\033[K" : "", ndone, ntodo, r->id, line);
                write_sweep_json(&S, 0);
            }
        }
        /* progress line */
        double now = daoe_now();
        if (tty && now - last_draw >= 1.0) {
            last_draw = now;
            double units = units_done_finished;
            for (int i = 0; i < nruns; i++)
                if (runs[i].state == ST_RUNNING) {
                    char p[2300];
                    snprintf(p, sizeof p, "%s/epochs.csv", runs[i].dir);
                    int rows = count_rows(p) - runs[i].done_epochs;
                    if (rows > 0) units += rows;
                }
            double el = now - S.t_start;
            char eta[32], els[32];
            fmt_dur(els, sizeof els, el);
            if (units > 0) fmt_dur(eta, sizeof eta, el * (units_total - units) / units);
            else snprintf(eta, sizeof eta, "? (after the first epoch)");
            fprintf(stderr, "\r\033[K[%s] %d/%d runs done, %d running, %d diverged, %d failed | %.0f/%.0f epochs | %s elapsed | ETA %s",
                    name, ndone, ntodo, running, ndiverged_now, nfailed, units, units_total, els, eta);
        }
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (g_stop) {
        fprintf(stderr, "%sdaoe-sweep: interrupted: stopping %d run(s); re-run the same command to resume\n",
                tty ? "\r\033[K" : "", running);
        for (int i = 0; i < nruns; i++)
            if (runs[i].state == ST_RUNNING) kill(-runs[i].pid, SIGTERM);
        for (int i = 0; i < nruns; i++)
            if (runs[i].state == ST_RUNNING) {
                int wst;
                waitpid(runs[i].pid, &wst, 0);
                runs[i].seconds = daoe_now() - runs[i].t0;
                runs[i].exit_code = 130;
                runs[i].pid = 0;
                runs[i].state = ST_TODO;
                snprintf(runs[i].message, sizeof runs[i].message, "interrupted");
            }
    }
    if (tty) fprintf(stderr, "\r\033[K");
    write_sweep_json(&S, 1);
    char els[32];
    fmt_dur(els, sizeof els, daoe_now() - S.t_start);
    fprintf(stderr, "daoe-sweep: %s: %d run(s) done in %s: %d diverged, %d failed; %s\n", name, ndone, els, ndiverged_now,
            nfailed, sj);
    if (nfailed)
        for (int i = 0; i < nruns; i++)
            if (runs[i].state == ST_FAILED) fprintf(stderr, "  failed: %s: %s\n", runs[i].id, runs[i].message);
    cJSON_Delete(keep);
    cJSON_Delete(tuned);
    cJSON_Delete(tuned_used);
    cJSON_Delete(P);
    free(slot_busy);
    if (g_stop) return 130;
    return (nfailed || nstale) ? 1 : 0;
}
