/* batch.h - the batched half of the backend contract: many sequences in flight in one backend,
 * their KV rows in one paged pool. The engine (runtime/batch_engine.c) owns every sequence's
 * state and the pool's block accounting (runtime/kvpool.c); a backend owns the pool's memory
 * and computes. The single-sequence ops of backend.h stay as they are (the batch-1 fast path of
 * `frspec generate --prompt`); a backend offers batching by setting frs_backend_ops.batch.
 *
 * Paged KV pool. create() with lim->max_seqs > 0 allocates, besides the single-sequence state,
 * a pool of be->kv_blocks blocks of lim->kv_block positions each (lim->kv_blocks, or when that is
 * 0, as many as fit in lim->kv_share of the memory left after the weights; the backend writes
 * the count it chose into be->kv_blocks). One block holds, for its positions, the target's K and
 * V rows of every layer, the draft's K and V rows (when a draft is loaded) and the target feature
 * (post-final-norm hidden state) the draft consumes. Position p of a sequence lives in block
 * seq->blocks[p / kv_block], row p % kv_block, in all three. The engine hands out blocks
 * (kvpool.c) before an op writes past seq->n_blocks * kv_block; the backend checks and refuses
 * (FRS_ERR_TOO_LONG) rather than write outside a sequence's blocks.
 *
 * Slots. Per-sequence scratch that lives between ops (the drafted tree, the draft's tree slots) is indexed by seq->slot, 0 <= slot < lim->max_seqs. A slot is
 * the engine's to reuse as soon as a sequence ends; nothing survives in it across sequences
 * except through the ops below.
 *
 * Sequence state is the engine's (struct frs_seq, passed to every op): the backend never keeps
 * its own copy of a length. One iteration for a set of running sequences:
 *
 *   draft(seqs needing a tree)          -> trees stay in backend memory (slot)
 *   verify(all seqs, roots)             -> per sequence: the tree with its verdict and the
 *                                          acceptance result; one read-back for the batch
 *   commit(all seqs, acceptance)        -> KV rows of the accepted path moved into place
 *   engine: target_len += n_path, draft_len as the op contracts say
 *
 * and prefill(seqs, chunks) for the sequences still reading their prompt, all of a step's chunks in
 * one forward (or a few, at most frs_batch_prefill_rows rows each), interleaved with the iterations.
 *
 * Decisions are keyed by position, never by batch slot or iteration: the token chosen at
 * position p of a request is, greedy, the argmax of the target's logits there (ties to the lowest
 * id) and, at temperature > 0, the Gumbel-max draw sampling_draw() makes with draw index p
 * (noise frs_rng_gumbel(seed, p, token)) from the filtered distribution. Verify therefore fills
 * tree->argmax[j] with the token chosen after node j (position target_len + depth[j] + 1) in
 * both modes, and the acceptance walk is the greedy walk (accept_walk_uniforms(tree, NULL, ...)):
 * a drafted child is kept when it equals the chosen token. The generated tokens are then exactly
 * those of autoregressive decoding with the same seed, whatever the tree, the batch and the TP
 * degree (lossless by construction; with a deterministic draft its acceptance probability,
 * the sum of p over a node's children, equals EAGLE's rejection sampling's).
 *
 * defines: struct frs_seq, struct frs_batch_ops, frs_batch_prefill_rows
 */
#ifndef FRSPEC_BATCH_H
#define FRSPEC_BATCH_H

#include <stdint.h>

#include "backend.h"
#include "status.h"

struct frs_accept; /* accept.h */

#define FRS_KV_BLOCK_DEFAULT 16 /* positions per KV block */

/* the most rows (prompt tokens of all its sequences) one prefill op takes */
static inline int frs_batch_prefill_rows(const struct frs_limits *lim)
{
    int r = lim->prefill_chunk > lim->max_step_rows ? lim->prefill_chunk : lim->max_step_rows;
    return lim->max_prefill_rows > r ? lim->max_prefill_rows : r;
}

