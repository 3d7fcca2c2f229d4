/* test_spec.c - speculative decoding on the CPU backend through the engine (runtime/engine.c):
 *  1. greedy invariant: speculative output token-identical to greedy autoregressive output, for
 *     10 prompts x 4 (target, head) pairs x tree shapes 1/1/2, 3/2/5, 4/4/16, 6/10/60, 5/8/64 x
 *     FR-Spec vocabularies K = full, 32, 8 (topk capped at K); plus identical to transformers'
 *     greedy continuations where the target fixture has them (tests/fixtures/models/ * /ref.json);
 *  2. long accepted paths: the Markov target with the draft right by construction (markov-exact)
 *     must accept close to depth + 1 tokens per iteration; the noisy head fewer (a fraction);
 *  3. sampling (T > 0): the joint distribution of the generated tokens (t1, t2) and (t2, t3) over
 *     3000 seeded runs, speculative and autoregressive, each against the exact target
 *     distribution computed from the model's own logits (filtered here independently: temperature,
 *     then top-k, then top-p as Hugging Face's warpers), by a chi-square goodness-of-fit test at
 *     p = 0.001 (cells with expected count < 5 pooled; critical value by Wilson-Hilferty); and,
 *     since verify keys every draw by position (runtime/batch.h), each seeded speculative run
 *     token-identical to the autoregressive run of the same seed.
 * The accepted lengths printed are properties of these constructed fixtures, not results. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_backend.h"
#include "draft.h"
#include "engine.h"
#include "model.h"
#include "rng.h"
#include "spec_util.h"
#include "testutil.h"

#define N_PROMPTS 10
#define N_NEW SPEC_N_NEW
#define MAX_PROMPT 48 /* the longest ref.json prompt taken */

/* Prompts: the target fixture's ref.json prompts (with transformers' greedy tokens), then random
 * token sequences of lengths 3..40. */
static void make_prompts(const char *target_rel, int vocab, struct spec_prompt *p)
{
    int n = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/ref.json", test_fixture(target_rel));
    char *js = test_read_file(path, NULL);
    cJSON *o = js ? cJSON_Parse(js) : NULL;
    const cJSON *ps = o ? cJSON_GetObjectItemCaseSensitive(o, "prompts") : NULL, *e;
    cJSON_ArrayForEach(e, ps)
    {
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(e, "ids"), *g = cJSON_GetObjectItemCaseSensitive(e, "greedy");
        if (n >= N_PROMPTS || cJSON_GetArraySize(ids) > MAX_PROMPT || cJSON_GetArraySize(g) < N_NEW)
            continue;
        p[n].n = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, ids) p[n].ids[p[n].n++] = v->valueint;
        for (int i = 0; i < N_NEW; i++)
            p[n].hf[i] = cJSON_GetArrayItem(g, i)->valueint;
        p[n].has_hf = 1;
        n++;
    }
    cJSON_Delete(o);
    free(js);
    for (uint64_t r = 0; n < N_PROMPTS; r++, n++) {
        p[n].n = 3 + (int)(frs_rng_u64(77, r, 0) % 38);
        for (int i = 0; i < p[n].n; i++)
            p[n].ids[i] = (int32_t)(frs_rng_u64(77, r, 1 + i) % (uint64_t)vocab);
        p[n].has_hf = 0;
    }
}

/* mean accepted tokens per iteration of markov-exact / markov-noisy at full vocabulary, per shape */
static double g_markov_acc[2][SPEC_N_SHAPES];

