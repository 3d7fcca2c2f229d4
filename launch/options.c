/* options.c - parsing of the options generate and bench share, presets (JSON files in configs/),
 * and the backend's A/B switches from the FRS_* environment variables (the one place the product
 * reads them). A preset's string values may name environment variables as ${NAME}. */
#include "options.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_engine.h"
#include "cli.h"
#include "config.h"

void gen_options_init(struct gen_options *o)
{
    memset(o, 0, sizeof *o);
    o->sampling.temperature = 0.0f;
    o->sampling.top_p = 1.0f;
    o->sampling.top_k = 0;
    o->sampling.seed = 0;
    o->max_new_tokens = 128;
    o->prefill_chunk = 256;
    o->spec_policy = -1;
    o->backend = frs_backend_options_default();
    backend_options_from_env(&o->backend);
}

/* first character of an FRS_* variable, '\0' when unset or empty */
static char env_first(const char *name)
{
    const char *v = getenv(name);
    return v ? v[0] : '\0';
}

void backend_options_from_env(struct frs_backend_options *o)
{
    if (env_first("FRS_CUDA_GRAPHS") == '0')
        o->cuda_graphs = 0;
    if (env_first("FRS_HOST_SAMPLING") == '1')
        o->device_sampling = 0;
    if (env_first("FRS_HOST_ACCEPT") == '1')
        o->device_accept = 0;
    const char a = env_first("FRS_ATT_MMA");
    if (a == '0')
        o->attention = FRS_ATTN_CUDA_CORES;
    else if (a == '1')
        o->attention = FRS_ATTN_MMA_BF16;
    if (env_first("FRS_PDL") == '0')
        o->pdl = 0;
    const char lt = env_first("FRS_CUBLASLT");
    if (lt == '0' || lt == 'h' || lt == 'p')
        o->cublaslt = lt == '0' ? 0 : lt == 'h' ? 2 : 3;
    const char f8 = env_first("FRS_FP8_MMA");
    if (f8 == '0' || f8 == '1' || f8 == '2' || (f8 >= '4' && f8 <= '7'))
        o->fp8_mma = f8 - '0';
    if (env_first("FRS_FP8_GEMV") == '8')
        o->fp8_gemv_unroll = 8;
    const char bm = env_first("FRS_BATCH_ATT_MMA");
    if (bm >= '0' && bm <= '3')
        o->batch_att_mma = bm - '0';
    if (env_first("FRS_ATT_COMBINE") == 'w')
        o->att_combine_warp = 1;
    if (env_first("FRS_BATCH_ATT_TERMS") == '2')
        o->batch_att_terms = 2;
    const char bd = env_first("FRS_BATCH_DRAFT");
    if (bd == 'd' || bd == 'h')
        o->batch_draft_dev = bd == 'd';
    const char pf = env_first("FRS_L2_PREFETCH");
    if (pf >= '0' && pf <= '7')
        o->l2_prefetch = pf - '0';
    if (env_first("FRS_ROW_KERNELS") == '1')
        o->row_kernels = 1;
    const char *hang = getenv("FRS_TEST_GPU_HANG_STEP"); /* test hook: tests/cli/gpu_hang.sh */
    if (hang && atoi(hang) > 0)
        o->test_hang_step = atoi(hang);
}

