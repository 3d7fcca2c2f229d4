/* test_batch.c - the batched engine (runtime/batch_engine.c) on the CPU backend's batched ops
 * (runtime/cpu_batch.c, cpu_spec.c cpu_batch_draft), against the single-sequence
 * autoregressive engine (engine_generate without a draft) as the independent reference:
 *  1. invariant: every request's tokens identical to its autoregressive reference, for max_seqs
 *     1, 2, 3, 5, 8, policies off / fixed / auto, several tree shapes, greedy and seeded
 *     sampling (per-request seeds), prompts of 1..70 tokens, max_new_tokens 1..40 and stop
 *     tokens (so sequences finish in many orders); two (target, draft) pairs: a random head
 *     (low acceptance) and markov-target + markov-noisy (long accepted paths);
 *  2. pool pressure: a pool far smaller than the prompts at once (waiting and preemption, the
 *     test asserts preemptions happened) still gives every result, identical;
 *  3. the row-independence of the batched forward: a sequence's logits from the batched verify
 *     are bit-identical to those of the same sequence verified alone;
 *  4. auto's choice from measured step times (a virtual clock, deterministic): with an
 *     always-right draft (markov-exact) it mostly drafts where rows are cheap and mostly decodes
 *     autoregressively where a row costs as much as a step;
 *  5. context limit: sequences reaching max_ctx end with stop_reason "context" after exactly
 *     max_ctx - n_prompt + 1 tokens, equal to the reference's first tokens; a prompt of max_ctx
 *     tokens gives one token; a longer prompt an error result (others unaffected). */
#include <stdlib.h>
#include <string.h>

#include "accept.h"
#include "backend.h"
#include "batch.h"
#include "batch_engine.h"
#include "cpu_backend.h"
#include "draft.h"
#include "engine.h"
#include "model.h"
#include "rng.h"
#include "spec_util.h" /* spec_load_pair, spec_job_request */
#include "testutil.h"
#include "tree.h" /* tree_draft_rows */

#define NREQ SPEC_JOB_N
#define MAXP 80
#define MAXN 48
_Static_assert(MAXP >= SPEC_JOB_MAXP, "job prompts hold spec_job_request's");

struct job {
    int n;
    int32_t prompt[NREQ][MAXP];
    int n_prompt[NREQ];
    int max_new[NREQ];
    int32_t stop[NREQ][2];
    int n_stop[NREQ];
    struct frs_sampling s[NREQ];
    /* results */
    int next;
    int32_t out[NREQ][MAXN];
    int n_out[NREQ];
    int delivered[NREQ];
    int errors[NREQ];
    const char *reason[NREQ];
    int order[NREQ], n_order;
    int flushed;   /* results delivered before the source's last flush */
    int flushes, empty_flushes;
};

static enum frs_status job_next(void *user, struct frs_batch_request *r, int *done)
{
    struct job *j = user;
    if (j->next >= j->n) {
        *done = 1;
        return FRS_OK;
    }
    const int i = j->next++;
    r->id = (uint64_t)i;
    r->prompt = j->prompt[i];
    r->n_prompt = j->n_prompt[i];
    r->max_new_tokens = j->max_new[i];
    r->stop = j->stop[i];
    r->n_stop = j->n_stop[i];
    r->sampling = j->s[i];
    return FRS_OK;
}

static enum frs_status job_deliver(void *user, const struct frs_batch_request *r, const int32_t *t,
                                   const struct frs_gen_stats *st, const char *error)
{
    struct job *j = user;
    const int i = (int)r->id;
    j->delivered[i]++;
    j->errors[i] = error != NULL;
    j->reason[i] = st->stop_reason;
    j->n_out[i] = st->n_tokens;
    memcpy(j->out[i], t, (size_t)st->n_tokens * sizeof *t);
    j->order[j->n_order++] = i;
    return FRS_OK;
}

/* the source's flush: every delivered result counts as durable; a flush with nothing new is wrong */
static enum frs_status job_flush(void *user)
{
    struct job *j = user;
    j->empty_flushes += j->n_order == j->flushed;
    j->flushed = j->n_order;
    j->flushes++;
    return FRS_OK;
}

