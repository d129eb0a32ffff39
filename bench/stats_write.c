/* daoe-stats: the summaries. summary.json holds every number; summary.md,
 * summary.tex and report.html (stats_report.c) render the same tables (built
 * once, see stats_table.c): Markdown and HTML all of them with the text around
 * them, LaTeX the accuracy table and the comparisons. tuned.json holds a tune
 * sweep's winners. */
#define _GNU_SOURCE
#include "daoe/optimizer_list.h"
#include "daoe/util.h"
#include "stats.h"
#include "tool.h"
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ summary.json */
static void jput(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static cJSON *jpair(double a, double b) {
    cJSON *ci = cJSON_CreateArray();
    cJSON_AddItemToArray(ci, isfinite(a) ? cJSON_CreateNumber(a) : cJSON_CreateNull());
    cJSON_AddItemToArray(ci, isfinite(b) ? cJSON_CreateNumber(b) : cJSON_CreateNull());
    return ci;
}

static cJSON *desc_json(const desc_t *d) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", d->n);
    jput(o, "mean", d->mean);
    jput(o, "sd", d->sd);
    cJSON_AddItemToObject(o, "ci95", jpair(d->lo, d->hi));
    jput(o, "min", d->min);
    jput(o, "max", d->max);
    return o;
}

static cJSON *est_json(const est_ci *e) {
    cJSON *o = cJSON_CreateObject();
    jput(o, "estimate", e->est);
    cJSON_AddItemToObject(o, "ci95_bootstrap", jpair(e->lo, e->hi));
    return o;
}

static cJSON *run_entry_json(const study_t *S, const stats_run_t *r) {
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "id", r->id);
    cJSON_AddRawToObject(x, "seed", r->seed[0] ? r->seed : "null");
    cJSON_AddStringToObject(x, "status", r->status);
    jput(x, "final_test_acc", r->test_acc);
    jput(x, "final_val_acc", r->val_acc);
    cJSON_AddNumberToObject(x, "epochs_completed", r->epochs_completed);
    jput(x, "epochs_to_target", r->ep_target);
    jput(x, "wall_seconds_to_target", r->sec_target);
    cJSON *tt = cJSON_AddArrayToObject(x, "epochs_to_targets");
    for (int j = 0; j < S->ntargets; j++)
        cJSON_AddItemToArray(tt, isfinite(r->ep_to[j]) ? cJSON_CreateNumber(r->ep_to[j]) : cJSON_CreateNull());
    jput(x, "images_per_second", r->ips);
    jput(x, "wall_seconds", r->wall);
    if (isfinite(r->diverged_at)) cJSON_AddNumberToObject(x, "diverged_at_step", r->diverged_at);
    return x;
}

static cJSON *group_json(const study_t *S, const group_t *g) {
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
    cJSON *rb = cJSON_AddObjectToObject(j, "final_test_acc_robust");
    cJSON_AddNumberToObject(rb, "n", g->test.n);
    cJSON_AddItemToObject(rb, "mean", est_json(&g->boot_mean));
    cJSON_AddItemToObject(rb, "iqm", est_json(&g->iqm));
    cJSON *tt = cJSON_AddArrayToObject(j, "time_to_targets");
    for (int q = 0; q < S->ntargets; q++) {
        const ttt_t *t = &g->tt[q];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "target_acc", S->targets[q]);
        cJSON_AddNumberToObject(o, "runs", t->runs);
        cJSON_AddNumberToObject(o, "reached", t->reached);
        cJSON_AddBoolToObject(o, "median_missed", isinf(t->med_ep));
        jput(o, "median_epochs", t->med_ep);
        jput(o, "median_steps", t->med_steps);
        jput(o, "min_epochs", t->min_ep);
        jput(o, "max_epochs", t->max_ep);
        cJSON_AddItemToArray(tt, o);
    }
    cJSON *rl = cJSON_AddArrayToObject(j, "run_list");
    for (int i = 0; i < g->nruns; i++) cJSON_AddItemToArray(rl, run_entry_json(S, &S->runs[g->idx[i]]));
    return j;
}

static cJSON *welch_json(const welch_t *w) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "a", w->a);
    cJSON_AddStringToObject(j, "b", w->b);
    cJSON_AddStringToObject(j, "metric", "final_test_acc");
    cJSON_AddNumberToObject(j, "n_a", w->na);
    cJSON_AddNumberToObject(j, "n_b", w->nb);
    jput(j, "diff", w->diff);
    cJSON_AddItemToObject(j, "diff_ci95", jpair(w->lo, w->hi));
    jput(j, "t", w->t);
    jput(j, "df", w->df);
    jput(j, "p", w->p);
    jput(j, "p_holm", w->p_holm);
    jput(j, "hedges_g", w->g);
    cJSON_AddItemToObject(j, "mean_diff", est_json(&w->dmean));
    cJSON_AddItemToObject(j, "iqm_diff", est_json(&w->diqm));
    jput(j, "mann_whitney_u", w->u);
    cJSON_AddItemToObject(j, "prob_improvement", est_json(&w->poi));
    const paired_t *pr = &w->pr;
    cJSON *p = cJSON_AddObjectToObject(j, "paired");
    cJSON_AddNumberToObject(p, "n", pr->n);
    cJSON_AddNumberToObject(p, "pairs_traced", pr->traced);
    cJSON_AddNumberToObject(p, "pairs_same_start", pr->verified);
    cJSON_AddNumberToObject(p, "traced_steps_compared", pr->steps);
    jput(p, "mean_diff", pr->mean);
    jput(p, "sd_diff", pr->sd);
    cJSON_AddItemToObject(p, "diff_ci95", jpair(pr->lo, pr->hi));
    cJSON_AddItemToObject(p, "diff_ci95_bootstrap", jpair(pr->boot.lo, pr->boot.hi));
    jput(p, "t", pr->t);
    jput(p, "df", pr->df);
    jput(p, "p", pr->p);
    jput(p, "p_holm", pr->p_holm);
    return j;
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
    cJSON *bs = cJSON_AddObjectToObject(o, "bootstrap");
    cJSON_AddNumberToObject(bs, "resamples", S->boot.B);
    cJSON_AddNumberToObject(bs, "seed", (double)S->boot.seed);
    cJSON_AddStringToObject(bs, "rng", "gsl_rng_mt19937");
    cJSON_AddStringToObject(bs, "method", "percentile 95 % intervals; stratified: each group's finished runs resampled "
                                          "on their own (gsl_ran_sample, with replacement); pairs resample seeds");
    cJSON_AddStringToObject(o, "pairing", pairing_words());
    jput(o, "target_acc", S->target);
    if (S->target_rule[0]) cJSON_AddStringToObject(o, "target_rule", S->target_rule);
    cJSON *ts = cJSON_AddArrayToObject(o, "targets");
    for (int j = 0; j < S->ntargets; j++) cJSON_AddItemToArray(ts, cJSON_CreateNumber(S->targets[j]));
    if (S->compare_to) cJSON_AddStringToObject(o, "compare_to", S->compare_to);
    cJSON *gs = cJSON_AddArrayToObject(o, "groups");
    for (int k = 0; k < S->ng; k++) cJSON_AddItemToArray(gs, group_json(S, &S->g[k]));
    cJSON *cs = cJSON_AddArrayToObject(o, "comparisons");
    for (int i = 0; i < S->nw; i++) cJSON_AddItemToArray(cs, welch_json(&S->w[i]));
    if (S->twin.n) {
        const twin_t *tw = &S->twin;
        cJSON *tj = cJSON_AddObjectToObject(o, "torch_twin");
        cJSON_AddStringToObject(tj, "label", TWIN_LABEL);
        cJSON_AddStringToObject(tj, "source", "twin/*.json (bench/run_twin.py: bench/torch_train.py, SGD, the same recipe)");
        cJSON_AddStringToObject(tj, "torch", tw->torch);
        cJSON_AddStringToObject(tj, "device", tw->device);
        cJSON_AddStringToObject(tj, "lr", tw->lr);
        cJSON *acc = cJSON_AddArrayToObject(tj, "final_test_acc");
        for (int i = 0; i < tw->n; i++) cJSON_AddItemToArray(acc, cJSON_CreateNumber(tw->acc[i]));
        jput(tj, "mean", tw->test.mean);
        jput(tj, "sd", tw->test.sd);
        if (tw->vs.na) cJSON_AddItemToObject(tj, "sgd_minus_twin", welch_json(&tw->vs));
    }
    cJSON *pr = cJSON_AddObjectToObject(o, "paper_reference");
    cJSON_AddStringToObject(pr, "label", PAPER_LABEL);
    cJSON_AddStringToObject(pr, "optimizer", "daoe");
    cJSON_AddNumberToObject(pr, "final_test_acc", PAPER_ACC);
    cJSON_AddStringToObject(pr, "setting", PAPER_SETTING);
    cJSON_AddBoolToObject(pr, "comparable_with_these_runs", paper_comparable(S));
    return o;
}

