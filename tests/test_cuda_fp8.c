/* test_cuda_fp8.c - the CUDA backend's FP8 path (kernels/cuda_fp8.cu) against the CPU reference:
 *  1. cuda_fp8_gemv (n == 1) vs cpu_matmul on the same FP8 view (e4m3 * per-row or per-tensor
 *     scale, exact in fp32) and the bf16 input: relative error <= 2e-6 per output row (both fp32
 *     sums, different orders; the scale applied once per row on the GPU), beta 0 and 1, widths
 *     with and without the 16-byte path;
 *  1b. cuda_fp8_gemv_swiglu (the decode's MLP) == cuda_fp8_gemv then cuda_swiglu, bit for bit;
 *  2. cuda_fp8_dequant_bf16 == bf16(e4m3 * scale) bit for bit (frs_e4m3_to_f32, frs_f32_to_bf16);
 *  2b. cuda_fp8_gemm_small (n = 2..64, tensor cores), its split-K form in 3 parts and the pipelined kernel
 *      (cuda_fp8_gemm_pipe, whole and split in 3 and 16, with the conversion instructions or the integer
 *      conversion, the splits reduced by a second kernel or in clusters, checked to have run as clusters of
 *      3 on sm_90: the same bits as the first two; the weights uniform over every finite e4m3 code,
 *      subnormals and both zeros included), vs cpu_matmul on the bf16 inputs: error <=
 *     1e-5 of the sum of |terms| per output (fp32 accumulation in another order), row tails,
 *     beta 0 and 1, a strided x;
 *  3. speculative == autoregressive greedy on the CUDA backend with an FP8 target
 *     (models/fp8-ct-channel + spec/head-gqa, and fp8-ct-static whose LM head is FP8), several
 *     tree shapes, full and FR-Spec vocabulary, under fp8_mma 2, 4, 5 and 7 (the split-K and the pipelined
 *     verify kernel, the latter with both conversions; the fixtures' matrices are too small to be split,
 *     so the splits and clusters are checked by 2b only). Verify runs the n > 1 FP8 kernel and decoding the
 *     n == 1 GEMV, so the two differ by summation order: as in test_cuda_spec, a difference is a
 *     near tie (counted, not a failure) only when the two tokens' autoregressive GPU logits are
 *     within 1e-3 of the row's RMS; anything else fails.
 * The whole FP8 models against transformers and the CPU backend: test_cuda_model with the FP8
 * fixtures (test_cuda_fp8_model). Skipped (77) without a CUDA device.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "backend.h"
#include "cpu_ops.h"
#include "cuda_backend.h"
#include "cuda_elementwise.h" /* cuda_swiglu */
#include "cuda_fp8_kernels.h"
#include "draft.h"
#include "model.h"
#include "spec_util.h"
#include "testutil.h"

static uint64_t g_rng = 99;
static uint64_t rnd(void)
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return g_rng >> 11;
}
static float rnd_f(void) { return (float)((double)(rnd() & 0xffffff) / 8388608.0 - 1.0); }

static void *dup_h2d(const void *h, size_t n)
{
    void *d = NULL;
    CHECK(cudaMalloc(&d, n ? n : 16) == cudaSuccess, "cudaMalloc %zu", n);
    CHECK(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice) == cudaSuccess, "H2D");
    return d;
}

