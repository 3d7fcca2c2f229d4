/* test_draft_load.c - the EAGLE-2 draft head loader and the FR-Spec reduced LM head
 * (runtime/draft.c), with tiny heads written by tests/gen/gen_frvocab_fixtures.py:
 *   - head64 (bf16/f16 weights, f32 fc.bias) and head16 (f32, no bias) load; every weight equals
 *     the same tensor read from torch.save's pytorch_model.bin by the pickle reader (an
 *     independent path); no input norm, full vocabulary = the target's LM head view;
 *   - errors: hidden size / vocabulary that differ from the target's (both files and values named),
 *     missing fc.weight, fc.weight of the wrong shape, 2 layers; an extra input_layernorm is ignored;
 *   - a directory with only the published pytorch_model.bin loads (converted in memory), with
 *     the same weight bytes as torch.save's file, as published heads are;
 *   - set_vocab: the first K distinct ids of fr.py-shaped lists (expected.json), row j of the
 *     reduced head = the target's row ids[j] bit for bit (f32, bf16, a padded ld), errors for an
 *     empty list, ids out of range (index and value named), too few distinct ids, k > vocab.
 * The target is a hand-built struct llama_model whose LM head rows are closed-form values.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "draft.h"
#include "frvocab.h"
#include "testutil.h"
#include "torchzip.h"

static char tmp[] = "/tmp/frspec-draft-XXXXXX";

/* A target with V x C LM head, element (r, c) = r + c / 1024 (exact in f32 and, for small r, bf16). */
struct fake_target {
    struct llama_model m;
    void *lm;
};

static void fake_target_init(struct fake_target *t, int V, int C, enum frs_dtype dt, int ld)
{
    memset(t, 0, sizeof *t);
    t->m.dir = "fake-target";
    t->m.cfg.hidden_size = C;
    t->m.cfg.vocab_size = V;
    size_t esz = frs_dtype_size(dt);
    t->lm = calloc((size_t)V * (size_t)ld, esz);
    for (int r = 0; r < V; r++)
        for (int c = 0; c < C; c++) {
            float x = (float)r + (float)c / 1024.0f;
            if (dt == FRS_DTYPE_F32)
                ((float *)t->lm)[(size_t)r * ld + c] = x;
            else
                ((uint16_t *)t->lm)[(size_t)r * ld + c] = (uint16_t)(r * 131 + c); /* any bit pattern */
        }
    t->m.lm_head_full = (struct frs_mat){.dtype = dt, .rows = V, .cols = C, .ld = ld, .data = t->lm};
    t->m.lm_head = t->m.lm_head_full;
    t->m.vocab_local = V;
}

static void make_dir(const char *name, const char *src_dir, const char *config_json, const char *st_file,
                     int with_bin, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", tmp, name);
    mkdir(out, 0755);
    char p[512], s[512];
    snprintf(p, sizeof p, "%s/config.json", out);
    if (config_json) {
        FILE *f = fopen(p, "w");
        fputs(config_json, f);
        fclose(f);
    } else {
        snprintf(s, sizeof s, "%s/config.json", src_dir);
        CHECK(symlink(s, p) == 0, "symlink %s", p);
    }
    if (st_file) {
        snprintf(s, sizeof s, "%s/%s", src_dir, st_file);
        snprintf(p, sizeof p, "%s/model.safetensors", out);
        CHECK(symlink(s, p) == 0, "symlink %s", p);
    }
    if (with_bin) {
        snprintf(s, sizeof s, "%s/pytorch_model.bin", src_dir);
        snprintf(p, sizeof p, "%s/pytorch_model.bin", out);
        CHECK(symlink(s, p) == 0, "symlink %s", p);
    }
}

/* The view m holds exactly the bytes of tensor name in the torch.save file. */
static void check_weight(const struct tz_state_dict *sd, const char *name, const struct frs_mat *m)
{
    const struct tz_tensor *t = NULL;
    for (int i = 0; i < sd->n; i++)
        if (!strcmp(sd->tensors[i].name, name))
            t = &sd->tensors[i];
    CHECK(t != NULL, "%s not in pytorch_model.bin", name);
    if (!t || !m->data)
        return;
    int64_t rows = t->ndim == 2 ? t->shape[0] : 1, cols = t->shape[t->ndim - 1];
    CHECK(m->dtype == t->dtype && m->rows == rows && m->cols == cols, "%s: view %s %lldx%lld, torch %s %lldx%lld",
          name, frs_dtype_name(m->dtype), (long long)m->rows, (long long)m->cols, frs_dtype_name(t->dtype),
          (long long)rows, (long long)cols);
    size_t esz = frs_dtype_size(t->dtype), nb = (size_t)(rows * cols) * esz;
    char *buf = malloc(nb);
    CHECK_OK(tz_tensor_copy(t, buf));
    int same = 1;
    for (int64_t r = 0; r < rows && same; r++)
        same = !memcmp(buf + (size_t)(r * cols) * esz, (const char *)m->data + (size_t)(r * m->ld) * esz,
                       (size_t)cols * esz);
    CHECK(same, "%s: loaded bytes differ from torch.save's", name);
    free(buf);
}

