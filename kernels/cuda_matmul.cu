/* cuda_matmul.cu - matrix products of bf16 weights (cuda_matmul.h): the per-rank cuBLAS context,
 * the n == 1 GEMV kernels (plain and fused with SwiGLU, programmatic dependent launch optional),
 * and cuda_matmul: the GEMV at n == 1, else cuBLASLt with an algorithm chosen once per shape and
 * cached (the descriptors are built once per shape, never per call), cublasGemmEx as fallback.
 */
#include "cuda_common.cuh"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda_matmul.h"

/* ---- the cuBLAS context ------------------------------------------------------------------------ */

extern "C" enum frs_status cuda_blas_create(struct cuda_blas *b, cudaStream_t stream, int cublaslt, int pdl)
{
    memset(b, 0, sizeof *b);
    b->pdl = pdl != 0;
    b->fp8_gemv_unroll = 4;
    b->fp8_mma = 4;
    b->lt_time = 1;
    int dev = 0;
    cudaError_t ce = cudaGetDevice(&dev);
    if (ce == cudaSuccess)
        ce = cudaDeviceGetAttribute(&b->n_sm, cudaDevAttrMultiProcessorCount, dev);
    if (ce != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "cuda_blas_create: device query failed: %s", cudaGetErrorString(ce));
    cublasHandle_t h;
    cublasStatus_t bs = cublasCreate(&h);
    if (bs != CUBLAS_STATUS_SUCCESS)
        return FRS_ERR(FRS_ERR_CUBLAS, "cuda_blas_create: cublasCreate failed (status %d)", (int)bs);
    b->handle = h;
    b->stream = stream;
    b->workspace_bytes = (size_t)32 << 20;
    ce = cudaMalloc(&b->workspace, b->workspace_bytes);
    if (ce != cudaSuccess) {
        cublasDestroy(h);
        b->handle = NULL;
        return FRS_ERR(FRS_ERR_OOM, "cuda_blas_create: cannot allocate the %zu MiB cuBLAS workspace: %s",
                       b->workspace_bytes >> 20, cudaGetErrorString(ce));
    }
    if ((bs = cublasSetStream(h, stream)) != CUBLAS_STATUS_SUCCESS ||
        (bs = cublasSetWorkspace(h, b->workspace, b->workspace_bytes)) != CUBLAS_STATUS_SUCCESS ||
        (bs = cublasSetMathMode(h, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
        cuda_blas_free(b);
        return FRS_ERR(FRS_ERR_CUBLAS, "cuda_blas_create: cuBLAS setup failed (status %d)", (int)bs);
    }
    if (cublaslt) {
        cublasLtHandle_t lt;
        if (cublasLtCreate(&lt) == CUBLAS_STATUS_SUCCESS)
            b->lt = lt; /* else: GemmEx only */
    }
    return FRS_OK;
}

static void lt_cache_free(struct cuda_blas *b);

extern "C" void cuda_blas_free(struct cuda_blas *b)
{
    lt_cache_free(b);
    if (b->lt)
        cublasLtDestroy((cublasLtHandle_t)b->lt);
    if (b->lt_scratch)
        cudaFree(b->lt_scratch);
    if (b->handle)
        cublasDestroy((cublasHandle_t)b->handle);
    if (b->workspace)
        cudaFree(b->workspace);
    memset(b, 0, sizeof *b);
}

/* ---- n == 1: GEMV ----------------------------------------------------------------------------- */

/* 8 bf16 packed in a uint4 dotted with 8 bf16 */
static __device__ __forceinline__ float dot8_bf16(uint4 a, uint4 b)
{
    float s = 0.0f;
    const uint32_t av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        s = fmaf(__uint_as_float(av[i] << 16), __uint_as_float(bv[i] << 16), s);
        s = fmaf(__uint_as_float(av[i] & 0xffff0000u), __uint_as_float(bv[i] & 0xffff0000u), s);
    }
    return s;
}

#define GEMV_WARPS 8
#define GEMV_UNROLL 4

/* the launch of a GEMV kernel: GEMV_WARPS warps per block, the PDL attribute when pdl */
static cudaLaunchConfig_t gemv_cfg(int blocks, int pdl, cudaStream_t st, cudaLaunchAttribute *at)
{
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(blocks);
    cfg.blockDim = dim3(GEMV_WARPS * 32);
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = pdl ? 1 : 0;
    return cfg;
}

/* One warp per output row; each lane streams 16-byte chunks of the row (evict-first loads),
 * GEMV_UNROLL loads in flight, x (small, L1/L2 resident) through the read-only path. The first
 * weight loads are issued before pdl_wait (weights never depend on the kernel before). */
__global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_bf16_kernel(const uint16_t *__restrict__ x,
                                                                    const uint16_t *__restrict__ w, int rows,
                                                                    int cols, float *__restrict__ y, float beta)
{
    pdl_trigger();
    const int row = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    const bool active = row < rows;
    const uint4 *wr = reinterpret_cast<const uint4 *>(w + (size_t)(active ? row : 0) * cols);
    const int nv = cols >> 3;
    float acc = 0.0f;
    int k = lane;
    uint4 wv[GEMV_UNROLL];
    bool full = active && k + 32 * (GEMV_UNROLL - 1) < nv;
    if (full) {
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++)
            wv[u] = __ldcs(wr + k + 32 * u);
    }
    pdl_wait(); /* x and y belong to the kernels before */
    const uint4 *xv = reinterpret_cast<const uint4 *>(x);
    if (!active)
        return;
    while (full) {
        uint4 xx[GEMV_UNROLL];
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++)
            xx[u] = __ldg(xv + k + 32 * u);
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++)
            acc += dot8_bf16(wv[u], xx[u]);
        k += 32 * GEMV_UNROLL;
        full = k + 32 * (GEMV_UNROLL - 1) < nv;
        if (full) {
#pragma unroll
            for (int u = 0; u < GEMV_UNROLL; u++)
                wv[u] = __ldcs(wr + k + 32 * u);
        }
    }
    for (; k < nv; k += 32)
        acc += dot8_bf16(__ldcs(wr + k), __ldg(xv + k));
    acc = warp_sum(acc);
    if (lane == 0)
        y[row] = beta != 0.0f ? fmaf(beta, y[row], acc) : acc;
}