static void test_kernels(void)
{
    const int shapes[][2] = {{64, 64},   {128, 64},  {37, 4096},   {1000, 1024}, {5, 200},
                             {33, 24},   {4096, 4096}, {19, 14336}, {7, 1040},  {5, 28672}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int rows = shapes[si][0], cols = shapes[si][1];
        for (int per_row = 0; per_row < 2; per_row++) {
            uint8_t *w = malloc((size_t)rows * cols);
            float *sc = malloc((size_t)rows * sizeof(float)), *sdev = malloc((size_t)rows * sizeof(float));
            uint16_t *xb = malloc((size_t)cols * 2);
            float *x = malloc((size_t)cols * 4), *ref = malloc((size_t)rows * 4), *got = malloc((size_t)rows * 4);
            for (size_t i = 0; i < (size_t)rows * cols; i++) {
                w[i] = (uint8_t)(rnd() & 0xff);
                if ((w[i] & 0x7f) == 0x7f) /* no NaN codes */
                    w[i] ^= 1;
            }
            for (int r = 0; r < rows; r++)
                sc[r] = per_row ? 0.001f * (1.0f + (float)(rnd() % 1000) / 100.0f) : 0.0037f;
            for (int r = 0; r < rows; r++)
                sdev[r] = sc[per_row ? r : 0];
            /* x at 1, 2^20 and 2^-20 */
            const float xmag = si % 3 == 1 ? 1048576.0f : si % 3 == 2 ? 1.0f / 1048576.0f : 1.0f;
            for (int c = 0; c < cols; c++) {
                xb[c] = frs_f32_to_bf16(rnd_f() * xmag);
                x[c] = frs_bf16_to_f32(xb[c]);
            }
            const struct frs_mat W = {.dtype = FRS_DTYPE_F8_E4M3, .rows = rows, .cols = cols, .ld = cols, .data = w,
                                      .scale = sc, .scale_dtype = FRS_DTYPE_F32, .scale_per_row = per_row};
            cpu_matmul(x, 1, &W, ref);
            uint8_t *dw = dup_h2d(w, (size_t)rows * cols);
            float *ds = dup_h2d(sdev, (size_t)rows * 4), *dy = dup_h2d(ref, (size_t)rows * 4);
            uint16_t *dx = dup_h2d(xb, (size_t)cols * 2);
            for (int bu = 0; bu < 4; bu++) {
                /* beta 1 adds onto y = ref: expect 2 * ref; both unrolls */
                const int beta = bu & 1, unroll = bu < 2 ? 4 : 8;
                if (beta) /* beta 0: a marker (NaN) that an unwritten output would keep */
                    CHECK(cudaMemcpy(dy, ref, (size_t)rows * 4, cudaMemcpyHostToDevice) == cudaSuccess, "H2D");
                else
                    CHECK(cudaMemset(dy, 0xff, (size_t)rows * 4) == cudaSuccess, "memset");
                CHECK_OK(cuda_fp8_gemv(dx, dw, ds, rows, cols, dy, (float)beta, beta, unroll, NULL)); /* with and without PDL */
                CHECK(cudaMemcpy(got, dy, (size_t)rows * 4, cudaMemcpyDeviceToHost) == cudaSuccess, "D2H");
                double worst = 0;
                for (int r = 0; r < rows; r++) {
                    const double want = (beta + 1.0) * ref[r];
                    double rowmax = 0; /* error relative to the sum of |terms| (cancellation) */
                    for (int c = 0; c < cols; c++)
                        rowmax += fabs((double)x[c] * frs_e4m3_to_f32(w[(size_t)r * cols + c]) * sc[per_row ? r : 0]);
                    const double e = fabs(got[r] - want) / (rowmax > 0 ? rowmax : 1);
                    worst = !(e <= worst) ? e : worst; /* a NaN (unwritten output) sticks */
                }
                CHECK(worst <= 2e-6, "fp8 gemv %dx%d per_row %d beta %d unroll %d: worst error %.3g of the row's "
                      "|terms| sum", rows, cols, per_row, beta, unroll, worst);
            }
            /* the decode's gate/up GEMV fused with SwiGLU == the GEMV then cuda_swiglu, bit for bit (rows as
             * the stacked gate and up halves) */
            if (rows % 2 == 0) {
                const int F = rows / 2;
                uint16_t *da = NULL, *da2 = NULL, *ha = malloc((size_t)F * 2), *ha2 = malloc((size_t)F * 2);
                CHECK(cudaMalloc((void **)&da, (size_t)F * 2) == cudaSuccess, "malloc");
                CHECK(cudaMalloc((void **)&da2, (size_t)F * 2) == cudaSuccess, "malloc");
                for (int ui = 0; ui < 4; ui++) { /* both unrolls, with and without PDL */
                    const int unroll = ui < 2 ? 4 : 8;
                    CHECK_OK(cuda_fp8_gemv(dx, dw, ds, rows, cols, dy, 0.0f, 1, unroll, NULL));
                    CHECK_OK(cuda_swiglu(dy, dy + F, 1, F, rows, da2, F, NULL));
                    CHECK(cudaMemset(da, 0xff, (size_t)F * 2) == cudaSuccess, "memset");
                    CHECK_OK(cuda_fp8_gemv_swiglu(dx, dw, ds, F, cols, da, ui & 1, unroll, NULL));
                    CHECK(cudaMemcpy(ha, da, (size_t)F * 2, cudaMemcpyDeviceToHost) == cudaSuccess, "D2H");
                    CHECK(cudaMemcpy(ha2, da2, (size_t)F * 2, cudaMemcpyDeviceToHost) == cudaSuccess, "D2H");
                    CHECK(memcmp(ha, ha2, (size_t)F * 2) == 0, "fp8 gemv+swiglu %dx%d per_row %d unroll %d differs "
                          "from the GEMV then SwiGLU", rows, cols, per_row, unroll);
                }
                cudaFree(da);
                cudaFree(da2);
                free(ha);
                free(ha2);
            }
            /* dequantize */
            uint16_t *dq = NULL, *hq = malloc((size_t)rows * cols * 2);
            CHECK(cudaMalloc((void **)&dq, (size_t)rows * cols * 2) == cudaSuccess, "malloc");
            CHECK_OK(cuda_fp8_dequant_bf16(dw, ds, rows, cols, dq, NULL));
            CHECK(cudaMemcpy(hq, dq, (size_t)rows * cols * 2, cudaMemcpyDeviceToHost) == cudaSuccess, "D2H");
            size_t bad = 0;
            for (size_t i = 0; i < (size_t)rows * cols; i++)
                bad += hq[i] != frs_f32_to_bf16(frs_e4m3_to_f32(w[i]) * sdev[i / (size_t)cols]);
            CHECK(bad == 0, "fp8 dequant %dx%d: %zu of %zu bf16 values differ", rows, cols, bad, (size_t)rows * cols);
            cudaFree(dq);
            cudaFree(dw);
            cudaFree(ds);
            cudaFree(dy);
            cudaFree(dx);
            free(hq);
            free(w);
            free(sc);
            free(sdev);
            free(xb);
            free(x);
            free(ref);
            free(got);
        }
    }
}

