/* Small utilities: fatal errors, checked allocation, atomic file writes,
 * wall-clock time. Library code that cannot go on (out of memory) calls
 * daoe_fatal; everything a user can cause returns an error message instead. */
#ifndef DAOE_UTIL_H
#define DAOE_UTIL_H
#include <stddef.h>
#include <stdio.h>
#include <stdarg.h>

#define DAOE_VERSION "0.1.0"

void daoe_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void *daoe_xmalloc(size_t bytes);
void *daoe_xcalloc(size_t n, size_t size);
char *daoe_xstrdup(const char *s);
double daoe_now(void); /* seconds, monotonic */
void daoe_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Atomic write: data goes to "<path>.tmp.<pid>", then rename(2). Returns 0 or -1 (err set). */
int daoe_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);
/* Reads a whole file; returns NULL (err set) on failure. */
void *daoe_read_file(const char *path, size_t *len, char *err, size_t errlen);
int daoe_mkdir_p(const char *path, char *err, size_t errlen);
int daoe_file_exists(const char *path);

/* A growing string buffer for CSV/JSON text. */
typedef struct { char *s; size_t len, cap; } daoe_strbuf;
void daoe_sb_printf(daoe_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void daoe_sb_free(daoe_strbuf *b);
#endif