extern "C" enum frs_status cuda_gemv_bf16(const uint16_t *x, const uint16_t *w, int rows, int cols, float *y,
                                          float beta, int pdl, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0 || cols % 8 || ((uintptr_t)x | (uintptr_t)w) % 16)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_gemv_bf16: rows %d, cols %d (need cols %% 8 == 0, 16-byte "
                       "aligned x and w)", rows, cols);
    cudaLaunchAttribute at[1];
    const cudaLaunchConfig_t cfg = gemv_cfg((rows + GEMV_WARPS - 1) / GEMV_WARPS, pdl, st, at);
    FRS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, gemv_bf16_kernel, x, w, rows, cols, y, beta));
    FRS_LAUNCH_CHECK(gemv_bf16_kernel);
    return FRS_OK;
}

/* gate/up GEMV fused with SwiGLU (n == 1): warp j reads gate row j and up row F + j of the
 * stacked (2F, cols) matrix with the same lane/unroll order as gemv_bf16_kernel (so each dot
 * product is bit-identical to it) and writes act[j] = bf16(silu(g) * u) as swiglu_kernel does. */
__global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_swiglu_kernel(const uint16_t *__restrict__ x,
                                                                      const uint16_t *__restrict__ w, int F, int cols,
                                                                      uint16_t *__restrict__ act)
{
    pdl_trigger();
    const int row = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    const bool active = row < F;
    const uint4 *wg = reinterpret_cast<const uint4 *>(w + (size_t)(active ? row : 0) * cols);
    const uint4 *wu = reinterpret_cast<const uint4 *>(w + (size_t)(F + (active ? row : 0)) * cols);
    const int nv = cols >> 3;
    float ag = 0.0f, au = 0.0f;
    int k = lane;
    uint4 gv[GEMV_UNROLL], uv[GEMV_UNROLL];
    bool full = active && k + 32 * (GEMV_UNROLL - 1) < nv;
    if (full) {
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++) {
            gv[u] = __ldcs(wg + k + 32 * u);
            uv[u] = __ldcs(wu + k + 32 * u);
        }
    }
    pdl_wait(); /* x belongs to the kernel before; act may still be read by it */
    const uint4 *xv = reinterpret_cast<const uint4 *>(x);
    if (!active)
        return;
    while (full) {
        uint4 xx[GEMV_UNROLL];
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++)
            xx[u] = __ldg(xv + k + 32 * u);
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++) {
            ag += dot8_bf16(gv[u], xx[u]);
            au += dot8_bf16(uv[u], xx[u]);
        }
        k += 32 * GEMV_UNROLL;
        full = k + 32 * (GEMV_UNROLL - 1) < nv;
        if (full) {
#pragma unroll
            for (int u = 0; u < GEMV_UNROLL; u++) {
                gv[u] = __ldcs(wg + k + 32 * u);
                uv[u] = __ldcs(wu + k + 32 * u);
            }
        }
    }
    for (; k < nv; k += 32) {
        const uint4 xx = __ldg(xv + k);
        ag += dot8_bf16(__ldcs(wg + k), xx);
        au += dot8_bf16(__ldcs(wu + k), xx);
    }
    ag = warp_sum(ag);
    au = warp_sum(au);
    if (lane == 0)
        act[row] = swiglu_bf16(ag, au);
}

