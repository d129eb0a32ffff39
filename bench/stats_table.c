/* daoe-stats: the table model. A table's rows and cells are built once from
 * the statistics; md_table, tex_table and html_table render it, each format
 * with its own headers, its own mark for a missing value and the columns it
 * shows. */
#define _GNU_SOURCE
#include "stats.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void table_init(table_t *t, const column_t *cols, int ncol) {
    memset(t, 0, sizeof *t);
    if (ncol > TABLE_MAXCOL) daoe_fatal("table: %d columns, at most %d", ncol, TABLE_MAXCOL);
    t->ncol = ncol;
    memcpy(t->col, cols, sizeof *cols * (size_t)ncol);
}

cell_t *table_row(table_t *t, int reference) {
    if (t->nrow == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->cells = realloc(t->cells, sizeof *t->cells * (size_t)(t->cap * t->ncol));
        t->reference = realloc(t->reference, (size_t)t->cap);
        if (!t->cells || !t->reference) daoe_fatal("out of memory");
    }
    cell_t *row = t->cells + (size_t)t->nrow * t->ncol;
    memset(row, 0, sizeof *row * (size_t)t->ncol);
    t->reference[t->nrow++] = (unsigned char)reference;
    return row;
}

void cell_printf(cell_t *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    free(c->text);
    if (vasprintf(&c->text, fmt, ap) < 0) daoe_fatal("out of memory");
    va_end(ap);
}

void cell_num(cell_t *c, double v, int dec) {
    if (isfinite(v)) cell_printf(c, "%.*f", dec, v);
}

void cell_pval(cell_t *c, double p) {
    if (!isfinite(p)) return;
    if (p < 1e-4) cell_printf(c, "%.1e", p);
    else cell_printf(c, "%.4f", p);
}

void cell_interval(cell_t *c, double lo, double hi, int dec) {
    if (isfinite(lo)) cell_printf(c, "[%.*f, %.*f]", dec, lo, dec, hi);
}

void cell_diff(cell_t *c, const char *a, const char *b) {
    cell_printf(c, "%s", a);
    c->minus = daoe_xstrdup(b);
}

void table_free(table_t *t) {
    for (int i = 0; i < t->nrow * t->ncol; i++) {
        free(t->cells[i].text);
        free(t->cells[i].minus);
    }
    free(t->cells);
    free(t->reference);
    memset(t, 0, sizeof *t);
}

/* the table column shown at place i */
static int shown(const int *cols, int i) { return cols ? cols[i] : i; }

/* ------------------------------------------------------------------ Markdown */
static void md_cell(daoe_strbuf *b, const cell_t *c, int emph) {
    if (!c->text) daoe_sb_printf(b, " – |");
    else if (c->minus) daoe_sb_printf(b, " %s − %s |", c->text, c->minus);
    else daoe_sb_printf(b, emph ? " *%s* |" : " %s |", c->text);
}

void md_table(daoe_strbuf *b, const char *title, const table_t *t, const int *cols, int ncols) {
    int all[TABLE_MAXCOL], n = 0;
    if (!cols) /* every column but the links to files (HTML's) */
        for (int i = 0; i < t->ncol; i++)
            if (i != t->links - 1) all[n++] = i;
    if (!cols) cols = all;
    else n = ncols;
    daoe_sb_printf(b, "\n### %s\n\n|", title);
    for (int i = 0; i < n; i++) daoe_sb_printf(b, " %s |", t->col[cols[i]].md);
    daoe_sb_printf(b, "\n|");
    for (int i = 0; i < n; i++) daoe_sb_printf(b, "%s|", t->col[cols[i]].align == 'r' ? "--:" : "---");
    daoe_sb_printf(b, "\n");
    for (int r = 0; r < t->nrow; r++) {
        daoe_sb_printf(b, "|");
        for (int i = 0; i < n; i++) md_cell(b, &t->cells[(size_t)r * t->ncol + cols[i]], t->reference[r] && i == 0);
        daoe_sb_printf(b, "\n");
    }
}

/* ------------------------------------------------------------------ LaTeX */
static void tex_escape(daoe_strbuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '_' || *s == '%' || *s == '&' || *s == '#') daoe_sb_printf(b, "\\%c", *s);
        else daoe_sb_printf(b, "%c", *s);
    }
}

/* How a format writes a cell's text: its escape, the emphasis around a reference row's
 * name, and the minus between the two sides of a difference. */
typedef struct {
    void (*escape)(daoe_strbuf *, const char *);
    const char *emph_open, *emph_close, *minus;
} markup_t;

