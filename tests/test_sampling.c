/* test_sampling.c - runtime/sampling.c: greedy, temperature, top-k, top-p, Gumbel-max draws over
 * vocabulary-sharded logits.
 *
 * Single rank:
 *  - closed form: greedy ties go to the lowest id; top-k 1 draws the argmax; everything
 *    excluded returns the argmax; temperature <= 0 is refused by prepare and greedy in draw;
 *  - kept sets and probabilities vs Hugging Face's TemperatureLogitsWarper -> TopKLogitsWarper
 *    -> TopPLogitsWarper (tests/fixtures/models/hf-sampling.json, tests/gen/gen_models.py), and
 *    vs a direct sort in this test on 300 random rows (with ties);
 *  - sampling_prob sums to 1 over the kept set and is 0 outside it;
 *  - the fixed-point masses (sample_mass.h): frs_mass_exp within 4 ulp of exp on [-46, 0],
 *    non-increasing with the distance to the max, the top token worth exactly 2^shift;
 *  - statistics: 20000 draws (draw indices 0..19999) match the filtered softmax by a chi-square
 *    test at significance 0.001 (cells with expected count < 5 pooled), with and without an
 *    exclusion list; filtered or excluded tokens are never drawn.
 * Under mpirun -np N: each rank takes its shard (llama_vocab_shard) of the same full rows, and
 * argmax / prepare / prob / draw equal the single-rank computation on the full row (thresholds
 * and tokens bit-identical, sums within 1e-12, probabilities within 1e-6).
 */
#include <cJSON.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "model.h" /* llama_vocab_shard */
#include "rng.h"
#include "sample_mass.h"
#include "sampling.h"
#include "testutil.h"

static struct frs_comm *g_comm; /* NULL on a single rank */
static int g_rank, g_size = 1;

/* ---- an independent reference: sort, top-k, top-p (Hugging Face's rule), threshold ---------- */

