/* cuda_attention.h - attention of n new rows over the KV cache: CUDA-core kernel, split
 * combine, kernel choice (kernels/cuda_attention.cu), C ABI; the conventions are cuda_ops.h's.
 *
 * defines: cuda_attention, cuda_attention_layout, cuda_attention_combine, cuda_attention_combine_select,
 *          cuda_attention_splits,
 *          cuda_attention_scratch_floats, cuda_attention_auto_mma, CUDA_ATT_*
 */
#ifndef FRSPEC_CUDA_ATTENTION_H
#define FRSPEC_CUDA_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

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
 *    Other head_dims (e.g. 256), and n == 1: the CUDA-core kernel in the MULTI_ROW layout (which at
 *    n == 1 is one kv head's q vectors per block).
 *  - AUTO_BF16: AUTO with the tensor-core kernel's single bf16 products (MMA_BF16; A/B only: the
 *    backend's FRS_ATTN_MMA_BF16). The backend's FRS_ATTN_CUDA_CORES passes MULTI_ROW (= AUTO
 *    without the tensor-core kernel), or verify's context-chosen layout.
 *  - SINGLE_ROW / MULTI_ROW: the CUDA-core kernel, forced (A/B, tests). SINGLE_ROW = one row's
 *    heads per block (better on short contexts: more, lighter blocks); MULTI_ROW = rows x heads of
 *    one kv head share each K/V load (better from ~0.5k slots on).
 *  - MMA / MMA_BF16: the tensor-core kernel at any n, forced (FRS_ERR_UNSUPPORTED for the
 *    head_dims and alignments it does not take); MMA_BF16 rounds q and P to single bf16 (A/B).
 * cuda_attention_splits gives the splits of AUTO; the scratch size covers every kernel and layout. */
enum {
    CUDA_ATT_AUTO = 0,
    CUDA_ATT_SINGLE_ROW = 1,
    CUDA_ATT_MULTI_ROW = 2,
    CUDA_ATT_MMA = 3,
    CUDA_ATT_MMA_BF16 = 4,
    CUDA_ATT_AUTO_BF16 = 5
};
size_t cuda_attention_scratch_floats(int n, int n_heads, int n_kv, int head_dim, int n_sm);
/* 1 when AUTO (and AUTO_BF16) runs the tensor-core kernel for n rows of head_dim (alignment aside) */
int cuda_attention_auto_mma(int n, int head_dim);
enum frs_status cuda_attention(const float *q, const uint16_t *kcache, const uint16_t *vcache, const int32_t *prefix,
                               int n, const uint64_t *mask, int mask_cols, int n_heads, int n_kv, int head_dim, uint16_t *out,
                               float *scratch, int n_sm, cudaStream_t st);
/* Merge n_split (1..64) attention partials (m, l, acc[head_dim]) per output row (token x head) of
 * part, laid out [rows][n_split][head_dim + 2], into bf16 out [rows][head_dim]; splits with
 * m = -inf are skipped. Both attention kernels' combine step. */
enum frs_status cuda_attention_combine(const float *part, int rows, int n_split, int head_dim, uint16_t *out,
                                       cudaStream_t st);
/* The combine's kernel, process-wide (the CUDA backend sets it when created, backend option
 * att_combine_warp): 0 (default) a block of head_dim threads per output row; 1 a warp per output row (the same
 * sums in the same order; opt-in until measured on a GPU). */
void cuda_attention_combine_select(int warp);
enum frs_status cuda_attention_layout(const float *q, const uint16_t *kcache, const uint16_t *vcache,
                                      const int32_t *prefix, int n, const uint64_t *mask, int mask_cols, int n_heads,
                                      int n_kv, int head_dim, uint16_t *out, float *scratch, int n_sm, int layout,
                                      cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
