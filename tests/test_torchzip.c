/* test_torchzip.c - the torch.save reader and writer (runtime/torchzip.c) and `frspec
 * convert-draft` (launch/cmd_convert.c), against files written by torch.save and safetensors in
 * tests/gen/gen_frvocab_fixtures.py:
 *   - int lists (fr.py's freq_64 with its trailing extras, protocol 4, 1,500 ids, tuple, empty,
 *     negative, 2^40) equal the lists in expected.json;
 *   - state_dicts (bf16/f16/f32, OrderedDict with _metadata, protocol 4, strided views, storage
 *     offsets, i64, 0-d, nn.Parameter) equal safetensors.save_file's tensors byte for byte;
 *   - convert-draft writes the very bytes safetensors.save_file wrote;
 *   - the writer's lists read back here and (when python3 with torch is installed) by torch.load;
 *   - hand-made pickles: each error names the file and the opcode; limits hold;
 *   - mutated fixtures through the fuzz entry never crash (run under ASan in CI).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "testutil.h"
#include "torchzip.h"

int cmd_convert_draft(int argc, char **argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static cJSON *expected;

static int mkdir_p(const char *p) { return mkdir(p, 0755) == 0; }

static void check_list(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "frvocab/%s", name);
    int64_t *v = NULL;
    size_t n = 0;
    CHECK_OK(tz_load_int_list(test_fixture(rel), &v, &n));
    const cJSON *raw = cJSON_GetObjectItem(cJSON_GetObjectItem(expected, name), "raw");
    CHECK(raw && (size_t)cJSON_GetArraySize(raw) == n, "%s: %zu ids, expected %d", name, n,
          raw ? cJSON_GetArraySize(raw) : -1);
    size_t i = 0;
    const cJSON *e;
    int bad = 0;
    cJSON_ArrayForEach(e, raw)
    {
        if (i < n && (double)v[i] != e->valuedouble && !bad++)
            CHECK(0, "%s: entry %zu is %lld, expected %.0f", name, i, (long long)v[i], e->valuedouble);
        i++;
    }
    free(v);
}

static void test_lists(void)
{
    const char *names[] = {"freq_64.pt", "freq_64_eot.pt", "freq_64_p4.pt", "freq_1500.pt", "tuple.pt",
                           "empty.pt", "out_of_range.pt", "negative.pt", "long.pt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_list(names[i]);
    /* the fr.py shape: K+1 entries, BOS twice */
    int64_t *v = NULL;
    size_t n = 0;
    CHECK_OK(tz_load_int_list(test_fixture("frvocab/long.pt"), &v, &n));
    CHECK(n == 2 && v[1] == (int64_t)1 << 40, "LONG1 2^40 read as %lld", n == 2 ? (long long)v[1] : -1LL);
    free(v);
    CHECK_OK(tz_load_int_list(test_fixture("frvocab/negative.pt"), &v, &n));
    CHECK(n == 3 && v[1] == -1, "BININT -1");
    free(v);

    enum frs_status st = tz_load_int_list(test_fixture("frvocab/dict.pt"), &v, &n);
    CHECK(st == FRS_ERR_FORMAT && strstr(frs_error_msg(), "dict.pt") && strstr(frs_error_msg(), "dict"),
          "dict.pt: %s", frs_error_msg());
    st = tz_load_int_list(test_fixture("frvocab/tensor.pt"), &v, &n);
    CHECK(st == FRS_ERR_FORMAT && strstr(frs_error_msg(), "tensor"), "tensor.pt: %s", frs_error_msg());
    st = tz_load_int_list(test_fixture("frvocab/freq_64.txt"), &v, &n);
    CHECK(st == FRS_ERR_FORMAT && strstr(frs_error_msg(), "freq_64.txt"), "a text file: %s", frs_error_msg());
    st = tz_load_int_list(test_fixture("frvocab/no-such-file.pt"), &v, &n);
    CHECK(st == FRS_ERR_IO && strstr(frs_error_msg(), "no-such-file.pt"), "missing: %s", frs_error_msg());
}