static void test_load_ok(const char *head, int C, int with_bias, int n_tensors, int bin_only)
{
    char src[512], dir[512], bin[600], name[64];
    snprintf(src, sizeof src, "%s", test_fixture(head));
    snprintf(name, sizeof name, "%s%s", head + strlen("frvocab/"), bin_only ? "-bin" : "");
    make_dir(name, src, NULL, bin_only ? NULL : "reference.safetensors", bin_only, dir, sizeof dir);
    struct fake_target t;
    fake_target_init(&t, 512, C, FRS_DTYPE_F32, C);
    struct eagle_draft d;
    enum frs_status st = eagle_draft_load(&d, dir, &t.m);
    CHECK(st == FRS_OK, "%s: %s", head, frs_error_msg());
    if (st == FRS_OK) {
        CHECK(d.k == 512 && d.ids == NULL && d.lm_head_rows == NULL && d.lm_head.data == t.m.lm_head_full.data,
              "%s: full vocabulary = the target's LM head", head);
        CHECK(d.layer.attn_norm.data == NULL, "%s: layer 0 has no input norm", head);
        CHECK((d.fc_bias.data != NULL) == with_bias, "%s: fc.bias presence", head);
        struct tz_state_dict sd;
        snprintf(bin, sizeof bin, "%s/pytorch_model.bin", src);
        CHECK_OK(tz_load_state_dict(&sd, bin));
        CHECK(sd.n == n_tensors, "%s: %d tensors", head, sd.n);
        check_weight(&sd, "fc.weight", &d.fc);
        if (with_bias)
            check_weight(&sd, "fc.bias", &d.fc_bias);
        check_weight(&sd, "layers.0.self_attn.q_proj.weight", &d.layer.wq);
        check_weight(&sd, "layers.0.self_attn.k_proj.weight", &d.layer.wk);
        check_weight(&sd, "layers.0.self_attn.v_proj.weight", &d.layer.wv);
        check_weight(&sd, "layers.0.self_attn.o_proj.weight", &d.layer.wo);
        check_weight(&sd, "layers.0.post_attention_layernorm.weight", &d.layer.mlp_norm);
        check_weight(&sd, "layers.0.mlp.gate_proj.weight", &d.layer.w_gate);
        check_weight(&sd, "layers.0.mlp.up_proj.weight", &d.layer.w_up);
        check_weight(&sd, "layers.0.mlp.down_proj.weight", &d.layer.w_down);
        tz_state_dict_free(&sd);
        eagle_draft_free(&d);
    }
    free(t.lm);
}

static void expect_load_error(const char *dir, int V, int C, enum frs_status want, const char *w1, const char *w2)
{
    struct fake_target t;
    fake_target_init(&t, V, C, FRS_DTYPE_F32, C);
    struct eagle_draft d;
    enum frs_status st = eagle_draft_load(&d, dir, &t.m);
    CHECK(st == want && strstr(frs_error_msg(), w1) && (!w2 || strstr(frs_error_msg(), w2)),
          "%s: expected %s naming '%s' / '%s', got %s", dir, frs_status_str(want), w1, w2 ? w2 : "", frs_error_msg());
    if (st == FRS_OK)
        eagle_draft_free(&d);
    free(t.lm);
}

