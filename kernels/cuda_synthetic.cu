/* cuda_synthetic.cu - synthetic weights made on the device (cuda_synthetic.h; runtime/synthetic.h). */
#include "cuda_common.cuh"
#include "cuda_synthetic.h"

__global__ void fill_hash_bf16_kernel(uint16_t *dst, size_t n, uint64_t seed, float scale, float bias)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        /* splitmix64 of seed + i * golden (rng.h's frs_mix64 adds the golden step itself) */
        const uint64_t z = frs_mix64(seed + (uint64_t)i * 0x9e3779b97f4a7c15ull);
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
    FRS_LAUNCH_CHECK(fill_hash_bf16_kernel);
    return FRS_OK;
}
