/* cuda_paged.cu - kernels and extern "C" launchers of cuda_paged.h: RoPE + K/V write through
 * physical pool rows, the paged attention of many sequences' rows (the CUDA-core kernel of
 * cuda_ops.cu's attention_kernel at one row per block, its slots looked up through the row's
 * block table; partials merged by cuda_attention_combine), row stores and row moves.
 */
#include "cuda_common.cuh" /* FRS_LAUNCH_CHECK, f2bf, warp_max */

#include "cuda_attention.h" /* cuda_attention_combine */
#include "cuda_elementwise.h" /* cuda_row_kernels */
#include "cuda_paged.h"

/* ---- RoPE + paged K/V write ---------------------------------------------------------------------- */

/* grid (n, n_heads + 2 n_kv), block max(32, D/2): as cuda_ops.cu's rope_qkv_kernel, the K/V row
 * of token i going to pool row phys[i] */
__global__ void paged_rope_write_kernel(const float *qkv, int ldqkv, int n_heads, int n_kv, int D, const int32_t *pos,
                                        const float *inv_freq, float *q_out, uint16_t *kpool, uint16_t *vpool,
                                        const int32_t *phys)
{
    const int i = blockIdx.x, h = blockIdx.y, half = D / 2, j = threadIdx.x;
    if (j >= half)
        return;
    const size_t kvw = (size_t)n_kv * D, slot = (size_t)phys[i];
    const float ang = (float)pos[i] * inv_freq[j];
    float sn, cs;
    sincosf(ang, &sn, &cs);
    rope_head_pair(qkv + (size_t)i * ldqkv, h, j, n_heads, n_kv, D, cs, sn, q_out + (size_t)i * n_heads * D,
                   kpool + slot * kvw, vpool + slot * kvw);
}

/* row kernels 2: grid (n, ceil(heads / (G U))), block (D / 2, G), G = max(1, 256 / (D / 2)): thread
 * (j, g) takes the angle of pair j once and rotates (or copies) heads (blockIdx.y U + u) G + g, u < U,
 * of row i: a few blocks per row (3 at the 8B shape, U = 4) instead of one per head */
template <int U>
__global__ void paged_rope_write_vec_kernel(const float *__restrict__ qkv, int ldqkv, int n_heads, int n_kv, int D,
                                            const int32_t *__restrict__ pos, const float *__restrict__ inv_freq,
                                            float *__restrict__ q_out, uint16_t *__restrict__ kpool,
                                            uint16_t *__restrict__ vpool, const int32_t *__restrict__ phys)
{
    const int i = blockIdx.x, j = threadIdx.x, G = blockDim.y;
    const size_t kvw = (size_t)n_kv * D, slot = (size_t)phys[i];
    const float ang = (float)pos[i] * inv_freq[j];
    float sn, cs;
    sincosf(ang, &sn, &cs);
    const float *row = qkv + (size_t)i * ldqkv;
    float *q_row = q_out + (size_t)i * n_heads * D;
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int h = ((int)blockIdx.y * U + u) * G + (int)threadIdx.y;
        if (h >= n_heads + 2 * n_kv)
            break;
        rope_head_pair(row, h, j, n_heads, n_kv, D, cs, sn, q_row, kpool + slot * kvw, vpool + slot * kvw);
    }
}

