/* torchzip.c - torch.save archives: a small zip reader (central directory, zip64, stored and
 * deflated entries, CRC-32 through zlib), a bounded pickle interpreter for lists of ints and
 * state_dicts of tensors, and a writer for lists of ints that torch.load reads.
 *
 * Every byte read is bounds-checked; every object the interpreter builds is owned by one table
 * and freed at the end; the stack, the marks and the memo are capped. Errors name the file, the
 * opcode or callable and its offset in data.pkl.
 */
#include "torchzip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---------------------------------------------------------------------------------------------
 * zip container
 * ------------------------------------------------------------------------------------------- */

#define TZ_MAX_ENTRIES (1 << 20)

struct tz_zent {
    char *name;
    uint16_t method;
    uint32_t crc;
    uint64_t csize, usize, local_off;
    const uint8_t *data; /* after tz_entry: the uncompressed bytes */
    uint8_t *owned;      /* inflated copy */
    int checked;
};

struct tz_archive {
    char *name;
    const uint8_t *base;
    size_t size;
    int mapped;
    struct tz_zent *ents; /* sorted by name */
    int n;
    char *prefix; /* "archive/" (with the slash) or "" */
    int no_crc;
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

static int ent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tz_zent *)a)->name, ((const struct tz_zent *)b)->name);
}

static enum frs_status zip_read_cd(struct tz_archive *ar)
{
    const uint8_t *b = ar->base;
    size_t size = ar->size;
    const char *nm = ar->name;
    if (size >= 2 && b[0] == 0x80 && b[1] <= 5)
        return FRS_ERR(FRS_ERR_UNSUPPORTED,
                       "%s: legacy (pre-1.6, non-zip) torch.save file; re-save it with "
                       "torch.save(obj, path) from PyTorch >= 1.6", nm);
    if (size < 22)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: %zu bytes is too short for a zip archive", nm, size);
    /* end of central directory record: last 22 bytes + up to a 64 KiB comment */
    size_t lo = size > 22 + 65535 ? size - 22 - 65535 : 0, eocd = (size_t)-1;
    for (size_t p = size - 22 + 1; p-- > lo;) {
        if (rd32(b + p) == 0x06054b50u) {
            eocd = p;
            break;
        }
    }
    if (eocd == (size_t)-1)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: no zip end-of-central-directory record: not a torch.save archive", nm);
    uint64_t total = rd16(b + eocd + 10), cd_size = rd32(b + eocd + 12), cd_off = rd32(b + eocd + 16);
    if (total == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        if (eocd < 20 || rd32(b + eocd - 20) != 0x07064b50u)
            return FRS_ERR(FRS_ERR_FORMAT, "%s: zip64 end-of-central-directory locator missing", nm);
        uint64_t z = rd64(b + eocd - 20 + 8);
        if (z > size || size - z < 56 || rd32(b + z) != 0x06064b50u)
            return FRS_ERR(FRS_ERR_FORMAT, "%s: bad zip64 end-of-central-directory record", nm);
        total = rd64(b + z + 32);
        cd_size = rd64(b + z + 40);
        cd_off = rd64(b + z + 48);
    }
    if (cd_off > size || cd_size > size - cd_off)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: zip central directory [%llu, +%llu) lies outside the file (%zu bytes)",
                       nm, (unsigned long long)cd_off, (unsigned long long)cd_size, size);
    if (total > TZ_MAX_ENTRIES || total > cd_size / 46)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: zip central directory claims %llu entries in %llu bytes", nm,
                       (unsigned long long)total, (unsigned long long)cd_size);
    ar->ents = calloc(total ? total : 1, sizeof *ar->ents);
    if (!ar->ents)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", nm);
    const uint8_t *p = b + cd_off, *end = b + cd_off + cd_size;
    for (uint64_t i = 0; i < total; i++) {
        if (end - p < 46 || rd32(p) != 0x02014b50u)
            return FRS_ERR(FRS_ERR_FORMAT, "%s: zip central directory entry %llu is malformed", nm,
                           (unsigned long long)i);
        struct tz_zent *e = &ar->ents[ar->n];
        uint16_t nlen = rd16(p + 28), elen = rd16(p + 30), clen = rd16(p + 32);
        if ((size_t)(end - p) < 46u + nlen + elen + clen)
            return FRS_ERR(FRS_ERR_FORMAT, "%s: zip central directory entry %llu overruns the directory", nm,
                           (unsigned long long)i);
        e->method = rd16(p + 10);
        e->crc = rd32(p + 16);
        e->csize = rd32(p + 20);
        e->usize = rd32(p + 24);
        e->local_off = rd32(p + 42);
        e->name = malloc((size_t)nlen + 1);
        if (!e->name)
            return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", nm);
        memcpy(e->name, p + 46, nlen);
        e->name[nlen] = '\0';
        ar->n++;
        if (memchr(e->name, '\0', nlen))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: zip entry %llu has a NUL in its name", nm, (unsigned long long)i);
        /* zip64 extended information */
        const uint8_t *x = p + 46 + nlen, *xend = x + elen;
        while (xend - x >= 4) {
            uint16_t id = rd16(x), sz = rd16(x + 2);
            if ((size_t)(xend - x - 4) < sz)
                break;
            if (id == 0x0001) {
                const uint8_t *q = x + 4, *qend = q + sz;
                if (e->usize == 0xffffffffu && qend - q >= 8) { e->usize = rd64(q); q += 8; }
                if (e->csize == 0xffffffffu && qend - q >= 8) { e->csize = rd64(q); q += 8; }
                if (e->local_off == 0xffffffffu && qend - q >= 8) { e->local_off = rd64(q); q += 8; }
            }
            x += 4 + sz;
        }
        p += 46 + nlen + elen + clen;
    }
    qsort(ar->ents, (size_t)ar->n, sizeof *ar->ents, ent_cmp);
    for (int i = 1; i < ar->n; i++)
        if (!strcmp(ar->ents[i].name, ar->ents[i - 1].name))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: zip entry '%s' appears twice", nm, ar->ents[i].name);
    /* the folder holding data.pkl */
    for (int i = 0; i < ar->n; i++) {
        const char *s = ar->ents[i].name, *slash = strchr(s, '/');
        if (!strcmp(s, "data.pkl") || (slash && !strcmp(slash + 1, "data.pkl"))) {
            size_t plen = slash && strcmp(s, "data.pkl") ? (size_t)(slash - s) + 1 : 0;
            ar->prefix = malloc(plen + 1);
            if (!ar->prefix)
                return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", nm);
            memcpy(ar->prefix, s, plen);
            ar->prefix[plen] = '\0';
            return FRS_OK;
        }
    }
    return FRS_ERR(FRS_ERR_FORMAT, "%s: zip archive has no data.pkl: not a torch.save file", nm);
}

