/* cpu_batch.c - the CPU backend's batched ops (runtime/batch.h): the paged KV pool and per-slot
 * state, prefill of one sequence's chunk into its blocks, next_token from a slot, one target
 * forward verifying every sequence's tree (each row seeing its own prefix through its block
 * table and its tree ancestors), position-keyed token choice, commit. The draft op is
 * cpu_spec.c's (cpu_batch_draft). The forward code is cpu_backend.c's (cpu_target_forward_seqs),
 * shared with the single-sequence ops, so a sequence's logits are bit-identical whatever the
 * other rows of the batch are.
 *
 * Memory: the pool (target K/V of every layer, target features) and the slot state are one
 * allocation planned at create() (memplan.h); the draft's K/V half of the pool is cpu_spec.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accept.h"
#include "batch.h"
#include "cpu_backend.h"
#include "cpu_ops.h"
#include "memplan.h"
#include "sampling.h"

#define CPU_VMASK_WORDS (FRS_MAX_TREE * FRS_MASK_WORDS(FRS_MAX_TREE))

/* Bytes one pool position takes: target K+V of every layer, the feature, the draft's K+V. */
static size_t cpu_pool_bytes_per_pos(const struct cpu_backend *b)
{
    const struct llama_model *m = b->m;
    size_t f = 2 * (size_t)m->cfg.num_hidden_layers * m->n_kv_heads_local * m->cfg.head_dim +
               (size_t)m->cfg.hidden_size;
    if (b->d)
        f += 2 * (size_t)b->d->cfg.num_key_value_heads * b->d->cfg.head_dim;
    return f * sizeof(float);
}

enum frs_status cpu_batch_create(struct cpu_backend *b)
{
    const struct frs_limits *lim = &b->lim;
    const struct llama_model *m = b->m;
    if (lim->max_seqs < 0 || lim->kv_block < 0 || lim->kv_blocks < 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu backend: limits max_seqs %d, kv_block %d, kv_blocks %d must be >= 0",
                       lim->max_seqs, lim->kv_block, lim->kv_blocks);
    if (lim->max_step_rows < lim->max_seqs)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu backend: limit 'max_step_rows' (%d) must be >= 'max_seqs' (%d): "
                       "one row per sequence at least", lim->max_step_rows, lim->max_seqs);
    b->kv_block = lim->kv_block > 0 ? lim->kv_block : FRS_KV_BLOCK_DEFAULT;
    const size_t per_pos = cpu_pool_bytes_per_pos(b);
    const long per_seq_blocks = (lim->max_ctx + b->kv_block - 1) / b->kv_block;
    long blocks = lim->kv_blocks;
    if (blocks == 0) {
        /* the CPU backend's weights are already in memory: "left" is what the OS has free now */
        const double share = lim->kv_share > 0 ? lim->kv_share : 0.5;
        const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        const double avail = pages > 0 && page > 0 ? (double)pages * page : 1e9;
        blocks = (long)(share * avail / ((double)per_pos * b->kv_block));
        if (blocks > per_seq_blocks * lim->max_seqs)
            blocks = per_seq_blocks * lim->max_seqs; /* more could never be used */
        if (blocks < 1)
            return FRS_ERR(FRS_ERR_OOM, "cpu backend: kv_share %.2f of %.0f MiB free holds no KV block of %zu bytes",
                           share, avail / (1 << 20), per_pos * b->kv_block);
    }
    b->kv_blocks = (int)blocks;
    b->pool_rows = (size_t)blocks * b->kv_block;

    const size_t L = (size_t)m->cfg.num_hidden_layers, kvw = (size_t)m->n_kv_heads_local * m->cfg.head_dim;
    const size_t C = (size_t)m->cfg.hidden_size, S = (size_t)lim->max_seqs;
    const size_t R = (size_t)b->max_rows, P = b->pool_rows;
    /* the memory plan: one allocation, carved in this order */
    struct memplan_entry tab[] = {
        MEMPLAN_ENTRY(b->pool_k, L * P * kvw * sizeof(float)),               /* (L, pool_rows, KVl*D) */
        MEMPLAN_ENTRY(b->pool_v, L * P * kvw * sizeof(float)),               /* (L, pool_rows, KVl*D) */
        MEMPLAN_ENTRY(b->pool_feat, P * C * sizeof(float)),                  /* (pool_rows, C) */
        MEMPLAN_ENTRY(b->slot_tree, S * sizeof(struct frs_tree)),            /* (max_seqs) */
        MEMPLAN_ENTRY(b->slot_vmask, S * CPU_VMASK_WORDS * sizeof(uint64_t)), /* (max_seqs, words) */
        MEMPLAN_ENTRY(b->slot_state, S * sizeof(int)),                       /* (max_seqs) */
        MEMPLAN_ENTRY(b->fseqs, S * sizeof(struct cpu_fwd_seq)),             /* (max_seqs) */
        MEMPLAN_ENTRY(b->btok, R * sizeof(int32_t)),                         /* (max_rows) */
        MEMPLAN_ENTRY(b->bpos, R * sizeof(int32_t)),                         /* (max_rows) */
        MEMPLAN_ENTRY(b->bdraw, R * sizeof(uint64_t)),                       /* (max_rows) */
        MEMPLAN_ENTRY(b->brows, R * sizeof(struct sampling_row)),            /* (max_rows) */
    };
    char what[96];
    snprintf(what, sizeof what, "KV pool (%d blocks of %d positions) and %d slots", b->kv_blocks, b->kv_block,
             lim->max_seqs);
    struct memplan mp;
    memplan_init(&mp, "cpu backend", what, tab, MEMPLAN_LEN(tab), MEMPLAN_LEN(tab), 64);
    FRS_TRY(memplan_alloc_host(&mp, &b->pool_mem));
    memplan_log(&mp);
    return FRS_OK;
}

