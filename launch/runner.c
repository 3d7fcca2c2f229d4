/* runner.c - the per-rank serving loop behind `frspec generate` (see runner.h). */
#include "runner.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend_registry.h" /* frs_backend_find, frs_backend_default */
#include "batch.h"
#include "batch_engine.h"
#include "cli.h"
#include "control.h"
#include "engine.h"
#include "jobfile.h" // defines: jobfile_open_input, jobfile_next, jobfile_open_output, jobfile_write_result...
#include "session.h"

void run_options_init(struct run_options *o)
{
    memset(o, 0, sizeof *o);
}

int run_options_parse(struct run_options *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const int has_value = *i + 1 < argc;
    if (!strcmp(a, "--chat")) { o->chat = 1; return 1; }
    if (!strcmp(a, "--json")) { o->json = 1; return 1; }
    if (!strcmp(a, "--resume")) { o->resume = 1; return 1; }
    if (!strcmp(a, "--ignore-eos")) { o->ignore_eos = 1; return 1; }
    if (!strcmp(a, "--quiet")) { o->quiet = 1; return 1; }
    if (!has_value)
        return 0;
    if (!strcmp(a, "--system")) { o->system = argv[++*i]; return 1; }
    if (!strcmp(a, "--prompts")) { o->prompts_file = argv[++*i]; return 1; }
    if (!strcmp(a, "--out")) { o->out = argv[++*i]; return 1; }
    if (!strcmp(a, "--stop-token")) {
        int v;
        if (o->n_stop >= RUN_MAX_STOP) {
            fprintf(stderr, "frspec: at most %d --stop-token\n", RUN_MAX_STOP);
            return -1;
        }
        if (cli_parse_int(a, argv[++*i], 0, 1 << 30, &v))
            return -1;
        o->stop[o->n_stop++] = v;
        return 1;
    }
    return 0;
}

/* ---- rank 0's side: prompts in, results out -------------------------------------------------- */

struct runner {
    struct session *s;
    const struct run_options *ro;
    const char *prompt;  /* single prompt, NULL in batch mode */
    int single_done;
    struct jobfile jf;   /* --prompts / --out */
    int batch;           /* jf is open */
    int32_t *ids;        /* the current prompt's tokens */
    int32_t stop[RUN_MAX_STOP + 2 * FRS_MAX_EOS + 4];
    int n_stop;
    char tag[256];       /* single prompt: "prompt"; batch: the id, for messages */
    const struct jobfile_record *rec; /* batch: the current record (owned by jf) */
    uint64_t next_id;
    int32_t *gen;        /* generated tokens of the current request */
    int gen_cap;
    int n_streamed;
    int failed_requests;
    /* the step watchdog, armed for each engine step (issue 12 item 11) */
    struct frs_comm *comm;
    int watchdog_s;          /* --watchdog-seconds (0: off) */
    const char *cur_tag;     /* the request being generated */
    char watch_what[4][200]; /* the armed step's name; rotated, the watchdog thread may read the last */
    int watch_slot;
    long stall_step;         /* test hook FRS_TEST_STALL_STEP: the host stops at this step (-1: never) */
    /* the batched engine (--prompts): */
    int batched;
    struct frs_comm *tp_comm; /* NULL when single process */
    struct par_request last;  /* the request last handed to the engine (it copies what it keeps) */
};

static void add_stop(struct runner *r, int32_t t)
{
    if (t < 0)
        return;
    for (int i = 0; i < r->n_stop; i++)
        if (r->stop[i] == t)
            return;
    if (r->n_stop < (int)(sizeof r->stop / sizeof r->stop[0]))
        r->stop[r->n_stop++] = t;
}

static void collect_stops(struct runner *r)
{
    const struct llama_model *m = &r->s->model;
    r->n_stop = 0;
    for (int i = 0; i < r->ro->n_stop; i++)
        add_stop(r, r->ro->stop[i]);
    if (r->ro->ignore_eos)
        return;
    for (int i = 0; i < m->cfg.n_eos; i++)
        add_stop(r, m->cfg.eos_token_ids[i]);
    for (int i = 0; i < m->gen.n_eos; i++)
        add_stop(r, m->gen.eos_token_ids[i]);
    if (r->s->tok && r->ro->chat) {
        add_stop(r, tokenizer_token_id(r->s->tok, "<|eot_id|>"));
        add_stop(r, tokenizer_token_id(r->s->tok, "<|eom_id|>"));
        add_stop(r, tokenizer_token_id(r->s->tok, "<|end_of_text|>"));
    }
}

