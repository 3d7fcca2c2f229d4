/* vocab_build.c - counting token ids over corpus files (text, JSONL, gzip) with the tokenizer:
 * one reader (the calling thread) cuts the input into jobs of text pieces, worker threads encode
 * them and count into private arrays, summed at the end. The cut rules are in vocab_build.h. */
#include "vocab_build.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define VB_QUEUE 8
#define VB_MAX_THREADS 64

struct vb_job {
    char *buf;
    size_t len, cap;
    size_t *ends; /* piece i is [ends[i-1], ends[i]) */
    int n, ecap;
};

struct vb_worker {
    pthread_t th;
    struct vb_ctx *cx;
    int64_t *count;
    enum frs_status st;
    char msg[1024];
};

struct vb_ctx {
    const struct frs_tokenizer *tok;
    const struct vb_opts_resolved {
        const char *field;
        int add_special;
        int threads;
        size_t chunk;
        int progress;
    } *o;
    int vocab;
    /* queue */
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    struct vb_job *q[VB_QUEUE];
    int q_head, q_count, closed;
    atomic_int failed;
    atomic_llong tokens, bytes, texts;
    struct vb_worker *w;
    int n_workers;
    struct vb_job *cur; /* being filled by the reader */
    struct timespec t0, last_report;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void job_free(struct vb_job *j)
{
    if (!j)
        return;
    free(j->buf);
    free(j->ends);
    free(j);
}

/* Encode and count every piece of a job into count[]. */
static enum frs_status job_run(struct vb_ctx *cx, const struct vb_job *j, int64_t *count)
{
    size_t start = 0;
    for (int i = 0; i < j->n; i++) {
        size_t end = j->ends[i];
        int32_t *ids = NULL;
        int n = 0;
        FRS_TRY(tokenizer_encode(cx->tok, j->buf + start, end - start, cx->o->add_special, &ids, &n));
        for (int t = 0; t < n; t++) {
            if (ids[t] < 0 || ids[t] >= cx->vocab) {
                int32_t bad = ids[t];
                free(ids);
                return FRS_ERR(FRS_ERR_INTERNAL, "tokenizer returned id %d outside its vocabulary (%d)", (int)bad,
                               cx->vocab);
            }
            count[ids[t]]++;
        }
        free(ids);
        atomic_fetch_add(&cx->tokens, n);
        atomic_fetch_add(&cx->bytes, (long long)(end - start));
        atomic_fetch_add(&cx->texts, 1);
        start = end;
    }
    return FRS_OK;
}

static void *worker_main(void *arg)
{
    struct vb_worker *w = arg;
    struct vb_ctx *cx = w->cx;
    for (;;) {
        pthread_mutex_lock(&cx->mu);
        while (cx->q_count == 0 && !cx->closed)
            pthread_cond_wait(&cx->not_empty, &cx->mu);
        if (cx->q_count == 0 && cx->closed) {
            pthread_mutex_unlock(&cx->mu);
            return NULL;
        }
        struct vb_job *j = cx->q[cx->q_head];
        cx->q_head = (cx->q_head + 1) % VB_QUEUE;
        cx->q_count--;
        pthread_cond_signal(&cx->not_full);
        pthread_mutex_unlock(&cx->mu);
        if (w->st == FRS_OK && !atomic_load(&cx->failed)) {
            w->st = job_run(cx, j, w->count);
            if (w->st != FRS_OK) {
                snprintf(w->msg, sizeof w->msg, "%s", frs_error_msg());
                atomic_store(&cx->failed, 1);
            }
        }
        job_free(j);
    }
}

static void report(struct vb_ctx *cx, int final)
{
    if (!cx->o->progress)
        return;
    double t = now_s(), t0 = (double)cx->t0.tv_sec + 1e-9 * (double)cx->t0.tv_nsec;
    double tl = (double)cx->last_report.tv_sec + 1e-9 * (double)cx->last_report.tv_nsec;
    if (!final && t - tl < 3.0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &cx->last_report);
    long long tok = atomic_load(&cx->tokens), by = atomic_load(&cx->bytes);
    fprintf(stderr, "vocab: %.1f MiB, %lld tokens, %.0f tokens/s\n", (double)by / (1024.0 * 1024.0), tok,
            (double)tok / (t - t0 > 1e-9 ? t - t0 : 1e-9));
}

/* Hand the current job to the workers (or run it here with one thread). */
static enum frs_status submit(struct vb_ctx *cx)
{
    struct vb_job *j = cx->cur;
    cx->cur = NULL;
    if (!j)
        return FRS_OK;
    if (j->n == 0) {
        job_free(j);
        return FRS_OK;
    }
    if (cx->n_workers == 0) {
        enum frs_status st = job_run(cx, j, cx->w[0].count);
        job_free(j);
        report(cx, 0);
        return st;
    }
    pthread_mutex_lock(&cx->mu);
    while (cx->q_count == VB_QUEUE && !atomic_load(&cx->failed))
        pthread_cond_wait(&cx->not_full, &cx->mu);
    if (atomic_load(&cx->failed)) {
        pthread_mutex_unlock(&cx->mu);
        job_free(j);
        return FRS_ERR_INTERNAL; /* the worker's message is restored by the caller */
    }
    cx->q[(cx->q_head + cx->q_count) % VB_QUEUE] = j;
    cx->q_count++;
    pthread_cond_signal(&cx->not_empty);
    pthread_mutex_unlock(&cx->mu);
    report(cx, 0);
    return FRS_OK;
}

/* Append one text piece to the current job; submit it when full. */
static enum frs_status add_piece(struct vb_ctx *cx, const char *s, size_t len)
{
    if (len == 0)
        return FRS_OK;
    if (!cx->cur) {
        cx->cur = calloc(1, sizeof *cx->cur);
        if (!cx->cur)
            return FRS_ERR(FRS_ERR_OOM, "vocab build: out of memory");
    }
    struct vb_job *j = cx->cur;
    if (j->len + len > j->cap) {
        size_t nc = j->cap ? j->cap : 4096;
        while (nc < j->len + len)
            nc *= 2;
        char *b = realloc(j->buf, nc);
        if (!b)
            return FRS_ERR(FRS_ERR_OOM, "vocab build: out of memory for %zu bytes", nc);
        j->buf = b;
        j->cap = nc;
    }
    if (j->n == j->ecap) {
        int nc = j->ecap ? j->ecap * 2 : 64;
        size_t *e = realloc(j->ends, sizeof *e * (size_t)nc);
        if (!e)
            return FRS_ERR(FRS_ERR_OOM, "vocab build: out of memory");
        j->ends = e;
        j->ecap = nc;
    }
    memcpy(j->buf + j->len, s, len);
    j->len += len;
    j->ends[j->n++] = j->len;
    if (j->len >= cx->o->chunk)
        return submit(cx);
    return FRS_OK;
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int is_ascii_letter(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

/* A cut point p in (lo, n): text[p-1] is '\n' and text[p] printable ASCII (not a space); or,
 * with loose, text[p-1] a letter, text[p] ' ', text[p+1] a letter. 0 when none. */
static size_t find_cut(const char *b, size_t lo, size_t n, int loose)
{
    for (size_t p = n - 1; p > lo; p--) {
        unsigned char c = (unsigned char)b[p];
        if (b[p - 1] == '\n' && c > 0x20 && c < 0x7f)
            return p;
    }
    if (loose)
        for (size_t p = n - 2; p > lo; p--)
            if (b[p] == ' ' && is_ascii_letter((unsigned char)b[p - 1]) && is_ascii_letter((unsigned char)b[p + 1]))
                return p;
    return 0;
}

static enum frs_status gz_fill(gzFile g, const char *path, char *buf, size_t want, size_t *got, int *eof)
{
    *got = 0;
    while (*got < want && !*eof) {
        unsigned chunk = want - *got > (1u << 30) ? (1u << 30) : (unsigned)(want - *got);
        int r = gzread(g, buf + *got, chunk);
        if (r < 0) {
            int err;
            const char *m = gzerror(g, &err);
            return FRS_ERR(FRS_ERR_IO, "%s: read error: %s", path, m ? m : "?");
        }
        if (r == 0) {
            int err = Z_OK;
            const char *m = gzerror(g, &err);
            if (err != Z_OK) /* a truncated stream: zlib says Z_BUF_ERROR at the end */
                return FRS_ERR(FRS_ERR_FORMAT, "%s: the gzip stream is truncated or corrupt: %s", path,
                               m && *m ? m : "unexpected end of file");
            *eof = 1;
        }
        *got += (size_t)r;
    }
    return FRS_OK;
}

static enum frs_status count_text(struct vb_ctx *cx, gzFile g, const char *path)
{
    size_t chunk = cx->o->chunk, cap = 2 * chunk + 1, have = 0;
    char *buf = malloc(cap);
    int eof = 0;
    enum frs_status st = FRS_OK;
    if (!buf)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    for (;;) {
        size_t got = 0;
        if (!eof && have < cap)
            FRS_TRY_GOTO(gz_fill(g, path, buf + have, cap - have, &got, &eof), st, out);
        have += got;
        if (have == 0)
            break;
        if (eof) { /* the rest, in chunks at safe points where possible */
            size_t cut = have > chunk ? find_cut(buf, chunk / 2, have, 0) : 0;
            size_t take = cut ? cut : have;
            FRS_TRY_GOTO(add_piece(cx, buf, take), st, out);
            FRS_TRY_GOTO(submit(cx), st, out);
            memmove(buf, buf + take, have - take);
            have -= take;
            if (have == 0)
                break;
            continue;
        }
        size_t cut = find_cut(buf, have > chunk ? chunk / 2 : 0, have, cap >= 16 * chunk);
        if (!cut && cap >= 64 * chunk)
            cut = have; /* no safe point in 64 chunks: cut anyway (may split one pre-token) */
        if (!cut) {   /* a very long paragraph: read more */
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap *= 2;
            continue;
        }
        FRS_TRY_GOTO(add_piece(cx, buf, cut), st, out);
        FRS_TRY_GOTO(submit(cx), st, out);
        memmove(buf, buf + cut, have - cut);
        have -= cut;
    }
out:
    free(buf);
    return st;
}

/* Every string under v (only under keys named field, when given). */
static enum frs_status json_strings(struct vb_ctx *cx, const cJSON *v, int in_field)
{
    const char *field = cx->o->field;
    if (cJSON_IsString(v) && v->valuestring) {
        if (!field || in_field)
            return add_piece(cx, v->valuestring, strlen(v->valuestring));
        return FRS_OK;
    }
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        const cJSON *c;
        cJSON_ArrayForEach(c, v)
        {
            int inf = in_field || (field && cJSON_IsObject(v) && c->string && !strcmp(c->string, field));
            FRS_TRY(json_strings(cx, c, inf));
        }
    }
    return FRS_OK;
}

static enum frs_status json_line(struct vb_ctx *cx, const char *s, size_t n, const char *path, long lineno)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    if (i == n)
        return FRS_OK;
    cJSON *v = cJSON_ParseWithLength(s, n);
    if (!v)
        return FRS_ERR(FRS_ERR_FORMAT, "%s:%ld: malformed JSON line", path, lineno);
    enum frs_status st = json_strings(cx, v, 0);
    cJSON_Delete(v);
    return st;
}

static enum frs_status count_jsonl(struct vb_ctx *cx, gzFile g, const char *path, int whole)
{
    size_t cap = 1 << 20, have = 0, start = 0;
    char *buf = malloc(cap);
    int eof = 0;
    long lineno = 0;
    enum frs_status st = FRS_OK;
    if (!buf)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    for (;;) {
        if (start > 0) {
            memmove(buf, buf + start, have - start);
            have -= start;
            start = 0;
        }
        if (have == cap || (whole && !eof)) {
            if (have == cap) {
                char *nb = cap > ((size_t)1 << 34) ? NULL : realloc(buf, cap * 2);
                if (!nb) {
                    st = FRS_ERR(FRS_ERR_OOM, "%s: line %ld is too long", path, lineno + 1);
                    goto out;
                }
                buf = nb;
                cap *= 2;
            }
        }
        size_t got = 0;
        if (!eof)
            FRS_TRY_GOTO(gz_fill(g, path, buf + have, cap - have, &got, &eof), st, out);
        have += got;
        if (whole) {
            if (!eof)
                continue;
            st = json_line(cx, buf, have, path, 1);
            goto out;
        }
        char *nl;
        while ((nl = memchr(buf + start, '\n', have - start)) != NULL) {
            lineno++;
            FRS_TRY_GOTO(json_line(cx, buf + start, (size_t)(nl - (buf + start)), path, lineno), st, out);
            start = (size_t)(nl - buf) + 1;
        }
        if (eof) {
            if (have > start) {
                lineno++;
                st = json_line(cx, buf + start, have - start, path, lineno);
            }
            goto out;
        }
    }
out:
    free(buf);
    if (st == FRS_OK)
        st = submit(cx);
    return st;
}

enum frs_status vocab_count_files(const struct frs_tokenizer *tok, const char *const *paths, int n_paths,
                                  const struct vocab_build_opts *opts, struct vocab_counts *out)
{
    memset(out, 0, sizeof *out);
    if (!tok || (!paths && n_paths > 0))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "vocab_count_files: NULL tokenizer or paths");
    struct vocab_build_opts dflt = {0};
    if (!opts)
        opts = &dflt;
    struct vb_opts_resolved o = {opts->field, opts->add_special, opts->threads,
                                 opts->chunk_bytes ? opts->chunk_bytes : (size_t)1 << 20, opts->progress};
    if (o.chunk < 16)
        o.chunk = 16;
    if (o.threads <= 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = ncpu > 1 ? 2 : 1;
    }
    if (o.threads > VB_MAX_THREADS)
        o.threads = VB_MAX_THREADS;
    struct vb_ctx cx;
    memset(&cx, 0, sizeof cx);
    cx.tok = tok;
    cx.o = &o;
    cx.vocab = tokenizer_vocab_size(tok);
    if (cx.vocab <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "vocab_count_files: the tokenizer has no vocabulary");
    int nw = o.threads > 1 ? o.threads : 0;
    int n_arrays = nw ? nw : 1;
    cx.w = calloc((size_t)n_arrays, sizeof *cx.w);
    if (!cx.w)
        return FRS_ERR(FRS_ERR_OOM, "vocab build: out of memory");
    enum frs_status st = FRS_OK;
    for (int i = 0; i < n_arrays; i++) {
        cx.w[i].cx = &cx;
        cx.w[i].count = calloc((size_t)cx.vocab, sizeof *cx.w[i].count);
        if (!cx.w[i].count) {
            st = FRS_ERR(FRS_ERR_OOM, "vocab build: out of memory");
            goto free_arrays;
        }
    }
    pthread_mutex_init(&cx.mu, NULL);
    pthread_cond_init(&cx.not_empty, NULL);
    pthread_cond_init(&cx.not_full, NULL);
    clock_gettime(CLOCK_MONOTONIC, &cx.t0);
    cx.last_report = cx.t0;
    double t0 = now_s();
    for (int i = 0; i < nw; i++) {
        if (pthread_create(&cx.w[i].th, NULL, worker_main, &cx.w[i]) != 0) {
            st = FRS_ERR(FRS_ERR_INTERNAL, "vocab build: cannot start thread %d", i);
            break;
        }
        cx.n_workers++;
    }
    if (st == FRS_OK && nw > 0 && cx.n_workers == 0)
        st = FRS_ERR_INTERNAL;
    for (int f = 0; st == FRS_OK && f < n_paths; f++) {
        const char *p = paths[f];
        gzFile g = gzopen(p, "rb");
        if (!g) {
            st = FRS_ERR(FRS_ERR_IO, "%s: cannot open corpus file: %s", p, strerror(errno));
            break;
        }
        gzbuffer(g, 1 << 20);
        if (ends_with(p, ".gz") && gzdirect(g)) {
            gzclose(g);
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: not a gzip file (the name ends in .gz but the data is not compressed)", p);
            break;
        }
        if (ends_with(p, ".jsonl") || ends_with(p, ".jsonl.gz"))
            st = count_jsonl(&cx, g, p, 0);
        else if (ends_with(p, ".json") || ends_with(p, ".json.gz"))
            st = count_jsonl(&cx, g, p, 1);
        else
            st = count_text(&cx, g, p);
        gzclose(g);
    }
    if (st == FRS_OK)
        st = submit(&cx);
    job_free(cx.cur);
    cx.cur = NULL;
    pthread_mutex_lock(&cx.mu);
    cx.closed = 1;
    if (st != FRS_OK)
        atomic_store(&cx.failed, 1);
    pthread_cond_broadcast(&cx.not_empty);
    pthread_cond_broadcast(&cx.not_full);
    pthread_mutex_unlock(&cx.mu);
    for (int i = 0; i < cx.n_workers; i++)
        pthread_join(cx.w[i].th, NULL);
    while (cx.q_count > 0) { /* left after a failure */
        job_free(cx.q[cx.q_head]);
        cx.q_head = (cx.q_head + 1) % VB_QUEUE;
        cx.q_count--;
    }
    for (int i = 0; i < cx.n_workers; i++)
        if (cx.w[i].st != FRS_OK) {
            st = frs_error_set(cx.w[i].st, __FILE__, __LINE__, "%s", cx.w[i].msg);
            break;
        }
    pthread_cond_destroy(&cx.not_full);
    pthread_cond_destroy(&cx.not_empty);
    pthread_mutex_destroy(&cx.mu);
    if (st == FRS_OK) {
        report(&cx, 1);
        out->vocab = cx.vocab;
        out->count = cx.w[0].count;
        cx.w[0].count = NULL;
        for (int i = 1; i < n_arrays; i++)
            for (int v = 0; v < cx.vocab; v++)
                out->count[v] += cx.w[i].count[v];
        for (int v = 0; v < cx.vocab; v++)
            out->total_tokens += out->count[v];
        out->bytes = atomic_load(&cx.bytes);
        out->texts = atomic_load(&cx.texts);
        out->seconds = now_s() - t0;
    }
free_arrays:
    for (int i = 0; i < n_arrays; i++)
        free(cx.w[i].count);
    free(cx.w);
    return st;
}

