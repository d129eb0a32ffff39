/* daoe-stats --report DIR: DIR/report.html, the one page a person opens
 * instead of the CSV files. Self-contained: no server, no network, no script;
 * inline CSS; the figures are gnuplot's SVGs in DIR/figures/ beside it (the
 * figures step makes them), and the raw files are linked where they lie.
 * It holds the setting and the environment, the figures (curves, final
 * accuracies, performance profiles, alpha and update shares, throughput,
 * ablation), every table of summary.md with the same sentences (built once,
 * stats_write.c) and the run list with each run's status and raw files. */
#define _GNU_SOURCE
#include "daoe/util.h"
#include "stats.h"
#include "tool.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *STYLE =
    "body{font-family:sans-serif;margin:1.5em auto;max-width:1150px;padding:0 1em;color:#222;line-height:1.4}"
    "h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{font-size:1.05em}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.2em .5em;"
    "vertical-align:top}th{background:#f2f2f2;text-align:left}td.r{text-align:right;font-variant-numeric:tabular-nums}"
    "tr.ref td{color:#666}p.note{font-size:.85em;color:#444;max-width:60em}nav a{margin-right:.8em}"
    "figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.85em;"
    "color:#444}table.kv th{width:14em}table:not(.kv) td{white-space:nowrap}h3#claims+table td{white-space:normal}"
    ".figs{display:grid;grid-template-columns:1fr 1fr;gap:1em}";

/* a row of the setting table: name and (escaped) value */
static void kv(daoe_strbuf *b, const char *name, const char *value) {
    daoe_sb_printf(b, "<tr><th>%s</th><td>", name);
    html_escape(b, value && value[0] ? value : "–");
    daoe_sb_printf(b, "</td></tr>\n");
}

/* the different values of a string field of the runs, with how many runs have each */
static void distinct(daoe_strbuf *out, const study_t *S, const char *(*get)(const stats_run_t *)) {
    for (int i = 0; i < S->nruns; i++) {
        const char *v = get(&S->runs[i]);
        int seen = 0, count = 0;
        for (int j = 0; j < S->nruns; j++) {
            seen |= j < i && !strcmp(get(&S->runs[j]), v);
            count += !strcmp(get(&S->runs[j]), v);
        }
        if (seen) continue;
        if (count == S->nruns) daoe_sb_printf(out, "%s (every run)", v[0] ? v : "?");
        else daoe_sb_printf(out, "%s%s (%d of %d runs)", out->len ? "; " : "", v[0] ? v : "?", count, S->nruns);
    }
}

static const char *cfg_str(const stats_run_t *r, const char *obj, const char *key) {
    const cJSON *o = obj ? cJSON_GetObjectItemCaseSensitive(r->cfg, obj) : r->cfg;
    return jstr(o, key, "");
}
static const char *get_commit(const stats_run_t *r) { return cfg_str(r, "versions", "git_commit"); }
static const char *get_host(const stats_run_t *r) { return cfg_str(r, "machine", "hostname"); }
static const char *get_kernel(const stats_run_t *r) { return cfg_str(r, "machine", "kernel"); }
static const char *get_device(const stats_run_t *r) { return r->device; }
static const char *get_software(const stats_run_t *r) { return r->software; }
static const char *get_precision(const stats_run_t *r) { return cfg_str(r, NULL, "precision"); }
static const char *get_conv(const stats_run_t *r) { return cfg_str(r, NULL, "cpu_conv"); }
static const char *get_blas(const stats_run_t *r) { return cfg_str(r, "blas", "kernels"); }

/* config.json's environment switches that are set (the same for every run, or per value) */
static const char *get_env(const stats_run_t *r) {
    static char buf[1024];
    daoe_strbuf e = {0};
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(r->cfg, "environment");
    for (const cJSON *x = env ? env->child : NULL; x; x = x->next)
        if (cJSON_IsString(x)) daoe_sb_printf(&e, "%s%s=%s", e.len ? " " : "", x->string, x->valuestring);
    snprintf(buf, sizeof buf, "%s", e.s ? e.s : "none set");
    daoe_sb_free(&e);
    return buf;
}

