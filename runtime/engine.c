/* engine.c - the generation loop shared by every backend (see engine.h, backend.h). */
#include "engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accept.h"
#include "rng.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t engine_hash_tokens(const int32_t *t, int n, uint64_t h)
{
    for (int i = 0; i < n; i++)
        h = frs_mix64(h ^ (uint64_t)(uint32_t)t[i]);
    return h;
}

static int is_stop(const struct frs_gen_request *req, int32_t tok)
{
    for (int i = 0; i < req->n_stop; i++)
        if (req->stop[i] == tok)
            return 1;
    return 0;
}

/* Append up to n tokens to out, stopping after a stop token or at the budget. Returns how many
 * were taken; sets *done and the reason when generation must end. */
static int take_tokens(const struct frs_gen_request *req, const int32_t *toks, int n, int32_t *out,
                       int *n_out, int *done, const char **reason)
{
    int taken = 0;
    for (int i = 0; i < n; i++) {
        if (*n_out >= req->max_new_tokens) {
            *done = 1;
            *reason = "max_new_tokens";
            break;
        }
        out[(*n_out)++] = toks[i];
        taken++;
        if (is_stop(req, toks[i])) {
            *done = 1;
            *reason = "stop_token";
            break;
        }
    }
    if (!*done && *n_out >= req->max_new_tokens) {
        *done = 1;
        *reason = "max_new_tokens";
    }
    return taken;
}

static void sink_emit(const struct frs_token_sink *sink, const int32_t *t, int n)
{
    if (sink && sink->emit && n > 0)
        sink->emit(sink->user, t, n);
}

/* The tree size for the next speculative iteration near the end of the context (issue 12, item 8;
 * the batched engine follows the same rule). A tree of n nodes occupies cache rows
 * [target_len, target_len + n); the accepted path is committed there and the bonus token becomes
 * the next root, so a tree fits while target_len + n <= max_ctx. Plain decoding ends only when
 * the next token's row is past the end (target_len == max_ctx). Hence: shrink the tree to the
 * room left (room >= 2; any tree keeps greedy output identical), and with one row left take an
 * autoregressive step (a one-node tree is a decode step). Returns the tree size, 1 for an
 * autoregressive step, 0 when the context is full. max_ctx 0 (a backend that does not say) keeps
 * the full tree; the engine then falls back to autoregressive steps when the tree is refused. */
static int engine_tree_size_at(int size, int target_len, int max_ctx)
{
    if (max_ctx <= 0)
        return size;
    const int room = max_ctx - target_len;
    if (room <= 0)
        return 0;
    if (room == 1)
        return 1;
    return size < room ? size : room;
}

static void watch_begin(const struct frs_gen_request *req, long step)
{
    if (req->watch && req->watch->begin)
        req->watch->begin(req->watch->user, step);
}

static enum frs_status check_request(const struct frs_backend *be, const struct frs_gen_request *req,
                                     int max_out)
{
    if (req->n_prompt <= 0)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "the prompt is empty");
    if (req->max_new_tokens < 0 || req->max_new_tokens > max_out)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "max_new_tokens %d outside [0, %d]", req->max_new_tokens, max_out);
    if (req->speculative) {
        const struct frs_tree_params *p = &req->tree;
        if (!be->ops->draft_tree)
            return FRS_ERR(FRS_ERR_INVALID_ARG, "speculative decoding needs a draft head (--draft)");
        if (p->depth < 1 || p->topk < 1 || p->size < 2 || p->size > FRS_MAX_TREE)
            return FRS_ERR(FRS_ERR_INVALID_ARG,
                           "tree shape depth=%d topk=%d size=%d: need depth >= 1, topk >= 1, 2 <= size <= %d",
                           p->depth, p->topk, p->size, FRS_MAX_TREE);
    }
    return FRS_OK;
}

