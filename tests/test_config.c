/* test_config.c - config.json / generation_config.json parsing against what transformers reads
 * from the same files (tests/fixtures/loader/expected/, made by tests/gen/gen_loader_fixtures.py),
 * for the published Llama 3, 3.1, 3.2, 3.3 and EAGLE configs and for transformers-5-written ones;
 * then bad inputs: each gives the right status and a message naming the file and the field.
 */
#include <math.h>

#include "config.h"
#include "loader_util.h"

static const char *const CONFIG_DIRS[] = {
    "configs/llama3-8b-instruct", "configs/llama3.1-8b-instruct", "configs/llama3.2-1b-instruct",
    "configs/llama3.3-70b-instruct", "configs/eagle-llama3-8b",
    "bf16-untied", "f32-tied", "f16-sharded", "llama3-eos",
};

static int exp_int(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    CHECK(cJSON_IsNumber(v), "expected.json lacks '%s'", k);
    return v ? (int)v->valuedouble : -999;
}

static double exp_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    CHECK(cJSON_IsNumber(v), "expected.json lacks '%s'", k);
    return v ? v->valuedouble : NAN;
}

static bool exp_bool(const cJSON *o, const char *k)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void check_eos(const char *what, const cJSON *o, const int *ids, int n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "eos_token_ids");
    CHECK(cJSON_GetArraySize(a) == n, "%s: %d eos ids, expected %d", what, n, cJSON_GetArraySize(a));
    for (int i = 0; i < n && i < cJSON_GetArraySize(a); i++)
        CHECK(ids[i] == (int)cJSON_GetArrayItem(a, i)->valuedouble, "%s: eos[%d] = %d", what, i, ids[i]);
}

