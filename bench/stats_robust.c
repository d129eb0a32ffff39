/* daoe-stats: the robust statistics for few seeds (Agarwal et al., rliable,
 * NeurIPS 2021; AlgoPerf's time to target). On final test accuracy:
 *   - percentile bootstrap 95 % intervals of each group's mean and interquartile
 *     mean (IQM: the mean of the middle half, scipy.stats.trim_mean(x, 0.25)),
 *     stratified: each group's runs are resampled on their own;
 *   - per comparison, the differences of the means and of the IQMs and the
 *     probability of improvement P(a > b) = U / (n_a n_b) (Mann-Whitney U, ties
 *     1/2), each with its bootstrap interval;
 *   - the paired comparison by seed: runs with one seed share the initial
 *     weights, the image order and the augmentation (Philox streams keyed by the
 *     seed alone), which alpha.csv confirms pair by pair;
 *   - epochs and steps to a few target accuracies, misses counted;
 * and the bands of the figures. GSL draws (mt19937, gsl_ran_sample), sorts and
 * computes the statistics. Every bootstrap starts its generator from the same
 * seed, so no number depends on what else was computed. Not here: the t-based
 * statistics (stats_compute.c). */
#define _GNU_SOURCE
#include "daoe/util.h"
#include "stats.h"
#include "tool.h"
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ estimators */
/* the IQM of x[0..n), sorted in place */
static double iqm_sort(double *x, int n) {
    gsl_sort(x, 1, (size_t)n);
    return gsl_stats_trmean_from_sorted_data(0.25, x, 1, (size_t)n);
}

static double iqm_of(const double *x, int n) {
    if (n <= 0) return NAN;
    double *c = daoe_xmalloc(sizeof(double) * (size_t)n);
    memcpy(c, x, sizeof(double) * (size_t)n);
    double v = iqm_sort(c, n);
    free(c);
    return v;
}

static double mean_of(const double *x, int n) { return n > 0 ? gsl_stats_mean(x, 1, (size_t)n) : NAN; }

/* Mann-Whitney U of a against b: the pairs with a > b, ties counted 1/2 (scipy's statistic for a) */
static double mann_whitney_u(const double *a, int na, const double *b, int nb) {
    double u = 0;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++) u += a[i] > b[j] ? 1.0 : a[i] == b[j] ? 0.5 : 0.0;
    return u;
}

/* ------------------------------------------------------------------ the bootstrap */
static gsl_rng *boot_rng(const boot_opts *bo) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) daoe_fatal("out of memory");
    gsl_rng_set(r, bo->seed);
    return r;
}

/* the 2.5 and 97.5 % points of v[0..B), sorted here; linear interpolation, as numpy's percentile */
static void percentile_ci(double *v, int B, double *lo, double *hi) {
    gsl_sort(v, 1, (size_t)B);
    *lo = gsl_stats_quantile_from_sorted_data(v, 1, (size_t)B, 0.025);
    *hi = gsl_stats_quantile_from_sorted_data(v, 1, (size_t)B, 0.975);
}

/* one sample's mean and (iqm != NULL) IQM with their intervals; fewer than 2 values: no interval */
static void boot_one(const boot_opts *bo, const double *x, int n, est_ci *mean, est_ci *iqm) {
    *mean = (est_ci){mean_of(x, n), NAN, NAN};
    if (iqm) *iqm = (est_ci){iqm_of(x, n), NAN, NAN};
    if (n < 2) return;
    gsl_rng *r = boot_rng(bo);
    double *xs = daoe_xmalloc(sizeof(double) * (size_t)n), *bm = daoe_xmalloc(sizeof(double) * (size_t)bo->B),
           *bi = daoe_xmalloc(sizeof(double) * (size_t)bo->B);
    for (int b = 0; b < bo->B; b++) {
        gsl_ran_sample(r, xs, (size_t)n, (void *)x, (size_t)n, sizeof(double));
        bm[b] = gsl_stats_mean(xs, 1, (size_t)n);
        if (iqm) bi[b] = iqm_sort(xs, n);
    }
    percentile_ci(bm, bo->B, &mean->lo, &mean->hi);
    if (iqm) percentile_ci(bi, bo->B, &iqm->lo, &iqm->hi);
    free(xs);
    free(bm);
    free(bi);
    gsl_rng_free(r);
}

