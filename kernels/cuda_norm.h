/* cuda_norm.h - RMSNorm of fp32 rows, with an optional residual add first (kernels/cuda_norm.cu),
 * C ABI; the conventions are cuda_ops.h's.
 *
 * defines: cuda_rmsnorm
 */
#ifndef FRSPEC_CUDA_NORM_H
#define FRSPEC_CUDA_NORM_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Row-wise RMSNorm over n rows of dim: if res != NULL first x += res (x updated in place).
 * y = x / sqrt(mean(x^2) + eps) * w (w NULL: no weight). Writes y32 (fp32, stride dim) and/or
 * y16 (bf16, stride ld16) when non-NULL. */
enum frs_status cuda_rmsnorm(float *x, const float *res, int n, int dim, const uint16_t *w, float eps, float *y32,
                             uint16_t *y16, int ld16, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
