/* cuda_ops.cu - the CUDA kernels of the target and draft forward (norm, RoPE, attention,
 * SwiGLU, embedding, residual, GEMV, cuBLAS GEMM, log-softmax top-k, argmax, Gumbel sampling,
 * KV compaction) and their extern "C" launchers declared in cuda_ops.h. Three levels as in
 * ggml: __global__ kernel -> launcher taking a stream -> backend op (cuda_backend.c).
 */
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

extern "C" {
#include "status.h"
}
#include "../runtime/argmax_key.h" /* frs_argmax_key_pack (host + device) */
#include "cuda_attn_mma.h"         /* cuda_attn_mma: the tensor-core kernel for n > 1 */
#include "cuda_ops.h"

#define LAUNCH_CHECK(what)                                                                        \
    do {                                                                                          \
        cudaError_t e_ = cudaGetLastError();                                                      \
        if (e_ != cudaSuccess)                                                                    \
            return FRS_ERR(FRS_ERR_CUDA, "kernels/cuda_ops.cu: launch of %s failed: %s", (what),   \
                           cudaGetErrorString(e_));                                               \
    } while (0)

/* ---- small device helpers -------------------------------------------------------------------- */

/* Programmatic dependent launch (sm_90): a GEMV launched with the PDL attribute may start while
 * the kernel before it still runs, streams its first weight chunk (weights never depend on the
 * previous kernel) and waits here before it reads x or writes y. Kernels that precede a GEMV
 * allow that early start with pdl_trigger(). Both are no-ops below sm_90. FRS_PDL=0 at launch
 * time turns the attribute off. */
static __device__ __forceinline__ void pdl_wait()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

static __device__ __forceinline__ void pdl_trigger()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

static int pdl_enabled(void)
{
    const char *e = getenv("FRS_PDL");
    return !(e && e[0] == '0');
}

static __device__ __forceinline__ float bf2f(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

static __device__ __forceinline__ uint16_t f2bf(float f) { return __bfloat16_as_ushort(__float2bfloat16_rn(f)); }

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

static __device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

static __device__ __forceinline__ unsigned long long warp_max_u64(unsigned long long v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        unsigned long long w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }
    return v;
}

/* block-wide sum; every thread gets the result. sh: >= 32 floats. */
static __device__ float block_sum(float v, float *sh)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0)
        sh[wid] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0f;
    return warp_sum(v);
}

static __device__ unsigned long long block_max_u64(unsigned long long v, unsigned long long *sh)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_max_u64(v);
    __syncthreads();
    if (lane == 0)
        sh[wid] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0ull;
    return warp_max_u64(v);
}

/* ---- cuBLAS context and matmul -------------------------------------------------------------- */

extern "C" enum frs_status cuda_blas_create(struct cuda_blas *b, cudaStream_t stream)
{
    memset(b, 0, sizeof *b);
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
    const char *lt_env = getenv("FRS_CUBLASLT");
    if (!(lt_env && lt_env[0] == '0')) {
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

#define GEMV_WARPS 8
#define GEMV_UNROLL 4

/* One warp per output row; each lane streams 16-byte chunks of the row (evict-first loads),
 * GEMV_UNROLL loads in flight, x (small, L1/L2 resident) through the read-only path. */
/* NORM: x is the fp32 residual row xf, RMS-normalised with weight nw into shared memory by every
 * block (x * inv then * w, rounded to bf16, as rmsnorm_kernel), instead of a bf16 x from a separate
 * RMSNorm launch. */
template <bool NORM>
__device__ __forceinline__ const uint4 *gemv_norm_x(const float *__restrict__ xf, const uint16_t *__restrict__ nw,
                                                    float eps, int cols, const uint16_t *__restrict__ x)
{
    if (!NORM)
        return reinterpret_cast<const uint4 *>(x);
    extern __shared__ uint4 gemv_xs[];
    __shared__ float red[GEMV_WARPS];
    uint16_t *xs = reinterpret_cast<uint16_t *>(gemv_xs);
    float ss = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        const float v = xf[j];
        ss = fmaf(v, v, ss);
    }
    ss = warp_sum(ss);
    if ((threadIdx.x & 31) == 0)
        red[threadIdx.x >> 5] = ss;
    __syncthreads();
    float tot = 0.0f;
#pragma unroll
    for (int u = 0; u < GEMV_WARPS; u++)
        tot += red[u];
    const float inv = 1.0f / sqrtf(tot / (float)cols + eps);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float v = xf[j] * inv;
        v *= bf2f(nw[j]);
        xs[j] = f2bf(v);
    }
    __syncthreads();
    return gemv_xs;
}

template <bool NORM>
static __device__ __forceinline__ uint4 gemv_ldx(const uint4 *xv, int k)
{
    if (NORM)
        return xv[k]; /* shared memory */
    return __ldg(xv + k);
}

template <bool NORM>
__global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_bf16_kernel(const uint16_t *__restrict__ x,
                                                                    const float *__restrict__ xf,
                                                                    const uint16_t *__restrict__ nw, float eps,
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
    const uint4 *xv = gemv_norm_x<NORM>(xf, nw, eps, cols, x);
    if (!active)
        return;
    while (full) {
        uint4 xx[GEMV_UNROLL];
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++)
            xx[u] = gemv_ldx<NORM>(xv, k + 32 * u);
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
        acc += dot8_bf16(__ldcs(wr + k), gemv_ldx<NORM>(xv, k));
    acc = warp_sum(acc);
    if (lane == 0)
        y[row] = beta != 0.0f ? fmaf(beta, y[row], acc) : acc;
}

extern "C" enum frs_status cuda_gemv_bf16(const uint16_t *x, const uint16_t *w, int rows, int cols, float *y,
                                          float beta, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0 || cols % 8 || ((uintptr_t)x | (uintptr_t)w) % 16)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_gemv_bf16: rows %d, cols %d (need cols %% 8 == 0, 16-byte "
                       "aligned x and w)", rows, cols);
    const int blocks = (rows + GEMV_WARPS - 1) / GEMV_WARPS;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(blocks);
    cfg.blockDim = dim3(GEMV_WARPS * 32);
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = pdl_enabled() ? 1 : 0;
    cudaError_t e = cudaLaunchKernelEx(&cfg, gemv_bf16_kernel<false>, x, (const float *)NULL, (const uint16_t *)NULL,
                                       0.0f, w, rows, cols, y, beta);
    if (e != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "kernels/cuda_ops.cu: launch of gemv_bf16_kernel failed: %s", cudaGetErrorString(e));
    LAUNCH_CHECK("gemv_bf16_kernel");
    return FRS_OK;
}

/* gate/up GEMV fused with SwiGLU (n == 1): warp j reads gate row j and up row F + j of the
 * stacked (2F, cols) matrix with the same lane/unroll order as gemv_bf16_kernel (so each dot
 * product is bit-identical to it) and writes act[j] = bf16(silu(g) * u) as swiglu_kernel does. */
template <bool NORM>
__global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_swiglu_kernel(const uint16_t *__restrict__ x,
                                                                      const float *__restrict__ xf,
                                                                      const uint16_t *__restrict__ nw, float eps,
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
    const uint4 *xv = gemv_norm_x<NORM>(xf, nw, eps, cols, x);
    if (!active)
        return;
    while (full) {
        uint4 xx[GEMV_UNROLL];
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++)
            xx[u] = gemv_ldx<NORM>(xv, k + 32 * u);
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
        const uint4 xx = gemv_ldx<NORM>(xv, k);
        ag += dot8_bf16(__ldcs(wg + k), xx);
        au += dot8_bf16(__ldcs(wu + k), xx);
    }
    ag = warp_sum(ag);
    au = warp_sum(au);
    if (lane == 0)
        act[row] = f2bf(ag / (1.0f + expf(-ag)) * au);
}

