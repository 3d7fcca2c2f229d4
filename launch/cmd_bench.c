/* cmd_bench.c - `frspec bench`: timings of the CUDA backend on synthetic models of the real shapes
 * (runtime/synthetic.h: random bf16 weights made on the GPU, nothing downloaded), printed as a
 * table and written as JSON; `frspec bench acceptance` (launch/bench_accept.c) measures real
 * model pairs on a prompt set.
 *
 * Per preset (llama3.2-1b, llama3-8b, the rank-0 shard of llama3-70b at TP 4 and TP 8, run on one
 * GPU with no collectives):
 *  - copy bandwidth: 1 GiB device-to-device cudaMemcpyAsync, counted as bytes read + bytes
 *    written (2 GiB per copy), the median of 10 timed copies;
 *  - decode: decode(tok) + next_token (argmax + 8-byte read-back, host sync every token), ms per
 *    token at each context; bytes per step = every weight byte read once (embedding: one row;
 *    LM head: this rank's rows; norms included) + the KV cache read (2 x layers x ctx x kv_heads x
 *    head_dim x 2 bytes, ctx = the mean context of the timed steps) + the new K/V rows written;
 *    floor = bytes / copy bandwidth; share = floor / measured;
 *  - draft: draft_tree (the preset's tree, e.g. depth 6 / top-k 10 / 60 tokens) with the full
 *    vocabulary (EAGLE-2) and FR-Spec K = 8k, 16k, 32k, 64k, at context 1k;
 *  - verify: one target forward over a drafted tree (the read-back included) against tree size
 *    (2 .. 64 nodes; 1 node = the decode step) at context 1k and against context (128 .. 8k) at
 *    the preset's tree size;
 *  - iteration: draft_tree + verify + acceptance walk (accept_verified) + commit, the engine's loop,
 *    for EAGLE-2 (full vocabulary) and FR-Spec at each K;
 *  - sampled (temperature > 0; FR-Spec 32k, context 1k): the iteration and the autoregressive step
 *    (decode + next_token) at T 0.8 with top-k 50 and with top-p 0.9, sampling on the device
 *    against FRS_HOST_SAMPLING=1 (logits read back, runtime/sampling.c on the host), with the
 *    device path's calls and its rows redone on the host (the registry entry's sampling_counts).
 * Each timed phase is preceded by warm-up iterations (graph capture, cuBLASLt algorithm choice);
 * phases are timed on the host clock around a device synchronisation; figures are medians.
 *
 * defines: cmd_bench
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "accept.h"
#include "backend.h"
#include "backend_registry.h" /* frs_backend_find: the CUDA backend's ops and sampling counters */
#include "bench_accept.h"
#include "bench_throughput.h"
#include "cli.h"
#include "draft.h"
#include "model.h"
#include "options.h"   /* backend_options_from_env */
#include "synthetic.h"

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: frspec bench [options]            timings on synthetic models (CUDA)\n"
               "       frspec bench acceptance [options] acceptance on real model pairs (frspec bench acceptance --help)\n"
               "       frspec bench throughput [options] batched decoding against batch size (frspec bench throughput --help)\n\n"
               "  --preset LIST     comma-separated: llama3.2-1b, llama3-8b, llama3-70b-tp4, llama3-70b-tp8,\n"
               "                    llama3-8b-fp8, llama3-70b-fp8 (FP8 decoder Linears; the 70B whole on one\n"
               "                    GPU with KV for 4k) (default: the first four)\n"
               "  --short           draft vocabularies: FR-Spec 32k only; no sampled phase\n"
               "  --json FILE       write every figure as JSON\n"
               "  --quick           fewer contexts, tree sizes and repetitions\n"
               "  --steps N         timed decode steps per context (default 40)\n"
               "  --iters N         timed speculative iterations per point (default 12)\n");
}

/* The synthetic benchmark times the CUDA backend on the GPU itself (copy bandwidth, device
 * properties, synchronisation): this block is launch/'s one FRSPEC_HAVE_CUDA #ifdef. */
#ifdef FRSPEC_HAVE_CUDA
#include <cuda_runtime_api.h>

