/* cuda_sample.h - sampling (temperature > 0) on the device with the results of runtime/sampling.c
 * (the reference, run on the host over the same logits), for one rank holding the whole
 * vocabulary (TP 1): no logits leave the GPU. Launchers in cuda_sample.cu.
 *
 * What each launcher computes, per row of logits x (cols entries, idx_offset = the id of column 0):
 *  - prepare: z = x / T (float division, as sampling_z), max = the largest z, thresh = the top-k
 *    cut (the k-th largest z, duplicates counted, when 0 < top_k < cols) then the top-p cut (the
 *    largest z whose mass {z' >= z} reaches top_p of the top-k-kept mass; max when top_p <= 0),
 *    sum = the kept mass: sampling_prepare's sampling_row.
 *  - draw: the Gumbel-max draw over kept tokens minus the excluded ones, key (double)z +
 *    frs_rng_gumbel(seed, draw0 + row, id) in double, ties to the lower id; nothing left: the row's
 *    argmax (frs_argmax_key_pack order): sampling_draw's token.
 *  - tree_probs: child_prob[c] = p_parent(c)(token[c]) as sampling_prob, child_prob[0] = 1,
 *    argmax[] = -1: cpu_verify's fields.
 *
 * Identical results, not merely close ones. z, the max, the top-k cut (integer counting over float
 * keys), the kept set and the exclusions are exact; masses are runtime/sample_mass.h's 64-bit
 * fixed-point values, the same bits on the host and here, summed exactly, so the top-p cut, the
 * sums and the probabilities are sampling.c's bit for bit. The one computation that may differ is
 * the Gumbel noise: CUDA's log() and glibc's agree to about an ulp, so a draw whose best key beats
 * the second by less than 1e-11 (1 + |key|) is not decided here. Such a row, a row with a NaN or
 * infinite z, and a row whose top-k cut lies in a bin of more than CUDA_SAMPLE_CAP distinct values
 * (values more than 32 nats below the max share one bin; near-equal logits share the first) set a
 * bit in flags[row], and the caller redoes that row on the host (cuda_backend.c). The tests count
 * them: none on ordinary logits.
 *
 * Parameters live in device memory (struct cuda_sample_params), so a captured CUDA graph replays
 * with new temperature / top-k / top-p / seed / draw ids set by cuda_sample_set_params.
 *
 * defines: struct cuda_sample_params, struct cuda_sample_row, CUDA_SAMPLE_*, cuda_sample_set_params,
 *          cuda_sample_scratch_bytes, cuda_sample_prepare, cuda_sample_draw, cuda_sample_draw_keyed,
 *          cuda_sample_tree_probs
 */
#ifndef FRSPEC_CUDA_SAMPLE_H
#define FRSPEC_CUDA_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "backend.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cuda_sample_params {
    float temperature; /* > 0 */
    float top_p;       /* >= 1: off */
    int32_t top_k;     /* 0 or >= cols: off */
    int32_t pad;
    uint64_t seed;
    uint64_t draw0; /* row r draws with Gumbel stream draw0 + r */
};

/* sampling_row on the device */
struct cuda_sample_row {
    float max, thresh;
    double sum;
    int32_t shift, pad;
};

/* flag bits (flags[row] |= ...): the row must be redone on the host; the caller zeroes flags */
#define CUDA_SAMPLE_NONFINITE 1u  /* a NaN or infinite z in a row */
#define CUDA_SAMPLE_BIN_LARGE 2u  /* a crossing bin of more than CUDA_SAMPLE_CAP distinct values */
#define CUDA_SAMPLE_DRAW_CLOSE 4u /* the two best Gumbel keys within the key margin */

#define CUDA_SAMPLE_CAP 4096 /* values of one crossing bin ranked in shared memory */
#define CUDA_SAMPLE_MAX_COLS (1 << 24) /* largest row (float keys count exactly below 2^24) */

/* *d = *h, by a kernel parameter (the host struct may change right after the call). */
enum frs_status cuda_sample_set_params(struct cuda_sample_params *d, const struct cuda_sample_params *h,
                                       cudaStream_t st);

/* device scratch of cuda_sample_draw for rows x cols */
size_t cuda_sample_scratch_bytes(int rows, int cols);

/* rows[r] for each of `n` rows (logits row stride ld); flags: n entries. */
enum frs_status cuda_sample_prepare(const float *logits, int n, int cols, int ld,
                                    const struct cuda_sample_params *p, struct cuda_sample_row *rows,
                                    uint32_t *flags, cudaStream_t st);

/* out[r] = the draw of row r. tree (device, may be NULL): row r's excluded tokens are the tokens
 * of r's children (nodes c > r with parent[c] == r), as cpu_verify's residual draws; the tree
 * must have at least n nodes. scratch: cuda_sample_scratch_bytes(n, cols); flags: n entries. */
enum frs_status cuda_sample_draw(const float *logits, int n, int cols, int ld, int idx_offset,
                                 const struct cuda_sample_params *p, const struct cuda_sample_row *rows,
                                 const struct frs_tree *tree, void *scratch, int32_t *out, uint32_t *flags,
                                 cudaStream_t st);

/* The same draw without exclusions, row r drawing with Gumbel stream draw0 + draw_add[r] (device,
 * n entries): position-keyed verify (runtime/batch.h), draw_add = the tree's depths and draw0 =
 * target_len + 1, so node r's token is the one autoregressive sampling draws at its position. */
enum frs_status cuda_sample_draw_keyed(const float *logits, int n, int cols, int ld, int idx_offset,
                                       const struct cuda_sample_params *p, const struct cuda_sample_row *rows,
                                       const int32_t *draw_add, void *scratch, int32_t *out, uint32_t *flags,
                                       cudaStream_t st);

/* tree->child_prob[c] for 0 < c < n (row = parent[c]), child_prob[0] = 1, argmax[0..n) = -1. */
enum frs_status cuda_sample_tree_probs(const float *logits, int n, int cols, int ld, int idx_offset,
                                       const struct cuda_sample_params *p, const struct cuda_sample_row *rows,
                                       struct frs_tree *tree, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
