/* test_cuda_batch.c - the CUDA backend's batched ops (runtime/batch.h, kernels/cuda_batch.c)
 * against independent references:
 *  1. the paged attention kernels (kernels/cuda_paged.cu, both V passes; the tensor-core paged kernel of
 *     cuda_attn_mma.cu, with and without splits) against the contiguous-cache attention
 *     of cuda_ops.cu (cuda_attention, the single-sequence kernels) at the Llama-3-8B head shape
 *     (32 heads / 8 kv heads / head_dim 128): several sequences of mixed lengths (1 .. 900), their
 *     rows scattered over shuffled pool blocks, decode rows and causal multi-row chunks, one launch
 *     for all of them; per row rel err <= 1e-2 (both fp32 sums of the same bf16 K/V, bf16 out).
 *  2. batched autoregressive decoding on the fixture checkpoints against the single-sequence
 *     CPU backend on the SAME bf16 weights, one CPU backend per sequence in lock-step: sequences
 *     of mixed prompt lengths prefilled chunk by chunk interleaved with the others' steps, one
 *     joining late, each stopping after its own count (so the batch shrinks: mixed finishing
 *     orders), shuffled non-contiguous blocks, slots not in sequence order. Checks: logits of
 *     every prefill and every verify row within the bf16 tolerances of test_cuda_model (per row
 *     mean <= 3e-2, worst <= 8e-2); each chosen token is exactly the decision runtime/sampling.c
 *     makes on the GPU's own logits row (greedy: argmax; temperature > 0: the draw with draw index
 *     = the token's position, per-sequence temperature / top-k / top-p / seed); against the CPU's
 *     token: a greedy difference must be a near tie (logit gap within 3x the bf16 error), and
 *     differences are counted and bounded (<= 5% of the tokens; the CPU continues with the GPU's
 *     token so the comparison stays in lock-step). Run with kv_block 16 (greedy) and 4 (mixed
 *     greedy / sampling).
 *     For gqa-bf16 also a second GPU backend without CUDA graphs (cuda_graphs = 0) in lock-step (both on cuBLAS's
 *     default algorithms): the batched verify's graph replays give bit-identical logits.
 *  4. the batched engine (runtime/batch_engine.c) on the CUDA backend: 12 requests of mixed
 *     lengths at max_seqs 8 / 3 / 1 and with a pool of 10 blocks (preemption asserted): every
 *     request delivered once, every token the CPU backend's argmax teacher-forced on the request's
 *     own tokens or a near tie (<= 5%).
 *     Also on models/fp8-ct-channel: FP8 weights in the batched forward (kernels/cuda_fp8.cu through
 *     cuda_matmul_w8), against the CPU on the bf16 rounding of the dequantized weights.
 *  5. batched speculation on the CUDA backend (batched draft, tree verify, acceptance) through
 *     the engine: policy fixed (several tree shapes, FR-Spec K = 32) and auto against policy off
 *     on the same backend (tokens equal but for a bf16 near tie), every greedy token against the
 *     CPU backend teacher-forced, the acceptance against the CPU backend's batched engine; the
 *     trees built on the device (batch_draft_dev) give the host-built run's tokens and totals bit
 *     for bit (greedy and sampled, fixed and auto, under pool pressure; the draft's attention on CUDA
 *     cores and on tensor cores).
 *  3. errors: a sequence whose blocks do not cover the op -> FRS_ERR_TOO_LONG; a backend made
 *     without max_seqs refuses the batched ops; kv_share sizes a pool.
 * Skipped (77) without a CUDA device.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "accept.h"
#include "backend.h"
#include "batch.h"
#include "batch_engine.h"
#include "cpu_backend.h"
#include "cuda_attention.h" /* cuda_attention_combine_select */
#include "cuda_attn_mma.h"
#include "cuda_backend.h"
#include "cuda_batch.h"
#include "cuda_ops.h"
#include "cuda_paged.h"
#include "draft.h"
#include "model.h"
#include "model_bf16.h"
#include "sampling.h"
#include "spec_util.h" /* spec_job_request */
#include "testutil.h"

#define MAX_SEQS 6
#define MAX_PROMPT 128

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* ---- 1. paged attention vs the contiguous kernel ---------------------------------------------------- */

/* the bf16 values that differ between two device buffers of n */
static long dev_bf16_diff(const uint16_t *d_a, const uint16_t *d_b, size_t n)
{
    uint16_t *a = malloc(n * 2), *b = malloc(n * 2);
    cudaMemcpy(a, d_a, n * 2, cudaMemcpyDeviceToHost);
    cudaMemcpy(b, d_b, n * 2, cudaMemcpyDeviceToHost);
    long diff = 0;
    for (size_t e = 0; e < n; e++)
        diff += a[e] != b[e];
    free(a), free(b);
    return diff;
}

/* mode 0 / 1: the CUDA-core paged kernel with the pair / 16-byte V pass; 2 / 3: the tensor-core
 * paged kernel (cuda_attn_mma_paged, three bf16 terms) without / with context splits (8); 4 / 5: the
 * same with its warp split (segments of 16 q vectors, CUDA_ATT_MMA_BM_WS); 6 / 7: the warp split
 * with the K/V ring (cuda_attn_mma_pages.pipe), also bit-identical to 4 / 5's output; 8 / 9: 2 / 3 with
 * two bf16 terms (batch_att_terms 2). With 8 splits the warp-per-row combine (att_combine_warp) must
 * give the block combine's bits. */
