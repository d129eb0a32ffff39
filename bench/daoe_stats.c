/* daoe-stats: statistics, tables and figure data from a results folder.
 *
 *   daoe-stats DIR                          DIR = results/<profile>
 *   daoe-stats --check NEW --reference REF  CI regression check
 *
 * Reads every run folder under DIR (config.json, summary.json, epochs.csv,
 * alpha.csv and sweep_run.json when daoe-sweep wrote one) and writes
 *   DIR/summary.json, summary.md, summary.tex   per group: n, mean, sd,
 *       95 % t confidence interval, min, max of final test accuracy, final
 *       validation accuracy, epochs and wall time to a target accuracy,
 *       throughput; Welch's t-test of the reference group (DAO-E, or the full
 *       DAO-E in an ablation) against every other group, Holm-corrected, with
 *       Hedges' g; diverged and unfinished runs counted and listed; the
 *       paper's 91.6 % as a separate, labelled row;
 *   DIR/plotdata/ (tsv files, meta.gp)          what the plots/ scripts draw;
 *   DIR/tuned.json                              for a tune sweep: the winners.
 *
 * A run's group is sweep_run.json's "group" (optimizer, or optimizer-setting),
 * else the folder name without its "-s<seed>" suffix. Accuracy statistics use
 * finished runs; diverged runs appear in their own columns and in the run list.
 * Everything is computed here from the raw files; nothing is typed by hand. */
#define _GNU_SOURCE
#include "daoe/util.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PAPER_ACC 0.916
#define PAPER_LABEL "DAO-E, paper (reported)"
#define PAPER_SETTING "CIFAR-10, ResNet-18, batch 128, 100 epochs; no seeds or spread reported"
#define MAXK 4
static const char *MEMBERS[MAXK] = {"sgd", "adam", "rmsprop", "lion"};
static const char *OPT_ORDER[] = {"sgd", "adam", "adamw", "rmsprop", "lion", "daoe", NULL};

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "daoe-stats: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* ------------------------------------------------------------------ reading */
typedef struct {
    int n;            /* rows */
    double *test, *val, *loss, *sec;
    double *alpha[MAXK], *share[MAXK];
} epochs_t;

typedef struct {
    int n, ncol;
    double *step, *alpha[MAXK], *share[MAXK];
} trace_t;

typedef struct {
    char id[256], group[256], optimizer[32], setting[128], dir[2048];
    char status[16];             /* finished, diverged, incomplete */
    char seed[32];
    double test_acc, val_acc, best_val_acc, ips, wall, train_seconds, diverged_at;
    int epochs_planned, epochs_completed, steps_per_epoch;
    int width, batch, train_subset, val, test_subset;
    char backend[16], device[256], cpu[256], host[128], software[600];
    int cores;
    double members[MAXK];        /* 1 if member present */
    double ep_target, sec_target;/* NAN if not reached */
    epochs_t ep;
    trace_t tr;
    cJSON *setting_args;         /* from sweep_run.json (owned by rec) */
    cJSON *rec, *cfg;
} run_t;

static cJSON *read_json(const char *path) {
    char err[1024];
    size_t len;
    char *txt = daoe_read_file(path, &len, err, sizeof err);
    if (!txt) return NULL;
    cJSON *j = cJSON_ParseWithLength(txt, len);
    if (!j) fprintf(stderr, "daoe-stats: warning: %s: not valid JSON, ignored\n", path);
    free(txt);
    return j;
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}
static const char *jstr(const cJSON *o, const char *k, const char *def) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsString(v) ? v->valuestring : def;
}

/* A CSV with a header line; returns column arrays by name. */
typedef struct {
    int nrow, ncol;
    char **names;
    double *v; /* [nrow][ncol] */
} csv_t;

static int read_csv(const char *path, csv_t *c) {
    memset(c, 0, sizeof *c);
    char err[512];
    size_t len;
    char *t = daoe_read_file(path, &len, err, sizeof err);
    if (!t) return -1;
    char *save = NULL, *line = strtok_r(t, "\n", &save);
    if (!line) {
        free(t);
        return -1;
    }
    int cap = 8;
    c->names = daoe_xmalloc(sizeof(char *) * (size_t)cap);
    for (char *p = line, *f; (f = strsep(&p, ","));) {
        if (c->ncol == cap) c->names = realloc(c->names, sizeof(char *) * (size_t)(cap *= 2));
        f[strcspn(f, "\r")] = 0;
        c->names[c->ncol++] = daoe_xstrdup(f);
    }
    int rcap = 64;
    c->v = daoe_xmalloc(sizeof(double) * (size_t)rcap * (size_t)c->ncol);
    while ((line = strtok_r(NULL, "\n", &save))) {
        if (!line[0] || line[0] == '\r') continue;
        if (c->nrow == rcap) c->v = realloc(c->v, sizeof(double) * (size_t)(rcap *= 2) * (size_t)c->ncol);
        double *row = c->v + (size_t)c->nrow * c->ncol;
        int k = 0;
        for (char *p = line, *f; (f = strsep(&p, ",")) && k < c->ncol; k++) {
            char *end;
            row[k] = strtod(f, &end);
            if (end == f) row[k] = NAN;
        }
        for (; k < c->ncol; k++) row[k] = NAN;
        c->nrow++;
    }
    free(t);
    return 0;
}

static double *csv_col(const csv_t *c, const char *name) {
    int k = -1;
    for (int i = 0; i < c->ncol; i++)
        if (!strcmp(c->names[i], name)) k = i;
    double *out = daoe_xmalloc(sizeof(double) * (size_t)(c->nrow ? c->nrow : 1));
    for (int r = 0; r < c->nrow; r++) out[r] = k >= 0 ? c->v[(size_t)r * c->ncol + k] : NAN;
    return out;
}

static void csv_free(csv_t *c) {
    for (int i = 0; i < c->ncol; i++) free(c->names[i]);
    free(c->names);
    free(c->v);
}

static int is_seed_suffix(const char *s) {
    if (s[0] != '-' || s[1] != 's' || !s[2]) return 0;
    for (s += 2; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static int load_run(const char *dir, const char *name, run_t *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%.1500s/%.500s", dir, name);
    snprintf(r->id, sizeof r->id, "%s", name);
    char p[2300];
    snprintf(p, sizeof p, "%s/config.json", r->dir);
    r->cfg = read_json(p);
    if (!r->cfg) return -1;
    snprintf(r->optimizer, sizeof r->optimizer, "%s", jstr(r->cfg, "optimizer", "?"));
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(r->cfg, "seed");
    if (cJSON_IsNumber(sd)) snprintf(r->seed, sizeof r->seed, "%.0f", sd->valuedouble);
    r->epochs_planned = (int)jnum(r->cfg, "epochs");
    r->steps_per_epoch = (int)jnum(r->cfg, "steps_per_epoch");
    r->width = (int)jnum(r->cfg, "width");
    r->batch = (int)jnum(r->cfg, "batch");
    r->train_subset = (int)jnum(r->cfg, "train_subset");
    r->val = (int)jnum(r->cfg, "val");
    r->test_subset = (int)jnum(r->cfg, "test_subset");
    snprintf(r->backend, sizeof r->backend, "%s", jstr(r->cfg, "backend", "?"));
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->cfg, "machine");
    snprintf(r->cpu, sizeof r->cpu, "%s", jstr(m, "cpu", ""));
    snprintf(r->host, sizeof r->host, "%s", jstr(m, "hostname", ""));
    snprintf(r->device, sizeof r->device, "%s", jstr(m, "device", ""));
    r->cores = (int)jnum(m, "cores");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->cfg, "versions");
    snprintf(r->software, sizeof r->software, "daoe %s (git %s), compiler %s, %s, cJSON %s, %s",
             jstr(v, "daoe", "?"), jstr(v, "git_commit", "?"), jstr(v, "compiler", "?"), jstr(v, "openblas", "BLAS ?"),
             jstr(v, "cjson", "?"), jstr(v, "openssl", "OpenSSL ?"));
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(r->cfg, "members");
    for (const cJSON *e = mem ? mem->child : NULL; e; e = e->next)
        for (int k = 0; k < MAXK; k++)
            if (cJSON_IsString(e) && !strcmp(e->valuestring, MEMBERS[k])) r->members[k] = 1;

    /* group */
    snprintf(p, sizeof p, "%s/sweep_run.json", r->dir);
    r->rec = read_json(p);
    const char *g = jstr(r->rec, "group", NULL);
    if (g) {
        snprintf(r->group, sizeof r->group, "%s", g);
        snprintf(r->setting, sizeof r->setting, "%s", jstr(r->rec, "setting", ""));
        r->setting_args = cJSON_GetObjectItemCaseSensitive(r->rec, "setting_args");
    } else {
        snprintf(r->group, sizeof r->group, "%s", name);
        char *dash = strrchr(r->group, '-');
        if (dash && is_seed_suffix(dash)) *dash = 0;
        else snprintf(r->group, sizeof r->group, "%s", r->optimizer);
        size_t lo = strlen(r->optimizer);
        if (!strncmp(r->group, r->optimizer, lo) && r->group[lo] == '-')
            snprintf(r->setting, sizeof r->setting, "%s", r->group + lo + 1);
    }

    /* summary */
    snprintf(p, sizeof p, "%s/summary.json", r->dir);
    cJSON *s = read_json(p);
    const char *st = jstr(s, "status", NULL);
    if (st && (!strcmp(st, "finished") || !strcmp(st, "diverged"))) snprintf(r->status, sizeof r->status, "%s", st);
    else snprintf(r->status, sizeof r->status, "incomplete");
    r->test_acc = jnum(s, "final_test_acc");
    r->val_acc = jnum(s, "final_val_acc");
    r->best_val_acc = jnum(s, "best_val_acc");
    r->ips = jnum(s, "images_per_second");
    r->wall = jnum(s, "wall_seconds");
    r->train_seconds = jnum(s, "train_seconds");
    r->diverged_at = jnum(s, "diverged_at_step");
    r->epochs_completed = s ? (int)jnum(s, "epochs_completed") : 0;
    const char *dev = jstr(s, "device", NULL);
    if (dev && dev[0]) snprintf(r->device, sizeof r->device, "%s", dev);
    cJSON_Delete(s);

    /* per epoch */
    csv_t c;
    snprintf(p, sizeof p, "%s/epochs.csv", r->dir);
    if (read_csv(p, &c) == 0) {
        r->ep.n = c.nrow;
        r->ep.test = csv_col(&c, "test_acc");
        r->ep.val = csv_col(&c, "val_acc");
        r->ep.loss = csv_col(&c, "train_loss");
        r->ep.sec = csv_col(&c, "seconds");
        for (int k = 0; k < MAXK; k++) {
            char n[32];
            snprintf(n, sizeof n, "alpha_%s", MEMBERS[k]);
            r->ep.alpha[k] = csv_col(&c, n);
            snprintf(n, sizeof n, "share_%s", MEMBERS[k]);
            r->ep.share[k] = csv_col(&c, n);
        }
        csv_free(&c);
        if (!s) r->epochs_completed = r->ep.n;
    }
    return 0;
}

