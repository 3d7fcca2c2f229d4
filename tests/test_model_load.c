/* test_model_load.c - llama_model_load against torch: every view of every layer, at tp 1 and at
 * tp 2 for both ranks, has the shape, sum and corner values of the slice torch.narrow takes of
 * the same tensor (tests/fixtures/loader/expected/<name>.json, tests/gen/gen_loader_fixtures.py);
 * llama_vocab_shard in closed form; then bad model directories made in a temp dir (missing or
 * malformed config.json, missing field, kv heads not dividing heads, bad rope type, truncated
 * safetensors, a tensor of the wrong shape or dtype, a missing tensor, --tp not dividing): each
 * gives the right status and a message naming the file and the field or tensor.
 */
#include <math.h>

#include "loader_util.h"
#include "model.h"

static const char *const CKPTS[] = {"bf16-untied", "f32-tied", "f16-sharded", "llama3-eos"};

static void check_view(const char *what, const struct frs_mat *m, const cJSON *e)
{
    CHECK(e != NULL, "%s: no reference", what);
    if (!e)
        return;
    int64_t rows = (int64_t)cJSON_GetObjectItem(e, "rows")->valuedouble;
    int64_t cols = (int64_t)cJSON_GetObjectItem(e, "cols")->valuedouble;
    CHECK(m->rows == rows && m->cols == cols, "%s: view %lld x %lld, reference %lld x %lld", what,
          (long long)m->rows, (long long)m->cols, (long long)rows, (long long)cols);
    if (m->rows != rows || m->cols != cols || !m->data)
        return;
    float *row = malloc((size_t)(cols ? cols : 1) * sizeof *row);
    double sum = 0, asum = 0, first = 0, last = 0;
    for (int64_t r = 0; r < rows; r++) {
        frs_mat_row_to_f32(m, r, row);
        for (int64_t c = 0; c < cols; c++) {
            sum += row[c];
            asum += fabs(row[c]);
        }
        if (r == 0)
            first = row[0];
        if (r == rows - 1)
            last = row[cols - 1];
    }
    free(row);
    double ref = cJSON_GetObjectItem(e, "sum")->valuedouble;
    CHECK(fabs(sum - ref) <= 1e-9 * asum + 1e-12, "%s: sum %.12g, reference %.12g", what, sum, ref);
    if (rows > 0 && cols > 0) {
        CHECK(first == cJSON_GetObjectItem(e, "first")->valuedouble, "%s: first %g, reference %g", what, first,
              cJSON_GetObjectItem(e, "first")->valuedouble);
        CHECK(last == cJSON_GetObjectItem(e, "last")->valuedouble, "%s: last %g, reference %g", what, last,
              cJSON_GetObjectItem(e, "last")->valuedouble);
    }
}