static void test_paged_attention(int mode, int D)
{
    const int v8 = mode == 1;
#define NSEQ 5
    const int H = 32, KV = 8, B = 16;
    const int kvw = KV * D;
    const int prefix[NSEQ] = {0, 1, 37, 511, 900};
    const int nnew[NSEQ] = {1, 1, 7, 1, 3}; /* rows of each sequence in the launch (causal among them) */
    int n = 0, maxlen = 0;
    for (int i = 0; i < NSEQ; i++) {
        n += nnew[i];
        maxlen = prefix[i] + nnew[i] > maxlen ? prefix[i] + nnew[i] : maxlen;
    }
    const int TW = (maxlen + B - 1) / B, nblocks = NSEQ * TW + 3;
    uint64_t rs = 7;
    /* per sequence: a contiguous cache (maxlen rows) and the pool holding the same rows */
    uint16_t *kc = malloc((size_t)NSEQ * maxlen * kvw * 2), *vc = malloc((size_t)NSEQ * maxlen * kvw * 2);
    uint16_t *kp = calloc((size_t)nblocks * B * kvw, 2), *vp = calloc((size_t)nblocks * B * kvw, 2);
    for (size_t i = 0; i < (size_t)NSEQ * maxlen * kvw; i++) {
        kc[i] = frs_f32_to_bf16(((float)(lcg(&rs) % 2001) - 1000.0f) * 1e-3f);
        vc[i] = frs_f32_to_bf16(((float)(lcg(&rs) % 2001) - 1000.0f) * 1e-3f);
    }
    int *perm = malloc((size_t)nblocks * sizeof(int));
    for (int i = 0; i < nblocks; i++)
        perm[i] = i;
    for (int i = nblocks - 1; i > 0; i--) {
        const int j = (int)(lcg(&rs) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int32_t *tables = malloc((size_t)NSEQ * TW * 4);
    for (int s = 0; s < NSEQ; s++)
        for (int j = 0; j < TW; j++) {
            tables[s * TW + j] = perm[s * TW + j];
            for (int r = 0; r < B && j * B + r < maxlen; r++) {
                memcpy(kp + ((size_t)perm[s * TW + j] * B + r) * kvw, kc + ((size_t)s * maxlen + j * B + r) * kvw,
                       (size_t)kvw * 2);
                memcpy(vp + ((size_t)perm[s * TW + j] * B + r) * kvw, vc + ((size_t)s * maxlen + j * B + r) * kvw,
                       (size_t)kvw * 2);
            }
        }
    int32_t seq[64], pre[64], loc[64], nc[64];
    float *q = malloc((size_t)n * H * D * 4);
    for (size_t i = 0; i < (size_t)n * H * D; i++)
        q[i] = ((float)(lcg(&rs) % 2001) - 1000.0f) * 2e-3f;
    int r = 0;
    for (int s = 0; s < NSEQ; s++)
        for (int j = 0; j < nnew[s]; j++, r++) {
            seq[r] = s;
            pre[r] = prefix[s];
            loc[r] = j;
            nc[r] = nnew[s];
        }
    int dev = 0, n_sm = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev);
    cudaStream_t st;
    cudaStreamCreate(&st);
    uint16_t *d_kp, *d_vp, *d_kc, *d_vc, *d_out, *d_ref;
    float *d_q, *d_scr;
    int32_t *d_meta, *d_pre1;
    size_t scr = cuda_paged_attention_scratch_floats(n, H, KV, D, n_sm);
    if (scr < (size_t)n * H * 8 * (D + 2))
        scr = (size_t)n * H * 8 * (D + 2);
    for (int m = 1; m <= 8; m++) {
        const size_t s2 = cuda_attention_scratch_floats(m, H, KV, D, n_sm);
        scr = s2 > scr ? s2 : scr;
    }
    cudaMalloc((void **)&d_kp, (size_t)nblocks * B * kvw * 2);
    cudaMalloc((void **)&d_vp, (size_t)nblocks * B * kvw * 2);
    cudaMalloc((void **)&d_kc, (size_t)NSEQ * maxlen * kvw * 2);
    cudaMalloc((void **)&d_vc, (size_t)NSEQ * maxlen * kvw * 2);
    cudaMalloc((void **)&d_out, (size_t)n * H * D * 2);
    cudaMalloc((void **)&d_ref, (size_t)n * H * D * 2);
    cudaMalloc((void **)&d_q, (size_t)n * H * D * 4);
    cudaMalloc((void **)&d_scr, (scr + 1) * 4);
    cudaMalloc((void **)&d_meta, (size_t)(4 * 64 + NSEQ * TW) * 4);
    cudaMalloc((void **)&d_pre1, (size_t)NSEQ * 4);
    cudaMemcpy(d_kp, kp, (size_t)nblocks * B * kvw * 2, cudaMemcpyHostToDevice);
    cudaMemcpy(d_vp, vp, (size_t)nblocks * B * kvw * 2, cudaMemcpyHostToDevice);
    cudaMemcpy(d_kc, kc, (size_t)NSEQ * maxlen * kvw * 2, cudaMemcpyHostToDevice);
    cudaMemcpy(d_vc, vc, (size_t)NSEQ * maxlen * kvw * 2, cudaMemcpyHostToDevice);
    cudaMemcpy(d_q, q, (size_t)n * H * D * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_meta, seq, 64 * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_meta + 64, pre, 64 * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_meta + 128, loc, 64 * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_meta + 192, nc, 64 * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_meta + 256, tables, (size_t)NSEQ * TW * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_pre1, prefix, (size_t)NSEQ * 4, cudaMemcpyHostToDevice);
    const struct cuda_paged_rows rows = {d_meta, d_meta + 64, d_meta + 128, d_meta + 192, d_meta + 256, TW, B, NULL};
    if (mode < 2) {
        CHECK_OK(cuda_paged_attention_vpass(d_q, d_kp, d_vp, &rows, n, H, KV, D, d_out, d_scr, n_sm, v8, st));
    } else {
        /* segments: each sequence's rows one group, bm q vectors (rows x 4 heads) a segment */
        const int ws = mode >= 4 && mode <= 7, terms = mode >= 8 ? 2 : 3;
        const int G = H / KV, bm = ws ? CUDA_ATT_MMA_BM_WS : CUDA_ATT_MMA_BM;
        int32_t segs[4 * 64 + 4];
        int ns = 0;
        for (int s = 0, r0 = 0; s < NSEQ; r0 += nnew[s++])
            for (int m0 = 0; m0 < nnew[s] * G; m0 += bm, ns++) {
                segs[4 * ns] = r0;
                segs[4 * ns + 1] = nnew[s];
                segs[4 * ns + 2] = m0;
                segs[4 * ns + 3] = s;
            }
        const int max_blocks = (n * G + bm - 1) / bm + NSEQ;
        int32_t *d_seg;
        cudaMalloc((void **)&d_seg, (size_t)(4 * max_blocks + 4) * 4);
        cudaMemset(d_seg, 0xff, (size_t)(4 * max_blocks + 4) * 4); /* unused segments: garbage, never read */
        cudaMemcpy(d_seg, segs, (size_t)ns * 16, cudaMemcpyHostToDevice);
        cudaMemcpy(d_seg + 4 * max_blocks, &ns, 4, cudaMemcpyHostToDevice);
        const struct cuda_attn_mma_pages pg = {d_seg, d_seg + 4 * max_blocks, d_meta + 64, d_meta + 192, NULL, 2,
                                               d_meta + 256, TW, B, mode == 6 || mode == 7};
        cuda_attention_combine_select(0); /* the default block combine first */
        CHECK_OK(cuda_attn_mma_paged(d_q, d_kp, d_vp, &pg, max_blocks, bm, n, H, KV, D, terms, mode % 2 ? 8 : 1,
                                     d_out, d_scr, st));
        cudaStreamSynchronize(st);
        if (terms == 2) { /* two terms sit between one (single bf16) and three (fp32-exact operands): against
                           * three, well under a quarter of one term's error (a fallback to one would fail) */
            double err[2] = {0, 0};
            uint16_t *a = malloc((size_t)n * H * D * 2), *b = malloc((size_t)n * H * D * 2);
            float *fa = malloc((size_t)n * H * D * 4), *fb = malloc((size_t)n * H * D * 4);
            cudaMemcpy(a, d_out, (size_t)n * H * D * 2, cudaMemcpyDeviceToHost);
            for (size_t e = 0; e < (size_t)n * H * D; e++)
                fa[e] = frs_bf16_to_f32(a[e]);
            CHECK_OK(cuda_attn_mma_paged(d_q, d_kp, d_vp, &pg, max_blocks, bm, n, H, KV, D, 3, mode % 2 ? 8 : 1,
                                         d_ref, d_scr, st));
            cudaMemcpy(b, d_ref, (size_t)n * H * D * 2, cudaMemcpyDeviceToHost);
            for (size_t e = 0; e < (size_t)n * H * D; e++)
                fb[e] = frs_bf16_to_f32(b[e]);
            err[0] = test_rel_err(fa, fb, (size_t)n * H * D);
            CHECK_OK(cuda_attn_mma_paged(d_q, d_kp, d_vp, &pg, max_blocks, bm, n, H, KV, D, 1, mode % 2 ? 8 : 1,
                                         d_ref, d_scr, st));
            cudaMemcpy(a, d_ref, (size_t)n * H * D * 2, cudaMemcpyDeviceToHost);
            for (size_t e = 0; e < (size_t)n * H * D; e++)
                fa[e] = frs_bf16_to_f32(a[e]);
            err[1] = test_rel_err(fa, fb, (size_t)n * H * D);
            fprintf(stderr, "paged attention mode %d head_dim %d: rel err against three terms: two terms %.3g, one "
                    "term %.3g\n", mode, D, err[0], err[1]);
            CHECK(err[1] > 0 && err[0] < 0.25 * err[1], "paged attention mode %d head_dim %d: two terms' rel err %.3g "
                  "against three is not well under one term's %.3g", mode, D, err[0], err[1]);
            free(a), free(b), free(fa), free(fb);
        }
        if (mode % 2) { /* 8 splits: the warp-per-row combine (att_combine_warp) gives the block combine's bits */
            cuda_attention_combine_select(1);
            CHECK_OK(cuda_attn_mma_paged(d_q, d_kp, d_vp, &pg, max_blocks, bm, n, H, KV, D, terms, 8, d_ref, d_scr,
                                         st));
            cuda_attention_combine_select(0);
            const long diff = dev_bf16_diff(d_out, d_ref, (size_t)n * H * D);
            CHECK(diff == 0, "paged attention mode %d head_dim %d: %ld of %d outputs differ between the warp and the "
                  "block split combine", mode, D, diff, n * H * D);
        }
        if (mode == 6 || mode == 7) { /* the ring changes where bytes wait, not what is computed: bit-identical */
            struct cuda_attn_mma_pages p0 = pg;
            p0.pipe = 0;
            CHECK_OK(cuda_attn_mma_paged(d_q, d_kp, d_vp, &p0, max_blocks, bm, n, H, KV, D, 3, mode % 2 ? 8 : 1,
                                         d_ref, d_scr, st));
            const long diff = dev_bf16_diff(d_out, d_ref, (size_t)n * H * D);
            CHECK(diff == 0, "paged attention mode %d head_dim %d: %ld of %d outputs differ from the warp split "
                  "without the ring", mode, D, diff, n * H * D);
        }
        cudaFree(d_seg);
    }
    /* the reference: each sequence alone through the contiguous kernel (its new rows causal) */
    r = 0;
    for (int s = 0; s < NSEQ; s++) {
        CHECK_OK(cuda_attention_layout(d_q + (size_t)r * H * D, d_kc + (size_t)s * maxlen * kvw,
                                       d_vc + (size_t)s * maxlen * kvw, d_pre1 + s, nnew[s], NULL, nnew[s], H, KV, D,
                                       d_ref + (size_t)r * H * D, d_scr, n_sm, CUDA_ATT_SINGLE_ROW, st));
        cudaStreamSynchronize(st);
        r += nnew[s];
    }
    CHECK(cudaStreamSynchronize(st) == cudaSuccess, "paged attention: stream error");
    uint16_t *ho = malloc((size_t)n * H * D * 2), *hr = malloc((size_t)n * H * D * 2);
    cudaMemcpy(ho, d_out, (size_t)n * H * D * 2, cudaMemcpyDeviceToHost);
    cudaMemcpy(hr, d_ref, (size_t)n * H * D * 2, cudaMemcpyDeviceToHost);
    float *fo = malloc((size_t)H * D * 4), *fr = malloc((size_t)H * D * 4);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        for (int e = 0; e < H * D; e++) {
            fo[e] = frs_bf16_to_f32(ho[(size_t)i * H * D + e]);
            fr[e] = frs_bf16_to_f32(hr[(size_t)i * H * D + e]);
        }
        const double err = test_rel_err(fo, fr, (size_t)H * D);
        worst = err > worst ? err : worst;
        CHECK(err <= 1e-2, "paged attention mode %d head_dim %d row %d (sequence %d, prefix %d, local %d): rel err "
              "%.3g vs the contiguous kernel", mode, D, i, seq[i], pre[i], loc[i], err);
    }
    fprintf(stderr, "paged attention (%s, head_dim %d): %d rows of %d sequences (prefixes 0..900, shuffled "
            "blocks of %d), worst rel err %.3g vs cuda_attention\n", mode == 0 ? "CUDA cores, 4-byte V pass" : mode == 1 ?
            "CUDA cores, 16-byte V pass" : mode == 2 ? "tensor cores" : mode == 3 ? "tensor cores, 8 splits" :
            mode == 4 ? "tensor cores, warp split" : mode == 5 ? "tensor cores, warp split, 8 splits" :
            mode == 6 ? "tensor cores, warp split + K/V ring" : mode == 7 ? "tensor cores, warp split + K/V ring, 8 splits"
            : mode == 8 ? "tensor cores, two terms" : "tensor cores, two terms, 8 splits", D, n,
            NSEQ, B, worst);
    cudaFree(d_kp);
    cudaFree(d_vp);
    cudaFree(d_kc);
    cudaFree(d_vc);
    cudaFree(d_out);
    cudaFree(d_ref);
    cudaFree(d_q);
    cudaFree(d_scr);
    cudaFree(d_meta);
    cudaFree(d_pre1);
    cudaStreamDestroy(st);
    free(kc), free(vc), free(kp), free(vp), free(perm), free(tables), free(q), free(ho), free(hr), free(fo), free(fr);
#undef NSEQ
}

