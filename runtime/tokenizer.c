/* tokenizer.c - Hugging Face tokenizer.json byte-level BPE as Llama 3 uses it, and the Llama-3 chat
 * format (the contract is runtime/tokenizer.h).
 *
 * Pipeline of tokenizer_encode, as HF tokenizers runs it:
 *   1. added tokens written in the text are split out (leftmost-longest, as HF's Aho-Corasick
 *      matcher: first the tokens with normalized=false, then the others, with lstrip / rstrip /
 *      single_word applied); they map to their ids directly;
 *   2. each remaining segment goes through the pre-tokenizer steps: Split(Regex, Isolated) with
 *      PCRE2 (UTF + UCP, JIT when available) and ByteLevel (optional prefix space, optional GPT-2
 *      regex); the byte-level character mapping itself is implicit: the BPE works on raw bytes and
 *      the vocabulary is keyed by the bytes its byte-level strings stand for;
 *   3. BPE per pre-token: with ignore_merges a pre-token found in the vocabulary is one id;
 *      otherwise the lowest-rank-merge loop (a heap, as HF's Word::merge_all); results of the merge
 *      loop are cached per pre-token (shared cache, one mutex);
 *   4. the TemplateProcessing post-processor's special tokens around the ids (add_special).
 *
 * Invalid UTF-8 in the input does not fail and cannot crash: the regexes are compiled with
 * PCRE2_MATCH_INVALID_UTF, so an invalid sequence is never part of a match; it is left between
 * matches (Isolated keeps such gaps as pre-tokens of their own) and byte-level BPE encodes its bytes
 * exactly, so the concatenated token bytes always equal the input bytes. (HF has no such case: it
 * takes Python str.)
 *
 * The patterns are HF's (Oniguruma) syntax; PCRE2 reads them as they are except \s / \S, rewritten
 * to the White_Space set that Oniguruma uses (PCRE2's \s also takes U+180E). Known difference:
 * PCRE2 10.42 has Unicode 14 tables while HF's are newer, so characters assigned since Unicode 15
 * (e.g. CJK Extension H, U+31350..) can pre-tokenize differently. single_word uses the Rust regex
 * crate's \w, as HF does.
 *
 * tokenizer_decode follows HF's ByteLevel decoder: each token's characters map back to bytes (a
 * token with a character outside the byte table contributes its UTF-8 as is), the bytes of all
 * tokens are joined and invalid UTF-8 becomes U+FFFD per maximal invalid subpart (Rust's
 * String::from_utf8_lossy). Unknown ids are an error (HF skips them silently).
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK_MAX_ID (1 << 24)      /* ids above this are refused (they would size the id table) */
#define TOK_CACHE_MAX_KEY 256     /* pre-tokens up to this many bytes are cached */
#define TOK_CACHE_MAX_ENTRIES (1u << 18)
#define TOK_MAX_STEPS 16
#define TOK_JIT_STACK_MAX (32u << 20)

/* a word character for single_word: the Rust regex crate's \\w (HF tests ^\\w and \\w$ with it) */
static const char WORD_CLASS[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200c}\\x{200d}]";

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---- arena: stable storage for strings, freed at once ------------------------------------------ */

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(8) char data[];
};

struct arena {
    struct arena_block *head;
};

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        struct arena_block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static void arena_free(struct arena *a)
{
    while (a->head) {
        struct arena_block *b = a->head;
        a->head = b->next;
        free(b);
    }
}

/* ---- hash maps: byte strings -> int32, id pairs -> (rank, id) ---------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

struct strmap_slot {
    const char *key; /* NULL: empty */
    uint32_t len;
    int32_t val;
    uint64_t hash;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap, n; /* cap: a power of two */
};

static int strmap_init(struct strmap *m, size_t expect)
{
    size_t cap = 16;
    while (cap < expect * 2)
        cap <<= 1;
    m->slots = calloc(cap, sizeof *m->slots);
    m->cap = cap;
    m->n = 0;
    return m->slots != NULL;
}

static struct strmap_slot *strmap_find(const struct strmap *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

static int32_t strmap_get(const struct strmap *m, const char *key, size_t len)
{
    if (!m->slots)
        return -1;
    struct strmap_slot *s = strmap_find(m, key, len, hash_bytes(key, len));
    return s->key ? s->val : -1;
}

/* key must stay valid as long as the map; a present key gets the new value. */
static int strmap_put(struct strmap *m, const char *key, size_t len, int32_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct strmap big;
        big.cap = m->cap * 2;
        big.n = m->n;
        big.slots = calloc(big.cap, sizeof *big.slots);
        if (!big.slots)
            return 0;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].key)
                *strmap_find(&big, m->slots[i].key, m->slots[i].len, m->slots[i].hash) = m->slots[i];
        free(m->slots);
        *m = big;
    }
    uint64_t h = hash_bytes(key, len);
    struct strmap_slot *s = strmap_find(m, key, len, h);
    if (!s->key)
        m->n++;
    s->key = key;
    s->len = (uint32_t)len;
    s->hash = h;
    s->val = val;
    return 1;
}

struct pairmap_slot {
    uint64_t key; /* UINT64_MAX: empty */
    uint32_t rank;
    int32_t id;
};

struct pairmap {
    struct pairmap_slot *slots;
    size_t cap;
};

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

static size_t pair_slot(const struct pairmap *m, uint64_t key)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & mask;; i = (i + 1) & mask)
        if (m->slots[i].key == key || m->slots[i].key == UINT64_MAX)
            return i;
}

static int pairmap_init(struct pairmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots)
        return 0;
    for (size_t i = 0; i < cap; i++)
        m->slots[i].key = UINT64_MAX;
    m->cap = cap;
    return 1;
}

static const struct pairmap_slot *pairmap_get(const struct pairmap *m, int32_t a, int32_t b)
{
    if (!m->cap)
        return NULL;
    const struct pairmap_slot *s = &m->slots[pair_slot(m, pair_key(a, b))];
    return s->key == UINT64_MAX ? NULL : s;
}

/* ---- the tokenizer ----------------------------------------------------------------------------- */

struct tok_entry {
    const char *str;   /* the token as written in tokenizer.json (NULL: no token has this id) */
    const char *bytes; /* what it decodes to */
    uint32_t str_len, bytes_len;
    uint8_t special;
};

struct added_tok {
    const char *content;
    size_t len;
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
};

enum pretok_kind { PRETOK_SPLIT, PRETOK_PREFIX_SPACE };

struct pretok_step {
    enum pretok_kind kind;
    pcre2_code *re;
};

struct cache_slot {
    const char *key; /* NULL: empty */
    const int32_t *ids;
    uint32_t klen, nids;
    uint64_t hash;
};

/* what encoding may change: the pre-token cache and a spare PCRE2 match context */
struct match_ctx {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    struct match_ctx *next;
};

struct tok_shared {
    pthread_mutex_t mu;
    struct cache_slot *slots;
    size_t cap, n;
    struct arena mem;
    struct match_ctx *spare;
};