static void test_greedy_pair(const char *target_rel, const char *head_rel, int markov_idx)
{
    struct llama_model m;
    char tdir[4096], hdir[4096];
    snprintf(tdir, sizeof tdir, "%s", test_fixture(target_rel));
    snprintf(hdir, sizeof hdir, "%s", test_fixture(head_rel));
    CHECK_OK(llama_model_load(&m, tdir, 0, 1));
    const int V = m.cfg.vocab_size;
    struct spec_prompt prompts[N_PROMPTS];
    make_prompts(target_rel, V, prompts);
    const struct frs_sampling greedy = {0.0f, 1.0f, 0, 0};

    /* autoregressive reference */
    int32_t ar[N_PROMPTS][N_NEW];
    {
        struct frs_backend be;
        CHECK_OK(spec_make_backend(&be, &frs_backend_cpu_ops, &m, NULL, 256));
        for (int i = 0; i < N_PROMPTS; i++) {
            struct frs_gen_stats st;
            CHECK_OK(spec_generate(&be, prompts[i].ids, prompts[i].n, &greedy, NULL, N_NEW, ar[i], &st));
            CHECK(st.n_tokens == N_NEW, "%s prompt %d: %d autoregressive tokens", target_rel, i, st.n_tokens);
        }
        be.ops->destroy(&be);
    }
    int32_t *ids = malloc((size_t)V * sizeof(int32_t));
    spec_fr_list(V, prompts, N_PROMPTS, &ar[0][0], N_NEW, ids);

    fprintf(stderr, "%s + %s: mean accepted tokens per iteration (10 prompts x %d tokens)\n", target_rel, head_rel,
            N_NEW);
    for (int vi = 0; vi < SPEC_N_VOCABS; vi++) {
        const int K = SPEC_VOCABS[vi];
        struct eagle_draft d;
        CHECK_OK(eagle_draft_load(&d, hdir, &m));
        if (K)
            CHECK_OK(eagle_draft_set_vocab(&d, &m, ids, V, K));
        struct frs_backend be;
        CHECK_OK(spec_make_backend(&be, &frs_backend_cpu_ops, &m, &d, 256));
        char kname[16];
        snprintf(kname, sizeof kname, K ? "%d" : "full", K);
        fprintf(stderr, "  K=%-4s", kname);
        for (int si = 0; si < SPEC_N_SHAPES; si++) {
            struct frs_tree_params p = SPEC_SHAPES[si];
            if (K && p.topk > K)
                p.topk = K;
            long tokens = 0, iters = 0;
            for (int i = 0; i < N_PROMPTS; i++) {
                int32_t out[N_NEW];
                struct frs_gen_stats st;
                CHECK_OK(spec_generate(&be, prompts[i].ids, prompts[i].n, &greedy, &p, N_NEW, out, &st));
                const int first_diff = spec_first_diff(out, st.n_tokens, ar[i], N_NEW);
                CHECK(first_diff < 0, "%s + %s K=%d tree %d/%d/%d prompt %d: speculative differs from autoregressive "
                      "at token %d (%d vs %d)", target_rel, head_rel, K, p.depth, p.topk, p.size, i, first_diff,
                      first_diff >= 0 && first_diff < st.n_tokens ? (int)out[first_diff] : -1,
                      first_diff >= 0 ? (int)ar[i][first_diff] : -1);
                if (prompts[i].has_hf)
                    CHECK(memcmp(out, prompts[i].hf, sizeof out) == 0,
                          "%s prompt %d K=%d tree %d/%d/%d: speculative differs from transformers' greedy", target_rel,
                          i, K, p.depth, p.topk, p.size);
                /* iterations after the first token; the last may be cut by max_new_tokens */
                tokens += st.n_tokens - 1;
                iters += st.iterations - 1;
            }
            const double acc = iters ? (double)tokens / (double)iters : 0;
            fprintf(stderr, "  %d/%d/%d: %.2f", p.depth, p.topk, p.size, acc);
            if (K == 0 && markov_idx >= 0)
                g_markov_acc[markov_idx][si] = acc;
        }
        fputc('\n', stderr);
        be.ops->destroy(&be);
        eagle_draft_free(&d);
    }
    free(ids);
    llama_model_free(&m);
}

/* ---- sampling ----------------------------------------------------------------------------- */

/* Target distribution after temperature, top-k, top-p (Hugging Face's warpers, in that order). */
static void filtered(const float *logits, int V, const struct frs_sampling *s, double *p)
{
    if (V < 1)
        return;
    double *z = calloc((size_t)V, sizeof(double));
    int *ord = calloc((size_t)V, sizeof(int));
    for (int i = 0; i < V; i++) {
        z[i] = (double)(logits[i] / s->temperature);
        ord[i] = i;
    }
    for (int i = 1; i < V; i++) /* descending */
        for (int j = i; j > 0 && z[ord[j - 1]] < z[ord[j]]; j--) {
            int t = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = t;
        }
    int keep = V;
    if (s->top_k > 0 && s->top_k < V) {
        const double th = z[ord[s->top_k - 1]];
        keep = 0;
        while (keep < V && z[ord[keep]] >= th)
            keep++;
    }
    double mx = z[ord[0]], sum = 0;
    for (int i = 0; i < keep; i++)
        sum += exp(z[ord[i]] - mx);
    if (s->top_p < 1.0f) {
        /* HF: ascending cumulative probabilities; remove those with cumsum <= 1 - top_p, keep >= 1 */
        double cum = 0;
        int removed = 0;
        for (int i = keep - 1; i > 0; i--) {
            cum += exp(z[ord[i]] - mx) / sum;
            if (cum <= 1.0 - s->top_p)
                removed++;
            else
                break;
        }
        keep -= removed;
        sum = 0;
        for (int i = 0; i < keep; i++)
            sum += exp(z[ord[i]] - mx);
    }
    for (int i = 0; i < V; i++)
        p[i] = 0;
    for (int i = 0; i < keep; i++)
        p[ord[i]] = exp(z[ord[i]] - mx) / sum;
    free(z);
    free(ord);
}