const char *backend_options_describe(const struct frs_backend_options *o, char *buf, size_t n)
{
    const struct frs_backend_options d = frs_backend_options_default();
    static const char *attn[] = {"auto", "cuda-cores", "mma-bf16"};
    size_t k = 0;
    buf[0] = '\0';
#define DESCRIBE(cond, ...)                                                   \
    do {                                                                      \
        if ((cond) && k < n) {                                                \
            k += (size_t)snprintf(buf + k, n - k, "%s", k ? ", " : "");       \
            if (k < n)                                                        \
                k += (size_t)snprintf(buf + k, n - k, __VA_ARGS__);           \
        }                                                                     \
    } while (0)
    DESCRIBE(o->cuda_graphs != d.cuda_graphs, "cuda_graphs=%d", o->cuda_graphs);
    DESCRIBE(o->device_sampling != d.device_sampling, "device_sampling=%d", o->device_sampling);
    DESCRIBE(o->device_accept != d.device_accept, "device_accept=%d", o->device_accept);
    DESCRIBE(o->attention != d.attention, "attention=%s",
             (unsigned)o->attention < sizeof attn / sizeof attn[0] ? attn[o->attention] : "?");
    DESCRIBE(o->pdl != d.pdl, "pdl=%d", o->pdl);
    DESCRIBE(o->cublaslt != d.cublaslt, "cublaslt=%d", o->cublaslt);
    DESCRIBE(o->fp8_act_quant != d.fp8_act_quant, "fp8_act_quant=%d", o->fp8_act_quant);
    DESCRIBE(o->fp8_mma != d.fp8_mma, "fp8_mma=%d", o->fp8_mma);
    DESCRIBE(o->fp8_gemv_unroll != d.fp8_gemv_unroll, "fp8_gemv_unroll=%d", o->fp8_gemv_unroll);
    DESCRIBE(o->batch_att_mma != d.batch_att_mma, "batch_att_mma=%d", o->batch_att_mma);
    DESCRIBE(o->att_combine_warp != d.att_combine_warp, "att_combine_warp=%d", o->att_combine_warp);
    DESCRIBE(o->batch_att_terms != d.batch_att_terms, "batch_att_terms=%d", o->batch_att_terms);
    DESCRIBE(o->batch_draft_dev != d.batch_draft_dev, "batch_draft_dev=%d", o->batch_draft_dev);
    DESCRIBE(o->l2_prefetch != d.l2_prefetch, "l2_prefetch=%d", o->l2_prefetch);
    DESCRIBE(o->row_kernels != d.row_kernels, "row_kernels=%d", o->row_kernels);
#undef DESCRIBE
    if (!buf[0])
        snprintf(buf, n, "defaults");
    return buf;
}

void gen_options_usage(FILE *f)
{
    fprintf(f,
            "model and draft:\n"
            "  --model DIR            Hugging Face Llama directory (config.json, *.safetensors, tokenizer.json)\n"
            "  --tokenizer FILE       tokenizer.json to use instead of DIR/tokenizer.json\n"
            "  --draft DIR            EAGLE-2 draft head directory: speculative decoding\n"
            "  --fr-vocab FILE        FR-Spec token list (freq_K.pt or text, one id a line)\n"
            "  --fr-vocab-size K      use the first K distinct ids of the list (default: all)\n"
            "  --no-draft             autoregressive even when a preset names a draft\n"
            "  --tree-depth D         draft forwards per iteration (default 6 for hidden >= 4096, else 3)\n"
            "  --tree-topk k          children per node (default 10)\n"
            "  --tree-size N          tree tokens incl. the root (default 60 for hidden >= 4096, else 30)\n"
            "  --config FILE          preset (configs/*.json); command-line options win\n"
            "sampling:\n"
            "  --temperature T        0 = greedy (default 0)\n"
            "  --top-p P              nucleus sampling (default 1 = off)\n"
            "  --top-k K              (default 0 = off)\n"
            "  --seed S               (default 0); results are reproducible and TP-independent\n"
            "  --max-new-tokens N     (default 128)\n"
            "execution:\n"
            "  --device cpu|cuda      (default cuda when a GPU is present)\n"
            "  --tp N                 tensor-parallel degree = number of MPI ranks (mpirun -np N)\n"
            "  --max-ctx N            KV cache length (default min(max_position_embeddings, 8192))\n"
            "  --prefill-chunk N      tokens per prefill forward of one prompt (default 256; --prompts\n"
            "                         jobs prefill every pending prompt in one forward per step, by --step-tokens)\n"
            "  --fp8-activations dequant|quant\n"
            "                         FP8 checkpoints whose format quantizes activations (FP8-dynamic,\n"
            "                         fbgemm_fp8, static input_scale): dequant (default) keeps activations\n"
            "                         in full precision, quant quantizes them as the format prescribes\n"
            "                         (CPU backend)\n"
            "batched decoding (--prompts jobs):\n"
            "  --batch N              most sequences in flight (default: 8 on the CPU, 64 on a GPU)\n"
            "  --spec-policy P        auto | fixed | off: per-step tree size chosen for throughput, the\n"
            "                         given tree always, or no speculation (default auto with a draft)\n"
            "  --step-tokens N        tokens one step may compute, verify rows plus prefill chunks of new\n"
            "                         prompts (default: the larger of the verify rows and 2048 on a GPU,\n"
            "                         512 on the CPU)\n"
            "  --kv-blocks N          paged KV pool size in blocks of 16 positions (default: from --kv-share)\n"
            "  --kv-share F           share of the memory left after the weights for the pool (default 0.5\n"
            "                         on the CPU, 0.9 on a GPU)\n");
}

