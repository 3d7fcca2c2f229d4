/* test_vocab_build.c - the frequency builder (runtime/vocab_build.c, `frspec vocab build`):
 * token counts over tests/fixtures/frvocab/corpus (a text file read whole, a JSONL file, a gzipped
 * JSONL file) equal those of Hugging Face `tokenizers` (counts_*.json from
 * tests/gen/gen_frvocab_fixtures.py), for every id, with the tiny tokenizer and with Llama 3.1, with
 * one thread and with two, with the default chunking and with tiny chunks that force many cuts
 * inside the text; --field; the top-K order (count, then id); the command writes .pt and .txt lists
 * holding those ids; errors name the file (and line). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "frvocab.h"
#include "testutil.h"
#include "tokenizer.h"
#include "vocab_build.h"

int cmd_vocab(int argc, char **argv);

static char tmp[] = "/tmp/frspec-vocab-XXXXXX";

struct ref {
    cJSON *root;
    int vocab;
    int64_t *count, *question;
    int64_t mtbench_tokens;
};

static int ref_load(struct ref *r, const char *rel)
{
    char *js = test_read_file(test_fixture(rel), NULL);
    r->root = js ? cJSON_Parse(js) : NULL;
    free(js);
    if (!r->root)
        return 0;
    r->vocab = cJSON_GetObjectItem(r->root, "vocab_size")->valueint;
    r->mtbench_tokens = (int64_t)cJSON_GetObjectItem(r->root, "mtbench_tokens")->valuedouble;
    r->count = calloc((size_t)r->vocab, sizeof *r->count);
    r->question = calloc((size_t)r->vocab, sizeof *r->question);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->root, "counts")) r->count[atoi(e->string)] = (int64_t)e->valuedouble;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r->root, "gsm8k_question_counts"))
        r->question[atoi(e->string)] = (int64_t)e->valuedouble;
    return 1;
}

static void ref_free(struct ref *r)
{
    cJSON_Delete(r->root);
    free(r->count);
    free(r->question);
}

static void corpus_paths(const char *out[3], char buf[3][512])
{
    const char *names[3] = {"frvocab/corpus/mtbench.txt", "frvocab/corpus/gsm8k.jsonl",
                            "frvocab/corpus/humaneval.jsonl.gz"};
    for (int i = 0; i < 3; i++) {
        snprintf(buf[i], 512, "%s", test_fixture(names[i]));
        out[i] = buf[i];
    }
}

static void compare_counts(const struct vocab_counts *c, const int64_t *want, int vocab, const char *what)
{
    CHECK(c->vocab == vocab, "%s: vocab %d, expected %d", what, c->vocab, vocab);
    if (c->vocab != vocab)
        return;
    int bad = 0;
    int64_t total = 0;
    for (int v = 0; v < vocab; v++) {
        total += want[v];
        if (c->count[v] != want[v] && bad++ < 5)
            fprintf(stderr, "  %s: id %d counted %lld, tokenizers %lld\n", what, v, (long long)c->count[v],
                    (long long)want[v]);
    }
    CHECK(bad == 0, "%s: %d ids counted differently from HF tokenizers", what, bad);
    CHECK(c->total_tokens == total, "%s: %lld tokens, expected %lld", what, (long long)c->total_tokens,
          (long long)total);
}

static void run_counts(const struct frs_tokenizer *tok, const struct ref *r, const char *tag)
{
    const char *paths[3];
    char buf[3][512];
    corpus_paths(paths, buf);
    struct {
        int threads;
        size_t chunk;
    } cfgs[] = {{1, 0}, {2, 0}, {2, 64}, {1, 333}};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        struct vocab_build_opts o = {.threads = cfgs[i].threads, .chunk_bytes = cfgs[i].chunk};
        struct vocab_counts c;
        char what[128];
        snprintf(what, sizeof what, "%s, %d thread(s), chunk %zu", tag, cfgs[i].threads, cfgs[i].chunk);
        enum frs_status st = vocab_count_files(tok, paths, 3, &o, &c);
        CHECK(st == FRS_OK, "%s: %s", what, frs_error_msg());
        if (st != FRS_OK)
            continue;
        compare_counts(&c, r->count, r->vocab, what);
        vocab_counts_free(&c);
    }
    /* the text file alone, cut into 64-byte chunks: same token total as encoding it whole */
    struct vocab_build_opts o = {.threads = 2, .chunk_bytes = 64};
    struct vocab_counts c;
    CHECK_OK(vocab_count_files(tok, paths, 1, &o, &c));
    CHECK(c.total_tokens == r->mtbench_tokens, "%s: mtbench.txt %lld tokens, whole-file encoding %lld", tag,
          (long long)c.total_tokens, (long long)r->mtbench_tokens);
    vocab_counts_free(&c);
    /* --field question */
    struct vocab_build_opts q = {.threads = 1, .field = "question"};
    CHECK_OK(vocab_count_files(tok, paths + 1, 1, &q, &c));
    if (c.count)
        compare_counts(&c, r->question, r->vocab, "--field question");
    vocab_counts_free(&c);
}