struct frs_tokenizer {
    char *path;
    struct arena mem;
    int n_ids;               /* largest id + 1 */
    struct tok_entry *ids;   /* [n_ids] */
    struct strmap vocab;     /* raw bytes -> id, model vocabulary (encoding) */
    struct strmap by_str;    /* token string -> id, model vocabulary then added tokens */
    struct pairmap merges;   /* (left id, right id) -> (rank, merged id) */
    int32_t byte_id[256];    /* id of each single byte, -1 if none */
    int ignore_merges, fuse_unk;
    int32_t unk_id;
    struct added_tok *added;
    int n_added;
    /* added-token matcher: per set (0: normalized=false, 1: normalized=true) and first byte, the
     * added tokens longest first */
    int *bucket_items[2];
    int bucket_start[2][257];
    int set_count[2];
    int set_single_first[2]; /* the only first byte of the set, or -1 */
    pcre2_code *word_re;     /* \w, for single_word */
    int n_steps;
    struct pretok_step steps[TOK_MAX_STEPS];
    int32_t *prefix, *suffix; /* post-processor ids around the sequence */
    int n_prefix, n_suffix;
    int32_t bos_id;
    struct tok_shared *shared;
};

/* ---- byte-level table (GPT-2 bytes_to_unicode) ------------------------------------------------- */

static uint16_t byte_to_cp[256];
static int16_t cp_to_byte[512];
static pthread_once_t byte_table_once = PTHREAD_ONCE_INIT;

static void byte_table_init(void)
{
    int n = 0;
    for (int i = 0; i < 512; i++)
        cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        byte_to_cp[b] = (uint16_t)(printable ? b : 256 + n++);
        cp_to_byte[byte_to_cp[b]] = (int16_t)b;
    }
}

/* A UTF-8 lead byte c >= 0x80: the sequence length (0 if c cannot start one) and the range
 * [*lo, *hi] allowed for the second byte (the rest are 0x80..0xBF). */
static int utf8_lead(unsigned c, unsigned *lo, unsigned *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        *lo = c == 0xE0 ? 0xA0 : 0x80;
        *hi = c == 0xED ? 0x9F : 0xBF;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        *lo = c == 0xF0 ? 0x90 : 0x80;
        *hi = c == 0xF4 ? 0x8F : 0xBF;
        return 4;
    }
    return 0;
}

/* Decode one UTF-8 character at s[i] (n bytes in all). Returns its length, or 0 if the bytes
 * there are not a valid character. */
static int utf8_char(const unsigned char *s, size_t n, size_t i, uint32_t *cp)
{
    unsigned c = s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    unsigned lo, hi;
    const int len = utf8_lead(c, &lo, &hi);
    if (!len)
        return 0;
    if (i + (size_t)len > n)
        return 0;
    uint32_t v = c & (0x7Fu >> len);
    for (int k = 1; k < len; k++) {
        unsigned b = s[i + k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            return 0;
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return len;
}

/* Length of the valid prefix of an invalid sequence at s[i] (>= 1): what one U+FFFD replaces. */
static size_t utf8_bad_len(const unsigned char *s, size_t n, size_t i)
{
    unsigned c = s[i];
    unsigned lo, hi;
    const int len = utf8_lead(c, &lo, &hi);
    if (!len)
        return 1;
    size_t k = 1;
    while ((int)k < len && i + k < n) {
        unsigned b = s[i + k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            break;
        k++;
    }
    return k;
}

/* Rust char::is_whitespace (White_Space); python adds U+001C..U+001F (str.isspace). */
static int is_space_cp(uint32_t c, int python)
{
    if ((c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
        (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
        c == 0x3000)
        return 1;
    return python && c >= 0x1C && c <= 0x1F;
}

/* Start of the character ending just before s[i] (i > 0), or i - 1 if that is no valid character. */
static size_t utf8_prev(const unsigned char *s, size_t i)
{
    size_t j = i - 1;
    while (j > 0 && i - j < 4 && (s[j] & 0xC0) == 0x80)
        j--;
    uint32_t cp;
    if (utf8_char(s, i, j, &cp) == (int)(i - j))
        return j;
    return i - 1;
}

/* Bytes a token string stands for under the byte-level table: 1 with *out filled (out has room
 * for len bytes), 0 when a character is outside the table. */
static int bytelevel_to_bytes(const char *str, size_t len, char *out, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, o = 0;
    while (i < len) {
        uint32_t cp;
        int l = utf8_char(s, len, i, &cp);
        if (!l || cp >= 512 || cp_to_byte[cp] < 0)
            return 0;
        out[o++] = (char)cp_to_byte[cp];
        i += (size_t)l;
    }
    *out_len = o;
    return 1;
}

/* ---- loading ------------------------------------------------------------------------------------ */

#define LOAD_ERR(st, ...) FRS_ERR(st, __VA_ARGS__)

static enum frs_status read_file(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return LOAD_ERR(FRS_ERR_IO, "%s: cannot open tokenizer file: %s", path, strerror(errno));
    char *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            cap = cap ? cap * 2 : 1u << 22;
            char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                fclose(f);
                return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory reading the file", path);
            }
            b = nb;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return LOAD_ERR(FRS_ERR_IO, "%s: read error", path);
    }
    *buf = b;
    *len = n;
    return FRS_OK;
}

static const char *json_type(const cJSON *j)
{
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(j, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

/* Optional boolean field: absent/null gives def; anything else than a bool is a format error. */
static enum frs_status json_bool(const char *path, const cJSON *obj, const char *field, const char *where,
                                 int def, int *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!j || cJSON_IsNull(j)) {
        *out = def;
        return FRS_OK;
    }
    if (!cJSON_IsBool(j))
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s.%s' must be true or false", path, where, field);
    *out = cJSON_IsTrue(j);
    return FRS_OK;
}

static enum frs_status json_id(const char *path, const cJSON *j, const char *what, int32_t *id)
{
    if (!cJSON_IsNumber(j) || j->valuedouble < 0 || j->valuedouble >= TOK_MAX_ID ||
        j->valuedouble != (double)(int32_t)j->valuedouble)
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: %s must be an integer id in [0, %d)", path, what, TOK_MAX_ID);
    *id = (int32_t)j->valuedouble;
    return FRS_OK;
}

/* HF compiles its patterns with Oniguruma, whose \s (Unicode) is the White_Space property; PCRE2's
 * \s with UCP also takes U+180E (MONGOLIAN VOWEL SEPARATOR, no longer a space since Unicode 6.3).
 * So \s and \S are written out as classes of exactly the White_Space characters. Inside a class
 * only \s is rewritten (a \S there is left to PCRE2). Returns a malloc'ed pattern, *len updated. */
#define WHITE_SPACE_SET "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

static char *regex_from_onig(const char *p, size_t *len)
{
    static const char set[] = WHITE_SPACE_SET;
    size_t n = *len, o = 0;
    char *out = malloc(n * (sizeof set + 3) + 1);
    if (!out)
        return NULL;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char e = p[++i];
            if (e == 's' || (e == 'S' && !in_class)) {
                if (!in_class)
                    out[o++] = '[';
                if (e == 'S')
                    out[o++] = '^';
                memcpy(out + o, set, sizeof set - 1);
                o += sizeof set - 1;
                if (!in_class)
                    out[o++] = ']';
            } else {
                out[o++] = c;
                out[o++] = e;
            }
            continue;
        }
        out[o++] = c;
        if (!in_class && c == '[') {
            in_class = 1;
            if (i + 1 < n && p[i + 1] == '^')
                out[o++] = p[++i];
            if (i + 1 < n && p[i + 1] == ']') /* a leading ']' is literal */
                out[o++] = p[++i];
        } else if (in_class && c == '[' && i + 1 < n && p[i + 1] == ':') { /* [:alpha:] */
            while (i + 1 < n && !(p[i] == ':' && p[i + 1] == ']'))
                out[o++] = p[++i];
            if (i + 1 < n)
                out[o++] = p[++i];
        } else if (in_class && c == ']')
            in_class = 0;
    }
    out[o] = 0;
    *len = o;
    return out;
}

static enum frs_status compile_regex(struct frs_tokenizer *t, const char *pattern, size_t len, int literal,
                                     const char *field, pcre2_code **out)
{
    int err;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : 0);
    char *conv = literal ? NULL : regex_from_onig(pattern, &len);
    if (!literal && !conv)
        return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory", t->path);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(conv ? conv : pattern), len, opts, &err, &off, NULL);
    free(conv);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s': PCRE2 cannot compile the pattern: %s at offset %zu",
                        t->path, field, (const char *)msg, (size_t)off);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* no JIT: the interpreter runs it */
    *out = re;
    return FRS_OK;
}

