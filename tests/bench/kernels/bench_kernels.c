/* bench_kernels.c - the kernel workbench: micro-benchmarks of kernels/ launchers, moved out of
 * tests/test_cuda_ops.c (which keeps the correctness checks). Not a test and not part of the
 * product: `ninja -C build bench_kernels && build/tests/bench_kernels` on a GPU machine; the numbers
 * go to tests/bench/NOTES-cuda.md. Times:
 *  - the copy bandwidth and the n == 1 GEMV at the Llama-3-8B shapes (weights rotated past L2);
 *  - the small ops of an 8B decode layer (RMSNorm, RoPE + KV write, attention + combine at n == 1)
 *    as nodes of one CUDA graph;
 *  - one layer's attention of a 60-row verify by context, every kernel and layout;
 *  - the GEMMs (cuda_matmul: cuBLASLt with its chosen algorithm) of the 8B shapes at the row counts of
 *    batched decode and verify: time, weight bytes per second, TFLOP/s (FRS_BENCH=gemm: only these).
 * The measured-slower variants that left the product (L2-prefetch launchers, RMSNorm-fused GEMVs,
 * bulk-copy and split GEMVs) are in git history; NOTES-cuda.md names the commits and figures.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "cuda_ops.h"
#include "tensor.h"  /* frs_f32_to_bf16 */
#include "testutil.h"
#include "tree.h"    /* FRS_MASK_WORDS */

static uint64_t g_rng;

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

/* ---- GEMV bandwidth (informational; the numbers go to tests/bench/NOTES-cuda.md) ---------------------- */

static void bench_gemv(void)
{
    const int shapes[][2] = {{4096, 4096}, {14336 * 2, 4096}, {4096, 14336}, {128256, 4096}, {32768, 4096}};
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    /* copy bandwidth: 1 GiB device-to-device */
    const size_t cb = (size_t)1 << 30;
    void *a = dalloc(cb), *b = dalloc(cb);
    CK(cudaMemcpy(b, a, cb, cudaMemcpyDeviceToDevice));
    CK(cudaEventRecord(e0, 0));
    for (int r = 0; r < 10; r++)
        CK(cudaMemcpyAsync(b, a, cb, cudaMemcpyDeviceToDevice, 0));
    CK(cudaEventRecord(e1, 0));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    const double copy_bw = 2.0 * cb * 10 / (ms * 1e-3) / 1e9;
    fprintf(stderr, "bench: copy bandwidth (read + write) %.0f GB/s\n", copy_bw);
    cudaFree(a);
    cudaFree(b);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int rows = shapes[s][0], cols = shapes[s][1];
        /* rotate over enough copies of W to defeat the 50 MB L2 */
        const size_t wb = (size_t)rows * cols * 2;
        int copies = (int)((size_t)400000000 / wb) + 1;
        if (copies > 8)
            copies = 8;
        uint16_t *w[8];
        for (int c = 0; c < copies; c++) {
            w[c] = dalloc(wb);
            CK(cudaMemset(w[c], 0x3c, wb)); /* bf16 0x3c3c ~ 0.0115: finite, non-zero */
        }
        uint16_t *x = dalloc((size_t)cols * 2);
        CK(cudaMemset(x, 0x3c, (size_t)cols * 2));
        float *y = dalloc((size_t)rows * 4);
        for (int c = 0; c < copies; c++)
            CHECK_OK(cuda_gemv_bf16(x, w[c], rows, cols, y, 0.0f, 1, 0));
        const int reps = 50;
        CK(cudaEventRecord(e0, 0));
        for (int r = 0; r < reps; r++)
            cuda_gemv_bf16(x, w[r % copies], rows, cols, y, 0.0f, 1, 0);
        CK(cudaEventRecord(e1, 0));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        const double us = ms * 1e3 / reps, bw = (double)wb / (us * 1e-6) / 1e9;
        fprintf(stderr, "bench: gemv %6d x %5d: %8.1f us  %6.0f GB/s  (%.0f%% of copy bw)\n", rows, cols, us, bw,
                100.0 * bw / copy_bw);
        for (int c = 0; c < copies; c++)
            cudaFree(w[c]);
        cudaFree(x);
        cudaFree(y);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
}

