/* cuda_attn_mma.cu - attention over n > 1 rows (tree verification, draft tree levels, prefill) on
 * tensor cores: mma.sync m16n8k16 bf16 with fp32 accumulation (sm_80+), flash-attention style
 * online softmax in fp32, split over the context (flash-decoding) when there are too few blocks.
 * Same semantics as cuda_attention (cuda_ops.h); dispatched from cuda_attention_layout.
 *
 * Block = 4 warps = CUDA_ATT_MMA_BM (64) q vectors of one kv head: vector v = r * G + g is row r,
 * head kvh * G + g (G = n_heads / n_kv), so every K/V tile is read once per block for all rows and
 * heads that share it (8B verify of 60 rows: 240 vectors -> 4 blocks per kv head). Each warp owns
 * 16 vectors: S = Q K^T for a tile of 64 slots (16 x 64 in registers), masked, online softmax, then
 * O += P V with P taken straight from the S registers (the accumulator layout of m16n8k16 is the
 * A-operand layout of the next product). K and V tiles stream through shared memory with cp.async
 * (V(t) loads during Q K(t)^T and the softmax, K(t + 1) during P V(t)); rows past the range are
 * zero-filled. Splits write partials (m, l, acc), cuda_attention_combine (cuda_attention.cu) merges them.
 *
 * Numerics (chosen over fp16 or tf32 operands, and over bf16 pairs):
 *  - K and V enter the products as stored (bf16): no conversion, no range limit (bf16 -> fp16 is
 *    exact only inside fp16's normal range, |x| in [2^-14, 65504]; tf32 would double the shared
 *    memory bytes and halve the tensor rate).
 *  - q (fp32, scaled by log2(e)/sqrt(D)) and P (fp32 in [0, 1]) are each split into three bf16
 *    terms, x = t0 + t1 + t2 with t0 = bf16(x), t1 = bf16(x - t0), t2 = bf16(x - t0 - t1) (every
 *    difference exact in fp32): 24 significant bits, i.e. the fp32 operand itself, and every
 *    product is done three times (smallest term first) into fp32 accumulators. The kernel then
 *    agrees with the fp32 CUDA-core kernel to fp32 rounding (~1e-7 relative): a verify row sees the
 *    attention of the n == 1 decode step up to summation order, as before tensor cores
 *    (speculative == autoregressive greedy: tests/test_cuda_spec.c allows only near ties at 1e-3 of
 *    the logit RMS). Measured on the H100 before this choice: with bf16 pairs (16 bits, ~1e-5
 *    relative) 0.39% of the bf16 outputs differed from the CUDA-core kernel's and test_cuda_spec
 *    failed (logit gaps of 3.8e-3 RMS flipped); single bf16 products (q and P rounded to bf16, as
 *    flash-attention on bf16 inputs) flip ~50%.
 *  - Cost: three times the tensor work of single products (the 8B verify of 60 rows at 1k context:
 *    ~100 GFLOP), measured in tests/bench/NOTES-cuda.md. FRS_ATT_MMA=1 (cuda_ops.h) runs single
 *    bf16 products, for A/B.
 * The row sum l is accumulated from the fp32 P. Scores are in log2 units (exp2f); the partials
 * store m in natural-log units.
 *
 * defines: cuda_attn_mma_head_dim_ok, cuda_attn_mma_splits, cuda_attn_mma_splits_blocks,
 *          cuda_attn_mma_splits_ws, cuda_attn_ws_pipe_per_sm, cuda_attn_mma,
 *          cuda_attn_mma_paged
 */
#include "cuda_common.cuh"
#include "cuda_attn_mma.h"
#include "cuda_attention.h" /* cuda_attention_combine */

#define AM_BM CUDA_ATT_MMA_BM       /* q vectors per block: 4 warps x 16 */
#define AM_BM_WS CUDA_ATT_MMA_BM_WS /* ... with the warp split: one group of 16 for all 4 warps */
#define AM_BN 64              /* KV slots per tile */
#define AM_WARPS 4
#define AM_THREADS (AM_WARPS * 32)
#define AM_MAX_SPLIT 64

/* ---- PTX wrappers ------------------------------------------------------------------------------ */

/* smem_addr, cp_async16, cp_async_commit, cp_async_wait: cuda_common.cuh */

static __device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p))
                 : "memory");
}

static __device__ __forceinline__ void ldsm_x4_trans(uint32_t r[4], const void *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p))
                 : "memory");
}

/* c (16x8 fp32) += a (16x16 bf16, row) * b (16x8 bf16, col) */
static __device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi); /* .x (low 16 bits) = lo */
    return *reinterpret_cast<uint32_t *>(&v);
}

/* ---- the kernels ------------------------------------------------------------------------------ */

/* x -> TERMS bf16 values whose sum is x: hi = bf16(x), then the rest (exact in fp32) likewise;
 * three terms hold 24 significant bits (fp32). Pairs (x0, x1) packed as bf16x2, x0 low. */
template <int TERMS>
static __device__ __forceinline__ void split_terms(float x0, float x1, uint32_t t[TERMS])
{
#pragma unroll
    for (int u = 0; u < TERMS; u++) {
        const __nv_bfloat16 h0 = __float2bfloat16_rn(x0), h1 = __float2bfloat16_rn(x1);
        __nv_bfloat162 h;
        h.x = h0;
        h.y = h1;
        t[u] = *reinterpret_cast<uint32_t *>(&h);
        x0 -= __bfloat162float(h0);
        x1 -= __bfloat162float(h1);
    }
}

/* q (rows m0 .. m0 + BM - 1 of the M = rows x G vectors of kv head kvh) scaled to log2 units and
 * split into TERMS bf16 planes sq[TERMS][BM][LD] (vectors past M: zeros, never written out); all
 * loads issued before the first use */
