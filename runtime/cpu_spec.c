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
 *    target_len + depth[i], seeing the prefix and its ancestors. Sampling draws: residual of node
 *    i with draw index frs_spec_draw(iter, i) (accept.h);
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
};

static struct cpu_backend *cpu_of(struct frs_backend *be)
{
    return (struct cpu_backend *)be->impl;
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

/* Attention of n query rows over the draft cache (see cpu_spec_draft_forward for visibility). */
static void draft_attention(struct cpu_spec *sp, int n, int slot0, int prefix, const uint64_t *mask,
                            int mask_cols)
{
    const int H = sp->H, D = sp->D, kvw = sp->KV * sp->D, group = sp->H / sp->KV;
    const int words = FRS_MASK_WORDS(mask_cols);
    const float scale = 1.0f / sqrtf((float)D);
    float *score = sp->score;
    for (int i = 0; i < n; i++) {
        const int end = mask ? prefix + mask_cols : slot0 + i + 1;
        const uint64_t *mrow = mask ? mask + (size_t)i * words : NULL;
        for (int h = 0; h < H; h++) {
            const float *qi = sp->q + ((size_t)i * H + h) * D;
            const int kh = h / group;
            float mx = -INFINITY;
            for (int s = 0; s < end; s++) {
                if (mrow && s >= prefix) {
                    const int j = s - prefix;
                    if (!((mrow[j / 64] >> (j % 64)) & 1u)) {
                        score[s] = -INFINITY;
                        continue;
                    }
                }
                const float *kk = sp->kcache + (size_t)s * kvw + (size_t)kh * D;
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
            float *o = sp->att + ((size_t)i * H + h) * D;
            for (int e = 0; e < D; e++)
                o[e] = 0.0f;
            for (int s = 0; s < end; s++) {
                if (score[s] == 0.0f)
                    continue;
                const float p = (float)(score[s] / sum);
                const float *vv = sp->vcache + (size_t)s * kvw + (size_t)kh * D;
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
    const struct eagle_draft *d = b->d;
    if (!sp)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft forward: the backend has no draft head");
    if (n < 1 || n > sp->max_rows)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "draft forward: %d rows outside [1, %d]", n, sp->max_rows);
    if (slot0 < 0 || slot0 + n > sp->max_slots || prefix < 0 || prefix > slot0 ||
        (mask && prefix + mask_cols > sp->max_slots))
        return FRS_ERR(FRS_ERR_TOO_LONG, "draft forward: slots [%d, %d) (prefix %d) exceed the draft cache of %d",
                       slot0, slot0 + n, prefix, sp->max_slots);
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
    memcpy(sp->kcache + (size_t)slot0 * kvw, sp->k, (size_t)n * kvw * sizeof(float));
    memcpy(sp->vcache + (size_t)slot0 * kvw, sp->v, (size_t)n * kvw * sizeof(float));
    draft_attention(sp, n, slot0, prefix, mask, mask_cols);
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
    if (s->temperature <= 0.0f) {
        FRS_TRY(sampling_argmax(b->comm, &sh, tree->argmax));
    } else {
        for (int i = 0; i < n; i++)
            tree->argmax[i] = -1;
        FRS_TRY(sampling_prepare(b->comm, &sh, s, sp->rows));
        /* p_parent(token) of every non-root node */
        for (int i = 1; i < n; i++) {
            sp->row_of[i - 1] = t->parent[i];
            sp->qtok[i - 1] = t->token[i];
        }
        tree->child_prob[0] = 1.0f;
        if (n > 1) {
            FRS_TRY(sampling_prob(b->comm, &sh, s, sp->rows, sp->row_of, sp->qtok, n - 1, sp->qprob));
            memcpy(tree->child_prob + 1, sp->qprob, (size_t)(n - 1) * sizeof(float));
        }
        /* residual of node i: p_i without the tokens of i's children */
        int m = 0;
        for (int i = 0; i < n; i++) {
            sp->excl_off[i] = m;
            for (int c = i + 1; c < n; c++)
                if (t->parent[c] == i)
                    sp->excl[m++] = t->token[c];
            sp->draws[i] = frs_spec_draw(iter, i);
        }
        sp->excl_off[n] = m;
        FRS_TRY(sampling_draw(b->comm, &sh, s, sp->rows, sp->draws, sp->excl, sp->excl_off, tree->residual));
    }
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
