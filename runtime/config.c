/* config.c - config.json / generation_config.json of Llama 3.x targets and EAGLE-2 heads (cJSON).
 *
 * Accepts both spellings found in the wild: the published files (rope_theta + rope_scaling,
 * torch_dtype) and what transformers >= 5 writes (rope_parameters holding rope_theta and the
 * scaling, dtype). Optional fields take transformers' LlamaConfig defaults. Every error names the
 * file and the field; nothing here exits. Also the FP8 quantization_config (quant_config_*).
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- small helpers -------------------------------------------------------------------------- */

/* Read a whole text file into a NUL-terminated malloc'd buffer; a missing file is FRS_ERR_IO. */
static enum frs_status config_read_file(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return FRS_ERR(FRS_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return FRS_ERR(FRS_ERR_IO, "%s: not a regular file", path);
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return FRS_ERR(FRS_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return FRS_ERR(FRS_ERR_IO, "%s: cannot read its size (is it a directory?)", path);
    }
    if (n > (64L << 20)) {
        fclose(f);
        return FRS_ERR(FRS_ERR_FORMAT, "%s: %ld bytes is too large for a JSON config", path, n);
    }
    char *buf = malloc((size_t)n + 1);
    if (!buf) {
        fclose(f);
        return FRS_ERR(FRS_ERR_OOM, "%s: cannot allocate %ld bytes", path, n);
    }
    size_t got = fread(buf, 1, (size_t)n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != (size_t)n) {
        free(buf);
        return FRS_ERR(FRS_ERR_IO, "%s: short read (%zu of %ld bytes)", path, got, n);
    }
    buf[n] = '\0';
    *out = buf;
    return FRS_OK;
}

/* Parse JSON text; on error name the file and the line/column cJSON stopped at. */
static enum frs_status config_parse_json(const char *json, const char *name, cJSON **out)
{
    const char *end = NULL;
    *out = cJSON_ParseWithOpts(json, &end, 1);
    if (*out)
        return FRS_OK;
    const char *at = end ? end : cJSON_GetErrorPtr();
    if (!at || at < json)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: malformed JSON", name);
    int line = 1, col = 1;
    for (const char *p = json; *p && p < at; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char near[24];
    size_t k = 0;
    for (const char *p = at; *p && k < sizeof near - 1; p++)
        near[k++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
    near[k] = '\0';
    return FRS_ERR(FRS_ERR_FORMAT, "%s: malformed JSON at line %d, column %d (byte %ld) near '%s'",
                   name, line, col, (long)(at - json), near);
}

static const char *config_json_type(const cJSON *v)
{
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "invalid";
}

static bool config_is_int(const cJSON *v)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    return isfinite(d) && d == floor(d) && d >= (double)INT_MIN && d <= (double)INT_MAX;
}

/* Integer field `key` of object o (prefix names the enclosing object in messages).
 * Absent or null: *out = def and FRS_OK when !required, else FRS_ERR_MISSING. */
static enum frs_status config_get_int(const cJSON *o, const char *name, const char *prefix,
                                      const char *key, bool required, int def, int min, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return FRS_ERR(FRS_ERR_MISSING, "%s: required field '%s%s' is missing", name, prefix, key);
        *out = def;
        return FRS_OK;
    }
    if (!config_is_int(v)) {
        if (cJSON_IsNumber(v))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s%s' must be an integer (got %g)", name,
                           prefix, key, v->valuedouble);
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s%s' must be an integer (got %s)", name, prefix,
                       key, config_json_type(v));
    }
    int x = (int)v->valuedouble;
    if (x < min)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s%s' must be >= %d (got %d)", name, prefix, key,
                       min, x);
    *out = x;
    return FRS_OK;
}

static enum frs_status config_get_float(const cJSON *o, const char *name, const char *prefix,
                                        const char *key, bool required, float def, float *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return FRS_ERR(FRS_ERR_MISSING, "%s: required field '%s%s' is missing", name, prefix, key);
        *out = def;
        return FRS_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s%s' must be a finite number (got %s)", name,
                       prefix, key, config_json_type(v));
    *out = (float)v->valuedouble;
    return FRS_OK;
}

static enum frs_status config_get_bool(const cJSON *o, const char *name, const char *key, bool def,
                                       bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return FRS_OK;
    }
    if (!cJSON_IsBool(v))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s' must be true or false (got %s)", name, key,
                       config_json_type(v));
    *out = cJSON_IsTrue(v);
    return FRS_OK;
}

