/* cpu_spec.c - the CPU backend's speculative half: the EAGLE-2 draft head forward and its own
 * KV cache, the dynamic tree (through tree.c), tree verification and KV compaction. Its buffers
 * are one allocation planned at cpu_spec_create (memplan.h).
 * Declared in cpu_backend.h (ops) and cpu_spec.h (pieces exposed for tests).
 *
 * Conventions (EAGLE-2, SafeAILab/EAGLE cnets.py topK_genrate):
 *  - the draft's row i pairs the target feature f_i with the next token t_{i+1} and sits at
 *    draft slot i, RoPE position i; cpu_draft_tree() first runs the rows the draft lacks,
 *    [draft_len, target_len), the last of them pairing f_{target_len-1} with the root;
 *  - the depth-1 candidates are the top-k of the root row; the frontier of depth d (d >= 1) is
 *    forwarded with input feature = its parent's draft output (the root row's for d = 1) and
 *    input token = its own token, all of one depth at RoPE position target_len + d - 1, into
 *    draft slots target_len + tree slot, seeing the whole draft prefix and its tree ancestors;
 *  - verify: the tree's node i at target cache slot target_len + i, RoPE position
 *    target_len + depth[i], seeing the prefix and its ancestors; argmax[i] = the token chosen
 *    after node i, keyed by its position (greedy argmax, or at T > 0 the Gumbel-max draw with
 *    draw index target_len + depth[i] + 1: batch.h's rule, shared with the batched ops);
 *  - commit: path node j's KV row moves from slot target_len + path[j] to target_len + j and its
 *    verify hidden state becomes feature row target_len + j; the draft recomputes those rows
 *    at the next cpu_draft_tree().
 */
#include "cpu_spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accept.h"
#include "batch.h"
#include "cpu_ops.h"
#include "memplan.h"
#include "sampling.h"
#include "tree.h"

/* buffers of struct cpu_spec in cpu_spec_create's memory plan (static-asserted there) */
#define CPU_SPEC_BUFFERS 23

struct cpu_spec {
    int C, H, KV, D, F, K;
    void *mem;              /* the one allocation the buffers below are carved from (memplan.h) */
    int max_rows;  /* rows of one draft forward */
    int max_slots; /* draft KV slots: max_ctx + tree slots */
    float *kcache, *vcache; /* (max_slots, KV*D) post-rope keys, values */
    float *inv_freq;        /* (D/2) draft rope */
    float *fc_bias;         /* (C) or NULL */
    /* forward scratch, max_rows rows each */
    float *in2;            /* (2C) cat(embed, feature) */
    float *x, *xn, *tmp;   /* (C) */
    float *q, *att;        /* (H*D) */
    float *k, *v;          /* (KV*D) */
    float *gate, *up;      /* (F) */
    float *score;          /* (max_slots) attention scores of one row */
    float *hid;            /* (max_rows, C) forward output */
    float *logp;           /* (max_rows, K) */
    float *front_feat;     /* (max_topk, C) input features of the frontier */
    float *vals;           /* (max_rows * max_topk) */
    int32_t *idx;          /* (max_rows * max_topk) */
    int32_t *toks;         /* (max_rows) */
    int32_t *pos;          /* (max_rows) */
    uint64_t *fmask;       /* frontier mask */
    /* the tree of the last draft_tree */
    struct tree_build tb;
    struct frs_tree tree;
    int have_tree;  /* 1 after draft_tree, 2 after verify */
    uint64_t vmask[FRS_MAX_TREE * FRS_MASK_WORDS(FRS_MAX_TREE)];
    /* verify scratch */
    int32_t vpos[FRS_MAX_TREE];
    struct sampling_row rows[FRS_MAX_TREE];
    int32_t row_of[FRS_MAX_TREE], qtok[FRS_MAX_TREE];
    float qprob[FRS_MAX_TREE];
    uint64_t draws[FRS_MAX_TREE];
    int32_t excl[FRS_MAX_TREE];
    int excl_off[FRS_MAX_TREE + 1];
    /* batched ops (cpu_batch_draft), when the backend has a pool (b->pool_rows > 0): */
    float *pool_k, *pool_v;     /* (pool_rows, KV*D) the draft's half of the paged pool */
    struct tree_build *slot_tb; /* (max_seqs) each slot's tree under construction */
    float *slot_front;          /* (max_seqs, max_topk, C) frontier input features */
    uint64_t *slot_fmask;       /* (max_seqs, fmask_words) frontier masks */
    size_t fmask_words;
    float *featbuf;             /* (max_rows, C) gathered input features */
    float *root_hid;            /* (max_seqs, C) each sequence's root-row output */
    struct cpu_draft_seq *dseqs; /* (max_seqs) groups of one batched forward */
    int *dseq_of;               /* (max_seqs) the sequence of each group */
    int *root_row;              /* (max_seqs) the row of each group's root (-1: none in it) */
};

static struct cpu_backend *cpu_of(struct frs_backend *be)
{
    return (struct cpu_backend *)be->impl;
}

