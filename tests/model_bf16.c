/* model_bf16.c - see model_bf16.h */
#include "model_bf16.h"

#include <stdlib.h>

#include "tensor.h"

static struct frs_mat to_bf16(struct bf16_copy *bc, const struct frs_mat *m)
{
    struct frs_mat r = *m;
    if (!m->data)
        return r;
    uint16_t *buf = malloc((size_t)m->rows * m->cols * 2);
    float *row = malloc((size_t)m->cols * sizeof(float));
    for (int64_t i = 0; i < m->rows; i++) {
        frs_mat_row_to_f32(m, i, row);
        for (int64_t j = 0; j < m->cols; j++)
            buf[i * m->cols + j] = frs_f32_to_bf16(row[j]);
    }
    free(row);
    bc->bufs[bc->n++] = buf;
    r.dtype = FRS_DTYPE_BF16;
    r.ld = m->cols;
    r.data = buf;
    return r;
}

void model_bf16(const struct llama_model *src, struct llama_model *dst, struct bf16_copy *bc)
{
    *dst = *src;
    bc->n = 0;
    dst->embed = to_bf16(bc, &src->embed);
    dst->lm_head_full = src->lm_head_full.data == src->embed.data ? dst->embed : to_bf16(bc, &src->lm_head_full);
    dst->lm_head = frs_mat_rows(&dst->lm_head_full, src->vocab_offset, src->vocab_local);
    dst->final_norm = to_bf16(bc, &src->final_norm);
    struct llama_layer *ls = calloc((size_t)src->cfg.num_hidden_layers, sizeof *ls);
    for (int l = 0; l < src->cfg.num_hidden_layers; l++) {
        const struct llama_layer *s = &src->layers[l];
        ls[l].attn_norm = to_bf16(bc, &s->attn_norm);
        ls[l].wq = to_bf16(bc, &s->wq);
        ls[l].wk = to_bf16(bc, &s->wk);
        ls[l].wv = to_bf16(bc, &s->wv);
        ls[l].wo = to_bf16(bc, &s->wo);
        ls[l].mlp_norm = to_bf16(bc, &s->mlp_norm);
        ls[l].w_gate = to_bf16(bc, &s->w_gate);
        ls[l].w_up = to_bf16(bc, &s->w_up);
        ls[l].w_down = to_bf16(bc, &s->w_down);
    }
    dst->layers = ls;
    bc->bufs[bc->n++] = ls;
}

void bf16_copy_free(struct bf16_copy *bc)
{
    for (int i = 0; i < bc->n; i++)
        free(bc->bufs[i]);
    bc->n = 0;
}