static enum frs_status tz_init(struct tz_archive *ar)
{
    enum frs_status st = zip_read_cd(ar);
    if (st != FRS_OK)
        return st;
    return FRS_OK;
}

/* The common end of the two openers: check the name copy, read the directory, hand it over. */
static enum frs_status tz_finish_open(struct tz_archive *ar, struct tz_archive **out)
{
    if (!ar->name) {
        tz_close(ar);
        return FRS_ERR(FRS_ERR_OOM, "torchzip: out of memory");
    }
    enum frs_status st = tz_init(ar);
    if (st != FRS_OK) {
        tz_close(ar);
        return st;
    }
    *out = ar;
    return FRS_OK;
}

enum frs_status tz_open_mem(struct tz_archive **out, const void *data, size_t size, const char *name)
{
    *out = NULL;
    struct tz_archive *ar = calloc(1, sizeof *ar);
    if (!ar)
        return FRS_ERR(FRS_ERR_OOM, "torchzip: out of memory");
    ar->name = strdup(name ? name : "(memory)");
    ar->base = data;
    ar->size = size;
    return tz_finish_open(ar, out);
}

enum frs_status tz_open(struct tz_archive **out, const char *path)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return FRS_ERR(FRS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return FRS_ERR(FRS_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            close(fd);
            return FRS_ERR(FRS_ERR_IO, "%s: cannot map %zu bytes", path, size);
        }
    }
    close(fd);
    struct tz_archive *ar = calloc(1, sizeof *ar);
    if (!ar) {
        if (map)
            munmap(map, size);
        return FRS_ERR(FRS_ERR_OOM, "torchzip: out of memory");
    }
    ar->name = strdup(path);
    ar->base = map;
    ar->size = size;
    ar->mapped = map != NULL;
    return tz_finish_open(ar, out);
}

void tz_close(struct tz_archive *ar)
{
    if (!ar)
        return;
    for (int i = 0; i < ar->n; i++) {
        free(ar->ents[i].name);
        free(ar->ents[i].owned);
    }
    free(ar->ents);
    free(ar->prefix);
    if (ar->mapped)
        munmap((void *)ar->base, ar->size);
    free(ar->name);
    free(ar);
}

void tz_set_crc_check(struct tz_archive *ar, int on)
{
    if (ar)
        ar->no_crc = !on;
}

const char *tz_name(const struct tz_archive *ar) { return ar ? ar->name : "(null)"; }

static uLong crc_of(const uint8_t *p, uint64_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return c;
}

enum frs_status tz_entry(struct tz_archive *ar, const char *rel, const void **data, size_t *size)
{
    size_t plen = strlen(ar->prefix), rlen = strlen(rel);
    char stackname[512], *full = plen + rlen + 1 <= sizeof stackname ? stackname : malloc(plen + rlen + 1);
    if (!full)
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", ar->name);
    memcpy(full, ar->prefix, plen);
    memcpy(full + plen, rel, rlen + 1);
    struct tz_zent key = {.name = full};
    struct tz_zent *e = ar->n ? bsearch(&key, ar->ents, (size_t)ar->n, sizeof *ar->ents, ent_cmp) : NULL;
    enum frs_status st = FRS_OK;
    if (!e) {
        st = FRS_ERR(FRS_ERR_MISSING, "%s: archive has no entry '%s'", ar->name, full);
        goto out;
    }
    if (!e->checked) {
        const uint8_t *b = ar->base;
        free(e->owned); /* from an earlier failed attempt */
        e->owned = NULL;
        uint64_t lo = e->local_off;
        if (lo > ar->size || ar->size - lo < 30 || rd32(b + lo) != 0x04034b50u) {
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: entry '%s' has no local header at offset %llu", ar->name, full,
                         (unsigned long long)lo);
            goto out;
        }
        uint64_t doff = lo + 30 + rd16(b + lo + 26) + rd16(b + lo + 28);
        if (doff > ar->size || ar->size - doff < e->csize) {
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: entry '%s' (%llu bytes at %llu) runs past the end of the file",
                         ar->name, full, (unsigned long long)e->csize, (unsigned long long)doff);
            goto out;
        }
        if (e->method == 0) {
            if (e->csize != e->usize) {
                st = FRS_ERR(FRS_ERR_FORMAT, "%s: stored entry '%s' has sizes %llu != %llu", ar->name, full,
                             (unsigned long long)e->csize, (unsigned long long)e->usize);
                goto out;
            }
            e->data = b + doff;
        } else if (e->method == 8) {
            if (e->usize > e->csize * 1100 + 1024) {
                st = FRS_ERR(FRS_ERR_FORMAT, "%s: deflated entry '%s' claims an impossible size %llu from %llu bytes",
                             ar->name, full, (unsigned long long)e->usize, (unsigned long long)e->csize);
                goto out;
            }
            e->owned = malloc(e->usize ? e->usize : 1);
            if (!e->owned) {
                st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory inflating '%s'", ar->name, full);
                goto out;
            }
            z_stream zs;
            memset(&zs, 0, sizeof zs);
            if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
                st = FRS_ERR(FRS_ERR_INTERNAL, "%s: inflateInit2 failed", ar->name);
                goto out;
            }
            const uint8_t *in = b + doff;
            uint64_t in_left = e->csize, out_done = 0;
            int zr = Z_OK;
            while (zr == Z_OK) {
                uInt ichunk = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
                uint64_t out_left = e->usize - out_done;
                uInt ochunk = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
                zs.next_in = (Bytef *)in;
                zs.avail_in = ichunk;
                zs.next_out = e->owned + out_done;
                zs.avail_out = ochunk;
                zr = inflate(&zs, Z_NO_FLUSH);
                in += ichunk - zs.avail_in;
                in_left -= ichunk - zs.avail_in;
                out_done += ochunk - zs.avail_out;
                if (zr == Z_OK && ichunk == zs.avail_in && ochunk == zs.avail_out)
                    zr = Z_BUF_ERROR; /* no progress */
            }
            inflateEnd(&zs);
            if (zr != Z_STREAM_END || out_done != e->usize) {
                st = FRS_ERR(FRS_ERR_FORMAT, "%s: entry '%s' does not inflate to its %llu bytes", ar->name, full,
                             (unsigned long long)e->usize);
                goto out;
            }
            e->data = e->owned;
        } else {
            st = FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: entry '%s' uses zip compression method %u (only stored and deflate)",
                         ar->name, full, e->method);
            goto out;
        }
        uLong c = ar->no_crc ? e->crc : crc_of(e->data, e->usize);
        if (c != e->crc) {
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: entry '%s' fails its CRC-32 check (0x%08lx, expected 0x%08lx): "
                         "the file is damaged", ar->name, full, c, (unsigned long)e->crc);
            e->data = NULL;
            goto out;
        }
        e->checked = 1;
    }
    *data = e->data;
    *size = (size_t)e->usize;
