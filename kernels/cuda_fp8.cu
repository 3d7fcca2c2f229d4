/* cuda_fp8.cu - FP8 (e4m3) weight kernels and their extern "C" launchers (cuda_fp8_kernels.h; not named cuda_fp8.h, which would hide the CUDA header of that name). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "status.h"
}
#include "cuda_fp8_kernels.h"

#define FP8_LAUNCH_CHECK(what)                                                                    \
    do {                                                                                          \
        cudaError_t e_ = cudaGetLastError();                                                      \
        if (e_ != cudaSuccess)                                                                    \
            return FRS_ERR(FRS_ERR_CUDA, "kernels/cuda_fp8.cu: launch of %s failed: %s", (what),   \
                           cudaGetErrorString(e_));                                               \
    } while (0)

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

#define FP8_GEMV_WARPS 4

__global__ void fp8_gemv_kernel(const __nv_bfloat16 *__restrict__ x, const uint8_t *__restrict__ w,
                                const float *__restrict__ scale, int rows, int cols, float *__restrict__ y, float beta)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * FP8_GEMV_WARPS + (threadIdx.x >> 5);
    if (row >= rows)
        return;
    const uint8_t *wr = w + (size_t)row * cols;
    float acc = 0.0f;
    if ((cols & 15) == 0) {
        for (int c = lane * 16; c < cols; c += 32 * 16) {
            const uint4 wv = __ldg(reinterpret_cast<const uint4 *>(wr + c));
            const uint4 xa = __ldg(reinterpret_cast<const uint4 *>(x + c));
            const uint4 xb = __ldg(reinterpret_cast<const uint4 *>(x + c + 8));
            const uint32_t wq[4] = {wv.x, wv.y, wv.z, wv.w};
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
    } else {
        for (int c = lane; c < cols; c += 32)
            acc += fp8_to_float(wr[c]) * __bfloat162float(x[c]);
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
                                         float *y, float beta, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0)
        return FRS_OK;
    if ((cols & 15) == 0 && (((uintptr_t)x | (uintptr_t)w) & 15) != 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_fp8_gemv: x and w must be 16-byte aligned");
    const int blocks = (rows + FP8_GEMV_WARPS - 1) / FP8_GEMV_WARPS;
    fp8_gemv_kernel<<<blocks, 32 * FP8_GEMV_WARPS, 0, st>>>(reinterpret_cast<const __nv_bfloat16 *>(x), w, scale, rows,
                                                            cols, y, beta);
    FP8_LAUNCH_CHECK("fp8_gemv_kernel");
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
    FP8_LAUNCH_CHECK("fp8_dequant_kernel");
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
    FP8_LAUNCH_CHECK("fp8_fill_kernel");
    return FRS_OK;
}