template <int D, int TERMS, int BM, int LD>
static __device__ __forceinline__ void load_q_planes(const float *__restrict__ q, uint16_t *sq, int m0, int M, int G,
                                                     int n_heads, int kvh)
{
    constexpr int QV = (BM * (D / 4) + AM_THREADS - 1) / AM_THREADS; /* float4 of q per thread */
    const int tid = threadIdx.x;
    const float qscale = 1.4426950408889634f / sqrtf((float)D);
    float4 qv[QV];
#pragma unroll
    for (int k = 0; k < QV; k++) {
        const int e = tid + k * AM_THREADS, r = e / (D / 4), d = (e % (D / 4)) * 4, m = m0 + r;
        qv[k] = m < M && r < BM
                    ? *reinterpret_cast<const float4 *>(q + ((size_t)(m / G) * n_heads + kvh * G + m % G) * D + d)
                    : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
#pragma unroll
    for (int k = 0; k < QV; k++) {
        const int e = tid + k * AM_THREADS, r = e / (D / 4), d = (e % (D / 4)) * 4;
        if (r >= BM)
            continue;
        uint32_t a[TERMS], b[TERMS];
        split_terms<TERMS>(qv[k].x * qscale, qv[k].y * qscale, a);
        split_terms<TERMS>(qv[k].z * qscale, qv[k].w * qscale, b);
#pragma unroll
        for (int u = 0; u < TERMS; u++)
            *reinterpret_cast<uint2 *>(sq + (u * BM + r) * LD + d) = make_uint2(a[u], b[u]);
    }
}

/* visibility of the S tile (NT n8 tiles of this warp's slots from t0 + sw): columns at or past
 * s_end, and new slots (>= prefix) that row iA / iB does not see (its mask row, else causal), to
 * -inf; only tiles reaching the new slots or the end of the range are looked at */
template <int NT>
static __device__ __forceinline__ void mask_tile(float (&s)[NT][4], int t0, int sw, int prefix, int s_end,
                                                 const uint64_t *__restrict__ mask, int words, int iA, int iB)
{
    if (t0 + AM_BN <= prefix && t0 + AM_BN <= s_end)
        return;
    const int cq = threadIdx.x & 3;
#pragma unroll
    for (int j = 0; j < NT; j++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int col = t0 + sw + j * 8 + 2 * cq + (e & 1);
            const int i = e < 2 ? iA : iB;
            bool vis = col < s_end;
            if (vis && col >= prefix) {
                const int jj = col - prefix;
                vis = mask ? ((__ldg(mask + (size_t)i * words + (jj >> 6)) >> (jj & 63)) & 1ull) != 0 : jj <= i;
            }
            if (!vis)
                s[j][e] = -INFINITY;
        }
    }
}

/* online softmax over the S tile: the four threads of a quad share a row; the running max (m),
 * sum (l) and output (o) of rows A and B rescaled, S replaced by P = exp2(S - max) */
template <int NT, int DT>
static __device__ __forceinline__ void online_softmax(float (&s)[NT][4], float (&o)[DT][4], float &mA, float &mB,
                                                      float &lA, float &lB)
{
    float tA = -INFINITY, tB = -INFINITY;
#pragma unroll
    for (int j = 0; j < NT; j++) {
        tA = fmaxf(tA, fmaxf(s[j][0], s[j][1]));
        tB = fmaxf(tB, fmaxf(s[j][2], s[j][3]));
    }
    tA = fmaxf(tA, __shfl_xor_sync(0xffffffffu, tA, 1));
    tA = fmaxf(tA, __shfl_xor_sync(0xffffffffu, tA, 2));
    tB = fmaxf(tB, __shfl_xor_sync(0xffffffffu, tB, 1));
    tB = fmaxf(tB, __shfl_xor_sync(0xffffffffu, tB, 2));
    const float nA = fmaxf(mA, tA), nB = fmaxf(mB, tB);
    const float uA = nA == -INFINITY ? 0.0f : nA, uB = nB == -INFINITY ? 0.0f : nB; /* nothing seen yet */
    const float aA = exp2f(mA - uA), aB = exp2f(mB - uB);
    mA = nA;
    mB = nB;
    lA *= aA;
    lB *= aB;
#pragma unroll
    for (int j = 0; j < DT; j++) {
        o[j][0] *= aA;
        o[j][1] *= aA;
        o[j][2] *= aB;
        o[j][3] *= aB;
    }
#pragma unroll
    for (int j = 0; j < NT; j++) {
        s[j][0] = exp2f(s[j][0] - uA);
        s[j][1] = exp2f(s[j][1] - uA);
        s[j][2] = exp2f(s[j][2] - uB);
        s[j][3] = exp2f(s[j][3] - uB);
        lA += s[j][0] + s[j][1];
        lB += s[j][2] + s[j][3];
    }
}

/* The warp split's end: the four warps' (m, l, o) of the same 16 vectors (m0 .. m0 + 15, each warp's
 * rows gq and gq + 8 of them in this thread's o[.][0..1] / o[.][2..3]) merged through shared memory
 * (am_smem: the caller's K/V tiles are no longer read, and no copy into them is in flight), then
 * written as the output (n_split 1) or this split's partials. */