static void load_trace(run_t *r) {
    csv_t c;
    char p[2300];
    snprintf(p, sizeof p, "%s/alpha.csv", r->dir);
    if (read_csv(p, &c) != 0) return;
    r->tr.n = c.nrow;
    r->tr.step = csv_col(&c, "step");
    for (int k = 0; k < MAXK; k++) {
        char n[32];
        snprintf(n, sizeof n, "alpha_%s", MEMBERS[k]);
        r->tr.alpha[k] = csv_col(&c, n);
        snprintf(n, sizeof n, "share_%s", MEMBERS[k]);
        r->tr.share[k] = csv_col(&c, n);
    }
    csv_free(&c);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every folder under dir with a config.json, in name order. */
static run_t *load_runs(const char *dir, int *nruns) {
    DIR *d = opendir(dir);
    if (!d) die("%s: cannot open: %s", dir, strerror(errno));
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
    run_t *runs = daoe_xcalloc((size_t)(n ? n : 1), sizeof(run_t));
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

/* ------------------------------------------------------------------ statistics */
typedef struct {
    int n;
    double mean, sd, lo, hi, min, max;
} desc_t;

/* two-sided 95 % t interval of the mean; sd with n-1 */
static desc_t describe(const double *x, int n) {
    desc_t d = {n, NAN, NAN, NAN, NAN, NAN, NAN};
    if (n <= 0) return d;
    double s = 0, mn = x[0], mx = x[0];
    for (int i = 0; i < n; i++) {
        s += x[i];
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    d.mean = s / n;
    d.min = mn;
    d.max = mx;
    if (n >= 2) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (x[i] - d.mean) * (x[i] - d.mean);
        d.sd = sqrt(ss / (n - 1));
        double h = gsl_cdf_tdist_Pinv(0.975, n - 1) * d.sd / sqrt(n);
        d.lo = d.mean - h;
        d.hi = d.mean + h;
    }
    return d;
}

typedef struct {
    char a[256], b[256];
    int na, nb;
    double diff, lo, hi, t, df, p, p_holm, g;
} welch_t;

static welch_t welch(const char *a, const desc_t *A, const char *b, const desc_t *B) {
    welch_t w;
    memset(&w, 0, sizeof w);
    snprintf(w.a, sizeof w.a, "%s", a);
    snprintf(w.b, sizeof w.b, "%s", b);
    w.na = A->n;
    w.nb = B->n;
    w.diff = A->mean - B->mean;
    w.lo = w.hi = w.t = w.df = w.p = w.p_holm = w.g = NAN;
    if (A->n < 2 || B->n < 2) return w;
    double va = A->sd * A->sd / A->n, vb = B->sd * B->sd / B->n, se = sqrt(va + vb);
    /* Hedges' g: pooled-SD standardised difference, small-sample factor J */
    double sp = sqrt(((A->n - 1) * A->sd * A->sd + (B->n - 1) * B->sd * B->sd) / (A->n + B->n - 2));
    double J = 1.0 - 3.0 / (4.0 * (A->n + B->n) - 9.0);
    if (sp > 0) w.g = J * w.diff / sp;
    if (!(se > 0)) return w;
    w.t = w.diff / se;
    w.df = (va + vb) * (va + vb) / (va * va / (A->n - 1) + vb * vb / (B->n - 1));
    w.p = 2.0 * gsl_cdf_tdist_Q(fabs(w.t), w.df);
    if (w.p > 1) w.p = 1;
    double h = gsl_cdf_tdist_Pinv(0.975, w.df) * se;
    w.lo = w.diff - h;
    w.hi = w.diff + h;
    return w;
}

/* Holm step-down over the comparisons with a defined p */
static void holm(welch_t *w, int n) {
    int *idx = daoe_xmalloc(sizeof(int) * (size_t)(n ? n : 1)), m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(w[i].p)) idx[m++] = i;
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && w[idx[j]].p < w[idx[j - 1]].p; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    double run = 0;
    for (int k = 0; k < m; k++) {
        double adj = (m - k) * w[idx[k]].p;
        if (adj > 1) adj = 1;
        if (adj < run) adj = run;
        run = adj;
        w[idx[k]].p_holm = adj;
    }
    free(idx);
}

/* ------------------------------------------------------------------ groups */
typedef struct {
    char name[256], optimizer[32], setting[128];
    int *idx, nruns, nfin, ndiv, ninc, order;
    int *fin;                       /* indices of finished runs */
    desc_t test, val, best_val, ep_target, sec_target, ips, wall;
    cJSON *setting_args;
} group_t;

static int opt_rank(const char *o) {
    for (int i = 0; OPT_ORDER[i]; i++)
        if (!strcmp(o, OPT_ORDER[i])) return i;
    return 99;
}

typedef struct {
    const char *dir;
    run_t *runs;
    int nruns;
    group_t *g;
    int ng;
    cJSON *sweep;                   /* DIR/sweep.json, may be NULL */
    const char *kind, *compare_to, *profile;
    double target;
    char target_rule[256];
    welch_t *w;
    int nw;
} study_t;

static int sweep_order(const study_t *S, const char *group) {
    const cJSON *runs = S->sweep ? cJSON_GetObjectItemCaseSensitive(S->sweep, "runs") : NULL;
    int i = 0;
    for (const cJSON *e = runs ? runs->child : NULL; e; e = e->next, i++)
        if (!strcmp(jstr(e, "group", ""), group)) return i;
    return 1 << 20;
}

static const study_t *g_sort_study;
static int cmp_group(const void *a, const void *b) {
    const group_t *x = a, *y = b;
    int rx = opt_rank(x->optimizer), ry = opt_rank(y->optimizer);
    if (rx != ry) return rx - ry;
    int ox = sweep_order(g_sort_study, x->name), oy = sweep_order(g_sort_study, y->name);
    if (ox != oy) return ox - oy;
    return strcmp(x->name, y->name);
}

static void build_groups(study_t *S) {
    S->g = daoe_xcalloc((size_t)(S->nruns ? S->nruns : 1), sizeof(group_t));
    S->ng = 0;
    for (int i = 0; i < S->nruns; i++) {
        run_t *r = &S->runs[i];
        int k = 0;
        while (k < S->ng && strcmp(S->g[k].name, r->group)) k++;
        group_t *g = &S->g[k];
        if (k == S->ng) {
            S->ng++;
            snprintf(g->name, sizeof g->name, "%s", r->group);
            snprintf(g->optimizer, sizeof g->optimizer, "%s", r->optimizer);
            snprintf(g->setting, sizeof g->setting, "%s", r->setting);
            g->idx = daoe_xmalloc(sizeof(int) * (size_t)S->nruns);
            g->fin = daoe_xmalloc(sizeof(int) * (size_t)S->nruns);
            g->setting_args = r->setting_args;
        }
        g->idx[g->nruns++] = i;
        if (!strcmp(r->status, "finished")) g->fin[g->nfin++] = i;
        else if (!strcmp(r->status, "diverged")) g->ndiv++;
        else g->ninc++;
    }
    g_sort_study = S;
    qsort(S->g, (size_t)S->ng, sizeof(group_t), cmp_group);
}

static void run_targets(study_t *S) {
    for (int i = 0; i < S->nruns; i++) {
        run_t *r = &S->runs[i];
        r->ep_target = r->sec_target = NAN;
        double cum = 0;
        for (int e = 0; e < r->ep.n; e++) {
            cum += isfinite(r->ep.sec[e]) ? r->ep.sec[e] : 0;
            if (r->ep.test[e] >= S->target) {
                r->ep_target = e + 1;
                r->sec_target = cum;
                break;
            }
        }
    }
}

static desc_t describe_field(const study_t *S, const group_t *g, size_t off, int skip_nan) {
    double *x = daoe_xmalloc(sizeof(double) * (size_t)(g->nfin ? g->nfin : 1));
    int n = 0;
    for (int i = 0; i < g->nfin; i++) {
        double v = *(const double *)((const char *)&S->runs[g->fin[i]] + off);
        if (skip_nan && !isfinite(v)) continue;
        x[n++] = v;
    }
    desc_t d = describe(x, n);
    free(x);
    return d;
}

static void compute(study_t *S) {
    for (int k = 0; k < S->ng; k++) {
        group_t *g = &S->g[k];
        g->test = describe_field(S, g, offsetof(run_t, test_acc), 1);
        g->val = describe_field(S, g, offsetof(run_t, val_acc), 1);
        g->best_val = describe_field(S, g, offsetof(run_t, best_val_acc), 1);
        g->ips = describe_field(S, g, offsetof(run_t, ips), 1);
        g->wall = describe_field(S, g, offsetof(run_t, wall), 1);
    }
    /* target accuracy: given, or 90 % of the weakest group's mean, floored to a whole percent */
    if (!isfinite(S->target)) {
        double lo = INFINITY;
        for (int k = 0; k < S->ng; k++)
            if (isfinite(S->g[k].test.mean) && S->g[k].test.mean < lo) lo = S->g[k].test.mean;
        S->target = isfinite(lo) ? floor(0.9 * lo * 100.0) / 100.0 : 0.5;
        snprintf(S->target_rule, sizeof S->target_rule,
                 "90 %% of the lowest group mean final test accuracy, floored to a whole percent");
    }
    run_targets(S);
    for (int k = 0; k < S->ng; k++) {
        group_t *g = &S->g[k];
        g->ep_target = describe_field(S, g, offsetof(run_t, ep_target), 1);
        g->sec_target = describe_field(S, g, offsetof(run_t, sec_target), 1);
    }
    /* comparisons on final test accuracy */
    S->w = daoe_xcalloc((size_t)(S->ng ? S->ng : 1), sizeof(welch_t));
    S->nw = 0;
    const group_t *ref = NULL;
    for (int k = 0; k < S->ng; k++)
        if (S->compare_to && !strcmp(S->g[k].name, S->compare_to)) ref = &S->g[k];
    if (!ref || !strcmp(S->kind, "tune")) return;
    int ablation = !strcmp(S->kind, "ablation");
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        if (g == ref) continue;
        /* DAO-E minus baseline; in an ablation, variant minus full */
        S->w[S->nw++] = ablation ? welch(g->name, &g->test, ref->name, &ref->test)
                                 : welch(ref->name, &ref->test, g->name, &g->test);
    }
    holm(S->w, S->nw);
}