struct bench_cfg {
    int quick, steps, iters;
    int shortk; /* --short */
    const struct frs_backend_entry *cuda; /* the registry's "cuda" */
    struct frs_backend_options opts;       /* defaults + the FRS_* environment */
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define CU(expr)                                                                                     \
    do {                                                                                             \
        cudaError_t e_ = (expr);                                                                     \
        if (e_ != cudaSuccess)                                                                       \
            return FRS_ERR(FRS_ERR_CUDA, "bench: %s: %s", #expr, cudaGetErrorString(e_));            \
    } while (0)

/* GB/s of a 1 GiB device-to-device copy counting read + write, median of 10 */
static enum frs_status bench_copy_bw(double *gbs)
{
    const size_t bytes = (size_t)1 << 30;
    void *a = NULL, *b = NULL;
    CU(cudaMalloc(&a, bytes));
    if (cudaMalloc(&b, bytes) != cudaSuccess) {
        cudaFree(a);
        return FRS_ERR(FRS_ERR_OOM, "bench: cannot allocate the copy buffers");
    }
    cudaMemset(a, 1, bytes);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    double t[10];
    for (int i = 0; i < 13; i++) {
        cudaEventRecord(e0, 0);
        cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, 0);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        if (i >= 3)
            t[i - 3] = ms;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(a);
    cudaFree(b);
    CU(cudaGetLastError());
    *gbs = 2.0 * (double)bytes / (median(t, 10) * 1e-3) / 1e9;
    return FRS_OK;
}

/* ---- bytes per decode step ----------------------------------------------------------------- */

static double weight_bytes_step(const struct llama_model *m)
{
    const double C = m->cfg.hidden_size, D = m->cfg.head_dim, H = m->n_heads_local, KV = m->n_kv_heads_local,
                 F = m->ffn_local, L = m->cfg.num_hidden_layers;
    const double wb = (double)frs_dtype_size(m->layers[0].wq.dtype); /* 1 for FP8 Linears, 2 for bf16 */
    const double layer = ((H + 2 * KV) * D * C + C * H * D + 3 * F * C) * wb + 2 * C * 2;
    return L * layer + (double)m->vocab_local * C * 2 + C * 2 /* final norm */ + C * 2 /* one embedding row */;
}

static double weight_bytes_total(const struct llama_model *m)
{
    const int tied = m->lm_head_full.data == m->embed.data;
    return weight_bytes_step(m) - m->cfg.hidden_size * 2.0 + (double)m->cfg.vocab_size * m->cfg.hidden_size * 2 -
           (tied && m->tp_size == 1 ? (double)m->vocab_local * m->cfg.hidden_size * 2 : 0);
}

static double kv_bytes_step(const struct llama_model *m, double ctx)
{
    const double row = 2.0 * m->cfg.num_hidden_layers * m->n_kv_heads_local * m->cfg.head_dim * 2;
    return row * ctx + row; /* read the context, write the new row */
}

/* ---- one backend and its sequence ------------------------------------------------------------ */

struct run {
    struct frs_backend be;
    int live;
    const struct llama_model *m;
    int V;
    int32_t *next; /* pending next tokens for draft_tree */
    int n_pending, cap;
    int32_t root;
    uint64_t iter;
};

static enum frs_status run_create(struct run *r, const struct bench_cfg *bc, const struct frs_backend_options *opt,
                                  const struct llama_model *m, const struct eagle_draft *d, int max_ctx, int max_tree)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->V = m->cfg.vocab_size;
    r->cap = max_ctx;
    r->next = malloc((size_t)max_ctx * sizeof *r->next);
    if (!r->next)
        return FRS_ERR(FRS_ERR_OOM, "bench: out of host memory");
    const struct frs_limits lim = {.max_ctx = max_ctx, .max_tree = d ? max_tree : 0, .prefill_chunk = 512};
    r->be.ops = bc->cuda->ops;
    enum frs_status st = r->be.ops->create(&r->be, m, d, NULL, &lim, opt);
    if (st != FRS_OK) {
        free(r->next);
        r->next = NULL;
        return st;
    }
    r->live = 1;
    return FRS_OK;
}

static void run_free(struct run *r)
{
    if (r->live)
        r->be.ops->destroy(&r->be);
    free(r->next);
    memset(r, 0, sizeof *r);
}

/* reset, prefill ctx synthetic tokens, choose the root; the draft's pending tokens are the prompt */
static enum frs_status run_prefill(struct run *r, int ctx)
{
    FRS_TRY(r->be.ops->reset(&r->be));
    int32_t *p = malloc((size_t)ctx * sizeof *p);
    if (!p)
        return FRS_ERR(FRS_ERR_OOM, "bench: out of host memory");
    for (int i = 0; i < ctx; i++)
        p[i] = (int32_t)(((int64_t)i * 7919 + 3) % r->V);
    enum frs_status st = r->be.ops->prefill(&r->be, p, ctx);
    if (st == FRS_OK)
        st = r->be.ops->next_token(&r->be, NULL, 0, &r->root);
    if (st == FRS_OK) {
        for (int i = 1; i < ctx; i++)
            r->next[i - 1] = p[i];
        r->next[ctx - 1] = r->root;
        r->n_pending = ctx;
    }
    free(p);
    return st;
}

/* decode steps: the median over `steps` timed steps after `warm` (wall clock, a sync per token);
 * s NULL: greedy */
static enum frs_status run_decode(struct run *r, const struct frs_sampling *s, int warm, int steps, double *ms)
{
    int32_t t = r->root;
    for (int i = 0; i < warm; i++) {
        FRS_TRY(r->be.ops->decode(&r->be, t));
        FRS_TRY(r->be.ops->next_token(&r->be, s, (uint64_t)r->be.target_len, &t));
    }
    double *v = malloc((size_t)steps * sizeof *v);
    if (!v)
        return FRS_ERR(FRS_ERR_OOM, "bench: out of host memory");
    enum frs_status st = FRS_OK;
    for (int i = 0; i < steps && st == FRS_OK; i++) {
        const double t0 = now_s();
        st = r->be.ops->decode(&r->be, t);
        if (st == FRS_OK)
            st = r->be.ops->next_token(&r->be, s, (uint64_t)r->be.target_len, &t);
        v[i] = (now_s() - t0) * 1e3;
    }
    *ms = median(v, steps);
    free(v);
    r->root = t;
    return st;
}

struct spec_times {
    double draft, verify, accept_commit, iteration, accepted;
};

/* speculative iterations as the engine runs them (s NULL: greedy): each phase timed around a sync */
static enum frs_status run_spec(struct run *r, const struct frs_tree_params *p, const struct frs_sampling *s,
                                int warm, int iters, struct spec_times *out)
{
    const struct frs_sampling greedy_s = {0.0f, 1.0f, 0, 0}, *smp = s ? s : &greedy_s;
    struct frs_tree tree;
    struct frs_accept acc;
    double *v = malloc((size_t)iters * 4 * sizeof *v);
    if (!v)
        return FRS_ERR(FRS_ERR_OOM, "bench: out of host memory");
    enum frs_status st = FRS_OK;
    double n_acc = 0;
    for (int it = 0; it < warm + iters && st == FRS_OK; it++) {
        if (r->be.target_len + 2 * FRS_MAX_TREE >= r->cap) {
            st = FRS_ERR(FRS_ERR_TOO_LONG, "bench: context limit reached");
            break;
        }
        const double t0 = now_s();
        st = r->be.ops->draft_tree(&r->be, r->next, r->n_pending, p);
        if (st != FRS_OK)
            break;
        cudaError_t ce = cudaDeviceSynchronize();
        if (ce != cudaSuccess) {
            st = FRS_ERR(FRS_ERR_CUDA, "bench: draft_tree: %s", cudaGetErrorString(ce));
            break;
        }
        const double t1 = now_s();
        st = r->be.ops->verify(&r->be, smp, r->iter, &tree);
        if (st != FRS_OK)
            break;
        const double t2 = now_s();
        st = accept_verified(&r->be, &tree, smp, r->iter, &acc);
        if (st == FRS_OK)
            st = r->be.ops->commit(&r->be, acc.path, acc.n_path);
        if (st == FRS_OK && (ce = cudaDeviceSynchronize()) != cudaSuccess)
            st = FRS_ERR(FRS_ERR_CUDA, "bench: commit: %s", cudaGetErrorString(ce));
        const double t3 = now_s();
        r->iter++;
        memcpy(r->next, acc.tokens, (size_t)acc.n_tokens * sizeof *r->next);
        r->n_pending = acc.n_tokens;
        if (it >= warm) {
            const int j = it - warm;
            v[j] = (t1 - t0) * 1e3;
            v[iters + j] = (t2 - t1) * 1e3;
            v[2 * iters + j] = (t3 - t2) * 1e3;
            v[3 * iters + j] = (t3 - t0) * 1e3;
            n_acc += acc.n_tokens;
        }
    }
    if (st == FRS_OK) {
        out->draft = median(v, iters);
        out->verify = median(v + iters, iters);
        out->accept_commit = median(v + 2 * iters, iters);
        out->iteration = median(v + 3 * iters, iters);
        out->accepted = n_acc / iters;
    }
    free(v);
    return st;
}

/* ---- one preset ------------------------------------------------------------------------------ */

struct preset {
    const char *name;  /* as given */
    const char *shape; /* synthetic.h preset */
    int tp;
    struct frs_tree_params tree;
    int fp8;     /* decoder Linears in FP8 (llama_model_synthetic_fp8; issue 15) */
    int max_ctx; /* longest context timed (0: 8192) */
};

static const struct preset presets[] = {
    {"llama3.2-1b", "llama3.2-1b", 1, {3, 10, 30}, 0, 0},
    {"llama3-8b", "llama3-8b", 1, {6, 10, 60}, 0, 0},
    {"llama3-70b-tp4", "llama3-70b", 4, {6, 10, 60}, 0, 0},
    {"llama3-70b-tp8", "llama3-70b", 8, {6, 10, 60}, 0, 0},
    {"llama3-8b-fp8", "llama3-8b", 1, {6, 10, 60}, 1, 0},
    {"llama3-70b-fp8", "llama3-70b", 1, {6, 10, 60}, 1, 4096}, /* all 80 layers on one GPU, KV for 4k */
};

static cJSON *jobj(cJSON *parent, const char *key)
{
    cJSON *o = cJSON_CreateObject();
    if (key)
        cJSON_AddItemToObject(parent, key, o);
    else
        cJSON_AddItemToArray(parent, o);
    return o;
}

static void jnum(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, round(v * 1e4) / 1e4);
    else
        cJSON_AddNullToObject(o, k);
}