extern "C" enum frs_status cuda_gemv_swiglu(const uint16_t *x, const uint16_t *w, int F, int cols, uint16_t *act,
                                            cudaStream_t st)
{
    if (F <= 0 || cols <= 0 || cols % 8 || ((uintptr_t)x | (uintptr_t)w) % 16)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_gemv_swiglu: F %d, cols %d (need cols %% 8 == 0, 16-byte aligned x "
                       "and w)", F, cols);
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((F + GEMV_WARPS - 1) / GEMV_WARPS);
    cfg.blockDim = dim3(GEMV_WARPS * 32);
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = pdl_enabled() ? 1 : 0;
    cudaError_t e = cudaLaunchKernelEx(&cfg, gemv_swiglu_kernel<false>, x, (const float *)NULL,
                                       (const uint16_t *)NULL, 0.0f, w, F, cols, act);
    if (e != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "kernels/cuda_ops.cu: launch of gemv_swiglu_kernel failed: %s",
                       cudaGetErrorString(e));
    LAUNCH_CHECK("gemv_swiglu_kernel");
    return FRS_OK;
}

static cudaLaunchConfig_t gemv_cfg(int blocks, size_t smem, cudaStream_t st, cudaLaunchAttribute *at)
{
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(blocks);
    cfg.blockDim = dim3(GEMV_WARPS * 32);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = pdl_enabled() ? 1 : 0;
    return cfg;
}

extern "C" enum frs_status cuda_gemv_norm_bf16(const float *xf, const uint16_t *nw, float eps, const uint16_t *w,
                                               int rows, int cols, float *y, float beta, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0 || cols % 8 || cols > CUDA_GEMV_NORM_MAX_COLS || (uintptr_t)w % 16)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_gemv_norm_bf16: rows %d, cols %d (need cols %% 8 == 0, cols <= %d, "
                       "16-byte aligned w)", rows, cols, CUDA_GEMV_NORM_MAX_COLS);
    cudaLaunchAttribute at[1];
    cudaLaunchConfig_t cfg = gemv_cfg((rows + GEMV_WARPS - 1) / GEMV_WARPS, (size_t)cols * 2, st, at);
    cudaError_t e = cudaLaunchKernelEx(&cfg, gemv_bf16_kernel<true>, (const uint16_t *)NULL, xf, nw, eps, w, rows, cols,
                                       y, beta);
    if (e != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "kernels/cuda_ops.cu: launch of gemv_bf16_kernel<norm> failed: %s",
                       cudaGetErrorString(e));
    LAUNCH_CHECK("gemv_bf16_kernel<norm>");
    return FRS_OK;
}

extern "C" enum frs_status cuda_gemv_norm_swiglu(const float *xf, const uint16_t *nw, float eps, const uint16_t *w,
                                                 int F, int cols, uint16_t *act, cudaStream_t st)
{
    if (F <= 0 || cols <= 0 || cols % 8 || cols > CUDA_GEMV_NORM_MAX_COLS || (uintptr_t)w % 16)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_gemv_norm_swiglu: F %d, cols %d (need cols %% 8 == 0, cols <= %d, "
                       "16-byte aligned w)", F, cols, CUDA_GEMV_NORM_MAX_COLS);
    cudaLaunchAttribute at[1];
    cudaLaunchConfig_t cfg = gemv_cfg((F + GEMV_WARPS - 1) / GEMV_WARPS, (size_t)cols * 2, st, at);
    cudaError_t e = cudaLaunchKernelEx(&cfg, gemv_swiglu_kernel<true>, (const uint16_t *)NULL, xf, nw, eps, w, F, cols,
                                       act);
    if (e != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "kernels/cuda_ops.cu: launch of gemv_swiglu_kernel<norm> failed: %s",
                       cudaGetErrorString(e));
    LAUNCH_CHECK("gemv_swiglu_kernel<norm>");
    return FRS_OK;
}


/* ---- cuBLASLt with a per-shape algorithm (n > 1) ------------------------------------------- */

#define LT_CANDIDATES 12
#define LT_TIMED_RUNS 4
/* weights smaller than this take cuBLASLt's first heuristic choice untimed: timing 12 candidates
 * costs host syncs per shape, and a small model meets dozens of shapes (tree sizes, draft levels,
 * catch-up counts) in its first iterations (the default pair's 128-token speculative decode: 98 ->
 * 74 ms on the H200, tests/bench/NOTES-cuda.md). Every weight of the bench's real shapes (1B and
 * up) is larger, so those keep the timed choice. */
#define LT_TIME_MIN_BYTES ((size_t)4 << 20)

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
    struct cuda_lt_entry *e = &c[b->lt_count++];
    memset(e, 0, sizeof *e);
    e->n = n, e->rows = rows, e->cols = cols, e->ldx = ldx, e->ldy = ldy, e->us = -1.0f;
    e->al_a = al_a, e->al_b = al_b, e->al_c = al_c;
    /* column-major: Y^T (rows x n, ld ldy) = op(W) (rows x cols) * X^T (cols x n, ld ldx) with
     * W stored as (cols x rows, ld cols) and transposed */
    const cublasOperation_t tA = CUBLAS_OP_T, tB = CUBLAS_OP_N;
    if (cublasLtMatmulDescCreate(&e->op, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_TRANSA, &tA, sizeof tA) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulDescSetAttribute(e->op, CUBLASLT_MATMUL_DESC_TRANSB, &tB, sizeof tB) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatrixLayoutCreate(&e->a, CUDA_R_16BF, cols, rows, cols) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatrixLayoutCreate(&e->bl, CUDA_R_16BF, cols, n, ldx) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatrixLayoutCreate(&e->c, CUDA_R_32F, rows, n, ldy) != CUBLAS_STATUS_SUCCESS)
        return e; /* ok = 0 */
    cublasLtMatmulPreference_t pref;
    if (cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS)
        return e;
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
        return e;
    e->algo = res[0].algo;
    e->ok = 1;
    if ((size_t)rows * cols * 2 < LT_TIME_MIN_BYTES)
        return e;
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(b->stream, &cap) != cudaSuccess || cap != cudaStreamCaptureStatusNone || nres == 1)
        return e;
    /* time the candidates on a scratch output (beta 0), keep the fastest */
    const size_t need = (size_t)ldy * n;
    if (need > b->lt_scratch_floats) {
        if (b->lt_scratch)
            cudaFree(b->lt_scratch);
        b->lt_scratch = NULL;
        b->lt_scratch_floats = 0;
        if (cudaMalloc(&b->lt_scratch, need * sizeof(float)) != cudaSuccess) {
            cudaGetLastError();
            return e;
        }
        b->lt_scratch_floats = need;
    }
    cudaEvent_t e0, e1;
    if (cudaEventCreate(&e0) != cudaSuccess)
        return e;
    if (cudaEventCreate(&e1) != cudaSuccess) {
        cudaEventDestroy(e0);
        return e;
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
    return e;
}

