/* daoe-stats' pieces (see daoe_stats.c for what the tool does):
 *   stats_read.c     run folders -> stats_run_t (config.json, summary.json, epochs.csv, alpha.csv, sweep_run.json)
 *   stats_compute.c  groups, descriptive statistics, Welch tests with Holm, targets, the tune winners
 *   stats_table.c    the table model: rows of cells built once, rendered as Markdown or LaTeX
 *   stats_write.c    summary.json, summary.md, summary.tex, tuned.json
 *   stats_robust.c   the robust statistics: bootstrap intervals, IQM, probability of improvement,
 *                    the paired comparison by seed, time to targets, the figures' bands
 *   stats_plot.c     plotdata/ for the gnuplot scripts in plots/
 *   stats_report.c   report.html: the page a person opens
 *   stats_check.c    the CI regression check */
#ifndef DAOE_STATS_H
#define DAOE_STATS_H
#include "daoe/ensemble.h"
#include "daoe/util.h"
#include <cjson/cJSON.h>
#include <stddef.h>
#include <string.h>

#define PAPER_ACC 0.916
#define PAPER_LABEL "DAO-E, paper (reported)"
#define PAPER_SETTING "CIFAR-10, ResNet-18, batch 128, 100 epochs; no seeds or spread reported"

/* ------------------------------------------------------------------ runs */
typedef struct {
    int n;            /* rows */
    double *test, *val, *loss, *sec;
    double *alpha[DAOE_K], *share[DAOE_K];
} epochs_t;

typedef struct {
    int n, loaded;
    double *step, *loss, *x_mean, *x_var, *alpha[DAOE_K], *share[DAOE_K];
} trace_t;

#define MAX_TARGETS 8

typedef struct {
    char id[256], group[256], optimizer[32], setting[128], dir[2048];
    char status[16];             /* finished, diverged, incomplete */
    char seed[32];
    double test_acc, val_acc, best_val_acc, ips, wall, diverged_at;
    int epochs_planned, epochs_completed, steps_per_epoch;
    int width, batch, train_subset, val, test_subset;
    char backend[16], device[512], cpu[256], software[600];
    int cores;
    double ep_target, sec_target;/* NAN if not reached */
    double ep_to[MAX_TARGETS];   /* epochs to each of study_t's targets (NAN: missed) */
    epochs_t ep;
    trace_t tr;                  /* alpha.csv (load_trace) */
    cJSON *setting_args;         /* from sweep_run.json (owned by rec) */
    cJSON *rec, *cfg;
} stats_run_t;

/* ------------------------------------------------------------------ statistics */
typedef struct {
    int n;
    double mean, sd, lo, hi, min, max;
} desc_t;

/* a statistic and its bootstrap percentile 95 % interval (NaN: none) */
typedef struct {
    double est, lo, hi;
} est_ci;

/* the paired comparison by seed: runs of both groups with the same seed */
typedef struct {
    int n;                 /* seeds both groups finished */
    int traced, verified;  /* pairs whose alpha.csv both have; pairs shown to share init and data order */
    int steps;             /* traced steps compared (over all pairs) */
    double mean, sd, lo, hi, t, df, p, p_holm; /* per-seed differences: mean, sd, 95 % t interval, paired t-test */
    est_ci boot;           /* the mean difference with its bootstrap interval */
} paired_t;

typedef struct {
    char a[256], b[256];
    int na, nb;
    double diff, lo, hi, t, df, p, p_holm, g;
    /* robust statistics of the same comparison (stats_robust.c) */
    est_ci dmean, diqm, poi; /* differences of means and of IQMs (a − b), P(a > b) */
    double u;                /* Mann-Whitney U of a: pairs with a > b, ties counted 1/2 */
    paired_t pr;
} welch_t;

/* time to one target accuracy: every run that finished or diverged counts, a miss as infinitely slow */
typedef struct {
    int runs, reached;
    double med_ep, med_steps, min_ep, max_ep; /* INFINITY: more than half missed; NaN: no run */
} ttt_t;

typedef struct {
    char name[256], optimizer[32], setting[128];
    int *idx, nruns, nfin, ndiv, ninc;
    int *fin;                       /* indices of finished runs */
    desc_t test, val, best_val, ep_target, sec_target, ips, wall;
    est_ci boot_mean, iqm;          /* final test accuracy: mean and IQM with bootstrap intervals */
    ttt_t tt[MAX_TARGETS];
    cJSON *setting_args;
} group_t;

/* the bootstrap: resamples and the seed of its gsl_rng (mt19937) */
typedef struct {
    int B;
    unsigned long seed;
} boot_opts;
#define BOOT_B 10000
#define BOOT_SEED 20261203

