/* daoe-stats --check NEW --reference REF: the CI regression check. A group
 * fails when its mean final test accuracy moves away from the reference's, down
 * or up, by more than the reference's seed-to-seed spread allows (a two-sided t
 * bound, alpha/2 each way, at least the margin; --one-sided: drops only), when
 * it diverges where the reference did not, or when it has no finished run: a
 * change nobody meant is a regression in either direction. Prints a table on
 * stdout with each group's minimum detectable change (80 % power), the
 * failures on stderr; exit 0 pass, 1 fail, 2 not comparable (other settings,
 * or a reference group with fewer than two finished runs). */
#define _GNU_SOURCE
#include "daoe/util.h"
#include "stats.h"
#include "tool.h"
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the settings a group's first runs must share to be compared; 0 when they do */
static int not_comparable(const study_t *R, const study_t *N) {
    for (int k = 0; k < R->ng; k++) {
        const group_t *rg = &R->g[k], *ng = find_group(N, rg->name);
        if (!ng || !rg->nruns || !ng->nruns) continue;
        const stats_run_t *a = &R->runs[rg->idx[0]], *b = &N->runs[ng->idx[0]];
        if (a->width != b->width || a->epochs_planned != b->epochs_planned || a->batch != b->batch ||
            a->train_subset != b->train_subset || a->val != b->val || a->test_subset != b->test_subset) {
            fprintf(stderr,
                    "daoe-stats: check: %s is not comparable: reference width %d, %d epochs, batch %d, train %d, "
                    "val %d, test %d; new width %d, %d epochs, batch %d, train %d, val %d, test %d\n",
                    rg->name, a->width, a->epochs_planned, a->batch, a->train_subset, a->val, a->test_subset,
                    b->width, b->epochs_planned, b->batch, b->train_subset, b->val, b->test_subset);
            return 1;
        }
    }
    return 0;
}

/* seed-to-seed spread: the pooled within-group sd of the reference, and its df */
static double pooled_sd(const study_t *R, int *df) {
    double ss = 0;
    *df = 0;
    for (int k = 0; k < R->ng; k++)
        if (R->g[k].test.n >= 2) {
            ss += (R->g[k].test.n - 1) * R->g[k].test.sd * R->g[k].test.sd;
            *df += R->g[k].test.n - 1;
        }
    return *df > 0 ? sqrt(ss / *df) : NAN;
}

typedef struct {
    double sp, tq, tpow, margin; /* pooled sd, t(1 - alpha/sides, df), t(power, df), smallest change reported */
    int df, sides;               /* 2: drops and rises fail; 1: drops only */
    const char *new_dir;
} rule_t;

#define CHECK_POWER 0.8 /* the power at which the minimum detectable drop is quoted */

/* the rule from the reference's spread */
static rule_t make_rule(const study_t *R, const check_opts *co, const char *new_dir) {
    rule_t rule = {0};
    rule.sp = pooled_sd(R, &rule.df);
    rule.margin = co->margin;
    rule.sides = co->one_sided ? 1 : 2;
    rule.new_dir = new_dir;
    rule.tq = rule.df > 0 ? gsl_cdf_tdist_Pinv(1.0 - co->alpha / rule.sides, rule.df) : NAN;
    rule.tpow = rule.df > 0 ? gsl_cdf_tdist_Pinv(CHECK_POWER, rule.df) : NAN;
    return rule;
}

/* the change a group may show (allowed) and the drop (or, two-sided, rise)
 * caught with CHECK_POWER (mdd), for n_ref reference runs and n_new new ones;
 * the far side's share of the power (< alpha/2) is left out */
static void bounds(const rule_t *rule, int n_ref, int n_new, double *allowed, double *mdd) {
    *allowed = rule->margin;
    *mdd = NAN;
    if (!isfinite(rule->sp) || n_new <= 0 || n_ref <= 0) return;
    double se = rule->sp * sqrt(1.0 / n_ref + 1.0 / n_new);
    if (rule->tq * se > *allowed) *allowed = rule->tq * se;
    /* a true change of mdd is flagged with probability CHECK_POWER (t, pooled sd) */
    *mdd = *allowed + rule->tpow * se;
}

