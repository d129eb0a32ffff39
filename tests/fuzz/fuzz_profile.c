/* Fuzz target: the benchmark profile reader of daoe-sweep (bases, grid,
 * settings, seeds, optimizer arguments), through `daoe-sweep --dry-run` on
 * the input written as a profile file; the run is listed, never launched. An
 * error ends in exit(), which here jumps back (sweep_as_function.c), so the
 * memory of a rejected profile is not freed: run with -detect_leaks=0. */
#include "fuzz.h"
#include <setjmp.h>
#include <unistd.h>

int daoe_sweep_main(int argc, char **argv);

static jmp_buf g_back;
static int g_inside;
static char g_path[64];

_Noreturn void daoe_fuzz_exit(int code);
_Noreturn void daoe_fuzz_exit(int code) {
    if (g_inside) longjmp(g_back, 1);
    _Exit(code);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char dir[] = "/tmp/daoe-fuzz-profile-XXXXXX";
    if (!mkdtemp(dir)) abort();
    snprintf(g_path, sizeof g_path, "%s/p.json", dir);
    if (!freopen("/dev/null", "w", stdout)) abort(); /* the dry-run listing */
    /* a "cuda" profile would otherwise run nvidia-smi for every input */
    setenv("CUDA_VISIBLE_DEVICES", "0", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(g_path, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    char *argv[] = {"daoe-sweep", "--dry-run", "--results", "/nonexistent/daoe-fuzz", "--train", "/bin/true",
                    "--data", "/nonexistent", g_path, NULL};
    if (!setjmp(g_back)) {
        g_inside = 1;
        daoe_sweep_main(9, argv);
    }
    g_inside = 0;
    return 0;
}
