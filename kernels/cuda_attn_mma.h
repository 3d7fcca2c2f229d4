/* cuda_attn_mma.h - the tensor-core attention kernel for n > 1 rows (kernels/cuda_attn_mma.cu),
 * behind the dispatch of cuda_attention_layout (kernels/cuda_attention.cu). Internal to kernels/: the
 * public entry points and the dispatch rules are in cuda_ops.h.
 *
 * defines: CUDA_ATT_MMA_BM, cuda_attn_mma_head_dim_ok, cuda_attn_mma_splits, cuda_attn_mma
 */
#ifndef FRSPEC_CUDA_ATTN_MMA_H
#define FRSPEC_CUDA_ATTN_MMA_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CUDA_ATT_MMA_BM 64 /* q vectors (rows x heads of one kv head) per block */

/* 1 when the kernel is built for head_dim (16, 32, 64, 128) */
int cuda_attn_mma_head_dim_ok(int head_dim);

/* splits along the context (1 .. 64) for n rows: as many as two blocks per SM allow */
int cuda_attn_mma_splits(int n, int n_heads, int n_kv, int n_sm);

/* The kernel (cuda_ops.h semantics), then, when splits > 1, its combine: the partials (m, l,
 * acc[D]) of every (row, head, split) go to part (n * n_heads * splits * (head_dim + 2) floats).
 * terms: 3 = q and P as three bf16 terms each (fp32-exact operands), 1 = single bf16 products.
 * Needs q, kc, vc 16-byte aligned, out 4-byte, part 8-byte aligned, head_dim ok. */
enum frs_status cuda_attn_mma(const float *q, const uint16_t *kc, const uint16_t *vc, const int32_t *prefix, int n,
                              const uint64_t *mask, int mask_cols, int n_heads, int n_kv, int head_dim, int terms,
                              int splits, uint16_t *out, float *part, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
