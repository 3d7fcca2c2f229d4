/* cuda_fp8.cu - FP8 (e4m3) weight kernels and their extern "C" launchers (cuda_fp8_kernels.h; not named cuda_fp8.h, which would hide the CUDA header of that name). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cooperative_groups.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda_check.h" /* FRS_CUDA_CHECK, FRS_LAUNCH_CHECK */
#include "cuda_common.cuh" /* pdl_wait, pdl_trigger */
#include "cuda_elementwise.h" /* cuda_swiglu, cuda_row_kernels */
#include "cuda_fp8_kernels.h"
#include "cuda_matmul.h" /* cuda_matmul, struct cuda_blas */

/* two e4m3 bytes -> two floats (through half: exact) */
static __device__ __forceinline__ float2 fp8x2_to_float2(uint16_t v)
{
    __half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)v, __NV_E4M3);
    return __half22float2(*reinterpret_cast<__half2 *>(&h));
}

static __device__ __forceinline__ float fp8_to_float(uint8_t v)
{
    __half_raw h = __nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)v, __NV_E4M3);
    return __half2float(*reinterpret_cast<__half *>(&h));
}

#define FP8_GEMV_WARPS 8

/* a batch of U 16-byte chunks of each of the NR rows, chunks k, k + 32, ... (those below nv; none
 * when !pred) */
template <int U, int NR>
static __device__ __forceinline__ void fp8_load_batch(uint4 (&wv)[NR][U], const uint8_t *const (&wrow)[NR], int k,
                                                      int nv, bool pred)
{
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
        for (int r = 0; r < NR; r++)
            if (pred && k + 32 * u < nv)
                wv[r][u] = __ldcs(reinterpret_cast<const uint4 *>(wrow[r]) + k + 32 * u);
}

/* acc[r] += the batch's weights (chunks k + 32 u < nv) times x, chunk by chunk, 16 products each in
 * column order */
template <int U, int NR>
static __device__ __forceinline__ void fp8_fma_batch(const uint4 (&wv)[NR][U], const uint4 *__restrict__ xv, int k,
                                                     int nv, float (&acc)[NR])
{
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int kk = k + 32 * u;
        if (kk >= nv)
            break;
        const uint4 xa = __ldg(xv + 2 * kk), xb = __ldg(xv + 2 * kk + 1);
        const uint32_t xq[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
#pragma unroll
        for (int r = 0; r < NR; r++) {
            const uint32_t wq[4] = {wv[r][u].x, wv[r][u].y, wv[r][u].z, wv[r][u].w};
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const float2 w01 = fp8x2_to_float2((uint16_t)(wq[i] & 0xffffu));
                const float2 w23 = fp8x2_to_float2((uint16_t)(wq[i] >> 16));
                const float2 x01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&xq[2 * i]));
                const float2 x23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&xq[2 * i + 1]));
                acc[r] += w01.x * x01.x;
                acc[r] += w01.y * x01.y;
                acc[r] += w23.x * x23.x;
                acc[r] += w23.y * x23.y;
            }
        }
    }
}

/* The dot products of NR weight rows (wrow, e4m3, cols wide) with x (bf16), one warp: each lane
 * streams 16-byte chunks of every row (16 weights, evict-first loads) in batches of U chunks per row
 * (predicated: a row's tail is one batch, not U serial loads); x through the read-only path, loaded
 * once for the NR rows; one batch in flight, the next issued once it is used (two in flight measured
 * no faster: NOTES-cuda.md). The first batch is issued before pdl_wait (weights never depend on the
 * kernel before). Each row's sum is the same expression in the same order whatever NR is (the fused
 * SwiGLU kernel's dot products are bit-identical to fp8_gemv_kernel's). Rows whose width is not a multiple of 16 take a
 * scalar loop. Returns false (nothing in acc) for an inactive warp, after pdl_wait; else every lane
 * holds the full sums. */
template <int U, int NR>
static __device__ __forceinline__ bool fp8_dot_rows(const __nv_bfloat16 *__restrict__ x,
                                                    const uint8_t *const (&wrow)[NR], int cols, bool active,
                                                    int lane, float (&acc)[NR])
{
#pragma unroll
    for (int r = 0; r < NR; r++)
        acc[r] = 0.0f;
    if ((cols & 15) == 0) {
        const uint4 *xv = reinterpret_cast<const uint4 *>(x);
        const int nv = cols >> 4;
        uint4 wv[NR][U];
        int k = lane;
        fp8_load_batch<U, NR>(wv, wrow, k, nv, active);
        pdl_wait(); /* x (and the output) belong to the kernels before */
        if (!active)
            return false;
        for (;;) {
            fp8_fma_batch<U, NR>(wv, xv, k, nv, acc);
            k += 32 * U;
            if (k >= nv)
                break;
            fp8_load_batch<U, NR>(wv, wrow, k, nv, true);
        }
    } else {
        pdl_wait();
        if (!active)
            return false;
        for (int c = lane; c < cols; c += 32) {
            const float xc = __bfloat162float(x[c]);
#pragma unroll
            for (int r = 0; r < NR; r++)
                acc[r] += fp8_to_float(wrow[r][c]) * xc;
        }
    }
#pragma unroll
    for (int r = 0; r < NR; r++)
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
    return true;
}

/* One warp per output row (as cuda_matmul.cu's bf16 GEMV), fp8_dot_rows of one row. U = 4
 * (default) or 8 (a 4096-wide row in one batch: the FP8 row is half the bf16 row's bytes, so twice
 * the rows and half the bytes per warp at U = 4). */
template <int U>
__global__ void __launch_bounds__(FP8_GEMV_WARPS * 32) fp8_gemv_kernel(const __nv_bfloat16 *__restrict__ x,
                                                                       const uint8_t *__restrict__ w,
                                                                       const float *__restrict__ scale, int rows,
                                                                       int cols, float *__restrict__ y, float beta)
{
    pdl_trigger();
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * FP8_GEMV_WARPS + (threadIdx.x >> 5);
    const bool active = row < rows;
    const uint8_t *const wr[1] = {w + (size_t)(active ? row : 0) * cols};
    float acc[1];
    if (!fp8_dot_rows<U, 1>(x, wr, cols, active, lane, acc))
        return;
    if (lane == 0) {
        const float v = scale[row] * acc[0];
        y[row] = beta != 0.0f ? beta * y[row] + v : v;
    }
}