static void test_gemm_small(void)
{
    const int shapes[][2] = {{128, 64}, {37, 4096}, {1000, 1024}, {200, 128}};
    const int ns[] = {2, 3, 8, 17, 60, 64};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int rows = shapes[si][0], cols = shapes[si][1], ldx = cols + 64;
        uint8_t *w = malloc((size_t)rows * cols);
        float *sc = malloc((size_t)rows * 4);
        for (size_t i = 0; i < (size_t)rows * cols; i++) {
            w[i] = (uint8_t)(rnd() & 0xff);
            if ((w[i] & 0x7f) == 0x7f)
                w[i] ^= 1;
        }
        for (int r = 0; r < rows; r++)
            sc[r] = 0.001f * (1.0f + (float)(rnd() % 1000) / 100.0f);
        const struct frs_mat W = {.dtype = FRS_DTYPE_F8_E4M3, .rows = rows, .cols = cols, .ld = cols, .data = w,
                                  .scale = sc, .scale_dtype = FRS_DTYPE_F32, .scale_per_row = 1};
        uint8_t *dw = dup_h2d(w, (size_t)rows * cols);
        float *ds = dup_h2d(sc, (size_t)rows * 4);
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            const int n = ns[ni];
            uint16_t *xb = calloc((size_t)n * ldx, 2);
            float *x = malloc((size_t)n * cols * 4), *ref = malloc((size_t)n * rows * 4), *got = malloc((size_t)n * rows * 4);
            /* tokens at magnitudes 1, 2^20, 2^-20 and, the last of n > 2, all zeros */
            for (int i = 0; i < n; i++) {
                const float mag = n > 2 && i == n - 1 ? 0.0f : i % 3 == 1 ? 1048576.0f : i % 3 == 2 ? 1.0f / 1048576.0f
                                                                                                 : 1.0f;
                for (int c = 0; c < cols; c++) {
                    xb[(size_t)i * ldx + c] = frs_f32_to_bf16(rnd_f() * mag);
                    x[(size_t)i * cols + c] = frs_bf16_to_f32(xb[(size_t)i * ldx + c]);
                }
            }
            cpu_matmul(x, n, &W, ref);
            uint16_t *dx = dup_h2d(xb, (size_t)n * ldx * 2);
            float *dy = dup_h2d(ref, (size_t)n * rows * 4);
            CHECK(cuda_fp8_mma_ok(n, cols, dx, ldx), "fp8 mma qualifies for n %d cols %d", n, cols);
            float *dpart = NULL;
            CHECK(cudaMalloc((void **)&dpart, (size_t)16 * n * rows * 4) == cudaSuccess, "scratch");
            /* the error bound's scale: the sum of |terms| of every output */
            double *mag = calloc((size_t)n * rows, sizeof *mag);
            for (int i = 0; i < n; i++)
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                        mag[(size_t)i * rows + r] +=
                            fabs((double)x[(size_t)i * cols + c] * frs_e4m3_to_f32(w[(size_t)r * cols + c]) * sc[r]);
            /* variants: beta 0 / 1; K whole, in 3 parts (cols >= 192) or in 16 (cols >= 1024: clusters above
             * the portable 8); fp8_mma_kernel (pipe 0) or cuda_fp8_gemm_pipe with flags pipe - 1
             * (FP8_PIPE_INT_CVT, FP8_PIPE_CLUSTER), which must give fp8_mma_kernel's bits: same fragments, K
             * order, split ranges and sums */
            static const int split_of[3] = {1, 3, 16};
            const int nsplit = cols >= 1024 ? 3 : cols >= 192 ? 2 : 1;
            float *first[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
            int cc_major = 0;
            cudaDeviceGetAttribute(&cc_major, cudaDevAttrComputeCapabilityMajor, 0);
            for (int variant = 0; variant < 5 * 3 * 2; variant++) {
                const int beta = variant & 1, si = (variant >> 1) % 3, pipe = (variant >> 1) / 3;
                const int splits = split_of[si];
                if (si >= nsplit)
                    continue;
                /* beta 1 reads y (ref: the result is 2 ref); beta 0 must write every output: poisoned with NaN */
                if (beta)
                    CHECK(cudaMemcpy(dy, ref, (size_t)n * rows * 4, cudaMemcpyHostToDevice) == cudaSuccess, "H2D");
                else
                    CHECK(cudaMemset(dy, 0xff, (size_t)n * rows * 4) == cudaSuccess, "poison");
                /* the cluster path leaves the partials' scratch alone: a sentinel tells whether it ran */
                const int clustered = pipe >= 3 && splits > 1;
                if (clustered)
                    CHECK(cudaMemset(dpart, 0x5a, (size_t)splits * n * rows * 4) == cudaSuccess, "sentinel");
                if (pipe)
                    CHECK_OK(cuda_fp8_gemm_pipe(dx, ldx, n, dw, ds, rows, cols, dy, rows, (float)beta, splits,
                                                splits > 1 ? dpart : NULL, pipe - 1, NULL));
                else if (splits > 1)
                    CHECK_OK(cuda_fp8_gemm_small_splitk(dx, ldx, n, dw, ds, rows, cols, dy, rows, (float)beta, splits,
                                                        dpart, NULL));
                else
                    CHECK_OK(cuda_fp8_gemm_small(dx, ldx, n, dw, ds, rows, cols, dy, rows, (float)beta, NULL));
                CHECK(cudaDeviceSynchronize() == cudaSuccess, "fp8 mma kernel ran");
                CHECK(cudaMemcpy(got, dy, (size_t)n * rows * 4, cudaMemcpyDeviceToHost) == cudaSuccess, "D2H");
                if (clustered) {
                    const size_t bytes = (size_t)splits * n * rows * 4;
                    unsigned char *h = malloc(bytes);
                    CHECK(cudaMemcpy(h, dpart, bytes, cudaMemcpyDeviceToHost) == cudaSuccess, "D2H");
                    size_t touched = 0;
                    for (size_t b = 0; b < bytes; b++)
                        touched += h[b] != 0x5a;
                    free(h);
                    /* clusters of 3 fit every sm_90 device; 16 (non-portable) may be refused: reported */
                    if (cc_major >= 9 && splits <= 8)
                        CHECK(touched == 0, "fp8 pipelined kernel (flags %d) %dx%d n %d split-K %d: the splits were "
                              "not reduced in clusters on a compute capability %d device", pipe - 1, rows, cols, n,
                              splits, cc_major);
                    else if (n == 64 && beta == 0)
                        fprintf(stderr, "fp8 pipelined kernel (flags %d) %dx%d split-K %d: %s\n", pipe - 1, rows, cols,
                                splits, touched ? "reduced through the partials" : "reduced in clusters");
                }
                float **f = &first[si * 2 + beta];
                if (!pipe) {
                    *f = malloc((size_t)n * rows * 4);
                    memcpy(*f, got, (size_t)n * rows * 4);
                } else if (*f) {
                    CHECK(memcmp(*f, got, (size_t)n * rows * 4) == 0,
                          "fp8 pipelined kernel (flags %d) %dx%d n %d beta %d split-K %d: the same bits as "
                          "fp8_mma_kernel", pipe - 1, rows, cols, n, beta, splits);
                }
                double worst = 0;
                for (size_t o = 0; o < (size_t)n * rows; o++) {
                    const double want = (beta + 1.0) * ref[o];
                    const double e = fabs(got[o] - want) / (mag[o] > 0 ? mag[o] : 1);
                    worst = !(e <= worst) ? e : worst; /* a NaN (unwritten output) sticks */
                }
                CHECK(worst <= 1e-5, "fp8 %s (flags %d) %dx%d n %d beta %d split-K %d: worst error %.3g of the |terms| sum",
                      pipe ? "pipelined" : "mma", pipe - 1, rows, cols, n, beta, splits, worst);
            }
            free(mag);
            for (int v = 0; v < 6; v++)
                free(first[v]);
            cudaFree(dpart);
            cudaFree(dx);
            cudaFree(dy);
            free(xb);
            free(x);
            free(ref);
            free(got);
        }
        cudaFree(dw);
        cudaFree(ds);
        free(w);
        free(sc);
    }
}


