/* bench_throughput.c - `frspec bench throughput`: batched autoregressive decoding on the GPU
 * through the CUDA backend's batched ops (runtime/batch.h: paged KV pool, one target forward
 * over every sequence's row per step), on the synthetic models of the real shapes
 * (runtime/synthetic.h: random bf16 weights made on the GPU), at batch 1, 4, 8, 16, 32, 64, 128
 * and one context (default 1k).
 *
 * Per preset and batch size N: N sequences at target length ctx (their KV blocks assigned from
 * the pool, the rows not prefilled: zeros cost the same bytes and flops as real keys), then
 * `steps` timed steps of verify (N one-node trees: embed, L layers over N rows, paged attention,
 * LM head over N rows, argmax, the one read-back) + commit, after `warm` untimed ones (cuBLASLt
 * algorithm choice). Reported: the median step time, tokens/s = N / step, and the roofline: bytes
 * per step = every weight byte read once (as `frspec bench`: embedding one row per sequence, LM
 * head this rank's rows) + each sequence's KV read (2 x layers x ctx x kv_heads x head_dim x 2 B)
 * and its new row written; floor = bytes / copy bandwidth (1 GiB D2D counting read + write);
 * share = floor / measured.
 *
 * Then speculative iterations at the EAGLE-2 tree (depth 6, top-k 10, 60 nodes) for batch sizes
 * whose verify rows (batch x 60) stay within 2048, with a synthetic draft of the full vocabulary
 * (EAGLE-2) and of FR-Spec's 32k: per step the batched draft of every sequence (its catch-up over
 * the last accepted tokens, then the tree, one read-back per depth), one verify over all trees
 * (batch x 60 rows, tree masks), commit. Reported: the median draft, verify and iteration times,
 * the tokens/s at the FR-Spec paper's Llama-3-8B acceptance lengths (3.89 full, 3.63 at 32k:
 * tokens/s = batch x acceptance / iteration), the speed-up over the autoregressive step of the
 * same batch, and what the engine's auto policy does with these times (speculate when the
 * projected tokens/s beat the autoregressive ones). Random weights accept about one token an
 * iteration, so the catch-up rows per step are fewer than with real acceptance (a few rows a
 * sequence out of the batch x (1 + 50) draft rows of the step).
 *
 * Runs through the backend registry's "cuda" entry (no backend header here); the device name and
 * copy bandwidth come from cmd_bench.c (launch/'s CUDA #ifdef). FRS_CUDA_GRAPHS=0 etc. apply
 * (backend_options_from_env).
 *
 * defines: bench_throughput
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "accept.h"
#include "backend.h"
#include "backend_registry.h" /* frs_backend_find: the CUDA backend's ops */
#include "batch.h"
#include "bench_throughput.h"
#include "cli.h"
#include "model.h"
#include "options.h" /* backend_options_from_env */
#include "synthetic.h"
#include "draft.h"

static void tp_usage(FILE *f)
{
    fprintf(f, "usage: frspec bench throughput [options]   batched decode and speculation on synthetic models (CUDA)\n\n"
               "  --preset LIST     comma-separated: llama3.2-1b, llama3-8b, llama3-70b-tp4, llama3-70b-tp8\n"
               "                    (default: all four)\n"
               "  --batches LIST    batch sizes (default 1,4,8,16,32,64,128)\n"
               "  --ctx N           context of every sequence (default 1024)\n"
               "  --steps N         timed steps per batch size (default 20)\n"
               "  --no-spec         the autoregressive decode only (no speculative iterations)\n"
               "  --fr-only         speculative iterations with the FR-Spec 32k draft only (not the full\n"
               "                    vocabulary's; for profiling one draft)\n"
               "  --json FILE       write every figure as JSON\n");
}