static void make_job(struct job *j, int vocab, int sampled, uint64_t seed)
{
    memset(j, 0, sizeof *j);
    j->n = NREQ;
    for (int i = 0; i < NREQ; i++) {
        if (spec_job_request(i, vocab, seed, j->prompt[i], &j->n_prompt[i], &j->max_new[i], &j->stop[i][0])) {
            j->stop[i][1] = 1; /* a stop token that may or may not come, and token 1 */
            j->n_stop[i] = 2;
        }
        j->s[i] = sampled ? (struct frs_sampling){1.0f, i % 2 ? 0.9f : 1.0f, i % 4 == 0 ? 20 : 0, 1000 + (uint64_t)i}
                          : (struct frs_sampling){0.0f, 1.0f, 0, 0};
    }
}

/* reference: the single-sequence engine, autoregressive, a roomy context */
static void reference(const struct llama_model *m, const struct job *j, int32_t ref[NREQ][MAXN], int *n_ref)
{
    struct frs_backend be;
    const struct frs_limits lim = {.max_ctx = 256, .max_tree = 0, .prefill_chunk = 16};
    memset(&be, 0, sizeof be);
    CHECK_OK(frs_backend_cpu_ops.create(&be, m, NULL, NULL, &lim, NULL));
    for (int i = 0; i < j->n; i++) {
        struct frs_gen_request req;
        memset(&req, 0, sizeof req);
        req.prompt = j->prompt[i];
        req.n_prompt = j->n_prompt[i];
        req.max_new_tokens = j->max_new[i];
        req.stop = j->stop[i];
        req.n_stop = j->n_stop[i];
        req.sampling = j->s[i];
        struct frs_gen_stats st;
        CHECK_OK(engine_generate(&be, &req, ref[i], MAXN, &st, NULL));
        n_ref[i] = st.n_tokens;
    }
    be.ops->destroy(&be);
}

struct run_cfg {
    int max_seqs;
    enum frs_spec_policy policy;
    struct frs_tree_params tree;
    int kv_block, kv_blocks; /* 0: roomy */
    int max_ctx;
    int expect_preempt;
};

static void run_batched(const char *what, const struct llama_model *m, const struct eagle_draft *d,
                        struct job *j, const struct run_cfg *rc, struct frs_batch_totals *tot)
{
    const int max_ctx = rc->max_ctx ? rc->max_ctx : 256;
    const int max_tree = max_ctx - 1 < 64 ? max_ctx - 1 : 64;
    struct frs_limits lim = {.max_ctx = max_ctx, .max_tree = d ? max_tree : 0,
                             .prefill_chunk = 16, .max_seqs = rc->max_seqs,
                             .max_step_rows = rc->max_seqs * (rc->tree.size > 1 ? rc->tree.size : 1) + 16,
                             .kv_block = rc->kv_block, .kv_blocks = rc->kv_blocks};
    if (!lim.kv_blocks)
        lim.kv_blocks = rc->max_seqs * ((lim.max_ctx + 15) / 16 + 1);
    struct frs_backend be;
    memset(&be, 0, sizeof be);
    enum frs_status st = frs_backend_cpu_ops.create(&be, m, d, NULL, &lim, NULL);
    CHECK(st == FRS_OK, "%s: create: %s", what, frs_error_msg());
    if (st != FRS_OK)
        return;
    const struct frs_batch_config cfg = {
        .max_seqs = rc->max_seqs, .max_ctx = lim.max_ctx, .kv_block = rc->kv_block, .prefill_chunk = 16,
        .step_tokens = 0, .max_step_rows = lim.max_step_rows, .max_tree = lim.max_tree, .policy = rc->policy,
        .tree = rc->tree, .comm = NULL,
    };
    const struct frs_batch_source src = {job_next, job_deliver, j, job_flush};
    st = batch_engine_run(&be, &cfg, &src, tot);
    CHECK(st == FRS_OK, "%s: batch_engine_run: %s", what, frs_error_msg());
    /* one flush per step that delivered, covering every result by the end */
    CHECK(j->flushed == j->n_order && j->empty_flushes == 0 && j->flushes >= 1 && j->flushes <= tot->steps,
          "%s: %d flushes (%d empty) over %ld steps; %d of %d delivered results flushed", what, j->flushes,
          j->empty_flushes, tot->steps, j->flushed, j->n_order);
    be.ops->destroy(&be);
}