/* One sequence as the engine passes it to an op. */
struct frs_seq {
    int slot;              /* 0 <= slot < lim->max_seqs */
    int target_len;        /* positions in the target cache, 0.. (the root is never in it yet) */
    int draft_len;         /* positions the draft has consumed, <= target_len */
    const int32_t *blocks; /* block table: position p in block blocks[p / kv_block] */
    int n_blocks;          /* room for positions [0, n_blocks * kv_block) */
};

struct frs_batch_ops {
    /* Prompt chunks of n sequences (1 <= n <= lim->max_seqs, each sequence once) in one causal
     * target forward: sequence i appends counts[i] >= 1 tokens, tokens[i][0 .. counts[i]), at
     * positions target_len .. target_len + counts[i] - 1, seeing its own prefix only; KV and features
     * are written into its blocks. The counts sum to at most frs_batch_prefill_rows(lim). For each i
     * with choose[i] = 1 (its prompt ends with this chunk), out[i] = the token at position
     * target_len + counts[i]: greedy, or sampled under s[i] with that draw index; one read-back for
     * the op. out[i] is untouched where choose[i] = 0. The engine then adds counts[i] to target_len
     * (draft_len unchanged: the draft catches up at its next draft op). */
    enum frs_status (*prefill)(struct frs_backend *be, int n, const struct frs_seq *seqs,
                               const int32_t *const *tokens, const int *counts, const int *choose,
                               const struct frs_sampling *s, int32_t *out);

    /* For each of n sequences: run the draft over its pending positions [draft_len, target_len)
     * (next_tokens[i][j] is the token at position draft_len + j + 1; the last one,
     * j = target_len - draft_len - 1, is the root), then grow an EAGLE-2 tree of shape p[i] rooted
     * at the root (runtime/tree.h); the tree stays in the slot. Every sequence here has
     * p[i].size >= 2 and target_len > draft_len; the engine then sets draft_len = target_len.
     * The draft's tree rows use positions up to target_len + tree_draft_rows(p[i]) - 1
     * (runtime/tree.h), which the sequence's blocks must cover. */
    enum frs_status (*draft)(struct frs_backend *be, int n, const struct frs_seq *seqs,
                             const int32_t *const *next_tokens, const struct frs_tree_params *p);

    /* One target forward over every sequence's tree: sequence i's node j at cache position
     * target_len + j and RoPE position target_len + depth[j], seeing its own prefix and its
     * ancestors only. A sequence with drafted[i] = 0 has the one-node tree {roots[i]} (an
     * autoregressive step); with drafted[i] = 1 its tree is the one its last draft op grew
     * (roots[i] is then that tree's root). Fills trees[i] (structure and argmax[] as above:
     * the chosen token after each node) and acc[i] (the greedy walk over it). s[i] is sequence
     * i's sampling (an array of n: each request has its own temperature, top-k/p and seed). */
    enum frs_status (*verify)(struct frs_backend *be, int n, const struct frs_seq *seqs, const int32_t *roots,
                              const int *drafted, const struct frs_sampling *s, struct frs_tree *trees,
                              struct frs_accept *acc);

    /* For each sequence keep acc[i]'s path: node path[j]'s KV row moves from position
     * target_len + path[j] to target_len + j and its feature becomes position target_len + j's.
     * The engine then adds acc[i].n_path to target_len. */
    enum frs_status (*commit)(struct frs_backend *be, int n, const struct frs_seq *seqs,
                              const struct frs_accept *acc);

    /* 1: a step's first run at a new shape costs more than its later runs (CUDA graph capture,
     * GEMM algorithm timing), so --spec-policy auto's guard does not time it; 0 (the CPU): every
     * step counts */
    int warms_up;

    /* optional (NULL: none): one line of the backend's own counters for the engine's trace (its
     * one-off costs: GEMM algorithm choices, graph captures), written at the end of a run */
    void (*describe)(struct frs_backend *be, char *buf, size_t n);
};

#endif
