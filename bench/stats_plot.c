/* daoe-stats: DIR/plotdata/, what the gnuplot scripts in plots/ draw. Tab-separated files, one
 * row per group (final.tsv, throughput.tsv, ablation.tsv) or per finished run
 * (runs.tsv), per-epoch curves per group (curves_<group>.tsv), DAO-E's
 * mixing per epoch and per traced step (alpha_epoch_<group>.tsv,
 * alpha_<group>.tsv), and meta.gp: gnuplot variables (setting, groups, the
 * reference, the optimizers' display names). Groups without a finished run
 * are left out. Accuracies in percent; bands are 95 % t intervals (the mean
 * where one run gives none). */
#define _GNU_SOURCE
#include "daoe/optimizers.h"
#include "daoe/util.h"
#include "stats.h"
#include "tool.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void band(const double *x, int n, double *mean, double *lo, double *hi) {
    desc_t d = describe(x, n);
    *mean = d.mean;
    *lo = isfinite(d.lo) ? d.lo : d.mean;
    *hi = isfinite(d.hi) ? d.hi : d.mean;
}

static double or_mean(double v, double mean) { return isfinite(v) ? v : mean; }

/* ------------------------------------------------------------------ one row per group */
static void final_row(daoe_strbuf *b, int idx, const group_t *g) {
    const desc_t *d = &g->test;
    daoe_sb_printf(b, "%d\t%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%d\n", idx, g->name, d->n, 100 * d->mean,
                   isfinite(d->sd) ? 100 * d->sd : 0.0, 100 * or_mean(d->lo, d->mean), 100 * or_mean(d->hi, d->mean),
                   100 * d->min, 100 * d->max, g->ndiv);
}

static void throughput_row(daoe_strbuf *b, int idx, const group_t *g) {
    const desc_t *d = &g->ips;
    daoe_sb_printf(b, "%d\t%s\t%d\t%.3f\t%.3f\t%.3f\n", idx, g->name, d->n, d->mean, or_mean(d->lo, d->mean),
                   or_mean(d->hi, d->mean));
}

/* a variant against the full DAO-E: its accuracy and the difference (0 for the reference itself) */
static void ablation_row(daoe_strbuf *b, int idx, const group_t *g, const study_t *S) {
    const welch_t *w = NULL;
    for (int i = 0; i < S->nw; i++)
        if (!strcmp(S->w[i].a, g->name)) w = &S->w[i];
    const desc_t *d = &g->test;
    double diff = w ? 100 * w->diff : 0.0;
    daoe_sb_printf(b, "%d\t%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4g\n", idx, g->name, d->n, 100 * d->mean,
                   100 * or_mean(d->lo, d->mean), 100 * or_mean(d->hi, d->mean), diff,
                   w && isfinite(w->lo) ? 100 * w->lo : diff, w && isfinite(w->hi) ? 100 * w->hi : diff,
                   w ? w->p_holm : NAN);
}

/* every finished run, at its group's x position */
static void write_runs(const study_t *S) {
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
    tool_write_text(S->dir, "plotdata/runs.tsv", rt.s);
    daoe_sb_free(&rt);
}

/* ------------------------------------------------------------------ per epoch */
/* b into plotdata/<what>_<group>.tsv, and freed */
static void write_group_file(const study_t *S, const char *what, const group_t *g, daoe_strbuf *b) {
    char name[400];
    snprintf(name, sizeof name, "plotdata/%s_%s.tsv", what, g->name);
    tool_write_text(S->dir, name, b->s);
    daoe_sb_free(b);
}

/* the most epochs any finished run of the group has (runs of a group share the epoch count) */
static int group_epochs(const study_t *S, const group_t *g) {
    int ne = 0;
    for (int i = 0; i < g->nfin; i++)
        if (S->runs[g->fin[i]].ep.n > ne) ne = S->runs[g->fin[i]].ep.n;
    return ne;
}

/* the finite values at epoch e of one epochs_t column (at off), times scale, over the finished runs */
static int epoch_values(const study_t *S, const group_t *g, size_t off, int e, double scale, double *x) {
    int n = 0;
    for (int i = 0; i < g->nfin; i++) {
        const run_t *r = &S->runs[g->fin[i]];
        if (e >= r->ep.n) continue;
        double v = (*(double *const *)((const char *)&r->ep + off))[e];
        if (isfinite(v)) x[n++] = scale * v;
    }
    return n;
}

/* mean, band of test accuracy, training loss and validation accuracy per epoch
 * (n: the runs with a validation accuracy that epoch) */
