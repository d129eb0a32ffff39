/* daoe-stats: statistics, tables and figure data from a results folder.
 *
 *   daoe-stats DIR                          DIR = results/<profile>
 *   daoe-stats --report DIR                 DIR/report.html (after the figures)
 *   daoe-stats --check NEW --reference REF  CI regression check (two-sided)
 *   daoe-stats --power REF                  the check's power (Markdown)
 *
 * Reads every run folder under DIR (config.json, summary.json, epochs.csv,
 * alpha.csv and sweep_run.json when daoe-sweep wrote one) and writes
 *   DIR/summary.json, summary.md, summary.tex   per group: n, mean, sd,
 *       95 % t confidence interval, min, max of final test accuracy, final
 *       validation accuracy, epochs and wall time to a target accuracy,
 *       throughput; Welch's t-test of the reference group (DAO-E, or the full
 *       DAO-E in an ablation) against every other group, Holm-corrected, with
 *       Hedges' g; diverged and unfinished runs counted and listed; the
 *       paper's 91.6 % as a separate, labelled row; the robust statistics
 *       (stats_robust.c: bootstrap intervals of the mean and the IQM, the
 *       probability of improvement, the paired comparison by seed, time to
 *       a few targets);
 *   DIR/plotdata/ (tsv files, meta.gp)          what the plots/ scripts draw;
 *   DIR/tuned.json                              for a tune sweep: the winners.
 *
 * A run's group is sweep_run.json's "group" (optimizer, or optimizer-setting),
 * else the folder name without its "-s<seed>" suffix. Accuracy statistics use
 * finished runs; diverged runs appear in their own columns and in the run list.
 * Everything is computed here from the raw files; nothing is typed by hand.
 * This file holds the command line and main (read, compute, write); the
 * rest is in stats_*.c (see stats.h). */
#define _GNU_SOURCE
#include "stats.h"
#include "tool.h"
#include <gsl/gsl_errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: daoe-stats [options] DIR\n"
            "       daoe-stats --report [options] DIR\n"
            "       daoe-stats --check NEW --reference REF [--alpha A] [--margin M] [--groups LIST] [--one-sided]\n"
            "       daoe-stats --power REF [--n-new N] [--alpha A] [--margin M] [--one-sided]\n"
            "Reads the run folders under DIR (results/<profile>) and writes DIR/summary.{json,md,tex},\n"
            "DIR/plotdata/ (for plots/*.gp) and, for a tune sweep, DIR/tuned.json.\n\n"
            "  --report          write DIR/report.html only (the page to open; after the figures step, whose\n"
            "                    SVGs in DIR/figures/ it shows)\n"
            "  --target X        test accuracy (fraction) for 'epochs/time to target'\n"
            "                    (default: sweep.json's target_acc, else 90 %% of the weakest group's mean)\n"
            "  --targets LIST    the targets of the time-to-target table (comma-separated fractions; default:\n"
            "                    the target and 50, 75, 90, 100 %% of the best group's mean)\n"
            "  --compare-to G    reference group of the Welch tests (default: sweep.json's, else daoe)\n"
            "  --resamples B     bootstrap resamples (default %d)\n"
            "  --boot-seed S     seed of the bootstrap's generator (default %lu)\n"
            "  --check NEW       regression check of NEW against --reference REF: exit 1 and name the group\n"
            "                    when its mean final test accuracy falls below, or rises above, what REF's\n"
            "                    spread allows\n"
            "  --one-sided       the check fails on drops only (rises are reported as ok-ROSE)\n"
            "  --alpha A         level of the check per group (default 0.01; two-sided: A/2 each way)\n"
            "  --margin M        smallest change (fraction) the check reports (default 0.01 = 1 point)\n"
            "  --groups LIST     check only these groups (comma-separated), e.g. after a sweep with --only\n"
            "  --power REF       the check's allowed and minimum detectable drops (80 %% power) from REF's\n"
            "                    spread, as Markdown on stdout (REPRODUCE.md quotes it)\n"
            "  --n-new N         --power: seeds per group of the runs to be checked (default: the reference's)\n",
            BOOT_B, BOOT_SEED);
}

typedef struct {
    const char *dir, *check_new, *ref, *compare_to, *power, *targets;
    double target;
    int report;
    boot_opts boot;
    check_opts co;
} stats_opts_t;

