/* Helpers shared by the command-line tools (daoe-sweep, daoe-stats) and the
 * benchmarks' flag parsing: a bad command line stops with one line and exit 2,
 * flag values are parsed strictly, JSON files are read and written whole.
 * Messages start with the program's name (program_invocation_short_name).
 * Training code does not use this: the library reports errors, never exits. */
#ifndef DAOE_TOOL_H
#define DAOE_TOOL_H
#include <cjson/cJSON.h>
#include <stdio.h>
#include "daoe/backend.h"

/* "<program>: error: <message>" on stderr, exit 2 */
void tool_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* A program's flags as one table: tool_parse walks argv by it and makes the usage
 * from it (on -h/--help on stdout, exit 0; on an unknown option on stderr, exit 2).
 * A row's name may list aliases ("-j|--jobs"); a short one ("-j") also takes its
 * value attached ("-j4"). A value flag takes the next argument, a number parsed
 * strictly into [lo, hi]; a LIST flag may be given again (each value appended); a
 * TEXT row (name NULL) is a line of the usage between the rows. */
typedef enum {
    TOOL_FLAG_INT,
    TOOL_FLAG_DOUBLE,
    TOOL_FLAG_STR,
    TOOL_FLAG_SWITCH,
    TOOL_FLAG_LIST,
    TOOL_FLAG_TEXT
} tool_flag_kind;
typedef struct {
    const char *name;   /* "--threads", or aliases "-j|--jobs" */
    tool_flag_kind kind;
    void *dst;          /* int (INT; SWITCH: set to 1), double, const char * (STR), tool_list (LIST) */
    double lo, hi;      /* INT, DOUBLE */
    const char *arg;    /* the value's placeholder in the usage ("N"); NULL for a switch */
    const char *help;   /* its text in the usage ('\n' starts a continuation line); NULL: none */
} tool_flag;
typedef struct {
    const char *v[32];
    int n;
} tool_list;
typedef struct {
    const char *head;         /* the usage's first lines (NULL: "usage: PROG [flag ...]" from the table) */
    const char *notes;        /* lines after the rows (NULL: none) */
    const char **positional;  /* where the one positional argument goes (NULL: none taken) */
    const char *what;         /* its name in messages ("profile") */
    int until_dashdash;       /* stop at "--" (what follows is another program's command line) */
} tool_cmdline;
/* argv by the n rows of flags; returns the index after "--" (until_dashdash), else argc */
int tool_parse(int argc, char **argv, const tool_flag *flags, int n, const tool_cmdline *c);
/* the usage tool_parse prints */
void tool_usage(FILE *f, const tool_flag *flags, int n, const tool_cmdline *c);
/* tool_parse with no positional argument, notes after the rows (NULL: none) */
void tool_flags(int argc, char **argv, const tool_flag *flags, int n, const char *notes);
/* The value of the flag argv[*i] (advancing *i), or die "<flag> needs a value". */
const char *tool_next_arg(int argc, char **argv, int *i);
/* The whole of s as a number in [lo, hi], or die naming the flag (trailing
 * characters, overflow, NaN and Inf are refused). */
int tool_parse_int(const char *flag, const char *s, int lo, int hi);
double tool_parse_double(const char *flag, const char *s, double lo, double hi);

/* A benchmark's backend options: prec, threads and the CPU engine as given,
 * the switches (DAOE_NO_GRAPH, DAOE_OPT_GENERIC, ...) from the environment as
 * daoe-train takes them; dies on a bad value. */
daoe_backend_options tool_backend_options(daoe_precision prec, int threads, daoe_cpu_conv conv);

typedef enum {
    TOOL_JSON_QUIET,    /* missing or invalid: NULL */
    TOOL_JSON_WARN,     /* missing: NULL; invalid: a warning and NULL */
    TOOL_JSON_REQUIRED, /* missing or invalid: die */
} tool_json_mode;
cJSON *tool_read_json(const char *path, tool_json_mode mode);
/* text, or cJSON_Print and a newline, written atomically to dir/name; dies on failure */
void tool_write_text(const char *dir, const char *name, const char *text);
void tool_write_json(const char *dir, const char *name, const cJSON *j);

/* o[k] when it is a string (number), else def (NAN); o may be NULL */
const char *jstr(const cJSON *o, const char *k, const char *def);
double jnum(const cJSON *o, const char *k);
#endif
