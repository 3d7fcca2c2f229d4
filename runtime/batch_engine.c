/* batch_engine.c - the batched generation loop (see batch_engine.h): request queue, slots, the
 * pool's block accounting, the step plan (admission, tree shapes, preemption), the policies and
 * the per-sequence bookkeeping (tokens, stop rules, stats). Compute is the backend's batched ops.
 */
#include "batch_engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accept.h"
#include "batch.h"
#include "collectives.h"
#include "kvpool.h"
#include "tree.h"

#define BE_MENU 4 /* auto's tree menu: none, small, medium, the configured tree */
#define BE_ARMS 3       /* auto's whole-step alternatives: the model's choice, all off, all at the full tree */
#define BE_BUCKETS 12   /* running-sequence counts bucketed by log2 */
#define BE_ARM_MIN 2    /* steps each alternative gets in a bucket before the measured best is used */
#define BE_ARM_EXPLORE 24 /* then every 24th step of a bucket runs another alternative, to stay current */
#define BE_ARM_BUDGET 0.05 /* ... while what the steps run off the best so far lose stays within 5% of the decode time */
#define BE_ARM_WARM_GUESS 16     /* a backend with warm-up: the first exploring step's loss guessed at 16 */
#define BE_ARM_WARM_GUESS_S 0.05 /* mean steps, and at least 50 ms */

static double be_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct be_seq {
    struct frs_batch_request req; /* prompt and stop point into toks / stop below */
    int32_t *toks;     /* prompt then generated tokens; toks[target_len] is the root when decoding */
    int n_toks, cap;
    int32_t *stop;
    int slot;          /* -1 while waiting */
    uint64_t order;    /* admission order: the latest admitted is preempted first */
    int target_len, draft_len;
    int decoding;      /* 1: the root toks[target_len] is known */
    int n_gen;         /* generated tokens (toks[n_prompt ..]) */
    int done;
    const char *reason;
    /* this step */
    int menu;          /* chosen menu entry, 0 = autoregressive */
    int dsteps;        /* decode steps (verifies) so far */
    int ar_run;        /* consecutive autoregressive steps */
    struct frs_tree_params p; /* the shape actually drafted (shrunk near the limit) */
    /* stats */
    struct frs_gen_stats st;
    long spec_iters, spec_tokens;
    double acc_sum[BE_MENU];
    long acc_n[BE_MENU];
    double t_start, t_first;
    uint64_t tree_hash;
};

struct be_state {
    struct frs_backend *be;
    const struct frs_batch_ops *ops;
    struct frs_batch_config cfg;
    const struct frs_batch_source *src;
    struct kvpool pool;
    int pool_ctx;        /* positions one sequence may use: min(max_ctx, the whole pool) */
    struct be_seq **slots;  /* (max_seqs) running, NULL = free */
    struct be_seq **queue;  /* waiting (preempted first) */
    int n_queue, cap_queue;
    int source_done;
    uint64_t next_order;
    struct frs_tree_params menu[BE_MENU];
    int n_menu;
    /* step scratch (max_seqs) */
    struct frs_seq *fs;
    struct be_seq **run, **pre, **op;
    int *counts; /* a prefill op's chunk lengths */
    const int32_t **next_toks;
    struct frs_tree_params *tp;
    int32_t *roots;
    int *drafted;
    struct frs_sampling *samp;
    struct frs_tree *trees;
    struct frs_accept *acc;
    int32_t *plan;
    /* auto's cost model: least squares of step time against (1, verify rows, draft rows) */
    double ls[4][5];
    long n_fit;
    double glob_sum[BE_MENU];
    long glob_n[BE_MENU];
    /* auto's check of the model against measured throughput (policy_arm) */
    struct be_arms {
        double rate[BE_ARMS]; /* EWMA of realized decode tokens per second */
        long n[BE_ARMS];
        long steps;
    } arms[BE_BUCKETS];
    int arm, arm_bucket, arm_explore; /* arm_explore: this step runs an alternative off the best */
    double arm_total_s;    /* decode time so far */
    double arm_loss_s;     /* what the exploring steps lost against the best known (s; a gain counts) */
    double arm_loss_max;   /* the largest loss of one exploring step so far (s) */
    long arm_steps;        /* steps in arm_total_s */
    struct frs_batch_totals tot;
    int unflushed; /* results delivered since the source's last flush */
};

/* the clock of the step timings AUTO learns from (cfg.clock for tests) */
static double be_clock(const struct be_state *e)
{
    return e->cfg.clock ? e->cfg.clock(e->cfg.clock_user) : be_now();
}

static void seq_free(struct be_seq *s)
{
    if (!s)
        return;
    free(s->toks);
    free(s->stop);
    free(s);
}

static struct frs_seq seq_view(struct be_state *e, const struct be_seq *s)
{
    struct frs_seq v = {.slot = s->slot, .target_len = s->target_len, .draft_len = s->draft_len,
                        .blocks = kvpool_table(&e->pool, s->slot), .n_blocks = e->pool.n_of[s->slot]};
    return v;
}

static enum frs_status queue_push(struct be_state *e, struct be_seq *s, int front)
{
    if (e->n_queue == e->cap_queue) {
        int cap = e->cap_queue ? 2 * e->cap_queue : 16;
        struct be_seq **q = realloc(e->queue, (size_t)cap * sizeof *q);
        if (!q)
            return FRS_ERR(FRS_ERR_OOM, "batch engine: queue of %d", cap);
        e->queue = q;
        e->cap_queue = cap;
    }
    if (front) {
        memmove(e->queue + 1, e->queue, (size_t)e->n_queue * sizeof *e->queue);
        e->queue[0] = s;
    } else {
        e->queue[e->n_queue] = s;
    }
    e->n_queue++;
    return FRS_OK;
}