/* one reference group: a table line; returns 1 and the reason in why when it fails */
static int check_group(const rule_t *rule, const group_t *rg, const group_t *ng, char *why, size_t n, int *rose) {
    int n_new = ng ? ng->test.n : 0;
    double mn = ng ? ng->test.mean : NAN;
    double allowed, mdd;
    bounds(rule, rg->test.n, n_new, &allowed, &mdd);
    why[0] = 0;
    int up = 0;
    if (!ng || !n_new)
        snprintf(why, n, "%s: no finished run in %s (reference: %d)", rg->name, rule->new_dir, rg->test.n);
    else if (mn < rg->test.mean - allowed)
        snprintf(why, n,
                 "%s: mean final test accuracy %.2f %% (n=%d) is %.2f points below the reference %.2f %% (n=%d); "
                 "the reference spread allows %.2f",
                 rg->name, 100 * mn, n_new, 100 * (rg->test.mean - mn), 100 * rg->test.mean, rg->test.n, 100 * allowed);
    else if ((up = mn > rg->test.mean + allowed) && rule->sides == 2)
        snprintf(why, n,
                 "%s: mean final test accuracy %.2f %% (n=%d) is %.2f points above the reference %.2f %% (n=%d); "
                 "the reference spread allows %.2f: a change nobody meant is a regression too (if it was meant, "
                 "regenerate the reference)",
                 rg->name, 100 * mn, n_new, 100 * (mn - rg->test.mean), 100 * rg->test.mean, rg->test.n, 100 * allowed);
    else if (ng->ndiv > 0 && rg->ndiv == 0)
        snprintf(why, n, "%s: %d of %d runs diverged (reference: 0 of %d)", rg->name, ng->ndiv, ng->nruns, rg->nruns);
    const char *verdict = why[0] ? (up ? "FAIL-ROSE" : "FAIL") : up ? "ok-ROSE" : "ok";
    printf("%-24s %5d %8.2f%% %5d %8.2f%% %+8.2f %8.2f %8.2f  %s\n", rg->name, rg->test.n, 100 * rg->test.mean, n_new,
           100 * mn, 100 * (mn - rg->test.mean), 100 * allowed, 100 * mdd, verdict);
    *rose += up && !why[0];
    return why[0] != 0;
}

/* the next name of a comma-separated list into buf; advances *p; 0 at the end */
static int next_name(const char **p, char *buf, size_t n) {
    if (!**p) return 0;
    const char *e = strchr(*p, ',');
    size_t len = e ? (size_t)(e - *p) : strlen(*p);
    snprintf(buf, n, "%.*s", (int)(len < n - 1 ? len : n - 1), *p);
    *p += len + (e != NULL);
    return 1;
}

/* whether group name is in the comma-separated list (NULL: every group) */
static int in_list(const char *list, const char *name) {
    if (!list) return 1;
    char item[256];
    for (const char *p = list; next_name(&p, item, sizeof item);)
        if (!strcmp(item, name)) return 1;
    return 0;
}

/* Seeds the new runs share with the reference: CI runs seeds of the reference,
 * so a run that differs only in its bits (threads, CPU, BLAS kernels) stays
 * close to its twin. Prints how close (the pooled sd of the per-seed
 * differences) and the chance, under that pairing, that a group or the whole
 * check fails with nothing changed but the bits (normal approximation):
 *   Var(mean_new - mean_ref) = s^2 [m (1/n_new - 1/n_ref)^2 + (n_new - m)/n_new^2 + (n_ref - m)/n_ref^2]
 *                              + m s_d^2 / n_new^2      (m shared seeds) */
#define SHARED_MAX 1024
/* the finished runs of ng whose seed a finished run of rg has: their accuracy differences in d */
static int shared_seeds(const study_t *R, const group_t *rg, const study_t *N, const group_t *ng, double *d) {
    int m = 0;
    for (int i = 0; i < ng->nfin && m < SHARED_MAX; i++)
        for (int j = 0; j < rg->nfin; j++) {
            const stats_run_t *a = &N->runs[ng->fin[i]], *b = &R->runs[rg->fin[j]];
            if (strcmp(a->seed, b->seed)) continue;
            d[m++] = a->test_acc - b->test_acc;
            break;
        }
    return m;
}