static void check_job(const char *what, const struct job *j, int32_t ref[NREQ][MAXN], const int *n_ref)
{
    for (int i = 0; i < j->n; i++) {
        CHECK(j->delivered[i] == 1 && !j->errors[i], "%s: request %d delivered %d times (error %d)", what, i,
              j->delivered[i], j->errors[i]);
        int diff = -1;
        for (int k = 0; k < n_ref[i] && diff < 0; k++)
            if (k >= j->n_out[i] || j->out[i][k] != ref[i][k])
                diff = k;
        CHECK(j->n_out[i] == n_ref[i] && diff < 0, "%s: request %d: %d tokens (reference %d), first difference at %d",
              what, i, j->n_out[i], n_ref[i], diff);
    }
}

static void test_pair(const char *target_rel, const char *head_rel)
{
    struct llama_model m;
    struct eagle_draft d;
    CHECK_OK(spec_load_pair(target_rel, head_rel, &m, &d));
    const int V = m.cfg.vocab_size;
    const struct run_cfg cfgs[] = {
        {1, FRS_SPEC_OFF, {1, 1, 1}, 0, 0, 0, 0},
        {1, FRS_SPEC_FIXED, {4, 4, 16}, 0, 0, 0, 0},
        {2, FRS_SPEC_FIXED, {3, 2, 5}, 0, 0, 0, 0},
        {3, FRS_SPEC_FIXED, {6, 10, 60}, 0, 0, 0, 0},
        {5, FRS_SPEC_AUTO, {5, 8, 32}, 0, 0, 0, 0},
        {8, FRS_SPEC_OFF, {1, 1, 1}, 0, 0, 0, 0},
        {8, FRS_SPEC_FIXED, {1, 1, 2}, 0, 0, 0, 0},
        /* pressure: 12 blocks of 8 positions for 5 sequences of up to 110 positions */
        {5, FRS_SPEC_FIXED, {3, 4, 10}, 8, 14, 0, 1},
        {4, FRS_SPEC_OFF, {1, 1, 1}, 4, 30, 0, 1},
        {8, FRS_SPEC_AUTO, {4, 4, 16}, 8, 16, 0, 1},
    };
    for (int sampled = 0; sampled < 2; sampled++) {
        struct job j;
        make_job(&j, V, sampled, 5 + (uint64_t)sampled);
        int32_t ref[NREQ][MAXN];
        int n_ref[NREQ];
        reference(&m, &j, ref, n_ref);
        for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
            const struct run_cfg *rc = &cfgs[c];
            char what[256];
            snprintf(what, sizeof what, "%s + %s, %s, batch %d, %s %d/%d/%d, pool %d x %d", target_rel, head_rel,
                     sampled ? "sampled" : "greedy", rc->max_seqs, batch_policy_name(rc->policy), rc->tree.depth,
                     rc->tree.topk, rc->tree.size, rc->kv_blocks, rc->kv_block);
            make_job(&j, V, sampled, 5 + (uint64_t)sampled);
            struct frs_batch_totals tot;
            memset(&tot, 0, sizeof tot);
            run_batched(what, &m, rc->policy == FRS_SPEC_OFF ? NULL : &d, &j, rc, &tot);
            check_job(what, &j, ref, n_ref);
            if (rc->expect_preempt)
                CHECK(tot.preemptions > 0, "%s: no preemption under a small pool", what);
            fprintf(stderr, "  %-90s steps %4ld, %3ld preemptions, %4ld drafted / %4ld AR sequence-steps, order",
                    what, tot.steps, tot.preemptions, tot.drafted_seq_steps, tot.ar_seq_steps);
            for (int k = 0; k < j.n_order; k++)
                fprintf(stderr, " %d", j.order[k]);
            fputc('\n', stderr);
        }
    }
    eagle_draft_free(&d);
    llama_model_free(&m);
}

/* Batched prefill and verify of one sequence == the same sequence alone: its chosen first token and
 * its logits (bit-identical on the CPU), whatever the other sequences and however its prompt is
 * chunked; the prefill op's argument checks. */
