/* tree.c - EAGLE-2 dynamic tree construction from score tables (see tree.h). Pure C, no model:
 * the CPU backend feeds it the draft's top-k rows; the CUDA kernels are checked against it. */
#include "tree.h"

#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"

enum frs_status tree_build_init(struct tree_build *tb, int max_topk, int max_depth)
{
    memset(tb, 0, sizeof *tb);
    if (max_topk < 1 || max_depth < 1)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "tree_build_init: max_topk %d and max_depth %d must be >= 1",
                       max_topk, max_depth);
    tb->max_topk = max_topk;
    tb->max_depth = max_depth;
    tb->cap = max_topk + (max_depth - 1) * max_topk * max_topk;
    const size_t cap = (size_t)tb->cap;
    tb->score = malloc(cap * sizeof(float));
    tb->vals = malloc(cap * sizeof(float));
    tb->token = malloc(cap * sizeof(int32_t));
    tb->parent = malloc(cap * sizeof(int32_t));
    tb->depth_of = malloc(cap * sizeof(int32_t));
    tb->slot = malloc(cap * sizeof(int32_t));
    tb->order = malloc(cap * sizeof(int32_t));
    tb->node_of = malloc(cap * sizeof(int32_t));
    tb->front = malloc((size_t)max_topk * sizeof(int32_t));
    tb->front_src = malloc((size_t)max_topk * sizeof(int32_t));
    if (!tb->score || !tb->vals || !tb->token || !tb->parent || !tb->depth_of || !tb->slot ||
        !tb->order || !tb->node_of || !tb->front || !tb->front_src) {
        tree_build_free(tb);
        return FRS_ERR(FRS_ERR_OOM, "tree_build_init: cannot allocate %d candidates", (int)cap);
    }
    return FRS_OK;
}

void tree_build_free(struct tree_build *tb)
{
    free(tb->score);
    free(tb->vals);
    free(tb->token);
    free(tb->parent);
    free(tb->depth_of);
    free(tb->slot);
    free(tb->order);
    free(tb->node_of);
    free(tb->front);
    free(tb->front_src);
    memset(tb, 0, sizeof *tb);
}

enum frs_status tree_build_begin(struct tree_build *tb, const struct frs_tree_params *p)
{
    if (p->depth < 1 || p->topk < 1 || p->size < 1)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "tree: depth %d, topk %d and size %d must be >= 1", p->depth,
                       p->topk, p->size);
    if (p->size > FRS_MAX_TREE)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "tree: size %d exceeds FRS_MAX_TREE %d", p->size, FRS_MAX_TREE);
    if (p->topk > tb->max_topk || p->depth > tb->max_depth)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "tree: topk %d / depth %d exceed this builder's limits %d / %d",
                       p->topk, p->depth, tb->max_topk, tb->max_depth);
    tb->topk = p->topk;
    tb->depth = p->depth;
    tb->size = p->size;
    tb->level = 0;
    tb->n_rec = 0;
    tb->n_slots = 0;
    tb->n_front = 0;
    return FRS_OK;
}

void tree_build_first(struct tree_build *tb, const float *logp, const int32_t *token)
{
    const int k = tb->topk;
    for (int j = 0; j < k; j++) {
        tb->score[j] = logp[j];
        tb->token[j] = token[j];
        tb->parent[j] = -1;
        tb->depth_of[j] = 1;
        tb->slot[j] = -1;
        tb->front[j] = j;
        tb->front_src[j] = 0;
    }
    tb->n_rec = k;
    tb->n_front = k;
    tb->level = 1;
}

void tree_build_expand(struct tree_build *tb, const float *logp, const int32_t *token)
{
    const int k = tb->topk, nf = tb->n_front, base = tb->n_rec;
    for (int r = 0; r < nf; r++) {
        const int par = tb->front[r];
        for (int j = 0; j < k; j++) {
            const int c = base + r * k + j;
            tb->score[c] = tb->score[par] + logp[r * k + j];
            tb->token[c] = token[r * k + j];
            tb->parent[c] = par;
            tb->depth_of[c] = tb->level + 1;
            tb->slot[c] = -1;
        }
    }
    tb->n_rec = base + nf * k;
    /* new frontier: global top-k of the nf*k candidates, ties to the earlier-created one */
    cpu_topk(tb->score + base, nf * k, k, tb->vals, tb->front);
    for (int j = 0; j < k; j++) {
        tb->front_src[j] = tb->front[j] / k;
        tb->front[j] += base;
    }
    tb->n_front = k;
    tb->level++;
}

int tree_build_frontier_mask(struct tree_build *tb, uint64_t *mask, int *n_cols)
{
    const int first = tb->n_slots;
    for (int r = 0; r < tb->n_front; r++)
        tb->slot[tb->front[r]] = first + r;
    tb->n_slots = first + tb->n_front;
    const int words = FRS_MASK_WORDS(tb->n_slots);
    memset(mask, 0, (size_t)tb->n_front * words * sizeof(uint64_t));
    for (int r = 0; r < tb->n_front; r++) {
        uint64_t *row = mask + (size_t)r * words;
        for (int c = tb->front[r]; c >= 0; c = tb->parent[c]) {
            const int s = tb->slot[c]; /* every ancestor of a frontier node was a frontier node */
            if (s >= 0)
                row[s / 64] |= 1ull << (s % 64);
        }
    }
    *n_cols = tb->n_slots;
    return first;
}

enum frs_status tree_build_finish(struct tree_build *tb, int32_t root_token, struct frs_tree *out)
{
    int keep = tb->size - 1;
    if (keep > tb->n_rec)
        keep = tb->n_rec;
    if (keep > 0)
        cpu_topk(tb->score, tb->n_rec, keep, tb->vals, tb->order);
    /* creation order: parents before children (insertion sort, keep <= FRS_MAX_TREE - 1) */
    for (int i = 1; i < keep; i++) {
        int32_t v = tb->order[i];
        int j = i;
        while (j > 0 && tb->order[j - 1] > v) {
            tb->order[j] = tb->order[j - 1];
            j--;
        }
        tb->order[j] = v;
    }
    for (int i = 0; i < tb->n_rec; i++)
        tb->node_of[i] = -1;
    out->n = keep + 1;
    out->token[0] = root_token;
    out->parent[0] = -1;
    out->depth[0] = 0;
    for (int i = 0; i < keep; i++) {
        const int c = tb->order[i];
        const int par = tb->parent[c];
        const int pnode = par < 0 ? 0 : tb->node_of[par];
        if (pnode < 0)
            return FRS_ERR(FRS_ERR_INTERNAL,
                           "tree: kept candidate %d (score %g) has its parent %d (score %g) cut: "
                           "non-finite or positive draft log-probs?",
                           c, (double)tb->score[c], par, (double)tb->score[par]);
        tb->node_of[c] = i + 1;
        out->token[i + 1] = tb->token[c];
        out->parent[i + 1] = pnode;
        out->depth[i + 1] = tb->depth_of[c];
    }
    return FRS_OK;
}

void tree_mask_ancestors(const struct frs_tree *t, uint64_t *mask)
{
    const int words = FRS_MASK_WORDS(t->n);
    memset(mask, 0, (size_t)t->n * words * sizeof(uint64_t));
    for (int i = 0; i < t->n; i++) {
        uint64_t *row = mask + (size_t)i * words;
        if (t->parent[i] >= 0)
            memcpy(row, mask + (size_t)t->parent[i] * words, (size_t)words * sizeof(uint64_t));
        row[i / 64] |= 1ull << (i % 64);
    }
}
