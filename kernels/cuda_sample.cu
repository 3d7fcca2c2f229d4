/* cuda_sample.cu - temperature / top-k / top-p sampling on the device with runtime/sampling.c's
 * results bit for bit (see cuda_sample.h for the contract).
 *
 * prepare: one block of 1024 threads per row, four passes over the row at most:
 *   1. z = x / T, the max (and a non-finite check);
 *   2. histograms over NB value bins of width 1/128 nat below the max (d = max - z; the last bin
 *      collects everything below 32 nats): per bin the count and the mass, masses in 64-bit fixed
 *      point (runtime/sample_mass.h: the host's bits, exact integer sums), then inclusive scans;
 *   3. top-k: the bin where the count from the top reaches k; its values (at most CUDA_SAMPLE_CAP)
 *      gathered, sorted (bitonic, by key) and scanned in shared memory: the k-th largest z exactly;
 *   4. top-p: the bin where the kept mass from the top reaches top_p * total, gathered likewise
 *      (or the top-k bin reused): the largest value whose mass {z' >= z} reaches the target. The
 *      masses are the host's integers and the comparison the host's double expression, so this is
 *      the value sampling.c's bisection converges to, exactly.
 * draw: blocks of 256 threads over column chunks of each row, Gumbel keys in double as the host,
 *   per block (best key, its id, the second key, the raw argmax key), merged in block order by one
 *   thread per row (deterministic).
 */
#include "cuda_common.cuh"

#include <string.h>

#include "../runtime/argmax_key.h"
#include "cuda_sample.h"
#include "sample_mass.h" /* frs_mass_fixed: the host's fixed-point masses */

#define PREP_THREADS 1024
#define NB 4096                 /* value bins */
#define BIN_SCALE 128.0f        /* bins per nat */
#define CAP CUDA_SAMPLE_CAP     /* gathered values */
#define KEY_MARGIN 1e-11        /* of (1 + |key|) */
#define DRAW_THREADS 256
#define DRAW_CHUNK 4096
#define DRAW_MAX_BLOCKS 64
#define FULL FRS_FULL_MASK

/* ---- helpers ---------------------------------------------------------------------------------- */

/* order-preserving key of a non-NaN float, -0 as +0 (sampling.c's sampling_key, with the zero
 * normalised so that equal values share a key) */
static __device__ __forceinline__ uint32_t skey(float f)
{
    if (f == 0.0f)
        f = 0.0f;
    const uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static __device__ __forceinline__ float sunkey(uint32_t k)
{
    const uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    return __uint_as_float(u);
}

static __device__ __forceinline__ int bin_of(float d)
{
    return d < (float)NB / BIN_SCALE ? (int)(d * BIN_SCALE) : NB - 1;
}


/* inclusive prefix sums of a[0..m) in shared memory, all threads of the block; tmp: 32 entries */
static __device__ void block_scan_u64(unsigned long long *a, int m, unsigned long long *tmp)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const int per = (m + (int)blockDim.x - 1) / (int)blockDim.x;
    const int lo = threadIdx.x * per, hi = min(m, lo + per);
    unsigned long long s = 0;
    for (int i = lo; i < hi; i++) {
        s += a[i];
        a[i] = s;
    }
    unsigned long long v = s;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const unsigned long long t = __shfl_up_sync(FULL, v, o);
        if (lane >= o)
            v += t;
    }
    __syncthreads();
    if (lane == 31)
        tmp[wid] = v;
    __syncthreads();
    if (wid == 0) {
        unsigned long long w = lane < nw ? tmp[lane] : 0ull;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const unsigned long long t = __shfl_up_sync(FULL, w, o);
            if (lane >= o)
                w += t;
        }
        tmp[lane] = w;
    }
    __syncthreads();
    const unsigned long long off = v - s + (wid ? tmp[wid - 1] : 0ull);
    for (int i = lo; i < hi; i++)
        a[i] += off;
    __syncthreads();
}

/* sort key[0..m) descending with their masses (bitonic over the next power of two, padded with
 * key 0, below every finite key), then mass := inclusive prefix sums in that order */