out:
    if (full != stackname)
        free(full);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * pickle subset
 * ------------------------------------------------------------------------------------------- */

#define PK_MAX_STACK (1 << 22)
#define PK_MAX_MARKS (1 << 16)
#define PK_MAX_MEMO (1 << 22)
#define PK_MAX_STR (1 << 20)

enum pv_type { PV_NONE, PV_BOOL, PV_INT, PV_FLOAT, PV_STR, PV_LIST, PV_TUPLE, PV_DICT, PV_GLOBAL,
               PV_STORAGE, PV_TENSOR };

static const char *pv_type_name(enum pv_type t)
{
    static const char *names[] = {"None", "bool", "int", "float", "str", "list", "tuple", "dict",
                                  "global", "storage", "tensor"};
    return names[t];
}

struct pv {
    enum pv_type t;
    int64_t i;
    double f;
    char *s, *s2;       /* str / bytes; global module, name; storage key */
    size_t slen;
    struct pv **items;  /* list, tuple, dict keys */
    struct pv **vals;   /* dict values */
    size_t n, cap;
    /* storage */
    const char *stype;
    enum frs_dtype dtype;
    size_t esz;
    /* tensor */
    struct pv *storage;
    int ndim;
    int64_t shape[TZ_MAX_DIMS], stride[TZ_MAX_DIMS], offset;
};

struct pk {
    const char *file;
    const uint8_t *start, *p, *end;
    size_t op_off;
    struct pv **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    struct pv **memo;
    size_t memo_cap;
    size_t memo_next; /* for MEMOIZE */
    struct pv **all;
    size_t nall, acap;
    struct pv none;
};

static void pk_free(struct pk *k)
{
    for (size_t i = 0; i < k->nall; i++) {
        struct pv *v = k->all[i];
        free(v->s);
        free(v->s2);
        free(v->items);
        free(v->vals);
        free(v);
    }
    free(k->all);
    free(k->stack);
    free(k->marks);
    free(k->memo);
}

static enum frs_status pk_oom(struct pk *k) { return FRS_ERR(FRS_ERR_OOM, "%s: out of memory reading the pickle", k->file); }

static enum frs_status pk_new(struct pk *k, enum pv_type t, struct pv **out)
{
    if (k->nall == k->acap) {
        size_t nc = k->acap ? k->acap * 2 : 256;
        struct pv **a = realloc(k->all, nc * sizeof *a);
        if (!a)
            return pk_oom(k);
        k->all = a;
        k->acap = nc;
    }
    struct pv *v = calloc(1, sizeof *v);
    if (!v)
        return pk_oom(k);
    v->t = t;
    k->all[k->nall++] = v;
    *out = v;
    return FRS_OK;
}

static enum frs_status pk_bad(struct pk *k, const char *what)
{
    return FRS_ERR(FRS_ERR_FORMAT, "%s: data.pkl: %s (opcode 0x%02x at offset %zu)", k->file, what,
                   k->start[k->op_off], k->op_off);
}

static enum frs_status pk_push(struct pk *k, struct pv *v)
{
    if (k->sp == k->scap) {
        if (k->scap >= PK_MAX_STACK)
            return pk_bad(k, "pickle stack deeper than the limit");
        size_t nc = k->scap ? k->scap * 2 : 256;
        struct pv **s = realloc(k->stack, nc * sizeof *s);
        if (!s)
            return pk_oom(k);
        k->stack = s;
        k->scap = nc;
    }
    k->stack[k->sp++] = v;
    return FRS_OK;
}

static size_t pk_floor(const struct pk *k) { return k->nmarks ? k->marks[k->nmarks - 1] : 0; }

static enum frs_status pk_pop(struct pk *k, struct pv **out)
{
    if (k->sp <= pk_floor(k))
        return pk_bad(k, "pickle stack underflow");
    *out = k->stack[--k->sp];
    return FRS_OK;
}

static enum frs_status pk_top(struct pk *k, struct pv **out)
{
    if (k->sp <= pk_floor(k))
        return pk_bad(k, "pickle stack underflow");
    *out = k->stack[k->sp - 1];
    return FRS_OK;
}

/* Pops the last mark; *from = index of the first item above it. */
static enum frs_status pk_pop_mark(struct pk *k, size_t *from)
{
    if (k->nmarks == 0)
        return pk_bad(k, "no MARK on the pickle stack");
    *from = k->marks[--k->nmarks];
    return FRS_OK;
}

static enum frs_status pk_need(struct pk *k, size_t n, const uint8_t **at)
{
    if ((size_t)(k->end - k->p) < n)
        return pk_bad(k, "pickle truncated inside an opcode argument");
    *at = k->p;
    k->p += n;
    return FRS_OK;
}

static enum frs_status seq_append(struct pk *k, struct pv *seq, struct pv *item, struct pv *val)
{
    if (seq->n == seq->cap) {
        size_t nc = seq->cap ? seq->cap * 2 : 8;
        struct pv **a = realloc(seq->items, nc * sizeof *a);
        if (!a)
            return pk_oom(k);
        seq->items = a;
        if (seq->t == PV_DICT) {
            struct pv **b = realloc(seq->vals, nc * sizeof *b);
            if (!b)
                return pk_oom(k);
            seq->vals = b;
        }
        seq->cap = nc;
    }
    seq->items[seq->n] = item;
    if (seq->t == PV_DICT)
        seq->vals[seq->n] = val;
    seq->n++;
    return FRS_OK;
}

static enum frs_status pk_str(struct pk *k, size_t len, struct pv **out)
{
    const uint8_t *at = NULL;
    if (len > PK_MAX_STR)
        return pk_bad(k, "string longer than the limit");
    FRS_TRY(pk_need(k, len, &at));
    struct pv *v = NULL;
    FRS_TRY(pk_new(k, PV_STR, &v));
    v->s = malloc(len + 1);
    if (!v->s)
        return pk_oom(k);
    memcpy(v->s, at, len);
    v->s[len] = '\0';
    v->slen = len;
    *out = v;
    return FRS_OK;
}

static enum frs_status pk_int(struct pk *k, int64_t x)
{
    struct pv *v = NULL;
    FRS_TRY(pk_new(k, PV_INT, &v));
    v->i = x;
    return pk_push(k, v);
}

static enum frs_status pk_long(struct pk *k, uint64_t nbytes)
{
    const uint8_t *at = NULL;
    if (nbytes > 8)
        return pk_bad(k, "integer wider than 64 bits");
    FRS_TRY(pk_need(k, (size_t)nbytes, &at));
    uint64_t u = 0;
    for (uint64_t j = 0; j < nbytes; j++)
        u |= (uint64_t)at[j] << (8 * j);
    if (nbytes > 0 && nbytes < 8 && (at[nbytes - 1] & 0x80))
        u |= ~(uint64_t)0 << (8 * nbytes); /* sign-extend */
    int64_t x;
    memcpy(&x, &u, sizeof x);
    return pk_int(k, x);
}

