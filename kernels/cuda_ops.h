/* cuda_ops.h - the CUDA kernels of the target and the draft behind a C ABI (launchers in
 * cuda_ops.cu, cuda_tree.cu). Host code (cuda_backend.c, the tests) stays C11.
 *
 * Conventions (the same as runtime/cpu_ops.h, which is the reference for every launcher):
 *  - bf16 values travel as uint16_t (the upper half of an fp32), round to nearest even.
 *  - activations: the residual stream and matmul outputs are fp32; everything that feeds a
 *    matmul (norm output, attention output, SwiGLU output, draft fc input) is bf16, so the
 *    n == 1 GEMV and the n > 1 cuBLAS GEMM see identical inputs (only the summation order
 *    differs between them).
 *  - matmul: y[n, rows] (+)= x[n, cols] @ W^T with W row-major (rows, cols) bf16.
 *  - KV cache: bf16, per layer (slots, n_kv*D); token i of a forward sits at slot slot0 + i.
 *  - attention: the n new tokens sit at slots [prefix, prefix+n); all prefix slots visible;
 *    among the new ones bit j of mask row i (FRS_MASK_WORDS(n) words) or causal when mask is
 *    NULL. GQA: q head h reads kv head h / (n_heads / n_kv). Scale 1/sqrt(D).
 *  - scalars that change every step (prefix, slot0) are read from device memory, so a captured
 *    CUDA graph replays with new values and no host work.
 *  - every launcher takes an explicit stream, checks the launch, records errors with FRS_ERR and
 *    never synchronises.
 *
 * defines: struct cuda_blas, cuda_blas_create, cuda_blas_free, cuda_matmul, cuda_gemv_bf16, cuda_gemv_swiglu,
 *          cuda_fill_hash_bf16, cuda_gemv_norm_bf16, cuda_gemv_norm_swiglu,
 *          cuda_rmsnorm, cuda_rope_qkv, cuda_attention, cuda_attention_splits,
 *          cuda_attention_scratch_floats, cuda_attention_layout, cuda_attention_combine,
 *          cuda_attention_auto_mma, CUDA_ATT_*,
 *          cuda_swiglu, cuda_embed, cuda_add, cuda_add_bias, cuda_f32_to_bf16,
 *          cuda_logsoftmax_topk, cuda_argmax_keys, cuda_rng_gumbel_fill, cuda_sample_keys,
 *          cuda_kv_gather, CUDA_TOPK_MAX
 */
#ifndef FRSPEC_CUDA_OPS_H
#define FRSPEC_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#include "cuda_elementwise.h"
#include "cuda_gumbel.h"
#include "cuda_topk.h"
#include "cuda_synthetic.h"
#include "cuda_norm.h"
#include "cuda_rope.h"
#include "cuda_attention.h"
#include "cuda_kv.h"          /* cuda_kv_gather */

#ifdef __cplusplus
extern "C" {
#endif

/* cuBLAS handle + workspace of one rank (no file-static state): created once, bound to stream. */
struct cuda_blas {
    void *handle;    /* cublasHandle_t */
    void *workspace; /* device, workspace_bytes (set with cublasSetWorkspace: graph capture safe) */
    size_t workspace_bytes;
    cudaStream_t stream;
    int n_sm;        /* multiprocessors of the device */
    /* n > 1: cuBLASLt with the algorithm chosen per shape (cuda_matmul), FRS_CUBLASLT=0 turns it off */
    void *lt;        /* cublasLtHandle_t, NULL when off */
    void *lt_cache;  /* struct cuda_lt_entry[lt_cap] (cuda_ops.cu) */
    int lt_count, lt_cap;
    float *lt_scratch; /* device output of the timing runs (never the caller's y) */
    size_t lt_scratch_floats;
};

enum frs_status cuda_blas_create(struct cuda_blas *b, cudaStream_t stream);
void cuda_blas_free(struct cuda_blas *b);

/* y[i, r] = beta * y[i, r] + sum_c x[i, c] * W[r, c] for i < n, r < rows. x bf16 (row stride
 * ldx), W bf16 (rows, cols) contiguous, y fp32 (row stride ldy). beta 0 never reads y.
 * n == 1: cuda_gemv_bf16 (when cols % 8 == 0 and pointers are 16-byte aligned); n > 1: cuBLASLt
 * matmul, bf16 inputs, fp32 accumulation and output, with the algorithm picked once per shape
 * (n, rows, cols, ldx, ldy): the first call of a shape outside stream capture times the
 * heuristic's top candidates (split-K ones included) on a scratch output and caches the fastest;
 * under capture the heuristic's first is taken. Falls back to cublasGemmEx (default algorithm)
 * when cuBLASLt is off (FRS_CUBLASLT=0 at cuda_blas_create) or has no algorithm. */
enum frs_status cuda_matmul(struct cuda_blas *b, const uint16_t *x, int ldx, int n, const uint16_t *w, int rows,
                            int cols, float *y, int ldy, float beta);
/* The n == 1 kernel alone: one warp per output row, 16-byte loads, fp32 accumulation. */
enum frs_status cuda_gemv_bf16(const uint16_t *x, const uint16_t *w, int rows, int cols, float *y, float beta,
                               cudaStream_t st);

/* n == 1 gate/up GEMV fused with SwiGLU: w is (2F, cols), gate rows then up rows; act[j] =
 * bf16(silu(x.gate_j) * (x.up_j)), bit-identical to cuda_gemv_bf16 followed by cuda_swiglu. */
enum frs_status cuda_gemv_swiglu(const uint16_t *x, const uint16_t *w, int F, int cols, uint16_t *act,
                                 cudaStream_t st);

/* n == 1 GEMVs with the RMSNorm before them fused in: every block normalises the fp32 row xf
 * (cols, weight nw, eps) into shared memory as cuda_rmsnorm would (bf16 output), then runs
 * cuda_gemv_bf16 / cuda_gemv_swiglu on it; one launch fewer per norm. cols <= CUDA_GEMV_NORM_MAX_COLS.
 * Measured slower than RMSNorm + GEMV at the Llama-3-8B shapes (every block re-reads x and the norm
 * weight: tests/bench/NOTES-cuda.md, optimisation 8); the backend uses them only with FRS_FUSE_NORM=1. */
#define CUDA_GEMV_NORM_MAX_COLS 16384
enum frs_status cuda_gemv_norm_bf16(const float *xf, const uint16_t *nw, float eps, const uint16_t *w, int rows,
                                    int cols, float *y, float beta, cudaStream_t st);
enum frs_status cuda_gemv_norm_swiglu(const float *xf, const uint16_t *nw, float eps, const uint16_t *w, int F,
                                      int cols, uint16_t *act, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