/* ---- the GEMMs of batched steps (informational; tests/bench/NOTES-cuda.md) ------------------------- */

static void bench_gemm(void)
{
    const int shapes[][2] = {{6144, 4096}, {4096, 4096}, {14336 * 2, 4096}, {4096, 14336}, {128256, 4096}};
    const char *names[] = {"qkv", "o", "gate+up", "down", "lm_head"};
    const int ns[] = {16, 32, 64, 128, 240, 480, 960};
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    struct cuda_blas blas;
    CHECK_OK(cuda_blas_create(&blas, 0, 1, 1));
    double per_n_us[sizeof ns / sizeof ns[0]] = {0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int rows = shapes[s][0], cols = shapes[s][1];
        const size_t wb = (size_t)rows * cols * 2;
        int copies = (int)((size_t)400000000 / wb) + 1; /* past the 50 MB L2 */
        if (copies > 8)
            copies = 8;
        uint16_t *w[8];
        for (int c = 0; c < copies; c++) {
            w[c] = dalloc(wb);
            CK(cudaMemset(w[c], 0x3c, wb));
        }
        const int nmax = ns[sizeof ns / sizeof ns[0] - 1];
        uint16_t *x = dalloc((size_t)nmax * cols * 2);
        CK(cudaMemset(x, 0x3c, (size_t)nmax * cols * 2));
        float *y = dalloc((size_t)nmax * rows * 4);
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            const int n = ns[k];
            for (int c = 0; c < copies; c++) /* the algorithm choice (timed once per shape) and a warm-up */
                CHECK_OK(cuda_matmul(&blas, x, cols, n, w[c], rows, cols, y, rows, 0.0f));
            const int reps = 20;
            CK(cudaEventRecord(e0, 0));
            for (int r = 0; r < reps; r++)
                cuda_matmul(&blas, x, cols, n, w[r % copies], rows, cols, y, rows, 0.0f);
            CK(cudaEventRecord(e1, 0));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            const double us = ms * 1e3 / reps;
            per_n_us[k] += s < 4 ? 32 * us : us; /* 32 layers, one LM head */
            fprintf(stderr, "bench: gemm %-7s %6d x %5d, n %4d: %8.1f us  %6.0f GB/s of weights  %6.1f TFLOP/s\n",
                    names[s], rows, cols, n, us, (double)wb / (us * 1e-6) / 1e9,
                    2.0 * n * rows * cols / (us * 1e-6) / 1e12);
        }
        for (int c = 0; c < copies; c++)
            cudaFree(w[c]);
        cudaFree(x);
        cudaFree(y);
    }
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        fprintf(stderr, "bench: gemm 8B step (32 layers + LM head), n %4d: %.2f ms\n", ns[k], per_n_us[k] / 1e3);
    cuda_blas_free(&blas);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
}

/* ---- the small kernels of an 8B decode step (informational; tests/bench/NOTES-cuda.md) ------------ */

/* Each op of a llama3-8b layer at n == 1 that is not a GEMV, as 100 launches captured into one CUDA
 * graph and replayed (what the decode graph does): per-node time = the kernel plus the graph's
 * node-to-node gap. A one-element add gives the gap alone. */
typedef enum frs_status (*bench_op_fn)(void *ctx, cudaStream_t st);
struct bench_dec {
    float *x, *q, *qkv, *scr, *tiny;
    uint16_t *w, *xn, *kc, *vc, *att;
    int32_t *pos, *slot, *prefix;
    float *inv;
    int n_sm;
};
static enum frs_status bop_gap(void *c, cudaStream_t st)
{
    struct bench_dec *d = c;
    return cuda_add(d->tiny, d->tiny + 1, 1, st);
}
static enum frs_status bop_norm(void *c, cudaStream_t st)
{
    struct bench_dec *d = c;
    return cuda_rmsnorm(d->x, NULL, 1, 4096, d->w, 1e-5f, NULL, d->xn, 4096, st);
}
static enum frs_status bop_rope(void *c, cudaStream_t st)
{
    struct bench_dec *d = c;
    return cuda_rope_qkv(d->qkv, 6144, 1, 32, 8, 128, d->pos, d->inv, d->q, d->kc, d->vc, d->slot, st);
}
static enum frs_status bop_att(void *c, cudaStream_t st)
{
    struct bench_dec *d = c;
    return cuda_attention_layout(d->q, d->kc, d->vc, d->prefix, 1, NULL, 0, 32, 8, 128, d->att, d->scr, d->n_sm,
                                 CUDA_ATT_AUTO, st);
}