/* a against b, each resampled on its own: differences of means and IQMs, P(a > b) */
static void boot_two(const boot_opts *bo, const double *a, int na, const double *b, int nb, welch_t *w) {
    w->dmean = (est_ci){mean_of(a, na) - mean_of(b, nb), NAN, NAN};
    w->diqm = (est_ci){iqm_of(a, na) - iqm_of(b, nb), NAN, NAN};
    w->u = na && nb ? mann_whitney_u(a, na, b, nb) : NAN;
    w->poi = (est_ci){na && nb ? w->u / ((double)na * nb) : NAN, NAN, NAN};
    if (na < 2 || nb < 2) return;
    gsl_rng *r = boot_rng(bo);
    double *as = daoe_xmalloc(sizeof(double) * (size_t)na), *bs = daoe_xmalloc(sizeof(double) * (size_t)nb);
    double *v[3];
    for (int q = 0; q < 3; q++) v[q] = daoe_xmalloc(sizeof(double) * (size_t)bo->B);
    for (int k = 0; k < bo->B; k++) {
        gsl_ran_sample(r, as, (size_t)na, (void *)a, (size_t)na, sizeof(double));
        gsl_ran_sample(r, bs, (size_t)nb, (void *)b, (size_t)nb, sizeof(double));
        v[2][k] = mann_whitney_u(as, na, bs, nb) / ((double)na * nb);
        v[0][k] = gsl_stats_mean(as, 1, (size_t)na) - gsl_stats_mean(bs, 1, (size_t)nb);
        v[1][k] = iqm_sort(as, na) - iqm_sort(bs, nb);
    }
    percentile_ci(v[0], bo->B, &w->dmean.lo, &w->dmean.hi);
    percentile_ci(v[1], bo->B, &w->diqm.lo, &w->diqm.hi);
    percentile_ci(v[2], bo->B, &w->poi.lo, &w->poi.hi);
    for (int q = 0; q < 3; q++) free(v[q]);
    free(as);
    free(bs);
    gsl_rng_free(r);
}

int figure_band(const boot_opts *bo, const double *x, int n, double lo_clip, double hi_clip, double *mean, double *lo,
                double *hi) {
    int kind = n >= BAND_MIN_BOOT ? 2 : n >= 2 ? 1 : 0;
    *mean = mean_of(x, n);
    *lo = *hi = *mean;
    if (kind == 1) gsl_stats_minmax(lo, hi, x, 1, (size_t)n);
    if (kind == 2) {
        est_ci m;
        boot_one(bo, x, n, &m, NULL);
        *lo = m.lo;
        *hi = m.hi;
    }
    double *v[3] = {mean, lo, hi};
    for (int q = 0; q < 3; q++)
        if (isfinite(*v[q])) *v[q] = *v[q] < lo_clip ? lo_clip : *v[q] > hi_clip ? hi_clip : *v[q];
    return kind;
}

/* ------------------------------------------------------------------ pairs by seed */
const char *pairing_words(void) {
    return "Runs with the same seed share the initial weights, the order of the training images and their "
           "augmentation, whatever the optimizer: weight init, shuffling and augmentation are Philox streams keyed "
           "by the seed alone (lib/core/net.c, lib/core/train.c, lib/include/daoe/rng.h). Each pair is also checked "
           "on its alpha.csv: the same loss at step 1 (the initial weights on the first batch) and the same mean and "
           "variance of the input batch at every step both runs traced.";
}

/* |a - b| within the six significant digits alpha.csv keeps (and backends' rounding) */
static int agree(double a, double b) { return fabs(a - b) <= 1e-4 * fmax(fmax(fabs(a), fabs(b)), 1e-3); }

/* 1 when a and b started from the same weights and saw the same batches (see pairing_words),
 * 0 when they did not, -1 when their traces cannot tell; steps: the traced steps compared */