void cpu_batch_free(struct cpu_backend *b)
{
    free(b->pool_mem);
    b->pool_mem = NULL;
    b->pool_k = b->pool_v = b->pool_feat = NULL;
    b->slot_tree = NULL;
    b->slot_vmask = NULL;
    b->slot_state = NULL;
    b->kv_blocks = 0;
    b->pool_rows = 0;
}

static struct cpu_backend *cpu_of(struct frs_backend *be) { return (struct cpu_backend *)be->impl; }

static enum frs_status cpu_check_seq(const struct cpu_backend *b, const struct frs_seq *sq, int end, const char *op)
{
    if (!b->pool_mem)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "%s: the backend was created without a KV pool (limit max_seqs = 0)", op);
    if (sq->slot < 0 || sq->slot >= b->lim.max_seqs)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "%s: slot %d outside [0, %d)", op, sq->slot, b->lim.max_seqs);
    if (sq->target_len < 0 || sq->draft_len < 0 || sq->draft_len > sq->target_len || !sq->blocks)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "%s: slot %d: target_len %d, draft_len %d, blocks %p", op, sq->slot,
                       sq->target_len, sq->draft_len, (const void *)sq->blocks);
    if ((long)end > (long)sq->n_blocks * b->kv_block || end > b->lim.max_ctx + FRS_MAX_TREE)
        return FRS_ERR(FRS_ERR_TOO_LONG, "%s: slot %d writes up to position %d, its %d blocks of %d hold %d", op,
                       sq->slot, end, sq->n_blocks, b->kv_block, sq->n_blocks * b->kv_block);
    for (int i = 0; i < (end + b->kv_block - 1) / b->kv_block; i++)
        if (sq->blocks[i] < 0 || sq->blocks[i] >= b->kv_blocks)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "%s: slot %d block table entry %d = %d outside the pool of %d", op,
                           sq->slot, i, (int)sq->blocks[i], b->kv_blocks);
    return FRS_OK;
}

static size_t pool_row(const struct cpu_backend *b, const int32_t *blocks, int p)
{
    return (size_t)blocks[p / b->kv_block] * b->kv_block + (size_t)(p % b->kv_block);
}

/* hidden rows [r0, r0 + n) become the features of positions [pos0, pos0 + n) */
static void store_features(struct cpu_backend *b, const int32_t *blocks, int pos0, int r0, int n)
{
    const size_t C = (size_t)b->m->cfg.hidden_size;
    for (int i = 0; i < n; i++)
        memcpy(b->pool_feat + pool_row(b, blocks, pos0 + i) * C, b->hidden + (size_t)(r0 + i) * C, C * sizeof(float));
}

/* The token chosen at position draw from n logits rows: greedy argmax, or the Gumbel-max draw
 * with draw index = the position (batch.h). */
static enum frs_status choose_tokens(struct cpu_backend *b, const float *logits, int n, const struct frs_sampling *s,
                                     const uint64_t *draw, int32_t *out)
{
    const struct sampling_shard sh = {logits, n, b->m->vocab_local, b->m->vocab_offset};
    if (!s || s->temperature <= 0.0f)
        return sampling_argmax(b->comm, &sh, out);
    FRS_TRY(sampling_prepare(b->comm, &sh, s, b->brows));
    return sampling_draw(b->comm, &sh, s, b->brows, draw, NULL, NULL, out);
}

