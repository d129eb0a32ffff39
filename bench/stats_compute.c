/* daoe-stats: the statistics. Runs are grouped (optimizer order, then sweep
 * order); each group gets descriptive statistics of its finished runs; the
 * reference group is compared with every other by Welch's t-test, Holm
 * corrected, with Hedges' g. Also: epochs and time to a target accuracy, the
 * tune winners, and the words that describe the setting. */
#define _GNU_SOURCE
#include "daoe/optimizer_list.h"
#include "daoe/util.h"
#include "stats.h"
#include "tool.h"
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ tests */
/* two-sided 95 % t interval of the mean; sd with n-1 */
desc_t describe(const double *x, int n) {
    desc_t d = {n, NAN, NAN, NAN, NAN, NAN, NAN};
    if (n <= 0) return d;
    d.mean = gsl_stats_mean(x, 1, (size_t)n);
    gsl_stats_minmax(&d.min, &d.max, x, 1, (size_t)n);
    if (n >= 2) {
        d.sd = gsl_stats_sd_m(x, 1, (size_t)n, d.mean);
        double h = gsl_cdf_tdist_Pinv(0.975, n - 1) * d.sd / sqrt(n);
        d.lo = d.mean - h;
        d.hi = d.mean + h;
    }
    return d;
}

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

void holm(const double *p, double *adj, int n) {
    double *q = daoe_xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    int *at = daoe_xmalloc(sizeof(int) * (size_t)(n ? n : 1)), m = 0;
    for (int i = 0; i < n; i++) {
        adj[i] = NAN;
        if (isfinite(p[i])) at[m] = i, q[m++] = p[i];
    }
    size_t *order = daoe_xmalloc(sizeof(size_t) * (size_t)(m ? m : 1));
    gsl_sort_index(order, q, 1, (size_t)m); /* tied p get the same adjusted p in either order */
    double run = 0;
    for (int k = 0; k < m; k++) {
        double a = (m - k) * q[order[k]];
        if (a > 1) a = 1;
        if (a < run) a = run;
        run = a;
        adj[at[order[k]]] = a;
    }
    free(order);
    free(at);
    free(q);
}

/* ------------------------------------------------------------------ groups */
/* the place of an optimizer in daoe_optimizers[] (unknown ones last) */
static int opt_rank(const char *o) {
    const daoe_optimizer_info *oi = daoe_optimizer_find(o);
    return oi ? (int)(oi - daoe_optimizers) : 99;
}

static int sweep_order(const study_t *S, const char *group) {
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(S->sweep, "runs");
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
        stats_run_t *r = &S->runs[i];
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

const group_t *find_group(const study_t *S, const char *name) {
    const group_t *found = NULL;
    for (int k = 0; k < S->ng; k++)
        if (name && !strcmp(S->g[k].name, name)) found = &S->g[k];
    return found;
}

/* ------------------------------------------------------------------ statistics */
double epochs_to(const stats_run_t *r, double target, double *sec) {
    double cum = 0;
    for (int e = 0; e < r->ep.n; e++) {
        cum += isfinite(r->ep.sec[e]) ? r->ep.sec[e] : 0;
        if (r->ep.test[e] >= target) {
            if (sec) *sec = cum;
            return e + 1;
        }
    }
    if (sec) *sec = NAN;
    return NAN;
}

static void run_targets(study_t *S) {
    for (int i = 0; i < S->nruns; i++) S->runs[i].ep_target = epochs_to(&S->runs[i], S->target, &S->runs[i].sec_target);
}

/* one double field of stats_run_t (at off) over a group's finished runs, NaN left out */
static desc_t describe_field(const study_t *S, const group_t *g, size_t off) {
    double *x = daoe_xmalloc(sizeof(double) * (size_t)(g->nfin ? g->nfin : 1));
    int n = 0;
    for (int i = 0; i < g->nfin; i++) {
        double v = *(const double *)((const char *)&S->runs[g->fin[i]] + off);
        if (isfinite(v)) x[n++] = v;
    }
    desc_t d = describe(x, n);
    free(x);
    return d;
}

/* target accuracy: given, or 90 % of the weakest group's mean, floored to a whole percent */
static void choose_target(study_t *S) {
    if (isfinite(S->target)) return;
    double lo = INFINITY;
    for (int k = 0; k < S->ng; k++)
        if (isfinite(S->g[k].test.mean) && S->g[k].test.mean < lo) lo = S->g[k].test.mean;
    S->target = isfinite(lo) ? floor(0.9 * lo * 100.0) / 100.0 : 0.5;
    snprintf(S->target_rule, sizeof S->target_rule,
             "90 %% of the lowest group mean final test accuracy, floored to a whole percent");
}

/* final test accuracy: DAO-E minus each baseline; in an ablation, each variant minus the full DAO-E */
static void compare_groups(study_t *S) {
    S->w = daoe_xcalloc((size_t)(S->ng ? S->ng : 1), sizeof(welch_t));
    S->nw = 0;
    const group_t *ref = find_group(S, S->compare_to);
    if (!ref || is_tune(S)) return;
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        if (g == ref) continue;
        S->w[S->nw++] = is_ablation(S) ? welch(g->name, &g->test, ref->name, &ref->test)
                                       : welch(ref->name, &ref->test, g->name, &g->test);
    }
    size_t sz = sizeof(double) * (size_t)(S->nw ? S->nw : 1);
    double *p = daoe_xmalloc(sz), *adj = daoe_xmalloc(sz);
    for (int i = 0; i < S->nw; i++) p[i] = S->w[i].p;
    holm(p, adj, S->nw);
    for (int i = 0; i < S->nw; i++) S->w[i].p_holm = adj[i];
    free(p);
    free(adj);
}