static enum frs_status tokenize_prompt(struct runner *r, const char *text, int *n)
{
    free(r->ids);
    r->ids = NULL;
    if (r->ro->prompt_ids) {
        for (int i = 0; i < r->ro->n_prompt_ids; i++)
            if (r->ro->prompt_ids[i] >= r->s->model.cfg.vocab_size)
                return FRS_ERR(FRS_ERR_INVALID_ARG, "--prompt-ids: id %d at position %d is outside the vocabulary (%d ids)",
                               r->ro->prompt_ids[i], i, r->s->model.cfg.vocab_size);
        r->ids = malloc((size_t)(r->ro->n_prompt_ids ? r->ro->n_prompt_ids : 1) * sizeof *r->ids);
        if (!r->ids)
            return FRS_ERR(FRS_ERR_OOM, "prompt");
        memcpy(r->ids, r->ro->prompt_ids, (size_t)r->ro->n_prompt_ids * sizeof *r->ids);
        *n = r->ro->n_prompt_ids;
        return FRS_OK;
    }
    if (r->ro->chat)
        return tokenizer_apply_chat(r->s->tok, r->ro->system, text, &r->ids, n);
    return tokenizer_encode(r->s->tok, text, strlen(text), 1, &r->ids, n);
}

/* A batch prompt that cannot run: its error line, and the batch goes on. */
static enum frs_status fail_record(struct runner *r, const struct jobfile_record *rec, const char *msg)
{
    fprintf(stderr, "frspec: %s\n", msg);
    FRS_TRY(jobfile_write_error(&r->jf, rec, msg));
    /* durable now: the batched engine's per-step flush covers what it delivered, not the lines
     * written while it admits (a bad line, a prompt that does not tokenize or fit); rare */
    FRS_TRY(jobfile_sync(&r->jf));
    r->failed_requests++;
    jobfile_progress(&r->jf, 1, 1, 0, 0, r->ro->quiet ? NULL : stderr);
    return FRS_OK;
}

static enum frs_status next_request(void *user, struct par_request *req, int *done)
{
    struct runner *r = user;
    char *text = NULL;
    *done = 0;
    if (r->prompt) {
        if (r->single_done) {
            *done = 1;
            return FRS_OK;
        }
        r->single_done = 1;
        snprintf(r->tag, sizeof r->tag, "prompt");
        text = strdup(r->prompt);
        if (!text)
            return FRS_ERR(FRS_ERR_OOM, "prompt");
    } else {
        const struct jobfile_record *rec;
        for (;;) {
            FRS_TRY(jobfile_next(&r->jf, &rec));
            if (!rec) {
                *done = 1;
                return FRS_OK;
            }
            if (!rec->error)
                break;
            FRS_TRY(fail_record(r, rec, rec->error)); /* a bad line is one failed prompt */
        }
        r->rec = rec;
        snprintf(r->tag, sizeof r->tag, "%s", rec->id);
        text = strdup(rec->prompt);
        if (!text)
            return FRS_ERR(FRS_ERR_OOM, "prompt");
    }
    int n = 0;
    enum frs_status st = tokenize_prompt(r, text, &n);
    free(text);
    if (st != FRS_OK && !r->prompt && st != FRS_ERR_OOM) {
        FRS_TRY(fail_record(r, r->rec, frs_error_msg()));
        return next_request(user, req, done);
    }
    FRS_TRY(st);
    /* room for the prompt and one generated token; none is reserved for a draft tree (the engine
     * shrinks it near the end of the context); the batched engine serves any prompt that fits
     * (batch_engine.h) */
    const int need = r->batched ? n : n + 1;
    if (need > r->s->opt.max_ctx) {
        st = FRS_ERR(FRS_ERR_TOO_LONG, "prompt '%s' has %d tokens; with %d more for generation the context of %d "
                     "tokens is exceeded (raise --max-ctx, at most the model's max_position_embeddings %d)",
                     r->tag, n, need - n, r->s->opt.max_ctx, r->s->model.cfg.max_position_embeddings);
        if (r->prompt)
            return st;
        /* a batch goes on: the failure is recorded as that prompt's result line */
        FRS_TRY(fail_record(r, r->rec, frs_error_msg()));
        return next_request(user, req, done);
    }
    const struct gen_options *o = &r->s->opt;
    memset(req, 0, sizeof *req);
    req->id = r->next_id++;
    req->tag = r->batch ? r->rec->id : r->tag; /* exact, whatever its length */
    req->owned = 0;
    req->gen.prompt = r->ids;
    req->gen.n_prompt = n;
    req->gen.max_new_tokens = o->max_new_tokens;
    req->gen.stop = r->stop;
    req->gen.n_stop = r->n_stop;
    req->gen.sampling = o->sampling;
    req->gen.speculative = r->s->have_draft;
    req->gen.tree = o->tree;
    return FRS_OK;
}