/* ------------------------------------------------------------------ JSON */
static void jput(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static cJSON *desc_json(const desc_t *d) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", d->n);
    jput(o, "mean", d->mean);
    jput(o, "sd", d->sd);
    cJSON *ci = cJSON_AddArrayToObject(o, "ci95");
    cJSON_AddItemToArray(ci, isfinite(d->lo) ? cJSON_CreateNumber(d->lo) : cJSON_CreateNull());
    cJSON_AddItemToArray(ci, isfinite(d->hi) ? cJSON_CreateNumber(d->hi) : cJSON_CreateNull());
    jput(o, "min", d->min);
    jput(o, "max", d->max);
    return o;
}

static int paper_comparable(const study_t *S) {
    if (S->nruns == 0) return 0;
    for (int i = 0; i < S->nruns; i++) {
        const run_t *r = &S->runs[i];
        if (r->width != 64 || r->epochs_planned != 100 || r->batch != 128 || r->train_subset != 0 ||
            r->test_subset != 0)
            return 0;
    }
    return 1;
}

/* the setting every run shares, in words */
static void setting_words(const study_t *S, char *buf, size_t n) {
    if (!S->nruns) {
        snprintf(buf, n, "no runs");
        return;
    }
    const run_t *r = &S->runs[0];
    int same = 1;
    for (int i = 1; i < S->nruns; i++) {
        const run_t *q = &S->runs[i];
        same &= q->width == r->width && q->epochs_planned == r->epochs_planned && q->batch == r->batch &&
                q->train_subset == r->train_subset && q->val == r->val && q->test_subset == r->test_subset &&
                !strcmp(q->backend, r->backend);
    }
    char tr[64], te[64];
    if (r->train_subset) snprintf(tr, sizeof tr, "the first %d training images", r->train_subset);
    else snprintf(tr, sizeof tr, "%d training images", 50000 - r->val);
    if (r->test_subset) snprintf(te, sizeof te, "the first %d test images", r->test_subset);
    else snprintf(te, sizeof te, "all 10000 test images");
    snprintf(buf, n, "ResNet-18 width %d, %d epochs, batch %d, %s, %d validation images, %s; backend %s on %s (%d cores)%s",
             r->width, r->epochs_planned, r->batch, tr, r->val, te, r->backend, r->cpu[0] ? r->cpu : "cpu ?", r->cores,
             same ? "" : "; NOTE: the runs do not all share these settings");
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[2300], err[1024];
    snprintf(p, sizeof p, "%.1500s/%s", dir, name);
    if (daoe_write_file_atomic(p, text, strlen(text), err, sizeof err) != 0) die("%s", err);
}

static cJSON *summary_json(const study_t *S) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "generated_by", "daoe-stats " DAOE_VERSION);
    cJSON_AddStringToObject(o, "dir", S->dir);
    if (S->profile) cJSON_AddStringToObject(o, "profile", S->profile);
    cJSON_AddStringToObject(o, "kind", S->kind);
    char sw[1024];
    setting_words(S, sw, sizeof sw);
    cJSON_AddStringToObject(o, "setting", sw);
    if (S->nruns) cJSON_AddStringToObject(o, "software", S->runs[0].software);
    if (S->nruns) cJSON_AddStringToObject(o, "device", S->runs[0].device);
    cJSON_AddStringToObject(o, "accuracy_unit", "fraction");
    cJSON_AddStringToObject(o, "statistics",
                            "finished runs only; sd with n-1; ci95 = mean +- t(0.975, n-1) sd/sqrt(n); "
                            "Welch's t-test (Welch-Satterthwaite df), two-sided, Holm-corrected over the comparisons; "
                            "Hedges' g = J (mean_a - mean_b) / s_pooled, J = 1 - 3/(4(n_a+n_b)-9)");
    jput(o, "target_acc", S->target);
    if (S->target_rule[0]) cJSON_AddStringToObject(o, "target_rule", S->target_rule);
    if (S->compare_to) cJSON_AddStringToObject(o, "compare_to", S->compare_to);
    cJSON *gs = cJSON_AddArrayToObject(o, "groups");
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "group", g->name);
        cJSON_AddStringToObject(j, "optimizer", g->optimizer);
        cJSON_AddStringToObject(j, "setting", g->setting);
        cJSON_AddNumberToObject(j, "runs", g->nruns);
        cJSON_AddNumberToObject(j, "finished", g->nfin);
        cJSON_AddNumberToObject(j, "diverged", g->ndiv);
        cJSON_AddNumberToObject(j, "incomplete", g->ninc);
        cJSON_AddItemToObject(j, "final_test_acc", desc_json(&g->test));
        cJSON_AddItemToObject(j, "final_val_acc", desc_json(&g->val));
        cJSON_AddItemToObject(j, "best_val_acc", desc_json(&g->best_val));
        cJSON_AddItemToObject(j, "epochs_to_target", desc_json(&g->ep_target));
        cJSON_AddItemToObject(j, "wall_seconds_to_target", desc_json(&g->sec_target));
        cJSON_AddItemToObject(j, "images_per_second", desc_json(&g->ips));
        cJSON_AddItemToObject(j, "wall_seconds", desc_json(&g->wall));
        cJSON *rl = cJSON_AddArrayToObject(j, "run_list");
        for (int i = 0; i < g->nruns; i++) {
            const run_t *r = &S->runs[g->idx[i]];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "id", r->id);
            cJSON_AddRawToObject(x, "seed", r->seed[0] ? r->seed : "null");
            cJSON_AddStringToObject(x, "status", r->status);
            jput(x, "final_test_acc", r->test_acc);
            jput(x, "final_val_acc", r->val_acc);
            cJSON_AddNumberToObject(x, "epochs_completed", r->epochs_completed);
            jput(x, "epochs_to_target", r->ep_target);
            jput(x, "wall_seconds_to_target", r->sec_target);
            jput(x, "images_per_second", r->ips);
            jput(x, "wall_seconds", r->wall);
            if (isfinite(r->diverged_at)) cJSON_AddNumberToObject(x, "diverged_at_step", r->diverged_at);
            cJSON_AddItemToArray(rl, x);
        }
        cJSON_AddItemToArray(gs, j);
    }
    cJSON *cs = cJSON_AddArrayToObject(o, "comparisons");
    for (int i = 0; i < S->nw; i++) {
        const welch_t *w = &S->w[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "a", w->a);
        cJSON_AddStringToObject(j, "b", w->b);
        cJSON_AddStringToObject(j, "metric", "final_test_acc");
        cJSON_AddNumberToObject(j, "n_a", w->na);
        cJSON_AddNumberToObject(j, "n_b", w->nb);
        jput(j, "diff", w->diff);
        cJSON *ci = cJSON_AddArrayToObject(j, "diff_ci95");
        cJSON_AddItemToArray(ci, isfinite(w->lo) ? cJSON_CreateNumber(w->lo) : cJSON_CreateNull());
        cJSON_AddItemToArray(ci, isfinite(w->hi) ? cJSON_CreateNumber(w->hi) : cJSON_CreateNull());
        jput(j, "t", w->t);
        jput(j, "df", w->df);
        jput(j, "p", w->p);
        jput(j, "p_holm", w->p_holm);
        jput(j, "hedges_g", w->g);
        cJSON_AddItemToArray(cs, j);
    }
    cJSON *pr = cJSON_AddObjectToObject(o, "paper_reference");
    cJSON_AddStringToObject(pr, "label", PAPER_LABEL);
    cJSON_AddStringToObject(pr, "optimizer", "daoe");
    cJSON_AddNumberToObject(pr, "final_test_acc", PAPER_ACC);
    cJSON_AddStringToObject(pr, "setting", PAPER_SETTING);
    cJSON_AddBoolToObject(pr, "comparable_with_these_runs", paper_comparable(S));
    return o;
}

