/* cuda_norm.cu - RMSNorm over rows (cuda_norm.h): optional residual add, fp32 and/or bf16 outputs. */
#include "cuda_common.cuh"
#include "cuda_elementwise.h" /* cuda_row_kernels */
#include "cuda_norm.h"

/* one block per row: the sum of squares by block_sum, then scale (and weight); row kernels 1, and
 * rows that do not meet the vector kernel's alignment */
__global__ void rmsnorm_kernel(float *x, const float *res, int dim, const uint16_t *w, float eps, float *y32,
                               uint16_t *y16, int ld16)
{
    pdl_trigger();
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

/* The row in registers (row kernels 2): thread t holds the float4s t, t + T, ... (RMS_NV at most) of
 * its row, so the row is read once (with the residual: both read, the sum written back once), the
 * sum of squares taken from the registers, and the outputs written as float4 / 4 x bf16. One block
 * of T = dim / 4 / RMS_NV threads (rounded up to warps) per row: 256 at dim 4096. */
#define RMS_NV 4
__global__ void __launch_bounds__(1024) rmsnorm_vec_kernel(float *x, const float *res, int dim, const uint16_t *w,
                                                           float eps, float *y32, uint16_t *y16, int ld16)
{
    pdl_trigger();
    __shared__ float sh[32];
    const size_t row = blockIdx.x;
    const int n4 = dim >> 2;
    float4 *xr = reinterpret_cast<float4 *>(x + row * dim);
    float4 v[RMS_NV];
#pragma unroll
    for (int i = 0; i < RMS_NV; i++) {
        const int j = threadIdx.x + i * blockDim.x;
        if (j < n4)
            v[i] = xr[j];
    }
    if (res) {
        const float4 *rr = reinterpret_cast<const float4 *>(res + row * dim);
        float4 r[RMS_NV];
#pragma unroll
        for (int i = 0; i < RMS_NV; i++) {
            const int j = threadIdx.x + i * blockDim.x;
            if (j < n4)
                r[i] = rr[j];
        }
#pragma unroll
        for (int i = 0; i < RMS_NV; i++) {
            const int j = threadIdx.x + i * blockDim.x;
            if (j < n4) {
                v[i].x += r[i].x;
                v[i].y += r[i].y;
                v[i].z += r[i].z;
                v[i].w += r[i].w;
                xr[j] = v[i];
            }
        }
    }
    float ss = 0.0f;
#pragma unroll
    for (int i = 0; i < RMS_NV; i++)
        if (threadIdx.x + i * blockDim.x < n4) {
            ss = fmaf(v[i].x, v[i].x, ss);
            ss = fmaf(v[i].y, v[i].y, ss);
            ss = fmaf(v[i].z, v[i].z, ss);
            ss = fmaf(v[i].w, v[i].w, ss);
        }
    ss = block_sum(ss, sh);
    const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
#pragma unroll
    for (int i = 0; i < RMS_NV; i++) {
        const int j = threadIdx.x + i * blockDim.x;
        if (j >= n4)
            continue;
        float o[4] = {v[i].x * inv, v[i].y * inv, v[i].z * inv, v[i].w * inv};
        if (w) {
            const uint2 wv = reinterpret_cast<const uint2 *>(w)[j];
            o[0] *= bf2f((uint16_t)(wv.x & 0xffffu));
            o[1] *= bf2f((uint16_t)(wv.x >> 16));
            o[2] *= bf2f((uint16_t)(wv.y & 0xffffu));
            o[3] *= bf2f((uint16_t)(wv.y >> 16));
        }
        if (y32)
            reinterpret_cast<float4 *>(y32 + row * dim)[j] = make_float4(o[0], o[1], o[2], o[3]);
        if (y16) {
            uint2 p;
            p.x = (uint32_t)f2bf(o[0]) | (uint32_t)f2bf(o[1]) << 16;
            p.y = (uint32_t)f2bf(o[2]) | (uint32_t)f2bf(o[3]) << 16;
            reinterpret_cast<uint2 *>(y16 + row * ld16)[j] = p;
        }
    }
}

extern "C" enum frs_status cuda_rmsnorm(float *x, const float *res, int n, int dim, const uint16_t *w, float eps,
                                        float *y32, uint16_t *y16, int ld16, cudaStream_t st)
{
    if (n <= 0 || dim <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_rmsnorm: n %d, dim %d must be > 0", n, dim);
    const int n4 = dim / 4, vt = ((n4 + RMS_NV - 1) / RMS_NV + 31) / 32 * 32;
    const bool vec = cuda_row_kernels() >= 2 && dim % 4 == 0 && vt <= 1024 &&
                     (((uintptr_t)x | (uintptr_t)res | (uintptr_t)y32) & 15) == 0 &&
                     (((uintptr_t)w | (uintptr_t)y16) & 7) == 0 && (!y16 || ld16 % 4 == 0);
    if (vec) {
        rmsnorm_vec_kernel<<<(unsigned)n, vt, 0, st>>>(x, res, dim, w, eps, y32, y16, ld16);
        FRS_LAUNCH_CHECK(rmsnorm_vec_kernel);
        return FRS_OK;
    }
    const int threads = dim >= 4096 ? 1024 : dim >= 1024 ? 512 : 128;
    rmsnorm_kernel<<<(unsigned)n, threads, 0, st>>>(x, res, dim, w, eps, y32, y16, ld16);
    FRS_LAUNCH_CHECK(rmsnorm_kernel);
    return FRS_OK;
}