static void stream_tokens(void *user, const int32_t *t, int n)
{
    struct runner *r = user;
    for (int i = 0; i < n; i++) {
        if (tokenizer_is_special(r->s->tok, t[i]))
            continue;
        size_t len = 0;
        const char *b = tokenizer_token_bytes(r->s->tok, t[i], &len);
        if (b)
            fwrite(b, 1, len, stdout);
    }
    fflush(stdout);
}

/* Arm the step watchdog for one engine step: a stuck GPU or peer ends the job naming the rank
 * and the step. The prefill (step 0) may take long on a long prompt: ten times the limit. */
static void watch_step_begin(void *user, long step)
{
    struct runner *r = user;
    char *what = r->watch_what[r->watch_slot = (r->watch_slot + 1) % 4];
    snprintf(what, sizeof r->watch_what[0], "rank %d, request '%.80s', %s %ld", r->s->rank,
             r->cur_tag ? r->cur_tag : "?", step ? "step" : "prefill (step", step);
    if (!step)
        strcat(what, ")");
    par_step_begin_for(r->comm, what, step ? r->watchdog_s : 10 * r->watchdog_s);
    while (step == r->stall_step) /* test hook: a stuck step, for the watchdog to end */
        sleep(1);
}

static void watch_step_end(void *user)
{
    struct runner *r = user;
    par_step_end(r->comm);
}

static enum frs_status run_request(void *user, const struct par_request *req, struct par_result *res)
{
    struct runner *r = user;
    if (req->gen.max_new_tokens > r->gen_cap) {
        int32_t *g = realloc(r->gen, (size_t)req->gen.max_new_tokens * sizeof *g);
        if (!g)
            return FRS_ERR(FRS_ERR_OOM, "%d output tokens", req->gen.max_new_tokens);
        r->gen = g;
        r->gen_cap = req->gen.max_new_tokens;
    }
    struct frs_token_sink sink = {stream_tokens, r};
    const int streaming = r->s->rank == 0 && r->prompt && !r->ro->json && r->s->tok;
    memset(res, 0, sizeof *res);
    res->id = req->id;
    res->tag = req->tag;
    res->owned = 0;
    res->tokens = r->gen;
    /* the step watchdog is armed for each step of the generation, not around the whole of it
     * (which may rightly take long); the CUDA backend's host waits also poll NCCL for errors */
    const struct frs_step_watch watch = {watch_step_begin, watch_step_end, r};
    struct frs_gen_request g = req->gen;
    g.watch = r->watchdog_s > 0 ? &watch : NULL;
    r->cur_tag = req->tag;
    return engine_generate(&r->s->be, &g, r->gen, r->gen_cap, &res->stats, streaming ? &sink : NULL);
}