/* Each tensor of the .pt equals the same-named tensor of the safetensors file, bytes and shape. */
static void check_state_dict(const char *pt, const char *ref, int n_expected)
{
    struct tz_state_dict sd;
    struct st_set set;
    enum frs_status st1 = tz_load_state_dict(&sd, test_fixture(pt));
    CHECK(st1 == FRS_OK, "%s: %s", pt, frs_error_msg());
    enum frs_status st2 = st_open_file(&set, test_fixture(ref));
    CHECK(st2 == FRS_OK, "%s: %s", ref, frs_error_msg());
    if (st1 != FRS_OK || st2 != FRS_OK)
        return;
    CHECK(sd.n == n_expected && sd.n == set.n_tensors, "%s: %d tensors, reference %d, expected %d", pt, sd.n,
          set.n_tensors, n_expected);
    for (int i = 0; i < sd.n; i++) {
        const struct tz_tensor *t = &sd.tensors[i];
        const struct st_tensor_info *r = st_find(&set, t->name);
        CHECK(r != NULL, "%s: tensor '%s' not in %s", pt, t->name, ref);
        if (!r)
            continue;
        CHECK(t->dtype == r->dtype, "%s: '%s' dtype %s, reference %s", pt, t->name, frs_dtype_name(t->dtype),
              frs_dtype_name(r->dtype));
        int same_shape = t->ndim == r->ndim;
        for (int d = 0; same_shape && d < t->ndim; d++)
            same_shape = t->shape[d] == r->shape[d];
        CHECK(same_shape, "%s: '%s' shape differs", pt, t->name);
        size_t nbytes = (size_t)tz_tensor_numel(t) * frs_dtype_size(t->dtype);
        CHECK(nbytes == r->nbytes, "%s: '%s' %zu bytes, reference %zu", pt, t->name, nbytes, r->nbytes);
        if (nbytes != r->nbytes)
            continue;
        void *buf = malloc(nbytes + 1);
        CHECK_OK(tz_tensor_copy(t, buf));
        CHECK(memcmp(buf, r->data, nbytes) == 0, "%s: '%s' bytes differ from the reference", pt, t->name);
        free(buf);
    }
    st_close(&set);
    tz_state_dict_free(&sd);
}

static int files_equal(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    int eq = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return eq;
}

static void test_convert(const char *tmp)
{
    char out[512], in[512], ref[512], cfg_in[512], cfg_out[512];
    const char *cases[][3] = {{"frvocab/head64/pytorch_model.bin", "frvocab/head64/reference.safetensors", "h64"},
                              {"frvocab/head16/pytorch_model.bin", "frvocab/head16/reference.safetensors", "h16"},
                              {"frvocab/views.pt", "frvocab/views.safetensors", "views"}};
    for (int c = 0; c < 3; c++) {
        snprintf(in, sizeof in, "%s", test_fixture(cases[c][0]));
        snprintf(ref, sizeof ref, "%s", test_fixture(cases[c][1]));
        snprintf(out, sizeof out, "%s/%s", tmp, cases[c][2]);
        CHECK(mkdir_p(out), "mkdir %s", out);
        char *argv[] = {"convert-draft", "--in", in, "--out", out, NULL};
        int rc = cmd_convert_draft(5, argv);
        CHECK(rc == 0, "convert-draft %s -> %d", in, rc);
        snprintf(out + strlen(out), sizeof out - strlen(out), "/model.safetensors");
        CHECK(files_equal(out, ref), "%s: converted file differs from safetensors.save_file's %s", in, ref);
    }
    /* config.json copied next to the output */
    snprintf(cfg_in, sizeof cfg_in, "%s", test_fixture("frvocab/head64/config.json"));
    snprintf(cfg_out, sizeof cfg_out, "%s/h64/config.json", tmp);
    CHECK(files_equal(cfg_in, cfg_out), "config.json not copied to %s", cfg_out);

    /* errors: a list is not a state_dict; a missing file; bad options */
    snprintf(in, sizeof in, "%s", test_fixture("frvocab/freq_64.pt"));
    snprintf(out, sizeof out, "%s/list.safetensors", tmp);
    char *a1[] = {"convert-draft", "--in", in, "--out", out, NULL};
    CHECK(cmd_convert_draft(5, a1) == 1 && access(out, F_OK) != 0, "a list converted");
    char *a2[] = {"convert-draft", "--in", "/nonexistent/pytorch_model.bin", "--out", out, NULL};
    CHECK(cmd_convert_draft(5, a2) == 1, "a missing input converted");
    char *a3[] = {"convert-draft", "--bogus", NULL};
    CHECK(cmd_convert_draft(2, a3) == 2, "bad option accepted");
}

