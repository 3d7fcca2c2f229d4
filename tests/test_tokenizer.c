/* test_tokenizer.c - runtime/tokenizer.c against Hugging Face `tokenizers` (fixtures written by
 * tests/gen/gen_tokenizer_fixtures.py): the real Llama 3.1 tokenizer.json (gunzipped from the
 * fixture into the working directory), the tiny test tokenizer and a GPT-2-style variant; encode
 * with and without special tokens, decode (with and without skip_special), token bytes for
 * streaming, invalid UTF-8, the chat format, concurrent encoding, and bad files.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "testutil.h"
#include "tokenizer.h"

/* whole gzip (or plain) file into memory, NUL-terminated */
static char *read_gz(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    int r;
    while (buf && (r = gzread(f, buf + n, (unsigned)(cap - n - 1))) > 0) {
        n += (size_t)r;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    gzclose(f);
    if (buf)
        buf[n] = 0;
    *len = n;
    return buf;
}

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len;
}

/* JSON lines -> array of parsed rows */
static cJSON **read_cases(const char *path, int *n)
{
    size_t len;
    char *buf = read_gz(path, &len);
    *n = 0;
    if (!buf)
        return NULL;
    int cap = 0;
    cJSON **rows = NULL;
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (*line) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 256;
                rows = realloc(rows, (size_t)cap * sizeof *rows);
            }
            rows[(*n)++] = cJSON_Parse(line);
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    free(buf);
    return rows;
}

static void free_cases(cJSON **rows, int n)
{
    for (int i = 0; i < n; i++)
        cJSON_Delete(rows[i]);
    free(rows);
}

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

/* A byte string of a row, malloc'ed: field "F" as text, or "F_hex" as hex ("text" / "hex" for
 * F = "hex", the way the fixtures store texts). */
static char *row_bytes(const cJSON *row, const char *field, size_t *len)
{
    char hex_name[32];
    int is_text = strcmp(field, "hex") == 0;
    snprintf(hex_name, sizeof hex_name, is_text ? "hex" : "%s_hex", field);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(row, is_text ? "text" : field);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(row, hex_name);
    if (cJSON_IsString(t)) {
        *len = strlen(t->valuestring);
        return strdup(t->valuestring);
    }
    if (!cJSON_IsString(h))
        return NULL;
    size_t n = strlen(h->valuestring) / 2;
    char *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)(hexval(h->valuestring[2 * i]) * 16 + hexval(h->valuestring[2 * i + 1]));
    b[n] = 0;
    *len = n;
    return b;
}

static int32_t *json_ids(const cJSON *a, int *n)
{
    *n = cJSON_GetArraySize(a);
    int32_t *v = malloc(((size_t)*n + 1) * sizeof *v);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) v[i++] = (int32_t)it->valuedouble;
    return v;
}

/* compare; print the first difference */
static int ids_match(const char *what, const char *text, const int32_t *got, int ng, const int32_t *ref, int nr)
{
    int i = 0;
    while (i < ng && i < nr && got[i] == ref[i])
        i++;
    if (i == ng && i == nr)
        return 1;
    fprintf(stderr, "%s: %.60s%s: %d ids, reference %d; first difference at %d: got %d, want %d\n", what, text,
            strlen(text) > 60 ? "..." : "", ng, nr, i, i < ng ? got[i] : -1, i < nr ? ref[i] : -1);
    return 0;
}

