/* test_safetensors.c - the safetensors reader against the safetensors library's own reading of
 * the same files (tests/fixtures/loader/expected/<name>.json: dtype, shape, shard, sums and sampled
 * values), single and sharded; then corrupt variants made here in a temp dir (truncated,
 * header length past EOF, header not JSON, offsets outside, size/shape/dtype mismatches,
 * overlaps, duplicates, missing shards, bad index): each gives the right status and a message
 * naming the file and the tensor, without crashing.
 */
#include <math.h>

#include "loader_util.h"
#include "safetensors.h"

static const char *const CKPTS[] = {"bf16-untied", "f32-tied", "f16-sharded", "llama3-eos"};

static double st_elem(const struct st_tensor_info *t, int64_t i)
{
    switch (t->dtype) {
    case FRS_DTYPE_F32: return ((const float *)t->data)[i];
    case FRS_DTYPE_BF16: return frs_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case FRS_DTYPE_F16: return frs_f16_to_f32(((const uint16_t *)t->data)[i]);
    default: return NAN;
    }
}

static int64_t st_numel(const struct st_tensor_info *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

static void test_against_reference(const char *name)
{
    char dir[1024], ep[1024];
    snprintf(dir, sizeof dir, "%s/%s", test_fixture("loader"), name);
    snprintf(ep, sizeof ep, "%s/expected/%s.json", test_fixture("loader"), name);
    cJSON *exp = lt_json_load(ep);
    CHECK(exp != NULL, "cannot read %s", ep);
    if (!exp)
        return;
    struct st_set set;
    CHECK_OK(st_open_dir(&set, dir));
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(exp, "tensors");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(exp, "files");
    CHECK(set.n_tensors == cJSON_GetArraySize(tensors), "%s: %d tensors, reference %d", name, set.n_tensors,
          cJSON_GetArraySize(tensors));
    CHECK(set.n_files == cJSON_GetArraySize(files), "%s: %d files, reference %d", name, set.n_files,
          cJSON_GetArraySize(files));
    for (int i = 1; i < set.n_tensors; i++)
        CHECK(strcmp(set.tensors[i - 1].name, set.tensors[i].name) < 0, "%s: table not sorted", name);
    const cJSON *e;
    cJSON_ArrayForEach(e, tensors)
    {
        const char *tn = e->string;
        const struct st_tensor_info *t = st_find(&set, tn);
        CHECK(t != NULL, "%s: tensor %s not found", name, tn);
        if (!t)
            continue;
        CHECK(!strcmp(t->dtype_name, cJSON_GetObjectItem(e, "dtype")->valuestring), "%s: %s dtype %s", name,
              tn, t->dtype_name);
        CHECK(!strcmp(frs_dtype_name(t->dtype), t->dtype_name), "%s: %s enum dtype", name, tn);
        const cJSON *shape = cJSON_GetObjectItem(e, "shape");
        CHECK(t->ndim == cJSON_GetArraySize(shape), "%s: %s ndim %d", name, tn, t->ndim);
        for (int d = 0; d < t->ndim && d < cJSON_GetArraySize(shape); d++)
            CHECK(t->shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble, "%s: %s shape[%d]", name,
                  tn, d);
        const char *path = st_tensor_path(&set, t);
        const char *base = strrchr(path, '/');
        CHECK(!strcmp(base ? base + 1 : path, cJSON_GetObjectItem(e, "file")->valuestring), "%s: %s in %s",
              name, tn, path);
        int64_t n = st_numel(t);
        CHECK(t->nbytes == (size_t)n * frs_dtype_size(t->dtype), "%s: %s nbytes", name, tn);
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(e, "samples"))
        {
            int64_t idx = (int64_t)cJSON_GetArrayItem(s, 0)->valuedouble;
            double want = cJSON_GetArrayItem(s, 1)->valuedouble;
            CHECK(idx < n && st_elem(t, idx) == want, "%s: %s[%lld] = %g, reference %g", name, tn,
                  (long long)idx, idx < n ? st_elem(t, idx) : NAN, want);
        }
        double sum = 0, asum = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = st_elem(t, i);
            sum += v;
            asum += fabs(v);
        }
        double ref_sum = cJSON_GetObjectItem(e, "sum")->valuedouble;
        double ref_asum = cJSON_GetObjectItem(e, "abs_sum")->valuedouble;
        CHECK(fabs(sum - ref_sum) <= 1e-9 * ref_asum + 1e-12, "%s: %s sum %.12g, reference %.12g", name, tn,
              sum, ref_sum);
        CHECK(fabs(asum - ref_asum) <= 1e-9 * ref_asum + 1e-12, "%s: %s abs sum %.12g, reference %.12g",
              name, tn, asum, ref_asum);

        /* checked lookups: the right shape succeeds, a wrong one names both shapes */
        struct frs_mat m;
        if (t->ndim == 2) {
            CHECK_OK(st_get_mat(&set, tn, t->shape[0], t->shape[1], &m));
            CHECK(m.data == t->data && m.rows == t->shape[0] && m.cols == t->shape[1] && m.ld == m.cols &&
                      m.dtype == t->dtype, "%s: %s view", name, tn);
            char want[64], got[64];
            snprintf(got, sizeof got, "[%lld, %lld]", (long long)t->shape[0], (long long)t->shape[1]);
            snprintf(want, sizeof want, "[%lld, %lld]", (long long)t->shape[0] + 1, (long long)t->shape[1]);
            LT_EXPECT_ERR(st_get_mat(&set, tn, t->shape[0] + 1, t->shape[1], &m), FRS_ERR_SHAPE, tn, got, want,
                          base ? base + 1 : path);
            LT_EXPECT_ERR(st_get_vec(&set, tn, t->shape[0], &m), FRS_ERR_SHAPE, tn);
        } else {
            CHECK_OK(st_get_vec(&set, tn, t->shape[0], &m));
            CHECK(m.rows == 1 && m.cols == t->shape[0] && m.data == t->data, "%s: %s vec view", name, tn);
            LT_EXPECT_ERR(st_get_vec(&set, tn, t->shape[0] - 1, &m), FRS_ERR_SHAPE, tn, base ? base + 1 : path);
        }
    }
    CHECK(st_find(&set, "no.such.tensor") == NULL, "absent tensor found");
    struct frs_mat m;
    LT_EXPECT_ERR(st_get_mat(&set, "no.such.tensor", 1, 1, &m), FRS_ERR_MISSING, "'no.such.tensor'", name);
    st_close(&set);
    st_close(&set); /* idempotent */
    cJSON_Delete(exp);
}

