/* loader_util.h - helpers shared by the loader tests (test_config.c, test_safetensors.c,
 * test_model_load.c): temp directories, whole-file I/O, copying a fixture directory, reading and
 * rewriting a safetensors header (to make corrupt variants), and substring checks on the
 * recorded error message. Test-only; static functions, one copy per test binary.
 */
#ifndef FRSPEC_LOADER_UTIL_H
#define FRSPEC_LOADER_UTIL_H

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "status.h"
#include "testutil.h"

/* mkdtemp under $TMPDIR (or /tmp); buf holds >= 256 chars. */
static inline int lt_tmpdir(char *buf, size_t n)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, n, "%s/frspec-loader-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(buf) ? 0 : -1;
}

static inline char *lt_read(const char *path, size_t *len) { return test_read_file(path, len); }

static inline int lt_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

static inline const char *lt_path(const char *dir, const char *name)
{
    static char buf[4][4096]; /* rotating: a result stays valid for 3 more calls */
    static int k;
    k = (k + 1) % 4;
    if (snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name) >= (int)sizeof buf[k])
        buf[k][0] = '\0';
    return buf[k];
}

/* Copy every regular file of src into dst (created). */
static inline int lt_copy_dir(const char *src, const char *dst)
{
    mkdir(dst, 0700);
    DIR *d = opendir(src);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char from[1024], to[1024];
        if (snprintf(from, sizeof from, "%s/%s", src, e->d_name) >= (int)sizeof from ||
            snprintf(to, sizeof to, "%s/%s", dst, e->d_name) >= (int)sizeof to)
            continue;
        struct stat sb;
        if (stat(from, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        size_t n = 0;
        char *buf = lt_read(from, &n);
        if (!buf || lt_write(to, buf, n) != 0)
            rc = -1;
        free(buf);
    }
    closedir(d);
    return rc;
}

static inline void lt_rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p)
            continue;
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            lt_rm_dir(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static inline cJSON *lt_json_load(const char *path)
{
    char *t = lt_read(path, NULL);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    return j;
}

static inline int lt_json_save(const char *path, const cJSON *j)
{
    char *t = cJSON_Print(j);
    int rc = t ? lt_write(path, t, strlen(t)) : -1;
    free(t);
    return rc;
}

/* A safetensors file split into its header (parsed) and data section. */
struct lt_st {
    cJSON *header;
    char *data;
    size_t data_len;
};

static inline int lt_st_load(const char *path, struct lt_st *s)
{
    size_t n = 0;
    char *buf = lt_read(path, &n);
    memset(s, 0, sizeof *s);
    if (!buf || n < 8)
        return free(buf), -1;
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--)
        h = (h << 8) | (unsigned char)buf[i];
    s->header = cJSON_ParseWithLength(buf + 8, (size_t)h);
    s->data_len = n - 8 - (size_t)h;
    s->data = malloc(s->data_len + 1);
    memcpy(s->data, buf + 8 + h, s->data_len);
    free(buf);
    return s->header ? 0 : -1;
}

/* Write header (padded with spaces to a multiple of 8 unless pad is false) + data. */
static inline int lt_st_save(const char *path, const struct lt_st *s, bool pad)
{
    char *h = cJSON_PrintUnformatted(s->header);
    size_t hl = strlen(h), padded = pad ? (hl + 7) / 8 * 8 : hl;
    size_t total = 8 + padded + s->data_len;
    unsigned char *buf = malloc(total);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, h, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    memcpy(buf + 8 + padded, s->data, s->data_len);
    int rc = lt_write(path, buf, total);
    free(buf);
    free(h);
    return rc;
}

static inline void lt_st_free(struct lt_st *s)
{
    cJSON_Delete(s->header);
    free(s->data);
    memset(s, 0, sizeof *s);
}

/* Replace a JSON array field with a list of integers. */
static inline void lt_set_ints(cJSON *obj, const char *key, const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, a))
        cJSON_AddItemToObject(obj, key, a);
}

/* Every NULL-terminated substring present in the recorded error message. */
static inline bool lt_msg_has(const char *first, ...)
{
    const char *msg = frs_error_msg();
    bool ok = true;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        if (!strstr(msg, s))
            ok = false;
    va_end(ap);
    return ok;
}

/* Check status and message substrings of one bad-input case. */
#define LT_EXPECT_ERR(expr, want_st, ...)                                                        \
    do {                                                                                         \
        frs_error_clear();                                                                       \
        enum frs_status lt_st_ = (expr);                                                         \
        CHECK(lt_st_ == (want_st), "%s -> %s (%s), expected %s", #expr, frs_status_str(lt_st_),  \
              frs_error_msg(), frs_status_str(want_st));                                         \
        CHECK(lt_msg_has(__VA_ARGS__, NULL), "%s: message '%s' lacks an expected part", #expr,   \
              frs_error_msg());                                                                  \
    } while (0)

#endif