static enum frs_status bench_preset(const struct preset *ps, const struct bench_cfg *bc, double copy_gbs,
                                    cJSON *jpreset)
{
    struct llama_model m;
    FRS_TRY(llama_model_synthetic(&m, ps->shape, 0, ps->tp));
    if (ps->fp8)
        llama_model_synthetic_fp8(&m);
    const int max_ctx_t = ps->max_ctx ? ps->max_ctx : 8192;
    enum frs_status st = FRS_OK;
    struct eagle_draft d;
    memset(&d, 0, sizeof d);
    int have_d = 0;
    struct run r;
    memset(&r, 0, sizeof r);
    const struct frs_tree_params tp = ps->tree;
    const double wstep = weight_bytes_step(&m);
    const int warm_it = 3;
    cJSON_AddStringToObject(jpreset, "name", ps->name);
    cJSON_AddNumberToObject(jpreset, "tp_shard_of", ps->tp);
    cJSON_AddStringToObject(jpreset, "weights", ps->fp8 ? "FP8 decoder Linears (per-row scales), bf16 embedding / LM head / norms" : "bf16");
    jnum(jpreset, "weight_bytes_total", weight_bytes_total(&m));
    jnum(jpreset, "weight_bytes_read_per_step", wstep);
    cJSON *jt = jobj(jpreset, "tree");
    cJSON_AddNumberToObject(jt, "depth", tp.depth);
    cJSON_AddNumberToObject(jt, "topk", tp.topk);
    cJSON_AddNumberToObject(jt, "size", tp.size);
    printf("\n== %s (%s%s), %s, batch 1: %.2f GB of weights, %.2f GB read per decode step (+ KV)\n", ps->name,
           ps->shape, ps->tp > 1 ? ", rank-0 shard" : "", ps->fp8 ? "FP8 decoder Linears" : "bf16",
           weight_bytes_total(&m) / 1e9, wstep / 1e9);
    fflush(stdout);

    /* --- main run: FR-Spec K = 32k (16k for the 1B, as published), contexts and tree sizes --- */
    static const int ctx_full[] = {128, 512, 1024, 2048, 4096, 8192}, ctx_quick[] = {128, 1024, 4096};
    static const int n_full[] = {2, 4, 8, 16, 32, 48, 60, 64}, n_quick[] = {8, 32, 60};
    const int *ctxs = bc->quick ? ctx_quick : ctx_full, *ns = bc->quick ? n_quick : n_full;
    int n_ctx = bc->quick ? 3 : 6;
    const int n_n = bc->quick ? 3 : 8;
    while (n_ctx > 1 && ctxs[n_ctx - 1] > max_ctx_t)
        n_ctx--;
    const int k_main = 32768;
    FRS_TRY_GOTO(eagle_draft_synthetic(&d, &m, k_main), st, out);
    have_d = 1;
    FRS_TRY_GOTO(run_create(&r, bc, &bc->opts, &m, &d, max_ctx_t + 640, 64), st, out);
    cJSON *jdec = cJSON_AddArrayToObject(jpreset, "decode");
    cJSON *jvn = cJSON_AddArrayToObject(jpreset, "verify_by_tree_size");
    cJSON *jvc = cJSON_AddArrayToObject(jpreset, "verify_by_context");
    printf("%-7s %9s %8s %10s %9s %6s | %-22s %9s %9s\n", "context", "decode ms", "tok/s", "bytes/step", "floor ms",
           "share", "verify (tree nodes)", "verify ms", "x decode");
    double dec_1k = NAN;
    for (int ci = 0; ci < n_ctx; ci++) {
        const int ctx = ctxs[ci];
        FRS_TRY_GOTO(run_prefill(&r, ctx), st, out);
        struct spec_times sv;
        struct frs_tree_params p = tp;
        double ver_ctx = NAN;
        /* verify at the preset's tree size */
        FRS_TRY_GOTO(run_spec(&r, &p, NULL, warm_it + (ci == 0 ? 2 : 0), bc->iters, &sv), st, out);
        ver_ctx = sv.verify;
        /* decode at (about) the same context */
        double dms = 0;
        const int ctx_dec = r.be.target_len;
        FRS_TRY_GOTO(run_decode(&r, NULL, 4, bc->steps, &dms), st, out);
        const double ctx_mean = ctx_dec + 4 + bc->steps / 2.0;
        const double bytes = wstep + kv_bytes_step(&m, ctx_mean);
        const double floor_ms = bytes / (copy_gbs * 1e9) * 1e3;
        cJSON *o = jobj(jdec, NULL);
        cJSON_AddNumberToObject(o, "context", ctx);
        jnum(o, "context_mean", ctx_mean);
        jnum(o, "ms_per_token", dms);
        jnum(o, "tokens_per_s", 1e3 / dms);
        jnum(o, "bytes_per_step", bytes);
        jnum(o, "floor_ms", floor_ms);
        jnum(o, "roofline_share", floor_ms / dms);
        o = jobj(jvc, NULL);
        cJSON_AddNumberToObject(o, "context", ctx);
        cJSON_AddNumberToObject(o, "tree_size", tp.size);
        jnum(o, "verify_ms", ver_ctx);
        jnum(o, "decode_ms", dms);
        jnum(o, "ratio_to_decode", ver_ctx / dms);
        printf("%-7d %9.3f %8.1f %8.2fGB %9.3f %5.1f%% | verify n=%-2d ctx %-5d %9.3f %8.2fx\n", ctx, dms, 1e3 / dms,
               bytes / 1e9, floor_ms, 100 * floor_ms / dms, tp.size, ctx, ver_ctx, ver_ctx / dms);
        fflush(stdout);
        if (ctx == 1024) {
            dec_1k = dms;
            /* verify against tree size at 1k */
            FRS_TRY_GOTO(run_prefill(&r, ctx), st, out);
            o = jobj(jvn, NULL);
            cJSON_AddNumberToObject(o, "tree_size", 1);
            cJSON_AddNumberToObject(o, "context", ctx);
            jnum(o, "verify_ms", dms);
            cJSON_AddStringToObject(o, "note", "1 node = the autoregressive decode step");
            for (int ni = 0; ni < n_n; ni++) {
                p.size = ns[ni];
                FRS_TRY_GOTO(run_spec(&r, &p, NULL, warm_it, bc->iters, &sv), st, out);
                o = jobj(jvn, NULL);
                cJSON_AddNumberToObject(o, "tree_size", p.size);
                cJSON_AddNumberToObject(o, "context", ctx);
                jnum(o, "verify_ms", sv.verify);
                jnum(o, "ratio_to_decode", sv.verify / dms);
                printf("%-7s %9s %8s %10s %9s %6s | verify n=%-2d ctx %-5d %9.3f %8.2fx\n", "", "", "", "", "", "",
                       p.size, ctx, sv.verify, sv.verify / dms);
            }
            fflush(stdout);
        }
    }
    jnum(jpreset, "decode_ms_ctx1k", dec_1k);
    run_free(&r);
    eagle_draft_free(&d);
    have_d = 0;

    /* --- draft vocabulary: EAGLE-2 (full) and FR-Spec K, whole iterations at 1k --- */
    static const int ks[] = {0, 8192, 16384, 32768, 65536};
    cJSON *jk = cJSON_AddArrayToObject(jpreset, "draft_and_iteration");
    printf("%-12s %9s %9s %9s %9s %11s %9s | %s\n", "draft vocab", "draft ms", "per level", "x full", "verify ms",
           "acc+commit", "iter ms", "tok/s at published acceptance");
    double full_draft = NAN;
    for (int ki = 0; ki < 5; ki++) {
        if (bc->shortk && ks[ki] != 32768)
            continue;
        FRS_TRY_GOTO(eagle_draft_synthetic(&d, &m, ks[ki]), st, out);
        have_d = 1;
        FRS_TRY_GOTO(run_create(&r, bc, &bc->opts, &m, &d, 1024 + 640, tp.size), st, out);
        FRS_TRY_GOTO(run_prefill(&r, 1024), st, out);
        struct spec_times sv;
        FRS_TRY_GOTO(run_spec(&r, &tp, NULL, warm_it + 2, bc->iters, &sv), st, out);
        if (ki == 0 || (bc->shortk && isnan(full_draft)))
            full_draft = sv.draft;
        /* FR-Spec paper, Llama-3-8B acceptance lengths (DESIGN.md section 4) */
        const double acc_pub = ks[ki] == 0 ? 3.89 : ks[ki] == 8192 ? 3.13 : ks[ki] == 16384 ? 3.40
                               : ks[ki] == 32768 ? 3.63 : 3.80;
        cJSON *o = jobj(jk, NULL);
        cJSON_AddNumberToObject(o, "k", ks[ki] ? ks[ki] : m.cfg.vocab_size);
        cJSON_AddStringToObject(o, "method", ks[ki] ? "FR-Spec" : "EAGLE-2 (full vocabulary)");
        jnum(o, "draft_tree_ms", sv.draft);
        jnum(o, "draft_ms_per_level", sv.draft / tp.depth);
        jnum(o, "draft_ratio_to_full", sv.draft / full_draft);
        jnum(o, "verify_ms", sv.verify);
        jnum(o, "accept_commit_ms", sv.accept_commit);
        jnum(o, "iteration_ms", sv.iteration);
        jnum(o, "accepted_per_iteration_random_weights", sv.accepted);
        jnum(o, "published_acceptance_llama3_8b", acc_pub);
        jnum(o, "projected_tokens_per_s", acc_pub / sv.iteration * 1e3);
        char name[32];
        snprintf(name, sizeof name, ks[ki] ? "FR %dk" : "full %d", ks[ki] ? ks[ki] / 1024 : m.cfg.vocab_size);
        printf("%-12s %9.3f %9.3f %8.2fx %9.3f %11.3f %9.3f | %.0f (x %.2f)\n", name, sv.draft, sv.draft / tp.depth,
               sv.draft / full_draft, sv.verify, sv.accept_commit, sv.iteration, acc_pub / sv.iteration * 1e3,
               acc_pub);
        fflush(stdout);
        run_free(&r);
        eagle_draft_free(&d);
        have_d = 0;
    }

    /* --- sampled: the device path against FRS_HOST_SAMPLING=1, FR-Spec 32k at 1k --- */
    static const struct frs_sampling samp[] = {{0.8f, 1.0f, 50, 1234}, {0.8f, 0.9f, 0, 1234}};
    static const char *samp_name[] = {"T 0.8 top-k 50", "T 0.8 top-p 0.9"};
    cJSON *js = cJSON_AddArrayToObject(jpreset, "sampled");
    printf("%-16s %-7s %9s %9s %9s %11s | %13s | %s\n", "sampled FR 32k", "path", "draft ms", "verify ms", "iter ms",
           "accepted", "decode+sample", "calls on device / rows redone on host");
    FRS_TRY_GOTO(eagle_draft_synthetic(&d, &m, k_main), st, out);
    have_d = 1;
    for (int si = 0; si < (bc->shortk ? 0 : 2); si++) {
        for (int host = 0; host < 2; host++) {
            struct frs_backend_options ro = bc->opts;
            if (host)
                ro.device_sampling = 0;
            st = run_create(&r, bc, &ro, &m, &d, 1024 + 640, tp.size);
            FRS_TRY_GOTO(st, st, out);
            FRS_TRY_GOTO(run_prefill(&r, 1024), st, out);
            struct spec_times sv;
            /* the host path costs ~0.1-1 s per iteration at 128k ids: fewer repetitions */
            const int it = host ? 3 : bc->iters, warm = host ? 1 : warm_it + 2;
            FRS_TRY_GOTO(run_spec(&r, &tp, &samp[si], warm, it, &sv), st, out);
            double dms = 0;
            FRS_TRY_GOTO(run_decode(&r, &samp[si], host ? 1 : 4, host ? 4 : bc->steps, &dms), st, out);
            long on_dev, on_host, redone;
            on_dev = on_host = redone = 0;
            if (bc->cuda->sampling_counts)
                bc->cuda->sampling_counts(&r.be, &on_dev, &on_host, &redone);
            cJSON *o = jobj(js, NULL);
            cJSON_AddStringToObject(o, "sampling", samp_name[si]);
            cJSON_AddStringToObject(o, "path", host ? "host (FRS_HOST_SAMPLING=1)" : "device");
            cJSON_AddNumberToObject(o, "k", k_main);
            cJSON_AddNumberToObject(o, "context", 1024);
            jnum(o, "draft_tree_ms", sv.draft);
            jnum(o, "verify_ms", sv.verify);
            jnum(o, "iteration_ms", sv.iteration);
            jnum(o, "accepted_per_iteration_random_weights", sv.accepted);
            jnum(o, "decode_sample_ms_per_token", dms);
            cJSON_AddNumberToObject(o, "calls_on_device", (double)on_dev);
            cJSON_AddNumberToObject(o, "calls_on_host", (double)on_host);
            cJSON_AddNumberToObject(o, "rows_redone_on_host", (double)redone);
            printf("%-16s %-7s %9.3f %9.3f %9.3f %11.2f | %13.3f | %ld / %ld (%ld calls on the host)\n", samp_name[si],
                   host ? "host" : "device", sv.draft, sv.verify, sv.iteration, sv.accepted, dms, on_dev, redone,
                   on_host);
            fflush(stdout);
            run_free(&r);
        }
    }
    eagle_draft_free(&d);
    have_d = 0;
out:
    if (st != FRS_OK) {
        fprintf(stderr, "frspec bench: %s: %s\n", ps->name, frs_error_msg());
        cJSON_AddStringToObject(jpreset, "error", frs_error_msg());
    }
    run_free(&r);
    if (have_d)
        eagle_draft_free(&d);
    llama_model_free(&m);
    return st;
}