/* ---- 2. batched decoding vs the CPU backend ------------------------------------------------------------ */

/* the pool's free blocks in a shuffled order; a sequence takes them as it grows */
struct pool {
    int32_t free_ids[4096];
    int n_free;
};

static int grow(struct pool *p, int32_t *blocks, int *n_blocks, int need, int B)
{
    while (*n_blocks * B < need) {
        if (p->n_free == 0)
            return 0;
        blocks[(*n_blocks)++] = p->free_ids[--p->n_free];
    }
    return 1;
}

struct tally {
    int rows, tokens, cpu_diff, near_ties, sampled, prefill_ops, prefill_multi;
    double sum_err, worst_err;
};

/* GPU logits row g vs the CPU backend's last row: rel err into t */
static void compare_row(struct tally *t, const float *g, const float *c, int V, const char *what)
{
    const double e = test_rel_err(g, c, (size_t)V);
    t->sum_err += e;
    t->worst_err = e > t->worst_err ? e : t->worst_err;
    t->rows++;
    (void)what;
}

/* the token runtime/sampling.c chooses on the GPU's own logits row (the exact-decision check) */
static int32_t host_choice(const float *row, int V, const struct frs_sampling *s, uint64_t draw)
{
    const struct sampling_shard sh = {row, 1, V, 0};
    int32_t t = -1;
    if (s->temperature <= 0.0f) {
        sampling_argmax(NULL, &sh, &t);
        return t;
    }
    struct sampling_row r;
    if (sampling_prepare(NULL, &sh, s, &r) != FRS_OK)
        return -2;
    if (sampling_draw(NULL, &sh, s, &r, &draw, NULL, NULL, &t) != FRS_OK)
        return -2;
    return t;
}

