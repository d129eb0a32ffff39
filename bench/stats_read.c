/* daoe-stats: reading a results folder. Every folder with a config.json is a
 * run; its summary.json, epochs.csv and sweep_run.json are read when present
 * (alpha.csv later, for the pairing check and the plot data). CSV columns are found by their
 * header names, each looked up once per file; a missing column reads as NaN. */
#define _GNU_SOURCE
#include "daoe/optimizer_list.h"
#include "daoe/run_folder.h"
#include "daoe/util.h"
#include "stats.h"
#include "tool.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ CSV */
/* one column a reader wants: its header name and where its values go */
typedef struct {
    const char *name;
    double **dst; /* gets an array of the column's values, one per row */
} csv_field;

static char **split_header(char *line, int *ncol) {
    int cap = 8;
    char **names = daoe_xmalloc(sizeof(char *) * (size_t)cap);
    *ncol = 0;
    for (char *p = line, *f; (f = strsep(&p, ","));) {
        if (*ncol == cap) names = realloc(names, sizeof(char *) * (size_t)(cap *= 2));
        f[strcspn(f, "\r")] = 0;
        names[(*ncol)++] = f;
    }
    return names;
}

/* the column of each field (-1: absent; a repeated name: the last) */
static int *bind_fields(char **names, int ncol, const csv_field *fields, int nf) {
    int *col = daoe_xmalloc(sizeof(int) * (size_t)nf);
    for (int i = 0; i < nf; i++) {
        col[i] = -1;
        for (int k = 0; k < ncol; k++)
            if (!strcmp(names[k], fields[i].name)) col[i] = k;
    }
    return col;
}

/* A CSV file with a header line into the fields' arrays; returns the number
 * of data rows, or -1 when the file is missing or empty. */
static int read_csv(const char *path, const csv_field *fields, int nf) {
    char err[512];
    size_t len;
    char *t = daoe_read_file(path, &len, err, sizeof err);
    if (!t) return -1;
    char *save = NULL, *line = strtok_r(t, "\n", &save);
    if (!line) {
        free(t);
        return -1;
    }
    int ncol, nrow = 0, cap = 64;
    char **names = split_header(line, &ncol);
    int *col = bind_fields(names, ncol, fields, nf);
    double *row = daoe_xmalloc(sizeof(double) * (size_t)ncol);
    for (int i = 0; i < nf; i++) *fields[i].dst = daoe_xmalloc(sizeof(double) * (size_t)cap);
    while ((line = strtok_r(NULL, "\n", &save))) {
        if (!line[0] || line[0] == '\r') continue;
        int k = 0;
        for (char *p = line, *f; (f = strsep(&p, ",")) && k < ncol; k++) {
            char *end;
            row[k] = strtod(f, &end);
            if (end == f) row[k] = NAN;
        }
        for (; k < ncol; k++) row[k] = NAN;
        if (nrow == cap) {
            cap *= 2;
            for (int i = 0; i < nf; i++) *fields[i].dst = realloc(*fields[i].dst, sizeof(double) * (size_t)cap);
        }
        for (int i = 0; i < nf; i++) (*fields[i].dst)[nrow] = col[i] >= 0 ? row[col[i]] : NAN;
        nrow++;
    }
    free(row);
    free(col);
    free(names);
    free(t);
    return nrow;
}

/* alpha_<member> and share_<member> for every member, in member order */
static int member_fields(csv_field *f, double **alpha, double **share) {
    static char names[2][DAOE_K][32];
    for (int m = 0; m < DAOE_K; m++) {
        snprintf(names[0][m], sizeof names[0][m], "alpha_%s", daoe_member_names[m]);
        snprintf(names[1][m], sizeof names[1][m], "share_%s", daoe_member_names[m]);
        f[m] = (csv_field){names[0][m], &alpha[m]};
        f[DAOE_K + m] = (csv_field){names[1][m], &share[m]};
    }
    return 2 * DAOE_K;
}

/* epochs.csv: the columns daoe-stats uses; returns whether it was read. An epoch's seconds
 * is the larger of `seconds` and `train_seconds`: trainers before 479fbd4 recorded in `seconds`
 * only the resumed part of an epoch stopped inside (`train_seconds` kept the whole), and in
 * summary.json's wall_seconds only the last resume's part; bench/family_time.py reads it alike. */
static int read_epochs(stats_run_t *r) {
    epochs_t *e = &r->ep;
    double *train_sec = NULL;
    csv_field f[5 + 2 * DAOE_K] = {{"test_acc", &e->test},
                                   {"val_acc", &e->val},
                                   {"train_loss", &e->loss},
                                   {"seconds", &e->sec},
                                   {"train_seconds", &train_sec}};
    int nf = 5 + member_fields(f + 5, e->alpha, e->share);
    char p[2300];
    snprintf(p, sizeof p, "%s/epochs.csv", r->dir);
    int n = read_csv(p, f, nf);
    e->n = n > 0 ? n : 0;
    for (int i = 0; i < e->n; i++)
        if (isfinite(train_sec[i]) && !(e->sec[i] >= train_sec[i])) e->sec[i] = train_sec[i];
    free(train_sec);
    return n >= 0;
}

