/* test_cuda_sample.c - sampling on the device (kernels/cuda_sample.h) against runtime/sampling.c on
 * the same logits, and the CUDA backend's graphs and device sampling against their off switches.
 *  1. kernels: random logit rows of several shapes (997 / 5003 / 128256 columns, 1 to 60 rows) and
 *     kinds (Gaussian, peaked like an LLM's, quantised with many exact ties, all equal, nearly
 *     equal), many settings of temperature / top-k / top-p and random seeds and draw ids, random
 *     drafted trees whose children often are the parent row's best tokens (so exclusions matter,
 *     and top-k 1 with the argmax excluded reaches the argmax fallback). Every row the device did
 *     not flag must give the host's max, cut and kept mass bit for bit (the fixed-point masses of
 *     runtime/sample_mass.h), the same residual draw and the children's probabilities bit for bit;
 *     flagged rows (redone on the host by the backend) are counted per kind and may occur only
 *     where a crossing bin is too large to rank (nearly equal logits, a top-k cut in the tail),
 *     never on the other kinds and settings (the fallback must not be what passes the test).
 *  2. backend, fixture pair (models/gqa-bf16, spec/head-gqa) and the synthetic Llama-3.2-1B shape
 *     (128256 ids): speculative and autoregressive sampled generation with device sampling give
 *     the same tokens as with device_sampling = 0 (cuBLASLt off in both, cublaslt 0, so the
 *     logits are bit-identical), and the device path answered (counts from
 *     cuda_backend_sampling_counts);
 *  3. backend: draft_tree / verify with CUDA graphs == with cuda_graphs = 0, every iteration of a
 *     manual loop (eager, capture and replays), greedy and sampled: same trees and argmax (the token
 *     chosen after each node, position-keyed at every temperature, runtime/batch.h), and the
 *     device's greedy acceptance walk == the host's.
 * FRS_TEST_QUICK=1: fewer shapes and settings; FRS_TEST_KERNELS_ONLY=1: part 1 alone on one
 * small shape and every third setting (for compute-sanitizer). Skipped (77) without a CUDA device.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "accept.h"
#include "backend.h"
#include "cuda_backend.h"
#include "cuda_sample.h"
#include "draft.h"
#include "engine.h"
#include "model.h"
#include "sampling.h"
#include "spec_util.h"
#include "synthetic.h"
#include "testutil.h"

static uint64_t g_rng;
static int g_quick;

static uint64_t rnd_u64(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static double rnd_unit(void) { return (double)(rnd_u64() >> 11) * (1.0 / 9007199254740992.0); }

static int rnd_int(int n) { return (int)(rnd_u64() % (uint64_t)n); }

static float rnd_gauss(void) /* sum of 4 uniforms, scaled to unit variance */
{
    double s = 0;
    for (int i = 0; i < 4; i++)
        s += rnd_unit() - 0.5;
    return (float)(s * 1.7320508075688772);
}

