/* daoe-sweep: a profile, from its file to the list of runs.
 *
 * A profile may name a base profile (merged under it, "train" merged key by
 * key); the result is checked for unknown keys and given a name and a kind.
 * It expands seed-major into runs = seeds x settings x optimizers, each with
 * its command line: the "train" block as --flags, --optimizer, --seed, the
 * tuned arguments (lr_from), optimizer_args, then the setting's arguments.
 * Every mistake in a profile stops the sweep with one line (exit 2). */
#define _GNU_SOURCE
#include "daoe/config.h"
#include "daoe/optimizer_list.h"
#include "daoe/util.h"
#include "sweep.h"
#include <dirent.h>
#include "tool.h"
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXSETTINGS 512

/* ------------------------------------------------------------------ loading */
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
    if (depth > 4) tool_die("%s: profile bases nest too deep", path);
    cJSON *p = tool_read_json(path, TOOL_JSON_REQUIRED);
    if (!cJSON_IsObject(p)) tool_die("%s: a profile is a JSON object", path);
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
    const char *drop[] = {"name", "description", "settings", "grid", "grid_beyond", "compare_to", "kind", "twin", NULL};
    for (int i = 0; drop[i]; i++) cJSON_DeleteItemFromObjectCaseSensitive(b, drop[i]);
    cJSON_DeleteItemFromObjectCaseSensitive(p, "base");
    merge_into(b, p);
    cJSON_Delete(p);
    cJSON_AddStringToObject(b, "base", base);
    return b;
}

static void check_keys(const cJSON *P, const char *path) {
    static const char *known_keys[] = {"name", "description", "notes", "base", "kind", "train", "optimizers", "seeds",
                                       "optimizer_args", "settings", "grid", "lr_from", "compare_to", "target_acc",
                                       "jobs", "select_on", "runs_per_gpu", "twin", "grid_beyond", NULL};
    for (const cJSON *e = P->child; e; e = e->next) {
        int ok = e->string[0] == '_';
        for (int k = 0; known_keys[k] && !ok; k++) ok = !strcmp(e->string, known_keys[k]);
        if (!ok) tool_die("%s: unknown profile key \"%s\" (known: name description notes base kind train optimizers seeds "
                          "optimizer_args settings grid lr_from compare_to target_acc jobs select_on runs_per_gpu twin grid_beyond)", path, e->string);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(P, "runs_per_gpu");
    if (v && (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 64 || v->valuedouble != (double)v->valueint))
        tool_die("%s: \"runs_per_gpu\" must be an integer from 1 to 64", path);
}

/* The profile with its bases merged, checked, named (default: the file name)
 * and with a kind (default: tune with a grid, ablation with settings, else compare). */
void sweep_resolve_profile(sweep_t *S, const sweep_opts_t *o) {
    S->o = o;
    cJSON *P = S->profile = load_profile(o->profile_path, o->base, 0);
    if (!jstr(P, "name", NULL)) {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", o->profile_path);
        char *b = basename(tmp);
        char *dot = strrchr(b, '.');
        if (dot) *dot = 0;
        cJSON_AddStringToObject(P, "name", b);
    }
    S->name = jstr(P, "name", "profile");
    check_keys(P, o->profile_path);
    const cJSON *grid = cJSON_GetObjectItemCaseSensitive(P, "grid");
    const cJSON *settings = cJSON_GetObjectItemCaseSensitive(P, "settings");
    if (!jstr(P, "kind", NULL)) cJSON_AddStringToObject(P, "kind", grid ? "tune" : settings ? "ablation" : "compare");
}

/* ------------------------------------------------------------------ arguments */
static char *fmt_value(const cJSON *v, const char *where) {
    char buf[256];
    if (cJSON_IsString(v)) return daoe_xstrdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d > -1e15 && d < 1e15 && d == (double)(long long)d) snprintf(buf, sizeof buf, "%lld", (long long)d);
        else snprintf(buf, sizeof buf, "%.10g", d);
        return daoe_xstrdup(buf);
    }
    tool_die("%s: values are numbers, strings or booleans", where);
}