static cJSON *result_json(struct runner *r, const struct par_request *req, const struct par_result *res)
{
    const struct frs_gen_stats *st = &res->stats;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", req->tag ? req->tag : "");
    cJSON *toks = cJSON_AddArrayToObject(j, "tokens");
    for (int i = 0; i < st->n_tokens; i++)
        cJSON_AddItemToArray(toks, cJSON_CreateNumber(res->tokens[i]));
    char *text = NULL;
    size_t len = 0;
    if (r->s->tok && tokenizer_decode(r->s->tok, res->tokens, st->n_tokens, 1, &text, &len) == FRS_OK)
        cJSON_AddStringToObject(j, "text", text);
    free(text);
    cJSON_AddNumberToObject(j, "n_prompt", req->gen.n_prompt);
    cJSON_AddNumberToObject(j, "n_tokens", st->n_tokens);
    cJSON_AddStringToObject(j, "stop_reason", st->stop_reason);
    cJSON *t = cJSON_AddObjectToObject(j, "timing");
    cJSON_AddNumberToObject(t, "prefill_s", st->t_prefill);
    cJSON_AddNumberToObject(t, "decode_s", st->t_decode);
    cJSON_AddNumberToObject(t, "tokens_per_s", st->t_decode > 0 && st->n_tokens > 1 ? (st->n_tokens - 1) / st->t_decode : 0);
    if (req->gen.speculative) {
        cJSON_AddNumberToObject(t, "draft_s", st->t_draft);
        cJSON_AddNumberToObject(t, "verify_s", st->t_verify);
        cJSON_AddNumberToObject(t, "other_s", st->t_decode - st->t_draft - st->t_verify);
        cJSON_AddNumberToObject(j, "iterations", st->iterations > 0 ? st->iterations - 1 : 0);
        cJSON_AddNumberToObject(j, "mean_accepted", st->mean_accepted);
        int last = 0;
        for (int i = 0; i <= FRS_MAX_TREE; i++)
            if (st->accept_hist[i])
                last = i;
        cJSON *h = cJSON_AddArrayToObject(j, "accepted_hist");
        for (int i = 0; i <= last; i++)
            cJSON_AddItemToArray(h, cJSON_CreateNumber(st->accept_hist[i]));
    } else {
        cJSON_AddNumberToObject(j, "iterations", st->iterations);
    }
    cJSON *c = cJSON_AddObjectToObject(j, "config");
    cJSON_AddStringToObject(c, "device", r->s->device);
    cJSON_AddNumberToObject(c, "tp", r->s->size);
    cJSON_AddBoolToObject(c, "speculative", req->gen.speculative);
    if (req->gen.speculative) {
        cJSON_AddNumberToObject(c, "fr_vocab_k", r->s->draft.k);
        cJSON_AddNumberToObject(c, "tree_depth", req->gen.tree.depth);
        cJSON_AddNumberToObject(c, "tree_topk", req->gen.tree.topk);
        cJSON_AddNumberToObject(c, "tree_size", req->gen.tree.size);
    }
    if (r->batched) {
        cJSON_AddNumberToObject(c, "batch", r->s->opt.batch);
        cJSON_AddStringToObject(c, "spec_policy", batch_policy_name((enum frs_spec_policy)r->s->opt.spec_policy));
    }
    cJSON_AddNumberToObject(c, "temperature", req->gen.sampling.temperature);
    cJSON_AddNumberToObject(c, "top_p", req->gen.sampling.top_p);
    cJSON_AddNumberToObject(c, "top_k", req->gen.sampling.top_k);
    cJSON_AddNumberToObject(c, "seed", (double)req->gen.sampling.seed);
    return j;
}

static void print_summary(struct runner *r, const struct par_request *req, const struct par_result *res)
{
    const struct frs_gen_stats *st = &res->stats;
    double tps = st->t_decode > 0 && st->n_tokens > 1 ? (st->n_tokens - 1) / st->t_decode : 0;
    fprintf(stderr, "frspec: %d tokens (%s), %.2f tokens/s; prefill %d tokens in %.3f s", st->n_tokens,
            st->stop_reason, tps, req->gen.n_prompt, st->t_prefill);
    if (req->gen.speculative)
        fprintf(stderr, "; %d iterations, %.2f tokens/iteration; draft %.3f s, verify %.3f s, other %.3f s",
                st->iterations > 0 ? st->iterations - 1 : 0, st->mean_accepted, st->t_draft, st->t_verify,
                st->t_decode - st->t_draft - st->t_verify);
    fputc('\n', stderr);
}

