/* daoe-bench-cpu --parts (bench/bench_parts.c): one training step taken apart. */
#ifndef DAOE_BENCH_PARTS_H
#define DAOE_BENCH_PARTS_H
#include "daoe/backend.h"
#include "daoe/net.h"

/* copy bandwidth (GB/s, read + write) of an OpenMP copy of 256 MiB */
double bench_copy_bandwidth(int threads);
/* the network's convolutions alone per direction (forward, data, filter gradient), the best of
 * reps each, through ops' table (be's own, or a saved one); out: seconds per step */
void bench_convs_alone(daoe_backend *be, const daoe_backend *ops, const daoe_net *net, int N, int reps, double out[3]);
/* times each op of `steps` training steps of the network at width on be (its
 * table is wrapped for the call and restored), prints the parts table */
int bench_parts(daoe_backend *be, const char *engine, int width, int batch, const char *optimizer, int steps,
                double peak_gflops, double bw_gbs);
#endif