/* ------------------------------------------------------------------ the tables */
/* per group: counts, and the statistics of one desc_t of group_t (at off; scale 100: percent) */
enum { D_GROUP, D_RUNS, D_FIN, D_DIV, D_INC, D_N, D_MEAN, D_SD, D_CI, D_MIN, D_MAX, D_NCOL };
static const column_t DESC_COLS[D_NCOL] = {
    {"group", "Group", 'l'},       {"runs", "runs", 'r'}, {"finished", "finished", 'r'}, {"diverged", "diverged", 'r'},
    {"incomplete", "incomplete", 'r'}, {"n", "$n$", 'r'}, {"mean", "mean", 'r'},       {"sd", "sd", 'r'},
    {"95 % CI", "95\\% CI", 'c'},  {"min", "min", 'r'},   {"max", "max", 'r'}};
static const int DESC_MD_NOCOUNTS[] = {D_GROUP, D_N, D_MEAN, D_SD, D_CI, D_MIN, D_MAX};
static const int DESC_TEX[] = {D_GROUP, D_N, D_DIV, D_MEAN, D_SD, D_CI, D_MIN, D_MAX};

/* a row's statistics columns (n to max) from d */
static void desc_cells(cell_t *c, const desc_t *d, double scale, int dec) {
    cell_printf(&c[D_N], "%d", d->n);
    cell_num(&c[D_MEAN], d->mean * scale, dec);
    cell_num(&c[D_SD], d->sd * scale, dec);
    cell_interval(&c[D_CI], d->lo * scale, d->hi * scale, dec);
    cell_num(&c[D_MIN], d->min * scale, dec);
    cell_num(&c[D_MAX], d->max * scale, dec);
}

static void desc_table(table_t *t, const study_t *S, size_t off, double scale, int dec, int paper_row) {
    table_init(t, DESC_COLS, D_NCOL);
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        cell_t *c = table_row(t, 0);
        cell_printf(&c[D_GROUP], "%s", label(g->name));
        cell_printf(&c[D_RUNS], "%d", g->nruns);
        cell_printf(&c[D_FIN], "%d", g->nfin);
        cell_printf(&c[D_DIV], "%d", g->ndiv);
        cell_printf(&c[D_INC], "%d", g->ninc);
        desc_cells(c, (const desc_t *)((const char *)g + off), scale, dec);
    }
    if (paper_row && S->twin.n) {
        cell_t *c = table_row(t, 1);
        cell_printf(&c[D_GROUP], "%s (torch %s)", TWIN_LABEL, S->twin.torch);
        cell_printf(&c[D_RUNS], "%d", S->twin.n);
        cell_printf(&c[D_FIN], "%d", S->twin.n);
        desc_cells(c, &S->twin.test, scale, dec);
    }
    if (paper_row) {
        cell_t *c = table_row(t, 1);
        cell_printf(&c[D_GROUP], "%s", PAPER_LABEL);
        cell_num(&c[D_MEAN], 100.0 * PAPER_ACC, dec);
    }
}

/* the reference group against every other, on final test accuracy (points) */
enum { W_CMP, W_N, W_DIFF, W_CI, W_T, W_DF, W_P, W_HOLM, W_G, W_NCOL };
static const column_t WELCH_COLS[W_NCOL] = {
    {"comparison", "Comparison", 'l'}, {"n", "$n$", 'l'},   {"difference (points)", "diff.", 'r'},
    {"95 % CI", "95\\% CI", 'c'},      {"t", "$t$", 'r'},   {"df", "df", 'r'},
    {"p", "$p$", 'r'},                 {"p (Holm)", "$p_\\text{Holm}$", 'r'}, {"Hedges' g", "$g$", 'r'}};
static const int WELCH_TEX[] = {W_CMP, W_DIFF, W_CI, W_T, W_DF, W_P, W_HOLM, W_G};

static void welch_table(table_t *t, const study_t *S) {
    table_init(t, WELCH_COLS, W_NCOL);
    for (int i = 0; i < S->nw; i++) {
        const welch_t *w = &S->w[i];
        cell_t *c = table_row(t, 0);
        cell_diff(&c[W_CMP], label(w->a), label(w->b));
        cell_printf(&c[W_N], "%d, %d", w->na, w->nb);
        if (isfinite(w->diff)) cell_printf(&c[W_DIFF], "%+.2f", 100 * w->diff);
        if (isfinite(w->lo)) cell_printf(&c[W_CI], "[%+.2f, %+.2f]", 100 * w->lo, 100 * w->hi);
        cell_num(&c[W_T], w->t, 2);
        cell_num(&c[W_DF], w->df, 1);
        cell_pval(&c[W_P], w->p);
        cell_pval(&c[W_HOLM], w->p_holm);
        cell_num(&c[W_G], w->g, 2);
    }
}

/* DAO-E groups: mean alpha and update share of every member in the last epoch, over finished runs */
static void mixing_table(table_t *t, const study_t *S) {
    static char head[2][DAOE_K][32];
    column_t cols[1 + 2 * DAOE_K] = {{"group", "group", 'l'}};
    int nc = 1;
    for (int q = 0; q < 2; q++)
        for (int m = 0; m < DAOE_K; m++) {
            if (!((S->members >> m) & 1u)) continue;
            snprintf(head[q][m], sizeof head[q][m], "%s %s", q ? "share" : "alpha", daoe_member_names[m]);
            cols[nc++] = (column_t){head[q][m], head[q][m], 'r'};
        }
    table_init(t, cols, nc);
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        if (strcmp(g->optimizer, "daoe") || !g->nfin) continue;
        cell_t *c = table_row(t, 0);
        cell_printf(&c[0], "%s", label(g->name));
        for (int q = 0, j = 1; q < 2; q++)
            for (int m = 0; m < DAOE_K; m++)
                if ((S->members >> m) & 1u) cell_num(&c[j++], mixing_mean(S, g, 0, q, m, -1), 3);
    }
}

/* DAO-E's mean update share per member over the traced steps in [lo, hi) of the run's length
 * (fractions of its last traced step), averaged over its finished runs that traced a step there
 * (their number is returned; none: NaN shares). A sparse trace can leave a window empty (trace
 * every 10 of 16 steps: steps 1 and 10, the first at 0.1 of the last); such a run is not counted. */