extern "C" enum frs_status cuda_matmul(struct cuda_blas *b, const uint16_t *x, int ldx, int n, const uint16_t *w,
                                       int rows, int cols, float *y, int ldy, float beta)
{
    if (n <= 0 || rows <= 0 || cols <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_matmul: n %d, rows %d, cols %d must be > 0", n, rows, cols);
    if (n == 1 && cols % 8 == 0 && ((uintptr_t)x | (uintptr_t)w) % 16 == 0)
        return cuda_gemv_bf16(x, w, rows, cols, y, beta, b->stream);
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

/* ---- synthetic weights ----------------------------------------------------------------------- */

__global__ void fill_hash_bf16_kernel(uint16_t *dst, size_t n, uint64_t seed, float scale, float bias)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        const float u = (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
        dst[i] = f2bf(fmaf(scale, u, bias));
    }
}

extern "C" enum frs_status cuda_fill_hash_bf16(uint16_t *dst, size_t n, uint64_t seed, float scale, float bias,
                                               cudaStream_t st)
{
    if (!n)
        return FRS_OK;
    size_t blocks = (n + 255) / 256;
    if (blocks > 65536)
        blocks = 65536;
    fill_hash_bf16_kernel<<<(unsigned)blocks, 256, 0, st>>>(dst, n, seed, scale, bias);
    LAUNCH_CHECK("fill_hash_bf16_kernel");
    return FRS_OK;
}

/* ---- L2 prefetch ------------------------------------------------------------------------- */

/* The blocks of a launch past its own work (blockIdx.x >= base) ask the L2 to fetch bytes of the
 * weights the next GEMV will stream, while the small kernel they ride with (an RMSNorm, RoPE +
 * attention behind it) leaves the memory bus idle. One 16 KB cp.async.bulk.prefetch.L2 per warp
 * and step (sm_90; prefetch.global.L2 per 128-byte line below it): fire and forget, no result, no
 * wait, nothing written. p 16-byte aligned, bytes a multiple of 16 (the launchers round down). */
#define PF_CHUNK 16384
#define PF_MAX_BLOCKS 132

static __device__ void l2_prefetch_part(const char *p, size_t bytes, unsigned base)
{
    if ((threadIdx.x & 31) != 0)
        return;
    const size_t wpb = blockDim.x >> 5;
    const size_t worker = (size_t)(blockIdx.x - base) * wpb + (threadIdx.x >> 5);
    const size_t workers = (size_t)(gridDim.x - base) * wpb;
    for (size_t off = worker * PF_CHUNK; off < bytes; off += workers * PF_CHUNK) {
        const unsigned n = (unsigned)(bytes - off < PF_CHUNK ? bytes - off : PF_CHUNK);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p + off), "r"(n) : "memory");
#else
        for (unsigned o = 0; o < n; o += 128)
            asm volatile("prefetch.global.L2 [%0];" ::"l"(p + off + o));
#endif
    }
}

/* extra blocks of `threads` threads that prefetch `bytes` (0 when there is nothing to fetch) */
static unsigned pf_blocks(const void *pf, size_t bytes, int threads)
{
    if (!pf || bytes < 16 || (uintptr_t)pf % 16 || threads < 32)
        return 0;
    const size_t chunks = (bytes + PF_CHUNK - 1) / PF_CHUNK, wpb = (size_t)threads / 32;
    const size_t nb = (chunks + wpb - 1) / wpb;
    return (unsigned)(nb < PF_MAX_BLOCKS ? nb : PF_MAX_BLOCKS);
}

/* ---- RMSNorm ------------------------------------------------------------------------------- */

__global__ void rmsnorm_kernel(float *x, const float *res, int dim, const uint16_t *w, float eps, float *y32,
                               uint16_t *y16, int ld16, const char *pf, size_t pf_bytes, unsigned n_rows)
{
    pdl_trigger();
    if (blockIdx.x >= n_rows) {
        l2_prefetch_part(pf, pf_bytes, n_rows);
        return;
    }
    __shared__ float sh[32];
    const size_t row = blockIdx.x;
    float *xr = x + row * dim;
    float ss = 0.0f;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) {
        float v = xr[j];
        if (res) {
            v += res[row * dim + j];
            xr[j] = v;
        }
        ss = fmaf(v, v, ss);
    }
    ss = block_sum(ss, sh);
    const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
    for (int j = threadIdx.x; j < dim; j += blockDim.x) {
        float v = xr[j] * inv;
        if (w)
            v *= bf2f(w[j]);
        if (y32)
            y32[row * dim + j] = v;
        if (y16)
            y16[row * ld16 + j] = f2bf(v);
    }
}

