/* model.c - the Llama target as views into its mmapped safetensors, cut to one TP shard.
 *
 * Loads config.json, generation_config.json (optional) and the safetensors of a Hugging Face
 * directory; looks every tensor up by name with its dtype and full shape checked against the
 * config, then keeps only this rank's slice as a view (model.h says which).
 *
 * Dtypes: each tensor may be F32, F16 or BF16 on its own (struct frs_mat carries its dtype), so a
 * checkpoint with, say, f32 norms and bf16 matrices loads as it is; backends convert per tensor.
 * Integer or other dtypes are refused naming the tensor. FP8 Linears (F8_E4M3 + weight_scale, as
 * config.json's quantization_config says) load through model_get_linear, as strictly.
 */
#include "model.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void llama_vocab_shard(int vocab, int tp_rank, int tp_size, int *offset, int *count)
{
    if (tp_size < 1 || tp_rank < 0 || tp_rank >= tp_size || vocab <= 0) {
        *offset = 0;
        *count = vocab > 0 && tp_size <= 1 ? vocab : 0;
        return;
    }
    long long per = ((long long)vocab + tp_size - 1) / tp_size;
    long long off = per * tp_rank;
    if (off > vocab)
        off = vocab;
    long long cnt = vocab - off < per ? vocab - off : per;
    *offset = (int)off;
    *count = (int)cnt;
}

/* Checked lookup of a full [rows, cols] tensor; on a shape mismatch the message also says which
 * config fields imply the expected shape. */
static enum frs_status model_get_mat(const struct llama_model *m, const char *name, int64_t rows,
                                     int64_t cols, const char *why, struct frs_mat *out)
{
    enum frs_status st = st_get_mat(&m->st, name, rows, cols, out);
    if (st == FRS_ERR_SHAPE) {
        const struct st_tensor_info *t = st_find(&m->st, name);
        char got[64] = "?";
        if (t && t->ndim == 2)
            snprintf(got, sizeof got, "[%lld, %lld]", (long long)t->shape[0], (long long)t->shape[1]);
        else if (t && t->ndim == 1)
            snprintf(got, sizeof got, "[%lld]", (long long)t->shape[0]);
        else if (t)
            snprintf(got, sizeof got, "%d-D", t->ndim);
        return FRS_ERR(FRS_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected [%lld, %lld] (from %s/config.json %s)",
                       st_tensor_path(&m->st, t), name, got, (long long)rows, (long long)cols, m->dir,
                       why);
    }
    return st;
}

static enum frs_status model_get_vec(const struct llama_model *m, const char *name, int64_t n,
                                     struct frs_mat *out)
{
    enum frs_status st = st_get_vec(&m->st, name, n, out);
    if (st == FRS_ERR_SHAPE) {
        const struct st_tensor_info *t = st_find(&m->st, name);
        char got[64] = "?";
        if (t && t->ndim == 1)
            snprintf(got, sizeof got, "[%lld]", (long long)t->shape[0]);
        else if (t && t->ndim == 2)
            snprintf(got, sizeof got, "[%lld, %lld]", (long long)t->shape[0], (long long)t->shape[1]);
        else if (t)
            snprintf(got, sizeof got, "%d-D", t->ndim);
        return FRS_ERR(FRS_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected [%lld] (from %s/config.json hidden_size=%lld)",
                       st_tensor_path(&m->st, t), name, got, (long long)n, m->dir, (long long)n);
    }
    return st;
}