template <int D, int DT>
static __device__ __forceinline__ void ws_merge(const float (&o)[DT][4], float mA, float mB, float lA, float lB,
                                                int m0, int M, int G, int n_heads, int kvh, int n_split, int split,
                                                uint16_t *__restrict__ out, float *__restrict__ part)
{
    extern __shared__ __align__(16) uint16_t am_smem[];
    constexpr int BM = AM_BM_WS;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int gq = lane >> 2, cq = lane & 3;
    float *red = reinterpret_cast<float *>(am_smem); /* [warp][16][D + 2] */
    __syncthreads();
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        float *wr = red + (warp * 16 + gq + 8 * hr) * (D + 2);
#pragma unroll
        for (int j = 0; j < DT; j++)
            *reinterpret_cast<float2 *>(wr + 2 + j * 8 + 2 * cq) = make_float2(o[j][2 * hr], o[j][2 * hr + 1]);
        if (cq == 0) {
            wr[0] = hr ? mB : mA;
            wr[1] = hr ? lB : lA;
        }
    }
    __syncthreads();
    for (int e = tid; e < BM * D; e += AM_THREADS) {
        const int r = e / D, d = e % D, mv = m0 + r;
        if (mv >= M)
            continue;
        float mx = -INFINITY;
#pragma unroll
        for (int w = 0; w < AM_WARPS; w++)
            mx = fmaxf(mx, red[(w * 16 + r) * (D + 2)]);
        float l = 0.0f, a = 0.0f;
        if (mx != -INFINITY) {
#pragma unroll
            for (int w = 0; w < AM_WARPS; w++) {
                const float *wr = red + (w * 16 + r) * (D + 2);
                if (wr[0] != -INFINITY) {
                    const float f = exp2f(wr[0] - mx);
                    l += f * wr[1];
                    a += f * wr[2 + d];
                }
            }
        }
        const size_t ih = (size_t)(mv / G) * n_heads + kvh * G + mv % G;
        if (n_split == 1) {
            out[ih * D + d] = f2bf(l > 0.0f ? a / l : 0.0f);
        } else {
            float *pp = part + (ih * n_split + split) * (D + 2);
            if (mx != -INFINITY)
                pp[2 + d] = a;
            if (d == 0) {
                pp[0] = mx == -INFINITY ? -INFINITY : mx * 0.6931471805599453f;
                pp[1] = l;
            }
        }
    }
}

/* grid (ceil(n * G / AM_BM), n_kv, n_split), AM_THREADS threads, dynamic shared memory
 * am_smem_bytes(D, TERMS): q as TERMS bf16 planes [AM_BM][LD], one K tile, one V tile [AM_BN][LD].
 * Per tile t: V(t) loads while S = Q K(t)^T and the softmax run, K(t+1) while O += P V(t). */
/* PAGED (cuda_attn_mma_paged): block x is segment pg.seg[x] (x >= *pg.nseg: nothing to do): rows
 * [row0, row0 + rows) of one sequence, vectors from m0; q, out and part offset to row0; its prefix,
 * mask row (stride pg.mask_stride words) and mask columns from row0's descriptors; K/V slot s at
 * pool row table[s / kv_block] * kv_block + s % kv_block of the sequence's block table. */
/* WS (warp split, PAGED only): the block's q vectors are one group of 16 (AM_BM_WS: a decode row's
 * G heads, or a few rows of a small tree), read by all four warps, and each warp takes 16 of the
 * tile's 64 slots (its own online softmax); the four partial results are merged through shared
 * memory at the end. Without it a one-row segment (the decode of a batch: G = 4 vectors) would keep
 * one warp of four busy on the products while the other three only load. */
template <int D, int TERMS, bool PAGED, bool WS>
__global__ void __launch_bounds__(AM_THREADS, WS ? 3 : 2)
    attn_mma_kernel(const float *__restrict__ q, const uint16_t *__restrict__ kc, const uint16_t *__restrict__ vc,
                    const int32_t *__restrict__ prefix_p, int n, const uint64_t *__restrict__ mask, int mask_cols,
                    int n_heads, int n_kv, int n_split, uint16_t *__restrict__ out, float *__restrict__ part,
                    struct cuda_attn_mma_pages pg)
{
    constexpr int LD = D + 8;                  /* bf16 per shared row: +16 bytes, no ldmatrix bank conflicts */
    constexpr int BM = WS ? AM_BM_WS : AM_BM;  /* q vectors per block */
    constexpr int NT = (WS ? 16 : AM_BN) / 8;  /* n8 tiles of S per warp */
    constexpr int KS = (WS ? 16 : AM_BN) / 16; /* k16 steps of P V per warp */
    constexpr int DT = D / 8;                  /* n8 tiles of O */
    constexpr int CH = D / 8;                  /* 16-byte chunks per K/V row */
    extern __shared__ __align__(16) uint16_t am_smem[];
    uint16_t *sq = am_smem;              /* [TERMS][BM][LD] */
    uint16_t *sk = sq + TERMS * BM * LD; /* [AM_BN][LD] */
    uint16_t *sv = sk + AM_BN * LD;      /* [AM_BN][LD] */

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int gq = lane >> 2, cq = lane & 3; /* mma fragment coordinates: row group, column pair */
    int m0 = blockIdx.x * AM_BM, prefix, words;
    const int32_t *table = nullptr;
    if (PAGED) {
        if ((int)blockIdx.x >= *pg.nseg)
            return; /* the whole block: before any barrier */
        const int4 sg = reinterpret_cast<const int4 *>(pg.seg)[blockIdx.x];
        const int row0 = sg.x;
        n = sg.y;
        m0 = sg.z;
        q += (size_t)row0 * n_heads * D;
        out += (size_t)row0 * n_heads * D;
        if (part)
            part += (size_t)row0 * n_heads * n_split * (D + 2);
        prefix = pg.prefix[row0];
        mask = pg.mask ? pg.mask + (size_t)row0 * pg.mask_stride : nullptr;
        mask_cols = pg.ncols[row0];
        words = pg.mask_stride;
        table = pg.tables + (size_t)sg.w * pg.table_w;
    } else {
        prefix = *prefix_p;
        words = (mask_cols + 63) / 64;
    }
    const int G = n_heads / n_kv, M = n * G;
    const int kvh = blockIdx.y, split = blockIdx.z;
    /* slots this block may need: the prefix and the tree slots (mask) or up to its last row (causal) */
    const int i_last = min(n - 1, (min(m0 + BM, M) - 1) / G);
    const int total = mask ? prefix + mask_cols : prefix + i_last + 1;
    /* this split's slots: whole tiles, so that only the tail tiles need masking */
    const int per = ((total + n_split - 1) / n_split + AM_BN - 1) / AM_BN * AM_BN;
    const int s_begin = min(total, split * per), s_end = min(total, s_begin + per);
    const int ntiles = (s_end - s_begin + AM_BN - 1) / AM_BN;
    const size_t kv_row = (size_t)n_kv * D;