static int64_t *sort_counts;
static int by_count(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    if (sort_counts[x] != sort_counts[y])
        return sort_counts[x] > sort_counts[y] ? -1 : 1;
    return x - y;
}

/* The top-k ids of the reference counts (count descending, id ascending). */
static int *ref_top(const struct ref *r)
{
    int *all = malloc(sizeof *all * (size_t)r->vocab);
    for (int v = 0; v < r->vocab; v++)
        all[v] = v;
    sort_counts = r->count;
    qsort(all, (size_t)r->vocab, sizeof *all, by_count);
    return all;
}

static void test_top_k(const struct frs_tokenizer *tok, const struct ref *r)
{
    const char *paths[3];
    char buf[3][512];
    corpus_paths(paths, buf);
    struct vocab_counts c;
    CHECK_OK(vocab_count_files(tok, paths, 3, NULL, &c));
    if (!c.count)
        return;
    int *want = ref_top(r);
    int k = r->vocab < 300 ? r->vocab : 300;
    int32_t *ids = NULL;
    int64_t cov = 0, want_cov = 0;
    CHECK_OK(vocab_top_k(&c, k, &ids, &cov));
    int same = ids != NULL;
    for (int j = 0; same && j < k; j++) {
        same = ids[j] == want[j];
        want_cov += r->count[want[j]];
    }
    CHECK(same, "top-%d ids differ from the reference order", k);
    CHECK(cov == want_cov, "coverage %lld, expected %lld", (long long)cov, (long long)want_cov);
    free(ids);
    CHECK(vocab_top_k(&c, 0, &ids, &cov) == FRS_ERR_INVALID_ARG, "k = 0");
    CHECK(vocab_top_k(&c, r->vocab + 1, &ids, &cov) == FRS_ERR_INVALID_ARG, "k > vocab");
    vocab_counts_free(&c);
    free(want);
}

static void test_cli(const char *tok_path, const struct ref *r)
{
    const char *paths[3];
    char buf[3][512], out[512], txt[512];
    corpus_paths(paths, buf);
    snprintf(out, sizeof out, "%s/freq_64.pt", tmp);
    snprintf(txt, sizeof txt, "%s/freq_64.txt", tmp);
    char *argv[] = {"vocab", "build", "--tokenizer", (char *)tok_path, "--corpus", (char *)paths[0], (char *)paths[1],
                    (char *)paths[2], "--top", "64", "--out", out, "--quiet", NULL};
    CHECK(cmd_vocab(13, argv) == 0, "frspec vocab build failed");
    int *want = ref_top(r);
    int32_t *ids = NULL;
    int n = 0;
    const char *files[2] = {out, txt};
    for (int f = 0; f < 2; f++) {
        CHECK_OK(frvocab_load(files[f], &ids, &n));
        int same = n == 64;
        for (int j = 0; same && j < 64; j++)
            same = ids[j] == want[j];
        CHECK(same, "%s: not the reference top-64", files[f]);
        free(ids);
        ids = NULL;
    }
    free(want);
    char *show[] = {"vocab", "show", out, "--k", "64", NULL};
    CHECK(cmd_vocab(5, show) == 0, "frspec vocab show");

    /* errors */
    char *a1[] = {"vocab", "build", "--tokenizer", (char *)tok_path, "--corpus", (char *)paths[0], "--out", out, NULL};
    CHECK(cmd_vocab(8, a1) == 2, "missing --top accepted");
    char *a2[] = {"vocab", "build", "--tokenizer", (char *)tok_path, "--corpus", (char *)paths[0], "--top", "99999999",
                  "--out", out, "--quiet", NULL};
    CHECK(cmd_vocab(11, a2) == 2, "--top larger than the vocabulary accepted");
    char *a3[] = {"vocab", "frobnicate", NULL};
    CHECK(cmd_vocab(2, a3) == 2, "unknown subcommand accepted");
}

