/* synthetic.c - synthetic Llama / EAGLE-2 models of the real shapes for benchmarks (see
 * synthetic.h): shapes and views only; the CUDA backend fills the weights on the device. */
#include "synthetic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const unsigned char frs_synthetic_data[FRS_SYNTH_COUNT];

struct synth_shape {
    const char *name;
    int C, F, L, H, KV, D, V, tied;
    float rope_theta, rope_factor;
    int rope_llama3, max_pos;
};

static const struct synth_shape synth_shapes[] = {
    {"llama3.2-1b", 2048, 8192, 16, 32, 8, 64, 128256, 1, 500000.0f, 32.0f, 1, 131072},
    {"llama3-8b", 4096, 14336, 32, 32, 8, 128, 128256, 0, 500000.0f, 1.0f, 0, 8192},
    {"llama3-70b", 8192, 28672, 80, 64, 8, 128, 128256, 0, 500000.0f, 1.0f, 0, 8192},
};

static struct frs_mat synth_mat(int kind, int64_t rows, int64_t cols)
{
    return (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = rows, .cols = cols, .ld = cols, .data = &frs_synthetic_data[kind]};
}

enum frs_status llama_model_synthetic(struct llama_model *m, const char *preset, int tp_rank, int tp_size)
{
    memset(m, 0, sizeof *m);
    const struct synth_shape *s = NULL;
    for (size_t i = 0; i < sizeof synth_shapes / sizeof synth_shapes[0]; i++)
        if (!strcmp(preset, synth_shapes[i].name))
            s = &synth_shapes[i];
    if (!s)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "synthetic model: unknown preset '%s' (known: llama3.2-1b, llama3-8b, "
                       "llama3-70b)", preset);
    if (tp_size < 1 || tp_rank < 0 || tp_rank >= tp_size || s->H % tp_size || s->KV % tp_size || s->F % tp_size)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "synthetic model %s: tp_size %d (rank %d) must divide heads %d, KV heads "
                       "%d and FFN width %d", preset, tp_size, tp_rank, s->H, s->KV, s->F);
    struct llama_config *c = &m->cfg;
    c->hidden_size = s->C;
    c->intermediate_size = s->F;
    c->num_hidden_layers = s->L;
    c->num_attention_heads = s->H;
    c->num_key_value_heads = s->KV;
    c->head_dim = s->D;
    c->vocab_size = s->V;
    c->max_position_embeddings = s->max_pos;
    c->rms_norm_eps = 1e-5f;
    c->rope_theta = s->rope_theta;
    c->rope_type = s->rope_llama3 ? FRS_ROPE_LLAMA3 : FRS_ROPE_DEFAULT;
    c->rope_factor = s->rope_factor;
    c->rope_low_freq_factor = 1.0f;
    c->rope_high_freq_factor = 4.0f;
    c->rope_original_max_position_embeddings = 8192;
    c->tie_word_embeddings = s->tied;
    c->bos_token_id = 128000;
    c->eos_token_ids[0] = 128001;
    c->n_eos = 1;
    c->torch_dtype = FRS_DTYPE_BF16;
    size_t dl = strlen(preset) + 16;
    m->dir = malloc(dl);
    m->layers = calloc((size_t)s->L, sizeof *m->layers);
    if (!m->dir || !m->layers) {
        llama_model_free(m);
        return FRS_ERR(FRS_ERR_OOM, "synthetic model: out of host memory");
    }
    snprintf(m->dir, dl, "synthetic:%s", preset);
    m->tp_rank = tp_rank;
    m->tp_size = tp_size;
    m->n_heads_local = s->H / tp_size;
    m->n_kv_heads_local = s->KV / tp_size;
    m->ffn_local = s->F / tp_size;
    llama_vocab_shard(s->V, tp_rank, tp_size, &m->vocab_offset, &m->vocab_local);
    const int Hl = m->n_heads_local, KVl = m->n_kv_heads_local, Fl = m->ffn_local, D = s->D, C = s->C;
    m->embed = synth_mat(FRS_SYNTH_EMBED, s->V, C);
    m->lm_head_full = s->tied ? m->embed : synth_mat(FRS_SYNTH_LM_HEAD, s->V, C);
    m->lm_head = frs_mat_rows(&m->lm_head_full, m->vocab_offset, m->vocab_local);
    m->final_norm = synth_mat(FRS_SYNTH_NORM, 1, C);
    for (int l = 0; l < s->L; l++) {
        struct llama_layer *ly = &m->layers[l];
        ly->attn_norm = synth_mat(FRS_SYNTH_NORM, 1, C);
        ly->wq = synth_mat(FRS_SYNTH_MATRIX, (int64_t)Hl * D, C);
        ly->wk = synth_mat(FRS_SYNTH_MATRIX, (int64_t)KVl * D, C);
        ly->wv = synth_mat(FRS_SYNTH_MATRIX, (int64_t)KVl * D, C);
        ly->wo = synth_mat(FRS_SYNTH_MATRIX, C, (int64_t)Hl * D);
        ly->mlp_norm = synth_mat(FRS_SYNTH_NORM, 1, C);
        ly->w_gate = synth_mat(FRS_SYNTH_MATRIX, Fl, C);
        ly->w_up = synth_mat(FRS_SYNTH_MATRIX, Fl, C);
        ly->w_down = synth_mat(FRS_SYNTH_MATRIX, C, Fl);
    }
    return FRS_OK;
}

