/* cuda_kv.h - KV-cache compaction after acceptance (kernels/cuda_kv.cu), C ABI.
 *
 * defines: cuda_kv_gather
 */
#ifndef FRSPEC_CUDA_KV_H
#define FRSPEC_CUDA_KV_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* KV compaction after acceptance: for j < n in order, row base + dst... : row (*base + src[j]) ->
 * row (*base + j) in every layer (n_layers caches of layer_stride elements, rows of row_elems
 * bf16). src (device) must be increasing with src[j] >= j (an accepted path): each thread copies
 * its column in order, so no row is overwritten before it is read. */
enum frs_status cuda_kv_gather(uint16_t *kcache, uint16_t *vcache, int n_layers, size_t layer_stride,
                               int row_elems, const int32_t *base, const int32_t *src, int n, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
