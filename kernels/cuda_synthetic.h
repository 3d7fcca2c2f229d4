/* cuda_synthetic.h - synthetic bf16 weights hash-filled on the device (kernels/cuda_synthetic.cu),
 * C ABI; the conventions are cuda_ops.h's.
 *
 * defines: cuda_fill_hash_bf16
 */
#ifndef FRSPEC_CUDA_SYNTHETIC_H
#define FRSPEC_CUDA_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill dst[0..n) with bf16(bias + scale * u_i), u_i uniform in [-1, 1) from a counter-based hash
 * of (seed, i): synthetic weights made on the device (runtime/synthetic.h). */
enum frs_status cuda_fill_hash_bf16(uint16_t *dst, size_t n, uint64_t seed, float scale, float bias, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