static enum frs_status add_step(struct frs_tokenizer *t, enum pretok_kind kind, pcre2_code *re)
{
    if (t->n_steps == TOK_MAX_STEPS) {
        pcre2_code_free(re);
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'pre_tokenizer': more than %d steps", t->path,
                        TOK_MAX_STEPS);
    }
    t->steps[t->n_steps].kind = kind;
    t->steps[t->n_steps].re = re;
    t->n_steps++;
    return FRS_OK;
}

static enum frs_status load_bytelevel_pretok(struct frs_tokenizer *t, const cJSON *j, const char *where)
{
    int prefix = 0, use_regex = 0;
    FRS_TRY(json_bool(t->path, j, "add_prefix_space", where, 1, &prefix));
    FRS_TRY(json_bool(t->path, j, "use_regex", where, 1, &use_regex));
    if (prefix)
        FRS_TRY(add_step(t, PRETOK_PREFIX_SPACE, NULL));
    if (use_regex) {
        pcre2_code *re;
        FRS_TRY(compile_regex(t, GPT2_PATTERN, sizeof GPT2_PATTERN - 1, 0, where, &re));
        FRS_TRY(add_step(t, PRETOK_SPLIT, re));
    }
    return FRS_OK;
}

static enum frs_status load_split_pretok(struct frs_tokenizer *t, const cJSON *j, const char *where)
{
    char field[96];
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
    const cJSON *re_s = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
    const cJSON *str_s = cJSON_GetObjectItemCaseSensitive(pat, "String");
    const cJSON *beh = cJSON_GetObjectItemCaseSensitive(j, "behavior");
    int invert = 0;
    snprintf(field, sizeof field, "%s.pattern", where);
    if (!cJSON_IsString(re_s) && !cJSON_IsString(str_s))
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s' must be {\"Regex\": ...} or {\"String\": ...}",
                        t->path, field);
    if (!cJSON_IsString(beh))
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s.behavior' missing", t->path, where);
    if (strcmp(beh->valuestring, "Isolated") != 0)
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s.behavior' is '%s'; only 'Isolated' is supported",
                        t->path, where, beh->valuestring);
    FRS_TRY(json_bool(t->path, j, "invert", where, 0, &invert));
    if (invert)
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s.invert' is true; not supported", t->path, where);
    const char *p = cJSON_IsString(re_s) ? re_s->valuestring : str_s->valuestring;
    pcre2_code *re;
    FRS_TRY(compile_regex(t, p, strlen(p), !cJSON_IsString(re_s), field, &re));
    return add_step(t, PRETOK_SPLIT, re);
}

static enum frs_status load_pre_tokenizer(struct frs_tokenizer *t, const cJSON *root)
{
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const char *ty = json_type(pt);
    if (!pt || cJSON_IsNull(pt))
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'pre_tokenizer' is null; a ByteLevel pre-tokenizer is "
                        "required (only byte-level BPE is supported)", t->path);
    if (!ty)
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'pre_tokenizer.type' missing", t->path);
    if (strcmp(ty, "ByteLevel") == 0)
        return load_bytelevel_pretok(t, pt, "pre_tokenizer");
    if (strcmp(ty, "Sequence") != 0)
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'pre_tokenizer.type' is '%s'; supported: ByteLevel, "
                        "Sequence of Split(Isolated) then ByteLevel", t->path, ty);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
    if (!cJSON_IsArray(list))
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'pre_tokenizer.pretokenizers' missing", t->path);
    int n = cJSON_GetArraySize(list), i = 0, have_bl = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, list)
    {
        char where[64];
        snprintf(where, sizeof where, "pre_tokenizer.pretokenizers[%d]", i);
        const char *ity = json_type(it);
        if (!ity)
            return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s.type' missing", t->path, where);
        if (strcmp(ity, "Split") == 0) {
            FRS_TRY(load_split_pretok(t, it, where));
        } else if (strcmp(ity, "ByteLevel") == 0) {
            if (i != n - 1)
                return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s': ByteLevel must be the last pre-tokenizer",
                                t->path, where);
            FRS_TRY(load_bytelevel_pretok(t, it, where));
            have_bl = 1;
        } else
            return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s.type' is '%s'; supported: Split, ByteLevel",
                            t->path, where, ity);
        i++;
    }
    if (!have_bl)
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'pre_tokenizer' has no ByteLevel step; only byte-level "
                        "BPE is supported", t->path);
    return FRS_OK;
}

static enum frs_status set_token(struct frs_tokenizer *t, int32_t id, const char *str, size_t len,
                                 int special)
{
    struct tok_entry *e = &t->ids[id];
    char *bytes = arena_alloc(&t->mem, len + 1);
    if (!bytes)
        return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory", t->path);
    size_t blen;
    if (!bytelevel_to_bytes(str, len, bytes, &blen)) {
        memcpy(bytes, str, len);
        blen = len;
    }
    e->str = str;
    e->str_len = (uint32_t)len;
    e->bytes = bytes;
    e->bytes_len = (uint32_t)blen;
    e->special = (uint8_t)special;
    return FRS_OK;
}