/* gate/up GEMV fused with SwiGLU (n == 1, as cuda_matmul.cu's gemv_swiglu_kernel for bf16): warp j
 * takes gate row j and up row F + j of the stacked (2F, cols) matrix, each dot product and scale as
 * fp8_gemv_kernel computes it, and writes act[j] = bf16(silu(g) * u) as swiglu_kernel does: the
 * same bits as the GEMV then cuda_swiglu, one launch and the 2F floats' round trip fewer. */
template <int U>
__global__ void __launch_bounds__(FP8_GEMV_WARPS * 32) fp8_gemv_swiglu_kernel(const __nv_bfloat16 *__restrict__ x,
                                                                              const uint8_t *__restrict__ w,
                                                                              const float *__restrict__ scale, int F,
                                                                              int cols, uint16_t *__restrict__ act)
{
    pdl_trigger();
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * FP8_GEMV_WARPS + (threadIdx.x >> 5);
    const bool active = row < F;
    const size_t r0 = (size_t)(active ? row : 0);
    const uint8_t *const wr[2] = {w + r0 * cols, w + (F + r0) * cols};
    float acc[2];
    if (!fp8_dot_rows<U, 2>(x, wr, cols, active, lane, acc))
        return;
    if (lane == 0) {
        const float g = scale[row] * acc[0], u = scale[F + row] * acc[1];
        act[row] = swiglu_bf16(g, u);
    }
}

__global__ void fp8_dequant_kernel(const uint8_t *__restrict__ w, const float *__restrict__ scale, int rows, int cols,
                                   __nv_bfloat16 *__restrict__ out)
{
    const size_t n = (size_t)rows * cols;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i * 2 < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t e = i * 2;
        if (e + 1 < n && (cols & 1) == 0) {
            const float s = scale[e / cols];
            const float2 f = fp8x2_to_float2(*reinterpret_cast<const uint16_t *>(w + e));
            *reinterpret_cast<__nv_bfloat162 *>(out + e) = __floats2bfloat162_rn(f.x * s, f.y * s);
        } else {
            for (size_t k = e; k < e + 2 && k < n; k++)
                out[k] = __float2bfloat16_rn(fp8_to_float(w[k]) * scale[k / cols]);
        }
    }
}

/* ---- n = 2..64 rows: tensor cores (bf16 mma.sync m16n8k16), FP8 weights dequantized in registers ----
 * A block of 4 warps owns 128 weight rows; each warp 32 rows (two 16-row MMA tiles) against every
 * token (8 per MMA column group, up to 8 groups). K is walked in chunks of 64: each thread loads 16
 * contiguous weight bytes of 4 rows (its two tiles' rows g and g + 8) and the block stages the chunk
 * of x (n x 64 bf16) in shared memory. The K order inside a chunk is permuted consistently for A and
 * B (thread t's fragment slots of MMA step j are bytes 16t + 4j .. 16t + 4j + 3), which leaves each
 * dot product the same sum in another order; the row scale multiplies the fp32 sum at the end. */
#define FP8_MMA_ROWS 128
#define FP8_MMA_MAXN 64
#define FP8_MMA_KX 256                 /* K columns of x staged in shared memory at a time */
#define FP8_MMA_XS (FP8_MMA_KX + 8)    /* padded row of the staged x (bf16) */

static __device__ __forceinline__ uint32_t fp8x2_to_bf16x2(uint32_t two)
{
    const float2 f = fp8x2_to_float2((uint16_t)two);
    __nv_bfloat162 b = __floats2bfloat162_rn(f.x, f.y); /* exact: e4m3 fits bf16 */
    return *reinterpret_cast<uint32_t *>(&b);
}

/* bytes b and b + 1 of w (e4m3, SEL the __byte_perm selector putting them at bits 15..8 and 31..24:
 * 0x1404 bytes 0 and 1, 0x3424 bytes 2 and 3) -> bf16x2, exactly, on the integer and FMA pipes
 * instead of the conversion unit (fp8x2_to_bf16x2: e4m3x2 -> f16x2 -> 2 f32 -> bf16x2, two
 * conversions a weight at a quarter of the FMA rate or less). Each byte s.eeee.mmm becomes the bf16 bits
 * s.0000eeee.mmm0000: e4m3's value times 2^-120 (exponent bias 7 against bf16's 127), its subnormals
 * (e = 0, m/8 2^-6) included, as bf16 subnormals (m/8 2^-126); one bf16x2 FMA by 2^120 (+ -0, which keeps
 * the signs of zeros) restores the value exactly, every result being a normal bf16. e4m3's NaN
 * (s.1111.111, which no finite checkpoint holds) comes out as -+480 instead of NaN. */
template <unsigned SEL> static __device__ __forceinline__ uint32_t fp8x2_to_bf16x2_int(uint32_t w)
{
    const uint32_t v = __byte_perm(w, 0u, SEL);
    const uint32_t r = (v & 0x80008000u) | ((v >> 4) & 0x07f007f0u);
    uint32_t out;
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(out) : "r"(r), "r"(0x7b807b80u), "r"(0x80008000u));
    return out;
}

static __device__ __forceinline__ void mma_bf16_16816(float *c, const uint32_t *a, uint32_t b0, uint32_t b1)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

/* a warp's accumulators (2 row tiles x 8 token groups x 4) to zero */
static __device__ __forceinline__ void fp8_mma_zero(float (&acc)[2][8][4])
{
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int q = 0; q < 8; q++)
#pragma unroll
            for (int i = 0; i < 4; i++)
                acc[mt][q][i] = 0.0f;
}

/* the A fragment of MMA step j (0..3) from a thread's 16 weight bytes of rows g (w[0]) and g + 8
 * (w[1]): word j of each, two e4m3 pairs -> bf16x2 (ICVT: through fp8x2_to_bf16x2_int, same values) */