static int share_window(const study_t *S, const group_t *g, double lo, double hi, double share[DAOE_K]) {
    int runs = 0;
    for (int m = 0; m < DAOE_K; m++) share[m] = 0;
    for (int i = 0; i < g->nfin; i++) {
        stats_run_t *r = &S->runs[g->fin[i]];
        load_trace(r);
        if (r->tr.n < 2) continue;
        double last = r->tr.step[r->tr.n - 1], sum[DAOE_K] = {0};
        int n[DAOE_K] = {0}, any = 0;
        for (int k = 0; k < r->tr.n; k++) {
            double f = r->tr.step[k] / last;
            if (f < lo || f >= hi) continue;
            for (int m = 0; m < DAOE_K; m++)
                if (isfinite(r->tr.share[m][k])) sum[m] += r->tr.share[m][k], n[m]++, any = 1;
        }
        if (!any) continue;
        for (int m = 0; m < DAOE_K; m++) share[m] += n[m] ? sum[m] / n[m] : 0;
        runs++;
    }
    for (int m = 0; m < DAOE_K; m++) share[m] = runs ? share[m] / runs : NAN;
    return runs;
}

/* the member with the largest share (-1: none), every member's share in words, and *lead: how
 * far it is ahead of the next (in share) */
static int share_words(const study_t *S, const double share[DAOE_K], char *buf, size_t n, double *lead) {
    int top = -1;
    size_t len = 0;
    buf[0] = 0;
    for (int m = 0; m < DAOE_K; m++) {
        if (!((S->members >> m) & 1u) || !isfinite(share[m])) continue;
        if (top < 0 || share[m] > share[top]) top = m;
        if (len < n) len += (size_t)snprintf(buf + len, n - len, "%s%s %.0f %%", len ? ", " : "",
                                             label(daoe_member_names[m]), 100 * share[m]);
    }
    double next = 0;
    for (int m = 0; m < DAOE_K; m++)
        if (m != top && ((S->members >> m) & 1u) && isfinite(share[m]) && share[m] > next) next = share[m];
    *lead = top >= 0 ? share[top] - next : 0;
    return top;
}

/* the answer cell: the leading member, or that none leads by 5 points */
static void lead_answer(cell_t *c, int top, double lead) {
    if (lead >= 0.05) cell_printf(c, "%s", label(daoe_member_names[top]));
    else cell_printf(c, "none clearly: %s by %.1f points", label(daoe_member_names[top]), 100 * lead);
}

