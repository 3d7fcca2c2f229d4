/* test_fp8.c - FP8 checkpoints on the CPU (issue 15), beyond test_forward's checks on them:
 *  - e4m3 decoding of all 256 codes against the closed form, and encoding (round to nearest
 *    even, saturating) against a brute-force nearest search over the finite codes;
 *  - `frspec quantize` (frs_quantize_dir) of gqa-bf16 equal, tensor for tensor and byte for
 *    byte, to compressed-tensors' quantization of it (tests/fixtures/fp8/quant-channel|tensor),
 *    its config.json read back as the scheme it wrote, its output loading as a published file of
 *    that layout does (and a sharded input quantized shard by shard, with its index);
 *  - --fp8-activations quant (frs_backend_options.fp8_act_quant) vs transformers with the
 *    inputs fake-quantized as each format prescribes (ref_quant.json of fp8-ct-channel: dynamic
 *    per token; fp8-ct-static: static input_scale; fp8-fbgemm: per token clamped to
 *    activation_scale_ub), and different from the dequant-only logits;
 *  - speculative == autoregressive greedy on FP8 targets (fp8-ct-channel, fp8-ct-static whose LM
 *    head is FP8 too, so FR-Spec gathers FP8 rows with their scales), full and FR-Spec vocabulary;
 *  - malformed FP8 checkpoints and configs give the named errors;
 *  - the embedded pair (configs/default) with its target quantized by frs_quantize_dir: greedy
 *    continuations identical to transformers on the dequantized weights
 *    (tests/fixtures/fp8/default-pair.json, tests/gen/gen_fp8_default_ref.py), speculative with the
 *    default draft == autoregressive, and the acceptance against the bf16 target printed.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "cpu_backend.h"
#include "draft.h"
#include "loader_util.h"
#include "model.h"
#include "quantize.h"
#include "safetensors.h"
#include "spec_util.h"
#include "tensor.h"
#include "testutil.h"

#define QUANT_TOL 1e-4 /* ours vs transformers, both fake-quantizing activations in fp32 */

/* ---- e4m3 ----------------------------------------------------------------------------------- */

static double e4m3_closed_form(int code)
{
    const int s = code >> 7, e = (code >> 3) & 15, m = code & 7;
    if (e == 15 && m == 7)
        return NAN;
    double v = e == 0 ? ldexp(m, -9) : ldexp(8 + m, e - 10);
    return s ? -v : v;
}

static void test_e4m3(void)
{
    int bad = 0;
    for (int c = 0; c < 256; c++) {
        double want = e4m3_closed_form(c);
        float got = frs_e4m3_to_f32((uint8_t)c);
        if (isnan(want) ? !isnan(got) : ((double)got != want || (signbit(got) != 0) != (c >> 7)))
            bad++;
    }
    CHECK(bad == 0, "e4m3 decode: %d of 256 codes differ from the closed form", bad);
    /* encode: every bf16 value in [-448, 448] and random fp32 values vs the nearest finite code, ties to even */
    int nbad = 0, n = 0;
    uint64_t st = 12345;
    for (uint32_t i = 0; i < 65536 + 200000; i++) {
        float x;
        if (i < 65536) {
            x = frs_bf16_to_f32((uint16_t)i);
        } else {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t u = (uint32_t)(st >> 32);
            memcpy(&x, &u, sizeof x);
        }
        if (isnan(x) || fabsf(x) > 448.0f)
            continue;
        n++;
        int best = -1;
        double bd = INFINITY;
        for (int c = 0; c < 256; c++) {
            double v = e4m3_closed_form(c);
            if (isnan(v))
                continue;
            double d = fabs(v - (double)x);
            if (d < bd || (d == bd && best >= 0 && (c & 1) == 0 && (best & 1) == 1)) {
                bd = d;
                best = c;
            }
        }
        /* zero: the sign of x */
        if (e4m3_closed_form(best) == 0.0)
            best = signbit(x) ? 0x80 : 0;
        if (frs_f32_to_e4m3(x) != best && nbad++ < 5)
            fprintf(stderr, "e4m3(%a) = 0x%02x, nearest-even 0x%02x\n", (double)x, frs_f32_to_e4m3(x), best);
    }
    CHECK(nbad == 0, "e4m3 encode: %d of %d values differ from the nearest-even code", nbad, n);
    CHECK(frs_f32_to_e4m3(1000.0f) == 0x7e && frs_f32_to_e4m3(-INFINITY) == 0xfe, "e4m3 encode saturates to +-448");
    CHECK((frs_f32_to_e4m3(NAN) & 0x7f) == 0x7f, "e4m3 encode keeps NaN");
}