/* ------------------------------------------------------------------ tables */
static void pct(daoe_strbuf *b, double v, int dec) {
    if (isfinite(v)) daoe_sb_printf(b, "%.*f", dec, 100.0 * v);
    else daoe_sb_printf(b, "–");
}
static void num(daoe_strbuf *b, double v, int dec) {
    if (isfinite(v)) daoe_sb_printf(b, "%.*f", dec, v);
    else daoe_sb_printf(b, "–");
}
static void pval(daoe_strbuf *b, double p) {
    if (!isfinite(p)) daoe_sb_printf(b, "–");
    else if (p < 1e-4) daoe_sb_printf(b, "%.1e", p);
    else daoe_sb_printf(b, "%.4f", p);
}

static const char *label(const char *g) {
    static char buf[8][300];
    static int k = 0;
    k = (k + 1) % 8;
    static const char *names[][2] = {{"daoe", "DAO-E"}, {"sgd", "SGD"}, {"adam", "Adam"}, {"adamw", "AdamW"},
                                     {"rmsprop", "RMSProp"}, {"lion", "Lion"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(g, names[i][0])) return names[i][1];
    snprintf(buf[k], sizeof buf[k], "%s", g);
    return buf[k];
}

/* scale: 100 for accuracies (percent), 1 otherwise */
static void md_desc_table(daoe_strbuf *b, const study_t *S, const char *title, size_t off, double scale, int dec,
                          int counts, int paper_row) {
    daoe_sb_printf(b, "\n### %s\n\n", title);
    if (counts) daoe_sb_printf(b, "| group | runs | finished | diverged | incomplete | n | mean | sd | 95 %% CI | min | max |\n|---|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|\n");
    else daoe_sb_printf(b, "| group | n | mean | sd | 95 %% CI | min | max |\n|---|--:|--:|--:|---|--:|--:|\n");
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        const desc_t *d = (const desc_t *)((const char *)g + off);
        daoe_sb_printf(b, "| %s |", label(g->name));
        if (counts) daoe_sb_printf(b, " %d | %d | %d | %d |", g->nruns, g->nfin, g->ndiv, g->ninc);
        daoe_sb_printf(b, " %d | ", d->n);
        num(b, d->mean * scale, dec);
        daoe_sb_printf(b, " | ");
        num(b, d->sd * scale, dec);
        daoe_sb_printf(b, " | ");
        if (isfinite(d->lo)) {
            daoe_sb_printf(b, "[");
            num(b, d->lo * scale, dec);
            daoe_sb_printf(b, ", ");
            num(b, d->hi * scale, dec);
            daoe_sb_printf(b, "]");
        } else daoe_sb_printf(b, "–");
        daoe_sb_printf(b, " | ");
        num(b, d->min * scale, dec);
        daoe_sb_printf(b, " | ");
        num(b, d->max * scale, dec);
        daoe_sb_printf(b, " |\n");
    }
    if (paper_row) {
        daoe_sb_printf(b, "| *%s* |%s – | ", PAPER_LABEL, counts ? " – | – | – | – |" : "");
        pct(b, PAPER_ACC, dec);
        daoe_sb_printf(b, " | – | – | – | – |\n");
    }
}

/* tune: the eligible grid point of an optimizer with the highest mean validation accuracy
 * (first in grid order on ties); NULL when every point diverged or none finished */
static const group_t *tune_winner(const study_t *S, const char *opt, int use_best) {
    const group_t *best = NULL;
    for (int q = 0; q < S->ng; q++) {
        const group_t *h = &S->g[q];
        const desc_t *d = use_best ? &h->best_val : &h->val;
        if (strcmp(h->optimizer, opt) || h->ndiv || !d->n || !isfinite(d->mean)) continue;
        const desc_t *bd = best ? (use_best ? &best->best_val : &best->val) : NULL;
        if (!best || d->mean > bd->mean) best = h;
    }
    return best;
}

static const char *select_on(const study_t *S) {
    const cJSON *rp = S->sweep ? cJSON_GetObjectItemCaseSensitive(S->sweep, "resolved_profile") : NULL;
    return jstr(rp, "select_on", "final_val_acc");
}