static void bench_decode_ops(int n_sm)
{
    const int ctxs[] = {128, 1024, 4096};
    struct bench_dec d = {0};
    const size_t slots = 4096 + 8;
    d.n_sm = n_sm;
    d.x = dalloc(4096 * 4);
    d.q = dalloc(32 * 128 * 4);
    d.qkv = dalloc(6144 * 4);
    d.tiny = dalloc(64);
    d.scr = dalloc(cuda_attention_scratch_floats(1, 32, 8, 128, n_sm) * 4 + 16);
    d.w = dalloc(4096 * 2);
    d.xn = dalloc(4096 * 2);
    d.att = dalloc(32 * 128 * 2);
    d.kc = dalloc(slots * 8 * 128 * 2);
    d.vc = dalloc(slots * 8 * 128 * 2);
    CK(cudaMemset(d.x, 0, 4096 * 4));
    CK(cudaMemset(d.tiny, 0, 64));
    CK(cudaMemset(d.w, 0x3c, 4096 * 2));
    CK(cudaMemset(d.qkv, 0, 6144 * 4));
    CK(cudaMemset(d.kc, 0x3c, slots * 8 * 128 * 2));
    CK(cudaMemset(d.vc, 0x3c, slots * 8 * 128 * 2));
    float inv[64];
    for (int j = 0; j < 64; j++)
        inv[j] = powf(500000.0f, -2.0f * j / 128.0f);
    d.inv = dup_h2d(inv, sizeof inv);
    int32_t z = 0;
    d.pos = dup_h2d(&z, 4);
    d.prefix = dalloc(4);
    cudaStream_t st;
    cudaEvent_t e0, e1;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const struct {
        const char *name;
        bench_op_fn fn;
    } ops[] = {{"graph node gap (1-element add)", bop_gap}, {"rmsnorm 1 x 4096", bop_norm},
               {"rope + kv write (32 q, 8 kv heads)", bop_rope}, {"attention n=1 (+ split combine)", bop_att}};
    for (size_t c = 0; c < sizeof ctxs / sizeof ctxs[0]; c++) {
        const int32_t slot = ctxs[c] - 1, prefix = ctxs[c] - 1;
        d.slot = dup_h2d(&slot, 4);
        CK(cudaMemcpy(d.prefix, &prefix, 4, cudaMemcpyHostToDevice));
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            if (c > 0 && o != 3)
                continue; /* only attention depends on the context */
            cudaGraph_t g;
            cudaGraphExec_t ge;
            const int reps = 100;
            CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
            for (int r = 0; r < reps; r++)
                CHECK_OK(ops[o].fn(&d, st));
            CK(cudaStreamEndCapture(st, &g));
            CK(cudaGraphInstantiate(&ge, g, 0));
            CK(cudaGraphLaunch(ge, st));
            CK(cudaGraphLaunch(ge, st));
            CK(cudaEventRecord(e0, st));
            for (int r = 0; r < 5; r++)
                CK(cudaGraphLaunch(ge, st));
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            fprintf(stderr, "bench: decode op %-36s ctx %4d: %6.2f us per graph node\n", ops[o].name, ctxs[c],
                    ms * 1e3 / (5 * reps));
            cudaGraphExecDestroy(ge);
            cudaGraphDestroy(g);
        }
        cudaFree(d.slot);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaStreamDestroy(st);
    cudaFree(d.x);
    cudaFree(d.q);
    cudaFree(d.qkv);
    cudaFree(d.tiny);
    cudaFree(d.scr);
    cudaFree(d.w);
    cudaFree(d.xn);
    cudaFree(d.att);
    cudaFree(d.kc);
    cudaFree(d.vc);
    cudaFree(d.inv);
    cudaFree(d.pos);
    cudaFree(d.prefix);
}

