/* cuda_tree.cu - the EAGLE-2 dynamic tree on the device (see cuda_tree.h; runtime/tree.c is the
 * reference: same records, frontier, tie rules and output order), the acceptance walk over the
 * verified tree (runtime/accept.c is the reference, the uniforms from runtime/rng.h's own code)
 * and the small integer kernels of the backend's step (positions, counters). All single-block
 * kernels: the tree is tiny.
 */
#include "cuda_common.cuh" /* rng.h: frs_rng_uniform, __host__ __device__ under nvcc */

#include <string.h>

extern "C" {
#include "accept.h" /* struct frs_accept, frs_spec_index, FRS_RNG_STREAM_ACCEPT, FRS_SPEC_DRAW_BASE */
}
#include "../runtime/argmax_key.h"
#include "cuda_tree.h"

#define TREE_THREADS 1024

static size_t al16(size_t b) { return (b + 15) & ~(size_t)15; }

extern "C" size_t cuda_tree_dev_bytes(int max_topk, int max_depth)
{
    const size_t cap = (size_t)cuda_tree_records(max_topk, max_depth);
    return al16(cap * 4) * 6 + al16((size_t)max_topk * 4) * 2;
}

extern "C" void cuda_tree_dev_carve(struct cuda_tree_dev *t, void *mem, int max_topk, int max_depth)
{
    const int cap = cuda_tree_records(max_topk, max_depth);
    char *p = (char *)mem;
    t->max_topk = max_topk;
    t->max_depth = max_depth;
    t->cap = cap;
    t->score = (float *)p;
    p += al16((size_t)cap * 4);
    t->token = (int32_t *)p;
    p += al16((size_t)cap * 4);
    t->parent = (int32_t *)p;
    p += al16((size_t)cap * 4);
    t->depth_of = (int32_t *)p;
    p += al16((size_t)cap * 4);
    t->slot = (int32_t *)p;
    p += al16((size_t)cap * 4);
    t->node_of = (int32_t *)p;
    p += al16((size_t)cap * 4);
    t->front = (int32_t *)p;
    p += al16((size_t)max_topk * 4);
    t->front_src = (int32_t *)p;
}

/* rank of element c among s[0..n): elements before it in (score desc, index asc) order */
static __device__ __forceinline__ int rank_of(const float *s, int n, int c)
{
    const float v = s[c];
    int r = 0;
    for (int j = 0; j < n; j++) {
        const float w = s[j];
        r += (w > v) || (w == v && j < c);
    }
    return r;
}

__global__ void tree_first_kernel(struct cuda_tree_dev t, int k, const float *vals, const int32_t *tok)
{
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        t.score[j] = vals[j];
        t.token[j] = tok[j];
        t.parent[j] = -1;
        t.depth_of[j] = 1;
        t.slot[j] = -1;
        t.front[j] = j;
        t.front_src[j] = 0;
    }
}

extern "C" enum frs_status cuda_tree_first(struct cuda_tree_dev *t, int k, const float *vals, const int32_t *tok,
                                           cudaStream_t st)
{
    if (k < 1 || k > t->max_topk)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_tree_first: topk %d outside [1, %d]", k, t->max_topk);
    tree_first_kernel<<<1, 64, 0, st>>>(*t, k, vals, tok);
    FRS_LAUNCH_CHECK(tree_first_kernel);
    return FRS_OK;
}

__global__ void tree_expand_kernel(struct cuda_tree_dev t, int k, int level, const float *vals, const int32_t *tok)
{
    __shared__ int nf_idx[64];
    const int base = cuda_tree_records(k, level), m = k * k;
    for (int e = threadIdx.x; e < m; e += blockDim.x) {
        const int par = t.front[e / k], c = base + e;
        t.score[c] = t.score[par] + vals[e];
        t.token[c] = tok[e];
        t.parent[c] = par;
        t.depth_of[c] = level + 1;
        t.slot[c] = -1;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < m; e += blockDim.x) {
        const int r = rank_of(t.score + base, m, e);
        if (r < k)
            nf_idx[r] = e;
    }
    __syncthreads();
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        t.front_src[j] = nf_idx[j] / k;
        t.front[j] = nf_idx[j] + base;
    }
}

