/* jobfile.c - batch-job files: the prompts JSONL reader (exact ids, bad lines as records), the
 * results JSONL writer (torn-line repair, done-id hash set, one write(2) per line) and progress
 * (see jobfile.h). */
#include "jobfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- a string hash set (open addressing, FNV-1a): ids -> first line number ---------------- */

struct jobfile_set {
    char **keys;
    int *vals;
    size_t cap, n; /* cap a power of two, n <= cap / 2 */
};

static uint64_t set_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static struct jobfile_set *set_new(void)
{
    struct jobfile_set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cap = 64;
    s->keys = calloc(s->cap, sizeof *s->keys);
    s->vals = calloc(s->cap, sizeof *s->vals);
    if (!s->keys || !s->vals) {
        free(s->keys);
        free(s->vals);
        free(s);
        return NULL;
    }
    return s;
}

static void set_free(struct jobfile_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cap; i++)
        free(s->keys[i]);
    free(s->keys);
    free(s->vals);
    free(s);
}

static size_t set_slot(const struct jobfile_set *s, const char *key)
{
    size_t i = (size_t)set_hash(key) & (s->cap - 1);
    while (s->keys[i] && strcmp(s->keys[i], key))
        i = (i + 1) & (s->cap - 1);
    return i;
}

/* the value stored for key, or 0 when absent (values are line numbers >= 1) */
static int set_get(const struct jobfile_set *s, const char *key)
{
    if (!s)
        return 0;
    size_t i = set_slot(s, key);
    return s->keys[i] ? s->vals[i] : 0;
}

/* insert key -> val unless present; returns the value already stored (0 when inserted), -1 on OOM */
static int set_put(struct jobfile_set *s, const char *key, int val)
{
    size_t i = set_slot(s, key);
    if (s->keys[i])
        return s->vals[i];
    if (2 * (s->n + 1) > s->cap) {
        struct jobfile_set g = {calloc(2 * s->cap, sizeof(char *)), calloc(2 * s->cap, sizeof(int)), 2 * s->cap, s->n};
        if (!g.keys || !g.vals) {
            free(g.keys);
            free(g.vals);
            return -1;
        }
        for (size_t k = 0; k < s->cap; k++)
            if (s->keys[k]) {
                size_t j = set_slot(&g, s->keys[k]);
                g.keys[j] = s->keys[k];
                g.vals[j] = s->vals[k];
            }
        free(s->keys);
        free(s->vals);
        *s = g;
        i = set_slot(s, key);
    }
    s->keys[i] = strdup(key);
    if (!s->keys[i])
        return -1;
    s->vals[i] = val;
    s->n++;
    return 0;
}

/* ---- the input ---------------------------------------------------------------------------- */

/* End of the JSON value starting at p (the line was already parsed by cJSON, so it is valid). */
static const char *skip_value(const char *p, const char *end)
{
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++)
            if (*p == '\\')
                p++;
        return p < end ? p + 1 : end;
    }
    if (p < end && (*p == '{' || *p == '[')) {
        int depth = 0;
        for (; p < end; p++) {
            if (*p == '"') {
                p = skip_value(p, end) - 1;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
        }
        return end;
    }
    while (p < end && !strchr(",}] \t\r\n", *p))
        p++;
    return p;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && strchr(" \t\r\n", *p))
        p++;
    return p;
}

/* The JSON text of the value of the index-th member of the object in [p, end). cJSON keeps an
 * object's members in document order, so the index comes from its child list. */
static char *member_text(const char *p, const char *end, int index)
{
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return NULL;
    p++;
    for (int k = 0;; k++) {
        p = skip_ws(p, end);
        p = skip_value(p, end); /* the key */
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return NULL;
        p = skip_ws(p + 1, end);
        const char *v = p;
        p = skip_value(p, end);
        if (k == index)
            return strndup(v, (size_t)(p - v));
        p = skip_ws(p, end);
        if (p >= end || *p != ',')
            return NULL;
        p++;
    }
}

static char *xasprintf_line(int line_no)
{
    char b[32];
    snprintf(b, sizeof b, "%d", line_no);
    return strdup(b);
}