/* all encode rows: encode with / without specials, decode back, concatenated token bytes */
static void check_encode_cases(const struct frs_tokenizer *t, cJSON **rows, int n, const char *name,
                               int roundtrip)
{
    int done = 0;
    for (int r = 0; r < n; r++) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(rows[r], "kind");
        if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "encode") != 0)
            continue;
        size_t len;
        char *text = row_bytes(rows[r], "hex", &len);
        CHECK(text != NULL, "%s: case %d has no text", name, r);
        if (!text)
            continue;
        int nr1, nr2;
        int32_t *ref = json_ids(cJSON_GetObjectItemCaseSensitive(rows[r], "ids"), &nr1);
        int32_t *ref_plain = json_ids(cJSON_GetObjectItemCaseSensitive(rows[r], "ids_plain"), &nr2);
        int32_t *ids = NULL, *plain = NULL;
        int ni = 0, np = 0;
        CHECK_OK(tokenizer_encode(t, text, len, 1, &ids, &ni));
        CHECK_OK(tokenizer_encode(t, text, len, 0, &plain, &np));
        char what[64];
        snprintf(what, sizeof what, "%s case %d (specials)", name, r);
        CHECK(ids && ids_match(what, text, ids, ni, ref, nr1), "encode differs from HF");
        snprintf(what, sizeof what, "%s case %d (plain)", name, r);
        CHECK(plain && ids_match(what, text, plain, np, ref_plain, nr2), "encode differs from HF");
        /* decode(ids, skip_special) == HF decode(ids, skip_special_tokens=True) */
        size_t slen = 0;
        char *skip = row_bytes(rows[r], "skip", &slen), *dec = NULL;
        size_t dlen = 0;
        CHECK_OK(tokenizer_decode(t, ref, nr1, 1, &dec, &dlen));
        CHECK(dec && skip && dlen == slen && memcmp(dec, skip, slen) == 0 && dec[dlen] == 0,
              "%s case %d: decode(skip_special) = \"%.60s\", HF \"%.60s\"", name, r, dec ? dec : "(null)",
              skip ? skip : "?");
        free(skip);
        free(dec);
        if (roundtrip) {
            /* decode(encode(x)) == x, and the token bytes (streaming) concatenate to x */
            CHECK_OK(tokenizer_decode(t, ref_plain, nr2, 0, &dec, &dlen));
            CHECK(dec && dlen == len && memcmp(dec, text, len) == 0, "%s case %d: decode(encode(x)) != x", name, r);
            free(dec);
            size_t off = 0;
            int ok = 1;
            for (int i = 0; i < nr2 && ok; i++) {
                size_t bl;
                const char *b = tokenizer_token_bytes(t, ref_plain[i], &bl);
                ok = b && off + bl <= len && memcmp(text + off, b, bl) == 0;
                off += bl;
            }
            CHECK(ok && off == len, "%s case %d: token bytes do not concatenate to the text", name, r);
        }
        free(ids);
        free(plain);
        free(ref);
        free(ref_plain);
        free(text);
        done++;
    }
    CHECK(done > 20, "%s: only %d encode cases", name, done);
    printf("%s: %d encode cases checked\n", name, done);
}

static void check_meta(const struct frs_tokenizer *t, cJSON **rows, int n, const char *name)
{
    for (int r = 0; r < n; r++) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(rows[r], "kind");
        if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "meta") != 0)
            continue;
        int vs = (int)cJSON_GetObjectItemCaseSensitive(rows[r], "vocab_size")->valuedouble;
        CHECK(tokenizer_vocab_size(t) == vs, "%s: vocab size %d, HF %d", name, tokenizer_vocab_size(t), vs);
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(rows[r], "tokens"))
        {
            int32_t id = tokenizer_token_id(t, it->string);
            CHECK(id == (int32_t)it->valuedouble, "%s: token_id(%s) = %d, HF %d", name, it->string, id,
                  (int)it->valuedouble);
        }
        return;
    }
    CHECK(0, "%s: no meta row", name);
}