static enum frs_status load_model(struct frs_tokenizer *t, const cJSON *root, const cJSON *added)
{
    const char *path = t->path;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model))
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'model' missing or not an object", path);
    const char *ty = json_type(model);
    if (ty && strcmp(ty, "BPE") != 0)
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'model.type' is '%s'; only 'BPE' is supported", path, ty);
    int byte_fallback = 0;
    FRS_TRY(json_bool(path, model, "byte_fallback", "model", 0, &byte_fallback));
    if (byte_fallback)
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'model.byte_fallback' is true; not supported", path);
    FRS_TRY(json_bool(path, model, "ignore_merges", "model", 0, &t->ignore_merges));
    FRS_TRY(json_bool(path, model, "fuse_unk", "model", 0, &t->fuse_unk));
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (drop && !cJSON_IsNull(drop) && !(cJSON_IsNumber(drop) && drop->valuedouble == 0.0))
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'model.dropout' is set; BPE dropout is not supported", path);
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (a && !cJSON_IsNull(a) && !(cJSON_IsString(a) && a->valuestring[0] == 0))
            return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'model.%s' is set; not supported", path, affixes[i]);
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab))
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'model.vocab' missing or not an object", path);
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (merges && !cJSON_IsNull(merges) && !cJSON_IsArray(merges))
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'model.merges' must be a list", path);

    /* size the id table: largest id of the vocabulary and the added tokens */
    int32_t max_id = -1, id = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab)
    {
        char what[96];
        snprintf(what, sizeof what, "field 'model.vocab' entry \"%.40s\"", it->string);
        FRS_TRY(json_id(path, it, what, &id));
        if (id > max_id)
            max_id = id;
    }
    int ai = 0;
    cJSON_ArrayForEach(it, added)
    {
        char what[64];
        snprintf(what, sizeof what, "field 'added_tokens[%d].id'", ai++);
        FRS_TRY(json_id(path, cJSON_GetObjectItemCaseSensitive(it, "id"), what, &id));
        if (id > max_id)
            max_id = id;
    }
    t->n_ids = max_id + 1;
    t->ids = calloc((size_t)t->n_ids + 1, sizeof *t->ids);
    size_t nv = (size_t)cJSON_GetArraySize(vocab);
    if (!t->ids || !strmap_init(&t->vocab, nv) || !strmap_init(&t->by_str, nv + 512))
        return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory for the vocabulary", path);

    cJSON_ArrayForEach(it, vocab)
    {
        size_t len = strlen(it->string);
        char *s = arena_strndup(&t->mem, it->string, len);
        if (!s)
            return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory", path);
        id = (int32_t)it->valuedouble;
        FRS_TRY(set_token(t, id, s, len, 0));
        size_t blen;
        char *b = arena_alloc(&t->mem, len + 1);
        if (!b || !strmap_put(&t->by_str, s, len, id))
            return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory", path);
        if (bytelevel_to_bytes(s, len, b, &blen) && blen > 0 && !strmap_put(&t->vocab, b, blen, id))
            return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    }
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = strmap_get(&t->vocab, &c, 1);
    }
    t->unk_id = -1;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) {
        t->unk_id = strmap_get(&t->by_str, unk->valuestring, strlen(unk->valuestring));
        if (t->unk_id < 0)
            return LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'model.unk_token' (\"%s\") is not in 'model.vocab'", path,
                            unk->valuestring);
    }

    /* merges: "a b" strings or ["a", "b"] pairs; rank = position (a repeated pair keeps the last) */
    int nm = merges ? cJSON_GetArraySize(merges) : 0;
    if (!pairmap_init(&t->merges, (size_t)nm))
        return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory for the merges", path);
    char *cat = NULL;
    size_t cat_cap = 0;
    int rank = 0;
    enum frs_status st = FRS_OK;
    cJSON_ArrayForEach(it, merges)
    {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(it)) {
            const char *sp = strchr(it->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'model.merges[%d]' (\"%.60s\") must be two tokens "
                              "separated by one space", path, rank, it->valuestring);
                break;
            }
            a = it->valuestring;
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(it->child) &&
                   cJSON_IsString(it->child->next)) {
            a = it->child->valuestring;
            la = strlen(a);
            b = it->child->next->valuestring;
            lb = strlen(b);
        } else {
            st = LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'model.merges[%d]' must be \"a b\" or [\"a\", \"b\"]", path,
                          rank);
            break;
        }
        if (la + lb + 1 > cat_cap) {
            cat_cap = (la + lb + 1) * 2;
            char *nc = realloc(cat, cat_cap);
            if (!nc) {
                st = LOAD_ERR(FRS_ERR_OOM, "%s: out of memory", path);
                break;
            }
            cat = nc;
        }
        memcpy(cat, a, la);
        memcpy(cat + la, b, lb);
        int32_t ia = strmap_get(&t->by_str, a, la), ib = strmap_get(&t->by_str, b, lb);
        int32_t im = strmap_get(&t->by_str, cat, la + lb);
        if (ia < 0 || ib < 0 || im < 0) {
            st = LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'model.merges[%d]': token \"%.*s\" is not in 'model.vocab'",
                          path, rank, (int)(ia < 0 ? la : ib < 0 ? lb : la + lb),
                          ia < 0 ? a : ib < 0 ? b : cat);
            break;
        }
        struct pairmap_slot *s = &t->merges.slots[pair_slot(&t->merges, pair_key(ia, ib))];
        s->key = pair_key(ia, ib);
        s->rank = (uint32_t)rank;
        s->id = im;
        rank++;
    }
    free(cat);
    return st;
}

static enum frs_status load_added(struct frs_tokenizer *t, const cJSON *added)
{
    const char *path = t->path;
    int n = cJSON_GetArraySize(added), i = 0;
    t->added = calloc((size_t)n + 1, sizeof *t->added);
    if (!t->added)
        return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    const cJSON *it;
    cJSON_ArrayForEach(it, added)
    {
        char where[48];
        snprintf(where, sizeof where, "added_tokens[%d]", i);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsString(c))
            return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s.content' missing", path, where);
        struct added_tok *a = &t->added[t->n_added];
        int sp = 0, ls = 0, rs = 0, sw = 0, norm = 0;
        FRS_TRY(json_bool(path, it, "special", where, 0, &sp));
        FRS_TRY(json_bool(path, it, "lstrip", where, 0, &ls));
        FRS_TRY(json_bool(path, it, "rstrip", where, 0, &rs));
        FRS_TRY(json_bool(path, it, "single_word", where, 0, &sw));
        FRS_TRY(json_bool(path, it, "normalized", where, !sp, &norm));
        a->id = (int32_t)cJSON_GetObjectItemCaseSensitive(it, "id")->valuedouble; /* checked in load_model */
        a->len = strlen(c->valuestring);
        char *s = arena_strndup(&t->mem, c->valuestring, a->len);
        if (!s)
            return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory", path);
        a->content = s;
        a->special = (uint8_t)sp;
        a->lstrip = (uint8_t)ls;
        a->rstrip = (uint8_t)rs;
        a->single_word = (uint8_t)sw;
        a->normalized = (uint8_t)norm;
        FRS_TRY(set_token(t, a->id, s, a->len, sp));
        if (!strmap_put(&t->by_str, s, a->len, a->id))
            return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory", path);
        if (sw && !t->word_re)
            FRS_TRY(compile_regex(t, WORD_CLASS, sizeof WORD_CLASS - 1, 0, "added_tokens.single_word", &t->word_re));
        if (a->len > 0)
            t->n_added++;
        i++;
    }
    /* matcher buckets: per set and first byte, longest first (stable: earlier entries first) */
    for (int set = 0; set < 2; set++) {
        int *items = calloc((size_t)t->n_added + 1, sizeof *items);
        if (!items)
            return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory", path);
        t->bucket_items[set] = items;
        int cnt[257] = {0};
        for (int k = 0; k < t->n_added; k++)
            if (t->added[k].normalized == set)
                cnt[(unsigned char)t->added[k].content[0] + 1]++;
        for (int b = 0; b < 256; b++)
            cnt[b + 1] += cnt[b];
        memcpy(t->bucket_start[set], cnt, sizeof cnt);
        int fill[256];
        for (int b = 0; b < 256; b++)
            fill[b] = cnt[b];
        for (int k = 0; k < t->n_added; k++) {
            if (t->added[k].normalized != set)
                continue;
            int b = (unsigned char)t->added[k].content[0];
            int pos = fill[b]++;
            while (pos > cnt[b] && t->added[items[pos - 1]].len < t->added[k].len) {
                items[pos] = items[pos - 1];
                pos--;
            }
            items[pos] = k;
        }
        t->set_count[set] = cnt[256];
        t->set_single_first[set] = -1;
        int distinct = 0;
        for (int b = 0; b < 256; b++)
            if (cnt[b + 1] > cnt[b]) {
                distinct++;
                t->set_single_first[set] = b;
            }
        if (distinct != 1)
            t->set_single_first[set] = -1;
    }
    return FRS_OK;
}