/* Chi-square goodness of fit of counts to N * expected (cells with expected < 5 pooled).
 * Returns 1 when the fit is accepted at p = 0.001. */
static int chi_square_ok(const char *what, const long *obs, const double *prob, int cells, long N)
{
    double stat = 0, pool_e = 0;
    long pool_o = 0;
    int df = -1;
    for (int c = 0; c < cells; c++) {
        const double e = prob[c] * (double)N;
        if (e >= 5) {
            stat += (obs[c] - e) * (obs[c] - e) / e;
            df++;
        } else {
            pool_e += e;
            pool_o += obs[c];
        }
    }
    if (pool_e >= 1) {
        stat += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        df++;
    }
    if (df < 1)
        df = 1;
    const double z = 3.0902, h = 2.0 / (9.0 * df); /* Wilson-Hilferty: chi2 quantile at 1 - 0.001 */
    const double crit = df * pow(1 - h + z * sqrt(h), 3);
    fprintf(stderr, "    %-40s chi2 %8.1f  df %4d  critical(p=0.001) %8.1f  %s\n", what, stat, df, crit,
            stat <= crit ? "ok" : "REJECTED");
    return stat <= crit;
}

static void test_sampling(void)
{
    struct llama_model m;
    char tdir[4096], hdir[4096];
    snprintf(tdir, sizeof tdir, "%s", test_fixture("spec/markov-target"));
    snprintf(hdir, sizeof hdir, "%s", test_fixture("spec/markov-noisy"));
    CHECK_OK(llama_model_load(&m, tdir, 0, 1));
    struct eagle_draft d;
    CHECK_OK(eagle_draft_load(&d, hdir, &m));
    struct frs_backend be;
    CHECK_OK(spec_make_backend(&be, &frs_backend_cpu_ops, &m, &d, 256));
    struct cpu_backend *b = be.impl;
    const int V = m.cfg.vocab_size;
    const struct spec_prompt pr = {.ids = {3, 141, 59, 26, 5}, .n = 5};
    const struct frs_tree_params tree = {3, 4, 10};
    const struct frs_sampling configs[] = {{2.0f, 1.0f, 0, 0}, {1.5f, 1.0f, 5, 0}, {2.0f, 0.8f, 0, 0}};
    const long N = 3000;
    double *p12 = malloc((size_t)V * V * sizeof(double)), *p23 = malloc((size_t)V * V * sizeof(double));
    double *p1 = malloc((size_t)V * sizeof(double)), *p2 = malloc((size_t)V * sizeof(double)),
           *p3 = malloc((size_t)V * sizeof(double));
    long *c12 = malloc((size_t)V * V * sizeof(long)), *c23 = malloc((size_t)V * V * sizeof(long));
    int32_t(*spec_out)[3] = malloc((size_t)N * sizeof *spec_out);
    fprintf(stderr, "sampling, markov-target + markov-noisy, tree %d/%d/%d, %ld runs per mode:\n", tree.depth,
            tree.topk, tree.size, N);
    for (size_t ci = 0; ci < sizeof configs / sizeof configs[0]; ci++) {
        const struct frs_sampling *s = &configs[ci];
        /* exact distributions from the model's logits */
        memset(p12, 0, (size_t)V * V * sizeof(double));
        memset(p23, 0, (size_t)V * V * sizeof(double));
        CHECK_OK(be.ops->reset(&be));
        CHECK_OK(be.ops->prefill(&be, pr.ids, pr.n));
        filtered(b->logits + (size_t)(b->last_n - 1) * V, V, s, p1);
        const int T = b->target_len;
        for (int32_t t1 = 0; t1 < V; t1++) {
            if (p1[t1] == 0)
                continue;
            CHECK_OK(cpu_target_forward(b, &t1, NULL, 1, NULL, T));
            filtered(b->logits, V, s, p2);
            for (int32_t t2 = 0; t2 < V; t2++) {
                if (p2[t2] == 0)
                    continue;
                p12[(size_t)t1 * V + t2] = p1[t1] * p2[t2];
                const int32_t two[2] = {t1, t2};
                CHECK_OK(cpu_target_forward(b, two, NULL, 2, NULL, T));
                filtered(b->logits + V, V, s, p3);
                for (int t3 = 0; t3 < V; t3++)
                    p23[(size_t)t2 * V + t3] += p1[t1] * p2[t2] * p3[t3];
            }
        }
        long n_same = 0;
        for (int spec = 1; spec >= 0; spec--) {
            memset(c12, 0, (size_t)V * V * sizeof(long));
            memset(c23, 0, (size_t)V * V * sizeof(long));
            long tok = 0, it = 0;
            for (long r = 0; r < N; r++) {
                struct frs_sampling sr = *s;
                sr.seed = 1000003ull * (ci + 1) + (uint64_t)r;
                int32_t out[3];
                struct frs_gen_stats st;
                CHECK_OK(spec_generate(&be, pr.ids, pr.n, &sr, spec ? &tree : NULL, 3, out, &st));
                /* position-keyed draws (batch.h): speculative == autoregressive, seed by seed */
                if (spec)
                    memcpy(spec_out[r], out, sizeof out);
                else
                    n_same += !memcmp(spec_out[r], out, sizeof out);
                c12[(size_t)out[0] * V + out[1]]++;
                c23[(size_t)out[1] * V + out[2]]++;
                tok += st.n_tokens - 1;
                it += st.iterations - 1;
            }
            char what[128];
            snprintf(what, sizeof what, "T=%.1f top_k=%d top_p=%.1f %s (t1,t2)", s->temperature, s->top_k,
                     s->top_p, spec ? "spec" : "AR  ");
            CHECK(chi_square_ok(what, c12, p12, V * V, N), "%s: distribution differs from the target's", what);
            snprintf(what, sizeof what, "T=%.1f top_k=%d top_p=%.1f %s (t2,t3)", s->temperature, s->top_k,
                     s->top_p, spec ? "spec" : "AR  ");
            CHECK(chi_square_ok(what, c23, p23, V * V, N), "%s: distribution differs from the target's", what);
            if (spec)
                fprintf(stderr, "    (speculative: %.2f tokens per iteration after the first token)\n",
                        it ? (double)tok / it : 0);
        }
        CHECK(n_same == N, "T=%.1f: %ld of %ld seeded runs give the same tokens speculative and autoregressive",
              s->temperature, n_same, N);
    }
    free(p12);
    free(p23);
    free(p1);
    free(p2);
    free(p3);
    free(c12);
    free(c23);
    free(spec_out);
    be.ops->destroy(&be);
    eagle_draft_free(&d);
    llama_model_free(&m);
}