static int same_start(stats_run_t *a, stats_run_t *b, int *steps) {
    load_trace(a);
    load_trace(b);
    const trace_t *x = &a->tr, *y = &b->tr;
    *steps = 0;
    if (!x->n || !y->n || x->step[0] != 1 || y->step[0] != 1 || !isfinite(x->loss[0]) || !isfinite(y->loss[0]))
        return -1;
    if (!agree(x->loss[0], y->loss[0])) return 0;
    for (int i = 0, j = 0; i < x->n && j < y->n;) {
        if (x->step[i] < y->step[j]) i++;
        else if (x->step[i] > y->step[j]) j++;
        else {
            if (isfinite(x->x_mean[i]) && isfinite(y->x_mean[j]) && isfinite(x->x_var[i]) && isfinite(y->x_var[j])) {
                if (!agree(x->x_mean[i], y->x_mean[j]) || !agree(x->x_var[i], y->x_var[j])) return 0;
                ++*steps;
            }
            i++, j++;
        }
    }
    return *steps ? 1 : -1;
}

/* the finished runs of a and b with one seed: their differences a − b */
static void paired(study_t *S, const group_t *ga, const group_t *gb, paired_t *pr) {
    memset(pr, 0, sizeof *pr);
    double *d = daoe_xmalloc(sizeof(double) * (size_t)(ga->nfin ? ga->nfin : 1));
    for (int i = 0; i < ga->nfin; i++) {
        stats_run_t *ra = &S->runs[ga->fin[i]];
        for (int j = 0; j < gb->nfin && ra->seed[0]; j++) {
            stats_run_t *rb = &S->runs[gb->fin[j]];
            if (strcmp(ra->seed, rb->seed)) continue;
            int steps, same = same_start(ra, rb, &steps);
            pr->traced += same >= 0;
            pr->verified += same == 1;
            pr->steps += steps;
            d[pr->n++] = ra->test_acc - rb->test_acc;
            break;
        }
    }
    int m = pr->n;
    pr->mean = pr->sd = pr->lo = pr->hi = pr->t = pr->df = pr->p = pr->p_holm = NAN;
    boot_one(&S->boot, d, m, &pr->boot, NULL);
    if (m) pr->mean = pr->boot.est;
    if (m >= 2) {
        pr->sd = gsl_stats_sd_m(d, 1, (size_t)m, pr->mean);
        pr->df = m - 1;
        double se = pr->sd / sqrt(m);
        if (se > 0) {
            pr->t = pr->mean / se;
            pr->p = fmin(1.0, 2.0 * gsl_cdf_tdist_Q(fabs(pr->t), pr->df));
            double h = gsl_cdf_tdist_Pinv(0.975, pr->df) * se;
            pr->lo = pr->mean - h;
            pr->hi = pr->mean + h;
        }
    }
    free(d);
}

/* the finished runs' final test accuracies of a group */
static int final_accs(const study_t *S, const group_t *g, double *x) {
    int n = 0;
    for (int i = 0; i < g->nfin; i++)
        if (isfinite(S->runs[g->fin[i]].test_acc)) x[n++] = S->runs[g->fin[i]].test_acc;
    return n;
}

static void compare_robust(study_t *S) {
    size_t sz = sizeof(double) * (size_t)(S->nruns ? S->nruns : 1);
    double *a = daoe_xmalloc(sz), *b = daoe_xmalloc(sz), *p = daoe_xmalloc(sz), *adj = daoe_xmalloc(sz);
    for (int i = 0; i < S->nw; i++) {
        welch_t *w = &S->w[i];
        const group_t *ga = find_group(S, w->a), *gb = find_group(S, w->b);
        boot_two(&S->boot, a, final_accs(S, ga, a), b, final_accs(S, gb, b), w);
        paired(S, ga, gb, &w->pr);
        p[i] = w->pr.p;
    }
    holm(p, adj, S->nw);
    for (int i = 0; i < S->nw; i++) S->w[i].pr.p_holm = adj[i];
    free(a);
    free(b);
    free(p);
    free(adj);
}