/* appends to a comma-separated list in buf (cap bytes, NUL-terminated) */
static void list_add(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void list_add(char *buf, size_t cap, const char *fmt, ...) {
    size_t used = strlen(buf);
    if (used && used + 2 < cap) memcpy(buf + used, ", ", 3), used += 2;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

/* The paper's two claims at this scale, from the numbers above: does DAO-E beat each baseline
 * (Welch, Holm-corrected, 5 %), and do Adam/RMSProp supply most of its update early and SGD late
 * (the update shares of its alpha.csv over the first and last 10 % of the steps)? Only for a
 * compare sweep whose reference group is DAO-E. */
static void claims_table(tables_t *T, const study_t *S) {
    table_t *t = &T->claims;
    const column_t cols[] = {{"question", "Question", 'l'}, {"answer", "Answer", 'l'}, {"evidence", "Evidence", 'l'}};
    table_init(t, cols, 3);
    T->claims_text[0] = 0;
    const group_t *d = S->compare_to ? find_group(S, S->compare_to) : NULL;
    if (is_tune(S) || is_ablation(S) || !d || strcmp(d->optimizer, "daoe") || !S->nw) return;
    char beats[600] = "", loses[600] = "", ties[600] = "";
    /* the paired test by seed where it and Welch's disagree at 5 % (Holm): the claims rest on Welch's
     * (fixed before the runs), but a reader should not have to find a disagreement in the tables */
    char unconfirmed[600] = "", paired_only[600] = "";
    for (int i = 0; i < S->nw; i++) {
        const welch_t *w = &S->w[i];
        int d_left = !strcmp(w->a, d->name); /* differences below are DAO-E minus the other */
        const char *other = d_left ? w->b : w->a;
        double diff = d_left ? w->diff : -w->diff;
        double lo = d_left ? w->lo : -w->hi, hi = d_left ? w->hi : -w->lo;
        int sig = isfinite(w->p_holm) && w->p_holm < 0.05;
        cell_t *c = table_row(t, 0);
        cell_printf(&c[0], "Does DAO-E beat %s?", label(other));
        if (!isfinite(w->p_holm)) cell_printf(&c[1], "cannot tell (fewer than 2 runs on a side)");
        else if (sig && diff > 0) cell_printf(&c[1], "yes");
        else if (sig) cell_printf(&c[1], "no: %s is better", label(other));
        else cell_printf(&c[1], "not shown: no difference detectable with %d and %d runs", w->na, w->nb);
        if (isfinite(w->p_holm))
            cell_printf(&c[2], "DAO-E − %s = %+.2f points, 95 %% CI [%+.2f, %+.2f], Welch p = %.3g, Holm p = %.3g",
                        label(other), 100 * diff, 100 * lo, 100 * hi, w->p, w->p_holm);
        /* the paragraph names each baseline with its mean and DAO-E's difference, so it reads without the tables */
        char *dst = !isfinite(w->p_holm) ? NULL : sig && diff > 0 ? beats : sig ? loses : ties;
        const group_t *og = find_group(S, other);
        if (dst)
            list_add(dst, sizeof beats, "%s (%.2f %%: %+.2f points, Holm p = %.2g)", label(other),
                     og ? 100 * og->test.mean : NAN, 100 * diff, w->p_holm);
        const paired_t *pr = &w->pr;
        if (dst && pr->n >= 2 && isfinite(pr->p_holm)) {
            double pdiff = d_left ? pr->mean : -pr->mean;
            int psig = pr->p_holm < 0.05, same = psig == sig && (!sig || (pdiff > 0) == (diff > 0));
            char *pd = same ? NULL : sig ? unconfirmed : paired_only;
            if (pd)
                list_add(pd, sizeof unconfirmed, "%s (%+.2f points over %d seeds, Holm p = %.2g)", label(other),
                         100 * pdiff, pr->n, pr->p_holm);
        }
    }
    double early[DAOE_K], late[DAOE_K];
    char we[300], wl[300];
    int runs = share_window(S, d, 0.0, 0.1, early), runs_late = share_window(S, d, 0.9, 1.0 + 1e-9, late);
    memcpy(T->claims_share[0], early, sizeof early);
    memcpy(T->claims_share[1], late, sizeof late);
    T->claims_share_runs[0] = runs;
    T->claims_share_runs[1] = runs_late;
    double le = 0, ll = 0;
    int te = runs ? share_words(S, early, we, sizeof we, &le) : -1;
    int tl = runs_late ? share_words(S, late, wl, sizeof wl, &ll) : -1;
    const char *qe = "Early (first 10 % of the steps): which member supplies most of DAO-E's update?";
    const char *ql = "Late (last 10 % of the steps): which member supplies most of DAO-E's update?";
    cell_t *c = table_row(t, 0);
    cell_printf(&c[0], "%s", qe);
    if (te >= 0) lead_answer(&c[1], te, le), cell_printf(&c[2], "update shares: %s", we);
    else cell_printf(&c[1], "cannot tell: no finished DAO-E run traced a step in this window (alpha.csv)");
    c = table_row(t, 0);
    cell_printf(&c[0], "%s", ql);
    if (tl >= 0) lead_answer(&c[1], tl, ll), cell_printf(&c[2], "update shares: %s", wl);
    else cell_printf(&c[1], "cannot tell: no finished DAO-E run traced a step in this window (alpha.csv)");
    /* a member leads when it is 5 points ahead of the next */
    int adaptive_early = te >= 0 && le >= 0.05 &&
                         (!strcmp(daoe_member_names[te], "adam") || !strcmp(daoe_member_names[te], "rmsprop"));
    int sgd_late = tl >= 0 && ll >= 0.05 && !strcmp(daoe_member_names[tl], "sgd");
    c = table_row(t, 0);
    cell_printf(&c[0], "The paper's pattern: Adam/RMSProp early, SGD late?");
    if (te >= 0 && tl >= 0)
        cell_printf(&c[1], "%s", adaptive_early && sgd_late ? "yes" : adaptive_early || sgd_late ? "in part" : "no");
    else cell_printf(&c[1], "cannot tell");
    if (runs == runs_late)
        cell_printf(&c[2], "over %d finished DAO-E run(s), mean of each run's shares in the window", runs);
    else cell_printf(&c[2], "mean of each run's shares in the window, over %d finished DAO-E run(s) early, %d late", runs,
                     runs_late);
    /* the paragraph */
    size_t len = 0, cap = sizeof T->claims_text;
    char *p = T->claims_text;
    /* a table still filling (runs planned in sweep.json that have not ended) answers provisionally */
    int planned, left = tune_unfinished(S, &planned);
    if (left > 0)
        len += (size_t)snprintf(p + len, cap - len,
                                "Provisional: %d of the %d runs planned have ended, so these answers may change as the "
                                "rest end. ",
                                planned - left, planned);
    len += (size_t)snprintf(p + len, cap - len,
                            "At this scale, in final test accuracy (Welch tests, Holm-corrected at 5 %%), DAO-E (%.2f %% "
                            "mean over %d run%s) ",
                            100 * d->test.mean, d->test.n, d->test.n == 1 ? "" : "s");
    if (beats[0]) len += (size_t)snprintf(p + len, cap - len, "beats %s", beats);
    if (loses[0]) len += (size_t)snprintf(p + len, cap - len, "%sis beaten by %s", beats[0] ? "; it " : "", loses);
    if (ties[0])
        len += (size_t)snprintf(p + len, cap - len, "%sdoes not differ detectably from %s", beats[0] || loses[0] ? "; it " : "",
                                ties);
    if (len < cap)
        len += (size_t)snprintf(p + len, cap - len, "%s. ", loses[0] ? ": there the baselines win" : "");
    if (unconfirmed[0] && len < cap)
        len += (size_t)snprintf(p + len, cap - len,
                                "The paired test by seed (a seed's runs share their initial weights and data order) "
                                "does not confirm the difference from %s at 5 %% after Holm. ",
                                unconfirmed);
    if (paired_only[0] && len < cap)
        len += (size_t)snprintf(p + len, cap - len,
                                "The paired test by seed finds a difference from %s that Welch's test does not. ",
                                paired_only);
    if (te >= 0 && tl >= 0 && len < cap)
        snprintf(p + len, cap - len,
                 "The largest part of its update comes from %s early%s and from %s late%s, so the paper's pattern "
                 "(Adam/RMSProp early, SGD late) %s.",
                 label(daoe_member_names[te]), le < 0.05 ? " (by less than 5 points)" : "", label(daoe_member_names[tl]),
                 ll < 0.05 ? " (by less than 5 points)" : "",
                 adaptive_early && sgd_late ? "holds here" : adaptive_early || sgd_late ? "holds only in part here"
                                                                                      : "does not hold here");
    else if (len < cap)
        snprintf(p + len, cap - len,
                 "Whether Adam/RMSProp supply most of its update early and SGD late cannot be told: no finished "
                 "DAO-E run traced a step in the %s.",
                 te < 0 && tl < 0 ? "first or the last 10 % of its steps" : te < 0 ? "first 10 % of its steps"
                                                                               : "last 10 % of its steps");
}

/* tune: per optimizer, the chosen grid point and its arguments */
static void tuned_table(table_t *t, const study_t *S, int use_best) {
    static char head[64];
    snprintf(head, sizeof head, "%s validation accuracy (%%)", use_best ? "best" : "final");
    const column_t cols[] = {{"optimizer", "optimizer", 'l'}, {"chosen", "chosen", 'l'},
                             {"arguments", "arguments", 'l'}, {head, head, 'r'}, {"n", "n", 'r'}};
    table_init(t, cols, 5);
    for (int k = 0; k < S->ng; k++) {
        int first = 1;
        for (int q = 0; q < k; q++) first &= strcmp(S->g[q].optimizer, S->g[k].optimizer) != 0;
        if (!first) continue;
        const group_t *w = tune_winner(S, S->g[k].optimizer, use_best);
        cell_t *c = table_row(t, 0);
        cell_printf(&c[0], "%s", label(S->g[k].optimizer));
        cell_printf(&c[1], "%s", w ? w->name : "none eligible");
        daoe_strbuf a = {0};
        daoe_sb_printf(&a, "`");
        for (const cJSON *e = w && w->setting_args ? w->setting_args->child : NULL; e; e = e->next)
            daoe_sb_printf(&a, "%s%s", e == w->setting_args->child ? "" : " ", cJSON_IsString(e) ? e->valuestring : "?");
        daoe_sb_printf(&a, "`");
        cell_printf(&c[2], "%s", a.s);
        daoe_sb_free(&a);
        cell_num(&c[3], w ? 100.0 * (use_best ? w->best_val.mean : w->val.mean) : NAN, 2);
        cell_printf(&c[4], "%d", w ? w->val.n : 0);
    }
}

/* the robust statistics of each group's final test accuracy (percent) */
static void boot_table(table_t *t, const study_t *S) {
    const column_t cols[] = {{"group", "Group", 'l'},   {"n", "$n$", 'r'},
                             {"mean", "mean", 'r'},     {"95 % CI (bootstrap)", "95\\% CI (bootstrap)", 'c'},
                             {"IQM", "IQM", 'r'},       {"95 % CI of the IQM (bootstrap)", "95\\% CI (bootstrap)", 'c'}};
    table_init(t, cols, 6);
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        cell_t *c = table_row(t, 0);
        cell_printf(&c[0], "%s", label(g->name));
        cell_printf(&c[1], "%d", g->test.n);
        cell_num(&c[2], 100 * g->boot_mean.est, 2);
        cell_interval(&c[3], 100 * g->boot_mean.lo, 100 * g->boot_mean.hi, 2);
        cell_num(&c[4], 100 * g->iqm.est, 2);
        cell_interval(&c[5], 100 * g->iqm.lo, 100 * g->iqm.hi, 2);
    }
}

static void cell_signed_interval(cell_t *c, double lo, double hi) {
    if (isfinite(lo)) cell_printf(c, "[%+.2f, %+.2f]", lo, hi);
}

/* per comparison: differences of means and IQMs, the probability of improvement */
static void robust_table(table_t *t, const study_t *S) {
    const column_t cols[] = {{"comparison", "Comparison", 'l'},
                             {"n", "$n$", 'l'},
                             {"mean diff. (points)", "mean diff.", 'r'},
                             {"95 % CI (bootstrap)", "95\\% CI", 'c'},
                             {"IQM diff. (points)", "IQM diff.", 'r'},
                             {"95 % CI of the IQM diff. (bootstrap)", "95\\% CI", 'c'},
                             {"U", "$U$", 'r'},
                             {"P(left > right)", "$P(X > Y)$", 'r'},
                             {"95 % CI of P (bootstrap)", "95\\% CI", 'c'}};
    table_init(t, cols, 9);
    for (int i = 0; i < S->nw; i++) {
        const welch_t *w = &S->w[i];
        cell_t *c = table_row(t, 0);
        cell_diff(&c[0], label(w->a), label(w->b));
        cell_printf(&c[1], "%d, %d", w->na, w->nb);
        if (isfinite(w->dmean.est)) cell_printf(&c[2], "%+.2f", 100 * w->dmean.est);
        cell_signed_interval(&c[3], 100 * w->dmean.lo, 100 * w->dmean.hi);
        if (isfinite(w->diqm.est)) cell_printf(&c[4], "%+.2f", 100 * w->diqm.est);
        cell_signed_interval(&c[5], 100 * w->diqm.lo, 100 * w->diqm.hi);
        cell_num(&c[6], w->u, 1);
        cell_num(&c[7], w->poi.est, 3);
        cell_interval(&c[8], w->poi.lo, w->poi.hi, 3);
    }
}

/* per comparison: the per-seed differences */
static void paired_table(table_t *t, const study_t *S) {
    const column_t cols[] = {{"comparison", "Comparison", 'l'},
                             {"seeds", "seeds", 'r'},
                             {"same start (alpha.csv)", "same start", 'l'},
                             {"mean diff. (points)", "mean diff.", 'r'},
                             {"sd", "sd", 'r'},
                             {"95 % CI (t)", "95\\% CI ($t$)", 'c'},
                             {"t", "$t$", 'r'},
                             {"df", "df", 'r'},
                             {"p", "$p$", 'r'},
                             {"p (Holm)", "$p_\\text{Holm}$", 'r'},
                             {"95 % CI (bootstrap)", "95\\% CI (bootstrap)", 'c'}};
    table_init(t, cols, 11);
    for (int i = 0; i < S->nw; i++) {
        const paired_t *p = &S->w[i].pr;
        cell_t *c = table_row(t, 0);
        cell_diff(&c[0], label(S->w[i].a), label(S->w[i].b));
        cell_printf(&c[1], "%d", p->n);
        if (!p->n) cell_printf(&c[2], "no common seed");
        else if (p->verified == p->n) cell_printf(&c[2], "yes: %d of %d pairs (%d steps)", p->verified, p->n, p->steps);
        else if (p->traced == p->verified) cell_printf(&c[2], "not traced: %d of %d pairs shown", p->verified, p->n);
        else cell_printf(&c[2], "NO: %d of %d pairs differ", p->traced - p->verified, p->n);
        if (isfinite(p->mean)) cell_printf(&c[3], "%+.2f", 100 * p->mean);
        cell_num(&c[4], 100 * p->sd, 2);
        cell_signed_interval(&c[5], 100 * p->lo, 100 * p->hi);
        cell_num(&c[6], p->t, 2);
        cell_num(&c[7], p->df, 0);
        cell_pval(&c[8], p->p);
        cell_pval(&c[9], p->p_holm);
        cell_signed_interval(&c[10], 100 * p->boot.lo, 100 * p->boot.hi);
    }
}

/* per group and target: runs that reached it, median epochs and steps (misses infinitely slow) */
static void ttt_table(table_t *t, const study_t *S) {
    static char head[MAX_TARGETS][2][48];
    column_t cols[1 + MAX_TARGETS] = {{"group", "Group", 'l'}};
    for (int j = 0; j < S->ntargets; j++) {
        snprintf(head[j][0], sizeof head[j][0], "≥ %.0f %%", 100 * S->targets[j]);
        snprintf(head[j][1], sizeof head[j][1], "$\\ge$ %.0f\\%%", 100 * S->targets[j]);
        cols[1 + j] = (column_t){head[j][0], head[j][1], 'l'};
    }
    table_init(t, cols, 1 + S->ntargets);
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        cell_t *c = table_row(t, 0);
        cell_printf(&c[0], "%s", label(g->name));
        for (int j = 0; j < S->ntargets; j++) {
            const ttt_t *q = &g->tt[j];
            if (!q->runs) continue;
            if (!q->reached) cell_printf(&c[1 + j], "0/%d: missed", q->runs);
            else if (isinf(q->med_ep))
                cell_printf(&c[1 + j], "%d/%d: median missed (fastest %.0f ep)", q->reached, q->runs, q->min_ep);
            else if (q->min_ep == q->max_ep)
                cell_printf(&c[1 + j], "%d/%d: %.3g ep, %.0f steps", q->reached, q->runs, q->med_ep, q->med_steps);
            else
                cell_printf(&c[1 + j], "%d/%d: %.3g ep, %.0f steps (%.0f–%.0f ep)", q->reached, q->runs, q->med_ep,
                            q->med_steps, q->min_ep, q->max_ep);
        }
    }
}