static void test_row_independence(void)
{
    struct llama_model m;
    char tdir[4096];
    snprintf(tdir, sizeof tdir, "%s", test_fixture("models/gqa-bf16"));
    CHECK_OK(llama_model_load(&m, tdir, 0, 1));
    const struct frs_limits lim = {.max_ctx = 64, .max_tree = 0, .prefill_chunk = 32, .max_seqs = 3,
                                   .max_step_rows = 8, .kv_block = 4, .kv_blocks = 48};
    struct frs_backend be;
    memset(&be, 0, sizeof be);
    CHECK_OK(frs_backend_cpu_ops.create(&be, &m, NULL, NULL, &lim, NULL));
    struct cpu_backend *b = be.impl;
    const int Vl = m.vocab_local;
    /* three sequences, blocks interleaved in the pool */
    int32_t blocks[3][16];
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 16; k++)
            blocks[s][k] = 3 * k + (2 - s);
    const int lens[3] = {7, 13, 2}, all_chosen[3] = {1, 1, 1};
    const struct frs_sampling g[3] = {{0, 1, 0, 0}, {0.8f, 0.9f, 0, 7}, {0, 1, 0, 0}};
    int32_t toks[3][16], first[3], one;
    const int32_t *tp[3];
    struct frs_seq seqs[3];
    for (int s = 0; s < 3; s++) {
        for (int k = 0; k < lens[s]; k++)
            toks[s][k] = (int32_t)(frs_rng_u64(11, (uint64_t)s, (uint64_t)k) % 512);
        tp[s] = toks[s];
        seqs[s] = (struct frs_seq){s, 0, 0, blocks[s], 16};
    }
    /* all three prompts in one op (22 rows <= frs_batch_prefill_rows = 32) */
    CHECK_OK(be.ops->batch->prefill(&be, 3, seqs, tp, lens, all_chosen, g, first));
    float *all = malloc((size_t)3 * Vl * sizeof(float));
    memcpy(all, b->logits, (size_t)3 * Vl * sizeof(float));
    for (int s = 0; s < 3; s++) {
        CHECK_OK(be.ops->batch->prefill(&be, 1, &seqs[s], &tp[s], &lens[s], all_chosen, &g[s], &one));
        CHECK(one == first[s], "sequence %d: first token %d alone, %d in the batched prefill", s, (int)one,
              (int)first[s]);
        CHECK(memcmp(b->logits, all + (size_t)s * Vl, (size_t)Vl * sizeof(float)) == 0,
              "sequence %d: prefill logits alone differ from its row in the batched prefill", s);
    }
    /* sequence 1 in two chunks (5 tokens beside sequence 2's prompt, none chosen, then 8): the same */
    {
        const int c1[2] = {5, 2}, no[2] = {0, 0}, c2 = 8;
        const struct frs_seq pair[2] = {seqs[1], seqs[2]};
        int32_t unused[2] = {-1, -1};
        CHECK_OK(be.ops->batch->prefill(&be, 2, pair, (const int32_t *const[]){toks[1], toks[2]}, c1, no, g + 1, unused));
        CHECK(unused[0] == -1 && unused[1] == -1, "prefill wrote a token it was not asked to choose");
        struct frs_seq rest = seqs[1];
        rest.target_len = 5;
        const int32_t *tail = toks[1] + 5;
        CHECK_OK(be.ops->batch->prefill(&be, 1, &rest, &tail, &c2, all_chosen, &g[1], &one));
        CHECK(one == first[1], "sequence 1 in two chunks: first token %d, %d in one", (int)one, (int)first[1]);
        CHECK(memcmp(b->logits, all + (size_t)Vl, (size_t)Vl * sizeof(float)) == 0,
              "sequence 1 in two chunks: its logits differ");
    }
    /* argument checks: a slot twice, more rows than the op takes, no tokens */
    {
        const struct frs_seq twice[2] = {seqs[0], seqs[0]};
        const int c[2] = {1, 1}, big[2] = {7, 26}, zero[1] = {0};
        CHECK(be.ops->batch->prefill(&be, 2, twice, tp, c, all_chosen, g, first) == FRS_ERR_INVALID_ARG,
              "a slot twice in one prefill accepted");
        CHECK(be.ops->batch->prefill(&be, 2, seqs, tp, big, all_chosen, g, first) == FRS_ERR_INVALID_ARG,
              "33 rows in one prefill accepted (the op takes 32)");
        CHECK(be.ops->batch->prefill(&be, 1, seqs, tp, zero, all_chosen, g, first) == FRS_ERR_INVALID_ARG,
              "a prefill of 0 tokens accepted");
    }
    free(all);
    for (int s = 0; s < 3; s++)
        seqs[s].target_len = lens[s];
    const int32_t roots[3] = {17, 230, 5};
    const int drafted[3] = {0, 0, 0};
    struct frs_tree trees[3];
    struct frs_accept acc[3];
    CHECK_OK(be.ops->batch->verify(&be, 3, seqs, roots, drafted, g, trees, acc));
    all = malloc((size_t)3 * Vl * sizeof(float));
    memcpy(all, b->logits, (size_t)3 * Vl * sizeof(float));
    for (int s = 0; s < 3; s++) {
        CHECK_OK(be.ops->batch->verify(&be, 1, &seqs[s], &roots[s], &drafted[s], &g[s], trees, acc));
        CHECK(memcmp(b->logits, all + (size_t)s * Vl, (size_t)Vl * sizeof(float)) == 0,
              "sequence %d: logits alone differ from its row in the batch", s);
    }
    free(all);
    be.ops->destroy(&be);
    llama_model_free(&m);
}