extern "C" enum frs_status cuda_paged_rope_write(const float *qkv, int ldqkv, int n, int n_heads, int n_kv,
                                                 int head_dim, const int32_t *pos, const float *inv_freq, float *q_out,
                                                 uint16_t *kpool, uint16_t *vpool, const int32_t *phys, cudaStream_t st)
{
    if (n <= 0 || head_dim <= 0 || head_dim % 2 || n_heads <= 0 || n_kv <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_paged_rope_write: n %d, heads %d / %d, head_dim %d (must be even)",
                       n, n_heads, n_kv, head_dim);
    const int half = head_dim / 2, heads = n_heads + 2 * n_kv;
    if (cuda_row_kernels() >= 2 && half <= 1024) {
        const int G = half >= 256 ? 1 : 256 / half, U = n >= 16 ? 4 : 1;
        const dim3 grid((unsigned)n, (unsigned)((heads + G * U - 1) / (G * U))), block((unsigned)half, (unsigned)G);
        if (U == 4)
            paged_rope_write_vec_kernel<4><<<grid, block, 0, st>>>(qkv, ldqkv, n_heads, n_kv, head_dim, pos, inv_freq,
                                                                   q_out, kpool, vpool, phys);
        else
            paged_rope_write_vec_kernel<1><<<grid, block, 0, st>>>(qkv, ldqkv, n_heads, n_kv, head_dim, pos, inv_freq,
                                                                   q_out, kpool, vpool, phys);
        FRS_LAUNCH_CHECK(paged_rope_write_vec_kernel);
        return FRS_OK;
    }
    const int threads = half < 32 ? 32 : half;
    paged_rope_write_kernel<<<dim3((unsigned)n, (unsigned)heads), threads, 0, st>>>(
        qkv, ldqkv, n_heads, n_kv, head_dim, pos, inv_freq, q_out, kpool, vpool, phys);
    FRS_LAUNCH_CHECK(paged_rope_write_kernel);
    return FRS_OK;
}

/* ---- paged attention ------------------------------------------------------------------------------ */

#define PG_THREADS 128 /* slots per tile */
#define PG_MAXG 8      /* q heads per block (one kv head's group, split in blocks of 8 when larger) */
#define PG_MAXD 256
#define PG_MAX_SPLIT 64

/* splits over the context until the launch has ~PG_BLOCKS_PER_SM blocks per SM: one row per block
 * leaves a decode batch of 64 (8B: 512 blocks of 128 threads) at ~4 blocks per SM, too few loads in
 * flight (measured 49% of the roofline at batch 64 with 2 per SM, tests/bench/NOTES-cuda.md); at most
 * PG_SPLIT_CAP (the single-sequence decode uses 33) */
#define PG_BLOCKS_PER_SM 8
#define PG_SPLIT_CAP 32

extern "C" int cuda_paged_attention_splits(int n, int n_heads, int n_kv, int n_sm)
{
    const int group = n_heads / (n_kv > 0 ? n_kv : 1), gb = (group + PG_MAXG - 1) / PG_MAXG;
    const long blocks = (long)n * n_kv * gb;
    long s = ((long)PG_BLOCKS_PER_SM * (n_sm > 0 ? n_sm : 1) + blocks - 1) / (blocks > 0 ? blocks : 1);
    if (s < 1)
        s = 1;
    if (s > PG_SPLIT_CAP)
        s = PG_SPLIT_CAP;
    return (int)s;
}

extern "C" size_t cuda_paged_attention_scratch_floats(int n, int n_heads, int n_kv, int head_dim, int n_sm)
{
    const int s = cuda_paged_attention_splits(n, n_heads, n_kv, n_sm);
    return s == 1 ? 0 : (size_t)n * n_heads * s * (head_dim + 2);
}

/* grid (n rows, n_kv * gblocks, n_split), block PG_THREADS: one row's G <= PG_MAXG q heads of one
 * kv head. The row's visible positions are cut into n_split equal ranges; a tile of PG_THREADS
 * positions: thread t looks up position tile + t's pool row through the block table (shared, for
 * the V pass), scores it for every head (16-byte K loads, q from shared memory), online softmax,
 * then the P*V accumulation: V8 = false, threads own (pair of d, slot subset) with 4-byte V loads
 * (cuda_ops.cu's layout); V8 = true, threads own (8 d, slot subset) with 16-byte V loads, a quarter
 * of the loop iterations, partials summed by warp shuffles then across the 4 warps (head_dim 16,
 * 32, 64 or 128). n_split == 1 writes bf16 out; else the partials (m, l, acc[D]) of
 * cuda_attention_combine. */
template <bool V8>
__global__ void __launch_bounds__(PG_THREADS) paged_attention_kernel(
    const float *__restrict__ q, const uint16_t *__restrict__ kc, const uint16_t *__restrict__ vc,
    struct cuda_paged_rows rows, int n_heads, int n_kv, int D, int n_split, uint16_t *out, float *part)
{
    constexpr int NW = PG_THREADS / 32;
    constexpr int AV = V8 ? 8 : 2; /* accumulators per head and thread */
    __shared__ __align__(16) float sq[PG_MAXG][PG_MAXD];
    __shared__ float sp[PG_MAXG][PG_THREADS];
    __shared__ float smax[PG_MAXG];
    __shared__ int sphys[PG_THREADS];
    __shared__ float sred[V8 ? PG_MAXG * NW * 128 : PG_MAXG * 2 * PG_THREADS];
    __shared__ float slred[PG_MAXG * PG_THREADS];

