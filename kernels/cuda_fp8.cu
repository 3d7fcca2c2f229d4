/* cuda_fp8.cu - FP8 (e4m3) weight kernels and their extern "C" launchers (cuda_fp8_kernels.h; not named cuda_fp8.h, which would hide the CUDA header of that name). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda_check.h" /* FRS_CUDA_CHECK, FRS_LAUNCH_CHECK */
#include "cuda_common.cuh" /* pdl_wait, pdl_trigger */
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

/* One warp per output row (as cuda_matmul.cu's bf16 GEMV): each lane streams 16-byte chunks of the
 * row (16 weights, evict-first loads), U of them in flight per batch (predicated: a row's tail is
 * one batch, not U serial loads), the first batch issued before pdl_wait (weights never depend on
 * the kernel before); x through the read-only path. U = 4 (default) or 8 (a 4096-wide row in one
 * batch: the FP8 row is half the bf16 row's bytes, so twice the rows and half the bytes per warp
 * at U = 4). Rows whose width is not a multiple of 16 take a scalar loop. */
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
    const uint8_t *wrow = w + (size_t)(active ? row : 0) * cols;
    float acc = 0.0f;
    if ((cols & 15) == 0) {
        const uint4 *wr = reinterpret_cast<const uint4 *>(wrow);
        const uint4 *xv = reinterpret_cast<const uint4 *>(x);
        const int nv = cols >> 4;
        uint4 wv[U];
        int k = lane;
#pragma unroll
        for (int u = 0; u < U; u++)
            if (active && k + 32 * u < nv)
                wv[u] = __ldcs(wr + k + 32 * u);
        pdl_wait(); /* x and y belong to the kernels before */
        if (!active)
            return;
        for (;;) {
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int kk = k + 32 * u;
                if (kk >= nv)
                    break;
                const uint4 xa = __ldg(xv + 2 * kk), xb = __ldg(xv + 2 * kk + 1);
                const uint32_t wq[4] = {wv[u].x, wv[u].y, wv[u].z, wv[u].w};
                const uint32_t xq[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const float2 w01 = fp8x2_to_float2((uint16_t)(wq[i] & 0xffffu));
                    const float2 w23 = fp8x2_to_float2((uint16_t)(wq[i] >> 16));
                    const float2 x01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&xq[2 * i]));
                    const float2 x23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&xq[2 * i + 1]));
                    acc += w01.x * x01.x;
                    acc += w01.y * x01.y;
                    acc += w23.x * x23.x;
                    acc += w23.y * x23.y;
                }
            }
            k += 32 * U;
            if (k >= nv)
                break;
