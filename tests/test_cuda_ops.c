/* test_cuda_ops.c - every CUDA kernel of kernels/ against the CPU reference (runtime/cpu_ops.h,
 * runtime/tree.c, runtime/rng.h) on fresh random inputs of several shapes (odd sizes, n = 1, 7,
 * 60, 64, prefix 0 and > 0, random valid tree masks). Outputs are poisoned (NaN) before each
 * launch so an unwritten element fails. Tolerances (normalised error ||gpu - ref|| / ||ref||):
 *   fp32 paths (GEMV, GEMM over bf16 inputs, fp32 norm, RoPE q): 1e-5 (1e-4 for cuBLAS);
 *   outputs rounded to bf16 (norm/SwiGLU/KV): 1e-2 (bf16 rounding is 2^-9 ~ 2e-3); attention:
 *   2^-8 plus the rounding of its operands, per kernel (test_attention);
 *   integer results (top-k indices, argmax, tree, KV gather, sampling draws, acceptance walk):
 *   exact.
 * Skipped (77) without a CUDA device. The seed is printed; FRS_TEST_SEED=n repeats a run.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "accept.h"
#include "cpu_ops.h"
#include "cuda_ops.h"
#include "cuda_paged.h" /* cuda_paged_rope_write */
#include "cuda_tree.h"
#include "rng.h"
#include "testutil.h"
#include "tree.h"

#include "../runtime/argmax_key.h"

static uint64_t g_rng;
static int g_quick; /* FRS_TEST_QUICK: small shapes only (compute-sanitizer runs) */