static void compute(study_t *S) {
    for (int k = 0; k < S->ng; k++) {
        group_t *g = &S->g[k];
        g->test = describe_field(S, g, offsetof(stats_run_t, test_acc));
        g->val = describe_field(S, g, offsetof(stats_run_t, val_acc));
        g->best_val = describe_field(S, g, offsetof(stats_run_t, best_val_acc));
        g->ips = describe_field(S, g, offsetof(stats_run_t, ips));
        g->wall = describe_field(S, g, offsetof(stats_run_t, wall));
    }
    choose_target(S);
    run_targets(S);
    for (int k = 0; k < S->ng; k++) {
        group_t *g = &S->g[k];
        g->ep_target = describe_field(S, g, offsetof(stats_run_t, ep_target));
        g->sec_target = describe_field(S, g, offsetof(stats_run_t, sec_target));
    }
    compare_groups(S);
    twin_t *tw = &S->twin;
    if (tw->n) {
        tw->test = describe(tw->acc, tw->n);
        const group_t *sgd = find_group(S, "sgd");
        if (sgd) tw->vs = welch(sgd->name, &sgd->test, TWIN_LABEL, &tw->test);
    }
}

/* Groups and statistics of what study_read read; compare_to and target
 * (NaN: none) override sweep.json's. */
void study_compute(study_t *S, const char *compare_to, double target) {
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
    S->target = isfinite(target) ? target : jnum(S->sweep, "target_acc");
    compute(S);
}

void load_study(study_t *S, const char *dir, const char *compare_to, double target) {
    study_read(S, dir);
    study_compute(S, compare_to, target);
}

int is_tune(const study_t *S) { return !strcmp(S->kind, "tune"); }

/* runs of the sweep (sweep.json's list, else the folders found) that have not ended
 * (finished or diverged): a tuning with any is not complete, and names no winners for
 * profiles to read (tuned.json is written only when it is complete) */
int tune_unfinished_of(const study_t *S, const char *opt, int *total) {
    int ended = 0, nfolders = 0;
    for (int k = 0; k < S->ng; k++)
        if (!opt || !strcmp(S->g[k].optimizer, opt)) ended += S->g[k].nfin + S->g[k].ndiv, nfolders += S->g[k].nruns;
    /* the runs planned: sweep.json's list (runs not started have no folder) */
    const cJSON *runs = S->sweep ? cJSON_GetObjectItemCaseSensitive(S->sweep, "runs") : NULL;
    int n = 0;
    for (const cJSON *r = cJSON_IsArray(runs) ? runs->child : NULL; r; r = r->next)
        n += !opt || !strcmp(jstr(r, "optimizer", ""), opt);
    if (n < nfolders) n = nfolders;
    if (total) *total = n;
    return n - ended;
}
int tune_unfinished(const study_t *S, int *total) { return tune_unfinished_of(S, NULL, total); }
int is_ablation(const study_t *S) { return !strcmp(S->kind, "ablation"); }

/* The mean over a group's finished runs of member m's alpha (share = 0) or
 * update share at row t of epochs.csv (trace = 0) or alpha.csv (trace = 1);
 * t < 0: each run's last row. Runs without that row or value are left out;
 * NaN when none is left. */
double mixing_mean(const study_t *S, const group_t *g, int trace, int share, int m, int t) {
    double sum = 0;
    int n = 0;
    for (int i = 0; i < g->nfin; i++) {
        const stats_run_t *r = &S->runs[g->fin[i]];
        int rows = trace ? r->tr.n : r->ep.n, row = t < 0 ? rows - 1 : t;
        if (row < 0 || row >= rows) continue;
        const double *v = trace ? (share ? r->tr.share[m] : r->tr.alpha[m]) : (share ? r->ep.share[m] : r->ep.alpha[m]);
        if (isfinite(v[row])) sum += v[row], n++;
    }
    return n ? sum / n : NAN;
}