    const int split = blockIdx.z, t = threadIdx.x, i = blockIdx.x;
    const int group = n_heads / n_kv, gblocks = (group + PG_MAXG - 1) / PG_MAXG;
    const int kvh = blockIdx.y / gblocks;
    const int h0 = kvh * group + (blockIdx.y % gblocks) * PG_MAXG;
    const int G = min(PG_MAXG, kvh * group + group - h0);
    const int prefix = rows.prefix[i], local = rows.local[i], ncols = rows.ncols[i];
    const int32_t *table = rows.tables + (size_t)rows.seq[i] * rows.table_w;
    const uint64_t *mrow = rows.mask ? rows.mask + (size_t)i * CUDA_PAGED_MASK_WORDS : NULL;
    const int B = rows.kv_block;
    const int total = mrow ? prefix + ncols : prefix + local + 1;
    const int per = (total + n_split - 1) / n_split;
    const int s_begin = split * per, s_end = min(total, s_begin + per);
    const size_t kvw = (size_t)n_kv * D;
    const float scale = 1.0f / sqrtf((float)D);

    for (int e = t; e < G * D; e += PG_THREADS) {
        const int g = e / D, d = e % D;
        sq[g][d] = q[((size_t)i * n_heads + h0 + g) * D + d];
    }
    /* accumulation roles: lanes per V row (dl) and the row groups stepping over the tile */
    const int dl = V8 ? D / 8 : D / 2, ngroups = PG_THREADS / dl;
    const int dp = t % dl, tg = t / dl; /* tg >= ngroups: no role (V8 = false with D / 2 not dividing) */
    float acc[PG_MAXG][AV], lsum[PG_MAXG], mrun[PG_MAXG];
#pragma unroll
    for (int g = 0; g < PG_MAXG; g++) {
#pragma unroll
        for (int e = 0; e < AV; e++)
            acc[g][e] = 0.0f;
        lsum[g] = 0.0f;
        mrun[g] = -INFINITY;
    }
    __syncthreads();