#define TAKE_VALUE()                                                              \
    do {                                                                          \
        if (*i + 1 >= argc) {                                                     \
            fprintf(stderr, "frspec: %s needs a value\n", a);                      \
            return -1;                                                            \
        }                                                                         \
        v = argv[++*i];                                                           \
    } while (0)

int gen_options_parse(struct gen_options *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v = NULL;
    float fv;
    if (!strcmp(a, "--model")) { TAKE_VALUE(); o->model_dir = v; return 1; }
    if (!strcmp(a, "--tokenizer")) { TAKE_VALUE(); o->tokenizer = v; return 1; }
    if (!strcmp(a, "--draft")) { TAKE_VALUE(); o->draft_dir = v; return 1; }
    if (!strcmp(a, "--fr-vocab")) { TAKE_VALUE(); o->fr_vocab = v; return 1; }
    if (!strcmp(a, "--fr-vocab-size")) { TAKE_VALUE(); return cli_parse_int(a, v, 1, 1 << 30, &o->fr_vocab_size) ? -1 : 1; }
    if (!strcmp(a, "--no-draft")) { o->no_draft = 1; return 1; }
    /* the limits every backend accepts (backend.h), checked here rather than after loading */
    if (!strcmp(a, "--tree-depth")) { TAKE_VALUE(); return cli_parse_int(a, v, 1, FRS_MAX_TREE_DEPTH, &o->tree.depth) ? -1 : 1; }
    if (!strcmp(a, "--tree-topk")) { TAKE_VALUE(); return cli_parse_int(a, v, 1, FRS_MAX_TREE_TOPK, &o->tree.topk) ? -1 : 1; }
    if (!strcmp(a, "--tree-size")) { TAKE_VALUE(); return cli_parse_int(a, v, 2, FRS_MAX_TREE, &o->tree.size) ? -1 : 1; }
    if (!strcmp(a, "--temperature")) { TAKE_VALUE(); if (cli_parse_float(a, v, 0, 100, &fv)) return -1; o->sampling.temperature = fv; return 1; }
    if (!strcmp(a, "--top-p")) { TAKE_VALUE(); if (cli_parse_float(a, v, 1e-6, 1, &fv)) return -1; o->sampling.top_p = fv; return 1; }
    if (!strcmp(a, "--top-k")) { TAKE_VALUE(); return cli_parse_int(a, v, 0, 1 << 30, &o->sampling.top_k) ? -1 : 1; }
    if (!strcmp(a, "--seed")) {
        unsigned long long s;
        TAKE_VALUE();
        if (cli_parse_u64(a, v, &s))
            return -1;
        o->sampling.seed = s;
        return 1;
    }
    if (!strcmp(a, "--max-new-tokens")) { TAKE_VALUE(); return cli_parse_int(a, v, 0, 1 << 24, &o->max_new_tokens) ? -1 : 1; }
    if (!strcmp(a, "--device")) {
        TAKE_VALUE();
        if (strcmp(v, "cpu") && strcmp(v, "cuda")) {
            fprintf(stderr, "frspec: --device expects cpu or cuda, got '%s'\n", v);
            return -1;
        }
        o->device = v;
        return 1;
    }
    if (!strcmp(a, "--tp")) { TAKE_VALUE(); return cli_parse_int(a, v, 1, 4096, &o->tp) ? -1 : 1; }
    if (!strcmp(a, "--max-ctx")) { TAKE_VALUE(); return cli_parse_int(a, v, 16, 1 << 22, &o->max_ctx) ? -1 : 1; }
    if (!strcmp(a, "--step-tokens")) { TAKE_VALUE(); return cli_parse_int(a, v, 1, 1 << 20, &o->step_tokens) ? -1 : 1; }
    if (!strcmp(a, "--prefill-chunk")) { TAKE_VALUE(); return cli_parse_int(a, v, 1, 1 << 16, &o->prefill_chunk) ? -1 : 1; }
    if (!strcmp(a, "--batch")) { TAKE_VALUE(); return cli_parse_int(a, v, 1, 4096, &o->batch) ? -1 : 1; }
    if (!strcmp(a, "--kv-blocks")) { TAKE_VALUE(); return cli_parse_int(a, v, 1, 1 << 30, &o->kv_blocks) ? -1 : 1; }
    if (!strcmp(a, "--kv-share")) { TAKE_VALUE(); if (cli_parse_float(a, v, 1e-3, 1, &fv)) return -1; o->kv_share = fv; return 1; }
    if (!strcmp(a, "--spec-policy")) {
        TAKE_VALUE();
        enum frs_spec_policy sp;
        if (batch_policy_parse(v, &sp) != FRS_OK) {
            fprintf(stderr, "frspec: --spec-policy expects auto, fixed or off, got '%s'\n", v);
            frs_error_clear();
            return -1;
        }
        o->spec_policy = (int)sp;
        return 1;
    }
    if (!strcmp(a, "--config")) { TAKE_VALUE(); return gen_options_load_preset(o, v) ? -1 : 1; }
    if (!strcmp(a, "--fp8-activations")) {
        TAKE_VALUE();
        if (strcmp(v, "dequant") && strcmp(v, "quant")) {
            fprintf(stderr, "frspec: --fp8-activations expects dequant or quant, got '%s'\n", v);
            return -1;
        }
        o->backend.fp8_act_quant = !strcmp(v, "quant");
        return 1;
    }
    return 0;
}