extern "C" enum frs_status cuda_tree_expand(struct cuda_tree_dev *t, int k, int level, const float *vals,
                                            const int32_t *tok, cudaStream_t st)
{
    if (k < 1 || k > t->max_topk || k > 32 || level < 1 || level + 1 > t->max_depth)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_tree_expand: topk %d, level %d outside the builder's %d / %d", k,
                       level, t->max_topk, t->max_depth);
    tree_expand_kernel<<<1, TREE_THREADS, 0, st>>>(*t, k, level, vals, tok);
    FRS_LAUNCH_CHECK(tree_expand_kernel);
    return FRS_OK;
}

__global__ void tree_frontier_kernel(struct cuda_tree_dev t, int k, int level, const int32_t *target_len,
                                     const float *hid, int root_row, int C, uint16_t *fc_in, int ld_fc, int32_t *tok,
                                     int32_t *pos, int32_t *slot0, uint64_t *mask)
{
    const int first = (level - 1) * k, words = (level * k + 63) / 64;
    const int T = *target_len;
    for (int r = threadIdx.x; r < k; r += blockDim.x)
        t.slot[t.front[r]] = first + r;
    __syncthreads();
    for (int r = threadIdx.x; r < k; r += blockDim.x) {
        uint64_t *row = mask + (size_t)r * words;
        for (int w = 0; w < words; w++)
            row[w] = 0ull;
        for (int c = t.front[r]; c >= 0; c = t.parent[c]) {
            const int s = t.slot[c];
            if (s >= 0)
                row[s >> 6] |= 1ull << (s & 63);
        }
        tok[r] = t.token[t.front[r]];
        pos[r] = T + level - 1;
    }
    if (threadIdx.x == 0)
        *slot0 = T + first;
    for (int e = threadIdx.x; e < k * C; e += blockDim.x) {
        const int r = e / C, j = e % C;
        const int src = level == 1 ? root_row : t.front_src[r];
        fc_in[(size_t)r * ld_fc + C + j] = f2bf(hid[(size_t)src * C + j]);
    }
}

extern "C" enum frs_status cuda_tree_frontier(struct cuda_tree_dev *t, int k, int level, const int32_t *target_len,
                                              const float *hid, int root_row, int C, uint16_t *fc_in, int ld_fc,
                                              int32_t *tok, int32_t *pos, int32_t *slot0, uint64_t *mask,
                                              cudaStream_t st)
{
    if (k < 1 || k > t->max_topk || level < 1 || level >= t->max_depth + 1)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_tree_frontier: topk %d, level %d", k, level);
    tree_frontier_kernel<<<1, TREE_THREADS, 0, st>>>(*t, k, level, target_len, hid, root_row, C, fc_in, ld_fc, tok,
                                                     pos, slot0, mask);
    FRS_LAUNCH_CHECK(tree_frontier_kernel);
    return FRS_OK;
}

__global__ void tree_finish_kernel(struct cuda_tree_dev t, int n_rec, int keep, const int32_t *root_token,
                                   struct frs_tree *out)
{
    extern __shared__ unsigned char kept[]; /* n_rec */
    __shared__ int bad;
    if (threadIdx.x == 0)
        bad = 0;
    for (int c = threadIdx.x; c < n_rec; c += blockDim.x)
        kept[c] = rank_of(t.score, n_rec, c) < keep;
    __syncthreads();
    /* creation order: node of a kept record = 1 + kept records before it */
    for (int c = threadIdx.x; c < n_rec; c += blockDim.x) {
        int node = -1;
        if (kept[c]) {
            node = 1;
            for (int j = 0; j < c; j++)
                node += kept[j];
        }
        t.node_of[c] = node;
    }
    __syncthreads();
    for (int c = threadIdx.x; c < n_rec; c += blockDim.x) {
        const int node = t.node_of[c];
        if (node < 0)
            continue;
        const int par = t.parent[c];
        const int pnode = par < 0 ? 0 : t.node_of[par];
        if (pnode < 0)
            atomicOr(&bad, 1);
        out->token[node] = t.token[c];
        out->parent[node] = pnode;
        out->depth[node] = t.depth_of[c];
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        out->n = bad ? -1 : keep + 1;
        out->token[0] = *root_token;
        out->parent[0] = -1;
        out->depth[0] = 0;
    }
}