static double tp_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int tp_cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double tp_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, tp_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* weights read per step (as cmd_bench.c's weight_bytes_step, one embedding row per sequence) */
static double tp_weight_bytes(const struct llama_model *m, int n)
{
    const double C = m->cfg.hidden_size, D = m->cfg.head_dim, H = m->n_heads_local, KV = m->n_kv_heads_local,
                 F = m->ffn_local, L = m->cfg.num_hidden_layers;
    const double layer = ((H + 2 * KV) * D * C + C * H * D + 3 * F * C + 2 * C) * 2;
    return L * layer + (double)m->vocab_local * C * 2 + C * 2 + C * 2.0 * n;
}

static double tp_kv_bytes(const struct llama_model *m, double ctx)
{
    const double row = 2.0 * m->cfg.num_hidden_layers * m->n_kv_heads_local * m->cfg.head_dim * 2;
    return row * ctx + row;
}

struct tp_preset {
    const char *name, *shape;
    int tp;
};

static const struct tp_preset tp_presets[] = {
    {"llama3.2-1b", "llama3.2-1b", 1},
    {"llama3-8b", "llama3-8b", 1},
    {"llama3-70b-tp4", "llama3-70b", 4},
    {"llama3-70b-tp8", "llama3-70b", 8},
};

static void tp_jnum(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, round(v * 1e4) / 1e4);
    else
        cJSON_AddNullToObject(o, k);
}

static void tp_free_all(void *const *p, int n)
{
    for (int i = 0; i < n; i++)
        free(p[i]);
}

/* Speculative iterations (draft + verify + commit) at the EAGLE-2 tree for the batch sizes with
 * at most 2048 verify rows, full-vocabulary and FR-Spec 32k synthetic drafts; ar_ms[bi] = the
 * autoregressive step of batches[bi]. */