template <bool ICVT = false>
static __device__ __forceinline__ void fp8_mma_afrag(const uint4 (&w)[2], int j, uint32_t (&a)[4])
{
    const uint32_t w0 = j == 0 ? w[0].x : j == 1 ? w[0].y : j == 2 ? w[0].z : w[0].w;
    const uint32_t w1 = j == 0 ? w[1].x : j == 1 ? w[1].y : j == 2 ? w[1].z : w[1].w;
    if (ICVT) {
        a[0] = fp8x2_to_bf16x2_int<0x1404u>(w0);
        a[1] = fp8x2_to_bf16x2_int<0x1404u>(w1);
        a[2] = fp8x2_to_bf16x2_int<0x3424u>(w0);
        a[3] = fp8x2_to_bf16x2_int<0x3424u>(w1);
        return;
    }
    a[0] = fp8x2_to_bf16x2(w0 & 0xffffu); /* row g,     slots 2t, 2t+1 */
    a[1] = fp8x2_to_bf16x2(w1 & 0xffffu); /* row g + 8, slots 2t, 2t+1 */
    a[2] = fp8x2_to_bf16x2(w0 >> 16);     /* row g,     slots 2t+8, 2t+9 */
    a[3] = fp8x2_to_bf16x2(w1 >> 16);     /* row g + 8, slots 2t+8, 2t+9 */
}

/* a warp's 32 rows (from rb) x 8 ng tokens of accumulators, scaled by their rows' scales: into y
 * (beta) or, with part, into split blockIdx.y's partials */
static __device__ __forceinline__ void fp8_mma_store(const float (&acc)[2][8][4], int rb, int g, int t, int ng, int n,
                                                     int rows, const float *__restrict__ scale, float *__restrict__ y,
                                                     int ldy, float beta, float *__restrict__ part)
{
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int r = rb + mt * 16 + h * 8 + g;
            if (r >= rows)
                continue;
            const float s = scale[r];
#pragma unroll
            for (int q = 0; q < 8; q++)
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    const int tok = q * 8 + 2 * t + i;
                    if (q < ng && tok < n) {
                        const float v = s * acc[mt][q][h * 2 + i];
                        if (part) {
                            part[((size_t)blockIdx.y * n + tok) * rows + r] = v;
                        } else {
                            float *yp = y + (size_t)tok * ldy + r;
                            *yp = beta != 0.0f ? beta * *yp + v : v;
                        }
                    }
                }
        }
}

/* this thread's 16 weight bytes of its 4 rows at K offset k0 (zeros past the last row) */
static __device__ __forceinline__ void fp8_mma_load(uint4 (&wv)[2][2], const uint8_t *const (&wr)[2][2],
                                                    const bool (&ok)[2][2], int k0)
{
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++)
            wv[mt][h] = ok[mt][h] ? __ldcs(reinterpret_cast<const uint4 *>(wr[mt][h] + k0)) : make_uint4(0, 0, 0, 0);
}

/* grid (ceil(rows / 128), splits): split blockIdx.y covers K columns [y * k_per, min(cols, + k_per))
 * (k_per a multiple of 64); with one split it writes y (beta), with more its scaled partial sums to
 * part[(split * n + token) * rows + row] for fp8_splitk_reduce (a fixed order: deterministic). */
__global__ void __launch_bounds__(128) fp8_mma_kernel(const __nv_bfloat16 *__restrict__ x, int ldx, int n,
                                                      const uint8_t *__restrict__ w, const float *__restrict__ scale,
                                                      int rows, int cols, float *__restrict__ y, int ldy, float beta,
                                                      int k_per, float *__restrict__ part)
{
    __shared__ __align__(16) __nv_bfloat16 xs[FP8_MMA_MAXN * FP8_MMA_XS];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int rb = blockIdx.x * FP8_MMA_ROWS + warp * 32;
    const int ng = (n + 7) >> 3;
    const int k_begin = blockIdx.y * k_per, k_end = min(cols, k_begin + k_per);
    float acc[2][8][4];
    fp8_mma_zero(acc);
    const uint8_t *wr[2][2];
    bool ok[2][2];
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int r = rb + mt * 16 + h * 8 + g;
            ok[mt][h] = r < rows;
            wr[mt][h] = w + (size_t)(ok[mt][h] ? r : 0) * cols + 16 * t;
        }
    uint4 wv[2][2], wn[2][2];
    fp8_mma_load(wv, wr, ok, k_begin); /* the first chunk's weights, then always one chunk ahead */
    for (int kx = k_begin; kx < k_end; kx += FP8_MMA_KX) {
        const int kw = k_end - kx < FP8_MMA_KX ? k_end - kx : FP8_MMA_KX; /* a multiple of 64 */
        /* stage x[0..8ng)[kx..kx+kw) (tokens >= n as zeros) */
        __syncthreads();
        const int parts = kw >> 3;
        for (int i = threadIdx.x; i < ng * 8 * parts; i += 128) {
            const int tok = i / parts, part = i % parts;
            uint4 v = make_uint4(0, 0, 0, 0);
            if (tok < n)
                v = *reinterpret_cast<const uint4 *>(x + (size_t)tok * ldx + kx + part * 8);
            *reinterpret_cast<uint4 *>(xs + tok * FP8_MMA_XS + part * 8) = v;
        }
        __syncthreads();
        for (int k0 = kx; k0 < kx + kw; k0 += 64) {
            if (k0 + 64 < k_end)
                fp8_mma_load(wn, wr, ok, k0 + 64);
            const __nv_bfloat16 *xk = xs + (k0 - kx) + 16 * t;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                uint32_t a[2][4];
#pragma unroll
                for (int mt = 0; mt < 2; mt++)
                    fp8_mma_afrag(wv[mt], j, a[mt]);
#pragma unroll
                for (int q = 0; q < 8; q++) {
                    if (q < ng) {
                        const uint2 bv = *reinterpret_cast<const uint2 *>(xk + (q * 8 + g) * FP8_MMA_XS + 4 * j);
                        mma_bf16_16816(acc[0][q], a[0], bv.x, bv.y);
                        mma_bf16_16816(acc[1][q], a[1], bv.x, bv.y);
                    }
                }
            }
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int h = 0; h < 2; h++)
                    wv[mt][h] = wn[mt][h];
        }
    }
    fp8_mma_store(acc, rb, g, t, ng, n, rows, scale, y, ldy, beta, part);
}