static const float *g_sort_z;
static int cmp_idx_desc(const void *a, const void *b)
{
    float x = g_sort_z[*(const int *)a], y = g_sort_z[*(const int *)b];
    if (x != y)
        return x > y ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

/* kept[t] = 1 when token t survives temperature/top-k/top-p; p[t] its probability. */
static void ref_filter(const float *logits, int V, const struct frs_sampling *s, int *kept, double *p)
{
    float *z = malloc((size_t)V * sizeof *z);
    int *idx = malloc((size_t)V * sizeof *idx);
    for (int t = 0; t < V; t++) {
        z[t] = logits[t] / s->temperature;
        idx[t] = t;
    }
    g_sort_z = z;
    qsort(idx, (size_t)V, sizeof *idx, cmp_idx_desc);
    float thresh = -INFINITY;
    if (s->top_k > 0 && s->top_k < V)
        thresh = z[idx[s->top_k - 1]];
    double mx = z[idx[0]], sum = 0;
    for (int t = 0; t < V; t++)
        if (z[t] >= thresh)
            sum += exp((double)z[t] - mx);
    if (s->top_p < 1.0f) {
        /* walk down the sorted kept tokens; a token is removed when the mass before it >= top_p */
        double before = 0;
        for (int j = 0; j < V && z[idx[j]] >= thresh; j++) {
            if (j > 0 && before >= s->top_p) {
                thresh = z[idx[j - 1]];
                break;
            }
            before += exp((double)z[idx[j]] - mx) / sum;
        }
        if (!(s->top_p > 0.0f))
            thresh = z[idx[0]];
    }
    double kept_sum = 0;
    for (int t = 0; t < V; t++) {
        kept[t] = z[t] >= thresh;
        if (kept[t])
            kept_sum += exp((double)z[t] - mx);
    }
    for (int t = 0; t < V; t++)
        p[t] = kept[t] ? exp((double)z[t] - mx) / kept_sum : 0.0;
    free(z);
    free(idx);
}

static struct sampling_shard full_shard(const float *logits, int n, int V)
{
    struct sampling_shard sh = {.logits = logits, .n = n, .vocab_local = V, .vocab_offset = 0};
    return sh;
}

/* probabilities of all V tokens of row 0 */
static void all_probs(const float *row, int V, const struct frs_sampling *s, const struct sampling_row *r, float *p)
{
    struct sampling_shard sh = full_shard(row, 1, V);
    int32_t *row_of = calloc((size_t)V, sizeof *row_of), *tok = malloc((size_t)V * sizeof *tok);
    for (int t = 0; t < V; t++)
        tok[t] = t;
    CHECK_OK(sampling_prob(NULL, &sh, s, r, row_of, tok, V, p));
    free(row_of);
    free(tok);
}

/* ---- closed-form cases ----------------------------------------------------------------------- */

static void test_closed_form(void)
{
    float row[10] = {1, 3, 0, 3, 2, -INFINITY, 3, 0.5f, -1, 2.9f};
    struct sampling_shard sh = full_shard(row, 1, 10);
    int32_t out = -1;
    CHECK_OK(sampling_argmax(NULL, &sh, &out));
    CHECK(out == 1, "greedy tie: %d, expected the lowest id 1", out);
    float flat[6] = {0, 0, 0, 0, 0, 0};
    struct sampling_shard shf = full_shard(flat, 1, 6);
    CHECK_OK(sampling_argmax(NULL, &shf, &out));
    CHECK(out == 0, "flat row: %d", out);

    /* two rows at once */
    float two[2][4] = {{0, 1, 2, 3}, {5, 1, 5, 0}};
    struct sampling_shard sh2 = full_shard(&two[0][0], 2, 4);
    int32_t o2[2];
    CHECK_OK(sampling_argmax(NULL, &sh2, o2));
    CHECK(o2[0] == 3 && o2[1] == 0, "argmax of two rows: %d %d", o2[0], o2[1]);

    /* top-k 1 draws the argmax whatever the noise (row without ties) */
    float r2[8] = {0.3f, -1, 2.5f, 2.4f, 0, 1, -3, 2.49f};
    struct sampling_shard sh3 = full_shard(r2, 1, 8);
    const struct frs_sampling k1 = {.temperature = 1.5f, .top_p = 1.0f, .top_k = 1, .seed = 9};
    struct sampling_row sr;
    CHECK_OK(sampling_prepare(NULL, &sh3, &k1, &sr));
    int bad = 0;
    for (uint64_t d = 0; d < 2000; d++) {
        CHECK_OK(sampling_draw(NULL, &sh3, &k1, &sr, &d, NULL, NULL, &out));
        bad += out != 2;
    }
    CHECK(bad == 0, "top-k 1: %d of 2000 draws differ from the argmax", bad);
    float p[8];
    all_probs(r2, 8, &k1, &sr, p);
    CHECK(p[2] == 1.0f && p[7] == 0.0f, "top-k 1: p(argmax) %g, p(next) %g", p[2], p[7]);

    /* everything excluded: the argmax */
    const struct frs_sampling s = {.temperature = 1.0f, .top_p = 1.0f, .top_k = 3, .seed = 9};
    CHECK_OK(sampling_prepare(NULL, &sh3, &s, &sr));
    int32_t excl[3] = {2, 3, 7};
    int excl_off[2] = {0, 3};
    uint64_t d0 = 5;
    CHECK_OK(sampling_draw(NULL, &sh3, &s, &sr, &d0, excl, excl_off, &out));
    CHECK(out == 2, "all kept tokens excluded: %d, expected the argmax 2", out);
    /* two of three excluded: the third, always */
    excl_off[1] = 2;
    bad = 0;
    for (uint64_t d = 0; d < 500; d++) {
        CHECK_OK(sampling_draw(NULL, &sh3, &s, &sr, &d, excl, excl_off, &out));
        bad += out != 7;
    }
    CHECK(bad == 0, "exclusion leaving one token: %d of 500 draws elsewhere", bad);

    /* temperature <= 0: prepare refuses, draw and prob are greedy */
    const struct frs_sampling g = {.temperature = 0.0f, .top_p = 1.0f, .top_k = 0, .seed = 9};
    CHECK(sampling_prepare(NULL, &sh3, &g, &sr) == FRS_ERR_INVALID_ARG, "prepare at temperature 0");
    CHECK_OK(sampling_draw(NULL, &sh3, &g, &sr, &d0, NULL, NULL, &out));
    CHECK(out == 2, "draw at temperature 0: %d", out);
    all_probs(r2, 8, &g, &sr, p);
    CHECK(p[2] == 1.0f && p[3] == 0.0f, "prob at temperature 0: %g %g", p[2], p[3]);
    const struct frs_sampling neg = {.temperature = 1.0f, .top_p = 1.0f, .top_k = -1, .seed = 9};
    CHECK(sampling_prepare(NULL, &sh3, &neg, &sr) == FRS_ERR_INVALID_ARG, "top_k -1 accepted");
}

/* ---- Hugging Face's warpers ------------------------------------------------------------------ */

static void test_hf_fixture(void)
{
    char *text = test_read_file(test_fixture("models/hf-sampling.json"), NULL);
    CHECK(text != NULL, "cannot read %s", test_fixture("models/hf-sampling.json"));
    if (!text)
        return;
    cJSON *o = cJSON_Parse(text);
    free(text);
    CHECK(o != NULL, "hf-sampling.json does not parse");
    if (!o)
        return;
    const int V = cJSON_GetObjectItem(o, "vocab_size")->valueint;
    const cJSON *rows = cJSON_GetObjectItem(o, "rows");
    const int nrows = cJSON_GetArraySize(rows);
    float *logits = malloc((size_t)nrows * V * sizeof *logits);
    for (int i = 0; i < nrows; i++)
        for (int t = 0; t < V; t++)
            logits[(size_t)i * V + t] = (float)cJSON_GetArrayItem(cJSON_GetArrayItem(rows, i), t)->valuedouble;
    float *p = malloc((size_t)V * sizeof *p);
    int ncase = 0, set_bad = 0;
    double worst = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(o, "cases"))
    {
        const struct frs_sampling s = {
            .temperature = (float)cJSON_GetObjectItem(c, "temperature")->valuedouble,
            .top_k = cJSON_GetObjectItem(c, "top_k")->valueint,
            .top_p = (float)cJSON_GetObjectItem(c, "top_p")->valuedouble,
            .seed = 1,
        };
        const int ri = cJSON_GetObjectItem(c, "row")->valueint;
        const float *row = logits + (size_t)ri * V;
        struct sampling_shard sh = full_shard(row, 1, V);
        struct sampling_row sr;
        CHECK_OK(sampling_prepare(NULL, &sh, &s, &sr));
        all_probs(row, V, &s, &sr, p);
        int *hf_kept = calloc((size_t)V, sizeof *hf_kept);
        double *hf_p = calloc((size_t)V, sizeof *hf_p);
        const cJSON *kept = cJSON_GetObjectItem(c, "kept"), *prob = cJSON_GetObjectItem(c, "prob");
        for (int j = 0; j < cJSON_GetArraySize(kept); j++) {
            int t = cJSON_GetArrayItem(kept, j)->valueint;
            hf_kept[t] = 1;
            hf_p[t] = cJSON_GetArrayItem(prob, j)->valuedouble;
        }
        int mism = 0;
        for (int t = 0; t < V; t++) {
            mism += (p[t] > 0.0f) != hf_kept[t];
            worst = fmax(worst, fabs(p[t] - hf_p[t]));
        }
        if (mism) {
            set_bad++;
            fprintf(stderr, "  T %g top_k %d top_p %g row %d: %d tokens differ from HF's kept set\n",
                    (double)s.temperature, s.top_k, (double)s.top_p, ri, mism);
        }
        free(hf_kept);
        free(hf_p);
        ncase++;
    }
    CHECK(ncase > 0 && set_bad == 0, "%d of %d cases: kept set differs from Hugging Face's warpers", set_bad, ncase);
    CHECK(worst <= 1e-6, "probabilities differ from Hugging Face's by %.3g", worst);
    printf("hf warpers: %d cases, kept sets identical, max |p - p_hf| %.2g\n", ncase, worst);
    free(p);
    free(logits);
    cJSON_Delete(o);
}

