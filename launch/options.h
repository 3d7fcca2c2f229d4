/* options.h - the options shared by generate and bench: model, draft, FR vocabulary, tree shape,
 * sampling, device, parallelism, with defaults filled from a preset (--config) and the model.
 *
 * defines: struct gen_options, gen_options_init, gen_options_parse, gen_options_usage,
 *          gen_options_finish
 */
#ifndef FRSPEC_OPTIONS_H
#define FRSPEC_OPTIONS_H

#include <stdio.h>

#include "backend.h"

struct llama_config;

struct gen_options {
    const char *model_dir;
    const char *tokenizer;  /* tokenizer.json; NULL = model_dir/tokenizer.json */
    const char *draft_dir;  /* NULL: autoregressive */
    const char *fr_vocab;   /* NULL: full vocabulary */
    int fr_vocab_size;      /* 0: all ids of the list */
    int no_draft;
    struct frs_tree_params tree; /* 0 = default for the model size */
    struct frs_sampling sampling;
    const char *device;     /* "cpu", "cuda" or NULL = cuda when a GPU is present */
    int tp;                 /* 0 = the MPI world size */
    int max_ctx;            /* 0 = min(max_position_embeddings, 8192) */
    int prefill_chunk;
    int max_new_tokens;
    const char *config;     /* preset JSON */
    int fp8_act_quant;      /* --fp8-activations quant (1) | dequant (0, default): see backend.h */
};

void gen_options_init(struct gen_options *o);
/* Handle one option at argv[*i] (advancing *i past its value). Returns 1 if handled, 0 if not
 * ours, -1 on a bad value (message printed). */
int gen_options_parse(struct gen_options *o, int argc, char **argv, int *i);
void gen_options_usage(FILE *f);
/* Apply the preset (values the command line did not set) and the model-size defaults. */
int gen_options_finish(struct gen_options *o, const struct llama_config *target);
/* Read a preset file before parsing the rest (so the command line wins). */
int gen_options_load_preset(struct gen_options *o, const char *path);

#endif