static void write_curves(const study_t *S, const group_t *g) {
    const size_t col[3] = {offsetof(epochs_t, test), offsetof(epochs_t, loss), offsetof(epochs_t, val)};
    const double scale[3] = {100, 1, 100};
    int ne = group_epochs(S, g);
    daoe_strbuf c = {0};
    daoe_sb_printf(&c, "#epoch\tn\ttest_acc\ttest_acc_lo\ttest_acc_hi\ttrain_loss\ttrain_loss_lo\ttrain_loss_hi\t"
                       "val_acc\tval_acc_lo\tval_acc_hi\n");
    double *x = daoe_xmalloc(sizeof(double) * (size_t)g->nfin);
    for (int e = 0; e < ne; e++) {
        double m[9];
        int n = 0;
        for (int q = 0; q < 3; q++) {
            n = epoch_values(S, g, col[q], e, scale[q], x);
            band(x, n, &m[3 * q], &m[3 * q + 1], &m[3 * q + 2]);
        }
        daoe_sb_printf(&c, "%d\t%d", e + 1, n);
        for (int q = 0; q < 9; q++) {
            if (isfinite(m[q])) daoe_sb_printf(&c, "\t%.5f", m[q]);
            else daoe_sb_printf(&c, "\tnan");
        }
        daoe_sb_printf(&c, "\n");
    }
    write_group_file(S, "curves", g, &c);
    free(x);
}

static void mixing_header(daoe_strbuf *b, const char *first) {
    daoe_sb_printf(b, "%s", first);
    for (int q = 0; q < 2; q++)
        for (int m = 0; m < DAOE_K; m++) daoe_sb_printf(b, "\t%s_%s", q ? "share" : "alpha", daoe_member_names[m]);
    daoe_sb_printf(b, "\n");
}

/* every member's mean alpha, then share, at row t (0 where no run has a value) */
static void mixing_row(daoe_strbuf *b, const study_t *S, const group_t *g, int trace, int t) {
    for (int q = 0; q < 2; q++)
        for (int m = 0; m < DAOE_K; m++) {
            double v = mixing_mean(S, g, trace, q, m, t);
            daoe_sb_printf(b, "\t%.6f", isfinite(v) ? v : 0.0);
        }
}

/* DAO-E: each member's mean alpha and share per epoch (epochs.csv; 0 where no run has a value) */
static void write_alpha_epochs(const study_t *S, const group_t *g) {
    int ne = group_epochs(S, g);
    daoe_strbuf a = {0};
    mixing_header(&a, "#epoch\tn");
    for (int e = 0; e < ne; e++) {
        int n = 0;
        for (int i = 0; i < g->nfin; i++) n += e < S->runs[g->fin[i]].ep.n;
        daoe_sb_printf(&a, "%d\t%d", e + 1, n);
        mixing_row(&a, S, g, 0, e);
        daoe_sb_printf(&a, "\n");
    }
    write_group_file(S, "alpha_epoch", g, &a);
}

/* DAO-E: the same per traced step (alpha.csv), over the steps every run traced;
 * returns 0 when some run has no trace */
static int write_alpha_trace(study_t *S, const group_t *g) {
    int nt = INT_MAX;
    for (int i = 0; i < g->nfin; i++) {
        load_trace(&S->runs[g->fin[i]]);
        if (S->runs[g->fin[i]].tr.n < nt) nt = S->runs[g->fin[i]].tr.n;
    }
    if (nt <= 0 || nt == INT_MAX) return 0;
    daoe_strbuf a = {0};
    mixing_header(&a, "#step\tepoch\tn");
    const run_t *r0 = &S->runs[g->fin[0]];
    int spe = r0->steps_per_epoch;
    for (int t = 0; t < nt; t++) {
        double step = r0->tr.step[t];
        daoe_sb_printf(&a, "%.0f\t%.5f\t%d", step, spe > 0 ? step / spe : step, g->nfin);
        mixing_row(&a, S, g, 1, t);
        daoe_sb_printf(&a, "\n");
    }
    write_group_file(S, "alpha", g, &a);
    return 1;
}

/* ------------------------------------------------------------------ meta.gp */
typedef struct {
    daoe_strbuf groups, agroups; /* the groups drawn; those with an alpha trace */
    int ngroups;
    int ref_has_alpha;           /* the reference group has an alpha trace */
} plotted_t;

static void meta_setting(daoe_strbuf *m, const study_t *S) {
    char sw[1024];
    setting_words(S, sw, sizeof sw);
    for (char *p = sw; *p; p++)
        if (*p == '"') *p = '\'';
    daoe_sb_printf(m, "profile = \"%s\"\nkind = \"%s\"\nsetting = \"%s\"\n", S->profile ? S->profile : "", S->kind, sw);
    const run_t *r = S->nruns ? &S->runs[0] : NULL;
    int nseeds_max = 0;
    for (int k = 0; k < S->ng; k++)
        if (S->g[k].nruns > nseeds_max) nseeds_max = S->g[k].nruns;
    char tr[32], te[32];
    if (r && r->train_subset) snprintf(tr, sizeof tr, "%d", r->train_subset);
    else snprintf(tr, sizeof tr, "%d", r ? 50000 - r->val : 0);
    if (r && r->test_subset) snprintf(te, sizeof te, "%d", r->test_subset);
    else snprintf(te, sizeof te, "10000");
    daoe_sb_printf(m, "setting_short = \"%s: width %d, %d epochs, batch %d, %s train / %s test images, %s, up to %d seeds\"\n",
                   S->profile ? S->profile : "", r ? r->width : 0, r ? r->epochs_planned : 0, r ? r->batch : 0, tr, te,
                   r ? r->backend : "", nseeds_max);
    daoe_sb_printf(m, "nepochs = %d\n", r ? r->epochs_planned : 0);
}