/* ---- random rows vs the direct sort ---------------------------------------------------------- */

static void random_row(float *row, int V, uint64_t seed, int quantise)
{
    for (int t = 0; t < V; t++) {
        double u1 = frs_rng_uniform(seed, 1, (uint64_t)t), u2 = frs_rng_uniform(seed, 2, (uint64_t)t);
        double g = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
        row[t] = quantise ? (float)(round(g * 2) / 2) : (float)(2 * g);
    }
}

static void test_random_vs_sort(void)
{
    const int V = 57;
    float row[57], p[57];
    int kept[57];
    double pr[57];
    int set_bad = 0, sum_bad = 0, n = 0;
    double worst = 0;
    for (int it = 0; it < 300; it++) {
        random_row(row, V, 1000 + (uint64_t)it, it % 3 == 0);
        const struct frs_sampling s = {
            .temperature = 0.3f + 2.0f * (float)frs_rng_uniform(77, 3, (uint64_t)it),
            .top_k = (int)(frs_rng_u64(77, 4, (uint64_t)it) % 70) * (it % 4 != 1), /* 0 a quarter of the time */
            .top_p = it % 5 == 2 ? 1.0f : (float)frs_rng_uniform(77, 5, (uint64_t)it),
            .seed = 3,
        };
        struct sampling_shard sh = full_shard(row, 1, V);
        struct sampling_row sr;
        CHECK_OK(sampling_prepare(NULL, &sh, &s, &sr));
        all_probs(row, V, &s, &sr, p);
        ref_filter(row, V, &s, kept, pr);
        double sum = 0;
        int mism = 0;
        for (int t = 0; t < V; t++) {
            mism += (p[t] > 0.0f) != kept[t];
            sum += p[t];
            worst = fmax(worst, fabs(p[t] - pr[t]));
        }
        set_bad += mism != 0;
        sum_bad += fabs(sum - 1.0) > 1e-5;
        n++;
    }
    CHECK(set_bad == 0, "%d of %d random rows: kept set differs from the direct sort", set_bad, n);
    CHECK(sum_bad == 0, "%d of %d random rows: probabilities do not sum to 1 over the kept set", sum_bad, n);
    CHECK(worst <= 1e-6, "probabilities differ from the direct computation by %.3g", worst);
    printf("random rows: %d rows (a third with ties), kept sets identical, max |p - p_ref| %.2g\n", n, worst);
}

