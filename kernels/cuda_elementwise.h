/* cuda_elementwise.h - elementwise kernels: SwiGLU, embedding rows, residual and bias adds,
 * fp32 -> bf16 (kernels/cuda_elementwise.cu), C ABI; the conventions are cuda_ops.h's.
 *
 * defines: cuda_row_kernels_select, cuda_row_kernels, cuda_swiglu, cuda_embed, cuda_add_bias, cuda_add, cuda_f32_to_bf16,
 *          cuda_l2_prefetch
 */
#ifndef FRSPEC_CUDA_ELEMENTWISE_H
#define FRSPEC_CUDA_ELEMENTWISE_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The launch shapes of the row kernels (cuda_rmsnorm, cuda_swiglu, cuda_paged_rope_write): 2 (the
 * default) vectorized, RMSNorm's row held in registers, RoPE's angle computed once per pair for all
 * the row's heads, and the FP8 decode's gate/up GEMV fused with SwiGLU (cuda_fp8_gemv_swiglu);
 * 1 = the shapes before 2026-12-07 (the A/B switch FRS_ROW_KERNELS=1, backend option
 * row_kernels). Same results but for RMSNorm's order of summation. Process-wide: the CUDA backend
 * sets it when created. */
void cuda_row_kernels_select(int version);
int cuda_row_kernels(void);

/* out[i, j] = bf16(silu(gate[i, j]) * up[i, j]) for j < width; gate/up rows of stride ld_in. */
enum frs_status cuda_swiglu(const float *gate, const float *up, int n, int width, int ld_in, uint16_t *out,
                            int ld_out, cudaStream_t st);

/* Rows tokens[i] (device) of a bf16 table (rows of dim) -> out32 fp32 [n, dim] and/or out16
 * bf16 (stride ld16). */
enum frs_status cuda_embed(const uint16_t *table, int dim, const int32_t *tokens, int n, float *out32,
                           uint16_t *out16, int ld16, cudaStream_t st);

/* x[i, j] += bias[j] (bf16 bias) over n rows of dim. */
enum frs_status cuda_add_bias(float *x, const uint16_t *bias, int n, int dim, cudaStream_t st);
/* x += y over len (fp32). */
enum frs_status cuda_add(float *x, const float *y, int64_t len, cudaStream_t st);
/* out[i] = bf16(in[i]) over rows of cols (strides ldi / ldo). */
enum frs_status cuda_f32_to_bf16(const float *in, int ldi, int rows, int cols, uint16_t *out, int ldo,
                                 cudaStream_t st);

/* Ask for bytes (rounded down to a multiple of 16; p 16-byte aligned) from p into L2, on st: a
 * small grid (at most 4 blocks) whose threads issue bulk prefetches and return; no value changes.
 * The decode forks it onto a second stream so that the next GEMV's weights load while DRAM idles
 * (backend option l2_prefetch). */
enum frs_status cuda_l2_prefetch(const void *p, size_t bytes, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
