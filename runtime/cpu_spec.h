/* cpu_spec.h - the CPU backend's EAGLE-2 draft head pieces exposed beyond cpu_spec.c (for the
 * tests that compare the draft forward with a PyTorch reference). The backend ops themselves
 * (cpu_spec_create, cpu_draft_tree, cpu_verify, cpu_commit) are declared in cpu_backend.h.
 *
 * Draft KV cache: one layer, slots [0, max_ctx) hold the draft's rows of positions 0.. (row i =
 * the pair (feature f_i, token t_{i+1}) at RoPE position i); the slots after target_len hold the
 * tree frontier rows of the current draft_tree() (tree.h's tree slots, offset by target_len).
 *
 * defines: CPU_SPEC_MAX_TOPK, CPU_SPEC_MAX_DEPTH, struct cpu_draft_seq, cpu_spec_draft_forward,
 *          cpu_spec_draft_forward_seqs, cpu_spec_draft_logp, cpu_spec_tree
 */
#ifndef FRSPEC_CPU_SPEC_H
#define FRSPEC_CPU_SPEC_H

#include <stdint.h>

#include "backend.h"
#include "cpu_backend.h"
#include "status.h"

#define CPU_SPEC_MAX_TOPK 32  /* largest tree topk the CPU backend accepts */
#define CPU_SPEC_MAX_DEPTH 16 /* largest tree depth */

/* The draft cell over n rows (n <= max(prefill_chunk, CPU_SPEC_MAX_TOPK)):
 * x = fc(cat(embed(tokens[i]), feat[i])) (+ fc.bias); h = x + attn(x) (no input norm);
 * hidden[i] = h + mlp(post_attention_layernorm(h)). Keys/values go to draft slots
 * [slot0, slot0 + n) at RoPE positions pos[i]. Row i sees draft slots [0, prefix) and, with a
 * mask, slot prefix + j when bit j of its row (FRS_MASK_WORDS(mask_cols) words) is set; without
 * a mask, slots [0, slot0 + i] (causal). */
enum frs_status cpu_spec_draft_forward(struct cpu_backend *b, const int32_t *tokens, const float *feat,
                                       const int32_t *pos, int n, int slot0, int prefix,
                                       const uint64_t *mask, int mask_cols, float *hidden);
/* One sequence's rows in a batched draft forward (the rows of the call in group order): as
 * cpu_spec_draft_forward's n, slot0, prefix, mask, mask_cols, over the single-sequence draft
 * cache (blocks NULL) or the paged pool through the sequence's block table. */
struct cpu_draft_seq {
    int n, slot0, prefix;
    const uint64_t *mask;
    int mask_cols;
    const int32_t *blocks;
};
/* The draft cell over the rows of n_seqs sequences at once (matmuls over every row; each row's
 * result does not depend on the others). tokens, feat, pos, hidden: all rows in group order. */
enum frs_status cpu_spec_draft_forward_seqs(struct cpu_backend *b, const int32_t *tokens, const float *feat,
                                            const int32_t *pos, int n_seqs, const struct cpu_draft_seq *seqs,
                                            float *hidden);
/* logp[i, r] = log-softmax over the K reduced LM-head rows of hidden[i] @ lm_head^T (no final
 * norm); row r is token d->ids[r] (r itself for the full vocabulary). n <= the forward's limit. */
void cpu_spec_draft_logp(struct cpu_backend *b, const float *hidden, int n, float *logp);
/* The tree of the last cpu_draft_tree() (token, parent, depth, n), NULL before one. */
const struct frs_tree *cpu_spec_tree(const struct cpu_backend *b);

#endif