static void check_llama_rows(const struct frs_tokenizer *t, cJSON **rows, int n)
{
    int nd = 0, nb = 0, nc = 0;
    for (int r = 0; r < n; r++) {
        const char *kind = cJSON_GetObjectItemCaseSensitive(rows[r], "kind")->valuestring;
        if (strcmp(kind, "decode") == 0) {
            int ni;
            int32_t *ids = json_ids(cJSON_GetObjectItemCaseSensitive(rows[r], "ids"), &ni);
            for (int skip = 0; skip < 2; skip++) {
                size_t rl, dl;
                char *ref = row_bytes(rows[r], skip ? "text_skip" : "text", &rl);
                char *dec = NULL;
                CHECK_OK(tokenizer_decode(t, ids, ni, skip, &dec, &dl));
                CHECK(dec && ref && dl == rl && memcmp(dec, ref, rl) == 0 && dec[dl] == 0,
                      "decode case %d (skip %d): %zu bytes, HF %zu", r, skip, dl, rl);
                free(dec);
                free(ref);
            }
            free(ids);
            nd++;
        } else if (strcmp(kind, "bytes") == 0) {
            size_t len, ll;
            char *b = row_bytes(rows[r], "hex", &len);
            char *lossy = row_bytes(rows[r], "lossy", &ll);
            int32_t *ids = NULL;
            int ni = 0;
            CHECK_OK(tokenizer_encode(t, b, len, 0, &ids, &ni));
            size_t off = 0;
            int ok = 1;
            for (int i = 0; i < ni && ok; i++) {
                size_t bl;
                const char *tb = tokenizer_token_bytes(t, ids[i], &bl);
                ok = tb && off + bl <= len && memcmp(b + off, tb, bl) == 0;
                off += bl;
            }
            CHECK(ok && off == len, "invalid UTF-8 case %d: token bytes do not give the input back", r);
            char *dec = NULL;
            size_t dl = 0;
            CHECK_OK(tokenizer_decode(t, ids, ni, 0, &dec, &dl));
            CHECK(dec && dl == ll && memcmp(dec, lossy, ll) == 0,
                  "invalid UTF-8 case %d: decode is not Python's errors='replace' text", r);
            free(dec);
            free(ids);
            free(b);
            free(lossy);
            nb++;
        } else if (strcmp(kind, "chat") == 0) {
            const cJSON *sys = cJSON_GetObjectItemCaseSensitive(rows[r], "system");
            const cJSON *user = cJSON_GetObjectItemCaseSensitive(rows[r], "user");
            int nr, ni = 0;
            int32_t *ref = json_ids(cJSON_GetObjectItemCaseSensitive(rows[r], "ids"), &nr);
            int32_t *ids = NULL;
            CHECK_OK(tokenizer_apply_chat(t, cJSON_IsString(sys) ? sys->valuestring : NULL, user->valuestring, &ids,
                                          &ni));
            char what[32];
            snprintf(what, sizeof what, "chat case %d", r);
            CHECK(ids && ids_match(what, user->valuestring, ids, ni, ref, nr), "chat ids differ");
            free(ids);
            free(ref);
            nc++;
        }
    }
    CHECK(nd >= 20 && nb >= 20 && nc >= 5, "too few cases: %d decode, %d bytes, %d chat", nd, nb, nc);
    printf("llama3: %d decode, %d invalid-UTF-8, %d chat cases checked\n", nd, nb, nc);
}

struct thread_job {
    const struct frs_tokenizer *t;
    cJSON **rows;
    int n, bad;
};

static void *thread_encode(void *arg)
{
    struct thread_job *j = arg;
    for (int rep = 0; rep < 3; rep++)
        for (int r = 0; r < j->n; r++) {
            size_t len;
            char *text = row_bytes(j->rows[r], "hex", &len);
            const cJSON *ref = cJSON_GetObjectItemCaseSensitive(j->rows[r], "ids");
            const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j->rows[r], "kind");
            if (text && strcmp(kind->valuestring, "encode") == 0) {
                int32_t *ids = NULL;
                int ni = 0, nr;
                int32_t *want = json_ids(ref, &nr);
                if (tokenizer_encode(j->t, text, len, 1, &ids, &ni) != FRS_OK || ni != nr ||
                    memcmp(ids, want, (size_t)ni * sizeof *ids) != 0)
                    j->bad++;
                free(ids);
                free(want);
            }
            free(text);
        }
    return NULL;
}