/* alpha.csv: the step, the loss and the input batch's statistics, every member's alpha and
 * share; read once */
void load_trace(stats_run_t *r) {
    trace_t *t = &r->tr;
    if (t->loaded) return;
    t->loaded = 1;
    csv_field f[4 + 2 * DAOE_K] = {{"step", &t->step}, {"loss", &t->loss}, {"x_mean", &t->x_mean}, {"x_var", &t->x_var}};
    int nf = 4 + member_fields(f + 4, t->alpha, t->share);
    char p[2300];
    snprintf(p, sizeof p, "%s/alpha.csv", r->dir);
    int n = read_csv(p, f, nf);
    t->n = n > 0 ? n : 0;
}

/* ------------------------------------------------------------------ a run */
static int is_seed_suffix(const char *s) {
    if (s[0] != '-' || s[1] != 's' || !s[2]) return 0;
    for (s += 2; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static cJSON *run_file(const stats_run_t *r, const char *name) {
    char p[2300];
    snprintf(p, sizeof p, "%s/%s", r->dir, name);
    return tool_read_json(p, TOOL_JSON_WARN);
}

/* config.json: the setting, the machine, the software */
static int read_config(stats_run_t *r) {
    r->cfg = run_file(r, "config.json");
    if (!r->cfg) return -1;
    const cJSON *c = r->cfg;
    snprintf(r->optimizer, sizeof r->optimizer, "%s", jstr(c, "optimizer", "?"));
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(c, "seed");
    if (cJSON_IsNumber(sd)) snprintf(r->seed, sizeof r->seed, "%.0f", sd->valuedouble);
    r->epochs_planned = (int)jnum(c, "epochs");
    r->steps_per_epoch = (int)jnum(c, "steps_per_epoch");
    r->width = (int)jnum(c, "width");
    r->batch = (int)jnum(c, "batch");
    r->train_subset = (int)jnum(c, "train_subset");
    r->val = (int)jnum(c, "val");
    r->test_subset = (int)jnum(c, "test_subset");
    snprintf(r->backend, sizeof r->backend, "%s", jstr(c, "backend", "?"));
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "machine");
    snprintf(r->cpu, sizeof r->cpu, "%s", jstr(m, "cpu", ""));
    snprintf(r->device, sizeof r->device, "%s", jstr(m, "device", ""));
    r->cores = (int)jnum(m, "cores");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "versions");
    snprintf(r->software, sizeof r->software, "daoe %s (git %s), compiler %s, %s, cJSON %s, %s",
             jstr(v, "daoe", "?"), jstr(v, "git_commit", "?"), jstr(v, "compiler", "?"), jstr(v, "openblas", "BLAS ?"),
             jstr(v, "cjson", "?"), jstr(v, "openssl", "OpenSSL ?"));
    return 0;
}

/* the group: sweep_run.json's, else the folder name without "-s<seed>" */
static void read_group(stats_run_t *r, const char *name) {
    r->rec = run_file(r, "sweep_run.json");
    const char *g = jstr(r->rec, "group", NULL);
    if (g) {
        snprintf(r->group, sizeof r->group, "%s", g);
        snprintf(r->setting, sizeof r->setting, "%s", jstr(r->rec, "setting", ""));
        r->setting_args = cJSON_GetObjectItemCaseSensitive(r->rec, "setting_args");
        return;
    }
    snprintf(r->group, sizeof r->group, "%s", name);
    char *dash = strrchr(r->group, '-');
    if (dash && is_seed_suffix(dash)) *dash = 0;
    else snprintf(r->group, sizeof r->group, "%s", r->optimizer);
    size_t lo = strlen(r->optimizer);
    if (!strncmp(r->group, r->optimizer, lo) && r->group[lo] == '-')
        snprintf(r->setting, sizeof r->setting, "%s", r->group + lo + 1);
}

/* summary.json; returns whether there is one. The status is the run folder's
 * rule (daoe_run_probe), for results: finished or diverged when that end
 * checks out (committed results keep no weights), else incomplete. */
static int read_summary(stats_run_t *r) {
    cJSON *s = run_file(r, "summary.json");
    daoe_run_query q = {.planned_epochs = r->epochs_planned, .results_only = 1};
    daoe_run_info info;
    daoe_run_state st = daoe_run_probe(r->dir, &q, &info);
    int ended = st == DAOE_RUN_FINISHED || st == DAOE_RUN_DIVERGED;
    snprintf(r->status, sizeof r->status, "%s", ended ? daoe_run_state_names[st] : "incomplete");
    if (info.problem[0])
        fprintf(stderr, "daoe-stats: warning: %s: damaged: %s; counted as incomplete\n", r->dir, info.problem);
    r->test_acc = jnum(s, "final_test_acc");
    r->val_acc = jnum(s, "final_val_acc");
    r->best_val_acc = jnum(s, "best_val_acc");
    r->ips = jnum(s, "images_per_second");
    r->wall = jnum(s, "wall_seconds");
    r->diverged_at = jnum(s, "diverged_at_step");
    r->epochs_completed = s ? (int)jnum(s, "epochs_completed") : 0;
    const char *dev = jstr(s, "device", NULL);
    if (dev && dev[0]) snprintf(r->device, sizeof r->device, "%s", dev);
    int found = s != NULL;
    cJSON_Delete(s);
    return found;
}

