/* tree.h - EAGLE-2 dynamic draft tree construction from score tables, in pure C (no model).
 *
 * Used by the CPU backend (runtime/cpu_spec.c) and the reference for the CUDA tree kernels.
 * Follows EAGLE-2 (SafeAILab/EAGLE, cnets.py topK_genrate):
 *   first:   the draft's top-k at the root row -> k depth-1 candidates, score = log-prob; the
 *            frontier is all k of them.
 *   expand:  each frontier node's own top-k (its draft row, all frontier rows at one shared
 *            position) -> k*k candidates at the next depth, score = parent score + log-prob; all
 *            are recorded; the new frontier is the global top-k of the k*k by score.
 *   finish:  keep the top (size - 1) recorded candidates by score plus the root; output in
 *            creation order (parents before children); node i's verify mask = its ancestors and
 *            itself, its position offset = its depth.
 * Order and ties: every selection sorts by score descending, ties to the earlier-created
 * candidate (cpu_topk's rule). A child's score is <= its parent's score (log-probs <= 0) and the
 * parent is created earlier, so the kept set is closed under ancestors; finish() checks this.
 *
 * The frontier nodes forwarded through the draft occupy draft KV "tree slots" in forwarding
 * order (depth-1 frontier: slots 0..k-1, the next frontier after them, ...); a frontier row
 * attends to the draft's prefix and to the tree slots of its own ancestors and itself
 * (tree_build_frontier_mask).
 *
 * defines: struct tree_build, tree_build_init, tree_build_free, tree_build_begin,
 *          tree_build_first, tree_build_expand, tree_build_frontier_mask, tree_build_finish,
 *          tree_mask_ancestors, tree_draft_rows, FRS_MASK_WORDS
 */
#ifndef FRSPEC_TREE_H
#define FRSPEC_TREE_H

#include <stdint.h>

/* uint64 words of one mask row over n columns (tree masks, the attention masks of cpu_ops.h and
 * kernels/: bit j of row i set = row i sees column j) */
#define FRS_MASK_WORDS(n) (((n) + 63) / 64)

#include "backend.h"
#include "status.h"

struct tree_build {
    /* capacity, fixed at init */
    int max_topk, max_depth, cap;
    /* current tree */
    int topk, depth, size;
    int level;          /* depth of the current frontier (1 after first) */
    int n_rec;          /* recorded candidates */
    float *score;       /* (cap) cumulative log-prob */
    int32_t *token;     /* (cap) full token id */
    int32_t *parent;    /* (cap) record index of the parent, -1 = the root */
    int32_t *depth_of;  /* (cap) 1.. */
    int32_t *slot;      /* (cap) tree slot once forwarded as a frontier node, else -1 */
    int n_slots;        /* tree slots assigned so far */
    int n_front;
    int32_t *front;     /* (max_topk) record indices of the frontier, best first */
    int32_t *front_src; /* (max_topk) after expand: the previous frontier row each came from */
    int32_t *order;     /* (cap) scratch: kept record indices */
    int32_t *node_of;   /* (cap) scratch: record -> output node, -1 when not kept */
    float *vals;        /* (cap) scratch: selected scores */
};

/* Capacity for trees with topk <= max_topk and depth <= max_depth. */
enum frs_status tree_build_init(struct tree_build *tb, int max_topk, int max_depth);
void tree_build_free(struct tree_build *tb);
/* Start a tree; checks p against the capacity (1 <= depth, 1 <= topk, 1 <= size <= FRS_MAX_TREE). */
enum frs_status tree_build_begin(struct tree_build *tb, const struct frs_tree_params *p);
/* Root row's top-k: logp[j], token[j] (descending, j < topk). Records them at depth 1. */
void tree_build_first(struct tree_build *tb, const float *logp, const int32_t *token);
/* Each frontier row r's top-k: logp[r*topk + j], token[r*topk + j] (r < n_front). Records the
 * n_front*topk candidates one depth down; sets the new frontier and front_src. */
void tree_build_expand(struct tree_build *tb, const float *logp, const int32_t *token);
/* Assign tree slots to the current frontier (in frontier order, after the slots used so far)
 * and write its draft mask: row r (r < n_front) over *n_cols = all slots so far, bit s set when
 * slot s is r's own or an ancestor's. mask holds n_front * FRS_MASK_WORDS(*n_cols) words
 * (at most max_topk * FRS_MASK_WORDS(max_topk * max_depth)). Returns the first new slot. */
int tree_build_frontier_mask(struct tree_build *tb, uint64_t *mask, int *n_cols);
/* Keep the root + top (size - 1) candidates; fill out->n, token, parent, depth (root token
 * root_token, parent -1, depth 0). FRS_ERR_INTERNAL if the kept set is not closed under
 * ancestors (cannot happen with log-prob scores <= 0). */
enum frs_status tree_build_finish(struct tree_build *tb, int32_t root_token, struct frs_tree *out);

/* Verify mask of a tree: row i (FRS_MASK_WORDS(t->n) words) has bit j set when node j is i or
 * one of i's ancestors. mask holds t->n * FRS_MASK_WORDS(t->n) words. */
void tree_mask_ancestors(const struct frs_tree *t, uint64_t *mask);

/* Draft KV rows a tree of shape p uses past the draft prefix: the frontiers forwarded at
 * depths 1..depth-1, topk rows each (tree slots 0..(depth-1)*topk-1, at draft positions
 * target_len + slot). The batched engine reserves max(p->size, tree_draft_rows(p)) positions
 * past target_len. */
static inline int tree_draft_rows(const struct frs_tree_params *p)
{
    return p->depth > 1 ? (p->depth - 1) * p->topk : 0;
}

#endif