void llama_model_synthetic_fp8(struct llama_model *m)
{
    for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
        struct llama_layer *ly = &m->layers[l];
        struct frs_mat *w[] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->w_gate, &ly->w_up, &ly->w_down};
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
            w[i]->dtype = FRS_DTYPE_F8_E4M3;
            w[i]->scale_per_row = 1; /* scale NULL: filled on the device with the weights */
        }
    }
}

enum frs_status eagle_draft_synthetic(struct eagle_draft *d, const struct llama_model *t, int k)
{
    memset(d, 0, sizeof *d);
    if (frs_synthetic_kind(t->embed.data) < 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "synthetic draft: the target %s is not synthetic", t->dir ? t->dir : "?");
    const struct llama_config *tc = &t->cfg;
    const int C = tc->hidden_size, H = tc->num_attention_heads, KV = tc->num_key_value_heads, D = tc->head_dim,
              F = tc->intermediate_size, V = tc->vocab_size;
    d->cfg = *tc;
    d->cfg.num_hidden_layers = 1;
    d->dir = malloc(strlen(t->dir) + 16);
    if (!d->dir)
        return FRS_ERR(FRS_ERR_OOM, "synthetic draft: out of host memory");
    sprintf(d->dir, "%s:eagle", t->dir);
    d->fc = synth_mat(FRS_SYNTH_MATRIX, C, 2 * (int64_t)C);
    d->layer.wq = synth_mat(FRS_SYNTH_MATRIX, (int64_t)H * D, C);
    d->layer.wk = synth_mat(FRS_SYNTH_MATRIX, (int64_t)KV * D, C);
    d->layer.wv = synth_mat(FRS_SYNTH_MATRIX, (int64_t)KV * D, C);
    d->layer.wo = synth_mat(FRS_SYNTH_MATRIX, C, (int64_t)H * D);
    d->layer.mlp_norm = synth_mat(FRS_SYNTH_NORM, 1, C);
    d->layer.w_gate = synth_mat(FRS_SYNTH_MATRIX, F, C);
    d->layer.w_up = synth_mat(FRS_SYNTH_MATRIX, F, C);
    d->layer.w_down = synth_mat(FRS_SYNTH_MATRIX, C, F);
    if (k <= 0 || k >= V) {
        d->k = V;
        d->lm_head = t->lm_head_full;
        return FRS_OK;
    }
    d->k = k;
    d->ids = malloc((size_t)k * sizeof *d->ids);
    if (!d->ids) {
        eagle_draft_free(d);
        return FRS_ERR(FRS_ERR_OOM, "synthetic draft: out of host memory");
    }
    /* a fixed permutation of the vocabulary: 7919 is prime and does not divide 128256 */
    for (int i = 0; i < k; i++)
        d->ids[i] = (int32_t)(((int64_t)i * 7919 + 13) % V);
    d->lm_head = synth_mat(FRS_SYNTH_DRAFT_HEAD, k, C);
    return FRS_OK;
}