static void test_load_errors(void)
{
    char src[512], dir[512];
    snprintf(src, sizeof src, "%s", test_fixture("frvocab/head16"));
    make_dir("ok16", src, NULL, "reference.safetensors", 0, dir, sizeof dir);
    expect_load_error(dir, 512, 32, FRS_ERR_SHAPE, "hidden_size", "fake-target/config.json");
    expect_load_error(dir, 1000, 16, FRS_ERR_SHAPE, "vocab_size", "1000");
    make_dir("nofc", src, NULL, "nofc.safetensors", 0, dir, sizeof dir);
    expect_load_error(dir, 512, 16, FRS_ERR_MISSING, "fc.weight", NULL);
    make_dir("fcshape", src, NULL, "fcshape.safetensors", 0, dir, sizeof dir);
    expect_load_error(dir, 512, 16, FRS_ERR_SHAPE, "fc.weight", NULL);
    /* a broken pytorch_model.bin alone: the error names it */
    make_dir("binbad", src, NULL, NULL, 0, dir, sizeof dir);
    {
        char p[600];
        snprintf(p, sizeof p, "%s/pytorch_model.bin", dir);
        FILE *f = fopen(p, "w");
        fputs("not a zip archive", f);
        fclose(f);
    }
    expect_load_error(dir, 512, 16, FRS_ERR_FORMAT, "pytorch_model.bin", NULL);
    make_dir("noconfig", src, "", "reference.safetensors", 0, dir, sizeof dir);
    expect_load_error(dir, 512, 16, FRS_ERR_FORMAT, "config.json", NULL);

    /* two layers */
    char cfgp[600];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", src);
    char *cfg = test_read_file(cfgp, NULL);
    CHECK(cfg != NULL, "read %s", cfgp);
    if (cfg) {
        char *p = strstr(cfg, "\"num_hidden_layers\": 1");
        CHECK(p != NULL, "config has num_hidden_layers 1");
        if (p) {
            p[strlen("\"num_hidden_layers\": ")] = '2';
            make_dir("twolayers", src, cfg, "reference.safetensors", 0, dir, sizeof dir);
            expect_load_error(dir, 512, 16, FRS_ERR_UNSUPPORTED, "num_hidden_layers", NULL);
        }
        free(cfg);
    }

    /* "bias": true without fc.bias: a zero bias */
    cfg = test_read_file(cfgp, NULL);
    if (cfg) {
        char *p = strstr(cfg, "\"bias\": false");
        CHECK(p != NULL, "config has bias false");
        if (p) {
            memcpy(p, "\"bias\": true ", strlen("\"bias\": false"));
            make_dir("biastrue", src, cfg, "reference.safetensors", 0, dir, sizeof dir);
            struct fake_target tb;
            fake_target_init(&tb, 512, 16, FRS_DTYPE_F32, 16);
            struct eagle_draft db;
            CHECK_OK(eagle_draft_load(&db, dir, &tb.m));
            CHECK(db.cfg.bias && db.fc_bias.data == NULL, "bias true, fc.bias absent: zero bias");
            eagle_draft_free(&db);
            free(tb.lm);
        }
        free(cfg);
    }

    /* an extra input_layernorm (and embed_tokens) is ignored */
    make_dir("inorm", src, NULL, "input_norm.safetensors", 0, dir, sizeof dir);
    struct fake_target t;
    fake_target_init(&t, 512, 16, FRS_DTYPE_F32, 16);
    struct eagle_draft d;
    CHECK_OK(eagle_draft_load(&d, dir, &t.m));
    CHECK(d.layer.attn_norm.data == NULL, "input_layernorm ignored");
    eagle_draft_free(&d);
    free(t.lm);
}

static cJSON *load_expected(void)
{
    char *js = test_read_file(test_fixture("frvocab/expected.json"), NULL);
    cJSON *e = js ? cJSON_Parse(js) : NULL;
    free(js);
    return e;
}

/* Reduced head rows = the target's rows at the expected first-K-distinct ids. */
static void check_gather(const struct eagle_draft *d, const struct fake_target *t, const cJSON *want, const char *what)
{
    int k = cJSON_GetArraySize(want);
    CHECK(d->k == k && d->lm_head.rows == k && d->lm_head.cols == t->m.lm_head_full.cols &&
              d->lm_head.ld == d->lm_head.cols && d->lm_head.dtype == t->m.lm_head_full.dtype &&
              d->lm_head.data == d->lm_head_rows,
          "%s: reduced head %d x %lld (ld %lld), expected %d rows", what, d->k, (long long)d->lm_head.cols,
          (long long)d->lm_head.ld, k);
    if (d->k != k)
        return;
    size_t esz = frs_dtype_size(t->m.lm_head_full.dtype), C = (size_t)t->m.lm_head_full.cols;
    int bad = 0;
    for (int j = 0; j < k; j++) {
        int id = cJSON_GetArrayItem(want, j)->valueint;
        if (d->ids[j] != id && !bad++)
            CHECK(0, "%s: ids[%d] = %d, expected %d", what, j, (int)d->ids[j], id);
        const char *row = (const char *)d->lm_head.data + (size_t)j * C * esz;
        const char *ref = (const char *)t->m.lm_head_full.data + (size_t)id * (size_t)t->m.lm_head_full.ld * esz;
        if (memcmp(row, ref, C * esz) && !bad++)
            CHECK(0, "%s: row %d differs from target row %d", what, j, id);
    }
    test_checks++;
}

