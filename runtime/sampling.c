/* sampling.c - greedy and filtered sampling over vocabulary-sharded logits (sampling.h), with
 * small collectives only: nothing proportional to the vocabulary ever crosses ranks.
 *
 *  - argmax: local (max, lowest index) then comm_argmax.
 *  - prepare: z = logits / T; max by an all-reduce; top-k threshold = the k-th largest of the
 *    gathered local top-k values of every rank (exact: every z above the global k-th largest is
 *    in its rank's local top-k); top-p threshold by bisection over the ordered float keys of z
 *    between the top-k threshold and the max, at most 32 rounds of one all-gather each of the
 *    kept mass of every row. The result is the exact threshold: the largest z whose mass of
 *    {z' >= z} reaches top_p of the top-k-kept mass (Hugging Face's rule).
 *  - masses are 64-bit fixed-point integers (sample_mass.h: floor(exp(z - max) * 2^S) with an exp
 *    evaluated the same way on every machine, the host and CUDA devices alike), summed exactly: the
 *    same at every TP degree and in any order, and what the device sampling of the CUDA backend
 *    (kernels/cuda_sample.cu) sums too. They cross ranks as four 16-bit pieces in floats through
 *    comm_allgather_f32 (exact) and are added as integers on every rank.
 *  - draw: Gumbel-max over kept, non-excluded tokens with key z + gumbel(seed, draw, id) in
 *    double; each rank's best key travels as (hi, lo, id) floats, ties to the lowest id. The
 *    draw never uses the normalising sum, so it is the same token at every TP degree.
 */
#include "sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "argmax_key.h" /* frs_argmax_key_pack: the order of comm_argmax */
#include "collectives.h" /* comm_size, comm_argmax, comm_allreduce_max_f32, comm_allreduce_sum_f32, comm_allgather_f32 */
#include "rng.h"  /* frs_rng_gumbel */
#include "sample_mass.h" /* frs_mass_shift, frs_mass_fixed */

static int sampling_comm_size(const struct frs_comm *c) { return comm_size(c); }

static inline float sampling_z(float logit, float temperature) { return logit / temperature; }

static enum frs_status sampling_check(const struct sampling_shard *sh, const char *what)
{
    /* vocab_local may be 0: a rank past the end of an uneven split still joins the collectives */
    if (!sh || (!sh->logits && sh->vocab_local > 0) || sh->n < 0 || sh->vocab_local < 0 || sh->vocab_offset < 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "%s: bad shard (n %d, vocab_local %d, vocab_offset %d)", what,
                       sh ? sh->n : -1, sh ? sh->vocab_local : -1, sh ? sh->vocab_offset : -1);
    return FRS_OK;
}

enum frs_status sampling_argmax(struct frs_comm *c, const struct sampling_shard *sh, int32_t *out)
{
    FRS_TRY(sampling_check(sh, "sampling_argmax"));
    if (sh->n == 0)
        return FRS_OK;
    float small[64];
    float *val = sh->n <= 64 ? small : malloc((size_t)sh->n * sizeof *val);
    if (!val)
        return FRS_ERR(FRS_ERR_OOM, "sampling_argmax: %d rows", sh->n);
    for (int i = 0; i < sh->n; i++) {
        const float *row = sh->logits + (size_t)i * sh->vocab_local;
        /* the order comm_argmax uses: larger value, then lower id; NaN above +inf */
        uint64_t best = 0;
        val[i] = -INFINITY;
        out[i] = sh->vocab_offset;
        for (int t = 0; t < sh->vocab_local; t++) {
            uint64_t key = frs_argmax_key_pack(row[t], sh->vocab_offset + t);
            if (key > best) {
                best = key;
                val[i] = row[t];
                out[i] = sh->vocab_offset + t;
            }
        }
    }
    enum frs_status st = comm_argmax(c, val, out, (size_t)sh->n);
    if (val != small)
        free(val);
    return st;
}

/* x[i] := sum over ranks of x[i] (exact integers; each value travels as four 16-bit pieces, exact
 * in floats). scratch: 4 n (size + 1) floats. */
