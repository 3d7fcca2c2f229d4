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

/* Flash-decoding style attention; prefix read from device *prefix. Row i sees slots [0, prefix)
 * and, with a mask, slot prefix + j (j < mask_cols) when bit j of its mask row
 * (FRS_MASK_WORDS(mask_cols) words) is set; without a mask slots [0, prefix + i] (causal; the n
 * new rows at [prefix, prefix + n)). The target passes mask_cols = n; the draft's tree rows see
 * their ancestors' tree slots (mask_cols = tree slots so far). out bf16 [n, n_heads*D].
 * scratch: cuda_attention_scratch_floats(n, ...) floats (may be NULL when that is 0).
 * head_dim % 8 == 0, head_dim <= 256. */
int cuda_attention_splits(int n, int n_heads, int n_kv, int head_dim, int n_sm);
/* Kernels and layouts (the layout argument of cuda_attention_layout):
 *  - AUTO: n == 1 (decode): the CUDA-core kernel, one kv head's q vectors per block (unchanged by
 *    the tensor-core kernel). n > 1 with head_dim 16, 32, 64 or 128 (and q, k, v 16-byte aligned,
 *    out 4-byte, scratch 8-byte): the tensor-core kernel (kernels/cuda_attn_mma.cu: bf16 mma.sync,
 *    q and P as three bf16 terms each, i.e. fp32 operands, fp32 accumulation and softmax; 64 rows x
 *    heads of one kv head per block, split over the context when there are too few blocks).
 *    FRS_ATT_MMA=0 at launch time turns it off (the CUDA-core MULTI_ROW layout, or SINGLE_ROW with
 *    FRS_ATT_MULTI=0), FRS_ATT_MMA=1 runs it with single bf16 products (MMA_BF16). Other
 *    head_dims (e.g. 256): the CUDA-core kernel.
 *  - SINGLE_ROW / MULTI_ROW: the CUDA-core kernel, forced (A/B, tests). SINGLE_ROW = one row's
 *    heads per block (better on short contexts: more, lighter blocks); MULTI_ROW = rows x heads of
 *    one kv head share each K/V load (better from ~0.5k slots on).
 *  - MMA / MMA_BF16: the tensor-core kernel at any n, forced (FRS_ERR_UNSUPPORTED for the
 *    head_dims and alignments it does not take); MMA_BF16 rounds q and P to single bf16 (A/B).
 * cuda_attention_splits gives the splits of AUTO; the scratch size covers every kernel and layout. */
enum { CUDA_ATT_AUTO = 0, CUDA_ATT_SINGLE_ROW = 1, CUDA_ATT_MULTI_ROW = 2, CUDA_ATT_MMA = 3, CUDA_ATT_MMA_BF16 = 4 };
size_t cuda_attention_scratch_floats(int n, int n_heads, int n_kv, int head_dim, int n_sm);
/* 1 when AUTO runs the tensor-core kernel for n rows of head_dim (reads FRS_ATT_MMA; alignment aside) */
int cuda_attention_auto_mma(int n, int head_dim);
enum frs_status cuda_attention(const float *q, const uint16_t *kcache, const uint16_t *vcache, const int32_t *prefix,
                               int n, const uint64_t *mask, int mask_cols, int n_heads, int n_kv, int head_dim, uint16_t *out,
                               float *scratch, int n_sm, cudaStream_t st);
/* Merge n_split (1..64) attention partials (m, l, acc[head_dim]) per output row (token x head) of
 * part, laid out [rows][n_split][head_dim + 2], into bf16 out [rows][head_dim]; splits with
 * m = -inf are skipped. Both attention kernels' combine step. */
enum frs_status cuda_attention_combine(const float *part, int rows, int n_split, int head_dim, uint16_t *out,
                                       cudaStream_t st);
enum frs_status cuda_attention_layout(const float *q, const uint16_t *kcache, const uint16_t *vcache,
                                      const int32_t *prefix, int n, const uint64_t *mask, int mask_cols, int n_heads,
                                      int n_kv, int head_dim, uint16_t *out, float *scratch, int n_sm, int layout,
                                      cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