static void set_vocab_from(struct eagle_draft *d, const struct fake_target *t, const char *file, int k,
                           enum frs_status want, const char *w1, const char *w2)
{
    char rel[128];
    snprintf(rel, sizeof rel, "frvocab/%s", file);
    int32_t *ids = NULL;
    int n = 0;
    CHECK_OK(frvocab_load(test_fixture(rel), &ids, &n));
    enum frs_status st = eagle_draft_set_vocab(d, &t->m, ids, n, k);
    CHECK(st == want && (!w1 || strstr(frs_error_msg(), w1)) && (!w2 || strstr(frs_error_msg(), w2)),
          "%s k=%d: expected %s naming '%s' / '%s', got %s", file, k, frs_status_str(want), w1 ? w1 : "",
          w2 ? w2 : "", st == FRS_OK ? "ok" : frs_error_msg());
    free(ids);
}

static void test_set_vocab(void)
{
    cJSON *e = load_expected();
    CHECK(e != NULL, "expected.json");
    if (!e)
        return;
    const int V = 128256, C = 8;
    struct fake_target t32, t16, tld;
    fake_target_init(&t32, V, C, FRS_DTYPE_F32, C);
    fake_target_init(&t16, V, C, FRS_DTYPE_BF16, C);
    fake_target_init(&tld, V, C, FRS_DTYPE_F32, C + 5); /* rows padded: gather must use ld */
    struct eagle_draft d;
    memset(&d, 0, sizeof d);

    const char *files[] = {"freq_64.pt", "freq_64_eot.pt", "freq_1500.pt"};
    for (size_t f = 0; f < 3; f++) {
        const cJSON *x = cJSON_GetObjectItem(e, files[f]);
        int k = cJSON_GetObjectItem(x, "k")->valueint;
        const cJSON *want = cJSON_GetObjectItem(x, "first_k_distinct");
        set_vocab_from(&d, &t32, files[f], k, FRS_OK, NULL, NULL);
        check_gather(&d, &t32, want, files[f]);
        set_vocab_from(&d, &t16, files[f], k, FRS_OK, NULL, NULL);
        check_gather(&d, &t16, want, files[f]);
        set_vocab_from(&d, &tld, files[f], k, FRS_OK, NULL, NULL);
        check_gather(&d, &tld, want, files[f]);
    }
    /* k = 0: every distinct id (freq_64.pt: 64) */
    set_vocab_from(&d, &t32, "freq_64.pt", 0, FRS_OK, NULL, NULL);
    check_gather(&d, &t32, cJSON_GetObjectItem(cJSON_GetObjectItem(e, "freq_64.pt"), "first_k_distinct"), "k=0");
    /* fewer distinct ids than k: 65 entries, 64 distinct */
    set_vocab_from(&d, &t32, "freq_64.pt", 65, FRS_ERR_INVALID_ARG, "only 64 distinct", "65");
    CHECK(d.k == 64, "a failed set_vocab keeps the previous head (k=%d)", d.k);
    set_vocab_from(&d, &t32, "out_of_range.pt", 2, FRS_ERR_INVALID_ARG, "entry 1", "128256");
    set_vocab_from(&d, &t32, "freq_64.pt", V + 1, FRS_ERR_INVALID_ARG, "128257", "128256");
    int32_t neg[] = {4, 9, -2};
    CHECK(eagle_draft_set_vocab(&d, &t32.m, neg, 3, 2) == FRS_ERR_INVALID_ARG && strstr(frs_error_msg(), "entry 2") &&
              strstr(frs_error_msg(), "-2"),
          "negative id: %s", frs_error_msg());
    CHECK(eagle_draft_set_vocab(&d, &t32.m, neg, 0, 2) == FRS_ERR_INVALID_ARG && strstr(frs_error_msg(), "empty"),
          "empty list: %s", frs_error_msg());
    CHECK(eagle_draft_set_vocab(&d, &t32.m, NULL, 0, 7) == FRS_ERR_INVALID_ARG, "no list with k = 7");
    /* back to the full vocabulary */
    CHECK_OK(eagle_draft_set_vocab(&d, &t32.m, NULL, 0, 0));
    CHECK(d.k == V && d.ids == NULL && d.lm_head_rows == NULL && d.lm_head.data == t32.lm, "full vocabulary");
    eagle_draft_free(&d);
    free(t32.lm);
    free(t16.lm);
    free(tld.lm);
    cJSON_Delete(e);
}

int main(void)
{
    if (!mkdtemp(tmp))
        return 1;
    test_load_ok("frvocab/head64", 64, 1, 10, 0);
    test_load_ok("frvocab/head16", 16, 0, 9, 0);
    test_load_ok("frvocab/head64", 64, 1, 10, 1); /* the published file alone */
    test_load_ok("frvocab/head16", 16, 0, 9, 1);
    test_load_errors();
    test_set_vocab();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "note: could not remove %s\n", tmp);
    return test_finish("test_draft_load");
}