#define TP_SPEC_ROWS 2048
static enum frs_status tp_spec_run(const struct frs_backend_ops *ops, const struct frs_backend_options *opt,
                                   const struct llama_model *m, int ctx, int steps, const int *batches, int nb,
                                   const double *ar_ms, int fr_only, cJSON *jpre)
{
    const struct frs_tree_params p = {6, 10, 60};
    int maxb = 0;
    for (int i = 0; i < nb; i++)
        if (batches[i] * p.size <= TP_SPEC_ROWS && batches[i] > maxb)
            maxb = batches[i];
    if (maxb == 0)
        return FRS_OK;
    const int warm = 3, grow = (warm + steps) * (p.depth + 1);
    const int max_ctx = ctx + grow + p.size + 16;
    const int B = FRS_KV_BLOCK_DEFAULT, per_seq = (max_ctx + B - 1) / B;
    const struct frs_limits lim = {.max_ctx = max_ctx, .max_tree = p.size, .prefill_chunk = 16, .max_seqs = maxb,
                                   .max_step_rows = maxb * p.size, .kv_block = B, .kv_blocks = maxb * per_seq,
                                   .max_topk = p.topk};
    static const int ks[2] = {0, 32768};
    static const double acc_pub[2] = {3.89, 3.63}; /* FR-Spec paper, Llama-3-8B (DESIGN.md section 4) */
    enum frs_status st = FRS_OK;
    int32_t *blocks = malloc((size_t)maxb * per_seq * sizeof *blocks);
    struct frs_seq *seqs = calloc((size_t)maxb, sizeof *seqs);
    struct frs_sampling *samp = calloc((size_t)maxb, sizeof *samp);
    int32_t *roots = malloc((size_t)maxb * sizeof *roots);
    int *drafted = malloc((size_t)maxb * sizeof *drafted);
    struct frs_tree *trees = malloc((size_t)maxb * sizeof *trees);
    struct frs_accept *acc = malloc((size_t)maxb * sizeof *acc);
    struct frs_tree_params *tps = malloc((size_t)maxb * sizeof *tps);
    int32_t *toks = malloc((size_t)maxb * max_ctx * sizeof *toks); /* each sequence's tokens by position */
    const int32_t **next = malloc((size_t)maxb * sizeof *next);
    double *vd = malloc((size_t)steps * sizeof *vd), *vv = malloc((size_t)steps * sizeof *vv),
           *vi = malloc((size_t)steps * sizeof *vi);
    if (!blocks || !seqs || !samp || !roots || !drafted || !trees || !acc || !tps || !toks || !next || !vd || !vv ||
        !vi) {
        st = FRS_ERR(FRS_ERR_OOM, "bench throughput: out of host memory");
        goto out;
    }
    for (int i = 0; i < maxb; i++)
        for (int j = 0; j < per_seq; j++)
            blocks[(size_t)i * per_seq + j] = j * maxb + i;
    printf("speculative iterations, tree %d/%d/%d (depth/top-k/nodes), context %d, synthetic drafts\n", p.depth, p.topk,
           p.size, ctx);
    printf("%-10s %6s %9s %9s %9s %8s %12s %10s %8s\n", "draft", "batch", "draft ms", "verify ms", "iter ms", "rows",
           "tok/s @pub", "x AR", "auto");
    cJSON *jarr = cJSON_AddArrayToObject(jpre, "speculative");
    for (int ki = fr_only ? 1 : 0; ki < 2 && st == FRS_OK; ki++) {
        struct eagle_draft d;
        st = eagle_draft_synthetic(&d, m, ks[ki]);
        if (st != FRS_OK)
            break;
        struct frs_backend be;
        memset(&be, 0, sizeof be);
        be.ops = ops;
        st = be.ops->create(&be, m, &d, NULL, &lim, opt);
        if (st != FRS_OK) {
            eagle_draft_free(&d);
            break;
        }
        const struct frs_batch_ops *bo = be.ops->batch;
        for (int bi = 0; bi < nb && st == FRS_OK; bi++) {
            const int n = batches[bi];
            if (n * p.size > TP_SPEC_ROWS)
                continue;
            for (int i = 0; i < n; i++) {
                /* the draft has read nothing: its first step catches up over the last 4 positions
                 * (the rest of the context is zeros in the pool, costing what real rows cost) */
                seqs[i] = (struct frs_seq){.slot = i, .target_len = ctx, .draft_len = ctx - 4,
                                           .blocks = blocks + (size_t)i * per_seq, .n_blocks = per_seq};
                samp[i] = (struct frs_sampling){0.0f, 1.0f, 0, 0};
                for (int j = 0; j <= ctx; j++)
                    toks[(size_t)i * max_ctx + j] = (int32_t)((i * 7919 + j * 31 + 3) % m->cfg.vocab_size);
                drafted[i] = 1;
                tps[i] = p;
            }
            for (int s = 0; s < warm + steps && st == FRS_OK; s++) {
                for (int i = 0; i < n; i++) {
                    next[i] = toks + (size_t)i * max_ctx + seqs[i].draft_len + 1;
                    roots[i] = toks[(size_t)i * max_ctx + seqs[i].target_len];
                }
                const double t0 = tp_now();
                st = bo->draft(&be, n, seqs, next, tps);
                const double t1 = tp_now();
                if (st == FRS_OK)
                    st = bo->verify(&be, n, seqs, roots, drafted, samp, trees, acc);
                const double t2 = tp_now();
                if (st == FRS_OK)
                    st = bo->commit(&be, n, seqs, acc);
                const double t3 = tp_now();
                if (s >= warm) {
                    vd[s - warm] = (t1 - t0) * 1e3;
                    vv[s - warm] = (t2 - t1) * 1e3;
                    vi[s - warm] = (t3 - t0) * 1e3;
                }
                for (int i = 0; i < n && st == FRS_OK; i++) {
                    int32_t *tk = toks + (size_t)i * max_ctx;
                    seqs[i].draft_len = seqs[i].target_len;
                    for (int j = 1; j <= acc[i].n_tokens; j++)
                        tk[seqs[i].target_len + j] = acc[i].tokens[j - 1];
                    seqs[i].target_len += acc[i].n_path;
                    if (seqs[i].target_len + p.size + 1 > max_ctx)
                        st = FRS_ERR(FRS_ERR_INTERNAL, "bench throughput: sequence %d ran out of its context", i);
                }
            }
            if (st != FRS_OK)
                break;
            const double dms = tp_median(vd, steps), verms = tp_median(vv, steps), ims = tp_median(vi, steps);
            const double tps_pub = n * acc_pub[ki] / (ims * 1e-3), tps_ar = n / (ar_ms[bi] * 1e-3);
            char name[32];
            snprintf(name, sizeof name, ks[ki] ? "FR %dk" : "full %d", ks[ki] ? ks[ki] / 1024 : m->cfg.vocab_size);
            printf("%-10s %6d %9.3f %9.3f %9.3f %8d %12.0f %9.2fx %8s\n", name, n, dms, verms, ims, n * p.size, tps_pub,
                   tps_pub / tps_ar, tps_pub > tps_ar ? "spec" : "off");
            fflush(stdout);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(jarr, o);
            cJSON_AddStringToObject(o, "method", ks[ki] ? "FR-Spec" : "EAGLE-2 (full vocabulary)");
            tp_jnum(o, "k", ks[ki] ? ks[ki] : m->cfg.vocab_size);
            tp_jnum(o, "batch", n);
            tp_jnum(o, "tree_nodes", p.size);
            tp_jnum(o, "draft_ms", dms);
            tp_jnum(o, "verify_ms", verms);
            tp_jnum(o, "iteration_ms", ims);
            tp_jnum(o, "published_acceptance_llama3_8b", acc_pub[ki]);
            tp_jnum(o, "projected_tokens_per_s", tps_pub);
            tp_jnum(o, "autoregressive_tokens_per_s", tps_ar);
            tp_jnum(o, "speedup_over_autoregressive", tps_pub / tps_ar);
            cJSON_AddStringToObject(o, "auto_choice", tps_pub > tps_ar ? "speculate" : "off");
        }
        be.ops->destroy(&be);
        eagle_draft_free(&d);
    }
out:
    tp_free_all((void *[]){blocks, seqs, samp, roots, drafted, trees, acc, tps, toks, (void *)next, vd, vv, vi}, 13);
    return st;
}

