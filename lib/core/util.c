/* Utilities: errors, allocation, atomic files, time, string buffers. */
#define _GNU_SOURCE
#include "daoe/util.h"
#include <errno.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
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

int daoe_cpus_usable(void) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int n = online > 0 ? (int)online : 1;
    size_t size = CPU_ALLOC_SIZE(n > 1024 ? n : 1024);
    cpu_set_t *set = CPU_ALLOC(n > 1024 ? n : 1024);
    if (set && sched_getaffinity(0, size, set) == 0) {
        int c = CPU_COUNT_S(size, set);
        if (c > 0) n = c;
    }
    if (set) CPU_FREE(set);
    return n;
}

void daoe_cpu_describe(daoe_cpu_info *ci) {
    snprintf(ci->model, sizeof ci->model, "unknown CPU");
    ci->family = ci->model_number = -1;
    ci->simd[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[8192]; /* a "flags" line runs to about 1,500 characters */
        int have_model = 0, have_flags = 0;
        while ((!have_model || !have_flags || ci->family < 0 || ci->model_number < 0) && fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (!colon) {
                if (line[0] == '\n') break; /* the end of the first processor's block */
                continue;
            }
            size_t klen = (size_t)(colon - line);
            while (klen && (line[klen - 1] == ' ' || line[klen - 1] == '\t')) klen--;
            char *v = colon + 1 + (colon[1] == ' ');
            v[strcspn(v, "\n")] = 0;
            if (klen == 10 && !strncmp(line, "model name", 10) && !have_model) {
                snprintf(ci->model, sizeof ci->model, "%s", v);
                have_model = 1;
            } else if (klen == 10 && !strncmp(line, "cpu family", 10) && ci->family < 0)
                ci->family = atoi(v);
            else if (klen == 5 && !strncmp(line, "model", 5) && ci->model_number < 0)
                ci->model_number = atoi(v);
            else if (klen == 5 && !strncmp(line, "flags", 5) && !have_flags) {
                static const char *want[] = {"sse4_2",      "avx",         "avx2",     "fma",     "avx512f",
                                             "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16"};
                have_flags = 1;
                char padded[sizeof line + 2], word[24]; /* " flag " matches whole words only */
                snprintf(padded, sizeof padded, " %s ", v);
                for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
                    snprintf(word, sizeof word, " %s ", want[i]);
                    if (!strstr(padded, word)) continue;
                    size_t used = strlen(ci->simd);
                    snprintf(ci->simd + used, sizeof ci->simd - used, "%s%s", used ? " " : "", want[i]);
                }
            }
        }
        fclose(f);
    }
    if (ci->family >= 0 && ci->model_number >= 0)
        snprintf(ci->label, sizeof ci->label, "%s (family %d model %d)", ci->model, ci->family, ci->model_number);
    else snprintf(ci->label, sizeof ci->label, "%s", ci->model);
}

void daoe_errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* write(2) until done; 0 or -1 (errno set) */
static int write_all(int fd, const char *p, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync of the folder holding path, so that a rename in it survives a crash */
static int fsync_dir_of(const char *path) {
    char *d = daoe_xstrdup(path);
    char *slash = strrchr(d, '/');
    if (slash == d) slash[1] = 0;
    else if (slash) *slash = 0;
    else strcpy(d, ".");
    int fd = open(d, O_RDONLY | O_DIRECTORY);
    int rc = -1;
    if (fd >= 0) {
        rc = fsync(fd);
        /* some file systems cannot sync a folder; the rename itself happened */
        if (rc != 0 && (errno == EINVAL || errno == ENOTSUP)) rc = 0;
        int e = errno;
        close(fd);
        errno = e;
    }
    free(d);
    return rc;
}

int daoe_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    size_t n = strlen(path) + 32;
    char *tmp = daoe_xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *what = "cannot create a temporary file";
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) goto fail;
    what = "write failed";
    size_t half = len / 2;
    if (write_all(fd, data, half) != 0) goto fail_fd;
    daoe_test_kill("write", base); /* a kill inside the write leaves only the temporary file */
    if (write_all(fd, (const char *)data + half, len - half) != 0) goto fail_fd;
    if (fsync(fd) != 0) goto fail_fd;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    what = "rename failed";
    if (rename(tmp, path) != 0) goto fail;
    what = "folder sync failed";
    if (fsync_dir_of(path) != 0) goto fail_renamed;
    daoe_test_kill("renamed", base);
    free(tmp);
    return 0;
fail_fd: {
    int e = errno;
    close(fd);
    errno = e;
}
fail: {
    int e = errno;
    unlink(tmp);
    errno = e;
}
fail_renamed:
    daoe_errf(err, errlen, "%s: %s: %s", path, what, strerror(errno));
    free(tmp);
    return -1;
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

/* ------------------------------------------------------------------ signals */
static volatile sig_atomic_t g_signal = 0;

static void on_stop_signal(int sig) { g_signal = sig; }

void daoe_stop_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGTERM, SIGINT, SIGUSR1};
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &sa, NULL);
}

int daoe_stop_requested(void) { return (int)g_signal; }

/* ------------------------------------------------------------------ test kill points */
/* DAOE_TEST_KILL="POINT[:NAME]@N[:SIG]": the N-th time the program passes
 * POINT (for NAME, when given) it sends itself SIG (default SIGKILL). Lets
 * the tests stop a run at an exact place: a step, inside a file write, after
 * a rename. Unset, a call costs one comparison. */
void daoe_test_kill(const char *point, const char *name) {
    static int parsed = 0;
    static char want_point[64], want_name[256];
    static long want_n = 0, seen = 0;
    static int sig = SIGKILL;
    if (!parsed) {
        parsed = 1;
        const char *v = getenv("DAOE_TEST_KILL");
        if (v && v[0]) {
            char buf[400];
            snprintf(buf, sizeof buf, "%s", v);
            char *at = strchr(buf, '@');
            if (at) {
                *at = 0;
                char *end;
                want_n = strtol(at + 1, &end, 10);
                if (*end == ':') sig = atoi(end + 1);
                char *colon = strchr(buf, ':');
                if (colon) {
                    *colon = 0;
                    snprintf(want_name, sizeof want_name, "%.255s", colon + 1);
                }
                snprintf(want_point, sizeof want_point, "%.63s", buf);
            }
        }
    }
    if (want_n <= 0 || strcmp(point, want_point) != 0) return;
    if (want_name[0] && (!name || strcmp(name, want_name) != 0)) return;
    if (++seen == want_n) raise(sig);
}

/* ------------------------------------------------------------------ digests */
void daoe_sha256_chunks(const void *const *chunks, const size_t *lens, int n, char hex[65]) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) daoe_fatal("out of memory (EVP_MD_CTX_new)");
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (int i = 0; i < n; i++)
        if (lens[i]) EVP_DigestUpdate(ctx, chunks[i], lens[i]);
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = 0;
}