static void test_batch_model(const char *name, int kv_block, int sample, int graphs_ab, int att)
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
    const int V = m.vocab_local;
    snprintf(path, sizeof path, "%s/ref.json", dir);
    char *js = test_read_file(path, NULL);
    cJSON *o = js ? cJSON_Parse(js) : NULL;
    CHECK(o != NULL, "%s: cannot read ref.json", name);
    if (!o)
        goto out;
    /* the prompts: the fixture's, and cuts of them, for mixed lengths */
    int32_t prompts[MAX_SEQS][MAX_PROMPT];
    int plen[MAX_SEQS], n_seq = 0;
    {
        int32_t src[8][MAX_PROMPT];
        int slen[8], ns = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "prompts"))
        {
            if (ns == 8)
                break;
            const cJSON *v;
            slen[ns] = 0;
            cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(e, "ids")) if (slen[ns] < MAX_PROMPT)
                src[ns][slen[ns]++] = v->valueint;
            ns++;
        }
        const int cut[MAX_SEQS] = {0, 3, 1, 17, 5, 9}; /* tokens dropped from the end */
        for (int i = 0; i < MAX_SEQS; i++) {
            const int s = i % ns;
            plen[i] = slen[s] - cut[i] > 1 ? slen[s] - cut[i] : 1;
            memcpy(prompts[i], src[s], (size_t)plen[i] * 4);
            n_seq++;
        }
    }
    const int chunk = 8, max_ctx = 256, steps_max = 40;
    const int n_new[MAX_SEQS] = {40, 12, 25, 1, 33, 18}; /* verify steps per sequence: mixed finishing orders */
    const int join_at[MAX_SEQS] = {0, 0, 0, 0, 0, 6};    /* the last one joins late */
    struct frs_limits lim = {.max_ctx = max_ctx, .max_tree = 0, .prefill_chunk = chunk, .max_seqs = MAX_SEQS,
                             .max_step_rows = 3 * chunk, .kv_block = kv_block, .kv_blocks = 0, .kv_share = 0.0f};
    lim.kv_blocks = MAX_SEQS * (max_ctx / kv_block) + 7;
    struct frs_backend gpu, gpu2, cpu[MAX_SEQS];
    memset(&gpu, 0, sizeof gpu);
    memset(&gpu2, 0, sizeof gpu2);
    gpu.ops = &frs_backend_cuda_ops;
    gpu2.ops = &frs_backend_cuda_ops;
    /* graphs_ab: a second GPU backend without CUDA graphs in lock-step, both on cublasGemmEx's
     * default algorithms (cublaslt = 0: no timed choice), so their logits must be bit-identical */
    struct frs_backend_options o1 = frs_backend_options_default(), o2 = o1;
    o1.cublaslt = o2.cublaslt = graphs_ab ? 0 : 1;
    o1.batch_att_mma = o2.batch_att_mma = att; /* 2: the decode steps on the tensor-core warp split */
    o2.cuda_graphs = 0;
    CHECK_OK(gpu.ops->create(&gpu, &m, NULL, NULL, &lim, &o1));
    if (graphs_ab)
        CHECK_OK(gpu2.ops->create(&gpu2, &m, NULL, NULL, &lim, &o2));
    int ab_rows = 0, ab_same = 1;
    float *gl2 = malloc((size_t)MAX_SEQS * m.vocab_local * 4);
    CHECK(gpu.kv_blocks == lim.kv_blocks, "%s: kv_blocks %d, asked %d", name, gpu.kv_blocks, lim.kv_blocks);
    const struct frs_batch_ops *bo = gpu.ops->batch;
    const struct frs_limits clim = {.max_ctx = max_ctx, .max_tree = 0, .prefill_chunk = chunk};
    for (int i = 0; i < n_seq; i++) {
        memset(&cpu[i], 0, sizeof cpu[i]);
        cpu[i].ops = &frs_backend_cpu_ops;
        CHECK_OK(cpu[i].ops->create(&cpu[i], &mb, NULL, NULL, &clim, NULL));
    }
    struct pool pool;
    pool.n_free = gpu.kv_blocks < 4096 ? gpu.kv_blocks : 4096;
    uint64_t rs = 12345 + (uint64_t)kv_block;
    for (int i = 0; i < pool.n_free; i++)
        pool.free_ids[i] = i;
    for (int i = pool.n_free - 1; i > 0; i--) {
        const int j = (int)(lcg(&rs) % (uint64_t)(i + 1));
        const int32_t t = pool.free_ids[i];
        pool.free_ids[i] = pool.free_ids[j];
        pool.free_ids[j] = t;
    }
    int32_t blocks[MAX_SEQS][256];
    struct frs_seq seq[MAX_SEQS];
    struct frs_sampling samp[MAX_SEQS];
    int32_t root[MAX_SEQS];
    int done_pre[MAX_SEQS] = {0}, steps[MAX_SEQS] = {0}, active[MAX_SEQS] = {0};
    for (int i = 0; i < n_seq; i++) {
        seq[i] = (struct frs_seq){.slot = n_seq - 1 - i, .target_len = 0, .draft_len = 0, .blocks = blocks[i],
                                  .n_blocks = 0};
        samp[i] = (struct frs_sampling){0.0f, 1.0f, 0, 0};
        if (sample && i % 2 == 1) /* every other sequence samples, each with its own parameters */
            samp[i] = (struct frs_sampling){0.6f + 0.2f * (float)i, i == 3 ? 0.9f : 1.0f, i == 5 ? 20 : 0,
                                            1000u + (uint64_t)i};
    }
    float *gl = malloc((size_t)MAX_SEQS * V * 4), *cl = malloc((size_t)V * 4);
    struct tally t = {0};
    for (int step = 0; step <= steps_max + 8; step++) {
        /* prefill: one chunk of each sequence still reading its prompt, interleaved with the steps,
         * packed into ops of at most frs_batch_prefill_rows rows (several sequences in each) */
        int pend[MAX_SEQS], np = 0;
        for (int i = 0; i < n_seq; i++)
            if (step >= join_at[i] && done_pre[i] < plen[i])
                pend[np++] = i;
        for (int a = 0; a < np;) {
            struct frs_seq ps[MAX_SEQS];
            struct frs_sampling psm[MAX_SEQS];
            const int32_t *pt[MAX_SEQS];
            int pc[MAX_SEQS], pch[MAX_SEQS], pwho[MAX_SEQS], k = 0, rows = 0;
            int32_t pout[MAX_SEQS], pout2[MAX_SEQS];
            for (; a < np; a++) {
                const int i = pend[a];
                const int c = plen[i] - done_pre[i] < chunk ? plen[i] - done_pre[i] : chunk;
                if (rows + c > frs_batch_prefill_rows(&lim))
                    break;
                CHECK(grow(&pool, blocks[i], &seq[i].n_blocks, seq[i].target_len + c, kv_block), "%s: pool empty",
                      name);
                ps[k] = seq[i];
                pt[k] = prompts[i] + done_pre[i];
                pc[k] = c;
                pch[k] = done_pre[i] + c == plen[i];
                psm[k] = samp[i];
                pwho[k++] = i;
                rows += c;
            }
            CHECK_OK(bo->prefill(&gpu, k, ps, pt, pc, pch, psm, pout));
            if (graphs_ab) {
                CHECK_OK(bo->prefill(&gpu2, k, ps, pt, pc, pch, psm, pout2));
                for (int j = 0; j < k; j++)
                    CHECK(!pch[j] || pout[j] == pout2[j], "%s: first token of sequence %d: %d, %d without graphs",
                          name, pwho[j], (int)pout[j], (int)pout2[j]);
            }
            t.prefill_ops++;
            t.prefill_multi += k > 1;
            for (int j = 0; j < k; j++) {
                const int i = pwho[j];
                seq[i].target_len += pc[j];
                done_pre[i] += pc[j];
                if (!pch[j])
                    continue;
                root[i] = pout[j];
                CHECK_OK(cpu[i].ops->prefill(&cpu[i], prompts[i], plen[i]));
                int rows = 0, vl = 0;
                CHECK_OK(cuda_batch_logits(&gpu, seq[i].slot, gl, (size_t)MAX_SEQS * V, &rows, &vl));
                const struct cpu_backend *cb = cpu[i].impl;
                memcpy(cl, cb->logits + (size_t)(cb->last_n - 1) * V, (size_t)V * 4);
                compare_row(&t, gl, cl, V, "prefill");
                const int32_t want = host_choice(gl, V, &samp[i], (uint64_t)seq[i].target_len);
                CHECK(root[i] == want, "%s: sequence %d first token %d, sampling.c on the GPU's row says %d", name, i,
                      (int)root[i], (int)want);
                int32_t ct;
                CHECK_OK(cpu[i].ops->next_token(&cpu[i], &samp[i], (uint64_t)seq[i].target_len, &ct));
                if (ct != root[i]) {
                    t.cpu_diff++;
                    const double gap = fabs((double)cl[ct] - cl[root[i]]), allowed = 3 * 2e-2 * row_rms(cl, V);
                    if (samp[i].temperature <= 0.0f)
                        CHECK(gap <= allowed, "%s: seq %d first token %d vs CPU %d, CPU logit gap %.4g > %.4g", name,
                              i, (int)root[i], (int)ct, gap, allowed);
                    t.near_ties += gap <= allowed;
                }
                t.tokens++;
                active[i] = n_new[i] > 0;
            }
        }
        /* one verify over every active sequence (one-node trees: an autoregressive step) */
        struct frs_seq vs[MAX_SEQS];
        struct frs_sampling vsm[MAX_SEQS];
        int32_t vr[MAX_SEQS];
        int who[MAX_SEQS], drafted[MAX_SEQS] = {0}, n = 0;
        for (int i = 0; i < n_seq; i++) {
            if (!active[i])
                continue;
            CHECK(grow(&pool, blocks[i], &seq[i].n_blocks, seq[i].target_len + 1, kv_block), "%s: pool empty", name);
            vs[n] = seq[i];
            vsm[n] = samp[i];
            vr[n] = root[i];
            who[n++] = i;
        }
        if (n == 0)
            continue;
        struct frs_tree trees[MAX_SEQS];
        struct frs_accept acc[MAX_SEQS];
        CHECK_OK(bo->verify(&gpu, n, vs, vr, drafted, vsm, trees, acc));
        int rows = 0, vl = 0;
        CHECK_OK(cuda_batch_logits(&gpu, -1, gl, (size_t)MAX_SEQS * V, &rows, &vl));
        if (graphs_ab) {
            struct frs_tree trees2[MAX_SEQS];
            struct frs_accept acc2[MAX_SEQS];
            CHECK_OK(bo->verify(&gpu2, n, vs, vr, drafted, vsm, trees2, acc2));
            CHECK_OK(cuda_batch_logits(&gpu2, -1, gl2, (size_t)MAX_SEQS * V, &rows, &vl));
            CHECK_OK(bo->commit(&gpu2, n, vs, acc2));
            const int same = memcmp(gl, gl2, (size_t)n * V * 4) == 0;
            for (int k = 0; k < n; k++)
                CHECK(acc2[k].tokens[0] == acc[k].tokens[0], "%s: graphs vs no graphs: token %d vs %d", name,
                      (int)acc[k].tokens[0], (int)acc2[k].tokens[0]);
            ab_same &= same;
            ab_rows += n;
        }
        CHECK(rows == n, "%s: verify left %d logits rows for %d sequences", name, rows, n);
        CHECK_OK(bo->commit(&gpu, n, vs, acc));
        for (int k = 0; k < n; k++) {
            const int i = who[k];
            CHECK(trees[k].n == 1 && trees[k].token[0] == root[i] && acc[k].n_path == 1 && acc[k].n_tokens == 1 &&
                      acc[k].tokens[0] == trees[k].argmax[0],
                  "%s: sequence %d: one-node tree / acceptance inconsistent", name, i);
            const int32_t tok = acc[k].tokens[0];
            const float *g = gl + (size_t)k * V;
            const int64_t pos = seq[i].target_len + 1; /* the position of the chosen token = its draw index */
            const int32_t want = host_choice(g, V, &samp[i], (uint64_t)pos);
            CHECK(tok == want, "%s: sequence %d step %d: token %d, sampling.c on the GPU's row says %d", name, i,
                  steps[i], (int)tok, (int)want);
            CHECK_OK(cpu[i].ops->decode(&cpu[i], root[i]));
            const struct cpu_backend *cb = cpu[i].impl;
            memcpy(cl, cb->logits + (size_t)(cb->last_n - 1) * V, (size_t)V * 4);
            compare_row(&t, g, cl, V, "verify");
            int32_t ct;
            CHECK_OK(cpu[i].ops->next_token(&cpu[i], &samp[i], (uint64_t)pos, &ct));
            if (ct != tok) {
                t.cpu_diff++;
                const double gap = fabs((double)cl[ct] - cl[tok]), allowed = 3 * 2e-2 * row_rms(cl, V);
                if (samp[i].temperature <= 0.0f)
                    CHECK(gap <= allowed, "%s: seq %d step %d token %d vs CPU %d, CPU logit gap %.4g > %.4g (not a "
                          "near tie)", name, i, steps[i], (int)tok, (int)ct, gap, allowed);
                t.near_ties += gap <= allowed;
            }
            t.sampled += samp[i].temperature > 0.0f;
            t.tokens++;
            seq[i].target_len += acc[k].n_path;
            root[i] = tok; /* the CPU follows the GPU's token: lock-step */
            if (++steps[i] >= n_new[i])
                active[i] = 0;
        }
    }
    for (int i = 0; i < n_seq; i++)
        CHECK(steps[i] == n_new[i] && done_pre[i] == plen[i], "%s: sequence %d ran %d of %d steps", name, i, steps[i],
              n_new[i]);
    if (graphs_ab) {
        fprintf(stderr, "%s: batched verify with CUDA graphs vs without: %d rows, logits %s\n", name, ab_rows,
                ab_same ? "bit-identical" : "DIFFERENT");
        CHECK(ab_same && ab_rows > 100, "%s: batched verify logits differ between CUDA graphs and cuda_graphs = 0",
              name);
    }
    long on_dev = 0, on_host = 0;
    cuda_batch_sampling_counts(&gpu, &on_dev, &on_host);
    const double mean = t.rows ? t.sum_err / t.rows : 0;
    fprintf(stderr, "%s (kv_block %d, %s): %d sequences, %d tokens (%d sampled; %ld rows sampled on the device, %ld on "
            "the host), logits vs CPU mean %.3g worst %.3g over %d rows, %d tokens differ from the CPU (%d near ties)\n",
            name, kv_block, sample ? "greedy + sampling" : "greedy", n_seq, t.tokens, t.sampled, on_dev, on_host, mean,
            t.worst_err, t.rows, t.cpu_diff, t.near_ties);
    CHECK(mean <= 3e-2 && t.worst_err <= 8e-2, "%s: batched logits vs the CPU backend rel err mean %.3g / worst %.3g "
          "(limits 3e-2 / 8e-2)", name, mean, t.worst_err);
    CHECK(t.cpu_diff * 20 <= t.tokens, "%s: %d of %d tokens differ from the CPU backend (limit 5%%)", name, t.cpu_diff,
          t.tokens);
    CHECK(t.tokens > 100, "%s: only %d tokens compared", name, t.tokens);
    CHECK(t.prefill_multi > 0, "%s: none of the %d prefill ops held several sequences", name, t.prefill_ops);
    if (sample)
        CHECK(on_dev > 0, "%s: no row was sampled on the device", name);

    /* 3. errors: blocks that do not cover the op */
    {
        struct frs_seq s0 = seq[0];
        s0.n_blocks = s0.target_len / kv_block; /* short of the next position */
        const int32_t r0 = root[0];
        struct frs_tree tr;
        struct frs_accept ac;
        const int d0 = 0;
        CHECK(bo->verify(&gpu, 1, &s0, &r0, &d0, &samp[0], &tr, &ac) == FRS_ERR_TOO_LONG,
              "%s: verify past a sequence's blocks was not refused", name);
    }
    gpu.ops->destroy(&gpu);
    if (graphs_ab)
        gpu2.ops->destroy(&gpu2);
    for (int i = 0; i < n_seq; i++)
        cpu[i].ops->destroy(&cpu[i]);
    free(gl2);
    free(gl);
    free(cl);
