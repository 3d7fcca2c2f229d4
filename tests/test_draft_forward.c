/* test_draft_forward.c - the CPU EAGLE-2 draft head (runtime/cpu_spec.c) against the PyTorch
 * reference of tests/gen/gen_spec_fixtures.py (written from the published description): the
 * draft's hidden states over the rows (f_i, t_{i+1}) of each prompt (relative error <= the
 * fixture's hidden_tol, 1e-5), the root row's log-probs, and the whole EAGLE-2 dynamic tree
 * (tokens, parents, depths identical) for several (depth, topk, size) and FR-Spec vocabularies
 * K = full, 32, 8. Fixture: tests/fixtures/spec (head-gqa on tests/fixtures/models/gqa-bf16);
 * the target features come from transformers and are placed in the backend's feature rows. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_backend.h"
#include "cpu_spec.h"
#include "draft.h"
#include "model.h"
#include "testutil.h"

static int json_ints(const cJSON *a, int32_t *out, int max)
{
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a)
    {
        if (n < max)
            out[n] = (int32_t)v->valueint;
        n++;
    }
    return n;
}

static int json_int(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key)->valueint;
}

/* Put the reference features in the backend as if prefill had run n positions, the draft empty. */
static void inject(struct frs_backend *be, const float *feat, int n, int draft_len)
{
    struct cpu_backend *b = be->impl;
    const int C = b->m->cfg.hidden_size;
    memcpy(b->feat, feat, (size_t)n * C * sizeof(float));
    b->target_len = n;
    be->target_len = n;
    b->draft_len = draft_len;
}

static void compare_tree(const char *what, const struct frs_tree *t, const cJSON *ref)
{
    int32_t tok[FRS_MAX_TREE], par[FRS_MAX_TREE], dep[FRS_MAX_TREE];
    const int n = json_ints(cJSON_GetObjectItemCaseSensitive(ref, "token"), tok, FRS_MAX_TREE);
    json_ints(cJSON_GetObjectItemCaseSensitive(ref, "parent"), par, FRS_MAX_TREE);
    json_ints(cJSON_GetObjectItemCaseSensitive(ref, "depth_of"), dep, FRS_MAX_TREE);
    CHECK(t && t->n == n, "%s: tree of %d nodes, reference %d", what, t ? t->n : -1, n);
    if (!t || t->n != n)
        return;
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (t->token[i] != tok[i] || t->parent[i] != par[i] || t->depth[i] != dep[i]) {
            if (bad++ < 3)
                fprintf(stderr, "  %s node %d: (token %d, parent %d, depth %d), reference (%d, %d, %d)\n", what, i,
                        (int)t->token[i], (int)t->parent[i], (int)t->depth[i], (int)tok[i], (int)par[i],
                        (int)dep[i]);
        }
    CHECK(bad == 0, "%s: %d of %d nodes differ from the PyTorch reference", what, bad, n);
}