/* ---- frspec quantize vs compressed-tensors ---------------------------------------------------- */

static void compare_sets(const char *what, const struct st_set *a, const struct st_set *b)
{
    CHECK(a->n_tensors == b->n_tensors, "%s: %d tensors vs %d", what, a->n_tensors, b->n_tensors);
    int bad = 0;
    for (int i = 0; i < a->n_tensors; i++) {
        const struct st_tensor_info *x = &a->tensors[i], *y = st_find(b, x->name);
        bool same = y && !strcmp(x->dtype_name, y->dtype_name) && x->ndim == y->ndim && x->nbytes == y->nbytes &&
                    !memcmp(x->shape, y->shape, sizeof(int64_t) * (size_t)x->ndim) &&
                    !memcmp(x->data, y->data, x->nbytes);
        if (!same && bad++ < 5)
            fprintf(stderr, "%s: tensor '%s' differs (%s vs %s)\n", what, x->name, x->dtype_name, y ? y->dtype_name : "absent");
    }
    CHECK(bad == 0, "%s: %d tensors differ from compressed-tensors' quantization", what, bad);
}

static void test_quantize(void)
{
    char tmp[256];
    CHECK(lt_tmpdir(tmp, sizeof tmp) == 0, "mkdtemp");
    const char *strategies[] = {"channel", "tensor"};
    for (int k = 0; k < 2; k++) {
        char out[512], ref[512];
        snprintf(out, sizeof out, "%s/q-%s", tmp, strategies[k]);
        snprintf(ref, sizeof ref, "%s/quant-%s/model.safetensors", test_fixture("fp8"), strategies[k]);
        struct frs_quantize_opts o = {.per_tensor = k == 1};
        struct frs_quantize_report rep;
        CHECK_OK(frs_quantize_dir(test_fixture("models/gqa-bf16"), out, &o, &rep));
        CHECK(rep.n_quantized == 21 && rep.n_copied == 9, "quantize %s: %d quantized, %d copied (want 21, 9: lm_head "
              "ignored)", strategies[k], rep.n_quantized, rep.n_copied);
        struct st_set ours, theirs;
        CHECK_OK(st_open_dir(&ours, out));
        CHECK_OK(st_open_file(&theirs, ref));
        char what[64];
        snprintf(what, sizeof what, "quantize --strategy %s", strategies[k]);
        compare_sets(what, &ours, &theirs);
        st_close(&ours);
        st_close(&theirs);
        /* its config reads back as what it wrote */
        struct frs_quant_config q;
        CHECK_OK(quant_config_load(lt_path(out, "config.json"), &q));
        CHECK(q.method == FRS_QUANT_COMPRESSED_TENSORS && q.n_groups == 1 && q.groups[0].per_row == (k == 0) &&
              q.groups[0].act == FRS_FP8_ACT_NONE && quant_config_find(&q, "lm_head") == NULL &&
              quant_config_find(&q, "model.layers.2.mlp.down_proj") == &q.groups[0],
              "quantize %s: config.json quantization_config reads back differently", strategies[k]);
        quant_config_free(&q);
        /* and loads as a published checkpoint of that layout: FP8 views over the same bytes */
        struct llama_model m;
        CHECK_OK(llama_model_load(&m, out, 0, 1));
        CHECK(m.layers[1].w_up.dtype == FRS_DTYPE_F8_E4M3 && m.layers[1].w_up.scale_per_row == (k == 0) &&
              m.lm_head.dtype == FRS_DTYPE_BF16, "quantize %s: loaded views", strategies[k]);
        llama_model_free(&m);
        char *tj = test_read_file(lt_path(out, "tokenizer.json"), NULL);
        CHECK(tj != NULL, "tokenizer.json copied");
        free(tj);
    }
    /* a sharded input: one output shard per input shard, an index naming the scales */
    char out[512];
    snprintf(out, sizeof out, "%s/q-sharded", tmp);
    struct frs_quantize_opts o = {0};
    struct frs_quantize_report rep;
    CHECK_OK(frs_quantize_dir(test_fixture("models/sharded-f16"), out, &o, &rep));
    CHECK(rep.n_files > 1, "sharded input: %d output files", rep.n_files);
    struct llama_model m;
    CHECK_OK(llama_model_load(&m, out, 0, 1));
    CHECK(m.layers[0].wq.dtype == FRS_DTYPE_F8_E4M3, "sharded quantized model loads FP8");
    llama_model_free(&m);
    /* errors: already quantized input, output = input */
    snprintf(out, sizeof out, "%s/q-again", tmp);
    LT_EXPECT_ERR(frs_quantize_dir(test_fixture("models/fp8-ct-channel"), out, &o, &rep), FRS_ERR_UNSUPPORTED,
                  "quantization_config", "already quantized");
    LT_EXPECT_ERR(frs_quantize_dir(test_fixture("models/gqa-bf16"), test_fixture("models/gqa-bf16"), &o, &rep),
                  FRS_ERR_INVALID_ARG, "input directory");
    lt_rm_dir(tmp);
}

