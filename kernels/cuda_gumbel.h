/* cuda_gumbel.h - Gumbel noise and Gumbel-max draw keys, runtime/rng.h on the device
 * (kernels/cuda_gumbel.cu), C ABI; the conventions are cuda_ops.h's.
 *
 * defines: cuda_rng_gumbel_fill, cuda_sample_keys, cuda_rng_eval
 */
#ifndef FRSPEC_CUDA_GUMBEL_H
#define FRSPEC_CUDA_GUMBEL_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out[i] = frs_rng_gumbel(seed, stream_id, index0 + i) (runtime/rng.h) computed on the device. */
enum frs_status cuda_rng_gumbel_fill(uint64_t seed, uint64_t stream_id, uint64_t index0, int n, double *out,
                                     cudaStream_t st);

/* Gumbel-max draw keys: for row r, over kept tokens t (z = logits[r, c] * inv_temp >= thresh[r];
 * thresh NULL: all kept), key = pack((float)(z + frs_rng_gumbel(seed, draw[r], t)), t) with
 * t = idx_offset + c; keys[r] = the max key (0 when nothing is kept). draw: device (rows). */
enum frs_status cuda_sample_keys(const float *logits, int rows, int cols, int ld, int idx_offset, float inv_temp,
                                 const float *thresh, uint64_t seed, const uint64_t *draw, uint64_t *keys,
                                 cudaStream_t st);

/* For tests: rng.h's functions of n (seed[i], stream[i], index[i]) triples (device arrays)
 * evaluated on the device: u64[i] = frs_rng_u64, uniform[i] = frs_rng_uniform, gumbel[i] =
 * frs_rng_gumbel (any output may be NULL), so the device build of rng.h can be compared with the
 * host build on any inputs (tests/test_cuda_rng.c). */
enum frs_status cuda_rng_eval(const uint64_t *seed, const uint64_t *stream, const uint64_t *index, int n, uint64_t *u64,
                              double *uniform, double *gumbel, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