extern "C" enum frs_status cuda_gemv_swiglu(const uint16_t *x, const uint16_t *w, int F, int cols, uint16_t *act,
                                            int pdl, cudaStream_t st)
{
    if (F <= 0 || cols <= 0 || cols % 8 || ((uintptr_t)x | (uintptr_t)w) % 16)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_gemv_swiglu: F %d, cols %d (need cols %% 8 == 0, 16-byte aligned x "
                       "and w)", F, cols);
    cudaLaunchAttribute at[1];
    const cudaLaunchConfig_t cfg = gemv_cfg((F + GEMV_WARPS - 1) / GEMV_WARPS, pdl, st, at);
    FRS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, gemv_swiglu_kernel, x, w, F, cols, act));
    FRS_LAUNCH_CHECK(gemv_swiglu_kernel);
    return FRS_OK;
}

/* ---- cuBLASLt with a per-shape algorithm (n > 1) ------------------------------------------- */

extern "C" int cuda_rows_bucket(int n)
{
    if (n <= 16) {
        int p = 1;
        while (p < n)
            p <<= 1;
        return p;
    }
    const int q = n <= 128 ? 16 : n <= 1024 ? 64 : 256;
    return (n + q - 1) / q * q;
}

#define LT_CANDIDATES 12
#define LT_TIMED_RUNS 4
/* weights smaller than this take cuBLASLt's first heuristic choice untimed. Timing 12 candidates costs
 * host syncs and lazily loaded kernels per shape (~28 ms a round for the default pair's 16 MB LM head,
 * H100), and below ~16 MiB (~5.5 us of weights at 3 TB/s, about the host cost of one cublasLtMatmul
 * call) the back-to-back timed runs measure their launches more than the kernels: the heuristic's
 * choice beat the timed one for such GEMMs inside graphs (the default pair's draft, H200,
 * tests/bench/NOTES-cuda.md). Was 4 MiB until 2026-12-07; of the bench's shapes only the 1B's qkv
 * (12 MiB) and o (8 MiB) moved under it. */
#define LT_TIME_MIN_BYTES ((size_t)16 << 20)

struct cuda_lt_entry {
    int n, rows, cols, ldx, ldy;
    uint32_t al_a, al_b, al_c; /* alignment (bytes, <= 256) of W, X, Y and their row strides */
    int ok; /* 0: no algorithm, use GemmEx */
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, bl, c;
    cublasLtMatmulAlgo_t algo;
    float us; /* measured time of the chosen algorithm, -1 when untimed (chosen under capture) */
};

