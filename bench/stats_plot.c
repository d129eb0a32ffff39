/* daoe-stats: DIR/plotdata/, what the gnuplot scripts in plots/ draw. Tab-separated files, one
 * row per group (final.tsv, throughput.tsv, ablation.tsv) or per finished run
 * (runs.tsv), per-epoch curves per group (curves_<group>.tsv), DAO-E's
 * mixing per epoch and per traced step (alpha_epoch_<group>.tsv,
 * alpha_<group>.tsv), the performance profiles (profile.tsv), and meta.gp:
 * gnuplot variables (setting, groups, the reference, the optimizers' display
 * names, what the bands are). Groups without a finished run are left out.
 * Accuracies in percent. Bands (figure_band): the bootstrap interval of the
 * mean with at least BAND_MIN_BOOT runs, else the runs' min-max (the mean
 * where one run gives none), clipped to what the metric can be. The accuracy
 * drawn is the test set's, but a tuning's (kind "tune") is the validation
 * accuracy it selects on: its figures never show the test set (meta.gp's acc). */
#define _GNU_SOURCE
#include "daoe/optimizer_list.h"
#include "daoe/util.h"
#include "stats.h"
#include "tool.h"
#include <gsl/gsl_sort.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int figures_draw_val(const study_t *S) { return is_tune(S); }
/* where in stats_run_t the final accuracy drawn lies, and run i's */
static size_t acc_off(const study_t *S) {
    return figures_draw_val(S) ? offsetof(stats_run_t, val_acc) : offsetof(stats_run_t, test_acc);
}
static double run_acc(const study_t *S, int i) { return *(const double *)((const char *)&S->runs[i] + acc_off(S)); }

/* a group's band of a per-run field of stats_run_t (at off, times scale): mean, lo, hi; the kinds drawn so far in *kinds */
static void run_band(const study_t *S, const group_t *g, size_t off, double scale, double hi_clip, double *m,
                     double *lo, double *hi, int *kinds) {
    double *x = daoe_xmalloc(sizeof(double) * (size_t)(g->nfin ? g->nfin : 1));
    int n = 0;
    for (int i = 0; i < g->nfin; i++) {
        double v = *(const double *)((const char *)&S->runs[g->fin[i]] + off);
        if (isfinite(v)) x[n++] = scale * v;
    }
    *kinds |= 1 << figure_band(&S->boot, x, n, 0, hi_clip, m, lo, hi);
    free(x);
}

/* ------------------------------------------------------------------ one row per group */
static void final_row(daoe_strbuf *b, int idx, const study_t *S, const group_t *g, int *kinds) {
    const desc_t *d = figures_draw_val(S) ? &g->val : &g->test;
    double m, lo, hi;
    run_band(S, g, acc_off(S), 100, 100, &m, &lo, &hi, kinds);
    daoe_sb_printf(b, "%d\t%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%d\n", idx, g->name, d->n, m,
                   isfinite(d->sd) ? 100 * d->sd : 0.0, lo, hi, 100 * d->min, 100 * d->max, g->ndiv);
}

static void throughput_row(daoe_strbuf *b, int idx, const study_t *S, const group_t *g, int *kinds) {
    double m, lo, hi;
    run_band(S, g, offsetof(stats_run_t, ips), 1, INFINITY, &m, &lo, &hi, kinds);
    daoe_sb_printf(b, "%d\t%s\t%d\t%.3f\t%.3f\t%.3f\n", idx, g->name, g->ips.n, m, lo, hi);
}

/* a variant against the full DAO-E: its accuracy (band) and the Welch difference (0 for the reference itself) */
static void ablation_row(daoe_strbuf *b, int idx, const group_t *g, const study_t *S, int *kinds) {
    const welch_t *w = NULL;
    for (int i = 0; i < S->nw; i++)
        if (!strcmp(S->w[i].a, g->name)) w = &S->w[i];
    double m, lo, hi;
    run_band(S, g, offsetof(stats_run_t, test_acc), 100, 100, &m, &lo, &hi, kinds);
    double diff = w ? 100 * w->diff : 0.0;
    daoe_sb_printf(b, "%d\t%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4g\n", idx, g->name, g->test.n, m, lo,
                   hi, diff, w && isfinite(w->lo) ? 100 * w->lo : diff, w && isfinite(w->hi) ? 100 * w->hi : diff,
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
            const stats_run_t *r = &S->runs[S->g[k].fin[i]];
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
        const stats_run_t *r = &S->runs[g->fin[i]];
        if (e >= r->ep.n) continue;
        double v = (*(double *const *)((const char *)&r->ep + off))[e];
        if (isfinite(v)) x[n++] = scale * v;
    }
    return n;
}

/* mean, band of test accuracy, training loss and validation accuracy per epoch
 * (n: the runs with a validation accuracy that epoch) */
