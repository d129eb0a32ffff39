/* daoe-stats' pieces (see daoe_stats.c for what the tool does):
 *   stats_read.c     run folders -> run_t (config.json, summary.json, epochs.csv, alpha.csv, sweep_run.json)
 *   stats_compute.c  groups, descriptive statistics, Welch tests with Holm, targets, the tune winners
 *   stats_table.c    the table model: rows of cells built once, rendered as Markdown or LaTeX
 *   stats_write.c    summary.json, summary.md, summary.tex, tuned.json
 *   stats_plot.c     plotdata/ for the gnuplot scripts in plots/
 *   stats_check.c    the CI regression check */
#ifndef DAOE_STATS_H
#define DAOE_STATS_H
#include "daoe/optim.h"
#include "daoe/util.h"
#include <cjson/cJSON.h>
#include <stddef.h>

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
    int n;
    double *step, *alpha[DAOE_K], *share[DAOE_K];
} trace_t;

typedef struct {
    char id[256], group[256], optimizer[32], setting[128], dir[2048];
    char status[16];             /* finished, diverged, incomplete */
    char seed[32];
    double test_acc, val_acc, best_val_acc, ips, wall, diverged_at;
    int epochs_planned, epochs_completed, steps_per_epoch;
    int width, batch, train_subset, val, test_subset;
    char backend[16], device[256], cpu[256], software[600];
    int cores;
    double ep_target, sec_target;/* NAN if not reached */
    epochs_t ep;
    trace_t tr;                  /* alpha.csv, read only for the plot data */
    cJSON *setting_args;         /* from sweep_run.json (owned by rec) */
    cJSON *rec, *cfg;
} run_t;

/* ------------------------------------------------------------------ statistics */
typedef struct {
    int n;
    double mean, sd, lo, hi, min, max;
} desc_t;

typedef struct {
    char a[256], b[256];
    int na, nb;
    double diff, lo, hi, t, df, p, p_holm, g;
} welch_t;

typedef struct {
    char name[256], optimizer[32], setting[128];
    int *idx, nruns, nfin, ndiv, ninc;
    int *fin;                       /* indices of finished runs */
    desc_t test, val, best_val, ep_target, sec_target, ips, wall;
    cJSON *setting_args;
} group_t;

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

/* stats_read.c */
void study_read(study_t *S, const char *dir);
void load_trace(run_t *r);

/* stats_compute.c */
desc_t describe(const double *x, int n);
void study_compute(study_t *S, const char *compare_to, double target);
/* both: what every part of daoe-stats starts from */
void load_study(study_t *S, const char *dir, const char *compare_to, double target);
int is_tune(const study_t *S);
int is_ablation(const study_t *S);
const group_t *find_group(const study_t *S, const char *name);
const group_t *tune_winner(const study_t *S, const char *opt, int use_best);
const char *select_on(const study_t *S);
double mixing_mean(const study_t *S, const group_t *g, int trace, int share, int m, int t);
int paper_comparable(const study_t *S);
void setting_words(const study_t *S, char *buf, size_t n);
/* the display name of an optimizer ("DAO-E"), else the group name itself */
const char *label(const char *group);

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

/* stats_write.c */
void write_summaries(const study_t *S);
void write_tuned(const study_t *S);

/* stats_plot.c */
void write_plotdata(study_t *S);

/* stats_check.c */
typedef struct {
    double alpha, margin; /* one-sided level per group; the smallest drop that fails */
    const char *groups;   /* comma-separated groups to check (NULL: all) */
    int n_new;            /* --power: the new runs per group (0: as many as the reference) */
} check_opts;
int check(const char *new_dir, const char *ref_dir, const check_opts *co);
/* the check's power from the reference's spread, as Markdown on stdout */
int power_report(const char *ref_dir, const check_opts *co);
#endif