    for (int tile = s_begin; tile < s_end; tile += PG_THREADS) {
        const int s = tile + t;
        const int tlen = min(PG_THREADS, s_end - tile);
        bool vis = false;
        int prow = 0;
        if (s < s_end) {
            prow = table[s / B] * B + s % B;
            if (s < prefix) {
                vis = true;
            } else {
                const int j = s - prefix;
                vis = mrow ? ((mrow[j >> 6] >> (j & 63)) & 1ull) != 0 : j <= local;
            }
        }
        sphys[t] = prow;
        float sc[PG_MAXG];
#pragma unroll
        for (int g = 0; g < PG_MAXG; g++)
            sc[g] = 0.0f;
        if (vis) {
            const uint4 *kr = reinterpret_cast<const uint4 *>(kc + (size_t)prow * kvw + (size_t)kvh * D);
#pragma unroll 8
            for (int d8 = 0; d8 < D / 8; d8++) {
                const uint4 kk = kr[d8];
                const uint32_t kw[4] = {kk.x, kk.y, kk.z, kk.w};
                float kf[8];
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    kf[2 * u] = __uint_as_float(kw[u] << 16);
                    kf[2 * u + 1] = __uint_as_float(kw[u] & 0xffff0000u);
                }
#pragma unroll
                for (int g = 0; g < PG_MAXG; g++) {
                    if (g < G) {
                        const float4 qa = *reinterpret_cast<const float4 *>(&sq[g][d8 * 8]);
                        const float4 qb = *reinterpret_cast<const float4 *>(&sq[g][d8 * 8 + 4]);
                        float a = sc[g];
                        a = fmaf(qa.x, kf[0], a);
                        a = fmaf(qa.y, kf[1], a);
                        a = fmaf(qa.z, kf[2], a);
                        a = fmaf(qa.w, kf[3], a);
                        a = fmaf(qb.x, kf[4], a);
                        a = fmaf(qb.y, kf[5], a);
                        a = fmaf(qb.z, kf[6], a);
                        a = fmaf(qb.w, kf[7], a);
                        sc[g] = a;
                    }
                }
            }
        }
#pragma unroll
        for (int g = 0; g < PG_MAXG; g++) {
            if (g < G) {
                sc[g] = vis ? sc[g] * scale : -INFINITY;
                sp[g][t] = sc[g];
            }
        }
        __syncthreads();
        {
            const int lane = t & 31, wid = t >> 5;
            for (int g = wid; g < G; g += NW) {
                float m = -INFINITY;
                for (int u = lane; u < PG_THREADS; u += 32)
                    m = fmaxf(m, sp[g][u]);
                m = warp_max(m);
                if (lane == 0)
                    smax[g] = m;
            }
        }
        __syncthreads();
        float alpha[PG_MAXG];
#pragma unroll
        for (int g = 0; g < PG_MAXG; g++) {
            if (g < G) {
                const float mnew = fmaxf(mrun[g], smax[g]);
                alpha[g] = mnew == -INFINITY ? 1.0f : expf(mrun[g] - mnew);
                mrun[g] = mnew;
                sp[g][t] = sc[g] == -INFINITY ? 0.0f : expf(sc[g] - mnew);
            } else {
                alpha[g] = 1.0f;
            }
        }
        __syncthreads();
        if (tg < ngroups) {
#pragma unroll
            for (int g = 0; g < PG_MAXG; g++) {
#pragma unroll
                for (int e = 0; e < AV; e++)
                    acc[g][e] *= alpha[g];
                lsum[g] *= alpha[g];
            }
            const uint16_t *vb = vc + (size_t)kvh * D + AV * dp;
            if constexpr (V8) {
#pragma unroll 2
                for (int u = tg; u < tlen; u += ngroups) {
                    const uint4 v8 = *reinterpret_cast<const uint4 *>(vb + (size_t)sphys[u] * kvw);
                    const uint32_t vw[4] = {v8.x, v8.y, v8.z, v8.w};
                    float vf[8];
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        vf[2 * e] = __uint_as_float(vw[e] << 16);
                        vf[2 * e + 1] = __uint_as_float(vw[e] & 0xffff0000u);
                    }
#pragma unroll
                    for (int g = 0; g < PG_MAXG; g++) {
                        if (g < G) {
                            const float p = sp[g][u];
#pragma unroll
                            for (int e = 0; e < 8; e++)
                                acc[g][e] = fmaf(p, vf[e], acc[g][e]);
                            lsum[g] += p;
                        }
                    }
                }
            } else {
#pragma unroll 4
                for (int u = tg; u < tlen; u += ngroups) {
                    const uint32_t v2 = *reinterpret_cast<const uint32_t *>(vb + (size_t)sphys[u] * kvw);
                    const float v0 = __uint_as_float(v2 << 16), v1 = __uint_as_float(v2 & 0xffff0000u);
#pragma unroll
                    for (int g = 0; g < PG_MAXG; g++) {
                        if (g < G) {
                            const float p = sp[g][u];
                            acc[g][0] = fmaf(p, v0, acc[g][0]);
                            acc[g][1] = fmaf(p, v1, acc[g][1]);
                            lsum[g] += p;
                        }
                    }
                }
            }
        }
        __syncthreads();
    }

    /* sum over the row groups: acc into sq[g][d], l into smax-adjacent slred */
    if constexpr (V8) {
        /* lanes with the same dp in a warp hold partials of the same columns: shuffle-sum them
         * (offsets dl .. 16), then the 4 warps through shared memory */
        const int lane = t & 31, w = t >> 5;
#pragma unroll
        for (int g = 0; g < PG_MAXG; g++) {
            for (int o = dl; o < 32; o <<= 1) {
#pragma unroll
                for (int e = 0; e < 8; e++)
                    acc[g][e] += __shfl_xor_sync(0xffffffffu, acc[g][e], o);
                lsum[g] += __shfl_xor_sync(0xffffffffu, lsum[g], o);
            }
        }
        if (lane < dl) {
#pragma unroll
            for (int g = 0; g < PG_MAXG; g++)
                if (g < G) {
#pragma unroll
                    for (int e = 0; e < 8; e++)
                        sred[(g * NW + w) * D + 8 * dp + e] = acc[g][e];
                    if (dp == 0)
                        slred[g * NW + w] = lsum[g];
                }
        }
        __syncthreads();
        for (int e = t; e < G * D; e += PG_THREADS) {
            const int g = e / D, d = e % D;
            float a = 0.0f;
#pragma unroll
            for (int u = 0; u < NW; u++)
                a += sred[(g * NW + u) * D + d];
            sq[g][d] = a;
        }
    } else {
#pragma unroll
        for (int g = 0; g < PG_MAXG; g++) {
            if (g < G && tg < ngroups) {
                sred[(g * ngroups + tg) * D + 2 * dp] = acc[g][0];
                sred[(g * ngroups + tg) * D + 2 * dp + 1] = acc[g][1];
                if (dp == 0)
                    slred[g * ngroups + tg] = lsum[g];
            }
        }
        __syncthreads();
        for (int e = t; e < G * D; e += PG_THREADS) {
            const int g = e / D, d = e % D;
            float a = 0.0f;
            for (int u = 0; u < ngroups; u++)
                a += sred[(g * ngroups + u) * D + d];
            sq[g][d] = a;
        }
    }
    if (t == 0) {
#pragma unroll
        for (int g = 0; g < PG_MAXG; g++)
            if (g < G)
                smax[g] = mrun[g];
    }
    __syncthreads();
    const int nl = V8 ? NW : ngroups;
    for (int e = t; e < G * D; e += PG_THREADS) {
        const int g = e / D, d = e % D;
        float l = 0.0f;
        for (int u = 0; u < nl; u++)
            l += slred[g * nl + u];
        const size_t ih = (size_t)i * n_heads + h0 + g;
        if (n_split == 1) {
            out[ih * D + d] = f2bf(l > 0.0f ? sq[g][d] / l : 0.0f);
        } else {
            float *pp = part + (ih * n_split + split) * (D + 2);
            if (d == 0) {
                pp[0] = smax[g];
                pp[1] = l;
            }
            pp[2 + d] = sq[g][d];
        }
    }
}