/* ---- attention time (informational; tests/bench/NOTES-cuda.md) ----------------------------------- */

/* One layer's attention of an 8B verify (60 rows, random tree, 32 q / 8 kv heads, D 128) by
 * context: the CUDA-core layouts and the tensor-core kernel, mean of 50 back-to-back launches
 * (split combine included). */
static void bench_attention(int n_sm)
{
    const int n = 60, H = 32, KV = 8, D = 128, ctxs[] = {128, 1024, 4096, 8192};
    const int max_slots = 8192 + n;
    const size_t kvn = (size_t)max_slots * KV * D;
    uint16_t *kh = rand_bf16(kvn, 1.0f, NULL), *vh = rand_bf16(kvn, 1.0f, NULL);
    float *qh = rand_f32((size_t)n * H * D, 1.5f);
    uint64_t *mask = malloc((size_t)n * FRS_MASK_WORDS(n) * 8);
    rand_tree_mask(n, mask);
    uint16_t *dk = dup_h2d(kh, kvn * 2), *dv = dup_h2d(vh, kvn * 2), *dout = dalloc((size_t)n * H * D * 2);
    float *dq = dup_h2d(qh, (size_t)n * H * D * 4);
    uint64_t *dmask = dup_h2d(mask, (size_t)n * FRS_MASK_WORDS(n) * 8);
    int32_t *dprefix = dalloc(4);
    float *dscr = dalloc(cuda_attention_scratch_floats(n, H, KV, D, n_sm) * 4 + 16);
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const int layouts[] = {CUDA_ATT_SINGLE_ROW, CUDA_ATT_MULTI_ROW, CUDA_ATT_MMA, CUDA_ATT_MMA_BF16};
    for (size_t c = 0; c < sizeof ctxs / sizeof ctxs[0]; c++) {
        CK(cudaMemcpy(dprefix, &ctxs[c], 4, cudaMemcpyHostToDevice));
        double us[4];
        for (int li = 0; li < 4; li++) {
            for (int r = 0; r < 3; r++)
                CHECK_OK(cuda_attention_layout(dq, dk, dv, dprefix, n, dmask, n, H, KV, D, dout, dscr, n_sm,
                                               layouts[li], 0));
            const int reps = 50;
            CK(cudaEventRecord(e0, 0));
            for (int r = 0; r < reps; r++)
                cuda_attention_layout(dq, dk, dv, dprefix, n, dmask, n, H, KV, D, dout, dscr, n_sm, layouts[li], 0);
            CK(cudaEventRecord(e1, 0));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            us[li] = ms * 1e3 / reps;
        }
        fprintf(stderr, "bench: attention n=60 H=32 KV=8 D=128 ctx %4d: CUDA cores single-row %7.1f us, multi-row "
                "%7.1f us | tensor cores 3 bf16 terms %6.1f us, single bf16 %6.1f us (one layer)\n", ctxs[c], us[0],
                us[1], us[2], us[3]);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(dout);
    cudaFree(dq);
    cudaFree(dmask);
    cudaFree(dprefix);
    cudaFree(dscr);
    free(kh);
    free(vh);
    free(qh);
    free(mask);
}

int main(void)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "bench_kernels: no CUDA device\n");
        return TEST_SKIP;
    }
    g_rng = 0x2545f4914f6cdd1dull;
    int dev = 0, n_sm = 0;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev));
    const char *only = getenv("FRS_BENCH");
    if (only && !strcmp(only, "gemm")) {
        bench_gemm();
        CK(cudaDeviceSynchronize());
        return test_finish("bench_kernels");
    }
    bench_attention(n_sm);
    bench_gemv();
    bench_gemm();
    bench_decode_ops(n_sm);
    CK(cudaDeviceSynchronize());
    return test_finish("bench_kernels");
}