static enum frs_status pk_memo_put(struct pk *k, uint64_t idx)
{
    struct pv *v = NULL;
    FRS_TRY(pk_top(k, &v));
    if (idx >= PK_MAX_MEMO)
        return pk_bad(k, "memo index larger than the limit");
    if (idx >= k->memo_cap) {
        size_t nc = k->memo_cap ? k->memo_cap : 64;
        while (nc <= idx)
            nc *= 2;
        struct pv **m = realloc(k->memo, nc * sizeof *m);
        if (!m)
            return pk_oom(k);
        memset(m + k->memo_cap, 0, (nc - k->memo_cap) * sizeof *m);
        k->memo = m;
        k->memo_cap = nc;
    }
    k->memo[idx] = v;
    if (idx + 1 > k->memo_next)
        k->memo_next = (size_t)idx + 1;
    return FRS_OK;
}

static enum frs_status pk_memo_get(struct pk *k, uint64_t idx)
{
    if (idx >= k->memo_cap || !k->memo[idx])
        return pk_bad(k, "memo get of an index never put");
    return pk_push(k, k->memo[idx]);
}

static enum frs_status pk_seq_from(struct pk *k, enum pv_type t, size_t from)
{
    struct pv *v = NULL;
    FRS_TRY(pk_new(k, t, &v));
    for (size_t j = from; j < k->sp; j++)
        FRS_TRY(seq_append(k, v, k->stack[j], NULL));
    k->sp = from;
    return pk_push(k, v);
}

static const struct {
    const char *name;
    enum frs_dtype dtype;
    size_t esz;
} storage_types[] = {
    {"FloatStorage", FRS_DTYPE_F32, 4},   {"HalfStorage", FRS_DTYPE_F16, 2},
    {"BFloat16Storage", FRS_DTYPE_BF16, 2}, {"IntStorage", FRS_DTYPE_I32, 4},
    {"LongStorage", FRS_DTYPE_I64, 8},    {"DoubleStorage", FRS_DTYPE_COUNT, 8},
    {"ShortStorage", FRS_DTYPE_COUNT, 2}, {"CharStorage", FRS_DTYPE_COUNT, 1},
    {"ByteStorage", FRS_DTYPE_COUNT, 1},  {"BoolStorage", FRS_DTYPE_COUNT, 1},
};

/* ('storage', torch.<T>Storage, key, location, numel) -> a storage object */
static enum frs_status pk_persid(struct pk *k, struct pv *pid, struct pv **out)
{
    if (pid->t != PV_TUPLE || pid->n != 5 || pid->items[0]->t != PV_STR || strcmp(pid->items[0]->s, "storage"))
        return pk_bad(k, "persistent id is not ('storage', type, key, location, numel)");
    struct pv *ty = pid->items[1], *key = pid->items[2], *numel = pid->items[4];
    if (ty->t != PV_GLOBAL || strcmp(ty->s, "torch") || key->t != PV_STR || numel->t != PV_INT || numel->i < 0)
        return pk_bad(k, "persistent id is not ('storage', torch.<T>Storage, str key, location, numel)");
    struct pv *v = NULL;
    FRS_TRY(pk_new(k, PV_STORAGE, &v));
    v->s = strdup(key->s);
    if (!v->s)
        return pk_oom(k);
    v->i = numel->i;
    v->dtype = FRS_DTYPE_COUNT;
    v->stype = NULL;
    for (size_t j = 0; j < sizeof storage_types / sizeof storage_types[0]; j++)
        if (!strcmp(ty->s2, storage_types[j].name)) {
            v->stype = storage_types[j].name;
            v->dtype = storage_types[j].dtype;
            v->esz = storage_types[j].esz;
        }
    if (!v->stype) {
        FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: data.pkl: storage type torch.%s is not supported (offset %zu)",
                k->file, ty->s2, k->op_off);
        return FRS_ERR_UNSUPPORTED;
    }
    *out = v;
    return FRS_OK;
}

static enum frs_status pk_int_tuple(struct pk *k, struct pv *t, int64_t *out, int *n, const char *what)
{
    if (t->t != PV_TUPLE && t->t != PV_LIST)
        return pk_bad(k, what);
    if (t->n > TZ_MAX_DIMS)
        return pk_bad(k, "tensor with more than 8 dimensions");
    for (size_t j = 0; j < t->n; j++) {
        if (t->items[j]->t != PV_INT || t->items[j]->i < 0)
            return pk_bad(k, what);
        out[j] = t->items[j]->i;
    }
    *n = (int)t->n;
    return FRS_OK;
}

static enum frs_status pk_reduce(struct pk *k, struct pv *fn, struct pv *args, struct pv **out)
{
    if (fn->t != PV_GLOBAL)
        return pk_bad(k, "REDUCE of something that is not a global callable");
    if (args->t != PV_TUPLE)
        return pk_bad(k, "REDUCE arguments are not a tuple");
    if (!strcmp(fn->s, "collections") && !strcmp(fn->s2, "OrderedDict")) {
        if (args->n != 0)
            return pk_bad(k, "collections.OrderedDict called with arguments");
        return pk_new(k, PV_DICT, out);
    }
    if (!strcmp(fn->s, "torch._utils") &&
        (!strcmp(fn->s2, "_rebuild_tensor_v2") || !strcmp(fn->s2, "_rebuild_tensor"))) {
        if (args->n < 4)
            return pk_bad(k, "torch._utils._rebuild_tensor with fewer than 4 arguments");
        struct pv *sto = args->items[0], *off = args->items[1];
        if (sto->t != PV_STORAGE || off->t != PV_INT || off->i < 0)
            return pk_bad(k, "torch._utils._rebuild_tensor: bad storage or offset");
        struct pv *v = NULL;
        FRS_TRY(pk_new(k, PV_TENSOR, &v));
        int nd2;
        FRS_TRY(pk_int_tuple(k, args->items[2], v->shape, &v->ndim, "tensor size is not a tuple of ints"));
        FRS_TRY(pk_int_tuple(k, args->items[3], v->stride, &nd2, "tensor stride is not a tuple of ints"));
        if (nd2 != v->ndim)
            return pk_bad(k, "tensor size and stride differ in length");
        v->storage = sto;
        v->offset = off->i;
        *out = v;
        return FRS_OK;
    }
    if (!strcmp(fn->s, "torch._utils") &&
        (!strcmp(fn->s2, "_rebuild_parameter") || !strcmp(fn->s2, "_rebuild_parameter_with_state"))) {
        if (args->n < 1 || args->items[0]->t != PV_TENSOR)
            return pk_bad(k, "torch._utils._rebuild_parameter without a tensor");
        *out = args->items[0];
        return FRS_OK;
    }
    FRS_ERR(FRS_ERR_UNSUPPORTED, "%s: data.pkl: callable %s.%s is not supported (REDUCE at offset %zu); "
            "expected a list of ints or a state_dict of tensors", k->file, fn->s, fn->s2, k->op_off);
    return FRS_ERR_UNSUPPORTED;
}