    /* one 64-slot tile of K or V (rows past s_end zero-filled, nothing read) */
    auto load_tile = [&](const uint16_t *src, uint16_t *dst, int t) {
        const int t0 = s_begin + t * AM_BN;
#pragma unroll
        for (int k = 0; k < AM_BN * CH / AM_THREADS; k++) {
            const int e = tid + k * AM_THREADS;
            const int r = e / CH, c = e % CH;
            const int s = t0 + r;
            const bool ok = s < s_end;
            const int sl = ok ? s : 0;
            const size_t row = PAGED ? (size_t)table[sl / pg.kv_block] * pg.kv_block + sl % pg.kv_block : (size_t)sl;
            cp_async16(dst + r * LD + c * 8, src + row * kv_row + (size_t)kvh * D + c * 8, ok ? 16 : 0);
        }
    };

    if (ntiles > 0) {
        load_tile(kc, sk, 0);
        cp_async_commit();
        load_q_planes<D, TERMS, BM, LD>(q, sq, m0, M, G, n_heads, kvh);
    }

    /* this thread's two rows of the warp's 16: rA (c[0], c[1]) and rA + 8 (c[2], c[3]); the warp's
     * q rows (qw) and its slots of a tile (sw: all 64, or 16 under WS); a warp whose q vectors are
     * all past M only loads (live = 0) */
    const int qw = WS ? 0 : warp * 16, sw = WS ? warp * 16 : 0;
    const bool live = m0 + qw < M;
    const int rA = m0 + qw + gq, rB = rA + 8;
    const int iA = min(rA / G, n - 1), iB = min(rB / G, n - 1); /* rows past M: any valid row */
    float o[DT][4];
#pragma unroll
    for (int j = 0; j < DT; j++)
        o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    float mA = -INFINITY, mB = -INFINITY, lA = 0.0f, lB = 0.0f;

    for (int t = 0; t < ntiles; t++) {
        const int t0 = s_begin + t * AM_BN;
        load_tile(vc, sv, t);
        cp_async_commit();
        cp_async_wait<1>(); /* K(t) (and q) landed; V(t) in flight */
        __syncthreads();

        /* S = Q K^T (log2 units), TERMS products per k-step */
        float s[NT][4];
#pragma unroll
        for (int j = 0; j < NT; j++)
            s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
        if (live) {
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++) {
                uint32_t a[TERMS][4];
                const int qoff = (qw + (lane & 15)) * LD + kk * 16 + (lane >> 4) * 8;
#pragma unroll
                for (int u = 0; u < TERMS; u++)
                    ldsm_x4(a[u], sq + u * BM * LD + qoff);
#pragma unroll
                for (int np = 0; np < NT / 2; np++) {
                    uint32_t b[4];
                    ldsm_x4(b, sk + (sw + np * 16 + (lane & 7) + ((lane >> 4) << 3)) * LD + kk * 16 +
                                   ((lane >> 3) & 1) * 8);
#pragma unroll
                    for (int u = TERMS - 1; u >= 0; u--) { /* smallest term first */
                        mma_bf16(s[2 * np], a[u], b[0], b[1]);
                        mma_bf16(s[2 * np + 1], a[u], b[2], b[3]);
                    }
                }
            }

            mask_tile<NT>(s, t0, sw, prefix, s_end, mask, words, iA, iB);
            online_softmax<NT, DT>(s, o, mA, mB, lA, lB);
        } /* live */

        cp_async_wait<0>(); /* V(t) landed */
        __syncthreads();    /* ... for every warp, and every warp is done with K(t) */
        if (t + 1 < ntiles) {
            load_tile(kc, sk, t + 1);
            cp_async_commit();
        }

        /* O += P V, P from the S registers, TERMS products per k-step */
        if (live) {
#pragma unroll
            for (int kk = 0; kk < KS; kk++) {
                uint32_t p0[TERMS], p1[TERMS], p2[TERMS], p3[TERMS];
                split_terms<TERMS>(s[2 * kk][0], s[2 * kk][1], p0);
                split_terms<TERMS>(s[2 * kk][2], s[2 * kk][3], p1);
                split_terms<TERMS>(s[2 * kk + 1][0], s[2 * kk + 1][1], p2);
                split_terms<TERMS>(s[2 * kk + 1][2], s[2 * kk + 1][3], p3);
#pragma unroll
                for (int dp = 0; dp < D / 16; dp++) {
                    uint32_t b[4];
                    ldsm_x4_trans(b, sv + (sw + kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + dp * 16 +
                                         (lane >> 4) * 8);
#pragma unroll
                    for (int u = TERMS - 1; u >= 0; u--) {
                        const uint32_t a[4] = {p0[u], p1[u], p2[u], p3[u]};
                        mma_bf16(o[2 * dp], a, b[0], b[1]);
                        mma_bf16(o[2 * dp + 1], a, b[2], b[3]);
                    }
                }
            }
        } /* live */
        __syncthreads(); /* every warp is done with V(t) before V(t + 1) is loaded */
    }

    lA += __shfl_xor_sync(0xffffffffu, lA, 1);
    lA += __shfl_xor_sync(0xffffffffu, lA, 2);
    lB += __shfl_xor_sync(0xffffffffu, lB, 1);
    lB += __shfl_xor_sync(0xffffffffu, lB, 2);
    if constexpr (WS) {
        ws_merge<D, DT>(o, mA, mB, lA, lB, m0, M, G, n_heads, kvh, n_split, split, out, part);
    } else {
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            const int r = hr ? rB : rA;
            if (r >= M)
                continue;
            const float l = hr ? lB : lA, m = hr ? mB : mA;
            const size_t ih = (size_t)(r / G) * n_heads + kvh * G + r % G;
            if (n_split == 1) {
                const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
                for (int j = 0; j < DT; j++)
                    *reinterpret_cast<uint32_t *>(out + ih * D + j * 8 + 2 * cq) =
                        pack_bf16x2(o[j][2 * hr] * inv, o[j][2 * hr + 1] * inv);
            } else {
                float *pp = part + (ih * n_split + split) * (D + 2);
                if (m != -INFINITY) /* a split that saw nothing: m and l only (the combine skips it) */
#pragma unroll
                    for (int j = 0; j < DT; j++)
                        *reinterpret_cast<float2 *>(pp + 2 + j * 8 + 2 * cq) =
                            make_float2(o[j][2 * hr], o[j][2 * hr + 1]);
                if (cq == 0) {
                    pp[0] = m == -INFINITY ? -INFINITY : m * 0.6931471805599453f; /* log2 -> natural units */
                    pp[1] = l;
                }
            }
        }
    } /* WS */
}

