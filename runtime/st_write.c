/* st_write.c - writing torch.save tensors (runtime/torchzip.h) as a safetensors file, laid out
 * as Hugging Face's safetensors.torch.save_file lays it out (see st_write.h). Used by `frspec
 * convert-draft` and by the draft loader for a directory that holds only pytorch_model.bin. */
#include "st_write.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dtype_rank(enum frs_dtype dt) /* safetensors' Dtype order: larger first */
{
    switch (dt) {
    case FRS_DTYPE_I64: return 5;
    case FRS_DTYPE_F32: return 4;
    case FRS_DTYPE_I32: return 3;
    case FRS_DTYPE_BF16: return 2;
    case FRS_DTYPE_F16: return 1;
    default: return 0;
    }
}

static int tensor_order(const void *a, const void *b)
{
    const struct tz_tensor *x = *(const struct tz_tensor *const *)a, *y = *(const struct tz_tensor *const *)b;
    int rx = dtype_rank(x->dtype), ry = dtype_rank(y->dtype);
    if (rx != ry)
        return ry - rx;
    return strcmp(x->name, y->name);
}

static int is_contiguous(const struct tz_tensor *t)
{
    int64_t want = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != want)
            return 0;
        want *= t->shape[d];
    }
    return 1;
}

void st_write_sort(const struct tz_tensor **ts, int n)
{
    qsort(ts, (size_t)n, sizeof *ts, tensor_order);
}

enum frs_status st_write_tensors(const char *path, const struct tz_tensor **ts, int n, size_t *total)
{
    enum frs_status st = FRS_OK;
    cJSON *root = cJSON_CreateObject();
    char *hdr = NULL;
    FILE *f = NULL;
    uint64_t off = 0;
    if (!root)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        const struct tz_tensor *t = ts[i];
        if (t->dtype == FRS_DTYPE_COUNT) {
            st = FRS_ERR(FRS_ERR_DTYPE, "tensor '%s': storage type torch.%s cannot be converted "
                         "(F32, F16, BF16, I32, I64 only)", t->name, t->storage_type);
            goto out;
        }
        uint64_t nbytes = (uint64_t)tz_tensor_numel(t) * frs_dtype_size(t->dtype);
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
    for (int i = 0; ok && i < n; i++) {
        const struct tz_tensor *t = ts[i];
        size_t esz = frs_dtype_size(t->dtype), nbytes = (size_t)tz_tensor_numel(t) * esz;
        if (nbytes == 0)
            continue;
        if (is_contiguous(t)) {
            ok = fwrite((const char *)t->storage + (size_t)t->offset * esz, 1, nbytes, f) == nbytes;
        } else {
            void *tmp = malloc(nbytes);
            if (!tmp) {
                st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory copying '%s'", path, t->name);
                goto out;
            }
            st = tz_tensor_copy(t, tmp);
            ok = st == FRS_OK && fwrite(tmp, 1, nbytes, f) == nbytes;
            free(tmp);
            if (st != FRS_OK)
                goto out;
        }
    }
    if (!ok) {
        st = FRS_ERR(FRS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        goto out;
    }
    *total = 8 + padded + (size_t)off;
out:
    if (f && fclose(f) != 0 && st == FRS_OK)
        st = FRS_ERR(FRS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    free(hdr);
    cJSON_Delete(root);
    return st;
}