static enum frs_status pk_global(struct pk *k, const char *mod, size_t mlen, const char *name, size_t nlen)
{
    struct pv *v = NULL;
    FRS_TRY(pk_new(k, PV_GLOBAL, &v));
    v->s = malloc(mlen + 1);
    v->s2 = malloc(nlen + 1);
    if (!v->s || !v->s2)
        return pk_oom(k);
    memcpy(v->s, mod, mlen);
    v->s[mlen] = '\0';
    memcpy(v->s2, name, nlen);
    v->s2[nlen] = '\0';
    return pk_push(k, v);
}

static enum frs_status pk_line(struct pk *k, const char **s, size_t *len)
{
    const uint8_t *nl = memchr(k->p, '\n', (size_t)(k->end - k->p) < 256 ? (size_t)(k->end - k->p) : 256);
    if (!nl)
        return pk_bad(k, "GLOBAL name without a newline within 256 bytes");
    *s = (const char *)k->p;
    *len = (size_t)(nl - k->p);
    k->p = nl + 1;
    return FRS_OK;
}

/* Run the pickle; *result is owned by k. */
static enum frs_status pk_run(struct pk *k, struct pv **result)
{
    const uint8_t *a = NULL;
    struct pv *v = NULL, *w = NULL, *x = NULL;
    size_t from = 0;
    k->none.t = PV_NONE;
    while (k->p < k->end) {
        k->op_off = (size_t)(k->p - k->start);
        uint8_t op = *k->p++;
        switch (op) {
        case 0x80: /* PROTO */
            FRS_TRY(pk_need(k, 1, &a));
            if (a[0] < 2 || a[0] > 5)
                return pk_bad(k, "pickle protocol outside 2..5");
            break;
        case 0x95: /* FRAME */
            FRS_TRY(pk_need(k, 8, &a));
            break;
        case '.': /* STOP */
            FRS_TRY(pk_pop(k, result));
            return FRS_OK;
        case '(': /* MARK */
            if (k->nmarks == k->mcap) {
                if (k->mcap >= PK_MAX_MARKS)
                    return pk_bad(k, "more nested MARKs than the limit");
                size_t nc = k->mcap ? k->mcap * 2 : 64;
                size_t *m = realloc(k->marks, nc * sizeof *m);
                if (!m)
                    return pk_oom(k);
                k->marks = m;
                k->mcap = nc;
            }
            k->marks[k->nmarks++] = k->sp;
            break;
        case '0': /* POP */
            if (k->sp > pk_floor(k))
                k->sp--;
            else
                FRS_TRY(pk_pop_mark(k, &from));
            break;
        case '1': /* POP_MARK */
            FRS_TRY(pk_pop_mark(k, &from));
            k->sp = from;
            break;
        case '2': /* DUP */
            FRS_TRY(pk_top(k, &v));
            FRS_TRY(pk_push(k, v));
            break;
        case 'N':
            FRS_TRY(pk_push(k, &k->none));
            break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            FRS_TRY(pk_new(k, PV_BOOL, &v));
            v->i = op == 0x88;
            FRS_TRY(pk_push(k, v));
            break;
        case 'J': /* BININT */
            FRS_TRY(pk_need(k, 4, &a));
            FRS_TRY(pk_int(k, (int32_t)rd32(a)));
            break;
        case 'K': /* BININT1 */
            FRS_TRY(pk_need(k, 1, &a));
            FRS_TRY(pk_int(k, a[0]));
            break;
        case 'M': /* BININT2 */
            FRS_TRY(pk_need(k, 2, &a));
            FRS_TRY(pk_int(k, rd16(a)));
            break;
        case 0x8a: /* LONG1 */
            FRS_TRY(pk_need(k, 1, &a));
            FRS_TRY(pk_long(k, a[0]));
            break;
        case 0x8b: /* LONG4 */
            FRS_TRY(pk_need(k, 4, &a));
            FRS_TRY(pk_long(k, rd32(a)));
            break;
        case 'G': { /* BINFLOAT, big-endian */
            FRS_TRY(pk_need(k, 8, &a));
            uint64_t u = 0;
            for (int j = 0; j < 8; j++)
                u = (u << 8) | a[j];
            FRS_TRY(pk_new(k, PV_FLOAT, &v));
            memcpy(&v->f, &u, sizeof v->f);
            FRS_TRY(pk_push(k, v));
            break;
        }
        case 'X': /* BINUNICODE */
        case 'T': /* BINSTRING */
        case 'B': /* BINBYTES */
            FRS_TRY(pk_need(k, 4, &a));
            FRS_TRY(pk_str(k, rd32(a), &v));
            FRS_TRY(pk_push(k, v));
            break;
        case 0x8c: /* SHORT_BINUNICODE */
        case 'U':  /* SHORT_BINSTRING */
        case 'C':  /* SHORT_BINBYTES */
            FRS_TRY(pk_need(k, 1, &a));
            FRS_TRY(pk_str(k, a[0], &v));
            FRS_TRY(pk_push(k, v));
            break;
        case 0x8d: /* BINUNICODE8 */
        case 0x8e: /* BINBYTES8 */
            FRS_TRY(pk_need(k, 8, &a));
            if (rd64(a) > PK_MAX_STR)
                return pk_bad(k, "string longer than the limit");
            FRS_TRY(pk_str(k, (size_t)rd64(a), &v));
            FRS_TRY(pk_push(k, v));
            break;
        case ']': /* EMPTY_LIST */
            FRS_TRY(pk_new(k, PV_LIST, &v));
            FRS_TRY(pk_push(k, v));
            break;
        case ')': /* EMPTY_TUPLE */
            FRS_TRY(pk_new(k, PV_TUPLE, &v));
            FRS_TRY(pk_push(k, v));
            break;
        case '}': /* EMPTY_DICT */
            FRS_TRY(pk_new(k, PV_DICT, &v));
            FRS_TRY(pk_push(k, v));
            break;
        case 'l': /* LIST */
            FRS_TRY(pk_pop_mark(k, &from));
            FRS_TRY(pk_seq_from(k, PV_LIST, from));
            break;
        case 't': /* TUPLE */
            FRS_TRY(pk_pop_mark(k, &from));
            FRS_TRY(pk_seq_from(k, PV_TUPLE, from));
            break;
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: { /* TUPLE3 */
            size_t cnt = (size_t)(op - 0x84);
            if (k->sp < pk_floor(k) + cnt)
                return pk_bad(k, "pickle stack underflow");
            FRS_TRY(pk_seq_from(k, PV_TUPLE, k->sp - cnt));
            break;
        }
        case 'a': /* APPEND */
            FRS_TRY(pk_pop(k, &w));
            FRS_TRY(pk_top(k, &v));
            if (v->t != PV_LIST)
                return pk_bad(k, "APPEND to something that is not a list");
            FRS_TRY(seq_append(k, v, w, NULL));
            break;
        case 'e': /* APPENDS */
            FRS_TRY(pk_pop_mark(k, &from));
            if (from == 0 || from <= pk_floor(k))
                return pk_bad(k, "APPENDS without a list below its MARK");
            v = k->stack[from - 1];
            if (v->t != PV_LIST)
                return pk_bad(k, "APPENDS to something that is not a list");
            for (size_t j = from; j < k->sp; j++)
                FRS_TRY(seq_append(k, v, k->stack[j], NULL));
            k->sp = from;
            break;
        case 'd': /* DICT */
        case 'u': /* SETITEMS */
            FRS_TRY(pk_pop_mark(k, &from));
            if ((k->sp - from) % 2)
                return pk_bad(k, "odd number of items for a dict");
            if (op == 'd') {
                FRS_TRY(pk_new(k, PV_DICT, &v));
            } else {
                if (from == 0 || from <= pk_floor(k))
                    return pk_bad(k, "SETITEMS without a dict below its MARK");
                v = k->stack[from - 1];
                if (v->t != PV_DICT)
                    return pk_bad(k, "SETITEMS on something that is not a dict");
            }
            for (size_t j = from; j + 1 < k->sp; j += 2)
                FRS_TRY(seq_append(k, v, k->stack[j], k->stack[j + 1]));
            k->sp = from;
            if (op == 'd')
                FRS_TRY(pk_push(k, v));
            break;
        case 's': /* SETITEM */
            FRS_TRY(pk_pop(k, &w));
            FRS_TRY(pk_pop(k, &x));
            FRS_TRY(pk_top(k, &v));
            if (v->t != PV_DICT)
                return pk_bad(k, "SETITEM on something that is not a dict");
            FRS_TRY(seq_append(k, v, x, w));
            break;
        case 'c': { /* GLOBAL */
            const char *m = NULL, *n = NULL;
            size_t ml = 0, nl = 0;
            FRS_TRY(pk_line(k, &m, &ml));
            FRS_TRY(pk_line(k, &n, &nl));
            FRS_TRY(pk_global(k, m, ml, n, nl));
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            FRS_TRY(pk_pop(k, &w));
            FRS_TRY(pk_pop(k, &v));
            if (v->t != PV_STR || w->t != PV_STR)
                return pk_bad(k, "STACK_GLOBAL of non-strings");
            FRS_TRY(pk_global(k, v->s, v->slen, w->s, w->slen));
            break;
        case 'R': /* REDUCE */
            FRS_TRY(pk_pop(k, &w));
            FRS_TRY(pk_pop(k, &v));
            FRS_TRY(pk_reduce(k, v, w, &x));
            FRS_TRY(pk_push(k, x));
            break;
        case 'b': /* BUILD: object state (an OrderedDict's _metadata...) is not needed */
            FRS_TRY(pk_pop(k, &w));
            FRS_TRY(pk_top(k, &v));
            if (v->t != PV_DICT && v->t != PV_TENSOR)
                return pk_bad(k, "BUILD on something that is not a dict or tensor");
            break;
        case 'Q': /* BINPERSID */
            FRS_TRY(pk_pop(k, &w));
            FRS_TRY(pk_persid(k, w, &v));
            FRS_TRY(pk_push(k, v));
            break;
        case 'q': /* BINPUT */
            FRS_TRY(pk_need(k, 1, &a));
            FRS_TRY(pk_memo_put(k, a[0]));
            break;
        case 'r': /* LONG_BINPUT */
            FRS_TRY(pk_need(k, 4, &a));
            FRS_TRY(pk_memo_put(k, rd32(a)));
            break;
        case 0x94: /* MEMOIZE */
            FRS_TRY(pk_memo_put(k, k->memo_next));
            break;
        case 'h': /* BINGET */
            FRS_TRY(pk_need(k, 1, &a));
            FRS_TRY(pk_memo_get(k, a[0]));
            break;
        case 'j': /* LONG_BINGET */
            FRS_TRY(pk_need(k, 4, &a));
            FRS_TRY(pk_memo_get(k, rd32(a)));
            break;
        default: {
            char what[96];
            snprintf(what, sizeof what, "unsupported pickle opcode 0x%02x%s%c%s", op,
                     op >= 0x20 && op < 0x7f ? " '" : "", op >= 0x20 && op < 0x7f ? op : ' ',
                     op >= 0x20 && op < 0x7f ? "'" : "");
            return pk_bad(k, what);
        }
        }
    }
    return FRS_ERR(FRS_ERR_FORMAT, "%s: data.pkl ends without a STOP opcode", k->file);
}

static enum frs_status pk_start(struct pk *k, struct tz_archive *ar)
{
    memset(k, 0, sizeof *k);
    const void *d;
    size_t n;
    FRS_TRY(tz_entry(ar, "data.pkl", &d, &n));
    k->file = ar->name;
    k->start = k->p = d;
    k->end = k->start + n;
    return FRS_OK;
}

static enum frs_status int_list_run(struct pk *k, int64_t **vals, size_t *n)
{
    struct pv *r = NULL;
    enum frs_status st = pk_run(k, &r);
    const char *name = k->file;
    if (st == FRS_OK && r->t != PV_LIST && r->t != PV_TUPLE)
        st = FRS_ERR(FRS_ERR_FORMAT, "%s: holds an object of type %s, not a list of token ids", name,
                     pv_type_name(r->t));
    if (st == FRS_OK) {
        *vals = malloc((r->n ? r->n : 1) * sizeof **vals);
        if (!*vals)
            st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory", name);
        for (size_t j = 0; st == FRS_OK && j < r->n; j++) {
            if (r->items[j]->t != PV_INT)
                st = FRS_ERR(FRS_ERR_FORMAT, "%s: entry %zu of the list has type %s, not int", name, j,
                             pv_type_name(r->items[j]->t));
            else
                (*vals)[j] = r->items[j]->i;
        }
        if (st == FRS_OK)
            *n = r->n;
        else {
            free(*vals);
            *vals = NULL;
        }
    }
    pk_free(k);
    return st;
}

enum frs_status tz_parse_int_list(struct tz_archive *ar, int64_t **vals, size_t *n)
{
    struct pk k;
    *vals = NULL;
    *n = 0;
    enum frs_status st = pk_start(&k, ar);
    if (st != FRS_OK)
        return st;
    return int_list_run(&k, vals, n);
}

enum frs_status tz_parse_int_list_pickle(const void *pkl, size_t size, const char *name, int64_t **vals,
                                         size_t *n)
{
    struct pk k;
    memset(&k, 0, sizeof k);
    *vals = NULL;
    *n = 0;
    k.file = name ? name : "(memory)";
    k.start = k.p = pkl;
    k.end = k.start + size;
    if (!pkl && size)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "tz_parse_int_list_pickle: NULL data");
    return int_list_run(&k, vals, n);
}

