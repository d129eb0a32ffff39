/* The BLAS kernel selection (lib/cpu/blas.c).
 *   test_blas unit            decision table, ISA names, the self-check of the kernels in use
 *   test_blas forced          expects the kernels to have been forced by our re-exec (run with
 *                             OPENBLAS_CORETYPE unset and DAOE_BLAS_TEST_PRETEND=Prescott)
 *   test_blas user CORE       expects CORE, chosen by the user, kept (OPENBLAS_CORETYPE=CORE) */
#include "daoe/cpu_blas.h"
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int main(int argc, char **argv) {
    const daoe_blas_info *bi = daoe_blas_get_info();
    int cpu = daoe_blas_cpu_isa();
    printf("cpu ISA %s, kernels %s (%s), chosen by: %s%s%s\n", daoe_blas_isa_name(cpu), bi->core,
           daoe_blas_isa_name(bi->core_isa), bi->chosen_by, bi->note[0] ? "; " : "", bi->note);
    const char *mode = argc > 1 ? argv[1] : "unit";
    if (!strcmp(mode, "unit")) {
        /* SSE kernels on an AVX-512 CPU: re-exec, unless the user chose them (then: warn) */
        CHECK(daoe_blas_decide("Prescott", 3, 0) == DAOE_BLAS_REEXEC, "Prescott on AVX-512 -> re-exec");
        CHECK(daoe_blas_decide("Prescott", 3, 1) == DAOE_BLAS_WARN, "user's Prescott on AVX-512 -> warn");
        CHECK(daoe_blas_decide("Haswell", 3, 0) == DAOE_BLAS_REEXEC, "Haswell on AVX-512 -> re-exec");
        CHECK(daoe_blas_decide("Haswell", 2, 0) == DAOE_BLAS_KEEP, "Haswell on AVX2 -> keep");
        CHECK(daoe_blas_decide("Zen", 2, 0) == DAOE_BLAS_KEEP, "Zen on AVX2 -> keep");
        CHECK(daoe_blas_decide("Sandybridge", 2, 0) == DAOE_BLAS_REEXEC, "Sandybridge on AVX2 -> re-exec");
        CHECK(daoe_blas_decide("Cooperlake", 3, 0) == DAOE_BLAS_KEEP, "Cooperlake on AVX-512 -> keep");
        CHECK(daoe_blas_decide("SkylakeX", 2, 0) == DAOE_BLAS_KEEP, "stronger than the CPU: not ours to judge");
        CHECK(daoe_blas_decide("NewCore", 3, 0) == DAOE_BLAS_KEEP, "unknown core -> keep");
        CHECK(!strcmp(daoe_blas_best_core(3), "SkylakeX") && !strcmp(daoe_blas_best_core(2), "Haswell") &&
                  daoe_blas_best_core(0) == NULL,
              "best core per ISA");
        CHECK(bi->selfcheck_ok && bi->selfcheck_err < 1e-5, "the kernels in use pass the self-check (err %.2g)",
              bi->selfcheck_err);
        CHECK(bi->core[0] && bi->config[0], "OpenBLAS names its kernels");
    } else if (!strcmp(mode, "forced")) {
        if (cpu < 1) {
            printf("skip: this CPU has no kernels better than SSE\n");
            return 77;
        }
        CHECK(bi->forced, "re-executed with forced kernels");
        CHECK(!strcasecmp(bi->core, daoe_blas_best_core(cpu)), "kernels %s = the best for the CPU %s", bi->core,
              daoe_blas_best_core(cpu));
        CHECK(strstr(bi->chosen_by, "Prescott") != NULL, "the record names what OpenBLAS had picked");
        CHECK(getenv("OPENBLAS_CORETYPE") == NULL && getenv("DAOE_BLAS_REEXEC") == NULL,
              "our variables do not leak to child processes");
        CHECK(bi->selfcheck_ok, "forced kernels pass the self-check");
    } else if (!strcmp(mode, "user") && argc > 2) {
        CHECK(!bi->forced && !strcasecmp(bi->core, argv[2]), "user's kernels %s kept (running %s)", argv[2], bi->core);
        CHECK(strstr(bi->chosen_by, "user") != NULL, "recorded as the user's choice");
        if (cpu > bi->core_isa) CHECK(bi->note[0] != 0, "the slower choice is explained in the record");
    } else {
        fprintf(stderr, "usage: test_blas unit|forced|user CORE\n");
        return 2;
    }
    return test_result("test_blas");
}