enum frs_status engine_generate(struct frs_backend *be, const struct frs_gen_request *req,
                                int32_t *out, int max_out, struct frs_gen_stats *st,
                                const struct frs_token_sink *sink)
{
    memset(st, 0, sizeof *st);
    st->stop_reason = "max_new_tokens";
    FRS_TRY(check_request(be, req, max_out));
    FRS_TRY(be->ops->reset(be));

    /* the whole sequence: prompt, then every generated token; seq[target_len] is the root */
    const int cap = req->n_prompt + req->max_new_tokens + FRS_MAX_TREE + 2;
    int32_t *seq = malloc((size_t)cap * sizeof *seq);
    struct frs_tree *tree = req->speculative ? malloc(sizeof *tree) : NULL;
    if (!seq || (req->speculative && !tree)) {
        free(seq);
        free(tree);
        return FRS_ERR(FRS_ERR_OOM, "engine: %d tokens", cap);
    }
    memcpy(seq, req->prompt, (size_t)req->n_prompt * sizeof *seq);
    int n_seq = req->n_prompt;
    int n_out = 0, done = req->max_new_tokens == 0;
    enum frs_status rc = FRS_OK;
    uint64_t tree_hash = 0x6672737065630001ull;
    uint64_t iter = 0;  /* speculative iterations */
    int draft_len = 0;  /* positions the draft has consumed */
    int32_t tok = -1;
    int taken;
    int ar_tail = !req->speculative; /* speculative: 1 once the tree no longer fits (autoregressive to the end) */

    double t0 = now_s();
    if (done)
        goto finish;
    watch_begin(req, 0);
    FRS_TRY_GOTO(be->ops->prefill(be, req->prompt, req->n_prompt), rc, finish);
    FRS_TRY_GOTO(be->ops->next_token(be, &req->sampling, (uint64_t)req->n_prompt, &tok), rc, finish);
    seq[n_seq++] = tok;
    st->iterations = 1;
    taken = take_tokens(req, &tok, 1, out, &n_out, &done, &st->stop_reason);
    sink_emit(sink, out, taken);
    double t1 = now_s();
    st->t_prefill = t1 - t0;

    while (!done) {
        watch_begin(req, st->iterations); /* each decode step or speculative iteration */
        struct frs_tree_params tp = req->tree;
        if (!ar_tail) {
            tp.size = engine_tree_size_at(req->tree.size, be->target_len, be->max_ctx);
            ar_tail = tp.size <= 1;
        }
        if (ar_tail) {
            const double ta = now_s();
            rc = be->ops->decode(be, tok);
            if (rc == FRS_ERR_TOO_LONG) {
                st->stop_reason = "context";
                frs_error_clear();
                rc = FRS_OK;
                break;
            }
            if (rc != FRS_OK)
                goto finish;
            FRS_TRY_GOTO(be->ops->next_token(be, &req->sampling, (uint64_t)be->target_len, &tok), rc, finish);
            seq[n_seq++] = tok;
            st->iterations++;
            if (req->speculative) { /* the tail: an iteration of one token */
                iter++;
                st->accept_hist[1]++;
                st->t_other += now_s() - ta;
            }
            taken = take_tokens(req, &tok, 1, out, &n_out, &done, &st->stop_reason);
            sink_emit(sink, &tok, taken);
            continue;
        }

        /* speculative iteration */
        const int target_len = be->target_len;
        const double ta = now_s();
        rc = be->ops->draft_tree(be, seq + draft_len + 1, target_len - draft_len, &tp);
        if (rc == FRS_ERR_TOO_LONG) { /* the tree does not fit (backend without max_ctx): finish plainly */
            frs_error_clear();
            rc = FRS_OK;
            ar_tail = 1;
            continue;
        }
        if (rc != FRS_OK)
            goto finish;
        draft_len = target_len;
        const double tb = now_s();
        FRS_TRY_GOTO(be->ops->verify(be, &req->sampling, iter, tree), rc, finish);
        const double tc = now_s();
        tree_hash = engine_hash_tokens(tree->token, tree->n, tree_hash);
        tree_hash = engine_hash_tokens(tree->parent, tree->n, tree_hash);

        /* position-keyed decisions (batch.h): verify filled argmax with the chosen token after
         * each node (greedy or the draw keyed by its position), so the walk is the greedy one at
         * every temperature and the tokens are exactly autoregressive decoding's */
        static const struct frs_sampling walk_greedy = {0.0f, 1.0f, 0, 0};
        struct frs_accept acc;
        FRS_TRY_GOTO(accept_verified(be, tree, &walk_greedy, iter, &acc), rc, finish);
        FRS_TRY_GOTO(be->ops->commit(be, acc.path, acc.n_path), rc, finish);
        memcpy(seq + n_seq, acc.tokens, (size_t)acc.n_tokens * sizeof *seq);
        n_seq += acc.n_tokens;
        tok = seq[n_seq - 1];
        iter++;
        st->iterations++;
        st->accept_hist[acc.n_tokens]++;
        taken = take_tokens(req, acc.tokens, acc.n_tokens, out, &n_out, &done, &st->stop_reason);
        sink_emit(sink, out + n_out - taken, taken);
        const double td = now_s();
        st->t_draft += tb - ta;
        st->t_verify += tc - tb;
        st->t_other += td - tc;
    }

finish:
    if (req->watch && req->watch->end)
        req->watch->end(req->watch->user);
    st->t_decode = now_s() - t0 - st->t_prefill;
    st->n_tokens = n_out;
    if (req->speculative && iter > 0) {
        long sum = 0;
        for (int i = 0; i <= FRS_MAX_TREE; i++)
            sum += (long)i * st->accept_hist[i];
        st->mean_accepted = (double)sum / (double)iter;
    }
    st->tokens_hash = engine_hash_tokens(out, n_out, 0x6672737065630002ull);
    st->tree_hash = tree_hash;
    free(seq);
    free(tree);
    return rc;
}
