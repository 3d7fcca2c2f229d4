/* cpu_backend.h - the CPU reference backend: internal interface shared by cpu_backend.c (target
 * forward, prefill/decode/next_token) and cpu_spec.c (draft head, tree, verify, commit).
 * Everything fp32, tensor-parallel through the collectives of runtime/collectives.h (MPI: parallel/comm.c).
 *
 * The batched ops (runtime/batch.h) are cpu_batch.c's (pool, prefill, next_token, verify,
 * commit) and cpu_spec.c's (cpu_batch_draft), over the same forward code: cpu_target_forward_seqs
 * and cpu_spec_draft_forward_seqs run the rows of many sequences at once, each sequence's cache
 * being the single-sequence cache or its blocks of the paged pool.
 *
 * defines: struct cpu_backend, struct cpu_fwd_seq, frs_backend_cpu_ops, cpu_target_forward,
 *          cpu_target_forward_seqs, cpu_lm_head, cpu_kv_move, cpu_spec_create, cpu_spec_free, cpu_draft_tree,
 *          cpu_verify, cpu_commit, cpu_batch_create, cpu_batch_free, cpu_batch_draft,
 *          cpu_batch_ops
 */
#ifndef FRSPEC_CPU_BACKEND_H
#define FRSPEC_CPU_BACKEND_H

#include <stdint.h>

#include "backend.h"
#include "draft.h"
#include "model.h"

struct frs_comm;
struct cpu_spec; /* owned by cpu_spec.c */
struct sampling_row; /* sampling.h */
struct frs_seq;      /* batch.h */

/* buffers of struct cpu_backend in cpu_create's memory plan (static-asserted there) */
#define CPU_BACKEND_BUFFERS 17

struct cpu_backend {
    const struct llama_model *m;
    const struct eagle_draft *d; /* NULL without a draft */
    struct frs_comm *comm;
    struct frs_limits lim;
    int target_len;
    float *inv_freq;       /* (D/2) target rope */
    float *kcache, *vcache; /* (L, max_ctx, KVl*D) post-rope keys, values */
    int max_rows;          /* largest n of one target forward: max(prefill_chunk, max_tree) */
    /* outputs of the last cpu_target_forward (n rows): */
    int last_n;
    float *hidden;         /* (max_rows, C) after the final norm (EAGLE's feature f) */
    float *logits;         /* (max_rows, vocab_local) this rank's LM-head rows */
    /* features of target positions the draft has not consumed yet: (max_ctx, C), row p = position p */
    float *feat;
    int draft_len;         /* positions the draft has consumed */
    /* scratch owned by cpu_backend.c */
    float *x, *xn, *q, *k, *v, *att, *gate, *up, *tmp;
    struct cpu_spec *spec; /* cpu_spec.c's state, NULL without a draft */
    /* owned by cpu_backend.c (added): */
    void *mem;             /* the one allocation every buffer above is carved from (memplan.h) */
    int32_t *pos;          /* (max_rows) default positions slot0 + i */
    float *xq;             /* (max_rows, max(C, Hl*D, Fl)) FP8 fake-quantized input (fp8_act_quant) */
    struct frs_backend_options opts;
    /* the paged pool (runtime/batch.h), cpu_batch.c's; all NULL / 0 when lim.max_seqs == 0 */
    int kv_block;          /* positions per block */
    int kv_blocks;         /* blocks in the pool */
    size_t pool_rows;      /* kv_blocks * kv_block */
    float *pool_k, *pool_v; /* (L, pool_rows, KVl*D) target keys (post-rope), values */
    float *pool_feat;      /* (pool_rows, C) target features (post-final-norm hidden) */
    struct frs_tree *slot_tree; /* (max_seqs) the slot's drafted, then verified tree */
    uint64_t *slot_vmask;  /* (max_seqs, FRS_MAX_TREE * FRS_MASK_WORDS(FRS_MAX_TREE)) verify masks */
    int *slot_state;       /* (max_seqs) 0: nothing, 1: drafted, 2: verified */
    void *pool_mem;        /* the one allocation of the pool and the slot state */
    struct cpu_fwd_seq *fseqs; /* (max_seqs) */
    int32_t *btok, *bpos;  /* (max_rows) batched verify rows */
    uint64_t *bdraw;       /* (max_rows) */
    struct sampling_row *brows; /* (max_rows) */
};

/* One sequence's rows in a batched target forward: the call's next n rows sit at cache positions
 * [prefix, prefix + n), see positions [0, prefix) and each other through mask (cpu_ops.h's
 * convention; NULL = causal). blocks NULL: the single-sequence cache (b->kcache, position p at
 * row p); else the paged pool, position p at row blocks[p / kv_block] * kv_block + p % kv_block. */
struct cpu_fwd_seq {
    int n, prefix;
    const uint64_t *mask;
    const int32_t *blocks;
};

extern const struct frs_backend_ops frs_backend_cpu_ops;

/* Target forward of n tokens into cache slots [slot0, slot0+n) at RoPE positions pos (NULL =
 * slot0 + i), mask among the n (NULL = causal, see cpu_ops.h). Fills b->hidden and b->logits
 * (n rows), b->last_n = n. Does not change target_len. */
enum frs_status cpu_target_forward(struct cpu_backend *b, const int32_t *tokens, const int32_t *pos,
                                   int n, const uint64_t *mask, int slot0);
/* The same over the rows of n_seqs sequences (pos: every row's RoPE position; rows in sequence
 * order). Matmuls run over all rows together; each row's result is bit-identical whatever the
 * other rows are. The LM head runs on rows [lm_from, n) only (logits rows below lm_from are left
 * as they were; 0 = every row, n = none). */
enum frs_status cpu_target_forward_seqs(struct cpu_backend *b, const int32_t *tokens, const int32_t *pos,
                                        int n_seqs, const struct cpu_fwd_seq *seqs, int lm_from);
/* logits (n, vocab_local) = the LM head of n post-final-norm hidden rows (row-independent) */
void cpu_lm_head(struct cpu_backend *b, const float *hidden, int n, float *logits);
/* Copy KV row from_slot -> to_slot in every layer. */
void cpu_kv_move(struct cpu_backend *b, int from_slot, int to_slot);

/* cpu_spec.c: allocated by create() when a draft is given. */
enum frs_status cpu_spec_create(struct cpu_backend *b);
void cpu_spec_free(struct cpu_backend *b);
void cpu_spec_reset(struct cpu_backend *b);
enum frs_status cpu_draft_tree(struct frs_backend *be, const int32_t *next_tokens, int n_pending,
                               const struct frs_tree_params *p);
enum frs_status cpu_verify(struct frs_backend *be, const struct frs_sampling *s, uint64_t iter,
                           struct frs_tree *tree);
enum frs_status cpu_commit(struct frs_backend *be, const int32_t *path, int n_path);

/* cpu_batch.c: the pool and slot state, allocated by create() when lim.max_seqs > 0 (before
 * cpu_spec_create, which adds the draft's half of the pool). */
enum frs_status cpu_batch_create(struct cpu_backend *b);
void cpu_batch_free(struct cpu_backend *b);
extern const struct frs_batch_ops cpu_batch_ops;
/* cpu_spec.c: frs_batch_ops.draft */
enum frs_status cpu_batch_draft(struct frs_backend *be, int n, const struct frs_seq *seqs,
                                const int32_t *const *next_tokens, const struct frs_tree_params *p);

#endif