/* every run, by group, with its raw files (HTML only) */
static void runs_table(table_t *t, const study_t *S) {
    const column_t cols[] = {{"run", "run", 'l'},           {"seed", "seed", 'r'},     {"status", "status", 'l'},
                             {"test acc", "test acc", 'r'}, {"val acc", "val acc", 'r'}, {"epochs", "epochs", 'r'},
                             {"img/s", "img/s", 'r'},       {"wall (s)", "wall (s)", 'r'},
                             {"raw files", "raw files", 'l'}};
    table_init(t, cols, 9);
    t->links = 1 + RUN_FILES_COL;
    const char *files[] = {"config.json", "summary.json", "epochs.csv", "alpha.csv", "sweep_run.json", "train.log"};
    for (int k = 0; k < S->ng; k++)
        for (int i = 0; i < S->g[k].nruns; i++) {
            const stats_run_t *r = &S->runs[S->g[k].idx[i]];
            cell_t *c = table_row(t, 0);
            cell_printf(&c[0], "%s", r->id);
            cell_printf(&c[1], "%s", r->seed);
            if (isfinite(r->diverged_at)) cell_printf(&c[2], "%s (step %.0f)", r->status, r->diverged_at);
            else cell_printf(&c[2], "%s", r->status);
            /* tuning runs choose on validation: their test accuracy stays out of sight */
            if (is_tune(S)) cell_printf(&c[3], "·");
            else cell_num(&c[3], 100.0 * r->test_acc, 2);
            cell_num(&c[4], 100.0 * r->val_acc, 2);
            cell_printf(&c[5], "%d/%d", r->epochs_completed, r->epochs_planned);
            cell_num(&c[6], r->ips, 1);
            cell_num(&c[7], r->wall, 1);
            daoe_strbuf f = {0};
            for (size_t q = 0; q < sizeof files / sizeof files[0]; q++) {
                char p[2400];
                snprintf(p, sizeof p, "%s/%s", r->dir, files[q]);
                if (access(p, R_OK) == 0) daoe_sb_printf(&f, "%s%s/%s", f.len ? " " : "", r->id, files[q]);
            }
            if (f.s) cell_printf(&c[RUN_FILES_COL], "%s", f.s);
            daoe_sb_free(&f);
        }
}

void build_tables(tables_t *T, const study_t *S) {
    memset(T, 0, sizeof *T);
    int tune = is_tune(S);
    desc_table(&T->acc, S, tune ? offsetof(group_t, val) : offsetof(group_t, test), 100, 2, !tune);
    if (!tune) {
        desc_table(&T->val, S, offsetof(group_t, val), 100, 2, 0);
        desc_table(&T->ep_target, S, offsetof(group_t, ep_target), 1, 1, 0);
        desc_table(&T->sec_target, S, offsetof(group_t, sec_target), 1, 1, 0);
        desc_table(&T->ips, S, offsetof(group_t, ips), 1, 1, 0);
        boot_table(&T->boot, S);
        ttt_table(&T->ttt, S);
    }
    welch_table(&T->welch, S);
    robust_table(&T->robust, S);
    paired_table(&T->paired, S);
    mixing_table(&T->mixing, S);
    T->use_best = tune && !strcmp(select_on(S), "best_val_acc");
    if (tune) tuned_table(&T->tuned, S, T->use_best);
    runs_table(&T->runs, S);
    claims_table(T, S);
}

void free_tables(tables_t *T) {
    table_t *all[] = {&T->acc,  &T->val,  &T->ep_target, &T->sec_target, &T->ips,    &T->welch, &T->mixing,
                      &T->tuned, &T->runs, &T->boot,     &T->robust,     &T->paired, &T->ttt,   &T->claims};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) table_free(all[i]);
}

/* ------------------------------------------------------------------ the sections */
static section_t *add_section(section_t *sec, int *n, const char *id, const char *nav, const table_t *t,
                              const int *cols, int ncols) {
    if (*n == MAX_SECTIONS) daoe_fatal("summary: more than %d tables", MAX_SECTIONS);
    section_t *x = &sec[(*n)++];
    *x = (section_t){.id = id, .nav = nav, .t = t, .cols = cols, .ncols = ncols};
    return x;
}

