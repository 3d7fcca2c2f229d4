/* test_spec_ctx.c - speculative decoding at the end of the context (issue 12, item 8), on the CPU
 * backend through the engine: for prompts ending 0..70 positions before max_ctx, greedy
 * speculative output equals greedy autoregressive output token for token, both stop for the
 * context with max_ctx - n_prompt + 1 tokens (the last token's row is never needed), and a prompt
 * that fits for plain decoding is never refused because a draft is used. Tree shapes 3/2/5,
 * 6/10/60 and 5/8/64 (max_tree 64), pairs gqa-bf16 + head-gqa and markov-target + markov-exact
 * (whose draft is always right, so full trees reach the end). */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_backend.h"
#include "draft.h"
#include "engine.h"
#include "model.h"
#include "rng.h"
#include "spec_util.h"
#include "testutil.h"

#define N_MAX 512

static void run_pair(const char *target_rel, const char *head_rel, int n_prompt)
{
    struct llama_model m;
    struct eagle_draft d;
    CHECK_OK(spec_load_pair(target_rel, head_rel, &m, &d));
    const int V = m.cfg.vocab_size;
    int32_t prompt[N_MAX];
    for (int i = 0; i < n_prompt; i++)
        prompt[i] = (int32_t)(frs_rng_u64(12, (uint64_t)i, 0) % (uint64_t)V);
    const struct frs_sampling greedy = {0.0f, 1.0f, 0, 0};
    static const struct frs_tree_params shapes[] = {{3, 2, 5}, {6, 10, 60}, {5, 8, 64}};
    static const int deltas[] = {0, 1, 2, 3, 4, 5, 6, 7, 9, 13, 29, 30, 31, 58, 59, 60, 61, 63, 64, 65, 70};
    int checked = 0;
    for (size_t di = 0; di < sizeof deltas / sizeof deltas[0]; di++) {
        const int max_ctx = n_prompt + deltas[di];
        if (max_ctx <= 64) /* the backend's limit: max_tree below max_ctx */
            continue;
        const int n_new = N_MAX - n_prompt; /* more than fits: the context ends generation */
        int32_t ar[N_MAX], sp[N_MAX];
        struct frs_gen_stats ast, sst;
        struct frs_backend be;
        CHECK_OK(spec_make_backend(&be, &frs_backend_cpu_ops, &m, NULL, max_ctx));
        CHECK_OK(spec_generate(&be, prompt, n_prompt, &greedy, NULL, n_new, ar, &ast));
        be.ops->destroy(&be);
        CHECK(ast.n_tokens == max_ctx - n_prompt + 1 && !strcmp(ast.stop_reason, "context"),
              "%s max_ctx %d prompt %d: autoregressive %d tokens (%s), want %d (context)", target_rel, max_ctx,
              n_prompt, ast.n_tokens, ast.stop_reason, max_ctx - n_prompt + 1);
        CHECK_OK(spec_make_backend(&be, &frs_backend_cpu_ops, &m, &d, max_ctx));
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            frs_error_clear();
            enum frs_status st = spec_generate(&be, prompt, n_prompt, &greedy, &shapes[si], n_new, sp, &sst);
            CHECK(st == FRS_OK, "%s + %s max_ctx %d prompt %d tree %d/%d/%d: refused with a draft: %s", target_rel,
                  head_rel, max_ctx, n_prompt, shapes[si].depth, shapes[si].topk, shapes[si].size, frs_error_msg());
            if (st != FRS_OK)
                continue;
            const int diff = spec_first_diff(sp, sst.n_tokens, ar, ast.n_tokens);
            CHECK(sst.n_tokens == ast.n_tokens && diff < 0,
                  "%s + %s max_ctx %d prompt %d tree %d/%d/%d: speculative %d tokens vs autoregressive %d, first "
                  "difference at %d", target_rel, head_rel, max_ctx, n_prompt, shapes[si].depth, shapes[si].topk,
                  shapes[si].size, sst.n_tokens, ast.n_tokens, diff);
            CHECK(!strcmp(sst.stop_reason, "context"), "stop reason %s", sst.stop_reason);
            checked++;
        }
        be.ops->destroy(&be);
    }
    fprintf(stderr, "%s + %s, prompt %d: %d speculative runs equal to autoregressive at the context limit\n",
            target_rel, head_rel, n_prompt, checked);
    eagle_draft_free(&d);
    llama_model_free(&m);
}

int main(void)
{
    run_pair("models/gqa-bf16", "spec/head-gqa", 90);
    run_pair("spec/markov-target", "spec/markov-exact", 66);
    run_pair("spec/markov-target", "spec/markov-exact", 130);
    return test_finish("test_spec_ctx");
}