/* Ids of a post-processor special token, from TemplateProcessing.special_tokens. */
static enum frs_status template_ids(struct frs_tokenizer *t, const cJSON *tp, const char *name, const char *where,
                                    int32_t **v, int *n)
{
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tp, "special_tokens"), name);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(sp, "ids");
    if (!cJSON_IsArray(ids))
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s.special_tokens' has no \"%s\" with 'ids'", t->path,
                        where, name);
    const cJSON *it;
    cJSON_ArrayForEach(it, ids)
    {
        int32_t id = -1;
        char what[128];
        snprintf(what, sizeof what, "field '%s.special_tokens[\"%.40s\"].ids'", where, name);
        FRS_TRY(json_id(t->path, it, what, &id));
        int32_t *nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
        if (!nv)
            return LOAD_ERR(FRS_ERR_OOM, "%s: out of memory", t->path);
        *v = nv;
        nv[(*n)++] = id;
    }
    return FRS_OK;
}

static enum frs_status load_template(struct frs_tokenizer *t, const cJSON *tp, const char *where)
{
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(tp, "single");
    if (!cJSON_IsArray(single))
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s.single' missing", t->path, where);
    if (t->n_prefix || t->n_suffix)
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s': more than one TemplateProcessing", t->path, where);
    int seen_a = 0, i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, single)
    {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        const cJSON *sid = cJSON_GetObjectItemCaseSensitive(sp ? sp : sq, "id");
        if (!cJSON_IsString(sid))
            return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s.single[%d]' must be a SpecialToken or Sequence with an id",
                            t->path, where, i);
        if (sq) {
            if (strcmp(sid->valuestring, "A") != 0 || seen_a)
                return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s.single[%d]': only one Sequence A is supported",
                                t->path, where, i);
            seen_a = 1;
        } else if (seen_a)
            FRS_TRY(template_ids(t, tp, sid->valuestring, where, &t->suffix, &t->n_suffix));
        else
            FRS_TRY(template_ids(t, tp, sid->valuestring, where, &t->prefix, &t->n_prefix));
        i++;
    }
    if (!seen_a)
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s.single' has no Sequence A", t->path, where);
    return FRS_OK;
}

static enum frs_status load_post_processor(struct frs_tokenizer *t, const cJSON *pp, const char *where)
{
    if (!pp || cJSON_IsNull(pp))
        return FRS_OK;
    const char *ty = json_type(pp);
    if (!ty)
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s.type' missing", t->path, where);
    if (strcmp(ty, "ByteLevel") == 0)
        return FRS_OK; /* offsets only */
    if (strcmp(ty, "TemplateProcessing") == 0)
        return load_template(t, pp, where);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pp, "processors");
        if (!cJSON_IsArray(list))
            return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s.processors' missing", t->path, where);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, list)
        {
            char w[64];
            snprintf(w, sizeof w, "%s.processors[%d]", where, i++);
            FRS_TRY(load_post_processor(t, it, w));
        }
        return FRS_OK;
    }
    return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s.type' is '%s'; supported: TemplateProcessing, ByteLevel, "
                    "Sequence", t->path, where, ty);
}

static enum frs_status load_decoder(struct frs_tokenizer *t, const cJSON *d, const char *where)
{
    const char *ty = json_type(d);
    if (!d || cJSON_IsNull(d))
        return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field 'decoder' is null; only the ByteLevel decoder is supported",
                        t->path);
    if (!ty)
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field '%s.type' missing", t->path, where);
    if (strcmp(ty, "ByteLevel") == 0)
        return FRS_OK;
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(d, "decoders");
        if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != 1)
            return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s.decoders': only a single ByteLevel is supported",
                            t->path, where);
        char w[64];
        snprintf(w, sizeof w, "%s.decoders[0]", where);
        return load_decoder(t, list->child, w);
    }
    return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s.type' is '%s'; only ByteLevel is supported", t->path,
                    where, ty);
}

static enum frs_status load_json(struct frs_tokenizer *t, const cJSON *root)
{
    const char *path = t->path;
    if (!cJSON_IsObject(root))
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: the top level must be a JSON object", path);
    static const char *const null_fields[] = {"normalizer", "truncation", "padding"};
    for (int i = 0; i < 3; i++) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, null_fields[i]);
        if (j && !cJSON_IsNull(j))
            return LOAD_ERR(FRS_ERR_UNSUPPORTED, "%s: field '%s' is set; only null is supported", path,
                            null_fields[i]);
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'added_tokens' must be a list", path);
    FRS_TRY(load_model(t, root, added));
    FRS_TRY(load_added(t, added));
    FRS_TRY(load_pre_tokenizer(t, root));
    FRS_TRY(load_post_processor(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), "post_processor"));
    FRS_TRY(load_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), "decoder"));
    for (int i = 0; i < t->n_prefix; i++)
        if (t->prefix[i] >= t->n_ids || !t->ids[t->prefix[i]].str)
            return LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'post_processor': id %d is not a token", path, t->prefix[i]);
    for (int i = 0; i < t->n_suffix; i++)
        if (t->suffix[i] >= t->n_ids || !t->ids[t->suffix[i]].str)
            return LOAD_ERR(FRS_ERR_FORMAT, "%s: field 'post_processor': id %d is not a token", path, t->suffix[i]);
    t->bos_id = t->n_prefix > 0 ? t->prefix[0] : -1;
    return FRS_OK;
}

enum frs_status tokenizer_load(struct frs_tokenizer **out, const char *path)
{
    if (!out || !path)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "tokenizer_load: NULL argument");
    *out = NULL;
    pthread_once(&byte_table_once, byte_table_init);
    char *buf = NULL;
    size_t len = 0;
    FRS_TRY(read_file(path, &buf, &len));
    struct frs_tokenizer *t = calloc(1, sizeof *t);
    enum frs_status st = FRS_OK;
    if (!t || !(t->path = strdup(path)) || !(t->shared = calloc(1, sizeof *t->shared))) {
        free(buf);
        tokenizer_free(t);
        return FRS_ERR(FRS_ERR_OOM, "%s: out of memory", path);
    }
    pthread_mutex_init(&t->shared->mu, NULL);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        size_t off = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : len;
        st = FRS_ERR(FRS_ERR_FORMAT, "%s: malformed JSON near byte %zu of %zu%s", path, off, len,
                     off >= len ? " (truncated file?)" : "");
    } else {
        st = load_json(t, root);
        cJSON_Delete(root);
    }
    free(buf);
    if (st != FRS_OK) {
        tokenizer_free(t);
        return st;
    }
    *out = t;
    return FRS_OK;
}

static void match_ctx_free(struct match_ctx *m)
{
    if (!m)
        return;
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mctx);
    pcre2_jit_stack_free(m->jit);
    free(m);
}