/* The draft's half of the paged pool and the per-slot tree state (batched ops). */
static enum frs_status cpu_spec_batch_create(struct cpu_backend *b, size_t fmask_words)
{
    struct cpu_spec *sp = b->spec;
    const size_t S = (size_t)b->lim.max_seqs, C = (size_t)sp->C, kvw = (size_t)sp->KV * sp->D;
    sp->fmask_words = fmask_words;
    sp->pool_k = malloc(b->pool_rows * kvw * sizeof(float));
    sp->pool_v = malloc(b->pool_rows * kvw * sizeof(float));
    sp->slot_tb = calloc(S, sizeof *sp->slot_tb);
    sp->slot_front = malloc(S * CPU_SPEC_MAX_TOPK * C * sizeof(float));
    sp->slot_fmask = malloc(S * fmask_words * sizeof(uint64_t));
    sp->featbuf = malloc((size_t)sp->max_rows * C * sizeof(float));
    sp->root_hid = malloc(S * C * sizeof(float));
    sp->dseqs = malloc(S * sizeof *sp->dseqs);
    sp->dseq_of = malloc(S * sizeof(int));
    sp->root_row = malloc(S * sizeof(int));
    if (!sp->pool_k || !sp->pool_v || !sp->slot_tb || !sp->slot_front || !sp->slot_fmask || !sp->featbuf ||
        !sp->root_hid || !sp->dseqs || !sp->dseq_of || !sp->root_row)
        return FRS_ERR(FRS_ERR_OOM, "cpu_spec_create: cannot allocate the draft's pool (%zu positions) and %zu slots",
                       b->pool_rows, S);
    for (size_t i = 0; i < S; i++)
        FRS_TRY(tree_build_init(&sp->slot_tb[i], CPU_SPEC_MAX_TOPK, CPU_SPEC_MAX_DEPTH));
    return FRS_OK;
}

enum frs_status cpu_spec_create(struct cpu_backend *b)
{
    const struct eagle_draft *d = b->d;
    if (!d)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu_spec_create: no draft head");
    const struct llama_config *c = &d->cfg;
    if (d->k < 1 || !d->lm_head.data)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu_spec_create: draft %s has no LM head rows (k = %d)",
                       d->dir ? d->dir : "?", d->k);
    if (c->head_dim % 2 || c->num_attention_heads % c->num_key_value_heads)
        return FRS_ERR(FRS_ERR_SHAPE, "cpu_spec_create: draft %s: head_dim %d / heads %d / kv heads %d",
                       d->dir ? d->dir : "?", c->head_dim, c->num_attention_heads, c->num_key_value_heads);
    struct cpu_spec *sp = calloc(1, sizeof *sp);
    if (!sp)
        return FRS_ERR(FRS_ERR_OOM, "cpu_spec_create: out of memory");
    b->spec = sp;
    sp->C = c->hidden_size;
    sp->H = c->num_attention_heads;
    sp->KV = c->num_key_value_heads;
    sp->D = c->head_dim;
    sp->F = c->intermediate_size;
    sp->K = d->k;
    int chunk = b->lim.prefill_chunk > 0 ? b->lim.prefill_chunk : 64;
    sp->max_rows = chunk > CPU_SPEC_MAX_TOPK ? chunk : CPU_SPEC_MAX_TOPK;
    if (b->lim.max_seqs > sp->max_rows)
        sp->max_rows = b->lim.max_seqs; /* the root rows of a batched draft */
    _Static_assert(CPU_SPEC_MAX_TOPK >= FRS_MAX_TREE_TOPK && CPU_SPEC_MAX_DEPTH >= FRS_MAX_TREE_DEPTH,
                   "the CPU backend accepts every tree the options allow");
    sp->max_slots = b->lim.max_ctx + CPU_SPEC_MAX_TOPK * (CPU_SPEC_MAX_DEPTH - 1);
    const size_t R = (size_t)sp->max_rows, C = (size_t)sp->C, kvw = (size_t)sp->KV * sp->D,
                 qw = (size_t)sp->H * sp->D;
    const size_t fmask_words = (size_t)CPU_SPEC_MAX_TOPK *
                               FRS_MASK_WORDS(CPU_SPEC_MAX_TOPK * (CPU_SPEC_MAX_DEPTH - 1));
    const size_t f = sizeof(float), slots = (size_t)sp->max_slots, TK = CPU_SPEC_MAX_TOPK;
    struct memplan_entry tab[] = {
        MEMPLAN_ENTRY(sp->kcache, slots * kvw * f),            /* (max_slots, KV*D) */
        MEMPLAN_ENTRY(sp->vcache, slots * kvw * f),            /* (max_slots, KV*D) */
        MEMPLAN_ENTRY(sp->inv_freq, (size_t)(sp->D / 2) * f),  /* (D/2) */
        MEMPLAN_ENTRY(sp->in2, R * 2 * C * f),                 /* (R, 2C) */
        MEMPLAN_ENTRY(sp->x, R * C * f),                       /* (R, C) */
        MEMPLAN_ENTRY(sp->xn, R * C * f),                      /* (R, C) */
        MEMPLAN_ENTRY(sp->tmp, R * C * f),                     /* (R, C) */
        MEMPLAN_ENTRY(sp->q, R * qw * f),                      /* (R, H*D) */
        MEMPLAN_ENTRY(sp->att, R * qw * f),                    /* (R, H*D) */
        MEMPLAN_ENTRY(sp->k, R * kvw * f),                     /* (R, KV*D) */
        MEMPLAN_ENTRY(sp->v, R * kvw * f),                     /* (R, KV*D) */
        MEMPLAN_ENTRY(sp->gate, R * (size_t)sp->F * f),        /* (R, F) */
        MEMPLAN_ENTRY(sp->up, R * (size_t)sp->F * f),          /* (R, F) */
        MEMPLAN_ENTRY(sp->score, slots * f),                   /* (max_slots) */
        MEMPLAN_ENTRY(sp->hid, R * C * f),                     /* (R, C) */
        MEMPLAN_ENTRY(sp->logp, R * (size_t)sp->K * f),        /* (R, K) */
        MEMPLAN_ENTRY(sp->front_feat, TK * C * f),             /* (max_topk, C) */
        MEMPLAN_ENTRY(sp->vals, R * TK * f),                   /* (R * max_topk) */
        MEMPLAN_ENTRY(sp->idx, R * TK * sizeof(int32_t)),      /* (R * max_topk) */
        MEMPLAN_ENTRY(sp->toks, R * sizeof(int32_t)),          /* (R) */
        MEMPLAN_ENTRY(sp->pos, R * sizeof(int32_t)),           /* (R) */
        MEMPLAN_ENTRY(sp->fmask, fmask_words * sizeof(uint64_t)),
        MEMPLAN_ENTRY(sp->fc_bias, d->fc_bias.data ? C * f : 0), /* (C) or NULL */
    };
    _Static_assert(MEMPLAN_LEN(tab) == CPU_SPEC_BUFFERS, "the plan covers every buffer of struct cpu_spec");
    char what[64];
    snprintf(what, sizeof what, "draft state (%d KV slots, %d rows)", sp->max_slots, sp->max_rows);
    struct memplan mp;
    memplan_init(&mp, "cpu backend", what, tab, MEMPLAN_LEN(tab), MEMPLAN_LEN(tab), 64);
    enum frs_status st = memplan_alloc_host(&mp, &sp->mem);
    if (st != FRS_OK) {
        cpu_spec_free(b);
        return st;
    }
    memplan_log(&mp);
    st = tree_build_init(&sp->tb, CPU_SPEC_MAX_TOPK, CPU_SPEC_MAX_DEPTH);
    if (st == FRS_OK && b->pool_rows > 0)
        st = cpu_spec_batch_create(b, fmask_words);
    if (st != FRS_OK) {
        cpu_spec_free(b);
        return st;
    }
    rope_inv_freq(c, sp->inv_freq);
    if (sp->fc_bias)
        frs_mat_row_to_f32(&d->fc_bias, 0, sp->fc_bias);
    cpu_spec_reset(b);
    return FRS_OK;
}

