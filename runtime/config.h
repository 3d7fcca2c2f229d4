/* config.h - Hugging Face config.json / generation_config.json of Llama 3, 3.1, 3.2, 3.3 and of
 * EAGLE-2 draft heads, parsed with cJSON into plain structs.
 *
 * Every error names the file and the field ("config.json: field 'num_key_value_heads' ...").
 *
 * The "quantization_config" of config.json (FP8 checkpoints) is parsed on its own by
 * quant_config_load / quant_config_parse, strictly: compressed-tensors "float-quantized" /
 * "naive-quantized" FP8 (weights num_bits 8, type float, symmetric, strategy tensor|channel,
 * static; input activations none, dynamic per token / per tensor or static per tensor) and
 * fbgemm_fp8 (per-row weight scales, dynamic per-token activations clamped by
 * activation_scale_ub); anything else is refused naming the field.
 *
 * defines: struct llama_config, struct generation_config, llama_config_load,
 *          llama_config_parse, generation_config_load, llama_config_print,
 *          enum frs_quant_method, struct frs_quant_scheme, struct frs_quant_config,
 *          quant_config_load, quant_config_parse, quant_config_find, quant_config_free
 */
#ifndef FRSPEC_CONFIG_H
#define FRSPEC_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "status.h"
#include "tensor.h"

#define FRS_MAX_EOS 8

enum frs_rope_type { FRS_ROPE_DEFAULT = 0, FRS_ROPE_LLAMA3 };

struct llama_config {
    int hidden_size;
    int intermediate_size;
    int num_hidden_layers;
    int num_attention_heads;
    int num_key_value_heads; /* = num_attention_heads when absent */
    int head_dim;            /* = hidden_size / num_attention_heads when absent */
    int vocab_size;
    int max_position_embeddings;
    float rms_norm_eps;
    float rope_theta;
    enum frs_rope_type rope_type;
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_position_embeddings;
    bool tie_word_embeddings;
    bool bias;               /* EAGLE heads: "bias" (fc.bias present); Llama: attention_bias/mlp_bias must be false */
    int bos_token_id;        /* -1 when absent */
    int eos_token_ids[FRS_MAX_EOS];
    int n_eos;
    enum frs_dtype torch_dtype; /* declared dtype (informational) */
};

struct generation_config {
    bool present;
    bool do_sample;
    float temperature; /* defaults 1.0 */
    float top_p;       /* defaults 1.0 */
    int top_k;         /* defaults 0 = off */
    int eos_token_ids[FRS_MAX_EOS];
    int n_eos;
};

/* path is the config.json file; errors name it. */
enum frs_status llama_config_load(const char *path, struct llama_config *cfg);
/* Same from a JSON text; name is used in messages. */
enum frs_status llama_config_parse(const char *json, const char *name, struct llama_config *cfg);
/* A missing file is not an error: out->present = false and defaults are set. */
enum frs_status generation_config_load(const char *path, struct generation_config *out);
void llama_config_print(const struct llama_config *cfg, FILE *f);

enum frs_quant_method { FRS_QUANT_NONE = 0, FRS_QUANT_COMPRESSED_TENSORS, FRS_QUANT_FBGEMM_FP8 };

#define FRS_QUANT_MAX_GROUPS 8

/* One FP8 scheme: how a quantized Linear's weight_scale is shaped and its inputs quantized. */
struct frs_quant_scheme {
    int per_row;          /* weight_scale [out, 1] (strategy "channel", fbgemm); else one scale */
    enum frs_fp8_act act; /* input activations */
    char **targets;       /* compressed-tensors: "Linear", module names or "re:" patterns */
    int n_targets;
};

struct frs_quant_config {
    enum frs_quant_method method;
    struct frs_quant_scheme groups[FRS_QUANT_MAX_GROUPS];
    int n_groups;
    char **ignore; /* "ignore" / "modules_to_not_convert": names, ".name" suffixes or "re:" patterns */
    int n_ignore;
    float act_scale_ub; /* fbgemm activation_scale_ub (0: none) */
};

/* path is config.json; no "quantization_config" there: q->method = FRS_QUANT_NONE. */
enum frs_status quant_config_load(const char *path, struct frs_quant_config *q);
enum frs_status quant_config_parse(const char *json, const char *name, struct frs_quant_config *q);
/* The scheme quantizing module (a Linear: "model.layers.3.mlp.up_proj", "lm_head"), NULL when
 * the module stays in its float dtype (no config, ignored, or no group targets it). */
const struct frs_quant_scheme *quant_config_find(const struct frs_quant_config *q, const char *module);
void quant_config_free(struct frs_quant_config *q);

#endif