void tokenizer_free(struct frs_tokenizer *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_steps; i++)
        pcre2_code_free(t->steps[i].re);
    pcre2_code_free(t->word_re);
    if (t->shared) {
        while (t->shared->spare) {
            struct match_ctx *m = t->shared->spare;
            t->shared->spare = m->next;
            match_ctx_free(m);
        }
        free(t->shared->slots);
        arena_free(&t->shared->mem);
        pthread_mutex_destroy(&t->shared->mu);
        free(t->shared);
    }
    free(t->vocab.slots);
    free(t->by_str.slots);
    free(t->merges.slots);
    free(t->ids);
    free(t->added);
    free(t->bucket_items[0]);
    free(t->bucket_items[1]);
    free(t->prefix);
    free(t->suffix);
    arena_free(&t->mem);
    free(t->path);
    free(t);
}

/* ---- encoding ----------------------------------------------------------------------------------- */

struct ids_buf {
    int32_t *v;
    int n, cap;
};

static enum frs_status ids_push(struct ids_buf *b, const int32_t *ids, int n)
{
    if (n <= 0)
        return FRS_OK;
    if (b->n + n > b->cap) {
        int cap = b->cap ? b->cap : 64;
        while (cap < b->n + n)
            cap *= 2;
        int32_t *nv = realloc(b->v, (size_t)cap * sizeof *nv);
        if (!nv)
            return FRS_ERR(FRS_ERR_OOM, "tokenizer: out of memory for %d ids", cap);
        b->v = nv;
        b->cap = cap;
    }
    memcpy(b->v + b->n, ids, (size_t)n * sizeof *ids);
    b->n += n;
    return FRS_OK;
}

static struct match_ctx *match_ctx_take(const struct frs_tokenizer *t)
{
    struct tok_shared *sh = t->shared;
    pthread_mutex_lock(&sh->mu);
    struct match_ctx *m = sh->spare;
    if (m)
        sh->spare = m->next;
    pthread_mutex_unlock(&sh->mu);
    if (m)
        return m;
    m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->md = pcre2_match_data_create(1, NULL);
    m->mctx = pcre2_match_context_create(NULL);
    m->jit = pcre2_jit_stack_create(32 * 1024, TOK_JIT_STACK_MAX, NULL);
    if (!m->md || !m->mctx) {
        match_ctx_free(m);
        return NULL;
    }
    if (m->jit)
        pcre2_jit_stack_assign(m->mctx, NULL, m->jit);
    return m;
}

static void match_ctx_put(const struct frs_tokenizer *t, struct match_ctx *m)
{
    struct tok_shared *sh = t->shared;
    pthread_mutex_lock(&sh->mu);
    m->next = sh->spare;
    sh->spare = m;
    pthread_mutex_unlock(&sh->mu);
}