/* The PyTorch twin (bench/run_twin.py): DIR/twin/<seed>.json files, bench/torch_train.py training SGD
 * on the same recipe with PyTorch's own random numbers. Not a run of this suite: a row
 * apart in the final-accuracy table and a Welch test against our SGD. */
#define TWIN_MAX 64
#define TWIN_LABEL "SGD, PyTorch twin"
typedef struct {
    int n;                 /* runs read */
    double acc[TWIN_MAX];  /* their final test accuracy */
    char torch[64], device[64], lr[32];
    desc_t test;
    welch_t vs;            /* our SGD (a) against the twin (b); vs.na 0: no SGD group */
} twin_t;

typedef struct {
    const char *dir;
    stats_run_t *runs;
    int nruns;
    group_t *g;
    int ng;
    cJSON *sweep;                   /* DIR/sweep.json, may be NULL */
    const char *kind, *compare_to, *profile;
    double target;
    char target_rule[256];
    double targets[MAX_TARGETS];    /* time to target (stats_robust.c), ascending */
    int ntargets;
    char targets_rule[256];
    welch_t *w;
    int nw;
    boot_opts boot;
    unsigned members;               /* the members with alpha columns in some run's epochs.csv */
    twin_t twin;
} study_t;

/* stats_read.c */
void study_read(study_t *S, const char *dir);
void load_trace(stats_run_t *r);

/* stats_compute.c */
desc_t describe(const double *x, int n);
/* Holm step-down over the finite p[0..n): adj[i] (NaN where p[i] is not finite) */
void holm(const double *p, double *adj, int n);
void study_compute(study_t *S, const char *compare_to, double target);
/* the first epoch whose test accuracy reaches target, and the training and evaluation seconds
 * until then (sec may be NULL); NaN when none does */
double epochs_to(const stats_run_t *r, double target, double *sec);
/* both: what every part of daoe-stats starts from */
void load_study(study_t *S, const char *dir, const char *compare_to, double target);
int is_tune(const study_t *S);
int tune_unfinished(const study_t *S, int *total);
/* the same for one optimizer's grid (opt NULL: every run) */
int tune_unfinished_of(const study_t *S, const char *opt, int *total);
int is_ablation(const study_t *S);
const group_t *find_group(const study_t *S, const char *name);
const group_t *tune_winner(const study_t *S, const char *opt, int use_best);
const char *select_on(const study_t *S);
/* where group stands among opt's tuning points (the grid in sweep.json's run order, ascending
 * in bench/profiles/tune.json, with a point beyond it that has run): -1 the lowest, 1 the
 * highest, 0 inside (or a grid of one) */
#define MAXPOINTS 64
int tune_edge(const study_t *S, const char *opt, const char *group);
/* group k is its optimizer's first (groups are sorted by optimizer): a loop over optimizers */
static inline int first_of_optimizer(const study_t *S, int k) {
    return !k || strcmp(S->g[k - 1].optimizer, S->g[k].optimizer) != 0;
}
/* the tune profile's point beyond opt's grid on a side (-1 low, 1 high; grid_beyond), its group
 * name into group; NULL when it names none */
const cJSON *tune_beyond(const study_t *S, const char *opt, int side, char *group, size_t n);
/* the side whose point beyond is due: every run of opt's grid has ended, the best point is at
 * that edge, the profile names a point beyond it, and it has not run; 0: none */
int tune_extension_due(const study_t *S, const char *opt, int use_best);
/* the runs the tuning still needs: tune_unfinished's and the points beyond that are due (total: all) */
int tune_left(const study_t *S, int *total);
/* opt's choice is final: every run ended and no point beyond is due */
int tune_settled(const study_t *S, const char *opt, int use_best);
double mixing_mean(const study_t *S, const group_t *g, int trace, int share, int m, int t);
int paper_comparable(const study_t *S);
void setting_words(const study_t *S, char *buf, size_t n);
/* the display name of an optimizer ("DAO-E"), else the group name itself */
const char *label(const char *group);

/* stats_robust.c */
/* targets: a comma-separated list of fractions (NULL: the study's target and
 * 50, 75, 90 and 100 % of the best group's mean final test accuracy, floored to whole percents) */
void robust_compute(study_t *S, const char *targets);
/* a figure's band of x[0..n): min-max below BAND_MIN_BOOT values, else the bootstrap interval of
 * the mean; clipped to [lo_clip, hi_clip]; returns the kind (0: none, 1: min-max, 2: bootstrap) */
#define BAND_MIN_BOOT 5
int figure_band(const boot_opts *bo, const double *x, int n, double lo_clip, double hi_clip, double *mean, double *lo,
                double *hi);
/* the sentence that says how the pairs were checked */
const char *pairing_words(void);

/* stats_table.c: a table is built once, as rows of cells, and rendered as
 * Markdown (summary.md) or LaTeX (summary.tex), each with the columns it shows */