/* ---- the warp split with a K/V ring (cuda_attn_mma_pages.pipe) ------------------------------------ */

/* The decode of a batch reads every sequence's whole K/V once and does little else: its speed is
 * the bytes in flight per SM. attn_mma_kernel's warp split holds one 64-slot tile of K or of V in
 * flight per block (V(t) during Q K(t)^T, K(t + 1) during P V(t), each waited for before use),
 * at most ~48 KiB an SM at 3 blocks, and measured ~70% of the copy bandwidth in the 8B batch-64
 * step (tests/bench/NOTES-cuda.md). Here K and V tiles stream through a ring of AM_PIPE_STAGES
 * stages: while tile t is computed, tiles t + 1 .. t + STAGES - 1 (32 KiB each at head_dim 128)
 * are in flight, one barrier per tile. The tiles are stored without padding, each 16-byte chunk c
 * of slot row r at chunk c ^ (r & 7) (an XOR swizzle: the 8 rows an ldmatrix reads at one chunk
 * fall in 8 different bank groups). Same products, masks, softmax and merge as the warp split of
 * attn_mma_kernel, so the outputs are bit-identical to it. */
#define AM_PIPE_STAGES 3

template <int D, int TERMS>
__global__ void __launch_bounds__(AM_THREADS, 2)
    attn_ws_pipe_kernel(const float *__restrict__ q, const uint16_t *__restrict__ kc, const uint16_t *__restrict__ vc,
                        int n_heads, int n_kv, int n_split, uint16_t *__restrict__ out, float *__restrict__ part,
                        struct cuda_attn_mma_pages pg)
{
    constexpr int LDQ = D + 8;    /* bf16 per q row (padded, as attn_mma_kernel) */
    constexpr int BM = AM_BM_WS;  /* q vectors per block */
    constexpr int DT = D / 8;     /* n8 tiles of O */
    constexpr int CH = D / 8;     /* 16-byte chunks per K/V row */
    constexpr int SWZ = (CH < 8 ? CH : 8) - 1;
    constexpr int TILE = AM_BN * D; /* bf16 per K or V tile */
    constexpr int ST = AM_PIPE_STAGES;
    extern __shared__ __align__(16) uint16_t am_smem[];
    uint16_t *sq = am_smem;               /* [TERMS][BM][LDQ] */
    uint16_t *ring = sq + TERMS * BM * LDQ; /* [ST][K, V][AM_BN][D], swizzled */

    if ((int)blockIdx.x >= *pg.nseg)
        return; /* the whole block: before any barrier */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int gq = lane >> 2;
    const int4 sg = reinterpret_cast<const int4 *>(pg.seg)[blockIdx.x];
    const int row0 = sg.x, n = sg.y, m0 = sg.z;
    q += (size_t)row0 * n_heads * D;
    out += (size_t)row0 * n_heads * D;
    if (part)
        part += (size_t)row0 * n_heads * n_split * (D + 2);
    const int prefix = pg.prefix[row0];
    const uint64_t *mask = pg.mask ? pg.mask + (size_t)row0 * pg.mask_stride : nullptr;
    const int mask_cols = pg.ncols[row0], words = pg.mask_stride;
    const int32_t *table = pg.tables + (size_t)sg.w * pg.table_w;
    const int G = n_heads / n_kv, M = n * G;
    const int kvh = blockIdx.y, split = blockIdx.z;
    const int i_last = min(n - 1, (min(m0 + BM, M) - 1) / G);
    const int total = mask ? prefix + mask_cols : prefix + i_last + 1;
    const int per = ((total + n_split - 1) / n_split + AM_BN - 1) / AM_BN * AM_BN;
    const int s_begin = min(total, split * per), s_end = min(total, s_begin + per);
    const int ntiles = (s_end - s_begin + AM_BN - 1) / AM_BN;
    const size_t kv_row = (size_t)n_kv * D;

    /* tile t's K and V into stage st (rows past s_end zero-filled, nothing read) */
    auto load_tile = [&](int t, int st) {
        const int t0 = s_begin + t * AM_BN;
        uint16_t *dk = ring + st * 2 * TILE, *dv = dk + TILE;
#pragma unroll
        for (int k = 0; k < AM_BN * CH / AM_THREADS; k++) {
            const int e = tid + k * AM_THREADS;
            const int r = e / CH, c = e % CH;
            const int s = t0 + r;
            const bool ok = s < s_end;
            const int sl = ok ? s : 0;
            const size_t g = ((size_t)table[sl / pg.kv_block] * pg.kv_block + sl % pg.kv_block) * kv_row +
                             (size_t)kvh * D + c * 8;
            const int so = r * D + ((c ^ (r & SWZ)) << 3);
            cp_async16(dk + so, kc + g, ok ? 16 : 0);
            cp_async16(dv + so, vc + g, ok ? 16 : 0);
        }
    };

#pragma unroll
    for (int s = 0; s < ST - 1; s++) {
        if (s < ntiles)
            load_tile(s, s);
        cp_async_commit(); /* one group per tile, empty past the last: tile t is group t */
    }
    if (ntiles > 0)
        load_q_planes<D, TERMS, BM, LDQ>(q, sq, m0, M, G, n_heads, kvh);