static int cache_get(const struct frs_tokenizer *t, const char *s, size_t len, uint64_t h, struct ids_buf *out,
                     enum frs_status *st)
{
    struct tok_shared *sh = t->shared;
    int found = 0;
    pthread_mutex_lock(&sh->mu);
    if (sh->slots) {
        size_t mask = sh->cap - 1;
        for (size_t i = h & mask; sh->slots[i].key; i = (i + 1) & mask) {
            const struct cache_slot *c = &sh->slots[i];
            if (c->hash == h && c->klen == len && memcmp(c->key, s, len) == 0) {
                *st = ids_push(out, c->ids, (int)c->nids);
                found = 1;
                break;
            }
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return found;
}

/* Best effort: a full cache or a failed allocation just means no caching. */
static void cache_put(const struct frs_tokenizer *t, const char *s, size_t len, uint64_t h, const int32_t *ids,
                      int n)
{
    struct tok_shared *sh = t->shared;
    pthread_mutex_lock(&sh->mu);
    if (sh->n < TOK_CACHE_MAX_ENTRIES && (sh->n + 1) * 2 > sh->cap) { /* grow (or create) */
        size_t cap = sh->cap ? sh->cap * 2 : 4096;
        struct cache_slot *ns = calloc(cap, sizeof *ns);
        if (ns) {
            for (size_t i = 0; i < sh->cap; i++) {
                if (!sh->slots[i].key)
                    continue;
                size_t j = sh->slots[i].hash & (cap - 1);
                while (ns[j].key)
                    j = (j + 1) & (cap - 1);
                ns[j] = sh->slots[i];
            }
            free(sh->slots);
            sh->slots = ns;
            sh->cap = cap;
        }
    }
    if (sh->slots && sh->n < TOK_CACHE_MAX_ENTRIES && (sh->n + 1) * 2 <= sh->cap) {
        size_t mask = sh->cap - 1, i = h & mask;
        while (sh->slots[i].key && !(sh->slots[i].hash == h && sh->slots[i].klen == len &&
                                     memcmp(sh->slots[i].key, s, len) == 0))
            i = (i + 1) & mask;
        int32_t *v = sh->slots[i].key ? NULL : arena_alloc(&sh->mem, (size_t)n * sizeof *v + len);
        if (v) {
            memcpy(v, ids, (size_t)n * sizeof *v);
            memcpy((char *)(v + n), s, len);
            sh->slots[i] = (struct cache_slot){(const char *)(v + n), v, (uint32_t)len, (uint32_t)n, h};
            sh->n++;
        }
    }
    pthread_mutex_unlock(&sh->mu);
}

struct merge_item {
    uint32_t rank, pos;
    int32_t id;
};

static int merge_less(const struct merge_item *a, const struct merge_item *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(struct merge_item *h, int *n, struct merge_item x)
{
    int i = (*n)++;
    while (i > 0 && merge_less(&x, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = x;
}

static struct merge_item heap_pop(struct merge_item *h, int *n)
{
    struct merge_item top = h[0], x = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && merge_less(&h[c + 1], &h[c]))
            c++;
        if (!merge_less(&h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
    return top;
}

static void push_pair(const struct frs_tokenizer *t, struct merge_item *heap, int *nh, const int32_t *sym,
                      int left, int right)
{
    const struct pairmap_slot *m = pairmap_get(&t->merges, sym[left], sym[right]);
    if (m)
        heap_push(heap, nh, (struct merge_item){m->rank, (uint32_t)left, m->id});
}

/* The BPE merge loop over the bytes of one pre-token (HF Word::merge_all). */
static enum frs_status bpe_merge(const struct frs_tokenizer *t, const unsigned char *s, size_t len,
                                 struct ids_buf *out)
{
    enum { SMALL = 64 };
    int32_t sym_s[SMALL], prev_s[SMALL], next_s[SMALL];
    struct merge_item heap_s[3 * SMALL];
    int32_t *sym = sym_s, *prev = prev_s, *next = next_s;
    struct merge_item *heap = heap_s;
    void *big = NULL;
    if (len > SMALL) {
        big = malloc(len * (3 * sizeof(int32_t) + 3 * sizeof(struct merge_item)));
        if (!big)
            return FRS_ERR(FRS_ERR_OOM, "tokenizer: out of memory for a %zu-byte word", len);
        heap = big;
        sym = (int32_t *)(heap + 3 * len);
        prev = sym + len;
        next = prev + len;
    }
    int n = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t id = t->byte_id[s[i]];
        if (id < 0) {
            if (t->unk_id < 0 || (t->fuse_unk && n > 0 && sym[n - 1] == t->unk_id))
                continue; /* HF drops a character it has no id for */
            id = t->unk_id;
        }
        sym[n] = id;
        prev[n] = n - 1;
        next[n] = n + 1;
        n++;
    }
    if (n > 0)
        next[n - 1] = -1;
    int nh = 0;
    for (int i = 0; i + 1 < n; i++)
        push_pair(t, heap, &nh, sym, i, i + 1);
    while (nh > 0) {
        struct merge_item top = heap_pop(heap, &nh);
        int p = (int)top.pos;
        if (sym[p] < 0 || next[p] < 0)
            continue;
        int q = next[p];
        const struct pairmap_slot *m = pairmap_get(&t->merges, sym[p], sym[q]);
        if (!m || m->id != top.id)
            continue;
        sym[p] = top.id;
        sym[q] = -1;
        next[p] = next[q];
        if (next[q] >= 0)
            prev[next[q]] = p;
        if (prev[p] >= 0)
            push_pair(t, heap, &nh, sym, prev[p], p);
        if (next[p] >= 0)
            push_pair(t, heap, &nh, sym, p, next[p]);
    }
    int k = 0;
    for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i])
        sym[k++] = sym[i];
    enum frs_status st = ids_push(out, sym, k);
    free(big);
    return st;
}

static enum frs_status bpe_piece(const struct frs_tokenizer *t, const char *s, size_t len, struct ids_buf *out)
{
    if (t->ignore_merges) {
        int32_t id = strmap_get(&t->vocab, s, len);
        if (id >= 0)
            return ids_push(out, &id, 1);
    }
    if (len > TOK_CACHE_MAX_KEY)
        return bpe_merge(t, (const unsigned char *)s, len, out);
    uint64_t h = hash_bytes(s, len);
    enum frs_status st = FRS_OK;
    if (cache_get(t, s, len, h, out, &st))
        return st;
    int before = out->n;
    FRS_TRY(bpe_merge(t, (const unsigned char *)s, len, out));
    if (out->n > before)
        cache_put(t, s, len, h, out->v + before, out->n - before);
    return FRS_OK;
}

/* Pre-tokenizer step `step` (and the later ones) over s[0..len), then BPE on each pre-token. */
static enum frs_status pretok_run(const struct frs_tokenizer *t, struct match_ctx *mc, int step, const char *s,
                                  size_t len, struct ids_buf *out)
{
    if (len == 0)
        return FRS_OK;
    if (step == t->n_steps)
        return bpe_piece(t, s, len, out);
    const struct pretok_step *ps = &t->steps[step];
    if (ps->kind == PRETOK_PREFIX_SPACE) {
        if (s[0] == ' ')
            return pretok_run(t, mc, step + 1, s, len, out);
        char small[256], *buf = len + 1 <= sizeof small ? small : malloc(len + 1);
        if (!buf)
            return FRS_ERR(FRS_ERR_OOM, "tokenizer: out of memory");
        buf[0] = ' ';
        memcpy(buf + 1, s, len);
        enum frs_status st = pretok_run(t, mc, step + 1, buf, len + 1, out);
        if (buf != small)
            free(buf);
        return st;
    }
    size_t pos = 0, prev = 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(mc->md);
    while (pos <= len) {
        int rc = pcre2_match(ps->re, (PCRE2_SPTR)s, len, pos, 0, mc->md, mc->mctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return FRS_ERR(FRS_ERR_INTERNAL, "tokenizer: pre-tokenizer regex failed on a %zu-byte segment: %s", len,
                           (const char *)msg);
        }
        size_t ms = ov[0], me = ov[1];
        if (ms > prev) /* Isolated: the text between matches is a piece too */
            FRS_TRY(pretok_run(t, mc, step + 1, s + prev, ms - prev, out));
        if (me == ms) { /* empty match: no piece; step over one character */
            prev = ms;
            if (ms >= len)
                break;
            uint32_t cp;
            int l = utf8_char((const unsigned char *)s, len, ms, &cp);
            pos = ms + (size_t)(l ? l : 1);
            continue;
        }
        FRS_TRY(pretok_run(t, mc, step + 1, s + ms, me - ms, out));
        prev = pos = me;
    }
    if (prev < len)
        FRS_TRY(pretok_run(t, mc, step + 1, s + prev, len - prev, out));
    return FRS_OK;
}

static int is_word_char(const struct frs_tokenizer *t, struct match_ctx *mc, const char *s, size_t len,
                        size_t at)
{
    int rc = pcre2_match(t->word_re, (PCRE2_SPTR)s, len, at, PCRE2_ANCHORED, mc->md, mc->mctx);
    return rc >= 0;
}

/* Next added token of `set` in s[*from..len): leftmost, longest at that position (HF's Aho-Corasick
 * LeftmostLongest), with single_word / lstrip / rstrip applied as HF's AddedVocabulary::find_matches
 * does. *from moves past the match; returns 0 when none is left. */
static int added_next(const struct frs_tokenizer *t, struct match_ctx *mc, int set, const char *s, size_t len,
                      size_t *from, size_t start_offset, size_t *out_s, size_t *out_e, int32_t *out_id)
{
    const unsigned char *u = (const unsigned char *)s;
    const int *items = t->bucket_items[set];
    const int *bs = t->bucket_start[set];
    size_t i = *from;
    while (i < len) {
        if (t->set_single_first[set] >= 0) {
            const void *p = memchr(s + i, t->set_single_first[set], len - i);
            if (!p)
                return 0;
            i = (size_t)((const char *)p - s);
        }
        int b = u[i];
        const struct added_tok *hit = NULL;
        for (int k = bs[b]; k < bs[b + 1]; k++) {
            const struct added_tok *a = &t->added[items[k]];
            if (a->len <= len - i && memcmp(s + i, a->content, a->len) == 0) {
                hit = a;
                break;
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        size_t ms = i, me = i + hit->len;
        *from = me;
        if (hit->single_word) {
            int word_before = ms > 0 && is_word_char(t, mc, s, len, utf8_prev(u, ms));
            int word_after = me < len && is_word_char(t, mc, s, len, me);
            if (word_before || word_after) {
                i = me;
                continue;
            }
        }
        if (hit->lstrip) {
            size_t ns = ms;
            while (ns > 0) {
                size_t p = utf8_prev(u, ns);
                uint32_t cp;
                if (!utf8_char(u, len, p, &cp) || !is_space_cp(cp, 0))
                    break;
                ns = p;
            }
            ms = ns > start_offset ? ns : start_offset;
        }
        if (hit->rstrip) {
            uint32_t cp;
            int l;
            while (me < len && (l = utf8_char(u, len, me, &cp)) && is_space_cp(cp, 0))
                me += (size_t)l;
            if (me > *from)
                *from = me;
        }
        *out_s = ms;
        *out_e = me;
        *out_id = hit->id;
        return 1;
    }
    return 0;
}

/* Text with added tokens of `set` and later sets split out. */
static enum frs_status encode_segment(const struct frs_tokenizer *t, struct match_ctx *mc, int set, const char *s,
                                      size_t len, struct ids_buf *out)
{
    if (len == 0)
        return FRS_OK;
    if (set == 2)
        return pretok_run(t, mc, 0, s, len, out);
    if (t->set_count[set] == 0)
        return encode_segment(t, mc, set + 1, s, len, out);
    size_t from = 0, start_offset = 0, ms, me;
    int32_t id;
    while (added_next(t, mc, set, s, len, &from, start_offset, &ms, &me, &id)) {
        if (ms > start_offset)
            FRS_TRY(encode_segment(t, mc, set + 1, s + start_offset, ms - start_offset, out));
        FRS_TRY(ids_push(out, &id, 1));
        start_offset = me;
    }
    if (start_offset < len)
        FRS_TRY(encode_segment(t, mc, set + 1, s + start_offset, len - start_offset, out));
    return FRS_OK;
}

/* mode 0: plain text (added tokens in it are not recognised); 1: as HF encode */
static enum frs_status encode_into(const struct frs_tokenizer *t, const char *text, size_t len, int mode,
                                   struct ids_buf *out)
{
    struct match_ctx *mc = match_ctx_take(t);
    if (!mc)
        return FRS_ERR(FRS_ERR_OOM, "tokenizer: out of memory for the regex match data");
    enum frs_status st = mode ? encode_segment(t, mc, 0, text, len, out) : pretok_run(t, mc, 0, text, len, out);
    match_ctx_put(t, mc);
    return st;
}

enum frs_status tokenizer_encode(const struct frs_tokenizer *t, const char *text, size_t len, int add_special,
                                 int32_t **ids, int *n)
{
    if (!t || (!text && len) || !ids || !n)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "tokenizer_encode: NULL argument");
    *ids = NULL;
    *n = 0;
    if (len > (size_t)1 << 30)
        return FRS_ERR(FRS_ERR_TOO_LONG, "tokenizer_encode: text of %zu bytes is over the 1 GiB limit", len);
    struct ids_buf out = {0};
    enum frs_status st = FRS_OK;
    if (add_special)
        st = ids_push(&out, t->prefix, t->n_prefix);
    if (st == FRS_OK)
        st = encode_into(t, text ? text : "", len, 1, &out);
    if (st == FRS_OK && add_special)
        st = ids_push(&out, t->suffix, t->n_suffix);
    if (st == FRS_OK && !out.v && !(out.v = malloc(sizeof *out.v))) /* empty: still an allocation */
        st = FRS_ERR(FRS_ERR_OOM, "tokenizer: out of memory");
    if (st != FRS_OK) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n = out.n;
    return FRS_OK;
}

/* ---- decoding ----------------------------------------------------------------------------------- */

enum frs_status tokenizer_decode(const struct frs_tokenizer *t, const int32_t *ids, int n, int skip_special,
                                 char **text, size_t *len)
{
    if (!t || (!ids && n > 0) || n < 0 || !text)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "tokenizer_decode: NULL argument or negative count");
    *text = NULL;
    size_t raw_len = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_ids || !t->ids[ids[i]].str)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "tokenizer_decode: id %d (position %d) is not a token of %s", ids[i],
                           i, t->path);
        if (!(skip_special && t->ids[ids[i]].special))
            raw_len += t->ids[ids[i]].bytes_len;
    }
    unsigned char *raw = malloc(raw_len + 1);
    char *o = malloc(3 * raw_len + 1); /* each invalid byte may become U+FFFD (3 bytes) */
    if (!raw || !o) {
        free(raw);
        free(o);
        return FRS_ERR(FRS_ERR_OOM, "tokenizer_decode: out of memory for %zu bytes", raw_len);
    }
    size_t r = 0, k = 0;
    for (int i = 0; i < n; i++) {
        const struct tok_entry *e = &t->ids[ids[i]];
        if (!(skip_special && e->special)) {
            memcpy(raw + r, e->bytes, e->bytes_len);
            r += e->bytes_len;
        }
    }
    for (size_t i = 0; i < r;) {
        uint32_t cp;
        int l = utf8_char(raw, r, i, &cp);
        if (l) {
            memcpy(o + k, raw + i, (size_t)l);
            k += (size_t)l;
            i += (size_t)l;
        } else {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i += utf8_bad_len(raw, r, i);
        }
    }
    o[k] = 0;
    free(raw);
    *text = o;
    if (len)
        *len = k;
    return FRS_OK;
}