/* One non-blank line into *rec; returns FRS_ERR_OOM only (a bad line is a record with error). */
static enum frs_status parse_line(const char *name, const char *line, size_t len, int line_no,
                                  struct jobfile_record *rec)
{
    char msg[512];
    memset(rec, 0, sizeof *rec);
    rec->line_no = line_no;
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!j || !cJSON_IsObject(j)) {
        snprintf(msg, sizeof msg, "%s: line %d is not a JSON object", name, line_no);
        goto bad;
    }
    static const char *const keys[] = {"id", "question_id", "task_id"};
    for (size_t k = 0; k < 3; k++) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
        if (!id)
            continue;
        if (cJSON_IsString(id)) {
            rec->id = strdup(id->valuestring);
        } else if (cJSON_IsNumber(id)) {
            int index = 0;
            for (const cJSON *c = j->child; c && c != id; c = c->next)
                index++;
            rec->id = member_text(line, line + len, index);
        } else {
            snprintf(msg, sizeof msg, "%s: line %d: '%s' must be a string or a number", name, line_no, keys[k]);
            goto bad;
        }
        if (!rec->id)
            goto oom;
        break;
    }
    if (!rec->id && !(rec->id = xasprintf_line(line_no)))
        goto oom;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    if (!cJSON_IsString(p))
        p = cJSON_GetObjectItemCaseSensitive(j, "question");
    if (!cJSON_IsString(p))
        p = cJSON_GetObjectItemCaseSensitive(j, "text");
    if (!cJSON_IsString(p)) {
        const cJSON *turns = cJSON_GetObjectItemCaseSensitive(j, "turns");
        p = cJSON_IsArray(turns) ? cJSON_GetArrayItem(turns, 0) : NULL;
    }
    if (!cJSON_IsString(p)) {
        snprintf(msg, sizeof msg, "%s: line %d has no string field 'prompt' (or 'question', 'text', 'turns')", name,
                 line_no);
        goto bad;
    }
    rec->prompt = strdup(p->valuestring);
    cJSON_Delete(j);
    return rec->prompt ? FRS_OK : FRS_ERR(FRS_ERR_OOM, "%s: line %d", name, line_no);
bad:
    cJSON_Delete(j);
    rec->error = strdup(msg);
    return rec->error ? FRS_OK : FRS_ERR(FRS_ERR_OOM, "%s: line %d", name, line_no);
oom:
    cJSON_Delete(j);
    return FRS_ERR(FRS_ERR_OOM, "%s: line %d", name, line_no);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void jobfile_init(struct jobfile *jf, const char *name)
{
    memset(jf, 0, sizeof *jf);
    jf->in_name = name;
    jf->out_fd = -1;
    jf->progress_interval_s = 5.0;
    jf->t_start = jf->t_last_print = now_s();
}

enum frs_status jobfile_open_input_mem(struct jobfile *jf, const char *name, const char *buf, size_t len)
{
    jobfile_init(jf, name);
    struct jobfile_set *ids = set_new();
    if (!ids)
        return FRS_ERR(FRS_ERR_OOM, "%s: id set", name);
    enum frs_status st = FRS_OK;
    int cap = 0, line_no = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
        const char *line = buf + pos;
        pos += n + (nl ? 1 : 0);
        line_no++;
        size_t blank = 0;
        while (blank < n && line[blank] && strchr(" \t\r", line[blank]))
            blank++;
        if (blank == n)
            continue;
        if (jf->n_recs == cap) {
            int nc = cap ? 2 * cap : 256;
            struct jobfile_record *r = realloc(jf->recs, (size_t)nc * sizeof *r);
            if (!r) {
                st = FRS_ERR(FRS_ERR_OOM, "%s: %d records", name, nc);
                break;
            }
            jf->recs = r;
            cap = nc;
        }
        struct jobfile_record *rec = &jf->recs[jf->n_recs];
        st = parse_line(name, line, n, line_no, rec);
        if (st != FRS_OK)
            break;
        jf->n_recs++;
        if (!rec->id)
            continue;
        int first = set_put(ids, rec->id, line_no);
        if (first < 0) {
            st = FRS_ERR(FRS_ERR_OOM, "%s: id set", name);
            break;
        }
        if (first > 0) {
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: lines %d and %d have the same id '%.200s' (ids are the --resume key: "
                         "make them unique)", name, first, line_no, rec->id);
            break;
        }
    }
    set_free(ids);
    if (st != FRS_OK)
        jobfile_close(jf);
    return st;
}