out:
    cJSON_Delete(o);
    free(js);
    bf16_copy_free(&bc);
    llama_model_free(&m);
}


/* ---- 4. the batched engine on the CUDA backend ---------------------------------------------------- */

#define EREQ SPEC_JOB_N
#define EMAXN 48
_Static_assert(80 >= SPEC_JOB_MAXP, "ejob prompts hold spec_job_request's");

struct ejob {
    int32_t prompt[EREQ][80];
    int n_prompt[EREQ], max_new[EREQ];
    int32_t stop[EREQ];
    int n_stop[EREQ];
    int next;
    int32_t out[EREQ][EMAXN];
    int n_out[EREQ], delivered[EREQ], errors[EREQ];
    int sampled; /* temperature > 0 with per-request seeds (else greedy) */
};

static enum frs_status ejob_next(void *user, struct frs_batch_request *r, int *done)
{
    struct ejob *j = user;
    if (j->next >= EREQ) {
        *done = 1;
        return FRS_OK;
    }
    const int i = j->next++;
    memset(r, 0, sizeof *r);
    r->id = (uint64_t)i;
    r->prompt = j->prompt[i];
    r->n_prompt = j->n_prompt[i];
    r->max_new_tokens = j->max_new[i];
    r->stop = &j->stop[i];
    r->n_stop = j->n_stop[i];
    r->sampling = j->sampled ? (struct frs_sampling){0.8f, i % 2 ? 0.9f : 1.0f, i % 4 == 0 ? 20 : 0, 500 + (uint64_t)i}
                             : (struct frs_sampling){0.0f, 1.0f, 0, 0};
    return FRS_OK;
}

static enum frs_status ejob_deliver(void *user, const struct frs_batch_request *r, const int32_t *t,
                                    const struct frs_gen_stats *st, const char *error)
{
    struct ejob *j = user;
    const int i = (int)r->id;
    j->delivered[i]++;
    j->errors[i] = error != NULL;
    j->n_out[i] = st->n_tokens < EMAXN ? st->n_tokens : EMAXN;
    if (t)
        memcpy(j->out[i], t, (size_t)j->n_out[i] * sizeof *t);
    return FRS_OK;
}