/* ---- activation quantization vs its Python reference ------------------------------------------ */

static void test_act_quant(const char *name)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_fixture("models"));
    strncat(dir, "/", sizeof dir - strlen(dir) - 1);
    strncat(dir, name, sizeof dir - strlen(dir) - 1);
    cJSON *ref = lt_json_load(lt_path(dir, "ref_quant.json"));
    CHECK(ref != NULL, "%s: ref_quant.json", name);
    if (!ref)
        return;
    size_t len = 0;
    float *logits = (float *)test_read_file(lt_path(dir, "ref_quant_logits.f32"), &len);
    const int V = cJSON_GetObjectItem(ref, "vocab_size")->valueint;
    struct llama_model m;
    CHECK_OK(llama_model_load(&m, dir, 0, 1));
    struct frs_backend q, d;
    struct frs_backend_options oq = frs_backend_options_default(), od = oq;
    oq.fp8_act_quant = 1;
    const struct frs_limits lim = {.max_ctx = 256, .max_tree = 0, .prefill_chunk = 128};
    q.ops = d.ops = &frs_backend_cpu_ops;
    CHECK_OK(q.ops->create(&q, &m, NULL, NULL, &lim, &oq));
    CHECK_OK(d.ops->create(&d, &m, NULL, NULL, &lim, &od));
    const cJSON *p;
    int pi = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(ref, "prompts"))
    {
        int32_t ids[256], greedy[64];
        int n = 0, ng = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(p, "ids")) ids[n++] = it->valueint;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(p, "greedy")) greedy[ng++] = it->valueint;
        const int row = cJSON_GetObjectItem(p, "logits_row")->valueint;
        CHECK(logits && len >= (size_t)(row + n) * V * sizeof(float), "%s: ref_quant_logits.f32 size", name);
        if (!logits || len < (size_t)(row + n) * V * sizeof(float))
            break;
        CHECK_OK(q.ops->reset(&q));
        CHECK_OK(q.ops->prefill(&q, ids, n));
        CHECK_OK(d.ops->reset(&d));
        CHECK_OK(d.ops->prefill(&d, ids, n));
        const struct cpu_backend *bq = q.impl, *bd = d.impl;
        double e = test_rel_err(bq->logits, logits + (size_t)row * V, (size_t)n * V);
        double ed = test_rel_err(bd->logits, logits + (size_t)row * V, (size_t)n * V);
        printf("%-14s prompt %d (%3d tokens): --fp8-activations quant logits rel err vs transformers %.3g "
               "(dequant-only: %.3g)\n", name, pi, n, e, ed);
        CHECK(e <= QUANT_TOL, "%s prompt %d: quantized-activation logits rel err %.3g > %.0e", name, pi, e, QUANT_TOL);
        CHECK(ed > 10 * QUANT_TOL, "%s prompt %d: dequant-only logits are as close to the quantized reference "
              "(%.3g): the option changes nothing", name, pi, ed);
        int first_bad = -1;
        for (int i = 0; i < ng; i++) {
            int32_t t = -1;
            CHECK_OK(q.ops->next_token(&q, NULL, (uint64_t)i, &t));
            if (t != greedy[i] && first_bad < 0)
                first_bad = i;
            if (i + 1 < ng)
                CHECK_OK(q.ops->decode(&q, t));
        }
        CHECK(first_bad < 0, "%s prompt %d: quantized-activation greedy token %d differs from transformers'", name,
              pi, first_bad);
        pi++;
    }
    CHECK(pi > 0, "%s: no prompt in ref_quant.json", name);
    q.ops->destroy(&q);
    d.ops->destroy(&d);
    llama_model_free(&m);
    free(logits);
    cJSON_Delete(ref);
}

