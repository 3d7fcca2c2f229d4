/* accept.h - the acceptance walk over a verified draft tree, shared by every backend. Where it
 * runs: a backend may do the walk itself right after verify and report it through its optional
 * accept op (the CUDA backend runs it on the device inside verify, kernels/cuda_tree.cu
 * cuda_tree_accept, and its result comes back with verify's one read-back); otherwise, and for the
 * CPU backend, accept_walk runs on the host. accept_verified picks one: engine.c's single path.
 *
 * Since issue 14 the engines (engine.c, batch_engine.c) walk greedily at every temperature:
 * verify fills argmax[] with the token chosen after each node, keyed by position (batch.h), so
 * the greedy walk gives exactly autoregressive sampling's tokens. The sampling walk below stays
 * for the tests of its rule and for a backend's device walk.
 *
 * Greedy (temperature <= 0): from the root, step to the child whose token equals the target's
 * argmax at the current node while one exists; the bonus token is the argmax at the last node.
 * Output is then token-identical to plain greedy decoding.
 * Sampling: at each node try the children in node order; child c is accepted with probability
 * p(c) / (1 - removed), removed being the mass of the children already rejected (the draft is a
 * deterministic proposal, q = 1, and one parent's children carry distinct tokens); tested as
 * u_c * (1 - removed) < p(c) with u_c = frs_rng_uniform(seed, FRS_RNG_STREAM_ACCEPT,
 * frs_spec_index(iter, c)). When every child is rejected (or at a leaf) the bonus is the
 * residual draw verify made at that node (the target distribution without those children).
 * Each step then outputs exactly the target's p, so the sequence keeps the target's
 * distribution (EAGLE utils.py evaluate_posterior).
 *
 * Random numbers (counter-based, rng.h), all keyed by the request's seed:
 *  - acceptance uniform of child c in iteration iter: stream FRS_RNG_STREAM_ACCEPT, index
 *    frs_spec_index(iter, c) = iter * FRS_MAX_TREE + c;
 *  - verify's residual draw at node i (sampling_draw's draw index, i.e. the Gumbel stream):
 *    frs_spec_draw(iter, i) = FRS_SPEC_DRAW_BASE + iter * FRS_MAX_TREE + i.
 * The engine's own next_token draws must stay below FRS_RNG_STREAM_ACCEPT (they are token
 * positions) so that no two decisions share noise; iter must not repeat within a request.
 *
 * Output: path (node indices, path[0] = 0), n_path >= 1, and n_tokens = n_path tokens: the
 * tokens of path[1..] then the bonus. Those are the next draft_tree()'s next_tokens, and
 * commit(path, n_path) keeps the path's KV rows.
 *
 * defines: struct frs_accept, accept_walk, accept_walk_uniforms, accept_check_tree, accept_verified,
 *          frs_spec_index, frs_spec_draw, FRS_RNG_STREAM_ACCEPT, FRS_SPEC_DRAW_BASE
 */
#ifndef FRSPEC_ACCEPT_H
#define FRSPEC_ACCEPT_H

#include <stdint.h>

#include "backend.h"
#include "rng.h" /* FRS_HD */
#include "status.h"

#define FRS_RNG_STREAM_ACCEPT 0x616363ull /* "acc" */
#define FRS_SPEC_DRAW_BASE 0x8000000000000000ull

FRS_HD static inline uint64_t frs_spec_index(uint64_t iter, int node)
{
    return iter * FRS_MAX_TREE + (uint64_t)node;
}

FRS_HD static inline uint64_t frs_spec_draw(uint64_t iter, int node)
{
    return FRS_SPEC_DRAW_BASE + frs_spec_index(iter, node);
}

struct frs_accept {
    int n_path;                    /* nodes kept, root included */
    int32_t path[FRS_MAX_TREE];    /* node indices, path[0] = 0 */
    int n_tokens;                  /* = n_path: accepted draft tokens + the bonus */
    int32_t tokens[FRS_MAX_TREE];  /* tokens of path[1..], then the bonus */
};

/* Structure check: 1 <= n <= FRS_MAX_TREE, parent[0] = -1, depth[0] = 0, 0 <= parent[i] < i,
 * depth[i] = depth[parent[i]] + 1, one parent's children carry distinct tokens. */
enum frs_status accept_check_tree(const struct frs_tree *tree);

enum frs_status accept_walk(const struct frs_tree *tree, const struct frs_sampling *s, uint64_t iter,
                            struct frs_accept *out);

/* The same walk with given uniforms: u[c] is child c's acceptance uniform (u[0] unused); with
 * u == NULL the walk is greedy. For tests and for backends that draw the uniforms themselves. */
enum frs_status accept_walk_uniforms(const struct frs_tree *tree, const double *u, struct frs_accept *out);

/* After be->ops->verify(be, s, iter, tree): the backend's own walk when it offers one for this
 * verify (ops->accept), else accept_walk(tree, s, iter) on the host. Same result either way. */
enum frs_status accept_verified(struct frs_backend *be, const struct frs_tree *tree, const struct frs_sampling *s,
                                uint64_t iter, struct frs_accept *out);

#endif