    const int sw = warp * 16; /* this warp's 16 slots of each tile */
    const int rA = m0 + gq, rB = rA + 8;
    const int iA = min(rA / G, n - 1), iB = min(rB / G, n - 1);
    float o[DT][4];
#pragma unroll
    for (int j = 0; j < DT; j++)
        o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    float mA = -INFINITY, mB = -INFINITY, lA = 0.0f, lB = 0.0f;

    for (int t = 0; t < ntiles; t++) {
        cp_async_wait<ST - 2>(); /* this thread's copies of tile t (and q) landed */
        __syncthreads();         /* ... everyone's; and every warp is done with tile t - 1's stage */
        if (t + ST - 1 < ntiles)
            load_tile(t + ST - 1, (t + ST - 1) % ST);
        cp_async_commit();
        const uint16_t *sk = ring + (t % ST) * 2 * TILE, *sv = sk + TILE;
        const int t0 = s_begin + t * AM_BN;

        /* S = Q K^T for the warp's 16 slots (two n8 tiles), TERMS products per k-step */
        float s[2][4];
#pragma unroll
        for (int j = 0; j < 2; j++)
            s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t a[TERMS][4];
            const int qoff = (lane & 15) * LDQ + kk * 16 + (lane >> 4) * 8;
#pragma unroll
            for (int u = 0; u < TERMS; u++)
                ldsm_x4(a[u], sq + u * BM * LDQ + qoff);
            uint32_t b[4];
            const int r = sw + (lane & 7) + ((lane >> 4) << 3), c = kk * 2 + ((lane >> 3) & 1);
            ldsm_x4(b, sk + r * D + ((c ^ (r & SWZ)) << 3));
#pragma unroll
            for (int u = TERMS - 1; u >= 0; u--) { /* smallest term first */
                mma_bf16(s[0], a[u], b[0], b[1]);
                mma_bf16(s[1], a[u], b[2], b[3]);
            }
        }

        mask_tile<2>(s, t0, sw, prefix, s_end, mask, words, iA, iB);
        online_softmax<2, DT>(s, o, mA, mB, lA, lB);

        /* O += P V over the warp's 16 slots (one k16 step), P from the S registers */
        uint32_t p0[TERMS], p1[TERMS], p2[TERMS], p3[TERMS];
        split_terms<TERMS>(s[0][0], s[0][1], p0);
        split_terms<TERMS>(s[0][2], s[0][3], p1);
        split_terms<TERMS>(s[1][0], s[1][1], p2);
        split_terms<TERMS>(s[1][2], s[1][3], p3);
#pragma unroll
        for (int dp = 0; dp < D / 16; dp++) {
            uint32_t b[4];
            const int r = sw + (lane & 7) + ((lane >> 3) & 1) * 8, c = dp * 2 + (lane >> 4);
            ldsm_x4_trans(b, sv + r * D + ((c ^ (r & SWZ)) << 3));
#pragma unroll
            for (int u = TERMS - 1; u >= 0; u--) {
                const uint32_t a[4] = {p0[u], p1[u], p2[u], p3[u]};
                mma_bf16(o[2 * dp], a, b[0], b[1]);
                mma_bf16(o[2 * dp + 1], a, b[2], b[3]);
            }
        }
    }

    lA += __shfl_xor_sync(0xffffffffu, lA, 1);
    lA += __shfl_xor_sync(0xffffffffu, lA, 2);
    lB += __shfl_xor_sync(0xffffffffu, lB, 1);
    lB += __shfl_xor_sync(0xffffffffu, lB, 2);
    cp_async_wait<0>(); /* nothing real in flight (the groups past the last tile are empty) */
    ws_merge<D, DT>(o, mA, mB, lA, lB, m0, M, G, n_heads, kvh, n_split, split, out, part);
}

/* ---- launcher --------------------------------------------------------------------------------- */

/* q planes and the K and V tiles; under WS at least the merge's [4 warps][16][D + 2] floats */
static size_t am_smem_bytes(int D, int terms, int ws)
{
    const size_t tiles = (size_t)(terms * (ws ? AM_BM_WS : AM_BM) + 2 * AM_BN) * (D + 8) * 2;
    const size_t merge = ws ? (size_t)AM_WARPS * 16 * (D + 2) * 4 : 0;
    return tiles > merge ? tiles : merge;
}

