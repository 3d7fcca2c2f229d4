/* cuda_gumbel.cu - Gumbel noise and Gumbel-max draw keys on the device (cuda_gumbel.h), with
 * runtime/rng.h's frs_rng_gumbel itself (cuda_common.cuh), so the host and the device share one
 * hash. */
#include "cuda_common.cuh"
#include "../runtime/argmax_key.h" /* frs_argmax_key_pack (host + device) */
#include "cuda_gumbel.h"

#define KEYS_THREADS 256

__global__ void rng_gumbel_kernel(uint64_t seed, uint64_t stream, uint64_t index0, int n, double *out)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = frs_rng_gumbel(seed, stream, index0 + (uint64_t)i);
}

extern "C" enum frs_status cuda_rng_gumbel_fill(uint64_t seed, uint64_t stream_id, uint64_t index0, int n,
                                                double *out, cudaStream_t st)
{
    if (n <= 0)
        return FRS_OK;
    rng_gumbel_kernel<<<(n + 255) / 256, 256, 0, st>>>(seed, stream_id, index0, n, out);
    FRS_LAUNCH_CHECK(rng_gumbel_kernel);
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
    for (int c = c0 + threadIdx.x; c < c1; c += KEYS_THREADS) {
        const float z = x[c] * inv_temp;
        if (!(z >= th))
            continue;
        const int t = idx_offset + c;
        const float v = (float)((double)z + frs_rng_gumbel(seed, dr, (uint64_t)t));
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
    sample_keys_kernel<<<dim3(nb, rows), KEYS_THREADS, 0, st>>>(logits, cols, ld, idx_offset, inv_temp, thresh,
                                                                  seed, draw, chunk, (unsigned long long *)keys);
    FRS_LAUNCH_CHECK(sample_keys_kernel);
    return FRS_OK;
}

__global__ void rng_eval_kernel(const uint64_t *seed, const uint64_t *stream, const uint64_t *index, int n,
                                uint64_t *u64, double *uniform, double *gumbel)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    if (u64)
        u64[i] = frs_rng_u64(seed[i], stream[i], index[i]);
    if (uniform)
        uniform[i] = frs_rng_uniform(seed[i], stream[i], index[i]);
    if (gumbel)
        gumbel[i] = frs_rng_gumbel(seed[i], stream[i], index[i]);
}

extern "C" enum frs_status cuda_rng_eval(const uint64_t *seed, const uint64_t *stream, const uint64_t *index, int n,
                                         uint64_t *u64, double *uniform, double *gumbel, cudaStream_t st)
{
    if (n <= 0)
        return FRS_OK;
    rng_eval_kernel<<<(n + 255) / 256, 256, 0, st>>>(seed, stream, index, n, u64, uniform, gumbel);
    FRS_LAUNCH_CHECK(rng_eval_kernel);
    return FRS_OK;
}