static void push(sweep_run_t *r, const char *s) {
    if (r->nargs >= MAXARGS - 16) tool_die("run %s: too many arguments", r->id);
    r->args[r->nargs++] = daoe_xstrdup(s);
}

static void push_list(sweep_run_t *r, const cJSON *list, const char *where) {
    if (!list) return;
    if (!cJSON_IsArray(list)) tool_die("%s: expected a list of arguments", where);
    for (const cJSON *e = list->child; e; e = e->next) {
        char *s = fmt_value(e, where);
        push(r, s);
        free(s);
    }
}

/* "train": {"train_subset": 2560, "deterministic": true} -> --train-subset 2560 --deterministic */
static void push_train_block(sweep_run_t *r, const cJSON *train) {
    for (const cJSON *t = train->child; t; t = t->next) {
        char flag[128];
        snprintf(flag, sizeof flag, "--%s", t->string);
        for (char *c = flag + 2; *c; c++)
            if (*c == '_') *c = '-';
        if (!strcmp(flag, "--data") || !strcmp(flag, "--out") || !strcmp(flag, "--threads") ||
            !strcmp(flag, "--resume") || !strcmp(flag, "--optimizer") || !strcmp(flag, "--seed"))
            tool_die("train.%s is set by the sweep, not the profile", t->string);
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
}

/* "features_without": "x_mean" -> --features <all others> */
static void features_without(sweep_run_t *r, const cJSON *fw, const char *where) {
    if (!fw) return;
    char list[512] = "";
    int nfw = cJSON_IsArray(fw) ? cJSON_GetArraySize(fw) : 1;
    for (int i = 0; i < nfw; i++) {
        const cJSON *e = cJSON_IsArray(fw) ? cJSON_GetArrayItem(fw, i) : fw;
        if (!cJSON_IsString(e)) tool_die("%s: features_without takes feature names", where);
        int found = 0;
        for (int f = 0; f < DAOE_NFEAT; f++) found |= !strcmp(e->valuestring, daoe_feature_names[f]);
        if (!found) tool_die("%s: unknown feature '%s'", where, e->valuestring);
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

static void sanitize(char *s) {
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-'))
            *s = '_';
}

/* ------------------------------------------------------------------ settings */
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
        if (!daoe_optimizer_find(g->string)) tool_die("grid: unknown optimizer '%s'", g->string);
        cJSON *opt = cJSON_CreateArray();
        cJSON_AddItemToArray(opt, cJSON_CreateString(g->string));
        cJSON_AddItemToArray(keep, opt);
        if (cJSON_IsObject(g)) {
            const char *flag = jstr(g, "flag", NULL);
            const cJSON *vals = cJSON_GetObjectItemCaseSensitive(g, "values");
            if (!flag || !cJSON_IsArray(vals)) tool_die("grid.%s: needs \"flag\" and \"values\"", g->string);
            for (const cJSON *v = vals->child; v; v = v->next) {
                if (n >= max) tool_die("grid: too many points");
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
                if (n >= max) tool_die("grid: too many points");
                const char *id = jstr(p, "id", NULL);
                if (!id) tool_die("grid.%s: every point needs an \"id\"", g->string);
                snprintf(out[n].id, sizeof out[n].id, "%s", id);
                out[n].optimizers = opt;
                out[n].args = cJSON_GetObjectItemCaseSensitive(p, "args");
                out[n].fw = cJSON_GetObjectItemCaseSensitive(p, "features_without");
                n++;
            }
        } else tool_die("grid.%s: an object {flag, values} or a list of {id, args}", g->string);
    }
    return n;
}

/* A point beyond the grid (grid_beyond.<opt>.<low|high>: {"id", "args"}) runs only when daoe-stats
 * says it is due (the tuning's tuned.partial.json, "extend": every run of opt's grid has ended and
 * its best point is at that edge), or when it has run before (a folder of it exists): the rule is
 * daoe-stats' (tune_extension_due), the sweep only follows it. */
static int beyond_settings(sweep_t *S, setting_t *out, int n, int max) {
    const cJSON *gb = cJSON_GetObjectItemCaseSensitive(S->profile, "grid_beyond");
    if (!gb) return n;
    if (!cJSON_IsObject(gb)) tool_die("\"grid_beyond\" must be an object: optimizer -> {low, high}");
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/tuned.partial.json", S->o->results);
    cJSON *partial = tool_read_json(p, TOOL_JSON_QUIET);
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(partial, "extend");
    struct dirent **names = NULL; /* the results folder, read once */
    int nnames = scandir(S->o->results, &names, NULL, NULL);
    for (const cJSON *g = gb->child; g; g = g->next) {
        if (!daoe_optimizer_find(g->string)) tool_die("grid_beyond: unknown optimizer '%s'", g->string);
        for (const cJSON *pt = g->child; pt; pt = pt->next) {
            const char *id = jstr(pt, "id", NULL);
            const cJSON *args = cJSON_GetObjectItemCaseSensitive(pt, "args");
            if ((strcmp(pt->string, "low") && strcmp(pt->string, "high")) || !id || !cJSON_IsArray(args))
                tool_die("grid_beyond.%s.%s: a side is \"low\" or \"high\" with {\"id\", \"args\"}", g->string,
                         pt->string);
            int due = 0;
            for (const cJSON *e = cJSON_IsArray(ext) ? ext->child : NULL; e && !due; e = e->next)
                due = !strcmp(jstr(e, "optimizer", ""), g->string) && !strcmp(jstr(e, "id", ""), id);
            /* a folder <results>/<opt>-<id>-s<seed> means it ran (or runs) */
            char prefix[300];
            snprintf(prefix, sizeof prefix, "%s-%s-s", g->string, id);
            int ran = 0;
            for (int f = 0; f < nnames && !ran; f++) ran = !strncmp(names[f]->d_name, prefix, strlen(prefix));
            if (!due && !ran) continue;
            if (n >= max) tool_die("grid: too many points");
            cJSON *opt = cJSON_CreateArray();
            cJSON_AddItemToArray(opt, cJSON_CreateString(g->string));
            cJSON_AddItemToArray(S->keep, opt);
            /* after the optimizer's grid points (low beyond before them), so that it runs next */
            int at = n;
            for (int k = 0; k < n; k++)
                if (out[k].optimizers && !strcmp(cJSON_GetArrayItem(out[k].optimizers, 0)->valuestring, g->string)) {
                    if (!strcmp(pt->string, "low")) { at = k; break; }
                    at = k + 1;
                }
            memmove(&out[at + 1], &out[at], sizeof out[0] * (size_t)(n - at));
            snprintf(out[at].id, sizeof out[at].id, "%s", id);
            out[at].optimizers = opt;
            out[at].args = args;
            out[at].fw = NULL;
            n++;
            if (due && !ran)
                fprintf(stderr, "daoe-sweep: %s's best point is at its %s edge: the point beyond it (%s) is due\n",
                        g->string, pt->string, id);
        }
    }
    for (int f = 0; f < nnames; f++) free(names[f]);
    free(names);
    cJSON_Delete(partial);
    return n;
}

/* The grid's points (with the points beyond it that are due), the "settings" list, or one
 * unnamed setting. */
static int collect_settings(sweep_t *S, setting_t *set) {
    const cJSON *grid = cJSON_GetObjectItemCaseSensitive(S->profile, "grid");
    const cJSON *settings = cJSON_GetObjectItemCaseSensitive(S->profile, "settings");
    S->keep = cJSON_CreateArray();
    if (grid) return beyond_settings(S, set, grid_settings(grid, set, MAXSETTINGS, S->keep), MAXSETTINGS);
    if (!settings) {
        memset(&set[0], 0, sizeof set[0]);
        return 1;
    }
    if (!cJSON_IsArray(settings)) tool_die("\"settings\" must be a list");
    int n = 0;
    for (const cJSON *s = settings->child; s; s = s->next) {
        if (n >= MAXSETTINGS) tool_die("too many settings");
        const char *id = jstr(s, "id", NULL);
        if (!id) tool_die("every setting needs an \"id\"");
        snprintf(set[n].id, sizeof set[n].id, "%s", id);
        set[n].optimizers = cJSON_GetObjectItemCaseSensitive(s, "optimizers");
        set[n].args = cJSON_GetObjectItemCaseSensitive(s, "args");
        set[n].fw = cJSON_GetObjectItemCaseSensitive(s, "features_without");
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------ tuned arguments */
static void read_tuned(sweep_t *S) {
    const sweep_opts_t *o = S->o;
    const char *named = o->lr_from ? o->lr_from : jstr(S->profile, "lr_from", NULL);
    const char *lr_from = o->no_lr_from ? NULL : named;
    S->tuned_used = cJSON_CreateObject();
    S->untuned = o->no_lr_from && named;
    if (!lr_from) return;
    S->tuned = tool_read_json(lr_from, TOOL_JSON_QUIET);
    if (!S->tuned && o->dry_run)
        printf("# note: %s (lr_from) does not exist yet: the runs below lack the tuned rates\n", lr_from);
    else if (!S->tuned)
        tool_die("%s: the tuned rates (lr_from) are missing. Run the tune profile first:\n"
                 "  make -f Makefile.artifact tune   (or: daoe-sweep bench/profiles/tune.json && daoe-stats results/tune)\n"
                 "or pass --untuned to run it with the trainer's default rates (recorded as such).",
                 lr_from);
    if (S->tuned && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(S->tuned, "winners")))
        tool_die("%s: no \"winners\" object (written by daoe-stats on a tune sweep)", lr_from);
    if (S->tuned) S->lr_from_path = lr_from;
}

/* the winner's arguments for opt, and a record of what was used (null: none) */
static void push_tuned(sweep_t *S, sweep_run_t *r, const char *opt) {
    if (!S->tuned) return;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(S->tuned, "winners"), opt);
    const cJSON *wa = w ? cJSON_GetObjectItemCaseSensitive(w, "args") : NULL;
    int seen = cJSON_GetObjectItemCaseSensitive(S->tuned_used, opt) != NULL;
    if (wa) push_list(r, wa, S->lr_from_path);
    if (seen) return;
    if (wa) cJSON_AddItemToObject(S->tuned_used, opt, cJSON_Duplicate(wa, 1));
    else cJSON_AddNullToObject(S->tuned_used, opt);
}

/* ------------------------------------------------------------------ expansion */
static sweep_run_t *new_run(sweep_t *S) {
    if (S->nruns == S->runs_cap) {
        S->runs_cap = S->runs_cap ? 2 * S->runs_cap : 64;
        S->runs = realloc(S->runs, sizeof *S->runs * (size_t)S->runs_cap);
        if (!S->runs) daoe_fatal("out of memory");
    }
    sweep_run_t *r = &S->runs[S->nruns++];
    memset(r, 0, sizeof *r);
    return r;
}

static void add_run(sweep_t *S, const setting_t *set, unsigned long long seed, const char *opt, int epochs) {
    const cJSON *P = S->profile;
    sweep_run_t *r = new_run(S);
    snprintf(r->optimizer, sizeof r->optimizer, "%s", opt);
    snprintf(r->setting, sizeof r->setting, "%.127s", set->id);
    r->seed = seed;
    if (set->id[0]) snprintf(r->group, sizeof r->group, "%.30s-%.128s", opt, set->id);
    else snprintf(r->group, sizeof r->group, "%.30s", opt);
    sanitize(r->group);
    snprintf(r->id, sizeof r->id, "%.200s-s%llu", r->group, r->seed);
    for (int q = 0; q < S->nruns - 1; q++)
        if (!strcmp(S->runs[q].id, r->id)) tool_die("two runs with the id %s (duplicate seed or setting)", r->id);
    snprintf(r->dir, sizeof r->dir, "%.1700s/%s", S->o->results, r->id);
    r->epochs = epochs;
    push_train_block(r, cJSON_GetObjectItemCaseSensitive(P, "train"));
    push(r, "--optimizer");
    push(r, opt);
    char sbuf[32];
    snprintf(sbuf, sizeof sbuf, "%llu", r->seed);
    push(r, "--seed");
    push(r, sbuf);
    push_tuned(S, r, opt);
    const cJSON *opt_args = cJSON_GetObjectItemCaseSensitive(P, "optimizer_args");
    if (opt_args) push_list(r, cJSON_GetObjectItemCaseSensitive(opt_args, opt), "optimizer_args");
    r->set_arg0 = r->nargs;
    features_without(r, set->fw, set->id);
    push_list(r, set->args, set->id);
    r->selected = !S->o->only || strstr(r->id, S->o->only) != NULL;
}

/* seed-major, so a sweep cut short has every optimizer for the first seeds */
void sweep_expand(sweep_t *S) {
    const cJSON *P = S->profile;
    const char *path = S->o->profile_path;
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(P, "train");
    if (!cJSON_IsObject(train)) tool_die("%s: the profile needs a \"train\" object of daoe-train settings", path);
    const cJSON *optimizers = cJSON_GetObjectItemCaseSensitive(P, "optimizers");
    const cJSON *seeds = cJSON_GetObjectItemCaseSensitive(P, "seeds");
    if (!cJSON_IsArray(seeds) || !cJSON_GetArraySize(seeds)) tool_die("%s: \"seeds\" must be a non-empty list", path);
    for (const cJSON *s = seeds->child; s; s = s->next)
        /* integers the trainer takes exactly (below 2^53); tested before any conversion */
        if (!cJSON_IsNumber(s) || !(s->valuedouble >= 0 && s->valuedouble < 9007199254740992.0) ||
            s->valuedouble != (double)(unsigned long long)s->valuedouble)
            tool_die("%s: seeds are integers from 0 to 2^53", path);
    S->backend = jstr(train, "backend", "cpu");
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(train, "epochs");
    int epochs = cJSON_IsNumber(ep) ? ep->valueint : 100;
    read_tuned(S);
    static setting_t set[MAXSETTINGS];
    int nset = collect_settings(S, set);
    for (const cJSON *sd = seeds->child; sd; sd = sd->next) {
        for (int k = 0; k < nset; k++) {
            const cJSON *ol = set[k].optimizers ? set[k].optimizers : optimizers;
            if (!cJSON_IsArray(ol) || !cJSON_GetArraySize(ol))
                tool_die("no \"optimizers\" list for setting '%s'", set[k].id);
            for (const cJSON *op = ol->child; op; op = op->next) {
                if (!cJSON_IsString(op) || !daoe_optimizer_find(op->valuestring))
                    tool_die("unknown optimizer %s", cJSON_IsString(op) ? op->valuestring : "(not a string)");
                add_run(S, &set[k], (unsigned long long)sd->valuedouble, op->valuestring, epochs);
            }
        }
    }
    for (const cJSON *e = S->tuned ? S->tuned_used->child : NULL; e; e = e->next)
        if (cJSON_IsNull(e))
            fprintf(stderr, "daoe-sweep: note: %s has no tuned rate for %s: the trainer's default is used\n",
                    S->lr_from_path, e->string);
}