/* ---- speculative == autoregressive on FP8 targets --------------------------------------------- */

static void test_spec_fp8(const char *target_rel)
{
    struct llama_model m;
    CHECK_OK(llama_model_load(&m, test_fixture(target_rel), 0, 1));
    const int V = m.cfg.vocab_size;
    enum { NP = 4, NN = SPEC_N_NEW };
    struct spec_prompt prompts[NP];
    spec_fill_prompts(prompts, NP, V);
    const struct frs_sampling greedy = {0.0f, 1.0f, 0, 0};
    int32_t ar[NP][NN];
    struct frs_backend be;
    CHECK_OK(spec_make_backend(&be, &frs_backend_cpu_ops, &m, NULL, 256));
    for (int i = 0; i < NP; i++) {
        struct frs_gen_stats st;
        CHECK_OK(spec_generate(&be, prompts[i].ids, prompts[i].n, &greedy, NULL, NN, ar[i], &st));
    }
    be.ops->destroy(&be);
    int32_t *ids = malloc((size_t)V * sizeof(int32_t));
    spec_fr_list(V, prompts, NP, &ar[0][0], NN, ids);
    int runs = 0, diffs = 0;
    for (int vi = 0; vi < SPEC_N_VOCABS; vi++) {
        const int K = SPEC_VOCABS[vi];
        struct eagle_draft d;
        CHECK_OK(eagle_draft_load(&d, test_fixture("spec/head-gqa"), &m));
        if (K)
            CHECK_OK(eagle_draft_set_vocab(&d, &m, ids, V, K));
        CHECK(d.lm_head.dtype == m.lm_head_full.dtype, "%s: the draft's LM head keeps the target's dtype", target_rel);
        CHECK_OK(spec_make_backend(&be, &frs_backend_cpu_ops, &m, &d, 256));
        for (int si = 0; si < SPEC_N_SHAPES; si++) {
            struct frs_tree_params p = SPEC_SHAPES[si];
            if (K && p.topk > K)
                p.topk = K;
            for (int i = 0; i < NP; i++) {
                int32_t out[NN];
                struct frs_gen_stats st;
                CHECK_OK(spec_generate(&be, prompts[i].ids, prompts[i].n, &greedy, &p, NN, out, &st));
                int fd = spec_first_diff(out, st.n_tokens, ar[i], NN);
                diffs += fd >= 0;
                CHECK(fd < 0, "%s K=%d tree %d/%d/%d prompt %d: speculative differs from autoregressive at %d",
                      target_rel, K, p.depth, p.topk, p.size, i, fd);
                runs++;
            }
        }
        be.ops->destroy(&be);
        eagle_draft_free(&d);
    }
    printf("%s + spec/head-gqa: speculative == autoregressive in %d of %d runs\n", target_rel, runs - diffs, runs);
    free(ids);
    llama_model_free(&m);
}