extern "C" enum frs_status cuda_rmsnorm_pf(float *x, const float *res, int n, int dim, const uint16_t *w, float eps,
                                           float *y32, uint16_t *y16, int ld16, const void *pf, size_t pf_bytes,
                                           cudaStream_t st)
{
    if (n <= 0 || dim <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_rmsnorm: n %d, dim %d must be > 0", n, dim);
    const int threads = dim >= 4096 ? 1024 : dim >= 1024 ? 512 : 128;
    pf_bytes &= ~(size_t)15;
    const unsigned extra = pf_blocks(pf, pf_bytes, threads);
    rmsnorm_kernel<<<(unsigned)n + extra, threads, 0, st>>>(x, res, dim, w, eps, y32, y16, ld16,
                                                            (const char *)pf, extra ? pf_bytes : 0, (unsigned)n);
    LAUNCH_CHECK("rmsnorm_kernel");
    return FRS_OK;
}

extern "C" enum frs_status cuda_rmsnorm(float *x, const float *res, int n, int dim, const uint16_t *w, float eps,
                                        float *y32, uint16_t *y16, int ld16, cudaStream_t st)
{
    return cuda_rmsnorm_pf(x, res, n, dim, w, eps, y32, y16, ld16, NULL, 0, st);
}

/* ---- RoPE + KV-cache write ------------------------------------------------------------------ */

/* grid (n + extra, n_heads + 2 n_kv), block D / 2 (at least 32): block (i, h) rotates head h of
 * row i (q heads, then k heads into the cache) or, for h >= n_heads + n_kv, copies v head
 * h - n_heads - n_kv into the cache; thread j owns the pair (j, j + D/2). One block per row before
 * (3.5k pairs with sincosf in a loop of 14 on 256 threads: ~6 us per layer at decode). */
__global__ void rope_qkv_kernel(const float *qkv, int ldqkv, int n_heads, int n_kv, int D, const int32_t *pos,
                                const float *inv_freq, float *q_out, uint16_t *kcache, uint16_t *vcache,
                                const int32_t *slot0, const char *pf, size_t pf_bytes, unsigned n_rows)
{
    if (blockIdx.x >= n_rows) {
        if (blockIdx.y == 0)
            l2_prefetch_part(pf, pf_bytes, n_rows);
        return;
    }
    const int i = blockIdx.x, h = blockIdx.y, half = D / 2, j = threadIdx.x;
    if (j >= half)
        return;
    const float *row = qkv + (size_t)i * ldqkv;
    const size_t kvw = (size_t)n_kv * D, slot = (size_t)(*slot0 + i);
    if (h >= n_heads + n_kv) { /* v: copied */
        const int e = (h - n_heads - n_kv) * D + j;
        const float *v = row + (size_t)(n_heads + n_kv) * D;
        vcache[slot * kvw + e] = f2bf(v[e]);
        vcache[slot * kvw + e + half] = f2bf(v[e + half]);
        return;
    }
    /* angle in fp32 as cpu_rope and transformers */
    const float ang = (float)pos[i] * inv_freq[j];
    float sn, cs;
    sincosf(ang, &sn, &cs);
    const float *v = row + (size_t)h * D; /* q heads then k heads: contiguous */
    const float a = v[j], b = v[j + half];
    const float r0 = a * cs - b * sn, r1 = b * cs + a * sn;
    if (h < n_heads) {
        float *o = q_out + ((size_t)i * n_heads + h) * D;
        o[j] = r0;
        o[j + half] = r1;
    } else {
        uint16_t *o = kcache + slot * kvw + (size_t)(h - n_heads) * D;
        o[j] = f2bf(r0);
        o[j + half] = f2bf(r1);
    }
}

extern "C" enum frs_status cuda_rope_qkv_pf(const float *qkv, int ldqkv, int n, int n_heads, int n_kv, int head_dim,
                                            const int32_t *pos, const float *inv_freq, float *q_out, uint16_t *kcache,
                                            uint16_t *vcache, const int32_t *slot0, const void *pf, size_t pf_bytes,
                                            cudaStream_t st)
{
    if (n <= 0 || head_dim <= 0 || head_dim % 2 || n_heads <= 0 || n_kv <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_rope_qkv: n %d, heads %d / %d, head_dim %d (must be even)", n,
                       n_heads, n_kv, head_dim);
    const int threads = head_dim / 2 < 32 ? 32 : head_dim / 2;
    pf_bytes &= ~(size_t)15;
    const unsigned extra = pf_blocks(pf, pf_bytes, threads);
    rope_qkv_kernel<<<dim3((unsigned)n + extra, (unsigned)(n_heads + 2 * n_kv)), threads, 0, st>>>(
        qkv, ldqkv, n_heads, n_kv, head_dim, pos, inv_freq, q_out, kcache, vcache, slot0, (const char *)pf,
        extra ? pf_bytes : 0, (unsigned)n);
    LAUNCH_CHECK("rope_qkv_kernel");
    return FRS_OK;
}

extern "C" enum frs_status cuda_rope_qkv(const float *qkv, int ldqkv, int n, int n_heads, int n_kv, int head_dim,
                                         const int32_t *pos, const float *inv_freq, float *q_out, uint16_t *kcache,
                                         uint16_t *vcache, const int32_t *slot0, cudaStream_t st)
{
    return cuda_rope_qkv_pf(qkv, ldqkv, n, n_heads, n_kv, head_dim, pos, inv_freq, q_out, kcache, vcache, slot0, NULL,
                            0, st);
}

/* ---- attention ----------------------------------------------------------------------------- */

#define ATT_THREADS 128 /* = slots per tile */
#define ATT_MAXG_DEC 8  /* q vectors per block at n == 1 (one kv head's group, split when larger) */
#define ATT_MAXG_MULTI 16 /* q vectors per block at n > 1: rows x heads of one kv head share the K/V loads */
#define ATT_MAXD 256
#define ATT_MAX_SPLIT 64

/* heads per block, q rows per block and blocks along the heads of a launch; layout: CUDA_ATT_AUTO,
 * CUDA_ATT_SINGLE_ROW or CUDA_ATT_MULTI_ROW (cuda_ops.h) */
static void att_shape(int n, int n_heads, int n_kv, int layout, int *maxg, int *rows, int *gblocks)
{
    const int group = n_heads / n_kv;
    const char *env = getenv("FRS_ATT_MULTI"); /* "0": one row per block (the layout before rows were shared) */
    const int single = layout == CUDA_ATT_SINGLE_ROW || (layout == CUDA_ATT_AUTO && env && env[0] == '0');
    const int mg = n > 1 && !single ? ATT_MAXG_MULTI : ATT_MAXG_DEC;
    const int g = group < mg ? group : mg;
    int r = single ? 1 : mg / g;
    if (r > n)
        r = n;
    *maxg = mg;
    *rows = r < 1 ? 1 : r;
    *gblocks = (group + mg - 1) / mg;
}

static int att_splits(int n, int n_heads, int n_kv, int layout, int n_sm)
{
    int mg, rows, gb;
    att_shape(n, n_heads, n_kv, layout, &mg, &rows, &gb);
    const long blocks = (long)((n + rows - 1) / rows) * n_kv * gb;
    long s = (2L * (n_sm > 0 ? n_sm : 1) + blocks - 1) / blocks;
    if (s < 1)
        s = 1;
    if (s > ATT_MAX_SPLIT)
        s = ATT_MAX_SPLIT;
    return (int)s;
}

/* FRS_ATT_MMA (read at every launch): "0": the CUDA-core kernel (the layouts before tensor cores);
 * "1": the tensor-core kernel with single bf16 products; otherwise (unset, "3") with q and P as
 * three bf16 terms */
static int att_mma_mode(void)
{
    const char *e = getenv("FRS_ATT_MMA");
    return e && e[0] == '0' ? 0 : e && e[0] == '1' ? 1 : 3;
}

/* the kernel a launch of this layout runs: CUDA_ATT_MMA, CUDA_ATT_MMA_BF16, or 0 for attention_kernel */
static int att_kernel_of(int n, int head_dim, int layout)
{
    if (layout == CUDA_ATT_MMA || layout == CUDA_ATT_MMA_BF16)
        return layout;
    if (layout != CUDA_ATT_AUTO || n <= 1 || !cuda_attn_mma_head_dim_ok(head_dim))
        return 0;
    const int mode = att_mma_mode();
    return mode == 0 ? 0 : mode == 1 ? CUDA_ATT_MMA_BF16 : CUDA_ATT_MMA;
}

extern "C" int cuda_attention_auto_mma(int n, int head_dim)
{
    return att_kernel_of(n, head_dim, CUDA_ATT_AUTO) != 0;
}

extern "C" int cuda_attention_splits(int n, int n_heads, int n_kv, int head_dim, int n_sm)
{
    if (att_kernel_of(n, head_dim, CUDA_ATT_AUTO))
        return cuda_attn_mma_splits(n, n_heads, n_kv, n_sm);
    return att_splits(n, n_heads, n_kv, CUDA_ATT_AUTO, n_sm);
}

/* enough for every layout, the tensor-core kernel's included (whatever FRS_ATT_MMA says) */
extern "C" size_t cuda_attention_scratch_floats(int n, int n_heads, int n_kv, int head_dim, int n_sm)
{
    size_t best = 0;
    for (int layout = CUDA_ATT_AUTO; layout <= CUDA_ATT_MULTI_ROW + 1; layout++) {
        int s;
        if (layout <= CUDA_ATT_MULTI_ROW)
            s = att_splits(n, n_heads, n_kv, layout, n_sm);
        else if (cuda_attn_mma_head_dim_ok(head_dim))
            s = cuda_attn_mma_splits(n, n_heads, n_kv, n_sm);
        else
            s = 1;
        const size_t f = s == 1 ? 0 : (size_t)n * n_heads * s * (head_dim + 2);
        best = f > best ? f : best;
    }
    return best;
}

/* grid (ceil(n / rows), n_kv * gblocks, n_split). Block: NQ = R rows x G heads <= MAXG q vectors
 * (v = r * G + g: row i0 + r, head h0 + g) that share one kv head, so each K/V row is loaded once
 * for all of them. Slots of this split in tiles of ATT_THREADS: thread t scores slot t of the tile
 * for every q vector (16-byte K loads, q broadcast from shared memory; a slot a row may not see
 * scores -inf for that row's vectors), online softmax per q vector, then threads own (pair of d,
 * slot subset) for the P*V accumulation. n_split == 1: writes bf16 out; else partials (m, l,
 * acc[D]) combined by attention_combine_kernel. */
template <int MAXG>
__global__ void __launch_bounds__(ATT_THREADS) attention_kernel(const float *__restrict__ q,
                                                                const uint16_t *__restrict__ kc,
                                                                const uint16_t *__restrict__ vc,
                                                                const int32_t *prefix_p, int n, int rows_per_block,
                                                                const uint64_t *__restrict__ mask, int mask_cols,
                                                                int n_heads,
                                                                int n_kv, int D, int n_split, uint16_t *out,
                                                                float *part)
{
    pdl_trigger();
    __shared__ __align__(16) float sq[MAXG][ATT_MAXD];
    __shared__ float sp[MAXG][ATT_THREADS];
    __shared__ float smax[MAXG];
    __shared__ float sred[MAXG * 2 * ATT_THREADS]; /* >= MAXG * ngroups * D */

    const int split = blockIdx.z, t = threadIdx.x;
    const int group = n_heads / n_kv, gblocks = (group + MAXG - 1) / MAXG;
    const int kvh = blockIdx.y / gblocks;
    const int h0 = kvh * group + (blockIdx.y % gblocks) * MAXG;
    const int G = min(MAXG, kvh * group + group - h0);
    const int i0 = blockIdx.x * rows_per_block;
    const int R = min(rows_per_block, n - i0);
    const int NQ = G * R;
    const int prefix = *prefix_p;
    const int words = (mask_cols + 63) / 64;
    const int total = mask ? prefix + mask_cols : prefix + i0 + R;
    const int per = (total + n_split - 1) / n_split;
    const int s_begin = split * per, s_end = min(total, s_begin + per);
    const size_t kvw = (size_t)n_kv * D;
    const float scale = 1.0f / sqrtf((float)D);

    for (int e = t; e < NQ * D; e += ATT_THREADS) {
        const int v = e / D, d = e % D;
        sq[v][d] = q[((size_t)(i0 + v / G) * n_heads + h0 + v % G) * D + d];
    }

    const int npairs = D / 2, ngroups = ATT_THREADS / npairs;
    const int dp = t % npairs, tg = t / npairs; /* accumulation role; tg >= ngroups: none */
    float acc[MAXG][2], lsum[MAXG], mrun[MAXG];
#pragma unroll
    for (int g = 0; g < MAXG; g++) {
        acc[g][0] = acc[g][1] = 0.0f;
        lsum[g] = 0.0f;
        mrun[g] = -INFINITY;
    }
    __syncthreads();

    for (int tile = s_begin; tile < s_end; tile += ATT_THREADS) {
        const int s = tile + t;
        const int tlen = min(ATT_THREADS, s_end - tile);
        /* rows (bit r) that see slot s */
        uint32_t rowvis = 0;
        if (s < s_end) {
            if (s < prefix) {
                rowvis = R >= 32 ? 0xffffffffu : (1u << R) - 1u;
            } else {
                const int j = s - prefix;
                for (int r = 0; r < R; r++) {
                    const bool vis = mask ? ((mask[(size_t)(i0 + r) * words + (j >> 6)] >> (j & 63)) & 1ull)
                                          : (j <= i0 + r);
                    rowvis |= (uint32_t)vis << r;
                }
            }
        }
        float sc[MAXG];
#pragma unroll
        for (int g = 0; g < MAXG; g++)
            sc[g] = 0.0f;
        if (rowvis) {
            const uint4 *kr = reinterpret_cast<const uint4 *>(kc + (size_t)s * kvw + (size_t)kvh * D);
            /* K row: unrolled so that several 16-byte loads are in flight before use (D % 8 == 0) */
#pragma unroll 8
            for (int d8 = 0; d8 < D / 8; d8++) {
                const uint4 kk = kr[d8];
                const uint32_t kw[4] = {kk.x, kk.y, kk.z, kk.w};
                float kf[8];
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    kf[2 * u] = __uint_as_float(kw[u] << 16);
                    kf[2 * u + 1] = __uint_as_float(kw[u] & 0xffff0000u);
                }
#pragma unroll
                for (int g = 0; g < MAXG; g++) {
                    if (g < NQ) {
                        const float4 qa = *reinterpret_cast<const float4 *>(&sq[g][d8 * 8]);
                        const float4 qb = *reinterpret_cast<const float4 *>(&sq[g][d8 * 8 + 4]);
                        float a = sc[g];
                        a = fmaf(qa.x, kf[0], a);
                        a = fmaf(qa.y, kf[1], a);
                        a = fmaf(qa.z, kf[2], a);
                        a = fmaf(qa.w, kf[3], a);
                        a = fmaf(qb.x, kf[4], a);
                        a = fmaf(qb.y, kf[5], a);
                        a = fmaf(qb.z, kf[6], a);
                        a = fmaf(qb.w, kf[7], a);
                        sc[g] = a;
                    }
                }
            }
        }
#pragma unroll
        for (int g = 0; g < MAXG; g++) {
            if (g < NQ) {
                sc[g] = (rowvis >> (g / G)) & 1u ? sc[g] * scale : -INFINITY;
                sp[g][t] = sc[g];
            }
        }
        __syncthreads();
        /* tile max per q vector: warp w reduces vectors w, w+4, ... */
        {
            const int lane = t & 31, wid = t >> 5;
            for (int g = wid; g < NQ; g += ATT_THREADS / 32) {
                float m = -INFINITY;
                for (int u = lane; u < ATT_THREADS; u += 32)
                    m = fmaxf(m, sp[g][u]);
                m = warp_max(m);
                if (lane == 0)
                    smax[g] = m;
            }
        }
        __syncthreads();
        float alpha[MAXG];
#pragma unroll
        for (int g = 0; g < MAXG; g++) {
            if (g < NQ) {
                const float mnew = fmaxf(mrun[g], smax[g]);
                alpha[g] = mnew == -INFINITY ? 1.0f : expf(mrun[g] - mnew);
                mrun[g] = mnew;
                sp[g][t] = sc[g] == -INFINITY ? 0.0f : expf(sc[g] - mnew);
            } else {
                alpha[g] = 1.0f;
            }
        }
        __syncthreads();
        if (tg < ngroups) {
#pragma unroll
            for (int g = 0; g < MAXG; g++) {
                acc[g][0] *= alpha[g];
                acc[g][1] *= alpha[g];
                lsum[g] *= alpha[g];
            }
            const uint16_t *vb = vc + (size_t)tile * kvw + (size_t)kvh * D + 2 * dp;
#pragma unroll 4
            for (int u = tg; u < tlen; u += ngroups) {
                const uint32_t v2 = *reinterpret_cast<const uint32_t *>(vb + (size_t)u * kvw);
                const float v0 = __uint_as_float(v2 << 16), v1 = __uint_as_float(v2 & 0xffff0000u);
#pragma unroll
                for (int g = 0; g < MAXG; g++) {
                    if (g < NQ) {
                        const float p = sp[g][u];
                        acc[g][0] = fmaf(p, v0, acc[g][0]);
                        acc[g][1] = fmaf(p, v1, acc[g][1]);
                        lsum[g] += p;
                    }
                }
            }
        }
        __syncthreads();
    }

    /* reduce over the slot groups: red[g][tg][d] and lred[g][tg] */
    float *red = sred;
#pragma unroll
    for (int g = 0; g < MAXG; g++) {
        if (g < NQ && tg < ngroups) {
            red[(g * ngroups + tg) * D + 2 * dp] = acc[g][0];
            red[(g * ngroups + tg) * D + 2 * dp + 1] = acc[g][1];
        }
    }
    __syncthreads();
    for (int e = t; e < NQ * D; e += ATT_THREADS) {
        const int g = e / D, d = e % D;
        float a = 0.0f;
        for (int u = 0; u < ngroups; u++)
            a += red[(g * ngroups + u) * D + d];
        sq[g][d] = a; /* q no longer needed */
    }
    __syncthreads();
    /* l: thread (dp == 0, tg) of each group holds lsum[g] for its slot subset */
    if (dp == 0 && tg < ngroups) {
#pragma unroll
        for (int g = 0; g < MAXG; g++)
            if (g < NQ)
                red[g * ngroups + tg] = lsum[g];
    }
    if (t == 0) { /* the running max is the same in every thread: to shared memory for the partials */
#pragma unroll
        for (int g = 0; g < MAXG; g++)
            if (g < NQ)
                smax[g] = mrun[g];
    }
    __syncthreads();
    for (int e = t; e < NQ * D; e += ATT_THREADS) {
        const int g = e / D, d = e % D;
        float l = 0.0f;
        for (int u = 0; u < ngroups; u++)
            l += red[g * ngroups + u];
        const size_t ih = (size_t)(i0 + g / G) * n_heads + h0 + g % G;
        if (n_split == 1) {
            out[ih * D + d] = f2bf(l > 0.0f ? sq[g][d] / l : 0.0f);
        } else {
            float *pp = part + (ih * n_split + split) * (D + 2);
            if (d == 0) {
                pp[0] = smax[g];
                pp[1] = l;
            }
            pp[2 + d] = sq[g][d];
        }
    }
}