static enum frs_status seq_new(const struct frs_batch_request *r, struct be_seq **out)
{
    *out = NULL;
    if (r->n_prompt < 0 || r->max_new_tokens < 0 || r->n_stop < 0 || (r->n_prompt > 0 && !r->prompt))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "batch engine: request %llu: prompt %d tokens, max_new_tokens %d",
                       (unsigned long long)r->id, r->n_prompt, r->max_new_tokens);
    struct be_seq *s = calloc(1, sizeof *s);
    if (!s)
        return FRS_ERR(FRS_ERR_OOM, "batch engine: sequence");
    s->cap = r->n_prompt + r->max_new_tokens + FRS_MAX_TREE + 2;
    s->toks = malloc((size_t)s->cap * sizeof *s->toks);
    s->stop = malloc((size_t)(r->n_stop + 1) * sizeof *s->stop);
    if (!s->toks || !s->stop) {
        const int cap = s->cap;
        seq_free(s);
        return FRS_ERR(FRS_ERR_OOM, "batch engine: %d tokens", cap);
    }
    if (r->n_prompt)
        memcpy(s->toks, r->prompt, (size_t)r->n_prompt * sizeof *s->toks);
    if (r->n_stop)
        memcpy(s->stop, r->stop, (size_t)r->n_stop * sizeof *s->stop);
    s->n_toks = r->n_prompt;
    s->req = *r;
    s->req.prompt = s->toks;
    s->req.stop = s->stop;
    s->slot = -1;
    s->reason = "max_new_tokens";
    s->tree_hash = 0x6672737065630001ull;
    *out = s;
    return FRS_OK;
}

/* Take generated tokens in order until a stop token or the budget (engine.c's rule). */
static void seq_take(struct be_seq *s, const int32_t *t, int n)
{
    for (int i = 0; i < n && !s->done; i++) {
        if (s->n_gen >= s->req.max_new_tokens) {
            s->done = 1;
            s->reason = "max_new_tokens";
            break;
        }
        s->toks[s->n_toks++] = t[i];
        s->n_gen++;
        for (int k = 0; k < s->req.n_stop; k++)
            if (s->req.stop[k] == t[i]) {
                s->done = 1;
                s->reason = "stop_token";
            }
    }
    if (!s->done && s->n_gen >= s->req.max_new_tokens) {
        s->done = 1;
        s->reason = "max_new_tokens";
    }
}

static enum frs_status seq_deliver(struct be_state *e, struct be_seq *s, const char *error)
{
    struct frs_gen_stats *st = &s->st;
    st->n_tokens = error ? 0 : s->n_gen;
    st->stop_reason = error ? "error" : s->reason;
    st->mean_accepted = s->spec_iters ? (double)s->spec_tokens / (double)s->spec_iters : 0.0;
    const int32_t *gen = s->toks + s->req.n_prompt;
    st->tokens_hash = engine_hash_tokens(gen, st->n_tokens, 0x6672737065630002ull);
    st->tree_hash = s->tree_hash;
    const double t = be_now();
    st->t_prefill = s->t_first > 0 ? s->t_first - s->t_start : 0;
    st->t_decode = s->t_first > 0 ? t - s->t_first : 0;
    e->tot.requests++;
    e->tot.tokens += st->n_tokens;
    e->unflushed++;
    return e->src->deliver(e->src->user, &s->req, gen, st, error);
}

/* the source's flush once for everything delivered since the last (once per step at most) */
static enum frs_status flush_delivered(struct be_state *e)
{
    if (!e->unflushed || !e->src->flush)
        return FRS_OK;
    e->unflushed = 0;
    return e->src->flush(e->src->user);
}

static void seq_release(struct be_state *e, struct be_seq *s)
{
    if (s->slot >= 0) {
        kvpool_release(&e->pool, s->slot);
        e->slots[s->slot] = NULL;
        s->slot = -1;
    }
}

/* Free the slot and blocks of s and put it back at the front of the queue: it will prefill its
 * prompt and generated tokens again (the same logits, hence the same tokens). */
static enum frs_status seq_preempt(struct be_state *e, struct be_seq *s)
{
    seq_release(e, s);
    s->target_len = 0;
    s->draft_len = 0;
    e->tot.preemptions++;
    return queue_push(e, s, 1);
}

/* Positions to prefill before s decodes: everything but the root when it is known. */
static int seq_prefill_end(const struct be_seq *s)
{
    return s->decoding ? s->n_toks - 1 : s->n_toks;
}

/* ---- admission ------------------------------------------------------------------------------ */

static enum frs_status admit(struct be_state *e)
{
    for (;;) {
        int slot = -1;
        for (int i = 0; i < e->cfg.max_seqs; i++)
            if (!e->slots[i]) {
                slot = i;
                break;
            }
        if (slot < 0)
            return FRS_OK;
        if (e->n_queue == 0) {
            if (e->source_done)
                return FRS_OK;
            struct frs_batch_request r;
            int done = 0;
            memset(&r, 0, sizeof r);
            FRS_TRY(e->src->next(e->src->user, &r, &done));
            if (done) {
                e->source_done = 1;
                return FRS_OK;
            }
            struct be_seq *s;
            FRS_TRY(seq_new(&r, &s));
            s->t_start = be_now();
            if (s->req.n_prompt < 1 || s->req.n_prompt > e->pool_ctx) {
                char msg[256];
                snprintf(msg, sizeof msg, "prompt of %d tokens: %s %d positions per sequence", s->req.n_prompt,
                         s->req.n_prompt < 1 ? "empty; need at least 1 of the" : "exceeds the",
                         e->pool_ctx);
                enum frs_status st = seq_deliver(e, s, msg);
                seq_free(s);
                FRS_TRY(st);
                continue;
            }
            if (s->req.max_new_tokens == 0) {
                enum frs_status st = seq_deliver(e, s, NULL);
                seq_free(s);
                FRS_TRY(st);
                continue;
            }
            FRS_TRY(queue_push(e, s, 0));
        }
        struct be_seq *s = e->queue[0];
        /* the whole prefill and one more position, so that a prefill never waits half-way */
        const int need = seq_prefill_end(s) + 1 <= e->pool_ctx ? seq_prefill_end(s) + 1 : e->pool_ctx;
        enum frs_status st = kvpool_reserve(&e->pool, slot, need);
        if (st == FRS_ERR_NO_ROOM)
            return FRS_OK; /* waits for blocks */
        FRS_TRY(st);
        memmove(e->queue, e->queue + 1, (size_t)(e->n_queue - 1) * sizeof *e->queue);
        e->n_queue--;
        s->slot = slot;
        s->order = e->next_order++;
        s->target_len = 0;
        s->draft_len = 0;
        e->slots[slot] = s;
    }
}

