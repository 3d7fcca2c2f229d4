/* cpu_backend.c - the CPU reference backend: the Llama target forward pass (fp32 arithmetic over
 * F32/F16/BF16 weights, tensor-parallel through runtime/collectives.h), the KV cache, prefill / decode
 * / next_token, and frs_backend_cpu_ops. The speculative half (draft head, tree, verify, commit)
 * is cpu_spec.c's, over the same struct cpu_backend (cpu_backend.h).
 *
 * Memory: every buffer is carved out of one allocation planned at create() from the limits
 * (memplan.h: the table in cpu_create, CPU_BACKEND_BUFFERS entries); the
 * forward pass allocates nothing of its own (cpu_ops.c's reference operators use small
 * temporaries). The draft's state is cpu_spec.c's (cpu_spec_create/free/reset).
 */
#include "cpu_backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"       /* frs_batch_prefill_rows */
#include "collectives.h" /* comm_allreduce_sum_f32 */
#include "memplan.h"  /* memplan_alloc_host */
#include "cpu_ops.h"  /* cpu_matmul, cpu_rmsnorm, cpu_rope, cpu_attention, ... */
#include "sampling.h" /* sampling_argmax, sampling_prepare, sampling_draw */

static struct cpu_backend *cpu_impl(struct frs_backend *be) { return (struct cpu_backend *)be->impl; }

static enum frs_status cpu_check_limits(const struct llama_model *m, const struct frs_limits *lim,
                                        const struct eagle_draft *d)
{
    if (!m || !lim)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu backend: model and limits are required");
    if (lim->max_ctx <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu backend: limit 'max_ctx' must be > 0 (got %d)", lim->max_ctx);
    if (lim->prefill_chunk <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu backend: limit 'prefill_chunk' must be > 0 (got %d)",
                       lim->prefill_chunk);
    if (lim->max_tree < 0 || lim->max_tree > FRS_MAX_TREE)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu backend: limit 'max_tree' must be in [0, %d] (got %d)",
                       FRS_MAX_TREE, lim->max_tree);
    if (d && lim->max_tree < 1)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu backend: a draft head needs limit 'max_tree' >= 1 (got %d)",
                       lim->max_tree);
    if (lim->max_tree >= lim->max_ctx)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu backend: limit 'max_tree' (%d) must be below 'max_ctx' (%d)",
                       lim->max_tree, lim->max_ctx);
    const struct llama_config *c = &m->cfg;
    if (c->hidden_size <= 0 || c->head_dim <= 0 || c->head_dim % 2 || m->n_heads_local <= 0 ||
        m->n_kv_heads_local <= 0 || m->n_heads_local % m->n_kv_heads_local || m->ffn_local <= 0 ||
        m->vocab_local <= 0 || c->num_hidden_layers <= 0 || !m->layers)
        return FRS_ERR(FRS_ERR_INVALID_ARG,
                       "cpu backend: model %s is not loaded or inconsistent (hidden %d, head_dim %d, local heads "
                       "%d / kv %d, ffn %d, vocab %d, layers %d)",
                       m->dir ? m->dir : "?", c->hidden_size, c->head_dim, m->n_heads_local,
                       m->n_kv_heads_local, m->ffn_local, m->vocab_local, c->num_hidden_layers);
    return FRS_OK;
}

