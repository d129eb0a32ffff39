/* daoe-sweep's source compiled as a function for the profile fuzzer: main
 * becomes daoe_sweep_main and exit() returns to the fuzzer (fuzz_profile.c),
 * because the profile reader is not a separate unit and stops with exit(2). */
#define main daoe_sweep_main
#define exit daoe_fuzz_exit
#include "../../bench/daoe_sweep.c"