/* eos_token_id: an integer, a list of integers, or null/absent (no ids). */
static enum frs_status config_get_eos(const cJSON *o, const char *name, int *ids, int *n)
{
    *n = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "eos_token_id");
    if (!v || cJSON_IsNull(v))
        return FRS_OK;
    if (config_is_int(v)) {
        if (v->valuedouble < 0)
            return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'eos_token_id' must be >= 0 (got %g)", name,
                           v->valuedouble);
        ids[0] = (int)v->valuedouble;
        *n = 1;
        return FRS_OK;
    }
    if (!cJSON_IsArray(v))
        return FRS_ERR(FRS_ERR_FORMAT,
                       "%s: field 'eos_token_id' must be an integer or a list of integers (got %s)",
                       name, config_json_type(v));
    int count = cJSON_GetArraySize(v);
    if (count > FRS_MAX_EOS)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'eos_token_id' lists %d ids, at most %d supported",
                       name, count, FRS_MAX_EOS);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!config_is_int(e) || e->valuedouble < 0)
            return FRS_ERR(FRS_ERR_FORMAT,
                           "%s: field 'eos_token_id[%d]' must be a non-negative integer (got %s)",
                           name, i, config_json_type(e));
        ids[i++] = (int)e->valuedouble;
    }
    *n = i;
    return FRS_OK;
}

static enum frs_status config_get_dtype(const cJSON *o, const char *name, enum frs_dtype *out)
{
    const char *key = "torch_dtype";
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        key = "dtype";
        v = cJSON_GetObjectItemCaseSensitive(o, key);
    }
    if (!v || cJSON_IsNull(v)) {
        *out = FRS_DTYPE_F32; /* transformers' default */
        return FRS_OK;
    }
    if (!cJSON_IsString(v))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s' must be a string (got %s)", name, key,
                       config_json_type(v));
    const char *s = v->valuestring;
    if (!strcmp(s, "bfloat16"))
        *out = FRS_DTYPE_BF16;
    else if (!strcmp(s, "float16") || !strcmp(s, "half"))
        *out = FRS_DTYPE_F16;
    else if (!strcmp(s, "float32") || !strcmp(s, "float"))
        *out = FRS_DTYPE_F32;
    else
        return FRS_ERR(FRS_ERR_UNSUPPORTED,
                       "%s: field '%s' is \"%s\"; supported: bfloat16, float16, float32", name, key, s);
    return FRS_OK;
}

/* rope_scaling (published) or rope_parameters (transformers >= 5): null, {rope_type|type:
 * "default"} or the Llama 3 scaling. field names the key in messages. */
static enum frs_status config_get_rope(const cJSON *rs, const char *name, const char *field,
                                       struct llama_config *cfg)
{
    cfg->rope_type = FRS_ROPE_DEFAULT;
    if (!rs || cJSON_IsNull(rs))
        return FRS_OK;
    if (!cJSON_IsObject(rs))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s' must be null or an object (got %s)", name,
                       field, config_json_type(rs));
    const char *tkey = "rope_type";
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, tkey);
    if (!t || cJSON_IsNull(t)) {
        tkey = "type";
        t = cJSON_GetObjectItemCaseSensitive(rs, tkey);
    }
    if (!t || cJSON_IsNull(t))
        return FRS_ERR(FRS_ERR_MISSING, "%s: field '%s.rope_type' is missing", name, field);
    if (!cJSON_IsString(t))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s.%s' must be a string (got %s)", name, field,
                       tkey, config_json_type(t));
    if (!strcmp(t->valuestring, "default"))
        return FRS_OK;
    if (strcmp(t->valuestring, "llama3") != 0)
        return FRS_ERR(FRS_ERR_UNSUPPORTED,
                       "%s: field '%s.%s' is \"%s\"; only \"llama3\" (or no scaling) is supported",
                       name, field, tkey, t->valuestring);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.", field);
    cfg->rope_type = FRS_ROPE_LLAMA3;
    FRS_TRY(config_get_float(rs, name, prefix, "factor", true, 0, &cfg->rope_factor));
    FRS_TRY(config_get_float(rs, name, prefix, "low_freq_factor", true, 0, &cfg->rope_low_freq_factor));
    FRS_TRY(config_get_float(rs, name, prefix, "high_freq_factor", true, 0, &cfg->rope_high_freq_factor));
    FRS_TRY(config_get_int(rs, name, prefix, "original_max_position_embeddings", true, 0, 1,
                           &cfg->rope_original_max_position_embeddings));
    if (!(cfg->rope_factor > 0))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s.factor' must be > 0 (got %g)", name, field,
                       cfg->rope_factor);
    if (!(cfg->rope_low_freq_factor > 0))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s.low_freq_factor' must be > 0 (got %g)", name,
                       field, cfg->rope_low_freq_factor);
    if (!(cfg->rope_high_freq_factor > cfg->rope_low_freq_factor))
        return FRS_ERR(FRS_ERR_FORMAT,
                       "%s: field '%s.high_freq_factor' (%g) must be greater than 'low_freq_factor' (%g)",
                       name, field, cfg->rope_high_freq_factor, cfg->rope_low_freq_factor);
    return FRS_OK;
}