static void lt_cache_free(struct cuda_blas *b)
{
    struct cuda_lt_entry *e = (struct cuda_lt_entry *)b->lt_cache;
    for (int i = 0; i < b->lt_count; i++) {
        if (e[i].op)
            cublasLtMatmulDescDestroy(e[i].op);
        if (e[i].a)
            cublasLtMatrixLayoutDestroy(e[i].a);
        if (e[i].bl)
            cublasLtMatrixLayoutDestroy(e[i].bl);
        if (e[i].c)
            cublasLtMatrixLayoutDestroy(e[i].c);
    }
    free(b->lt_cache);
    b->lt_cache = NULL;
    b->lt_count = b->lt_cap = 0;
}

/* host seconds (CLOCK_MONOTONIC): the time spent choosing algorithms */
static double lt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the largest power of two (<= 256) dividing the address and the row stride in bytes */
static uint32_t lt_align(const void *p, size_t ld_bytes)
{
    const uint64_t v = (uint64_t)(uintptr_t)p | (uint64_t)ld_bytes | 256u;
    return (uint32_t)(v & (~v + 1));
}

static cublasStatus_t lt_run(struct cuda_blas *b, const struct cuda_lt_entry *e, const cublasLtMatmulAlgo_t *algo,
                             const uint16_t *x, const uint16_t *w, float *y, float beta)
{
    const float alpha = 1.0f;
    return cublasLtMatmul((cublasLtHandle_t)b->lt, e->op, &alpha, w, e->a, x, e->bl, &beta, y, e->c, y, e->c, algo,
                          b->workspace, b->workspace_bytes, b->stream);
}

static void lt_choose(struct cuda_blas *b, struct cuda_lt_entry *e, const uint16_t *x, int ldx, int n,
                      const uint16_t *w, int rows, int cols, int ldy);

/* Build the descriptors of a shape and choose its algorithm (see cuda_matmul). */
static struct cuda_lt_entry *lt_entry(struct cuda_blas *b, const uint16_t *x, int ldx, int n, const uint16_t *w,
                                      int rows, int cols, const float *y, int ldy)
{
    const uint32_t al_a = lt_align(w, (size_t)cols * 2), al_b = lt_align(x, (size_t)ldx * 2),
                   al_c = lt_align(y, (size_t)ldy * 4);
    struct cuda_lt_entry *c = (struct cuda_lt_entry *)b->lt_cache;
    for (int i = 0; i < b->lt_count; i++)
        if (c[i].n == n && c[i].rows == rows && c[i].cols == cols && c[i].ldx == ldx && c[i].ldy == ldy &&
            c[i].al_a == al_a && c[i].al_b == al_b && c[i].al_c == al_c)
            return &c[i];
    if (b->lt_count == b->lt_cap) {
        const int cap = b->lt_cap ? 2 * b->lt_cap : 64;
        if (cap > 4096)
            return NULL;
        void *nc = realloc(b->lt_cache, (size_t)cap * sizeof(struct cuda_lt_entry));
        if (!nc)
            return NULL;
        b->lt_cache = nc;
        b->lt_cap = cap;
        c = (struct cuda_lt_entry *)nc;
    }
    const double t0 = lt_now();
    struct cuda_lt_entry *e = &c[b->lt_count++];
    memset(e, 0, sizeof *e);
    e->n = n, e->rows = rows, e->cols = cols, e->ldx = ldx, e->ldy = ldy, e->us = -1.0f;
    e->al_a = al_a, e->al_b = al_b, e->al_c = al_c;
    lt_choose(b, e, x, ldx, n, w, rows, cols, ldy);
    b->lt_seconds += lt_now() - t0;
    return e;
}

/* the row-count classes within which a timed algorithm is reused (lt_reuse) */
static int lt_class(int n) { return n <= 16 ? 0 : n <= 64 ? 1 : n <= 256 ? 2 : n <= 1024 ? 3 : 4; }