static void test_context(void)
{
    struct llama_model m;
    struct eagle_draft d;
    CHECK_OK(spec_load_pair("spec/markov-target", "spec/markov-noisy", &m, &d));
    struct job j;
    make_job(&j, m.cfg.vocab_size, 0, 9);
    for (int i = 0; i < NREQ; i++) {
        j.max_new[i] = 40;
        j.n_stop[i] = 0;
    }
    const int max_ctx = 48;
    j.n_prompt[2] = max_ctx;     /* exactly the context: one token */
    j.n_prompt[4] = max_ctx + 1; /* too long: an error result */
    j.n_prompt[8] = max_ctx - 3; /* 4 tokens, the tree shrinking on the way */
    for (int k = 0; k < MAXP; k++) {
        j.prompt[2][k] = k % 200;
        j.prompt[4][k] = k % 200;
    }
    int32_t ref[NREQ][MAXN];
    int n_ref[NREQ];
    struct job jr = j;
    jr.n_prompt[4] = 1; /* the reference has no limit to hit */
    reference(&m, &jr, ref, n_ref);
    const enum frs_spec_policy pols[3] = {FRS_SPEC_FIXED, FRS_SPEC_AUTO, FRS_SPEC_OFF};
    for (int pi = 0; pi < 3; pi++) {
        struct job jb = j;
        const struct run_cfg rc = {4, pols[pi], {6, 6, 40}, 0, 0, max_ctx, 0};
        struct frs_batch_totals tot;
        run_batched("context", &m, pols[pi] == FRS_SPEC_OFF ? NULL : &d, &jb, &rc, &tot);
        for (int i = 0; i < NREQ; i++) {
            CHECK(jb.delivered[i] == 1, "context %s: request %d delivered %d times", batch_policy_name(pols[pi]), i,
                  jb.delivered[i]);
            if (i == 4) {
                CHECK(jb.errors[i] && jb.n_out[i] == 0, "context: a prompt over max_ctx must give an error result");
                continue;
            }
            const int room = max_ctx - j.n_prompt[i] + 1;
            const int expect = room < j.max_new[i] ? room : j.max_new[i];
            CHECK(!jb.errors[i] && jb.n_out[i] == expect, "context %s: request %d (prompt %d): %d tokens, expected %d",
                  batch_policy_name(pols[pi]), i, j.n_prompt[i], jb.n_out[i], expect);
            CHECK(!strcmp(jb.reason[i], room < j.max_new[i] ? "context" : "max_new_tokens"),
                  "context: request %d stop_reason %s", i, jb.reason[i]);
            for (int k = 0; k < jb.n_out[i] && k < n_ref[i]; k++)
                if (jb.out[i][k] != ref[i][k]) {
                    CHECK(0, "context %s: request %d token %d differs from the reference", batch_policy_name(pols[pi]),
                          i, k);
                    break;
                }
        }
    }
    eagle_draft_free(&d);
    llama_model_free(&m);
}

/* auto speculates where it pays, measured: markov-exact's draft is always right (about depth + 1
 * tokens per iteration), and the CPU backend's ops run behind a virtual device whose clock (the
 * engine's cfg.clock) advances by a modelled cost per op: a fixed cost per step, per verify row
 * and per draft row. Where rows are cheap (a GPU's memory-bound regime), speculation pays and
 * auto must mostly draft; where rows are dear, it must mostly decode autoregressively (both its
 * cost model and its measured guard, policy_arm, decide from these timings). Tokens stay the
 * reference's either way. Deterministic: no real time is read. */