int main(void)
{
    size_t len = 0;
    char *js = test_read_file(test_fixture("spec/ref.json"), &len);
    float *ref = (float *)test_read_file(test_fixture("spec/ref.f32"), &len);
    if (!js || !ref) {
        fprintf(stderr, "missing fixture %s (run tests/gen/gen_spec_fixtures.py)\n", test_fixture("spec/ref.json"));
        return 1;
    }
    cJSON *root = cJSON_Parse(js);
    CHECK(root != NULL, "spec/ref.json does not parse");
    if (!root)
        return test_finish("test_draft_forward");
    const double tol = cJSON_GetObjectItemCaseSensitive(root, "hidden_tol")->valuedouble;
    int32_t fr_ids[64];
    const int n_fr = json_ints(cJSON_GetObjectItemCaseSensitive(root, "fr_ids"), fr_ids, 64);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");

    struct llama_model m;
    char path[4096];
    snprintf(path, sizeof path, "%s", test_fixture(cJSON_GetObjectItemCaseSensitive(root, "target")->valuestring));
    CHECK_OK(llama_model_load(&m, path, 0, 1));
    char head_dir[4096];
    snprintf(head_dir, sizeof head_dir, "%s", test_fixture(cJSON_GetObjectItemCaseSensitive(root, "head")->valuestring));
    const int C = m.cfg.hidden_size;
    int n_trees = 0;

    static const int vocabs[] = {0, 32, 8};
    for (size_t vi = 0; vi < sizeof vocabs / sizeof vocabs[0]; vi++) {
        const int K = vocabs[vi];
        struct eagle_draft d;
        CHECK_OK(eagle_draft_load(&d, head_dir, &m));
        if (K)
            CHECK_OK(eagle_draft_set_vocab(&d, &m, fr_ids, n_fr, K));
        /* prefill_chunk 32 < the longest prompt (71): the draft catches up in chunks */
        const struct frs_limits lim = {.max_ctx = 256, .max_tree = FRS_MAX_TREE, .prefill_chunk = 32};
        struct frs_backend be;
        memset(&be, 0, sizeof be);
        be.ops = &frs_backend_cpu_ops;
        CHECK_OK(be.ops->create(&be, &m, &d, NULL, &lim, NULL));
        struct cpu_backend *b = be.impl;
        const cJSON *cs;
        int ci = 0;
        cJSON_ArrayForEach(cs, cases)
        {
            int32_t prompt[512], next[512];
            const int n = json_ints(cJSON_GetObjectItemCaseSensitive(cs, "prompt"), prompt, 512);
            memcpy(next, prompt + 1, (size_t)(n - 1) * sizeof(int32_t));
            next[n - 1] = json_int(cs, "root");
            const float *feat = ref + json_int(cs, "feat_off");
            char what[128];

            if (K == 0) {
                /* the draft forward itself, rows (f_i, t_{i+1}) at positions i, causal */
                float *hid = malloc((size_t)n * C * sizeof(float));
                int32_t pos[32];
                inject(&be, feat, n, 0);
                for (int off = 0; off < n; off += 32) {
                    const int c = n - off < 32 ? n - off : 32;
                    for (int i = 0; i < c; i++)
                        pos[i] = off + i;
                    CHECK_OK(cpu_spec_draft_forward(b, next + off, feat + (size_t)off * C, pos, c, off, off, NULL, 0,
                                                    hid + (size_t)off * C));
                }
                snprintf(what, sizeof what, "case %d: draft hidden states (%d rows)", ci, n);
                test_close_f32(what, hid, ref + json_int(cs, "hidden_off"), (size_t)n * C, tol);
                float *lp = malloc((size_t)m.cfg.vocab_size * sizeof(float));
                cpu_spec_draft_logp(b, hid + (size_t)(n - 1) * C, 1, lp);
                snprintf(what, sizeof what, "case %d: root row log-probs", ci);
                test_close_f32(what, lp, ref + json_int(cs, "logp_off"), (size_t)m.cfg.vocab_size, tol);
                free(lp);
                free(hid);
            }

            const cJSON *tr;
            cJSON_ArrayForEach(tr, cJSON_GetObjectItemCaseSensitive(cs, "trees"))
            {
                if (json_int(tr, "k_vocab") != K)
                    continue;
                const struct frs_tree_params p = {json_int(tr, "depth"), json_int(tr, "topk"), json_int(tr, "size")};
                snprintf(what, sizeof what, "case %d tree %d/%d/%d K=%d", ci, p.depth, p.topk, p.size, K);
                inject(&be, feat, n, 0);
                CHECK_OK(be.ops->draft_tree(&be, next, n, &p));
                CHECK(b->draft_len == n, "%s: draft_len %d after draft_tree, expected %d", what, b->draft_len, n);
                compare_tree(what, cpu_spec_tree(b), tr);
                n_trees++;
                /* incremental: the draft first catches up to n - 5 (drafting a tree whose slots the
                 * next call overwrites), then the last 5 rows: the same tree */
                if (n > 6) {
                    const struct frs_tree_params big = {6, K && K < 10 ? K : 10, 60};
                    inject(&be, feat, n - 5, 0);
                    CHECK_OK(be.ops->draft_tree(&be, next, n - 5, &big));
                    inject(&be, feat, n, n - 5);
                    CHECK_OK(be.ops->draft_tree(&be, next + n - 5, 5, &p));
                    char w2[160];
                    snprintf(w2, sizeof w2, "%s (draft caught up in two calls)", what);
                    compare_tree(w2, cpu_spec_tree(b), tr);
                }
            }
            ci++;
        }
        /* argument checks */
        const struct frs_tree_params wide = {2, (K ? K : m.cfg.vocab_size) + 1, 8};
        inject(&be, ref, 4, 0);
        int32_t four[4] = {1, 2, 3, 4};
        CHECK(be.ops->draft_tree(&be, four, 4, &wide) != FRS_OK, "topk above K accepted");
        CHECK(be.ops->draft_tree(&be, four, 3, &(struct frs_tree_params){2, 2, 4}) == FRS_ERR_INVALID_ARG,
              "wrong number of pending tokens accepted");
        frs_error_clear();
        be.ops->destroy(&be);
        eagle_draft_free(&d);
    }
    fprintf(stderr, "compared %d trees with the PyTorch EAGLE-2 reference\n", n_trees);
    CHECK(n_trees >= 20, "only %d reference trees compared", n_trees);
    llama_model_free(&m);
    cJSON_Delete(root);
    free(js);
    free(ref);
    return test_finish("test_draft_forward");
}
