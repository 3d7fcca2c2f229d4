/* fuzz_safetensors.c - fuzz entry point for the safetensors parser (runtime/safetensors.c).
 *
 * LLVMFuzzerTestOneInput writes the input to a memfd, opens it with st_open_file through
 * /proc/self/fd/N, and on success touches the first and last byte of every tensor and runs the
 * checked lookups on each (as the model loader would). Any out-of-bounds pointer the header
 * validation let through faults here, or is reported by ASan.
 *
 * Built two ways (tests/cmake/loader.cmake):
 *  - always, as the ctest `fuzz_safetensors`: main() below feeds the entry point the fixture
 *    files and a few thousand deterministic corruptions of them (header bytes replaced by JSON
 *    punctuation and digits, truncations, header-length changes, spliced header chunks);
 *  - with -DFRSPEC_FUZZ=ON and clang, as the libFuzzer target `fuzz_safetensors_libfuzzer`
 *    (FRSPEC_LIBFUZZER defined: libFuzzer supplies main). Seed it with
 *    tests/fixtures/loader/<name>/model.safetensors.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct st_set set;
    if (st_open_file(&set, path) == FRS_OK) {
        volatile unsigned acc = 0;
        for (int i = 0; i < set.n_tensors; i++) {
            const struct st_tensor_info *t = &set.tensors[i];
            if (t->nbytes) {
                acc += ((const unsigned char *)t->data)[0];
                acc += ((const unsigned char *)t->data)[t->nbytes - 1];
            }
            if (st_find(&set, t->name) != t)
                abort(); /* the sorted table must find every entry it holds */
            struct frs_mat m;
            if (t->ndim == 2 && st_get_mat(&set, t->name, t->shape[0], t->shape[1], &m) == FRS_OK && m.rows && m.cols)
                acc += ((const unsigned char *)m.data)[(size_t)(m.rows * m.cols) * frs_dtype_size(m.dtype) - 1];
            if (t->ndim == 1)
                (void)st_get_vec(&set, t->name, t->shape[0], &m);
        }
        (void)acc;
        st_close(&set);
    }
    close(fd);
    return 0;
}

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

static unsigned char *fuzz_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 64);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static void fuzz_mutate(unsigned char *b, size_t *n, size_t orig_n)
{
    static const char alphabet[] = "{}[]\":,-.0123456789eE FBIU_xnull";
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | b[i];
    size_t hend = (size_t)(8 + hlen < *n ? 8 + hlen : *n);
    switch (fuzz_rand() % 6) {
    case 0: /* replace header bytes by JSON-ish characters */
    case 1: {
        int k = 1 + (int)(fuzz_rand() % 4);
        for (int i = 0; i < k && hend > 8; i++)
            b[8 + fuzz_rand() % (hend - 8)] = (unsigned char)alphabet[fuzz_rand() % (sizeof alphabet - 1)];
        break;
    }
    case 2: /* truncate */
        *n = (size_t)(fuzz_rand() % (orig_n + 1));
        break;
    case 3: { /* header length +- small or random */
        uint64_t h = fuzz_rand() % 2 ? hlen + (fuzz_rand() % 17) - 8 : fuzz_rand() >> (fuzz_rand() % 64);
        for (int i = 0; i < 8; i++)
            b[i] = (unsigned char)(h >> (8 * i));
        break;
    }
    case 4: { /* copy a header chunk over another place in the header */
        if (hend <= 16)
            break;
        size_t len = 1 + fuzz_rand() % 24;
        size_t a = 8 + fuzz_rand() % (hend - 8), c = 8 + fuzz_rand() % (hend - 8);
        if (a + len <= hend && c + len <= hend)
            memmove(b + c, b + a, len);
        break;
    }
    default: { /* a digit inside the header becomes a longer number */
        if (hend <= 8)
            break;
        size_t at = 8 + fuzz_rand() % (hend - 8);
        for (size_t i = at; i < hend; i++) {
            if (b[i] >= '0' && b[i] <= '9') {
                b[i] = (unsigned char)('0' + fuzz_rand() % 10);
                if (i + 1 < hend && b[i + 1] >= '0' && b[i + 1] <= '9')
                    b[i + 1] = '9';
                break;
            }
        }
        break;
    }
    }
}

int main(void)
{
    static const char *const files[] = {
        "loader/bf16-untied/model.safetensors",
        "loader/f32-tied/model.safetensors",
        "loader/f16-sharded/model-00003-of-00003.safetensors",
    };
    const int iters = 1500;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t n = 0;
        unsigned char *orig = fuzz_read(test_fixture(files[f]), &n);
        CHECK(orig != NULL, "cannot read %s", files[f]);
        if (!orig)
            continue;
        /* the untouched file parses */
        struct st_set set;
        char path[4200];
        snprintf(path, sizeof path, "%s", test_fixture(files[f]));
        CHECK_OK(st_open_file(&set, path));
        st_close(&set);
        LLVMFuzzerTestOneInput(orig, n);
        /* only the header matters to the parser: mutate a copy of header + a little data */
        unsigned char *b = malloc(n);
        int parsed = 0;
        for (int it = 0; it < iters; it++) {
            memcpy(b, orig, n);
            size_t m = n;
            int rounds = 1 + (int)(fuzz_rand() % 3);
            for (int r = 0; r < rounds; r++)
                fuzz_mutate(b, &m, n);
            LLVMFuzzerTestOneInput(b, m);
            /* count how many corrupt inputs still parse (they must be self-consistent) */
            int fd = memfd_create("probe", MFD_CLOEXEC);
            if (fd >= 0 && write(fd, b, m) == (ssize_t)m) {
                char p[64];
                snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
                frs_error_clear();
                if (st_open_file(&set, p) == FRS_OK) {
                    parsed++;
                    st_close(&set);
                } else {
                    CHECK(frs_error_msg()[0] != '\0', "an error without a message");
                }
            }
            if (fd >= 0)
                close(fd);
        }
        fprintf(stderr, "%s: %d of %d corrupt variants still parsed\n", files[f], parsed, iters);
        free(b);
        free(orig);
    }
    return test_finish("fuzz_safetensors");
}
#endif
