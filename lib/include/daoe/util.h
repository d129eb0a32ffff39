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
/* The CPUs this process may run on (its affinity mask: taskset, a Slurm allocation's cpuset,
 * docker --cpuset-cpus), not every CPU the machine has online; at least 1. */
int daoe_cpus_usable(void);
/* What /proc/cpuinfo says of this CPU, read in one place for config.json's machine record and
 * the cpu backend's device line. Under a hypervisor the model name can be as bare as "AMD EPYC"
 * (KVM, seen 2026-12-08 on two different EPYC generations), so the label adds x86's family and
 * model numbers, and simd lists the vector extensions that decide which kernels oneDNN and
 * OpenBLAS pick. Fields /proc/cpuinfo lacks stay "unknown CPU", -1 and "". */
typedef struct {
    char model[128];   /* "model name" */
    int family, model_number; /* "cpu family" and "model" (x86) */
    char simd[160];    /* those of sse4_2 avx avx2 fma avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_tile amx_bf16 present */
    char label[192];   /* model, then " (family F model M)" where both are known */
} daoe_cpu_info;
void daoe_cpu_describe(daoe_cpu_info *ci);
void daoe_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Atomic, checked write: data goes to "<path>.tmp.<pid>" (every write
 * checked, fsync), then rename(2) and an fsync of the folder. On failure
 * the temporary file is removed, path keeps its old content, and err says
 * "PATH: what failed: strerror". Returns 0 or -1. */
int daoe_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);
/* Reads a whole file; returns NULL (err set) on failure. */
void *daoe_read_file(const char *path, size_t *len, char *err, size_t errlen);
int daoe_mkdir_p(const char *path, char *err, size_t errlen);
int daoe_file_exists(const char *path);

/* A growing string buffer for CSV/JSON text. */
typedef struct { char *s; size_t len, cap; } daoe_strbuf;
void daoe_sb_printf(daoe_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void daoe_sb_free(daoe_strbuf *b);

/* SIGTERM, SIGINT and SIGUSR1 only set a flag (the handler does no I/O);
 * daoe_stop_requested() returns the signal that came, or 0. */
void daoe_stop_signals_install(void);
int daoe_stop_requested(void);

/* sha256 of the concatenation of n chunks, as 64 hex characters */
void daoe_sha256_chunks(const void *const *chunks, const size_t *lens, int n, char hex[65]);

/* Test-only kill points (DAOE_TEST_KILL, see util.c); name may be NULL. */
void daoe_test_kill(const char *point, const char *name);
#endif