/* ---- fixed-point masses ---------------------------------------------------------------------- */

static void test_mass(void)
{
    int bad = 0, mono_bad = 0;
    double worst = 0;
    uint64_t prev = ~0ull;
    const int shift = frs_mass_shift(128256);
    for (int i = 0; i <= 200000; i++) {
        const double d = -46.0 * i / 200000.0;
        const double got = frs_mass_exp(d), ref = exp(d);
        const double ulps = fabs(got - ref) / (nextafter(ref, INFINITY) - ref);
        worst = fmax(worst, ulps);
        bad += !(ulps <= 4.0);
        const uint64_t f = frs_mass_fixed((float)d, 0.0f, shift); /* d rounded to float: still decreasing */
        mono_bad += f > prev;
        prev = f;
    }
    CHECK(bad == 0 && worst <= 4.0, "frs_mass_exp: %d values more than 4 ulp from exp (worst %.2f ulp)", bad, worst);
    CHECK(mono_bad == 0, "frs_mass_fixed increases with the distance to the max at %d points", mono_bad);
    CHECK(shift == 63 - 17 && frs_mass_fixed(3.5f, 3.5f, shift) == (uint64_t)1 << shift,
          "frs_mass_shift(128256) = %d, the top token's mass %llu", shift,
          (unsigned long long)frs_mass_fixed(3.5f, 3.5f, shift));
    CHECK(frs_mass_fixed(-50.0f, 0.0f, shift) == 0 && frs_mass_fixed(NAN, 0.0f, shift) == 0,
          "masses below 2^-shift and NaN must be 0");
    printf("fixed-point masses: frs_mass_exp within %.2f ulp of exp on [-46, 0], shift %d at 128256 ids\n", worst,
           shift);
}

