/* cuda_ops.h - the CUDA kernels of the target and the draft behind a C ABI (launchers in
 * the kernels/cuda_*.cu files; the tree and sampling kernels: cuda_tree.h, cuda_sample.h). Host
 * code (cuda_backend.c, the tests) stays C11.
 *
 * Conventions (the same as runtime/cpu_ops.h, which is the reference for every launcher):
 *  - bf16 values travel as uint16_t (the upper half of an fp32), round to nearest even.
 *  - activations: the residual stream and matmul outputs are fp32; everything that feeds a
 *    matmul (norm output, attention output, SwiGLU output, draft fc input) is bf16, so the
 *    n == 1 GEMV and the n > 1 cuBLAS GEMM see identical inputs (only the summation order
 *    differs between them).
 *  - matmul: y[n, rows] (+)= x[n, cols] @ W^T with W row-major (rows, cols) bf16.
 *  - KV cache: bf16, per layer (slots, n_kv*D); token i of a forward sits at slot slot0 + i.
 *  - attention: the n new tokens sit at slots [prefix, prefix+n); all prefix slots visible;
 *    among the new ones bit j of mask row i (FRS_MASK_WORDS(n) words) or causal when mask is
 *    NULL. GQA: q head h reads kv head h / (n_heads / n_kv). Scale 1/sqrt(D).
 *  - scalars that change every step (prefix, slot0) are read from device memory, so a captured
 *    CUDA graph replays with new values and no host work.
 *  - every launcher takes an explicit stream, checks the launch (FRS_LAUNCH_CHECK, cuda_check.h),
 *    records errors with FRS_ERR and never synchronises.
 *
 * Each operation has its own header and .cu file (every .cu includes cuda_common.cuh, the shared
 * device helpers); this header includes them all, so code written against it keeps compiling:
 *
 * defines: nothing of its own; includes what the per-operation headers define.
 */
#ifndef FRSPEC_CUDA_OPS_H
#define FRSPEC_CUDA_OPS_H

#include "cuda_matmul.h"      /* struct cuda_blas, cuda_blas_create/free, cuda_matmul,
                               * cuda_gemv_bf16, cuda_gemv_swiglu */
#include "cuda_norm.h"        /* cuda_rmsnorm */
#include "cuda_rope.h"        /* cuda_rope_qkv */
#include "cuda_attention.h"   /* cuda_attention(_layout), cuda_attention_combine, _splits, _scratch_floats,
                               * _auto_mma, CUDA_ATT_* (the tensor-core kernel: cuda_attn_mma.h) */
#include "cuda_elementwise.h" /* cuda_swiglu, cuda_embed, cuda_add, cuda_add_bias, cuda_f32_to_bf16 */
#include "cuda_topk.h"        /* cuda_logsoftmax_topk, cuda_argmax_keys, CUDA_TOPK_MAX */
#include "cuda_gumbel.h"      /* cuda_rng_gumbel_fill, cuda_sample_keys */
#include "cuda_kv.h"          /* cuda_kv_gather */
#include "cuda_synthetic.h"   /* cuda_fill_hash_bf16 */

#endif