/* ------------------------------------------------------------------ time to target */
static void add_target(study_t *S, double t) {
    for (int j = 0; j < S->ntargets; j++)
        if (fabs(S->targets[j] - t) < 1e-9) return;
    if (S->ntargets < MAX_TARGETS) S->targets[S->ntargets++] = t;
}

static void choose_targets(study_t *S, const char *list) {
    S->ntargets = 0;
    if (list) {
        char item[64];
        for (const char *p = list; *p;) {
            size_t len = strcspn(p, ",");
            snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), p);
            double t = tool_parse_double("--targets", item, 1e-9, 1.0);
            if (S->ntargets == MAX_TARGETS) tool_die("--targets: at most %d", MAX_TARGETS);
            add_target(S, t);
            p += len + (p[len] == ',');
        }
        snprintf(S->targets_rule, sizeof S->targets_rule, "given (daoe-stats --targets %s)", list);
    } else {
        snprintf(S->targets_rule, sizeof S->targets_rule,
                 "the target of the tables above and 50, 75, 90 and 100 %% of the best group's mean final test "
                 "accuracy, floored to whole percents (daoe-stats --targets sets others)");
        double best = -INFINITY;
        for (int k = 0; k < S->ng; k++)
            if (isfinite(S->g[k].test.mean) && S->g[k].test.mean > best) best = S->g[k].test.mean;
        if (isfinite(S->target)) add_target(S, S->target);
        const double frac[] = {0.5, 0.75, 0.9, 1.0};
        for (int q = 0; q < 4 && isfinite(best); q++)
            if (floor(100 * frac[q] * best) > 0) add_target(S, floor(100 * frac[q] * best) / 100);
    }
    gsl_sort(S->targets, 1, (size_t)S->ntargets);
}

/* every finished or diverged run counts; a miss is infinitely slow, so a median is
 * finite only when more than half of the runs reached the target */
static void time_to_targets(study_t *S) {
    double *ep = daoe_xmalloc(sizeof(double) * (size_t)(S->nruns ? S->nruns : 1));
    double *st = daoe_xmalloc(sizeof(double) * (size_t)(S->nruns ? S->nruns : 1));
    for (int i = 0; i < S->nruns; i++)
        for (int j = 0; j < S->ntargets; j++) S->runs[i].ep_to[j] = epochs_to(&S->runs[i], S->targets[j], NULL);
    for (int k = 0; k < S->ng; k++) {
        group_t *g = &S->g[k];
        for (int j = 0; j < S->ntargets; j++) {
            ttt_t *t = &g->tt[j];
            *t = (ttt_t){0, 0, NAN, NAN, NAN, NAN};
            for (int i = 0; i < g->nruns; i++) {
                const stats_run_t *r = &S->runs[g->idx[i]];
                if (!strcmp(r->status, "incomplete")) continue;
                double e = r->ep_to[j];
                t->reached += isfinite(e);
                ep[t->runs] = isfinite(e) ? e : INFINITY;
                st[t->runs++] = isfinite(e) ? e * r->steps_per_epoch : INFINITY;
            }
            if (!t->runs) continue;
            gsl_sort(ep, 1, (size_t)t->runs);
            gsl_sort(st, 1, (size_t)t->runs);
            t->med_ep = gsl_stats_median_from_sorted_data(ep, 1, (size_t)t->runs);
            t->med_steps = gsl_stats_median_from_sorted_data(st, 1, (size_t)t->runs);
            if (t->reached) t->min_ep = ep[0], t->max_ep = ep[t->reached - 1];
        }
    }
    free(ep);
    free(st);
}

/* ------------------------------------------------------------------ all of it */
void robust_compute(study_t *S, const char *targets) {
    double *x = daoe_xmalloc(sizeof(double) * (size_t)(S->nruns ? S->nruns : 1));
    for (int k = 0; k < S->ng; k++) boot_one(&S->boot, x, final_accs(S, &S->g[k], x), &S->g[k].boot_mean, &S->g[k].iqm);
    free(x);
    compare_robust(S);
    choose_targets(S, targets);
    time_to_targets(S);
}