static enum frs_status cpu_batch_prefill(struct frs_backend *be, int n, const struct frs_seq *seqs,
                                        const int32_t *const *tokens, const int *counts, const int *choose,
                                        const struct frs_sampling *s, int32_t *out)
{
    struct cpu_backend *b = cpu_of(be);
    if (n < 1 || n > b->lim.max_seqs)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "batch prefill: %d sequences outside [1, max_seqs = %d]", n,
                       b->lim.max_seqs);
    const int cap = frs_batch_prefill_rows(&b->lim);
    int rows = 0;
    for (int i = 0; i < n; i++) {
        const struct frs_seq *sq = &seqs[i];
        if (counts[i] < 1 || counts[i] > cap - rows)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "batch prefill: sequence %d (slot %d): %d tokens after %d rows, "
                           "the op takes 1..%d rows", i, sq->slot, counts[i], rows, cap);
        FRS_TRY(cpu_check_seq(b, sq, sq->target_len + counts[i], "batch prefill"));
        for (int j = 0; j < i; j++)
            if (seqs[j].slot == sq->slot)
                return FRS_ERR(FRS_ERR_INVALID_ARG, "batch prefill: slot %d twice in one op", sq->slot);
        b->fseqs[i] = (struct cpu_fwd_seq){.n = counts[i], .prefix = sq->target_len, .mask = NULL,
                                           .blocks = sq->blocks};
        for (int j = 0; j < counts[i]; j++) {
            b->btok[rows + j] = tokens[i][j];
            b->bpos[rows + j] = sq->target_len + j;
        }
        rows += counts[i];
    }
    /* no LM head in the forward: only the chosen sequences' last rows need it */
    FRS_TRY(cpu_target_forward_seqs(b, b->btok, b->bpos, n, b->fseqs, rows));
    const size_t C = (size_t)b->m->cfg.hidden_size, Vl = (size_t)b->m->vocab_local;
    int nl = 0;
    for (int i = 0, r = 0; i < n; r += counts[i++]) {
        store_features(b, seqs[i].blocks, seqs[i].target_len, r, counts[i]);
        b->slot_state[seqs[i].slot] = 0;
        if (choose[i]) /* the last row's hidden, gathered (xn is free after the forward) */
            memcpy(b->xn + (size_t)nl++ * C, b->hidden + (size_t)(r + counts[i] - 1) * C, C * sizeof(float));
    }
    if (nl == 0)
        return FRS_OK;
    cpu_lm_head(b, b->xn, nl, b->logits); /* row-independent: as in the full forward */
    for (int i = 0, k = 0; i < n; i++) {
        if (!choose[i])
            continue;
        const uint64_t draw = (uint64_t)(seqs[i].target_len + counts[i]);
        FRS_TRY(choose_tokens(b, b->logits + (size_t)k++ * Vl, 1, &s[i], &draw, &out[i]));
    }
    b->last_n = nl;
    return FRS_OK;
}