/* The one list of optimizers (daoe_optimizers[]) for the figures' labels and
 * colours: names and display names (quoted: gnuplot's word() keeps a quoted
 * name with spaces whole), and the ensemble members in alpha.tsv's order. */
static void meta_names(daoe_strbuf *m) {
    daoe_sb_printf(m, "optimizers = \"");
    for (int i = 0; i < daoe_n_optimizers; i++) daoe_sb_printf(m, "%s%s", i ? " " : "", daoe_optimizers[i].name);
    daoe_sb_printf(m, "\"\noptimizer_labels = '");
    for (int i = 0; i < daoe_n_optimizers; i++) daoe_sb_printf(m, "%s\"%s\"", i ? " " : "", daoe_optimizers[i].display);
    daoe_sb_printf(m, "'\nmembers = \"");
    for (int k = 0; k < DAOE_K; k++) daoe_sb_printf(m, "%s%s", k ? " " : "", daoe_member_names[k]);
    daoe_sb_printf(m, "\"\n");
}

static void write_meta(const study_t *S, const plotted_t *P) {
    daoe_strbuf m = {0};
    const char *ref = S->compare_to ? S->compare_to : "";
    daoe_sb_printf(&m, "# generated by daoe-stats: what plots/*.gp need to know about %s\n", S->dir);
    meta_setting(&m, S);
    const char *ag = P->agroups.s ? P->agroups.s : "";
    daoe_sb_printf(&m, "groups = \"%s\"\nngroups = %d\n", P->groups.s ? P->groups.s : "", P->ngroups);
    daoe_sb_printf(&m, "alpha_groups = \"%s\"\n", ag);
    /* the reference's trace, else the first */
    daoe_sb_printf(&m, "alpha_group = \"%.*s\"\n", P->ref_has_alpha ? (int)strlen(ref) : (int)strcspn(ag, " "),
                   P->ref_has_alpha ? ref : ag);
    const group_t *rg = find_group(S, ref);
    double rm = rg ? rg->test.mean : NAN;
    double rl = rg ? or_mean(rg->test.lo, rm) : rm, rh = rg ? or_mean(rg->test.hi, rm) : rm;
    daoe_sb_printf(&m, "ref_mean = %.4f\nref_lo = %.4f\nref_hi = %.4f\n", isfinite(rm) ? 100 * rm : 0.0,
                   isfinite(rl) ? 100 * rl : 0.0, isfinite(rh) ? 100 * rh : 0.0);
    daoe_sb_printf(&m, "compare_to = \"%s\"\npaper_acc = %.1f\npaper_comparable = %d\ntarget = %.4f\n", ref,
                   100 * PAPER_ACC, paper_comparable(S), 100 * S->target);
    meta_names(&m);
    tool_write_text(S->dir, "plotdata/meta.gp", m.s);
    daoe_sb_free(&m);
}

/* ------------------------------------------------------------------ all of it */
void write_plotdata(study_t *S) {
    char pd[2300], err[1024];
    snprintf(pd, sizeof pd, "%.1500s/plotdata", S->dir);
    if (daoe_mkdir_p(pd, err, sizeof err) != 0) tool_die("%s", err);
    daoe_strbuf fin = {0}, thr = {0}, abl = {0};
    daoe_sb_printf(&fin, "#idx\tgroup\tn\tmean\tsd\tci_lo\tci_hi\tmin\tmax\tdiverged\n");
    daoe_sb_printf(&thr, "#idx\tgroup\tn\tmean\tci_lo\tci_hi\n");
    daoe_sb_printf(&abl, "#idx\tgroup\tn\tmean\tci_lo\tci_hi\tdiff\tdiff_lo\tdiff_hi\tp_holm\n");
    plotted_t P = {0};
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        if (!g->nfin) continue;
        daoe_sb_printf(&P.groups, "%s%s", P.groups.len ? " " : "", g->name);
        final_row(&fin, P.ngroups, g);
        throughput_row(&thr, P.ngroups, g);
        if (is_ablation(S)) ablation_row(&abl, P.ngroups, g, S);
        P.ngroups++;
        write_curves(S, g);
        if (strcmp(g->optimizer, "daoe")) continue;
        write_alpha_epochs(S, g);
        if (!write_alpha_trace(S, g)) continue;
        daoe_sb_printf(&P.agroups, "%s%s", P.agroups.len ? " " : "", g->name);
        P.ref_has_alpha |= S->compare_to && !strcmp(g->name, S->compare_to);
    }
    tool_write_text(S->dir, "plotdata/final.tsv", fin.s);
    write_runs(S);
    tool_write_text(S->dir, "plotdata/throughput.tsv", thr.s);
    if (is_ablation(S)) tool_write_text(S->dir, "plotdata/ablation.tsv", abl.s);
    write_meta(S, &P);
    daoe_sb_free(&P.groups);
    daoe_sb_free(&P.agroups);
    daoe_sb_free(&fin);
    daoe_sb_free(&thr);
    daoe_sb_free(&abl);
}