static void paired_report(const rule_t *rule, const study_t *R, const study_t *N, const check_opts *co) {
    double ss = 0;
    int df = 0, pairs = 0, differ = 0;
    int *shared = calloc((size_t)R->ng, sizeof *shared); /* per reference group: seeds shared */
    if (!shared) tool_die("out of memory");
    for (int k = 0; k < R->ng; k++) {
        const group_t *rg = &R->g[k], *ng = find_group(N, rg->name);
        if (!ng || !in_list(co->groups, rg->name)) continue;
        double d[SHARED_MAX];
        int m = shared[k] = shared_seeds(R, rg, N, ng, d);
        for (int i = 0; i < m; i++) differ += d[i] != 0.0;
        if (m < 2) continue;
        double mean = 0;
        for (int i = 0; i < m; i++) mean += d[i] / m;
        for (int i = 0; i < m; i++) ss += (d[i] - mean) * (d[i] - mean);
        df += m - 1;
        pairs += m;
    }
    if (!pairs || !differ) {
        if (pairs)
            printf("paired: all %d runs that share a seed with the reference have exactly its accuracy (what the same "
                   "code, threads, CPU and kernels give): the check could only fail on a change of the results\n", pairs);
        free(shared);
        return;
    }
    double sd_d = df > 0 ? sqrt(ss / df) : NAN, pass_all = 1;
    printf("paired: %d runs share a seed with the reference (%d with other bits); their per-seed differences have a "
           "pooled sd of %.2f points (df %d), against a seed-to-seed sd of %.2f\n",
           pairs, differ, 100 * sd_d, df, 100 * rule->sp);
    for (int k = 0; k < R->ng; k++) {
        const group_t *rg = &R->g[k], *ng = find_group(N, rg->name);
        if (!ng || !ng->test.n || !in_list(co->groups, rg->name)) continue;
        int m = shared[k];
        double nn = ng->test.n, nr = rg->test.n, s2 = rule->sp * rule->sp;
        double var = s2 * (m * (1 / nn - 1 / nr) * (1 / nn - 1 / nr) + (nn - m) / (nn * nn) + (nr - m) / (nr * nr)) +
                     m * sd_d * sd_d / (nn * nn);
        double allowed, mdd;
        bounds(rule, rg->test.n, ng->test.n, &allowed, &mdd);
        double p = rule->sides * gsl_cdf_ugaussian_Q(allowed / sqrt(var));
        pass_all *= 1 - p;
        printf("paired: %-16s %d of %d seeds shared: sd of the mean difference without a real change %.2f points, "
               "false-alarm chance %.2g %%\n", rg->name, m, ng->test.n, 100 * sqrt(var), 100 * p);
    }
    printf("paired: false-alarm chance of the whole check when only the bits differ, as much as here: %.2g %%\n",
           100 * (1 - pass_all));
    free(shared);
}

/* the reference with at least two finished runs in every group; else 2 */
static int load_reference(study_t *R, const char *ref_dir) {
    load_study(R, ref_dir, NULL, NAN);
    if (!R->ng) tool_die("%s: no runs in the reference", ref_dir);
    /* a spread needs two runs: with fewer, no drop could be judged */
    for (int k = 0; k < R->ng; k++)
        if (R->g[k].test.n < 2) {
            fprintf(stderr, "daoe-stats: check: the reference %s has %d finished run(s) of %s: at least 2 per group are "
                            "needed to estimate the seed-to-seed spread\n", ref_dir, R->g[k].test.n, R->g[k].name);
            return 2;
        }
    return 0;
}

int check(const char *new_dir, const char *ref_dir, const check_opts *co) {
    study_t N, R;
    if (load_reference(&R, ref_dir)) return 2;
    load_study(&N, new_dir, NULL, NAN);
    char name[256];
    for (const char *p = co->groups ? co->groups : ""; next_name(&p, name, sizeof name);)
        if (!find_group(&R, name)) tool_die("--groups: %s is not a group of the reference %s", name, ref_dir);
    if (not_comparable(&R, &N)) return 2;
    rule_t rule = make_rule(&R, co, new_dir);
    int two = rule.sides == 2;
    printf("regression check (%s): %s against the reference %s\n", two ? "two-sided" : "one-sided, drops only",
           new_dir, ref_dir);
    printf("rule: a group fails when %s allowed = max(margin, t(1-alpha%s, df_ref) * s_ref * sqrt(1/n_ref + "
           "1/n_new)),\n"
           "      or when it has diverged runs the reference had not, or no finished run.\n"
           "      s_ref = pooled within-group sd of the reference = %.2f points (df_ref = %d), alpha = %g, "
           "margin = %.2f points\n"
           "      mdd80 = the change caught with 80 %% power: allowed + t(0.8, df_ref) * s_ref * "
           "sqrt(1/n_ref + 1/n_new)\n",
           two ? "|mean_new - mean_ref| >" : "mean_ref - mean_new >", two ? "/2" : "", 100 * rule.sp, rule.df,
           co->alpha, 100 * co->margin);
    printf("%-24s %5s %9s %5s %9s %8s %8s %8s  %s\n", "group", "n_ref", "mean_ref", "n_new", "mean_new", "diff", "allowed",
           "mdd80", "verdict");
    int fails = 0, rose = 0;
    daoe_strbuf msg = {0};
    for (int k = 0; k < R.ng; k++) {
        char why[512];
        if (!R.g[k].test.n) continue;
        if (!in_list(co->groups, R.g[k].name)) {
            printf("%-24s (left out by --groups: not checked)\n", R.g[k].name);
            continue;
        }
        if (!check_group(&rule, &R.g[k], find_group(&N, R.g[k].name), why, sizeof why, &rose)) continue;
        fails++;
        daoe_sb_printf(&msg, "daoe-stats: check FAILED: %s\n", why);
    }
    for (int q = 0; q < N.ng; q++)
        if (!find_group(&R, N.g[q].name)) printf("%-24s (not in the reference: not checked)\n", N.g[q].name);
    paired_report(&rule, &R, &N, co);
    if (rose)
        printf("(ok-ROSE: above the reference by more than a drop may be; --one-sided lets it pass, but it is a change "
               "of the results as large as one the check would fail: if it was not meant, look for a bug)\n");
    if (fails) {
        fputs(msg.s, stderr);
        fprintf(stdout, "FAIL: %d group(s) outside what the reference's spread allows\n", fails);
        return 1;
    }
    printf("OK: no group %s what the reference's spread allows\n", two ? "outside" : "below");
    return 0;
}

