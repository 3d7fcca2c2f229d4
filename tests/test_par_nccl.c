/* test_par_nccl.c - kernels/nccl_comm.h on GPUs: par_init with nccl_device_ops (device per local
 * rank, binding near the GPU, NCCL communicator), then the device collectives against closed-form
 * values computed on the host, and the watchdog wait. Skips (77) without a CUDA device.
 *
 * `test_par_nccl --stuck`: rank 1 never joins the all-reduce; rank 0's nccl_wait_event must give
 * up within its 5 s limit with FRS_ERR_NCCL (the test then exits 0 on rank 0 if so). Run with
 * -np 2 only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include "bootstrap.h"
#include "nccl_comm.h"
#include "tensor.h"
#include "testutil.h"

#define N 4099

static float in_val(int r, size_t i) { return (float)((r + 1) * (int)(i % 61)) - 2.0f * (float)r; }

int main(int argc, char **argv)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "test_par_nccl: no CUDA device, skipped\n");
        return TEST_SKIP;
    }
    const char *ls = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (ls && atoi(ls) > ndev) {
        fprintf(stderr, "test_par_nccl: %s ranks on this node but %d GPU(s), skipped\n", ls, ndev);
        return TEST_SKIP;
    }
    int stuck = argc > 1 && !strcmp(argv[1], "--stuck");
    struct par_options opt;
    par_options_default(&opt);
    opt.device = &nccl_device_ops;
    opt.watchdog_s = 60;
    struct frs_comm c;
    enum frs_status st = par_init(&c, &argc, &argv, &opt);
    if (st != FRS_OK)
        par_fail(&c, st);
    CHECK(c.device == c.local_rank % ndev, "device %d for local rank %d", c.device, c.local_rank);
    CHECK(c.size == 1 || c.nccl_comm != NULL, "NCCL communicator at size %d", c.size);
    CHECK_OK(par_report_bindings(&c, stdout));
    cudaStream_t s;
    cudaStreamCreate(&s);

    if (stuck) {
        float *d;
        cudaMalloc((void **)&d, sizeof(float) * N);
        if (c.rank == 1) {
            sleep(20); /* never joins */
            nccl_comm_abort(&c); /* its peer gave up: finalising would wait for it */
            par_finalize(&c);
            return 0;
        }
        CHECK_OK(nccl_allreduce_sum(&c, d, N, FRS_DTYPE_F32, s));
        st = nccl_sync_stream(&c, s, 5);
        CHECK(st == FRS_ERR_NCCL && strstr(frs_error_msg(), "did not finish"), "stuck peer detected: %s",
              frs_error_msg());
        CHECK(c.nccl_comm == NULL, "communicator aborted");
        fprintf(stderr, "%s\n", frs_error_msg());
        par_finalize(&c); /* waits for rank 1 to wake up and finalise too */
        return test_finish("test_par_nccl --stuck");
    }

    /* f32 and bf16 sum all-reduce (values exact in bf16: small integers) */
    float *h = malloc(sizeof(float) * N), *ref = malloc(sizeof(float) * N), *got = malloc(sizeof(float) * N);
    uint16_t *hb = malloc(2 * N);
    for (size_t i = 0; i < N; i++) {
        h[i] = in_val(c.rank, i);
        ref[i] = 0;
        for (int r = 0; r < c.size; r++)
            ref[i] += in_val(r, i);
        hb[i] = frs_f32_to_bf16(h[i]);
    }
    float *d;
    uint16_t *db;
    cudaMalloc((void **)&d, sizeof(float) * N);
    cudaMalloc((void **)&db, 2 * N);
    cudaMemcpy(d, h, sizeof(float) * N, cudaMemcpyHostToDevice);
    cudaMemcpy(db, hb, 2 * N, cudaMemcpyHostToDevice);
    CHECK_OK(nccl_allreduce_sum(&c, d, N, FRS_DTYPE_F32, s));
    CHECK_OK(nccl_allreduce_sum(&c, db, N, FRS_DTYPE_BF16, s));
    CHECK_OK(nccl_sync_stream(&c, s, 60));
    cudaMemcpy(got, d, sizeof(float) * N, cudaMemcpyDeviceToHost);
    test_close_f32("nccl sum f32", got, ref, N, 0.0);
    cudaMemcpy(hb, db, 2 * N, cudaMemcpyDeviceToHost);
    for (size_t i = 0; i < N; i++)
        got[i] = frs_bf16_to_f32(hb[i]);
    test_close_f32("nccl sum bf16", got, ref, N, 0.0);

    /* argmax keys with ties: value (i + rank % 2) % 3, index rank-dependent */
    uint64_t keys[300], *dk;
    float rv[300];
    int32_t ri[300];
    for (int i = 0; i < 300; i++) {
        keys[i] = frs_argmax_key_pack((float)((i + c.rank % 2) % 3), c.rank * 1000 + i);
        rv[i] = -INFINITY;
        ri[i] = 0;
        for (int r = 0; r < c.size; r++) {
            float v = (float)((i + r % 2) % 3);
            int32_t k = r * 1000 + i;
            if (v > rv[i] || (v == rv[i] && k < ri[i])) {
                rv[i] = v;
                ri[i] = k;
            }
        }
    }
    cudaMalloc((void **)&dk, sizeof keys);
    cudaMemcpy(dk, keys, sizeof keys, cudaMemcpyHostToDevice);
    CHECK_OK(nccl_argmax_keys(&c, dk, 300, s));
    CHECK_OK(nccl_sync_stream(&c, s, 60));
    cudaMemcpy(keys, dk, sizeof keys, cudaMemcpyDeviceToHost);
    int bad = 0;
    for (int i = 0; i < 300; i++)
        bad += frs_argmax_key_value(keys[i]) != rv[i] || frs_argmax_key_index(keys[i]) != ri[i];
    CHECK(bad == 0, "%d argmax keys differ", bad);

    /* all-gather */
    float *dg;
    cudaMalloc((void **)&dg, sizeof(float) * N * (size_t)c.size);
    cudaMemcpy(d, h, sizeof(float) * N, cudaMemcpyHostToDevice);
    CHECK_OK(nccl_allgather(&c, d, dg, N, FRS_DTYPE_F32, s));
    CHECK_OK(nccl_sync_stream(&c, s, 60));
    float *all = malloc(sizeof(float) * N * (size_t)c.size), *allref = malloc(sizeof(float) * N * (size_t)c.size);
    cudaMemcpy(all, dg, sizeof(float) * N * (size_t)c.size, cudaMemcpyDeviceToHost);
    for (int r = 0; r < c.size; r++)
        for (size_t i = 0; i < N; i++)
            allref[(size_t)r * N + i] = in_val(r, i);
    test_close_f32("nccl allgather", all, allref, N * (size_t)c.size, 0.0);

    float fails = (float)test_failures;
    CHECK_OK(comm_allreduce_sum_f32(&c, &fails, 1));
    cudaStreamDestroy(s);
    int rank = c.rank;
    par_finalize(&c);
    if (fails > 0 && test_failures == 0) {
        fprintf(stderr, "rank %d: another rank failed\n", rank);
        return 1;
    }
    return test_finish("test_par_nccl");
}