static enum frs_status sampling_allsum_u64(struct frs_comm *c, uint64_t *x, int n, float *scratch)
{
    const int size = sampling_comm_size(c);
    if (size == 1)
        return FRS_OK;
    float *in = scratch, *all = scratch + 4 * (size_t)n;
    for (int i = 0; i < n; i++)
        for (int q = 0; q < 4; q++)
            in[4 * i + q] = (float)((x[i] >> (16 * q)) & 0xffffu);
    FRS_TRY(comm_allgather_f32(c, in, all, 4 * (size_t)n));
    for (int i = 0; i < n; i++) {
        uint64_t s = 0;
        for (int r = 0; r < size; r++)
            for (int q = 0; q < 4; q++)
                s += (uint64_t)all[((size_t)r * n + i) * 4 + q] << (16 * q);
        x[i] = s;
    }
    return FRS_OK;
}

static int sampling_cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Order-preserving map of non-NaN floats to unsigned keys, and back. */
static uint32_t sampling_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static float sampling_unkey(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Local mass of a row over z >= thresh, with e = frs_mass_fixed(z, max) precomputed. */
static uint64_t sampling_local_mass(const float *z, const uint64_t *e, int vl, float thresh)
{
    uint64_t s = 0;
    for (int t = 0; t < vl; t++)
        if (z[t] >= thresh)
            s += e[t];
    return s;
}

enum frs_status sampling_prepare(struct frs_comm *c, const struct sampling_shard *sh,
                                 const struct frs_sampling *s, struct sampling_row *rows)
{
    FRS_TRY(sampling_check(sh, "sampling_prepare"));
    if (!s || !(s->temperature > 0.0f))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "sampling_prepare: temperature must be > 0 (got %g); "
                       "temperature <= 0 is greedy (sampling_argmax)", s ? (double)s->temperature : 0.0);
    if (s->top_k < 0 || !(s->top_p >= 0.0f))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "sampling_prepare: top_k must be >= 0 and top_p >= 0 (got %d, %g)",
                       s->top_k, (double)s->top_p);
    const int n = sh->n, vl = sh->vocab_local, size = sampling_comm_size(c);
    if (n == 0)
        return FRS_OK;
    /* the vocabulary size, from the shards (the last rank may hold fewer rows) */
    float vtot = (float)vl;
    FRS_TRY(comm_allreduce_sum_f32(c, &vtot, 1));
    const long vocab = lroundf(vtot);
    const int use_k = s->top_k > 0 && s->top_k < vocab;
    const int use_p = s->top_p < 1.0f;
    const int k = use_k ? s->top_k : 0;
    const int shift = frs_mass_shift(vocab); /* fixed-point masses: sample_mass.h */

    /* scratch: z (n, vl) and its fixed-point masses e (n, vl); gathered top-k (size, n, k) + local
     * (n, k) + sort buffer (vl); mass exchange 4n (size + 1); bisection bounds */
    const size_t zsz = (size_t)n * vl;
    const size_t ksz = use_k ? (size_t)n * k * (size + 1) + (size_t)(vl > k * size ? vl : k * size) : 0;
    const size_t msz = 4 * (size_t)n * (size + 1) + (size_t)n;
    float *mem = malloc((zsz + ksz + msz) * sizeof(float));
    uint64_t *e = malloc((zsz ? zsz : 1) * sizeof(uint64_t));
    uint64_t *mass = malloc((size_t)n * 2 * sizeof(uint64_t));
    uint32_t *lo = malloc((size_t)n * 2 * sizeof(uint32_t));
    if (!mem || !e || !mass || !lo) {
        free(mem);
        free(e);
        free(mass);
        free(lo);
        return FRS_ERR(FRS_ERR_OOM, "sampling_prepare: scratch for %d rows x %d logits", n, vl);
    }
    float *z = mem, *kall = z + zsz, *kloc = kall + (use_k ? (size_t)n * k * size : 0);
    float *ksort = kloc + (use_k ? (size_t)n * k : 0);
    float *mscratch = mem + zsz + ksz;
    float *mx = mscratch + 4 * (size_t)n * (size + 1);
    uint64_t *total = mass + n;
    uint32_t *hi = lo + n;
    enum frs_status st = FRS_OK;

    /* z and the global max */
    for (int i = 0; i < n; i++) {
        const float *row = sh->logits + (size_t)i * vl;
        float m = -INFINITY;
        for (int t = 0; t < vl; t++) {
            float v = sampling_z(row[t], s->temperature);
            z[(size_t)i * vl + t] = v;
            if (v > m)
                m = v;
        }
        mx[i] = m;
    }
    FRS_TRY_GOTO(comm_allreduce_max_f32(c, mx, (size_t)n), st, out);
    for (int i = 0; i < n; i++) {
        rows[i].max = mx[i];
        rows[i].thresh = -INFINITY;
        rows[i].shift = shift;
        for (int t = 0; t < vl; t++)
            e[(size_t)i * vl + t] = frs_mass_fixed(z[(size_t)i * vl + t], mx[i], shift);
    }

    /* top-k: the k-th largest of the gathered local top-k values */
    if (use_k) {
        for (int i = 0; i < n; i++) {
            memcpy(ksort, z + (size_t)i * vl, (size_t)vl * sizeof(float));
            qsort(ksort, (size_t)vl, sizeof(float), sampling_cmp_desc);
            for (int j = 0; j < k; j++)
                kloc[(size_t)i * k + j] = j < vl ? ksort[j] : -INFINITY;
        }
        FRS_TRY_GOTO(comm_allgather_f32(c, kloc, kall, (size_t)n * k), st, out);
        for (int i = 0; i < n; i++) {
            for (int r = 0; r < size; r++)
                memcpy(ksort + (size_t)r * k, kall + ((size_t)r * n + i) * k, (size_t)k * sizeof(float));
            qsort(ksort, (size_t)k * size, sizeof(float), sampling_cmp_desc);
            rows[i].thresh = ksort[k - 1];
        }
    }

    /* the kept mass under the top-k cut */
    for (int i = 0; i < n; i++)
        mass[i] = sampling_local_mass(z + (size_t)i * vl, e + (size_t)i * vl, vl, rows[i].thresh);
    FRS_TRY_GOTO(sampling_allsum_u64(c, mass, n, mscratch), st, out);
    for (int i = 0; i < n; i++)
        rows[i].sum = ldexp((double)mass[i], -shift);

    /* top-p: the largest threshold whose kept mass still reaches top_p of the top-k mass.
     * Invariant per row: P(unkey(lo)) true, P(unkey(hi)) false, P(x) = mass(z >= x) >= top_p * total. */
    if (use_p) {
        for (int i = 0; i < n; i++) {
            total[i] = mass[i];
            lo[i] = sampling_key(rows[i].thresh);
            hi[i] = sampling_key(rows[i].max) + 1; /* above the max nothing is kept: P false (top_p > 0) */
            if (!(s->top_p > 0.0f))               /* top_p 0: keep the top token (HF keeps at least one) */
                lo[i] = hi[i] - 1;
        }
        for (;;) {
            int active = 0;
            for (int i = 0; i < n; i++) {
                if (hi[i] - lo[i] > 1) {
                    active = 1;
                    uint32_t mid = lo[i] + (hi[i] - lo[i]) / 2;
                    mass[i] = sampling_local_mass(z + (size_t)i * vl, e + (size_t)i * vl, vl, sampling_unkey(mid));
                } else {
                    mass[i] = 0;
                }
            }
            /* every rank sees the same bounds, so all agree on when to stop */
            if (!active)
                break;
            FRS_TRY_GOTO(sampling_allsum_u64(c, mass, n, mscratch), st, out);
            for (int i = 0; i < n; i++) {
                if (hi[i] - lo[i] <= 1)
                    continue;
                uint32_t mid = lo[i] + (hi[i] - lo[i]) / 2;
                if ((double)mass[i] >= (double)s->top_p * (double)total[i])
                    lo[i] = mid;
                else
                    hi[i] = mid;
            }
        }
        for (int i = 0; i < n; i++) {
            rows[i].thresh = sampling_unkey(lo[i]); /* >= the top-k threshold: lo only grew */
            mass[i] = sampling_local_mass(z + (size_t)i * vl, e + (size_t)i * vl, vl, rows[i].thresh);
        }
        FRS_TRY_GOTO(sampling_allsum_u64(c, mass, n, mscratch), st, out);
        for (int i = 0; i < n; i++)
            rows[i].sum = ldexp((double)mass[i], -shift);
    }