/* ${NAME} expansion; the result is leaked on purpose (lives as long as the options). */
static const char *expand_env(const char *s, const char *file, const char *key)
{
    size_t cap = strlen(s) + 1;
    char *out = malloc(cap);
    size_t n = 0;
    if (!out)
        return s;
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p, '}');
            if (end) {
                char name[128];
                size_t ln = (size_t)(end - p - 2);
                if (ln >= sizeof name)
                    ln = sizeof name - 1;
                memcpy(name, p + 2, ln);
                name[ln] = '\0';
                const char *val = getenv(name);
                if (!val) {
                    fprintf(stderr, "frspec: %s: '%s' uses ${%s}, which is not set in the environment\n", file, key, name);
                    val = "";
                }
                size_t lv = strlen(val);
                char *nb = realloc(out, cap += lv);
                if (!nb)
                    return s;
                out = nb;
                memcpy(out + n, val, lv);
                n += lv;
                p = end + 1;
                continue;
            }
        }
        out[n++] = *p++;
    }
    out[n] = '\0';
    return out;
}

int gen_options_load_preset(struct gen_options *o, const char *path)
{
    char *text;
    if (cli_read_file(path, &text, NULL) != FRS_OK)
        return cli_fail("--config");
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j || !cJSON_IsObject(j)) {
        fprintf(stderr, "frspec: --config %s: not a JSON object\n", path);
        cJSON_Delete(j);
        return 1;
    }
    struct { const char *key; const char **dst; } strs[] = {
        {"model_dir", &o->model_dir}, {"tokenizer", &o->tokenizer}, {"draft_dir", &o->draft_dir}, {"fr_vocab", &o->fr_vocab}, {"device", &o->device}};
    struct { const char *key; int *dst; } ints[] = {
        {"fr_vocab_size", &o->fr_vocab_size}, {"tp", &o->tp}, {"tree_depth", &o->tree.depth},
        {"tree_topk", &o->tree.topk}, {"tree_size", &o->tree.size}, {"max_ctx", &o->max_ctx},
        {"max_new_tokens", &o->max_new_tokens}, {"prefill_chunk", &o->prefill_chunk},
        {"step_tokens", &o->step_tokens}};
    int bad = 0;
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++) {
        cJSON *it = cJSON_GetObjectItemCaseSensitive(j, strs[k].key);
        if (!it || cJSON_IsNull(it))
            continue;
        if (!cJSON_IsString(it)) {
            fprintf(stderr, "frspec: %s: field '%s' must be a string\n", path, strs[k].key);
            bad = 1;
            continue;
        }
        *strs[k].dst = expand_env(it->valuestring, path, strs[k].key);
    }
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        cJSON *it = cJSON_GetObjectItemCaseSensitive(j, ints[k].key);
        if (!it || cJSON_IsNull(it))
            continue;
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble != (int)it->valuedouble) {
            fprintf(stderr, "frspec: %s: field '%s' must be a non-negative integer\n", path, ints[k].key);
            bad = 1;
            continue;
        }
        *ints[k].dst = it->valueint;
    }
    cJSON_Delete(j);
    return bad;
}