static void cell_text(daoe_strbuf *b, const markup_t *m, const cell_t *c, int emph) {
    daoe_sb_printf(b, "%s", emph ? m->emph_open : "");
    m->escape(b, c->text);
    if (c->minus) {
        daoe_sb_printf(b, "%s", m->minus);
        m->escape(b, c->minus);
    }
    daoe_sb_printf(b, "%s", emph ? m->emph_close : "");
}

static void tex_cell(daoe_strbuf *b, const cell_t *c, int emph) {
    static const markup_t tex = {tex_escape, "\\emph{", "}", " $-$ "};
    if (!c->text) daoe_sb_printf(b, "--");
    else cell_text(b, &tex, c, emph);
}

void tex_table(daoe_strbuf *b, const char *caption, const char *name, const table_t *t, const int *cols, int ncols) {
    int n = cols ? ncols : t->ncol;
    daoe_sb_printf(b, "\\begin{table}[t]\n\\centering\n\\caption{%s}\n\\label{%s}\n\\begin{tabular}{", caption, name);
    for (int i = 0; i < n; i++) daoe_sb_printf(b, "%c", t->col[shown(cols, i)].align);
    daoe_sb_printf(b, "}\n\\toprule\n");
    for (int i = 0; i < n; i++) daoe_sb_printf(b, "%s%s", i ? " & " : "", t->col[shown(cols, i)].tex);
    daoe_sb_printf(b, " \\\\\n\\midrule\n");
    for (int r = 0; r < t->nrow; r++) {
        if (t->reference[r]) daoe_sb_printf(b, "\\midrule\n");
        for (int i = 0; i < n; i++) {
            if (i) daoe_sb_printf(b, " & ");
            tex_cell(b, &t->cells[(size_t)r * t->ncol + shown(cols, i)], t->reference[r] && i == 0);
        }
        daoe_sb_printf(b, " \\\\\n");
    }
    daoe_sb_printf(b, "\\bottomrule\n\\end{tabular}\n\\end{table}\n");
}

/* ------------------------------------------------------------------ HTML */
void html_escape(daoe_strbuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '&') daoe_sb_printf(b, "&amp;");
        else if (*s == '<') daoe_sb_printf(b, "&lt;");
        else if (*s == '>') daoe_sb_printf(b, "&gt;");
        else if (*s == '"') daoe_sb_printf(b, "&quot;");
        else daoe_sb_printf(b, "%c", *s);
    }
}

/* a cell of paths: a link to each, named by its last component */
static void html_files(daoe_strbuf *b, const char *paths) {
    char *copy = daoe_xstrdup(paths), *save = NULL;
    for (char *p = strtok_r(copy, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
        const char *base = strrchr(p, '/');
        daoe_sb_printf(b, "<a href=\"");
        html_escape(b, p);
        daoe_sb_printf(b, "\">");
        html_escape(b, base ? base + 1 : p);
        daoe_sb_printf(b, "</a> ");
    }
    free(copy);
}

static void html_cell(daoe_strbuf *b, const column_t *col, const cell_t *c, int emph, int links) {
    daoe_sb_printf(b, col->align == 'r' ? "<td class=\"r\">" : "<td>");
    if (!c->text) daoe_sb_printf(b, "–");
    else if (links) html_files(b, c->text);
    else {
        static const markup_t html = {html_escape, "<em>", "</em>", " − "};
        cell_text(b, &html, c, emph);
    }
    daoe_sb_printf(b, "</td>");
}

void html_table(daoe_strbuf *b, const char *title, const char *id, const table_t *t, const int *cols, int ncols) {
    int n = cols ? ncols : t->ncol;
    daoe_sb_printf(b, "<h3 id=\"%s\">", id);
    html_escape(b, title);
    daoe_sb_printf(b, "</h3>\n<table>\n<thead><tr>");
    for (int i = 0; i < n; i++) {
        daoe_sb_printf(b, "<th>");
        html_escape(b, t->col[shown(cols, i)].md);
        daoe_sb_printf(b, "</th>");
    }
    daoe_sb_printf(b, "</tr></thead>\n<tbody>\n");
    for (int r = 0; r < t->nrow; r++) {
        daoe_sb_printf(b, t->reference[r] ? "<tr class=\"ref\">" : "<tr>");
        for (int i = 0; i < n; i++) {
            int c = shown(cols, i);
            html_cell(b, &t->col[c], &t->cells[(size_t)r * t->ncol + c], t->reference[r] && i == 0, c == t->links - 1);
        }
        daoe_sb_printf(b, "</tr>\n");
    }
    daoe_sb_printf(b, "</tbody>\n</table>\n");
}