/* ---- the policy ----------------------------------------------------------------------------- */

static void menu_init(struct be_state *e)
{
    const struct frs_tree_params t = e->cfg.tree;
    e->n_menu = 1;
    e->menu[0] = (struct frs_tree_params){1, 1, 1}; /* autoregressive */
    if (e->cfg.policy == FRS_SPEC_OFF)
        return;
    const struct frs_tree_params cand[3] = {
        {t.depth < 3 ? t.depth : 3, t.topk < 2 ? t.topk : 2, t.size < 4 ? t.size : 4},
        {t.depth < 4 ? t.depth : 4, t.topk < 4 ? t.topk : 4, t.size < 12 ? t.size : 12},
        t,
    };
    for (int c = e->cfg.policy == FRS_SPEC_FIXED ? 2 : 0; c < 3; c++) {
        if (cand[c].size < 2)
            continue;
        int dup = 0;
        for (int m = 1; m < e->n_menu; m++)
            dup |= e->menu[m].size == cand[c].size && e->menu[m].depth == cand[c].depth &&
                   e->menu[m].topk == cand[c].topk;
        if (!dup)
            e->menu[e->n_menu++] = cand[c];
    }
}

/* Expected tokens per iteration of s at menu entry m. */
static double expect_tokens(const struct be_state *e, const struct be_seq *s, int m)
{
    if (m == 0)
        return 1.0;
    const double prior = 1.0 + 0.6 * (e->menu[m].depth < 4 ? e->menu[m].depth : 4) * (1.0 - 1.0 / e->menu[m].topk);
    const double glob = e->glob_n[m] ? e->glob_sum[m] / (double)e->glob_n[m] : prior;
    const double w = 2.0; /* pseudo-iterations of the batch's figure */
    return (s->acc_sum[m] + w * glob) / ((double)s->acc_n[m] + w);
}

/* auto's cost model: step seconds = c0 + c1 * verify rows + c2 * draft rows + c3 * draft depth
 * (the sequential draft forwards of the deepest tree: a fixed cost the first drafting sequence
 * brings to the whole step), fitted by least squares to the measured steps; before 8
 * measurements a prior in units of one verify row. */
#define BE_NFEAT 4

static void cost_features(int rows, int drows, int depth, double *x)
{
    x[0] = 1.0;
    x[1] = (double)rows;
    x[2] = (double)drows;
    x[3] = (double)depth;
}

static double step_cost(const struct be_state *e, int rows, int drows, int depth)
{
    double c[BE_NFEAT] = {40.0, 1.0, 0.2, 10.0};
    if (e->n_fit >= 8) {
        /* the normal equations with a small ridge (collinear features: every sequence at one
         * menu entry), solved by Gauss-Jordan on a copy */
        double a[BE_NFEAT][BE_NFEAT + 1];
        memcpy(a, e->ls, sizeof a);
        for (int i = 0; i < BE_NFEAT; i++)
            a[i][i] += 1e-9 * (a[i][i] + 1.0);
        int ok = 1;
        for (int i = 0; i < BE_NFEAT && ok; i++) {
            int piv = i;
            for (int r = i + 1; r < BE_NFEAT; r++)
                if (fabs(a[r][i]) > fabs(a[piv][i]))
                    piv = r;
            if (fabs(a[piv][i]) < 1e-15) {
                ok = 0;
                break;
            }
            for (int k = 0; k <= BE_NFEAT; k++) {
                const double t = a[i][k];
                a[i][k] = a[piv][k];
                a[piv][k] = t;
            }
            for (int r = 0; r < BE_NFEAT; r++)
                if (r != i) {
                    const double f = a[r][i] / a[i][i];
                    for (int k = 0; k <= BE_NFEAT; k++)
                        a[r][k] -= f * a[i][k];
                }
        }
        if (ok) {
            for (int i = 0; i < BE_NFEAT; i++) {
                c[i] = a[i][BE_NFEAT] / a[i][i];
                if (c[i] < 0)
                    c[i] = 0;
            }
            if (c[1] <= 0)
                c[1] = 1e-9;
        }
    }
    double x[BE_NFEAT];
    cost_features(rows, drows, depth, x);
    double t = 0;
    for (int i = 0; i < BE_NFEAT; i++)
        t += c[i] * x[i];
    return t;
}

static void fit_add(struct be_state *e, int rows, int drows, int depth, double seconds)
{
    double x[BE_NFEAT];
    cost_features(rows, drows, depth, x);
    for (int i = 0; i < BE_NFEAT; i++) {
        for (int j = 0; j < BE_NFEAT; j++)
            e->ls[i][j] += x[i] * x[j];
        e->ls[i][BE_NFEAT] += x[i] * seconds;
    }
    e->n_fit++;
}

static int draft_rows_of(const struct frs_tree_params *p)
{
    return p->size < 2 ? 0 : p->depth * p->topk;
}

