/* accept.c - the host acceptance walk over a verified tree (greedy and lossless rejection
 * sampling), shared by every backend, and accept_verified, which prefers the backend's own walk
 * (the CUDA backend's device walk); see accept.h. */
#include "accept.h"

#include <stddef.h>

#include "rng.h"

enum frs_status accept_check_tree(const struct frs_tree *t)
{
    if (t->n < 1 || t->n > FRS_MAX_TREE)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "accept: tree size %d outside [1, %d]", t->n, FRS_MAX_TREE);
    if (t->parent[0] != -1 || t->depth[0] != 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "accept: node 0 must be the root (parent %d, depth %d)",
                       (int)t->parent[0], (int)t->depth[0]);
    for (int i = 1; i < t->n; i++) {
        const int p = t->parent[i];
        if (p < 0 || p >= i)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "accept: node %d has parent %d (must be in [0, %d))", i, p, i);
        if (t->depth[i] != t->depth[p] + 1)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "accept: node %d has depth %d, its parent %d depth %d", i,
                           (int)t->depth[i], p, (int)t->depth[p]);
        for (int j = p + 1; j < i; j++)
            if (t->parent[j] == p && t->token[j] == t->token[i])
                return FRS_ERR(FRS_ERR_INVALID_ARG, "accept: nodes %d and %d under parent %d share token %d",
                               j, i, p, (int)t->token[i]);
    }
    return FRS_OK;
}

enum frs_status accept_walk_uniforms(const struct frs_tree *t, const double *u, struct frs_accept *out)
{
    FRS_TRY(accept_check_tree(t));
    int cur = 0, n = 1;
    out->path[0] = 0;
    for (;;) {
        int next = -1;
        if (!u) {
            for (int c = cur + 1; c < t->n; c++)
                if (t->parent[c] == cur && t->token[c] == t->argmax[cur]) {
                    next = c;
                    break;
                }
        } else {
            double removed = 0.0;
            for (int c = cur + 1; c < t->n; c++) {
                if (t->parent[c] != cur)
                    continue;
                const double p = t->child_prob[c];
                if (u[c] * (1.0 - removed) < p) {
                    next = c;
                    break;
                }
                removed += p;
            }
        }
        if (next < 0)
            break;
        out->tokens[n - 1] = t->token[next];
        out->path[n++] = next;
        cur = next;
    }
    out->tokens[n - 1] = u ? t->residual[cur] : t->argmax[cur];
    out->n_path = n;
    out->n_tokens = n;
    return FRS_OK;
}

enum frs_status accept_walk(const struct frs_tree *t, const struct frs_sampling *s, uint64_t iter,
                            struct frs_accept *out)
{
    if (s->temperature <= 0.0f)
        return accept_walk_uniforms(t, NULL, out);
    double u[FRS_MAX_TREE];
    const int n = t->n < FRS_MAX_TREE ? t->n : FRS_MAX_TREE;
    u[0] = 0.0;
    for (int c = 1; c < n; c++)
        u[c] = frs_rng_uniform(s->seed, FRS_RNG_STREAM_ACCEPT, frs_spec_index(iter, c));
    return accept_walk_uniforms(t, u, out);
}

enum frs_status accept_verified(struct frs_backend *be, const struct frs_tree *t, const struct frs_sampling *s,
                                uint64_t iter, struct frs_accept *out)
{
    if (be->ops->accept) {
        int done = 0;
        FRS_TRY(be->ops->accept(be, s, iter, out, &done));
        if (done)
            return FRS_OK;
    }
    return accept_walk(t, s, iter, out);
}
