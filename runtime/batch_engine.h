/* batch_engine.h - the batched generation loop (issue 14): many requests in flight on one backend
 * through its batched ops (runtime/batch.h), continuous batching, chunked prefill under a token
 * budget, a paged KV pool (runtime/kvpool.h) with waiting and preemption, per-sequence
 * speculation policy.
 *
 * One engine step:
 *   1. admit: while a slot is free, take the next request (the queue of preempted sequences
 *      first, then the source) when the pool can hold its prompt (+1 position), else wait;
 *   2. plan: for each decoding sequence a tree shape (policy; shrunk near the context limit,
 *      then autoregressive) and its blocks; a sequence that cannot grow frees room by preempting
 *      the most recently admitted sequence (its blocks freed, itself requeued at the front and
 *      later recomputed by prefilling prompt + generated tokens);
 *   3. run: one draft op over the drafting sequences, one verify over every decoding sequence,
 *      one commit; then prefill chunks of the sequences still reading their prompt, under the
 *      step's token budget (at least one chunk per step);
 *   4. finish: a sequence that met a stop token, max_new_tokens or the context limit is
 *      delivered (deliver callback), its blocks and slot freed.
 *
 * Results do not depend on the batch: every token is chosen by the target at its position
 * (batch.h: greedy argmax or the Gumbel-max draw with draw index = position) and the acceptance
 * walk is greedy, so a request's tokens equal autoregressive decoding with the same seed,
 * whatever the other requests, the policy, the pool pressure (preemption recomputes the same
 * logits) or the TP degree.
 *
 * Context limit: a sequence never writes past max_ctx positions (nor past the pool); near it the
 * tree shrinks to what fits, then steps are autoregressive, and at target_len == max_ctx the
 * sequence ends with stop_reason "context". A prompt of up to max_ctx tokens is always served.
 *
 * Policies: FRS_SPEC_OFF autoregressive; FRS_SPEC_FIXED the given tree for every sequence;
 * FRS_SPEC_AUTO each step picks per sequence a tree from a menu (no speculation, small, medium,
 * the given tree) maximising expected tokens per second of the whole step:
 * sum_i E_i(m_i) / (t_verify(rows) + t_draft(draft rows, depth)), E_i from the sequence's own
 * running tokens per iteration at that menu entry (falling back to the batch's, then to a
 * prior), the times from a least-squares fit of the step times measured so far (a fixed prior
 * ratio until there are measurements). Under TP the choice is rank 0's, broadcast (comm), since
 * timings differ between ranks; everything else is decided from data equal on every rank.
 *
 * defines: enum frs_spec_policy, struct frs_batch_request, struct frs_batch_source,
 *          struct frs_batch_config, struct frs_batch_totals, batch_engine_run,
 *          batch_policy_parse, batch_policy_name
 */
#ifndef FRSPEC_BATCH_ENGINE_H
#define FRSPEC_BATCH_ENGINE_H

#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "engine.h"
#include "status.h"

struct frs_comm;

enum frs_spec_policy {
    FRS_SPEC_OFF = 0,
    FRS_SPEC_FIXED = 1,
    FRS_SPEC_AUTO = 2,
};

/* A request as the source hands it over; the engine copies prompt and stop tokens. */
struct frs_batch_request {
    uint64_t id;           /* the caller's */
    void *user;            /* the caller's, given back with the result */
    const int32_t *prompt;
    int n_prompt;
    int max_new_tokens;
    const int32_t *stop;   /* generation ends after the first of these (kept in the output) */
    int n_stop;
    struct frs_sampling sampling;
};

struct frs_batch_source {
    /* The next request into *req, or *done = 1 when there will be none. Called on every rank at
     * the same points (the runner's callback broadcasts rank 0's answer). */
    enum frs_status (*next)(void *user, struct frs_batch_request *req, int *done);
    /* A finished request: tokens (st->n_tokens), stats; error non-NULL when the request could
     * not be served (then no tokens), e.g. a prompt longer than the context. */
    enum frs_status (*deliver)(void *user, const struct frs_batch_request *req, const int32_t *tokens,
                               const struct frs_gen_stats *st, const char *error);
    void *user;
    /* Optional (NULL: none): called after a step's deliveries, on every rank, when the step
     * delivered at least one result and before the next step computes: the results delivered so
     * far must be durable when it returns (a job file fsyncs once per step, not once per result). */
    enum frs_status (*flush)(void *user);
};

struct frs_batch_config {
    int max_seqs;           /* sequences in flight, <= the backend's lim.max_seqs */
    int max_ctx;            /* positions per sequence (the backend's lim.max_ctx) */
    int kv_block;           /* positions per pool block (the backend's lim.kv_block or default) */
    int prefill_chunk;      /* most tokens of one sequence in one prefill op */
    int step_tokens;        /* token budget of one step: verify rows + prefill tokens (0: max_step_rows) */
    int max_step_rows;      /* the backend's lim.max_step_rows */
    int prefill_rows;       /* most rows of one prefill op: the backend's frs_batch_prefill_rows(lim)
                               (0: max(prefill_chunk, max_step_rows)) */
    int max_tree;           /* the backend's lim.max_tree */
    enum frs_spec_policy policy;
    struct frs_tree_params tree; /* FIXED: every tree; AUTO: the largest menu entry */
    struct frs_comm *comm;  /* NULL: one process; else AUTO's choices come from rank 0 */
    const struct frs_step_watch *watch; /* optional: armed around each step's compute (engine.h) */
    /* optional (tests): the clock AUTO's measurements read, in seconds; NULL: CLOCK_MONOTONIC */
    double (*clock)(void *user);
    void *clock_user;
    /* optional: one line per step (sequences, arm, rows, tokens, plan / draft / verify / prefill
     * milliseconds) for tuning AUTO; launch sets it from FRS_BATCH_TRACE on rank 0 */
    FILE *trace;
};

/* Totals over a run (for the bench and the tests). */
struct frs_batch_totals {
    long steps, tokens, preemptions, requests;
    long verify_rows, drafted_seq_steps, ar_seq_steps;
    long drafted_tokens; /* tokens the drafted sequence-steps produced (accepted + bonus) */
    double seconds;
};

/* Serve every request of src on be (created with lim.max_seqs >= cfg->max_seqs and a draft when
 * the policy is not OFF). Returns FRS_OK when the source is done and every result delivered. */
enum frs_status batch_engine_run(struct frs_backend *be, const struct frs_batch_config *cfg,
                                 const struct frs_batch_source *src, struct frs_batch_totals *totals);

/* "auto" | "fixed" | "off" */
enum frs_status batch_policy_parse(const char *s, enum frs_spec_policy *out);
const char *batch_policy_name(enum frs_spec_policy p);

#endif