static enum frs_status cpu_create(struct frs_backend *be, const struct llama_model *m,
                                  const struct eagle_draft *d, struct frs_comm *comm,
                                  const struct frs_limits *lim, const struct frs_backend_options *opt)
{
    FRS_TRY(cpu_check_limits(m, lim, d));
    const struct llama_config *cfg = &m->cfg;
    int max_rows = lim->prefill_chunk > lim->max_tree ? lim->prefill_chunk : lim->max_tree;
    if (lim->max_seqs > 0 && frs_batch_prefill_rows(lim) > max_rows)
        max_rows = frs_batch_prefill_rows(lim); /* one batched verify or prefill */
    const size_t C = (size_t)cfg->hidden_size, D = (size_t)cfg->head_dim, L = (size_t)cfg->num_hidden_layers;
    const size_t Hl = (size_t)m->n_heads_local, KVl = (size_t)m->n_kv_heads_local;
    const size_t Fl = (size_t)m->ffn_local, Vl = (size_t)m->vocab_local;
    const size_t R = (size_t)max_rows, T = (size_t)lim->max_ctx;

    struct cpu_backend *b = calloc(1, sizeof *b);
    if (!b)
        return FRS_ERR(FRS_ERR_OOM, "cpu backend: out of memory for the backend struct");

    /* the memory plan: one allocation, pointers carved out in this order */
    struct memplan_entry tab[] = {
        MEMPLAN_ENTRY(b->inv_freq, D / 2 * sizeof(float)),         /* (D/2) */
        MEMPLAN_ENTRY(b->kcache, L * T * KVl * D * sizeof(float)), /* (L, max_ctx, KVl*D) */
        MEMPLAN_ENTRY(b->vcache, L * T * KVl * D * sizeof(float)), /* (L, max_ctx, KVl*D) */
        MEMPLAN_ENTRY(b->hidden, R * C * sizeof(float)),           /* (R, C) */
        MEMPLAN_ENTRY(b->logits, R * Vl * sizeof(float)),          /* (R, Vl) */
        MEMPLAN_ENTRY(b->feat, T * C * sizeof(float)),             /* (max_ctx, C) */
        MEMPLAN_ENTRY(b->x, R * C * sizeof(float)),                /* (R, C) residual stream */
        MEMPLAN_ENTRY(b->xn, R * C * sizeof(float)),               /* (R, C) normed */
        MEMPLAN_ENTRY(b->q, R * Hl * D * sizeof(float)),           /* (R, Hl*D) */
        MEMPLAN_ENTRY(b->k, R * KVl * D * sizeof(float)),          /* (R, KVl*D) */
        MEMPLAN_ENTRY(b->v, R * KVl * D * sizeof(float)),          /* (R, KVl*D) */
        MEMPLAN_ENTRY(b->att, R * Hl * D * sizeof(float)),         /* (R, Hl*D) */
        MEMPLAN_ENTRY(b->gate, R * Fl * sizeof(float)),            /* (R, Fl) */
        MEMPLAN_ENTRY(b->up, R * Fl * sizeof(float)),              /* (R, Fl) */
        MEMPLAN_ENTRY(b->tmp, R * C * sizeof(float)),              /* (R, C) */
        MEMPLAN_ENTRY(b->pos, R * sizeof(int32_t)),                /* (R) */
        MEMPLAN_ENTRY(b->xq, R * (C > Fl ? (C > Hl * D ? C : Hl * D) : (Fl > Hl * D ? Fl : Hl * D)) *
                                 sizeof(float)),                   /* (R, max(C, Hl*D, Fl)) FP8 activations */
    };
    _Static_assert(MEMPLAN_LEN(tab) == CPU_BACKEND_BUFFERS, "the plan covers every buffer of struct cpu_backend");
    char what[96];
    snprintf(what, sizeof what, "KV cache (%d layers x %d tokens) and activations (%d rows)", (int)L, lim->max_ctx,
             max_rows);
    struct memplan mp;
    memplan_init(&mp, "cpu backend", what, tab, MEMPLAN_LEN(tab), MEMPLAN_LEN(tab), 64);
    void *base;
    enum frs_status st = memplan_alloc_host(&mp, &base);
    if (st != FRS_OK) {
        free(b);
        return st;
    }
    memplan_log(&mp);
    b->mem = base;

    b->m = m;
    b->d = d;
    b->comm = comm;
    b->lim = *lim;
    b->max_rows = max_rows;
    b->opts = opt ? *opt : frs_backend_options_default();
    rope_inv_freq(cfg, b->inv_freq);
    be->impl = b;
    be->ops = &frs_backend_cpu_ops;
    be->target_len = 0;
    be->max_ctx = lim->max_ctx;
    be->kv_blocks = 0;
    st = FRS_OK;
    if (lim->max_seqs > 0)
        st = cpu_batch_create(b);
    if (st == FRS_OK && d)
        st = cpu_spec_create(b);
    if (st != FRS_OK) {
        cpu_batch_free(b);
        free(base);
        free(b);
        be->impl = NULL;
        return st;
    }
    be->kv_blocks = b->kv_blocks;
    return FRS_OK;
}

