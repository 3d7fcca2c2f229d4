/* st_write.c - the safetensors writer (layout of safetensors.torch.save_file, see st_write.h):
 * st_write_file streams entries whose bytes a callback writes; st_write_tensors writes torch.save
 * tensors (runtime/torchzip.h) through it. Used by `frspec convert-draft`, the draft loader for a
 * directory that holds only pytorch_model.bin, and `frspec quantize`. */
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

void st_write_entries_sort(struct st_write_entry *e, int n)
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

/* ---- torch.save tensors ------------------------------------------------------------------------ */

static int st_tz_order(const void *a, const void *b)
{
    const struct tz_tensor *x = *(const struct tz_tensor *const *)a, *y = *(const struct tz_tensor *const *)b;
    int rx = st_write_rank(x->dtype), ry = st_write_rank(y->dtype);
    if (rx != ry)
        return ry - rx;
    return strcmp(x->name, y->name);
}

void st_write_sort(const struct tz_tensor **ts, int n)
{
    qsort(ts, (size_t)n, sizeof *ts, st_tz_order);
}

static int st_tz_contiguous(const struct tz_tensor *t)
{
    int64_t want = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != want)
            return 0;
        want *= t->shape[d];
    }
    return 1;
}

/* st_write_file's callback: the bytes of one torch.save tensor (copied when not contiguous) */
static enum frs_status st_tz_fill(void *ctx, const struct st_write_entry *e, FILE *f)
{
    const struct tz_tensor *const *ts = ctx;
    const struct tz_tensor *t = ts[e->id];
    size_t esz = frs_dtype_size(t->dtype), nbytes = (size_t)tz_tensor_numel(t) * esz;
    if (st_tz_contiguous(t)) {
        if (fwrite((const char *)t->storage + (size_t)t->offset * esz, 1, nbytes, f) != nbytes)
            return FRS_ERR(FRS_ERR_IO, "tensor '%s': write failed: %s", t->name, strerror(errno));
        return FRS_OK;
    }
    void *tmp = malloc(nbytes);
    if (!tmp)
        return FRS_ERR(FRS_ERR_OOM, "out of memory copying '%s'", t->name);
    enum frs_status st = tz_tensor_copy(t, tmp);
    if (st == FRS_OK && fwrite(tmp, 1, nbytes, f) != nbytes)
        st = FRS_ERR(FRS_ERR_IO, "tensor '%s': write failed: %s", t->name, strerror(errno));
    free(tmp);
    return st;
}

enum frs_status st_write_tensors(const char *path, const struct tz_tensor **ts, int n, size_t *total)
{
    struct st_write_entry *e = calloc((size_t)(n ? n : 1), sizeof *e);
    if (!e)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    enum frs_status st = FRS_OK;
    for (int i = 0; i < n; i++) {
        const struct tz_tensor *t = ts[i];
        if (t->dtype == FRS_DTYPE_COUNT) {
            st = FRS_ERR(FRS_ERR_DTYPE, "tensor '%s': storage type torch.%s cannot be converted "
                         "(F32, F16, BF16, I32, I64 only)", t->name, t->storage_type);
            goto out;
        }
        if (t->ndim > ST_MAX_DIMS) {
            st = FRS_ERR(FRS_ERR_UNSUPPORTED, "tensor '%s': %d dimensions, at most %d", t->name, t->ndim, ST_MAX_DIMS);
            goto out;
        }
        e[i].name = t->name;
        e[i].dtype = t->dtype;
        e[i].ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++)
            e[i].shape[d] = t->shape[d];
        e[i].id = i;
    }
    /* ts is in the caller's order (st_write_sort): written as given */
    st = st_write_file(path, e, n, st_tz_fill, (void *)ts, total);
out:
    free(e);
    return st;
}