static __device__ void sort_scan(uint32_t *key, unsigned long long *mass, int m, unsigned long long *tmp)
{
    int P = 1;
    while (P < m)
        P <<= 1;
    for (int i = m + threadIdx.x; i < P; i += blockDim.x) {
        key[i] = 0u;
        mass[i] = 0ull;
    }
    __syncthreads();
    for (int k = 2; k <= P; k <<= 1) {
        for (int j = k >> 1; j > 0; j >>= 1) {
            for (int i = threadIdx.x; i < P; i += blockDim.x) {
                const int ixj = i ^ j;
                if (ixj > i) {
                    const bool desc = (i & k) == 0;
                    const uint32_t a = key[i], b = key[ixj];
                    if (desc ? a < b : a > b) {
                        key[i] = b;
                        key[ixj] = a;
                        const unsigned long long t = mass[i];
                        mass[i] = mass[ixj];
                        mass[ixj] = t;
                    }
                }
            }
            __syncthreads();
        }
    }
    block_scan_u64(mass, m, tmp);
}

/* ---- parameters -------------------------------------------------------------------------------- */

__global__ void set_params_kernel(struct cuda_sample_params *d, struct cuda_sample_params h) { *d = h; }

extern "C" enum frs_status cuda_sample_set_params(struct cuda_sample_params *d, const struct cuda_sample_params *h,
                                                  cudaStream_t st)
{
    set_params_kernel<<<1, 1, 0, st>>>(d, *h);
    FRS_LAUNCH_CHECK(set_params_kernel);
    return FRS_OK;
}

/* ---- prepare ------------------------------------------------------------------------------------ */

struct prep_shared {
    float fsh[32];
    int ish[32];
    unsigned long long tmp[32];
    int bin, gcount, sel;
    uint32_t kmin, kmax;
};

/* Gather bin b's values (count cnt from the histogram) into key/mass: returns the number gathered,
 * or -1 when cnt > CAP, with *same_key set to the bin's one key if all its values are equal
 * (0 otherwise). */
static __device__ int gather_bin(const float *x, int cols, float temperature, float mx, int b, int cnt, int shift,
                                 uint32_t *key, unsigned long long *mass, struct prep_shared *ps, uint32_t *same_key)
{
    if (threadIdx.x == 0) {
        ps->gcount = 0;
        ps->kmin = 0xffffffffu;
        ps->kmax = 0u;
    }
    __syncthreads();
    if (cnt <= CAP) {
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            const float z = x[c] / temperature, d = mx - z;
            if (bin_of(d) != b)
                continue;
            const int s = atomicAdd(&ps->gcount, 1);
            key[s] = skey(z);
            mass[s] = frs_mass_fixed(z, mx, shift);
        }
        __syncthreads();
        *same_key = 0;
        return cnt;
    }
    uint32_t lo = 0xffffffffu, hi = 0u;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float z = x[c] / temperature, d = mx - z;
        if (bin_of(d) != b)
            continue;
        const uint32_t k = skey(z);
        lo = min(lo, k);
        hi = max(hi, k);
    }
    atomicMin(&ps->kmin, lo);
    atomicMax(&ps->kmax, hi);
    __syncthreads();
    *same_key = ps->kmin == ps->kmax ? ps->kmin : 0u;
    __syncthreads();
    return -1;
}

__global__ void __launch_bounds__(PREP_THREADS)
    prepare_kernel(const float *logits, int cols, int ld, const struct cuda_sample_params *pp,
                   struct cuda_sample_row *rows, uint32_t *flags, int shift)
{
    extern __shared__ unsigned long long dsm[];
    unsigned long long *hc = dsm, *hm = dsm + NB;     /* bin counts, bin masses (then inclusive scans) */
    unsigned long long *gm = dsm + 2 * NB;           /* gathered masses (then scans), CAP */
    uint32_t *gk = (uint32_t *)(dsm + 2 * NB + CAP); /* gathered keys, CAP */
    __shared__ struct prep_shared ps;
    const int r = blockIdx.x;
    const float *x = logits + (size_t)r * ld;
    const struct cuda_sample_params p = *pp;
    const float T = p.temperature;
    struct cuda_sample_row out;

