/* config.h - Hugging Face config.json / generation_config.json of Llama 3, 3.1, 3.2, 3.3 and of
 * EAGLE-2 draft heads, parsed with cJSON into plain structs.
 *
 * Every error names the file and the field ("config.json: field 'num_key_value_heads' ...").
 *
 * defines: struct llama_config, struct generation_config, llama_config_load,
 *          llama_config_parse, generation_config_load, llama_config_print
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

#endif
