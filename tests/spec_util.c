/* spec_util.c - see spec_util.h */
#include "spec_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draft.h"
#include "model.h"
#include "rng.h" /* frs_rng_u64 */
#include "testutil.h" /* test_fixture, row_rms */

const struct frs_tree_params SPEC_SHAPES[SPEC_N_SHAPES] = {{1, 1, 2}, {3, 2, 5}, {4, 4, 16}, {6, 10, 60}, {5, 8, 64}};
const int SPEC_VOCABS[SPEC_N_VOCABS] = {0, 32, 8};

enum frs_status spec_make_backend(struct frs_backend *be, const struct frs_backend_ops *ops,
                                  const struct llama_model *m, const struct eagle_draft *d, int max_ctx)
{
    return spec_make_backend_opt(be, ops, m, d, max_ctx, NULL);
}

enum frs_status spec_make_backend_opt(struct frs_backend *be, const struct frs_backend_ops *ops,
                                      const struct llama_model *m, const struct eagle_draft *d, int max_ctx,
                                      const struct frs_backend_options *opt)
{
    const struct frs_limits lim = {.max_ctx = max_ctx, .max_tree = 64, .prefill_chunk = 16};
    memset(be, 0, sizeof *be);
    be->ops = ops;
    return be->ops->create(be, m, d, NULL, &lim, opt);
}

enum frs_status spec_generate(struct frs_backend *be, const int32_t *prompt, int n_prompt,
                              const struct frs_sampling *s, const struct frs_tree_params *tree, int n_new,
                              int32_t *out, struct frs_gen_stats *st)
{
    struct frs_gen_request req;
    memset(&req, 0, sizeof req);
    req.prompt = prompt;
    req.n_prompt = n_prompt;
    req.max_new_tokens = n_new;
    req.sampling = *s;
    req.speculative = tree != NULL;
    if (tree)
        req.tree = *tree;
    return engine_generate(be, &req, out, n_new, st, NULL);
}

void spec_fr_list(int vocab, const struct spec_prompt *p, int n_prompts, const int32_t *ar, int n_new,
                  int32_t *ids)
{
    long *cnt = calloc((size_t)vocab, sizeof(long));
    for (int i = 0; i < n_prompts; i++) {
        for (int j = 0; j < p[i].n; j++)
            cnt[p[i].ids[j]]++;
        for (int j = 0; j < n_new; j++)
            cnt[ar[(size_t)i * n_new + j]]++;
    }
    for (int i = 0; i < vocab; i++)
        ids[i] = i;
    for (int i = 1; i < vocab; i++) /* stable insertion sort by count descending */
        for (int j = i; j > 0 && cnt[ids[j - 1]] < cnt[ids[j]]; j--) {
            int32_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    free(cnt);
}

int spec_first_diff(const int32_t *out, int n_out, const int32_t *ref, int n)
{
    for (int j = 0; j < n; j++)
        if (j >= n_out || out[j] != ref[j])
            return j;
    return -1;
}

void spec_fill_prompts(struct spec_prompt *p, int n, int V)
{
    for (int i = 0; i < n; i++) {
        p[i].n = 6 + 5 * i;
        p[i].has_hf = 0;
        for (int j = 0; j < p[i].n; j++)
            p[i].ids[j] = (int32_t)((j * 131 + i * 71 + 7) % V);
    }
}

double spec_ar_gap(struct frs_backend *be, const struct spec_prompt *p, const int32_t *ar, int j, int a, int b,
                   int V, enum frs_status (*logits)(struct frs_backend *, float *, size_t, int *, int *),
                   double *rms)
{
    float *lg = malloc((size_t)V * sizeof(float));
    int r, vl;
    double gap = INFINITY;
    if (!lg || be->ops->reset(be) != FRS_OK || be->ops->prefill(be, p->ids, p->n) != FRS_OK)
        goto out;
    for (int i = 0; i < j; i++)
        if (be->ops->decode(be, ar[i]) != FRS_OK)
            goto out;
    if (logits(be, lg, (size_t)V, &r, &vl) != FRS_OK)
        goto out;
    *rms = row_rms(lg, V);
    gap = fabs((double)lg[a] - lg[b]);
out:
    free(lg);
    return gap;
}

int spec_job_request(int i, int vocab, uint64_t seed, int32_t *prompt, int *n_prompt, int *max_new, int32_t *stop)
{
    static const int lens[SPEC_JOB_N] = {5, 1, 37, 12, 70, 3, 23, 8, 50, 16, 2, 31};
    static const int news[SPEC_JOB_N] = {40, 17, 1, 33, 9, 40, 25, 40, 12, 5, 30, 21};
    *n_prompt = lens[i];
    for (int k = 0; k < lens[i]; k++)
        prompt[k] = (int32_t)(frs_rng_u64(seed, (uint64_t)i, (uint64_t)k) % (uint64_t)vocab);
    *max_new = news[i];
    if (i % 3 != 1)
        return 0;
    *stop = (int32_t)(frs_rng_u64(seed, 99, (uint64_t)i) % (uint64_t)vocab);
    return 1;
}

enum frs_status spec_load_pair(const char *target_rel, const char *head_rel, struct llama_model *m,
                               struct eagle_draft *d)
{
    char tdir[4096], hdir[4096]; /* test_fixture's buffer is reused by the next call */
    snprintf(tdir, sizeof tdir, "%s", test_fixture(target_rel));
    snprintf(hdir, sizeof hdir, "%s", test_fixture(head_rel));
    FRS_TRY(llama_model_load(m, tdir, 0, 1));
    const enum frs_status st = eagle_draft_load(d, hdir, m);
    if (st != FRS_OK)
        llama_model_free(m);
    return st;
}