static void check_threads(const struct frs_tokenizer *t, cJSON **rows, int n)
{
    struct thread_job jobs[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (struct thread_job){t, rows, n, 0};
        CHECK(pthread_create(&th[i], NULL, thread_encode, &jobs[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].bad == 0, "thread %d: %d encodings differ", i, jobs[i].bad);
    }
}

/* ---- bad files ---------------------------------------------------------------------------------- */

static void expect_load_error(const char *path, enum frs_status want, const char *field)
{
    struct frs_tokenizer *t = NULL;
    enum frs_status st = tokenizer_load(&t, path);
    const char *msg = frs_error_msg();
    CHECK(st == want && t == NULL, "%s: status %s, want %s (%s)", path, frs_status_str(st), frs_status_str(want),
          msg);
    CHECK(strstr(msg, path) != NULL, "error message does not name the file: %s", msg);
    CHECK(!field || strstr(msg, field) != NULL, "error message does not name '%s': %s", field, msg);
    tokenizer_free(t);
}

/* the tiny tokenizer.json with one change made through cJSON, written to path */
static void write_variant(const char *json, const char *path, const char *obj, const char *field,
                          cJSON *value)
{
    cJSON *root = cJSON_Parse(json);
    cJSON *o = obj ? cJSON_GetObjectItemCaseSensitive(root, obj) : root;
    if (value)
        cJSON_ReplaceItemInObjectCaseSensitive(o, field, value);
    else
        cJSON_DeleteItemFromObjectCaseSensitive(o, field);
    char *s = cJSON_PrintUnformatted(root);
    CHECK(write_file(path, s, strlen(s)), "cannot write %s", path);
    free(s);
    cJSON_Delete(root);
}

static void check_bad_files(const char *tiny_path)
{
    size_t len;
    char *json = read_gz(tiny_path, &len);
    CHECK(json != NULL, "cannot read %s", tiny_path);
    if (!json)
        return;
    expect_load_error("no-such-dir/tokenizer.json", FRS_ERR_IO, NULL);
    CHECK(write_file("bad-truncated.json", json, len / 2), "write");
    expect_load_error("bad-truncated.json", FRS_ERR_FORMAT, "JSON");
    CHECK(write_file("bad-empty.json", "", 0), "write");
    expect_load_error("bad-empty.json", FRS_ERR_FORMAT, "JSON");
    CHECK(write_file("bad-garbage.json", "{\"model\": [1, 2,, }", 19), "write");
    expect_load_error("bad-garbage.json", FRS_ERR_FORMAT, "JSON");
    CHECK(write_file("bad-array.json", "[]", 2), "write");
    expect_load_error("bad-array.json", FRS_ERR_FORMAT, "object");
    write_variant(json, "bad-novocab.json", "model", "vocab", NULL);
    expect_load_error("bad-novocab.json", FRS_ERR_FORMAT, "model.vocab");
    write_variant(json, "bad-nomodel.json", NULL, "model", NULL);
    expect_load_error("bad-nomodel.json", FRS_ERR_FORMAT, "model");
    write_variant(json, "bad-vocabstr.json", "model", "vocab", cJSON_CreateString("x"));
    expect_load_error("bad-vocabstr.json", FRS_ERR_FORMAT, "model.vocab");
    write_variant(json, "bad-merges.json", "model", "merges", cJSON_CreateString("x"));
    expect_load_error("bad-merges.json", FRS_ERR_FORMAT, "model.merges");
    cJSON *m = cJSON_CreateArray();
    cJSON_AddItemToArray(m, cJSON_CreateString("zz\xc4\xa0 q"));
    write_variant(json, "bad-mergetok.json", "model", "merges", m);
    expect_load_error("bad-mergetok.json", FRS_ERR_FORMAT, "model.merges[0]");
    m = cJSON_CreateArray();
    cJSON_AddItemToArray(m, cJSON_CreateString("a b c"));
    write_variant(json, "bad-mergefmt.json", "model", "merges", m);
    expect_load_error("bad-mergefmt.json", FRS_ERR_FORMAT, "model.merges[0]");
    cJSON *v = cJSON_CreateObject();
    cJSON_AddNumberToObject(v, "a", -5);
    write_variant(json, "bad-negid.json", "model", "vocab", v);
    expect_load_error("bad-negid.json", FRS_ERR_FORMAT, "model.vocab");
    write_variant(json, "bad-type.json", "model", "type", cJSON_CreateString("WordPiece"));
    expect_load_error("bad-type.json", FRS_ERR_UNSUPPORTED, "model.type");
    write_variant(json, "bad-fallback.json", "model", "byte_fallback", cJSON_CreateTrue());
    expect_load_error("bad-fallback.json", FRS_ERR_UNSUPPORTED, "model.byte_fallback");
    write_variant(json, "bad-normalizer.json", NULL, "normalizer", cJSON_Parse("{\"type\": \"NFC\"}"));
    expect_load_error("bad-normalizer.json", FRS_ERR_UNSUPPORTED, "normalizer");
    write_variant(json, "bad-pretok.json", NULL, "pre_tokenizer", cJSON_Parse("{\"type\": \"Whitespace\"}"));
    expect_load_error("bad-pretok.json", FRS_ERR_UNSUPPORTED, "pre_tokenizer.type");
    write_variant(json, "bad-nopretok.json", NULL, "pre_tokenizer", cJSON_CreateNull());
    expect_load_error("bad-nopretok.json", FRS_ERR_UNSUPPORTED, "pre_tokenizer");
    write_variant(json, "bad-regex.json", NULL, "pre_tokenizer",
                  cJSON_Parse("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
                              "{\"Regex\": \"(unclosed\"}, \"behavior\": \"Isolated\", \"invert\": false}, "
                              "{\"type\": \"ByteLevel\", \"use_regex\": false}]}"));
    expect_load_error("bad-regex.json", FRS_ERR_UNSUPPORTED, "pre_tokenizer.pretokenizers[0].pattern");
    write_variant(json, "bad-behavior.json", NULL, "pre_tokenizer",
                  cJSON_Parse("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
                              "{\"String\": \" \"}, \"behavior\": \"Removed\", \"invert\": false}, "
                              "{\"type\": \"ByteLevel\", \"use_regex\": false}]}"));
    expect_load_error("bad-behavior.json", FRS_ERR_UNSUPPORTED, "behavior");
    write_variant(json, "bad-decoder.json", NULL, "decoder", cJSON_Parse("{\"type\": \"WordPiece\"}"));
    expect_load_error("bad-decoder.json", FRS_ERR_UNSUPPORTED, "decoder.type");
    write_variant(json, "bad-added.json", NULL, "added_tokens", cJSON_Parse("[{\"content\": \"x\"}]"));
    expect_load_error("bad-added.json", FRS_ERR_FORMAT, "added_tokens[0].id");
    write_variant(json, "bad-post.json", NULL, "post_processor", cJSON_Parse("{\"type\": \"BertProcessing\"}"));
    expect_load_error("bad-post.json", FRS_ERR_UNSUPPORTED, "post_processor.type");
    free(json);
}

/* API misuse and edge cases without a reference: no crash, clear status */
static void check_api_edges(const struct frs_tokenizer *t)
{
    int32_t *ids = NULL;
    int n = -1;
    CHECK_OK(tokenizer_encode(t, NULL, 0, 0, &ids, &n));
    CHECK(ids != NULL && n == 0, "empty text: %d ids", n);
    free(ids);
    CHECK(tokenizer_encode(NULL, "x", 1, 0, &ids, &n) == FRS_ERR_INVALID_ARG, "NULL tokenizer");
    char *txt = NULL;
    int32_t bad[2] = {1, tokenizer_vocab_size(t)};
    CHECK(tokenizer_decode(t, bad, 2, 0, &txt, NULL) == FRS_ERR_INVALID_ARG && txt == NULL, "out-of-range id");
    bad[1] = -1;
    CHECK(tokenizer_decode(t, bad, 2, 0, &txt, NULL) == FRS_ERR_INVALID_ARG, "negative id");
    CHECK_OK(tokenizer_decode(t, bad, 0, 0, &txt, NULL));
    CHECK(txt && txt[0] == 0, "decode of nothing is \"\"");
    free(txt);
    CHECK(tokenizer_token_bytes(t, -1, NULL) == NULL && tokenizer_token_bytes(t, 1 << 30, NULL) == NULL,
          "token_bytes out of range");
    CHECK(tokenizer_token_id(t, "no such token \x01") == -1, "unknown token");
    /* bytes that are no UTF-8 at all, and a NUL, encode and come back byte for byte */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)(255 - i);
    CHECK_OK(tokenizer_encode(t, all, sizeof all, 1, &ids, &n));
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t bl;
        const char *b = tokenizer_token_bytes(t, ids[i], &bl);
        if (i == 0 && tokenizer_bos_id(t) >= 0)
            continue;
        CHECK(b && off + bl <= sizeof all && memcmp(all + off, b, bl) == 0, "token %d bytes", i);
        off += bl;
    }
    CHECK(off == sizeof all, "all 256 bytes: %zu bytes back", off);
    free(ids);
}