/* y[t, r] = beta * y[t, r] + sum over splits in order of part[(split * n + t) * rows + r] */
__global__ void fp8_splitk_reduce(const float *__restrict__ part, int splits, int n, int rows, float *__restrict__ y,
                                  int ldy, float beta)
{
    const size_t total = (size_t)n * rows;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const int t = (int)(i / rows), r = (int)(i % rows);
        float v = 0.0f;
        for (int sp = 0; sp < splits; sp++)
            v += part[((size_t)sp * n + t) * rows + r];
        float *yp = y + (size_t)t * ldy + r;
        *yp = beta != 0.0f ? beta * *yp + v : v;
    }
}

/* The pipelined form (fp8_mma 4): the same MMAs, fragments and K permutation as fp8_mma_kernel, but
 * 8 warps (256 weight rows) a block and the weight and x tiles of 64 K columns streamed through a
 * 4-stage cp.async ring in shared memory, so that three tiles (~48-72 KiB a block) are in flight
 * while one is used. fp8_mma_kernel holds one 64-column step of its weights in registers ahead (8 KiB
 * a block) and stages x synchronously; at 2 blocks an SM that is too little to cover the DRAM latency
 * (verify 60 of the 8B shape ran its FP8 GEMMs at ~1 TB/s). A stage: the weight tile (256 rows x
 * 64 bytes, row-major: a quarter warp's 16-byte reads of rows g, g+1 are one 128-byte line) and the x
 * tile (8 ng tokens x 64 bf16, rows padded to 72 so that the 16-byte reads of 2 tokens x 4 lanes
 * hit distinct banks); tokens >= n and weight rows >= rows are zero-filled. Grid and partials as
 * fp8_mma_kernel's. */
#define FP8_PIPE_WARPS 8
#define FP8_PIPE_ROWS (32 * FP8_PIPE_WARPS)
#define FP8_PIPE_STAGES 4
#define FP8_PIPE_XS 72 /* bf16 per staged x row */

/* one ring stage: the weight tile, then the x tile of n tokens rounded up to 8 */
static __host__ __device__ __forceinline__ int fp8_pipe_stage_bytes(int n)
{
    return FP8_PIPE_ROWS * 64 + (n + 7) / 8 * 8 * FP8_PIPE_XS * 2;
}

/* CLU (launched as clusters of the `used` K splits of a row block, cuda_fp8_gemm_pipe's FP8_PIPE_CLUSTER):
 * no partials in global memory and no reduce launch; each block leaves its scaled partial sums in its
 * shared memory (the ring, free after the last tile), and after a cluster barrier block rank c sums a
 * c-th share of the outputs over the cluster's blocks in rank (= split) order through distributed shared
 * memory: the fp8_splitk_reduce sums, bit for bit. */