enum frs_status tz_load_int_list(const char *path, int64_t **vals, size_t *n)
{
    struct tz_archive *ar;
    *vals = NULL;
    *n = 0;
    FRS_TRY(tz_open(&ar, path));
    enum frs_status st = tz_parse_int_list(ar, vals, n);
    tz_close(ar);
    return st;
}

int64_t tz_tensor_numel(const struct tz_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

/* Check the tensor's extent against its storage; resolve the storage bytes. */
static enum frs_status tensor_resolve(struct tz_archive *ar, struct pv *tv, const char *name, struct tz_tensor *t)
{
    struct pv *s = tv->storage;
    t->dtype = s->dtype;
    t->storage_type = s->stype;
    t->ndim = tv->ndim;
    memcpy(t->shape, tv->shape, sizeof t->shape);
    memcpy(t->stride, tv->stride, sizeof t->stride);
    t->offset = tv->offset;
    t->storage_numel = s->i;
    int64_t numel = 1, last = tv->offset;
    for (int d = 0; d < tv->ndim; d++) {
        int64_t ext;
        if (__builtin_mul_overflow(numel, tv->shape[d], &numel))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s' has a size that overflows", ar->name, name);
        if (tv->shape[d] > 0 && (__builtin_mul_overflow(tv->shape[d] - 1, tv->stride[d], &ext) ||
                                 __builtin_add_overflow(last, ext, &last)))
            return FRS_ERR(FRS_ERR_FORMAT, "%s: tensor '%s' has strides that overflow", ar->name, name);
    }
    if (numel > 0 && last >= s->i)
        return FRS_ERR(FRS_ERR_FORMAT,
                       "%s: tensor '%s' reaches element %lld of its storage '%s' of %lld elements", ar->name,
                       name, (long long)last, s->s, (long long)s->i);
    char rel[300];
    snprintf(rel, sizeof rel, "data/%s", s->s);
    const void *d;
    size_t nbytes;
    FRS_TRY(tz_entry(ar, rel, &d, &nbytes));
    uint64_t want;
    if (__builtin_mul_overflow((uint64_t)s->i, (uint64_t)s->esz, &want) || nbytes < want)
        return FRS_ERR(FRS_ERR_FORMAT, "%s: storage '%s' of tensor '%s' has %zu bytes, %lld %s elements need more",
                       ar->name, rel, name, nbytes, (long long)s->i, s->stype);
    t->storage = d;
    return FRS_OK;
}

enum frs_status tz_state_dict_from_archive(struct tz_state_dict *sd, struct tz_archive *ar)
{
    struct pk k;
    struct pv *r = NULL;
    memset(sd, 0, sizeof *sd);
    sd->ar = ar;
    enum frs_status st = pk_start(&k, ar);
    if (st == FRS_OK)
        st = pk_run(&k, &r);
    if (st == FRS_OK && r->t != PV_DICT)
        st = FRS_ERR(FRS_ERR_FORMAT, "%s: holds an object of type %s, not a state_dict (a dict of tensors)", ar->name,
                     pv_type_name(r->t));
    if (st == FRS_OK) {
        sd->tensors = calloc(r->n ? r->n : 1, sizeof *sd->tensors);
        if (!sd->tensors)
            st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory", ar->name);
    }
    for (size_t j = 0; st == FRS_OK && j < r->n; j++) {
        struct pv *key = r->items[j], *val = r->vals[j];
        if (key->t != PV_STR) {
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: state_dict key %zu has type %s, not str", ar->name, j, pv_type_name(key->t));
            break;
        }
        if (val->t != PV_TENSOR) {
            st = FRS_ERR(FRS_ERR_FORMAT, "%s: state_dict entry '%s' has type %s, not tensor", ar->name, key->s,
                         pv_type_name(val->t));
            break;
        }
        for (int q = 0; q < sd->n; q++)
            if (!strcmp(sd->tensors[q].name, key->s)) {
                st = FRS_ERR(FRS_ERR_FORMAT, "%s: state_dict key '%s' appears twice", ar->name, key->s);
                break;
            }
        if (st != FRS_OK)
            break;
        struct tz_tensor *t = &sd->tensors[sd->n];
        t->name = strdup(key->s);
        if (!t->name) {
            st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory", ar->name);
            break;
        }
        sd->n++;
        st = tensor_resolve(ar, val, key->s, t);
    }
    pk_free(&k);
    if (st != FRS_OK)
        tz_state_dict_free(sd);
    return st;
}

enum frs_status tz_load_state_dict(struct tz_state_dict *sd, const char *path)
{
    struct tz_archive *ar;
    memset(sd, 0, sizeof *sd);
    FRS_TRY(tz_open(&ar, path));
    return tz_state_dict_from_archive(sd, ar);
}

void tz_state_dict_free(struct tz_state_dict *sd)
{
    if (!sd)
        return;
    for (int i = 0; i < sd->n; i++)
        free(sd->tensors[i].name);
    free(sd->tensors);
    tz_close(sd->ar);
    memset(sd, 0, sizeof *sd);
}

enum frs_status tz_tensor_copy(const struct tz_tensor *t, void *out)
{
    if (t->dtype == FRS_DTYPE_COUNT || !t->storage)
        return FRS_ERR(FRS_ERR_DTYPE, "tensor '%s': storage type torch.%s is not supported (F32, F16, BF16, I32, I64)",
                       t->name ? t->name : "?", t->storage_type ? t->storage_type : "?");
    size_t esz = frs_dtype_size(t->dtype);
    int64_t numel = tz_tensor_numel(t);
    if (numel == 0)
        return FRS_OK;
    const uint8_t *src = t->storage;
    uint8_t *dst = out;
    /* innermost run: the last dimension when its stride is 1 */
    int nd = t->ndim;
    int64_t inner = 1, inner_stride = 1;
    if (nd > 0) {
        inner = t->shape[nd - 1];
        inner_stride = t->stride[nd - 1];
    }
    int outer_nd = nd > 0 ? nd - 1 : 0;
    int64_t idx[TZ_MAX_DIMS] = {0};
    int64_t rows = inner > 0 ? numel / inner : 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t base = t->offset;
        for (int d = 0; d < outer_nd; d++)
            base += idx[d] * t->stride[d];
        if (inner_stride == 1) {
            memcpy(dst, src + (size_t)base * esz, (size_t)inner * esz);
        } else {
            for (int64_t c = 0; c < inner; c++)
                memcpy(dst + (size_t)c * esz, src + (size_t)(base + c * inner_stride) * esz, esz);
        }
        dst += (size_t)inner * esz;
        for (int d = outer_nd - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d])
                break;
            idx[d] = 0;
        }
    }
    return FRS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * writer: a list of ints, as torch.save writes it
 * ------------------------------------------------------------------------------------------- */