static uint64_t rnd_u64(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static float rnd_f(void) /* uniform in [-1, 1) */
{
    return (float)((double)(rnd_u64() >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static int rnd_int(int n) { return (int)(rnd_u64() % (uint64_t)n); }


#define CK(expr)                                                                                  \
    do {                                                                                          \
        cudaError_t ce_ = (expr);                                                                 \
        if (ce_ != cudaSuccess) {                                                                 \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(ce_)); \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

static void *dalloc(size_t bytes)
{
    void *p = NULL;
    CK(cudaMalloc(&p, bytes ? bytes : 16));
    CK(cudaMemset(p, 0xff, bytes ? bytes : 16)); /* poison: NaN in fp32 and bf16 */
    return p;
}

static void *dup_h2d(const void *h, size_t bytes)
{
    void *p = dalloc(bytes);
    CK(cudaMemcpy(p, h, bytes, cudaMemcpyHostToDevice));
    return p;
}

static void d2h(void *h, const void *d, size_t bytes)
{
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost));
}

static void poison(void *d, size_t bytes) { CK(cudaMemset(d, 0xff, bytes)); }

/* random bf16 array; f32 copy of the same values */
static uint16_t *rand_bf16(size_t n, float scale, float *f32)
{
    uint16_t *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) {
        h[i] = frs_f32_to_bf16(rnd_f() * scale);
        if (f32)
            f32[i] = frs_bf16_to_f32(h[i]);
    }
    return h;
}

static float *rand_f32(size_t n, float scale)
{
    float *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = rnd_f() * scale;
    return h;
}

static void bf16_to_f32_arr(const uint16_t *h, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = frs_bf16_to_f32(h[i]);
}

/* ---- matmul ------------------------------------------------------------------------------- */

static void test_matmul(struct cuda_blas *blas)
{
    const int shapes[][3] = {/* n, rows, cols */
                             {1, 1, 8},     {1, 7, 64},    {1, 1000, 520}, {1, 4099, 4096}, {1, 33, 14336},
                             {1, 16389, 72}, {1, 8195, 136},
                             {7, 64, 64},   {60, 384, 256}, {64, 130, 72}, {2, 512, 1024},  {1, 5, 12},
                             {5, 8192, 1032} /* n > 1 and 16.9 MB of weights: the timed cuBLASLt choice */};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int n = shapes[s][0], rows = shapes[s][1], cols = shapes[s][2];
        if (g_quick && (size_t)rows * cols > 1000000)
            continue;
        float *xf = malloc((size_t)n * cols * sizeof(float)), *ref = malloc((size_t)n * rows * sizeof(float));
        float *got = malloc((size_t)n * rows * sizeof(float));
        uint16_t *xh = rand_bf16((size_t)n * cols, 1.0f, xf);
        uint16_t *wh = rand_bf16((size_t)rows * cols, 0.1f, NULL);
        struct frs_mat W = {.dtype = FRS_DTYPE_BF16, .rows = rows, .cols = cols, .ld = cols, .data = wh};
        cpu_matmul(xf, n, &W, ref);
        uint16_t *dx = dup_h2d(xh, (size_t)n * cols * 2), *dw = dup_h2d(wh, (size_t)rows * cols * 2);
        float *dy = dalloc((size_t)n * rows * 4);
        CHECK_OK(cuda_matmul(blas, dx, cols, n, dw, rows, cols, dy, rows, 0.0f));
        d2h(got, dy, (size_t)n * rows * 4);
        char what[96];
        snprintf(what, sizeof what, "matmul n=%d rows=%d cols=%d", n, rows, cols);
        const double tol = n == 1 && cols % 8 == 0 ? 1e-5 : 1e-4;
        test_close_f32(what, got, ref, (size_t)n * rows, tol);
        /* beta = 1 accumulates: y = y0 + xW^T */
        float *y0 = rand_f32((size_t)n * rows, 1.0f);
        CK(cudaMemcpy(dy, y0, (size_t)n * rows * 4, cudaMemcpyHostToDevice));
        CHECK_OK(cuda_matmul(blas, dx, cols, n, dw, rows, cols, dy, rows, 1.0f));
        d2h(got, dy, (size_t)n * rows * 4);
        for (size_t i = 0; i < (size_t)n * rows; i++)
            ref[i] += y0[i];
        snprintf(what, sizeof what, "matmul beta=1 n=%d rows=%d cols=%d", n, rows, cols);
        test_close_f32(what, got, ref, (size_t)n * rows, tol);
        cudaFree(dx);
        cudaFree(dw);
        cudaFree(dy);
        free(xf);
        free(ref);
        free(got);
        free(xh);
        free(wh);
        free(y0);
    }
}

/* ---- RMSNorm ------------------------------------------------------------------------------ */

static void test_rmsnorm(void)
{
    const int shapes[][2] = {{1, 64}, {7, 4096}, {60, 100}, {3, 8192}, {5, 70}, {2, 16384}};
    for (size_t s = 0; s < 2 * sizeof shapes / sizeof shapes[0]; s++) {
        /* both row-kernel versions (cuda_elementwise.h): 2's vector kernel where dim % 4 == 0 */
        const int version = s < sizeof shapes / sizeof shapes[0] ? 2 : 1;
        cuda_row_kernels_select(version);
        const int n = shapes[s % (sizeof shapes / sizeof shapes[0])][0];
        const int dim = shapes[s % (sizeof shapes / sizeof shapes[0])][1];
        const size_t nd = (size_t)n * dim;
        float *x = rand_f32(nd, 3.0f), *res = rand_f32(nd, 1.0f);
        uint16_t *wh = rand_bf16(dim, 2.0f, NULL);
        struct frs_mat W = {.dtype = FRS_DTYPE_BF16, .rows = 1, .cols = dim, .ld = dim, .data = wh};
        float *xs = malloc(nd * 4), *ref = malloc(nd * 4), *got = malloc(nd * 4), *got16f = malloc(nd * 4);
        uint16_t *got16 = malloc(nd * 2);
        for (size_t i = 0; i < nd; i++)
            xs[i] = x[i] + res[i];
        cpu_rmsnorm(xs, n, dim, &W, 1e-5f, ref);
        float *dx = dup_h2d(x, nd * 4), *dres = dup_h2d(res, nd * 4), *dy = dalloc(nd * 4);
        uint16_t *dw = dup_h2d(wh, (size_t)dim * 2), *dy16 = dalloc(nd * 2);
        CHECK_OK(cuda_rmsnorm(dx, dres, n, dim, dw, 1e-5f, dy, dy16, dim, 0));
        d2h(got, dy, nd * 4);
        d2h(got16, dy16, nd * 2);
        bf16_to_f32_arr(got16, nd, got16f);
        char what[64];
        snprintf(what, sizeof what, "rmsnorm fp32 n=%d dim=%d v%d", n, dim, version);
        test_close_f32(what, got, ref, nd, 1e-5);
        snprintf(what, sizeof what, "rmsnorm bf16 n=%d dim=%d v%d", n, dim, version);
        test_close_f32(what, got16f, ref, nd, 1e-2);
        d2h(got, dx, nd * 4); /* residual written back */
        snprintf(what, sizeof what, "rmsnorm residual n=%d dim=%d v%d", n, dim, version);
        test_close_f32(what, got, xs, nd, 1e-6);
        /* no weight, no residual */
        cpu_rmsnorm(xs, n, dim, NULL, 1e-5f, ref);
        poison(dy, nd * 4);
        CHECK_OK(cuda_rmsnorm(dx, NULL, n, dim, NULL, 1e-5f, dy, NULL, 0, 0));
        d2h(got, dy, nd * 4);
        snprintf(what, sizeof what, "rmsnorm no weight n=%d dim=%d v%d", n, dim, version);
        test_close_f32(what, got, ref, nd, 1e-5);
        cudaFree(dx);
        cudaFree(dres);
        cudaFree(dy);
        cudaFree(dw);
        cudaFree(dy16);
        free(x);
        free(res);
        free(wh);
        free(xs);
        free(ref);
        free(got);
        free(got16f);
        free(got16);
    }
    cuda_row_kernels_select(2);
}

/* ---- RoPE + KV write ---------------------------------------------------------------------- */

static void test_rope(void)
{
    struct llama_config cfg;
    memset(&cfg, 0, sizeof cfg);
    const int cases[][5] = {/* n, H, KV, D, llama3 */ {1, 4, 2, 16, 0},   {7, 32, 8, 128, 1}, {60, 4, 1, 32, 1},
                            {17, 32, 8, 128, 1}, {3, 6, 2, 96, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int n = cases[c][0], H = cases[c][1], KV = cases[c][2], D = cases[c][3];
        cfg.head_dim = D;
        cfg.rope_theta = cases[c][4] ? 500000.0f : 10000.0f;
        cfg.rope_type = cases[c][4] ? FRS_ROPE_LLAMA3 : FRS_ROPE_DEFAULT;
        cfg.rope_factor = 8.0f;
        cfg.rope_low_freq_factor = 1.0f;
        cfg.rope_high_freq_factor = 4.0f;
        cfg.rope_original_max_position_embeddings = 8192;
        float *inv = malloc((size_t)D / 2 * 4);
        rope_inv_freq(&cfg, inv);
        const int ld = (H + 2 * KV) * D, slots = 200 + n;
        float *qkv = rand_f32((size_t)n * ld, 2.0f);
        int32_t *pos = malloc((size_t)n * 4);
        for (int i = 0; i < n; i++)
            pos[i] = i == 0 ? 0 : rnd_int(131072);
        const int slot0 = rnd_int(200);
        /* reference */
        float *q = malloc((size_t)n * H * D * 4), *k = malloc((size_t)n * KV * D * 4), *v = malloc((size_t)n * KV * D * 4);
        for (int i = 0; i < n; i++) {
            memcpy(q + (size_t)i * H * D, qkv + (size_t)i * ld, (size_t)H * D * 4);
            memcpy(k + (size_t)i * KV * D, qkv + (size_t)i * ld + H * D, (size_t)KV * D * 4);
            memcpy(v + (size_t)i * KV * D, qkv + (size_t)i * ld + (H + KV) * D, (size_t)KV * D * 4);
        }
        cpu_rope(q, n, H, D, pos, inv);
        cpu_rope(k, n, KV, D, pos, inv);
        float *dqkv = dup_h2d(qkv, (size_t)n * ld * 4), *dinv = dup_h2d(inv, (size_t)D / 2 * 4);
        int32_t *dpos = dup_h2d(pos, (size_t)n * 4), *dslot = dup_h2d(&slot0, 4);
        float *dq = dalloc((size_t)n * H * D * 4);
        uint16_t *dk = dalloc((size_t)slots * KV * D * 2), *dv = dalloc((size_t)slots * KV * D * 2);
        CHECK_OK(cuda_rope_qkv(dqkv, ld, n, H, KV, D, dpos, dinv, dq, dk, dv, dslot, 0));
        float *gq = malloc((size_t)n * H * D * 4), *gk = malloc((size_t)n * KV * D * 4), *gv = malloc((size_t)n * KV * D * 4);
        uint16_t *g16 = malloc((size_t)n * KV * D * 2);
        d2h(gq, dq, (size_t)n * H * D * 4);
        d2h(g16, dk + (size_t)slot0 * KV * D, (size_t)n * KV * D * 2);
        bf16_to_f32_arr(g16, (size_t)n * KV * D, gk);
        d2h(g16, dv + (size_t)slot0 * KV * D, (size_t)n * KV * D * 2);
        bf16_to_f32_arr(g16, (size_t)n * KV * D, gv);
        char what[64];
        snprintf(what, sizeof what, "rope q n=%d H=%d D=%d", n, H, D);
        test_close_f32(what, gq, q, (size_t)n * H * D, 1e-5);
        snprintf(what, sizeof what, "rope k (bf16 cache) n=%d KV=%d D=%d", n, KV, D);
        test_close_f32(what, gk, k, (size_t)n * KV * D, 1e-2);
        snprintf(what, sizeof what, "v (bf16 cache) n=%d KV=%d D=%d", n, KV, D);
        test_close_f32(what, gv, v, (size_t)n * KV * D, 1e-2);
        /* the batched engine's RoPE + K/V write through physical pool rows (both row-kernel versions):
         * the same bits as cuda_rope_qkv, K/V rows landing at phys[i] (distinct, shuffled) */
        {
            int32_t *phys = malloc((size_t)n * 4);
            for (int i = 0; i < n; i++)
                phys[i] = i;
            for (int i = n - 1; i > 0; i--) {
                const int r = rnd_int(i + 1), t = phys[i];
                phys[i] = phys[r];
                phys[r] = t;
            }
            for (int i = 0; i < n; i++)
                phys[i] = 3 * phys[i] + 1; /* rows 1, 4, 7, ... of a pool of 3n + 1 */
            const size_t prow = (size_t)KV * D, pool = (size_t)(3 * n + 1) * prow;
            int32_t *dphys = dup_h2d(phys, (size_t)n * 4);
            float *dq2 = dalloc((size_t)n * H * D * 4), *gq2 = malloc((size_t)n * H * D * 4);
            uint16_t *dkp = dalloc(pool * 2), *dvp = dalloc(pool * 2), *hk = malloc(pool * 2), *hv = malloc(pool * 2);
            uint16_t *k1 = malloc((size_t)n * prow * 2), *v1 = malloc((size_t)n * prow * 2);
            d2h(k1, dk + (size_t)slot0 * prow, (size_t)n * prow * 2);
            d2h(v1, dv + (size_t)slot0 * prow, (size_t)n * prow * 2);
            for (int version = 1; version <= 2; version++) {
                cuda_row_kernels_select(version);
                poison(dq2, (size_t)n * H * D * 4);
                poison(dkp, pool * 2);
                poison(dvp, pool * 2);
                CHECK_OK(cuda_paged_rope_write(dqkv, ld, n, H, KV, D, dpos, dinv, dq2, dkp, dvp, dphys, 0));
                d2h(gq2, dq2, (size_t)n * H * D * 4);
                d2h(hk, dkp, pool * 2);
                d2h(hv, dvp, pool * 2);
                CHECK(memcmp(gq2, gq, (size_t)n * H * D * 4) == 0, "paged rope write v%d n=%d H=%d D=%d: q differs "
                      "from cuda_rope_qkv", version, n, H, D);
                int bad = 0;
                for (int i = 0; i < n; i++)
                    bad += memcmp(hk + (size_t)phys[i] * prow, k1 + (size_t)i * prow, prow * 2) != 0 ||
                           memcmp(hv + (size_t)phys[i] * prow, v1 + (size_t)i * prow, prow * 2) != 0;
                CHECK(bad == 0, "paged rope write v%d n=%d KV=%d D=%d: %d rows' K/V differ from cuda_rope_qkv's",
                      version, n, KV, D, bad);
            }
            cuda_row_kernels_select(2);
            cudaFree(dphys);
            cudaFree(dq2);
            cudaFree(dkp);
            cudaFree(dvp);
            free(phys);
            free(gq2);
            free(hk);
            free(hv);
            free(k1);
            free(v1);
        }
        cudaFree(dqkv);
        cudaFree(dinv);
        cudaFree(dpos);
        cudaFree(dslot);
        cudaFree(dq);
        cudaFree(dk);
        cudaFree(dv);
        free(inv);
        free(qkv);
        free(pos);
        free(q);
        free(k);
        free(v);
        free(gq);
        free(gk);
        free(gv);
        free(g16);
    }
}

/* ---- attention ----------------------------------------------------------------------------- */

/* independent double-precision reference with a mask of mask_cols columns */
static void ref_attention(const float *q, const float *kc, const float *vc, int prefix, int n, const uint64_t *mask,
                          int mask_cols, int H, int KV, int D, float *out)
{
    const int group = H / KV, words = FRS_MASK_WORDS(mask_cols);
    const int total_max = prefix + (mask ? mask_cols : n);
    double *sc = malloc((size_t)total_max * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int h = 0; h < H; h++) {
            const int kh = h / group;
            const int total = mask ? prefix + mask_cols : prefix + i + 1;
            double mx = -INFINITY;
            for (int s = 0; s < total; s++) {
                int vis = 1;
                if (mask && s >= prefix)
                    vis = (int)((mask[(size_t)i * words + (s - prefix) / 64] >> ((s - prefix) % 64)) & 1u);
                if (!vis) {
                    sc[s] = -INFINITY;
                    continue;
                }
                double a = 0;
                for (int d = 0; d < D; d++)
                    a += (double)q[((size_t)i * H + h) * D + d] * kc[((size_t)s * KV + kh) * D + d];
                sc[s] = a / sqrt((double)D);
                if (sc[s] > mx)
                    mx = sc[s];
            }
            double sum = 0;
            for (int s = 0; s < total; s++) {
                sc[s] = sc[s] == -INFINITY ? 0 : exp(sc[s] - mx);
                sum += sc[s];
            }
            for (int d = 0; d < D; d++) {
                double a = 0;
                for (int s = 0; s < total; s++)
                    a += sc[s] * vc[((size_t)s * KV + kh) * D + d];
                out[((size_t)i * H + h) * D + d] = (float)(a / sum);
            }
        }
    free(sc);
}

/* random tree-like mask: row i sees itself and a random earlier row's set (its "parent") */
static void rand_tree_mask(int n, uint64_t *mask)
{
    const int words = FRS_MASK_WORDS(n);
    memset(mask, 0, (size_t)n * words * 8);
    for (int i = 0; i < n; i++) {
        if (i > 0 && rnd_int(4)) {
            const int p = rnd_int(i);
            memcpy(mask + (size_t)i * words, mask + (size_t)p * words, (size_t)words * 8);
        }
        mask[(size_t)i * words + i / 64] |= 1ull << (i % 64);
    }
}

/* Attention kernels against the double reference. Every case runs AUTO (what the backends call),
 * then, where the tensor-core kernel takes the head_dim, each kernel forced: the CUDA-core kernel
 * (MULTI_ROW, SINGLE_ROW), the tensor-core kernel with q and P as three bf16 terms (MMA) and with
 * single bf16 products (MMA_BF16). Bounds on the normalised error ||got - ref|| / ||ref||, from the
 * rounding:
 *  - every output is rounded to bf16: each element within u_out = 2^-8 (relative), so the
 *    rounding alone contributes at most 2^-8 to the normalised error;
 *  - the kernel's own error is about c * u_op with u_op the unit roundoff of the operands that are
 *    rounded (K and V are bf16 in the cache and enter every kernel exactly): fp32 q and P in the
 *    CUDA-core kernel and in MMA (three bf16 terms hold 24 bits: 2^-24), single bf16 (2^-8) in
 *    MMA_BF16. A score error d changes the output by ~d * |v - out| and a weight error by ~u_op
 *    (random signs, no growth with the context), so c of a few covers the test's scores
 *    (|s| <~ 3): bound 2^-8 + 2^-12 for the fp32-operand kernels (the 2^-12 is fp32 summation
 *    over up to ~2k slots with a wide margin), 2^-8 + 4 * 2^-8 for MMA_BF16;
 *  - A/B (MMA against the CUDA-core kernel, both rounded): 2 * 2^-8 + 2^-12; and since both are
 *    fp32-exact before rounding, their bf16 outputs may differ only where fp32 summation order
 *    moves a value across a rounding boundary: at most 0.2% of the outputs (+4). bf16 pairs for q
 *    and P (16 bits) flipped up to 0.39% on the H100 and broke test_cuda_spec; single bf16 ~50%. */
#define ATT_U_OUT (1.0 / 256)
#define ATT_TOL_FP32 (ATT_U_OUT + 1.0 / 4096)
#define ATT_TOL_MMA (ATT_U_OUT + 1.0 / 4096)
#define ATT_TOL_MMA_BF16 (ATT_U_OUT + 4.0 / 256)

static double g_att_err[5];   /* worst normalised error vs the reference, by CUDA_ATT_* */
static double g_att_flip[5];  /* worst share of bf16 outputs differing from MULTI_ROW, by CUDA_ATT_* */

/* one launch at layout, the output as fp32 (poisoned first) */
static void att_run(int layout, const float *dq, const uint16_t *dk, const uint16_t *dv, const int32_t *dprefix, int n,
                    const uint64_t *dmask, int mask_cols, int H, int KV, int D, uint16_t *dout, float *dscr, int n_sm,
                    uint16_t *g16, float *got)
{
    poison(dout, (size_t)n * H * D * 2);
    CHECK_OK(cuda_attention_layout(dq, dk, dv, dprefix, n, dmask, mask_cols, H, KV, D, dout, dscr, n_sm, layout, 0));
    d2h(g16, dout, (size_t)n * H * D * 2);
    bf16_to_f32_arr(g16, (size_t)n * H * D, got);
}

static void test_attention(int n_sm)
{
    /* n, prefix, H, KV, D, mask mode (0 causal, 1 tree, 2 draft cols); the 8B shape (32/8/128),
     * a 70B shard (8/1/128), 4/2/64, the fixtures' small shapes (D 16, 32), D 256 (CUDA-core only) */
    int cases[64][6] = {{1, 0, 4, 2, 16, 0},      {1, 37, 4, 2, 16, 0},     {1, 3000, 32, 8, 128, 0},
                        {7, 0, 4, 2, 16, 0},      {7, 300, 8, 1, 64, 1},    {60, 500, 32, 8, 128, 1},
                        {64, 0, 16, 1, 32, 0},    {64, 129, 16, 1, 32, 1},  {10, 250, 4, 2, 16, 2},
                        {60, 1, 24, 8, 128, 1},   {1, 9000, 8, 8, 64, 0},   {32, 20, 4, 4, 256, 0},
                        {2, 0, 32, 8, 128, 1},    {5, 1000, 32, 8, 128, 0}, {17, 33, 32, 8, 128, 1},
                        {60, 128, 32, 8, 128, 1}, {60, 1024, 32, 8, 128, 1}, {64, 2000, 32, 8, 128, 0},
                        {33, 1999, 32, 8, 128, 1}, {60, 700, 8, 1, 128, 1}, {3, 64, 8, 1, 128, 0},
                        {48, 1500, 8, 1, 128, 0}, {9, 0, 4, 2, 64, 0},     {60, 900, 4, 2, 64, 1},
                        {64, 63, 4, 2, 64, 1},    {31, 2047, 4, 2, 64, 0},  {6, 20, 4, 2, 16, 1},
                        {60, 77, 4, 2, 16, 1},    {64, 200, 4, 1, 32, 0},   {16, 5, 4, 4, 16, 2},
                        {12, 300, 2, 2, 32, 1},   {200, 100, 4, 2, 16, 0},  {130, 0, 32, 8, 128, 0}};
    int n_cases = 33;
    /* random ones: n 2..64, prefix 0..2000, tree or causal, one of the shapes above */
    static const int shapes[][3] = {{32, 8, 128}, {8, 1, 128}, {4, 2, 64}, {4, 2, 16}, {4, 1, 32}};
    for (int r = 0; r < 10; r++) {
        const int *sh = shapes[rnd_int(5)];
        const int c[6] = {2 + rnd_int(63), rnd_int(2001), sh[0], sh[1], sh[2], rnd_int(2)};
        memcpy(cases[n_cases++], c, sizeof c);
    }
    for (int c = 0; c < n_cases; c++) {
        const int n = cases[c][0], prefix = cases[c][1], H = cases[c][2], KV = cases[c][3], D = cases[c][4];
        const int mode = cases[c][5];
        if (g_quick && (prefix > 1000 || n * H > 1024))
            continue;
        const int mask_cols = mode == 2 ? 3 * n : n; /* draft: tree slots so far = levels * k */
        const int rows_new = mode == 2 ? mask_cols : n;
        const int slots = prefix + rows_new;
        const size_t kvn = (size_t)slots * KV * D, qn = (size_t)n * H * D;
        float *kf = malloc(kvn * 4), *vf = malloc(kvn * 4);
        uint16_t *kh = rand_bf16(kvn, 1.0f, kf), *vh = rand_bf16(kvn, 1.0f, vf);
        float *q = rand_f32(qn, 1.5f);
        uint64_t *mask = NULL;
        const int words = FRS_MASK_WORDS(mask_cols);
        if (mode == 1) {
            mask = malloc((size_t)n * words * 8);
            rand_tree_mask(n, mask);
        } else if (mode == 2) {
            mask = calloc((size_t)n * words, 8);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < mask_cols; j++)
                    if (j == 2 * n + i || rnd_int(3) == 0)
                        mask[(size_t)i * words + j / 64] |= 1ull << (j % 64);
        }
        float *ref = malloc(qn * 4), *got = malloc(qn * 4), *old = malloc(qn * 4);
        uint16_t *g16 = malloc(qn * 2), *old16 = malloc(qn * 2);
        ref_attention(q, kf, vf, prefix, n, mask, mask_cols, H, KV, D, ref);
        float *dq = dup_h2d(q, qn * 4);
        uint16_t *dk = dup_h2d(kh, kvn * 2), *dv = dup_h2d(vh, kvn * 2), *dout = dalloc(qn * 2);
        uint64_t *dmask = mask ? dup_h2d(mask, (size_t)n * words * 8) : NULL;
        int32_t *dprefix = dup_h2d(&prefix, 4);
        const size_t scr = cuda_attention_scratch_floats(n, H, KV, D, n_sm);
        float *dscr = scr ? dalloc(scr * 4) : NULL;
        char what[160];
        /* AUTO: what the backends run */
        const int auto_mma = cuda_attention_auto_mma(n, D);
        att_run(CUDA_ATT_AUTO, dq, dk, dv, dprefix, n, dmask, mask_cols, H, KV, D, dout, dscr, n_sm, g16, got);
        snprintf(what, sizeof what, "attention n=%d prefix=%d H=%d KV=%d D=%d mask=%d splits=%d (%s)", n, prefix, H,
                 KV, D, mode, cuda_attention_splits(n, H, KV, D, n_sm), auto_mma ? "tensor cores" : "CUDA cores");
        test_close_f32(what, got, ref, qn, auto_mma ? ATT_TOL_MMA : ATT_TOL_FP32);
        /* cpu_attention (the backend's reference) agrees with the double reference too */
        if (mode != 2) {
            float *cref = malloc(qn * 4);
            cpu_attention(q, kf, vf, prefix, n, mask, H, KV, D, cref);
            snprintf(what, sizeof what, "attention vs cpu_attention n=%d prefix=%d H=%d KV=%d D=%d", n, prefix, H, KV,
                     D);
            test_close_f32(what, got, cref, qn, auto_mma ? ATT_TOL_MMA : ATT_TOL_FP32);
            free(cref);
        }
        /* every kernel forced; A/B against the CUDA-core kernel */
        att_run(CUDA_ATT_MULTI_ROW, dq, dk, dv, dprefix, n, dmask, mask_cols, H, KV, D, dout, dscr, n_sm, old16, old);
        const int layouts[] = {CUDA_ATT_MULTI_ROW, CUDA_ATT_SINGLE_ROW, CUDA_ATT_MMA, CUDA_ATT_MMA_BF16};
        for (int li = 0; li < 4; li++) {
            const int lay = layouts[li];
            const int is_mma = lay == CUDA_ATT_MMA || lay == CUDA_ATT_MMA_BF16;
            if (is_mma && !(D == 16 || D == 32 || D == 64 || D == 128))
                continue;
            att_run(lay, dq, dk, dv, dprefix, n, dmask, mask_cols, H, KV, D, dout, dscr, n_sm, g16, got);
            const double tol = lay == CUDA_ATT_MMA_BF16 ? ATT_TOL_MMA_BF16 : lay == CUDA_ATT_MMA ? ATT_TOL_MMA
                                                                                                : ATT_TOL_FP32;
            snprintf(what, sizeof what, "attention layout %d n=%d prefix=%d H=%d KV=%d D=%d mask=%d", lay, n, prefix,
                     H, KV, D, mode);
            test_close_f32(what, got, ref, qn, tol);
            const double e = test_rel_err(got, ref, qn);
            if (e > g_att_err[lay])
                g_att_err[lay] = e;
            size_t flips = 0;
            for (size_t k = 0; k < qn; k++)
                flips += g16[k] != old16[k];
            const double fr = (double)flips / (double)qn;
            if (fr > g_att_flip[lay])
                g_att_flip[lay] = fr;
            if (is_mma) {
                snprintf(what, sizeof what, "attention A/B layout %d vs CUDA cores n=%d prefix=%d H=%d KV=%d D=%d", lay,
                         n, prefix, H, KV, D);
                test_close_f32(what, got, old, qn, 2 * ATT_U_OUT + 1.0 / 4096);
                if (lay == CUDA_ATT_MMA)
                    CHECK(flips <= qn / 500 + 4, "%s: %zu of %zu bf16 outputs differ (fp32 operands: <= 0.2%% + 4)",
                          what, flips, qn);
            }
        }
        cudaFree(dq);
        cudaFree(dk);
        cudaFree(dv);
        cudaFree(dout);
        cudaFree(dmask);
        cudaFree(dprefix);
        cudaFree(dscr);
        free(kf);
        free(vf);
        free(kh);
        free(vh);
        free(q);
        free(mask);
        free(ref);
        free(got);
        free(old);
        free(g16);
        free(old16);
    }
    fprintf(stderr, "attention: worst normalised error vs the double reference: CUDA cores %.2e / %.2e (multi / "
            "single row), tensor cores %.2e (3 bf16 terms) / %.2e (single bf16); worst share of bf16 outputs differing "
            "from the multi-row CUDA-core kernel: single row %.3f%%, 3 bf16 terms %.3f%%, single bf16 %.2f%%\n",
            g_att_err[CUDA_ATT_MULTI_ROW], g_att_err[CUDA_ATT_SINGLE_ROW], g_att_err[CUDA_ATT_MMA],
            g_att_err[CUDA_ATT_MMA_BF16], 100 * g_att_flip[CUDA_ATT_SINGLE_ROW], 100 * g_att_flip[CUDA_ATT_MMA],
            100 * g_att_flip[CUDA_ATT_MMA_BF16]);
}

/* ---- elementwise ---------------------------------------------------------------------------- */

static void test_elementwise(void)
{
    const int n = 7, width = 1000, ld = 2 * width;
    float *gu = rand_f32((size_t)n * ld, 4.0f), *ref = malloc((size_t)n * width * 4), *got = malloc((size_t)n * width * 4);
    for (int i = 0; i < n; i++)
        cpu_swiglu(gu + (size_t)i * ld, gu + (size_t)i * ld + width, width, ref + (size_t)i * width);
    float *dgu = dup_h2d(gu, (size_t)n * ld * 4);
    uint16_t *dout = dalloc((size_t)n * width * 2), *h16 = malloc((size_t)n * width * 2);
    CHECK_OK(cuda_swiglu(dgu, dgu + width, n, width, ld, dout, width, 0));
    d2h(h16, dout, (size_t)n * width * 2);
    bf16_to_f32_arr(h16, (size_t)n * width, got);
    test_close_f32("swiglu", got, ref, (size_t)n * width, 1e-2);
    /* the row kernels of version 1 give the same bits; an odd width takes the scalar kernel under 2 */
    {
        uint16_t *h16b = malloc((size_t)n * width * 2);
        cuda_row_kernels_select(1);
        poison(dout, (size_t)n * width * 2);
        CHECK_OK(cuda_swiglu(dgu, dgu + width, n, width, ld, dout, width, 0));
        cuda_row_kernels_select(2);
        d2h(h16b, dout, (size_t)n * width * 2);
        CHECK(memcmp(h16, h16b, (size_t)n * width * 2) == 0, "swiglu: row kernels 1 and 2 differ");
        const int w2 = width - 1;
        CHECK_OK(cuda_swiglu(dgu, dgu + w2, n, w2, ld, dout, w2, 0));
        d2h(h16b, dout, (size_t)n * w2 * 2);
        float *ref2 = malloc((size_t)n * w2 * 4), *got2 = malloc((size_t)n * w2 * 4);
        for (int i = 0; i < n; i++)
            cpu_swiglu(gu + (size_t)i * ld, gu + (size_t)i * ld + w2, w2, ref2 + (size_t)i * w2);
        bf16_to_f32_arr(h16b, (size_t)n * w2, got2);
        test_close_f32("swiglu odd width", got2, ref2, (size_t)n * w2, 1e-2);
        free(h16b);
        free(ref2);
        free(got2);
    }

    /* fused gate/up GEMV + SwiGLU == GEMV then SwiGLU, bit for bit (three shapes) */
    for (int c = 0; c < 3; c++) {
        const int F = c == 0 ? 1000 : c == 1 ? 5000 : 8200, K = c == 0 ? 264 : c == 1 ? 136 : 64;
        uint16_t *wh = rand_bf16((size_t)2 * F * K, 0.2f, NULL), *xh = rand_bf16((size_t)K, 1.0f, NULL);
        uint16_t *dw = dup_h2d(wh, (size_t)2 * F * K * 2), *dxx = dup_h2d(xh, (size_t)K * 2);
        uint16_t *dact = dalloc((size_t)F * 2), *dact2 = dalloc((size_t)F * 2);
        float *dgu2 = dalloc((size_t)2 * F * 4);
        uint16_t *a1 = malloc((size_t)F * 2), *a2 = malloc((size_t)F * 2);
        CHECK_OK(cuda_gemv_swiglu(dxx, dw, F, K, dact, 1, 0));
        CHECK_OK(cuda_gemv_bf16(dxx, dw, 2 * F, K, dgu2, 0.0f, 1, 0));
        CHECK_OK(cuda_swiglu(dgu2, dgu2 + F, 1, F, 2 * F, dact2, F, 0));
        d2h(a1, dact, (size_t)F * 2);
        d2h(a2, dact2, (size_t)F * 2);
        CHECK(memcmp(a1, a2, (size_t)F * 2) == 0, "fused gate/up GEMV + SwiGLU differs from GEMV then SwiGLU");
        cudaFree(dw);
        cudaFree(dxx);
        cudaFree(dact);
        cudaFree(dact2);
        cudaFree(dgu2);
        free(wh);
        free(xh);
        free(a1);
        free(a2);
    }

    /* embedding */
    const int V = 513, C = 72, m = 9;
    uint16_t *tab = rand_bf16((size_t)V * C, 1.0f, NULL);
    struct frs_mat T = {.dtype = FRS_DTYPE_BF16, .rows = V, .cols = C, .ld = C, .data = tab};
    int32_t toks[9];
    for (int i = 0; i < m; i++)
        toks[i] = i == 0 ? V - 1 : rnd_int(V);
    float *eref = malloc((size_t)m * C * 4), *egot = malloc((size_t)m * C * 4);
    cpu_embed(&T, toks, m, eref);
    uint16_t *dtab = dup_h2d(tab, (size_t)V * C * 2), *de16 = dalloc((size_t)m * 2 * C * 2);
    int32_t *dtok = dup_h2d(toks, sizeof toks);
    float *de = dalloc((size_t)m * C * 4);
    CHECK_OK(cuda_embed(dtab, C, dtok, m, de, de16, 2 * C, 0));
    d2h(egot, de, (size_t)m * C * 4);
    test_close_f32("embed fp32", egot, eref, (size_t)m * C, 0.0);
    uint16_t *e16 = malloc((size_t)m * 2 * C * 2);
    d2h(e16, de16, (size_t)m * 2 * C * 2);
    int same = 1;
    for (int i = 0; i < m; i++)
        same &= memcmp(e16 + (size_t)i * 2 * C, tab + (size_t)toks[i] * C, (size_t)C * 2) == 0;
    CHECK(same, "embed bf16 rows differ from the table");

    /* add */
    const int64_t len = 100003;
    float *a = rand_f32(len, 1.0f), *b = rand_f32(len, 1.0f), *sum = malloc(len * 4);
    memcpy(sum, a, len * 4);
    cpu_add(sum, b, len);
    float *da = dup_h2d(a, len * 4), *db = dup_h2d(b, len * 4);
    CHECK_OK(cuda_add(da, db, len, 0));
    d2h(a, da, len * 4);
    test_close_f32("add", a, sum, len, 0.0);

    /* f32 -> bf16 (round to nearest even, as frs_f32_to_bf16) */
    uint16_t *cv = dalloc(1000 * 2), cvh[1000];
    CHECK_OK(cuda_f32_to_bf16(db, 1000, 1, 1000, cv, 1000, 0));
    d2h(cvh, cv, sizeof cvh);
    int conv_ok = 1;
    for (int i = 0; i < 1000; i++)
        conv_ok &= cvh[i] == frs_f32_to_bf16(b[i]);
    CHECK(conv_ok, "f32_to_bf16 rounding differs from frs_f32_to_bf16");
    cudaFree(dgu);
    cudaFree(dout);
    cudaFree(dtab);
    cudaFree(de16);
    cudaFree(dtok);
    cudaFree(de);
    cudaFree(da);
    cudaFree(db);
    cudaFree(cv);
    free(gu);
    free(ref);
    free(got);
    free(h16);
    free(tab);
    free(eref);
    free(egot);
    free(e16);
    free(a);
    free(b);
    free(sum);
}

/* ---- log-softmax + top-k, argmax ------------------------------------------------------------- */

static void test_topk_argmax(void)
{
    const int cases[][3] = {/* rows, cols, k */ {1, 512, 10}, {10, 32768, 10}, {3, 1000, 32}, {5, 128256, 1},
                            {7, 77, 16}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int rows = cases[c][0], cols = cases[c][1], k = cases[c][2];
        if (g_quick && cols > 40000)
            continue;
        float *x = rand_f32((size_t)rows * cols, 8.0f);
        /* plant exact ties at the top of row 0 so the tie rule is exercised */
        x[5] = x[cols - 1] = 9.5f;
        int32_t *map = malloc((size_t)cols * 4);
        for (int i = 0; i < cols; i++)
            map[i] = (i * 7 + 3) % 1000003;
        float *lp = malloc((size_t)cols * 4), *rv = malloc((size_t)k * 4), *gv = malloc((size_t)rows * k * 4);
        int32_t *ri = malloc((size_t)k * 4), *gi = malloc((size_t)rows * k * 4);
        float *dx = dup_h2d(x, (size_t)rows * cols * 4), *dv = dalloc((size_t)rows * k * 4);
        int32_t *di = dalloc((size_t)rows * k * 4), *dmap = dup_h2d(map, (size_t)cols * 4);
        CHECK_OK(cuda_logsoftmax_topk(dx, rows, cols, cols, k, dmap, dv, di, 0));
        d2h(gv, dv, (size_t)rows * k * 4);
        d2h(gi, di, (size_t)rows * k * 4);
        int idx_ok = 1;
        double num = 0, den = 0;
        for (int r = 0; r < rows; r++) {
            cpu_log_softmax(x + (size_t)r * cols, cols, lp);
            cpu_topk(lp, cols, k, rv, ri);
            for (int j = 0; j < k; j++) {
                idx_ok &= gi[r * k + j] == map[ri[j]];
                num += (gv[r * k + j] - rv[j]) * (double)(gv[r * k + j] - rv[j]);
                den += (double)rv[j] * rv[j];
            }
        }
        CHECK(idx_ok, "top-k indices differ (rows %d cols %d k %d)", rows, cols, k);
        CHECK(sqrt(num / den) <= 1e-5, "top-k log-probs rel err %.3g (rows %d cols %d k %d)", sqrt(num / den), rows,
              cols, k);
        /* argmax keys with an index offset */
        uint64_t *dk = dalloc((size_t)rows * 8), *hk = malloc((size_t)rows * 8);
        CHECK_OK(cuda_argmax_keys(dx, rows, cols, cols, 1000, dk, 0));
        d2h(hk, dk, (size_t)rows * 8);
        int am_ok = 1;
        for (int r = 0; r < rows; r++)
            am_ok &= frs_argmax_key_index(hk[r]) == 1000 + cpu_argmax(x + (size_t)r * cols, cols) &&
                     frs_argmax_key_value(hk[r]) == x[(size_t)r * cols + cpu_argmax(x + (size_t)r * cols, cols)];
        CHECK(am_ok, "argmax keys differ from cpu_argmax (rows %d cols %d)", rows, cols);
        /* ids from keys */
        int32_t *dids = dalloc((size_t)rows * 4), *hids = malloc((size_t)rows * 4);
        CHECK_OK(cuda_keys_to_ids(dk, rows, dids, 0));
        d2h(hids, dids, (size_t)rows * 4);
        CHECK(hids[0] == frs_argmax_key_index(hk[0]), "keys_to_ids");
        cudaFree(dx);
        cudaFree(dv);
        cudaFree(di);
        cudaFree(dmap);
        cudaFree(dk);
        cudaFree(dids);
        free(x);
        free(map);
        free(lp);
        free(rv);
        free(gv);
        free(ri);
        free(gi);
        free(hk);
        free(hids);
    }
}

/* ---- RNG and Gumbel-max sampling --------------------------------------------------------------- */

static void test_rng_sampling(void)
{
    const int n = g_quick ? 1000 : 100000;
    const uint64_t seed = rnd_u64(), stream = rnd_u64() % 1000, idx0 = rnd_u64() >> 8;
    double *dg = dalloc((size_t)n * 8), *hg = malloc((size_t)n * 8);
    CHECK_OK(cuda_rng_gumbel_fill(seed, stream, idx0, n, dg, 0));
    d2h(hg, dg, (size_t)n * 8);
    /* the 64-bit counter hash and the uniform are exact integer/double arithmetic; CUDA's log()
     * is within 1 ulp of glibc's, so -log(-log(u)) may differ in the last bits: the error is
     * measured as |d| / (1 + |g|) (near g = 0 a relative measure would divide by ~0) */
    int exact = 0;
    double maxerr = 0;
    for (int i = 0; i < n; i++) {
        const double r = frs_rng_gumbel(seed, stream, idx0 + (uint64_t)i);
        exact += hg[i] == r;
        const double err = fabs(hg[i] - r) / (1.0 + fabs(r));
        if (!(err <= maxerr))
            maxerr = err;
    }
    fprintf(stderr, "rng: %d of %d Gumbel draws bit-identical to rng.h, max |diff|/(1+|g|) %.3g\n", exact, n, maxerr);
    CHECK(maxerr < 1e-14, "device Gumbel noise differs from frs_rng_gumbel by %.3g", maxerr);
    CHECK(exact >= n * 9 / 10, "only %d of %d device Gumbel draws bit-identical", exact, n);

    /* Gumbel-max draws: rows with a threshold, compared with the host's argmax of z + g */
    const int rows = 4, cols = 5000, off = 123;
    const float inv_t = 1.0f / 0.7f;
    float *x = rand_f32((size_t)rows * cols, 5.0f), th[4] = {-INFINITY, 2.0f, 6.0f, 7.1f};
    uint64_t draw[4] = {1, 2, 99, 1ull << 40};
    float *dx = dup_h2d(x, (size_t)rows * cols * 4), *dth = dup_h2d(th, sizeof th);
    uint64_t *ddraw = dup_h2d(draw, sizeof draw), *dk = dalloc(rows * 8), hk[4];
    CHECK_OK(cuda_sample_keys(dx, rows, cols, cols, off, inv_t, dth, seed, ddraw, dk, 0));
    d2h(hk, dk, sizeof hk);
    for (int r = 0; r < rows; r++) {
        uint64_t best = 0;
        for (int c = 0; c < cols; c++) {
            const float z = x[(size_t)r * cols + c] * inv_t;
            if (!(z >= th[r]))
                continue;
            const float v = (float)((double)z + frs_rng_gumbel(seed, draw[r], (uint64_t)(off + c)));
            const uint64_t key = frs_argmax_key_pack(v, off + c);
            if (key > best)
                best = key;
        }
        CHECK(hk[r] == best, "Gumbel-max draw row %d: device token %d, host %d", r, frs_argmax_key_index(hk[r]),
              best ? frs_argmax_key_index(best) : -1);
    }
    cudaFree(dg);
    cudaFree(dx);
    cudaFree(dth);
    cudaFree(ddraw);
    cudaFree(dk);
    free(hg);
    free(x);
}

/* ---- KV gather ------------------------------------------------------------------------------- */

static void test_kv_gather(void)
{
    const int L = 3, slots = 300, row = 136, base = 101;
    const size_t stride = (size_t)slots * row, tot = L * stride;
    uint16_t *k = rand_bf16(tot, 1.0f, NULL), *v = rand_bf16(tot, 1.0f, NULL);
    uint16_t *kr = malloc(tot * 2), *vr = malloc(tot * 2), *kg = malloc(tot * 2), *vg = malloc(tot * 2);
    memcpy(kr, k, tot * 2);
    memcpy(vr, v, tot * 2);
    int32_t path[6] = {0, 1, 4, 9, 10, 37};
    const int n = 6;
    for (int l = 0; l < L; l++)
        for (int j = 0; j < n; j++) {
            memmove(kr + l * stride + (size_t)(base + j) * row, kr + l * stride + (size_t)(base + path[j]) * row, row * 2);
            memmove(vr + l * stride + (size_t)(base + j) * row, vr + l * stride + (size_t)(base + path[j]) * row, row * 2);
        }
    uint16_t *dk = dup_h2d(k, tot * 2), *dv = dup_h2d(v, tot * 2);
    int32_t *dpath = dup_h2d(path, sizeof path), *dbase = dup_h2d(&base, 4);
    CHECK_OK(cuda_kv_gather(dk, dv, L, stride, row, dbase, dpath, n, 0));
    d2h(kg, dk, tot * 2);
    d2h(vg, dv, tot * 2);
    CHECK(memcmp(kg, kr, tot * 2) == 0 && memcmp(vg, vr, tot * 2) == 0, "kv_gather differs from sequential moves");
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(dpath);
    cudaFree(dbase);
    free(k);
    free(v);
    free(kr);
    free(vr);
    free(kg);
    free(vg);
}

/* ---- tree --------------------------------------------------------------------------------------- */

/* random descending log-prob rows (quantised so that exact ties happen) with distinct tokens */
static void rand_topk_rows(int rows, int k, float *vals, int32_t *tok)
{
    for (int r = 0; r < rows; r++) {
        float v = -(float)rnd_int(4) * 0.25f;
        for (int j = 0; j < k; j++) {
            vals[r * k + j] = v;
            v -= (float)rnd_int(3) * 0.25f;
            tok[r * k + j] = r * 1000 + j * 7 + rnd_int(7);
        }
    }
}

static void test_tree(void)
{
    const int cases[][3] = {/* depth, topk, size */ {6, 10, 60}, {3, 10, 30}, {1, 4, 4}, {4, 3, 128}, {5, 8, 20},
                            {2, 1, 2}};
    const int max_topk = 16, max_depth = 8;
    struct tree_build tb;
    CHECK_OK(tree_build_init(&tb, max_topk, max_depth));
    struct cuda_tree_dev dt;
    void *mem = dalloc(cuda_tree_dev_bytes(max_topk, max_depth));
    cuda_tree_dev_carve(&dt, mem, max_topk, max_depth);
    const int C = 24, T = 77;
    float *hid = rand_f32((size_t)max_topk * C, 1.0f);
    float *dhid = dup_h2d(hid, (size_t)max_topk * C * 4);
    int32_t *dT = dup_h2d(&T, 4);
    uint16_t *dfc = dalloc((size_t)max_topk * 2 * C * 2), *hfc = malloc((size_t)max_topk * 2 * C * 2);
    int32_t *dtok = dalloc(max_topk * 4), *dpos = dalloc(max_topk * 4), *dslot0 = dalloc(4);
    uint64_t *dmask = dalloc((size_t)max_topk * FRS_MASK_WORDS(max_topk * max_depth) * 8);
    uint64_t *hmask = malloc((size_t)max_topk * FRS_MASK_WORDS(max_topk * max_depth) * 8);
    uint64_t *rmask = malloc((size_t)max_topk * FRS_MASK_WORDS(max_topk * max_depth) * 8);
    float *dvals = dalloc((size_t)max_topk * max_topk * 4);
    int32_t *dtk = dalloc((size_t)max_topk * max_topk * 4);
    struct frs_tree *dtree = dalloc(sizeof(struct frs_tree));
    const int32_t root = 4242;
    int32_t *droot = dup_h2d(&root, 4); /* the root token is read on the device (graph replays) */
    struct frs_tree ref, got;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct frs_tree_params p = {cases[c][0], cases[c][1], cases[c][2]};
        const int k = p.topk;
        float vals[16 * 16];
        int32_t tok[16 * 16];
        CHECK_OK(tree_build_begin(&tb, &p));
        rand_topk_rows(1, k, vals, tok);
        tree_build_first(&tb, vals, tok);
        CK(cudaMemcpy(dvals, vals, (size_t)k * 4, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dtk, tok, (size_t)k * 4, cudaMemcpyHostToDevice));
        CHECK_OK(cuda_tree_first(&dt, k, dvals, dtk, 0));
        int frontier_ok = 1;
        for (int level = 1; level < p.depth; level++) {
            int cols;
            tree_build_frontier_mask(&tb, rmask, &cols);
            CHECK_OK(cuda_tree_frontier(&dt, k, level, dT, dhid, 3, C, dfc, 2 * C, dtok, dpos, dslot0, dmask, 0));
            const int words = FRS_MASK_WORDS(cols);
            int32_t htok[16], hpos[16], hslot0;
            d2h(hmask, dmask, (size_t)k * words * 8);
            d2h(htok, dtok, (size_t)k * 4);
            d2h(hpos, dpos, (size_t)k * 4);
            d2h(&hslot0, dslot0, 4);
            d2h(hfc, dfc, (size_t)k * 2 * C * 2);
            frontier_ok &= memcmp(hmask, rmask, (size_t)k * words * 8) == 0 && hslot0 == T + (level - 1) * k;
            for (int r = 0; r < k; r++) {
                frontier_ok &= htok[r] == tb.token[tb.front[r]] && hpos[r] == T + level - 1;
                const int src = level == 1 ? 3 : tb.front_src[r];
                for (int j = 0; j < C; j++)
                    frontier_ok &= hfc[(size_t)r * 2 * C + C + j] == frs_f32_to_bf16(hid[(size_t)src * C + j]);
            }
            rand_topk_rows(k, k, vals, tok);
            tree_build_expand(&tb, vals, tok);
            CK(cudaMemcpy(dvals, vals, (size_t)k * k * 4, cudaMemcpyHostToDevice));
            CK(cudaMemcpy(dtk, tok, (size_t)k * k * 4, cudaMemcpyHostToDevice));
            CHECK_OK(cuda_tree_expand(&dt, k, level, dvals, dtk, 0));
        }
        CHECK(frontier_ok, "tree frontier (slots, mask, tokens, positions, features) differs, case %zu", c);
        memset(&ref, 0, sizeof ref);
        CHECK_OK(tree_build_finish(&tb, 4242, &ref));
        poison(dtree, sizeof got);
        CHECK_OK(cuda_tree_finish(&dt, k, p.depth, p.size, droot, dtree, 0));
        d2h(&got, dtree, sizeof got);
        int same = got.n == ref.n;
        for (int i = 0; same && i < ref.n; i++)
            same = got.token[i] == ref.token[i] && got.parent[i] == ref.parent[i] && got.depth[i] == ref.depth[i];
        CHECK(same, "device tree differs from tree.c (depth %d topk %d size %d: n %d vs %d)", p.depth, p.topk, p.size,
              got.n, ref.n);
        /* verify inputs */
        const int n = ref.n, words = FRS_MASK_WORDS(n);
        uint64_t *vm = malloc((size_t)n * words * 8), *gm = malloc((size_t)n * words * 8);
        tree_mask_ancestors(&ref, vm);
        int32_t *dvt = dalloc((size_t)n * 4), *dvp = dalloc((size_t)n * 4), gvt[FRS_MAX_TREE], gvp[FRS_MAX_TREE];
        uint64_t *dvm = dalloc((size_t)n * words * 8);
        CHECK_OK(cuda_tree_verify_inputs(dtree, n, dT, dvt, dvp, dvm, 0));
        d2h(gm, dvm, (size_t)n * words * 8);
        d2h(gvt, dvt, (size_t)n * 4);
        d2h(gvp, dvp, (size_t)n * 4);
        int vok = memcmp(gm, vm, (size_t)n * words * 8) == 0;
        for (int i = 0; i < n; i++)
            vok &= gvt[i] == ref.token[i] && gvp[i] == T + ref.depth[i];
        CHECK(vok, "verify inputs (mask/tokens/positions) differ, case %zu", c);
        cudaFree(dvt);
        cudaFree(dvp);
        cudaFree(dvm);
        free(vm);
        free(gm);
    }
    tree_build_free(&tb);
    cudaFree(mem);
    cudaFree(dhid);
    cudaFree(dT);
    cudaFree(dfc);
    cudaFree(dtok);
    cudaFree(dpos);
    cudaFree(dslot0);
    cudaFree(dmask);
    cudaFree(dvals);
    cudaFree(dtk);
    cudaFree(dtree);
    cudaFree(droot);
    free(hid);
    free(hfc);
    free(hmask);
    free(rmask);
}