extern "C" enum frs_status cuda_tree_finish(struct cuda_tree_dev *t, int k, int depth, int size,
                                            const int32_t *root_token, struct frs_tree *out, cudaStream_t st)
{
    if (k < 1 || k > t->max_topk || depth < 1 || depth > t->max_depth || size < 1 || size > FRS_MAX_TREE)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_tree_finish: topk %d, depth %d, size %d", k, depth, size);
    const int n_rec = cuda_tree_records(k, depth);
    const int keep = size - 1 < n_rec ? size - 1 : n_rec;
    tree_finish_kernel<<<1, TREE_THREADS, (size_t)n_rec, st>>>(*t, n_rec, keep, root_token, out);
    FRS_LAUNCH_CHECK(tree_finish_kernel);
    return FRS_OK;
}

__global__ void tree_verify_inputs_kernel(const struct frs_tree *tree, int n, const int32_t *target_len, int32_t *tok,
                                          int32_t *pos, uint64_t *mask)
{
    const int words = (n + 63) / 64, T = *target_len;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        tok[i] = tree->token[i];
        pos[i] = T + tree->depth[i];
        uint64_t *row = mask + (size_t)i * words;
        for (int w = 0; w < words; w++)
            row[w] = 0ull;
        for (int j = i; j >= 0; j = tree->parent[j])
            row[j >> 6] |= 1ull << (j & 63);
    }
}

extern "C" enum frs_status cuda_tree_verify_inputs(const struct frs_tree *tree, int n, const int32_t *target_len,
                                                   int32_t *tok, int32_t *pos, uint64_t *mask, cudaStream_t st)
{
    if (n < 1 || n > FRS_MAX_TREE)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_tree_verify_inputs: %d nodes", n);
    tree_verify_inputs_kernel<<<1, 128, 0, st>>>(tree, n, target_len, tok, pos, mask);
    FRS_LAUNCH_CHECK(tree_verify_inputs_kernel);
    return FRS_OK;
}

__global__ void keys_to_ids_kernel(const unsigned long long *keys, int n, int32_t *ids)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        ids[i] = frs_argmax_key_index(keys[i]);
}

extern "C" enum frs_status cuda_tree_set_argmax(struct frs_tree *tree, const uint64_t *keys, int n, cudaStream_t st)
{
    return cuda_keys_to_ids(keys, n, tree->argmax, st);
}

/* accept_walk (runtime/accept.c) on one warp. Every lane keeps the same walk state (cur, n_path,
 * removed), so the loops stay converged; the children of a node are found 32 candidates at a
 * time with a ballot and then tried in node order, as the host loop does. The uniforms are
 * frs_rng_uniform itself (rng.h compiled for the device) and the test is the host's double
 * expression u * (1.0 - removed) < (double)child_prob, operation for operation (no a*b+c to
 * contract), so the decisions are the host's bit for bit. accept_check_tree first: a tree that
 * fails it leaves *ok = 0 (the host walk then reports the error). */