static int pg_v8_ok(int head_dim)
{
    return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

extern "C" enum frs_status cuda_paged_attention(const float *q, const uint16_t *kpool, const uint16_t *vpool,
                                                const struct cuda_paged_rows *rows, int n, int n_heads, int n_kv,
                                                int head_dim, uint16_t *out, float *scratch, int n_sm, cudaStream_t st)
{
    return cuda_paged_attention_vpass(q, kpool, vpool, rows, n, n_heads, n_kv, head_dim, out, scratch, n_sm,
                                      pg_v8_ok(head_dim), st);
}

extern "C" enum frs_status cuda_paged_attention_vpass(const float *q, const uint16_t *kpool, const uint16_t *vpool,
                                                      const struct cuda_paged_rows *rows, int n, int n_heads, int n_kv,
                                                      int head_dim, uint16_t *out, float *scratch, int n_sm, int v8,
                                                      cudaStream_t st)
{
    if (n <= 0 || n_kv <= 0 || n_heads % n_kv || head_dim % 8 || head_dim > PG_MAXD || head_dim < 2 ||
        rows->kv_block <= 0 || rows->table_w <= 0)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "cuda_paged_attention: n %d, heads %d / kv %d, head_dim %d, kv_block %d "
                       "(need heads %% kv == 0, head_dim %% 8 == 0, head_dim <= %d)", n, n_heads, n_kv, head_dim,
                       rows->kv_block, PG_MAXD);
    const int splits = cuda_paged_attention_splits(n, n_heads, n_kv, n_sm);
    if (splits > 1 && !scratch)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_paged_attention: %d splits need a scratch buffer", splits);
    const int group = n_heads / n_kv, gb = (group + PG_MAXG - 1) / PG_MAXG;
    dim3 grid((unsigned)n, (unsigned)(n_kv * gb), (unsigned)splits);
    if (v8 && !pg_v8_ok(head_dim))
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "cuda_paged_attention: the 16-byte V pass has no head_dim %d", head_dim);
    if (v8)
        paged_attention_kernel<true><<<grid, PG_THREADS, 0, st>>>(q, kpool, vpool, *rows, n_heads, n_kv, head_dim,
                                                                  splits, out, scratch);
    else
        paged_attention_kernel<false><<<grid, PG_THREADS, 0, st>>>(q, kpool, vpool, *rows, n_heads, n_kv, head_dim,
                                                                   splits, out, scratch);
    FRS_LAUNCH_CHECK(paged_attention_kernel);
    if (splits > 1)
        return cuda_attention_combine(scratch, n * n_heads, splits, head_dim, out, st);
    return FRS_OK;
}

