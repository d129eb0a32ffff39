/* Which sgemm kernels OpenBLAS runs, and never a silent slow path.
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels once, when the
 * library is loaded, from the CPU's vendor/family/model. A model it does not
 * know gets its oldest x86-64 kernels (Prescott, SSE3): 0.3.21 does this on
 * Xeon family 6 model 207, where sgemm then runs 8-10x below the AVX-512
 * kernels. Here, before main(), the kernels it chose are compared with the
 * vector ISA the CPU supports (cpuid, via __builtin_cpu_supports):
 *   - the user chose (OPENBLAS_CORETYPE set, or DAOE_BLAS_AUTO=0): kept, and
 *     a slower-than-possible choice is reported;
 *   - OpenBLAS chose kernels below the CPU's ISA: the program re-executes
 *     itself once with OPENBLAS_CORETYPE naming the best kernels for the
 *     CPU's features (the only way to change them: the choice is made in
 *     OpenBLAS's own constructor, before ours);
 *   - every choice is checked against a plain double-precision product on
 *     small odd shapes with all the transposes the CPU backend uses; a forced
 *     choice that fails is dropped (re-exec without it), any other failure
 *     is reported.
 * The outcome goes to stderr (when it is not the normal case) and, through
 * the CPU backend, into config.json ("blas") and the benchmarks.
 * Not here: the convolutions themselves (conv.c). */
#include "daoe/cpu_blas.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* OpenBLAS's own extensions */
char *openblas_get_corename(void);
char *openblas_get_config(void);

static daoe_blas_info g_info;

/* x86 vector ISA levels */
enum { ISA_SSE = 0, ISA_AVX = 1, ISA_AVX2 = 2, ISA_AVX512 = 3 };
static const char *const isa_names[] = {"SSE", "AVX", "AVX2", "AVX-512"};

/* The ISA level of an OpenBLAS x86-64 core type (names as openblas_get_corename
 * prints them); -1 for a name this table does not know (not x86, or newer). */
static int core_isa(const char *core) {
    static const struct { const char *name; int isa; } cores[] = {
        {"SkylakeX", ISA_AVX512}, {"Cooperlake", ISA_AVX512}, {"SapphireRapids", ISA_AVX512},
        {"Haswell", ISA_AVX2},    {"Zen", ISA_AVX2},
        {"Sandybridge", ISA_AVX}, {"Bulldozer", ISA_AVX},      {"Piledriver", ISA_AVX},
        {"Steamroller", ISA_AVX}, {"Excavator", ISA_AVX},
        {"Prescott", ISA_SSE},    {"Core2", ISA_SSE},          {"Penryn", ISA_SSE},
        {"Dunnington", ISA_SSE},  {"Nehalem", ISA_SSE},        {"Atom", ISA_SSE},
        {"Opteron", ISA_SSE},     {"Opteron_SSE3", ISA_SSE},   {"Barcelona", ISA_SSE},
        {"Bobcat", ISA_SSE},      {"Katmai", ISA_SSE},         {"Coppermine", ISA_SSE},
        {"Northwood", ISA_SSE},   {"Banias", ISA_SSE},         {"Athlon", ISA_SSE},
        {"Nano", ISA_SSE},
    };
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (!strcasecmp(core, cores[i].name)) return cores[i].isa;
    return -1;
}

int daoe_blas_cpu_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd"))
        return ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
    if (__builtin_cpu_supports("avx")) return ISA_AVX;
    return ISA_SSE;
#else
    return -1;
#endif
}

const char *daoe_blas_isa_name(int isa) { return isa >= 0 && isa <= ISA_AVX512 ? isa_names[isa] : "unknown"; }

/* The OpenBLAS core type to force for a CPU of this ISA level (NULL: none better). */
const char *daoe_blas_best_core(int cpu_isa) {
    return cpu_isa == ISA_AVX512 ? "SkylakeX" : cpu_isa == ISA_AVX2 ? "Haswell" : cpu_isa == ISA_AVX ? "Sandybridge" : NULL;
}

daoe_blas_action daoe_blas_decide(const char *core, int cpu_isa, int user_chose) {
    int k = core_isa(core);
    if (k < 0 || cpu_isa < 0 || k >= cpu_isa) return DAOE_BLAS_KEEP;
    return user_chose ? DAOE_BLAS_WARN : DAOE_BLAS_REEXEC;
}

/* max relative error of C = op(A) op(B) against a double-precision loop, over
 * the shapes and transposes the CPU backend uses (row-major, NN, NT, TN) */
static double selfcheck(void) {
    enum { M = 37, N = 29, K = 67 };
    static float a[M * K], b[K * N], c[M * N];
    double worst = 0;
    for (int i = 0; i < M * K; i++) a[i] = (float)((i * 7919) % 211) / 211.0f - 0.5f;
    for (int i = 0; i < K * N; i++) b[i] = (float)((i * 104729) % 197) / 197.0f - 0.5f;
    for (int tr = 0; tr < 3; tr++) {
        int ta = tr == 2, tb = tr == 1;
        /* A is M x K (or stored K x M when transposed), B is K x N (or N x K) */
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, a,
                    ta ? M : K, b, tb ? K : N, 0.0f, c, N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0, sa = 0;
                for (int k = 0; k < K; k++) {
                    double x = ta ? a[k * M + i] : a[i * K + k], y = tb ? b[j * K + k] : b[k * N + j];
                    s += x * y;
                    sa += fabs(x * y);
                }
                double e = fabs((double)c[i * N + j] - s) / (sa > 0 ? sa : 1);
                if (!(e <= worst)) worst = e; /* NaN counts as worst */
            }
    }
    return worst;
}