/* ---- statistics ------------------------------------------------------------------------------ */

/* chi-square upper quantile for significance alpha = 0.001 (z = 3.0902), Wilson-Hilferty */
static double chi2_crit(int df)
{
    const double z = 3.0902;
    double a = 2.0 / (9.0 * df);
    return df * pow(1 - a + z * sqrt(a), 3);
}

static void chi_square(const char *what, const int *count, const double *expect_p, int V, int N)
{
    double chi = 0, pool_e = 0, pool_o = 0;
    int cells = 0;
    for (int t = 0; t < V; t++) {
        double e = expect_p[t] * N;
        if (expect_p[t] == 0.0) {
            CHECK(count[t] == 0, "%s: token %d has probability 0 but was drawn %d times", what, t, count[t]);
            continue;
        }
        if (e < 5) {
            pool_e += e;
            pool_o += count[t];
            continue;
        }
        chi += (count[t] - e) * (count[t] - e) / e;
        cells++;
    }
    if (pool_e > 0) {
        chi += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        cells++;
    }
    const int df = cells - 1;
    const double crit = chi2_crit(df);
    printf("%s: %d draws, chi-square %.1f with %d dof (critical %.1f at significance 0.001)\n", what, N, chi, df, crit);
    CHECK(df >= 3 && chi <= crit, "%s: chi-square %.1f > %.1f (%d dof)", what, chi, crit, df);
}

static void test_statistics(void)
{
    enum { V = 40, N = 20000 };
    float row[V], p[V];
    random_row(row, V, 4242, 0);
    for (int t = 0; t < V; t++)
        row[t] *= 0.6f;
    const struct frs_sampling s = {.temperature = 0.9f, .top_p = 0.95f, .top_k = 25, .seed = 12345};
    struct sampling_shard sh = full_shard(row, 1, V);
    struct sampling_row sr;
    CHECK_OK(sampling_prepare(NULL, &sh, &s, &sr));
    all_probs(row, V, &s, &sr, p);
    int kept_n = 0;
    double expect[V];
    for (int t = 0; t < V; t++) {
        expect[t] = p[t];
        kept_n += p[t] > 0;
    }
    CHECK(kept_n > 5 && kept_n < 25, "the statistical row should have a real top-k/top-p cut (%d kept)", kept_n);
    int count[V];
    memset(count, 0, sizeof count);
    for (uint64_t d = 0; d < N; d++) {
        int32_t out;
        CHECK_OK(sampling_draw(NULL, &sh, &s, &sr, &d, NULL, NULL, &out));
        if (out >= 0 && out < V)
            count[out]++;
    }
    chi_square("draws", count, expect, V, N);

    /* with the two most likely tokens excluded: renormalised over the rest */
    int32_t am[2];
    CHECK_OK(sampling_argmax(NULL, &sh, &am[0]));
    double best2 = -1;
    for (int t = 0; t < V; t++)
        if (t != am[0] && expect[t] > best2) {
            best2 = expect[t];
            am[1] = t;
        }
    double rest = 1 - expect[am[0]] - expect[am[1]];
    for (int t = 0; t < V; t++)
        expect[t] = (t == am[0] || t == am[1]) ? 0.0 : expect[t] / rest;
    int excl_off[2] = {0, 2};
    memset(count, 0, sizeof count);
    for (uint64_t d = 0; d < N; d++) {
        int32_t out;
        uint64_t dd = d + 1000000;
        CHECK_OK(sampling_draw(NULL, &sh, &s, &sr, &dd, am, excl_off, &out));
        if (out >= 0 && out < V)
            count[out]++;
    }
    chi_square("draws with the top-2 excluded", count, expect, V, N);
}

