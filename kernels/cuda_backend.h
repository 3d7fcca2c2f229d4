/* cuda_backend.h - the CUDA backend's ops table (kernels/cuda_backend.c): runtime/backend.h on
 * one GPU per rank, same semantics as the CPU reference backend (frs_backend_cpu_ops).
 *
 * Environment, for A/B timings: FRS_CUDA_GRAPHS=0 turns off the CUDA graphs (decode, the draft
 * step, verify); FRS_HOST_SAMPLING=1 samples (temperature > 0) on the host over read-back logits
 * with runtime/sampling.c instead of on the device (kernels/cuda_sample.h, same tokens);
 * FRS_FUSE_NORM=1 turns on the RMSNorm fused into the n == 1 GEMVs (measured slower, off by
 * default); FRS_CUBLASLT=0, FRS_PDL=0 and FRS_ATT_MULTI=0 turn off cuBLASLt, programmatic dependent
 * launch of the GEMVs and the shared K/V loads of multi-row attention (kernels/cuda_ops.cu);
 * FRS_ATT_MMA=0 turns off the tensor-core attention of n > 1 rows (verify, draft levels, prefill:
 * kernels/cuda_attn_mma.cu), FRS_ATT_MMA=1 runs it with single bf16 products (cuda_ops.h).
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
 * the device, those answered on the host (FRS_HOST_SAMPLING=1, TP > 1), and the rows of
 * device-sampled calls redone on the host (rows the kernels left undecided: kernels/cuda_sample.h). */
void cuda_backend_sampling_counts(struct frs_backend *be, long *on_device, long *on_host, long *rows_redone);

#endif
