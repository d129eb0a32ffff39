/* Utilities: errors, allocation, atomic files, time, string buffers. */
#define _GNU_SOURCE
#include "daoe/util.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

void daoe_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("daoe: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void *daoe_xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) daoe_fatal("out of memory allocating %zu bytes", bytes);
    return p;
}

void *daoe_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) daoe_fatal("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

char *daoe_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = daoe_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

double daoe_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void daoe_errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int daoe_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    size_t n = strlen(path) + 32;
    char *tmp = daoe_xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        daoe_errf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    int bad = (w != len) | (fflush(f) != 0) | (fsync(fileno(f)) != 0);
    bad |= fclose(f) != 0;
    if (bad) {
        daoe_errf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        daoe_errf(err, errlen, "%s: rename failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

void *daoe_read_file(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        daoe_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    /* the size of what was opened, and only a regular file has one (a
     * directory or a pipe would give a meaningless or unbounded size) */
    struct stat st;
    if (fstat(fileno(f), &st) != 0) goto fail;
    if (!S_ISREG(st.st_mode)) {
        daoe_errf(err, errlen, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    size_t sz = (size_t)st.st_size;
    char *buf = daoe_xmalloc(sz + 1);
    size_t got = sz ? fread(buf, 1, sz, f) : 0;
    if (got != sz) {
        if (!ferror(f)) daoe_errf(err, errlen, "%s: read %zu of %zu bytes (file shrank while read)", path, got, sz);
        else daoe_errf(err, errlen, "%s: read failed: %s", path, strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[sz] = 0;
    fclose(f);
    if (len) *len = sz;
    return buf;
fail:
    daoe_errf(err, errlen, "%s: read failed: %s", path, strerror(errno));
    fclose(f);
    return NULL;
}

int daoe_mkdir_p(const char *path, char *err, size_t errlen) {
    char *p = daoe_xstrdup(path);
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                daoe_errf(err, errlen, "%s: cannot create directory: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *s = c;
            if (!c) break;
        }
    }
    struct stat st;
    int ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    if (!ok) daoe_errf(err, errlen, "%s: not a directory", path);
    free(p);
    return ok ? 0 : -1;
}

int daoe_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

void daoe_sb_printf(daoe_strbuf *b, const char *fmt, ...) {
    for (;;) {
        size_t avail = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, avail, fmt, ap);
        va_end(ap);
        if (n < 0) daoe_fatal("vsnprintf failed");
        if ((size_t)n < avail) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap + (size_t)n + 1) * 2;
        char *ns = realloc(b->s, ncap);
        if (!ns) daoe_fatal("out of memory");
        b->s = ns;
        b->cap = ncap;
    }
}

void daoe_sb_free(daoe_strbuf *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