/* the command line into o; exits on --help and on a bad command line */
static void parse_flags(int argc, char **argv, stats_opts_t *o) {
    *o = (stats_opts_t){NULL, NULL, NULL, NULL, NULL, NULL, NAN, 0, {BOOT_B, BOOT_SEED}, {0.01, 0.01, NULL, 0, 0}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT() tool_next_arg(argc, argv, &i)
        if (!strcmp(a, "--target")) o->target = tool_parse_double(a, NEXT(), -HUGE_VAL, HUGE_VAL);
        else if (!strcmp(a, "--compare-to")) o->compare_to = NEXT();
        else if (!strcmp(a, "--targets")) o->targets = NEXT();
        else if (!strcmp(a, "--report")) o->report = 1;
        else if (!strcmp(a, "--resamples")) o->boot.B = tool_parse_int(a, NEXT(), 100, 10000000);
        else if (!strcmp(a, "--boot-seed")) o->boot.seed = (unsigned long)tool_parse_int(a, NEXT(), 0, 2147483647);
        else if (!strcmp(a, "--one-sided")) o->co.one_sided = 1;
        else if (!strcmp(a, "--check")) o->check_new = NEXT();
        else if (!strcmp(a, "--reference")) o->ref = NEXT();
        else if (!strcmp(a, "--power")) o->power = NEXT();
        else if (!strcmp(a, "--groups")) o->co.groups = NEXT();
        else if (!strcmp(a, "--n-new")) o->co.n_new = tool_parse_int(a, NEXT(), 1, 10000);
        else if (!strcmp(a, "--alpha")) o->co.alpha = tool_parse_double(a, NEXT(), -HUGE_VAL, HUGE_VAL);
        else if (!strcmp(a, "--margin")) o->co.margin = tool_parse_double(a, NEXT(), -HUGE_VAL, HUGE_VAL);
        else tool_other_arg(a, usage, &o->dir, "folder");
#undef NEXT
    }
}

static void report(const study_t *S) {
    int nfin = 0, ndiv = 0, ninc = 0;
    for (int k = 0; k < S->ng; k++) nfin += S->g[k].nfin, ndiv += S->g[k].ndiv, ninc += S->g[k].ninc;
    fprintf(stderr, "daoe-stats: %s: %d runs in %d groups (%d finished, %d diverged, %d incomplete) -> summary.{json,md,tex}, plotdata/%s\n",
            S->dir, S->nruns, S->ng, nfin, ndiv, ninc, !is_tune(S) ? "" : tune_unfinished(S, NULL) ? ", tuned.partial.json" : ", tuned.json");
}

int main(int argc, char **argv) {
    stats_opts_t o;
    gsl_set_error_handler_off();
    parse_flags(argc, argv, &o);
    if (!(o.co.alpha > 0 && o.co.alpha < 0.5) || !(o.co.margin >= 0)) tool_die("--alpha in (0, 0.5), --margin >= 0");
    if (o.power) {
        if (o.check_new || o.ref || o.dir) tool_die("--power REF takes no other folder");
        return power_report(o.power, &o.co);
    }
    if (o.check_new || o.ref) {
        if (!o.check_new || !o.ref) tool_die("--check NEW needs --reference REF");
        return check(o.check_new, o.ref, &o.co);
    }
    if (o.co.groups || o.co.one_sided) tool_die("--groups and --one-sided are for --check");
    if (!o.dir) {
        usage(stderr);
        return 2;
    }
    if (isfinite(o.target) && !(o.target > 0 && o.target <= 1)) tool_die("--target is a fraction in (0, 1]");
    study_t S;
    study_read(&S, o.dir);
    if (!S.nruns) tool_die("%s: no run folders (folders with a config.json)", o.dir);
    study_compute(&S, o.compare_to, o.target);
    S.boot = o.boot;
    robust_compute(&S, o.targets);
    if (o.report) {
        write_report(&S);
        fprintf(stderr, "daoe-stats: %s/report.html written\n", o.dir);
        return 0;
    }
    write_plotdata(&S);
    if (is_tune(&S)) write_tuned(&S);
    write_summaries(&S);
    report(&S);
    return 0;
}