extern "C" int cuda_attn_mma_head_dim_ok(int head_dim)
{
    return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

extern "C" int cuda_attn_mma_splits(int n, int n_heads, int n_kv, int n_sm)
{
    return cuda_attn_mma_splits_blocks((int)(((long)n * (n_heads / n_kv) + AM_BM - 1) / AM_BM), n_kv, n_sm);
}

extern "C" int cuda_attn_mma_splits_blocks(int mblocks, int n_kv, int n_sm)
{
    const long blocks = (long)mblocks * n_kv;
    /* rounded down: the whole grid fits in one wave of two blocks per SM (8B verify of 60 rows:
     * 32 blocks x 8 splits = 256 <= 264 on 132 SMs; 9 splits would leave a tail wave) */
    long s = 2L * (n_sm > 0 ? n_sm : 1) / blocks;
    if (s < 1)
        s = 1;
    if (s > AM_MAX_SPLIT)
        s = AM_MAX_SPLIT;
    return (int)s;
}

/* the warp split runs per_sm blocks per SM (attn_mma_kernel's: 3, 48 KiB of shared memory, <= 168
 * registers; the ring's: cuda_attn_ws_pipe_per_sm): below one wave, as many splits as fill it;
 * from there the count of 1..4 whose last wave is fullest (8B decode at batch 64 on 132 SMs at 3 a
 * SM: 512 blocks are 1.29 waves of 396, 3 splits 3.88) */
extern "C" int cuda_attn_mma_splits_ws(int segments, int n_kv, int n_sm, int per_sm)
{
    const long slots = (long)(per_sm > 0 ? per_sm : 1) * (n_sm > 0 ? n_sm : 1),
               blocks = (long)(segments > 0 ? segments : 1) * n_kv;
    if (blocks < slots) {
        const long s = slots / blocks;
        return (int)(s > AM_MAX_SPLIT ? AM_MAX_SPLIT : s);
    }
    int best = 1;
    double best_fill = 0.0;
    for (int s = 1; s <= 4; s++) {
        const long b = blocks * s, waves = (b + slots - 1) / slots;
        const double fill = (double)b / (double)(waves * slots);
        if (fill > best_fill + 0.05) { /* a split costs its partials and the combine: only for a clear gain */
            best_fill = fill;
            best = s;
        }
    }
    return best;
}

template <int D, int TERMS, bool PAGED, bool WS>
static cudaError_t am_launch(dim3 grid, cudaStream_t st, const float *q, const uint16_t *kc, const uint16_t *vc,
                             const int32_t *prefix, int n, const uint64_t *mask, int mask_cols, int n_heads, int n_kv,
                             int splits, uint16_t *out, float *part, struct cuda_attn_mma_pages pg)
{
    const size_t smem = am_smem_bytes(D, TERMS, WS);
    /* above the 48 KiB default: once per instantiation and device (bit dev of attr_set; a repeat is
     * harmless, so no lock) */
    static volatile unsigned long long attr_set = 0;
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess)
        return e;
    const unsigned long long bit = 1ull << (dev & 63);
    if (dev >= 64 || !(attr_set & bit)) {
        e = cudaFuncSetAttribute(attn_mma_kernel<D, TERMS, PAGED, WS>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)smem);
        if (e != cudaSuccess)
            return e;
        attr_set |= bit;
    }
    attn_mma_kernel<D, TERMS, PAGED, WS><<<grid, AM_THREADS, smem, st>>>(q, kc, vc, prefix, n, mask, mask_cols,
                                                                         n_heads, n_kv, splits, out, part, pg);
    return cudaGetLastError();
}

/* am_launch at a runtime head_dim (16 / 32 / 64 / 128, else cudaErrorInvalidValue) and terms (3, 2 for the
 * paged kernel without the warp split, else 1):
 * the one dispatch of cuda_attn_mma and cuda_attn_mma_paged (WS: the paged one's warp split) */
template <bool PAGED, bool WS>
static cudaError_t am_dispatch(int head_dim, int terms, dim3 grid, cudaStream_t st, const float *q, const uint16_t *kc,
                               const uint16_t *vc, const int32_t *prefix, int n, const uint64_t *mask, int mask_cols,
                               int n_heads, int n_kv, int splits, uint16_t *out, float *part,
                               struct cuda_attn_mma_pages pg)
{
#define AM_CASE(DD)                                                                                                    \
    case DD:                                                                                                           \
        if constexpr (PAGED && !WS) {                                                                                  \
            if (terms == 2)                                                                                            \
                return am_launch<DD, 2, PAGED, WS>(grid, st, q, kc, vc, prefix, n, mask, mask_cols, n_heads, n_kv,     \
                                                   splits, out, part, pg);                                             \
        }                                                                                                              \
        return terms == 3   ? am_launch<DD, 3, PAGED, WS>(grid, st, q, kc, vc, prefix, n, mask, mask_cols, n_heads,   \
                                                          n_kv, splits, out, part, pg)                                 \
               : terms == 1 ? am_launch<DD, 1, PAGED, WS>(grid, st, q, kc, vc, prefix, n, mask, mask_cols, n_heads,   \
                                                          n_kv, splits, out, part, pg)                                 \
                            : cudaErrorInvalidValue
    switch (head_dim) {
        AM_CASE(16);
        AM_CASE(32);
        AM_CASE(64);
        AM_CASE(128);
    default:
        return cudaErrorInvalidValue;
    }
#undef AM_CASE
}

static size_t am_pipe_smem_bytes(int D, int terms)
{
    const size_t tiles = (size_t)terms * AM_BM_WS * (D + 8) * 2 + (size_t)AM_PIPE_STAGES * 2 * AM_BN * D * 2;
    const size_t merge = (size_t)AM_WARPS * 16 * (D + 2) * 4;
    return tiles > merge ? tiles : merge;
}

/* the shared memory attribute of one instantiation, once per device (a repeat is harmless) */
template <int D, int TERMS>
static cudaError_t am_pipe_attr(void)
{
    static volatile unsigned long long attr_set = 0;
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess)
        return e;
    const unsigned long long bit = 1ull << (dev & 63);
    if (dev >= 64 || !(attr_set & bit)) {
        e = cudaFuncSetAttribute(attn_ws_pipe_kernel<D, TERMS>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)am_pipe_smem_bytes(D, TERMS));
        if (e != cudaSuccess)
            return e;
        attr_set |= bit;
    }
    return cudaSuccess;
}

template <int D, int TERMS>
static cudaError_t am_pipe_launch(dim3 grid, cudaStream_t st, const float *q, const uint16_t *kc, const uint16_t *vc,
                                  int n_heads, int n_kv, int splits, uint16_t *out, float *part,
                                  struct cuda_attn_mma_pages pg)
{
    cudaError_t e = am_pipe_attr<D, TERMS>();
    if (e != cudaSuccess)
        return e;
    attn_ws_pipe_kernel<D, TERMS><<<grid, AM_THREADS, am_pipe_smem_bytes(D, TERMS), st>>>(q, kc, vc, n_heads, n_kv,
                                                                                       splits, out, part, pg);
    return cudaGetLastError();
}

template <int D, int TERMS>
static int am_pipe_occupancy(void)
{
    int blocks = 0;
    if (am_pipe_attr<D, TERMS>() != cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, attn_ws_pipe_kernel<D, TERMS>, AM_THREADS,
                                                      am_pipe_smem_bytes(D, TERMS)) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return blocks;
}