int gen_options_check(const struct gen_options *o)
{
    const char *src = o->config ? " (command line or --config)" : "";
    if (o->tree.depth > FRS_MAX_TREE_DEPTH || o->tree.topk > FRS_MAX_TREE_TOPK) {
        fprintf(stderr, "frspec: --tree-depth %d / --tree-topk %d%s: the backends accept depth <= %d and top-k <= %d\n",
                o->tree.depth, o->tree.topk, src, FRS_MAX_TREE_DEPTH, FRS_MAX_TREE_TOPK);
        return 1;
    }
    if (o->tree.size > FRS_MAX_TREE) {
        fprintf(stderr, "frspec: --tree-size %d%s: at most %d\n", o->tree.size, src, FRS_MAX_TREE);
        return 1;
    }
    if (o->fr_vocab_size && o->tree.topk > o->fr_vocab_size) {
        fprintf(stderr, "frspec: --tree-topk %d is larger than --fr-vocab-size %d: lower --tree-topk or raise "
                "--fr-vocab-size\n", o->tree.topk, o->fr_vocab_size);
        return 1;
    }
    if (o->max_ctx && o->tree.size && o->tree.size >= o->max_ctx) {
        fprintf(stderr, "frspec: --tree-size %d must be below --max-ctx %d: lower --tree-size or raise --max-ctx\n",
                o->tree.size, o->max_ctx);
        return 1;
    }
    return 0;
}

int gen_options_finish(struct gen_options *o, const struct llama_config *t)
{
    const int big = t->hidden_size >= 4096;
    if (!o->tree.depth)
        o->tree.depth = big ? 6 : 3;
    if (!o->tree.topk)
        o->tree.topk = 10;
    if (!o->tree.size)
        o->tree.size = big ? 60 : 30;
    if (o->max_ctx && t->max_position_embeddings > 0 && o->max_ctx > t->max_position_embeddings) {
        /* the model was not trained on positions past it: refused, as a too-long prompt's message says */
        fprintf(stderr, "frspec: --max-ctx %d exceeds the model's max_position_embeddings %d (config.json): give "
                "--max-ctx %d or less\n", o->max_ctx, t->max_position_embeddings, t->max_position_embeddings);
        return 1;
    }
    if (!o->max_ctx)
        o->max_ctx = t->max_position_embeddings > 0 && t->max_position_embeddings < 8192 ? t->max_position_embeddings : 8192;
    if (o->no_draft)
        o->draft_dir = NULL;
    if (o->fr_vocab_size && !o->fr_vocab) {
        fprintf(stderr, "frspec: --fr-vocab-size needs --fr-vocab FILE (build one with `frspec vocab build`)\n");
        return 1;
    }
    if (o->fr_vocab && !o->draft_dir) {
        fprintf(stderr, "frspec: --fr-vocab needs --draft DIR (the FR-Spec list cuts the draft head's LM head)\n");
        return 1;
    }
    if (o->draft_dir && gen_options_check(o))
        return 1;
    return 0;
}
