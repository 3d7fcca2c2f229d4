/* cuda_rope.h - RoPE of q and k, and the K/V cache write (kernels/cuda_rope.cu),
 * C ABI; the conventions are cuda_ops.h's.
 *
 * defines: cuda_rope_qkv
 */
#ifndef FRSPEC_CUDA_ROPE_H
#define FRSPEC_CUDA_ROPE_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* qkv: fp32 [n, ldqkv] rows of [q (n_heads*D) | k (n_kv*D) | v (n_kv*D)]. RoPE at pos[i]
 * (device) with inv_freq (device, D/2, rotate_half layout): q -> q_out fp32 [n, n_heads*D];
 * k -> kcache bf16 slot (*slot0 + i); v copied to vcache. */
enum frs_status cuda_rope_qkv(const float *qkv, int ldqkv, int n, int n_heads, int n_kv, int head_dim,
                              const int32_t *pos, const float *inv_freq, float *q_out, uint16_t *kcache,
                              uint16_t *vcache, const int32_t *slot0, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