/* ---- corrupt single files --------------------------------------------------------------------- */

static cJSON *entry(struct lt_st *s, const char *name) { return cJSON_GetObjectItemCaseSensitive(s->header, name); }

/* Open path; expect status and message parts (file name always included). */
#define EXPECT_OPEN(path, want, ...)                                                  \
    do {                                                                              \
        struct st_set set_;                                                           \
        LT_EXPECT_ERR(st_open_file(&set_, path), want, "model.safetensors", __VA_ARGS__); \
        CHECK(set_.n_tensors == 0 && set_.files == NULL, "set not cleared on error"); \
    } while (0)

static void test_corrupt_files(const char *tmp)
{
    char src[1024];
    snprintf(src, sizeof src, "%s/bf16-untied/model.safetensors", test_fixture("loader"));
    size_t n = 0;
    char *orig = lt_read(src, &n);
    CHECK(orig != NULL && n > 1000, "cannot read %s", src);
    if (!orig)
        return;
    char p[1100]; /* lt_path's buffers rotate: keep a copy */
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    struct lt_st s;
    CHECK(lt_st_load(src, &s) == 0, "parse %s", src);
    lt_st_free(&s);

    /* truncations */
    lt_write(p, orig, n - 100);
    EXPECT_OPEN(p, FRS_ERR_FORMAT, "data_offsets", "truncated");
    lt_write(p, orig, 5);
    EXPECT_OPEN(p, FRS_ERR_FORMAT, "shorter than the 8-byte header");
    lt_write(p, orig, 0);
    EXPECT_OPEN(p, FRS_ERR_FORMAT, "0 bytes");
    lt_write(p, orig, 200);
    EXPECT_OPEN(p, FRS_ERR_FORMAT, "header length");
    /* header length past EOF, and absurd */
    {
        char *b = malloc(n);
        memcpy(b, orig, n);
        uint64_t h = (uint64_t)n;
        for (int i = 0; i < 8; i++)
            b[i] = (char)(h >> (8 * i));
        lt_write(p, b, n);
        EXPECT_OPEN(p, FRS_ERR_FORMAT, "header length", "past the end");
        memset(b, 0xff, 8);
        lt_write(p, b, n);
        EXPECT_OPEN(p, FRS_ERR_FORMAT, "header length");
        /* header not JSON */
        memcpy(b, orig, n);
        b[8] = 'x';
        lt_write(p, b, n);
        EXPECT_OPEN(p, FRS_ERR_FORMAT, "not valid JSON");
        memcpy(b, orig, n);
        b[20] = '\0';
        lt_write(p, b, n);
        EXPECT_OPEN(p, FRS_ERR_FORMAT, "NUL");
        free(b);
    }

#define VARIANT(...)                                     \
    do {                                                 \
        struct lt_st v;                                  \
        CHECK(lt_st_load(src, &v) == 0, "reload");       \
        __VA_ARGS__;                                     \
        lt_st_save(p, &v, true);                         \
        lt_st_free(&v);                                  \
    } while (0)

    const char *T = "model.layers.1.mlp.up_proj.weight"; /* bf16 [32, 64] */
    double d[3];
    /* offsets outside the data section */
    VARIANT({
        cJSON *e = entry(&v, T);
        d[0] = (double)v.data_len;
        d[1] = (double)v.data_len + 4096;
        lt_set_ints(e, "data_offsets", d, 2);
    });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "data_offsets", "outside");
    VARIANT({
        d[0] = 10;
        d[1] = 5;
        lt_set_ints(entry(&v, T), "data_offsets", d, 2);
    });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "data_offsets");
    VARIANT({
        d[0] = 0;
        lt_set_ints(entry(&v, T), "data_offsets", d, 1);
    });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "data_offsets");
    VARIANT({
        d[0] = -4096;
        d[1] = 0;
        lt_set_ints(entry(&v, T), "data_offsets", d, 2);
    });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "data_offsets");
    /* size disagrees with shape x dtype */
    VARIANT({
        d[0] = 32;
        d[1] = 32;
        lt_set_ints(entry(&v, T), "shape", d, 2);
    });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "needs");
    VARIANT({ cJSON_ReplaceItemInObjectCaseSensitive(entry(&v, T), "dtype", cJSON_CreateString("F32")); });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "F32");
    /* bad shapes */
    VARIANT({
        d[0] = -32;
        d[1] = -64;
        lt_set_ints(entry(&v, T), "shape", d, 2);
    });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "shape[0]");
    VARIANT({
        d[0] = 32.5;
        d[1] = 64;
        lt_set_ints(entry(&v, T), "shape", d, 2);
    });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "shape[0]");
    VARIANT({
        d[0] = d[1] = d[2] = 1099511627776.0; /* 2^40 each: the element count overflows */
        lt_set_ints(entry(&v, T), "shape", d, 3);
    });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "overflow");
    VARIANT({
        double nine[9] = {1, 1, 1, 1, 1, 1, 1, 32, 64};
        lt_set_ints(entry(&v, T), "shape", nine, 9);
    });
    EXPECT_OPEN(p, FRS_ERR_UNSUPPORTED, T, "dimensions");
    VARIANT({ cJSON_ReplaceItemInObjectCaseSensitive(entry(&v, T), "dtype", cJSON_CreateString("Q4_K")); });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "Q4_K");
    VARIANT({ cJSON_DeleteItemFromObjectCaseSensitive(entry(&v, T), "dtype"); });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "'dtype'");
    VARIANT({ cJSON_DeleteItemFromObjectCaseSensitive(entry(&v, T), "shape"); });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "'shape'");
    VARIANT({ cJSON_ReplaceItemInObjectCaseSensitive(v.header, T, cJSON_CreateNumber(3)); });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "object");
    VARIANT({
        cJSON_Delete(v.header);
        v.header = cJSON_CreateArray();
    });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, "object");
    /* two tensors on the same bytes */
    VARIANT({
        cJSON *a = entry(&v, "model.layers.1.mlp.gate_proj.weight");
        cJSON_ReplaceItemInObjectCaseSensitive(entry(&v, T), "data_offsets",
                                               cJSON_Duplicate(cJSON_GetObjectItem(a, "data_offsets"), 1));
    });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "model.layers.1.mlp.gate_proj.weight", "overlap");
    /* the same name twice */
    VARIANT({
        cJSON *z = cJSON_CreateObject();
        cJSON_AddStringToObject(z, "dtype", "BF16");
        cJSON_AddItemToObject(z, "shape", cJSON_CreateIntArray((const int[]){0}, 1));
        cJSON_AddItemToObject(z, "data_offsets", cJSON_CreateIntArray((const int[]){0, 0}, 2));
        cJSON_AddItemToObject(v.header, T, z);
    });
    EXPECT_OPEN(p, FRS_ERR_FORMAT, T, "twice");

    /* valid files whose lookups fail: consistent reshape, integer / unsupported dtypes, absent */
    struct st_set set;
    struct frs_mat m;
    VARIANT({
        d[0] = 64;
        d[1] = 32;
        lt_set_ints(entry(&v, T), "shape", d, 2);
    });
    CHECK_OK(st_open_file(&set, p));
    LT_EXPECT_ERR(st_get_mat(&set, T, 32, 64, &m), FRS_ERR_SHAPE, "model.safetensors", T, "[64, 32]", "[32, 64]");
    st_close(&set);
    VARIANT({
        cJSON_ReplaceItemInObjectCaseSensitive(entry(&v, T), "dtype", cJSON_CreateString("I32"));
        d[0] = 32;
        d[1] = 32;
        lt_set_ints(entry(&v, T), "shape", d, 2);
        cJSON_ReplaceItemInObjectCaseSensitive(entry(&v, "model.norm.weight"), "dtype", cJSON_CreateString("F8_E4M3"));
        d[0] = 128;
        lt_set_ints(entry(&v, "model.norm.weight"), "shape", d, 1);
    });
    CHECK_OK(st_open_file(&set, p));
    LT_EXPECT_ERR(st_get_mat(&set, T, 32, 32, &m), FRS_ERR_DTYPE, "model.safetensors", T, "I32");
    LT_EXPECT_ERR(st_get_vec(&set, "model.norm.weight", 128, &m), FRS_ERR_DTYPE, "model.norm.weight", "F8_E4M3");
    CHECK(st_find(&set, T) && st_find(&set, T)->dtype == FRS_DTYPE_I32, "I32 recorded");
    st_close(&set);
    VARIANT({ cJSON_DeleteItemFromObjectCaseSensitive(v.header, T); });
    CHECK_OK(st_open_file(&set, p));
    LT_EXPECT_ERR(st_get_mat(&set, T, 32, 64, &m), FRS_ERR_MISSING, "model.safetensors", T);
    st_close(&set);

    /* header length not a multiple of 8 (old writers): still readable, values intact */
    {
        char fsrc[1024];
        snprintf(fsrc, sizeof fsrc, "%s/f32-tied/model.safetensors", test_fixture("loader"));
        struct lt_st v;
        CHECK(lt_st_load(fsrc, &v) == 0, "reload f32");
        cJSON *md = cJSON_GetObjectItem(v.header, "__metadata__");
        cJSON *padv = cJSON_AddStringToObject(md, "p", "");
        for (int k = 0; k < 16; k++) { /* grow until the header length is odd */
            char *h = cJSON_PrintUnformatted(v.header);
            size_t hl = strlen(h);
            free(h);
            if (hl % 2 == 1)
                break;
            char buf[32];
            snprintf(buf, sizeof buf, "%.*s", k + 1, "xxxxxxxxxxxxxxxxxxxxxxxx");
            cJSON_SetValuestring(padv, buf);
        }
        lt_st_save(p, &v, false);
        size_t on = 0;
        char *raw = lt_read(p, &on);
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--)
            hlen = (hlen << 8) | (unsigned char)raw[i];
        CHECK(hlen % 4 != 0, "misaligned variant has header length %llu", (unsigned long long)hlen);
        free(raw);
        CHECK_OK(st_open_file(&set, p));
        const struct st_tensor_info *t = st_find(&set, "model.embed_tokens.weight");
        struct st_set ref;
        CHECK_OK(st_open_file(&ref, fsrc));
        const struct st_tensor_info *r = st_find(&ref, "model.embed_tokens.weight");
        CHECK(t && r && t->nbytes == r->nbytes && !memcmp(t->data, r->data, r->nbytes) &&
                  ((uintptr_t)t->data % 4) == 0,
              "misaligned file: data differs or is misaligned");
        if (t && r)
            CHECK(((const float *)t->data)[7] == ((const float *)r->data)[7], "f32 read");
        st_close(&ref);
        st_close(&set);
        lt_st_free(&v);
    }
    free(orig);
    LT_EXPECT_ERR(st_open_file(&set, lt_path(tmp, "nonexistent.safetensors")), FRS_ERR_IO, "nonexistent.safetensors");
    LT_EXPECT_ERR(st_open_file(&set, tmp), FRS_ERR_IO, tmp);
}

