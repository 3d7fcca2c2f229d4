/* test_cuda_model.c - the CUDA backend's whole target model on the fixture checkpoints
 * (tests/fixtures/models, made by tests/gen/gen_models.py with transformers' fp32 logits):
 *  1. logits at the prompt positions from the middle on (prefill of the first half in chunks of
 *     4, then one decode step per token, so chunked prefill, the decode graph and positions are
 *     all exercised) against transformers' fp32 logits and against the CPU backend run on the
 *     SAME bf16 weights (f32/f16 checkpoints rounded to bf16 on the host as the CUDA upload does).
 *     Tolerance, per row ||gpu - ref|| / ||ref||: mean over rows <= 3e-2, worst row <= 8e-2.
 *     Scale: transformers' own bf16 forward on these fixtures is off its fp32 logits by a mean
 *     of 2.2-2.8% and a worst row of 3.7-7.4% over the same rows (tests/gen/cuda_bf16_error.py);
 *     these random tiny models (initializer_range 0.2) have sharp attention, which amplifies
 *     bf16 rounding;
 *  2. greedy continuation (32 tokens) identical to transformers' where the margin allows: at the
 *     first difference the two tokens' GPU logits must be within 3x the expected bf16 error
 *     (a near tie), else it fails;
 *  3. determinism: the decode steps with CUDA graphs replayed and without graphs give
 *     bit-identical logits;
 *  4. the backend options (struct frs_backend_options) against a default backend in lockstep
 *     (test_options): pdl 0, the decode's L2 prefetches (l2_prefetch 7) and the warp-per-row split
 *     combine (att_combine_warp 1) bit-identical, cublaslt 0
 *     and CUDA-core attention within the limits of 1., single-bf16 tensor-core attention within 0.2
 *     of the default.
 * FRS_BENCH=1 adds a timing of a synthetic Llama-3-8B-shaped model (random bf16 weights): the
 * decode step with and without graphs and a 512-token prefill (numbers for tests/bench/NOTES-cuda.md).
 * Fixture names on the command line replace the default list (the FP8 ones: tests/cmake/fp8.cmake).
 * Skipped (77) without a CUDA device.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "backend.h"
#include "cpu_backend.h"
#include "cuda_attention.h" /* cuda_attention_combine_select */
#include "cuda_backend.h"
#include "draft.h"
#include "model.h"
#include "model_bf16.h"
#include "testutil.h"

#define N_NEW 32
#define MAX_PROMPT 256

/* ---- the comparison ---------------------------------------------------------------------------- */