/* grid (n * n_heads), block D: combine the n_split partials (m, l, acc[D]) of each (token, head),
 * out = sum_s w_s acc_s / sum_s w_s l_s with w_s = exp(m_s - max m) over the splits that saw a slot
 * (m > -inf; a split that saw nothing may leave acc unwritten: it is loaded, never used). The
 * splits' m and l are read into shared memory all at once (one load per thread), then each thread
 * sums its column with the loads of 8 splits in flight: a loop of dependent L2 reads (two per
 * split, 33 splits at decode) cost ~10+ us per layer. Used by both attention kernels. */
__global__ void attention_combine_kernel(const float *part, int n_split, int D, uint16_t *out)
{
    pdl_trigger();
    __shared__ float sw[ATT_MAX_SPLIT], sl[ATT_MAX_SPLIT];
    const size_t ih = blockIdx.x;
    const float *pp = part + ih * n_split * (D + 2);
    const int t = threadIdx.x;
    for (int s = t; s < n_split; s += blockDim.x) {
        sw[s] = pp[(size_t)s * (D + 2)];
        sl[s] = pp[(size_t)s * (D + 2) + 1];
    }
    __syncthreads();
    float m = -INFINITY;
    for (int s = 0; s < n_split; s++)
        m = fmaxf(m, sw[s]);
    __syncthreads();
    for (int s = t; s < n_split; s += blockDim.x)
        sw[s] = sw[s] == -INFINITY ? 0.0f : expf(sw[s] - m);
    __syncthreads();
    float l = 0.0f, a = 0.0f;
#pragma unroll 8
    for (int s = 0; s < n_split; s++) {
        const float w = sw[s];
        const float v = pp[(size_t)s * (D + 2) + 2 + t]; /* written by every split, empty ones included */
        if (w != 0.0f) {
            l += w * sl[s];
            a += w * v;
        }
    }
    out[ih * D + t] = f2bf(l > 0.0f ? a / l : 0.0f);
}