    /* 1. max and finiteness */
    float m = -INFINITY;
    int bad = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float z = x[c] / T;
        bad |= !isfinite(z);
        m = fmaxf(m, z);
    }
    m = block_max(m, ps.fsh);
    bad = block_or(bad, ps.ish);
    out.max = m;
    out.thresh = -INFINITY;
    out.sum = 1.0;
    out.shift = shift;
    out.pad = 0;
    if (bad) {
        if (threadIdx.x == 0) {
            rows[r] = out;
            atomicOr(flags + r, CUDA_SAMPLE_NONFINITE);
        }
        return;
    }

    /* 2. bin histograms: counts and fixed-point masses */
    for (int i = threadIdx.x; i < 2 * NB; i += blockDim.x)
        dsm[i] = 0ull;
    __syncthreads();
    const int lane = threadIdx.x & 31;
    for (int base = 0; base < cols; base += blockDim.x) {
        const int c = base + threadIdx.x;
        int b = -1;
        unsigned long long e = 0ull;
        if (c < cols) {
            const float z = x[c] / T;
            b = bin_of(m - z);
            e = frs_mass_fixed(z, m, shift);
        }
        const int b0 = __shfl_sync(FULL, b, 0);
        if (__all_sync(FULL, b == b0) && b0 >= 0) { /* one bin for the whole warp: one atomic each */
#pragma unroll
            for (int o = 16; o > 0; o >>= 1)
                e += __shfl_xor_sync(FULL, e, o);
            if (lane == 0) {
                atomicAdd(&hc[b0], 32ull);
                atomicAdd(&hm[b0], e);
            }
        } else if (b >= 0) {
            atomicAdd(&hc[b], 1ull);
            atomicAdd(&hm[b], e);
        }
    }
    __syncthreads();
    block_scan_u64(hc, NB, ps.tmp);
    block_scan_u64(hm, NB, ps.tmp);

    const int use_k = p.top_k > 0 && p.top_k < cols;
    const int use_p = p.top_p < 1.0f;
    unsigned long long total = hm[NB - 1];
    int bk = NB, klim = 0; /* top-k bin, and the kept entries of its gathered list */
    int k_listed = 0;      /* the gathered list holds bin bk */
    uint32_t tkey = 0u;    /* the top-k threshold's key */

    /* 3. top-k */
    if (use_k) {
        const unsigned long long k = (unsigned long long)p.top_k;
        if (threadIdx.x == 0)
            ps.bin = NB - 1;
        __syncthreads();
        for (int b = threadIdx.x; b < NB; b += blockDim.x)
            if (hc[b] >= k && (b == 0 || hc[b - 1] < k))
                ps.bin = b;
        __syncthreads();
        bk = ps.bin;
        const unsigned long long cabove = bk ? hc[bk - 1] : 0ull, mabove = bk ? hm[bk - 1] : 0ull;
        const int cnt = (int)(hc[bk] - cabove);
        uint32_t same = 0u;
        const int g = gather_bin(x, cols, T, m, bk, cnt, shift, gk, gm, &ps, &same);
        if (g < 0) {
            if (!same) {
                if (threadIdx.x == 0) {
                    rows[r] = out;
                    atomicOr(flags + r, CUDA_SAMPLE_BIN_LARGE);
                }
                return;
            }
            tkey = same;
            total = hm[bk];
        } else {
            sort_scan(gk, gm, g, ps.tmp);
            tkey = gk[(int)(k - cabove) - 1];
            if (threadIdx.x == 0)
                ps.sel = -1;
            __syncthreads();
            for (int i = threadIdx.x; i < g; i += blockDim.x)
                if (gk[i] == tkey && (i == g - 1 || gk[i + 1] != tkey))
                    ps.sel = i;
            __syncthreads();
            klim = ps.sel + 1;
            total = mabove + gm[ps.sel];
            k_listed = 1;
        }
        out.thresh = sunkey(tkey);
    }

    /* 4. top-p: the largest value whose kept mass from the top reaches the target */
    if (use_p) {
        /* sampling.c's test: (double)mass >= (double)top_p * (double)total; top_p 0 keeps the max */
        const double target = p.top_p > 0.0f ? (double)p.top_p * (double)total : 0.0;
        /* the bin where the kept mass reaches the target (kept: bins above bk, bin bk up to tkey) */
        if (threadIdx.x == 0)
            ps.bin = use_k ? bk : NB - 1;
        __syncthreads();
        const int last = use_k ? bk : NB - 1;
        for (int b = threadIdx.x; b < last; b += blockDim.x)
            if ((double)hm[b] >= target && (b == 0 || (double)hm[b - 1] < target))
                ps.bin = b;
        __syncthreads();
        const int bp = ps.bin;
        __syncthreads();
        const unsigned long long mabove = bp ? hm[bp - 1] : 0ull;
        unsigned long long m_at;
        uint32_t vkey;
        int g = -1;
        uint32_t same = 0u;
        if (bp == bk && k_listed) {
            g = klim;
        } else if (bp == bk) {
            same = tkey; /* the top-k bin was one value */
        } else {
            g = gather_bin(x, cols, T, m, bp, (int)(hc[bp] - (bp ? hc[bp - 1] : 0ull)), shift, gk, gm, &ps,
                           &same);
            if (g >= 0)
                sort_scan(gk, gm, g, ps.tmp);
        }
        if (g < 0) {
            if (!same) {
                if (threadIdx.x == 0) {
                    rows[r] = out;
                    atomicOr(flags + r, CUDA_SAMPLE_BIN_LARGE);
                }
                return;
            }
            vkey = same;
            m_at = bp == bk ? total : hm[bp];
        } else {
            /* the first run end (equal keys form runs) whose mass from the top reaches the target */
            if (threadIdx.x == 0)
                ps.sel = 0x7fffffff;
            __syncthreads();
            for (int i = threadIdx.x; i < g; i += blockDim.x)
                if ((i == g - 1 || gk[i + 1] != gk[i]) && (double)(mabove + gm[i]) >= target)
                    atomicMin(&ps.sel, i);
            __syncthreads();
            const int j = ps.sel < g ? ps.sel : g - 1;
            vkey = gk[j];
            m_at = mabove + gm[j];
        }
        out.thresh = sunkey(vkey);
        total = m_at;
    }
    out.sum = ldexp((double)total, -shift); /* as sampling.c */
    if (threadIdx.x == 0)
        rows[r] = out;
}