static void test_against_torch(const char *name, int tp)
{
    char dir[1024], ep[1024];
    snprintf(dir, sizeof dir, "%s/%s", test_fixture("loader"), name);
    snprintf(ep, sizeof ep, "%s/expected/%s.json", test_fixture("loader"), name);
    cJSON *exp = lt_json_load(ep);
    CHECK(exp != NULL, "cannot read %s", ep);
    if (!exp)
        return;
    char key[8];
    snprintf(key, sizeof key, "%d", tp);
    const cJSON *ranks = cJSON_GetObjectItem(cJSON_GetObjectItem(exp, "tp"), key);
    const cJSON *cfg = cJSON_GetObjectItem(exp, "config");
    for (int r = 0; r < tp; r++) {
        const cJSON *er = cJSON_GetArrayItem(ranks, r);
        const cJSON *views = cJSON_GetObjectItem(er, "views");
        struct llama_model m;
        CHECK_OK(llama_model_load(&m, dir, r, tp));
        if (!m.layers)
            continue;
        char what[256];
        CHECK(m.tp_rank == r && m.tp_size == tp, "%s: rank fields", name);
        CHECK(m.cfg.vocab_size == (int)cJSON_GetObjectItem(cfg, "vocab_size")->valuedouble, "%s: vocab", name);
        CHECK(m.cfg.tie_word_embeddings == cJSON_IsTrue(cJSON_GetObjectItem(cfg, "tie_word_embeddings")), "%s: tie",
              name);
        CHECK(m.n_heads_local == (int)cJSON_GetObjectItem(er, "n_heads_local")->valuedouble &&
                  m.n_kv_heads_local == (int)cJSON_GetObjectItem(er, "n_kv_heads_local")->valuedouble &&
                  m.ffn_local == (int)cJSON_GetObjectItem(er, "ffn_local")->valuedouble &&
                  m.vocab_offset == (int)cJSON_GetObjectItem(er, "vocab_offset")->valuedouble &&
                  m.vocab_local == (int)cJSON_GetObjectItem(er, "vocab_local")->valuedouble,
              "%s tp %d rank %d: local sizes %d %d %d %d+%d", name, tp, r, m.n_heads_local, m.n_kv_heads_local,
              m.ffn_local, m.vocab_offset, m.vocab_local);
        CHECK(m.gen.present, "%s: generation_config.json", name);
#define VIEW(label, mat)                                                                \
    do {                                                                                \
        snprintf(what, sizeof what, "%s tp %d rank %d %s", name, tp, r, label);         \
        check_view(what, &(mat), cJSON_GetObjectItem(views, label));                    \
    } while (0)
        VIEW("embed", m.embed);
        VIEW("lm_head", m.lm_head);
        VIEW("lm_head_full", m.lm_head_full);
        VIEW("final_norm", m.final_norm);
        if (m.cfg.tie_word_embeddings)
            CHECK(m.lm_head_full.data == m.embed.data, "%s: tied lm_head is not the embedding", name);
        for (int i = 0; i < m.cfg.num_hidden_layers; i++) {
            const struct llama_layer *L = &m.layers[i];
            char lab[64];
#define LVIEW(field)                                                   \
    do {                                                               \
        snprintf(lab, sizeof lab, "layers.%d.%s", i, #field);          \
        VIEW(lab, L->field);                                           \
    } while (0)
            LVIEW(attn_norm);
            LVIEW(mlp_norm);
            LVIEW(wq);
            LVIEW(wk);
            LVIEW(wv);
            LVIEW(wo);
            LVIEW(w_gate);
            LVIEW(w_up);
            LVIEW(w_down);
#undef LVIEW
            /* column blocks keep the full leading dimension, row blocks are contiguous */
            CHECK(L->wo.ld == (int64_t)m.cfg.num_attention_heads * m.cfg.head_dim, "%s: wo ld", name);
            CHECK(L->w_down.ld == m.cfg.intermediate_size, "%s: w_down ld", name);
            CHECK(L->wq.ld == m.cfg.hidden_size, "%s: wq ld", name);
        }
#undef VIEW
        llama_model_free(&m);
        llama_model_free(&m); /* idempotent */
    }
    cJSON_Delete(exp);
}

static void test_vocab_shard(void)
{
    /* closed form: even split rounded up, the last rank takes what is left */
    const int cases[][4] = {{10, 4, 3, 1}, {128256, 8, 16032, 16032}, {512, 2, 256, 256}, {5, 4, 2, 0}, {7, 1, 7, 7}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int V = cases[i][0], tp = cases[i][1], total = 0, next = 0;
        for (int r = 0; r < tp; r++) {
            int off, cnt;
            llama_vocab_shard(V, r, tp, &off, &cnt);
            CHECK(off == (next < V ? next : V), "V %d tp %d rank %d: offset %d", V, tp, r, off);
            CHECK(cnt >= 0 && cnt <= cases[i][2], "V %d tp %d rank %d: count %d", V, tp, r, cnt);
            if (r < tp - 1 && (long)(r + 1) * cases[i][2] <= V)
                CHECK(cnt == cases[i][2], "V %d tp %d rank %d: count %d", V, tp, r, cnt);
            if (r == tp - 1)
                CHECK(cnt == cases[i][3], "V %d tp %d last rank: count %d, expected %d", V, tp, cnt, cases[i][3]);
            next = off + cnt;
            total += cnt;
        }
        CHECK(total == V, "V %d tp %d: ranks cover %d", V, tp, total);
    }
}

/* ---- bad model directories ------------------------------------------------------------------- */

static void edit_config(const char *dir, const char *key, const char *raw)
{
    cJSON *j = lt_json_load(lt_path(dir, "config.json"));
    cJSON_DeleteItemFromObjectCaseSensitive(j, key);
    if (raw)
        cJSON_AddItemToObject(j, key, cJSON_Parse(raw));
    lt_json_save(lt_path(dir, "config.json"), j);
    cJSON_Delete(j);
}

static void test_bad_dirs(const char *tmp)
{
    char src[1024], d[1024];
    snprintf(src, sizeof src, "%s/bf16-untied", test_fixture("loader"));
    snprintf(d, sizeof d, "%s/model", tmp);
    char cfg[1100], stp[1100]; /* lt_path's buffers rotate: keep copies */
    snprintf(cfg, sizeof cfg, "%s/config.json", d);
    snprintf(stp, sizeof stp, "%s/model.safetensors", d);
    struct llama_model m;
#define FRESH() (lt_rm_dir(d), lt_copy_dir(src, d))
#define EXPECT_LOAD(tp_rank, tp_size, want, ...)                                                         \
    do {                                                                                                 \
        LT_EXPECT_ERR(llama_model_load(&m, d, tp_rank, tp_size), want, __VA_ARGS__);                     \
        CHECK(m.layers == NULL && m.st.files == NULL && m.dir == NULL, "model not cleared on error");    \
    } while (0)

    FRESH();
    CHECK_OK(llama_model_load(&m, d, 0, 1));
    llama_model_free(&m);

    /* config.json */
    unlink(cfg);
    EXPECT_LOAD(0, 1, FRS_ERR_IO, cfg);
    FRESH();
    lt_write(cfg, "{\"hidden_size\": 64, oops}", 25);
    EXPECT_LOAD(0, 1, FRS_ERR_FORMAT, cfg, "malformed JSON");
    FRESH();
    edit_config(d, "num_hidden_layers", NULL);
    EXPECT_LOAD(0, 1, FRS_ERR_MISSING, cfg, "'num_hidden_layers'");
    FRESH();
    edit_config(d, "num_key_value_heads", "3");
    EXPECT_LOAD(0, 1, FRS_ERR_FORMAT, cfg, "'num_key_value_heads'", "'num_attention_heads'");
    FRESH();
    edit_config(d, "rope_parameters", "{\"rope_type\": \"dynamic\", \"factor\": 2.0, \"rope_theta\": 10000.0}");
    EXPECT_LOAD(0, 1, FRS_ERR_UNSUPPORTED, cfg, "'rope_parameters.rope_type'", "dynamic");
    FRESH();
    edit_config(d, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 2.0}");
    EXPECT_LOAD(0, 1, FRS_ERR_UNSUPPORTED, cfg, "'rope_scaling.rope_type'", "yarn");
    /* malformed generation_config.json is an error, a missing one is not */
    FRESH();
    lt_write(lt_path(d, "generation_config.json"), "[", 1);
    EXPECT_LOAD(0, 1, FRS_ERR_FORMAT, "generation_config.json");
    unlink(lt_path(d, "generation_config.json"));
    CHECK_OK(llama_model_load(&m, d, 0, 1));
    CHECK(!m.gen.present && m.gen.temperature == 1.0f, "absent generation_config.json");
    llama_model_free(&m);

    /* config and tensors disagree: the message names tensor, shapes and the config field */
    FRESH();
    edit_config(d, "intermediate_size", "64");
    EXPECT_LOAD(0, 1, FRS_ERR_SHAPE, "model.safetensors", "'model.layers.0.mlp.gate_proj.weight'", "[32, 64]",
                "[64, 64]", "intermediate_size=64");
    FRESH();
    edit_config(d, "vocab_size", "500");
    EXPECT_LOAD(0, 1, FRS_ERR_SHAPE, "model.safetensors", "'model.embed_tokens.weight'", "[512, 64]", "[500, 64]",
                "vocab_size=500");
    FRESH();
    edit_config(d, "head_dim", "8");
    EXPECT_LOAD(0, 1, FRS_ERR_SHAPE, "model.safetensors", "'model.layers.0.self_attn.q_proj.weight'", "head_dim=8");
    FRESH();
    edit_config(d, "num_hidden_layers", "3");
    EXPECT_LOAD(0, 1, FRS_ERR_MISSING, "model.safetensors", "model.layers.2.input_layernorm.weight");
    FRESH();
    edit_config(d, "tie_word_embeddings", "true"); /* tied: a stored lm_head is ignored */
    CHECK_OK(llama_model_load(&m, d, 0, 1));
    CHECK(m.lm_head_full.data == m.embed.data, "tied");
    llama_model_free(&m);

    /* safetensors: truncated, wrong dtype, wrong shape, missing tensor */
    {
        size_t n = 0;
        char *b = lt_read(lt_path(src, "model.safetensors"), &n);
        FRESH();
        lt_write(stp, b, n - 1);
        EXPECT_LOAD(0, 1, FRS_ERR_FORMAT, stp, "data_offsets");
        free(b);
    }
    const char *T = "model.layers.1.self_attn.o_proj.weight"; /* bf16 [64, 64] */
    struct lt_st v;
    FRESH();
    CHECK(lt_st_load(stp, &v) == 0, "load");
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItem(v.header, T), "dtype", cJSON_CreateString("I32"));
    lt_set_ints(cJSON_GetObjectItem(v.header, T), "shape", (const double[]){64, 32}, 2);
    lt_st_save(stp, &v, true);
    lt_st_free(&v);
    EXPECT_LOAD(0, 1, FRS_ERR_DTYPE, stp, T, "I32");
    FRESH();
    CHECK(lt_st_load(stp, &v) == 0, "load");
    lt_set_ints(cJSON_GetObjectItem(v.header, T), "shape", (const double[]){32, 128}, 2);
    lt_st_save(stp, &v, true);
    lt_st_free(&v);
    EXPECT_LOAD(0, 1, FRS_ERR_SHAPE, stp, T, "[32, 128]", "[64, 64]");
    FRESH();
    CHECK(lt_st_load(stp, &v) == 0, "load");
    lt_set_ints(cJSON_GetObjectItem(v.header, "model.norm.weight"), "shape", (const double[]){8, 8}, 2);
    lt_st_save(stp, &v, true);
    lt_st_free(&v);
    EXPECT_LOAD(0, 1, FRS_ERR_SHAPE, stp, "model.norm.weight", "[8, 8]", "[64]");
    FRESH();
    CHECK(lt_st_load(stp, &v) == 0, "load");
    cJSON_DeleteItemFromObjectCaseSensitive(v.header, T);
    lt_st_save(stp, &v, true);
    lt_st_free(&v);
    EXPECT_LOAD(0, 1, FRS_ERR_MISSING, stp, T);
    FRESH();
    CHECK(lt_st_load(stp, &v) == 0, "load");
    cJSON_DeleteItemFromObjectCaseSensitive(v.header, "lm_head.weight");
    lt_st_save(stp, &v, true);
    lt_st_free(&v);
    EXPECT_LOAD(0, 1, FRS_ERR_MISSING, "lm_head.weight", "tie_word_embeddings");
    FRESH();
    unlink(stp);
    EXPECT_LOAD(0, 1, FRS_ERR_MISSING, d, "safetensors");

    /* tensor parallelism the model cannot be cut into (4 heads, 2 kv heads, FFN 32) */
    FRESH();
    EXPECT_LOAD(0, 4, FRS_ERR_INVALID_ARG, "--tp 4 exceeds num_key_value_heads=2", cfg);
    EXPECT_LOAD(0, 16, FRS_ERR_INVALID_ARG, "--tp 16 exceeds num_key_value_heads=2");
    edit_config(d, "num_key_value_heads", "4");
    EXPECT_LOAD(0, 3, FRS_ERR_INVALID_ARG, "--tp 3 does not divide num_key_value_heads=4");
    FRESH();
    edit_config(d, "intermediate_size", "30"); /* divisible by 2: passes the tp check, then the shape check fails */
    EXPECT_LOAD(0, 2, FRS_ERR_SHAPE, "intermediate_size=30");
    edit_config(d, "intermediate_size", "31");
    EXPECT_LOAD(0, 2, FRS_ERR_INVALID_ARG, "--tp 2 does not divide intermediate_size=31");
    FRESH();
    EXPECT_LOAD(2, 2, FRS_ERR_INVALID_ARG, "rank 2");
    EXPECT_LOAD(0, 0, FRS_ERR_INVALID_ARG, "--tp 0");
    EXPECT_LOAD(-1, 2, FRS_ERR_INVALID_ARG, "rank -1");
    LT_EXPECT_ERR(llama_model_load(&m, lt_path(tmp, "no-such-model"), 0, 1), FRS_ERR_IO, "no-such-model/config.json");
    lt_rm_dir(d);
#undef FRESH
#undef EXPECT_LOAD
}