static void cpu_destroy(struct frs_backend *be)
{
    struct cpu_backend *b = cpu_impl(be);
    if (!b)
        return;
    if (b->spec)
        cpu_spec_free(b);
    cpu_batch_free(b);
    free(b->mem);
    free(b);
    be->impl = NULL;
}

static enum frs_status cpu_reset(struct frs_backend *be)
{
    struct cpu_backend *b = cpu_impl(be);
    b->target_len = 0;
    b->draft_len = 0;
    b->last_n = 0;
    be->target_len = 0;
    if (b->spec)
        cpu_spec_reset(b);
    return FRS_OK;
}

/* y = x @ w^T; for an FP8 matrix whose format quantizes its inputs, and the option asks for it,
 * x is fake-quantized first (cpu_fp8_quant_act; under TP each rank quantizes its own input
 * columns of o/down, as sharded FP8 engines do). */
static void cpu_linear(struct cpu_backend *b, const float *x, int n, const struct frs_mat *w, float *y)
{
    if (b->opts.fp8_act_quant && w->dtype == FRS_DTYPE_F8_E4M3 && w->act != FRS_FP8_ACT_NONE) {
        cpu_fp8_quant_act(x, n, w, b->xq);
        x = b->xq;
    }
    cpu_matmul(x, n, w, y);
}

enum frs_status cpu_target_forward(struct cpu_backend *b, const int32_t *tokens, const int32_t *pos,
                                   int n, const uint64_t *mask, int slot0)
{
    if (n <= 0 || n > b->max_rows)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu_target_forward: %d rows, must be in [1, %d]", n, b->max_rows);
    if (slot0 < 0 || slot0 + n > b->lim.max_ctx)
        return FRS_ERR(FRS_ERR_TOO_LONG, "cpu_target_forward: cache slots [%d, %d) exceed max_ctx %d", slot0,
                       slot0 + n, b->lim.max_ctx);
    if (!pos) {
        for (int i = 0; i < n; i++)
            b->pos[i] = slot0 + i;
        pos = b->pos;
    }
    const struct cpu_fwd_seq one = {.n = n, .prefix = slot0, .mask = mask, .blocks = NULL};
    return cpu_target_forward_seqs(b, tokens, pos, 1, &one, 0);
}

/* Cache row of position p of a sequence (see struct cpu_fwd_seq). */
static size_t cpu_cache_row(const struct cpu_backend *b, const int32_t *blocks, int p)
{
    return blocks ? (size_t)blocks[p / b->kv_block] * b->kv_block + (size_t)(p % b->kv_block) : (size_t)p;
}