static int bench_synthetic(int argc, char **argv)
{
    struct bench_cfg bc = {0, 40, 12, 0, NULL, frs_backend_options_default()};
    backend_options_from_env(&bc.opts);
    if (frs_backend_find("cuda", &bc.cuda) != FRS_OK) {
        fprintf(stderr, "frspec bench: %s\n", frs_error_msg());
        return 1;
    }
    const char *json = NULL, *list = "llama3.2-1b,llama3-8b,llama3-70b-tp4,llama3-70b-tp8";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--preset") && i + 1 < argc) {
            list = argv[++i];
        } else if (!strcmp(a, "--json") && i + 1 < argc) {
            json = argv[++i];
        } else if (!strcmp(a, "--quick")) {
            bc.quick = 1;
        } else if (!strcmp(a, "--short")) {
            bc.shortk = 1;
        } else if (!strcmp(a, "--steps") && i + 1 < argc) {
            if (cli_parse_int(a, argv[++i], 4, 100000, &bc.steps))
                return 2;
        } else if (!strcmp(a, "--iters") && i + 1 < argc) {
            if (cli_parse_int(a, argv[++i], 2, 100000, &bc.iters))
                return 2;
        } else {
            fprintf(stderr, "frspec bench: unknown option '%s'\n\n", a);
            bench_usage(stderr);
            return 2;
        }
    }
    if (frs_backend_devices(bc.cuda) == 0) {
        fprintf(stderr, "frspec bench: no CUDA device (the synthetic benchmark runs on the GPU only; "
                        "`frspec bench acceptance --device cpu` runs on the CPU)\n");
        return 1;
    }
    struct cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", "frspec bench " FRSPEC_VERSION);
    char cmd[1024] = "frspec";
    for (int i = 0; i < argc; i++) {
        strncat(cmd, " ", sizeof cmd - strlen(cmd) - 1);
        strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 1);
    }
    cJSON_AddStringToObject(root, "command", cmd);
    cJSON_AddStringToObject(root, "device", prop.name);
    cJSON_AddNumberToObject(root, "sm_count", prop.multiProcessorCount);
    cJSON_AddNumberToObject(root, "cuda_driver", drv);
    cJSON_AddNumberToObject(root, "cuda_runtime", rt);
    cJSON_AddStringToObject(root, "date_utc", date);
    char bo[160];
    cJSON_AddStringToObject(root, "FRS_CUBLASLT", bc.opts.cublaslt ? "1 (default)" : "0");
    cJSON_AddStringToObject(root, "FRS_CUDA_GRAPHS", bc.opts.cuda_graphs ? "1 (default)" : "0");
    cJSON_AddStringToObject(root, "backend_options", backend_options_describe(&bc.opts, bo, sizeof bo));
    cJSON_AddStringToObject(root, "bytes_convention",
                            "decode bytes/step = every weight byte read once (embedding: one row; LM head: this rank's "
                            "rows; norms) + KV cache read (2 x layers x ctx x kv_heads x head_dim x 2 B) + the new K/V "
                            "row written; floor = bytes / copy bandwidth; copy bandwidth = 1 GiB D2D cudaMemcpy "
                            "counting bytes read + bytes written");
    double copy_gbs = 0;
    if (bench_copy_bw(&copy_gbs) != FRS_OK) {
        fprintf(stderr, "frspec bench: %s\n", frs_error_msg());
        cJSON_Delete(root);
        return 1;
    }
    jnum(root, "copy_bandwidth_gbs", copy_gbs);
    printf("frspec bench: %s (%d SMs), driver %d, runtime %d, %s\n", prop.name, prop.multiProcessorCount, drv, rt, date);
    printf("copy bandwidth (1 GiB D2D, read + write): %.0f GB/s\n", copy_gbs);
    cJSON *jp = cJSON_AddArrayToObject(root, "presets");
    int rc = 0;
    char *names = strdup(list);
    for (char *save = NULL, *tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const struct preset *ps = NULL;
        for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
            if (!strcmp(tok, presets[i].name))
                ps = &presets[i];
        if (!ps) {
            fprintf(stderr, "frspec bench: unknown preset '%s' (llama3.2-1b, llama3-8b, llama3-70b-tp4, "
                            "llama3-70b-tp8, llama3-8b-fp8, llama3-70b-fp8)\n", tok);
            rc = 2;
            continue;
        }
        if (bench_preset(ps, &bc, copy_gbs, jobj(jp, NULL)) != FRS_OK)
            rc = 1;
        if (json) { /* after every preset, so a later failure keeps what was measured */
            char *txt = cJSON_Print(root);
            FILE *f = fopen(json, "w");
            if (!f || fputs(txt, f) < 0 || fclose(f)) {
                fprintf(stderr, "frspec bench: cannot write %s\n", json);
                rc = 1;
            }
            free(txt);
        }
    }
    free(names);
    cJSON_Delete(root);
    return rc;
}