out:
    free(mem);
    free(e);
    free(mass);
    free(lo);
    return st;
}

enum frs_status sampling_prob(struct frs_comm *c, const struct sampling_shard *sh,
                              const struct frs_sampling *s, const struct sampling_row *rows,
                              const int32_t *row_of, const int32_t *token, int nq, float *p)
{
    FRS_TRY(sampling_check(sh, "sampling_prob"));
    if (nq <= 0)
        return FRS_OK;
    const int vl = sh->vocab_local;
    int32_t *am = NULL;
    if (!s || !(s->temperature > 0.0f)) { /* greedy: one-hot at the argmax */
        am = malloc((size_t)(sh->n > 0 ? sh->n : 1) * sizeof *am);
        if (!am)
            return FRS_ERR(FRS_ERR_OOM, "sampling_prob: %d rows", sh->n);
        enum frs_status st = sampling_argmax(c, sh, am);
        if (st != FRS_OK) {
            free(am);
            return st;
        }
    }
    for (int q = 0; q < nq; q++) {
        const int i = row_of[q], t = token[q] - sh->vocab_offset;
        if (i < 0 || i >= sh->n) {
            free(am);
            return FRS_ERR(FRS_ERR_INVALID_ARG, "sampling_prob: query %d names row %d of %d", q, i, sh->n);
        }
        if (am) {
            p[q] = token[q] == am[i] ? 1.0f : 0.0f;
            continue;
        }
        p[q] = 0.0f;
        if (t >= 0 && t < vl) {
            float z = sampling_z(sh->logits[(size_t)i * vl + t], s->temperature);
            if (z >= rows[i].thresh && rows[i].sum > 0.0) /* the token's share of prepare's sum */
                p[q] = (float)(ldexp((double)frs_mass_fixed(z, rows[i].max, rows[i].shift), -rows[i].shift) /
                               rows[i].sum);
        }
    }
    if (am) {
        free(am);
        return FRS_OK;
    }
    /* exactly one rank owns each token: the sum adds zeros only, exact */
    return comm_allreduce_sum_f32(c, p, (size_t)nq);
}

