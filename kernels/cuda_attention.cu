/* cuda_attention.cu - attention over the KV cache (cuda_attention.h): the CUDA-core
 * flash-decoding kernel (both layouts), the split combine shared with the tensor-core kernel
 * (cuda_attn_mma.cu), the choice of kernel and layout, splits and scratch sizes. */
#include "cuda_common.cuh"
#include "cuda_attn_mma.h" /* cuda_attn_mma: the tensor-core kernel for n > 1 */
#include "cuda_attention.h"

#define ATT_THREADS 128 /* = slots per tile */
#define ATT_MAXG_DEC 8  /* q vectors per block at n == 1 (one kv head's group, split when larger) */
#define ATT_MAXG_MULTI 16 /* q vectors per block at n > 1: rows x heads of one kv head share the K/V loads */
#define ATT_MAXD 256
#define ATT_MAX_SPLIT 64

/* heads per block, q rows per block and blocks along the heads of a launch of the CUDA-core
 * kernel; layout: CUDA_ATT_SINGLE_ROW, else the multi-row layout (AUTO and AUTO_BF16 when they do
 * not run the tensor-core kernel, MULTI_ROW) */
static void att_shape(int n, int n_heads, int n_kv, int layout, int *maxg, int *rows, int *gblocks)
{
    const int group = n_heads / n_kv;
    const int single = layout == CUDA_ATT_SINGLE_ROW;
    const int mg = n > 1 && !single ? ATT_MAXG_MULTI : ATT_MAXG_DEC;
    const int g = group < mg ? group : mg;
    int r = single ? 1 : mg / g;
    if (r > n)
        r = n;
    *maxg = mg;
    *rows = r < 1 ? 1 : r;
    *gblocks = (group + mg - 1) / mg;
}

static int att_splits(int n, int n_heads, int n_kv, int layout, int n_sm)
{
    int mg, rows, gb;
    att_shape(n, n_heads, n_kv, layout, &mg, &rows, &gb);
    const long blocks = (long)((n + rows - 1) / rows) * n_kv * gb;
    long s = (2L * (n_sm > 0 ? n_sm : 1) + blocks - 1) / blocks;
    if (s < 1)
        s = 1;
    if (s > ATT_MAX_SPLIT)
        s = ATT_MAX_SPLIT;
    return (int)s;
}

/* the kernel a launch of this layout runs: CUDA_ATT_MMA (q and P as three bf16 terms),
 * CUDA_ATT_MMA_BF16 (single bf16 products), or 0 for attention_kernel */
static int att_kernel_of(int n, int head_dim, int layout)
{
    if (layout == CUDA_ATT_MMA || layout == CUDA_ATT_MMA_BF16)
        return layout;
    if ((layout != CUDA_ATT_AUTO && layout != CUDA_ATT_AUTO_BF16) || n <= 1 || !cuda_attn_mma_head_dim_ok(head_dim))
        return 0;
    return layout == CUDA_ATT_AUTO_BF16 ? CUDA_ATT_MMA_BF16 : CUDA_ATT_MMA;
}

extern "C" int cuda_attention_auto_mma(int n, int head_dim)
{
    return att_kernel_of(n, head_dim, CUDA_ATT_AUTO) != 0;
}

extern "C" int cuda_attention_splits(int n, int n_heads, int n_kv, int head_dim, int n_sm)
{
    if (att_kernel_of(n, head_dim, CUDA_ATT_AUTO))
        return cuda_attn_mma_splits(n, n_heads, n_kv, n_sm);
    return att_splits(n, n_heads, n_kv, CUDA_ATT_AUTO, n_sm);
}

/* enough for every layout, the tensor-core kernel's included */
extern "C" size_t cuda_attention_scratch_floats(int n, int n_heads, int n_kv, int head_dim, int n_sm)
{
    size_t best = 0;
    for (int layout = CUDA_ATT_AUTO; layout <= CUDA_ATT_MULTI_ROW + 1; layout++) {
        int s;
        if (layout <= CUDA_ATT_MULTI_ROW)
            s = att_splits(n, n_heads, n_kv, layout, n_sm);
        else if (cuda_attn_mma_head_dim_ok(head_dim))
            s = cuda_attn_mma_splits(n, n_heads, n_kv, n_sm);
        else
            s = 1;
        const size_t f = s == 1 ? 0 : (size_t)n * n_heads * s * (head_dim + 2);
        best = f > best ? f : best;
    }
    return best;
}

