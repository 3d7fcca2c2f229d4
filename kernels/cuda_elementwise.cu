/* cuda_elementwise.cu - the elementwise kernels of a forward (cuda_elementwise.h): SwiGLU of
 * gate/up rows, embedding rows, the residual add, the bias add, fp32 -> bf16 conversion. */
#include "cuda_common.cuh"
#include "cuda_elementwise.h"

__global__ void swiglu_kernel(const float *gate, const float *up, int width, int ld_in, uint16_t *out, int ld_out)
{
    pdl_trigger();
    const size_t i = blockIdx.y;
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < width; j += gridDim.x * blockDim.x) {
        const float g = gate[i * ld_in + j];
        out[i * ld_out + j] = swiglu_bf16(g, up[i * ld_in + j]);
    }
}

/* row kernels 2: four columns a thread (float4 in, 4 x bf16 out), the same expression per element */
__global__ void swiglu_vec_kernel(const float *gate, const float *up, int width4, int ld_in, uint16_t *out, int ld_out)
{
    pdl_trigger();
    const size_t i = blockIdx.y;
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= width4)
        return;
    const float4 g = reinterpret_cast<const float4 *>(gate + i * ld_in)[j];
    const float4 u = reinterpret_cast<const float4 *>(up + i * ld_in)[j];
    uint2 p;
    p.x = (uint32_t)swiglu_bf16(g.x, u.x) | (uint32_t)swiglu_bf16(g.y, u.y) << 16;
    p.y = (uint32_t)swiglu_bf16(g.z, u.z) | (uint32_t)swiglu_bf16(g.w, u.w) << 16;
    reinterpret_cast<uint2 *>(out + i * ld_out)[j] = p;
}

static int g_row_kernels = 2;

extern "C" void cuda_row_kernels_select(int version) { g_row_kernels = version == 1 ? 1 : 2; }

extern "C" int cuda_row_kernels(void) { return g_row_kernels; }

extern "C" enum frs_status cuda_swiglu(const float *gate, const float *up, int n, int width, int ld_in,
                                       uint16_t *out, int ld_out, cudaStream_t st)
{
    if (n <= 0 || width <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_swiglu: n %d, width %d must be > 0", n, width);
    if (g_row_kernels >= 2 && width % 4 == 0 && ld_in % 4 == 0 && ld_out % 4 == 0 &&
        (((uintptr_t)gate | (uintptr_t)up) & 15) == 0 && ((uintptr_t)out & 7) == 0) {
        const int w4 = width / 4;
        swiglu_vec_kernel<<<dim3((unsigned)((w4 + 255) / 256), (unsigned)n), 256, 0, st>>>(gate, up, w4, ld_in, out,
                                                                                            ld_out);
        FRS_LAUNCH_CHECK(swiglu_vec_kernel);
        return FRS_OK;
    }
    dim3 grid((width + 255) / 256 < 64 ? (width + 255) / 256 : 64, n);
    swiglu_kernel<<<grid, 256, 0, st>>>(gate, up, width, ld_in, out, ld_out);
    FRS_LAUNCH_CHECK(swiglu_kernel);
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
    FRS_LAUNCH_CHECK(embed_kernel);
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
    FRS_LAUNCH_CHECK(add_kernel);
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
    FRS_LAUNCH_CHECK(add_bias_kernel);
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
    FRS_LAUNCH_CHECK(f32_to_bf16_kernel);
    return FRS_OK;
}

/* L2 prefetch: each thread asks the bulk-copy engine for `chunk` bytes of the range (sm_90: one
 * cp.async.bulk.prefetch.L2 each, fire and forget; older: a prefetch.global.L2 per 128-byte line). */
__global__ void l2_prefetch_kernel(const char *p, size_t bytes, unsigned chunk)
{
    const size_t stride = (size_t)gridDim.x * blockDim.x * chunk;
    for (size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * chunk; i < bytes; i += stride) {
        const unsigned n = bytes - i < chunk ? (unsigned)(bytes - i) : chunk;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p + i), "r"(n) : "memory");
#else
        for (unsigned k = 0; k < n; k += 128)
            asm volatile("prefetch.global.L2 [%0];" ::"l"(p + i + k) : "memory");
#endif
    }
}

extern "C" enum frs_status cuda_l2_prefetch(const void *p, size_t bytes, cudaStream_t st)
{
    bytes &= ~(size_t)15; /* the bulk prefetch takes multiples of 16 bytes from a 16-byte boundary */
    if (!p || bytes == 0)
        return FRS_OK;
    if (((uintptr_t)p & 15) != 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_l2_prefetch: %p is not 16-byte aligned", p);
    const unsigned chunk = 32u << 10;
    const size_t chunks = (bytes + chunk - 1) / chunk;
    const int threads = 128, blocks = chunks < 4 * 128 ? (int)((chunks + threads - 1) / threads) : 4;
    l2_prefetch_kernel<<<blocks, threads, 0, st>>>((const char *)p, bytes, chunk);
    FRS_LAUNCH_CHECK(l2_prefetch_kernel);
    return FRS_OK;
}