/* Pickles made by hand: closed-form expectations. */
static void test_pickles(void)
{
    int64_t *v = NULL;
    size_t n = 0;
    static const uint8_t ok1[] = {0x80, 2, ']', 'q', 0, '(', 'K', 1, 'M', 0x34, 0x12, 'J', 0xff, 0xff, 0xff, 0x7f,
                                  0x8a, 1, 0xfe, 'h', 0, 'e', '.'};
    /* [1, 0x1234, 2^31-1, -2, <the list itself>]: the last item is not an int */
    enum frs_status st = tz_parse_int_list_pickle(ok1, sizeof ok1, "ok1.pkl", &v, &n);
    CHECK(st == FRS_ERR_FORMAT && strstr(frs_error_msg(), "entry 4"), "self-reference: %s", frs_error_msg());
    static const uint8_t ok2[] = {0x80, 4, 0x95, 12, 0, 0, 0, 0, 0, 0, 0, ']', 0x94, '(', 'K', 7, 'K', 9, 'e',
                                  'K', 11, 'a', '.'};
    CHECK_OK(tz_parse_int_list_pickle(ok2, sizeof ok2, "ok2.pkl", &v, &n));
    CHECK(n == 3 && v[0] == 7 && v[1] == 9 && v[2] == 11, "protocol 4 list");
    free(v);
    static const uint8_t ok3[] = {0x80, 2, '(', 'K', 3, 'K', 4, 't', '.'};
    CHECK_OK(tz_parse_int_list_pickle(ok3, sizeof ok3, "ok3.pkl", &v, &n));
    CHECK(n == 2 && v[0] == 3 && v[1] == 4, "tuple");
    free(v);

    struct {
        const char *name;
        const uint8_t *p;
        size_t n;
        const char *want;
    } bad[] = {
#define PK(lit) (const uint8_t *)(lit), sizeof(lit) - 1
        {"text-op.pkl", PK("\x80\x02]S'x'\n."), "0x53"},
        {"underflow.pkl", PK("\x80\x02" "e."), "MARK"},
        {"no-stop.pkl", PK("\x80\x02]"), "STOP"},
        {"truncated.pkl", PK("\x80\x02J\x01"), "truncated"},
        {"memo.pkl", PK("\x80\x02h\x05."), "memo"},
        {"wide.pkl", PK("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09."), "64 bits"},
        {"proto.pkl", PK("\x80\x09]."), "protocol"},
        {"global.pkl", PK("\x80\x02" "cos\nsystem\n)R."), "os.system"},
#undef PK
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st = tz_parse_int_list_pickle(bad[i].p, bad[i].n, bad[i].name, &v, &n);
        CHECK(st != FRS_OK && strstr(frs_error_msg(), bad[i].name) && strstr(frs_error_msg(), bad[i].want),
              "%s: expected an error naming '%s', got %s", bad[i].name, bad[i].want, frs_error_msg());
        if (st == FRS_OK)
            free(v);
    }
    /* limits: 70,000 nested MARKs, a memo index of 2^31 */
    size_t big = 70000 + 4;
    uint8_t *deep = malloc(big);
    deep[0] = 0x80;
    deep[1] = 2;
    memset(deep + 2, '(', 70000);
    deep[big - 2] = ']';
    deep[big - 1] = '.';
    st = tz_parse_int_list_pickle(deep, big, "deep.pkl", &v, &n);
    CHECK(st == FRS_ERR_FORMAT && strstr(frs_error_msg(), "limit"), "deep marks: %s", frs_error_msg());
    free(deep);
    static const uint8_t memo[] = {0x80, 2, ']', 'r', 0, 0, 0, 0x80, '.'};
    st = tz_parse_int_list_pickle(memo, sizeof memo, "memo-big.pkl", &v, &n);
    CHECK(st == FRS_ERR_FORMAT && strstr(frs_error_msg(), "limit"), "big memo index: %s", frs_error_msg());
}