extern "C" enum frs_status cuda_attention_combine(const float *part, int rows, int n_split, int head_dim,
                                                  uint16_t *out, cudaStream_t st)
{
    if (rows <= 0 || n_split < 1 || n_split > ATT_MAX_SPLIT || head_dim <= 0 || head_dim > ATT_MAXD)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_attention_combine: rows %d, %d splits (1..%d), head_dim %d", rows,
                       n_split, ATT_MAX_SPLIT, head_dim);
    attention_combine_kernel<<<rows, head_dim, 0, st>>>(part, n_split, head_dim, out);
    LAUNCH_CHECK("attention_combine_kernel");
    return FRS_OK;
}

extern "C" enum frs_status cuda_attention(const float *q, const uint16_t *kcache, const uint16_t *vcache,
                                          const int32_t *prefix, int n, const uint64_t *mask, int mask_cols,
                                          int n_heads, int n_kv, int head_dim, uint16_t *out, float *scratch, int n_sm,
                                          cudaStream_t st)
{
    return cuda_attention_layout(q, kcache, vcache, prefix, n, mask, mask_cols, n_heads, n_kv, head_dim, out, scratch,
                                 n_sm, CUDA_ATT_AUTO, st);
}

extern "C" enum frs_status cuda_attention_layout(const float *q, const uint16_t *kcache, const uint16_t *vcache,
                                                 const int32_t *prefix, int n, const uint64_t *mask, int mask_cols,
                                                 int n_heads, int n_kv, int head_dim, uint16_t *out, float *scratch,
                                                 int n_sm, int layout, cudaStream_t st)
{
    if (n <= 0 || n_kv <= 0 || n_heads % n_kv || head_dim % 8 || head_dim > ATT_MAXD)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "cuda_attention: n %d, heads %d / kv %d, head_dim %d (need heads %% kv == "
                       "0, head_dim %% 8 == 0, head_dim <= %d)", n, n_heads, n_kv, head_dim, ATT_MAXD);
    if (layout < CUDA_ATT_AUTO || layout > CUDA_ATT_MMA_BF16)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_attention: layout %d", layout);
    int kern = att_kernel_of(n, head_dim, layout);
    if (kern && !cuda_attn_mma_head_dim_ok(head_dim))
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "cuda_attention: the tensor-core kernel has no head_dim %d", head_dim);
    /* AUTO on pointers the tensor-core kernel cannot take: the CUDA-core kernel */
    if (kern && layout == CUDA_ATT_AUTO &&
        (((uintptr_t)q & 15) || ((uintptr_t)kcache & 15) || ((uintptr_t)vcache & 15) || ((uintptr_t)out & 3) ||
         ((uintptr_t)scratch & 7)))
        kern = 0;
    const int splits = kern ? cuda_attn_mma_splits(n, n_heads, n_kv, n_sm) : att_splits(n, n_heads, n_kv, layout, n_sm);
    if (splits > 1 && !scratch)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_attention: %d splits need a scratch buffer", splits);
    if (kern) /* the tensor-core kernel and its own combine */
        return cuda_attn_mma(q, kcache, vcache, prefix, n, mask, mask_cols, n_heads, n_kv, head_dim,
                             kern == CUDA_ATT_MMA ? 3 : 1, splits, out, scratch, st);
    int mg, rows, gb;
    att_shape(n, n_heads, n_kv, layout, &mg, &rows, &gb);
    dim3 grid((n + rows - 1) / rows, n_kv * gb, splits);
    if (mg == ATT_MAXG_MULTI)
        attention_kernel<ATT_MAXG_MULTI><<<grid, ATT_THREADS, 0, st>>>(q, kcache, vcache, prefix, n, rows, mask,
                                                                       mask_cols, n_heads, n_kv, head_dim, splits, out,
                                                                       scratch);
    else
        attention_kernel<ATT_MAXG_DEC><<<grid, ATT_THREADS, 0, st>>>(q, kcache, vcache, prefix, n, rows, mask,
                                                                     mask_cols, n_heads, n_kv, head_dim, splits, out,
                                                                     scratch);
    LAUNCH_CHECK("attention_kernel");
    if (splits > 1)
        return cuda_attention_combine(scratch, n * n_heads, splits, head_dim, out, st);
    return FRS_OK;
}