/* The forward-pass fixtures of another area (tests/fixtures/models/, tests/gen/gen_models.py),
 * some with config.json in the published layout: every one loads. */
static void test_other_fixtures(void)
{
    char root[1024];
    snprintf(root, sizeof root, "%s", test_fixture("models"));
    DIR *dir = opendir(root);
    if (!dir)
        return;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        char d[1300];
        if (e->d_name[0] == '.' || snprintf(d, sizeof d, "%s/%s", root, e->d_name) >= (int)sizeof d)
            continue;
        if (access(lt_path(d, "config.json"), F_OK) != 0)
            continue;
        struct llama_model m;
        CHECK_OK(llama_model_load(&m, d, 0, 1));
        CHECK(m.layers != NULL && m.embed.rows == m.cfg.vocab_size, "%s", d);
        llama_model_free(&m);
    }
    closedir(dir);
}

int main(void)
{
    test_other_fixtures();
    for (size_t i = 0; i < sizeof CKPTS / sizeof CKPTS[0]; i++) {
        test_against_torch(CKPTS[i], 1);
        test_against_torch(CKPTS[i], 2);
    }
    test_vocab_shard();
    char tmp[512];
    CHECK(lt_tmpdir(tmp, sizeof tmp) == 0, "mkdtemp");
    test_bad_dirs(tmp);
    lt_rm_dir(tmp);
    return test_finish("test_model_load");
}