/* the batched tests' job (spec_job_request): 12 requests of mixed prompt lengths and lengths, a stop
 * token on every third, greedy */
static void make_ejob(struct ejob *j, int V, uint64_t seed)
{
    memset(j, 0, sizeof *j);
    for (int i = 0; i < EREQ; i++)
        j->n_stop[i] = spec_job_request(i, V, seed, j->prompt[i], &j->n_prompt[i], &j->max_new[i], &j->stop[i]);
}

/* every request of j delivered once without error, with its count of tokens (or ending at its
 * stop token), and every greedy token the argmax of the CPU backend (cpu: the same bf16 weights)
 * teacher-forced on the request's own tokens, or a near tie (counted into *ties) */
static void check_teacher(const char *name, int ms, int kv_blocks, const struct ejob *jp, struct frs_backend *cpu,
                          float *cl, int V, int *tokens_out, int *exact_out, int *ties_out)
{
    const struct ejob j = *jp;
    int tokens = 0, exact = 0, ties = 0;
    for (int i = 0; i < EREQ; i++) {
        CHECK(j.delivered[i] == 1 && !j.errors[i], "%s engine (max_seqs %d): request %d delivered %d times, "
              "error %d", name, ms, i, j.delivered[i], j.errors[i]);
        const int stopped = j.n_stop[i] && j.n_out[i] > 0 && j.out[i][j.n_out[i] - 1] == j.stop[i];
        CHECK(j.n_out[i] == j.max_new[i] || stopped, "%s engine (max_seqs %d): request %d: %d of %d tokens", name,
              ms, i, j.n_out[i], j.max_new[i]);
        if (j.sampled)
            continue;
        /* teacher-forced CPU check of every token */
        CHECK_OK(cpu->ops->reset(cpu));
        CHECK_OK(cpu->ops->prefill(cpu, j.prompt[i], j.n_prompt[i]));
        for (int k = 0; k < j.n_out[i]; k++) {
            const struct cpu_backend *cb = cpu->impl;
            memcpy(cl, cb->logits + (size_t)(cb->last_n - 1) * V, (size_t)V * 4);
            int best = 0;
            for (int v = 1; v < V; v++)
                if (cl[v] > cl[best])
                    best = v;
            const int32_t t = j.out[i][k];
            tokens++;
            if (t == best) {
                exact++;
            } else {
                const double gap = (double)cl[best] - cl[t], allowed = 3 * 2e-2 * row_rms(cl, V);
                CHECK(t >= 0 && t < V && gap <= allowed, "%s engine (max_seqs %d, %d blocks): request %d token "
                      "%d = %d, the CPU's argmax %d is %.4g above it (> %.4g: not a near tie)", name, ms,
                      kv_blocks, i, k, (int)t, best, gap, allowed);
                ties++;
            }
            if (k + 1 < j.n_out[i])
                CHECK_OK(cpu->ops->decode(cpu, t));
        }
    }
    *tokens_out = tokens;
    *exact_out = exact;
    *ties_out = ties;
}

/* Requests of mixed prompt lengths and lengths (some with a stop token) through batch_engine_run
 * on the CUDA backend (policy off: no batched draft on the GPU) at max_seqs 1 / 3 / 8 and with a
 * pool too small for all of them (waiting + preemption and recompute). Every request is delivered
 * once, without error, and every generated token is checked against the CPU backend on the same
 * bf16 weights teacher-forced on the request's own tokens: equal to its argmax, or a near tie
 * (logit gap within 3x the bf16 error); near ties counted, bounded (<= 5% of the tokens). */
static void test_engine(const char *name)
{
    struct llama_model m, mb;
    if (llama_model_load(&m, test_fixture(name), 0, 1) != FRS_OK) {
        CHECK(0, "%s: load failed: %s", name, frs_error_msg());
        return;
    }
    struct bf16_copy bc;
    model_bf16(&m, &mb, &bc);
    const int V = m.vocab_local;
    struct ejob job0;
    make_ejob(&job0, V, 77);
    const struct {
        int max_seqs, kv_blocks;
    } runs[] = {{8, 0}, {3, 0}, {1, 0}, {8, 10}};
    struct frs_backend cpu;
    memset(&cpu, 0, sizeof cpu);
    const struct frs_limits clim = {.max_ctx = 256, .max_tree = 0, .prefill_chunk = 16};
    CHECK_OK(frs_backend_cpu_ops.create(&cpu, &mb, NULL, NULL, &clim, NULL));
    float *cl = malloc((size_t)V * 4);
    for (size_t ri = 0; ri < sizeof runs / sizeof runs[0]; ri++) {
        struct ejob j = job0;
        const int ms = runs[ri].max_seqs;
        struct frs_limits lim = {.max_ctx = 256, .max_tree = 0, .prefill_chunk = 16, .max_seqs = ms,
                                 .max_step_rows = ms + 16, .kv_block = 16,
                                 .kv_blocks = runs[ri].kv_blocks ? runs[ri].kv_blocks : ms * 17};
        struct frs_backend gpu;
        memset(&gpu, 0, sizeof gpu);
        CHECK_OK(frs_backend_cuda_ops.create(&gpu, &m, NULL, NULL, &lim, NULL));
        const struct frs_batch_config cfg = {.max_seqs = ms, .max_ctx = 256, .kv_block = 16, .prefill_chunk = 16,
                                             .step_tokens = 0, .max_step_rows = ms + 16, .max_tree = 0,
                                             .policy = FRS_SPEC_OFF, .comm = NULL};
        const struct frs_batch_source src = {ejob_next, ejob_deliver, &j, NULL};
        struct frs_batch_totals tot;
        memset(&tot, 0, sizeof tot);
        const enum frs_status st = batch_engine_run(&gpu, &cfg, &src, &tot);
        CHECK(st == FRS_OK, "%s engine (max_seqs %d, %d blocks): %s", name, ms, lim.kv_blocks, frs_error_msg());
        gpu.ops->destroy(&gpu);
        int tokens = 0, exact = 0, ties = 0;
        check_teacher(name, ms, lim.kv_blocks, &j, &cpu, cl, V, &tokens, &exact, &ties);
        fprintf(stderr, "%s engine on CUDA (max_seqs %d, %d blocks of 16): %ld steps, %ld preemptions, %d tokens: %d "
                "the CPU's argmax, %d near ties\n", name, ms, lim.kv_blocks, tot.steps, tot.preemptions, tokens, exact,
                ties);
        CHECK(ties * 20 <= tokens && tokens > 200, "%s engine (max_seqs %d): %d near ties in %d tokens", name, ms, ties,
              tokens);
        if (runs[ri].kv_blocks)
            CHECK(tot.preemptions > 0, "%s engine: a pool of %d blocks preempted nothing", name, lim.kv_blocks);
    }
    cpu.ops->destroy(&cpu);
    free(cl);
    bf16_copy_free(&bc);
    llama_model_free(&m);
}

/* ---- 5. batched speculation on the CUDA backend ----------------------------------------------------- */

/* The batch engine on the CUDA backend with a draft: policy off (the autoregressive reference of
 * the same backend), fixed trees of several shapes and auto, at max_seqs 1..8 and under a small
 * pool (preemption), greedy and sampled (per-request seeds). Checks: every request delivered once
 * with its count; greedy: every token the CPU backend's argmax teacher-forced (or a counted near
 * tie, the reference run's too); speculative tokens equal to the same backend's autoregressive
 * tokens for all but at most 2 of the 12 requests at each configuration (a bf16 near tie between
 * the tree rows and the one-row step may flip one; greedy, both runs are checked against the CPU); the mean tokens of a drafted step at least 0.8 of the CPU backend's
 * batched engine on the same job and tree (the draft, trees and acceptance agree with the CPU
 * reference), and above 2 for markov-exact (a draft that is always right). */