/* The batched tree kernels (cuda_tree_batch_*: the batched draft's trees, kernels/cuda_batch.c)
 * against runtime/tree.c, one builder per sequence: five sequences of different depth / top-k /
 * size in one op (top-k below the op's row stride kmax, one of depth 1, builders at scattered
 * slots), exact ties in the scores; per depth every field of the frontier rows the kernel writes
 * (token, position, pool row through the block table, feature row, table, prefix, local column,
 * columns, mask with its unused words zeroed) and the finished trees. */
static void test_tree_batch(void)
{
    enum { NS = 5, SLOTS = 7, TW = 16, KVB = 16, MW = 2, MAXK = 16, MAXD = 8 };
    const int sp[NS][5] = {/* depth, topk, size, slot, target_len */ {6, 10, 60, 3, 77}, {3, 4, 12, 0, 5},
                           {1, 4, 4, 6, 40},    {4, 3, 30, 1, 130},  {6, 10, 60, 2, 9}};
    const int kmax = 10, rmax = NS * MAXK;
    const size_t stride = (cuda_tree_dev_bytes(MAXK, MAXD) + 255) & ~(size_t)255;
    void *mem = dalloc(SLOTS * stride);
    struct tree_build tb[NS];
    struct cuda_tree_seq q[NS];
    int32_t tables[NS * TW], level_rows[FRS_MAX_TREE_DEPTH] = {0}, max_rec = 1;
    memset(q, 0, sizeof q);
    for (int i = 0; i < NS * TW; i++)
        tables[i] = (i * 37 + 11) % 251; /* distinct pool blocks */
    for (int i = 0; i < NS; i++) {
        const struct frs_tree_params p = {sp[i][0], sp[i][1], sp[i][2]};
        CHECK_OK(tree_build_init(&tb[i], MAXK, MAXD));
        CHECK_OK(tree_build_begin(&tb[i], &p));
        q[i] = (struct cuda_tree_seq){.slot = sp[i][3], .k = p.topk, .depth = p.depth, .size = p.size, .T = sp[i][4],
                                      .root = 9000 + i, .table = i};
        for (int l = 1; l < FRS_MAX_TREE_DEPTH; l++) {
            q[i].base[l] = l < p.depth ? level_rows[l] : -1;
            level_rows[l] += l < p.depth ? p.topk : 0;
        }
        const int rec = cuda_tree_records(p.topk, p.depth);
        max_rec = rec > max_rec ? rec : max_rec;
    }
    struct cuda_tree_seq *dq = dup_h2d(q, sizeof q);
    int32_t *dtables = dup_h2d(tables, sizeof tables);
    const struct cuda_tree_batch b = {mem, stride, MAXK, MAXD, dq};
    int32_t *dr = dalloc((size_t)8 * rmax * 4), *hr = malloc((size_t)8 * rmax * 4);
    uint64_t *dmask = dalloc((size_t)rmax * MW * 8), *hmask = malloc((size_t)rmax * MW * 8);
    const struct cuda_tree_rows rows = {dr,        dr + rmax,     dr + 2 * rmax, dr + 3 * rmax, dr + 4 * rmax,
                                        dr + 5 * rmax, dr + 6 * rmax, dr + 7 * rmax, dmask, MW, dtables, TW, KVB};
    float *vals = calloc((size_t)rmax * kmax, 4), *dv = dalloc((size_t)rmax * kmax * 4);
    int32_t *toks = calloc((size_t)rmax * kmax, 4), *dt = dalloc((size_t)rmax * kmax * 4);
    float v1[MAXK * MAXK];
    int32_t t1[MAXK * MAXK];
    /* depth 1: root row i's top-k (the columns past its k hold junk the kernels must not read) */
    for (int i = 0; i < rmax * kmax; i++)
        vals[i] = 1.0f, toks[i] = -5;
    for (int i = 0; i < NS; i++) {
        rand_topk_rows(1, q[i].k, v1, t1);
        tree_build_first(&tb[i], v1, t1);
        memcpy(vals + (size_t)i * kmax, v1, (size_t)q[i].k * 4);
        memcpy(toks + (size_t)i * kmax, t1, (size_t)q[i].k * 4);
    }
    CK(cudaMemcpy(dv, vals, (size_t)NS * kmax * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dt, toks, (size_t)NS * kmax * 4, cudaMemcpyHostToDevice));
    CHECK_OK(cuda_tree_batch_first(&b, NS, dv, dt, kmax, 0));
    int rows_ok = 1, checked = 0;
    for (int level = 1; level < MAXD; level++) {
        const int nr = level_rows[level];
        if (nr == 0)
            break;
        poison(dr, (size_t)8 * rmax * 4);
        poison(dmask, (size_t)rmax * MW * 8);
        CHECK_OK(cuda_tree_batch_frontier(&b, NS, level, &rows, 0));
        d2h(hr, dr, (size_t)8 * rmax * 4);
        d2h(hmask, dmask, (size_t)nr * MW * 8);
        for (int i = 0; i < NS; i++) {
            if (q[i].depth <= level)
                continue;
            uint64_t rmask[MAXK * MW];
            int cols;
            const int first = tree_build_frontier_mask(&tb[i], rmask, &cols), words = FRS_MASK_WORDS(cols);
            for (int r = 0; r < q[i].k; r++) {
                const int row = q[i].base[level] + r, pp = q[i].T + first + r;
                const int want[8] = {tb[i].token[tb[i].front[r]],
                                     q[i].T + level - 1,
                                     tables[i * TW + pp / KVB] * KVB + pp % KVB,
                                     i,
                                     q[i].T,
                                     first + r,
                                     cols,
                                     level == 1 ? i : q[i].base[level - 1] + tb[i].front_src[r]};
                for (int f = 0; f < 8; f++)
                    rows_ok &= hr[(size_t)f * rmax + row] == want[f];
                for (int w = 0; w < MW; w++)
                    rows_ok &= hmask[(size_t)row * MW + w] == (w < words ? rmask[r * words + w] : 0ull);
                checked++;
            }
        }
        /* this depth's top-k rows, then the expansion */
        for (int i = 0; i < NS; i++) {
            if (q[i].depth <= level)
                continue;
            rand_topk_rows(q[i].k, q[i].k, v1, t1);
            tree_build_expand(&tb[i], v1, t1);
            for (int r = 0; r < q[i].k; r++) {
                memcpy(vals + (size_t)(q[i].base[level] + r) * kmax, v1 + r * q[i].k, (size_t)q[i].k * 4);
                memcpy(toks + (size_t)(q[i].base[level] + r) * kmax, t1 + r * q[i].k, (size_t)q[i].k * 4);
            }
        }
        CK(cudaMemcpy(dv, vals, (size_t)nr * kmax * 4, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dt, toks, (size_t)nr * kmax * 4, cudaMemcpyHostToDevice));
        CHECK_OK(cuda_tree_batch_expand(&b, NS, level, dv, dt, kmax, 0));
    }
    CHECK(rows_ok && checked == 5 * 10 + 2 * 4 + 3 * 3 + 5 * 10, "batched tree frontier rows differ from tree.c (%d "
          "rows checked)", checked);
    struct frs_tree *dtrees = dalloc(NS * sizeof(struct frs_tree));
    struct frs_tree *got = malloc(NS * sizeof(struct frs_tree)), ref;
    poison(dtrees, NS * sizeof(struct frs_tree));
    CHECK_OK(cuda_tree_batch_finish(&b, NS, max_rec, dtrees, 0));
    d2h(got, dtrees, NS * sizeof(struct frs_tree));
    for (int i = 0; i < NS; i++) {
        memset(&ref, 0, sizeof ref);
        CHECK_OK(tree_build_finish(&tb[i], 9000 + i, &ref));
        int same = got[i].n == ref.n;
        for (int j = 0; same && j < ref.n; j++)
            same = got[i].token[j] == ref.token[j] && got[i].parent[j] == ref.parent[j] &&
                   got[i].depth[j] == ref.depth[j];
        CHECK(same, "batched device tree %d differs from tree.c (depth %d topk %d size %d: n %d vs %d)", i, q[i].depth,
              q[i].k, q[i].size, got[i].n, ref.n);
        tree_build_free(&tb[i]);
    }
    cudaFree(mem);
    cudaFree(dq);
    cudaFree(dtables);
    cudaFree(dr);
    cudaFree(dmask);
    cudaFree(dv);
    cudaFree(dt);
    cudaFree(dtrees);
    free(hr);
    free(hmask);
    free(vals);
    free(toks);
    free(got);
}