static enum frs_status cpu_batch_verify(struct frs_backend *be, int n, const struct frs_seq *seqs, const int32_t *roots,
                                        const int *drafted, const struct frs_sampling *s, struct frs_tree *trees,
                                        struct frs_accept *acc)
{
    struct cpu_backend *b = cpu_of(be);
    if (n < 1 || n > b->lim.max_seqs)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "batch verify: %d sequences outside [1, max_seqs = %d]", n, b->lim.max_seqs);
    int rows = 0;
    for (int i = 0; i < n; i++) {
        const struct frs_seq *sq = &seqs[i];
        FRS_TRY(cpu_check_seq(b, sq, 0, "batch verify"));
        struct frs_tree *t = &b->slot_tree[sq->slot];
        if (drafted[i]) {
            if (b->slot_state[sq->slot] != 1 || t->token[0] != roots[i])
                return FRS_ERR(FRS_ERR_INVALID_ARG, "batch verify: slot %d has no drafted tree rooted at %d", sq->slot,
                               (int)roots[i]);
        } else {
            t->n = 1;
            t->token[0] = roots[i];
            t->parent[0] = -1;
            t->depth[0] = 0;
        }
        FRS_TRY(cpu_check_seq(b, sq, sq->target_len + t->n, "batch verify"));
        if (rows + t->n > b->max_rows)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "batch verify: more than max_step_rows = %d rows", b->max_rows);
        b->fseqs[i] = (struct cpu_fwd_seq){.n = t->n, .prefix = sq->target_len,
                                           .mask = drafted[i] ? b->slot_vmask + (size_t)sq->slot * CPU_VMASK_WORDS : NULL,
                                           .blocks = sq->blocks};
        for (int j = 0; j < t->n; j++) {
            b->btok[rows + j] = t->token[j];
            b->bpos[rows + j] = sq->target_len + t->depth[j];
        }
        rows += t->n;
    }
    FRS_TRY(cpu_target_forward_seqs(b, b->btok, b->bpos, n, b->fseqs, 0));
    const size_t Vl = (size_t)b->m->vocab_local;
    for (int i = 0, r = 0; i < n; r += b->fseqs[i++].n) {
        const struct frs_seq *sq = &seqs[i];
        struct frs_tree *t = &b->slot_tree[sq->slot];
        /* node j sits at position target_len + j: its feature too, until commit compacts */
        store_features(b, sq->blocks, sq->target_len, r, t->n);
        for (int j = 0; j < t->n; j++)
            b->bdraw[j] = (uint64_t)(sq->target_len + t->depth[j] + 1);
        trees[i].n = t->n;
        memcpy(trees[i].token, t->token, (size_t)t->n * sizeof(int32_t));
        memcpy(trees[i].parent, t->parent, (size_t)t->n * sizeof(int32_t));
        memcpy(trees[i].depth, t->depth, (size_t)t->n * sizeof(int32_t));
        FRS_TRY(choose_tokens(b, b->logits + (size_t)r * Vl, t->n, &s[i], b->bdraw, trees[i].argmax));
        for (int j = 0; j < t->n; j++) { /* the sampling fields are not used by the position-keyed walk */
            trees[i].child_prob[j] = 0.0f;
            trees[i].residual[j] = trees[i].argmax[j];
        }
        FRS_TRY(accept_walk_uniforms(&trees[i], NULL, &acc[i]));
        b->slot_state[sq->slot] = 2;
    }
    return FRS_OK;
}

static enum frs_status cpu_batch_commit(struct frs_backend *be, int n, const struct frs_seq *seqs,
                                        const struct frs_accept *acc)
{
    struct cpu_backend *b = cpu_of(be);
    const struct llama_model *m = b->m;
    const size_t kvw = (size_t)m->n_kv_heads_local * m->cfg.head_dim, C = (size_t)m->cfg.hidden_size;
    for (int i = 0; i < n; i++) {
        const struct frs_seq *sq = &seqs[i];
        FRS_TRY(cpu_check_seq(b, sq, 0, "batch commit"));
        const struct frs_tree *t = &b->slot_tree[sq->slot];
        const struct frs_accept *a = &acc[i];
        if (b->slot_state[sq->slot] != 2)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "batch commit: slot %d has no verified tree", sq->slot);
        if (a->n_path < 1 || a->n_path > t->n || a->path[0] != 0)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "batch commit: slot %d: path of %d nodes must start at the root and "
                           "fit the tree of %d", sq->slot, a->n_path, t->n);
        for (int j = 1; j < a->n_path; j++)
            if (a->path[j] <= 0 || a->path[j] >= t->n || t->parent[a->path[j]] != a->path[j - 1])
                return FRS_ERR(FRS_ERR_INVALID_ARG, "batch commit: slot %d: path[%d] = %d is not a child of node %d",
                               sq->slot, j, (int)a->path[j], (int)a->path[j - 1]);
        const int T = sq->target_len;
        /* ascending j is safe: path[j] >= j, so a later source is never overwritten */
        for (int j = 0; j < a->n_path; j++) {
            if (a->path[j] == j)
                continue;
            const size_t from = pool_row(b, sq->blocks, T + a->path[j]), to = pool_row(b, sq->blocks, T + j);
            for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
                float *kc = b->pool_k + (size_t)l * b->pool_rows * kvw, *vc = b->pool_v + (size_t)l * b->pool_rows * kvw;
                memcpy(kc + to * kvw, kc + from * kvw, kvw * sizeof(float));
                memcpy(vc + to * kvw, vc + from * kvw, kvw * sizeof(float));
            }
            memcpy(b->pool_feat + to * C, b->pool_feat + from * C, C * sizeof(float));
        }
        b->slot_state[sq->slot] = 0;
    }
    return FRS_OK;
}

const struct frs_batch_ops cpu_batch_ops = {
    .prefill = cpu_batch_prefill,
    .draft = cpu_batch_draft,
    .verify = cpu_batch_verify,
    .commit = cpu_batch_commit,
};