enum frs_status jobfile_open_input(struct jobfile *jf, const char *path)
{
    const int is_stdin = !strcmp(path, "-");
    int fd = is_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return FRS_ERR(FRS_ERR_IO, "--prompts %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (!is_stdin)
            close(fd);
        return FRS_ERR(FRS_ERR_IO, "--prompts %s: is a directory, not a JSONL file", path);
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    enum frs_status st = FRS_OK;
    for (;;) {
        if (!buf) {
            st = FRS_ERR(FRS_ERR_OOM, "--prompts %s: %zu bytes", path, cap);
            break;
        }
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                continue;
            }
            buf = nb;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            st = FRS_ERR(FRS_ERR_IO, "--prompts %s: %s", path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (!is_stdin)
        close(fd);
    if (st == FRS_OK)
        st = jobfile_open_input_mem(jf, path, buf, n);
    free(buf);
    if (st == FRS_OK) {
        jf->in_dev = sb.st_dev;
        jf->in_ino = sb.st_ino;
        jf->have_in_stat = 1;
    }
    return st;
}

int jobfile_count(const struct jobfile *jf)
{
    return jf->n_recs;
}

int jobfile_is_done(const struct jobfile *jf, const char *id)
{
    return id && set_get(jf->done, id) != 0;
}

enum frs_status jobfile_next(struct jobfile *jf, const struct jobfile_record **rec)
{
    *rec = NULL;
    while (jf->next < jf->n_recs) {
        const struct jobfile_record *r = &jf->recs[jf->next++];
        if (!r->error && jobfile_is_done(jf, r->id))
            continue;
        *rec = r;
        break;
    }
    return FRS_OK;
}

/* ---- the output --------------------------------------------------------------------------- */

/* The whole file into memory (the results file on --resume). */
static enum frs_status read_all(int fd, const char *name, char **out, size_t *len)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return FRS_ERR(FRS_ERR_IO, "--out %s: %s", name, strerror(errno));
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf)
        return FRS_ERR(FRS_ERR_OOM, "--out %s: %zu bytes", name, n);
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return FRS_ERR(FRS_ERR_IO, "--out %s: read: %s", name, r < 0 ? strerror(errno) : "file shrank");
        }
        got += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return FRS_OK;
}

static enum frs_status write_whole(int fd, const char *name, const char *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return FRS_ERR(FRS_ERR_IO, "%s: write: %s", name, w < 0 ? strerror(errno) : "no progress");
        buf += w;
        n -= (size_t)w;
    }
    return FRS_OK;
}

/* Rewrite path with only the kept lines (temporary file beside it, fsync, rename, fsync dir). */
static enum frs_status rewrite_file(const char *path, const char *buf, size_t n)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "--out %s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return FRS_ERR(FRS_ERR_IO, "--out %s: cannot create %s: %s", path, tmp, strerror(errno));
    enum frs_status st = write_whole(fd, tmp, buf, n);
    if (st == FRS_OK && fsync(fd) != 0)
        st = FRS_ERR(FRS_ERR_IO, "%s: fsync: %s", tmp, strerror(errno));
    close(fd);
    if (st == FRS_OK && rename(tmp, path) != 0)
        st = FRS_ERR(FRS_ERR_IO, "--out %s: rename from %s: %s", path, tmp, strerror(errno));
    if (st != FRS_OK) {
        unlink(tmp);
        return st;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return FRS_OK;
}

/* --resume: the done set from the complete lines of buf[0, n); error lines are dropped (they are
 * retried). Returns in *kept_len the bytes kept at the front of buf (compacted in place). */