struct spec_run {
    int max_seqs;
    enum frs_spec_policy policy;
    struct frs_tree_params tree;
    int kv_blocks; /* 0: roomy */
    int att_mma;   /* opts.batch_att_mma: 1 the tensor-core paged attention for the tree rows, 2 also decode */
    int terms;     /* opts.batch_att_terms: 2 = the tree rows' attention with two bf16 terms (0: three) */
};

static enum frs_status spec_engine(const struct frs_backend_ops *ops, const struct llama_model *m,
                                   const struct eagle_draft *d, struct ejob *j, const struct spec_run *rc,
                                   int draft_dev, struct frs_batch_totals *tot)
{
    const int ms = rc->max_seqs, tree = rc->policy == FRS_SPEC_OFF ? 1 : rc->tree.size;
    struct frs_limits lim = {.max_ctx = 256, .max_tree = d ? 64 : 0, .prefill_chunk = 16, .max_seqs = ms,
                             .max_step_rows = ms * tree + 16, .kv_block = 16,
                             .kv_blocks = rc->kv_blocks ? rc->kv_blocks : ms * 18};
    struct frs_backend be;
    memset(&be, 0, sizeof be);
    struct frs_backend_options o = frs_backend_options_default();
    o.batch_att_mma = rc->att_mma;
    o.batch_draft_dev = draft_dev; /* the trees built on the device */
    o.batch_att_terms = rc->terms;
    FRS_TRY(ops->create(&be, m, d, NULL, &lim, &o));
    const struct frs_batch_config cfg = {.max_seqs = ms, .max_ctx = 256, .kv_block = 16, .prefill_chunk = 16,
                                         .step_tokens = 0, .max_step_rows = lim.max_step_rows, .max_tree = lim.max_tree,
                                         .policy = rc->policy, .tree = rc->tree, .comm = NULL};
    const struct frs_batch_source src = {ejob_next, ejob_deliver, j, NULL};
    memset(tot, 0, sizeof *tot);
    const enum frs_status st = batch_engine_run(&be, &cfg, &src, tot);
    if (draft_dev && st == FRS_OK) { /* the device builder really ran (the backend's counters line) */
        char desc[512] = "";
        long dev_trees = -1;
        be.ops->batch->describe(&be, desc, sizeof desc);
        const char *at = strstr(desc, "device_trees ");
        if (at)
            dev_trees = strtol(at + strlen("device_trees "), NULL, 10);
        /* every drafted step's trees came from the device builder (auto may draft nothing: then neither) */
        CHECK(tot->drafted_seq_steps == 0 ? dev_trees == 0 : dev_trees > 0, "trees on the device: %ld drafted "
              "sequence steps, backend says '%s'", tot->drafted_seq_steps, desc);
    }
    be.ops->destroy(&be);
    return st;
}

static void test_engine_spec(const char *target_rel, const char *head_rel, int K, double min_accept)
{
    struct llama_model m, mb;
    struct eagle_draft d;
    if (llama_model_load(&m, test_fixture(target_rel), 0, 1) != FRS_OK) {
        CHECK(0, "%s: load failed: %s", target_rel, frs_error_msg());
        return;
    }
    CHECK_OK(eagle_draft_load(&d, test_fixture(head_rel), &m));
    const int V = m.vocab_local;
    if (K) { /* an FR-Spec list: any order of the ids is one; here the ids in order */
        int32_t *ids = malloc((size_t)V * sizeof *ids);
        for (int i = 0; i < V; i++)
            ids[i] = i;
        CHECK_OK(eagle_draft_set_vocab(&d, &m, ids, V, K));
        free(ids);
    }
    struct bf16_copy bc;
    model_bf16(&m, &mb, &bc);
    struct frs_backend cpu;
    memset(&cpu, 0, sizeof cpu);
    const struct frs_limits clim = {.max_ctx = 256, .max_tree = 0, .prefill_chunk = 16};
    CHECK_OK(frs_backend_cpu_ops.create(&cpu, &mb, NULL, NULL, &clim, NULL));
    float *cl = malloc((size_t)V * 4);
    struct ejob job0;
    make_ejob(&job0, V, 91);
    const struct spec_run runs[] = {
        {4, FRS_SPEC_FIXED, {4, 4, 16}, 0, 0, 0},  {3, FRS_SPEC_FIXED, {6, 10, 60}, 0, 0, 0},
        {1, FRS_SPEC_FIXED, {3, 2, 5}, 0, 0, 0},   {8, FRS_SPEC_AUTO, {5, 8, 32}, 0, 0, 0},
        {8, FRS_SPEC_FIXED, {1, 1, 2}, 0, 0, 0},
        {5, FRS_SPEC_FIXED, {3, 4, 10}, 9, 0, 0}, /* pool pressure: 9 blocks of 16 for 5 sequences of up to 120 positions */
        /* the tensor-core paged attention for the tree and prefill rows (opts.batch_att_mma) */
        {4, FRS_SPEC_FIXED, {4, 4, 16}, 0, 1, 0},  {3, FRS_SPEC_FIXED, {6, 10, 60}, 0, 1, 0},
        /* ... and the decode steps on its warp split (batch_att_mma 2) */
        {4, FRS_SPEC_OFF, {1, 1, 1}, 0, 2, 0},     {8, FRS_SPEC_AUTO, {5, 8, 32}, 0, 2, 0},
        /* ... with the K/V ring (batch_att_mma 3) */
        {4, FRS_SPEC_OFF, {1, 1, 1}, 0, 3, 0},     {8, FRS_SPEC_AUTO, {5, 8, 32}, 0, 3, 0},
        /* ... with two bf16 terms in the tree rows' attention (batch_att_terms 2) */
        {3, FRS_SPEC_FIXED, {6, 10, 60}, 0, 3, 2}, {8, FRS_SPEC_AUTO, {5, 8, 32}, 0, 3, 2},
    };
    for (int sampled = 0; sampled < 2; sampled++) {
        struct ejob ref = job0;
        ref.sampled = sampled;
        const struct spec_run off = {4, FRS_SPEC_OFF, {1, 1, 1}, 0, 0, 0};
        struct frs_batch_totals tot;
        CHECK(spec_engine(&frs_backend_cuda_ops, &m, &d, &ref, &off, 0, &tot) == FRS_OK, "%s: off: %s", target_rel,
              frs_error_msg());
        {
            int tokens = 0, exact = 0, ties = 0;
            check_teacher("off (reference)", off.max_seqs, 0, &ref, &cpu, cl, V, &tokens, &exact, &ties);
        }
        for (size_t ri = 0; ri < sizeof runs / sizeof runs[0]; ri++) {
            const struct spec_run *rc = &runs[ri];
            if (sampled && ri >= 2)
                break; /* sampled: two shapes */
            struct spec_run r = *rc;
            if (K && r.tree.topk > K)
                r.tree.topk = K;
            char what[256];
            snprintf(what, sizeof what, "%s + %s K=%d %s, batch %d, %s %d/%d/%d, pool %d%s", target_rel, head_rel,
                     K ? K : V, sampled ? "sampled" : "greedy", r.max_seqs, batch_policy_name(r.policy), r.tree.depth,
                     r.tree.topk, r.tree.size, r.kv_blocks, r.terms == 2 ? ", tensor-core attention (two terms) + decode (K/V ring)" : r.att_mma == 3 ? ", tensor-core attention + decode (K/V ring)" : r.att_mma == 2 ? ", tensor-core attention + decode" : r.att_mma ? ", tensor-core attention" : "");
            struct ejob j = job0;
            j.sampled = sampled;
            const enum frs_status st = spec_engine(&frs_backend_cuda_ops, &m, &d, &j, &r, 0, &tot);
            CHECK(st == FRS_OK, "%s: %s", what, frs_error_msg());
            if (st != FRS_OK)
                continue;
            int tokens = 0, exact = 0, ties = 0, same = 0;
            check_teacher(what, r.max_seqs, r.kv_blocks, &j, &cpu, cl, V, &tokens, &exact, &ties);
            for (int i = 0; i < EREQ; i++)
                same += j.n_out[i] == ref.n_out[i] && !memcmp(j.out[i], ref.out[i], (size_t)j.n_out[i] * 4);
            const double acc = tot.drafted_seq_steps ? (double)tot.drafted_tokens / (double)tot.drafted_seq_steps : 0;
            fprintf(stderr, "  %-100s %ld steps, %ld preemptions, %ld drafted / %ld AR seq-steps, %.2f tokens a "
                    "drafted step, %d/%d requests == AR, %d near ties in %d\n", what, tot.steps, tot.preemptions,
                    tot.drafted_seq_steps, tot.ar_seq_steps, acc, same, EREQ, ties, tokens);
            /* greedy: both runs' tokens are the CPU's argmax or near ties (check_teacher), so where they
             * part it is at a near tie; few may */
            CHECK(same >= EREQ - 2, "%s: %d of %d requests differ from the same backend's autoregressive run", what,
                  EREQ - same, EREQ);
            CHECK(ties * 20 <= tokens, "%s: %d near ties in %d tokens", what, ties, tokens);
            if (r.policy == FRS_SPEC_FIXED && r.tree.size > 2 && !sampled) {
                CHECK(tot.drafted_seq_steps > 0, "%s: nothing drafted", what);
                /* the CPU backend's batched engine on the same job and tree: its acceptance */
                struct ejob jc = job0;
                struct frs_batch_totals ct;
                CHECK(spec_engine(&frs_backend_cpu_ops, &m, &d, &jc, &r, 0, &ct) == FRS_OK, "%s: CPU: %s", what,
                      frs_error_msg());
                const double cacc = ct.drafted_seq_steps ? (double)ct.drafted_tokens / (double)ct.drafted_seq_steps : 0;
                fprintf(stderr, "  %-100s CPU backend: %.2f tokens a drafted step\n", "", cacc);
                CHECK(acc >= 0.8 * cacc && acc >= min_accept, "%s: %.2f tokens a drafted step, the CPU backend %.2f "
                      "(want >= 0.8x and >= %.2f)", what, acc, cacc, min_accept);
            }
            if (r.kv_blocks)
                CHECK(tot.preemptions > 0, "%s: a pool of %d blocks preempted nothing", what, r.kv_blocks);
            if (r.policy != FRS_SPEC_OFF && (ri <= 7 || ri == 11)) {
                /* the trees built on the device (batch_draft_dev): the same trees from the same draft
                 * rows, so the same verify rows and tokens, bit for bit, and the same totals; with
                 * the draft's attention on CUDA cores (ri <= 5) and on tensor cores (6, 7, 11) */
                struct ejob jd = job0;
                jd.sampled = sampled;
                struct frs_batch_totals td;
                const enum frs_status sd = spec_engine(&frs_backend_cuda_ops, &m, &d, &jd, &r, 1, &td);
                CHECK(sd == FRS_OK, "%s, trees on the device: %s", what, frs_error_msg());
                int dsame = 0;
                for (int i = 0; sd == FRS_OK && i < EREQ; i++)
                    dsame += jd.n_out[i] == j.n_out[i] && !memcmp(jd.out[i], j.out[i], (size_t)j.n_out[i] * 4);
                fprintf(stderr, "  %-100s trees on the device: %d/%d requests identical, %ld / %ld drafted tokens\n", "",
                        dsame, EREQ, td.drafted_tokens, tot.drafted_tokens);
                CHECK(sd != FRS_OK || (dsame == EREQ && td.steps == tot.steps &&
                                       td.drafted_tokens == tot.drafted_tokens &&
                                       td.drafted_seq_steps == tot.drafted_seq_steps),
                      "%s: the trees built on the device differ from the host's: %d of %d requests identical, %ld / "
                      "%ld steps, %ld / %ld drafted tokens", what, dsame, EREQ, td.steps, tot.steps,
                      td.drafted_tokens, tot.drafted_tokens);
            }
        }
    }
    cpu.ops->destroy(&cpu);
    free(cl);
    bf16_copy_free(&bc);
    eagle_draft_free(&d);
    llama_model_free(&m);
}