/* ---- elementwise: SwiGLU, embedding, add, conversion ------------------------------------------ */

__global__ void swiglu_kernel(const float *gate, const float *up, int width, int ld_in, uint16_t *out, int ld_out)
{
    pdl_trigger();
    const size_t i = blockIdx.y;
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < width; j += gridDim.x * blockDim.x) {
        const float g = gate[i * ld_in + j];
        out[i * ld_out + j] = f2bf(g / (1.0f + expf(-g)) * up[i * ld_in + j]);
    }
}

extern "C" enum frs_status cuda_swiglu(const float *gate, const float *up, int n, int width, int ld_in,
                                       uint16_t *out, int ld_out, cudaStream_t st)
{
    if (n <= 0 || width <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_swiglu: n %d, width %d must be > 0", n, width);
    dim3 grid((width + 255) / 256 < 64 ? (width + 255) / 256 : 64, n);
    swiglu_kernel<<<grid, 256, 0, st>>>(gate, up, width, ld_in, out, ld_out);
    LAUNCH_CHECK("swiglu_kernel");
    return FRS_OK;
}

__global__ void embed_kernel(const uint16_t *table, int dim, const int32_t *tokens, float *out32, uint16_t *out16,
                             int ld16)
{
    const size_t i = blockIdx.x;
    const uint16_t *row = table + (size_t)tokens[i] * dim;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) {
        const uint16_t v = row[j];
        if (out32)
            out32[i * dim + j] = bf2f(v);
        if (out16)
            out16[i * ld16 + j] = v;
    }
}

extern "C" enum frs_status cuda_embed(const uint16_t *table, int dim, const int32_t *tokens, int n, float *out32,
                                      uint16_t *out16, int ld16, cudaStream_t st)
{
    if (n <= 0 || dim <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_embed: n %d, dim %d must be > 0", n, dim);
    embed_kernel<<<n, 256, 0, st>>>(table, dim, tokens, out32, out16, ld16);
    LAUNCH_CHECK("embed_kernel");
    return FRS_OK;
}

__global__ void add_kernel(float *x, const float *y, int64_t len)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < len; i += (int64_t)gridDim.x * blockDim.x)
        x[i] += y[i];
}

extern "C" enum frs_status cuda_add(float *x, const float *y, int64_t len, cudaStream_t st)
{
    if (len <= 0)
        return FRS_OK;
    int64_t blocks = (len + 255) / 256;
    if (blocks > 4096)
        blocks = 4096;
    add_kernel<<<(int)blocks, 256, 0, st>>>(x, y, len);
    LAUNCH_CHECK("add_kernel");
    return FRS_OK;
}

__global__ void add_bias_kernel(float *x, const uint16_t *bias, int dim)
{
    const size_t i = blockIdx.y;
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < dim; j += gridDim.x * blockDim.x)
        x[i * dim + j] += bf2f(bias[j]);
}

extern "C" enum frs_status cuda_add_bias(float *x, const uint16_t *bias, int n, int dim, cudaStream_t st)
{
    if (n <= 0 || dim <= 0)
        return FRS_OK;
    dim3 grid((dim + 255) / 256 < 64 ? (dim + 255) / 256 : 64, n);
    add_bias_kernel<<<grid, 256, 0, st>>>(x, bias, dim);
    LAUNCH_CHECK("add_bias_kernel");
    return FRS_OK;
}

__global__ void f32_to_bf16_kernel(const float *in, int ldi, int cols, uint16_t *out, int ldo)
{
    pdl_trigger();
    const size_t r = blockIdx.y;
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < cols; j += gridDim.x * blockDim.x)
        out[r * ldo + j] = f2bf(in[r * ldi + j]);
}

extern "C" enum frs_status cuda_f32_to_bf16(const float *in, int ldi, int rows, int cols, uint16_t *out, int ldo,
                                            cudaStream_t st)
{
    if (rows <= 0 || cols <= 0)
        return FRS_OK;
    dim3 grid((cols + 255) / 256 < 64 ? (cols + 255) / 256 : 64, rows);
    f32_to_bf16_kernel<<<grid, 256, 0, st>>>(in, ldi, cols, out, ldo);
    LAUNCH_CHECK("f32_to_bf16_kernel");
    return FRS_OK;
}

/* ---- log-softmax + top-k, argmax --------------------------------------------------------------- */

#define TOPK_THREADS 256

/* One block per row: online (max, sum exp) and a per-thread sorted list of the KMAX best keys
 * (argmax_key order: larger value, then lower index) in registers; then k rounds of a block-wide
 * max over the threads' heads, the winning thread popping its head. */
template <int KMAX>
__global__ void __launch_bounds__(TOPK_THREADS) logsoftmax_topk_kernel(const float *logits, int cols, int ld, int k,
                                                                       const int32_t *id_map, float *vals,
                                                                       int32_t *idx)
{
    __shared__ float shm[32], shs[32];
    __shared__ unsigned long long shk[32];
    const float *x = logits + (size_t)blockIdx.x * ld;
    unsigned long long lst[KMAX];
#pragma unroll
    for (int q = 0; q < KMAX; q++)
        lst[q] = 0ull;
    float m = -INFINITY, s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += TOPK_THREADS) {
        const float v = x[c];
        if (v > m) {
            s = s * expf(m - v) + 1.0f;
            m = v;
        } else {
            s += expf(v - m);
        }
        unsigned long long key = frs_argmax_key_pack(v, c);
        if (key > lst[KMAX - 1]) {
#pragma unroll
            for (int q = 0; q < KMAX; q++) {
                const unsigned long long hi = key > lst[q] ? key : lst[q];
                key = key > lst[q] ? lst[q] : key;
                lst[q] = hi;
            }
        }
    }
    /* block (max, sum) */
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        const float mm = fmaxf(m, m2);
        s = (m == -INFINITY ? 0.0f : s * expf(m - mm)) + (m2 == -INFINITY ? 0.0f : s2 * expf(m2 - mm));
        m = mm;
    }
    if (lane == 0) {
        shm[wid] = m;
        shs[wid] = s;
    }
    __syncthreads();
    if (wid == 0) {
        const int nw = TOPK_THREADS / 32;
        m = lane < nw ? shm[lane] : -INFINITY;
        s = lane < nw ? shs[lane] : 0.0f;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
            const float mm = fmaxf(m, m2);
            s = (m == -INFINITY ? 0.0f : s * expf(m - mm)) + (m2 == -INFINITY ? 0.0f : s2 * expf(m2 - mm));
            m = mm;
        }
        if (lane == 0) {
            shm[0] = m;
            shs[0] = s;
        }
    }
    __syncthreads();
    const float lse = shm[0] + logf(shs[0]);
    for (int r = 0; r < k; r++) {
        const unsigned long long best = block_max_u64(lst[0], shk);
        if (lst[0] == best && best != 0ull) {
#pragma unroll
            for (int q = 0; q < KMAX - 1; q++)
                lst[q] = lst[q + 1];
            lst[KMAX - 1] = 0ull;
        }
        if (threadIdx.x == 0) {
            const int c = frs_argmax_key_index(best);
            vals[(size_t)blockIdx.x * k + r] = frs_argmax_key_value(best) - lse;
            idx[(size_t)blockIdx.x * k + r] = id_map ? id_map[c] : c;
        }
    }
}