static void title(section_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void title(section_t *x, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->title, sizeof x->title, fmt, ap);
    va_end(ap);
}

static void note(section_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(section_t *x, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t len = strlen(x->note);
    if (len && len + 1 < sizeof x->note) x->note[len++] = ' ', x->note[len] = 0; /* a second note: a new sentence */
    vsnprintf(x->note + len, sizeof x->note - len, fmt, ap);
    va_end(ap);
}

/* the robust statistics of the groups (beside the final accuracy) */
static void boot_section(const study_t *S, const tables_t *T, section_t *sec, int *n) {
    section_t *x = add_section(sec, n, "robust", "robust", &T->boot, NULL, 0);
    title(x, "Robust statistics: mean and interquartile mean (IQM) of final test accuracy (%%)");
    note(x, "Percentile bootstrap 95 %% intervals from %d resamples (gsl_rng mt19937, seed %lu), stratified: each "
            "group's finished runs are resampled on their own. IQM = the mean of the middle half of the runs (25 %% "
            "trimmed from each end; with fewer than 4 runs nothing is trimmed, so it is the mean). With fewer than 5 "
            "runs a bootstrap interval cannot be wider than the runs' range and says little.",
         S->boot.B, S->boot.seed);
}

/* the tuning's winners at an edge of their grid: the optimum may lie beyond it */
static void tune_edge_note(const study_t *S, section_t *x) {
    const int use_best = !strcmp(select_on(S), "best_val_acc");
    char list[1600] = "";
    size_t len = 0;
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        if (!first_of_optimizer(S, k)) continue;
        const group_t *best = tune_winner(S, g->optimizer, use_best);
        int edge = best ? tune_edge(S, g->optimizer, best->name) : 0;
        if (edge && len < sizeof list)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s (%s, its %s point%s)", len ? "; " : "",
                                    label(g->optimizer), best->name, edge < 0 ? "lowest" : "highest",
                                    tune_unfinished_of(S, g->optimizer, NULL) ? ", so far" : "");
    }
    if (len)
        note(x, "At an edge of its points, so the best rate may lie beyond them: %s. Where the profile names a point "
                "beyond that edge (grid_beyond) and it has not run, it is due: daoe-sweep runs it, and the tuning is "
                "complete only after it (one point beyond each side at most).", list);
    else
        note(x, "No optimizer's best point so far is at an edge of its grid.");
}

/* the final, validation, target and throughput tables */
static void accuracy_sections(const study_t *S, const tables_t *T, section_t *sec, int *n) {
    const int nc = sizeof DESC_MD_NOCOUNTS / sizeof DESC_MD_NOCOUNTS[0];
    section_t *x;
    if (is_tune(S)) {
        x = add_section(sec, n, "final", "final", &T->acc, NULL, 0);
        title(x, "Final validation accuracy (%%)");
        tune_edge_note(S, x);
        return;
    }
    x = add_section(sec, n, "final", "final", &T->acc, NULL, 0);
    title(x, "Final test accuracy (%%)");
    note(x, "The last row is the paper's reported DAO-E accuracy (%s), not a run of this suite; %s", PAPER_SETTING,
         paper_comparable(S) ? "these runs use the paper's setting (with a 5,000-image validation split held out)."
                             : "these runs use a smaller setting, so it is NOT comparable with them.");
    if (S->twin.n) {
        const twin_t *tw = &S->twin;
        const welch_t *w = &tw->vs;
        char cmp[400] = "there is no SGD group to compare it with.";
        if (w->na && !(w->na >= 2 && w->nb >= 2 && isfinite(w->p)))
            snprintf(cmp, sizeof cmp,
                     "our SGD minus the twin: %+.2f points (n = %d, %d): not tested yet (a Welch test needs at least 2 "
                     "runs on each side).",
                     100 * w->diff, w->na, w->nb);
        else if (w->na)
            snprintf(cmp, sizeof cmp,
                     "our SGD minus the twin: %+.2f points (95 %% CI [%+.2f, %+.2f]), Welch t = %.2f, df = %.1f, "
                     "p = %.3g (n = %d, %d)%s",
                     100 * w->diff, 100 * w->lo, 100 * w->hi, w->t, w->df, w->p, w->na, w->nb,
                     !(w->p < 0.05) ? ": within what the seeds' spread explains."
                                    : ": MORE than the seeds' spread explains (p < 0.05); find the reason before "
                                      "trusting the table.");
        note(x, "The row \"%s\" is the same recipe trained by PyTorch (bench/torch_train.py via bench/run_twin.py: "
                "torch %s on %s, SGD at lr %s, its own random numbers, %d runs), not a run of this suite; %s",
             TWIN_LABEL, tw->torch, tw->device, tw->lr, tw->n, cmp);
    }
    boot_section(S, T, sec, n);
    title(add_section(sec, n, "val", "validation", &T->val, DESC_MD_NOCOUNTS, nc), "Final validation accuracy (%%)");
    title(add_section(sec, n, "epochs-to-target", "epochs to target", &T->ep_target, DESC_MD_NOCOUNTS, nc),
          "Epochs to %.0f %% test accuracy", 100 * S->target);
    x = add_section(sec, n, "time-to-target", "time to target", &T->sec_target, DESC_MD_NOCOUNTS, nc);
    title(x, "Wall time (s, training and evaluation) to %.0f %% test accuracy", 100 * S->target);
    note(x, "n counts the finished runs that reached %.0f %% (%s); runs that never did are left out of these two "
            "tables (the next one counts them).",
         100 * S->target, S->target_rule[0] ? S->target_rule : "the profile's target_acc");
    if (S->ntargets) {
        x = add_section(sec, n, "targets", "targets", &T->ttt, NULL, 0);
        title(x, "Time to target: runs that reached each test accuracy, median epochs and steps");
        note(x, "A run reaches a target at the first evaluated epoch whose test accuracy is at least the target "
                "(steps = epochs × steps per epoch). Every finished or diverged run counts; a run that never reaches "
                "a target counts as a miss (infinitely slow), so the median is missed when half of the runs or more "
                "missed. Targets: %s.",
             S->targets_rule);
    }
    title(add_section(sec, n, "throughput", "throughput", &T->ips, DESC_MD_NOCOUNTS, nc),
          "Training throughput (images/s)");
}

/* the comparisons: Welch, then the robust ones (probability of improvement, pairs) */
static void comparison_sections(const study_t *S, const tables_t *T, section_t *sec, int *n) {
    const char *who = is_ablation(S) ? "Each variant against the full DAO-E" : "DAO-E against each baseline";
    section_t *x = add_section(sec, n, "welch", "Welch", &T->welch, NULL, 0);
    title(x, "%s (final test accuracy)", who);
    note(x, "Welch's t-test (unequal variances, Welch–Satterthwaite df), two-sided; p-values Holm-corrected over "
            "the %d comparisons; Hedges' g = J·(mean_a − mean_b)/s_pooled with J = 1 − 3/(4(n_a+n_b) − 9). "
            "Positive differences favour the left-hand group. With few seeds the tests have little power: a large "
            "p is not evidence of equality.",
         S->nw);
    if (is_tune(S)) return;
    x = add_section(sec, n, "improvement", "improvement", &T->robust, NULL, 0);
    title(x, "%s: differences and probability of improvement (final test accuracy)", who);
    note(x, "Differences of the means and of the IQMs (left − right, points) and P(left > right) = "
            "U/(n_left·n_right), U the Mann–Whitney statistic of the left group (pairs of runs in which the left "
            "one is better, ties counted 1/2): the chance that a run of the left group beats a run of the right "
            "one (0.5: no difference). Intervals: the same stratified bootstrap (each group resampled on its "
            "own).");
    x = add_section(sec, n, "paired", "paired", &T->paired, NULL, 0);
    title(x, "Paired by seed: per-seed differences of final test accuracy");
    note(x, "%s Where they do, the per-seed differences (left − right) leave out what the two runs of a seed "
            "share, so they are the more powerful comparison. Paired t-test, two-sided, Holm-corrected over the "
            "%d comparisons; the bootstrap interval resamples the seeds. Same start: the pairs whose alpha.csv "
            "show it (and the traced steps compared).",
         pairing_words(), S->nw);
}