template <bool ICVT, bool CLU>
__global__ void __launch_bounds__(32 * FP8_PIPE_WARPS, 2)
    fp8_pipe_kernel(const __nv_bfloat16 *__restrict__ x, int ldx, int n, const uint8_t *__restrict__ w,
                    const float *__restrict__ scale, int rows, int cols, float *__restrict__ y, int ldy, float beta,
                    int k_per, float *__restrict__ part)
{
    extern __shared__ __align__(16) unsigned char fp8_pipe_smem[];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int row0 = blockIdx.x * FP8_PIPE_ROWS, rb = row0 + warp * 32;
    const int ng = (n + 7) >> 3;
    const int wbytes = FP8_PIPE_ROWS * 64, stage = fp8_pipe_stage_bytes(n);
    const int k_begin = blockIdx.y * k_per, k_end = min(cols, k_begin + k_per);
    const int nk = (k_end - k_begin) >> 6;
    float acc[2][8][4];
    fp8_mma_zero(acc);
    /* tile kt (K columns k_begin + 64 kt ..) into ring slot kt % STAGES, one commit group */
    auto load = [&](int kt) {
        unsigned char *ws = fp8_pipe_smem + (kt % FP8_PIPE_STAGES) * stage;
        __nv_bfloat16 *xs = reinterpret_cast<__nv_bfloat16 *>(ws + wbytes);
        const int k0 = k_begin + kt * 64;
        for (int c = threadIdx.x; c < FP8_PIPE_ROWS * 4; c += 32 * FP8_PIPE_WARPS) {
            const int r = row0 + (c >> 2);
            const bool ok = r < rows;
            cp_async16(ws + c * 16, w + (size_t)(ok ? r : 0) * cols + k0 + (c & 3) * 16, ok ? 16 : 0);
        }
        for (int c = threadIdx.x; c < ng * 8 * 8; c += 32 * FP8_PIPE_WARPS) {
            const int tok = c >> 3;
            const bool ok = tok < n;
            cp_async16(xs + tok * FP8_PIPE_XS + (c & 7) * 8, x + (size_t)(ok ? tok : 0) * ldx + k0 + (c & 7) * 8,
                       ok ? 16 : 0);
        }
    };
#pragma unroll
    for (int s = 0; s < FP8_PIPE_STAGES - 1; s++) {
        if (s < nk)
            load(s);
        cp_async_commit(); /* tile s is group s (empty past the last tile) */
    }
    for (int kt = 0; kt < nk; kt++) {
        cp_async_wait<FP8_PIPE_STAGES - 2>(); /* this thread's copies of tile kt landed */
        __syncthreads();                      /* everyone's did, and slot (kt - 1) % STAGES is free */
        if (kt + FP8_PIPE_STAGES - 1 < nk)
            load(kt + FP8_PIPE_STAGES - 1);
        cp_async_commit();
        const unsigned char *ws = fp8_pipe_smem + (kt % FP8_PIPE_STAGES) * stage;
        const __nv_bfloat16 *xs = reinterpret_cast<const __nv_bfloat16 *>(ws + wbytes);
        uint4 wv[2][2];
#pragma unroll
        for (int mt = 0; mt < 2; mt++)
#pragma unroll
            for (int h = 0; h < 2; h++)
                wv[mt][h] = *reinterpret_cast<const uint4 *>(ws + (warp * 32 + mt * 16 + h * 8 + g) * 64 + 16 * t);
        /* two MMA steps (j = 2 jj, 2 jj + 1) per 16-byte read of x: K elements 16 t + 8 jj .. + 7 */
#pragma unroll
        for (int jj = 0; jj < 2; jj++) {
            uint32_t a[2][2][4];
#pragma unroll
            for (int e = 0; e < 2; e++)
#pragma unroll
                for (int mt = 0; mt < 2; mt++)
                    fp8_mma_afrag<ICVT>(wv[mt], 2 * jj + e, a[e][mt]);
#pragma unroll
            for (int q = 0; q < 8; q++) {
                if (q < ng) {
                    const uint4 bv =
                        *reinterpret_cast<const uint4 *>(xs + (q * 8 + g) * FP8_PIPE_XS + 16 * t + 8 * jj);
                    mma_bf16_16816(acc[0][q], a[0][0], bv.x, bv.y);
                    mma_bf16_16816(acc[1][q], a[0][1], bv.x, bv.y);
                    mma_bf16_16816(acc[0][q], a[1][0], bv.z, bv.w);
                    mma_bf16_16816(acc[1][q], a[1][1], bv.z, bv.w);
                }
            }
        }
    }
    cp_async_wait<0>(); /* nothing real in flight: the groups past the last tile are empty */
    if (!CLU) {
        fp8_mma_store(acc, rb, g, t, ng, n, rows, scale, y, ldy, beta, part);
        return;
    }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    /* red[tok * FP8_PIPE_ROWS + row - row0]: this split's scaled sums, as fp8_mma_store's partials */
    float *red = reinterpret_cast<float *>(fp8_pipe_smem);
    __syncthreads(); /* every warp is done with the ring */
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int r = rb + mt * 16 + h * 8 + g;
            const float sc = r < rows ? scale[r] : 0.0f;
#pragma unroll
            for (int q = 0; q < 8; q++)
#pragma unroll
                for (int i = 0; i < 2; i++)
                    if (q < ng)
                        red[(q * 8 + 2 * t + i) * FP8_PIPE_ROWS + r - row0] = sc * acc[mt][q][h * 2 + i];
        }
    namespace cg = cooperative_groups;
    cg::cluster_group cl = cg::this_cluster();
    cl.sync(); /* every split's sums are in its shared memory */
    const int cs = (int)cl.num_blocks(), cr = (int)cl.block_rank(); /* cluster (1, cs, 1): rank = blockIdx.y */
    const int total = n * FP8_PIPE_ROWS;
    for (int i = cr * (int)blockDim.x + (int)threadIdx.x; i < total; i += cs * (int)blockDim.x) {
        const int tok = i / FP8_PIPE_ROWS, r = row0 + i % FP8_PIPE_ROWS;
        if (r >= rows)
            continue;
        float v = 0.0f;
        for (int sp = 0; sp < cs; sp++)
            v += cl.map_shared_rank(red, sp)[i];
        float *yp = y + (size_t)tok * ldy + r;
        *yp = beta != 0.0f ? beta * *yp + v : v;
    }
    cl.sync(); /* no block leaves while another still reads its shared memory */
#else
    __trap(); /* clusters need sm_90: fp8_pipe_cluster_ok refuses them below */
#endif
}

static __device__ __forceinline__ uint64_t fp8_hash(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

__global__ void fp8_fill_kernel(uint8_t *w, size_t n, float *scale, int rows, float amp, uint64_t seed)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float u = (float)(fp8_hash(seed ^ (i * 0x9e3779b97f4a7c15ull)) >> 40) * (1.0f / 8388608.0f) - 1.0f;
        w[i] = (uint8_t)__nv_cvt_float_to_fp8(u * 448.0f, __NV_SATFINITE, __NV_E4M3);
        if (i < (size_t)rows)
            scale[i] = amp / 448.0f;
    }
}

static cudaLaunchConfig_t fp8_gemv_cfg(int rows, int pdl, cudaStream_t st, cudaLaunchAttribute *at)
{
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((rows + FP8_GEMV_WARPS - 1) / FP8_GEMV_WARPS);
    cfg.blockDim = dim3(FP8_GEMV_WARPS * 32);
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = pdl ? 1 : 0;
    return cfg;
}

extern "C" enum frs_status cuda_fp8_gemv(const uint16_t *x, const uint8_t *w, const float *scale, int rows, int cols,
                                         float *y, float beta, int pdl, int unroll, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0)
        return FRS_OK;
    if ((cols & 15) == 0 && (((uintptr_t)x | (uintptr_t)w) & 15) != 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemv: x and w must be 16-byte aligned");
    cudaLaunchAttribute at[1];
    const cudaLaunchConfig_t cfg = fp8_gemv_cfg(rows, pdl, st, at);
    const __nv_bfloat16 *xb = reinterpret_cast<const __nv_bfloat16 *>(x);
    if (unroll == 8)
        FRS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, fp8_gemv_kernel<8>, xb, w, scale, rows, cols, y, beta));
    else
        FRS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, fp8_gemv_kernel<4>, xb, w, scale, rows, cols, y, beta));
    FRS_LAUNCH_CHECK(fp8_gemv_kernel);
    return FRS_OK;
}

extern "C" enum frs_status cuda_fp8_gemv_swiglu(const uint16_t *x, const uint8_t *w, const float *scale, int F,
                                                int cols, uint16_t *act, int pdl, int unroll, cudaStream_t st)
{
    if (F <= 0 || cols <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemv_swiglu: F %d, cols %d must be > 0", F, cols);
    if ((cols & 15) == 0 && (((uintptr_t)x | (uintptr_t)w) & 15) != 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemv_swiglu: x and w must be 16-byte aligned");
    cudaLaunchAttribute at[1];
    const cudaLaunchConfig_t cfg = fp8_gemv_cfg(F, pdl, st, at);
    const __nv_bfloat16 *xb = reinterpret_cast<const __nv_bfloat16 *>(x);
    if (unroll == 8)
        FRS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, fp8_gemv_swiglu_kernel<8>, xb, w, scale, F, cols, act));
    else
        FRS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, fp8_gemv_swiglu_kernel<4>, xb, w, scale, F, cols, act));
    FRS_LAUNCH_CHECK(fp8_gemv_swiglu_kernel);
    return FRS_OK;
}