/* ---- config.json -------------------------------------------------------------------------- */

static enum frs_status config_from_json(const cJSON *o, const char *name, struct llama_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    if (!cJSON_IsObject(o))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: top level must be a JSON object (got %s)", name,
                       config_json_type(o));

    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o, "model_type");
    if (mt && !cJSON_IsNull(mt)) {
        if (!cJSON_IsString(mt))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'model_type' must be a string (got %s)", name,
                           config_json_type(mt));
        if (strcmp(mt->valuestring, "llama") != 0)
            return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'model_type' is \"%s\"; only \"llama\" is supported",
                           name, mt->valuestring);
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "hidden_act");
    if (act && !cJSON_IsNull(act)) {
        if (!cJSON_IsString(act))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'hidden_act' must be a string (got %s)", name,
                           config_json_type(act));
        if (strcmp(act->valuestring, "silu") != 0)
            return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'hidden_act' is \"%s\"; only \"silu\" is supported",
                           name, act->valuestring);
    }

    FRS_TRY(config_get_int(o, name, "", "hidden_size", true, 0, 1, &cfg->hidden_size));
    FRS_TRY(config_get_int(o, name, "", "intermediate_size", true, 0, 1, &cfg->intermediate_size));
    FRS_TRY(config_get_int(o, name, "", "num_hidden_layers", true, 0, 1, &cfg->num_hidden_layers));
    FRS_TRY(config_get_int(o, name, "", "num_attention_heads", true, 0, 1, &cfg->num_attention_heads));
    FRS_TRY(config_get_int(o, name, "", "num_key_value_heads", false, cfg->num_attention_heads, 1,
                           &cfg->num_key_value_heads));
    FRS_TRY(config_get_int(o, name, "", "vocab_size", true, 0, 1, &cfg->vocab_size));
    FRS_TRY(config_get_int(o, name, "", "max_position_embeddings", false, 2048, 1,
                           &cfg->max_position_embeddings));

    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(o, "head_dim");
    if (hd && !cJSON_IsNull(hd)) {
        FRS_TRY(config_get_int(o, name, "", "head_dim", true, 0, 1, &cfg->head_dim));
    } else {
        if (cfg->hidden_size % cfg->num_attention_heads != 0)
            return FRS_ERR(FRS_ERR_FORMAT,
                           "%s: field 'num_attention_heads' must divide 'hidden_size' when 'head_dim' is absent (%d %% %d != 0)",
                           name, cfg->hidden_size, cfg->num_attention_heads);
        cfg->head_dim = cfg->hidden_size / cfg->num_attention_heads;
    }
    if (cfg->head_dim % 2 != 0)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'head_dim' must be even for rotary embeddings (got %d)",
                       name, cfg->head_dim);
    if (cfg->num_attention_heads % cfg->num_key_value_heads != 0)
        return FRS_ERR(FRS_ERR_FORMAT,
                       "%s: field 'num_key_value_heads' must divide 'num_attention_heads' (%d %% %d != 0)",
                       name, cfg->num_attention_heads, cfg->num_key_value_heads);
    if ((long long)cfg->num_attention_heads * cfg->head_dim > INT_MAX / 4)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: fields 'num_attention_heads' x 'head_dim' too large (%d x %d)",
                       name, cfg->num_attention_heads, cfg->head_dim);

    FRS_TRY(config_get_float(o, name, "", "rms_norm_eps", false, 1e-6f, &cfg->rms_norm_eps));
    if (!(cfg->rms_norm_eps > 0))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'rms_norm_eps' must be > 0 (got %g)", name,
                       cfg->rms_norm_eps);

    /* rope: published rope_theta + rope_scaling, or transformers 5 rope_parameters */
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(o, "rope_parameters");
    if (rp && !cJSON_IsNull(rp) && !cJSON_IsObject(rp))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'rope_parameters' must be an object (got %s)", name,
                       config_json_type(rp));
    const cJSON *theta = cJSON_GetObjectItemCaseSensitive(o, "rope_theta");
    if (theta && !cJSON_IsNull(theta))
        FRS_TRY(config_get_float(o, name, "", "rope_theta", true, 0, &cfg->rope_theta));
    else if (rp && cJSON_IsObject(rp))
        FRS_TRY(config_get_float(rp, name, "rope_parameters.", "rope_theta", false, 10000.0f,
                                 &cfg->rope_theta));
    else
        cfg->rope_theta = 10000.0f;
    if (!(cfg->rope_theta > 0))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'rope_theta' must be > 0 (got %g)", name, cfg->rope_theta);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(o, "rope_scaling");
    if (rs && !cJSON_IsNull(rs))
        FRS_TRY(config_get_rope(rs, name, "rope_scaling", cfg));
    else if (rp && cJSON_IsObject(rp))
        FRS_TRY(config_get_rope(rp, name, "rope_parameters", cfg));
    else
        cfg->rope_type = FRS_ROPE_DEFAULT;

    FRS_TRY(config_get_bool(o, name, "tie_word_embeddings", false, &cfg->tie_word_embeddings));
    bool attention_bias = false, mlp_bias = false;
    FRS_TRY(config_get_bool(o, name, "attention_bias", false, &attention_bias));
    FRS_TRY(config_get_bool(o, name, "mlp_bias", false, &mlp_bias));
    if (attention_bias)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'attention_bias' is true; biased attention projections are not supported",
                       name);
    if (mlp_bias)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'mlp_bias' is true; biased MLP projections are not supported",
                       name);
    FRS_TRY(config_get_bool(o, name, "bias", false, &cfg->bias)); /* EAGLE heads: fc.bias */

    FRS_TRY(config_get_int(o, name, "", "bos_token_id", false, -1, 0, &cfg->bos_token_id));
    FRS_TRY(config_get_eos(o, name, cfg->eos_token_ids, &cfg->n_eos));
    FRS_TRY(config_get_dtype(o, name, &cfg->torch_dtype));
    return FRS_OK;
}