/* Expected tokens per second of the step with the sequences' current menu entries. */
static double step_value(const struct be_state *e, struct be_seq *const *run, int n)
{
    int rows = 0, drows = 0, depth = 0;
    double toks = 0;
    for (int i = 0; i < n; i++) {
        const struct frs_tree_params *p = &e->menu[run[i]->menu];
        rows += p->size;
        drows += draft_rows_of(p);
        if (p->size >= 2 && p->depth > depth)
            depth = p->depth;
        toks += expect_tokens(e, run[i], run[i]->menu);
    }
    return toks / step_cost(e, rows, drows, depth);
}

/* AUTO: coordinate ascent on the step's expected tokens per second over run[0..n), starting from
 * every sequence autoregressive. Probes measure what the model cannot know: a sequence's first
 * decode steps try each speculative menu entry once (largest first), and a sequence that has
 * stepped autoregressively BE_REPROBE times in a row tries the largest tree again; probes are
 * fixed, the others chosen around them. Decisions depend on step counts and timings only
 * (rank 0's are broadcast under TP). */
#define BE_REPROBE 32

static int probe_entry(const struct be_state *e, const struct be_seq *s)
{
    if (e->n_menu < 2)
        return -1;
    if (s->dsteps < e->n_menu - 1)
        return e->n_menu - 1 - s->dsteps;
    if (s->ar_run >= BE_REPROBE)
        return e->n_menu - 1;
    return -1;
}

static void policy_auto(struct be_state *e, struct be_seq **run, int n)
{
    for (int i = 0; i < n; i++) {
        const int pe = probe_entry(e, run[i]);
        run[i]->menu = pe >= 0 ? pe : 0;
    }
    double best = step_value(e, run, n);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if (probe_entry(e, run[i]) >= 0)
                continue;
            const int cur = run[i]->menu;
            int best_m = cur;
            for (int m = 0; m < e->n_menu; m++) {
                if (m == cur)
                    continue;
                run[i]->menu = m;
                const double v = step_value(e, run, n);
                if (v > best * (1.0 + 1e-9)) {
                    best = v;
                    best_m = m;
                }
            }
            run[i]->menu = best_m;
        }
}

/* AUTO's guard against its own model: the step's choice is one of three whole-step alternatives,
 * (0) the model's per-sequence choice (policy_auto), (1) every sequence autoregressive, (2) every
 * sequence at the full tree (what --spec-policy fixed runs), and the one with the highest measured
 * decode throughput (EWMA of accepted tokens over plan + draft + verify + commit seconds) at this
 * many running sequences (log2 bucket) is used. Each alternative runs BE_ARM_MIN times first: on a
 * backend that warms up (frs_batch_ops.warms_up: the CUDA one) its first step in a bucket is a
 * warm-up whose time is not used (it meets new shapes: CUDA graph captures, GEMM algorithm timing,
 * which cost many steps' time once), later samples are clamped to
 * [1/2, 2] x the running figure before they enter it (the same one-off costs at a new row count).
 * Then every BE_ARM_EXPLORE-th step of the bucket runs one of the others in turn, except that an
 * alternative measured under BE_ARM_FAR x the best is tried only every fourth time its turn comes.
 * So a cost model that is wrong for a device (measured on the GPU: auto under off at batch 64
 * before this guard) costs at most those steps. */
#define BE_ARM_FAR 0.6

/* the best measured alternative of bucket b, else of the nearest bucket with a measured one (a
 * smaller one first), else every sequence autoregressive; an alternative displaces the
 * autoregressive one only once both are measured (off is the prior: a step of it costs the least) */
static int arm_best_known(const struct be_state *e, int b)
{
    for (int d = 0; d < BE_BUCKETS; d++)
        for (int side = 0; side < 2; side++) {
            const int q = side ? b + d : b - d;
            if (q < 0 || q >= BE_BUCKETS || (d == 0 && side))
                continue;
            const struct be_arms *p = &e->arms[q];
            int best = -1;
            for (int k = 0; k < BE_ARMS; k++)
                if (p->rate[k] > 0 && (best < 0 || p->rate[k] > p->rate[best]))
                    best = k;
            if (best >= 0)
                return p->rate[1] > 0 ? best : 1;
        }
    return 1;
}

static int policy_arm_pick(struct be_state *e, int n);

/* policy_arm_pick's choice, held to the exploration budget: an alternative other than the best
 * known runs only when what such steps lose, this one included, stays within BE_ARM_BUDGET of the
 * decode time. A step's loss is its time less the time the best known would take for its tokens
 * (at its measured rate in the bucket; the whole time while it has none): an alternative that yields more than the best is not charged (it gains), one
 * that yields nothing is charged its whole time. So exploring costs a bounded share of any job,
 * short or long (on the CPU's virtual device of tests/test_batch.c, mandatory samples alone had
 * cost up to 2.7x where speculation never paid), while one that pays is tried freely. This step's
 * loss is guessed as the largest so far, and before any, on a backend with warm-up, as
 * BE_ARM_WARM_GUESS mean steps and at least BE_ARM_WARM_GUESS_S (the GPU's first speculative step
 * of the default pair's 512-prompt job, graph captures and GEMM set-up included, cost 47 ms against
 * 0.5-1 ms for an autoregressive one: 7% of the 0.65 s job alone; H100, RESULTS.md). */
static int policy_arm(struct be_state *e, int n)
{
    const int k = policy_arm_pick(e, n);
    const int best = arm_best_known(e, e->arm_bucket);
    e->arm_explore = k != best;
    if (!e->arm_explore)
        return k;
    const double mean = e->arm_steps > 0 ? e->arm_total_s / (double)e->arm_steps : 0.0;
    double guess = e->arm_loss_max;
    if (guess <= 0 && e->arm_loss_s == 0 && e->ops->warms_up) /* no exploring step yet */
        guess = BE_ARM_WARM_GUESS * mean > BE_ARM_WARM_GUESS_S ? BE_ARM_WARM_GUESS * mean : BE_ARM_WARM_GUESS_S;
    if (e->arm_loss_s + guess > BE_ARM_BUDGET * (e->arm_total_s + (guess > 0 ? guess : 0))) {
        e->arm_explore = 0;
        return best;
    }
    return k;
}