int summary_sections(const study_t *S, const tables_t *T, section_t *sec) {
    int n = 0;
    section_t *x;
    if (T->claims.nrow) {
        x = add_section(sec, &n, "claims", "the claims", &T->claims, NULL, 0);
        title(x, "The paper's two claims at this scale");
        note(x, "%s Generated from the tables below; the paper's numbers are not used.", T->claims_text);
    }
    accuracy_sections(S, T, sec, &n);
    if (S->nw) comparison_sections(S, T, sec, &n);
    if (T->mixing.nrow) {
        x = add_section(sec, &n, "mixing", "alpha and shares", &T->mixing, NULL, 0);
        title(x, "DAO-E: alpha and update share in the last epoch (mean over finished runs)");
        note(x, "alpha is the controller's mixing weight; the share is alpha_i·|d_i| / Σ_j alpha_j·|d_j|, the part of "
                "the applied update that member supplied (SPEC 3.1).");
    }
    if (is_tune(S)) {
        x = add_section(sec, &n, "tuned", "tuned", &T->tuned, NULL, 0);
        title(x, "Tuned values (chosen on the validation split; the test set is not used)");
        int total, left = tune_left(S, &total);
        if (left)
            note(x, "The tuning is not complete: %d of its %d runs have not ended, so this is the choice so far, written "
                    "to tuned.partial.json (no profile reads it); tuned.json is written when every run has ended. Rule: "
                    "per optimizer, the grid point with the highest mean %s validation accuracy over seeds among those "
                    "with no diverged run (ties: the first in grid order).",
                 left, total, T->use_best ? "best" : "final");
        else
            note(x, "Written to tuned.json (read by profiles with lr_from). Rule: per optimizer, the grid point with the "
                    "highest mean %s validation accuracy over seeds among those with no diverged run (ties: the first in "
                    "grid order).",
                 T->use_best ? "best" : "final");
    }
    x = add_section(sec, &n, "runs", "runs", &T->runs, NULL, 0);
    title(x, "Runs");
    if (is_tune(S)) note(x, "(Test accuracies of tuning runs are in summary.json, and deliberately not shown here.)");
    return n;
}

/* "Not complete: ..." when runs planned (sweep.json) or run folders have not ended; 0 when all have */
int incomplete_words(const study_t *S, char *out, size_t n) {
    int planned, left = tune_unfinished(S, &planned);
    if (left > 0)
        snprintf(out, n, "Not complete: %d of the %d runs planned (sweep.json) have ended; every number below is from those.",
                 planned - left, planned);
    return left > 0;
}

/* ------------------------------------------------------------------ summary.md */
static void md_header(daoe_strbuf *b, const study_t *S) {
    char sw[1024];
    setting_words(S, sw, sizeof sw);
    daoe_sb_printf(b, "## Results: %s (%s)\n\n", S->profile ? S->profile : S->dir, S->kind);
    daoe_sb_printf(b, "Generated by `daoe-stats %s` from %d run folders; do not edit by hand.  \n", S->dir, S->nruns);
    char inc[200];
    if (incomplete_words(S, inc, sizeof inc)) daoe_sb_printf(b, "**%s**  \n", inc);
    daoe_sb_printf(b, "Setting: %s.  \n", sw);
    if (S->nruns) {
        int same = 1;
        for (int i = 1; i < S->nruns; i++) same &= !strcmp(S->runs[i].software, S->runs[0].software);
        daoe_sb_printf(b, "Software: %s%s.  \n", S->runs[0].software, same ? "" : " (NOTE: not every run used this build)");
        /* every device the runs name, with its count (threads are part of it: bits differ by them) */
        int ndev = 0;
        for (int i = 0; i < S->nruns; i++) {
            const char *d = S->runs[i].device;
            int first = d[0] != 0, count = 0;
            for (int j = 0; j < S->nruns; j++) {
                if (j < i && !strcmp(S->runs[j].device, d)) first = 0;
                count += !strcmp(S->runs[j].device, d);
            }
            if (!first) continue;
            daoe_sb_printf(b, "%s%s", ndev++ ? "; " : "Device: ", d);
            if (count < S->nruns) daoe_sb_printf(b, " (%d run%s)", count, count == 1 ? "" : "s");
        }
        if (ndev) daoe_sb_printf(b, ".  \n");
    }
    double tot = 0;
    int n = 0;
    for (int i = 0; i < S->nruns; i++)
        if (isfinite(S->runs[i].wall)) tot += S->runs[i].wall, n++;
    if (n)
        daoe_sb_printf(b, "Run time: %.1f min in all (the sum of %d runs' wall times, %.1f s per run on average; "
                          "runs that ran side by side overlap).  \n", tot / 60, n, tot / n);
    daoe_sb_printf(b, "Statistics over seeds, finished runs only (diverged and unfinished runs are counted in "
                      "their own columns and listed below): mean, sample sd, 95 %% CI = mean ± t(0.975, n−1)·sd/√n. "
                      "Accuracies in %%.\n");
}

static char *summary_md(const study_t *S, const tables_t *T) {
    daoe_strbuf b = {0};
    md_header(&b, S);
    section_t sec[MAX_SECTIONS];
    int n = summary_sections(S, T, sec);
    for (int i = 0; i < n; i++) {
        md_table(&b, sec[i].title, sec[i].t, sec[i].cols, sec[i].ncols);
        if (sec[i].note[0]) daoe_sb_printf(&b, "\n%s\n", sec[i].note);
    }
    return b.s;
}

/* ------------------------------------------------------------------ summary.tex */
static char *summary_tex(const study_t *S, const tables_t *T) {
    daoe_strbuf b = {0};
    char sw[1024], cap[512], name[300];
    setting_words(S, sw, sizeof sw);
    const char *profile = S->profile ? S->profile : "";
    const char *tag = S->profile ? S->profile : "results";
    daoe_sb_printf(&b, "%% Generated by daoe-stats %s from %d run folders; do not edit. Needs \\usepackage{booktabs}.\n",
                   S->dir, S->nruns);
    daoe_sb_printf(&b, "%% Setting: %s.\n", sw);
    snprintf(cap, sizeof cap, "%s (\\%%), %s: mean, standard deviation and 95\\%% $t$ confidence interval over seeds "
                              "(finished runs; diverged runs counted).",
             is_tune(S) ? "Validation accuracy" : "Test accuracy", profile);
    snprintf(name, sizeof name, "tab:%s-acc", tag);
    tex_table(&b, cap, name, &T->acc, DESC_TEX, sizeof DESC_TEX / sizeof DESC_TEX[0]);
    if (S->nw) {
        snprintf(cap, sizeof cap, "Welch's $t$-test on final test accuracy (two-sided; Holm-corrected over %d "
                                  "comparisons); difference in points, Hedges' $g$.", S->nw);
        snprintf(name, sizeof name, "tab:%s-welch", tag);
        daoe_sb_printf(&b, "\n");
        tex_table(&b, cap, name, &T->welch, WELCH_TEX, sizeof WELCH_TEX / sizeof WELCH_TEX[0]);
    }
    if (!is_tune(S)) {
        snprintf(cap, sizeof cap, "Test accuracy (\\%%), %s: mean and interquartile mean (IQM) with percentile "
                                  "bootstrap 95\\%% intervals (%d resamples, stratified by group).", profile, S->boot.B);
        snprintf(name, sizeof name, "tab:%s-robust", tag);
        daoe_sb_printf(&b, "\n");
        tex_table(&b, cap, name, &T->boot, NULL, 0);
    }
    if (S->nw && !is_tune(S)) {
        snprintf(cap, sizeof cap, "Differences of the means and IQMs of final test accuracy (points) and the "
                                  "probability of improvement $P(X > Y) = U/(n_X n_Y)$, with percentile bootstrap "
                                  "95\\%% intervals (%d resamples, stratified by group).", S->boot.B);
        snprintf(name, sizeof name, "tab:%s-improvement", tag);
        daoe_sb_printf(&b, "\n");
        tex_table(&b, cap, name, &T->robust, NULL, 0);
    }
    return b.s;
}