enum frs_status llama_config_parse(const char *json, const char *name, struct llama_config *cfg)
{
    if (!json || !cfg)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "llama_config_parse: NULL argument");
    if (!name)
        name = "config.json";
    cJSON *root = NULL;
    FRS_TRY(config_parse_json(json, name, &root));
    enum frs_status st = config_from_json(root, name, cfg);
    cJSON_Delete(root);
    return st;
}

enum frs_status llama_config_load(const char *path, struct llama_config *cfg)
{
    char *text = NULL;
    FRS_TRY(config_read_file(path, &text));
    enum frs_status st = llama_config_parse(text, path, cfg);
    free(text);
    return st;
}

/* ---- generation_config.json ---------------------------------------------------------------- */

static void generation_config_defaults(struct generation_config *g)
{
    memset(g, 0, sizeof *g);
    g->temperature = 1.0f;
    g->top_p = 1.0f;
    g->top_k = 0;
}

static enum frs_status generation_config_from_json(const cJSON *o, const char *name,
                                                   struct generation_config *g)
{
    if (!cJSON_IsObject(o))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: top level must be a JSON object (got %s)", name,
                       config_json_type(o));
    FRS_TRY(config_get_bool(o, name, "do_sample", false, &g->do_sample));
    FRS_TRY(config_get_float(o, name, "", "temperature", false, 1.0f, &g->temperature));
    if (g->temperature < 0)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'temperature' must be >= 0 (got %g)", name, g->temperature);
    FRS_TRY(config_get_float(o, name, "", "top_p", false, 1.0f, &g->top_p));
    if (!(g->top_p > 0 && g->top_p <= 1))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'top_p' must be in (0, 1] (got %g)", name, g->top_p);
    FRS_TRY(config_get_int(o, name, "", "top_k", false, 0, 0, &g->top_k));
    FRS_TRY(config_get_eos(o, name, g->eos_token_ids, &g->n_eos));
    return FRS_OK;
}

