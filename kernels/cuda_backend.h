/* cuda_backend.h - the CUDA backend's ops table (kernels/cuda_backend.c): runtime/backend.h on
 * one GPU per rank, same semantics as the CPU reference backend (frs_backend_cpu_ops).
 *
 * Options (struct frs_backend_options, runtime/backend.h; read once at create, never from the
 * environment): cuda_graphs 0 turns off the CUDA graphs (decode, the draft step, verify);
 * device_sampling 0 samples (temperature > 0) on the host over read-back logits with
 * runtime/sampling.c instead of on the device (kernels/cuda_sample.h, same tokens); device_accept 0
 * walks the acceptance on the host; attention FRS_ATTN_CUDA_CORES turns off the tensor-core
 * attention of n > 1 rows (verify, draft levels, prefill: kernels/cuda_attn_mma.cu),
 * FRS_ATTN_MMA_BF16 runs it with single bf16 products (cuda_attention.h); cublaslt 0 and pdl 0 turn
 * off cuBLASLt and programmatic dependent launch of the GEMVs (cuda_matmul.h).
 *
 * defines: frs_backend_cuda_ops, cuda_backend_logits, cuda_backend_sampling_counts
 */
#ifndef FRSPEC_CUDA_BACKEND_H
#define FRSPEC_CUDA_BACKEND_H

#include "backend.h"

extern const struct frs_backend_ops frs_backend_cuda_ops;

/* For tests and benchmarks: the logits of the last forward pass (this rank's vocabulary rows:
 * the last prompt row after prefill/decode, every tree node after verify) copied to out
 * (capacity cap floats); *rows and *vocab_local describe them. Synchronises. */
enum frs_status cuda_backend_logits(struct frs_backend *be, float *out, size_t cap, int *rows, int *vocab_local);

/* For tests and benchmarks: sampled next_token / verify calls (temperature > 0) answered wholly on
 * the device, those answered on the host (device_sampling 0, TP > 1), and the rows of
 * device-sampled calls redone on the host (rows the kernels left undecided: kernels/cuda_sample.h). */
void cuda_backend_sampling_counts(struct frs_backend *be, long *on_device, long *on_host, long *rows_redone);

#endif