extern "C" int cuda_fp8_mma_ok(int n, int cols, const void *x, int ldx)
{
    return n >= 2 && n <= FP8_MMA_MAXN && cols > 0 && cols % 64 == 0 && ldx % 8 == 0 && ((uintptr_t)x & 15) == 0;
}

extern "C" enum frs_status cuda_fp8_gemm_small(const uint16_t *x, int ldx, int n, const uint8_t *w, const float *scale,
                                               int rows, int cols, float *y, int ldy, float beta, cudaStream_t st)
{
    if (!cuda_fp8_mma_ok(n, cols, x, ldx))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemm_small: n %d (2..%d), cols %d (multiple of 64), ldx %d "
                       "(multiple of 8) or x alignment not supported", n, FP8_MMA_MAXN, cols, ldx);
    if (((uintptr_t)w & 15) != 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemm_small: w must be 16-byte aligned");
    const int blocks = (rows + FP8_MMA_ROWS - 1) / FP8_MMA_ROWS;
    fp8_mma_kernel<<<dim3((unsigned)blocks, 1), 128, 0, st>>>(reinterpret_cast<const __nv_bfloat16 *>(x), ldx, n, w,
                                                              scale, rows, cols, y, ldy, beta, cols, nullptr);
    FRS_LAUNCH_CHECK(fp8_mma_kernel);
    return FRS_OK;
}

/* the K splits that give a grid of block_rows-row blocks about 2 n_sm blocks (two waves of
 * fp8_mma_kernel, two resident fp8_pipe_kernel blocks an SM), at least min_cols columns a split, at
 * most 16 */
static int fp8_splits(int rows, int cols, int n_sm, int block_rows, int min_cols)
{
    const int blocks = (rows + block_rows - 1) / block_rows;
    const int s = (2 * (n_sm > 0 ? n_sm : 132) + blocks - 1) / blocks;
    const int max_s = cols / min_cols > 0 ? cols / min_cols : 1;
    return s < 1 ? 1 : s > max_s ? max_s : s > 16 ? 16 : s;
}

/* K columns a split (a multiple of 64) for `splits` requested; returns the splits used */
static int fp8_split_range(int cols, int splits, int *k_per)
{
    *k_per = ((cols + splits - 1) / splits + 63) / 64 * 64;
    return (cols + *k_per - 1) / *k_per;
}

/* y = beta y + the sum of the `used` splits' partials, in split order */
static enum frs_status fp8_split_reduce(const float *part, int used, int n, int rows, float *y, int ldy, float beta,
                                        cudaStream_t st)
{
    const size_t total = (size_t)n * rows;
    const unsigned rb = (unsigned)((total + 255) / 256 < 4096 ? (total + 255) / 256 : 4096);
    fp8_splitk_reduce<<<rb, 256, 0, st>>>(part, used, n, rows, y, ldy, beta);
    FRS_LAUNCH_CHECK(fp8_splitk_reduce);
    return FRS_OK;
}

extern "C" int cuda_fp8_splitk_splits(int rows, int cols, int n_sm)
{
    return fp8_splits(rows, cols, n_sm, FP8_MMA_ROWS, 512);
}

extern "C" enum frs_status cuda_fp8_gemm_small_splitk(const uint16_t *x, int ldx, int n, const uint8_t *w,
                                                      const float *scale, int rows, int cols, float *y, int ldy,
                                                      float beta, int splits, float *part, cudaStream_t st)
{
    if (splits <= 1)
        return cuda_fp8_gemm_small(x, ldx, n, w, scale, rows, cols, y, ldy, beta, st);
    if (!cuda_fp8_mma_ok(n, cols, x, ldx) || ((uintptr_t)w & 15) != 0 || !part)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemm_small_splitk: n %d, cols %d, ldx %d, alignment or scratch",
                       n, cols, ldx);
    const int blocks = (rows + FP8_MMA_ROWS - 1) / FP8_MMA_ROWS;
    int k_per;
    const int used = fp8_split_range(cols, splits, &k_per);
    fp8_mma_kernel<<<dim3((unsigned)blocks, (unsigned)used), 128, 0, st>>>(
        reinterpret_cast<const __nv_bfloat16 *>(x), ldx, n, w, scale, rows, cols, y, ldy, beta, k_per, part);
    FRS_LAUNCH_CHECK(fp8_mma_kernel);
    return fp8_split_reduce(part, used, n, rows, y, ldy, beta, st);
}

extern "C" int cuda_fp8_pipe_splits(int rows, int cols, int n_sm)
{
    return fp8_splits(rows, cols, n_sm, FP8_PIPE_ROWS, 256); /* at least 4 tiles a split */
}

/* the launch of fp8_pipe_kernel<ICVT, true>: grid (blocks, used), clusters (1, used, 1); at[1] holds the
 * cluster attribute */
static cudaLaunchConfig_t fp8_pipe_cluster_cfg(cudaLaunchAttribute *at, unsigned blocks, int used, size_t smem,
                                               cudaStream_t st)
{
    at[0].id = cudaLaunchAttributeClusterDimension;
    at[0].val.clusterDim.x = 1;
    at[0].val.clusterDim.y = (unsigned)used;
    at[0].val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(blocks, (unsigned)used);
    cfg.blockDim = dim3(32 * FP8_PIPE_WARPS);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = 1;
    return cfg;
}

/* per conversion, device and cluster size: the clusters of fp8_pipe_kernel<ICVT, true> resident at once at
 * the largest shared memory a call may use (0 not asked yet, -1 none: no sm_90 code, the size refused,
 * or a launch that failed) */
static int fp8_pipe_clusters[2][64][17];
static int fp8_pipe_n_sm[64];