enum frs_status generation_config_load(const char *path, struct generation_config *out)
{
    generation_config_defaults(out);
    char *text = NULL;
    FILE *probe = fopen(path, "rb");
    if (!probe && errno == ENOENT)
        return FRS_OK; /* optional file */
    if (probe)
        fclose(probe);
    FRS_TRY(config_read_file(path, &text));
    cJSON *root = NULL;
    enum frs_status st = config_parse_json(text, path, &root);
    free(text);
    if (st != FRS_OK)
        return st;
    st = generation_config_from_json(root, path, out);
    cJSON_Delete(root);
    if (st != FRS_OK) {
        generation_config_defaults(out);
        return st;
    }
    out->present = true;
    return FRS_OK;
}

/* ---- printing ------------------------------------------------------------------------------ */

void llama_config_print(const struct llama_config *cfg, FILE *f)
{
    fprintf(f, "  %-28s %d\n", "hidden_size", cfg->hidden_size);
    fprintf(f, "  %-28s %d\n", "intermediate_size", cfg->intermediate_size);
    fprintf(f, "  %-28s %d\n", "num_hidden_layers", cfg->num_hidden_layers);
    fprintf(f, "  %-28s %d\n", "num_attention_heads", cfg->num_attention_heads);
    fprintf(f, "  %-28s %d\n", "num_key_value_heads", cfg->num_key_value_heads);
    fprintf(f, "  %-28s %d\n", "head_dim", cfg->head_dim);
    fprintf(f, "  %-28s %d\n", "vocab_size", cfg->vocab_size);
    fprintf(f, "  %-28s %d\n", "max_position_embeddings", cfg->max_position_embeddings);
    fprintf(f, "  %-28s %g\n", "rms_norm_eps", cfg->rms_norm_eps);
    fprintf(f, "  %-28s %g\n", "rope_theta", cfg->rope_theta);
    if (cfg->rope_type == FRS_ROPE_LLAMA3)
        fprintf(f, "  %-28s llama3 (factor %g, low %g, high %g, original %d)\n", "rope_scaling",
                cfg->rope_factor, cfg->rope_low_freq_factor, cfg->rope_high_freq_factor,
                cfg->rope_original_max_position_embeddings);
    else
        fprintf(f, "  %-28s none\n", "rope_scaling");
    fprintf(f, "  %-28s %s\n", "tie_word_embeddings", cfg->tie_word_embeddings ? "true" : "false");
    fprintf(f, "  %-28s %d\n", "bos_token_id", cfg->bos_token_id);
    fprintf(f, "  %-28s", "eos_token_id");
    for (int i = 0; i < cfg->n_eos; i++)
        fprintf(f, " %d", cfg->eos_token_ids[i]);
    fprintf(f, "%s\n", cfg->n_eos ? "" : " none");
    fprintf(f, "  %-28s %s\n", "torch_dtype", frs_dtype_name(cfg->torch_dtype));
}

/* ---- quantization_config (FP8 checkpoints) ------------------------------------------------- */


static enum frs_status quant_strdup_list(const cJSON *arr, const char *name, const char *field,
                                         char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!arr || cJSON_IsNull(arr))
        return FRS_OK;
    if (!cJSON_IsArray(arr))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s' must be a list of strings (got %s)", name, field,
                       config_json_type(arr));
    int count = cJSON_GetArraySize(arr);
    char **v = calloc((size_t)(count ? count : 1), sizeof *v);
    if (!v)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory for '%s'", name, field);
    *out = v;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s[%d]' must be a string (got %s)", name, field, *n,
                           config_json_type(e));
        const char *s = e->valuestring;
        if (!strncmp(s, "re:", 3)) { /* checked now, so that matching cannot fail later */
            regex_t re;
            size_t len = strlen(s + 3) + 8;
            char *pat = malloc(len);
            if (!pat)
                return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", name);
            snprintf(pat, len, "^(%s)", s + 3);
            int rc = regcomp(&re, pat, REG_EXTENDED | REG_NOSUB);
            free(pat);
            if (rc != 0)
                return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s[%d]': \"%s\" is not a regular expression this "
                               "runtime reads (POSIX extended)", name, field, *n, s);
            regfree(&re);
        }
        if (!(v[*n] = strdup(s)))
            return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", name);
        (*n)++;
    }
    return FRS_OK;
}

