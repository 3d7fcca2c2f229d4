/* cpu_backend.h - the CPU reference backend: internal interface shared by cpu_backend.c (target
 * forward, prefill/decode/next_token) and cpu_spec.c (draft head, tree, verify, commit).
 * Everything fp32, tensor-parallel through the collectives of runtime/collectives.h (MPI: parallel/comm.c).
 *
 * defines: struct cpu_backend, frs_backend_cpu_ops, cpu_target_forward, cpu_kv_move,
 *          cpu_spec_create, cpu_spec_free, cpu_draft_tree, cpu_verify, cpu_commit
 */
#ifndef FRSPEC_CPU_BACKEND_H
#define FRSPEC_CPU_BACKEND_H

#include <stdint.h>

#include "backend.h"
#include "draft.h"
#include "model.h"

struct frs_comm;
struct cpu_spec; /* owned by cpu_spec.c */

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
};

extern const struct frs_backend_ops frs_backend_cpu_ops;

/* Target forward of n tokens into cache slots [slot0, slot0+n) at RoPE positions pos (NULL =
 * slot0 + i), mask among the n (NULL = causal, see cpu_ops.h). Fills b->hidden and b->logits
 * (n rows), b->last_n = n. Does not change target_len. */
enum frs_status cpu_target_forward(struct cpu_backend *b, const int32_t *tokens, const int32_t *pos,
                                   int n, const uint64_t *mask, int slot0);
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

#endif
