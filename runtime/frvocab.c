/* frvocab.c - reading and writing FR-Spec token lists: freq_K.pt through torchzip, and the plain
 * text format (one id a line, '#' comments). */
#include "frvocab.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torchzip.h"

static enum frs_status load_pt(const char *path, int32_t **ids, int *n)
{
    int64_t *v = NULL;
    size_t cnt = 0;
    FRS_TRY(tz_load_int_list(path, &v, &cnt));
    enum frs_status st = FRS_OK;
    if (cnt > (size_t)INT32_MAX) {
        free(v);
        return FRS_ERR(FRS_ERR_FORMAT, "%s: %zu ids is more than any vocabulary", path, cnt);
    }
    int32_t *out = malloc((cnt ? cnt : 1) * sizeof *out);
    if (!out) {
        free(v);
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < cnt; i++) {
        if (v[i] < 0 || v[i] > INT32_MAX) {
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: entry %zu of the list is %lld, not a token id", path, i,
                         (long long)v[i]);
            break;
        }
        out[i] = (int32_t)v[i];
    }
    free(v);
    if (st != FRS_OK) {
        free(out);
        return st;
    }
    *ids = out;
    *n = (int)cnt;
    return FRS_OK;
}

static enum frs_status load_txt(const char *path, FILE *f, int32_t **ids, int *n)
{
    size_t cap = 1024, cnt = 0;
    int32_t *out = malloc(cap * sizeof *out);
    char *line = NULL;
    size_t lcap = 0;
    long lineno = 0;
    enum frs_status st = FRS_OK;
    if (!out)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    while (getline(&line, &lcap, f) >= 0) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (!*s)
            continue;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (end == s || *end || errno) {
            size_t shown = strcspn(s, "\r\n"); /* the line's text, not its newline */
            st = FRS_ERR(FRS_ERR_FORMAT, "%s:%ld: expected one token id a line, got '%.*s'", path, lineno,
                         (int)(shown < 40 ? shown : 40), s);
            break;
        }
        if (v < 0 || v > INT32_MAX) {
            st = FRS_ERR(FRS_ERR_FORMAT, "%s:%ld: %lld is not a token id", path, lineno, v);
            break;
        }
        if (cnt == cap) {
            int32_t *q = cap > (size_t)INT32_MAX / 2 ? NULL : realloc(out, 2 * cap * sizeof *out);
            if (!q) {
                st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
                break;
            }
            out = q;
            cap *= 2;
        }
        out[cnt++] = (int32_t)v;
    }
    if (st == FRS_OK && ferror(f))
        st = FRS_ERR(FRS_ERR_IO, "%s: read error", path);
    free(line);
    if (st != FRS_OK) {
        free(out);
        return st;
    }
    *ids = out;
    *n = (int)cnt;
    return FRS_OK;
}

enum frs_status frvocab_load(const char *path, int32_t **ids, int *n)
{
    *ids = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return FRS_ERR(FRS_ERR_IO, "%s: cannot open FR-Spec token list: %s", path, strerror(errno));
    unsigned char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    enum frs_status st;
    if (got == 4 && !memcmp(magic, "PK\3\4", 4)) {
        fclose(f);
        st = load_pt(path, ids, n);
    } else if (got >= 2 && magic[0] == 0x80 && magic[1] <= 5) {
        fclose(f);
        return FRS_ERR(FRS_ERR_UNSUPPORTED,
                       "%s: legacy (pre-1.6, non-zip) torch.save file; re-save it with PyTorch >= 1.6", path);
    } else {
        rewind(f);
        st = load_txt(path, f, ids, n);
        fclose(f);
    }
    if (st == FRS_OK && *n == 0) {
        free(*ids);
        *ids = NULL;
        return FRS_ERR(FRS_ERR_FORMAT, "%s: the FR-Spec token list is empty", path);
    }
    return st;
}

enum frs_status frvocab_save_pt(const char *path, const int32_t *ids, int n)
{
    if (n < 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "%s: negative id count %d", path, n);
    int64_t *v = malloc(((size_t)n ? (size_t)n : 1) * sizeof *v);
    if (!v)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        v[i] = ids[i];
    /* folder name inside the archive: the file's stem, as torch.save does */
    char prefix[128];
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t j = 0;
    for (; base[j] && base[j] != '.' && j + 1 < sizeof prefix; j++)
        prefix[j] = isalnum((unsigned char)base[j]) || base[j] == '_' || base[j] == '-' ? base[j] : '_';
    prefix[j] = '\0';
    enum frs_status st = tz_write_int_list(path, j ? prefix : "archive", v, (size_t)n);
    free(v);
    return st;
}

enum frs_status frvocab_save_txt(const char *path, const int32_t *ids, int n, const char *comment)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return FRS_ERR(FRS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    if (comment && *comment) {
        const char *s = comment;
        while (*s) {
            const char *nl = strchr(s, '\n');
            size_t len = nl ? (size_t)(nl - s) : strlen(s);
            fprintf(f, "# %.*s\n", (int)len, s);
            s += len + (nl ? 1 : 0);
        }
    }
    for (int i = 0; i < n; i++)
        fprintf(f, "%d\n", (int)ids[i]);
    if (ferror(f) | (fclose(f) != 0))
        return FRS_ERR(FRS_ERR_IO, "%s: write failed", path);
    return FRS_OK;
}

int frvocab_first_distinct(int32_t *ids, int n, int k, int vocab)
{
    if (vocab <= 0)
        return 0;
    uint8_t *seen = calloc(((size_t)vocab + 7) / 8, 1);
    if (!seen)
        return -1;
    int want = k > 0 ? k : n, got = 0;
    for (int i = 0; i < n && got < want; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= vocab || (seen[id >> 3] & (1u << (id & 7))))
            continue;
        seen[id >> 3] |= (uint8_t)(1u << (id & 7));
        ids[got++] = id;
    }
    free(seen);
    return got;
}