/* Must be absent, null or equal to want (a string). */
static enum frs_status quant_want_str(const cJSON *o, const char *name, const char *field, const char *key,
                                      const char *const *allowed, int n_allowed, bool required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return FRS_ERR(FRS_ERR_MISSING, "%s: required field '%s%s' is missing", name, field, key);
        return FRS_OK;
    }
    if (!cJSON_IsString(v))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s%s' must be a string (got %s)", name, field, key,
                       config_json_type(v));
    for (int i = 0; i < n_allowed; i++)
        if (!strcmp(v->valuestring, allowed[i]))
            return FRS_OK;
    char list[256] = "";
    for (int i = 0; i < n_allowed; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? ", " : "", allowed[i]);
    return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s%s' is \"%s\"; supported: %s", name, field, key,
                   v->valuestring, list);
}

/* A field that must be absent or null (a feature this runtime does not implement). */
static enum frs_status quant_want_null(const cJSON *o, const char *name, const char *field, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v))
        return FRS_OK;
    return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s%s' is set (%s); only FP8 with no %s is supported", name,
                   field, key, config_json_type(v), key);
}

/* {num_bits 8, type "float", symmetric true, strategy ..., dynamic ...}; field is the prefix
 * ("quantization_config.config_groups.group_0.weights."). */
static enum frs_status quant_parse_args(const cJSON *a, const char *name, const char *field, bool weights,
                                        struct frs_quant_scheme *qs)
{
    if (!cJSON_IsObject(a))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s' must be an object (got %s)", name, field,
                       config_json_type(a));
    char pre[256];
    snprintf(pre, sizeof pre, "%s.", field);
    int bits = 0;
    FRS_TRY(config_get_int(a, name, pre, "num_bits", true, 0, 1, &bits));
    if (bits != 8)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%snum_bits' is %d; only 8-bit (FP8) is supported", name,
                       pre, bits);
    static const char *const float_t[] = {"float"};
    FRS_TRY(quant_want_str(a, name, pre, "type", float_t, 1, true));
    bool sym = true;
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(a, "symmetric");
    if (sv && !cJSON_IsNull(sv)) {
        if (!cJSON_IsBool(sv))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%ssymmetric' must be true or false", name, pre);
        sym = cJSON_IsTrue(sv);
    }
    if (!sym)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%ssymmetric' is false; only symmetric FP8 is supported",
                       name, pre);
    FRS_TRY(quant_want_null(a, name, pre, "group_size"));
    FRS_TRY(quant_want_null(a, name, pre, "block_structure"));
    FRS_TRY(quant_want_null(a, name, pre, "actorder"));
    FRS_TRY(quant_want_null(a, name, pre, "zp_dtype"));
    static const char *const scale_t[] = {"torch.float32", "torch.bfloat16", "torch.float16"};
    FRS_TRY(quant_want_str(a, name, pre, "scale_dtype", scale_t, 3, false));
    const cJSON *dyn = cJSON_GetObjectItemCaseSensitive(a, "dynamic");
    int dynamic = 0;
    if (dyn && !cJSON_IsNull(dyn)) {
        if (!cJSON_IsBool(dyn))
            return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%sdynamic' is %s%s%s; supported: true, false", name,
                           pre, cJSON_IsString(dyn) ? "\"" : "",
                           cJSON_IsString(dyn) ? dyn->valuestring : config_json_type(dyn),
                           cJSON_IsString(dyn) ? "\"" : "");
        dynamic = cJSON_IsTrue(dyn);
    }
    const cJSON *stv = cJSON_GetObjectItemCaseSensitive(a, "strategy");
    if (!stv || !cJSON_IsString(stv))
        return FRS_ERR(stv ? FRS_ERR_FORMAT : FRS_ERR_MISSING, "%s: field '%sstrategy' %s", name, pre,
                       stv ? "must be a string" : "is missing");
    const char *strat = stv->valuestring;
    if (weights) {
        if (dynamic)
            return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%sdynamic' is true; weights must be stored quantized "
                           "(dynamic false)", name, pre);
        if (!strcmp(strat, "tensor"))
            qs->per_row = 0;
        else if (!strcmp(strat, "channel"))
            qs->per_row = 1;
        else
            return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%sstrategy' is \"%s\"; supported for weights: "
                           "\"tensor\", \"channel\"", name, pre, strat);
    } else {
        if (!strcmp(strat, "token") && dynamic)
            qs->act = FRS_FP8_ACT_DYNAMIC_TOKEN;
        else if (!strcmp(strat, "tensor"))
            qs->act = dynamic ? FRS_FP8_ACT_DYNAMIC_TENSOR : FRS_FP8_ACT_STATIC;
        else
            return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%sstrategy' is \"%s\" with dynamic %s; supported for "
                           "input activations: \"token\" (dynamic true), \"tensor\"", name, pre, strat,
                           dynamic ? "true" : "false");
    }
    return FRS_OK;
}