struct buf {
    uint8_t *p;
    size_t n, cap;
    int oom;
};

static void buf_put(struct buf *b, const void *d, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n)
            nc *= 2;
        uint8_t *q = realloc(b->p, nc);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void buf_u8(struct buf *b, uint8_t v) { buf_put(b, &v, 1); }
static void buf_u16(struct buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    buf_put(b, x, 2);
}
static void buf_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_put(b, x, 4);
}

static void pickle_int(struct buf *b, int64_t v)
{
    if (v >= 0 && v < 256) {
        buf_u8(b, 'K');
        buf_u8(b, (uint8_t)v);
    } else if (v >= 0 && v < 65536) {
        buf_u8(b, 'M');
        buf_u16(b, (uint16_t)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        buf_u8(b, 'J');
        buf_u32(b, (uint32_t)(int32_t)v);
    } else { /* LONG1: minimal two's complement, as Python writes it */
        uint8_t x[8];
        uint64_t u;
        memcpy(&u, &v, sizeof u);
        int n = 8;
        for (int j = 0; j < 8; j++)
            x[j] = (uint8_t)(u >> (8 * j));
        while (n > 1 && ((x[n - 1] == 0 && !(x[n - 2] & 0x80)) || (x[n - 1] == 0xff && (x[n - 2] & 0x80))))
            n--;
        buf_u8(b, 0x8a);
        buf_u8(b, (uint8_t)n);
        buf_put(b, x, (size_t)n);
    }
}

struct zrec {
    char name[300];
    uint32_t crc, size;
    uint32_t off;
};

static void zip_add(struct buf *z, struct zrec *r, const char *name, const void *data, size_t n)
{
    snprintf(r->name, sizeof r->name, "%s", name);
    r->crc = (uint32_t)crc32(0L, data, (uInt)n);
    r->size = (uint32_t)n;
    r->off = (uint32_t)z->n;
    size_t nlen = strlen(r->name);
    size_t pad = (64 - (z->n + 30 + nlen + 4) % 64) % 64; /* data 64-byte aligned, as torch does */
    buf_u32(z, 0x04034b50u);
    buf_u16(z, 20);     /* version needed */
    buf_u16(z, 0x0800); /* UTF-8 names */
    buf_u16(z, 0);      /* stored */
    buf_u16(z, 0);
    buf_u16(z, 0x21); /* 1980-01-01 */
    buf_u32(z, r->crc);
    buf_u32(z, r->size);
    buf_u32(z, r->size);
    buf_u16(z, (uint16_t)nlen);
    buf_u16(z, (uint16_t)(4 + pad));
    buf_put(z, r->name, nlen);
    buf_u16(z, 0x4246); /* "FB" padding field */
    buf_u16(z, (uint16_t)pad);
    for (size_t j = 0; j < pad; j++)
        buf_u8(z, 'Z');
    buf_put(z, data, n);
}

enum frs_status tz_write_int_list(const char *path, const char *prefix, const int64_t *vals, size_t n)
{
    struct buf pk = {0}, z = {0};
    if (!prefix || !*prefix)
        prefix = "archive";
    if (strlen(prefix) > 200 || strchr(prefix, '/'))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "%s: archive folder name '%s' is not valid", path, prefix);
    /* pickle protocol 2: PROTO 2, EMPTY_LIST, BINPUT 0, (MARK items APPENDS)*, STOP; batches of
     * 1000 as Python's pickler writes them */
    buf_u8(&pk, 0x80);
    buf_u8(&pk, 2);
    buf_u8(&pk, ']');
    buf_u8(&pk, 'q');
    buf_u8(&pk, 0);
    for (size_t i = 0; i < n; i += 1000) {
        size_t end = i + 1000 < n ? i + 1000 : n;
        if (end - i == 1) {
            pickle_int(&pk, vals[i]);
            buf_u8(&pk, 'a');
            continue;
        }
        buf_u8(&pk, '(');
        for (size_t j = i; j < end; j++)
            pickle_int(&pk, vals[j]);
        buf_u8(&pk, 'e');
    }
    buf_u8(&pk, '.');

    struct zrec recs[5];
    char nm[300];
    const struct {
        const char *rel;
        const void *d;
        size_t n;
    } ents[5] = {
        {"data.pkl", pk.p, pk.n}, {".format_version", "1", 1}, {".storage_alignment", "64", 2},
        {"byteorder", "little", 6}, {"version", "3\n", 2},
    };
    for (int e = 0; e < 5; e++) {
        snprintf(nm, sizeof nm, "%s/%s", prefix, ents[e].rel);
        zip_add(&z, &recs[e], nm, ents[e].d ? ents[e].d : "", ents[e].n);
    }
    size_t cd_off = z.n;
    for (int e = 0; e < 5; e++) {
        size_t nlen = strlen(recs[e].name);
        buf_u32(&z, 0x02014b50u);
        buf_u16(&z, 0x031e); /* made by: Unix, 3.0 */
        buf_u16(&z, 20);
        buf_u16(&z, 0x0800);
        buf_u16(&z, 0);
        buf_u16(&z, 0);
        buf_u16(&z, 0x21);
        buf_u32(&z, recs[e].crc);
        buf_u32(&z, recs[e].size);
        buf_u32(&z, recs[e].size);
        buf_u16(&z, (uint16_t)nlen);
        buf_u16(&z, 0);
        buf_u16(&z, 0);
        buf_u16(&z, 0);
        buf_u16(&z, 0);
        buf_u32(&z, 0100644u << 16);
        buf_u32(&z, recs[e].off);
        buf_put(&z, recs[e].name, nlen);
    }
    size_t cd_size = z.n - cd_off;
    buf_u32(&z, 0x06054b50u);
    buf_u16(&z, 0);
    buf_u16(&z, 0);
    buf_u16(&z, 5);
    buf_u16(&z, 5);
    buf_u32(&z, (uint32_t)cd_size);
    buf_u32(&z, (uint32_t)cd_off);
    buf_u16(&z, 0);
    enum frs_status st = FRS_OK;
    if (pk.oom || z.oom || z.n > 0xffffffffu) {
        st = FRS_ERR(FRS_ERR_OOM, "%s: out of memory (or over 4 GiB) writing %zu ids", path, n);
        goto out;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        st = FRS_ERR(FRS_ERR_IO, "%s: cannot create", path);
        goto out;
    }
    size_t wr = fwrite(z.p, 1, z.n, f);
    if (fclose(f) != 0 || wr != z.n)
        st = FRS_ERR(FRS_ERR_IO, "%s: write failed", path);
out:
    free(pk.p);
    free(z.p);
    return st;
}
