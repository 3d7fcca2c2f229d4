/* fuzz_formats.c - fuzz entry points for config.json (runtime/config.c, llama_config_parse) and
 * tokenizer.json (runtime/tokenizer.c, tokenizer_load), the two JSON formats of a model
 * directory besides the safetensors header (tests/fuzz_safetensors.c).
 *
 * FUZZ_TARGET selects the entry point compiled as LLVMFuzzerTestOneInput: 1 = config.json (the
 * bytes are the file; on success the sizes must be positive and the head layout consistent),
 * 2 = tokenizer.json (the bytes go to a memfd opened through /proc/self/fd/N; on success a few
 * texts are encoded, every id must lie in the vocabulary, and decoded again).
 *
 * Built two ways (tests/cmake/jobs.cmake):
 *  - always, as the ctests `fuzz_config` and `fuzz_tokenizer`: main() feeds the entry point the
 *    fixture files and deterministic corruptions of them (bytes replaced by JSON punctuation and
 *    digits, truncations, chunks copied over other places, numbers made longer);
 *  - with -DFRSPEC_FUZZ=ON and clang, as libFuzzer targets `fuzz_config_libfuzzer` and
 *    `fuzz_tokenizer_libfuzzer` (seed them with the fixture files named below).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#if FUZZ_TARGET == 1
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = malloc(size + 1);
    if (!json)
        return 0;
    memcpy(json, data, size);
    json[size] = '\0';
    struct llama_config cfg;
    if (llama_config_parse(json, "fuzz/config.json", &cfg) == FRS_OK) {
        /* what the loader relies on: llama_config_parse validated these */
        if (cfg.hidden_size <= 0 || cfg.num_hidden_layers <= 0 || cfg.num_attention_heads <= 0 ||
            cfg.num_key_value_heads <= 0 || cfg.head_dim <= 0 || cfg.vocab_size <= 0)
            abort();
        if (cfg.num_attention_heads % cfg.num_key_value_heads)
            abort();
        if (cfg.n_eos < 0 || cfg.n_eos > FRS_MAX_EOS)
            abort();
    } else if (!frs_error_msg()[0]) {
        abort(); /* an error without a message */
    }
    free(json);
    return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-tokenizer.json", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    for (size_t off = 0; off < size;) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct frs_tokenizer *t = NULL;
    if (tokenizer_load(&t, path) == FRS_OK) {
        static const char *const texts[] = {"Hello, world!", " 123 4567 ", "caf\xc3\xa9 \xe2\x82\xac\n\ttabs",
                                            "<|begin_of_text|>x", ""};
        const int V = tokenizer_vocab_size(t);
        for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
            int32_t *ids = NULL;
            int n = 0;
            if (tokenizer_encode(t, texts[k], strlen(texts[k]), k & 1, &ids, &n) == FRS_OK) {
                for (int i = 0; i < n; i++)
                    if (ids[i] < 0 || ids[i] >= V)
                        abort(); /* an id outside the vocabulary it reports */
                char *text = NULL;
                size_t len = 0;
                if (tokenizer_decode(t, ids, n, 0, &text, &len) == FRS_OK)
                    free(text);
            }
            free(ids);
        }
        tokenizer_free(t);
    } else if (!frs_error_msg()[0]) {
        abort();
    }
    close(fd);
    return 0;
}
#endif

#ifndef FRSPEC_LIBFUZZER
#include "testutil.h"

static uint64_t fuzz_rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t fuzz_rand(void) /* xorshift64*: deterministic corruptions */
{
    fuzz_rng_state ^= fuzz_rng_state >> 12;
    fuzz_rng_state ^= fuzz_rng_state << 25;
    fuzz_rng_state ^= fuzz_rng_state >> 27;
    return fuzz_rng_state * 2685821657736338717ull;
}

static void mutate(unsigned char *b, size_t *n, size_t cap)
{
    static const char alphabet[] = "{}[]\":,-.0123456789eE nulltruefalse\\u";
    if (*n == 0)
        return;
    switch (fuzz_rand() % 5) {
    case 0:
    case 1: {
        int k = 1 + (int)(fuzz_rand() % 4);
        for (int i = 0; i < k; i++)
            b[fuzz_rand() % *n] = (unsigned char)alphabet[fuzz_rand() % (sizeof alphabet - 1)];
        break;
    }
    case 2:
        *n = (size_t)(fuzz_rand() % (*n + 1));
        break;
    case 3: { /* copy a chunk over another place */
        size_t len = 1 + fuzz_rand() % 48, a = fuzz_rand() % *n, c = fuzz_rand() % *n;
        if (a + len <= *n && c + len <= *n)
            memmove(b + c, b + a, len);
        break;
    }
    default: { /* a digit becomes a longer or larger number */
        size_t at = fuzz_rand() % *n;
        for (size_t i = at; i < *n; i++)
            if (b[i] >= '0' && b[i] <= '9') {
                if (*n + 6 <= cap) {
                    memmove(b + i + 6, b + i, *n - i);
                    memcpy(b + i, fuzz_rand() % 2 ? "999999" : "-00001", 6);
                    *n += 6;
                }
                break;
            }
        break;
    }
    }
}

int main(void)
{
#if FUZZ_TARGET == 1
    static const char *const files[] = {"loader/configs/llama3-8b-instruct/config.json",
                                        "loader/configs/llama3.1-8b-instruct/config.json",
                                        "loader/configs/eagle-llama3-8b/config.json", "models/gqa-bf16/config.json"};
    const int iters = 10000;
    const char *name = "fuzz_config";
#else
    static const char *const files[] = {"tokenizer/variant-tokenizer.json", "tiny-tokenizer/tokenizer.json"};
    const int iters = 2000;
    const char *name = "fuzz_tokenizer";
#endif
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t n0 = 0;
        char *orig = test_read_file(test_fixture(files[f]), &n0);
        CHECK(orig != NULL, "cannot read %s", files[f]);
        if (!orig)
            continue;
        frs_error_clear();
        LLVMFuzzerTestOneInput((const uint8_t *)orig, n0); /* the untouched file */
        const size_t cap = n0 + 256;
        unsigned char *b = malloc(cap);
        for (int it = 0; it < iters; it++) {
            memcpy(b, orig, n0);
            size_t m = n0;
            int rounds = 1 + (int)(fuzz_rand() % 3);
            for (int r = 0; r < rounds; r++)
                mutate(b, &m, cap);
            frs_error_clear();
            LLVMFuzzerTestOneInput(b, m);
        }
        fprintf(stderr, "%s: %d corrupt variants of %s\n", name, iters, files[f]);
        free(b);
        free(orig);
    }
    return test_finish(name);
}
#endif
