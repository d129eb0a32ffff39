/* The BLAS kernels the CPU backend runs (lib/cpu/blas.c): which OpenBLAS core
 * type is in use, what the CPU supports, who chose, and a self-check. */
#ifndef DAOE_CPU_BLAS_H
#define DAOE_CPU_BLAS_H

typedef struct {
    char core[64];        /* openblas_get_corename(): "SkylakeX", "Haswell", "Prescott", ... */
    char config[192];     /* openblas_get_config() */
    int cpu_isa, core_isa;/* vector ISA levels (daoe_blas_isa_name); -1 unknown */
    int forced;           /* 1: we re-executed with OPENBLAS_CORETYPE */
    char chosen_by[192];  /* "OpenBLAS (CPU model)", "user: OPENBLAS_CORETYPE=...", "daoe: ..." */
    char note[256];       /* empty, or why the kernels are below the CPU's ISA */
    int selfcheck_ok;     /* sgemm agreed with a double-precision loop */
    double selfcheck_err; /* its max relative error */
} daoe_blas_info;

typedef enum { DAOE_BLAS_KEEP, DAOE_BLAS_WARN, DAOE_BLAS_REEXEC } daoe_blas_action;

const daoe_blas_info *daoe_blas_get_info(void);
/* 0 SSE, 1 AVX, 2 AVX2 (+FMA), 3 AVX-512 (F, BW, VL, DQ, CD); -1 not x86 */
int daoe_blas_cpu_isa(void);
const char *daoe_blas_isa_name(int isa);
/* the core type forced for a CPU of that ISA level, NULL when there is none better */
const char *daoe_blas_best_core(int cpu_isa);
/* what to do when OpenBLAS runs `core` on a CPU of level cpu_isa */
daoe_blas_action daoe_blas_decide(const char *core, int cpu_isa, int user_chose);
#endif
