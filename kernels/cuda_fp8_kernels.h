/* cuda_fp8_kernels.h - FP8 (e4m3) weight kernels of the CUDA backend (issue 15): weights stay FP8 on the
 * device with one fp32 scale per output row (a per-tensor scale is repeated per row at upload),
 * activations stay bf16 (weight-only FP8: the CPU backend's --fp8-activations dequant semantics).
 *
 *  - n == 1 (decode, draft-free steps): cuda_fp8_gemv, one warp per output row, 16 weights per
 *    16-byte load dequantized in registers (e4m3 -> half is exact), fp32 accumulation, the row
 *    scale applied once to the sum;
 *  - n = 2..64 (verify, draft-free small batches): cuda_fp8_gemm_small, bf16 tensor-core MMAs with
 *    the e4m3 weights converted to bf16 in registers (exact), fp32 accumulation, the row scale on
 *    the sum (FRS_FP8_MMA=0 turns it off: the path below instead);
 *  - larger n (prefill): cuda_fp8_dequant_bf16 writes bf16(e4m3 * scale) into a scratch matrix
 *    that the bf16 GEMM (cuda_matmul) then reads.
 *
 * cuda_matmul_w8 picks among them (and the bf16 GEMM for bf16 weights): the one dispatch the
 * single-sequence forward (cuda_backend.c) and the batched one (cuda_batch.c) share.
 *
 * defines: cuda_fp8_gemv, cuda_fp8_gemv_swiglu, cuda_fp8_gemm_small, cuda_fp8_mma_ok, cuda_fp8_dequant_bf16,
 *          cuda_fp8_fill_hash, cuda_gate_up_swiglu, cuda_matmul_w8, cuda_fp8_gemm_small_splitk, cuda_fp8_splitk_splits,
 *          cuda_fp8_gemm_pipe, cuda_fp8_pipe_splits
 */
#ifndef FRSPEC_CUDA_FP8_KERNELS_H
#define FRSPEC_CUDA_FP8_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cuda_blas; /* cuda_matmul.h */

/* y[r] = beta * y[r] + scale[r] * sum_c x[c] * e4m3(w[r, c]) for r < rows; x bf16 (cols), w
 * (rows, cols) contiguous e4m3 bytes, y fp32; beta 0 never reads y. pdl: launched with
 * programmatic dependent launch (weights streamed before the kernel before ends; cuda_matmul.h);
 * unroll: 16-byte weight loads in flight per lane, 8 or else 4 (struct cuda_blas' fp8_gemv_unroll). */
enum frs_status cuda_fp8_gemv(const uint16_t *x, const uint8_t *w, const float *scale, int rows, int cols, float *y,
                              float beta, int pdl, int unroll, cudaStream_t st);
/* act[j] = bf16(silu(g) * u) for j < F, g and u the cuda_fp8_gemv outputs (beta 0) of rows j and F + j
 * of the stacked (2F, cols) e4m3 gate/up matrix w with its 2F row scales: the same bits as
 * cuda_fp8_gemv then cuda_swiglu, in one launch (the decode's MLP at n == 1). */
enum frs_status cuda_fp8_gemv_swiglu(const uint16_t *x, const uint8_t *w, const float *scale, int F, int cols,
                                     uint16_t *act, int pdl, int unroll, cudaStream_t st);
/* y[i, r] = beta * y[i, r] + scale[r] * sum_c x[i, c] * e4m3(w[r, c]) for i < n (2..64), x bf16
 * (row stride ldx, a multiple of 8, 16-byte aligned), cols a multiple of 64, y fp32 (row stride
 * ldy). cuda_fp8_mma_ok says whether a call qualifies. */
enum frs_status cuda_fp8_gemm_small(const uint16_t *x, int ldx, int n, const uint8_t *w, const float *scale, int rows,
                                    int cols, float *y, int ldy, float beta, cudaStream_t st);
int cuda_fp8_mma_ok(int n, int cols, const void *x, int ldx);
/* The same over K split in `splits` parts (grid rows/128 x splits: the skinny matrices fill the
 * GPU), the scaled partials in part (splits * n * rows floats) summed by a second kernel in split
 * order (deterministic). splits <= 1: cuda_fp8_gemm_small. cuda_fp8_splitk_splits: the splits for
 * a shape (about two waves of blocks on n_sm SMs, at least 512 columns a split, at most 16). */