void cpu_spec_free(struct cpu_backend *b)
{
    struct cpu_spec *sp = b->spec;
    if (!sp)
        return;
    if (sp->slot_tb)
        for (int i = 0; i < b->lim.max_seqs; i++)
            tree_build_free(&sp->slot_tb[i]);
    free(sp->slot_tb);
    free(sp->pool_k);
    free(sp->pool_v);
    free(sp->slot_front);
    free(sp->slot_fmask);
    free(sp->featbuf);
    free(sp->root_hid);
    free(sp->dseqs);
    free(sp->dseq_of);
    free(sp->root_row);
    free(sp->mem);
    tree_build_free(&sp->tb);
    free(sp);
    b->spec = NULL;
}

void cpu_spec_reset(struct cpu_backend *b)
{
    b->draft_len = 0;
    if (b->spec)
        b->spec->have_tree = 0;
}

const struct frs_tree *cpu_spec_tree(const struct cpu_backend *b)
{
    return b->spec && b->spec->have_tree ? &b->spec->tree : NULL;
}

/* Draft cache row of draft slot s of a sequence: the single-sequence cache (blocks NULL) or the
 * paged pool (its block table). */
static size_t draft_row(const struct cpu_backend *b, const int32_t *blocks, int s)
{
    return blocks ? (size_t)blocks[s / b->kv_block] * b->kv_block + (size_t)(s % b->kv_block) : (size_t)s;
}

/* Attention of one sequence's n query rows (from row r0) over its draft cache (see
 * cpu_spec_draft_forward for visibility). */