/* ---- sharded sets and directories -------------------------------------------------------------- */

static void test_corrupt_dirs(const char *tmp)
{
    char src[1024];
    snprintf(src, sizeof src, "%s/f16-sharded", test_fixture("loader"));
    char d[1024];
    snprintf(d, sizeof d, "%s/sharded", tmp);
    struct st_set set;
    const char *IDX = "model.safetensors.index.json";
    const char *S2 = "model-00002-of-00003.safetensors";

#define FRESH() (lt_rm_dir(d), lt_copy_dir(src, d))
    FRESH();
    CHECK_OK(st_open_dir(&set, d));
    CHECK(set.n_files == 3, "3 shards, got %d", set.n_files);
    st_close(&set);

    FRESH();
    unlink(lt_path(d, S2));
    LT_EXPECT_ERR(st_open_dir(&set, d), FRS_ERR_IO, IDX, S2);

    FRESH();
    lt_write(lt_path(d, IDX), "{\"weight_map\": {", 16);
    LT_EXPECT_ERR(st_open_dir(&set, d), FRS_ERR_FORMAT, IDX);

    FRESH();
    lt_write(lt_path(d, IDX), "{\"metadata\": {}}", 16);
    LT_EXPECT_ERR(st_open_dir(&set, d), FRS_ERR_FORMAT, IDX, "'weight_map'");

    /* a tensor listed in a shard that does not hold it */
    FRESH();
    {
        cJSON *idx = lt_json_load(lt_path(d, IDX));
        cJSON *wm = cJSON_GetObjectItem(idx, "weight_map");
        const char *victim = NULL;
        cJSON *e;
        cJSON_ArrayForEach(e, wm) if (strcmp(e->valuestring, S2) != 0 && !victim) victim = e->string;
        char vname[256];
        snprintf(vname, sizeof vname, "%s", victim);
        cJSON_ReplaceItemInObjectCaseSensitive(wm, vname, cJSON_CreateString(S2));
        lt_json_save(lt_path(d, IDX), idx);
        cJSON_Delete(idx);
        LT_EXPECT_ERR(st_open_dir(&set, d), FRS_ERR_MISSING, IDX, vname, S2);
    }
    FRESH();
    {
        cJSON *idx = lt_json_load(lt_path(d, IDX));
        cJSON_AddStringToObject(cJSON_GetObjectItem(idx, "weight_map"), "model.extra.weight", S2);
        lt_json_save(lt_path(d, IDX), idx);
        cJSON_Delete(idx);
        LT_EXPECT_ERR(st_open_dir(&set, d), FRS_ERR_MISSING, IDX, "model.extra.weight", S2);
    }
    FRESH();
    {
        cJSON *idx = lt_json_load(lt_path(d, IDX));
        cJSON_AddStringToObject(cJSON_GetObjectItem(idx, "weight_map"), "model.extra.weight", "../evil.safetensors");
        lt_json_save(lt_path(d, IDX), idx);
        cJSON_Delete(idx);
        LT_EXPECT_ERR(st_open_dir(&set, d), FRS_ERR_FORMAT, IDX, "model.extra.weight");
    }
    /* the same tensor in two shards */
    FRESH();
    {
        struct lt_st v;
        const char *s1 = lt_path(d, "model-00001-of-00003.safetensors");
        CHECK(lt_st_load(s1, &v) == 0, "load shard 1");
        cJSON *z = cJSON_CreateObject();
        cJSON_AddStringToObject(z, "dtype", "F16");
        cJSON_AddItemToObject(z, "shape", cJSON_CreateIntArray((const int[]){0}, 1));
        cJSON_AddItemToObject(z, "data_offsets", cJSON_CreateIntArray((const int[]){0, 0}, 2));
        cJSON_AddItemToObject(v.header, "lm_head.weight", z);
        lt_st_save(s1, &v, true);
        lt_st_free(&v);
        LT_EXPECT_ERR(st_open_dir(&set, d), FRS_ERR_FORMAT, "lm_head.weight", "twice");
    }
    /* a corrupt shard is named */
    FRESH();
    {
        const char *s2 = lt_path(d, S2);
        size_t n = 0;
        char *b = lt_read(s2, &n);
        lt_write(s2, b, n / 2);
        free(b);
        LT_EXPECT_ERR(st_open_dir(&set, d), FRS_ERR_FORMAT, S2);
    }
    /* without an index: several files is ambiguous, one file of any name is taken */
    FRESH();
    unlink(lt_path(d, IDX));
    LT_EXPECT_ERR(st_open_dir(&set, d), FRS_ERR_MISSING, d, "model.safetensors.index.json");
    unlink(lt_path(d, "model-00001-of-00003.safetensors"));
    unlink(lt_path(d, "model-00003-of-00003.safetensors"));
    CHECK_OK(st_open_dir(&set, d));
    CHECK(set.n_files == 1 && set.n_tensors > 0, "single odd-named file");
    st_close(&set);
    unlink(lt_path(d, S2));
    LT_EXPECT_ERR(st_open_dir(&set, d), FRS_ERR_MISSING, d, "safetensors");
    LT_EXPECT_ERR(st_open_dir(&set, lt_path(tmp, "no-such-dir")), FRS_ERR_IO, "no-such-dir");
    lt_rm_dir(d);
#undef FRESH
}

int main(void)
{
    for (size_t i = 0; i < sizeof CKPTS / sizeof CKPTS[0]; i++)
        test_against_reference(CKPTS[i]);
    char tmp[512];
    CHECK(lt_tmpdir(tmp, sizeof tmp) == 0, "mkdtemp");
    test_corrupt_files(tmp);
    test_corrupt_dirs(tmp);
    lt_rm_dir(tmp);
    return test_finish("test_safetensors");
}