static enum frs_status scan_results(struct jobfile *jf, char *buf, size_t n, size_t *kept_len, int *dropped)
{
    size_t w = 0;
    int line_no = 0;
    *dropped = 0;
    for (size_t pos = 0; pos < n;) {
        char *nl = memchr(buf + pos, '\n', n - pos);
        size_t len = (size_t)(nl - (buf + pos)) + 1; /* n ends with a newline here */
        char *line = buf + pos;
        pos += len;
        line_no++;
        cJSON *j = cJSON_ParseWithLength(line, len - 1);
        const cJSON *id = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
        const int is_error = j && cJSON_GetObjectItemCaseSensitive(j, "error") != NULL;
        if (is_error) {
            (*dropped)++;
        } else {
            if (cJSON_IsString(id) && set_put(jf->done, id->valuestring, line_no) < 0) {
                cJSON_Delete(j);
                return FRS_ERR(FRS_ERR_OOM, "--out %s: done-id set", jf->out_name);
            }
            memmove(buf + w, line, len);
            w += len;
        }
        cJSON_Delete(j);
    }
    *kept_len = w;
    return FRS_OK;
}

enum frs_status jobfile_open_output(struct jobfile *jf, const char *path, int resume)
{
    jf->out_name = path ? path : "stdout";
    if (!path) {
        jf->out_fd = -1;
        return FRS_OK;
    }
    struct stat sb;
    if (jf->have_in_stat && stat(path, &sb) == 0 && sb.st_dev == jf->in_dev && sb.st_ino == jf->in_ino)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "--out %s is the --prompts file %s itself: results would be read back as "
                       "prompts; give another file", path, jf->in_name);
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return FRS_ERR(FRS_ERR_IO, "--out %s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        /* a FIFO or device: append only, nothing to repair or resume from */
        if (resume) {
            close(fd);
            return FRS_ERR(FRS_ERR_INVALID_ARG, "--out %s: --resume needs a regular file", path);
        }
        jf->out_fd = fd;
        return FRS_OK;
    }
    char *buf = NULL;
    size_t n = 0;
    enum frs_status st = read_all(fd, path, &buf, &n);
    if (st != FRS_OK) {
        close(fd);
        return st;
    }
    /* a torn last line (crash or full disk mid-write) is not a result: cut it off */
    size_t whole = n;
    while (whole > 0 && buf[whole - 1] != '\n')
        whole--;
    if (whole < n) {
        fprintf(stderr, "frspec: --out %s: cutting a partial last line of %zu bytes (an interrupted write)\n", path,
                n - whole);
        if (ftruncate(fd, (off_t)whole) != 0 || fsync(fd) != 0) {
            st = FRS_ERR(FRS_ERR_IO, "--out %s: cannot cut the partial last line: %s", path, strerror(errno));
            goto out;
        }
    }
    if (resume) {
        jf->done = set_new();
        if (!jf->done) {
            st = FRS_ERR(FRS_ERR_OOM, "--out %s: done-id set", path);
            goto out;
        }
        size_t kept = 0;
        int dropped = 0;
        jf->out_name = path;
        st = scan_results(jf, buf, whole, &kept, &dropped);
        for (int i = 0; i < jf->n_recs; i++)
            jf->n_skipped += !jf->recs[i].error && jobfile_is_done(jf, jf->recs[i].id);
        if (st == FRS_OK && dropped) {
            /* the failed prompts run again: their error lines give way to the new lines */
            st = rewrite_file(path, buf, kept);
            if (st == FRS_OK) {
                close(fd);
                fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
                if (fd < 0)
                    st = FRS_ERR(FRS_ERR_IO, "--out %s: %s", path, strerror(errno));
            }
        }
    }
out:
    free(buf);
    if (st != FRS_OK) {
        if (fd >= 0)
            close(fd);
        return st;
    }
    jf->out_fd = fd;
    return FRS_OK;
}

