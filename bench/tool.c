/* Helpers shared by the tools and benchmarks (see tool.h). */
#define _GNU_SOURCE
#include "tool.h"
#include "daoe/config.h"
#include "daoe/util.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tool_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: error: ", program_invocation_short_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* the row whose name (or one of its '|' aliases) is a; *attached: a short flag's value
 * written on it ("-j4"), else NULL */
static const tool_flag *find_flag(const char *a, const tool_flag *flags, int n, const char **attached) {
    *attached = NULL;
    for (int k = 0; k < n; k++) {
        for (const char *p = flags[k].name; p && *p;) {
            size_t len = strcspn(p, "|");
            if (strlen(a) == len && !strncmp(a, p, len)) return &flags[k];
            /* "-j4": a one-letter flag that takes a value */
            if (len == 2 && p[0] == '-' && p[1] != '-' && flags[k].arg && !strncmp(a, p, 2) && a[2]) {
                *attached = a + 2;
                return &flags[k];
            }
            p += len + (p[len] == '|');
        }
    }
    return NULL;
}

void tool_usage(FILE *f, const tool_flag *flags, int n, const tool_cmdline *c) {
    if (c && c->head) {
        fprintf(f, "%s", c->head);
    } else {
        fprintf(f, "usage: %s", program_invocation_short_name);
        for (int k = 0; k < n; k++)
            if (flags[k].name)
                fprintf(f, " [%.*s%s%s]", (int)strcspn(flags[k].name, "|"), flags[k].name, flags[k].arg ? " " : "",
                        flags[k].arg ? flags[k].arg : "");
        fprintf(f, "\n");
    }
    for (int k = 0; k < n; k++) {
        const tool_flag *t = &flags[k];
        if (t->kind == TOOL_FLAG_TEXT) {
            fprintf(f, "%s\n", t->help);
            continue;
        }
        if (!t->help) continue;
        char left[128] = "";
        size_t len = 0;
        for (const char *p = t->name; *p && len < sizeof left - 8;) {
            size_t w = strcspn(p, "|");
            len += (size_t)snprintf(left + len, sizeof left - len, "%s%.*s", len ? ", " : "", (int)w, p);
            p += w + (p[w] == '|');
        }
        if (t->arg) snprintf(left + len, sizeof left - len, " %s", t->arg);
        const char *h = t->help;
        fprintf(f, "  %-20s%s%.*s\n", left, strlen(left) >= 20 ? "  " : "", (int)strcspn(h, "\n"), h);
        while ((h = strchr(h, '\n'))) {
            h++;
            fprintf(f, "  %-20s%.*s\n", "", (int)strcspn(h, "\n"), h);
        }
    }
    if (c && c->notes) fprintf(f, "%s", c->notes);
}

int tool_parse(int argc, char **argv, const tool_flag *flags, int n, const tool_cmdline *c) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (c && c->until_dashdash && !strcmp(a, "--")) return i + 1;
        const tool_flag *t = find_flag(a, flags, n, &v);
        if (!t) {
            int help = !strcmp(a, "-h") || !strcmp(a, "--help");
            if (help || a[0] == '-' || !c || !c->positional) {
                if (!help) fprintf(stderr, "%s: error: unknown argument %s\n", program_invocation_short_name, a);
                tool_usage(help ? stdout : stderr, flags, n, c);
                exit(help ? 0 : 2);
            }
            if (*c->positional) tool_die("more than one %s given (%s)", c->what, a);
            *c->positional = a;
            continue;
        }
        if (t->kind == TOOL_FLAG_SWITCH) {
            *(int *)t->dst = 1;
            continue;
        }
        if (!v) v = tool_next_arg(argc, argv, &i);
        switch (t->kind) {
        case TOOL_FLAG_INT: *(int *)t->dst = tool_parse_int(a, v, (int)t->lo, (int)t->hi); break;
        case TOOL_FLAG_DOUBLE: *(double *)t->dst = tool_parse_double(a, v, t->lo, t->hi); break;
        case TOOL_FLAG_LIST: {
            tool_list *l = t->dst;
            if (l->n >= (int)(sizeof l->v / sizeof l->v[0])) tool_die("%s given more than %d times", a, l->n);
            l->v[l->n++] = v;
            break;
        }
        default: *(const char **)t->dst = v; break;
        }
    }
    return argc;
}

void tool_flags(int argc, char **argv, const tool_flag *flags, int n, const char *notes) {
    const tool_cmdline c = {.notes = notes};
    tool_parse(argc, argv, flags, n, &c);
}

const char *tool_next_arg(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) tool_die("%s needs a value", argv[*i]);
    return argv[++*i];
}

int tool_parse_int(const char *flag, const char *s, int lo, int hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end) tool_die("%s: '%s' is not an integer", flag, s);
    if (errno == ERANGE || v < lo || v > hi) tool_die("%s: %s is out of range [%d, %d]", flag, s, lo, hi);
    return (int)v;
}

double tool_parse_double(const char *flag, const char *s, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) tool_die("%s: '%s' is not a number", flag, s);
    if (errno == ERANGE || v < lo || v > hi) tool_die("%s: %s is out of range [%g, %g]", flag, s, lo, hi);
    return v;
}

daoe_backend_options tool_backend_options(daoe_precision prec, int threads, daoe_cpu_conv conv) {
    daoe_backend_options o = {.prec = prec, .threads = threads, .cpu_conv = conv};
    char err[512];
    if (daoe_backend_options_env(&o, err, sizeof err)) tool_die("%s", err);
    return o;
}

cJSON *tool_read_json(const char *path, tool_json_mode mode) {
    char err[1024];
    size_t len;
    char *txt = daoe_read_file(path, &len, err, sizeof err);
    if (!txt) {
        if (mode == TOOL_JSON_REQUIRED) tool_die("%s", err);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(txt, len);
    if (!j && mode == TOOL_JSON_REQUIRED)
        tool_die("%s: not valid JSON (near byte %ld)", path, (long)(cJSON_GetErrorPtr() - txt));
    if (!j && mode == TOOL_JSON_WARN)
        fprintf(stderr, "%s: warning: %s: not valid JSON, ignored\n", program_invocation_short_name, path);
    free(txt);
    return j;
}

void tool_write_text(const char *dir, const char *name, const char *text) {
    char path[PATH_MAX + 256], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (daoe_write_file_atomic(path, text, strlen(text), err, sizeof err) != 0) tool_die("%s", err);
}

void tool_write_json(const char *dir, const char *name, const cJSON *j) {
    char *s = cJSON_Print(j);
    daoe_strbuf b = {0};
    daoe_sb_printf(&b, "%s\n", s);
    tool_write_text(dir, name, b.s);
    daoe_sb_free(&b);
    free(s);
}

const char *jstr(const cJSON *o, const char *k, const char *def) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsString(v) ? v->valuestring : def;
}

double jnum(const cJSON *o, const char *k) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}