/* An algorithm chosen for e's weight shape at another row count of the same class (same strides and
 * alignments; a timed one when `timed`) that cuBLASLt accepts for e's: a continuous batch meets its
 * GEMM shapes at dozens of row counts (buckets), each heuristic query costs ~0.6 ms of host time and
 * each timing round launches 12 candidates, most of them kernels not loaded yet (the default pair's
 * 512-prompt job at --batch 64 met 106 shapes: 60-195 ms of choosing in a 0.5 s job, H100).
 * 1 when e->algo was set so. */
static int lt_reuse(struct cuda_blas *b, struct cuda_lt_entry *e, int timed)
{
    const struct cuda_lt_entry *c = (const struct cuda_lt_entry *)b->lt_cache;
    for (int i = 0; i < b->lt_count; i++) {
        const struct cuda_lt_entry *o = &c[i];
        if (o == e || !o->ok || (timed && o->us < 0) || o->rows != e->rows || o->cols != e->cols || o->ldx != e->ldx ||
            o->ldy != e->ldy || o->al_a != e->al_a || o->al_b != e->al_b || o->al_c != e->al_c ||
            lt_class(o->n) != lt_class(e->n))
            continue;
        cublasLtMatmulHeuristicResult_t r;
        memset(&r, 0, sizeof r);
        const double t0 = lt_now();
        const cublasStatus_t cs =
            cublasLtMatmulAlgoCheck((cublasLtHandle_t)b->lt, e->op, e->a, e->bl, e->c, e->c, &o->algo, &r);
        b->lt_check_seconds += lt_now() - t0;
        if (cs != CUBLAS_STATUS_SUCCESS || r.workspaceSize > b->workspace_bytes)
            continue;
        e->algo = o->algo;
        e->ok = 1;
        return 1;
    }
    return 0;
}

/* e's descriptors and algorithm: one chosen at another row count (lt_reuse, b->lt_time 1: a timed one
 * for the weights that are timed), else the heuristic's first, or the fastest of its candidates timed */