static int argmax_f(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* opt NULL: the defaults (frs_backend_options_default) */
static enum frs_status make(struct frs_backend *be, const struct frs_backend_ops *ops, const struct llama_model *m,
                            int max_ctx, const struct frs_backend_options *opt)
{
    const struct frs_limits lim = {.max_ctx = max_ctx, .max_tree = 0, .prefill_chunk = 4};
    memset(be, 0, sizeof *be);
    be->ops = ops;
    return ops->create(be, m, NULL, NULL, &lim, opt);
}

static int cpu_logits(struct frs_backend *be, float *out)
{
    const struct cpu_backend *b = be->impl;
    memcpy(out, b->logits + (size_t)(b->last_n - 1) * b->m->vocab_local, (size_t)b->m->vocab_local * sizeof(float));
    return b->m->vocab_local;
}

static void test_model(const char *name)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", test_fixture(name));
    struct llama_model m, mb;
    if (llama_model_load(&m, dir, 0, 1) != FRS_OK) {
        CHECK(0, "%s: load failed: %s", name, frs_error_msg());
        return;
    }
    struct bf16_copy bc;
    model_bf16(&m, &mb, &bc);
    const int V = m.cfg.vocab_size;
    snprintf(path, sizeof path, "%s/ref.json", dir);
    char *js = test_read_file(path, NULL);
    cJSON *o = js ? cJSON_Parse(js) : NULL;
    snprintf(path, sizeof path, "%s/ref_logits.f32", dir);
    size_t rl_len = 0;
    float *ref_logits = (float *)test_read_file(path, &rl_len);
    CHECK(o && ref_logits, "%s: cannot read ref.json / ref_logits.f32", name);
    if (!o || !ref_logits) {
        free(js);
        free(ref_logits);
        return;
    }
    struct frs_backend gpu, cpu, gpu_ng;
    struct frs_backend_options no_graphs = frs_backend_options_default();
    no_graphs.cuda_graphs = 0;
    CHECK_OK(make(&gpu, &frs_backend_cuda_ops, &m, 256, NULL));
    CHECK_OK(make(&cpu, &frs_backend_cpu_ops, &mb, 256, NULL));
    CHECK_OK(make(&gpu_ng, &frs_backend_cuda_ops, &m, 256, &no_graphs));
    float *gl = malloc((size_t)V * 4), *cl = malloc((size_t)V * 4), *nl = malloc((size_t)V * 4);
    double worst_hf = 0, worst_cpu = 0, sum_hf = 0, sum_cpu = 0;
    int rows = 0, bitwise = 1, greedy_checked = 0, near_ties = 0;
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "prompts"), *e;
    cJSON_ArrayForEach(e, ps)
    {
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(e, "ids"), *g = cJSON_GetObjectItemCaseSensitive(e, "greedy");
        const int lrow = cJSON_GetObjectItemCaseSensitive(e, "logits_row")->valueint;
        int32_t tok[MAX_PROMPT];
        int n = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, ids) if (n < MAX_PROMPT) tok[n++] = v->valueint;
        CHECK_OK(gpu.ops->reset(&gpu));
        CHECK_OK(cpu.ops->reset(&cpu));
        CHECK_OK(gpu_ng.ops->reset(&gpu_ng));
        const int half = n / 2 > 0 ? n / 2 : 1;
        for (int i = half - 1; i < n; i++) {
            if (i == half - 1) {
                CHECK_OK(gpu.ops->prefill(&gpu, tok, half));
                CHECK_OK(cpu.ops->prefill(&cpu, tok, half));
                CHECK_OK(gpu_ng.ops->prefill(&gpu_ng, tok, half));
            } else {
                CHECK_OK(gpu.ops->decode(&gpu, tok[i]));
                CHECK_OK(cpu.ops->decode(&cpu, tok[i]));
                CHECK_OK(gpu_ng.ops->decode(&gpu_ng, tok[i]));
            }
            int r, vl;
            CHECK_OK(cuda_backend_logits(&gpu, gl, (size_t)V, &r, &vl));
            CHECK_OK(cuda_backend_logits(&gpu_ng, nl, (size_t)V, &r, &vl));
            cpu_logits(&cpu, cl);
            const float *hf = ref_logits + (size_t)(lrow + i) * V;
            const double e_hf = test_rel_err(gl, hf, (size_t)V), e_cpu = test_rel_err(gl, cl, (size_t)V);
            worst_hf = e_hf > worst_hf ? e_hf : worst_hf;
            worst_cpu = e_cpu > worst_cpu ? e_cpu : worst_cpu;
            sum_hf += e_hf;
            sum_cpu += e_cpu;
            bitwise &= memcmp(gl, nl, (size_t)V * 4) == 0;
            rows++;
        }
        /* greedy continuation vs transformers */
        int diverged = 0;
        for (int j = 0; j < N_NEW && !diverged; j++) {
            int32_t t;
            CHECK_OK(gpu.ops->next_token(&gpu, NULL, 0, &t));
            const int ref = cJSON_GetArrayItem(g, j)->valueint;
            if (t != ref) {
                int r, vl;
                CHECK_OK(cuda_backend_logits(&gpu, gl, (size_t)V, &r, &vl));
                const double gap = fabs((double)gl[t] - gl[ref]), allowed = 3 * 2e-2 * row_rms(gl, V);
                CHECK(gap <= allowed, "%s: greedy token %d differs from transformers (%d vs %d) with a GPU logit gap "
                      "%.4g > %.4g (not a near tie)", name, j, t, ref, gap, allowed);
                if (gap <= allowed)
                    near_ties++;
                diverged = 1;
                break;
            }
            greedy_checked++;
            if (j + 1 < N_NEW)
                CHECK_OK(gpu.ops->decode(&gpu, t));
        }
        (void)argmax_f;
    }
    const double mean_hf = rows ? sum_hf / rows : 0, mean_cpu = rows ? sum_cpu / rows : 0;
    fprintf(stderr, "%s: %d logit rows, rel err vs transformers mean %.3g worst %.3g, vs CPU on bf16 weights mean %.3g "
            "worst %.3g; %d greedy tokens equal to transformers, %d near-tie stops; graphs bitwise %s\n", name, rows,
            mean_hf, worst_hf, mean_cpu, worst_cpu, greedy_checked, near_ties, bitwise ? "identical" : "DIFFERENT");
    CHECK(mean_hf <= 3e-2 && worst_hf <= 8e-2, "%s: logits vs transformers rel err mean %.3g / worst %.3g (limits "
          "3e-2 / 8e-2)", name, mean_hf, worst_hf);
    CHECK(mean_cpu <= 3e-2 && worst_cpu <= 8e-2, "%s: logits vs the CPU backend on bf16 weights rel err mean %.3g / "
          "worst %.3g (limits 3e-2 / 8e-2)", name, mean_cpu, worst_cpu);
    CHECK(bitwise, "%s: decode with CUDA graphs differs from without", name);
    CHECK(rows > 0 && greedy_checked > 0, "%s: nothing compared", name);
    gpu.ops->destroy(&gpu);
    gpu_ng.ops->destroy(&gpu_ng);
    cpu.ops->destroy(&cpu);
    free(gl);
    free(cl);
    free(nl);
    cJSON_Delete(o);
    free(js);
    free(ref_logits);
    bf16_copy_free(&bc);
    llama_model_free(&m);
}

