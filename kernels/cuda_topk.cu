/* cuda_topk.cu - the row selections (cuda_topk.h): log-softmax + top-k (the draft tree's
 * children) and the packed argmax keys of greedy decoding (one ncclMax over them gives the global
 * argmax). */
#include "cuda_common.cuh"
#include "../runtime/argmax_key.h" /* frs_argmax_key_pack (host + device) */
#include "cuda_topk.h"

#define TOPK_THREADS 256

#define TOPK_BATCH 8

/* column c's value v into a thread's online (max m, sum s of exp) and its sorted list of the KMAX
 * best keys */
template <int KMAX>
static __device__ __forceinline__ void topk_take(float v, int c, float &m, float &s, unsigned long long (&lst)[KMAX])
{
    if (v > m) {
        s = s * expf(m - v) + 1.0f;
        m = v;
    } else {
        s += expf(v - m);
    }
    unsigned long long key = frs_argmax_key_pack(v, c);
    if (key > lst[KMAX - 1]) {
#pragma unroll
        for (int q = 0; q < KMAX; q++) {
            const unsigned long long hi = key > lst[q] ? key : lst[q];
            key = key > lst[q] ? lst[q] : key;
            lst[q] = hi;
        }
    }
}

/* One block per row: online (max, sum exp) and a per-thread sorted list of the KMAX best keys
 * (argmax_key order: larger value, then lower index) in registers; then k rounds of a block-wide
 * max over the threads' heads, the winning thread popping its head. */
template <int KMAX>
__global__ void __launch_bounds__(TOPK_THREADS) logsoftmax_topk_kernel(const float *logits, int cols, int ld, int k,
                                                                       const int32_t *id_map, float *vals,
                                                                       int32_t *idx)
{
    __shared__ float shm[32], shs[32];
    __shared__ unsigned long long shk[32];
    const float *x = logits + (size_t)blockIdx.x * ld;
    unsigned long long lst[KMAX];
#pragma unroll
    for (int q = 0; q < KMAX; q++)
        lst[q] = 0ull;
    float m = -INFINITY, s = 0.0f;
    /* a thread's columns c, c + 256, ... in that order; TOPK_BATCH of them loaded before any is used
     * (one load in flight a thread made the kernel latency-bound: ~100 us for 32k columns under ncu) */
    int c = threadIdx.x;
    for (; c + (TOPK_BATCH - 1) * TOPK_THREADS < cols; c += TOPK_BATCH * TOPK_THREADS) {
        float v[TOPK_BATCH];
#pragma unroll
        for (int u = 0; u < TOPK_BATCH; u++)
            v[u] = x[c + u * TOPK_THREADS];
#pragma unroll
        for (int u = 0; u < TOPK_BATCH; u++)
            topk_take<KMAX>(v[u], c + u * TOPK_THREADS, m, s, lst);
    }
    for (; c < cols; c += TOPK_THREADS)
        topk_take<KMAX>(x[c], c, m, s, lst);
    /* block (max, sum) */
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        const float mm = fmaxf(m, m2);
        s = (m == -INFINITY ? 0.0f : s * expf(m - mm)) + (m2 == -INFINITY ? 0.0f : s2 * expf(m2 - mm));
        m = mm;
    }
    if (lane == 0) {
        shm[wid] = m;
        shs[wid] = s;
    }
    __syncthreads();
    if (wid == 0) {
        const int nw = TOPK_THREADS / 32;
        m = lane < nw ? shm[lane] : -INFINITY;
        s = lane < nw ? shs[lane] : 0.0f;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
            const float mm = fmaxf(m, m2);
            s = (m == -INFINITY ? 0.0f : s * expf(m - mm)) + (m2 == -INFINITY ? 0.0f : s2 * expf(m2 - mm));
            m = mm;
        }
        if (lane == 0) {
            shm[0] = m;
            shs[0] = s;
        }
    }
    __syncthreads();
    const float lse = shm[0] + logf(shs[0]);
    for (int r = 0; r < k; r++) {
        const unsigned long long best = block_max_u64(lst[0], shk);
        if (lst[0] == best && best != 0ull) {
#pragma unroll
            for (int q = 0; q < KMAX - 1; q++)
                lst[q] = lst[q + 1];
            lst[KMAX - 1] = 0ull;
        }
        if (threadIdx.x == 0) {
            const int c = frs_argmax_key_index(best);
            vals[(size_t)blockIdx.x * k + r] = frs_argmax_key_value(best) - lse;
            idx[(size_t)blockIdx.x * k + r] = id_map ? id_map[c] : c;
        }
    }
}

extern "C" enum frs_status cuda_logsoftmax_topk(const float *logits, int rows, int cols, int ld, int k,
                                                const int32_t *id_map, float *vals, int32_t *idx, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0 || k < 1 || k > CUDA_TOPK_MAX || k > cols)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_logsoftmax_topk: rows %d, cols %d, k %d (need 1 <= k <= min(cols, "
                       "%d))", rows, cols, k, CUDA_TOPK_MAX);
    if (k <= 8)
        logsoftmax_topk_kernel<8><<<rows, TOPK_THREADS, 0, st>>>(logits, cols, ld, k, id_map, vals, idx);
    else if (k <= 16)
        logsoftmax_topk_kernel<16><<<rows, TOPK_THREADS, 0, st>>>(logits, cols, ld, k, id_map, vals, idx);
    else
        logsoftmax_topk_kernel<32><<<rows, TOPK_THREADS, 0, st>>>(logits, cols, ld, k, id_map, vals, idx);
    FRS_LAUNCH_CHECK(logsoftmax_topk_kernel);
    return FRS_OK;
}

#define ARGMAX_THREADS 256

__global__ void argmax_keys_kernel(const float *logits, int cols, int ld, int idx_offset, int chunk,
                                   unsigned long long *keys)
{
    __shared__ unsigned long long sh[32];
    const float *x = logits + (size_t)blockIdx.y * ld;
    const int c0 = blockIdx.x * chunk, c1 = min(cols, c0 + chunk);
    unsigned long long best = 0ull;
    for (int c = c0 + threadIdx.x; c < c1; c += ARGMAX_THREADS) {
        const unsigned long long key = frs_argmax_key_pack(x[c], idx_offset + c);
        best = key > best ? key : best;
    }
    best = block_max_u64(best, sh);
    if (threadIdx.x == 0)
        atomicMax(keys + blockIdx.y, best);
}

extern "C" enum frs_status cuda_argmax_keys(const float *logits, int rows, int cols, int ld, int idx_offset,
                                            uint64_t *keys, cudaStream_t st)
{
    if (rows <= 0 || cols <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_argmax_keys: rows %d, cols %d must be > 0", rows, cols);
    cudaError_t ce = cudaMemsetAsync(keys, 0, (size_t)rows * sizeof(uint64_t), st);
    if (ce != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "cuda_argmax_keys: memset: %s", cudaGetErrorString(ce));
    int nb = (cols + 8191) / 8192;
    if (nb > 64)
        nb = 64;
    const int chunk = (cols + nb - 1) / nb;
    argmax_keys_kernel<<<dim3(nb, rows), ARGMAX_THREADS, 0, st>>>(logits, cols, ld, idx_offset, chunk,
                                                                  (unsigned long long *)keys);
    FRS_LAUNCH_CHECK(argmax_keys_kernel);
    return FRS_OK;
}