static enum frs_status deliver_result(void *user, const struct par_request *req, const struct par_result *res)
{
    struct runner *r = user;
    if (r->prompt && !r->ro->json) {
        fputc('\n', stdout);
        fflush(stdout);
        if (!r->ro->quiet)
            print_summary(r, req, res);
        return FRS_OK;
    }
    cJSON *j = result_json(r, req, res);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s)
        return FRS_ERR(FRS_ERR_OOM, "result JSON");
    enum frs_status st;
    if (r->batch) {
        st = jobfile_write_result(&r->jf, s);
    } else {
        st = printf("%s\n", s) < 0 || fflush(stdout) != 0 ? FRS_ERR(FRS_ERR_IO, "stdout: %s", strerror(errno)) : FRS_OK;
    }
    free(s);
    FRS_TRY(st);
    if (r->batch) {
        if (!r->ro->quiet)
            print_summary(r, req, res);
        jobfile_progress(&r->jf, 1, 0, res->stats.n_tokens, 0, r->ro->quiet ? NULL : stderr);
    }
    return FRS_OK;
}

/* ---- batched serving: every rank runs the batched engine; rank 0 reads and writes ------------- */

/* what the runner keeps with a request in the engine */
struct batched_user {
    char *tag;                         /* the id */
    const struct jobfile_record *rec;  /* rank 0: its record */
};

/* frs_batch_source.next on every rank: rank 0 reads the next prompt, the control plane carries it
 * to the others (the engine asks at the same points on every rank: its decisions are taken from
 * data equal on all ranks). */
static enum frs_status batched_next(void *user, struct frs_batch_request *out, int *done)
{
    struct runner *r = user;
    par_request_free(&r->last);
    enum par_command_kind kind = PAR_CMD_SHUTDOWN;
    enum frs_status st = FRS_OK;
    *done = 0;
    if (r->s->rank == 0) {
        int d = 0;
        st = next_request(r, &r->last, &d);
        kind = d ? PAR_CMD_SHUTDOWN : PAR_CMD_RUN;
    }
    if (r->tp_comm)
        st = par_bcast_command_status(r->tp_comm, st, &kind, &r->last);
    FRS_TRY(st);
    if (kind == PAR_CMD_SHUTDOWN) {
        *done = 1;
        return FRS_OK;
    }
    const struct frs_gen_request *g = &r->last.gen;
    struct batched_user *u = malloc(sizeof *u);
    char *tag = strdup(r->last.tag ? r->last.tag : "");
    if (!u || !tag) {
        free(u);
        free(tag);
        return FRS_ERR(FRS_ERR_OOM, "request tag");
    }
    u->tag = tag;
    u->rec = r->s->rank == 0 && r->batch ? r->rec : NULL; /* valid until jobfile_close */
    *out = (struct frs_batch_request){.id = r->last.id, .user = u, .prompt = g->prompt, .n_prompt = g->n_prompt,
                                      .max_new_tokens = g->max_new_tokens, .stop = g->stop, .n_stop = g->n_stop,
                                      .sampling = g->sampling};
    return FRS_OK;
}

/* frs_batch_source.deliver on every rank: the consistency check (hashes of the tokens and of every
 * drafted tree), then rank 0 writes the result line. */
static enum frs_status batched_deliver(void *user, const struct frs_batch_request *q, const int32_t *tokens,
                                       const struct frs_gen_stats *st, const char *error)
{
    struct runner *r = user;
    struct batched_user *u = q->user;
    char *tag = u->tag;
    enum frs_status rc = FRS_OK;
    if (r->tp_comm) {
        const struct par_consistency me = {.request_id = q->id, .tokens_hash = st->tokens_hash,
                                           .tree_hash = st->tree_hash};
        rc = par_check_consistency(r->tp_comm, &me);
    }
    if (rc == FRS_OK && r->s->rank == 0) {
        snprintf(r->tag, sizeof r->tag, "%s", tag);
        if (error) {
            char msg[512];
            snprintf(msg, sizeof msg, "prompt '%s': %s", tag, error);
            rc = u->rec ? fail_record(r, u->rec, msg) : FRS_ERR(FRS_ERR_INTERNAL, "%s", msg);
        } else {
            struct par_request preq = {.id = q->id, .tag = tag, .owned = 0};
            preq.gen.prompt = q->prompt;
            preq.gen.n_prompt = q->n_prompt;
            preq.gen.max_new_tokens = q->max_new_tokens;
            preq.gen.stop = q->stop;
            preq.gen.n_stop = q->n_stop;
            preq.gen.sampling = q->sampling;
            preq.gen.speculative = r->s->have_draft && r->s->opt.spec_policy != FRS_SPEC_OFF;
            preq.gen.tree = r->s->opt.tree;
            struct par_result res = {.id = q->id, .tag = tag, .tokens = (int32_t *)tokens, .stats = *st, .owned = 0};
            rc = deliver_result(r, &preq, &res);
        }
    }
    free(tag);
    free(u);
    return rc;
}