/* `frspec bench throughput` (bench_throughput.c) with this GPU's name and copy bandwidth */
static int bench_throughput_gpu(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return bench_throughput(argc, argv, NULL);
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0)
        return bench_throughput(argc, argv, NULL);
    struct cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    struct bench_device dev = {prop.name, prop.multiProcessorCount, 0.0};
    if (bench_copy_bw(&dev.copy_gbs) != FRS_OK) {
        fprintf(stderr, "frspec bench throughput: %s\n", frs_error_msg());
        return 1;
    }
    return bench_throughput(argc, argv, &dev);
}

#else /* no CUDA backend in this build */

static int bench_throughput_gpu(int argc, char **argv)
{
    return bench_throughput(argc, argv, NULL);
}

static int bench_synthetic(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            bench_usage(stdout);
            return 0;
        }
    fprintf(stderr, "frspec bench: this build has no CUDA backend: the synthetic-model benchmark needs one "
                    "(rebuild with -DFRSPEC_CUDA=ON); `frspec bench acceptance --device cpu` works without\n");
    return 1;
}

#endif /* FRSPEC_HAVE_CUDA */

int cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "acceptance"))
        return bench_acceptance(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "throughput"))
        return bench_throughput_gpu(argc - 1, argv + 1);
    return bench_synthetic(argc, argv);
}
