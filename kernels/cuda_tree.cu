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

static __host__ __device__ size_t al16(size_t b) { return (b + 15) & ~(size_t)15; }

extern "C" size_t cuda_tree_dev_bytes(int max_topk, int max_depth)
{
    const size_t cap = (size_t)cuda_tree_records(max_topk, max_depth);
    return al16(cap * 4) * 6 + al16((size_t)max_topk * 4) * 2;
}

/* the builder's arrays in mem, on the host (cuda_tree_dev_carve) and in the batched kernels (one
 * builder per slot) */
static __host__ __device__ void tree_carve(struct cuda_tree_dev *t, void *mem, int max_topk, int max_depth)
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

extern "C" void cuda_tree_dev_carve(struct cuda_tree_dev *t, void *mem, int max_topk, int max_depth)
{
    tree_carve(t, mem, max_topk, max_depth);
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

/* The bodies below run in one block: the single-tree kernels' and the batched ones' (a block per
 * sequence), so both build the same trees. */
static __device__ void tree_first_body(const struct cuda_tree_dev &t, int k, const float *vals, const int32_t *tok)
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

__global__ void tree_first_kernel(struct cuda_tree_dev t, int k, const float *vals, const int32_t *tok)
{
    tree_first_body(t, k, vals, tok);
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

/* frontier row r's top-k at vals[r * ld + j] / tok[r * ld + j] (j < k) */
static __device__ void tree_expand_body(const struct cuda_tree_dev &t, int k, int level, const float *vals,
                                        const int32_t *tok, int ld)
{
    __shared__ int nf_idx[64];
    const int base = cuda_tree_records(k, level), m = k * k;
    for (int e = threadIdx.x; e < m; e += blockDim.x) {
        const int par = t.front[e / k], c = base + e;
        const int at = (e / k) * ld + e % k;
        t.score[c] = t.score[par] + vals[at];
        t.token[c] = tok[at];
        t.parent[c] = par;
        t.depth_of[c] = level + 1;
        t.slot[c] = -1;
    }
    for (int j = threadIdx.x; j < k; j += blockDim.x)
        nf_idx[j] = j; /* overwritten below; keeps the frontier valid should NaN scores tie every rank */
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

__global__ void tree_expand_kernel(struct cuda_tree_dev t, int k, int level, const float *vals, const int32_t *tok)
{
    tree_expand_body(t, k, level, vals, tok, k);
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

/* tree_build_frontier_mask's slots: the frontier of depth `level` at slots (level - 1) k + r; the
 * block synchronises after */
static __device__ void tree_assign_slots(const struct cuda_tree_dev &t, int k, int level)
{
    for (int r = threadIdx.x; r < k; r += blockDim.x)
        t.slot[t.front[r]] = (level - 1) * k + r;
    __syncthreads();
}

/* frontier row r's mask (words words): its own and its ancestors' tree slots */
static __device__ void tree_mask_row(const struct cuda_tree_dev &t, int r, uint64_t *row, int words)
{
    for (int w = 0; w < words; w++)
        row[w] = 0ull;
    for (int c = t.front[r]; c >= 0; c = t.parent[c]) {
        const int s = t.slot[c];
        if (s >= 0)
            row[s >> 6] |= 1ull << (s & 63);
    }
}

__global__ void tree_frontier_kernel(struct cuda_tree_dev t, int k, int level, const int32_t *target_len,
                                     const float *hid, int root_row, int C, uint16_t *fc_in, int ld_fc, int32_t *tok,
                                     int32_t *pos, int32_t *slot0, uint64_t *mask)
{
    const int first = (level - 1) * k, words = (level * k + 63) / 64;
    const int T = *target_len;
    tree_assign_slots(t, k, level);
    for (int r = threadIdx.x; r < k; r += blockDim.x) {
        tree_mask_row(t, r, mask + (size_t)r * words, words);
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

/* kept: n_rec bytes of shared memory */
static __device__ void tree_finish_body(const struct cuda_tree_dev &t, int n_rec, int keep, int32_t root_token,
                                        struct frs_tree *out, unsigned char *kept)
{
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
        if (node > keep || node >= FRS_MAX_TREE) { /* more kept than asked: NaN scores (no unique ranks) */
            atomicOr(&bad, 1);
            continue;
        }
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
        out->token[0] = root_token;
        out->parent[0] = -1;
        out->depth[0] = 0;
    }
}

__global__ void tree_finish_kernel(struct cuda_tree_dev t, int n_rec, int keep, const int32_t *root_token,
                                   struct frs_tree *out)
{
    extern __shared__ unsigned char kept[]; /* n_rec */
    tree_finish_body(t, n_rec, keep, *root_token, out, kept);
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

/* ---- the batched draft's trees: a block per sequence, its builder at mem + slot * stride ---- */

static __device__ void tree_batch_seq(const struct cuda_tree_batch &b, const struct cuda_tree_seq *&q,
                                      struct cuda_tree_dev &t)
{
    q = b.seqs + blockIdx.x;
    tree_carve(&t, (char *)b.mem + (size_t)q->slot * b.stride, b.max_topk, b.max_depth);
}

__global__ void tree_batch_first_kernel(struct cuda_tree_batch b, const float *vals, const int32_t *tok, int ld)
{
    const struct cuda_tree_seq *q;
    struct cuda_tree_dev t;
    tree_batch_seq(b, q, t);
    tree_first_body(t, q->k, vals + (size_t)blockIdx.x * ld, tok + (size_t)blockIdx.x * ld);
}

__global__ void tree_batch_frontier_kernel(struct cuda_tree_batch b, int level, struct cuda_tree_rows o)
{
    const struct cuda_tree_seq *q;
    struct cuda_tree_dev t;
    tree_batch_seq(b, q, t);
    if (q->depth <= level)
        return; /* not growing at this depth (the whole block) */
    const int k = q->k, T = q->T, first = (level - 1) * k, base = q->base[level];
    tree_assign_slots(t, k, level);
    for (int r = threadIdx.x; r < k; r += blockDim.x) {
        const int row = base + r, p = T + first + r;
        tree_mask_row(t, r, o.mask + (size_t)row * o.mask_words, o.mask_words);
        o.tok[row] = t.token[t.front[r]];
        o.pos[row] = T + level - 1;
        o.phys[row] = o.tables[(size_t)q->table * o.table_w + p / o.kv_block] * o.kv_block + p % o.kv_block;
        o.gidx[row] = level == 1 ? (int)blockIdx.x : q->base[level - 1] + t.front_src[r];
        o.seq[row] = q->table;
        o.prefix[row] = T;
        o.local[row] = first + r;
        o.ncols[row] = level * k;
    }
}

__global__ void tree_batch_expand_kernel(struct cuda_tree_batch b, int level, const float *vals, const int32_t *tok,
                                         int ld)
{
    const struct cuda_tree_seq *q;
    struct cuda_tree_dev t;
    tree_batch_seq(b, q, t);
    if (q->depth <= level)
        return;
    const size_t at = (size_t)q->base[level] * ld;
    tree_expand_body(t, q->k, level, vals + at, tok + at, ld);
}

__global__ void tree_batch_finish_kernel(struct cuda_tree_batch b, struct frs_tree *out)
{
    extern __shared__ unsigned char kept[]; /* the largest n_rec of the op */
    const struct cuda_tree_seq *q;
    struct cuda_tree_dev t;
    tree_batch_seq(b, q, t);
    const int n_rec = cuda_tree_records(q->k, q->depth);
    const int keep = q->size - 1 < n_rec ? q->size - 1 : n_rec;
    tree_finish_body(t, n_rec, keep, q->root, out + blockIdx.x, kept);
}

static enum frs_status tree_batch_check(const struct cuda_tree_batch *b, int n, const char *what)
{
    if (n < 1 || !b->mem || !b->seqs || b->max_topk < 1 || b->max_topk > 32 || b->max_depth < 1 ||
        b->max_depth > FRS_MAX_TREE_DEPTH || b->stride < cuda_tree_dev_bytes(b->max_topk, b->max_depth) ||
        (b->stride & 15))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "%s: %d sequences, builders of topk %d depth %d at stride %zu", what, n,
                       b->max_topk, b->max_depth, b->stride);
    return FRS_OK;
}

extern "C" enum frs_status cuda_tree_batch_first(const struct cuda_tree_batch *b, int n, const float *vals,
                                                 const int32_t *tok, int ld, cudaStream_t st)
{
    FRS_TRY(tree_batch_check(b, n, "cuda_tree_batch_first"));
    tree_batch_first_kernel<<<n, 64, 0, st>>>(*b, vals, tok, ld);
    FRS_LAUNCH_CHECK(tree_batch_first_kernel);
    return FRS_OK;
}

extern "C" enum frs_status cuda_tree_batch_frontier(const struct cuda_tree_batch *b, int n, int level,
                                                    const struct cuda_tree_rows *rows, cudaStream_t st)
{
    FRS_TRY(tree_batch_check(b, n, "cuda_tree_batch_frontier"));
    if (level < 1 || level >= b->max_depth || rows->mask_words < 1 || rows->table_w < 1 || rows->kv_block < 1)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_tree_batch_frontier: level %d, mask words %d, table width %d, "
                       "kv block %d", level, rows->mask_words, rows->table_w, rows->kv_block);
    tree_batch_frontier_kernel<<<n, 128, 0, st>>>(*b, level, *rows);
    FRS_LAUNCH_CHECK(tree_batch_frontier_kernel);
    return FRS_OK;
}

extern "C" enum frs_status cuda_tree_batch_expand(const struct cuda_tree_batch *b, int n, int level,
                                                  const float *vals, const int32_t *tok, int ld, cudaStream_t st)
{
    FRS_TRY(tree_batch_check(b, n, "cuda_tree_batch_expand"));
    if (level < 1 || level + 1 > b->max_depth || ld < 1)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_tree_batch_expand: level %d, row stride %d", level, ld);
    tree_batch_expand_kernel<<<n, TREE_THREADS, 0, st>>>(*b, level, vals, tok, ld);
    FRS_LAUNCH_CHECK(tree_batch_expand_kernel);
    return FRS_OK;
}

extern "C" enum frs_status cuda_tree_batch_finish(const struct cuda_tree_batch *b, int n, int max_rec,
                                                  struct frs_tree *out, cudaStream_t st)
{
    FRS_TRY(tree_batch_check(b, n, "cuda_tree_batch_finish"));
    if (max_rec < 1 || max_rec > cuda_tree_records(b->max_topk, b->max_depth))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "cuda_tree_batch_finish: %d records", max_rec);
    tree_batch_finish_kernel<<<n, TREE_THREADS, (size_t)max_rec, st>>>(*b, out);
    FRS_LAUNCH_CHECK(tree_batch_finish_kernel);
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