/* summary.md, summary.tex, then summary.json (make's target for the whole step) */
void write_summaries(const study_t *S) {
    tables_t T;
    build_tables(&T, S);
    char *md = summary_md(S, &T), *tex = summary_tex(S, &T);
    tool_write_text(S->dir, "summary.md", md);
    tool_write_text(S->dir, "summary.tex", tex);
    cJSON *j = summary_json(S);
    if (T.claims.nrow) { /* the claims as the tables answered them: question, answer, evidence */
        cJSON *cl = cJSON_AddObjectToObject(j, "claims");
        cJSON *rows = cJSON_AddArrayToObject(cl, "rows");
        for (int r = 0; r < T.claims.nrow; r++) {
            cJSON *row = cJSON_CreateObject();
            const char *keys[] = {"question", "answer", "evidence"};
            for (int c = 0; c < 3; c++) {
                const char *txt = T.claims.cells[(size_t)r * T.claims.ncol + c].text;
                cJSON_AddStringToObject(row, keys[c], txt ? txt : "");
            }
            cJSON_AddItemToArray(rows, row);
        }
        cJSON_AddStringToObject(cl, "paragraph", T.claims_text);
        int planned, left = tune_unfinished(S, &planned);
        cJSON_AddNumberToObject(cl, "runs_planned", planned);
        cJSON_AddNumberToObject(cl, "runs_ended", planned - left);
        cJSON_AddBoolToObject(cl, "provisional", left > 0);
        /* the update shares behind the mixture claim, unrounded (null: no run traced a step there) */
        cJSON *us = cJSON_AddObjectToObject(cl, "update_shares");
        const char *win[] = {"first_10_percent", "last_10_percent"};
        for (int w = 0; w < 2; w++) {
            cJSON *o = cJSON_AddObjectToObject(us, win[w]);
            cJSON_AddNumberToObject(o, "runs", T.claims_share_runs[w]);
            for (int m = 0; m < DAOE_K; m++) {
                if (!((S->members >> m) & 1u)) continue;
                if (T.claims_share_runs[w] && isfinite(T.claims_share[w][m]))
                    cJSON_AddNumberToObject(o, daoe_member_names[m], T.claims_share[w][m]);
                else cJSON_AddNullToObject(o, daoe_member_names[m]);
            }
        }
    }
    free_tables(&T);
    tool_write_json(S->dir, "summary.json", j);
    cJSON_Delete(j);
    free(md);
    free(tex);
}

/* ------------------------------------------------------------------ tuned.json */
/* every grid point: its arguments, n, divergences and mean validation accuracy */
static cJSON *grid_json(const study_t *S, int use_best) {
    cJSON *grid = cJSON_CreateArray();
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
    return grid;
}

/* per optimizer, the winning grid point (null: none eligible) */
static cJSON *winners_json(const study_t *S, int use_best) {
    cJSON *win = cJSON_CreateObject();
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
        /* settled: every run of this optimizer's points has ended and no point beyond is due, so its
         * choice is final even while other optimizers' runs go on (bench/run_twin.py may then use
         * tuned.partial.json) */
        int left = tune_unfinished_of(S, g->optimizer, NULL);
        cJSON_AddBoolToObject(j, "settled", tune_settled(S, g->optimizer, use_best));
        int edge = tune_edge(S, g->optimizer, best->name);
        if (edge) cJSON_AddStringToObject(j, "edge", edge < 0 ? "lowest grid point" : "highest grid point");
        int due = tune_extension_due(S, g->optimizer, use_best);
        if (due) cJSON_AddStringToObject(j, "extension_due", due < 0 ? "low" : "high");
        if (left) cJSON_AddNumberToObject(j, "runs_not_ended", left);
        cJSON_AddItemToObject(win, g->optimizer, j);
    }
    return win;
}

void write_tuned(const study_t *S) {
    const char *sel = select_on(S);
    int use_best = !strcmp(sel, "best_val_acc");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "generated_by", "daoe-stats " DAOE_VERSION);
    cJSON_AddStringToObject(o, "source", S->dir);
    if (S->profile) cJSON_AddStringToObject(o, "profile", S->profile);
    const char *base = jstr(S->sweep, "base", NULL);
    if (base) cJSON_AddStringToObject(o, "base", base);
    char sw[1024];
    setting_words(S, sw, sizeof sw);
    cJSON_AddStringToObject(o, "setting", sw);
    cJSON_AddStringToObject(o, "selected_on", sel);
    cJSON_AddStringToObject(o, "rule", "per optimizer, the grid point with the highest mean final validation accuracy "
                                       "over seeds, among grid points with at least one finished run and no diverged "
                                       "run; the test set is not used");
    int total, left = tune_unfinished(S, &total);
    /* the points beyond the grid that are due: daoe-sweep reads this list and runs them */
    cJSON *ext = cJSON_CreateArray();
    for (int k = 0; k < S->ng; k++) {
        const char *opt = S->g[k].optimizer;
        if (!first_of_optimizer(S, k)) continue;
        int side = tune_extension_due(S, opt, use_best);
        const cJSON *pt = side ? tune_beyond(S, opt, side, NULL, 0) : NULL;
        if (!pt) continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "optimizer", opt);
        cJSON_AddStringToObject(e, "side", side < 0 ? "low" : "high");
        cJSON_AddStringToObject(e, "id", jstr(pt, "id", ""));
        cJSON_AddItemToObject(e, "args", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(pt, "args"), 1));
        cJSON_AddItemToArray(ext, e);
    }
    int due = cJSON_GetArraySize(ext);
    left = tune_left(S, &total); /* a point beyond that is due is a run the tuning still needs */
    cJSON_AddBoolToObject(o, "complete", left == 0);
    cJSON_AddNumberToObject(o, "runs", total);
    cJSON_AddNumberToObject(o, "runs_not_ended", left);
    cJSON_AddItemToObject(o, "winners", winners_json(S, use_best));
    cJSON_AddItemToObject(o, "grid", grid_json(S, use_best));
    cJSON_AddItemToObject(o, "extend", ext);
    /* an incomplete tuning names no winners for the profiles (lr_from reads tuned.json):
     * its choice so far goes to tuned.partial.json, and a tuned.json left from before is removed */
    char stale[PATH_MAX];
    snprintf(stale, sizeof stale, "%s/%s", S->dir, left ? "tuned.json" : "tuned.partial.json");
    if (remove(stale) == 0) fprintf(stderr, "daoe-stats: removed %s (the tuning is %scomplete)\n", stale, left ? "not " : "");
    if (left)
        fprintf(stderr, "daoe-stats: the tuning is not complete (%d of %d runs have not ended%s): its choice so far is "
                        "in tuned.partial.json; tuned.json, which profiles read, is written when every run has ended\n",
                left, total, due ? ", points beyond the grid that are due included: daoe-sweep runs them" : "");
    tool_write_json(S->dir, left ? "tuned.partial.json" : "tuned.json", o);
    cJSON_Delete(o);
}