#define TABLE_MAXCOL 12
typedef struct {
    const char *md, *tex; /* headers as written in each format */
    char align;           /* 'l', 'r' or 'c' (Markdown: 'c' is left) */
} column_t;

typedef struct {
    char *text;  /* NULL: no value (– in Markdown, -- in LaTeX) */
    char *minus; /* set: the cell is the difference "text − minus" of two groups */
} cell_t;

typedef struct {
    int ncol, nrow, cap;
    column_t col[TABLE_MAXCOL];
    cell_t *cells;            /* [nrow][ncol] */
    unsigned char *reference; /* per row: not a result of these runs (the paper's): set apart, in italics */
    int links;                /* 1 + the column whose cells are space-separated paths under the results folder
                                 (links in HTML, left out of Markdown); 0: none */
} table_t;

void table_init(table_t *t, const column_t *cols, int ncol);
/* a new row of empty cells (valid until the next table_row) */
cell_t *table_row(table_t *t, int reference);
void cell_printf(cell_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cell_num(cell_t *c, double v, int dec);             /* %.*f; NaN: no value */
void cell_pval(cell_t *c, double p);                     /* %.4f, %.1e below 1e-4 */
void cell_interval(cell_t *c, double lo, double hi, int dec); /* [lo, hi]; NaN: no value */
void cell_diff(cell_t *c, const char *a, const char *b);
void table_free(table_t *t);
/* "### title", the header and the rows; cols: the columns shown, in order (NULL: all) */
void md_table(daoe_strbuf *b, const char *title, const table_t *t, const int *cols, int ncols);
/* a LaTeX table environment with booktabs rules */
void tex_table(daoe_strbuf *b, const char *caption, const char *label, const table_t *t, const int *cols, int ncols);
/* an HTML <table> after an <h3> title with an id; the Markdown headers; cols NULL: all, links included */
void html_table(daoe_strbuf *b, const char *title, const char *id, const table_t *t, const int *cols, int ncols);
/* text with &, <, >, " escaped */
void html_escape(daoe_strbuf *b, const char *s);

/* stats_write.c: every table, built once for summary.md, summary.tex and report.html */
typedef struct {
    table_t acc;                             /* final test accuracy (tune: validation), with the paper's row */
    table_t val, ep_target, sec_target, ips; /* not in a tune sweep */
    table_t welch, mixing, tuned, runs;
    table_t boot, robust, paired, ttt;       /* the robust statistics (not in a tune sweep) */
    table_t claims;                          /* the paper's two claims answered (a compare sweep with DAO-E) */
    char claims_text[3000];                  /* the same in a paragraph */
    double claims_share[2][DAOE_K];          /* DAO-E's mean update shares, first and last 10 % of the steps */
    int claims_share_runs[2];                /* the finished DAO-E runs that traced a step in each window */
    int use_best;                            /* tune: chosen on the best, not the final, validation accuracy */
} tables_t;
enum { RUN_FILES_COL = 8 };                 /* the runs table's column of raw files (HTML only) */
void build_tables(tables_t *T, const study_t *S);
void free_tables(tables_t *T);
/* the tables in the order summary.md and report.html show them, each with its title,
 * the columns Markdown shows (NULL: all but links) and the sentences under it (plain text) */
typedef struct {
    const char *id, *nav; /* report.html's anchor and its name in the page's menu */
    char title[160];
    const table_t *t;
    const int *cols;
    int ncols;
    char note[2400];
} section_t;
#define MAX_SECTIONS 16
int summary_sections(const study_t *S, const tables_t *T, section_t *sec);
void write_summaries(const study_t *S);
void write_tuned(const study_t *S);

/* stats_report.c: DIR/report.html (the figures: the SVGs in DIR/figures, beside it) */
void write_report(study_t *S);
/* "Not complete: N of the M runs planned ..." into out when some have not ended (returns 1), else 0 */
int incomplete_words(const study_t *S, char *out, size_t n);

/* stats_plot.c */
void write_plotdata(study_t *S);
/* the accuracy the figures draw: a tuning's (kind "tune") validation accuracy, which it selects on,
 * else the test set's; the one place both the figures' data and the report's captions ask */
int figures_draw_val(const study_t *S);

/* stats_check.c */
typedef struct {
    double alpha, margin; /* level per group (two-sided: alpha/2 each way); the smallest change that fails */
    const char *groups;   /* comma-separated groups to check (NULL: all) */
    int n_new;            /* --power: the new runs per group (0: as many as the reference) */
    int one_sided;        /* only drops fail (rises are reported as ok-ROSE) */
} check_opts;
int check(const char *new_dir, const char *ref_dir, const check_opts *co);
/* the check's power from the reference's spread, as Markdown on stdout */
int power_report(const char *ref_dir, const check_opts *co);
#endif