#pragma unroll
            for (int u = 0; u < U; u++)
                if (k + 32 * u < nv)
                    wv[u] = __ldcs(wr + k + 32 * u);
        }
    } else {
        pdl_wait();
        if (!active)
            return;
        for (int c = lane; c < cols; c += 32)
            acc += fp8_to_float(wrow[c]) * __bfloat162float(x[c]);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) {
        const float v = scale[row] * acc;
        y[row] = beta != 0.0f ? beta * y[row] + v : v;
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

/* c (16x8 fp32) += a (16x16, row) * b (16x8, col), operands f16 (F16) or bf16 */
template <bool F16>
static __device__ __forceinline__ void mma_16816(float *c, const uint32_t *a, uint32_t b0, uint32_t b1)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if (F16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

static __device__ __forceinline__ uint32_t fp8x2_to_f16x2(uint32_t two)
{
    const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2((__nv_fp8x2_storage_t)(two & 0xffffu), __NV_E4M3);
    return (uint32_t)h.x | ((uint32_t)h.y << 16);
}

/* x as f16 for the f16 MMAs (fp8_mma_kernel<true>, fp8_gemv_mma_kernel): bf16 values times 2^sh,
 * sh from the max |x| of what shares the scale so that it lands in [2^14, 2^15): every |x| >=
 * 2^-28 max|x| is then in f16's normal range, where bf16's 8 significant bits fit f16's 11 */
static __device__ __forceinline__ float bf16x8_absmax(uint4 v)
{
    const uint32_t q[4] = {v.x, v.y, v.z, v.w};
    float mx = 0.0f;
#pragma unroll
    for (int e = 0; e < 4; e++)
        mx = fmaxf(mx, fmaxf(fabsf(__uint_as_float(q[e] << 16)), fabsf(__uint_as_float(q[e] & 0xffff0000u))));
    return mx;
}

static __device__ __forceinline__ int f16_shift(float mx)
{
    int ex = 0;
    if (mx > 0.0f && mx < INFINITY)
        frexpf(mx, &ex);  /* mx < 2^ex, ex <= 128 */
    return min(15 - ex, 126); /* 2^sh and 2^-sh normal floats */
}

static __device__ __forceinline__ uint4 bf16x8_to_f16x8(uint4 v, float up)
{
    uint32_t q[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int e = 0; e < 4; e++) {
        const __half2 hh =
            __floats2half2_rn(__uint_as_float(q[e] << 16) * up, __uint_as_float(q[e] & 0xffff0000u) * up);
        q[e] = *reinterpret_cast<const uint32_t *>(&hh);
    }
    return make_uint4(q[0], q[1], q[2], q[3]);
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
 * part[(split * n + token) * rows + row] for fp8_splitk_reduce (a fixed order: deterministic).
 * F16 (opts.fp8_mma 3): f16 MMAs, the weights e4m3 -> f16 (one exact conversion per two weights
 * instead of four through fp32 to bf16), each token's x staged as f16 scaled by 2^s_token with its
 * max |x| over the block's K range in [2^14, 2^15) (as cuda_fp8_gemv_mma: exact for |x| >=
 * 2^-28 max|x|, else within 2^-39 max|x|), its sums multiplied by 2^-s_token. */
template <bool F16>
__global__ void __launch_bounds__(128) fp8_mma_kernel(const __nv_bfloat16 *__restrict__ x, int ldx, int n,
                                                      const uint8_t *__restrict__ w, const float *__restrict__ scale,
                                                      int rows, int cols, float *__restrict__ y, int ldy, float beta,
                                                      int k_per, float *__restrict__ part)
{
    __shared__ __align__(16) __nv_bfloat16 xs[FP8_MMA_MAXN * FP8_MMA_XS];
    __shared__ int tok_sh[F16 ? FP8_MMA_MAXN : 1];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int rb = blockIdx.x * FP8_MMA_ROWS + warp * 32;
    const int ng = (n + 7) >> 3;
    const int k_begin = blockIdx.y * k_per, k_end = min(cols, k_begin + k_per);
    float acc[2][8][4];
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int q = 0; q < 8; q++)
#pragma unroll
            for (int i = 0; i < 4; i++)
                acc[mt][q][i] = 0.0f;
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
    if (F16) { /* each token's max |x| over [k_begin, k_end): warp w takes tokens w, w + 4, ... */
        const int parts = (k_end - k_begin) >> 3;
        for (int tok = warp; tok < n; tok += 4) {
            float mx = 0.0f;
            for (int part = lane; part < parts; part += 32)
                mx = fmaxf(mx, bf16x8_absmax(*reinterpret_cast<const uint4 *>(x + (size_t)tok * ldx + k_begin +
                                                                               part * 8)));
            mx = warp_max(mx);
            if (lane == 0)
                tok_sh[tok] = f16_shift(mx);
        }
    }
    for (int kx = k_begin; kx < k_end; kx += FP8_MMA_KX) {
        const int kw = k_end - kx < FP8_MMA_KX ? k_end - kx : FP8_MMA_KX; /* a multiple of 64 */
        /* stage x[0..8ng)[kx..kx+kw) (tokens >= n as zeros) */
        __syncthreads();
        const int parts = kw >> 3;
        for (int i = threadIdx.x; i < ng * 8 * parts; i += 128) {
            const int tok = i / parts, part = i % parts;
            uint4 v = make_uint4(0, 0, 0, 0);
            if (tok < n) {
                v = *reinterpret_cast<const uint4 *>(x + (size_t)tok * ldx + kx + part * 8);
                if (F16)
                    v = bf16x8_to_f16x8(v, ldexpf(1.0f, tok_sh[tok]));
            }
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
                for (int mt = 0; mt < 2; mt++) {
                    const uint32_t w0 = j == 0 ? wv[mt][0].x : j == 1 ? wv[mt][0].y : j == 2 ? wv[mt][0].z : wv[mt][0].w;
                    const uint32_t w1 = j == 0 ? wv[mt][1].x : j == 1 ? wv[mt][1].y : j == 2 ? wv[mt][1].z : wv[mt][1].w;
                    if (F16) {
                        a[mt][0] = fp8x2_to_f16x2(w0);
                        a[mt][1] = fp8x2_to_f16x2(w1);
                        a[mt][2] = fp8x2_to_f16x2(w0 >> 16);
                        a[mt][3] = fp8x2_to_f16x2(w1 >> 16);
                    } else {
                        a[mt][0] = fp8x2_to_bf16x2(w0 & 0xffffu); /* row g,     slots 2t, 2t+1 */
                        a[mt][1] = fp8x2_to_bf16x2(w1 & 0xffffu); /* row g + 8, slots 2t, 2t+1 */
                        a[mt][2] = fp8x2_to_bf16x2(w0 >> 16);     /* row g,     slots 2t+8, 2t+9 */
                        a[mt][3] = fp8x2_to_bf16x2(w1 >> 16);     /* row g + 8, slots 2t+8, 2t+9 */
                    }
                }
#pragma unroll
                for (int q = 0; q < 8; q++) {
                    if (q < ng) {
                        const uint2 bv = *reinterpret_cast<const uint2 *>(xk + (q * 8 + g) * FP8_MMA_XS + 4 * j);
                        mma_16816<F16>(acc[0][q], a[0], bv.x, bv.y);
                        mma_16816<F16>(acc[1][q], a[1], bv.x, bv.y);
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
                        const float v = s * acc[mt][q][h * 2 + i] * (F16 ? ldexpf(1.0f, -tok_sh[tok]) : 1.0f);
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

/* ---- n = 1 on tensor cores (f16 mma.sync m16n8k16; cuda_fp8_gemv_mma, opts.fp8_gemv 1) ----------
 * Why: the CUDA-core GEMV converts every weight twice (e4m3x2 -> f16x2, then f16 -> f32) and every
 * x value once more, three conversions per weight at the SM's conversion rate, and stalls at ~63%
 * of the FP8 roofline (8B decode, H100, RESULTS.md). Here e4m3x2 -> f16x2 (exact: e4m3 is inside
 * f16's range and precision) is the whole conversion: its result is the A fragment; x is staged once
 * per block in shared memory as f16 and is the B fragment's column 0 (columns 1..7 zero).
 * x as f16: the block scales x by 2^s with max|x| * 2^s in [2^14, 2^15) (a power of two: exact),
 * so every |x| >= 2^-28 max|x| is in f16's normal range, where bf16's 8 significant bits fit f16's 11
 * exactly; smaller values round to multiples of 2^-24 (error <= 2^-25 * 2^-s <= 2^-39 max|x|). The
 * fp32 sum is multiplied by scale[row] * 2^-s.
 * Layout: a block of FP8V_WARPS warps owns 32 rows (two 16-row tiles); warp w takes the 64-column
 * chunks w, w + FP8V_WARPS, ... of K (U chunks in flight per thread: 16 bytes of each of its 4
 * rows g, g + 8, g + 16, g + 24); the K order inside a chunk is permuted for A and B alike (thread
 * t's fragment slots of step j are bytes 16t + 4j .. 16t + 4j + 3, as fp8_mma_kernel); the warps'
 * sums meet in shared memory in a fixed order (deterministic). */
#define FP8V_WARPS 8
#define FP8V_U 4

/* grid ceil(rows / 32), FP8V_WARPS * 32 threads, dynamic shared memory cols * 2 bytes (x as f16) */
__global__ void __launch_bounds__(FP8V_WARPS * 32) fp8_gemv_mma_kernel(const __nv_bfloat16 *__restrict__ x,
                                                                       const uint8_t *__restrict__ w,
                                                                       const float *__restrict__ scale, int rows,
                                                                       int cols, float *__restrict__ y, float beta)
{
    extern __shared__ __align__(16) uint16_t fv_xs[]; /* [cols]: x * 2^s as f16 */
    __shared__ float fv_red[FP8V_WARPS][32];
    __shared__ float fv_max[FP8V_WARPS];
    pdl_trigger();
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    const int r0 = blockIdx.x * 32;
    const int nch = cols >> 6; /* 64-column chunks */
    const uint8_t *wr[4];
    bool ok[4];
#pragma unroll
    for (int h = 0; h < 4; h++) { /* rows g, g + 8 (tile 0), g + 16, g + 24 (tile 1) */
        const int r = r0 + 8 * h + g;
        ok[h] = r < rows;
        wr[h] = w + (size_t)(ok[h] ? r : 0) * cols + 16 * t;
    }
    uint4 wv[FP8V_U][4];
#pragma unroll
    for (int u = 0; u < FP8V_U; u++) {
        const int c = warp + u * FP8V_WARPS;
#pragma unroll
        for (int h = 0; h < 4; h++)
            wv[u][h] = ok[h] && c < nch ? __ldcs(reinterpret_cast<const uint4 *>(wr[h] + 64 * c))
                                        : make_uint4(0, 0, 0, 0);
    }
    pdl_wait(); /* x and y belong to the kernels before */
    /* x -> shared (raw bf16), max |x|, then in place to f16 * 2^s (each thread its own 16 bytes) */
    float mx = 0.0f;
    for (int i = tid; i < cols / 8; i += FP8V_WARPS * 32) {
        const uint4 v = *reinterpret_cast<const uint4 *>(x + 8 * i);
        *reinterpret_cast<uint4 *>(fv_xs + 8 * i) = v;
        mx = fmaxf(mx, bf16x8_absmax(v));
    }
    mx = warp_max(mx);
    if (lane == 0)
        fv_max[warp] = mx;
    __syncthreads();
    mx = fv_max[0];
#pragma unroll
    for (int k = 1; k < FP8V_WARPS; k++)
        mx = fmaxf(mx, fv_max[k]);
    const int sh = f16_shift(mx);
    const float up = ldexpf(1.0f, sh);
    for (int i = tid; i < cols / 8; i += FP8V_WARPS * 32) {
        uint4 *v = reinterpret_cast<uint4 *>(fv_xs + 8 * i);
        *v = bf16x8_to_f16x8(*v, up);
    }
    __syncthreads();

    float acc[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
    for (int c0 = warp; c0 < nch; c0 += FP8V_U * FP8V_WARPS) {
#pragma unroll
        for (int u = 0; u < FP8V_U; u++) {
            const int c = c0 + u * FP8V_WARPS;
            if (c >= nch)
                break;
            const uint16_t *xk = fv_xs + 64 * c + 16 * t;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const uint2 bv = g == 0 ? *reinterpret_cast<const uint2 *>(xk + 4 * j) : make_uint2(0u, 0u);
#pragma unroll
                for (int mt = 0; mt < 2; mt++) {
                    const uint4 &wa = wv[u][2 * mt], &wb = wv[u][2 * mt + 1];
                    const uint32_t w0 = j == 0 ? wa.x : j == 1 ? wa.y : j == 2 ? wa.z : wa.w;
                    const uint32_t w1 = j == 0 ? wb.x : j == 1 ? wb.y : j == 2 ? wb.z : wb.w;
                    const uint32_t a[4] = {fp8x2_to_f16x2(w0), fp8x2_to_f16x2(w1), fp8x2_to_f16x2(w0 >> 16),
                                           fp8x2_to_f16x2(w1 >> 16)};
                    mma_16816<true>(acc[mt], a, bv.x, bv.y);
                }
            }
            const int cn = c + FP8V_U * FP8V_WARPS;
#pragma unroll
            for (int h = 0; h < 4; h++)
                if (ok[h] && cn < nch)
                    wv[u][h] = __ldcs(reinterpret_cast<const uint4 *>(wr[h] + 64 * cn));
        }
    }
    /* column 0 of C: lanes t == 0 hold rows g (c[0]) and g + 8 (c[2]) of each tile */
    if (t == 0) {
        fv_red[warp][g] = acc[0][0];
        fv_red[warp][8 + g] = acc[0][2];
        fv_red[warp][16 + g] = acc[1][0];
        fv_red[warp][24 + g] = acc[1][2];
    }
    __syncthreads();
    if (tid < 32) {
        const int r = r0 + tid;
        if (r < rows) {
            float v = 0.0f;
#pragma unroll
            for (int k = 0; k < FP8V_WARPS; k++)
                v += fv_red[k][tid];
            v *= scale[r] * ldexpf(1.0f, -sh);
            y[r] = beta != 0.0f ? beta * y[r] + v : v;
        }
    }
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

extern "C" enum frs_status cuda_fp8_gemv(const uint16_t *x, const uint8_t *w, const float *scale, int rows, int cols,
                                         float *y, float beta, int pdl, int unroll, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0)
        return FRS_OK;
    if ((cols & 15) == 0 && (((uintptr_t)x | (uintptr_t)w) & 15) != 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemv: x and w must be 16-byte aligned");
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((rows + FP8_GEMV_WARPS - 1) / FP8_GEMV_WARPS);
    cfg.blockDim = dim3(FP8_GEMV_WARPS * 32);
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = pdl ? 1 : 0;
    if (unroll == 8)
        FRS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, fp8_gemv_kernel<8>, reinterpret_cast<const __nv_bfloat16 *>(x), w,
                                          scale, rows, cols, y, beta));
    else
        FRS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, fp8_gemv_kernel<4>, reinterpret_cast<const __nv_bfloat16 *>(x), w,
                                          scale, rows, cols, y, beta));
    FRS_LAUNCH_CHECK(fp8_gemv_kernel);
    return FRS_OK;
}

extern "C" int cuda_fp8_gemv_mma_ok(int cols, const void *x, const void *w)
{
    return cols % 64 == 0 && cols <= 32768 && (((uintptr_t)x | (uintptr_t)w) & 15) == 0;
}

extern "C" enum frs_status cuda_fp8_gemv_mma(const uint16_t *x, const uint8_t *w, const float *scale, int rows, int cols,
                                             float *y, float beta, int pdl, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0)
        return FRS_OK;
    if (!cuda_fp8_gemv_mma_ok(cols, x, w))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemv_mma: cols %d (a multiple of 64 up to 32768) or x / w "
                       "alignment (16 bytes) not supported", cols);
    const size_t smem = (size_t)cols * 2;
    if (smem > 48 * 1024) {
        /* above the 48 KiB default: once per device, up to the largest (32768 columns); bit dev of
         * attr_set (a repeat is harmless, so no lock) */
        static volatile unsigned long long attr_set = 0;
        int dev = 0;
        FRS_CUDA_CHECK(cudaGetDevice(&dev));
        const unsigned long long bit = 1ull << (dev & 63);
        if (dev >= 64 || !(attr_set & bit)) {
            FRS_CUDA_CHECK(cudaFuncSetAttribute(fp8_gemv_mma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                32768 * 2));
            attr_set |= bit;
        }
    }
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)((rows + 31) / 32));
    cfg.blockDim = dim3(FP8V_WARPS * 32);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    cfg.attrs = at;
    cfg.numAttrs = pdl ? 1 : 0;
    FRS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, fp8_gemv_mma_kernel, reinterpret_cast<const __nv_bfloat16 *>(x), w, scale,
                                      rows, cols, y, beta));
    FRS_LAUNCH_CHECK(fp8_gemv_mma_kernel);
    return FRS_OK;
}