static size_t prep_smem(void) { return (size_t)(2 * NB + CAP) * 8 + (size_t)CAP * 4; }

extern "C" enum frs_status cuda_sample_prepare(const float *logits, int n, int cols, int ld,
                                               const struct cuda_sample_params *p, struct cuda_sample_row *rows,
                                               uint32_t *flags, cudaStream_t st)
{
    if (n <= 0 || cols <= 0 || ld < cols || cols > CUDA_SAMPLE_MAX_COLS)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_sample_prepare: rows %d, cols %d (at most %d), ld %d", n, cols,
                       CUDA_SAMPLE_MAX_COLS, ld);
    static cudaError_t attr = cudaFuncSetAttribute(prepare_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                   (int)prep_smem());
    if (attr != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "cuda_sample_prepare: %zu bytes of shared memory: %s", prep_smem(),
                       cudaGetErrorString(attr));
    prepare_kernel<<<n, PREP_THREADS, prep_smem(), st>>>(logits, cols, ld, p, rows, flags, frs_mass_shift(cols));
    FRS_LAUNCH_CHECK(prepare_kernel);
    return FRS_OK;
}

/* ---- draw ------------------------------------------------------------------------------------- */

struct draw_part {
    double best, second;
    unsigned long long amax;
    int id, pad;
};

/* a then b in column order: best by (key desc, id asc), second = the best key of the rest */
static __device__ __forceinline__ void draw_merge(double *best, int *id, double *second, double b2, int id2,
                                                  double s2)
{
    if (id2 < 0)
        return;
    if (*id < 0 || b2 > *best || (b2 == *best && id2 < *id)) {
        *second = fmax(s2, *best);
        *best = b2;
        *id = id2;
    } else {
        *second = fmax(*second, b2);
    }
}