/* grid (ceil(n / rows), n_kv * gblocks, n_split). Block: NQ = R rows x G heads <= MAXG q vectors
 * (v = r * G + g: row i0 + r, head h0 + g) that share one kv head, so each K/V row is loaded once
 * for all of them. Slots of this split in tiles of ATT_THREADS: thread t scores slot t of the tile
 * for every q vector (16-byte K loads, q broadcast from shared memory; a slot a row may not see
 * scores -inf for that row's vectors), online softmax per q vector, then threads own (pair of d,
 * slot subset) for the P*V accumulation. n_split == 1: writes bf16 out; else partials (m, l,
 * acc[D]) combined by attention_combine_kernel. */
template <int MAXG>
__global__ void __launch_bounds__(ATT_THREADS) attention_kernel(const float *__restrict__ q,
                                                                const uint16_t *__restrict__ kc,
                                                                const uint16_t *__restrict__ vc,
                                                                const int32_t *prefix_p, int n, int rows_per_block,
                                                                const uint64_t *__restrict__ mask, int mask_cols,
                                                                int n_heads,
                                                                int n_kv, int D, int n_split, uint16_t *out,
                                                                float *part)
{
    pdl_trigger();
    __shared__ __align__(16) float sq[MAXG][ATT_MAXD];
    __shared__ float sp[MAXG][ATT_THREADS];
    __shared__ float smax[MAXG];
    __shared__ float sred[MAXG * 2 * ATT_THREADS]; /* >= MAXG * ngroups * D */

    const int split = blockIdx.z, t = threadIdx.x;
    const int group = n_heads / n_kv, gblocks = (group + MAXG - 1) / MAXG;
    const int kvh = blockIdx.y / gblocks;
    const int h0 = kvh * group + (blockIdx.y % gblocks) * MAXG;
    const int G = min(MAXG, kvh * group + group - h0);
    const int i0 = blockIdx.x * rows_per_block;
    const int R = min(rows_per_block, n - i0);
    const int NQ = G * R;
    const int prefix = *prefix_p;
    const int words = (mask_cols + 63) / 64;
    const int total = mask ? prefix + mask_cols : prefix + i0 + R;
    const int per = (total + n_split - 1) / n_split;
    const int s_begin = split * per, s_end = min(total, s_begin + per);
    const size_t kvw = (size_t)n_kv * D;
    const float scale = 1.0f / sqrtf((float)D);

    for (int e = t; e < NQ * D; e += ATT_THREADS) {
        const int v = e / D, d = e % D;
        sq[v][d] = q[((size_t)(i0 + v / G) * n_heads + h0 + v % G) * D + d];
    }

    const int npairs = D / 2, ngroups = ATT_THREADS / npairs;
    const int dp = t % npairs, tg = t / npairs; /* accumulation role; tg >= ngroups: none */
    float acc[MAXG][2], lsum[MAXG], mrun[MAXG];
#pragma unroll
    for (int g = 0; g < MAXG; g++) {
        acc[g][0] = acc[g][1] = 0.0f;
        lsum[g] = 0.0f;
        mrun[g] = -INFINITY;
    }
    __syncthreads();

    for (int tile = s_begin; tile < s_end; tile += ATT_THREADS) {
        const int s = tile + t;
        const int tlen = min(ATT_THREADS, s_end - tile);
        /* rows (bit r) that see slot s */
        uint32_t rowvis = 0;
        if (s < s_end) {
            if (s < prefix) {
                rowvis = R >= 32 ? 0xffffffffu : (1u << R) - 1u;
            } else {
                const int j = s - prefix;
                for (int r = 0; r < R; r++) {
                    const bool vis = mask ? ((mask[(size_t)(i0 + r) * words + (j >> 6)] >> (j & 63)) & 1ull)
                                          : (j <= i0 + r);
                    rowvis |= (uint32_t)vis << r;
                }
            }
        }
        float sc[MAXG];
#pragma unroll
        for (int g = 0; g < MAXG; g++)
            sc[g] = 0.0f;
        if (rowvis) {
            const uint4 *kr = reinterpret_cast<const uint4 *>(kc + (size_t)s * kvw + (size_t)kvh * D);
            /* K row: unrolled so that several 16-byte loads are in flight before use (D % 8 == 0) */
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
                for (int g = 0; g < MAXG; g++) {
                    if (g < NQ) {
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
        for (int g = 0; g < MAXG; g++) {
            if (g < NQ) {
                sc[g] = (rowvis >> (g / G)) & 1u ? sc[g] * scale : -INFINITY;
                sp[g][t] = sc[g];
            }
        }
        __syncthreads();
        /* tile max per q vector: warp w reduces vectors w, w+4, ... */
        {
            const int lane = t & 31, wid = t >> 5;
            for (int g = wid; g < NQ; g += ATT_THREADS / 32) {
                float m = -INFINITY;
                for (int u = lane; u < ATT_THREADS; u += 32)
                    m = fmaxf(m, sp[g][u]);
                m = warp_max(m);
                if (lane == 0)
                    smax[g] = m;
            }
        }
        __syncthreads();
        float alpha[MAXG];
#pragma unroll
        for (int g = 0; g < MAXG; g++) {
            if (g < NQ) {
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
            for (int g = 0; g < MAXG; g++) {
                acc[g][0] *= alpha[g];
                acc[g][1] *= alpha[g];
                lsum[g] *= alpha[g];
            }
            const uint16_t *vb = vc + (size_t)tile * kvw + (size_t)kvh * D + 2 * dp;
#pragma unroll 4
            for (int u = tg; u < tlen; u += ngroups) {
                const uint32_t v2 = *reinterpret_cast<const uint32_t *>(vb + (size_t)u * kvw);
                const float v0 = __uint_as_float(v2 << 16), v1 = __uint_as_float(v2 & 0xffff0000u);
#pragma unroll
                for (int g = 0; g < MAXG; g++) {
                    if (g < NQ) {
                        const float p = sp[g][u];
                        acc[g][0] = fmaf(p, v0, acc[g][0]);
                        acc[g][1] = fmaf(p, v1, acc[g][1]);
                        lsum[g] += p;
                    }
                }
            }
        }
        __syncthreads();
    }

    /* reduce over the slot groups: red[g][tg][d] and lred[g][tg] */
    float *red = sred;
#pragma unroll
    for (int g = 0; g < MAXG; g++) {
        if (g < NQ && tg < ngroups) {
            red[(g * ngroups + tg) * D + 2 * dp] = acc[g][0];
            red[(g * ngroups + tg) * D + 2 * dp + 1] = acc[g][1];
        }
    }
    __syncthreads();
    for (int e = t; e < NQ * D; e += ATT_THREADS) {
        const int g = e / D, d = e % D;
        float a = 0.0f;
        for (int u = 0; u < ngroups; u++)
            a += red[(g * ngroups + u) * D + d];
        sq[g][d] = a; /* q no longer needed */
    }
    __syncthreads();
    /* l: thread (dp == 0, tg) of each group holds lsum[g] for its slot subset */
    if (dp == 0 && tg < ngroups) {
#pragma unroll
        for (int g = 0; g < MAXG; g++)
            if (g < NQ)
                red[g * ngroups + tg] = lsum[g];
    }
    if (t == 0) { /* the running max is the same in every thread: to shared memory for the partials */
#pragma unroll
        for (int g = 0; g < MAXG; g++)
            if (g < NQ)
                smax[g] = mrun[g];
    }
    __syncthreads();
    for (int e = t; e < NQ * D; e += ATT_THREADS) {
        const int g = e / D, d = e % D;
        float l = 0.0f;
        for (int u = 0; u < ngroups; u++)
            l += red[g * ngroups + u];
        const size_t ih = (size_t)(i0 + g / G) * n_heads + h0 + g % G;
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

/* (cuda_attention_combine_select(1): opt-in until measured on a GPU)
 * grid (ceil(n * n_heads / 4)), block 128: a warp combines the n_split partials (m, l, acc[D]) of one
 * (token, head), out = sum_s w_s acc_s / sum_s w_s l_s with w_s = exp(m_s - max m) over the splits
 * that saw a slot (m > -inf; a split that saw nothing may leave acc unwritten: it is loaded, never
 * used). Lane j owns the column pairs 2j + 64p (P of them: D <= 64 P), read as float2; every lane
 * reads each split's (m, l) pair (one broadcast load) and computes the same weight, so each column
 * is the same sum in the same order as in the block-per-(token, head) kernel it replaced (the same
 * bits), without its shared-memory passes and barriers: at a batch-4 verify (7,680 pairs of 2
 * splits) that kernel took 12 us a layer, 0.40 ms an iteration (Nsight Compute, H100). Used by both
 * attention kernels. */
template <int P>
__global__ void __launch_bounds__(128) attention_combine_warp_kernel(const float *__restrict__ part, int rows, int n_split,
                                                                int D, uint16_t *__restrict__ out)
{
    pdl_trigger();
    const int lane = threadIdx.x & 31;
    const size_t ih = (size_t)blockIdx.x * 4 + (threadIdx.x >> 5);
    if (ih >= (size_t)rows)
        return;
    const size_t stride = (size_t)D + 2;
    const float *pp = part + ih * n_split * stride;
    float m = -INFINITY;
    for (int s = lane; s < n_split; s += 32)
        m = fmaxf(m, pp[(size_t)s * stride]);
    m = warp_max(m);
    float l = 0.0f, a[P][2];
#pragma unroll
    for (int p = 0; p < P; p++)
        a[p][0] = a[p][1] = 0.0f;
#pragma unroll 4
    for (int s = 0; s < n_split; s++) {
        const float *ps = pp + (size_t)s * stride;
        const float2 ml = *reinterpret_cast<const float2 *>(ps);
        const float w = ml.x == -INFINITY ? 0.0f : expf(ml.x - m);
        float2 v[P];
#pragma unroll
        for (int p = 0; p < P; p++) {
            const int d = 2 * lane + 64 * p;
            v[p] = d < D ? *reinterpret_cast<const float2 *>(ps + 2 + d) : make_float2(0.0f, 0.0f);
        }
        if (w != 0.0f) {
            l += w * ml.y;
#pragma unroll
            for (int p = 0; p < P; p++) {
                a[p][0] += w * v[p].x;
                a[p][1] += w * v[p].y;
            }
        }
    }
#pragma unroll
    for (int p = 0; p < P; p++) {
        const int d = 2 * lane + 64 * p;
        if (d < D) {
            const uint32_t lo = f2bf(l > 0.0f ? a[p][0] / l : 0.0f), hi = f2bf(l > 0.0f ? a[p][1] / l : 0.0f);
            *reinterpret_cast<uint32_t *>(out + ih * D + d) = lo | hi << 16;
        }
    }
}

/* grid (n * n_heads), block D: combine the n_split partials (m, l, acc[D]) of each (token, head),
 * out = sum_s w_s acc_s / sum_s w_s l_s with w_s = exp(m_s - max m) over the splits that saw a slot
 * (m > -inf; a split that saw nothing may leave acc unwritten: it is loaded, never used). The
 * splits' m and l are read into shared memory all at once (one load per thread), then each thread
 * sums its column with the loads of 8 splits in flight: a loop of dependent L2 reads (two per
 * split, 33 splits at decode) cost ~10+ us per layer. Used by both attention kernels. */
__global__ void attention_combine_kernel(const float *part, int n_split, int D, uint16_t *out)
{
    pdl_trigger();
    __shared__ float sw[ATT_MAX_SPLIT], sl[ATT_MAX_SPLIT];
    const size_t ih = blockIdx.x;
    const float *pp = part + ih * n_split * (D + 2);
    const int t = threadIdx.x;
    for (int s = t; s < n_split; s += blockDim.x) {
        sw[s] = pp[(size_t)s * (D + 2)];
        sl[s] = pp[(size_t)s * (D + 2) + 1];
    }
    __syncthreads();
    float m = -INFINITY;
    for (int s = 0; s < n_split; s++)
        m = fmaxf(m, sw[s]);
    __syncthreads();
    for (int s = t; s < n_split; s += blockDim.x)
        sw[s] = sw[s] == -INFINITY ? 0.0f : expf(sw[s] - m);
    __syncthreads();
    float l = 0.0f, a = 0.0f;
#pragma unroll 8
    for (int s = 0; s < n_split; s++) {
        const float w = sw[s];
        const float v = pp[(size_t)s * (D + 2) + 2 + t]; /* written by every split, empty ones included */
        if (w != 0.0f) {
            l += w * sl[s];
            a += w * v;
        }
    }
    out[ih * D + t] = f2bf(l > 0.0f ? a / l : 0.0f);
}

static int g_combine_warp = 0;

extern "C" void cuda_attention_combine_select(int warp) { g_combine_warp = warp != 0; }

extern "C" enum frs_status cuda_attention_combine(const float *part, int rows, int n_split, int head_dim,
                                                  uint16_t *out, cudaStream_t st)
{
    if (rows <= 0 || n_split < 1 || n_split > ATT_MAX_SPLIT || head_dim <= 0 || head_dim > ATT_MAXD)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_attention_combine: rows %d, %d splits (1..%d), head_dim %d", rows,
                       n_split, ATT_MAX_SPLIT, head_dim);
    /* the warp kernel reads float2 partials and writes bf16 pairs: the block kernel otherwise */
    if (!g_combine_warp || head_dim % 2 || ((uintptr_t)part & 7) || ((uintptr_t)out & 3)) {
        attention_combine_kernel<<<rows, head_dim, 0, st>>>(part, n_split, head_dim, out);
        FRS_LAUNCH_CHECK(attention_combine_kernel);
        return FRS_OK;
    }
    const unsigned blocks = (unsigned)((rows + 3) / 4);
    if (head_dim <= 64)
        attention_combine_warp_kernel<1><<<blocks, 128, 0, st>>>(part, rows, n_split, head_dim, out);
    else if (head_dim <= 128)
        attention_combine_warp_kernel<2><<<blocks, 128, 0, st>>>(part, rows, n_split, head_dim, out);
    else
        attention_combine_warp_kernel<4><<<blocks, 128, 0, st>>>(part, rows, n_split, head_dim, out);
    FRS_LAUNCH_CHECK(attention_combine_warp_kernel);
    return FRS_OK;
}

extern "C" enum frs_status cuda_attention(const float *q, const uint16_t *kcache, const uint16_t *vcache,
                                          const int32_t *prefix, int n, const uint64_t *mask, int mask_cols,
                                          int n_heads, int n_kv, int head_dim, uint16_t *out, float *scratch, int n_sm,
                                          cudaStream_t st)
{
    return cuda_attention_layout(q, kcache, vcache, prefix, n, mask, mask_cols, n_heads, n_kv, head_dim, out, scratch,
                                 n_sm, CUDA_ATT_AUTO, st);
}

extern "C" enum frs_status cuda_attention_layout(const float *q, const uint16_t *kcache, const uint16_t *vcache,
                                                 const int32_t *prefix, int n, const uint64_t *mask, int mask_cols,
                                                 int n_heads, int n_kv, int head_dim, uint16_t *out, float *scratch,
                                                 int n_sm, int layout, cudaStream_t st)
{
    if (n <= 0 || n_kv <= 0 || n_heads % n_kv || head_dim % 8 || head_dim > ATT_MAXD)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "cuda_attention: n %d, heads %d / kv %d, head_dim %d (need heads %% kv == "
                       "0, head_dim %% 8 == 0, head_dim <= %d)", n, n_heads, n_kv, head_dim, ATT_MAXD);
    if (layout < CUDA_ATT_AUTO || layout > CUDA_ATT_AUTO_BF16)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_attention: layout %d", layout);
    int kern = att_kernel_of(n, head_dim, layout);
    if (kern && !cuda_attn_mma_head_dim_ok(head_dim))
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "cuda_attention: the tensor-core kernel has no head_dim %d", head_dim);
    /* AUTO (_BF16) on pointers the tensor-core kernel cannot take: the CUDA-core kernel */
    if (kern && (layout == CUDA_ATT_AUTO || layout == CUDA_ATT_AUTO_BF16) &&
        (((uintptr_t)q & 15) || ((uintptr_t)kcache & 15) || ((uintptr_t)vcache & 15) || ((uintptr_t)out & 3) ||
         ((uintptr_t)scratch & 7)))
        kern = 0;
    const int splits = kern ? cuda_attn_mma_splits(n, n_heads, n_kv, n_sm) : att_splits(n, n_heads, n_kv, layout, n_sm);
    if (splits > 1 && !scratch)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_attention: %d splits need a scratch buffer", splits);
    if (kern) /* the tensor-core kernel and its own combine */
        return cuda_attn_mma(q, kcache, vcache, prefix, n, mask, mask_cols, n_heads, n_kv, head_dim,
                             kern == CUDA_ATT_MMA ? 3 : 1, splits, out, scratch, st);
    int mg, rows, gb;
    att_shape(n, n_heads, n_kv, layout, &mg, &rows, &gb);
    dim3 grid((n + rows - 1) / rows, n_kv * gb, splits);
    if (mg == ATT_MAXG_MULTI)
        attention_kernel<ATT_MAXG_MULTI><<<grid, ATT_THREADS, 0, st>>>(q, kcache, vcache, prefix, n, rows, mask,
                                                                       mask_cols, n_heads, n_kv, head_dim, splits, out,
                                                                       scratch);
    else
        attention_kernel<ATT_MAXG_DEC><<<grid, ATT_THREADS, 0, st>>>(q, kcache, vcache, prefix, n, rows, mask,
                                                                     mask_cols, n_heads, n_kv, head_dim, splits, out,
                                                                     scratch);
    FRS_LAUNCH_CHECK(attention_kernel);
    if (splits > 1)
        return cuda_attention_combine(scratch, n * n_heads, splits, head_dim, out, st);
    return FRS_OK;
}
