/* cuda_paged.h - the kernels of batched decoding over the paged KV pool (runtime/batch.h):
 * RoPE + K/V write at per-row physical pool rows, attention of many rows of many sequences, each
 * through its own block table, bf16 row stores and in-order row moves (commit). Launchers in
 * cuda_paged.cu; the host side is cuda_batch.c.
 *
 * Pool layout (one layer of K or V): rows of kvw = n_kv * D bf16; physical row
 * blk * kv_block + (p % kv_block) holds position p of a sequence whose block table has
 * blocks[p / kv_block] = blk. Row r of a launch belongs to sequence rseq[r] (its block table is
 * tables + rseq[r] * table_w), sees that sequence's positions [0, rprefix[r]) and, among the new
 * positions rprefix[r] + j of the same launch: with a mask (rows of FRS_MASK_WORDS(FRS_MAX_TREE)
 * words, row r at mask + r * CUDA_PAGED_MASK_WORDS) those with bit j set, j < rncols[r]; without a
 * mask j <= rlocal[r] (causal). The new rows' K/V must have been written before (RoPE launch).
 *
 * defines: CUDA_PAGED_MASK_WORDS, struct cuda_paged_rows, cuda_paged_rope_write,
 *          cuda_paged_attention_splits, cuda_paged_attention_scratch_floats, cuda_paged_attention,
 *          cuda_paged_attention_vpass,
 *          cuda_paged_store_rows, cuda_paged_move_rows, cuda_paged_gather_rows
 */
#ifndef FRSPEC_CUDA_PAGED_H
#define FRSPEC_CUDA_PAGED_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CUDA_PAGED_MASK_WORDS 2 /* FRS_MASK_WORDS(FRS_MAX_TREE) */

/* per-row descriptors of a launch, all device arrays of n rows */
struct cuda_paged_rows {
    const int32_t *seq;    /* the row's sequence (index into the block tables) */
    const int32_t *prefix; /* the sequence's cached positions before this launch's rows */
    const int32_t *local;  /* the row's index among its sequence's new rows */
    const int32_t *ncols;  /* its sequence's new rows (mask columns) */
    const int32_t *tables; /* block tables, table_w int32 each */
    int table_w;
    int kv_block;
    const uint64_t *mask;  /* NULL: causal among the new rows */
};

/* qkv fp32 [n, ldqkv] = [q | k | v]: RoPE at pos[i] -> q_out fp32 [n, n_heads * D]; k (rotated)
 * and v to bf16 pool rows phys[i] of kpool / vpool (rows of n_kv * D). */
enum frs_status cuda_paged_rope_write(const float *qkv, int ldqkv, int n, int n_heads, int n_kv, int head_dim,
                                      const int32_t *pos, const float *inv_freq, float *q_out, uint16_t *kpool,
                                      uint16_t *vpool, const int32_t *phys, cudaStream_t st);

/* context splits of a launch of n rows (the combine step runs when > 1) */
int cuda_paged_attention_splits(int n, int n_heads, int n_kv, int n_sm);
size_t cuda_paged_attention_scratch_floats(int n, int n_heads, int n_kv, int head_dim, int n_sm);
/* out bf16 [n, n_heads * D] = softmax(q k^T / sqrt(D)) v per row and head over what the row sees
 * (above); GQA: head h reads kv head h / (n_heads / n_kv). head_dim % 8 == 0, <= 256. */
enum frs_status cuda_paged_attention(const float *q, const uint16_t *kpool, const uint16_t *vpool,
                                     const struct cuda_paged_rows *rows, int n, int n_heads, int n_kv, int head_dim,
                                     uint16_t *out, float *scratch, int n_sm, cudaStream_t st);

/* The same with the V pass chosen (cuda_paged_attention takes v8 = 1 where the head size allows):
 * v8 = 1, 16-byte V loads, 8 dims per thread (head_dim 16, 32, 64 or 128, else FRS_ERR_UNSUPPORTED);
 * v8 = 0, 4-byte loads, a pair of dims per thread (any head_dim; measured within noise of v8 = 1 at
 * the 8B shape, tests/bench/NOTES-cuda.md). For tests and A/B. */
enum frs_status cuda_paged_attention_vpass(const float *q, const uint16_t *kpool, const uint16_t *vpool,
                                           const struct cuda_paged_rows *rows, int n, int n_heads, int n_kv,
                                           int head_dim, uint16_t *out, float *scratch, int n_sm, int v8,
                                           cudaStream_t st);

/* dst row phys[j] (stride ld) = src row j (stride lds), cols bf16, for j < n */
enum frs_status cuda_paged_store_rows(uint16_t *dst, int ld, const int32_t *phys, const uint16_t *src, int lds,
                                      int cols, int n, cudaStream_t st);

/* For j < n in order: row dst[j] = row src[j] in each of n_layers arrays (layer_stride elements
 * apart, rows of row_elems bf16). Each thread copies one column through the whole list, so a
 * list whose moves read only rows not yet written by an earlier move (a commit's accepted paths:
 * increasing sources, destinations at or below them) is safe. */
enum frs_status cuda_paged_move_rows(uint16_t *base, int n_layers, size_t layer_stride, int row_elems,
                                     const int32_t *src, const int32_t *dst, int n, cudaStream_t st);

/* For j < n: dst row (didx ? didx[j] : j) (stride ld_dst, bf16) = row sidx[j] of src (stride
 * ld_src; fp32 rounded to bf16 when src_f32, else bf16), cols elements: the batched draft's fc
 * input (target features from the pool, parent hidden rows) and its root rows. */
enum frs_status cuda_paged_gather_rows(uint16_t *dst, int ld_dst, const int32_t *didx, const void *src, int ld_src,
                                       int src_f32, const int32_t *sidx, int cols, int n, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