__global__ void __launch_bounds__(DRAW_THREADS)
    draw_kernel(const float *logits, int n, int cols, int ld, int idx_offset, int chunk,
                const struct cuda_sample_params *pp, const struct cuda_sample_row *rows, const struct frs_tree *tree,
                const int32_t *draw_add, struct draw_part *part)
{
    __shared__ int32_t excl[FRS_MAX_TREE];
    __shared__ int nex;
    __shared__ double sb[DRAW_THREADS / 32], ss[DRAW_THREADS / 32];
    __shared__ int si[DRAW_THREADS / 32];
    __shared__ unsigned long long sa[DRAW_THREADS / 32];
    const int r = blockIdx.y;
    const float *x = logits + (size_t)r * ld;
    const float T = pp->temperature, th = rows[r].thresh;
    const uint64_t seed = pp->seed, dr = pp->draw0 + (uint64_t)(draw_add ? (int64_t)draw_add[r] : (int64_t)r);
    if (threadIdx.x == 0)
        nex = 0;
    __syncthreads();
    if (tree)
        for (int c = r + 1 + threadIdx.x; c < n; c += blockDim.x)
            if (tree->parent[c] == r)
                excl[atomicAdd(&nex, 1)] = tree->token[c];
    __syncthreads();
    const int ne = nex;
    double best = -INFINITY, second = -INFINITY;
    int id = -1;
    unsigned long long amax = 0ull;
    const int c0 = blockIdx.x * chunk, c1 = min(cols, c0 + chunk);
    for (int c = c0 + threadIdx.x; c < c1; c += blockDim.x) {
        const float xv = x[c];
        const int t = idx_offset + c;
        const unsigned long long ak = frs_argmax_key_pack(xv, t);
        amax = ak > amax ? ak : amax;
        const float z = xv / T;
        if (!(z >= th))
            continue;
        const double key = (double)z + frs_rng_gumbel(seed, dr, (uint64_t)t);
        if (!(key > second) && id >= 0)
            continue;
        int skip = 0;
        for (int j = 0; j < ne; j++)
            skip |= excl[j] == t;
        if (skip)
            continue;
        draw_merge(&best, &id, &second, key, t, -INFINITY);
    }
    /* block merge: lanes then warps, a fixed order */
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const double b2 = __shfl_down_sync(FULL, best, o), s2 = __shfl_down_sync(FULL, second, o);
        const int i2 = __shfl_down_sync(FULL, id, o);
        const unsigned long long a2 = __shfl_down_sync(FULL, amax, o);
        if (lane + o < 32) {
            draw_merge(&best, &id, &second, b2, i2, s2);
            amax = a2 > amax ? a2 : amax;
        }
    }
    if (lane == 0) {
        sb[wid] = best;
        ss[wid] = second;
        si[wid] = id;
        sa[wid] = amax;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < DRAW_THREADS / 32; w++) {
            draw_merge(&best, &id, &second, sb[w], si[w], ss[w]);
            amax = sa[w] > amax ? sa[w] : amax;
        }
        struct draw_part q;
        q.best = best;
        q.second = second;
        q.id = id;
        q.amax = amax;
        q.pad = 0;
        part[(size_t)r * gridDim.x + blockIdx.x] = q;
    }
}

__global__ void draw_finish_kernel(const struct draw_part *part, int nb, int32_t *out, uint32_t *flags)
{
    const int r = blockIdx.x;
    const struct draw_part *q = part + (size_t)r * nb;
    double best = -INFINITY, second = -INFINITY;
    int id = -1;
    unsigned long long amax = 0ull;
    for (int b = 0; b < nb; b++) {
        draw_merge(&best, &id, &second, q[b].best, q[b].id, q[b].second);
        amax = q[b].amax > amax ? q[b].amax : amax;
    }
    if (id < 0) { /* everything removed: the row's argmax */
        out[r] = frs_argmax_key_index(amax);
        return;
    }
    out[r] = id;
    if (!(best - second > KEY_MARGIN * (1.0 + fabs(best))))
        atomicOr(flags + r, CUDA_SAMPLE_DRAW_CLOSE);
}

static int draw_blocks(int cols)
{
    int nb = (cols + DRAW_CHUNK - 1) / DRAW_CHUNK;
    return nb > DRAW_MAX_BLOCKS ? DRAW_MAX_BLOCKS : nb;
}

extern "C" size_t cuda_sample_scratch_bytes(int rows, int cols)
{
    return (size_t)(rows > 0 ? rows : 1) * (size_t)draw_blocks(cols > 0 ? cols : 1) * sizeof(struct draw_part);
}