extern "C" enum frs_status cuda_logsoftmax_topk(const float *logits, int rows, int cols, int ld, int k,
                                                const int32_t *id_map, float *vals, int32_t *idx, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0 || k < 1 || k > CUDA_TOPK_MAX || k > cols)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_logsoftmax_topk: rows %d, cols %d, k %d (need 1 <= k <= min(cols, "
                       "%d))", rows, cols, k, CUDA_TOPK_MAX);
    if (k <= 8)
        logsoftmax_topk_kernel<8><<<rows, TOPK_THREADS, 0, st>>>(logits, cols, ld, k, id_map, vals, idx);
    else if (k <= 16)
        logsoftmax_topk_kernel<16><<<rows, TOPK_THREADS, 0, st>>>(logits, cols, ld, k, id_map, vals, idx);
    else
        logsoftmax_topk_kernel<32><<<rows, TOPK_THREADS, 0, st>>>(logits, cols, ld, k, id_map, vals, idx);
    LAUNCH_CHECK("logsoftmax_topk_kernel");
    return FRS_OK;
}

#define ARGMAX_THREADS 256

__global__ void argmax_keys_kernel(const float *logits, int cols, int ld, int idx_offset, int chunk,
                                   unsigned long long *keys)
{
    __shared__ unsigned long long sh[32];
    const float *x = logits + (size_t)blockIdx.y * ld;
    const int c0 = blockIdx.x * chunk, c1 = min(cols, c0 + chunk);
    unsigned long long best = 0ull;
    for (int c = c0 + threadIdx.x; c < c1; c += ARGMAX_THREADS) {
        const unsigned long long key = frs_argmax_key_pack(x[c], idx_offset + c);
        best = key > best ? key : best;
    }
    best = block_max_u64(best, sh);
    if (threadIdx.x == 0)
        atomicMax(keys + blockIdx.y, best);
}

extern "C" enum frs_status cuda_argmax_keys(const float *logits, int rows, int cols, int ld, int idx_offset,
                                            uint64_t *keys, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_argmax_keys: rows %d, cols %d must be > 0", rows, cols);
    cudaError_t ce = cudaMemsetAsync(keys, 0, (size_t)rows * sizeof(uint64_t), st);
    if (ce != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "cuda_argmax_keys: memset: %s", cudaGetErrorString(ce));
    int nb = (cols + 8191) / 8192;
    if (nb > 64)
        nb = 64;
    const int chunk = (cols + nb - 1) / nb;
    argmax_keys_kernel<<<dim3(nb, rows), ARGMAX_THREADS, 0, st>>>(logits, cols, ld, idx_offset, chunk,
                                                                  (unsigned long long *)keys);
    LAUNCH_CHECK("argmax_keys_kernel");
    return FRS_OK;
}

/* ---- random numbers: runtime/rng.h on the device ------------------------------------------------ */

static __device__ __forceinline__ uint64_t d_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static __device__ __forceinline__ double d_rng_gumbel(uint64_t seed, uint64_t stream, uint64_t index)
{
    const uint64_t u64 = d_mix64(d_mix64(d_mix64(seed) ^ stream) ^ index);
    const double u = ((double)(u64 >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    return -log(-log(u));
}

__global__ void rng_gumbel_kernel(uint64_t seed, uint64_t stream, uint64_t index0, int n, double *out)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = d_rng_gumbel(seed, stream, index0 + (uint64_t)i);
}

extern "C" enum frs_status cuda_rng_gumbel_fill(uint64_t seed, uint64_t stream_id, uint64_t index0, int n,
                                                double *out, cudaStream_t st)
{
    if (n <= 0)
        return FRS_OK;
    rng_gumbel_kernel<<<(n + 255) / 256, 256, 0, st>>>(seed, stream_id, index0, n, out);
    LAUNCH_CHECK("rng_gumbel_kernel");
    return FRS_OK;
}

__global__ void sample_keys_kernel(const float *logits, int cols, int ld, int idx_offset, float inv_temp,
                                   const float *thresh, uint64_t seed, const uint64_t *draw, int chunk,
                                   unsigned long long *keys)
{
    __shared__ unsigned long long sh[32];
    const int r = blockIdx.y;
    const float *x = logits + (size_t)r * ld;
    const float th = thresh ? thresh[r] : -INFINITY;
    const uint64_t dr = draw[r];
    const int c0 = blockIdx.x * chunk, c1 = min(cols, c0 + chunk);
    unsigned long long best = 0ull;
    for (int c = c0 + threadIdx.x; c < c1; c += ARGMAX_THREADS) {
        const float z = x[c] * inv_temp;
        if (!(z >= th))
            continue;
        const int t = idx_offset + c;
        const float v = (float)((double)z + d_rng_gumbel(seed, dr, (uint64_t)t));
        const unsigned long long key = frs_argmax_key_pack(v, t);
        best = key > best ? key : best;
    }
    best = block_max_u64(best, sh);
    if (threadIdx.x == 0)
        atomicMax(keys + r, best);
}

extern "C" enum frs_status cuda_sample_keys(const float *logits, int rows, int cols, int ld, int idx_offset,
                                            float inv_temp, const float *thresh, uint64_t seed, const uint64_t *draw,
                                            uint64_t *keys, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_sample_keys: rows %d, cols %d must be > 0", rows, cols);
    cudaError_t ce = cudaMemsetAsync(keys, 0, (size_t)rows * sizeof(uint64_t), st);
    if (ce != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "cuda_sample_keys: memset: %s", cudaGetErrorString(ce));
    int nb = (cols + 4095) / 4096;
    if (nb > 128)
        nb = 128;
    const int chunk = (cols + nb - 1) / nb;
    sample_keys_kernel<<<dim3(nb, rows), ARGMAX_THREADS, 0, st>>>(logits, cols, ld, idx_offset, inv_temp, thresh,
                                                                  seed, draw, chunk, (unsigned long long *)keys);
    LAUNCH_CHECK("sample_keys_kernel");
    return FRS_OK;
}

/* ---- KV compaction ------------------------------------------------------------------------------ */

__global__ void kv_gather_kernel(uint16_t *kc, uint16_t *vc, size_t layer_stride, int row_elems,
                                 const int32_t *base_p, const int32_t *src, int n)
{
    const int layer = blockIdx.y;
    const size_t base = (size_t)*base_p;
    uint16_t *k = kc + layer * layer_stride, *v = vc + layer * layer_stride;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < row_elems; e += gridDim.x * blockDim.x) {
        for (int j = 0; j < n; j++) { /* in order: row base+src[j] >= base+j is never written before */
            const size_t from = (base + (size_t)src[j]) * row_elems + e, to = (base + (size_t)j) * row_elems + e;
            k[to] = k[from];
            v[to] = v[from];
        }
    }
}

extern "C" enum frs_status cuda_kv_gather(uint16_t *kcache, uint16_t *vcache, int n_layers, size_t layer_stride,
                                          int row_elems, const int32_t *base, const int32_t *src, int n,
                                          cudaStream_t st)
{
    if (n <= 0 || n_layers <= 0 || row_elems <= 0)
        return FRS_OK;
    const int bx = (row_elems + 255) / 256 < 16 ? (row_elems + 255) / 256 : 16;
    kv_gather_kernel<<<dim3(bx, n_layers), 256, 0, st>>>(kcache, vcache, layer_stride, row_elems, base, src, n);
    LAUNCH_CHECK("kv_gather_kernel");
    return FRS_OK;
}