/* ---- rows loaded from a device-known position ---------------------------------------------------- */

/* a random valid tree of n nodes: parents before children (often the latest nodes, so trees get
 * deep), distinct sibling tokens from a small vocabulary, argmax mostly one of the node's
 * children's tokens, child_prob with sibling sums <= 1 (some = (float) of the child's acceptance
 * uniform, so the decision hangs on that rounding: a uniform off by more fails), random residuals */
static void rand_accept_tree(int n, uint64_t seed, uint64_t iter, struct frs_tree *t)
{
    memset(t, 0, sizeof *t);
    t->n = n;
    t->token[0] = rnd_int(1000);
    t->parent[0] = -1;
    t->depth[0] = 0;
    const int vocab = 6 + rnd_int(24);
    for (int i = 1; i < n; i++) {
        const int p = rnd_int(3) ? i - 1 - rnd_int(i < 4 ? i : 4) : rnd_int(i);
        t->parent[i] = p;
        t->depth[i] = t->depth[p] + 1;
        int sibs = 0;
        for (int j = p + 1; j < i; j++)
            sibs += t->parent[j] == p;
        for (;;) { /* a token no earlier sibling has (one of vocab + sibs values: some are free) */
            const int32_t tok = rnd_int(vocab + sibs);
            int dup = 0;
            for (int j = p + 1; j < i; j++)
                dup |= t->parent[j] == p && t->token[j] == tok;
            if (!dup) {
                t->token[i] = tok;
                break;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        int kids[FRS_MAX_TREE], m = 0;
        for (int c = i + 1; c < n; c++)
            if (t->parent[c] == i)
                kids[m++] = c;
        t->argmax[i] = m > 0 && rnd_int(5) ? t->token[kids[rnd_int(m)]] : rnd_int(vocab);
        t->residual[i] = rnd_int(1 << 17);
        /* the children's probabilities: a random share of the mass, split at random */
        const int style = rnd_int(4);
        double left = style == 0 ? 1.0 : 0.5 * (rnd_f() + 1.0);
        for (int j = 0; j < m; j++) {
            const int c = kids[j];
            float pc;
            if (style == 1 && j == 0) /* at the first child's acceptance uniform (removed = 0) */
                pc = (float)frs_rng_uniform(seed, FRS_RNG_STREAM_ACCEPT, frs_spec_index(iter, c));
            else if (style == 2 && rnd_int(3) == 0)
                pc = 0.0f;
            else
                pc = (float)(left * (j + 1 == m && style == 0 ? 1.0 : 0.5 * (rnd_f() + 1.0)));
            if (pc > left)
                pc = (float)left;
            t->child_prob[c] = pc;
            left -= pc;
            if (left < 0)
                left = 0;
        }
    }
    t->child_prob[0] = 1.0f;
}

static int accept_equal(const struct frs_accept *a, const struct frs_accept *b)
{
    if (a->n_path != b->n_path || a->n_tokens != b->n_tokens || a->n_path < 1 || a->n_path > FRS_MAX_TREE ||
        a->n_tokens < 1 || a->n_tokens > FRS_MAX_TREE)
        return 0;
    return memcmp(a->path, b->path, (size_t)a->n_path * sizeof(int32_t)) == 0 &&
           memcmp(a->tokens, b->tokens, (size_t)a->n_tokens * sizeof(int32_t)) == 0;
}

/* cuda_tree_accept == accept_walk on the host, field by field: greedy and sampling (the device
 * draws the uniforms from the seed and draw0 = frs_spec_draw(iter, 0) in device memory), trees
 * of 1..64 nodes and a few full ones; invalid trees leave ok = 0 where the host walk fails */
static void test_accept_walk(void)
{
    struct frs_tree *dt = dalloc(sizeof(struct frs_tree));
    struct frs_accept *dacc = dalloc(sizeof(struct frs_accept));
    int32_t *dok = dalloc(sizeof(int32_t));
    uint64_t *dsd = dalloc(2 * sizeof(uint64_t)); /* seed, draw0 */
    const int trees = g_quick ? 200 : 1500;
    long walks = 0, bad = 0, long_walks = 0, sampled_accepts = 0;
    for (int it = 0; it < trees; it++) {
        const int n = it % 50 == 49 ? FRS_MAX_TREE : 1 + rnd_int(64);
        const uint64_t seed = rnd_int(4) ? rnd_u64() : (uint64_t)rnd_int(10);
        const uint64_t iter = rnd_int(4) ? (uint64_t)rnd_int(100000) : rnd_u64(); /* some wrap the index */
        struct frs_tree t;
        rand_accept_tree(n, seed, iter, &t);
        CK(cudaMemcpy(dt, &t, sizeof t, cudaMemcpyHostToDevice));
        for (int mode = 0; mode < 4; mode++) { /* 0: greedy; 1..3: sampling, the tree's seed/iter first */
            const int greedy = mode == 0;
            const struct frs_sampling s = {greedy ? 0.0f : 0.8f, 1.0f, 0,
                                           mode <= 1 ? seed : rnd_u64()};
            const uint64_t itr = mode <= 1 ? iter : (uint64_t)rnd_int(1 << 20);
            const uint64_t sd[2] = {s.seed, frs_spec_draw(itr, 0)};
            CK(cudaMemcpy(dsd, sd, sizeof sd, cudaMemcpyHostToDevice));
            poison(dacc, sizeof(struct frs_accept));
            poison(dok, sizeof(int32_t));
            CHECK_OK(cuda_tree_accept(dt, greedy ? NULL : dsd, greedy ? NULL : dsd + 1, dacc, dok, 0));
            struct frs_accept got, want;
            int32_t ok = -1;
            d2h(&got, dacc, sizeof got);
            d2h(&ok, dok, sizeof ok);
            CHECK_OK(accept_walk(&t, &s, itr, &want));
            const int eq = ok == 1 && accept_equal(&got, &want);
            CHECK(eq, "accept walk: %s tree of %d nodes (seed %llu, iter %llu): device ok %d, %d nodes %d tokens "
                  "vs host %d nodes", greedy ? "greedy" : "sampled", n, (unsigned long long)s.seed,
                  (unsigned long long)itr, ok, got.n_path, got.n_tokens, want.n_path);
            walks++;
            bad += !eq;
            long_walks += want.n_path >= 3;
            sampled_accepts += !greedy && want.n_path >= 2;
        }
    }
    /* invalid trees: the device declines (ok = 0) where the host walk reports an error */
    int declined = 0;
    for (int k = 0; k < 3; k++) {
        struct frs_tree t;
        rand_accept_tree(10, 1, 1, &t);
        if (k == 0) { /* node 9 (a leaf) becomes node 8's sibling with node 8's token */
            t.parent[9] = t.parent[8];
            t.depth[9] = t.depth[8];
            t.token[9] = t.token[8];
        } else if (k == 1) {
            t.depth[7] += 1;
        } else {
            t.parent[4] = 6;
        }
        struct frs_accept want;
        const struct frs_sampling g = {0.0f, 1.0f, 0, 0};
        const enum frs_status hs = accept_walk(&t, &g, 0, &want);
        frs_error_clear();
        CK(cudaMemcpy(dt, &t, sizeof t, cudaMemcpyHostToDevice));
        poison(dok, sizeof(int32_t));
        CHECK_OK(cuda_tree_accept(dt, NULL, NULL, dacc, dok, 0));
        int32_t ok = -1;
        d2h(&ok, dok, sizeof ok);
        CHECK(hs == FRS_ERR_INVALID_ARG && ok == 0, "accept walk: invalid tree %d: host status %d, device ok %d", k,
              (int)hs, ok);
        declined += ok == 0;
    }
    fprintf(stderr, "accept walk: %ld walks (%ld of 3+ nodes, %ld sampled with an accepted child), %ld differ; "
            "%d/3 invalid trees declined\n", walks, long_walks, sampled_accepts, bad, declined);
    CHECK(long_walks > walks / 10 && sampled_accepts > walks / 10, "accept walk: too few long walks (%ld, %ld of %ld)",
          long_walks, sampled_accepts, walks);
    CK(cudaFree(dt));
    CK(cudaFree(dacc));
    CK(cudaFree(dok));
    CK(cudaFree(dsd));
}

static void test_load_rows(void)
{
    const int rows = 40, cols = 37, ld_src = 41, ld_dst = 80, base = 9, add = -3, n = 7;
    uint16_t *src = rand_bf16((size_t)rows * ld_src, 1.0f, NULL);
    uint16_t *ds = dup_h2d(src, (size_t)rows * ld_src * 2), *dd = dalloc((size_t)n * ld_dst * 2);
    uint16_t *got = malloc((size_t)n * ld_dst * 2), *ref = malloc((size_t)n * ld_dst * 2);
    int32_t *dbase = dup_h2d(&base, 4);
    CK(cudaMemset(dd, 0x55, (size_t)n * ld_dst * 2));
    memset(ref, 0x55, (size_t)n * ld_dst * 2);
    for (int j = 0; j < n; j++)
        memcpy(ref + (size_t)j * ld_dst, src + (size_t)(base + add + j) * ld_src, (size_t)cols * 2);
    CHECK_OK(cuda_load_rows(dd, ld_dst, ds, ld_src, dbase, add, cols, n, 0));
    d2h(got, dd, (size_t)n * ld_dst * 2);
    CHECK(memcmp(got, ref, (size_t)n * ld_dst * 2) == 0, "cuda_load_rows differs (or wrote outside its rows)");
    cudaFree(ds);
    cudaFree(dd);
    cudaFree(dbase);
    free(src);
    free(got);
    free(ref);
}

int main(void)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "test_cuda_ops: no CUDA device, skipped\n");
        return TEST_SKIP;
    }
    const char *env = getenv("FRS_TEST_SEED");
    g_rng = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) * 2654435761ull + 1;
    if (!g_rng)
        g_rng = 1;
    g_quick = getenv("FRS_TEST_QUICK") != NULL;
    fprintf(stderr, "test_cuda_ops: seed %llu\n", (unsigned long long)g_rng);
    struct cuda_blas blas;
    CHECK_OK(cuda_blas_create(&blas, 0, 1, 1)); /* the product's defaults: cuBLASLt, PDL */
    test_matmul(&blas);
    test_rmsnorm();
    test_rope();
    test_attention(blas.n_sm);
    test_elementwise();
    test_topk_argmax();
    test_rng_sampling();
    test_kv_gather();
    test_tree();
    test_tree_batch();
    test_accept_walk();
    test_load_rows();
    CK(cudaDeviceSynchronize());
    cuda_blas_free(&blas);
    return test_finish("test_cuda_ops");
}
