/* st_write.c - safetensors writer (layout of safetensors.torch.save_file); see st_write.h. */
#include "st_write.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int st_write_rank(enum frs_dtype dt) /* safetensors' Dtype order: larger first */
{
    switch (dt) {
    case FRS_DTYPE_I64: return 6;
    case FRS_DTYPE_F32: return 5;
    case FRS_DTYPE_I32: return 4;
    case FRS_DTYPE_BF16: return 3;
    case FRS_DTYPE_F16: return 2;
    case FRS_DTYPE_F8_E4M3: return 1;
    default: return 0;
    }
}

static int st_write_cmp(const void *a, const void *b)
{
    const struct st_write_entry *x = a, *y = b;
    int rx = st_write_rank(x->dtype), ry = st_write_rank(y->dtype);
    if (rx != ry)
        return ry - rx;
    return strcmp(x->name, y->name);
}

void st_write_sort(struct st_write_entry *e, int n)
{
    qsort(e, (size_t)n, sizeof *e, st_write_cmp);
}

uint64_t st_write_nbytes(const struct st_write_entry *e)
{
    uint64_t n = frs_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim; d++)
        n *= (uint64_t)e->shape[d];
    return n;
}

enum frs_status st_write_file(const char *path, const struct st_write_entry *ents, int n, st_write_fn fill,
                              void *ctx, size_t *total)
{
    enum frs_status st = FRS_OK;
    cJSON *root = cJSON_CreateObject();
    char *hdr = NULL;
    FILE *f = NULL;
    uint64_t off = 0;
    if (!root)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        const struct st_write_entry *t = &ents[i];
        if (frs_dtype_size(t->dtype) == 0 || t->ndim < 0 || t->ndim > ST_MAX_DIMS) {
            st = FRS_ERR(FRS_ERR_DTYPE, "%s: tensor '%s': dtype %s / %d dimensions cannot be written", path,
                         t->name, frs_dtype_name(t->dtype), t->ndim);
            goto out;
        }
        uint64_t nbytes = st_write_nbytes(t);
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON *shape = NULL, *offs = NULL;
        if (!e || !cJSON_AddStringToObject(e, "dtype", frs_dtype_name(t->dtype)) ||
            !(shape = cJSON_AddArrayToObject(e, "shape"))) {
            st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
            goto out;
        }
        for (int d = 0; d < t->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        offs = cJSON_AddArrayToObject(e, "data_offsets");
        if (!offs) {
            st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
            goto out;
        }
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + nbytes)));
        off += nbytes;
    }
    hdr = cJSON_PrintUnformatted(root);
    if (!hdr) {
        st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
        goto out;
    }
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
    f = fopen(path, "wb");
    if (!f) {
        st = FRS_ERR(FRS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        goto out;
    }
    uint8_t len8[8];
    for (int j = 0; j < 8; j++)
        len8[j] = (uint8_t)((uint64_t)padded >> (8 * j));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
    for (size_t j = hlen; ok && j < padded; j++)
        ok = fputc(' ', f) != EOF;
    if (!ok) {
        st = FRS_ERR(FRS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (st_write_nbytes(&ents[i]) == 0)
            continue;
        long before = ftell(f);
        FRS_TRY_GOTO(fill(ctx, &ents[i], f), st, out);
        if (ferror(f)) {
            st = FRS_ERR(FRS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
            goto out;
        }
        if (before >= 0 && ftell(f) - before != (long)st_write_nbytes(&ents[i])) {
            st = FRS_ERR(FRS_ERR_INTERNAL, "%s: tensor '%s': %ld bytes written, %llu expected", path, ents[i].name,
                         ftell(f) - before, (unsigned long long)st_write_nbytes(&ents[i]));
            goto out;
        }
    }
    *total = 8 + padded + (size_t)off;
out:
    if (f && fclose(f) != 0 && st == FRS_OK)
        st = FRS_ERR(FRS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    free(hdr);
    cJSON_Delete(root);
    return st;
}
