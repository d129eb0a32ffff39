/* daoe-sweep: what it reports. results/<profile>/sweep.json (every run's
 * status and each invocation's times, rewritten whenever a run starts or
 * ends), the --dry-run listing on stdout, the progress line with its ETA and
 * the per-run and closing lines on stderr (for both engines). */
#define _GNU_SOURCE
#include "daoe/run_folder.h"
#include "daoe/util.h"
#include "sweep.h"
#include "tool.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const STATE_NAME[] = {"pending", "pending", DAOE_STATUS_FINISHED, DAOE_STATUS_DIVERGED,
                                   "failed",  "stale",   "running"};

void fmt_dur(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e8) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

void iso_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%S%z", &tm);
}

/* what defines a run (also its sweep_run.json) */
cJSON *run_json(const sweep_run_t *r) {
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

/* ------------------------------------------------------------------ sweep.json */
static void add_profile_fields(cJSON *j, const sweep_t *S) {
    cJSON_AddStringToObject(j, "profile", S->name);
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
    if (S->untuned) cJSON_AddTrueToObject(j, "untuned");
    cJSON_AddItemToObject(j, "resolved_profile", cJSON_Duplicate(S->profile, 1));
}

/* one run's entry: its definition, status, results (from summary.json) and this invocation's exit */
static cJSON *run_status_json(const sweep_run_t *r, run_state st) {
    cJSON *o = run_json(r);
    cJSON_AddStringToObject(o, "status", STATE_NAME[st]);
    cJSON_AddStringToObject(o, "dir", r->dir);
    char p[2300];
    daoe_run_path(p, sizeof p, r->dir, DAOE_RUN_SUMMARY);
    cJSON *s = (st == ST_FINISHED || st == ST_DIVERGED) ? tool_read_json(p, TOOL_JSON_QUIET) : NULL;
    const char *keys[] = {"final_test_acc", "wall_seconds", "diverged_at_step"};
    for (int k = 0; k < 3; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, keys[k]);
        if (cJSON_IsNumber(v)) cJSON_AddNumberToObject(o, keys[k], v->valuedouble);
    }
    cJSON_Delete(s);
    if (r->ran) {
        cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
        cJSON_AddNumberToObject(o, "seconds_this_invocation", r->seconds);
    }
    if (r->message[0]) cJSON_AddStringToObject(o, "message", r->message);
    return o;
}

static cJSON *invocation_json(const sweep_t *S, int final) {
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
    cJSON_AddNumberToObject(me, "cores_usable", daoe_cpus_usable());
    cJSON_AddNumberToObject(me, "gpus", S->ngpu);
    cJSON_AddStringToObject(me, "engine", S->o->engine ? S->o->engine : "local");
    if (S->slurm_job[0]) cJSON_AddStringToObject(me, "slurm_job", S->slurm_job);
    return me;
}

void write_sweep_json(const sweep_t *S, int final) {
    char path[2300];
    snprintf(path, sizeof path, "%s/sweep.json", S->o->results);
    cJSON *old = tool_read_json(path, TOOL_JSON_QUIET);
    cJSON *j = cJSON_CreateObject();
    add_profile_fields(j, S);
    int cnt[7] = {0};
    cJSON *runs = cJSON_AddArrayToObject(j, "runs");
    for (int i = 0; i < S->nruns; i++) {
        run_state st = S->runs[i].state == ST_RESUME ? ST_TODO : S->runs[i].state;
        cnt[st]++;
        cJSON_AddItemToArray(runs, run_status_json(&S->runs[i], st));
    }
    cJSON *c = cJSON_AddObjectToObject(j, "counts");
    cJSON_AddNumberToObject(c, "runs", S->nruns);
    for (int k = ST_FINISHED; k <= ST_STALE; k++) cJSON_AddNumberToObject(c, STATE_NAME[k], cnt[k]);
    cJSON_AddNumberToObject(c, "pending", cnt[ST_TODO]);
    /* invocations: the old ones, and this one */
    cJSON *inv = cJSON_AddArrayToObject(j, "invocations");
    const cJSON *oi = cJSON_GetObjectItemCaseSensitive(old, "invocations");
    for (const cJSON *e = oi ? oi->child : NULL; e; e = e->next)
        if (strcmp(jstr(e, "started", ""), S->started)) cJSON_AddItemToArray(inv, cJSON_Duplicate(e, 1));
    cJSON_AddItemToArray(inv, invocation_json(S, final));
    tool_write_json(S->o->results, "sweep.json", j);
    cJSON_Delete(j);
    cJSON_Delete(old);
}

/* ------------------------------------------------------------------ progress */
const char *sweep_clear_line(const sweep_t *S) { return S->tty ? "\r\033[K" : ""; }

static double run_test_acc(const sweep_run_t *r) {
    char p[2300];
    cJSON *s = tool_read_json(daoe_run_path(p, sizeof p, r->dir, DAOE_RUN_SUMMARY), TOOL_JSON_QUIET);
    double a = jnum(s, "final_test_acc");
    cJSON_Delete(s);
    return a != a ? -1 : a;
}

/* the epochs this invocation has to run */
void sweep_progress_start(const sweep_t *S, progress_t *p) {
    memset(p, 0, sizeof *p);
    p->last_state[0] = -1;
    for (int i = 0; i < S->nruns; i++)
        if (sweep_to_run(&S->runs[i])) p->units_total += S->runs[i].epochs - S->runs[i].done_epochs;
}