static void test_errors(const struct frs_tokenizer *tok)
{
    char bad[512], missing[512];
    snprintf(bad, sizeof bad, "%s/bad.jsonl", tmp);
    FILE *f = fopen(bad, "w");
    fputs("{\"text\": \"fine\"}\n\n{\"text\": broken}\n", f);
    fclose(f);
    const char *p1[] = {bad};
    struct vocab_counts c;
    enum frs_status st = vocab_count_files(tok, p1, 1, NULL, &c);
    CHECK(st == FRS_ERR_FORMAT && strstr(frs_error_msg(), "bad.jsonl:3"), "malformed JSONL: %s", frs_error_msg());
    snprintf(missing, sizeof missing, "%s/none.txt", tmp);
    const char *p2[] = {missing};
    st = vocab_count_files(tok, p2, 1, NULL, &c);
    CHECK(st == FRS_ERR_IO && strstr(frs_error_msg(), "none.txt"), "missing file: %s", frs_error_msg());
}

/* tests/fixtures/tokenizer/llama3.1-tokenizer.json.gz -> tmp/llama3.json */
static int unpack_llama(char *out, size_t n)
{
    snprintf(out, n, "%s/llama3.json", tmp);
    char *s = test_read_file(test_fixture("tokenizer/llama3.1-tokenizer.json.gz"), NULL);
    if (!s)
        return 0;
    FILE *f = fopen(out, "wb");
    int ok = f && fwrite(s, 1, strlen(s), f) == strlen(s);
    if (f)
        fclose(f);
    free(s);
    return ok;
}

int main(void)
{
    if (!mkdtemp(tmp))
        return 1;
    struct ref tiny = {0}, llama = {0};
    CHECK(ref_load(&tiny, "frvocab/counts_tiny.json"), "counts_tiny.json");
    CHECK(ref_load(&llama, "frvocab/counts_llama3.json"), "counts_llama3.json");
    char tiny_path[512], llama_path[512];
    snprintf(tiny_path, sizeof tiny_path, "%s", test_fixture("tiny-tokenizer/tokenizer.json"));
    struct frs_tokenizer *tok = NULL;
    CHECK_OK(tokenizer_load(&tok, tiny_path));
    if (tok && tiny.root) {
        run_counts(tok, &tiny, "tiny");
        test_top_k(tok, &tiny);
        test_cli(tiny_path, &tiny);
        test_errors(tok);
    }
    tokenizer_free(tok);
    tok = NULL;
    if (unpack_llama(llama_path, sizeof llama_path)) {
        CHECK_OK(tokenizer_load(&tok, llama_path));
        if (tok && llama.root) {
            run_counts(tok, &llama, "llama3");
            test_top_k(tok, &llama);
        }
        tokenizer_free(tok);
    } else {
        CHECK(0, "cannot unpack %s", test_fixture("tokenizer/llama3.1-tokenizer.json.gz"));
    }
    ref_free(&tiny);
    ref_free(&llama);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "note: could not remove %s\n", tmp);
    return test_finish("test_vocab_build");
}
