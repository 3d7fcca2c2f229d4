/* cuda_common.cuh - what every kernel file of kernels/ shares, device side: the check macros
 * (cuda_check.h), programmatic dependent launch, the bf16 helpers, the warp and block reductions
 * and the counter-based RNG (runtime/rng.h itself, __host__ __device__ under nvcc: one Gumbel hash
 * for the CPU and the GPU). Include it first in a .cu file; new kernel files (batched attention,
 * FP8 GEMMs, ...) build on it the same way.
 *
 * Conventions: bf16 values travel as uint16_t (the upper half of an fp32, round to nearest even);
 * block reductions use blockDim.x threads (a multiple of 32, at most 1024) and a caller-provided
 * shared array of 32 entries, and end with every thread holding the result.
 *
 * defines: FRS_CUDA_CHECK, FRS_CUDA_CHECK_GOTO, FRS_LAUNCH_CHECK (cuda_check.h), FRS_FULL_MASK,
 *          smem_addr, cp_async16, cp_async_commit, cp_async_wait, pdl_wait, pdl_trigger, bf2f, f2bf, swiglu_bf16, rope_rotate, rope_head_pair, warp_sum, warp_max, warp_max_u64, block_sum,
 *          block_max, block_max_u64, block_or; frs_mix64, frs_rng_u64, frs_rng_uniform,
 *          frs_rng_gumbel (rng.h)
 */
#ifndef FRSPEC_CUDA_COMMON_CUH
#define FRSPEC_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "cuda_check.h"
#include "rng.h" /* frs_rng_*: __host__ __device__ under nvcc */

#define FRS_FULL_MASK 0xffffffffu

/* ---- cp.async (sm_80+): 16-byte global -> shared copies in commit groups ---------------------- */
static __device__ __forceinline__ uint32_t smem_addr(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared; src_bytes 0: zero fill (nothing read) */
static __device__ __forceinline__ void cp_async16(void *dst, const void *src, int src_bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes)
                 : "memory");
}

static __device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

template <int N>
static __device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

/* ---- programmatic dependent launch (sm_90; no-ops below) ---------------------------------------
 * A kernel launched with the PDL attribute (the GEMVs, cuda_matmul.h) may start while the kernel
 * before it still runs; it waits in pdl_wait() before it reads that kernel's output. Kernels that
 * precede such a launch allow the early start with pdl_trigger(). */
static __device__ __forceinline__ void pdl_wait()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

static __device__ __forceinline__ void pdl_trigger()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

/* ---- bf16 ------------------------------------------------------------------------------------- */

static __device__ __forceinline__ float bf2f(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

static __device__ __forceinline__ uint16_t f2bf(float f) { return __bfloat16_as_ushort(__float2bfloat16_rn(f)); }

/* bf16(silu(g) * u): SwiGLU's element, one expression for every kernel that computes it (the unfused
 * kernels and the GEMVs fused with it give the same bits) */
static __device__ __forceinline__ uint16_t swiglu_bf16(float g, float u) { return f2bf(g / (1.0f + expf(-g)) * u); }

/* ---- RoPE ---------------------------------------------------------------------------------------
 * The rotation of the pair (a, b) by the angle whose cosine / sine are cs / sn, each product and sum
 * rounded on its own (no contraction into FMAs, which the compiler may choose differently from one
 * kernel to the next): every RoPE kernel gives the same bits, and the same as the CPU's
 * a * cs - b * sn, b * cs + a * sn for the same cs / sn. */
static __device__ __forceinline__ void rope_rotate(float a, float b, float cs, float sn, float *r0, float *r1)
{
    *r0 = __fsub_rn(__fmul_rn(a, cs), __fmul_rn(b, sn));
    *r1 = __fadd_rn(__fmul_rn(b, cs), __fmul_rn(a, sn));
}

/* Pair j (of D / 2) of head h of a fused qkv row (n_heads q heads, n_kv k heads, n_kv v heads): a q
 * head rotated into q_row (fp32, n_heads x D), a k head rotated into k_row (bf16, n_kv x D), a v head
 * copied into v_row (bf16); cs / sn: the pair's angle at the row's position. */
static __device__ __forceinline__ void rope_head_pair(const float *row, int h, int j, int n_heads, int n_kv, int D,
                                                      float cs, float sn, float *q_row, uint16_t *k_row,
                                                      uint16_t *v_row)
{
    const int half = D / 2;
    if (h >= n_heads + n_kv) {
        const int e = (h - n_heads - n_kv) * D + j;
        const float *v = row + (size_t)(n_heads + n_kv) * D;
        v_row[e] = f2bf(v[e]);
        v_row[e + half] = f2bf(v[e + half]);
        return;
    }
    const float *v = row + (size_t)h * D;
    float r0, r1;
    rope_rotate(v[j], v[j + half], cs, sn, &r0, &r1);
    if (h < n_heads) {
        float *o = q_row + (size_t)h * D;
        o[j] = r0;
        o[j + half] = r1;
    } else {
        uint16_t *o = k_row + (size_t)(h - n_heads) * D;
        o[j] = f2bf(r0);
        o[j + half] = f2bf(r1);
    }
}

/* ---- warp reductions (butterfly: every lane gets the result) ------------------------------------ */

static __device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(FRS_FULL_MASK, v, o);
    return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(FRS_FULL_MASK, v, o));
    return v;
}

static __device__ __forceinline__ unsigned long long warp_max_u64(unsigned long long v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        unsigned long long w = __shfl_xor_sync(FRS_FULL_MASK, v, o);
        v = w > v ? w : v;
    }
    return v;
}

/* ---- block reductions (sh: >= 32 entries of shared memory; every thread gets the result) -------- */

static __device__ float block_sum(float v, float *sh)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0)
        sh[wid] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0f;
    return warp_sum(v);
}

static __device__ __forceinline__ float block_max(float v, float *sh)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0)
        sh[wid] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    return warp_max(v);
}

static __device__ unsigned long long block_max_u64(unsigned long long v, unsigned long long *sh)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_max_u64(v);
    __syncthreads();
    if (lane == 0)
        sh[wid] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0ull;
    return warp_max_u64(v);
}

/* 1 in every thread when v != 0 in any thread */
static __device__ __forceinline__ int block_or(int v, int *sh)
{
    v = __any_sync(FRS_FULL_MASK, v);
    __syncthreads();
    if ((threadIdx.x & 31) == 0)
        sh[threadIdx.x >> 5] = v;
    __syncthreads();
    int r = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++)
        r |= sh[w];
    return r;
}

#endif
