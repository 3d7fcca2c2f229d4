/* bench_throughput.h - `frspec bench throughput` (launch/bench_throughput.c): batched
 * autoregressive decode through the CUDA backend's batched ops (runtime/batch.h) on the synthetic
 * shapes, step time and tokens/s against batch size, with the memory roofline.
 *
 * defines: struct bench_device, bench_throughput
 */
#ifndef FRSPEC_BENCH_THROUGHPUT_H
#define FRSPEC_BENCH_THROUGHPUT_H

/* the GPU the bench runs on, measured by cmd_bench.c (launch/'s one CUDA #ifdef) */
struct bench_device {
    const char *name;
    int sm_count;
    double copy_gbs; /* 1 GiB device-to-device copy, bytes read + written per second / 1e9 */
};

/* argv[0] = "throughput"; dev NULL: no GPU (only --help works). Returns the process exit code. */
int bench_throughput(int argc, char **argv, const struct bench_device *dev);

#endif