static void write_curves(const study_t *S, const group_t *g, int *kinds) {
    const size_t col[3] = {offsetof(epochs_t, test), offsetof(epochs_t, loss), offsetof(epochs_t, val)};
    const double scale[3] = {100, 1, 100}, hi_clip[3] = {100, INFINITY, 100};
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
            *kinds |= 1 << figure_band(&S->boot, x, n, 0, hi_clip[q], &m[3 * q], &m[3 * q + 1], &m[3 * q + 2]);
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

static void mixing_header(daoe_strbuf *b, const study_t *S, const char *first) {
    daoe_sb_printf(b, "%s", first);
    for (int q = 0; q < 2; q++)
        for (int m = 0; m < DAOE_K; m++)
            if ((S->members >> m) & 1u) daoe_sb_printf(b, "\t%s_%s", q ? "share" : "alpha", daoe_member_names[m]);
    daoe_sb_printf(b, "\n");
}

/* every member's mean alpha, then share, at row t (0 where no run has a value) */
static void mixing_row(daoe_strbuf *b, const study_t *S, const group_t *g, int trace, int t) {
    for (int q = 0; q < 2; q++)
        for (int m = 0; m < DAOE_K; m++) {
            if (!((S->members >> m) & 1u)) continue;
            double v = mixing_mean(S, g, trace, q, m, t);
            daoe_sb_printf(b, "\t%.6f", isfinite(v) ? v : 0.0);
        }
}

/* DAO-E: each member's mean alpha and share per epoch (epochs.csv; 0 where no run has a value) */
static void write_alpha_epochs(const study_t *S, const group_t *g) {
    int ne = group_epochs(S, g);
    daoe_strbuf a = {0};
    mixing_header(&a, S, "#epoch\tn");
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
    mixing_header(&a, S, "#step\tepoch\tn");
    const stats_run_t *r0 = &S->runs[g->fin[0]];
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
    int kinds;                   /* the kinds of band drawn (bit figure_band's return) */
} plotted_t;

static void meta_setting(daoe_strbuf *m, const study_t *S) {
    char sw[1024];
    setting_words(S, sw, sizeof sw);
    for (char *p = sw; *p; p++)
        if (*p == '"') *p = '\'';
    daoe_sb_printf(m, "profile = \"%s\"\nkind = \"%s\"\nsetting = \"%s\"\n", S->profile ? S->profile : "", S->kind, sw);
    const stats_run_t *r = S->nruns ? &S->runs[0] : NULL;
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
static void meta_names(daoe_strbuf *m, const study_t *S) {
    daoe_sb_printf(m, "optimizers = \"");
    for (int i = 0; i < daoe_n_optimizers; i++) daoe_sb_printf(m, "%s%s", i ? " " : "", daoe_optimizers[i].name);
    daoe_sb_printf(m, "\"\noptimizer_labels = '");
    for (int i = 0; i < daoe_n_optimizers; i++) daoe_sb_printf(m, "%s\"%s\"", i ? " " : "", daoe_optimizers[i].display);
    daoe_sb_printf(m, "'\nmembers = \"");
    for (int k = 0, n = 0; k < DAOE_K; k++)
        if ((S->members >> k) & 1u) daoe_sb_printf(m, "%s%s", n++ ? " " : "", daoe_member_names[k]);
    daoe_sb_printf(m, "\"\n");
}

/* what the bands drawn are, for the figures' keys */
static const char *band_words(int kinds) {
    int boot = kinds & 4, minmax = kinds & 2;
    if (boot && minmax) return "band: 95 % bootstrap CI of the mean (5+ runs), else min-max";
    if (boot) return "band: 95 % bootstrap CI of the mean";
    if (minmax) return "band: min-max of the runs (fewer than 5)";
    return "no band: one run";
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
    double rm = NAN, rl = NAN, rh = NAN;
    int kinds = 0;
    if (rg) run_band(S, rg, acc_off(S), 100, 100, &rm, &rl, &rh, &kinds);
    daoe_sb_printf(&m, "ref_mean = %.4f\nref_lo = %.4f\nref_hi = %.4f\n", isfinite(rm) ? rm : 0.0,
                   isfinite(rl) ? rl : 0.0, isfinite(rh) ? rh : 0.0);
    daoe_sb_printf(&m, "band_note = \"%s\"\n", band_words(P->kinds));
    /* the accuracy drawn: final.tsv, profile.tsv and ref_* hold it; its column in curves_*.tsv and runs.tsv */
    const int val = figures_draw_val(S);
    daoe_sb_printf(&m, "acc = \"%s\"\nacc_word = \"%s\"\nacc_curve_col = %d\nacc_run_col = %d\n",
                   val ? "val" : "test", val ? "validation" : "test", val ? 9 : 3, val ? 5 : 4);
    daoe_sb_printf(&m, "compare_to = \"%s\"\npaper_acc = %.1f\npaper_comparable = %d\ntarget = %.4f\n", ref,
                   100 * PAPER_ACC, paper_comparable(S), 100 * S->target);
    meta_names(&m, S);
    tool_write_text(S->dir, "plotdata/meta.gp", m.s);
    daoe_sb_free(&m);
}

/* Performance profiles: for every threshold tau, the fraction of a group's
 * runs whose final accuracy (acc_off's) is at least tau; finished and diverged runs
 * count (a diverged run is below every threshold), unfinished ones do not.
 * One row per threshold at which a fraction changes (every final accuracy),
 * framed by one below and one above, for gnuplot's fsteps. */
static void write_profiles(const study_t *S) {
    double *t = daoe_xmalloc(sizeof(double) * (size_t)(S->nruns + 2));
    int nt = 0;
    for (int k = 0; k < S->ng; k++)
        for (int i = 0; i < S->g[k].nfin; i++)
            if (isfinite(run_acc(S, S->g[k].fin[i]))) t[nt++] = 100 * run_acc(S, S->g[k].fin[i]);
    if (!nt) {
        free(t);
        return;
    }
    gsl_sort(t, 1, (size_t)nt);
    double lo = t[0] - 1, hi = t[nt - 1] + 1;
    t[nt++] = lo;
    t[nt++] = hi;
    gsl_sort(t, 1, (size_t)nt);
    daoe_strbuf b = {0};
    daoe_sb_printf(&b, "#threshold");
    for (int k = 0; k < S->ng; k++)
        if (S->g[k].nfin) daoe_sb_printf(&b, "\t%s", S->g[k].name);
    daoe_sb_printf(&b, "\n");
    for (int j = 0; j < nt; j++) {
        if (j && t[j] == t[j - 1]) continue;
        daoe_sb_printf(&b, "%.4f", t[j]);
        for (int k = 0; k < S->ng; k++) {
            const group_t *g = &S->g[k];
            if (!g->nfin) continue;
            int above = 0;
            for (int i = 0; i < g->nfin; i++) above += 100 * run_acc(S, g->fin[i]) >= t[j];
            daoe_sb_printf(&b, "\t%.6f", (double)above / (g->nfin + g->ndiv));
        }
        daoe_sb_printf(&b, "\n");
    }
    tool_write_text(S->dir, "plotdata/profile.tsv", b.s);
    daoe_sb_free(&b);
    free(t);
}

/* ------------------------------------------------------------------ all of it */
void write_plotdata(study_t *S) {
    char pd[2300], err[1024];
    snprintf(pd, sizeof pd, "%.1500s/plotdata", S->dir);
    if (daoe_mkdir_p(pd, err, sizeof err) != 0) tool_die("%s", err);
    daoe_strbuf fin = {0}, thr = {0}, abl = {0};
    daoe_sb_printf(&fin, "#idx\tgroup\tn\tmean\tsd\tband_lo\tband_hi\tmin\tmax\tdiverged\n");
    daoe_sb_printf(&thr, "#idx\tgroup\tn\tmean\tband_lo\tband_hi\n");
    daoe_sb_printf(&abl, "#idx\tgroup\tn\tmean\tband_lo\tband_hi\tdiff\tdiff_lo\tdiff_hi\tp_holm\n");
    plotted_t P = {0};
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        if (!g->nfin) continue;
        daoe_sb_printf(&P.groups, "%s%s", P.groups.len ? " " : "", g->name);
        final_row(&fin, P.ngroups, S, g, &P.kinds);
        throughput_row(&thr, P.ngroups, S, g, &P.kinds);
        if (is_ablation(S)) ablation_row(&abl, P.ngroups, g, S, &P.kinds);
        P.ngroups++;
        write_curves(S, g, &P.kinds);
        if (strcmp(g->optimizer, "daoe")) continue;
        write_alpha_epochs(S, g);
        if (!write_alpha_trace(S, g)) continue;
        daoe_sb_printf(&P.agroups, "%s%s", P.agroups.len ? " " : "", g->name);
        P.ref_has_alpha |= S->compare_to && !strcmp(g->name, S->compare_to);
    }
    tool_write_text(S->dir, "plotdata/final.tsv", fin.s);
    write_runs(S);
    write_profiles(S);
    tool_write_text(S->dir, "plotdata/throughput.tsv", thr.s);
    if (is_ablation(S)) tool_write_text(S->dir, "plotdata/ablation.tsv", abl.s);
    write_meta(S, &P);
    daoe_sb_free(&P.groups);
    daoe_sb_free(&P.agroups);
    daoe_sb_free(&fin);
    daoe_sb_free(&thr);
    daoe_sb_free(&abl);
}
