/* options.h - the options shared by generate and bench: model, draft, FR vocabulary, tree shape,
 * sampling, device, parallelism, with defaults filled from a preset (--config) and the model;
 * and the backend's A/B switches (struct frs_backend_options), read from the FRS_* environment
 * variables here and nowhere else in the product (backend_options_from_env; README lists them).
 *
 * defines: struct gen_options, gen_options_init, gen_options_parse, gen_options_usage,
 *          gen_options_check, gen_options_finish, backend_options_from_env,
 *          backend_options_describe
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
    /* batched decoding (runtime/batch_engine.h), --prompts jobs: */
    int batch;              /* most sequences in flight; 0 = the default for the device */
    int spec_policy;        /* enum frs_spec_policy; -1 = auto when a draft is loaded */
    int kv_blocks;          /* KV pool blocks; 0 = from kv_share */
    int step_tokens;        /* token budget of one engine step (verify rows + prefill); 0 = default */
    float kv_share;         /* share of the memory left after the weights for the pool; 0 = default */
    struct frs_backend_options backend; /* defaults + the FRS_* environment (gen_options_init) */
};

/* Defaults, and o->backend from the environment (backend_options_from_env). */
void gen_options_init(struct gen_options *o);
/* Handle one option at argv[*i] (advancing *i past its value). Returns 1 if handled, 0 if not
 * ours, -1 on a bad value (message printed). */
int gen_options_parse(struct gen_options *o, int argc, char **argv, int *i);
void gen_options_usage(FILE *f);
/* The tree options against the limits every backend accepts, the FR vocabulary size and the
 * context (values not set yet, 0, are skipped): run right after parsing, and again by
 * gen_options_finish once the defaults are known. Prints which option to change; 0 = fine. */
int gen_options_check(const struct gen_options *o);
/* Apply the preset (values the command line did not set) and the model-size defaults; refuses a
 * --max-ctx beyond the model's max_position_embeddings. */
int gen_options_finish(struct gen_options *o, const struct llama_config *target);
/* Read a preset file before parsing the rest (so the command line wins). */
int gen_options_load_preset(struct gen_options *o, const char *path);

/* o = frs_backend_options_default() changed by the environment's A/B switches, each read here
 * only, with the meaning the backends had given them:
 *   FRS_CUDA_GRAPHS=0    cuda_graphs = 0      (no CUDA graphs for decode, draft, verify)
 *   FRS_HOST_SAMPLING=1  device_sampling = 0  (temperature > 0 sampled on the host)
 *   FRS_HOST_ACCEPT=1    device_accept = 0    (the acceptance walk on the host)
 *   FRS_ATT_MMA=0        attention = FRS_ATTN_CUDA_CORES; =1: FRS_ATTN_MMA_BF16
 *   FRS_PDL=0            pdl = 0              (no programmatic dependent launch)
 *   FRS_CUBLASLT=0       cublaslt = 0         (cublasGemmEx only); =h: 2 (cuBLASLt's heuristic choice,
 *                                             untimed); =p: 3 (timed at every row count, none reused)
 *   FRS_FP8_MMA=0 / =1   fp8_mma = 0 / 1      (FP8 weights at n = 2..64: dequantize + bf16 GEMM / the
 *                                             tensor-core kernel unsplit); =2: split-K; =5: the pipelined
 *                                             kernel (default 4) with the integer e4m3 -> bf16
 *                                             conversion; =6 / =7: 4 / 5 with the K splits reduced in
 *                                             thread block clusters
 *   FRS_FP8_GEMV=8       fp8_gemv_unroll = 8  (the FP8 GEMV's loads in flight per lane; default 4)
 *   FRS_BATCH_ATT_MMA=0  batch_att_mma = 0    (the batched tree / prefill rows on the CUDA-core
 *                                             paged attention); =1: the decode steps on the CUDA-core
 *                                             kernel; =2: on tensor cores, the warp split without
 *                                             the K/V ring (default 3: with it)
 *   FRS_ATT_COMBINE=w    att_combine_warp = 1 (the attention's split combine as a warp per output row)
 *   FRS_BATCH_ATT_TERMS=2 batch_att_terms = 2 (the batched tree / prefill rows' tensor-core attention with
 *                                             two bf16 terms of q and P instead of three)
 *   FRS_BATCH_DRAFT=h    batch_draft_dev = 0  (the batched draft's trees built on the host, one read-back
 *                                             a depth; default d: on the device, one read-back a draft)
 *   FRS_L2_PREFETCH=N    l2_prefetch = N      (N 0-7: the decode's L2 prefetches of the next weights, bits 1 o,
 *                                             2 qkv, 4 the gate/up prefix; default 0)
 *   FRS_ROW_KERNELS=1    row_kernels = 1      (RMSNorm, SwiGLU and the paged RoPE write in their launch
 *                                             shapes before 2026-12-07; default 2: vectorized)
 * A value is read by its first character ("0..." / "1..."), as before; anything else keeps the
 * default. */
void backend_options_from_env(struct frs_backend_options *o);
/* The fields that differ from the defaults as "name=value, ..." ("defaults" when none), in buf. */
const char *backend_options_describe(const struct frs_backend_options *o, char *buf, size_t n);

#endif