enum frs_status cpu_target_forward_seqs(struct cpu_backend *b, const int32_t *tokens, const int32_t *pos,
                                        int n_seqs, const struct cpu_fwd_seq *seqs, int lm_from)
{
    const struct llama_model *m = b->m;
    const struct llama_config *cfg = &m->cfg;
    const int C = cfg->hidden_size, D = cfg->head_dim;
    const int Hl = m->n_heads_local, KVl = m->n_kv_heads_local, Fl = m->ffn_local;
    const int kvw = KVl * D;
    int n = 0;
    for (int g = 0; g < n_seqs; g++)
        n += seqs[g].n;
    if (n <= 0 || n > b->max_rows)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu_target_forward: %d rows, must be in [1, %d]", n, b->max_rows);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= cfg->vocab_size)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu_target_forward: token %d at row %d outside the vocabulary "
                           "[0, %d)", (int)tokens[i], i, cfg->vocab_size);

    const size_t nc = (size_t)n * C;
    cpu_embed(&m->embed, tokens, n, b->x);
    for (int l = 0; l < cfg->num_hidden_layers; l++) {
        const struct llama_layer *ly = &m->layers[l];
        /* attention block: projections over every row at once */
        cpu_rmsnorm(b->x, n, C, &ly->attn_norm, cfg->rms_norm_eps, b->xn);
        cpu_linear(b, b->xn, n, &ly->wq, b->q);
        cpu_linear(b, b->xn, n, &ly->wk, b->k);
        cpu_linear(b, b->xn, n, &ly->wv, b->v);
        cpu_rope(b->q, n, Hl, D, pos, b->inv_freq);
        cpu_rope(b->k, n, KVl, D, pos, b->inv_freq);
        /* every sequence's new keys/values into its cache first, then attention per sequence */
        for (int g = 0, r = 0; g < n_seqs; r += seqs[g++].n) {
            const struct cpu_fwd_seq *sq = &seqs[g];
            float *kc = sq->blocks ? b->pool_k + (size_t)l * b->pool_rows * kvw : b->kcache + (size_t)l * b->lim.max_ctx * kvw;
            float *vc = sq->blocks ? b->pool_v + (size_t)l * b->pool_rows * kvw : b->vcache + (size_t)l * b->lim.max_ctx * kvw;
            for (int i = 0; i < sq->n; i++) {
                const size_t row = cpu_cache_row(b, sq->blocks, sq->prefix + i);
                memcpy(kc + row * kvw, b->k + (size_t)(r + i) * kvw, (size_t)kvw * sizeof(float));
                memcpy(vc + row * kvw, b->v + (size_t)(r + i) * kvw, (size_t)kvw * sizeof(float));
            }
        }
        for (int g = 0, r = 0; g < n_seqs; r += seqs[g++].n) {
            const struct cpu_fwd_seq *sq = &seqs[g];
            const float *kc = sq->blocks ? b->pool_k + (size_t)l * b->pool_rows * kvw : b->kcache + (size_t)l * b->lim.max_ctx * kvw;
            const float *vc = sq->blocks ? b->pool_v + (size_t)l * b->pool_rows * kvw : b->vcache + (size_t)l * b->lim.max_ctx * kvw;
            cpu_attention_paged(b->q + (size_t)r * Hl * D, kc, vc, sq->blocks, b->kv_block, sq->prefix, sq->n,
                                sq->mask, Hl, KVl, D, b->att + (size_t)r * Hl * D);
        }
        cpu_linear(b, b->att, n, &ly->wo, b->tmp);
        FRS_TRY(comm_allreduce_sum_f32(b->comm, b->tmp, nc));
        cpu_add(b->x, b->tmp, (int64_t)nc);
        /* MLP block */
        cpu_rmsnorm(b->x, n, C, &ly->mlp_norm, cfg->rms_norm_eps, b->xn);
        cpu_linear(b, b->xn, n, &ly->w_gate, b->gate);
        cpu_linear(b, b->xn, n, &ly->w_up, b->up);
        cpu_swiglu(b->gate, b->up, (int64_t)n * Fl, b->gate);
        cpu_linear(b, b->gate, n, &ly->w_down, b->tmp);
        FRS_TRY(comm_allreduce_sum_f32(b->comm, b->tmp, nc));
        cpu_add(b->x, b->tmp, (int64_t)nc);
    }
    cpu_rmsnorm(b->x, n, C, &m->final_norm, cfg->rms_norm_eps, b->hidden);
    if (lm_from < 0)
        lm_from = 0;
    if (lm_from < n)
        cpu_linear(b, b->hidden + (size_t)lm_from * C, n - lm_from, &m->lm_head,
                   b->logits + (size_t)lm_from * m->vocab_local);
    b->last_n = n;
    return FRS_OK;
}