const char *tokenizer_token_bytes(const struct frs_tokenizer *t, int32_t id, size_t *len)
{
    if (!t || id < 0 || id >= t->n_ids || !t->ids[id].str)
        return NULL;
    if (len)
        *len = t->ids[id].bytes_len;
    return t->ids[id].bytes;
}

int32_t tokenizer_token_id(const struct frs_tokenizer *t, const char *token)
{
    if (!t || !token)
        return -1;
    return strmap_get(&t->by_str, token, strlen(token));
}

int tokenizer_vocab_size(const struct frs_tokenizer *t) { return t ? t->n_ids : 0; }

int32_t tokenizer_bos_id(const struct frs_tokenizer *t) { return t ? t->bos_id : -1; }

int tokenizer_is_special(const struct frs_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_ids && t->ids[id].special;
}

int tokenizer_stop_ids(const struct frs_tokenizer *t, int32_t *ids, int max)
{
    static const char *const names[] = {"<|eot_id|>", "<|end_of_text|>", "<|eom_id|>"};
    int n = 0;
    for (int i = 0; i < 3 && n < max; i++) {
        int32_t id = tokenizer_token_id(t, names[i]);
        if (id >= 0)
            ids[n++] = id;
    }
    return n;
}

/* ---- the Llama-3 chat format -------------------------------------------------------------------- */

/* s without leading and trailing whitespace (Python str.strip), as *b and *n */
static void strip_text(const char *s, const char **b, size_t *n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, e = len;
    uint32_t cp;
    int l;
    while (i < len && (l = utf8_char(u, len, i, &cp)) && is_space_cp(cp, 1))
        i += (size_t)l;
    while (e > i) {
        size_t p = utf8_prev(u, e);
        if (!utf8_char(u, len, p, &cp) || !is_space_cp(cp, 1))
            break;
        e = p;
    }
    *b = s + i;
    *n = e - i;
}

static enum frs_status chat_message(const struct frs_tokenizer *t, const int32_t sp[4], const char *role,
                                    const char *content, struct ids_buf *out)
{
    FRS_TRY(ids_push(out, &sp[1], 1));
    FRS_TRY(encode_into(t, role, strlen(role), 0, out));
    FRS_TRY(ids_push(out, &sp[2], 1));
    FRS_TRY(encode_into(t, "\n\n", 2, 0, out));
    if (content) {
        const char *b;
        size_t n;
        strip_text(content, &b, &n);
        FRS_TRY(encode_into(t, b, n, 0, out));
        FRS_TRY(ids_push(out, &sp[3], 1));
    }
    return FRS_OK;
}

enum frs_status tokenizer_apply_chat(const struct frs_tokenizer *t, const char *system, const char *user,
                                     int32_t **ids, int *n)
{
    if (!t || !user || !ids || !n)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "tokenizer_apply_chat: NULL argument");
    *ids = NULL;
    *n = 0;
    static const char *const names[4] = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                         "<|eot_id|>"};
    int32_t sp[4];
    for (int i = 0; i < 4; i++)
        if ((sp[i] = tokenizer_token_id(t, names[i])) < 0)
            return FRS_ERR(FRS_ERR_MISSING, "%s: the Llama-3 chat format needs the token %s, which this tokenizer "
                           "lacks", t->path, names[i]);
    struct ids_buf out = {0};
    enum frs_status st = ids_push(&out, &sp[0], 1);
    if (st == FRS_OK && system)
        st = chat_message(t, sp, "system", system, &out);
    if (st == FRS_OK)
        st = chat_message(t, sp, "user", user, &out);
    if (st == FRS_OK)
        st = chat_message(t, sp, "assistant", NULL, &out);
    if (st != FRS_OK) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n = out.n;
    return FRS_OK;
}
