/* cuda_norm.cu - RMSNorm over rows (cuda_norm.h): optional residual add, fp32 and/or bf16 outputs. */
#include "cuda_common.cuh"
#include "cuda_norm.h"

/* one block per row: the sum of squares by block_sum, then scale (and weight) */
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

extern "C" enum frs_status cuda_rmsnorm(float *x, const float *res, int n, int dim, const uint16_t *w, float eps,
                                        float *y32, uint16_t *y16, int ld16, cudaStream_t st)
{
    if (n <= 0 || dim <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_rmsnorm: n %d, dim %d must be > 0", n, dim);
    const int threads = dim >= 4096 ? 1024 : dim >= 1024 ? 512 : 128;
    rmsnorm_kernel<<<(unsigned)n, threads, 0, st>>>(x, res, dim, w, eps, y32, y16, ld16);
    FRS_LAUNCH_CHECK(rmsnorm_kernel);
    return FRS_OK;
}