static void draft_attention(struct cpu_backend *b, int r0, const struct cpu_draft_seq *g)
{
    struct cpu_spec *sp = b->spec;
    const int H = sp->H, D = sp->D, kvw = sp->KV * sp->D, group = sp->H / sp->KV;
    const int words = FRS_MASK_WORDS(g->mask_cols);
    const float scale = 1.0f / sqrtf((float)D);
    const float *kc = g->blocks ? sp->pool_k : sp->kcache, *vc = g->blocks ? sp->pool_v : sp->vcache;
    float *score = sp->score;
    for (int i = 0; i < g->n; i++) {
        const int end = g->mask ? g->prefix + g->mask_cols : g->slot0 + i + 1;
        const uint64_t *mrow = g->mask ? g->mask + (size_t)i * words : NULL;
        for (int h = 0; h < H; h++) {
            const float *qi = sp->q + ((size_t)(r0 + i) * H + h) * D;
            const int kh = h / group;
            float mx = -INFINITY;
            for (int s = 0; s < end; s++) {
                if (mrow && s >= g->prefix) {
                    const int j = s - g->prefix;
                    if (!((mrow[j / 64] >> (j % 64)) & 1u)) {
                        score[s] = -INFINITY;
                        continue;
                    }
                }
                const float *kk = kc + draft_row(b, g->blocks, s) * kvw + (size_t)kh * D;
                float acc = 0.0f;
                for (int e = 0; e < D; e++)
                    acc += qi[e] * kk[e];
                score[s] = acc * scale;
                if (score[s] > mx)
                    mx = score[s];
            }
            double sum = 0.0;
            for (int s = 0; s < end; s++) {
                const float e = score[s] == -INFINITY ? 0.0f : expf(score[s] - mx);
                score[s] = e;
                sum += e;
            }
            float *o = sp->att + ((size_t)(r0 + i) * H + h) * D;
            for (int e = 0; e < D; e++)
                o[e] = 0.0f;
            for (int s = 0; s < end; s++) {
                if (score[s] == 0.0f)
                    continue;
                const float p = (float)(score[s] / sum);
                const float *vv = vc + draft_row(b, g->blocks, s) * kvw + (size_t)kh * D;
                for (int e = 0; e < D; e++)
                    o[e] += p * vv[e];
            }
        }
    }
}

enum frs_status cpu_spec_draft_forward(struct cpu_backend *b, const int32_t *tokens, const float *feat,
                                       const int32_t *pos, int n, int slot0, int prefix,
                                       const uint64_t *mask, int mask_cols, float *hidden)
{
    struct cpu_spec *sp = b->spec;
    if (!sp)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft forward: the backend has no draft head");
    if (slot0 < 0 || slot0 + n > sp->max_slots || prefix < 0 || prefix > slot0 ||
        (mask && prefix + mask_cols > sp->max_slots))
        return FRS_ERR(FRS_ERR_TOO_LONG, "draft forward: slots [%d, %d) (prefix %d) exceed the draft cache of %d",
                       slot0, slot0 + n, prefix, sp->max_slots);
    const struct cpu_draft_seq one = {n, slot0, prefix, mask, mask_cols, NULL};
    return cpu_spec_draft_forward_seqs(b, tokens, feat, pos, 1, &one, hidden);
}

enum frs_status cpu_spec_draft_forward_seqs(struct cpu_backend *b, const int32_t *tokens, const float *feat,
                                            const int32_t *pos, int n_seqs, const struct cpu_draft_seq *seqs,
                                            float *hidden)
{
    struct cpu_spec *sp = b->spec;
    const struct eagle_draft *d = b->d;
    if (!sp)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft forward: the backend has no draft head");
    int n = 0;
    for (int g = 0; g < n_seqs; g++)
        n += seqs[g].n;
    if (n < 1 || n > sp->max_rows)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft forward: %d rows outside [1, %d]", n, sp->max_rows);
    const int C = sp->C, V = (int)b->m->embed.rows;
    const size_t kvw = (size_t)sp->KV * sp->D;
    const struct llama_layer *L = &d->layer;
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= V)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "draft forward: token %d outside the vocabulary [0, %d)",
                           (int)tokens[i], V);
        /* EAGLE input fusion: embedding first, then the feature */
        frs_mat_row_to_f32(&b->m->embed, tokens[i], sp->in2 + (size_t)i * 2 * C);
        memcpy(sp->in2 + (size_t)i * 2 * C + C, feat + (size_t)i * C, (size_t)C * sizeof(float));
    }
    cpu_matmul(sp->in2, n, &d->fc, sp->x);
    if (sp->fc_bias)
        for (int i = 0; i < n; i++)
            cpu_add(sp->x + (size_t)i * C, sp->fc_bias, C);
    /* attention on x itself: layer 0 of an EAGLE head has no input_layernorm */
    cpu_matmul(sp->x, n, &L->wq, sp->q);
    cpu_matmul(sp->x, n, &L->wk, sp->k);
    cpu_matmul(sp->x, n, &L->wv, sp->v);
    cpu_rope(sp->q, n, sp->H, sp->D, pos, sp->inv_freq);
    cpu_rope(sp->k, n, sp->KV, sp->D, pos, sp->inv_freq);
    /* every sequence's keys/values first (a sequence's catch-up may span several groups), then
     * attention per sequence */
    for (int g = 0, r = 0; g < n_seqs; r += seqs[g++].n) {
        float *kc = seqs[g].blocks ? sp->pool_k : sp->kcache, *vc = seqs[g].blocks ? sp->pool_v : sp->vcache;
        for (int i = 0; i < seqs[g].n; i++) {
            const size_t row = draft_row(b, seqs[g].blocks, seqs[g].slot0 + i);
            memcpy(kc + row * kvw, sp->k + (size_t)(r + i) * kvw, kvw * sizeof(float));
            memcpy(vc + row * kvw, sp->v + (size_t)(r + i) * kvw, kvw * sizeof(float));
        }
    }
    for (int g = 0, r = 0; g < n_seqs; r += seqs[g++].n)
        draft_attention(b, r, &seqs[g]);
    cpu_matmul(sp->att, n, &L->wo, sp->tmp);
    cpu_add(sp->x, sp->tmp, (int64_t)n * C);
    /* MLP */
    cpu_rmsnorm(sp->x, n, C, &L->mlp_norm, d->cfg.rms_norm_eps, sp->xn);
    cpu_matmul(sp->xn, n, &L->w_gate, sp->gate);
    cpu_matmul(sp->xn, n, &L->w_up, sp->up);
    cpu_swiglu(sp->gate, sp->up, (int64_t)n * sp->F, sp->gate);
    cpu_matmul(sp->gate, n, &L->w_down, sp->tmp);
    cpu_add(sp->x, sp->tmp, (int64_t)n * C);
    memcpy(hidden, sp->x, (size_t)n * C * sizeof(float));
    return FRS_OK;
}