static void reexec(char **argv, const char *core, const char *marker) {
    if (core) setenv("OPENBLAS_CORETYPE", core, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    setenv("DAOE_BLAS_REEXEC", marker, 1);
    fflush(NULL);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc?): carry on with what OpenBLAS chose, and say so below */
}

/* Runs before main (glibc passes argc/argv to constructors of the executable). */
__attribute__((constructor)) static void blas_select(int argc, char **argv, char **envp) {
    /* the messages below are bounded: truncation is acceptable */
    (void)argc; (void)envp;
    daoe_blas_info *bi = &g_info;
    snprintf(bi->core, sizeof bi->core, "%s", openblas_get_corename());
    snprintf(bi->config, sizeof bi->config, "%s", openblas_get_config());
    bi->cpu_isa = daoe_blas_cpu_isa();
    bi->core_isa = core_isa(bi->core);
    const char *marker = getenv("DAOE_BLAS_REEXEC"); /* set by our own re-exec */
    const char *user_core = marker ? NULL : getenv("OPENBLAS_CORETYPE");
    const char *autoenv = getenv("DAOE_BLAS_AUTO");
    int auto_off = autoenv && !strcmp(autoenv, "0");
    /* a test hook: behave as if OpenBLAS had chosen this core (the re-exec path is
     * then exercised on any machine) */
    const char *pretend = marker ? NULL : getenv("DAOE_BLAS_TEST_PRETEND");
    const char *seen = pretend && *pretend ? pretend : bi->core;

    if (marker && strcmp(marker, "selfcheck-failed")) {
        /* we re-executed: marker holds what OpenBLAS had chosen by itself */
        snprintf(bi->chosen_by, sizeof bi->chosen_by,
                 "daoe: OpenBLAS picked %.40s (%s) for this %s CPU; forced %.40s with OPENBLAS_CORETYPE", marker,
                 daoe_blas_isa_name(core_isa(marker)), daoe_blas_isa_name(bi->cpu_isa), bi->core);
        bi->forced = 1;
    } else if (marker) {
        snprintf(bi->chosen_by, sizeof bi->chosen_by,
                 "OpenBLAS (CPU model): the stronger kernels failed the self-check and were dropped");
    } else if (user_core) {
        snprintf(bi->chosen_by, sizeof bi->chosen_by, "user: OPENBLAS_CORETYPE=%.60s", user_core);
    } else if (auto_off) {
        snprintf(bi->chosen_by, sizeof bi->chosen_by, "OpenBLAS (CPU model); DAOE_BLAS_AUTO=0 kept it");
    } else {
        snprintf(bi->chosen_by, sizeof bi->chosen_by, "OpenBLAS (CPU model)");
    }
    /* what we set for the re-exec is ours, not the user's: child processes decide afresh */
    if (marker) {
        unsetenv("DAOE_BLAS_REEXEC");
        if (bi->forced) unsetenv("OPENBLAS_CORETYPE");
    }

    double err = selfcheck();
    bi->selfcheck_err = err;
    bi->selfcheck_ok = err <= 1e-5;
    if (!bi->selfcheck_ok && bi->forced) {
        fprintf(stderr, "daoe: warning: OpenBLAS %s kernels failed a self-check (relative error %.2g): "
                        "using OpenBLAS's own choice\n", bi->core, err);
        reexec(argv, NULL, "selfcheck-failed");
    }

    daoe_blas_action act = daoe_blas_decide(seen, bi->cpu_isa, user_core || auto_off || marker);
    const char *best = daoe_blas_best_core(bi->cpu_isa);
    if (act == DAOE_BLAS_REEXEC && best && bi->selfcheck_ok) {
        reexec(argv, best, seen);
        snprintf(bi->note, sizeof bi->note, "could not re-execute to use %s kernels", best);
    } else if (act == DAOE_BLAS_WARN) {
        snprintf(bi->note, sizeof bi->note, "this CPU supports %s but OpenBLAS runs %.40s (%s) kernels%s%s%s",
                 daoe_blas_isa_name(bi->cpu_isa), bi->core, daoe_blas_isa_name(bi->core_isa),
                 best ? " (OPENBLAS_CORETYPE=" : "", best ? best : "", best ? " selects them)" : "");
        /* only the SSE fallback is worth a line on every run; the rest is in config.json */
        if (bi->core_isa == ISA_SSE)
            fprintf(stderr, "daoe: warning: %s (kept: %s)\n", bi->note, bi->chosen_by);
    }
    if (!bi->selfcheck_ok)
        fprintf(stderr, "daoe: warning: OpenBLAS %s sgemm failed a self-check (relative error %.2g): results "
                        "may be wrong; try another OPENBLAS_CORETYPE\n", bi->core, err);
}

const daoe_blas_info *daoe_blas_get_info(void) { return &g_info; }