/* ------------------------------------------------------------------ tune */
/* the eligible grid point of an optimizer with the highest mean validation accuracy
 * (first in grid order on ties); NULL when every point diverged or none finished */
const group_t *tune_winner(const study_t *S, const char *opt, int use_best) {
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

/* The point beyond opt's grid on one side (-1 low, 1 high) that the tune profile names
 * (grid_beyond.<opt>.<low|high>: {"id", "args"}), and its group name; NULL: none named */
const cJSON *tune_beyond(const study_t *S, const char *opt, int side, char *group, size_t n) {
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(S->sweep, "resolved_profile");
    const cJSON *gb = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rp, "grid_beyond"), opt);
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(gb, side < 0 ? "low" : "high");
    const char *id = jstr(pt, "id", NULL);
    if (!id) return NULL;
    if (group) snprintf(group, n, "%s-%s", opt, id);
    return pt;
}

/* opt's points in order: the grid's (sweep.json's run order, each point once, the points
 * beyond left out), with a point beyond that has run before (low) or after (high) */
static int tune_points(const study_t *S, const char *opt, const char **names, int max) {
    char lo[300] = "", hi[300] = "";
    tune_beyond(S, opt, -1, lo, sizeof lo);
    tune_beyond(S, opt, 1, hi, sizeof hi);
    int n = 0;
    if (lo[0] && find_group(S, lo)) names[n++] = find_group(S, lo)->name;
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(S->sweep, "runs");
    for (const cJSON *e = runs ? runs->child : NULL; e && n < max - 1; e = e->next) {
        const char *g = jstr(e, "group", "");
        if (strcmp(jstr(e, "optimizer", ""), opt) || !strcmp(g, lo) || !strcmp(g, hi)) continue;
        int seen = 0;
        for (int i = 0; i < n && !seen; i++) seen = !strcmp(names[i], g);
        if (!seen) names[n++] = g;
    }
    if (hi[0] && find_group(S, hi) && n < max) names[n++] = find_group(S, hi)->name;
    return n;
}

int tune_edge(const study_t *S, const char *opt, const char *group) {
    const char *names[MAXPOINTS];
    int n = tune_points(S, opt, names, MAXPOINTS);
    if (n < 2) return 0;
    return !strcmp(group, names[0]) ? -1 : !strcmp(group, names[n - 1]) ? 1 : 0;
}

int tune_extension_due(const study_t *S, const char *opt, int use_best) {
    if (tune_unfinished_of(S, opt, NULL)) return 0;
    const group_t *best = tune_winner(S, opt, use_best);
    int edge = best ? tune_edge(S, opt, best->name) : 0;
    char g[300];
    if (!edge || !tune_beyond(S, opt, edge, g, sizeof g) || find_group(S, g)) return 0;
    return edge;
}

int tune_left(const study_t *S, int *total) {
    int use_best = !strcmp(select_on(S), "best_val_acc"), due = 0, t;
    for (int k = 0; k < S->ng; k++)
        if (first_of_optimizer(S, k)) due += tune_extension_due(S, S->g[k].optimizer, use_best) != 0;
    int left = tune_unfinished(S, &t) + due;
    if (total) *total = t + due;
    return left;
}

int tune_settled(const study_t *S, const char *opt, int use_best) {
    return !tune_unfinished_of(S, opt, NULL) && !tune_extension_due(S, opt, use_best);
}

const char *select_on(const study_t *S) {
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(S->sweep, "resolved_profile");
    return jstr(rp, "select_on", "final_val_acc");
}

/* ------------------------------------------------------------------ words */
int paper_comparable(const study_t *S) {
    if (S->nruns == 0) return 0;
    for (int i = 0; i < S->nruns; i++) {
        const stats_run_t *r = &S->runs[i];
        if (r->width != 64 || r->epochs_planned != 100 || r->batch != 128 || r->train_subset != 0 ||
            r->test_subset != 0)
            return 0;
    }
    return 1;
}

/* the setting every run shares, in words */
void setting_words(const study_t *S, char *buf, size_t n) {
    if (!S->nruns) {
        snprintf(buf, n, "no runs");
        return;
    }
    const stats_run_t *r = &S->runs[0];
    int same = 1;
    for (int i = 1; i < S->nruns; i++) {
        const stats_run_t *q = &S->runs[i];
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

const char *label(const char *group) {
    const daoe_optimizer_info *oi = daoe_optimizer_find(group);
    return oi ? oi->display : group;
}