/* ---- row stores and moves -------------------------------------------------------------------------- */

/* grid (n, ceil(cols / 256)): row j, 256 columns per block */
__global__ void paged_store_rows_kernel(uint16_t *dst, int ld, const int32_t *phys, const uint16_t *src, int lds,
                                        int cols)
{
    const int j = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c < cols)
        dst[(size_t)phys[j] * ld + c] = src[(size_t)j * lds + c];
}

extern "C" enum frs_status cuda_paged_store_rows(uint16_t *dst, int ld, const int32_t *phys, const uint16_t *src,
                                                 int lds, int cols, int n, cudaStream_t st)
{
    if (n <= 0 || cols <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_paged_store_rows: n %d, cols %d", n, cols);
    paged_store_rows_kernel<<<dim3((unsigned)n, (unsigned)((cols + 255) / 256)), 256, 0, st>>>(dst, ld, phys, src, lds,
                                                                                              cols);
    FRS_LAUNCH_CHECK(paged_store_rows_kernel);
    return FRS_OK;
}

/* grid (n_layers, ceil(row_elems / 256)): thread = one column of one layer, through the list in order */
__global__ void paged_move_rows_kernel(uint16_t *base, size_t layer_stride, int row_elems, const int32_t *src,
                                       const int32_t *dst, int n)
{
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= row_elems)
        return;
    uint16_t *b = base + (size_t)blockIdx.x * layer_stride + c;
    for (int j = 0; j < n; j++)
        b[(size_t)dst[j] * row_elems] = b[(size_t)src[j] * row_elems];
}

extern "C" enum frs_status cuda_paged_move_rows(uint16_t *base, int n_layers, size_t layer_stride, int row_elems,
                                                const int32_t *src, const int32_t *dst, int n, cudaStream_t st)
{
    if (n <= 0)
        return FRS_OK;
    if (n_layers <= 0 || row_elems <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_paged_move_rows: %d layers, rows of %d", n_layers, row_elems);
    paged_move_rows_kernel<<<dim3((unsigned)n_layers, (unsigned)((row_elems + 255) / 256)), 256, 0, st>>>(
        base, layer_stride, row_elems, src, dst, n);
    FRS_LAUNCH_CHECK(paged_move_rows_kernel);
    return FRS_OK;
}

/* grid (n, ceil(cols / 256)): row j, 256 columns per block */
template <bool F32>
__global__ void paged_gather_rows_kernel(uint16_t *dst, int ld_dst, const int32_t *didx, const void *src, int ld_src,
                                         const int32_t *sidx, int cols)
{
    const int j = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= cols)
        return;
    const size_t from = (size_t)sidx[j] * ld_src + c, to = (size_t)(didx ? didx[j] : j) * ld_dst + c;
    if (F32)
        dst[to] = f2bf(static_cast<const float *>(src)[from]);
    else
        dst[to] = static_cast<const uint16_t *>(src)[from];
}

extern "C" enum frs_status cuda_paged_gather_rows(uint16_t *dst, int ld_dst, const int32_t *didx, const void *src,
                                                  int ld_src, int src_f32, const int32_t *sidx, int cols, int n,
                                                  cudaStream_t st)
{
    if (n <= 0 || cols <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_paged_gather_rows: n %d, cols %d", n, cols);
    const dim3 grid((unsigned)n, (unsigned)((cols + 255) / 256));
    if (src_f32)
        paged_gather_rows_kernel<true><<<grid, 256, 0, st>>>(dst, ld_dst, didx, src, ld_src, sidx, cols);
    else
        paged_gather_rows_kernel<false><<<grid, 256, 0, st>>>(dst, ld_dst, didx, src, ld_src, sidx, cols);
    FRS_LAUNCH_CHECK(paged_gather_rows_kernel);
    return FRS_OK;
}