void cpu_spec_draft_logp(struct cpu_backend *b, const float *hidden, int n, float *logp)
{
    struct cpu_spec *sp = b->spec;
    const int K = sp->K;
    cpu_matmul(hidden, n, &b->d->lm_head, logp); /* no final norm in an EAGLE-2 head */
    for (int i = 0; i < n; i++)
        cpu_log_softmax(logp + (size_t)i * K, K, logp + (size_t)i * K);
}

/* Top-k of each of n logp rows, reduced index -> full token id. */
static void draft_topk(struct cpu_backend *b, const float *logp, int n, int k, float *vals, int32_t *tok)
{
    struct cpu_spec *sp = b->spec;
    for (int i = 0; i < n; i++) {
        cpu_topk(logp + (size_t)i * sp->K, sp->K, k, vals + (size_t)i * k, tok + (size_t)i * k);
        if (b->d->ids)
            for (int j = 0; j < k; j++)
                tok[(size_t)i * k + j] = b->d->ids[tok[(size_t)i * k + j]];
    }
}

enum frs_status cpu_draft_tree(struct frs_backend *be, const int32_t *next_tokens, int n_pending,
                               const struct frs_tree_params *p)
{
    struct cpu_backend *b = cpu_of(be);
    struct cpu_spec *sp = b->spec;
    if (!sp)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft_tree: the backend was created without a draft head");
    const int T = b->target_len, C = sp->C;
    if (n_pending < 1 || n_pending != T - b->draft_len)
        return FRS_ERR(FRS_ERR_INVALID_ARG,
                       "draft_tree: %d pending tokens given, the draft lags the target by %d positions "
                       "(target %d, draft %d; at least the root is pending)",
                       n_pending, T - b->draft_len, T, b->draft_len);
    if (p->topk > sp->K)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft_tree: topk %d exceeds the draft vocabulary K = %d",
                       p->topk, sp->K);
    if (p->topk > CPU_SPEC_MAX_TOPK || p->depth > CPU_SPEC_MAX_DEPTH)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "draft_tree: topk %d / depth %d exceed the CPU backend's %d / %d",
                       p->topk, p->depth, CPU_SPEC_MAX_TOPK, CPU_SPEC_MAX_DEPTH);
    if (p->size > b->lim.max_tree)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft_tree: tree size %d exceeds the backend's max_tree %d",
                       p->size, b->lim.max_tree);
    if (T + p->size > b->lim.max_ctx)
        return FRS_ERR(FRS_ERR_TOO_LONG, "draft_tree: %d cached tokens + a tree of %d exceed max_ctx %d", T,
                       p->size, b->lim.max_ctx);
    FRS_TRY(tree_build_begin(&sp->tb, p));
    sp->have_tree = 0;

    /* 1. the draft catches up: rows [draft_len, T), causal, in chunks */
    const int chunk = sp->max_rows;
    for (int off = 0; off < n_pending; off += chunk) {
        const int n = n_pending - off < chunk ? n_pending - off : chunk;
        const int slot0 = b->draft_len + off;
        for (int i = 0; i < n; i++)
            sp->pos[i] = slot0 + i;
        FRS_TRY(cpu_spec_draft_forward(b, next_tokens + off, b->feat + (size_t)slot0 * C, sp->pos, n, slot0,
                                       slot0, NULL, 0, sp->hid));
    }
    b->draft_len = T;
    const int last = (n_pending - 1) % chunk;
    memmove(sp->hid, sp->hid + (size_t)last * C, (size_t)C * sizeof(float));

    /* 2. depth 1: the root row's top-k */
    const int k = p->topk;
    cpu_spec_draft_logp(b, sp->hid, 1, sp->logp);
    draft_topk(b, sp->logp, 1, k, sp->vals, sp->idx);
    tree_build_first(&sp->tb, sp->vals, sp->idx);
    for (int j = 0; j < k; j++)
        memcpy(sp->front_feat + (size_t)j * C, sp->hid, (size_t)C * sizeof(float));

    /* 3. deeper: forward the frontier (one shared position per depth), expand */
    for (int level = 1; level < p->depth; level++) {
        const int nf = sp->tb.n_front;
        int cols;
        const int first = tree_build_frontier_mask(&sp->tb, sp->fmask, &cols);
        for (int r = 0; r < nf; r++) {
            sp->toks[r] = sp->tb.token[sp->tb.front[r]];
            sp->pos[r] = T + level - 1;
        }
        FRS_TRY(cpu_spec_draft_forward(b, sp->toks, sp->front_feat, sp->pos, nf, T + first, T, sp->fmask, cols,
                                       sp->hid));
        cpu_spec_draft_logp(b, sp->hid, nf, sp->logp);
        draft_topk(b, sp->logp, nf, k, sp->vals, sp->idx);
        tree_build_expand(&sp->tb, sp->vals, sp->idx);
        for (int j = 0; j < sp->tb.n_front; j++)
            memcpy(sp->front_feat + (size_t)j * C, sp->hid + (size_t)sp->tb.front_src[j] * C,
                   (size_t)C * sizeof(float));
    }

    /* 4. the kept tree */
    FRS_TRY(tree_build_finish(&sp->tb, next_tokens[n_pending - 1], &sp->tree));
    tree_mask_ancestors(&sp->tree, sp->vmask);
    sp->have_tree = 1;
    return FRS_OK;
}