static int load_run(const char *dir, const char *name, stats_run_t *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%.1500s/%.500s", dir, name);
    snprintf(r->id, sizeof r->id, "%s", name);
    if (read_config(r) != 0) return -1;
    read_group(r, name);
    int has_summary = read_summary(r);
    /* without a summary (killed early), the epochs written so far */
    if (read_epochs(r) && !has_summary) r->epochs_completed = r->ep.n;
    /* a wall time below its epochs' sum: a trainer before 479fbd4 that lost the stopped parts */
    double epochs_sec = 0;
    for (int i = 0; i < r->ep.n; i++) epochs_sec += isfinite(r->ep.sec[i]) ? r->ep.sec[i] : 0;
    if (isfinite(r->wall) && r->wall < epochs_sec) r->wall = epochs_sec;
    return 0;
}

/* ------------------------------------------------------------------ the folder */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every folder under dir with a config.json, in name order. */
static stats_run_t *load_runs(const char *dir, int *nruns) {
    DIR *d = opendir(dir);
    if (!d) tool_die("%s: cannot open: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[2300];
        snprintf(p, sizeof p, "%.1500s/%.500s/config.json", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (n == cap) names = realloc(names, sizeof(char *) * (size_t)(cap = cap ? 2 * cap : 64));
        names[n++] = daoe_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    stats_run_t *runs = daoe_xcalloc((size_t)(n ? n : 1), sizeof(stats_run_t));
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (load_run(dir, names[i], &runs[k]) == 0) k++;
        else fprintf(stderr, "daoe-stats: warning: %s/%s: unreadable config.json, skipped\n", dir, names[i]);
        free(names[i]);
    }
    free(names);
    *nruns = k;
    return runs;
}

/* the dir/twin/ JSON files of kind torch_train (bench/run_twin.py), in name order */
static void read_twin(study_t *S, const char *dir) {
    char p[2300];
    snprintf(p, sizeof p, "%.1500s/twin", dir);
    struct dirent **names = NULL;
    int n = scandir(p, &names, NULL, alphasort);
    twin_t *tw = &S->twin;
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        size_t len = strlen(nm);
        if (len > 5 && !strcmp(nm + len - 5, ".json") && tw->n < TWIN_MAX) {
            char f[2600];
            snprintf(f, sizeof f, "%s/%s", p, nm);
            cJSON *j = tool_read_json(f, TOOL_JSON_WARN);
            double acc = jnum(j, "final_test_acc");
            if (!strcmp(jstr(j, "kind", ""), "torch_train") && isfinite(acc)) {
                tw->acc[tw->n++] = acc;
                snprintf(tw->torch, sizeof tw->torch, "%s", jstr(j, "torch", "?"));
                snprintf(tw->device, sizeof tw->device, "%s", jstr(j, "device", "?"));
                snprintf(tw->lr, sizeof tw->lr, "%g", jnum(j, "lr"));
            } else if (j) {
                fprintf(stderr, "daoe-stats: warning: %s: not a finished torch_train result; left out\n", f);
            }
            cJSON_Delete(j);
        }
        free(names[i]);
    }
    free(names);
}

/* The runs under dir and its sweep.json (profile, kind, compare_to, target_acc, run order). */
void study_read(study_t *S, const char *dir) {
    memset(S, 0, sizeof *S);
    S->dir = dir;
    S->runs = load_runs(dir, &S->nruns);
    char p[2300];
    snprintf(p, sizeof p, "%.1500s/sweep.json", dir);
    S->sweep = tool_read_json(p, TOOL_JSON_WARN);
    /* a member shows in the tables and figures when some run has its columns
     * (a member added to the list later does not show in older results) */
    for (int i = 0; i < S->nruns; i++)
        for (int m = 0; m < DAOE_K; m++)
            for (int e = 0; e < S->runs[i].ep.n && !((S->members >> m) & 1u); e++)
                if (isfinite(S->runs[i].ep.alpha[m][e])) S->members |= 1u << m;
    read_twin(S, dir);
    S->kind = jstr(S->sweep, "kind", NULL);
    S->profile = jstr(S->sweep, "profile", NULL);
    if (!S->profile) {
        const char *slash = strrchr(dir, '/');
        S->profile = slash && slash[1] ? slash + 1 : dir;
    }
}
