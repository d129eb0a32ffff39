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

typedef struct {
    const char *dir, *check_new, *ref, *compare_to, *power, *targets;
    double target;
    int report, twin_check;
    boot_opts boot;
    check_opts co;
} stats_opts_t;

#define STR_(x) #x
#define STR(x) STR_(x)

/* the command line into o; exits on --help and on a bad command line; 0, or 2 with the
 * usage on stderr when no folder was given */
static int parse_flags(int argc, char **argv, stats_opts_t *o) {
    *o = (stats_opts_t){NULL, NULL, NULL, NULL, NULL, NULL, NAN, 0, 0, {BOOT_B, BOOT_SEED}, {0.01, 0.01, NULL, 0, 0}};
    int boot_seed = (int)BOOT_SEED;
    const tool_flag flags[] = {
        {"--report", TOOL_FLAG_SWITCH, &o->report, 0, 0, NULL,
         "write DIR/report.html only (the page to open; after the figures step, whose\n"
         "SVGs in DIR/figures/ it shows)"},
        {"--twin-check", TOOL_FLAG_SWITCH, &o->twin_check, 0, 0, NULL,
         "compare DIR's SGD runs with its PyTorch twin (DIR/twin/, bench/run_twin.py) and write\n"
         "nothing: exit 0 when they agree within the seeds' spread (Welch p >= 0.05), 1 when\n"
         "they do not, 2 when either has fewer than 2 runs"},
        {"--target", TOOL_FLAG_DOUBLE, &o->target, -HUGE_VAL, HUGE_VAL, "X",
         "test accuracy (fraction) for 'epochs/time to target'\n"
         "(default: sweep.json's target_acc, else 90 % of the weakest group's mean)"},
        {"--targets", TOOL_FLAG_STR, &o->targets, 0, 0, "LIST",
         "the targets of the time-to-target table (comma-separated fractions; default:\n"
         "the target and 50, 75, 90, 100 % of the best group's mean)"},
        {"--compare-to", TOOL_FLAG_STR, &o->compare_to, 0, 0, "G",
         "reference group of the Welch tests (default: sweep.json's, else daoe)"},
        {"--resamples", TOOL_FLAG_INT, &o->boot.B, 100, 10000000, "B", "bootstrap resamples (default " STR(BOOT_B) ")"},
        {"--boot-seed", TOOL_FLAG_INT, &boot_seed, 0, 2147483647, "S",
         "seed of the bootstrap's generator (default " STR(BOOT_SEED) ")"},
        {"--check", TOOL_FLAG_STR, &o->check_new, 0, 0, "NEW",
         "regression check of NEW against --reference REF: exit 1 and name the group\n"
         "when its mean final test accuracy falls below, or rises above, what REF's\n"
         "spread allows"},
        {"--reference", TOOL_FLAG_STR, &o->ref, 0, 0, "REF", "the reference runs of --check"},
        {"--one-sided", TOOL_FLAG_SWITCH, &o->co.one_sided, 0, 0, NULL,
         "the check fails on drops only (rises are reported as ok-ROSE)"},
        {"--alpha", TOOL_FLAG_DOUBLE, &o->co.alpha, -HUGE_VAL, HUGE_VAL, "A",
         "level of the check per group (default 0.01; two-sided: A/2 each way)"},
        {"--margin", TOOL_FLAG_DOUBLE, &o->co.margin, -HUGE_VAL, HUGE_VAL, "M",
         "smallest change (fraction) the check reports (default 0.01 = 1 point)"},
        {"--groups", TOOL_FLAG_STR, &o->co.groups, 0, 0, "LIST",
         "check only these groups (comma-separated), e.g. after a sweep with --only"},
        {"--power", TOOL_FLAG_STR, &o->power, 0, 0, "REF",
         "the check's allowed and minimum detectable drops (80 % power) from REF's\n"
         "spread, as Markdown on stdout (REPRODUCE.md quotes it)"},
        {"--n-new", TOOL_FLAG_INT, &o->co.n_new, 1, 10000, "N",
         "--power: seeds per group of the runs to be checked (default: the reference's)"},
    };
    const tool_cmdline c = {
        .head = "usage: daoe-stats [options] DIR\n"
                "       daoe-stats --report [options] DIR\n"
                "       daoe-stats --check NEW --reference REF [--alpha A] [--margin M] [--groups LIST] [--one-sided]\n"
                "       daoe-stats --power REF [--n-new N] [--alpha A] [--margin M] [--one-sided]\n"
                "Reads the run folders under DIR (results/<profile>) and writes DIR/summary.{json,md,tex},\n"
                "DIR/plotdata/ (for plots/*.gp) and, for a tune sweep, DIR/tuned.json.\n\n",
        .positional = &o->dir,
        .what = "folder"};
    const int nflags = (int)(sizeof flags / sizeof flags[0]);
    tool_parse(argc, argv, flags, nflags, &c);
    o->boot.seed = (unsigned long)boot_seed;
    if (!o->dir && !o->power && !o->check_new && !o->ref) {
        tool_usage(stderr, flags, nflags, &c);
        return 2;
    }
    return 0;
}

static void report(const study_t *S) {
    int nfin = 0, ndiv = 0, ninc = 0;
    for (int k = 0; k < S->ng; k++) nfin += S->g[k].nfin, ndiv += S->g[k].ndiv, ninc += S->g[k].ninc;
    fprintf(stderr, "daoe-stats: %s: %d runs in %d groups (%d finished, %d diverged, %d incomplete) -> summary.{json,md,tex}, plotdata/%s\n",
            S->dir, S->nruns, S->ng, nfin, ndiv, ninc, !is_tune(S) ? "" : tune_left(S, NULL) ? ", tuned.partial.json" : ", tuned.json");
}

/* --twin-check: our SGD against the PyTorch twin, a line on stderr; the exit status */
static int twin_check(const study_t *S) {
    const twin_t *tw = &S->twin;
    const welch_t *w = &tw->vs;
    const group_t *sgd = find_group(S, "sgd");
    if (tw->n < 2 || !sgd || sgd->test.n < 2) {
        fprintf(stderr, "daoe-stats: %s: twin check: %d twin run(s), %d finished SGD run(s): at least 2 of each needed\n",
                S->dir, tw->n, sgd ? sgd->test.n : 0);
        return 2;
    }
    int agree = !(w->p < 0.05);
    fprintf(stderr,
            "daoe-stats: %s: twin check: our SGD %.2f %% (n %d) vs PyTorch %s %.2f %% (n %d): %+.2f points, 95 %% CI "
            "[%+.2f, %+.2f], Welch p = %.3g: %s\n",
            S->dir, 100 * sgd->test.mean, w->na, tw->torch, 100 * tw->test.mean, w->nb,
            100 * w->diff, 100 * w->lo, 100 * w->hi, w->p,
            agree ? "within the seeds' spread" : "MORE than the seeds' spread explains: find out why before the table");
    return agree ? 0 : 1;
}

int main(int argc, char **argv) {
    stats_opts_t o;
    gsl_set_error_handler_off();
    if (parse_flags(argc, argv, &o)) return 2;
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
    if (!o.dir) tool_die("no folder given (daoe-stats DIR)");
    if (isfinite(o.target) && !(o.target > 0 && o.target <= 1)) tool_die("--target is a fraction in (0, 1]");
    study_t S;
    study_read(&S, o.dir);
    if (!S.nruns) tool_die("%s: no run folders (folders with a config.json)", o.dir);
    study_compute(&S, o.compare_to, o.target);
    if (o.twin_check) return twin_check(&S);
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