static void setting_section(daoe_strbuf *b, const study_t *S) {
    char sw[1024], line[2048];
    setting_words(S, sw, sizeof sw);
    daoe_sb_printf(b, "<h2 id=\"setting\">Setting and environment</h2>\n<table class=\"kv\">\n");
    kv(b, "profile", S->profile);
    kv(b, "kind", S->kind);
    kv(b, "setting", sw);
    kv(b, "the paper's 91.6 %", paper_comparable(S) ? "these runs use the paper's setting"
                                                    : "not comparable: these runs use a smaller setting");
    int nfin = 0, ndiv = 0, ninc = 0;
    double tot = 0;
    for (int k = 0; k < S->ng; k++) nfin += S->g[k].nfin, ndiv += S->g[k].ndiv, ninc += S->g[k].ninc;
    for (int i = 0; i < S->nruns; i++) tot += isfinite(S->runs[i].wall) ? S->runs[i].wall : 0;
    snprintf(line, sizeof line, "%d in %d groups: %d finished, %d diverged, %d unfinished; %.1f min of run time in all",
             S->nruns, S->ng, nfin, ndiv, ninc, tot / 60);
    kv(b, "runs", line);
    struct {
        const char *name;
        const char *(*get)(const stats_run_t *);
    } fields[] = {{"software", get_software}, {"git commit", get_commit}, {"device", get_device},
                  {"precision", get_precision}, {"CPU convolutions", get_conv}, {"OpenBLAS kernels", get_blas},
                  {"environment switches", get_env}, {"host", get_host}, {"kernel", get_kernel}};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        daoe_strbuf v = {0};
        distinct(&v, S, fields[f].get);
        kv(b, fields[f].name, v.s);
        daoe_sb_free(&v);
    }
    snprintf(line, sizeof line, "%d resamples, gsl_rng mt19937 seeded with %lu; percentile 95 %% intervals, "
                                "stratified by group", S->boot.B, S->boot.seed);
    kv(b, "bootstrap", line);
    kv(b, "pairs by seed", pairing_words());
    daoe_sb_printf(b, "</table>\n");
}

/* ------------------------------------------------------------------ figures */
typedef struct {
    const char *name, *caption;
} figure_t;

static int has_alpha_traces(study_t *S) {
    for (int k = 0; k < S->ng; k++) {
        const group_t *g = &S->g[k];
        int all = g->nfin > 0 && !strcmp(g->optimizer, "daoe");
        for (int i = 0; all && i < g->nfin; i++) {
            load_trace(&S->runs[g->fin[i]]);
            all = S->runs[g->fin[i]].tr.n > 0;
        }
        if (all) return 1;
    }
    return 0;
}

static void figures_section(daoe_strbuf *b, study_t *S) {
    /* a tuning's figures draw the validation accuracy it selects on, never the test set's */
    const int val = figures_draw_val(S);
    const char *w = val ? "validation" : "test";
    char curves[400], final[200], profile[400];
    snprintf(curves, sizeof curves, "%s accuracy per epoch%s: the mean over seeds and a band (the legend says which: "
             "the bootstrap 95 %% interval of the mean with 5 or more runs, else the runs' min-max).",
             val ? "Validation" : "Test", val ? " (what the tuning selects on; the test set is not drawn)" : "");
    snprintf(final, sizeof final, "Final %s accuracy: the mean with the same band, and every seed.", w);
    snprintf(profile, sizeof profile, "Performance profiles: for every threshold, the fraction of a group's runs whose "
             "final %s accuracy is at least that threshold (diverged runs count as below every threshold). A curve "
             "further right is better.", w);
    const figure_t figs[] = {
        {val ? "val_accuracy" : "test_accuracy", curves},
        {"train_loss", "Training loss per epoch, the same way."},
        {"final_accuracy", final},
        {"performance_profile", profile},
        {"alpha", "DAO-E's mixing weights alpha over training (stacked; mean over seeds at each traced step)."},
        {"share", "Each member's share of the applied update, alpha_i |d_i| / sum_j alpha_j |d_j| (stacked): "
                  "alpha is not the share (SPEC 3.1)."},
        {"throughput", "Training throughput (images/s)."},
        {"ablation", "Ablation: every DAO-E variant against the full DAO-E."}};
    int alpha = has_alpha_traces(S);
    daoe_sb_printf(b, "<h2 id=\"figures\">Figures</h2>\n<div class=\"figs\">\n");
    for (size_t f = 0; f < sizeof figs / sizeof figs[0]; f++) {
        const char *n = figs[f].name;
        if ((!strcmp(n, "alpha") || !strcmp(n, "share")) && !alpha) continue;
        if (!strcmp(n, "ablation") && !is_ablation(S)) continue;
        char p[2400];
        snprintf(p, sizeof p, "%s/figures/%s.svg", S->dir, n);
        if (access(p, R_OK) != 0)
            fprintf(stderr, "daoe-stats: warning: %s missing: run the figures step (plots/*.gp) before --report\n", p);
        daoe_sb_printf(b, "<figure id=\"fig-%s\"><a href=\"figures/%s.svg\"><img src=\"figures/%s.svg\" alt=\"%s\" "
                          "width=\"1000\" height=\"650\"></a><figcaption>", n, n, n, n);
        html_escape(b, figs[f].caption);
        for (int k = 0; k < 2; k++) { /* the other formats the figures step made */
            const char *ext = k ? "png" : "pdf";
            snprintf(p, sizeof p, "%s/figures/%s.%s", S->dir, n, ext);
            if (access(p, R_OK) == 0) daoe_sb_printf(b, " <a href=\"figures/%s.%s\">%s</a>", n, ext, ext);
        }
        daoe_sb_printf(b, "</figcaption></figure>\n");
    }
    daoe_sb_printf(b, "</div>\n");
}