static void model_shape_str(const struct st_tensor_info *t, char *got, size_t n)
{
    size_t k = (size_t)snprintf(got, n, "[");
    for (int i = 0; t && i < t->ndim && k < n; i++)
        k += (size_t)snprintf(got + k, n - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (k < n)
        snprintf(got + k, n - k, "]");
}

static bool model_is_float(enum frs_dtype dt)
{
    return dt == FRS_DTYPE_F32 || dt == FRS_DTYPE_BF16 || dt == FRS_DTYPE_F16;
}

/* A per-tensor scale ([] or [1]) or per-row scale ([rows, 1]) of a float dtype; *out points at it. */
static enum frs_status model_get_scale(const struct llama_model *m, const char *name, const char *weight,
                                       int64_t rows, const char *why, const void **out, enum frs_dtype *dt)
{
    const struct st_tensor_info *t = st_find(&m->st, name);
    if (!t)
        return FRS_ERR(FRS_ERR_MISSING, "%s: tensor '%s' not found: %s/config.json quantization_config makes "
                       "'%s' FP8, which needs it (%s)", m->st.n_files ? m->st.files[0].path : m->dir, name,
                       m->dir, weight, why);
    if (!model_is_float(t->dtype))
        return FRS_ERR(FRS_ERR_DTYPE, "%s: tensor '%s' has dtype %s, expected F32, BF16 or F16",
                       st_tensor_path(&m->st, t), name, t->dtype_name);
    bool ok = rows > 0 ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == 1)
                       : (t->ndim == 0 || (t->ndim == 1 && t->shape[0] == 1));
    if (!ok) {
        char got[96];
        model_shape_str(t, got, sizeof got);
        if (rows > 0)
            return FRS_ERR(FRS_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected [%lld, 1] (%s)",
                           st_tensor_path(&m->st, t), name, got, (long long)rows, why);
        return FRS_ERR(FRS_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected [1] or [] (%s)",
                       st_tensor_path(&m->st, t), name, got, why);
    }
    struct frs_mat v = {.dtype = FRS_DTYPE_F8_E4M3, .scale = t->data, .scale_dtype = t->dtype};
    const int64_t n = rows > 0 ? rows : 1;
    v.scale_per_row = rows > 0;
    for (int64_t r = 0; r < n; r++) {
        float s = frs_mat_scale(&v, r);
        if (!(s > 0) || isinf(s))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s' element %lld is %g; scales must be finite and > 0",
                           st_tensor_path(&m->st, t), name, (long long)r, s);
    }
    *out = t->data;
    *dt = t->dtype;
    return FRS_OK;
}

/* A Linear's full [rows, cols] weight: FP8 with its scales when quantization_config quantizes
 * module, else a float tensor (model_get_mat). */
static enum frs_status model_get_linear(const struct llama_model *m, const char *module, int64_t rows,
                                        int64_t cols, const char *why, struct frs_mat *out)
{
    char name[200];
    snprintf(name, sizeof name, "%s.weight", module);
    const struct frs_quant_scheme *qs = quant_config_find(&m->quant, module);
    const struct st_tensor_info *t = st_find(&m->st, name);
    if (!qs) {
        if (t && t->dtype == FRS_DTYPE_F8_E4M3)
            return FRS_ERR(FRS_ERR_DTYPE, "%s: tensor '%s' is F8_E4M3 but %s/config.json %s", st_tensor_path(&m->st, t),
                           name, m->dir, m->quant.method == FRS_QUANT_NONE
                               ? "has no quantization_config (an FP8 checkpoint must say how it is quantized)"
                               : "quantization_config does not quantize that module (listed as ignored or not targeted)");
        return model_get_mat(m, name, rows, cols, why, out);
    }
    if (!t)
        return model_get_mat(m, name, rows, cols, why, out); /* the missing-tensor message */
    if (t->dtype != FRS_DTYPE_F8_E4M3)
        return FRS_ERR(FRS_ERR_DTYPE, "%s: tensor '%s' has dtype %s but %s/config.json quantization_config "
                       "quantizes '%s': expected F8_E4M3", st_tensor_path(&m->st, t), name, t->dtype_name,
                       m->dir, module);
    if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols) {
        char got[96];
        model_shape_str(t, got, sizeof got);
        return FRS_ERR(FRS_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected [%lld, %lld] (from %s/config.json %s)",
                       st_tensor_path(&m->st, t), name, got, (long long)rows, (long long)cols, m->dir, why);
    }
    memset(out, 0, sizeof *out);
    out->dtype = FRS_DTYPE_F8_E4M3;
    out->rows = rows;
    out->cols = cols;
    out->ld = cols;
    out->data = t->data;
    out->scale_per_row = qs->per_row;
    out->act = qs->act;
    out->act_scale_ub = qs->act == FRS_FP8_ACT_DYNAMIC_TOKEN ? m->quant.act_scale_ub : 0.0f;
    char sname[220], swhy[160];
    snprintf(sname, sizeof sname, "%s.weight_scale", module);
    snprintf(swhy, sizeof swhy, "%s", qs->per_row ? "one scale per output row" : "one scale per tensor");
    FRS_TRY(model_get_scale(m, sname, name, qs->per_row ? rows : 0, swhy, &out->scale, &out->scale_dtype));
    if (qs->act == FRS_FP8_ACT_STATIC) {
        const void *is = NULL;
        enum frs_dtype idt = FRS_DTYPE_F32;
        snprintf(sname, sizeof sname, "%s.input_scale", module);
        FRS_TRY(model_get_scale(m, sname, name, 0, "static input activation scale", &is, &idt));
        struct frs_mat v = {.dtype = FRS_DTYPE_F8_E4M3, .scale = is, .scale_dtype = idt};
        out->input_scale = frs_mat_scale(&v, 0);
    }
    return FRS_OK;
}

