/* cuda_matmul.h - matrix products of bf16 weights (kernels/cuda_matmul.cu), C ABI; the
 * conventions are cuda_ops.h's: the per-rank cuBLAS / cuBLASLt context with its algorithm cache,
 * cuda_matmul (GEMV at n == 1, cuBLASLt GEMM at n > 1) and the n == 1 GEMV kernels.
 *
 * defines: struct cuda_blas, cuda_blas_create, cuda_blas_free, cuda_matmul, cuda_gemv_bf16,
 *          cuda_gemv_swiglu
 */
#ifndef FRSPEC_CUDA_MATMUL_H
#define FRSPEC_CUDA_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cuBLAS handle + workspace of one rank and the switches of its matmuls (no file-static state):
 * created once, bound to stream. */
struct cuda_blas {
    void *handle;    /* cublasHandle_t */
    void *workspace; /* device, workspace_bytes (set with cublasSetWorkspace: graph capture safe) */
    size_t workspace_bytes;
    cudaStream_t stream;
    int n_sm;        /* multiprocessors of the device */
    int pdl;         /* 1: the n == 1 GEMVs launched with programmatic dependent launch (sm_90) */
    /* the FP8 dispatch of cuda_matmul_w8 (cuda_fp8_kernels.h), from frs_backend_options: */
    int fp8_gemv_unroll; /* the n == 1 GEMV's loads in flight per lane: 8, else 4 */
    int fp8_mma;         /* n = 2..64: 2 split-K tensor-core kernel, 1 unsplit, 0 dequantize + bf16 GEMM */
    /* n > 1: cuBLASLt with the algorithm chosen per shape (cuda_matmul); off: cublasGemmEx only */
    void *lt;        /* cublasLtHandle_t, NULL when off */
    void *lt_cache;  /* struct cuda_lt_entry[lt_cap] (cuda_matmul.cu) */
    int lt_count, lt_cap;
    float *lt_scratch; /* device output of the timing runs (never the caller's y) */
    size_t lt_scratch_floats;
    int lt_time;       /* 1 (default): time the heuristic's candidates at a shape's first call, the choice
                        * (timed or not) reused at other row counts of its class (cuda_matmul.cu's
                        * lt_reuse); 2: chosen at every row count; 0: the heuristic's first, untimed */
    int lt_timed;      /* shapes whose candidates were timed */
    int lt_reused;     /* shapes that took the algorithm timed at another row count */
    double lt_seconds; /* host time spent choosing algorithms (heuristics and timing), all shapes */
    double lt_check_seconds; /* the part of it in cublasLtMatmulAlgoCheck (lt_reuse) */
};

/* cublaslt: 1 = cuBLASLt with per-shape algorithms for n > 1 (the product's choice), 0 =
 * cublasGemmEx with the default algorithm; pdl: 1 = the GEMVs of cuda_matmul with programmatic
 * dependent launch (struct frs_backend_options' cublaslt and pdl). */
enum frs_status cuda_blas_create(struct cuda_blas *b, cudaStream_t stream, int cublaslt, int pdl);
void cuda_blas_free(struct cuda_blas *b);

/* y[i, r] = beta * y[i, r] + sum_c x[i, c] * W[r, c] for i < n, r < rows. x bf16 (row stride
 * ldx), W bf16 (rows, cols) contiguous, y fp32 (row stride ldy). beta 0 never reads y.
 * n == 1: cuda_gemv_bf16 (when cols % 8 == 0 and pointers are 16-byte aligned); n > 1: cuBLASLt
 * matmul, bf16 inputs, fp32 accumulation and output, with the algorithm picked once per shape
 * (n, rows, cols, ldx, ldy): the first call of a shape outside stream capture times the
 * heuristic's top candidates (split-K ones included) on a scratch output and caches the fastest
 * (weights of 4 MiB or more; smaller ones take the heuristic's first), later row counts of its class
 * (up to 16, 64, 256, 1024, more) take that choice when cuBLASLt accepts it; under capture the
 * heuristic's first is taken. Falls back to cublasGemmEx (default algorithm)
 * when cuBLASLt is off (cuda_blas_create's cublaslt = 0) or has no algorithm. */
enum frs_status cuda_matmul(struct cuda_blas *b, const uint16_t *x, int ldx, int n, const uint16_t *w, int rows,
                            int cols, float *y, int ldy, float beta);
/* The row-count buckets of the batched verify: n up to 16 rounded up to a power of two, then to a
 * multiple of 16 (to 128), 64 (to 1024), 256. The verify pads its rows to them, so that a continuous
 * batch whose rows change every step meets a few CUDA graphs and GEMM shapes (each shape's first use
 * is an eager run with its algorithms chosen, the second a capture: 14-28 ms each for the default
 * pair on the H100, so a job ramping up to 64 sequences met 9 of them with every count up to 16 a
 * bucket of its own). */
int cuda_rows_bucket(int n);
/* The n == 1 kernel alone: one warp per output row, 16-byte loads, fp32 accumulation. pdl: 1 =
 * launched with programmatic dependent launch (it streams its first weights before waiting for
 * the kernel before it). */
enum frs_status cuda_gemv_bf16(const uint16_t *x, const uint16_t *w, int rows, int cols, float *y, float beta,
                               int pdl, cudaStream_t st);

/* n == 1 gate/up GEMV fused with SwiGLU: w is (2F, cols), gate rows then up rows; act[j] =
 * bf16(silu(x.gate_j) * (x.up_j)), bit-identical to cuda_gemv_bf16 followed by cuda_swiglu. */
enum frs_status cuda_gemv_swiglu(const uint16_t *x, const uint16_t *w, int F, int cols, uint16_t *act, int pdl,
                                 cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
