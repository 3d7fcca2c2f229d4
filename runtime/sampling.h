/* sampling.h - choosing tokens from vocabulary-sharded logits without gathering them.
 *
 * Each rank holds logits for its LM-head rows [vocab_offset, vocab_offset + vocab_local) of n
 * rows (tokens). Every function returns the same answer on every rank, identical to the answer
 * at tp_size 1 (c NULL or size 1), using only small collectives:
 *  - greedy: per-row (max, index) all-reduce, ties to the lowest id;
 *  - sampling: z = logits / temperature; top-k keeps z >= the k-th largest z (global, from the
 *    gathered local top-k); top-p keeps the smallest set of the largest z whose mass reaches
 *    top_p (Hugging Face's rule: a token is removed when the mass strictly before it is already
 *    >= top_p ... computed exactly, e.g. by gathering candidates or bisection on the threshold);
 *    draws use the Gumbel-max trick with noise frs_rng_gumbel(seed, draw, token_id), so the drawn
 *    token does not depend on the TP degree.
 *
 * defines: struct sampling_row, sampling_argmax, sampling_prepare, sampling_prob, sampling_draw
 */
#ifndef FRSPEC_SAMPLING_H
#define FRSPEC_SAMPLING_H

#include <stdint.h>

#include "backend.h"
#include "status.h"

struct frs_comm;

/* The filtered distribution of one row: token t is kept when z_t >= thresh; p_t = e_t / sum over
 * kept tokens of e, e_t = exp(z_t - max) in 64-bit fixed point (sample_mass.h: frs_mass_fixed,
 * the same bits on every machine and on CUDA devices; masses are exact integer sums). */
struct sampling_row {
    float max;    /* largest z */
    float thresh; /* smallest kept z (top-k / top-p cut); -inf when nothing is cut */
    double sum;   /* sum over kept tokens of e (the fixed-point sum times 2^-shift) */
    int shift;    /* fixed-point bits: frs_mass_shift(vocabulary size) */
};

struct sampling_shard {
    const float *logits; /* [n, vocab_local] row-major, this rank's columns */
    int n;
    int vocab_local;
    int vocab_offset;
};

/* out[i] = global argmax id of row i. */
enum frs_status sampling_argmax(struct frs_comm *c, const struct sampling_shard *sh, int32_t *out);
/* rows[i] for each of the n rows under s (temperature > 0). */
enum frs_status sampling_prepare(struct frs_comm *c, const struct sampling_shard *sh,
                                 const struct frs_sampling *s, struct sampling_row *rows);
/* p[q] = probability of token[q] under row row_of[q]'s filtered distribution (0 when cut). */
enum frs_status sampling_prob(struct frs_comm *c, const struct sampling_shard *sh,
                              const struct frs_sampling *s, const struct sampling_row *rows,
                              const int32_t *row_of, const int32_t *token, int nq, float *p);
/* out[i] = a draw from row i's filtered distribution with the tokens excl[excl_off[i] ..
 * excl_off[i+1]) removed (renormalised), Gumbel noise keyed by (s->seed, draw[i], token).
 * excl may be NULL (nothing removed). If everything is removed, the row's argmax is returned. */
enum frs_status sampling_draw(struct frs_comm *c, const struct sampling_shard *sh,
                              const struct frs_sampling *s, const struct sampling_row *rows,
                              const uint64_t *draw, const int32_t *excl, const int *excl_off,
                              int32_t *out);

#endif
