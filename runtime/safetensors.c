/* safetensors.c - mmapped, validated .safetensors files and sharded sets
 * (model.safetensors.index.json).
 *
 * Every file is mapped read-only (MAP_PRIVATE) once. Its header is checked exhaustively before
 * any pointer into the data is handed out: 8-byte length inside the file, JSON object, each entry
 * a known dtype, non-negative shape, data_offsets inside the data section and equal to
 * prod(shape) * element size (all in checked 64-bit arithmetic), no two tensors overlapping.
 * Dtypes this runtime does not read (F64, I8, F8_E5M2...) are recorded and refused only when looked
 * up; F8_E4M3 is read only as a quantized matrix (model.c, with its weight_scale), never by
 * st_get_mat / st_get_vec. All tensors of a set live in one table sorted by name (binary search); a name held by two
 * files is an error.
 */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER (100u << 20) /* the safetensors library's own limit */
#define ST_MAX_EXACT 9007199254740992.0 /* 2^53: JSON numbers past this are not exact */

/* ---- dtypes ------------------------------------------------------------------------------- */

struct st_dtype_entry {
    const char *name;
    size_t size;
    enum frs_dtype dtype; /* FRS_DTYPE_COUNT: known to safetensors, not read here */
};

static const struct st_dtype_entry st_dtypes[] = {
    {"F32", 4, FRS_DTYPE_F32},       {"F16", 2, FRS_DTYPE_F16},       {"BF16", 2, FRS_DTYPE_BF16},
    {"I32", 4, FRS_DTYPE_I32},       {"I64", 8, FRS_DTYPE_I64},       {"F64", 8, FRS_DTYPE_COUNT},
    {"I8", 1, FRS_DTYPE_COUNT},      {"U8", 1, FRS_DTYPE_COUNT},      {"BOOL", 1, FRS_DTYPE_COUNT},
    {"I16", 2, FRS_DTYPE_COUNT},     {"U16", 2, FRS_DTYPE_COUNT},     {"U32", 4, FRS_DTYPE_COUNT},
    {"U64", 8, FRS_DTYPE_COUNT},     {"F8_E4M3", 1, FRS_DTYPE_F8_E4M3}, {"F8_E5M2", 1, FRS_DTYPE_COUNT},
    {"F8_E8M0", 1, FRS_DTYPE_COUNT},
};

static const struct st_dtype_entry *st_dtype_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (!strcmp(st_dtypes[i].name, name))
            return &st_dtypes[i];
    return NULL;
}

static bool st_dtype_is_float(enum frs_dtype dt)
{
    return dt == FRS_DTYPE_F32 || dt == FRS_DTYPE_F16 || dt == FRS_DTYPE_BF16;
}

/* ---- growing tensor table ------------------------------------------------------------------ */

static enum frs_status st_table_push(struct st_set *set, int *cap, const struct st_tensor_info *t,
                                     const char *path)
{
    if (set->n_tensors == *cap) {
        int ncap = *cap ? *cap * 2 : 64;
        struct st_tensor_info *nt = realloc(set->tensors, (size_t)ncap * sizeof *nt);
        if (!nt)
            return FRS_ERR(FRS_ERR_OOM, "%s: cannot grow the tensor table to %d entries", path, ncap);
        set->tensors = nt;
        *cap = ncap;
    }
    set->tensors[set->n_tensors++] = *t;
    return FRS_OK;
}

/* ---- JSON number helpers ------------------------------------------------------------------- */

static bool st_json_u64(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_EXACT) || d != (double)(uint64_t)d)
        return false;
    *out = (uint64_t)d;
    return true;
}

/* ---- one file ------------------------------------------------------------------------------- */

