/* model.h - the Llama target model as host-side views into mmapped safetensors, already cut to
 * this rank's tensor-parallel shard.
 *
 * Sharding (Megatron style, DESIGN.md section 5): q/k/v by heads and gate/up by rows of the
 * weight (output features); o_proj and down_proj by columns (input features), so each is
 * followed by one all-reduce; the LM head by vocabulary rows. The embedding table is kept whole
 * on every rank: the replicated draft head needs any row of it, and the target's embedding
 * lookup then needs no collective. Views only: a rank touches only the pages of its own slices.
 * Refused with a clear error: tp_size not dividing the heads, KV heads or intermediate size.
 *
 * FP8 checkpoints (config.json quantization_config, config.h): each Linear the config quantizes
 * is an F8_E4M3 view with its weight_scale (and static input_scale) attached (tensor.h); scales
 * per output row are cut with their rows (q/k/v, gate/up, LM head) and kept whole for the
 * input-split o/down. Modules the config leaves out (ignore / modules_to_not_convert, usually
 * lm_head) load as float tensors; embeddings and norms are never quantized.
 *
 * defines: struct llama_layer, struct llama_model, llama_model_load, llama_model_free
 */
#ifndef FRSPEC_MODEL_H
#define FRSPEC_MODEL_H

#include "config.h"
#include "safetensors.h"
#include "status.h"
#include "tensor.h"

/* Shapes with C = hidden, D = head_dim, Hl / KVl = local q / kv heads, Fl = local FFN width. */
struct llama_layer {
    struct frs_mat attn_norm; /* (1, C); data NULL for an EAGLE layer 0 (no input_layernorm) */
    struct frs_mat wq;        /* (Hl*D, C) */
    struct frs_mat wk;        /* (KVl*D, C) */
    struct frs_mat wv;        /* (KVl*D, C) */
    struct frs_mat wo;        /* (C, Hl*D), column block of (C, H*D) */
    struct frs_mat mlp_norm;  /* (1, C) */
    struct frs_mat w_gate;    /* (Fl, C) */
    struct frs_mat w_up;      /* (Fl, C) */
    struct frs_mat w_down;    /* (C, Fl), column block of (C, F) */
};

struct llama_model {
    char *dir;
    struct llama_config cfg;
    struct generation_config gen;
    int tp_rank, tp_size;
    int n_heads_local, n_kv_heads_local; /* heads [tp_rank*n_heads_local, ...) */
    int ffn_local;                       /* intermediate columns [tp_rank*ffn_local, ...) */
    int vocab_local, vocab_offset;       /* LM head rows [vocab_offset, vocab_offset+vocab_local) */
    struct st_set st;
    struct frs_quant_config quant; /* method FRS_QUANT_NONE for a float checkpoint */
    struct frs_mat embed;        /* (V, C) whole table, every rank */
    struct frs_mat lm_head;      /* (Vl, C) this rank's rows (of embed when tied) */
    struct frs_mat lm_head_full; /* (V, C) whole view: FR-Spec gathers its K rows from it */
    struct frs_mat final_norm;   /* (1, C) */
    struct llama_layer *layers;  /* num_hidden_layers */
    int unused_tensors;          /* checkpoint tensors of layers >= num_hidden_layers (not loaded) */
    int checkpoint_layers;       /* layers the checkpoint holds, when more than num_hidden_layers */
};

/* Load config.json, generation_config.json and the safetensors of a Hugging Face Llama
 * directory, cut to shard tp_rank of tp_size. */
enum frs_status llama_model_load(struct llama_model *m, const char *dir, int tp_rank, int tp_size);
void llama_model_free(struct llama_model *m);

/* Vocabulary split used by the LM head: rank r owns [offset, offset+count). Even split rounded
 * up, the last rank may own fewer rows. */
void llama_vocab_shard(int vocab, int tp_rank, int tp_size, int *offset, int *count);

#endif
