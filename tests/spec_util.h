/* spec_util.h - helpers shared by the speculative-decoding tests (test_spec on the CPU backend,
 * test_cuda_spec and test_cuda_sample on the CUDA backend): the tree shapes and FR-Spec vocabulary
 * sizes they sweep, a backend with the tests' limits, one engine_generate call, the FR-Spec token
 * list built from a corpus of prompts and outputs, and where a generation first departs from a
 * reference.
 *
 * defines: SPEC_N_NEW, SPEC_MAX_PROMPT, SPEC_SHAPES, SPEC_VOCABS, struct spec_prompt,
 *          spec_make_backend, spec_make_backend_opt, spec_generate, spec_fr_list, spec_first_diff, spec_fill_prompts,
 *          spec_ar_gap, spec_load_pair, SPEC_JOB_N, SPEC_JOB_MAXP, spec_job_request
 */
#ifndef FRSPEC_SPEC_UTIL_H
#define FRSPEC_SPEC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h" /* struct frs_backend, frs_backend_ops, frs_tree_params, frs_sampling */
#include "engine.h"  /* struct frs_gen_stats */
#include "status.h"

#define SPEC_N_NEW 32      /* tokens generated per greedy run in the spec tests */
#define SPEC_MAX_PROMPT 256

/* tree shapes depth/topk/size and FR-Spec vocabulary sizes (0: the full vocabulary) swept */
#define SPEC_N_SHAPES 5
#define SPEC_N_VOCABS 3
extern const struct frs_tree_params SPEC_SHAPES[SPEC_N_SHAPES];
extern const int SPEC_VOCABS[SPEC_N_VOCABS];

struct spec_prompt {
    int32_t ids[SPEC_MAX_PROMPT];
    int n;
    int32_t hf[SPEC_N_NEW]; /* transformers' greedy continuation, when known (has_hf) */
    int has_hf;
};

/* be on ops for target m and draft d (NULL: autoregressive only), single process, limits
 * max_ctx positions, trees of up to 64 nodes, prefill chunks of 16. */
enum frs_status spec_make_backend(struct frs_backend *be, const struct frs_backend_ops *ops,
                                  const struct llama_model *m, const struct eagle_draft *d, int max_ctx);
/* The same with backend options (NULL: the defaults). */
enum frs_status spec_make_backend_opt(struct frs_backend *be, const struct frs_backend_ops *ops,
                                      const struct llama_model *m, const struct eagle_draft *d, int max_ctx,
                                      const struct frs_backend_options *opt);

/* engine_generate of n_new tokens after prompt into out: speculative with tree, autoregressive
 * when tree is NULL. */
enum frs_status spec_generate(struct frs_backend *be, const int32_t *prompt, int n_prompt,
                              const struct frs_sampling *s, const struct frs_tree_params *tree, int n_new,
                              int32_t *out, struct frs_gen_stats *st);

/* FR-Spec list as FR-Spec builds it: token frequencies over a corpus (the n_prompts prompts p and
 * their outputs ar, n_new tokens each, row after row), most frequent first, ties to the lower id,
 * then every other id; ids gets all vocab ids. */
void spec_fr_list(int vocab, const struct spec_prompt *p, int n_prompts, const int32_t *ar, int n_new,
                  int32_t *ids);

/* The first j < n where out (n_out tokens long) ends or differs from ref[j]; -1 when none. */
int spec_first_diff(const int32_t *out, int n_out, const int32_t *ref, int n);

/* n synthetic prompts for a vocabulary of V ids: prompt i has 6 + 5 i tokens
 * (j * 131 + i * 71 + 7) % V, no transformers reference. */
void spec_fill_prompts(struct spec_prompt *p, int n, int V);

/* How close the autoregressive run was to a tie: after prompt p and ar[0..j) on be, the gap
 * |logit a - logit b| of the next position's logits (read by logits(), e.g. cuda_backend_logits;
 * V of them), and their root mean square into *rms. INFINITY when a step fails. */
double spec_ar_gap(struct frs_backend *be, const struct spec_prompt *p, const int32_t *ar, int j, int a, int b,
                   int V, enum frs_status (*logits)(struct frs_backend *, float *, size_t, int *, int *),
                   double *rms);

/* The fixtures target_rel (tests/fixtures/...) as the target and head_rel as its EAGLE-2 head, whole
 * (TP 1); on an error nothing stays loaded. */
enum frs_status spec_load_pair(const char *target_rel, const char *head_rel, struct llama_model *m,
                               struct eagle_draft *d);

/* The batched engine tests' job (test_batch on the CPU, test_cuda_batch): SPEC_JOB_N requests of
 * mixed prompt lengths (1..70 ids) and lengths (1..40 new tokens). Request i < SPEC_JOB_N: its
 * prompt (random ids below vocab from seed) into prompt[0..*n_prompt), its new tokens into
 * *max_new; every third (i % 3 == 1) also has a stop token, put in *stop, and returns 1; else 0. */
#define SPEC_JOB_N 12
#define SPEC_JOB_MAXP 70
int spec_job_request(int i, int vocab, uint64_t seed, int32_t *prompt, int *n_prompt, int *max_new, int32_t *stop);

#endif