enum frs_status cpu_verify(struct frs_backend *be, const struct frs_sampling *s, uint64_t iter,
                           struct frs_tree *tree)
{
    struct cpu_backend *b = cpu_of(be);
    struct cpu_spec *sp = b->spec;
    if (!sp || !sp->have_tree)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "verify: no draft tree (call draft_tree first)");
    const struct frs_tree *t = &sp->tree;
    const int T = b->target_len, n = t->n;
    if (T + n > b->lim.max_ctx)
        return FRS_ERR(FRS_ERR_TOO_LONG, "verify: %d cached tokens + a tree of %d exceed max_ctx %d", T, n,
                       b->lim.max_ctx);
    for (int i = 0; i < n; i++)
        sp->vpos[i] = T + t->depth[i];
    FRS_TRY(cpu_target_forward(b, t->token, sp->vpos, n, sp->vmask, T));

    tree->n = n;
    memcpy(tree->token, t->token, (size_t)n * sizeof(int32_t));
    memcpy(tree->parent, t->parent, (size_t)n * sizeof(int32_t));
    memcpy(tree->depth, t->depth, (size_t)n * sizeof(int32_t));
    const struct sampling_shard sh = {b->logits, n, b->m->vocab_local, b->m->vocab_offset};
    /* position-keyed choice (runtime/batch.h): the token after node i sits at position
     * T + depth[i] + 1; greedy argmax, or the Gumbel-max draw with that position as draw index,
     * exactly what autoregressive decoding draws there. The engine's walk is then greedy. */
    for (int i = 0; i < n; i++) {
        tree->child_prob[i] = 0.0f;
        sp->draws[i] = (uint64_t)(T + t->depth[i] + 1);
    }
    if (s->temperature <= 0.0f) {
        FRS_TRY(sampling_argmax(b->comm, &sh, tree->argmax));
    } else {
        FRS_TRY(sampling_prepare(b->comm, &sh, s, sp->rows));
        FRS_TRY(sampling_draw(b->comm, &sh, s, sp->rows, sp->draws, NULL, NULL, tree->argmax));
    }
    memcpy(tree->residual, tree->argmax, (size_t)n * sizeof(int32_t));
    sp->have_tree = 2;
    return FRS_OK;
}

enum frs_status cpu_commit(struct frs_backend *be, const int32_t *path, int n_path)
{
    struct cpu_backend *b = cpu_of(be);
    struct cpu_spec *sp = b->spec;
    if (!sp || sp->have_tree != 2 || b->last_n != sp->tree.n)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "commit: no verified tree (call draft_tree and verify first)");
    const struct frs_tree *t = &sp->tree;
    if (n_path < 1 || n_path > t->n || path[0] != 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "commit: path of %d nodes must start at the root (0) and fit the tree of %d",
                       n_path, t->n);
    for (int j = 1; j < n_path; j++)
        if (path[j] <= 0 || path[j] >= t->n || t->parent[path[j]] != path[j - 1])
            return FRS_ERR(FRS_ERR_INVALID_ARG, "commit: path[%d] = %d is not a child of node %d", j,
                           (int)path[j], (int)path[j - 1]);
    const int T = b->target_len, C = sp->C;
    /* ascending j is safe: path[j] >= j, so a later source is never overwritten */
    for (int j = 0; j < n_path; j++) {
        if (path[j] != j)
            cpu_kv_move(b, T + path[j], T + j);
        memcpy(b->feat + (size_t)(T + j) * C, b->hidden + (size_t)path[j] * C, (size_t)C * sizeof(float));
    }
    b->target_len = T + n_path;
    be->target_len = b->target_len;
    sp->have_tree = 0;
    return FRS_OK;
}