extern "C" int cuda_fp8_mma_ok(int n, int cols, const void *x, int ldx)
{
    return n >= 2 && n <= FP8_MMA_MAXN && cols % 64 == 0 && ldx % 8 == 0 && ((uintptr_t)x & 15) == 0;
}

extern "C" enum frs_status cuda_fp8_gemm_small(const uint16_t *x, int ldx, int n, const uint8_t *w, const float *scale,
                                               int rows, int cols, float *y, int ldy, float beta, int f16,
                                               cudaStream_t st)
{
    if (!cuda_fp8_mma_ok(n, cols, x, ldx))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemm_small: n %d (2..%d), cols %d (multiple of 64), ldx %d "
                       "(multiple of 8) or x alignment not supported", n, FP8_MMA_MAXN, cols, ldx);
    if (((uintptr_t)w & 15) != 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemm_small: w must be 16-byte aligned");
    const int blocks = (rows + FP8_MMA_ROWS - 1) / FP8_MMA_ROWS;
    if (f16)
        fp8_mma_kernel<true><<<dim3((unsigned)blocks, 1), 128, 0, st>>>(reinterpret_cast<const __nv_bfloat16 *>(x), ldx,
                                                                        n, w, scale, rows, cols, y, ldy, beta, cols,
                                                                        nullptr);
    else
        fp8_mma_kernel<false><<<dim3((unsigned)blocks, 1), 128, 0, st>>>(reinterpret_cast<const __nv_bfloat16 *>(x),
                                                                         ldx, n, w, scale, rows, cols, y, ldy, beta,
                                                                         cols, nullptr);
    FRS_LAUNCH_CHECK(fp8_mma_kernel);
    return FRS_OK;
}