/* spec_make_backend's CUDA backend with the FP8 verify kernel fp8_mma (2: fp8_mma_kernel split over K,
 * 4: the pipelined kernel) */
static enum frs_status fp8_backend(struct frs_backend *be, const struct llama_model *m, const struct eagle_draft *d,
                                   int fp8_mma)
{
    struct frs_backend_options o = frs_backend_options_default();
    o.fp8_mma = fp8_mma;
    return spec_make_backend_opt(be, &frs_backend_cuda_ops, m, d, 256, &o);
}

static void test_spec(const char *target_rel, int fp8_mma)
{
    struct llama_model m;
    CHECK_OK(llama_model_load(&m, test_fixture(target_rel), 0, 1));
    const int V = m.cfg.vocab_size;
    enum { NP = 4, NN = SPEC_N_NEW };
    struct spec_prompt prompts[NP];
    spec_fill_prompts(prompts, NP, V);
    const struct frs_sampling greedy = {0.0f, 1.0f, 0, 0};
    int32_t ar[NP][NN];
    struct frs_backend be;
    CHECK_OK(fp8_backend(&be, &m, NULL, fp8_mma));
    for (int i = 0; i < NP; i++) {
        struct frs_gen_stats st;
        CHECK_OK(spec_generate(&be, prompts[i].ids, prompts[i].n, &greedy, NULL, NN, ar[i], &st));
    }
    struct frs_backend arbe = be; /* kept for the near-tie gaps */
    int32_t *ids = malloc((size_t)V * sizeof(int32_t));
    spec_fr_list(V, prompts, NP, &ar[0][0], NN, ids);
    int runs = 0, same = 0, near = 0;
    for (int vi = 0; vi < SPEC_N_VOCABS; vi++) {
        const int K = SPEC_VOCABS[vi];
        struct eagle_draft d;
        CHECK_OK(eagle_draft_load(&d, test_fixture("spec/head-gqa"), &m));
        if (K)
            CHECK_OK(eagle_draft_set_vocab(&d, &m, ids, V, K));
        CHECK_OK(fp8_backend(&be, &m, &d, fp8_mma));
        for (int si = 0; si < SPEC_N_SHAPES; si++) {
            struct frs_tree_params p = SPEC_SHAPES[si];
            if (K && p.topk > K)
                p.topk = K;
            for (int i = 0; i < NP; i++) {
                int32_t out[NN];
                struct frs_gen_stats st;
                CHECK_OK(spec_generate(&be, prompts[i].ids, prompts[i].n, &greedy, &p, NN, out, &st));
                const int fd = spec_first_diff(out, st.n_tokens, ar[i], NN);
                if (fd >= 0 && fd < st.n_tokens) {
                    double rms = 0;
                    const double gap = spec_ar_gap(&arbe, &prompts[i], ar[i], fd, out[fd], ar[i][fd], V,
                                                   cuda_backend_logits, &rms);
                    near += gap <= 1e-3 * rms;
                    CHECK(gap <= 1e-3 * rms, "%s (CUDA, fp8_mma %d) K=%d tree %d/%d/%d prompt %d: speculative differs "
                          "from autoregressive at %d (%d vs %d, AR logit gap %.4g, row rms %.3g)", target_rel, fp8_mma, K, p.depth,
                          p.topk, p.size, i, fd, out[fd], ar[i][fd], gap, rms);
                } else {
                    CHECK(fd < 0, "%s (CUDA): speculative produced %d tokens, expected %d", target_rel, st.n_tokens, NN);
                }
                same += fd < 0;
                runs++;
            }
        }
        be.ops->destroy(&be);
        eagle_draft_free(&d);
    }
    fprintf(stderr, "%s (CUDA, FP8 weights, fp8_mma %d): speculative == autoregressive in %d of %d runs, %d stopped "
            "at a near tie\n", target_rel, fp8_mma, same, runs, near);
    arbe.ops->destroy(&arbe);
    free(ids);
    llama_model_free(&m);
}

int main(void)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "test_cuda_fp8: no CUDA device, skipped\n");
        return TEST_SKIP;
    }
    test_kernels();
    test_gemm_small();
    /* the split-K kernel; the pipelined one; it with the integer conversion; and with its splits as clusters */
    const int mmas[] = {2, 4, 5, 7};
    for (size_t i = 0; i < sizeof mmas / sizeof mmas[0]; i++) {
        const int mma = mmas[i];
        test_spec("models/fp8-ct-channel", mma);
        test_spec("models/fp8-ct-static", mma);
    }
    return test_finish("test_cuda_fp8");
}