/* ---- batched draft (runtime/batch.h frs_batch_ops.draft) ------------------------------------- */

/* One batched draft forward over the ng groups collected so far. */
static enum frs_status batch_draft_flush(struct cpu_backend *b, int ng)
{
    struct cpu_spec *sp = b->spec;
    if (ng == 0)
        return FRS_OK;
    return cpu_spec_draft_forward_seqs(b, sp->toks, sp->featbuf, sp->pos, ng, sp->dseqs, sp->hid);
}

/* After a frontier forward: each group's sequence takes its rows' top-k and expands its tree. */
static void batch_draft_expand(struct cpu_backend *b, int ng, const struct frs_seq *seqs,
                               const struct frs_tree_params *p)
{
    struct cpu_spec *sp = b->spec;
    const int C = sp->C;
    for (int g = 0, r = 0; g < ng; r += sp->dseqs[g++].n) {
        const int i = sp->dseq_of[g], nf = sp->dseqs[g].n, k = p[i].topk;
        struct tree_build *tb = &sp->slot_tb[seqs[i].slot];
        cpu_spec_draft_logp(b, sp->hid + (size_t)r * C, nf, sp->logp);
        draft_topk(b, sp->logp, nf, k, sp->vals, sp->idx);
        tree_build_expand(tb, sp->vals, sp->idx);
        float *front = sp->slot_front + (size_t)seqs[i].slot * CPU_SPEC_MAX_TOPK * C;
        for (int j = 0; j < tb->n_front; j++)
            memcpy(front + (size_t)j * C, sp->hid + (size_t)(r + tb->front_src[j]) * C, (size_t)C * sizeof(float));
    }
}

