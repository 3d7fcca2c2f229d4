/* quantize.c - a float Llama checkpoint to the compressed-tensors FP8 "float-quantized" layout;
 * see quantize.h for the numbers and the files written. Streams: reads each input shard through
 * its mapping and writes the output shard tensor by tensor (st_write.c), so a 70B model needs
 * no more memory than one row of a matrix plus its scales. */
#include "quantize.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"      /* llama_config_load, quant_config_find */
#include "safetensors.h" /* st_open_dir, st_tensor_info */
#include "st_write.h"    /* st_write_entry, st_write_file */

float frs_quantize_scale(float amax)
{
    float s = amax / 448.0f;
    return s == 0.0f ? FLT_EPSILON : s;
}

enum qz_kind { QZ_COPY = 0, QZ_WEIGHT, QZ_SCALE };

struct qz_item {
    const struct st_tensor_info *t; /* the input tensor */
    enum qz_kind kind;
    char *name;    /* output name */
    float *scales; /* QZ_WEIGHT / QZ_SCALE: rows (per channel) or 1, shared by the pair (owned by the weight) */
    int per_tensor;
};

/* "model.layers.N.self_attn.q_proj.weight" etc. or "lm_head.weight": the module name (without
 * ".weight") into mod; false for any other tensor. */
static bool qz_is_linear(const char *name, char *mod, size_t n)
{
    static const char *const sfx[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                      "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
    size_t len = strlen(name);
    if (len < 8 || strcmp(name + len - 7, ".weight") != 0 || len - 7 >= n)
        return false;
    snprintf(mod, n, "%.*s", (int)(len - 7), name);
    if (!strcmp(mod, "lm_head"))
        return true;
    const char *p = mod;
    if (strncmp(p, "model.layers.", 13) != 0)
        return false;
    p += 13;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != '.')
        return false;
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++)
        if (!strcmp(p, sfx[i]))
            return true;
    return false;
}

static struct frs_mat qz_view(const struct st_tensor_info *t)
{
    struct frs_mat m = {.dtype = t->dtype, .rows = t->shape[0], .cols = t->shape[1], .ld = t->shape[1], .data = t->data};
    return m;
}

static enum frs_status qz_scales(const struct st_tensor_info *t, int per_tensor, float **out)
{
    const struct frs_mat m = qz_view(t);
    float *row = malloc(sizeof *row * (size_t)(m.cols ? m.cols : 1));
    float *s = malloc(sizeof *s * (size_t)(per_tensor ? 1 : (m.rows ? m.rows : 1)));
    if (!row || !s) {
        free(row);
        free(s);
        return FRS_ERR(FRS_ERR_OOM, "tensor '%s': out of memory for its scales", t->name);
    }
    float all = 0.0f;
    for (int64_t r = 0; r < m.rows; r++) {
        frs_mat_row_to_f32(&m, r, row);
        float a = 0.0f;
        for (int64_t c = 0; c < m.cols; c++) {
            float v = row[c] < 0 ? -row[c] : row[c];
            if (v != v) {
                free(row);
                free(s);
                return FRS_ERR(FRS_ERR_FORMAT, "tensor '%s' holds a NaN at [%lld, %lld]", t->name, (long long)r,
                               (long long)c);
            }
            a = v > a ? v : a;
        }
        if (per_tensor)
            all = a > all ? a : all;
        else
            s[r] = frs_quantize_scale(a);
    }
    if (per_tensor)
        s[0] = frs_quantize_scale(all);
    free(row);
    *out = s;
    return FRS_OK;
}

static enum frs_status qz_fill(void *ctx, const struct st_write_entry *e, FILE *f)
{
    const struct qz_item *it = &((const struct qz_item *)ctx)[e->id];
    const struct st_tensor_info *t = it->t;
    if (it->kind == QZ_COPY) {
        if (fwrite(t->data, 1, t->nbytes, f) != t->nbytes)
            return FRS_ERR(FRS_ERR_IO, "tensor '%s': write failed: %s", it->name, strerror(errno));
        return FRS_OK;
    }
    const struct frs_mat m = qz_view(t);
    if (it->kind == QZ_SCALE) {
        size_t n = it->per_tensor ? 1 : (size_t)m.rows;
        if (fwrite(it->scales, sizeof(float), n, f) != n)
            return FRS_ERR(FRS_ERR_IO, "tensor '%s': write failed: %s", it->name, strerror(errno));
        return FRS_OK;
    }
    float *row = malloc(sizeof *row * (size_t)m.cols);
    uint8_t *q = malloc((size_t)m.cols);
    enum frs_status st = FRS_OK;
    if (!row || !q) {
        st = FRS_ERR(FRS_ERR_OOM, "tensor '%s': out of memory", it->name);
        goto out;
    }
    for (int64_t r = 0; r < m.rows; r++) {
        const float s = it->scales[it->per_tensor ? 0 : r];
        frs_mat_row_to_f32(&m, r, row);
        for (int64_t c = 0; c < m.cols; c++) {
            float v = row[c] / s + 0.0f; /* + zero point 0, as compressed-tensors adds it (-0 -> +0) */
            v = v < -448.0f ? -448.0f : (v > 448.0f ? 448.0f : v);
            q[c] = frs_f32_to_e4m3(v);
        }
        if (fwrite(q, 1, (size_t)m.cols, f) != (size_t)m.cols) {
            st = FRS_ERR(FRS_ERR_IO, "tensor '%s': write failed: %s", it->name, strerror(errno));
            goto out;
        }
    }
out:
    free(row);
    free(q);
    return st;
}

