/* accept.h - the acceptance walk over a verified draft tree, shared by every backend (it runs
 * on the host after verify's one read-back).
 *
 * Greedy (temperature <= 0): from the root, step to the child whose token equals the target's
 * argmax at the current node while one exists; the bonus token is the argmax at the last node.
 * Output is then token-identical to plain greedy decoding.
 * Sampling: at each node try the children in node order; child c is accepted with probability
 * p(c) / (1 - removed), removed being the mass of the children already rejected (the draft is a
 * deterministic proposal, q = 1); uniforms frs_rng_uniform(seed, FRS_RNG_STREAM_ACCEPT,
 * iter * FRS_MAX_TREE + c). When every child is rejected (or at a leaf) the bonus is the
 * residual draw verify made at that node (the target distribution without those children). This
 * keeps the target's distribution exactly (EAGLE utils.py evaluate_posterior).
 *
 * defines: struct frs_accept, accept_walk, FRS_RNG_STREAM_ACCEPT
 */
#ifndef FRSPEC_ACCEPT_H
#define FRSPEC_ACCEPT_H

#include <stdint.h>

#include "backend.h"
#include "status.h"

#define FRS_RNG_STREAM_ACCEPT 0x616363ull /* "acc" */

struct frs_accept {
    int n_path;                    /* nodes kept, root included */
    int32_t path[FRS_MAX_TREE];    /* node indices, path[0] = 0 */
    int n_tokens;                  /* = n_path: accepted draft tokens + the bonus */
    int32_t tokens[FRS_MAX_TREE];  /* tokens of path[1..], then the bonus */
};

enum frs_status accept_walk(const struct frs_tree *tree, const struct frs_sampling *s, uint64_t iter,
                            struct frs_accept *out);

#endif