void vocab_counts_free(struct vocab_counts *c)
{
    if (!c)
        return;
    free(c->count);
    memset(c, 0, sizeof *c);
}

struct id_count {
    int64_t count;
    int32_t id;
};

static int id_count_cmp(const void *a, const void *b)
{
    const struct id_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

enum frs_status vocab_top_k(const struct vocab_counts *c, int k, int32_t **ids, int64_t *covered)
{
    *ids = NULL;
    if (covered)
        *covered = 0;
    if (k <= 0 || k > c->vocab)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "vocab build: --top %d must be in [1, %d] (the tokenizer's vocabulary)",
                       k, c->vocab);
    struct id_count *all = malloc(sizeof *all * (size_t)c->vocab);
    int32_t *out = malloc(sizeof *out * (size_t)k);
    if (!all || !out) {
        free(all);
        free(out);
        return FRS_ERR(FRS_ERR_OOM, "vocab build: out of memory");
    }
    for (int v = 0; v < c->vocab; v++) {
        all[v].count = c->count[v];
        all[v].id = v;
    }
    qsort(all, (size_t)c->vocab, sizeof *all, id_count_cmp);
    int64_t cov = 0;
    for (int j = 0; j < k; j++) {
        out[j] = all[j].id;
        cov += all[j].count;
    }
    free(all);
    *ids = out;
    if (covered)
        *covered = cov;
    return FRS_OK;
}