static void test_errors(const char *name)
{
    struct llama_model m;
    if (llama_model_load(&m, test_fixture(name), 0, 1) != FRS_OK) {
        CHECK(0, "%s: load failed: %s", name, frs_error_msg());
        return;
    }
    struct frs_backend be;
    memset(&be, 0, sizeof be);
    be.ops = &frs_backend_cuda_ops;
    const struct frs_limits lim0 = {.max_ctx = 64, .max_tree = 0, .prefill_chunk = 8};
    CHECK_OK(be.ops->create(&be, &m, NULL, NULL, &lim0, NULL));
    CHECK(be.kv_blocks == 0 && cuda_backend_batch(&be) == NULL, "no pool without max_seqs");
    int32_t blk[4] = {0, 1, 2, 3}, tok[2] = {1, 2};
    const struct frs_seq s = {0, 0, 0, blk, 4};
    const int32_t *tp = tok;
    const int cnt = 2, ch = 1;
    const struct frs_sampling greedy = {0.0f, 1.0f, 0, 0};
    int32_t first = 0;
    CHECK(be.ops->batch->prefill(&be, 1, &s, &tp, &cnt, &ch, &greedy, &first) == FRS_ERR_INVALID_ARG,
          "batched prefill without a pool accepted");
    be.ops->destroy(&be);
    const struct frs_limits lim1 = {.max_ctx = 64, .max_tree = 0, .prefill_chunk = 8, .max_seqs = 4, .kv_share = 0.01f};
    memset(&be, 0, sizeof be);
    be.ops = &frs_backend_cuda_ops;
    CHECK_OK(be.ops->create(&be, &m, NULL, NULL, &lim1, NULL));
    CHECK(be.kv_blocks > 0, "kv_share 0.01 gave %d blocks", be.kv_blocks);
    fprintf(stderr, "%s: kv_share 0.01 -> %d blocks of %d positions\n", name, be.kv_blocks, FRS_KV_BLOCK_DEFAULT);
    be.ops->destroy(&be);
    llama_model_free(&m);
}

int main(void)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "test_cuda_batch: no CUDA device, skipped\n");
        return TEST_SKIP;
    }
    test_paged_attention(1, 128);
    test_paged_attention(0, 128);
    test_paged_attention(2, 128);
    test_paged_attention(3, 128);
    test_paged_attention(4, 128);
    test_paged_attention(5, 128);
    test_paged_attention(4, 64); /* the warp split at the other head sizes (16: more threads than q values) */
    test_paged_attention(5, 16);
    test_paged_attention(6, 128); /* the K/V ring: every head size, with and without splits */
    test_paged_attention(7, 128);
    test_paged_attention(6, 64);
    test_paged_attention(7, 32);
    test_paged_attention(6, 16);
    test_paged_attention(8, 128); /* two bf16 terms */
    test_paged_attention(9, 128);
    test_paged_attention(9, 64);
    test_batch_model("models/gqa-bf16", 16, 0, 1, 1);
    test_batch_model("models/llama3-bf16", 4, 1, 0, 1);
    test_batch_model("models/tied-f32", 16, 1, 0, 1);
    test_batch_model("models/gqa-bf16", 16, 0, 1, 2);
    test_batch_model("models/llama3-bf16", 4, 1, 0, 2);
    test_batch_model("models/gqa-bf16", 16, 0, 1, 3); /* the decode's warp split with the K/V ring */
    test_batch_model("models/llama3-bf16", 4, 1, 0, 3);
    test_engine("models/llama3-bf16");
    test_engine("models/fp8-ct-channel"); /* FP8 weights through the batched forward (issue 15) */
    test_engine_spec("spec/markov-target", "spec/markov-exact", 0, 2.0);
    test_engine_spec("spec/markov-target", "spec/markov-noisy", 0, 1.0);
    test_engine_spec("spec/markov-target", "spec/markov-noisy", 32, 1.0);
    test_engine_spec("models/gqa-bf16", "spec/head-gqa", 0, 1.0);
    test_errors("models/gqa-bf16");
    return test_finish("test_cuda_batch");
}