static char *summary_md(const study_t *S) {
    daoe_strbuf b = {0};
    char sw[1024];
    setting_words(S, sw, sizeof sw);
    int tune = !strcmp(S->kind, "tune");
    daoe_sb_printf(&b, "## Results: %s (%s)\n\n", S->profile ? S->profile : S->dir, S->kind);
    daoe_sb_printf(&b, "Generated by `daoe-stats %s` from %d run folders; do not edit by hand.  \n", S->dir, S->nruns);
    daoe_sb_printf(&b, "Setting: %s.  \n", sw);
    if (S->nruns) {
        int same = 1;
        for (int i = 1; i < S->nruns; i++) same &= !strcmp(S->runs[i].software, S->runs[0].software);
        daoe_sb_printf(&b, "Software: %s%s.  \n", S->runs[0].software, same ? "" : " (NOTE: not every run used this build)");
        if (S->runs[0].device[0]) daoe_sb_printf(&b, "Device: %s.  \n", S->runs[0].device);
    }
    {
        double tot = 0;
        int n = 0;
        for (int i = 0; i < S->nruns; i++)
            if (isfinite(S->runs[i].wall)) tot += S->runs[i].wall, n++;
        if (n)
            daoe_sb_printf(&b, "Run time: %.1f min in all (the sum of %d runs' wall times, %.1f s per run on average; "
                               "runs that ran side by side overlap).  \n", tot / 60, n, tot / n);
    }
    daoe_sb_printf(&b, "Statistics over seeds, finished runs only (diverged and unfinished runs are counted in "
                       "their own columns and listed below): mean, sample sd, 95 %% CI = mean ± t(0.975, n−1)·sd/√n. "
                       "Accuracies in %%.\n");
    if (!tune) {
        md_desc_table(&b, S, "Final test accuracy (%)", offsetof(group_t, test), 100, 2, 1, 1);
        int cmp = paper_comparable(S);
        daoe_sb_printf(&b, "\nThe last row is the paper's reported DAO-E accuracy (%s), not a run of this suite; %s\n",
                       PAPER_SETTING,
                       cmp ? "these runs use the paper's setting (with a 5,000-image validation split held out)."
                           : "these runs use a smaller setting, so it is NOT comparable with them.");
    }
    md_desc_table(&b, S, "Final validation accuracy (%)", offsetof(group_t, val), 100, 2, tune, 0);
    if (!tune) {
        char t[128];
        snprintf(t, sizeof t, "Epochs to %.0f %% test accuracy", 100 * S->target);
        md_desc_table(&b, S, t, offsetof(group_t, ep_target), 1, 1, 0, 0);
        snprintf(t, sizeof t, "Wall time (s, training and evaluation) to %.0f %% test accuracy", 100 * S->target);
        md_desc_table(&b, S, t, offsetof(group_t, sec_target), 1, 1, 0, 0);
        daoe_sb_printf(&b, "\nn counts the finished runs that reached %.0f %% (%s); runs that never did are left out "
                           "of these two tables.\n",
                       100 * S->target, S->target_rule[0] ? S->target_rule : "the profile's target_acc");
        md_desc_table(&b, S, "Training throughput (images/s)", offsetof(group_t, ips), 1, 1, 0, 0);
    }
    if (S->nw) {
        int abl = !strcmp(S->kind, "ablation");
        daoe_sb_printf(&b, "\n### %s (final test accuracy)\n\n", abl ? "Each variant against the full DAO-E" : "DAO-E against each baseline");
        daoe_sb_printf(&b, "| comparison | n | difference (points) | 95 %% CI | t | df | p | p (Holm) | Hedges' g |\n"
                           "|---|---|--:|---|--:|--:|--:|--:|--:|\n");
        for (int i = 0; i < S->nw; i++) {
            const welch_t *w = &S->w[i];
            daoe_sb_printf(&b, "| %s − %s | %d, %d | ", label(w->a), label(w->b), w->na, w->nb);
            if (isfinite(w->diff)) daoe_sb_printf(&b, "%+.2f", 100 * w->diff);
            else daoe_sb_printf(&b, "–");
            daoe_sb_printf(&b, " | ");
            if (isfinite(w->lo)) daoe_sb_printf(&b, "[%+.2f, %+.2f]", 100 * w->lo, 100 * w->hi);
            else daoe_sb_printf(&b, "–");
            daoe_sb_printf(&b, " | ");
            num(&b, w->t, 2);
            daoe_sb_printf(&b, " | ");
            num(&b, w->df, 1);
            daoe_sb_printf(&b, " | ");
            pval(&b, w->p);
            daoe_sb_printf(&b, " | ");
            pval(&b, w->p_holm);
            daoe_sb_printf(&b, " | ");
            num(&b, w->g, 2);
            daoe_sb_printf(&b, " |\n");
        }
        daoe_sb_printf(&b, "\nWelch's t-test (unequal variances, Welch–Satterthwaite df), two-sided; p-values "
                           "Holm-corrected over the %d comparisons; Hedges' g = J·(mean_a − mean_b)/s_pooled with "
                           "J = 1 − 3/(4(n_a+n_b) − 9). Positive differences favour the left-hand group. With few "
                           "seeds the tests have little power: a large p is not evidence of equality.\n",
                       S->nw);
    }
    /* DAO-E's mixing at the end of training */
    int any = 0;
    for (int k = 0; k < S->ng; k++) any |= !strcmp(S->g[k].optimizer, "daoe") && S->g[k].nfin > 0;
    if (any) {
        daoe_sb_printf(&b, "\n### DAO-E: alpha and update share in the last epoch (mean over finished runs)\n\n");
        daoe_sb_printf(&b, "| group | alpha sgd | alpha adam | alpha rmsprop | alpha lion | share sgd | share adam | share rmsprop | share lion |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        for (int k = 0; k < S->ng; k++) {
            const group_t *g = &S->g[k];
            if (strcmp(g->optimizer, "daoe") || !g->nfin) continue;
            daoe_sb_printf(&b, "| %s |", label(g->name));
            for (int q = 0; q < 2; q++)
                for (int m = 0; m < MAXK; m++) {
                    double s = 0;
                    int n = 0;
                    for (int i = 0; i < g->nfin; i++) {
                        const run_t *r = &S->runs[g->fin[i]];
                        if (!r->ep.n) continue;
                        double v = (q ? r->ep.share[m] : r->ep.alpha[m])[r->ep.n - 1];
                        if (isfinite(v)) s += v, n++;
                    }
                    daoe_sb_printf(&b, " ");
                    num(&b, n ? s / n : NAN, 3);
                    daoe_sb_printf(&b, " |");
                }
            daoe_sb_printf(&b, "\n");
        }
        daoe_sb_printf(&b, "\nalpha is the controller's mixing weight; the share is alpha_i·|d_i| / Σ_j alpha_j·|d_j|, "
                           "the part of the applied update that member supplied (SPEC 3.1).\n");
    }
    if (tune) {
        daoe_sb_printf(&b, "\n### Tuned values (chosen on the validation split; the test set is not used)\n\n");
        int use_best = !strcmp(select_on(S), "best_val_acc");
        daoe_sb_printf(&b, "| optimizer | chosen | arguments | %s validation accuracy (%%) | n |\n|---|---|---|--:|--:|\n",
                       use_best ? "best" : "final");
        for (int k = 0; k < S->ng; k++) {
            int first = 1;
            for (int q = 0; q < k; q++) first &= strcmp(S->g[q].optimizer, S->g[k].optimizer) != 0;
            if (!first) continue;
            const group_t *w = tune_winner(S, S->g[k].optimizer, use_best);
            daoe_sb_printf(&b, "| %s | %s | `", label(S->g[k].optimizer), w ? w->name : "none eligible");
            for (const cJSON *a = w && w->setting_args ? w->setting_args->child : NULL; a; a = a->next)
                daoe_sb_printf(&b, "%s%s", a == w->setting_args->child ? "" : " ", cJSON_IsString(a) ? a->valuestring : "?");
            daoe_sb_printf(&b, "` | ");
            pct(&b, w ? (use_best ? w->best_val.mean : w->val.mean) : NAN, 2);
            daoe_sb_printf(&b, " | %d |\n", w ? w->val.n : 0);
        }
        daoe_sb_printf(&b, "\nWritten to `tuned.json` (read by profiles with `lr_from`). Rule: per optimizer, the grid point "
                           "with the highest mean %s validation accuracy over seeds among those with no diverged run "
                           "(ties: the first in grid order).\n", use_best ? "best" : "final");
    }
    daoe_sb_printf(&b, "\n### Runs\n\n| run | seed | status | test acc | val acc | epochs | img/s | wall (s) |\n|---|--:|---|--:|--:|--:|--:|--:|\n");
    for (int k = 0; k < S->ng; k++)
        for (int i = 0; i < S->g[k].nruns; i++) {
            const run_t *r = &S->runs[S->g[k].idx[i]];
            daoe_sb_printf(&b, "| %s | %s | %s", r->id, r->seed, r->status);
            if (isfinite(r->diverged_at)) daoe_sb_printf(&b, " (step %.0f)", r->diverged_at);
            daoe_sb_printf(&b, " | ");
            if (tune) daoe_sb_printf(&b, "·");
            else pct(&b, r->test_acc, 2);
            daoe_sb_printf(&b, " | ");
            pct(&b, r->val_acc, 2);
            daoe_sb_printf(&b, " | %d/%d | ", r->epochs_completed, r->epochs_planned);
            num(&b, r->ips, 1);
            daoe_sb_printf(&b, " | ");
            num(&b, r->wall, 1);
            daoe_sb_printf(&b, " |\n");
        }
    if (tune) daoe_sb_printf(&b, "\n(Test accuracies of tuning runs are in summary.json, and deliberately not shown here.)\n");
    return b.s;
}

static void tex_escape(daoe_strbuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '_' || *s == '%' || *s == '&' || *s == '#') daoe_sb_printf(b, "\\%c", *s);
        else daoe_sb_printf(b, "%c", *s);
    }
}

static char *summary_tex(const study_t *S) {
    daoe_strbuf b = {0};
    char sw[1024];
    setting_words(S, sw, sizeof sw);
    daoe_sb_printf(&b, "%% Generated by daoe-stats %s from %d run folders; do not edit. Needs \\usepackage{booktabs}.\n", S->dir, S->nruns);
    daoe_sb_printf(&b, "%% Setting: %s.\n", sw);
    int tune = !strcmp(S->kind, "tune");
    const char *metric = tune ? "final validation accuracy" : "final test accuracy";
    daoe_sb_printf(&b, "\\begin{table}[t]\n\\centering\n\\caption{%s (\\%%), %s: mean, standard deviation and 95\\%% "
                       "$t$ confidence interval over seeds (finished runs; diverged runs counted).}\n",
                   tune ? "Validation accuracy" : "Test accuracy", S->profile ? S->profile : "");
    daoe_sb_printf(&b, "\\label{tab:%s-acc}\n\\begin{tabular}{lrrrrcrr}\n\\toprule\n", S->profile ? S->profile : "results");
    daoe_sb_printf(&b, "Group & $n$ & diverged & mean & sd & 95\\%% CI & min & max \\\\\n\\midrule\n");
    (void)metric;
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        const desc_t *d = tune ? &g->val : &g->test;
        tex_escape(&b, label(g->name));
        daoe_sb_printf(&b, " & %d & %d & ", d->n, g->ndiv);
        pct(&b, d->mean, 2);
        daoe_sb_printf(&b, " & ");
        pct(&b, d->sd, 2);
        daoe_sb_printf(&b, " & ");
        if (isfinite(d->lo)) {
            daoe_sb_printf(&b, "[");
            pct(&b, d->lo, 2);
            daoe_sb_printf(&b, ", ");
            pct(&b, d->hi, 2);
            daoe_sb_printf(&b, "]");
        } else daoe_sb_printf(&b, "--");
        daoe_sb_printf(&b, " & ");
        pct(&b, d->min, 2);
        daoe_sb_printf(&b, " & ");
        pct(&b, d->max, 2);
        daoe_sb_printf(&b, " \\\\\n");
    }
    if (!tune)
        daoe_sb_printf(&b, "\\midrule\n\\emph{%s} & -- & -- & %.2f & -- & -- & -- & -- \\\\\n", PAPER_LABEL, 100 * PAPER_ACC);
    daoe_sb_printf(&b, "\\bottomrule\n\\end{tabular}\n\\end{table}\n");
    if (S->nw) {
        daoe_sb_printf(&b, "\n\\begin{table}[t]\n\\centering\n\\caption{Welch's $t$-test on final test accuracy "
                           "(two-sided; Holm-corrected over %d comparisons); difference in points, Hedges' $g$.}\n"
                           "\\label{tab:%s-welch}\n\\begin{tabular}{lrcrrrrr}\n\\toprule\n"
                           "Comparison & diff. & 95\\%% CI & $t$ & df & $p$ & $p_\\text{Holm}$ & $g$ \\\\\n\\midrule\n",
                       S->nw, S->profile ? S->profile : "results");
        for (int i = 0; i < S->nw; i++) {
            const welch_t *w = &S->w[i];
            tex_escape(&b, label(w->a));
            daoe_sb_printf(&b, " $-$ ");
            tex_escape(&b, label(w->b));
            daoe_sb_printf(&b, " & ");
            if (isfinite(w->diff)) daoe_sb_printf(&b, "%+.2f", 100 * w->diff);
            else daoe_sb_printf(&b, "--");
            daoe_sb_printf(&b, " & ");
            if (isfinite(w->lo)) daoe_sb_printf(&b, "[%+.2f, %+.2f]", 100 * w->lo, 100 * w->hi);
            else daoe_sb_printf(&b, "--");
            daoe_sb_printf(&b, " & ");
            num(&b, w->t, 2);
            daoe_sb_printf(&b, " & ");
            num(&b, w->df, 1);
            daoe_sb_printf(&b, " & ");
            pval(&b, w->p);
            daoe_sb_printf(&b, " & ");
            pval(&b, w->p_holm);
            daoe_sb_printf(&b, " & ");
            num(&b, w->g, 2);
            daoe_sb_printf(&b, " \\\\\n");
        }
        daoe_sb_printf(&b, "\\bottomrule\n\\end{tabular}\n\\end{table}\n");
    }
    /* the en dash of the Markdown helpers is not LaTeX */
    for (char *p = b.s; p && (p = strstr(p, "–"));) memcpy(p, "-- ", 3);
    return b.s;
}