enum frs_status jobfile_write_result(struct jobfile *jf, const char *line)
{
    const int fd = jf->out_fd >= 0 ? jf->out_fd : 1;
    size_t n = strlen(line);
    char *buf = malloc(n + 1);
    if (!buf)
        return FRS_ERR(FRS_ERR_OOM, "%s: a result line of %zu bytes", jf->out_name, n + 1);
    memcpy(buf, line, n);
    buf[n] = '\n';
    struct stat sb;
    const int regular = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    if (fd == 1)
        fflush(stdout);
    enum frs_status st = FRS_OK;
    ssize_t w;
    do
        w = write(fd, buf, n + 1);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)(n + 1)) {
        int err = w < 0 ? errno : ENOSPC;
        if (regular && w > 0 && ftruncate(fd, sb.st_size) != 0)
            fprintf(stderr, "frspec: %s: cannot remove a partial line: %s\n", jf->out_name, strerror(errno));
        if (!regular && w > 0) /* a pipe: finish the line rather than leave it torn */
            err = write_whole(fd, jf->out_name, buf + w, n + 1 - (size_t)w) == FRS_OK ? 0 : err;
        if (err)
            st = FRS_ERR(FRS_ERR_IO, "%s: cannot write a result: %s", jf->out_name, strerror(err));
    }
    if (st == FRS_OK && regular) {
        jf->unsynced++;
        if (!jf->defer_sync)
            st = jobfile_sync(jf);
    }
    free(buf);
    return st;
}

enum frs_status jobfile_sync(struct jobfile *jf)
{
    if (!jf->unsynced)
        return FRS_OK;
    jf->unsynced = 0;
    /* the result file, or stdout when it is a regular file (`> results.jsonl`): unsynced counts
     * only lines written to a regular file */
    if (fsync(jf->out_fd >= 0 ? jf->out_fd : 1) != 0)
        return FRS_ERR(FRS_ERR_IO, "%s: fsync: %s", jf->out_name, strerror(errno));
    return FRS_OK;
}

enum frs_status jobfile_write_error(struct jobfile *jf, const struct jobfile_record *rec, const char *msg)
{
    cJSON *j = cJSON_CreateObject();
    if (rec && rec->id)
        cJSON_AddStringToObject(j, "id", rec->id);
    cJSON_AddStringToObject(j, "error", msg);
    if (rec)
        cJSON_AddNumberToObject(j, "line", rec->line_no);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s)
        return FRS_ERR(FRS_ERR_OOM, "error line");
    enum frs_status st = jobfile_write_result(jf, s);
    free(s);
    return st;
}

static void fmt_duration(char *b, size_t n, double s)
{
    if (s < 0 || s != s || s > 1e9) {
        snprintf(b, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(b, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(b, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(b, n, "%lds", t);
}

void jobfile_progress(struct jobfile *jf, int finished, int failed, int n_tokens, int force, FILE *f)
{
    if (finished) {
        jf->n_done++;
        jf->n_failed += failed != 0;
        jf->n_tokens += n_tokens > 0 ? n_tokens : 0;
    }
    const double t = now_s();
    if (!f || (!force && t - jf->t_last_print < jf->progress_interval_s))
        return;
    jf->t_last_print = t;
    const int total = jf->n_recs - jf->n_skipped;
    const double el = t - jf->t_start;
    const double tps = el > 0 ? (double)jf->n_tokens / el : 0;
    char eta[32];
    fmt_duration(eta, sizeof eta, jf->n_done ? el / jf->n_done * (total - jf->n_done) : -1);
    fprintf(f, "frspec: progress %d/%d prompts", jf->n_done, total);
    if (jf->n_skipped)
        fprintf(f, " (%d done before)", jf->n_skipped);
    fprintf(f, ", %d failed, %.1f tokens/s, %s left\n", jf->n_failed, tps, eta);
    fflush(f);
}

void jobfile_close(struct jobfile *jf)
{
    for (int i = 0; i < jf->n_recs; i++) {
        free(jf->recs[i].id);
        free(jf->recs[i].prompt);
        free(jf->recs[i].error);
    }
    free(jf->recs);
    jf->recs = NULL;
    jf->n_recs = jf->next = 0;
    set_free(jf->done);
    jf->done = NULL;
    if (jf->unsynced && jobfile_sync(jf) != FRS_OK) {
        fprintf(stderr, "frspec: %s\n", frs_error_msg());
        frs_error_clear();
    }
    if (jf->out_fd >= 0)
        close(jf->out_fd);
    jf->out_fd = -1;
}