enum frs_status sampling_draw(struct frs_comm *c, const struct sampling_shard *sh,
                              const struct frs_sampling *s, const struct sampling_row *rows,
                              const uint64_t *draw, const int32_t *excl, const int *excl_off,
                              int32_t *out)
{
    FRS_TRY(sampling_check(sh, "sampling_draw"));
    if (!s || !(s->temperature > 0.0f))
        return sampling_argmax(c, sh, out);
    const int n = sh->n, vl = sh->vocab_local, size = sampling_comm_size(c);
    if (n == 0)
        return FRS_OK;
    float *loc = malloc((size_t)n * 3 * (size + 1) * sizeof(float));
    if (!loc)
        return FRS_ERR(FRS_ERR_OOM, "sampling_draw: %d rows", n);
    float *all = loc + (size_t)n * 3;
    enum frs_status st = FRS_OK;
    for (int i = 0; i < n; i++) {
        const float *row = sh->logits + (size_t)i * vl;
        const int32_t *ex = excl ? excl + excl_off[i] : NULL;
        const int nex = excl ? excl_off[i + 1] - excl_off[i] : 0;
        double best = -INFINITY;
        int best_id = -1;
        for (int t = 0; t < vl; t++) {
            float z = sampling_z(row[t], s->temperature);
            if (!(z >= rows[i].thresh))
                continue;
            const int32_t id = sh->vocab_offset + t;
            int skip = 0;
            for (int j = 0; j < nex && !skip; j++)
                skip = ex[j] == id;
            if (skip)
                continue;
            double key = (double)z + frs_rng_gumbel(s->seed, draw[i], (uint64_t)id);
            if (key > best) { /* ascending ids: ties keep the lower id */
                best = key;
                best_id = id;
            }
        }
        float hi = (float)best;
        loc[3 * i] = hi;
        loc[3 * i + 1] = best_id >= 0 ? (float)(best - (double)hi) : 0.0f;
        loc[3 * i + 2] = (float)best_id;
    }
    FRS_TRY_GOTO(comm_allgather_f32(c, loc, all, (size_t)n * 3), st, out);
    for (int i = 0; i < n; i++) {
        double best = -INFINITY;
        int best_id = -1;
        for (int r = 0; r < size; r++) {
            const float *g = all + ((size_t)r * n + i) * 3;
            int id = (int)g[2];
            if (id < 0)
                continue;
            double key = (double)g[0] + (double)g[1];
            if (best_id < 0 || key > best || (key == best && id < best_id)) {
                best = key;
                best_id = id;
            }
        }
        out[i] = best_id;
    }
    /* everything removed: the row's argmax (every rank takes this branch together) */
    for (int i = 0; i < n; i++) {
        if (out[i] >= 0)
            continue;
        const struct sampling_shard one = {sh->logits + (size_t)i * vl, 1, vl, sh->vocab_offset};
        FRS_TRY_GOTO(sampling_argmax(c, &one, &out[i]), st, out);
    }
out:
    free(loc);
    return st;
}