#define CK(expr)                                                                                  \
    do {                                                                                          \
        cudaError_t ce_ = (expr);                                                                 \
        if (ce_ != cudaSuccess) {                                                                 \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(ce_)); \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

/* ---- 1. kernels against sampling.c --------------------------------------------------------------- */

enum { GEN_GAUSS, GEN_PEAKED, GEN_TIES, GEN_FLAT, GEN_NEAR_FLAT, GEN_COUNT };
static const char *GEN_NAME[GEN_COUNT] = {"gauss", "peaked", "ties", "flat", "near-flat"};

static void gen_row(int kind, float *x, int cols)
{
    switch (kind) {
    case GEN_GAUSS:
        for (int c = 0; c < cols; c++)
            x[c] = 3.0f * rnd_gauss();
        break;
    case GEN_PEAKED: /* a few strong candidates over a broad low tail, as an LLM's logits */
        for (int c = 0; c < cols; c++)
            x[c] = 2.0f * rnd_gauss() - 4.0f;
        for (int j = 0; j < 6; j++)
            x[rnd_int(cols)] = 6.0f + 3.0f * (float)rnd_unit();
        break;
    case GEN_TIES:
        for (int c = 0; c < cols; c++)
            x[c] = roundf(2.0f * rnd_gauss()) * 0.5f;
        break;
    case GEN_FLAT:
        for (int c = 0; c < cols; c++)
            x[c] = 0.5f;
        break;
    default:
        for (int c = 0; c < cols; c++)
            x[c] = 1.0f + 1e-3f * (float)rnd_unit();
        break;
    }
}

/* n nodes, parent[i] < i; a child's token is one of its parent row's 8 best with probability 0.7,
 * else random; siblings distinct */
static void gen_tree(struct frs_tree *t, int n, const float *x, int cols)
{
    memset(t, 0, sizeof *t);
    t->n = n;
    t->parent[0] = -1;
    t->token[0] = rnd_int(cols);
    for (int i = 1; i < n; i++) {
        const int p = rnd_int(i);
        t->parent[i] = p;
        t->depth[i] = t->depth[p] + 1;
        for (int tries = 0;; tries++) {
            int tok = rnd_int(cols);
            if (tries < 20 && rnd_unit() < 0.7) { /* the j-th best of row p (j < 8), by a partial scan */
                const int j = rnd_int(8);
                int best[8], nb = 0;
                for (int c = 0; c < cols; c++) {
                    int pos = nb < 8 ? nb : 8;
                    while (pos > 0 && x[(size_t)p * cols + c] > x[(size_t)p * cols + best[pos - 1]])
                        pos--;
                    if (pos < 8) {
                        for (int q = (nb < 8 ? nb : 7); q > pos; q--)
                            best[q] = best[q - 1];
                        best[pos] = c;
                        if (nb < 8)
                            nb++;
                    }
                }
                tok = best[j < nb ? j : nb - 1];
            }
            int dup = 0;
            for (int c = p + 1; c < i; c++)
                dup |= t->parent[c] == p && t->token[c] == tok;
            if (!dup) {
                t->token[i] = tok;
                break;
            }
        }
    }
}

struct setting {
    float temperature, top_p;
    int top_k; /* -1: cols - 1, -2: cols */
};

static const struct setting SETTINGS[] = {
    {1.0f, 1.0f, 0},  {0.7f, 1.0f, 0},  {1.5f, 1.0f, 0},   {0.8f, 1.0f, 1},  {0.8f, 1.0f, 5},
    {1.0f, 1.0f, 50}, {0.6f, 1.0f, 1000}, {1.0f, 0.9f, 0}, {0.7f, 0.5f, 0},  {1.0f, 0.95f, 40},
    {0.8f, 0.0f, 0},  {1.2f, 0.999f, 0}, {0.9f, 0.8f, 3},  {1.0f, 1.0f, -1}, {1.0f, 1.0f, -2},
};
#define N_SETTINGS ((int)(sizeof SETTINGS / sizeof SETTINGS[0]))

/* the device decides every row itself unless a crossing bin holds too many distinct values:
 * nearly equal logits, or a top-k cut among the values more than 32 nats below the max */
static int flag_allowed(int kind, const struct setting *st)
{
    return kind == GEN_NEAR_FLAT || st->top_k == -1;
}

struct tally {
    long rows, flagged, unexpected, argmax_fallbacks;
};

static void run_case(int cols, int n, int kind, const struct setting *st, struct tally *ty, struct tally *all)
{
    float *x = malloc((size_t)n * cols * sizeof(float));
    for (int r = 0; r < n; r++)
        gen_row(kind, x + (size_t)r * cols, cols);
    const int use_tree = n > 1;
    struct frs_tree tree;
    if (use_tree)
        gen_tree(&tree, n, x, cols);
    struct frs_sampling s = {st->temperature, st->top_p, st->top_k, rnd_u64()};
    if (st->top_k == -1)
        s.top_k = cols - 1;
    else if (st->top_k == -2)
        s.top_k = cols;
    const uint64_t draw0 = rnd_u64() >> 1;

    /* host reference */
    const struct sampling_shard sh = {x, n, cols, 0};
    struct sampling_row hrows[FRS_MAX_TREE];
    int32_t hres[FRS_MAX_TREE], excl[FRS_MAX_TREE], row_of[FRS_MAX_TREE], qtok[FRS_MAX_TREE];
    int excl_off[FRS_MAX_TREE + 1];
    uint64_t draws[FRS_MAX_TREE];
    float hprob[FRS_MAX_TREE];
    CHECK_OK(sampling_prepare(NULL, &sh, &s, hrows));
    int m = 0;
    for (int i = 0; i < n; i++) {
        excl_off[i] = m;
        if (use_tree)
            for (int c = i + 1; c < n; c++)
                if (tree.parent[c] == i)
                    excl[m++] = tree.token[c];
        draws[i] = draw0 + (uint64_t)i;
    }
    excl_off[n] = m;
    CHECK_OK(sampling_draw(NULL, &sh, &s, hrows, draws, use_tree ? excl : NULL, use_tree ? excl_off : NULL, hres));
    if (use_tree) {
        for (int c = 1; c < n; c++) {
            row_of[c - 1] = tree.parent[c];
            qtok[c - 1] = tree.token[c];
        }
        CHECK_OK(sampling_prob(NULL, &sh, &s, hrows, row_of, qtok, n - 1, hprob + 1));
    }

    /* device */
    float *dx;
    struct cuda_sample_params *dp;
    struct cuda_sample_row *drows;
    struct frs_tree *dtree;
    uint32_t *dflags;
    int32_t *dout;
    void *scratch;
    CK(cudaMalloc((void **)&dx, (size_t)n * cols * sizeof(float)));
    CK(cudaMalloc((void **)&dp, sizeof *dp));
    CK(cudaMalloc((void **)&drows, (size_t)n * sizeof *drows));
    CK(cudaMalloc((void **)&dtree, sizeof *dtree));
    CK(cudaMalloc((void **)&dflags, (size_t)n * 4));
    CK(cudaMalloc((void **)&dout, (size_t)n * 4));
    CK(cudaMalloc(&scratch, cuda_sample_scratch_bytes(n, cols)));
    CK(cudaMemcpy(dx, x, (size_t)n * cols * sizeof(float), cudaMemcpyHostToDevice));
    CK(cudaMemset(dflags, 0, (size_t)n * 4));
    CK(cudaMemset(dout, 0xff, (size_t)n * 4));
    if (use_tree) {
        struct frs_tree poisoned = tree;
        for (int i = 0; i < FRS_MAX_TREE; i++) {
            poisoned.child_prob[i] = NAN;
            poisoned.argmax[i] = 12345;
        }
        CK(cudaMemcpy(dtree, &poisoned, sizeof poisoned, cudaMemcpyHostToDevice));
    }
    const struct cuda_sample_params hp = {s.temperature, s.top_p, s.top_k, 0, s.seed, draw0};
    CHECK_OK(cuda_sample_set_params(dp, &hp, 0));
    CHECK_OK(cuda_sample_prepare(dx, n, cols, cols, dp, drows, dflags, 0));
    if (use_tree)
        CHECK_OK(cuda_sample_tree_probs(dx, n, cols, cols, 0, dp, drows, dtree, 0));
    CHECK_OK(cuda_sample_draw(dx, n, cols, cols, 0, dp, drows, use_tree ? dtree : NULL, scratch, dout, dflags, 0));
    CK(cudaDeviceSynchronize());
    struct cuda_sample_row grows[FRS_MAX_TREE];
    uint32_t flags[FRS_MAX_TREE];
    int32_t gres[FRS_MAX_TREE];
    struct frs_tree gtree;
    CK(cudaMemcpy(grows, drows, (size_t)n * sizeof *drows, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(flags, dflags, (size_t)n * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(gres, dout, (size_t)n * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(&gtree, dtree, sizeof gtree, cudaMemcpyDeviceToHost));

    int bad_rows = 0, bad_draw = 0, bad_prob = 0;
    for (int r = 0; r < n; r++) {
        ty->rows++;
        all->rows++;
        if (flags[r]) {
            ty->flagged++;
            all->flagged++;
            if (!flag_allowed(kind, st)) {
                ty->unexpected++;
                all->unexpected++;
                fprintf(stderr, "  unexpected flag 0x%x: %s, %d cols, row %d, T %g top-k %d top-p %g\n", flags[r],
                        GEN_NAME[kind], cols, r, (double)s.temperature, s.top_k, (double)s.top_p);
            }
            continue;
        }
        if (!(grows[r].max == hrows[r].max && grows[r].thresh == hrows[r].thresh && grows[r].sum == hrows[r].sum &&
              grows[r].shift == hrows[r].shift)) {
            if (bad_rows++ < 3)
                fprintf(stderr, "  row %d: device max %.9g thresh %.9g sum %.12g, host %.9g %.9g %.12g\n", r,
                        (double)grows[r].max, (double)grows[r].thresh, grows[r].sum, (double)hrows[r].max,
                        (double)hrows[r].thresh, hrows[r].sum);
        }
        if (gres[r] != hres[r] && bad_draw++ < 3)
            fprintf(stderr, "  row %d: device draw %d, host %d\n", r, gres[r], hres[r]);
        if (gres[r] == hres[r] && use_tree) {
            int in_excl = 0;
            for (int j = excl_off[r]; j < excl_off[r + 1]; j++)
                in_excl |= excl[j] == hres[r];
            if (in_excl) { /* the host returned an excluded token: its argmax fallback */
                ty->argmax_fallbacks++;
                all->argmax_fallbacks++;
            }
        }
    }
    if (use_tree) {
        CHECK(gtree.child_prob[0] == 1.0f && gtree.argmax[0] == -1, "tree_probs: root fields");
        for (int c = 1; c < n; c++) {
            if (flags[tree.parent[c]])
                continue;
            const float h = hprob[c], g = gtree.child_prob[c];
            const int ok = memcmp(&g, &h, sizeof g) == 0;
            if (!ok && bad_prob++ < 3)
                fprintf(stderr, "  child %d (row %d token %d): device p %.9g, host %.9g\n", c, tree.parent[c],
                        tree.token[c], (double)g, (double)h);
            CHECK(gtree.argmax[c] == -1, "tree_probs: argmax[%d] = %d, expected -1", c, gtree.argmax[c]);
        }
    }
    CHECK(bad_rows == 0 && bad_draw == 0 && bad_prob == 0,
          "%s, %d cols x %d rows, T %g top-k %d top-p %g seed %llu: %d rows, %d draws, %d probabilities differ "
          "from sampling.c",
          GEN_NAME[kind], cols, n, (double)s.temperature, s.top_k, (double)s.top_p, (unsigned long long)s.seed,
          bad_rows, bad_draw, bad_prob);
    cudaFree(dx);
    cudaFree(dp);
    cudaFree(drows);
    cudaFree(dtree);
    cudaFree(dflags);
    cudaFree(dout);
    cudaFree(scratch);
    free(x);
}

static void test_kernels(void)
{
    const int shapes[][2] = {{997, 13}, {5003, 60}, {128256, 4}, {128256, 1}, {997, 1}};
    const int small = getenv("FRS_TEST_KERNELS_ONLY") != NULL;
    const int n_shapes = small ? 1 : g_quick ? 2 : (int)(sizeof shapes / sizeof shapes[0]);
    const int reps = g_quick || small ? 1 : 2;
    struct tally ty[GEN_COUNT], all;
    memset(ty, 0, sizeof ty);
    memset(&all, 0, sizeof all);
    const clock_t t0 = clock();
    for (int sh = 0; sh < n_shapes; sh++)
        for (int kind = 0; kind < GEN_COUNT; kind++)
            for (int si = 0; si < N_SETTINGS; si += small ? 3 : 1)
                for (int rep = 0; rep < reps; rep++)
                    run_case(shapes[sh][0], shapes[sh][1], kind, &SETTINGS[si], &ty[kind], &all);
    fprintf(stderr, "kernels vs sampling.c (%.1f s): rows compared bit for bit, rows flagged for the host, argmax "
                    "fallbacks reached\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
    for (int k = 0; k < GEN_COUNT; k++)
        fprintf(stderr, "  %-9s %6ld rows, %4ld flagged (%ld outside near-flat logits / a top-k cut in the tail), %ld "
                        "argmax fallbacks\n",
                GEN_NAME[k], ty[k].rows, ty[k].flagged, ty[k].unexpected, ty[k].argmax_fallbacks);
    CHECK(all.unexpected == 0, "%ld rows flagged where the device decides every row", all.unexpected);
    CHECK(all.argmax_fallbacks > 0, "no case reached the everything-excluded argmax fallback");
}

/* ---- 2./3. the backend ----------------------------------------------------------------------------- */

#define N_NEW 40

/* the CUDA backend with graphs on or off and device or host sampling; cuBLASLt off in every one
 * (cuBLAS's default algorithms: bit-identical logits across backends) */
static enum frs_status make_backend(struct frs_backend *be, const struct llama_model *m, const struct eagle_draft *d,
                                    int graphs, int device_sampling)
{
    const struct frs_limits lim = {.max_ctx = 320, .max_tree = 64, .prefill_chunk = 16}; /* as spec_make_backend */
    struct frs_backend_options opt = frs_backend_options_default();
    opt.cuda_graphs = graphs;
    opt.device_sampling = device_sampling;
    opt.cublaslt = 0;
    memset(be, 0, sizeof *be);
    be->ops = &frs_backend_cuda_ops;
    return be->ops->create(be, m, d, NULL, &lim, &opt);
}

static const struct frs_sampling SAMPLED[] = {
    {0.8f, 1.0f, 0, 11}, {1.0f, 1.0f, 20, 12}, {0.7f, 0.9f, 0, 13}, {1.2f, 0.8f, 50, 14}, {0.5f, 1.0f, 1, 15},
};
#define N_SAMPLED ((int)(sizeof SAMPLED / sizeof SAMPLED[0]))

/* device sampling == device_sampling = 0, speculative and autoregressive */
static void test_device_vs_host(const char *name, const struct llama_model *m, const struct eagle_draft *d,
                                const struct frs_tree_params *shape, int n_prompts, int n_settings, int n_new)
{
    struct frs_backend dev, host;
    CHECK_OK(make_backend(&dev, m, d, 1, 1));
    CHECK_OK(make_backend(&host, m, d, 1, 0));
    const int V = m->cfg.vocab_size;
    int same = 0, runs = 0, spec_ar_same = 0, spec_ar_runs = 0;
    for (int pi = 0; pi < n_prompts; pi++) {
        int32_t prompt[64];
        const int np = 4 + 7 * pi;
        for (int j = 0; j < np; j++)
            prompt[j] = rnd_int(V);
        for (int si = 0; si < n_settings; si++) {
            int32_t ar[N_NEW];
            int n_ar = 0;
            for (int spec = 0; spec < 2; spec++) {
                int32_t a[N_NEW], b[N_NEW];
                struct frs_gen_stats sa, sb;
                struct frs_sampling s = SAMPLED[si];
                s.seed += (uint64_t)pi * 1000;
                CHECK_OK(spec_generate(&dev, prompt, np, &s, spec ? shape : NULL, n_new, a, &sa));
                CHECK_OK(spec_generate(&host, prompt, np, &s, spec ? shape : NULL, n_new, b, &sb));
                int eq = sa.n_tokens == sb.n_tokens;
                int first = -1;
                for (int j = 0; eq && j < sa.n_tokens; j++)
                    if (a[j] != b[j]) {
                        eq = 0;
                        first = j;
                    }
                CHECK(eq, "%s: %s sampled generation (T %g top-k %d top-p %g, prompt %d): device sampling differs from "
                      "device_sampling = 0 at token %d (%d vs %d)", name, spec ? "speculative" : "autoregressive",
                      (double)s.temperature, s.top_k, (double)s.top_p, pi, first, first >= 0 ? a[first] : -1,
                      first >= 0 ? b[first] : -1);
                same += eq;
                runs++;
                /* position-keyed decisions (runtime/batch.h): speculative sampling draws the tokens
                 * autoregressive sampling draws, seed for seed (up to bf16 near ties between the
                 * verify GEMM's and the decode GEMV's logits, counted below) */
                if (!spec) {
                    n_ar = sa.n_tokens;
                    memcpy(ar, a, (size_t)n_ar * sizeof *ar);
                } else {
                    int sa_eq = sa.n_tokens == n_ar;
                    for (int j = 0; sa_eq && j < n_ar; j++)
                        sa_eq = a[j] == ar[j];
                    spec_ar_same += sa_eq;
                    spec_ar_runs++;
                }
            }
        }
    }
    fprintf(stderr, "%s: speculative == autoregressive sampled generation (same seed) in %d of %d runs\n", name,
            spec_ar_same, spec_ar_runs);
    CHECK(spec_ar_same * 4 >= spec_ar_runs * 3, "%s: speculative sampling gave autoregressive sampling's tokens in "
          "only %d of %d runs (position-keyed draws: all but bf16 near ties expected)", name, spec_ar_same,
          spec_ar_runs);
    long dd, dh, dr, hd, hh, hr;
    cuda_backend_sampling_counts(&dev, &dd, &dh, &dr);
    cuda_backend_sampling_counts(&host, &hd, &hh, &hr);
    fprintf(stderr, "%s: %d of %d sampled generations identical (device vs device_sampling = 0); device backend: %ld "
                    "calls on the device, %ld rows redone on the host; host backend: %ld calls on the host\n",
            name, same, runs, dd, dr, hh);
    CHECK(dd > 0 && dh == 0, "%s: the device path answered %ld calls (%ld on the host)", name, dd, dh);
    CHECK(hd == 0 && hh > 0, "%s: device_sampling = 0 answered %ld calls on the device", name, hd);
    dev.ops->destroy(&dev);
    host.ops->destroy(&host);
}

/* graphs == cuda_graphs = 0 over a manual speculative loop, every tree and verdict compared */
static void test_graphs(const struct llama_model *m, const struct eagle_draft *d)
{
    static const struct frs_tree_params shapes[] = {{4, 4, 16}, {6, 10, 60}, {3, 2, 5}};
    struct frs_backend g1, g0;
    CHECK_OK(make_backend(&g1, m, d, 1, 1));
    CHECK_OK(make_backend(&g0, m, d, 0, 1));
    const int V = m->cfg.vocab_size;
    int compared = 0, differ = 0, dev_walks = 0;
    for (int mode = 0; mode < 2; mode++) {
        const struct frs_sampling s = mode ? (struct frs_sampling){0.9f, 0.95f, 0, 77} : (struct frs_sampling){0, 1, 0, 0};
        for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++) {
            int32_t prompt[20], next[64];
            const int np = 9 + si;
            for (int j = 0; j < np; j++)
                prompt[j] = rnd_int(V);
            int32_t root0, root1;
            CHECK_OK(g1.ops->reset(&g1));
            CHECK_OK(g0.ops->reset(&g0));
            CHECK_OK(g1.ops->prefill(&g1, prompt, np));
            CHECK_OK(g0.ops->prefill(&g0, prompt, np));
            CHECK_OK(g1.ops->next_token(&g1, &s, 0, &root1));
            CHECK_OK(g0.ops->next_token(&g0, &s, 0, &root0));
            CHECK(root0 == root1, "graphs: first token %d vs %d", root1, root0);
            for (int j = 1; j < np; j++)
                next[j - 1] = prompt[j];
            next[np - 1] = root1;
            int n_pending = np;
            for (uint64_t it = 1; it <= 12 && g1.target_len + 2 * shapes[si].size < 300; it++) {
                struct frs_tree t1, t0;
                CHECK_OK(g1.ops->draft_tree(&g1, next, n_pending, &shapes[si]));
                CHECK_OK(g0.ops->draft_tree(&g0, next, n_pending, &shapes[si]));
                CHECK_OK(g1.ops->verify(&g1, &s, it, &t1));
                CHECK_OK(g0.ops->verify(&g0, &s, it, &t0));
                int eq = t1.n == t0.n;
                for (int i = 0; eq && i < t1.n; i++)
                    eq = t1.token[i] == t0.token[i] && t1.parent[i] == t0.parent[i] && t1.depth[i] == t0.depth[i] &&
                         t1.argmax[i] == t0.argmax[i] &&
                         (mode ? t1.residual[i] == t0.residual[i] &&
                                     memcmp(&t1.child_prob[i], &t0.child_prob[i], sizeof(float)) == 0
                               : 1);
                CHECK(eq, "graphs: %s tree %d/%d/%d iteration %llu differs between CUDA graphs and cuda_graphs = 0",
                      mode ? "sampled" : "greedy", shapes[si].depth, shapes[si].topk, shapes[si].size,
                      (unsigned long long)it);
                compared++;
                differ += !eq;
                if (!eq)
                    break;
                /* position-keyed verify (runtime/batch.h): argmax holds the chosen token at every
                 * temperature and the engines walk greedily */
                static const struct frs_sampling walk = {0.0f, 1.0f, 0, 0};
                struct frs_accept acc, dacc;
                CHECK_OK(accept_walk(&t1, &walk, it, &acc));
                /* the device walk inside verify (graphed in g1, eager in g0) == the host walk */
                for (int gi = 0; gi < 2; gi++) {
                    struct frs_backend *g = gi ? &g0 : &g1;
                    int done = 0;
                    CHECK(g->ops->accept != NULL, "graphs: the cuda backend has no accept op");
                    CHECK_OK(g->ops->accept(g, &walk, it, &dacc, &done));
                    if (!done)
                        continue;
                    const int same = dacc.n_path == acc.n_path && dacc.n_tokens == acc.n_tokens &&
                                     memcmp(dacc.path, acc.path, (size_t)acc.n_path * sizeof(int32_t)) == 0 &&
                                     memcmp(dacc.tokens, acc.tokens, (size_t)acc.n_tokens * sizeof(int32_t)) == 0;
                    CHECK(same, "graphs: %s iteration %llu: the device acceptance walk (%s) kept %d nodes, the host "
                          "walk %d", mode ? "sampled" : "greedy", (unsigned long long)it, gi ? "eager" : "graph",
                          dacc.n_path, acc.n_path);
                    dev_walks++;
                }
                CHECK_OK(g1.ops->commit(&g1, acc.path, acc.n_path));
                CHECK_OK(g0.ops->commit(&g0, acc.path, acc.n_path));
                memcpy(next, acc.tokens, (size_t)acc.n_tokens * sizeof(int32_t));
                n_pending = acc.n_tokens;
            }
        }
    }
    fprintf(stderr, "graphs vs cuda_graphs = 0: %d iterations compared, %d differ; %d device acceptance walks "
            "== host walk\n", compared, differ, dev_walks);
    CHECK(compared >= 30, "only %d iterations compared", compared);
    CHECK(dev_walks >= compared, "only %d of %d x 2 verifies had a device acceptance walk", dev_walks, compared);
    g1.ops->destroy(&g1);
    g0.ops->destroy(&g0);
}

int main(void)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "test_cuda_sample: no CUDA device, skipped\n");
        return TEST_SKIP;
    }
    const char *env = getenv("FRS_TEST_SEED");
    g_rng = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) * 2654435761ull + 1;
    if (!g_rng)
        g_rng = 1;
    g_quick = getenv("FRS_TEST_QUICK") != NULL;
    fprintf(stderr, "test_cuda_sample: seed %llu\n", (unsigned long long)g_rng);
    test_kernels();
    if (getenv("FRS_TEST_KERNELS_ONLY"))
        return test_finish("test_cuda_sample");

    /* every backend below runs cuBLAS's default algorithms (make_backend: cublaslt 0) */
    char tdir[4096], hdir[4096];
    snprintf(tdir, sizeof tdir, "%s", test_fixture("models/gqa-bf16"));
    snprintf(hdir, sizeof hdir, "%s", test_fixture("spec/head-gqa"));
    struct llama_model m;
    struct eagle_draft d;
    CHECK_OK(llama_model_load(&m, tdir, 0, 1));
    CHECK_OK(eagle_draft_load(&d, hdir, &m));
    const struct frs_tree_params shape = {6, 10, 60};
    test_device_vs_host("gqa-bf16 + head-gqa", &m, &d, &shape, g_quick ? 2 : 4, g_quick ? 2 : N_SAMPLED, N_NEW);
    test_graphs(&m, &d);
    eagle_draft_free(&d);
    llama_model_free(&m);

    if (!g_quick) { /* the real vocabulary size through the backend: synthetic Llama-3.2-1B shapes */
        struct llama_model sm;
        struct eagle_draft sd;
        CHECK_OK(llama_model_synthetic(&sm, "llama3.2-1b", 0, 1));
        CHECK_OK(eagle_draft_synthetic(&sd, &sm, 32768));
        const struct frs_tree_params s1 = {3, 4, 12};
        test_device_vs_host("synthetic llama3.2-1b (128256 ids)", &sm, &sd, &s1, 1, 4, 12);
        eagle_draft_free(&sd);
        llama_model_free(&sm);
    }
    return test_finish("test_cuda_sample");
}