/* ---- malformed ---------------------------------------------------------------------------- */

/* Edit config.json's quantization_config of a copy: set key (a path "a.b.c") to a JSON value. */
static void set_qc(const char *dir, const char *key, const char *json)
{
    cJSON *cfg = lt_json_load(lt_path(dir, "config.json"));
    cJSON *o = cJSON_GetObjectItem(cfg, "quantization_config");
    char path[256];
    snprintf(path, sizeof path, "%s", key);
    char *save = NULL, *tok = strtok_r(path, ".", &save), *next;
    while (o && tok && (next = strtok_r(NULL, ".", &save)) != NULL) {
        o = cJSON_GetObjectItem(o, tok);
        tok = next;
    }
    if (o && tok) {
        cJSON_DeleteItemFromObject(o, tok);
        if (json)
            cJSON_AddItemToObject(o, tok, cJSON_Parse(json));
    }
    lt_json_save(lt_path(dir, "config.json"), cfg);
    cJSON_Delete(cfg);
}

static enum frs_status load(const char *dir)
{
    struct llama_model m;
    enum frs_status st = llama_model_load(&m, dir, 0, 1);
    if (st == FRS_OK)
        llama_model_free(&m);
    return st;
}

/* Rewrite one header entry of dir/model.safetensors: rename it (to) and/or set its dtype / shape. */
static void edit_entry(const char *dir, const char *name, const char *to, const char *dtype, const double *shape, int nd)
{
    struct lt_st s;
    const char *path = lt_path(dir, "model.safetensors");
    CHECK(lt_st_load(path, &s) == 0, "load %s", path);
    cJSON *e = cJSON_DetachItemFromObject(s.header, name);
    CHECK(e != NULL, "header entry %s", name);
    if (!e) {
        lt_st_free(&s);
        return;
    }
    if (dtype)
        cJSON_ReplaceItemInObject(e, "dtype", cJSON_CreateString(dtype));
    if (shape)
        lt_set_ints(e, "shape", shape, nd);
    cJSON_AddItemToObject(s.header, to ? to : name, e);
    CHECK(lt_st_save(path, &s, true) == 0, "save %s", path);
    lt_st_free(&s);
}