extern "C" int cuda_fp8_splitk_splits(int rows, int cols, int n_sm)
{
    const int blocks = (rows + FP8_MMA_ROWS - 1) / FP8_MMA_ROWS;
    int s = (2 * (n_sm > 0 ? n_sm : 132) + blocks - 1) / blocks; /* two waves' worth of blocks */
    const int max_s = cols / 512 > 0 ? cols / 512 : 1;           /* at least 512 columns a split */
    return s < 1 ? 1 : s > max_s ? max_s : s > 16 ? 16 : s;
}

extern "C" enum frs_status cuda_fp8_gemm_small_splitk(const uint16_t *x, int ldx, int n, const uint8_t *w,
                                                      const float *scale, int rows, int cols, float *y, int ldy,
                                                      float beta, int splits, float *part, int f16, cudaStream_t st)
{
    if (splits <= 1)
        return cuda_fp8_gemm_small(x, ldx, n, w, scale, rows, cols, y, ldy, beta, f16, st);
    if (!cuda_fp8_mma_ok(n, cols, x, ldx) || ((uintptr_t)w & 15) != 0 || !part)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemm_small_splitk: n %d, cols %d, ldx %d, alignment or scratch",
                       n, cols, ldx);
    const int blocks = (rows + FP8_MMA_ROWS - 1) / FP8_MMA_ROWS;
    const int k_per = ((cols + splits - 1) / splits + 63) / 64 * 64;
    const int used = (cols + k_per - 1) / k_per;
    if (f16)
        fp8_mma_kernel<true><<<dim3((unsigned)blocks, (unsigned)used), 128, 0, st>>>(
            reinterpret_cast<const __nv_bfloat16 *>(x), ldx, n, w, scale, rows, cols, y, ldy, beta, k_per, part);
    else
        fp8_mma_kernel<false><<<dim3((unsigned)blocks, (unsigned)used), 128, 0, st>>>(
            reinterpret_cast<const __nv_bfloat16 *>(x), ldx, n, w, scale, rows, cols, y, ldy, beta, k_per, part);
    FRS_LAUNCH_CHECK(fp8_mma_kernel);
    const size_t total = (size_t)n * rows;
    const unsigned rb = (unsigned)((total + 255) / 256 < 4096 ? (total + 255) / 256 : 4096);
    fp8_splitk_reduce<<<rb, 256, 0, st>>>(part, used, n, rows, y, ldy, beta);
    FRS_LAUNCH_CHECK(fp8_splitk_reduce);
    return FRS_OK;
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