#define ACCEPT_WARP 32
__global__ void tree_accept_kernel(const struct frs_tree *t, const uint64_t *seed_p, const uint64_t *draw0_p,
                                   struct frs_accept *out, int32_t *ok)
{
    __shared__ int32_t tok[FRS_MAX_TREE], par[FRS_MAX_TREE], dep[FRS_MAX_TREE], amax[FRS_MAX_TREE];
    __shared__ float cprob[FRS_MAX_TREE];
    __shared__ double u[FRS_MAX_TREE];
    const unsigned full = 0xffffffffu;
    const int lane = threadIdx.x;
    const int n = t->n;
    if (n < 1 || n > FRS_MAX_TREE) {
        if (lane == 0)
            *ok = 0;
        return;
    }
    const bool sampling = seed_p != NULL;
    const uint64_t seed = sampling ? *seed_p : 0;
    /* draw0 = frs_spec_draw(iter, 0) = FRS_SPEC_DRAW_BASE + frs_spec_index(iter, 0) (mod 2^64) */
    const uint64_t index0 = sampling ? *draw0_p - FRS_SPEC_DRAW_BASE : 0;
    for (int i = lane; i < n; i += ACCEPT_WARP) {
        tok[i] = t->token[i];
        par[i] = t->parent[i];
        dep[i] = t->depth[i];
        if (sampling) {
            cprob[i] = t->child_prob[i];
            u[i] = i ? frs_rng_uniform(seed, FRS_RNG_STREAM_ACCEPT, index0 + (uint64_t)i) : 0.0;
        } else {
            amax[i] = t->argmax[i];
        }
    }
    __syncwarp();
    /* accept_check_tree */
    int bad = lane == 0 && (par[0] != -1 || dep[0] != 0);
    for (int i = 1 + lane; i < n; i += ACCEPT_WARP) {
        const int p = par[i];
        if (p < 0 || p >= i) {
            bad = 1;
            continue;
        }
        if (dep[i] != dep[p] + 1)
            bad = 1;
        for (int j = p + 1; j < i; j++)
            if (par[j] == p && tok[j] == tok[i])
                bad = 1;
    }
    if (__any_sync(full, bad)) {
        if (lane == 0)
            *ok = 0;
        return;
    }
    int cur = 0, np = 1;
    if (lane == 0)
        out->path[0] = 0;
    for (;;) {
        int next = -1;
        if (!sampling) {
            const int32_t want = amax[cur];
            for (int c0 = cur + 1; c0 < n && next < 0; c0 += ACCEPT_WARP) {
                const int c = c0 + lane;
                const unsigned m = __ballot_sync(full, c < n && par[c] == cur && tok[c] == want);
                if (m)
                    next = c0 + __ffs(m) - 1;
            }
        } else {
            double removed = 0.0;
            for (int c0 = cur + 1; c0 < n && next < 0; c0 += ACCEPT_WARP) {
                const int c = c0 + lane;
                unsigned m = __ballot_sync(full, c < n && par[c] == cur);
                while (m) {
                    const int cc = c0 + __ffs(m) - 1;
                    m &= m - 1;
                    const double p = cprob[cc];
                    if (u[cc] * (1.0 - removed) < p) {
                        next = cc;
                        break;
                    }
                    removed += p;
                }
            }
        }
        if (next < 0)
            break;
        if (lane == 0) {
            out->tokens[np - 1] = tok[next];
            out->path[np] = next;
        }
        np++;
        cur = next;
    }
    if (lane == 0) {
        out->tokens[np - 1] = sampling ? t->residual[cur] : amax[cur];
        out->n_path = np;
        out->n_tokens = np;
        __threadfence();
        *ok = 1;
    }
}

extern "C" enum frs_status cuda_tree_accept(const struct frs_tree *tree, const uint64_t *seed, const uint64_t *draw0,
                                            struct frs_accept *out, int32_t *ok, cudaStream_t st)
{
    if ((seed == NULL) != (draw0 == NULL))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_tree_accept: seed and draw0 must both be given (sampling) or "
                       "both be NULL (greedy)");
    tree_accept_kernel<<<1, ACCEPT_WARP, 0, st>>>(tree, seed, draw0, out, ok);
    FRS_LAUNCH_CHECK(tree_accept_kernel);
    return FRS_OK;
}

extern "C" enum frs_status cuda_keys_to_ids(const uint64_t *keys, int n, int32_t *ids, cudaStream_t st)
{
    if (n <= 0)
        return FRS_OK;
    keys_to_ids_kernel<<<(n + 127) / 128, 128, 0, st>>>((const unsigned long long *)keys, n, ids);
    FRS_LAUNCH_CHECK(keys_to_ids_kernel);
    return FRS_OK;
}