enum frs_status cpu_batch_draft(struct frs_backend *be, int n, const struct frs_seq *seqs,
                                const int32_t *const *next_tokens, const struct frs_tree_params *p)
{
    struct cpu_backend *b = cpu_of(be);
    struct cpu_spec *sp = b->spec;
    if (!sp || !sp->slot_tb)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "batch draft: the backend has no draft head or no KV pool");
    if (n < 1 || n > b->lim.max_seqs)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "batch draft: %d sequences outside [1, max_seqs = %d]", n, b->lim.max_seqs);
    const int C = sp->C;
    int max_depth = 0;
    for (int i = 0; i < n; i++) {
        const struct frs_seq *sq = &seqs[i];
        if (sq->slot < 0 || sq->slot >= b->lim.max_seqs || !sq->blocks)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "batch draft: sequence %d: slot %d outside [0, %d)", i, sq->slot,
                           b->lim.max_seqs);
        if (sq->draft_len < 0 || sq->target_len <= sq->draft_len)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "batch draft: slot %d: draft_len %d must be below target_len %d "
                           "(at least the root is pending)", sq->slot, sq->draft_len, sq->target_len);
        if (p[i].size < 2 || p[i].size > b->lim.max_tree || p[i].topk > sp->K || p[i].topk > CPU_SPEC_MAX_TOPK ||
            p[i].depth > CPU_SPEC_MAX_DEPTH)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "batch draft: slot %d: tree depth %d topk %d size %d outside the "
                           "backend's limits (size 2..%d, topk <= %d and <= K %d, depth <= %d)", sq->slot, p[i].depth,
                           p[i].topk, p[i].size, b->lim.max_tree, CPU_SPEC_MAX_TOPK, sp->K, CPU_SPEC_MAX_DEPTH);
        const int end = sq->target_len + tree_draft_rows(&p[i]);
        if ((long)end > (long)sq->n_blocks * b->kv_block)
            return FRS_ERR(FRS_ERR_TOO_LONG, "batch draft: slot %d: the tree's draft rows reach position %d, its "
                           "%d blocks of %d hold %d", sq->slot, end, sq->n_blocks, b->kv_block, sq->n_blocks * b->kv_block);
        for (int j = 0; j < (end + b->kv_block - 1) / b->kv_block; j++)
            if (sq->blocks[j] < 0 || sq->blocks[j] >= b->kv_blocks)
                return FRS_ERR(FRS_ERR_INVALID_ARG, "batch draft: slot %d block %d = %d outside the pool of %d",
                               sq->slot, j, (int)sq->blocks[j], b->kv_blocks);
        FRS_TRY(tree_build_begin(&sp->slot_tb[sq->slot], &p[i]));
        b->slot_state[sq->slot] = 0;
        if (p[i].depth > max_depth)
            max_depth = p[i].depth;
    }

    /* 1. catch-up: every sequence's rows [draft_len, target_len), causal, packed into forwards of
     * at most max_rows rows (a sequence may span two forwards: its later group sees the earlier
     * one's keys through the cache) */
    int ng = 0, rows = 0;
    for (int i = 0; i < n; i++) {
        const struct frs_seq *sq = &seqs[i];
        const int pending = sq->target_len - sq->draft_len;
        for (int off = 0; off < pending;) {
            const int c = pending - off < sp->max_rows - rows ? pending - off : sp->max_rows - rows;
            const int slot0 = sq->draft_len + off;
            sp->dseqs[ng] = (struct cpu_draft_seq){c, slot0, slot0, NULL, 0, sq->blocks};
            sp->dseq_of[ng] = i;
            sp->root_row[ng] = off + c == pending ? rows + c - 1 : -1;
            for (int j = 0; j < c; j++) {
                const int ps = slot0 + j;
                sp->toks[rows + j] = next_tokens[i][off + j];
                sp->pos[rows + j] = ps;
                memcpy(sp->featbuf + (size_t)(rows + j) * C,
                       b->pool_feat + ((size_t)sq->blocks[ps / b->kv_block] * b->kv_block + ps % b->kv_block) * C,
                       (size_t)C * sizeof(float));
            }
            ng++;
            rows += c;
            off += c;
            if (rows == sp->max_rows || ng == b->lim.max_seqs) {
                FRS_TRY(batch_draft_flush(b, ng));
                for (int g = 0; g < ng; g++)
                    if (sp->root_row[g] >= 0)
                        memcpy(sp->root_hid + (size_t)sp->dseq_of[g] * C, sp->hid + (size_t)sp->root_row[g] * C,
                               (size_t)C * sizeof(float));
                ng = rows = 0;
            }
        }
    }
    FRS_TRY(batch_draft_flush(b, ng));
    for (int g = 0; g < ng; g++)
        if (sp->root_row[g] >= 0)
            memcpy(sp->root_hid + (size_t)sp->dseq_of[g] * C, sp->hid + (size_t)sp->root_row[g] * C,
                   (size_t)C * sizeof(float));

    /* 2. depth 1: every root row's top-k */
    cpu_spec_draft_logp(b, sp->root_hid, n, sp->logp);
    for (int i = 0; i < n; i++) {
        const int k = p[i].topk;
        draft_topk(b, sp->logp + (size_t)i * sp->K, 1, k, sp->vals, sp->idx);
        tree_build_first(&sp->slot_tb[seqs[i].slot], sp->vals, sp->idx);
        float *front = sp->slot_front + (size_t)seqs[i].slot * CPU_SPEC_MAX_TOPK * C;
        for (int j = 0; j < k; j++)
            memcpy(front + (size_t)j * C, sp->root_hid + (size_t)i * C, (size_t)C * sizeof(float));
    }

    /* 3. deeper: one forward per depth over every sequence still growing (packed by whole
     * frontiers into forwards of at most max_rows rows) */
    for (int level = 1; level < max_depth; level++) {
        ng = rows = 0;
        for (int i = 0; i < n; i++) {
            if (p[i].depth <= level)
                continue;
            const struct frs_seq *sq = &seqs[i];
            struct tree_build *tb = &sp->slot_tb[sq->slot];
            const int nf = tb->n_front;
            if (rows + nf > sp->max_rows) {
                FRS_TRY(batch_draft_flush(b, ng));
                batch_draft_expand(b, ng, seqs, p);
                ng = rows = 0;
            }
            uint64_t *fmask = sp->slot_fmask + (size_t)sq->slot * sp->fmask_words;
            int cols;
            const int first = tree_build_frontier_mask(tb, fmask, &cols);
            const float *front = sp->slot_front + (size_t)sq->slot * CPU_SPEC_MAX_TOPK * C;
            for (int r = 0; r < nf; r++) {
                sp->toks[rows + r] = tb->token[tb->front[r]];
                sp->pos[rows + r] = sq->target_len + level - 1;
            }
            memcpy(sp->featbuf + (size_t)rows * C, front, (size_t)nf * C * sizeof(float));
            sp->dseqs[ng] = (struct cpu_draft_seq){nf, sq->target_len + first, sq->target_len, fmask, cols, sq->blocks};
            sp->dseq_of[ng] = i;
            ng++;
            rows += nf;
        }
        FRS_TRY(batch_draft_flush(b, ng));
        batch_draft_expand(b, ng, seqs, p);
    }

    /* 4. the kept trees */
    for (int i = 0; i < n; i++) {
        const int slot = seqs[i].slot, pending = seqs[i].target_len - seqs[i].draft_len;
        struct frs_tree *t = &b->slot_tree[slot];
        FRS_TRY(tree_build_finish(&sp->slot_tb[slot], next_tokens[i][pending - 1], t));
        tree_mask_ancestors(t, b->slot_vmask + (size_t)slot * (FRS_MAX_TREE * FRS_MASK_WORDS(FRS_MAX_TREE)));
        b->slot_state[slot] = 1;
    }
    return FRS_OK;
}
