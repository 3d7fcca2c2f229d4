/* cuda_topk.h - log-softmax top-k of the draft and the argmax keys of greedy decoding
 * (kernels/cuda_topk.cu), C ABI; the conventions are cuda_ops.h's.
 *
 * defines: cuda_logsoftmax_topk, cuda_argmax_keys, CUDA_TOPK_MAX
 */
#ifndef FRSPEC_CUDA_TOPK_H
#define FRSPEC_CUDA_TOPK_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#define CUDA_TOPK_MAX 32 /* largest k of cuda_logsoftmax_topk */

#ifdef __cplusplus
extern "C" {
#endif

/* Per row r of logits (rows x cols, stride ld): the k (<= CUDA_TOPK_MAX) largest entries,
 * descending, ties to the lower index, as log-softmax values (x - logsumexp(row)) in
 * vals[r*k + j] and indices in idx[r*k + j], mapped through id_map when non-NULL. */
enum frs_status cuda_logsoftmax_topk(const float *logits, int rows, int cols, int ld, int k,
                                     const int32_t *id_map, float *vals, int32_t *idx, cudaStream_t st);

/* keys[r] = max over c of frs_argmax_key_pack(logits[r, c], idx_offset + c) (runtime/argmax_key.h:
 * larger value, then lower index). One ncclMax over uint64 then gives the global argmax. */
enum frs_status cuda_argmax_keys(const float *logits, int rows, int cols, int ld, int idx_offset, uint64_t *keys,
                                 cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
