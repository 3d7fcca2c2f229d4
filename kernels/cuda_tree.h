/* cuda_tree.h - the EAGLE-2 dynamic tree built on the device (cuda_tree.cu), the same algorithm,
 * order and tie rules as runtime/tree.c (the reference; see tree.h): first / expand / frontier
 * mask / finish, plus the verify inputs (tokens, positions, ancestor mask), the acceptance walk
 * over the verified tree (runtime/accept.c's accept_walk) and the small position/scalar kernels
 * the backend's step uses. Everything stays on the device: the only read-back is verify's copy of
 * the struct frs_tree that cuda_tree_finish writes, with the walk's struct frs_accept.
 *
 * Shapes are host-known (k = topk, frontier always k, records after level L = k + (L-1) k^2),
 * so no launcher needs a device value on the host.
 *
 * defines: struct cuda_tree_dev, cuda_tree_dev_bytes, cuda_tree_dev_carve, cuda_tree_first,
 *          struct cuda_tree_seq, struct cuda_tree_batch, struct cuda_tree_rows, cuda_tree_batch_first,
 *          cuda_tree_batch_frontier, cuda_tree_batch_expand, cuda_tree_batch_finish,
 *          cuda_tree_expand, cuda_tree_frontier, cuda_tree_finish, cuda_tree_verify_inputs,
 *          cuda_tree_set_argmax, cuda_tree_accept, cuda_keys_to_ids, cuda_seq_positions, cuda_add_i32, cuda_set_i32,
 *          cuda_store_rows, cuda_load_rows, cuda_tree_records
 */
#ifndef FRSPEC_CUDA_TREE_H
#define FRSPEC_CUDA_TREE_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "backend.h"
#include "status.h"

struct frs_accept; /* runtime/accept.h */