static int policy_arm_pick(struct be_state *e, int n)
{
    int b = 0;
    while ((2 << b) <= n && b < BE_BUCKETS - 1)
        b++;
    struct be_arms *a = &e->arms[b];
    e->arm_bucket = b;
    /* a new bucket: alternatives far below the best in the nearest smaller bucket measured whole
     * skip their warm-up and first sample here (rate 0: their first exploration sets it); a
     * speculative alternative that loses at a batch size loses at larger ones, and forcing it in
     * every bucket a filling batch passes through cost 15% of a CPU job */
    for (int pb = b - 1; pb >= 0 && (a->n[0] < BE_ARM_MIN || a->n[1] < BE_ARM_MIN || a->n[2] < BE_ARM_MIN); pb--) {
        const struct be_arms *p = &e->arms[pb];
        int whole = 1, pbest = 0;
        for (int k = 0; k < BE_ARMS; k++) {
            whole &= p->rate[k] > 0; /* measured: one timed step at least */
            if (p->rate[k] > p->rate[pbest])
                pbest = k;
        }
        if (!whole)
            continue;
        for (int k = 0; k < BE_ARMS; k++)
            if (k != pbest && a->n[k] < BE_ARM_MIN && p->rate[k] < BE_ARM_FAR * p->rate[pbest]) {
                a->n[k] = BE_ARM_MIN;
                a->rate[k] = 0.0;
            }
        break;
    }
    for (int k = 0; k < BE_ARMS; k++)
        if (a->n[k] < BE_ARM_MIN)
            return k;
    int best = 0;
    for (int k = 1; k < BE_ARMS; k++)
        if (a->rate[k] > a->rate[best])
            best = k;
    a->steps++;
    if (a->steps % BE_ARM_EXPLORE == 0) {
        const long turn = a->steps / BE_ARM_EXPLORE;
        const int k = (best + 1 + (int)(turn % (BE_ARMS - 1))) % BE_ARMS;
        if (a->rate[k] >= BE_ARM_FAR * a->rate[best] || (turn / (BE_ARMS - 1)) % 4 == 0)
            return k;
    }
    return best;
}

static void arm_record(struct be_state *e, double tokens, double seconds)
{
    if (seconds <= 0)
        return;
    e->arm_total_s += seconds;
    e->arm_steps++;
    struct be_arms *a = &e->arms[e->arm_bucket];
    if (e->arm_explore) {
        /* against the best known's rate at this bucket (rates grow with the running sequences);
         * charged in full while it has none */
        const double ref = a->rate[arm_best_known(e, e->arm_bucket)];
        double loss = ref > 0 ? seconds - tokens / ref : seconds;
        loss = loss < -seconds ? -seconds : loss;
        e->arm_loss_s += loss;
        e->arm_loss_max = loss > e->arm_loss_max ? loss : e->arm_loss_max;
    }
    const long w = e->ops->warms_up ? 1 : 0; /* the warm-up step (not timed) */
    double r = tokens / seconds;
    if (a->n[e->arm] == w || (a->n[e->arm] > w && a->rate[e->arm] <= 0)) {
        a->rate[e->arm] = r; /* the first sample after the warm-up (or after an inherited skip) */
    } else if (a->n[e->arm] > w) {
        const double cur = a->rate[e->arm];
        r = r < 0.5 * cur ? 0.5 * cur : r > 2.0 * cur ? 2.0 * cur : r;
        a->rate[e->arm] = 0.8 * cur + 0.2 * r;
    }
    a->n[e->arm]++;
}

/* The shape of menu entry m shrunk to what fits below limit positions from target_len T (size
 * and draft rows); size < 2 means autoregressive. */
static struct frs_tree_params fit_shape(struct frs_tree_params p, int T, int limit)
{
    const int room = limit - T;
    if (p.size > room)
        p.size = room;
    while (p.depth > 1 && (p.depth - 1) * p.topk > room)
        p.depth--;
    if (p.size < 2)
        p = (struct frs_tree_params){1, 1, 1};
    return p;
}

static int seq_need(const struct be_seq *s)
{
    const int d = tree_draft_rows(&s->p);
    return s->target_len + (s->p.size > d ? s->p.size : d);
}

/* ---- one step ------------------------------------------------------------------------------- */