int main(void)
{
    test_greedy_pair("models/gqa-bf16", "spec/head-gqa", -1);
    test_greedy_pair("models/llama3-bf16", "spec/head-gqa", -1);
    test_greedy_pair("spec/markov-target", "spec/markov-exact", 0);
    test_greedy_pair("spec/markov-target", "spec/markov-noisy", 1);
    /* long paths: markov-exact's draft is always right; a tree whose top-1 chain reaches depth d
     * yields up to d + 1 tokens per iteration (the last iteration is cut at 32 tokens) */
    for (int si = 0; si < SPEC_N_SHAPES; si++) {
        const struct frs_tree_params *p = &SPEC_SHAPES[si];
        const int reach = p->depth < p->size - 1 ? p->depth : p->size - 1;
        CHECK(g_markov_acc[0][si] >= 0.8 * (reach + 1), "markov-exact tree %d/%d/%d: %.2f tokens per iteration, "
              "expected near %d", p->depth, p->topk, p->size, g_markov_acc[0][si], reach + 1);
        if (p->depth > 1)
            CHECK(g_markov_acc[1][si] < g_markov_acc[0][si] && g_markov_acc[1][si] > 1.0,
                  "markov-noisy tree %d/%d/%d: %.2f tokens per iteration (exact head: %.2f)", p->depth, p->topk,
                  p->size, g_markov_acc[1][si], g_markov_acc[0][si]);
    }
    test_sampling();
    return test_finish("test_spec");
}