enum frs_status cuda_fp8_gemm_small_splitk(const uint16_t *x, int ldx, int n, const uint8_t *w, const float *scale,
                                           int rows, int cols, float *y, int ldy, float beta, int splits, float *part,
                                           cudaStream_t st);
int cuda_fp8_splitk_splits(int rows, int cols, int n_sm);
/* The same product (and split-K partials) through the pipelined kernel: 256 weight rows a block, the
 * weight and x tiles streamed through a 4-stage cp.async ring (up to 100 KiB of shared memory at n = 64).
 * The same sums as cuda_fp8_gemm_small(_splitk) over the same K ranges; splits 1: no partials (part
 * may be NULL). flags FP8_PIPE_INT_CVT: the weights converted to bf16 by integer bit operations and one
 * bf16 FMA (the same values: the same bits) instead of the conversion instructions; FP8_PIPE_CLUSTER:
 * the splits of a row block launched as one thread block cluster that sums them through distributed
 * shared memory (the same sums in the same order: the same bits; part untouched) where such clusters
 * fit the device (sm_90 code and enough of them resident; else, or when the launch is refused, the
 * partials and the reduce launch, so part is required whenever splits > 1). cuda_fp8_pipe_splits: the splits for a shape (two blocks an SM on n_sm SMs, at least
 * 256 columns a split, at most 16). */
#define FP8_PIPE_INT_CVT 1 /* cuda_fp8_gemm_pipe flags */
#define FP8_PIPE_CLUSTER 2
enum frs_status cuda_fp8_gemm_pipe(const uint16_t *x, int ldx, int n, const uint8_t *w, const float *scale, int rows,
                                   int cols, float *y, int ldy, float beta, int splits, float *part, int flags,
                                   cudaStream_t st);
int cuda_fp8_pipe_splits(int rows, int cols, int n_sm);
/* out[r, c] = bf16(e4m3(w[r, c]) * scale[r]) (rows, cols) contiguous. */
enum frs_status cuda_fp8_dequant_bf16(const uint8_t *w, const float *scale, int rows, int cols, uint16_t *out,
                                      cudaStream_t st);
/* Synthetic FP8 weights (bench): w[i] = e4m3(u_i * 448) with u_i uniform in [-1, 1) from a hash
 * of (seed, i), and scale[r] = amp / 448 for every row. */
enum frs_status cuda_fp8_fill_hash(uint8_t *w, size_t n, float *scale, int rows, float amp, uint64_t seed,
                                   cudaStream_t st);
/* y = beta y + x W^T over n rows (x bf16, row stride ldx; y fp32, row stride ldy): W bf16 (w) when
 * w8 is NULL, else e4m3 w8 (rows, cols) with row scales s8: n == 1 cuda_fp8_gemv (blas->
 * fp8_gemv_unroll), n 2..64 cuda_fp8_gemm_small when blas->fp8_mma (2: its split-K form, partials
 * in deq; 4: cuda_fp8_gemm_pipe, split likewise; 5: it with FP8_PIPE_INT_CVT; 6 / 7: 4 / 5 with
 * FP8_PIPE_CLUSTER) and cuda_fp8_mma_ok, else cuda_fp8_dequant_bf16 into deq (rows * cols bf16 of scratch)
 * and the bf16 GEMM. On blas's stream. */
/* The MLP's gate/up product and SwiGLU over n rows of x (bf16, row stride cols): act (n x F bf16) =
 * bf16(silu(g) * u), g and u rows j and F + j of the stacked (2F, cols) weight (bf16 w, or e4m3 w8
 * with row scales s8). n == 1: one fused GEMV (cuda_gemv_swiglu, or cuda_fp8_gemv_swiglu under row
 * kernels 2); else cuda_matmul_w8 into gu (n x 2F floats; deq as there), then cuda_swiglu. On blas's
 * stream. */
enum frs_status cuda_gate_up_swiglu(struct cuda_blas *blas, const uint16_t *x, int n, const uint16_t *w,
                                    const uint8_t *w8, const float *s8, int F, int cols, float *gu, uint16_t *act,
                                    uint16_t *deq);
enum frs_status cuda_matmul_w8(struct cuda_blas *blas, const uint16_t *x, int ldx, int n, const uint16_t *w,
                               const uint8_t *w8, const float *s8, int rows, int cols, float *y, int ldy, float beta,
                               uint16_t *deq);

#ifdef __cplusplus
}
#endif

#endif