#ifdef __cplusplus
extern "C" {
#endif

/* Device arrays of one tree builder; cap = max_topk + (max_depth - 1) * max_topk^2 records. */
struct cuda_tree_dev {
    int max_topk, max_depth, cap;
    float *score;       /* (cap) cumulative log-prob */
    int32_t *token;     /* (cap) full token id */
    int32_t *parent;    /* (cap) record of the parent, -1 = root */
    int32_t *depth_of;  /* (cap) 1.. */
    int32_t *slot;      /* (cap) tree slot once forwarded, else -1 */
    int32_t *node_of;   /* (cap) record -> output node, -1 when cut */
    int32_t *front;     /* (max_topk) frontier records, best first */
    int32_t *front_src; /* (max_topk) previous frontier row each came from */
};

/* records after `level` levels of a tree with topk k */
#ifdef __CUDACC__
__host__ __device__
#endif
static inline int cuda_tree_records(int k, int level) { return k + (level - 1) * k * k; }

size_t cuda_tree_dev_bytes(int max_topk, int max_depth);
/* Point t's arrays into mem (cuda_tree_dev_bytes bytes of device memory, 16-byte aligned). */
void cuda_tree_dev_carve(struct cuda_tree_dev *t, void *mem, int max_topk, int max_depth);

/* tree_build_first: the root row's top-k (vals, tok: k device values). */
enum frs_status cuda_tree_first(struct cuda_tree_dev *t, int k, const float *vals, const int32_t *tok,
                                cudaStream_t st);
/* tree_build_expand at frontier depth `level` (>= 1): the frontier rows' top-k (k*k values);
 * records base = cuda_tree_records(k, level) onward; new frontier = global top-k. k*k <= 1024. */
enum frs_status cuda_tree_expand(struct cuda_tree_dev *t, int k, int level, const float *vals, const int32_t *tok,
                                 cudaStream_t st);
/* tree_build_frontier_mask for the frontier of depth `level`: slots (level-1)*k .. level*k-1,
 * mask rows (k rows of FRS_MASK_WORDS(level*k) words) over the tree slots so far, and the draft
 * inputs: tok[r] = frontier token, pos[r] = *target_len + level - 1, *slot0 = *target_len +
 * (level-1)*k, fc_in[r, C..2C) = bf16(hid[src row]) with src row = root_row at level 1, else
 * front_src[r] (hid fp32 rows of C). */
enum frs_status cuda_tree_frontier(struct cuda_tree_dev *t, int k, int level, const int32_t *target_len,
                                   const float *hid, int root_row, int C, uint16_t *fc_in, int ld_fc, int32_t *tok,
                                   int32_t *pos, int32_t *slot0, uint64_t *mask, cudaStream_t st);
/* tree_build_finish after `depth` levels: root (token *root_token, read on the device) + top
 * (size-1) records in creation order into out (device struct frs_tree: n, token, parent, depth).
 * A kept record whose parent was cut (cannot happen with log-probs <= 0) sets out->n = -1. */
enum frs_status cuda_tree_finish(struct cuda_tree_dev *t, int k, int depth, int size, const int32_t *root_token,
                                 struct frs_tree *out, cudaStream_t st);
/* The batched draft's trees (kernels/cuda_batch.c): the same algorithm per sequence, a block each,
 * sequence i of an op building in the builder of its slot at mem + slot * stride (carved for
 * max_topk, max_depth; stride >= cuda_tree_dev_bytes, a multiple of 16). seqs (device, one per
 * sequence of the op) say its shape and where its rows are; every launcher's shapes are host-known,
 * so a whole draft runs without a read-back until its trees. */
struct cuda_tree_seq {
    int32_t slot, k, depth, size; /* its builder, tree top-k / depth / size */
    int32_t T, root, table;       /* its target_len, root token, block table index in cuda_tree_rows */
    int32_t pad;
    int32_t base[FRS_MAX_TREE_DEPTH]; /* base[l]: its first row in the forward of depth l (1 <= l < depth) */
};
struct cuda_tree_batch {
    void *mem;
    size_t stride;
    int max_topk, max_depth;
    const struct cuda_tree_seq *seqs;
};
/* where cuda_tree_batch_frontier writes a draft forward's rows (kernels/cuda_batch.c's metadata,
 * cuda_paged.h's row descriptors): token, RoPE position, physical pool row, table index, prefix,
 * local column, mask columns, the fc input's feature row, and the mask (mask_words words a row) */
struct cuda_tree_rows {
    int32_t *tok, *pos, *phys, *seq, *prefix, *local, *ncols, *gidx;
    uint64_t *mask;
    int mask_words;
    const int32_t *tables; /* table_w entries each: pool block ids of kv_block rows */
    int table_w, kv_block;
};
/* tree_build_first for each of the n sequences: its root row i's top-k at vals / tok + i * ld */
enum frs_status cuda_tree_batch_first(const struct cuda_tree_batch *b, int n, const float *vals, const int32_t *tok,
                                      int ld, cudaStream_t st);
/* tree_build_frontier_mask for the frontier of depth `level` of each sequence still growing
 * (depth > level), its k rows at base[level]..: token, position T + level - 1, the tree slot
 * T + (level - 1) k + r's pool row, table, prefix T, local (level - 1) k + r, columns level k, the
 * feature row (level 1: root row i; deeper: base[level - 1] + front_src[r]) and the mask */
enum frs_status cuda_tree_batch_frontier(const struct cuda_tree_batch *b, int n, int level,
                                         const struct cuda_tree_rows *rows, cudaStream_t st);
/* tree_build_expand at depth `level` for each growing sequence: frontier row r's top-k at
 * vals / tok + (base[level] + r) * ld */
enum frs_status cuda_tree_batch_expand(const struct cuda_tree_batch *b, int n, int level, const float *vals,
                                       const int32_t *tok, int ld, cudaStream_t st);
/* tree_build_finish of each sequence into out[i] (device; n, token, parent, depth; n = -1 when a
 * kept record's parent was cut); max_rec >= every sequence's cuda_tree_records(k, depth) */
enum frs_status cuda_tree_batch_finish(const struct cuda_tree_batch *b, int n, int max_rec, struct frs_tree *out,
                                       cudaStream_t st);
/* Verify inputs of the n-node tree: tok[i], pos[i] = *target_len + depth[i], ancestor mask
 * (tree_mask_ancestors: n rows of FRS_MASK_WORDS(n) words). */
enum frs_status cuda_tree_verify_inputs(const struct frs_tree *tree, int n, const int32_t *target_len, int32_t *tok,
                                        int32_t *pos, uint64_t *mask, cudaStream_t st);
/* tree->argmax[i] = frs_argmax_key_index(keys[i]) for i < n. */
enum frs_status cuda_tree_set_argmax(struct frs_tree *tree, const uint64_t *keys, int n, cudaStream_t st);
/* The acceptance walk over the device tree, one warp: *out = accept_walk(tree, s, iter) of
 * runtime/accept.h, field for field (n = tree->n, read on the device). Greedy when seed and draw0
 * are NULL (reads token / parent / depth / argmax); sampling otherwise (reads child_prob and
 * residual; uniforms frs_rng_uniform(*seed, FRS_RNG_STREAM_ACCEPT, frs_spec_index(iter, c)) drawn
 * on the device with rng.h's code), iter given as *draw0 = frs_spec_draw(iter, 0), the value verify
 * keeps in its device sampling parameters (struct cuda_sample_params: seed, draw0), so a captured
 * graph replays with new values. *ok = 1 when done, 0 when the tree fails accept_check_tree (out
 * then partial: the host walk reports the error). */
enum frs_status cuda_tree_accept(const struct frs_tree *tree, const uint64_t *seed, const uint64_t *draw0,
                                 struct frs_accept *out, int32_t *ok, cudaStream_t st);
/* ids[i] = frs_argmax_key_index(keys[i]). */
enum frs_status cuda_keys_to_ids(const uint64_t *keys, int n, int32_t *ids, cudaStream_t st);

/* pos[i] = *base + add + i (i < n); *slot0 = *base + add when slot0 != NULL. */
enum frs_status cuda_seq_positions(const int32_t *base, int add, int n, int32_t *pos, int32_t *slot0,
                                   cudaStream_t st);
/* *x += v */
enum frs_status cuda_add_i32(int32_t *x, int32_t v, cudaStream_t st);
/* x[i] = v[i] for i < n (n <= FRS_MAX_TREE; values passed by value as a kernel parameter, so
 * the host array may change right after the call) */
enum frs_status cuda_set_i32(int32_t *x, const int32_t *v, int n, cudaStream_t st);
/* dst row (*base + add + j) (bf16 rows of stride ld) = src row (src_rows ? src_rows[j] : j) of
 * stride cols, cols elements, for j < n: feature rows stored at device-known positions. */
enum frs_status cuda_store_rows(uint16_t *dst, int ld, const int32_t *base, int add, const uint16_t *src, int cols,
                                const int32_t *src_rows, int n, cudaStream_t st);
/* dst row j (stride ld_dst) = src row (*base + add + j) (stride ld_src), cols elements, for j < n:
 * rows loaded from device-known positions (the draft's catch-up reads the target features). */
enum frs_status cuda_load_rows(uint16_t *dst, int ld_dst, const uint16_t *src, int ld_src, const int32_t *base,
                               int add, int cols, int n, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