/* daoe-stats --power REF: the check's power, from the reference's own spread,
 * as a Markdown section on stdout (REPRODUCE.md quotes it) */
int power_report(const char *ref_dir, const check_opts *co) {
    study_t R;
    if (load_reference(&R, ref_dir)) return 2;
    rule_t rule = make_rule(&R, co, NULL);
    int nref = 0, nruns = 0; /* the largest group's finished runs; all finished runs */
    for (int k = 0; k < R.ng; k++) {
        if (R.g[k].test.n > nref) nref = R.g[k].test.n;
        nruns += R.g[k].test.n;
    }
    int n_new = co->n_new > 0 ? co->n_new : nref, two = rule.sides == 2;
    char setting[512];
    setting_words(&R, setting, sizeof setting);
    printf("*Generated by `daoe-stats --power %s --n-new %d%s` (alpha %g, margin %.2f points) from its %d finished "
           "runs; do not edit by hand.*\n\n", ref_dir, n_new, two ? "" : " --one-sided", co->alpha, 100 * co->margin,
           nruns);
    printf("Setting: %s  \n", setting);
    printf("Rule (`daoe-stats --check NEW --reference %s%s`): a group fails when its mean final test accuracy %s "
           "max(margin, t(1−α%s, df)·s·√(1/n_ref + 1/n_new)) = the allowed change, α = %g per group%s, s = the "
           "reference's pooled within-group sd = **%.2f points** (df = %d); also when it diverges where the reference "
           "did not, or has no finished run. The minimum detectable change (MDD) is the true %s of the group's mean "
           "that fails with 80 %% power: MDD = allowed + t(0.8, df)·s·√(1/n_ref + 1/n_new); here t(1−α%s, df) = "
           "%.3f, t(0.8, df) = %.3f, and n_new = %d seeds per group in CI.\n\n",
           ref_dir, two ? "" : " --one-sided",
           two ? "moves away from the reference's, down or up, by more than" : "falls below the reference's by more than",
           two ? "/2" : "", co->alpha, two ? " (two-sided: α/2 each way)" : " (one-sided: drops only)", 100 * rule.sp,
           rule.df, two ? "drop or rise" : "drop", two ? "/2" : "", rule.tq, rule.tpow, n_new);
    printf("| group | n_ref | mean | sd | allowed change | MDD, 80 %% power |\n|---|--:|--:|--:|--:|--:|\n");
    double worst = 0;
    for (int k = 0; k < R.ng; k++) {
        const group_t *g = &R.g[k];
        double allowed, mdd;
        bounds(&rule, g->test.n, n_new, &allowed, &mdd);
        if (mdd > worst) worst = mdd;
        printf("| %s | %d | %.2f | %.2f | %.2f | %.2f |\n", label(g->name), g->test.n, 100 * g->test.mean,
               100 * g->test.sd, 100 * allowed, 100 * mdd);
    }
    printf("\nLargest MDD: **%.2f points**. When nothing changed but the bits (another thread count, CPU model or BLAS "
           "kernels), each group passes with probability ≥ 1 − α under the rule's model (normal, equal spread, "
           "independent seeds; %s), so the check raises a false alarm in at most 1 − (1 − α)^%d = %.1f %% of such "
           "runs (%d groups). CI's seeds are among the reference's: on the reference's own machine, thread count and "
           "kernels they repeat bit for bit, and the difference of the means is then smaller than the rule assumes "
           "(fewer false alarms, not more).\n\n",
           100 * worst, two ? "α/2 for a drop and α/2 for a rise" : "drops only", R.ng,
           100 * (1 - pow(1 - co->alpha, R.ng)), R.ng);
    printf("Other numbers of CI seeds against this reference (the largest group's n_ref):\n\n");
    printf("| CI seeds per group | allowed change | MDD, 80 %% power |\n|--:|--:|--:|\n");
    for (int n = 2; n <= 16; n += 2) {
        double allowed, mdd;
        bounds(&rule, nref, n, &allowed, &mdd);
        printf("| %d%s | %.2f | %.2f |\n", n, n == n_new ? " (CI)" : "", 100 * allowed, 100 * mdd);
    }
    return 0;
}
