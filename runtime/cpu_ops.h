/* cpu_ops.h - the CPU reference operators (fp32 arithmetic over F32/F16/BF16 weights).
 *
 * These are the numerical reference: the CPU backend is built from them and every CUDA kernel
 * is tested against them. Activations are row-major fp32 [n, dim]. Written to be read, not fast.
 *
 * Conventions shared with kernels/:
 *  - matmul: y[n, W.rows] = x[n, W.cols] @ W^T (Hugging Face nn.Linear weight layout).
 *  - rope: Hugging Face "rotate_half" layout (pairs (i, i + D/2)), angle = pos * inv_freq[i].
 *  - attention: the n new tokens sit in cache slots [prefix, prefix + n); every new token sees
 *    all prefix slots; among the new tokens token i sees token j when bit j of row i of mask is
 *    set (row i = mask[i * words .. ], words = (n + 63) / 64); mask NULL = causal (j <= i).
 *    Grouped-query: q head h reads kv head h / (n_heads / n_kv_heads). Scale 1/sqrt(D).
 *  - topk: descending values, ties to the lower index.
 *
 * The inverse frequencies cpu_rope takes come from rope.h and the mask word count from tree.h
 * (FRS_MASK_WORDS): neutral headers the CUDA backend shares.
 *
 * defines: cpu_matmul, cpu_rmsnorm, cpu_rope, cpu_attention, cpu_attention_paged, cpu_swiglu,
 *          cpu_embed, cpu_add, cpu_log_softmax, cpu_topk, cpu_argmax, cpu_fp8_quant_act
 */
#ifndef FRSPEC_CPU_OPS_H
#define FRSPEC_CPU_OPS_H

#include <stdint.h>

#include "config.h"
#include "rope.h"   /* rope_inv_freq: the inv_freq of cpu_rope */
#include "tensor.h"
#include "tree.h"   /* FRS_MASK_WORDS: the mask rows of cpu_attention */

void cpu_matmul(const float *x, int n, const struct frs_mat *w, float *y);
/* The input-activation quantization w's FP8 format prescribes (w->act, tensor.h), as fake
 * quantization: out = e4m3(clamp(x / s, -448, 448)) * s over x[n, w->cols], with s = amax / 448
 * per row (DYNAMIC_TOKEN; amax clamped to w->act_scale_ub when > 0, as fbgemm does), over all n
 * rows (DYNAMIC_TENSOR), or w->input_scale (STATIC); s = 0 becomes FLT_EPSILON (compressed-
 * tensors). FRS_FP8_ACT_NONE copies x. */
void cpu_fp8_quant_act(const float *x, int n, const struct frs_mat *w, float *out);
/* y = x / rms(x) * w (w may be NULL: no weight); eps inside the sqrt, as Hugging Face. */
void cpu_rmsnorm(const float *x, int n, int dim, const struct frs_mat *w, float eps, float *y);
/* In place over x[n, n_heads * head_dim]; inv_freq from rope_inv_freq. */
void cpu_rope(float *x, int n, int n_heads, int head_dim, const int32_t *pos, const float *inv_freq);
/* q [n, n_heads*D]; kcache/vcache [slots, n_kv_heads*D] already holding the new tokens at
 * [prefix, prefix+n); out [n, n_heads*D]. */
void cpu_attention(const float *q, const float *kcache, const float *vcache, int prefix, int n,
                   const uint64_t *mask, int n_heads, int n_kv_heads, int head_dim, float *out);
/* cpu_attention over a paged cache: slot s lives at row blocks[s / block] * block + s % block of
 * kcache/vcache (blocks NULL: row s, i.e. cpu_attention). The same arithmetic in the same order,
 * so a row's output does not depend on where its cache rows are. */
void cpu_attention_paged(const float *q, const float *kcache, const float *vcache, const int32_t *blocks,
                         int block, int prefix, int n, const uint64_t *mask, int n_heads, int n_kv_heads,
                         int head_dim, float *out);
/* out = silu(gate) * up, elementwise over len */
void cpu_swiglu(const float *gate, const float *up, int64_t len, float *out);
void cpu_embed(const struct frs_mat *table, const int32_t *tokens, int n, float *out);
/* x += y over len */
void cpu_add(float *x, const float *y, int64_t len);
void cpu_log_softmax(const float *x, int n, float *out);
/* k largest of x[n]: vals/idx descending, ties to the lower index. */
void cpu_topk(const float *x, int n, int k, float *vals, int32_t *idx);
int32_t cpu_argmax(const float *x, int n);

#endif