static struct vdev {
    double t, per_step, per_row, per_drow;
    const struct frs_batch_ops *inner;
    /* warm > 0: a verify at a row count not seen before costs warm more (a CUDA graph capture and
     * GEMM timing), and the ops say they warm up */
    double warm;
    unsigned char seen[1024];
} g_vdev;

static double vdev_clock(void *user)
{
    (void)user;
    return g_vdev.t;
}

static enum frs_status vdev_draft(struct frs_backend *be, int n, const struct frs_seq *seqs,
                                  const int32_t *const *next_tokens, const struct frs_tree_params *p)
{
    for (int i = 0; i < n; i++)
        g_vdev.t += g_vdev.per_drow * (tree_draft_rows(&p[i]) + 1);
    return g_vdev.inner->draft(be, n, seqs, next_tokens, p);
}

static enum frs_status vdev_verify(struct frs_backend *be, int n, const struct frs_seq *seqs, const int32_t *roots,
                                   const int *drafted, const struct frs_sampling *s, struct frs_tree *trees,
                                   struct frs_accept *acc)
{
    const enum frs_status st = g_vdev.inner->verify(be, n, seqs, roots, drafted, s, trees, acc);
    g_vdev.t += g_vdev.per_step;
    int rows = 0;
    for (int i = 0; i < n; i++)
        rows += trees[i].n;
    g_vdev.t += g_vdev.per_row * rows;
    if (g_vdev.warm > 0 && rows < (int)sizeof g_vdev.seen && !g_vdev.seen[rows]) {
        g_vdev.seen[rows] = 1;
        g_vdev.t += g_vdev.warm;
    }
    return st;
}

/* the job under policy on the virtual device: its tokens per virtual second (tokens checked against
 * the reference) */
static double vdev_job(const char *what, const struct llama_model *m, const struct eagle_draft *d,
                       enum frs_spec_policy policy, double per_row, double warm, int ms, struct frs_batch_totals *tot)
{
    struct job j;
    make_job(&j, m->cfg.vocab_size, 0, 21);
    for (int i = 0; i < NREQ; i++)
        j.n_stop[i] = 0;
    int32_t ref[NREQ][MAXN];
    int n_ref[NREQ];
    reference(m, &j, ref, n_ref);
    struct frs_limits lim = {.max_ctx = 256, .max_tree = 64, .prefill_chunk = 16, .max_seqs = ms,
                             .max_step_rows = ms * 16 + 16, .kv_block = 0, .kv_blocks = ms * 17};
    struct frs_backend be;
    memset(&be, 0, sizeof be);
    CHECK_OK(frs_backend_cpu_ops.create(&be, m, d, NULL, &lim, NULL));
    static struct frs_backend_ops ops;
    static struct frs_batch_ops bops;
    ops = *be.ops;
    bops = *be.ops->batch;
    g_vdev = (struct vdev){0.0, 1e-3, per_row, per_row, be.ops->batch, warm, {0}};
    bops.draft = vdev_draft;
    bops.verify = vdev_verify;
    bops.warms_up = warm > 0;
    ops.batch = &bops;
    be.ops = &ops;
    const struct frs_batch_config cfg = {
        .max_seqs = ms, .max_ctx = 256, .kv_block = 0, .prefill_chunk = 16, .step_tokens = 0,
        .max_step_rows = lim.max_step_rows, .max_tree = 64, .policy = policy, .tree = {4, 4, 16},
        .comm = NULL, .clock = vdev_clock, .clock_user = NULL,
    };
    const struct frs_batch_source src = {job_next, job_deliver, &j, NULL};
    memset(tot, 0, sizeof *tot);
    CHECK_OK(batch_engine_run(&be, &cfg, &src, tot));
    be.ops->destroy(&be);
    check_job(what, &j, ref, n_ref);
    long toks = 0;
    for (int i = 0; i < NREQ; i++)
        toks += j.n_out[i];
    return g_vdev.t > 0 ? (double)toks / g_vdev.t : 0.0;
}

/* auto against the better of off and fixed on the same job and virtual device (issue 14: auto
 * never below them "within noise"; here there is no noise, only what auto's search and guard
 * spend on exploring), across cheap and dear rows, with and without warm-up costs */