/* Whether `blocks` row blocks x `used` splits run as clusters: the kernel's code is sm_90's (a binary
 * with only compute_80 PTX, JIT-compiled for a newer GPU, holds the trap of the sm_80 branch), sizes
 * above 8 allowed (the non-portable attribute), and as many blocks resident at once as about 7/8 of
 * what the plain grid would have (all of them, or two an SM): clusters of 9-16 must fit in one GPC. */
template <bool ICVT> static int fp8_pipe_cluster_ok(int dev, int used, size_t smem_max, unsigned blocks)
{
    if (dev < 0 || dev >= 64 || used < 2 || used > 16 || blocks == 0)
        return 0;
    int *cap = &fp8_pipe_clusters[ICVT][dev][used];
    if (!__atomic_load_n(cap, __ATOMIC_ACQUIRE)) {
        cudaFuncAttributes fa;
        int n_sm = 0, clusters = 0;
        bool yes = cudaFuncGetAttributes(&fa, fp8_pipe_kernel<ICVT, true>) == cudaSuccess && fa.ptxVersion >= 90 &&
                   cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess;
        if (yes && used > 8)
            yes = cudaFuncSetAttribute(fp8_pipe_kernel<ICVT, true>, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) ==
                  cudaSuccess;
        cudaLaunchAttribute at[1];
        const cudaLaunchConfig_t cfg = fp8_pipe_cluster_cfg(at, blocks, used, smem_max, 0);
        if (yes)
            yes = cudaOccupancyMaxActiveClusters(&clusters, fp8_pipe_kernel<ICVT, true>, &cfg) == cudaSuccess &&
                  clusters > 0;
        if (!yes)
            cudaGetLastError(); /* the refused query's error, not left for the next check */
        __atomic_store_n(&fp8_pipe_n_sm[dev], n_sm, __ATOMIC_RELAXED);
        __atomic_store_n(cap, yes ? clusters : -1, __ATOMIC_RELEASE);
    }
    const long c = __atomic_load_n(cap, __ATOMIC_ACQUIRE);
    if (c < 0)
        return 0;
    const long plain = (long)blocks * used < 2L * fp8_pipe_n_sm[dev] ? (long)blocks * used : 2L * fp8_pipe_n_sm[dev];
    return 8 * c * used >= 7 * plain;
}

/* fp8_pipe_kernel<ICVT, true> over `used` splits as clusters where fp8_pipe_cluster_ok says they fit: y
 * written in the kernel; true when it was launched. A launch the runtime refuses (e.g. no room for a
 * cluster under MPS) marks the size as none and clears its error, for the caller to take the partials. */
template <bool ICVT>
static bool fp8_pipe_cluster_run(int dev, size_t smem_max, const uint16_t *x, int ldx, int n, const uint8_t *w,
                                 const float *scale, int rows, int cols, float *y, int ldy, float beta, int k_per,
                                 int used, unsigned blocks, size_t smem, cudaStream_t st)
{
    if (!fp8_pipe_cluster_ok<ICVT>(dev, used, smem_max, blocks))
        return false;
    cudaLaunchAttribute at[1];
    const cudaLaunchConfig_t cfg = fp8_pipe_cluster_cfg(at, blocks, used, smem, st);
    cudaError_t e = cudaLaunchKernelEx(&cfg, fp8_pipe_kernel<ICVT, true>, reinterpret_cast<const __nv_bfloat16 *>(x),
                                       ldx, n, w, scale, rows, cols, y, ldy, beta, k_per, (float *)nullptr);
    if (e == cudaSuccess)
        e = cudaGetLastError();
    if (e != cudaSuccess) {
        cudaGetLastError();
        __atomic_store_n(&fp8_pipe_clusters[ICVT][dev][used], -1, __ATOMIC_RELEASE);
    }
    return e == cudaSuccess;
}

extern "C" enum frs_status cuda_fp8_gemm_pipe(const uint16_t *x, int ldx, int n, const uint8_t *w, const float *scale,
                                              int rows, int cols, float *y, int ldy, float beta, int splits,
                                              float *part, int flags, cudaStream_t st)
{
    if (!cuda_fp8_mma_ok(n, cols, x, ldx) || ((uintptr_t)w & 15) != 0 || (splits > 1 && !part))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemm_pipe: n %d (2..%d), cols %d (multiple of 64), ldx %d "
                       "(multiple of 8), alignment or split scratch", n, FP8_MMA_MAXN, cols, ldx);
    if (rows <= 0)
        return FRS_OK;
    if (splits < 1)
        splits = 1;
    const int blocks = (rows + FP8_PIPE_ROWS - 1) / FP8_PIPE_ROWS;
    int k_per;
    const int used = fp8_split_range(cols, splits, &k_per);
    const size_t smem = (size_t)FP8_PIPE_STAGES * fp8_pipe_stage_bytes(n);
    const bool icvt = (flags & FP8_PIPE_INT_CVT) != 0;
    /* above the default 48 KiB from n = 9 on: the attribute set once per device to the n = 64 size, or
     * to the device's opt-in limit where that is smaller (sm_86 / sm_89: 99 KiB a block), calls that
     * need more going to fp8_mma_kernel (the first call runs eagerly in every path, the verify
     * graphs being captured at their second use) */
    static unsigned long long attr_set; /* bit d: set on device d */
    static int attr_bytes[64];
    int dev = 0;
    FRS_CUDA_CHECK(cudaGetDevice(&dev));
    if (dev >= 64)
        return cuda_fp8_gemm_small_splitk(x, ldx, n, w, scale, rows, cols, y, ldy, beta, splits, part, st);
    if (!(__atomic_load_n(&attr_set, __ATOMIC_ACQUIRE) >> dev & 1)) {
        int optin = 0;
        FRS_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
        const int want = FP8_PIPE_STAGES * fp8_pipe_stage_bytes(FP8_MMA_MAXN);
        const int bytes = want < optin ? want : optin;
        const void *const kernels[] = {
            (const void *)fp8_pipe_kernel<false, false>, (const void *)fp8_pipe_kernel<true, false>,
            (const void *)fp8_pipe_kernel<false, true>, (const void *)fp8_pipe_kernel<true, true>};
        for (const void *k : kernels)
            FRS_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
        attr_bytes[dev] = bytes;
        __atomic_fetch_or(&attr_set, 1ull << dev, __ATOMIC_RELEASE);
    }
    if (smem > (size_t)attr_bytes[dev])
        return cuda_fp8_gemm_small_splitk(x, ldx, n, w, scale, rows, cols, y, ldy, beta, splits, part, st);
    /* the splits as clusters where they fit (at the largest shared memory a call may use) */
    if ((flags & FP8_PIPE_CLUSTER) && used > 1 &&
        (icvt ? fp8_pipe_cluster_run<true> : fp8_pipe_cluster_run<false>)(dev, (size_t)attr_bytes[dev], x, ldx, n, w,
                                                                          scale, rows, cols, y, ldy, beta, k_per,
                                                                          used, (unsigned)blocks, smem, st))
        return FRS_OK;
    (icvt ? fp8_pipe_kernel<true, false> : fp8_pipe_kernel<false, false>)<<<dim3((unsigned)blocks, (unsigned)used),
                                                                           32 * FP8_PIPE_WARPS, smem, st>>>(
        reinterpret_cast<const __nv_bfloat16 *>(x), ldx, n, w, scale, rows, cols, y, ldy, beta, k_per,
        used > 1 ? part : nullptr);
    FRS_LAUNCH_CHECK(fp8_pipe_kernel);
    return used > 1 ? fp8_split_reduce(part, used, n, rows, y, ldy, beta, st) : FRS_OK;
}