/* ---- the backend options reach the kernels and keep results correct ------------------------- */

/* Every non-default choice of struct frs_backend_options that touches this path (prefill in chunks
 * of 4 rows, i.e. n > 1 attention and GEMMs, then n == 1 decode), run in lockstep with a default
 * backend over the fixture's prompts: pdl 0 must give the default's logits bit for bit (PDL only
 * lets a GEMV start early, it waits before reading its input); cublaslt 0 (cublasGemmEx) and the
 * CUDA-core attention (FRS_ATTN_CUDA_CORES) change summation orders only, so they must meet
 * test_model's limits against transformers; the single-bf16 tensor-core attention
 * (FRS_ATTN_MMA_BF16, A/B only, less exact) must stay a close approximation (rel err <= 0.2:
 * catches a wrong or unwritten output, not its rounding). */
static void test_options(const char *name)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", test_fixture(name));
    struct llama_model m;
    if (llama_model_load(&m, dir, 0, 1) != FRS_OK) {
        CHECK(0, "%s: load failed: %s", name, frs_error_msg());
        return;
    }
    const int V = m.cfg.vocab_size;
    snprintf(path, sizeof path, "%s/ref.json", dir);
    char *js = test_read_file(path, NULL);
    cJSON *o = js ? cJSON_Parse(js) : NULL;
    snprintf(path, sizeof path, "%s/ref_logits.f32", dir);
    float *ref_logits = (float *)test_read_file(path, NULL);
    CHECK(o && ref_logits, "%s: cannot read ref.json / ref_logits.f32", name);
    enum { BITWISE, HF_LIMITS, APPROX };
    struct variant {
        const char *what;
        struct frs_backend_options opt;
        int expect;
    } var[6];
    for (int k = 0; k < 6; k++)
        var[k].opt = frs_backend_options_default();
    var[0].what = "pdl 0", var[0].opt.pdl = 0, var[0].expect = BITWISE;
    var[1].what = "cublaslt 0", var[1].opt.cublaslt = 0, var[1].expect = HF_LIMITS;
    var[2].what = "attention CUDA cores", var[2].opt.attention = FRS_ATTN_CUDA_CORES, var[2].expect = HF_LIMITS;
    var[3].what = "attention MMA bf16", var[3].opt.attention = FRS_ATTN_MMA_BF16, var[3].expect = APPROX;
    /* the decode's L2 prefetches on a second stream (all of them): a prefetch changes no value */
    var[4].what = "l2 prefetch 7", var[4].opt.l2_prefetch = 7, var[4].expect = BITWISE;
    /* the split combine as a warp per row: the same sums in the same order (process-wide: each make()
     * selects its backend's; the two run in lockstep, so the default backend's steps select it back) */
    var[5].what = "att_combine_warp 1", var[5].opt.att_combine_warp = 1, var[5].expect = BITWISE;
    float *dl = malloc((size_t)V * 4), *vl = malloc((size_t)V * 4);
    struct frs_backend def;
    CHECK_OK(make(&def, &frs_backend_cuda_ops, &m, 256, NULL));
    for (int k = 0; k < 6 && o && ref_logits; k++) {
        struct frs_backend be;
        CHECK_OK(make(&be, &frs_backend_cuda_ops, &m, 256, &var[k].opt));
        double worst_hf = 0, sum_hf = 0, worst_def = 0;
        int rows = 0, bitwise = 1;
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "prompts"), *e;
        cJSON_ArrayForEach(e, ps)
        {
            const cJSON *ids = cJSON_GetObjectItemCaseSensitive(e, "ids");
            const int lrow = cJSON_GetObjectItemCaseSensitive(e, "logits_row")->valueint;
            int32_t tok[MAX_PROMPT];
            int n = 0;
            const cJSON *v;
            cJSON_ArrayForEach(v, ids) if (n < MAX_PROMPT) tok[n++] = v->valueint;
            CHECK_OK(def.ops->reset(&def));
            CHECK_OK(be.ops->reset(&be));
            const int half = n / 2 > 0 ? n / 2 : 1;
            /* the combine's kernel is process-wide (cuda_attention_combine_select, set by create): each
             * backend's steps run under its own choice (a graph keeps the one it was captured with) */
            const int cw_def = frs_backend_options_default().att_combine_warp, cw_be = var[k].opt.att_combine_warp;
            for (int i = half - 1; i < n; i++) {
                if (i == half - 1) {
                    cuda_attention_combine_select(cw_def);
                    CHECK_OK(def.ops->prefill(&def, tok, half));
                    cuda_attention_combine_select(cw_be);
                    CHECK_OK(be.ops->prefill(&be, tok, half));
                } else {
                    cuda_attention_combine_select(cw_def);
                    CHECK_OK(def.ops->decode(&def, tok[i]));
                    cuda_attention_combine_select(cw_be);
                    CHECK_OK(be.ops->decode(&be, tok[i]));
                }
                int r, vloc;
                CHECK_OK(cuda_backend_logits(&def, dl, (size_t)V, &r, &vloc));
                CHECK_OK(cuda_backend_logits(&be, vl, (size_t)V, &r, &vloc));
                const double e_hf = test_rel_err(vl, ref_logits + (size_t)(lrow + i) * V, (size_t)V);
                const double e_def = test_rel_err(vl, dl, (size_t)V);
                worst_hf = !(e_hf <= worst_hf) ? e_hf : worst_hf; /* NaN sticks */
                worst_def = !(e_def <= worst_def) ? e_def : worst_def;
                sum_hf += e_hf;
                bitwise &= memcmp(vl, dl, (size_t)V * 4) == 0;
                rows++;
            }
        }
        const double mean_hf = rows ? sum_hf / rows : 0;
        fprintf(stderr, "%s: options %s: %d logit rows, rel err vs transformers mean %.3g worst %.3g, vs the default "
                "options worst %.3g (%s)\n", name, var[k].what, rows, mean_hf, worst_hf, worst_def,
                bitwise ? "bitwise identical" : "not bitwise");
        CHECK(rows > 0, "%s: options %s: nothing compared", name, var[k].what);
        if (var[k].expect == BITWISE)
            CHECK(bitwise, "%s: options %s: logits differ from the default options'", name, var[k].what);
        else if (var[k].expect == HF_LIMITS)
            CHECK(mean_hf <= 3e-2 && worst_hf <= 8e-2, "%s: options %s: logits vs transformers rel err mean %.3g / "
                  "worst %.3g (limits 3e-2 / 8e-2)", name, var[k].what, mean_hf, worst_hf);
        else
            CHECK(worst_def <= 0.2, "%s: options %s: logits vs the default options' rel err %.3g > 0.2", name,
                  var[k].what, worst_def);
        be.ops->destroy(&be);
    }
    def.ops->destroy(&def);
    free(dl);
    free(vl);
    cJSON_Delete(o);
    free(js);
    free(ref_logits);
    llama_model_free(&m);
}

