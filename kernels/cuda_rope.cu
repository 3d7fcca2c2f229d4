/* cuda_rope.cu - RoPE of the q and k heads of fused qkv rows and the K/V cache write (cuda_rope.h). */
#include "cuda_common.cuh"
#include "cuda_rope.h"

/* grid (n, n_heads + 2 n_kv), block D / 2 (at least 32): block (i, h) rotates head h of
 * row i (q heads, then k heads into the cache) or, for h >= n_heads + n_kv, copies v head
 * h - n_heads - n_kv into the cache; thread j owns the pair (j, j + D/2). One block per row before
 * (3.5k pairs with sincosf in a loop of 14 on 256 threads: ~6 us per layer at decode). */
__global__ void rope_qkv_kernel(const float *qkv, int ldqkv, int n_heads, int n_kv, int D, const int32_t *pos,
                                const float *inv_freq, float *q_out, uint16_t *kcache, uint16_t *vcache,
                                const int32_t *slot0)
{
    const int i = blockIdx.x, h = blockIdx.y, half = D / 2, j = threadIdx.x;
    if (j >= half)
        return;
    const size_t kvw = (size_t)n_kv * D, slot = (size_t)(*slot0 + i);
    /* angle in fp32 as cpu_rope and transformers */
    const float ang = (float)pos[i] * inv_freq[j];
    float sn, cs;
    sincosf(ang, &sn, &cs);
    rope_head_pair(qkv + (size_t)i * ldqkv, h, j, n_heads, n_kv, D, cs, sn, q_out + (size_t)i * n_heads * D,
                   kcache + slot * kvw, vcache + slot * kvw);
}

extern "C" enum frs_status cuda_rope_qkv(const float *qkv, int ldqkv, int n, int n_heads, int n_kv, int head_dim,
                                         const int32_t *pos, const float *inv_freq, float *q_out, uint16_t *kcache,
                                         uint16_t *vcache, const int32_t *slot0, cudaStream_t st)
{
    if (n <= 0 || head_dim <= 0 || head_dim % 2 || n_heads <= 0 || n_kv <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_rope_qkv: n %d, heads %d / %d, head_dim %d (must be even)", n,
                       n_heads, n_kv, head_dim);
    const int threads = head_dim / 2 < 32 ? 32 : head_dim / 2;
    rope_qkv_kernel<<<dim3((unsigned)n, (unsigned)(n_heads + 2 * n_kv)), threads, 0, st>>>(
        qkv, ldqkv, n_heads, n_kv, head_dim, pos, inv_freq, q_out, kcache, vcache, slot0);
    FRS_LAUNCH_CHECK(rope_qkv_kernel);
    return FRS_OK;
}