static void lt_choose(struct cuda_blas *b, struct cuda_lt_entry *e, const uint16_t *x, int ldx, int n,
                      const uint16_t *w, int rows, int cols, int ldy)
{
    const uint32_t al_a = e->al_a, al_b = e->al_b, al_c = e->al_c;
    /* column-major: Y^T (rows x n, ld ldy) = op(W) (rows x cols) * X^T (cols x n, ld ldx) with
     * W stored as (cols x rows, ld cols) and transposed */
    const cublasOperation_t tA = CUBLAS_OP_T, tB = CUBLAS_OP_N;
    if (cublasLtMatmulDescCreate(&e->op, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_TRANSA, &tA, sizeof tA) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_TRANSB, &tB, sizeof tB) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatrixLayoutCreate(&e->a, CUDA_R_16BF, cols, rows, cols) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatrixLayoutCreate(&e->bl, CUDA_R_16BF, cols, n, ldx) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatrixLayoutCreate(&e->c, CUDA_R_32F, rows, n, ldy) != CUBLAS_STATUS_SUCCESS)
        return; /* ok = 0 */
    if (b->lt_time == 1 && lt_reuse(b, e, (size_t)rows * cols * 2 >= LT_TIME_MIN_BYTES)) {
        b->lt_reused++;
        return;
    }
    cublasLtMatmulPreference_t pref;
    if (cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS)
        return;
    const size_t ws = b->workspace_bytes;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c);
    cublasLtMatmulHeuristicResult_t res[LT_CANDIDATES];
    int nres = 0;
    cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic((cublasLtHandle_t)b->lt, e->op, e->a, e->bl, e->c, e->c, pref,
                                                       LT_CANDIDATES, res, &nres);
    cublasLtMatmulPreferenceDestroy(pref);
    if (hs != CUBLAS_STATUS_SUCCESS || nres <= 0)
        return;
    e->algo = res[0].algo;
    e->ok = 1;
    if (!b->lt_time || (size_t)rows * cols * 2 < LT_TIME_MIN_BYTES)
        return;
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(b->stream, &cap) != cudaSuccess || cap != cudaStreamCaptureStatusNone || nres == 1)
        return;
    /* time the candidates on a scratch output (beta 0), keep the fastest */
    const size_t need = (size_t)ldy * n;
    if (need > b->lt_scratch_floats) {
        if (b->lt_scratch)
            cudaFree(b->lt_scratch);
        b->lt_scratch = NULL;
        b->lt_scratch_floats = 0;
        if (cudaMalloc(&b->lt_scratch, need * sizeof(float)) != cudaSuccess) {
            cudaGetLastError();
            return;
        }
        b->lt_scratch_floats = need;
    }
    cudaEvent_t e0, e1;
    if (cudaEventCreate(&e0) != cudaSuccess)
        return;
    if (cudaEventCreate(&e1) != cudaSuccess) {
        cudaEventDestroy(e0);
        return;
    }
    float best = 1e30f;
    for (int i = 0; i < nres; i++) {
        if (res[i].state != CUBLAS_STATUS_SUCCESS)
            continue;
        if (lt_run(b, e, &res[i].algo, x, w, b->lt_scratch, 0.0f) != CUBLAS_STATUS_SUCCESS)
            continue; /* warm-up; an algorithm that fails is skipped */
        cudaEventRecord(e0, b->stream);
        for (int r = 0; r < LT_TIMED_RUNS; r++)
            lt_run(b, e, &res[i].algo, x, w, b->lt_scratch, 0.0f);
        cudaEventRecord(e1, b->stream);
        float ms = 0.0f;
        if (cudaEventSynchronize(e1) != cudaSuccess || cudaEventElapsedTime(&ms, e0, e1) != cudaSuccess)
            continue;
        if (ms < best) {
            best = ms;
            e->algo = res[i].algo;
        }
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaGetLastError();
    if (best < 1e30f)
        e->us = best * 1000.0f / LT_TIMED_RUNS;
    b->lt_timed++;
}

extern "C" enum frs_status cuda_matmul(struct cuda_blas *b, const uint16_t *x, int ldx, int n, const uint16_t *w,
                                       int rows, int cols, float *y, int ldy, float beta)
{
    if (n <= 0 || rows <= 0 || cols <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_matmul: n %d, rows %d, cols %d must be > 0", n, rows, cols);
    if (n == 1 && cols % 8 == 0 && ((uintptr_t)x | (uintptr_t)w) % 16 == 0)
        return cuda_gemv_bf16(x, w, rows, cols, y, beta, b->pdl, b->stream);
    if (b->lt) {
        const struct cuda_lt_entry *e = lt_entry(b, x, ldx, n, w, rows, cols, y, ldy);
        if (e && e->ok) {
            cublasStatus_t ls = lt_run(b, e, &e->algo, x, w, y, beta);
            if (ls != CUBLAS_STATUS_SUCCESS)
                return FRS_ERR(FRS_ERR_CUBLAS, "cuda_matmul: cublasLtMatmul (%d x %d x %d) failed (status %d)", n,
                               rows, cols, (int)ls);
            return FRS_OK;
        }
    }
    /* column-major view: Y^T (rows x n, ld ldy) = W (as cols x rows, transposed) * X^T (cols x n) */
    const float alpha = 1.0f;
    cublasStatus_t bs = cublasGemmEx((cublasHandle_t)b->handle, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &alpha,
                                     w, CUDA_R_16BF, cols, x, CUDA_R_16BF, ldx, &beta, y, CUDA_R_32F, ldy,
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (bs != CUBLAS_STATUS_SUCCESS)
        return FRS_ERR(FRS_ERR_CUBLAS, "cuda_matmul: cublasGemmEx (%d x %d x %d) failed (status %d)", n, rows, cols,
                       (int)bs);
    return FRS_OK;
}