static void test_malformed(void)
{
    char tmp[256], d[512];
    CHECK(lt_tmpdir(tmp, sizeof tmp) == 0, "mkdtemp");
    snprintf(d, sizeof d, "%s/m", tmp);
    const char *src = test_fixture("models/fp8-ct-channel");
#define FRESH() CHECK(lt_copy_dir(src, d) == 0, "copy %s", src)
    FRESH();
    CHECK_OK(load(d));
    set_qc(d, "quant_method", "\"awq\"");
    LT_EXPECT_ERR(load(d), FRS_ERR_UNSUPPORTED, "config.json", "quantization_config.quant_method", "awq");
    FRESH();
    set_qc(d, "config_groups.group_0.weights.num_bits", "4");
    LT_EXPECT_ERR(load(d), FRS_ERR_UNSUPPORTED, "quantization_config.config_groups.group_0.weights.num_bits", "4");
    FRESH();
    set_qc(d, "config_groups.group_0.weights.type", "\"int\"");
    LT_EXPECT_ERR(load(d), FRS_ERR_UNSUPPORTED, "group_0.weights.type", "int");
    FRESH();
    set_qc(d, "config_groups.group_0.weights.strategy", "\"group\"");
    LT_EXPECT_ERR(load(d), FRS_ERR_UNSUPPORTED, "group_0.weights.strategy", "group");
    FRESH();
    set_qc(d, "config_groups.group_0.weights.group_size", "128");
    LT_EXPECT_ERR(load(d), FRS_ERR_UNSUPPORTED, "group_0.weights.group_size");
    FRESH();
    set_qc(d, "config_groups.group_0.input_activations.strategy", "\"group\"");
    LT_EXPECT_ERR(load(d), FRS_ERR_UNSUPPORTED, "group_0.input_activations.strategy");
    FRESH();
    set_qc(d, "format", "\"pack-quantized\"");
    LT_EXPECT_ERR(load(d), FRS_ERR_UNSUPPORTED, "quantization_config.format", "pack-quantized");
    FRESH();
    set_qc(d, "kv_cache_scheme", "{\"num_bits\": 8}");
    LT_EXPECT_ERR(load(d), FRS_ERR_UNSUPPORTED, "quantization_config.kv_cache_scheme");
    FRESH();
    set_qc(d, "config_groups", NULL);
    LT_EXPECT_ERR(load(d), FRS_ERR_MISSING, "quantization_config.config_groups");
    /* FP8 weights but no quantization_config */
    FRESH();
    {
        cJSON *cfg = lt_json_load(lt_path(d, "config.json"));
        cJSON_DeleteItemFromObject(cfg, "quantization_config");
        lt_json_save(lt_path(d, "config.json"), cfg);
        cJSON_Delete(cfg);
    }
    LT_EXPECT_ERR(load(d), FRS_ERR_DTYPE, "model.layers.0.self_attn.q_proj.weight", "F8_E4M3", "no quantization_config");
    /* missing scale */
    FRESH();
    edit_entry(d, "model.layers.1.mlp.up_proj.weight_scale", "model.layers.1.mlp.up_proj.weight_scalx", NULL, NULL, 0);
    LT_EXPECT_ERR(load(d), FRS_ERR_MISSING, "model.layers.1.mlp.up_proj.weight_scale", "not found",
                  "model.layers.1.mlp.up_proj.weight");
    /* wrong scale shape (same bytes) */
    FRESH();
    const double sh[2] = {64, 2};
    edit_entry(d, "model.layers.1.mlp.up_proj.weight_scale", NULL, NULL, sh, 2);
    LT_EXPECT_ERR(load(d), FRS_ERR_SHAPE, "model.layers.1.mlp.up_proj.weight_scale", "[64, 2]", "[128, 1]");
    /* a quantized module whose weight is not F8_E4M3 */
    FRESH();
    edit_entry(d, "model.layers.0.mlp.down_proj.weight", NULL, "U8", NULL, 0);
    LT_EXPECT_ERR(load(d), FRS_ERR_DTYPE, "model.layers.0.mlp.down_proj.weight", "U8", "expected F8_E4M3");
    /* an ignored module (lm_head) stored in FP8 */
    FRESH();
    set_qc(d, "ignore", "[\"lm_head\", \"model.layers.2.self_attn.o_proj\"]");
    LT_EXPECT_ERR(load(d), FRS_ERR_DTYPE, "model.layers.2.self_attn.o_proj.weight", "does not quantize");
    /* fbgemm */
    snprintf(d, sizeof d, "%s/f", tmp);
    src = test_fixture("models/fp8-fbgemm");
    FRESH();
    CHECK_OK(load(d));
    set_qc(d, "activation_scale_ub", "-1");
    LT_EXPECT_ERR(load(d), FRS_ERR_FORMAT, "quantization_config.activation_scale_ub");
#undef FRESH
    lt_rm_dir(tmp);
    /* quant_config_parse directly: static token activations, unknown dynamic kind, a bad regex */
    struct frs_quant_config q;
    LT_EXPECT_ERR(quant_config_parse("{\"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": "
                                     "\"float-quantized\", \"config_groups\": {\"g\": {\"targets\": [\"Linear\"], "
                                     "\"weights\": {\"num_bits\": 8, \"type\": \"float\", \"strategy\": \"channel\"}, "
                                     "\"input_activations\": {\"num_bits\": 8, \"type\": \"float\", \"strategy\": "
                                     "\"token\", \"dynamic\": \"local\"}}}}}", "c.json", &q),
                  FRS_ERR_UNSUPPORTED, "c.json", "config_groups.g.input_activations.dynamic", "local");
    LT_EXPECT_ERR(quant_config_parse("{\"quantization_config\": {\"quant_method\": \"fbgemm_fp8\", "
                                     "\"modules_to_not_convert\": [\"re:(\"]}}", "c.json", &q),
                  FRS_ERR_FORMAT, "modules_to_not_convert[0]");
    CHECK_OK(quant_config_parse("{\"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": "
                                "\"naive-quantized\", \"ignore\": [\"re:.*layers\\\\.1\\\\..*\", \"lm_head\"], "
                                "\"config_groups\": {\"g\": {\"targets\": [\"Linear\"], \"weights\": {\"num_bits\": 8, "
                                "\"type\": \"float\", \"strategy\": \"tensor\"}}}}}", "c.json", &q));
    CHECK(quant_config_find(&q, "model.layers.1.mlp.up_proj") == NULL && quant_config_find(&q, "lm_head") == NULL &&
          quant_config_find(&q, "model.layers.11.mlp.up_proj") != NULL &&
          quant_config_find(&q, "model.layers.0.mlp.up_proj") != NULL,
          "ignore list: a re: pattern matched from the start, a plain name");
    quant_config_free(&q);
}

