/* daoe-sweep's sources compiled as a function for the profile fuzzer: main
 * becomes daoe_sweep_main and exit() returns to the fuzzer (fuzz_profile.c),
 * because the profile reader stops with exit(2) (tool_die) on a bad profile. */
#define main daoe_sweep_main
#define exit daoe_fuzz_exit
#include "../../bench/tool.c"
#include "../../bench/sweep_profile.c"
#include "../../bench/sweep_run.c"
#include "../../bench/sweep_report.c"
#include "../../bench/sweep_slurm.c"
#include "../../bench/daoe_sweep.c"