static enum frs_status st_map(struct st_file *f, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return FRS_ERR(FRS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return FRS_ERR(FRS_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return FRS_ERR(FRS_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return FRS_ERR(FRS_ERR_FORMAT,
                       "%s: file is %lld bytes, shorter than the 8-byte header length (truncated?)",
                       path, (long long)sb.st_size);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return FRS_ERR(FRS_ERR_IO, "%s: cannot mmap %lld bytes: %s", path, (long long)sb.st_size,
                       strerror(e));
    f->map = map;
    f->size = (size_t)sb.st_size;
    return FRS_OK;
}

static void st_unmap(struct st_file *f)
{
    if (f->heap)
        free(f->heap);
    else if (f->map)
        munmap(f->map, f->size);
    f->heap = NULL;
    f->map = NULL;
}

/* Parse one entry of a header into t (data pointer relative: stored as an offset for now). */
static enum frs_status st_parse_entry(const cJSON *e, const char *path, uint64_t data_size,
                                      struct st_tensor_info *t, uint64_t *begin_out)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: header entry '%s' must be an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s': field 'dtype' missing or not a string", path, name);
    if (!cJSON_IsArray(sh))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s': field 'shape' missing or not an array", path, name);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s': field 'data_offsets' must be [begin, end]", path,
                       name);
    const struct st_dtype_entry *de = st_dtype_lookup(dt->valuestring);
    if (!de)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%.32s\"", path, name,
                       dt->valuestring);
    t->dtype = de->dtype;
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", de->name);

    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions, at most %d supported",
                       path, name, nd, ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t nelem = 1;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh)
    {
        uint64_t x;
        if (!st_json_u64(d, &x))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s': shape[%d] must be a non-negative integer",
                           path, name, i);
        if (__builtin_mul_overflow(nelem, x, &nelem) || nelem > (uint64_t)INT64_MAX)
            return FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s': element count overflows", path, name);
        t->shape[i++] = (int64_t)x;
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(nelem, (uint64_t)de->size, &nbytes))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s': byte size overflows", path, name);
    uint64_t b, en;
    if (!st_json_u64(cJSON_GetArrayItem(off, 0), &b) || !st_json_u64(cJSON_GetArrayItem(off, 1), &en))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s': data_offsets must be non-negative integers",
                       path, name);
    if (b > en || en > data_size)
        return FRS_ERR(FRS_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] outside the data section of %llu bytes (truncated file?)",
                       path, name, (unsigned long long)b, (unsigned long long)en,
                       (unsigned long long)data_size);
    if (en - b != nbytes)
        return FRS_ERR(FRS_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets span %llu bytes but shape x %s needs %llu", path,
                       name, (unsigned long long)(en - b), de->name, (unsigned long long)nbytes);
    t->nbytes = (size_t)nbytes;
    *begin_out = b;
    return FRS_OK;
}

struct st_span {
    uint64_t begin, end;
    int idx;
};

static int st_span_cmp(const void *a, const void *b)
{
    const struct st_span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : (x->end > y->end);
}

