/* cuda_attn_mma.h - the tensor-core attention kernel for n > 1 rows (kernels/cuda_attn_mma.cu),
 * behind the dispatch of cuda_attention_layout (kernels/cuda_attention.cu). Internal to kernels/: the
 * public entry points and the dispatch rules are in cuda_ops.h.
 *
 * defines: CUDA_ATT_MMA_BM, cuda_attn_mma_head_dim_ok, cuda_attn_mma_splits, cuda_attn_mma_splits_blocks,
 *          cuda_attn_mma_splits_ws, cuda_attn_ws_pipe_per_sm, cuda_attn_mma,
 *          struct cuda_attn_mma_pages, cuda_attn_mma_paged
 */
#ifndef FRSPEC_CUDA_ATTN_MMA_H
#define FRSPEC_CUDA_ATTN_MMA_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CUDA_ATT_MMA_BM 64    /* q vectors (rows x heads of one kv head) per block */
#define CUDA_ATT_MMA_BM_WS 16 /* ... in the paged kernel's warp split (one row's heads: the decode of a batch) */

/* 1 when the kernel is built for head_dim (16, 32, 64, 128) */
int cuda_attn_mma_head_dim_ok(int head_dim);

/* splits along the context (1 .. 64) for n rows: as many as two blocks per SM allow */
int cuda_attn_mma_splits(int n, int n_heads, int n_kv, int n_sm);
/* the same for a grid of mblocks blocks per kv head (cuda_attn_mma_paged's max_blocks) */
int cuda_attn_mma_splits_blocks(int mblocks, int n_kv, int n_sm);
/* ... for the warp split (bm CUDA_ATT_MMA_BM_WS) of about `segments` segments per kv head, at per_sm
 * blocks per SM (3 for attn_mma_kernel's, cuda_attn_ws_pipe_per_sm for the ring's) */
int cuda_attn_mma_splits_ws(int segments, int n_kv, int n_sm, int per_sm);
/* the blocks per SM of the warp split with the K/V ring (cuda_attn_mma_pages.pipe) at head_dim and
 * terms, 0 when it cannot run */
int cuda_attn_ws_pipe_per_sm(int head_dim, int terms);

/* The kernel (cuda_ops.h semantics), then, when splits > 1, its combine: the partials (m, l,
 * acc[D]) of every (row, head, split) go to part (n * n_heads * splits * (head_dim + 2) floats).
 * terms: 3 = q and P as three bf16 terms each (fp32-exact operands), 1 = single bf16 products.
 * Needs q, kc, vc 16-byte aligned, out 4-byte, part 8-byte aligned, head_dim ok. */
enum frs_status cuda_attn_mma(const float *q, const uint16_t *kc, const uint16_t *vc, const int32_t *prefix, int n,
                              const uint64_t *mask, int mask_cols, int n_heads, int n_kv, int head_dim, int terms,
                              int splits, uint16_t *out, float *part, cudaStream_t st);

/* The paged form (the batched verify, decode and prefill over the KV pool, kernels/cuda_batch.c): one
 * launch for the rows of many sequences, each sequence's rows a contiguous group whose K/V tiles
 * are read once per block for all of its rows and heads (the CUDA-core paged kernel of
 * cuda_paged.h reads them once per row). Block x of the grid is segment seg[x] = {row0, rows, m0,
 * table index}: rows [row0, row0 + rows) of one sequence, q vectors m0 .. m0 + bm - 1 of its rows x G
 * heads, bm = CUDA_ATT_MMA_BM (4 warps of 16 vectors, each over the whole 64-slot tile) or
 * CUDA_ATT_MMA_BM_WS (one group of 16 vectors, each warp over 16 slots of the tile, merged at the
 * end: for segments of one row, whose G heads would leave three warps of four without products); blocks x >= *nseg return at once, so a grid sized for a bound on the
 * segments (the caller's max_blocks) replays in a CUDA graph whatever the grouping. A group's
 * prefix, mask row and mask columns are its first row's (prefix[row0], mask + row0 * mask_stride,
 * ncols[row0]); mask NULL: causal among the group's rows. */
struct cuda_attn_mma_pages {
    const int32_t *seg;    /* (max_blocks, 4), 16-byte aligned */
    const int32_t *nseg;   /* device: the segments in use */
    const int32_t *prefix; /* per row: cached positions before the launch's rows */
    const int32_t *ncols;  /* per row: the group's mask columns */
    const uint64_t *mask;  /* per row, mask_stride words; NULL: causal */
    int mask_stride;
    const int32_t *tables; /* block tables, table_w each */
    int table_w;
    int kv_block;
    int pipe; /* bm CUDA_ATT_MMA_BM_WS: 1 = the warp split with a multi-stage K/V ring (attn_ws_pipe_kernel:
               * the same results, more bytes in flight), 0 = attn_mma_kernel's */
};

enum frs_status cuda_attn_mma_paged(const float *q, const uint16_t *kpool, const uint16_t *vpool,
                                    const struct cuda_attn_mma_pages *pg, int max_blocks, int bm, int n_rows, int n_heads,
                                    int n_kv, int head_dim, int terms, int splits, uint16_t *out, float *part,
                                    cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