static int by_order(const void *a, const void *b)
{
    const struct be_seq *x = *(struct be_seq *const *)a, *y = *(struct be_seq *const *)b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The running sequence admitted last (finished ones excepted: they free their blocks at the end
 * of the step), or NULL. */
static struct be_seq *latest_running(struct be_state *e)
{
    struct be_seq *best = NULL;
    for (int i = 0; i < e->cfg.max_seqs; i++)
        if (e->slots[i] && !e->slots[i]->done && (!best || e->slots[i]->order > best->order))
            best = e->slots[i];
    return best;
}

static enum frs_status finish_seq(struct be_state *e, struct be_seq *s)
{
    seq_release(e, s);
    enum frs_status st = seq_deliver(e, s, NULL);
    seq_free(s);
    return st;
}

static enum frs_status step_compute(struct be_state *e, int *progress);

static enum frs_status step(struct be_state *e, int *progress)
{
    *progress = 0;
    FRS_TRY(admit(e)); /* may wait for rank 0's input: not watched */
    if (e->cfg.watch && e->cfg.watch->begin)
        e->cfg.watch->begin(e->cfg.watch->user, e->tot.steps + 1);
    enum frs_status st = step_compute(e, progress);
    if (e->cfg.watch && e->cfg.watch->end)
        e->cfg.watch->end(e->cfg.watch->user);
    FRS_TRY(st);
    /* finished sequences (delivery: the consistency check, rank 0's write) */
    for (int i = 0; i < e->cfg.max_seqs; i++) {
        struct be_seq *s = e->slots[i];
        if (s && s->done) {
            FRS_TRY(finish_seq(e, s));
            *progress = 1;
        }
    }
    FRS_TRY(flush_delivered(e));
    e->tot.steps++;
    return FRS_OK;
}

/* The step's plan and compute (see batch_engine.h); finished sequences stay for step() to deliver,
 * except those ending at the context limit before any compute. */
static enum frs_status step_compute(struct be_state *e, int *progress)
{

    /* decoding sequences in admission order */
    int n = 0;
    for (int i = 0; i < e->cfg.max_seqs; i++)
        if (e->slots[i] && e->slots[i]->decoding && e->slots[i]->target_len == seq_prefill_end(e->slots[i]))
            e->run[n++] = e->slots[i];
    qsort(e->run, (size_t)n, sizeof *e->run, by_order);

    /* context: a sequence with no room for even its root ends here */
    for (int i = 0; i < n;) {
        struct be_seq *s = e->run[i];
        if (s->target_len + 1 > e->pool_ctx) {
            s->reason = "context";
            s->done = 1; /* delivered by step() */
            memmove(e->run + i, e->run + i + 1, (size_t)(n - i - 1) * sizeof *e->run);
            n--;
            *progress = 1;
            continue;
        }
        i++;
    }

    /* tree shapes: the policy's choice (rank 0's under TP), then the context limit */
    const double tp0 = be_clock(e);
    if (e->cfg.policy == FRS_SPEC_AUTO) {
        /* the arm first: the model's per-sequence search (policy_auto) only runs, and is timed,
         * in the steps that use it */
        e->arm = n > 0 ? policy_arm(e, n) : 0;
        if (e->arm == 0)
            policy_auto(e, e->run, n);
        for (int i = 0; i < n && e->arm > 0; i++)
            e->run[i]->menu = e->arm == 1 ? 0 : e->n_menu - 1;
        if (comm_size(e->cfg.comm) > 1 && n > 0) {
            for (int i = 0; i < n; i++)
                e->plan[i] = e->run[i]->menu;
            FRS_TRY(comm_bcast(e->cfg.comm, e->plan, (size_t)n * sizeof *e->plan, 0));
            for (int i = 0; i < n; i++)
                e->run[i]->menu = e->plan[i] >= 0 && e->plan[i] < e->n_menu ? e->plan[i] : 0;
        }
    } else {
        for (int i = 0; i < n; i++)
            e->run[i]->menu = e->n_menu - 1;
    }
    for (int i = 0; i < n; i++) {
        struct be_seq *s = e->run[i];
        s->p = fit_shape(e->menu[s->menu], s->target_len, e->pool_ctx);
        if (s->p.size > e->cfg.max_tree)
            s->p = (struct frs_tree_params){1, 1, 1};
    }
    /* step budget: verify rows first (shrinking the latest sequences' trees when over) */
    int rows = 0;
    for (int i = 0; i < n; i++)
        rows += e->run[i]->p.size;
    for (int i = n - 1; i >= 0 && rows > e->cfg.max_step_rows; i--) {
        rows -= e->run[i]->p.size - 1;
        e->run[i]->p = (struct frs_tree_params){1, 1, 1};
    }

    /* blocks: grow each in admission order; short -> autoregressive, still short -> preempt the
     * latest admitted running sequence (possibly itself) */
    for (int i = 0; i < n; i++) {
        struct be_seq *s = e->run[i];
        for (;;) {
            enum frs_status st = kvpool_reserve(&e->pool, s->slot, seq_need(s));
            if (st == FRS_OK)
                break;
            if (st != FRS_ERR_NO_ROOM)
                return st;
            if (s->p.size > 1) {
                s->p = (struct frs_tree_params){1, 1, 1};
                continue;
            }
            struct be_seq *victim = latest_running(e);
            /* drop the victim from this step's set */
            for (int j = 0; j < n; j++)
                if (e->run[j] == victim) {
                    memmove(e->run + j, e->run + j + 1, (size_t)(n - j - 1) * sizeof *e->run);
                    n--;
                    break;
                }
            FRS_TRY(seq_preempt(e, victim));
            *progress = 1;
            if (victim == s) {
                i--;
                break;
            }
        }
    }

    /* draft, verify, commit */
    if (n > 0) {
        int nd = 0, drows = 0, ddepth = 0;
        for (int i = 0; i < n; i++) {
            struct be_seq *s = e->run[i];
            if (s->p.size >= 2) {
                e->fs[nd] = seq_view(e, s);
                e->next_toks[nd] = s->toks + s->draft_len + 1;
                e->tp[nd] = s->p;
                drows += draft_rows_of(&s->p);
                if (s->p.depth > ddepth)
                    ddepth = s->p.depth;
                nd++;
            }
        }
        const double t0 = be_clock(e);
        if (nd > 0) {
            FRS_TRY(e->ops->draft(e->be, nd, e->fs, e->next_toks, e->tp));
            for (int i = 0; i < n; i++)
                if (e->run[i]->p.size >= 2)
                    e->run[i]->draft_len = e->run[i]->target_len;
        }
        const double t1 = be_clock(e);
        rows = 0;
        for (int i = 0; i < n; i++) {
            struct be_seq *s = e->run[i];
            e->fs[i] = seq_view(e, s);
            e->roots[i] = s->toks[s->target_len];
            e->drafted[i] = s->p.size >= 2;
            e->samp[i] = s->req.sampling;
            rows += s->p.size;
        }
        FRS_TRY(e->ops->verify(e->be, n, e->fs, e->roots, e->drafted, e->samp, e->trees, e->acc));
        FRS_TRY(e->ops->commit(e->be, n, e->fs, e->acc));
        const double t2 = be_clock(e);
        double toks = 0;
        for (int i = 0; i < n; i++)
            toks += e->acc[i].n_tokens;
        if (e->cfg.policy == FRS_SPEC_AUTO) {
            fit_add(e, rows, drows, ddepth, t2 - t0);
            arm_record(e, toks, t2 - tp0);
        }
        if (e->cfg.trace)
            fprintf(e->cfg.trace, "step %ld n %d arm %d drafting %d rows %d drows %d depth %d tokens %.0f "
                    "plan_ms %.3f draft_ms %.3f verify_ms %.3f\n", e->tot.steps + 1, n,
                    e->cfg.policy == FRS_SPEC_AUTO ? e->arm : -1, nd, rows, drows, ddepth, toks,
                    1e3 * (t0 - tp0), 1e3 * (t1 - t0), 1e3 * (t2 - t1));
        e->tot.verify_rows += rows;
        for (int i = 0; i < n; i++) {
            struct be_seq *s = e->run[i];
            const struct frs_accept *a = &e->acc[i];
            if (e->drafted[i]) {
                s->tree_hash = engine_hash_tokens(e->trees[i].token, e->trees[i].n, s->tree_hash);
                s->tree_hash = engine_hash_tokens(e->trees[i].parent, e->trees[i].n, s->tree_hash);
                s->spec_iters++;
                s->spec_tokens += a->n_tokens;
                s->st.accept_hist[a->n_tokens]++;
                s->acc_sum[s->menu] += a->n_tokens;
                s->acc_n[s->menu]++;
                e->glob_sum[s->menu] += a->n_tokens;
                e->glob_n[s->menu]++;
                s->st.t_draft += (t1 - t0) / n;
                e->tot.drafted_seq_steps++;
                e->tot.drafted_tokens += a->n_tokens;
            } else {
                e->tot.ar_seq_steps++;
            }
            s->dsteps++;
            s->ar_run = e->drafted[i] ? 0 : s->ar_run + 1;
            s->st.t_verify += (t2 - t1) / n;
            s->st.iterations++;
            /* toks holds positions 0..target_len (the root last); the accepted tokens are those of
             * positions target_len + 1 .. target_len + n_path, the last the next root */
            s->target_len += a->n_path;
            seq_take(s, a->tokens, a->n_tokens);
        }
        *progress = 1;
    }

    /* prefill: the chunks of the sequences still reading their prompt, in admission order, under the
     * remaining budget (at least one chunk per step); each op takes every such sequence at most
     * once and at most frs_batch_prefill_rows rows, so a step's chunks run as one forward, or a few */
    const double tq0 = be_clock(e);
    int budget = (e->cfg.step_tokens > 0 ? e->cfg.step_tokens : e->cfg.max_step_rows) - rows;
    int cap = e->cfg.prefill_chunk > e->cfg.max_step_rows ? e->cfg.prefill_chunk : e->cfg.max_step_rows;
    if (e->cfg.prefill_rows > cap)
        cap = e->cfg.prefill_rows;
    int chunks = 0, pops = 0, prows = 0;
    struct be_seq **pre = e->pre;
    int np = 0;
    for (int i = 0; i < e->cfg.max_seqs; i++)
        if (e->slots[i] && e->slots[i]->target_len < seq_prefill_end(e->slots[i]))
            pre[np++] = e->slots[i];
    qsort(pre, (size_t)np, sizeof *pre, by_order);
    while (budget > 0 || chunks == 0) {
        int k = 0, r = 0;
        for (int i = 0; i < np && r < cap && (budget > 0 || chunks == 0); i++) {
            struct be_seq *s = pre[i];
            int c = seq_prefill_end(s) - s->target_len;
            if (c <= 0)
                continue;
            if (c > e->cfg.prefill_chunk)
                c = e->cfg.prefill_chunk;
            if (chunks > 0 && c > budget)
                c = budget;
            if (c > cap - r)
                c = cap - r;
            e->op[k] = s;
            e->fs[k] = seq_view(e, s);
            e->next_toks[k] = s->toks + s->target_len;
            e->counts[k] = c;
            /* the first token is chosen where the prompt ends (a preempted sequence knows its root) */
            e->drafted[k] = !s->decoding && s->target_len + c == seq_prefill_end(s);
            e->samp[k] = s->req.sampling;
            k++;
            r += c;
            budget -= c;
            chunks++;
        }
        if (k == 0)
            break;
        FRS_TRY(e->ops->prefill(e->be, k, e->fs, e->next_toks, e->counts, e->drafted, e->samp, e->roots));
        pops++;
        prows += r;
        *progress = 1;
        for (int j = 0; j < k; j++) {
            struct be_seq *s = e->op[j];
            s->target_len += e->counts[j];
            if (e->drafted[j]) {
                s->decoding = 1;
                s->t_first = be_now();
                s->st.iterations++;
                seq_take(s, &e->roots[j], 1);
            }
        }
    }
    if (e->cfg.trace && chunks > 0)
        fprintf(e->cfg.trace, "step %ld prefill_chunks %d prefill_ops %d prefill_rows %d prefill_ms %.3f\n",
                e->tot.steps + 1, chunks, pops, prows, 1e3 * (be_clock(e) - tq0));

    return FRS_OK;
}

enum frs_status batch_engine_run(struct frs_backend *be, const struct frs_batch_config *cfg,
                                 const struct frs_batch_source *src, struct frs_batch_totals *totals)
{
    if (!be->ops->batch)
        return FRS_ERR(FRS_ERR_UNSUPPORTED, "batch engine: backend %s has no batched ops", be->ops->name);
    if (cfg->max_seqs < 1 || cfg->max_ctx < 2 || cfg->prefill_chunk < 1 || cfg->max_step_rows < cfg->max_seqs ||
        be->kv_blocks < 1)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "batch engine: max_seqs %d, max_ctx %d, prefill_chunk %d, max_step_rows "
                       "%d (>= max_seqs), pool blocks %d", cfg->max_seqs, cfg->max_ctx, cfg->prefill_chunk,
                       cfg->max_step_rows, be->kv_blocks);
    if (cfg->policy != FRS_SPEC_OFF &&
        (!be->ops->batch->draft || cfg->tree.size < 2 || cfg->tree.depth < 1 || cfg->tree.topk < 1 ||
         cfg->tree.size > cfg->max_tree))
        return FRS_ERR(FRS_ERR_INVALID_ARG, "batch engine: policy %s needs a draft head and a tree of 2..%d nodes "
                       "(depth %d topk %d size %d)", batch_policy_name(cfg->policy), cfg->max_tree, cfg->tree.depth,
                       cfg->tree.topk, cfg->tree.size);
    struct be_state e;
    memset(&e, 0, sizeof e);
    e.be = be;
    e.ops = be->ops->batch;
    e.cfg = *cfg;
    e.src = src;
    const int block = cfg->kv_block > 0 ? cfg->kv_block : FRS_KV_BLOCK_DEFAULT;
    e.pool_ctx = cfg->max_ctx < be->kv_blocks * block ? cfg->max_ctx : be->kv_blocks * block;
    FRS_TRY(kvpool_init(&e.pool, be->kv_blocks, block, cfg->max_seqs, e.pool_ctx));
    menu_init(&e);
    const size_t S = (size_t)cfg->max_seqs;
    e.slots = calloc(S, sizeof *e.slots);
    e.fs = calloc(S, sizeof *e.fs);
    e.run = calloc(S, sizeof *e.run);
    e.pre = calloc(S, sizeof *e.pre);
    e.op = calloc(S, sizeof *e.op);
    e.counts = calloc(S, sizeof *e.counts);
    e.next_toks = calloc(S, sizeof *e.next_toks);
    e.tp = calloc(S, sizeof *e.tp);
    e.roots = calloc(S, sizeof *e.roots);
    e.drafted = calloc(S, sizeof *e.drafted);
    e.samp = calloc(S, sizeof *e.samp);
    e.trees = calloc(S, sizeof *e.trees);
    e.acc = calloc(S, sizeof *e.acc);
    e.plan = calloc(S, sizeof *e.plan);
    enum frs_status st = FRS_OK;
    if (!e.slots || !e.fs || !e.run || !e.pre || !e.op || !e.counts || !e.next_toks || !e.tp || !e.roots || !e.drafted || !e.samp || !e.trees ||
        !e.acc || !e.plan)
        st = FRS_ERR(FRS_ERR_OOM, "batch engine: state for %d sequences", cfg->max_seqs);
    const double t0 = be_now();
    while (st == FRS_OK) {
        int running = 0;
        for (int i = 0; i < cfg->max_seqs; i++)
            running += e.slots[i] != NULL;
        if (running == 0 && e.n_queue == 0 && e.source_done)
            break;
        int progress = 0;
        st = step(&e, &progress);
        if (st == FRS_OK && !progress) {
            running = 0;
            for (int i = 0; i < cfg->max_seqs; i++)
                running += e.slots[i] != NULL;
            if (running == 0 && e.n_queue > 0)
                st = FRS_ERR(FRS_ERR_INTERNAL, "batch engine: a waiting sequence (prompt %d tokens) cannot get "
                             "blocks from an empty pool of %d", e.queue[0]->req.n_prompt, be->kv_blocks);
            else if (running > 0)
                st = FRS_ERR(FRS_ERR_INTERNAL, "batch engine: a step made no progress with %d sequences", running);
        }
    }
    {
        /* what was delivered before the end (or an error) is made durable too */
        const enum frs_status fs = flush_delivered(&e);
        if (st == FRS_OK)
            st = fs;
    }
    e.tot.seconds = be_now() - t0;
    if (e.cfg.trace && e.ops->describe) {
        char line[512];
        line[0] = '\0';
        e.ops->describe(be, line, sizeof line);
        if (line[0])
            fprintf(e.cfg.trace, "backend %s\n", line);
    }
    if (totals)
        *totals = e.tot;
    for (int i = 0; e.slots && i < cfg->max_seqs; i++)
        seq_free(e.slots[i]);
    for (int i = 0; i < e.n_queue; i++)
        seq_free(e.queue[i]);
    free(e.queue);
    free(e.slots);
    free(e.fs);
    free(e.run);
    free(e.pre);
    free(e.op);
    free(e.counts);
    free(e.next_toks);
    free(e.tp);
    free(e.roots);
    free(e.drafted);
    free(e.samp);
    free(e.trees);
    free(e.acc);
    free(e.plan);
    kvpool_free(&e.pool);
    return st;
}

enum frs_status batch_policy_parse(const char *s, enum frs_spec_policy *out)
{
    if (!strcmp(s, "auto"))
        *out = FRS_SPEC_AUTO;
    else if (!strcmp(s, "fixed"))
        *out = FRS_SPEC_FIXED;
    else if (!strcmp(s, "off"))
        *out = FRS_SPEC_OFF;
    else
        return FRS_ERR(FRS_ERR_INVALID_ARG, "--spec-policy '%s': expected auto, fixed or off", s);
    return FRS_OK;
}

const char *batch_policy_name(enum frs_spec_policy p)
{
    return p == FRS_SPEC_AUTO ? "auto" : p == FRS_SPEC_FIXED ? "fixed" : "off";
}