/* Map the file, validate its header, append its tensors to set (file index fi). */
static enum frs_status st_load_file(struct st_set *set, int *cap, int fi)
{
    struct st_file *f = &set->files[fi];
    const char *path = f->path;
    FRS_TRY(st_map(f, path));
    const unsigned char *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    if (hlen > f->size - 8)
        return FRS_ERR(FRS_ERR_FORMAT,
                       "%s: header length %llu runs past the end of the %zu-byte file (truncated or not a safetensors file)",
                       path, (unsigned long long)hlen, f->size);
    if (hlen > ST_MAX_HEADER)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: header length %llu exceeds the %u-byte limit", path,
                       (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen < 2 || memchr(p + 8, '\0', (size_t)hlen))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: header is not JSON (length %llu or NUL byte inside)", path,
                       (unsigned long long)hlen);
    const uint64_t data_off = 8 + hlen;
    const uint64_t data_size = f->size - data_off;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)p + 8, (size_t)hlen, &end, 0);
    if (!root)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: header is not valid JSON (error at header byte %ld)", path,
                       end ? (long)(end - (const char *)p - 8) : -1L);
    enum frs_status st = FRS_OK;
    struct st_span *spans = NULL;
    int first = set->n_tensors, n_spans = 0;
    if (!cJSON_IsObject(root)) {
        st = FRS_ERR(FRS_ERR_FORMAT, "%s: header must be a JSON object", path);
        goto done;
    }
    int n_entries = cJSON_GetArraySize(root);
    spans = calloc((size_t)n_entries + 1, sizeof *spans);
    if (!spans) {
        st = FRS_ERR(FRS_ERR_OOM, "%s: cannot allocate %d header entries", path, n_entries);
        goto done;
    }
    const cJSON *e;
    bool misaligned = false;
    cJSON_ArrayForEach(e, root)
    {
        if (!strcmp(e->string, "__metadata__"))
            continue;
        struct st_tensor_info t;
        memset(&t, 0, sizeof t);
        uint64_t begin = 0;
        FRS_TRY_GOTO(st_parse_entry(e, path, data_size, &t, &begin), st, done);
        size_t esize = frs_dtype_size(t.dtype);
        const struct st_dtype_entry *de = st_dtype_lookup(t.dtype_name);
        if (de)
            esize = de->size;
        if (begin % esize != 0) {
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s': data offset %llu is not a multiple of its %zu-byte element",
                         path, e->string, (unsigned long long)begin, esize);
            goto done;
        }
        if ((data_off + begin) % esize != 0)
            misaligned = true;
        t.name = strdup(e->string);
        if (!t.name) {
            st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
            goto done;
        }
        t.file = fi;
        t.data = (const void *)(uintptr_t)begin; /* relative until the base is final */
        FRS_TRY_GOTO(st_table_push(set, cap, &t, path), st, push_failed);
        spans[n_spans].begin = begin;
        spans[n_spans].end = begin + t.nbytes;
        spans[n_spans].idx = set->n_tensors - 1;
        n_spans++;
        continue;
    push_failed:
        free(t.name);
        goto done;
    }
    /* no two tensors may share bytes */
    qsort(spans, (size_t)n_spans, sizeof *spans, st_span_cmp);
    int widest = 0; /* span reaching furthest so far */
    for (int i = 1; i < n_spans; i++) {
        if (spans[i].end > spans[i].begin && spans[i].begin < spans[widest].end) {
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data section", path,
                         set->tensors[spans[widest].idx].name, set->tensors[spans[i].idx].name);
            goto done;
        }
        if (spans[i].end > spans[widest].end)
            widest = i;
    }
    if (misaligned) {
        /* Header length not a multiple of 8 (written by an old tool): copy the file to the heap so
         * that the data section starts 64-byte aligned. Rare; costs the file's size in memory. */
        size_t pad = (size_t)((64 - data_off % 64) % 64);
        void *heap = aligned_alloc(64, ((f->size + pad + 63) / 64) * 64);
        if (!heap) {
            st = FRS_ERR(FRS_ERR_OOM, "%s: cannot allocate an aligned copy of %zu bytes", path, f->size);
            goto done;
        }
        memcpy((char *)heap + pad, f->map, f->size);
        munmap(f->map, f->size);
        f->heap = heap;
        f->map = (char *)heap + pad;
    }
    for (int i = first; i < set->n_tensors; i++)
        set->tensors[i].data = (const char *)f->map + data_off + (uintptr_t)set->tensors[i].data;
done:
    free(spans);
    cJSON_Delete(root);
    return st;
}

static int st_info_cmp(const void *a, const void *b)
{
    return strcmp(((const struct st_tensor_info *)a)->name, ((const struct st_tensor_info *)b)->name);
}

static enum frs_status st_finish(struct st_set *set)
{
    qsort(set->tensors, (size_t)set->n_tensors, sizeof *set->tensors, st_info_cmp);
    for (int i = 1; i < set->n_tensors; i++) {
        const struct st_tensor_info *a = &set->tensors[i - 1], *b = &set->tensors[i];
        if (!strcmp(a->name, b->name))
            return FRS_ERR(FRS_ERR_FORMAT, "tensor '%s' appears twice: in %s and in %s", a->name,
                           set->files[a->file].path, set->files[b->file].path);
    }
    return FRS_OK;
}

static enum frs_status st_add_file(struct st_set *set, const char *path)
{
    struct st_file *nf = realloc(set->files, (size_t)(set->n_files + 1) * sizeof *nf);
    if (!nf)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    set->files = nf;
    memset(&nf[set->n_files], 0, sizeof *nf);
    nf[set->n_files].path = strdup(path);
    if (!nf[set->n_files].path)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    set->n_files++;
    return FRS_OK;
}

void st_close(struct st_set *set)
{
    if (!set)
        return;
    for (int i = 0; i < set->n_tensors; i++)
        free(set->tensors[i].name);
    free(set->tensors);
    for (int i = 0; i < set->n_files; i++) {
        st_unmap(&set->files[i]);
        free(set->files[i].path);
    }
    free(set->files);
    memset(set, 0, sizeof *set);
}

