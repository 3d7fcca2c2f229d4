/* draft.h - the EAGLE-2 draft head, replicated on every rank, and its FR-Spec reduced LM head.
 *
 * Published layout (yuhuili/EAGLE-LLaMA3-Instruct-8B): config.json (Llama fields, 1 layer,
 * "bias"), model.safetensors (or pytorch_model.bin converted by `frspec convert-draft`) with
 * fc.weight (C, 2C), optional fc.bias (C), layers.0.self_attn.{q,k,v,o}_proj.weight,
 * layers.0.mlp.{gate,up,down}_proj.weight, layers.0.post_attention_layernorm.weight. No
 * input_layernorm, no final norm; the target's embedding and LM head are used.
 * Draft cell: x = fc(cat(embed(t_{i+1}), f_i)) -> decoder layer without input norm -> LM head
 * over the K listed ids -> log-softmax over those K -> top-k -> full ids.
 *
 * defines: struct eagle_draft, eagle_draft_load, eagle_draft_set_vocab, eagle_draft_free
 */
#ifndef FRSPEC_DRAFT_H
#define FRSPEC_DRAFT_H

#include <stdint.h>

#include "config.h"
#include "model.h"
#include "safetensors.h"
#include "status.h"
#include "tensor.h"

struct eagle_draft {
    char *dir;
    struct llama_config cfg;
    struct st_set st;
    struct frs_mat fc;        /* (C, 2C): input = [embed | feature] */
    struct frs_mat fc_bias;   /* (1, C); data NULL when absent (zero) */
    struct llama_layer layer; /* whole (not sharded); attn_norm.data == NULL */
    /* FR-Spec: the reduced LM head */
    int k;                    /* rows of lm_head; = vocab_size for plain EAGLE-2 */
    int32_t *ids;             /* (k) full token ids, most frequent first; NULL for the full vocab */
    void *lm_head_rows;       /* owned gathered copy (k, C) in the target's dtype; NULL for full */
    float *lm_head_scales;    /* owned (k) per-row FP8 scales of those rows (an FP8 LM head), else NULL */
    struct frs_mat lm_head;   /* (k, C): over lm_head_rows, or the target's lm_head_full */
};

/* Load a draft head directory and check it against the target (hidden size, heads, vocab). */
enum frs_status eagle_draft_load(struct eagle_draft *d, const char *dir, const struct llama_model *target);
/* Use the first k distinct ids (ids may be NULL for the full vocabulary): gathers the k rows of
 * the target's LM head once. Errors: empty list, id out of range, k > vocab.
 * k = 0 with a list: every distinct id of the list. Later duplicates are skipped (published
 * freq_K.pt files can hold K+1 or K+2 entries with repeats); fewer than k distinct ids is an
 * error. Every entry of the list is range-checked, also those after the first k distinct.
 * Loading: a directory with only pytorch_model.bin is refused with the `frspec convert-draft`
 * command to run; fc.bias absent = zero; layers.0.input_layernorm.weight, if present, is ignored
 * (EAGLE-2 never applies it); the draft's hidden_size and vocab_size must equal the target's. */
enum frs_status eagle_draft_set_vocab(struct eagle_draft *d, const struct llama_model *target,
                                      const int32_t *ids, int n_ids, int k);
void eagle_draft_free(struct eagle_draft *d);

#endif
