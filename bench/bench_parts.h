/* daoe-bench-cpu --parts (bench/bench_parts.c): one training step taken apart. */
#ifndef DAOE_BENCH_PARTS_H
#define DAOE_BENCH_PARTS_H
#include "daoe/backend.h"

/* copy bandwidth (GB/s, read + write) of an OpenMP copy of 256 MiB */
double bench_copy_bandwidth(int threads);
/* times each op of `steps` training steps of the network at width on be (its
 * table is wrapped for the call and restored), prints the parts table */
int bench_parts(daoe_backend *be, const char *engine, int width, int batch, const char *optimizer, int steps,
                double peak_gflops, double bw_gbs);
#endif
