/* draft.c - loading the EAGLE-2 draft head (config.json + model.safetensors, published layout)
 * and building its FR-Spec reduced LM head (the K listed rows of the target's LM head, gathered
 * once into an owned buffer).
 *
 * Choices (documented in draft.h):
 * - A directory with pytorch_model.bin and no safetensors file is read as published: the
 *   state_dict is converted in memory (a memfd holding the safetensors bytes, embed_tokens left
 *   out) and opened like a file. `frspec convert-draft` makes that conversion once, for speed.
 * - fc.bias absent = zero, whatever config "bias" says; present = used.
 * - layers.0.input_layernorm.weight, if a file has it, is ignored (EAGLE-2 never applies it to
 *   layer 0); embed_tokens.weight is ignored (the target's embedding is used).
 * - The draft's hidden size and vocabulary must equal the target's; its heads / head_dim /
 *   intermediate size are its own and are checked against its tensors' shapes.
 */
#include "draft.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_write.h" // defines: st_write_sort, st_write_tensors
#include "torchzip.h" // defines: tz_load_state_dict

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* dir/pytorch_model.bin as a safetensors set: its tensors (embed_tokens.weight left out: the
 * target's embedding is used) written to a memfd, which st_open_file maps; messages name the .bin. */
static enum frs_status open_torch_bin(struct st_set *set, const char *bin)
{
    struct tz_state_dict sd;
    FRS_TRY(tz_load_state_dict(&sd, bin));
    enum frs_status st = FRS_OK;
    const struct tz_tensor **ts = malloc(sizeof *ts * (size_t)(sd.n ? sd.n : 1));
    int n = 0, fd = -1;
    if (!ts) {
        st = FRS_ERR(FRS_ERR_OOM, "%s: %d tensors", bin, sd.n);
        goto out;
    }
    for (int i = 0; i < sd.n; i++)
        if (strcmp(sd.tensors[i].name, "embed_tokens.weight"))
            ts[n++] = &sd.tensors[i];
    st_write_sort(ts, n);
    fd = memfd_create("eagle-draft.safetensors", MFD_CLOEXEC);
    if (fd < 0) {
        st = FRS_ERR(FRS_ERR_IO, "%s: memfd_create: %s", bin, strerror(errno));
        goto out;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    size_t total = 0;
    st = st_write_tensors(path, ts, n, &total);
    if (st != FRS_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", frs_error_msg());
        st = FRS_ERR(st, "%s: converting in memory: %s", bin, why);
        goto out;
    }
    FRS_TRY_GOTO(st_open_file(set, path), st, out);
    char *name = malloc(strlen(bin) + 32);
    if (name) { /* messages name the published file */
        sprintf(name, "%s (converted in memory)", bin);
        free(set->files[0].path);
        set->files[0].path = name;
    }
out:
    if (fd >= 0)
        close(fd);
    free(ts);
    tz_state_dict_free(&sd);
    return st;
}

static enum frs_status load_layer(struct eagle_draft *d, const char *cfg_path)
{
    const struct llama_config *c = &d->cfg;
    struct st_set *st = &d->st;
    struct llama_layer *l = &d->layer;
    int64_t C = c->hidden_size, D = c->head_dim, F = c->intermediate_size;
    int64_t H = c->num_attention_heads, KV = c->num_key_value_heads;
    if (C <= 0 || D <= 0 || F <= 0 || H <= 0 || KV <= 0)
        return FRS_ERR(FRS_ERR_FORMAT,
                       "%s: draft head sizes must be positive (hidden_size %lld, head_dim %lld, "
                       "intermediate_size %lld, heads %lld, kv heads %lld)",
                       cfg_path, (long long)C, (long long)D, (long long)F, (long long)H, (long long)KV);
    memset(l, 0, sizeof *l);
    l->attn_norm.dtype = FRS_DTYPE_F32; /* no input_layernorm: data stays NULL */
    FRS_TRY(st_get_mat(st, "layers.0.self_attn.q_proj.weight", H * D, C, &l->wq));
    FRS_TRY(st_get_mat(st, "layers.0.self_attn.k_proj.weight", KV * D, C, &l->wk));
    FRS_TRY(st_get_mat(st, "layers.0.self_attn.v_proj.weight", KV * D, C, &l->wv));
    FRS_TRY(st_get_mat(st, "layers.0.self_attn.o_proj.weight", C, H * D, &l->wo));
    FRS_TRY(st_get_vec(st, "layers.0.post_attention_layernorm.weight", C, &l->mlp_norm));
    FRS_TRY(st_get_mat(st, "layers.0.mlp.gate_proj.weight", F, C, &l->w_gate));
    FRS_TRY(st_get_mat(st, "layers.0.mlp.up_proj.weight", F, C, &l->w_up));
    FRS_TRY(st_get_mat(st, "layers.0.mlp.down_proj.weight", C, F, &l->w_down));
    return FRS_OK;
}

enum frs_status eagle_draft_load(struct eagle_draft *d, const char *dir, const struct llama_model *target)
{
    enum frs_status st = FRS_OK;
    char path[4096];
    memset(d, 0, sizeof *d);
    if (!dir || !target)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "eagle_draft_load: NULL draft directory or target");
    d->dir = strdup(dir);
    if (!d->dir)
        return FRS_ERR(FRS_ERR_OOM, "eagle_draft_load: out of memory");

    snprintf(path, sizeof path, "%s/config.json", dir);
    FRS_TRY_GOTO(llama_config_load(path, &d->cfg), st, fail);
    const struct llama_config *c = &d->cfg, *tc = &target->cfg;
    const char *tdir = target->dir ? target->dir : "target";
    if (c->num_hidden_layers != 1) {
        st = FRS_ERR(FRS_ERR_UNSUPPORTED,
                     "%s: field 'num_hidden_layers' is %d; an EAGLE-2 draft head has exactly 1 layer",
                     path, c->num_hidden_layers);
        goto fail;
    }
    if (c->hidden_size != tc->hidden_size) {
        st = FRS_ERR(FRS_ERR_SHAPE,
                     "%s: field 'hidden_size' is %d but the target's (%s/config.json) is %d: this "
                     "draft head was trained for another model",
                     path, c->hidden_size, tdir, tc->hidden_size);
        goto fail;
    }
    if (c->vocab_size != tc->vocab_size) {
        st = FRS_ERR(FRS_ERR_SHAPE,
                     "%s: field 'vocab_size' is %d but the target's (%s/config.json) is %d: this "
                     "draft head was trained for another vocabulary",
                     path, c->vocab_size, tdir, tc->vocab_size);
        goto fail;
    }
    if (target->lm_head_full.data == NULL || target->lm_head_full.rows != tc->vocab_size ||
        target->lm_head_full.cols != tc->hidden_size) {
        st = FRS_ERR(FRS_ERR_INTERNAL,
                     "eagle_draft_load: the target (%s) has no whole LM head view of %d x %d", tdir,
                     tc->vocab_size, tc->hidden_size);
        goto fail;
    }

    st = st_open_dir(&d->st, dir);
    if (st != FRS_OK) {
        char bin[4096], sft[4096];
        snprintf(bin, sizeof bin, "%s/pytorch_model.bin", dir);
        snprintf(sft, sizeof sft, "%s/model.safetensors", dir);
        if (!file_exists(bin) || file_exists(sft))
            goto fail;
        /* the published file as it is (convert-draft once makes later loads faster) */
        frs_error_clear();
        FRS_TRY_GOTO(open_torch_bin(&d->st, bin), st, fail);
    }

    int64_t C = c->hidden_size;
    FRS_TRY_GOTO(st_get_mat(&d->st, "fc.weight", C, 2 * C, &d->fc), st, fail);
    memset(&d->fc_bias, 0, sizeof d->fc_bias);
    d->fc_bias.dtype = d->fc.dtype;
    if (st_find(&d->st, "fc.bias"))
        FRS_TRY_GOTO(st_get_vec(&d->st, "fc.bias", C, &d->fc_bias), st, fail);
    FRS_TRY_GOTO(load_layer(d, path), st, fail);
    FRS_TRY_GOTO(eagle_draft_set_vocab(d, target, NULL, 0, 0), st, fail);
    return FRS_OK;

fail:
    eagle_draft_free(d);
    return st;
}

static void drop_vocab(struct eagle_draft *d)
{
    free(d->ids);
    free(d->lm_head_rows);
    free(d->lm_head_scales);
    d->ids = NULL;
    d->lm_head_rows = NULL;
    d->lm_head_scales = NULL;
    d->k = 0;
    memset(&d->lm_head, 0, sizeof d->lm_head);
}

enum frs_status eagle_draft_set_vocab(struct eagle_draft *d, const struct llama_model *target,
                                      const int32_t *ids, int n_ids, int k)
{
    if (!d || !target)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "eagle_draft_set_vocab: NULL draft or target");
    const struct frs_mat *full = &target->lm_head_full;
    int V = target->cfg.vocab_size;
    if (full->data == NULL || full->rows != V)
        return FRS_ERR(FRS_ERR_INTERNAL, "eagle_draft_set_vocab: the target has no whole LM head view (%d rows)", V);

    if (ids == NULL) {
        if (k != 0 && k != V)
            return FRS_ERR(FRS_ERR_INVALID_ARG,
                           "FR-Spec vocabulary: no id list given but k = %d (0 or the vocabulary "
                           "size %d means the full vocabulary)", k, V);
        drop_vocab(d);
        d->k = V;
        d->lm_head = *full;
        return FRS_OK;
    }
    if (n_ids <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "FR-Spec vocabulary: the id list is empty");
    if (k < 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "FR-Spec vocabulary: k = %d must not be negative", k);
    if (k > V)
        return FRS_ERR(FRS_ERR_INVALID_ARG,
                       "FR-Spec vocabulary: k = %d is larger than the target's vocabulary (%d)", k, V);
    for (int i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return FRS_ERR(FRS_ERR_INVALID_ARG,
                           "FR-Spec vocabulary: entry %d of the id list is %d, outside the target's "
                           "vocabulary [0, %d)", i, (int)ids[i], V);

    /* first k distinct ids, in list order */
    uint8_t *seen = calloc(((size_t)V + 7) / 8, 1);
    int32_t *sel = malloc(sizeof *sel * (size_t)(k > 0 ? k : n_ids));
    if (!seen || !sel) {
        free(seen);
        free(sel);
        return FRS_ERR(FRS_ERR_OOM, "FR-Spec vocabulary: out of memory");
    }
    int want = k > 0 ? k : n_ids, got = 0;
    for (int i = 0; i < n_ids && got < want; i++) {
        int32_t id = ids[i];
        if (seen[id >> 3] & (1u << (id & 7)))
            continue;
        seen[id >> 3] |= (uint8_t)(1u << (id & 7));
        sel[got++] = id;
    }
    free(seen);
    if (k > 0 && got < k) {
        free(sel);
        return FRS_ERR(FRS_ERR_INVALID_ARG,
                       "FR-Spec vocabulary: k = %d but the list of %d ids holds only %d distinct ids",
                       k, n_ids, got);
    }

    size_t esz = frs_dtype_size(full->dtype);
    size_t row = (size_t)full->cols * esz;
    void *rows = malloc(row * (size_t)got);
    float *scales = NULL; /* an FP8 LM head with a scale per row: the gathered rows' scales */
    if (full->dtype == FRS_DTYPE_F8_E4M3 && full->scale_per_row)
        scales = malloc(sizeof *scales * (size_t)got);
    if (!rows || (full->dtype == FRS_DTYPE_F8_E4M3 && full->scale_per_row && !scales)) {
        free(rows);
        free(scales);
        free(sel);
        return FRS_ERR(FRS_ERR_OOM, "FR-Spec vocabulary: out of memory for %d x %lld LM head rows",
                       got, (long long)full->cols);
    }
    const char *src = full->data;
    for (int j = 0; j < got; j++) {
        memcpy((char *)rows + row * (size_t)j, src + (size_t)sel[j] * (size_t)full->ld * esz, row);
        if (scales)
            scales[j] = frs_mat_scale(full, sel[j]);
    }

    drop_vocab(d);
    d->k = got;
    d->ids = sel;
    d->lm_head_rows = rows;
    d->lm_head_scales = scales;
    d->lm_head = *full; /* dtype, FP8 scale and activation scheme */
    if (scales) {
        d->lm_head.scale = scales;
        d->lm_head.scale_dtype = FRS_DTYPE_F32;
    }
    d->lm_head.rows = got;
    d->lm_head.cols = full->cols;
    d->lm_head.ld = full->cols;
    d->lm_head.data = rows;
    return FRS_OK;
}

void eagle_draft_free(struct eagle_draft *d)
{
    if (!d)
        return;
    drop_vocab(d);
    if (d->st.files || d->st.tensors)
        st_close(&d->st);
    free(d->dir);
    memset(d, 0, sizeof *d);
}