void cpu_lm_head(struct cpu_backend *b, const float *hidden, int n, float *logits)
{
    cpu_linear(b, hidden, n, &b->m->lm_head, logits);
}

void cpu_kv_move(struct cpu_backend *b, int from_slot, int to_slot)
{
    if (from_slot == to_slot)
        return;
    const size_t kvw = (size_t)b->m->n_kv_heads_local * b->m->cfg.head_dim, T = (size_t)b->lim.max_ctx;
    for (int l = 0; l < b->m->cfg.num_hidden_layers; l++) {
        float *kc = b->kcache + l * T * kvw, *vc = b->vcache + l * T * kvw;
        memmove(kc + (size_t)to_slot * kvw, kc + (size_t)from_slot * kvw, kvw * sizeof(float));
        memmove(vc + (size_t)to_slot * kvw, vc + (size_t)from_slot * kvw, kvw * sizeof(float));
    }
}

/* Append n tokens in chunks; keep each position's feature (post-norm hidden) for the draft. */
static enum frs_status cpu_append(struct cpu_backend *b, struct frs_backend *be, const int32_t *tokens, int n,
                                  const char *what)
{
    if (n <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu backend %s: %d tokens, need at least 1", what, n);
    /* no room is reserved for a draft tree: the engine shrinks the tree to what is left */
    if ((long)b->target_len + n > b->lim.max_ctx)
        return FRS_ERR(FRS_ERR_TOO_LONG,
                       "cpu backend %s: %d tokens after the %d already in the context exceed the context "
                       "limit max_ctx = %d",
                       what, n, b->target_len, b->lim.max_ctx);
    const size_t C = (size_t)b->m->cfg.hidden_size;
    for (int done = 0; done < n;) {
        int c = n - done < b->lim.prefill_chunk ? n - done : b->lim.prefill_chunk;
        FRS_TRY(cpu_target_forward(b, tokens + done, NULL, c, NULL, b->target_len));
        memcpy(b->feat + (size_t)b->target_len * C, b->hidden, (size_t)c * C * sizeof(float));
        b->target_len += c;
        be->target_len = b->target_len;
        done += c;
    }
    return FRS_OK;
}

static enum frs_status cpu_prefill(struct frs_backend *be, const int32_t *tokens, int n)
{
    return cpu_append(cpu_impl(be), be, tokens, n, "prefill");
}

static enum frs_status cpu_decode(struct frs_backend *be, int32_t token)
{
    return cpu_append(cpu_impl(be), be, &token, 1, "decode");
}

static enum frs_status cpu_next_token(struct frs_backend *be, const struct frs_sampling *s, uint64_t draw,
                                      int32_t *out)
{
    struct cpu_backend *b = cpu_impl(be);
    if (b->last_n <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cpu backend next_token: no forward pass yet (prefill first)");
    const struct sampling_shard sh = {
        .logits = b->logits + (size_t)(b->last_n - 1) * b->m->vocab_local,
        .n = 1,
        .vocab_local = b->m->vocab_local,
        .vocab_offset = b->m->vocab_offset,
    };
    if (!s || s->temperature <= 0.0f)
        return sampling_argmax(b->comm, &sh, out);
    struct sampling_row row;
    FRS_TRY(sampling_prepare(b->comm, &sh, s, &row));
    return sampling_draw(b->comm, &sh, s, &row, &draw, NULL, NULL, out);
}

const struct frs_backend_ops frs_backend_cpu_ops = {
    .name = "cpu",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .reset = cpu_reset,
    .prefill = cpu_prefill,
    .decode = cpu_decode,
    .next_token = cpu_next_token,
    .draft_tree = cpu_draft_tree,
    .verify = cpu_verify,
    .commit = cpu_commit,
    .batch = &cpu_batch_ops,
};