static enum frs_status tp_preset_run(const struct frs_backend_ops *ops, const struct frs_backend_options *opt,
                                     const struct tp_preset *ps, const int *batches, int nb, int ctx, int steps,
                                     int spec, double copy_gbs, cJSON *jpre)
{
    struct llama_model m;
    FRS_TRY(llama_model_synthetic(&m, ps->shape, 0, ps->tp));
    int maxb = 1;
    for (int i = 0; i < nb; i++)
        maxb = batches[i] > maxb ? batches[i] : maxb;
    const int warm = 3, max_ctx = ctx + warm + steps + 8;
    const int B = FRS_KV_BLOCK_DEFAULT, per_seq = (max_ctx + B - 1) / B;
    const struct frs_limits lim = {.max_ctx = max_ctx, .max_tree = 0, .prefill_chunk = 16, .max_seqs = maxb,
                                   .max_step_rows = maxb, .kv_block = B, .kv_blocks = maxb * per_seq};
    struct frs_backend be;
    memset(&be, 0, sizeof be);
    be.ops = ops;
    enum frs_status st = be.ops->create(&be, &m, NULL, NULL, &lim, opt);
    if (st != FRS_OK) {
        llama_model_free(&m);
        return st;
    }
    const struct frs_batch_ops *bo = be.ops->batch;
    int32_t *blocks = malloc((size_t)maxb * per_seq * sizeof *blocks);
    struct frs_seq *seqs = calloc((size_t)maxb, sizeof *seqs);
    struct frs_sampling *samp = calloc((size_t)maxb, sizeof *samp);
    int32_t *roots = malloc((size_t)maxb * sizeof *roots);
    int *drafted = calloc((size_t)maxb, sizeof *drafted);
    struct frs_tree *trees = malloc((size_t)maxb * sizeof *trees);
    struct frs_accept *acc = malloc((size_t)maxb * sizeof *acc);
    double *v = malloc((size_t)steps * sizeof *v);
    if (!blocks || !seqs || !samp || !roots || !drafted || !trees || !acc || !v) {
        st = FRS_ERR(FRS_ERR_OOM, "bench throughput: out of host memory");
        goto out;
    }
    /* blocks interleaved across sequences (block j of sequence i = j * maxb + i): no sequence's
     * rows are contiguous, as in a pool that has served many requests */
    for (int i = 0; i < maxb; i++)
        for (int j = 0; j < per_seq; j++)
            blocks[(size_t)i * per_seq + j] = j * maxb + i;
    printf("\n%s (TP %d shard on one GPU): batched autoregressive decode, context %d, %d timed steps\n", ps->name,
           ps->tp, ctx, steps);
    printf("%6s %10s %10s %12s %10s %8s\n", "batch", "step ms", "tok/s", "GB/step", "floor ms", "share");
    cJSON *jarr = cJSON_AddArrayToObject(jpre, "batches");
    double ar_ms[32];
    for (int bi = 0; bi < nb && st == FRS_OK; bi++) {
        const int n = batches[bi];
        for (int i = 0; i < n; i++) {
            seqs[i] = (struct frs_seq){.slot = i, .target_len = ctx, .draft_len = ctx,
                                       .blocks = blocks + (size_t)i * per_seq, .n_blocks = per_seq};
            samp[i] = (struct frs_sampling){0.0f, 1.0f, 0, 0};
            roots[i] = (int32_t)((i * 7919 + 3) % m.cfg.vocab_size);
        }
        for (int s = 0; s < warm + steps && st == FRS_OK; s++) {
            const double t0 = tp_now();
            /* verify ends with the read-back (a stream synchronisation); commit of one-node trees
             * moves no row */
            st = bo->verify(&be, n, seqs, roots, drafted, samp, trees, acc);
            if (st == FRS_OK)
                st = bo->commit(&be, n, seqs, acc);
            if (s >= warm)
                v[s - warm] = (tp_now() - t0) * 1e3;
            for (int i = 0; i < n && st == FRS_OK; i++) {
                seqs[i].target_len += acc[i].n_path;
                seqs[i].draft_len = seqs[i].target_len;
                roots[i] = acc[i].tokens[acc[i].n_tokens - 1];
            }
        }
        if (st != FRS_OK)
            break;
        const double ms = tp_median(v, steps);
        ar_ms[bi] = ms;
        const double mean_ctx = ctx + warm + (steps - 1) / 2.0;
        const double bytes = tp_weight_bytes(&m, n) + n * tp_kv_bytes(&m, mean_ctx);
        const double floor_ms = bytes / (copy_gbs * 1e9) * 1e3;
        printf("%6d %10.3f %10.0f %12.2f %10.3f %7.0f%%\n", n, ms, n / (ms * 1e-3), bytes / 1e9, floor_ms,
               100.0 * floor_ms / ms);
        fflush(stdout);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(jarr, o);
        tp_jnum(o, "batch", n);
        tp_jnum(o, "step_ms", ms);
        tp_jnum(o, "tokens_per_s", n / (ms * 1e-3));
        tp_jnum(o, "bytes_per_step", bytes);
        tp_jnum(o, "floor_ms", floor_ms);
        tp_jnum(o, "roofline_share", floor_ms / ms);
    }
    be.ops->destroy(&be);
    memset(&be, 0, sizeof be);
    if (st == FRS_OK && spec)
        st = tp_spec_run(ops, opt, &m, ctx, steps, batches, nb, ar_ms, spec == 2, jpre);
out:
    if (be.ops)
        be.ops->destroy(&be);
    llama_model_free(&m);
    tp_free_all((void *[]){blocks, seqs, samp, roots, drafted, trees, acc, v}, 8);
    return st;
}