/* frs_batch_source.flush: the step's result lines made durable (rank 0 writes them) */
static enum frs_status batched_flush(void *user)
{
    struct runner *r = user;
    return r->s->rank == 0 && r->batch ? jobfile_sync(&r->jf) : FRS_OK;
}

static enum frs_status serve_batched(struct runner *r)
{
    const struct session *s = r->s;
    /* the step watchdog around each engine step's compute (not around waiting for input) */
    const struct frs_step_watch watch = {watch_step_begin, watch_step_end, r};
    r->cur_tag = "batched engine";
    /* FRS_BATCH_TRACE=FILE: the engine's per-step trace (rank 0), for tuning --spec-policy auto */
    const char *trace_path = s->rank == 0 ? getenv("FRS_BATCH_TRACE") : NULL;
    FILE *trace = trace_path && *trace_path ? fopen(trace_path, "w") : NULL;
    if (trace_path && *trace_path && !trace) /* a warning, not an error: the other ranks go on */
        fprintf(stderr, "frspec: FRS_BATCH_TRACE: cannot open %s for writing: no trace\n", trace_path);
    const struct frs_batch_config cfg = {
        .max_seqs = s->opt.batch,
        .max_ctx = s->opt.max_ctx,
        .kv_block = FRS_KV_BLOCK_DEFAULT,
        /* a prompt's share of one prefill op: what the step's budget leaves (--prefill-chunk sizes
         * the single-sequence path's forwards; here every pending prompt shares the op, and a
         * 256-token cap split a long prompt over up to 6 ops a step on the H100) */
        .prefill_chunk = session_step_tokens(s),
        .step_tokens = session_step_tokens(s),
        .max_step_rows = session_step_rows(s),
        .prefill_rows = session_step_tokens(s), /* the pool's lim.max_prefill_rows (session.c) */
        .max_tree = s->have_draft ? s->opt.tree.size : 0,
        .policy = s->have_draft ? (enum frs_spec_policy)s->opt.spec_policy : FRS_SPEC_OFF,
        .tree = s->opt.tree,
        .comm = r->tp_comm,
        .watch = r->watchdog_s > 0 ? &watch : NULL,
        .trace = trace,
    };
    const struct frs_batch_source src = {batched_next, batched_deliver, r, batched_flush};
    r->jf.defer_sync = 1; /* one fsync per engine step (batched_flush), not per result */
    struct frs_batch_totals tot;
    enum frs_status st = batch_engine_run(&r->s->be, &cfg, &src, &tot);
    if (trace)
        fclose(trace);
    par_request_free(&r->last);
    if (st == FRS_OK && s->rank == 0 && !r->ro->quiet && tot.seconds > 0)
        fprintf(stderr, "frspec: batch %d (%s): %ld requests, %ld tokens in %.2f s = %.1f tokens/s; %ld steps, "
                "%ld preemptions, %ld drafted (%.2f tokens each) and %ld autoregressive sequence-steps\n",
                s->opt.batch, batch_policy_name(cfg.policy), tot.requests, tot.tokens, tot.seconds,
                tot.tokens / tot.seconds, tot.steps, tot.preemptions, tot.drafted_seq_steps,
                tot.drafted_seq_steps ? (double)tot.drafted_tokens / (double)tot.drafted_seq_steps : 0.0,
                tot.ar_seq_steps);
    return st;
}