extern "C" enum frs_status cuda_sample_draw(const float *logits, int n, int cols, int ld, int idx_offset,
                                            const struct cuda_sample_params *p, const struct cuda_sample_row *rows,
                                            const struct frs_tree *tree, void *scratch, int32_t *out,
                                            uint32_t *flags, cudaStream_t st)
{
    if (n <= 0 || cols <= 0 || ld < cols || (tree && n > FRS_MAX_TREE))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_sample_draw: rows %d, cols %d, ld %d", n, cols, ld);
    const int nb = draw_blocks(cols), chunk = (cols + nb - 1) / nb;
    draw_kernel<<<dim3(nb, n), DRAW_THREADS, 0, st>>>(logits, n, cols, ld, idx_offset, chunk, p, rows, tree, NULL,
                                                      (struct draw_part *)scratch);
    FRS_LAUNCH_CHECK(draw_kernel);
    draw_finish_kernel<<<n, 1, 0, st>>>((const struct draw_part *)scratch, nb, out, flags);
    FRS_LAUNCH_CHECK(draw_finish_kernel);
    return FRS_OK;
}

extern "C" enum frs_status cuda_sample_draw_keyed(const float *logits, int n, int cols, int ld, int idx_offset,
                                                  const struct cuda_sample_params *p,
                                                  const struct cuda_sample_row *rows, const int32_t *draw_add,
                                                  void *scratch, int32_t *out, uint32_t *flags, cudaStream_t st)
{
    if (n <= 0 || cols <= 0 || ld < cols || !draw_add)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_sample_draw_keyed: rows %d, cols %d, ld %d, draw_add %p", n, cols,
                       ld, (const void *)draw_add);
    const int nb = draw_blocks(cols), chunk = (cols + nb - 1) / nb;
    draw_kernel<<<dim3(nb, n), DRAW_THREADS, 0, st>>>(logits, n, cols, ld, idx_offset, chunk, p, rows, NULL, draw_add,
                                                      (struct draw_part *)scratch);
    FRS_LAUNCH_CHECK(draw_kernel);
    draw_finish_kernel<<<n, 1, 0, st>>>((const struct draw_part *)scratch, nb, out, flags);
    FRS_LAUNCH_CHECK(draw_finish_kernel);
    return FRS_OK;
}

/* ---- child probabilities of a verified tree ------------------------------------------------------ */

__global__ void tree_probs_kernel(const float *logits, int n, int cols, int ld, int idx_offset,
                                  const struct cuda_sample_params *pp, const struct cuda_sample_row *rows,
                                  struct frs_tree *tree)
{
    const float T = pp->temperature;
    for (int c = threadIdx.x; c < n; c += blockDim.x) {
        tree->argmax[c] = -1;
        if (c == 0) {
            tree->child_prob[0] = 1.0f;
            continue;
        }
        const int i = tree->parent[c], t = tree->token[c] - idx_offset;
        float pr = 0.0f;
        if (i >= 0 && i < n && t >= 0 && t < cols) {
            const struct cuda_sample_row rw = rows[i];
            const float z = logits[(size_t)i * ld + t] / T;
            if (z >= rw.thresh && rw.sum > 0.0) /* sampling_prob's expression */
                pr = (float)(ldexp((double)frs_mass_fixed(z, rw.max, rw.shift), -rw.shift) / rw.sum);
        }
        tree->child_prob[c] = pr;
    }
}

extern "C" enum frs_status cuda_sample_tree_probs(const float *logits, int n, int cols, int ld, int idx_offset,
                                                  const struct cuda_sample_params *p,
                                                  const struct cuda_sample_row *rows, struct frs_tree *tree,
                                                  cudaStream_t st)
{
    if (n <= 0 || n > FRS_MAX_TREE || cols <= 0 || ld < cols)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_sample_tree_probs: %d nodes, cols %d, ld %d", n, cols, ld);
    tree_probs_kernel<<<1, FRS_MAX_TREE, 0, st>>>(logits, n, cols, ld, idx_offset, p, rows, tree);
    FRS_LAUNCH_CHECK(tree_probs_kernel);
    return FRS_OK;
}