/* ---- synthetic Llama-3-8B benchmark -------------------------------------------------------------- */

static uint16_t *rand_bf16_buf(size_t n, float scale, uint64_t seed)
{
    uint16_t *b = malloc(n * 2);
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        b[i] = frs_f32_to_bf16(((float)(s >> 40) * (1.0f / 16777216.0f) - 0.5f) * scale);
    }
    return b;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* One speculative iteration on the synthetic 8B target with a synthetic EAGLE-8B head (1 layer
 * of the target's shape, fc (C, 2C), FR-Spec K = 32768): draft_tree (6/10/60), verify (60
 * nodes, the read-back), commit of 2 nodes, each timed with a device synchronisation. */
static void bench_spec(const struct llama_model *m)
{
    const int C = m->cfg.hidden_size, K = 32768;
    struct eagle_draft d;
    memset(&d, 0, sizeof d);
    d.dir = "synthetic-eagle-8b";
    d.cfg = m->cfg;
    d.cfg.num_hidden_layers = 1;
    uint16_t *fc = rand_bf16_buf((size_t)C * 2 * C, 0.02f, 11);
    d.fc = (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = C, .cols = 2 * C, .ld = 2 * C, .data = fc};
    d.layer = m->layers[0];
    d.layer.attn_norm.data = NULL;
    d.k = K;
    int32_t *ids = malloc((size_t)K * sizeof(int32_t));
    for (int i = 0; i < K; i++)
        ids[i] = (i * 3 + 1) % m->cfg.vocab_size;
    d.ids = ids;
    d.lm_head = frs_mat_rows(&m->lm_head_full, 0, K);
    struct frs_backend be;
    memset(&be, 0, sizeof be);
    be.ops = &frs_backend_cuda_ops;
    const struct frs_limits lim = {.max_ctx = 2048, .max_tree = 64, .prefill_chunk = 512};
    if (be.ops->create(&be, m, &d, NULL, &lim, NULL) != FRS_OK) {
        fprintf(stderr, "bench: spec create failed: %s\n", frs_error_msg());
        CHECK(0, "bench spec create");
        free(fc);
        free(ids);
        return;
    }
    int32_t prompt[512], next[512];
    for (int i = 0; i < 512; i++)
        prompt[i] = (i * 7919) % m->cfg.vocab_size;
    int32_t root = 0;
    CHECK_OK(be.ops->prefill(&be, prompt, 512));
    CHECK_OK(be.ops->next_token(&be, NULL, 0, &root));
    for (int i = 1; i < 512; i++)
        next[i - 1] = prompt[i];
    next[511] = root;
    int n_pending = 512;
    const struct frs_tree_params p = {6, 10, 60};
    const struct frs_sampling greedy = {0.0f, 1.0f, 0, 0};
    struct frs_tree tree;
    double td = 0, tv = 0, tc = 0;
    const int iters = 30, warm = 5;
    for (int it = 0; it < iters + warm; it++) {
        double t0 = now_s();
        CHECK_OK(be.ops->draft_tree(&be, next, n_pending, &p));
        cudaDeviceSynchronize();
        double t1 = now_s();
        CHECK_OK(be.ops->verify(&be, &greedy, (uint64_t)it, &tree));
        double t2 = now_s();
        const int32_t path[2] = {0, 1};
        CHECK_OK(be.ops->commit(&be, path, 2));
        cudaDeviceSynchronize();
        double t3 = now_s();
        next[0] = tree.token[1];
        next[1] = tree.argmax[1];
        n_pending = 2;
        if (it >= warm) {
            td += t1 - t0;
            tv += t2 - t1;
            tc += t3 - t2;
        }
    }
    td /= iters;
    tv /= iters;
    tc /= iters;
    const double t_it = td + tv + tc;
    fprintf(stderr, "bench: synthetic 8B + EAGLE head (K = %d), tree 6/10/60, ctx ~512..600: draft_tree %.3f ms, "
            "verify %.3f ms, commit %.3f ms, iteration %.3f ms (at 3.6 accepted tokens / iteration: %.0f tok/s)\n",
            K, td * 1e3, tv * 1e3, tc * 1e3, t_it * 1e3, 3.6 / t_it);
    be.ops->destroy(&be);
    free(fc);
    free(ids);
}