static enum frs_status model_check_tp(const struct llama_config *c, const char *dir, int tp_rank, int tp_size)
{
    if (tp_size < 1)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "--tp %d must be >= 1", tp_size);
    if (tp_rank < 0 || tp_rank >= tp_size)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "tensor-parallel rank %d outside [0, %d)", tp_rank, tp_size);
    const struct {
        const char *field;
        int value;
    } parts[] = {
        {"num_key_value_heads", c->num_key_value_heads},
        {"num_attention_heads", c->num_attention_heads},
        {"intermediate_size", c->intermediate_size},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (tp_size > parts[i].value)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "--tp %d exceeds %s=%d in %s/config.json", tp_size,
                           parts[i].field, parts[i].value, dir);
        if (parts[i].value % tp_size != 0)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "--tp %d does not divide %s=%d in %s/config.json",
                           tp_size, parts[i].field, parts[i].value, dir);
    }
    return FRS_OK;
}

static enum frs_status model_load_layer(struct llama_model *m, int i, struct llama_layer *L)
{
    const struct llama_config *c = &m->cfg;
    const int64_t C = c->hidden_size, D = c->head_dim, H = c->num_attention_heads;
    const int64_t KV = c->num_key_value_heads, F = c->intermediate_size;
    const int64_t Hl = m->n_heads_local, KVl = m->n_kv_heads_local, Fl = m->ffn_local;
    const int64_t r = m->tp_rank;
    char name[160], why[160];
    struct frs_mat full;

#define LAYER_NAME(suffix) snprintf(name, sizeof name, "model.layers.%d.%s", i, suffix)
#define MODULE_NAME(suffix) snprintf(name, sizeof name, "model.layers.%d.%s", i, suffix)
    LAYER_NAME("input_layernorm.weight");
    FRS_TRY(model_get_vec(m, name, C, &L->attn_norm));
    LAYER_NAME("post_attention_layernorm.weight");
    FRS_TRY(model_get_vec(m, name, C, &L->mlp_norm));

    MODULE_NAME("self_attn.q_proj");
    snprintf(why, sizeof why, "num_attention_heads=%lld x head_dim=%lld, hidden_size=%lld", (long long)H,
             (long long)D, (long long)C);
    FRS_TRY(model_get_linear(m, name, H * D, C, why, &full));
    L->wq = frs_mat_rows(&full, r * Hl * D, Hl * D);

    snprintf(why, sizeof why, "num_key_value_heads=%lld x head_dim=%lld, hidden_size=%lld",
             (long long)KV, (long long)D, (long long)C);
    MODULE_NAME("self_attn.k_proj");
    FRS_TRY(model_get_linear(m, name, KV * D, C, why, &full));
    L->wk = frs_mat_rows(&full, r * KVl * D, KVl * D);
    MODULE_NAME("self_attn.v_proj");
    FRS_TRY(model_get_linear(m, name, KV * D, C, why, &full));
    L->wv = frs_mat_rows(&full, r * KVl * D, KVl * D);

    MODULE_NAME("self_attn.o_proj");
    snprintf(why, sizeof why, "hidden_size=%lld, num_attention_heads=%lld x head_dim=%lld", (long long)C,
             (long long)H, (long long)D);
    FRS_TRY(model_get_linear(m, name, C, H * D, why, &full));
    L->wo = frs_mat_cols(&full, r * Hl * D, Hl * D);

    snprintf(why, sizeof why, "intermediate_size=%lld, hidden_size=%lld", (long long)F, (long long)C);
    MODULE_NAME("mlp.gate_proj");
    FRS_TRY(model_get_linear(m, name, F, C, why, &full));
    L->w_gate = frs_mat_rows(&full, r * Fl, Fl);
    MODULE_NAME("mlp.up_proj");
    FRS_TRY(model_get_linear(m, name, F, C, why, &full));
    L->w_up = frs_mat_rows(&full, r * Fl, Fl);