/* ---- the embedded pair, quantized ------------------------------------------------------------ */

static void accept_stats(const struct llama_model *m, const struct eagle_draft *d, const struct spec_prompt *p, int np,
                         const int32_t (*ar)[SPEC_N_NEW], const char *what, double *acc)
{
    const struct frs_sampling greedy = {0.0f, 1.0f, 0, 0};
    const struct frs_tree_params tree = {3, 10, 30};
    struct frs_backend be;
    CHECK_OK(spec_make_backend(&be, &frs_backend_cpu_ops, m, d, 512));
    long tokens = 0, iters = 0;
    for (int i = 0; i < np; i++) {
        int32_t out[SPEC_N_NEW];
        struct frs_gen_stats st;
        CHECK_OK(spec_generate(&be, p[i].ids, p[i].n, &greedy, &tree, SPEC_N_NEW, out, &st));
        const int fd = spec_first_diff(out, st.n_tokens, ar[i], SPEC_N_NEW);
        CHECK(fd < 0, "%s prompt %d: speculative differs from autoregressive at %d", what, i, fd);
        tokens += st.n_tokens - 1;
        iters += st.iterations - 1;
    }
    *acc = iters ? (double)tokens / (double)iters : 0;
    be.ops->destroy(&be);
}

static void test_default_pair(void)
{
    cJSON *ref = lt_json_load(test_fixture("fp8/default-pair.json"));
    CHECK(ref != NULL, "fp8/default-pair.json");
    if (!ref)
        return;
    char tmp[256], out[512];
    CHECK(lt_tmpdir(tmp, sizeof tmp) == 0, "mkdtemp");
    snprintf(out, sizeof out, "%s/target-fp8", tmp);
    struct frs_quantize_opts o = {0};
    struct frs_quantize_report rep;
    CHECK_OK(frs_quantize_dir(FRSPEC_DEFAULT_PAIR "/target", out, &o, &rep));
    struct llama_model m, mb;
    CHECK_OK(llama_model_load(&m, out, 0, 1));
    CHECK_OK(llama_model_load(&mb, FRSPEC_DEFAULT_PAIR "/target", 0, 1));
    struct spec_prompt p[8];
    int np = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ref, "prompts"))
    {
        if (np == 8)
            break;
        const cJSON *v;
        p[np].n = 0;
        p[np].has_hf = 1;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(e, "ids")) p[np].ids[p[np].n++] = v->valueint;
        int k = 0;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(e, "greedy")) if (k < SPEC_N_NEW) p[np].hf[k++] = v->valueint;
        np++;
    }
    const struct frs_sampling greedy = {0.0f, 1.0f, 0, 0};
    int32_t ar[8][SPEC_N_NEW], arb[8][SPEC_N_NEW];
    struct frs_backend be;
    CHECK_OK(spec_make_backend(&be, &frs_backend_cpu_ops, &m, NULL, 512));
    int same = 0, same_bf16 = 0;
    for (int i = 0; i < np; i++) {
        struct frs_gen_stats st;
        CHECK_OK(spec_generate(&be, p[i].ids, p[i].n, &greedy, NULL, SPEC_N_NEW, ar[i], &st));
        const int fd = spec_first_diff(ar[i], st.n_tokens, p[i].hf, SPEC_N_NEW);
        CHECK(fd < 0, "embedded pair, FP8 target, prompt %d: greedy token %d differs from transformers on the "
              "dequantized weights", i, fd);
        same += fd < 0;
    }
    be.ops->destroy(&be);
    CHECK_OK(spec_make_backend(&be, &frs_backend_cpu_ops, &mb, NULL, 512));
    for (int i = 0; i < np; i++) {
        struct frs_gen_stats st;
        CHECK_OK(spec_generate(&be, p[i].ids, p[i].n, &greedy, NULL, SPEC_N_NEW, arb[i], &st));
        same_bf16 += memcmp(arb[i], ar[i], sizeof ar[i]) == 0;
    }
    be.ops->destroy(&be);
    printf("embedded pair quantized by frspec quantize (%d matrices): %d of %d greedy continuations identical to "
           "transformers on the dequantized weights; %d of %d identical to the bf16 target's\n", rep.n_quantized, same,
           np, same_bf16, np);
    /* speculative with the default draft == autoregressive, acceptance vs the bf16 target */
    struct eagle_draft d, db;
    CHECK_OK(eagle_draft_load(&d, FRSPEC_DEFAULT_PAIR "/draft", &m));
    CHECK_OK(eagle_draft_load(&db, FRSPEC_DEFAULT_PAIR "/draft", &mb));
    double acc = 0, accb = 0;
    accept_stats(&m, &d, p, np, (const int32_t(*)[SPEC_N_NEW])ar, "embedded pair, FP8 target", &acc);
    accept_stats(&mb, &db, p, np, (const int32_t(*)[SPEC_N_NEW])arb, "embedded pair, bf16 target", &accb);
    printf("embedded pair, tree 3/10/30, full vocabulary: mean accepted tokens per iteration %.2f (FP8 target) vs "
           "%.2f (bf16 target)\n", acc, accb);
    eagle_draft_free(&d);
    eagle_draft_free(&db);
    llama_model_free(&m);
    llama_model_free(&mb);
    lt_rm_dir(tmp);
    cJSON_Delete(ref);
}

int main(void)
{
    test_e4m3();
    test_quantize();
    test_act_quant("fp8-ct-channel");
    test_act_quant("fp8-ct-static");
    test_act_quant("fp8-fbgemm");
    test_malformed();
    test_spec_fp8("models/fp8-ct-channel");
    test_spec_fp8("models/fp8-ct-static");
    test_default_pair();
    return test_finish("test_fp8");
}