static void bench_8b(void)
{
    const int C = 4096, F = 14336, H = 32, KV = 8, D = 128, L = 32, V = 128256;
    struct llama_model m;
    memset(&m, 0, sizeof m);
    m.dir = "synthetic-llama3-8b";
    struct llama_config *c = &m.cfg;
    c->hidden_size = C;
    c->intermediate_size = F;
    c->num_hidden_layers = L;
    c->num_attention_heads = H;
    c->num_key_value_heads = KV;
    c->head_dim = D;
    c->vocab_size = V;
    c->max_position_embeddings = 8192;
    c->rms_norm_eps = 1e-5f;
    c->rope_theta = 500000.0f;
    c->rope_type = FRS_ROPE_LLAMA3;
    c->rope_factor = 8;
    c->rope_low_freq_factor = 1;
    c->rope_high_freq_factor = 4;
    c->rope_original_max_position_embeddings = 8192;
    m.tp_size = 1;
    m.n_heads_local = H;
    m.n_kv_heads_local = KV;
    m.ffn_local = F;
    m.vocab_local = V;
    uint16_t *emb = rand_bf16_buf((size_t)V * C, 0.1f, 1), *lmh = rand_bf16_buf((size_t)V * C, 0.05f, 2);
    uint16_t *norm = rand_bf16_buf((size_t)C, 0.2f, 3);
    for (int i = 0; i < C; i++)
        norm[i] = frs_f32_to_bf16(1.0f + frs_bf16_to_f32(norm[i]));
    uint16_t *wq = rand_bf16_buf((size_t)H * D * C, 0.03f, 4), *wk = rand_bf16_buf((size_t)KV * D * C, 0.03f, 5),
             *wv = rand_bf16_buf((size_t)KV * D * C, 0.03f, 6), *wo = rand_bf16_buf((size_t)C * H * D, 0.03f, 7),
             *wg = rand_bf16_buf((size_t)F * C, 0.03f, 8), *wu = rand_bf16_buf((size_t)F * C, 0.03f, 9),
             *wd = rand_bf16_buf((size_t)C * F, 0.02f, 10);
    m.embed = (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = V, .cols = C, .ld = C, .data = emb};
    m.lm_head_full = (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = V, .cols = C, .ld = C, .data = lmh};
    m.lm_head = m.lm_head_full;
    m.final_norm = (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = 1, .cols = C, .ld = C, .data = norm};
    m.layers = calloc(L, sizeof *m.layers);
    for (int l = 0; l < L; l++) { /* every layer views the same host weights (uploaded L times) */
        struct llama_layer *ly = &m.layers[l];
        ly->attn_norm = m.final_norm;
        ly->mlp_norm = m.final_norm;
        ly->wq = (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = H * D, .cols = C, .ld = C, .data = wq};
        ly->wk = (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = KV * D, .cols = C, .ld = C, .data = wk};
        ly->wv = (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = KV * D, .cols = C, .ld = C, .data = wv};
        ly->wo = (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = C, .cols = H * D, .ld = H * D, .data = wo};
        ly->w_gate = (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = F, .cols = C, .ld = C, .data = wg};
        ly->w_up = (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = F, .cols = C, .ld = C, .data = wu};
        ly->w_down = (struct frs_mat){.dtype = FRS_DTYPE_BF16, .rows = C, .cols = F, .ld = F, .data = wd};
    }
    const double weight_gb = ((double)2 * V * C + (double)L * ((H + 2 * KV) * D * C + C * H * D + 3.0 * F * C) +
                              (2.0 * L + 1) * C) * 2 / 1e9;
    const double decode_gb = weight_gb - (double)V * C * 2 / 1e9; /* the embedding table is not read */
    for (int graphs = 1; graphs >= 0; graphs--) {
        struct frs_backend_options opt = frs_backend_options_default();
        opt.cuda_graphs = graphs;
        struct frs_backend be;
        memset(&be, 0, sizeof be);
        be.ops = &frs_backend_cuda_ops;
        const struct frs_limits lim = {.max_ctx = 2048, .max_tree = 64, .prefill_chunk = 512};
        enum frs_status st = be.ops->create(&be, &m, NULL, NULL, &lim, &opt);
        if (st != FRS_OK) {
            fprintf(stderr, "bench: create failed: %s\n", frs_error_msg());
            CHECK(0, "bench create");
            break;
        }
        int32_t prompt[512];
        for (int i = 0; i < 512; i++)
            prompt[i] = (i * 7919) % V;
        int32_t t = 0;
        CHECK_OK(be.ops->prefill(&be, prompt, 512));
        CHECK_OK(be.ops->next_token(&be, NULL, 0, &t));
        CHECK_OK(be.ops->reset(&be));
        double t0 = now_s();
        CHECK_OK(be.ops->prefill(&be, prompt, 512));
        CHECK_OK(be.ops->next_token(&be, NULL, 0, &t));
        const double t_prefill = now_s() - t0;
        for (int i = 0; i < 8; i++) { /* warm-up (graph capture) */
            CHECK_OK(be.ops->decode(&be, t));
            CHECK_OK(be.ops->next_token(&be, NULL, 0, &t));
        }
        const int steps = 100;
        cudaDeviceSynchronize();
        t0 = now_s();
        for (int i = 0; i < steps; i++) {
            CHECK_OK(be.ops->decode(&be, t));
            CHECK_OK(be.ops->next_token(&be, NULL, 0, &t));
        }
        const double step = (now_s() - t0) / steps;
        fprintf(stderr, "bench: synthetic Llama-3-8B bf16 (%.2f GB of weights, %.2f GB read per decode step), ctx "
                "520..620, graphs %s: decode step + argmax + read-back %.3f ms = %.1f tok/s, %.0f GB/s effective; "
                "prefill 512 tokens %.1f ms\n", weight_gb, decode_gb, graphs ? "on" : "off", step * 1e3, 1.0 / step,
                decode_gb / step, t_prefill * 1e3);
        be.ops->destroy(&be);
    }
    bench_spec(&m);
    free(emb);
    free(lmh);
    free(norm);
    free(wq);
    free(wk);
    free(wv);
    free(wo);
    free(wg);
    free(wu);
    free(wd);
    free(m.layers);
}

int main(int argc, char **argv)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "test_cuda_model: no CUDA device, skipped\n");
        return TEST_SKIP;
    }
    if (getenv("FRS_BENCH")) {
        bench_8b();
        return 0; /* timings only, nothing checked (test_finish would fail it) */
    }
    /* fixtures to run: these, or those named on the command line (tests/cmake/fp8.cmake: the FP8
     * checkpoints, compared with the CPU backend on their dequantized weights rounded to bf16) */
    const char *default_models[] = {"models/gqa-bf16", "models/llama3-bf16", "models/sharded-f16", "models/tied-f32"};
    const char *const *models = argc > 1 ? (const char *const *)argv + 1 : default_models;
    const size_t n_models = argc > 1 ? (size_t)argc - 1 : sizeof default_models / sizeof default_models[0];
    for (size_t i = 0; i < n_models; i++)
        test_model(models[i]);
    test_options("models/gqa-bf16");
    test_options("models/llama3-bf16");
    return test_finish("test_cuda_model");
}