#define CHECK_FIELD_I(what, c, e, field) \
    CHECK((c)->field == exp_int(e, #field), "%s: " #field " = %d, transformers %d", what, (c)->field, exp_int(e, #field))
#define CHECK_FIELD_F(what, c, e, field)                                                         \
    CHECK(fabs((double)(c)->field - exp_num(e, #field)) <= 1e-6 * fabs(exp_num(e, #field)),      \
          "%s: " #field " = %g, transformers %g", what, (double)(c)->field, exp_num(e, #field))

static void test_against_transformers(const char *rel)
{
    char dir[1024], exp_path[2200];
    snprintf(dir, sizeof dir, "%s", test_fixture("loader"));
    const char *base = strrchr(rel, '/');
    snprintf(exp_path, sizeof exp_path, "%s/expected/%s%s.json", dir, base ? "config-" : "", base ? base + 1 : rel);
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/%s", rel);
    cJSON *exp = lt_json_load(exp_path);
    CHECK(exp != NULL, "cannot read %s", exp_path);
    if (!exp)
        return;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(exp, "config");

    struct llama_config c;
    CHECK_OK(llama_config_load(lt_path(dir, "config.json"), &c));
    CHECK_FIELD_I(rel, &c, e, hidden_size);
    CHECK_FIELD_I(rel, &c, e, intermediate_size);
    CHECK_FIELD_I(rel, &c, e, num_hidden_layers);
    CHECK_FIELD_I(rel, &c, e, num_attention_heads);
    CHECK_FIELD_I(rel, &c, e, num_key_value_heads);
    CHECK_FIELD_I(rel, &c, e, head_dim);
    CHECK_FIELD_I(rel, &c, e, vocab_size);
    CHECK_FIELD_I(rel, &c, e, max_position_embeddings);
    CHECK_FIELD_I(rel, &c, e, bos_token_id);
    CHECK_FIELD_F(rel, &c, e, rms_norm_eps);
    CHECK_FIELD_F(rel, &c, e, rope_theta);
    CHECK(c.tie_word_embeddings == exp_bool(e, "tie_word_embeddings"), "%s: tie_word_embeddings", rel);
    CHECK(c.bias == exp_bool(e, "bias"), "%s: bias", rel);
    const char *rt = cJSON_GetObjectItemCaseSensitive(e, "rope_type")->valuestring;
    bool llama3 = !strcmp(rt, "llama3");
    CHECK(c.rope_type == (llama3 ? FRS_ROPE_LLAMA3 : FRS_ROPE_DEFAULT), "%s: rope_type %d, transformers %s",
          rel, (int)c.rope_type, rt);
    if (llama3) {
        CHECK_FIELD_F(rel, &c, e, rope_factor);
        CHECK_FIELD_F(rel, &c, e, rope_low_freq_factor);
        CHECK_FIELD_F(rel, &c, e, rope_high_freq_factor);
        CHECK_FIELD_I(rel, &c, e, rope_original_max_position_embeddings);
    }
    check_eos(rel, e, c.eos_token_ids, c.n_eos);
    const char *dt = cJSON_GetObjectItemCaseSensitive(e, "torch_dtype")->valuestring;
    CHECK(!strcmp(frs_dtype_name(c.torch_dtype), dt), "%s: torch_dtype %s, transformers %s", rel,
          frs_dtype_name(c.torch_dtype), dt);

    /* generation_config.json */
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(exp, "generation");
    struct generation_config gc;
    CHECK_OK(generation_config_load(lt_path(dir, "generation_config.json"), &gc));
    CHECK(gc.present == exp_bool(g, "present"), "%s: generation present", rel);
    if (gc.present) {
        CHECK(gc.do_sample == exp_bool(g, "do_sample"), "%s: do_sample", rel);
        CHECK_FIELD_F(rel, &gc, g, temperature);
        CHECK_FIELD_F(rel, &gc, g, top_p);
        CHECK_FIELD_I(rel, &gc, g, top_k);
        check_eos(rel, g, gc.eos_token_ids, gc.n_eos);
    } else {
        CHECK(gc.temperature == 1.0f && gc.top_p == 1.0f && gc.top_k == 0 && !gc.do_sample,
              "%s: defaults without generation_config.json", rel);
    }
    cJSON_Delete(exp);
}

/* A variant of the Llama 3.1 config: edit applied to a fresh copy, parsed from text. */
static cJSON *base_config(void)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/configs/llama3.1-8b-instruct/config.json", test_fixture("loader"));
    cJSON *j = lt_json_load(p);
    CHECK(j != NULL, "cannot read %s", p);
    return j;
}

static enum frs_status parse_variant(cJSON *j)
{
    char *t = cJSON_PrintUnformatted(j);
    struct llama_config c;
    enum frs_status st = llama_config_parse(t, "variant/config.json", &c);
    free(t);
    cJSON_Delete(j);
    return st;
}

static cJSON *with_num(const char *key, double v)
{
    cJSON *j = base_config();
    cJSON_DeleteItemFromObjectCaseSensitive(j, key);
    cJSON_AddNumberToObject(j, key, v);
    return j;
}

static cJSON *without(const char *key)
{
    cJSON *j = base_config();
    cJSON_DeleteItemFromObjectCaseSensitive(j, key);
    return j;
}

static cJSON *with_raw(const char *key, const char *raw_json)
{
    cJSON *j = base_config();
    cJSON_DeleteItemFromObjectCaseSensitive(j, key);
    cJSON_AddItemToObject(j, key, cJSON_Parse(raw_json));
    return j;
}

static void test_bad_configs(void)
{
    const char *V = "variant/config.json";
    LT_EXPECT_ERR(parse_variant(without("hidden_size")), FRS_ERR_MISSING, V, "'hidden_size'");
    LT_EXPECT_ERR(parse_variant(without("vocab_size")), FRS_ERR_MISSING, V, "'vocab_size'");
    LT_EXPECT_ERR(parse_variant(with_raw("hidden_size", "\"4096\"")), FRS_ERR_FORMAT, V, "'hidden_size'", "string");
    LT_EXPECT_ERR(parse_variant(with_num("hidden_size", 4096.5)), FRS_ERR_FORMAT, V, "'hidden_size'", "integer");
    LT_EXPECT_ERR(parse_variant(with_num("num_hidden_layers", 0)), FRS_ERR_FORMAT, V, "'num_hidden_layers'");
    LT_EXPECT_ERR(parse_variant(with_num("intermediate_size", -5)), FRS_ERR_FORMAT, V, "'intermediate_size'");
    LT_EXPECT_ERR(parse_variant(with_num("num_key_value_heads", 5)), FRS_ERR_FORMAT, V,
                  "'num_key_value_heads'", "'num_attention_heads'", "32 % 5");
    LT_EXPECT_ERR(parse_variant(with_num("num_attention_heads", 30)), FRS_ERR_FORMAT, V,
                  "'num_attention_heads'", "'hidden_size'");
    /* head_dim given: heads need not divide hidden (Llama 3.2 style) */
    {
        cJSON *j = with_num("num_attention_heads", 24);
        cJSON_AddNumberToObject(j, "head_dim", 128);
        cJSON_ReplaceItemInObjectCaseSensitive(j, "num_key_value_heads", cJSON_CreateNumber(8));
        CHECK_OK(parse_variant(j));
    }
    LT_EXPECT_ERR(parse_variant(with_num("head_dim", 0)), FRS_ERR_FORMAT, V, "'head_dim'");
    LT_EXPECT_ERR(parse_variant(with_num("rms_norm_eps", -1)), FRS_ERR_FORMAT, V, "'rms_norm_eps'");
    LT_EXPECT_ERR(parse_variant(with_raw("rope_theta", "[1]")), FRS_ERR_FORMAT, V, "'rope_theta'");
    LT_EXPECT_ERR(parse_variant(with_raw("rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4.0}")),
                  FRS_ERR_UNSUPPORTED, V, "'rope_scaling.rope_type'", "yarn");
    LT_EXPECT_ERR(parse_variant(with_raw("rope_scaling", "{\"type\": \"linear\", \"factor\": 4.0}")),
                  FRS_ERR_UNSUPPORTED, V, "'rope_scaling.type'", "linear");
    LT_EXPECT_ERR(parse_variant(with_raw("rope_scaling", "{\"rope_type\": \"llama3\", \"low_freq_factor\": 1.0, "
                                                         "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}")),
                  FRS_ERR_MISSING, V, "'rope_scaling.factor'");
    LT_EXPECT_ERR(parse_variant(with_raw("rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4.0, "
                                                         "\"high_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192}")),
                  FRS_ERR_FORMAT, V, "high_freq_factor");
    LT_EXPECT_ERR(parse_variant(with_raw("rope_scaling", "{\"factor\": 8}")), FRS_ERR_MISSING, V, "'rope_scaling.rope_type'");
    LT_EXPECT_ERR(parse_variant(with_raw("rope_scaling", "\"llama3\"")), FRS_ERR_FORMAT, V, "'rope_scaling'");
    /* legacy "type" key and transformers 5 "rope_parameters" are accepted */
    {
        cJSON *j = with_raw("rope_scaling", "{\"type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, "
                                            "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}");
        char *t = cJSON_PrintUnformatted(j);
        struct llama_config c;
        CHECK_OK(llama_config_parse(t, V, &c));
        CHECK(c.rope_type == FRS_ROPE_LLAMA3 && c.rope_factor == 8.0f, "legacy 'type' key");
        free(t);
        cJSON_Delete(j);
    }
    LT_EXPECT_ERR(parse_variant(with_raw("attention_bias", "true")), FRS_ERR_UNSUPPORTED, V, "'attention_bias'");
    LT_EXPECT_ERR(parse_variant(with_raw("mlp_bias", "true")), FRS_ERR_UNSUPPORTED, V, "'mlp_bias'");
    LT_EXPECT_ERR(parse_variant(with_raw("tie_word_embeddings", "1")), FRS_ERR_FORMAT, V, "'tie_word_embeddings'");
    LT_EXPECT_ERR(parse_variant(with_raw("eos_token_id", "\"</s>\"")), FRS_ERR_FORMAT, V, "'eos_token_id'");
    LT_EXPECT_ERR(parse_variant(with_raw("eos_token_id", "[1, \"x\"]")), FRS_ERR_FORMAT, V, "'eos_token_id[1]'");
    LT_EXPECT_ERR(parse_variant(with_raw("eos_token_id", "[1,2,3,4,5,6,7,8,9]")), FRS_ERR_UNSUPPORTED, V, "'eos_token_id'");
    LT_EXPECT_ERR(parse_variant(with_raw("torch_dtype", "\"int8\"")), FRS_ERR_UNSUPPORTED, V, "'torch_dtype'", "int8");
    LT_EXPECT_ERR(parse_variant(with_raw("torch_dtype", "16")), FRS_ERR_FORMAT, V, "'torch_dtype'");
    LT_EXPECT_ERR(parse_variant(with_raw("model_type", "\"mistral\"")), FRS_ERR_UNSUPPORTED, V, "'model_type'");
    LT_EXPECT_ERR(parse_variant(with_raw("hidden_act", "\"gelu\"")), FRS_ERR_UNSUPPORTED, V, "'hidden_act'");
    LT_EXPECT_ERR(parse_variant(with_num("hidden_size", 1e300)), FRS_ERR_FORMAT, V, "'hidden_size'");
    {
        cJSON *j = with_raw("bos_token_id", "null");
        char *t = cJSON_PrintUnformatted(j);
        struct llama_config c;
        CHECK_OK(llama_config_parse(t, V, &c));
        CHECK(c.bos_token_id == -1, "bos null -> -1 (got %d)", c.bos_token_id);
        free(t);
        cJSON_Delete(j);
    }

    struct llama_config c;
    LT_EXPECT_ERR(llama_config_parse("[1, 2]", V, &c), FRS_ERR_FORMAT, V, "object");
    LT_EXPECT_ERR(llama_config_parse("{\"hidden_size\": 64,\n \"vocab_size\": }", V, &c), FRS_ERR_FORMAT, V,
                  "line 2");
    LT_EXPECT_ERR(llama_config_parse("", V, &c), FRS_ERR_FORMAT, V);
    LT_EXPECT_ERR(llama_config_parse("{} trailing", V, &c), FRS_ERR_FORMAT, V);
}

static void test_bad_files(void)
{
    char tmp[512];
    CHECK(lt_tmpdir(tmp, sizeof tmp) == 0, "mkdtemp");
    struct llama_config c;
    struct generation_config g;
    const char *missing = lt_path(tmp, "config.json");
    LT_EXPECT_ERR(llama_config_load(missing, &c), FRS_ERR_IO, missing);
    LT_EXPECT_ERR(llama_config_load(tmp, &c), FRS_ERR_IO, tmp); /* a directory */

    const char *bad = lt_path(tmp, "config.json");
    lt_write(bad, "{\"hidden_size\": 64,,}", strlen("{\"hidden_size\": 64,,}"));
    LT_EXPECT_ERR(llama_config_load(bad, &c), FRS_ERR_FORMAT, bad, "line 1");

    /* generation_config.json: optional; malformed or ill-typed is an error naming it */
    const char *gpath = lt_path(tmp, "generation_config.json");
    CHECK_OK(generation_config_load(gpath, &g));
    CHECK(!g.present && g.temperature == 1.0f && g.top_p == 1.0f && g.top_k == 0, "missing generation config");
    lt_write(gpath, "{\"temperature\": ", strlen("{\"temperature\": "));
    LT_EXPECT_ERR(generation_config_load(gpath, &g), FRS_ERR_FORMAT, gpath);
    const char *cases[][2] = {
        {"{\"temperature\": \"hot\"}", "'temperature'"},
        {"{\"temperature\": -1}", "'temperature'"},
        {"{\"top_p\": 0}", "'top_p'"},
        {"{\"top_k\": 1.5}", "'top_k'"},
        {"{\"do_sample\": \"yes\"}", "'do_sample'"},
        {"{\"eos_token_id\": {}}", "'eos_token_id'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lt_write(gpath, cases[i][0], strlen(cases[i][0]));
        LT_EXPECT_ERR(generation_config_load(gpath, &g), FRS_ERR_FORMAT, gpath, cases[i][1]);
    }
    const char *good = "{\"eos_token_id\": 7, \"top_k\": 20, \"do_sample\": true}";
    lt_write(gpath, good, strlen(good));
    CHECK_OK(generation_config_load(gpath, &g));
    CHECK(g.present && g.n_eos == 1 && g.eos_token_ids[0] == 7 && g.top_k == 20 && g.do_sample,
          "generation config ints");
    lt_rm_dir(tmp);
}

int main(void)
{
    for (size_t i = 0; i < sizeof CONFIG_DIRS / sizeof CONFIG_DIRS[0]; i++)
        test_against_transformers(CONFIG_DIRS[i]);
    test_bad_configs();
    test_bad_files();
    {
        struct llama_config c;
        char p[1024];
        snprintf(p, sizeof p, "%s/configs/llama3.1-8b-instruct/config.json", test_fixture("loader"));
        CHECK_OK(llama_config_load(p, &c));
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
            llama_config_print(&c, devnull);
            fclose(devnull);
        }
    }
    return test_finish("test_config");
}