int main(void)
{
    /* tiny tokenizer (others' test models use it) */
    char tiny_path[4096];
    snprintf(tiny_path, sizeof tiny_path, "%s", test_fixture("tiny-tokenizer/tokenizer.json"));
    struct frs_tokenizer *tiny = NULL;
    CHECK_OK(tokenizer_load(&tiny, tiny_path));
    int n;
    cJSON **rows = read_cases(test_fixture("tokenizer/tiny_cases.jsonl.gz"), &n);
    CHECK(rows && n > 20, "tiny cases: %d", n);
    if (tiny && rows) {
        check_meta(tiny, rows, n, "tiny");
        check_encode_cases(tiny, rows, n, "tiny", 1);
        CHECK(tokenizer_bos_id(tiny) == tokenizer_token_id(tiny, "<|begin_of_text|>"), "tiny BOS");
        check_api_edges(tiny);
    }
    free_cases(rows, n);
    tokenizer_free(tiny);

    /* GPT-2-style variant: ByteLevel regex + prefix space, no ignore_merges, lstrip/rstrip/... */
    struct frs_tokenizer *var = NULL;
    CHECK_OK(tokenizer_load(&var, test_fixture("tokenizer/variant-tokenizer.json")));
    rows = read_cases(test_fixture("tokenizer/variant_cases.jsonl.gz"), &n);
    CHECK(rows && n > 20, "variant cases: %d", n);
    if (var && rows) {
        check_meta(var, rows, n, "variant");
        check_encode_cases(var, rows, n, "variant", 0);
        int32_t sid, *ids = NULL;
        int nc = 0;
        CHECK(tokenizer_apply_chat(var, NULL, "hi", NULL, &nc) == FRS_ERR_INVALID_ARG, "chat NULL ids");
        CHECK(tokenizer_apply_chat(var, NULL, "hi", &ids, &nc) == FRS_ERR_MISSING && ids == NULL,
              "chat without the Llama-3 specials");
        CHECK(tokenizer_stop_ids(var, &sid, 1) == 0, "variant has no Llama-3 stop tokens");
    }
    free_cases(rows, n);
    tokenizer_free(var);

    check_bad_files(tiny_path);

    /* the real Llama 3.1 tokenizer */
    size_t len;
    char *json = read_gz(test_fixture("tokenizer/llama3.1-tokenizer.json.gz"), &len);
    CHECK(json && len > 8000000, "cannot gunzip the Llama 3.1 tokenizer fixture");
    struct frs_tokenizer *t = NULL;
    if (json && write_file("llama3.1-tokenizer.json", json, len))
        CHECK_OK(tokenizer_load(&t, "llama3.1-tokenizer.json"));
    free(json);
    if (t) {
        const char *hello = "Hello, my dog is cute";
        const int32_t want[] = {128000, 9906, 11, 856, 5679, 374, 19369}; /* data/README.md */
        int32_t *ids = NULL;
        CHECK_OK(tokenizer_encode(t, hello, strlen(hello), 1, &ids, &n));
        CHECK(ids && ids_match("hello", hello, ids, n, want, 7), "Hello, my dog is cute");
        free(ids);
        CHECK(tokenizer_bos_id(t) == 128000, "BOS %d", tokenizer_bos_id(t));
        CHECK(tokenizer_is_special(t, 128009) && !tokenizer_is_special(t, 9906), "is_special");
        int32_t stop[3];
        int ns = tokenizer_stop_ids(t, stop, 3);
        CHECK(ns == 3 && stop[0] == tokenizer_token_id(t, "<|eot_id|>") &&
                  stop[1] == tokenizer_token_id(t, "<|end_of_text|>") && stop[2] == tokenizer_token_id(t, "<|eom_id|>"),
              "stop ids");
        rows = read_cases(test_fixture("tokenizer/llama3_cases.jsonl.gz"), &n);
        CHECK(rows && n > 300, "llama3 cases: %d", n);
        if (rows) {
            check_meta(t, rows, n, "llama3");
            check_encode_cases(t, rows, n, "llama3", 1);
            check_llama_rows(t, rows, n);
            check_threads(t, rows, n);
            check_api_edges(t);
        }
        free_cases(rows, n);
        tokenizer_free(t);
    }
    return test_finish("test_tokenizer");
}