enum frs_status st_open_file(struct st_set *set, const char *path)
{
    memset(set, 0, sizeof *set);
    int cap = 0;
    enum frs_status st;
    FRS_TRY_GOTO(st_add_file(set, path), st, fail);
    FRS_TRY_GOTO(st_load_file(set, &cap, 0), st, fail);
    FRS_TRY_GOTO(st_finish(set), st, fail);
    return FRS_OK;
fail:
    st_close(set);
    return st;
}

/* ---- directories ---------------------------------------------------------------------------- */

static char *st_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static enum frs_status st_read_text(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return FRS_ERR(FRS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > (256u << 20)) {
                free(buf);
                fclose(f);
                return FRS_ERR(FRS_ERR_FORMAT, "%s: too large for an index file", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return FRS_ERR(FRS_ERR_IO, "%s: read error", path);
    }
    buf[len] = '\0';
    *out = buf;
    return FRS_OK;
}

static bool st_bad_shard_name(const char *s)
{
    return s[0] == '\0' || s[0] == '/' || strstr(s, "..") != NULL;
}

static enum frs_status st_open_index(struct st_set *set, const char *dir, const char *index_path)
{
    char *text = NULL;
    FRS_TRY(st_read_text(index_path, &text));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    enum frs_status st = FRS_OK;
    int cap = 0;
    if (!root) {
        st = FRS_ERR(FRS_ERR_FORMAT, "%s: malformed JSON at byte %ld", index_path,
                     end ? (long)(end - text) : -1L);
        goto done;
    }
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) {
        st = FRS_ERR(FRS_ERR_FORMAT, "%s: field 'weight_map' missing or not an object", index_path);
        goto done;
    }
    const cJSON *e;
    /* open every shard named, once, in order of first mention */
    cJSON_ArrayForEach(e, wm)
    {
        if (!cJSON_IsString(e) || st_bad_shard_name(e->valuestring)) {
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: weight_map entry '%s' must name a file in the same directory",
                         index_path, e->string);
            goto done;
        }
        char *path = st_join(dir, e->valuestring);
        if (!path) {
            st = FRS_ERR(FRS_ERR_OOM, "out of memory");
            goto done;
        }
        bool seen = false;
        for (int i = 0; i < set->n_files && !seen; i++)
            seen = !strcmp(set->files[i].path, path);
        if (!seen) {
            st = st_add_file(set, path);
            if (st == FRS_OK)
                st = st_load_file(set, &cap, set->n_files - 1);
        }
        free(path);
        if (st != FRS_OK) {
            if (st == FRS_ERR_MISSING || st == FRS_ERR_IO) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", frs_error_msg());
                st = FRS_ERR(st, "%s names shard '%s' for tensor '%s': %s", index_path, e->valuestring,
                             e->string, msg);
            }
            goto done;
        }
    }
    if (set->n_files == 0) {
        st = FRS_ERR(FRS_ERR_FORMAT, "%s: 'weight_map' is empty", index_path);
        goto done;
    }
    FRS_TRY_GOTO(st_finish(set), st, done);
    /* every tensor the index names must be in the shard it names */
    cJSON_ArrayForEach(e, wm)
    {
        const struct st_tensor_info *t = st_find(set, e->string);
        char *path = st_join(dir, e->valuestring);
        if (!path) {
            st = FRS_ERR(FRS_ERR_OOM, "out of memory");
            goto done;
        }
        if (!t || strcmp(set->files[t->file].path, path) != 0) {
            if (t)
                st = FRS_ERR(FRS_ERR_MISSING, "%s: tensor '%s' is listed in %s but stored in %s",
                             index_path, e->string, e->valuestring, set->files[t->file].path);
            else
                st = FRS_ERR(FRS_ERR_MISSING, "%s: tensor '%s' is listed in %s, but that file does not hold it",
                             index_path, e->string, path);
            free(path);
            goto done;
        }
        free(path);
    }
done:
    cJSON_Delete(root);
    free(text);
    return st;
}