/* A run of this invocation has ended (its state settled): the counts, a line, sweep.json. */
void sweep_run_ended(sweep_t *S, progress_t *p, sweep_run_t *r) {
    S->ndone++;
    p->units_done += r->epochs - r->done_epochs;
    char line[700], dur[32] = "";
    if (r->seconds > 0) fmt_dur(dur, sizeof dur, r->seconds);
    if (r->state == ST_FINISHED) snprintf(line, sizeof line, "finished  test acc %.4f  %s", run_test_acc(r), dur);
    else if (r->state == ST_DIVERGED) {
        S->ndiverged_now++;
        snprintf(line, sizeof line, "DIVERGED (recorded, sweep goes on)  %s", dur);
    } else {
        S->nfailed++;
        snprintf(line, sizeof line, "FAILED %.400s (log: %.200s/%.60s)", r->message, r->dir,
                 r->log_name[0] ? r->log_name : DAOE_RUN_TRAIN_LOG);
    }
    fprintf(stderr, "%s[%d/%d] %s  %s\n", sweep_clear_line(S), S->ndone, S->ntodo, r->id, line);
    write_sweep_json(S, 0);
}

/* Runs by state, epochs done (the running runs' epochs.csv rows count) and the ETA:
 * on a terminal redrawn once a second, else (p->lines) a line whenever the counts change. */
void sweep_draw_progress(const sweep_t *S, progress_t *p) {
    double now = daoe_now();
    int fin = S->ndone - S->nfailed - S->ndiverged_now;
    int state[5] = {fin, p->running, p->pending, S->nfailed, S->ndiverged_now};
    if (S->tty ? now - p->last_draw < 1.0 : !p->lines || !memcmp(state, p->last_state, sizeof state)) return;
    p->last_draw = now;
    memcpy(p->last_state, state, sizeof state);
    double units = p->units_done;
    for (int i = 0; i < S->nruns; i++)
        if (S->runs[i].state == ST_RUNNING) {
            int rows = daoe_run_epochs_done(S->runs[i].dir) - S->runs[i].done_epochs;
            if (rows > 0) units += rows;
        }
    double el = now - S->t_start;
    char eta[32], els[32];
    fmt_dur(els, sizeof els, el);
    if (units > 0) fmt_dur(eta, sizeof eta, el * (p->units_total - units) / units);
    else snprintf(eta, sizeof eta, "? (after the first epoch)");
    fprintf(stderr, "%s[%s] %d finished, %d running, %d pending, %d failed, %d diverged of %d | %.0f/%.0f epochs | "
            "%s elapsed | ETA %s%s",
            S->tty ? "\r\033[K" : "", S->name, fin, p->running, p->pending, S->nfailed, S->ndiverged_now, S->ntodo,
            units, p->units_total, els, eta, S->tty ? "" : "\n");
}

/* ------------------------------------------------------------------ stdout, stderr */
/* --dry-run: a header, then a line per run: id, state, arguments */
int sweep_dry_run(const sweep_t *S) {
    const sweep_opts_t *o = S->o;
    printf("# profile %s (%s): %d runs -> %s/ ; %d to run, %d finished, %d diverged (kept), %d stale%s\n", S->name,
           jstr(S->profile, "kind", ""), S->nruns, o->results, S->ntodo, S->nfin, S->ndiv, S->nstale,
           S->unsel ? " (some not selected by --only)" : "");
    printf("# jobs %d, threads per job %d%s\n", S->jobs, S->threads_per_job, S->ngpu ? ", one GPU per job" : "");
    printf("# id\tstate\targuments\n");
    for (int i = 0; i < S->nruns; i++) {
        const sweep_run_t *r = &S->runs[i];
        char st[64];
        if (!r->selected) snprintf(st, sizeof st, "not-selected");
        else if (r->state == ST_RESUME) snprintf(st, sizeof st, "resume@%d/%d", r->done_epochs, r->epochs);
        else if (r->state == ST_TODO) snprintf(st, sizeof st, "run");
        else snprintf(st, sizeof st, "%s", STATE_NAME[r->state]);
        printf("%s\t%s\t", r->id, st);
        for (int a = 0; a < r->nargs; a++) printf("%s%s", a ? " " : "", r->args[a]);
        printf("\n");
    }
    return S->nstale ? 1 : 0;
}

/* After the schedule: sweep.json, a closing line and the failures; the exit status
 * (0 all finished or diverged, 1 some failed or stale, 130 interrupted). */
int sweep_report(sweep_t *S) {
    if (S->tty) fprintf(stderr, "\r\033[K");
    write_sweep_json(S, 1);
    char els[32];
    fmt_dur(els, sizeof els, daoe_now() - S->t_start);
    fprintf(stderr, "daoe-sweep: %s: %d run(s) done in %s: %d diverged, %d failed; %s/sweep.json\n", S->name, S->ndone,
            els, S->ndiverged_now, S->nfailed, S->o->results);
    if (S->nfailed)
        for (int i = 0; i < S->nruns; i++)
            if (S->runs[i].state == ST_FAILED) fprintf(stderr, "  failed: %s: %s\n", S->runs[i].id, S->runs[i].message);
    cJSON_Delete(S->keep);
    cJSON_Delete(S->tuned);
    cJSON_Delete(S->tuned_used);
    cJSON_Delete(S->profile);
    if (g_stop) return 130;
    return (S->nfailed || S->nstale) ? 1 : 0;
}