static const char *qz_base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static enum frs_status qz_copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (!in)
        return FRS_ERR(FRS_ERR_IO, "%s: cannot open: %s", src, strerror(errno));
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fclose(in);
        return FRS_ERR(FRS_ERR_IO, "%s: cannot create: %s", dst, strerror(errno));
    }
    char buf[65536];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    fclose(in);
    if (fclose(out) != 0)
        ok = 0;
    return ok ? FRS_OK : FRS_ERR(FRS_ERR_IO, "%s: copy to %s failed: %s", src, dst, strerror(errno));
}

static enum frs_status qz_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return FRS_ERR(FRS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n && fputc('\n', f) != EOF;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? FRS_OK : FRS_ERR(FRS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
}

static enum frs_status qz_read_text(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return FRS_ERR(FRS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 && n < (64L << 20) ? malloc((size_t)n + 1) : NULL;
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        fclose(f);
        return FRS_ERR(FRS_ERR_IO, "%s: cannot read", path);
    }
    b[n] = '\0';
    fclose(f);
    *out = b;
    return FRS_OK;
}

/* The quantization_config this writes (compressed-tensors' own field names and values). */
static cJSON *qz_config_json(const struct frs_quantize_opts *o, const char *const *ignore, int n_ignore)
{
    cJSON *qc = cJSON_CreateObject(), *groups = cJSON_AddObjectToObject(qc, "config_groups");
    cJSON *g = cJSON_AddObjectToObject(groups, "group_0");
    cJSON *targets = cJSON_AddArrayToObject(g, "targets");
    cJSON_AddItemToArray(targets, cJSON_CreateString("Linear"));
    cJSON *w = cJSON_AddObjectToObject(g, "weights");
    cJSON_AddNumberToObject(w, "num_bits", 8);
    cJSON_AddStringToObject(w, "type", "float");
    cJSON_AddBoolToObject(w, "symmetric", 1);
    cJSON_AddNullToObject(w, "group_size");
    cJSON_AddStringToObject(w, "strategy", o->per_tensor ? "tensor" : "channel");
    cJSON_AddNullToObject(w, "block_structure");
    cJSON_AddBoolToObject(w, "dynamic", 0);
    cJSON_AddNullToObject(w, "actorder");
    cJSON_AddStringToObject(w, "observer", "minmax");
    cJSON_AddNullToObject(g, "input_activations");
    cJSON_AddNullToObject(g, "output_activations");
    cJSON_AddStringToObject(g, "format", "float-quantized");
    cJSON_AddStringToObject(qc, "format", "float-quantized");
    cJSON_AddNullToObject(qc, "global_compression_ratio");
    cJSON *ig = cJSON_AddArrayToObject(qc, "ignore");
    for (int i = 0; i < n_ignore; i++)
        cJSON_AddItemToArray(ig, cJSON_CreateString(ignore[i]));
    cJSON_AddNullToObject(qc, "kv_cache_scheme");
    cJSON_AddStringToObject(qc, "quant_method", "compressed-tensors");
    cJSON_AddStringToObject(qc, "quantization_status", "compressed");
    return qc;
}

enum frs_status frs_quantize_dir(const char *in_dir, const char *out_dir, const struct frs_quantize_opts *o,
                                 struct frs_quantize_report *rep)
{
    static const char *const default_ignore[] = {"lm_head"};
    const char *const *ignore = o->ignore ? o->ignore : default_ignore;
    const int n_ignore = o->ignore ? o->n_ignore : 1;
    memset(rep, 0, sizeof *rep);
    enum frs_status st = FRS_OK;
    struct st_set set;
    memset(&set, 0, sizeof set);
    struct qz_item *items = NULL;
    struct st_write_entry *ents = NULL;
    char *cfg_text = NULL;
    cJSON *cfg = NULL, *index = NULL, *wmap = NULL;
    char path[PATH_MAX], rin[PATH_MAX], rout[PATH_MAX];
    int n_items = 0;

    /* the input must be a float Llama checkpoint */
    struct llama_config lc;
    snprintf(path, sizeof path, "%s/config.json", in_dir);
    FRS_TRY(llama_config_load(path, &lc));
    FRS_TRY(qz_read_text(path, &cfg_text));
    cfg = cJSON_Parse(cfg_text);
    if (!cJSON_IsObject(cfg)) {
        st = FRS_ERR(FRS_ERR_FORMAT, "%s: not a JSON object", path);
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(cfg, "quantization_config")) {
        st = FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'quantization_config' is present: the checkpoint is already "
                     "quantized", path);
        goto out;
    }
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        st = FRS_ERR(FRS_ERR_IO, "%s: cannot create the output directory: %s", out_dir, strerror(errno));
        goto out;
    }
    if (!realpath(in_dir, rin) || !realpath(out_dir, rout)) {
        st = FRS_ERR(FRS_ERR_IO, "%s or %s: cannot resolve: %s", in_dir, out_dir, strerror(errno));
        goto out;
    }
    if (!strcmp(rin, rout)) {
        st = FRS_ERR(FRS_ERR_INVALID_ARG, "--out %s is the input directory", out_dir);
        goto out;
    }
    FRS_TRY_GOTO(st_open_dir(&set, in_dir), st, out);

    /* the matching compressed-tensors applies: class Linear, minus the ignore list */
    struct frs_quant_config qc;
    memset(&qc, 0, sizeof qc);
    char *linear = "Linear";
    qc.method = FRS_QUANT_COMPRESSED_TENSORS;
    qc.n_groups = 1;
    qc.groups[0].targets = &linear;
    qc.groups[0].n_targets = 1;
    qc.ignore = (char **)ignore;
    qc.n_ignore = n_ignore;

    items = calloc((size_t)set.n_tensors * 2 + 1, sizeof *items);
    ents = calloc((size_t)set.n_tensors * 2 + 1, sizeof *ents);
    if (!items || !ents) {
        st = FRS_ERR(FRS_ERR_OOM, "out of memory for %d tensors", set.n_tensors);
        goto out;
    }
    const bool indexed = set.n_files > 1 || strcmp(qz_base(set.files[0].path), "model.safetensors") != 0;
    index = cJSON_CreateObject();
    wmap = cJSON_CreateObject();
    if (!index || !wmap) {
        st = FRS_ERR(FRS_ERR_OOM, "out of memory");
        goto out;
    }
    double total_size = 0;
    for (int fi = 0; fi < set.n_files; fi++) {
        int first = n_items, n_ents = 0;
        for (int i = 0; i < set.n_tensors; i++) {
            const struct st_tensor_info *t = &set.tensors[i];
            if (t->file != fi)
                continue;
            char mod[200];
            bool q = qz_is_linear(t->name, mod, sizeof mod) && !(lc.tie_word_embeddings && !strcmp(mod, "lm_head")) &&
                     quant_config_find(&qc, mod) != NULL;
            if (q && (t->ndim != 2 || !(t->dtype == FRS_DTYPE_F32 || t->dtype == FRS_DTYPE_BF16 ||
                                        t->dtype == FRS_DTYPE_F16))) {
                st = FRS_ERR(FRS_ERR_DTYPE, "%s: tensor '%s' is %s with %d dimensions; a Linear to quantize must be "
                             "a 2-D F32, BF16 or F16 matrix", set.files[fi].path, t->name, t->dtype_name, t->ndim);
                goto out;
            }
            struct qz_item *it = &items[n_items];
            it->t = t;
            it->kind = q ? QZ_WEIGHT : QZ_COPY;
            it->per_tensor = o->per_tensor;
            if (!(it->name = strdup(t->name))) {
                st = FRS_ERR(FRS_ERR_OOM, "out of memory");
                goto out;
            }
            n_items++;
            if (q) {
                FRS_TRY_GOTO(qz_scales(t, o->per_tensor, &it->scales), st, out);
                struct qz_item *sc = &items[n_items++];
                *sc = *it;
                sc->kind = QZ_SCALE;
                size_t nl = strlen(mod) + 16;
                if (!(sc->name = malloc(nl))) {
                    st = FRS_ERR(FRS_ERR_OOM, "out of memory");
                    goto out;
                }
                snprintf(sc->name, nl, "%s.weight_scale", mod);
                rep->n_quantized++;
            } else {
                rep->n_copied++;
            }
        }
        for (int k = first; k < n_items; k++) {
            const struct qz_item *it = &items[k];
            struct st_write_entry *e = &ents[n_ents++];
            memset(e, 0, sizeof *e);
            e->name = it->name;
            e->id = k;
            if (it->kind == QZ_COPY) {
                if (it->t->dtype == FRS_DTYPE_COUNT || frs_dtype_size(it->t->dtype) == 0) {
                    st = FRS_ERR(FRS_ERR_DTYPE, "%s: tensor '%s' has dtype %s, which this writer does not copy",
                                 set.files[fi].path, it->name, it->t->dtype_name);
                    goto out;
                }
                e->dtype = it->t->dtype;
                e->ndim = it->t->ndim;
                memcpy(e->shape, it->t->shape, sizeof e->shape);
            } else if (it->kind == QZ_WEIGHT) {
                e->dtype = FRS_DTYPE_F8_E4M3;
                e->ndim = 2;
                e->shape[0] = it->t->shape[0];
                e->shape[1] = it->t->shape[1];
            } else {
                e->dtype = FRS_DTYPE_F32;
                e->ndim = it->per_tensor ? 1 : 2;
                e->shape[0] = it->per_tensor ? 1 : it->t->shape[0];
                e->shape[1] = 1;
            }
            total_size += (double)st_write_nbytes(e);
            cJSON_AddStringToObject(wmap, it->name, qz_base(set.files[fi].path));
        }
        st_write_entries_sort(ents, n_ents);
        snprintf(path, sizeof path, "%s/%s", out_dir, qz_base(set.files[fi].path));
        size_t bytes = 0;
        FRS_TRY_GOTO(st_write_file(path, ents, n_ents, qz_fill, items, &bytes), st, out);
        rep->bytes_out += (double)bytes;
        rep->bytes_in += (double)set.files[fi].size;
        rep->n_files++;
    }

    /* index (sorted names, as transformers writes it), config.json, the other files */
    if (indexed) {
        cJSON *md = cJSON_AddObjectToObject(index, "metadata");
        cJSON_AddNumberToObject(md, "total_size", total_size);
        int n = cJSON_GetArraySize(wmap);
        const char **names = calloc((size_t)(n ? n : 1), sizeof *names);
        cJSON *sorted = cJSON_AddObjectToObject(index, "weight_map");
        if (!names) {
            st = FRS_ERR(FRS_ERR_OOM, "out of memory");
            goto out;
        }
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, wmap) names[k++] = e->string;
        for (int a = 1; a < n; a++) /* insertion sort: a few thousand names */
            for (int b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
                const char *tmp = names[b];
                names[b] = names[b - 1];
                names[b - 1] = tmp;
            }
        for (int a = 0; a < n; a++)
            cJSON_AddStringToObject(sorted, names[a], cJSON_GetObjectItemCaseSensitive(wmap, names[a])->valuestring);
        free(names);
        char *txt = cJSON_Print(index);
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", out_dir);
        st = txt ? qz_write_text(path, txt) : FRS_ERR(FRS_ERR_OOM, "out of memory");
        free(txt);
        if (st != FRS_OK)
            goto out;
    }
    cJSON_AddItemToObject(cfg, "quantization_config", qz_config_json(o, ignore, n_ignore));
    char *txt = cJSON_Print(cfg);
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    st = txt ? qz_write_text(path, txt) : FRS_ERR(FRS_ERR_OOM, "out of memory");
    free(txt);
    if (st != FRS_OK)
        goto out;
    DIR *d = opendir(in_dir);
    if (!d) {
        st = FRS_ERR(FRS_ERR_IO, "%s: cannot list: %s", in_dir, strerror(errno));
        goto out;
    }
    struct dirent *de;
    while (st == FRS_OK && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        if (nm[0] == '.' || !strcmp(nm, "config.json") || !strcmp(nm, "model.safetensors.index.json") ||
            (len > 12 && !strcmp(nm + len - 12, ".safetensors")))
            continue;
        char src[PATH_MAX], dst[PATH_MAX];
        struct stat sb;
        snprintf(src, sizeof src, "%s/%s", in_dir, nm);
        snprintf(dst, sizeof dst, "%s/%s", out_dir, nm);
        if (stat(src, &sb) == 0 && S_ISREG(sb.st_mode))
            st = qz_copy_file(src, dst);
    }
    closedir(d);
out:
    if (items) {
        for (int i = 0; i < n_items; i++) {
            free(items[i].name);
            if (items[i].kind == QZ_WEIGHT)
                free(items[i].scales);
        }
    }
    free(items);
    free(ents);
    cJSON_Delete(index);
    cJSON_Delete(wmap);
    cJSON_Delete(cfg);
    free(cfg_text);
    st_close(&set);
    return st;
}