/* ------------------------------------------------------------------ plot data */
static void band(const double *x, int n, double *mean, double *lo, double *hi) {
    desc_t d = describe(x, n);
    *mean = d.mean;
    *lo = isfinite(d.lo) ? d.lo : d.mean;
    *hi = isfinite(d.hi) ? d.hi : d.mean;
}

static void plotdata(study_t *S) {
    char pd[2300], err[1024];
    snprintf(pd, sizeof pd, "%.1500s/plotdata", S->dir);
    if (daoe_mkdir_p(pd, err, sizeof err) != 0) die("%s", err);
    daoe_strbuf groups = {0}, agroups = {0}, fin = {0}, thr = {0}, abl = {0};
    daoe_sb_printf(&fin, "#idx\tgroup\tn\tmean\tsd\tci_lo\tci_hi\tmin\tmax\tdiverged\n");
    daoe_sb_printf(&thr, "#idx\tgroup\tn\tmean\tci_lo\tci_hi\n");
    daoe_sb_printf(&abl, "#idx\tgroup\tn\tmean\tci_lo\tci_hi\tdiff\tdiff_lo\tdiff_hi\tp_holm\n");
    int idx = 0;
    for (int k = 0; k < S->ng; k++) {
        group_t *g = &S->g[k];
        if (!g->nfin) continue;
        daoe_sb_printf(&groups, "%s%s", groups.len ? " " : "", g->name);
        /* final accuracy, throughput (accuracy in %) */
        const desc_t *d = &g->test;
        daoe_sb_printf(&fin, "%d\t%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%d\n", idx, g->name, d->n, 100 * d->mean,
                       isfinite(d->sd) ? 100 * d->sd : 0.0, 100 * (isfinite(d->lo) ? d->lo : d->mean),
                       100 * (isfinite(d->hi) ? d->hi : d->mean), 100 * d->min, 100 * d->max, g->ndiv);
        d = &g->ips;
        daoe_sb_printf(&thr, "%d\t%s\t%d\t%.3f\t%.3f\t%.3f\n", idx, g->name, d->n, d->mean,
                       isfinite(d->lo) ? d->lo : d->mean, isfinite(d->hi) ? d->hi : d->mean);
        if (!strcmp(S->kind, "ablation")) {
            const welch_t *w = NULL;
            for (int i = 0; i < S->nw; i++)
                if (!strcmp(S->w[i].a, g->name)) w = &S->w[i];
            d = &g->test;
            daoe_sb_printf(&abl, "%d\t%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4g\n", idx, g->name, d->n, 100 * d->mean,
                           100 * (isfinite(d->lo) ? d->lo : d->mean), 100 * (isfinite(d->hi) ? d->hi : d->mean),
                           w ? 100 * w->diff : 0.0, w && isfinite(w->lo) ? 100 * w->lo : (w ? 100 * w->diff : 0.0),
                           w && isfinite(w->hi) ? 100 * w->hi : (w ? 100 * w->diff : 0.0), w ? w->p_holm : NAN);
        }
        idx++;
        /* per-epoch curves: runs of a group share the epoch count */
        int ne = 0;
        for (int i = 0; i < g->nfin; i++)
            if (S->runs[g->fin[i]].ep.n > ne) ne = S->runs[g->fin[i]].ep.n;
        daoe_strbuf c = {0};
        daoe_sb_printf(&c, "#epoch\tn\ttest_acc\ttest_acc_lo\ttest_acc_hi\ttrain_loss\ttrain_loss_lo\ttrain_loss_hi\t"
                           "val_acc\tval_acc_lo\tval_acc_hi\n");
        double *x = daoe_xmalloc(sizeof(double) * (size_t)g->nfin);
        for (int e = 0; e < ne; e++) {
            double m[9];
            int n = 0;
            for (int q = 0; q < 3; q++) {
                n = 0;
                for (int i = 0; i < g->nfin; i++) {
                    const run_t *r = &S->runs[g->fin[i]];
                    if (e >= r->ep.n) continue;
                    double v = (q == 0 ? r->ep.test : q == 1 ? r->ep.loss : r->ep.val)[e];
                    if (isfinite(v)) x[n++] = q == 1 ? v : 100 * v;
                }
                band(x, n, &m[3 * q], &m[3 * q + 1], &m[3 * q + 2]);
            }
            daoe_sb_printf(&c, "%d\t%d", e + 1, n);
            for (int q = 0; q < 9; q++) {
                if (isfinite(m[q])) daoe_sb_printf(&c, "\t%.5f", m[q]);
                else daoe_sb_printf(&c, "\tnan");
            }
            daoe_sb_printf(&c, "\n");
        }
        char name[400];
        snprintf(name, sizeof name, "plotdata/curves_%s.tsv", g->name);
        write_text(S->dir, name, c.s);
        daoe_sb_free(&c);
        free(x);
        /* DAO-E: per-epoch mean alpha and share (epochs.csv) and, finer, the step traces (alpha.csv) */
        if (!strcmp(g->optimizer, "daoe")) {
            daoe_strbuf a = {0};
            daoe_sb_printf(&a, "#epoch\tn");
            for (int q = 0; q < 2; q++)
                for (int mm = 0; mm < MAXK; mm++) daoe_sb_printf(&a, "\t%s_%s", q ? "share" : "alpha", MEMBERS[mm]);
            daoe_sb_printf(&a, "\n");
            for (int e = 0; e < ne; e++) {
                int n = 0;
                for (int i = 0; i < g->nfin; i++) n += e < S->runs[g->fin[i]].ep.n;
                daoe_sb_printf(&a, "%d\t%d", e + 1, n);
                for (int q = 0; q < 2; q++)
                    for (int mm = 0; mm < MAXK; mm++) {
                        double sum = 0;
                        int k2 = 0;
                        for (int i = 0; i < g->nfin; i++) {
                            const run_t *r = &S->runs[g->fin[i]];
                            if (e >= r->ep.n) continue;
                            double v = (q ? r->ep.share[mm] : r->ep.alpha[mm])[e];
                            if (isfinite(v)) sum += v, k2++;
                        }
                        daoe_sb_printf(&a, "\t%.6f", k2 ? sum / k2 : 0.0);
                    }
                daoe_sb_printf(&a, "\n");
            }
            snprintf(name, sizeof name, "plotdata/alpha_epoch_%s.tsv", g->name);
            write_text(S->dir, name, a.s);
            daoe_sb_free(&a);
        }
        if (!strcmp(g->optimizer, "daoe")) {
            int nt = INT_MAX;
            for (int i = 0; i < g->nfin; i++) {
                load_trace(&S->runs[g->fin[i]]);
                if (S->runs[g->fin[i]].tr.n < nt) nt = S->runs[g->fin[i]].tr.n;
            }
            if (nt > 0 && nt != INT_MAX) {
                daoe_sb_printf(&agroups, "%s%s", agroups.len ? " " : "", g->name);
                daoe_strbuf a = {0};
                daoe_sb_printf(&a, "#step\tepoch\tn");
                for (int q = 0; q < 2; q++)
                    for (int m = 0; m < MAXK; m++) daoe_sb_printf(&a, "\t%s_%s", q ? "share" : "alpha", MEMBERS[m]);
                daoe_sb_printf(&a, "\n");
                int spe = S->runs[g->fin[0]].steps_per_epoch;
                for (int t = 0; t < nt; t++) {
                    double step = S->runs[g->fin[0]].tr.step[t];
                    daoe_sb_printf(&a, "%.0f\t%.5f\t%d", step, spe > 0 ? step / spe : step, g->nfin);
                    for (int q = 0; q < 2; q++)
                        for (int m = 0; m < MAXK; m++) {
                            double s = 0;
                            int n = 0;
                            for (int i = 0; i < g->nfin; i++) {
                                const run_t *r = &S->runs[g->fin[i]];
                                double v = (q ? r->tr.share[m] : r->tr.alpha[m])[t];
                                if (isfinite(v)) s += v, n++;
                            }
                            daoe_sb_printf(&a, "\t%.6f", n ? s / n : 0.0);
                        }
                    daoe_sb_printf(&a, "\n");
                }
                snprintf(name, sizeof name, "plotdata/alpha_%s.tsv", g->name);
                write_text(S->dir, name, a.s);
                daoe_sb_free(&a);
            }
        }
    }
    write_text(S->dir, "plotdata/final.tsv", fin.s);
    /* every finished run, at its group's x position */
    daoe_strbuf rt = {0};
    daoe_sb_printf(&rt, "#idx\tgroup\tseed\ttest_acc\tval_acc\n");
    int gi = 0;
    for (int k = 0; k < S->ng; k++) {
        if (!S->g[k].nfin) continue;
        for (int i = 0; i < S->g[k].nfin; i++) {
            const run_t *r = &S->runs[S->g[k].fin[i]];
            daoe_sb_printf(&rt, "%d\t%s\t%s\t%.4f\t%.4f\n", gi, S->g[k].name, r->seed[0] ? r->seed : "nan",
                           100 * r->test_acc, 100 * r->val_acc);
        }
        gi++;
    }
    write_text(S->dir, "plotdata/runs.tsv", rt.s);
    daoe_sb_free(&rt);
    write_text(S->dir, "plotdata/throughput.tsv", thr.s);
    if (!strcmp(S->kind, "ablation")) write_text(S->dir, "plotdata/ablation.tsv", abl.s);
    /* gnuplot variables */
    daoe_strbuf m = {0};
    char sw[1024];
    setting_words(S, sw, sizeof sw);
    for (char *p = sw; *p; p++)
        if (*p == '"') *p = '\'';
    const char *ref = S->compare_to ? S->compare_to : "";
    int has_ref_alpha = 0;
    if (agroups.s) {
        char *p = strstr(agroups.s, ref);
        has_ref_alpha = ref[0] && p && (p == agroups.s || p[-1] == ' ') && (p[strlen(ref)] == ' ' || !p[strlen(ref)]);
    }
    daoe_sb_printf(&m, "# generated by daoe-stats: what plots/*.gp need to know about %s\n", S->dir);
    daoe_sb_printf(&m, "profile = \"%s\"\nkind = \"%s\"\nsetting = \"%s\"\n", S->profile ? S->profile : "", S->kind, sw);
    {
        const run_t *r = S->nruns ? &S->runs[0] : NULL;
        int nseeds_max = 0;
        for (int k = 0; k < S->ng; k++)
            if (S->g[k].nruns > nseeds_max) nseeds_max = S->g[k].nruns;
        char tr[32], te[32];
        if (r && r->train_subset) snprintf(tr, sizeof tr, "%d", r->train_subset);
        else snprintf(tr, sizeof tr, "%d", r ? 50000 - r->val : 0);
        if (r && r->test_subset) snprintf(te, sizeof te, "%d", r->test_subset);
        else snprintf(te, sizeof te, "10000");
        daoe_sb_printf(&m, "setting_short = \"%s: width %d, %d epochs, batch %d, %s train / %s test images, %s, up to %d seeds\"\n",
                       S->profile ? S->profile : "", r ? r->width : 0, r ? r->epochs_planned : 0, r ? r->batch : 0, tr, te,
                       r ? r->backend : "", nseeds_max);
        daoe_sb_printf(&m, "nepochs = %d\n", r ? r->epochs_planned : 0);
    }
    daoe_sb_printf(&m, "groups = \"%s\"\nngroups = %d\n", groups.s ? groups.s : "", idx);
    daoe_sb_printf(&m, "alpha_groups = \"%s\"\n", agroups.s ? agroups.s : "");
    daoe_sb_printf(&m, "alpha_group = \"%s\"\n",
                   has_ref_alpha ? ref : (agroups.s ? strtok(daoe_xstrdup(agroups.s), " ") : ""));
    {
        const group_t *rg = NULL;
        for (int k = 0; k < S->ng; k++)
            if (!strcmp(S->g[k].name, ref)) rg = &S->g[k];
        double rm = rg ? rg->test.mean : NAN;
        double rl = rg && isfinite(rg->test.lo) ? rg->test.lo : rm, rh = rg && isfinite(rg->test.hi) ? rg->test.hi : rm;
        daoe_sb_printf(&m, "ref_mean = %.4f\nref_lo = %.4f\nref_hi = %.4f\n", isfinite(rm) ? 100 * rm : 0.0,
                       isfinite(rl) ? 100 * rl : 0.0, isfinite(rh) ? 100 * rh : 0.0);
    }
    daoe_sb_printf(&m, "compare_to = \"%s\"\npaper_acc = %.1f\npaper_comparable = %d\ntarget = %.4f\n", ref,
                   100 * PAPER_ACC, paper_comparable(S), 100 * S->target);
    write_text(S->dir, "plotdata/meta.gp", m.s);
    daoe_sb_free(&m);
    daoe_sb_free(&groups);
    daoe_sb_free(&agroups);
    daoe_sb_free(&fin);
    daoe_sb_free(&thr);
    daoe_sb_free(&abl);
}