/* ---- sharded == single rank ------------------------------------------------------------------ */

static void test_sharded(void)
{
    enum { N = 6, V = 1001, DRAWS = 300 };
    float *full = malloc((size_t)N * V * sizeof *full);
    for (int i = 0; i < N; i++)
        random_row(full + (size_t)i * V, V, 555 + (uint64_t)i, i == 1 || i == 4);
    /* row 0: the max at ids 10 and 900 (different shards at np 2 and 3) */
    full[10] = full[900] = 50.0f;
    int off, vl;
    llama_vocab_shard(V, g_rank, g_size, &off, &vl);
    float *loc = malloc((size_t)N * (vl > 0 ? vl : 1) * sizeof *loc);
    for (int i = 0; i < N; i++)
        memcpy(loc + (size_t)i * vl, full + (size_t)i * V + off, (size_t)vl * sizeof *loc);
    struct sampling_shard shf = full_shard(full, N, V);
    struct sampling_shard shl = {.logits = loc, .n = N, .vocab_local = vl, .vocab_offset = off};

    int32_t a1[N], a2[N];
    CHECK_OK(sampling_argmax(NULL, &shf, a1));
    CHECK_OK(sampling_argmax(g_comm, &shl, a2));
    CHECK(a1[0] == 10, "tie across shards: argmax %d, expected 10", a1[0]);
    CHECK(memcmp(a1, a2, sizeof a1) == 0, "sharded argmax differs (row 0: %d vs %d)", a2[0], a1[0]);

    const struct frs_sampling cfgs[] = {
        {1.0f, 1.0f, 0, 1},    {0.8f, 1.0f, 50, 2},  {1.2f, 0.9f, 0, 3},   {0.7f, 0.85f, 40, 4},
        {1.0f, 1.0f, 1, 5},    {1.0f, 0.0f, 0, 6},   {1.0f, 0.5f, 2000, 7}, {2.5f, 0.3f, 0, 8},
        {0.5f, 0.99f, 333, 9},
    };
    int thresh_bad = 0, sum_bad = 0, prob_bad = 0, draw_bad = 0, excl_bad = 0;
    uint64_t *draw = malloc(sizeof(uint64_t) * N);
    int32_t *row_of = malloc(sizeof(int32_t) * N * 8), *tok = malloc(sizeof(int32_t) * N * 8);
    float *p1 = malloc(sizeof(float) * N * 8), *p2 = malloc(sizeof(float) * N * 8);
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        const struct frs_sampling *s = &cfgs[ci];
        struct sampling_row r1[N], r2[N];
        CHECK_OK(sampling_prepare(NULL, &shf, s, r1));
        CHECK_OK(sampling_prepare(g_comm, &shl, s, r2));
        for (int i = 0; i < N; i++) {
            thresh_bad += memcmp(&r1[i].thresh, &r2[i].thresh, sizeof(float)) != 0 || r1[i].max != r2[i].max;
            sum_bad += fabs(r1[i].sum - r2[i].sum) > 1e-12 * r1[i].sum;
        }
        /* probabilities of 8 tokens per row: the argmax, a few spread over the shards */
        for (int i = 0; i < N; i++)
            for (int j = 0; j < 8; j++) {
                row_of[i * 8 + j] = i;
                tok[i * 8 + j] = j == 0 ? a1[i] : (int32_t)((j * 137 + i * 31) % V);
            }
        CHECK_OK(sampling_prob(NULL, &shf, s, r1, row_of, tok, N * 8, p1));
        CHECK_OK(sampling_prob(g_comm, &shl, s, r2, row_of, tok, N * 8, p2));
        for (int q = 0; q < N * 8; q++)
            prob_bad += fabsf(p1[q] - p2[q]) > 1e-6f * fmaxf(p1[q], 1e-30f);
        /* draws, without and with exclusions (the row's argmax and token 500) */
        int32_t excl[2 * N];
        int excl_off[N + 1];
        for (int i = 0; i < N; i++) {
            excl[2 * i] = a1[i];
            excl[2 * i + 1] = 500;
            excl_off[i] = 2 * i;
        }
        excl_off[N] = 2 * N;
        for (int d = 0; d < DRAWS; d++) {
            int32_t o1[N], o2[N];
            for (int i = 0; i < N; i++)
                draw[i] = (uint64_t)d * N + (uint64_t)i;
            CHECK_OK(sampling_draw(NULL, &shf, s, r1, draw, NULL, NULL, o1));
            CHECK_OK(sampling_draw(g_comm, &shl, s, r2, draw, NULL, NULL, o2));
            draw_bad += memcmp(o1, o2, sizeof o1) != 0;
            CHECK_OK(sampling_draw(NULL, &shf, s, r1, draw, excl, excl_off, o1));
            CHECK_OK(sampling_draw(g_comm, &shl, s, r2, draw, excl, excl_off, o2));
            draw_bad += memcmp(o1, o2, sizeof o1) != 0;
            for (int i = 0; i < N; i++) {
                /* an excluded token only when all kept tokens are excluded (then: the argmax) */
                const int kept_left = (r1[i].thresh < full[(size_t)i * V + a1[i]] / s->temperature);
                if (kept_left)
                    excl_bad += o1[i] == excl[2 * i] || o1[i] == excl[2 * i + 1];
            }
        }
    }
    CHECK(thresh_bad == 0, "%d rows: sharded threshold/max differ from single rank", thresh_bad);
    CHECK(sum_bad == 0, "%d rows: sharded sums differ from single rank", sum_bad);
    CHECK(prob_bad == 0, "%d probabilities differ from single rank", prob_bad);
    CHECK(draw_bad == 0, "%d draw batches differ from single rank", draw_bad);
    CHECK(excl_bad == 0, "%d draws returned an excluded token", excl_bad);
    if (g_rank == 0 && !(thresh_bad || sum_bad || prob_bad || draw_bad || excl_bad))
        printf("sharded (np %d, V %d, %d rows, %zu configs, %d x 2 draw batches): identical to single rank\n", g_size,
               V, N, sizeof cfgs / sizeof cfgs[0], DRAWS);
    free(draw);
    free(row_of);
    free(tok);
    free(p1);
    free(p2);
    free(loc);
    free(full);
}

int main(void)
{
    static MPI_Comm world;
    static struct frs_comm comm;
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE");
    const int use_mpi = ws && atoi(ws) > 1;
    if (use_mpi) {
        MPI_Init(NULL, NULL);
        world = MPI_COMM_WORLD;
        MPI_Comm_rank(world, &g_rank);
        MPI_Comm_size(world, &g_size);
        comm.rank = g_rank;
        comm.size = g_size;
        comm.local_rank = g_rank;
        comm.local_size = g_size;
        comm.device = -1;
        comm.mpi_comm = &world;
        snprintf(comm.host, sizeof comm.host, "local");
        g_comm = &comm;
    }
    if (g_size == 1) {
        test_closed_form();
        test_hf_fixture();
        test_random_vs_sort();
        test_mass();
        test_statistics();
    }
    test_sharded();
    int fails = test_failures, all = fails;
    if (use_mpi) {
        MPI_Allreduce(&fails, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (all && !fails)
            test_failures = 1; /* another rank failed */
    }
    int rc = test_finish(g_rank == 0 ? "test_sampling" : "test_sampling (rank > 0)");
    if (use_mpi)
        MPI_Finalize();
    return rc;
}