enum frs_status st_open_dir(struct st_set *set, const char *dir)
{
    memset(set, 0, sizeof *set);
    enum frs_status st = FRS_OK;
    char *index_path = st_join(dir, "model.safetensors.index.json");
    char *single = st_join(dir, "model.safetensors");
    if (!index_path || !single) {
        st = FRS_ERR(FRS_ERR_OOM, "out of memory");
        goto done;
    }
    if (access(index_path, F_OK) == 0) {
        st = st_open_index(set, dir, index_path);
        goto done;
    }
    if (access(single, F_OK) == 0) {
        st = st_open_file(set, single);
        goto done;
    }
    /* else the only *.safetensors in dir */
    DIR *d = opendir(dir);
    if (!d) {
        st = FRS_ERR(FRS_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
        goto done;
    }
    char *found = NULL;
    int n_found = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > 12 && !strcmp(de->d_name + n - 12, ".safetensors")) {
            if (n_found++ == 0)
                found = strdup(de->d_name);
        }
    }
    closedir(d);
    if (n_found == 0) {
        st = FRS_ERR(FRS_ERR_MISSING, "%s: no model.safetensors.index.json, model.safetensors or other *.safetensors file",
                     dir);
    } else if (n_found > 1) {
        st = FRS_ERR(FRS_ERR_MISSING, "%s: %d *.safetensors files but no model.safetensors.index.json to say which hold the model",
                     dir, n_found);
    } else if (!found) {
        st = FRS_ERR(FRS_ERR_OOM, "out of memory");
    } else {
        char *path = st_join(dir, found);
        st = path ? st_open_file(set, path) : FRS_ERR(FRS_ERR_OOM, "out of memory");
        free(path);
    }
    free(found);
done:
    free(index_path);
    free(single);
    if (st != FRS_OK)
        st_close(set);
    return st;
}

/* ---- lookups -------------------------------------------------------------------------------- */

const struct st_tensor_info *st_find(const struct st_set *set, const char *name)
{
    int lo = 0, hi = set->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(set->tensors[mid].name, name);
        if (c == 0)
            return &set->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

const char *st_tensor_path(const struct st_set *set, const struct st_tensor_info *t)
{
    if (!t || t->file < 0 || t->file >= set->n_files)
        return "?";
    return set->files[t->file].path;
}

static void st_format_shape(const int64_t *shape, int ndim, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

static enum frs_status st_missing(const struct st_set *set, const char *name)
{
    if (set->n_files == 1)
        return FRS_ERR(FRS_ERR_MISSING, "%s: tensor '%s' not found", set->files[0].path, name);
    if (set->n_files == 0)
        return FRS_ERR(FRS_ERR_MISSING, "tensor '%s' not found (no file open)", name);
    return FRS_ERR(FRS_ERR_MISSING, "tensor '%s' not found in any of the %d files %s ... %s", name,
                   set->n_files, set->files[0].path, set->files[set->n_files - 1].path);
}

static enum frs_status st_get_checked(const struct st_set *set, const char *name, int ndim,
                                      const int64_t *shape, struct frs_mat *out)
{
    memset(out, 0, sizeof *out);
    const struct st_tensor_info *t = st_find(set, name);
    if (!t)
        return st_missing(set, name);
    const char *path = st_tensor_path(set, t);
    if (!st_dtype_is_float(t->dtype))
        return FRS_ERR(FRS_ERR_DTYPE, "%s: tensor '%s' has dtype %s, expected a float type (F32, F16 or BF16)",
                       path, name, t->dtype_name);
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (!ok) {
        char got[160], want[160];
        st_format_shape(t->shape, t->ndim, got, sizeof got);
        st_format_shape(shape, ndim, want, sizeof want);
        return FRS_ERR(FRS_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", path, name, got, want);
    }
    out->dtype = t->dtype;
    out->rows = ndim == 2 ? shape[0] : 1;
    out->cols = ndim == 2 ? shape[1] : shape[0];
    out->ld = out->cols;
    out->data = t->data;
    return FRS_OK;
}

enum frs_status st_get_mat(const struct st_set *set, const char *name, int64_t rows, int64_t cols,
                           struct frs_mat *out)
{
    const int64_t shape[2] = {rows, cols};
    return st_get_checked(set, name, 2, shape, out);
}

enum frs_status st_get_vec(const struct st_set *set, const char *name, int64_t n, struct frs_mat *out)
{
    const int64_t shape[1] = {n};
    return st_get_checked(set, name, 1, shape, out);
}