static int have_torch(void)
{
    return system("python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

static void test_writer(const char *tmp)
{
    size_t n = 2345;
    int64_t *vals = malloc(n * sizeof *vals);
    for (size_t i = 0; i < n; i++)
        vals[i] = (int64_t)((i * 7919u) % 128256u);
    vals[1] = -1;
    vals[2] = 65535;
    vals[3] = 65536;
    vals[4] = INT32_MAX;
    vals[5] = (int64_t)1 << 40;
    vals[6] = -((int64_t)1 << 35);
    vals[7] = INT64_MAX;
    vals[8] = INT64_MIN;
    char path[512], list[512];
    snprintf(path, sizeof path, "%s/w.pt", tmp);
    CHECK_OK(tz_write_int_list(path, "w", vals, n));
    int64_t *back = NULL;
    size_t m = 0;
    CHECK_OK(tz_load_int_list(path, &back, &m));
    CHECK(m == n && back && memcmp(back, vals, n * sizeof *vals) == 0, "writer round trip");
    free(back);
    if (have_torch()) {
        snprintf(list, sizeof list, "%s/w.txt", tmp);
        FILE *f = fopen(list, "w");
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%lld\n", (long long)vals[i]);
        fclose(f);
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "python3 -c \"import sys, torch; a = torch.load(sys.argv[1], weights_only=True); "
                 "b = [int(x) for x in open(sys.argv[2])]; sys.exit(0 if a == b and type(a) is list else 1)\" "
                 "%s %s",
                 path, list);
        CHECK(system(cmd) == 0, "torch.load of our %s differs", path);
        snprintf(path, sizeof path, "%s/empty.pt", tmp);
        CHECK_OK(tz_write_int_list(path, NULL, vals, 0));
        snprintf(cmd, sizeof cmd, "python3 -c \"import sys, torch; sys.exit(torch.load(sys.argv[1]) != [])\" %s", path);
        CHECK(system(cmd) == 0, "torch.load of an empty list");
    } else {
        fprintf(stderr, "note: python3 with torch not found: torch.load check of the writer skipped\n");
    }
    free(vals);
}

static void test_fuzz_mutations(void)
{
    const char *files[] = {"frvocab/freq_64.pt", "frvocab/head16/pytorch_model.bin", "frvocab/views.pt",
                           "frvocab/freq_64_p4.pt"};
    uint64_t s = 0x9e3779b97f4a7c15ull;
    int runs = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t n = 0;
        char *orig = test_read_file(test_fixture(files[f]), &n);
        CHECK(orig != NULL, "read %s", files[f]);
        if (!orig)
            continue;
        uint8_t *buf = malloc(n);
        /* find data.pkl's bytes: mutate the pickle region more often */
        for (int it = 0; it < 1500; it++) {
            memcpy(buf, orig, n);
            size_t len = n;
            int muts = 1 + (int)(s % 4);
            for (int k = 0; k < muts; k++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                size_t pos = (size_t)(s >> 33) % n;
                switch ((s >> 20) % 4) {
                case 0: buf[pos] ^= (uint8_t)(1u << ((s >> 8) % 8)); break;
                case 1: buf[pos] = (uint8_t)(s >> 40); break;
                case 2: buf[pos] = (uint8_t)"(e]tRQqhJK\x8a\x80.0"[(s >> 44) % 14]; break;
                case 3: len = pos + 1; break; /* truncate */
                }
            }
            LLVMFuzzerTestOneInput(buf, len);
            runs++;
        }
        free(buf);
        free(orig);
    }
    CHECK(runs == 6000, "fuzz runs %d", runs);
}

int main(void)
{
    size_t n = 0;
    char *js = test_read_file(test_fixture("frvocab/expected.json"), &n);
    expected = js ? cJSON_Parse(js) : NULL;
    free(js);
    if (!expected) {
        fprintf(stderr, "cannot read %s\n", test_fixture("frvocab/expected.json"));
        return 1;
    }
    char tmp[] = "/tmp/frspec-torchzip-XXXXXX";
    if (!mkdtemp(tmp))
        return 1;
    test_lists();
    check_state_dict("frvocab/head64/pytorch_model.bin", "frvocab/head64/reference.safetensors", 10);
    check_state_dict("frvocab/head16/pytorch_model.bin", "frvocab/head16/reference.safetensors", 9);
    check_state_dict("frvocab/views.pt", "frvocab/views.safetensors", 6);
    test_convert(tmp);
    test_pickles();
    test_writer(tmp);
    test_fuzz_mutations();
    cJSON_Delete(expected);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "note: could not remove %s\n", tmp);
    return test_finish("test_torchzip");
}
