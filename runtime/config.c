/* config.c - config.json / generation_config.json of Llama 3.x targets and EAGLE-2 heads (cJSON).
 *
 * Accepts both spellings found in the wild: the published files (rope_theta + rope_scaling,
 * torch_dtype) and what transformers >= 5 writes (rope_parameters holding rope_theta and the
 * scaling, dtype). Optional fields take transformers' LlamaConfig defaults. Every error names the
 * file and the field; nothing here exits.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
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