/* ------------------------------------------------------------------ tune */
static void write_tuned(const study_t *S, const char *select_on) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "generated_by", "daoe-stats " DAOE_VERSION);
    cJSON_AddStringToObject(o, "source", S->dir);
    if (S->profile) cJSON_AddStringToObject(o, "profile", S->profile);
    const char *base = S->sweep ? jstr(S->sweep, "base", NULL) : NULL;
    if (base) cJSON_AddStringToObject(o, "base", base);
    char sw[1024];
    setting_words(S, sw, sizeof sw);
    cJSON_AddStringToObject(o, "setting", sw);
    cJSON_AddStringToObject(o, "selected_on", select_on);
    cJSON_AddStringToObject(o, "rule", "per optimizer, the grid point with the highest mean final validation accuracy "
                                       "over seeds, among grid points with at least one finished run and no diverged "
                                       "run; the test set is not used");
    cJSON *win = cJSON_AddObjectToObject(o, "winners");
    cJSON *grid = cJSON_AddArrayToObject(o, "grid");
    int use_best = !strcmp(select_on, "best_val_acc");
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        const desc_t *d = use_best ? &g->best_val : &g->val;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "group", g->name);
        cJSON_AddStringToObject(j, "optimizer", g->optimizer);
        cJSON_AddItemToObject(j, "args", g->setting_args ? cJSON_Duplicate(g->setting_args, 1) : cJSON_CreateArray());
        cJSON_AddNumberToObject(j, "n", d->n);
        cJSON_AddNumberToObject(j, "diverged", g->ndiv);
        jput(j, "val_acc_mean", d->mean);
        cJSON_AddItemToArray(grid, j);
    }
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        if (cJSON_GetObjectItemCaseSensitive(win, g->optimizer)) continue;
        const group_t *best = tune_winner(S, g->optimizer, use_best);
        if (!best) {
            fprintf(stderr, "daoe-stats: warning: no eligible grid point for %s (all diverged or unfinished)\n", g->optimizer);
            cJSON_AddNullToObject(win, g->optimizer);
            continue;
        }
        if (!best->setting_args)
            fprintf(stderr, "daoe-stats: warning: %s: no sweep_run.json, so its arguments are unknown\n", best->name);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "group", best->name);
        cJSON_AddItemToObject(j, "args", best->setting_args ? cJSON_Duplicate(best->setting_args, 1) : cJSON_CreateArray());
        const desc_t *d = use_best ? &best->best_val : &best->val;
        jput(j, "val_acc_mean", d->mean);
        cJSON_AddNumberToObject(j, "n", d->n);
        cJSON_AddItemToObject(win, g->optimizer, j);
    }
    char *s = cJSON_Print(o);
    daoe_strbuf b = {0};
    daoe_sb_printf(&b, "%s\n", s);
    write_text(S->dir, "tuned.json", b.s);
    daoe_sb_free(&b);
    free(s);
    cJSON_Delete(o);
}

/* ------------------------------------------------------------------ the study */
static void load_study(study_t *S, const char *dir, const char *compare_to, double target) {
    memset(S, 0, sizeof *S);
    S->dir = dir;
    S->target = target;
    S->runs = load_runs(dir, &S->nruns);
    char p[2300];
    snprintf(p, sizeof p, "%.1500s/sweep.json", dir);
    S->sweep = read_json(p);
    S->kind = jstr(S->sweep, "kind", NULL);
    S->profile = jstr(S->sweep, "profile", NULL);
    if (!S->profile) {
        const char *slash = strrchr(dir, '/');
        S->profile = slash && slash[1] ? slash + 1 : dir;
    }
    build_groups(S);
    if (!S->kind) {
        int settings = 0;
        for (int k = 0; k < S->ng; k++) settings |= S->g[k].setting[0] != 0;
        S->kind = settings ? "ablation" : "compare";
    }
    S->compare_to = compare_to ? compare_to : jstr(S->sweep, "compare_to", NULL);
    if (!S->compare_to) {
        for (int k = 0; k < S->ng; k++)
            if (!strcmp(S->g[k].name, "daoe") || !strcmp(S->g[k].name, "daoe-full")) S->compare_to = S->g[k].name;
    }
    if (!isfinite(S->target)) S->target = jnum(S->sweep, "target_acc");
    compute(S);
}