static enum frs_status quant_parse_ct(const cJSON *qc, const char *name, struct frs_quant_config *q)
{
    static const char *const formats[] = {"float-quantized", "naive-quantized"};
    FRS_TRY(quant_want_str(qc, name, "quantization_config.", "format", formats, 2, true));
    static const char *const status[] = {"compressed"};
    FRS_TRY(quant_want_str(qc, name, "quantization_config.", "quantization_status", status, 1, false));
    FRS_TRY(quant_want_null(qc, name, "quantization_config.", "kv_cache_scheme"));
    FRS_TRY(quant_want_null(qc, name, "quantization_config.", "sparsity_config"));
    FRS_TRY(quant_want_null(qc, name, "quantization_config.", "transform_config"));
    FRS_TRY(quant_strdup_list(cJSON_GetObjectItemCaseSensitive(qc, "ignore"), name, "quantization_config.ignore",
                              &q->ignore, &q->n_ignore));
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(qc, "config_groups");
    if (!groups || cJSON_IsNull(groups))
        return FRS_ERR(FRS_ERR_MISSING, "%s: required field 'quantization_config.config_groups' is missing", name);
    if (!cJSON_IsObject(groups) || cJSON_GetArraySize(groups) == 0)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'quantization_config.config_groups' must be a non-empty object",
                       name);
    const cJSON *g;
    cJSON_ArrayForEach(g, groups)
    {
        char field[200];
        snprintf(field, sizeof field, "quantization_config.config_groups.%.64s", g->string);
        if (q->n_groups == FRS_QUANT_MAX_GROUPS)
            return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'quantization_config.config_groups' has more than %d "
                           "groups", name, FRS_QUANT_MAX_GROUPS);
        if (!cJSON_IsObject(g))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: field '%s' must be an object", name, field);
        struct frs_quant_scheme *qs = &q->groups[q->n_groups++];
        char sub[240];
        snprintf(sub, sizeof sub, "%s.", field);
        FRS_TRY(quant_want_str(g, name, sub, "format", formats, 2, false));
        snprintf(sub, sizeof sub, "%s.targets", field);
        FRS_TRY(quant_strdup_list(cJSON_GetObjectItemCaseSensitive(g, "targets"), name, sub, &qs->targets,
                                  &qs->n_targets));
        if (qs->n_targets == 0)
            return FRS_ERR(FRS_ERR_MISSING, "%s: field '%s' is missing or empty", name, sub);
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(g, "weights");
        snprintf(sub, sizeof sub, "%s.weights", field);
        if (!w || cJSON_IsNull(w))
            return FRS_ERR(FRS_ERR_MISSING, "%s: required field '%s' is missing", name, sub);
        FRS_TRY(quant_parse_args(w, name, sub, true, qs));
        const cJSON *ia = cJSON_GetObjectItemCaseSensitive(g, "input_activations");
        qs->act = FRS_FP8_ACT_NONE;
        if (ia && !cJSON_IsNull(ia)) {
            snprintf(sub, sizeof sub, "%s.input_activations", field);
            FRS_TRY(quant_parse_args(ia, name, sub, false, qs));
        }
        snprintf(sub, sizeof sub, "%s.", field);
        FRS_TRY(quant_want_null(g, name, sub, "output_activations"));
    }
    return FRS_OK;
}

static enum frs_status quant_parse_fbgemm(const cJSON *qc, const char *name, struct frs_quant_config *q)
{
    FRS_TRY(config_get_float(qc, name, "quantization_config.", "activation_scale_ub", false, 1200.0f,
                             &q->act_scale_ub));
    if (!(q->act_scale_ub > 0))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'quantization_config.activation_scale_ub' must be > 0 (got %g)",
                       name, q->act_scale_ub);
    FRS_TRY(quant_strdup_list(cJSON_GetObjectItemCaseSensitive(qc, "modules_to_not_convert"), name,
                              "quantization_config.modules_to_not_convert", &q->ignore, &q->n_ignore));
    struct frs_quant_scheme *qs = &q->groups[0];
    q->n_groups = 1;
    qs->per_row = 1;
    qs->act = FRS_FP8_ACT_DYNAMIC_TOKEN;
    if (!(qs->targets = calloc(1, sizeof *qs->targets)) || !(qs->targets[0] = strdup("Linear")))
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", name);
    qs->n_targets = 1;
    return FRS_OK;
}