    snprintf(why, sizeof why, "hidden_size=%lld, intermediate_size=%lld", (long long)C, (long long)F);
    MODULE_NAME("mlp.down_proj");
    FRS_TRY(model_get_linear(m, name, C, F, why, &full));
    L->w_down = frs_mat_cols(&full, r * Fl, Fl);
#undef LAYER_NAME
#undef MODULE_NAME
    return FRS_OK;
}

enum frs_status llama_model_load(struct llama_model *m, const char *dir, int tp_rank, int tp_size)
{
    memset(m, 0, sizeof *m);
    enum frs_status st = FRS_OK;
    char *path = NULL;
    if (!dir)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "llama_model_load: NULL directory");
    size_t plen = strlen(dir) + 64;
    m->dir = strdup(dir);
    path = malloc(plen);
    if (!m->dir || !path) {
        st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory", dir);
        goto fail;
    }

    snprintf(path, plen, "%s/config.json", dir);
    FRS_TRY_GOTO(llama_config_load(path, &m->cfg), st, fail);
    snprintf(path, plen, "%s/generation_config.json", dir);
    FRS_TRY_GOTO(generation_config_load(path, &m->gen), st, fail);
    snprintf(path, plen, "%s/config.json", dir);
    FRS_TRY_GOTO(quant_config_load(path, &m->quant), st, fail);
    FRS_TRY_GOTO(model_check_tp(&m->cfg, dir, tp_rank, tp_size), st, fail);

    const struct llama_config *c = &m->cfg;
    m->tp_rank = tp_rank;
    m->tp_size = tp_size;
    m->n_heads_local = c->num_attention_heads / tp_size;
    m->n_kv_heads_local = c->num_key_value_heads / tp_size;
    m->ffn_local = c->intermediate_size / tp_size;
    llama_vocab_shard(c->vocab_size, tp_rank, tp_size, &m->vocab_offset, &m->vocab_local);

    FRS_TRY_GOTO(st_open_dir(&m->st, dir), st, fail);

    char why[160];
    snprintf(why, sizeof why, "vocab_size=%d, hidden_size=%d", c->vocab_size, c->hidden_size);
    FRS_TRY_GOTO(model_get_mat(m, "model.embed_tokens.weight", c->vocab_size, c->hidden_size, why, &m->embed),
                 st, fail);
    if (c->tie_word_embeddings) {
        m->lm_head_full = m->embed; /* a stored lm_head.weight, if any, is ignored as transformers does */
    } else {
        if (!st_find(&m->st, "lm_head.weight")) {
            st = FRS_ERR(FRS_ERR_MISSING,
                         "%s: tensor 'lm_head.weight' not found and %s/config.json has tie_word_embeddings=false",
                         m->st.n_files ? m->st.files[0].path : dir, dir);
            goto fail;
        }
        FRS_TRY_GOTO(model_get_linear(m, "lm_head", c->vocab_size, c->hidden_size, why, &m->lm_head_full),
                     st, fail);
    }
    m->lm_head = frs_mat_rows(&m->lm_head_full, m->vocab_offset, m->vocab_local);
    FRS_TRY_GOTO(model_get_vec(m, "model.norm.weight", c->hidden_size, &m->final_norm), st, fail);

    m->layers = calloc((size_t)c->num_hidden_layers, sizeof *m->layers);
    if (!m->layers) {
        st = FRS_ERR(FRS_ERR_OOM, "%s: cannot allocate %d layers", dir, c->num_hidden_layers);
        goto fail;
    }
    for (int i = 0; i < c->num_hidden_layers; i++)
        FRS_TRY_GOTO(model_load_layer(m, i, &m->layers[i]), st, fail);
    /* a config with fewer layers than the checkpoint would run on part of the model: count the
     * layers past num_hidden_layers (the caller warns) */
    for (int t = 0; t < m->st.n_tensors; t++) {
        int layer = -1, used = 0;
        if (sscanf(m->st.tensors[t].name, "model.layers.%d.%n", &layer, &used) == 1 && used > 0 &&
            layer >= c->num_hidden_layers) {
            m->unused_tensors++;
            if (layer + 1 > m->checkpoint_layers)
                m->checkpoint_layers = layer + 1;
        }
    }
    free(path);
    return FRS_OK;
fail:
    free(path);
    llama_model_free(m);
    return st;
}

void llama_model_free(struct llama_model *m)
{
    if (!m)
        return;
    st_close(&m->st);
    quant_config_free(&m->quant);
    free(m->layers);
    free(m->dir);
    memset(m, 0, sizeof *m);
}