__global__ void seq_positions_kernel(const int32_t *base, int add, int n, int32_t *pos, int32_t *slot0)
{
    const int b = *base + add;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        pos[i] = b + i;
    if (slot0 && blockIdx.x == 0 && threadIdx.x == 0)
        *slot0 = b;
}

extern "C" enum frs_status cuda_seq_positions(const int32_t *base, int add, int n, int32_t *pos, int32_t *slot0,
                                              cudaStream_t st)
{
    if (n <= 0)
        return FRS_OK;
    seq_positions_kernel<<<(n + 255) / 256 < 64 ? (n + 255) / 256 : 64, 256, 0, st>>>(base, add, n, pos, slot0);
    FRS_LAUNCH_CHECK(seq_positions_kernel);
    return FRS_OK;
}

__global__ void add_i32_kernel(int32_t *x, int32_t v) { *x += v; }

extern "C" enum frs_status cuda_add_i32(int32_t *x, int32_t v, cudaStream_t st)
{
    add_i32_kernel<<<1, 1, 0, st>>>(x, v);
    FRS_LAUNCH_CHECK(add_i32_kernel);
    return FRS_OK;
}

struct i32_param {
    int32_t v[FRS_MAX_TREE];
};

__global__ void set_i32_kernel(int32_t *x, struct i32_param v, int n)
{
    if (threadIdx.x < n)
        x[threadIdx.x] = v.v[threadIdx.x];
}

extern "C" enum frs_status cuda_set_i32(int32_t *x, const int32_t *v, int n, cudaStream_t st)
{
    if (n < 1 || n > FRS_MAX_TREE)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_set_i32: %d values (1..%d)", n, FRS_MAX_TREE);
    struct i32_param a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < n; i++)
        a.v[i] = v[i];
    set_i32_kernel<<<1, FRS_MAX_TREE, 0, st>>>(x, a, n);
    FRS_LAUNCH_CHECK(set_i32_kernel);
    return FRS_OK;
}

__global__ void store_rows_kernel(uint16_t *dst, int ld, const int32_t *base, int add, const uint16_t *src, int cols,
                                  const int32_t *src_rows)
{
    const int j = blockIdx.y;
    const size_t to = (size_t)(*base + add + j) * ld, from = (size_t)(src_rows ? src_rows[j] : j) * cols;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < cols; e += gridDim.x * blockDim.x)
        dst[to + e] = src[from + e];
}

extern "C" enum frs_status cuda_store_rows(uint16_t *dst, int ld, const int32_t *base, int add, const uint16_t *src,
                                           int cols, const int32_t *src_rows, int n, cudaStream_t st)
{
    if (n <= 0 || cols <= 0)
        return FRS_OK;
    const int bx = (cols + 255) / 256 < 32 ? (cols + 255) / 256 : 32;
    store_rows_kernel<<<dim3(bx, n), 256, 0, st>>>(dst, ld, base, add, src, cols, src_rows);
    FRS_LAUNCH_CHECK(store_rows_kernel);
    return FRS_OK;
}

__global__ void load_rows_kernel(uint16_t *dst, int ld_dst, const uint16_t *src, int ld_src, const int32_t *base,
                                 int add, int cols)
{
    const int j = blockIdx.y;
    const size_t to = (size_t)j * ld_dst, from = (size_t)(*base + add + j) * ld_src;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < cols; e += gridDim.x * blockDim.x)
        dst[to + e] = src[from + e];
}

extern "C" enum frs_status cuda_load_rows(uint16_t *dst, int ld_dst, const uint16_t *src, int ld_src,
                                          const int32_t *base, int add, int cols, int n, cudaStream_t st)
{
    if (n <= 0 || cols <= 0)
        return FRS_OK;
    const int bx = (cols + 255) / 256 < 32 ? (cols + 255) / 256 : 32;
    load_rows_kernel<<<dim3(bx, n), 256, 0, st>>>(dst, ld_dst, src, ld_src, base, add, cols);
    FRS_LAUNCH_CHECK(load_rows_kernel);
    return FRS_OK;
}