extern "C" enum frs_status cuda_fp8_dequant_bf16(const uint8_t *w, const float *scale, int rows, int cols, uint16_t *out,
                                                 cudaStream_t st)
{
    const size_t pairs = ((size_t)rows * cols + 1) / 2;
    if (pairs == 0)
        return FRS_OK;
    size_t blocks = (pairs + 255) / 256;
    if (blocks > 65535)
        blocks = 65535;
    fp8_dequant_kernel<<<(unsigned)blocks, 256, 0, st>>>(w, scale, rows, cols, reinterpret_cast<__nv_bfloat16 *>(out));
    FRS_LAUNCH_CHECK(fp8_dequant_kernel);
    return FRS_OK;
}

extern "C" enum frs_status cuda_fp8_fill_hash(uint8_t *w, size_t n, float *scale, int rows, float amp, uint64_t seed,
                                              cudaStream_t st)
{
    if (n == 0)
        return FRS_OK;
    size_t blocks = (n + 255) / 256;
    if (blocks > 65535)
        blocks = 65535;
    fp8_fill_kernel<<<(unsigned)blocks, 256, 0, st>>>(w, n, scale, rows, amp, seed);
    FRS_LAUNCH_CHECK(fp8_fill_kernel);
    return FRS_OK;
}

extern "C" enum frs_status cuda_gate_up_swiglu(struct cuda_blas *blas, const uint16_t *x, int n, const uint16_t *w,
                                               const uint8_t *w8, const float *s8, int F, int cols, float *gu,
                                               uint16_t *act, uint16_t *deq)
{
    if (n == 1 && !w8 && cols % 8 == 0) /* fused: no gate/up round trip, one launch fewer */
        return cuda_gemv_swiglu(x, w, F, cols, act, blas->pdl, blas->stream);
    if (n == 1 && w8 && cuda_row_kernels() >= 2) /* the same, FP8 (row kernels 1: unfused) */
        return cuda_fp8_gemv_swiglu(x, w8, s8, F, cols, act, blas->pdl, blas->fp8_gemv_unroll, blas->stream);
    FRS_TRY(cuda_matmul_w8(blas, x, cols, n, w, w8, s8, 2 * F, cols, gu, 2 * F, 0.0f, deq));
    return cuda_swiglu(gu, gu + F, n, F, 2 * F, act, F, blas->stream);
}

extern "C" enum frs_status cuda_matmul_w8(struct cuda_blas *blas, const uint16_t *x, int ldx, int n, const uint16_t *w,
                                          const uint8_t *w8, const float *s8, int rows, int cols, float *y, int ldy,
                                          float beta, uint16_t *deq)
{
    const int mma = blas->fp8_mma;
    if (!w8)
        return cuda_matmul(blas, x, ldx, n, w, rows, cols, y, ldy, beta);
    if (n == 1)
        return cuda_fp8_gemv(x, w8, s8, rows, cols, y, beta, blas->pdl, blas->fp8_gemv_unroll, blas->stream);
    if (mma && cuda_fp8_mma_ok(n, cols, x, ldx)) {
        /* mma 2: split K over more blocks where the rows alone leave SMs idle (partials in the deq
         * scratch, reduced in a fixed order), when the scratch holds them; mma 4: the pipelined
         * kernel, split likewise; mma 5: it with the integer e4m3 -> bf16 conversion; 6 / 7: 4 / 5 with the
         * splits as clusters (no partials in global memory, no reduce launch) */
        const int pipe = mma >= 4 && ((uintptr_t)w8 & 15) == 0;
        int sp = pipe ? cuda_fp8_pipe_splits(rows, cols, blas->n_sm)
                      : mma >= 2 ? cuda_fp8_splitk_splits(rows, cols, blas->n_sm) : 1;
        if (!deq || (size_t)sp * n * rows * sizeof(float) > (size_t)rows * cols * sizeof(uint16_t))
            sp = 1;
        return pipe ? cuda_fp8_gemm_pipe(x, ldx, n, w8, s8, rows, cols, y, ldy, beta, sp, (float *)deq,
                                         (mma == 5 || mma == 7 ? FP8_PIPE_INT_CVT : 0) |
                                             (mma >= 6 ? FP8_PIPE_CLUSTER : 0),
                                         blas->stream)
                    : cuda_fp8_gemm_small_splitk(x, ldx, n, w8, s8, rows, cols, y, ldy, beta, sp, (float *)deq,
                                                 blas->stream);
    }
    if (!deq)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_matmul_w8: an FP8 GEMM of %d rows needs the dequantization scratch", n);
    FRS_TRY(cuda_fp8_dequant_bf16(w8, s8, rows, cols, deq, blas->stream));
    return cuda_matmul(blas, x, ldx, n, deq, rows, cols, y, ldy, beta);
}
