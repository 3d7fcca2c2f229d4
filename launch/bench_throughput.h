/* bench_throughput.h - `frspec bench throughput` (launch/bench_throughput.c): batched
 * autoregressive decode through the CUDA backend's batched ops (runtime/batch.h) on the synthetic
 * shapes, step time and tokens/s against batch size, with the memory roofline.
 *
 * defines: bench_throughput
 */
#ifndef FRSPEC_BENCH_THROUGHPUT_H
#define FRSPEC_BENCH_THROUGHPUT_H

/* argv[0] = "throughput"; returns the process exit code. */
int bench_throughput(int argc, char **argv);

#endif