/* ------------------------------------------------------------------ regression check */
static int check(const char *new_dir, const char *ref_dir, double alpha, double margin) {
    study_t N, R;
    load_study(&R, ref_dir, NULL, NAN);
    load_study(&N, new_dir, NULL, NAN);
    if (!R.ng) die("%s: no runs in the reference", ref_dir);
    /* comparable settings? */
    for (int k = 0; k < R.ng; k++) {
        const group_t *rg = &R.g[k];
        for (int q = 0; q < N.ng; q++) {
            const group_t *ng = &N.g[q];
            if (strcmp(rg->name, ng->name) || !rg->nruns || !ng->nruns) continue;
            const run_t *a = &R.runs[rg->idx[0]], *b = &N.runs[ng->idx[0]];
            if (a->width != b->width || a->epochs_planned != b->epochs_planned || a->batch != b->batch ||
                a->train_subset != b->train_subset || a->val != b->val || a->test_subset != b->test_subset) {
                fprintf(stderr,
                        "daoe-stats: check: %s is not comparable: reference width %d, %d epochs, batch %d, train %d, "
                        "val %d, test %d; new width %d, %d epochs, batch %d, train %d, val %d, test %d\n",
                        rg->name, a->width, a->epochs_planned, a->batch, a->train_subset, a->val, a->test_subset,
                        b->width, b->epochs_planned, b->batch, b->train_subset, b->val, b->test_subset);
                return 2;
            }
        }
    }
    /* seed-to-seed spread: pooled within-group variance of the reference */
    double ss = 0;
    int df = 0;
    for (int k = 0; k < R.ng; k++)
        if (R.g[k].test.n >= 2) {
            ss += (R.g[k].test.n - 1) * R.g[k].test.sd * R.g[k].test.sd;
            df += R.g[k].test.n - 1;
        }
    double sp = df > 0 ? sqrt(ss / df) : NAN;
    double tq = df > 0 ? gsl_cdf_tdist_Pinv(1.0 - alpha, df) : NAN;
    printf("regression check: %s against the reference %s\n", new_dir, ref_dir);
    printf("rule: a group fails when mean_new < mean_ref - max(margin, t(1-alpha, df_ref) * s_ref * sqrt(1/n_ref + 1/n_new)),\n"
           "      or when it has diverged runs the reference had not, or no finished run.\n"
           "      s_ref = pooled within-group sd of the reference = %.2f points (df_ref = %d), alpha = %g, margin = %.2f points\n",
           100 * sp, df, alpha, 100 * margin);
    printf("%-24s %5s %9s %5s %9s %8s %8s  %s\n", "group", "n_ref", "mean_ref", "n_new", "mean_new", "diff", "allowed", "verdict");
    int fails = 0;
    daoe_strbuf msg = {0};
    for (int k = 0; k < R.ng; k++) {
        const group_t *rg = &R.g[k];
        const group_t *ng = NULL;
        for (int q = 0; q < N.ng; q++)
            if (!strcmp(N.g[q].name, rg->name)) ng = &N.g[q];
        if (!rg->test.n) continue;
        int n_new = ng ? ng->test.n : 0;
        double mn = ng ? ng->test.mean : NAN;
        double allowed = margin;
        if (isfinite(sp) && n_new > 0) {
            double stat = tq * sp * sqrt(1.0 / rg->test.n + 1.0 / n_new);
            if (stat > allowed) allowed = stat;
        }
        const char *verdict = "ok";
        char why[512] = "";
        if (!ng || !n_new) {
            verdict = "FAIL";
            snprintf(why, sizeof why, "%s: no finished run in %s (reference: %d)", rg->name, new_dir, rg->test.n);
        } else if (mn < rg->test.mean - allowed) {
            verdict = "FAIL";
            snprintf(why, sizeof why,
                     "%s: mean final test accuracy %.2f %% (n=%d) is %.2f points below the reference %.2f %% (n=%d); "
                     "the reference spread allows %.2f",
                     rg->name, 100 * mn, n_new, 100 * (rg->test.mean - mn), 100 * rg->test.mean, rg->test.n, 100 * allowed);
        } else if (ng->ndiv > 0 && rg->ndiv == 0) {
            verdict = "FAIL";
            snprintf(why, sizeof why, "%s: %d of %d runs diverged (reference: 0 of %d)", rg->name, ng->ndiv, ng->nruns,
                     rg->nruns);
        }
        printf("%-24s %5d %8.2f%% %5d %8.2f%% %+8.2f %8.2f  %s\n", rg->name, rg->test.n, 100 * rg->test.mean, n_new,
               100 * mn, 100 * (mn - rg->test.mean), 100 * allowed, verdict);
        if (why[0]) {
            fails++;
            daoe_sb_printf(&msg, "daoe-stats: check FAILED: %s\n", why);
        }
    }
    for (int q = 0; q < N.ng; q++) {
        int found = 0;
        for (int k = 0; k < R.ng; k++) found |= !strcmp(N.g[q].name, R.g[k].name);
        if (!found) printf("%-24s (not in the reference: not checked)\n", N.g[q].name);
    }
    if (fails) {
        fputs(msg.s, stderr);
        fprintf(stdout, "FAIL: %d group(s) below the reference\n", fails);
        return 1;
    }
    printf("OK: no group below what the reference's spread allows\n");
    return 0;
}

/* ------------------------------------------------------------------ main */
static void usage(FILE *f) {
    fprintf(f,
            "usage: daoe-stats [options] DIR\n"
            "       daoe-stats --check NEW --reference REF [--alpha A] [--margin M]\n"
            "Reads the run folders under DIR (results/<profile>) and writes DIR/summary.{json,md,tex},\n"
            "DIR/plotdata/ (for plots/*.gp) and, for a tune sweep, DIR/tuned.json.\n\n"
            "  --target X        test accuracy (fraction) for 'epochs/time to target'\n"
            "                    (default: sweep.json's target_acc, else 90 %% of the weakest group's mean)\n"
            "  --compare-to G    reference group of the Welch tests (default: sweep.json's, else daoe)\n"
            "  --check NEW       regression check of NEW against --reference REF: exit 1 and name the group\n"
            "                    when its mean final test accuracy falls below what REF's spread allows\n"
            "  --alpha A         one-sided level of the check (default 0.01)\n"
            "  --margin M        smallest drop (fraction) the check reports (default 0.01 = 1 point)\n");
}

int main(int argc, char **argv) {
    const char *dir = NULL, *check_new = NULL, *ref = NULL, *compare_to = NULL;
    double target = NAN, alpha = 0.01, margin = 0.01;
    gsl_set_error_handler_off();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT() (i + 1 < argc ? argv[++i] : (die("%s needs a value", a), (char *)NULL))
        if (!strcmp(a, "--target")) target = atof(NEXT());
        else if (!strcmp(a, "--compare-to")) compare_to = NEXT();
        else if (!strcmp(a, "--check")) check_new = NEXT();
        else if (!strcmp(a, "--reference")) ref = NEXT();
        else if (!strcmp(a, "--alpha")) alpha = atof(NEXT());
        else if (!strcmp(a, "--margin")) margin = atof(NEXT());
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "daoe-stats: error: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (!dir) dir = a;
        else die("more than one folder given (%s)", a);
#undef NEXT
    }
    if (check_new || ref) {
        if (!check_new || !ref) die("--check NEW needs --reference REF");
        if (!(alpha > 0 && alpha < 0.5) || !(margin >= 0)) die("--alpha in (0, 0.5), --margin >= 0");
        return check(check_new, ref, alpha, margin);
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }
    if (isfinite(target) && !(target > 0 && target <= 1)) die("--target is a fraction in (0, 1]");
    study_t S;
    load_study(&S, dir, compare_to, target);
    if (!S.nruns) die("%s: no run folders (folders with a config.json)", dir);
    cJSON *j = summary_json(&S);
    char *js = cJSON_Print(j);
    daoe_strbuf b = {0};
    daoe_sb_printf(&b, "%s\n", js);
    free(js);
    cJSON_Delete(j);
    char *md = summary_md(&S), *tex = summary_tex(&S);
    plotdata(&S);
    if (!strcmp(S.kind, "tune")) write_tuned(&S, select_on(&S));
    /* summary.json last: make's target for the whole step */
    write_text(dir, "summary.md", md);
    write_text(dir, "summary.tex", tex);
    write_text(dir, "summary.json", b.s);
    int nfin = 0, ndiv = 0, ninc = 0;
    for (int k = 0; k < S.ng; k++) nfin += S.g[k].nfin, ndiv += S.g[k].ndiv, ninc += S.g[k].ninc;
    fprintf(stderr, "daoe-stats: %s: %d runs in %d groups (%d finished, %d diverged, %d incomplete) -> summary.{json,md,tex}, plotdata/%s\n",
            dir, S.nruns, S.ng, nfin, ndiv, ninc, !strcmp(S.kind, "tune") ? ", tuned.json" : "");
    free(md);
    free(tex);
    daoe_sb_free(&b);
    return 0;
}