extern "C" int cuda_attn_ws_pipe_per_sm(int head_dim, int terms)
{
#define AM_PIPE_OCC(DD) return terms == 3 ? am_pipe_occupancy<DD, 3>() : am_pipe_occupancy<DD, 1>()
    switch (head_dim) {
    case 16:
        AM_PIPE_OCC(16);
    case 32:
        AM_PIPE_OCC(32);
    case 64:
        AM_PIPE_OCC(64);
    case 128:
        AM_PIPE_OCC(128);
    default:
        return 0;
    }
#undef AM_PIPE_OCC
}

static cudaError_t am_pipe_dispatch(int head_dim, int terms, dim3 grid, cudaStream_t st, const float *q,
                                    const uint16_t *kc, const uint16_t *vc, int n_heads, int n_kv, int splits,
                                    uint16_t *out, float *part, struct cuda_attn_mma_pages pg)
{
#define AM_PIPE_CASE(DD)                                                                                               \
    case DD:                                                                                                           \
        return terms == 3   ? am_pipe_launch<DD, 3>(grid, st, q, kc, vc, n_heads, n_kv, splits, out, part, pg)         \
               : terms == 1 ? am_pipe_launch<DD, 1>(grid, st, q, kc, vc, n_heads, n_kv, splits, out, part, pg)         \
                            : cudaErrorInvalidValue
    switch (head_dim) {
        AM_PIPE_CASE(16);
        AM_PIPE_CASE(32);
        AM_PIPE_CASE(64);
        AM_PIPE_CASE(128);
    default:
        return cudaErrorInvalidValue;
    }
#undef AM_PIPE_CASE
}

extern "C" enum frs_status cuda_attn_mma(const float *q, const uint16_t *kc, const uint16_t *vc,
                                         const int32_t *prefix, int n, const uint64_t *mask, int mask_cols,
                                         int n_heads, int n_kv, int head_dim, int terms, int splits, uint16_t *out,
                                         float *part, cudaStream_t st)
{
    if (n <= 0 || n_kv <= 0 || n_heads % n_kv || !cuda_attn_mma_head_dim_ok(head_dim) || (terms != 1 && terms != 3) ||
        splits < 1 || splits > AM_MAX_SPLIT || (splits > 1 && !part) || ((uintptr_t)q & 15) || ((uintptr_t)kc & 15) ||
        ((uintptr_t)vc & 15) || ((uintptr_t)out & 3) || ((uintptr_t)part & 7))
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "cuda_attn_mma: n %d, heads %d / kv %d, head_dim %d, terms %d, splits %d "
                       "(need head_dim 16/32/64/128, terms 1 or 3, 16-byte aligned q, k, v, 4-byte out, 8-byte "
                       "scratch)", n, n_heads, n_kv, head_dim, terms, splits);
    const dim3 grid((unsigned)((n * (n_heads / n_kv) + AM_BM - 1) / AM_BM), (unsigned)n_kv, (unsigned)splits);
    const cudaError_t e = am_dispatch<false, false>(head_dim, terms, grid, st, q, kc, vc, prefix, n, mask, mask_cols,
                                                    n_heads, n_kv, splits, out, part, {});
    if (e != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "kernels/cuda_attn_mma.cu: launch of attn_mma_kernel (head_dim %d) failed: %s",
                       head_dim, cudaGetErrorString(e));
    if (splits > 1)
        return cuda_attention_combine(part, n * n_heads, splits, head_dim, out, st);
    return FRS_OK;
}

extern "C" enum frs_status cuda_attn_mma_paged(const float *q, const uint16_t *kpool, const uint16_t *vpool,
                                               const struct cuda_attn_mma_pages *pg, int max_blocks, int bm, int n_rows,
                                               int n_heads, int n_kv, int head_dim, int terms, int splits,
                                               uint16_t *out, float *part, cudaStream_t st)
{
    if (max_blocks <= 0 || n_rows <= 0 || n_kv <= 0 || n_heads % n_kv || !cuda_attn_mma_head_dim_ok(head_dim) ||
        (terms != 1 && terms != 3 && (terms != 2 || bm != AM_BM)) || (bm != AM_BM && bm != AM_BM_WS) || splits < 1 ||
        splits > AM_MAX_SPLIT ||
        (splits > 1 && !part) || !pg ||
        !pg->seg || !pg->nseg || pg->kv_block <= 0 || ((uintptr_t)pg->seg & 15) || ((uintptr_t)q & 15) ||
        ((uintptr_t)kpool & 15) || ((uintptr_t)vpool & 15) || ((uintptr_t)out & 3) || ((uintptr_t)part & 7))
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "cuda_attn_mma_paged: %d blocks of %d vectors, %d rows, heads %d / kv %d, "
                       "head_dim %d, terms %d, splits %d (need %d or %d vectors, head_dim 16/32/64/128, terms 1 or "
                       "3 (2 at %d vectors), aligned pointers)", max_blocks, bm, n_rows, n_heads, n_kv, head_dim, terms, splits,
                       AM_BM, AM_BM_WS, AM_BM);
    const dim3 grid((unsigned)max_blocks, (unsigned)n_kv, (unsigned)splits);
    const cudaError_t e =
        bm == AM_BM_WS && pg->pipe
            ? am_pipe_dispatch(head_dim, terms, grid, st, q, kpool, vpool, n_heads, n_kv, splits, out, part, *pg)
        : bm == AM_BM_WS ? am_dispatch<true, true>(head_dim, terms, grid, st, q, kpool, vpool, NULL, 0, NULL, 0, n_heads,
                                                 n_kv, splits, out, part, *pg)
                       : am_dispatch<true, false>(head_dim, terms, grid, st, q, kpool, vpool, NULL, 0, NULL, 0, n_heads,
                                                  n_kv, splits, out, part, *pg);
    if (e != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "kernels/cuda_attn_mma.cu: launch of the paged attn_mma_kernel (head_dim %d) "
                       "failed: %s", head_dim, cudaGetErrorString(e));
    if (splits > 1)
        return cuda_attention_combine(part, n_rows * n_heads, splits, head_dim, out, st);
    return FRS_OK;
}