int runner_main(struct gen_options *opt, struct run_options *ro, struct par_options *po, const char *prompt,
                int *argc, char ***argv)
{
    struct frs_comm comm;
    /* the backend (runtime/backend_registry.h): its device's hooks bring the rank up; one this
     * build lacks is reported by session_open */
    const struct frs_backend_entry *be = frs_backend_default();
    if (opt->device && frs_backend_find(opt->device, &be) != FRS_OK)
        frs_error_clear();
    if (be) {
        opt->device = be->name;
        po->device = be->par_device;
    }
    enum frs_status st = par_init(&comm, argc, argv, po);
    if (st != FRS_OK)
        par_fail(&comm, st);
    /* the backend sees the communicator when there is one to use: several ranks, or NCCL forced */
    struct frs_comm *c = comm.size > 1 || comm.nccl_comm ? &comm : NULL;

    /* --prompts jobs run the batched engine (batch_engine.h) when the backend has batched ops */
    if (!ro->prompts_file)
        opt->batch = 0;
    else if (opt->batch == 0)
        opt->batch = opt->device && strcmp(opt->device, "cpu") ? 64 : 8;
    struct session s;
    par_step_begin_for(&comm, "loading the model", 3600); /* a 70B shard from a network disk */
    /* the tokenizer is rank 0's: it reads prompts and writes text; with --prompt-ids it is used
     * only when the model directory has one (for the output text) */
    int want_tok = comm.rank == 0;
    if (want_tok && ro->prompt_ids && !opt->tokenizer) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tokenizer.json", opt->model_dir);
        want_tok = access(path, R_OK) == 0;
    }
    st = session_open(&s, opt, c, want_tok);
    par_step_end(&comm);
    if (st != FRS_OK) {
        if (comm.size > 1)
            par_fail(&comm, st);
        cli_fail(NULL);
        par_finalize(&comm);
        return 1;
    }
    if (comm.rank == 0 && s.model.unused_tensors)
        fprintf(stderr, "frspec: warning: %s/config.json has num_hidden_layers %d but the checkpoint holds %d layers: "
                "%d tensors of layers %d..%d are not used (the output is that of a truncated model)\n",
                opt->model_dir, s.model.cfg.num_hidden_layers, s.model.checkpoint_layers, s.model.unused_tensors,
                s.model.cfg.num_hidden_layers, s.model.checkpoint_layers - 1);
    if (comm.rank == 0 && !ro->quiet && !ro->json)
        session_print_config(&s, stderr);
    if (comm.size > 1 && !ro->quiet && !ro->json)
        par_report_bindings(&comm, stderr);

    struct runner r = {.s = &s, .ro = ro, .prompt = prompt, .comm = &comm, .watchdog_s = po->watchdog_s};
    const char *stall = getenv("FRS_TEST_STALL_STEP"); /* tests/cli/options.sh, item watchdog */
    r.stall_step = stall && *stall ? atol(stall) : -1;
    collect_stops(&r);
    int rc = 0;
    r.jf.out_fd = -1;
    for (int i = 0; i < ro->n_stop; i++)
        if (ro->stop[i] >= s.model.cfg.vocab_size) {
            st = FRS_ERR(FRS_ERR_INVALID_ARG, "--stop-token %d is outside the vocabulary of %s (%d ids)", ro->stop[i],
                         opt->model_dir, s.model.cfg.vocab_size);
            goto done;
        }
    if (comm.rank == 0 && ro->prompts_file) {
        /* the whole input is read and checked (duplicate ids) before any work */
        FRS_TRY_GOTO(jobfile_open_input(&r.jf, ro->prompts_file), st, done);
        r.batch = 1;
        FRS_TRY_GOTO(jobfile_open_output(&r.jf, ro->out, ro->resume), st, done);
    }
    if (ro->prompts_file && s.be.ops->batch) {
        r.batched = 1;
        r.tp_comm = c;
        st = serve_batched(&r);
    } else {
        struct par_serve_ops ops = {next_request, run_request, deliver_result, &r};
        st = par_serve(&comm, &ops);
    }
    if (r.batch)
        jobfile_progress(&r.jf, 0, 0, 0, 1, ro->quiet ? NULL : stderr);
    if (st == FRS_OK && r.failed_requests) {
        fprintf(stderr, "frspec: %d prompt(s) failed (their result lines hold the error)\n", r.failed_requests);
        rc = 1;
    }
done:
    if (st != FRS_OK) {
        if (comm.size > 1)
            par_fail(&comm, st);
        rc = cli_fail(NULL);
    }
    if (r.batch)
        jobfile_close(&r.jf);
    free(r.ids);
    free(r.gen);
    session_close(&s);
    par_finalize(&comm);
    return rc;
}