static void test_auto_vs_fixed_off(void)
{
    struct llama_model m;
    struct eagle_draft d;
    CHECK_OK(spec_load_pair("spec/markov-target", "spec/markov-noisy", &m, &d));
    const double rows[] = {1e-6, 1e-4, 3e-4, 1e-3};
    for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++)
        for (int w = 0; w < 2; w++) {
            const double warm = w ? 20e-3 : 0.0;
            struct frs_batch_totals t_off, t_fix, t_auto;
            char what[160];
            snprintf(what, sizeof what, "virtual device, %.0e s a row, warm-up %.0f ms", rows[ri], warm * 1e3);
            const double off = vdev_job(what, &m, &d, FRS_SPEC_OFF, rows[ri], warm, 4, &t_off);
            const double fix = vdev_job(what, &m, &d, FRS_SPEC_FIXED, rows[ri], warm, 4, &t_fix);
            const double aut = vdev_job(what, &m, &d, FRS_SPEC_AUTO, rows[ri], warm, 4, &t_auto);
            const double best = off > fix ? off : fix;
            fprintf(stderr, "  %-52s off %7.0f  fixed %7.0f  auto %7.0f tok/s (%.2fx the better; %ld drafted, %ld AR "
                    "sequence-steps)\n", what, off, fix, aut, aut / best, t_auto.drafted_seq_steps,
                    t_auto.ar_seq_steps);
            /* a 12-request job of ~70 steps: auto's first samples of each alternative are a
             * visible share of it (one speculative step on dear rows costs ~25 autoregressive
             * ones), and with a warm-up cost auto does not explore in so short a job (0.66x where
             * fixed wins); measured 0.66-1.00x with the loss-charged budget, 0.67-0.96x with the
             * time-charged one, 0.27-0.86x before any */
            CHECK(aut >= 0.6 * best, "auto (%s): %.0f tok/s, under 0.6 x the better of off (%.0f) and fixed (%.0f)",
                  what, aut, off, fix);
        }
    eagle_draft_free(&d);
    llama_model_free(&m);
}

static void auto_case(const char *what, const struct llama_model *m, const struct eagle_draft *d, double per_row,
                      int want_draft)
{
    struct frs_batch_totals tot;
    vdev_job(what, m, d, FRS_SPEC_AUTO, per_row, 0.0, 4, &tot);
    fprintf(stderr, "  auto on markov-exact, %s: %ld drafted / %ld autoregressive sequence-steps\n", what,
            tot.drafted_seq_steps, tot.ar_seq_steps);
    if (want_draft) {
        CHECK(tot.drafted_seq_steps > 2 * tot.ar_seq_steps, "auto (%s): %ld drafted vs %ld autoregressive "
              "sequence-steps with an always-right draft", what, tot.drafted_seq_steps, tot.ar_seq_steps);
        /* every drafted step of an always-right draft keeps its whole path (>= 2 tokens) but the
         * last ones a request's budget cuts */
        CHECK(tot.drafted_tokens > 3 * tot.drafted_seq_steps / 2, "auto: %ld tokens from %ld drafted "
              "sequence-steps with an always-right draft", tot.drafted_tokens, tot.drafted_seq_steps);
    } else {
        CHECK(tot.ar_seq_steps > 2 * tot.drafted_seq_steps, "auto (%s): %ld drafted vs %ld autoregressive "
              "sequence-steps where a row costs as much as a step", what, tot.drafted_seq_steps, tot.ar_seq_steps);
    }
}

static void test_auto_choice(void)
{
    struct llama_model m;
    struct eagle_draft d;
    CHECK_OK(spec_load_pair("spec/markov-target", "spec/markov-exact", &m, &d));
    auto_case("rows cheap (1e-6 s a row, 1e-3 s a step)", &m, &d, 1e-6, 1);
    auto_case("rows dear (1e-3 s a row, 1e-3 s a step)", &m, &d, 1e-3, 0);
    eagle_draft_free(&d);
    llama_model_free(&m);
}

int main(void)
{
    test_auto_choice();
    test_auto_vs_fixed_off();
    test_row_independence();
    test_context();
    test_pair("spec/markov-target", "spec/markov-noisy");
    test_pair("models/gqa-bf16", "spec/head-gqa");
    return test_finish("test_batch");
}