int bench_throughput(int argc, char **argv, const struct bench_device *dev)
{
    const char *list = "llama3.2-1b,llama3-8b,llama3-70b-tp4,llama3-70b-tp8", *blist = "1,4,8,16,32,64,128",
               *json = NULL;
    int ctx = 1024, steps = 20, spec = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            tp_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--preset") && i + 1 < argc) {
            list = argv[++i];
        } else if (!strcmp(a, "--batches") && i + 1 < argc) {
            blist = argv[++i];
        } else if (!strcmp(a, "--no-spec")) {
            spec = 0;
        } else if (!strcmp(a, "--fr-only")) {
            spec = 2;
        } else if (!strcmp(a, "--json") && i + 1 < argc) {
            json = argv[++i];
        } else if (!strcmp(a, "--ctx") && i + 1 < argc) {
            if (cli_parse_int(a, argv[++i], 1, 1 << 20, &ctx))
                return 2;
        } else if (!strcmp(a, "--steps") && i + 1 < argc) {
            if (cli_parse_int(a, argv[++i], 2, 100000, &steps))
                return 2;
        } else {
            fprintf(stderr, "frspec bench throughput: unknown option '%s'\n\n", a);
            tp_usage(stderr);
            return 2;
        }
    }
    int batches[32], nb = 0;
    {
        char *bl = strdup(blist);
        for (char *save = NULL, *t = strtok_r(bl, ",", &save); t && nb < 32; t = strtok_r(NULL, ",", &save)) {
            if (cli_parse_int("--batches", t, 1, 4096, &batches[nb])) {
                free(bl);
                return 2;
            }
            nb++;
        }
        free(bl);
    }
    if (!dev) {
        fprintf(stderr, "frspec bench throughput: no CUDA device (or no CUDA backend in this build)\n");
        return 1;
    }
    const struct frs_backend_entry *cuda = NULL;
    if (frs_backend_find("cuda", &cuda) != FRS_OK || !cuda->ops->batch) {
        fprintf(stderr, "frspec bench throughput: %s\n", cuda ? "the CUDA backend has no batched ops" : frs_error_msg());
        return 1;
    }
    struct frs_backend_options opt = frs_backend_options_default();
    backend_options_from_env(&opt);
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    const double copy_gbs = dev->copy_gbs;
    printf("frspec bench throughput: %s (%d SMs), %s; copy bandwidth (1 GiB D2D, read + write) %.0f GB/s\n",
           dev->name, dev->sm_count, date, copy_gbs);
    cJSON *root = cJSON_CreateObject();
    char cmd[1024] = "frspec bench";
    for (int i = 0; i < argc; i++) {
        strncat(cmd, " ", sizeof cmd - strlen(cmd) - 1);
        strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 1);
    }
    cJSON_AddStringToObject(root, "command", cmd);
    cJSON_AddStringToObject(root, "device", dev->name);
    cJSON_AddStringToObject(root, "date_utc", date);
    tp_jnum(root, "ctx", ctx);
    tp_jnum(root, "copy_bandwidth_gbs", copy_gbs);
    cJSON *jp = cJSON_AddArrayToObject(root, "presets");
    int rc = 0;
    char *names = strdup(list);
    for (char *save = NULL, *tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const struct tp_preset *ps = NULL;
        for (size_t i = 0; i < sizeof tp_presets / sizeof tp_presets[0]; i++)
            if (!strcmp(tok, tp_presets[i].name))
                ps = &tp_presets[i];
        if (!ps) {
            fprintf(stderr, "frspec bench throughput: unknown preset '%s'\n", tok);
            rc = 2;
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(jp, o);
        cJSON_AddStringToObject(o, "preset", ps->name);
        if (tp_preset_run(cuda->ops, &opt, ps, batches, nb, ctx, steps, spec, copy_gbs, o) != FRS_OK) {
            fprintf(stderr, "frspec bench throughput: %s: %s\n", ps->name, frs_error_msg());
            cJSON_AddStringToObject(o, "error", frs_error_msg());
            rc = 1;
        }
        if (json) {
            char *txt = cJSON_Print(root);
            FILE *f = fopen(json, "w");
            if (!f || fputs(txt, f) < 0 || fclose(f)) {
                fprintf(stderr, "frspec bench throughput: cannot write %s\n", json);
                rc = 1;
            }
            free(txt);
        }
    }
    free(names);
    cJSON_Delete(root);
    return rc;
}