/* ------------------------------------------------------------------ the page */
static void raw_files(daoe_strbuf *b, const study_t *S) {
    const char *files[] = {"summary.md", "summary.json", "summary.tex", "sweep.json", "timings.tsv", "tuned.json"};
    daoe_sb_printf(b, "<h2 id=\"files\">Raw and generated files</h2>\n<p>");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[2400];
        snprintf(p, sizeof p, "%s/%s", S->dir, files[i]);
        if (access(p, R_OK) == 0) daoe_sb_printf(b, "<a href=\"%s\">%s</a> ", files[i], files[i]);
    }
    daoe_sb_printf(b, "<a href=\"plotdata/\">plotdata/</a> (what the figures draw), <a href=\"figures/\">figures/</a>. "
                      "Each run's folder holds config.json, summary.json, epochs.csv and alpha.csv (linked in the run "
                      "list).</p>\n");
}

void write_report(study_t *S) {
    tables_t T;
    build_tables(&T, S);
    section_t sec[MAX_SECTIONS];
    int n = summary_sections(S, &T, sec);
    daoe_strbuf b = {0};
    daoe_sb_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>DAO-E results: ");
    html_escape(&b, S->profile ? S->profile : S->dir);
    daoe_sb_printf(&b, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>DAO-E benchmark results: ", STYLE);
    html_escape(&b, S->profile ? S->profile : S->dir);
    daoe_sb_printf(&b, " (%s)</h1>\n<p>Generated by <code>daoe-stats --report ", S->kind);
    html_escape(&b, S->dir);
    daoe_sb_printf(&b, "</code> from the %d run folders beside this page; every number and figure comes from their raw "
                       "files. Do not edit by hand. Accuracies in %%.</p>\n<nav><a href=\"#setting\">Setting</a>"
                       "<a href=\"#figures\">Figures</a>", S->nruns);
    for (int i = 0; i < n; i++) {
        daoe_sb_printf(&b, "<a href=\"#%s\">", sec[i].id);
        html_escape(&b, sec[i].nav);
        daoe_sb_printf(&b, "</a>");
    }
    daoe_sb_printf(&b, "<a href=\"#files\">Files</a></nav>\n");
    char inc[200];
    if (incomplete_words(S, inc, sizeof inc)) daoe_sb_printf(&b, "<p id=\"incomplete\"><strong>%s</strong></p>\n", inc);
    setting_section(&b, S);
    figures_section(&b, S);
    daoe_sb_printf(&b, "<h2 id=\"tables\">Tables</h2>\n");
    for (int i = 0; i < n; i++) {
        html_table(&b, sec[i].title, sec[i].id, sec[i].t, sec[i].cols, sec[i].ncols);
        if (sec[i].note[0]) {
            daoe_sb_printf(&b, "<p class=\"note\">");
            html_escape(&b, sec[i].note);
            daoe_sb_printf(&b, "</p>\n");
        }
    }
    raw_files(&b, S);
    daoe_sb_printf(&b, "</body>\n</html>\n");
    tool_write_text(S->dir, "report.html", b.s);
    daoe_sb_free(&b);
    free_tables(&T);
}