extern "C" enum frs_status cuda_matmul_w8(struct cuda_blas *blas, const uint16_t *x, int ldx, int n, const uint16_t *w,
                                          const uint8_t *w8, const float *s8, int rows, int cols, float *y, int ldy,
                                          float beta, uint16_t *deq)
{
    const int mma = blas->fp8_mma;
    if (!w8)
        return cuda_matmul(blas, x, ldx, n, w, rows, cols, y, ldy, beta);
    if (n == 1 && blas->fp8_gemv_unroll == 1 && cuda_fp8_gemv_mma_ok(cols, x, w8))
        return cuda_fp8_gemv_mma(x, w8, s8, rows, cols, y, beta, blas->pdl, blas->stream);
    if (n == 1)
        return cuda_fp8_gemv(x, w8, s8, rows, cols, y, beta, blas->pdl, blas->fp8_gemv_unroll, blas->stream);
    if (mma && cuda_fp8_mma_ok(n, cols, x, ldx)) {
        /* mma 2: split K over more blocks where the rows alone leave SMs idle (partials in the deq
         * scratch, reduced in a fixed order), when the scratch holds them */
        int sp = mma >= 2 ? cuda_fp8_splitk_splits(rows, cols, blas->n_sm) : 1;
        if (!deq || (size_t)sp * n * rows * sizeof(float) > (size_t)rows * cols * sizeof(uint16_t))
            sp = 1;
        return cuda_fp8_gemm_small_splitk(x, ldx, n, w8, s8, rows, cols, y, ldy, beta, sp, (float *)deq, mma == 3,
                                          blas->stream);
    }
    if (!deq)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_matmul_w8: an FP8 GEMM of %d rows needs the dequantization scratch", n);
    FRS_TRY(cuda_fp8_dequant_bf16(w8, s8, rows, cols, deq, blas->stream));
    return cuda_matmul(blas, x, ldx, n, deq, rows, cols, y, ldy, beta);
}