static enum frs_status quant_from_json(const cJSON *root, const char *name, struct frs_quant_config *q)
{
    const cJSON *qc = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "quantization_config") : NULL;
    if (!qc || cJSON_IsNull(qc))
        return FRS_OK;
    if (!cJSON_IsObject(qc))
        return FRS_ERR(FRS_ERR_FORMAT, "%s: field 'quantization_config' must be an object (got %s)", name,
                       config_json_type(qc));
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(qc, "quant_method");
    if (!m || !cJSON_IsString(m))
        return FRS_ERR(m ? FRS_ERR_FORMAT : FRS_ERR_MISSING, "%s: field 'quantization_config.quant_method' %s",
                       name, m ? "must be a string" : "is missing");
    if (!strcmp(m->valuestring, "compressed-tensors")) {
        q->method = FRS_QUANT_COMPRESSED_TENSORS;
        return quant_parse_ct(qc, name, q);
    }
    if (!strcmp(m->valuestring, "fbgemm_fp8")) {
        q->method = FRS_QUANT_FBGEMM_FP8;
        return quant_parse_fbgemm(qc, name, q);
    }
    return FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'quantization_config.quant_method' is \"%s\"; supported: "
                   "\"compressed-tensors\" (FP8 float-quantized), \"fbgemm_fp8\"", name, m->valuestring);
}

void quant_config_free(struct frs_quant_config *q)
{
    if (!q)
        return;
    for (int g = 0; g < q->n_groups; g++) {
        for (int i = 0; i < q->groups[g].n_targets; i++)
            free(q->groups[g].targets[i]);
        free(q->groups[g].targets);
    }
    for (int g = q->n_groups; g < FRS_QUANT_MAX_GROUPS; g++) /* a group parsed half-way */
        free(q->groups[g].targets);
    for (int i = 0; i < q->n_ignore; i++)
        free(q->ignore[i]);
    free(q->ignore);
    memset(q, 0, sizeof *q);
}

enum frs_status quant_config_parse(const char *json, const char *name, struct frs_quant_config *q)
{
    memset(q, 0, sizeof *q);
    if (!name)
        name = "config.json";
    cJSON *root = NULL;
    FRS_TRY(config_parse_json(json, name, &root));
    enum frs_status st = quant_from_json(root, name, q);
    cJSON_Delete(root);
    if (st != FRS_OK)
        quant_config_free(q);
    return st;
}

enum frs_status quant_config_load(const char *path, struct frs_quant_config *q)
{
    memset(q, 0, sizeof *q);
    char *text = NULL;
    FRS_TRY(config_read_file(path, &text));
    enum frs_status st = quant_config_parse(text, path, q);
    free(text);
    return st;
}

/* compressed-tensors' matching: the exact module name, a "re:" pattern matched from the start
 * (Python re.match), the class name "Linear" (every module asked about here is a Linear); and,
 * for names written without their prefix ("lm_head", "mlp.down_proj"), a dotted suffix. */
static bool quant_match(const char *entry, const char *module)
{
    if (!strcmp(entry, "Linear") || !strcmp(entry, module))
        return true;
    if (!strncmp(entry, "re:", 3)) {
        regex_t re;
        size_t len = strlen(entry + 3) + 8;
        char *pat = malloc(len);
        if (!pat)
            return false;
        snprintf(pat, len, "^(%s)", entry + 3);
        bool hit = false;
        if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) == 0) {
            hit = regexec(&re, module, 0, NULL, 0) == 0;
            regfree(&re);
        }
        free(pat);
        return hit;
    }
    size_t ne = strlen(entry), nm = strlen(module);
    if (nm > ne && module[nm - ne - 1] == '.' && !strcmp(module + nm - ne, entry))
        return true;
    return nm > ne && module[ne] == '.' && !strncmp(module, entry, ne); /* a whole block: "model.layers.0" */
}

const struct frs_quant_scheme *quant_config_find(const struct frs_quant_config *q, const char *module)
{
    if (!q || q->method == FRS_QUANT_NONE)
        return NULL;
    for (int i = 0; i < q->n_ignore; i++)
        if (quant_match(q->ignore[i], module))
            return NULL;
    for (int g = 0; g < q->n_groups; g++)
        for (int i = 0; i < q->groups[g].n_targets; i++)
            if (quant_match(q->groups[g].targets[i], module))
                return &q->groups[g];
    return NULL;
}
